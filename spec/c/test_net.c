/* Mirroring an interface into a tap (tc ingress + u32 + mirred) in namespaces the test makes: what is
 * listed, frames going both ways, and teardown leaving the interface as it was found. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "testlib.h"
#include "vc/net.h"

static char ns_a[64], ns_b[64], path_a[128];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        return system(cmd) == 0 ? 0 : -1;
}

/* The output of a shell command (first 4 KiB). */
static char *out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *out(const char *fmt, ...)
{
        static char buf[4096];
        char cmd[1024];
        size_t n;
        FILE *p;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        buf[0] = '\0';
        p = popen(cmd, "r");
        if (p == NULL)
                return buf;
        n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = '\0';
        pclose(p);
        return buf;
}

static int setup(void)
{
        if (sh("ip netns add %s && ip netns add %s", ns_a, ns_b) < 0 ||
            sh("ip -n %s link add v0 mtu 1400 type veth peer name vp netns %s", ns_a, ns_b) < 0 ||
            sh("ip -n %s addr add 10.99.0.1/24 dev v0 && ip -n %s link set v0 up", ns_a, ns_a) < 0 ||
            sh("ip -n %s link set v0 address 02:00:00:00:99:01", ns_a) < 0 ||
            sh("ip -n %s addr add 10.99.0.2/24 dev vp && ip -n %s link set vp up && ip -n %s link set lo up",
               ns_b, ns_b, ns_b) < 0)
                return -1;
        return 0;
}

static void teardown(void)
{
        (void)sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a, ns_b);
}

static int test_interfaces_skip_lo_and_taps(void)
{
        struct vc_netns_links *l = NULL;
        struct vc_net_mirror m;
        vc_netns_t *ns = NULL;
        vc_error_t err = NULL;

        CHECK(vc_netns_open(path_a, &ns, &err) == 0);
        CHECK(vc_net_interfaces(ns, &l, &err) == 0);
        CHECK(l->n_links == 1);
        CHECK_STREQ(l->links[0].name, "v0");
        CHECK_STREQ(l->links[0].mac, "02:00:00:00:99:01");
        CHECK(l->links[0].mtu == 1400);
        CHECK(l->links[0].n_addrs >= 1);
        l = vc_netns_links_free(l);

        CHECK(vc_net_mirror(ns, "v0", &m, &err) == 0);
        CHECK(vc_net_interfaces(ns, &l, &err) == 0);
        CHECK(l->n_links == 1);
        CHECK_STREQ(l->links[0].name, "v0");
        l = vc_netns_links_free(l);
        CHECK(vc_net_unmirror(ns, &m, &err) == 0);
        vc_netns_free(ns);
        return 0;
}

static int test_refusals(void)
{
        struct vc_net_mirror m, bogus = {.link = "v0", .tap = "v0"};
        vc_netns_t *ns = NULL;
        vc_error_t err = NULL;

        CHECK(vc_netns_open(path_a, &ns, &err) == 0);
        CHECK(vc_net_mirror(ns, "lo", &m, &err) == -EINVAL);
        vc_error_release(&err);
        CHECK(vc_net_mirror(ns, "nosuch0", &m, &err) == -ENODEV);
        CHECK(strstr(err->msg, "no interface 'nosuch0'") != NULL);
        vc_error_release(&err);
        CHECK(vc_net_mirror(ns, "v0", &m, &err) == 0);
        CHECK(vc_net_mirror(ns, "v0", &m, &err) == -EEXIST);
        vc_error_release(&err);
        CHECK(vc_net_unmirror(ns, &bogus, &err) == -EPERM);
        vc_error_release(&err);
        CHECK(vc_net_unmirror(ns, &m, &err) == 0);
        vc_netns_free(ns);
        return 0;
}

/* Attach to the tap as QEMU would: an fd made inside the namespace. */
static int attach_cb(void *data)
{
        const char *tap = data;
        struct ifreq ifr = {0};
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", tap);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

/* An ARP request from the guest side (the tap) for the peer's address must come out of v0 to the peer,
 * and the peer's reply must come back through v0 into the tap. */
static int test_frames_both_ways(void)
{
        static const uint8_t mac[6] = {0x02, 0, 0, 0, 0x99, 0x01};
        uint8_t req[42] = {0}, buf[2048];
        struct vc_net_mirror m;
        vc_netns_t *ns = NULL;
        vc_error_t err = NULL;
        int fd, got = 0;

        CHECK(vc_netns_open(path_a, &ns, &err) == 0);
        CHECK(vc_net_mirror(ns, "v0", &m, &err) == 0);
        fd = vc_netns_enter(ns, attach_cb, m.tap, &err);
        CHECK(fd >= 0);

        memset(req, 0xff, 6);
        memcpy(req + 6, mac, 6);
        req[12] = 0x08, req[13] = 0x06;                        /* ARP */
        req[14] = 0, req[15] = 1, req[16] = 0x08, req[17] = 0; /* Ethernet, IPv4 */
        req[18] = 6, req[19] = 4, req[20] = 0, req[21] = 1;    /* request */
        memcpy(req + 22, mac, 6);
        memcpy(req + 28, (uint8_t[]){10, 99, 0, 1}, 4);
        memcpy(req + 38, (uint8_t[]){10, 99, 0, 2}, 4);

        for (int tries = 0; tries < 20 && !got; tries++) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                CHECK(write(fd, req, sizeof req) == (ssize_t)sizeof req);
                while (!got && poll(&p, 1, 500) > 0) {
                        ssize_t n = read(fd, buf, sizeof buf);
                        /* the peer's ARP reply, to our MAC */
                        if (n >= 42 && memcmp(buf, mac, 6) == 0 && buf[12] == 0x08 && buf[13] == 0x06 &&
                            buf[21] == 2 && memcmp(buf + 28, (uint8_t[]){10, 99, 0, 2}, 4) == 0)
                                got = 1;
                }
        }
        close(fd);
        CHECK(got);
        CHECK(vc_net_unmirror(ns, &m, &err) == 0);
        vc_netns_free(ns);
        return 0;
}

/* Teardown leaves v0 as it was: addresses, MTU and tc state, whether or not v0 had an ingress qdisc. */
static int test_unmirror_leaves_link_as_found(void)
{
        char before_addr[4096], before_tc[4096];
        struct vc_net_mirror m;
        vc_netns_t *ns = NULL;
        vc_error_t err = NULL;

        CHECK(vc_netns_open(path_a, &ns, &err) == 0);
        snprintf(before_addr, sizeof before_addr, "%s", out("ip -n %s addr show dev v0", ns_a));
        snprintf(before_tc, sizeof before_tc, "%s", out("ip netns exec %s tc qdisc show dev v0", ns_a));
        CHECK(vc_net_mirror(ns, "v0", &m, &err) == 0);
        CHECK(m.link_qdisc);
        CHECK(strstr(out("ip netns exec %s tc filter show dev v0 ingress", ns_a), "mirred") != NULL);
        CHECK(vc_net_unmirror(ns, &m, &err) == 0);
        CHECK_STREQ(out("ip -n %s addr show dev v0", ns_a), before_addr);
        CHECK_STREQ(out("ip netns exec %s tc qdisc show dev v0", ns_a), before_tc);
        CHECK(strstr(out("ip -n %s link show", ns_a), VC_NET_TAP_PREFIX) == NULL);

        /* an ingress qdisc with a filter of someone else's stays, with that filter */
        CHECK(sh("ip netns exec %s tc qdisc add dev v0 ingress", ns_a) == 0);
        CHECK(sh("ip netns exec %s tc filter add dev v0 parent ffff: prio 7 protocol ip u32 match u32 0 0 "
                 "flowid 1:1",
                 ns_a) == 0);
        snprintf(before_tc, sizeof before_tc, "%s",
                 out("ip netns exec %s tc filter show dev v0 ingress", ns_a));
        CHECK(vc_net_mirror(ns, "v0", &m, &err) == 0);
        CHECK(!m.link_qdisc);
        CHECK(vc_net_unmirror(ns, &m, &err) == 0);
        CHECK_STREQ(out("ip netns exec %s tc filter show dev v0 ingress", ns_a), before_tc);
        CHECK(strstr(out("ip -n %s link show", ns_a), VC_NET_TAP_PREFIX) == NULL);

        /* the link gone first (CNI DEL): teardown still removes the tap */
        CHECK(vc_net_mirror(ns, "v0", &m, &err) == 0);
        CHECK(sh("ip -n %s link del v0", ns_a) == 0);
        CHECK(vc_net_unmirror(ns, &m, &err) == 0);
        CHECK(strstr(out("ip -n %s link show", ns_a), VC_NET_TAP_PREFIX) == NULL);
        vc_netns_free(ns);
        return 0;
}

int main(void)
{
        if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) < 0 ||
            system("ip -V >/dev/null 2>&1") != 0 || system("tc -V >/dev/null 2>&1") != 0) {
                printf("1..0 # SKIP needs root, /dev/net/tun, ip and tc\n");
                return 77;
        }
        snprintf(ns_a, sizeof ns_a, "vc-test-net-%d-a", (int)getpid());
        snprintf(ns_b, sizeof ns_b, "vc-test-net-%d-b", (int)getpid());
        snprintf(path_a, sizeof path_a, "/run/netns/%s", ns_a);
        if (setup() < 0) {
                teardown();
                printf("1..0 # SKIP cannot make the test's namespaces and veth pair\n");
                return 77;
        }

        RUN_TEST(test_interfaces_skip_lo_and_taps);
        RUN_TEST(test_refusals);
        RUN_TEST(test_frames_both_ways);
        RUN_TEST(test_unmirror_leaves_link_as_found);

        teardown();
        return TAP_DONE();
}
