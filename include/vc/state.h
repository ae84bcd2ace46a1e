/* The state store under --root: one directory per container holding state.json, one lock per sandbox.
 *
 *   <root>/<id>/state.json        a container's state (OCI state plus the runtime's own fields)
 *   <root>/.lock/<sandbox-id>     the sandbox's flock file
 *   <root>/.sandbox/<sandbox-id>/ the sandbox's supervisor, sockets and shared directory
 * Container ids cannot start with '.', so the dot directories never collide with a container. */
#ifndef VC_STATE_H
#define VC_STATE_H

#include <sys/types.h>
#include <json-c/json.h>

#include "vc/error.h"

/* Write data to path atomically: temp file in the same directory, fsync, rename, fsync of the directory. */
int vc_atomic_write(const char *path, const void *data, size_t len, mode_t mode, vc_error_t *err);
/* mkdir -p with mode for the created components. */
int vc_mkdir_p(const char *path, mode_t mode, vc_error_t *err);

int vc_state_save(const char *root, const char *id, json_object *state, vc_error_t *err);
/* -ENOENT with "container does not exist" when there is no such container. */
int vc_state_load(const char *root, const char *id, json_object **ret, vc_error_t *err);
/* Remove state.json and the container directory (and nothing else: a directory with other files left is
 * an error naming them). Removing a missing container is not an error. */
int vc_state_remove(const char *root, const char *id, vc_error_t *err);
/* Ids of the stored containers, sorted; *ret is a NULL-terminated array to free with vc_strv_free. */
int vc_state_list(const char *root, char ***ret, vc_error_t *err);
char **vc_strv_free(char **v);

typedef struct vc_lock vc_lock_t;
/* Take <root>/.lock/<name> exclusively, waiting up to timeout_ms (-1: forever, 0: try once). -EAGAIN with
 * "sandbox 'x' is locked by another command" on timeout. */
int vc_lock_acquire(const char *root, const char *name, int timeout_ms, vc_lock_t **ret, vc_error_t *err);
/* Release; with remove, unlink the lock file first (done by the command that destroys the sandbox;
 * waiters notice the unlinked file and retry on a fresh one). NULL-safe, returns NULL. */
vc_lock_t *vc_lock_release(vc_lock_t *lock, int remove);

#endif
