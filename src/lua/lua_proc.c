/* vc.proc: host process identity (pid + start time), for container liveness. */
#include "vc_lua.h"
#include "vc/proc.h"

static pid_t lproc_checkpid(lua_State *L, int i) /* may raise */
{
        lua_Integer pid = luaL_checkinteger(L, i);
        luaL_argcheck(L, pid > 0 && pid <= INT32_MAX, i, "pid must be a positive integer");
        return (pid_t)pid;
}

static int lproc_start_time(lua_State *L) /* vc.proc.start_time(pid) -> ticks | nil, msg, code */
{
        pid_t pid = lproc_checkpid(L, 1);
        vc_error_t err = NULL;
        uint64_t ticks;

        if (vc_proc_start_time(pid, &ticks, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, (lua_Integer)ticks);
        return 1;
}

static int lproc_alive(lua_State *L) /* vc.proc.alive(pid, start_time) -> bool */
{
        pid_t pid = lproc_checkpid(L, 1);
        lua_Integer start = luaL_checkinteger(L, 2);

        lua_pushboolean(L, start >= 0 && vc_proc_alive(pid, (uint64_t)start));
        return 1;
}

static const luaL_Reg proc_funcs[] = {
        { "start_time", lproc_start_time },
        { "alive", lproc_alive },
        { NULL, NULL },
};

void vc_l_open_proc(lua_State *L)
{
        luaL_newlib(L, proc_funcs);
        lua_setfield(L, -2, "proc");
}
