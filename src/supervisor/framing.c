/* Frames on a libuv stream (framing.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"

int sup_frame_write(uv_stream_t *st, uint8_t type, uint8_t stream, uint32_t id, const void *payload,
                    size_t len, void *owner, uv_write_cb cb)
{
        struct sup_frame_write *w = malloc(sizeof *w + VC_FRAME_HEADER + len);
        uv_buf_t buf;
        int r;

        if (w == NULL)
                return -ENOMEM;
        r = vc_frame_header_encode(w->bytes, type, stream, id, len);
        if (r < 0) {
                free(w);
                return r;
        }
        if (len)
                memcpy(w->bytes + VC_FRAME_HEADER, payload, len);
        w->owner = owner;
        w->len = VC_FRAME_HEADER + len;
        buf = uv_buf_init((char *)w->bytes, (unsigned)w->len);
        r = uv_write(&w->req, st, &buf, 1, cb);
        if (r < 0)
                free(w);
        return r;
}

void sup_frame_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        static char slab[65536];
        (void)h;
        (void)suggested;
        buf->base = slab;
        buf->len = sizeof slab;
}

int sup_frame_feed(struct vc_frame_reader *rd, const void *bytes, size_t n,
                   bool (*deliver)(void *ctx, struct vc_frame *f), void *ctx)
{
        struct vc_frame f;
        int r;

        if (vc_frame_reader_feed(rd, bytes, n) < 0)
                return -ENOMEM;
        while ((r = vc_frame_reader_next(rd, &f)) == 1)
                if (!deliver(ctx, &f))
                        return 0;
        return r < 0 ? -EPROTO : 0;
}
