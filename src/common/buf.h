/* A growable FIFO of bytes: append at the tail, consume from the head. Shared by the agent (stdin
 * backlogs) and the host programs. */
#ifndef VC_COMMON_BUF_H
#define VC_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct vc_buf {
        uint8_t *data;
        size_t off, len, cap;
};

/* Copy n bytes in: 0 or -ENOMEM (the buffer is then unchanged). */
int vc_buf_append(struct vc_buf *b, const void *p, size_t n);
void vc_buf_consume(struct vc_buf *b, size_t n);
void vc_buf_free(struct vc_buf *b);
static inline size_t vc_buf_pending(const struct vc_buf *b)
{
        return b->len - b->off;
}
static inline const uint8_t *vc_buf_head(const struct vc_buf *b)
{
        return b->data + b->off;
}

#endif
