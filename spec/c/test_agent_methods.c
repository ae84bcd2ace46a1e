/* The guest agent's port and method handlers (src/agent/port.c, methods.c), on the host and without a VM:
 * the port is one end of a socket pair, the test plays the host on the other end. TAP output. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "testlib.h"

static int host_fd = -1;
static uint32_t next_id = 1;
static int powered_off;

/* What main.c hands the port: requests to the methods, stdin data to the process. */
static void on_frame(const struct vc_frame *f)
{
        struct proc *p;

        if (f->type == VC_FRAME_REQUEST)
                methods_dispatch(f->id, f->payload, f->len);
        else if (f->type == VC_FRAME_DATA && (p = proc_by_handle(f->id)) != NULL)
                stdio_input(p, f->payload, f->len);
}

static const struct port_ops ops = {
    .frame = on_frame,
    .hold = procs_stdin_throttled,
    .hangup = procs_host_gone,
};

static void fake_poweroff(void)
{
        powered_off++;
}

static int setup(void)
{
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        host_fd = sv[1];
        port_init(sv[0], "test-port", &ops);
        methods_init(fake_poweroff);
        port_check_reconnect();
        return port_connected() ? 0 : -ENOTCONN;
}

/* Let the agent side read what the host wrote and write its answers. */
static void agent_turn(void)
{
        port_read();
        port_flush();
}

/* The next frame from the agent, within timeout_ms (a generous bound: the agent answers at once here);
 * its JSON payload parsed into *ret. 1 when one came, 0 when none did. */
static int host_read_frame(int timeout_ms, struct vc_frame *ret_f, json_object **ret)
{
        static struct vc_frame_reader r;
        static int init;
        int64_t deadline = vc_now_ms() + timeout_ms;

        if (!init) {
                vc_frame_reader_init(&r);
                init = 1;
        }
        for (;;) {
                uint8_t buf[65536];
                int rc = vc_frame_reader_next(&r, ret_f);
                if (rc < 0)
                        return -1;
                if (rc == 1) {
                        *ret = ret_f->type == VC_FRAME_DATA
                                   ? NULL
                                   : json_tokener_parse_verbose((const char *)ret_f->payload,
                                                                &(enum json_tokener_error){0});
                        return 1;
                }
                int64_t left = deadline - vc_now_ms();
                struct pollfd pfd = {.fd = host_fd, .events = POLLIN};
                agent_turn();
                if (left <= 0)
                        return 0;
                if (poll(&pfd, 1, left > 50 ? 50 : (int)left) <= 0)
                        continue;
                ssize_t n = read(host_fd, buf, sizeof buf);
                if (n <= 0)
                        continue;
                if (vc_frame_reader_feed(&r, buf, (size_t)n) < 0)
                        return -1;
        }
}

static int send_raw(uint8_t type, uint32_t id, const char *payload, size_t len)
{
        return vc_frame_write_fd(host_fd, type, 0, id, payload, len);
}

/* One request; its response object (owned by the caller) or NULL when none came. */
static json_object *call_raw(const char *payload)
{
        uint32_t id = next_id++;
        struct vc_frame f;
        json_object *o = NULL;

        if (send_raw(VC_FRAME_REQUEST, id, payload, strlen(payload)) < 0)
                return NULL;
        while (host_read_frame(10000, &f, &o) == 1) {
                if (f.type == VC_FRAME_RESPONSE && f.id == id)
                        return o;
                json_object_put(o);
                o = NULL;
        }
        return NULL;
}

/* The error code of a response ("EINVAL"), or "" for a result. */
static const char *code_of(json_object *resp)
{
        json_object *e, *c;

        if (resp && json_object_object_get_ex(resp, "error", &e) && json_object_object_get_ex(e, "code", &c))
                return json_object_get_string(c);
        return "";
}

static const char *message_of(json_object *resp)
{
        json_object *e, *m;

        if (resp && json_object_object_get_ex(resp, "error", &e) &&
            json_object_object_get_ex(e, "message", &m))
                return json_object_get_string(m);
        return "";
}

/* Expect an error with this code whose message contains want. */
static int expect_error(const char *payload, const char *code, const char *want)
{
        json_object *r = call_raw(payload);
        int ok = r != NULL && strcmp(code_of(r), code) == 0 && strstr(message_of(r), want) != NULL;

        if (!ok)
                printf("# %s -> %s\n", payload,
                       r ? json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN) : "(no answer)");
        json_object_put(r);
        return ok ? 0 : 1;
}

static int test_check_answers_version(void)
{
        json_object *r = call_raw("{\"method\":\"check\"}"), *res, *v;

        CHECK(r != NULL);
        CHECK(json_object_object_get_ex(r, "result", &res));
        CHECK(json_object_object_get_ex(res, "version", &v));
        CHECK_STREQ(json_object_get_string(v), AGENT_VERSION);
        CHECK(json_object_object_get_ex(res, "protocol", &v) && json_object_get_int(v) == AGENT_PROTOCOL);
        json_object_put(r);
        return 0;
}

static int test_bad_envelopes(void)
{
        CHECK(expect_error("{\"met", "EINVAL", "not a single JSON value") == 0);
        CHECK(expect_error("{} {}", "EINVAL", "not a single JSON value") == 0);
        CHECK(expect_error("[]", "EINVAL", "string 'method'") == 0);
        CHECK(expect_error("{\"method\":1}", "EINVAL", "string 'method'") == 0);
        CHECK(expect_error("{\"method\":\"check\",\"params\":[]}", "EINVAL", "'params' must be an object") ==
              0);
        CHECK(expect_error("{\"method\":\"no_such_method\"}", "ENOSYS", "unknown method 'no_such_method'") ==
              0);
        return 0;
}

static int test_parameters_are_checked(void)
{
        CHECK(expect_error("{\"method\":\"start_container\",\"params\":{}}", "EINVAL",
                           "missing parameter 'id'") == 0);
        CHECK(expect_error("{\"method\":\"start_container\",\"params\":{\"id\":1}}", "EINVAL",
                           "parameter 'id': expected string") == 0);
        CHECK(expect_error("{\"method\":\"start_container\",\"params\":{\"id\":\"../etc\"}}", "EINVAL",
                           "invalid container id") == 0);
        CHECK(expect_error("{\"method\":\"stats_container\",\"params\":{\"id\":\"nosuch\"}}", "ENOENT",
                           "container 'nosuch' not found") == 0);
        CHECK(expect_error("{\"method\":\"wait_process\",\"params\":{\"handle\":99}}", "ENOENT",
                           "process handle 99 not found") == 0);
        CHECK(expect_error("{\"method\":\"resize\",\"params\":{\"handle\":-1,\"rows\":1,\"cols\":1}}",
                           "ENOENT", "process handle -1 not found") == 0);
        CHECK(expect_error("{\"method\":\"signal_process\",\"params\":{\"id\":\"nosuch\",\"signal\":9}}",
                           "ENOENT", "not found") == 0);
        return 0;
}

static int test_create_sandbox_validates(void)
{
        CHECK(expect_error("{\"method\":\"create_sandbox\",\"params\":{}}", "EINVAL",
                           "missing parameter 'share_tag'") == 0);
        CHECK(expect_error("{\"method\":\"create_sandbox\",\"params\":{\"share_tag\":\"a/b\"}}", "EINVAL",
                           "invalid share_tag") == 0);
        CHECK(
            expect_error("{\"method\":\"create_sandbox\",\"params\":{\"share_tag\":\"t\",\"hostname\":\"\"}}",
                         "EINVAL", "invalid hostname") == 0);
        return 0;
}

static int test_create_container_validates(void)
{
        static const char spec[] = "\"spec\":{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}";
        char req[512];

        CHECK(expect_error("{\"method\":\"create_container\",\"params\":{\"id\":\"c1\",\"rootfs\":\"r\"}}",
                           "EINVAL", "missing parameter 'spec'") == 0);
        snprintf(req, sizeof req,
                 "{\"method\":\"create_container\",\"params\":{\"id\":\"c1\",\"rootfs\":\"../r\",%s}}", spec);
        CHECK(expect_error(req, "EINVAL", "rootfs: must be a path without '..'") == 0);
        snprintf(
            req, sizeof req,
            "{\"method\":\"create_container\",\"params\":{\"id\":\"c1\",\"rootfs\":\"/nonexistent-rootfs\","
            "\"join\":{\"net\":\"c0\"},%s}}",
            spec);
        CHECK(expect_error(req, "EINVAL", "join: unknown namespace type 'net'") == 0);
        snprintf(
            req, sizeof req,
            "{\"method\":\"create_container\",\"params\":{\"id\":\"c1\",\"rootfs\":\"/nonexistent-rootfs\","
            "\"join\":{\"uts\":\"c0\"},%s}}",
            spec);
        CHECK(expect_error(req, "ENOENT", "join.uts: container 'c0' not found") == 0);
        snprintf(req, sizeof req,
                 "{\"method\":\"create_container\",\"params\":{\"id\":\"c1\",\"rootfs\":\"/"
                 "nonexistent-rootfs\",%s}}",
                 spec);
        CHECK(expect_error(req, "ENOENT", "rootfs '/nonexistent-rootfs' is not a directory") == 0);
        /* nothing was left behind: the id is still free */
        CHECK(ctr_by_id("c1") == NULL && ctrs_first() == NULL && procs_first() == NULL);
        return 0;
}

static int test_input_for_unknown_handle_is_dropped(void)
{
        struct vc_frame f;
        json_object *o = NULL;

        CHECK(send_raw(VC_FRAME_DATA, 77, "data", 4) == 0);
        CHECK(host_read_frame(200, &f, &o) == 0); /* nothing comes back: no process, no answer */
        return test_check_answers_version();      /* and the port still works */
}

static int test_protocol_error_discards_until_reconnect(void)
{
        static const uint8_t bad[VC_FRAME_HEADER] = {0, 0, 0, 2, 9, 0, 0, 0, 0, 0, 0, 1}; /* type 9 */
        struct vc_frame f;
        json_object *o = NULL;

        CHECK(write(host_fd, bad, sizeof bad) == (ssize_t)sizeof bad);
        CHECK(write(host_fd, "{}", 2) == 2);
        CHECK(send_raw(VC_FRAME_REQUEST, next_id++, "{\"method\":\"check\"}", 18) == 0);
        /* the check after the garbage is not answered on this connection */
        CHECK(host_read_frame(300, &f, &o) == 0);
        /* a new connection (a new socket pair here) is served again */
        close(host_fd);
        agent_turn(); /* sees the hang-up */
        CHECK(!port_connected());
        close(port_fd());
        CHECK(setup() == 0);
        return test_check_answers_version();
}

/* docs/agent-protocol.md's "Agent methods" table names exactly the methods of the agent's table. */
static int test_docs_match_method_table(void)
{
        FILE *f = fopen(VC_SOURCE_DIR "/docs/agent-protocol.md", "re");
        char line[4096], documented[64][64];
        size_t ndoc = 0;
        bool in = false;

        CHECK(f != NULL);
        while (fgets(line, sizeof line, f)) {
                if (strncmp(line, "## ", 3) == 0) {
                        in = strncmp(line, "## Agent methods", 16) == 0;
                        continue;
                }
                if (!in || strncmp(line, "| `", 3) != 0)
                        continue;
                /* the first cell: `name` or `a` / `b` */
                char *end = strchr(line + 1, '|');
                CHECK(end != NULL);
                *end = '\0';
                for (char *p = strchr(line, '`'); p && ndoc < 64; p = strchr(p + 1, '`')) {
                        char *q = strchr(p + 1, '`');
                        CHECK(q != NULL && q - p - 1 < 64);
                        snprintf(documented[ndoc++], 64, "%.*s", (int)(q - p - 1), p + 1);
                        p = q;
                }
        }
        fclose(f);
        CHECK(ndoc > 0);
        for (size_t i = 0; methods_name(i); i++) {
                bool found = false;
                for (size_t j = 0; j < ndoc && !found; j++)
                        found = strcmp(documented[j], methods_name(i)) == 0;
                if (!found)
                        printf("# '%s' is in the method table, not in the docs\n", methods_name(i));
                CHECK(found);
        }
        for (size_t j = 0; j < ndoc; j++) {
                bool found = false;
                for (size_t i = 0; methods_name(i) && !found; i++)
                        found = strcmp(documented[j], methods_name(i)) == 0;
                if (!found)
                        printf("# '%s' is in the docs, not in the method table\n", documented[j]);
                CHECK(found);
        }
        return 0;
}

/* create_container's success is announced with a process event before the answer (the supervisor
 * learns handles from events, not from method names); remove_container's with container-removed. */
static int test_rpc_process_event(void)
{
        json_object *ev = vc_rpc_event(VC_EVENT_PROCESS, vc_rpc_params_process(3, "c1", "")), *p;
        const char *name;
        uint32_t h;

        CHECK(vc_rpc_read_event(ev, &name, &p) == 0);
        CHECK_STREQ(name, "process");
        CHECK(vc_rpc_get_handle(p, &h) == 0 && h == 3);
        CHECK_STREQ(vc_rpc_get_string(p, "id"), "c1");
        json_object_put(ev);
        return 0;
}

/* Output read straight into a data frame: one frame per read, whole and in order, counted against its
 * owner, a whole number of the writes the guest's port takes (32 KiB); EAGAIN and EOF as read(2) says. */
static int test_output_read_into_frames(void)
{
        static uint8_t big[2 * AGENT_STDIO_READ];
        size_t queued = 0, got = 0;
        struct vc_frame f;
        json_object *o;
        int pfd[2];

        CHECK((VC_FRAME_HEADER + AGENT_STDIO_READ) % 32768 == 0);
        CHECK(pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == 0);
        /* all of big fits at once */
        CHECK(fcntl(pfd[1], F_SETPIPE_SZ, (int)(2 * AGENT_PIPE_SIZE)) >= (int)sizeof big);
        CHECK(port_queue_read(pfd[0], VC_STREAM_STDOUT, 7, AGENT_STDIO_READ, &queued) == -EAGAIN);
        CHECK(queued == 0);
        for (size_t i = 0; i < sizeof big; i++)
                big[i] = (uint8_t)(i * 7);
        CHECK(write(pfd[1], "hi", 2) == 2);
        CHECK(port_queue_read(pfd[0], VC_STREAM_STDERR, 7, AGENT_STDIO_READ, &queued) == 2);
        CHECK(queued == VC_FRAME_HEADER + 2);
        CHECK(host_read_frame(10000, &f, &o) == 1);
        CHECK(f.type == VC_FRAME_DATA && f.stream == VC_STREAM_STDERR && f.id == 7 && f.len == 2);
        CHECK(memcmp(f.payload, "hi", 2) == 0);
        CHECK(queued == 0);

        CHECK(write(pfd[1], big, sizeof big) == (ssize_t)sizeof big);
        CHECK(close(pfd[1]) == 0);
        for (int i = 0; i < 2; i++)
                CHECK(port_queue_read(pfd[0], VC_STREAM_STDOUT, 7, AGENT_STDIO_READ, &queued) ==
                      (ssize_t)AGENT_STDIO_READ);
        CHECK(port_queue_read(pfd[0], VC_STREAM_STDOUT, 7, AGENT_STDIO_READ, &queued) == 0);
        while (got < sizeof big) {
                CHECK(host_read_frame(10000, &f, &o) == 1);
                CHECK(f.type == VC_FRAME_DATA && f.stream == VC_STREAM_STDOUT && f.id == 7);
                CHECK(f.len == AGENT_STDIO_READ);
                CHECK(memcmp(f.payload, big + got, f.len) == 0);
                got += f.len;
        }
        CHECK(queued == 0);
        close(pfd[0]);
        return 0;
}

static int test_destroy_sandbox_answers_then_powers_off(void)
{
        json_object *r = call_raw("{\"method\":\"destroy_sandbox\"}");

        CHECK(r != NULL && strcmp(code_of(r), "") == 0);
        json_object_put(r);
        CHECK(powered_off == 1);
        return 0;
}

int main(void)
{
        if (setup() < 0) {
                printf("Bail out! socketpair: %s\n", strerror(errno));
                return 1;
        }
        RUN_TEST(test_check_answers_version);
        RUN_TEST(test_bad_envelopes);
        RUN_TEST(test_parameters_are_checked);
        RUN_TEST(test_create_sandbox_validates);
        RUN_TEST(test_create_container_validates);
        RUN_TEST(test_input_for_unknown_handle_is_dropped);
        RUN_TEST(test_protocol_error_discards_until_reconnect);
        RUN_TEST(test_docs_match_method_table);
        RUN_TEST(test_rpc_process_event);
        RUN_TEST(test_output_read_into_frames);
        RUN_TEST(test_destroy_sandbox_answers_then_powers_off);
        return TAP_DONE();
}
