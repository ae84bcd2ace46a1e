/* config.json loading and validation. The parsed document stays a json-c tree (the policy gets it as a Lua
 * table); this file checks the parts we act on and names the field when something is wrong. Unknown
 * properties are ignored, as the runtime spec asks. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "vc/oci.h"

/* A field path such as "hooks.poststart[1].path", built while descending. */
struct where {
        const char *doc;
        char path[512];
};

static size_t where_push(struct where *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t where_push(struct where *w, const char *fmt, ...)
{
        size_t old = strlen(w->path);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->path + old, sizeof w->path - old, fmt, ap);
        va_end(ap);
        return old;
}

static void where_pop(struct where *w, size_t old)
{
        w->path[old] = '\0';
}

static int bad(vc_error_t *err, struct where *w, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(vc_error_t *err, struct where *w, const char *fmt, ...)
{
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return vc_error_setx(err, EINVAL, "%s: %s: %s", w->doc, w->path, msg);
}

static const char *type_name(json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "boolean";
        case json_type_double:
                return "number";
        case json_type_int:
                return "integer";
        case json_type_object:
                return "object";
        case json_type_array:
                return "array";
        case json_type_string:
                return "string";
        }
        return "value";
}

static int expect(json_object *o, enum json_type t, struct where *w, vc_error_t *err)
{
        if (o != NULL && json_object_get_type(o) == t)
                return 0;
        return bad(err, w, "must be %s, got %s",
                   t == json_type_object    ? "an object"
                   : t == json_type_array   ? "an array"
                   : t == json_type_string  ? "a string"
                   : t == json_type_int     ? "an integer"
                   : t == json_type_boolean ? "a boolean"
                                            : "a value",
                   o ? type_name(o) : "null");
}

/* Optional member: 0 with *ret NULL when absent, -EINVAL when present with the wrong type. */
static int member(json_object *obj, const char *key, enum json_type t, json_object **ret, struct where *w,
                  vc_error_t *err)
{
        json_object *v = NULL;
        *ret = NULL;
        if (!json_object_object_get_ex(obj, key, &v))
                return 0;
        size_t old = where_push(w, "%s%s", w->path[0] ? "." : "", key);
        int r = expect(v, t, w, err);
        if (r == 0 && t == json_type_int && json_object_get_type(v) != json_type_int)
                r = bad(err, w, "must be an integer");
        where_pop(w, old);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

static int required(json_object *obj, const char *key, enum json_type t, json_object **ret, struct where *w,
                    vc_error_t *err)
{
        int r = member(obj, key, t, ret, w, err);
        if (r < 0)
                return r;
        if (*ret == NULL) {
                size_t old = where_push(w, "%s%s", w->path[0] ? "." : "", key);
                r = bad(err, w, "is required");
                where_pop(w, old);
                return r;
        }
        return 0;
}

static int check_abs_path(json_object *s, struct where *w, vc_error_t *err)
{
        const char *p = json_object_get_string(s);
        if (p[0] != '/')
                return bad(err, w, "must be absolute");
        return 0;
}

/* An array whose items are all strings; env-style when need_eq. */
static int check_string_array(json_object *a, int need_eq, int nonempty, struct where *w, vc_error_t *err)
{
        size_t n = json_object_array_length(a);
        if (nonempty && n == 0)
                return bad(err, w, "must not be empty");
        for (size_t i = 0; i < n; i++) {
                json_object *s = json_object_array_get_idx(a, i);
                size_t old = where_push(w, "[%zu]", i);
                int r = expect(s, json_type_string, w, err);
                if (r == 0 && need_eq) {
                        const char *v = json_object_get_string(s);
                        if (v[0] == '=' || strchr(v, '=') == NULL)
                                r = bad(err, w, "must be of the form KEY=value");
                }
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_nonneg(json_object *o, struct where *w, const char *key, vc_error_t *err)
{
        if (o && json_object_get_int64(o) < 0) {
                size_t old = where_push(w, ".%s", key);
                int r = bad(err, w, "must not be negative");
                where_pop(w, old);
                return r;
        }
        return 0;
}

static int validate_user(json_object *user, struct where *w, vc_error_t *err)
{
        json_object *uid, *gid, *gids, *umask;
        int r;
        if ((r = member(user, "uid", json_type_int, &uid, w, err)) < 0 ||
            (r = member(user, "gid", json_type_int, &gid, w, err)) < 0 ||
            (r = member(user, "umask", json_type_int, &umask, w, err)) < 0 ||
            (r = member(user, "additionalGids", json_type_array, &gids, w, err)) < 0)
                return r;
        if ((r = check_nonneg(uid, w, "uid", err)) < 0 || (r = check_nonneg(gid, w, "gid", err)) < 0)
                return r;
        for (size_t i = 0; gids && i < json_object_array_length(gids); i++) {
                json_object *g = json_object_array_get_idx(gids, i);
                size_t old = where_push(w, ".additionalGids[%zu]", i);
                r = expect(g, json_type_int, w, err);
                if (r == 0 && json_object_get_int64(g) < 0)
                        r = bad(err, w, "must not be negative");
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int validate_process(json_object *proc, struct where *w, vc_error_t *err)
{
        json_object *args, *env, *cwd, *user, *terminal, *cs, *rlimits, *nnp;
        int r;

        if ((r = required(proc, "args", json_type_array, &args, w, err)) < 0 ||
            (r = member(proc, "env", json_type_array, &env, w, err)) < 0 ||
            (r = required(proc, "cwd", json_type_string, &cwd, w, err)) < 0 ||
            (r = member(proc, "user", json_type_object, &user, w, err)) < 0 ||
            (r = member(proc, "terminal", json_type_boolean, &terminal, w, err)) < 0 ||
            (r = member(proc, "consoleSize", json_type_object, &cs, w, err)) < 0 ||
            (r = member(proc, "rlimits", json_type_array, &rlimits, w, err)) < 0 ||
            (r = member(proc, "noNewPrivileges", json_type_boolean, &nnp, w, err)) < 0)
                return r;

        size_t old = where_push(w, ".args");
        r = check_string_array(args, 0, 1, w, err);
        where_pop(w, old);
        if (r < 0)
                return r;
        if (env) {
                old = where_push(w, ".env");
                r = check_string_array(env, 1, 0, w, err);
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        old = where_push(w, ".cwd");
        r = check_abs_path(cwd, w, err);
        where_pop(w, old);
        if (r < 0)
                return r;
        if (user) {
                old = where_push(w, ".user");
                r = validate_user(user, w, err);
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        if (cs) {
                json_object *h, *wd;
                old = where_push(w, ".consoleSize");
                if ((r = required(cs, "height", json_type_int, &h, w, err)) == 0 &&
                    (r = required(cs, "width", json_type_int, &wd, w, err)) == 0 &&
                    (r = check_nonneg(h, w, "height", err)) == 0)
                        r = check_nonneg(wd, w, "width", err);
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; rlimits && i < json_object_array_length(rlimits); i++) {
                json_object *rl = json_object_array_get_idx(rlimits, i), *type, *hard, *soft;
                old = where_push(w, ".rlimits[%zu]", i);
                if ((r = expect(rl, json_type_object, w, err)) == 0 &&
                    (r = required(rl, "type", json_type_string, &type, w, err)) == 0 &&
                    (r = required(rl, "hard", json_type_int, &hard, w, err)) == 0 &&
                    (r = required(rl, "soft", json_type_int, &soft, w, err)) == 0 &&
                    strncmp(json_object_get_string(type), "RLIMIT_", 7) != 0) {
                        size_t o2 = where_push(w, ".type");
                        r = bad(err, w, "unknown rlimit '%s'", json_object_get_string(type));
                        where_pop(w, o2);
                }
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vc_oci_validate_process(json_object *process, const char *what, vc_error_t *err)
{
        struct where w = {.doc = what, .path = "process"};
        int r = expect(process, json_type_object, &w, err);
        return r < 0 ? r : validate_process(process, &w, err);
}

static const char *const hook_kinds[] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

static int validate_hooks(json_object *hooks, struct where *w, vc_error_t *err)
{
        for (size_t k = 0; k < ELEMENTSOF(hook_kinds); k++) {
                json_object *list;
                int r = member(hooks, hook_kinds[k], json_type_array, &list, w, err);
                if (r < 0)
                        return r;
                for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                        json_object *h = json_object_array_get_idx(list, i), *path, *args, *env, *timeout;
                        size_t old = where_push(w, ".%s[%zu]", hook_kinds[k], i);
                        if ((r = expect(h, json_type_object, w, err)) == 0 &&
                            (r = required(h, "path", json_type_string, &path, w, err)) == 0 &&
                            (r = member(h, "args", json_type_array, &args, w, err)) == 0 &&
                            (r = member(h, "env", json_type_array, &env, w, err)) == 0 &&
                            (r = member(h, "timeout", json_type_int, &timeout, w, err)) == 0) {
                                size_t o2 = where_push(w, ".path");
                                r = check_abs_path(path, w, err);
                                where_pop(w, o2);
                                if (r == 0 && args) {
                                        o2 = where_push(w, ".args");
                                        r = check_string_array(args, 0, 0, w, err);
                                        where_pop(w, o2);
                                }
                                if (r == 0 && env) {
                                        o2 = where_push(w, ".env");
                                        r = check_string_array(env, 1, 0, w, err);
                                        where_pop(w, o2);
                                }
                                if (r == 0 && timeout && json_object_get_int64(timeout) <= 0) {
                                        o2 = where_push(w, ".timeout");
                                        r = bad(err, w, "must be greater than zero");
                                        where_pop(w, o2);
                                }
                        }
                        where_pop(w, old);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int validate_mounts(json_object *mounts, struct where *w, vc_error_t *err)
{
        for (size_t i = 0; i < json_object_array_length(mounts); i++) {
                json_object *m = json_object_array_get_idx(mounts, i), *dst, *type, *src, *opts;
                size_t old = where_push(w, "[%zu]", i);
                int r;
                if ((r = expect(m, json_type_object, w, err)) == 0 &&
                    (r = required(m, "destination", json_type_string, &dst, w, err)) == 0 &&
                    (r = member(m, "type", json_type_string, &type, w, err)) == 0 &&
                    (r = member(m, "source", json_type_string, &src, w, err)) == 0 &&
                    (r = member(m, "options", json_type_array, &opts, w, err)) == 0) {
                        size_t o2 = where_push(w, ".destination");
                        r = check_abs_path(dst, w, err);
                        where_pop(w, o2);
                        if (r == 0 && opts) {
                                o2 = where_push(w, ".options");
                                r = check_string_array(opts, 0, 0, w, err);
                                where_pop(w, o2);
                        }
                }
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const char *const ns_types[] = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"};

static int validate_linux(json_object *linux_, struct where *w, vc_error_t *err)
{
        json_object *nss, *res;
        int r;
        if ((r = member(linux_, "namespaces", json_type_array, &nss, w, err)) < 0 ||
            (r = member(linux_, "resources", json_type_object, &res, w, err)) < 0)
                return r;
        unsigned seen = 0;
        for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
                json_object *ns = json_object_array_get_idx(nss, i), *type, *path;
                size_t old = where_push(w, ".namespaces[%zu]", i);
                if ((r = expect(ns, json_type_object, w, err)) == 0 &&
                    (r = required(ns, "type", json_type_string, &type, w, err)) == 0 &&
                    (r = member(ns, "path", json_type_string, &path, w, err)) == 0) {
                        size_t t;
                        for (t = 0; t < ELEMENTSOF(ns_types); t++)
                                if (STREQ(ns_types[t], json_object_get_string(type)))
                                        break;
                        size_t o2 = where_push(w, ".type");
                        if (t == ELEMENTSOF(ns_types))
                                r = bad(err, w, "unknown namespace type '%s'", json_object_get_string(type));
                        else if (seen & (1u << t))
                                r = bad(err, w, "duplicate namespace type '%s'", ns_types[t]);
                        seen |= t < ELEMENTSOF(ns_types) ? 1u << t : 0;
                        where_pop(w, o2);
                        if (r == 0 && path) {
                                o2 = where_push(w, ".path");
                                r = check_abs_path(path, w, err);
                                where_pop(w, o2);
                        }
                }
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        if (res) {
                json_object *mem, *cpu, *limit, *quota, *period, *shares;
                size_t old = where_push(w, ".resources");
                if ((r = member(res, "memory", json_type_object, &mem, w, err)) == 0 &&
                    (r = member(res, "cpu", json_type_object, &cpu, w, err)) == 0 && mem) {
                        size_t o2 = where_push(w, ".memory");
                        r = member(mem, "limit", json_type_int, &limit, w, err);
                        where_pop(w, o2);
                }
                if (r == 0 && cpu) {
                        size_t o2 = where_push(w, ".cpu");
                        if ((r = member(cpu, "quota", json_type_int, &quota, w, err)) == 0 &&
                            (r = member(cpu, "period", json_type_int, &period, w, err)) == 0 &&
                            (r = member(cpu, "shares", json_type_int, &shares, w, err)) == 0 &&
                            (r = check_nonneg(period, w, "period", err)) == 0)
                                r = check_nonneg(shares, w, "shares", err);
                        where_pop(w, o2);
                }
                where_pop(w, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* "1.x.y" with x <= 3, optionally followed by a pre-release suffix ("1.0.2-dev", "1.0.0-rc92"). */
static int version_supported(const char *v)
{
        unsigned major, minor, patch;
        int n = 0;
        if (sscanf(v, "%u.%u.%u%n", &major, &minor, &patch, &n) != 3)
                return 0;
        if (v[n] != '\0' && v[n] != '-' && v[n] != '+')
                return 0;
        return major == 1 && minor <= 3;
}

int vc_oci_validate(json_object *config, const char *what, vc_error_t *err)
{
        struct where w = {.doc = what};
        json_object *ver, *root, *proc, *host, *mounts, *hooks, *ann, *linux_;
        int r;

        if (json_object_get_type(config) != json_type_object)
                return vc_error_setx(err, EINVAL, "%s: must be a JSON object", what);
        if ((r = required(config, "ociVersion", json_type_string, &ver, &w, err)) < 0 ||
            (r = member(config, "root", json_type_object, &root, &w, err)) < 0 ||
            (r = member(config, "process", json_type_object, &proc, &w, err)) < 0 ||
            (r = member(config, "hostname", json_type_string, &host, &w, err)) < 0 ||
            (r = member(config, "mounts", json_type_array, &mounts, &w, err)) < 0 ||
            (r = member(config, "hooks", json_type_object, &hooks, &w, err)) < 0 ||
            (r = member(config, "annotations", json_type_object, &ann, &w, err)) < 0 ||
            (r = member(config, "linux", json_type_object, &linux_, &w, err)) < 0)
                return r;
        if (!version_supported(json_object_get_string(ver))) {
                strcpy(w.path, "ociVersion");
                return bad(err, &w, "unsupported version '%s' (supported: %s to 1.3.x)",
                           json_object_get_string(ver), VC_OCI_VERSION_MIN);
        }
        if (root) {
                json_object *path, *ro;
                strcpy(w.path, "root");
                if ((r = required(root, "path", json_type_string, &path, &w, err)) < 0 ||
                    (r = member(root, "readonly", json_type_boolean, &ro, &w, err)) < 0)
                        return r;
                if (json_object_get_string_len(path) == 0) {
                        strcpy(w.path, "root.path");
                        return bad(err, &w, "must not be empty");
                }
        }
        if (proc) {
                strcpy(w.path, "process");
                if ((r = validate_process(proc, &w, err)) < 0)
                        return r;
        }
        if (host && json_object_get_string_len(host) > 64) {
                strcpy(w.path, "hostname");
                return bad(err, &w, "longer than 64 bytes");
        }
        if (mounts) {
                strcpy(w.path, "mounts");
                if ((r = validate_mounts(mounts, &w, err)) < 0)
                        return r;
        }
        if (hooks) {
                strcpy(w.path, "hooks");
                if ((r = validate_hooks(hooks, &w, err)) < 0)
                        return r;
        }
        if (ann) {
                json_object_object_foreach(ann, k, v)
                {
                        if (json_object_get_type(v) != json_type_string) {
                                snprintf(w.path, sizeof w.path, "annotations.%s", k);
                                return bad(err, &w, "must be a string, got %s", type_name(v));
                        }
                }
        }
        if (linux_) {
                strcpy(w.path, "linux");
                if ((r = validate_linux(linux_, &w, err)) < 0)
                        return r;
        }
        return 0;
}

/* The bytes of config.json: a regular file (a FIFO would block, a device never end) of at most
 * VC_OCI_MAX_SIZE bytes. */
static int read_config(const char *path, const char *base, char **ret_buf, size_t *ret_len, vc_error_t *err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        /* O_NONBLOCK: opening a FIFO for reading does not wait for a writer */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return vc_error_set(err, errno, "open '%s'", path);
        if (fstat(fd, &st) < 0)
                return vc_error_set(err, errno, "stat '%s'", path);
        if (!S_ISREG(st.st_mode))
                return vc_error_setx(err, EINVAL, "%s: not a regular file", base);
        if (st.st_size > VC_OCI_MAX_SIZE)
                return vc_error_setx(err, EFBIG, "%s: larger than %u bytes", base, VC_OCI_MAX_SIZE);
        if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
                return vc_error_set(err, ENOMEM, "read '%s'", path);
        /* the size read stops at is the one stat gave: a file that grows meanwhile is cut, not followed */
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vc_error_set(err, errno, "read '%s'", path);
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret_buf = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int vc_oci_load(const char *path, json_object **ret, vc_error_t *err)
{
        const char *base = strrchr(path, '/');
        _cleanup_free_ char *buf = NULL;
        json_tokener *tok;
        json_object *doc;
        size_t len = 0, end;
        int r;

        base = base ? base + 1 : path;
        if ((r = read_config(path, base, &buf, &len, err)) < 0)
                return r;
        if ((tok = json_tokener_new()) == NULL)
                return vc_error_set(err, ENOMEM, "parse '%s'", path);
        doc = json_tokener_parse_ex(tok, buf, (int)len);
        if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success) {
                enum json_tokener_error e = json_tokener_get_error(tok);
                json_object_put(doc);
                json_tokener_free(tok);
                return vc_error_setx(err, EINVAL, "%s: invalid JSON: %s", base,
                                     e == json_tokener_continue ? "unexpected end of data"
                                                                : json_tokener_error_desc(e));
        }
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        while (end < len && strchr(" \t\r\n", buf[end]) != NULL && buf[end] != '\0')
                end++;
        if (end < len) {
                json_object_put(doc);
                return vc_error_setx(err, EINVAL, "%s: invalid JSON: data after the document at byte %zu",
                                     base, end);
        }
        r = vc_oci_validate(doc, base, err);
        if (r < 0) {
                json_object_put(doc);
                return r;
        }
        *ret = doc;
        return 0;
}

int vc_id_validate(const char *id, vc_error_t *err)
{
        size_t pos = 0;

        switch (vc_id_check(id, VC_ID_MAX, &pos)) {
        case VC_ID_OK:
                return 0;
        case VC_ID_EMPTY:
                return vc_error_setx(err, EINVAL, "invalid container id: empty");
        case VC_ID_TOO_LONG:
                return vc_error_setx(err, EINVAL, "invalid container id: longer than %d bytes", VC_ID_MAX);
        default:
                return vc_error_setx(err, EINVAL, "invalid container id '%.64s%s': character %zu not allowed",
                                     id, strlen(id) > 64 ? "..." : "", pos);
        }
}

void vc_id_digest(const char *id, char ret[17])
{
        uint64_t h = 0xcbf29ce484222325ULL;
        for (const unsigned char *p = (const unsigned char *)id; *p; p++)
                h = (h ^ *p) * 0x100000001b3ULL;
        snprintf(ret, 17, "%016llx", (unsigned long long)h);
}

/* CRI annotations, containerd first, then CRI-O. */
static const struct {
        const char *type_key, *sandbox_key, *sandbox_value, *container_value;
} cri[] = {
    {"io.kubernetes.cri.container-type", "io.kubernetes.cri.sandbox-id", "sandbox", "container"},
    {"io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri-o.SandboxID", "sandbox", "container"},
};

int vc_oci_container_type(json_object *annotations, enum vc_container_type *ret_type,
                          const char **ret_sandbox_id, vc_error_t *err)
{
        for (size_t i = 0; annotations && i < ELEMENTSOF(cri); i++) {
                json_object *t, *s;
                if (!json_object_object_get_ex(annotations, cri[i].type_key, &t))
                        continue;
                const char *type = json_object_get_string(t);
                if (STREQ(type, cri[i].sandbox_value)) {
                        *ret_type = VC_CONTAINER_SANDBOX;
                        *ret_sandbox_id = NULL;
                        return 0;
                }
                if (!STREQ(type, cri[i].container_value))
                        return vc_error_setx(err, EINVAL, "annotation %s: unknown container type '%s'",
                                             cri[i].type_key, type);
                if (!json_object_object_get_ex(annotations, cri[i].sandbox_key, &s) ||
                    json_object_get_string_len(s) == 0)
                        return vc_error_setx(err, EINVAL, "annotation %s: required for a container of a pod",
                                             cri[i].sandbox_key);
                int r = vc_id_validate(json_object_get_string(s), err);
                if (r < 0)
                        return vc_error_wrap(err, "annotation %s", cri[i].sandbox_key);
                *ret_type = VC_CONTAINER_POD_CONTAINER;
                *ret_sandbox_id = json_object_get_string(s);
                return 0;
        }
        *ret_type = VC_CONTAINER_SANDBOX;
        *ret_sandbox_id = NULL;
        return 0;
}

json_object *vc_oci_default_spec(void)
{
        static const char spec[] =
            "{\"ociVersion\":\"" VC_OCI_VERSION "\","
            "\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],"
            "\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"TERM=xterm\"],"
            "\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],"
            "\"noNewPrivileges\":true},"
            "\"root\":{\"path\":\"rootfs\",\"readonly\":false},"
            "\"hostname\":\"kata\","
            "\"mounts\":["
            "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
            "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
            "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
            "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
            "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\"]},"
            "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
            "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
            "{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
            "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
            "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
            "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}],"
            "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
            "{\"type\":\"uts\"},{\"type\":\"mount\"}],"
            "\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}}";
        return json_tokener_parse(spec);
}
