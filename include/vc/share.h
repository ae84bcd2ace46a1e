/* The virtio-fs share: host-side path operations on a directory the guest can write.
 *
 * The guest is hostile, so a path inside the share is attacker input: a directory may have become a
 * symlink to /etc between the runtime's check and its use (CVE-2020-2023/2026). Every operation here is
 * relative to a directory fd the caller opened on a host-owned path, resolves with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) so nothing can lead outside that
 * directory or through a link, and mounts by fd (open_tree + move_mount). Unmounting checks that what sits
 * at the path is the mount that was recorded (its mount id) and unmounts that one through its fd.
 *
 * Layout of a sandbox's share (vc_share_setup): the runtime works in a host-only directory (`host_dir`,
 * <sandbox>/mounts); virtiofsd exports `guest_dir` (<sandbox>/shared), a read-only bind of host_dir that
 * receives its mounts by propagation. The guest thus sees the per-container directories only after the
 * host made them and can write in none of them; it writes only inside the bound rootfs and bind sources.
 *
 * Relative paths (`rel`) are '/'-separated names; absolute paths, "", "." and ".." components are refused
 * with -EINVAL. Errors are negative errnos: a symlink on the way is -ELOOP, an escape -EXDEV. */
#ifndef VC_SHARE_H
#define VC_SHARE_H

#include <stdint.h>
#include <sys/types.h>

#include "vc/error.h"

/* Open the host-owned directory path (O_PATH, no symlink as its last component) for the calls below. */
int vc_share_open(const char *path, int *ret_fd, vc_error_t *err);

/* Create rel and its missing parents as directories beneath dirfd (mkdir -p). An existing directory is
 * fine; an existing symlink or non-directory on the way is an error. */
int vc_share_mkdir(int dirfd, const char *rel, mode_t mode, vc_error_t *err);

/* Create rel as an empty regular file beneath dirfd (a mount point for a file bind); the parent must exist.
 * An existing empty regular file is fine. */
int vc_share_mkfile(int dirfd, const char *rel, mode_t mode, vc_error_t *err);

#define VC_SHARE_RDONLY (1u << 0)    /* the new mount is read-only (recursively with VC_SHARE_RECURSIVE) */
#define VC_SHARE_RECURSIVE (1u << 1) /* rbind: the source's submounts come along */

/* Bind the host path source (trusted: from the bundle or the engine's spec) onto rel beneath dirfd, which
 * must already exist with the source's type. *ret_mnt_id gets the new mount's id for vc_share_umount(). */
int vc_share_bind(const char *source, int dirfd, const char *rel, unsigned flags, uint64_t *ret_mnt_id,
                  vc_error_t *err);

/* Unmount (lazily) the mount recorded as mnt_id at rel beneath dirfd. -EINVAL when nothing is mounted there,
 * -ESTALE when another mount is, -ENOENT when rel is gone: in those cases nothing is unmounted. */
int vc_share_umount(int dirfd, const char *rel, uint64_t mnt_id, vc_error_t *err);

/* Remove rel beneath dirfd: an empty directory or a regular file; a missing one is fine. */
int vc_share_remove(int dirfd, const char *rel, vc_error_t *err);

/* Make host_dir (created 0700 if missing) a shared mount point and guest_dir (created 0700) its read-only
 * view: a bind of host_dir, slave to it, so mounts made under host_dir appear in guest_dir and in mount
 * namespaces copied from it (virtiofsd's). Nothing is left behind on failure. */
int vc_share_setup(const char *host_dir, const char *guest_dir, vc_error_t *err);

/* Undo vc_share_setup and everything mounted under either directory (lazily), then remove what is left
 * in host_dir -- empty directories and empty files only, never crossing a mount -- and both directories.
 * Missing directories are fine; safe to call more than once. */
int vc_share_teardown(const char *host_dir, const char *guest_dir, vc_error_t *err);

#endif
