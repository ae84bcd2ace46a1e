/* OCI hooks: spawn, feed the state, capture bounded output, enforce the timeout.
 *
 * We fork ourselves instead of using uv_spawn(): a hook may have to run inside a network namespace, and
 * uv_spawn offers no way to call setns(2) between fork and exec. libuv still does all the waiting: the
 * stdout/stderr pipes are uv_pipe handles, the child's exit is a uv_poll on its pidfd (a uv_signal on
 * SIGCHLD where clone3(2) is missing: kernels before 5.3, valgrind) and the timeout is a uv_timer, all
 * on a private loop that lives for one call. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h> /* struct clone_args: glibc 2.36 has no clone3() wrapper */
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"
#include "vc/hook.h"
#include "vc/log.h"
#include "vc/netns.h"

/* Steps of the child before exec; reported back over the exec-error pipe. */
enum child_step { STEP_SETNS = 1, STEP_CHDIR, STEP_STDIO, STEP_EXEC };

struct child_report {
        int step;
        int errnum;
};

/* Everything the child needs, prepared before fork: between fork and exec the child may only make
 * async-signal-safe calls (the caller can be multithreaded), so nothing is allocated there. */
struct child_args {
        const char *path;
        char *const *argv;
        char *const *envp;
        int stdin_fd, stdout_fd, stderr_fd, report_fd;
        int netns_fd;
        const char *cwd;
};

struct capture {
        uv_pipe_t pipe;
        char *buf;
        size_t len, cap;
        bool truncated, open;
        size_t *progress; /* bytes read, for the drain after exit */
};

struct run {
        uv_loop_t loop;
        uv_poll_t exit_poll;     /* on the pidfd ... */
        uv_signal_t sigchld;     /* ... or, without pidfds, on SIGCHLD */
        uv_handle_t *exit_watch; /* whichever of the two is in use */
        uv_timer_t timer;
        struct capture out, err;
        pid_t pid;
        bool exited, killed, status_lost;
        int status;
        size_t progress;
        char scratch[16 * 1024];
};

static _Noreturn void child_fail(int report_fd, int step)
{
        struct child_report r = {step, errno};
        ssize_t _unused_ n = write(report_fd, &r, sizeof r);
        _exit(127);
}

static _Noreturn void child_exec(const struct child_args *a)
{
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigset_t none;
        int fds[3] = {a->stdin_fd, a->stdout_fd, a->stderr_fd};

        /* A clean slate for the hook: default dispositions, nothing blocked, its own process group
         * (so a timeout can kill everything it started). */
        for (int sig = 1; sig < NSIG; sig++)
                (void)sigaction(sig, &dfl, NULL);
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        (void)setpgid(0, 0);

        if (a->netns_fd >= 0 && vc_netns_enter_fd(a->netns_fd, NULL, NULL) < 0)
                child_fail(a->report_fd, STEP_SETNS);
        if (a->cwd && chdir(a->cwd) < 0)
                child_fail(a->report_fd, STEP_CHDIR);

        /* Move the three sources above 2 first, so dup2 cannot overwrite one with another. */
        for (int i = 0; i < 3; i++) {
                fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (fds[i] < 0)
                        child_fail(a->report_fd, STEP_STDIO);
        }
        for (int i = 0; i < 3; i++)
                if (dup2(fds[i], i) < 0)
                        child_fail(a->report_fd, STEP_STDIO);
        /* The caller's fds without O_CLOEXEC must not leak into the hook. */
        (void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

        execve(a->path, a->argv, a->envp);
        child_fail(a->report_fd, STEP_EXEC);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct run *r = h->loop->data;
        *buf = uv_buf_init(r->scratch, sizeof r->scratch);
}

static void capture_append(struct capture *c, const char *p, size_t n)
{
        size_t room = VC_HOOK_OUTPUT_MAX - c->len;

        if (n > room) {
                c->truncated = true;
                n = room;
        }
        if (n == 0)
                return;
        if (c->len + n > c->cap) {
                size_t cap = c->cap ? c->cap : 4096;
                while (cap < c->len + n)
                        cap *= 2;
                if (cap > VC_HOOK_OUTPUT_MAX)
                        cap = VC_HOOK_OUTPUT_MAX;
                char *b = realloc(c->buf, cap);
                if (b == NULL) { /* keep what we have; the rest counts as dropped */
                        c->truncated = true;
                        return;
                }
                c->buf = b;
                c->cap = cap;
        }
        memcpy(c->buf + c->len, p, n);
        c->len += n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        struct capture *c = s->data;

        if (nread > 0) {
                capture_append(c, buf->base, (size_t)nread);
                *c->progress += (size_t)nread;
        } else if (nread < 0) { /* UV_EOF, or an error that ends the stream just the same */
                c->open = false;
                uv_close((uv_handle_t *)s, NULL);
        }
}

static void check_exit(struct run *r)
{
        int st = 0;
        pid_t w = waitpid(r->pid, &st, WNOHANG);

        if (w == 0 || (w < 0 && errno == EINTR))
                return; /* not yet */
        r->exited = true;
        /* ECHILD: the status went elsewhere (SIGCHLD set to SIG_IGN reaps children automatically) */
        r->status_lost = w < 0;
        r->status = st;
        uv_close(r->exit_watch, NULL);
        uv_close((uv_handle_t *)&r->timer, NULL);
}

static void on_pidfd(uv_poll_t *p, int status, int events)
{
        check_exit(p->data);
}

static void on_sigchld(uv_signal_t *s, int signum)
{
        check_exit(s->data); /* any child's SIGCHLD: waitpid tells whether it was ours */
}

/* fork(2) that also hands back a pidfd for the child, taken in the same system call (clone3 with
 * CLONE_PIDFD). A pidfd_open(2) after fork can come too late: with SIGCHLD ignored the kernel reaps a
 * child that exits at once, and its pid may even be reused by then. *pidfd is -1 where clone3 is missing
 * (kernels before 5.3, valgrind); the caller then watches SIGCHLD. The child only calls async-signal-safe
 * functions before execve, so skipping glibc's fork handlers is harmless. */
static pid_t fork_with_pidfd(int *pidfd)
{
        struct clone_args ca = {
            .flags = CLONE_PIDFD,
            .pidfd = (uint64_t)(uintptr_t)pidfd,
            .exit_signal = SIGCHLD,
        };
        pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);

        if (pid >= 0 || errno != ENOSYS)
                return pid;
        *pidfd = -1;
        return fork();
}

/* Start watching for the child's exit: on its pidfd when there is one, else on SIGCHLD. */
static int watch_exit(struct run *r, int pidfd, vc_error_t *err)
{
        int e;

        if (pidfd >= 0) {
                r->exit_poll.data = r;
                e = uv_poll_init(&r->loop, &r->exit_poll, pidfd);
                if (e < 0)
                        return vc_error_set(err, -e, "uv_poll_init");
                r->exit_watch = (uv_handle_t *)&r->exit_poll;
                e = uv_poll_start(&r->exit_poll, UV_READABLE, on_pidfd);
                return e < 0 ? vc_error_set(err, -e, "uv_poll_start") : 0;
        }
        r->sigchld.data = r;
        e = uv_signal_init(&r->loop, &r->sigchld);
        if (e < 0)
                return vc_error_set(err, -e, "uv_signal_init");
        r->exit_watch = (uv_handle_t *)&r->sigchld;
        e = uv_signal_start(&r->sigchld, on_sigchld, SIGCHLD);
        if (e < 0)
                return vc_error_set(err, -e, "uv_signal_start");
        check_exit(r); /* it may have exited before the watcher was in place */
        return 0;
}

static void on_timeout(uv_timer_t *t)
{
        struct run *r = t->data;

        /* The whole process group: a hook that started children must not leave them behind. */
        if (kill(-r->pid, SIGKILL) == 0)
                r->killed = true;
}

/* Finish a captured buffer: marker when truncated, NUL terminator. */
static int capture_finish(struct capture *c)
{
        size_t extra = (c->truncated ? strlen(VC_HOOK_TRUNCATED_MARKER) : 0) + 1;
        char *b = realloc(c->buf, c->len + extra);

        if (b == NULL)
                return -ENOMEM;
        c->buf = b;
        if (c->truncated) {
                memcpy(c->buf + c->len, VC_HOOK_TRUNCATED_MARKER, extra - 1);
                c->len += extra - 1;
        }
        c->buf[c->len] = '\0';
        return 0;
}

/* Text of a captured stream for an error message: trailing white space trimmed. */
static int trimmed_len(const struct capture *c)
{
        size_t n = c->len;
        while (n > 0 && strchr(" \t\r\n", c->buf[n - 1]))
                n--;
        return (int)n;
}

static const char *step_name(int step)
{
        switch (step) {
        case STEP_SETNS:
                return "setns";
        case STEP_CHDIR:
                return "chdir";
        case STEP_STDIO:
                return "set up stdio";
        default:
                return "exec";
        }
}

static int validate(const struct vc_hook *h, const char *kind, size_t index, vc_error_t *err)
{
        const char *sp = kind ? " " : "";

        kind = kind ? kind : "";
        if (h->path == NULL || h->path[0] == '\0')
                return vc_error_setx(err, EINVAL, "invalid %s%shook #%zu: path is empty", kind, sp, index);
        if (h->path[0] != '/')
                return vc_error_setx(err, EINVAL, "invalid %s%shook #%zu: path '%s' is not absolute", kind,
                                     sp, index, h->path);
        if (h->has_timeout && h->timeout <= 0)
                return vc_error_setx(err, EINVAL,
                                     "invalid %s%shook #%zu: timeout must be greater than zero, got %d", kind,
                                     sp, index, h->timeout);
        return 0;
}

/* A fd for the hook's stdin holding the state. A memfd rather than a pipe: a hook may exit without reading
 * its stdin, and writing into a pipe nobody reads raises SIGPIPE in the caller (the Lua interpreter does
 * not ignore it); a file also needs no feeding from the loop, whatever its size. */
static int state_fd(const char *state, size_t len, vc_error_t *err)
{
        _cleanup_close_ int fd = -1;

        if (state == NULL) {
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return vc_error_set(err, errno, "open '/dev/null'");
                return TAKE_FD(fd);
        }
        fd = memfd_create("vc-hook-state", MFD_CLOEXEC);
        if (fd < 0)
                return vc_error_set(err, errno, "memfd_create");
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, state + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return vc_error_set(err, errno, "write state");
                off += (size_t)n;
        }
        if (lseek(fd, 0, SEEK_SET) < 0)
                return vc_error_set(err, errno, "lseek state");
        return TAKE_FD(fd);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
        if (!uv_is_closing(h))
                uv_close(h, NULL);
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -1;
}

/* Start one end of a capture: the loop owns the fd from here on. */
static int capture_open(struct run *r, struct capture *c, int *fd, vc_error_t *err)
{
        int e;

        c->progress = &r->progress;
        c->pipe.data = c;
        e = uv_pipe_init(&r->loop, &c->pipe, 0);
        if (e < 0)
                return vc_error_set(err, -e, "uv_pipe_init");
        e = uv_pipe_open(&c->pipe, *fd);
        if (e < 0) {
                uv_close((uv_handle_t *)&c->pipe, NULL);
                return vc_error_set(err, -e, "uv_pipe_open");
        }
        *fd = -1;
        c->open = true;
        return 0;
}

static int run_one(const struct vc_hook *h, const struct vc_hook_opts *o, int netns_fd, size_t index,
                   struct vc_hook_output *ret_output, vc_error_t *err)
{
        static char *const empty_env[] = {NULL};
        const char *argv0[] = {h->path, NULL};
        const char *kind = o->kind ? o->kind : "", *sp = o->kind ? " " : "";
        _cleanup_free_ struct run *r = NULL;
        int in_fd = -1, pidfd = -1, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, rep_p[2] = {-1, -1};
        bool loop_ok = false, reaped = true, complete = false; /* complete: err already names the hook */
        struct child_report rep = {0, 0};
        _cleanup_free_ char *why = NULL;
        int e, ret, ecode = 0;

        r = calloc(1, sizeof *r);
        if (r == NULL)
                return vc_error_set(err, ENOMEM, "error running %s%shook #%zu: allocate", kind, sp, index);
        e = uv_loop_init(&r->loop);
        if (e < 0) {
                ret = vc_error_set(err, -e, "uv_loop_init");
                goto out;
        }
        loop_ok = true;
        r->loop.data = r;

        ret = in_fd = state_fd(o->state, o->state_len, err);
        if (ret < 0)
                goto out;
        if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 || pipe2(rep_p, O_CLOEXEC) < 0) {
                ret = vc_error_set(err, errno, "pipe2");
                goto out;
        }
        ret = capture_open(r, &r->out, &out_p[0], err);
        if (ret < 0)
                goto out;
        ret = capture_open(r, &r->err, &err_p[0], err);
        if (ret < 0)
                goto out;
        uv_timer_init(&r->loop, &r->timer);
        r->timer.data = r;

        struct child_args a = {
            .path = h->path,
            .argv = (char *const *)(h->args && h->args[0] ? h->args : argv0),
            .envp = (char *const *)(h->env ? h->env : (const char *const *)empty_env),
            .stdin_fd = in_fd,
            .stdout_fd = out_p[1],
            .stderr_fd = err_p[1],
            .report_fd = rep_p[1],
            .netns_fd = netns_fd,
            .cwd = o->cwd,
        };
        r->pid = fork_with_pidfd(&pidfd);
        if (r->pid < 0) {
                pidfd = -1;
                ret = vc_error_set(err, errno, "fork");
                goto out;
        }
        if (r->pid == 0)
                child_exec(&a);
        reaped = false;
        /* Also from this side, so that a timeout firing before the child ran still finds the group. */
        (void)setpgid(r->pid, r->pid);
        close_fd(&in_fd);
        close_fd(&out_p[1]);
        close_fd(&err_p[1]);
        close_fd(&rep_p[1]);

        ret = watch_exit(r, pidfd, err);
        if (ret < 0)
                goto out;
        e = uv_read_start((uv_stream_t *)&r->out.pipe, on_alloc, on_read);
        if (e >= 0)
                e = uv_read_start((uv_stream_t *)&r->err.pipe, on_alloc, on_read);
        if (e >= 0 && h->has_timeout && !r->exited)
                e = uv_timer_start(&r->timer, on_timeout, (uint64_t)h->timeout * 1000, 0);
        if (e < 0) {
                ret = vc_error_set(err, -e, "start waiting for hook");
                goto out;
        }

        while (!r->exited)
                if (uv_run(&r->loop, UV_RUN_ONCE) == 0 && !r->exited)
                        break; /* nothing left to wait on: cannot happen while the exit watch is active */
        if (!r->exited) {
                ret = vc_error_setx(err, EIO, "lost track of the hook process");
                goto out;
        }
        reaped = true;

        /* The hook is gone; take what is still buffered in the pipes without waiting for EOF, which a
         * background child of the hook holding the pipes open could delay forever. */
        for (int round = 0; round < 64 && (r->out.open || r->err.open); round++) {
                r->progress = 0;
                uv_run(&r->loop, UV_RUN_NOWAIT);
                if (r->progress == 0)
                        break;
        }

        /* Nothing was written when exec succeeded: the write end closed on exec. */
        while (read(rep_p[0], &rep, sizeof rep) < 0 && errno == EINTR)
                ;
        if (capture_finish(&r->out) < 0 || capture_finish(&r->err) < 0) {
                ret = vc_error_set(err, ENOMEM, "capture output");
                goto out;
        }

        if (rep.step != 0) {
                ecode = rep.errnum ? rep.errnum : EIO;
                if (rep.step == STEP_EXEC || rep.step == STEP_CHDIR)
                        e = asprintf(&why, "%s '%s': %s", step_name(rep.step),
                                     rep.step == STEP_EXEC ? h->path : o->cwd, strerror(ecode));
                else
                        e = asprintf(&why, "%s: %s", step_name(rep.step), strerror(ecode));
        } else if (r->status_lost) {
                ecode = ECHILD;
                e = asprintf(&why, "exit status lost: %s", strerror(ECHILD));
        } else if (r->killed && WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGKILL) {
                ecode = ETIMEDOUT;
                e = asprintf(&why, "hook ran past specified timeout of %ds", h->timeout);
        } else if (WIFSIGNALED(r->status)) {
                const char *d = sigdescr_np(WTERMSIG(r->status));
                ecode = EIO;
                e = d ? asprintf(&why, "signal: %c%s", (char)tolower((unsigned char)d[0]), d + 1)
                      : asprintf(&why, "signal: %d", WTERMSIG(r->status));
        } else if (WEXITSTATUS(r->status) != 0) {
                ecode = EIO;
                e = asprintf(&why, "exit status %d", WEXITSTATUS(r->status));
        }
        if (ecode != 0) {
                int nerr = trimmed_len(&r->err), nout = trimmed_len(&r->out);
                ret = vc_error_setx(err, ecode, "error running %s%shook #%zu: %s%s%.*s%s%.*s", kind, sp,
                                    index, e < 0 ? "failed" : why, nerr ? ", stderr: " : "", nerr, r->err.buf,
                                    nout ? ", stdout: " : "", nout, r->out.buf);
                complete = true;
                goto out;
        }

        vc_debug("%s%shook #%zu '%s' exited with status 0", kind, sp, index, h->path);
        if (ret_output) {
                ret_output->out = TAKE_PTR(r->out.buf);
                ret_output->out_len = r->out.len;
                ret_output->err = TAKE_PTR(r->err.buf);
                ret_output->err_len = r->err.len;
        }
        ret = 0;
out:
        if (ret < 0 && !complete)
                (void)vc_error_wrap(err, "error running %s%shook #%zu", kind, sp, index);
        if (!reaped) {
                (void)kill(-r->pid, SIGKILL);
                (void)kill(r->pid, SIGKILL);
                while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        if (loop_ok) {
                uv_walk(&r->loop, close_walk_cb, NULL);
                uv_run(&r->loop, UV_RUN_DEFAULT); /* only close callbacks are left */
                (void)uv_loop_close(&r->loop);
        }
        if (r) {
                free(r->out.buf);
                free(r->err.buf);
        }
        close_fd(&pidfd);
        close_fd(&in_fd);
        for (int i = 0; i < 2; i++) {
                close_fd(&out_p[i]);
                close_fd(&err_p[i]);
                close_fd(&rep_p[i]);
        }
        return ret;
}

void vc_hook_output_release(struct vc_hook_output *o)
{
        if (o == NULL)
                return;
        free(o->out);
        free(o->err);
        memset(o, 0, sizeof *o);
}

/* The namespace the hooks run in, opened once: *ret_fd is -1 when none was asked for. */
static int hook_netns(const struct vc_hook_opts *o, vc_netns_t **ret_ns, int *ret_fd, vc_error_t *err)
{
        int r;

        *ret_fd = o->netns == NULL && o->netns_fd >= 0 ? o->netns_fd : -1;
        if (o->netns == NULL)
                return 0;
        r = vc_netns_open(o->netns, ret_ns, err);
        if (r < 0)
                return r;
        *ret_fd = vc_netns_fd(*ret_ns);
        return 0;
}

int vc_hook_run(const struct vc_hook *hook, const struct vc_hook_opts *opts,
                struct vc_hook_output *ret_output, vc_error_t *err)
{
        _cleanup_(vc_netns_freep) vc_netns_t *ns = NULL;
        int r, fd;

        r = validate(hook, opts->kind, opts->index, err);
        if (r < 0)
                return r;
        r = hook_netns(opts, &ns, &fd, err);
        if (r < 0)
                return vc_error_wrap(err, "error running %s%shook #%zu", opts->kind ? opts->kind : "",
                                     opts->kind ? " " : "", opts->index);
        return run_one(hook, opts, fd, opts->index, ret_output, err);
}

int vc_hook_run_list(const struct vc_hook *hooks, size_t n, const struct vc_hook_opts *opts,
                     struct vc_hook_output *ret_outputs, size_t *ret_failed, vc_error_t *err)
{
        _cleanup_(vc_netns_freep) vc_netns_t *ns = NULL;
        size_t i;
        int r, fd;

        for (i = 0; i < n; i++) {
                r = validate(&hooks[i], opts->kind, i, err);
                if (r < 0)
                        goto fail;
        }
        if (n == 0)
                return 0;
        i = 0;
        r = hook_netns(opts, &ns, &fd, err);
        if (r < 0) {
                r = vc_error_wrap(err, "error running %s%shook #0", opts->kind ? opts->kind : "",
                                  opts->kind ? " " : "");
                goto fail;
        }
        for (i = 0; i < n; i++) {
                r = run_one(&hooks[i], opts, fd, i, ret_outputs ? &ret_outputs[i] : NULL, err);
                if (r < 0) {
                        if (ret_outputs)
                                for (size_t j = 0; j < i; j++)
                                        vc_hook_output_release(&ret_outputs[j]);
                        goto fail;
                }
        }
        return 0;
fail:
        if (ret_failed)
                *ret_failed = i;
        return r;
}
