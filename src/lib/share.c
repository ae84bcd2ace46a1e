/* The virtio-fs share: path operations that no guest-planted link can redirect (see vc/share.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "openat2-internal.h"
#include "util.h"
#include "vc/share.h"

#define SHARE_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
#define SHARE_MAX_DEPTH 16

struct fd_path {
        char s[32];
};
/* "/proc/self/fd/N": the file an fd refers to, for calls that take a path */
static struct fd_path fd_path(int fd)
{
        struct fd_path p;
        snprintf(p.s, sizeof p.s, "/proc/self/fd/%d", fd);
        return p;
}

/* A relative path of plain names: no leading '/', no "", "." or ".." component. */
static int share_check_rel(const char *rel, vc_error_t *err)
{
        if (rel == NULL || rel[0] == '\0' || rel[0] == '/')
                return vc_error_setx(err, EINVAL, "'%s' is not a relative path", rel ? rel : "(null)");
        if (strlen(rel) >= PATH_MAX)
                return vc_error_setx(err, ENAMETOOLONG, "path in the share is too long");
        for (const char *p = rel; *p;) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p);
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return vc_error_setx(err, EINVAL,
                                             "'%s': only plain names may form a path in the share", rel);
                p = *e ? e + 1 : e;
        }
        return 0;
}

static int share_fail(vc_error_t *err, int neg, const char *what, const char *rel)
{
        if (neg == -ELOOP)
                return vc_error_setx(
                    err, ELOOP, "%s '%s': a symbolic link is on the way, refusing to follow it", what, rel);
        if (neg == -EXDEV)
                return vc_error_setx(err, EXDEV, "%s '%s': resolves outside the share", what, rel);
        return vc_error_set(err, -neg, "%s '%s'", what, rel);
}

/* Split rel into its parent (opened O_PATH beneath dirfd) and last name. */
static int share_parent(int dirfd, const char *rel, int *ret_fd, char **ret_name)
{
        _cleanup_free_ char *dup = strdup(rel);
        if (dup == NULL)
                return -ENOMEM;
        char *slash = strrchr(dup, '/');
        int fd;
        if (slash == NULL) {
                fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
        } else {
                *slash = '\0';
                fd = vc__openat2(dirfd, dup, O_PATH | O_DIRECTORY, 0, SHARE_RESOLVE);
                if (fd < 0)
                        return fd;
        }
        char *name = strdup(slash ? slash + 1 : dup);
        if (name == NULL) {
                close(fd);
                return -ENOMEM;
        }
        *ret_fd = fd;
        *ret_name = name;
        return 0;
}

/* The id of the mount whose root rel leads to (negative errno on failure). */
static int64_t share_mnt_id_at(int dirfd, const char *rel)
{
        _cleanup_close_ int fd = vc__openat2(dirfd, rel, O_PATH, 0, SHARE_RESOLVE);
        struct statx stx;
        if (fd < 0)
                return fd;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
                return -errno;
        return (int64_t)stx.stx_mnt_id;
}

int vc_share_open(const char *path, int *ret_fd, vc_error_t *err)
{
        int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return vc_error_set(err, errno, "open share directory '%s'", path);
        *ret_fd = fd;
        return 0;
}

int vc_share_mkdir(int dirfd, const char *rel, mode_t mode, vc_error_t *err)
{
        _cleanup_free_ char *dup = NULL;
        _cleanup_close_ int cur = -1;
        int r;

        if ((r = share_check_rel(rel, err)) < 0)
                return r;
        if ((dup = strdup(rel)) == NULL)
                return vc_error_set(err, ENOMEM, "create '%s'", rel);
        if ((cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 3)) < 0)
                return vc_error_set(err, errno, "create '%s'", rel);
        /* one name at a time, so each missing directory is made in a directory already opened beneath */
        for (char *save = NULL, *name = strtok_r(dup, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
                int fd = vc__openat2(cur, name, O_PATH | O_DIRECTORY, 0, SHARE_RESOLVE);
                if (fd == -ENOENT) {
                        if (mkdirat(cur, name, mode) < 0 && errno != EEXIST)
                                return vc_error_set(err, errno, "create '%s'", rel);
                        fd = vc__openat2(cur, name, O_PATH | O_DIRECTORY, 0, SHARE_RESOLVE);
                }
                if (fd < 0)
                        return share_fail(err, fd, "create", rel);
                close(cur);
                cur = fd;
        }
        return 0;
}

int vc_share_mkfile(int dirfd, const char *rel, mode_t mode, vc_error_t *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if ((r = share_check_rel(rel, err)) < 0)
                return r;
        /* O_NOFOLLOW is implied by RESOLVE_NO_SYMLINKS; O_NONBLOCK keeps a planted FIFO from blocking us */
        fd = vc__openat2(dirfd, rel, O_WRONLY | O_CREAT | O_NONBLOCK, mode, SHARE_RESOLVE);
        if (fd < 0)
                return share_fail(err, fd, "create", rel);
        if (fstat(fd, &st) < 0)
                return vc_error_set(err, errno, "create '%s'", rel);
        if (!S_ISREG(st.st_mode) || st.st_size != 0)
                return vc_error_setx(err, EEXIST, "create '%s': something else is there", rel);
        return 0;
}

int vc_share_bind(const char *source, int dirfd, const char *rel, unsigned flags, uint64_t *ret_mnt_id,
                  vc_error_t *err)
{
        _cleanup_close_ int tree = -1, target = -1;
        unsigned rec = (flags & VC_SHARE_RECURSIVE) ? AT_RECURSIVE : 0;
        struct statx stx;
        int64_t id;
        int r;

        if ((r = share_check_rel(rel, err)) < 0)
                return r;
        if (source == NULL || source[0] != '/')
                return vc_error_setx(err, EINVAL, "bind source '%s' is not an absolute path",
                                     source ? source : "(null)");
        /* a detached copy of the source, made read-only before anyone can see it */
        tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
        if (tree < 0)
                return vc_error_set(err, errno, "bind '%s'", source);
        if (flags & VC_SHARE_RDONLY) {
                struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
                if (mount_setattr(tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0)
                        return vc_error_set(err, errno, "bind '%s' read-only", source);
        }
        target = vc__openat2(dirfd, rel, O_PATH, 0, SHARE_RESOLVE);
        if (target < 0)
                return share_fail(err, target, "mount point", rel);
        if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return vc_error_set(err, errno, "bind '%s' on '%s'", source, rel);
        if (statx(tree, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID)) {
                r = errno ? errno : ENOTSUP;
                (void)umount2(fd_path(tree).s, MNT_DETACH);
                return vc_error_set(err, r, "mount id of '%s'", rel);
        }
        /* the mount point was opened beneath the share, so the mount is too; but its name may have been
         * swapped since. Now that it is a mount point it cannot be renamed: check it sits at rel. */
        if ((id = share_mnt_id_at(dirfd, rel)) < 0 || (uint64_t)id != stx.stx_mnt_id) {
                (void)umount2(fd_path(tree).s, MNT_DETACH);
                return vc_error_setx(err, EAGAIN, "bind on '%s': the mount point was moved while mounting",
                                     rel);
        }
        *ret_mnt_id = stx.stx_mnt_id;
        return 0;
}

int vc_share_umount(int dirfd, const char *rel, uint64_t mnt_id, vc_error_t *err)
{
        _cleanup_close_ int fd = -1;
        struct statx stx;
        int r;

        if ((r = share_check_rel(rel, err)) < 0)
                return r;
        /* the walk crosses into whatever is mounted on rel: fd is the top mount's root */
        fd = vc__openat2(dirfd, rel, O_PATH, 0, SHARE_RESOLVE);
        if (fd < 0)
                return share_fail(err, fd, "unmount", rel);
        if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
                return vc_error_set(err, errno, "unmount '%s'", rel);
        if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
            !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
                return vc_error_setx(err, EINVAL, "unmount '%s': not mounted", rel);
        if (stx.stx_mnt_id != mnt_id)
                return vc_error_setx(err, ESTALE, "unmount '%s': mount %llu is there, not the recorded %llu",
                                     rel, (unsigned long long)stx.stx_mnt_id, (unsigned long long)mnt_id);
        /* through the fd's magic link: the mount just checked, not whatever the path leads to now */
        if (umount2(fd_path(fd).s, MNT_DETACH) < 0)
                return vc_error_set(err, errno, "unmount '%s'", rel);
        return 0;
}

int vc_share_remove(int dirfd, const char *rel, vc_error_t *err)
{
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int parent = -1;
        struct stat st;
        int r;

        if ((r = share_check_rel(rel, err)) < 0)
                return r;
        r = share_parent(dirfd, rel, &parent, &name);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return share_fail(err, r, "remove", rel);
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : vc_error_set(err, errno, "remove '%s'", rel);
        /* unlinkat never follows: a planted link goes itself, its target stays */
        r = unlinkat(parent, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
        if (r < 0 && errno != ENOENT)
                return vc_error_set(err, errno, "remove '%s'", rel);
        return 0;
}

static int share_mkdir_abs(const char *path)
{
        struct stat st;
        if (mkdir(path, 0700) == 0)
                return 1;
        if (errno != EEXIST)
                return -errno;
        if (lstat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int vc_share_setup(const char *host_dir, const char *guest_dir, vc_error_t *err)
{
        int made_host = 0, made_guest = 0, host_bound = 0, guest_bound = 0, r;
        const char *what;

        if ((r = share_mkdir_abs(host_dir)) < 0)
                return vc_error_set(err, -r, "create '%s'", host_dir);
        made_host = r;
        if ((r = share_mkdir_abs(guest_dir)) < 0) {
                vc_error_set(err, -r, "create '%s'", guest_dir);
                goto fail;
        }
        made_guest = r;
        what = host_dir;
        if (mount(host_dir, host_dir, NULL, MS_BIND, NULL) < 0)
                goto fail_errno;
        host_bound = 1;
        if (mount(NULL, host_dir, NULL, MS_SHARED, NULL) < 0)
                goto fail_errno;
        what = guest_dir;
        if (mount(host_dir, guest_dir, NULL, MS_BIND, NULL) < 0)
                goto fail_errno;
        guest_bound = 1;
        /* a slave receives host_dir's mounts but sends nothing back: a bind onto guest_dir made later (the
         * supervisor's) does not cover host_dir */
        if (mount(NULL, guest_dir, NULL, MS_SLAVE, NULL) < 0 ||
            mount(NULL, guest_dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                goto fail_errno;
        return 0;

fail_errno:
        vc_error_set(err, errno, "share setup: mount '%s'", what);
fail:
        if (guest_bound)
                (void)umount2(guest_dir, MNT_DETACH);
        if (host_bound)
                (void)umount2(host_dir, MNT_DETACH);
        if (made_guest)
                (void)rmdir(guest_dir);
        if (made_host)
                (void)rmdir(host_dir);
        return -(*err)->code;
}

/* Unmount every mount stacked on path (each detaches its submounts). */
static void share_umount_all(const char *path)
{
        for (int i = 0; i < SHARE_MAX_DEPTH; i++)
                if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        break;
}

/* Remove what a host_dir holds once nothing is mounted in it: empty files and directories, depth first.
 * RESOLVE_NO_XDEV: a mount that is somehow still there (a bundle's rootfs) is never entered. */
static int share_rmtree(int dirfd, int depth)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd, r = 0;

        if (depth > SHARE_MAX_DEPTH)
                return -ELOOP;
        if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return -errno;
        if ((d = fdopendir(fd)) == NULL) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d)) != NULL) {
                struct stat st;
                if (STREQ(de->d_name, ".") || STREQ(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int sub = vc__openat2(dirfd, de->d_name, O_RDONLY | O_DIRECTORY, 0,
                                              SHARE_RESOLVE | RESOLVE_NO_XDEV);
                        if (sub < 0) {
                                r = sub;
                                continue;
                        }
                        int rr = share_rmtree(sub, depth + 1);
                        close(sub);
                        if (rr < 0)
                                r = rr;
                        else if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0)
                                r = -errno;
                } else if ((S_ISREG(st.st_mode) && st.st_size == 0) || S_ISLNK(st.st_mode)) {
                        if (unlinkat(dirfd, de->d_name, 0) < 0)
                                r = -errno;
                } else {
                        r = -ENOTEMPTY;
                }
        }
        return r;
}

int vc_share_teardown(const char *host_dir, const char *guest_dir, vc_error_t *err)
{
        _cleanup_close_ int fd = -1;
        int r;

        share_umount_all(guest_dir);
        share_umount_all(host_dir);
        if (rmdir(guest_dir) < 0 && errno != ENOENT)
                return vc_error_set(err, errno, "remove '%s'", guest_dir);
        fd = open(host_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : vc_error_set(err, errno, "remove '%s'", host_dir);
        if ((r = share_rmtree(fd, 0)) < 0)
                return vc_error_set(err, -r, "remove what is left in '%s'", host_dir);
        if (rmdir(host_dir) < 0 && errno != ENOENT)
                return vc_error_set(err, errno, "remove '%s'", host_dir);
        return 0;
}
