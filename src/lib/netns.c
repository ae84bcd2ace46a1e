/* Network namespaces: persistent named ones made like `ip netns add`, entering, listing by netlink (libmnl),
 * and deletion restricted to what the runtime created (the ownership rule is in include/vc/netns.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "netlink-internal.h"
#include "util.h"
#include "vc/netns.h"

struct vc_netns {
        int fd;
        char *path;
};

/* The marker's content says whether create() had to bind mount the directory onto itself. */
#define MARKER_BIND "bind\n"
#define MARKER_PLAIN "mount point\n"

vc_netns_t *vc_netns_free(vc_netns_t *ns)
{
        if (ns == NULL)
                return NULL;
        if (ns->fd >= 0)
                (void)close(ns->fd);
        free(ns->path);
        free(ns);
        return NULL;
}

int vc_netns_fd(const vc_netns_t *ns)
{
        return ns->fd;
}

const char *vc_netns_path(const vc_netns_t *ns)
{
        return ns->path;
}

int vc_netns_open(const char *path, vc_netns_t **ret, vc_error_t *err)
{
        _cleanup_close_ int fd = -1;
        vc_netns_t *ns;
        int type;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return vc_error_set(err, errno, "open netns '%s'", path);
        type = ioctl(fd, NS_GET_NSTYPE);
        if (type < 0 && errno != ENOTTY)
                return vc_error_set(err, errno, "netns '%s': NS_GET_NSTYPE", path);
        if (type != CLONE_NEWNET)
                return vc_error_setx(err, EINVAL, "'%s' is not a network namespace", path);
        ns = calloc(1, sizeof *ns);
        if (ns == NULL || (ns->path = strdup(path)) == NULL) {
                free(ns);
                return vc_error_set(err, ENOMEM, "open netns '%s'", path);
        }
        ns->fd = TAKE_FD(fd);
        *ret = ns;
        return 0;
}

int vc_netns_is_host(const vc_netns_t *ns, vc_error_t *err)
{
        const char *ref = "/proc/1/ns/net";
        struct stat a, b;

        if (fstat(ns->fd, &a) < 0)
                return vc_error_set(err, errno, "stat netns '%s'", ns->path);
        if (stat(ref, &b) < 0) {
                if (errno != EACCES && errno != EPERM)
                        return vc_error_set(err, errno, "stat '%s'", ref);
                /* PID 1 can be out of reach (a sandbox that forbids inspecting its init): then the namespace
                 * the runtime process runs in, the reference runc uses. */
                ref = "/proc/self/ns/net";
                if (stat(ref, &b) < 0)
                        return vc_error_set(err, errno, "stat '%s'", ref);
        }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int vc_netns_enter_fd(int fd, int *ret_saved_fd, vc_error_t *err)
{
        int saved = -1;

        if (ret_saved_fd) {
                saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
                if (saved < 0)
                        return vc_error_set(err, errno, "open '/proc/thread-self/ns/net'");
        }
        if (setns(fd, CLONE_NEWNET) < 0) {
                int e = errno;
                if (saved >= 0)
                        (void)close(saved);
                errno = e; /* a forked child reports errno from here */
                return err ? vc_error_set(err, e, "setns") : -e;
        }
        if (ret_saved_fd)
                *ret_saved_fd = saved;
        return 0;
}

int vc_netns_enter(const vc_netns_t *ns, int (*fn)(void *data), void *data, vc_error_t *err)
{
        _cleanup_close_ int saved = -1;
        int r;

        r = vc_netns_enter_fd(ns->fd, &saved, err);
        if (r < 0)
                return vc_error_wrap(err, "enter netns '%s'", ns->path);
        r = fn(data);
        if (setns(saved, CLONE_NEWNET) < 0) {
                int e = errno;
                vc_error_release(err); /* this one matters more than whatever fn reported */
                return vc_error_setx(err, ENOTRECOVERABLE,
                                     "cannot return from netns '%s' to the original network namespace: %s",
                                     ns->path, strerror(e));
        }
        return r;
}

/* --- netlink (libmnl) --- */

#define NL_BUFSIZE 32768 /* MNL_SOCKET_DUMP_SIZE of newer libmnl: big enough for any dump message */

struct mnl_socket *vc__nl_open(void)
{
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);

        if (nl && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int e = errno;
                mnl_socket_close(nl);
                errno = e;
                return NULL;
        }
        return nl;
}

int vc__nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
        static unsigned seq_counter;
        _cleanup_free_ char *buf = NULL;
        unsigned portid = mnl_socket_get_portid(nl);
        unsigned seq = nlh->nlmsg_seq =
            (unsigned)time(NULL) + __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED);
        ssize_t n;
        int r;

        buf = malloc(NL_BUFSIZE);
        if (buf == NULL)
                return -ENOMEM;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                n = mnl_socket_recvfrom(nl, buf, NL_BUFSIZE);
                if (n < 0)
                        return -errno;
                errno = 0;
                r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
                if (r == MNL_CB_ERROR)
                        return errno ? -errno : -EPROTO;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

/* Bring the link called name up (RTM_NEWLINK on an existing link, looked up by IFLA_IFNAME). */
static int nl_link_up(struct mnl_socket *nl, const char *name)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifi;

        memset(buf, 0, sizeof buf); /* libmnl 1.0.4 leaves attribute padding as it finds it */
        nlh = mnl_nlmsg_put_header(buf);

        nlh->nlmsg_type = RTM_NEWLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        return vc__nl_talk(nl, nlh, NULL, NULL);
}

/* --- create, delete --- */

static int valid_name(const char *name)
{
        return name && name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL &&
               strlen(name) <= NAME_MAX;
}

static int dir_is_empty(int dfd)
{
        _cleanup_closedir_ DIR *d = NULL;
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *e;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (d == NULL) {
                (void)close(fd);
                return -errno;
        }
        while ((e = readdir(d)))
                if (!STREQ(e->d_name, ".") && !STREQ(e->d_name, ".."))
                        return 0;
        return 1;
}

/* Open dir into *ret_dfd and lock it: runtimes working on the same directory (create, delete,
 * dir_remove) take turns, the lock held on the directory until its fd is closed. */
static int open_locked(const char *dir, int *ret_dfd, vc_error_t *err)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd < 0)
                return vc_error_set(err, errno, "open netns directory '%s'", dir);
        while (flock(dfd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return vc_error_set(err, errno, "lock netns directory '%s'", dir);
        *ret_dfd = TAKE_FD(dfd);
        return 0;
}

/* Make dir a shared mount point and claim it, as `ip netns` prepares /run/netns: a mount point of its own
 * keeps the namespace bind mounts under it from spreading into every copy of the parent mount, and
 * "shared" makes their unmounting reach the mount namespaces that copied it. */
static int claim_dir(const char *dir, int *ret_dfd, vc_error_t *err)
{
        _cleanup_close_ int dfd = -1, mfd = -1;
        bool bound = false;
        int r;

        for (;;) {
                struct stat a, b;
                r = vc_mkdir_p_at(dir, 0755, NULL, 0);
                if (r < 0)
                        return vc_error_set(err, -r, "create netns directory '%s'", dir);
                r = open_locked(dir, &dfd, err);
                if (r < 0)
                        return r;
                /* the lock's holder may have removed the directory (vc_netns_dir_remove): make it again */
                if (fstat(dfd, &a) < 0)
                        return vc_error_set(err, errno, "netns directory '%s'", dir);
                if (a.st_nlink > 0 && stat(dir, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
                        break;
                (void)close(TAKE_FD(dfd));
        }
        if (faccessat(dfd, VC_NETNS_MARKER, F_OK, 0) < 0) {
                if (errno != ENOENT)
                        return vc_error_set(err, errno, "netns directory '%s': access marker", dir);
                r = dir_is_empty(dfd);
                if (r < 0)
                        return vc_error_set(err, -r, "read netns directory '%s'", dir);
                if (r == 0)
                        return vc_error_setx(
                            err, EPERM, "netns directory '%s' is not empty and not the runtime's (no %s)",
                            dir, VC_NETNS_MARKER);
        }

        /* Done on every create, not just the first: after a reboot the marker can outlive the mount. */
        while (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0) {
                if (errno != EINVAL || bound)
                        return vc_error_set(err, errno, "make '%s' a shared mount", dir);
                if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
                        return vc_error_set(err, errno, "bind mount '%s' onto itself", dir);
                bound = true;
        }
        if (!bound && faccessat(dfd, VC_NETNS_MARKER, F_OK, 0) == 0) {
                *ret_dfd = TAKE_FD(dfd);
                return 0;
        }
        /* Rewrite the marker only when it is new or create() just bound the directory. */
        mfd = openat(dfd, VC_NETNS_MARKER, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (mfd < 0 ||
            write(mfd, bound ? MARKER_BIND : MARKER_PLAIN, strlen(bound ? MARKER_BIND : MARKER_PLAIN)) < 0) {
                r = vc_error_set(err, errno, "write marker in netns directory '%s'", dir);
                if (bound)
                        (void)umount2(dir, MNT_DETACH);
                return r;
        }
        *ret_dfd = TAKE_FD(dfd);
        return 0;
}

struct create_ctx {
        const char *path;
        const char *step;
        int errnum;
};

/* Runs in a thread of its own: unshare() moves only this thread into the new namespace, and the thread's
 * end leaves the caller's threads untouched whatever happens. The bind mount keeps the namespace alive. */
static void *create_thread(void *arg)
{
        struct create_ctx *c = arg;
        struct mnl_socket *nl;
        int r;

        if (unshare(CLONE_NEWNET) < 0) {
                c->step = "unshare";
                c->errnum = errno;
                return NULL;
        }
        if (mount("/proc/thread-self/ns/net", c->path, "none", MS_BIND, NULL) < 0) {
                c->step = "bind mount";
                c->errnum = errno;
                return NULL;
        }
        nl = vc__nl_open();
        if (nl == NULL) {
                c->step = "netlink socket";
                c->errnum = errno;
                return NULL;
        }
        r = nl_link_up(nl, "lo");
        mnl_socket_close(nl);
        if (r < 0) {
                c->step = "set lo up";
                c->errnum = -r;
        }
        return NULL;
}

int vc_netns_create(const char *dir, const char *name, vc_netns_t **ret, vc_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int dfd = -1; /* holds the directory lock */
        struct create_ctx c = {0};
        pthread_t t;
        int fd, r;

        if (dir == NULL || dir[0] != '/')
                return vc_error_setx(err, EINVAL, "netns directory '%s' is not absolute", dir ? dir : "");
        if (!valid_name(name))
                return vc_error_setx(err, EINVAL, "invalid netns name '%s'", name ? name : "");
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return vc_error_set(err, ENOMEM, "create netns '%s'", name);
        r = claim_dir(dir, &dfd, err);
        if (r < 0)
                return r;

        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
        if (fd < 0)
                return errno == EEXIST ? vc_error_setx(err, EEXIST, "netns '%s' already exists", path)
                                       : vc_error_set(err, errno, "create netns file '%s'", path);
        (void)close(fd);

        c.path = path;
        r = pthread_create(&t, NULL, create_thread, &c);
        if (r != 0) {
                c.step = "pthread_create";
                c.errnum = r;
        } else
                (void)pthread_join(t, NULL);
        if (c.step == NULL)
                r = vc_netns_open(path, ret, err);
        else
                r = vc_error_set(err, c.errnum, "create netns '%s': %s", path, c.step);
        if (r < 0) {
                (void)umount2(path, MNT_DETACH);
                (void)unlink(path);
        }
        return r;
}

int vc_netns_delete(const char *path, vc_error_t *err)
{
        _cleanup_free_ char *dir = NULL, *target = NULL;
        _cleanup_close_ int dfd = -1;
        const char *name;
        struct statfs sf;
        struct stat st;

        if (path == NULL || path[0] != '/')
                return vc_error_setx(err, EINVAL, "netns path '%s' is not absolute", path ? path : "");
        name = strrchr(path, '/') + 1;
        if (!valid_name(name))
                return vc_error_setx(err, EPERM, "refusing to delete netns '%s': not one the runtime created",
                                     path);
        dir = strndup(path, (size_t)(name - path));
        if (dir == NULL)
                return vc_error_set(err, ENOMEM, "delete netns '%s'", path);
        if (open_locked(dir, &dfd, err) < 0)
                return vc_error_wrap(err, "delete netns '%s'", path);
        if (faccessat(dfd, VC_NETNS_MARKER, F_OK, 0) < 0)
                return errno == ENOENT
                           ? vc_error_setx(err, EPERM,
                                           "refusing to delete netns '%s': not one the runtime created "
                                           "(its directory has no %s)",
                                           path, VC_NETNS_MARKER)
                           : vc_error_set(err, errno, "delete netns '%s'", path);
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return vc_error_set(err, errno, "delete netns '%s'", path);
        if (!S_ISREG(st.st_mode))
                return vc_error_setx(err, EPERM, "refusing to delete netns '%s': not a namespace file", path);

        /* Through the directory fd: what is unmounted is in the directory whose marker was checked. */
        if (asprintf(&target, "/proc/self/fd/%d/%s", dfd, name) < 0)
                return vc_error_set(err, ENOMEM, "delete netns '%s'", path);
        for (int i = 0; i < 16 && statfs(target, &sf) == 0 && sf.f_type == NSFS_MAGIC; i++)
                if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return vc_error_set(err, errno, "unmount netns '%s'", path);
        if (unlinkat(dfd, name, 0) < 0)
                return vc_error_set(err, errno, "unlink netns '%s'", path);
        return 0;
}

int vc_netns_dir_remove(const char *dir, vc_error_t *err)
{
        _cleanup_close_ int dfd = -1, mfd = -1;
        _cleanup_closedir_ DIR *d = NULL;
        char marker[32] = "";
        struct dirent *e;
        ssize_t n;
        int fd, r;

        if (dir == NULL || dir[0] != '/')
                return vc_error_setx(err, EINVAL, "netns directory '%s' is not absolute", dir ? dir : "");
        r = open_locked(dir, &dfd, err);
        if (r < 0)
                return r;
        mfd = openat(dfd, VC_NETNS_MARKER, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (mfd < 0)
                return errno == ENOENT ? vc_error_setx(err, EPERM,
                                                       "refusing to remove netns directory '%s': not the "
                                                       "runtime's (no %s)",
                                                       dir, VC_NETNS_MARKER)
                                       : vc_error_set(err, errno, "open marker in '%s'", dir);
        n = read(mfd, marker, sizeof marker - 1);
        if (n < 0)
                return vc_error_set(err, errno, "read marker in '%s'", dir);
        marker[n] = '\0';

        fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || (d = fdopendir(fd)) == NULL) {
                r = vc_error_set(err, errno, "read netns directory '%s'", dir);
                if (fd >= 0)
                        (void)close(fd);
                return r;
        }
        while ((e = readdir(d)))
                if (!STREQ(e->d_name, ".") && !STREQ(e->d_name, "..") && !STREQ(e->d_name, VC_NETNS_MARKER))
                        return vc_error_setx(err, ENOTEMPTY, "netns directory '%s' still holds '%s'", dir,
                                             e->d_name);

        if (STREQ(marker, MARKER_BIND) && umount2(dir, MNT_DETACH) < 0 && errno != EINVAL)
                return vc_error_set(err, errno, "unmount netns directory '%s'", dir);
        if (unlinkat(dfd, VC_NETNS_MARKER, 0) < 0)
                return vc_error_set(err, errno, "remove marker in '%s'", dir);
        /* A directory that already was a mount point of someone else's stays (EBUSY). */
        if (rmdir(dir) < 0 && errno != EBUSY)
                return vc_error_set(err, errno, "remove netns directory '%s'", dir);
        return 0;
}

/* --- listing --- */

struct listing {
        struct vc_netns_links *l;
        /* addresses and routes arrive in dumps of their own; gathered here, then given to their links */
        struct vc_netns_addr *addrs;
        int *addr_ifindex;
        size_t n_addrs;
        struct vc_netns_route *routes;
        size_t n_routes;
};

/* Grow *arr (of n elements of size sz) by one zeroed element; returns it or NULL. */
static void *grow(void **arr, size_t *n, size_t sz)
{
        char *p = realloc(*arr, (*n + 1) * sz);

        if (p == NULL)
                return NULL;
        memset(p + *n * sz, 0, sz);
        *arr = p;
        return p + (*n)++ * sz;
}

static int attr_cb(const struct nlattr *a, void *data)
{
        const struct nlattr **tb = data;
        int type = mnl_attr_get_type(a);

        /* All three dumps use attribute numbers below 64; unknown ones are skipped. */
        if (type < 64)
                tb[type] = a;
        return MNL_CB_OK;
}

static void copy_str(char *dst, size_t size, const struct nlattr *a)
{
        size_t n = mnl_attr_get_payload_len(a);
        const char *s = mnl_attr_get_str(a);

        n = strnlen(s, n);
        if (n >= size)
                n = size - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

static void ntop(int family, const struct nlattr *a, char *dst, size_t size)
{
        size_t want = family == AF_INET ? 4 : 16;

        if (a && mnl_attr_get_payload_len(a) >= want)
                (void)inet_ntop(family, mnl_attr_get_payload(a), dst, (socklen_t)size);
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
        struct listing *ls = data;
        const struct nlattr *tb[64] = {0}, *info[IFLA_INFO_MAX + 1] = {0};
        struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        struct vc_netns_link *k;

        if (nlh->nlmsg_type != RTM_NEWLINK)
                return MNL_CB_OK;
        k = grow((void **)&ls->l->links, &ls->l->n_links, sizeof *k);
        if (k == NULL) {
                errno = ENOMEM;
                return MNL_CB_ERROR;
        }
        mnl_attr_parse(nlh, sizeof *ifi, attr_cb, tb);
        k->index = ifi->ifi_index;
        k->flags = ifi->ifi_flags;
        k->up = (ifi->ifi_flags & IFF_UP) != 0;
        if (tb[IFLA_IFNAME])
                copy_str(k->name, sizeof k->name, tb[IFLA_IFNAME]);
        if (tb[IFLA_MTU] && mnl_attr_get_payload_len(tb[IFLA_MTU]) >= 4)
                k->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
        if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6) {
                const uint8_t *m = mnl_attr_get_payload(tb[IFLA_ADDRESS]);
                snprintf(k->mac, sizeof k->mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                         m[5]);
        }
        if (tb[IFLA_LINKINFO]) {
                const struct nlattr *a;
                mnl_attr_for_each_nested(a, tb[IFLA_LINKINFO])
                {
                        if (mnl_attr_get_type(a) <= IFLA_INFO_MAX)
                                info[mnl_attr_get_type(a)] = a;
                }
                if (info[IFLA_INFO_KIND])
                        copy_str(k->kind, sizeof k->kind, info[IFLA_INFO_KIND]);
        }
        return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
        struct listing *ls = data;
        const struct nlattr *tb[64] = {0};
        struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        struct vc_netns_addr *a;
        size_t n = ls->n_addrs;

        if (nlh->nlmsg_type != RTM_NEWADDR || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
                return MNL_CB_OK;
        mnl_attr_parse(nlh, sizeof *ifa, attr_cb, tb);
        a = grow((void **)&ls->addrs, &ls->n_addrs, sizeof *a);
        if (a == NULL || grow((void **)&ls->addr_ifindex, &n, sizeof(int)) == NULL) {
                if (a)
                        ls->n_addrs--;
                errno = ENOMEM;
                return MNL_CB_ERROR;
        }
        a->family = ifa->ifa_family;
        a->prefixlen = ifa->ifa_prefixlen;
        /* IFA_LOCAL is the address of the interface; IFA_ADDRESS is the peer's on point-to-point links. */
        ntop(a->family, tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], a->address, sizeof a->address);
        ls->addr_ifindex[ls->n_addrs - 1] = (int)ifa->ifa_index;
        return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
        struct listing *ls = data;
        const struct nlattr *tb[64] = {0};
        struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        struct vc_netns_route *r;
        unsigned table = rtm->rtm_table;

        if (nlh->nlmsg_type != RTM_NEWROUTE || (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
                return MNL_CB_OK;
        mnl_attr_parse(nlh, sizeof *rtm, attr_cb, tb);
        if (tb[RTA_TABLE] && mnl_attr_get_payload_len(tb[RTA_TABLE]) >= 4)
                table = mnl_attr_get_u32(tb[RTA_TABLE]);
        if (table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST || tb[RTA_OIF] == NULL)
                return MNL_CB_OK;
        r = grow((void **)&ls->routes, &ls->n_routes, sizeof *r);
        if (r == NULL) {
                errno = ENOMEM;
                return MNL_CB_ERROR;
        }
        r->family = rtm->rtm_family;
        r->prefixlen = rtm->rtm_dst_len;
        r->ifindex = (int)mnl_attr_get_u32(tb[RTA_OIF]);
        if (tb[RTA_DST])
                ntop(r->family, tb[RTA_DST], r->destination, sizeof r->destination);
        else /* the default route */
                strcpy(r->destination, r->family == AF_INET ? "0.0.0.0" : "::");
        ntop(r->family, tb[RTA_GATEWAY], r->gateway, sizeof r->gateway);
        return MNL_CB_OK;
}

static int dump(struct mnl_socket *nl, int type, size_t hdrlen, mnl_cb_t cb, struct listing *ls)
{
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh;
        struct rtgenmsg *g;

        memset(buf, 0, sizeof buf);
        nlh = mnl_nlmsg_put_header(buf);

        nlh->nlmsg_type = (uint16_t)type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        /* The family is the first byte of ifinfomsg, ifaddrmsg and rtmsg alike; the rest stays zero. */
        g = mnl_nlmsg_put_extra_header(nlh, hdrlen);
        g->rtgen_family = AF_UNSPEC;
        return vc__nl_talk(nl, nlh, cb, ls);
}

static int open_nl_cb(void *data)
{
        struct mnl_socket **nl = data;

        *nl = vc__nl_open();
        return *nl ? 0 : -errno;
}

struct vc_netns_links *vc_netns_links_free(struct vc_netns_links *l)
{
        if (l == NULL)
                return NULL;
        for (size_t i = 0; i < l->n_links; i++) {
                free(l->links[i].addrs);
                free(l->links[i].routes);
        }
        free(l->links);
        free(l);
        return NULL;
}

/* Hand the gathered addresses and routes to their links. */
static int distribute(struct listing *ls)
{
        for (size_t i = 0; i < ls->l->n_links; i++) {
                struct vc_netns_link *k = &ls->l->links[i];
                for (size_t j = 0; j < ls->n_addrs; j++) {
                        if (ls->addr_ifindex[j] != k->index)
                                continue;
                        struct vc_netns_addr *a = grow((void **)&k->addrs, &k->n_addrs, sizeof *a);
                        if (a == NULL)
                                return -ENOMEM;
                        *a = ls->addrs[j];
                }
                for (size_t j = 0; j < ls->n_routes; j++) {
                        if (ls->routes[j].ifindex != k->index)
                                continue;
                        struct vc_netns_route *r = grow((void **)&k->routes, &k->n_routes, sizeof *r);
                        if (r == NULL)
                                return -ENOMEM;
                        *r = ls->routes[j];
                        memcpy(r->device, k->name, sizeof r->device);
                }
        }
        return 0;
}

int vc_netns_links(const vc_netns_t *ns, struct vc_netns_links **ret, vc_error_t *err)
{
        struct listing ls = {0};
        struct mnl_socket *nl = NULL;
        int r;

        /* A netlink socket talks to the namespace it was created in: make it inside, use it from here. */
        r = vc_netns_enter(ns, open_nl_cb, &nl, err);
        if (r < 0) {
                if (err && *err)
                        return vc_error_wrap(err, "list links of netns '%s'", ns->path);
                return vc_error_set(err, -r, "list links of netns '%s': netlink socket", ns->path);
        }
        ls.l = calloc(1, sizeof *ls.l);
        if (ls.l == NULL)
                r = -ENOMEM;
        if (r >= 0)
                r = dump(nl, RTM_GETLINK, sizeof(struct ifinfomsg), link_cb, &ls);
        if (r >= 0)
                r = dump(nl, RTM_GETADDR, sizeof(struct ifaddrmsg), addr_cb, &ls);
        if (r >= 0)
                r = dump(nl, RTM_GETROUTE, sizeof(struct rtmsg), route_cb, &ls);
        if (r >= 0)
                r = distribute(&ls);
        mnl_socket_close(nl);
        free(ls.addrs);
        free(ls.addr_ifindex);
        free(ls.routes);
        if (r < 0) {
                vc_netns_links_free(ls.l);
                return vc_error_set(err, -r, "list links of netns '%s'", ns->path);
        }
        *ret = ls.l;
        return 0;
}
