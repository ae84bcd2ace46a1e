/* The hypervisor side of a sandbox: QEMU command line, accelerator probe, tool discovery. */
#ifndef VC_HYPERVISOR_H
#define VC_HYPERVISOR_H

#include <stddef.h>

#include "vc/error.h"

/* A virtio-net device bound to a tap in qemu's network namespace (include/vc/net.h makes the tap). */
struct vc_qemu_nic {
        const char *tap; /* interface name; QEMU opens it by name (script=no, vhost off) */
        const char *mac; /* "aa:bb:cc:dd:ee:ff": the guest NIC's address, the mirrored link's */
};

/* What a QEMU command line is built from (all paths absolute). */
struct vc_qemu_config {
        const char *qemu;          /* binary */
        const char *name;          /* sandbox id, shown in ps as -name sandbox-<id> */
        const char *dir;           /* sandbox directory: qmp.sock, agent.sock, console.log live here */
        const char *kernel;        /* guest kernel */
        const char *initrd;        /* guest initramfs (the agent is its init) */
        const char *kernel_params; /* appended to the built-in command line; may be NULL */
        const char *firmware;      /* -bios image (qboot); NULL or "": QEMU's own (SeaBIOS) */
        const char *accel;         /* "kvm" or "tcg" (resolved, not "auto") */
        const char *vfsd_socket;   /* virtiofsd's vhost-user socket; NULL: no shared file system */
        unsigned vcpus;
        unsigned memory_mib;
        unsigned tcg_cache_mib;         /* TCG's translation cache; 0: 16 (unused with KVM) */
        int debug;                      /* drop "quiet" from the kernel command line */
        const struct vc_qemu_nic *nics; /* present at boot, as netdev net-<tap> + device nic-<tap> */
        size_t n_nics;                  /* at most VC_QEMU_MAX_NICS */
        unsigned hotplug_ports;         /* empty PCIe root ports vc-rp0.. for devices added later; <= 8 */
        /* VM templates (docs/factory.md). A template and its clones share one device set, so the template
         * shape is fixed: guest RAM in mem_file (memory-backend-file, share=on), no balloon (it would punch
         * holes into the template's RAM from a clone), no file system and no NIC at boot, and root ports
         * for what a clone hot-plugs after its restore: vc-fs (the shared file system) and vc-np0..
         * (VC_TEMPLATE_NIC_PORTS, the NICs a sandbox boots with), besides vc-rp0.. (hotplug_ports). */
        int template_shape;
        const char *mem_file; /* template shape: the RAM file (absolute, no ',') */
        int incoming;         /* template shape: -incoming defer (a clone, restored over QMP) */
        /* template shape: the share is served by QEMU over virtio-9p from this directory (absolute, no ','),
         * a device of the template itself, and the RAM is mapped copy-on-write (share=off) from mem_file */
        const char *share_9p;
        int mem_private;
};
#define VC_QEMU_MAX_NICS 16
#define VC_TEMPLATE_NIC_PORTS 4

/* NULL-safe checks of a tap name and a MAC as vc_qemu_build_argv() wants them: 0 or -EINVAL. */
int vc_qemu_check_nic(const struct vc_qemu_nic *nic, vc_error_t *err);

/* Build the argv (NULL-terminated, argv[0] = cfg->qemu) for cfg; -EINVAL with a one-line message on a
 * missing or invalid field. Free with vc_strv_free(). */
int vc_qemu_build_argv(const struct vc_qemu_config *cfg, char ***ret_argv, vc_error_t *err);
/* NULL-safe; returns NULL (the same function vc/state.h declares). */
char **vc_strv_free(char **v);

/* Look a program up: a name with a '/' is taken as is (it must be executable), anything else is searched
 * in $PATH. -ENOENT when not found. */
int vc_find_program(const char *name, char **ret_path, vc_error_t *err);
/* virtiofsd: $PATH, then /usr/lib/qemu/virtiofsd, /usr/libexec/virtiofsd. */
int vc_find_virtiofsd(char **ret_path, vc_error_t *err);

/* Does KVM really work here? Opens /dev/kvm, creates a VM whose vcpu runs a few real-mode instructions
 * ending in HLT and checks for KVM_EXIT_HLT; then, when qemu is not NULL, runs qemu -accel kvm -cpu host
 * on a 64 KiB firmware image that writes to an isa-debug-exit port (nested setups can pass the first
 * test and still fail to set up a stock vcpu). Returns 1 when usable, 0 when not (with *ret_reason
 * saying why, malloc'd), negative errno on an internal failure (out of memory). */
int vc_kvm_probe(const char *qemu, char **ret_reason);

/* Resolve "auto" | "kvm" | "tcg" (NULL means auto) to "kvm" or "tcg" (a static string). "kvm" when it
 * does not work is an error (-ENODEV, the probe's reason); auto falls back to tcg. */
int vc_accel_resolve(const char *want, const char *qemu, const char **ret_accel, vc_error_t *err);

/* For `kata-runtime check`. */
struct vc_hypervisor_info {
        int kvm;            /* 1 when the KVM probe passed */
        char *kvm_reason;   /* "ok" or why not */
        const char *accel;  /* what auto resolves to */
        char *qemu;         /* path */
        char *qemu_version; /* "7.2.22" */
        char *virtiofsd;    /* path, NULL when missing */
};
int vc_hypervisor_probe(const char *qemu, struct vc_hypervisor_info *ret, vc_error_t *err);
void vc_hypervisor_info_clear(struct vc_hypervisor_info *info);

#endif
