/* linux.seccomp: the profile is compiled to a BPF program with libseccomp when the container is created
 * (so a bad profile fails create with the field named, and the cost is paid once per container), and the
 * child loads that program with seccomp(2) as late as it can, as runc does. */
#include <errno.h>
#include <stdarg.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "seccomp_names.h"

struct agent_seccomp {
        struct sock_filter *insns;
        unsigned short len;
        unsigned int flags;
};

#define ENTRY(name, value) {name, value},
static const struct {
        const char *name;
        uint32_t value;
} actions[] = {VC_SECCOMP_ACTIONS(ENTRY)}, archs[] = {VC_SECCOMP_ARCHS(ENTRY)},
  flags[] = {VC_SECCOMP_FLAGS(ENTRY)};
static const struct {
        const char *name;
        enum scmp_compare value;
} operators[] = {VC_SECCOMP_OPERATORS(ENTRY)};
#undef ENTRY

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_SYSCALL_RULES 4096
#define MAX_NAMES 1024

void agent_seccomp_free(struct agent_seccomp *f)
{
        if (f == NULL)
                return;
        free(f->insns);
        free(f);
}

struct agent_seccomp *agent_seccomp_dup(const struct agent_seccomp *f)
{
        struct agent_seccomp *d;

        if (f == NULL || (d = malloc(sizeof *d)) == NULL)
                return NULL;
        *d = *f;
        d->insns = malloc(sizeof *f->insns * f->len);
        if (d->insns == NULL) {
                free(d);
                return NULL;
        }
        memcpy(d->insns, f->insns, sizeof *f->insns * f->len);
        return d;
}

int agent_seccomp_load(const struct agent_seccomp *f)
{
        struct sock_fprog prog = {.len = f->len, .filter = f->insns};

        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, f->flags, &prog) < 0)
                return -errno;
        return 0;
}

/* An action name with its errnoRet (an errno for ERRNO and TRACE; EPERM when absent, as runc). */
static int action(json_object *name, json_object *errno_ret, uint32_t *out, char *err, size_t errlen,
                  const char *what)
{
        const char *s;
        size_t i;
        int64_t ret = EPERM;

        if (name == NULL || !json_object_is_type(name, json_type_string))
                return spec_fail(err, errlen, "%s: expected an action name", what);
        s = json_object_get_string(name);
        for (i = 0; i < N(actions) && strcmp(actions[i].name, s) != 0; i++)
                ;
        if (i == N(actions)) {
                if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
                        return spec_fail(err, errlen,
                                         "%s: SCMP_ACT_NOTIFY is not supported: its listener would be "
                                         "inside the VM",
                                         what);
                return spec_fail(err, errlen, "%s: unknown action '%.64s'", what, s);
        }
        if (errno_ret) {
                if (!json_object_is_type(errno_ret, json_type_int) || json_object_get_int64(errno_ret) < 0 ||
                    json_object_get_int64(errno_ret) > 0xffff)
                        return spec_fail(err, errlen, "%s: errnoRet must be an errno number", what);
                ret = json_object_get_int64(errno_ret);
        }
        *out = actions[i].value;
        if (*out == SCMP_ACT_ERRNO(0))
                *out = SCMP_ACT_ERRNO((uint32_t)ret);
        else if (*out == SCMP_ACT_TRACE(0))
                *out = SCMP_ACT_TRACE((uint32_t)ret);
        return 0;
}

static int get(json_object *o, const char *key, json_type t, json_object **out, char *err, size_t errlen,
               const char *what)
{
        *out = NULL;
        if (!json_object_object_get_ex(o, key, out) || *out == NULL)
                return 0;
        if (!json_object_is_type(*out, t))
                return spec_fail(err, errlen, "%s.%s: expected %s", what, key, json_type_to_name(t));
        return 0;
}

static int condition(json_object *a, struct scmp_arg_cmp *c, char *err, size_t errlen, const char *what)
{
        json_object *idx, *val, *val2, *op;
        const char *s;
        size_t i;
        int rc;

        if (!json_object_is_type(a, json_type_object))
                return spec_fail(err, errlen, "%s: expected object", what);
        if ((rc = get(a, "index", json_type_int, &idx, err, errlen, what)) < 0 ||
            (rc = get(a, "value", json_type_int, &val, err, errlen, what)) < 0 ||
            (rc = get(a, "valueTwo", json_type_int, &val2, err, errlen, what)) < 0 ||
            (rc = get(a, "op", json_type_string, &op, err, errlen, what)) < 0)
                return rc;
        if (idx == NULL || json_object_get_int64(idx) < 0 || json_object_get_int64(idx) > 5)
                return spec_fail(err, errlen, "%s.index: must be 0 to 5", what);
        if (op == NULL)
                return spec_fail(err, errlen, "%s.op: missing", what);
        s = json_object_get_string(op);
        for (i = 0; i < N(operators) && strcmp(operators[i].name, s) != 0; i++)
                ;
        if (i == N(operators))
                return spec_fail(err, errlen, "%s.op: unknown operator '%.64s'", what, s);
        c->arg = (unsigned)json_object_get_int64(idx);
        c->op = operators[i].value;
        /* json-c keeps integers above INT64_MAX as uint64 */
        c->datum_a = val ? json_object_get_uint64(val) : 0;
        c->datum_b = val2 ? json_object_get_uint64(val2) : 0;
        if (val && json_object_get_int64(val) < 0)
                c->datum_a = (uint64_t)json_object_get_int64(val);
        if (val2 && json_object_get_int64(val2) < 0)
                c->datum_b = (uint64_t)json_object_get_int64(val2);
        return 0;
}

static int add_rules(scmp_filter_ctx ctx, uint32_t def, json_object *rule, size_t ri, char *err,
                     size_t errlen)
{
        json_object *names, *name, *act, *eret, *args;
        struct scmp_arg_cmp conds[6];
        unsigned count[6] = {0};
        bool split = false;
        uint32_t a;
        size_t nargs = 0;
        char what[64];
        int rc;

        snprintf(what, sizeof what, "linux.seccomp.syscalls[%zu]", ri);
        if (!json_object_is_type(rule, json_type_object))
                return spec_fail(err, errlen, "%s: expected object", what);
        if ((rc = get(rule, "names", json_type_array, &names, err, errlen, what)) < 0 ||
            (rc = get(rule, "name", json_type_string, &name, err, errlen, what)) < 0 ||
            (rc = get(rule, "action", json_type_string, &act, err, errlen, what)) < 0 ||
            (rc = get(rule, "errnoRet", json_type_int, &eret, err, errlen, what)) < 0 ||
            (rc = get(rule, "args", json_type_array, &args, err, errlen, what)) < 0)
                return rc;
        if ((rc = action(act, eret, &a, err, errlen, what)) < 0)
                return rc;
        if (args) {
                nargs = json_object_array_length(args);
                if (nargs > 6)
                        return spec_fail(err, errlen, "%s.args: more than 6 conditions", what);
                for (size_t i = 0; i < nargs; i++) {
                        char w[96];
                        snprintf(w, sizeof w, "%s.args[%zu]", what, i);
                        if ((rc = condition(json_object_array_get_idx(args, i), &conds[i], err, errlen, w)) <
                            0)
                                return rc;
                        split = split || ++count[conds[i].arg] > 1;
                }
        }
        size_t n = names ? json_object_array_length(names) : 0;
        if (n > MAX_NAMES)
                return spec_fail(err, errlen, "%s.names: more than %d entries", what, MAX_NAMES);
        /* libseccomp refuses a rule whose action is the filter's default: it would change nothing */
        if (a == def)
                return 0;
        for (size_t i = 0; i < n + (name ? 1 : 0); i++) {
                json_object *e = i < n ? json_object_array_get_idx(names, i) : name;
                const char *sys;
                int nr;
                if (!json_object_is_type(e, json_type_string) || json_object_get_string_len(e) > 64)
                        return spec_fail(err, errlen, "%s.names[%zu]: expected a system call name", what, i);
                sys = json_object_get_string(e);
                nr = seccomp_syscall_resolve_name(sys);
                if (nr == __NR_SCMP_ERROR) {
                        /* as runc: a name this libseccomp does not know is skipped */
                        agent_log("linux.seccomp: unknown system call '%.64s', ignoring", sys);
                        continue;
                }
                if (!split) {
                        rc = seccomp_rule_add_array(ctx, a, nr, (unsigned)nargs, nargs ? conds : NULL);
                } else {
                        /* libseccomp cannot AND two comparisons of one argument: each becomes a rule of
                         * its own (runc does the same) */
                        rc = 0;
                        for (size_t k = 0; k < nargs && rc == 0; k++)
                                rc = seccomp_rule_add_array(ctx, a, nr, 1, &conds[k]);
                }
                if (rc < 0)
                        return snprintf(err, errlen, "%s: system call '%s': %s", what, sys, strerror(-rc)),
                               rc;
        }
        return 0;
}

/* Export ctx's BPF program into f (libseccomp 2.5 writes it to an fd only). */
static int export(scmp_filter_ctx ctx, struct agent_seccomp *f, char *err, size_t errlen)
{
        int fd = memfd_create("seccomp", MFD_CLOEXEC), rc;
        struct stat st;

        if (fd < 0)
                return snprintf(err, errlen, "linux.seccomp: memfd: %s", strerror(errno)), -errno;
        rc = seccomp_export_bpf(ctx, fd);
        if (rc < 0) {
                snprintf(err, errlen, "linux.seccomp: compile: %s", strerror(-rc));
                goto out;
        }
        if (fstat(fd, &st) < 0) {
                rc = -errno;
                snprintf(err, errlen, "linux.seccomp: %s", strerror(errno));
                goto out;
        }
        if (st.st_size == 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
            st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
                rc = spec_fail(err, errlen,
                               "linux.seccomp: the filter is %lld instructions, more than the kernel takes",
                               (long long)(st.st_size / sizeof(struct sock_filter)));
                goto out;
        }
        f->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
        f->insns = malloc((size_t)st.st_size);
        if (f->insns == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        if (pread(fd, f->insns, (size_t)st.st_size, 0) != st.st_size) {
                rc = -EIO;
                snprintf(err, errlen, "linux.seccomp: read back the filter");
        }
out:
        close(fd);
        return rc < 0 ? rc : 0;
}

/* The last profiles compiled, by their JSON value (json_object_equal: the order of the keys, which the
 * runtime's encoder does not keep, does not count): a pod's containers mostly share one profile, and
 * compiling one for three architectures costs tens of milliseconds even on real hardware. */
#define CACHE_SIZE 4
static struct {
        json_object *profile;
        struct agent_seccomp *filter;
} cache[CACHE_SIZE];
static unsigned cache_next;

static struct agent_seccomp *cache_find(json_object *o)
{
        for (unsigned i = 0; i < CACHE_SIZE; i++)
                if (cache[i].profile && json_object_equal(cache[i].profile, o))
                        return agent_seccomp_dup(cache[i].filter);
        return NULL;
}

static void cache_add(json_object *o, const struct agent_seccomp *f)
{
        json_object *copy = NULL;
        struct agent_seccomp *d = agent_seccomp_dup(f);

        if (d == NULL || json_object_deep_copy(o, &copy, NULL) < 0) {
                agent_seccomp_free(d);
                return;
        }
        json_object_put(cache[cache_next].profile);
        agent_seccomp_free(cache[cache_next].filter);
        cache[cache_next].profile = copy;
        cache[cache_next].filter = d;
        cache_next = (cache_next + 1) % CACHE_SIZE;
}

static int compile(json_object *o, struct agent_seccomp **out, char *err, size_t errlen);

int agent_seccomp_parse(json_object *o, struct agent_seccomp **out, char *err, size_t errlen)
{
        int rc;

        *out = NULL;
        if (o == NULL)
                return 0;
        if ((*out = cache_find(o)) != NULL) {
                agent_debug("linux.seccomp: the profile was compiled before");
                return 0;
        }
        rc = compile(o, out, err, errlen);
        if (rc == 0)
                cache_add(o, *out);
        return rc;
}

static int compile(json_object *o, struct agent_seccomp **out, char *err, size_t errlen)
{
        json_object *def, *deret, *a, *v;
        struct agent_seccomp *f = NULL;
        scmp_filter_ctx ctx = NULL;
        uint32_t defact;
        int64_t t0 = vc_now_ms();
        int rc;

        *out = NULL;
        if (o == NULL)
                return 0;
        if (!json_object_is_type(o, json_type_object))
                return spec_fail(err, errlen, "linux.seccomp: expected object");
        if ((rc = get(o, "defaultAction", json_type_string, &def, err, errlen, "linux.seccomp")) < 0 ||
            (rc = get(o, "defaultErrnoRet", json_type_int, &deret, err, errlen, "linux.seccomp")) < 0)
                return rc;
        if ((rc = action(def, deret, &defact, err, errlen, "linux.seccomp.defaultAction")) < 0)
                return rc;
        if ((rc = get(o, "listenerPath", json_type_string, &v, err, errlen, "linux.seccomp")) < 0)
                return rc;
        if (v && json_object_get_string_len(v) > 0)
                return spec_fail(err, errlen,
                                 "linux.seccomp.listenerPath: not supported: the guest cannot reach a "
                                 "listener on the host");
        if ((f = calloc(1, sizeof *f)) == NULL)
                return -ENOMEM;
        if ((rc = get(o, "flags", json_type_array, &a, err, errlen, "linux.seccomp")) < 0)
                goto out;
        for (size_t i = 0, n = a ? json_object_array_length(a) : 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
                size_t k;
                for (k = 0; k < N(flags) && strcmp(flags[k].name, s) != 0; k++)
                        ;
                if (k == N(flags)) {
                        rc = spec_fail(err, errlen, "linux.seccomp.flags[%zu]: unsupported flag '%.64s'", i,
                                       s);
                        goto out;
                }
                f->flags |= flags[k].value;
        }
        ctx = seccomp_init(defact);
        if (ctx == NULL) {
                rc = spec_fail(err, errlen, "linux.seccomp: libseccomp refused the default action");
                goto out;
        }
        /* the child sets no_new_privs itself, as process.noNewPrivileges says */
        if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0) {
                snprintf(err, errlen, "linux.seccomp: %s", strerror(-rc));
                goto out;
        }
        if ((rc = get(o, "architectures", json_type_array, &a, err, errlen, "linux.seccomp")) < 0)
                goto out;
        for (size_t i = 0, n = a ? json_object_array_length(a) : 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
                size_t k;
                for (k = 0; k < N(archs) && strcmp(archs[k].name, s) != 0; k++)
                        ;
                if (k == N(archs)) {
                        rc =
                            spec_fail(err, errlen,
                                      "linux.seccomp.architectures[%zu]: unknown architecture '%.64s'", i, s);
                        goto out;
                }
                rc = seccomp_arch_add(ctx, archs[k].value);
                if (rc < 0 && rc != -EEXIST) {
                        snprintf(err, errlen, "linux.seccomp.architectures[%zu]: %s: %s", i, s,
                                 strerror(-rc));
                        goto out;
                }
        }
        if ((rc = get(o, "syscalls", json_type_array, &a, err, errlen, "linux.seccomp")) < 0)
                goto out;
        if (a && json_object_array_length(a) > MAX_SYSCALL_RULES) {
                rc =
                    spec_fail(err, errlen, "linux.seccomp.syscalls: more than %d entries", MAX_SYSCALL_RULES);
                goto out;
        }
        for (size_t i = 0, n = a ? json_object_array_length(a) : 0; i < n; i++)
                if ((rc = add_rules(ctx, defact, json_object_array_get_idx(a, i), i, err, errlen)) < 0)
                        goto out;
        if ((rc = export(ctx, f, err, errlen)) < 0)
                goto out;
        agent_debug("linux.seccomp: %zu rules compiled to %u instructions in %lld ms",
                    a ? json_object_array_length(a) : 0, (unsigned)f->len, (long long)(vc_now_ms() - t0));
        *out = f;
        f = NULL;
out:
        if (ctx)
                seccomp_release(ctx);
        agent_seccomp_free(f);
        return rc < 0 ? rc : 0;
}
