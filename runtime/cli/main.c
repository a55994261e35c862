/* main.c — the recx executable: run a recipe, -e code, or the REPL. */
#include "recx_lua.h"

#include <lualib.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_recx_core);
    lua_setfield(L, -2, "recx.core");
    lua_pop(L, 1);
    int status = 0;
    if (argc > 1 && luaL_dofile(L, argv[1]) != LUA_OK) {
        fprintf(stderr, "recx: %s\n", lua_tostring(L, -1));
        status = 1;
    }
    lua_close(L);
    return status;
}
