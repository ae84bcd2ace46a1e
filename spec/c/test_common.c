/* The rules shared by the host programs and the guest agent (src/common/base.c, buf.c, rpc.c). TAP output. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "buf.h"
#include "rpc.h"
#include "testlib.h"

static int test_id_rule(void)
{
        size_t pos = 99;
        char long_id[1100];

        CHECK(vc_id_check("c1", 64, NULL) == VC_ID_OK);
        CHECK(vc_id_check("a_b+c.d-e", 64, NULL) == VC_ID_OK);
        CHECK(vc_id_check("", 64, NULL) == VC_ID_EMPTY);
        CHECK(vc_id_check(NULL, 64, NULL) == VC_ID_EMPTY);
        CHECK(vc_id_check("-a", 64, &pos) == VC_ID_BAD_CHAR && pos == 0);
        CHECK(vc_id_check(".a", 64, &pos) == VC_ID_BAD_CHAR && pos == 0);
        CHECK(vc_id_check("ab/c", 64, &pos) == VC_ID_BAD_CHAR && pos == 2);
        CHECK(vc_id_check("a b", 64, &pos) == VC_ID_BAD_CHAR && pos == 1);
        memset(long_id, 'a', sizeof long_id - 1);
        long_id[sizeof long_id - 1] = '\0';
        CHECK(vc_id_check(long_id, 1024, NULL) == VC_ID_TOO_LONG);
        long_id[1024] = '\0';
        CHECK(vc_id_check(long_id, 1024, NULL) == VC_ID_OK);
        CHECK(!vc_id_ok("x/..", 64));
        return 0;
}

static int test_mkdir_p(void)
{
        char dir[] = "/tmp/vc-common-XXXXXX", path[PATH_MAX], failed[PATH_MAX] = "";
        struct stat st;

        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/a/b/c", dir);
        CHECK(vc_mkdir_p_at(path, 0755, failed, sizeof failed) == 0);
        CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
        CHECK(vc_mkdir_p_at(path, 0755, NULL, 0) == 0); /* again: nothing to do */
        /* a file in the way: the level that failed is named */
        snprintf(path, sizeof path, "%s/f", dir);
        CHECK(vc_write_file(path, "x") == -ENOENT); /* vc_write_file never creates */
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fclose(f);
        snprintf(path, sizeof path, "%s/f/g/h", dir);
        CHECK(vc_mkdir_p_at(path, 0755, failed, sizeof failed) == -ENOTDIR);
        snprintf(path, sizeof path, "%s/f/g", dir);
        CHECK_STREQ(failed, path);
        CHECK(vc_mkdir_p_at("", 0755, NULL, 0) == -ENAMETOOLONG);
        CHECK(remove_scratch_dir(dir) == 0);
        return 0;
}

static int test_small_files(void)
{
        char dir[] = "/tmp/vc-common-XXXXXX", path[PATH_MAX], buf[4];

        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/f", dir);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fclose(f);
        CHECK(vc_write_file(path, "hello") == 0);
        CHECK(vc_read_file(path, buf, sizeof buf) == 3); /* at most size-1 bytes, NUL-terminated */
        CHECK_STREQ(buf, "hel");
        CHECK(vc_read_file("/nonexistent/x", buf, sizeof buf) == -ENOENT);
        CHECK(remove_scratch_dir(dir) == 0);
        return 0;
}

static int test_buf_fifo(void)
{
        struct vc_buf b = {0};

        CHECK(vc_buf_append(&b, NULL, 0) == 0 && vc_buf_pending(&b) == 0);
        CHECK(vc_buf_append(&b, "abcdef", 6) == 0);
        vc_buf_consume(&b, 2);
        CHECK(vc_buf_pending(&b) == 4 && memcmp(vc_buf_head(&b), "cdef", 4) == 0);
        for (int i = 0; i < 3000; i++) /* grows past the first 4 KiB, keeping order */
                CHECK(vc_buf_append(&b, "0123456789", 10) == 0);
        CHECK(vc_buf_pending(&b) == 30004 && memcmp(vc_buf_head(&b), "cdef0123", 8) == 0);
        vc_buf_consume(&b, 30004);
        CHECK(vc_buf_pending(&b) == 0);
        vc_buf_free(&b);
        CHECK(b.data == NULL && b.cap == 0);
        return 0;
}

static int test_self_relative(void)
{
        static const char *const rels[] = {"no-such-companion", "test_common", NULL};
        static const char *const none[] = {"no-such-companion", NULL};
        char dir[PATH_MAX], *p = NULL, want[PATH_MAX + 32];

        CHECK(vc_self_dir(dir, sizeof dir) > 0);
        CHECK(vc_self_relative(rels, X_OK, &p) == 0);
        snprintf(want, sizeof want, "%s/test_common", dir);
        CHECK_STREQ(p, want);
        free(p);
        CHECK(vc_self_relative(none, X_OK, &p) == -ENOENT);
        return 0;
}

static int test_rpc_envelopes(void)
{
        json_object *o, *result = NULL, *params = NULL;
        const char *msg = NULL, *method = NULL;
        char err[128];
        size_t len;
        int code = 0;

        CHECK_STREQ(vc_rpc_errno_name(ENOENT), "ENOENT");
        CHECK_STREQ(vc_rpc_errno_name(0), "EIO");
        CHECK(vc_rpc_errno_code("EBUSY") == EBUSY);
        CHECK(vc_rpc_errno_code("ENOTANERRNO") == EIO && vc_rpc_errno_code(NULL) == EIO);

        o = vc_rpc_request("start_container", vc_rpc_params_id("c1"));
        CHECK_STREQ(vc_rpc_text(o, &len), "{\"method\":\"start_container\",\"params\":{\"id\":\"c1\"}}");
        CHECK(vc_rpc_read_request(o, &method, &params, err, sizeof err) == 0);
        CHECK_STREQ(method, "start_container");
        CHECK_STREQ(vc_rpc_get_string(params, "id"), "c1");
        json_object_put(o);

        o = vc_rpc_error(ENOENT, "container 'c1' not found");
        CHECK(vc_rpc_read_response(o, &result, &code, &msg) == 1 && code == ENOENT);
        CHECK_STREQ(msg, "container 'c1' not found");
        json_object_put(o);
        o = vc_rpc_result(NULL);
        CHECK(vc_rpc_read_response(o, &result, &code, &msg) == 0 &&
              json_object_is_type(result, json_type_object));
        json_object_put(o);

        /* a payload is one whole value, or nothing */
        CHECK((o = vc_rpc_parse("{\"a\":1}", 7)) != NULL);
        json_object_put(o);
        CHECK(vc_rpc_parse("{\"a\":1} x", 9) == NULL);
        CHECK(vc_rpc_parse("{\"a\":", 5) == NULL);
        CHECK(vc_rpc_parse("", 0) == NULL);
        o = vc_rpc_parse("[1]", 3);
        CHECK(vc_rpc_read_response(o, &result, &code, &msg) == -EPROTO);
        CHECK(vc_rpc_read_request(o, &method, &params, err, sizeof err) == -EINVAL);
        json_object_put(o);
        return 0;
}

int main(void)
{
        RUN_TEST(test_id_rule);
        RUN_TEST(test_mkdir_p);
        RUN_TEST(test_small_files);
        RUN_TEST(test_buf_fifo);
        RUN_TEST(test_self_relative);
        RUN_TEST(test_rpc_envelopes);
        return TAP_DONE();
}
