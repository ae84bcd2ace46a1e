/* PID 1 duties: the root mount, the system mounts, cgroup v2, kernel modules, finding the agent port,
 * powering off. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* The initramfs root ("rootfs") is the top of the mount tree and has no parent mount, so pivot_root(2)
 * refuses to move away from it. Put a bind mount of it on top of / and chroot there, as switch_root does
 * with a real root: then every container's mount namespace starts with a root that pivot_root accepts. */
static int rebind_root(void)
{
        if (mkdir("/.root", 0700) < 0 && errno != EEXIST)
                return -errno;
        if (mount("/", "/.root", NULL, MS_BIND, NULL) < 0)
                return -errno;
        if (chdir("/.root") < 0)
                return -errno;
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return -errno;
        if (chroot(".") < 0 || chdir("/") < 0)
                return -errno;
        (void)rmdir("/.root");
        return 0;
}

struct sysmount {
        const char *source, *target, *type;
        unsigned long flags;
        const char *data;
};

static const struct sysmount sysmounts[] = {
    {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
    {"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
    {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"cgroup2", AGENT_CGROUP_ROOT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
};

static void setup_stdio(void)
{
        int null = open("/dev/null", O_RDWR);
        int cons = open("/dev/console", O_WRONLY | O_NOCTTY);

        if (cons < 0)
                cons = open("/dev/ttyS0", O_WRONLY | O_NOCTTY);
        if (null >= 0)
                dup2(null, STDIN_FILENO);
        if (cons >= 0) {
                dup2(cons, STDOUT_FILENO);
                dup2(cons, STDERR_FILENO);
        } else if (null >= 0) {
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
        }
        if (null > STDERR_FILENO)
                close(null);
        if (cons > STDERR_FILENO)
                close(cons);
}

/* The granularity of free page reporting (virtio-balloon hands freed guest memory back to the host).
 * Linux 6.1 sets it to the pageblock order (2 MiB) when the balloon driver registers, whatever the
 * kernel command line said, so the value from the command line is applied again once the modules are
 * loaded. */
#define PAGE_REPORTING_ARG "page_reporting.page_reporting_order="
#define PAGE_REPORTING_PARAM "/sys/module/page_reporting/parameters/page_reporting_order"
static char page_reporting_order[16];

static void read_cmdline(void)
{
        char cmdline[4096];

        if (vc_read_file("/proc/cmdline", cmdline, sizeof cmdline) < 0)
                return;
        for (char *tok = strtok(cmdline, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
                if (strcmp(tok, "agent.debug") == 0)
                        agent_debug_on = true;
                else if (strncmp(tok, "agent.hangup_timeout=", 21) == 0)
                        agent_hangup_timeout_s = atoi(tok + 21);
                else if (strncmp(tok, PAGE_REPORTING_ARG, strlen(PAGE_REPORTING_ARG)) == 0)
                        snprintf(page_reporting_order, sizeof page_reporting_order, "%s",
                                 tok + strlen(PAGE_REPORTING_ARG));
}

int init_system(void)
{
        int rc;

        /* First, while nothing is mounted on top of the root (the bind is not recursive). */
        int rebind = rebind_root();

        /* The kernel found no /dev/console in the initramfs, so fds 0-2 are not open yet: devtmpfs next. */
        (void)mkdir("/dev", 0755);
        if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") < 0 && errno != EBUSY)
                return -errno;
        setup_stdio();
        if (rebind < 0)
                agent_log("cannot rebind the root mount (containers cannot pivot_root): %s",
                          strerror(-rebind));

        for (size_t i = 0; i < sizeof sysmounts / sizeof sysmounts[0]; i++) {
                const struct sysmount *m = &sysmounts[i];
                rc = vc_mkdir_p_at(m->target, 0755, NULL, 0);
                if (rc < 0 || mount(m->source, m->target, m->type, m->flags, m->data) < 0) {
                        rc = rc < 0 ? rc : -errno;
                        agent_log("mount %s on %s: %s", m->type, m->target, strerror(-rc));
                        if (m->target[1] == 'p') /* /proc is needed for everything else */
                                return rc;
                }
        }
        read_cmdline();

        /* Four fds or so per process: give the agent room for many containers. */
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &agent_nofile_default) == 0) {
                nofile.rlim_cur = nofile.rlim_max = 65536;
                if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                        agent_log("raise RLIMIT_NOFILE: %s", strerror(errno));
        }

        /* cgroup v2: the freezer is in the core (cgroup.freeze); enable the controllers containers use. */
        static const char *const controllers[] = {"+memory", "+cpu", "+cpuset", "+pids", "+hugetlb"};
        for (size_t i = 0; i < sizeof controllers / sizeof controllers[0]; i++) {
                rc = vc_write_file(AGENT_CGROUP_ROOT "/cgroup.subtree_control", controllers[i]);
                if (rc < 0)
                        agent_log("enable cgroup controller %s: %s", controllers[i] + 1, strerror(-rc));
        }
        (void)vc_mkdir_p_at(AGENT_SHARED_DIR, 0755, NULL, 0);
        return 0;
}

/* /lib/modules/load lists module files in load order (scripts/build-guest.sh writes it). */
int init_load_modules(void)
{
        FILE *f = fopen("/lib/modules/load", "re");
        char line[512];
        int loaded = 0;

        if (f == NULL)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (line[0] != '/')
                        continue;
                int fd = open(line, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        agent_log("module %s: %s", line, strerror(errno));
                        continue;
                }
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
                        agent_log("load module %s: %s", line, strerror(errno));
                else
                        loaded++;
                close(fd);
        }
        fclose(f);
        agent_debug("loaded %d modules", loaded);
        if (page_reporting_order[0] != '\0') {
                int rc = vc_write_file(PAGE_REPORTING_PARAM, page_reporting_order);
                if (rc < 0)
                        agent_log("page reporting order %s: %s", page_reporting_order, strerror(-rc));
        }
        return loaded;
}

/* The port's name arrives from the host after the device appears, so look until the timeout. */
int init_find_port(char *path, size_t size, int timeout_ms)
{
        uint64_t deadline = agent_now_ms() + (uint64_t)timeout_ms;

        for (;;) {
                DIR *d = opendir("/sys/class/virtio-ports");
                if (d) {
                        struct dirent *de;
                        while ((de = readdir(d))) {
                                char p[512], name[128];
                                if (de->d_name[0] == '.')
                                        continue;
                                snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", de->d_name);
                                if (vc_read_file(p, name, sizeof name) < 0)
                                        continue;
                                name[strcspn(name, "\n")] = '\0';
                                if (strcmp(name, AGENT_PORT_NAME) != 0)
                                        continue;
                                snprintf(path, size, "/dev/%s", de->d_name);
                                closedir(d);
                                if (access(path, F_OK) == 0)
                                        return 0;
                                goto again;
                        }
                        closedir(d);
                }
        again:
                if (agent_now_ms() >= deadline) {
                        DIR *dd = opendir("/sys/class/virtio-ports");
                        struct dirent *de;
                        agent_log("virtio ports: %s", dd ? "" : strerror(errno));
                        while (dd && (de = readdir(dd)))
                                agent_log("  %s", de->d_name);
                        if (dd)
                                closedir(dd);
                        return -ENODEV;
                }
                sleep_ms(10);
        }
}

void init_poweroff(void)
{
        agent_log("powering off");
        sync();
        reboot(RB_POWER_OFF);
        agent_log("power off failed: %s", strerror(errno));
        _exit(1);
}
