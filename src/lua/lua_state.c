/* vc.state (the state store), vc.lock (sandbox locks), vc.fs (atomic files, directories, mounts),
 * vc.proc (process identity). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vc/mount.h"
#include "vc/proc.h"
#include "vc/state.h"
#include "vc_lua.h"

#define VC_LOCK_MT "vc.Lock"

typedef struct {
        vc_lock_t *lock; /* NULL: released */
        char *name;
} llock_ud;

/* vc.state.save(root, id, state) -> true | nil, msg, code */
static int lstate_save(lua_State *L)
{
        const char *root = luaL_checkstring(L, 1), *id = luaL_checkstring(L, 2), *why = NULL;
        luaL_checktype(L, 3, LUA_TTABLE);
        vc_error_t err = NULL;
        json_object *o = vc_l_tojson(L, 3, &why);
        if (why) {
                json_object_put(o);
                return luaL_argerror(L, 3, why);
        }
        int r = vc_state_save(root, id, o, &err);
        json_object_put(o);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.state.load(root, id) -> state | nil, "container does not exist", "ENOENT" */
static int lstate_load(lua_State *L)
{
        const char *root = luaL_checkstring(L, 1), *id = luaL_checkstring(L, 2);
        vc_error_t err = NULL;
        json_object *o = NULL;
        if (vc_state_load(root, id, &o, &err) < 0)
                return vc_l_pusherror(L, &err);
        vc_l_pushjson(L, o);
        json_object_put(o);
        return 1;
}

static int lstate_remove(lua_State *L) /* vc.state.remove(root, id) -> true | nil, msg, code */
{
        const char *root = luaL_checkstring(L, 1), *id = luaL_checkstring(L, 2);
        vc_error_t err = NULL;
        if (vc_state_remove(root, id, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

static int lstate_list(lua_State *L) /* vc.state.list(root) -> { id, ... } | nil, msg, code */
{
        const char *root = luaL_checkstring(L, 1);
        vc_error_t err = NULL;
        char **ids = NULL;
        if (vc_state_list(root, &ids, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_newtable(L);
        for (int i = 0; ids[i]; i++) {
                lua_pushstring(L, ids[i]);
                lua_rawseti(L, -2, i + 1);
        }
        vc_strv_free(ids);
        return 1;
}

/* vc.lock.acquire(root, name [, timeout_ms]) -> vc.Lock | nil, msg, code; timeout -1 waits forever */
static int llock_acquire(lua_State *L)
{
        const char *root = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
        int timeout = vc_l_deadline_clamp_ms((int)luaL_optinteger(L, 3, -1));
        vc_error_t err = NULL;
        llock_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
        u->lock = NULL;
        u->name = NULL;
        luaL_setmetatable(L, VC_LOCK_MT);
        if (vc_lock_acquire(root, name, timeout, &u->lock, &err) < 0)
                return vc_l_pusherror(L, &err);
        u->name = strdup(name);
        return 1;
}

static int llock_m_release(lua_State *L) /* lock:release([remove]) -> true; idempotent */
{
        llock_ud *u = luaL_checkudata(L, 1, VC_LOCK_MT);
        u->lock = vc_lock_release(u->lock, lua_toboolean(L, 2));
        lua_pushboolean(L, 1);
        return 1;
}

static int llock__gc(lua_State *L)
{
        llock_ud *u = luaL_checkudata(L, 1, VC_LOCK_MT);
        u->lock = vc_lock_release(u->lock, 0);
        free(u->name);
        u->name = NULL;
        return 0;
}

static int llock__close(lua_State *L)
{
        llock_ud *u = luaL_checkudata(L, 1, VC_LOCK_MT);
        u->lock = vc_lock_release(u->lock, 0);
        return 0;
}

static int llock__tostring(lua_State *L)
{
        llock_ud *u = luaL_checkudata(L, 1, VC_LOCK_MT);
        if (u->lock == NULL)
                lua_pushliteral(L, "vc.Lock (released)");
        else
                lua_pushfstring(L, "vc.Lock (%s)", u->name ? u->name : "?");
        return 1;
}

/* vc.fs.atomic_write(path, data [, mode]) -> true | nil, msg, code */
static int lfs_atomic_write(lua_State *L)
{
        size_t len;
        const char *path = luaL_checkstring(L, 1), *data = luaL_checklstring(L, 2, &len);
        mode_t mode = (mode_t)luaL_optinteger(L, 3, 0644);
        vc_error_t err = NULL;
        if (vc_atomic_write(path, data, len, mode, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

static int lfs_mkdir_p(lua_State *L) /* vc.fs.mkdir_p(path [, mode]) -> true | nil, msg, code */
{
        const char *path = luaL_checkstring(L, 1);
        mode_t mode = (mode_t)luaL_optinteger(L, 2, 0711);
        vc_error_t err = NULL;
        if (vc_mkdir_p(path, mode, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

static int lfs_realpath(lua_State *L) /* vc.fs.realpath(path) -> abs | nil, msg, code */
{
        const char *path = luaL_checkstring(L, 1);
        char buf[PATH_MAX];
        if (realpath(path, buf) == NULL)
                return vc_l_pusherrno(L, -errno, path);
        lua_pushstring(L, buf);
        return 1;
}

/* vc.fs.stat(path) -> { type = "file"|"directory"|"link"|"socket"|"fifo"|"other", size=, mode=, uid=, gid=,
 * dev=, ino=, mtime= } | nil, msg, code (lstat: links are not followed) */
static int lfs_stat(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        struct stat st;
        if (lstat(path, &st) < 0)
                return vc_l_pusherrno(L, -errno, path);
        lua_createtable(L, 0, 8);
        lua_pushstring(L, S_ISREG(st.st_mode)    ? "file"
                          : S_ISDIR(st.st_mode)  ? "directory"
                          : S_ISLNK(st.st_mode)  ? "link"
                          : S_ISSOCK(st.st_mode) ? "socket"
                          : S_ISFIFO(st.st_mode) ? "fifo"
                                                 : "other");
        lua_setfield(L, -2, "type");
        lua_pushinteger(L, (lua_Integer)st.st_size);
        lua_setfield(L, -2, "size");
        lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
        lua_setfield(L, -2, "mode");
        lua_pushinteger(L, (lua_Integer)st.st_uid);
        lua_setfield(L, -2, "uid");
        lua_pushinteger(L, (lua_Integer)st.st_gid);
        lua_setfield(L, -2, "gid");
        lua_pushinteger(L, (lua_Integer)st.st_dev);
        lua_setfield(L, -2, "dev");
        lua_pushinteger(L, (lua_Integer)st.st_ino);
        lua_setfield(L, -2, "ino");
        lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
        lua_setfield(L, -2, "mtime");
        return 1;
}

static int lfs_rmdir(lua_State *L) /* vc.fs.rmdir(path) -> true | nil, msg, code (a missing dir is fine) */
{
        const char *path = luaL_checkstring(L, 1);
        if (rmdir(path) < 0 && errno != ENOENT)
                return vc_l_pusherrno(L, -errno, path);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.fs.list(dir) -> { name, ... } (sorted, without . and ..) | nil, msg, code */
static int lfs_list(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, alphasort);
        if (n < 0)
                return vc_l_pusherrno(L, -errno, path);
        lua_createtable(L, n, 0);
        for (int i = 0, k = 0; i < n; i++) {
                if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
                        lua_pushstring(L, names[i]->d_name);
                        lua_rawseti(L, -2, ++k);
                }
                free(names[i]);
        }
        free(names);
        return 1;
}

static int lfs_unlink(lua_State *L) /* vc.fs.unlink(path) -> true | nil, msg, code (a missing file is fine) */
{
        const char *path = luaL_checkstring(L, 1);
        if (unlink(path) < 0 && errno != ENOENT)
                return vc_l_pusherrno(L, -errno, path);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.fs.bind(source, target [, {readonly=bool, recursive=bool}]) -> true | nil, msg, code; the target
 * must exist */
static int lfs_bind(lua_State *L)
{
        const char *src = luaL_checkstring(L, 1), *dst = luaL_checkstring(L, 2);
        int ro = 0, rec = 1;
        if (!lua_isnoneornil(L, 3)) {
                luaL_checktype(L, 3, LUA_TTABLE);
                ro = vc_l_optfield_boolean(L, 3, "readonly", 0);
                rec = vc_l_optfield_boolean(L, 3, "recursive", 1);
        }
        vc_error_t err = NULL;
        if (vc_mount_bind(src, dst, ro, rec, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.fs.umount(path) -> true | nil, msg, code; lazy (MNT_DETACH); "not mounted" is an error (EINVAL) */
static int lfs_umount(lua_State *L)
{
        vc_error_t err = NULL;
        if (vc_mount_detach(luaL_checkstring(L, 1), &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

static int lproc_start_time(lua_State *L) /* vc.proc.start_time(pid) -> ticks | nil, msg, code */
{
        lua_Integer pid = luaL_checkinteger(L, 1);
        unsigned long long st;
        vc_error_t err = NULL;
        if (vc_proc_start_time((pid_t)pid, &st, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, (lua_Integer)st);
        return 1;
}

static int lproc_alive(lua_State *L) /* vc.proc.alive(pid [, start_time]) -> bool */
{
        lua_Integer pid = luaL_checkinteger(L, 1);
        lua_Integer st = luaL_optinteger(L, 2, 0);
        lua_pushboolean(L, vc_proc_alive((pid_t)pid, (unsigned long long)st));
        return 1;
}

/* vc.proc.wait_gone(pid [, start_time [, timeout_s]]) -> bool: true once pid (started at start_time, 0:
 * any) is gone, false if it still runs after timeout_s (default 0: just look) */
static int lproc_wait_gone(lua_State *L)
{
        lua_Integer pid = luaL_checkinteger(L, 1);
        lua_Integer st = luaL_optinteger(L, 2, 0);
        lua_Number t = luaL_optnumber(L, 3, 0);
        luaL_argcheck(L, t >= 0 && t <= 86400, 3, "timeout must be within 0..86400 seconds");
        lua_pushboolean(L, vc_proc_wait_gone((pid_t)pid, (unsigned long long)st,
                                             vc_l_deadline_clamp_ms((int)(t * 1000))));
        return 1;
}

/* vc.proc.kill(pid, signo) -> true | nil, msg, code (host processes the runtime owns: shims) */
static int lproc_kill(lua_State *L)
{
        lua_Integer pid = luaL_checkinteger(L, 1);
        int sig = (int)luaL_checkinteger(L, 2);
        vc_error_t err = NULL;
        luaL_argcheck(L, pid > 0, 1, "pid must be positive");
        if (vc_proc_kill((pid_t)pid, sig, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.proc.wait(pid) -> exit status (128 + signal for a signal death) | nil, msg, code; pid must be a child */
static int lproc_wait(lua_State *L)
{
        lua_Integer pid = luaL_checkinteger(L, 1);
        int status;
        vc_error_t err = NULL;
        luaL_argcheck(L, pid > 0, 1, "pid must be positive");
        if (vc_proc_wait((pid_t)pid, &status, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, status);
        return 1;
}

/* vc.proc.spawn_detached({path, args...}) -> pid | nil, msg, code: a process of its own that outlives the
 * caller (vc_proc_spawn_detached) */
static int lproc_spawn_detached(lua_State *L)
{
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_Integer n = luaL_len(L, 1);
        luaL_argcheck(L, n >= 1 && n <= 256, 1, "1 to 256 arguments");
        const char **argv = lua_newuserdatauv(L, sizeof *argv * (size_t)(n + 1), 0);
        for (lua_Integer i = 1; i <= n; i++) {
                lua_geti(L, 1, i);
                argv[i - 1] = lua_tostring(L, -1);
                luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 1, "arguments must be strings");
                lua_pop(L, 1); /* still referenced by the table */
        }
        argv[n] = NULL;
        pid_t pid;
        vc_error_t err = NULL;
        if (vc_proc_spawn_detached(argv, &pid, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, pid);
        return 1;
}

static int lproc_getpid(lua_State *L) /* vc.proc.getpid() -> pid */
{
        lua_pushinteger(L, getpid());
        return 1;
}

static const luaL_Reg state_funcs[] = {
    {"save", lstate_save}, {"load", lstate_load}, {"remove", lstate_remove},
    {"list", lstate_list}, {NULL, NULL},
};
static const luaL_Reg lock_funcs[] = {{"acquire", llock_acquire}, {NULL, NULL}};
static const luaL_Reg lock_meth[] = {{"release", llock_m_release}, {NULL, NULL}};
static const luaL_Reg lock_meta[] = {
    {"__gc", llock__gc},
    {"__close", llock__close},
    {"__tostring", llock__tostring},
    {NULL, NULL},
};
static const luaL_Reg fs_funcs[] = {
    {"atomic_write", lfs_atomic_write},
    {"mkdir_p", lfs_mkdir_p},
    {"realpath", lfs_realpath},
    {"stat", lfs_stat},
    {"rmdir", lfs_rmdir},
    {"unlink", lfs_unlink},
    {"list", lfs_list},
    {"bind", lfs_bind},
    {"umount", lfs_umount},
    {NULL, NULL},
};
static const luaL_Reg proc_funcs[] = {
    {"start_time", lproc_start_time},
    {"alive", lproc_alive},
    {"wait_gone", lproc_wait_gone},
    {"kill", lproc_kill},
    {"getpid", lproc_getpid},
    {"wait", lproc_wait},
    {"spawn_detached", lproc_spawn_detached},
    {NULL, NULL},
};

void vc_l_open_state(lua_State *L)
{
        vc_l_newclass(L, VC_LOCK_MT, lock_meth, lock_meta);
        luaL_newlib(L, state_funcs);
        lua_setfield(L, -2, "state");
        luaL_newlib(L, lock_funcs);
        lua_setfield(L, -2, "lock");
        luaL_newlib(L, fs_funcs);
        lua_setfield(L, -2, "fs");
        luaL_newlib(L, proc_funcs);
        lua_setfield(L, -2, "proc");
}
