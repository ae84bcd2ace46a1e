/* Sandbox networking on the host: which interfaces of a network namespace reach the VM, and the tap +
 * tc redirect that mirrors one of them (Kata's "tcfilter" model).
 *
 * Mirroring link L (a veth a CNI plugin made, say) creates a persistent tap VC_NET_TAP_PREFIX<index of L>
 * in the same namespace with L's MTU, up, and on both L and the tap an ingress qdisc with one u32
 * match-all filter (priority VC_NET_TC_PRIO) whose mirred action redirects every frame to the other's
 * egress. QEMU opens the tap by name; the guest's NIC carries L's MAC, so the peer of L talks to the guest
 * as it would have talked to L. L itself (addresses, routes, MTU, MAC) is not changed.
 *
 * Teardown removes exactly what mirroring made: the tap (with its qdisc and filter) and on L the filter,
 * plus L's ingress qdisc when mirroring created it (a qdisc that was there before stays). */
#ifndef VC_NET_H
#define VC_NET_H

#include <stdbool.h>

#include "vc/error.h"
#include "vc/netns.h"

#define VC_NET_TAP_PREFIX "vctap"
#define VC_NET_TC_PRIO 0x6b76 /* the u32 filters' priority ("kv") */

/* The interfaces of ns that are mirrored into a VM: every link except loopback, links without an
 * Ethernet address (tunnels) and the taps mirroring made. Same shape and ownership as vc_netns_links(). */
int vc_net_interfaces(const vc_netns_t *ns, struct vc_netns_links **ret, vc_error_t *err);

/* What vc_net_mirror() made, for vc_net_unmirror(). */
struct vc_net_mirror {
        char link[16];   /* the mirrored link */
        char tap[16];    /* the tap made for it */
        bool link_qdisc; /* the ingress qdisc on link was made by the mirroring */
        unsigned mtu;    /* link's MTU, given to the tap */
};

/* Mirror the link called name in ns. -ENODEV when there is no such link, -EEXIST when it is mirrored
 * already (its tap exists), -EINVAL for loopback or a tap of ours. Nothing is left behind on failure. */
int vc_net_mirror(const vc_netns_t *ns, const char *name, struct vc_net_mirror *ret, vc_error_t *err);

/* Undo vc_net_mirror(). A link or tap that is gone already is fine (CNI DEL may have run first); a tap
 * name that is not one of ours is refused (-EPERM) and nothing is done. */
int vc_net_unmirror(const vc_netns_t *ns, const struct vc_net_mirror *m, vc_error_t *err);

#endif
