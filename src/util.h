/* Small helpers shared by every C area: cleanup attributes and ownership hand-off,
 * in the manner of systemd's fd-util.h and crun's utils.h. */
#ifndef VC_UTIL_H
#define VC_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "base.h" /* src/common: vc_now_ms, vc_mkdir_p_at, the id rule, vc_self_relative */

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void vc__freep(void *p)
{
        free(*(void **)p);
}
static inline void vc__closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                (void)close(*fd);
                errno = saved;
        }
}
static inline void vc__fclosep(FILE **f)
{
        if (*f)
                (void)fclose(*f);
}
static inline void vc__closedirp(DIR **d)
{
        if (*d)
                (void)closedir(*d);
}

static inline void json_object_putp(json_object **o)
{
        json_object_put(*o);
}

#define _cleanup_free_ _cleanup_(vc__freep)
#define _cleanup_close_ _cleanup_(vc__closep)
#define _cleanup_fclose_ _cleanup_(vc__fclosep)
#define _cleanup_closedir_ _cleanup_(vc__closedirp)

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                                                          \
        ({                                                                                                   \
                __typeof__(p) _p = (p);                                                                      \
                (p) = NULL;                                                                                  \
                _p;                                                                                          \
        })
#define TAKE_FD(fd)                                                                                          \
        ({                                                                                                   \
                int _fd = (fd);                                                                              \
                (fd) = -1;                                                                                   \
                _fd;                                                                                         \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)

#endif
