/* tensor_create.c — new tensors from Lua: from (nested tables), zeros, ones, empty, full,
 * arange.
 *
 * Owns: inferring a shape from nested Lua tables (ragged tables are errors naming the path, as
 * [2][1]), the default dtypes (f32 for numbers, bool for booleans, i64 for an arange of
 * integers) and the shape/option argument conventions of the creation functions:
 * zeros({2, 3}, opts) or zeros(2, 3, opts).
 */
#include "recx_lua.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- from ------------------------------------------------------------------------------- */

enum { LEAF_NONE, LEAF_NUMBER, LEAF_BOOL };

typedef struct from_state {
    int ndim;
    int64_t shape[8];
    int64_t path[8]; /* 1-based indices down to the current element */
    int leaf;        /* kind of the first leaf */
    rx_dtype dtype;
    int64_t count;   /* elements written so far */
    void *buf;       /* int64_t for i64, double otherwise */
} from_state;

static const char *path_str(const from_state *s, int depth, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < depth && n < size; i++) n += (size_t)snprintf(buf + n, size - n, "[%lld]", (long long)s->path[i]);
    return buf;
}

/* Infers the shape by following the first element of each level. */
static void from_infer(lua_State *L, from_state *s)
{
    lua_pushvalue(L, 1);
    s->ndim = 0;
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (s->ndim == 8) rxl_arg_error(L, 1, "nested deeper than 8 dims");
        int64_t n = (int64_t)lua_rawlen(L, -1);
        s->shape[s->ndim++] = n;
        if (n == 0) break;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
}

/* Checks the value on top of the stack at `depth` against the inferred shape and writes its
 * leaves. Pops nothing. */
static void from_fill(lua_State *L, from_state *s, int depth)
{
    char pb[128];
    int type = lua_type(L, -1);
    if (depth < s->ndim) {
        if (type != LUA_TTABLE)
            rxl_arg_error(L, 1, "ragged nested table: element %s is a %s, expected a table of %lld elements",
                          path_str(s, depth, pb, sizeof pb), lua_typename(L, type), (long long)s->shape[depth]);
        int64_t n = (int64_t)lua_rawlen(L, -1);
        if (n != s->shape[depth])
            rxl_arg_error(L, 1, "ragged nested table: %s has %lld elements, expected %lld",
                          depth ? path_str(s, depth, pb, sizeof pb) : "the table", (long long)n,
                          (long long)s->shape[depth]);
        for (int64_t i = 1; i <= n; i++) {
            s->path[depth] = i;
            lua_rawgeti(L, -1, (lua_Integer)i);
            from_fill(L, s, depth + 1);
            lua_pop(L, 1);
        }
        return;
    }
    int kind = type == LUA_TNUMBER ? LEAF_NUMBER : type == LUA_TBOOLEAN ? LEAF_BOOL : LEAF_NONE;
    if (kind == LEAF_NONE) {
        if (type == LUA_TTABLE)
            rxl_arg_error(L, 1, "ragged nested table: element %s is a table, expected a number",
                          path_str(s, depth, pb, sizeof pb));
        rxl_arg_error(L, 1, "element %s is a %s, expected a number or a boolean", path_str(s, depth, pb, sizeof pb),
                      lua_typename(L, type));
    }
    if (s->leaf == LEAF_NONE) s->leaf = kind;
    if (kind != s->leaf)
        rxl_arg_error(L, 1, "element %s is a %s but the first element is a %s (no mixing)",
                      path_str(s, depth, pb, sizeof pb), lua_typename(L, type),
                      s->leaf == LEAF_BOOL ? "boolean" : "number");
    if (!s->buf) return; /* the checking pass */
    if (s->dtype == RX_I64) {
        int64_t v;
        if (kind == LEAF_BOOL) v = lua_toboolean(L, -1);
        else if (lua_isinteger(L, -1)) v = (int64_t)lua_tointeger(L, -1);
        else {
            double d = lua_tonumber(L, -1);
            if (!isfinite(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0)
                rxl_arg_error(L, 1, "element %s = %g does not fit in i64", path_str(s, depth, pb, sizeof pb), d);
            v = (int64_t)d;
        }
        ((int64_t *)s->buf)[s->count++] = v;
    } else {
        double v = kind == LEAF_BOOL ? (double)lua_toboolean(L, -1) : (double)lua_tonumber(L, -1);
        ((double *)s->buf)[s->count++] = v;
    }
}

/* from(table | number | boolean [, {dtype=, device=}]) -> tensor */
static int create_from(lua_State *L)
{
    int type = lua_type(L, 1);
    if (type != LUA_TTABLE && type != LUA_TNUMBER && type != LUA_TBOOLEAN)
        return rxl_arg_error(L, 1, "expected a (nested) table of numbers or booleans, got %s", luaL_typename(L, 1));
    from_state s;
    memset(&s, 0, sizeof s);
    from_infer(L, &s);
    /* pass 1: shape and kinds, before anything is allocated */
    lua_pushvalue(L, 1);
    from_fill(L, &s, 0);
    lua_pop(L, 1);
    rx_dtype dtype = s.leaf == LEAF_BOOL ? RX_BOOL : RX_F32;
    rx_device device;
    rxl_check_opts(L, 2, &dtype, &device, NULL);
    int64_t numel = 1;
    for (int i = 0; i < s.ndim; i++) numel *= s.shape[i];
    /* pass 2: values into a scratch buffer owned by Lua */
    s.dtype = dtype;
    s.buf = lua_newuserdatauv(L, (size_t)(numel ? numel : 1) * 8, 0);
    s.count = 0;
    lua_pushvalue(L, 1);
    from_fill(L, &s, 0);
    lua_pop(L, 1);
    rx_tensor **out = rxl_push_slot(L);
    rx_status st;
    if (dtype == RX_I64) st = rx_from_buffer(s.ndim, s.shape, RX_I64, s.buf, out);
    else st = rx_from_doubles(s.ndim, s.shape, dtype, s.buf, out);
    rxl_check_status(L, st);
    if (device.type != RX_CPU) {
        rx_tensor *host = *out;
        *out = NULL;
        st = rx_to_device(host, device, out);
        rx_tensor_release(host);
        rxl_check_status(L, st);
    }
    rxl_note_tensor(L, *out);
    return 1;
}

/* ---- zeros, ones, empty, full ------------------------------------------------------------ */

/* Reads a creation shape at idx (table, or integers) with sizes >= 0; returns the dim count
 * and the index of the argument after it. */
static int creation_shape(lua_State *L, int idx, int64_t *shape, int *next)
{
    int nargs = 0;
    int n = rxl_check_shape(L, idx, shape, &nargs);
    int table = lua_type(L, idx) == LUA_TTABLE;
    for (int i = 0; i < n; i++)
        if (shape[i] < 0)
            rxl_arg_error(L, table ? idx : idx + i, "size %lld at dim %d is negative", (long long)shape[i], i + 1);
    *next = idx + nargs;
    return n;
}

static int create_filled(lua_State *L, int kind)
{
    int64_t shape[8];
    int next;
    int n = creation_shape(L, 1, shape, &next);
    rx_dtype dtype = RX_F32;
    rx_device device;
    rxl_check_opts(L, next, &dtype, &device, NULL);
    rx_tensor **out = rxl_push_slot(L);
    rx_status st = kind == 0   ? rx_zeros(n, shape, dtype, device, out)
                   : kind == 1 ? rx_ones(n, shape, dtype, device, out)
                               : rx_empty(n, shape, dtype, device, out);
    rxl_check_status(L, st);
    rxl_note_tensor(L, *out);
    return 1;
}

static int create_zeros(lua_State *L) { return create_filled(L, 0); }
static int create_ones(lua_State *L) { return create_filled(L, 1); }
static int create_empty(lua_State *L) { return create_filled(L, 2); }

/* full(shape, value [, opts]); shape is a table or a single integer. */
static int create_full(lua_State *L)
{
    int64_t shape[8];
    int n = 1;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        shape[0] = rxl_check_integer(L, 1, "size");
        if (shape[0] < 0) return rxl_arg_error(L, 1, "size %lld at dim 1 is negative", (long long)shape[0]);
    } else {
        if (!lua_istable(L, 1))
            return rxl_arg_error(L, 1, "expected a shape (a table like {2, 3}), got %s", luaL_typename(L, 1));
        int next;
        n = creation_shape(L, 1, shape, &next);
    }
    double value;
    rx_dtype dtype = RX_F32;
    if (lua_type(L, 2) == LUA_TBOOLEAN) {
        value = lua_toboolean(L, 2);
        dtype = RX_BOOL;
    } else if (lua_type(L, 2) == LUA_TNUMBER) {
        value = lua_tonumber(L, 2);
    } else {
        return rxl_arg_error(L, 2, "expected a fill value (a number or a boolean), got %s", luaL_typename(L, 2));
    }
    rx_device device;
    rxl_check_opts(L, 3, &dtype, &device, NULL);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_full(n, shape, value, dtype, device, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* arange(n) / arange(start, stop [, step]) [, opts]: [start, stop) by step; i64 when every
 * argument is an integer, f32 otherwise (opts.dtype overrides). */
static int create_arange(lua_State *L)
{
    int nnum = 0;
    while (nnum < 3 && lua_type(L, nnum + 1) == LUA_TNUMBER) nnum++;
    if (nnum == 0)
        return rxl_arg_error(L, 1, "expected a number (arange(n) or arange(start, stop [, step])), got %s",
                             luaL_typename(L, 1));
    int all_int = 1;
    for (int i = 1; i <= nnum; i++) all_int &= lua_isinteger(L, i);
    double start = 0, stop, step = 1;
    if (nnum == 1) {
        stop = lua_tonumber(L, 1);
    } else {
        start = lua_tonumber(L, 1);
        stop = lua_tonumber(L, 2);
        if (nnum == 3) step = lua_tonumber(L, 3);
    }
    if (nnum == 3 && step == 0) return rxl_arg_error(L, 3, "step must not be 0");
    rx_dtype dtype = all_int ? RX_I64 : RX_F32;
    rx_device device;
    rxl_check_opts(L, nnum + 1, &dtype, &device, NULL);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_arange(start, stop, step, dtype, device, out));
    rxl_note_tensor(L, *out);
    return 1;
}

const luaL_Reg rxl_create_functions[] = {
    {"from", create_from},   {"zeros", create_zeros}, {"ones", create_ones},   {"empty", create_empty},
    {"full", create_full},   {"arange", create_arange}, {NULL, NULL},
};
