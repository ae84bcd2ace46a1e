/* kata-shim against a peer that plays the supervisor's side of docs/agent-protocol.md over a unix
 * socket: the real binary, real pipes, a real pty; the peer is this test, so it can check every frame
 * the shim sends and script every frame it receives. Also vc_shim_spawn. TAP output. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <pty.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <json-c/json.h>

#include "frame.h"
#include "vc/error.h"
#include "vc/shim.h"

#define TIMEOUT_MS 5000
#define HANDLE 7

static char tmpdir[64];
static char sup_path[128];
static char console_path[128];
static char shim_bin[4096];
static int failures;

#define FAIL(...)                                                                                            \
        do {                                                                                                 \
                printf("# %s:%d: ", __FILE__, __LINE__);                                                     \
                printf(__VA_ARGS__);                                                                         \
                printf("\n");                                                                                \
                return -1;                                                                                   \
        } while (0)
#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (!(cond))                                                                                 \
                        FAIL("check failed: %s", #cond);                                                     \
        } while (0)

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_readable(int fd, int timeout_ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r;
        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        return r;
}

static int listen_unix(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        strcpy(sa.sun_path, path);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
                printf("# listen '%s': %s\n", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

static int accept_timeout(int lfd)
{
        if (wait_readable(lfd, TIMEOUT_MS) <= 0)
                return -1;
        return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* --- the supervisor side of the protocol --- */

struct peer {
        int lfd, fd;
        struct vc_frame_reader r;
        uint8_t type, stream;
        uint32_t id;
        char *data; /* last frame's payload, NUL-terminated copy */
        size_t len;
};

static int peer_next(struct peer *p, int timeout_ms)
{
        int64_t deadline = now_ms() + timeout_ms;
        struct vc_frame f;
        char buf[65536];

        for (;;) {
                int r = vc_frame_reader_next(&p->r, &f);
                if (r < 0)
                        FAIL("protocol error from shim: %s", strerror(-r));
                if (r == 1) {
                        free(p->data);
                        p->data = malloc(f.len + 1);
                        memcpy(p->data, f.payload, f.len);
                        p->data[f.len] = '\0';
                        p->len = f.len;
                        p->type = f.type;
                        p->stream = f.stream;
                        p->id = f.id;
                        return 0;
                }
                int64_t left = deadline - now_ms();
                if (left <= 0 || wait_readable(p->fd, (int)left) <= 0)
                        FAIL("no frame from shim within %d ms", timeout_ms);
                ssize_t n = read(p->fd, buf, sizeof buf);
                if (n <= 0)
                        FAIL("shim closed the connection (%zd)", n);
                vc_frame_reader_feed(&p->r, buf, (size_t)n);
        }
}

/* Next request; its params object is returned (owned by *ret_obj). */
static int peer_request(struct peer *p, const char *method, json_object **ret_obj, json_object **ret_params)
{
        json_object *o, *m, *params = NULL;

        if (peer_next(p, TIMEOUT_MS) < 0)
                return -1;
        if (p->type != VC_FRAME_REQUEST)
                FAIL("want a request '%s', got frame type %d", method, p->type);
        o = json_tokener_parse(p->data);
        if (o == NULL || !json_object_object_get_ex(o, "method", &m) ||
            strcmp(json_object_get_string(m), method)) {
                json_object_put(o);
                FAIL("want request '%s', got '%s'", method, p->data);
        }
        json_object_object_get_ex(o, "params", &params);
        *ret_obj = o;
        *ret_params = params;
        return 0;
}

static int64_t jint(json_object *o, const char *k)
{
        json_object *v;
        if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
                return -1;
        return json_object_get_int64(v);
}

static const char *jstr(json_object *o, const char *k)
{
        json_object *v;
        if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int peer_send(struct peer *p, uint8_t type, uint8_t stream, uint32_t id, const char *payload,
                     size_t len)
{
        int r = vc_frame_write_fd(p->fd, type, stream, id, payload, len);
        if (r < 0)
                FAIL("write frame: %s", strerror(-r));
        return 0;
}

static int peer_json(struct peer *p, uint8_t type, uint32_t id, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        return peer_send(p, type, 0, id, buf, strlen(buf));
}

static int peer_exit(struct peer *p, int status)
{
        return peer_json(
            p, VC_FRAME_EVENT, 0,
            "{\"event\":\"exit\",\"params\":{\"handle\":%d,\"id\":\"c1\",\"exec_id\":\"\",\"status\":%d}}",
            HANDLE, status);
}

/* Accept the shim and answer its attach (with an error when errcode is set). */
static int peer_attach(struct peer *p, const char *errcode)
{
        json_object *o, *params;

        p->fd = accept_timeout(p->lfd);
        if (p->fd < 0)
                FAIL("shim did not connect");
        vc_frame_reader_init(&p->r);
        if (peer_request(p, "sup.attach", &o, &params) < 0)
                return -1;
        int64_t h = jint(params, "handle");
        uint32_t id = p->id;
        json_object_put(o);
        if (h != HANDLE)
                FAIL("attach for handle %lld, want %d", (long long)h, HANDLE);
        if (errcode)
                return peer_json(p, VC_FRAME_RESPONSE, id,
                                 "{\"error\":{\"code\":\"%s\",\"message\":\"no process with handle %d\"}}",
                                 errcode, HANDLE);
        return peer_json(p, VC_FRAME_RESPONSE, id, "{\"result\":{}}");
}

static void peer_close(struct peer *p)
{
        if (p->fd >= 0)
                close(p->fd);
        p->fd = -1;
        vc_frame_reader_free(&p->r);
        free(p->data);
        p->data = NULL;
}

/* --- the shim under test --- */

struct shim_run {
        pid_t pid;
        int in, out, err, ready; /* our ends: write stdin, read stdout/stderr/ready */
};

/* Optional stdio for the shim instead of fresh pipes (-1: pipe), and whether stdin becomes its
 * controlling terminal, as for a foreground job in a shell. */
struct stdio_override {
        int in, out, err;
        bool ctty;
};

static int start_shim_with(struct shim_run *s, const char *const *extra, const struct stdio_override *io)
{
        int in[2], out[2], err[2], ready[2];
        const char *argv[32];
        int n = 0;

        if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
                FAIL("pipe: %s", strerror(errno));
        argv[n++] = shim_bin;
        argv[n++] = "--socket";
        argv[n++] = sup_path;
        argv[n++] = "--container";
        argv[n++] = "c1";
        argv[n++] = "--handle";
        argv[n++] = "7";
        argv[n++] = "--ready-fd";
        argv[n++] = "3";
        for (; extra && *extra; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;

        s->pid = fork();
        if (s->pid < 0)
                FAIL("fork: %s", strerror(errno));
        if (s->pid == 0) {
                dup2(io && io->in >= 0 ? io->in : in[0], 0);
                dup2(io && io->out >= 0 ? io->out : out[1], 1);
                dup2(io && io->err >= 0 ? io->err : err[1], 2);
                dup2(ready[1], 3);
                if (io && io->ctty && (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0))
                        _exit(126);
                syscall(SYS_close_range, 4, ~0U, 0);
                execv(shim_bin, (char **)argv);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        close(err[1]);
        close(ready[1]);
        s->in = in[1];
        s->out = out[0];
        s->err = err[0];
        s->ready = ready[0];
        return 0;
}

static int start_shim(struct shim_run *s, const char *const *extra)
{
        return start_shim_with(s, extra, NULL);
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* Wait for the shim to exit; returns its exit code, -1 on timeout (then it is killed) or a signal death. */
static int wait_shim(struct shim_run *s)
{
        int64_t deadline = now_ms() + TIMEOUT_MS;
        int status;

        while (s->pid > 0) {
                pid_t w = waitpid(s->pid, &status, WNOHANG);
                if (w == s->pid) {
                        s->pid = 0;
                        if (WIFEXITED(status))
                                return WEXITSTATUS(status);
                        printf("# shim killed by signal %d\n", WTERMSIG(status));
                        return -1;
                }
                if (now_ms() > deadline) {
                        printf("# shim did not exit in time\n");
                        kill(s->pid, SIGKILL);
                        waitpid(s->pid, NULL, 0);
                        s->pid = 0;
                        return -1;
                }
                usleep(5000);
        }
        return -1;
}

static void stop_shim(struct shim_run *s)
{
        if (s->pid > 0) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, NULL, 0);
                s->pid = 0;
        }
        close_fd(&s->in);
        close_fd(&s->out);
        close_fd(&s->err);
        close_fd(&s->ready);
}

/* Read exactly want bytes (or up to EOF when want is 0 and eof is expected). */
static ssize_t read_n(int fd, char *buf, size_t want, int timeout_ms)
{
        size_t got = 0;
        int64_t deadline = now_ms() + timeout_ms;

        while (got < want) {
                int64_t left = deadline - now_ms();
                if (left <= 0 || wait_readable(fd, (int)left) <= 0)
                        break;
                ssize_t n = read(fd, buf + got, want - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

static int expect_read(int fd, const char *want)
{
        char buf[256] = {0};
        size_t n = strlen(want);
        ssize_t got = read_n(fd, buf, n, TIMEOUT_MS);
        if (got != (ssize_t)n || memcmp(buf, want, n) != 0)
                FAIL("read '%.*s' (%zd bytes), want '%s'", (int)(got > 0 ? got : 0), buf, got, want);
        return 0;
}

static int expect_eof(int fd)
{
        char c;
        if (wait_readable(fd, TIMEOUT_MS) <= 0)
                FAIL("no EOF within %d ms", TIMEOUT_MS);
        ssize_t n = read(fd, &c, 1);
        if (n != 0)
                FAIL("want EOF, read returned %zd", n);
        return 0;
}

static int expect_ready(struct shim_run *s, const char *want)
{
        char line[512] = {0};
        ssize_t n = read_n(s->ready, line, sizeof line - 1, TIMEOUT_MS);
        if (n <= 0 || strncmp(line, want, strlen(want)) != 0)
                FAIL("ready line '%s', want '%s...'", n > 0 ? line : "", want);
        return 0;
}

/* An attached shim on fresh pipes and a fresh peer. */
static int setup(struct shim_run *s, struct peer *p, const char *const *extra)
{
        memset(s, 0, sizeof *s);
        s->in = s->out = s->err = s->ready = -1;
        p->fd = -1;
        p->data = NULL;
        if (start_shim(s, extra) < 0)
                return -1;
        if (peer_attach(p, NULL) < 0)
                return -1;
        return expect_ready(s, "ok\n");
}

/* --- tests --- */

static struct peer peer;

static int test_output_reaches_stdout_and_stderr(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "hello\n", 6) < 0 ||
            peer_send(&peer, VC_FRAME_DATA, 2, HANDLE, "oops\n", 5) < 0 ||
            peer_send(&peer, VC_FRAME_DATA, 1, HANDLE + 1, "not mine\n", 9) < 0 ||
            peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "world\n", 6) < 0)
                goto out;
        if (expect_read(s.out, "hello\nworld\n") < 0 || expect_read(s.err, "oops\n") < 0)
                goto out;
        /* end-of-stream frames close the shim's stdout and stderr while it keeps running */
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, NULL, 0) < 0 || expect_eof(s.out) < 0)
                goto out;
        if (peer_send(&peer, VC_FRAME_DATA, 2, HANDLE, NULL, 0) < 0 || expect_eof(s.err) < 0)
                goto out;
        if (kill(s.pid, 0) != 0) {
                printf("# shim died after closing its output\n");
                goto out;
        }
        if (peer_exit(&peer, 3) < 0)
                goto out;
        int code = wait_shim(&s);
        if (code != 3) {
                printf("# exit code %d, want 3\n", code);
                goto out;
        }
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_stdin_becomes_data_frames_and_eof(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        if (write(s.in, "ping", 4) != 4)
                goto out;
        if (peer_next(&peer, TIMEOUT_MS) < 0)
                goto out;
        if (peer.type != VC_FRAME_DATA || peer.stream != 0 || peer.id != HANDLE || peer.len != 4 ||
            memcmp(peer.data, "ping", 4) != 0) {
                printf("# frame type %d stream %d id %u '%s'\n", peer.type, peer.stream, peer.id, peer.data);
                goto out;
        }
        close_fd(&s.in);
        if (peer_next(&peer, TIMEOUT_MS) < 0)
                goto out;
        if (peer.type != VC_FRAME_DATA || peer.stream != 0 || peer.id != HANDLE || peer.len != 0) {
                printf("# want an empty stdin frame, got type %d len %zu\n", peer.type, peer.len);
                goto out;
        }
        if (peer_exit(&peer, 0) < 0 || wait_shim(&s) != 0)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int check_signal(struct peer *p, int want_sig, const char *want_exec)
{
        json_object *o, *params;

        if (peer_request(p, "signal_process", &o, &params) < 0)
                return -1;
        int64_t sig = jint(params, "signal");
        const char *id = jstr(params, "id"), *exec = jstr(params, "exec_id");
        uint32_t rid = p->id;
        int ok = sig == want_sig && id && strcmp(id, "c1") == 0 &&
                 (want_exec ? exec && strcmp(exec, want_exec) == 0 : exec == NULL);
        if (!ok)
                printf("# signal_process %s\n", json_object_to_json_string(params));
        json_object_put(o);
        if (!ok)
                return -1;
        return peer_json(p, VC_FRAME_RESPONSE, rid, "{\"result\":{}}");
}

static int test_signals_are_forwarded(void)
{
        const char *extra[] = {"--exec-id", "e1", NULL};
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, extra) < 0)
                goto out;
        if (kill(s.pid, SIGUSR1) < 0 || check_signal(&peer, SIGUSR1, "e1") < 0)
                goto out;
        if (kill(s.pid, SIGHUP) < 0 || check_signal(&peer, SIGHUP, "e1") < 0)
                goto out;
        if (kill(s.pid, SIGRTMIN + 2) < 0 || check_signal(&peer, SIGRTMIN + 2, "e1") < 0)
                goto out;
        if (kill(s.pid, SIGTERM) < 0 || check_signal(&peer, SIGTERM, "e1") < 0)
                goto out;
        /* the process died of that TERM: 128 + 15 */
        if (peer_exit(&peer, 143) < 0 || wait_shim(&s) != 143)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_signal_without_exec_id(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        if (kill(s.pid, SIGINT) < 0 || check_signal(&peer, SIGINT, NULL) < 0)
                goto out;
        /* a failed delivery is logged, not fatal */
        if (kill(s.pid, SIGQUIT) < 0)
                goto out;
        json_object *o, *params;
        if (peer_request(&peer, "signal_process", &o, &params) < 0)
                goto out;
        json_object_put(o);
        if (peer_json(&peer, VC_FRAME_RESPONSE, peer.id,
                      "{\"error\":{\"code\":\"ESRCH\",\"message\":\"gone\"}}") < 0)
                goto out;
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "still here\n", 11) < 0 ||
            expect_read(s.out, "still here\n") < 0)
                goto out;
        if (peer_exit(&peer, 130) < 0 || wait_shim(&s) != 130)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static char proc_state(pid_t pid)
{
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
                close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        return p && p[1] == ' ' ? p[2] : 0;
}

/* SIGTSTP (^Z of a foreground job) stops the process and then the shim itself, as the shell expects;
 * SIGCONT resumes the shim, which passes it on. */
static int test_tstp_stops_process_and_shim(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        if (kill(s.pid, SIGTSTP) < 0 || check_signal(&peer, SIGTSTP, NULL) < 0)
                goto out;
        int64_t deadline = now_ms() + TIMEOUT_MS;
        while (proc_state(s.pid) != 'T' && now_ms() < deadline)
                usleep(2000);
        if (proc_state(s.pid) != 'T') {
                printf("# shim state '%c', want stopped\n", proc_state(s.pid));
                goto out;
        }
        if (kill(s.pid, SIGCONT) < 0 || check_signal(&peer, SIGCONT, NULL) < 0)
                goto out;
        if (peer_exit(&peer, 0) < 0 || wait_shim(&s) != 0)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

/* Output queued when the exit event comes is written before the shim exits; the peer sends it all at
 * once, faster than the pipe takes it, so this also goes through the back pressure path. */
static int test_exit_flushes_output(void)
{
        const size_t total = 8u << 20, chunk = 256u << 10;
        struct shim_run s;
        char *buf = malloc(chunk), *got = malloc(chunk);
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        /* the peer writes from a child so this process can read the shim's stdout at the same time */
        pid_t writer = fork();
        if (writer == 0) {
                for (size_t off = 0; off < total; off += chunk) {
                        for (size_t i = 0; i < chunk; i++)
                                buf[i] = (char)('a' + (off + i) % 26);
                        if (vc_frame_write_fd(peer.fd, VC_FRAME_DATA, 1, HANDLE, buf, chunk) < 0)
                                _exit(1);
                }
                vc_frame_write_fd(peer.fd, VC_FRAME_DATA, 1, HANDLE, NULL, 0);
                _exit(peer_exit(&peer, 5) < 0 ? 1 : 0);
        }
        size_t seen = 0;
        bool bad = false;
        usleep(200 * 1000); /* let the shim queue up */
        for (;;) {
                if (wait_readable(s.out, TIMEOUT_MS) <= 0)
                        break;
                ssize_t n = read(s.out, got, chunk);
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n; i++)
                        if (got[i] != (char)('a' + (seen + (size_t)i) % 26))
                                bad = true;
                seen += (size_t)n;
        }
        int wst;
        waitpid(writer, &wst, 0);
        if (seen != total || bad) {
                printf("# read %zu of %zu bytes%s\n", seen, total, bad ? ", corrupted" : "");
                goto out;
        }
        if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0 || wait_shim(&s) != 5)
                goto out;
        rc = 0;
out:
        free(buf);
        free(got);
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_stdout_reader_gone_is_not_fatal(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        close_fd(&s.out);
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "lost\n", 5) < 0 ||
            peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "lost again\n", 11) < 0 ||
            peer_send(&peer, VC_FRAME_DATA, 2, HANDLE, "err ok\n", 7) < 0)
                goto out;
        if (expect_read(s.err, "err ok\n") < 0)
                goto out;
        if (peer_exit(&peer, 0) < 0 || wait_shim(&s) != 0)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_supervisor_drop_exits_255(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        close_fd(&peer.fd);
        if (wait_shim(&s) != 255)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_vm_exit_exits_255(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        /* another process's exit is not ours */
        if (peer_json(&peer, VC_FRAME_EVENT, 0,
                      "{\"event\":\"exit\",\"params\":{\"handle\":%d,\"id\":\"c1\",\"status\":1}}",
                      HANDLE + 1) < 0)
                goto out;
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "alive\n", 6) < 0 || expect_read(s.out, "alive\n") < 0)
                goto out;
        if (peer_json(&peer, VC_FRAME_EVENT, 0, "{\"event\":\"vm-exit\",\"params\":{}}") < 0)
                goto out;
        if (wait_shim(&s) != 255)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_protocol_error_exits_255(void)
{
        struct shim_run s;
        int rc = -1;

        if (setup(&s, &peer, NULL) < 0)
                goto out;
        const uint8_t bad[12] = {0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0}; /* unknown frame type */
        if (write(peer.fd, bad, sizeof bad) != sizeof bad)
                goto out;
        if (wait_shim(&s) != 255)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_attach_refused(void)
{
        struct shim_run s = {.in = -1, .out = -1, .err = -1, .ready = -1};
        int rc = -1;

        peer.fd = -1;
        if (start_shim(&s, NULL) < 0 || peer_attach(&peer, "ENOENT") < 0)
                goto out;
        if (expect_ready(&s, "error ENOENT attach handle 7: ENOENT: no process with handle 7\n") < 0)
                goto out;
        if (wait_shim(&s) != 255)
                goto out;
        rc = 0;
out:
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

static int test_bad_command_line(void)
{
        int err[2];
        char buf[512] = {0};

        if (pipe2(err, O_CLOEXEC) < 0)
                FAIL("pipe");
        pid_t pid = fork();
        if (pid == 0) {
                dup2(err[1], 2);
                execl(shim_bin, shim_bin, "--socket", sup_path, "--container", "c1", "--handle", "0", NULL);
                _exit(127);
        }
        close(err[1]);
        ssize_t n = read_n(err[0], buf, sizeof buf - 1, TIMEOUT_MS);
        close(err[0]);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        CHECK(n > 0 && strchr(buf, '\n') == buf + n - 1); /* exactly one line */
        CHECK(strstr(buf, "--handle '0'") != NULL);
        return 0;
}

/* --console-socket: one SCM_RIGHTS fd, a pty master, raw pass-through both ways, resize requests. */
static int recv_console(int lfd, int *ret_master, char *name, size_t name_len)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } ctl;
        struct iovec iov = {.iov_base = name, .iov_len = name_len - 1};
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
        int nfds = 0, fd = -1;

        int c = accept_timeout(lfd);
        if (c < 0)
                FAIL("shim did not connect to the console socket");
        if (wait_readable(c, TIMEOUT_MS) <= 0) {
                close(c);
                FAIL("nothing on the console socket");
        }
        ssize_t n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC);
        close(c);
        if (n <= 0)
                FAIL("recvmsg: %zd", n);
        name[n] = '\0';
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                        FAIL("unexpected control message %d/%d", h->cmsg_level, h->cmsg_type);
                int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                for (int i = 0; i < k; i++) {
                        int f;
                        memcpy(&f, CMSG_DATA(h) + i * sizeof(int), sizeof f);
                        if (fd < 0)
                                fd = f;
                        else
                                close(f);
                        nfds++;
                }
        }
        if (nfds != 1 || (msg.msg_flags & MSG_CTRUNC)) {
                if (fd >= 0)
                        close(fd);
                FAIL("got %d fds (flags %#x), want exactly one", nfds, msg.msg_flags);
        }
        *ret_master = fd;
        return 0;
}

static int test_console_socket(void)
{
        const char *extra[] = {"--console-socket", console_path, NULL};
        struct shim_run s = {.in = -1, .out = -1, .err = -1, .ready = -1};
        int lfd = listen_unix(console_path), master = -1, rc = -1;
        char name[256], pts[256], buf[64];
        json_object *o, *params;

        peer.fd = -1;
        if (lfd < 0 || start_shim(&s, extra) < 0)
                goto out;
        if (recv_console(lfd, &master, name, sizeof name) < 0)
                goto out;
        /* a pty master: ptsname works on it and names what the message said */
        if (ptsname_r(master, pts, sizeof pts) != 0 || strcmp(pts, name) != 0 ||
            strncmp(name, "/dev/pts/", 9)) {
                printf("# payload '%s', ptsname '%s'\n", name, pts);
                goto out;
        }
        if (peer_attach(&peer, NULL) < 0 || expect_ready(&s, "ok\n") < 0)
                goto out;

        /* keys typed on the master reach the process's stdin untouched (no line buffering, no echo) */
        if (write(master, "ab\x03", 3) != 3)
                goto out;
        size_t got = 0;
        char in[8] = {0};
        while (got < 3) {
                if (peer_next(&peer, TIMEOUT_MS) < 0)
                        goto out;
                if (peer.type != VC_FRAME_DATA || peer.stream != 0 || peer.len == 0 || got + peer.len > 3) {
                        printf("# unexpected frame type %d stream %d len %zu\n", peer.type, peer.stream,
                               peer.len);
                        goto out;
                }
                memcpy(in + got, peer.data, peer.len);
                got += peer.len;
        }
        if (memcmp(in, "ab\x03", 3) != 0) {
                printf("# stdin got '%s'\n", in);
                goto out;
        }
        /* output comes out of the master byte for byte: no \n -> \r\n on the host side */
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "x\ny", 3) < 0)
                goto out;
        if (read_n(master, buf, 3, TIMEOUT_MS) != 3 || memcmp(buf, "x\ny", 3) != 0) {
                printf("# master read '%.3s'\n", buf);
                goto out;
        }
        /* resizing the master makes the shim ask for the same size */
        struct winsize ws = {.ws_row = 40, .ws_col = 100};
        if (ioctl(master, TIOCSWINSZ, &ws) < 0 || peer_request(&peer, "resize", &o, &params) < 0)
                goto out;
        int ok =
            jint(params, "handle") == HANDLE && jint(params, "rows") == 40 && jint(params, "cols") == 100;
        if (!ok)
                printf("# resize %s\n", json_object_to_json_string(params));
        uint32_t rid = peer.id;
        json_object_put(o);
        if (!ok || peer_json(&peer, VC_FRAME_RESPONSE, rid, "{\"result\":{}}") < 0)
                goto out;
        /* an exit status arrives after the last output, which must still come out of the master */
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "bye", 3) < 0 ||
            peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, NULL, 0) < 0 || peer_exit(&peer, 42) < 0)
                goto out;
        if (read_n(master, buf, 3, TIMEOUT_MS) != 3 || memcmp(buf, "bye", 3) != 0) {
                printf("# master read '%.3s' after exit\n", buf);
                goto out;
        }
        if (wait_shim(&s) != 42)
                goto out;
        rc = 0;
out:
        if (master >= 0)
                close(master);
        if (lfd >= 0)
                close(lfd);
        unlink(console_path);
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

/* Console hang-up: the engine closes the master; the process sees stdin EOF (and SIGHUP, as on a real
 * terminal), the shim lives on until the exit event. */
static int test_console_hangup(void)
{
        const char *extra[] = {"--console-socket", console_path, NULL};
        struct shim_run s = {.in = -1, .out = -1, .err = -1, .ready = -1};
        int lfd = listen_unix(console_path), master = -1, rc = -1;
        char name[256];
        bool saw_eof = false, saw_hup = false;

        peer.fd = -1;
        if (lfd < 0 || start_shim(&s, extra) < 0 || recv_console(lfd, &master, name, sizeof name) < 0)
                goto out;
        if (peer_attach(&peer, NULL) < 0 || expect_ready(&s, "ok\n") < 0)
                goto out;
        close_fd(&master);
        while (!saw_eof || !saw_hup) {
                if (peer_next(&peer, TIMEOUT_MS) < 0)
                        goto out;
                if (peer.type == VC_FRAME_DATA && peer.stream == 0 && peer.len == 0) {
                        saw_eof = true;
                } else if (peer.type == VC_FRAME_REQUEST) {
                        json_object *o = json_tokener_parse(peer.data), *p = NULL;
                        json_object_object_get_ex(o, "params", &p);
                        if (p && jint(p, "signal") == SIGHUP)
                                saw_hup = true;
                        json_object_put(o);
                        peer_json(&peer, VC_FRAME_RESPONSE, peer.id, "{\"result\":{}}");
                }
        }
        if (peer_exit(&peer, 129) < 0 || wait_shim(&s) != 129)
                goto out;
        rc = 0;
out:
        if (master >= 0)
                close(master);
        if (lfd >= 0)
                close(lfd);
        unlink(console_path);
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

/* Regular files and /dev/null cannot be watched by epoll: stdin from a file, stdout to a file, stderr to
 * /dev/null, and the log file carries the container and exec fields. */
static int test_files_as_stdio(void)
{
        char in_path[160], out_path[160], log_path[160], buf[256] = {0};
        const char *extra[] = {"--exec-id", "e9", "--log", log_path, "--log-format", "json", NULL};
        struct shim_run s = {.in = -1, .out = -1, .err = -1, .ready = -1};
        struct stdio_override io = {.in = -1, .out = -1, .err = -1};
        int rc = -1;

        peer.fd = -1;
        snprintf(in_path, sizeof in_path, "%s/in.txt", tmpdir);
        snprintf(out_path, sizeof out_path, "%s/out.txt", tmpdir);
        snprintf(log_path, sizeof log_path, "%s/shim.log", tmpdir);
        int fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, "from a file", 11) != 11)
                goto out;
        close(fd);
        io.in = open(in_path, O_RDONLY | O_CLOEXEC);
        io.out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        io.err = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (io.in < 0 || io.out < 0 || io.err < 0 || start_shim_with(&s, extra, &io) < 0)
                goto out;
        if (peer_attach(&peer, NULL) < 0 || expect_ready(&s, "ok\n") < 0)
                goto out;
        /* stdin: the file's bytes, then EOF */
        size_t got = 0;
        while (got < 11) {
                if (peer_next(&peer, TIMEOUT_MS) < 0 || peer.type != VC_FRAME_DATA || peer.len == 0)
                        goto out;
                memcpy(buf + got, peer.data, peer.len);
                got += peer.len;
        }
        if (memcmp(buf, "from a file", 11) != 0 || peer_next(&peer, TIMEOUT_MS) < 0 || peer.len != 0) {
                printf("# stdin '%s' / no EOF frame\n", buf);
                goto out;
        }
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "to a file\n", 10) < 0 ||
            peer_send(&peer, VC_FRAME_DATA, 2, HANDLE, "to nowhere\n", 11) < 0 || peer_exit(&peer, 0) < 0)
                goto out;
        if (wait_shim(&s) != 0)
                goto out;
        memset(buf, 0, sizeof buf);
        fd = open(out_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, buf, sizeof buf - 1) != 10 || strcmp(buf, "to a file\n") != 0) {
                printf("# stdout file holds '%s'\n", buf);
                goto out;
        }
        close(fd);
        /* json log lines with the fields */
        char logbuf[8192] = {0};
        fd = open(log_path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, logbuf, sizeof logbuf - 1) : -1;
        if (fd >= 0)
                close(fd);
        if (n <= 0 || !strstr(logbuf, "\"container\":\"c1\"") || !strstr(logbuf, "\"exec\":\"e9\"") ||
            !strstr(logbuf, "attached to handle 7") || !strstr(logbuf, "exiting with status 0")) {
                printf("# log: %s\n", logbuf);
                goto out;
        }
        rc = 0;
out:
        close_fd(&io.in);
        close_fd(&io.out);
        close_fd(&io.err);
        unlink(in_path);
        unlink(out_path);
        unlink(log_path);
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

/* --terminal with the caller's terminal as stdin/stdout (a foreground `run -t`): raw mode while it runs,
 * the terminal's size and its changes become resize requests, the mode is restored at exit. */
static int test_terminal_mode(void)
{
        const char *extra[] = {"--terminal", NULL};
        struct shim_run s = {.in = -1, .out = -1, .err = -1, .ready = -1};
        struct stdio_override io = {.in = -1, .out = -1, .err = -1, .ctty = true};
        struct winsize ws = {.ws_row = 24, .ws_col = 80};
        struct termios before, during, after;
        json_object *o, *params;
        int master = -1, slave = -1, rc = -1;
        char buf[16];

        peer.fd = -1;
        if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
                goto out;
        fcntl(master, F_SETFD, FD_CLOEXEC);
        fcntl(slave, F_SETFD, FD_CLOEXEC);
        tcgetattr(slave, &before);
        io.in = io.out = slave;
        if (start_shim_with(&s, extra, &io) < 0 || peer_attach(&peer, NULL) < 0 ||
            expect_ready(&s, "ok\n") < 0)
                goto out;
        /* the size the terminal already has */
        if (peer_request(&peer, "resize", &o, &params) < 0)
                goto out;
        int ok = jint(params, "rows") == 24 && jint(params, "cols") == 80;
        json_object_put(o);
        if (!ok)
                goto out;
        /* raw: no echo, no line buffering */
        if (write(master, "k", 1) != 1 || peer_next(&peer, TIMEOUT_MS) < 0 || peer.type != VC_FRAME_DATA ||
            peer.len != 1 || peer.data[0] != 'k')
                goto out;
        tcgetattr(slave, &during);
        if ((during.c_lflag & (ICANON | ECHO)) != 0 || wait_readable(master, 100) != 0) {
                printf("# terminal not raw (lflag %#x) or echoed\n", during.c_lflag);
                goto out;
        }
        ws.ws_row = 50;
        ws.ws_col = 132;
        if (ioctl(master, TIOCSWINSZ, &ws) < 0 || peer_request(&peer, "resize", &o, &params) < 0)
                goto out;
        ok = jint(params, "rows") == 50 && jint(params, "cols") == 132;
        json_object_put(o);
        if (!ok)
                goto out;
        if (peer_send(&peer, VC_FRAME_DATA, 1, HANDLE, "out", 3) < 0 ||
            read_n(master, buf, 3, TIMEOUT_MS) != 3 || memcmp(buf, "out", 3) != 0)
                goto out;
        if (peer_exit(&peer, 0) < 0 || wait_shim(&s) != 0)
                goto out;
        tcgetattr(slave, &after);
        if (after.c_lflag != before.c_lflag || after.c_iflag != before.c_iflag ||
            after.c_oflag != before.c_oflag) {
                printf("# terminal mode not restored: lflag %#x -> %#x\n", before.c_lflag, after.c_lflag);
                goto out;
        }
        rc = 0;
out:
        close_fd(&master);
        close_fd(&slave);
        stop_shim(&s);
        peer_close(&peer);
        return rc;
}

/* --- vc_shim_spawn: the peer runs in a child since spawn blocks until the shim is attached --- */

static pid_t fork_peer(const char *errcode, int exit_status, bool answer)
{
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        struct peer p = {.lfd = peer.lfd, .fd = -1};
        if (!answer) {
                /* take the attach, never answer it, hold the connection until the shim is gone */
                char buf[256];
                p.fd = accept_timeout(p.lfd);
                while (p.fd >= 0 && wait_readable(p.fd, TIMEOUT_MS) > 0 && read(p.fd, buf, sizeof buf) > 0)
                        ;
                _exit(0);
        }
        if (peer_attach(&p, errcode) < 0)
                _exit(1);
        if (errcode == NULL && peer_exit(&p, exit_status) < 0)
                _exit(1);
        char c;
        wait_readable(p.fd, TIMEOUT_MS); /* until the shim closes */
        (void)!read(p.fd, &c, 1);
        _exit(0);
}

static int reap_peer(pid_t pid)
{
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                FAIL("peer failed");
        return 0;
}

static int no_children_left(void)
{
        errno = 0;
        if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
                FAIL("a child process is left");
        return 0;
}

static int test_spawn_returns_attached_pid(void)
{
        struct vc_shim_opts o = {.socket = sup_path, .container = "c1", .handle = HANDLE};
        vc_error_t err = NULL;
        pid_t pid = 0, p = fork_peer(NULL, 9, true);
        int status;

        if (vc_shim_spawn(&o, &pid, &err) < 0) {
                printf("# spawn: %s\n", err->msg);
                vc_error_release(&err);
                waitpid(p, NULL, 0);
                return -1;
        }
        CHECK(pid > 0);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 9);
        if (reap_peer(p) < 0)
                return -1;
        return no_children_left();
}

static int test_spawn_reports_attach_error(void)
{
        struct vc_shim_opts o = {.socket = sup_path, .container = "c1", .handle = HANDLE};
        vc_error_t err = NULL;
        pid_t pid = 0, p = fork_peer("ENOENT", 0, true);
        int r = vc_shim_spawn(&o, &pid, &err);

        reap_peer(p);
        CHECK(r == -ENOENT);
        CHECK(pid == 0);
        CHECK(err && err->code == ENOENT);
        if (strcmp(err->msg, "start kata-shim: attach handle 7: ENOENT: no process with handle 7") != 0) {
                printf("# message '%s'\n", err->msg);
                vc_error_release(&err);
                return -1;
        }
        vc_error_release(&err);
        return no_children_left();
}

static int test_spawn_times_out(void)
{
        struct vc_shim_opts o = {.socket = sup_path, .container = "c1", .handle = HANDLE, .timeout_ms = 300};
        vc_error_t err = NULL;
        pid_t pid = 0, p = fork_peer(NULL, 0, false);
        int64_t t0 = now_ms();
        int r = vc_shim_spawn(&o, &pid, &err);
        int64_t took = now_ms() - t0;

        reap_peer(p);
        CHECK(r == -ETIMEDOUT);
        CHECK(took >= 300 && took < 3000);
        vc_error_release(&err);
        return no_children_left();
}

static int test_spawn_without_supervisor(void)
{
        char missing[160];
        snprintf(missing, sizeof missing, "%s/none.sock", tmpdir);
        struct vc_shim_opts o = {.socket = missing, .container = "c1", .handle = HANDLE};
        vc_error_t err = NULL;
        pid_t pid = 0;
        int r = vc_shim_spawn(&o, &pid, &err);

        CHECK(r == -ENOENT);
        CHECK(err && strstr(err->msg, "connect to supervisor") && strstr(err->msg, "none.sock"));
        vc_error_release(&err);
        return no_children_left();
}

static int test_spawn_rejects_bad_options(void)
{
        struct vc_shim_opts o = {.socket = sup_path, .container = "c1", .handle = 0};
        vc_error_t err = NULL;
        pid_t pid = 0;

        CHECK(vc_shim_spawn(&o, &pid, &err) == -EINVAL);
        CHECK(strstr(err->msg, "handle") != NULL);
        vc_error_release(&err);
        o.handle = 1;
        o.log_format = "xml";
        CHECK(vc_shim_spawn(&o, &pid, &err) == -EINVAL);
        vc_error_release(&err);
        o.log_format = NULL;
        o.path = "/nonexistent/kata-shim";
        CHECK(vc_shim_spawn(&o, &pid, &err) == -ENOENT);
        vc_error_release(&err);
        return no_children_left();
}

/* --- harness --- */

static int count_fds(void)
{
        int n = 0;
        DIR *d = opendir("/proc/self/fd");
        if (d == NULL)
                return -1;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

#define RUN_TEST(fn)                                                                                         \
        do {                                                                                                 \
                int _r = fn();                                                                               \
                printf("%s %d - %s\n", _r == 0 ? "ok" : "not ok", ++n, #fn);                                 \
                fflush(stdout);                                                                              \
                if (_r != 0)                                                                                 \
                        failures++;                                                                          \
        } while (0)

int main(void)
{
        struct vc_shim_opts po = {0};
        vc_error_t err = NULL;
        char *path = NULL;
        int n = 0;

        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);
        if (vc_shim_path(&po, &path, &err) < 0) {
                printf("1..0 # SKIP %s\n", err->msg);
                vc_error_release(&err);
                return 77;
        }
        snprintf(shim_bin, sizeof shim_bin, "%s", path);
        free(path);
        strcpy(tmpdir, "/tmp/vc-shim-test.XXXXXX");
        if (mkdtemp(tmpdir) == NULL) {
                printf("Bail out! mkdtemp: %s\n", strerror(errno));
                return 1;
        }
        snprintf(sup_path, sizeof sup_path, "%s/sup.sock", tmpdir);
        snprintf(console_path, sizeof console_path, "%s/console.sock", tmpdir);
        peer.lfd = listen_unix(sup_path);
        if (peer.lfd < 0)
                return 1;
        int fds_before = count_fds();

        printf("1..22\n");
        RUN_TEST(test_output_reaches_stdout_and_stderr);
        RUN_TEST(test_stdin_becomes_data_frames_and_eof);
        RUN_TEST(test_signals_are_forwarded);
        RUN_TEST(test_signal_without_exec_id);
        RUN_TEST(test_tstp_stops_process_and_shim);
        RUN_TEST(test_exit_flushes_output);
        RUN_TEST(test_stdout_reader_gone_is_not_fatal);
        RUN_TEST(test_supervisor_drop_exits_255);
        RUN_TEST(test_vm_exit_exits_255);
        RUN_TEST(test_protocol_error_exits_255);
        RUN_TEST(test_attach_refused);
        RUN_TEST(test_bad_command_line);
        RUN_TEST(test_console_socket);
        RUN_TEST(test_console_hangup);
        RUN_TEST(test_files_as_stdio);
        RUN_TEST(test_terminal_mode);
        RUN_TEST(test_spawn_returns_attached_pid);
        RUN_TEST(test_spawn_reports_attach_error);
        RUN_TEST(test_spawn_times_out);
        RUN_TEST(test_spawn_without_supervisor);
        RUN_TEST(test_spawn_rejects_bad_options);

        /* nothing left behind: fds, children, files */
        int fds_after = count_fds();
        close(peer.lfd);
        unlink(sup_path);
        int clean = fds_after == fds_before && no_children_left() == 0 && rmdir(tmpdir) == 0;
        if (!clean) {
                printf("# fds %d -> %d, rmdir '%s': %s\n", fds_before, fds_after, tmpdir, strerror(errno));
                /* still leave nothing behind after a failure */
                unlink(console_path);
                rmdir(tmpdir);
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
        }
        printf("%s %d - nothing_left_behind\n", clean ? "ok" : "not ok", ++n);
        if (!clean)
                failures++;
        return failures ? 1 : 0;
}
