/* --console-socket: a host pty whose master goes to the engine over SCM_RIGHTS (the runc contract);
 * the shim keeps the slave, proxies it to the process's terminal stream and forwards window sizes. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "shim.h"
#include "util.h"
#include "vc/log.h"

#define WINSIZE_POLL_MS 500

/* Connect to the console socket and send one message: the pty name as payload, the master as the only
 * SCM_RIGHTS fd. */
static int send_master(const char *path, const char *name, int master)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = ctl.buf,
            .msg_controllen = sizeof ctl.buf,
        };
        struct cmsghdr *c;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                if (errno != EINTR)
                        return -errno;
        memset(&ctl, 0, sizeof ctl);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &master, sizeof(int));
        while (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

int shim_winsize(struct shim *s, unsigned short *rows, unsigned short *cols)
{
        struct winsize ws;
        int fd = -1;

        if (s->console) {
                fd = s->console_fd;
        } else if (s->terminal) {
                /* the terminal we were handed: stdin if it is one, else stdout */
                fd = isatty(STDIN_FILENO) ? STDIN_FILENO : isatty(STDOUT_FILENO) ? STDOUT_FILENO : -1;
        }
        if (fd < 0)
                return -ENOTTY;
        if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
                return -errno;
        *rows = ws.ws_row;
        *cols = ws.ws_col;
        return 0;
}

/* SIGWINCH, the fallback poll, and attach: send the size when it is known and has changed. */
void shim_resize_check(struct shim *s)
{
        unsigned short rows, cols;

        if (!s->attached) {
                s->resize_pending = true;
                return;
        }
        if (s->exiting || shim_winsize(s, &rows, &cols) < 0)
                return;
        if (rows == 0 && cols == 0)
                return; /* never set: the process keeps its consoleSize */
        if (rows == s->last_rows && cols == s->last_cols && !s->resize_pending)
                return;
        s->resize_pending = false;
        s->last_rows = rows;
        s->last_cols = cols;
        s->up->resize(s, rows, cols);
}

static void on_winsize_poll(uv_timer_t *t)
{
        shim_resize_check(t->data);
}

int shim_console_setup(struct shim *s)
{
        _cleanup_close_ int master = -1, slave = -1;
        char name[128];
        struct termios tio;
        int r;

        if (openpty(&master, &slave, NULL, NULL, NULL) < 0) {
                r = -errno;
                vc_log(VC_LOG_ERROR, -r, "openpty");
                return r;
        }
        (void)fcntl(master, F_SETFD, FD_CLOEXEC);
        (void)fcntl(slave, F_SETFD, FD_CLOEXEC);
        r = ptsname_r(master, name, sizeof name);
        if (r != 0) {
                vc_log(VC_LOG_ERROR, r, "ptsname");
                return -r;
        }

        /* The process's own terminal is the guest pty, which does echo, line editing and signal keys;
         * the host side must pass bytes through untouched. */
        if (tcgetattr(slave, &tio) < 0 || (cfmakeraw(&tio), tcsetattr(slave, TCSANOW, &tio) < 0)) {
                r = -errno;
                vc_log(VC_LOG_ERROR, -r, "raw mode on '%s'", name);
                return r;
        }

        /* Own the pty as controlling terminal so the kernel sends us SIGWINCH when the engine resizes
         * the master. This happens before the master leaves, so no resize can be missed. */
        if (getsid(0) != getpid() && setsid() < 0)
                vc_log(VC_LOG_INFO, errno, "setsid");
        else if (ioctl(slave, TIOCSCTTY, 0) < 0)
                vc_log(VC_LOG_INFO, errno, "TIOCSCTTY '%s'", name);
        else
                s->console_ctty = true;

        r = send_master(s->console_socket, name, master);
        if (r < 0) {
                vc_log(VC_LOG_ERROR, -r, "send pty master to console socket '%s'", s->console_socket);
                return r;
        }
        vc_debug("sent pty master of '%s' to '%s'", name, s->console_socket);
        (void)close(TAKE_FD(master));

        s->console = malloc(sizeof *s->console);
        if (s->console == NULL)
                return -ENOMEM;
        /* uv_tty_init reopens the slave by name and puts the new description on the same number */
        r = uv_tty_init(s->loop, s->console, slave, 1);
        if (r < 0) {
                free(s->console);
                s->console = NULL;
                vc_log(VC_LOG_ERROR, 0, "console '%s': %s", name, uv_strerror(r));
                return r;
        }
        s->console_fd = TAKE_FD(slave);

        if (!s->console_ctty) {
                /* Without a controlling terminal no SIGWINCH comes (we lead a process group of a
                 * session we cannot leave, e.g. exec'd in place from a shell): poll the size instead. */
                vc_log(VC_LOG_INFO, 0, "no controlling terminal, polling the window size every %d ms",
                       WINSIZE_POLL_MS);
                uv_timer_init(s->loop, &s->winsize_timer);
                s->winsize_timer.data = s;
                uv_timer_start(&s->winsize_timer, on_winsize_poll, WINSIZE_POLL_MS, WINSIZE_POLL_MS);
                uv_unref((uv_handle_t *)&s->winsize_timer);
        }
        return 0;
}
