/* id_ring.c — recx.cuda.id_ring: token ids handed from the device to the host without a
 * synchronisation (recx.h "id rings").
 *
 * Owns: the ring userdata (metatable "recx.id_ring": push, wait, release; __gc = __close =
 * release, idempotent).
 *
 *   local ring = recx.cuda.id_ring(N)         -- on "cuda" (or the device named by argument #2)
 *   ring:push(ids)                            -- queues a copy of ids ((N) i64 on the device);
 *                                             -- may be captured into a CUDA graph
 *   local list = ring:wait(k)                 -- the k-th record (1-based), a Lua list of N ids
 */
#include "recx_lua.h"

#include <stdlib.h>

#define RING_MT "recx.id_ring"

typedef struct lua_ring {
    rx_id_ring *ring;
} lua_ring;

static lua_ring *check_live(lua_State *L, int idx)
{
    lua_ring *r = luaL_checkudata(L, idx, RING_MT);
    if (!r->ring) rxl_raise_message(L, "id ring: the ring was released");
    return r;
}

static int ring_push(lua_State *L)
{
    lua_ring *r = check_live(L, 1);
    rxl_check_status(L, rx_id_ring_push(r->ring, rxl_check_tensor(L, 2)));
    return 0;
}

static int ring_wait(lua_State *L)
{
    lua_ring *r = check_live(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    if (k < 1) return rxl_arg_error(L, 2, "expected a record number >= 1, got %lld", (long long)k);
    int64_t n = rx_id_ring_rows(r->ring);
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return rxl_raise_message(L, "id ring: wait: out of host memory");
    rx_status st = rx_id_ring_wait(r->ring, (int64_t)k - 1, ids);
    if (st != RX_OK) {
        free(ids);
        return rxl_raise(L, st);
    }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)ids[i]);
        lua_seti(L, -2, (lua_Integer)i + 1);
    }
    free(ids);
    return 1;
}

static int ring_release(lua_State *L)
{
    lua_ring *r = luaL_checkudata(L, 1, RING_MT);
    rx_id_ring_free(r->ring);
    r->ring = NULL;
    return 0;
}

/* recx.cuda.id_ring(rows [, device = "cuda"]) -> ring */
static int ring_new(lua_State *L)
{
    lua_Integer rows = luaL_checkinteger(L, 1);
    rx_device dev;
    if (rx_device_from_name(luaL_optstring(L, 2, "cuda"), &dev) != RX_OK) rxl_arg_error(L, 2, "%s", rx_last_error());
    lua_ring *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->ring = NULL;
    luaL_setmetatable(L, RING_MT);
    rxl_check_status(L, rx_id_ring_new(dev, (int64_t)rows, &r->ring));
    return 1;
}

void rxl_open_id_ring(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"push", ring_push},
        {"wait", ring_wait},
        {"release", ring_release},
        {NULL, NULL},
    };
    luaL_newmetatable(L, RING_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ring_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, ring_release);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pushcfunction(L, ring_new);
    lua_setfield(L, -2, "id_ring");
}
