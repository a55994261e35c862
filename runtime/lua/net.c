/* net.c — bindings for core.net (being written in this session). */
#include "recx_lua.h"

void rxl_open_net(lua_State *L)
{
    (void)L;
}
