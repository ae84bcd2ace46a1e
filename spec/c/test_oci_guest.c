/* vc_oci_check_guest: what the guest cannot honour is refused on the host, with the field named. */
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "vc/oci.h"

/* The error of checking a config made of `linux` and `process` JSON members; "" when accepted. */
static const char *check(const char *members, bool pod_member)
{
        static char msg[512];
        char text[2048];
        json_object *o;
        vc_error_t err = NULL;

        snprintf(text, sizeof text, "{\"ociVersion\":\"1.0.2\",%s}", members);
        o = json_tokener_parse(text);
        msg[0] = '\0';
        if (o == NULL)
                return "(bad json)";
        if (vc_oci_check_guest(o, pod_member, "config.json", &err) < 0)
                snprintf(msg, sizeof msg, "%s", err->msg);
        vc_error_release(&err);
        json_object_put(o);
        return msg;
}

static int test_namespace_paths(void)
{
        CHECK_STREQ(
            check("\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"/proc/self/ns/net\"}]}",
                  false),
            "");
        CHECK_STREQ(check("\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"cgroup\",\"path\":"
                          "\"/proc/self/ns/ipc\"}]}",
                          false),
                    "config.json: linux.namespaces[1].path: '/proc/self/ns/ipc' is a namespace of type ipc, "
                    "not cgroup");
        CHECK_STREQ(
            check("\"linux\":{\"namespaces\":[{\"type\":\"uts\",\"path\":\"/proc/self/ns/uts\"}]}", false),
            "config.json: linux.namespaces[0].path: joining the host's uts namespace '/proc/self/ns/uts' "
            "is not possible from the guest");
        /* a pod container's uts, ipc and pid paths name the pod's, joined in the guest */
        CHECK_STREQ(check("\"linux\":{\"namespaces\":[{\"type\":\"uts\",\"path\":\"/proc/self/ns/uts\"},"
                          "{\"type\":\"ipc\",\"path\":\"/proc/self/ns/ipc\"}]}",
                          true),
                    "");
        /* ... but never of the wrong type, nor a mount namespace */
        CHECK_STREQ(
            check("\"linux\":{\"namespaces\":[{\"type\":\"uts\",\"path\":\"/proc/self/ns/ipc\"}]}", true),
            "config.json: linux.namespaces[0].path: '/proc/self/ns/ipc' is a namespace of type ipc, not uts");
        CHECK_STREQ(
            check("\"linux\":{\"namespaces\":[{\"type\":\"mount\",\"path\":\"/proc/self/ns/mnt\"}]}", true),
            "config.json: linux.namespaces[0].path: joining the host's mount namespace '/proc/self/ns/mnt' "
            "is not possible from the guest");
        CHECK_STREQ(
            check("\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"/etc/hostname\"}]}", false),
            "config.json: linux.namespaces[0].path: '/etc/hostname' is not a namespace");
        CHECK(strncmp(check("\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"/no/such/ns\"}]}",
                            false),
                      "config.json: linux.namespaces[0].path: open '/no/such/ns': No such file or directory",
                      70) == 0);
        return 0;
}

static int test_unsupported_fields(void)
{
        CHECK_STREQ(check("\"linux\":{\"namespaces\":[{\"type\":\"user\"}]}", false),
                    "config.json: linux.namespaces[0]: user namespaces are not supported in the guest");
        CHECK_STREQ(
            check("\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":1}]}", false),
            "config.json: linux.uidMappings: not supported in the guest");
        CHECK_STREQ(check("\"linux\":{\"uidMappings\":[]}", false), ""); /* empty is nothing asked */
        CHECK_STREQ(check("\"linux\":{\"personality\":{\"domain\":\"LINUX32\"}}", false),
                    "config.json: linux.personality: not supported in the guest");
        CHECK_STREQ(check("\"process\":{\"args\":[\"sh\"],\"scheduler\":{\"policy\":\"SCHED_FIFO\"}}", false),
                    "config.json: process.scheduler: not supported in the guest");
        return 0;
}

static int test_sysctl_and_seccomp_names(void)
{
        CHECK_STREQ(check("\"linux\":{\"namespaces\":[{\"type\":\"network\"}],\"sysctl\":{\"net.ipv4.ip_"
                          "forward\":\"1\"}}",
                          false),
                    "");
        CHECK_STREQ(
            check("\"linux\":{\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"}}", false),
            "config.json: linux.sysctl: 'net.ipv4.ip_forward' needs a network namespace in linux.namespaces");
        CHECK_STREQ(
            check("\"linux\":{\"namespaces\":[{\"type\":\"ipc\"}],\"sysctl\":{\"vm.swappiness\":\"1\"}}",
                  false),
            "config.json: linux.sysctl: 'vm.swappiness' is not in a namespace of the container's own");
        CHECK_STREQ(
            check("\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":"
                  "[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_AARCH64\"],\"syscalls\":[{\"names\":[\"getcwd\"],"
                  "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}}",
                  false),
            "");
        CHECK_STREQ(check("\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}}", false),
                    "config.json: linux.seccomp.defaultAction: unsupported action 'SCMP_ACT_NOTIFY'");
        CHECK_STREQ(
            check("\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
                  "[\"getcwd\"],\"action\":\"SCMP_ACT_BOGUS\"}]}}",
                  false),
            "config.json: linux.seccomp.syscalls[0].action: unsupported action 'SCMP_ACT_BOGUS'");
        CHECK_STREQ(
            check("\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":"
                  "[\"SECCOMP_FILTER_FLAG_NEW_LISTENER\"]}}",
                  false),
            "config.json: linux.seccomp.flags[0]: unsupported flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'");
        CHECK_STREQ(
            check("\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":"
                  "[\"getcwd\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_"
                  "SOME\"}]}]}}",
                  false),
            "config.json: linux.seccomp.syscalls[0].args[0].op: unsupported operator 'SCMP_CMP_SOME'");
        return 0;
}

int main(void)
{
        RUN_TEST(test_namespace_paths);
        RUN_TEST(test_unsupported_fields);
        RUN_TEST(test_sysctl_and_seccomp_names);
        return TAP_DONE();
}
