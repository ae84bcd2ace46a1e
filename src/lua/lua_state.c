#include "vc_lua.h"

void vc_l_open_state(lua_State *L)
{
        (void)L;
}
