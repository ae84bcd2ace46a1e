#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rpc.h"

const char *vc_rpc_errno_name(int code)
{
        /* strerrorname_np needs glibc 2.32; Debian 12 has 2.36. */
        const char *n = code > 0 ? strerrorname_np(code) : NULL;
        return n ? n : "EIO";
}

int vc_rpc_errno_code(const char *name)
{
        if (name == NULL)
                return EIO;
        for (int e = 1; e < 256; e++) {
                const char *n = strerrorname_np(e);
                if (n && strcmp(n, name) == 0)
                        return e;
        }
        return EIO;
}

json_object *vc_rpc_request(const char *method, json_object *params)
{
        json_object *o = json_object_new_object();

        if (o == NULL) {
                json_object_put(params);
                return NULL;
        }
        json_object_object_add(o, "method", json_object_new_string(method));
        if (params)
                json_object_object_add(o, "params", params);
        return o;
}

json_object *vc_rpc_result(json_object *result)
{
        json_object *o = json_object_new_object();

        if (o == NULL) {
                json_object_put(result);
                return NULL;
        }
        json_object_object_add(o, "result", result ? result : json_object_new_object());
        return o;
}

json_object *vc_rpc_error(int code, const char *msg)
{
        json_object *o = json_object_new_object(), *e = json_object_new_object();

        if (o == NULL || e == NULL) {
                json_object_put(o);
                json_object_put(e);
                return NULL;
        }
        json_object_object_add(e, "code", json_object_new_string(vc_rpc_errno_name(code)));
        json_object_object_add(e, "message", json_object_new_string(msg ? msg : strerror(code)));
        json_object_object_add(o, "error", e);
        return o;
}

json_object *vc_rpc_event(const char *name, json_object *params)
{
        json_object *o = json_object_new_object();

        if (o == NULL) {
                json_object_put(params);
                return NULL;
        }
        json_object_object_add(o, "event", json_object_new_string(name));
        json_object_object_add(o, "params", params ? params : json_object_new_object());
        return o;
}

const char *vc_rpc_text(json_object *o, size_t *ret_len)
{
        return json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                 ret_len);
}

json_object *vc_rpc_parse(const void *payload, size_t len)
{
        /* depth 64: deeper nesting than any message has is refused before it costs stack */
        json_tokener *tok = json_tokener_new_ex(64);
        json_object *o;

        if (tok == NULL || len > (size_t)INT32_MAX) {
                json_tokener_free(tok);
                return NULL;
        }
        o = json_tokener_parse_ex(tok, (const char *)payload, (int)len);
        if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != len) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        return o;
}

int vc_rpc_read_request(json_object *req, const char **ret_method, json_object **ret_params, char *err,
                        size_t errlen)
{
        json_object *m, *p = NULL;

        if (!json_object_is_type(req, json_type_object) || !json_object_object_get_ex(req, "method", &m) ||
            !json_object_is_type(m, json_type_string)) {
                snprintf(err, errlen, "request needs a string 'method'");
                return -EINVAL;
        }
        if (json_object_object_get_ex(req, "params", &p) && p != NULL &&
            !json_object_is_type(p, json_type_object)) {
                snprintf(err, errlen, "'params' must be an object");
                return -EINVAL;
        }
        *ret_method = json_object_get_string(m);
        *ret_params = p;
        return 0;
}

int vc_rpc_read_response(json_object *resp, json_object **ret_result, int *ret_code, const char **ret_msg)
{
        json_object *e, *v;

        if (!json_object_is_type(resp, json_type_object))
                return -EPROTO;
        if (json_object_object_get_ex(resp, "error", &e)) {
                *ret_code = EIO;
                *ret_msg = "error";
                if (json_object_object_get_ex(e, "code", &v) && json_object_is_type(v, json_type_string)) {
                        *ret_code = vc_rpc_errno_code(json_object_get_string(v));
                        *ret_msg = json_object_get_string(v);
                }
                if (json_object_object_get_ex(e, "message", &v) && json_object_is_type(v, json_type_string))
                        *ret_msg = json_object_get_string(v);
                return 1;
        }
        if (!json_object_object_get_ex(resp, "result", &v))
                return -EPROTO;
        *ret_result = v;
        return 0;
}

int vc_rpc_read_event(json_object *ev, const char **ret_name, json_object **ret_params)
{
        json_object *n, *p = NULL;

        if (!json_object_is_type(ev, json_type_object) || !json_object_object_get_ex(ev, "event", &n) ||
            !json_object_is_type(n, json_type_string))
                return -EPROTO;
        if (json_object_object_get_ex(ev, "params", &p) && p != NULL &&
            !json_object_is_type(p, json_type_object))
                return -EPROTO;
        *ret_name = json_object_get_string(n);
        *ret_params = p;
        return 0;
}

json_object *vc_rpc_params_id(const char *id)
{
        json_object *o = json_object_new_object();
        if (o)
                json_object_object_add(o, "id", json_object_new_string(id));
        return o;
}

json_object *vc_rpc_params_handle(uint32_t handle)
{
        json_object *o = json_object_new_object();
        if (o)
                json_object_object_add(o, "handle", json_object_new_int64(handle));
        return o;
}

json_object *vc_rpc_params_create_container(const char *id, const char *rootfs, json_object *spec,
                                            json_object *join)
{
        json_object *o = vc_rpc_params_id(id);
        if (o == NULL) {
                json_object_put(spec);
                json_object_put(join);
                return NULL;
        }
        json_object_object_add(o, "rootfs", json_object_new_string(rootfs));
        json_object_object_add(o, "spec", spec);
        if (join)
                json_object_object_add(o, "join", join);
        return o;
}

json_object *vc_rpc_params_exec_process(const char *id, const char *exec_id, json_object *process)
{
        json_object *o = vc_rpc_params_id(id);
        if (o == NULL) {
                json_object_put(process);
                return NULL;
        }
        json_object_object_add(o, "exec_id", json_object_new_string(exec_id));
        json_object_object_add(o, "process", process);
        return o;
}

json_object *vc_rpc_params_update_container(const char *id, json_object *resources)
{
        json_object *o = vc_rpc_params_id(id);
        if (o == NULL) {
                json_object_put(resources);
                return NULL;
        }
        json_object_object_add(o, "resources", resources);
        return o;
}

json_object *vc_rpc_params_signal(const char *id, const char *exec_id, int signo, bool all)
{
        json_object *o = vc_rpc_params_id(id);
        if (o == NULL)
                return NULL;
        if (exec_id)
                json_object_object_add(o, "exec_id", json_object_new_string(exec_id));
        json_object_object_add(o, "signal", json_object_new_int(signo));
        if (all)
                json_object_object_add(o, "all", json_object_new_boolean(1));
        return o;
}

json_object *vc_rpc_params_resize(uint32_t handle, unsigned rows, unsigned cols)
{
        json_object *o = vc_rpc_params_handle(handle);
        if (o == NULL)
                return NULL;
        json_object_object_add(o, "rows", json_object_new_int64(rows));
        json_object_object_add(o, "cols", json_object_new_int64(cols));
        return o;
}

json_object *vc_rpc_params_process(uint32_t handle, const char *id, const char *exec_id)
{
        json_object *o = vc_rpc_params_handle(handle);
        if (o == NULL)
                return NULL;
        json_object_object_add(o, "id", json_object_new_string(id ? id : ""));
        json_object_object_add(o, "exec_id", json_object_new_string(exec_id ? exec_id : ""));
        return o;
}

json_object *vc_rpc_params_exit(uint32_t handle, const char *id, const char *exec_id, int status)
{
        json_object *o = vc_rpc_params_process(handle, id, exec_id);
        if (o)
                json_object_object_add(o, "status", json_object_new_int(status));
        return o;
}

int vc_rpc_get_handle(json_object *o, uint32_t *ret)
{
        return vc_rpc_get_handle_field(o, "handle", ret);
}

int vc_rpc_get_handle_field(json_object *o, const char *field, uint32_t *ret)
{
        json_object *v;
        int64_t h;

        if (o == NULL || !json_object_object_get_ex(o, field, &v) || !json_object_is_type(v, json_type_int))
                return -EPROTO;
        h = json_object_get_int64(v);
        if (h < 1 || h > UINT32_MAX)
                return -EPROTO;
        *ret = (uint32_t)h;
        return 0;
}

int vc_rpc_get_status(json_object *o, int *ret)
{
        json_object *v;

        if (o == NULL || !json_object_object_get_ex(o, "status", &v) ||
            !json_object_is_type(v, json_type_int))
                return -EPROTO;
        *ret = (int)json_object_get_int64(v);
        return 0;
}

const char *vc_rpc_get_string(json_object *o, const char *key)
{
        json_object *v;

        if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}
