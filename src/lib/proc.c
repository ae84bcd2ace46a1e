#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vc/proc.h"
#include "util.h"

/* /proc/<pid>/stat is "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are
 * counted from the last ')' (proc(5)). The line is at most a few hundred bytes plus a 64-byte comm. */
int vc_proc_stat(pid_t pid, char *ret_state, uint64_t *ret_ticks, vc_error_t *err)
{
        char path[64], buf[2048];
        _cleanup_close_ int fd = -1;
        ssize_t n;
        size_t len = 0;

        if (pid <= 0)
                return vc_error_setx(err, EINVAL, "invalid pid %d", (int)pid);
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return vc_error_setx(err, ESRCH, "no process %d", (int)pid);
                return vc_error_set(err, errno, "open '%s'", path);
        }
        while (len < sizeof buf - 1) {
                n = read(fd, buf + len, sizeof buf - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* the process went away between open and read */
                        if (errno == ESRCH)
                                return vc_error_setx(err, ESRCH, "no process %d", (int)pid);
                        return vc_error_set(err, errno, "read '%s'", path);
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';

        char *p = strrchr(buf, ')');
        if (p == NULL || p[1] != ' ' || p[2] == '\0')
                return vc_error_setx(err, EPROTO, "cannot parse '%s'", path);
        p += 2;
        char state = *p;
        /* p is at field 3; step to field 22 */
        for (int field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (p == NULL)
                        return vc_error_setx(err, EPROTO, "cannot parse '%s': too few fields", path);
                p++;
        }
        char *end = NULL;
        errno = 0;
        unsigned long long ticks = strtoull(p, &end, 10);
        if (errno != 0 || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
                return vc_error_setx(err, EPROTO, "cannot parse '%s': bad start time", path);
        if (ret_state)
                *ret_state = state;
        if (ret_ticks)
                *ret_ticks = (uint64_t)ticks;
        return 0;
}

int vc_proc_start_time(pid_t pid, uint64_t *ret_ticks, vc_error_t *err)
{
        return vc_proc_stat(pid, NULL, ret_ticks, err);
}

bool vc_proc_alive(pid_t pid, uint64_t start_time)
{
        char state;
        uint64_t ticks;

        if (vc_proc_stat(pid, &state, &ticks, NULL) < 0)
                return false;
        /* a zombie has exited: its status is waiting for its parent, the process is gone */
        if (state == 'Z' || state == 'X' || state == 'x')
                return false;
        return ticks == start_time;
}
