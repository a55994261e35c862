/* nn.c — the fused neural-network ops from Lua (recx.core.nn, exposed as recx.nn.functional).
 *
 * Owns: the Lua argument conventions of linear, embedding, rmsnorm, layernorm, rope_inv_freq,
 * rope_tables, rope, rope_append_kv, attention, swiglu, dropout, cross_entropy, bce_with_logits
 * and mse:
 * optional tensors may be nil (a bias, layernorm's weight and bias), numeric hyper-parameters
 * have the defaults of their PyTorch / Hugging Face counterparts (rmsnorm eps 1e-6, layernorm
 * eps 1e-5, the inference-only add_rmsnorm_ eps 1e-5 as in SmolLM2/Llama, rope theta 10000,
 * ignore_index -100; swiglu_packed takes no options), and the options of attention and
 * cross_entropy come in a table whose unknown keys are errors. Index data stays 0-based (ids,
 * targets, padding_idx), as everywhere in recx. Shapes, dtypes and the gradients are the
 * core's (recx.h, "neural-network ops").
 */
#include "recx_lua.h"

#include <string.h>

/* The tensor at idx, or NULL when it is nil or absent. */
static rx_tensor *opt_tensor(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    if (!luaL_testudata(L, idx, RXL_TENSOR_MT))
        rxl_arg_error(L, idx, "expected a tensor or nil, got %s", luaL_typename(L, idx));
    return rxl_check_tensor(L, idx);
}

static double opt_number(lua_State *L, int idx, double dflt, const char *what)
{
    if (lua_isnoneornil(L, idx)) return dflt;
    if (lua_type(L, idx) != LUA_TNUMBER)
        rxl_arg_error(L, idx, "expected %s (a number), got %s", what, luaL_typename(L, idx));
    return lua_tonumber(L, idx);
}

static rx_generator *opt_generator(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : rxl_check_generator(L, idx);
}

/* Ends a binding whose result slot `out` (rxl_push_slot) the core call filled: raises on
 * failure, else counts the new tensor's bytes and returns its one result. */
static int finish(lua_State *L, rx_status status, rx_tensor **out)
{
    rxl_check_status(L, status);
    rxl_note_tensor(L, *out);
    return 1;
}

/* The bindings f(a, b) -> out of two tensors: swiglu, bce_with_logits, mse. */
static int two_tensors(lua_State *L, rx_status (*fn)(rx_tensor *, rx_tensor *, rx_tensor **))
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    rx_tensor *b = rxl_check_tensor(L, 2);
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, fn(a, b, out), out);
}

/* linear(x, w [, b]) -> x w^T + b: x (..., in), w (out, in), b (out) */
static int nn_linear(lua_State *L)
{
    rx_tensor *x = rxl_check_tensor(L, 1);
    rx_tensor *w = rxl_check_tensor(L, 2);
    rx_tensor *b = opt_tensor(L, 3);
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_linear(x, w, b, out), out);
}

/* embedding(weight, ids [, padding_idx]) -> (ids..., C); padding_idx is a 0-based row or nil */
static int nn_embedding(lua_State *L)
{
    rx_tensor *w = rxl_check_tensor(L, 1);
    rx_tensor *ids = rxl_check_tensor(L, 2);
    int64_t pad = -1;
    if (!lua_isnoneornil(L, 3)) {
        pad = rxl_check_integer(L, 3, "padding_idx");
        if (pad < 0)
            return rxl_arg_error(L, 3, "expected padding_idx as a 0-based row (>= 0) or nil, got %lld",
                                 (long long)pad);
    }
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_embedding(w, ids, pad, out), out);
}

/* rmsnorm(x, w [, eps = 1e-6]) */
static int nn_rmsnorm(lua_State *L)
{
    rx_tensor *x = rxl_check_tensor(L, 1);
    rx_tensor *w = rxl_check_tensor(L, 2);
    double eps = opt_number(L, 3, 1e-6, "eps");
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_rmsnorm(x, w, eps, out), out);
}

/* add_rmsnorm_(x, r, w [, eps = 1e-5]) -> normed: x += r in place, then rmsnorm(x, w, eps);
 * inference only */
static int nn_add_rmsnorm_(lua_State *L)
{
    rx_tensor *x = rxl_check_tensor(L, 1);
    rx_tensor *r = rxl_check_tensor(L, 2);
    rx_tensor *w = rxl_check_tensor(L, 3);
    double eps = opt_number(L, 4, 1e-5, "eps");
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_add_rmsnorm_(x, r, w, eps, out), out);
}

/* layernorm(x [, w [, b [, eps = 1e-5]]]) */
static int nn_layernorm(lua_State *L)
{
    rx_tensor *x = rxl_check_tensor(L, 1);
    rx_tensor *w = opt_tensor(L, 2);
    rx_tensor *b = opt_tensor(L, 3);
    double eps = opt_number(L, 4, 1e-5, "eps");
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_layernorm(x, w, b, eps, out), out);
}

/* rope_inv_freq(head_dim [, theta = 10000]) -> (head_dim / 2) f32 */
static int nn_rope_inv_freq(lua_State *L)
{
    lua_Integer d = rxl_check_integer(L, 1, "head_dim");
    double theta = opt_number(L, 2, 10000.0, "theta");
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_rope_inv_freq(d, theta, out), out);
}

/* rope_tables(positions, inv_freq [, dtype = "f32"]) -> cos, sin: (T, D) or (B, T, D) */
static int nn_rope_tables(lua_State *L)
{
    rx_tensor *pos = rxl_check_tensor(L, 1);
    rx_tensor *inv = rxl_check_tensor(L, 2);
    rx_dtype dtype = lua_isnoneornil(L, 3) ? RX_F32 : rxl_check_dtype(L, 3);
    rx_tensor **cos = rxl_push_slot(L);
    rx_tensor **sin = rxl_push_slot(L);
    rxl_check_status(L, rx_rope_tables(pos, inv, dtype, cos, sin));
    rxl_note_tensor(L, *cos);
    rxl_note_tensor(L, *sin);
    return 2;
}

/* rope(x, cos, sin): x (B, H, T, D) */
static int nn_rope(lua_State *L)
{
    rx_tensor *x = rxl_check_tensor(L, 1);
    rx_tensor *c = rxl_check_tensor(L, 2);
    rx_tensor *s = rxl_check_tensor(L, 3);
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_rope(x, c, s, out), out);
}

/* rope_append_kv(qkv, cos, sin, cache_k, cache_v, slot, heads, kv_heads) -> q (B, H, T, D):
 * qkv (B, T, (H + 2G) * D); the caches (B, G, L, D) receive k and v at positions [slot, slot + T)
 * (slot: a one-element i32/i64 tensor, 0-based). Inference only. */
static int nn_rope_append_kv(lua_State *L)
{
    rx_tensor *t[6];
    for (int i = 0; i < 6; i++) t[i] = rxl_check_tensor(L, i + 1);
    lua_Integer heads = rxl_check_integer(L, 7, "heads");
    lua_Integer kv_heads = rxl_check_integer(L, 8, "kv_heads");
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_rope_append_kv(t[0], t[1], t[2], t[3], t[4], t[5], heads, kv_heads, out), out);
}

/* attention(q, k, v [, {causal = false, scale = 1/sqrt(D), key_padding = nil,
 * additive_mask = nil, dropout = 0, generator = nil}]) -> (B, H, T, D) */
static int nn_attention(lua_State *L)
{
    rx_tensor *q = rxl_check_tensor(L, 1);
    rx_tensor *k = rxl_check_tensor(L, 2);
    rx_tensor *v = rxl_check_tensor(L, 3);
    rx_attention_opts o;
    memset(&o, 0, sizeof o);
    if (!lua_isnoneornil(L, 4)) {
        if (!lua_istable(L, 4))
            return rxl_arg_error(L, 4, "expected an options table {causal =, scale =, ...}, got %s",
                                 luaL_typename(L, 4));
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            int t = lua_type(L, -1);
            if (strcmp(key, "causal") == 0) {
                if (t != LUA_TBOOLEAN)
                    return rxl_arg_error(L, 4, "causal: expected a boolean, got %s", luaL_typename(L, -1));
                o.causal = lua_toboolean(L, -1);
            } else if (strcmp(key, "scale") == 0 || strcmp(key, "dropout") == 0) {
                if (t != LUA_TNUMBER)
                    return rxl_arg_error(L, 4, "%s: expected a number, got %s", key, luaL_typename(L, -1));
                *(key[0] == 's' ? &o.scale : &o.dropout_p) = lua_tonumber(L, -1);
            } else if (strcmp(key, "key_padding") == 0 || strcmp(key, "additive_mask") == 0) {
                rx_tensor *m = rxl_to_tensor(L, -1);
                if (!m)
                    return rxl_arg_error(L, 4, "%s: expected a tensor, got %s", key, luaL_typename(L, -1));
                *(key[0] == 'k' ? &o.key_padding : &o.additive_mask) = m;
            } else if (strcmp(key, "generator") == 0) {
                if (!(o.generator = rxl_to_generator(L, -1)))
                    return rxl_arg_error(L, 4, "generator: expected a generator, got %s",
                                         luaL_typename(L, -1));
            } else {
                lua_pushvalue(L, -2);
                return rxl_arg_error(
                    L, 4,
                    "unknown option '%s' (expected causal, scale, key_padding, additive_mask, "
                    "dropout, generator)",
                    luaL_tolstring(L, -1, NULL));
            }
            lua_pop(L, 1);
        }
    }
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_attention(q, k, v, &o, out), out);
}

/* swiglu(gate, up) -> silu(gate) * up */
static int nn_swiglu(lua_State *L) { return two_tensors(L, rx_swiglu); }

/* swiglu_packed(gu) -> silu(gu[..., :F]) * gu[..., F:] for gu (..., 2F); inference only */
static int nn_swiglu_packed(lua_State *L)
{
    rx_tensor *gu = rxl_check_tensor(L, 1);
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_swiglu_packed(gu, out), out);
}

/* dropout(x, p [, training = true [, generator]]) */
static int nn_dropout(lua_State *L)
{
    rx_tensor *x = rxl_check_tensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return rxl_arg_error(L, 2, "expected a probability p (a number), got %s", luaL_typename(L, 2));
    double p = lua_tonumber(L, 2);
    int training = 1;
    if (!lua_isnoneornil(L, 3)) {
        if (!lua_isboolean(L, 3))
            return rxl_arg_error(L, 3, "expected training as a boolean, got %s", luaL_typename(L, 3));
        training = lua_toboolean(L, 3);
    }
    rx_generator *gen = opt_generator(L, 4);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_dropout(x, p, training, gen, out));
    if (*out != x) rxl_note_tensor(L, *out); /* eval mode returns x itself */
    return 1;
}

/* cross_entropy(logits, targets [, {ignore_index = -100, weights = nil}]) -> 0-d mean loss */
static int nn_cross_entropy(lua_State *L)
{
    rx_tensor *logits = rxl_check_tensor(L, 1);
    rx_tensor *targets = rxl_check_tensor(L, 2);
    int64_t ignore = -100;
    rx_tensor *weights = NULL;
    if (!lua_isnoneornil(L, 3)) {
        if (!lua_istable(L, 3))
            return rxl_arg_error(L, 3, "expected an options table {ignore_index =, weights =}, got %s",
                                 luaL_typename(L, 3));
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (strcmp(key, "ignore_index") == 0) {
                int ok = 0;
                ignore = (int64_t)lua_tointegerx(L, -1, &ok);
                if (!ok || lua_type(L, -1) != LUA_TNUMBER)
                    return rxl_arg_error(L, 3, "ignore_index: expected an integer, got %s",
                                         luaL_typename(L, -1));
            } else if (strcmp(key, "weights") == 0) {
                if (!(weights = rxl_to_tensor(L, -1)))
                    return rxl_arg_error(L, 3, "weights: expected a tensor, got %s", luaL_typename(L, -1));
            } else {
                lua_pushvalue(L, -2);
                return rxl_arg_error(L, 3, "unknown option '%s' (expected ignore_index, weights)",
                                     luaL_tolstring(L, -1, NULL));
            }
            lua_pop(L, 1);
        }
    }
    rx_tensor **out = rxl_push_slot(L);
    return finish(L, rx_cross_entropy(logits, targets, ignore, weights, out), out);
}

/* bce_with_logits(logits, targets) -> 0-d mean loss */
static int nn_bce_with_logits(lua_State *L) { return two_tensors(L, rx_bce_with_logits); }

/* mse(pred, target) -> 0-d mean squared error */
static int nn_mse(lua_State *L) { return two_tensors(L, rx_mse); }

static const luaL_Reg nn_functions[] = {
    {"linear", nn_linear},
    {"embedding", nn_embedding},
    {"rmsnorm", nn_rmsnorm},
    {"add_rmsnorm_", nn_add_rmsnorm_},
    {"layernorm", nn_layernorm},
    {"rope_inv_freq", nn_rope_inv_freq},
    {"rope_tables", nn_rope_tables},
    {"rope", nn_rope},
    {"rope_append_kv", nn_rope_append_kv},
    {"attention", nn_attention},
    {"swiglu", nn_swiglu},
    {"swiglu_packed", nn_swiglu_packed},
    {"dropout", nn_dropout},
    {"cross_entropy", nn_cross_entropy},
    {"bce_with_logits", nn_bce_with_logits},
    {"mse", nn_mse},
    {NULL, NULL},
};

void rxl_open_nn(lua_State *L)
{
    lua_newtable(L);
    rxl_set_funcs(L, nn_functions);
    lua_setfield(L, -2, "nn");
}
