/* kata-agent's main loop: one poll() over the port, the signalfd (SIGCHLD, SIGIO) and each process's
 * status socket and stdio, handing each ready fd to the file that owns it. Single-threaded; nothing here
 * blocks for long except the few methods that wait a bounded time for the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"

int agent_hangup_timeout_s = 10;

static void on_frame(const struct vc_frame *f)
{
        struct proc *p;

        switch (f->type) {
        case VC_FRAME_REQUEST:
                methods_dispatch(f->id, f->payload, f->len);
                return;
        case VC_FRAME_DATA:
                p = f->stream == VC_STREAM_STDIN ? proc_by_handle(f->id) : NULL;
                if (p == NULL) {
                        agent_debug("dropping %u bytes of input for handle %u", f->len, f->id);
                        return;
                }
                stdio_input(p, f->payload, f->len);
                return;
        default:
                agent_debug("ignoring a frame of type %u from the host", f->type);
                return;
        }
}

static const struct port_ops ops = {
    .frame = on_frame,
    .hold = procs_stdin_throttled,
    .hangup = procs_host_gone,
};

static int sigfd = -1;

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

                for (struct proc *p = procs_first(); p; p = p->next)
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
                ADD(sigfd, POLLIN, FD_SIG, 0);
                if (port_connected()) {
                        bool throttled = procs_stdin_throttled();
                        short ev = (throttled ? 0 : POLLIN) | (port_has_output() ? POLLOUT : 0);
                        ADD(port_fd(), ev, FD_PORT, 0);
                        if (throttled)
                                timeout = 1000; /* to notice a stall */
                } else {
                        timeout = 1000; /* SIGIO wakes us sooner */
                }
                for (struct proc *p = procs_first(); p; p = p->next) {
                        if (p->sync_fd >= 0)
                                ADD(p->sync_fd, POLLIN, FD_SYNC, p->handle);
                        if (p->queued <= AGENT_OUT_CAP) {
                                if (p->out_fd[0] >= 0)
                                        ADD(p->out_fd[0], POLLIN, FD_OUT0, p->handle);
                                if (p->out_fd[1] >= 0)
                                        ADD(p->out_fd[1], POLLIN, FD_OUT1, p->handle);
                        }
                        if (p->stdin_fd >= 0 && vc_buf_pending(&p->stdin_q) > 0)
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
                                while (read(sigfd, &si, sizeof si) == sizeof si)
                                        ;
                                procs_reap();
                                break;
                        }
                        case FD_PORT:
                                port_revents(re);
                                break;
                        case FD_SYNC:
                                if ((p = proc_by_handle(slots[i].handle)) && p->sync_fd >= 0)
                                        proc_sync(p);
                                break;
                        case FD_OUT0:
                        case FD_OUT1: {
                                int k = slots[i].kind == FD_OUT1;
                                if ((p = proc_by_handle(slots[i].handle)) && p->out_fd[k] >= 0)
                                        stdio_read(p, k);
                                break;
                        }
                        case FD_STDIN:
                                if ((p = proc_by_handle(slots[i].handle)))
                                        stdio_write_stdin(p);
                                break;
                        }
                }
                now = agent_now_ms();
                /* Output still open after the process exited: EOF or a quiet grace period ends it. */
                procs_expire_grace(now);
                if (!port_connected()) {
                        port_check_reconnect();
                        if (!port_connected() && agent_hangup_timeout_s > 0 &&
                            now - port_away_since() >= (uint64_t)agent_hangup_timeout_s * 1000u) {
                                agent_log("host gone for %d s", agent_hangup_timeout_s);
                                for (struct container *c = ctrs_first(); c; c = c->next)
                                        (void)ctr_kill_and_drain(c);
                                init_poweroff();
                        }
                }
                ctrs_free_dead();
                if (port_connected()) {
                        port_process(); /* held back by a stdin backlog that has drained since */
                        port_flush();
                }
        }
}

int main(int argc, char **argv)
{
        sigset_t mask;
        char port_path[64];
        int rc, fd, self_pidns;

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
        /* The guest's loopback is up before the first answer, so that a VM template carries it up: a
         * clone's create_sandbox would otherwise spend about 20 ms of TCG on it. */
        if (net_loopback_up() < 0)
                agent_log("loopback up failed");

        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGIO);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        self_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (sigfd < 0 || self_pidns < 0) {
                agent_log("signalfd or pid namespace: %s", strerror(errno));
                init_poweroff();
        }
        proc_table_init(self_pidns);
        methods_init(init_poweroff);
        rc = init_find_port(port_path, sizeof port_path, 10000);
        if (rc < 0) {
                agent_log("no virtio-serial port named %s", AGENT_PORT_NAME);
                init_poweroff();
        }
        fd = open(port_path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                agent_log("open %s: %s", port_path, strerror(errno));
                init_poweroff();
        }
        /* virtio_console raises SIGIO when the host opens or closes its end: no polling needed to see
         * a host come back (the loop still looks once a second). */
        if (fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC) < 0)
                agent_log("SIGIO on %s: %s", port_path, strerror(errno));
        port_init(fd, port_path, &ops);
        agent_log("serving on %s", port_path);
        port_check_reconnect();
        loop();
        return 0;
}
