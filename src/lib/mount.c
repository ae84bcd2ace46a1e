#include <errno.h>
#include <sys/mount.h>

#include "util.h"
#include "vc/mount.h"

int vc_mount_bind(const char *source, const char *target, bool readonly, bool recursive, vc_error_t *err)
{
        if (mount(source, target, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
                return vc_error_set(err, errno, "%s", target);
        if (readonly && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
                int e = errno;
                (void)umount2(target, MNT_DETACH);
                return vc_error_set(err, e, "%s", target);
        }
        return 0;
}

int vc_mount_detach(const char *path, vc_error_t *err)
{
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                return vc_error_set(err, errno, "%s", path);
        return 0;
}

int vc_mount_make_shared(const char *path, vc_error_t *err)
{
        if (mount(path, path, NULL, MS_BIND, NULL) < 0)
                return vc_error_set(err, errno, "%s", path);
        if (mount(NULL, path, NULL, MS_SHARED, NULL) < 0) {
                int e = errno;
                (void)umount2(path, MNT_DETACH);
                return vc_error_set(err, e, "%s", path);
        }
        return 0;
}
