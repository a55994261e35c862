/* data.c — bindings for core.data (being written in this session). */
#include "recx_lua.h"

void rxl_open_data(lua_State *L)
{
    (void)L;
}
