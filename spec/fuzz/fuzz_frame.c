/* libFuzzer: the frame decoder on a hostile byte stream (a guest agent, a client of sup.sock). The first
 * byte picks how the stream is cut into reads, so frames split at every boundary are decoded too. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vc_frame_reader r;
        struct vc_frame f;
        size_t chunk, off = 0;
        int rc = 0;

        if (size == 0)
                return 0;
        chunk = (size_t)data[0] % 17; /* 0: zero-length reads in between, as a read of 0 bytes gives */
        data++, size--;
        vc_frame_reader_init(&r);
        while (rc >= 0) {
                size_t n = chunk == 0 ? (off < size ? 1 : 0) : chunk;
                if (n > size - off)
                        n = size - off;
                if (chunk == 0 && vc_frame_reader_feed(&r, data + off, 0) < 0)
                        break;
                if (vc_frame_reader_feed(&r, data + off, n) < 0)
                        break;
                off += n;
                while ((rc = vc_frame_reader_next(&r, &f)) == 1) {
                        uint8_t hdr[VC_FRAME_HEADER];
                        struct vc_frame g;
                        assert(f.len <= VC_FRAME_MAX);
                        assert(f.type >= VC_FRAME_REQUEST && f.type <= VC_FRAME_DATA);
                        if (f.len)
                                (void)memchr(f.payload, 0, f.len); /* every payload byte is readable */
                        /* what was decoded encodes back to a header that decodes the same */
                        assert(vc_frame_header_encode(hdr, f.type, f.stream, f.id, f.len) == 0);
                        assert(vc_frame_header_decode(hdr, &g) == 0);
                        assert(g.type == f.type && g.stream == f.stream && g.id == f.id && g.len == f.len);
                }
                if (off == size)
                        break;
        }
        vc_frame_reader_free(&r);
        return 0;
}
