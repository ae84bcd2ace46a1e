/* Rules of the OCI spec that the runtime checks on the host, before a VM boots, and the guest agent checks
 * again where it applies them: one place for each. No dependency beyond libc. */
#ifndef VC_COMMON_OCI_RULES_H
#define VC_COMMON_OCI_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* Whether linux.sysctl may set `key` ("net.ipv4.ip_forward" or "net/ipv4/ip_forward") in a container
 * with these namespaces of its own, as runc validates it: the IPC parameters need an ipc namespace,
 * net.* a network namespace, kernel.domainname a uts namespace; kernel.hostname is the "hostname"
 * field's; anything else is not namespaced. 0, or -EINVAL with the reason ("linux.sysctl: ...") in err. */
int vc_sysctl_check(const char *key, bool ns_ipc, bool ns_uts, bool ns_net, char *err, size_t errlen);

/* What one process (config.process, an exec'd process) may carry to the guest: the agent refuses more,
 * and the runtime refuses it on the host before a VM boots. */
#define VC_PROCESS_MAX_ARGS 4096  /* process.args entries */
#define VC_PROCESS_MAX_ENV 4096   /* process.env entries */
#define VC_PROCESS_MAX_STR 65536  /* bytes of one argument or environment entry */
#define VC_PROCESS_MAX_GROUPS 256 /* process.user.additionalGids entries */
#define VC_SPEC_MAX_MOUNTS 256    /* mounts entries */

/* The resource an rlimit type names ("RLIMIT_NOFILE" -> RLIMIT_NOFILE), or -1 for a name the guest does
 * not know; *ret_name (may be NULL) gets the static spelling. */
int vc_rlimit_lookup(const char *name, const char **ret_name);

#endif
