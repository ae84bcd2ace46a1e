/* One logging sink for the runtime, the supervisor and the shim, behind a replaceable handler
 * (crun's output handler). Library code logs at debug level only; programs log outcomes. */
#ifndef VC_LOG_H
#define VC_LOG_H

#include "vc/error.h"

enum vc_log_level {
        VC_LOG_ERROR = 0,
        VC_LOG_WARNING = 1,
        VC_LOG_INFO = 2,
        VC_LOG_DEBUG = 3,
};

enum vc_log_format {
        VC_LOG_TEXT = 0,
        VC_LOG_JSON = 1,
};

typedef void (*vc_log_handler_t)(enum vc_log_level level, const char *msg, void *data);

/* Open the sink: path NULL means stderr. Lines below max_level are dropped. */
int vc_log_init(const char *path, enum vc_log_format format, enum vc_log_level max_level, vc_error_t *err);
/* Parse "text"/"json", "error"/"warning"/"info"/"debug"; -EINVAL when unknown. */
int vc_log_format_from_string(const char *s, enum vc_log_format *ret);
int vc_log_level_from_string(const char *s, enum vc_log_level *ret);
const char *vc_log_level_to_string(enum vc_log_level level);
enum vc_log_level vc_log_get_level(void);
/* A field added to every line, such as container=<id>; value NULL removes it. */
int vc_log_set_field(const char *key, const char *value);
/* Replace the sink (NULL restores the default file/stderr sink). */
void vc_log_set_handler(vc_log_handler_t fn, void *data);
/* Log one line; errnum > 0 appends ": strerror(errnum)". */
void vc_log(enum vc_log_level level, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Log one line with extra fields given as a NULL-terminated key, value, key, value... array. */
void vc_log_fields(enum vc_log_level level, const char *const *fields, const char *msg);
void vc_log_close(void);

#define vc_debug(...) vc_log(VC_LOG_DEBUG, 0, __VA_ARGS__)

#endif
