/* The agent's event loop: the port (frames in and out), child processes (status pipes, stdio, exits)
 * and the protocol's methods. Single-threaded; nothing here blocks for long except the few methods that
 * wait a bounded time for the kernel (pause, remove, destroy). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* ---------------------------------------------------------------- state */

struct outq {
        struct outq *next;
        struct proc *owner; /* DATA frames: whose output this is (NULL once the process is freed) */
        uint8_t type;
        size_t len, off;
        uint8_t data[];
};

static struct {
        int port_fd;
        char port_path[64];
        bool connected;
        bool discard; /* protocol error: ignore input until the host closes its end */
        uint64_t hup_since;
        struct vc_frame_reader reader;
        struct outq *out_head, *out_tail;
        struct proc *procs;
        struct container *ctrs;
        uint32_t next_handle;
        int sigfd;
        int self_pidns;
        bool sandbox;
} A = {.port_fd = -1, .sigfd = -1, .self_pidns = -1, .next_handle = 1};

static struct proc *proc_by_handle(uint32_t h)
{
        for (struct proc *p = A.procs; p; p = p->next)
                if (p->handle == h)
                        return p;
        return NULL;
}

static struct proc *proc_by_pid(pid_t pid)
{
        for (struct proc *p = A.procs; p; p = p->next)
                if (p->pid == pid && !p->exited)
                        return p;
        return NULL;
}

static struct container *ctr_by_id(const char *id)
{
        for (struct container *c = A.ctrs; c; c = c->next)
                if (!c->dead && strcmp(c->id, id) == 0)
                        return c;
        return NULL;
}

static struct proc *proc_by_exec_id(struct container *c, const char *exec_id)
{
        if (exec_id == NULL || exec_id[0] == '\0')
                return c->init;
        for (struct proc *p = A.procs; p; p = p->next)
                if (p->ctr == c && strcmp(p->exec_id, exec_id) == 0)
                        return p;
        return NULL;
}

static void set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* ---------------------------------------------------------------- output to the host */

static int queue_frame(uint8_t type, uint8_t stream, uint32_t id, const void *payload, size_t len,
                       struct proc *owner)
{
        struct outq *q = malloc(sizeof *q + VC_FRAME_HEADER + len);
        int rc;

        if (q == NULL)
                return -ENOMEM;
        rc = vc_frame_header_encode(q->data, type, stream, id, len);
        if (rc < 0) {
                free(q);
                return rc;
        }
        if (len)
                memcpy(q->data + VC_FRAME_HEADER, payload, len);
        q->next = NULL;
        q->owner = owner;
        q->type = type;
        q->len = VC_FRAME_HEADER + len;
        q->off = 0;
        if (owner)
                owner->queued += q->len;
        if (A.out_tail)
                A.out_tail->next = q;
        else
                A.out_head = q;
        A.out_tail = q;
        return 0;
}

static void queue_json(uint8_t type, uint32_t id, json_object *o)
{
        size_t len;
        const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);

        if (s == NULL || queue_frame(type, 0, id, s, len, NULL) < 0)
                agent_log("cannot queue a frame of %zu bytes", len);
        json_object_put(o);
}

static void reply_ok(uint32_t id, json_object *result)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "result", result ? result : json_object_new_object());
        queue_json(VC_FRAME_RESPONSE, id, o);
}

static void reply_err(uint32_t id, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_err(uint32_t id, int code, const char *fmt, ...)
{
        char msg[512];
        const char *name = strerrorname_np(code);
        json_object *o = json_object_new_object(), *e = json_object_new_object();
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        agent_debug("request %u failed: %s", id, msg);
        json_object_object_add(e, "code", json_object_new_string(name ? name : "EIO"));
        json_object_object_add(e, "message", json_object_new_string(msg));
        json_object_object_add(o, "error", e);
        queue_json(VC_FRAME_RESPONSE, id, o);
}

static void outq_pop(void)
{
        struct outq *q = A.out_head;

        A.out_head = q->next;
        if (A.out_head == NULL)
                A.out_tail = NULL;
        if (q->owner)
                q->owner->queued -= q->len;
        free(q);
}

static void port_disconnected(void);

/* Write what the port takes now. */
static void port_flush(void)
{
        while (A.connected && A.out_head) {
                struct outq *q = A.out_head;
                ssize_t n = write(A.port_fd, q->data + q->off, q->len - q->off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) {
                                agent_log("write %s: %s", A.port_path, strerror(errno));
                                port_disconnected();
                        }
                        return;
                }
                if (n == 0) /* virtio_console: no room in the queue after all; wait for POLLOUT */
                        return;
                q->off += (size_t)n;
                if (q->off == q->len)
                        outq_pop();
        }
}

/* The host closed its end of the port (or we must behave as if it had). Frames it will never read:
 * the rest of a partly written one (so the next connection starts on a frame boundary) and responses,
 * which answer requests of the connection that is gone. Data and exit events stay queued. */
static void port_disconnected(void)
{
        if (!A.connected)
                return;
        A.connected = false;
        A.discard = false;
        A.hup_since = agent_now_ms();
        vc_frame_reader_free(&A.reader);
        vc_frame_reader_init(&A.reader);
        if (A.out_head && A.out_head->off > 0)
                outq_pop();
        struct outq **pp = &A.out_head;
        int dropped = 0;
        A.out_tail = NULL;
        while (*pp) {
                struct outq *q = *pp;
                if (q->type == VC_FRAME_RESPONSE) {
                        *pp = q->next;
                        free(q);
                        dropped++;
                } else {
                        A.out_tail = q;
                        pp = &q->next;
                }
        }
        for (struct proc *p = A.procs; p; p = p->next) {
                p->reply_pending = false;
                p->nwaiters = 0;
        }
        agent_debug("host disconnected%s", dropped ? " (dropped responses for it)" : "");
}

/* ---------------------------------------------------------------- processes */

static void send_exit(struct proc *p)
{
        static const uint8_t none[1];
        json_object *o, *params;

        for (int i = 0; i < 2; i++) {
                if (p->out_fd[i] >= 0) {
                        close_fd(&p->out_fd[i]);
                        queue_frame(VC_FRAME_DATA, (uint8_t)(i + 1), p->handle, none, 0, p);
                }
        }
        /* a terminal process has no stderr pipe; its stream still gets its end-of-stream frame */
        if (p->terminal)
                queue_frame(VC_FRAME_DATA, VC_STREAM_STDERR, p->handle, none, 0, p);
        close_fd(&p->stdin_fd);
        buf_free(&p->stdin_q);

        o = json_object_new_object();
        params = json_object_new_object();
        json_object_object_add(o, "event", json_object_new_string("exit"));
        json_object_object_add(params, "handle", json_object_new_int64(p->handle));
        json_object_object_add(params, "id", json_object_new_string(p->ctr->id));
        json_object_object_add(params, "exec_id", json_object_new_string(p->exec_id));
        json_object_object_add(params, "status", json_object_new_int(p->status));
        json_object_object_add(o, "params", params);
        queue_json(VC_FRAME_EVENT, 0, o);
        for (size_t i = 0; i < p->nwaiters; i++) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "status", json_object_new_int(p->status));
                reply_ok(p->waiters[i], r);
        }
        p->nwaiters = 0;
        p->exit_sent = true;
        agent_debug("process %u (%s/%s) exited with %d", p->handle, p->ctr->id, p->exec_id, p->status);
}

static void try_finish(struct proc *p);

/* A stdout/stderr pipe (or the pty) reached EOF: one empty data frame for that stream. */
static void out_eof(struct proc *p, int i)
{
        static const uint8_t none[1];

        close_fd(&p->out_fd[i]);
        queue_frame(VC_FRAME_DATA, (uint8_t)(i + 1), p->handle, none, 0, p);
        try_finish(p);
}

static void try_finish(struct proc *p)
{
        if (p->exited && !p->exit_sent && p->state != PROC_CREATING && p->out_fd[0] < 0 && p->out_fd[1] < 0)
                send_exit(p);
}

/* Read one chunk of output. */
static void read_output(struct proc *p, int i)
{
        uint8_t buf[32768];
        ssize_t n = read(p->out_fd[i], buf, sizeof buf);

        if (n > 0) {
                queue_frame(VC_FRAME_DATA, (uint8_t)(i + 1), p->handle, buf, (size_t)n, p);
                if (p->exited)
                        p->grace_deadline = agent_now_ms() + AGENT_EOF_GRACE_MS;
                return;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        /* 0 is EOF; a pty master reads EIO once the last slave fd is closed */
        out_eof(p, i);
}

static void stdin_close(struct proc *p)
{
        if (p->stdin_fd < 0)
                return;
        if (p->terminal) {
                /* The pty stays open for output; the process sees end of input as the EOF character. */
                struct termios t;
                char eof = 4;
                if (tcgetattr(p->stdin_fd, &t) == 0 && t.c_cc[VEOF])
                        eof = (char)t.c_cc[VEOF];
                (void)!write(p->stdin_fd, &eof, 1);
        }
        close_fd(&p->stdin_fd);
        buf_free(&p->stdin_q);
}

static void write_stdin(struct proc *p)
{
        while (p->stdin_fd >= 0 && buf_pending(&p->stdin_q) > 0) {
                ssize_t n = write(p->stdin_fd, p->stdin_q.data + p->stdin_q.off, buf_pending(&p->stdin_q));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        /* EPIPE: the process closed its stdin; what is left cannot be delivered */
                        p->stdin_close = true;
                        buf_free(&p->stdin_q);
                        break;
                }
                buf_consume(&p->stdin_q, (size_t)n);
                p->stdin_progress = agent_now_ms();
                p->stdin_dropping = false;
        }
        if (p->stdin_close && buf_pending(&p->stdin_q) == 0)
                stdin_close(p);
}

static void proc_free(struct proc *p)
{
        struct proc **pp;

        for (pp = &A.procs; *pp; pp = &(*pp)->next) {
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        }
        for (struct outq *q = A.out_head; q; q = q->next)
                if (q->owner == p)
                        q->owner = NULL;
        if (p->ctr && p->ctr->init == p)
                p->ctr->init = NULL;
        close_fd(&p->sync_fd);
        close_fd(&p->start_fd);
        close_fd(&p->stdin_fd);
        close_fd(&p->out_fd[0]);
        close_fd(&p->out_fd[1]);
        buf_free(&p->stdin_q);
        free(p->waiters);
        free(p->exec_id);
        free(p);
}

static void ctr_free(struct container *c)
{
        struct container **cc;

        for (struct proc *p = A.procs, *next; p; p = next) {
                next = p->next;
                if (p->ctr == c)
                        proc_free(p);
        }
        if (c->cgroup && rmdir(c->cgroup) < 0 && errno != ENOENT)
                agent_log("remove cgroup %s: %s", c->cgroup, strerror(errno));
        for (cc = &A.ctrs; *cc; cc = &(*cc)->next) {
                if (*cc == c) {
                        *cc = c->next;
                        break;
                }
        }
        free(c->cgroup);
        free(c->id);
        free(c);
}

static int wait_status(int st)
{
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
        return 255;
}

static void handle_sync(struct proc *p);

static void proc_exited(struct proc *p, int st)
{
        p->exited = true;
        p->status = wait_status(st);
        p->grace_deadline = agent_now_ms() + AGENT_EOF_GRACE_MS;
        close_fd(&p->start_fd);
        if (p->sync_fd >= 0)
                handle_sync(p); /* a setup failure or the exec result is in the pipe already */
        if (p->state == PROC_CREATING) {
                /* died before it was set up: handle_sync answered; forget it (and a container made for
                 * it, once no loop is walking the list) */
                struct container *c = p->ctr;
                if (c && c->init == p)
                        c->dead = true;
                proc_free(p);
                return;
        }
        p->state = PROC_EXITED;
        try_finish(p);
}

static void reap(void)
{
        for (;;) {
                int st;
                pid_t pid = waitpid(-1, &st, WNOHANG);
                if (pid <= 0)
                        return;
                struct proc *p = proc_by_pid(pid);
                if (p)
                        proc_exited(p, st);
                else
                        agent_debug("reaped orphan %d", (int)pid);
        }
}

/* A child that failed its setup is exiting (it wrote why, then exits; or it is killed here): reap it now,
 * so that its container id is free again before the next request is read. Frees p. */
static void forget_failed(struct proc *p)
{
        int st = 0;

        (void)kill(p->pid, SIGKILL);
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
                ;
        proc_exited(p, st);
}

/* The child's status pipe: a struct sync_msg (set up, or a failure), or EOF after a successful execve. */
static void handle_sync(struct proc *p)
{
        struct sync_msg m;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } cm;
        struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
        int master = -1;
        ssize_t n;

        do
                n = recvmsg(p->sync_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n > 0 && c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                    c->cmsg_len == CMSG_LEN(sizeof(int))) {
                        if (master >= 0)
                                close(master);
                        memcpy(&master, CMSG_DATA(c), sizeof(int));
                }
        }
        if (n == (ssize_t)sizeof m && m.err == 0 && p->state == PROC_CREATING && p->terminal) {
                if (master < 0) {
                        m.err = EIO;
                        snprintf(m.msg, sizeof m.msg, "no terminal from the child");
                } else {
                        p->out_fd[0] = master;
                        p->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
                        set_nonblock(master);
                        master = -1;
                }
        }
        if (master >= 0)
                close(master);
        if (n == (ssize_t)sizeof m && m.err == 0 && p->state == PROC_CREATING) {
                p->state = PROC_CREATED;
                if (p->reply_pending) {
                        json_object *r = json_object_new_object();
                        json_object_object_add(r, "handle", json_object_new_int64(p->handle));
                        json_object_object_add(r, "pid", json_object_new_int(p->pid));
                        reply_ok(p->reply_id, r);
                        p->reply_pending = false;
                }
                return;
        }
        if (n == (ssize_t)sizeof m && m.err != 0) {
                m.msg[sizeof m.msg - 1] = '\0';
                if (p->reply_pending)
                        reply_err(p->reply_id, m.err, "%s", m.msg);
                p->reply_pending = false;
                close_fd(&p->sync_fd);
                if (p->state == PROC_CREATING && !p->exited)
                        forget_failed(p);
                return;
        }
        /* EOF (or a short read: the child died mid-write) */
        close_fd(&p->sync_fd);
        if (p->state == PROC_STARTING) {
                p->state = p->exited ? PROC_EXITED : PROC_RUNNING;
                if (p->reply_pending)
                        reply_ok(p->reply_id, NULL);
        } else if (p->state == PROC_CREATING && p->reply_pending) {
                reply_err(p->reply_id, EIO, "process exited during setup");
                p->reply_pending = false;
                if (!p->exited)
                        forget_failed(p);
                return;
        }
        p->reply_pending = false;
}

/* ---------------------------------------------------------------- spawning */

struct spawn_io {
        int sync[2], start[2], in[2], out[2], err[2];
};

static void spawn_io_close(struct spawn_io *io)
{
        int *fds[] = {&io->sync[0], &io->sync[1], &io->start[0], &io->start[1], &io->in[0],
                      &io->in[1],   &io->out[0],  &io->out[1],   &io->err[0],   &io->err[1]};
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
                close_fd(fds[i]);
}

static int spawn_io_open(struct spawn_io *io, const struct spawn *s)
{
        memset(io, 0xff, sizeof *io); /* every fd -1 */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, io->sync) < 0 ||
            pipe2(io->start, O_CLOEXEC) < 0)
                return -errno;
        /* a terminal is allocated by the child, in the devpts it will see */
        if (!s->terminal &&
            (pipe2(io->in, O_CLOEXEC) < 0 || pipe2(io->out, O_CLOEXEC) < 0 || pipe2(io->err, O_CLOEXEC) < 0))
                return -errno;
        return 0;
}

/* Fork the child for s: a container's init when exec_id is "", else a process exec'd into the container's
 * namespaces. pidns: -1 stay in the agent's pid namespace, -2 a new one, else an fd of the namespace to
 * join. The reply to req is sent once the child reports (handle_sync). */
static int spawn_proc(struct spawn *s, struct container *c, const char *exec_id, int pidns, uint32_t req,
                      char *err, size_t errlen)
{
        struct spawn_io io;
        struct proc *p;
        pid_t pid;
        int rc;

        p = calloc(1, sizeof *p);
        if (p == NULL || (p->exec_id = strdup(exec_id)) == NULL) {
                free(p);
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        rc = spawn_io_open(&io, s);
        if (rc < 0) {
                snprintf(err, errlen, "stdio: %s", strerror(-rc));
                spawn_io_close(&io);
                free(p->exec_id);
                free(p);
                return rc;
        }
        if (pidns == -2 && unshare(CLONE_NEWPID) < 0)
                rc = -errno;
        else if (pidns >= 0 && setns(pidns, CLONE_NEWPID) < 0)
                rc = -errno;
        if (rc < 0) {
                snprintf(err, errlen, "pid namespace: %s", strerror(-rc));
                spawn_io_close(&io);
                free(p->exec_id);
                free(p);
                return rc;
        }
        pid = fork();
        if (pid == 0) {
                struct child_fds fds = {
                    .stdio = {io.in[0], io.out[1], io.err[1]},
                    .sync_fd = io.sync[1],
                    .start_fd = io.start[0],
                    .terminal = s->terminal,
                };
                child_run(s, &fds, exec_id[0] != '\0');
        }
        rc = pid < 0 ? -errno : 0;
        if (pidns != -1 && setns(A.self_pidns, CLONE_NEWPID) < 0)
                agent_log("cannot return to the agent's pid namespace: %s", strerror(errno));
        if (rc < 0) {
                snprintf(err, errlen, "fork: %s", strerror(-rc));
                spawn_io_close(&io);
                free(p->exec_id);
                free(p);
                return rc;
        }

        p->handle = A.next_handle++;
        p->pid = pid;
        p->ctr = c;
        p->state = PROC_CREATING;
        p->reply_pending = true;
        p->reply_id = req;
        p->terminal = s->terminal;
        p->sync_fd = io.sync[0], io.sync[0] = -1;
        p->start_fd = io.start[1], io.start[1] = -1;
        /* with a terminal these stay -1 until the child sends the pty master */
        p->stdin_fd = io.in[1], io.in[1] = -1;
        p->out_fd[0] = io.out[0], io.out[0] = -1;
        p->out_fd[1] = io.err[0], io.err[0] = -1;
        spawn_io_close(&io); /* the child's ends */
        set_nonblock(p->sync_fd);
        if (!p->terminal) {
                set_nonblock(p->stdin_fd);
                set_nonblock(p->out_fd[0]);
                set_nonblock(p->out_fd[1]);
        }
        p->next = A.procs;
        A.procs = p;
        if (c->init == NULL)
                c->init = p;
        return 0;
}

/* ---------------------------------------------------------------- request helpers */

/* Fetch params[key] of type t. Missing and required, or of the wrong type: error reply, false. */
static bool param(uint32_t id, json_object *params, const char *key, json_type t, bool required,
                  json_object **out)
{
        json_object *v = NULL;

        *out = NULL;
        if (params == NULL || !json_object_object_get_ex(params, key, &v) || v == NULL) {
                if (required)
                        reply_err(id, EINVAL, "missing parameter '%s'", key);
                return !required;
        }
        if (!json_object_is_type(v, t)) {
                reply_err(id, EINVAL, "parameter '%s': expected %s", key, json_type_to_name(t));
                return false;
        }
        *out = v;
        return true;
}

static struct container *param_ctr(uint32_t id, json_object *params)
{
        json_object *v;
        struct container *c;

        if (!param(id, params, "id", json_type_string, true, &v))
                return NULL;
        if (!id_valid(json_object_get_string(v))) {
                reply_err(id, EINVAL, "invalid container id");
                return NULL;
        }
        c = ctr_by_id(json_object_get_string(v));
        if (c == NULL)
                reply_err(id, ENOENT, "container '%s' not found", json_object_get_string(v));
        return c;
}

static struct proc *param_handle(uint32_t id, json_object *params)
{
        json_object *v;
        struct proc *p;

        if (!param(id, params, "handle", json_type_int, true, &v))
                return NULL;
        int64_t h = json_object_get_int64(v);
        p = h > 0 && h <= UINT32_MAX ? proc_by_handle((uint32_t)h) : NULL;
        if (p == NULL)
                reply_err(id, ENOENT, "process handle %lld not found", (long long)h);
        return p;
}

static int cgroup_read(struct container *c, const char *file, char *buf, size_t size)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", c->cgroup, file);
        return read_file(path, buf, size);
}

static int cgroup_write(struct container *c, const char *file, const char *val)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", c->cgroup, file);
        return write_file(path, val);
}

/* Value of "key N" in a flat-keyed cgroup file such as cgroup.events or cpu.stat; -1 if absent. */
static long long cgroup_key(struct container *c, const char *file, const char *key)
{
        char buf[4096];
        size_t klen = strlen(key);

        if (cgroup_read(c, file, buf, sizeof buf) < 0)
                return -1;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
                        return strtoll(line + klen + 1, NULL, 10);
        return -1;
}

static void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- methods */

static void m_check(uint32_t id, json_object *params)
{
        json_object *r = json_object_new_object();
        json_object_object_add(r, "version", json_object_new_string(AGENT_VERSION));
        json_object_object_add(r, "protocol", json_object_new_int(AGENT_PROTOCOL));
        reply_ok(id, r);
}

static void m_create_sandbox(uint32_t id, json_object *params)
{
        json_object *host, *tag;
        const char *t;

        if (!param(id, params, "hostname", json_type_string, false, &host) ||
            !param(id, params, "share_tag", json_type_string, true, &tag))
                return;
        t = json_object_get_string(tag);
        if (!id_valid(t) || strlen(t) > 36) {
                reply_err(id, EINVAL, "invalid share_tag");
                return;
        }
        if (host && (json_object_get_string_len(host) == 0 || json_object_get_string_len(host) > 64)) {
                reply_err(id, EINVAL, "invalid hostname");
                return;
        }
        if (A.sandbox) {
                reply_err(id, EEXIST, "sandbox already created");
                return;
        }
        if (mount(t, AGENT_SHARED_DIR, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0) {
                reply_err(id, errno, "mount virtio-fs '%s' on %s: %s", t, AGENT_SHARED_DIR, strerror(errno));
                return;
        }
        if (host && sethostname(json_object_get_string(host), (size_t)json_object_get_string_len(host)) < 0)
                agent_log("sethostname: %s", strerror(errno));
        A.sandbox = true;
        reply_ok(id, NULL);
}

/* linux.resources -> the container cgroup's memory.max, pids.max, cpu.max. */
static int apply_resources(struct container *c, json_object *spec, char *err, size_t errlen)
{
        json_object *lnx, *res, *mem, *pids, *cpu, *v, *v2;
        char val[64];
        int rc;

        if (!json_object_object_get_ex(spec, "linux", &lnx) || !json_object_is_type(lnx, json_type_object) ||
            !json_object_object_get_ex(lnx, "resources", &res) || !json_object_is_type(res, json_type_object))
                return 0;
        if (json_object_object_get_ex(res, "memory", &mem) && json_object_is_type(mem, json_type_object) &&
            json_object_object_get_ex(mem, "limit", &v)) {
                if (!json_object_is_type(v, json_type_int)) {
                        snprintf(err, errlen, "linux.resources.memory.limit: expected int");
                        return -EINVAL;
                }
                int64_t n = json_object_get_int64(v);
                if (n > 0) {
                        snprintf(val, sizeof val, "%lld", (long long)n);
                        if ((rc = cgroup_write(c, "memory.max", val)) < 0) {
                                snprintf(err, errlen, "memory.max: %s", strerror(-rc));
                                return rc;
                        }
                }
        }
        if (json_object_object_get_ex(res, "pids", &pids) && json_object_is_type(pids, json_type_object) &&
            json_object_object_get_ex(pids, "limit", &v)) {
                if (!json_object_is_type(v, json_type_int)) {
                        snprintf(err, errlen, "linux.resources.pids.limit: expected int");
                        return -EINVAL;
                }
                int64_t n = json_object_get_int64(v);
                if (n > 0) {
                        snprintf(val, sizeof val, "%lld", (long long)n);
                        if ((rc = cgroup_write(c, "pids.max", val)) < 0) {
                                snprintf(err, errlen, "pids.max: %s", strerror(-rc));
                                return rc;
                        }
                }
        }
        if (json_object_object_get_ex(res, "cpu", &cpu) && json_object_is_type(cpu, json_type_object) &&
            json_object_object_get_ex(cpu, "quota", &v)) {
                int64_t quota = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
                int64_t period = 100000;
                if (json_object_object_get_ex(cpu, "period", &v2) && json_object_is_type(v2, json_type_int))
                        period = json_object_get_int64(v2);
                if (quota > 0 && period >= 1000 && period <= 1000000) {
                        snprintf(val, sizeof val, "%lld %lld", (long long)quota, (long long)period);
                        if ((rc = cgroup_write(c, "cpu.max", val)) < 0) {
                                snprintf(err, errlen, "cpu.max: %s", strerror(-rc));
                                return rc;
                        }
                }
        }
        return 0;
}

/* create_container's "join": {"uts"?: id, "ipc"?: id, "pid"?: id} -- the new container enters that running
 * container's namespace of the type instead of a new one (a pod's containers share the sandbox's UTS and
 * IPC namespaces, and its pid namespace when the pod shares its processes). Opens them into
 * s->ns_fd_uts/ns_fd_ipc and *pidns; false after an error reply. */
static bool open_joins(uint32_t id, json_object *params, struct spawn *s, int *pidns)
{
        static const char *const types[] = {"uts", "ipc", "pid"};
        int *fds[] = {&s->ns_fd_uts, &s->ns_fd_ipc, pidns};
        json_object *join;
        char path[64];

        if (!param(id, params, "join", json_type_object, false, &join))
                return false;
        if (join == NULL)
                return true;
        json_object_object_foreach(join, key, val)
        {
                size_t i;
                for (i = 0; i < 3 && strcmp(key, types[i]) != 0; i++)
                        ;
                if (i == 3) {
                        reply_err(id, EINVAL, "join: unknown namespace type '%.32s'", key);
                        return false;
                }
                if (!json_object_is_type(val, json_type_string)) {
                        reply_err(id, EINVAL, "join.%s: expected a container id", key);
                        return false;
                }
                struct container *o = ctr_by_id(json_object_get_string(val));
                if (o == NULL) {
                        reply_err(id, ENOENT, "join.%s: container '%s' not found", key,
                                  json_object_get_string(val));
                        return false;
                }
                if (o->init == NULL || o->init->exited || o->init->state == PROC_CREATING) {
                        reply_err(id, ESRCH, "join.%s: container '%s' is not running", key, o->id);
                        return false;
                }
                snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)o->init->pid, key);
                close_fd(fds[i]);
                if ((*fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                        reply_err(id, errno == ENOENT ? ESRCH : errno, "join.%s: open %s: %s", key, path,
                                  strerror(errno));
                        return false;
                }
        }
        return true;
}

static void m_create_container(uint32_t id, json_object *params)
{
        json_object *cid, *rootfs, *spec;
        struct container *c = NULL;
        struct spawn s;
        char err[256] = "";
        struct stat st;
        int rc, pidns = -1;

        memset(&s, 0, sizeof s);
        s.ns_fd_mnt = s.ns_fd_uts = s.ns_fd_ipc = s.root_fd = -1;
        if (!param(id, params, "id", json_type_string, true, &cid) ||
            !param(id, params, "rootfs", json_type_string, true, &rootfs) ||
            !param(id, params, "spec", json_type_object, true, &spec))
                return;
        if (!id_valid(json_object_get_string(cid))) {
                reply_err(id, EINVAL, "invalid container id");
                return;
        }
        if (ctr_by_id(json_object_get_string(cid))) {
                reply_err(id, EEXIST, "container '%s' already exists", json_object_get_string(cid));
                return;
        }
        if (json_object_get_string_len(rootfs) > PATH_MAX - 64) {
                reply_err(id, EINVAL, "rootfs: too long");
                return;
        }
        rc = spawn_parse_spec(&s, spec, json_object_get_string(rootfs), err, sizeof err);
        if (rc < 0) {
                reply_err(id, -rc, "%s", err[0] ? err : strerror(-rc));
                goto out;
        }
        if (!open_joins(id, params, &s, &pidns))
                goto out;
        if (stat(s.rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
                reply_err(id, ENOENT, "rootfs '%s' is not a directory", s.rootfs);
                goto out;
        }

        c = calloc(1, sizeof *c);
        if (c == NULL || (c->id = strdup(json_object_get_string(cid))) == NULL ||
            asprintf(&c->cgroup, "%s/%s", AGENT_CGROUP_ROOT, c->id) < 0) {
                if (c)
                        c->cgroup = NULL;
                reply_err(id, ENOMEM, "out of memory");
                goto out;
        }
        if (mkdir(c->cgroup, 0755) < 0 &&
            (errno != EEXIST || rmdir(c->cgroup) < 0 || mkdir(c->cgroup, 0755) < 0)) {
                reply_err(id, errno, "create cgroup %s: %s", c->cgroup, strerror(errno));
                free(c->cgroup);
                c->cgroup = NULL;
                goto out;
        }
        if ((rc = apply_resources(c, spec, err, sizeof err)) < 0) {
                reply_err(id, -rc, "%s", err);
                goto out;
        }
        if ((s.cgroup_dir = strdup(c->cgroup)) == NULL) {
                reply_err(id, ENOMEM, "out of memory");
                goto out;
        }
        c->next = A.ctrs;
        A.ctrs = c;
        rc = spawn_proc(&s, c, "", pidns >= 0 ? pidns : s.ns_pid ? -2 : -1, id, err, sizeof err);
        if (rc < 0) {
                reply_err(id, -rc, "%s", err);
                ctr_free(c);
        }
        c = NULL;
        agent_debug("create_container %s: %s", json_object_get_string(cid), rc < 0 ? err : "forked");
out:
        close_fd(&pidns);
        close_fd(&s.ns_fd_uts);
        close_fd(&s.ns_fd_ipc);
        if (c) {
                if (c->cgroup)
                        (void)rmdir(c->cgroup);
                free(c->cgroup);
                free(c->id);
                free(c);
        }
        spawn_free(&s);
}

static void start(uint32_t id, struct proc *p)
{
        static const char go = 1;

        if (p->state != PROC_CREATED || p->start_fd < 0) {
                reply_err(id, EBUSY, "process %u is not waiting to start", p->handle);
                return;
        }
        /* Answer first, and put it on the port before the process is released: with one vCPU the released
         * process would otherwise run its execve before the agent gets to write. This is runc start's
         * contract too (it returns once the process is released): create already checked the program, and
         * a failing execve still ends the process with its exit event (status 127). */
        reply_ok(id, NULL);
        port_flush();
        if (write(p->start_fd, &go, 1) != 1)
                agent_log("start process %u: %s (its exit event follows)", p->handle, strerror(errno));
        close_fd(&p->start_fd);
        p->state = PROC_STARTING;
        p->reply_pending = false;
}

static void m_start_container(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);
        if (c == NULL)
                return;
        if (c->init == NULL) {
                reply_err(id, ESRCH, "container '%s' has no process", c->id);
                return;
        }
        start(id, c->init);
}

static void m_exec_process(uint32_t id, json_object *params)
{
        json_object *eid, *process;
        struct container *c;
        struct proc *old;
        struct spawn s;
        char err[256] = "", path[64];
        int pidns = -1, rc;
        static const char *const nsname[] = {"mnt", "uts", "ipc"};

        memset(&s, 0, sizeof s);
        s.ns_fd_mnt = s.ns_fd_uts = s.ns_fd_ipc = s.root_fd = -1;
        if ((c = param_ctr(id, params)) == NULL ||
            !param(id, params, "exec_id", json_type_string, true, &eid) ||
            !param(id, params, "process", json_type_object, true, &process))
                return;
        if (!id_valid(json_object_get_string(eid))) {
                reply_err(id, EINVAL, "invalid exec_id");
                return;
        }
        old = proc_by_exec_id(c, json_object_get_string(eid));
        if (old && !old->exit_sent) {
                reply_err(id, EEXIST, "exec '%s' already exists in '%s'", json_object_get_string(eid), c->id);
                return;
        }
        if (c->init == NULL || c->init->exited || c->init->state == PROC_CREATING) {
                reply_err(id, ESRCH, "container '%s' is not running", c->id);
                return;
        }
        rc = spawn_parse_process(&s, process, err, sizeof err);
        if (rc < 0) {
                reply_err(id, -rc, "%s", err[0] ? err : strerror(-rc));
                goto out;
        }
        int *fds[] = {&s.ns_fd_mnt, &s.ns_fd_uts, &s.ns_fd_ipc};
        for (int i = 0; i < 3; i++) {
                snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)c->init->pid, nsname[i]);
                if ((*fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                        reply_err(id, errno == ENOENT ? ESRCH : errno, "open %s: %s", path, strerror(errno));
                        goto out;
                }
        }
        snprintf(path, sizeof path, "/proc/%d/root", (int)c->init->pid);
        s.root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)c->init->pid);
        pidns = open(path, O_RDONLY | O_CLOEXEC);
        if (s.root_fd < 0 || pidns < 0) {
                reply_err(id, ESRCH, "container '%s': %s", c->id, strerror(errno));
                goto out;
        }
        if ((s.cgroup_dir = strdup(c->cgroup)) == NULL) {
                reply_err(id, ENOMEM, "out of memory");
                goto out;
        }
        if (old)
                proc_free(old);
        rc = spawn_proc(&s, c, json_object_get_string(eid), pidns, id, err, sizeof err);
        if (rc < 0)
                reply_err(id, -rc, "%s", err);
out:
        close_fd(&pidns);
        close_fd(&s.ns_fd_mnt);
        close_fd(&s.ns_fd_uts);
        close_fd(&s.ns_fd_ipc);
        close_fd(&s.root_fd);
        spawn_free(&s);
}

static void m_start_process(uint32_t id, json_object *params)
{
        struct proc *p = param_handle(id, params);
        if (p)
                start(id, p);
}

static int kill_cgroup(struct container *c, int sig)
{
        char buf[65536];
        int rc = cgroup_read(c, "cgroup.procs", buf, sizeof buf), n = 0;

        if (rc < 0)
                return rc;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
                pid_t pid = (pid_t)strtol(line, NULL, 10);
                if (pid > 1 && kill(pid, sig) == 0)
                        n++;
        }
        return n;
}

static void m_signal_process(uint32_t id, json_object *params)
{
        json_object *eid, *sig, *all;
        struct container *c;
        struct proc *p;
        int signo;

        if ((c = param_ctr(id, params)) == NULL ||
            !param(id, params, "exec_id", json_type_string, false, &eid) ||
            !param(id, params, "signal", json_type_int, true, &sig) ||
            !param(id, params, "all", json_type_boolean, false, &all))
                return;
        if (json_object_get_int64(sig) < 1 || json_object_get_int64(sig) >= NSIG) {
                reply_err(id, EINVAL, "invalid signal %lld", (long long)json_object_get_int64(sig));
                return;
        }
        signo = (int)json_object_get_int64(sig);
        if (all && json_object_get_boolean(all)) {
                int rc = kill_cgroup(c, signo);
                if (rc < 0)
                        reply_err(id, -rc, "signal container '%s': %s", c->id, strerror(-rc));
                else
                        reply_ok(id, NULL);
                return;
        }
        p = proc_by_exec_id(c, eid ? json_object_get_string(eid) : "");
        if (p == NULL) {
                reply_err(id, ENOENT, "process '%s' not found in '%s'",
                          eid ? json_object_get_string(eid) : "", c->id);
                return;
        }
        if (p->exited) {
                reply_err(id, ESRCH, "process %u is not running", p->handle);
                return;
        }
        if (kill(p->pid, signo) < 0) {
                reply_err(id, errno, "kill %d: %s", (int)p->pid, strerror(errno));
                return;
        }
        reply_ok(id, NULL);
}

static void m_wait_process(uint32_t id, json_object *params)
{
        struct proc *p = param_handle(id, params);
        uint32_t *w;

        if (p == NULL)
                return;
        if (p->exit_sent) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "status", json_object_new_int(p->status));
                reply_ok(id, r);
                return;
        }
        if (p->nwaiters >= 64 || (w = realloc(p->waiters, (p->nwaiters + 1) * sizeof *w)) == NULL) {
                reply_err(id, EAGAIN, "too many waiters on process %u", p->handle);
                return;
        }
        p->waiters = w;
        p->waiters[p->nwaiters++] = id;
}

static void m_list_processes(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);
        char buf[65536];
        json_object *r, *pids;
        int rc;

        if (c == NULL)
                return;
        if ((rc = cgroup_read(c, "cgroup.procs", buf, sizeof buf)) < 0) {
                reply_err(id, -rc, "read cgroup of '%s': %s", c->id, strerror(-rc));
                return;
        }
        r = json_object_new_object();
        pids = json_object_new_array();
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                json_object_array_add(pids, json_object_new_int((int)strtol(line, NULL, 10)));
        json_object_object_add(r, "pids", pids);
        reply_ok(id, r);
}

static void m_resize(uint32_t id, json_object *params)
{
        json_object *rows, *cols;
        struct proc *p = param_handle(id, params);
        struct winsize ws = {0};

        if (p == NULL || !param(id, params, "rows", json_type_int, true, &rows) ||
            !param(id, params, "cols", json_type_int, true, &cols))
                return;
        if (json_object_get_int64(rows) < 0 || json_object_get_int64(rows) > 65535 ||
            json_object_get_int64(cols) < 0 || json_object_get_int64(cols) > 65535) {
                reply_err(id, EINVAL, "invalid terminal size");
                return;
        }
        if (!p->terminal || p->out_fd[0] < 0) {
                reply_err(id, ENOTTY, "process %u has no terminal", p->handle);
                return;
        }
        ws.ws_row = (unsigned short)json_object_get_int64(rows);
        ws.ws_col = (unsigned short)json_object_get_int64(cols);
        if (ioctl(p->out_fd[0], TIOCSWINSZ, &ws) < 0) {
                reply_err(id, errno, "resize: %s", strerror(errno));
                return;
        }
        reply_ok(id, NULL);
}

/* cgroup.freeze, then wait (bounded) until cgroup.events says the state was reached. */
static void freeze(uint32_t id, json_object *params, int on)
{
        struct container *c = param_ctr(id, params);
        int rc;

        if (c == NULL)
                return;
        if ((rc = cgroup_write(c, "cgroup.freeze", on ? "1" : "0")) < 0) {
                reply_err(id, -rc, "%s '%s': %s", on ? "pause" : "resume", c->id, strerror(-rc));
                return;
        }
        for (int i = 0; i < 1000; i++) {
                if (cgroup_key(c, "cgroup.events", "frozen") == on) {
                        reply_ok(id, NULL);
                        return;
                }
                sleep_ms(5);
        }
        reply_err(id, ETIMEDOUT, "%s '%s': cgroup did not reach the state", on ? "pause" : "resume", c->id);
}

static void m_pause_container(uint32_t id, json_object *params)
{
        freeze(id, params, 1);
}

static void m_resume_container(uint32_t id, json_object *params)
{
        freeze(id, params, 0);
}

static long long meminfo_total(void)
{
        char buf[4096];
        char *p;

        if (read_file("/proc/meminfo", buf, sizeof buf) < 0 || (p = strstr(buf, "MemTotal:")) == NULL)
                return 0;
        return strtoll(p + 9, NULL, 10) * 1024;
}

static void m_stats_container(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);
        char buf[64];
        json_object *r, *mem, *cpu, *pids;
        long long usage = 0, limit, npids = 0;

        if (c == NULL)
                return;
        if (cgroup_read(c, "memory.current", buf, sizeof buf) > 0)
                usage = strtoll(buf, NULL, 10);
        /* "max": no limit of its own, so the guest's memory is the limit */
        if (cgroup_read(c, "memory.max", buf, sizeof buf) > 0 && strncmp(buf, "max", 3) != 0)
                limit = strtoll(buf, NULL, 10);
        else
                limit = meminfo_total();
        if (cgroup_read(c, "pids.current", buf, sizeof buf) > 0)
                npids = strtoll(buf, NULL, 10);
        r = json_object_new_object();
        mem = json_object_new_object();
        cpu = json_object_new_object();
        pids = json_object_new_object();
        json_object_object_add(mem, "usage", json_object_new_int64(usage));
        json_object_object_add(mem, "limit", json_object_new_int64(limit));
        json_object_object_add(cpu, "usage_usec",
                               json_object_new_int64(cgroup_key(c, "cpu.stat", "usage_usec")));
        json_object_object_add(cpu, "user_usec",
                               json_object_new_int64(cgroup_key(c, "cpu.stat", "user_usec")));
        json_object_object_add(cpu, "system_usec",
                               json_object_new_int64(cgroup_key(c, "cpu.stat", "system_usec")));
        json_object_object_add(pids, "current", json_object_new_int64(npids));
        json_object_object_add(r, "memory", mem);
        json_object_object_add(r, "cpu", cpu);
        json_object_object_add(r, "pids", pids);
        reply_ok(id, r);
}

/* Kill everything in the container's cgroup and wait (bounded) until it is empty, reaping as we go;
 * then flush each process's remaining output, end-of-stream frames and exit event. */
static int kill_and_drain(struct container *c)
{
        int rc = 0;

        if (cgroup_write(c, "cgroup.freeze", "0") < 0) {
                /* not fatal: a frozen cgroup still takes SIGKILL */
        }
        if (cgroup_write(c, "cgroup.kill", "1") < 0)
                (void)kill_cgroup(c, SIGKILL);
        for (int i = 0;; i++) {
                reap();
                long long populated = cgroup_key(c, "cgroup.events", "populated");
                if (populated <= 0)
                        break;
                if (i >= 1000) {
                        rc = -EBUSY;
                        break;
                }
                sleep_ms(5);
        }
        reap();
        for (struct proc *p = A.procs; p; p = p->next) {
                if (p->ctr != c || p->exit_sent || !p->exited)
                        continue;
                /* what the pipes hold now, then the end: nothing is left to write more */
                for (int i = 0; i < 2; i++) {
                        while (p->out_fd[i] >= 0 && !p->exit_sent) {
                                uint8_t buf[32768];
                                ssize_t n = read(p->out_fd[i], buf, sizeof buf);
                                if (n > 0)
                                        queue_frame(VC_FRAME_DATA, (uint8_t)(i + 1), p->handle, buf,
                                                    (size_t)n, p);
                                else if (n < 0 && errno == EINTR)
                                        continue;
                                else
                                        break;
                        }
                }
                if (!p->exit_sent)
                        send_exit(p);
        }
        return rc;
}

static void m_remove_container(uint32_t id, json_object *params)
{
        struct container *c = param_ctr(id, params);

        if (c == NULL)
                return;
        if (kill_and_drain(c) < 0) {
                reply_err(id, EBUSY, "container '%s': processes did not exit", c->id);
                return;
        }
        agent_debug("removed container %s", c->id);
        ctr_free(c);
        reply_ok(id, NULL);
}

static void m_destroy_sandbox(uint32_t id, json_object *params)
{
        uint64_t deadline;

        for (struct container *c = A.ctrs; c; c = c->next)
                (void)kill_and_drain(c);
        /* The answer tells the host that nothing is left in the guest: the containers are gone and what
         * they wrote to the share has reached virtiofsd, so the host may end the VM without waiting. */
        sync();
        reply_ok(id, NULL);
        /* Give the host its answer (and the last output) before the power goes. */
        deadline = agent_now_ms() + 2000;
        while (A.connected && A.out_head && agent_now_ms() < deadline) {
                struct pollfd pfd = {.fd = A.port_fd, .events = POLLOUT};
                if (poll(&pfd, 1, 50) > 0 && (pfd.revents & POLLHUP))
                        break;
                port_flush();
        }
        if (A.sandbox)
                (void)umount2(AGENT_SHARED_DIR, MNT_DETACH);
        init_poweroff();
}

static const struct {
        const char *name;
        void (*fn)(uint32_t id, json_object *params);
} methods[] = {
    {"check", m_check},
    {"create_sandbox", m_create_sandbox},
    {"create_container", m_create_container},
    {"start_container", m_start_container},
    {"exec_process", m_exec_process},
    {"start_process", m_start_process},
    {"signal_process", m_signal_process},
    {"wait_process", m_wait_process},
    {"list_processes", m_list_processes},
    {"resize", m_resize},
    {"pause_container", m_pause_container},
    {"resume_container", m_resume_container},
    {"stats_container", m_stats_container},
    {"remove_container", m_remove_container},
    {"destroy_sandbox", m_destroy_sandbox},
};

static void handle_request(uint32_t id, const uint8_t *payload, size_t len)
{
        json_tokener *tok = json_tokener_new_ex(64);
        json_object *req = NULL, *method = NULL, *params = NULL;
        const char *name;

        if (tok == NULL) {
                reply_err(id, ENOMEM, "out of memory");
                return;
        }
        req = json_tokener_parse_ex(tok, (const char *)payload, (int)len);
        if (req == NULL || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != len) {
                reply_err(id, EINVAL, "request is not a single JSON value");
                goto out;
        }
        if (!json_object_is_type(req, json_type_object) ||
            !json_object_object_get_ex(req, "method", &method) ||
            !json_object_is_type(method, json_type_string)) {
                reply_err(id, EINVAL, "request needs a string 'method'");
                goto out;
        }
        if (json_object_object_get_ex(req, "params", &params) && params != NULL &&
            !json_object_is_type(params, json_type_object)) {
                reply_err(id, EINVAL, "'params' must be an object");
                goto out;
        }
        name = json_object_get_string(method);
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
                if (strcmp(methods[i].name, name) == 0) {
                        agent_debug("request %u: %s", id, name);
                        methods[i].fn(id, params);
                        goto out;
                }
        }
        reply_err(id, ENOSYS, "unknown method '%.64s'", name);
out:
        json_object_put(req);
        json_tokener_free(tok);
}

static void handle_frame(const struct vc_frame *f)
{
        struct proc *p;

        switch (f->type) {
        case VC_FRAME_REQUEST:
                handle_request(f->id, f->payload, f->len);
                return;
        case VC_FRAME_DATA:
                p = f->stream == VC_STREAM_STDIN ? proc_by_handle(f->id) : NULL;
                if (p == NULL || p->stdin_fd < 0 || p->stdin_close) {
                        agent_debug("dropping %u bytes of input for handle %u", f->len, f->id);
                        return;
                }
                if (f->len == 0) {
                        p->stdin_close = true;
                } else if (buf_pending(&p->stdin_q) > AGENT_STDIN_CAP) {
                        /* only reachable once the process stalled: see stdin_throttled() */
                        if (!p->stdin_dropping)
                                agent_log("process %u does not read its stdin: dropping input", p->handle);
                        p->stdin_dropping = true;
                        return;
                } else {
                        if (buf_pending(&p->stdin_q) == 0)
                                p->stdin_progress = agent_now_ms();
                        if (buf_append(&p->stdin_q, f->payload, f->len) < 0) {
                                agent_log("out of memory for the stdin of process %u", p->handle);
                                return;
                        }
                }
                write_stdin(p);
                return;
        default:
                agent_debug("ignoring a frame of type %u from the host", f->type);
                return;
        }
}

/* ---------------------------------------------------------------- the port */

static bool stdin_throttled(void)
{
        uint64_t now = agent_now_ms();

        for (struct proc *p = A.procs; p; p = p->next)
                if (buf_pending(&p->stdin_q) > AGENT_STDIN_CAP &&
                    now - p->stdin_progress < AGENT_STDIN_STALL_MS)
                        return true;
        return false;
}

/* Handle the frames already buffered, unless a process's stdin backlog asks us to hold back. */
static void process_frames(void)
{
        while (A.connected && !A.discard && !stdin_throttled()) {
                struct vc_frame f;
                int rc = vc_frame_reader_next(&A.reader, &f);
                if (rc == 0)
                        return;
                if (rc < 0) {
                        agent_log("protocol error from the host: dropping the connection");
                        A.discard = true;
                        vc_frame_reader_free(&A.reader);
                        vc_frame_reader_init(&A.reader);
                        return;
                }
                handle_frame(&f);
        }
}

static void port_read(void)
{
        uint8_t buf[65536];

        process_frames();
        for (int round = 0; round < 16 && A.connected && !stdin_throttled(); round++) {
                ssize_t n = read(A.port_fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) {
                                agent_log("read %s: %s", A.port_path, strerror(errno));
                                port_disconnected();
                        }
                        return;
                }
                if (n == 0) {
                        port_disconnected();
                        return;
                }
                if (A.discard)
                        continue;
                if (vc_frame_reader_feed(&A.reader, buf, (size_t)n) < 0) {
                        agent_log("out of memory reading the port");
                        A.discard = true;
                        continue;
                }
                process_frames();
        }
}

static bool port_hung_up(void)
{
        struct pollfd pfd = {.fd = A.port_fd, .events = POLLIN | POLLOUT};

        return poll(&pfd, 1, 0) < 0 || (pfd.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* While the host is away the port polls as hung up at once, so it leaves the poll set; SIGIO (or the
 * loop's timeout) brings us here to look again. */
static void port_check_reconnect(void)
{
        if (port_hung_up())
                return;
        A.connected = true;
        A.discard = false;
        agent_debug("host connected");
}

/* ---------------------------------------------------------------- main loop */

enum fd_kind { FD_SIG, FD_PORT, FD_SYNC, FD_OUT0, FD_OUT1, FD_STDIN };

struct slot {
        enum fd_kind kind;
        uint32_t handle;
};

static void loop(void)
{
        struct pollfd *pfds = NULL;
        struct slot *slots = NULL;
        size_t cap = 0;

        for (;;) {
                size_t n = 0, need = 2;
                int timeout = -1;
                uint64_t now = agent_now_ms();

                for (struct proc *p = A.procs; p; p = p->next)
                        need += 4;
                if (need > cap) {
                        cap = need * 2;
                        pfds = realloc(pfds, cap * sizeof *pfds);
                        slots = realloc(slots, cap * sizeof *slots);
                        if (pfds == NULL || slots == NULL) {
                                agent_log("out of memory");
                                init_poweroff();
                        }
                }
#define ADD(fd_, ev_, kind_, h_)                                                                             \
        do {                                                                                                 \
                pfds[n] = (struct pollfd){.fd = (fd_), .events = (ev_)};                                     \
                slots[n++] = (struct slot){.kind = (kind_), .handle = (h_)};                                 \
        } while (0)
                ADD(A.sigfd, POLLIN, FD_SIG, 0);
                if (A.connected) {
                        bool throttled = stdin_throttled();
                        short ev = (throttled ? 0 : POLLIN) | (A.out_head ? POLLOUT : 0);
                        ADD(A.port_fd, ev, FD_PORT, 0);
                        if (throttled)
                                timeout = 1000; /* to notice a stall */
                } else {
                        timeout = 1000; /* SIGIO wakes us sooner */
                }
                for (struct proc *p = A.procs; p; p = p->next) {
                        if (p->sync_fd >= 0)
                                ADD(p->sync_fd, POLLIN, FD_SYNC, p->handle);
                        if (p->queued <= AGENT_OUT_CAP) {
                                if (p->out_fd[0] >= 0)
                                        ADD(p->out_fd[0], POLLIN, FD_OUT0, p->handle);
                                if (p->out_fd[1] >= 0)
                                        ADD(p->out_fd[1], POLLIN, FD_OUT1, p->handle);
                        }
                        if (p->stdin_fd >= 0 && buf_pending(&p->stdin_q) > 0)
                                ADD(p->stdin_fd, POLLOUT, FD_STDIN, p->handle);
                        if (p->exited && !p->exit_sent) {
                                int t = p->grace_deadline > now ? (int)(p->grace_deadline - now) : 0;
                                if (timeout < 0 || t < timeout)
                                        timeout = t;
                        }
                }
#undef ADD
                int rc = poll(pfds, (nfds_t)n, timeout);
                if (rc < 0 && errno != EINTR) {
                        agent_log("poll: %s", strerror(errno));
                        sleep_ms(100);
                }
                for (size_t i = 0; rc > 0 && i < n; i++) {
                        short re = pfds[i].revents;
                        struct proc *p;
                        if (re == 0)
                                continue;
                        switch (slots[i].kind) {
                        case FD_SIG: {
                                struct signalfd_siginfo si;
                                while (read(A.sigfd, &si, sizeof si) == sizeof si)
                                        ;
                                reap();
                                break;
                        }
                        case FD_PORT:
                                if (re & (POLLIN | POLLHUP | POLLERR))
                                        port_read(); /* reads what is left, then sees EOF */
                                /* The hang-up may be stale: a new host can have connected since the poll
                                 * (its request just read). Believe only the port's state now. */
                                if (A.connected && (re & POLLHUP) && port_hung_up())
                                        port_disconnected();
                                if (A.connected && (re & POLLOUT))
                                        port_flush();
                                break;
                        case FD_SYNC:
                                if ((p = proc_by_handle(slots[i].handle)) && p->sync_fd >= 0)
                                        handle_sync(p);
                                break;
                        case FD_OUT0:
                        case FD_OUT1: {
                                int k = slots[i].kind == FD_OUT1;
                                if ((p = proc_by_handle(slots[i].handle)) && p->out_fd[k] >= 0)
                                        read_output(p, k);
                                break;
                        }
                        case FD_STDIN:
                                if ((p = proc_by_handle(slots[i].handle)))
                                        write_stdin(p);
                                break;
                        }
                }
                now = agent_now_ms();
                /* Output still open after the process exited: EOF or a quiet grace period ends it. */
                for (struct proc *p = A.procs; p; p = p->next) {
                        if (!p->exited || p->exit_sent || p->grace_deadline > now)
                                continue;
                        if (p->queued > AGENT_OUT_CAP) { /* host slow, not the process: keep waiting */
                                p->grace_deadline = now + AGENT_EOF_GRACE_MS;
                                continue;
                        }
                        agent_debug("process %u: output still open %d ms after exit, closing it", p->handle,
                                    AGENT_EOF_GRACE_MS);
                        send_exit(p);
                }
                if (!A.connected) {
                        port_check_reconnect();
                        if (!A.connected && agent_hangup_timeout_s > 0 &&
                            now - A.hup_since >= (uint64_t)agent_hangup_timeout_s * 1000u) {
                                agent_log("host gone for %d s", agent_hangup_timeout_s);
                                for (struct container *c = A.ctrs; c; c = c->next)
                                        (void)kill_and_drain(c);
                                init_poweroff();
                        }
                }
                for (struct container *c = A.ctrs, *next; c; c = next) {
                        next = c->next;
                        if (c->dead)
                                ctr_free(c);
                }
                if (A.connected) {
                        process_frames(); /* held back by a stdin backlog that has drained since */
                        port_flush();
                }
        }
}

int main(int argc, char **argv)
{
        sigset_t mask;
        int rc;

        if (getpid() != 1) {
                fprintf(stderr, "kata-agent: must run as PID 1 of the guest (it is the guest's init)\n");
                return 1;
        }
        rc = init_system();
        if (rc < 0) {
                agent_log("system setup failed: %s", strerror(-rc));
                init_poweroff();
        }
        agent_log("version %s starting", AGENT_VERSION);
        init_load_modules();

        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGIO);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        A.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        A.self_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (A.sigfd < 0 || A.self_pidns < 0) {
                agent_log("signalfd or pid namespace: %s", strerror(errno));
                init_poweroff();
        }
        rc = init_find_port(A.port_path, sizeof A.port_path, 10000);
        if (rc < 0) {
                agent_log("no virtio-serial port named %s", AGENT_PORT_NAME);
                init_poweroff();
        }
        A.port_fd = open(A.port_path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (A.port_fd < 0) {
                agent_log("open %s: %s", A.port_path, strerror(errno));
                init_poweroff();
        }
        /* virtio_console raises SIGIO when the host opens or closes its end: no polling needed to see
         * a host come back (the loop still looks once a second). */
        if (fcntl(A.port_fd, F_SETOWN, getpid()) < 0 ||
            fcntl(A.port_fd, F_SETFL, fcntl(A.port_fd, F_GETFL) | O_ASYNC) < 0)
                agent_log("SIGIO on %s: %s", A.port_path, strerror(errno));
        vc_frame_reader_init(&A.reader);
        A.connected = false;
        A.hup_since = agent_now_ms();
        agent_log("serving on %s", A.port_path);
        port_check_reconnect();
        loop();
        return 0;
}
