/* Entry point of vc.so, the module plain lua5.4 and busted load with require("vc"). */
#include "vc_lua.h"

LUALIB_API int luaopen_vc(lua_State *L)
{
        return vc_l_open(L);
}
