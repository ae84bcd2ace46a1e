/* Host mounts the runtime makes for its sandboxes: bind mounts, lazy unmounts, a shared mount point.
 * Each returns 0 or the negative errno, with the path in err; nothing half-made is left behind. */
#ifndef VC_MOUNT_H
#define VC_MOUNT_H

#include <stdbool.h>

#include "vc/error.h"

/* Bind source onto target (which must exist), recursively unless !recursive, then read-only if asked;
 * a failed read-only remount undoes the bind. */
int vc_mount_bind(const char *source, const char *target, bool readonly, bool recursive, vc_error_t *err);
/* Lazy unmount (MNT_DETACH) without following a final symlink; "not mounted" is -EINVAL. */
int vc_mount_detach(const char *path, vc_error_t *err);
/* Bind path onto itself and mark it shared, so mounts made under it later propagate to mount namespaces
 * cloned from it. */
int vc_mount_make_shared(const char *path, vc_error_t *err);

#endif
