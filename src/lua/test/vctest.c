/* vctest: primitives only the specs need, in a module that is built beside vc.so and never installed
 * (require("vctest")): reaping and subreaping for the processes specs start, a shared mount point, and
 * the links of a network namespace. */
#include <lauxlib.h>
#include <lua.h>

#include "vc/mount.h"
#include "vc/proc.h"
#include "vc_lua.h"

/* vctest.proc.reap() -> number of exited children reaped without waiting */
static int ltest_reap(lua_State *L)
{
        lua_pushinteger(L, vc_proc_reap());
        return 1;
}

/* vctest.proc.set_subreaper([on]) -> true | nil, msg, code */
static int ltest_set_subreaper(lua_State *L)
{
        vc_error_t err = NULL;
        int on = 1;

        if (!lua_isnoneornil(L, 1)) {
                luaL_checktype(L, 1, LUA_TBOOLEAN);
                on = lua_toboolean(L, 1);
        }
        if (vc_proc_set_subreaper(on, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vctest.fs.make_shared(path) -> true | nil, msg, code */
static int ltest_make_shared(lua_State *L)
{
        vc_error_t err = NULL;

        if (vc_mount_make_shared(luaL_checkstring(L, 1), &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

static const luaL_Reg proc_funcs[] = {
    {"reap", ltest_reap}, {"set_subreaper", ltest_set_subreaper}, {NULL, NULL}};
static const luaL_Reg fs_funcs[] = {{"make_shared", ltest_make_shared}, {NULL, NULL}};
static const luaL_Reg netns_funcs[] = {{"links", vc_l_netns_links}, {NULL, NULL}};

int luaopen_vctest(lua_State *L)
{
        lua_newtable(L);
        luaL_newlib(L, proc_funcs);
        lua_setfield(L, -2, "proc");
        luaL_newlib(L, fs_funcs);
        lua_setfield(L, -2, "fs");
        luaL_newlib(L, netns_funcs);
        lua_setfield(L, -2, "netns");
        return 1;
}
