/* Host process identity: a pid plus its start time, so a reused pid is not mistaken for the process
 * the runtime recorded (a container's liveness is its shim's pid and start time). */
#ifndef VC_PROC_H
#define VC_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vc/error.h"

/* Start time of pid in clock ticks since boot (field 22 of /proc/<pid>/stat). -ESRCH when there is no
 * such process, -EINVAL for pid <= 0, -EPROTO when the stat line cannot be parsed. */
int vc_proc_start_time(pid_t pid, uint64_t *ret_ticks, vc_error_t *err);
/* The one-letter state of pid (field 3: 'R', 'S', 'Z', ...) and its start time, read together. */
int vc_proc_stat(pid_t pid, char *ret_state, uint64_t *ret_ticks, vc_error_t *err);
/* True when pid exists, is not a zombie (or dead), and started at start_time. */
bool vc_proc_alive(pid_t pid, uint64_t start_time);

#endif
