/* The hook runner without Lua: argv, environment, stdin, errors, timeout, output bound, netns. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "vc/hook.h"
#include "vc/netns.h"

static char tmp[64];

static const char *const path_env[] = {"PATH=/usr/bin:/bin", NULL};

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;

        while (d && (e = readdir(d)))
                n += e->d_name[0] != '.';
        if (d)
                closedir(d);
        return n;
}

static char *read_file(const char *path)
{
        static char buf[4096];
        FILE *f = fopen(path, "re");
        size_t n;

        if (f == NULL)
                return NULL;
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

/* A /bin/sh -c hook. */
static struct vc_hook sh(const char **argv)
{
        return (struct vc_hook){.path = "/bin/sh", .args = argv, .env = path_env};
}

static int test_args_env_stdin(void)
{
        const char *argv[] = {"argv0-name", "-c",
                              "printf '%s|' \"$0\"; cat; printf '|'; tr '\\0' ' ' </proc/$$/environ", NULL};
        const char *env[] = {"A=1", "PATH=/usr/bin:/bin", NULL};
        struct vc_hook h = {.path = "/bin/sh", .args = argv, .env = env};
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        struct vc_hook_output out = {0};
        vc_error_t err = NULL;

        o.state = "{\"id\":\"c1\"}";
        o.state_len = strlen(o.state);
        CHECK(vc_hook_run(&h, &o, &out, &err) == 0);
        CHECK_STREQ(out.out, "argv0-name|{\"id\":\"c1\"}|A=1 PATH=/usr/bin:/bin ");
        CHECK(out.err_len == 0);
        vc_hook_output_release(&out);
        return 0;
}

static int test_list_order_and_cwd(void)
{
        const char *a[] = {"sh", "-c", "echo one >>order", NULL};
        const char *b[] = {"sh", "-c", "echo two >>order", NULL};
        struct vc_hook hooks[] = {sh(a), sh(b)};
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        char path[128];
        vc_error_t err = NULL;

        o.cwd = tmp;
        CHECK(vc_hook_run_list(hooks, 2, &o, NULL, NULL, &err) == 0);
        snprintf(path, sizeof path, "%s/order", tmp);
        CHECK_STREQ(read_file(path), "one\ntwo\n");
        unlink(path);
        return 0;
}

static int test_relative_path_refused_before_anything_runs(void)
{
        const char *a[] = {"sh", "-c", "echo ran >ran", NULL};
        struct vc_hook hooks[] = {sh(a), {.path = "bin/hook"}};
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        size_t failed = 99;
        char path[128];
        vc_error_t err = NULL;

        o.kind = "prestart";
        o.cwd = tmp;
        CHECK(vc_hook_run_list(hooks, 2, &o, NULL, &failed, &err) == -EINVAL);
        CHECK(failed == 1);
        CHECK_STREQ(err->msg, "invalid prestart hook #1: path 'bin/hook' is not absolute");
        vc_error_release(&err);
        snprintf(path, sizeof path, "%s/ran", tmp);
        CHECK(access(path, F_OK) < 0 && errno == ENOENT);
        return 0;
}

static int test_failure_message_has_status_stderr_and_index(void)
{
        const char *a[] = {"sh", "-c", "true", NULL};
        const char *b[] = {"sh", "-c", "echo partial; echo 'no route' >&2; exit 2", NULL};
        const char *c[] = {"sh", "-c", "echo never >never", NULL};
        struct vc_hook hooks[] = {sh(a), sh(b), sh(c)};
        struct vc_hook_output outs[3];
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        size_t failed = 99;
        vc_error_t err = NULL;
        char path[128];

        o.kind = "poststart";
        o.cwd = tmp;
        CHECK(vc_hook_run_list(hooks, 3, &o, outs, &failed, &err) == -EIO);
        CHECK(failed == 1);
        CHECK_STREQ(err->msg,
                    "error running poststart hook #1: exit status 2, stderr: no route, stdout: partial");
        vc_error_release(&err);
        snprintf(path, sizeof path, "%s/never", tmp);
        CHECK(access(path, F_OK) < 0 && errno == ENOENT); /* the list stopped at the failure */
        return 0;
}

static int test_signal_death(void)
{
        const char *a[] = {"sh", "-c", "kill -KILL $$", NULL};
        struct vc_hook h = sh(a);
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        vc_error_t err = NULL;

        o.index = 4;
        CHECK(vc_hook_run(&h, &o, NULL, &err) == -EIO);
        CHECK_STREQ(err->msg, "error running hook #4: signal: killed");
        vc_error_release(&err);
        return 0;
}

static int test_exec_failure(void)
{
        struct vc_hook h = {.path = "/nonexistent/hook"};
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        vc_error_t err = NULL;

        o.kind = "poststop";
        CHECK(vc_hook_run(&h, &o, NULL, &err) == -ENOENT);
        CHECK_STREQ(err->msg,
                    "error running poststop hook #0: exec '/nonexistent/hook': No such file or directory");
        vc_error_release(&err);
        o.cwd = "/nonexistent";
        h.path = "/bin/true";
        CHECK(vc_hook_run(&h, &o, NULL, &err) == -ENOENT);
        CHECK_STREQ(err->msg,
                    "error running poststop hook #0: chdir '/nonexistent': No such file or directory");
        vc_error_release(&err);
        return 0;
}

static int is_dead(pid_t pid)
{
        char path[64], buf[256];
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (f == NULL)
                return 1;
        buf[0] = '\0';
        if (fgets(buf, sizeof buf, f) == NULL)
                buf[0] = '\0';
        fclose(f);
        char *p = strrchr(buf, ')');
        return p && p[1] == ' ' && p[2] == 'Z';
}

static int test_timeout_kills_the_process_group(void)
{
        const char *a[] = {
            "sh", "-c", "sleep 30 & echo $! >grandchild.tmp; mv grandchild.tmp grandchild; sleep 30", NULL};
        struct vc_hook h = sh(a);
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        vc_error_t err = NULL;
        char path[128], *s;
        time_t t0 = time(NULL);
        pid_t gpid;
        int i;

        h.has_timeout = true;
        h.timeout = 1;
        o.kind = "poststart";
        o.cwd = tmp;
        CHECK(vc_hook_run(&h, &o, NULL, &err) == -ETIMEDOUT);
        CHECK(time(NULL) - t0 <= 3);
        CHECK_STREQ(err->msg, "error running poststart hook #0: hook ran past specified timeout of 1s");
        vc_error_release(&err);
        snprintf(path, sizeof path, "%s/grandchild", tmp);
        s = read_file(path);
        CHECK(s != NULL);
        gpid = (pid_t)atoi(s);
        CHECK(gpid > 0);
        unlink(path);
        for (i = 0; i < 60 && !is_dead(gpid); i++)
                usleep(50 * 1000);
        if (!is_dead(gpid))
                kill(gpid, SIGKILL); /* do not leave it behind when this fails */
        CHECK(i < 60);
        return 0;
}

static int test_sigchld_ignored_is_reported_not_hung(void)
{
        struct vc_hook h = {.path = "/bin/true"};
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        vc_error_t err = NULL;
        int r;

        /* clone3 with no arguments: EINVAL where it exists, ENOSYS where it does not (valgrind) */
        bool have_clone3 = syscall(SYS_clone3, NULL, 0) < 0 && errno != ENOSYS;

        signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel: no exit status to be had */
        r = vc_hook_run(&h, &o, NULL, &err);
        signal(SIGCHLD, SIG_DFL);
        if (!have_clone3) {
                /* Without pidfds the runner's own SIGCHLD watcher replaces SIG_IGN while it waits, so
                 * the status is there after all. */
                CHECK(r == 0);
                return 0;
        }
        /* Whether /bin/true is gone before the runner looks or not, the answer is the same. */
        CHECK(r == -ECHILD);
        CHECK_STREQ(err->msg, "error running hook #0: exit status lost: No child processes");
        vc_error_release(&err);
        return 0;
}

static int test_invalid_timeout(void)
{
        struct vc_hook h = {.path = "/bin/true", .has_timeout = true, .timeout = 0};
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        vc_error_t err = NULL;

        CHECK(vc_hook_run(&h, &o, NULL, &err) == -EINVAL);
        CHECK_STREQ(err->msg, "invalid hook #0: timeout must be greater than zero, got 0");
        vc_error_release(&err);
        return 0;
}

static int test_output_is_bounded(void)
{
        const char *a[] = {"sh", "-c", "head -c 200000 /dev/zero; head -c 65536 /dev/zero >&2", NULL};
        struct vc_hook h = sh(a);
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        struct vc_hook_output out = {0};
        size_t m = strlen(VC_HOOK_TRUNCATED_MARKER);
        vc_error_t err = NULL;

        CHECK(vc_hook_run(&h, &o, &out, &err) == 0);
        CHECK(out.out_len == VC_HOOK_OUTPUT_MAX + m);
        CHECK(memcmp(out.out + VC_HOOK_OUTPUT_MAX, VC_HOOK_TRUNCATED_MARKER, m + 1) == 0);
        CHECK(out.err_len == VC_HOOK_OUTPUT_MAX); /* exactly the bound: nothing dropped, no marker */
        vc_hook_output_release(&out);
        return 0;
}

static int test_background_child_holding_stdout_does_not_block(void)
{
        /* The hook exits at once; its child keeps the stdout pipe open for 30 s. */
        const char *a[] = {"sh", "-c", "echo started; (sleep 30; echo late) & echo $! >bg", NULL};
        struct vc_hook h = sh(a);
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        struct vc_hook_output out = {0};
        vc_error_t err = NULL;
        char path[128], *s;
        time_t t0 = time(NULL);

        o.cwd = tmp;
        CHECK(vc_hook_run(&h, &o, &out, &err) == 0);
        CHECK(time(NULL) - t0 <= 2);
        CHECK_STREQ(out.out, "started\n");
        vc_hook_output_release(&out);
        snprintf(path, sizeof path, "%s/bg", tmp);
        s = read_file(path);
        CHECK(s != NULL && atoi(s) > 0);
        kill(-getpgid(atoi(s)), SIGKILL); /* the hook's group: the subshell and its sleep */
        unlink(path);
        return 0;
}

static int test_runs_inside_a_netns(void)
{
        const char *a[] = {"sh", "-c", "readlink /proc/self/ns/net", NULL};
        struct vc_hook h = sh(a);
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        struct vc_hook_output out = {0};
        vc_netns_t *ns = NULL;
        vc_error_t err = NULL;
        char dir[128], want[64];
        struct stat st;

        snprintf(dir, sizeof dir, "%s/netns", tmp);
        CHECK(vc_netns_create(dir, "hook", &ns, &err) == 0);
        CHECK(fstat(vc_netns_fd(ns), &st) == 0);
        snprintf(want, sizeof want, "net:[%lu]\n", (unsigned long)st.st_ino);

        o.netns = vc_netns_path(ns);
        CHECK(vc_hook_run(&h, &o, &out, &err) == 0);
        CHECK_STREQ(out.out, want);
        vc_hook_output_release(&out);
        o.netns = NULL;
        o.netns_fd = vc_netns_fd(ns);
        CHECK(vc_hook_run(&h, &o, &out, &err) == 0);
        CHECK_STREQ(out.out, want);
        vc_hook_output_release(&out);
        /* and this process stayed where it was */
        CHECK(stat("/proc/thread-self/ns/net", &st) == 0);
        CHECK(vc_netns_is_host(ns, &err) == 0);

        CHECK(vc_netns_delete(vc_netns_path(ns), &err) == 0);
        ns = vc_netns_free(ns);
        CHECK(vc_netns_dir_remove(dir, &err) == 0);
        return 0;
}

int main(void)
{
        struct vc_hook warm = {.path = "/bin/true"};
        struct vc_hook_opts o = VC_HOOK_OPTS_INIT;
        int fds;

        if (geteuid() != 0) {
                printf("1..0 # SKIP needs root (network namespaces)\n");
                return 77;
        }
        snprintf(tmp, sizeof tmp, "/tmp/vc-test-hook.XXXXXX");
        if (mkdtemp(tmp) == NULL) {
                perror("mkdtemp");
                return 1;
        }
        /* libuv makes a process-wide pipe on its first loop and keeps it: count fds after that. */
        (void)vc_hook_run(&warm, &o, NULL, NULL);
        fds = count_fds();

        RUN_TEST(test_args_env_stdin);
        RUN_TEST(test_list_order_and_cwd);
        RUN_TEST(test_relative_path_refused_before_anything_runs);
        RUN_TEST(test_failure_message_has_status_stderr_and_index);
        RUN_TEST(test_signal_death);
        RUN_TEST(test_exec_failure);
        RUN_TEST(test_timeout_kills_the_process_group);
        RUN_TEST(test_sigchld_ignored_is_reported_not_hung);
        RUN_TEST(test_invalid_timeout);
        RUN_TEST(test_output_is_bounded);
        RUN_TEST(test_background_child_holding_stdout_does_not_block);
        RUN_TEST(test_runs_inside_a_netns);

        printf("# fds before %d, after %d\n", fds, count_fds());
        if (count_fds() != fds)
                printf("not ok %d - no fd leaked\n", ++tap_n), tap_failed = 1;
        else
                printf("ok %d - no fd leaked\n", ++tap_n);
        if (waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD)
                printf("ok %d - no child left\n", ++tap_n);
        else
                printf("not ok %d - no child left\n", ++tap_n), tap_failed = 1;
        if (remove_scratch_dir(tmp) > 0)
                tap_failed = 1;
        return TAP_DONE();
}
