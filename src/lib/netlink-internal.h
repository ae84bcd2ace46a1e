/* rtnetlink over libmnl, shared by the areas that talk to the kernel's network stack (netns.c, net.c). */
#ifndef VC_NETLINK_INTERNAL_H
#define VC_NETLINK_INTERNAL_H

#include <libmnl/libmnl.h>

/* A NETLINK_ROUTE socket, bound, close-on-exec, in the calling thread's network namespace; NULL with
 * errno set on failure. */
struct mnl_socket *vc__nl_open(void);

/* Send one request and run cb (may be NULL) on every answer until the dump ends or the ACK comes.
 * Returns 0, or -errno (the kernel's error for a refused request). */
int vc__nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

#endif
