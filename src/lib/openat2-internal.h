/* openat2(2) for libvc's path walks that must stay inside a directory (glibc 2.36 has no wrapper). */
#ifndef VC_OPENAT2_INTERNAL_H
#define VC_OPENAT2_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* An fd (O_CLOEXEC always) or -errno. */
static inline int vc__openat2(int dirfd, const char *rel, int flags, mode_t mode, uint64_t resolve)
{
        struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC, .mode = mode, .resolve = resolve};
        long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        return fd < 0 ? -errno : (int)fd;
}

#endif
