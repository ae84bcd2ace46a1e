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

#include "frame.h"

#define AGENT_VERSION "0.1.0"
#define AGENT_PROTOCOL 1
#define AGENT_PORT_NAME "agent.channel.0"
#define AGENT_SHARED_DIR "/run/kata-containers/shared"
#define AGENT_CGROUP_ROOT "/sys/fs/cgroup"

/* Bounds on what the host may ask for. */
#define AGENT_ID_MAX 1024
#define AGENT_MAX_ARGS 4096
#define AGENT_MAX_ENV 4096
#define AGENT_MAX_MOUNTS 256
#define AGENT_MAX_GROUPS 256
#define AGENT_MAX_STR 65536
/* A process whose data frames waiting for the port exceed this is not read any more until they drain. */
#define AGENT_OUT_CAP (1024u * 1024u)
/* A process whose stdin backlog exceeds this stops the agent reading the port until it drains, for at
 * most AGENT_STDIN_STALL_MS without progress: after that, its further input is dropped so that the
 * host's other requests (a signal for that very process, say) get through. */
#define AGENT_STDIN_CAP (1024u * 1024u)
#define AGENT_STDIN_STALL_MS 10000
/* After a process exits, its output is read until EOF or until this long passes with no output. */
#define AGENT_EOF_GRACE_MS 2000

/* ---- small helpers (util.c) ---- */
uint64_t agent_now_ms(void);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool agent_debug_on;
/* Power off once the host side has been gone this long (kernel parameter agent.hangup_timeout=, 0: never). */
extern int agent_hangup_timeout_s;
/* RLIMIT_NOFILE as the kernel gave it to init: the agent raises its own, processes start from this. */
extern struct rlimit agent_nofile_default;
int write_file(const char *path, const char *s);
int read_file(const char *path, char *buf, size_t size);
int mkdir_p(const char *path, mode_t mode);
bool id_valid(const char *s);

/* A FIFO of bytes. */
struct buf {
        uint8_t *data;
        size_t off, len, cap;
};
int buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);
static inline size_t buf_pending(const struct buf *b)
{
        return b->len - b->off;
}

/* ---- what a process is started with, parsed from OCI JSON before forking (spec.c) ---- */
struct mount_spec {
        char *source, *destination, *type, *data;
        unsigned long flags, propagation;
        bool bind, minimal_dev, cgroup;
        bool copyup; /* tmpcopyup: the tmpfs starts with what was in the directory it covers */
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
        bool ns_pid, ns_uts, ns_ipc;
        struct mount_spec *mounts;
        size_t nmounts;
        char **masked, **readonly;
        size_t nmasked, nreadonly;
        /* exec_process only: fds of the container init's namespaces and root, opened by the agent */
        int ns_fd_mnt, ns_fd_uts, ns_fd_ipc, root_fd;
        /* set by the agent before forking: the container cgroup the process joins */
        char *cgroup_dir;
};

void spawn_free(struct spawn *s);
/* Fill s from an OCI process object (args, env, cwd, user, terminal, consoleSize, rlimits,
 * noNewPrivileges). On failure returns -EINVAL with a message in err[errlen]. */
int spawn_parse_process(struct spawn *s, json_object *process, char *err, size_t errlen);
/* Fill the container parts of s from an OCI config.json object and the rootfs path. */
int spawn_parse_spec(struct spawn *s, json_object *spec, const char *rootfs, char *err, size_t errlen);

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

/* ---- processes and containers (agent.c) ---- */
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
        struct buf stdin_q;
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
        char *cgroup; /* AGENT_CGROUP_ROOT/<id> */
        struct proc *init;
        bool dead; /* its init died while being set up: freed by the main loop, invisible until then */
};

/* ---- init duties (init.c) ---- */
int init_system(void);
int init_load_modules(void);
int init_find_port(char *path, size_t size, int timeout_ms);
void init_poweroff(void) __attribute__((noreturn));

#endif
