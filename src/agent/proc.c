/* The agent's tables of containers and processes: creating a process (fork, then the child's report on
 * its status socket), starting it, reaping it, and forgetting it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

static struct {
        struct proc *procs;
        struct container *ctrs;
        uint32_t next_handle;
        int self_pidns;
} T = {.next_handle = 1, .self_pidns = -1};

void proc_table_init(int self_pidns)
{
        T.self_pidns = self_pidns;
}

struct proc *procs_first(void)
{
        return T.procs;
}

struct container *ctrs_first(void)
{
        return T.ctrs;
}

struct proc *proc_by_handle(uint32_t h)
{
        for (struct proc *p = T.procs; p; p = p->next)
                if (p->handle == h)
                        return p;
        return NULL;
}

static struct proc *proc_by_pid(pid_t pid)
{
        for (struct proc *p = T.procs; p; p = p->next)
                if (p->pid == pid && !p->exited)
                        return p;
        return NULL;
}

struct container *ctr_by_id(const char *id)
{
        for (struct container *c = T.ctrs; c; c = c->next)
                if (!c->dead && strcmp(c->id, id) == 0)
                        return c;
        return NULL;
}

struct proc *proc_by_exec_id(struct container *c, const char *exec_id)
{
        if (exec_id == NULL || exec_id[0] == '\0')
                return c->init;
        for (struct proc *p = T.procs; p; p = p->next)
                if (p->ctr == c && strcmp(p->exec_id, exec_id) == 0)
                        return p;
        return NULL;
}

void proc_free(struct proc *p)
{
        struct proc **pp;

        for (pp = &T.procs; *pp; pp = &(*pp)->next) {
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        }
        port_forget_account(&p->queued);
        if (p->ctr && p->ctr->init == p)
                p->ctr->init = NULL;
        close_fd(&p->sync_fd);
        close_fd(&p->start_fd);
        close_fd(&p->stdin_fd);
        close_fd(&p->out_fd[0]);
        close_fd(&p->out_fd[1]);
        vc_buf_free(&p->stdin_q);
        free(p->waiters);
        free(p->exec_id);
        free(p);
}

void ctr_free(struct container *c)
{
        struct container **cc;

        for (struct proc *p = T.procs, *next; p; p = next) {
                next = p->next;
                if (p->ctr == c)
                        proc_free(p);
        }
        if (c->cgroup && rmdir(c->cgroup) < 0 && errno != ENOENT)
                agent_log("remove cgroup %s: %s", c->cgroup, strerror(errno));
        for (cc = &T.ctrs; *cc; cc = &(*cc)->next) {
                if (*cc == c) {
                        *cc = c->next;
                        break;
                }
        }
        free(c->cgroup);
        free(c->id);
        agent_seccomp_free(c->seccomp);
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

static void forget_failed(struct proc *p);

static void proc_exited(struct proc *p, int st)
{
        p->exited = true;
        p->status = wait_status(st);
        p->grace_deadline = agent_now_ms() + AGENT_EOF_GRACE_MS;
        close_fd(&p->start_fd);
        if (p->sync_fd >= 0)
                proc_sync(p); /* a setup failure or the exec result is in the pipe already */
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
        stdio_try_finish(p);
}

void procs_reap(void)
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
void proc_sync(struct proc *p)
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
                /* the host learns of the handle before the answer, and before any output can exist */
                port_event(VC_EVENT_PROCESS, vc_rpc_params_process(p->handle, p->ctr->id, p->exec_id));
                if (p->reply_pending) {
                        json_object *r = vc_rpc_params_handle(p->handle);
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
        /* larger output pipes, for throughput (agent.h); a pipe that stays at the default still works */
        for (int i = 0; !s->terminal && i < 2; i++)
                if (fcntl(i ? io->err[1] : io->out[1], F_SETPIPE_SZ, (int)AGENT_PIPE_SIZE) < 0)
                        agent_debug("output pipe of %u bytes: %s", AGENT_PIPE_SIZE, strerror(errno));
        return 0;
}

int proc_spawn(struct spawn *s, struct container *c, const char *exec_id, int pidns, uint32_t req, char *err,
               size_t errlen)
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
        if (pidns != -1 && setns(T.self_pidns, CLONE_NEWPID) < 0)
                agent_log("cannot return to the agent's pid namespace: %s", strerror(errno));
        if (rc < 0) {
                snprintf(err, errlen, "fork: %s", strerror(-rc));
                spawn_io_close(&io);
                free(p->exec_id);
                free(p);
                return rc;
        }

        p->handle = T.next_handle++;
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
        p->next = T.procs;
        T.procs = p;
        if (c->init == NULL)
                c->init = p;
        return 0;
}

void proc_start(uint32_t req, struct proc *p)
{
        static const char go = 1;

        if (p->state == PROC_EXITED) { /* killed before it was started */
                reply_err(req, ESRCH, "process %u has exited", p->handle);
                return;
        }
        if (p->state != PROC_CREATED || p->start_fd < 0) {
                reply_err(req, EBUSY, "process %u is not waiting to start", p->handle);
                return;
        }
        /* Answer first, and put it on the port before the process is released: with one vCPU the released
         * process would otherwise run its execve before the agent gets to write. This is runc start's
         * contract too (it returns once the process is released): create already checked the program, and
         * a failing execve still ends the process with its exit event (status 127). */
        reply_ok(req, NULL);
        port_flush();
        if (write(p->start_fd, &go, 1) != 1)
                agent_log("start process %u: %s (its exit event follows)", p->handle, strerror(errno));
        close_fd(&p->start_fd);
        p->state = PROC_STARTING;
        p->reply_pending = false;
}

bool procs_stdin_throttled(void)
{
        uint64_t now = agent_now_ms();

        for (struct proc *p = T.procs; p; p = p->next)
                if (vc_buf_pending(&p->stdin_q) > AGENT_STDIN_CAP &&
                    now - p->stdin_progress < AGENT_STDIN_STALL_MS)
                        return true;
        return false;
}

void procs_host_gone(void)
{
        for (struct proc *p = T.procs; p; p = p->next) {
                p->reply_pending = false;
                p->nwaiters = 0;
        }
}

void procs_expire_grace(uint64_t now)
{
        for (struct proc *p = T.procs; p; p = p->next) {
                if (!p->exited || p->exit_sent || p->grace_deadline > now)
                        continue;
                if (p->queued > AGENT_OUT_CAP) { /* host slow, not the process: keep waiting */
                        p->grace_deadline = now + AGENT_EOF_GRACE_MS;
                        continue;
                }
                agent_debug("process %u: output still open %d ms after exit, closing it", p->handle,
                            AGENT_EOF_GRACE_MS);
                stdio_send_exit(p);
        }
}

int ctr_new(const char *id, struct container **ret, char *err, size_t errlen)
{
        struct container *c = calloc(1, sizeof *c);
        int rc;

        if (c == NULL || (c->id = strdup(id)) == NULL ||
            asprintf(&c->cgroup, "%s/%s", AGENT_CGROUP_ROOT, c->id) < 0) {
                if (c)
                        free(c->id);
                free(c);
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        rc = cgroup_create(c->cgroup);
        if (rc < 0) {
                snprintf(err, errlen, "create cgroup %s: %s", c->cgroup, strerror(-rc));
                free(c->cgroup);
                free(c->id);
                free(c);
                return rc;
        }
        c->next = T.ctrs;
        T.ctrs = c;
        *ret = c;
        return 0;
}

void ctrs_free_dead(void)
{
        for (struct container *c = T.ctrs, *next; c; c = next) {
                next = c->next;
                if (c->dead)
                        ctr_free(c);
        }
}

int ctr_kill_and_drain(struct container *c)
{
        int rc = 0;

        (void)cgroup_kill(c->cgroup);
        for (int i = 0;; i++) {
                procs_reap();
                long long populated = cgroup_key(c->cgroup, "cgroup.events", "populated");
                if (populated <= 0)
                        break;
                if (i >= 1000) {
                        rc = -EBUSY;
                        break;
                }
                sleep_ms(5);
        }
        procs_reap();
        for (struct proc *p = T.procs; p; p = p->next)
                if (p->ctr == c && !p->exit_sent && p->exited)
                        stdio_drain(p);
        return rc;
}
