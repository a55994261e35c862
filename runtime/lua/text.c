/* text.c — bindings for core.text (being written in this session). */
#include "recx_lua.h"

void rxl_open_text(lua_State *L)
{
    (void)L;
}
