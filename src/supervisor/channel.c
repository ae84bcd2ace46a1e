/* The agent channel: frames in and out of the agent's virtio-serial port (channel.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "framing.h"
#include "vc/log.h"

void sup_chan_init(struct sup_chan *ch, const struct sup_chan_ops *ops, void *data)
{
        memset(ch, 0, sizeof *ch);
        ch->ops = ops;
        ch->data = data;
        vc_frame_reader_init(&ch->rd);
}

void sup_chan_free(struct sup_chan *ch)
{
        vc_frame_reader_free(&ch->rd);
}

static void closed_cb(uv_handle_t *h)
{
}

void sup_chan_close(struct sup_chan *ch)
{
        if (ch->open && !uv_is_closing((uv_handle_t *)&ch->pipe))
                uv_close((uv_handle_t *)&ch->pipe, closed_cb);
        ch->connected = false;
}

static void write_cb(uv_write_t *req, int status)
{
        struct sup_frame_write *w = (struct sup_frame_write *)req;
        struct sup_chan *ch = w->owner;

        free(w);
        if (status != UV_ECANCELED && ch->connected)
                ch->ops->progress(ch);
}

int sup_chan_send(struct sup_chan *ch, uint8_t type, uint8_t stream, uint32_t id, const void *payload,
                  size_t len)
{
        if (!ch->connected)
                return -EPIPE;
        return sup_frame_write((uv_stream_t *)&ch->pipe, type, stream, id, payload, len, ch, write_cb);
}

size_t sup_chan_queued(const struct sup_chan *ch)
{
        return ch->connected ? uv_stream_get_write_queue_size((const uv_stream_t *)&ch->pipe) : 0;
}

static bool deliver(void *ctx, struct vc_frame *f)
{
        struct sup_chan *ch = ctx;

        ch->ops->frame(ch, f);
        return ch->connected;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
        struct sup_chan *ch = st->data;
        int r;

        if (nread == 0)
                return;
        if (nread < 0) {
                sup_chan_close(ch);
                ch->ops->ended(ch, (int)nread);
                return;
        }
        r = sup_frame_feed(&ch->rd, buf->base, (size_t)nread, deliver, ch);
        if (r == -ENOMEM) {
                vc_log(VC_LOG_ERROR, ENOMEM, "agent channel");
        } else if (r < 0) {
                sup_chan_close(ch);
                ch->ops->protocol_error(ch);
                return;
        }
        if (ch->connected)
                ch->ops->progress(ch);
}

void sup_chan_pause(struct sup_chan *ch, bool pause)
{
        if (!ch->connected || pause == ch->paused)
                return;
        ch->paused = pause;
        if (pause)
                uv_read_stop((uv_stream_t *)&ch->pipe);
        else
                uv_read_start((uv_stream_t *)&ch->pipe, sup_frame_alloc, read_cb);
}

static void connect_cb(uv_connect_t *req, int status)
{
        struct sup_chan *ch = req->data;

        if (status == 0 && !uv_is_closing((uv_handle_t *)&ch->pipe)) {
                ch->connected = true;
                ch->paused = false;
                uv_read_start((uv_stream_t *)&ch->pipe, sup_frame_alloc, read_cb);
        } else if (status == 0) {
                status = UV_ECANCELED;
        }
        ch->ops->connected(ch, status);
}

int sup_chan_connect(struct sup_chan *ch, uv_loop_t *loop, const char *path)
{
        int r = uv_pipe_init(loop, &ch->pipe, 0);
        if (r < 0)
                return r;
        ch->pipe.data = ch;
        ch->open = true;
        ch->connect.data = ch;
        uv_pipe_connect(&ch->connect, &ch->pipe, path, connect_cb);
        return 0;
}
