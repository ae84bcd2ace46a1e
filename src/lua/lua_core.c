/* vc.version, vc.null, vc.json: the small pieces every policy and binding uses. */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <json-c/json.h>

#include "vc_lua.h"

static int lcore_json_encode(lua_State *L) /* vc.json.encode(v [, pretty]) -> string; raises if unencodable */
{
        const char *why = NULL;
        luaL_checkany(L, 1);
        int pretty = lua_toboolean(L, 2);
        json_object *o = vc_l_tojson(L, 1, &why);
        if (why) {
                json_object_put(o);
                return luaL_error(L, "json.encode: %s", why);
        }
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
        lua_pushstring(L, o ? json_object_to_json_string_ext(o, flags) : "null");
        json_object_put(o);
        return 1;
}

static int lcore_json_decode(lua_State *L) /* vc.json.decode(s) -> value | nil, msg, "EINVAL" */
{
        size_t len;
        const char *s = luaL_checklstring(L, 1, &len);
        json_tokener *tok = json_tokener_new();
        if (tok == NULL)
                return luaL_error(L, "out of memory");
        json_object *o = json_tokener_parse_ex(tok, s, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        if (jerr == json_tokener_success && json_tokener_get_parse_end(tok) < len) {
                /* trailing garbage other than white space is an error */
                for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                        if (!strchr(" \t\r\n", s[i])) {
                                jerr = json_tokener_error_parse_unexpected;
                                break;
                        }
        }
        json_tokener_free(tok);
        if (jerr != json_tokener_success) {
                json_object_put(o);
                luaL_pushfail(L);
                lua_pushfstring(L, "invalid JSON: %s", json_tokener_error_desc(jerr));
                lua_pushliteral(L, "EINVAL");
                return 3;
        }
        vc_l_pushjson(L, o);
        json_object_put(o);
        return 1;
}

static int lcore_json_array(lua_State *L) /* vc.json.array([t]) -> t marked as a JSON array (even if empty) */
{
        if (lua_isnoneornil(L, 1)) {
                lua_settop(L, 0);
                lua_newtable(L);
        }
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
        vc_l_markarray(L, 1);
        return 1;
}

static int lclock_realtime(lua_State *L) /* vc.clock.realtime() -> { sec =, nsec = } */
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, (lua_Integer)ts.tv_sec);
        lua_setfield(L, -2, "sec");
        lua_pushinteger(L, (lua_Integer)ts.tv_nsec);
        lua_setfield(L, -2, "nsec");
        return 1;
}

static int lclock_monotonic(lua_State *L) /* vc.clock.monotonic() -> seconds (float) */
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
        return 1;
}

static int lclock_sleep(lua_State *L) /* vc.clock.sleep(seconds) */
{
        lua_Number s = luaL_checknumber(L, 1);
        luaL_argcheck(L, s >= 0 && s <= 3600, 1, "out of range");
        struct timespec ts = {(time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        return 0;
}

/* The instruction budget (Redis's and lua.c's hook technique): every CHECK_EVERY VM instructions the hook
 * counts; past the budget it raises, then re-arms itself on every line so that a pcall in the script
 * cannot swallow the error and go on. Waiting in C (agent calls, sleeps) costs no instructions, so only a
 * script that computes without end hits it. */
#define CHECK_EVERY 10000
static lua_Integer budget_left;

static void budget_hook(lua_State *L, lua_Debug *ar)
{
        if (budget_left > CHECK_EVERY) {
                budget_left -= CHECK_EVERY;
                return;
        }
        budget_left = 0;
        lua_sethook(L, budget_hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
        /* only policy code is stopped (chunks named "=policy/<name>"): the runtime's own error handling
         * and reporting must still run */
        if (lua_getinfo(L, "S", ar) && strncmp(ar->source, "=policy/", 8) == 0)
                luaL_error(L, "script exceeded its instruction budget");
}

/* vc.limits.set_instruction_budget(n): n VM instructions from now on (0 removes the budget) */
static int llimits_set_budget(lua_State *L)
{
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 0, 1, "must not be negative");
        budget_left = n;
        if (n == 0)
                lua_sethook(L, NULL, 0, 0);
        else
                lua_sethook(L, budget_hook, LUA_MASKCOUNT, CHECK_EVERY);
        return 0;
}

static const luaL_Reg limits_funcs[] = {
    {"set_instruction_budget", llimits_set_budget},
    {NULL, NULL},
};

static const luaL_Reg clock_funcs[] = {
    {"realtime", lclock_realtime},
    {"monotonic", lclock_monotonic},
    {"sleep", lclock_sleep},
    {NULL, NULL},
};

static const luaL_Reg json_funcs[] = {
    {"encode", lcore_json_encode},
    {"decode", lcore_json_decode},
    {"array", lcore_json_array},
    {NULL, NULL},
};

void vc_l_open_core(lua_State *L)
{
        lua_pushliteral(L, VC_VERSION_STRING);
        lua_setfield(L, -2, "version");
        vc_l_pushjson(L, NULL); /* the null sentinel */
        lua_setfield(L, -2, "null");
        luaL_newlib(L, json_funcs);
        lua_setfield(L, -2, "json");
        luaL_newlib(L, clock_funcs);
        lua_setfield(L, -2, "clock");
        luaL_newlib(L, limits_funcs);
        lua_setfield(L, -2, "limits");

        /* vc.build: where this code's own file is (build/vc.so, build/kata-runtime), and the installed
         * layout below it (build/share/kata-runtime/{lua,guest} are links in a build directory). Nothing is
         * compiled in: an installed binary finds its files relative to itself (kata.config prefers those). */
        lua_createtable(L, 0, 3);
        {
                Dl_info info;
                char *self = dladdr((void *)vc_l_open_core, &info) && info.dli_fname
                                 ? realpath(info.dli_fname, NULL)
                                 : NULL;
                char *slash = self ? strrchr(self, '/') : NULL;
                if (slash) {
                        *slash = '\0';
                        lua_pushstring(L, self);
                        lua_setfield(L, -2, "bin_dir");
                        lua_pushfstring(L, "%s/share/kata-runtime/guest", self);
                        lua_setfield(L, -2, "guest_dir");
                        lua_pushfstring(L, "%s/share/kata-runtime/lua", self);
                        lua_setfield(L, -2, "lua_dir");
                }
                free(self);
        }
        lua_setfield(L, -2, "build");
}
