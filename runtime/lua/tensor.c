/* tensor.c — the recx.tensor userdata: ownership, argument checks and the tensor methods.
 *
 * Owns: boxing a retained rx_tensor in a userdata (__gc = __close, idempotent), the
 * "tensor was released" check, and the Lua-facing functions of recx.tensor.
 */
#include "recx_lua.h"

typedef struct tensor_box {
    rx_tensor *t; /* NULL once released */
} tensor_box;

rx_tensor *rxl_to_tensor(lua_State *L, int idx)
{
    tensor_box *b = luaL_testudata(L, idx, RXL_TENSOR_MT);
    return b ? b->t : NULL;
}

rx_tensor *rxl_check_tensor(lua_State *L, int idx)
{
    tensor_box *b = luaL_testudata(L, idx, RXL_TENSOR_MT);
    if (!b) luaL_typeerror(L, idx, "tensor");
    if (!b->t) luaL_argerror(L, idx, "tensor was released");
    return b->t;
}

void rxl_push_tensor(lua_State *L, rx_tensor *t)
{
    tensor_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->t = t;
    luaL_setmetatable(L, RXL_TENSOR_MT);
}

int rxl_raise(lua_State *L, rx_status status)
{
    (void)status;
    return luaL_error(L, "%s", rx_last_error());
}

static int tensor_release(lua_State *L)
{
    tensor_box *b = luaL_checkudata(L, 1, RXL_TENSOR_MT);
    rx_tensor_release(b->t);
    b->t = NULL;
    return 0;
}

void rxl_open_tensor(lua_State *L)
{
    luaL_newmetatable(L, RXL_TENSOR_MT);
    lua_pushcfunction(L, tensor_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, tensor_release);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, -2, "tensor");
}
