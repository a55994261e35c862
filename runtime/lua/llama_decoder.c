/* llama_decoder.c — recx.cuda.decoder: the one-kernel Llama decode step (recx.h "llama decoder").
 *
 * Owns: the decoder userdata (metatable "recx.llama_decoder": step, wait, steps, release; __gc =
 * __close = release, idempotent) and the translation of a Lua spec table into an
 * rx_llama_decoder_spec. A model the kernel cannot run returns nil and the reason (so that
 * recx.llm.decode_kernel can fall back to the op-by-op step); malformed specs raise.
 *
 *   local dec, why = recx.cuda.decoder{layers = 30, heads = 9, kv_heads = 3, rms_eps = 1e-5,
 *     embed = E, final_norm = n, lm_head = E, inv_freq = f, ids = ids, positions = pos,
 *     key_padding = kp, slot = T, layer = {{attn_norm = .., qkv_w = .., qkv_b = nil, o_w = ..,
 *     mlp_norm = .., gu_w = .., down_w = .., cache_k = .., cache_v = ..}, ...}}
 *   dec:step(logits)                      -- logits (N, V) f32 rewritten by the step
 *   dec:step(nil, {greedy = true, ban = {2}})  -- argmax fed back into ids on the device
 *   local ids = dec:wait(k)               -- the k-th step's greedy ids (1-based), a Lua list
 *   dec:trace()                           -- with spec.trace: microseconds per phase of the last step
 */
#include "recx_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECODER_MT "recx.llama_decoder"

typedef struct lua_decoder {
    rx_llama_decoder *dec;
    int64_t rows;
} lua_decoder;

static lua_decoder *check_live(lua_State *L, int idx)
{
    lua_decoder *d = luaL_checkudata(L, idx, DECODER_MT);
    if (!d->dec) rxl_raise_message(L, "llama decoder: the decoder was released");
    return d;
}

/* The tensor in field `name` of the table at idx (nil allowed when optional). */
static rx_tensor *field_tensor(lua_State *L, int idx, const char *name, int optional, const char *where)
{
    lua_getfield(L, idx, name);
    rx_tensor *t = rxl_to_tensor(L, -1);
    int nil = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!t && !(optional && nil))
        rxl_arg_error(L, 1, "%s%s: expected a tensor%s", where, name, optional ? " or nil" : "");
    return t;
}

static int64_t field_int(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok) rxl_arg_error(L, 1, "field '%s': expected an integer", name);
    return (int64_t)v;
}

static int decoder_step(lua_State *L)
{
    lua_decoder *d = check_live(L, 1);
    rx_tensor *logits = lua_isnoneornil(L, 2) ? NULL : rxl_check_tensor(L, 2);
    int greedy = 0, n_ban = 0;
    int64_t ban[16];
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "greedy");
        greedy = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, 3, "ban");
        if (!lua_isnil(L, -1)) {
            if (!lua_istable(L, -1)) rxl_arg_error(L, 3, "field 'ban': expected a list of ids");
            lua_Integer n = luaL_len(L, -1);
            if (n > 16) rxl_arg_error(L, 3, "field 'ban': at most 16 ids, got %lld", (long long)n);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_geti(L, -1, i);
                int ok;
                ban[n_ban++] = (int64_t)lua_tointegerx(L, -1, &ok);
                if (!ok) rxl_arg_error(L, 3, "field 'ban': entry %lld is not an integer", (long long)i);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    rxl_check_status(L, rx_llama_decoder_step(d->dec, logits, greedy, ban, n_ban));
    return 0;
}

static int decoder_wait(lua_State *L)
{
    lua_decoder *d = check_live(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int64_t *ids = malloc((size_t)d->rows * sizeof *ids);
    if (!ids) return rxl_raise_message(L, "llama decoder: wait: out of host memory");
    rx_status st = rx_llama_decoder_wait(d->dec, (int64_t)k - 1, ids);
    if (st != RX_OK) {
        free(ids);
        return rxl_raise(L, st);
    }
    lua_createtable(L, (int)d->rows, 0);
    for (int64_t r = 0; r < d->rows; r++) {
        lua_pushinteger(L, (lua_Integer)ids[r]);
        lua_seti(L, -2, (lua_Integer)r + 1);
    }
    free(ids);
    return 1;
}

/* dec:trace() -> the microseconds of each phase of the last finished step, or nil without trace */
static int decoder_trace(lua_State *L)
{
    lua_decoder *d = check_live(L, 1);
    const int cap = 4096 * 5 + 1;
    double *us = malloc(cap * sizeof *us);
    if (!us) return rxl_raise_message(L, "llama decoder: trace: out of host memory");
    int n = rx_llama_decoder_trace(d->dec, us, cap);
    if (n > 0) {
        lua_createtable(L, n, 0);
        for (int i = 0; i < n; i++) {
            lua_pushnumber(L, us[i]);
            lua_seti(L, -2, i + 1);
        }
    }
    free(us);
    return n > 0 ? 1 : 0;
}

static int decoder_steps(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rx_llama_decoder_steps(check_live(L, 1)->dec));
    return 1;
}

static int decoder_release(lua_State *L)
{
    lua_decoder *d = luaL_checkudata(L, 1, DECODER_MT);
    rx_llama_decoder_free(d->dec);
    d->dec = NULL;
    return 0;
}

/* recx.cuda.decoder(spec) -> decoder, or nil and the reason the kernel cannot run this model */
static int decoder_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    rx_llama_decoder_spec s;
    memset(&s, 0, sizeof s);
    s.layers = field_int(L, 1, "layers");
    s.heads = field_int(L, 1, "heads");
    s.kv_heads = field_int(L, 1, "kv_heads");
    s.slot = field_int(L, 1, "slot");
    lua_getfield(L, 1, "trace");
    s.trace = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "rms_eps");
    s.rms_eps = lua_tonumber(L, -1);
    lua_pop(L, 1);
    s.embed = field_tensor(L, 1, "embed", 0, "field ");
    s.final_norm = field_tensor(L, 1, "final_norm", 0, "field ");
    s.lm_head = field_tensor(L, 1, "lm_head", 0, "field ");
    s.inv_freq = field_tensor(L, 1, "inv_freq", 0, "field ");
    s.ids = field_tensor(L, 1, "ids", 0, "field ");
    s.positions = field_tensor(L, 1, "positions", 0, "field ");
    s.key_padding = field_tensor(L, 1, "key_padding", 0, "field ");
    if (s.layers < 1 || s.layers > 4096) rxl_arg_error(L, 1, "field 'layers': expected 1 to 4096");
    lua_getfield(L, 1, "layer");
    if (!lua_istable(L, -1) || luaL_len(L, -1) != s.layers)
        rxl_arg_error(L, 1, "field 'layer': expected a list of %lld layer tables", (long long)s.layers);
    int list = lua_gettop(L);
    static const char *const names[RX_LLAMA_LAYER_TENSORS] = {
        "attn_norm", "qkv_w", "qkv_b", "o_w", "mlp_norm", "gu_w", "down_w", "cache_k", "cache_v",
    };
    rx_tensor **layer = lua_newuserdatauv(L, (size_t)s.layers * RX_LLAMA_LAYER_TENSORS * sizeof *layer, 0);
    for (int64_t l = 0; l < s.layers; l++) {
        lua_geti(L, list, (lua_Integer)l + 1);
        if (!lua_istable(L, -1)) rxl_arg_error(L, 1, "field 'layer': entry %lld is not a table", (long long)l + 1);
        char where[48];
        snprintf(where, sizeof where, "layer %lld field ", (long long)l);
        for (int i = 0; i < RX_LLAMA_LAYER_TENSORS; i++)
            layer[l * RX_LLAMA_LAYER_TENSORS + i] = field_tensor(L, lua_gettop(L), names[i], i == RX_LLAMA_QKV_B, where);
        lua_pop(L, 1);
    }
    s.layer = layer;
    lua_decoder *d = lua_newuserdatauv(L, sizeof *d, 0);
    d->dec = NULL;
    d->rows = rx_tensor_ndim(s.ids) == 1 ? rx_tensor_size(s.ids, 0) : 0;
    luaL_setmetatable(L, DECODER_MT);
    rx_status st = rx_llama_decoder_new(&s, &d->dec);
    if (st == RX_ERR_UNSUPPORTED) {
        lua_pushnil(L);
        lua_pushstring(L, rx_last_error());
        return 2;
    }
    rxl_check_status(L, st);
    return 1;
}

void rxl_open_llama_decoder(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"step", decoder_step},
        {"wait", decoder_wait},
        {"steps", decoder_steps},
        {"trace", decoder_trace},
        {"release", decoder_release},
        {NULL, NULL},
    };
    luaL_newmetatable(L, DECODER_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, decoder_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, decoder_release);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lua_pushcfunction(L, decoder_new);
    lua_setfield(L, -2, "decoder");
}
