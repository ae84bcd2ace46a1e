/* The share primitive without Lua: nothing a guest plants in a share redirects a host mount (issue 11). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "vc/share.h"

static char tmp[64], host[128], guest[128], victim[128], source[128];
static pid_t swapper;

/* Whether something is mounted exactly at path (from /proc/self/mountinfo). */
static int mounted_at(const char *path)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[4096], mp[4096];
        int found = 0;

        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, path) == 0)
                        found = 1;
        if (f)
                fclose(f);
        return found;
}

static int exists(const char *dir, const char *name)
{
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        return access(p, F_OK) == 0;
}

static int code_of(vc_error_t *err)
{
        int c = *err ? (*err)->code : 0;
        vc_error_release(err);
        return c;
}

static int test_mkdir_refuses_links_and_dotdot(void)
{
        vc_error_t err = NULL;
        int fd = -1;
        char p[256];

        CHECK(vc_share_open(host, &fd, &err) == 0);
        CHECK(vc_share_mkdir(fd, "c1/rootfs", 0755, &err) == 0);
        CHECK(vc_share_mkdir(fd, "c1/rootfs", 0755, &err) == 0); /* existing directories are fine */
        snprintf(p, sizeof p, "%s/c2", host);
        CHECK(symlink(victim, p) == 0);
        CHECK(vc_share_mkdir(fd, "c2/rootfs", 0755, &err) == -ELOOP && code_of(&err) == ELOOP);
        CHECK(!exists(victim, "rootfs"));
        CHECK(vc_share_mkdir(fd, "../escape", 0755, &err) == -EINVAL && code_of(&err) == EINVAL);
        CHECK(vc_share_mkdir(fd, "/abs", 0755, &err) == -EINVAL && code_of(&err) == EINVAL);
        CHECK(vc_share_mkdir(fd, "c1//x", 0755, &err) == -EINVAL && code_of(&err) == EINVAL);
        CHECK(vc_share_mkfile(fd, "c2/file", 0644, &err) == -ELOOP && code_of(&err) == ELOOP);
        CHECK(!exists(victim, "file"));
        CHECK(vc_share_remove(fd, "c2/x", &err) == -ELOOP && code_of(&err) == ELOOP);
        CHECK(vc_share_remove(fd, "c2", &err) == 0); /* the link itself goes, not its target */
        CHECK(access(victim, F_OK) == 0);
        close(fd);
        return 0;
}

/* The CVE-2020-2023 shape: <share>/<id>/rootfs is a symlink to a host directory when the host binds. */
static int test_bind_through_planted_symlink_refused(void)
{
        vc_error_t err = NULL;
        uint64_t id = 0;
        int fd = -1;
        char p[256];

        CHECK(vc_share_open(host, &fd, &err) == 0);
        CHECK(vc_share_mkdir(fd, "c3", 0755, &err) == 0);
        snprintf(p, sizeof p, "%s/c3/rootfs", host);
        CHECK(symlink(victim, p) == 0);
        CHECK(vc_share_bind(source, fd, "c3/rootfs", 0, &id, &err) == -ELOOP);
        CHECK(err && strstr(err->msg, "symbolic link"));
        vc_error_release(&err);
        CHECK(!mounted_at(victim));
        CHECK(exists(victim, "marker") && !exists(victim, "from-source"));
        close(fd);
        return 0;
}

static int test_bind_umount_by_recorded_id(void)
{
        vc_error_t err = NULL;
        uint64_t id = 0, id2 = 0;
        int fd = -1;
        char p[256];

        CHECK(vc_share_open(host, &fd, &err) == 0);
        CHECK(vc_share_mkdir(fd, "c4/rootfs", 0755, &err) == 0);
        CHECK(vc_share_bind(source, fd, "c4/rootfs", VC_SHARE_RDONLY, &id, &err) == 0 && id != 0);
        snprintf(p, sizeof p, "%s/c4/rootfs", host);
        CHECK(mounted_at(p) && exists(p, "from-source"));
        snprintf(p, sizeof p, "%s/c4/rootfs/new", host);
        CHECK(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) < 0 && errno == EROFS);
        CHECK(vc_share_umount(fd, "c4/rootfs", id + 100000, &err) == -ESTALE && code_of(&err) == ESTALE);
        /* a mount stacked on top is not the recorded one either: nothing is unmounted */
        CHECK(vc_share_bind(source, fd, "c4/rootfs", 0, &id2, &err) == 0 && id2 != id);
        CHECK(vc_share_umount(fd, "c4/rootfs", id, &err) == -ESTALE && code_of(&err) == ESTALE);
        CHECK(vc_share_umount(fd, "c4/rootfs", id2, &err) == 0);
        CHECK(vc_share_umount(fd, "c4/rootfs", id, &err) == 0);
        snprintf(p, sizeof p, "%s/c4/rootfs", host);
        CHECK(!mounted_at(p));
        CHECK(vc_share_umount(fd, "c4/rootfs", id, &err) == -EINVAL && code_of(&err) == EINVAL);
        CHECK(vc_share_umount(fd, "c4/gone", id, &err) == -ENOENT && code_of(&err) == ENOENT);
        CHECK(vc_share_remove(fd, "c4/rootfs", &err) == 0 && vc_share_remove(fd, "c4", &err) == 0);
        close(fd);
        return 0;
}

/* A symlink swapped in and out while the host binds (between any check and use): every bind either is
 * refused or lands beneath the share, never on the victim. */
static int test_bind_during_symlink_swap(void)
{
        vc_error_t err = NULL;
        int fd = -1, ok = 0, refused = 0;
        char dirp[256], linkp[256];
        pid_t child;

        CHECK(vc_share_open(host, &fd, &err) == 0);
        CHECK(vc_share_mkdir(fd, "c5/rootfs", 0755, &err) == 0);
        snprintf(dirp, sizeof dirp, "%s/c5/rootfs", host);
        snprintf(linkp, sizeof linkp, "%s/c5/link", host);
        CHECK(symlink(victim, linkp) == 0);
        child = fork();
        CHECK(child >= 0);
        if (child == 0) {
                /* bounded, and gone with the test even when a check below returns early */
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (int i = 0; i < 2000000; i++)
                        (void)renameat2(AT_FDCWD, linkp, AT_FDCWD, dirp, RENAME_EXCHANGE);
                _exit(0);
        }
        swapper = child;
        for (int i = 0; i < 400; i++) {
                uint64_t id = 0;
                if (vc_share_bind(source, fd, "c5/rootfs", 0, &id, &err) == 0) {
                        ok++;
                        CHECK(!mounted_at(victim));
                        /* it landed on the directory resolved beneath the share; the swapper may have
                         * renamed that one since, so the recorded mount is looked for under both names */
                        if (vc_share_umount(fd, "c5/rootfs", id, &err) < 0) {
                                vc_error_release(&err);
                                if (vc_share_umount(fd, "c5/link", id, &err) < 0)
                                        printf("# %s\n", err->msg);
                        }
                        CHECK(err == NULL);
                } else {
                        refused++;
                        vc_error_release(&err);
                }
        }
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        swapper = 0;
        printf("# swap race: %d binds landed beneath the share, %d refused\n", ok, refused);
        CHECK(!mounted_at(victim));
        CHECK(!exists(victim, "from-source"));
        close(fd);
        return 0;
}

static int test_setup_gives_the_guest_a_read_only_view(void)
{
        vc_error_t err = NULL;
        uint64_t id = 0;
        int fd = -1;
        char p[256];

        CHECK(vc_share_setup(host, guest, &err) == 0);
        CHECK(mounted_at(host) && mounted_at(guest));
        snprintf(p, sizeof p, "%s/planted", guest);
        CHECK(mkdir(p, 0755) < 0 && errno == EROFS);
        CHECK(symlink(victim, p) < 0 && errno == EROFS);
        CHECK(vc_share_open(host, &fd, &err) == 0);
        CHECK(vc_share_mkdir(fd, "c6/rootfs", 0755, &err) == 0);
        CHECK(vc_share_bind(source, fd, "c6/rootfs", 0, &id, &err) == 0);
        /* the container's rootfs reaches the view, writable; the directory holding it is not */
        snprintf(p, sizeof p, "%s/c6/rootfs/from-source", guest);
        CHECK(access(p, F_OK) == 0);
        snprintf(p, sizeof p, "%s/c6/rootfs/written", guest);
        int w = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        CHECK(w >= 0);
        close(w);
        CHECK(unlink(p) == 0);
        snprintf(p, sizeof p, "%s/c6/x", guest);
        CHECK(mkdir(p, 0755) < 0 && errno == EROFS);
        close(fd);
        /* teardown takes the leftover container mount along and removes both directories */
        CHECK(vc_share_teardown(host, guest, &err) == 0);
        CHECK(!mounted_at(host) && !mounted_at(guest));
        CHECK(access(host, F_OK) < 0 && access(guest, F_OK) < 0);
        CHECK(exists(source, "from-source"));
        CHECK(vc_share_teardown(host, guest, &err) == 0);
        return 0;
}

int main(void)
{
        char p[256];
        int fd;

        if (geteuid() != 0) {
                printf("1..0 # SKIP needs root for mounts\n");
                return 77;
        }
        /* a private mount namespace: nothing this test mounts can reach the host's */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("1..0 # SKIP no mount namespace: %s\n", strerror(errno));
                return 77;
        }
        snprintf(tmp, sizeof tmp, "/tmp/vc-share-XXXXXX");
        if (!mkdtemp(tmp))
                return 1;
        snprintf(host, sizeof host, "%s/mounts", tmp);
        snprintf(guest, sizeof guest, "%s/shared", tmp);
        snprintf(victim, sizeof victim, "%s/victim", tmp);
        snprintf(source, sizeof source, "%s/source", tmp);
        (void)mkdir(host, 0700);
        (void)mkdir(victim, 0755);
        (void)mkdir(source, 0755);
        snprintf(p, sizeof p, "%s/marker", victim);
        if ((fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) >= 0)
                close(fd);
        snprintf(p, sizeof p, "%s/from-source", source);
        if ((fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) >= 0)
                close(fd);

        RUN_TEST(test_mkdir_refuses_links_and_dotdot);
        RUN_TEST(test_bind_through_planted_symlink_refused);
        RUN_TEST(test_bind_umount_by_recorded_id);
        RUN_TEST(test_bind_during_symlink_swap);
        if (swapper > 0) {
                kill(swapper, SIGKILL);
                waitpid(swapper, NULL, 0);
        }
        /* the last: it removes the host directory */
        RUN_TEST(test_setup_gives_the_guest_a_read_only_view);
        if (remove_scratch_dir(tmp) > 0)
                tap_failed = 1;
        return TAP_DONE();
}
