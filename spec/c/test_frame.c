/* The frame codec (src/common/frame.c): headers, the incremental reader, garbage. TAP output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "testlib.h"

static void header(uint8_t h[VC_FRAME_HEADER], uint32_t len, uint8_t type, uint8_t stream, uint8_t r0,
                   uint8_t r1, uint32_t id)
{
        h[0] = (uint8_t)(len >> 24), h[1] = (uint8_t)(len >> 16), h[2] = (uint8_t)(len >> 8),
        h[3] = (uint8_t)len;
        h[4] = type, h[5] = stream, h[6] = r0, h[7] = r1;
        h[8] = (uint8_t)(id >> 24), h[9] = (uint8_t)(id >> 16), h[10] = (uint8_t)(id >> 8),
        h[11] = (uint8_t)id;
}

/* Append one encoded frame to out; returns its total size. */
static size_t encode(uint8_t *out, uint8_t type, uint8_t stream, uint32_t id, const void *p, size_t len)
{
        if (vc_frame_header_encode(out, type, stream, id, len) < 0)
                return 0;
        memcpy(out + VC_FRAME_HEADER, p, len);
        return VC_FRAME_HEADER + len;
}

static int test_header_roundtrip(void)
{
        uint8_t h[VC_FRAME_HEADER];
        struct vc_frame f;

        CHECK(vc_frame_header_encode(h, VC_FRAME_DATA, VC_STREAM_STDERR, 0xdeadbeef, 513) == 0);
        CHECK(h[0] == 0 && h[1] == 0 && h[2] == 2 && h[3] == 1); /* big endian */
        CHECK(h[8] == 0xde && h[11] == 0xef);
        CHECK(vc_frame_header_decode(h, &f) == 0);
        CHECK(f.type == VC_FRAME_DATA && f.stream == VC_STREAM_STDERR && f.id == 0xdeadbeef && f.len == 513);
        return 0;
}

static int test_encode_rejects_bad_input(void)
{
        uint8_t h[VC_FRAME_HEADER];

        CHECK(vc_frame_header_encode(h, 0, 0, 1, 0) == -EINVAL);
        CHECK(vc_frame_header_encode(h, 5, 0, 1, 0) == -EINVAL);
        CHECK(vc_frame_header_encode(h, VC_FRAME_DATA, 3, 1, 0) == -EINVAL);
        CHECK(vc_frame_header_encode(h, VC_FRAME_REQUEST, 0, 1, VC_FRAME_MAX + 1) == -EMSGSIZE);
        CHECK(vc_frame_header_encode(h, VC_FRAME_REQUEST, 0, 1, VC_FRAME_MAX) == 0);
        return 0;
}

static int expect_proto(const uint8_t h[VC_FRAME_HEADER])
{
        struct vc_frame_reader r;
        struct vc_frame f;
        int rc1, rc2;

        if (vc_frame_header_decode(h, &f) != -EPROTO)
                return 1;
        vc_frame_reader_init(&r);
        if (vc_frame_reader_feed(&r, h, VC_FRAME_HEADER) < 0)
                return 1;
        rc1 = vc_frame_reader_next(&r, &f);
        rc2 = vc_frame_reader_next(&r, &f); /* the stream stays unusable */
        vc_frame_reader_free(&r);
        return rc1 == -EPROTO && rc2 == -EPROTO ? 0 : 1;
}

static int test_oversized_length(void)
{
        uint8_t h[VC_FRAME_HEADER];

        header(h, VC_FRAME_MAX + 1, VC_FRAME_REQUEST, 0, 0, 0, 1);
        CHECK(expect_proto(h) == 0);
        header(h, 0xffffffffu, VC_FRAME_DATA, 1, 0, 0, 1);
        CHECK(expect_proto(h) == 0);
        return 0;
}

static int test_bad_type(void)
{
        uint8_t h[VC_FRAME_HEADER];

        for (unsigned t = 0; t < 256; t++) {
                if (t >= VC_FRAME_REQUEST && t <= VC_FRAME_DATA)
                        continue;
                header(h, 2, (uint8_t)t, 0, 0, 0, 1);
                CHECK(expect_proto(h) == 0);
        }
        return 0;
}

static int test_reserved_bits(void)
{
        uint8_t h[VC_FRAME_HEADER];

        header(h, 2, VC_FRAME_REQUEST, 0, 1, 0, 1);
        CHECK(expect_proto(h) == 0);
        header(h, 2, VC_FRAME_REQUEST, 0, 0, 0x80, 1);
        CHECK(expect_proto(h) == 0);
        return 0;
}

static int test_stream_on_non_data_frame(void)
{
        uint8_t h[VC_FRAME_HEADER];

        for (uint8_t t = VC_FRAME_REQUEST; t <= VC_FRAME_EVENT; t++) {
                header(h, 2, t, 1, 0, 0, 1);
                CHECK(expect_proto(h) == 0);
        }
        header(h, 2, VC_FRAME_DATA, 3, 0, 0, 1); /* no such stream */
        CHECK(expect_proto(h) == 0);
        return 0;
}

static int test_split_byte_by_byte(void)
{
        uint8_t buf[256];
        size_t n = 0;
        struct vc_frame_reader r;
        struct vc_frame f;
        int got = 0;

        n += encode(buf + n, VC_FRAME_REQUEST, 0, 7, "{\"method\":\"check\"}", 18);
        n += encode(buf + n, VC_FRAME_DATA, VC_STREAM_STDOUT, 3, "hello", 5);
        n += encode(buf + n, VC_FRAME_DATA, VC_STREAM_STDOUT, 3, "", 0); /* EOF */
        vc_frame_reader_init(&r);
        for (size_t i = 0; i < n; i++) {
                CHECK(vc_frame_reader_feed(&r, buf + i, 1) == 0);
                int rc;
                while ((rc = vc_frame_reader_next(&r, &f)) == 1) {
                        if (got == 0)
                                CHECK(f.type == VC_FRAME_REQUEST && f.id == 7 && f.len == 18 &&
                                      memcmp(f.payload, "{\"method\":\"check\"}", 18) == 0);
                        if (got == 1)
                                CHECK(f.type == VC_FRAME_DATA && f.stream == 1 && f.len == 5 &&
                                      memcmp(f.payload, "hello", 5) == 0);
                        if (got == 2)
                                CHECK(f.type == VC_FRAME_DATA && f.len == 0);
                        got++;
                }
                CHECK(rc == 0);
                /* a frame is handed out only once it is complete */
                if (i + 1 < VC_FRAME_HEADER + 18)
                        CHECK(got == 0);
        }
        vc_frame_reader_free(&r);
        CHECK(got == 3);
        return 0;
}

static int test_many_frames_in_one_feed(void)
{
        enum { N = 1000 };
        uint8_t *buf = malloc(N * (VC_FRAME_HEADER + 16));
        size_t n = 0;
        struct vc_frame_reader r;
        struct vc_frame f;
        int got = 0, rc;

        CHECK(buf != NULL);
        for (uint32_t i = 0; i < N; i++) {
                char payload[16];
                int len = snprintf(payload, sizeof payload, "%u", i);
                n += encode(buf + n, VC_FRAME_EVENT, 0, i, payload, (size_t)len);
        }
        vc_frame_reader_init(&r);
        CHECK(vc_frame_reader_feed(&r, buf, n) == 0);
        free(buf);
        while ((rc = vc_frame_reader_next(&r, &f)) == 1) {
                char want[16];
                int len = snprintf(want, sizeof want, "%d", got);
                CHECK(f.id == (uint32_t)got && f.len == (uint32_t)len &&
                      memcmp(f.payload, want, (size_t)len) == 0);
                got++;
        }
        vc_frame_reader_free(&r);
        CHECK(rc == 0);
        CHECK(got == N);
        return 0;
}

/* Garbage after good frames: the good ones come out, then the error. */
static int test_garbage_after_valid_frames(void)
{
        uint8_t buf[128], bad[VC_FRAME_HEADER];
        size_t n = 0;
        struct vc_frame_reader r;
        struct vc_frame f;

        n += encode(buf, VC_FRAME_RESPONSE, 0, 1, "{}", 2);
        header(bad, 4, 9, 0, 0, 0, 1);
        memcpy(buf + n, bad, sizeof bad);
        n += sizeof bad;
        vc_frame_reader_init(&r);
        CHECK(vc_frame_reader_feed(&r, buf, n) == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 1 && f.type == VC_FRAME_RESPONSE);
        CHECK(vc_frame_reader_next(&r, &f) == -EPROTO);
        vc_frame_reader_free(&r);
        return 0;
}

/* The largest frame allowed passes; its header alone does not yield a frame. */
static int test_max_size_frame(void)
{
        uint8_t *buf = calloc(1, VC_FRAME_HEADER + VC_FRAME_MAX);
        struct vc_frame_reader r;
        struct vc_frame f;

        CHECK(buf != NULL);
        CHECK(vc_frame_header_encode(buf, VC_FRAME_DATA, VC_STREAM_STDOUT, 9, VC_FRAME_MAX) == 0);
        buf[VC_FRAME_HEADER + VC_FRAME_MAX - 1] = 0x5a;
        vc_frame_reader_init(&r);
        CHECK(vc_frame_reader_feed(&r, buf, VC_FRAME_HEADER + VC_FRAME_MAX - 1) == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 0);
        CHECK(vc_frame_reader_feed(&r, buf + VC_FRAME_HEADER + VC_FRAME_MAX - 1, 1) == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 1);
        CHECK(f.len == VC_FRAME_MAX && f.payload[VC_FRAME_MAX - 1] == 0x5a);
        vc_frame_reader_free(&r);
        free(buf);
        return 0;
}

/* An empty read (a zero-length feed, data NULL) is no input: no memcpy from NULL (UBSan), no frame. */
static int test_empty_feed(void)
{
        struct vc_frame_reader r;
        struct vc_frame f;
        uint8_t buf[64];
        size_t n = encode(buf, VC_FRAME_REQUEST, 0, 5, "{}", 2);

        vc_frame_reader_init(&r);
        CHECK(vc_frame_reader_feed(&r, NULL, 0) == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 0);
        CHECK(vc_frame_reader_feed(&r, buf, n) == 0);
        CHECK(vc_frame_reader_feed(&r, NULL, 0) == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 1 && f.id == 5 && f.len == 2);
        CHECK(vc_frame_reader_feed(&r, NULL, 0) == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 0);
        vc_frame_reader_free(&r);
        return 0;
}

static int test_write_fd_roundtrip(void)
{
        int sv[2];
        uint8_t buf[256];
        struct vc_frame_reader r;
        struct vc_frame f;
        ssize_t n;

        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        CHECK(vc_frame_write_fd(sv[0], VC_FRAME_DATA, VC_STREAM_STDIN, 42, "abc", 3) == 0);
        CHECK(vc_frame_write_fd(sv[0], VC_FRAME_DATA, VC_STREAM_STDIN, 42, NULL, 0) == 0);
        CHECK(vc_frame_write_fd(sv[0], 7, 0, 1, "x", 1) == -EINVAL);
        close(sv[0]);
        vc_frame_reader_init(&r);
        while ((n = read(sv[1], buf, sizeof buf)) > 0)
                CHECK(vc_frame_reader_feed(&r, buf, (size_t)n) == 0);
        close(sv[1]);
        CHECK(vc_frame_reader_next(&r, &f) == 1 && f.id == 42 && f.len == 3 &&
              memcmp(f.payload, "abc", 3) == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 1 && f.id == 42 && f.len == 0);
        CHECK(vc_frame_reader_next(&r, &f) == 0);
        vc_frame_reader_free(&r);
        return 0;
}

int main(void)
{
        printf("TAP version 13\n");
        RUN_TEST(test_header_roundtrip);
        RUN_TEST(test_encode_rejects_bad_input);
        RUN_TEST(test_oversized_length);
        RUN_TEST(test_bad_type);
        RUN_TEST(test_reserved_bits);
        RUN_TEST(test_stream_on_non_data_frame);
        RUN_TEST(test_split_byte_by_byte);
        RUN_TEST(test_many_frames_in_one_feed);
        RUN_TEST(test_garbage_after_valid_frames);
        RUN_TEST(test_max_size_frame);
        RUN_TEST(test_write_fd_roundtrip);
        RUN_TEST(test_empty_feed);
        return TAP_DONE();
}
