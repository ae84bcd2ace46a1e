#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "vc/error.h"

static int error_vset(vc_error_t *err, int code, int with_strerror, const char *fmt, va_list ap)
{
        char *msg = NULL, *full = NULL;

        if (code <= 0)
                code = EIO;
        if (err == NULL || *err != NULL)
                return -code;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        if (msg != NULL && with_strerror) {
                if (asprintf(&full, "%s: %s", msg, strerror(code)) < 0)
                        full = NULL;
                free(msg);
                msg = full;
        }
        *err = calloc(1, sizeof **err);
        if (*err == NULL) {
                free(msg);
                return -code;
        }
        (*err)->code = code;
        (*err)->msg = msg ? msg : strdup(strerror(code));
        return -code;
}

int vc_error_set(vc_error_t *err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = error_vset(err, code, 1, fmt, ap);
        va_end(ap);
        return r;
}

int vc_error_setx(vc_error_t *err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = error_vset(err, code, 0, fmt, ap);
        va_end(ap);
        return r;
}

int vc_error_wrap(vc_error_t *err, const char *fmt, ...)
{
        char *ctx = NULL, *full = NULL;
        va_list ap;

        if (err == NULL || *err == NULL)
                return -EIO;
        va_start(ap, fmt);
        if (vasprintf(&ctx, fmt, ap) < 0)
                ctx = NULL;
        va_end(ap);
        if (ctx != NULL && asprintf(&full, "%s: %s", ctx, (*err)->msg ? (*err)->msg : "") >= 0) {
                free((*err)->msg);
                (*err)->msg = full;
        }
        free(ctx);
        return -(*err)->code;
}

void vc_error_release(vc_error_t *err)
{
        if (err == NULL || *err == NULL)
                return;
        free((*err)->msg);
        free(*err);
        *err = NULL;
}

const char *vc_errno_name(int code)
{
        return vc_rpc_errno_name(code);
}

int vc_errno_from_name(const char *name)
{
        return vc_rpc_errno_code(name);
}
