/* Launching a sandbox supervisor and talking to it (the blocking client used by the short-lived CLI). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "frame.h"
#include "rpc.h"
#include "paths-internal.h"
#include "util.h"
#include "vc/hypervisor.h"
#include "vc/oci.h"
#include "vc/proc.h"
#include "vc/sandbox.h"

void vc_sandbox_info_clear(struct vc_sandbox_info *info)
{
        free(info->socket);
        memset(info, 0, sizeof *info);
}

static int readable_file(const char *what, const char *path, vc_error_t *err)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return vc_error_set(err, errno, "%s '%s'", what, path);
        if (!S_ISREG(st.st_mode))
                return vc_error_setx(err, EINVAL, "%s '%s' is not a regular file", what, path);
        return 0;
}

/* path made absolute (symlinks resolved) into *ret, owned by the caller: a regular file that exists. */
static int resolve_file(const char *what, const char *path, char **ret, vc_error_t *err)
{
        *ret = realpath(path, NULL);
        if (*ret == NULL)
                return vc_error_set(err, errno ? errno : ENOMEM, "%s '%s'", what, path);
        return readable_file(what, *ret, err);
}

/* The supervisor program: explicit, else where companion programs are. */
static int find_supervisor(const char *explicit, char **ret, vc_error_t *err)
{
        if (explicit)
                return vc_find_program(explicit, ret, err) < 0 ? vc_error_wrap(err, "supervisor") : 0;
        return vc__companion_path("kata-supervisor", ret, err);
}

/* A copy of the config with every default filled in and every path checked. Strings are owned by the
 * arrays in struct resolved. */
struct resolved {
        struct vc_sandbox_config c;
        char *qemu, *kernel, *initrd, *firmware, *virtiofsd, *share_dir, *supervisor;
};

static void resolved_free(struct resolved *r)
{
        free(r->qemu);
        free(r->kernel);
        free(r->initrd);
        free(r->firmware);
        free(r->virtiofsd);
        free(r->share_dir);
        free(r->supervisor);
}

/* A template's files: QEMU reads the state through a shell (migrate exec:cat), so their names keep to
 * characters no shell gives a meaning to. */
static int template_path(const char *what, const char *p, vc_error_t *err)
{
        if (p == NULL || p[0] != '/' ||
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != strlen(p) ||
            strstr(p, "/../"))
                return vc_error_setx(err, EINVAL,
                                     "template %s '%s' is not an absolute path of [A-Za-z0-9/._-]", what,
                                     p ? p : "");
        return 0;
}

static int check_template(const struct vc_sandbox_config *cfg, vc_error_t *err)
{
        int e;

        if (cfg->template_memory == NULL && cfg->template_state == NULL) {
                if (cfg->template_save)
                        return vc_error_setx(err, EINVAL,
                                             "template_save needs template_memory and template_state");
                return 0;
        }
        if ((e = template_path("memory", cfg->template_memory, err)) < 0 ||
            (e = template_path("state", cfg->template_state, err)) < 0)
                return e;
        if (cfg->template_save) {
                if (cfg->n_nics)
                        return vc_error_setx(err, EINVAL, "a template boots without NICs");
                return 0;
        }
        if (cfg->n_nics > VC_TEMPLATE_NIC_PORTS)
                return vc_error_setx(err, EINVAL, "%zu nics, a clone has ports for %d", cfg->n_nics,
                                     VC_TEMPLATE_NIC_PORTS);
        if ((e = readable_file("template memory", cfg->template_memory, err)) < 0 ||
            (e = readable_file("template state", cfg->template_state, err)) < 0)
                return e;
        return 0;
}

static int resolve(const struct vc_sandbox_config *cfg, struct resolved *r, vc_error_t *err)
{
        int e;

        memset(r, 0, sizeof *r);
        r->c = *cfg;
        /* the one id rule (vc_id_validate): any id create accepts can be a sandbox's */
        if ((e = vc_id_validate(cfg->id, err)) < 0)
                return vc_error_wrap(err, "sandbox");
        if (cfg->dir == NULL || cfg->dir[0] != '/')
                return vc_error_setx(err, EINVAL, "sandbox dir '%s' is not an absolute path",
                                     cfg->dir ? cfg->dir : "");
        if (strlen(cfg->dir) + sizeof "/agent.sock" > sizeof(((struct sockaddr_un *)0)->sun_path))
                return vc_error_setx(err, ENAMETOOLONG, "sandbox dir '%s' is too long for its sockets",
                                     cfg->dir);
        /* The VM's size and programs come from the configuration layer (kata.config); there are no
         * defaults here, only checks. */
        if (cfg->vcpus < 1 || cfg->vcpus > 255)
                return vc_error_setx(err, EINVAL, "vcpus %u is not within 1..255", cfg->vcpus);
        if (cfg->memory_mib < 64 || cfg->memory_mib > 1024 * 1024)
                return vc_error_setx(err, EINVAL, "memory %u MiB is not within 64..1048576", cfg->memory_mib);
        if (cfg->tcg_cache_mib < 1 || cfg->tcg_cache_mib > 2048)
                return vc_error_setx(err, EINVAL, "TCG cache %u MiB is not within 1..2048",
                                     cfg->tcg_cache_mib);
        if (cfg->boot_timeout < 1 || cfg->boot_timeout > 3600)
                return vc_error_setx(err, EINVAL, "boot timeout %u s is not within 1..3600",
                                     cfg->boot_timeout);
        if (cfg->qemu == NULL || cfg->kernel == NULL || cfg->initrd == NULL || cfg->virtiofsd == NULL)
                return vc_error_setx(err, EINVAL, "%s is not given",
                                     !cfg->qemu     ? "qemu"
                                     : !cfg->kernel ? "kernel"
                                     : !cfg->initrd ? "initrd"
                                                    : "virtiofsd");
        /* nor a plan: the runtime's standard one is kata.pod's */
        if (cfg->boot_plan == NULL || !json_object_is_type(cfg->boot_plan, json_type_array) ||
            json_object_array_length(cfg->boot_plan) == 0)
                return vc_error_setx(err, EINVAL, "boot plan is not given (a list of agent calls)");
        if (cfg->shutdown_timeout == 0 || cfg->destroy_timeout == 0)
                return vc_error_setx(err, EINVAL, "%s timeout is not given",
                                     cfg->shutdown_timeout == 0 ? "shutdown" : "destroy");
        if (!(cfg->shutdown_timeout > 0 && cfg->shutdown_timeout <= 3600))
                return vc_error_setx(err, EINVAL, "shutdown timeout %g s is not within 0..3600",
                                     cfg->shutdown_timeout);
        if (!(cfg->destroy_timeout > 0 && cfg->destroy_timeout <= cfg->shutdown_timeout))
                return vc_error_setx(err, EINVAL,
                                     "destroy timeout %g s is not within 0..%g (the shutdown timeout)",
                                     cfg->destroy_timeout, cfg->shutdown_timeout);
        if (cfg->n_nics > VC_QEMU_MAX_NICS)
                return vc_error_setx(err, EINVAL, "%zu nics, at most %d", cfg->n_nics, VC_QEMU_MAX_NICS);
        for (size_t i = 0; i < cfg->n_nics; i++)
                if ((e = vc_qemu_check_nic(&cfg->nics[i], err)) < 0)
                        return e;
        if ((cfg->n_nics || (cfg->hotplug_ports && !cfg->template_save)) && cfg->netns == NULL)
                return vc_error_setx(err, EINVAL, "nics need the network namespace they are in (netns)");
        if (cfg->hotplug_ports > 8)
                return vc_error_setx(err, EINVAL, "hotplug ports %u is not within 0..8", cfg->hotplug_ports);

        if ((e = check_template(cfg, err)) < 0)
                return e;
        if ((e = vc_find_program(cfg->qemu, &r->qemu, err)) < 0)
                return vc_error_wrap(err, "qemu");
        if ((e = resolve_file("kernel", cfg->kernel, &r->kernel, err)) < 0 ||
            (e = resolve_file("initrd", cfg->initrd, &r->initrd, err)) < 0 ||
            (cfg->firmware && cfg->firmware[0] &&
             (e = resolve_file("firmware", cfg->firmware, &r->firmware, err)) < 0))
                return e;
        if ((e = vc_find_program(cfg->virtiofsd, &r->virtiofsd, err)) < 0)
                return vc_error_wrap(err, "virtiofsd");
        if (cfg->share_dir) {
                if (cfg->share_dir[0] != '/')
                        return vc_error_setx(err, EINVAL, "share dir '%s' is not an absolute path",
                                             cfg->share_dir);
                r->share_dir = strdup(cfg->share_dir);
        } else if (asprintf(&r->share_dir, "%s/shared", cfg->dir) < 0) {
                r->share_dir = NULL;
        }
        if (r->share_dir == NULL)
                return vc_error_set(err, ENOMEM, "share dir");
        if (strchr(r->share_dir, ','))
                return vc_error_setx(err, EINVAL, "share dir '%s' contains ','", r->share_dir);
        if (cfg->netns) {
                struct stat st;
                if (stat(cfg->netns, &st) < 0)
                        return vc_error_set(err, errno, "netns '%s'", cfg->netns);
        }
        if ((e = find_supervisor(cfg->supervisor, &r->supervisor, err)) < 0)
                return e;
        r->c.qemu = r->qemu;
        r->c.kernel = r->kernel;
        r->c.initrd = r->initrd;
        r->c.firmware = r->firmware;
        r->c.virtiofsd = r->virtiofsd;
        r->c.share_dir = r->share_dir;
        r->c.supervisor = r->supervisor;
        return 0;
}

int vc_sandbox_config_to_json(const struct vc_sandbox_config *c, json_object **ret, vc_error_t *err)
{
        json_object *o = json_object_new_object();
        if (o == NULL)
                return vc_error_set(err, ENOMEM, "supervisor config");
#define STR(k, v)                                                                                            \
        do {                                                                                                 \
                if (v)                                                                                       \
                        json_object_object_add(o, k, json_object_new_string(v));                             \
        } while (0)
        STR("id", c->id);
        STR("dir", c->dir);
        STR("qemu", c->qemu);
        STR("kernel", c->kernel);
        STR("initrd", c->initrd);
        STR("firmware", c->firmware);
        STR("kernel_params", c->kernel_params);
        STR("accel", c->accel);
        STR("share_dir", c->share_dir);
        STR("virtiofsd", c->virtiofsd);
        STR("netns", c->netns);
#undef STR
        json_object_object_add(o, "vcpus", json_object_new_int((int)c->vcpus));
        json_object_object_add(o, "memory_mib", json_object_new_int((int)c->memory_mib));
        json_object_object_add(o, "tcg_cache_mib", json_object_new_int((int)c->tcg_cache_mib));
        json_object_object_add(o, "boot_timeout", json_object_new_int((int)c->boot_timeout));
        json_object_object_add(o, "debug", json_object_new_boolean(c->debug));
        if (c->n_nics) {
                json_object *nics = json_object_new_array();
                json_object_object_add(o, "nics", nics);
                for (size_t i = 0; i < c->n_nics; i++) {
                        json_object *n = json_object_new_object();
                        json_object_array_add(nics, n);
                        json_object_object_add(n, "tap", json_object_new_string(c->nics[i].tap));
                        json_object_object_add(n, "mac", json_object_new_string(c->nics[i].mac));
                }
        }
        if (c->hotplug_ports)
                json_object_object_add(o, "hotplug_ports", json_object_new_int((int)c->hotplug_ports));
        if (c->template_memory) {
                json_object *t = json_object_new_object();
                json_object_object_add(o, "template", t);
                json_object_object_add(t, "memory", json_object_new_string(c->template_memory));
                json_object_object_add(t, "state", json_object_new_string(c->template_state));
                json_object_object_add(t, "save", json_object_new_boolean(c->template_save));
                json_object_object_add(t, "fs", json_object_new_string(c->template_9p ? "9p" : "virtio-fs"));
        }
        json_object_object_add(o, "boot", json_object_get(c->boot_plan));
        json_object *sd = json_object_new_object();
        json_object_object_add(sd, "timeout", json_object_new_double(c->shutdown_timeout));
        json_object_object_add(sd, "destroy_timeout", json_object_new_double(c->destroy_timeout));
        json_object_object_add(o, "shutdown", sd);
        *ret = o;
        return 0;
}

static int write_config(const char *dir, json_object *o, char **ret_path, vc_error_t *err)
{
        _cleanup_free_ char *tmp = NULL, *path = NULL;
        _cleanup_close_ int fd = -1;
        const char *txt =
            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t len = strlen(txt);

        if (asprintf(&path, "%s/supervisor.json", dir) < 0 ||
            asprintf(&tmp, "%s/.supervisor.json.tmp", dir) < 0)
                return vc_error_set(err, ENOMEM, "supervisor config");
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return vc_error_set(err, errno, "create '%s'", tmp);
        if (write(fd, txt, len) != (ssize_t)len || fsync(fd) < 0) {
                int e = errno ? errno : EIO;
                (void)unlink(tmp);
                return vc_error_set(err, e, "write '%s'", tmp);
        }
        if (rename(tmp, path) < 0) {
                int e = errno;
                (void)unlink(tmp);
                return vc_error_set(err, e, "rename '%s'", tmp);
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}

static void rm_rf(const char *path)
{
        _cleanup_closedir_ DIR *d = opendir(path);
        struct dirent *e;

        if (d) {
                while ((e = readdir(d))) {
                        char *p = NULL;
                        if (STREQ(e->d_name, ".") || STREQ(e->d_name, ".."))
                                continue;
                        if (asprintf(&p, "%s/%s", path, e->d_name) < 0)
                                continue;
                        if (e->d_type == DT_DIR)
                                rm_rf(p);
                        else
                                (void)unlink(p);
                        free(p);
                }
        }
        (void)rmdir(path);
}

/* What the launcher and the supervisor leave in a sandbox directory. */
static const char *const sandbox_files[] = {
    "supervisor.json", ".supervisor.json.tmp", "supervisor.log", "console.log", "sup.sock",
    "qmp.sock",        "agent.sock",           "vfsd.sock",
};

int vc_sandbox_remove_dir(const char *dir, vc_error_t *err)
{
        _cleanup_free_ char *shared = NULL;
        char path[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(sandbox_files); i++) {
                snprintf(path, sizeof path, "%s/%s", dir, sandbox_files[i]);
                if (unlink(path) < 0 && errno != ENOENT)
                        return vc_error_set(err, errno, "remove '%s'", path);
        }
        if (asprintf(&shared, "%s/shared", dir) < 0)
                return vc_error_set(err, ENOMEM, "remove '%s'", dir);
        if (rmdir(shared) < 0 && errno != ENOENT)
                return vc_error_set(err, errno, "remove '%s'", shared);
        /* the runtime's record of a teardown not finished (kata.pod's PENDING) goes last: until then the
         * teardown can be finished by another command */
        snprintf(path, sizeof path, "%s/teardown.json", dir);
        if (unlink(path) < 0 && errno != ENOENT)
                return vc_error_set(err, errno, "remove '%s'", path);
        if (rmdir(dir) < 0 && errno != ENOENT) {
                int e = errno;
                _cleanup_closedir_ DIR *d = opendir(dir);
                struct dirent *de;
                while (d && (de = readdir(d)) != NULL)
                        if (!STREQ(de->d_name, ".") && !STREQ(de->d_name, ".."))
                                return vc_error_setx(err, e, "remove '%s': '%s' is left in it", dir,
                                                     de->d_name);
                return vc_error_set(err, e, "remove '%s'", dir);
        }
        return 0;
}

/* A directory where a supervisor answers belongs to a running sandbox: a second launch there would
 * overwrite its configuration and, failing, remove its socket. */
static int refuse_live_dir(const char *dir, vc_error_t *err)
{
        _cleanup_free_ char *sock = NULL;
        vc_sandbox_client_t *live = NULL;

        if (asprintf(&sock, "%s/sup.sock", dir) < 0)
                return vc_error_set(err, ENOMEM, "launch");
        if (vc_sandbox_connect(sock, 0, &live, NULL) < 0)
                return 0;
        vc_sandbox_client_free(live);
        return vc_error_setx(err, EBUSY, "sandbox dir '%s' is in use: a supervisor answers on '%s'", dir,
                             sock);
}

int vc_sandbox_launch(const struct vc_sandbox_config *cfg, struct vc_sandbox_info *ret, vc_error_t *err)
{
        struct resolved rs;
        _cleanup_free_ char *config_path = NULL, *sock = NULL;
        _cleanup_(json_object_putp) json_object *cj = NULL, *msg = NULL;
        int created_dir = 0, created_share = 0, eof = 0, r;
        int rp[2] = {-1, -1};
        pid_t mid, sup_pid = 0;
        char buf[4096];
        size_t len = 0;
        int64_t start = vc_now_ms(), deadline;
        const char *accel = NULL;

        r = resolve(cfg, &rs, err);
        if (r < 0)
                goto out;
        r = vc_accel_resolve(cfg->accel, rs.qemu, &accel, err);
        if (r < 0)
                goto out;
        rs.c.accel = accel;
        r = refuse_live_dir(cfg->dir, err);
        if (r < 0)
                goto out;
        if (mkdir(cfg->dir, 0700) == 0)
                created_dir = 1;
        else if (errno != EEXIST) {
                r = vc_error_set(err, errno, "create sandbox dir '%s'", cfg->dir);
                goto out;
        }
        if (mkdir(rs.share_dir, 0700) == 0)
                created_share = 1;
        else if (errno != EEXIST) {
                r = vc_error_set(err, errno, "create share dir '%s'", rs.share_dir);
                goto fail;
        }
        if ((r = vc_sandbox_config_to_json(&rs.c, &cj, err)) < 0 ||
            (r = write_config(cfg->dir, cj, &config_path, err)) < 0)
                goto fail;
        if (pipe2(rp, O_CLOEXEC) < 0) {
                r = vc_error_set(err, errno, "pipe");
                goto fail;
        }
        /* Double fork: the supervisor is reparented to init (or the caller's subreaper) and never becomes
         * a zombie of a long-lived caller; it writes its pid first so that we can kill it on a timeout. */
        mid = fork();
        if (mid < 0) {
                r = vc_error_set(err, errno, "fork");
                goto fail;
        }
        if (mid == 0) {
                pid_t p = fork();
                if (p != 0)
                        _exit(p < 0 ? 1 : 0);
                int null = open("/dev/null", O_RDWR);
                if (null < 0 || dup2(rp[1], 3) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
                    dup2(null, 2) < 0)
                        _exit(127);
                (void)close_range(4, ~0U, 0); /* nothing of the caller's leaks into the daemon */
                char line[160];
                int n = snprintf(line, sizeof line, "pid %d\n", (int)getpid());
                (void)!write(3, line, (size_t)n);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                execl(rs.supervisor, rs.supervisor, "--config", config_path, "--ready-fd", "3", (char *)NULL);
                n = snprintf(line, sizeof line,
                             "{\"ok\":false,\"error\":\"exec kata-supervisor: %s\",\"code\":\"%s\"}\n",
                             strerror(errno), strerrorname_np(errno));
                (void)!write(3, line, (size_t)n);
                _exit(127);
        }
        close(rp[1]);
        rp[1] = -1;
        while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
                ;
        /* the supervisor enforces the boot timeout itself; this one only guards against a hung supervisor */
        deadline = start + (int64_t)rs.c.boot_timeout * 1000 + 5000;
        for (;;) {
                char *nl;
                while ((nl = memchr(buf, '\n', len))) {
                        *nl = '\0';
                        if (strncmp(buf, "pid ", 4) == 0) {
                                sup_pid = (pid_t)atoi(buf + 4);
                        } else if (msg == NULL) {
                                msg = json_tokener_parse(buf);
                        }
                        len -= (size_t)(nl + 1 - buf);
                        memmove(buf, nl + 1, len);
                }
                if (msg)
                        break;
                int64_t left = deadline - vc_now_ms();
                if (left <= 0)
                        break;
                struct pollfd pfd = {.fd = rp[0], .events = POLLIN};
                int n = poll(&pfd, 1, (int)left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                ssize_t k = read(rp[0], buf + len, sizeof buf - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        eof = 1;
                        break;
                }
                len += (size_t)k;
                if (len == sizeof buf - 1)
                        len = 0; /* an over-long line is garbage */
        }
        json_object *v;
        if (msg && json_object_object_get_ex(msg, "ok", &v) && json_object_get_boolean(v)) {
                memset(ret, 0, sizeof *ret);
                ret->pid = json_object_object_get_ex(msg, "pid", &v) ? json_object_get_int(v) : sup_pid;
                ret->qemu_pid = json_object_object_get_ex(msg, "qemu_pid", &v) ? json_object_get_int(v) : 0;
                ret->virtiofsd_pid =
                    json_object_object_get_ex(msg, "virtiofsd_pid", &v) ? json_object_get_int(v) : 0;
                snprintf(ret->accel, sizeof ret->accel, "%s", accel);
                if (asprintf(&ret->socket, "%s/sup.sock", cfg->dir) < 0) {
                        r = vc_error_set(err, ENOMEM, "launch");
                        goto fail;
                }
                ret->boot_ms = (unsigned)(vc_now_ms() - start);
                /* the supervisor's own figures, from its start: what the plan took after the probe */
                if (json_object_object_get_ex(msg, "boot_ms", &v)) {
                        int64_t sup_boot = json_object_get_int64(v);
                        json_object *a;
                        int64_t sup_agent = json_object_object_get_ex(msg, "agent_ms", &a)
                                                ? json_object_get_int64(a)
                                                : sup_boot;
                        if (sup_agent >= 0 && sup_agent <= sup_boot && sup_boot - sup_agent <= ret->boot_ms)
                                ret->agent_ms = ret->boot_ms - (unsigned)(sup_boot - sup_agent);
                }
                r = 0;
                goto out;
        }
        if (msg) {
                json_object *e = NULL, *c = NULL;
                json_object_object_get_ex(msg, "error", &e);
                json_object_object_get_ex(msg, "code", &c);
                r = vc_error_setx(err, c ? vc_errno_from_name(json_object_get_string(c)) : EIO,
                                  "sandbox '%s': %s", cfg->id,
                                  e ? json_object_get_string(e) : "the supervisor failed");
                /* it cleans up after itself and exits: wait for that, then make sure */
                if (sup_pid > 0)
                        (void)vc_proc_wait_gone(sup_pid, 0, 8000);
        } else if (eof) {
                /* the ready fd closes a moment before the process is gone */
                if (sup_pid > 0)
                        (void)vc_proc_wait_gone(sup_pid, 0, 2000);
                r = vc_error_setx(
                    err, EIO,
                    "sandbox '%s': the supervisor exited before it was ready (see %s/supervisor.log)",
                    cfg->id, cfg->dir);
        } else {
                r = vc_error_setx(err, ETIMEDOUT, "sandbox '%s': the supervisor did not report within %u s",
                                  cfg->id, rs.c.boot_timeout + 5);
        }
fail:
        if (sup_pid > 0 && vc_proc_alive(sup_pid, 0)) {
                (void)kill(-sup_pid, SIGKILL); /* its process group: qemu and virtiofsd too */
                (void)kill(sup_pid, SIGKILL);
                (void)vc_proc_wait_gone(sup_pid, 0, 2000);
                (void)umount2(rs.share_dir, MNT_DETACH);
        }
        if (created_share)
                (void)rmdir(rs.share_dir);
        if (created_dir && !cfg->debug)
                rm_rf(cfg->dir);
        else if (config_path) {
                (void)unlink(config_path);
                if (asprintf(&sock, "%s/sup.sock", cfg->dir) >= 0)
                        (void)unlink(sock);
        }
out:
        if (rp[0] >= 0)
                close(rp[0]);
        if (rp[1] >= 0)
                close(rp[1]);
        resolved_free(&rs);
        return r;
}

/* --- blocking client --- */

struct qmsg {
        struct qmsg *next;
        struct vc_sandbox_msg m;
};

struct vc_sandbox_client {
        int fd;
        char *socket;
        struct vc_frame_reader rd;
        uint32_t next_id;
        struct qmsg *head, *tail;
        int eof;
        int timeout_ms; /* of the typed calls (vc/agent.h) */
};

int vc__sandbox_client_timeout(vc_sandbox_client_t *c)
{
        return c->timeout_ms;
}

void vc__sandbox_client_set_timeout(vc_sandbox_client_t *c, int timeout_ms)
{
        c->timeout_ms = timeout_ms;
}

int vc_sandbox_connect(const char *path, int timeout_ms, vc_sandbox_client_t **ret, vc_error_t *err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int64_t deadline = vc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        vc_sandbox_client_t *c;
        int fd;

        if (strlen(path) >= sizeof sa.sun_path)
                return vc_error_setx(err, ENAMETOOLONG, "socket path '%s' is too long", path);
        strcpy(sa.sun_path, path);
        for (;;) {
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return vc_error_set(err, errno, "socket");
                if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
                        break;
                int e = errno;
                close(fd);
                if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) || vc_now_ms() >= deadline)
                        return vc_error_set(err, e, "connect to '%s'", path);
                usleep(20000);
        }
        c = calloc(1, sizeof *c);
        if (c == NULL || (c->socket = strdup(path)) == NULL) {
                free(c);
                close(fd);
                return vc_error_set(err, ENOMEM, "connect");
        }
        c->fd = fd;
        c->next_id = 1;
        c->timeout_ms = 60000;
        vc_frame_reader_init(&c->rd);
        *ret = c;
        return 0;
}

void vc_sandbox_msg_clear(struct vc_sandbox_msg *m)
{
        free(m->data);
        memset(m, 0, sizeof *m);
}

vc_sandbox_client_t *vc_sandbox_client_free(vc_sandbox_client_t *c)
{
        if (c == NULL)
                return NULL;
        while (c->head) {
                struct qmsg *q = c->head;
                c->head = q->next;
                vc_sandbox_msg_clear(&q->m);
                free(q);
        }
        vc_frame_reader_free(&c->rd);
        if (c->fd >= 0)
                close(c->fd);
        free(c->socket);
        free(c);
        return NULL;
}

const char *vc_sandbox_client_socket(const vc_sandbox_client_t *c)
{
        return c->socket;
}

static int queue_frame(vc_sandbox_client_t *c, const struct vc_frame *f)
{
        struct qmsg *q = calloc(1, sizeof *q);
        if (q == NULL || (q->m.data = malloc(f->len + 1)) == NULL) {
                free(q);
                return -ENOMEM;
        }
        memcpy(q->m.data, f->payload, f->len);
        q->m.data[f->len] = '\0';
        q->m.len = f->len;
        q->m.type = f->type;
        q->m.handle = f->type == VC_FRAME_DATA ? f->id : 0;
        q->m.stream = f->stream;
        if (c->tail)
                c->tail->next = q;
        else
                c->head = q;
        c->tail = q;
        return 0;
}

/* Like vc_frame_write_fd, but with MSG_NOSIGNAL: a library must not kill its caller with SIGPIPE when
 * the supervisor has gone away. */
static int send_frame(int fd, uint8_t type, uint8_t stream, uint32_t id, const void *payload, size_t len)
{
        uint8_t hdr[VC_FRAME_HEADER];
        struct iovec iov[2] = {{hdr, VC_FRAME_HEADER}, {(void *)payload, len}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
        size_t total = VC_FRAME_HEADER + len;
        int r = vc_frame_header_encode(hdr, type, stream, id, len);

        if (r < 0)
                return r;
        while (total > 0) {
                ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                total -= (size_t)n;
                while (n > 0 && mh.msg_iovlen > 0) {
                        size_t take = (size_t)n < mh.msg_iov[0].iov_len ? (size_t)n : mh.msg_iov[0].iov_len;
                        mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + take;
                        mh.msg_iov[0].iov_len -= take;
                        n -= (ssize_t)take;
                        if (mh.msg_iov[0].iov_len == 0) {
                                mh.msg_iov++;
                                mh.msg_iovlen--;
                        }
                }
        }
        return 0;
}

/* Read more bytes, waiting until deadline (< 0: forever). 0, -ETIMEDOUT, -EPIPE, other -errno. */
static int fill(vc_sandbox_client_t *c, int64_t deadline)
{
        char buf[65536];
        for (;;) {
                int wait = -1;
                if (c->eof)
                        return -EPIPE;
                if (deadline >= 0) {
                        int64_t left = deadline - vc_now_ms();
                        if (left <= 0)
                                return -ETIMEDOUT;
                        wait = (int)(left > INT_MAX ? INT_MAX : left);
                }
                struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
                int n = poll(&pfd, 1, wait);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ETIMEDOUT;
                ssize_t k = read(c->fd, buf, sizeof buf);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0) {
                        c->eof = 1;
                        return -EPIPE;
                }
                return vc_frame_reader_feed(&c->rd, buf, (size_t)k);
        }
}

static int take_response(vc_sandbox_client_t *c, const char *method, const struct vc_frame *f,
                         json_object **ret_result, vc_error_t *err)
{
        _cleanup_(json_object_putp) json_object *resp = vc_rpc_parse(f->payload, f->len);
        json_object *result = NULL;
        const char *msg = NULL;
        int code = EIO;

        switch (vc_rpc_read_response(resp, &result, &code, &msg)) {
        case 0:
                if (ret_result)
                        *ret_result = json_object_get(result);
                return 0;
        case 1:
                return vc_error_setx(err, code, "%s", msg);
        default:
                return vc_error_setx(err, EPROTO, "%s: invalid response from '%s'", method, c->socket);
        }
}

int vc_sandbox_call(vc_sandbox_client_t *c, const char *method, json_object *params, int timeout_ms,
                    json_object **ret_result, vc_error_t *err)
{
        _cleanup_(json_object_putp) json_object *req = NULL;
        int64_t deadline = timeout_ms < 0 ? -1 : vc_now_ms() + timeout_ms;
        const char *txt;
        size_t len;
        uint32_t id;
        struct vc_frame f;
        int r;

        if (method == NULL || method[0] == '\0')
                return vc_error_setx(err, EINVAL, "empty method");
        if (params && !json_object_is_type(params, json_type_object))
                return vc_error_setx(err, EINVAL, "%s: params are not a JSON object", method);
        req = vc_rpc_request(method, json_object_get(params));
        if (req == NULL || (txt = vc_rpc_text(req, &len)) == NULL)
                return vc_error_set(err, ENOMEM, "%s", method);
        id = c->next_id++;
        if (c->next_id == 0)
                c->next_id = 1;
        r = send_frame(c->fd, VC_FRAME_REQUEST, 0, id, txt, len);
        if (r < 0)
                return vc_error_set(err, r == -EPIPE || r == -ECONNRESET ? EPIPE : -r, "%s: send to '%s'",
                                    method, c->socket);
        for (;;) {
                while ((r = vc_frame_reader_next(&c->rd, &f)) == 1) {
                        if (f.type == VC_FRAME_RESPONSE && f.id == id)
                                return take_response(c, method, &f, ret_result, err);
                        if (f.type == VC_FRAME_EVENT || f.type == VC_FRAME_DATA) {
                                if (queue_frame(c, &f) < 0)
                                        return vc_error_set(err, ENOMEM, "%s", method);
                        }
                        /* responses to earlier calls that timed out are dropped */
                }
                if (r < 0)
                        return vc_error_setx(err, EPROTO, "%s: protocol error from '%s'", method, c->socket);
                r = fill(c, deadline);
                if (r == -ETIMEDOUT)
                        return vc_error_setx(err, ETIMEDOUT, "%s: no answer within %d ms", method,
                                             timeout_ms);
                if (r == -EPIPE)
                        return vc_error_setx(err, EPIPE, "%s: the supervisor closed the connection", method);
                if (r < 0)
                        return vc_error_set(err, -r, "%s: read from '%s'", method, c->socket);
        }
}

int vc_sandbox_read(vc_sandbox_client_t *c, int timeout_ms, struct vc_sandbox_msg *ret, vc_error_t *err)
{
        int64_t deadline = timeout_ms < 0 ? -1 : vc_now_ms() + timeout_ms;
        struct vc_frame f;
        int r;

        for (;;) {
                if (c->head) {
                        struct qmsg *q = c->head;
                        c->head = q->next;
                        if (c->head == NULL)
                                c->tail = NULL;
                        *ret = q->m;
                        free(q);
                        return 0;
                }
                while ((r = vc_frame_reader_next(&c->rd, &f)) == 1)
                        if ((f.type == VC_FRAME_EVENT || f.type == VC_FRAME_DATA) && queue_frame(c, &f) < 0)
                                return vc_error_set(err, ENOMEM, "read");
                if (r < 0)
                        return vc_error_setx(err, EPROTO, "protocol error from '%s'", c->socket);
                if (c->head)
                        continue;
                r = fill(c, deadline);
                if (r == -ETIMEDOUT)
                        return vc_error_setx(err, ETIMEDOUT, "nothing received within %d ms", timeout_ms);
                if (r == -EPIPE)
                        return vc_error_setx(err, EPIPE, "the supervisor closed the connection");
                if (r < 0)
                        return vc_error_set(err, -r, "read from '%s'", c->socket);
        }
}

int vc_sandbox_write(vc_sandbox_client_t *c, uint32_t handle, const void *data, size_t len, vc_error_t *err)
{
        const uint8_t *p = data;
        if (handle == 0)
                return vc_error_setx(err, EINVAL, "handle 0 is not a process");
        do {
                size_t n = len > VC_FRAME_MAX ? VC_FRAME_MAX : len;
                int r = send_frame(c->fd, VC_FRAME_DATA, VC_STREAM_STDIN, handle, p, n);
                if (r < 0)
                        return vc_error_set(err, -r, "write to handle %u", handle);
                p += n;
                len -= n;
        } while (len > 0);
        return 0;
}
