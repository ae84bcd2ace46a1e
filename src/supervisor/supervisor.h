/* kata-supervisor: one per sandbox. Owns qemu and virtiofsd, talks QMP, owns the agent channel and
 * multiplexes it for the runtime's commands and the container shims (docs/agent-protocol.md). */
#ifndef VC_SUPERVISOR_H
#define VC_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>
#include <json-c/json.h>

#include "channel.h"
#include "clients.h"
#include "frame.h"
#include "vc/qmp.h"

/* The bounds on what the guest can make the supervisor hold (the guest is untrusted; see clients.h for
 * the per-client ones). */

/* Output kept per process handle before a client attaches; past this the agent channel is not read until
 * the buffer drains (backpressure rather than loss). 4 MiB: as much as a client may have queued. */
#define SUP_BUFFER_LIMIT (4u * 1024 * 1024)
/* All of it together -- every handle's buffer and every client's queue: past this the agent channel is
 * not read either, so that many handles or clients each under their own bound cannot add up. The
 * channel is read again when the total and each part are under half their bound. */
#define SUP_QUEUED_HIGH (16u * 1024 * 1024)
/* The largest event from the guest the supervisor passes on (events are JSON: an exit is ~100 bytes); a
 * bigger one is dropped with a log line, the channel stays up. Frames themselves are bounded by
 * VC_FRAME_MAX, past which the stream is broken and the VM is stopped. */
#define SUP_EVENT_MAX (64u * 1024)
/* At most one log line per this long about dropped events or output, with the count. */
#define SUP_DROP_LOG_MS 5000u

enum sup_phase {
        PHASE_BOOT_VFSD,    /* virtiofsd started, waiting for its socket */
        PHASE_BOOT_QEMU,    /* qemu started, waiting for its sockets */
        PHASE_BOOT_RESTORE, /* a clone: restoring the template's state, hot-plugging its devices */
        PHASE_BOOT_AGENT,   /* sending the boot plan's first call until the agent answers */
        PHASE_BOOT_SANDBOX, /* the rest of the boot plan, one call after another */
        PHASE_RUNNING,
        PHASE_STOPPING, /* sup.shutdown or SIGTERM in progress */
        PHASE_EXITING,  /* children being killed and reaped, clients flushed */
};

struct sup_up;

/* A frame kept for a process until a client attaches. */
struct chunk {
        struct chunk *next;
        uint8_t type, stream;
        uint32_t id;
        size_t len; /* of the payload */
        uint8_t bytes[];
};

/* A request waiting for something: sup.wait on a process, or sup.shutdown. */
struct waiter {
        struct waiter *next;
        struct sup_client *c;
        uint32_t id;
};

struct proc {
        struct proc *next;
        uint32_t handle;
        char *id;
        char *exec_id;
        int exited;
        int status;
        struct sup_client *attached;
        int orphaned;              /* its attached client went away: later output is dropped, not buffered */
        struct chunk *head, *tail; /* output (and the exit event) nobody has attached for yet */
        size_t buffered;
        struct waiter *waiters;
};

enum pending_kind { PEND_FORWARD, PEND_BOOT, PEND_DESTROY };

/* An agent request in flight: our id on the channel and whom to answer. */
struct pending {
        struct pending *next;
        enum pending_kind kind;
        uint32_t agent_id;
        struct sup_client *c; /* NULL once the client went away */
        uint32_t client_id;
        size_t step; /* PEND_BOOT: which call of the boot plan */
};

struct child {
        const char *name; /* "qemu", "virtiofsd" */
        pid_t pid;
        int reaped;
        int status;
        uv_pipe_t err; /* its stderr */
        int err_open;
        char line[1024]; /* partial line being assembled */
        size_t line_len;
        char last[512]; /* last complete non-empty line */
};

struct sup {
        const struct sup_up *up; /* set by main.c: see struct sup_up */
        uv_loop_t *loop;
        /* config */
        char *id, *dir, *qemu, *kernel, *initrd, *firmware, *kernel_params, *accel, *share_dir, *virtiofsd,
            *netns;
        unsigned vcpus, memory_mib, tcg_cache_mib, boot_timeout, hotplug_ports;
        json_object *nics; /* [{tap, mac}] from the config, checked when qemu's argv is built */
        int debug;
        /* paths */
        char *sock_path, *qmp_path, *agent_path, *vfsd_path;
        int ready_fd;
        uint64_t start_ms;
        enum sup_phase phase;
        int exit_code;
        int share_mounted;

        struct child qemu_child, vfsd_child;
        uv_signal_t sig_chld, sig_term, sig_int;
        uv_timer_t boot_timer, poll_timer, check_timer, stop_timer, final_timer;
        unsigned poll_count;
        vc_qmp_t *qmp;
        const char *vm_state; /* "running" / "stopped" from QMP events */

        /* the agent channel (channel.c) and the clients of sup.sock (clients.c), both driven by router.c */
        struct sup_chan chan;
        uint32_t next_agent_id;
        struct pending *pending;
        uint64_t dropped_events, dropped_bytes; /* since the last log line about them */
        uint64_t drop_logged_ms;
        struct sup_clients clients;
        struct proc *procs;
        struct waiter *shutdown_waiters;
        unsigned agent_ms;      /* start to the agent's first answer */
        uint32_t stop_after;    /* sup.shutdown {"after"}: shut down once this handle's process exits */
        unsigned stop_after_ms; /* ... with this timeout */
        unsigned stop_timeout_ms;
        /* The launch configuration's plans (supervisor.json): the agent calls of the boot, in order, each
         * {"call": method, "params"?: {...}} (the first is repeated until the agent answers it), and the
         * shutdown's grace periods. */
        json_object *boot_plan;
        size_t boot_step;
        unsigned shutdown_timeout_ms; /* agent and qemu together, when the supervisor itself stops */
        unsigned destroy_timeout_ms;  /* of that, for the agent's destroy_sandbox before QMP quit */
        int quit_sent;
        int finished;

        /* VM templates (template.c): the template's RAM file and saved state; tmpl_save: this VM becomes
         * the template, else it is a clone of it, its RAM a private copy (clone_fd) */
        char *tmpl_memory, *tmpl_state;
        int tmpl_save;
        int tmpl_9p; /* the share is virtio-9p, served by qemu: no virtiofsd, no RAM copy */
        int clone_fd;
        char *clone_mem_path; /* /proc/<pid>/fd/<clone_fd>, what qemu opens */
        int clone_copy;       /* the copy into it, in a worker thread: 1 running, 0 done, -errno failed */
        struct sup_template_op *tmpl_op;
};

/* router.c: what the clients ask and what the agent says, over the channel (channel.c) and the clients'
 * connections (clients.c), which report to it only through the callbacks it registers. */
void sup_router_init(struct sup *s);
int sup_agent_connect(struct sup *s);
void sup_agent_send_check(struct sup *s);
int sup_listen(struct sup *s);
void sup_stop_listening(struct sup *s);
void sup_agent_closed(struct sup *s, const char *why);
void sup_vm_died(struct sup *s);
void sup_begin_shutdown(struct sup *s, struct sup_client *c, uint32_t id, unsigned timeout_ms);
void sup_flush_clients(struct sup *s);
void sup_abort_clients(struct sup *s);
void sup_free_state(struct sup *s);
void sup_answer_shutdown(struct sup *s);

/* template.c, called by main.c (the VM owner). Each operation runs a chain of QMP commands and calls
 * done(s, 0, NULL) or done(s, -errno, "one-line reason") once, unless the supervisor exits first. */
typedef void (*sup_template_done)(struct sup *s, int r, const char *msg);
/* A clone's RAM: a private, unnamed copy of the template's file (s->clone_fd, s->clone_mem_path), made
 * in a worker thread while qemu starts; the restore's migrate-incoming waits for it. */
int sup_clone_memory(struct sup *s, char **ret_msg);
/* The template is booted and its agent answered: stop it and save its device state to s->tmpl_state. */
void sup_template_save(struct sup *s, sup_template_done done);
/* A clone's qemu waits for its state: load it, resume, hot-plug the file system (vhost-user-fs on vc-fs)
 * and the configured NICs (on vc-np<i>), and put the agent's restore call (clock, entropy) in the boot
 * plan after its probe. */
void sup_clone_restore(struct sup *s, sup_template_done done);
/* Release what the operations hold (at exit). */
void sup_template_free(struct sup *s);

/* The calls go one way, down: main.c (the VM owner: qemu, virtiofsd, QMP, the boot and the shutdown) calls
 * router.c, which calls channel.c (the agent channel) and clients.c (the connections of sup.sock). Each
 * reports up only through callbacks its owner registers: channel.c and clients.c through their ops,
 * router.c through these, which main.c sets in s->up. The test c.calls_supervisor checks that no file
 * calls a file above it. */
struct sup_up {
        void (*boot_ready)(struct sup *s);                           /* the boot plan is done */
        void (*boot_fail)(struct sup *s, int code, const char *msg); /* the boot cannot go on */
        void (*terminate)(struct sup *s, int exit_code);             /* stop everything and exit */
        void (*kill_children)(struct sup *s, int sig);               /* qemu and virtiofsd */
        void (*after_destroy)(struct sup *s, bool agent_done);       /* destroy_sandbox answered (or not) */
        void (*arm_stop_timer)(struct sup *s, unsigned ms);          /* a shutdown began with this grace */
        bool (*vfsd_listening)(struct sup *s); /* virtiofsd takes connections on its socket */
};

#endif
