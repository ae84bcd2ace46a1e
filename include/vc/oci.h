/* OCI runtime-spec config.json: loading and validation, container ids, CRI annotations. */
#ifndef VC_OCI_H
#define VC_OCI_H

#include <json-c/json.h>
#include <stdbool.h>

#include "vc/error.h"

#define VC_OCI_VERSION "1.3.0"     /* the newest runtime-spec version we implement */
#define VC_OCI_VERSION_MIN "1.0.0" /* the oldest we accept */
#define VC_ID_MAX 1024
#define VC_OCI_MAX_SIZE (4u << 20) /* the largest config.json loaded */

enum vc_container_type {
        VC_CONTAINER_SANDBOX = 0, /* a pod sandbox, or a single container with its own VM */
        VC_CONTAINER_POD_CONTAINER = 1,
};

/* 0 when id matches [A-Za-z0-9][A-Za-z0-9_+.-]* and is at most VC_ID_MAX bytes; -EINVAL otherwise. */
int vc_id_validate(const char *id, vc_error_t *err);

/* A short stable name for an id (64-bit FNV-1a, 16 hex digits) where the id itself is too long: file
 * names (255 bytes) and unix socket paths (108). */
void vc_id_digest(const char *id, char ret[17]);

/* Parse and validate config.json at path; *ret owns the parsed document. Errors name the field:
 * "config.json: hooks.poststart[1].path: must be absolute". path must be a regular file of at most
 * VC_OCI_MAX_SIZE bytes holding one JSON value (whitespace may follow, nothing else). */
int vc_oci_load(const char *path, json_object **ret, vc_error_t *err);
/* Validate an already parsed document; `what` prefixes errors ("config.json"). */
int vc_oci_validate(json_object *config, const char *what, vc_error_t *err);
/* Validate one OCI process object (config.process, or exec --process FILE). */
int vc_oci_validate_process(json_object *process, const char *what, vc_error_t *err);

/* From the CRI annotations of containerd and CRI-O: the container type and, for a pod container,
 * the sandbox id (*ret_sandbox_id borrows from annotations; NULL for a sandbox). No annotation means a
 * sandbox; an unknown value is -EINVAL. */
int vc_oci_container_type(json_object *annotations, enum vc_container_type *ret_type,
                          const char **ret_sandbox_id, vc_error_t *err);

/* Refuse what the guest cannot honour, before a VM boots (src/lib/oci_guest.c): user and time namespaces,
 * namespace paths other than the network namespace and, for a pod container (pod_member), the pod's
 * uts/ipc/pid (a path's type is checked on the nsfs itself), sysctls of no namespace the container owns,
 * seccomp names the guest does not know, fields the guest agent does not apply, more mounts than it takes,
 * a spec larger than one request carries, and the process as vc_oci_check_guest_process checks it.
 * -EINVAL naming the field. */
int vc_oci_check_guest(json_object *config, bool pod_member, const char *what, vc_error_t *err);
/* The part of vc_oci_check_guest for one process (config.process, or an exec'd process): argument and
 * environment counts and sizes, user and group ids, rlimit names, within what the guest agent takes.
 * -EINVAL naming the field ("<what>: process.args[0]: ..."). */
int vc_oci_check_guest_process(json_object *process, const char *what, vc_error_t *err);
/* -ENOENT ("<what>: process.args[0]: exec '<cmd>': No such file or directory", the guest's words) when
 * process.args[0] is surely not in the container's root on the host (root.path, relative to `bundle`), found
 * as execvp would with the process's PATH: looked up inside the rootfs only (openat2 RESOLVE_IN_ROOT), and
 * only where no symlink on the way and no mount of the spec could provide it. 0 otherwise. */
int vc_oci_check_command(json_object *config, const char *bundle, const char *what, vc_error_t *err);

/* A default config.json for `spec`, like runc spec: sh in a busybox-style rootfs. */
json_object *vc_oci_default_spec(void);

#endif
