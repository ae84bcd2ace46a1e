/* The frame codec of the agent protocol (docs/agent-protocol.md), shared by the guest agent, the
 * sandbox supervisor, the shim and the runtime. No dependency beyond libc so the agent can be static.
 *
 * A frame is a 12-byte header followed by a payload:
 *   u32 len    payload length, big endian, at most VC_FRAME_MAX
 *   u8  type   VC_FRAME_REQUEST, _RESPONSE, _EVENT (JSON payloads) or _DATA (raw stdio bytes)
 *   u8  stream DATA only: 0 stdin, 1 stdout, 2 stderr; 0 otherwise
 *   u16 zero   reserved, must be 0
 *   u32 id     request id (REQUEST/RESPONSE), 0 (EVENT), process handle (DATA), big endian
 * A DATA frame with an empty payload closes that stream (EOF). */
#ifndef VC_FRAME_H
#define VC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define VC_FRAME_HEADER 12
#define VC_FRAME_MAX (1024u * 1024u)

enum vc_frame_type {
        VC_FRAME_REQUEST = 1,
        VC_FRAME_RESPONSE = 2,
        VC_FRAME_EVENT = 3,
        VC_FRAME_DATA = 4,
};

enum vc_frame_stream {
        VC_STREAM_STDIN = 0,
        VC_STREAM_STDOUT = 1,
        VC_STREAM_STDERR = 2,
};

struct vc_frame {
        uint8_t type;
        uint8_t stream;
        uint32_t id;
        uint32_t len;
        uint8_t *payload; /* points into the reader's buffer: valid until the next vc_frame_reader_* call */
};

/* Incremental decoder: append bytes as they arrive, then take complete frames one at a time. */
struct vc_frame_reader {
        struct vc_buf in; /* bytes not yet handed out as frames */
};

void vc_frame_reader_init(struct vc_frame_reader *r);
void vc_frame_reader_free(struct vc_frame_reader *r);
/* Copy n bytes in (none is fine); -ENOMEM on failure. */
int vc_frame_reader_feed(struct vc_frame_reader *r, const void *data, size_t n);
/* 1 and *f filled when a whole frame is buffered, 0 when more bytes are needed,
 * -EPROTO when the header is invalid (oversized, unknown type, reserved bits set): the stream is then
 * unusable and the peer must be dropped. */
int vc_frame_reader_next(struct vc_frame_reader *r, struct vc_frame *f);

/* Validate and write a header into out[VC_FRAME_HEADER]; -EINVAL for a bad type or -EMSGSIZE. */
int vc_frame_header_encode(uint8_t out[VC_FRAME_HEADER], uint8_t type, uint8_t stream, uint32_t id,
                           size_t len);
int vc_frame_header_decode(const uint8_t in[VC_FRAME_HEADER], struct vc_frame *f);

/* Blocking helpers for simple clients (the CLI, the agent): write the whole frame, retrying on EINTR
 * and partial writes. */
int vc_frame_write_fd(int fd, uint8_t type, uint8_t stream, uint32_t id, const void *payload, size_t len);

#endif
