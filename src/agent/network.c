/* The guest side of sandbox networking: the NIC that mirrors a host interface gets that interface's name,
 * MTU, addresses and routes (update_interface), loopback comes up, and per-interface counters for stats.
 *
 * rtnetlink is spoken directly here: the agent is linked statically and Debian ships libmnl only as a
 * shared library, and the few requests below (RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE with their ACKs)
 * need a message builder of some forty lines, not a library. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

#define NET_MAX_ADDRS 64
#define NET_MAX_ROUTES 256

struct nlreq {
        struct nlmsghdr h;
        char buf[1024]; /* the family header and attributes */
};

static void *nl_put(struct nlreq *r, const void *data, size_t len)
{
        char *p = (char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len);

        if (NLMSG_ALIGN(r->h.nlmsg_len) + NLMSG_ALIGN(len) > sizeof *r)
                return NULL;
        memset(p, 0, NLMSG_ALIGN(len));
        if (data)
                memcpy(p, data, len);
        r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + (uint32_t)len;
        return p;
}

static int nl_attr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
        struct rtattr a = {.rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type};
        char *p = nl_put(r, NULL, RTA_SPACE(len));

        if (p == NULL)
                return -E2BIG;
        memcpy(p, &a, sizeof a);
        memcpy(p + RTA_LENGTH(0), data, len);
        r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len);
        return 0;
}

static void nl_init(struct nlreq *r, int type, int flags)
{
        memset(r, 0, sizeof *r);
        r->h.nlmsg_len = NLMSG_HDRLEN;
        r->h.nlmsg_type = (unsigned short)type;
        r->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
}

/* Send the request and wait for its ACK: 0 or the kernel's -errno. */
static int nl_call(struct nlreq *r)
{
        static unsigned seq;
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
        char buf[4096];
        int fd, rc = -EPROTO;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        r->h.nlmsg_seq = ++seq;
        if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
                rc = -errno;
                goto out;
        }
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = -errno;
                        goto out;
                }
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
                     h = NLMSG_NEXT(h, n)) {
                        if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
                                continue;
                        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                                goto out;
                        rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                        goto out;
                }
        }
out:
        close(fd);
        return rc;
}

/* Set name, MTU and up/down of link index (name NULL or mtu 0: unchanged). */
static int link_set(int index, const char *name, unsigned mtu, bool up)
{
        struct nlreq r;
        struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_change = IFF_UP};

        ifi.ifi_flags = up ? IFF_UP : 0;
        nl_init(&r, RTM_NEWLINK, 0);
        nl_put(&r, &ifi, sizeof ifi);
        if (name && nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1) < 0)
                return -E2BIG;
        if (mtu && nl_attr(&r, IFLA_MTU, &mtu, sizeof mtu) < 0)
                return -E2BIG;
        return nl_call(&r);
}

int net_loopback_up(void)
{
        return link_set(1, NULL, 0, true); /* lo is always index 1 */
}

static int addr_add(int index, int family, const void *addr, unsigned prefixlen)
{
        struct nlreq r;
        struct ifaddrmsg ifa = {.ifa_family = (unsigned char)family,
                                .ifa_prefixlen = (unsigned char)prefixlen,
                                .ifa_index = (unsigned)index};
        size_t alen = family == AF_INET ? 4 : 16;
        uint32_t flags = IFA_F_NODAD; /* the host's interface already holds (and defended) it */

        if (family == AF_INET6)
                ifa.ifa_flags = IFA_F_NODAD;
        nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
        nl_put(&r, &ifa, sizeof ifa);
        if (nl_attr(&r, IFA_LOCAL, addr, alen) < 0 || nl_attr(&r, IFA_ADDRESS, addr, alen) < 0 ||
            (family == AF_INET6 && nl_attr(&r, IFA_FLAGS, &flags, sizeof flags) < 0))
                return -E2BIG;
        return nl_call(&r);
}

static int route_add(int index, int family, const void *dst, unsigned prefixlen, const void *gw)
{
        struct nlreq r;
        struct rtmsg rtm = {.rtm_family = (unsigned char)family,
                            .rtm_dst_len = (unsigned char)prefixlen,
                            .rtm_table = RT_TABLE_MAIN,
                            .rtm_protocol = RTPROT_BOOT,
                            .rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
                            .rtm_type = RTN_UNICAST};
        size_t alen = family == AF_INET ? 4 : 16;
        uint32_t oif = (uint32_t)index;

        nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        nl_put(&r, &rtm, sizeof rtm);
        if ((prefixlen && nl_attr(&r, RTA_DST, dst, alen) < 0) ||
            (gw && nl_attr(&r, RTA_GATEWAY, gw, alen) < 0) || nl_attr(&r, RTA_OIF, &oif, sizeof oif) < 0)
                return -E2BIG;
        return nl_call(&r);
}

/* The index of the link whose Ethernet address is mac, with its name; 0 when none. */
static int link_by_mac(const unsigned char mac[6], char name[IF_NAMESIZE])
{
        struct if_nameindex *ifs = if_nameindex(), *i;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), index = 0;

        for (i = ifs; fd >= 0 && i && i->if_index; i++) {
                struct ifreq ifr = {0};
                snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", i->if_name);
                if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 && memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) == 0) {
                        index = (int)i->if_index;
                        snprintf(name, IF_NAMESIZE, "%s", i->if_name);
                        break;
                }
        }
        if (fd >= 0)
                close(fd);
        if (ifs)
                if_freenameindex(ifs);
        return index;
}

#define FAIL(code, ...) (snprintf(err, errlen, __VA_ARGS__), -(code))

static int get_family(json_object *o, const char *what, size_t i, int *family, char *err, size_t errlen)
{
        json_object *v;
        const char *f;

        if (!json_object_object_get_ex(o, "family", &v) || !json_object_is_type(v, json_type_string))
                return FAIL(EINVAL, "%s[%zu]: 'family' must be \"inet\" or \"inet6\"", what, i);
        f = json_object_get_string(v);
        if (strcmp(f, "inet") == 0)
                *family = AF_INET;
        else if (strcmp(f, "inet6") == 0)
                *family = AF_INET6;
        else
                return FAIL(EINVAL, "%s[%zu]: 'family' must be \"inet\" or \"inet6\"", what, i);
        return 0;
}

/* o[key] as an address of family into out; absent and optional: 1. */
static int get_addr(json_object *o, const char *key, int family, bool optional, unsigned char out[16],
                    const char *what, size_t i, char *err, size_t errlen)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                if (optional)
                        return 1;
                return FAIL(EINVAL, "%s[%zu]: '%s' is missing", what, i, key);
        }
        if (!json_object_is_type(v, json_type_string) ||
            inet_pton(family, json_object_get_string(v), out) != 1)
                return FAIL(EINVAL, "%s[%zu]: '%s' is not an %s address", what, i, key,
                            family == AF_INET ? "IPv4" : "IPv6");
        return 0;
}

static int get_prefix(json_object *o, int family, unsigned *ret, const char *what, size_t i, char *err,
                      size_t errlen)
{
        json_object *v;
        int64_t p;

        if (!json_object_object_get_ex(o, "prefixlen", &v) || !json_object_is_type(v, json_type_int))
                return FAIL(EINVAL, "%s[%zu]: 'prefixlen' must be an integer", what, i);
        p = json_object_get_int64(v);
        if (p < 0 || p > (family == AF_INET ? 32 : 128))
                return FAIL(EINVAL, "%s[%zu]: prefixlen %lld is out of range", what, i, (long long)p);
        *ret = (unsigned)p;
        return 0;
}

static json_object *get_array(json_object *params, const char *key, size_t max, int *rc, char *err,
                              size_t errlen)
{
        json_object *v;

        *rc = 0;
        if (!json_object_object_get_ex(params, key, &v) || json_object_is_type(v, json_type_null))
                return NULL;
        if (!json_object_is_type(v, json_type_array))
                *rc = FAIL(EINVAL, "'%s' must be an array", key);
        else if (json_object_array_length(v) > max)
                *rc = FAIL(EINVAL, "'%s' has more than %zu entries", key, max);
        return v;
}

static int update_interface(json_object *params, json_object **ret, char *err, size_t errlen)
{
        json_object *v, *addrs, *routes;
        unsigned char mac[6];
        char cur[IF_NAMESIZE] = "";
        const char *name = NULL;
        unsigned mtu = 0;
        int index, rc;

        if (params == NULL || !json_object_object_get_ex(params, "mac", &v) ||
            !json_object_is_type(v, json_type_string) ||
            sscanf(json_object_get_string(v), "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0], &mac[1],
                   &mac[2], &mac[3], &mac[4], &mac[5]) != 6 ||
            json_object_get_string_len(v) != 17)
                return FAIL(EINVAL, "'mac' must be aa:bb:cc:dd:ee:ff");
        if (json_object_object_get_ex(params, "name", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
                    json_object_get_string_len(v) >= IF_NAMESIZE ||
                    strpbrk(json_object_get_string(v), "/: \t\n") ||
                    strcmp(json_object_get_string(v), ".") == 0 ||
                    strcmp(json_object_get_string(v), "..") == 0)
                        return FAIL(EINVAL, "'name' is not an interface name");
                name = json_object_get_string(v);
        }
        if (json_object_object_get_ex(params, "mtu", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 68 ||
                    json_object_get_int64(v) > 65535)
                        return FAIL(EINVAL, "'mtu' must be within 68..65535");
                mtu = (unsigned)json_object_get_int64(v);
        }
        addrs = get_array(params, "addresses", NET_MAX_ADDRS, &rc, err, errlen);
        if (rc < 0)
                return rc;
        routes = get_array(params, "routes", NET_MAX_ROUTES, &rc, err, errlen);
        if (rc < 0)
                return rc;

        /* a hot-plugged NIC may still be probing: the host asks again */
        index = link_by_mac(mac, cur);
        if (index == 0)
                return FAIL(ENODEV, "no interface with address %s",
                            json_object_get_string(json_object_object_get(params, "mac")));
        if (name && strcmp(name, cur) == 0)
                name = NULL;
        /* renaming needs the link down */
        rc = link_set(index, name, mtu, false);
        if (rc == -EEXIST && name) {
                /* NICs hot-plugged together (into a template's clone) get the kernel's names in the order
                 * they probe: the one holding this name is another, not configured yet (it is found by its
                 * MAC when its turn comes), so it moves aside to a name of its own */
                int other = (int)if_nametoindex(name);
                char aside[IF_NAMESIZE];
                snprintf(aside, sizeof aside, "vcnic%d", other);
                if (other > 1 && other != index && link_set(other, aside, 0, false) == 0)
                        rc = link_set(index, name, mtu, false);
        }
        if (rc < 0)
                return FAIL(-rc, "set interface '%s' (name, mtu %u): %s", cur, mtu, strerror(-rc));
        if (name)
                snprintf(cur, sizeof cur, "%s", name);
        if ((rc = link_set(index, NULL, 0, true)) < 0)
                return FAIL(-rc, "set interface '%s' up: %s", cur, strerror(-rc));
        (void)net_loopback_up();

        for (size_t i = 0; addrs && i < json_object_array_length(addrs); i++) {
                json_object *a = json_object_array_get_idx(addrs, i);
                unsigned char ip[16];
                unsigned plen;
                int family;
                if (!json_object_is_type(a, json_type_object))
                        return FAIL(EINVAL, "addresses[%zu] must be an object", i);
                if ((rc = get_family(a, "addresses", i, &family, err, errlen)) < 0 ||
                    (rc = get_addr(a, "address", family, false, ip, "addresses", i, err, errlen)) < 0 ||
                    (rc = get_prefix(a, family, &plen, "addresses", i, err, errlen)) < 0)
                        return rc;
                if ((rc = addr_add(index, family, ip, plen)) < 0 && rc != -EEXIST)
                        return FAIL(-rc, "add address %s/%u to '%s': %s",
                                    json_object_get_string(json_object_object_get(a, "address")), plen, cur,
                                    strerror(-rc));
        }
        /* routes without a gateway first: a gateway must be reachable when its route is added */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; routes && i < json_object_array_length(routes); i++) {
                        json_object *o = json_object_array_get_idx(routes, i);
                        unsigned char dst[16] = {0}, gw[16];
                        unsigned plen;
                        int family, has_gw;
                        if (!json_object_is_type(o, json_type_object))
                                return FAIL(EINVAL, "routes[%zu] must be an object", i);
                        if ((rc = get_family(o, "routes", i, &family, err, errlen)) < 0 ||
                            (rc = get_addr(o, "destination", family, false, dst, "routes", i, err, errlen)) <
                                0 ||
                            (rc = get_prefix(o, family, &plen, "routes", i, err, errlen)) < 0 ||
                            (rc = get_addr(o, "gateway", family, true, gw, "routes", i, err, errlen)) < 0)
                                return rc;
                        has_gw = rc == 0;
                        if (has_gw != pass)
                                continue;
                        rc = route_add(index, family, dst, plen, has_gw ? gw : NULL);
                        if (rc < 0 && rc != -EEXIST)
                                return FAIL(-rc, "add route %s/%u on '%s': %s",
                                            json_object_get_string(json_object_object_get(o, "destination")),
                                            plen, cur, strerror(-rc));
                }

        *ret = json_object_new_object();
        json_object_object_add(*ret, "name", json_object_new_string(cur));
        json_object_object_add(*ret, "index", json_object_new_int(index));
        return 0;
}

void net_m_update_interface(uint32_t id, json_object *params)
{
        json_object *r = NULL;
        char err[256];
        int rc = update_interface(params, &r, err, sizeof err);

        if (rc < 0)
                reply_err(id, -rc, "update_interface: %s", err);
        else
                reply_ok(id, r);
}

/* Counters of every interface but loopback, from /proc/net/dev:
 * {name = {rx_bytes, rx_packets, rx_errors, rx_dropped, tx_bytes, tx_packets, tx_errors, tx_dropped}} */
json_object *net_stats(void)
{
        json_object *all = json_object_new_object();
        FILE *f = fopen("/proc/net/dev", "re");
        char line[512];

        while (f && fgets(line, sizeof line, f)) {
                unsigned long long v[16];
                char *colon = strchr(line, ':'), *name = line;
                if (colon == NULL)
                        continue;
                *colon = '\0';
                while (*name == ' ')
                        name++;
                if (strcmp(name, "lo") == 0 ||
                    sscanf(colon + 1,
                           "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
                           &v[11], &v[12], &v[13], &v[14], &v[15]) != 16)
                        continue;
                json_object *o = json_object_new_object();
                json_object_object_add(o, "rx_bytes", json_object_new_int64((int64_t)v[0]));
                json_object_object_add(o, "rx_packets", json_object_new_int64((int64_t)v[1]));
                json_object_object_add(o, "rx_errors", json_object_new_int64((int64_t)v[2]));
                json_object_object_add(o, "rx_dropped", json_object_new_int64((int64_t)v[3]));
                json_object_object_add(o, "tx_bytes", json_object_new_int64((int64_t)v[8]));
                json_object_object_add(o, "tx_packets", json_object_new_int64((int64_t)v[9]));
                json_object_object_add(o, "tx_errors", json_object_new_int64((int64_t)v[10]));
                json_object_object_add(o, "tx_dropped", json_object_new_int64((int64_t)v[11]));
                json_object_object_add(all, name, o);
        }
        if (f)
                fclose(f);
        return all;
}
