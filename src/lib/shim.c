/* Starting kata-shim: fork+exec with a ready pipe for `create`, execv in place for a foreground
 * `exec`/`run`.
 *
 * The ready pipe carries one line from the shim: "ok\n" once it is attached to its process, or
 * "error <ENAME> <message>\n" when it could not attach (ENAME an errno name such as ENOENT). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "vc/shim.h"
#include "paths-internal.h"
#include "util.h"
#include "vc/error.h"

#define SHIM_NAME "kata-shim"
#define READY_FD 3
#define DEFAULT_TIMEOUT_MS 10000

static int validate_opts(const struct vc_shim_opts *o, vc_error_t *err)
{
        if (o == NULL)
                return vc_error_setx(err, EINVAL, "shim: no options");
        if (o->socket == NULL || o->socket[0] == '\0')
                return vc_error_setx(err, EINVAL, "shim: supervisor socket is required");
        if (o->container == NULL || o->container[0] == '\0')
                return vc_error_setx(err, EINVAL, "shim: container id is required");
        if (o->exec_id != NULL && o->exec_id[0] == '\0')
                return vc_error_setx(err, EINVAL, "shim: exec id must not be empty");
        if (o->handle == 0)
                return vc_error_setx(err, EINVAL, "shim: process handle must be > 0");
        if (o->console_socket != NULL && o->console_socket[0] == '\0')
                return vc_error_setx(err, EINVAL, "shim: console socket path must not be empty");
        if (o->log_format != NULL && !STREQ(o->log_format, "text") && !STREQ(o->log_format, "json"))
                return vc_error_setx(err, EINVAL, "shim: unknown log format '%s' (want text or json)",
                                     o->log_format);
        return 0;
}

static int executable(const char *path)
{
        return access(path, X_OK) == 0;
}

int vc_shim_path(const struct vc_shim_opts *o, char **ret_path, vc_error_t *err)
{
        char *p = NULL;

        if (o != NULL && o->path != NULL) {
                if (!executable(o->path))
                        return vc_error_set(err, errno, "shim binary '%s'", o->path);
                p = strdup(o->path);
                if (p == NULL)
                        return vc_error_set(err, ENOMEM, "shim path");
                *ret_path = p;
                return 0;
        }
        return vc__companion_path(SHIM_NAME, ret_path, err);
}

struct argv_buf {
        char *v[24];
        int n;
        char handle[16];
        char ready[16];
};

static void build_argv(const struct vc_shim_opts *o, const char *path, int ready_fd, struct argv_buf *a)
{
        a->n = 0;
#define ARG(s) (a->v[a->n++] = (char *)(s))
        ARG(path);
        ARG("--socket");
        ARG(o->socket);
        ARG("--container");
        ARG(o->container);
        if (o->exec_id) {
                ARG("--exec-id");
                ARG(o->exec_id);
        }
        snprintf(a->handle, sizeof a->handle, "%u", (unsigned)o->handle);
        ARG("--handle");
        ARG(a->handle);
        if (o->console_socket) {
                ARG("--console-socket");
                ARG(o->console_socket);
        } else if (o->terminal) {
                ARG("--terminal");
        }
        if (ready_fd >= 0) {
                snprintf(a->ready, sizeof a->ready, "%d", ready_fd);
                ARG("--ready-fd");
                ARG(a->ready);
        }
        if (o->log) {
                ARG("--log");
                ARG(o->log);
        }
        if (o->log_format) {
                ARG("--log-format");
                ARG(o->log_format);
        }
        if (o->debug)
                ARG("--debug");
        a->v[a->n] = NULL;
#undef ARG
}

/* Child side between fork and exec: only async-signal-safe calls. */
static _Noreturn void child_exec(const char *path, char *const argv[], int ready_fd, int netns_fd)
{
        sigset_t all;

        sigemptyset(&all);
        (void)sigprocmask(SIG_SETMASK, &all, NULL);
        if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0) {
                int e = errno;
                char line[256];
                int n = snprintf(line, sizeof line, "error %s setns: %s\n", strerrorname_np(e) ?: "EIO",
                                 strerror(e));
                if (n > 0)
                        (void)!write(ready_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
                _exit(127);
        }
        if (ready_fd != READY_FD) {
                if (dup2(ready_fd, READY_FD) < 0)
                        _exit(127);
        } else if (fcntl(READY_FD, F_SETFD, 0) < 0) {
                _exit(127);
        }
        /* Nothing but stdio and the ready pipe may leak into the long-lived shim: an inherited sandbox
         * lock or socket would stay open for the container's whole life. */
        if (syscall(SYS_close_range, READY_FD + 1, ~0U, 0) < 0) {
                long max = sysconf(_SC_OPEN_MAX);
                for (int fd = READY_FD + 1; fd < (max > 0 ? max : 65536); fd++)
                        (void)close(fd);
        }
        execv(path, argv);
        int e = errno;
        char line[512];
        int n = snprintf(line, sizeof line, "error %s exec '%s': %s\n", strerrorname_np(e) ?: "EIO", path,
                         strerror(e));
        if (n > 0)
                (void)!write(READY_FD, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        _exit(127);
}

/* Read the ready line; 0 on "ok", else a negative errno with err set. *reaped tells whether the shim
 * was already waited for (then its pid must not be signalled again: it may be reused). */
static int read_ready(int fd, pid_t pid, int timeout_ms, int *reaped, vc_error_t *err)
{
        char buf[4096];
        size_t len = 0;
        int64_t deadline = vc_now_ms() + timeout_ms;

        for (;;) {
                int64_t left = deadline - vc_now_ms();
                if (left <= 0)
                        return vc_error_setx(err, ETIMEDOUT, SHIM_NAME " not ready after %d ms", timeout_ms);
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int r = poll(&p, 1, (int)left);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return vc_error_set(err, errno, "poll shim ready pipe");
                }
                if (r == 0)
                        continue;
                ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return vc_error_set(err, errno, "read shim ready pipe");
                }
                len += (size_t)n;
                buf[len] = '\0';
                char *nl = strchr(buf, '\n');
                if (nl == NULL && n > 0 && len < sizeof buf - 1)
                        continue;
                if (nl)
                        *nl = '\0';
                if (STREQ(buf, "ok"))
                        return 0;
                if (strncmp(buf, "error ", 6) == 0) {
                        char *name = buf + 6, *msg = strchr(name, ' ');
                        if (msg != NULL) {
                                *msg++ = '\0';
                                return vc_error_setx(err, vc_errno_from_name(name), "%s", msg);
                        }
                }
                if (len > 0)
                        return vc_error_setx(err, EPROTO, SHIM_NAME ": unexpected ready line '%s'", buf);
                /* EOF without a line: the shim died before it could say why */
                int status;
                pid_t w;
                do
                        w = waitpid(pid, &status, 0);
                while (w < 0 && errno == EINTR);
                *reaped = (w == pid);
                if (w == pid && WIFEXITED(status))
                        return vc_error_setx(err, EPIPE,
                                             SHIM_NAME " exited with status %d before it was ready",
                                             WEXITSTATUS(status));
                if (w == pid && WIFSIGNALED(status))
                        return vc_error_setx(err, EPIPE, SHIM_NAME " killed by signal %d before it was ready",
                                             WTERMSIG(status));
                return vc_error_setx(err, EPIPE, SHIM_NAME " closed its ready pipe without a word");
        }
}

int vc_shim_spawn(const struct vc_shim_opts *o, pid_t *ret_pid, vc_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int rd = -1, wr = -1, nsfd = -1;
        struct argv_buf a;
        int pipefd[2], r;

        r = validate_opts(o, err);
        if (r < 0)
                return r;
        r = vc_shim_path(o, &path, err);
        if (r < 0)
                return r;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return vc_error_set(err, errno, "shim ready pipe");
        rd = pipefd[0];
        wr = pipefd[1];
        /* keep the pipe off stdio numbers in case the caller runs with 0, 1 or 2 closed */
        if (wr < READY_FD) {
                int fd = fcntl(wr, F_DUPFD_CLOEXEC, READY_FD);
                if (fd < 0)
                        return vc_error_set(err, errno, "shim ready pipe");
                (void)close(wr);
                wr = fd;
        }
        if (o->netns) {
                nsfd = open(o->netns, O_RDONLY | O_CLOEXEC);
                if (nsfd < 0)
                        return vc_error_set(err, errno, "shim netns '%s'", o->netns);
        }
        build_argv(o, path, READY_FD, &a);

        pid_t pid = fork();
        if (pid < 0)
                return vc_error_set(err, errno, "fork " SHIM_NAME);
        if (pid == 0)
                child_exec(path, a.v, wr, nsfd);
        (void)close(TAKE_FD(wr));

        int reaped = 0;
        r = read_ready(rd, pid, o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS, &reaped, err);
        if (r < 0) {
                /* no half-started shim left behind */
                if (!reaped) {
                        (void)kill(pid, SIGKILL);
                        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                }
                return vc_error_wrap(err, "start " SHIM_NAME);
        }
        *ret_pid = pid;
        return 0;
}

int vc_shim_exec(const struct vc_shim_opts *o, vc_error_t *err)
{
        _cleanup_free_ char *path = NULL;
        struct argv_buf a;
        int r;

        r = validate_opts(o, err);
        if (r < 0)
                return r;
        r = vc_shim_path(o, &path, err);
        if (r < 0)
                return r;
        build_argv(o, path, -1, &a);
        execv(path, a.v);
        return vc_error_set(err, errno, "exec '%s'", path);
}
