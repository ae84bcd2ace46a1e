/* linux.sysctl: only the kernel parameters that belong to a namespace the container has of its own, as
 * runc validates them (IPC ones need a new ipc namespace, net.* a network namespace, kernel.domainname a
 * uts namespace; kernel.hostname is the "hostname" field's), written from inside those namespaces. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define SYSCTL_MAX 256

static bool ipc_key(const char *k)
{
        static const char *const ipc[] = {"kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                                          "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                                          "kernel.shmmni", "kernel.shm_rmid_forced"};
        for (size_t i = 0; i < sizeof ipc / sizeof ipc[0]; i++)
                if (strcmp(k, ipc[i]) == 0)
                        return true;
        return strncmp(k, "fs.mqueue.", 10) == 0;
}

static bool key_clean(const char *k)
{
        if (k[0] == '\0' || k[0] == '.' || k[0] == '/' || strstr(k, "..") || strstr(k, "//") ||
            strstr(k, "/.") || strstr(k, "./"))
                return false;
        for (const char *p = k; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_' || *p == '-' || *p == '.' || *p == '/' || *p == ':'))
                        return false;
        return true;
}

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
                if (len == 0 || len >= sizeof name || !key_clean(key)) {
                        snprintf(err, errlen, "linux.sysctl: invalid key '%.64s'", key);
                        return -EINVAL;
                }
                if (!json_object_is_type(val, json_type_string) || json_object_get_string_len(val) > 4096 ||
                    strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val)) {
                        snprintf(err, errlen, "linux.sysctl.%s: expected a string value", key);
                        return -EINVAL;
                }
                /* "net/ipv4/ip_forward" and "net.ipv4.ip_forward" name the same parameter */
                memcpy(name, key, len + 1);
                for (char *p = name; *p; p++)
                        if (*p == '/')
                                *p = '.';
                if (ipc_key(name)) {
                        if (!s->ns_ipc) {
                                snprintf(err, errlen,
                                         "linux.sysctl: '%s' needs an ipc namespace of the container's own",
                                         key);
                                return -EINVAL;
                        }
                } else if (strncmp(name, "net.", 4) == 0) {
                        if (!ns_net) {
                                snprintf(err, errlen,
                                         "linux.sysctl: '%s' needs a network namespace in linux.namespaces",
                                         key);
                                return -EINVAL;
                        }
                } else if (strcmp(name, "kernel.domainname") == 0 && s->ns_uts) {
                        /* namespaced, with no OCI field of its own */
                } else if (strcmp(name, "kernel.hostname") == 0 && s->ns_uts) {
                        snprintf(err, errlen, "linux.sysctl: '%s' conflicts with the \"hostname\" field",
                                 key);
                        return -EINVAL;
                } else {
                        snprintf(err, errlen,
                                 "linux.sysctl: '%s' is not in a namespace of the container's own", key);
                        return -EINVAL;
                }
                /* the path under /proc/sys: a dotted key's dots are its separators */
                if (strchr(key, '/') == NULL)
                        for (char *p = name; *p; p++)
                                if (*p == '.')
                                        *p = '/';
                if (strchr(key, '/'))
                        memcpy(name, key, len + 1);
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
