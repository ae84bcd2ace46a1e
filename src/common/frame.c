#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "frame.h"

static void put_be32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static int type_valid(uint8_t type)
{
        return type >= VC_FRAME_REQUEST && type <= VC_FRAME_DATA;
}

int vc_frame_header_encode(uint8_t out[VC_FRAME_HEADER], uint8_t type, uint8_t stream, uint32_t id,
                           size_t len)
{
        if (!type_valid(type) || stream > VC_STREAM_STDERR)
                return -EINVAL;
        if (len > VC_FRAME_MAX)
                return -EMSGSIZE;
        put_be32(out, (uint32_t)len);
        out[4] = type;
        out[5] = stream;
        out[6] = 0;
        out[7] = 0;
        put_be32(out + 8, id);
        return 0;
}

int vc_frame_header_decode(const uint8_t in[VC_FRAME_HEADER], struct vc_frame *f)
{
        uint32_t len = get_be32(in);

        if (len > VC_FRAME_MAX || !type_valid(in[4]) || in[5] > VC_STREAM_STDERR || in[6] != 0 || in[7] != 0)
                return -EPROTO;
        if (in[4] != VC_FRAME_DATA && in[5] != 0)
                return -EPROTO;
        f->len = len;
        f->type = in[4];
        f->stream = in[5];
        f->id = get_be32(in + 8);
        f->payload = NULL;
        return 0;
}

void vc_frame_reader_init(struct vc_frame_reader *r)
{
        memset(r, 0, sizeof *r);
}

void vc_frame_reader_free(struct vc_frame_reader *r)
{
        vc_buf_free(&r->in);
}

int vc_frame_reader_feed(struct vc_frame_reader *r, const void *data, size_t n)
{
        return vc_buf_append(&r->in, data, n);
}

int vc_frame_reader_next(struct vc_frame_reader *r, struct vc_frame *f)
{
        size_t avail = vc_buf_pending(&r->in);
        int rc;

        if (avail < VC_FRAME_HEADER)
                return 0;
        rc = vc_frame_header_decode(vc_buf_head(&r->in), f);
        if (rc < 0)
                return rc;
        if (avail < VC_FRAME_HEADER + (size_t)f->len)
                return 0;
        f->payload = (uint8_t *)vc_buf_head(&r->in) + VC_FRAME_HEADER;
        /* the bytes stay where they are until the next feed: the payload pointer holds until then */
        vc_buf_consume(&r->in, VC_FRAME_HEADER + f->len);
        return 1;
}

int vc_frame_write_fd(int fd, uint8_t type, uint8_t stream, uint32_t id, const void *payload, size_t len)
{
        uint8_t hdr[VC_FRAME_HEADER];
        struct iovec iov[2];
        size_t total = VC_FRAME_HEADER + len;
        int rc = vc_frame_header_encode(hdr, type, stream, id, len);

        if (rc < 0)
                return rc;
        iov[0].iov_base = hdr;
        iov[0].iov_len = VC_FRAME_HEADER;
        iov[1].iov_base = (void *)payload;
        iov[1].iov_len = len;
        while (total > 0) {
                ssize_t n = writev(fd, iov, len ? 2 : 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                total -= (size_t)n;
                for (int i = 0; i < 2 && n > 0; i++) {
                        size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
                        iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
                        iov[i].iov_len -= take;
                        n -= (ssize_t)take;
                }
        }
        return 0;
}
