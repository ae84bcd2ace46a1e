/* kata-shim: the host process that stands for one container process (or one detached exec).
 *
 * Its pid is the container's pid for the engine. It attaches to the process's handle through the
 * sandbox supervisor, proxies its own stdio (or a pty sent to --console-socket) to the process, forwards
 * the signals it receives, and exits with the process's exit status (docs/agent-protocol.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "util.h"
#include "vc/error.h"
#include "vc/log.h"

#define ATTACH_TIMEOUT_MS 30000
#define FLUSH_TICK_MS 1000
#define FLUSH_IDLE_TICKS 30 /* give up on an output reader that takes nothing for this many ticks */

static struct shim shim;
static bool log_to_file;

static void usage(FILE *f)
{
        fprintf(f, "Usage: kata-shim --socket PATH --container ID [--exec-id ID] --handle N\n"
                   "                 [--console-socket PATH | --terminal] [--ready-fd FD]\n"
                   "                 [--log FILE] [--log-format text|json] [--debug]\n");
}

static void shim_ready(struct shim *s, int code, const char *msg)
{
        char *line = NULL;
        int n;

        if (s->ready_fd < 0)
                return;
        if (code == 0)
                n = asprintf(&line, "ok\n");
        else
                n = asprintf(&line, "error %s %s\n", vc_errno_name(code), msg);
        if (n > 0) {
                /* one line: newlines inside the message would cut it short */
                for (int i = 0; i < n - 1; i++)
                        if (line[i] == '\n')
                                line[i] = ' ';
                for (ssize_t off = 0, w; off < n; off += w) {
                        w = write(s->ready_fd, line + off, (size_t)(n - off));
                        if (w < 0 && errno == EINTR)
                                w = 0;
                        else if (w < 0)
                                break;
                }
        }
        free(line);
        (void)close(s->ready_fd);
        s->ready_fd = -1;
}

static _Noreturn void shim_fail(struct shim *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void shim_fail(struct shim *s, int code, const char *fmt, ...)
{
        char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        /* with a ready pipe the caller reports the failure; stderr is the container's, keep it clean */
        if (log_to_file || s->ready_fd < 0)
                vc_log(VC_LOG_ERROR, 0, "%s", msg ? msg : fmt);
        shim_stdio_restore(s);
        if (s->ready_fd >= 0)
                shim_ready(s, code > 0 ? code : EIO, msg ? msg : fmt);
        else if (log_to_file)
                fprintf(stderr, "kata-shim: %s\n", msg ? msg : fmt);
        free(msg);
        vc_log_close();
        exit(SHIM_EXIT_FAILURE);
}

static _Noreturn void finish(struct shim *s)
{
        vc_log(VC_LOG_INFO, 0, "exiting with status %d", s->exit_status);
        shim_stdio_restore(s);
        vc_log_close();
        exit(s->exit_status);
}

static void shim_output_progress(struct shim *s)
{
        if (s->sup_paused && shim_out_queued(s) < SHIM_OUT_LOW)
                shim_sup_pause(s, false);
        if (s->exiting && shim_sink_drained(&s->out) && shim_sink_drained(&s->err))
                finish(s);
}

static void on_flush_tick(uv_timer_t *t)
{
        struct shim *s = t->data;
        uint64_t progress = s->out.written + s->err.written;

        if (progress != s->flush_progress) {
                s->flush_progress = progress;
                s->flush_idle_ticks = 0;
                return;
        }
        if (++s->flush_idle_ticks >= FLUSH_IDLE_TICKS) {
                vc_log(VC_LOG_WARNING, 0,
                       "%zu bytes of output not taken by the reader in %d s, dropping them",
                       shim_out_queued(s), FLUSH_IDLE_TICKS * FLUSH_TICK_MS / 1000);
                finish(s);
        }
}

static void shim_begin_exit(struct shim *s, int status)
{
        if (s->exiting)
                return;
        s->exiting = true;
        s->exit_status = status;
        shim_source_stop(&s->in);
        s->flush_progress = s->out.written + s->err.written;
        uv_timer_init(s->loop, &s->flush_timer);
        s->flush_timer.data = s;
        uv_timer_start(&s->flush_timer, on_flush_tick, FLUSH_TICK_MS, FLUSH_TICK_MS);
        shim_output_progress(s);
}

static void shim_attached(struct shim *s)
{
        s->attached = true;
        uv_timer_stop(&s->attach_timer);
        vc_log(VC_LOG_INFO, 0, "attached to handle %u", s->handle);
        shim_ready(s, 0, NULL);
        shim_source_start(&s->in);
        if (s->console || s->terminal) {
                s->resize_pending = true;
                shim_resize_check(s);
        }
}

static void up_fail(struct shim *s, int code, const char *msg)
{
        shim_fail(s, code, "%s", msg);
}

static void up_output(struct shim *s, uint8_t stream, const void *data, size_t len)
{
        struct shim_sink *k = stream == VC_STREAM_STDOUT ? &s->out : &s->err;

        if (len == 0)
                shim_sink_eof(k);
        else
                shim_sink_write(k, data, len);
        if (shim_out_queued(s) > SHIM_OUT_HIGH)
                shim_sup_pause(s, true);
}

static void up_sup_queue_full(struct shim *s, bool full)
{
        shim_source_pause(&s->in, full);
}

static void up_input(struct shim *s, const void *data, size_t len)
{
        shim_send_data(s, VC_STREAM_STDIN, data, len);
}

/* What conn.c, io.c and console.c report up (see struct shim_up). */
static const struct shim_up up = {
    .fail = up_fail,
    .exit = shim_begin_exit,
    .attached = shim_attached,
    .output = up_output,
    .sup_queue_full = up_sup_queue_full,
    .input = up_input,
    .output_progress = shim_output_progress,
    .resize = shim_send_resize,
};

static void on_attach_timeout(uv_timer_t *t)
{
        struct shim *s = t->data;
        shim_fail(s, ETIMEDOUT, "attach handle %u: no answer from the supervisor in %d s", s->handle,
                  ATTACH_TIMEOUT_MS / 1000);
}

/* --- signals --- */

/* Forwarded to the process. Not caught: the synchronous faults (SEGV, BUS, FPE, ILL, TRAP, ABRT, SYS),
 * KILL and STOP (impossible), CHLD (the shim has no children), PIPE (ignored), and TTIN/TTOU: a
 * background shim that touches its terminal must stop like any job, and catching them would make the
 * kernel retry the terminal access forever. SIGWINCH is turned into a resize. */
static const int forwarded[] = {
    SIGHUP,  SIGINT,    SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGSTKFLT, SIGCONT,
    SIGTSTP, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO,   SIGPWR,  SIGURG,
};

static void on_signal(uv_signal_t *h, int signum)
{
        struct shim *s = h->data;

        if (signum == SIGWINCH) {
                if (s->console || s->terminal)
                        shim_resize_check(s);
                return;
        }
        if (s->exiting)
                return;
        shim_send_signal(s, signum);
}

static int signals_start(struct shim *s)
{
        int n = (int)ELEMENTSOF(forwarded) + 1 + (SIGRTMAX - SIGRTMIN + 1);
        int i = 0, r;

        s->signals = calloc((size_t)n, sizeof *s->signals);
        if (s->signals == NULL)
                return -ENOMEM;
        for (int k = 0; k < n; k++) {
                int sig = k < (int)ELEMENTSOF(forwarded)    ? forwarded[k]
                          : k == (int)ELEMENTSOF(forwarded) ? SIGWINCH
                                                            : SIGRTMIN + (k - (int)ELEMENTSOF(forwarded) - 1);
                uv_signal_t *h = &s->signals[i];
                r = uv_signal_init(s->loop, h);
                if (r < 0)
                        return r;
                h->data = s;
                r = uv_signal_start(h, on_signal, sig);
                if (r < 0)
                        return r;
                uv_unref((uv_handle_t *)h);
                i++;
        }
        s->nsignals = i;
        return 0;
}

/* --- command line --- */

enum {
        OPT_SOCKET = 1000,
        OPT_CONTAINER,
        OPT_EXEC_ID,
        OPT_HANDLE,
        OPT_CONSOLE,
        OPT_TERMINAL,
        OPT_READY,
        OPT_LOG,
        OPT_LOG_FORMAT,
        OPT_DEBUG,
        OPT_HELP,
        OPT_VERSION
};

static const struct option longopts[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"container", required_argument, NULL, OPT_CONTAINER},
    {"exec-id", required_argument, NULL, OPT_EXEC_ID},
    {"handle", required_argument, NULL, OPT_HANDLE},
    {"console-socket", required_argument, NULL, OPT_CONSOLE},
    {"terminal", no_argument, NULL, OPT_TERMINAL},
    {"ready-fd", required_argument, NULL, OPT_READY},
    {"log", required_argument, NULL, OPT_LOG},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"debug", no_argument, NULL, OPT_DEBUG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

struct args {
        const char *socket, *log, *log_format;
        char *error;
};

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
        char *end = NULL;
        unsigned long v;

        if (s == NULL || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Fill shim and a from argv; on a bad command line a->error says what was wrong. */
static void parse_args(int argc, char **argv, struct shim *s, struct args *a)
{
        unsigned long v;
        int c;

        opterr = 0;
        while (a->error == NULL && (c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
                switch (c) {
                case OPT_SOCKET:
                        a->socket = optarg;
                        break;
                case OPT_CONTAINER:
                        s->container = optarg;
                        break;
                case OPT_EXEC_ID:
                        s->exec_id = optarg;
                        break;
                case OPT_HANDLE:
                        if (parse_uint(optarg, UINT32_MAX, &v) < 0 || v == 0)
                                (void)!asprintf(&a->error, "invalid --handle '%s': want an integer 1..%u",
                                                optarg, UINT32_MAX);
                        else
                                s->handle = (uint32_t)v;
                        break;
                case OPT_CONSOLE:
                        s->console_socket = optarg;
                        break;
                case OPT_TERMINAL:
                        s->terminal = true;
                        break;
                case OPT_READY:
                        if (parse_uint(optarg, INT32_MAX, &v) < 0 || v <= 2 || fcntl((int)v, F_GETFD) < 0)
                                (void)!asprintf(&a->error, "invalid --ready-fd '%s': want an open fd above 2",
                                                optarg);
                        else
                                s->ready_fd = (int)v;
                        break;
                case OPT_LOG:
                        a->log = optarg;
                        break;
                case OPT_LOG_FORMAT:
                        a->log_format = optarg;
                        break;
                case OPT_DEBUG:
                        s->debug = true;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        exit(0);
                case OPT_VERSION:
                        printf("kata-shim %s\n", VC_VERSION_STRING);
                        exit(0);
                case ':':
                        (void)!asprintf(&a->error, "option '%s' needs a value", argv[optind - 1]);
                        break;
                default:
                        (void)!asprintf(&a->error, "unknown option '%s'", argv[optind - 1]);
                        break;
                }
        }
        if (a->error)
                return;
        if (optind < argc)
                (void)!asprintf(&a->error, "unexpected argument '%s'", argv[optind]);
        else if (a->socket == NULL || a->socket[0] == '\0')
                (void)!asprintf(&a->error, "--socket is required");
        else if (s->container == NULL || s->container[0] == '\0')
                (void)!asprintf(&a->error, "--container is required");
        else if (s->exec_id != NULL && s->exec_id[0] == '\0')
                (void)!asprintf(&a->error, "--exec-id must not be empty");
        else if (s->handle == 0)
                (void)!asprintf(&a->error, "--handle is required");
        else if (s->console_socket != NULL && s->console_socket[0] == '\0')
                (void)!asprintf(&a->error, "--console-socket must not be empty");
        else if (a->log_format && !STREQ(a->log_format, "text") && !STREQ(a->log_format, "json"))
                (void)!asprintf(&a->error, "invalid --log-format '%s': want text or json", a->log_format);
}

int main(int argc, char **argv)
{
        struct shim *s = &shim;
        struct args a = {0};
        vc_error_t err = NULL;
        enum vc_log_format fmt = VC_LOG_TEXT;
        sigset_t none;
        int r;

        s->up = &up;
        s->ready_fd = -1;
        s->devnull = -1;
        s->console_fd = -1;
        for (int i = 0; i < 3; i++)
                s->saved_flags[i] = -1;

        parse_args(argc, argv, s, &a);
        if (a.error) {
                fprintf(stderr, "kata-shim: %s (see --help)\n", a.error);
                if (s->ready_fd >= 0)
                        shim_ready(s, EINVAL, a.error);
                return SHIM_EXIT_USAGE;
        }
        (void)fcntl(s->ready_fd, F_SETFD, FD_CLOEXEC);

        /* whatever the caller had blocked or ignored, the shim decides for itself */
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        (void)signal(SIGPIPE, SIG_IGN);
        (void)signal(SIGTTIN, SIG_DFL);
        (void)signal(SIGTTOU, SIG_DFL);

        if (a.log_format)
                (void)vc_log_format_from_string(a.log_format, &fmt);
        log_to_file = a.log != NULL;
        r = vc_log_init(a.log, fmt,
                        s->debug      ? VC_LOG_DEBUG
                        : log_to_file ? VC_LOG_INFO
                                      : VC_LOG_WARNING,
                        &err);
        if (r < 0) {
                log_to_file = false;
                shim_fail(s, -r, "%s", err->msg);
        }
        (void)vc_log_set_field("container", s->container);
        if (s->exec_id)
                (void)vc_log_set_field("exec", s->exec_id);

        s->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (s->devnull < 0)
                shim_fail(s, errno, "open /dev/null: %s", strerror(errno));
        s->loop = uv_default_loop();
        r = signals_start(s);
        if (r < 0)
                shim_fail(s, -r, "signal handlers: %s", uv_strerror(r));

        if (s->console_socket) {
                r = shim_console_setup(s);
                if (r < 0)
                        shim_fail(s, -r, "console socket '%s': %s", s->console_socket, strerror(-r));
                /* The console is the process's stdio: let go of the caller's, as runc's init does. An engine
                 * reads a `create -t`'s output until EOF (containerd's runc shim does), and a shim holding
                 * that pipe for the container's lifetime would hang it. Logs go to --log from here on. */
                for (int fd = 0; fd < 3; fd++)
                        (void)dup2(s->devnull, fd);
        }
        r = shim_connect(s, a.socket);
        if (r < 0)
                shim_fail(s, -r, "connect to supervisor '%s': %s", a.socket, strerror(-r));
        /* hold no directory of the caller's (a bundle) busy for the container's lifetime */
        if (chdir("/") < 0)
                vc_log(VC_LOG_WARNING, errno, "chdir /, ignoring");
        r = shim_stdio_setup(s);
        if (r < 0)
                shim_fail(s, -r, "stdio: %s", strerror(-r));

        uv_timer_init(s->loop, &s->attach_timer);
        s->attach_timer.data = s;
        uv_timer_start(&s->attach_timer, on_attach_timeout, ATTACH_TIMEOUT_MS, 0);
        r = shim_send_attach(s);
        if (r < 0)
                shim_fail(s, -r, "send attach: %s", strerror(-r));
        shim_sup_pause(s, false);
        vc_debug("waiting for attach of handle %u on '%s'", s->handle, a.socket);

        uv_run(s->loop, UV_RUN_DEFAULT);
        shim_fail(s, EIO, "event loop ended before the process exited");
}
