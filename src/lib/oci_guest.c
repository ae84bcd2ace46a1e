/* What of a config.json the guest cannot honour, refused on the host before a VM boots: namespaces the
 * container would have to share with the host (only the pod's own and the network namespace cross into
 * the VM), user namespaces, fields the guest agent does not apply, and what is over the agent's bounds
 * (sizes, counts, id ranges, rlimit names: oci_rules.h holds them for both). Each error names the field. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "frame.h"
#include "oci_rules.h"
#include "openat2-internal.h"
#include "seccomp_names.h"
#include "util.h"
#include "vc/oci.h"

static const struct {
        const char *type;
        int clone_flag;
} ns_types[] = {
    {"pid", CLONE_NEWPID},       {"network", CLONE_NEWNET},
    {"mount", CLONE_NEWNS},      {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS},       {"user", CLONE_NEWUSER},
    {"cgroup", CLONE_NEWCGROUP}, {"time", 0x80 /* CLONE_NEWTIME */},
};

static const char *ns_name(int flag)
{
        for (size_t i = 0; i < ELEMENTSOF(ns_types); i++)
                if (ns_types[i].clone_flag == flag)
                        return ns_types[i].type;
        return "unknown";
}

/* The namespace type of the file at path, from the nsfs itself (NS_GET_NSTYPE), not from its name. */
static int ns_type_of(const char *what, size_t i, const char *path, int *ret_flag, vc_error_t *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int t;

        if (fd < 0)
                return vc_error_set(err, errno, "%s: linux.namespaces[%zu].path: open '%s'", what, i, path);
        t = ioctl(fd, NS_GET_NSTYPE);
        if (t < 0)
                return vc_error_setx(err, EINVAL, "%s: linux.namespaces[%zu].path: '%s' is not a namespace",
                                     what, i, path);
        *ret_flag = t;
        return 0;
}

static int check_namespaces(json_object *linux_, bool pod_member, const char *what, vc_error_t *err)
{
        json_object *nss;

        if (!json_object_object_get_ex(linux_, "namespaces", &nss) ||
            !json_object_is_type(nss, json_type_array))
                return 0;
        for (size_t i = 0; i < json_object_array_length(nss); i++) {
                json_object *ns = json_object_array_get_idx(nss, i), *type, *path;
                const char *t, *p;
                size_t k;
                int flag = 0, r;

                if (!json_object_object_get_ex(ns, "type", &type) ||
                    !json_object_is_type(type, json_type_string))
                        continue; /* vc_oci_validate's to refuse */
                t = json_object_get_string(type);
                for (k = 0; k < ELEMENTSOF(ns_types) && !STREQ(ns_types[k].type, t); k++)
                        ;
                if (k == ELEMENTSOF(ns_types))
                        continue;
                if (STREQ(t, "user") || STREQ(t, "time"))
                        return vc_error_setx(
                            err, EINVAL,
                            "%s: linux.namespaces[%zu]: %s namespaces are not supported in the guest", what,
                            i, t);
                if (!json_object_object_get_ex(ns, "path", &path) ||
                    !json_object_is_type(path, json_type_string) || json_object_get_string_len(path) == 0)
                        continue;
                p = json_object_get_string(path);
                /* a path of the wrong type is an error whatever the type */
                if ((r = ns_type_of(what, i, p, &flag, err)) < 0)
                        return r;
                if (flag != ns_types[k].clone_flag)
                        return vc_error_setx(
                            err, EINVAL,
                            "%s: linux.namespaces[%zu].path: '%s' is a namespace of type %s, not %s", what, i,
                            p, ns_name(flag), t);
                if (STREQ(t, "network"))
                        continue;
                /* a pod container's uts, ipc and pid paths name the pod's own, which it joins in the guest */
                if (pod_member && (STREQ(t, "uts") || STREQ(t, "ipc") || STREQ(t, "pid")))
                        continue;
                return vc_error_setx(
                    err, EINVAL,
                    "%s: linux.namespaces[%zu].path: joining the host's %s namespace '%s' is not "
                    "possible from the guest",
                    what, i, t, p);
        }
        return 0;
}

static bool nonempty(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || v == NULL)
                return false;
        switch (json_object_get_type(v)) {
        case json_type_array:
                return json_object_array_length(v) > 0;
        case json_type_object:
                return json_object_object_length(v) > 0;
        case json_type_string:
                return json_object_get_string_len(v) > 0;
        default:
                return true;
        }
}

static bool has_namespace(json_object *linux_, const char *type)
{
        json_object *nss, *t;

        if (!json_object_object_get_ex(linux_, "namespaces", &nss) ||
            !json_object_is_type(nss, json_type_array))
                return false;
        for (size_t i = 0; i < json_object_array_length(nss); i++)
                if (json_object_object_get_ex(json_object_array_get_idx(nss, i), "type", &t) &&
                    json_object_is_type(t, json_type_string) && STREQ(json_object_get_string(t), type))
                        return true;
        return false;
}

static int check_sysctl(json_object *linux_, const char *what, vc_error_t *err)
{
        json_object *o;
        char msg[256];

        if (!json_object_object_get_ex(linux_, "sysctl", &o) || !json_object_is_type(o, json_type_object))
                return 0;
        bool ipc = has_namespace(linux_, "ipc"), uts = has_namespace(linux_, "uts"),
             net = has_namespace(linux_, "network");
        json_object_object_foreach(o, key, val)
        {
                (void)val;
                if (vc_sysctl_check(key, ipc, uts, net, msg, sizeof msg) < 0)
                        return vc_error_setx(err, EINVAL, "%s: %s", what, msg);
        }
        return 0;
}

#define NAME(name, value) name,
static const char *const seccomp_actions[] = {VC_SECCOMP_ACTIONS(NAME) NULL};
static const char *const seccomp_operators[] = {VC_SECCOMP_OPERATORS(NAME) NULL};
static const char *const seccomp_archs[] = {VC_SECCOMP_ARCHS(NAME) NULL};
static const char *const seccomp_flags[] = {VC_SECCOMP_FLAGS(NAME) NULL};
#undef NAME

/* o[key] is absent, or a string among names. */
static bool known(json_object *o, const char *key, const char *const *names, const char **ret)
{
        json_object *v;

        *ret = "";
        if (!json_object_object_get_ex(o, key, &v) || v == NULL)
                return true;
        if (!json_object_is_type(v, json_type_string))
                return false;
        *ret = json_object_get_string(v);
        for (const char *const *n = names; *n; n++)
                if (STREQ(*n, *ret))
                        return true;
        return false;
}

/* The names of linux.seccomp (actions, architectures, operators, flags) are the guest's to honour: an
 * unknown one is refused here, before a VM boots, as the agent would refuse it. */
static int check_seccomp(json_object *linux_, const char *what, vc_error_t *err)
{
        json_object *sc, *a, *v;
        const char *s;

        if (!json_object_object_get_ex(linux_, "seccomp", &sc) || !json_object_is_type(sc, json_type_object))
                return 0;
        if (!known(sc, "defaultAction", seccomp_actions, &s))
                return vc_error_setx(err, EINVAL,
                                     "%s: linux.seccomp.defaultAction: unsupported action '%.64s'", what, s);
        if (json_object_object_get_ex(sc, "listenerPath", &v) && json_object_get_string_len(v) > 0)
                return vc_error_setx(
                    err, EINVAL,
                    "%s: linux.seccomp.listenerPath: not supported: the guest cannot reach a listener "
                    "on the host",
                    what);
        static const struct {
                const char *key;
                const char *const *names;
                const char *what;
        } lists[] = {{"architectures", seccomp_archs, "architecture"}, {"flags", seccomp_flags, "flag"}};
        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                if (!json_object_object_get_ex(sc, lists[l].key, &a) ||
                    !json_object_is_type(a, json_type_array))
                        continue;
                for (size_t i = 0; i < json_object_array_length(a); i++) {
                        json_object *e = json_object_array_get_idx(a, i);
                        const char *n =
                            json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
                        bool ok = false;
                        for (const char *const *k = lists[l].names; *k && !ok; k++)
                                ok = STREQ(*k, n);
                        if (!ok)
                                return vc_error_setx(err, EINVAL,
                                                     "%s: linux.seccomp.%s[%zu]: unsupported %s '%.64s'",
                                                     what, lists[l].key, i, lists[l].what, n);
                }
        }
        if (!json_object_object_get_ex(sc, "syscalls", &a) || !json_object_is_type(a, json_type_array))
                return 0;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *r = json_object_array_get_idx(a, i), *args;
                if (!known(r, "action", seccomp_actions, &s))
                        return vc_error_setx(
                            err, EINVAL, "%s: linux.seccomp.syscalls[%zu].action: unsupported action '%.64s'",
                            what, i, s);
                if (!json_object_object_get_ex(r, "args", &args) ||
                    !json_object_is_type(args, json_type_array))
                        continue;
                for (size_t k = 0; k < json_object_array_length(args); k++)
                        if (!known(json_object_array_get_idx(args, k), "op", seccomp_operators, &s))
                                return vc_error_setx(
                                    err, EINVAL,
                                    "%s: linux.seccomp.syscalls[%zu].args[%zu].op: unsupported operator "
                                    "'%.64s'",
                                    what, i, k, s);
        }
        return 0;
}

/* process[key], an array of strings, within the agent's bounds: at most maxn entries, each at most
 * VC_PROCESS_MAX_STR bytes with no NUL byte inside. */
static int check_strings(json_object *process, const char *key, size_t maxn, const char *what,
                         vc_error_t *err)
{
        json_object *a;
        size_t n;

        if (!json_object_object_get_ex(process, key, &a) || !json_object_is_type(a, json_type_array))
                return 0;
        if ((n = json_object_array_length(a)) > maxn)
                return vc_error_setx(err, EINVAL,
                                     "%s: process.%s: %zu entries, more than the guest takes (%zu)", what,
                                     key, n, maxn);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                size_t len;
                if (!json_object_is_type(e, json_type_string))
                        continue; /* vc_oci_validate's to refuse */
                len = (size_t)json_object_get_string_len(e);
                if (len > VC_PROCESS_MAX_STR)
                        return vc_error_setx(err, EINVAL,
                                             "%s: process.%s[%zu]: %zu bytes, more than the guest takes (%d)",
                                             what, key, i, len, VC_PROCESS_MAX_STR);
                if (strlen(json_object_get_string(e)) != len)
                        return vc_error_setx(err, EINVAL, "%s: process.%s[%zu]: contains a NUL byte", what,
                                             key, i);
        }
        return 0;
}

/* An id of the guest's: 0..UINT32_MAX-1 ((uid_t)-1 means "no change" to setresuid). */
static bool id_in_range(json_object *v)
{
        int64_t n = json_object_get_int64(v);
        return json_object_is_type(v, json_type_int) && n >= 0 && n <= (int64_t)UINT32_MAX - 1;
}

static int check_user(json_object *process, const char *what, vc_error_t *err)
{
        static const char *const ids[] = {"uid", "gid"};
        json_object *user, *v;
        size_t n;

        if (!json_object_object_get_ex(process, "user", &user) ||
            !json_object_is_type(user, json_type_object))
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                if (json_object_object_get_ex(user, ids[i], &v) && !id_in_range(v))
                        return vc_error_setx(err, EINVAL, "%s: process.user.%s: %.32s is not within 0..%u",
                                             what, ids[i], json_object_to_json_string(v), UINT32_MAX - 1);
        if (!json_object_object_get_ex(user, "additionalGids", &v) ||
            !json_object_is_type(v, json_type_array))
                return 0;
        if ((n = json_object_array_length(v)) > VC_PROCESS_MAX_GROUPS)
                return vc_error_setx(
                    err, EINVAL,
                    "%s: process.user.additionalGids: %zu entries, more than the guest takes (%d)", what, n,
                    VC_PROCESS_MAX_GROUPS);
        for (size_t i = 0; i < n; i++)
                if (!id_in_range(json_object_array_get_idx(v, i)))
                        return vc_error_setx(
                            err, EINVAL, "%s: process.user.additionalGids[%zu]: %.32s is not within 0..%u",
                            what, i, json_object_to_json_string(json_object_array_get_idx(v, i)),
                            UINT32_MAX - 1);
        return 0;
}

static int check_rlimits(json_object *process, const char *what, vc_error_t *err)
{
        json_object *a, *t;
        size_t n;

        if (!json_object_object_get_ex(process, "rlimits", &a) || !json_object_is_type(a, json_type_array))
                return 0;
        if ((n = json_object_array_length(a)) > RLIM_NLIMITS)
                return vc_error_setx(err, EINVAL,
                                     "%s: process.rlimits: %zu entries, more than the guest takes (%d)", what,
                                     n, RLIM_NLIMITS);
        for (size_t i = 0; i < n; i++)
                if (json_object_object_get_ex(json_object_array_get_idx(a, i), "type", &t) &&
                    json_object_is_type(t, json_type_string) &&
                    vc_rlimit_lookup(json_object_get_string(t), NULL) < 0)
                        return vc_error_setx(err, EINVAL,
                                             "%s: process.rlimits[%zu].type: unknown rlimit '%.64s'", what, i,
                                             json_object_get_string(t));
        return 0;
}

int vc_oci_check_guest_process(json_object *process, const char *what, vc_error_t *err)
{
        json_object *cwd;
        int r;

        if (process == NULL || !json_object_is_type(process, json_type_object))
                return 0;
        if ((r = check_strings(process, "args", VC_PROCESS_MAX_ARGS, what, err)) < 0 ||
            (r = check_strings(process, "env", VC_PROCESS_MAX_ENV, what, err)) < 0 ||
            (r = check_user(process, what, err)) < 0 || (r = check_rlimits(process, what, err)) < 0)
                return r;
        if (json_object_object_get_ex(process, "cwd", &cwd) && json_object_is_type(cwd, json_type_string) &&
            json_object_get_string_len(cwd) >= PATH_MAX)
                return vc_error_setx(err, EINVAL, "%s: process.cwd: longer than a path may be (%d bytes)",
                                     what, PATH_MAX - 1);
        return 0;
}

/* The request that creates the container carries the whole spec (hooks aside, which run on the host) in
 * one frame: a spec larger than a frame can hold would only fail once the VM has booted. The margin is
 * for the request's other members and the rewritten mount sources. */
#define SPEC_FRAME_MARGIN (64u * 1024u)

static int check_size(json_object *config, const char *what, vc_error_t *err)
{
        json_object *hooks;
        size_t len = 0, hooks_len = 0;

        (void)json_object_to_json_string_length(config, JSON_C_TO_STRING_PLAIN, &len);
        if (json_object_object_get_ex(config, "hooks", &hooks))
                (void)json_object_to_json_string_length(hooks, JSON_C_TO_STRING_PLAIN, &hooks_len);
        if (len - hooks_len > VC_FRAME_MAX - SPEC_FRAME_MARGIN)
                return vc_error_setx(err, EINVAL,
                                     "%s: %zu bytes without its hooks, more than one request to the guest "
                                     "carries (%u)",
                                     what, len - hooks_len, VC_FRAME_MAX - SPEC_FRAME_MARGIN);
        return 0;
}

int vc_oci_check_guest(json_object *config, bool pod_member, const char *what, vc_error_t *err)
{
        /* fields the guest agent does not apply */
        static const char *const linux_unsupported[] = {"uidMappings", "gidMappings", "intelRdt",
                                                        "personality", "timeOffsets", "memoryPolicy"};
        static const char *const process_unsupported[] = {"scheduler", "ioPriority", "execCPUAffinity"};
        json_object *linux_, *process, *mounts;
        int r;

        if (json_object_object_get_ex(config, "linux", &linux_) &&
            json_object_is_type(linux_, json_type_object)) {
                if ((r = check_namespaces(linux_, pod_member, what, err)) < 0 ||
                    (r = check_sysctl(linux_, what, err)) < 0 || (r = check_seccomp(linux_, what, err)) < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(linux_unsupported); i++)
                        if (nonempty(linux_, linux_unsupported[i]))
                                return vc_error_setx(err, EINVAL, "%s: linux.%s: not supported in the guest",
                                                     what, linux_unsupported[i]);
        }
        if (json_object_object_get_ex(config, "mounts", &mounts) &&
            json_object_is_type(mounts, json_type_array) &&
            json_object_array_length(mounts) > VC_SPEC_MAX_MOUNTS)
                return vc_error_setx(err, EINVAL, "%s: mounts: %zu entries, more than the guest takes (%d)",
                                     what, json_object_array_length(mounts), VC_SPEC_MAX_MOUNTS);
        if ((r = check_size(config, what, err)) < 0)
                return r;
        if (json_object_object_get_ex(config, "process", &process) &&
            (r = vc_oci_check_guest_process(process, what, err)) < 0)
                return r;
        if (json_object_object_get_ex(config, "process", &process) &&
            json_object_is_type(process, json_type_object))
                for (size_t i = 0; i < ELEMENTSOF(process_unsupported); i++)
                        if (nonempty(process, process_unsupported[i]))
                                return vc_error_setx(err, EINVAL,
                                                     "%s: process.%s: not supported in the guest", what,
                                                     process_unsupported[i]);
        return 0;
}

/* Whether path is dir or beneath it. */
static bool beneath(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
                n--;
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* -ENOENT when `path` (absolute, in the container) is surely not in the rootfs: a lookup inside it finds
 * nothing, and no symlink was crossed on the way (one could point into a mount) and no mount of the spec
 * covers it; 0 when it is there or that cannot be told here (the guest decides). */
static int in_rootfs(int rootfd, const char *path, json_object *mounts)
{
        json_object *d;
        int fd;

        for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++)
                if (json_object_object_get_ex(json_object_array_get_idx(mounts, i), "destination", &d) &&
                    json_object_is_type(d, json_type_string) && beneath(path, json_object_get_string(d)))
                        return 0;
        fd = vc__openat2(rootfd, path, O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd >= 0) {
                close(fd);
                return 0;
        }
        if (fd != -ENOENT && fd != -ENOTDIR)
                return 0;
        fd = vc__openat2(rootfd, path, O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
        if (fd >= 0)
                close(fd);
        return fd == -ENOENT || fd == -ENOTDIR ? -ENOENT : 0;
}

int vc_oci_check_command(json_object *config, const char *bundle, const char *what, vc_error_t *err)
{
        json_object *process, *args, *env, *cwd, *root, *rootpath, *mounts = NULL;
        const char *cmd, *path = "/bin:/usr/bin"; /* execvp's default (confstr _CS_PATH), as the agent's */
        _cleanup_close_ int rootfd = -1;
        char buf[PATH_MAX], rootfs[PATH_MAX];

        if (!json_object_object_get_ex(config, "root", &root) ||
            !json_object_object_get_ex(root, "path", &rootpath) ||
            !json_object_is_type(rootpath, json_type_string))
                return 0;
        if (snprintf(rootfs, sizeof rootfs, "%s%s%s",
                     json_object_get_string(rootpath)[0] == '/' ? "" : bundle,
                     json_object_get_string(rootpath)[0] == '/' ? "" : "/",
                     json_object_get_string(rootpath)) >= (int)sizeof rootfs)
                return 0;

        if (!json_object_object_get_ex(config, "process", &process) ||
            !json_object_object_get_ex(process, "args", &args) ||
            !json_object_is_type(args, json_type_array) || json_object_array_length(args) == 0 ||
            !json_object_is_type(json_object_array_get_idx(args, 0), json_type_string))
                return 0;
        cmd = json_object_get_string(json_object_array_get_idx(args, 0));
        if (cmd[0] == '\0' || strlen(cmd) >= PATH_MAX / 2)
                return 0;
        if (json_object_object_get_ex(config, "mounts", &mounts) &&
            !json_object_is_type(mounts, json_type_array))
                mounts = NULL;
        if ((rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                return 0; /* the rootfs check's to report */
        if (strchr(cmd, '/')) {
                const char *dir = "/";
                if (json_object_object_get_ex(process, "cwd", &cwd) &&
                    json_object_is_type(cwd, json_type_string))
                        dir = json_object_get_string(cwd);
                if (cmd[0] != '/' && snprintf(buf, sizeof buf, "%s/%s", dir, cmd) >= (int)sizeof buf)
                        return 0;
                if (in_rootfs(rootfd, cmd[0] == '/' ? cmd : buf, mounts) == 0)
                        return 0;
        } else {
                if (json_object_object_get_ex(process, "env", &env) &&
                    json_object_is_type(env, json_type_array))
                        for (size_t i = 0; i < json_object_array_length(env); i++) {
                                const char *e = json_object_get_string(json_object_array_get_idx(env, i));
                                if (e && strncmp(e, "PATH=", 5) == 0) {
                                        path = e + 5; /* the first, as getenv finds it */
                                        break;
                                }
                        }
                for (const char *p = path;; p++) {
                        const char *end = strchrnul(p, ':');
                        /* a relative PATH entry depends on the working directory: the guest's to decide */
                        if (*p != '/' ||
                            snprintf(buf, sizeof buf, "%.*s/%s", (int)(end - p), p, cmd) >= (int)sizeof buf)
                                return 0;
                        if (in_rootfs(rootfd, buf, mounts) == 0)
                                return 0;
                        if (*end == '\0')
                                break;
                        p = end;
                }
        }
        return vc_error_setx(err, ENOENT, "%s: process.args[0]: exec '%s': No such file or directory", what,
                             cmd);
}
