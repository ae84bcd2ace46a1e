/* Frames on a libuv stream: what the agent channel (channel.c) and the clients' connections (clients.c)
 * both do to write and read them. Below both; calls nothing of the supervisor's. */
#ifndef VC_SUP_FRAMING_H
#define VC_SUP_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"

/* One frame being written; owner is the caller's, len the bytes on the wire. */
struct sup_frame_write {
        uv_write_t req;
        void *owner;
        size_t len;
        uint8_t bytes[];
};

/* Encode one frame and queue it on st; cb gets the struct sup_frame_write (as its uv_write_t) and must
 * free it. A negative errno or libuv error. */
int sup_frame_write(uv_stream_t *st, uint8_t type, uint8_t stream, uint32_t id, const void *payload,
                    size_t len, void *owner, uv_write_cb cb);

/* The read buffer of every stream of the supervisor: one loop thread, and each read is consumed (its
 * bytes copied into a frame reader) before the next. */
void sup_frame_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Feed n bytes to rd and hand each whole frame to deliver(ctx, f), as long as it returns true.
 * 0 when done (or stopped), -ENOMEM, or -EPROTO when the stream broke the framing. */
int sup_frame_feed(struct vc_frame_reader *rd, const void *bytes, size_t n,
                   bool (*deliver)(void *ctx, struct vc_frame *f), void *ctx);

#endif
