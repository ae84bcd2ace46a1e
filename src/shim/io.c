/* The shim's stdio: process output from data frames to its stdout/stderr (or the console), its stdin
 * (or the console) to data frames. Whatever the caller handed over works: pipes, FIFOs, unix sockets and
 * terminals through libuv streams; regular files, /dev/null and other character devices, which epoll
 * cannot watch, through blocking reads and writes on libuv's thread pool. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "shim.h"
#include "util.h"
#include "vc/log.h"

struct sink_write {
        uv_write_t req;
        struct shim_sink *k;
        size_t len;
        char data[];
};

static void free_handle(uv_handle_t *h)
{
        free(h);
}

/* Wait for fd to be ready when it is non-blocking (someone else's flags on a shared description). */
static int wait_fd(int fd, short events)
{
        struct pollfd p = {.fd = fd, .events = events};
        while (poll(&p, 1, -1) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

/* --- output --- */

static void sink_dead(struct shim_sink *k, int code)
{
        if (!k->dead)
                vc_log(k->stdio_fd < 0 ? VC_LOG_WARNING : VC_LOG_INFO, 0,
                       "%s: write failed (%s), dropping further output", k->name, strerror(code));
        k->dead = true;
        for (struct shim_chunk *c = k->head, *n; c; c = n) {
                n = c->next;
                if (c != k->head || !k->busy) {
                        k->queued -= c->len - c->off;
                        free(c);
                }
        }
        if (k->busy) {
                k->head->next = NULL; /* the chunk a worker is writing is freed when it comes back */
                k->tail = k->head;
        } else {
                k->head = k->tail = NULL;
        }
}

static void sink_maybe_close(struct shim_sink *k)
{
        struct shim *s = k->shim;

        if (!k->eof || k->closed || !shim_sink_drained(k))
                return;
        k->closed = true;
        if (k->shared || k->kind == SHIM_IO_NONE)
                return;
        vc_debug("%s closed", k->name);
        if (k->kind == SHIM_IO_STREAM) {
                uv_close((uv_handle_t *)k->stream, free_handle);
                k->stream = NULL;
        }
        /* the reader sees EOF once our copy is gone; /dev/null keeps the number taken so that no later
         * fd (or the default log sink on fd 2) lands on it */
        (void)dup2(s->devnull, k->stdio_fd);
        if (k->stdio_fd >= 0 && k->stdio_fd <= 2)
                s->saved_flags[k->stdio_fd] = -1;
}

static void on_sink_write(uv_write_t *req, int status)
{
        struct sink_write *w = (struct sink_write *)req;
        struct shim_sink *k = w->k;

        k->queued -= w->len;
        if (status < 0) {
                if (status != UV_ECANCELED)
                        sink_dead(k, -status);
        } else {
                k->written += w->len;
        }
        free(w);
        sink_maybe_close(k);
        k->shim->up->output_progress(k->shim);
}

static void sink_file_kick(struct shim_sink *k);

static void work_file_write(uv_work_t *req)
{
        struct shim_sink *k = req->data;
        struct shim_chunk *c = k->head;

        k->work_result = 0;
        while (c->off < c->len) {
                ssize_t n = write(k->fd, c->data + c->off, c->len - c->off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN && wait_fd(k->fd, POLLOUT) == 0)
                                continue;
                        k->work_result = -errno;
                        return;
                }
                c->off += (size_t)n;
        }
}

static void after_file_write(uv_work_t *req, int status)
{
        struct shim_sink *k = req->data;
        struct shim_chunk *c = k->head;

        k->busy = false;
        k->head = c->next;
        if (k->head == NULL)
                k->tail = NULL;
        k->queued -= c->len;
        k->written += c->off;
        free(c);
        if (status < 0 || k->work_result < 0)
                sink_dead(k, status < 0 ? -status : -k->work_result);
        sink_file_kick(k);
        sink_maybe_close(k);
        k->shim->up->output_progress(k->shim);
}

static void sink_file_kick(struct shim_sink *k)
{
        if (k->busy || k->head == NULL || k->dead)
                return;
        k->work.data = k;
        if (uv_queue_work(k->shim->loop, &k->work, work_file_write, after_file_write) < 0) {
                sink_dead(k, EIO);
                return;
        }
        k->busy = true;
}

void shim_sink_write(struct shim_sink *k, const void *data, size_t len)
{
        if (k->dead || k->eof || k->kind == SHIM_IO_NONE || len == 0)
                return;
        if (k->kind == SHIM_IO_STREAM) {
                struct sink_write *w = malloc(sizeof *w + len);
                if (w == NULL) {
                        sink_dead(k, ENOMEM);
                        return;
                }
                memcpy(w->data, data, len);
                w->k = k;
                w->len = len;
                uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
                int r = uv_write(&w->req, k->stream, &b, 1, on_sink_write);
                if (r < 0) {
                        free(w);
                        sink_dead(k, -r);
                        return;
                }
                k->queued += len;
                return;
        }
        struct shim_chunk *c = malloc(sizeof *c + len);
        if (c == NULL) {
                sink_dead(k, ENOMEM);
                return;
        }
        c->next = NULL;
        c->len = len;
        c->off = 0;
        memcpy(c->data, data, len);
        if (k->tail)
                k->tail->next = c;
        else
                k->head = c;
        k->tail = c;
        k->queued += len;
        sink_file_kick(k);
}

void shim_sink_eof(struct shim_sink *k)
{
        if (k->eof)
                return;
        vc_debug("%s: end of stream", k->name);
        k->eof = true;
        sink_maybe_close(k);
}

bool shim_sink_drained(const struct shim_sink *k)
{
        return k->queued == 0 && !k->busy;
}

size_t shim_out_queued(const struct shim *s)
{
        return s->out.queued + s->err.queued;
}

/* --- input --- */

static void source_eof(struct shim_source *src, const char *why)
{
        struct shim *s = src->shim;

        if (src->eof)
                return;
        src->eof = true;
        if (why)
                vc_log(VC_LOG_INFO, 0, "%s: %s, closing the process's stdin", src->name, why);
        else
                vc_debug("%s: end of input", src->name);
        s->up->input(s, NULL, 0);
        if (src->kind == SHIM_IO_STREAM) {
                (void)uv_read_stop(src->stream);
                if (!src->shared) {
                        uv_close((uv_handle_t *)src->stream, free_handle);
                        src->stream = NULL;
                }
        }
        if (!src->shared && src->kind != SHIM_IO_NONE) {
                (void)dup2(s->devnull, STDIN_FILENO);
                s->saved_flags[STDIN_FILENO] = -1;
        }
}

static void on_source_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
        static char buf[SHIM_READ_CHUNK];
        (void)h;
        (void)hint;
        *b = uv_buf_init(buf, sizeof buf);
}

static void on_source_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
        struct shim_source *src = st->data;

        if (n > 0) {
                src->shim->up->input(src->shim, b->base, (size_t)n);
                return;
        }
        if (n == UV_EOF)
                source_eof(src, NULL);
        else if (n < 0)
                source_eof(src, n == UV_EIO && src->shared ? "terminal hung up" : uv_strerror((int)n));
}

static void source_file_kick(struct shim_source *src);

static void work_file_read(uv_work_t *req)
{
        struct shim_source *src = req->data;

        for (;;) {
                ssize_t n = read(src->fd, src->buf, SHIM_READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN && wait_fd(src->fd, POLLIN) == 0)
                        continue;
                src->work_result = n < 0 ? -errno : n;
                return;
        }
}

static void after_file_read(uv_work_t *req, int status)
{
        struct shim_source *src = req->data;
        ssize_t n = status < 0 ? status : src->work_result;

        src->busy = false;
        if (src->eof)
                return;
        if (n > 0) {
                src->shim->up->input(src->shim, src->buf, (size_t)n);
                source_file_kick(src);
        } else if (n == 0) {
                source_eof(src, NULL);
        } else {
                source_eof(src, strerror((int)-n));
        }
}

static void source_file_kick(struct shim_source *src)
{
        if (src->busy || src->paused || src->eof || !src->started)
                return;
        src->work.data = src;
        if (uv_queue_work(src->shim->loop, &src->work, work_file_read, after_file_read) < 0) {
                source_eof(src, "cannot queue a read");
                return;
        }
        src->busy = true;
}

void shim_source_start(struct shim_source *src)
{
        struct shim *s = src->shim;

        if (src->started)
                return;
        src->started = true;
        switch (src->kind) {
        case SHIM_IO_NONE:
                source_eof(src, NULL);
                break;
        case SHIM_IO_FILE:
                source_file_kick(src);
                break;
        case SHIM_IO_STREAM:
                if (s->terminal && s->stdin_tty && (uv_stream_t *)s->stdin_tty == src->stream) {
                        int r = uv_tty_set_mode(s->stdin_tty, UV_TTY_MODE_RAW);
                        if (r < 0)
                                vc_log(VC_LOG_WARNING, 0, "raw mode on stdin: %s, ignoring", uv_strerror(r));
                        else
                                s->tty_raw = true;
                }
                src->paused = true;
                shim_source_pause(src, s->sup_queued > SHIM_SUP_HIGH);
                break;
        }
}

void shim_source_pause(struct shim_source *src, bool pause)
{
        if (!src->started || src->eof || pause == src->paused)
                return;
        src->paused = pause;
        if (src->kind == SHIM_IO_FILE) {
                if (!pause)
                        source_file_kick(src);
                return;
        }
        if (src->kind != SHIM_IO_STREAM)
                return;
        if (pause) {
                (void)uv_read_stop(src->stream);
        } else {
                int r = uv_read_start(src->stream, on_source_alloc, on_source_read);
                if (r < 0)
                        source_eof(src, uv_strerror(r));
        }
}

void shim_source_stop(struct shim_source *src)
{
        if (src->kind == SHIM_IO_STREAM && src->stream && !src->eof)
                (void)uv_read_stop(src->stream);
        src->paused = true;
}

/* --- setup --- */

/* A FIFO or pipe is reopened through /proc/self/fd so that libuv's O_NONBLOCK lands on our own open file
 * description, not on one the caller (a shell, the engine) shares; libuv does the same for terminals. */
static int reopen_fifo(int fd, int flags)
{
        struct stat st;
        char path[64];

        if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
                return -1;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        return open(path, flags | O_CLOEXEC | O_NONBLOCK);
}

static int open_stdio(struct shim *s, int fd, bool readable, enum shim_io_kind *ret_kind,
                      uv_stream_t **ret_stream)
{
        int flags = fcntl(fd, F_GETFL);
        int r;

        *ret_stream = NULL;
        if (flags < 0) {
                *ret_kind = SHIM_IO_NONE; /* not open: nothing to read, nowhere to write */
                return 0;
        }
        switch (uv_guess_handle(fd)) {
        case UV_TTY: {
                uv_tty_t *t = malloc(sizeof *t);
                if (t == NULL)
                        return -ENOMEM;
                r = uv_tty_init(s->loop, t, fd, readable);
                if (r < 0) {
                        free(t);
                        return r;
                }
                if (readable)
                        s->stdin_tty = t;
                *ret_stream = (uv_stream_t *)t;
                *ret_kind = SHIM_IO_STREAM;
                return 0;
        }
        case UV_NAMED_PIPE: {
                uv_pipe_t *p = malloc(sizeof *p);
                if (p == NULL)
                        return -ENOMEM;
                r = uv_pipe_init(s->loop, p, 0);
                if (r < 0) {
                        free(p);
                        return r;
                }
                int own = reopen_fifo(fd, readable ? O_RDONLY : O_WRONLY);
                if (own < 0) {
                        /* a socket, or a FIFO without a reader: use it in place, restore its flags at exit */
                        s->saved_flags[fd] = flags;
                        own = fd;
                }
                r = uv_pipe_open(p, own);
                if (r < 0) {
                        if (own != fd)
                                (void)close(own);
                        uv_close((uv_handle_t *)p, free_handle);
                        return r;
                }
                *ret_stream = (uv_stream_t *)p;
                *ret_kind = SHIM_IO_STREAM;
                return 0;
        }
        default:
                *ret_kind = SHIM_IO_FILE;
                return 0;
        }
}

static int sink_init(struct shim *s, struct shim_sink *k, const char *name, int fd)
{
        k->shim = s;
        k->name = name;
        k->stdio_fd = fd;
        k->fd = fd;
        if (s->console) {
                k->kind = SHIM_IO_STREAM;
                k->stream = (uv_stream_t *)s->console;
                k->shared = true;
                k->name = "console";
                return 0;
        }
        int r = open_stdio(s, fd, false, &k->kind, &k->stream);
        if (r == 0 && k->stream)
                k->stream->data = k;
        return r;
}

int shim_stdio_setup(struct shim *s)
{
        struct shim_source *in = &s->in;
        int r;

        r = sink_init(s, &s->out, "stdout", STDOUT_FILENO);
        if (r == 0)
                r = sink_init(s, &s->err, "stderr", STDERR_FILENO);
        if (r < 0)
                return r;

        in->shim = s;
        in->name = "stdin";
        in->fd = STDIN_FILENO;
        if (s->console) {
                in->kind = SHIM_IO_STREAM;
                in->stream = (uv_stream_t *)s->console;
                in->shared = true;
                in->name = "console";
        } else {
                r = open_stdio(s, STDIN_FILENO, true, &in->kind, &in->stream);
                if (r < 0)
                        return r;
                if (in->kind == SHIM_IO_FILE) {
                        in->buf = malloc(SHIM_READ_CHUNK);
                        if (in->buf == NULL)
                                return -ENOMEM;
                }
        }
        if (in->stream)
                in->stream->data = in;
        vc_debug("stdio: stdin %d, stdout %d, stderr %d (0 none, 1 stream, 2 file)", in->kind, s->out.kind,
                 s->err.kind);
        return 0;
}

void shim_stdio_restore(struct shim *s)
{
        if (s->tty_raw) {
                (void)uv_tty_reset_mode();
                s->tty_raw = false;
        }
        for (int fd = 0; fd < 3; fd++)
                if (s->saved_flags[fd] >= 0)
                        (void)fcntl(fd, F_SETFL, s->saved_flags[fd]);
}
