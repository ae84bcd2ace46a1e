/* QMP client on libuv + json-c: one connection to QEMU's monitor socket, commands answered in order,
 * per-command timeouts; plus a blocking one-shot helper for tests and short-lived callers. */
#ifndef VC_QMP_H
#define VC_QMP_H

#include <uv.h>

#include "vc/error.h"

struct json_object;
typedef struct vc_qmp vc_qmp_t;

/* A command finished. status 0: ret is the "return" value (borrowed: take a reference to keep it).
 * status < 0: msg says why: -ETIMEDOUT, -EPIPE (the peer closed; never for "quit", where it means done),
 * -ECONNREFUSED/-ENOENT (no monitor: qemu is gone), -EPROTO (not QMP), -ECANCELED (vc_qmp_close),
 * or for a QMP error reply -EOPNOTSUPP (CommandNotFound), -ENODEV (DeviceNotFound), -EIO (others). */
typedef void (*vc_qmp_reply_cb)(vc_qmp_t *q, int status, struct json_object *ret, const char *msg,
                                void *data);
/* An asynchronous QMP event ("SHUTDOWN", "STOP", ...); data may be NULL. */
typedef void (*vc_qmp_event_cb)(vc_qmp_t *q, const char *event, struct json_object *data, void *userdata);

/* Connect to the unix socket at path; the greeting and qmp_capabilities happen in the background and
 * commands issued before that are queued. */
int vc_qmp_connect(uv_loop_t *loop, const char *path, vc_qmp_t **ret, vc_error_t *err);
/* Same over an already connected stream socket (takes the fd). */
int vc_qmp_open_fd(uv_loop_t *loop, int fd, vc_qmp_t **ret, vc_error_t *err);
void vc_qmp_set_event_cb(vc_qmp_t *q, vc_qmp_event_cb cb, void *userdata);
/* Send command cmd with args (taken, may be NULL); cb is called exactly once (unless vc_qmp_close is
 * called from a callback of q: then with -ECANCELED). timeout_ms 0 means no timeout. */
int vc_qmp_execute_async(vc_qmp_t *q, const char *cmd, struct json_object *args, unsigned timeout_ms,
                         vc_qmp_reply_cb cb, void *data);
/* 1 while the connection is usable (or still being set up). */
int vc_qmp_is_open(vc_qmp_t *q);
/* Fail outstanding commands with -ECANCELED and release q once libuv has closed its handles. NULL-safe. */
void vc_qmp_close(vc_qmp_t *q);

/* Blocking: connect, negotiate, run one command, disconnect, all within timeout_ms. *ret (may be NULL)
 * gets a new reference to the return value. "quit" answered by a closed socket, or refused because the
 * monitor is gone, counts as success (qemu has stopped). */
int vc_qmp_execute(const char *path, const char *cmd, struct json_object *args, unsigned timeout_ms,
                   struct json_object **ret, vc_error_t *err);

/* The errno a QMP error class maps to (see vc_qmp_reply_cb). */
int vc_qmp_error_errno(const char *klass);

#endif
