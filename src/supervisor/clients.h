/* The clients of sup.sock (the runtime's commands, the shims): the listener and one connection per
 * client, each a stream of frames (frame.h). Only transport: what the frames mean is the owner's
 * (router.c), told through the callbacks it registers, libuv style. Nothing here calls up otherwise. */
#ifndef VC_SUP_CLIENTS_H
#define VC_SUP_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "frame.h"

struct sup_client;
struct sup_clients;

/* Bytes queued to one client's socket past which the client counts as behind: the router stops reading
 * the agent channel until the queue falls under half of it (so a process writing to a slow reader waits
 * instead of the host buffering), and the stall clock below runs. 4 MiB is about 150 ms of a shim's
 * output at the channel's full speed under TCG: a client that reads is never behind for long. */
#define SUP_CLIENT_HIGH (4u * 1024 * 1024)
/* A client behind (over SUP_CLIENT_HIGH) that takes none of its queue for this long does not read: it
 * is disconnected, since the channel it holds up is every container's of the pod. 10 s is longer than a
 * loaded 2-core machine keeps a runnable reader from running; a stopped (SIGSTOP) reader is dropped. */
#define SUP_CLIENT_STALL_MS 10000u
/* Bytes queued to one client past which it is disconnected at once, behind or not: what the router does
 * not pause for (answers to a client that sends requests and never reads them). Room for a few maximal
 * frames over SUP_CLIENT_HIGH. */
#define SUP_CLIENT_QUEUE_MAX (4u * 1024 * 1024 + 4 * VC_FRAME_MAX)
/* How often queues are looked at for stalls. */
#define SUP_CLIENT_WATCH_MS 1000u

struct sup_clients_ops {
        /* one frame from a client; f->payload is valid during the call only. The client may be closed
         * from inside. */
        void (*frame)(struct sup_client *c, struct vc_frame *f);
        /* c is being closed (by either side): forget it; no frame is delivered to it any more and
         * sending to it fails. Called once per client, before its memory goes. */
        void (*closing)(struct sup_client *c);
        /* a write to c finished: time to look at queues (backpressure) */
        void (*progress)(struct sup_client *c);
};

struct sup_client {
        struct sup_client *next;
        struct sup_clients *set;
        uv_pipe_t pipe;
        struct vc_frame_reader rd;
        bool closing;
        bool paused;         /* not reading (sup_client_pause) */
        uint64_t written;    /* bytes its socket took, for the stall clock */
        uint64_t stall_mark; /* written when the clock started */
        uint64_t behind_ms;  /* when it was first seen behind with no progress; 0: not behind */
        char name[48];       /* "pid N (comm)" from the socket's peer credentials, for the log */
};

struct sup_clients {
        uv_loop_t *loop;
        uv_pipe_t listener;
        bool listening;
        bool refuse;      /* connections are closed as they arrive (the supervisor is exiting) */
        uv_timer_t watch; /* the stall clock (SUP_CLIENT_STALL_MS) */
        bool watching;
        struct sup_client *list;
        const struct sup_clients_ops *ops;
        void *data; /* the owner's */
};

void sup_clients_init(struct sup_clients *set, uv_loop_t *loop, const struct sup_clients_ops *ops,
                      void *data);
/* Listen on path, a unix socket made with mode 0600; a negative libuv error. */
int sup_clients_listen(struct sup_clients *set, const char *path);
/* Stop accepting and remove the socket; connected clients stay (and are no longer watched for stalls). */
void sup_clients_stop_listening(struct sup_clients *set, const char *path);
/* Flush what was written to every client, then close them (exit). */
void sup_clients_flush(struct sup_clients *set);
/* Close every client now, whatever is still queued to it. */
void sup_clients_abort(struct sup_clients *set);

/* Queue one frame to c; -EPIPE when c is closing. A client whose queue would pass SUP_CLIENT_QUEUE_MAX
 * is disconnected instead (-ENOBUFS), with one log line naming it. */
int sup_client_send(struct sup_client *c, uint8_t type, uint8_t stream, uint32_t id, const void *payload,
                    size_t len);
/* Bytes queued to c and not yet written to its socket. */
size_t sup_client_queued(const struct sup_client *c);
void sup_client_pause(struct sup_client *c, bool pause);
void sup_client_close(struct sup_client *c);
/* c when it is connected and not closing, else NULL (for answers that arrive after a client may have
 * gone away). */
struct sup_client *sup_client_alive(struct sup_clients *set, const struct sup_client *c);

#endif
