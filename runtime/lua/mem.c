/* mem.c — memory, threads and devices as Lua sees them: recx.mem(), recx.num_threads(),
 * recx.cuda, and the GC pressure accounting of tensor bytes.
 *
 * Owns: telling Lua's collector about memory it cannot see. Each lua_State keeps a counter of
 * the bytes of tensors created from Lua since the last collection; when it passes
 * max(64 MiB, the bytes recx held live just after that collection) a full collection runs (so
 * forgotten tensors' __gc release their storage) and the counter restarts. Measuring live bytes
 * after the collection, not now, matters: forgotten tensors are live until collected, so the
 * bytes live now always cover the counter and would never trigger it. Programs that release
 * tensors deterministically (`local x <close> = ...`) rarely reach the limit.
 */
#include "recx_lua.h"

#include <string.h>

#define GC_FLOOR_BYTES (64LL << 20)

typedef struct gc_pressure {
    int64_t since_collect; /* bytes of tensors made from Lua since the last collection */
    int64_t live_after;    /* bytes live right after the last collection */
} gc_pressure;

static const char gc_pressure_key = 0; /* registry key (by address) of the per-state counters */

static gc_pressure *gc_state(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &gc_pressure_key) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        gc_pressure *p = lua_newuserdatauv(L, sizeof *p, 0);
        p->since_collect = 0;
        p->live_after = 0;
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &gc_pressure_key);
    }
    gc_pressure *p = lua_touserdata(L, -1);
    lua_pop(L, 1); /* the registry keeps it alive */
    return p;
}

static int64_t live_bytes_all(void)
{
    rx_mem_stats cpu, cuda;
    rx_mem_get_stats(RX_CPU, &cpu);
    rx_mem_get_stats(RX_CUDA, &cuda);
    return cpu.live_bytes + cuda.live_bytes;
}

void rxl_note_external_bytes(lua_State *L, int64_t bytes)
{
    gc_pressure *p = gc_state(L);
    p->since_collect += bytes;
    int64_t limit = p->live_after > GC_FLOOR_BYTES ? p->live_after : GC_FLOOR_BYTES;
    if (p->since_collect > limit) {
        lua_gc(L, LUA_GCCOLLECT);
        p->since_collect = 0;
        p->live_after = live_bytes_all();
    }
}

/* The device type named at idx ("cpu", "cuda", "cuda:1"); nil means the CPU. */
static rx_device_type check_device_type(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return RX_CPU;
    if (lua_type(L, idx) != LUA_TSTRING)
        rxl_arg_error(L, idx, "expected a device name such as \"cpu\" or \"cuda\", got %s", luaL_typename(L, idx));
    rx_device dev;
    if (rx_device_from_name(lua_tostring(L, idx), &dev) != RX_OK) rxl_arg_error(L, idx, "%s", rx_last_error());
    return dev.type;
}

/* recx.mem([device]) -> {live_bytes=, peak_bytes=, live_tensors=, live_storages=, total_allocs=} */
static int mem_stats(lua_State *L)
{
    rx_mem_stats s;
    rx_mem_get_stats(check_device_type(L, 1), &s);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, s.live_bytes);
    lua_setfield(L, -2, "live_bytes");
    lua_pushinteger(L, s.peak_bytes);
    lua_setfield(L, -2, "peak_bytes");
    lua_pushinteger(L, s.live_tensors);
    lua_setfield(L, -2, "live_tensors");
    lua_pushinteger(L, s.live_storages);
    lua_setfield(L, -2, "live_storages");
    lua_pushinteger(L, s.total_allocs);
    lua_setfield(L, -2, "total_allocs");
    return 1;
}

/* recx.mem_reset_peak([device]) */
static int mem_reset_peak(lua_State *L)
{
    rx_mem_reset_peak(check_device_type(L, 1));
    return 0;
}

/* recx.num_threads([n]) -> the thread count (after setting it when n is given; n <= 0 restores
 * the default). */
static int num_threads(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) rx_set_num_threads((int)rxl_check_integer(L, 1, "thread count"));
    lua_pushinteger(L, rx_get_num_threads());
    return 1;
}

static int cuda_is_available(lua_State *L)
{
    lua_pushboolean(L, rx_cuda_available());
    return 1;
}

static int cuda_device_count(lua_State *L)
{
    lua_pushinteger(L, rx_cuda_device_count());
    return 1;
}

/* recx.cuda.synchronize(): waits for the queued CUDA work (no-op without a GPU). */
static int cuda_synchronize(lua_State *L)
{
    rxl_check_status(L, rx_cuda_synchronize());
    return 0;
}

/* recx.cuda.empty_cache(): returns the caching allocator's free blocks to the driver. */
static int cuda_empty_cache(lua_State *L)
{
    (void)L;
    rx_mem_empty_cache(RX_CUDA);
    return 0;
}

static const luaL_Reg mem_functions[] = {
    {"mem", mem_stats},
    {"mem_reset_peak", mem_reset_peak},
    {"num_threads", num_threads},
    {NULL, NULL},
};

static const luaL_Reg cuda_functions[] = {
    {"is_available", cuda_is_available},
    {"device_count", cuda_device_count},
    {"synchronize", cuda_synchronize},
    {"empty_cache", cuda_empty_cache},
    {"graph", rxl_cuda_graph},
    {NULL, NULL},
};

void rxl_open_mem(lua_State *L)
{
    rxl_set_funcs(L, mem_functions);
    lua_newtable(L);
    rxl_set_funcs(L, cuda_functions);
    rxl_open_cuda_graph(L);
    rxl_open_llama_decoder(L);
    rxl_open_id_ring(L);
    lua_setfield(L, -2, "cuda");
}
