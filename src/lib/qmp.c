/* QMP client on libuv + json-c. QEMU's monitor sends one JSON object per line: a greeting, then replies
 * (matched here by the "id" we put in each command) and asynchronous events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <json-c/json.h>

#include "util.h"
#include "vc/qmp.h"

#define QMP_MAX_MESSAGE                                                                                      \
        (16u * 1024 * 1024) /* query-qmp-schema is ~200 KiB; anything this large is hostile                  \
                             */

enum qmp_state { QMP_CONNECTING, QMP_GREETING, QMP_NEGOTIATING, QMP_READY, QMP_CLOSED };

struct qmp_cmd {
        struct qmp_cmd *next;
        vc_qmp_t *q;
        uint64_t id;
        char *line; /* serialised command, sent once the connection is ready */
        int sent;
        int is_quit;
        vc_qmp_reply_cb cb;
        void *data;
        uv_timer_t *timer; /* NULL without a timeout */
};

struct vc_qmp {
        uv_loop_t *loop;
        uv_pipe_t pipe;
        uv_connect_t connect_req;
        enum qmp_state state;
        int handle_open; /* pipe initialised, needs uv_close */
        int closing;     /* vc_qmp_close called */
        int pending_closes;
        json_tokener *tok;
        size_t msg_bytes;
        uint64_t next_id;
        struct qmp_cmd *cmds; /* in order of issue */
        vc_qmp_event_cb event_cb;
        void *event_data;
        int in_callback;
};

int vc_qmp_error_errno(const char *klass)
{
        if (klass == NULL)
                return EIO;
        if (strcmp(klass, "CommandNotFound") == 0)
                return EOPNOTSUPP;
        if (strcmp(klass, "DeviceNotFound") == 0 || strcmp(klass, "DeviceNotActive") == 0)
                return ENODEV;
        return EIO;
}

static void timer_free_cb(uv_handle_t *h)
{
        vc_qmp_t *q = h->data;
        free(h);
        if (q && --q->pending_closes == 0 && q->closing && !q->handle_open)
                free(q);
}

static void cmd_free(struct qmp_cmd *c)
{
        if (c->timer) {
                c->timer->data = c->q;
                c->q->pending_closes++;
                uv_close((uv_handle_t *)c->timer, timer_free_cb);
        }
        free(c->line);
        free(c);
}

/* Unlink c from the list and complete it. */
static void cmd_finish(vc_qmp_t *q, struct qmp_cmd *c, int status, json_object *ret, const char *msg)
{
        for (struct qmp_cmd **p = &q->cmds; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        if (c->cb)
                c->cb(q, status, ret, msg, c->data);
        cmd_free(c);
}

static void fail_all(vc_qmp_t *q, int status, const char *msg)
{
        while (q->cmds) {
                struct qmp_cmd *c = q->cmds;
                /* quit: the monitor closing in answer is the expected outcome, and a monitor that is not
                 * there any more (refused, no socket) means qemu has already stopped */
                if (c->is_quit && ((c->sent && (status == -EPIPE || status == -ECONNRESET)) ||
                                   status == -ECONNREFUSED || status == -ENOENT))
                        cmd_finish(q, c, 0, NULL, NULL);
                else
                        cmd_finish(q, c, status, NULL, msg);
        }
}

static void pipe_closed_cb(uv_handle_t *h)
{
        vc_qmp_t *q = h->data;
        q->handle_open = 0;
        if (q->pending_closes == 0)
                free(q);
}

/* The connection is over: fail what is outstanding and release the handle. q stays allocated until
 * vc_qmp_close() (the owner may still call into it). */
static void qmp_disconnect(vc_qmp_t *q, int status, const char *msg)
{
        if (q->state == QMP_CLOSED)
                return;
        q->state = QMP_CLOSED;
        if (q->handle_open)
                uv_read_stop((uv_stream_t *)&q->pipe);
        fail_all(q, status, msg);
}

static void write_done_cb(uv_write_t *req, int status)
{
        free(req->data);
        free(req);
}

static int send_line(vc_qmp_t *q, const char *line)
{
        size_t len = strlen(line);
        uv_write_t *req = malloc(sizeof *req);
        char *copy = malloc(len + 1);
        uv_buf_t buf;
        int r;

        if (req == NULL || copy == NULL) {
                free(req);
                free(copy);
                return -ENOMEM;
        }
        memcpy(copy, line, len);
        copy[len] = '\n';
        req->data = copy;
        buf = uv_buf_init(copy, (unsigned)len + 1);
        r = uv_write(req, (uv_stream_t *)&q->pipe, &buf, 1, write_done_cb);
        if (r < 0) {
                free(copy);
                free(req);
        }
        return r;
}

static void flush_queue(vc_qmp_t *q)
{
        for (struct qmp_cmd *c = q->cmds; c && q->state == QMP_READY; c = c->next)
                if (!c->sent) {
                        int r = send_line(q, c->line);
                        if (r < 0) {
                                qmp_disconnect(q, r, "qmp: write failed");
                                return;
                        }
                        c->sent = 1;
                }
}

static void handle_message(vc_qmp_t *q, json_object *msg)
{
        json_object *v, *id;

        if (q->state == QMP_GREETING) {
                if (!json_object_object_get_ex(msg, "QMP", &v)) {
                        qmp_disconnect(q, -EPROTO, "qmp: no greeting from the monitor");
                        return;
                }
                q->state = QMP_NEGOTIATING;
                if (send_line(q, "{\"execute\":\"qmp_capabilities\",\"id\":0}") < 0)
                        qmp_disconnect(q, -EIO, "qmp: write failed");
                return;
        }
        if (json_object_object_get_ex(msg, "event", &v)) {
                json_object *data = NULL;
                json_object_object_get_ex(msg, "data", &data);
                if (q->event_cb && json_object_is_type(v, json_type_string))
                        q->event_cb(q, json_object_get_string(v), data, q->event_data);
                return;
        }
        if (!json_object_object_get_ex(msg, "id", &id) || !json_object_is_type(id, json_type_int))
                return; /* not ours */
        uint64_t nid = (uint64_t)json_object_get_int64(id);
        if (q->state == QMP_NEGOTIATING) {
                if (nid != 0)
                        return;
                if (!json_object_object_get_ex(msg, "return", &v)) {
                        qmp_disconnect(q, -EPROTO, "qmp: qmp_capabilities refused");
                        return;
                }
                q->state = QMP_READY;
                flush_queue(q);
                return;
        }
        for (struct qmp_cmd *c = q->cmds; c; c = c->next) {
                if (c->id != nid)
                        continue;
                if (json_object_object_get_ex(msg, "return", &v)) {
                        cmd_finish(q, c, 0, v, NULL);
                } else if (json_object_object_get_ex(msg, "error", &v)) {
                        json_object *klass = NULL, *desc = NULL;
                        const char *k, *d;
                        char *text = NULL;
                        json_object_object_get_ex(v, "class", &klass);
                        json_object_object_get_ex(v, "desc", &desc);
                        k = klass ? json_object_get_string(klass) : "Error";
                        d = desc ? json_object_get_string(desc) : "no description";
                        if (asprintf(&text, "qmp %s: %s", k, d) < 0)
                                text = NULL;
                        cmd_finish(q, c, -vc_qmp_error_errno(k), NULL, text ? text : "qmp error");
                        free(text);
                } else {
                        cmd_finish(q, c, -EPROTO, NULL, "qmp: reply without return or error");
                }
                return;
        }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        static char slab[65536]; /* reads are consumed synchronously by the tokener */
        buf->base = slab;
        buf->len = sizeof slab;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
        vc_qmp_t *q = s->data;
        size_t off = 0;

        if (nread < 0) {
                qmp_disconnect(q, nread == UV_EOF ? -EPIPE : (int)nread, "qmp: monitor connection closed");
                return;
        }
        while (off < (size_t)nread && q->state != QMP_CLOSED) {
                json_object *o = json_tokener_parse_ex(q->tok, buf->base + off, (int)((size_t)nread - off));
                enum json_tokener_error e = json_tokener_get_error(q->tok);
                size_t used = json_tokener_get_parse_end(q->tok);
                if (e == json_tokener_continue) {
                        q->msg_bytes += (size_t)nread - off;
                        if (q->msg_bytes > QMP_MAX_MESSAGE)
                                qmp_disconnect(q, -EPROTO, "qmp: message too large");
                        return;
                }
                if (e != json_tokener_success || !json_object_is_type(o, json_type_object)) {
                        json_object_put(o);
                        qmp_disconnect(q, -EPROTO, "qmp: invalid JSON from the monitor");
                        return;
                }
                off += used ? used : 1;
                q->msg_bytes = 0;
                json_tokener_reset(q->tok);
                handle_message(q, o);
                json_object_put(o);
        }
}

static void connect_cb(uv_connect_t *req, int status)
{
        vc_qmp_t *q = req->data;
        if (q->closing)
                return;
        if (status < 0) {
                qmp_disconnect(q, status,
                               status == UV_ENOENT || status == UV_ECONNREFUSED
                                   ? "qmp: monitor socket not there (qemu is not running)"
                                   : "qmp: connect failed");
                return;
        }
        q->state = QMP_GREETING;
        int r = uv_read_start((uv_stream_t *)&q->pipe, alloc_cb, read_cb);
        if (r < 0)
                qmp_disconnect(q, r, "qmp: read failed");
}

static int qmp_new(uv_loop_t *loop, vc_qmp_t **ret, vc_error_t *err)
{
        vc_qmp_t *q = calloc(1, sizeof *q);
        if (q == NULL)
                return vc_error_set(err, ENOMEM, "qmp");
        q->tok = json_tokener_new();
        if (q->tok == NULL) {
                free(q);
                return vc_error_set(err, ENOMEM, "qmp");
        }
        q->loop = loop;
        q->next_id = 1;
        int r = uv_pipe_init(loop, &q->pipe, 0);
        if (r < 0) {
                json_tokener_free(q->tok);
                free(q);
                return vc_error_set(err, -r, "qmp: uv_pipe_init");
        }
        q->pipe.data = q;
        q->handle_open = 1;
        *ret = q;
        return 0;
}

int vc_qmp_connect(uv_loop_t *loop, const char *path, vc_qmp_t **ret, vc_error_t *err)
{
        vc_qmp_t *q;
        int r;

        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return vc_error_setx(err, ENAMETOOLONG, "qmp socket path '%s' is too long", path);
        r = qmp_new(loop, &q, err);
        if (r < 0)
                return r;
        q->state = QMP_CONNECTING;
        q->connect_req.data = q;
        uv_pipe_connect(&q->connect_req, &q->pipe, path, connect_cb);
        *ret = q;
        return 0;
}

int vc_qmp_open_fd(uv_loop_t *loop, int fd, vc_qmp_t **ret, vc_error_t *err)
{
        vc_qmp_t *q;
        int r = qmp_new(loop, &q, err);
        if (r < 0) {
                close(fd);
                return r;
        }
        r = uv_pipe_open(&q->pipe, fd);
        if (r == 0)
                r = uv_read_start((uv_stream_t *)&q->pipe, alloc_cb, read_cb);
        if (r < 0) {
                vc_qmp_close(q);
                return vc_error_set(err, -r, "qmp: open fd %d", fd);
        }
        q->state = QMP_GREETING;
        *ret = q;
        return 0;
}

void vc_qmp_set_event_cb(vc_qmp_t *q, vc_qmp_event_cb cb, void *userdata)
{
        q->event_cb = cb;
        q->event_data = userdata;
}

int vc_qmp_is_open(vc_qmp_t *q)
{
        return q && !q->closing && q->state != QMP_CLOSED;
}

static void cmd_timeout_cb(uv_timer_t *t)
{
        struct qmp_cmd *c = t->data;
        vc_qmp_t *q = c->q;
        cmd_finish(q, c, -ETIMEDOUT, NULL, "qmp: no reply in time");
}

int vc_qmp_execute_async(vc_qmp_t *q, const char *cmd, json_object *args, unsigned timeout_ms,
                         vc_qmp_reply_cb cb, void *data)
{
        _cleanup_(json_object_putp) json_object *o = NULL;
        struct qmp_cmd *c, **tail;

        if (q->closing || q->state == QMP_CLOSED) {
                json_object_put(args);
                return -EPIPE;
        }
        c = calloc(1, sizeof *c);
        o = json_object_new_object();
        if (c == NULL || o == NULL) {
                free(c);
                json_object_put(args);
                return -ENOMEM;
        }
        c->q = q;
        c->id = q->next_id++;
        c->cb = cb;
        c->data = data;
        c->is_quit = strcmp(cmd, "quit") == 0;
        json_object_object_add(o, "execute", json_object_new_string(cmd));
        if (args)
                json_object_object_add(o, "arguments", args);
        json_object_object_add(o, "id", json_object_new_int64((int64_t)c->id));
        c->line = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        if (c->line == NULL) {
                free(c);
                return -ENOMEM;
        }
        if (timeout_ms > 0) {
                c->timer = malloc(sizeof *c->timer);
                if (c->timer == NULL || uv_timer_init(q->loop, c->timer) < 0) {
                        free(c->timer);
                        free(c->line);
                        free(c);
                        return -ENOMEM;
                }
                c->timer->data = c;
                uv_timer_start(c->timer, cmd_timeout_cb, timeout_ms, 0);
        }
        for (tail = &q->cmds; *tail; tail = &(*tail)->next)
                ;
        *tail = c;
        flush_queue(q);
        return 0;
}

void vc_qmp_close(vc_qmp_t *q)
{
        if (q == NULL || q->closing)
                return;
        q->closing = 1;
        if (q->state != QMP_CLOSED) {
                q->state = QMP_CLOSED;
                fail_all(q, -ECANCELED, "qmp: connection closed");
        }
        json_tokener_free(q->tok);
        q->tok = NULL;
        if (q->handle_open)
                uv_close((uv_handle_t *)&q->pipe, pipe_closed_cb);
        else if (q->pending_closes == 0)
                free(q);
}

/* --- blocking one-shot --- */

struct oneshot {
        int done;
        int status;
        json_object *ret;
        char *msg;
};

static void oneshot_cb(vc_qmp_t *q, int status, json_object *ret, const char *msg, void *data)
{
        struct oneshot *o = data;
        o->done = 1;
        o->status = status;
        o->ret = ret ? json_object_get(ret) : NULL;
        o->msg = msg ? strdup(msg) : NULL;
        vc_qmp_close(q);
}

int vc_qmp_execute(const char *path, const char *cmd, json_object *args, unsigned timeout_ms,
                   json_object **ret, vc_error_t *err)
{
        struct oneshot o = {0};
        uv_loop_t loop;
        vc_qmp_t *q = NULL;
        int r;

        r = uv_loop_init(&loop);
        if (r < 0) {
                json_object_put(args);
                return vc_error_set(err, -r, "qmp: uv_loop_init");
        }
        r = vc_qmp_connect(&loop, path, &q, err);
        if (r < 0) {
                json_object_put(args);
                uv_loop_close(&loop);
                return r;
        }
        r = vc_qmp_execute_async(q, cmd, args, timeout_ms, oneshot_cb, &o);
        if (r < 0) {
                vc_qmp_close(q);
                (void)uv_run(&loop, UV_RUN_DEFAULT);
                uv_loop_close(&loop);
                return vc_error_set(err, -r, "qmp '%s'", cmd);
        }
        (void)uv_run(&loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(&loop);
        if (!o.done)
                return vc_error_setx(err, EIO, "qmp '%s': no answer", cmd);
        if (o.status < 0) {
                r = vc_error_setx(err, -o.status, "qmp '%s': %s", cmd, o.msg ? o.msg : strerror(-o.status));
                free(o.msg);
                json_object_put(o.ret);
                return r;
        }
        free(o.msg);
        if (ret)
                *ret = o.ret;
        else
                json_object_put(o.ret);
        return 0;
}
