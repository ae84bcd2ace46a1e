/* libvc error object: a negative errno plus a message with context, crun style. */
#ifndef VC_ERROR_H
#define VC_ERROR_H

#include <stdarg.h>

typedef struct vc_error_s {
        int code; /* positive errno */
        char *msg;
} * vc_error_t;

/* Set *err (if err is not NULL and *err is NULL) and return -code. code is a positive errno;
 * when fmt names a syscall failure the strerror text is appended: "open 'x': No such file or directory". */
int vc_error_set(vc_error_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, without the strerror suffix: for validation errors whose message is complete. */
int vc_error_setx(vc_error_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix context: "ctx: previous message". Returns -code of the existing error. */
int vc_error_wrap(vc_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NULL-safe; sets *err to NULL. */
void vc_error_release(vc_error_t *err);
/* "ENOENT" style name of a positive errno, "EIO" when it has none (the agent protocol's mapping). */
const char *vc_errno_name(int code);
/* The reverse: the errno an "ENOENT"-style name stands for; EIO when unknown. */
int vc_errno_from_name(const char *name);

#endif
