/* Starting kata-shim, the host process that stands for one container process (docs/agent-protocol.md:
 * it attaches to a process handle through the sandbox supervisor and proxies stdio, signals and the
 * exit status). */
#ifndef VC_SHIM_H
#define VC_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vc/error.h"

struct vc_shim_opts {
        const char *path;           /* kata-shim binary; NULL: beside /proc/self/exe, else the build dir */
        const char *socket;         /* the supervisor's sup.sock (required) */
        const char *container;      /* container id (required) */
        const char *exec_id;        /* exec id of a detached exec; NULL for the container's init process */
        uint32_t handle;            /* process handle from create_container/exec_process (required, > 0) */
        const char *console_socket; /* send a host pty master there, runc style; NULL for plain stdio */
        bool terminal;              /* process has a terminal but no console socket: use the inherited tty */
        const char *log;            /* log file; NULL: stderr, warnings and errors only */
        const char *log_format;     /* "text" (default) or "json" */
        bool debug;                 /* log at debug level */
        int timeout_ms;             /* vc_shim_spawn: how long to wait for the shim to be attached;
                                       <= 0 means 10 s */
        const char *netns;          /* vc_shim_spawn: run the shim in this network namespace (a path), as
                                       Kata's shims run in the pod's: an engine that sets up the network of
                                       /proc/<container pid>/ns/net (ctr --cni) then reaches the sandbox's
                                       namespace. NULL: the caller's. */
};

/* The binary vc_shim_spawn/vc_shim_exec would run (malloc'd). */
int vc_shim_path(const struct vc_shim_opts *o, char **ret_path, vc_error_t *err);

/* fork+exec kata-shim with the caller's stdio, wait until it has attached to the process (its ready
 * line) and return its pid. The shim is not waited for on success: it outlives the caller and is
 * reaped by whoever inherits it. On failure the shim is killed and reaped, and err carries the shim's
 * own error line ("attach handle 3: ENOENT: ...") or why it could not start. */
int vc_shim_spawn(const struct vc_shim_opts *o, pid_t *ret_pid, vc_error_t *err);

/* Replace the calling process with kata-shim (foreground exec/run: the caller's terminal, signals and
 * exit status become the shim's). Returns only on failure. */
int vc_shim_exec(const struct vc_shim_opts *o, vc_error_t *err);

#endif
