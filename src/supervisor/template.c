/* VM templates (docs/factory.md): saving a booted template's device state, and starting a clone from it.
 * main.c (the VM owner) calls these; each runs a chain of QMP commands on s->qmp and reports once through
 * the done callback it was given. Nothing here calls back into main.c otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"
#include "supervisor.h"
#include "util.h"
#include "vc/hypervisor.h"
#include "vc/log.h"

#define QMP_TIMEOUT_MS 10000
#define MIGRATE_POLL_MS 2
/* Bytes of host randomness a clone's guest mixes into its pool after the restore (docs/factory.md). */
#define RESTORE_ENTROPY 64

enum op_kind { OP_SAVE, OP_RESTORE };

struct sup_template_op {
        struct sup *s;
        enum op_kind kind;
        sup_template_done done;
        int step;
        size_t nic;
        uv_timer_t poll;
        int poll_open;
        int wait_copy; /* a restore's migrate-incoming waits for the RAM copy (sup_clone_memory) */
};

static void op_next(struct sup_template_op *op);

static void op_poll_fired(uv_timer_t *t)
{
        op_next(t->data);
}

static void op_closed(uv_handle_t *h)
{
        free(h->data);
}

/* The operation is over: report once and let go of it. */
static void op_finish(struct sup_template_op *op, int r, const char *fmt, ...) _printf_(3, 4);
static void op_finish(struct sup_template_op *op, int r, const char *fmt, ...)
{
        struct sup *s = op->s;
        char *msg = NULL;
        sup_template_done done = op->done;

        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&msg, fmt, ap) < 0)
                        msg = NULL;
                va_end(ap);
        }
        s->tmpl_op = NULL;
        if (op->poll_open)
                uv_close((uv_handle_t *)&op->poll, op_closed);
        else
                free(op);
        done(s, r, r < 0 ? (msg ? msg : "out of memory") : NULL);
        free(msg);
}

static void op_reply(vc_qmp_t *q, int status, json_object *ret, const char *msg, void *data)
{
        struct sup_template_op *op = data;
        if (status == -ECANCELED)
                return; /* the supervisor is exiting: nobody waits for the answer */
        if (status < 0) {
                op_finish(op, status, "%s: qmp step %d: %s",
                          op->kind == OP_SAVE ? "save template" : "restore clone", op->step,
                          msg ? msg : strerror(-status));
                return;
        }
        vc_log(VC_LOG_DEBUG, 0, "%s: step %d done after %llu ms", op->kind == OP_SAVE ? "save" : "restore",
               op->step, (unsigned long long)(vc_now_ms() - op->s->start_ms));
        op->step++;
        op_next(op);
}

static int op_qmp(struct sup_template_op *op, const char *cmd, json_object *args)
{
        return vc_qmp_execute_async(op->s->qmp, cmd, args, QMP_TIMEOUT_MS, op_reply, op);
}

/* query-migrate until the migration (out or in) is over. */
static void migrate_polled(vc_qmp_t *q, int status, json_object *ret, const char *msg, void *data)
{
        struct sup_template_op *op = data;
        const char *st;

        if (status == -ECANCELED)
                return;
        if (status < 0) {
                op_finish(op, status, "query-migrate: %s", msg ? msg : strerror(-status));
                return;
        }
        st = vc_rpc_get_string(ret, "status");
        if (st && strcmp(st, "completed") == 0) {
                op->step++;
                op_next(op);
        } else if (st && (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0)) {
                const char *why = vc_rpc_get_string(ret, "error-desc");
                op_finish(op, -EIO, "migration %s%s%s", st, why ? ": " : "", why ? why : "");
        } else {
                uv_timer_start(&op->poll, op_poll_fired, MIGRATE_POLL_MS, 0);
        }
}

static json_object *ignore_shared(void)
{
        json_object *args = json_object_new_object(), *caps = json_object_new_array(),
                    *cap = json_object_new_object();
        json_object_object_add(cap, "capability", json_object_new_string("x-ignore-shared"));
        json_object_object_add(cap, "state", json_object_new_boolean(1));
        json_object_array_add(caps, cap);
        json_object_object_add(args, "capabilities", caps);
        return args;
}

static json_object *uri_args(const char *fmt, const char *path)
{
        json_object *args = json_object_new_object();
        char *uri = NULL;
        if (asprintf(&uri, fmt, path) < 0)
                return args; /* QMP refuses it: the chain fails with that */
        json_object_object_add(args, "uri", json_object_new_string(uri));
        free(uri);
        return args;
}

/* The agent's restore call, first after the probe: the host's wall clock now and fresh randomness. */
static int plan_restore_call(struct sup *s)
{
        uint8_t bytes[RESTORE_ENTROPY];
        char hex[2 * RESTORE_ENTROPY + 1];
        struct timespec now;
        json_object *step, *params, *plan;
        size_t got = 0;

        while (got < sizeof bytes) {
                ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof bytes; i++)
                snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
        explicit_bzero(bytes, sizeof bytes);
        clock_gettime(CLOCK_REALTIME, &now);
        params = json_object_new_object();
        json_object_object_add(params, "sec", json_object_new_int64(now.tv_sec));
        json_object_object_add(params, "nsec", json_object_new_int64(now.tv_nsec));
        json_object_object_add(params, "entropy", json_object_new_string(hex));
        explicit_bzero(hex, sizeof hex);
        step = json_object_new_object();
        json_object_object_add(step, "call", json_object_new_string(VC_AGENT_RESTORE));
        json_object_object_add(step, "params", params);
        /* the plan's first call stays the probe; the restore goes right after it */
        plan = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(s->boot_plan); i++) {
                json_object_array_add(plan, json_object_get(json_object_array_get_idx(s->boot_plan, i)));
                if (i == 0)
                        json_object_array_add(plan, step);
        }
        json_object_put(s->boot_plan);
        s->boot_plan = plan;
        return 0;
}

static void save_next(struct sup_template_op *op)
{
        struct sup *s = op->s;
        int r = 0;

        switch (op->step) {
        case 0:
                r = op_qmp(op, "stop", NULL);
                break;
        case 1:
                r = op_qmp(op, "migrate-set-capabilities", ignore_shared());
                break;
        case 2:
                r = op_qmp(op, "migrate", uri_args("exec:cat > %s", s->tmpl_state));
                break;
        case 3:
                r = vc_qmp_execute_async(s->qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, migrate_polled, op);
                break;
        default:
                op_finish(op, 0, NULL);
                return;
        }
        if (r < 0)
                op_finish(op, r, "save template: %s", strerror(-r));
}

static json_object *vfsd_chardev(struct sup *s)
{
        json_object *args = json_object_new_object(), *backend = json_object_new_object(),
                    *data = json_object_new_object(), *addr = json_object_new_object(),
                    *udata = json_object_new_object();
        json_object_object_add(udata, "path", json_object_new_string(s->vfsd_path));
        json_object_object_add(addr, "type", json_object_new_string("unix"));
        json_object_object_add(addr, "data", udata);
        json_object_object_add(data, "addr", addr);
        json_object_object_add(data, "server", json_object_new_boolean(0));
        json_object_object_add(backend, "type", json_object_new_string("socket"));
        json_object_object_add(backend, "data", data);
        json_object_object_add(args, "id", json_object_new_string("vfsd"));
        json_object_object_add(args, "backend", backend);
        return args;
}

static json_object *vfsd_device(void)
{
        json_object *args = json_object_new_object();
        json_object_object_add(args, "driver", json_object_new_string("vhost-user-fs-pci"));
        json_object_object_add(args, "id", json_object_new_string("vfsd-dev"));
        json_object_object_add(args, "bus", json_object_new_string("vc-fs"));
        json_object_object_add(args, "chardev", json_object_new_string("vfsd"));
        json_object_object_add(args, "tag", json_object_new_string(VC_SHARE_TAG));
        json_object_object_add(args, "queue-size", json_object_new_int(1024));
        return args;
}

/* The NIC's tap and MAC (checked by vc_qemu_check_nic when the config was written and again here). */
static int nic_of(struct sup *s, size_t i, struct vc_qemu_nic *nic)
{
        json_object *n = json_object_array_get_idx(s->nics, i), *v;
        vc_error_t err = NULL;
        nic->tap = nic->mac = NULL;
        if (json_object_object_get_ex(n, "tap", &v) && json_object_is_type(v, json_type_string))
                nic->tap = json_object_get_string(v);
        if (json_object_object_get_ex(n, "mac", &v) && json_object_is_type(v, json_type_string))
                nic->mac = json_object_get_string(v);
        if (vc_qemu_check_nic(nic, &err) < 0) {
                vc_error_release(&err);
                return -EINVAL;
        }
        return 0;
}

static void restore_next(struct sup_template_op *op)
{
        struct sup *s = op->s;
        size_t n_nics = s->nics ? json_object_array_length(s->nics) : 0;
        struct vc_qemu_nic nic;
        json_object *args;
        char id[64];
        int r = 0;

        switch (op->step) {
        case 0:
                r = op_qmp(op, "migrate-set-capabilities", ignore_shared());
                break;
        case 1:
                if (s->clone_copy > 0) { /* copy_done goes on */
                        op->wait_copy = 1;
                        return;
                }
                if (s->clone_copy < 0) {
                        op_finish(op, s->clone_copy, "copy template memory '%s': %s", s->tmpl_memory,
                                  strerror(-s->clone_copy));
                        return;
                }
                r = op_qmp(op, "migrate-incoming", uri_args("exec:cat %s", s->tmpl_state));
                break;
        case 2:
                r = vc_qmp_execute_async(s->qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, migrate_polled, op);
                break;
        case 3:
                r = op_qmp(op, "cont", NULL);
                break;
        case 4:
                if (s->tmpl_9p) { /* the 9p device came with the template */
                        op->step = 6;
                        restore_next(op);
                        return;
                }
                /* virtiofsd started beside qemu: its socket may still be on its way */
                if (!s->up->vfsd_listening(s)) {
                        uv_timer_start(&op->poll, op_poll_fired, MIGRATE_POLL_MS, 0);
                        return;
                }
                r = op_qmp(op, "chardev-add", vfsd_chardev(s));
                break;
        case 5:
                r = op_qmp(op, "device_add", vfsd_device());
                break;
        case 6: /* a netdev and a device per NIC, on vc-np0.. */
        case 7:
                if (op->nic >= n_nics) {
                        op->step = 8;
                        restore_next(op);
                        return;
                }
                if (nic_of(s, op->nic, &nic) < 0) {
                        op_finish(op, -EINVAL, "restore clone: nic %zu is not {tap, mac}", op->nic);
                        return;
                }
                args = json_object_new_object();
                snprintf(id, sizeof id, "net-%s", nic.tap);
                if (op->step == 6) {
                        json_object_object_add(args, "type", json_object_new_string("tap"));
                        json_object_object_add(args, "id", json_object_new_string(id));
                        json_object_object_add(args, "ifname", json_object_new_string(nic.tap));
                        json_object_object_add(args, "script", json_object_new_string("no"));
                        json_object_object_add(args, "downscript", json_object_new_string("no"));
                        json_object_object_add(args, "vhost", json_object_new_boolean(0));
                        r = op_qmp(op, "netdev_add", args);
                        break;
                }
                json_object_object_add(args, "driver", json_object_new_string("virtio-net-pci"));
                json_object_object_add(args, "netdev", json_object_new_string(id));
                snprintf(id, sizeof id, "nic-%s", nic.tap);
                json_object_object_add(args, "id", json_object_new_string(id));
                json_object_object_add(args, "mac", json_object_new_string(nic.mac));
                snprintf(id, sizeof id, "vc-np%zu", op->nic);
                json_object_object_add(args, "bus", json_object_new_string(id));
                json_object_object_add(args, "romfile", json_object_new_string(""));
                op->nic++;
                op->step = 5; /* op_reply steps to 6: the next NIC */
                r = op_qmp(op, "device_add", args);
                break;
        default:
                /* qemu has the RAM mapped: the copy needs no name of ours any longer */
                if (s->clone_fd >= 0) {
                        close(s->clone_fd);
                        s->clone_fd = -1;
                }
                r = plan_restore_call(s);
                if (r < 0)
                        op_finish(op, r, "restore clone: host randomness: %s", strerror(-r));
                else
                        op_finish(op, 0, NULL);
                return;
        }
        if (r < 0)
                op_finish(op, r, "restore clone: %s", strerror(-r));
}

static void op_next(struct sup_template_op *op)
{
        if (op->kind == OP_SAVE)
                save_next(op);
        else
                restore_next(op);
}

static void op_start(struct sup *s, enum op_kind kind, sup_template_done done)
{
        struct sup_template_op *op = calloc(1, sizeof *op);

        if (op == NULL) {
                done(s, -ENOMEM, "out of memory");
                return;
        }
        op->s = s;
        op->kind = kind;
        op->done = done;
        if (uv_timer_init(s->loop, &op->poll) == 0) {
                op->poll.data = op;
                op->poll_open = 1;
        }
        s->tmpl_op = op;
        op_next(op);
}

void sup_template_save(struct sup *s, sup_template_done done)
{
        op_start(s, OP_SAVE, done);
}

void sup_clone_restore(struct sup *s, sup_template_done done)
{
        op_start(s, OP_RESTORE, done);
}

/* Copy src's data into dst, leaving its holes holes. Written here rather than run as `cp --sparse`: it
 * is a few lines over lseek(SEEK_DATA/SEEK_HOLE) and copy_file_range, and needs no process. */
static int copy_sparse(int src, int dst)
{
        off_t data = 0, hole;

        for (;;) {
                data = lseek(src, data, SEEK_DATA);
                if (data < 0)
                        return errno == ENXIO ? 0 : -errno; /* ENXIO: no data past this offset */
                hole = lseek(src, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                while (data < hole) {
                        off_t in = data, out = data;
                        ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(hole - data), 0);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return n < 0 ? -errno : -EIO;
                        data += n;
                }
        }
}

/* The copy, in libuv's thread pool: it owns both descriptors. */
struct clone_copy {
        uv_work_t req;
        struct sup *s;
        int src, dst;
        int r;
};

static void copy_work(uv_work_t *req)
{
        struct clone_copy *c = req->data;
        c->r = copy_sparse(c->src, c->dst);
}

static void copy_done(uv_work_t *req, int status)
{
        struct clone_copy *c = req->data;
        struct sup *s = c->s;
        struct sup_template_op *op = s->tmpl_op;

        s->clone_copy = status < 0 ? status : c->r;
        close(c->src);
        close(c->dst);
        free(c);
        if (s->clone_copy == 0)
                vc_log(VC_LOG_DEBUG, 0, "template memory copied after %llu ms",
                       (unsigned long long)(vc_now_ms() - s->start_ms));
        /* a restore waiting for the copy takes its step again: it goes on, or fails with the copy */
        if (op && op->kind == OP_RESTORE && op->wait_copy) {
                op->wait_copy = 0;
                op_next(op);
        }
}

int sup_clone_memory(struct sup *s, char **ret_msg)
{
        _cleanup_close_ int src = -1, dst = -1, copy_dst = -1;
        _cleanup_free_ char *dir = strdup(s->tmpl_memory);
        struct clone_copy *c;
        struct stat st;
        int r;

        *ret_msg = NULL;
        if (dir == NULL)
                return -ENOMEM;
        src = open(s->tmpl_memory, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (src < 0 || fstat(src, &st) < 0) {
                r = -errno;
                if (asprintf(ret_msg, "open template memory '%s': %s", s->tmpl_memory, strerror(-r)) < 0)
                        *ret_msg = NULL;
                return r;
        }
        /* unnamed, beside the template (the same tmpfs): nothing to remove whatever way the sandbox ends */
        dst = open(dirname(dir), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (dst < 0 || ftruncate(dst, st.st_size) < 0 || (copy_dst = fcntl(dst, F_DUPFD_CLOEXEC, 3)) < 0) {
                r = -errno;
                if (asprintf(ret_msg, "create the clone's memory beside '%s': %s", s->tmpl_memory,
                             strerror(-r)) < 0)
                        *ret_msg = NULL;
                return r;
        }
        if (asprintf(&s->clone_mem_path, "/proc/%d/fd/%d", (int)getpid(), dst) < 0)
                return -ENOMEM;
        /* qemu maps the file (share=on) as it starts; the guest reads it only once the migration is in,
         * so the copy runs beside qemu's own start instead of before it */
        if ((c = calloc(1, sizeof *c)) == NULL)
                return -ENOMEM;
        c->s = s;
        c->src = src;
        c->dst = copy_dst;
        c->req.data = c;
        r = uv_queue_work(s->loop, &c->req, copy_work, copy_done);
        if (r < 0) {
                free(c);
                if (asprintf(ret_msg, "copy template memory: %s", uv_strerror(r)) < 0)
                        *ret_msg = NULL;
                return r;
        }
        src = copy_dst = -1; /* the copy's own */
        s->clone_copy = 1;
        s->clone_fd = TAKE_FD(dst);
        return 0;
}

void sup_template_free(struct sup *s)
{
        if (s->clone_fd >= 0)
                close(s->clone_fd);
        s->clone_fd = -1;
        free(s->clone_mem_path);
        s->clone_mem_path = NULL;
        free(s->tmpl_memory);
        free(s->tmpl_state);
        s->tmpl_memory = s->tmpl_state = NULL;
        if (s->tmpl_op) {
                struct sup_template_op *op = s->tmpl_op;
                s->tmpl_op = NULL;
                if (op->poll_open && op->poll.loop && !uv_is_closing((uv_handle_t *)&op->poll))
                        uv_close((uv_handle_t *)&op->poll, op_closed);
                else if (!op->poll_open)
                        free(op);
        }
}
