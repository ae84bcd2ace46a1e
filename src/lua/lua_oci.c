/* vc.oci (config.json, CRI annotations), vc.id (container ids), vc.cli (argument parsing), vc.signal. */
#include <json-c/json.h>
#include <string.h>

#include "cap_names.h"
#include "seccomp_names.h"
#include "vc/cli.h"
#include "vc/oci.h"
#include "vc_lua.h"

/* vc.oci.load(path) -> config | nil, msg, code */
static int loci_load(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        vc_error_t err = NULL;
        json_object *doc = NULL;
        if (vc_oci_load(path, &doc, &err) < 0)
                return vc_l_pusherror(L, &err);
        vc_l_pushjson(L, doc);
        json_object_put(doc);
        return 1;
}

/* Convert arg 1 to JSON or raise. The caller owns the result. */
static json_object *checkjson(lua_State *L, int idx) /* may raise */
{
        const char *why = NULL;
        json_object *o = vc_l_tojson(L, idx, &why);
        if (why) {
                json_object_put(o);
                luaL_argerror(L, idx, why);
        }
        return o;
}

/* vc.oci.validate(config [, what]) -> true | nil, msg, "EINVAL" */
static int loci_validate(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TTABLE);
        const char *what = luaL_optstring(L, 2, "config.json");
        vc_error_t err = NULL;
        json_object *o = checkjson(L, 1);
        int r = vc_oci_validate(o, what, &err);
        json_object_put(o);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.oci.check_guest(config, pod_member [, what]) -> true | nil, msg, "EINVAL" */
static int loci_check_guest(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TTABLE);
        bool pod_member = lua_toboolean(L, 2);
        const char *what = luaL_optstring(L, 3, "config.json");
        vc_error_t err = NULL;
        json_object *o = checkjson(L, 1);
        int r = vc_oci_check_guest(o, pod_member, what, &err);
        json_object_put(o);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.oci.check_command(config, bundle [, what]) -> true | nil, msg, "ENOENT" */
static int loci_check_command(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TTABLE);
        const char *bundle = luaL_checkstring(L, 2);
        const char *what = luaL_optstring(L, 3, "config.json");
        vc_error_t err = NULL;
        json_object *o = checkjson(L, 1);
        int r = vc_oci_check_command(o, bundle, what, &err);
        json_object_put(o);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.oci.validate_process(process [, what]) -> true | nil, msg, "EINVAL": an exec'd process, valid and
 * within what the guest takes */
static int loci_validate_process(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TTABLE);
        const char *what = luaL_optstring(L, 2, "process.json");
        vc_error_t err = NULL;
        json_object *o = checkjson(L, 1);
        int r = vc_oci_validate_process(o, what, &err);
        if (r >= 0)
                r = vc_oci_check_guest_process(o, what, &err);
        json_object_put(o);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.oci.container_type(annotations|nil) -> "sandbox" | "container", sandbox_id|nil | nil, msg, code */
static int loci_container_type(lua_State *L)
{
        json_object *ann = NULL;
        enum vc_container_type type;
        const char *sid = NULL;
        vc_error_t err = NULL;

        if (!lua_isnoneornil(L, 1)) {
                luaL_checktype(L, 1, LUA_TTABLE);
                ann = checkjson(L, 1);
        }
        if (vc_oci_container_type(ann, &type, &sid, &err) < 0) {
                json_object_put(ann);
                return vc_l_pusherror(L, &err);
        }
        lua_pushstring(L, type == VC_CONTAINER_SANDBOX ? "sandbox" : "container");
        if (sid)
                lua_pushstring(L, sid);
        else
                lua_pushnil(L);
        json_object_put(ann);
        return 2;
}

static int loci_default_spec(lua_State *L) /* vc.oci.default_spec() -> config */
{
        json_object *o = vc_oci_default_spec();
        if (o == NULL)
                return luaL_error(L, "out of memory");
        vc_l_pushjson(L, o);
        json_object_put(o);
        return 1;
}

static int lid_validate(lua_State *L) /* vc.id.validate(id) -> true | nil, msg, "EINVAL" */
{
        const char *id = luaL_checkstring(L, 1);
        vc_error_t err = NULL;
        if (strlen(id) != lua_rawlen(L, 1))
                id = ""; /* an embedded NUL is never valid */
        if (vc_id_validate(id, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

static int lid_digest(lua_State *L) /* vc.id.digest(s) -> 16 hex digits */
{
        char d[17];
        vc_id_digest(luaL_checkstring(L, 1), d);
        lua_pushstring(L, d);
        return 1;
}

/* vc.cli.parse(argv) -> ctx | nil, msg, "EINVAL"; argv[1] is the first argument after the program name */
static int lcli_parse(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_Integer n = luaL_len(L, 1);
        if (n > 4096)
                return luaL_argerror(L, 1, "too many arguments");
        char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 2), 0); /* freed by the GC */
        argv[0] = "kata-runtime";
        for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, 1, i);
                if (lua_type(L, -1) != LUA_TSTRING)
                        return luaL_error(L, "bad argument #1 to 'parse' (argv[%d] is not a string)", (int)i);
                argv[i] = (char *)lua_tostring(L, -1); /* the argv table keeps it alive */
                lua_pop(L, 1);
        }
        argv[n + 1] = NULL;
        json_object *ctx = NULL;
        vc_error_t err = NULL;
        if (vc_cli_parse((int)n + 1, argv, &ctx, &err) < 0)
                return vc_l_pusherror(L, &err);
        vc_l_pushjson(L, ctx);
        json_object_put(ctx);
        return 1;
}

static int lcli_usage(lua_State *L) /* vc.cli.usage([command]) -> text */
{
        lua_pushstring(L, vc_cli_usage(luaL_optstring(L, 1, NULL)));
        return 1;
}

/* vc.signal.parse("TERM"|"SIGTERM"|"15"|15) -> 15 | nil, msg, "EINVAL" */
static int lsignal_parse(lua_State *L)
{
        int signo;
        const char *s = luaL_checkstring(L, 1);
        if (vc_signal_parse(s, &signo) < 0) {
                luaL_pushfail(L);
                lua_pushfstring(L, "unknown signal '%s'", s);
                lua_pushliteral(L, "EINVAL");
                return 3;
        }
        lua_pushinteger(L, signo);
        return 1;
}

static int lsignal_name(lua_State *L) /* vc.signal.name(15) -> "TERM" | nil */
{
        const char *n = vc_signal_name((int)luaL_checkinteger(L, 1));
        if (n)
                lua_pushstring(L, n);
        else
                luaL_pushfail(L);
        return 1;
}

static const luaL_Reg oci_funcs[] = {
    {"load", loci_load},
    {"validate", loci_validate},
    {"validate_process", loci_validate_process},
    {"check_guest", loci_check_guest},
    {"check_command", loci_check_command},
    {"container_type", loci_container_type},
    {"default_spec", loci_default_spec},
    {NULL, NULL},
};

static const luaL_Reg id_funcs[] = {{"validate", lid_validate}, {"digest", lid_digest}, {NULL, NULL}};
static const luaL_Reg cli_funcs[] = {{"parse", lcli_parse}, {"usage", lcli_usage}, {NULL, NULL}};
static const luaL_Reg signal_funcs[] = {{"parse", lsignal_parse}, {"name", lsignal_name}, {NULL, NULL}};

/* vc[name] = a new table of funcs; the table stays on the stack for constants. */
static void newlib_field(lua_State *L, const char *name, const luaL_Reg *funcs)
{
        lua_newtable(L);
        luaL_setfuncs(L, funcs, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, name);
}

/* A list of the names an X-macro of seccomp_names.h expands to, as a Lua array at the top of the stack. */
static void push_names(lua_State *L, const char *const *names, size_t n)
{
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
                lua_pushstring(L, names[i]);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
}

#define CAP(c) #c,
static const char *const capabilities[] = {VC_CAPABILITIES(CAP)};
#undef CAP

#define NAME(name, value) name,
static const char *const seccomp_actions[] = {VC_SECCOMP_ACTIONS(NAME)};
static const char *const seccomp_operators[] = {VC_SECCOMP_OPERATORS(NAME)};
static const char *const seccomp_archs[] = {VC_SECCOMP_ARCHS(NAME)};
static const char *const seccomp_flags[] = {VC_SECCOMP_FLAGS(NAME)};
#undef NAME

/* vc.oci.seccomp (what the guest agent's linux.seccomp honours) and vc.oci.capabilities (the capability
 * names it knows), for `features`: made when first read, so that no other command pays for them. */
static int loci__index(lua_State *L)
{
        const char *k = lua_tostring(L, 2);
        if (k && strcmp(k, "seccomp") == 0) {
                lua_createtable(L, 0, 4);
                push_names(L, seccomp_actions, sizeof seccomp_actions / sizeof seccomp_actions[0]);
                lua_setfield(L, -2, "actions");
                push_names(L, seccomp_operators, sizeof seccomp_operators / sizeof seccomp_operators[0]);
                lua_setfield(L, -2, "operators");
                push_names(L, seccomp_archs, sizeof seccomp_archs / sizeof seccomp_archs[0]);
                lua_setfield(L, -2, "archs");
                push_names(L, seccomp_flags, sizeof seccomp_flags / sizeof seccomp_flags[0]);
                lua_setfield(L, -2, "flags");
        } else if (k && strcmp(k, "capabilities") == 0) {
                push_names(L, capabilities, sizeof capabilities / sizeof capabilities[0]);
        } else {
                return 0;
        }
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
        return 1;
}

void vc_l_open_oci(lua_State *L)
{
        newlib_field(L, "oci", oci_funcs); /* [vc, oci] */
        lua_pushliteral(L, VC_OCI_VERSION);
        lua_setfield(L, -2, "version");
        lua_pushliteral(L, VC_OCI_VERSION_MIN);
        lua_setfield(L, -2, "version_min");
        /* seccomp and capabilities: made on first use (only `features` reads them) */
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, loci__index);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        lua_pop(L, 1);

        newlib_field(L, "id", id_funcs);
        lua_pushinteger(L, VC_ID_MAX);
        lua_setfield(L, -2, "max");
        lua_pop(L, 1);

        newlib_field(L, "cli", cli_funcs);
        lua_pushliteral(L, VC_DEFAULT_ROOT);
        lua_setfield(L, -2, "default_root");
        lua_pop(L, 1);

        newlib_field(L, "signal", signal_funcs);
        lua_pop(L, 1);
}
