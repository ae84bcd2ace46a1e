/* The guest agent's reading of a spec, without a VM: capabilities, oomScoreAdj, sysctl and seccomp are
 * parsed (and the seccomp profile compiled and loaded in a child) exactly as the agent does in the guest. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "testlib.h"

static char err[256];

/* Parse a whole config.json text into s; the return code of spawn_parse_spec. */
static int parse(struct spawn *s, const char *text)
{
        json_object *o = json_tokener_parse(text);
        int rc;

        memset(s, 0, sizeof *s);
        s->ns_fd_mnt = s->ns_fd_uts = s->ns_fd_ipc = s->ns_fd_cgroup = s->root_fd = -1;
        err[0] = '\0';
        if (o == NULL)
                return -EBADMSG;
        rc = spawn_parse_spec(s, o, "/rootfs", err, sizeof err);
        json_object_put(o);
        return rc;
}

#define PROC(extra) "{\"process\":{\"args\":[\"sh\"]" extra "}"
#define LINUX(extra)                                                                                         \
        ","                                                                                                  \
        "\"linux\":{\"namespaces\":[{\"type\":\"ipc\"},{\"type\":\"uts\"}]" extra "}}"

static int test_capabilities_become_masks(void)
{
        struct spawn s;
        CHECK(parse(&s, PROC(",\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_KILL\",\"CAP_NO_SUCH\"],"
                             "\"effective\":[\"CAP_KILL\"],\"ambient\":[\"CAP_NET_BIND_SERVICE\"]}") "}") ==
              0);
        CHECK(s.caps.bounding == ((1ull << CAP_CHOWN) | (1ull << CAP_KILL)));
        CHECK(s.caps.effective == 1ull << CAP_KILL);
        CHECK(s.caps.permitted == 0 && s.caps.inheritable == 0);
        CHECK(s.caps.ambient == 1ull << CAP_NET_BIND_SERVICE);
        spawn_free(&s);
        return 0;
}

static int test_no_capabilities_means_none(void)
{
        struct spawn s;
        CHECK(parse(&s, PROC("") "}") == 0);
        CHECK(s.caps.bounding == 0 && s.caps.effective == 0 && s.caps.permitted == 0 && s.caps.ambient == 0);
        spawn_free(&s);
        return 0;
}

static int test_capabilities_type_errors(void)
{
        struct spawn s;
        CHECK(parse(&s, PROC(",\"capabilities\":{\"bounding\":\"CAP_KILL\"}") "}") == -EINVAL);
        CHECK_STREQ(err, "process.capabilities.bounding: expected array");
        spawn_free(&s);
        CHECK(parse(&s, PROC(",\"capabilities\":{\"effective\":[7]}") "}") == -EINVAL);
        CHECK_STREQ(err, "process.capabilities.effective[0]: expected a capability name");
        spawn_free(&s);
        return 0;
}

static int test_oom_score_adj(void)
{
        struct spawn s;
        CHECK(parse(&s, PROC(",\"oomScoreAdj\":-999") "}") == 0);
        CHECK(s.oom_score_adj_set && s.oom_score_adj == -999);
        spawn_free(&s);
        CHECK(parse(&s, PROC(",\"oomScoreAdj\":1001") "}") == -EINVAL);
        CHECK_STREQ(err, "process.oomScoreAdj: 1001 is not within -1000..1000");
        spawn_free(&s);
        return 0;
}

static int test_sysctl_namespaced_only(void)
{
        struct spawn s;
        CHECK(parse(&s, PROC("") LINUX(",\"sysctl\":{\"kernel.shmmax\":\"4096\",\"fs/mqueue/msg_max\":\"20\","
                                       "\"kernel.domainname\":\"example\"}")) == 0);
        CHECK(s.nsysctl == 3);
        CHECK_STREQ(s.sysctl[0], "kernel/shmmax");
        CHECK_STREQ(s.sysctl[1], "4096");
        CHECK_STREQ(s.sysctl[2], "fs/mqueue/msg_max");
        spawn_free(&s);
        CHECK(parse(&s, PROC("") LINUX(",\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"}")) == -EINVAL);
        CHECK_STREQ(err, "linux.sysctl: 'net.ipv4.ip_forward' needs a network namespace in linux.namespaces");
        spawn_free(&s);
        CHECK(parse(&s, PROC("") LINUX(",\"sysctl\":{\"vm.swappiness\":\"1\"}")) == -EINVAL);
        CHECK_STREQ(err, "linux.sysctl: 'vm.swappiness' is not in a namespace of the container's own");
        spawn_free(&s);
        CHECK(parse(&s, PROC("") LINUX(",\"sysctl\":{\"kernel.hostname\":\"x\"}")) == -EINVAL);
        CHECK_STREQ(err, "linux.sysctl: 'kernel.hostname' conflicts with the \"hostname\" field");
        spawn_free(&s);
        CHECK(parse(&s, PROC("") LINUX(",\"sysctl\":{\"kernel/../../x\":\"1\"}")) == -EINVAL);
        CHECK_STREQ(err, "linux.sysctl: invalid key 'kernel/../../x'");
        spawn_free(&s);
        CHECK(parse(&s, PROC("") ",\"linux\":{\"sysctl\":{\"kernel.msgmax\":\"1\"}}}") == -EINVAL);
        CHECK_STREQ(err, "linux.sysctl: 'kernel.msgmax' needs an ipc namespace of the container's own");
        spawn_free(&s);
        return 0;
}

static int test_seccomp_refusals_name_the_field(void)
{
        static const struct {
                const char *linux_, *want;
        } cases[] = {
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOPE\"}",
             "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_NOPE'"},
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}",
             "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported: its listener would be inside "
             "the VM"},
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_VAX\"]}",
             "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_VAX'"},
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_NEW_"
             "LISTENER\"]}",
             "linux.seccomp.flags[0]: unsupported flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'"},
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/x.sock\"}",
             "linux.seccomp.listenerPath: not supported: the guest cannot reach a listener on the host"},
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
             "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
             "linux.seccomp.syscalls[0].args[0].index: must be 0 to 5"},
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
             "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_SOME\"}]}]}",
             "linux.seccomp.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_SOME'"},
            {"\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
             "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":-1}]}",
             "linux.seccomp.syscalls[0]: errnoRet must be an errno number"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char text[1024];
                struct spawn s;
                snprintf(text, sizeof text, "{\"process\":{\"args\":[\"sh\"]},\"linux\":{%s}}",
                         cases[i].linux_);
                CHECK(parse(&s, text) == -EINVAL);
                CHECK_STREQ(err, cases[i].want);
                CHECK(s.seccomp == NULL);
                spawn_free(&s);
        }
        return 0;
}

/* A compiled profile really filters: in a child, getcwd fails with the chosen errno, conditions on one
 * argument match either value (runc's rule for them), and an unknown system call name was skipped. */
static int test_seccomp_profile_filters(void)
{
        struct spawn s;
        pid_t pid;
        int st;

        CHECK(parse(&s,
                    "{\"process\":{\"args\":[\"sh\"]},\"linux\":{\"seccomp\":{"
                    "\"defaultAction\":\"SCMP_ACT_ALLOW\","
                    "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
                    "\"flags\":[\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],"
                    "\"syscalls\":[{\"names\":[\"getcwd\",\"no_such_call\"],\"action\":\"SCMP_ACT_ERRNO\","
                    "\"errnoRet\":18},"
                    "{\"names\":[\"dup3\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":["
                    "{\"index\":2,\"value\":2,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"},"
                    "{\"index\":2,\"value\":4,\"op\":\"SCMP_CMP_EQ\"}]}]}}}") == 0);
        CHECK(s.seccomp != NULL);
        pid = fork();
        if (pid == 0) {
                char buf[256];
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || agent_seccomp_load(s.seccomp) < 0)
                        _exit(10);
                if (getcwd(buf, sizeof buf) != NULL || errno != EXDEV)
                        _exit(11);
                if (dup3(0, 100, 0) != 100) /* flags 0: no rule matches */
                        _exit(12);
                if (dup3(0, 101, 2) != -1 || errno != EPERM || dup3(0, 101, 4) != -1 || errno != EPERM)
                        _exit(13);
                _exit(0);
        }
        CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                printf("# child: status %d\n", st);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        spawn_free(&s);
        return 0;
}

/* getcwd's errno in a child under the filter that `profile` (a linux.seccomp) compiles to. */
static int getcwd_errno(const char *profile)
{
        char text[1024];
        struct spawn s;
        pid_t pid;
        int st;

        snprintf(text, sizeof text, "{\"process\":{\"args\":[\"sh\"]},\"linux\":{\"seccomp\":%s}}", profile);
        if (parse(&s, text) < 0 || s.seccomp == NULL)
                return -1;
        pid = fork();
        if (pid == 0) {
                char buf[256];
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || agent_seccomp_load(s.seccomp) < 0)
                        _exit(255);
                _exit(getcwd(buf, sizeof buf) ? 0 : errno);
        }
        spawn_free(&s);
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
                return -1;
        return WEXITSTATUS(st);
}

/* Compiled profiles are kept by value: the same profile with its keys in another order is the same, one
 * that differs in a value is not. */
static int test_seccomp_cache_by_value(void)
{
        CHECK(getcwd_errno("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getcwd\"],"
                           "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":20}]}") == 20);
        CHECK(getcwd_errno(
                  "{\"syscalls\":[{\"errnoRet\":20,\"action\":\"SCMP_ACT_ERRNO\",\"names\":[\"getcwd\"]}],"
                  "\"defaultAction\":\"SCMP_ACT_ALLOW\"}") == 20);
        CHECK(getcwd_errno(
                  "{\"syscalls\":[{\"errnoRet\":21,\"action\":\"SCMP_ACT_ERRNO\",\"names\":[\"getcwd\"]}],"
                  "\"defaultAction\":\"SCMP_ACT_ALLOW\"}") == 21);
        return 0;
}

/* A scratch directory that stands for a cgroup: the interface files exist, empty (again each call). */
static char cg[64];

static int make_cgroup(void)
{
        static const char *const files[] = {"memory.max", "memory.low", "memory.swap.max", "cpu.weight",
                                            "cpu.max",    "pids.max",   "cpuset.cpus"};
        if (cg[0] == '\0') {
                snprintf(cg, sizeof cg, "/tmp/agent-cg.XXXXXX");
                if (mkdtemp(cg) == NULL)
                        return -1;
        }
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                char p[128];
                snprintf(p, sizeof p, "%s/%s", cg, files[i]);
                FILE *f = fopen(p, "w");
                if (f == NULL)
                        return -1;
                fclose(f);
        }
        return 0;
}

static const char *cgfile(const char *name)
{
        static char buf[128];
        char p[128];
        snprintf(p, sizeof p, "%s/%s", cg, name);
        if (vc_read_file(p, buf, sizeof buf) < 0)
                return "(none)";
        return buf;
}

static int apply(const char *text, bool update)
{
        json_object *o = json_tokener_parse(text);
        int rc;
        err[0] = '\0';
        if (o == NULL)
                return -EBADMSG;
        rc = resources_apply(cg, o, update, err, sizeof err);
        json_object_put(o);
        return rc;
}

static int test_resources_as_runc_converts_them(void)
{
        CHECK(make_cgroup() == 0);
        CHECK(apply("{\"memory\":{\"limit\":67108864,\"reservation\":33554432,\"swap\":134217728},"
                    "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\"},"
                    "\"pids\":{\"limit\":64}}",
                    false) == 0);
        CHECK_STREQ(cgfile("memory.max"), "67108864");
        CHECK_STREQ(cgfile("memory.low"), "33554432");
        CHECK_STREQ(cgfile("memory.swap.max"), "67108864"); /* swap alone: memory+swap less memory */
        CHECK_STREQ(cgfile("cpu.weight"), "39");            /* runc: 1 + (1024 - 2) * 9999 / 262142 */
        CHECK_STREQ(cgfile("cpu.max"), "50000 100000");
        CHECK_STREQ(cgfile("pids.max"), "64");
        CHECK_STREQ(cgfile("cpuset.cpus"), "0-1");
        /* -1 is unlimited; a quota alone keeps the period the cgroup has (here none: the default) */
        CHECK(make_cgroup() == 0);
        CHECK(apply("{\"memory\":{\"limit\":-1},\"pids\":{\"limit\":-1},\"cpu\":{\"quota\":20000}}", true) ==
              0);
        CHECK_STREQ(cgfile("memory.max"), "max");
        CHECK_STREQ(cgfile("pids.max"), "max");
        CHECK_STREQ(cgfile("cpu.max"), "20000 100000");
        return 0;
}

static int test_resources_refusals_name_the_field(void)
{
        static const struct {
                const char *res, *want;
        } cases[] = {
            {"{\"blockIO\":{\"weight\":500}}",
             "linux.resources.blockIO: not supported: the guest has no block devices"},
            {"{\"memory\":{\"swappiness\":10}}",
             "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness"},
            {"{\"memory\":{\"limit\":1048576,\"swap\":4096}}",
             "linux.resources.memory.swap: must be -1 or at least memory.limit"},
            {"{\"cpu\":{\"realtimeRuntime\":1000}}",
             "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime CPU budget"},
            {"{\"cpu\":{\"shares\":1}}", "linux.resources.cpu.shares: 1 is not within 2..262144"},
            {"{\"cpu\":{\"cpus\":\"0;rm\"}}", "linux.resources.cpu.cpus: expected a list such as '0-2,4'"},
            {"{\"unified\":{\"../x\":\"1\"}}", "linux.resources.unified: invalid key '../x'"},
            {"{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":1}]}",
             "linux.resources.hugepageLimits[0]: the guest kernel has no hugetlb.2MB.max"},
            {"{\"memory\":{\"limit\":1152921504606846976}}",
             "linux.resources.memory.limit: 1152921504606846976 bytes is more than the VM's memory"},
        };
        CHECK(cg[0] != '\0');
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                CHECK(apply(cases[i].res, true) < 0);
                if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
                        printf("# got '%s'\n", err);
                CHECK(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0);
        }
        return 0;
}

int main(void)
{
        RUN_TEST(test_capabilities_become_masks);
        RUN_TEST(test_no_capabilities_means_none);
        RUN_TEST(test_capabilities_type_errors);
        RUN_TEST(test_oom_score_adj);
        RUN_TEST(test_sysctl_namespaced_only);
        RUN_TEST(test_seccomp_refusals_name_the_field);
        RUN_TEST(test_seccomp_profile_filters);
        RUN_TEST(test_seccomp_cache_by_value);
        RUN_TEST(test_resources_as_runc_converts_them);
        RUN_TEST(test_resources_refusals_name_the_field);
        if (cg[0])
                remove_scratch_dir(cg);
        return TAP_DONE();
}
