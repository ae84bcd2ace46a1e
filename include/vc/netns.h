/* Network namespaces: create persistent named ones the way `ip netns add` does, open one by path, run code
 * inside one, list what is in it, and delete the ones the runtime made.
 *
 * Ownership rule: the runtime keeps its namespaces in a directory of its own (kata-runtime passes
 * <root>/netns). vc_netns_create() claims that directory by writing the marker file VC_NETNS_MARKER into it,
 * and only a directory it created or found empty is claimed. vc_netns_delete() deletes only a namespace
 * file that sits directly in a claimed directory; anything else (/run/netns/x made by `ip netns add`, a
 * /proc/<pid>/ns/net path, an unmarked directory) is refused with -EPERM. */
#ifndef VC_NETNS_H
#define VC_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#include "vc/error.h"

#define VC_NETNS_MARKER ".vc-netns-dir"

typedef struct vc_netns vc_netns_t; /* an open network namespace: an fd plus the path it was opened by */

/* Create the namespace <dir>/<name>: a new netns, bind mounted onto that file, with `lo` up. dir is
 * created if missing (0755), made a shared mount point (bind mounted onto itself first when it is not one)
 * and claimed with the marker. name is a plain file name (no '/', not starting with '.'). Fails with
 * -EEXIST when the name is taken. Nothing is left behind on failure. */
int vc_netns_create(const char *dir, const char *name, vc_netns_t **ret, vc_error_t *err);

/* Open the network namespace at path (a bind mount like the ones above, or /proc/<pid>/ns/net).
 * -EINVAL when path is not a network namespace. */
int vc_netns_open(const char *path, vc_netns_t **ret, vc_error_t *err);

/* Closes the fd and frees; NULL-safe; returns NULL. */
vc_netns_t *vc_netns_free(vc_netns_t *ns);
static inline void vc_netns_freep(vc_netns_t **ns)
{
        if (*ns)
                (void)vc_netns_free(*ns);
}

int vc_netns_fd(const vc_netns_t *ns);
const char *vc_netns_path(const vc_netns_t *ns);

/* 1 when ns is the host's network namespace (same device and inode as /proc/1/ns/net), 0 when not.
 * Where PID 1's namespace may not be inspected (EACCES/EPERM), the runtime process's own namespace
 * (/proc/self/ns/net, as runc does) is the reference instead. */
int vc_netns_is_host(const vc_netns_t *ns, vc_error_t *err);

/* Delete a namespace the runtime created (see the ownership rule): lazy unmount, then unlink. */
int vc_netns_delete(const char *path, vc_error_t *err);

/* Undo what vc_netns_create() did to dir once no namespace is left in it: unmount the directory's own bind
 * mount (when create made one), remove the marker and the directory. -ENOTEMPTY while namespaces remain,
 * -EPERM for a directory that is not claimed. */
int vc_netns_dir_remove(const char *dir, vc_error_t *err);

/* Move the calling thread into the network namespace open at fd. When ret_saved_fd is not NULL it gets an
 * fd of the namespace the thread was in, to come back with vc_netns_enter_fd(saved, NULL, ...) and close.
 * With ret_saved_fd and err NULL it only calls setns(2), so a forked child may use it before exec. */
int vc_netns_enter_fd(int fd, int *ret_saved_fd, vc_error_t *err);

/* Run fn(data) with the calling thread inside ns and always switch back afterwards. Returns fn's result
 * (>= 0 or a negative errno of its own) unless entering fails. Failing to come back is reported as
 * -ENOTRECOVERABLE: the thread is then stuck in ns and must not go on as if nothing happened. */
int vc_netns_enter(const vc_netns_t *ns, int (*fn)(void *data), void *data, vc_error_t *err);

/* What vc_netns_links() reports. Addresses and gateways are printable strings (inet_ntop). */
struct vc_netns_addr {
        int family; /* AF_INET or AF_INET6 */
        char address[46];
        unsigned prefixlen;
};
struct vc_netns_route {
        int family;
        char destination[46]; /* "0.0.0.0" or "::" (prefixlen 0) for the default route */
        unsigned prefixlen;
        char gateway[46]; /* "" when there is none */
        int ifindex;
        char device[16];
};
struct vc_netns_link {
        int index;
        char name[16];
        char kind[32]; /* "veth", "bridge", ... from IFLA_INFO_KIND; "" when the kernel gives none */
        char mac[18];  /* "aa:bb:cc:dd:ee:ff"; "" when the link has no 6-byte address */
        unsigned mtu;
        unsigned flags; /* IFF_* */
        bool up;        /* IFF_UP */
        struct vc_netns_addr *addrs;
        size_t n_addrs;
        struct vc_netns_route *routes; /* routes of the main table whose output device is this link */
        size_t n_routes;
};
struct vc_netns_links {
        struct vc_netns_link *links;
        size_t n_links;
};

/* List the links of ns with their addresses and main-table routes (by netlink, RTM_GETLINK/ADDR/ROUTE). */
int vc_netns_links(const vc_netns_t *ns, struct vc_netns_links **ret, vc_error_t *err);
struct vc_netns_links *vc_netns_links_free(struct vc_netns_links *l); /* NULL-safe; returns NULL */

#endif
