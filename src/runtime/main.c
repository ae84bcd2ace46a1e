/* kata-runtime: parse the command line, open the log, then hand the command to Lua (kata.main), which
 * loads the configuration and the policy and runs the command's function. A Lua error becomes exit 1 with
 * one line on stderr and the traceback in the log (lua.c's docall/msghandler pattern). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "util.h"
#include "vc/cli.h"
#include "vc/log.h"
#include "vc_lua.h"

/* The interpreter's memory cap: a runaway policy fails with "not enough memory" instead of eating the
 * host (HAProxy's tune.lua.maxmem). One command never needs more than a few MiB. Policy code gets the cap
 * less the reserve, so that the rollback after a policy ran out of memory still has room. */
#define LUA_MAXMEM (256u * 1024u * 1024u)
#define LUA_RESERVE (16u * 1024u * 1024u)

/* Message handler: keep error tables (expected failures the policy raised with a message) as they are;
 * add a traceback to anything else. */
/* create and run catch SIGTERM and SIGINT (what an engine sends a runtime that takes too long): the
 * handler arms a hook that raises in the Lua code at its next instruction, the policy's runner rolls back
 * what the command made, and the command fails. Once: a second signal does not cut the rollback short.
 * lua.c handles ^C the same way (laction/lstop). */
static lua_State *interrupt_L;
static volatile sig_atomic_t interrupted;

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
        (void)ar;
        lua_sethook(L, NULL, 0, 0);
        /* an error table: a message for the user, not a script error with a position and a traceback */
        lua_createtable(L, 0, 1);
        lua_pushfstring(L, "interrupted by %s: what the command made is undone",
                        interrupted == SIGINT ? "SIGINT" : "SIGTERM");
        lua_setfield(L, -2, "msg");
        lua_error(L);
}

static void on_interrupt(int sig)
{
        if (interrupted)
                return;
        interrupted = sig;
        lua_sethook(interrupt_L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void catch_interrupts(lua_State *L)
{
        struct sigaction sa = {.sa_handler = on_interrupt};
        interrupt_L = L;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGINT, &sa, NULL);
}

static int msghandler(lua_State *L)
{
        if (lua_type(L, 1) == LUA_TTABLE)
                return 1;
        const char *msg = lua_tostring(L, 1);
        if (msg == NULL) {
                if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
                        return 1;
                msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        }
        luaL_traceback(L, L, msg, 1);
        return 1;
}

/* The runtime's Lua files, found from the binary's own place and nowhere else: <prefix>/share/kata-runtime
 * for <prefix>/bin/kata-runtime, and the same layout inside a build directory (build/share/kata-runtime,
 * whose lua, luac and guest are links into the build). lua gets <dir>/lua, luac <dir>/luac. */
static int find_lua_dirs(char *lua, char *luac, size_t len)
{
        static const char *const probe[] = {"../share/kata-runtime/lua/kata/main.lua",
                                            "share/kata-runtime/lua/kata/main.lua", NULL};
        char *main_lua = NULL;

        if (vc_self_relative(probe, R_OK, &main_lua) < 0)
                return -ENOENT;
        /* <dir>/lua/kata/main.lua -> <dir>/lua and <dir>/luac */
        *strrchr(main_lua, '/') = '\0';
        *strrchr(main_lua, '/') = '\0';
        snprintf(lua, len, "%s", main_lua);
        *strrchr(main_lua, '/') = '\0';
        snprintf(luac, len, "%s/luac", main_lua);
        free(main_lua);
        return 0;
}

struct chunk_reader {
        FILE *f;
        char buf[8192];
};

static const char *read_chunk(lua_State *L, void *data, size_t *size)
{
        struct chunk_reader *r = data;
        (void)L;
        *size = fread(r->buf, 1, sizeof r->buf, r->f);
        return *size > 0 ? r->buf : NULL;
}

/* package.searchers entry for the runtime's own modules (kata.*): the precompiled chunk when it is at
 * least as new as its source, so an edited source is never shadowed by a stale chunk. The chunk file is
 * opened once, in binary mode (luaL_loadfilex opens a binary chunk twice). */
static int search_precompiled(lua_State *L)
{
        const char *name = luaL_checkstring(L, 1);
        const char *lua_dir = lua_tostring(L, lua_upvalueindex(1)),
                   *luac_dir = lua_tostring(L, lua_upvalueindex(2));
        char rel[256], src[PATH_MAX], bc[PATH_MAX];
        struct stat ss, bs;

        if (strncmp(name, "kata.", 5) != 0 || strlen(name) >= sizeof rel) {
                lua_pushliteral(L, "\n\tnot a runtime module");
                return 1;
        }
        snprintf(rel, sizeof rel, "%s", name);
        for (char *p = rel; *p; p++)
                if (*p == '.')
                        *p = '/';
        snprintf(src, sizeof src, "%s/%s.lua", lua_dir, rel);
        snprintf(bc, sizeof bc, "%s/%s.luac", luac_dir, rel);
        /* everything that may raise comes before the file is open */
        struct chunk_reader *r = lua_newuserdatauv(L, sizeof *r, 0);
        const char *chunkname = lua_pushfstring(L, "@%s", bc);
        lua_pushfstring(L, "\n\tno fresh precompiled '%s'", bc);
        _cleanup_fclose_ FILE *f = fopen(bc, "rbe");
        if (f == NULL || fstat(fileno(f), &bs) < 0 ||
            (stat(src, &ss) == 0 &&
             (ss.st_mtim.tv_sec > bs.st_mtim.tv_sec ||
              (ss.st_mtim.tv_sec == bs.st_mtim.tv_sec && ss.st_mtim.tv_nsec > bs.st_mtim.tv_nsec))))
                return 1;
        lua_pop(L, 1);
        r->f = f;
        int status = lua_load(L, read_chunk, r, chunkname, "b"); /* protected: reports, never raises */
        if (status == LUA_OK && ferror(f))
                status = LUA_ERRFILE;
        (void)fclose(TAKE_PTR(f)); /* before anything that may raise */
        if (status != LUA_OK) {
                lua_pushfstring(L, "\n\tprecompiled '%s' unusable: %s", bc,
                                status == LUA_ERRFILE ? "read error" : lua_tostring(L, -1));
                return 1;
        }
        lua_pushstring(L, bc);
        return 2;
}

static int preload_vc(lua_State *L)
{
        return vc_l_open(L);
}

/* Runs in protected mode: set up package paths, require kata.main and call run(ctx, argv). */
static int pmain(lua_State *L)
{
        json_object *ctx = lua_touserdata(L, 1);
        const char *lua_dir = lua_tostring(L, 2), *luac_dir = lua_tostring(L, 3);

        luaL_openlibs(L);
        luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
        lua_pushcfunction(L, preload_vc);
        lua_setfield(L, -2, "vc");
        lua_pop(L, 1);

        lua_getglobal(L, "package");
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_dir, lua_dir);
        lua_setfield(L, -2, "path");
        lua_pushliteral(L, ""); /* no C modules from disk: vc is preloaded */
        lua_setfield(L, -2, "cpath");
        lua_getfield(L, -1, "searchers"); /* [package, searchers]: ours goes before the source searcher */
        for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
                lua_rawgeti(L, -1, i);
                lua_rawseti(L, -2, i + 1);
        }
        lua_pushstring(L, lua_dir);
        lua_pushstring(L, luac_dir);
        lua_pushcclosure(L, search_precompiled, 2);
        lua_rawseti(L, -2, 2);
        lua_pop(L, 2);

        lua_pushcfunction(L, msghandler);
        lua_getglobal(L, "require");
        lua_pushliteral(L, "kata.main");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "run");
        vc_l_pushjson(L, ctx);
        lua_pushstring(L, lua_dir);
        lua_pushstring(L, luac_dir);
        if (lua_pcall(L, 3, 1, -6) != LUA_OK)
                return lua_error(L);
        return 1;
}

static void report_error(lua_State *L)
{
        const char *msg = NULL, *trace = NULL;
        if (lua_type(L, -1) == LUA_TTABLE) {
                lua_getfield(L, -1, "msg");
                msg = lua_tostring(L, -1);
                lua_pop(L, 1);
        } else {
                trace = lua_tostring(L, -1);
        }
        if (trace) {
                /* the first line is the message; the traceback goes to the log only */
                vc_log(VC_LOG_ERROR, 0, "%s", trace);
                size_t n = strcspn(trace, "\n");
                fprintf(stderr, "kata-runtime: %.*s\n", (int)n, trace);
        } else {
                msg = msg ? msg : "unknown error";
                vc_log(VC_LOG_ERROR, 0, "%s", msg);
                fprintf(stderr, "%s\n", msg);
        }
}

int main(int argc, char **argv)
{
        json_object *ctx = NULL, *global, *v;
        vc_error_t err = NULL;
        enum vc_log_format fmt = VC_LOG_TEXT;
        char lua_dir[PATH_MAX], luac_dir[PATH_MAX];
        int status = 1;

        if (vc_cli_parse(argc, argv, &ctx, &err) < 0) {
                fprintf(stderr, "%s\n", err->msg);
                vc_error_release(&err);
                return 1;
        }
        json_object_object_get_ex(ctx, "global", &global);
        if (json_object_object_get_ex(global, "log_format", &v))
                (void)vc_log_format_from_string(json_object_get_string(v), &fmt);
        const char *log_path =
            json_object_object_get_ex(global, "log", &v) ? json_object_get_string(v) : NULL;
        enum vc_log_level level = json_object_object_get_ex(global, "debug", NULL) ? VC_LOG_DEBUG
                                  : log_path                                       ? VC_LOG_INFO
                                                                                   : VC_LOG_WARNING;
        if (vc_log_init(log_path, fmt, level, &err) < 0) {
                fprintf(stderr, "kata-runtime: %s\n", err->msg);
                vc_error_release(&err);
                json_object_put(ctx);
                return 1;
        }

        if (find_lua_dirs(lua_dir, luac_dir, sizeof lua_dir) < 0) {
                fprintf(stderr, "kata-runtime: the runtime's Lua files are missing: no "
                                "../share/kata-runtime/lua/kata/main.lua beside this program\n");
                json_object_put(ctx);
                return 1;
        }
        vc_l_limits.max = LUA_MAXMEM;
        vc_l_limits.reserve = LUA_RESERVE;
        lua_State *L = lua_newstate(vc_l_alloc, &vc_l_limits);
        if (L == NULL) {
                fprintf(stderr, "kata-runtime: cannot create the Lua interpreter\n");
                json_object_put(ctx);
                return 1;
        }
        /* A command lives for milliseconds: the collector waits until the heap has grown to 4 times what
         * it kept (Lua's default: 2), which spares most of its work and costs memory the cap bounds. */
        lua_gc(L, LUA_GCINC, 400, 0, 0);
        if (json_object_object_get_ex(ctx, "command", &v) &&
            (STREQ(json_object_get_string(v), "create") || STREQ(json_object_get_string(v), "run")))
                catch_interrupts(L);
        lua_pushcfunction(L, msghandler);
        lua_pushcfunction(L, pmain);
        lua_pushlightuserdata(L, ctx);
        lua_pushstring(L, lua_dir);
        lua_pushstring(L, luac_dir);
        if (lua_pcall(L, 3, 1, 1) != LUA_OK) {
                report_error(L);
                status = 1;
        } else if (lua_isinteger(L, -1)) {
                status = (int)lua_tointeger(L, -1);
        } else {
                status = lua_toboolean(L, -1) ? 0 : 1;
        }
        fflush(stdout);
        lua_close(L);
        json_object_put(ctx);
        vc_log_close();
        return status;
}
