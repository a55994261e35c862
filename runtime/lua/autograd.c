/* autograd.c — autograd from Lua: the gradient methods of tensors and grad mode.
 *
 * Owns: t:requires_grad([flag]), t:grad(), t:set_grad(g|nil), t:backward([grad] [, opts]),
 * t:detach(), t:grad_fn(), t:is_leaf() (added to the tensor methods and to recx.tensor), and
 * recx.no_grad(fn, ...), recx.grad_enabled(), recx.set_grad_enabled(flag).
 *
 * Grad mode is per thread in the core. no_grad runs its function in protected mode so that the
 * previous mode is restored before an error travels on (the same error value is re-raised).
 * Handles returned by grad() and detach() share the gradient's / tensor's storage: they are not
 * new memory and are not counted towards the GC pressure.
 */
#include "recx_lua.h"

#include <string.h>

/* t:requires_grad() -> boolean; t:requires_grad(flag) -> t (leaves of a float dtype only) */
static int ag_requires_grad(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_pushboolean(L, rx_requires_grad(t));
        return 1;
    }
    if (!lua_isboolean(L, 2))
        return rxl_arg_error(L, 2, "expected a boolean flag, got %s", luaL_typename(L, 2));
    rxl_check_status(L, rx_set_requires_grad(t, lua_toboolean(L, 2)));
    lua_settop(L, 1);
    return 1;
}

/* t:grad() -> the accumulated gradient (a handle on it, not a copy) or nil */
static int ag_grad(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_tensor *g = rx_grad(t);
    if (!g) {
        lua_pushnil(L);
        return 1;
    }
    *rxl_push_slot(L) = rx_tensor_retain(g);
    return 1;
}

/* t:set_grad(g | nil) -> t; g must match t's shape, dtype and device */
static int ag_set_grad(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_tensor *g = NULL;
    if (!lua_isnoneornil(L, 2)) {
        if (!luaL_testudata(L, 2, RXL_TENSOR_MT))
            return rxl_arg_error(L, 2, "expected a tensor or nil, got %s", luaL_typename(L, 2));
        g = rxl_check_tensor(L, 2);
    }
    rxl_check_status(L, rx_set_grad(t, g));
    lua_settop(L, 1);
    return 1;
}

/* Reads {retain_graph = boolean} at idx (nil: defaults). */
static int backward_opts(lua_State *L, int idx)
{
    int retain = 0;
    if (lua_isnoneornil(L, idx)) return retain;
    if (!lua_istable(L, idx))
        return rxl_arg_error(L, idx, "expected an options table {retain_graph = true}, got %s",
                             luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (key && strcmp(key, "retain_graph") == 0) {
            if (!lua_isboolean(L, -1))
                return rxl_arg_error(L, idx, "retain_graph: expected a boolean, got %s",
                                     luaL_typename(L, -1));
            retain = lua_toboolean(L, -1);
        } else {
            lua_pushvalue(L, -2);
            return rxl_arg_error(L, idx, "unknown option '%s' (expected retain_graph)",
                                 luaL_tolstring(L, -1, NULL));
        }
        lua_pop(L, 1);
    }
    return retain;
}

/* t:backward([grad] [, {retain_graph = false}]) -> nothing. Without grad, t must have one
 * element (its gradient is 1). An options table may take grad's place. */
static int ag_backward(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_tensor *grad = NULL;
    int opts_idx = 3;
    if (lua_istable(L, 2)) {
        opts_idx = 2;
        if (!lua_isnone(L, 3)) return rxl_arg_error(L, 3, "expected nothing after the options table");
    } else if (!lua_isnoneornil(L, 2)) {
        if (!luaL_testudata(L, 2, RXL_TENSOR_MT))
            return rxl_arg_error(L, 2, "expected a gradient tensor, an options table or nil, got %s",
                                 luaL_typename(L, 2));
        grad = rxl_check_tensor(L, 2);
    }
    int retain = backward_opts(L, opts_idx);
    rxl_check_status(L, rx_backward(t, grad, retain));
    return 0;
}

/* t:detach() -> a tensor sharing t's storage, outside any graph */
static int ag_detach(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_detach(t, out));
    return 1;
}

/* t:grad_fn() -> the name of the node that produced t ("MatmulBackward") or nil for leaves */
static int ag_grad_fn(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    const char *name = rx_grad_fn_name(t);
    if (name)
        lua_pushstring(L, name);
    else
        lua_pushnil(L);
    return 1;
}

static int ag_is_leaf(lua_State *L)
{
    lua_pushboolean(L, rx_is_leaf(rxl_check_tensor(L, 1)));
    return 1;
}

/* no_grad(fn, ...) -> fn's results, computed with grad mode off. The previous mode is restored
 * when fn returns or raises; an error is re-raised unchanged. */
static int ag_no_grad(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TFUNCTION && !luaL_getmetafield(L, 1, "__call"))
        return rxl_arg_error(L, 1, "expected a function, got %s", luaL_typename(L, 1));
    if (lua_type(L, 1) != LUA_TFUNCTION) lua_pop(L, 1); /* the __call field; pcall finds it again */
    int nargs = lua_gettop(L) - 1;
    int prev = rx_set_grad_enabled(0);
    int status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    rx_set_grad_enabled(prev);
    if (status != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

/* grad_enabled() -> whether ops record graph nodes on this thread */
static int ag_grad_enabled(lua_State *L)
{
    lua_pushboolean(L, rx_grad_enabled());
    return 1;
}

/* set_grad_enabled(flag) -> the previous state */
static int ag_set_grad_enabled(lua_State *L)
{
    if (!lua_isboolean(L, 1)) return rxl_arg_error(L, 1, "expected a boolean, got %s", luaL_typename(L, 1));
    lua_pushboolean(L, rx_set_grad_enabled(lua_toboolean(L, 1)));
    return 1;
}

static const luaL_Reg autograd_methods[] = {
    {"requires_grad", ag_requires_grad},
    {"grad", ag_grad},
    {"set_grad", ag_set_grad},
    {"backward", ag_backward},
    {"detach", ag_detach},
    {"grad_fn", ag_grad_fn},
    {"is_leaf", ag_is_leaf},
    {NULL, NULL},
};

static const luaL_Reg autograd_functions[] = {
    {"no_grad", ag_no_grad},
    {"grad_enabled", ag_grad_enabled},
    {"set_grad_enabled", ag_set_grad_enabled},
    {NULL, NULL},
};

void rxl_open_autograd(lua_State *L)
{
    /* the methods join the tensor metatable's __index table; recx.tensor gets the same closures */
    luaL_getmetatable(L, RXL_TENSOR_MT);
    lua_getfield(L, -1, "__index");
    rxl_set_funcs(L, autograd_methods);
    lua_getfield(L, -3, "tensor"); /* module, metatable, methods, recx.tensor */
    for (const luaL_Reg *r = autograd_methods; r->name; r++) {
        lua_getfield(L, -2, r->name);
        lua_setfield(L, -2, r->name);
    }
    lua_pop(L, 3);
    rxl_set_funcs(L, autograd_functions);
}
