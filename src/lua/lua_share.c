/* vc.share: the virtio-fs share's host-side operations (vc/share.h). Each call opens the host-owned share
 * directory itself; the relative path below it is the only part a guest could have touched. */
#include <errno.h>
#include <stdint.h>

#include "util.h"
#include "vc/share.h"
#include "vc_lua.h"

/* Open the share directory at index 1; returns the fd or pushes nil, msg, code and returns -1. */
static int lshare_open(lua_State *L, const char *dir, int *nret)
{
        vc_error_t err = NULL;
        int fd = -1;
        if (vc_share_open(dir, &fd, &err) < 0) {
                *nret = vc_l_pusherror(L, &err);
                return -1;
        }
        return fd;
}

static int lshare_result(lua_State *L, int r, vc_error_t *err)
{
        if (r < 0)
                return vc_l_pusherror(L, err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.share.setup(host_dir, guest_dir) -> true | nil, msg, code */
static int lshare_setup(lua_State *L)
{
        const char *host = luaL_checkstring(L, 1), *guest = luaL_checkstring(L, 2);
        vc_error_t err = NULL;
        return lshare_result(L, vc_share_setup(host, guest, &err), &err);
}

/* vc.share.teardown(host_dir, guest_dir) -> true | nil, msg, code */
static int lshare_teardown(lua_State *L)
{
        const char *host = luaL_checkstring(L, 1), *guest = luaL_checkstring(L, 2);
        vc_error_t err = NULL;
        return lshare_result(L, vc_share_teardown(host, guest, &err), &err);
}

/* vc.share.mkdir(host_dir, rel [, mode]) -> true | nil, msg, code */
static int lshare_mkdir(lua_State *L)
{
        const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
        mode_t mode = (mode_t)luaL_optinteger(L, 3, 0755);
        vc_error_t err = NULL;
        int n = 0;
        _cleanup_close_ int fd = lshare_open(L, dir, &n);
        if (fd < 0)
                return n;
        return lshare_result(L, vc_share_mkdir(fd, rel, mode, &err), &err);
}

/* vc.share.mkfile(host_dir, rel [, mode]) -> true | nil, msg, code */
static int lshare_mkfile(lua_State *L)
{
        const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
        mode_t mode = (mode_t)luaL_optinteger(L, 3, 0644);
        vc_error_t err = NULL;
        int n = 0;
        _cleanup_close_ int fd = lshare_open(L, dir, &n);
        if (fd < 0)
                return n;
        return lshare_result(L, vc_share_mkfile(fd, rel, mode, &err), &err);
}

/* vc.share.bind(source, host_dir, rel [, {readonly=bool, recursive=bool}]) -> mount id | nil, msg, code */
static int lshare_bind(lua_State *L)
{
        const char *src = luaL_checkstring(L, 1), *dir = luaL_checkstring(L, 2),
                   *rel = luaL_checkstring(L, 3);
        unsigned flags = VC_SHARE_RECURSIVE;
        vc_error_t err = NULL;
        uint64_t id = 0;
        int n = 0;
        if (!lua_isnoneornil(L, 4)) {
                luaL_checktype(L, 4, LUA_TTABLE);
                if (vc_l_optfield_boolean(L, 4, "readonly", 0))
                        flags |= VC_SHARE_RDONLY;
                if (!vc_l_optfield_boolean(L, 4, "recursive", 1))
                        flags &= ~VC_SHARE_RECURSIVE;
        }
        _cleanup_close_ int fd = lshare_open(L, dir, &n);
        if (fd < 0)
                return n;
        if (vc_share_bind(src, fd, rel, flags, &id, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushinteger(L, (lua_Integer)id);
        return 1;
}

/* vc.share.umount(host_dir, rel, mount_id) -> true | nil, msg, code ("EINVAL": not mounted, "ESTALE":
 * another mount is there, "ENOENT": rel is gone) */
static int lshare_umount(lua_State *L)
{
        const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
        lua_Integer id = luaL_checkinteger(L, 3);
        vc_error_t err = NULL;
        int n = 0;
        _cleanup_close_ int fd = lshare_open(L, dir, &n);
        if (fd < 0)
                return n;
        return lshare_result(L, vc_share_umount(fd, rel, (uint64_t)id, &err), &err);
}

/* vc.share.remove(host_dir, rel) -> true | nil, msg, code; a missing one is fine */
static int lshare_remove(lua_State *L)
{
        const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
        vc_error_t err = NULL;
        _cleanup_close_ int fd = -1;
        int r = vc_share_open(dir, &fd, &err);
        if (r == -ENOENT) { /* no share left: nothing to remove */
                vc_error_release(&err);
                lua_pushboolean(L, 1);
                return 1;
        }
        if (r < 0)
                return vc_l_pusherror(L, &err);
        return lshare_result(L, vc_share_remove(fd, rel, &err), &err);
}

static const luaL_Reg share_funcs[] = {
    {"setup", lshare_setup},   {"teardown", lshare_teardown},
    {"mkdir", lshare_mkdir},   {"mkfile", lshare_mkfile},
    {"bind", lshare_bind},     {"umount", lshare_umount},
    {"remove", lshare_remove}, {NULL, NULL},
};

void vc_l_open_share(lua_State *L)
{
        luaL_newlib(L, share_funcs);
        lua_setfield(L, -2, "share");
}
