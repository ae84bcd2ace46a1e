/* Processes that name a sandbox directory: found in /proc, killed, waited for (vc/purge.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vc/proc.h"
#include "vc/purge.h"

#define PURGE_MAX 256

/* Whether one of pid's arguments contains needle. */
static bool mentions(pid_t pid, const char *needle)
{
        char path[64], buf[16384];
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                return false;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        for (char *a = buf; a < buf + n; a += strlen(a) + 1)
                if (strstr(a, needle))
                        return true;
        return false;
}

/* This process and its ancestors: never ours to kill. */
static bool is_self_or_ancestor(pid_t pid)
{
        pid_t p = getpid();
        for (int depth = 0; p > 1 && depth < 64; depth++) {
                struct vc_proc_stat st;
                if (p == pid)
                        return true;
                if (vc_proc_stat(p, &st, NULL) < 0)
                        return false;
                p = st.ppid;
        }
        return pid == 1;
}

int vc_purge_processes(const char *needle, int timeout_ms, int *ret_killed, vc_error_t *err)
{
        _cleanup_closedir_ DIR *d = NULL;
        struct {
                pid_t pid;
                unsigned long long start;
        } found[PURGE_MAX];
        size_t n = 0;
        struct dirent *de;
        int64_t deadline = vc_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

        if (needle == NULL || needle[0] != '/' || strlen(needle) < 8)
                return vc_error_setx(err, EINVAL, "purge: '%s' is not a directory path",
                                     needle ? needle : "");
        if ((d = opendir("/proc")) == NULL)
                return vc_error_set(err, errno, "open /proc");
        while ((de = readdir(d)) != NULL && n < PURGE_MAX) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 1 || !mentions((pid_t)pid, needle) || is_self_or_ancestor((pid_t)pid))
                        continue;
                found[n].pid = (pid_t)pid;
                if (vc_proc_start_time((pid_t)pid, &found[n].start, NULL) < 0)
                        continue;
                /* by start time too: the pid was checked just now and may not be recycled in between */
                if (vc_proc_alive((pid_t)pid, found[n].start) && kill((pid_t)pid, SIGKILL) == 0)
                        n++;
        }
        if (ret_killed)
                *ret_killed = (int)n;
        for (size_t i = 0; i < n; i++) {
                int left = (int)(deadline - vc_now_ms());
                if (!vc_proc_wait_gone(found[i].pid, found[i].start, left > 0 ? left : 0))
                        return vc_error_setx(err, ETIMEDOUT, "purge: process %d naming '%s' is still there",
                                             found[i].pid, needle);
        }
        return 0;
}
