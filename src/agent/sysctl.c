/* linux.sysctl: only the kernel parameters that belong to a namespace the container has of its own, as
 * runc validates them (vc_sysctl_check, which the runtime also applies on the host), written from inside
 * those namespaces. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "oci_rules.h"

#define SYSCTL_MAX 256

int sysctl_parse(struct spawn *s, json_object *o, bool ns_net, char *err, size_t errlen)
{
        size_t n = 0, i = 0;

        if (o == NULL)
                return 0;
        if (!json_object_is_type(o, json_type_object)) {
                snprintf(err, errlen, "linux.sysctl: expected object");
                return -EINVAL;
        }
        n = (size_t)json_object_object_length(o);
        if (n > SYSCTL_MAX) {
                snprintf(err, errlen, "linux.sysctl: more than %d entries", SYSCTL_MAX);
                return -EINVAL;
        }
        s->sysctl = calloc(2 * n + 1, sizeof *s->sysctl);
        if (s->sysctl == NULL)
                return -ENOMEM;
        json_object_object_foreach(o, key, val)
        {
                char name[256];
                size_t len = strlen(key);
                int rc;
                if ((rc = vc_sysctl_check(key, s->ns_ipc, s->ns_uts, ns_net, err, errlen)) < 0)
                        return rc;
                if (!json_object_is_type(val, json_type_string) || json_object_get_string_len(val) > 4096 ||
                    strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val)) {
                        snprintf(err, errlen, "linux.sysctl.%s: expected a string value", key);
                        return -EINVAL;
                }
                /* the path under /proc/sys: a dotted key's dots are its separators */
                memcpy(name, key, len + 1);
                if (strchr(key, '/') == NULL)
                        for (char *p = name; *p; p++)
                                if (*p == '.')
                                        *p = '/';
                if ((s->sysctl[i] = strdup(name)) == NULL ||
                    (s->sysctl[i + 1] = strdup(json_object_get_string(val))) == NULL)
                        return -ENOMEM;
                i += 2;
                s->nsysctl++;
        }
        return 0;
}

int sysctl_apply(const struct spawn *s, const char **failed)
{
        char path[PATH_MAX];

        for (size_t i = 0; i < s->nsysctl; i++) {
                int rc;
                snprintf(path, sizeof path, "/proc/sys/%s", s->sysctl[2 * i]);
                rc = vc_write_file(path, s->sysctl[2 * i + 1]);
                if (rc < 0) {
                        *failed = s->sysctl[2 * i];
                        return rc;
                }
        }
        return 0;
}
