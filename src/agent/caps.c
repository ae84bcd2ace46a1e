/* process.capabilities: the five sets read from the spec, and applied in the child as runc applies them
 * (the bounding set dropped before the uid change, which keeps the permitted set through PR_SET_KEEPCAPS,
 * then effective, permitted and inheritable set and the ambient set raised).
 *
 * Hand-written rather than through libcap: the agent needs a table of the kernel's capability names (the
 * constants of <linux/capability.h>, in cap_names.h) and two system calls, and libcap would be one more
 * static library in the guest for that. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "cap_names.h"

#define NAME(c) {#c, c},
static const struct {
        const char *name;
        int value;
} cap_names[] = {VC_CAPABILITIES(NAME)};
#undef NAME

/* The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap), or the newest this
 * agent was built with when that cannot be read. */
int caps_last_cap(void)
{
        static int last = -1;
        char buf[16];

        if (last >= 0)
                return last;
        last = CAP_LAST_CAP;
        if (vc_read_file("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) > 0) {
                int n = atoi(buf);
                if (n > 0 && n < 64)
                        last = n;
        }
        return last;
}

int caps_from_name(const char *name)
{
        for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
                if (strcmp(cap_names[i].name, name) == 0)
                        return cap_names[i].value;
        return -1;
}

static int parse_set(json_object *o, const char *key, uint64_t *out, char *err, size_t errlen)
{
        json_object *a;
        size_t n;

        *out = 0;
        if (!json_object_object_get_ex(o, key, &a) || a == NULL)
                return 0;
        if (!json_object_is_type(a, json_type_array)) {
                snprintf(err, errlen, "process.capabilities.%s: expected array", key);
                return -EINVAL;
        }
        n = json_object_array_length(a);
        if (n > 256) {
                snprintf(err, errlen, "process.capabilities.%s: more than 256 entries", key);
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                const char *name;
                int c;
                if (!json_object_is_type(e, json_type_string) || json_object_get_string_len(e) > 64) {
                        snprintf(err, errlen, "process.capabilities.%s[%zu]: expected a capability name", key,
                                 i);
                        return -EINVAL;
                }
                name = json_object_get_string(e);
                c = caps_from_name(name);
                /* as runc: a name this agent or the guest kernel does not know is skipped, with a word */
                if (c < 0) {
                        agent_log("process.capabilities.%s: unknown capability '%.64s', ignoring", key, name);
                        continue;
                }
                if (c > caps_last_cap()) {
                        agent_log("process.capabilities.%s: '%s' is not supported by the kernel, ignoring",
                                  key, name);
                        continue;
                }
                *out |= 1ull << c;
        }
        return 0;
}

int caps_parse(struct caps *c, json_object *o, char *err, size_t errlen)
{
        int rc;

        /* as runc: no capabilities object gives the process none at all */
        memset(c, 0, sizeof *c);
        if (o == NULL)
                return 0;
        if (!json_object_is_type(o, json_type_object)) {
                snprintf(err, errlen, "process.capabilities: expected object");
                return -EINVAL;
        }
        if ((rc = parse_set(o, "bounding", &c->bounding, err, errlen)) < 0 ||
            (rc = parse_set(o, "effective", &c->effective, err, errlen)) < 0 ||
            (rc = parse_set(o, "inheritable", &c->inheritable, err, errlen)) < 0 ||
            (rc = parse_set(o, "permitted", &c->permitted, err, errlen)) < 0 ||
            (rc = parse_set(o, "ambient", &c->ambient, err, errlen)) < 0)
                return rc;
        return 0;
}

int caps_drop_bounding(const struct caps *c)
{
        for (int i = 0; i <= caps_last_cap(); i++)
                if (!(c->bounding & (1ull << i)) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        return 0;
}

int caps_apply(const struct caps *c)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2];

        for (int i = 0; i < 2; i++) {
                d[i].effective = (uint32_t)(c->effective >> (32 * i));
                d[i].permitted = (uint32_t)(c->permitted >> (32 * i));
                d[i].inheritable = (uint32_t)(c->inheritable >> (32 * i));
        }
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        for (int i = 0; i <= caps_last_cap(); i++)
                if ((c->ambient & (1ull << i)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
                        return -errno;
        return 0;
}
