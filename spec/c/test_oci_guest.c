/* vc_oci_check_guest: what the guest cannot honour is refused on the host, with the field named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vc/oci.h"

/* The error of checking a config made of `members` (JSON members) with vc_oci_check_guest, or with
 * vc_oci_check_command in `bundle` when that is given; "" when accepted. */
static const char *checked(const char *members, bool pod_member, const char *bundle)
{
        static char msg[512];
        char text[2048];
        json_object *o;
        vc_error_t err = NULL;
        int r;

        snprintf(text, sizeof text, "{\"ociVersion\":\"1.0.2\",%s}", members);
        o = json_tokener_parse(text);
        msg[0] = '\0';
        if (o == NULL)
                return "(bad json)";
        r = bundle ? vc_oci_check_command(o, bundle, "config.json", &err)
                   : vc_oci_check_guest(o, pod_member, "config.json", &err);
        if (r < 0)
                snprintf(msg, sizeof msg, "%s", err->msg);
        vc_error_release(&err);
        json_object_put(o);
        return msg;
}

static const char *check(const char *members, bool pod_member)
{
        return checked(members, pod_member, NULL);
}

/* vc_oci_check_command on `members` with root.path "rootfs" in the bundle `bundle` */
static const char *command(const char *members, const char *bundle)
{
        char m[1024];
        snprintf(m, sizeof m, "\"root\":{\"path\":\"rootfs\"},%s", members);
        return checked(m, false, bundle);
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

/* The error of checking `config` (owned by the call); "" when accepted. */
static const char *check_doc(json_object *config)
{
        static char msg[512];
        vc_error_t err = NULL;

        msg[0] = '\0';
        if (vc_oci_check_guest(config, false, "config.json", &err) < 0)
                snprintf(msg, sizeof msg, "%s", err->msg);
        vc_error_release(&err);
        json_object_put(config);
        return msg;
}

/* {"process": {"args": ["sh", <arg of n bytes>]}} */
static json_object *with_arg_of(size_t n)
{
        json_object *config = json_object_new_object(), *process = json_object_new_object(),
                    *args = json_object_new_array();
        char *big = malloc(n + 1);

        memset(big, 'x', n);
        big[n] = '\0';
        json_object_array_add(args, json_object_new_string("sh"));
        json_object_array_add(args, json_object_new_string_len(big, (int)n));
        free(big);
        json_object_object_add(process, "args", args);
        json_object_object_add(config, "process", process);
        return config;
}

static int test_sizes(void)
{
        json_object *config, *env;

        /* a 10 MB argument (a config.json can be 4 MiB: a 1 MiB one) is refused before a VM boots */
        CHECK_STREQ(check_doc(with_arg_of(65536)), "");
        CHECK_STREQ(check_doc(with_arg_of(65537)),
                    "config.json: process.args[1]: 65537 bytes, more than the guest takes (65536)");
        /* a spec over one request's size, even of small arguments */
        config = with_arg_of(10);
        env = json_object_new_array();
        for (int i = 0; i < 4096; i++)
                json_object_array_add(
                    env,
                    json_object_new_string(
                        "K="
                        "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                        "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                        "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"));
        json_object_object_add(json_object_object_get(config, "process"), "env", env);
        CHECK(strstr(check_doc(config), "without its hooks, more than one request to the guest carries") !=
              NULL);
        /* entry counts */
        config = with_arg_of(1);
        env = json_object_new_array();
        for (int i = 0; i < 4097; i++)
                json_object_array_add(env, json_object_new_string("A=1"));
        json_object_object_add(json_object_object_get(config, "process"), "env", env);
        CHECK_STREQ(check_doc(config),
                    "config.json: process.env: 4097 entries, more than the guest takes (4096)");
        CHECK_STREQ(check("\"process\":{\"args\":[\"sh\"],\"env\":[\"A=\\u0000b\"]}", false),
                    "config.json: process.env[0]: contains a NUL byte");
        return 0;
}

static int test_user_and_rlimits(void)
{
        CHECK_STREQ(check("\"process\":{\"args\":[\"sh\"],\"user\":{\"uid\":4294967294,\"gid\":0,"
                          "\"additionalGids\":[1,2]},\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1,"
                          "\"soft\":1}]}",
                          false),
                    "");
        CHECK_STREQ(check("\"process\":{\"args\":[\"sh\"],\"user\":{\"uid\":4294967295,\"gid\":0}}", false),
                    "config.json: process.user.uid: 4294967295 is not within 0..4294967294");
        CHECK_STREQ(check("\"process\":{\"args\":[\"sh\"],\"user\":{\"uid\":0,\"gid\":5000000000}}", false),
                    "config.json: process.user.gid: 5000000000 is not within 0..4294967294");
        CHECK_STREQ(
            check("\"process\":{\"args\":[\"sh\"],\"user\":{\"uid\":0,\"gid\":0,\"additionalGids\":[1,"
                  "99999999999]}}",
                  false),
            "config.json: process.user.additionalGids[1]: 99999999999 is not within 0..4294967294");
        CHECK_STREQ(
            check("\"process\":{\"args\":[\"sh\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1,"
                  "\"soft\":1},{\"type\":\"RLIMIT_BOGUS\",\"hard\":1,\"soft\":1}]}",
                  false),
            "config.json: process.rlimits[1].type: unknown rlimit 'RLIMIT_BOGUS'");
        {
                json_object *config = json_object_new_object(), *user = json_object_new_object(),
                            *gids = json_object_new_array(), *process = json_object_new_object();
                for (int i = 0; i < 257; i++)
                        json_object_array_add(gids, json_object_new_int(i));
                json_object_object_add(user, "additionalGids", gids);
                json_object_object_add(process, "user", user);
                json_object_object_add(config, "process", process);
                CHECK_STREQ(check_doc(config), "config.json: process.user.additionalGids: 257 entries, more "
                                               "than the guest takes (256)");
        }
        /* an exec'd process gets the same checks */
        {
                vc_error_t err = NULL;
                json_object *p = json_tokener_parse("{\"args\":[\"sh\"],\"rlimits\":[{\"type\":\"RLIMIT_X\","
                                                    "\"hard\":1,\"soft\":1}]}");
                CHECK(vc_oci_check_guest_process(p, "exec", &err) == -EINVAL);
                CHECK_STREQ(err->msg, "exec: process.rlimits[0].type: unknown rlimit 'RLIMIT_X'");
                vc_error_release(&err);
                json_object_put(p);
        }
        return 0;
}

static int test_command_in_rootfs(void)
{
        char root[] = "/tmp/vc-test-rootfs.XXXXXX", p[256];
        int r = 1;

        CHECK(mkdtemp(root) != NULL);
        snprintf(
            p, sizeof p,
            "mkdir -p %s/rootfs/bin %s/rootfs/usr && touch %s/rootfs/bin/sh && ln -s /opt %s/rootfs/usr/bin",
            root, root, root, root);
        if (system(p) != 0)
                goto out;
        /* found with the process's PATH, or the default one */
        CHECK_STREQ(command("\"process\":{\"args\":[\"sh\"],\"env\":[\"PATH=/sbin:/bin\"]}", root), "");
        CHECK_STREQ(command("\"process\":{\"args\":[\"sh\"]}", root), "");
        CHECK_STREQ(command("\"process\":{\"args\":[\"/bin/sh\"]}", root), "");
        /* surely missing: refused with the guest's words */
        CHECK_STREQ(command("\"process\":{\"args\":[\"nosuch\"],\"env\":[\"PATH=/bin:/sbin\"]}", root),
                    "config.json: process.args[0]: exec 'nosuch': No such file or directory");
        CHECK_STREQ(command("\"process\":{\"args\":[\"/bin/nosuch\"]}", root),
                    "config.json: process.args[0]: exec '/bin/nosuch': No such file or directory");
        CHECK_STREQ(command("\"process\":{\"args\":[\"./run\"],\"cwd\":\"/app\"}", root),
                    "config.json: process.args[0]: exec './run': No such file or directory");
        /* what this cannot tell is the guest's to decide: a mount may provide it, a symlink on the way may
         * point into one, a relative PATH entry depends on the working directory */
        CHECK_STREQ(command("\"process\":{\"args\":[\"/opt/tool/x\"]},\"mounts\":[{\"destination\":"
                            "\"/opt/tool\",\"type\":\"bind\",\"source\":\"/srv\"}]",
                            root),
                    "");
        CHECK_STREQ(command("\"process\":{\"args\":[\"/usr/bin/x\"]}", root), "");
        CHECK_STREQ(command("\"process\":{\"args\":[\"x\"],\"env\":[\"PATH=bin\"]}", root), "");
        r = 0;
out:
        snprintf(p, sizeof p, "rm -rf %s", root);
        (void)system(p);
        return r;
}

int main(void)
{
        RUN_TEST(test_namespace_paths);
        RUN_TEST(test_unsupported_fields);
        RUN_TEST(test_sysctl_and_seccomp_names);
        RUN_TEST(test_sizes);
        RUN_TEST(test_user_and_rlimits);
        RUN_TEST(test_command_in_rootfs);
        return TAP_DONE();
}
