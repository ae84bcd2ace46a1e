#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int vc_buf_append(struct vc_buf *b, const void *p, size_t n)
{
        if (n == 0)
                return 0;
        if (b->off > 0 && b->off == b->len)
                b->off = b->len = 0;
        if (b->len + n > b->cap) {
                if (b->off > 0) {
                        memmove(b->data, b->data + b->off, b->len - b->off);
                        b->len -= b->off;
                        b->off = 0;
                }
                if (b->len + n > b->cap) {
                        size_t cap = b->cap ? b->cap : 4096;
                        while (cap < b->len + n)
                                cap *= 2;
                        uint8_t *d = realloc(b->data, cap);
                        if (d == NULL)
                                return -ENOMEM;
                        b->data = d;
                        b->cap = cap;
                }
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

void vc_buf_consume(struct vc_buf *b, size_t n)
{
        b->off += n;
        if (b->off >= b->len)
                b->off = b->len = 0;
}

void vc_buf_free(struct vc_buf *b)
{
        free(b->data);
        memset(b, 0, sizeof *b);
}
