/* QEMU command line building and the QMP client against a scripted QMP peer over a socketpair. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "vc/hypervisor.h"
#include "vc/qmp.h"
#include "vc/sandbox.h"

static int failures;
static int test_no;

#define CHECK(cond)                                                                                          \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        fprintf(stderr, "# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
                        return -1;                                                                           \
                }                                                                                            \
        } while (0)

#define RUN_TEST(fn)                                                                                         \
        do {                                                                                                 \
                int _r = fn();                                                                               \
                test_no++;                                                                                   \
                printf("%s %d - %s\n", _r == 0 ? "ok" : "not ok", test_no, #fn);                             \
                if (_r != 0)                                                                                 \
                        failures++;                                                                          \
        } while (0)

/* --- command line --- */

static const struct vc_qemu_config base = {
    .qemu = "/usr/bin/qemu-system-x86_64",
    .name = "sb1",
    .dir = "/run/vc/sb1",
    .kernel = "/boot/vmlinuz",
    .initrd = "/boot/initrd.img",
    .kernel_params = "agent.debug=1",
    .accel = "tcg",
    .vfsd_socket = "/run/vc/sb1/vfsd.sock",
    .vcpus = 2,
    .memory_mib = 512,
};

static int argv_has(char **argv, const char *opt, const char *val)
{
        for (char **a = argv; *a; a++)
                if (strcmp(a[0], opt) == 0 && (val == NULL || (a[1] && strcmp(a[1], val) == 0)))
                        return 1;
        return 0;
}

static const char *argv_value(char **argv, const char *opt)
{
        for (char **a = argv; *a; a++)
                if (strcmp(a[0], opt) == 0)
                        return a[1];
        return NULL;
}

static int test_argv_tcg(void)
{
        char **argv = NULL;
        vc_error_t err = NULL;
        CHECK(vc_qemu_build_argv(&base, &argv, &err) == 0);
        CHECK(strcmp(argv[0], base.qemu) == 0);
        CHECK(argv_has(argv, "-machine", "q35"));
        CHECK(argv_has(argv, "-accel", "tcg,tb-size=16"));
        CHECK(argv_has(argv, "-cpu", "max,-erms,-fsrm"));
        CHECK(argv_has(argv, "-smp", "2"));
        CHECK(argv_has(argv, "-m", "512M"));
        CHECK(argv_has(argv, "-object", "memory-backend-memfd,id=mem,size=512M,share=on"));
        CHECK(argv_has(argv, "-numa", "node,memdev=mem"));
        CHECK(argv_has(argv, "-nodefaults", NULL) && argv_has(argv, "-no-user-config", NULL) &&
              argv_has(argv, "-nographic", NULL) && argv_has(argv, "-no-reboot", NULL));
        CHECK(argv_has(argv, "-kernel", "/boot/vmlinuz") && argv_has(argv, "-initrd", "/boot/initrd.img"));
        const char *append = argv_value(argv, "-append");
        CHECK(append && strstr(append, "console=ttyS0") && strstr(append, " quiet") &&
              strstr(append, "panic=1"));
        /* the boot work a VM skips: a calibrated TSC, no PS/2 probing, no scan for peer root buses */
        CHECK(strstr(append, "tsc=reliable ") && strstr(append, "i8042.noaux=1") &&
              strstr(append, "pci=lastbus=0"));
        CHECK(strcmp(append + strlen(append) - strlen(" agent.debug=1"), " agent.debug=1") == 0);
        CHECK(argv_has(argv, "-chardev", "socket,id=qmp,path=/run/vc/sb1/qmp.sock,server=on,wait=off"));
        CHECK(argv_has(argv, "-chardev", "socket,id=agent,path=/run/vc/sb1/agent.sock,server=on,wait=off"));
        CHECK(argv_has(argv, "-device", "virtserialport,chardev=agent,name=agent.channel.0"));
        CHECK(argv_has(argv, "-chardev", "socket,id=vfsd,path=/run/vc/sb1/vfsd.sock"));
        CHECK(argv_has(argv, "-device", "vhost-user-fs-pci,chardev=vfsd,tag=kataShared,queue-size=1024"));
        CHECK(argv_has(argv, "-chardev", "file,id=console,path=/run/vc/sb1/console.log"));
        CHECK(!argv_has(argv, "-netdev", NULL) && !argv_has(argv, "-nic", NULL));
        vc_strv_free(argv);

        struct vc_qemu_config c = base;
        c.tcg_cache_mib = 64;
        CHECK(vc_qemu_build_argv(&c, &argv, &err) == 0);
        CHECK(argv_has(argv, "-accel", "tcg,tb-size=64"));
        /* two vCPUs keep their local APIC timers; QEMU's own firmware when none is named */
        CHECK(strstr(argv_value(argv, "-append"), "noapictimer") == NULL);
        CHECK(!argv_has(argv, "-bios", NULL));
        vc_strv_free(argv);

        /* one vCPU under TCG: the HPET keeps its time (no 100 ms APIC timer calibration); qboot */
        c = base, c.vcpus = 1, c.firmware = "/usr/share/qemu/qboot.rom", c.kernel_params = NULL;
        CHECK(vc_qemu_build_argv(&c, &argv, &err) == 0);
        CHECK(strstr(argv_value(argv, "-append"), " noapictimer"));
        CHECK(argv_has(argv, "-bios", "/usr/share/qemu/qboot.rom"));
        vc_strv_free(argv);
        /* a template boots with QEMU's own firmware (its vmgenid), whatever is configured */
        c.template_shape = 1, c.mem_file = "/dev/shm/t.mem", c.vfsd_socket = NULL;
        CHECK(vc_qemu_build_argv(&c, &argv, &err) == 0);
        CHECK(argv_has(argv, "-device", "vmgenid,guid=auto") && !argv_has(argv, "-bios", NULL));
        vc_strv_free(argv);
        c = base, c.firmware = "";
        CHECK(vc_qemu_build_argv(&c, &argv, &err) == 0);
        CHECK(!argv_has(argv, "-bios", NULL));
        vc_strv_free(argv);
        return 0;
}

static int test_argv_kvm_debug(void)
{
        struct vc_qemu_config c = base;
        char **argv = NULL;
        c.accel = "kvm";
        c.debug = 1;
        c.kernel_params = NULL;
        c.vfsd_socket = NULL;
        CHECK(vc_qemu_build_argv(&c, &argv, NULL) == 0);
        CHECK(argv_has(argv, "-cpu", "host"));
        CHECK(argv_has(argv, "-accel", "kvm"));
        CHECK(strstr(argv_value(argv, "-append"), "quiet") == NULL);
        vc_strv_free(argv);
        c.vcpus = 1; /* KVM's local APIC timer needs no calibration */
        CHECK(vc_qemu_build_argv(&c, &argv, NULL) == 0);
        CHECK(strstr(argv_value(argv, "-append"), "noapictimer") == NULL);
        CHECK(!argv_has(argv, "-device", "vhost-user-fs-pci,chardev=vfsd,tag=kataShared,queue-size=1024"));
        vc_strv_free(argv);
        return 0;
}

static int expect_argv_error(struct vc_qemu_config c, const char *msg_part)
{
        char **argv = NULL;
        vc_error_t err = NULL;
        int r = vc_qemu_build_argv(&c, &argv, &err);
        int ok = r == -EINVAL && err && strstr(err->msg, msg_part) && argv == NULL;
        if (!ok)
                fprintf(stderr, "# want '%s', got %d '%s'\n", msg_part, r, err ? err->msg : "");
        vc_error_release(&err);
        return ok ? 0 : -1;
}

static int test_argv_rejects_bad_config(void)
{
        struct vc_qemu_config c;
        c = base, c.firmware = "qboot.rom";
        CHECK(expect_argv_error(c, "firmware 'qboot.rom' is not an absolute path") == 0);
        c = base, c.kernel = "vmlinuz";
        CHECK(expect_argv_error(c, "kernel 'vmlinuz' is not an absolute path") == 0);
        c = base, c.initrd = NULL;
        CHECK(expect_argv_error(c, "initrd is missing") == 0);
        c = base, c.accel = "auto";
        CHECK(expect_argv_error(c, "accel 'auto' is not kvm or tcg") == 0);
        c = base, c.memory_mib = 16;
        CHECK(expect_argv_error(c, "memory 16 MiB") == 0);
        c = base, c.vcpus = 0;
        CHECK(expect_argv_error(c, "vcpus 0") == 0);
        c = base, c.dir = "/run/a,b";
        CHECK(expect_argv_error(c, "contains ','") == 0);
        c = base, c.kernel_params = "a\nb";
        CHECK(expect_argv_error(c, "newline") == 0);
        return 0;
}

static int test_errno_names(void)
{
        CHECK(vc_errno_from_name("ENOENT") == ENOENT);
        CHECK(vc_errno_from_name("EPIPE") == EPIPE);
        CHECK(vc_errno_from_name("ENOTANERRNO") == EIO);
        CHECK(vc_errno_from_name(NULL) == EIO);
        return 0;
}

/* --- QMP against a scripted peer --- */

struct peer {
        int fd;
        const char *script; /* see peer_main */
        int saw_capabilities;
        char commands[512]; /* names of the commands received, space separated */
};

static int read_line(int fd, char *buf, size_t len)
{
        size_t n = 0;
        while (n + 1 < len) {
                ssize_t k = read(fd, buf + n, 1);
                if (k <= 0)
                        return -1;
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = '\0';
        return 0;
}

static void peer_write(int fd, const char *s)
{
        (void)!write(fd, s, strlen(s));
}

/* A QEMU monitor: greeting, qmp_capabilities, then per command: "query-status" answers in two pieces
 * with an event in front, "stop" gets a GenericError, "quit" closes the socket, "hang" is never answered,
 * "query-version" gets a reply with a foreign id first. */
static void *peer_main(void *arg)
{
        struct peer *p = arg;
        char line[4096], reply[512];

        if (strcmp(p->script, "garbage") == 0) {
                peer_write(p->fd, "this is not QMP\r\n");
                usleep(200000);
                close(p->fd);
                return NULL;
        }
        peer_write(p->fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, "
                          "\"capabilities\": [\"oob\"]}}\r\n");
        while (read_line(p->fd, line, sizeof line) == 0) {
                json_object *o = json_tokener_parse(line), *v, *id;
                if (o == NULL || !json_object_object_get_ex(o, "execute", &v))
                        break;
                const char *cmd = json_object_get_string(v);
                json_object_object_get_ex(o, "id", &id);
                const char *ids = id ? json_object_to_json_string(id) : "null";
                if (strcmp(cmd, "qmp_capabilities") == 0) {
                        p->saw_capabilities = 1;
                        snprintf(reply, sizeof reply, "{\"return\": {}, \"id\": %s}\r\n", ids);
                        peer_write(p->fd, reply);
                        json_object_put(o);
                        continue;
                }
                strncat(p->commands, cmd, sizeof p->commands - strlen(p->commands) - 2);
                strcat(p->commands, " ");
                if (strcmp(cmd, "query-status") == 0) {
                        peer_write(p->fd, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
                                          "\"RESUME\"}\r\n");
                        snprintf(reply, sizeof reply,
                                 "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
                                 "\"running\": true}, \"id\": %s}\r\n",
                                 ids);
                        size_t half = strlen(reply) / 2;
                        (void)!write(p->fd, reply, half);
                        usleep(20000);
                        peer_write(p->fd, reply + half);
                } else if (strcmp(cmd, "stop") == 0) {
                        snprintf(reply, sizeof reply,
                                 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"not now\"}, "
                                 "\"id\": %s}\r\n",
                                 ids);
                        peer_write(p->fd, reply);
                } else if (strcmp(cmd, "query-version") == 0) {
                        peer_write(p->fd, "{\"return\": {}, \"id\": 9999}\r\n");
                        snprintf(reply, sizeof reply, "{\"return\": {\"package\": \"x\"}, \"id\": %s}\r\n",
                                 ids);
                        peer_write(p->fd, reply);
                } else if (strcmp(cmd, "quit") == 0) {
                        json_object_put(o);
                        break;
                } /* anything else ("hang") is never answered */
                json_object_put(o);
        }
        close(p->fd);
        return NULL;
}

struct result {
        int done;
        int status;
        char text[512];
};

static void record_cb(vc_qmp_t *q, int status, json_object *ret, const char *msg, void *data)
{
        struct result *r = data;
        r->done = 1;
        r->status = status;
        snprintf(r->text, sizeof r->text, "%s",
                 status == 0 ? (ret ? json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN) : "null")
                             : msg);
}

static int events_seen;
static void event_cb(vc_qmp_t *q, const char *event, json_object *data, void *userdata)
{
        if (strcmp(event, "RESUME") == 0)
                events_seen++;
}

static int run_until(uv_loop_t *loop, struct result *r, int max_ms)
{
        for (int i = 0; i < max_ms / 5 && !r->done; i++) {
                uv_run(loop, UV_RUN_NOWAIT);
                usleep(5000);
        }
        return r->done;
}

static int test_qmp_conversation(void)
{
        int sv[2];
        struct peer p = {.script = "normal"};
        pthread_t th;
        uv_loop_t loop;
        vc_qmp_t *q = NULL;
        struct result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};

        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        p.fd = sv[1];
        CHECK(pthread_create(&th, NULL, peer_main, &p) == 0);
        CHECK(uv_loop_init(&loop) == 0);
        CHECK(vc_qmp_open_fd(&loop, sv[0], &q, NULL) == 0);
        vc_qmp_set_event_cb(q, event_cb, NULL);
        /* issued before the greeting is processed: queued until capabilities are negotiated */
        CHECK(vc_qmp_execute_async(q, "query-status", NULL, 2000, record_cb, &r1) == 0);
        CHECK(vc_qmp_execute_async(q, "stop", NULL, 2000, record_cb, &r2) == 0);
        CHECK(vc_qmp_execute_async(q, "query-version", NULL, 2000, record_cb, &r3) == 0);
        CHECK(run_until(&loop, &r3, 3000));
        CHECK(r1.done && r1.status == 0 && strstr(r1.text, "\"status\":\"running\""));
        CHECK(r2.done && r2.status == -EIO && strcmp(r2.text, "qmp GenericError: not now") == 0);
        CHECK(r3.status == 0 && strstr(r3.text, "\"package\":\"x\""));
        CHECK(events_seen == 1);
        CHECK(p.saw_capabilities);
        /* quit answered by a closed socket is success */
        CHECK(vc_qmp_execute_async(q, "quit", NULL, 2000, record_cb, &r4) == 0);
        CHECK(run_until(&loop, &r4, 3000));
        CHECK(r4.status == 0);
        CHECK(!vc_qmp_is_open(q));
        CHECK(vc_qmp_execute_async(q, "query-status", NULL, 100, record_cb, &r1) == -EPIPE);
        vc_qmp_close(q);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        pthread_join(th, NULL);
        CHECK(strcmp(p.commands, "query-status stop query-version quit ") == 0);
        return 0;
}

static int test_qmp_timeout_and_close(void)
{
        int sv[2];
        struct peer p = {.script = "normal"};
        pthread_t th;
        uv_loop_t loop;
        vc_qmp_t *q = NULL;
        struct result r1 = {0}, r2 = {0};
        struct timespec a, b;

        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        p.fd = sv[1];
        CHECK(pthread_create(&th, NULL, peer_main, &p) == 0);
        CHECK(uv_loop_init(&loop) == 0);
        CHECK(vc_qmp_open_fd(&loop, sv[0], &q, NULL) == 0);
        clock_gettime(CLOCK_MONOTONIC, &a);
        CHECK(vc_qmp_execute_async(q, "hang", NULL, 150, record_cb, &r1) == 0);
        CHECK(run_until(&loop, &r1, 3000));
        clock_gettime(CLOCK_MONOTONIC, &b);
        long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
        CHECK(r1.status == -ETIMEDOUT && ms >= 140 && ms < 1500);
        /* closing with a command outstanding cancels it */
        CHECK(vc_qmp_execute_async(q, "hang", NULL, 0, record_cb, &r2) == 0);
        uv_run(&loop, UV_RUN_NOWAIT);
        vc_qmp_close(q);
        CHECK(r2.done && r2.status == -ECANCELED);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        shutdown(sv[1], SHUT_RDWR);
        pthread_join(th, NULL);
        return 0;
}

static int test_qmp_not_qmp(void)
{
        int sv[2];
        struct peer p = {.script = "garbage"};
        pthread_t th;
        uv_loop_t loop;
        vc_qmp_t *q = NULL;
        struct result r = {0};

        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        p.fd = sv[1];
        CHECK(pthread_create(&th, NULL, peer_main, &p) == 0);
        CHECK(uv_loop_init(&loop) == 0);
        CHECK(vc_qmp_open_fd(&loop, sv[0], &q, NULL) == 0);
        CHECK(vc_qmp_execute_async(q, "query-status", NULL, 2000, record_cb, &r) == 0);
        CHECK(run_until(&loop, &r, 3000));
        CHECK(r.status == -EPROTO);
        vc_qmp_close(q);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        pthread_join(th, NULL);
        return 0;
}

static int test_qmp_blocking_no_monitor(void)
{
        vc_error_t err = NULL;
        json_object *ret = NULL;
        int r = vc_qmp_execute("/nonexistent/qmp.sock", "query-status", NULL, 500, &ret, &err);
        CHECK(r == -ENOENT);
        CHECK(err && strstr(err->msg, "qmp 'query-status'"));
        CHECK(ret == NULL);
        vc_error_release(&err);
        /* no monitor any more: qemu has stopped, which is what quit asks for */
        CHECK(vc_qmp_execute("/nonexistent/qmp.sock", "quit", NULL, 500, NULL, &err) == 0);
        CHECK(err == NULL);
        return 0;
}

static int test_qmp_quit_refused(void)
{
        char dir[] = "/tmp/vc-qmp.XXXXXX", path[64];
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        vc_error_t err = NULL;
        int fd;

        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/qmp.sock", dir);
        /* bound but not listening: connect is refused, as after qemu died */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        strcpy(sa.sun_path, path);
        CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
        int r1 = vc_qmp_execute(path, "query-status", NULL, 500, NULL, &err);
        int e1 = err ? err->code : 0;
        vc_error_release(&err);
        int r2 = vc_qmp_execute(path, "quit", NULL, 500, NULL, &err);
        close(fd);
        unlink(path);
        rmdir(dir);
        CHECK(r1 == -ECONNREFUSED && e1 == ECONNREFUSED);
        CHECK(r2 == 0 && err == NULL);
        return 0;
}

int main(void)
{
        printf("TAP version 13\n");
        RUN_TEST(test_argv_tcg);
        RUN_TEST(test_argv_kvm_debug);
        RUN_TEST(test_argv_rejects_bad_config);
        RUN_TEST(test_errno_names);
        RUN_TEST(test_qmp_conversation);
        RUN_TEST(test_qmp_timeout_and_close);
        RUN_TEST(test_qmp_not_qmp);
        RUN_TEST(test_qmp_blocking_no_monitor);
        RUN_TEST(test_qmp_quit_refused);
        printf("1..%d\n", test_no);
        return failures ? 1 : 0;
}
