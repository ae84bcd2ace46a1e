/* A process's stdio: its output read into DATA frames, its stdin written from a backlog, the end of
 * each stream, and the exit event once every stream has ended. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

void stdio_send_exit(struct proc *p)
{
        static const uint8_t none[1];

        for (int i = 0; i < 2; i++) {
                if (p->out_fd[i] >= 0) {
                        close_fd(&p->out_fd[i]);
                        port_queue(VC_FRAME_DATA, (uint8_t)(i + 1), p->handle, none, 0, &p->queued);
                }
        }
        /* a terminal process has no stderr pipe; its stream still gets its end-of-stream frame */
        if (p->terminal)
                port_queue(VC_FRAME_DATA, VC_STREAM_STDERR, p->handle, none, 0, &p->queued);
        close_fd(&p->stdin_fd);
        vc_buf_free(&p->stdin_q);

        port_event(VC_EVENT_EXIT, vc_rpc_params_exit(p->handle, p->ctr->id, p->exec_id, p->status));
        for (size_t i = 0; i < p->nwaiters; i++) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "status", json_object_new_int(p->status));
                reply_ok(p->waiters[i], r);
        }
        p->nwaiters = 0;
        p->exit_sent = true;
        agent_debug("process %u (%s/%s) exited with %d", p->handle, p->ctr->id, p->exec_id, p->status);
}

void stdio_try_finish(struct proc *p)
{
        if (p->exited && !p->exit_sent && p->state != PROC_CREATING && p->out_fd[0] < 0 && p->out_fd[1] < 0)
                stdio_send_exit(p);
}

/* A stdout/stderr pipe (or the pty) reached EOF: one empty data frame for that stream. */
static void out_eof(struct proc *p, int i)
{
        static const uint8_t none[1];

        close_fd(&p->out_fd[i]);
        port_queue(VC_FRAME_DATA, (uint8_t)(i + 1), p->handle, none, 0, &p->queued);
        stdio_try_finish(p);
}

void stdio_read(struct proc *p, int i)
{
        ssize_t n = port_queue_read(p->out_fd[i], (uint8_t)(i + 1), p->handle, AGENT_STDIO_READ, &p->queued);

        if (n > 0) {
                if (p->exited)
                        p->grace_deadline = agent_now_ms() + AGENT_EOF_GRACE_MS;
                return;
        }
        if (n == -EAGAIN || n == -EINTR || n == -ENOMEM)
                return;
        /* 0 is EOF; a pty master reads EIO once the last slave fd is closed */
        out_eof(p, i);
}

void stdio_drain(struct proc *p)
{
        /* what the pipes hold now, then the end: nothing is left to write more */
        for (int i = 0; i < 2; i++) {
                while (p->out_fd[i] >= 0 && !p->exit_sent) {
                        ssize_t n = port_queue_read(p->out_fd[i], (uint8_t)(i + 1), p->handle,
                                                    AGENT_STDIO_READ, &p->queued);
                        if (n == -EINTR)
                                continue;
                        if (n <= 0)
                                break;
                }
        }
        if (!p->exit_sent)
                stdio_send_exit(p);
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
        vc_buf_free(&p->stdin_q);
}

void stdio_write_stdin(struct proc *p)
{
        while (p->stdin_fd >= 0 && vc_buf_pending(&p->stdin_q) > 0) {
                ssize_t n = write(p->stdin_fd, vc_buf_head(&p->stdin_q), vc_buf_pending(&p->stdin_q));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        /* EPIPE: the process closed its stdin; what is left cannot be delivered */
                        p->stdin_close = true;
                        vc_buf_free(&p->stdin_q);
                        break;
                }
                vc_buf_consume(&p->stdin_q, (size_t)n);
                p->stdin_progress = agent_now_ms();
                p->stdin_dropping = false;
        }
        if (p->stdin_close && vc_buf_pending(&p->stdin_q) == 0)
                stdin_close(p);
}

void stdio_input(struct proc *p, const uint8_t *data, size_t len)
{
        if (p->stdin_fd < 0 || p->stdin_close) {
                agent_debug("dropping %zu bytes of input for handle %u", len, p->handle);
                return;
        }
        if (len == 0) {
                p->stdin_close = true;
        } else if (vc_buf_pending(&p->stdin_q) > AGENT_STDIN_CAP) {
                /* only reachable once the process stalled: see procs_stdin_throttled() */
                if (!p->stdin_dropping)
                        agent_log("process %u does not read its stdin: dropping input", p->handle);
                p->stdin_dropping = true;
                return;
        } else {
                if (vc_buf_pending(&p->stdin_q) == 0)
                        p->stdin_progress = agent_now_ms();
                if (vc_buf_append(&p->stdin_q, data, len) < 0) {
                        agent_log("out of memory for the stdin of process %u", p->handle);
                        return;
                }
        }
        stdio_write_stdin(p);
}
