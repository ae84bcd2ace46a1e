#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "vc/log.h"

#define MAX_FIELDS 8

static struct {
        int fd;
        int owned;
        enum vc_log_format format;
        enum vc_log_level level;
        vc_log_handler_t handler;
        void *handler_data;
        char *keys[MAX_FIELDS];
        char *values[MAX_FIELDS];
} sink = {.fd = 2, .level = VC_LOG_WARNING};

static const char *const level_names[] = {"error", "warning", "info", "debug"};

const char *vc_log_level_to_string(enum vc_log_level level)
{
        return level <= VC_LOG_DEBUG ? level_names[level] : "debug";
}

int vc_log_level_from_string(const char *s, enum vc_log_level *ret)
{
        for (unsigned i = 0; i < 4; i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = i;
                        return 0;
                }
        if (strcmp(s, "warn") == 0) {
                *ret = VC_LOG_WARNING;
                return 0;
        }
        return -EINVAL;
}

int vc_log_format_from_string(const char *s, enum vc_log_format *ret)
{
        if (strcmp(s, "text") == 0)
                *ret = VC_LOG_TEXT;
        else if (strcmp(s, "json") == 0)
                *ret = VC_LOG_JSON;
        else
                return -EINVAL;
        return 0;
}

enum vc_log_level vc_log_get_level(void)
{
        return sink.level;
}

int vc_log_init(const char *path, enum vc_log_format format, enum vc_log_level max_level, vc_error_t *err)
{
        vc_log_close();
        sink.format = format;
        sink.level = max_level;
        if (path == NULL || path[0] == '\0') {
                sink.fd = 2;
                return 0;
        }
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
                return vc_error_set(err, errno, "open log file '%s'", path);
        sink.fd = fd;
        sink.owned = 1;
        return 0;
}

void vc_log_close(void)
{
        if (sink.owned && sink.fd >= 0)
                (void)close(sink.fd);
        sink.fd = 2;
        sink.owned = 0;
}

int vc_log_set_field(const char *key, const char *value)
{
        int free_slot = -1;
        for (int i = 0; i < MAX_FIELDS; i++) {
                if (sink.keys[i] && strcmp(sink.keys[i], key) == 0) {
                        free(sink.values[i]);
                        if (value == NULL) {
                                free(sink.keys[i]);
                                sink.keys[i] = sink.values[i] = NULL;
                                return 0;
                        }
                        sink.values[i] = strdup(value);
                        return sink.values[i] ? 0 : -ENOMEM;
                }
                if (!sink.keys[i] && free_slot < 0)
                        free_slot = i;
        }
        if (value == NULL)
                return 0;
        if (free_slot < 0)
                return -ENOSPC;
        sink.keys[free_slot] = strdup(key);
        sink.values[free_slot] = strdup(value);
        if (!sink.keys[free_slot] || !sink.values[free_slot])
                return -ENOMEM;
        return 0;
}

void vc_log_set_handler(vc_log_handler_t fn, void *data)
{
        sink.handler = fn;
        sink.handler_data = data;
}

static void write_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                buf += n;
                len -= (size_t)n;
        }
}

static void format_time(char *buf, size_t len)
{
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

void vc_log_fields(enum vc_log_level level, const char *const *fields, const char *msg)
{
        char ts[64];
        char *line = NULL;

        if (level > sink.level)
                return;
        if (sink.handler) {
                sink.handler(level, msg, sink.handler_data);
                return;
        }
        format_time(ts, sizeof ts);
        if (sink.format == VC_LOG_JSON) {
                json_object *o = json_object_new_object();
                if (o == NULL)
                        return;
                json_object_object_add(o, "level", json_object_new_string(vc_log_level_to_string(level)));
                json_object_object_add(o, "msg", json_object_new_string(msg));
                json_object_object_add(o, "time", json_object_new_string(ts));
                for (int i = 0; i < MAX_FIELDS; i++)
                        if (sink.keys[i])
                                json_object_object_add(o, sink.keys[i],
                                                       json_object_new_string(sink.values[i]));
                for (const char *const *f = fields; f && f[0] && f[1]; f += 2)
                        json_object_object_add(o, f[0], json_object_new_string(f[1]));
                const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE);
                if (asprintf(&line, "%s\n", s) < 0)
                        line = NULL;
                json_object_put(o);
        } else {
                /* text: time="..." level=x msg="..." key=value, logfmt like runc's text output */
                char *extra = strdup("");
                for (int i = 0; extra && i < MAX_FIELDS; i++) {
                        char *n = NULL;
                        if (!sink.keys[i])
                                continue;
                        if (asprintf(&n, "%s %s=%s", extra, sink.keys[i], sink.values[i]) < 0)
                                n = NULL;
                        free(extra);
                        extra = n;
                }
                for (const char *const *f = fields; extra && f && f[0] && f[1]; f += 2) {
                        char *n = NULL;
                        if (asprintf(&n, "%s %s=%s", extra, f[0], f[1]) < 0)
                                n = NULL;
                        free(extra);
                        extra = n;
                }
                if (asprintf(&line, "time=\"%s\" level=%s msg=\"%s\"%s\n", ts, vc_log_level_to_string(level),
                             msg, extra ? extra : "") < 0)
                        line = NULL;
                free(extra);
        }
        if (line) {
                write_all(sink.fd, line, strlen(line));
                free(line);
        }
}

void vc_log(enum vc_log_level level, int errnum, const char *fmt, ...)
{
        char *msg = NULL, *full = NULL;
        va_list ap;

        if (level > sink.level)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (msg == NULL)
                return;
        if (errnum > 0 && asprintf(&full, "%s: %s", msg, strerror(errnum)) >= 0) {
                free(msg);
                msg = full;
        }
        vc_log_fields(level, NULL, msg);
        free(msg);
}
