/* Does KVM really work? Two probes, both real: a vcpu created through the KVM API runs a few real-mode
 * instructions, and qemu itself runs a tiny firmware with -accel kvm -cpu host. The second one matters on
 * nested hosts whose /dev/kvm accepts simple guests but fails to set up the MSRs of a full vcpu. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vc/hypervisor.h"

#define GUEST_ADDR 0x1000
/* mov ax, 0x2a2a; add ax, 1; hlt */
static const unsigned char probe_code[] = {0xb8, 0x2a, 0x2a, 0x05, 0x01, 0x00, 0xf4};

static int reason(char **ret, const char *fmt, ...) _printf_(2, 3);
static int reason(char **ret, const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (s == NULL)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int probe_ioctl(char **ret_reason)
{
        _cleanup_close_ int kvm = -1, vm = -1, vcpu = -1;
        struct kvm_userspace_memory_region region;
        struct kvm_sregs sregs;
        struct kvm_regs regs;
        struct kvm_run *run = MAP_FAILED;
        void *mem = MAP_FAILED;
        long run_size = 0;
        int ok = 0, r;

        kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0)
                return reason(ret_reason, "/dev/kvm: %s", strerror(errno)) ?: 0;
        r = ioctl(kvm, KVM_GET_API_VERSION, 0);
        if (r != KVM_API_VERSION)
                return reason(ret_reason, "/dev/kvm: API version %d, want %d", r, KVM_API_VERSION) ?: 0;
        vm = ioctl(kvm, KVM_CREATE_VM, 0);
        if (vm < 0)
                return reason(ret_reason, "KVM_CREATE_VM: %s", strerror(errno)) ?: 0;
        mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
                return -errno;
        memcpy(mem, probe_code, sizeof probe_code);
        region = (struct kvm_userspace_memory_region){.slot = 0,
                                                      .guest_phys_addr = GUEST_ADDR,
                                                      .memory_size = 0x1000,
                                                      .userspace_addr = (uintptr_t)mem};
        if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
                r = reason(ret_reason, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
                goto out;
        }
        vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
        if (vcpu < 0) {
                r = reason(ret_reason, "KVM_CREATE_VCPU: %s", strerror(errno));
                goto out;
        }
        run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (run_size <= 0) {
                r = reason(ret_reason, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
                goto out;
        }
        run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
        if (run == MAP_FAILED) {
                r = reason(ret_reason, "mmap kvm_run: %s", strerror(errno));
                goto out;
        }
        if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
                r = reason(ret_reason, "KVM_GET_SREGS: %s", strerror(errno));
                goto out;
        }
        sregs.cs.base = 0;
        sregs.cs.selector = 0;
        if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
                r = reason(ret_reason, "KVM_SET_SREGS: %s", strerror(errno));
                goto out;
        }
        memset(&regs, 0, sizeof regs);
        regs.rip = GUEST_ADDR;
        regs.rflags = 0x2;
        if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
                r = reason(ret_reason, "KVM_SET_REGS: %s", strerror(errno));
                goto out;
        }
        for (int i = 0; i < 8; i++) {
                if (ioctl(vcpu, KVM_RUN, 0) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = reason(ret_reason, "KVM_RUN: %s", strerror(errno));
                        goto out;
                }
                if (run->exit_reason == KVM_EXIT_HLT)
                        break;
                if (run->exit_reason != KVM_EXIT_INTR) {
                        r = reason(ret_reason, "KVM_RUN: unexpected exit reason %u", run->exit_reason);
                        goto out;
                }
        }
        if (run->exit_reason != KVM_EXIT_HLT) {
                r = reason(ret_reason, "KVM_RUN: the probe vcpu did not halt");
                goto out;
        }
        if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0 || (regs.rax & 0xffff) != 0x2a2b) {
                r = reason(ret_reason, "KVM_RUN: the probe vcpu computed a wrong result");
                goto out;
        }
        ok = 1;
        r = 0;
out:
        if (run != MAP_FAILED)
                munmap(run, (size_t)run_size);
        munmap(mem, 0x1000);
        return r < 0 ? r : ok;
}

/* qemu -accel kvm -cpu host on a 64 KiB firmware whose reset vector writes 0x31 to an isa-debug-exit
 * device at port 0xf4: qemu then exits with (0x31 << 1) | 1 = 99. */
static int probe_qemu(const char *qemu, char **ret_reason)
{
        static const unsigned char reset[] = {0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfe};
        _cleanup_free_ unsigned char *img = NULL;
        _cleanup_close_ int fw = -1;
        int errp[2] = {-1, -1};
        char errbuf[1024];
        size_t errlen = 0;
        int status = 0, exited = 0;
        pid_t pid;

        img = malloc(65536);
        if (img == NULL)
                return -ENOMEM;
        memset(img, 0xf4, 65536); /* hlt everywhere else */
        memcpy(img + 0xfff0, reset, sizeof reset);
        fw = memfd_create("vc-kvm-probe", MFD_CLOEXEC);
        if (fw < 0)
                return -errno;
        if (write(fw, img, 65536) != 65536)
                return -EIO;
        if (pipe2(errp, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(errp[0]);
                close(errp[1]);
                return -errno;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                /* fd 3 is the firmware for the child: /proc/self/fd/3 names it without a temp file */
                if (dup2(fw, 3) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(errp[1], 2) < 0)
                        _exit(126);
                execl(qemu, qemu, "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-m", "16",
                      "-nodefaults", "-no-user-config", "-display", "none", "-bios", "/proc/self/fd/3",
                      "-device", "isa-debug-exit,iobase=0xf4,iosize=1", (char *)NULL);
                _exit(127);
        }
        close(errp[1]);
        /* read its stderr until it closes, 5 s at most */
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct pollfd pfd = {.fd = errp[0], .events = POLLIN};
                clock_gettime(CLOCK_MONOTONIC, &now);
                long left =
                    5000 - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
                if (left <= 0)
                        break;
                int n = poll(&pfd, 1, (int)left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                ssize_t k = read(errp[0], errbuf + errlen, sizeof errbuf - 1 - errlen);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                errlen += (size_t)k;
                if (errlen == sizeof errbuf - 1)
                        errlen = 0; /* keep the tail only */
        }
        close(errp[0]);
        for (int i = 0; i < 50; i++) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        exited = 1;
                        break;
                }
                usleep(10000);
        }
        if (!exited) {
                kill(pid, SIGKILL);
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
                return reason(ret_reason, "qemu -accel kvm did not finish within 5 s") ?: 0;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 99)
                return 1;
        errbuf[errlen] = '\0';
        /* the first line says most (later ones are assertion noise) */
        char *line = errbuf;
        line[strcspn(line, "\n")] = '\0';
        if (WIFSIGNALED(status))
                return reason(ret_reason, "qemu -accel kvm died of signal %d%s%s", WTERMSIG(status),
                              line[0] ? ": " : "", line)
                           ?: 0;
        return reason(ret_reason, "qemu -accel kvm exited with %d%s%s", WEXITSTATUS(status),
                      line[0] ? ": " : "", line)
                   ?: 0;
}

int vc_kvm_probe(const char *qemu, char **ret_reason)
{
        char *why = NULL;
        int r = probe_ioctl(&why);
        if (r == 1 && qemu)
                r = probe_qemu(qemu, &why);
        if (r < 0) {
                free(why);
                return r;
        }
        if (ret_reason)
                *ret_reason = why;
        else
                free(why);
        return r;
}

int vc_accel_resolve(const char *want, const char *qemu, const char **ret_accel, vc_error_t *err)
{
        _cleanup_free_ char *why = NULL;
        int r;

        if (want == NULL || strcmp(want, "auto") == 0 || strcmp(want, "kvm") == 0) {
                r = vc_kvm_probe(qemu, &why);
                if (r < 0)
                        return vc_error_set(err, -r, "kvm probe");
                if (r == 1) {
                        *ret_accel = "kvm";
                        return 0;
                }
                if (want && strcmp(want, "kvm") == 0)
                        return vc_error_setx(err, ENODEV, "accel 'kvm' is not usable: %s", why);
                *ret_accel = "tcg";
                return 0;
        }
        if (strcmp(want, "tcg") == 0) {
                *ret_accel = "tcg";
                return 0;
        }
        return vc_error_setx(err, EINVAL, "accel '%s' is not auto, kvm or tcg", want);
}
