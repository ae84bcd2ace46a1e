/* Finding what a sandbox left running when its record is gone or unreadable: delete --force of a create
 * killed mid-boot, of a corrupt state, of a supervisor that never reported its pid. */
#ifndef VC_PURGE_H
#define VC_PURGE_H

#include "vc/error.h"

/* SIGKILL every process (but this one and its ancestors) one of whose command-line arguments contains
 * `needle` -- a sandbox directory: its supervisor, qemu, virtiofsd and shims all name a file in it -- and
 * wait up to timeout_ms for them to be gone. *ret_killed (may be NULL) gets how many were signalled.
 * needle must be an absolute path of at least 8 bytes (-EINVAL otherwise): never a pattern that could
 * match unrelated processes. -ETIMEDOUT when some are still there at the deadline. */
int vc_purge_processes(const char *needle, int timeout_ms, int *ret_killed, vc_error_t *err);

#endif
