/* module.c — luaopen_recx_core: builds the "recx.core" table from every binding file. */
#include "recx_lua.h"

int luaopen_recx_core(lua_State *L)
{
    lua_newtable(L);
    lua_pushstring(L, rx_version());
    lua_setfield(L, -2, "version");
    rxl_open_tensor(L);
    rxl_open_mem(L);
    rxl_open_autograd(L);
    rxl_open_optim(L);
    rxl_open_safetensors(L);
    rxl_open_nn(L);
    rxl_open_gguf(L);
    rxl_open_text(L);
    rxl_open_net(L);
    rxl_open_data(L);
    return 1;
}
