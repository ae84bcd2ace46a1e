/* The shim's side of the supervisor connection: attach, stdin data, signal_process and resize
 * requests out; responses, exit/vm-exit events and stdout/stderr data in. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <json-c/json.h>

#include "rpc.h"
#include "shim.h"
#include "util.h"
#include "vc/error.h"
#include "vc/log.h"

struct sup_write {
        uv_write_t req;
        struct shim *shim;
        size_t len;
        bool stop_after; /* SIGTSTP: stop ourselves once the container has been told */
        uint8_t buf[];
};

/* What an outstanding request was, to name it when its response is an error. */
#define PENDING_MAX 64
static struct {
        uint32_t id;
        const char *method;
        int arg;
} pending[PENDING_MAX];

static void pending_add(uint32_t id, const char *method, int arg)
{
        unsigned slot = id % PENDING_MAX;
        pending[slot].id = id;
        pending[slot].method = method;
        pending[slot].arg = arg;
}

static void on_sup_write(uv_write_t *req, int status)
{
        struct sup_write *w = (struct sup_write *)req;
        struct shim *s = w->shim;

        s->sup_queued -= w->len;
        if (status < 0 && status != UV_ECANCELED)
                vc_debug("write to supervisor: %s", uv_strerror(status));
        if (w->stop_after)
                (void)raise(SIGSTOP);
        free(w);
        if (s->in.paused && s->sup_queued < SHIM_SUP_LOW)
                s->up->sup_queue_full(s, false);
}

static int sup_send(struct shim *s, uint8_t type, uint8_t stream, uint32_t id, const void *payload,
                    size_t len, bool stop_after)
{
        struct sup_write *w;
        int r;

        if (!s->sup_open)
                return -ENOTCONN;
        w = malloc(sizeof *w + VC_FRAME_HEADER + len);
        if (w == NULL)
                return -ENOMEM;
        r = vc_frame_header_encode(w->buf, type, stream, id, len);
        if (r < 0) {
                free(w);
                return r;
        }
        if (len)
                memcpy(w->buf + VC_FRAME_HEADER, payload, len);
        w->shim = s;
        w->len = VC_FRAME_HEADER + len;
        w->stop_after = stop_after;
        uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)w->len);
        r = uv_write(&w->req, (uv_stream_t *)&s->sup, &b, 1, on_sup_write);
        if (r < 0) {
                free(w);
                return r;
        }
        s->sup_queued += w->len;
        return 0;
}

/* Send {"method": m, "params": params}; takes ownership of params. Returns the request id or 0. */
static uint32_t sup_request(struct shim *s, const char *method, json_object *params, int arg, bool stop_after)
{
        json_object *o = vc_rpc_request(method, params);
        uint32_t id = ++s->next_id;
        size_t len;
        const char *txt = o ? vc_rpc_text(o, &len) : NULL;
        int r = txt ? sup_send(s, VC_FRAME_REQUEST, 0, id, txt, len, stop_after) : -ENOMEM;

        json_object_put(o);
        if (r < 0) {
                vc_log(VC_LOG_WARNING, 0, "send %s: %s", method, strerror(-r));
                if (stop_after)
                        (void)raise(SIGSTOP);
                return 0;
        }
        pending_add(id, method, arg);
        return id;
}

void shim_send_data(struct shim *s, uint8_t stream, const void *data, size_t len)
{
        /* stdin reads are at most SHIM_READ_CHUNK, well under VC_FRAME_MAX */
        int r = sup_send(s, VC_FRAME_DATA, stream, s->handle, data, len, false);
        if (r < 0)
                vc_log(VC_LOG_WARNING, 0, "send stdin data: %s", strerror(-r));
        if (s->sup_queued > SHIM_SUP_HIGH)
                s->up->sup_queue_full(s, true);
}

void shim_send_signal(struct shim *s, int signum)
{
        json_object *p = vc_rpc_params_signal(s->container, s->exec_id, signum, false);
        if (p == NULL)
                return;
        vc_log(VC_LOG_INFO, 0, "forwarding signal %d (%s)", signum, sigabbrev_np(signum) ?: "RT");
        sup_request(s, VC_AGENT_SIGNAL_PROCESS, p, signum, signum == SIGTSTP);
}

void shim_send_resize(struct shim *s, unsigned rows, unsigned cols)
{
        json_object *p = vc_rpc_params_resize(s->handle, rows, cols);
        if (p == NULL)
                return;
        vc_debug("resize to %ux%u", rows, cols);
        sup_request(s, VC_AGENT_RESIZE, p, 0, false);
}

int shim_send_attach(struct shim *s)
{
        json_object *p = vc_rpc_params_handle(s->handle);
        if (p == NULL)
                return -ENOMEM;
        s->attach_id = sup_request(s, VC_SUP_ATTACH, p, 0, false);
        return s->attach_id ? 0 : -EIO;
}

static void on_sup_closed(uv_handle_t *h)
{
        (void)h;
}

static void sup_lost(struct shim *s, const char *why)
{
        if (s->sup_open) {
                s->sup_open = false;
                uv_close((uv_handle_t *)&s->sup, on_sup_closed);
        }
        if (s->exiting)
                return;
        if (!s->attached) {
                char msg[128];
                snprintf(msg, sizeof msg, "supervisor connection %s before attach", why);
                s->up->fail(s, EPIPE, msg);
                return;
        }
        vc_log(VC_LOG_ERROR, 0, "supervisor connection %s, exiting with %d", why, SHIM_EXIT_FAILURE);
        s->up->exit(s, SHIM_EXIT_FAILURE);
}

static void handle_response(struct shim *s, const struct vc_frame *f)
{
        _cleanup_(json_object_putp) json_object *o = vc_rpc_parse(f->payload, f->len);
        json_object *result;
        const char *code = "EPROTO", *msg = "malformed response";
        int errnum = EPROTO;

        switch (o ? vc_rpc_read_response(o, &result, &errnum, &msg) : -EPROTO) {
        case 0:
                code = NULL;
                break;
        case 1:
                code = vc_rpc_errno_name(errnum);
                break;
        default:
                msg = "malformed response";
                break;
        }

        if (f->id == s->attach_id && !s->attached) {
                if (code) {
                        char line[512];
                        snprintf(line, sizeof line, "attach handle %u: %s: %s", s->handle, code, msg);
                        s->up->fail(s, errnum, line);
                        return;
                }
                s->up->attached(s);
                return;
        }
        unsigned slot = f->id % PENDING_MAX;
        const char *method = pending[slot].id == f->id ? pending[slot].method : "request";
        if (code == NULL)
                return;
        if (method && STREQ(method, VC_AGENT_SIGNAL_PROCESS))
                vc_log(VC_LOG_WARNING, 0, "signal %d not delivered: %s: %s", pending[slot].arg, code, msg);
        else
                vc_log(VC_LOG_WARNING, 0, "%s failed: %s: %s", method ?: "request", code, msg);
}

static void handle_event(struct shim *s, const struct vc_frame *f)
{
        _cleanup_(json_object_putp) json_object *o = vc_rpc_parse(f->payload, f->len);
        json_object *params = NULL;
        const char *name;
        uint32_t handle;
        int status;

        if (o == NULL || vc_rpc_read_event(o, &name, &params) < 0) {
                vc_log(VC_LOG_WARNING, 0, "malformed event from supervisor, ignoring");
                return;
        }
        if (STREQ(name, VC_EVENT_EXIT)) {
                if (vc_rpc_get_handle(params, &handle) < 0 || vc_rpc_get_status(params, &status) < 0) {
                        vc_log(VC_LOG_WARNING, 0, "malformed exit event, ignoring");
                        return;
                }
                if (handle != s->handle || s->exiting)
                        return;
                if (status < 0 || status > 255) {
                        vc_log(VC_LOG_WARNING, 0, "exit status %d out of range, using %d", status,
                               SHIM_EXIT_FAILURE);
                        status = SHIM_EXIT_FAILURE;
                }
                vc_log(VC_LOG_INFO, 0, "process exited with status %d", (int)status);
                s->up->exit(s, (int)status);
        } else if (STREQ(name, VC_EVENT_VM_EXIT)) {
                if (s->exiting)
                        return;
                vc_log(VC_LOG_ERROR, 0, "sandbox VM exited, exiting with %d", SHIM_EXIT_FAILURE);
                if (!s->attached) {
                        s->up->fail(s, EPIPE, "sandbox VM exited before attach");
                        return;
                }
                s->up->exit(s, SHIM_EXIT_FAILURE);
        } else {
                vc_debug("event '%s' ignored", name);
        }
}

static void handle_data(struct shim *s, const struct vc_frame *f)
{
        if (f->id != s->handle || f->stream == VC_STREAM_STDIN)
                return;
        s->up->output(s, f->stream, f->payload, f->len);
}

static void on_sup_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
        static char buf[SHIM_READ_CHUNK];
        (void)h;
        (void)hint;
        *b = uv_buf_init(buf, sizeof buf);
}

static void on_sup_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
        struct shim *s = st->data;
        struct vc_frame f;
        int r;

        if (n == UV_EOF)
                return sup_lost(s, "closed");
        if (n < 0) {
                char why[128];
                snprintf(why, sizeof why, "failed: %s", uv_strerror((int)n));
                return sup_lost(s, why);
        }
        if (vc_frame_reader_feed(&s->reader, b->base, (size_t)n) < 0)
                return sup_lost(s, "failed: out of memory");
        while ((r = vc_frame_reader_next(&s->reader, &f)) == 1) {
                switch (f.type) {
                case VC_FRAME_RESPONSE:
                        handle_response(s, &f);
                        break;
                case VC_FRAME_EVENT:
                        handle_event(s, &f);
                        break;
                case VC_FRAME_DATA:
                        handle_data(s, &f);
                        break;
                default:
                        vc_debug("request frame from supervisor ignored");
                        break;
                }
                if (!s->sup_open)
                        return;
        }
        if (r < 0)
                sup_lost(s, "broken: protocol error");
}

int shim_connect(struct shim *s, const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        int r;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                if (errno != EINTR)
                        return -errno;
        r = uv_pipe_init(s->loop, &s->sup, 0);
        if (r < 0)
                return r;
        r = uv_pipe_open(&s->sup, fd);
        if (r < 0) {
                uv_close((uv_handle_t *)&s->sup, NULL);
                return r;
        }
        TAKE_FD(fd);
        s->sup.data = s;
        s->sup_open = true;
        s->sup_paused = true; /* shim_sup_pause(s, false) starts reading */
        vc_frame_reader_init(&s->reader);
        return 0;
}

/* Stop or (re)start reading the supervisor socket: the back pressure for slow stdout/stderr readers. */
void shim_sup_pause(struct shim *s, bool pause)
{
        if (!s->sup_open || pause == s->sup_paused)
                return;
        s->sup_paused = pause;
        if (pause) {
                (void)uv_read_stop((uv_stream_t *)&s->sup);
                return;
        }
        int r = uv_read_start((uv_stream_t *)&s->sup, on_sup_alloc, on_sup_read);
        if (r < 0)
                sup_lost(s, "failed: cannot read");
}
