/* cuda_graph.c — recx.cuda.graph: CUDA graphs of Lua code, captured once and replayed.
 *
 * Owns: the graph userdata (metatable "recx.cuda_graph": replay, nodes, release; __gc =
 * __close = release, idempotent) and the capture protocol: begin, call the Lua function, end;
 * when the function raises, the capture is discarded (the device stays usable) and the error is
 * raised again with the prefix "cuda.graph: ". The rules of what a captured function may do are
 * rx_cuda_graph_begin's (recx.h) and docs/lua-api.md "CUDA graphs".
 *
 *   local g, logits = recx.cuda.graph(function() return step(ids) end)   -- records, runs nothing
 *   ids:copy_(next_ids); g:replay()                                      -- logits rewritten
 */
#include "recx_lua.h"

#define GRAPH_MT "recx.cuda_graph"

typedef struct lua_graph {
    rx_cuda_graph *graph;
} lua_graph;

static lua_graph *check_graph(lua_State *L, int idx)
{
    lua_graph *g = luaL_testudata(L, idx, GRAPH_MT);
    if (!g) rxl_arg_error(L, idx, "expected a CUDA graph, got %s", luaL_typename(L, idx));
    return g;
}

static lua_graph *check_live(lua_State *L, int idx)
{
    lua_graph *g = check_graph(L, idx);
    if (!g->graph) rxl_raise_message(L, "cuda graph: the graph was released");
    return g;
}

static int graph_replay(lua_State *L)
{
    lua_graph *g = check_live(L, 1);
    rxl_check_status(L, rx_cuda_graph_replay(g->graph));
    return 0;
}

static int graph_nodes(lua_State *L)
{
    lua_pushinteger(L, rx_cuda_graph_nodes(check_live(L, 1)->graph));
    return 1;
}

static int graph_release(lua_State *L)
{
    lua_graph *g = check_graph(L, 1);
    rx_cuda_graph_free(g->graph);
    g->graph = NULL;
    return 0;
}

static int graph_tostring(lua_State *L)
{
    lua_graph *g = check_graph(L, 1);
    if (g->graph)
        lua_pushfstring(L, "cuda graph (%I nodes)", (LUA_INTEGER)rx_cuda_graph_nodes(g->graph));
    else
        lua_pushliteral(L, "cuda graph (released)");
    return 1;
}

/* recx.cuda.graph(fn [, device]) -> graph, fn's results */
int rxl_cuda_graph(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    rx_device dev;
    const char *name = luaL_optstring(L, 2, "cuda");
    if (rx_device_from_name(name, &dev) != RX_OK) rxl_arg_error(L, 2, "%s", rx_last_error());
    lua_settop(L, 1);
    lua_graph *g = lua_newuserdatauv(L, sizeof *g, 0); /* 2: released by __gc on any error below */
    g->graph = NULL;
    luaL_setmetatable(L, GRAPH_MT);
    rxl_check_status(L, rx_cuda_graph_begin(dev));
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
        rx_cuda_graph_end(dev, NULL);
        const char *msg = lua_tostring(L, -1);
        return luaL_error(L, "cuda.graph: %s", msg ? msg : "the captured function raised a non-string error");
    }
    rxl_check_status(L, rx_cuda_graph_end(dev, &g->graph));
    return lua_gettop(L) - 1; /* the graph and fn's results */
}

void rxl_open_cuda_graph(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"replay", graph_replay},
        {"nodes", graph_nodes},
        {"release", graph_release},
        {NULL, NULL},
    };
    luaL_newmetatable(L, GRAPH_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, graph_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, graph_release);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, graph_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
