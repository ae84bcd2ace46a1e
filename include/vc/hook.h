/* OCI hooks: run one hook or a list of them the way the OCI runtime spec describes
 * (https://github.com/opencontainers/runtime-spec/blob/main/config.md#posix-platform-hooks).
 * Which hooks run when, and what a failure means, is the Lua policy's business; this is the mechanism. */
#ifndef VC_HOOK_H
#define VC_HOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "vc/error.h"

/* Captured stdout and stderr are bounded to this many bytes each; the rest is read and dropped, and
 * VC_HOOK_TRUNCATED_MARKER is appended to what was kept. */
#define VC_HOOK_OUTPUT_MAX (64 * 1024)
#define VC_HOOK_TRUNCATED_MARKER "\n[... output truncated]\n"

/* One hook, the OCI shape. The strings are borrowed for the duration of the call. */
struct vc_hook {
        const char *path;        /* absolute; a relative path is refused before anything runs */
        const char *const *args; /* NULL-terminated argv, args[0] included and passed as is;
                                  * NULL means argv = { path } */
        const char *const *env;  /* NULL-terminated; replaces the environment. NULL means an empty one:
                                  * nothing of the caller's environment is inherited */
        bool has_timeout;        /* timeout is set ... */
        int timeout;             /* ... to this many seconds, which must be > 0 */
};

/* How to run it. Zero-initialise, then set netns_fd = -1 (or use VC_HOOK_OPTS_INIT). */
struct vc_hook_opts {
        const char *kind;  /* "prestart", "poststart", ...: only used in messages; NULL for none */
        const char *state; /* container state JSON written to the hook's stdin; NULL: empty stdin */
        size_t state_len;
        const char *netns; /* run the hook inside this network namespace (a path) ... */
        int netns_fd;      /* ... or this open one (used when netns is NULL and netns_fd >= 0) */
        const char *cwd;   /* working directory of the hook (the bundle); NULL: the caller's */
        size_t index;      /* vc_hook_run only: the hook's number in error messages */
};
#define VC_HOOK_OPTS_INIT                                                                                    \
        {                                                                                                    \
                .netns_fd = -1                                                                               \
        }

/* What a hook printed. Buffers are NUL-terminated (the length excludes the NUL). */
struct vc_hook_output {
        char *out;
        size_t out_len;
        char *err;
        size_t err_len;
};
/* Frees the buffers and zeroes *o; NULL-safe. */
void vc_hook_output_release(struct vc_hook_output *o);

/* Run one hook and wait for it. 0 when it exited with status 0; otherwise a negative errno and *err says
 * "error running <kind> hook #<index>: <why>[, stderr: ...][, stdout: ...]" where <why> is
 * "exit status N", "signal: killed", "hook ran past specified timeout of Ns" (-ETIMEDOUT), or the
 * failed step ("exec '/x': No such file or directory", -ENOENT). A non-zero exit or a signal death is
 * -EIO. Invalid hooks give -EINVAL, "invalid <kind> hook #<index>: ...". ret_output may be NULL; it is set
 * only on success. The hook runs in its own process group; on timeout the whole group gets SIGKILL. */
int vc_hook_run(const struct vc_hook *hook, const struct vc_hook_opts *opts,
                struct vc_hook_output *ret_output, vc_error_t *err);

/* Run n hooks in order, stopping at the first failure. Every hook is validated before the first runs.
 * On failure *ret_failed (may be NULL) is the 0-based index of the hook that failed; otherwise it is left
 * alone. ret_outputs, when not NULL, is an array of n that is filled on success (release each entry). */
int vc_hook_run_list(const struct vc_hook *hooks, size_t n, const struct vc_hook_opts *opts,
                     struct vc_hook_output *ret_outputs, size_t *ret_failed, vc_error_t *err);

#endif
