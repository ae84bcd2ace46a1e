/* vc.net: the sandbox interfaces of a network namespace and their mirroring into taps (include/vc/net.h).
 *
 *   vc.net.interfaces(netns_path)      -> { link, ... } (the vc.netns.links shape) | nil, msg, code
 *   vc.net.mirror(netns_path, name)    -> { link =, tap =, link_qdisc =, mtu = } | nil, msg, code
 *   vc.net.unmirror(netns_path, m)     -> true | nil, msg, code   (m: what mirror returned)
 */
#include <string.h>

#include "util.h"
#include "vc/net.h"
#include "vc_lua.h"

/* The namespace at path, or nil, msg, code pushed (returns NULL). */
static vc_netns_t *open_ns(lua_State *L, const char *path)
{
        vc_netns_t *ns = NULL;
        vc_error_t err = NULL;

        if (vc_netns_open(path, &ns, &err) < 0) {
                vc_l_pusherror(L, &err);
                return NULL;
        }
        return ns;
}

static int lnet_interfaces(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        struct vc_netns_links *l = NULL;
        vc_error_t err = NULL;
        vc_netns_t *ns;
        int r;

        ns = open_ns(L, path);
        if (ns == NULL)
                return 3;
        r = vc_net_interfaces(ns, &l, &err);
        vc_netns_free(ns);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        return vc_l_push_links_free(L, l);
}

static int lnet_mirror(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        const char *name = luaL_checkstring(L, 2);
        struct vc_net_mirror m;
        vc_error_t err = NULL;
        vc_netns_t *ns;
        int r;

        lua_createtable(L, 0, 4); /* before the mirror exists, so that a memory error leaves nothing */
        ns = open_ns(L, path);
        if (ns == NULL)
                return 3;
        r = vc_net_mirror(ns, name, &m, &err);
        vc_netns_free(ns);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushstring(L, m.link);
        lua_setfield(L, -2, "link");
        lua_pushstring(L, m.tap);
        lua_setfield(L, -2, "tap");
        lua_pushboolean(L, m.link_qdisc);
        lua_setfield(L, -2, "link_qdisc");
        lua_pushinteger(L, m.mtu);
        lua_setfield(L, -2, "mtu");
        return 1;
}

static void copy_field(lua_State *L, int t, const char *k, char *dst, size_t size) /* may raise */
{
        const char *s;
        size_t n;

        lua_getfield(L, t, k);
        s = lua_tolstring(L, -1, &n);
        if (s == NULL || n == 0 || n >= size)
                luaL_error(L, "vc.net.unmirror: field '%s' must be an interface name", k);
        memcpy(dst, s, n + 1);
        lua_pop(L, 1);
}

static int lnet_unmirror(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        struct vc_net_mirror m = {0};
        vc_error_t err = NULL;
        vc_netns_t *ns;
        int r;

        luaL_checktype(L, 2, LUA_TTABLE);
        copy_field(L, 2, "link", m.link, sizeof m.link);
        copy_field(L, 2, "tap", m.tap, sizeof m.tap);
        m.link_qdisc = vc_l_optfield_boolean(L, 2, "link_qdisc", 0);
        ns = open_ns(L, path);
        if (ns == NULL)
                return 3;
        r = vc_net_unmirror(ns, &m, &err);
        vc_netns_free(ns);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

static const luaL_Reg net_funcs[] = {
    {"interfaces", lnet_interfaces},
    {"mirror", lnet_mirror},
    {"unmirror", lnet_unmirror},
    {NULL, NULL},
};

void vc_l_open_net(lua_State *L)
{
        luaL_newlib(L, net_funcs);
        lua_setfield(L, -2, "net");
}
