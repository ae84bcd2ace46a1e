/* linux.resources on the container's cgroup v2 in the guest, converted as runc converts them for cgroup v2
 * (cpu.shares to cpu.weight, memory.swap to memory.swap.max less the memory limit, ...). The same code serves
 * create_container and update_container: a field that is absent is left as it is. What a cgroup v2 in a
 * VM cannot do (realtime CPU, swappiness, the OOM killer switch, block devices the guest does not have)
 * is refused with the field named, never dropped. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

struct res_ctx {
        const char *dir;
        bool update;
        char *err;
        size_t errlen;
};

static int fail(struct res_ctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct res_ctx *r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int put(struct res_ctx *r, const char *field, const char *file, const char *val)
{
        char path[PATH_MAX];
        int rc;

        snprintf(path, sizeof path, "%s/%s", r->dir, file);
        rc = vc_write_file(path, val);
        if (rc == -ENOENT)
                snprintf(r->err, r->errlen, "linux.resources.%s: the guest kernel has no %s", field, file);
        else if (rc < 0)
                snprintf(r->err, r->errlen, "linux.resources.%s: write %s '%s': %s", field, file, val,
                         strerror(-rc));
        return rc;
}

/* An integer member: false when absent; -EINVAL in *rc when it is not an integer. */
static bool num(struct res_ctx *r, json_object *o, const char *key, const char *ctx, int64_t *out, int *rc)
{
        json_object *v;

        *rc = 0;
        if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
                return false;
        if (!json_object_is_type(v, json_type_int)) {
                *rc = fail(r, "linux.resources.%s.%s: expected an integer", ctx, key);
                return false;
        }
        *out = json_object_get_int64(v);
        /* json-c keeps integers above INT64_MAX as uint64: unlimited, as -1 */
        if (*out == INT64_MAX)
                *out = -1;
        return true;
}

static json_object *obj(struct res_ctx *r, json_object *o, const char *key, int *rc)
{
        json_object *v;

        *rc = 0;
        if (!json_object_object_get_ex(o, key, &v) || v == NULL)
                return NULL;
        if (!json_object_is_type(v, json_type_object)) {
                *rc = fail(r, "linux.resources.%s: expected object", key);
                return NULL;
        }
        return v;
}

static bool present(json_object *o, const char *key)
{
        json_object *v;

        if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
                return false;
        if (json_object_is_type(v, json_type_array))
                return json_object_array_length(v) > 0;
        if (json_object_is_type(v, json_type_object))
                return json_object_object_length(v) > 0;
        return true;
}

static long long mem_total(void)
{
        char buf[4096], *p;

        if (vc_read_file("/proc/meminfo", buf, sizeof buf) < 0 || (p = strstr(buf, "MemTotal:")) == NULL)
                return 0;
        return strtoll(p + 9, NULL, 10) * 1024;
}

static int memory(struct res_ctx *r, json_object *m)
{
        int64_t limit = 0, v;
        bool has_limit;
        char val[32];
        int rc;

        if ((has_limit = num(r, m, "limit", "memory", &limit, &rc)) && limit != 0) {
                long long total = mem_total();
                /* the VM was sized at create: a limit above its memory cannot be met without memory hot-plug
                 */
                if (r->update && limit > 0 && total > 0 && limit > total)
                        return fail(
                            r,
                            "linux.resources.memory.limit: %lld bytes is more than the VM's memory (%lld "
                            "bytes), which cannot grow",
                            (long long)limit, total);
                snprintf(val, sizeof val, limit < 0 ? "max" : "%lld", (long long)limit);
                if ((rc = put(r, "memory.limit", "memory.max", val)) < 0)
                        return rc;
        }
        if (rc < 0)
                return rc;
        if (num(r, m, "reservation", "memory", &v, &rc) && v != 0) {
                snprintf(val, sizeof val, v < 0 ? "max" : "%lld", (long long)v);
                if ((rc = put(r, "memory.reservation", "memory.low", val)) < 0)
                        return rc;
        }
        if (rc < 0)
                return rc;
        if (num(r, m, "swap", "memory", &v, &rc) && v != 0) {
                /* cgroup v2 counts swap alone, the spec memory plus swap */
                if (v > 0 && (!has_limit || limit <= 0 || v < limit))
                        return fail(r, "linux.resources.memory.swap: must be -1 or at least memory.limit");
                snprintf(val, sizeof val, v < 0 ? "max" : "%lld", (long long)(v - limit));
                if ((rc = put(r, "memory.swap", "memory.swap.max", val)) < 0)
                        return rc;
        }
        if (rc < 0)
                return rc;
        if (num(r, m, "swappiness", "memory", &v, &rc))
                return fail(r, "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness");
        if (rc < 0)
                return rc;
        json_object *d;
        if (json_object_object_get_ex(m, "disableOOMKiller", &d) && json_object_get_boolean(d))
                return fail(
                    r, "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer");
        if (num(r, m, "kernel", "memory", &v, &rc) || num(r, m, "kernelTCP", "memory", &v, &rc))
                agent_log("linux.resources.memory.kernel/kernelTCP: cgroup v2 accounts kernel memory in "
                          "memory.max, "
                          "ignoring");
        return rc;
}

static int cpu(struct res_ctx *r, json_object *c)
{
        int64_t shares, quota = 0, period = 0, v;
        bool has_quota, has_period;
        char val[64];
        int rc, rc2;

        if (num(r, c, "shares", "cpu", &shares, &rc) && shares != 0) {
                if (shares < 2 || shares > 262144)
                        return fail(r, "linux.resources.cpu.shares: %lld is not within 2..262144",
                                    (long long)shares);
                /* runc's conversion of cgroup v1 shares [2, 262144] to cgroup v2 weight [1, 10000] */
                snprintf(val, sizeof val, "%lld", 1 + ((long long)shares - 2) * 9999 / 262142);
                if ((rc = put(r, "cpu.shares", "cpu.weight", val)) < 0)
                        return rc;
        }
        if (rc < 0)
                return rc;
        has_quota = num(r, c, "quota", "cpu", &quota, &rc);
        has_period = num(r, c, "period", "cpu", &period, &rc2);
        if (rc < 0 || rc2 < 0)
                return rc < 0 ? rc : rc2;
        if ((has_quota && quota != 0) || (has_period && period != 0)) {
                if (has_period && period != 0 && (period < 1000 || period > 1000000))
                        return fail(r, "linux.resources.cpu.period: %lld is not within 1000..1000000",
                                    (long long)period);
                if (has_quota && quota > 0 && quota < 1000)
                        return fail(r, "linux.resources.cpu.quota: %lld is less than 1000", (long long)quota);
                if (!has_period || period == 0) {
                        /* keep the period the cgroup has */
                        char cur[64];
                        snprintf(val, sizeof val, "%s/cpu.max", r->dir);
                        period = 100000;
                        if (vc_read_file(val, cur, sizeof cur) > 0 && strchr(cur, ' '))
                                period = strtoll(strchr(cur, ' ') + 1, NULL, 10);
                }
                if (!has_quota || quota == 0) {
                        char cur[64];
                        snprintf(val, sizeof val, "%s/cpu.max", r->dir);
                        quota = -1;
                        if (vc_read_file(val, cur, sizeof cur) > 0 && strncmp(cur, "max", 3) != 0)
                                quota = strtoll(cur, NULL, 10);
                }
                if (quota > 0)
                        snprintf(val, sizeof val, "%lld %lld", (long long)quota, (long long)period);
                else
                        snprintf(val, sizeof val, "max %lld", (long long)period);
                if ((rc = put(r, "cpu.quota", "cpu.max", val)) < 0)
                        return rc;
        }
        if (num(r, c, "realtimeRuntime", "cpu", &v, &rc) || num(r, c, "realtimePeriod", "cpu", &v, &rc))
                return fail(r, "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime CPU budget");
        if (rc < 0)
                return rc;
        if (num(r, c, "idle", "cpu", &v, &rc)) {
                snprintf(val, sizeof val, "%lld", (long long)v);
                if ((rc = put(r, "cpu.idle", "cpu.idle", val)) < 0)
                        return rc;
        }
        if (rc < 0)
                return rc;
        static const struct {
                const char *key, *file;
        } sets[] = {{"cpus", "cpuset.cpus"}, {"mems", "cpuset.mems"}};
        for (size_t i = 0; i < 2; i++) {
                json_object *s;
                if (!json_object_object_get_ex(c, sets[i].key, &s) || s == NULL)
                        continue;
                if (!json_object_is_type(s, json_type_string) || json_object_get_string_len(s) > 1024 ||
                    strspn(json_object_get_string(s), "0123456789,-") !=
                        (size_t)json_object_get_string_len(s))
                        return fail(r, "linux.resources.cpu.%s: expected a list such as '0-2,4'",
                                    sets[i].key);
                if (json_object_get_string_len(s) == 0)
                        continue;
                char field[32];
                snprintf(field, sizeof field, "cpu.%s", sets[i].key);
                if ((rc = put(r, field, sets[i].file, json_object_get_string(s))) < 0)
                        return rc;
        }
        return 0;
}

static int hugetlb(struct res_ctx *r, json_object *a)
{
        if (!json_object_is_type(a, json_type_array))
                return fail(r, "linux.resources.hugepageLimits: expected array");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *e = json_object_array_get_idx(a, i), *size;
                char file[64], val[32], field[48];
                int64_t limit;
                int rc;
                if (!json_object_is_type(e, json_type_object) ||
                    !json_object_object_get_ex(e, "pageSize", &size) ||
                    !json_object_is_type(size, json_type_string) || json_object_get_string_len(size) > 16 ||
                    strspn(json_object_get_string(size), "0123456789KMGB") !=
                        (size_t)json_object_get_string_len(size) ||
                    !num(r, e, "limit", "hugepageLimits[]", &limit, &rc))
                        return rc < 0
                                   ? rc
                                   : fail(r, "linux.resources.hugepageLimits[%zu]: needs pageSize and limit",
                                          i);
                snprintf(file, sizeof file, "hugetlb.%s.max", json_object_get_string(size));
                snprintf(val, sizeof val, limit < 0 ? "max" : "%lld", (long long)limit);
                snprintf(field, sizeof field, "hugepageLimits[%zu]", i);
                if ((rc = put(r, field, file, val)) < 0)
                        return rc;
        }
        return 0;
}

/* linux.resources.unified: cgroup v2 files by name, written as given (runc's rule), only plain file names
 * of an interface file the cgroup has. */
static int unified(struct res_ctx *r, json_object *u)
{
        json_object_object_foreach(u, key, val)
        {
                int rc;
                if (strlen(key) > 64 ||
                    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_.") != strlen(key) ||
                    strchr(key, '.') == NULL || key[0] == '.' || strncmp(key, "cgroup.", 7) == 0)
                        return fail(r, "linux.resources.unified: invalid key '%.64s'", key);
                if (!json_object_is_type(val, json_type_string) || json_object_get_string_len(val) > 4096)
                        return fail(r, "linux.resources.unified.%s: expected a string", key);
                char field[80];
                snprintf(field, sizeof field, "unified.%s", key);
                if ((rc = put(r, field, key, json_object_get_string(val))) < 0)
                        return rc;
        }
        return 0;
}

int resources_apply(const char *cgroup_dir, json_object *res, bool update, char *err, size_t errlen)
{
        struct res_ctx r = {.dir = cgroup_dir, .update = update, .err = err, .errlen = errlen};
        json_object *m, *c, *p, *v;
        int64_t n;
        int rc;

        if (res == NULL)
                return 0;
        if (!json_object_is_type(res, json_type_object))
                return fail(&r, "linux.resources: expected object");
        /* the guest's root is virtio-fs: it has none of the block devices blockIO names, nor RDMA devices,
         * nor the cgroup v1 net_cls/net_prio network controllers */
        if (present(res, "blockIO"))
                return fail(&r, "linux.resources.blockIO: not supported: the guest has no block devices");
        if (update && present(res, "devices"))
                return fail(&r,
                            "linux.resources.devices: the device rules cannot change on a running container");
        if (present(res, "rdma"))
                return fail(&r, "linux.resources.rdma: not supported in the guest");
        if (present(res, "network"))
                return fail(&r, "linux.resources.network: cgroup v2 has no net_cls/net_prio");
        if ((m = obj(&r, res, "memory", &rc)) && (rc = memory(&r, m)) < 0)
                return rc;
        if (rc < 0)
                return rc;
        if ((c = obj(&r, res, "cpu", &rc)) && (rc = cpu(&r, c)) < 0)
                return rc;
        if (rc < 0)
                return rc;
        if ((p = obj(&r, res, "pids", &rc)) && num(&r, p, "limit", "pids", &n, &rc) && n != 0) {
                char val[32];
                snprintf(val, sizeof val, n < 0 ? "max" : "%lld", (long long)n);
                if ((rc = put(&r, "pids.limit", "pids.max", val)) < 0)
                        return rc;
        }
        if (rc < 0)
                return rc;
        if (json_object_object_get_ex(res, "hugepageLimits", &v) && v && (rc = hugetlb(&r, v)) < 0)
                return rc;
        if ((v = obj(&r, res, "unified", &rc)) && (rc = unified(&r, v)) < 0)
                return rc;
        return rc;
}
