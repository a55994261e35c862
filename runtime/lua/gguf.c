/* gguf.c — bindings for core.gguf (being written in this session). */
#include "recx_lua.h"

void rxl_open_gguf(lua_State *L)
{
    (void)L;
}
