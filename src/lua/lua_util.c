/* Helpers shared by the bindings: error pushing, option fields, classes, JSON conversion. */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>

#include "vc_lua.h"

/* A unique address used as the vc.null sentinel (JSON null). */
static const char null_sentinel = 0;

int vc_l_pusherror(lua_State *L, vc_error_t *err)
{
        luaL_pushfail(L);
        if (err && *err) {
                lua_pushstring(L, (*err)->msg ? (*err)->msg : "unknown error");
                lua_pushstring(L, vc_errno_name((*err)->code));
        } else {
                lua_pushstring(L, "unknown error");
                lua_pushstring(L, "EIO");
        }
        vc_error_release(err);
        return 3;
}

int vc_l_pusherrno(lua_State *L, int neg_errno, const char *what)
{
        int code = neg_errno < 0 ? -neg_errno : neg_errno;
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", what, strerror(code));
        lua_pushstring(L, vc_errno_name(code));
        return 3;
}

const char *vc_l_optfield_string(lua_State *L, int t, const char *k, const char *def)
{
        const char *s;
        int type = lua_getfield(L, t, k);
        if (type == LUA_TNIL) {
                lua_pop(L, 1);
                return def;
        }
        if (type != LUA_TSTRING)
                luaL_error(L, "field '%s' must be a string, got %s", k, lua_typename(L, type));
        s = lua_tostring(L, -1); /* stays alive: the table holds it */
        lua_pop(L, 1);
        return s;
}

lua_Integer vc_l_optfield_integer(lua_State *L, int t, const char *k, lua_Integer def)
{
        lua_Integer v;
        int isnum = 0;
        int type = lua_getfield(L, t, k);
        if (type == LUA_TNIL) {
                lua_pop(L, 1);
                return def;
        }
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
                luaL_error(L, "field '%s' must be an integer, got %s", k, luaL_typename(L, -1));
        lua_pop(L, 1);
        return v;
}

int vc_l_optfield_boolean(lua_State *L, int t, const char *k, int def)
{
        int v;
        int type = lua_getfield(L, t, k);
        if (type == LUA_TNIL) {
                lua_pop(L, 1);
                return def;
        }
        if (type != LUA_TBOOLEAN)
                luaL_error(L, "field '%s' must be a boolean, got %s", k, lua_typename(L, type));
        v = lua_toboolean(L, -1);
        lua_pop(L, 1);
        return v;
}

void vc_l_newclass(lua_State *L, const char *name, const luaL_Reg *meth, const luaL_Reg *metameth)
{
        luaL_newmetatable(L, name); /* [mt] */
        if (metameth)
                luaL_setfuncs(L, metameth, 0);
        lua_newtable(L); /* [mt, methods] */
        luaL_setfuncs(L, meth, 0);
        lua_setfield(L, -2, "__index"); /* [mt] */
        lua_pop(L, 1);
}

void vc_l_markarray(lua_State *L, int idx)
{
        idx = lua_absindex(L, idx);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "array");
        lua_setfield(L, -2, "__jsontype");
        lua_setmetatable(L, idx);
}

void vc_l_pushjson(lua_State *L, json_object *o)
{
        luaL_checkstack(L, 4, "json too deep");
        switch (json_object_get_type(o)) {
        case json_type_null:
                lua_pushlightuserdata(L, (void *)&null_sentinel);
                break;
        case json_type_boolean:
                lua_pushboolean(L, json_object_get_boolean(o));
                break;
        case json_type_int:
                lua_pushinteger(L, (lua_Integer)json_object_get_int64(o));
                break;
        case json_type_double:
                lua_pushnumber(L, json_object_get_double(o));
                break;
        case json_type_string:
                lua_pushlstring(L, json_object_get_string(o), (size_t)json_object_get_string_len(o));
                break;
        case json_type_array: {
                size_t n = json_object_array_length(o);
                lua_createtable(L, (int)n, 0);
                for (size_t i = 0; i < n; i++) {
                        vc_l_pushjson(L, json_object_array_get_idx(o, i));
                        lua_rawseti(L, -2, (lua_Integer)i + 1);
                }
                if (n == 0)
                        vc_l_markarray(L, -1);
                break;
        }
        case json_type_object:
                lua_newtable(L);
                json_object_object_foreach(o, k, v)
                {
                        vc_l_pushjson(L, v);
                        lua_setfield(L, -2, k);
                }
                break;
        }
}

static int table_is_array(lua_State *L, int idx, size_t *ret_n)
{
        size_t n = 0, max = 0;
        int empty_array = 0;

        if (lua_getmetatable(L, idx)) {
                lua_getfield(L, -1, "__jsontype");
                empty_array = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "array") == 0;
                lua_pop(L, 2);
        }
        lua_pushnil(L);
        while (lua_next(L, idx)) {
                lua_pop(L, 1);
                if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
                        lua_pop(L, 1);
                        return 0;
                }
                size_t k = (size_t)lua_tointeger(L, -1);
                if (k > max)
                        max = k;
                n++;
        }
        if (n == 0)
                return empty_array ? (*ret_n = 0, 1) : 0;
        if (max != n)
                return 0;
        *ret_n = n;
        return 1;
}

static json_object *tojson(lua_State *L, int idx, int depth, const char **ret_err)
{
        idx = lua_absindex(L, idx);
        if (depth > 64) {
                *ret_err = "nesting too deep (cycle?)";
                return NULL;
        }
        switch (lua_type(L, idx)) {
        case LUA_TNIL:
                return NULL; /* json-c represents null as NULL */
        case LUA_TLIGHTUSERDATA:
                if (lua_touserdata(L, idx) == &null_sentinel)
                        return NULL;
                *ret_err = "cannot encode userdata";
                return NULL;
        case LUA_TBOOLEAN:
                return json_object_new_boolean(lua_toboolean(L, idx));
        case LUA_TNUMBER:
                if (lua_isinteger(L, idx))
                        return json_object_new_int64(lua_tointeger(L, idx));
                return json_object_new_double(lua_tonumber(L, idx));
        case LUA_TSTRING: {
                size_t len;
                const char *s = lua_tolstring(L, idx, &len);
                return json_object_new_string_len(s, (int)len);
        }
        case LUA_TTABLE: {
                size_t n;
                luaL_checkstack(L, 4, "json too deep");
                if (table_is_array(L, idx, &n)) {
                        json_object *a = json_object_new_array_ext((int)n);
                        for (size_t i = 1; i <= n; i++) {
                                lua_rawgeti(L, idx, (lua_Integer)i);
                                json_object *v = tojson(L, -1, depth + 1, ret_err);
                                lua_pop(L, 1);
                                if (*ret_err) {
                                        json_object_put(a);
                                        return NULL;
                                }
                                json_object_array_add(a, v);
                        }
                        return a;
                }
                json_object *o = json_object_new_object();
                lua_pushnil(L);
                while (lua_next(L, idx)) {
                        if (lua_type(L, -2) != LUA_TSTRING) {
                                lua_pop(L, 2);
                                json_object_put(o);
                                *ret_err = "object keys must be strings";
                                return NULL;
                        }
                        json_object *v = tojson(L, -1, depth + 1, ret_err);
                        if (*ret_err) {
                                lua_pop(L, 2);
                                json_object_put(o);
                                return NULL;
                        }
                        json_object_object_add(o, lua_tostring(L, -2), v);
                        lua_pop(L, 1);
                }
                return o;
        }
        default:
                *ret_err = "cannot encode value of this type";
                return NULL;
        }
}

json_object *vc_l_tojson(lua_State *L, int idx, const char **ret_err)
{
        *ret_err = NULL;
        return tojson(L, idx, 0, ret_err);
}
