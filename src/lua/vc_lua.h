/* Internal to the vc Lua module: helpers shared by the lua_<area>.c bindings. */
#ifndef VC_LUA_H
#define VC_LUA_H

#include <lua.h>
#include <lauxlib.h>

#include "vc/error.h"

/* Push fail, message, "ENOENT"-style code; release *err; return 3 (crun luacrun_error). */
int vc_l_pusherror(lua_State *L, vc_error_t *err);
/* Push fail, "<what>: strerror", code from a negative errno; return 3. */
int vc_l_pusherrno(lua_State *L, int neg_errno, const char *what);
/* Optional string/integer/boolean field of the table at index t. */
const char *vc_l_optfield_string(lua_State *L, int t, const char *k, const char *def);  /* may raise */
lua_Integer vc_l_optfield_integer(lua_State *L, int t, const char *k, lua_Integer def); /* may raise */
int vc_l_optfield_boolean(lua_State *L, int t, const char *k, int def);                 /* may raise */
/* Create metatable `name` with methods as __index and metamethods (liolib createmeta). */
void vc_l_newclass(lua_State *L, const char *name, const luaL_Reg *meth, const luaL_Reg *metameth);

/* json-c <-> Lua conversion. JSON null becomes vc.null (a light userdata), arrays get a
 * metatable field __jsontype = "array" so empty arrays round-trip. */
struct json_object;
void vc_l_pushjson(lua_State *L, struct json_object *o);
/* Mark the table at idx as a JSON array, so that it encodes as [] even when empty. */
void vc_l_markarray(lua_State *L, int idx);
/* Convert the Lua value at idx; returns NULL and pushes nothing on a value that cannot be represented
 * (function, cyclic table); *ret_err gets a static description. */
struct json_object *vc_l_tojson(lua_State *L, int idx, const char **ret_err);

/* vc.Netns userdata (lua_netns.c): the namespace at index i, NULL when it is not a vc.Netns;
 * raises "attempt to use a closed vc.Netns" for a closed one. */
#define VC_NETNS_MT "vc.Netns"
struct vc_netns;
struct vc_netns *vc_l_testnetns(lua_State *L, int i); /* may raise */
/* Push the table vc.netns.links returns for l, then free l: the conversion runs in a protected call, so
 * a memory error frees the list before it is raised again. Returns 1 (may raise). */
struct vc_netns_links;
int vc_l_push_links_free(lua_State *L, struct vc_netns_links *l);
/* vctest.netns.links (the test-only module): the links of a namespace (path or vc.Netns). */
int vc_l_netns_links(lua_State *L);

/* The limits of policy code (lua_core.c): see vc.limits. */
struct vc_l_limits {
        lua_Alloc base; /* the allocator under ours; NULL: realloc/free */
        void *base_ud;
        size_t used, max, reserve;       /* bytes; max 0: no cap; policy code gets max - reserve */
        int active;                      /* policy code is running */
        lua_Integer budget, budget_left; /* instructions; 0: no budget */
        long long deadline_ms;           /* CLOCK_MONOTONIC; 0: no deadline */
        double deadline_s;               /* its length, for the message */
        const char *tripped;             /* "budget" or "deadline" once passed: raised again at every line */
};
extern struct vc_l_limits vc_l_limits;
/* lua_Alloc counting into `ud` (a struct vc_l_limits) and enforcing its cap. */
void *vc_l_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* A wait of `ms` milliseconds (-1: forever) cut to what is left before the deadline. */
int vc_l_deadline_clamp_ms(int ms);

/* Area openers: each adds its functions/sub-tables to the table on top of the stack. */
void vc_l_open_core(lua_State *L);
void vc_l_open_oci(lua_State *L);
void vc_l_open_state(lua_State *L);
void vc_l_open_log(lua_State *L);
void vc_l_open_hook(lua_State *L);
void vc_l_open_netns(lua_State *L);
void vc_l_open_net(lua_State *L);
void vc_l_open_shim(lua_State *L);
void vc_l_open_sandbox(lua_State *L);
void vc_l_open_share(lua_State *L);
void vc_l_open_purge(lua_State *L);

int vc_l_open(lua_State *L); /* builds and returns the vc table */

#endif
