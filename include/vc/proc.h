/* Process identity on the host: a pid plus its start time, because pids are reused. */
#ifndef VC_PROC_H
#define VC_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "vc/error.h"

/* What /proc/<pid>/stat says of a process that the runtime needs. */
struct vc_proc_stat {
        char state;                    /* field 3: R, S, D, Z, X, ... */
        pid_t ppid;                    /* field 4 */
        unsigned long flags;           /* field 9: PF_* (PF_EXITING is 0x4) */
        unsigned long long start_time; /* field 22: clock ticks since boot */
};
/* Read pid's /proc/<pid>/stat into *ret. -ENOENT when gone, -EPROTO when malformed. */
int vc_proc_stat(pid_t pid, struct vc_proc_stat *ret, vc_error_t *err);
/* Start time of pid in clock ticks since boot (field 22 of /proc/<pid>/stat). -ENOENT when gone. */
int vc_proc_start_time(pid_t pid, unsigned long long *ret, vc_error_t *err);
/* 1 when pid runs and started at start_time (0 skips that check), 0 otherwise. A zombie counts as gone. */
int vc_proc_alive(pid_t pid, unsigned long long start_time);
/* Wait until pid (with that start time, 0: any) is gone or timeout_ms passes: 1 when gone, 0 if not. */
int vc_proc_wait_gone(pid_t pid, unsigned long long start_time, int timeout_ms);

/* kill(2) for a host process the runtime owns (a shim): 0 or the negative errno, in err. */
int vc_proc_kill(pid_t pid, int signo, vc_error_t *err);
/* Wait for child pid to end (retrying on EINTR): its exit code, or 128 + the signal that ended it, in
 * *ret_status. -ECHILD when pid is not a child. */
int vc_proc_wait(pid_t pid, int *ret_status, vc_error_t *err);
/* Reap every child that has ended, without waiting: how many. */
int vc_proc_reap(void);
/* Make the calling process a child subreaper (on) or not (PR_SET_CHILD_SUBREAPER): orphans of its
 * descendants (shims, supervisors) become its children, as under containerd-shim or conmon. */
int vc_proc_set_subreaper(bool on, vc_error_t *err);

/* Start argv (argv[0] the program's path, execv: no PATH search) as a process of its own that outlives the
 * caller: in a new session, stdio on /dev/null, default signal dispositions and an empty signal mask, and
 * not the caller's child (a double fork), so nobody has to reap it and it holds none of the caller's pipes.
 * Its pid in *ret once it has exec'd; an exec failure is the error, with its errno. */
int vc_proc_spawn_detached(const char *const *argv, pid_t *ret, vc_error_t *err);

#endif
