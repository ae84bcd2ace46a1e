#include "oci_rules.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

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

/* A parameter name: letters, digits, '_', '-', ':', separated by single dots or slashes; no "." or "..". */
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

int vc_sysctl_check(const char *key, bool ns_ipc, bool ns_uts, bool ns_net, char *err, size_t errlen)
{
        char name[256];
        size_t len = strlen(key);

        if (len == 0 || len >= sizeof name || !key_clean(key)) {
                snprintf(err, errlen, "linux.sysctl: invalid key '%.64s'", key);
                return -EINVAL;
        }
        /* "net/ipv4/ip_forward" and "net.ipv4.ip_forward" name the same parameter */
        memcpy(name, key, len + 1);
        for (char *p = name; *p; p++)
                if (*p == '/')
                        *p = '.';
        if (ipc_key(name)) {
                if (ns_ipc)
                        return 0;
                snprintf(err, errlen, "linux.sysctl: '%s' needs an ipc namespace of the container's own",
                         key);
        } else if (strncmp(name, "net.", 4) == 0) {
                if (ns_net)
                        return 0;
                snprintf(err, errlen, "linux.sysctl: '%s' needs a network namespace in linux.namespaces",
                         key);
        } else if (strcmp(name, "kernel.domainname") == 0 && ns_uts) {
                return 0; /* namespaced, with no OCI field of its own */
        } else if (strcmp(name, "kernel.hostname") == 0 && ns_uts) {
                snprintf(err, errlen, "linux.sysctl: '%s' conflicts with the \"hostname\" field", key);
        } else {
                snprintf(err, errlen, "linux.sysctl: '%s' is not in a namespace of the container's own", key);
        }
        return -EINVAL;
}

static const struct {
        const char *name;
        int resource;
} rlimit_names[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

int vc_rlimit_lookup(const char *name, const char **ret_name)
{
        for (size_t k = 0; k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
                if (strcmp(rlimit_names[k].name, name) == 0) {
                        if (ret_name)
                                *ret_name = rlimit_names[k].name;
                        return rlimit_names[k].resource;
                }
        return -1;
}
