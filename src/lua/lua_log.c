/* vc.log: the policy's view of the runtime log (api.log wraps it). */
#include "vc/log.h"
#include "vc_lua.h"

static const char *const level_names[] = {"error", "warning", "info", "debug", NULL};

/* vc.log.write(level, msg [, fields]) -> true; fields is a table of string keys to string values */
static int llog_write(lua_State *L)
{
        const char *fields[2 * 16 + 1];
        int n = 0;
        int level = luaL_checkoption(L, 1, NULL, level_names);
        const char *msg = luaL_checkstring(L, 2);
        if (!lua_isnoneornil(L, 3)) {
                luaL_checktype(L, 3, LUA_TTABLE);
                lua_settop(L, 3);
                lua_newtable(L); /* [.., anchor]: keeps converted values alive */
                lua_pushnil(L);
                while (n < 32 && lua_next(L, 3)) { /* [.., anchor, k, v] */
                        if (lua_type(L, -2) == LUA_TSTRING) {
                                fields[n++] = lua_tostring(L, -2);
                                fields[n++] = luaL_tolstring(L, -1, NULL); /* [.., anchor, k, v, s] */
                                lua_rawseti(L, 4, n / 2);                  /* [.., anchor, k, v] */
                        }
                        lua_pop(L, 1); /* [.., anchor, k] */
                }
        }
        fields[n] = NULL;
        vc_log_fields((enum vc_log_level)level, n ? fields : NULL, msg);
        lua_pushboolean(L, 1);
        return 1;
}

static int llog_set_field(lua_State *L) /* vc.log.set_field(key, value|nil) */
{
        const char *k = luaL_checkstring(L, 1);
        const char *v = luaL_optstring(L, 2, NULL);
        if (vc_log_set_field(k, v) < 0)
                return luaL_error(L, "too many log fields");
        lua_pushboolean(L, 1);
        return 1;
}

static int llog_level(lua_State *L) /* vc.log.level() -> "warning" */
{
        lua_pushstring(L, vc_log_level_to_string(vc_log_get_level()));
        return 1;
}

static const luaL_Reg log_funcs[] = {
    {"write", llog_write},
    {"set_field", llog_set_field},
    {"level", llog_level},
    {NULL, NULL},
};

void vc_l_open_log(lua_State *L)
{
        luaL_newlib(L, log_funcs);
        lua_setfield(L, -2, "log");
}
