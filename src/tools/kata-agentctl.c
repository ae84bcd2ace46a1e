/* kata-agentctl: talk to a kata-agent through the unix socket QEMU exposes for its virtio-serial port
 * (or through anything else that speaks docs/agent-protocol.md). For tests and debugging.
 *
 *   kata-agentctl [--timeout S] SOCKET call METHOD [JSON-PARAMS]
 *   kata-agentctl [--timeout S] SOCKET run [OPTIONS] ID ROOTFS -- CMD [ARG...]
 *   kata-agentctl [--timeout S] SOCKET exec [OPTIONS] ID EXEC-ID -- CMD [ARG...]
 *   kata-agentctl [--timeout S] SOCKET raw [N]
 *
 * call prints the result as JSON. run creates a container (a default spec, or --spec FILE), forwards
 * stdin, starts it, copies its stdout/stderr, removes it (unless --keep) and exits with its status.
 * exec does the same for a process in a running container. raw sends stdin's bytes as they are and prints
 * what comes back: N whole frames within --timeout, or without N until the agent has been quiet for
 * --timeout. For poking the agent with garbage. */
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base.h"
#include "frame.h"
#include "rpc.h"

#define EXIT_FAIL 125 /* the tool failed, as opposed to the process exiting with a status */

static int sock = -1;
static struct vc_frame_reader reader;
static uint32_t next_id;
static int timeout_ms = 60000;
static uint32_t watch_handle; /* the process whose data frames and exit event we print */
static bool watch_exited;
static int watch_status;
static struct termios saved_tty;
static bool tty_raw;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
        va_list ap;

        if (tty_raw)
                tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        fputs("kata-agentctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(EXIT_FAIL);
}

static void connect_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        if (strlen(path) >= sizeof sa.sun_path)
                die("socket path '%s' is too long", path);
        strcpy(sa.sun_path, path);
        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0)
                die("connect '%s': %s", path, strerror(errno));
        vc_frame_reader_init(&reader);
        /* Request ids start somewhere new each run, so a stale answer meant for an earlier client of
         * the same port is not taken for ours. */
        next_id = ((uint32_t)getpid() << 12) ^ (uint32_t)vc_now_ms();
        if (next_id == 0)
                next_id = 1;
}

static void send_frame(uint8_t type, uint8_t stream, uint32_t id, const void *p, size_t len)
{
        int rc = vc_frame_write_fd(sock, type, stream, id, p, len);
        if (rc < 0)
                die("write to the agent: %s", strerror(-rc));
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return; /* our own stdout went away: nothing sensible to do */
                }
                p += w;
                n -= (size_t)w;
        }
}

/* Frames that are not the response we wait for: our process's output and exit event. */
static void other_frame(const struct vc_frame *f)
{
        if (f->type == VC_FRAME_DATA && f->id == watch_handle && watch_handle != 0) {
                if (f->len > 0)
                        write_all(f->stream == VC_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, f->payload,
                                  f->len);
                return;
        }
        if (f->type == VC_FRAME_EVENT && watch_handle != 0) {
                json_object *ev = vc_rpc_parse(f->payload, f->len), *params;
                const char *name;
                uint32_t h;
                int st;
                if (ev && vc_rpc_read_event(ev, &name, &params) == 0 && strcmp(name, VC_EVENT_EXIT) == 0 &&
                    vc_rpc_get_handle(params, &h) == 0 && h == watch_handle &&
                    vc_rpc_get_status(params, &st) == 0) {
                        watch_exited = true;
                        watch_status = st;
                }
                json_object_put(ev);
        }
}

/* Read from the socket into the frame reader; false on timeout (deadline < 0: none). */
static bool pump(long long deadline)
{
        uint8_t buf[65536];
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        int wait = deadline < 0 ? -1 : (int)(deadline > vc_now_ms() ? deadline - vc_now_ms() : 0);
        int rc = poll(&pfd, 1, wait);
        ssize_t n;

        if (rc < 0 && errno == EINTR)
                return true;
        if (rc < 0)
                die("poll: %s", strerror(errno));
        if (rc == 0)
                return false;
        n = read(sock, buf, sizeof buf);
        if (n < 0 && errno != EINTR)
                die("read from the agent: %s", strerror(errno));
        if (n == 0)
                die("the agent closed the connection");
        if (n > 0 && vc_frame_reader_feed(&reader, buf, (size_t)n) < 0)
                die("out of memory");
        return true;
}

/* Send a request and wait for its response; other frames go to other_frame(). Returns the result
 * (owned by the caller); an error response ends the program unless ret_err is given. */
static json_object *call(const char *method, json_object *params, json_object **ret_err)
{
        json_object *req = vc_rpc_request(method, json_object_get(params));
        uint32_t id = next_id++;
        long long deadline = timeout_ms > 0 ? vc_now_ms() + timeout_ms : -1;
        size_t len = 0;
        const char *s = req ? vc_rpc_text(req, &len) : NULL;

        if (s == NULL)
                die("%s: out of memory", method);
        if (len > VC_FRAME_MAX)
                die("%s: request too large", method);
        send_frame(VC_FRAME_REQUEST, 0, id, s, len);
        json_object_put(req);

        for (;;) {
                struct vc_frame f;
                int rc;
                while ((rc = vc_frame_reader_next(&reader, &f)) == 1) {
                        if (f.type != VC_FRAME_RESPONSE || f.id != id) {
                                other_frame(&f);
                                continue;
                        }
                        json_object *resp = vc_rpc_parse(f.payload, f.len), *result = NULL;
                        const char *msg = NULL;
                        int code = 0;
                        switch (resp ? vc_rpc_read_response(resp, &result, &code, &msg) : -EPROTO) {
                        case 0:
                                json_object_get(result);
                                json_object_put(resp);
                                return result;
                        case 1:
                                if (ret_err) {
                                        *ret_err = vc_rpc_error(code, msg);
                                        json_object_put(resp);
                                        return NULL;
                                }
                                die("%s: %s: %s", method, vc_rpc_errno_name(code), msg);
                        default:
                                die("%s: the agent sent a response with neither result nor error", method);
                        }
                }
                if (rc < 0)
                        die("%s: the agent sent an invalid frame", method);
                if (!pump(deadline))
                        die("%s: no answer within %d ms", method, timeout_ms);
        }
}

/* ---------------------------------------------------------------- process options */

struct popts {
        bool tty, keep, no_pid_ns, user_set;
        const char *cwd, *hostname, *spec_file;
        uint32_t uid, gid;
        const char *env[256];
        int nenv;
};

static json_object *process_object(const struct popts *o, char **argv)
{
        json_object *proc = json_object_new_object(), *args = json_object_new_array(),
                    *env = json_object_new_array(), *user = json_object_new_object();

        for (char **a = argv; *a; a++)
                json_object_array_add(args, json_object_new_string(*a));
        json_object_array_add(
            env, json_object_new_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        if (o->tty)
                json_object_array_add(env, json_object_new_string("TERM=xterm"));
        for (int i = 0; i < o->nenv; i++)
                json_object_array_add(env, json_object_new_string(o->env[i]));
        json_object_object_add(user, "uid", json_object_new_int64(o->uid));
        json_object_object_add(user, "gid", json_object_new_int64(o->gid));
        json_object_object_add(proc, "terminal", json_object_new_boolean(o->tty));
        if (o->tty && isatty(STDIN_FILENO)) {
                struct winsize ws;
                if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
                        json_object *size = json_object_new_object();
                        json_object_object_add(size, "height", json_object_new_int(ws.ws_row));
                        json_object_object_add(size, "width", json_object_new_int(ws.ws_col));
                        json_object_object_add(proc, "consoleSize", size);
                }
        }
        json_object_object_add(proc, "user", user);
        json_object_object_add(proc, "args", args);
        json_object_object_add(proc, "env", env);
        json_object_object_add(proc, "cwd", json_object_new_string(o->cwd ? o->cwd : "/"));
        return proc;
}

/* --spec FILE: the file's process with the command line's args, and its options where given. */
static void merge_process(json_object *spec, const struct popts *o, char **argv)
{
        json_object *proc, *fresh = process_object(o, argv), *v;

        if (!json_object_is_type(spec, json_type_object))
                die("--spec: not a JSON object");
        if (!json_object_object_get_ex(spec, "process", &proc) ||
            !json_object_is_type(proc, json_type_object)) {
                json_object_object_add(spec, "process", fresh);
                return;
        }
        json_object_object_get_ex(fresh, "args", &v);
        json_object_object_add(proc, "args", json_object_get(v));
        if (o->tty || !json_object_object_get_ex(proc, "terminal", NULL)) {
                json_object_object_get_ex(fresh, "terminal", &v);
                json_object_object_add(proc, "terminal", json_object_get(v));
        }
        if (json_object_object_get_ex(fresh, "consoleSize", &v))
                json_object_object_add(proc, "consoleSize", json_object_get(v));
        if (o->nenv || !json_object_object_get_ex(proc, "env", NULL)) {
                json_object_object_get_ex(fresh, "env", &v);
                json_object_object_add(proc, "env", json_object_get(v));
        }
        if (o->cwd || !json_object_object_get_ex(proc, "cwd", NULL)) {
                json_object_object_get_ex(fresh, "cwd", &v);
                json_object_object_add(proc, "cwd", json_object_get(v));
        }
        if (o->user_set || !json_object_object_get_ex(proc, "user", NULL)) {
                json_object_object_get_ex(fresh, "user", &v);
                json_object_object_add(proc, "user", json_object_get(v));
        }
        json_object_put(fresh);
}

static void add_mount(json_object *mounts, const char *dest, const char *type, const char *opts)
{
        json_object *m = json_object_new_object(), *o = json_object_new_array();
        char *copy = strdup(opts);

        for (char *t = strtok(copy, ","); t; t = strtok(NULL, ","))
                json_object_array_add(o, json_object_new_string(t));
        free(copy);
        json_object_object_add(m, "destination", json_object_new_string(dest));
        json_object_object_add(m, "type", json_object_new_string(type));
        json_object_object_add(m, "source", json_object_new_string(type));
        json_object_object_add(m, "options", o);
        json_object_array_add(mounts, m);
}

/* The spec runc's `spec` command would write, trimmed to what the agent reads. */
static json_object *default_spec(const struct popts *o, const char *id, char **argv)
{
        json_object *spec = json_object_new_object(), *root = json_object_new_object(),
                    *mounts = json_object_new_array(), *lnx = json_object_new_object(),
                    *nss = json_object_new_array();
        static const char *const ns[] = {"pid", "ipc", "uts", "mount"};

        json_object_object_add(spec, "ociVersion", json_object_new_string("1.0.2"));
        json_object_object_add(spec, "process", process_object(o, argv));
        json_object_object_add(root, "path", json_object_new_string("rootfs"));
        json_object_object_add(spec, "root", root);
        json_object_object_add(spec, "hostname",
                               json_object_new_string(o->hostname ? o->hostname : "container"));
        add_mount(mounts, "/proc", "proc", "nosuid,noexec,nodev");
        add_mount(mounts, "/dev", "tmpfs", "nosuid,strictatime,mode=755,size=65536k");
        add_mount(mounts, "/dev/pts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5");
        add_mount(mounts, "/dev/shm", "tmpfs", "nosuid,noexec,nodev,mode=1777,size=65536k");
        add_mount(mounts, "/dev/mqueue", "mqueue", "nosuid,noexec,nodev");
        add_mount(mounts, "/sys", "sysfs", "nosuid,noexec,nodev,ro");
        json_object_object_add(spec, "mounts", mounts);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
                json_object *n;
                if (o->no_pid_ns && i == 0)
                        continue;
                n = json_object_new_object();
                json_object_object_add(n, "type", json_object_new_string(ns[i]));
                json_object_array_add(nss, n);
        }
        json_object_object_add(lnx, "namespaces", nss);
        json_object_object_add(spec, "linux", lnx);
        (void)id;
        return spec;
}

/* Frames for the agent that have not been written yet (attach writes without blocking). */
static uint8_t *outbuf;
static size_t out_len, out_cap;

static void out_frame(uint8_t type, uint8_t stream, uint32_t id, const void *p, size_t len)
{
        if (out_len + VC_FRAME_HEADER + len > out_cap) {
                out_cap = (out_len + VC_FRAME_HEADER + len) * 2;
                outbuf = realloc(outbuf, out_cap);
                if (outbuf == NULL)
                        die("out of memory");
        }
        if (vc_frame_header_encode(outbuf + out_len, type, stream, id, len) < 0)
                die("frame too large");
        if (len)
                memcpy(outbuf + out_len + VC_FRAME_HEADER, p, len);
        out_len += VC_FRAME_HEADER + len;
}

/* Copy stdin to the process and its output to ours until its exit event. Neither direction waits for
 * the other: an agent busy sending us output must not stop us from reading it because we are stuck
 * writing stdin to it, and the other way round. */
static int attach(uint32_t handle, bool tty)
{
        bool stdin_open = true;
        uint8_t buf[32768];
        int fl = fcntl(sock, F_GETFL);

        watch_handle = handle;
        /* With a terminal in the guest, ours passes keys through as they are typed. */
        if (tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
                struct termios raw = saved_tty;
                cfmakeraw(&raw);
                if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
                        tty_raw = true;
        }
        if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0)
                die("socket: %s", strerror(errno));
        for (;;) {
                struct vc_frame f;
                int rc;
                while (!watch_exited && (rc = vc_frame_reader_next(&reader, &f)) == 1)
                        other_frame(&f);
                if (watch_exited)
                        break;
                if (rc < 0)
                        die("the agent sent an invalid frame");
                struct pollfd pfd[2] = {{.fd = sock, .events = POLLIN | (out_len ? POLLOUT : 0)},
                                        {.fd = STDIN_FILENO, .events = POLLIN}};
                bool want_stdin = stdin_open && out_len < 256 * 1024;
                if (poll(pfd, want_stdin ? 2 : 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        die("poll: %s", strerror(errno));
                }
                if (want_stdin && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                stdin_open = false;
                                out_frame(VC_FRAME_DATA, VC_STREAM_STDIN, handle, NULL, 0);
                        } else {
                                out_frame(VC_FRAME_DATA, VC_STREAM_STDIN, handle, buf, (size_t)n);
                        }
                }
                if (out_len && (pfd[0].revents & POLLOUT)) {
                        ssize_t n = write(sock, outbuf, out_len);
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                die("write to the agent: %s", strerror(errno));
                        if (n > 0) {
                                memmove(outbuf, outbuf + n, out_len - (size_t)n);
                                out_len -= (size_t)n;
                        }
                }
                if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(sock, buf, sizeof buf);
                        if (n == 0)
                                die("the agent closed the connection");
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                die("read from the agent: %s", strerror(errno));
                        if (n > 0 && vc_frame_reader_feed(&reader, buf, (size_t)n) < 0)
                                die("out of memory");
                }
        }
        if (tty_raw)
                tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        tty_raw = false;
        /* the exit event comes after all output; what we still owe the agent (stdin) is moot now */
        out_len = 0;
        (void)fcntl(sock, F_SETFL, fl);
        return watch_status;
}

static int parse_popts(int argc, char **argv, struct popts *o, int nfixed)
{
        static const struct option longopts[] = {
            {"tty", no_argument, NULL, 't'},
            {"env", required_argument, NULL, 'e'},
            {"cwd", required_argument, NULL, 'w'},
            {"user", required_argument, NULL, 'u'},
            {"hostname", required_argument, NULL, 'h'},
            {"keep", no_argument, NULL, 'k'},
            {"spec", required_argument, NULL, 's'},
            {"no-pid-ns", no_argument, NULL, 'P'},
            {NULL, 0, NULL, 0},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "+te:w:u:", longopts, NULL)) != -1) {
                switch (c) {
                case 't':
                        o->tty = true;
                        break;
                case 'e':
                        if (o->nenv >= 256 || !strchr(optarg, '='))
                                die("--env: expected KEY=VALUE");
                        o->env[o->nenv++] = optarg;
                        break;
                case 'w':
                        o->cwd = optarg;
                        break;
                case 'u': {
                        char *end;
                        unsigned long u = strtoul(optarg, &end, 10), g = u;
                        if (*end == ':')
                                g = strtoul(end + 1, &end, 10);
                        if (*end != '\0' || u > 0xfffffffe || g > 0xfffffffe)
                                die("--user: expected UID[:GID]");
                        o->user_set = true;
                        o->uid = (uint32_t)u;
                        o->gid = (uint32_t)g;
                        break;
                }
                case 'h':
                        o->hostname = optarg;
                        break;
                case 'k':
                        o->keep = true;
                        break;
                case 's':
                        o->spec_file = optarg;
                        break;
                case 'P':
                        o->no_pid_ns = true;
                        break;
                default:
                        exit(EXIT_FAIL);
                }
        }
        if (argc - optind < nfixed + 2 || strcmp(argv[optind + nfixed], "--") != 0)
                die("expected ID %s -- CMD [ARG...]", argv[0][0] == 'r' ? "ROOTFS" : "EXEC-ID");
        return optind;
}

static uint32_t result_handle(json_object *r)
{
        uint32_t h;
        if (vc_rpc_get_handle(r, &h) < 0)
                die("the agent's answer has no process handle");
        return h;
}

static int cmd_run(int argc, char **argv)
{
        struct popts o = {0};
        int i = parse_popts(argc, argv, &o, 2);
        const char *id = argv[i], *rootfs = argv[i + 1];
        json_object *params, *spec, *r, *err = NULL;
        uint32_t handle;
        int status;

        if (o.spec_file) {
                spec = json_object_from_file(o.spec_file);
                if (spec == NULL)
                        die("--spec '%s': %s", o.spec_file, json_util_get_last_err());
                merge_process(spec, &o, argv + i + 3);
        } else {
                spec = default_spec(&o, id, argv + i + 3);
        }
        params = vc_rpc_params_create_container(id, rootfs, spec, NULL);
        r = call(VC_AGENT_CREATE_CONTAINER, params, NULL);
        handle = result_handle(r);
        json_object_put(r);
        json_object_put(params);

        params = vc_rpc_params_id(id);
        watch_handle = handle;
        r = call(VC_AGENT_START_CONTAINER, params, &err);
        if (r == NULL) {
                const char *msg = NULL;
                int code;
                (void)vc_rpc_read_response(err, &r, &code, &msg);
                fprintf(stderr, "kata-agentctl: %s: %s\n", VC_AGENT_START_CONTAINER, msg ? msg : "?");
                r = NULL;
        }
        json_object_put(r);
        status = attach(handle, o.tty);
        if (!o.keep) {
                timeout_ms = timeout_ms > 0 ? timeout_ms : 60000;
                json_object_put(call(VC_AGENT_REMOVE_CONTAINER, params, NULL));
        }
        json_object_put(params);
        json_object_put(err);
        return status;
}

static int cmd_exec(int argc, char **argv)
{
        struct popts o = {0};
        int i = parse_popts(argc, argv, &o, 2);
        json_object *params =
                        vc_rpc_params_exec_process(argv[i], argv[i + 1], process_object(&o, argv + i + 3)),
                    *r, *p2;
        uint32_t handle;

        r = call(VC_AGENT_EXEC_PROCESS, params, NULL);
        handle = result_handle(r);
        json_object_put(r);
        json_object_put(params);
        p2 = vc_rpc_params_handle(handle);
        watch_handle = handle;
        json_object_put(call(VC_AGENT_START_PROCESS, p2, NULL));
        json_object_put(p2);
        return attach(handle, o.tty);
}

static int cmd_call(int argc, char **argv)
{
        json_object *params = NULL, *r;

        if (argc < 2 || argc > 3)
                die("usage: SOCKET call METHOD [JSON-PARAMS]");
        if (argc == 3) {
                enum json_tokener_error jerr;
                params = json_tokener_parse_verbose(argv[2], &jerr);
                if (params == NULL || !json_object_is_type(params, json_type_object))
                        die("params: not a JSON object: %s",
                            params ? "wrong type" : json_tokener_error_desc(jerr));
        }
        r = call(argv[1], params, NULL);
        puts(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
        json_object_put(r);
        json_object_put(params);
        return 0;
}

/* raw [N]: without N, print what comes back until the agent has been quiet for the timeout (for showing
 * that nothing comes). With N, until N whole frames have come back, or the timeout has passed in all. */
static int cmd_raw(int argc, char **argv)
{
        uint8_t buf[65536];
        struct vc_frame_reader r;
        struct vc_frame f;
        long long want = -1, got = 0;
        int64_t span = timeout_ms > 0 ? timeout_ms : 1000, deadline;
        ssize_t n;

        if (argc > 2)
                die("usage: SOCKET raw [N]");
        if (argc == 2) {
                char *end;
                want = strtoll(argv[1], &end, 10);
                if (*end != '\0' || want < 1)
                        die("raw: expected a number of frames, got '%s'", argv[1]);
        }
        vc_frame_reader_init(&r);
        while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
                write_all(sock, buf, (size_t)n);
        deadline = vc_now_ms() + span;
        while (want < 0 || got < want) {
                struct pollfd pfd = {.fd = sock, .events = POLLIN};
                int64_t left = deadline - vc_now_ms();
                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        break;
                n = read(sock, buf, sizeof buf);
                if (n <= 0)
                        break;
                write_all(STDOUT_FILENO, buf, (size_t)n);
                if (want < 0) {
                        deadline = vc_now_ms() + span;
                        continue;
                }
                if (vc_frame_reader_feed(&r, buf, (size_t)n) < 0)
                        die("raw: out of memory");
                while (got < want && vc_frame_reader_next(&r, &f) > 0)
                        got++;
        }
        vc_frame_reader_free(&r);
        return 0;
}

static void usage(void)
{
        fputs("usage: kata-agentctl [--timeout SECONDS] SOCKET call METHOD [JSON-PARAMS]\n"
              "       kata-agentctl [--timeout SECONDS] SOCKET run [-t] [-e K=V] [-w CWD] [-u UID[:GID]]\n"
              "                     [--hostname H] [--spec FILE] [--no-pid-ns] [--keep] ID ROOTFS -- CMD "
              "[ARG...]\n"
              "       kata-agentctl [--timeout SECONDS] SOCKET exec [-t] [-e K=V] [-w CWD] [-u UID[:GID]] ID "
              "EXEC-ID -- CMD...\n"
              "       kata-agentctl [--timeout SECONDS] SOCKET raw [N] (stdin's bytes as they are; prints "
              "the reply: N frames, or until quiet)\n",
              stderr);
        exit(EXIT_FAIL);
}

int main(int argc, char **argv)
{
        int i = 1;

        signal(SIGPIPE, SIG_IGN);
        if (i < argc && strcmp(argv[i], "--timeout") == 0) {
                char *end;
                if (i + 1 >= argc)
                        usage();
                double t = strtod(argv[i + 1], &end);
                if (*end != '\0' || t < 0 || t > 86400)
                        die("--timeout: expected seconds");
                timeout_ms = (int)(t * 1000);
                i += 2;
        }
        if (argc - i < 2)
                usage();
        connect_socket(argv[i]);
        const char *cmd = argv[i + 1];
        argc -= i + 1;
        argv += i + 1;
        if (strcmp(cmd, "call") == 0)
                return cmd_call(argc, argv);
        if (strcmp(cmd, "run") == 0)
                return cmd_run(argc, argv);
        if (strcmp(cmd, "exec") == 0)
                return cmd_exec(argc, argv);
        if (strcmp(cmd, "raw") == 0)
                return cmd_raw(argc, argv);
        usage();
}
