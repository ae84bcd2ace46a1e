/* vc.sandbox (launch, connect, vc.Sandbox) and vc.hypervisor (probe). */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>

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
                return def_ms;
        lua_Number t = luaL_checknumber(L, i);
        if (t < 0)
                return -1;
        if (t > 86400)
                luaL_argerror(L, i, "timeout over a day");
        return (int)(t * 1000);
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

        if (vc_sandbox_launch(&cfg, &info, &err) < 0)
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

/* sb:call(method [, params [, timeout_s]]) -> result | nil, msg, code; timeout default 60 s */
static int lsandbox_m_call(lua_State *L)
{
        vc_sandbox_client_t *c = lsandbox_check(L, 1);
        const char *method = luaL_checkstring(L, 2);
        int ms = opt_timeout_ms(L, 4, 60000);
        const char *why = NULL;
        char *result = NULL;
        vc_error_t err = NULL;
        json_object *params = NULL;
        int r;

        if (!lua_isnoneornil(L, 3)) {
                luaL_checktype(L, 3, LUA_TTABLE);
                params = vc_l_tojson(L, 3, &why);
                if (why) {
                        json_object_put(params);
                        return luaL_argerror(L, 3, why);
                }
                if (!json_object_is_type(params, json_type_object)) {
                        json_object_put(params);
                        return luaL_argerror(L, 3, "params must be a table with string keys");
                }
        }
        r = vc_sandbox_call(c, method,
                            params ? json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN) : NULL,
                            ms, &result, &err);
        json_object_put(params);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        json_object *o = json_tokener_parse(result);
        free(result);
        vc_l_pushjson(L, o);
        json_object_put(o);
        return 1;
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
        lua_Integer h = luaL_checkinteger(L, 2);
        char params[64];
        vc_error_t err = NULL;

        luaL_argcheck(L, h > 0 && h <= UINT32_MAX, 2, "handle must be a positive 32-bit integer");
        snprintf(params, sizeof params, "{\"handle\":%lld}", (long long)h);
        if (vc_sandbox_call(c, "sup.attach", params, 10000, NULL, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
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
    {"call", lsandbox_m_call},   {"attach", lsandbox_m_attach}, {"read", lsandbox_m_read},
    {"write", lsandbox_m_write}, {"close", lsandbox__close},    {NULL, NULL},
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
