/* Rules shared by every program of the project, the static guest agent included: the monotonic clock,
 * `mkdir -p`, small whole-file reads and writes, the id rule, and where a program's companions are.
 * No dependency beyond libc. */
#ifndef VC_COMMON_BASE_H
#define VC_COMMON_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t vc_now_ms(void);

/* `mkdir -p` (none of json-c, libuv, libmnl has it; libuv's uv_fs_mkdir makes one level): 0, or
 * -errno of the first level that could not be made, whose path is then left in ret_failed[size] when
 * given. */
int vc_mkdir_p_at(const char *path, mode_t mode, char *ret_failed, size_t size);

/* Write s to an existing file (sysfs, cgroupfs, procfs): 0 or -errno (-EIO for a short write). */
int vc_write_file(const char *path, const char *s);
/* Read at most size-1 bytes of a small file into buf, NUL-terminated: the length or -errno. */
int vc_read_file(const char *path, char *buf, size_t size);

/* Why an id breaks the rule [A-Za-z0-9][A-Za-z0-9_+.-]*, 1 to max bytes. */
enum vc_id_fault {
        VC_ID_OK = 0,
        VC_ID_EMPTY,
        VC_ID_TOO_LONG,
        VC_ID_BAD_CHAR, /* *ret_pos: the offset of the first byte not allowed */
};
enum vc_id_fault vc_id_check(const char *id, size_t max, size_t *ret_pos);
static inline bool vc_id_ok(const char *id, size_t max)
{
        return vc_id_check(id, max, NULL) == VC_ID_OK;
}

/* The directory of the running program (/proc/self/exe's), into buf: its length or -errno. */
int vc_self_dir(char *buf, size_t size);
/* The first of <self dir>/<rel> for each rel in rels (NULL-terminated) that access(2) allows with mode,
 * malloc'd into *ret: 0, -ENOENT when none is, -ENOMEM. Companion programs and data files are found this
 * way: beside the program in a build tree, at their installed place relative to it otherwise. */
int vc_self_relative(const char *const *rels, int mode, char **ret);

#endif
