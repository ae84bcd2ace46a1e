/* The QEMU command line of a sandbox VM and the discovery of qemu and virtiofsd. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rpc.h"
#include "util.h"
#include "vc/hypervisor.h"

/* A growable argv. */
struct strv {
        char **v;
        size_t n, cap;
        int oom;
};

static void strv_add(struct strv *s, const char *fmt, ...) _printf_(2, 3);
static void strv_add(struct strv *s, const char *fmt, ...)
{
        char *str = NULL;
        va_list ap;

        if (s->oom)
                return;
        if (s->n + 2 > s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                char **v = realloc(s->v, cap * sizeof *v);
                if (v == NULL) {
                        s->oom = 1;
                        return;
                }
                s->v = v;
                s->cap = cap;
        }
        va_start(ap, fmt);
        if (vasprintf(&str, fmt, ap) < 0) {
                s->oom = 1;
                va_end(ap);
                return;
        }
        va_end(ap);
        s->v[s->n++] = str;
        s->v[s->n] = NULL;
}

/* vc_strv_free lives in state.c (include/vc/state.h) */

/* QEMU option values are split at ',' (",," escapes one): paths given to -kernel and friends are
 * whole values, but paths inside a key=value list must not contain ','. */
static int check_path(const char *what, const char *p, int in_list, vc_error_t *err)
{
        if (p == NULL || p[0] == '\0')
                return vc_error_setx(err, EINVAL, "qemu config: %s is missing", what);
        if (p[0] != '/')
                return vc_error_setx(err, EINVAL, "qemu config: %s '%s' is not an absolute path", what, p);
        if (in_list && strchr(p, ','))
                return vc_error_setx(err, EINVAL, "qemu config: %s '%s' contains ','", what, p);
        return 0;
}

int vc_qemu_check_nic(const struct vc_qemu_nic *nic, vc_error_t *err)
{
        const char *t = nic ? nic->tap : NULL, *m = nic ? nic->mac : NULL;
        unsigned b[6];
        int n = 0;

        if (t == NULL || t[0] == '\0' || strlen(t) > 15 ||
            strspn(t, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(t))
                return vc_error_setx(err, EINVAL, "qemu config: nic tap '%s' is not an interface name",
                                     t ? t : "");
        if (m == NULL || strlen(m) != 17 ||
            sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) != 6 ||
            n != 17 || strspn(m, "0123456789abcdefABCDEF:") != 17)
                return vc_error_setx(err, EINVAL, "qemu config: nic '%s': mac '%s' is not aa:bb:cc:dd:ee:ff",
                                     t, m ? m : "");
        return 0;
}

/* Work a VM's kernel need not do at boot, as Kata's guests skip it: trust the TSC the hypervisor gives
 * (no calibration against the PIT, no check of the timer interrupt), no grace-period waits for RCU, no
 * probing for a PS/2 keyboard and mouse that are not there, no rewriting of SMP alternatives, no self-test
 * of the crypto algorithms, and no scan of 255 more PCI buses for root bridges (devices behind bridges
 * and root ports are still found). */
#define BOOT_PARAMS                                                                                          \
        "tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 i8042.nopnp=1 " \
        "i8042.noaux=1 noreplace-smp cryptomgr.notests pci=lastbus=0"

/* Under TCG a guest with one vCPU keeps time with the HPET alone: no local APIC timer, which TCG's CPUs
 * have without TSC-deadline mode, so the kernel would spend 100 ms of every boot measuring its rate against
 * the PM timer. With more vCPUs the HPET would have to broadcast every CPU's tick (more CPU for an idle
 * guest, measured), and under KVM the timer needs no calibration. */
#define TCG_UP_PARAMS "noapictimer"

int vc_qemu_build_argv(const struct vc_qemu_config *c, char ***ret_argv, vc_error_t *err)
{
        struct strv s = {0};
        int kvm, r;

        if ((r = check_path("qemu", c->qemu, 0, err)) < 0 ||
            (r = check_path("kernel", c->kernel, 0, err)) < 0 ||
            (r = check_path("initrd", c->initrd, 0, err)) < 0 || (r = check_path("dir", c->dir, 1, err)) < 0)
                return r;
        if (c->firmware && c->firmware[0] && (r = check_path("firmware", c->firmware, 0, err)) < 0)
                return r;
        if (c->vfsd_socket && (r = check_path("virtiofsd socket", c->vfsd_socket, 1, err)) < 0)
                return r;
        if (c->accel == NULL || (strcmp(c->accel, "kvm") != 0 && strcmp(c->accel, "tcg") != 0))
                return vc_error_setx(err, EINVAL, "qemu config: accel '%s' is not kvm or tcg",
                                     c->accel ? c->accel : "");
        if (c->vcpus < 1 || c->vcpus > 255)
                return vc_error_setx(err, EINVAL, "qemu config: vcpus %u is not within 1..255", c->vcpus);
        if (c->memory_mib < 64 || c->memory_mib > 1024 * 1024)
                return vc_error_setx(err, EINVAL, "qemu config: memory %u MiB is not within 64..1048576",
                                     c->memory_mib);
        if (c->kernel_params && strpbrk(c->kernel_params, "\n\r"))
                return vc_error_setx(err, EINVAL, "qemu config: kernel parameters contain a newline");
        if (c->name && strpbrk(c->name, ",="))
                return vc_error_setx(err, EINVAL, "qemu config: name '%s' contains ',' or '='", c->name);
        if (c->n_nics > VC_QEMU_MAX_NICS)
                return vc_error_setx(err, EINVAL, "qemu config: %zu nics, at most %d", c->n_nics,
                                     VC_QEMU_MAX_NICS);
        for (size_t i = 0; i < c->n_nics; i++)
                if ((r = vc_qemu_check_nic(&c->nics[i], err)) < 0)
                        return r;
        if (c->hotplug_ports > 8)
                return vc_error_setx(err, EINVAL, "qemu config: hotplug ports %u is not within 0..8",
                                     c->hotplug_ports);
        if (c->template_shape) {
                if ((r = check_path("template memory file", c->mem_file, 1, err)) < 0)
                        return r;
                if (c->share_9p && (r = check_path("9p share", c->share_9p, 1, err)) < 0)
                        return r;
                if (c->vfsd_socket || c->n_nics)
                        return vc_error_setx(err, EINVAL,
                                             "qemu config: a template-shaped VM boots without a file "
                                             "system and NICs (they are hot-plugged)");
        } else if (c->mem_file || c->incoming || c->share_9p || c->mem_private) {
                return vc_error_setx(err, EINVAL,
                                     "qemu config: a memory file and -incoming need the "
                                     "template shape");
        }
        kvm = strcmp(c->accel, "kvm") == 0;

        strv_add(&s, "%s", c->qemu);
        if (c->name)
                strv_add(&s, "-name"), strv_add(&s, "sandbox-%s", c->name);
        strv_add(&s, "-machine");
        strv_add(&s, "q35");
        /* qboot sets up what a -kernel boot needs (e820, PCI, QEMU's ACPI tables) and jumps to the kernel:
         * about 100 ms less than SeaBIOS under TCG (docs/configuration.md, firmware). A template keeps
         * QEMU's own: qboot cannot place vmgenid's ACPI buffer (it hangs), and a clone runs no firmware. */
        if (c->firmware && c->firmware[0] && !c->template_shape)
                strv_add(&s, "-bios"), strv_add(&s, "%s", c->firmware);
        strv_add(&s, "-accel");
        /* TCG's translation cache defaults to a quarter of guest memory (64 MiB for 256 MiB), all of it
         * touched in time; see docs/configuration.md (tcg_cache_mib) for what the size costs and buys. */
        if (kvm)
                strv_add(&s, "kvm");
        else
                strv_add(&s, "tcg,tb-size=%u", c->tcg_cache_mib ? c->tcg_cache_mib : 16);
        /* Under TCG every feature QEMU emulates, but not "fast rep movsb" (ERMS, FSRM): with it the guest
         * kernel copies and clears memory with rep movsb/stosb, which TCG runs one byte per loop pass.
         * Without it the same copies take 8-byte steps: a pipe in the guest moves 3x the bytes, /dev/zero to
         * /dev/null 7x (docs/configuration.md). Only how copies are made changes; every instruction stays. */
        strv_add(&s, "-cpu");
        strv_add(&s, "%s", kvm ? "host" : "max,-erms,-fsrm");
        strv_add(&s, "-smp");
        strv_add(&s, "%u", c->vcpus);
        strv_add(&s, "-m");
        strv_add(&s, "%uM", c->memory_mib);
        /* vhost-user (virtiofsd) maps guest memory, so it has to be a shareable memfd; a template's RAM
         * is a file its clones start from (docs/factory.md). */
        strv_add(&s, "-object");
        if (c->template_shape)
                strv_add(&s, "memory-backend-file,id=mem,size=%uM,mem-path=%s,share=%s", c->memory_mib,
                         c->mem_file, c->mem_private ? "off" : "on");
        else
                strv_add(&s, "memory-backend-memfd,id=mem,size=%uM,share=on", c->memory_mib);
        strv_add(&s, "-numa");
        strv_add(&s, "node,memdev=mem");
        strv_add(&s, "-nodefaults");
        strv_add(&s, "-no-user-config");
        strv_add(&s, "-nographic");
        strv_add(&s, "-no-reboot");
        strv_add(&s, "-kernel");
        strv_add(&s, "%s", c->kernel);
        strv_add(&s, "-initrd");
        strv_add(&s, "%s", c->initrd);
        strv_add(&s, "-append");
        /* panic=1 with -no-reboot: a guest panic ends qemu, which the supervisor notices. Free page
         * reporting in 128 KiB blocks rather than the kernel's 2 MiB gives the host back about a quarter
         * of an idle guest's memory (what boot touched and freed); kernel_params come last and win. */
        strv_add(
            &s,
            "console=ttyS0 panic=1 reboot=k page_reporting.page_reporting_order=5 " BOOT_PARAMS "%s%s%s%s",
            kvm || c->vcpus > 1 ? "" : " " TCG_UP_PARAMS, c->debug ? "" : " quiet",
            c->kernel_params && c->kernel_params[0] ? " " : "", c->kernel_params ? c->kernel_params : "");
        strv_add(&s, "-chardev");
        strv_add(&s, "file,id=console,path=%s/console.log", c->dir);
        strv_add(&s, "-serial");
        strv_add(&s, "chardev:console");
        strv_add(&s, "-chardev");
        strv_add(&s, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", c->dir);
        strv_add(&s, "-mon");
        strv_add(&s, "chardev=qmp,mode=control");
        /* Free page reporting: the guest hands back memory it freed (the decompressed kernel image, boot-time
         * buffers), and qemu punches it out of the memfd, so an idle sandbox holds only what its guest uses.
         */
        if (!c->template_shape) {
                strv_add(&s, "-device");
                strv_add(&s, "virtio-balloon-pci,id=balloon0,free-page-reporting=on");
        }
        strv_add(&s, "-device");
        strv_add(&s, "virtio-serial-pci,id=serial0");
        strv_add(&s, "-chardev");
        strv_add(&s, "socket,id=agent,path=%s/agent.sock,server=on,wait=off", c->dir);
        strv_add(&s, "-device");
        strv_add(&s, "virtserialport,chardev=agent,name=agent.channel.0");
        if (c->vfsd_socket) {
                strv_add(&s, "-chardev");
                strv_add(&s, "socket,id=vfsd,path=%s", c->vfsd_socket);
                strv_add(&s, "-device");
                strv_add(&s, "vhost-user-fs-pci,chardev=vfsd,tag=" VC_SHARE_TAG ",queue-size=1024");
        }
        strv_add(&s, "-device");
        strv_add(&s, "virtio-rng-pci");
        /* One virtio-net per mirrored interface, on the tap beside it. No vhost (/dev/vhost-net is often
         * absent, and QEMU's own backend is what TCG uses anyway); no option ROM: the guest boots by -kernel,
         * never from the network. */
        for (size_t i = 0; i < c->n_nics; i++) {
                strv_add(&s, "-netdev");
                strv_add(&s, "tap,id=net-%s,ifname=%s,script=no,downscript=no,vhost=off", c->nics[i].tap,
                         c->nics[i].tap);
                strv_add(&s, "-device");
                strv_add(&s, "virtio-net-pci,netdev=net-%s,id=nic-%s,mac=%s,romfile=", c->nics[i].tap,
                         c->nics[i].tap, c->nics[i].mac);
        }
        /* q35's root bus takes no hot-plugged devices: interfaces that appear after boot go to these. */
        for (unsigned i = 0; i < c->hotplug_ports; i++) {
                strv_add(&s, "-device");
                strv_add(&s, "pcie-root-port,id=vc-rp%u,bus=pcie.0,chassis=%u", i, i + 1);
        }
        if (c->template_shape) {
                strv_add(&s, "-device");
                strv_add(&s, "pcie-root-port,id=vc-fs,bus=pcie.0,chassis=16");
                for (unsigned i = 0; i < VC_TEMPLATE_NIC_PORTS; i++) {
                        strv_add(&s, "-device");
                        strv_add(&s, "pcie-root-port,id=vc-np%u,bus=pcie.0,chassis=%u", i, 17 + i);
                }
                /* 9p is QEMU's own server, so it needs no process that maps guest RAM: a clone's RAM can
                 * be the template's file, copy-on-write. The guest mounts it only in a clone (mounted, it
                 * would block the template's migration). */
                if (c->share_9p) {
                        strv_add(&s, "-fsdev");
                        strv_add(&s, "local,id=fs9p,path=%s,security_model=none", c->share_9p);
                        strv_add(&s, "-device");
                        strv_add(&s, "virtio-9p-pci,fsdev=fs9p,mount_tag=" VC_SHARE_TAG);
                }
                /* A clone gets a generation ID of its own (guid=auto is drawn when its qemu starts, and
                 * written into the restored guest with an ACPI notification): a guest kernel with the vmgenid
                 * driver reseeds its RNG on it, besides the agent's restore call. */
                strv_add(&s, "-device");
                strv_add(&s, "vmgenid,guid=auto");
                if (c->incoming)
                        strv_add(&s, "-incoming"), strv_add(&s, "defer");
        }
        if (s.oom) {
                vc_strv_free(s.v);
                return vc_error_set(err, ENOMEM, "qemu command line");
        }
        *ret_argv = s.v;
        return 0;
}

int vc_find_program(const char *name, char **ret_path, vc_error_t *err)
{
        _cleanup_free_ char *path_env = NULL;
        char *save = NULL;

        if (name == NULL || name[0] == '\0')
                return vc_error_setx(err, EINVAL, "empty program name");
        if (strchr(name, '/')) {
                char *p;
                if (access(name, X_OK) < 0)
                        return vc_error_set(err, errno, "'%s'", name);
                p = realpath(name, NULL);
                if (p == NULL)
                        return vc_error_set(err, errno, "'%s'", name);
                *ret_path = p;
                return 0;
        }
        path_env = strdup(getenv("PATH") ? getenv("PATH") : "/usr/local/bin:/usr/bin:/bin");
        if (path_env == NULL)
                return vc_error_set(err, ENOMEM, "PATH");
        for (char *d = strtok_r(path_env, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char *p = NULL;
                struct stat st;
                if (asprintf(&p, "%s/%s", d, name) < 0)
                        return vc_error_set(err, ENOMEM, "PATH");
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
                        *ret_path = p;
                        return 0;
                }
                free(p);
        }
        return vc_error_setx(err, ENOENT, "'%s' not found in PATH", name);
}

int vc_find_virtiofsd(char **ret_path, vc_error_t *err)
{
        static const char *const candidates[] = {"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd",
                                                 "/usr/lib/virtiofsd"};
        if (vc_find_program("virtiofsd", ret_path, NULL) == 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
                if (access(candidates[i], X_OK) == 0) {
                        *ret_path = strdup(candidates[i]);
                        return *ret_path ? 0 : vc_error_set(err, ENOMEM, "virtiofsd");
                }
        return vc_error_setx(err, ENOENT, "virtiofsd not found (PATH, /usr/lib/qemu, /usr/libexec)");
}

/* "QEMU emulator version 7.2.22 (Debian ...)" -> "7.2.22" */
static int qemu_version(const char *qemu, char **ret, vc_error_t *err)
{
        int p[2];
        char buf[512];
        size_t len = 0;
        pid_t pid;
        int status;

        if (pipe2(p, O_CLOEXEC) < 0)
                return vc_error_set(err, errno, "pipe");
        pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return vc_error_set(err, errno, "fork");
        }
        if (pid == 0) {
                dup2(p[1], 1);
                execl(qemu, qemu, "-version", (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        for (;;) {
                ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
                if (len == sizeof buf - 1)
                        break;
        }
        close(p[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        buf[len] = '\0';
        char *v = strstr(buf, "version ");
        if (v == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return vc_error_setx(err, EIO, "'%s -version' did not print a version", qemu);
        v += strlen("version ");
        *ret = strndup(v, strcspn(v, " \n("));
        return *ret ? 0 : vc_error_set(err, ENOMEM, "qemu version");
}

void vc_hypervisor_info_clear(struct vc_hypervisor_info *info)
{
        free(info->kvm_reason);
        free(info->qemu);
        free(info->qemu_version);
        free(info->virtiofsd);
        memset(info, 0, sizeof *info);
}

int vc_hypervisor_probe(const char *qemu, struct vc_hypervisor_info *ret, vc_error_t *err)
{
        struct vc_hypervisor_info info = {0};
        int r;

        r = vc_find_program(qemu ? qemu : "qemu-system-x86_64", &info.qemu, err);
        if (r < 0)
                return vc_error_wrap(err, "qemu");
        r = qemu_version(info.qemu, &info.qemu_version, err);
        if (r < 0) {
                vc_hypervisor_info_clear(&info);
                return r;
        }
        r = vc_kvm_probe(info.qemu, &info.kvm_reason);
        if (r < 0) {
                vc_hypervisor_info_clear(&info);
                return vc_error_set(err, -r, "kvm probe");
        }
        info.kvm = r;
        if (info.kvm_reason == NULL && (info.kvm_reason = strdup("ok")) == NULL) {
                vc_hypervisor_info_clear(&info);
                return vc_error_set(err, ENOMEM, "kvm probe");
        }
        info.accel = info.kvm ? "kvm" : "tcg";
        (void)vc_find_virtiofsd(&info.virtiofsd, NULL);
        *ret = info;
        return 0;
}
