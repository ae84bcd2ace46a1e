/* The capability names of process.capabilities that the agent knows (the constants of
 * <linux/capability.h>), one list for the agent and for the runtime's `features`. A name the guest kernel
 * does not have is still skipped there, with a log line. */
#ifndef VC_CAP_NAMES_H
#define VC_CAP_NAMES_H

#include <linux/capability.h>

#define VC_CAPABILITIES(X)                                                                                   \
        X(CAP_CHOWN)                                                                                         \
        X(CAP_DAC_OVERRIDE)                                                                                  \
        X(CAP_DAC_READ_SEARCH)                                                                               \
        X(CAP_FOWNER)                                                                                        \
        X(CAP_FSETID)                                                                                        \
        X(CAP_KILL)                                                                                          \
        X(CAP_SETGID)                                                                                        \
        X(CAP_SETUID)                                                                                        \
        X(CAP_SETPCAP)                                                                                       \
        X(CAP_LINUX_IMMUTABLE)                                                                               \
        X(CAP_NET_BIND_SERVICE)                                                                              \
        X(CAP_NET_BROADCAST)                                                                                 \
        X(CAP_NET_ADMIN)                                                                                     \
        X(CAP_NET_RAW)                                                                                       \
        X(CAP_IPC_LOCK)                                                                                      \
        X(CAP_IPC_OWNER)                                                                                     \
        X(CAP_SYS_MODULE)                                                                                    \
        X(CAP_SYS_RAWIO)                                                                                     \
        X(CAP_SYS_CHROOT)                                                                                    \
        X(CAP_SYS_PTRACE)                                                                                    \
        X(CAP_SYS_PACCT)                                                                                     \
        X(CAP_SYS_ADMIN)                                                                                     \
        X(CAP_SYS_BOOT)                                                                                      \
        X(CAP_SYS_NICE)                                                                                      \
        X(CAP_SYS_RESOURCE)                                                                                  \
        X(CAP_SYS_TIME)                                                                                      \
        X(CAP_SYS_TTY_CONFIG)                                                                                \
        X(CAP_MKNOD)                                                                                         \
        X(CAP_LEASE)                                                                                         \
        X(CAP_AUDIT_WRITE)                                                                                   \
        X(CAP_AUDIT_CONTROL)                                                                                 \
        X(CAP_SETFCAP)                                                                                       \
        X(CAP_MAC_OVERRIDE)                                                                                  \
        X(CAP_MAC_ADMIN)                                                                                     \
        X(CAP_SYSLOG)                                                                                        \
        X(CAP_WAKE_ALARM)                                                                                    \
        X(CAP_BLOCK_SUSPEND)                                                                                 \
        X(CAP_AUDIT_READ)                                                                                    \
        X(CAP_PERFMON)                                                                                       \
        X(CAP_BPF)                                                                                           \
        X(CAP_CHECKPOINT_RESTORE)

#endif
