#include "vc_lua.h"

void vc_l_open_oci(lua_State *L)
{
        (void)L;
}
