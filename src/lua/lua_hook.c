/* vc.hook: run OCI hooks from the policy. Which hooks run when, and whether a failure aborts, warns or is
 * ignored, is the policy's decision; these functions only run them and say what happened.
 *
 * ---@class vc.Hook             the OCI shape, as found in config.json
 * ---@field path string         absolute
 * ---@field args string[]?      argv, args[1] included (nil: { path })
 * ---@field env string[]?       the whole environment (nil: empty)
 * ---@field timeout integer?    seconds, > 0
 *
 * ---@class vc.HookOpts
 * ---@field state (string|table)?   container state, written to the hook's stdin as JSON
 * ---@field kind string?           "prestart", "poststart", ... for messages
 * ---@field index integer?          run only: the hook's 0-based number in messages (default 0)
 * ---@field netns (string|vc.Netns)?  run the hook inside this network namespace
 * ---@field cwd string?            working directory of the hook (the bundle)
 *
 * ---@class vc.HookOutput
 * ---@field stdout string          at most 64 KiB, then "[... output truncated]"
 * ---@field stderr string
 */
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <json-c/json.h>

#include "vc/hook.h"
#include "vc/netns.h"
#include "vc_lua.h"

/* Reads hook tables and options into C, raising on misuse with "bad argument #<arg> to '<fn>' (...)".
 * Every array it builds lives in a userdata kept in the anchor table, so nothing leaks when it raises. */
struct reader {
        lua_State *L;
        int arg;
        char prefix[48]; /* "hook #3: " inside run_all, "" in run */
        int anchor;      /* stack index of the anchor table */
        int anchored;
};

static int reader_error(struct reader *rd, const char *fmt, ...) /* raises */
{
        va_list ap;
        va_start(ap, fmt);
        lua_pushstring(rd->L, rd->prefix);
        lua_pushvfstring(rd->L, fmt, ap);
        va_end(ap);
        lua_concat(rd->L, 2);
        return luaL_argerror(rd->L, rd->arg, lua_tostring(rd->L, -1));
}

static void *reader_alloc(struct reader *rd, size_t size) /* may raise */
{
        void *p = lua_newuserdatauv(rd->L, size ? size : 1, 0);
        lua_rawseti(rd->L, rd->anchor, ++rd->anchored);
        return p;
}

/* Field k of the table at t as a NULL-terminated string array; NULL when absent. may raise */
static const char *const *read_strings(struct reader *rd, int t, const char *k)
{
        lua_State *L = rd->L;
        const char **v;
        lua_Integer n;

        if (lua_getfield(L, t, k) == LUA_TNIL) {
                lua_pop(L, 1);
                return NULL;
        }
        if (!lua_istable(L, -1))
                reader_error(rd, "field '%s' must be a table of strings, got %s", k, luaL_typename(L, -1));
        n = (lua_Integer)lua_rawlen(L, -1);
        v = reader_alloc(rd, ((size_t)n + 1) * sizeof *v);
        for (lua_Integer i = 1; i <= n; i++) {
                if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
                        reader_error(rd, "%s[%d] must be a string, got %s", k, (int)i, luaL_typename(L, -1));
                v[i - 1] = lua_tostring(L, -1); /* kept alive by the hook table */
                lua_pop(L, 1);
        }
        v[n] = NULL;
        lua_pop(L, 1);
        return v;
}

static void read_hook(struct reader *rd, int t, struct vc_hook *h) /* may raise */
{
        lua_State *L = rd->L;
        int isnum;

        t = lua_absindex(L, t);
        memset(h, 0, sizeof *h);
        if (lua_getfield(L, t, "path") != LUA_TSTRING)
                reader_error(rd, "field 'path' must be a string, got %s", luaL_typename(L, -1));
        h->path = lua_tostring(L, -1);
        lua_pop(L, 1);
        h->args = read_strings(rd, t, "args");
        h->env = read_strings(rd, t, "env");
        if (lua_getfield(L, t, "timeout") != LUA_TNIL) {
                lua_Integer v = lua_tointegerx(L, -1, &isnum);
                if (!isnum || lua_type(L, -1) != LUA_TNUMBER)
                        reader_error(rd, "field 'timeout' must be an integer, got %s", luaL_typename(L, -1));
                h->has_timeout = true;
                /* Out-of-range values keep their sign so that validation still refuses <= 0. */
                h->timeout = v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
        }
        lua_pop(L, 1);
}

/* opts at index 2 (nil or a table). The state string is left on the stack (anchored). may raise */
static void read_opts(struct reader *rd, int allow_index, struct vc_hook_opts *o)
{
        lua_State *L = rd->L;
        vc_netns_t *ns;
        int type;

        *o = (struct vc_hook_opts)VC_HOOK_OPTS_INIT;
        rd->arg = 2;
        rd->prefix[0] = '\0';
        if (lua_isnoneornil(L, 2))
                return;
        luaL_checktype(L, 2, LUA_TTABLE);
        o->kind = vc_l_optfield_string(L, 2, "kind", NULL);
        o->cwd = vc_l_optfield_string(L, 2, "cwd", NULL);
        if (allow_index) {
                lua_Integer i = vc_l_optfield_integer(L, 2, "index", 0);
                if (i < 0)
                        reader_error(rd, "field 'index' must not be negative");
                o->index = (size_t)i;
        }

        type = lua_getfield(L, 2, "netns");
        if (type == LUA_TSTRING) {
                o->netns = lua_tostring(L, -1);
        } else if (type != LUA_TNIL) {
                ns = vc_l_testnetns(L, -1);
                if (ns == NULL)
                        reader_error(rd, "field 'netns' must be a path or a vc.Netns, got %s",
                                     luaL_typename(L, -1));
                o->netns_fd = vc_netns_fd(ns);
        }
        lua_rawseti(L, rd->anchor, ++rd->anchored);

        type = lua_getfield(L, 2, "state");
        if (type == LUA_TTABLE) {
                const char *why = NULL;
                json_object *j = vc_l_tojson(L, -1, &why);
                if (why) {
                        json_object_put(j);
                        reader_error(rd, "field 'state' cannot be encoded as JSON: %s", why);
                }
                lua_pushstring(L, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                                        JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(j);
                lua_remove(L, -2);
        } else if (type != LUA_TSTRING && type != LUA_TNIL) {
                reader_error(rd, "field 'state' must be a string or a table, got %s", luaL_typename(L, -1));
        }
        if (type != LUA_TNIL)
                o->state = lua_tolstring(L, -1, &o->state_len);
        lua_rawseti(L, rd->anchor, ++rd->anchored);
}

static void push_output(lua_State *L, const struct vc_hook_output *out)
{
        lua_createtable(L, 0, 2);
        lua_pushlstring(L, out->out ? out->out : "", out->out_len);
        lua_setfield(L, -2, "stdout");
        lua_pushlstring(L, out->err ? out->err : "", out->err_len);
        lua_setfield(L, -2, "stderr");
}

/* Protected: converts the outputs (light userdata at 1, count at 2) into a list, or the single output when
 * the count is nil. */
static int push_outputs(lua_State *L)
{
        const struct vc_hook_output *outs = lua_touserdata(L, 1);
        lua_Integer n;

        if (lua_isnil(L, 2)) {
                push_output(L, outs);
                return 1;
        }
        n = lua_tointeger(L, 2);
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 0; i < n; i++) {
                push_output(L, &outs[i]);
                lua_rawseti(L, -2, i + 1);
        }
        return 1;
}

/* Push true and the outputs, releasing them whatever happens. */
static int push_success(lua_State *L, struct vc_hook_output *outs, size_t n, int as_list)
{
        int r;

        lua_pushboolean(L, 1);
        lua_pushcfunction(L, push_outputs);
        lua_pushlightuserdata(L, outs);
        if (as_list)
                lua_pushinteger(L, (lua_Integer)n);
        else
                lua_pushnil(L);
        r = lua_pcall(L, 2, 1, 0);
        for (size_t i = 0; i < n; i++)
                vc_hook_output_release(&outs[i]);
        if (r != LUA_OK)
                return lua_error(L);
        return 2;
}

/* vc.hook.run(hook, opts) -> true, vc.HookOutput | nil, msg, code */
static int lhook_run(lua_State *L)
{
        struct reader rd = {.L = L, .arg = 1};
        struct vc_hook_output out = {0};
        struct vc_hook_opts o;
        struct vc_hook h;
        vc_error_t err = NULL;

        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 2);
        lua_newtable(L);
        rd.anchor = lua_gettop(L);
        read_hook(&rd, 1, &h);
        read_opts(&rd, 1, &o);
        if (vc_hook_run(&h, &o, &out, &err) < 0)
                return vc_l_pusherror(L, &err);
        return push_success(L, &out, 1, 0);
}

/* vc.hook.run_all(hooks, opts) -> true, vc.HookOutput[] | nil, msg, code, failed_index (0-based) */
static int lhook_run_all(lua_State *L)
{
        struct reader rd = {.L = L, .arg = 1};
        struct vc_hook_output *outs;
        struct vc_hook_opts o;
        struct vc_hook *hooks;
        vc_error_t err = NULL;
        size_t n, failed = 0;

        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 2);
        lua_newtable(L);
        rd.anchor = lua_gettop(L);
        n = lua_rawlen(L, 1);
        hooks = reader_alloc(&rd, n * sizeof *hooks);
        for (size_t i = 0; i < n; i++) {
                snprintf(rd.prefix, sizeof rd.prefix, "hook #%zu: ", i);
                if (lua_rawgeti(L, 1, (lua_Integer)i + 1) != LUA_TTABLE)
                        reader_error(&rd, "table expected, got %s", luaL_typename(L, -1));
                read_hook(&rd, -1, &hooks[i]);
                lua_pop(L, 1);
        }
        read_opts(&rd, 0, &o);
        outs = reader_alloc(&rd, n * sizeof *outs);
        memset(outs, 0, n * sizeof *outs);
        if (vc_hook_run_list(hooks, n, &o, outs, &failed, &err) < 0) {
                vc_l_pusherror(L, &err);
                lua_pushinteger(L, (lua_Integer)failed);
                return 4;
        }
        return push_success(L, outs, n, 1);
}

static const luaL_Reg hook_funcs[] = {
    {"run", lhook_run},
    {"run_all", lhook_run_all},
    {NULL, NULL},
};

void vc_l_open_hook(lua_State *L)
{
        luaL_newlib(L, hook_funcs);
        lua_setfield(L, -2, "hook");
}
