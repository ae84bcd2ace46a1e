/* The system calls the vc module's bindings make, behind libvc (include/vc/proc.h, vc/mount.h): kill,
 * wait, reap, the subreaper bit, bind mounts, lazy unmounts, shared mount points. TAP output; the mount
 * cases need root (skipped otherwise). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "testlib.h"
#include "vc/mount.h"
#include "vc/proc.h"

static int test_stat(void)
{
        struct vc_proc_stat st;
        unsigned long long start = 0;
        vc_error_t err = NULL;

        CHECK(vc_proc_stat(getpid(), &st, &err) == 0);
        CHECK(st.state == 'R');
        CHECK(st.ppid == getppid());
        CHECK(vc_proc_start_time(getpid(), &start, &err) == 0);
        CHECK(start > 0 && start == st.start_time);
        CHECK(vc_proc_stat(0, &st, &err) == -EINVAL);
        vc_error_release(&err);
        return 0;
}

static int test_kill_and_wait(void)
{
        vc_error_t err = NULL;
        int status = -1;
        pid_t pid = fork();

        if (pid == 0) {
                pause();
                _exit(0);
        }
        CHECK(pid > 0);
        CHECK(vc_proc_kill(pid, SIGTERM, &err) == 0);
        CHECK(vc_proc_wait(pid, &status, &err) == 0);
        CHECK(status == 128 + SIGTERM);

        pid = fork();
        if (pid == 0)
                _exit(7);
        CHECK(vc_proc_wait(pid, &status, &err) == 0 && status == 7);
        /* no longer a child: the error names the call */
        CHECK(vc_proc_wait(pid, &status, &err) == -ECHILD);
        CHECK(err != NULL && strstr(err->msg, "waitpid") != NULL);
        vc_error_release(&err);
        CHECK(vc_proc_kill(0, SIGTERM, &err) == -EINVAL);
        vc_error_release(&err);
        return 0;
}

static int test_reap(void)
{
        for (int i = 0; i < 3; i++) {
                pid_t pid = fork();
                if (pid == 0)
                        _exit(0);
                CHECK(pid > 0);
        }
        /* the three end on their own; wait (with a deadline) until all are reaped */
        int n = 0;
        int64_t deadline = vc_now_ms() + 30000;
        while (n < 3 && vc_now_ms() < deadline) {
                n += vc_proc_reap();
                usleep(10000);
        }
        CHECK(n == 3);
        CHECK(vc_proc_reap() == 0);
        return 0;
}

static int test_subreaper(void)
{
        vc_error_t err = NULL;
        int on = -1;

        CHECK(vc_proc_set_subreaper(true, &err) == 0);
        CHECK(prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) == 0 && on == 1);
        CHECK(vc_proc_set_subreaper(false, &err) == 0);
        CHECK(prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) == 0 && on == 0);
        return 0;
}

/* A detached process: not our child, in a session of its own, stdio on /dev/null; exec failures are errors.
 */
static int test_spawn_detached(void)
{
        char dir[] = "/tmp/vc-spawn-XXXXXX", out[256], script[PATH_MAX];
        vc_error_t err = NULL;
        pid_t pid = 0;
        struct vc_proc_stat st;

        CHECK(mkdtemp(dir) != NULL);
        snprintf(out, sizeof out, "%s/out", dir);
        snprintf(script, sizeof script,
                 "echo \"$(readlink /proc/$$/fd/1) $$\" >%s.tmp; mv %s.tmp %s; exec sleep 30", out, out, out);
        const char *argv[] = {"/bin/sh", "-c", script, NULL};
        CHECK(vc_proc_spawn_detached(argv, &pid, &err) == 0);
        CHECK(pid > 0);
        CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD); /* not ours to reap */
        for (int i = 0; i < 6000 && access(out, F_OK) < 0; i++)
                usleep(10000);
        char buf[256] = "";
        FILE *f = fopen(out, "r");
        CHECK(f != NULL);
        CHECK(fgets(buf, sizeof buf, f) != NULL);
        fclose(f);
        char want[64];
        snprintf(want, sizeof want, "/dev/null %d\n", (int)pid);
        CHECK(strcmp(buf, want) == 0); /* stdout on /dev/null, and the pid reported is the program's */
        CHECK(vc_proc_stat(pid, &st, &err) == 0);
        CHECK(getsid(pid) > 0 && getsid(pid) != getsid(0)); /* a session of its own (not its leader) */
        CHECK(vc_proc_kill(pid, SIGKILL, &err) == 0);
        CHECK(vc_proc_wait_gone(pid, 0, 30000) == 1);

        const char *missing[] = {"/nonexistent/program", NULL};
        CHECK(vc_proc_spawn_detached(missing, &pid, &err) == -ENOENT);
        CHECK(err != NULL && strstr(err->msg, "/nonexistent/program") != NULL);
        vc_error_release(&err);
        const char *relative[] = {"sh", NULL};
        CHECK(vc_proc_spawn_detached(relative, &pid, &err) == -EINVAL);
        vc_error_release(&err);
        CHECK(remove_scratch_dir(dir) == 0);
        return 0;
}

static int test_mounts(void)
{
        char dir[] = "/tmp/vc-mount-XXXXXX", src[PATH_MAX], dst[PATH_MAX], probe[PATH_MAX];
        vc_error_t err = NULL;
        struct stat st;

        if (geteuid() != 0) {
                printf("# skip: mounts need root\n");
                return 0;
        }
        CHECK(mkdtemp(dir) != NULL);
        snprintf(src, sizeof src, "%s/src", dir);
        snprintf(dst, sizeof dst, "%s/dst", dir);
        snprintf(probe, sizeof probe, "%s/dst/file", dir);
        CHECK(mkdir(src, 0755) == 0 && mkdir(dst, 0755) == 0);
        FILE *f = fopen(probe, "w"); /* hidden once src is bound over dst */
        CHECK(f != NULL);
        fclose(f);
        CHECK(vc_mount_bind(src, dst, true, false, &err) == 0);
        CHECK(stat(probe, &st) < 0 && errno == ENOENT);
        CHECK(fopen(probe, "w") == NULL && errno == EROFS); /* read-only */
        CHECK(vc_mount_detach(dst, &err) == 0);
        CHECK(stat(probe, &st) == 0);
        /* not mounted: EINVAL, naming the path */
        CHECK(vc_mount_detach(dst, &err) == -EINVAL);
        CHECK(err != NULL && strstr(err->msg, dst) != NULL);
        vc_error_release(&err);
        CHECK(vc_mount_bind("/nonexistent-source", dst, false, true, &err) == -ENOENT);
        vc_error_release(&err);
        CHECK(vc_mount_make_shared(src, &err) == 0);
        CHECK(vc_mount_detach(src, &err) == 0);
        CHECK(remove_scratch_dir(dir) == 0);
        return 0;
}

int main(void)
{
        RUN_TEST(test_stat);
        RUN_TEST(test_kill_and_wait);
        RUN_TEST(test_reap);
        RUN_TEST(test_subreaper);
        RUN_TEST(test_spawn_detached);
        RUN_TEST(test_mounts);
        return TAP_DONE();
}
