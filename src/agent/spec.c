/* Reading the parts of an OCI runtime spec the agent honours, with every field from the host checked
 * for type and bounds before anything is created. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "agent.h"

static void strv_free(char **v)
{
        if (v == NULL)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

void spawn_free(struct spawn *s)
{
        strv_free(s->argv);
        strv_free(s->env);
        free(s->cwd);
        free(s->groups);
        free(s->rootfs);
        free(s->hostname);
        for (size_t i = 0; i < s->nmounts; i++) {
                free(s->mounts[i].source);
                free(s->mounts[i].destination);
                free(s->mounts[i].type);
                free(s->mounts[i].data);
        }
        free(s->mounts);
        for (size_t i = 0; i < s->nmasked; i++)
                free(s->masked[i]);
        free(s->masked);
        for (size_t i = 0; i < s->nreadonly; i++)
                free(s->readonly[i]);
        free(s->readonly);
        strv_free(s->sysctl);
        devices_free(s);
        agent_seccomp_free(s->seccomp);
        free(s->cgroup_dir);
        memset(s, 0, sizeof *s);
        s->ns_fd_mnt = s->ns_fd_uts = s->ns_fd_ipc = s->ns_fd_cgroup = s->root_fd = -1;
}

/* Optional member of type t: 0 and *out = NULL when absent; -EINVAL when present with another type. */
static int member(json_object *o, const char *key, json_type t, json_object **out, char *err, size_t errlen,
                  const char *ctx)
{
        json_object *v = NULL;

        *out = NULL;
        if (!json_object_object_get_ex(o, key, &v) || v == NULL)
                return 0;
        if (!json_object_is_type(v, t))
                return spec_fail(err, errlen, "%s%s: expected %s", ctx, key, json_type_to_name(t));
        *out = v;
        return 0;
}

static int member_u32(json_object *o, const char *key, uint32_t *out, bool *present, char *err, size_t errlen,
                      const char *ctx)
{
        json_object *v;
        int rc = member(o, key, json_type_int, &v, err, errlen, ctx);
        if (rc < 0)
                return rc;
        if (present)
                *present = v != NULL;
        if (v == NULL)
                return 0;
        int64_t n = json_object_get_int64(v);
        if (n < 0 || n > (int64_t)UINT32_MAX - 1)
                return spec_fail(err, errlen, "%s%s: %lld out of range", ctx, key, (long long)n);
        *out = (uint32_t)n;
        return 0;
}

/* A copy of a string member, bounded; absent gives NULL. */
static int member_strdup(json_object *o, const char *key, size_t max, char **out, char *err, size_t errlen,
                         const char *ctx)
{
        json_object *v;
        int rc = member(o, key, json_type_string, &v, err, errlen, ctx);

        *out = NULL;
        if (rc < 0 || v == NULL)
                return rc;
        size_t len = (size_t)json_object_get_string_len(v);
        const char *s = json_object_get_string(v);
        if (len > max)
                return spec_fail(err, errlen, "%s%s: longer than %zu bytes", ctx, key, max);
        if (strlen(s) != len)
                return spec_fail(err, errlen, "%s%s: contains a NUL byte", ctx, key);
        *out = strdup(s);
        return *out ? 0 : -ENOMEM;
}

/* A NULL-terminated copy of an array of strings. */
static int strv_from_array(json_object *a, size_t maxn, size_t maxlen, bool need_eq, char ***out,
                           size_t *count, char *err, size_t errlen, const char *what)
{
        size_t n = json_object_array_length(a);
        char **v;

        if (n > maxn)
                return spec_fail(err, errlen, "%s: more than %zu entries", what, maxn);
        v = calloc(n + 1, sizeof *v);
        if (v == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                const char *s;
                if (!json_object_is_type(e, json_type_string)) {
                        strv_free(v);
                        return spec_fail(err, errlen, "%s[%zu]: expected string", what, i);
                }
                s = json_object_get_string(e);
                if ((size_t)json_object_get_string_len(e) > maxlen ||
                    strlen(s) != (size_t)json_object_get_string_len(e) ||
                    (need_eq && strchr(s, '=') == NULL)) {
                        strv_free(v);
                        return spec_fail(err, errlen, "%s[%zu]: invalid", what, i);
                }
                v[i] = strdup(s);
                if (v[i] == NULL) {
                        strv_free(v);
                        return -ENOMEM;
                }
        }
        *out = v;
        if (count)
                *count = n;
        return 0;
}

static int parse_rlimits(struct spawn *s, json_object *a, char *err, size_t errlen)
{
        size_t n = json_object_array_length(a);

        if (n > RLIM_NLIMITS)
                return spec_fail(err, errlen, "process.rlimits: too many entries");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i), *t, *hard, *soft;
                int rc;
                if (!json_object_is_type(e, json_type_object))
                        return spec_fail(err, errlen, "process.rlimits[%zu]: expected object", i);
                if ((rc = member(e, "type", json_type_string, &t, err, errlen, "process.rlimits[].")) < 0 ||
                    (rc = member(e, "hard", json_type_int, &hard, err, errlen, "process.rlimits[].")) < 0 ||
                    (rc = member(e, "soft", json_type_int, &soft, err, errlen, "process.rlimits[].")) < 0)
                        return rc;
                if (!t || !hard || !soft)
                        return spec_fail(err, errlen, "process.rlimits[%zu]: needs type, hard and soft", i);
                const char *name;
                int resource = vc_rlimit_lookup(json_object_get_string(t), &name);
                if (resource < 0)
                        return spec_fail(err, errlen, "process.rlimits[%zu]: unknown type '%.64s'", i,
                                         json_object_get_string(t));
                /* json-c clamps to int64; a uint64 like 18446744073709551615 means unlimited */
                uint64_t h = json_object_get_uint64(hard), so = json_object_get_uint64(soft);
                s->rlimits[s->nrlimits].resource = resource;
                s->rlimits[s->nrlimits].name = name;
                s->rlimits[s->nrlimits].lim.rlim_max = h >= (uint64_t)INT64_MAX ? RLIM_INFINITY : h;
                s->rlimits[s->nrlimits].lim.rlim_cur = so >= (uint64_t)INT64_MAX ? RLIM_INFINITY : so;
                s->nrlimits++;
        }
        return 0;
}

int spawn_parse_process(struct spawn *s, json_object *process, char *err, size_t errlen)
{
        json_object *v, *user, *size;
        const char *ctx = "process.";
        bool present;
        int rc;

        if (process == NULL || !json_object_is_type(process, json_type_object))
                return spec_fail(err, errlen, "process: expected object");
        if ((rc = member(process, "args", json_type_array, &v, err, errlen, ctx)) < 0)
                return rc;
        if (v == NULL || json_object_array_length(v) == 0)
                return spec_fail(err, errlen, "process.args: must be a non-empty array");
        if ((rc = strv_from_array(v, AGENT_MAX_ARGS, AGENT_MAX_STR, false, &s->argv, NULL, err, errlen,
                                  "process.args")) < 0)
                return rc;
        if (s->argv[0][0] == '\0')
                return spec_fail(err, errlen, "process.args[0]: empty");

        if ((rc = member(process, "env", json_type_array, &v, err, errlen, ctx)) < 0)
                return rc;
        if (v) {
                if ((rc = strv_from_array(v, AGENT_MAX_ENV, AGENT_MAX_STR, true, &s->env, NULL, err, errlen,
                                          "process.env")) < 0)
                        return rc;
        } else if ((s->env = calloc(1, sizeof *s->env)) == NULL) {
                return -ENOMEM;
        }

        if ((rc = member_strdup(process, "cwd", PATH_MAX - 1, &s->cwd, err, errlen, ctx)) < 0)
                return rc;
        if (s->cwd == NULL && (s->cwd = strdup("/")) == NULL)
                return -ENOMEM;
        if (s->cwd[0] != '/')
                return spec_fail(err, errlen, "process.cwd: must be absolute");

        if ((rc = member(process, "user", json_type_object, &user, err, errlen, ctx)) < 0)
                return rc;
        if (user) {
                uint32_t uid = 0, gid = 0;
                if ((rc = member_u32(user, "uid", &uid, NULL, err, errlen, "process.user.")) < 0 ||
                    (rc = member_u32(user, "gid", &gid, NULL, err, errlen, "process.user.")) < 0)
                        return rc;
                s->uid = uid;
                s->gid = gid;
                if ((rc = member(user, "additionalGids", json_type_array, &v, err, errlen, "process.user.")) <
                    0)
                        return rc;
                if (v) {
                        size_t n = json_object_array_length(v);
                        if (n > AGENT_MAX_GROUPS)
                                return spec_fail(err, errlen, "process.user.additionalGids: too many");
                        s->groups = calloc(n ? n : 1, sizeof *s->groups);
                        if (s->groups == NULL)
                                return -ENOMEM;
                        for (size_t i = 0; i < n; i++) {
                                json_object *g = json_object_array_get_idx(v, i);
                                int64_t x =
                                    json_object_is_type(g, json_type_int) ? json_object_get_int64(g) : -1;
                                if (x < 0 || x > (int64_t)UINT32_MAX - 1)
                                        return spec_fail(err, errlen,
                                                         "process.user.additionalGids[%zu]: invalid", i);
                                s->groups[i] = (gid_t)x;
                        }
                        s->ngroups = n;
                }
        }

        if ((rc = member(process, "terminal", json_type_boolean, &v, err, errlen, ctx)) < 0)
                return rc;
        s->terminal = v && json_object_get_boolean(v);
        if ((rc = member(process, "consoleSize", json_type_object, &size, err, errlen, ctx)) < 0)
                return rc;
        if (size) {
                uint32_t h = 0, w = 0;
                if ((rc = member_u32(size, "height", &h, &present, err, errlen, "process.consoleSize.")) <
                        0 ||
                    (rc = member_u32(size, "width", &w, &present, err, errlen, "process.consoleSize.")) < 0)
                        return rc;
                if (h > 65535 || w > 65535)
                        return spec_fail(err, errlen, "process.consoleSize: out of range");
                s->rows = (unsigned short)h;
                s->cols = (unsigned short)w;
        }
        if ((rc = member(process, "noNewPrivileges", json_type_boolean, &v, err, errlen, ctx)) < 0)
                return rc;
        s->no_new_privs = v && json_object_get_boolean(v);
        if ((rc = member(process, "rlimits", json_type_array, &v, err, errlen, ctx)) < 0)
                return rc;
        if (v && (rc = parse_rlimits(s, v, err, errlen)) < 0)
                return rc;
        if ((rc = member(process, "capabilities", json_type_object, &v, err, errlen, ctx)) < 0 ||
            (rc = caps_parse(&s->caps, v, err, errlen)) < 0)
                return rc;
        if ((rc = member(process, "oomScoreAdj", json_type_int, &v, err, errlen, ctx)) < 0)
                return rc;
        if (v) {
                int64_t n = json_object_get_int64(v);
                if (n < -1000 || n > 1000)
                        return spec_fail(err, errlen, "process.oomScoreAdj: %lld is not within -1000..1000",
                                         (long long)n);
                s->oom_score_adj_set = true;
                s->oom_score_adj = (int)n;
        }
        return 0;
}

/* No "." or ".." components: paths from the host are joined under a root, never walked out of it. */
static bool path_clean(const char *p)
{
        const char *c = p;

        while (*c) {
                while (*c == '/')
                        c++;
                size_t n = strcspn(c, "/");
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += n;
        }
        return true;
}

static const struct {
        const char *name;
        bool clear;
        unsigned long flag;
} mount_flags[] = {
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"noatime", false, MS_NOATIME},
    {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"diratime", true, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
};

static const struct {
        const char *name;
        unsigned long flag;
} propagation_flags[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static int parse_mount(struct mount_spec *m, json_object *o, size_t idx, char *err, size_t errlen)
{
        json_object *opts;
        char *source = NULL;
        char data[4096] = "";
        size_t dlen = 0;
        int rc;

        if (!json_object_is_type(o, json_type_object))
                return spec_fail(err, errlen, "mounts[%zu]: expected object", idx);
        if ((rc = member_strdup(o, "destination", PATH_MAX - 1, &m->destination, err, errlen, "mounts[].")) <
                0 ||
            (rc = member_strdup(o, "type", 64, &m->type, err, errlen, "mounts[].")) < 0 ||
            (rc = member_strdup(o, "source", PATH_MAX - 1, &source, err, errlen, "mounts[].")) < 0 ||
            (rc = member(o, "options", json_type_array, &opts, err, errlen, "mounts[].")) < 0) {
                free(source);
                return rc;
        }
        if (m->destination == NULL || m->destination[0] != '/' || !path_clean(m->destination)) {
                free(source);
                return spec_fail(err, errlen,
                                 "mounts[%zu].destination: must be an absolute path without '..'", idx);
        }
        if (m->type == NULL && (m->type = strdup("none")) == NULL) {
                free(source);
                return -ENOMEM;
        }
        for (size_t i = 0, n = opts ? json_object_array_length(opts) : 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(opts, i);
                const char *s;
                size_t k;
                bool known = false;
                if (!json_object_is_type(e, json_type_string) || json_object_get_string_len(e) > 256) {
                        free(source);
                        return spec_fail(err, errlen, "mounts[%zu].options[%zu]: invalid", idx, i);
                }
                s = json_object_get_string(e);
                /* runc's extensions that engines pass on --tmpfs and --read-only mounts */
                if (strcmp(s, "tmpcopyup") == 0 || strcmp(s, "notmpcopyup") == 0) {
                        m->copyup = s[0] == 't';
                        continue;
                }
                if (strcmp(s, "bind") == 0 || strcmp(s, "rbind") == 0) {
                        m->bind = true;
                        m->flags |= MS_BIND | (s[0] == 'r' ? MS_REC : 0);
                        continue;
                }
                for (k = 0; k < sizeof mount_flags / sizeof mount_flags[0] && !known; k++) {
                        if (strcmp(s, mount_flags[k].name) == 0) {
                                known = true;
                                if (mount_flags[k].clear)
                                        m->flags &= ~mount_flags[k].flag;
                                else
                                        m->flags |= mount_flags[k].flag;
                        }
                }
                for (k = 0; k < sizeof propagation_flags / sizeof propagation_flags[0] && !known; k++) {
                        if (strcmp(s, propagation_flags[k].name) == 0) {
                                known = true;
                                m->propagation = propagation_flags[k].flag;
                        }
                }
                if (known)
                        continue;
                if (strpbrk(s, ",") || dlen + strlen(s) + 2 > sizeof data) {
                        free(source);
                        return spec_fail(err, errlen, "mounts[%zu].options[%zu]: invalid", idx, i);
                }
                dlen += (size_t)snprintf(data + dlen, sizeof data - dlen, "%s%s", dlen ? "," : "", s);
        }
        if (strcmp(m->type, "bind") == 0)
                m->bind = true, m->flags |= MS_BIND;

        if (strcmp(m->destination, "/dev") == 0 || strcmp(m->type, "devtmpfs") == 0) {
                m->minimal_dev = true;
                m->bind = false;
        } else if (strcmp(m->type, "cgroup") == 0 || strcmp(m->type, "cgroup2") == 0) {
                m->cgroup = true;
        } else if (m->bind) {
                if (source == NULL || source[0] == '\0' || !path_clean(source)) {
                        free(source);
                        return spec_fail(err, errlen,
                                         "mounts[%zu].source: bind mounts need a path without '..'", idx);
                }
                if (source[0] != '/') {
                        char *abs;
                        if (asprintf(&abs, "%s/%s", AGENT_SHARED_DIR, source) < 0) {
                                free(source);
                                return -ENOMEM;
                        }
                        free(source);
                        source = abs;
                }
        } else {
                static const char *const types[] = {"proc", "sysfs", "tmpfs", "devpts", "mqueue"};
                bool ok = false;
                for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
                        ok = ok || strcmp(m->type, types[k]) == 0;
                if (!ok) {
                        free(source);
                        return spec_fail(err, errlen, "mounts[%zu]: mount type '%s' is not supported", idx,
                                         m->type);
                }
        }
        m->source = source ? source : strdup(m->type);
        m->data = strdup(data);
        return m->source && m->data ? 0 : -ENOMEM;
}

static int parse_paths(json_object *linux_, const char *key, char ***out, size_t *count, char *err,
                       size_t errlen)
{
        json_object *v;
        int rc = member(linux_, key, json_type_array, &v, err, errlen, "linux.");

        if (rc < 0 || v == NULL)
                return rc;
        rc = strv_from_array(v, AGENT_MAX_MOUNTS, PATH_MAX - 1, false, out, count, err, errlen, key);
        if (rc < 0)
                return rc;
        for (size_t i = 0; i < *count; i++)
                if ((*out)[i][0] != '/' || !path_clean((*out)[i]))
                        return spec_fail(err, errlen, "linux.%s[%zu]: must be an absolute path without '..'",
                                         key, i);
        return 0;
}

int spawn_parse_spec(struct spawn *s, json_object *spec, const char *rootfs, char *err, size_t errlen)
{
        json_object *v, *root, *linux_;
        int rc;

        if (spec == NULL || !json_object_is_type(spec, json_type_object))
                return spec_fail(err, errlen, "spec: expected object");
        if (rootfs[0] == '\0' || !path_clean(rootfs))
                return spec_fail(err, errlen, "rootfs: must be a path without '..'");
        if (rootfs[0] == '/')
                s->rootfs = strdup(rootfs);
        else if (asprintf(&s->rootfs, "%s/%s", AGENT_SHARED_DIR, rootfs) < 0)
                s->rootfs = NULL;
        if (s->rootfs == NULL)
                return -ENOMEM;

        if ((rc = member(spec, "process", json_type_object, &v, err, errlen, "spec.")) < 0)
                return rc;
        if ((rc = spawn_parse_process(s, v, err, errlen)) < 0)
                return rc;
        if ((rc = member(spec, "root", json_type_object, &root, err, errlen, "spec.")) < 0)
                return rc;
        if (root) {
                if ((rc = member(root, "readonly", json_type_boolean, &v, err, errlen, "root.")) < 0)
                        return rc;
                s->rootfs_readonly = v && json_object_get_boolean(v);
        }
        if ((rc = member_strdup(spec, "hostname", 64, &s->hostname, err, errlen, "spec.")) < 0)
                return rc;

        if ((rc = member(spec, "mounts", json_type_array, &v, err, errlen, "spec.")) < 0)
                return rc;
        if (v) {
                size_t n = json_object_array_length(v);
                if (n > AGENT_MAX_MOUNTS)
                        return spec_fail(err, errlen, "mounts: more than %d entries", AGENT_MAX_MOUNTS);
                s->mounts = calloc(n ? n : 1, sizeof *s->mounts);
                if (s->mounts == NULL)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        s->nmounts = i + 1;
                        if ((rc = parse_mount(&s->mounts[i], json_object_array_get_idx(v, i), i, err,
                                              errlen)) < 0)
                                return rc;
                }
        }

        if ((rc = member(spec, "linux", json_type_object, &linux_, err, errlen, "spec.")) < 0)
                return rc;
        if (linux_ == NULL)
                return 0;
        bool ns_net = false;
        if ((rc = member(linux_, "namespaces", json_type_array, &v, err, errlen, "linux.")) < 0)
                return rc;
        for (size_t i = 0, n = v ? json_object_array_length(v) : 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i), *t, *p;
                const char *type;
                if (!json_object_is_type(e, json_type_object))
                        return spec_fail(err, errlen, "linux.namespaces[%zu]: expected object", i);
                if ((rc = member(e, "type", json_type_string, &t, err, errlen, "linux.namespaces[].")) < 0 ||
                    (rc = member(e, "path", json_type_string, &p, err, errlen, "linux.namespaces[].")) < 0)
                        return rc;
                if (t == NULL)
                        return spec_fail(err, errlen, "linux.namespaces[%zu]: no type", i);
                type = json_object_get_string(t);
                if (strcmp(type, "pid") == 0)
                        s->ns_pid = true;
                else if (strcmp(type, "uts") == 0)
                        s->ns_uts = true;
                else if (strcmp(type, "ipc") == 0)
                        s->ns_ipc = true;
                else if (strcmp(type, "network") == 0)
                        ns_net = true;
                else if (strcmp(type, "cgroup") == 0)
                        s->ns_cgroup = true;
                else if (strcmp(type, "user") == 0 || strcmp(type, "time") == 0)
                        return spec_fail(err, errlen,
                                         "linux.namespaces[%zu]: %s namespaces are not supported", i, type);
                else if (strcmp(type, "mount") != 0 && strcmp(type, "network") != 0 &&
                         strcmp(type, "user") != 0 && strcmp(type, "cgroup") != 0)
                        return spec_fail(err, errlen, "linux.namespaces[%zu]: unknown type '%.32s'", i, type);
                /* A path names a namespace on the host; in the guest the VM is the network and user
                 * namespace, and the others are always made new. */
        }
        if ((rc = parse_paths(linux_, "maskedPaths", &s->masked, &s->nmasked, err, errlen)) < 0 ||
            (rc = parse_paths(linux_, "readonlyPaths", &s->readonly, &s->nreadonly, err, errlen)) < 0)
                return rc;
        if ((rc = member(linux_, "rootfsPropagation", json_type_string, &v, err, errlen, "linux.")) < 0)
                return rc;
        if (v) {
                size_t k;
                for (k = 0; k < sizeof propagation_flags / sizeof propagation_flags[0]; k++)
                        if (strcmp(json_object_get_string(v), propagation_flags[k].name) == 0)
                                break;
                if (k == sizeof propagation_flags / sizeof propagation_flags[0])
                        return spec_fail(err, errlen, "linux.rootfsPropagation: unknown propagation '%.32s'",
                                         json_object_get_string(v));
                s->rootfs_propagation = propagation_flags[k].flag;
        }
        if ((rc = member(linux_, "devices", json_type_array, &v, err, errlen, "linux.")) < 0 ||
            (rc = devices_parse(s, v, err, errlen)) < 0)
                return rc;
        if ((rc = member(linux_, "sysctl", json_type_object, &v, err, errlen, "linux.")) < 0 ||
            (rc = sysctl_parse(s, v, ns_net, err, errlen)) < 0)
                return rc;
        if ((rc = member(linux_, "seccomp", json_type_object, &v, err, errlen, "linux.")) < 0 ||
            (rc = agent_seccomp_parse(v, &s->seccomp, err, errlen)) < 0)
                return rc;
        return 0;
}
