/* The typed agent calls of vc/agent.h: a parameter builder and a result reader of src/common/rpc.c around
 * one vc_sandbox_call each. */
#include <errno.h>
#include <json-c/json.h>

#include "rpc.h"
#include "util.h"
#include "vc/agent.h"

/* The per-client timeout lives beside the client: vc_sandbox_client_t is opaque here. */
int vc__sandbox_client_timeout(vc_sandbox_client_t *c);
void vc__sandbox_client_set_timeout(vc_sandbox_client_t *c, int timeout_ms);

void vc_agent_set_timeout(vc_sandbox_client_t *c, int timeout_ms)
{
        vc__sandbox_client_set_timeout(c, timeout_ms);
}

/* Call method with params (taken); *ret (may be NULL) gets the result. */
static int call(vc_sandbox_client_t *c, const char *method, json_object *params, json_object **ret,
                vc_error_t *err)
{
        int r = vc_sandbox_call(c, method, params, vc__sandbox_client_timeout(c), ret, err);
        json_object_put(params);
        return r;
}

static int call_id(vc_sandbox_client_t *c, const char *method, const char *id, vc_error_t *err)
{
        return call(c, method, vc_rpc_params_id(id), NULL, err);
}

/* The {"handle", "pid"} answer of create_container and exec_process. */
static int read_process(const char *method, json_object *result, uint32_t *ret_handle, pid_t *ret_pid,
                        vc_error_t *err)
{
        json_object *v;
        uint32_t h;

        if (vc_rpc_get_handle(result, &h) < 0)
                return vc_error_setx(err, EPROTO, "%s: the answer has no valid handle", method);
        if (ret_handle)
                *ret_handle = h;
        if (ret_pid)
                *ret_pid =
                    json_object_object_get_ex(result, "pid", &v) && json_object_is_type(v, json_type_int)
                        ? (pid_t)json_object_get_int(v)
                        : 0;
        return 0;
}

int vc_agent_check(vc_sandbox_client_t *c, json_object **ret, vc_error_t *err)
{
        return call(c, VC_AGENT_CHECK, NULL, ret, err);
}

int vc_agent_create_container(vc_sandbox_client_t *c, const char *id, const char *rootfs, json_object *spec,
                              json_object *join, uint32_t *ret_handle, pid_t *ret_pid, vc_error_t *err)
{
        _cleanup_(json_object_putp) json_object *result = NULL;
        int r = call(c, VC_AGENT_CREATE_CONTAINER,
                     vc_rpc_params_create_container(id, rootfs, json_object_get(spec), json_object_get(join)),
                     &result, err);
        return r < 0 ? r : read_process(VC_AGENT_CREATE_CONTAINER, result, ret_handle, ret_pid, err);
}

int vc_agent_start_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err)
{
        return call_id(c, VC_AGENT_START_CONTAINER, id, err);
}

int vc_agent_exec_process(vc_sandbox_client_t *c, const char *id, const char *exec_id, json_object *process,
                          uint32_t *ret_handle, pid_t *ret_pid, vc_error_t *err)
{
        _cleanup_(json_object_putp) json_object *result = NULL;
        int r = call(c, VC_AGENT_EXEC_PROCESS,
                     vc_rpc_params_exec_process(id, exec_id, json_object_get(process)), &result, err);
        return r < 0 ? r : read_process(VC_AGENT_EXEC_PROCESS, result, ret_handle, ret_pid, err);
}

int vc_agent_start_process(vc_sandbox_client_t *c, uint32_t handle, vc_error_t *err)
{
        return call(c, VC_AGENT_START_PROCESS, vc_rpc_params_handle(handle), NULL, err);
}

int vc_agent_signal_process(vc_sandbox_client_t *c, const char *id, const char *exec_id, int signo, bool all,
                            vc_error_t *err)
{
        return call(c, VC_AGENT_SIGNAL_PROCESS, vc_rpc_params_signal(id, exec_id, signo, all), NULL, err);
}

int vc_agent_wait_process(vc_sandbox_client_t *c, uint32_t handle, int *ret_status, vc_error_t *err)
{
        _cleanup_(json_object_putp) json_object *result = NULL;
        int r = call(c, VC_AGENT_WAIT_PROCESS, vc_rpc_params_handle(handle), &result, err);
        if (r < 0)
                return r;
        if (vc_rpc_get_status(result, ret_status) < 0)
                return vc_error_setx(err, EPROTO, "%s: the answer has no status", VC_AGENT_WAIT_PROCESS);
        return 0;
}

int vc_agent_list_processes(vc_sandbox_client_t *c, const char *id, json_object **ret, vc_error_t *err)
{
        return call(c, VC_AGENT_LIST_PROCESSES, vc_rpc_params_id(id), ret, err);
}

int vc_agent_resize(vc_sandbox_client_t *c, uint32_t handle, unsigned rows, unsigned cols, vc_error_t *err)
{
        return call(c, VC_AGENT_RESIZE, vc_rpc_params_resize(handle, rows, cols), NULL, err);
}

int vc_agent_pause_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err)
{
        return call_id(c, VC_AGENT_PAUSE_CONTAINER, id, err);
}

int vc_agent_resume_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err)
{
        return call_id(c, VC_AGENT_RESUME_CONTAINER, id, err);
}

int vc_agent_stats_container(vc_sandbox_client_t *c, const char *id, json_object **ret, vc_error_t *err)
{
        return call(c, VC_AGENT_STATS_CONTAINER, vc_rpc_params_id(id), ret, err);
}

int vc_agent_update_container(vc_sandbox_client_t *c, const char *id, json_object *resources, vc_error_t *err)
{
        return call(c, VC_AGENT_UPDATE_CONTAINER,
                    vc_rpc_params_update_container(id, json_object_get(resources)), NULL, err);
}

int vc_agent_remove_container(vc_sandbox_client_t *c, const char *id, vc_error_t *err)
{
        return call_id(c, VC_AGENT_REMOVE_CONTAINER, id, err);
}

int vc_agent_update_interface(vc_sandbox_client_t *c, json_object *iface, json_object **ret, vc_error_t *err)
{
        if (!json_object_is_type(iface, json_type_object))
                return vc_error_setx(err, EINVAL, "update_interface: the interface must be an object");
        return call(c, VC_AGENT_UPDATE_INTERFACE, json_object_get(iface), ret, err);
}

int vc_sup_qmp(vc_sandbox_client_t *c, const char *execute, json_object *arguments, json_object **ret,
               vc_error_t *err)
{
        json_object *params = json_object_new_object();

        if (params == NULL)
                return vc_error_setx(err, ENOMEM, "sup.qmp");
        json_object_object_add(params, "execute", json_object_new_string(execute));
        if (arguments)
                json_object_object_add(params, "arguments", json_object_get(arguments));
        return call(c, VC_SUP_QMP, params, ret, err);
}

int vc_sup_attach(vc_sandbox_client_t *c, uint32_t handle, vc_error_t *err)
{
        return call(c, VC_SUP_ATTACH, vc_rpc_params_handle(handle), NULL, err);
}

int vc_sup_wait(vc_sandbox_client_t *c, uint32_t handle, int timeout_ms, int *ret_status, vc_error_t *err)
{
        _cleanup_(json_object_putp) json_object *result = NULL;
        json_object *params = vc_rpc_params_handle(handle);
        int r = vc_sandbox_call(c, VC_SUP_WAIT, params, timeout_ms, &result, err);

        json_object_put(params);
        if (r < 0)
                return r;
        if (vc_rpc_get_status(result, ret_status) < 0)
                return vc_error_setx(err, EPROTO, "%s: the answer has no status", VC_SUP_WAIT);
        return 0;
}

int vc_sup_shutdown_after(vc_sandbox_client_t *c, uint32_t handle, double timeout_s, int wait_ms,
                          vc_error_t *err)
{
        json_object *params = json_object_new_object();
        int r;

        if (params == NULL)
                return vc_error_set(err, ENOMEM, "%s", VC_SUP_SHUTDOWN);
        json_object_object_add(params, "timeout", json_object_new_double(timeout_s));
        json_object_object_add(params, "after", json_object_new_int64(handle));
        r = vc_sandbox_call(c, VC_SUP_SHUTDOWN, params, wait_ms, NULL, err);
        json_object_put(params);
        return r;
}

int vc_sup_shutdown(vc_sandbox_client_t *c, double timeout_s, int wait_ms, vc_error_t *err)
{
        json_object *params = json_object_new_object();
        int r;

        if (params == NULL)
                return vc_error_set(err, ENOMEM, "%s", VC_SUP_SHUTDOWN);
        json_object_object_add(params, "timeout", json_object_new_double(timeout_s));
        r = vc_sandbox_call(c, VC_SUP_SHUTDOWN, params, wait_ms, NULL, err);
        json_object_put(params);
        return r;
}
