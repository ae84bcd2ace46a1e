/* Sandbox networking on the host: the interfaces that reach the VM, and tap + tc mirroring over rtnetlink
 * (libmnl). The model and the ownership rule are in include/vc/net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "netlink-internal.h"
#include "util.h"
#include "vc/net.h"

static bool is_our_tap(const struct vc_netns_link *k)
{
        return strncmp(k->name, VC_NET_TAP_PREFIX, strlen(VC_NET_TAP_PREFIX)) == 0 && STREQ(k->kind, "tun");
}

static bool mirrorable(const struct vc_netns_link *k)
{
        return !(k->flags & IFF_LOOPBACK) && k->mac[0] != '\0' && !is_our_tap(k);
}

int vc_net_interfaces(const vc_netns_t *ns, struct vc_netns_links **ret, vc_error_t *err)
{
        struct vc_netns_links *l = NULL;
        size_t n = 0;
        int r;

        r = vc_netns_links(ns, &l, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_links; i++) {
                if (mirrorable(&l->links[i])) {
                        l->links[n++] = l->links[i];
                        continue;
                }
                free(l->links[i].addrs);
                free(l->links[i].routes);
        }
        l->n_links = n;
        *ret = l;
        return 0;
}

/* --- requests --- */

static struct nlmsghdr *put_header(char *buf, size_t size, int type, int flags)
{
        struct nlmsghdr *nlh;

        memset(buf, 0, size); /* libmnl 1.0.4 leaves attribute padding as it finds it */
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (uint16_t)type;
        nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
        return nlh;
}

static int link_set_up(struct mnl_socket *nl, int ifindex, unsigned mtu)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = put_header(buf, sizeof buf, RTM_NEWLINK, 0);
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);

        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        if (mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        return vc__nl_talk(nl, nlh, NULL, NULL);
}

static int link_delete(struct mnl_socket *nl, int ifindex)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = put_header(buf, sizeof buf, RTM_DELLINK, 0);
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);

        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex;
        return vc__nl_talk(nl, nlh, NULL, NULL);
}

static struct tcmsg *put_tcmsg(struct nlmsghdr *nlh, int ifindex, uint32_t parent, uint32_t handle,
                               uint32_t info)
{
        struct tcmsg *t = mnl_nlmsg_put_extra_header(nlh, sizeof *t);

        t->tcm_family = AF_UNSPEC;
        t->tcm_ifindex = ifindex;
        t->tcm_parent = parent;
        t->tcm_handle = handle;
        t->tcm_info = info;
        return t;
}

/* `tc qdisc add|del dev X ingress`. Adding fails with -EEXIST when X has one already. */
static int qdisc_ingress(struct mnl_socket *nl, int ifindex, bool add)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = put_header(buf, sizeof buf, add ? RTM_NEWQDISC : RTM_DELQDISC,
                                          add ? NLM_F_CREATE | NLM_F_EXCL : 0);

        put_tcmsg(nlh, ifindex, TC_H_INGRESS, TC_H_MAKE(TC_H_INGRESS, 0), 0);
        mnl_attr_put_strz(nlh, TCA_KIND, "ingress");
        return vc__nl_talk(nl, nlh, NULL, NULL);
}

#define FILTER_INFO TC_H_MAKE((uint32_t)VC_NET_TC_PRIO << 16, htons(ETH_P_ALL))

/* `tc filter add dev FROM parent ffff: prio VC_NET_TC_PRIO protocol all u32 match u32 0 0
 *  action mirred egress redirect dev TO`: u32 with one zero-mask key matches every frame (this is what
 * kernels without the matchall classifier offer). */
static int filter_redirect(struct mnl_socket *nl, int from, int to)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = put_header(buf, sizeof buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL);
        struct {
                struct tc_u32_sel sel;
                struct tc_u32_key key; /* sel.keys[0] */
        } u32 = {.sel = {.flags = TC_U32_TERMINAL, .nkeys = 1}};
        struct tc_mirred mirred = {
            .action = TC_ACT_STOLEN, .eaction = TCA_EGRESS_REDIR, .ifindex = (uint32_t)to};
        struct nlattr *opts, *acts, *act, *aopts;

        put_tcmsg(nlh, from, TC_H_MAKE(TC_H_INGRESS, 0), 0, FILTER_INFO);
        mnl_attr_put_strz(nlh, TCA_KIND, "u32");
        opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
        mnl_attr_put(nlh, TCA_U32_SEL, sizeof u32, &u32);
        acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
        act = mnl_attr_nest_start(nlh, 1); /* the first action of the list */
        mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
        aopts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
        mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof mirred, &mirred);
        mnl_attr_nest_end(nlh, aopts);
        mnl_attr_nest_end(nlh, act);
        mnl_attr_nest_end(nlh, acts);
        mnl_attr_nest_end(nlh, opts);
        return vc__nl_talk(nl, nlh, NULL, NULL);
}

/* `tc filter del dev X parent ffff: prio VC_NET_TC_PRIO protocol all`: only the filters made here. */
static int filter_delete(struct mnl_socket *nl, int ifindex)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = put_header(buf, sizeof buf, RTM_DELTFILTER, 0);

        put_tcmsg(nlh, ifindex, TC_H_MAKE(TC_H_INGRESS, 0), 0, FILTER_INFO);
        return vc__nl_talk(nl, nlh, NULL, NULL);
}

/* A persistent tap: it outlives this fd, and QEMU attaches to it by name. */
static int tap_create(const char *name)
{
        _cleanup_close_ int fd = -1;
        struct ifreq ifr = {0};

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
                return -errno;
        return 0;
}

/* --- mirror, unmirror: run inside the namespace --- */

struct op {
        struct vc_net_mirror *m;
        int link_index;
        const char *step; /* what failed */
};

static int mirror_cb(void *data)
{
        struct op *op = data;
        struct vc_net_mirror *m = op->m;
        struct mnl_socket *nl = NULL;
        bool link_filter = false;
        int tap_index = 0, r;

        nl = vc__nl_open();
        if (nl == NULL) {
                op->step = "netlink socket";
                return -errno;
        }
        op->step = "create tap";
        r = tap_create(m->tap);
        if (r < 0)
                goto fail;
        tap_index = (int)if_nametoindex(m->tap);
        if (tap_index == 0) {
                r = -errno;
                goto fail;
        }
        op->step = "set tap up";
        r = link_set_up(nl, tap_index, m->mtu);
        if (r < 0)
                goto fail;
        op->step = "add ingress qdisc on link";
        r = qdisc_ingress(nl, op->link_index, true);
        if (r < 0 && r != -EEXIST)
                goto fail;
        m->link_qdisc = r == 0;
        op->step = "add ingress qdisc on tap";
        r = qdisc_ingress(nl, tap_index, true);
        if (r < 0)
                goto fail;
        op->step = "redirect link to tap";
        r = filter_redirect(nl, op->link_index, tap_index);
        if (r < 0)
                goto fail;
        link_filter = true;
        op->step = "redirect tap to link";
        r = filter_redirect(nl, tap_index, op->link_index);
        if (r < 0)
                goto fail;
        mnl_socket_close(nl);
        return 0;
fail:
        if (m->link_qdisc)
                (void)qdisc_ingress(nl, op->link_index, false);
        else if (link_filter)
                (void)filter_delete(nl, op->link_index);
        if (tap_index > 0)
                (void)link_delete(nl, tap_index);
        m->link_qdisc = false;
        mnl_socket_close(nl);
        return r;
}

static int unmirror_cb(void *data)
{
        struct op *op = data;
        const struct vc_net_mirror *m = op->m;
        struct mnl_socket *nl = NULL;
        int r = 0;

        nl = vc__nl_open();
        if (nl == NULL) {
                op->step = "netlink socket";
                return -errno;
        }
        if (op->link_index > 0) {
                op->step = m->link_qdisc ? "remove ingress qdisc from link" : "remove filter from link";
                r = m->link_qdisc ? qdisc_ingress(nl, op->link_index, false)
                                  : filter_delete(nl, op->link_index);
                if (r == -ENOENT || r == -EINVAL || r == -ENODEV) /* gone already */
                        r = 0;
        }
        int tap_index = (int)if_nametoindex(m->tap);
        if (r == 0 && tap_index > 0) {
                op->step = "remove tap";
                r = link_delete(nl, tap_index);
                if (r == -ENODEV)
                        r = 0;
        }
        mnl_socket_close(nl);
        return r;
}

static const struct vc_netns_link *find(const struct vc_netns_links *l, const char *name)
{
        for (size_t i = 0; i < l->n_links; i++)
                if (STREQ(l->links[i].name, name))
                        return &l->links[i];
        return NULL;
}

int vc_net_mirror(const vc_netns_t *ns, const char *name, struct vc_net_mirror *ret, vc_error_t *err)
{
        struct vc_netns_links *l = NULL;
        const struct vc_netns_link *k;
        struct vc_net_mirror m = {0};
        struct op op = {.m = &m};
        int r;

        if (name == NULL || name[0] == '\0' || strlen(name) >= IFNAMSIZ)
                return vc_error_setx(err, EINVAL, "mirror: '%s' is not an interface name", name ? name : "");
        r = vc_netns_links(ns, &l, err);
        if (r < 0)
                return vc_error_wrap(err, "mirror '%s'", name);
        k = find(l, name);
        if (k == NULL)
                r = vc_error_setx(err, ENODEV, "mirror: no interface '%s' in netns '%s'", name,
                                  vc_netns_path(ns));
        else if (!mirrorable(k))
                r = vc_error_setx(err, EINVAL,
                                  "mirror: '%s' is loopback, has no Ethernet address or is a tap of ours",
                                  name);
        if (r < 0) {
                vc_netns_links_free(l);
                return r;
        }
        snprintf(m.link, sizeof m.link, "%s", k->name);
        snprintf(m.tap, sizeof m.tap, "%s%d", VC_NET_TAP_PREFIX, k->index);
        m.mtu = k->mtu;
        op.link_index = k->index;
        if (find(l, m.tap))
                r = vc_error_setx(err, EEXIST, "mirror '%s': tap '%s' exists already", name, m.tap);
        vc_netns_links_free(l);
        if (r < 0)
                return r;
        r = vc_netns_enter(ns, mirror_cb, &op, err);
        if (r < 0)
                return (err && *err) ? vc_error_wrap(err, "mirror '%s'", name)
                                     : vc_error_set(err, -r, "mirror '%s': %s", name, op.step);
        *ret = m;
        return 0;
}

int vc_net_unmirror(const vc_netns_t *ns, const struct vc_net_mirror *m, vc_error_t *err)
{
        struct vc_netns_links *l = NULL;
        const struct vc_netns_link *k, *t;
        struct op op = {.m = (struct vc_net_mirror *)m};
        int r;

        if (strncmp(m->tap, VC_NET_TAP_PREFIX, strlen(VC_NET_TAP_PREFIX)) != 0)
                return vc_error_setx(err, EPERM, "unmirror: '%s' is not a tap of ours", m->tap);
        r = vc_netns_links(ns, &l, err);
        if (r < 0)
                return vc_error_wrap(err, "unmirror '%s'", m->link);
        k = find(l, m->link);
        t = find(l, m->tap);
        if (t && !is_our_tap(t))
                r = vc_error_setx(err, EPERM, "unmirror: '%s' is not a tap of ours", m->tap);
        op.link_index = k ? k->index : 0;
        vc_netns_links_free(l);
        if (r < 0)
                return r;
        if (t == NULL && k == NULL)
                return 0;
        r = vc_netns_enter(ns, unmirror_cb, &op, err);
        if (r < 0)
                return (err && *err) ? vc_error_wrap(err, "unmirror '%s'", m->link)
                                     : vc_error_set(err, -r, "unmirror '%s': %s", m->link, op.step);
        return 0;
}
