#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "vc/proc.h"

/* Fields of /proc/<pid>/stat after the command name, which may itself hold spaces and parentheses:
 * parse from the last ')'. */
int vc_proc_stat(pid_t pid, struct vc_proc_stat *ret, vc_error_t *err)
{
        char path[64], buf[1024], *save = NULL;
        _cleanup_close_ int fd = -1;
        struct vc_proc_stat st = {0};
        ssize_t n;
        int field = 2;

        if (pid <= 0)
                return vc_error_setx(err, EINVAL, "invalid pid %d", (int)pid);
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return vc_error_set(err, errno, "open '%s'", path);
        n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return vc_error_set(err, n < 0 ? errno : EIO, "read '%s'", path);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (p == NULL)
                return vc_error_setx(err, EPROTO, "%s: malformed", path);
        for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                field++;
                if (field == 3)
                        st.state = tok[0];
                else if (field == 4)
                        st.ppid = (pid_t)strtol(tok, NULL, 10);
                else if (field == 9)
                        st.flags = strtoul(tok, NULL, 10);
                else if (field == 22) {
                        st.start_time = strtoull(tok, NULL, 10);
                        break;
                }
        }
        if (field != 22)
                return vc_error_setx(err, EPROTO, "%s: malformed", path);
        *ret = st;
        return 0;
}

int vc_proc_start_time(pid_t pid, unsigned long long *ret, vc_error_t *err)
{
        struct vc_proc_stat st;
        int r = vc_proc_stat(pid, &st, err);
        if (r < 0)
                return r;
        *ret = st.start_time;
        return 0;
}

int vc_proc_alive(pid_t pid, unsigned long long start_time)
{
        struct vc_proc_stat st;
        if (vc_proc_stat(pid, &st, NULL) < 0)
                return 0;
        if (st.state == 'Z' || st.state == 'X')
                return 0;
        return start_time == 0 || st.start_time == start_time;
}

int vc_proc_wait_gone(pid_t pid, unsigned long long start_time, int timeout_ms)
{
        int64_t deadline = vc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        _cleanup_close_ int fd = -1;

        if (!vc_proc_alive(pid, start_time))
                return 1;
        /* A pidfd polls readable when the process exits, child or not: no sleeping between checks. It
         * may name a newer process that took the pid, so the identity is checked once it is open. */
        fd = pidfd_open(pid, 0);
        if (fd >= 0 && !vc_proc_alive(pid, start_time))
                return 1;
        for (;;) {
                int64_t left = deadline - vc_now_ms();
                if (left <= 0)
                        return !vc_proc_alive(pid, start_time);
                if (fd >= 0) {
                        struct pollfd p = {.fd = fd, .events = POLLIN};
                        int n = poll(&p, 1, (int)left);
                        if (n > 0)
                                return 1;
                        if (n < 0 && errno != EINTR) {
                                close(fd); /* fall back to looking at /proc */
                                fd = -1;
                        }
                } else {
                        /* no pidfd (kernel before 5.3, or a seccomp filter): look every 5 ms */
                        if (!vc_proc_alive(pid, start_time))
                                return 1;
                        (void)poll(NULL, 0, left < 5 ? (int)left : 5);
                }
        }
}

int vc_proc_kill(pid_t pid, int signo, vc_error_t *err)
{
        if (pid <= 0)
                return vc_error_setx(err, EINVAL, "kill: pid %d is not a process", (int)pid);
        if (kill(pid, signo) < 0)
                return vc_error_set(err, errno, "kill %d", (int)pid);
        return 0;
}

int vc_proc_wait(pid_t pid, int *ret_status, vc_error_t *err)
{
        int status;

        if (pid <= 0)
                return vc_error_setx(err, EINVAL, "waitpid: pid %d is not a process", (int)pid);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return vc_error_set(err, errno, "waitpid %d", (int)pid);
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return 0;
}

int vc_proc_reap(void)
{
        int n = 0, status;

        while (waitpid(-1, &status, WNOHANG) > 0)
                n++;
        return n;
}

int vc_proc_set_subreaper(bool on, vc_error_t *err)
{
        if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) < 0)
                return vc_error_set(err, errno, "prctl(PR_SET_CHILD_SUBREAPER)");
        return 0;
}

/* The grandchild's side of vc_proc_spawn_detached: report its pid, then exec; on failure report the errno
 * through the same pipe (closed on a successful exec). Only async-signal-safe calls after fork. */
static _Noreturn void detached_exec(const char *const *argv, int report)
{
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigset_t none;
        pid_t self = getpid();
        int e;

        for (int sig = 1; sig < NSIG; sig++)
                (void)sigaction(sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and the gaps */
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                goto fail;
        if (write(report, &self, sizeof self) != sizeof self)
                _exit(127);
        execv(argv[0], (char *const *)argv);
fail:
        e = errno;
        (void)!write(report, &e, sizeof e);
        _exit(127);
}

int vc_proc_spawn_detached(const char *const *argv, pid_t *ret, vc_error_t *err)
{
        _cleanup_close_ int rd = -1, wr = -1;
        int fds[2], status, e = 0;
        pid_t mid, pid = 0;
        ssize_t n;

        if (argv == NULL || argv[0] == NULL || argv[0][0] != '/')
                return vc_error_setx(err, EINVAL, "spawn: the program must be an absolute path");
        if (pipe2(fds, O_CLOEXEC) < 0)
                return vc_error_set(err, errno, "spawn '%s': pipe", argv[0]);
        rd = fds[0];
        wr = fds[1];
        mid = fork();
        if (mid < 0)
                return vc_error_set(err, errno, "spawn '%s': fork", argv[0]);
        if (mid == 0) {
                (void)close(rd);
                if (setsid() < 0)
                        _exit(127);
                pid_t p = fork();
                if (p == 0)
                        detached_exec(argv, wr);
                _exit(p < 0 ? 127 : 0); /* the grandchild goes to init (or the nearest subreaper) */
        }
        (void)close(TAKE_FD(wr)); /* the grandchild's copy alone keeps the pipe open */
        while (waitpid(mid, &status, 0) < 0)
                if (errno != EINTR)
                        return vc_error_set(err, errno, "spawn '%s': waitpid", argv[0]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return vc_error_setx(err, ECHILD, "spawn '%s': could not start a session of its own",
                                     argv[0]);
        do
                n = read(rd, &pid, sizeof pid);
        while (n < 0 && errno == EINTR);
        if (n != sizeof pid || pid <= 0)
                return vc_error_setx(err, ECHILD, "spawn '%s': the process did not start", argv[0]);
        do
                n = read(rd, &e, sizeof e);
        while (n < 0 && errno == EINTR);
        if (n == sizeof e)
                return vc_error_set(err, e, "spawn '%s'", argv[0]);
        *ret = pid;
        return 0;
}
