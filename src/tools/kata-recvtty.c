/* kata-recvtty: the engine's side of --console-socket, for trying containers with a terminal by hand and
 * for tests. Listens on SOCKET, takes one connection carrying one pty master (SCM_RIGHTS, the pty name as
 * payload), then copies the master's output to stdout and stdin to the master until the terminal hangs
 * up (the last slave is closed: the shim exited).
 *
 *   kata-recvtty [--name-file FILE] SOCKET
 *
 * SOCKET appears only once it accepts connections (bound under a temporary name, renamed after
 * listen), so a caller may wait for the path to exist. --name-file gets the pty name. Exit status: 0
 * after a hang-up, 1 on failure. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static char tmp_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static const char *sock_path;

static void cleanup(void)
{
        if (tmp_path[0])
                (void)unlink(tmp_path);
        if (sock_path)
                (void)unlink(sock_path);
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
        va_list ap;

        fputs("kata-recvtty: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        cleanup();
        exit(1);
}

static int listen_at(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (snprintf(tmp_path, sizeof tmp_path, "%s.%d", path, (int)getpid()) >= (int)sizeof tmp_path)
                die("socket path '%s' is too long", path);
        memcpy(sa.sun_path, tmp_path, strlen(tmp_path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                die("socket: %s", strerror(errno));
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                die("bind '%s': %s", tmp_path, strerror(errno));
        if (listen(fd, 1) < 0)
                die("listen '%s': %s", tmp_path, strerror(errno));
        if (rename(tmp_path, path) < 0)
                die("rename '%s' to '%s': %s", tmp_path, path, strerror(errno));
        tmp_path[0] = '\0';
        sock_path = path;
        return fd;
}

/* One message, exactly one fd. */
static int receive_master(int conn, char *name, size_t name_len)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } ctl;
        struct iovec iov = {.iov_base = name, .iov_len = name_len - 1};
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
        int fd = -1, nfds = 0;
        ssize_t n;

        do
                n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                die("recvmsg: %s", strerror(errno));
        name[n] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int f;
                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
                        if (fd < 0)
                                fd = f;
                        else
                                close(f);
                        nfds++;
                }
        }
        if (nfds != 1 || (msg.msg_flags & MSG_CTRUNC))
                die("want exactly one fd on the console socket, got %d", nfds);
        if (!isatty(fd))
                die("the fd received is not a terminal");
        return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"name-file", required_argument, NULL, 'n'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        const char *name_file = NULL;
        char name[256], buf[16384];
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
                if (c == 'n') {
                        name_file = optarg;
                } else if (c == 'h') {
                        printf("usage: kata-recvtty [--name-file FILE] SOCKET\n");
                        return 0;
                } else {
                        die("unknown option '%s' (usage: kata-recvtty [--name-file FILE] SOCKET)",
                            argv[optind - 1]);
                }
        }
        if (optind != argc - 1)
                die("want one SOCKET argument (usage: kata-recvtty [--name-file FILE] SOCKET)");
        signal(SIGPIPE, SIG_IGN);

        int lfd = listen_at(argv[optind]);
        int conn;
        do
                conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        while (conn < 0 && errno == EINTR);
        if (conn < 0)
                die("accept: %s", strerror(errno));
        close(lfd);
        cleanup();
        sock_path = NULL;
        int master = receive_master(conn, name, sizeof name);
        close(conn);
        if (name_file) {
                FILE *f = fopen(name_file, "we");
                if (f == NULL || fprintf(f, "%s\n", name) < 0 || fclose(f) != 0)
                        die("write '%s': %s", name_file, strerror(errno));
        }

        bool in_open = true;
        for (;;) {
                struct pollfd p[2] = {{.fd = master, .events = POLLIN},
                                      {.fd = in_open ? 0 : -1, .events = POLLIN}};
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        die("poll: %s", strerror(errno));
                }
                if (p[0].revents) {
                        ssize_t n = read(master, buf, sizeof buf);
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0)
                                break; /* EIO: no slave is open any more */
                        if (write_all(1, buf, (size_t)n) < 0)
                                die("write stdout: %s", strerror(errno));
                }
                if (in_open && p[1].revents) {
                        ssize_t n = read(0, buf, sizeof buf);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                in_open = false; /* the terminal stays: closing it would hang it up */
                        else if (write_all(master, buf, (size_t)n) < 0)
                                die("write '%s': %s", name, strerror(errno));
                }
        }
        close(master);
        return 0;
}
