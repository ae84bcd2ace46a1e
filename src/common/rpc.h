/* The agent protocol's messages (docs/agent-protocol.md), on top of the frames of frame.h: the method and
 * event names, the request/response/event envelopes, typed parameter builders and result readers, and the
 * errno names errors travel as. Shared by the guest agent, the supervisor, libvc, the shim and
 * kata-agentctl; depends on libc and json-c only, so that the agent stays static.
 *
 * Ownership: builders return a new object (NULL only when out of memory); a json_object * argument marked
 * "takes" is owned by the result afterwards, any other is borrowed. Readers return pointers into the
 * object they read, valid while it lives. */
#ifndef VC_COMMON_RPC_H
#define VC_COMMON_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* ---- the agent's methods ---- */
#define VC_AGENT_CHECK "check"
#define VC_AGENT_CREATE_SANDBOX "create_sandbox"
#define VC_AGENT_CREATE_CONTAINER "create_container"
#define VC_AGENT_START_CONTAINER "start_container"
#define VC_AGENT_EXEC_PROCESS "exec_process"
#define VC_AGENT_START_PROCESS "start_process"
#define VC_AGENT_SIGNAL_PROCESS "signal_process"
#define VC_AGENT_WAIT_PROCESS "wait_process"
#define VC_AGENT_LIST_PROCESSES "list_processes"
#define VC_AGENT_RESIZE "resize"
#define VC_AGENT_PAUSE_CONTAINER "pause_container"
#define VC_AGENT_RESUME_CONTAINER "resume_container"
#define VC_AGENT_STATS_CONTAINER "stats_container"
#define VC_AGENT_UPDATE_CONTAINER "update_container"
#define VC_AGENT_REMOVE_CONTAINER "remove_container"
#define VC_AGENT_DESTROY_SANDBOX "destroy_sandbox"
#define VC_AGENT_UPDATE_INTERFACE "update_interface"
#define VC_AGENT_RESTORE "restore"

/* ---- the supervisor's own methods (on sup.sock) ---- */
#define VC_SUP_PREFIX "sup."
#define VC_SUP_STATUS "sup.status"
#define VC_SUP_QMP "sup.qmp"
#define VC_SUP_ATTACH "sup.attach"
#define VC_SUP_WAIT "sup.wait"
#define VC_SUP_SHUTDOWN "sup.shutdown"

/* The virtio-fs tag of the sandbox's share: qemu's vhost-user-fs device and create_sandbox's share_tag. */
#define VC_SHARE_TAG "kataShared"

/* ---- events ---- */
#define VC_EVENT_EXIT "exit"                           /* {handle, id, exec_id, status} */
#define VC_EVENT_PROCESS "process"                     /* {handle, id, exec_id}: a process was created */
#define VC_EVENT_CONTAINER_REMOVED "container-removed" /* {id}: its handles are gone */
#define VC_EVENT_VM_EXIT "vm-exit"                     /* the supervisor's: qemu ended */

/* ---- errno names ---- */
/* "ENOENT" for ENOENT; "EIO" for a code that has no name. */
const char *vc_rpc_errno_name(int code);
/* ENOENT for "ENOENT"; EIO for NULL or a name that is no errno. */
int vc_rpc_errno_code(const char *name);

/* ---- envelopes ---- */
/* {"method": method, "params": params}; takes params (NULL: none). */
json_object *vc_rpc_request(const char *method, json_object *params);
/* {"result": result}; takes result (NULL: {}). */
json_object *vc_rpc_result(json_object *result);
/* {"error": {"code": errno name, "message": msg}} */
json_object *vc_rpc_error(int code, const char *msg);
/* {"event": name, "params": params}; takes params (NULL: {}). */
json_object *vc_rpc_event(const char *name, json_object *params);

/* The text of o as it goes into a frame (plain, no slash escapes); *ret_len its length. Valid while o
 * lives and is not changed. */
const char *vc_rpc_text(json_object *o, size_t *ret_len);
/* A payload that is one whole JSON value, parsed; NULL when it is not (garbage, trailing bytes). */
json_object *vc_rpc_parse(const void *payload, size_t len);

/* A request's method and params (NULL when absent or null): 0, or -EINVAL with why in err[errlen]. */
int vc_rpc_read_request(json_object *req, const char **ret_method, json_object **ret_params, char *err,
                        size_t errlen);
/* A response: 0 with *ret_result (borrowed) for a result; 1 with *ret_code (errno) and *ret_msg for an
 * error; -EPROTO when it is neither. */
int vc_rpc_read_response(json_object *resp, json_object **ret_result, int *ret_code, const char **ret_msg);
/* An event's name and params (NULL when absent): 0, or -EPROTO. */
int vc_rpc_read_event(json_object *ev, const char **ret_name, json_object **ret_params);

/* ---- typed parameters ---- */
json_object *vc_rpc_params_id(const char *id);      /* {"id"}: start/pause/resume/stats/list/remove */
json_object *vc_rpc_params_handle(uint32_t handle); /* {"handle"}: start_process, wait_process, sup.* */
/* takes spec and join (NULL: none) */
json_object *vc_rpc_params_create_container(const char *id, const char *rootfs, json_object *spec,
                                            json_object *join);
/* takes process */
json_object *vc_rpc_params_exec_process(const char *id, const char *exec_id, json_object *process);
/* takes resources (an OCI linux.resources object) */
json_object *vc_rpc_params_update_container(const char *id, json_object *resources);
json_object *vc_rpc_params_signal(const char *id, const char *exec_id /* or NULL */, int signo, bool all);
json_object *vc_rpc_params_resize(uint32_t handle, unsigned rows, unsigned cols);
/* The exit event's and the process event's params. */
json_object *vc_rpc_params_process(uint32_t handle, const char *id, const char *exec_id);
json_object *vc_rpc_params_exit(uint32_t handle, const char *id, const char *exec_id, int status);

/* ---- typed readers (results and event params): 0, or -EPROTO when a field is missing or mistyped ---- */
/* "handle" (1..UINT32_MAX) */
int vc_rpc_get_handle(json_object *o, uint32_t *ret);
/* The same for a handle in another field (sup.shutdown's "after"). */
int vc_rpc_get_handle_field(json_object *o, const char *field, uint32_t *ret);
/* "status" (an int) */
int vc_rpc_get_status(json_object *o, int *ret);
/* a string member; NULL when absent or not a string */
const char *vc_rpc_get_string(json_object *o, const char *key);

#endif
