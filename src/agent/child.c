/* The child side of create_container and exec_process: runs in the forked process, sets up the
 * container (or joins it), reports on the status pipe, blocks until started, then execs.
 * Failures before the execve are written as a struct sync_msg; a successful execve closes the pipe. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

static int sync_fd = -1;

__attribute__((noreturn, format(printf, 2, 3))) static void die(int err, const char *fmt, ...)
{
        struct sync_msg m = {.err = err ? err : EIO};
        va_list ap;
        size_t n;

        va_start(ap, fmt);
        vsnprintf(m.msg, sizeof m.msg, fmt, ap);
        va_end(ap);
        n = strlen(m.msg);
        if (err && n + 3 < sizeof m.msg)
                snprintf(m.msg + n, sizeof m.msg - n, ": %s", strerror(err));
        (void)!send(sync_fd, &m, sizeof m, MSG_NOSIGNAL);
        _exit(127);
}

/* Resolve path (absolute, taken relative to rootfd) without leaving rootfd: symlinks in an image
 * cannot point a mount outside its rootfs. */
static int open_in_root(int rootfd, const char *path, int flags)
{
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        while (*path == '/')
                path++;
        if (*path == '\0')
                path = ".";
        int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        return fd < 0 ? -errno : fd;
}

/* Make path (and its parents) inside rootfd if missing: a directory, or an empty file when file is
 * true. Returns an O_PATH fd of it. */
int mkpath_in_root(int rootfd, const char *path, bool file)
{
        char buf[PATH_MAX];
        size_t len = strlen(path);
        int fd;

        if (len >= sizeof buf)
                return -ENAMETOOLONG;
        fd = open_in_root(rootfd, path, O_PATH);
        if (fd != -ENOENT)
                return fd;
        memcpy(buf, path, len + 1);
        for (char *p = buf + 1;; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                bool last = *p == '\0' || p[strspn(p, "/")] == '\0';
                char saved = *p;
                *p = '\0';
                fd = open_in_root(rootfd, buf, O_PATH);
                if (fd >= 0) {
                        close(fd);
                } else if (fd == -ENOENT) {
                        char *slash = strrchr(buf, '/');
                        *slash = '\0';
                        int parent = open_in_root(rootfd, buf[0] ? buf : "/", O_PATH | O_DIRECTORY);
                        *slash = '/';
                        if (parent < 0)
                                return parent;
                        int rc;
                        if (last && file) {
                                rc = openat(parent, slash + 1,
                                            O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
                                if (rc >= 0)
                                        close(rc);
                        } else {
                                rc = mkdirat(parent, slash + 1, 0755);
                        }
                        int e = errno;
                        close(parent);
                        if (rc < 0 && e != EEXIST)
                                return -e;
                } else {
                        return fd;
                }
                *p = saved;
                if (last)
                        break;
        }
        return open_in_root(rootfd, path, O_PATH);
}

static void fdpath(char out[64], int fd)
{
        snprintf(out, 64, "/proc/self/fd/%d", fd);
}

/* Apply flags and propagation to what is now mounted at path inside rootfd. */
static void remount_in_root(int rootfd, const char *dest, unsigned long flags, unsigned long propagation)
{
        char p[64];
        int fd = open_in_root(rootfd, dest, O_PATH);

        if (fd < 0)
                die(-fd, "reopen mount '%s'", dest);
        fdpath(p, fd);
        if (flags && mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
                die(errno, "remount '%s'", dest);
        if (propagation && mount(NULL, p, NULL, propagation, NULL) < 0)
                die(errno, "set propagation of '%s'", dest);
        close(fd);
}

static void populate_dev(int rootfd, const char *dest)
{
        static const struct {
                const char *name;
                unsigned major, minor;
        } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                     {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
        static const struct {
                const char *name, *target;
        } links[] = {{"ptmx", "pts/ptmx"},
                     {"fd", "/proc/self/fd"},
                     {"stdin", "/proc/self/fd/0"},
                     {"stdout", "/proc/self/fd/1"},
                     {"stderr", "/proc/self/fd/2"}};
        int dev = open_in_root(rootfd, dest, O_PATH | O_DIRECTORY);

        if (dev < 0)
                die(-dev, "open '%s'", dest);
        for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
                if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) <
                        0 &&
                    errno != EEXIST)
                        die(errno, "mknod %s/%s", dest, nodes[i].name);
        for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
                if (symlinkat(links[i].target, dev, links[i].name) < 0 && errno != EEXIST)
                        die(errno, "symlink %s/%s", dest, links[i].name);
        if ((mkdirat(dev, "pts", 0755) < 0 && errno != EEXIST) ||
            (mkdirat(dev, "shm", 01777) < 0 && errno != EEXIST))
                die(errno, "mkdir in '%s'", dest);
        close(dev);
}

/* Copy what directory from holds into directory to: files, directories, symlinks and special files, with
 * their modes and owners (runc's tmpcopyup). Hand-written: nothing in the guest's static agent offers a
 * tree copy between two directory fds. */
static void copy_tree(int from, int to, const char *dest)
{
        int dup_from = fcntl(from, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup_from >= 0 ? fdopendir(dup_from) : NULL;
        struct dirent *e;

        if (d == NULL)
                die(errno, "copy up '%s': read directory", dest);
        while ((errno = 0, e = readdir(d)) != NULL) {
                const char *n = e->d_name;
                struct stat st;
                mode_t perm;

                if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
                        continue;
                if (fstatat(from, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        die(errno, "copy up '%s/%s'", dest, n);
                perm = st.st_mode & 07777;
                if (S_ISDIR(st.st_mode)) {
                        int a, b;
                        if (mkdirat(to, n, 0700) < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                        a = openat(from, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        b = openat(to, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (a < 0 || b < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                        copy_tree(a, b, dest);
                        if (fchown(b, st.st_uid, st.st_gid) < 0 || fchmod(b, perm) < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                        close(a);
                        close(b);
                } else if (S_ISREG(st.st_mode)) {
                        int a = openat(from, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        int b = openat(to, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                        char buf[65536];
                        ssize_t r;
                        if (a < 0 || b < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                        while ((r = read(a, buf, sizeof buf)) > 0)
                                for (ssize_t off = 0; off < r;) {
                                        ssize_t w = write(b, buf + off, (size_t)(r - off));
                                        if (w < 0)
                                                die(errno, "copy up '%s/%s'", dest, n);
                                        off += w;
                                }
                        if (r < 0 || fchown(b, st.st_uid, st.st_gid) < 0 || fchmod(b, perm) < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                        close(a);
                        close(b);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t len = readlinkat(from, n, target, sizeof target - 1);
                        if (len < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                        target[len] = '\0';
                        if (symlinkat(target, to, n) < 0 ||
                            fchownat(to, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                } else {
                        if (mknodat(to, n, st.st_mode, st.st_rdev) < 0 ||
                            fchownat(to, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                            fchmodat(to, n, perm, 0) < 0)
                                die(errno, "copy up '%s/%s'", dest, n);
                }
        }
        if (errno != 0)
                die(errno, "copy up '%s': read directory", dest);
        closedir(d);
}

static void do_mount(int rootfd, const struct spawn *s, const struct mount_spec *m)
{
        char p[64];
        const char *source = m->source, *type = m->type, *data = m->data;
        unsigned long flags = m->flags & ~(MS_BIND | MS_REC);
        bool file = false;
        int fd;

        if (m->minimal_dev) {
                type = "tmpfs";
                source = "tmpfs";
                flags &= ~MS_NODEV;
                if (data[0] == '\0')
                        data = "mode=755,size=65536k";
        } else if (m->cgroup) {
                source = s->cgroup_dir;
        }
        if (m->bind || m->cgroup) {
                struct stat st;
                if (stat(source, &st) < 0)
                        die(errno, "bind source '%s'", source);
                file = !S_ISDIR(st.st_mode);
        }
        fd = mkpath_in_root(rootfd, m->destination, file);
        if (fd < 0)
                die(-fd, "mount point '%s'", m->destination);
        fdpath(p, fd);
        if (m->bind || m->cgroup) {
                if (mount(source, p, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
                        die(errno, "bind '%s' on '%s'", source, m->destination);
                close(fd);
                remount_in_root(rootfd, m->destination,
                                flags | (m->cgroup ? MS_NOSUID | MS_NODEV | MS_NOEXEC : 0), m->propagation);
        } else {
                /* what the tmpfs will cover, still reachable through this fd once it is mounted */
                int under = m->copyup ? openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
                if (m->copyup && under < 0)
                        die(errno, "copy up '%s'", m->destination);
                if (mount(source, p, type, flags, data[0] ? data : NULL) < 0)
                        die(errno, "mount %s on '%s'", type, m->destination);
                close(fd);
                if (under >= 0) {
                        struct stat st;
                        int top = open_in_root(rootfd, m->destination, O_RDONLY | O_DIRECTORY);
                        if (top < 0)
                                die(-top, "copy up '%s'", m->destination);
                        copy_tree(under, top, m->destination);
                        /* the tmpfs takes the covered directory's owner, and its mode unless mode= says */
                        if (fstat(under, &st) < 0 || fchown(top, st.st_uid, st.st_gid) < 0 ||
                            (strstr(data, "mode=") == NULL && fchmod(top, st.st_mode & 07777) < 0))
                                die(errno, "copy up '%s'", m->destination);
                        close(top);
                        close(under);
                }
                if (m->propagation)
                        remount_in_root(rootfd, m->destination, 0, m->propagation);
                if (m->minimal_dev)
                        populate_dev(rootfd, m->destination);
        }
}

static void mask_paths(int rootfd, const struct spawn *s)
{
        char p[64];

        for (size_t i = 0; i < s->nmasked; i++) {
                struct stat st;
                int fd = open_in_root(rootfd, s->masked[i], O_PATH);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        die(-fd, "masked path '%s'", s->masked[i]);
                fdpath(p, fd);
                if (fstat(fd, &st) < 0)
                        die(errno, "masked path '%s'", s->masked[i]);
                if (S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL) < 0
                                        : mount("/dev/null", p, NULL, MS_BIND, NULL) < 0)
                        die(errno, "mask '%s'", s->masked[i]);
                close(fd);
        }
        for (size_t i = 0; i < s->nreadonly; i++) {
                int fd = open_in_root(rootfd, s->readonly[i], O_PATH);
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        die(-fd, "readonly path '%s'", s->readonly[i]);
                fdpath(p, fd);
                if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
                        die(errno, "bind readonly path '%s'", s->readonly[i]);
                close(fd);
                remount_in_root(rootfd, s->readonly[i], MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
        }
}

static void setup_container(const struct spawn *s)
{
        /* a namespace to join (create_container's "join") replaces a new one of its type */
        bool new_uts = s->ns_uts && s->ns_fd_uts < 0, new_ipc = s->ns_ipc && s->ns_fd_ipc < 0;
        /* the cgroup namespace is made after the child joined the container's cgroup: that is its root */
        int flags = CLONE_NEWNS | (new_uts ? CLONE_NEWUTS : 0) | (new_ipc ? CLONE_NEWIPC : 0) |
                    (s->ns_cgroup ? CLONE_NEWCGROUP : 0);
        int rootfd;

        if (s->ns_fd_uts >= 0 && setns(s->ns_fd_uts, CLONE_NEWUTS) < 0)
                die(errno, "join uts namespace");
        if (s->ns_fd_ipc >= 0 && setns(s->ns_fd_ipc, CLONE_NEWIPC) < 0)
                die(errno, "join ipc namespace");
        if (unshare(flags) < 0)
                die(errno, "unshare");
        /* written through the agent's /proc, from inside the container's new namespaces */
        const char *key;
        int rc = sysctl_apply(s, &key);
        if (rc < 0)
                die(-rc, "linux.sysctl: write '%s'", key);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die(errno, "make / private");
        if (mount(s->rootfs, s->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                die(errno, "bind rootfs '%s'", s->rootfs);
        rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                die(errno, "open rootfs '%s'", s->rootfs);
        for (size_t i = 0; i < s->nmounts; i++)
                do_mount(rootfd, s, &s->mounts[i]);
        if ((rc = devices_create(rootfd, s, &key)) < 0)
                die(-rc, "linux.devices: mknod '%s'", key);
        mask_paths(rootfd, s);
        close(rootfd);

        if (chdir(s->rootfs) < 0)
                die(errno, "chdir rootfs");
        /* pivot_root(".", "."): the old root ends up stacked under the new one, then is detached. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                die(errno, "pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                die(errno, "detach old root");
        if (chdir("/") < 0)
                die(errno, "chdir /");
        if (s->rootfs_propagation && mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
                die(errno, "linux.rootfsPropagation: set on /");
        if (s->rootfs_readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                die(errno, "remount root read-only");
        if (new_uts && s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
                die(errno, "sethostname");
}

static void join_container(const struct spawn *s)
{
        if (setns(s->ns_fd_uts, CLONE_NEWUTS) < 0)
                die(errno, "setns uts");
        if (setns(s->ns_fd_ipc, CLONE_NEWIPC) < 0)
                die(errno, "setns ipc");
        if (s->ns_fd_cgroup >= 0 && setns(s->ns_fd_cgroup, CLONE_NEWCGROUP) < 0)
                die(errno, "setns cgroup");
        if (setns(s->ns_fd_mnt, CLONE_NEWNS) < 0)
                die(errno, "setns mnt");
        if (fchdir(s->root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                die(errno, "enter container root");
}

/* Put the fds the process keeps at 0-4 (stdio, status socket, start pipe) and the pty master, if any,
 * at 5; close every other fd the agent had open. */
static void arrange_fds(struct child_fds *fds, int *master)
{
        int want[6] = {fds->stdio[0], fds->stdio[1], fds->stdio[2], fds->sync_fd, fds->start_fd, *master};
        int high[6];
        int n = *master >= 0 ? 6 : 5;

        for (int i = 0; i < n; i++) {
                high[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 6);
                if (high[i] < 0)
                        die(errno, "dup");
        }
        for (int i = 0; i < 3; i++)
                if (dup2(high[i], i) < 0)
                        die(errno, "dup2");
        for (int i = 3; i < n; i++)
                if (dup3(high[i], i, O_CLOEXEC) < 0)
                        die(errno, "dup3");
        sync_fd = 3;
        fds->sync_fd = 3;
        fds->start_fd = 4;
        if (*master >= 0)
                *master = 5;
        if (syscall(SYS_close_range, (unsigned)n, ~0u, 0u) < 0)
                for (int fd = n; fd < 65536; fd++)
                        close(fd);
}

/* The process's terminal: a pty from the devpts the process sees (the container's /dev/ptmx), so that
 * ttyname() works inside; the agent's when the container has none. TIOCGPTPEER opens the slave from
 * the master itself, whatever the mount namespace. Returns the master; the slave becomes stdio. */
static int open_terminal(const struct spawn *s, struct child_fds *fds, int fallback_master)
{
        int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), slave;

        if (master < 0) {
                master = fallback_master;
                if (master < 0)
                        die(errno, "open /dev/ptmx");
        } else if (fallback_master >= 0) {
                close(fallback_master);
        }
        if (unlockpt(master) < 0)
                die(errno, "unlockpt");
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                die(errno, "open the pty slave");
        if (s->rows && s->cols) {
                struct winsize ws = {.ws_row = s->rows, .ws_col = s->cols};
                if (ioctl(master, TIOCSWINSZ, &ws) < 0)
                        die(errno, "set the terminal size");
        }
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
                die(errno, "set controlling terminal");
        /* the process owns its terminal, as with a login */
        if (fchown(slave, s->uid, (gid_t)-1) < 0 && errno != EPERM)
                die(errno, "chown the pty");
        fds->stdio[0] = fds->stdio[1] = fds->stdio[2] = slave;
        return master;
}

/* Find argv[0] as execvp will, with the process's own PATH, as the process's user, and fail set-up when
 * it cannot be run: runc does the same before it reports a container created, so a missing command
 * fails create (which engines turn into exit status 127, or 126 when it is not executable) and not
 * start. */
static void check_executable(const char *cmd)
{
        const char *path = getenv("PATH");
        char buf[PATH_MAX];
        struct stat st;
        int err = ENOENT;

        if (strchr(cmd, '/')) {
                if (stat(cmd, &st) < 0)
                        die(errno, "exec '%s'", cmd);
                if (!S_ISREG(st.st_mode) || access(cmd, X_OK) < 0)
                        die(EACCES, "exec '%s'", cmd);
                return;
        }
        if (path == NULL)
                path = "/bin:/usr/bin"; /* execvp's default (confstr _CS_PATH) */
        for (const char *p = path;; p++) {
                const char *end = strchrnul(p, ':');
                int n = end == p ? snprintf(buf, sizeof buf, "%s", cmd)
                                 : snprintf(buf, sizeof buf, "%.*s/%s", (int)(end - p), p, cmd);
                if (n > 0 && (size_t)n < sizeof buf && stat(buf, &st) == 0) {
                        if (S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
                                return;
                        err = EACCES;
                }
                if (*end == '\0')
                        break;
                p = end;
        }
        die(err, "exec '%s'", cmd);
}

/* The init process's /dev/console is its terminal, as runc makes it. A root without a /dev it can create
 * the file in (read-only, no /dev mount) gets none. */
static void bind_console(int master)
{
        char name[64];
        int fd;

        if (ptsname_r(master, name, sizeof name) != 0)
                die(errno, "name the pty");
        if (access(name, F_OK) < 0)
                return; /* the guest's pty: the container has no devpts that names it */
        fd = open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                if (errno == EROFS || errno == ENOENT)
                        return;
                die(errno, "create /dev/console");
        }
        close(fd);
        if (mount(name, "/dev/console", NULL, MS_BIND, NULL) < 0)
                die(errno, "bind '%s' on /dev/console", name);
}

void child_run(struct spawn *s, struct child_fds *fds, bool is_exec)
{
        sigset_t all;
        char c;
        int master = -1, rc;

        sync_fd = fds->sync_fd;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                signal(sig, SIG_DFL);
        umask(0);

        if (setsid() < 0)
                die(errno, "setsid");
        /* A pty from the agent's devpts, in case the container has none of its own. */
        int fallback_master = fds->terminal ? open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
        if (s->cgroup_dir) {
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/cgroup.procs", s->cgroup_dir);
                int rc = vc_write_file(path, "0");
                if (rc < 0)
                        die(-rc, "join cgroup '%s'", s->cgroup_dir);
        }
        if (s->oom_score_adj_set) {
                char v[16];
                snprintf(v, sizeof v, "%d", s->oom_score_adj);
                int rc = vc_write_file("/proc/self/oom_score_adj", v);
                if (rc < 0)
                        die(-rc, "process.oomScoreAdj: write %s", v);
        }
        if (is_exec)
                join_container(s);
        else
                setup_container(s);

        if (fds->terminal) {
                master = open_terminal(s, fds, fallback_master);
                if (!is_exec)
                        bind_console(master);
        }

        if (setrlimit(RLIMIT_NOFILE, &agent_nofile_default) < 0)
                die(errno, "setrlimit RLIMIT_NOFILE");
        for (size_t i = 0; i < s->nrlimits; i++)
                if (setrlimit(s->rlimits[i].resource, &s->rlimits[i].lim) < 0)
                        die(errno, "setrlimit %s %llu:%llu", s->rlimits[i].name,
                            (unsigned long long)s->rlimits[i].lim.rlim_cur,
                            (unsigned long long)s->rlimits[i].lim.rlim_max);
        if (chdir(s->cwd) < 0)
                die(errno, "chdir '%s'", s->cwd);
        /* Without no_new_privs, loading a filter takes CAP_SYS_ADMIN: before the capabilities go (runc). */
        if (s->seccomp && !s->no_new_privs && (rc = agent_seccomp_load(s->seccomp)) < 0)
                die(-rc, "linux.seccomp: load the filter");
        if ((rc = caps_drop_bounding(&s->caps)) < 0)
                die(-rc, "process.capabilities.bounding: drop");
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                die(errno, "keep capabilities");
        if (setgroups(s->ngroups, s->groups) < 0)
                die(errno, "setgroups");
        if (setgid(s->gid) < 0)
                die(errno, "setgid %u", (unsigned)s->gid);
        if (setuid(s->uid) < 0)
                die(errno, "setuid %u", (unsigned)s->uid);
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                die(errno, "keep capabilities");
        if ((rc = caps_apply(&s->caps)) < 0)
                die(-rc, "process.capabilities: set");
        if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                die(errno, "no_new_privs");
        arrange_fds(fds, &master);
        umask(022);
        environ = s->env;
        check_executable(s->argv[0]);

        /* Set up: tell the agent (handing it the pty master), then wait for start (a byte; EOF means the
         * agent gave up on us). */
        struct sync_msg ready = {0};
        struct iovec iov = {.iov_base = &ready, .iov_len = sizeof ready};
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } cm;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (master >= 0) {
                memset(&cm, 0, sizeof cm);
                mh.msg_control = cm.buf;
                mh.msg_controllen = sizeof cm.buf;
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &master, sizeof(int));
        }
        if (sendmsg(sync_fd, &mh, MSG_NOSIGNAL) != sizeof ready)
                _exit(127);
        if (master >= 0)
                close(master);
        for (;;) {
                ssize_t n = read(fds->start_fd, &c, 1);
                if (n == 1)
                        break;
                if (n < 0 && errno == EINTR)
                        continue;
                _exit(255);
        }
        close(fds->start_fd);
        /* as close to the execve as can be, so that the profile need allow the fewest calls (runc) */
        if (s->seccomp && s->no_new_privs && (rc = agent_seccomp_load(s->seccomp)) < 0)
                die(-rc, "linux.seccomp: load the filter");
        execvp(s->argv[0], s->argv);
        die(errno, "exec '%s'", s->argv[0]);
}
