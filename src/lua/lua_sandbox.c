/* vc.sandbox (launch, connect, vc.Sandbox) and vc.hypervisor (probe). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <json-c/json.h>

#include "vc/agent.h"
#include "vc/hypervisor.h"
#include "vc/sandbox.h"
#include "vc_lua.h"

#define SANDBOX_MT "vc.Sandbox"

typedef struct {
        vc_sandbox_client_t *c; /* NULL means closed */
} lsandbox_ud;

static vc_sandbox_client_t *lsandbox_check(lua_State *L, int i) /* may raise */
{
        lsandbox_ud *u = luaL_checkudata(L, i, SANDBOX_MT);
        if (u->c == NULL)
                luaL_error(L, "attempt to use a closed vc.Sandbox");
        return u->c;
}

/* Seconds (number, may be fractional) -> ms; nil -> def_ms; negative -> forever (-1). */
static int opt_timeout_ms(lua_State *L, int i, int def_ms) /* may raise */
{
        if (lua_isnoneornil(L, i))
                return vc_l_deadline_clamp_ms(def_ms);
        lua_Number t = luaL_checknumber(L, i);
        if (t < 0)
                return vc_l_deadline_clamp_ms(-1);
        if (t > 86400)
                luaL_argerror(L, i, "timeout over a day");
        return vc_l_deadline_clamp_ms((int)(t * 1000));
}

static unsigned opt_uint(lua_State *L, int t, const char *k, unsigned max) /* may raise */
{
        lua_Integer v = vc_l_optfield_integer(L, t, k, 0);
        if (v < 0 || (lua_Unsigned)v > max)
                luaL_error(L, "field '%s' must be within 0..%I", k, (lua_Integer)max); /* Lua has no %u */
        return (unsigned)v;
}

/* vc.sandbox.launch(cfg) -> info | nil, msg, code */
static int lsandbox_launch(lua_State *L)
{
        static const char *const accels[] = {"auto", "kvm", "tcg", NULL};
        struct vc_sandbox_config cfg = {0};
        struct vc_sandbox_info info;
        vc_error_t err = NULL;

        luaL_checktype(L, 1, LUA_TTABLE);
        cfg.id = vc_l_optfield_string(L, 1, "id", NULL);
        cfg.dir = vc_l_optfield_string(L, 1, "dir", NULL);
        if (cfg.id == NULL)
                return luaL_error(L, "field 'id' is required");
        if (cfg.dir == NULL)
                return luaL_error(L, "field 'dir' is required");
        cfg.qemu = vc_l_optfield_string(L, 1, "qemu", NULL);
        cfg.kernel = vc_l_optfield_string(L, 1, "kernel", NULL);
        cfg.initrd = vc_l_optfield_string(L, 1, "initrd", NULL);
        cfg.kernel_params = vc_l_optfield_string(L, 1, "kernel_params", NULL);
        cfg.firmware = vc_l_optfield_string(L, 1, "firmware", NULL);
        cfg.vcpus = opt_uint(L, 1, "vcpus", 255);
        cfg.memory_mib = opt_uint(L, 1, "memory_mib", 1024 * 1024);
        cfg.tcg_cache_mib = opt_uint(L, 1, "tcg_cache_mib", 2048);
        cfg.accel = vc_l_optfield_string(L, 1, "accel", "auto");
        for (int i = 0;; i++) {
                if (accels[i] == NULL)
                        return luaL_error(L, "field 'accel' must be auto, kvm or tcg, got '%s'", cfg.accel);
                if (strcmp(accels[i], cfg.accel) == 0)
                        break;
        }
        cfg.share_dir = vc_l_optfield_string(L, 1, "share_dir", NULL);
        cfg.virtiofsd = vc_l_optfield_string(L, 1, "virtiofsd", NULL);
        cfg.netns = vc_l_optfield_string(L, 1, "netns", NULL);
        cfg.supervisor = vc_l_optfield_string(L, 1, "supervisor", NULL);
        cfg.debug = vc_l_optfield_boolean(L, 1, "debug", 0);
        cfg.boot_timeout = opt_uint(L, 1, "boot_timeout", 3600);
        cfg.hotplug_ports = opt_uint(L, 1, "hotplug_ports", 8);
        /* template = {memory =, state =, save =}: a template to save, or the one a clone starts from */
        if (lua_getfield(L, 1, "template") == LUA_TTABLE) {
                cfg.template_memory = vc_l_optfield_string(L, lua_gettop(L), "memory", NULL);
                cfg.template_state = vc_l_optfield_string(L, lua_gettop(L), "state", NULL);
                cfg.template_save = vc_l_optfield_boolean(L, lua_gettop(L), "save", 0);
                const char *fs = vc_l_optfield_string(L, lua_gettop(L), "fs", "virtio-fs");
                if (strcmp(fs, "9p") != 0 && strcmp(fs, "virtio-fs") != 0)
                        return luaL_error(L, "field 'template.fs' must be virtio-fs or 9p, got '%s'", fs);
                cfg.template_9p = strcmp(fs, "9p") == 0;
        } else if (!lua_isnil(L, -1)) {
                return luaL_error(L, "field 'template' must be a table");
        }
        lua_pop(L, 1);
        /* nics = { {tap =, mac =}, ... }: the strings stay referenced by the argument table */
        struct vc_qemu_nic nics[VC_QEMU_MAX_NICS];
        if (lua_getfield(L, 1, "nics") == LUA_TTABLE) {
                cfg.n_nics = (size_t)luaL_len(L, -1);
                if (cfg.n_nics > VC_QEMU_MAX_NICS)
                        return luaL_error(L, "field 'nics' has more than %d entries", VC_QEMU_MAX_NICS);
                for (size_t i = 0; i < cfg.n_nics; i++) {
                        if (lua_geti(L, -1, (lua_Integer)i + 1) != LUA_TTABLE)
                                return luaL_error(L, "field 'nics' must hold tables {tap =, mac =}");
                        nics[i].tap = vc_l_optfield_string(L, lua_gettop(L), "tap", NULL);
                        nics[i].mac = vc_l_optfield_string(L, lua_gettop(L), "mac", NULL);
                        lua_pop(L, 1);
                }
                cfg.nics = nics;
        } else if (!lua_isnil(L, -1)) {
                return luaL_error(L, "field 'nics' must be a table");
        }
        lua_pop(L, 1);
        /* plan = {boot = {{call=, params=}, ...}, shutdown = {timeout=, destroy_timeout=}}: required, libvc
         * has no plan of its own (kata.pod's standard_plan is the runtime's) */
        lua_getfield(L, 1, "plan");
        if (!lua_isnil(L, -1)) {
                luaL_argcheck(L, lua_istable(L, -1), 1, "field 'plan' must be a table");
                lua_getfield(L, -1, "shutdown");
                if (lua_istable(L, -1)) {
                        cfg.shutdown_timeout = (double)vc_l_optfield_integer(L, -1, "timeout", 0);
                        cfg.destroy_timeout = (double)vc_l_optfield_integer(L, -1, "destroy_timeout", 0);
                        luaL_argcheck(L, cfg.shutdown_timeout >= 0 && cfg.shutdown_timeout <= 3600, 1,
                                      "plan.shutdown.timeout must be 0..3600 seconds");
                }
                lua_pop(L, 1);
                lua_getfield(L, -1, "boot");
                luaL_argcheck(L, lua_isnil(L, -1) || lua_istable(L, -1), 1,
                              "plan.boot must be a list of calls");
                lua_replace(L, -2); /* plan.boot (or nil) where plan was */
        }
        /* nothing raises from here on */
        if (!lua_isnil(L, -1)) {
                const char *why = NULL;
                cfg.boot_plan = vc_l_tojson(L, -1, &why);
                if (why || !json_object_is_type(cfg.boot_plan, json_type_array)) {
                        json_object_put(cfg.boot_plan);
                        return luaL_argerror(L, 1, why ? why : "plan.boot must be a list of calls");
                }
        }
        lua_pop(L, 1);

        int r = vc_sandbox_launch(&cfg, &info, &err);
        json_object_put(cfg.boot_plan);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, info.pid);
        lua_setfield(L, -2, "pid");
        lua_pushinteger(L, info.qemu_pid);
        lua_setfield(L, -2, "qemu_pid");
        lua_pushinteger(L, info.virtiofsd_pid);
        lua_setfield(L, -2, "virtiofsd_pid");
        lua_pushstring(L, info.socket);
        lua_setfield(L, -2, "socket");
        lua_pushstring(L, info.accel);
        lua_setfield(L, -2, "accel");
        lua_pushinteger(L, info.boot_ms);
        lua_setfield(L, -2, "boot_ms");
        lua_pushinteger(L, info.agent_ms);
        lua_setfield(L, -2, "agent_ms");
        vc_sandbox_info_clear(&info);
        return 1;
}

/* vc.sandbox.remove_dir(dir) -> true | nil, msg, code */
static int lsandbox_remove_dir(lua_State *L)
{
        vc_error_t err = NULL;
        if (vc_sandbox_remove_dir(luaL_checkstring(L, 1), &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.sandbox.connect(socket [, timeout_s]) -> vc.Sandbox | nil, msg, code */
static int lsandbox_connect(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        int ms = opt_timeout_ms(L, 2, 0);
        vc_error_t err = NULL;
        lsandbox_ud *u = lua_newuserdatauv(L, sizeof *u, 0);

        u->c = NULL;
        luaL_setmetatable(L, SANDBOX_MT);
        if (vc_sandbox_connect(path, ms < 0 ? 0 : ms, &u->c, &err) < 0)
                return vc_l_pusherror(L, &err);
        return 1;
}

/* The table at i as a JSON object, NULL for nil; on a value JSON cannot hold, NULL and *why. Raises only
 * for a non-table, before converting anything, so that callers can convert several in a row. */
static void check_table(lua_State *L, int i, bool optional) /* may raise */
{
        if (!(optional && lua_isnoneornil(L, i)))
                luaL_checktype(L, i, LUA_TTABLE);
}

static json_object *to_object(lua_State *L, int i, const char *not_object, const char **why)
{
        json_object *o;

        *why = NULL;
        if (lua_isnoneornil(L, i))
                return NULL;
        o = vc_l_tojson(L, i, why);
        if (*why == NULL && !json_object_is_type(o, json_type_object))
                *why = not_object;
        if (*why) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* The result of a call: its object as a table (taking it), or the error. */
static int push_result(lua_State *L, int r, json_object *result, vc_error_t *err)
{
        if (r < 0) {
                json_object_put(result);
                return vc_l_pusherror(L, err);
        }
        vc_l_pushjson(L, result);
        json_object_put(result);
        return 1;
}

static int push_done(lua_State *L, int r, vc_error_t *err)
{
        if (r < 0)
                return vc_l_pusherror(L, err);
        lua_pushboolean(L, 1);
        return 1;
}

static uint32_t check_handle(lua_State *L, int i) /* may raise */
{
        lua_Integer h = luaL_checkinteger(L, i);
        luaL_argcheck(L, h > 0 && h <= UINT32_MAX, i, "handle must be a positive 32-bit integer");
        return (uint32_t)h;
}

/* sb:call(method [, params [, timeout_s]]) -> result | nil, msg, code; timeout default 60 s. Any method,
 * for tests and tools; the runtime uses the typed methods below. */
static int lsandbox_m_call(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        const char *method = luaL_checkstring(L, 2);
        int ms = opt_timeout_ms(L, 4, 60000);
        json_object *params, *result = NULL;
        const char *why;
        vc_error_t err = NULL;
        int r;

        check_table(L, 3, true);
        if ((params = to_object(L, 3, "params must be a table with string keys", &why)) == NULL && why)
                return luaL_argerror(L, 3, why);
        r = vc_sandbox_call(c, method, params, ms, &result, &err);
        json_object_put(params);
        return push_result(L, r, result, &err);
}

/* The typed agent calls (vc/agent.h); each takes an optional timeout in seconds last (default 60 s). */
static vc_sandbox_client_t *typed(lua_State *L, int timeout_arg) /* may raise */
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        vc_agent_set_timeout(c, opt_timeout_ms(L, timeout_arg, 60000));
        return c;
}

static int push_process(lua_State *L, int r, uint32_t handle, pid_t pid, vc_error_t *err)
{
        if (r < 0)
                return vc_l_pusherror(L, err);
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, handle);
        lua_setfield(L, -2, "handle");
        lua_pushinteger(L, pid);
        lua_setfield(L, -2, "pid");
        return 1;
}

/* sb:create_container(id, rootfs, spec [, join [, timeout_s]]) -> {handle=, pid=} | nil, msg, code */
static int lsandbox_m_create_container(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 6);
        const char *id = luaL_checkstring(L, 2), *rootfs = luaL_checkstring(L, 3), *why;
        json_object *spec, *join;
        vc_error_t err = NULL;
        uint32_t h = 0;
        pid_t pid = 0;
        int r;

        check_table(L, 4, false);
        check_table(L, 5, true);
        if ((spec = to_object(L, 4, "spec must be a table with string keys", &why)) == NULL)
                return luaL_argerror(L, 4, why);
        if ((join = to_object(L, 5, "join must be a table with string keys", &why)) == NULL && why) {
                json_object_put(spec);
                return luaL_argerror(L, 5, why);
        }
        r = vc_agent_create_container(c, id, rootfs, spec, join, &h, &pid, &err);

        json_object_put(spec);
        json_object_put(join);
        return push_process(L, r, h, pid, &err);
}

/* sb:exec_process(id, exec_id, process [, timeout_s]) -> {handle=, pid=} | nil, msg, code */
static int lsandbox_m_exec_process(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 5);
        const char *id = luaL_checkstring(L, 2), *exec_id = luaL_checkstring(L, 3), *why;
        json_object *process;
        vc_error_t err = NULL;
        uint32_t h = 0;
        pid_t pid = 0;
        int r;

        check_table(L, 4, false);
        if ((process = to_object(L, 4, "process must be a table with string keys", &why)) == NULL)
                return luaL_argerror(L, 4, why);
        r = vc_agent_exec_process(c, id, exec_id, process, &h, &pid, &err);

        json_object_put(process);
        return push_process(L, r, h, pid, &err);
}

/* sb:update_container(id, resources [, timeout_s]) -> true | nil, msg, code */
static int lsandbox_m_update_container(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 4);
        const char *id = luaL_checkstring(L, 2), *why;
        json_object *res;
        vc_error_t err = NULL;
        int r;

        check_table(L, 3, false);
        if ((res = to_object(L, 3, "resources must be a table with string keys", &why)) == NULL)
                return luaL_argerror(L, 3, why);
        r = vc_agent_update_container(c, id, res, &err);
        json_object_put(res);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* sb:check([timeout_s]) -> the agent's answer | nil, msg, code: through the supervisor to the agent */
static int lsandbox_m_check(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 2);
        json_object *result = NULL;
        vc_error_t err = NULL;
        int r = vc_agent_check(c, &result, &err);
        return push_result(L, r, result, &err);
}

/* sb:update_interface(iface [, timeout_s]) -> {name, index} | nil, msg, code */
static int lsandbox_m_update_interface(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 3);
        json_object *iface, *result = NULL;
        const char *why;
        vc_error_t err = NULL;
        int r;

        check_table(L, 2, false);
        if ((iface = to_object(L, 2, "iface must be a table with string keys", &why)) == NULL)
                return luaL_argerror(L, 2, why);
        r = vc_agent_update_interface(c, iface, &result, &err);
        json_object_put(iface);
        return push_result(L, r, result, &err);
}

/* sb:qmp(execute [, arguments [, timeout_s]]) -> QMP's return value | nil, msg, code: sup.qmp */
static int lsandbox_m_qmp(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 4);
        const char *execute = luaL_checkstring(L, 2), *why;
        json_object *args, *result = NULL;
        vc_error_t err = NULL;
        int r;

        check_table(L, 3, true);
        args = to_object(L, 3, "arguments must be a table with string keys", &why);
        if (why)
                return luaL_argerror(L, 3, why);
        r = vc_sup_qmp(c, execute, args, &result, &err);
        json_object_put(args);
        return push_result(L, r, result, &err);
}

#define ID_CALL(name, fn)                                                                                    \
        static int lsandbox_m_##name(lua_State *L) /* sb:name(id [, timeout_s]) -> true | nil, msg, code */  \
        {                                                                                                    \
                vc_sandbox_client_t *c = typed(L, 3);                                                        \
                vc_error_t err = NULL;                                                                       \
                return push_done(L, fn(c, luaL_checkstring(L, 2), &err), &err);                              \
        }
ID_CALL(start_container, vc_agent_start_container)
ID_CALL(remove_container, vc_agent_remove_container)
ID_CALL(pause_container, vc_agent_pause_container)
ID_CALL(resume_container, vc_agent_resume_container)
#undef ID_CALL

/* sb:start_process(handle [, timeout_s]) -> true | nil, msg, code */
static int lsandbox_m_start_process(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 3);
        vc_error_t err = NULL;
        return push_done(L, vc_agent_start_process(c, check_handle(L, 2), &err), &err);
}

/* sb:signal_process(id, exec_id|nil, signo [, all [, timeout_s]]) -> true | nil, msg, code */
static int lsandbox_m_signal_process(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 6);
        const char *id = luaL_checkstring(L, 2), *exec_id = luaL_optstring(L, 3, NULL);
        lua_Integer sig = luaL_checkinteger(L, 4);
        vc_error_t err = NULL;

        luaL_argcheck(L, sig > 0 && sig < 65, 4, "not a signal number");
        return push_done(L, vc_agent_signal_process(c, id, exec_id, (int)sig, lua_toboolean(L, 5), &err),
                         &err);
}

/* sb:list_processes(id [, timeout_s]) -> {pid, ...} | nil, msg, code */
static int lsandbox_m_list_processes(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 3);
        json_object *result = NULL, *pids;
        vc_error_t err = NULL;

        if (vc_agent_list_processes(c, luaL_checkstring(L, 2), &result, &err) < 0)
                return vc_l_pusherror(L, &err);
        if (!json_object_object_get_ex(result, "pids", &pids) ||
            !json_object_is_type(pids, json_type_array)) {
                json_object_put(result);
                lua_newtable(L);
                return 1;
        }
        vc_l_pushjson(L, pids);
        json_object_put(result);
        return 1;
}

/* sb:stats_container(id [, timeout_s]) -> {memory=, cpu=, pids=} | nil, msg, code */
static int lsandbox_m_stats_container(lua_State *L)
{
        vc_sandbox_client_t *c = typed(L, 3);
        json_object *result = NULL;
        vc_error_t err = NULL;
        int r = vc_agent_stats_container(c, luaL_checkstring(L, 2), &result, &err);
        return push_result(L, r, result, &err);
}

/* sb:wait(handle [, timeout_s]) -> status | nil, msg, code: sup.wait, forever without a timeout */
static int lsandbox_m_wait(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        uint32_t h = check_handle(L, 2);
        int ms = opt_timeout_ms(L, 3, -1), status = 0;
        vc_error_t err = NULL;

        if (vc_sup_wait(c, h, ms, &status, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, status);
        return 1;
}

/* sb:shutdown(timeout_s [, wait_s]) -> true | nil, msg, code: sup.shutdown, the VM gets timeout_s to go
 * and the answer is waited for wait_s (default: timeout_s + 30) */
static int lsandbox_m_shutdown(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        lua_Number t = luaL_checknumber(L, 2);
        vc_error_t err = NULL;

        luaL_argcheck(L, t >= 0 && t <= 3600, 2, "timeout must be 0..3600 seconds");
        int wait = opt_timeout_ms(L, 3, (int)(t * 1000) + 30000);
        return push_done(L, vc_sup_shutdown(c, t, wait, &err), &err);
}

/* sb:shutdown_after(handle, timeout_s [, wait_s]) -> true | nil, msg, code: sup.shutdown {"after"}, the VM
 * shuts down (given timeout_s) once that process has exited; the answer comes at once (waited wait_s,
 * default 30) */
static int lsandbox_m_shutdown_after(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        uint32_t h = check_handle(L, 2);
        lua_Number t = luaL_checknumber(L, 3);
        vc_error_t err = NULL;

        luaL_argcheck(L, t >= 0 && t <= 3600, 3, "timeout must be 0..3600 seconds");
        int wait = opt_timeout_ms(L, 4, 30000);
        return push_done(L, vc_sup_shutdown_after(c, h, t, wait, &err), &err);
}

/* sb:read([timeout_s]) -> msg | nil, msg, code
 * msg = {type="data", handle=n, stream="stdout"|"stderr", data=s} (data "" is end of stream)
 *     | {type="event", event=s, params=t} */
static int lsandbox_m_read(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        int ms = opt_timeout_ms(L, 2, -1);
        struct vc_sandbox_msg m;
        vc_error_t err = NULL;

        if (vc_sandbox_read(c, ms, &m, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_createtable(L, 0, 4);
        if (m.type == 4) {
                lua_pushliteral(L, "data");
                lua_setfield(L, -2, "type");
                lua_pushinteger(L, m.handle);
                lua_setfield(L, -2, "handle");
                lua_pushstring(L, m.stream == 2 ? "stderr" : "stdout");
                lua_setfield(L, -2, "stream");
                lua_pushlstring(L, m.data, m.len);
                lua_setfield(L, -2, "data");
        } else {
                json_object *o = json_tokener_parse(m.data), *v;
                lua_pushliteral(L, "event");
                lua_setfield(L, -2, "type");
                if (o && json_object_object_get_ex(o, "event", &v)) {
                        lua_pushstring(L, json_object_get_string(v));
                        lua_setfield(L, -2, "event");
                }
                if (o && json_object_object_get_ex(o, "params", &v)) {
                        vc_l_pushjson(L, v);
                        lua_setfield(L, -2, "params");
                }
                json_object_put(o);
        }
        vc_sandbox_msg_clear(&m);
        return 1;
}

/* sb:write(handle, data) -> true | nil, msg, code; "" closes the process's stdin */
static int lsandbox_m_write(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        lua_Integer h = luaL_checkinteger(L, 2);
        size_t len;
        const char *data = luaL_checklstring(L, 3, &len);
        vc_error_t err = NULL;

        luaL_argcheck(L, h > 0 && h <= UINT32_MAX, 2, "handle must be a positive 32-bit integer");
        if (vc_sandbox_write(c, (uint32_t)h, data, len, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* sb:attach(handle) -> true | nil, msg, code: sup.attach on this connection */
static int lsandbox_m_attach(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        uint32_t h = check_handle(L, 2);
        vc_error_t err = NULL;

        vc_agent_set_timeout(c, 10000);
        return push_done(L, vc_sup_attach(c, h, &err), &err);
}

static int lsandbox__close(lua_State *L)
{
        lsandbox_ud *u = luaL_checkudata(L, 1, SANDBOX_MT);
        u->c = vc_sandbox_client_free(u->c);
        return 0;
}

static int lsandbox__tostring(lua_State *L)
{
        lsandbox_ud *u = luaL_checkudata(L, 1, SANDBOX_MT);
        if (u->c == NULL)
                lua_pushliteral(L, "vc.Sandbox (closed)");
        else
                lua_pushfstring(L, "vc.Sandbox (%s)", vc_sandbox_client_socket(u->c));
        return 1;
}

/* vc.hypervisor.probe([qemu]) -> {kvm=, kvm_reason=, accel=, qemu=, qemu_version=, virtiofsd=} | nil, msg,
 * code */
static int lhypervisor_probe(lua_State *L)
{
        const char *qemu = luaL_optstring(L, 1, NULL);
        struct vc_hypervisor_info info;
        vc_error_t err = NULL;

        if (vc_hypervisor_probe(qemu, &info, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_createtable(L, 0, 6);
        lua_pushboolean(L, info.kvm);
        lua_setfield(L, -2, "kvm");
        lua_pushstring(L, info.kvm_reason);
        lua_setfield(L, -2, "kvm_reason");
        lua_pushstring(L, info.accel);
        lua_setfield(L, -2, "accel");
        lua_pushstring(L, info.qemu);
        lua_setfield(L, -2, "qemu");
        lua_pushstring(L, info.qemu_version);
        lua_setfield(L, -2, "qemu_version");
        if (info.virtiofsd) {
                lua_pushstring(L, info.virtiofsd);
                lua_setfield(L, -2, "virtiofsd");
        }
        vc_hypervisor_info_clear(&info);
        return 1;
}

static const luaL_Reg sandbox_meth[] = {
    {"call", lsandbox_m_call},
    {"create_container", lsandbox_m_create_container},
    {"start_container", lsandbox_m_start_container},
    {"exec_process", lsandbox_m_exec_process},
    {"start_process", lsandbox_m_start_process},
    {"signal_process", lsandbox_m_signal_process},
    {"list_processes", lsandbox_m_list_processes},
    {"pause_container", lsandbox_m_pause_container},
    {"resume_container", lsandbox_m_resume_container},
    {"stats_container", lsandbox_m_stats_container},
    {"update_container", lsandbox_m_update_container},
    {"remove_container", lsandbox_m_remove_container},
    {"check", lsandbox_m_check},
    {"update_interface", lsandbox_m_update_interface},
    {"qmp", lsandbox_m_qmp},
    {"wait", lsandbox_m_wait},
    {"shutdown", lsandbox_m_shutdown},
    {"shutdown_after", lsandbox_m_shutdown_after},
    {"attach", lsandbox_m_attach},
    {"read", lsandbox_m_read},
    {"write", lsandbox_m_write},
    {"close", lsandbox__close},
    {NULL, NULL},
};
static const luaL_Reg sandbox_meta[] = {
    {"__index", NULL},
    {"__gc", lsandbox__close},
    {"__close", lsandbox__close},
    {"__tostring", lsandbox__tostring},
    {NULL, NULL},
};
static const luaL_Reg sandbox_funcs[] = {
    {"launch", lsandbox_launch},
    {"connect", lsandbox_connect},
    {"remove_dir", lsandbox_remove_dir},
    {NULL, NULL},
};
static const luaL_Reg hypervisor_funcs[] = {
    {"probe", lhypervisor_probe},
    {NULL, NULL},
};

void vc_l_open_sandbox(lua_State *L)
{
        vc_l_newclass(L, SANDBOX_MT, sandbox_meth, sandbox_meta);
        luaL_newlib(L, sandbox_funcs);
        lua_setfield(L, -2, "sandbox");
        luaL_newlib(L, hypervisor_funcs);
        lua_setfield(L, -2, "hypervisor");
}
