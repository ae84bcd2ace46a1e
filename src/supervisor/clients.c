/* The clients of sup.sock: listener, connections, frames in and out (clients.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base.h"
#include "clients.h"
#include "framing.h"
#include "vc/log.h"

void sup_clients_init(struct sup_clients *set, uv_loop_t *loop, const struct sup_clients_ops *ops, void *data)
{
        memset(set, 0, sizeof *set);
        set->loop = loop;
        set->ops = ops;
        set->data = data;
}

static void closed_cb(uv_handle_t *h)
{
        struct sup_client *c = h->data;
        struct sup_clients *set = c->set;

        for (struct sup_client **cc = &set->list; *cc; cc = &(*cc)->next)
                if (*cc == c) {
                        *cc = c->next;
                        break;
                }
        vc_frame_reader_free(&c->rd);
        free(c);
}

/* Mark c closing and tell the owner, once; the caller closes the handle. */
static bool begin_close(struct sup_client *c)
{
        if (c->closing)
                return false;
        c->closing = true;
        c->set->ops->closing(c);
        return true;
}

void sup_client_close(struct sup_client *c)
{
        if (begin_close(c))
                uv_close((uv_handle_t *)&c->pipe, closed_cb);
}

struct sup_client *sup_client_alive(struct sup_clients *set, const struct sup_client *c)
{
        for (struct sup_client *x = set->list; x; x = x->next)
                if (x == c && !x->closing)
                        return x;
        return NULL;
}

static void write_cb(uv_write_t *req, int status)
{
        struct sup_frame_write *w = (struct sup_frame_write *)req;
        struct sup_client *c = w->owner;

        if (status == 0)
                c->written += w->len;
        free(w);
        if (status == 0 && !c->closing)
                c->set->ops->progress(c);
}

int sup_client_send(struct sup_client *c, uint8_t type, uint8_t stream, uint32_t id, const void *payload,
                    size_t len)
{
        if (c == NULL || c->closing)
                return -EPIPE;
        if (sup_client_queued(c) + VC_FRAME_HEADER + len > SUP_CLIENT_QUEUE_MAX) {
                vc_log(VC_LOG_WARNING, 0, "client %s does not read: %zu bytes queued to it, disconnecting",
                       c->name, sup_client_queued(c));
                sup_client_close(c);
                return -ENOBUFS;
        }
        return sup_frame_write((uv_stream_t *)&c->pipe, type, stream, id, payload, len, c, write_cb);
}

size_t sup_client_queued(const struct sup_client *c)
{
        return c->closing ? 0 : uv_stream_get_write_queue_size((const uv_stream_t *)&c->pipe);
}

static bool deliver(void *ctx, struct vc_frame *f)
{
        struct sup_client *c = ctx;

        c->set->ops->frame(c, f);
        return !c->closing;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
        struct sup_client *c = st->data;
        int r;

        if (nread == 0)
                return;
        if (nread < 0) {
                sup_client_close(c);
                return;
        }
        r = sup_frame_feed(&c->rd, buf->base, (size_t)nread, deliver, c);
        if (r < 0 && !c->closing) {
                if (r == -EPROTO)
                        vc_log(VC_LOG_WARNING, 0, "protocol error from client %s, dropping it", c->name);
                sup_client_close(c);
        }
}

void sup_client_pause(struct sup_client *c, bool pause)
{
        if (c->closing || pause == c->paused)
                return;
        c->paused = pause;
        if (pause)
                uv_read_stop((uv_stream_t *)&c->pipe);
        else
                uv_read_start((uv_stream_t *)&c->pipe, sup_frame_alloc, read_cb);
}

/* "pid N (comm)" of the peer, for the log lines that name a client. */
static void peer_name(struct sup_client *c)
{
        struct ucred cred;
        socklen_t len = sizeof cred;
        uv_os_fd_t fd;
        char path[64], comm[20] = "";
        int cfd;

        snprintf(c->name, sizeof c->name, "(unknown)");
        if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return;
        snprintf(path, sizeof path, "/proc/%d/comm", (int)cred.pid);
        cfd = open(path, O_RDONLY | O_CLOEXEC);
        if (cfd >= 0) {
                ssize_t n = read(cfd, comm, sizeof comm - 1);
                comm[n > 0 ? n : 0] = '\0';
                comm[strcspn(comm, "\n")] = '\0';
                close(cfd);
        }
        snprintf(c->name, sizeof c->name, "pid %d (%s)", (int)cred.pid, comm);
}

static void on_connection(uv_stream_t *server, int status)
{
        struct sup_clients *set = server->data;
        struct sup_client *c;

        if (status < 0)
                return;
        c = calloc(1, sizeof *c);
        if (c == NULL)
                return;
        c->set = set;
        vc_frame_reader_init(&c->rd);
        uv_pipe_init(set->loop, &c->pipe, 0);
        c->pipe.data = c;
        c->next = set->list;
        set->list = c;
        if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 || set->refuse) {
                c->closing = true; /* never seen by the owner */
                uv_close((uv_handle_t *)&c->pipe, closed_cb);
                return;
        }
        peer_name(c);
        uv_read_start((uv_stream_t *)&c->pipe, sup_frame_alloc, read_cb);
}

/* Every SUP_CLIENT_WATCH_MS: a client behind that took nothing of its queue for SUP_CLIENT_STALL_MS is
 * disconnected. */
static void on_watch(uv_timer_t *t)
{
        struct sup_clients *set = t->data;
        uint64_t now = vc_now_ms();

        for (struct sup_client *c = set->list; c; c = c->next) {
                if (c->closing)
                        continue;
                if (sup_client_queued(c) <= SUP_CLIENT_HIGH) {
                        c->behind_ms = 0;
                } else if (c->behind_ms == 0 || c->written != c->stall_mark) {
                        c->behind_ms = now;
                        c->stall_mark = c->written;
                } else if (now - c->behind_ms >= SUP_CLIENT_STALL_MS) {
                        vc_log(VC_LOG_WARNING, 0,
                               "client %s does not read: %zu bytes queued to it, none taken in %llu s, "
                               "disconnecting",
                               c->name, sup_client_queued(c),
                               (unsigned long long)(now - c->behind_ms) / 1000);
                        sup_client_close(c);
                }
        }
}

int sup_clients_listen(struct sup_clients *set, const char *path)
{
        mode_t old;
        int r;

        (void)unlink(path);
        r = uv_pipe_init(set->loop, &set->listener, 0);
        if (r < 0)
                return r;
        set->listener.data = set;
        set->listening = true;
        /* 0600 from the moment it exists: a chmod after the bind would leave a window */
        old = umask(0177);
        r = uv_pipe_bind(&set->listener, path);
        umask(old);
        if (r == 0)
                r = uv_listen((uv_stream_t *)&set->listener, 64, on_connection);
        if (r == 0 && uv_timer_init(set->loop, &set->watch) == 0) {
                set->watch.data = set;
                set->watching = true;
                uv_timer_start(&set->watch, on_watch, SUP_CLIENT_WATCH_MS, SUP_CLIENT_WATCH_MS);
                uv_unref((uv_handle_t *)&set->watch);
        }
        return r;
}

void sup_clients_stop_listening(struct sup_clients *set, const char *path)
{
        if (set->watching) {
                uv_close((uv_handle_t *)&set->watch, NULL);
                set->watching = false;
        }
        if (!set->listening)
                return;
        if (!uv_is_closing((uv_handle_t *)&set->listener))
                uv_close((uv_handle_t *)&set->listener, NULL);
        set->listening = false;
        (void)unlink(path);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
        struct sup_client *c = req->data;
        free(req);
        if (!uv_is_closing((uv_handle_t *)&c->pipe))
                uv_close((uv_handle_t *)&c->pipe, closed_cb);
}

void sup_clients_flush(struct sup_clients *set)
{
        set->refuse = true;
        for (struct sup_client *c = set->list; c; c = c->next) {
                if (!begin_close(c))
                        continue;
                uv_read_stop((uv_stream_t *)&c->pipe);
                uv_shutdown_t *req = malloc(sizeof *req);
                if (req) {
                        req->data = c;
                        if (uv_shutdown(req, (uv_stream_t *)&c->pipe, shutdown_cb) == 0)
                                continue;
                        free(req);
                }
                uv_close((uv_handle_t *)&c->pipe, closed_cb);
        }
}

void sup_clients_abort(struct sup_clients *set)
{
        set->refuse = true;
        for (struct sup_client *c = set->list; c; c = c->next) {
                (void)begin_close(c);
                if (!uv_is_closing((uv_handle_t *)&c->pipe))
                        uv_close((uv_handle_t *)&c->pipe, closed_cb);
        }
}
