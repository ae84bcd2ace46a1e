/* vc.purge: what a sandbox left running when its record cannot say (vc/purge.h). */
#include "vc/purge.h"
#include "vc_lua.h"

/* vc.purge.processes(dir [, timeout_s]) -> killed | nil, msg, code */
static int lpurge_processes(lua_State *L)
{
        const char *needle = luaL_checkstring(L, 1);
        lua_Number t = luaL_optnumber(L, 2, 5);
        vc_error_t err = NULL;
        int killed = 0;
        if (vc_purge_processes(needle, (int)(t * 1000), &killed, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, killed);
        return 1;
}

static const luaL_Reg purge_funcs[] = {{"processes", lpurge_processes}, {NULL, NULL}};

void vc_l_open_purge(lua_State *L)
{
        luaL_newlib(L, purge_funcs);
        lua_setfield(L, -2, "purge");
}
