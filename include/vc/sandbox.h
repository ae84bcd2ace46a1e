/* Sandboxes from the host side: launching the per-sandbox supervisor (which owns qemu and virtiofsd)
 * and a blocking client of its socket for the short-lived runtime commands. */
#ifndef VC_SANDBOX_H
#define VC_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vc/error.h"

struct json_object;
struct vc_qemu_nic; /* vc/hypervisor.h */

struct vc_sandbox_config {
        /* The configuration layer (kata.config) supplies every value; this only checks them. */
        const char *id;                 /* required: a container id (vc_id_validate) */
        const char *dir;                /* required: sandbox directory (created when missing), absolute */
        const char *qemu;               /* required: a path, or a name searched in $PATH */
        const char *kernel;             /* required */
        const char *initrd;             /* required */
        const char *kernel_params;      /* appended to the kernel command line; may be NULL */
        const char *firmware;           /* the VM's firmware image; NULL or "": QEMU's own */
        unsigned vcpus;                 /* required: 1..255 */
        unsigned memory_mib;            /* required: 64..1048576 */
        unsigned tcg_cache_mib;         /* required: TCG's translation cache, 1..2048 */
        const char *accel;              /* "auto" (or NULL), "kvm", "tcg" */
        const char *share_dir;          /* shared with the guest over virtio-fs; NULL: <dir>/shared */
        const char *virtiofsd;          /* required: a path, or a name searched in $PATH */
        const char *netns;              /* path of a network namespace for qemu, or NULL */
        const struct vc_qemu_nic *nics; /* virtio-net devices on taps in netns at boot (vc/net.h) */
        size_t n_nics;
        unsigned hotplug_ports; /* PCIe root ports kept free for interfaces added later, 0..8 */
        const char *supervisor; /* kata-supervisor; NULL: beside this executable, else the build dir */
        int debug;              /* debug logging in the supervisor, no "quiet" on the guest, and a failed
                                   launch keeps the sandbox dir it created (for its logs) */
        unsigned boot_timeout;  /* required: seconds until the agent must have answered, 1..3600 */
        /* The boot plan: a JSON array of the agent calls the supervisor makes once qemu runs, in order,
         * each {"call": method, "params"?: {...}}; the first is repeated until the agent answers it.
         * Borrowed. Required: the runtime's standard plan is kata.pod's (lua/kata/pod.lua). */
        struct json_object *boot_plan;
        /* The shutdown plan: seconds the agent and qemu get together when the supervisor stops on its own
         * (SIGTERM; sup.shutdown names its own), and of those, how long destroy_sandbox may take before
         * qemu is asked to quit. Required: 0 < destroy_timeout <= shutdown_timeout <= 3600. */
        double shutdown_timeout, destroy_timeout;
        /* VM templates (docs/factory.md). template_save: boot the template shape with its RAM in
         * template_memory (created), wait for the agent (the boot plan), save the device state to
         * template_state, report ready and stop. Otherwise, with template_memory given: a clone, started
         * from a private copy of that RAM file and the saved state, with the file system and the NICs
         * hot-plugged after the restore. Both paths absolute, of [A-Za-z0-9/._-] only. */
        const char *template_memory;
        const char *template_state;
        int template_save;
        /* the template's file system: 0 virtio-fs (hot-plugged into a clone whose RAM is a private copy),
         * 1 virtio-9p (a device of the template; a clone maps the template's RAM copy-on-write) */
        int template_9p;
};

struct vc_sandbox_info {
        pid_t pid; /* the supervisor */
        pid_t qemu_pid;
        pid_t virtiofsd_pid;
        char *socket;      /* <dir>/sup.sock */
        char accel[8];     /* "kvm" or "tcg" */
        unsigned boot_ms;  /* launch to sandbox ready: the agent answered and the boot plan is done */
        unsigned agent_ms; /* launch to the agent's first answer (the boot plan's probe) */
};
void vc_sandbox_info_clear(struct vc_sandbox_info *info);

/* Start the supervisor for cfg and wait until the agent in the guest answered and the sandbox was created,
 * up to cfg->boot_timeout. On failure everything started is killed and the error is the supervisor's
 * one-line reason ("qemu exited: ...", "agent did not answer within 30 s"). */
int vc_sandbox_launch(const struct vc_sandbox_config *cfg, struct vc_sandbox_info *ret, vc_error_t *err);

/* The supervisor's config file <dir>/supervisor.json, written by the launcher: cfg with defaults filled
 * in and accel resolved. Exposed for the supervisor (the reader) and tests. */
int vc_sandbox_config_to_json(const struct vc_sandbox_config *cfg, struct json_object **ret, vc_error_t *err);

/* Remove a sandbox directory after its supervisor is gone: the files the launcher and the supervisor
 * write there (config, logs, sockets), the empty share directory, then the directory. Anything else in
 * it is left and named in the error (ENOTEMPTY); a missing directory is fine. */
int vc_sandbox_remove_dir(const char *dir, vc_error_t *err);

/* Blocking client of a supervisor socket (one request at a time). */
typedef struct vc_sandbox_client vc_sandbox_client_t;

/* Connect; while the socket is missing or refuses, retry until timeout_ms (0: one attempt). */
int vc_sandbox_connect(const char *socket_path, int timeout_ms, vc_sandbox_client_t **ret, vc_error_t *err);
/* NULL-safe; returns NULL. */
vc_sandbox_client_t *vc_sandbox_client_free(vc_sandbox_client_t *c);
const char *vc_sandbox_client_socket(const vc_sandbox_client_t *c);

/* Send {"method": method, "params": params} (params borrowed, NULL: none) and wait up to timeout_ms (< 0:
 * forever) for the answer. *ret_result (may be NULL) gets the result object (the caller's to put). An
 * error answer returns the negative errno named by its code, with its message. Events and data frames
 * that arrive meanwhile are queued for vc_sandbox_read(). -EPIPE when the supervisor went away. The typed
 * calls of vc/agent.h are built on this. */
int vc_sandbox_call(vc_sandbox_client_t *c, const char *method, struct json_object *params, int timeout_ms,
                    struct json_object **ret_result, vc_error_t *err);

/* An event or a data frame received on the connection (after sup.attach). */
struct vc_sandbox_msg {
        int type;        /* 3 (VC_FRAME_EVENT): data is the event's JSON text; 4 (VC_FRAME_DATA): raw bytes */
        uint32_t handle; /* data frames: the process handle */
        int stream;      /* data frames: 1 stdout, 2 stderr */
        char *data;      /* malloc'd, NUL-terminated for convenience */
        size_t len;
};
void vc_sandbox_msg_clear(struct vc_sandbox_msg *m);
/* Next queued or incoming event/data frame, waiting up to timeout_ms (< 0: forever): 0 on success,
 * -ETIMEDOUT, -EPIPE when the connection closed. */
int vc_sandbox_read(vc_sandbox_client_t *c, int timeout_ms, struct vc_sandbox_msg *ret, vc_error_t *err);
/* Send stdin bytes to an attached process; len 0 closes its stdin. */
int vc_sandbox_write(vc_sandbox_client_t *c, uint32_t handle, const void *data, size_t len, vc_error_t *err);

#endif
