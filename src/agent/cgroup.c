/* The container cgroups (cgroup v2, one directory per container under AGENT_CGROUP_ROOT): creation,
 * freezing, killing, statistics. Knows directories, not containers. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

int cgroup_create(const char *dir)
{
        /* a stale one (a container of that id that went before) is removed and made afresh */
        if (mkdir(dir, 0755) < 0 && (errno != EEXIST || rmdir(dir) < 0 || mkdir(dir, 0755) < 0))
                return -errno;
        return 0;
}

int cgroup_read(const char *dir, const char *file, char *buf, size_t size)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        return vc_read_file(path, buf, size);
}

int cgroup_write(const char *dir, const char *file, const char *val)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        return vc_write_file(path, val);
}

long long cgroup_key(const char *dir, const char *file, const char *key)
{
        char buf[4096];
        size_t klen = strlen(key);

        if (cgroup_read(dir, file, buf, sizeof buf) < 0)
                return -1;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
                        return strtoll(line + klen + 1, NULL, 10);
        return -1;
}

int cgroup_signal_all(const char *dir, int sig)
{
        char buf[65536];
        int rc = cgroup_read(dir, "cgroup.procs", buf, sizeof buf), n = 0;

        if (rc < 0)
                return rc;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
                pid_t pid = (pid_t)strtol(line, NULL, 10);
                if (pid > 1 && kill(pid, sig) == 0)
                        n++;
        }
        return n;
}

int cgroup_kill(const char *dir)
{
        /* a failed thaw is not fatal: a frozen cgroup still takes SIGKILL */
        (void)cgroup_write(dir, "cgroup.freeze", "0");
        if (cgroup_write(dir, "cgroup.kill", "1") < 0)
                return cgroup_signal_all(dir, SIGKILL);
        return 0;
}

int cgroup_freeze(const char *dir, bool on)
{
        int rc = cgroup_write(dir, "cgroup.freeze", on ? "1" : "0");

        if (rc < 0)
                return rc;
        for (int i = 0; i < 1000; i++) {
                if (cgroup_key(dir, "cgroup.events", "frozen") == (on ? 1 : 0))
                        return 0;
                sleep_ms(5);
        }
        return -ETIMEDOUT;
}

static long long meminfo_total(void)
{
        char buf[4096];
        char *p;

        if (vc_read_file("/proc/meminfo", buf, sizeof buf) < 0 || (p = strstr(buf, "MemTotal:")) == NULL)
                return 0;
        return strtoll(p + 9, NULL, 10) * 1024;
}

json_object *cgroup_stats(const char *dir)
{
        char buf[64];
        json_object *r, *mem, *cpu, *pids;
        long long usage = 0, limit, npids = 0;

        if (cgroup_read(dir, "memory.current", buf, sizeof buf) > 0)
                usage = strtoll(buf, NULL, 10);
        /* "max": no limit of its own, so the guest's memory is the limit */
        if (cgroup_read(dir, "memory.max", buf, sizeof buf) > 0 && strncmp(buf, "max", 3) != 0)
                limit = strtoll(buf, NULL, 10);
        else
                limit = meminfo_total();
        if (cgroup_read(dir, "pids.current", buf, sizeof buf) > 0)
                npids = strtoll(buf, NULL, 10);
        r = json_object_new_object();
        mem = json_object_new_object();
        cpu = json_object_new_object();
        pids = json_object_new_object();
        json_object_object_add(mem, "usage", json_object_new_int64(usage));
        json_object_object_add(mem, "limit", json_object_new_int64(limit));
        json_object_object_add(cpu, "usage_usec",
                               json_object_new_int64(cgroup_key(dir, "cpu.stat", "usage_usec")));
        json_object_object_add(cpu, "user_usec",
                               json_object_new_int64(cgroup_key(dir, "cpu.stat", "user_usec")));
        json_object_object_add(cpu, "system_usec",
                               json_object_new_int64(cgroup_key(dir, "cpu.stat", "system_usec")));
        json_object_object_add(pids, "current", json_object_new_int64(npids));
        json_object_object_add(r, "memory", mem);
        json_object_object_add(r, "cpu", cpu);
        json_object_object_add(r, "pids", pids);
        return r;
}
