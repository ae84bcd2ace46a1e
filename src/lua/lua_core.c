/* vc.version, vc.null, vc.json: the small pieces every policy and binding uses. */
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
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

static int raise_limit(lua_State *L, const char *what);

static int lclock_sleep(lua_State *L) /* vc.clock.sleep(seconds); raises when it would pass the deadline */
{
        lua_Number s = luaL_checknumber(L, 1);
        luaL_argcheck(L, s >= 0 && s <= 3600, 1, "out of range");
        int over = 0;
        if (vc_l_limits.deadline_ms) {
                int ms = vc_l_deadline_clamp_ms((int)(s * 1000));
                if (ms < (int)(s * 1000)) {
                        s = (lua_Number)ms / 1000;
                        over = 1;
                }
        }
        struct timespec ts = {(time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        if (over)
                return raise_limit(L, "deadline");
        return 0;
}

/* The limits of policy code: an instruction budget, a wall-clock deadline and a memory cap with a
 * reserve. They hold while policy code runs -- inside vc.limits.run, which is where the runtime calls a
 * policy -- and not while the runtime's own code runs: mechanism functions are wrapped with
 * vc.limits.trusted, and a failed command's rollback runs after limits.run has returned (then the runtime
 * lifts the limits altogether). One interpreter per process, so one set of limits.
 *
 * The budget and the deadline are checked from a count hook (Redis's and lua.c's technique): past either,
 * the hook raises, then re-arms itself on every line so that a pcall in the script cannot swallow the
 * error and go on. Waiting in C is covered by the deadline: vc.clock.sleep and the bindings' timeouts are
 * cut to what is left of it (vc_l_deadline_clamp_ms). Pattern matching, which runs whole in C where no
 * hook fires, is given to policies in Lua (kata.pattern), so it is counted like any other code. */
#define CHECK_EVERY 10000

struct vc_l_limits vc_l_limits = {0};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void *vc_l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
        struct vc_l_limits *l = ud;
        if (ptr == NULL)
                osize = 0;
        if (nsize == 0) {
                if (l->base)
                        l->base(l->base_ud, ptr, osize, 0);
                else
                        free(ptr);
                l->used -= osize;
                return NULL;
        }
        /* policy code may use the cap less the reserve: the rollback after it runs out gets the rest */
        size_t cap = l->max ? l->max - (l->active ? l->reserve : 0) : 0;
        if (cap && nsize > osize && l->used + (nsize - osize) > cap)
                return NULL;
        void *p = l->base ? l->base(l->base_ud, ptr, osize, nsize) : realloc(ptr, nsize);
        if (p != NULL)
                l->used = l->used - osize + nsize;
        return p;
}

int vc_l_deadline_clamp_ms(int ms)
{
        if (vc_l_limits.deadline_ms == 0)
                return ms;
        int64_t left = vc_l_limits.deadline_ms - now_ms();
        if (left < 0)
                left = 0;
        if (ms < 0 || ms > left)
                return (int)left;
        return ms;
}

/* Raise the deadline's error: a table { msg = } like every message meant for the user. */
static int raise_limit(lua_State *L, const char *what)
{
        vc_l_limits.tripped = what;
        lua_sethook(L, lua_gethook(L), LUA_MASKLINE | LUA_MASKCOUNT, 1);
        lua_createtable(L, 0, 2);
        if (strcmp(what, "deadline") == 0)
                lua_pushfstring(L, "command exceeded its deadline of %d s", (int)vc_l_limits.deadline_s);
        else
                lua_pushstring(L, "script exceeded its instruction budget");
        luaL_traceback(L, L, lua_tostring(L, -1), 1); /* where the policy was stopped, for the log */
        lua_setfield(L, -3, "trace");
        lua_setfield(L, -2, "msg");
        return lua_error(L);
}

static void limits_hook(lua_State *L, lua_Debug *ar)
{
        struct vc_l_limits *l = &vc_l_limits;
        (void)ar;
        if (!l->active)
                return; /* the runtime's own code: never budgeted */
        if (l->tripped)
                raise_limit(L, l->tripped);
        if (l->budget > 0) {
                if (l->budget_left > CHECK_EVERY)
                        l->budget_left -= CHECK_EVERY;
                else
                        raise_limit(L, "budget");
        }
        if (l->deadline_ms && now_ms() >= l->deadline_ms)
                raise_limit(L, "deadline");
}

static void arm(lua_State *L)
{
        struct vc_l_limits *l = &vc_l_limits;
        if (l->budget > 0 || l->deadline_ms)
                lua_sethook(L, limits_hook, LUA_MASKCOUNT, CHECK_EVERY);
        else
                lua_sethook(L, NULL, 0, 0);
}

/* vc.limits.set_instruction_budget(n): n VM instructions of policy code from now on (0: no budget) */
static int llimits_set_budget(lua_State *L)
{
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 0, 1, "must not be negative");
        vc_l_limits.budget = vc_l_limits.budget_left = n;
        vc_l_limits.tripped = NULL;
        arm(L);
        return 0;
}

/* vc.limits.set_deadline(seconds): the command must be done that many seconds from now (0: no deadline) */
static int llimits_set_deadline(lua_State *L)
{
        lua_Number s = luaL_checknumber(L, 1);
        luaL_argcheck(L, s >= 0 && s <= 86400, 1, "must be within 0..86400 seconds");
        vc_l_limits.deadline_s = s;
        vc_l_limits.deadline_ms = s > 0 ? now_ms() + (int64_t)(s * 1000) : 0;
        vc_l_limits.tripped = NULL;
        arm(L);
        return 0;
}

/* vc.limits.remaining() -> seconds left before the deadline, or nil without one */
static int llimits_remaining(lua_State *L)
{
        if (vc_l_limits.deadline_ms == 0)
                return 0;
        int64_t left = vc_l_limits.deadline_ms - now_ms();
        lua_pushnumber(L, left > 0 ? (lua_Number)left / 1000 : 0);
        return 1;
}

/* vc.limits.lift(): no budget, deadline or reserve from now on (a failed command's rollback) */
static int llimits_lift(lua_State *L)
{
        vc_l_limits.budget = vc_l_limits.budget_left = 0;
        vc_l_limits.deadline_ms = 0;
        vc_l_limits.tripped = NULL;
        vc_l_limits.active = 0;
        arm(L);
        return 0;
}

/* vc.limits.set_memory(max_bytes [, reserve_bytes]): cap the interpreter's memory; policy code may use
 * max - reserve. Installs the counting allocator over the state's own when needed (a plain lua5.4);
 * set_memory(0) there puts the state's own back. */
static int llimits_set_memory(lua_State *L)
{
        lua_Integer max = luaL_checkinteger(L, 1), reserve = luaL_optinteger(L, 2, 0);
        luaL_argcheck(L, max >= 0, 1, "must not be negative");
        luaL_argcheck(L, reserve >= 0 && (max == 0 || reserve < max), 2, "must be below the cap");
        void *ud;
        lua_Alloc f = lua_getallocf(L, &ud);
        if (max == 0 && f == vc_l_alloc && vc_l_limits.base) {
                /* give the state its own allocator back: vc.so may be unloaded before the state's last free
                 */
                lua_setallocf(L, vc_l_limits.base, vc_l_limits.base_ud);
                vc_l_limits.base = NULL;
                vc_l_limits.max = vc_l_limits.reserve = 0;
                return 0;
        }
        if (f != vc_l_alloc) {
                vc_l_limits.base = f;
                vc_l_limits.base_ud = ud;
                vc_l_limits.used =
                    (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
                lua_setallocf(L, vc_l_alloc, &vc_l_limits);
        }
        vc_l_limits.max = (size_t)max;
        vc_l_limits.reserve = (size_t)reserve;
        return 0;
}

/* vc.limits.active() -> whether policy code is running (under limits.run, outside trusted functions) */
static int llimits_active(lua_State *L)
{
        lua_pushboolean(L, vc_l_limits.active);
        return 1;
}

/* Message handler of limits.run: the limits end where the policy's error begins. Error tables (messages
 * for the user) are kept; anything else gets a traceback. */
static int run_msgh(lua_State *L)
{
        vc_l_limits.active = 0;
        if (lua_type(L, 1) == LUA_TTABLE)
                return 1;
        const char *msg = lua_tostring(L, 1);
        if (msg == NULL)
                msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        luaL_traceback(L, L, msg, 1);
        lua_createtable(L, 0, 2);
        lua_pushstring(L, msg);
        lua_setfield(L, -2, "msg");
        lua_insert(L, -2);
        lua_setfield(L, -2, "trace");
        return 1;
}

/* vc.limits.run(fn, ...) -> true, results... | false, err: call policy code under the limits (xpcall's
 * contract). err is a table: { msg = } as raised, or { msg =, trace = } for a script error; an
 * allocation failure gives { msg = "not enough memory" }. */
static int llimits_run(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TFUNCTION);
        int n = lua_gettop(L);
        lua_pushcfunction(L, run_msgh);
        lua_insert(L, 1);
        int saved = vc_l_limits.active;
        vc_l_limits.active = 1;
        int st = lua_pcall(L, n - 1, LUA_MULTRET, 1);
        vc_l_limits.active = saved;
        if (st == LUA_ERRMEM) {
                lua_settop(L, 1);
                lua_createtable(L, 0, 1);
                lua_pushliteral(L, "not enough memory");
                lua_setfield(L, -2, "msg");
        }
        lua_pushboolean(L, st == LUA_OK);
        lua_replace(L, 1);
        return lua_gettop(L);
}

static int trusted_call(lua_State *L)
{
        int saved = vc_l_limits.active;
        vc_l_limits.active = 0;
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
        vc_l_limits.active = saved;
        if (st != LUA_OK)
                return lua_error(L); /* the same error object, raised on into the caller */
        return lua_gettop(L);
}

/* vc.limits.trusted(fn) -> a function that runs fn as the runtime's own code: outside the limits */
static int llimits_trusted(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TFUNCTION);
        lua_settop(L, 1);
        lua_pushcclosure(L, trusted_call, 1);
        return 1;
}

static const luaL_Reg limits_funcs[] = {
    {"set_instruction_budget", llimits_set_budget},
    {"set_deadline", llimits_set_deadline},
    {"set_memory", llimits_set_memory},
    {"remaining", llimits_remaining},
    {"lift", llimits_lift},
    {"active", llimits_active},
    {"run", llimits_run},
    {"trusted", llimits_trusted},
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
