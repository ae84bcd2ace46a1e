/* Process identity on the host: a pid plus its start time, because pids are reused. */
#ifndef VC_PROC_H
#define VC_PROC_H

#include <sys/types.h>

#include "vc/error.h"

/* Start time of pid in clock ticks since boot (field 22 of /proc/<pid>/stat). -ENOENT when gone. */
int vc_proc_start_time(pid_t pid, unsigned long long *ret, vc_error_t *err);
/* 1 when pid runs and started at start_time (0 skips that check), 0 otherwise. A zombie counts as gone. */
int vc_proc_alive(pid_t pid, unsigned long long start_time);
/* Wait until pid (with that start time, 0: any) is gone or timeout_ms passes: 1 when gone, 0 if not. */
int vc_proc_wait_gone(pid_t pid, unsigned long long start_time, int timeout_ms);

#endif
