/* Typed calls to the guest agent through a sandbox's supervisor (docs/agent-protocol.md): one function per
 * agent method, taking and returning json-c objects, so that what a caller builds is encoded once, by
 * libvc, and what the agent answers is decoded once. Method names and parameter shapes live in
 * src/common/rpc.c; the supervisor forwards requests without re-encoding them.
 *
 * Every call waits for the answer up to the client's call timeout (vc_agent_set_timeout, 60 s unless
 * set); an error answer returns the negative errno named by its code, with the agent's message in err.
 * json_object * arguments are borrowed; a *ret object is the caller's to json_object_put. */
#ifndef VC_AGENT_H
#define VC_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vc/error.h"
#include "vc/sandbox.h"

struct json_object;

/* The timeout of the calls below on c, in ms (< 0: none). */
void vc_agent_set_timeout(vc_sandbox_client_t *c, int timeout_ms);

/* {"version", "protocol"} */
int vc_agent_check(vc_sandbox_client_t *c, struct json_object **ret, vc_error_t *err);
/* spec: the OCI config; join: {"uts"?, "ipc"?, "pid"?} or NULL. The new init's handle and guest pid. */
int vc_agent_create_container(vc_sandbox_client_t *c, const char *id, const char *rootfs,
                              struct json_object *spec, struct json_object *join, uint32_t *ret_handle,
                              pid_t *ret_pid, vc_error_t *err);
int vc_agent_start_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err);
/* process: an OCI process object. */
int vc_agent_exec_process(vc_sandbox_client_t *c, const char *id, const char *exec_id,
                          struct json_object *process, uint32_t *ret_handle, pid_t *ret_pid, vc_error_t *err);
int vc_agent_start_process(vc_sandbox_client_t *c, uint32_t handle, vc_error_t *err);
/* exec_id NULL: the container's init; all: every process of the container. */
int vc_agent_signal_process(vc_sandbox_client_t *c, const char *id, const char *exec_id, int signo, bool all,
                            vc_error_t *err);
int vc_agent_wait_process(vc_sandbox_client_t *c, uint32_t handle, int *ret_status, vc_error_t *err);
/* {"pids": [...]} */
int vc_agent_list_processes(vc_sandbox_client_t *c, const char *id, struct json_object **ret,
                            vc_error_t *err);
int vc_agent_resize(vc_sandbox_client_t *c, uint32_t handle, unsigned rows, unsigned cols, vc_error_t *err);
int vc_agent_pause_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err);
int vc_agent_resume_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err);
/* {"memory", "cpu", "pids"} */
int vc_agent_stats_container(vc_sandbox_client_t *c, const char *id, struct json_object **ret,
                             vc_error_t *err);
/* resources: an OCI linux.resources object, applied to the running container's cgroup. */
int vc_agent_update_container(vc_sandbox_client_t *c, const char *id, struct json_object *resources,
                              vc_error_t *err);
int vc_agent_remove_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err);
/* iface: {"mac", "name"?, "mtu"?, "addresses"?, "routes"?} (docs/agent-protocol.md); *ret {"name", "index"}.
 * ENODEV while no guest NIC has the MAC (a hot-plugged one still probing). */
int vc_agent_update_interface(vc_sandbox_client_t *c, struct json_object *iface, struct json_object **ret,
                              vc_error_t *err);

/* The supervisor's own: sup.attach (this connection receives the process's output and exit event) and
 * sup.wait (its exit status, once it has exited). */
int vc_sup_attach(vc_sandbox_client_t *c, uint32_t handle, vc_error_t *err);
int vc_sup_wait(vc_sandbox_client_t *c, uint32_t handle, int timeout_ms, int *ret_status, vc_error_t *err);
/* sup.qmp: one of the QMP commands the supervisor passes on, with arguments (or NULL); *ret QMP's return
 * value. */
int vc_sup_qmp(vc_sandbox_client_t *c, const char *execute, struct json_object *arguments,
               struct json_object **ret, vc_error_t *err);
/* sup.shutdown: the VM gets timeout_s to go; the answer is waited for wait_ms (< 0: forever). */
int vc_sup_shutdown(vc_sandbox_client_t *c, double timeout_s, int wait_ms, vc_error_t *err);
/* sup.shutdown {"after": handle}: the VM shuts down (given timeout_s) once that process has exited; the
 * supervisor answers at once, and that answer is waited for wait_ms. */
int vc_sup_shutdown_after(vc_sandbox_client_t *c, uint32_t handle, double timeout_s, int wait_ms,
                          vc_error_t *err);

#endif
