/* kata-agent: PID 1 of the guest. It serves the agent protocol (docs/agent-protocol.md) on a
 * virtio-serial port with a single-threaded poll() loop, creates containers (namespaces, mounts,
 * pivot_root, user), runs and signals their processes, and streams their stdio. */
#ifndef KATA_AGENT_H
#define KATA_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "base.h"
#include "buf.h"
#include "frame.h"
#include "oci_rules.h"
#include "rpc.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_PROTOCOL 1
#define AGENT_PORT_NAME "agent.channel.0"
#define AGENT_SHARED_DIR "/run/kata-containers/shared"
#define AGENT_CGROUP_ROOT "/sys/fs/cgroup"

/* Bounds on what the host may ask for. */
#define AGENT_ID_MAX 1024
#define AGENT_MAX_ARGS VC_PROCESS_MAX_ARGS /* oci_rules.h: the runtime checks these too */
#define AGENT_MAX_ENV VC_PROCESS_MAX_ENV
#define AGENT_MAX_MOUNTS VC_SPEC_MAX_MOUNTS
#define AGENT_MAX_GROUPS VC_PROCESS_MAX_GROUPS
#define AGENT_MAX_STR VC_PROCESS_MAX_STR
/* A process whose data frames waiting for the port exceed this is not read any more until they drain. */
#define AGENT_OUT_CAP (1024u * 1024u)
/* A process whose stdin backlog exceeds this stops the agent reading the port until it drains, for at
 * most AGENT_STDIN_STALL_MS without progress: after that, its further input is dropped so that the
 * host's other requests (a signal for that very process, say) get through. */
#define AGENT_STDIN_CAP (1024u * 1024u)
#define AGENT_STDIN_STALL_MS 10000
/* A process's stdout and stderr pipes hold this much, and the agent reads what one holds at once. Under
 * TCG each switch between the writing process and the agent costs the guest a flush of QEMU's TLB: with
 * Linux's default 64 KiB pipes and 32 KiB reads, `exec dd` of 256 MiB to a host reader ran at 73 MiB/s,
 * with 256 KiB pipes and reads at 144 MiB/s (docs/supervisor.md). The pages are the pipe's only while
 * output waits in it. */
#define AGENT_PIPE_SIZE (256u * 1024u)
/* Bytes read from a process's stdout/stderr at once: with its header, one data frame is 8 times what the
 * guest's virtio_console takes in one write (32 KiB), so a frame leaves in whole virtqueue buffers -- and
 * qemu makes whole socket writes of them -- with no 12-byte buffer between frames. */
#define AGENT_STDIO_READ (AGENT_PIPE_SIZE - VC_FRAME_HEADER)
/* Readahead of the virtio-fs share (containers' root filesystems): FUSE takes requests of up to 1 MiB
 * from virtiofsd, but Linux reads ahead 128 KiB at a time, so `exec` of a 2 MiB busybox made 16 READs;
 * with 1 MiB it makes 4, and a virtio-fs clone's `start` to exit took about 30 ms less under TCG
 * (docs/factory.md). */
#define AGENT_SHARE_READAHEAD_KB 1024u
/* After a process exits, its output is read until EOF or until this long passes with no output. */
#define AGENT_EOF_GRACE_MS 2000

/* ---- small helpers (util.c); the clock, mkdir -p, small files and the id rule are src/common's ---- */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool agent_debug_on;
/* Power off once the host side has been gone this long (kernel parameter agent.hangup_timeout=, 0: never). */
extern int agent_hangup_timeout_s;
/* RLIMIT_NOFILE as the kernel gave it to init: the agent raises its own, processes start from this. */
extern struct rlimit agent_nofile_default;
static inline uint64_t agent_now_ms(void)
{
        return (uint64_t)vc_now_ms();
}
static inline bool agent_id_valid(const char *s)
{
        return vc_id_ok(s, AGENT_ID_MAX);
}
void close_fd(int *fd); /* close *fd if open, then -1 */
/* Format a spec problem into err[errlen] and return -EINVAL (the parsers' one way to refuse a field). */
int spec_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void set_nonblock(int fd);
void sleep_ms(long ms);

/* ---- process.capabilities (caps.c) ---- */
struct caps {
        uint64_t bounding, effective, inheritable, permitted, ambient;
};
/* Read the five sets (all empty without the object, as in runc); names the agent or the kernel does not know
 * are logged and skipped, as runc does. */
int caps_parse(struct caps *c, json_object *o, char *err, size_t errlen);
int caps_from_name(const char *name);
int caps_last_cap(void);
/* In the child: the bounding set before the uid changes; the other four after it. -errno on failure. */
int caps_drop_bounding(const struct caps *c);
int caps_apply(const struct caps *c);

/* ---- linux.seccomp (seccomp.c): compiled when the container is created, loaded by the child ---- */
struct agent_seccomp;
/* NULL in *out when o is NULL. -EINVAL with the field named in err for what the guest cannot honour. */
int agent_seccomp_parse(json_object *o, struct agent_seccomp **out, char *err, size_t errlen);
struct agent_seccomp *agent_seccomp_dup(const struct agent_seccomp *f);
void agent_seccomp_free(struct agent_seccomp *f);
int agent_seccomp_load(const struct agent_seccomp *f);

/* ---- what a process is started with, parsed from OCI JSON before forking (spec.c) ---- */
struct mount_spec {
        char *source, *destination, *type, *data;
        unsigned long flags, propagation;
        bool bind, minimal_dev, cgroup;
        bool copyup; /* tmpcopyup: the tmpfs starts with what was in the directory it covers */
};

struct device_spec { /* one of linux.devices */
        char *path;
        mode_t type; /* S_IFCHR, S_IFBLK, S_IFIFO */
        unsigned major, minor;
        mode_t mode;
        uid_t uid;
        gid_t gid;
};

struct spawn {
        char **argv; /* NULL-terminated */
        char **env;  /* NULL-terminated */
        char *cwd;
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        size_t ngroups;
        bool terminal;
        unsigned short rows, cols;
        bool no_new_privs;
        struct caps caps;
        bool oom_score_adj_set;
        int oom_score_adj;
        struct agent_seccomp *seccomp; /* the container's filter, for its init and every exec */
        struct {
                int resource;
                const char *name; /* "RLIMIT_NOFILE", for messages */
                struct rlimit lim;
        } rlimits[RLIM_NLIMITS];
        size_t nrlimits;
        /* create_container only */
        char *rootfs; /* absolute guest path */
        bool rootfs_readonly;
        char *hostname;
        bool ns_pid, ns_uts, ns_ipc, ns_cgroup;
        unsigned long rootfs_propagation; /* linux.rootfsPropagation, 0: the root stays private */
        struct mount_spec *mounts;
        size_t nmounts;
        char **masked, **readonly;
        size_t nmasked, nreadonly;
        struct device_spec *devices;
        size_t ndevices;
        char **sysctl; /* pairs: the path under /proc/sys, the value */
        size_t nsysctl;
        /* exec_process only: fds of the container init's namespaces and root, opened by the agent */
        int ns_fd_mnt, ns_fd_uts, ns_fd_ipc, ns_fd_cgroup, root_fd;
        /* set by the agent before forking: the container cgroup the process joins */
        char *cgroup_dir;
};

void spawn_free(struct spawn *s);
/* Fill s from an OCI process object (args, env, cwd, user, terminal, consoleSize, rlimits,
 * noNewPrivileges). On failure returns -EINVAL with a message in err[errlen]. */
int spawn_parse_process(struct spawn *s, json_object *process, char *err, size_t errlen);
/* Fill the container parts of s from an OCI config.json object and the rootfs path. */
int spawn_parse_spec(struct spawn *s, json_object *spec, const char *rootfs, char *err, size_t errlen);

/* ---- linux.sysctl (sysctl.c) ---- */
/* Validate as runc does (only parameters of namespaces the container owns) into s->sysctl; needs
 * s->ns_ipc and s->ns_uts already read. */
int sysctl_parse(struct spawn *s, json_object *o, bool ns_net, char *err, size_t errlen);
/* In the child, inside its new namespaces; on failure *failed names the parameter. */
int sysctl_apply(const struct spawn *s, const char **failed);

/* ---- linux.devices and the device cgroup (devices.c) ---- */
int devices_parse(struct spawn *s, json_object *a, char *err, size_t errlen);
void devices_free(struct spawn *s);
/* In the child, in the container's root before pivot_root; *failed names the device on failure. */
int devices_create(int rootfd, const struct spawn *s, const char **failed);
/* linux.resources.devices (plus runc's always-allowed devices and s's own) as a BPF program on the cgroup. */
int devices_cgroup_apply(const char *cgroup_dir, json_object *res, const struct spawn *s, char *err,
                         size_t errlen);
/* child.c: make path (and its parents) inside rootfd; an O_PATH fd of it. */
int mkpath_in_root(int rootfd, const char *path, bool file);

/* ---- linux.resources (resources.c) ---- */
/* Apply res (NULL: nothing) to the cgroup directory; update: on a running container, where the memory
 * limit cannot pass the VM's memory. -errno with the field named in err. */
int resources_apply(const char *cgroup_dir, json_object *res, bool update, char *err, size_t errlen);

/* ---- the child side (child.c): never returns ---- */
struct child_fds {
        int stdio[3]; /* pipes; -1 with a terminal, which the child allocates itself */
        int sync_fd;  /* the child's end of the status socket, close-on-exec */
        int start_fd; /* read end of the start pipe */
        bool terminal;
        int console; /* a pty master made in the container's devpts, for the ready report; or -1 */
};
/* The record a child sends on the status socket (a SOCK_SEQPACKET pair): err == 0 means "set up,
 * waiting for start", and then carries the pty master as SCM_RIGHTS when the process has a terminal. */
struct sync_msg {
        int32_t err;
        char msg[240];
};
__attribute__((noreturn)) void child_run(struct spawn *s, struct child_fds *fds, bool is_exec);

/* ---- processes and containers (proc.c) ---- */
enum proc_state {
        PROC_CREATING, /* child setting up, create/exec reply pending */
        PROC_CREATED,  /* blocked until start */
        PROC_STARTING, /* start sent, waiting for the execve */
        PROC_RUNNING,
        PROC_EXITED,
};

struct container;

struct proc {
        struct proc *next;
        struct container *ctr;
        uint32_t handle;
        pid_t pid;
        char *exec_id; /* "" for a container's init */
        enum proc_state state;
        int sync_fd;  /* read end of the child's status pipe, -1 when done */
        int start_fd; /* write end of the start pipe, -1 once started */
        bool reply_pending;
        uint32_t reply_id; /* create/exec/start request waiting on sync_fd */
        int stdin_fd;
        int out_fd[2]; /* stdout and stderr read ends; a terminal has only out_fd[0], the pty master */
        bool terminal;
        struct vc_buf stdin_q;
        bool stdin_close;        /* close stdin once stdin_q drains */
        uint64_t stdin_progress; /* when stdin_q last shrank (or started filling) */
        bool stdin_dropping;     /* stalled over the cap: input is being dropped */
        size_t queued;           /* bytes of this process's data frames waiting for the port */
        bool exited;
        int status;
        bool exit_sent;
        uint64_t grace_deadline;
        uint32_t *waiters; /* wait_process request ids */
        size_t nwaiters;
};

struct container {
        struct container *next;
        char *id;
        char *cgroup;                  /* AGENT_CGROUP_ROOT/<id> */
        struct agent_seccomp *seccomp; /* its filter, which every exec'd process gets too */
        struct proc *init;
        bool dead; /* its init died while being set up: freed by the main loop, invisible until then */
};

/* The tables (proc.c). */
struct proc *procs_first(void);
struct container *ctrs_first(void);
struct proc *proc_by_handle(uint32_t h);
struct container *ctr_by_id(const char *id);                            /* a live container */
struct proc *proc_by_exec_id(struct container *c, const char *exec_id); /* "" or NULL: its init */
void proc_table_init(int self_pidns); /* an fd of the agent's own pid namespace, to return to after a fork */
/* Fork the child for s: a container's init when exec_id is "", else a process exec'd into the container's
 * namespaces. pidns: -1 stay in the agent's pid namespace, -2 a new one, else an fd of the namespace to
 * join. The reply to req is sent once the child reports (proc_sync). On failure: -errno, err[errlen]. */
int proc_spawn(struct spawn *s, struct container *c, const char *exec_id, int pidns, uint32_t req, char *err,
               size_t errlen);
void proc_sync(struct proc *p); /* the child's status pipe is readable */
void proc_start(uint32_t req, struct proc *p);
void proc_free(struct proc *p);
void procs_reap(void);
bool procs_stdin_throttled(void);      /* a stalled stdin backlog over the cap: hold the port's input back */
void procs_host_gone(void);            /* the host's pending requests will never be answered */
void procs_expire_grace(uint64_t now); /* output still open after the grace period: end it */
/* A container record for id with its cgroup made, linked into the table: 0 or -errno, err[errlen]. */
int ctr_new(const char *id, struct container **ret, char *err, size_t errlen);
void ctr_free(struct container *c);
void ctrs_free_dead(void);
/* Kill everything in the container's cgroup and wait (bounded) until it is empty, reaping as it goes;
 * then flush each process's remaining output, end-of-stream frames and exit event. -EBUSY if it stays. */
int ctr_kill_and_drain(struct container *c);

/* ---- a process's stdio and exit (stdio.c) ---- */
void stdio_read(struct proc *p, int i); /* one chunk of stdout (0) or stderr (1) */
void stdio_write_stdin(struct proc *p);
void stdio_input(struct proc *p, const uint8_t *data, size_t len); /* a DATA frame for its stdin */
void stdio_drain(struct proc *p); /* the process is gone: what its pipes hold now, then the exit */
void stdio_try_finish(struct proc *p);
void stdio_send_exit(struct proc *p);

/* ---- the container cgroups (cgroup.c): dir is AGENT_CGROUP_ROOT/<id> ---- */
int cgroup_create(const char *dir);
int cgroup_read(const char *dir, const char *file, char *buf, size_t size);
int cgroup_write(const char *dir, const char *file, const char *val);
long long cgroup_key(const char *dir, const char *file, const char *key); /* "key N" lines; -1 if absent */
int cgroup_signal_all(const char *dir, int sig);                          /* how many got it, or -errno */
int cgroup_kill(const char *dir); /* cgroup.kill, thawed first; SIGKILL to each when the kernel lacks it */
int cgroup_freeze(const char *dir, bool on); /* and wait (bounded) for the state: 0, -ETIMEDOUT, -errno */
json_object *cgroup_stats(const char *dir);  /* the stats_container result */

/* ---- the port: frames in and out (port.c) ---- */
struct port_ops {
        void (*frame)(const struct vc_frame *f); /* a frame from the host */
        bool (*hold)(void);                      /* true: leave further input unread for now */
        void (*hangup)(void);                    /* the host went away */
};
void port_init(int fd, const char *name, const struct port_ops *ops);
int port_fd(void);
bool port_connected(void);
bool port_has_output(void);
uint64_t port_away_since(void); /* when the host went away */
/* Queue a frame. account (or NULL): a counter of the bytes queued that the port keeps up to date. */
int port_queue(uint8_t type, uint8_t stream, uint32_t id, const void *payload, size_t len, size_t *account);
/* Read at most cap bytes of fd straight into a new data frame of handle id and queue it: the bytes are
 * copied once, by the kernel. The bytes read, 0 at end of file, or -errno (-EAGAIN: nothing yet). */
ssize_t port_queue_read(int fd, uint8_t stream, uint32_t id, size_t cap, size_t *account);
void port_queue_json(uint8_t type, uint32_t id, json_object *o); /* takes o */
void port_forget_account(size_t *account);                       /* its owner is going away */
void port_flush(void);                                           /* write what the port takes now */
void port_read(void);
void port_process(void); /* handle the frames already buffered, unless ops->hold */
void port_revents(short revents);
void port_check_reconnect(void);
void port_drain(uint64_t deadline_ms); /* flush until empty, the host gone, or the deadline */
void port_event(const char *name, json_object *params); /* takes params */
void reply_ok(uint32_t id, json_object *result);        /* takes result; NULL: {} */
void reply_err(uint32_t id, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the protocol's methods (methods.c) ---- */
typedef void agent_method_fn(uint32_t id, json_object *params);
/* poweroff: how destroy_sandbox ends the guest */
void methods_init(void (*poweroff)(void));
void methods_dispatch(uint32_t id, const uint8_t *payload, size_t len);
const char *methods_name(size_t i); /* the i-th method of the table; NULL past its end */
/* Parameter readers for handlers: on a missing required or mistyped value they answer id with the error
 * and return false (NULL). */
bool param_get(uint32_t id, json_object *params, const char *key, json_type t, bool required,
               json_object **out);
struct container *param_ctr(uint32_t id, json_object *params);
struct proc *param_handle(uint32_t id, json_object *params);

/* ---- the guest's network (network.c) ---- */
/* update_interface: the NIC with params.mac gets params.name, mtu, addresses and routes, and comes up.
 * Answers {name, index}; ENODEV while no NIC has that address (a hot-plugged one still probing). */
agent_method_fn net_m_update_interface;

/* ---- after a restore from a template (restore.c) ---- */
/* restore {sec, nsec, entropy}: the host's wall clock and randomness (docs/factory.md). */
agent_method_fn m_restore;
int net_loopback_up(void);
/* Per-interface counters (loopback left out), keyed by name. */
json_object *net_stats(void);

/* ---- init duties (init.c) ---- */
int init_system(void);
int init_load_modules(void);
int init_find_port(char *path, size_t size, int timeout_ms);
void init_poweroff(void) __attribute__((noreturn));

#endif
