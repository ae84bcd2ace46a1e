/* kata-supervisor: configuration, the qemu and virtiofsd children, boot, shutdown and exit.
 * Usage: kata-supervisor --config <dir>/supervisor.json [--ready-fd N]
 * The launcher (vc_sandbox_launch) reads one JSON line from the ready fd: {"ok": true, "pid": ...} once the
 * agent answered, or {"ok": false, "error": "...", "code": "E..."}. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"
#include "supervisor.h"
#include "util.h"
#include "vc/hypervisor.h"
#include "vc/log.h"
#include "vc/proc.h"

static void sup_boot_ready(struct sup *s);
static void sup_boot_fail(struct sup *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sup_terminate(struct sup *s, int exit_code);
static void sup_kill_children(struct sup *s, int sig);
static void sup_after_destroy(struct sup *s, bool agent_done);
static void sup_arm_stop_timer(struct sup *s, unsigned ms);

static void up_boot_fail(struct sup *s, int code, const char *msg)
{
        sup_boot_fail(s, code, "%s", msg);
}

/* What router.c may report up (see struct sup_up). */
static bool vfsd_listening(struct sup *s);

static const struct sup_up up = {
    .boot_ready = sup_boot_ready,
    .boot_fail = up_boot_fail,
    .terminate = sup_terminate,
    .kill_children = sup_kill_children,
    .after_destroy = sup_after_destroy,
    .arm_stop_timer = sup_arm_stop_timer,
    .vfsd_listening = vfsd_listening,
};

#define CHECK_INTERVAL_MS 500
#define CLONE_CHECK_INTERVAL_MS 20
#define CLONE_FIRST_AGENT_ID 0x40000000u
#define POLL_INTERVAL_MS 10

/* --- configuration --- */

static char cfg_err[512]; /* why the config was refused: also sent on the ready fd */
#define CFG_FAIL(...)                                                                                        \
        do {                                                                                                 \
                snprintf(cfg_err, sizeof cfg_err, __VA_ARGS__);                                              \
                fprintf(stderr, "kata-supervisor: %s\n", cfg_err);                                           \
        } while (0)

static int cfg_string(json_object *cfg, const char *key, int required, char **ret)
{
        json_object *v;
        if (!json_object_object_get_ex(cfg, key, &v) || json_object_is_type(v, json_type_null)) {
                if (required) {
                        CFG_FAIL("config: '%s' is missing", key);
                        return -EINVAL;
                }
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string)) {
                CFG_FAIL("config: '%s' must be a string", key);
                return -EINVAL;
        }
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

/* The VM's values come from the configuration layer (kata.config) through libvc: none has a default here. */
#define CFG_REQUIRED UINT_MAX

static int cfg_uint(json_object *cfg, const char *key, unsigned def, unsigned *ret)
{
        json_object *v;
        if (!json_object_object_get_ex(cfg, key, &v)) {
                if (def == CFG_REQUIRED) {
                        CFG_FAIL("config: '%s' is missing", key);
                        return -EINVAL;
                }
                *ret = def;
                return 0;
        }
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
            json_object_get_int64(v) > 1000000) {
                CFG_FAIL("config: '%s' must be a small non-negative integer", key);
                return -EINVAL;
        }
        *ret = (unsigned)json_object_get_int64(v);
        return 0;
}

/* "boot": [{"call": s, "params"?: {...}}, ...] (at least one) and "shutdown": {"timeout": s,
 * "destroy_timeout": s}. The launcher (libvc) always writes them; the supervisor has no plan of its own. */
static int cfg_plans(struct sup *s, json_object *cfg)
{
        json_object *boot, *sd, *v;
        double t, d;

        if (!json_object_object_get_ex(cfg, "boot", &boot) || !json_object_is_type(boot, json_type_array) ||
            json_object_array_length(boot) == 0) {
                CFG_FAIL("config: 'boot' must be a non-empty array of agent calls");
                return -EINVAL;
        }
        for (size_t i = 0; i < json_object_array_length(boot); i++) {
                json_object *step = json_object_array_get_idx(boot, i), *call, *params;
                if (!json_object_is_type(step, json_type_object) ||
                    !json_object_object_get_ex(step, "call", &call) ||
                    !json_object_is_type(call, json_type_string) ||
                    (json_object_object_get_ex(step, "params", &params) && params &&
                     !json_object_is_type(params, json_type_object))) {
                        CFG_FAIL("config: boot[%zu] must be {\"call\": method, \"params\"?: {...}}", i);
                        return -EINVAL;
                }
        }
        if (!json_object_object_get_ex(cfg, "shutdown", &sd) || !json_object_is_type(sd, json_type_object) ||
            !json_object_object_get_ex(sd, "timeout", &v) ||
            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) ||
            (t = json_object_get_double(v)) <= 0 || t > 3600) {
                CFG_FAIL("config: 'shutdown.timeout' must be 0..3600 seconds");
                return -EINVAL;
        }
        if (!json_object_object_get_ex(sd, "destroy_timeout", &v) ||
            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) ||
            (d = json_object_get_double(v)) <= 0 || d > t) {
                CFG_FAIL("config: 'shutdown.destroy_timeout' must be within 0..timeout seconds");
                return -EINVAL;
        }
        s->boot_plan = json_object_get(boot);
        s->shutdown_timeout_ms = (unsigned)(t * 1000);
        s->destroy_timeout_ms = (unsigned)(d * 1000);
        return 0;
}

static int load_config(struct sup *s, const char *path)
{
        json_object *cfg = json_object_from_file(path), *v;
        int r = 0;

        if (cfg == NULL) {
                CFG_FAIL("cannot read config '%s': %s", path, json_util_get_last_err());
                return -EINVAL;
        }
        if ((r = cfg_string(cfg, "id", 1, &s->id)) < 0 || (r = cfg_string(cfg, "dir", 1, &s->dir)) < 0 ||
            (r = cfg_string(cfg, "qemu", 1, &s->qemu)) < 0 ||
            (r = cfg_string(cfg, "kernel", 1, &s->kernel)) < 0 ||
            (r = cfg_string(cfg, "initrd", 1, &s->initrd)) < 0 ||
            (r = cfg_string(cfg, "firmware", 0, &s->firmware)) < 0 ||
            (r = cfg_string(cfg, "kernel_params", 0, &s->kernel_params)) < 0 ||
            (r = cfg_string(cfg, "accel", 1, &s->accel)) < 0 ||
            (r = cfg_string(cfg, "share_dir", 1, &s->share_dir)) < 0 ||
            (r = cfg_string(cfg, "virtiofsd", 1, &s->virtiofsd)) < 0 ||
            (r = cfg_string(cfg, "netns", 0, &s->netns)) < 0 ||
            (r = cfg_uint(cfg, "vcpus", CFG_REQUIRED, &s->vcpus)) < 0 ||
            (r = cfg_uint(cfg, "memory_mib", CFG_REQUIRED, &s->memory_mib)) < 0 ||
            (r = cfg_uint(cfg, "tcg_cache_mib", CFG_REQUIRED, &s->tcg_cache_mib)) < 0 ||
            (r = cfg_uint(cfg, "boot_timeout", CFG_REQUIRED, &s->boot_timeout)) < 0 ||
            (r = cfg_uint(cfg, "hotplug_ports", 0, &s->hotplug_ports)) < 0 || (r = cfg_plans(s, cfg)) < 0)
                goto out;
        if (json_object_object_get_ex(cfg, "nics", &v)) {
                if (!json_object_is_type(v, json_type_array)) {
                        CFG_FAIL("config: 'nics' must be an array");
                        r = -EINVAL;
                        goto out;
                }
                s->nics = json_object_get(v);
        }
        if (json_object_object_get_ex(cfg, "template", &v)) {
                json_object *b;
                if ((r = cfg_string(v, "memory", 1, &s->tmpl_memory)) < 0 ||
                    (r = cfg_string(v, "state", 1, &s->tmpl_state)) < 0)
                        goto out;
                s->tmpl_save = json_object_object_get_ex(v, "save", &b) && json_object_get_boolean(b);
                /* A clone's agent may still answer what the template's supervisor asked just before the
                 * save (probes in flight): its ids are small, so a clone numbers its requests far from
                 * them, and such answers are dropped as unknown instead of taken for its own. */
                if (!s->tmpl_save)
                        s->next_agent_id = CLONE_FIRST_AGENT_ID;
                s->tmpl_9p = json_object_object_get_ex(v, "fs", &b) &&
                             json_object_is_type(b, json_type_string) &&
                             strcmp(json_object_get_string(b), "9p") == 0;
        }
        s->debug = json_object_object_get_ex(cfg, "debug", &v) && json_object_get_boolean(v);
        if (asprintf(&s->sock_path, "%s/sup.sock", s->dir) < 0 ||
            asprintf(&s->qmp_path, "%s/qmp.sock", s->dir) < 0 ||
            asprintf(&s->agent_path, "%s/agent.sock", s->dir) < 0 ||
            asprintf(&s->vfsd_path, "%s/vfsd.sock", s->dir) < 0)
                r = -ENOMEM;
out:
        json_object_put(cfg);
        return r;
}

static void free_config(struct sup *s)
{
        char **strs[] = {&s->id,       &s->dir,           &s->qemu,     &s->kernel,     &s->initrd,
                         &s->firmware, &s->kernel_params, &s->accel,    &s->share_dir,  &s->virtiofsd,
                         &s->netns,    &s->sock_path,     &s->qmp_path, &s->agent_path, &s->vfsd_path};
        for (size_t i = 0; i < ELEMENTSOF(strs); i++) {
                free(*strs[i]);
                *strs[i] = NULL;
        }
        json_object_put(s->nics);
        s->nics = NULL;
        json_object_put(s->boot_plan);
        s->boot_plan = NULL;
}

/* --- ready fd --- */

/* Send one JSON line to the launcher and close the fd; -EPIPE when the launcher is gone. */
static int ready_write(struct sup *s, json_object *msg)
{
        const char *line;
        char *buf = NULL;
        int r = 0;

        if (s->ready_fd < 0) {
                json_object_put(msg);
                return 0;
        }
        line = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
        if (asprintf(&buf, "%s\n", line) < 0)
                buf = NULL;
        const char *p = buf ? buf : "{\"ok\":false,\"error\":\"out of memory\",\"code\":\"ENOMEM\"}\n";
        size_t len = strlen(p);
        while (len > 0) {
                ssize_t n = write(s->ready_fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EPIPE;
                        break;
                }
                p += n;
                len -= (size_t)n;
        }
        free(buf);
        close(s->ready_fd);
        s->ready_fd = -1;
        json_object_put(msg);
        return r;
}

/* A template was saved (or could not be): report it and stop; the template is its files, not a VM. */
static void template_saved(struct sup *s, int r, const char *msg)
{
        if (r < 0) {
                sup_boot_fail(s, -r, "%s", msg);
                return;
        }
        json_object *m = json_object_new_object();
        json_object_object_add(m, "ok", json_object_new_boolean(1));
        json_object_object_add(m, "pid", json_object_new_int(getpid()));
        json_object_object_add(m, "qemu_pid", json_object_new_int(s->qemu_child.pid));
        json_object_object_add(m, "accel", json_object_new_string(s->accel));
        json_object_object_add(m, "socket", json_object_new_string(s->sock_path));
        json_object_object_add(m, "boot_ms", json_object_new_int((int)(vc_now_ms() - s->start_ms)));
        vc_log(VC_LOG_INFO, 0, "template saved to '%s' in %llu ms", s->tmpl_state,
               (unsigned long long)(vc_now_ms() - s->start_ms));
        s->phase = PHASE_RUNNING;
        ready_write(s, m);
        sup_terminate(s, 0);
}

static void sup_boot_ready(struct sup *s)
{
        json_object *m;
        unsigned boot_ms = (unsigned)(vc_now_ms() - s->start_ms);

        if (s->tmpl_save) {
                sup_template_save(s, template_saved);
                return;
        }
        m = json_object_new_object();
        uv_timer_stop(&s->boot_timer);
        s->phase = PHASE_RUNNING;
        json_object_object_add(m, "ok", json_object_new_boolean(1));
        json_object_object_add(m, "pid", json_object_new_int(getpid()));
        json_object_object_add(m, "qemu_pid", json_object_new_int(s->qemu_child.pid));
        json_object_object_add(m, "virtiofsd_pid", json_object_new_int(s->vfsd_child.pid));
        json_object_object_add(m, "accel", json_object_new_string(s->accel));
        json_object_object_add(m, "socket", json_object_new_string(s->sock_path));
        json_object_object_add(m, "boot_ms", json_object_new_int((int)boot_ms));
        json_object_object_add(m, "agent_ms", json_object_new_int((int)s->agent_ms));
        if (ready_write(s, m) < 0) {
                /* the launcher died or gave up: nobody knows of this sandbox, so it must not stay */
                vc_log(VC_LOG_ERROR, 0, "the launcher is gone, shutting the sandbox down");
                sup_begin_shutdown(s, NULL, 0, s->shutdown_timeout_ms);
                return;
        }
        vc_log(VC_LOG_INFO, 0, "sandbox ready in %u ms (accel %s, qemu pid %d, virtiofsd pid %d)", boot_ms,
               s->accel, s->qemu_child.pid, s->vfsd_child.pid);
}

static void sup_boot_fail(struct sup *s, int code, const char *fmt, ...)
{
        char *msg = NULL;
        va_list ap;

        if (s->phase >= PHASE_RUNNING)
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        vc_log(VC_LOG_ERROR, 0, "boot failed: %s", msg ? msg : "?");
        json_object *m = json_object_new_object();
        json_object_object_add(m, "ok", json_object_new_boolean(0));
        json_object_object_add(m, "error", json_object_new_string(msg ? msg : "boot failed"));
        json_object_object_add(m, "code", json_object_new_string(vc_errno_name(code)));
        ready_write(s, m);
        free(msg);
        sup_terminate(s, 1);
}

/* --- children --- */

static void child_line(struct sup *s, struct child *ch, char *line)
{
        const char *fields[] = {"source", ch->name, NULL};
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = '\0';
        if (n == 0)
                return;
        snprintf(ch->last, sizeof ch->last, "%s", line);
        vc_log_fields(VC_LOG_WARNING, fields, line);
}

static void child_err_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        static char slab[4096];
        buf->base = slab;
        buf->len = sizeof slab;
}

static void child_err_closed(uv_handle_t *h)
{
        struct child *ch = h->data;
        ch->err_open = 0;
}

static void child_err_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
        struct child *ch = st->data;
        struct sup *s = st->loop->data;

        if (nread < 0) {
                if (ch->line_len) {
                        ch->line[ch->line_len] = '\0';
                        child_line(s, ch, ch->line);
                        ch->line_len = 0;
                }
                uv_close((uv_handle_t *)st, child_err_closed);
                return;
        }
        for (ssize_t i = 0; i < nread; i++) {
                char c = buf->base[i];
                if (c == '\n' || ch->line_len == sizeof ch->line - 1) {
                        ch->line[ch->line_len] = '\0';
                        child_line(s, ch, ch->line);
                        ch->line_len = 0;
                        if (c == '\n')
                                continue;
                }
                ch->line[ch->line_len++] = c;
        }
}

/* Fork and exec argv with stdin/stdout on /dev/null and stderr on a pipe we read. We fork ourselves
 * rather than use uv_spawn because the child has to run code before exec that uv_spawn has no hook for:
 * join the sandbox's network namespace (qemu only: setns affects just that process) and ask for SIGKILL
 * when the supervisor dies (PR_SET_PDEATHSIG), so no qemu or virtiofsd outlives a crashed supervisor. */
static int spawn_child(struct sup *s, struct child *ch, char **argv, const char *netns)
{
        _cleanup_close_ int nsfd = -1, devnull = -1;
        int errp[2];
        pid_t parent = getpid(), pid;
        int r;

        if (netns) {
                nsfd = open(netns, O_RDONLY | O_CLOEXEC);
                if (nsfd < 0)
                        return -errno;
        }
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0)
                return -errno;
        if (pipe2(errp, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(errp[0]);
                close(errp[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t all;
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                signal(SIGPIPE, SIG_DFL);
                if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(errp[1], 2) < 0)
                        _exit(127);
                if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0) {
                        dprintf(2, "setns '%s': %s\n", netns, strerror(errno));
                        _exit(127);
                }
                /* qemu's sockets (qmp.sock, agent.sock) and its console log: 0600 from the start, whatever
                 * the caller's umask */
                if (ch == &s->qemu_child)
                        umask(0177);
                execv(argv[0], argv);
                dprintf(2, "exec '%s': %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(errp[1]);
        ch->pid = pid;
        ch->reaped = 0;
        r = uv_pipe_init(s->loop, &ch->err, 0);
        if (r == 0) {
                ch->err.data = ch;
                ch->err_open = 1;
                r = uv_pipe_open(&ch->err, errp[0]);
                if (r == 0)
                        r = uv_read_start((uv_stream_t *)&ch->err, child_err_alloc, child_err_read);
        } else {
                close(errp[0]);
        }
        return r < 0 ? r : 0;
}

static const char *describe_status(int status, char *buf, size_t len)
{
        if (WIFSIGNALED(status))
                snprintf(buf, len, "signal %d", WTERMSIG(status));
        else
                snprintf(buf, len, "status %d", WEXITSTATUS(status));
        return buf;
}

static void maybe_finish(struct sup *s);

/* Whether qemu is gone or on its way out. A SIGKILLed qemu closes its end of the vhost-user socket while
 * it exits, and virtiofsd, exiting on that, may be reaped before qemu is: its death is then news of
 * qemu's, not a virtiofsd failure. PF_EXITING (0x4, in /proc/<pid>/stat's flags) is set as soon as the
 * kernel starts tearing a process down, before its files are closed, so the answer does not race. */
static int qemu_exiting(struct sup *s)
{
        struct vc_proc_stat st;

        if (s->qemu_child.pid <= 0)
                return 0; /* not started yet: virtiofsd died on its own */
        if (s->qemu_child.reaped || vc_proc_stat(s->qemu_child.pid, &st, NULL) < 0)
                return 1;
        return st.state == 'Z' || st.state == 'X' || (st.flags & 0x4) != 0;
}

static void on_sigchld(uv_signal_t *h, int sig)
{
        struct sup *s = h->data;
        struct child *chs[] = {&s->qemu_child, &s->vfsd_child};
        char desc[32];

        for (size_t i = 0; i < ELEMENTSOF(chs); i++) {
                struct child *ch = chs[i];
                int status;
                if (ch->pid <= 0 || ch->reaped)
                        continue;
                if (waitpid(ch->pid, &status, WNOHANG) != ch->pid)
                        continue;
                ch->reaped = 1;
                ch->status = status;
                vc_log(s->phase >= PHASE_STOPPING ? VC_LOG_INFO : VC_LOG_WARNING, 0, "%s (pid %d) exited: %s",
                       ch->name, ch->pid, describe_status(status, desc, sizeof desc));
                if (ch == &s->qemu_child) {
                        if (s->phase < PHASE_RUNNING)
                                sup_boot_fail(s, EIO, "qemu exited: %s",
                                              ch->last[0] ? ch->last
                                                          : describe_status(status, desc, sizeof desc));
                        else if (s->phase == PHASE_RUNNING)
                                sup_vm_died(s);
                        else if (s->phase == PHASE_STOPPING)
                                sup_terminate(s, 0);
                } else if (s->phase <= PHASE_RUNNING && qemu_exiting(s)) {
                        /* qemu's own exit, reaped next, says what happened */
                        vc_log(VC_LOG_INFO, 0, "virtiofsd followed qemu");
                } else if (s->phase < PHASE_RUNNING) {
                        sup_boot_fail(s, EIO, "virtiofsd exited: %s",
                                      ch->last[0] ? ch->last : describe_status(status, desc, sizeof desc));
                } else if (s->phase == PHASE_RUNNING) {
                        /* the guest lost its root file system: nothing useful can go on */
                        vc_log(VC_LOG_ERROR, 0, "virtiofsd died, stopping the VM");
                        sup_kill_children(s, SIGKILL);
                }
        }
        maybe_finish(s);
}

static void sup_kill_children(struct sup *s, int sig)
{
        if (s->qemu_child.pid > 0 && !s->qemu_child.reaped)
                (void)kill(s->qemu_child.pid, sig);
        if (s->vfsd_child.pid > 0 && !s->vfsd_child.reaped)
                (void)kill(s->vfsd_child.pid, sig);
}

/* --- boot sequence --- */

static void start_qemu(struct sup *s);

static void on_boot_timeout(uv_timer_t *t)
{
        struct sup *s = t->data;
        if (s->phase <= PHASE_BOOT_QEMU)
                sup_boot_fail(s, ETIMEDOUT, "qemu did not start within %u s", s->boot_timeout);
        else
                sup_boot_fail(s, ETIMEDOUT, "agent did not answer within %u s", s->boot_timeout);
}

static void on_check_timer(uv_timer_t *t)
{
        sup_agent_send_check(t->data);
}

/* Is there a listening unix socket bound to path in pid's network namespace? A socket file appears at
 * bind(), before listen(): connecting in between is refused, and a probe connection is no option because
 * virtiofsd serves exactly one connection and then exits. /proc/<pid>/net/unix shows the flags without
 * touching the socket (__SO_ACCEPTCON, 0x10000, marks a listener). */
static int unix_listening(pid_t pid, const char *path)
{
        char proc[64], line[4096 + 128];
        _cleanup_fclose_ FILE *f = NULL;

        snprintf(proc, sizeof proc, "/proc/%d/net/unix", (int)pid);
        f = fopen(proc, "re");
        if (f == NULL)
                return 0;
        while (fgets(line, sizeof line, f)) {
                unsigned long flags;
                int off = 0;
                line[strcspn(line, "\n")] = '\0';
                if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &off) != 1 || off == 0)
                        continue;
                if ((flags & 0x10000) && strcmp(line + off, path) == 0)
                        return 1;
        }
        return 0;
}

static bool vfsd_listening(struct sup *s)
{
        return unix_listening(s->vfsd_child.pid, s->vfsd_path);
}

/* QMP's STOP/RESUME events (from sup.qmp stop/cont, or a guest error) keep sup.status's "vm" right. */
static void on_qmp_event(vc_qmp_t *q, const char *event, json_object *data, void *userdata)
{
        struct sup *s = userdata;
        if (strcmp(event, "STOP") == 0)
                s->vm_state = "stopped";
        else if (strcmp(event, "RESUME") == 0)
                s->vm_state = "running";
        vc_log(VC_LOG_DEBUG, 0, "qmp event %s", event);
}

/* The boot plan's first call, repeated every interval_ms until the agent answers it. */
static void probe_agent(struct sup *s, unsigned interval_ms)
{
        s->phase = PHASE_BOOT_AGENT;
        sup_agent_send_check(s);
        uv_timer_start(&s->check_timer, on_check_timer, interval_ms, interval_ms);
}

/* A clone runs from its template's state, its agent already up: probed often, it answers at once. */
static void clone_restored(struct sup *s, int r, const char *msg)
{
        if (r < 0) {
                sup_boot_fail(s, -r, "%s", msg);
                return;
        }
        vc_log(VC_LOG_INFO, 0, "clone restored in %llu ms", (unsigned long long)(vc_now_ms() - s->start_ms));
        probe_agent(s, CLONE_CHECK_INTERVAL_MS);
}

static void on_poll(uv_timer_t *t)
{
        struct sup *s = t->data;

        if (s->phase == PHASE_BOOT_VFSD) {
                if (vfsd_listening(s)) {
                        uv_timer_stop(t);
                        start_qemu(s);
                }
                return;
        }
        if (s->phase == PHASE_BOOT_QEMU) {
                if (!unix_listening(s->qemu_child.pid, s->agent_path) ||
                    !unix_listening(s->qemu_child.pid, s->qmp_path))
                        return;
                uv_timer_stop(t);
                vc_error_t err = NULL;
                if (vc_qmp_connect(s->loop, s->qmp_path, &s->qmp, &err) < 0) {
                        sup_boot_fail(s, err->code, "%s", err->msg);
                        vc_error_release(&err);
                        return;
                }
                vc_qmp_set_event_cb(s->qmp, on_qmp_event, s);
                int r = sup_agent_connect(s);
                if (r < 0) {
                        sup_boot_fail(s, -r, "connect to the agent socket: %s", strerror(-r));
                        return;
                }
                if (s->tmpl_memory && !s->tmpl_save) {
                        s->phase = PHASE_BOOT_RESTORE;
                        sup_clone_restore(s, clone_restored);
                        return;
                }
                probe_agent(s, CHECK_INTERVAL_MS);
        }
}

static void start_qemu(struct sup *s)
{
        struct vc_qemu_config qc = {
            .qemu = s->qemu,
            .name = s->id,
            .dir = s->dir,
            .kernel = s->kernel,
            .initrd = s->initrd,
            .firmware = s->firmware,
            .kernel_params = s->kernel_params,
            .accel = s->accel,
            .vfsd_socket = s->vfsd_path,
            .vcpus = s->vcpus,
            .memory_mib = s->memory_mib,
            .tcg_cache_mib = s->tcg_cache_mib,
            .debug = s->debug,
            .hotplug_ports = s->hotplug_ports,
        };
        struct vc_qemu_nic nics[VC_QEMU_MAX_NICS] = {{0}};
        char **argv = NULL;
        vc_error_t err = NULL;
        int r;

        if (s->tmpl_memory) {
                /* the template's shape: the file system and the NICs come by hot-plug (template.c) */
                char *msg = NULL;
                qc.template_shape = 1;
                qc.vfsd_socket = NULL;
                qc.share_9p = s->tmpl_9p ? s->share_dir : NULL;
                if (s->tmpl_save) {
                        qc.mem_file = s->tmpl_memory;
                } else if (s->tmpl_9p) {
                        /* copy-on-write: the template's pages stay shared until the clone writes them */
                        qc.mem_file = s->tmpl_memory;
                        qc.mem_private = 1;
                        qc.incoming = 1;
                } else {
                        r = sup_clone_memory(s, &msg);
                        if (r < 0) {
                                sup_boot_fail(s, -r, "%s", msg ? msg : strerror(-r));
                                free(msg);
                                return;
                        }
                        qc.mem_file = s->clone_mem_path;
                        qc.incoming = 1;
                }
                goto build;
        }

        /* borrowed from s->nics; a malformed entry is left empty and refused by vc_qemu_build_argv */
        qc.nics = nics;
        qc.n_nics = s->nics ? json_object_array_length(s->nics) : 0;
        for (size_t i = 0; i < qc.n_nics && i < VC_QEMU_MAX_NICS; i++) {
                json_object *n = json_object_array_get_idx(s->nics, i), *v;
                if (json_object_object_get_ex(n, "tap", &v) && json_object_is_type(v, json_type_string))
                        nics[i].tap = json_object_get_string(v);
                if (json_object_object_get_ex(n, "mac", &v) && json_object_is_type(v, json_type_string))
                        nics[i].mac = json_object_get_string(v);
        }
build:
        if (vc_qemu_build_argv(&qc, &argv, &err) < 0) {
                sup_boot_fail(s, err->code, "%s", err->msg);
                vc_error_release(&err);
                return;
        }
        if (s->debug) {
                size_t n = 0;
                for (char **a = argv; *a; a++)
                        n += strlen(*a) + 1;
                char *cmd = calloc(1, n + 1);
                for (char **a = argv; cmd && *a; a++)
                        strcat(strcat(cmd, *a), " ");
                vc_log(VC_LOG_DEBUG, 0, "qemu command line: %s", cmd ? cmd : "?");
                free(cmd);
        }
        s->phase = PHASE_BOOT_QEMU;
        r = spawn_child(s, &s->qemu_child, argv, s->netns);
        vc_strv_free(argv);
        if (r < 0) {
                sup_boot_fail(s, -r, "start qemu: %s", strerror(-r));
                return;
        }
        uv_timer_start(&s->poll_timer, on_poll, POLL_INTERVAL_MS, POLL_INTERVAL_MS);
}

/* The share dir becomes a shared mount point (a bind onto itself, MS_SHARED) so that the container rootfs
 * bind mounts made under it later propagate into virtiofsd's own mount namespace. */
static int share_mount(struct sup *s)
{
        if (mount(s->share_dir, s->share_dir, NULL, MS_BIND, NULL) < 0)
                return -errno;
        s->share_mounted = 1;
        if (mount(NULL, s->share_dir, NULL, MS_SHARED, NULL) < 0)
                return -errno;
        return 0;
}

static int start_virtiofsd(struct sup *s)
{
        char *argv[16];
        char *sock = NULL, *src = NULL;
        int n = 0, r;

        if (asprintf(&sock, "--socket-path=%s", s->vfsd_path) < 0 ||
            asprintf(&src, "source=%s", s->share_dir) < 0) {
                free(sock);
                return -ENOMEM;
        }
        argv[n++] = s->virtiofsd;
        argv[n++] = sock;
        argv[n++] = "-o";
        argv[n++] = src;
        argv[n++] = "-o";
        argv[n++] = "cache=auto";
        argv[n++] = "-o";
        argv[n++] = "announce_submounts";
        argv[n++] = "-o";
        argv[n++] = s->debug ? "log_level=debug" : "log_level=warn";
        argv[n++] = NULL;
        r = spawn_child(s, &s->vfsd_child, argv, NULL);
        free(sock);
        free(src);
        return r;
}

/* --- shutdown and exit --- */

static void on_stop_timeout(uv_timer_t *t)
{
        struct sup *s = t->data;
        vc_log(VC_LOG_WARNING, 0, "qemu or virtiofsd outlived the shutdown timeout, killing them");
        sup_kill_children(s, SIGKILL);
}

static void quit_cb(vc_qmp_t *q, int status, json_object *ret, const char *msg, void *data)
{
        struct sup *s = data;
        if (status < 0 && status != -ECANCELED)
                vc_log(VC_LOG_INFO, 0, "qmp quit: %s", msg ? msg : strerror(-status));
        (void)s;
}

/* Called once destroy_sandbox was answered (or could not be, or took half the shutdown timeout). When the
 * agent answered, it has killed the containers and synced the guest's writes to the share: nothing is
 * left in the VM, and SIGKILL ends qemu at once (QMP quit takes about 20 ms more under TCG). Otherwise
 * qemu is asked to quit, and killed at the shutdown timeout. */
static void sup_after_destroy(struct sup *s, bool agent_done)
{
        if (s->quit_sent)
                return;
        s->quit_sent = 1;
        uv_timer_stop(&s->check_timer);
        if (agent_done && !s->qemu_child.reaped) {
                (void)kill(s->qemu_child.pid, SIGKILL);
                return;
        }
        if (s->qmp && vc_qmp_is_open(s->qmp) && !s->qemu_child.reaped) {
                if (vc_qmp_execute_async(s->qmp, "quit", NULL, 2000, quit_cb, s) == 0)
                        return;
        }
        if (!s->qemu_child.reaped)
                (void)kill(s->qemu_child.pid, SIGTERM);
}

static void on_final_timeout(uv_timer_t *t)
{
        struct sup *s = t->data;
        /* clients that do not read their last frames are not waited for any longer */
        sup_abort_clients(s);
        if (!s->qemu_child.reaped || !s->vfsd_child.reaped) {
                /* a child that ignores SIGKILL is in uninterruptible sleep: wait for it, then leave */
                sup_kill_children(s, SIGKILL);
                if (s->qemu_child.pid > 0 && !s->qemu_child.reaped)
                        (void)waitpid(s->qemu_child.pid, NULL, 0);
                if (s->vfsd_child.pid > 0 && !s->vfsd_child.reaped)
                        (void)waitpid(s->vfsd_child.pid, NULL, 0);
                s->qemu_child.reaped = s->vfsd_child.reaped = 1;
                maybe_finish(s);
        }
}

static void close_if_open(uv_handle_t *h)
{
        if (h->loop && !uv_is_closing(h))
                uv_close(h, NULL);
}

/* Everything is down: answer sup.shutdown, release the mount and sockets, let the loop run dry. */
static void maybe_finish(struct sup *s)
{
        if (s->phase != PHASE_EXITING || s->finished)
                return;
        if ((s->qemu_child.pid > 0 && !s->qemu_child.reaped) ||
            (s->vfsd_child.pid > 0 && !s->vfsd_child.reaped))
                return;
        s->finished = 1;
        sup_template_free(s);
        if (s->share_mounted && umount2(s->share_dir, MNT_DETACH) < 0)
                vc_log(VC_LOG_WARNING, errno, "umount '%s', ignoring", s->share_dir);
        s->share_mounted = 0;
        (void)unlink(s->qmp_path);
        (void)unlink(s->agent_path);
        (void)unlink(s->vfsd_path);
        sup_answer_shutdown(s);
        sup_flush_clients(s);
        uv_signal_stop(&s->sig_chld);
        close_if_open((uv_handle_t *)&s->sig_chld);
        close_if_open((uv_handle_t *)&s->sig_term);
        close_if_open((uv_handle_t *)&s->sig_int);
        close_if_open((uv_handle_t *)&s->boot_timer);
        close_if_open((uv_handle_t *)&s->poll_timer);
        close_if_open((uv_handle_t *)&s->check_timer);
        close_if_open((uv_handle_t *)&s->stop_timer);
        if (s->qmp) {
                vc_qmp_close(s->qmp);
                s->qmp = NULL;
        }
        /* final_timer stays armed until the clients are flushed; it is unref'd so it does not keep the loop
         */
        uv_unref((uv_handle_t *)&s->final_timer);
        vc_log(VC_LOG_INFO, 0, "supervisor exiting (%d)", s->exit_code);
}

/* Stop everything: kill the children (qemu first), close the agent channel and the listener; the exit
 * completes in maybe_finish once both children are reaped. */
static void sup_terminate(struct sup *s, int exit_code)
{
        if (s->phase == PHASE_EXITING)
                return;
        s->phase = PHASE_EXITING;
        s->exit_code = exit_code;
        uv_timer_stop(&s->boot_timer);
        uv_timer_stop(&s->poll_timer);
        uv_timer_stop(&s->check_timer);
        sup_agent_closed(s, "the sandbox is stopping");
        sup_stop_listening(s);
        if (s->qemu_child.pid > 0 && !s->qemu_child.reaped)
                (void)kill(s->qemu_child.pid, SIGKILL);
        if (s->vfsd_child.pid > 0 && !s->vfsd_child.reaped)
                (void)kill(s->vfsd_child.pid, SIGTERM);
        uv_timer_start(&s->stop_timer, on_stop_timeout, 2000, 0);
        uv_timer_start(&s->final_timer, on_final_timeout, 5000, 0);
        maybe_finish(s);
}

static void on_term_signal(uv_signal_t *h, int sig)
{
        struct sup *s = h->data;
        vc_log(VC_LOG_INFO, 0, "signal %d: shutting down", sig);
        if (s->phase < PHASE_RUNNING)
                sup_boot_fail(s, EINTR, "interrupted by signal %d", sig);
        else
                sup_begin_shutdown(s, NULL, 0, s->shutdown_timeout_ms);
}

static void on_destroy_timeout(uv_timer_t *t)
{
        struct sup *s = t->data;
        vc_log(VC_LOG_WARNING, 0, "destroy_sandbox not answered in time, asking qemu to quit");
        sup_after_destroy(s, false);
}

/* sup_begin_shutdown arms these once destroy_sandbox is sent: the plan's share of the timeout for the
 * agent (half of it unless the plan says), then QMP quit; the whole timeout, then SIGKILL. (check_timer is
 * free again once the agent has answered.) */
static void sup_arm_stop_timer(struct sup *s, unsigned ms)
{
        unsigned agent_ms =
            (uint64_t)ms * s->destroy_timeout_ms / (s->shutdown_timeout_ms ? s->shutdown_timeout_ms : 1);
        uv_timer_start(&s->stop_timer, on_stop_timeout, ms, 0);
        uv_timer_start(&s->check_timer, on_destroy_timeout, agent_ms, 0);
}

static int detach_stdio(void)
{
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
                close(fd);
        return 0;
}

static void usage(void)
{
        fprintf(stderr, "usage: kata-supervisor --config FILE [--ready-fd N] [--foreground]\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"ready-fd", required_argument, NULL, 'r'},
            {"foreground", no_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct sup sup = {.up = &up, .ready_fd = -1, .next_agent_id = 1, .clone_fd = -1};
        struct sup *s = &sup;
        const char *config = NULL;
        _cleanup_free_ char *log_path = NULL;
        int foreground = 0, c, r;
        vc_error_t err = NULL;

        while ((c = getopt_long(argc, argv, "c:r:fh", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 'r': {
                        char *end;
                        long fd = strtol(optarg, &end, 10);
                        if (*end || fd < 3 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
                                fprintf(stderr, "kata-supervisor: --ready-fd '%s' is not an open fd\n",
                                        optarg);
                                return 2;
                        }
                        s->ready_fd = (int)fd;
                        (void)fcntl(s->ready_fd, F_SETFD, FD_CLOEXEC);
                        break;
                }
                case 'f':
                        foreground = 1;
                        break;
                default:
                        usage();
                        return c == 'h' ? 0 : 2;
                }
        }
        if (config == NULL || optind != argc) {
                usage();
                return 2;
        }
        s->start_ms = vc_now_ms();
        if (load_config(s, config) < 0) {
                json_object *m = json_object_new_object();
                json_object_object_add(m, "ok", json_object_new_boolean(0));
                json_object_object_add(m, "error",
                                       json_object_new_string(cfg_err[0] ? cfg_err : "bad config"));
                json_object_object_add(m, "code", json_object_new_string("EINVAL"));
                ready_write(s, m);
                free_config(s);
                return 2;
        }
        /* a session of its own: the CLI that launched us exits, and signals to its process group (^C,
         * a container engine killing it) must not reach the sandbox */
        if (!foreground && getsid(0) != getpid() && setsid() < 0) {
                fprintf(stderr, "kata-supervisor: setsid: %s\n", strerror(errno));
                return 1;
        }
        if (asprintf(&log_path, "%s/supervisor.log", s->dir) < 0)
                return 1;
        if (vc_log_init(log_path, VC_LOG_JSON, s->debug ? VC_LOG_DEBUG : VC_LOG_INFO, &err) < 0) {
                fprintf(stderr, "kata-supervisor: %s\n", err->msg);
                return 1;
        }
        (void)vc_log_set_field("sandbox", s->id);
        if (!foreground)
                (void)detach_stdio();
        signal(SIGPIPE, SIG_IGN);

        s->loop = uv_default_loop();
        s->loop->data = s;
        s->qemu_child.name = "qemu";
        s->vfsd_child.name = "virtiofsd";
        s->vm_state = "running";
        sup_router_init(s);
        uv_signal_init(s->loop, &s->sig_chld);
        uv_signal_init(s->loop, &s->sig_term);
        uv_signal_init(s->loop, &s->sig_int);
        uv_timer_init(s->loop, &s->boot_timer);
        uv_timer_init(s->loop, &s->poll_timer);
        uv_timer_init(s->loop, &s->check_timer);
        uv_timer_init(s->loop, &s->stop_timer);
        uv_timer_init(s->loop, &s->final_timer);
        s->sig_chld.data = s->sig_term.data = s->sig_int.data = s;
        s->boot_timer.data = s->poll_timer.data = s->check_timer.data = s->stop_timer.data =
            s->final_timer.data = s;
        uv_signal_start(&s->sig_chld, on_sigchld, SIGCHLD);
        uv_signal_start(&s->sig_term, on_term_signal, SIGTERM);
        uv_signal_start(&s->sig_int, on_term_signal, SIGINT);

        vc_log(VC_LOG_INFO, 0, "supervisor starting: accel %s, %u vcpus, %u MiB", s->accel, s->vcpus,
               s->memory_mib);
        /* stale sockets of an earlier run would confuse the waits below */
        (void)unlink(s->sock_path);
        (void)unlink(s->qmp_path);
        (void)unlink(s->agent_path);
        (void)unlink(s->vfsd_path);
        uv_timer_start(&s->boot_timer, on_boot_timeout, (uint64_t)s->boot_timeout * 1000, 0);
        if (s->tmpl_save || (s->tmpl_memory && s->tmpl_9p)) {
                /* a template has no file system of its own (clones hot-plug theirs, or mount the 9p device
                 * qemu serves): no virtiofsd */
                if (s->tmpl_9p && !s->tmpl_save && (r = share_mount(s)) < 0) {
                        sup_boot_fail(s, -r, "make '%s' a shared mount: %s", s->share_dir, strerror(-r));
                        goto run;
                }
                start_qemu(s);
        } else if ((r = share_mount(s)) < 0) {
                sup_boot_fail(s, -r, "make '%s' a shared mount: %s", s->share_dir, strerror(-r));
        } else {
                s->phase = PHASE_BOOT_VFSD;
                r = start_virtiofsd(s);
                if (r < 0)
                        sup_boot_fail(s, -r, "start virtiofsd: %s", strerror(-r));
                else if (s->tmpl_memory)
                        start_qemu(s); /* a clone connects qemu to virtiofsd only after the restore */
                else
                        uv_timer_start(&s->poll_timer, on_poll, POLL_INTERVAL_MS, POLL_INTERVAL_MS);
        }
run:
        uv_run(s->loop, UV_RUN_DEFAULT);
        sup_free_state(s);
        sup_template_free(s);
        (void)uv_loop_close(s->loop);
        vc_log_close();
        free_config(s);
        return s->exit_code;
}
