/* tensor_random.c — random tensors and generators from Lua: rand, randn, randint, bernoulli,
 * multinomial, manual_seed, and the recx.generator userdata.
 *
 * Owns: the generator box (an owned rx_generator freed by __gc; seeds are Lua integers read as
 * their 64-bit pattern) and the {generator=} option of every random function. Without one the
 * process-wide default generator draws (manual_seed reseeds it).
 */
#include "recx_lua.h"

#define GENERATOR_MT "recx.generator"

typedef struct generator_box {
    rx_generator *g;
} generator_box;

rx_generator *rxl_to_generator(lua_State *L, int idx)
{
    generator_box *b = luaL_testudata(L, idx, GENERATOR_MT);
    return b ? b->g : NULL;
}

rx_generator *rxl_check_generator(lua_State *L, int idx)
{
    generator_box *b = luaL_testudata(L, idx, GENERATOR_MT);
    if (!b || !b->g) rxl_arg_error(L, idx, "expected a generator (recx.tensor.generator(seed)), got %s",
                                   b ? "a freed generator" : luaL_typename(L, idx));
    return b->g;
}

static int generator_gc(lua_State *L)
{
    generator_box *b = luaL_checkudata(L, 1, GENERATOR_MT);
    rx_generator_free(b->g);
    b->g = NULL;
    return 0;
}

/* generator(seed) -> a new generator at offset 0 */
static int generator_new(lua_State *L)
{
    lua_Integer seed = rxl_check_integer(L, 1, "seed");
    generator_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->g = NULL;
    luaL_setmetatable(L, GENERATOR_MT);
    b->g = rx_generator_new((uint64_t)seed);
    if (!b->g) return luaL_error(L, "generator: could not create a generator (%s)", rx_last_error());
    return 1;
}

/* g:seed() -> seed; g:seed(n) reseeds (offset back to 0) and returns g */
static int generator_seed(lua_State *L)
{
    rx_generator *g = rxl_check_generator(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        rx_generator_set_seed(g, (uint64_t)rxl_check_integer(L, 2, "seed"));
        lua_settop(L, 1);
        return 1;
    }
    uint64_t seed, offset;
    rx_generator_get_state(g, &seed, &offset);
    lua_pushinteger(L, (lua_Integer)seed);
    return 1;
}

/* g:state() -> {seed=, offset=} */
static int generator_state(lua_State *L)
{
    rx_generator *g = rxl_check_generator(L, 1);
    uint64_t seed, offset;
    rx_generator_get_state(g, &seed, &offset);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)offset);
    lua_setfield(L, -2, "offset");
    return 1;
}

/* g:set_state({seed=, offset=}) -> g */
static int generator_set_state(lua_State *L)
{
    rx_generator *g = rxl_check_generator(L, 1);
    if (!lua_istable(L, 2))
        return rxl_arg_error(L, 2, "expected a state table {seed=, offset=} (from g:state()), got %s",
                             luaL_typename(L, 2));
    lua_getfield(L, 2, "seed");
    lua_getfield(L, 2, "offset");
    int ok_seed = 0, ok_offset = 0;
    lua_Integer seed = lua_tointegerx(L, -2, &ok_seed);
    lua_Integer offset = lua_tointegerx(L, -1, &ok_offset);
    if (!ok_seed || !ok_offset)
        return rxl_arg_error(L, 2, "expected integer fields seed and offset, got seed=%s offset=%s",
                             luaL_typename(L, -2), luaL_typename(L, -1));
    rx_generator_set_state(g, (uint64_t)seed, (uint64_t)offset);
    lua_settop(L, 1);
    return 1;
}

static int generator_tostring(lua_State *L)
{
    generator_box *b = luaL_checkudata(L, 1, GENERATOR_MT);
    if (!b->g) {
        lua_pushstring(L, "generator(freed)");
        return 1;
    }
    uint64_t seed, offset;
    rx_generator_get_state(b->g, &seed, &offset);
    lua_pushfstring(L, "generator(seed=%I, offset=%I)", (lua_Integer)seed, (lua_Integer)offset);
    return 1;
}

/* manual_seed(n): reseeds the default generator */
static int random_manual_seed(lua_State *L)
{
    lua_Integer seed = rxl_check_integer(L, 1, "seed");
    rx_generator_set_seed(rx_default_generator(), (uint64_t)seed);
    return 0;
}

/* rand/randn(shape... [, opts]) */
static int random_float(lua_State *L, int normal)
{
    int64_t shape[8];
    int nargs;
    int n = rxl_check_shape(L, 1, shape, &nargs);
    rx_dtype dtype = RX_F32;
    rx_device device;
    rx_generator *gen;
    rxl_check_opts(L, 1 + nargs, &dtype, &device, &gen);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, normal ? rx_randn(n, shape, dtype, device, gen, out)
                               : rx_rand(n, shape, dtype, device, gen, out));
    rxl_note_tensor(L, *out);
    return 1;
}

static int random_rand(lua_State *L) { return random_float(L, 0); }
static int random_randn(lua_State *L) { return random_float(L, 1); }

/* randint(low, high, shape [, opts]): integers in [low, high), i64 unless opts.dtype says */
static int random_randint(lua_State *L)
{
    lua_Integer low = rxl_check_integer(L, 1, "low");
    lua_Integer high = rxl_check_integer(L, 2, "high");
    if (high <= low)
        return rxl_arg_error(L, 2, "expected high > low, got low = %lld, high = %lld", (long long)low, (long long)high);
    int64_t shape[8];
    int nargs;
    int n = rxl_check_shape(L, 3, shape, &nargs);
    rx_dtype dtype = RX_I64;
    rx_device device;
    rx_generator *gen;
    rxl_check_opts(L, 3 + nargs, &dtype, &device, &gen);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_randint(low, high, n, shape, dtype, device, gen, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* p:bernoulli([opts]) draws 1 with probability p per element (p's dtype);
 * bernoulli(p, shape [, opts]) with a number p draws a new tensor (f32 by default). */
static int random_bernoulli(lua_State *L)
{
    rx_generator *gen;
    rx_tensor **out;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        double p = lua_tonumber(L, 1);
        int64_t shape[8];
        int nargs;
        int n = rxl_check_shape(L, 2, shape, &nargs);
        rx_dtype dtype = RX_F32;
        rx_device device;
        rxl_check_opts(L, 2 + nargs, &dtype, &device, &gen);
        out = rxl_push_slot(L);
        rxl_check_status(L, rx_bernoulli_scalar(p, n, shape, dtype, device, gen, out));
    } else {
        rx_tensor *p = rxl_check_tensor(L, 1);
        rxl_check_opts(L, 2, NULL, NULL, &gen);
        out = rxl_push_slot(L);
        rxl_check_status(L, rx_bernoulli(p, gen, out));
    }
    rxl_note_tensor(L, *out);
    return 1;
}

/* probs:multinomial(n [, replacement [, opts]]) -> i64 indices (0-based) */
static int random_multinomial(lua_State *L)
{
    rx_tensor *probs = rxl_check_tensor(L, 1);
    lua_Integer n = rxl_check_integer(L, 2, "sample count");
    int replacement = 0;
    if (!lua_isnoneornil(L, 3)) {
        if (!lua_isboolean(L, 3))
            return rxl_arg_error(L, 3, "expected replacement as a boolean, got %s", luaL_typename(L, 3));
        replacement = lua_toboolean(L, 3);
    }
    rx_generator *gen;
    rxl_check_opts(L, 4, NULL, NULL, &gen);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_multinomial(probs, n, replacement, gen, out));
    rxl_note_tensor(L, *out);
    return 1;
}

static const luaL_Reg generator_methods[] = {
    {"seed", generator_seed},
    {"state", generator_state},
    {"set_state", generator_set_state},
    {NULL, NULL},
};

void rxl_open_generator(lua_State *L)
{
    luaL_newmetatable(L, GENERATOR_MT);
    lua_pushcfunction(L, generator_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, generator_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, generator_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_newtable(L);
    rxl_set_funcs(L, generator_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

const luaL_Reg rxl_random_functions[] = {
    {"generator", generator_new}, {"manual_seed", random_manual_seed}, {"rand", random_rand},
    {"randn", random_randn},         {"randint", random_randint},          {NULL, NULL},
};

const luaL_Reg rxl_random_methods[] = {
    {"bernoulli", random_bernoulli},
    {"multinomial", random_multinomial},
    {NULL, NULL},
};
