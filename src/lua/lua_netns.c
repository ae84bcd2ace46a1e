/* vc.netns: network namespaces for the policy. A vc.Netns userdata holds an open namespace; every function
 * that takes one also takes a path, opened for the duration of the call.
 *
 * ---@class vc.Netns
 * ---@field path fun(self: vc.Netns): string       the path it was created or opened by
 * ---@field fd fun(self: vc.Netns): integer        its file descriptor (for passing to another primitive)
 * ---@field close fun(self: vc.Netns)              idempotent; also __close and __gc
 * ---@field is_host fun(self: vc.Netns): boolean|nil, string?, string?
 * ---@field enter fun(self: vc.Netns, fn: function, ...): ...
 * ---@field delete fun(self: vc.Netns): true|nil, string?, string?   deletes and closes
 *
 * ---@class vc.NetnsLink
 * ---@field index integer
 * ---@field name string
 * ---@field kind string?        "veth", "bridge", ... (nil when the kernel gives none)
 * ---@field mac string?         "aa:bb:cc:dd:ee:ff"
 * ---@field mtu integer
 * ---@field up boolean
 * ---@field flags string[]      "UP", "LOOPBACK", "RUNNING", "LOWER_UP", ...
 * ---@field addresses {family: "inet"|"inet6", address: string, prefixlen: integer}[]
 * ---@field routes vc.NetnsRoute[]  main-table unicast routes out of this link
 *
 * ---@class vc.NetnsRoute
 * ---@field family "inet"|"inet6"
 * ---@field destination string   "0.0.0.0" or "::" with prefixlen 0 for the default route
 * ---@field prefixlen integer
 * ---@field gateway string?
 * ---@field device string
 */
#include <net/if.h>
#include <sys/socket.h>

#include "util.h"
#include "vc/netns.h"
#include "vc_lua.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#ifndef IFF_DORMANT
#define IFF_DORMANT 0x20000
#endif
#ifndef IFF_ECHO
#define IFF_ECHO 0x40000
#endif

typedef struct {
        vc_netns_t *ns; /* NULL means closed */
} lnetns_ud;

/* may raise */
static lnetns_ud *lnetns_newud(lua_State *L)
{
        lnetns_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
        u->ns = NULL;
        luaL_setmetatable(L, VC_NETNS_MT);
        return u;
}

vc_netns_t *vc_l_testnetns(lua_State *L, int i)
{
        lnetns_ud *u = luaL_testudata(L, i, VC_NETNS_MT);
        if (u == NULL)
                return NULL;
        if (u->ns == NULL)
                luaL_error(L, "attempt to use a closed vc.Netns");
        return u->ns;
}

/* The namespace argument at i: a vc.Netns, or a path that is opened into a new (temporary) vc.Netns pushed
 * on the stack, which the caller closes or the GC does. Returns NULL after pushing nil, msg, code when the
 * path cannot be opened (the caller returns 3). may raise */
static vc_netns_t *ns_arg(lua_State *L, int i)
{
        vc_netns_t *ns = vc_l_testnetns(L, i);
        vc_error_t err = NULL;
        lnetns_ud *u;

        if (ns)
                return ns;
        if (lua_type(L, i) != LUA_TSTRING)
                luaL_typeerror(L, i, "vc.Netns or path");
        u = lnetns_newud(L);
        if (vc_netns_open(lua_tostring(L, i), &u->ns, &err) < 0) {
                vc_l_pusherror(L, &err);
                return NULL;
        }
        return u->ns;
}

/* Close the temporary handle ns_arg may have pushed at index tmp (a no-op for a caller's vc.Netns). */
static void ns_arg_done(lua_State *L, int tmp)
{
        lnetns_ud *u = luaL_testudata(L, tmp, VC_NETNS_MT);
        if (u && lua_type(L, 1) == LUA_TSTRING)
                u->ns = vc_netns_free(u->ns);
}

/* vc.netns.create(dir, name) -> vc.Netns | nil, msg, code */
static int lnetns_create(lua_State *L)
{
        const char *dir = luaL_checkstring(L, 1);
        const char *name = luaL_checkstring(L, 2);
        vc_error_t err = NULL;
        lnetns_ud *u = lnetns_newud(L);

        if (vc_netns_create(dir, name, &u->ns, &err) < 0)
                return vc_l_pusherror(L, &err);
        return 1;
}

/* vc.netns.open(path) -> vc.Netns | nil, msg, code */
static int lnetns_open(lua_State *L)
{
        const char *path = luaL_checkstring(L, 1);
        vc_error_t err = NULL;
        lnetns_ud *u = lnetns_newud(L);

        if (vc_netns_open(path, &u->ns, &err) < 0)
                return vc_l_pusherror(L, &err);
        return 1;
}

/* vc.netns.delete(path | ns) -> true | nil, msg, code; a vc.Netns is closed as well */
static int lnetns_delete(lua_State *L)
{
        vc_error_t err = NULL;
        lnetns_ud *u = luaL_testudata(L, 1, VC_NETNS_MT);
        const char *path;

        if (u) {
                vc_l_testnetns(L, 1); /* raises when closed */
                path = vc_netns_path(u->ns);
        } else {
                path = luaL_checkstring(L, 1);
        }
        if (vc_netns_delete(path, &err) < 0)
                return vc_l_pusherror(L, &err);
        if (u)
                u->ns = vc_netns_free(u->ns);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.netns.remove_dir(dir) -> true | nil, msg, code */
static int lnetns_remove_dir(lua_State *L)
{
        const char *dir = luaL_checkstring(L, 1);
        vc_error_t err = NULL;

        if (vc_netns_dir_remove(dir, &err) < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, 1);
        return 1;
}

/* vc.netns.is_host(path | ns) -> boolean | nil, msg, code */
static int lnetns_is_host(lua_State *L)
{
        vc_error_t err = NULL;
        vc_netns_t *ns;
        int r;

        luaL_checkany(L, 1);
        lua_settop(L, 1);
        ns = ns_arg(L, 1);
        if (ns == NULL)
                return 3;
        r = vc_netns_is_host(ns, &err);
        ns_arg_done(L, 2);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        lua_pushboolean(L, r);
        return 1;
}

static const struct {
        unsigned flag;
        const char *name;
} iff_names[] = {
    {IFF_UP, "UP"},
    {IFF_BROADCAST, "BROADCAST"},
    {IFF_DEBUG, "DEBUG"},
    {IFF_LOOPBACK, "LOOPBACK"},
    {IFF_POINTOPOINT, "POINTOPOINT"},
    {IFF_NOTRAILERS, "NOTRAILERS"},
    {IFF_RUNNING, "RUNNING"},
    {IFF_NOARP, "NOARP"},
    {IFF_PROMISC, "PROMISC"},
    {IFF_ALLMULTI, "ALLMULTI"},
    {IFF_MASTER, "MASTER"},
    {IFF_SLAVE, "SLAVE"},
    {IFF_MULTICAST, "MULTICAST"},
    {IFF_PORTSEL, "PORTSEL"},
    {IFF_AUTOMEDIA, "AUTOMEDIA"},
    {IFF_DYNAMIC, "DYNAMIC"},
    {IFF_LOWER_UP, "LOWER_UP"},
    {IFF_DORMANT, "DORMANT"},
    {IFF_ECHO, "ECHO"},
};

static const char *family_name(int family)
{
        return family == AF_INET ? "inet" : "inet6";
}

static void setfield_str(lua_State *L, const char *k, const char *v)
{
        if (v[0] == '\0')
                return; /* an empty value is absent */
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
}

static void setfield_int(lua_State *L, const char *k, lua_Integer v)
{
        lua_pushinteger(L, v);
        lua_setfield(L, -2, k);
}

/* lua_CFunction: the table for the struct vc_netns_links * given as light userdata (argument 1) */
static int push_links(lua_State *L)
{
        const struct vc_netns_links *l = lua_touserdata(L, 1);

        lua_createtable(L, (int)l->n_links, 0); /* [links] */
        for (size_t i = 0; i < l->n_links; i++) {
                const struct vc_netns_link *k = &l->links[i];
                int n = 0;
                lua_createtable(L, 0, 9); /* [links, link] */
                setfield_int(L, "index", k->index);
                setfield_str(L, "name", k->name);
                setfield_str(L, "kind", k->kind);
                setfield_str(L, "mac", k->mac);
                setfield_int(L, "mtu", k->mtu);
                lua_pushboolean(L, k->up);
                lua_setfield(L, -2, "up");
                lua_newtable(L); /* [links, link, flags] */
                for (size_t f = 0; f < ELEMENTSOF(iff_names); f++)
                        if (k->flags & iff_names[f].flag) {
                                lua_pushstring(L, iff_names[f].name);
                                lua_rawseti(L, -2, ++n);
                        }
                lua_setfield(L, -2, "flags");
                lua_createtable(L, (int)k->n_addrs, 0); /* [links, link, addrs] */
                for (size_t j = 0; j < k->n_addrs; j++) {
                        lua_createtable(L, 0, 3);
                        lua_pushstring(L, family_name(k->addrs[j].family));
                        lua_setfield(L, -2, "family");
                        setfield_str(L, "address", k->addrs[j].address);
                        setfield_int(L, "prefixlen", k->addrs[j].prefixlen);
                        lua_rawseti(L, -2, (lua_Integer)j + 1);
                }
                lua_setfield(L, -2, "addresses");
                lua_createtable(L, (int)k->n_routes, 0); /* [links, link, routes] */
                for (size_t j = 0; j < k->n_routes; j++) {
                        const struct vc_netns_route *r = &k->routes[j];
                        lua_createtable(L, 0, 5);
                        lua_pushstring(L, family_name(r->family));
                        lua_setfield(L, -2, "family");
                        setfield_str(L, "destination", r->destination);
                        setfield_int(L, "prefixlen", r->prefixlen);
                        setfield_str(L, "gateway", r->gateway);
                        setfield_str(L, "device", r->device);
                        lua_rawseti(L, -2, (lua_Integer)j + 1);
                }
                lua_setfield(L, -2, "routes");
                lua_rawseti(L, -2, (lua_Integer)i + 1); /* [links] */
        }
        return 1;
}

int vc_l_push_links_free(lua_State *L, struct vc_netns_links *l)
{
        int r;

        lua_pushcfunction(L, push_links);
        lua_pushlightuserdata(L, l);
        r = lua_pcall(L, 1, 1, 0);
        vc_netns_links_free(l);
        if (r != LUA_OK)
                return lua_error(L);
        return 1;
}

/* vctest.netns.links(path | ns) -> vc.NetnsLink[] | nil, msg, code: for specs only, in the test module */
int vc_l_netns_links(lua_State *L)
{
        struct vc_netns_links *l = NULL;
        vc_error_t err = NULL;
        vc_netns_t *ns;
        int r;

        luaL_checkany(L, 1);
        lua_settop(L, 1);
        ns = ns_arg(L, 1);
        if (ns == NULL)
                return 3;
        r = vc_netns_links(ns, &l, &err);
        ns_arg_done(L, 2);
        if (r < 0)
                return vc_l_pusherror(L, &err);
        return vc_l_push_links_free(L, l);
}

struct enter_ctx {
        lua_State *L;
        int nargs;
        int status;
        bool ran;
};

static int enter_cb(void *data)
{
        struct enter_ctx *c = data;
        c->ran = true;
        c->status = lua_pcall(c->L, c->nargs, LUA_MULTRET, 0);
        return 0;
}

/* vc.netns.enter(path | ns, fn, ...) -> fn's results | nil, msg, code when the namespace cannot be entered.
 * fn runs with this thread inside the namespace; the thread comes back also when fn raises, and the error
 * is raised again once it is back. */
static int lnetns_enter(lua_State *L)
{
        struct enter_ctx c = {.L = L};
        vc_error_t err = NULL;
        int top = lua_gettop(L), base, r;
        vc_netns_t *ns;

        luaL_checkany(L, 1);
        luaL_checktype(L, 2, LUA_TFUNCTION);
        ns = ns_arg(L, 1); /* may push a temporary handle at top + 1 */
        if (ns == NULL)
                return 3;
        base = lua_gettop(L);
        luaL_checkstack(L, top, "too many arguments");
        for (int i = 2; i <= top; i++)
                lua_pushvalue(L, i);
        c.nargs = top - 2;
        r = vc_netns_enter(ns, enter_cb, &c, &err);
        if (base > top)
                ns_arg_done(L, top + 1);
        if (r < 0 && c.ran) { /* could not come back: this thread is in the wrong namespace */
                lua_pushstring(L, err && err->msg ? err->msg : "cannot leave network namespace");
                vc_error_release(&err);
                return lua_error(L);
        }
        if (r < 0)
                return vc_l_pusherror(L, &err);
        if (c.status != LUA_OK)
                return lua_error(L); /* fn's error object, unchanged */
        return lua_gettop(L) - base;
}

static int lnetns_m_path(lua_State *L)
{
        luaL_checkudata(L, 1, VC_NETNS_MT);
        lua_pushstring(L, vc_netns_path(vc_l_testnetns(L, 1)));
        return 1;
}

static int lnetns_m_fd(lua_State *L)
{
        luaL_checkudata(L, 1, VC_NETNS_MT);
        lua_pushinteger(L, vc_netns_fd(vc_l_testnetns(L, 1)));
        return 1;
}

static int lnetns__close(lua_State *L) /* __gc, __close and :close(); idempotent */
{
        lnetns_ud *u = luaL_checkudata(L, 1, VC_NETNS_MT);
        u->ns = vc_netns_free(u->ns);
        return 0;
}

static int lnetns__tostring(lua_State *L)
{
        lnetns_ud *u = luaL_checkudata(L, 1, VC_NETNS_MT);
        if (u->ns == NULL)
                lua_pushliteral(L, "vc.Netns (closed)");
        else
                lua_pushfstring(L, "vc.Netns (%s)", vc_netns_path(u->ns));
        return 1;
}

/* Methods check their receiver, then share the module functions. */
static int lnetns_m_is_host(lua_State *L)
{
        luaL_checkudata(L, 1, VC_NETNS_MT);
        return lnetns_is_host(L);
}

static int lnetns_m_enter(lua_State *L)
{
        luaL_checkudata(L, 1, VC_NETNS_MT);
        return lnetns_enter(L);
}

static int lnetns_m_delete(lua_State *L)
{
        luaL_checkudata(L, 1, VC_NETNS_MT);
        return lnetns_delete(L);
}

static const luaL_Reg netns_meth[] = {
    {"path", lnetns_m_path},
    {"fd", lnetns_m_fd},
    {"close", lnetns__close},
    {"is_host", lnetns_m_is_host},
    {"enter", lnetns_m_enter},
    {"delete", lnetns_m_delete},
    {NULL, NULL},
};

static const luaL_Reg netns_metameth[] = {
    {"__index", NULL}, /* placeholder: the methods */
    {"__gc", lnetns__close}, {"__close", lnetns__close}, {"__tostring", lnetns__tostring}, {NULL, NULL},
};

static const luaL_Reg netns_funcs[] = {
    {"create", lnetns_create},
    {"open", lnetns_open},
    {"delete", lnetns_delete},
    {"is_host", lnetns_is_host},
    {"enter", lnetns_enter},
    {"remove_dir", lnetns_remove_dir},
    {NULL, NULL},
};

void vc_l_open_netns(lua_State *L)
{
        vc_l_newclass(L, VC_NETNS_MT, netns_meth, netns_metameth);
        luaL_newlib(L, netns_funcs);
        lua_setfield(L, -2, "netns");
}
