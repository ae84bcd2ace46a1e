/* vc.shim: start kata-shim for a container process (detached, with a ready handshake) or become it. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vc_lua.h"
#include "vc/shim.h"

/* may raise */
static void lshim_read_opts(lua_State *L, int t, struct vc_shim_opts *o)
{
        lua_Integer handle, timeout;

        luaL_checktype(L, t, LUA_TTABLE);
        memset(o, 0, sizeof *o);
        o->path = vc_l_optfield_string(L, t, "path", NULL);
        o->socket = vc_l_optfield_string(L, t, "socket", NULL);
        o->container = vc_l_optfield_string(L, t, "container", NULL);
        o->exec_id = vc_l_optfield_string(L, t, "exec_id", NULL);
        handle = vc_l_optfield_integer(L, t, "handle", 0);
        o->console_socket = vc_l_optfield_string(L, t, "console_socket", NULL);
        o->terminal = vc_l_optfield_boolean(L, t, "terminal", 0);
        o->log = vc_l_optfield_string(L, t, "log", NULL);
        o->log_format = vc_l_optfield_string(L, t, "log_format", NULL);
        o->debug = vc_l_optfield_boolean(L, t, "debug", 0);
        o->netns = vc_l_optfield_string(L, t, "netns", NULL);
        timeout = vc_l_optfield_integer(L, t, "timeout_ms", 0);

        if (o->socket == NULL || o->socket[0] == '\0')
                luaL_error(L, "field 'socket' is required");
        if (o->container == NULL || o->container[0] == '\0')
                luaL_error(L, "field 'container' is required");
        if (o->exec_id != NULL && o->exec_id[0] == '\0')
                luaL_error(L, "field 'exec_id' must not be empty");
        if (handle <= 0 || (uint64_t)handle > UINT32_MAX)
                luaL_error(L, "field 'handle' must be an integer 1..%I", (lua_Integer)UINT32_MAX);
        o->handle = (uint32_t)handle;
        if (o->log_format && strcmp(o->log_format, "text") != 0 && strcmp(o->log_format, "json") != 0)
                luaL_error(L, "field 'log_format' must be 'text' or 'json', got '%s'", o->log_format);
        if (timeout < 0 || timeout > INT_MAX)
                luaL_error(L, "field 'timeout_ms' must be >= 0");
        o->timeout_ms = (int)timeout;
}

static int lshim_spawn(lua_State *L) /* vc.shim.spawn(opts) -> pid | nil, msg, code */
{
        struct vc_shim_opts o;
        vc_error_t err = NULL;
        pid_t pid;

        lshim_read_opts(L, 1, &o);
        if (vc_shim_spawn(&o, &pid, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, pid);
        return 1;
}

static int lshim_exec(lua_State *L) /* vc.shim.exec(opts) -> does not return | nil, msg, code */
{
        struct vc_shim_opts o;
        vc_error_t err = NULL;

        lshim_read_opts(L, 1, &o);
        vc_shim_exec(&o, &err);
        return vc_l_pusherror(L, &err);
}

static int lshim_path(lua_State *L) /* vc.shim.path([path]) -> the kata-shim binary | nil, msg, code */
{
        struct vc_shim_opts o = {.path = luaL_optstring(L, 1, NULL)};
        vc_error_t err = NULL;
        char *p = NULL;

        if (vc_shim_path(&o, &p, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushstring(L, p);
        free(p);
        return 1;
}

static const luaL_Reg shim_funcs[] = {
    {"spawn", lshim_spawn},
    {"exec", lshim_exec},
    {"path", lshim_path},
    {NULL, NULL},
};

void vc_l_open_shim(lua_State *L)
{
        luaL_newlib(L, shim_funcs);
        lua_setfield(L, -2, "shim");
}
