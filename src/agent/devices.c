/* linux.devices (nodes made in the container's /dev with their modes and owners) and
 * linux.resources.devices (the device cgroup rules, which cgroup v2 enforces with a BPF program attached to
 * the container's cgroup, built here as runc builds it: the rules checked from the last to the first, the
 * first that matches decides, nothing matching is denied; runc's always-allowed devices and the spec's own
 * devices come after the spec's rules).
 *
 * The program is written out by hand: it is a dozen instructions per rule, and neither libbpf nor a BPF
 * compiler is in the static guest. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"

#define MAX_DEVICES 256
#define MAX_RULES 512

void devices_free(struct spawn *s)
{
        for (size_t i = 0; i < s->ndevices; i++)
                free(s->devices[i].path);
        free(s->devices);
        s->devices = NULL;
        s->ndevices = 0;
}

static bool get_int(json_object *o, const char *key, int64_t *out, bool *present)
{
        json_object *v;

        *present = json_object_object_get_ex(o, key, &v) && v != NULL;
        if (!*present)
                return true;
        if (!json_object_is_type(v, json_type_int))
                return false;
        *out = json_object_get_int64(v);
        return true;
}

int devices_parse(struct spawn *s, json_object *a, char *err, size_t errlen)
{
        size_t n;

        if (a == NULL)
                return 0;
        if (!json_object_is_type(a, json_type_array))
                return spec_fail(err, errlen, "linux.devices: expected array");
        n = json_object_array_length(a);
        if (n > MAX_DEVICES)
                return spec_fail(err, errlen, "linux.devices: more than %d entries", MAX_DEVICES);
        s->devices = calloc(n ? n : 1, sizeof *s->devices);
        if (s->devices == NULL)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i), *path, *type;
                struct device_spec *d = &s->devices[i];
                int64_t major = 0, minor = 0, mode = 0666, uid = 0, gid = 0;
                bool has_major, has_minor, has_mode, has_uid, has_gid;
                const char *t, *p;

                if (!json_object_is_type(e, json_type_object) ||
                    !json_object_object_get_ex(e, "path", &path) ||
                    !json_object_is_type(path, json_type_string) ||
                    !json_object_object_get_ex(e, "type", &type) ||
                    !json_object_is_type(type, json_type_string))
                        return spec_fail(err, errlen, "linux.devices[%zu]: needs a path and a type", i);
                p = json_object_get_string(path);
                t = json_object_get_string(type);
                if (p[0] != '/' || strstr(p, "/../") ||
                    strcmp(p + strlen(p) - (strlen(p) >= 3 ? 3 : 0), "/..") == 0 ||
                    strncmp(p, "/dev/", 5) != 0 || json_object_get_string_len(path) >= PATH_MAX)
                        return spec_fail(err, errlen,
                                         "linux.devices[%zu].path: '%.64s' is not a path under /dev", i, p);
                if (!get_int(e, "major", &major, &has_major) || !get_int(e, "minor", &minor, &has_minor) ||
                    !get_int(e, "fileMode", &mode, &has_mode) || !get_int(e, "uid", &uid, &has_uid) ||
                    !get_int(e, "gid", &gid, &has_gid))
                        return spec_fail(
                            err, errlen,
                            "linux.devices[%zu]: major, minor, fileMode, uid and gid are integers", i);
                if (strcmp(t, "c") == 0 || strcmp(t, "u") == 0)
                        d->type = S_IFCHR;
                else if (strcmp(t, "b") == 0)
                        d->type = S_IFBLK;
                else if (strcmp(t, "p") == 0)
                        d->type = S_IFIFO;
                else
                        return spec_fail(err, errlen, "linux.devices[%zu].type: '%.8s' is not c, b, u or p",
                                         i, t);
                if (d->type != S_IFIFO && (!has_major || !has_minor))
                        return spec_fail(err, errlen, "linux.devices[%zu]: a %s device needs major and minor",
                                         i, t);
                if (major < 0 || major > 0xfff || minor < 0 || minor > 0xfffff || mode < 0 || mode > 07777 ||
                    uid < 0 || uid > UINT32_MAX - 1 || gid < 0 || gid > UINT32_MAX - 1)
                        return spec_fail(err, errlen, "linux.devices[%zu]: a number is out of range", i);
                if ((d->path = strdup(p)) == NULL)
                        return -ENOMEM;
                d->major = (unsigned)major;
                d->minor = (unsigned)minor;
                d->mode = (mode_t)mode;
                d->uid = (uid_t)uid;
                d->gid = (gid_t)gid;
                s->ndevices = i + 1;
        }
        return 0;
}

int devices_create(int rootfd, const struct spawn *s, const char **failed)
{
        for (size_t i = 0; i < s->ndevices; i++) {
                const struct device_spec *d = &s->devices[i];
                char *slash = strrchr(d->path, '/');
                char dir[PATH_MAX];
                int dfd;

                *failed = d->path;
                snprintf(dir, sizeof dir, "%.*s", (int)(slash - d->path), d->path);
                dfd = mkpath_in_root(rootfd, dir[0] ? dir : "/", false);
                if (dfd < 0)
                        return dfd;
                /* an existing node of the path is replaced, as runc does */
                (void)unlinkat(dfd, slash + 1, 0);
                if (mknodat(dfd, slash + 1, d->type | (d->mode & 0777), makedev(d->major, d->minor)) < 0 ||
                    fchownat(dfd, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    fchmodat(dfd, slash + 1, d->mode & 07777, 0) < 0) {
                        int e = errno;
                        close(dfd);
                        return -e;
                }
                close(dfd);
        }
        return 0;
}

/* ---- the device cgroup program ---- */

struct rule {
        int type;             /* 0: all, BPF_DEVCG_DEV_CHAR, BPF_DEVCG_DEV_BLOCK */
        int64_t major, minor; /* -1: any */
        unsigned access;      /* BPF_DEVCG_ACC_* bits */
        bool allow;
};

/* runc's always-allowed devices (libcontainer/specconv AllowedDevices) */
static const struct rule allowed[] = {
    {BPF_DEVCG_DEV_CHAR, -1, -1, BPF_DEVCG_ACC_MKNOD, true},
    {BPF_DEVCG_DEV_BLOCK, -1, -1, BPF_DEVCG_ACC_MKNOD, true},
    {BPF_DEVCG_DEV_CHAR, 1, 3, 7, true},    /* null */
    {BPF_DEVCG_DEV_CHAR, 1, 8, 7, true},    /* random */
    {BPF_DEVCG_DEV_CHAR, 1, 7, 7, true},    /* full */
    {BPF_DEVCG_DEV_CHAR, 5, 0, 7, true},    /* tty */
    {BPF_DEVCG_DEV_CHAR, 1, 5, 7, true},    /* zero */
    {BPF_DEVCG_DEV_CHAR, 1, 9, 7, true},    /* urandom */
    {BPF_DEVCG_DEV_CHAR, 136, -1, 7, true}, /* the pts */
    {BPF_DEVCG_DEV_CHAR, 5, 2, 7, true},    /* ptmx */
    {BPF_DEVCG_DEV_CHAR, 10, 200, 7, true}, /* tun */
};

static int parse_rule(json_object *e, size_t i, struct rule *r, char *err, size_t errlen)
{
        json_object *v;
        bool has;
        const char *t = "a", *acc = "rwm";

        memset(r, 0, sizeof *r);
        if (!json_object_is_type(e, json_type_object))
                return spec_fail(err, errlen, "linux.resources.devices[%zu]: expected object", i);
        if (!json_object_object_get_ex(e, "allow", &v) || !json_object_is_type(v, json_type_boolean))
                return spec_fail(err, errlen, "linux.resources.devices[%zu].allow: expected a boolean", i);
        r->allow = json_object_get_boolean(v);
        if (json_object_object_get_ex(e, "type", &v) && v) {
                if (!json_object_is_type(v, json_type_string))
                        return spec_fail(err, errlen, "linux.resources.devices[%zu].type: expected a, b or c",
                                         i);
                t = json_object_get_string(v);
        }
        if (strcmp(t, "a") == 0)
                r->type = 0;
        else if (strcmp(t, "c") == 0)
                r->type = BPF_DEVCG_DEV_CHAR;
        else if (strcmp(t, "b") == 0)
                r->type = BPF_DEVCG_DEV_BLOCK;
        else
                return spec_fail(err, errlen, "linux.resources.devices[%zu].type: '%.8s' is not a, b or c", i,
                                 t);
        r->major = r->minor = -1;
        if (!get_int(e, "major", &r->major, &has) || (has && (r->major < -1 || r->major > 0xfff)))
                return spec_fail(err, errlen, "linux.resources.devices[%zu].major: invalid", i);
        if (!has)
                r->major = -1;
        if (!get_int(e, "minor", &r->minor, &has) || (has && (r->minor < -1 || r->minor > 0xfffff)))
                return spec_fail(err, errlen, "linux.resources.devices[%zu].minor: invalid", i);
        if (!has)
                r->minor = -1;
        if (json_object_object_get_ex(e, "access", &v) && v) {
                if (!json_object_is_type(v, json_type_string))
                        return spec_fail(err, errlen,
                                         "linux.resources.devices[%zu].access: expected a string", i);
                acc = json_object_get_string(v);
        }
        for (const char *c = acc; *c; c++) {
                if (*c == 'r')
                        r->access |= BPF_DEVCG_ACC_READ;
                else if (*c == 'w')
                        r->access |= BPF_DEVCG_ACC_WRITE;
                else if (*c == 'm')
                        r->access |= BPF_DEVCG_ACC_MKNOD;
                else
                        return spec_fail(err, errlen,
                                         "linux.resources.devices[%zu].access: '%.8s' is not of r, w, m", i,
                                         acc);
        }
        if (r->access == 0)
                r->access = 7;
        return 0;
}

#define INSN(c, d, s, o, i)                                                                                  \
        ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, o, 0)
#define ALU32_IMM(op, d, i) INSN(BPF_ALU | (op) | BPF_K, d, 0, 0, i)
#define MOV32_REG(d, s) INSN(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define JNE_IMM(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JNE_REG(d, s, o) INSN(BPF_JMP | BPF_JNE | BPF_X, d, s, o, 0)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Emit the check of one rule: tests that jump past the block to the next rule, then the rule's verdict.
 * *last: the rule matches everything, so nothing after it can be reached (the verifier refuses that). */
static size_t emit_rule(struct bpf_insn *p, const struct rule *r, bool *last)
{
        size_t n = 0, jumps[4], nj = 0;

        if (r->type) {
                jumps[nj++] = n;
                p[n++] = JNE_IMM(BPF_REG_2, r->type, 0);
        }
        if (r->access != 7) {
                /* what is asked must be within what the rule names */
                p[n++] = MOV32_REG(BPF_REG_1, BPF_REG_3);
                p[n++] = ALU32_IMM(BPF_AND, BPF_REG_1, (int)r->access);
                jumps[nj++] = n;
                p[n++] = JNE_REG(BPF_REG_1, BPF_REG_3, 0);
        }
        if (r->major >= 0) {
                jumps[nj++] = n;
                p[n++] = JNE_IMM(BPF_REG_4, (int)r->major, 0);
        }
        if (r->minor >= 0) {
                jumps[nj++] = n;
                p[n++] = JNE_IMM(BPF_REG_5, (int)r->minor, 0);
        }
        p[n++] = MOV64_IMM(BPF_REG_0, r->allow ? 1 : 0);
        p[n++] = EXIT();
        for (size_t k = 0; k < nj; k++)
                p[jumps[k]].off = (short)(n - jumps[k] - 1);
        *last = nj == 0;
        return n;
}

static int bpf(int cmd, union bpf_attr *attr)
{
        long rc = syscall(SYS_bpf, cmd, attr, sizeof *attr);
        return rc < 0 ? -errno : (int)rc;
}

/* Loaded device programs, by their instructions: containers of one pod mostly get the same rules, and the
 * verifier takes milliseconds per load under TCG. A few, the oldest replaced first; their fds stay open. */
#define PROG_CACHE 8
static struct {
        struct bpf_insn *insns;
        size_t n;
        int fd;
} prog_cache[PROG_CACHE];
static size_t prog_cache_next;

static int cached_prog(const struct bpf_insn *prog, size_t n)
{
        for (size_t i = 0; i < PROG_CACHE; i++)
                if (prog_cache[i].insns && prog_cache[i].n == n &&
                    memcmp(prog_cache[i].insns, prog, n * sizeof *prog) == 0)
                        return prog_cache[i].fd;
        return -1;
}

/* Keep fd for prog: true when the cache owns it now (false: out of memory, the caller keeps it). */
static bool cache_prog(const struct bpf_insn *prog, size_t n, int fd)
{
        struct bpf_insn *copy = malloc(n * sizeof *prog);
        size_t i = prog_cache_next++ % PROG_CACHE;

        if (copy == NULL)
                return false;
        memcpy(copy, prog, n * sizeof *prog);
        if (prog_cache[i].insns) {
                free(prog_cache[i].insns);
                close(prog_cache[i].fd);
        }
        prog_cache[i].insns = copy;
        prog_cache[i].n = n;
        prog_cache[i].fd = fd;
        return true;
}

/* Load the program; only when the kernel refuses it is it loaded again with the verifier's log, to say why
 * (a log that does not fit its buffer fails the load with ENOSPC even when the program is fine). */
static int load_prog(const struct bpf_insn *prog, size_t n, char *err, size_t errlen)
{
        char log[512] = "";
        union bpf_attr load = {
            .prog_type = BPF_PROG_TYPE_CGROUP_DEVICE,
            .insns = (uint64_t)(uintptr_t)prog,
            .insn_cnt = (uint32_t)n,
            .license = (uint64_t)(uintptr_t) "Apache",
        };
        int fd = bpf(BPF_PROG_LOAD, &load);

        if (fd >= 0)
                return fd;
        load.log_buf = (uint64_t)(uintptr_t)log;
        load.log_size = sizeof log;
        load.log_level = 1;
        if (bpf(BPF_PROG_LOAD, &load) >= 0 || log[0] == '\0')
                snprintf(err, errlen, "linux.resources.devices: load the device program: %s", strerror(-fd));
        else
                snprintf(err, errlen, "linux.resources.devices: load the device program: %s: %.120s",
                         strerror(-fd), log);
        return fd;
}

int devices_cgroup_apply(const char *cgroup_dir, json_object *res, const struct spawn *s, char *err,
                         size_t errlen)
{
        json_object *a = NULL;
        struct rule *rules;
        struct bpf_insn *prog;
        size_t nrules = 0, n = 0, nspec;
        int rc, cgfd = -1, progfd, own_fd = -1;

        if (res && json_object_is_type(res, json_type_object))
                json_object_object_get_ex(res, "devices", &a);
        if (a == NULL || json_object_array_length(a) == 0)
                return 0; /* no rules: the cgroup leaves devices alone, as a cgroup v2 without a program does
                           */
        if (!json_object_is_type(a, json_type_array))
                return spec_fail(err, errlen, "linux.resources.devices: expected array");
        nspec = json_object_array_length(a);
        if (nspec > MAX_RULES)
                return spec_fail(err, errlen, "linux.resources.devices: more than %d rules", MAX_RULES);
        rules = calloc(nspec + s->ndevices + sizeof allowed / sizeof allowed[0], sizeof *rules);
        /* 6 loads, then at most 8 insns per rule, then the default */
        prog = calloc(6 + 8 * (nspec + s->ndevices + sizeof allowed / sizeof allowed[0]) + 2, sizeof *prog);
        if (rules == NULL || prog == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < nspec; i++)
                if ((rc = parse_rule(json_object_array_get_idx(a, i), i, &rules[nrules++], err, errlen)) < 0)
                        goto out;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
                rules[nrules++] = allowed[i];
        for (size_t i = 0; i < s->ndevices; i++)
                if (s->devices[i].type != S_IFIFO)
                        rules[nrules++] = (struct rule){
                            .type = s->devices[i].type == S_IFBLK ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR,
                            .major = s->devices[i].major,
                            .minor = s->devices[i].minor,
                            .access = 7,
                            .allow = true};
        /* struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; } */
        prog[n++] = LDX_W(BPF_REG_2, BPF_REG_1, 0);
        prog[n++] = ALU32_IMM(BPF_AND, BPF_REG_2, 0xffff);
        prog[n++] = LDX_W(BPF_REG_3, BPF_REG_1, 0);
        prog[n++] = ALU32_IMM(BPF_RSH, BPF_REG_3, 16);
        prog[n++] = LDX_W(BPF_REG_4, BPF_REG_1, 4);
        prog[n++] = LDX_W(BPF_REG_5, BPF_REG_1, 8);
        bool last = false;
        for (size_t i = nrules; i-- > 0 && !last;)
                n += emit_rule(prog + n, &rules[i], &last);
        if (!last) {
                prog[n++] = MOV64_IMM(BPF_REG_0, 0);
                prog[n++] = EXIT();
        }

        progfd = cached_prog(prog, n);
        if (progfd < 0) {
                if ((progfd = load_prog(prog, n, err, errlen)) < 0) {
                        rc = progfd;
                        goto out;
                }
                if (!cache_prog(prog, n, progfd))
                        own_fd = progfd; /* not kept: closed once attached */
        }
        cgfd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0) {
                rc = -errno;
                snprintf(err, errlen, "linux.resources.devices: open '%s': %s", cgroup_dir, strerror(errno));
                goto out;
        }
        union bpf_attr attach = {
            .target_fd = (uint32_t)cgfd,
            .attach_bpf_fd = (uint32_t)progfd,
            .attach_type = BPF_CGROUP_DEVICE,
            .attach_flags = BPF_F_ALLOW_MULTI,
        };
        if ((rc = bpf(BPF_PROG_ATTACH, &attach)) < 0)
                snprintf(err, errlen, "linux.resources.devices: attach the device program: %s",
                         strerror(-rc));
out:
        if (own_fd >= 0)
                close(own_fd);
        if (cgfd >= 0)
                close(cgfd);
        free(rules);
        free(prog);
        return rc < 0 ? rc : 0;
}
