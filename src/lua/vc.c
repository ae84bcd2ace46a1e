/* Assembles the vc module table from the per-area bindings (Neovim's executor.c does the same for vim). */
#include "vc_lua.h"

int vc_l_open(lua_State *L)
{
        lua_newtable(L); /* [vc] */
        vc_l_open_core(L);
        vc_l_open_oci(L);
        vc_l_open_state(L);
        vc_l_open_log(L);
        vc_l_open_hook(L);
        vc_l_open_netns(L);
        vc_l_open_net(L);
        vc_l_open_shim(L);
        vc_l_open_sandbox(L);
        vc_l_open_share(L);
        vc_l_open_purge(L);
        return 1;
}
