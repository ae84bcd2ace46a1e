/* The agent channel: the virtio-serial port to the guest agent as a stream of frames (frame.h). It only
 * moves frames: what they mean is its owner's (router.c), told through the callbacks it registers, in the
 * style of a libuv handle. Nothing here calls up except through those callbacks. */
#ifndef VC_SUP_CHANNEL_H
#define VC_SUP_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"

struct sup_chan;

struct sup_chan_ops {
        /* connecting finished: 0, or a negative libuv error */
        void (*connected)(struct sup_chan *ch, int status);
        /* one frame from the agent; f->payload is valid during the call only. The channel may be closed
         * from inside. */
        void (*frame)(struct sup_chan *ch, struct vc_frame *f);
        /* the stream ended (EOF or an error): the channel is closed and nothing more is sent */
        void (*ended)(struct sup_chan *ch, int status);
        /* the stream broke the framing (the guest is untrusted: it cannot be resynchronised). The channel
         * is closed when this is called. */
        void (*protocol_error)(struct sup_chan *ch);
        /* a batch of bytes was read and its frames handed out, or a write finished: time to look at
         * queues (backpressure) */
        void (*progress)(struct sup_chan *ch);
};

struct sup_chan {
        uv_pipe_t pipe;
        uv_connect_t connect;
        struct vc_frame_reader rd;
        bool open;      /* the handle is initialised */
        bool connected; /* usable: frames can be sent */
        bool paused;    /* not reading (sup_chan_pause) */
        const struct sup_chan_ops *ops;
        void *data; /* the owner's */
};

void sup_chan_init(struct sup_chan *ch, const struct sup_chan_ops *ops, void *data);
/* Connect to the agent's unix socket; ops->connected tells the outcome. */
int sup_chan_connect(struct sup_chan *ch, uv_loop_t *loop, const char *path);
/* Queue one frame; -EPIPE when not connected. */
int sup_chan_send(struct sup_chan *ch, uint8_t type, uint8_t stream, uint32_t id, const void *payload,
                  size_t len);
/* Bytes accepted by sup_chan_send and not yet written to the socket. */
size_t sup_chan_queued(const struct sup_chan *ch);
/* Stop (true) or resume (false) reading from the agent: a paused channel leaves the guest's frames in
 * the port, so the agent's writes block and the guest slows down instead of the host buffering. */
void sup_chan_pause(struct sup_chan *ch, bool pause);
/* Close (idempotent); no callback follows. */
void sup_chan_close(struct sup_chan *ch);
/* Release what sup_chan_init allocated, once the loop has run the close. */
void sup_chan_free(struct sup_chan *ch);

#endif
