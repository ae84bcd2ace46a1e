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
        bool paused;   /* not reading (sup_client_pause) */
        char name[48]; /* "pid N (comm)" from the socket's peer credentials, for the log */
};

struct sup_clients {
        uv_loop_t *loop;
        uv_pipe_t listener;
        bool listening;
        bool refuse; /* connections are closed as they arrive (the supervisor is exiting) */
        struct sup_client *list;
        const struct sup_clients_ops *ops;
        void *data; /* the owner's */
};

void sup_clients_init(struct sup_clients *set, uv_loop_t *loop, const struct sup_clients_ops *ops,
                      void *data);
/* Listen on path, a unix socket made with mode 0600; a negative libuv error. */
int sup_clients_listen(struct sup_clients *set, const char *path);
/* Stop accepting and remove the socket; connected clients stay. */
void sup_clients_stop_listening(struct sup_clients *set, const char *path);
/* Flush what was written to every client, then close them (exit). */
void sup_clients_flush(struct sup_clients *set);
/* Close every client now, whatever is still queued to it. */
void sup_clients_abort(struct sup_clients *set);

/* Queue one frame to c; -EPIPE when c is closing. */
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
