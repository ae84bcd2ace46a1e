/* The agent channel and the clients of sup.sock: request id remapping, response routing, data frames by
 * process handle, output buffering with backpressure, exit statuses, events, and the sup.* methods. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "supervisor.h"
#include "util.h"
#include "vc/log.h"
#include "vc/sandbox.h"

/* Report a boot failure up (formatted here: the callback takes the one line). */
static void boot_fail(struct sup *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void boot_fail(struct sup *s, int code, const char *fmt, ...)
{
        char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        s->up->boot_fail(s, code, msg ? msg : "boot failed");
        free(msg);
}

/* --- writing frames --- */

static void update_agent_reading(struct sup *s);
static void resume_clients(struct sup *s);

static struct chunk *chunk_new(uint8_t type, uint8_t stream, uint32_t id, const void *payload, size_t len)
{
        struct chunk *k = malloc(sizeof *k + len);
        if (k == NULL)
                return NULL;
        if (len)
                memcpy(k->bytes, payload, len);
        k->type = type;
        k->stream = stream;
        k->id = id;
        k->len = len;
        k->next = NULL;
        return k;
}

static void client_send_json(struct sup_client *c, uint8_t type, uint32_t id, json_object *o)
{
        size_t len;
        const char *txt = o ? vc_rpc_text(o, &len) : NULL;
        if (txt)
                (void)sup_client_send(c, type, 0, id, txt, len);
}

static void reply_result(struct sup_client *c, uint32_t id, json_object *result)
{
        json_object *o = vc_rpc_result(result);
        client_send_json(c, VC_FRAME_RESPONSE, id, o);
        json_object_put(o);
}

static void reply_error(struct sup_client *c, uint32_t id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(struct sup_client *c, uint32_t id, int code, const char *fmt, ...)
{
        json_object *o;
        char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        o = vc_rpc_error(code, msg);
        client_send_json(c, VC_FRAME_RESPONSE, id, o);
        json_object_put(o);
        free(msg);
}

static void send_event_all(struct sup *s, const char *name, json_object *params)
{
        json_object *o = vc_rpc_event(name, params);
        for (struct sup_client *c = s->clients.list; c; c = c->next)
                client_send_json(c, VC_FRAME_EVENT, 0, o);
        json_object_put(o);
}

/* Count what the guest sent that was dropped; log it at most once per SUP_DROP_LOG_MS (a flood of
 * drops must not become a flood of log lines). */
static void note_dropped(struct sup *s, uint64_t events, uint64_t bytes)
{
        uint64_t now = vc_now_ms();

        s->dropped_events += events;
        s->dropped_bytes += bytes;
        if (s->drop_logged_ms && now - s->drop_logged_ms < SUP_DROP_LOG_MS)
                return;
        vc_log(VC_LOG_WARNING, 0,
               "dropped from the guest: %llu events over %u bytes, %llu bytes of output for handles whose "
               "client went away",
               (unsigned long long)s->dropped_events, SUP_EVENT_MAX, (unsigned long long)s->dropped_bytes);
        s->drop_logged_ms = now;
        s->dropped_events = s->dropped_bytes = 0;
}

/* --- processes --- */

static struct proc *proc_find(struct sup *s, uint32_t handle)
{
        for (struct proc *p = s->procs; p; p = p->next)
                if (p->handle == handle)
                        return p;
        return NULL;
}

static struct proc *proc_get(struct sup *s, uint32_t handle)
{
        struct proc *p = proc_find(s, handle);
        if (p)
                return p;
        p = calloc(1, sizeof *p);
        if (p == NULL)
                return NULL;
        p->handle = handle;
        p->next = s->procs;
        s->procs = p;
        return p;
}

static void proc_free(struct proc *p)
{
        while (p->head) {
                struct chunk *k = p->head;
                p->head = k->next;
                free(k);
        }
        while (p->waiters) {
                struct waiter *w = p->waiters;
                p->waiters = w->next;
                free(w);
        }
        free(p->id);
        free(p->exec_id);
        free(p);
}

/* Deliver a frame of process p: to its attached client, or into its buffer. */
static void proc_deliver(struct sup *s, struct proc *p, uint8_t type, uint8_t stream, const void *payload,
                         size_t len)
{
        uint32_t id = type == VC_FRAME_DATA ? p->handle : 0;
        if (p->attached && !p->attached->closing) {
                (void)sup_client_send(p->attached, type, stream, id, payload, len);
                return;
        }
        if (p->orphaned && type == VC_FRAME_DATA) {
                /* nobody will read it, and holding it would stop the channel every container shares */
                note_dropped(s, 0, len);
                return;
        }
        struct chunk *k = chunk_new(type, stream, id, payload, len);
        if (k == NULL) {
                vc_log(VC_LOG_ERROR, ENOMEM, "buffer output of handle %u, dropping it", p->handle);
                return;
        }
        if (p->tail)
                p->tail->next = k;
        else
                p->head = k;
        p->tail = k;
        p->buffered += VC_FRAME_HEADER + k->len;
}

/* event[event_len]: the exit event's frame payload, as the agent sent it or as made here */
static void proc_exited(struct sup *s, struct proc *p, int status, const void *event, size_t event_len)
{
        p->exited = 1;
        p->status = status;
        while (p->waiters) {
                struct waiter *w = p->waiters;
                json_object *r = json_object_new_object();
                p->waiters = w->next;
                json_object_object_add(r, "status", json_object_new_int(status));
                reply_result(w->c, w->id, r);
                free(w);
        }
        proc_deliver(s, p, VC_FRAME_EVENT, 0, event, event_len);
        if (s->stop_after != 0 && p->handle == s->stop_after) {
                /* after the exit event is queued for its client: the shim reports the status first */
                s->stop_after = 0;
                vc_log(VC_LOG_INFO, 0, "handle %u exited: shutting down as asked", p->handle);
                sup_begin_shutdown(s, NULL, 0, s->stop_after_ms);
        }
}

static json_object *exit_event(struct proc *p, int status)
{
        return vc_rpc_event(VC_EVENT_EXIT, vc_rpc_params_exit(p->handle, p->id, p->exec_id, status));
}

/* remove_container succeeded: the agent forgot the container's handles, so do we. */
static void procs_forget(struct sup *s, const char *cid)
{
        for (struct proc **pp = &s->procs; *pp;) {
                struct proc *p = *pp;
                if (p->id && strcmp(p->id, cid) == 0) {
                        *pp = p->next;
                        for (struct waiter *w = p->waiters; w; w = w->next)
                                reply_error(w->c, w->id, ESRCH, "container '%s' was removed", cid);
                        proc_free(p);
                } else {
                        pp = &p->next;
                }
        }
        update_agent_reading(s);
}

/* --- backpressure --- */

static struct sup *owner(struct sup_client *c)
{
        return c->set->data;
}

/* Stop reading the agent channel when what it fed is over a bound -- a handle's buffer over
 * SUP_BUFFER_LIMIT, a client's queue over SUP_CLIENT_HIGH, all of it over SUP_QUEUED_HIGH -- and read it
 * again once each is under half its bound (a low-water mark, so that it does not flap per write). The
 * guest's writes then wait in the port and its processes block: a flooding guest is slowed, not
 * buffered. A client that stays behind is disconnected by clients.c (SUP_CLIENT_STALL_MS). */
static void update_agent_reading(struct sup *s)
{
        unsigned shift = s->chan.paused ? 1 : 0;
        size_t total = 0;
        bool full = false;

        if (!s->chan.connected)
                return;
        for (struct proc *p = s->procs; p && !full; p = p->next) {
                full = p->buffered > SUP_BUFFER_LIMIT >> shift;
                total += p->buffered;
        }
        for (struct sup_client *c = s->clients.list; c && !full; c = c->next) {
                full = sup_client_queued(c) > SUP_CLIENT_HIGH >> shift;
                total += sup_client_queued(c);
        }
        full = full || total > SUP_QUEUED_HIGH >> shift;
        if (full && !s->chan.paused)
                vc_log(VC_LOG_DEBUG, 0, "output queues full, pausing the agent channel");
        else if (!full && s->chan.paused)
                vc_log(VC_LOG_DEBUG, 0, "output queues drained, resuming the agent channel");
        sup_chan_pause(&s->chan, full);
}

static int agent_queue_full(struct sup *s)
{
        return sup_chan_queued(&s->chan) > SUP_BUFFER_LIMIT;
}

static void resume_clients(struct sup *s)
{
        if (agent_queue_full(s))
                return;
        for (struct sup_client *c = s->clients.list; c; c = c->next)
                sup_client_pause(c, false);
}

/* --- pending agent requests --- */

static void pending_free(struct pending *p)
{
        free(p);
}

static struct pending *pending_take(struct sup *s, uint32_t agent_id)
{
        for (struct pending **pp = &s->pending; *pp; pp = &(*pp)->next)
                if ((*pp)->agent_id == agent_id) {
                        struct pending *p = *pp;
                        *pp = p->next;
                        return p;
                }
        return NULL;
}

/* Send payload[len] (a request's text) to the agent under an id of ours, remembering whom to answer (and,
 * for the boot plan, which step it is). */
static int agent_send_step(struct sup *s, enum pending_kind kind, size_t step, const void *payload,
                           size_t len, struct sup_client *c, uint32_t client_id)
{
        struct pending *p = calloc(1, sizeof *p);
        int r;

        if (p == NULL)
                return -ENOMEM;
        p->kind = kind;
        p->step = step;
        p->agent_id = s->next_agent_id++;
        if (s->next_agent_id == 0)
                s->next_agent_id = 1;
        p->c = c;
        p->client_id = client_id;
        r = sup_chan_send(&s->chan, VC_FRAME_REQUEST, 0, p->agent_id, payload, len);
        if (r < 0) {
                pending_free(p);
                return r;
        }
        p->next = s->pending;
        s->pending = p;
        return 0;
}

static int agent_send_request(struct sup *s, enum pending_kind kind, const void *payload, size_t len,
                              struct sup_client *c, uint32_t client_id)
{
        return agent_send_step(s, kind, 0, payload, len, c, client_id);
}

/* One of the supervisor's own requests (check, create_sandbox, destroy_sandbox); takes params. */
static int agent_request(struct sup *s, enum pending_kind kind, const char *method, json_object *params)
{
        json_object *o = vc_rpc_request(method, params);
        size_t len;
        const char *txt = o ? vc_rpc_text(o, &len) : NULL;
        int r = txt ? agent_send_step(s, kind, s->boot_step, txt, len, NULL, 0) : -ENOMEM;

        json_object_put(o);
        return r;
}

/* Send step s->boot_step of the boot plan. */
static int boot_send(struct sup *s)
{
        json_object *step = json_object_array_get_idx(s->boot_plan, s->boot_step), *params = NULL;
        const char *call = vc_rpc_get_string(step, "call");

        (void)json_object_object_get_ex(step, "params", &params);
        return agent_request(s, PEND_BOOT, call, params ? json_object_get(params) : NULL);
}

static const char *boot_call(struct sup *s)
{
        return vc_rpc_get_string(json_object_array_get_idx(s->boot_plan, s->boot_step), "call");
}

void sup_agent_send_check(struct sup *s)
{
        if (s->phase != PHASE_BOOT_AGENT)
                return;
        s->boot_step = 0;
        int r = boot_send(s);
        if (r < 0 && r != -EPIPE)
                vc_log(VC_LOG_WARNING, -r, "send %s", boot_call(s));
}

/* --- agent channel --- */

/* The error message of a response (*ret_code its errno), or NULL for a result. */
static const char *resp_error(json_object *resp, int *ret_code)
{
        json_object *result;
        const char *msg = NULL;
        int r = vc_rpc_read_response(resp, &result, ret_code, &msg);

        if (r == 0)
                return NULL;
        if (r < 0) {
                *ret_code = EPROTO;
                return "invalid answer from the agent";
        }
        return msg;
}

static void agent_response(struct sup *s, struct vc_frame *f)
{
        struct pending *p = pending_take(s, f->id);
        json_object *resp = NULL, *result = NULL;
        const char *emsg = NULL;
        int code;

        if (p == NULL) {
                vc_log(VC_LOG_DEBUG, 0, "agent answered unknown request %u, ignoring", f->id);
                return;
        }
        if (p->kind == PEND_FORWARD) {
                /* a client's: its answer goes back as it came, under the client's id */
                if (p->c)
                        (void)sup_client_send(p->c, VC_FRAME_RESPONSE, 0, p->client_id, f->payload, f->len);
                pending_free(p);
                return;
        }
        resp = vc_rpc_parse(f->payload, f->len);
        switch (p->kind) {
        case PEND_BOOT:
                if (p->step != s->boot_step) {
                        break; /* a late answer to a probe */
                } else if (s->phase == PHASE_BOOT_AGENT) {
                        /* the plan's first call is the probe: an answer that is no result is retried */
                        if (resp == NULL || resp_error(resp, &code) ||
                            !json_object_object_get_ex(resp, "result", &result))
                                break;
                        s->agent_ms = (unsigned)(vc_now_ms() - s->start_ms);
                        vc_log(VC_LOG_INFO, 0, "agent answered after %u ms: %s", s->agent_ms,
                               json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
                        uv_timer_stop(&s->check_timer);
                        s->phase = PHASE_BOOT_SANDBOX;
                } else if (s->phase == PHASE_BOOT_SANDBOX) {
                        if (resp == NULL) {
                                boot_fail(s, EPROTO, "%s: invalid answer from the agent", boot_call(s));
                                break;
                        }
                        if ((emsg = resp_error(resp, &code))) {
                                boot_fail(s, code, "%s: %s", boot_call(s), emsg);
                                break;
                        }
                } else {
                        break; /* a late answer to a probe */
                }
                if (++s->boot_step < json_object_array_length(s->boot_plan)) {
                        int r = boot_send(s);
                        if (r < 0)
                                boot_fail(s, -r, "send %s: %s", boot_call(s), strerror(-r));
                } else if (sup_listen(s) == 0) {
                        s->up->boot_ready(s);
                }
                break;
        case PEND_DESTROY:
                if (resp && (emsg = resp_error(resp, &code)))
                        vc_log(VC_LOG_WARNING, 0, "destroy_sandbox: %s, ignoring", emsg);
                s->up->after_destroy(s, resp != NULL && emsg == NULL);
                break;
        case PEND_FORWARD:
                break;
        }
        json_object_put(resp);
        pending_free(p);
}

/* The process event: a handle the agent made, named before its answer and before any output. */
static void agent_process_event(struct sup *s, json_object *params)
{
        const char *cid = vc_rpc_get_string(params, "id"), *eid = vc_rpc_get_string(params, "exec_id");
        uint32_t h;
        struct proc *p;

        if (vc_rpc_get_handle(params, &h) < 0 || cid == NULL) {
                vc_log(VC_LOG_WARNING, 0, "agent sent an invalid process event, ignoring");
                return;
        }
        p = proc_get(s, h);
        if (p && p->id == NULL) {
                p->id = strdup(cid);
                p->exec_id = eid ? strdup(eid) : NULL;
        }
}

static void agent_event(struct sup *s, struct vc_frame *f)
{
        json_object *ev, *params = NULL;
        const char *name;

        if (f->len > SUP_EVENT_MAX) {
                note_dropped(s, 1, 0);
                return;
        }
        ev = vc_rpc_parse(f->payload, f->len);

        if (ev == NULL || vc_rpc_read_event(ev, &name, &params) < 0) {
                vc_log(VC_LOG_WARNING, 0, "agent sent an invalid event, ignoring");
                json_object_put(ev);
                return;
        }
        if (STREQ(name, VC_EVENT_EXIT)) {
                uint32_t h;
                int status = 255;
                struct proc *p = vc_rpc_get_handle(params, &h) == 0 ? proc_find(s, h) : NULL;
                (void)vc_rpc_get_status(params, &status);
                if (p && !p->exited)
                        proc_exited(s, p, status, f->payload, f->len);
                else if (p == NULL)
                        vc_log(VC_LOG_DEBUG, 0, "exit event for an unknown handle, ignoring");
        } else if (STREQ(name, VC_EVENT_PROCESS)) {
                agent_process_event(s, params);
        } else if (STREQ(name, VC_EVENT_CONTAINER_REMOVED)) {
                const char *cid = vc_rpc_get_string(params, "id");
                if (cid)
                        procs_forget(s, cid);
        } else {
                for (struct sup_client *c = s->clients.list; c; c = c->next)
                        (void)sup_client_send(c, VC_FRAME_EVENT, 0, 0, f->payload, f->len);
        }
        json_object_put(ev);
}

static void agent_data(struct sup *s, struct vc_frame *f)
{
        struct proc *p;
        if (f->id == 0 || f->stream == VC_STREAM_STDIN)
                return;
        /* handles are learnt from create_container/exec_process answers, which the agent sends before
         * the process can run: data for any other handle is dropped */
        p = proc_find(s, f->id);
        if (p)
                proc_deliver(s, p, VC_FRAME_DATA, f->stream, f->payload, f->len);
        else
                vc_log(VC_LOG_DEBUG, 0, "output for unknown handle %u, dropped", f->id);
}

static void fail_pending(struct sup *s, const char *why)
{
        while (s->pending) {
                struct pending *p = s->pending;
                s->pending = p->next;
                if (p->kind == PEND_FORWARD && p->c)
                        reply_error(p->c, p->client_id, EPIPE, "%s", why);
                else if (p->kind == PEND_DESTROY)
                        s->up->after_destroy(s, false);
                pending_free(p);
        }
}

/* The channel is gone (qemu exited, protocol error, or we are stopping). */
void sup_agent_closed(struct sup *s, const char *why)
{
        sup_chan_close(&s->chan);
        fail_pending(s, why);
}

static void chan_frame(struct sup_chan *ch, struct vc_frame *f)
{
        struct sup *s = ch->data;

        switch (f->type) {
        case VC_FRAME_RESPONSE:
                agent_response(s, f);
                break;
        case VC_FRAME_EVENT:
                agent_event(s, f);
                break;
        case VC_FRAME_DATA:
                agent_data(s, f);
                break;
        default:
                vc_log(VC_LOG_WARNING, 0, "agent sent a frame of type %u, ignoring", f->type);
        }
}

static void chan_ended(struct sup_chan *ch, int status)
{
        struct sup *s = ch->data;

        vc_log(s->phase >= PHASE_STOPPING ? VC_LOG_INFO : VC_LOG_WARNING, 0, "agent channel closed: %s",
               uv_strerror(status));
        sup_agent_closed(s, "the agent channel closed");
}

static void chan_protocol_error(struct sup_chan *ch)
{
        struct sup *s = ch->data;

        /* the guest is untrusted: a broken stream cannot be resynchronised, so the VM is stopped */
        vc_log(VC_LOG_ERROR, 0, "protocol error on the agent channel, stopping the VM");
        if (s->phase < PHASE_RUNNING) {
                /* the reason the launcher reports, not the children's deaths it causes */
                boot_fail(s, EPROTO, "protocol error on the agent channel");
                return;
        }
        sup_agent_closed(s, "protocol error on the agent channel");
        s->up->kill_children(s, SIGKILL);
}

static void chan_progress(struct sup_chan *ch)
{
        struct sup *s = ch->data;

        update_agent_reading(s);
        resume_clients(s);
}

static void chan_connected(struct sup_chan *ch, int status)
{
        struct sup *s = ch->data;
        if (s->phase >= PHASE_EXITING)
                return;
        if (status < 0) {
                boot_fail(s, -status, "connect to the agent socket '%s': %s", s->agent_path,
                          uv_strerror(status));
                return;
        }
        sup_agent_send_check(s);
}

int sup_agent_connect(struct sup *s)
{
        return sup_chan_connect(&s->chan, s->loop, s->agent_path);
}

/* --- clients --- */

static void drop_waiters(struct waiter **list, struct sup_client *c)
{
        for (struct waiter **ww = list; *ww;) {
                if ((*ww)->c == c) {
                        struct waiter *w = *ww;
                        *ww = w->next;
                        free(w);
                } else {
                        ww = &(*ww)->next;
                }
        }
}

/* clients.c's closing callback: c goes away, nothing may point at it any more. */
static void client_closing(struct sup_client *c)
{
        struct sup *s = owner(c);
        for (struct pending *p = s->pending; p; p = p->next)
                if (p->c == c)
                        p->c = NULL;
        for (struct proc *p = s->procs; p; p = p->next) {
                if (p->attached == c) {
                        p->attached = NULL;
                        p->orphaned = 1;
                }
                drop_waiters(&p->waiters, c);
        }
        drop_waiters(&s->shutdown_waiters, c);
        update_agent_reading(s);
}

/* The process whose handle is in field `field` of a sup.* request's params, or NULL once `method`'s error
 * (EINVAL, ENOENT) is answered. */
static struct proc *param_proc(struct sup_client *c, uint32_t id, json_object *params, const char *field,
                               const char *method)
{
        uint32_t h;
        struct proc *p;

        if (vc_rpc_get_handle_field(params, field, &h) < 0) {
                reply_error(c, id, EINVAL, "%s: '%s' must be a positive integer", method, field);
                return NULL;
        }
        p = proc_find(owner(c), h);
        if (p == NULL)
                reply_error(c, id, ENOENT, "%s: no process with handle %u", method, (unsigned)h);
        return p;
}

static void sup_status(struct sup_client *c, uint32_t id)
{
        struct sup *s = owner(c);
        json_object *r = json_object_new_object();
        json_object_object_add(r, "qemu_pid", json_object_new_int(s->qemu_child.pid));
        json_object_object_add(r, "virtiofsd_pid", json_object_new_int(s->vfsd_child.pid));
        json_object_object_add(r, "vm",
                               json_object_new_string(s->qemu_child.reaped ? "stopped" : s->vm_state));
        json_object_object_add(r, "accel", json_object_new_string(s->accel));
        reply_result(c, id, r);
}

struct qmp_call {
        struct sup *s;
        struct sup_client *c; /* checked against the live list on completion */
        uint32_t id;
};

static void sup_qmp_cb(vc_qmp_t *q, int status, json_object *ret, const char *msg, void *data)
{
        struct qmp_call *qc = data;
        if (sup_client_alive(&qc->s->clients, qc->c)) {
                if (status < 0)
                        reply_error(qc->c, qc->id, -status, "%s", msg ? msg : strerror(-status));
                else
                        reply_result(qc->c, qc->id, ret ? json_object_get(ret) : json_object_new_object());
        }
        free(qc);
}

/* What sup.qmp passes on: the QMP commands the runtime uses, with arguments a client cannot turn into a
 * host command (netdev_add's script/downscript/helper, an fd) or a new backend. Anything else is refused:
 * every client of sup.sock would otherwise hold a root-equivalent QMP monitor. */
static const char *qmp_refusal(const char *cmd, json_object *args)
{
        static const char *const plain[] = {"query-status", "stop", "cont", "netdev_del", "device_del"};
        const char *v;

        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                if (STREQ(cmd, plain[i]))
                        return NULL;
        if (STREQ(cmd, "netdev_add")) {
                if (args == NULL)
                        return "netdev_add needs arguments";
                json_object_object_foreach(args, k, val)
                {
                        if (STREQ(k, "type")) {
                                if (!json_object_is_type(val, json_type_string) ||
                                    !STREQ(json_object_get_string(val), "tap"))
                                        return "netdev_add: only type 'tap'";
                        } else if (STREQ(k, "script") || STREQ(k, "downscript")) {
                                v = json_object_is_type(val, json_type_string) ? json_object_get_string(val)
                                                                               : "";
                                if (!STREQ(v, "no"))
                                        return "netdev_add: script and downscript must be 'no'";
                        } else if (!STREQ(k, "id") && !STREQ(k, "ifname") && !STREQ(k, "vhost") &&
                                   !STREQ(k, "queues")) {
                                return "netdev_add: argument not allowed";
                        }
                }
                return NULL;
        }
        if (STREQ(cmd, "device_add")) {
                json_object *drv;
                if (args == NULL || !json_object_object_get_ex(args, "driver", &drv) ||
                    !json_object_is_type(drv, json_type_string) ||
                    !STREQ(json_object_get_string(drv), "virtio-net-pci"))
                        return "device_add: only driver 'virtio-net-pci'";
                return NULL;
        }
        return "command not allowed";
}

static void sup_qmp(struct sup_client *c, uint32_t id, json_object *params)
{
        struct sup *s = owner(c);
        json_object *exec, *args = NULL;
        struct qmp_call *qc;
        int r;

        if (!params || !json_object_object_get_ex(params, "execute", &exec) ||
            !json_object_is_type(exec, json_type_string)) {
                reply_error(c, id, EINVAL, "sup.qmp: 'execute' must be a string");
                return;
        }
        if (json_object_object_get_ex(params, "arguments", &args) &&
            !json_object_is_type(args, json_type_object)) {
                reply_error(c, id, EINVAL, "sup.qmp: 'arguments' must be an object");
                return;
        }
        const char *why = qmp_refusal(json_object_get_string(exec), args);
        if (why) {
                reply_error(c, id, EPERM, "sup.qmp: '%.64s': %s", json_object_get_string(exec), why);
                return;
        }
        if (!s->qmp || !vc_qmp_is_open(s->qmp)) {
                reply_error(c, id, EPIPE, "sup.qmp: the QMP monitor is not connected");
                return;
        }
        qc = calloc(1, sizeof *qc);
        if (qc == NULL) {
                reply_error(c, id, ENOMEM, "sup.qmp");
                return;
        }
        qc->s = s;
        qc->c = c;
        qc->id = id;
        r = vc_qmp_execute_async(s->qmp, json_object_get_string(exec), args ? json_object_get(args) : NULL,
                                 10000, sup_qmp_cb, qc);
        if (r < 0) {
                free(qc);
                reply_error(c, id, -r, "sup.qmp: %s", strerror(-r));
        }
}

static void sup_attach(struct sup_client *c, uint32_t id, json_object *params)
{
        struct sup *s = owner(c);
        struct proc *p = param_proc(c, id, params, "handle", VC_SUP_ATTACH);

        if (p == NULL)
                return;
        if (p->attached && p->attached != c) {
                reply_error(c, id, EBUSY, "sup.attach: handle %u is attached to another connection",
                            p->handle);
                return;
        }
        p->attached = c;
        reply_result(c, id, NULL);
        /* what was buffered goes first, in order */
        while (p->head) {
                struct chunk *k = p->head;
                p->head = k->next;
                (void)sup_client_send(c, k->type, k->stream, k->id, k->bytes, k->len);
                p->buffered -= VC_FRAME_HEADER + k->len;
                free(k);
        }
        p->tail = NULL;
        update_agent_reading(s);
}

static void sup_wait(struct sup_client *c, uint32_t id, json_object *params)
{
        struct proc *p = param_proc(c, id, params, "handle", VC_SUP_WAIT);

        if (p == NULL)
                return;
        if (p->exited) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "status", json_object_new_int(p->status));
                reply_result(c, id, r);
                return;
        }
        struct waiter *w = calloc(1, sizeof *w);
        if (w == NULL) {
                reply_error(c, id, ENOMEM, "sup.wait");
                return;
        }
        w->c = c;
        w->id = id;
        w->next = p->waiters;
        p->waiters = w;
}

void sup_answer_shutdown(struct sup *s)
{
        while (s->shutdown_waiters) {
                struct waiter *w = s->shutdown_waiters;
                s->shutdown_waiters = w->next;
                reply_result(w->c, w->id, NULL);
                free(w);
        }
}

void sup_begin_shutdown(struct sup *s, struct sup_client *c, uint32_t id, unsigned timeout_ms)
{
        if (c) {
                struct waiter *w = calloc(1, sizeof *w);
                if (w == NULL) {
                        reply_error(c, id, ENOMEM, "sup.shutdown");
                        return;
                }
                w->c = c;
                w->id = id;
                w->next = s->shutdown_waiters;
                s->shutdown_waiters = w;
        }
        if (s->phase != PHASE_RUNNING)
                return; /* already stopping: answered with the first one */
        vc_log(VC_LOG_INFO, 0, "shutting down (timeout %u ms)", timeout_ms);
        s->phase = PHASE_STOPPING;
        s->up->arm_stop_timer(s, timeout_ms);
        if (agent_request(s, PEND_DESTROY, VC_AGENT_DESTROY_SANDBOX, NULL) < 0)
                s->up->after_destroy(s, false);
}

/* sup.shutdown {"after"?: handle}: with "after", answered at once, and the shutdown begins when that
 * process exits (at once if it has): a caller that killed a sandbox's first process need not wait for its
 * end nor for the VM's. */
static void sup_shutdown(struct sup_client *c, uint32_t id, json_object *params, unsigned ms)
{
        struct sup *s = owner(c);
        struct proc *p;

        if (!params || !json_object_object_get_ex(params, "after", NULL)) {
                sup_begin_shutdown(s, c, id, ms);
                return;
        }
        p = param_proc(c, id, params, "after", VC_SUP_SHUTDOWN);
        if (p == NULL)
                return;
        reply_result(c, id, NULL);
        if (p->exited) {
                sup_begin_shutdown(s, NULL, 0, ms);
        } else if (s->phase == PHASE_RUNNING) {
                s->stop_after = p->handle;
                s->stop_after_ms = ms;
        }
}

static void client_request(struct sup_client *c, struct vc_frame *f)
{
        struct sup *s = owner(c);
        json_object *req = vc_rpc_parse(f->payload, f->len), *params = NULL;
        const char *method;
        char why[128];

        if (req == NULL || !json_object_is_type(req, json_type_object)) {
                reply_error(c, f->id, EINVAL, "request is not a JSON object");
                goto out;
        }
        if (vc_rpc_read_request(req, &method, &params, why, sizeof why) < 0) {
                reply_error(c, f->id, EINVAL, "%s", why);
                goto out;
        }
        if (STREQ(method, VC_SUP_STATUS)) {
                sup_status(c, f->id);
        } else if (STREQ(method, VC_SUP_QMP)) {
                sup_qmp(c, f->id, params);
        } else if (STREQ(method, VC_SUP_ATTACH)) {
                sup_attach(c, f->id, params);
        } else if (STREQ(method, VC_SUP_WAIT)) {
                sup_wait(c, f->id, params);
        } else if (STREQ(method, VC_SUP_SHUTDOWN)) {
                json_object *t;
                unsigned ms = 10000;
                if (params && json_object_object_get_ex(params, "timeout", &t)) {
                        if (!(json_object_is_type(t, json_type_int) ||
                              json_object_is_type(t, json_type_double)) ||
                            json_object_get_double(t) < 0 || json_object_get_double(t) > 3600) {
                                reply_error(c, f->id, EINVAL,
                                            "sup.shutdown: 'timeout' must be 0..3600 seconds");
                                goto out;
                        }
                        ms = (unsigned)(json_object_get_double(t) * 1000);
                }
                sup_shutdown(c, f->id, params, ms);
        } else if (strncmp(method, VC_SUP_PREFIX, strlen(VC_SUP_PREFIX)) == 0) {
                reply_error(c, f->id, ENOSYS, "unknown supervisor method '%s'", method);
        } else if (STREQ(method, VC_AGENT_CREATE_SANDBOX) || STREQ(method, VC_AGENT_DESTROY_SANDBOX)) {
                reply_error(c, f->id, EPERM, "'%s' is the supervisor's (use sup.shutdown)", method);
        } else if (s->phase != PHASE_RUNNING || !s->chan.connected) {
                reply_error(c, f->id, ESHUTDOWN, "the sandbox is stopping");
        } else {
                /* forwarded as it came: only the frame's id changes */
                int r = agent_send_request(s, PEND_FORWARD, f->payload, f->len, c, f->id);
                if (r < 0)
                        reply_error(c, f->id, -r, "forward '%s' to the agent: %s", method, strerror(-r));
        }
out:
        json_object_put(req);
}

static void client_data(struct sup_client *c, struct vc_frame *f)
{
        struct sup *s = owner(c);
        struct proc *p = proc_find(s, f->id);
        if (f->stream != VC_STREAM_STDIN || p == NULL || p->attached != c) {
                vc_log(VC_LOG_DEBUG, 0, "client data for handle %u it is not attached to, dropped", f->id);
                return;
        }
        if (sup_chan_send(&s->chan, VC_FRAME_DATA, VC_STREAM_STDIN, f->id, f->payload, f->len) < 0)
                return;
        if (agent_queue_full(s))
                sup_client_pause(c, true);
}

static void client_frame(struct sup_client *c, struct vc_frame *f)
{
        if (f->type == VC_FRAME_REQUEST)
                client_request(c, f);
        else if (f->type == VC_FRAME_DATA)
                client_data(c, f);
        else
                vc_log(VC_LOG_DEBUG, 0, "client %s sent a frame of type %u, ignoring", c->name, f->type);
}

static void client_progress(struct sup_client *c)
{
        update_agent_reading(owner(c));
}

int sup_listen(struct sup *s)
{
        int r;

        if (strlen(s->sock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                boot_fail(s, ENAMETOOLONG, "socket path '%s' is too long", s->sock_path);
                return -ENAMETOOLONG;
        }
        r = sup_clients_listen(&s->clients, s->sock_path);
        if (r < 0) {
                boot_fail(s, -r, "listen on '%s': %s", s->sock_path, uv_strerror(r));
                return r;
        }
        return 0;
}

void sup_stop_listening(struct sup *s)
{
        sup_clients_stop_listening(&s->clients, s->sock_path);
}

/* qemu died on its own: answer everything, tell every client, and exit. */
void sup_vm_died(struct sup *s)
{
        vc_log(VC_LOG_ERROR, 0, "the VM exited unexpectedly");
        sup_agent_closed(s, "the VM exited");
        for (struct proc *p = s->procs; p; p = p->next)
                if (!p->exited) {
                        json_object *ev = exit_event(p, 255);
                        size_t len = 0;
                        const char *txt = ev ? vc_rpc_text(ev, &len) : NULL;
                        proc_exited(s, p, 255, txt ? txt : "", len);
                        json_object_put(ev);
                }
        send_event_all(s, VC_EVENT_VM_EXIT, NULL);
        s->up->terminate(s, 2);
}

/* Flush what was written to every client, then close them. */
void sup_flush_clients(struct sup *s)
{
        sup_clients_flush(&s->clients);
}

/* Clients that do not read their last frames are not waited for any longer. */
void sup_abort_clients(struct sup *s)
{
        sup_clients_abort(&s->clients);
}

static const struct sup_chan_ops chan_ops = {
    .connected = chan_connected,
    .frame = chan_frame,
    .ended = chan_ended,
    .protocol_error = chan_protocol_error,
    .progress = chan_progress,
};

static const struct sup_clients_ops clients_ops = {
    .frame = client_frame,
    .closing = client_closing,
    .progress = client_progress,
};

void sup_router_init(struct sup *s)
{
        sup_chan_init(&s->chan, &chan_ops, s);
        sup_clients_init(&s->clients, s->loop, &clients_ops, s);
}

void sup_free_state(struct sup *s)
{
        while (s->procs) {
                struct proc *p = s->procs;
                s->procs = p->next;
                proc_free(p);
        }
        while (s->pending) {
                struct pending *p = s->pending;
                s->pending = p->next;
                pending_free(p);
        }
        while (s->shutdown_waiters) {
                struct waiter *w = s->shutdown_waiters;
                s->shutdown_waiters = w->next;
                free(w);
        }
        sup_chan_free(&s->chan);
}
