/* tensor.c — the recx.tensor userdata: ownership, argument checks, and assembling the module.
 *
 * Owns: boxing a retained rx_tensor in a userdata (__gc = __close = release, idempotent), the
 * "tensor was released" check, the helpers every binding file uses to read arguments in Lua
 * terms (1-based dims, shapes as tables or integers, {dtype=, device=, generator=} options) and
 * to raise "<function>: argument #<n>: ..." errors, and rxl_open_tensor, which builds the
 * tensor metatable and the recx.tensor table from the function lists of the other files.
 *
 * Results are born owned by Lua: a binding pushes an empty box (rxl_push_slot) and lets the
 * core write its new reference straight into it, so no later Lua error can leak the result.
 * Temporaries that are not results are released explicitly before any error is raised.
 */
#include "recx_lua.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tensor_box {
    rx_tensor *t; /* NULL until filled and once released */
} tensor_box;

/* ---- names and errors ------------------------------------------------------------------ */

const char *rxl_fname(lua_State *L)
{
    if (lua_type(L, lua_upvalueindex(1)) == LUA_TSTRING) return lua_tostring(L, lua_upvalueindex(1));
    lua_Debug ar;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) return ar.name;
    return "?";
}

int rxl_arg_error(lua_State *L, int idx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return luaL_error(L, "%s: argument #%d: %s", rxl_fname(L), idx, msg);
}

/* Pushes a core message in Lua terms. The core names dims 0-based ("index 9 out of range for
 * dim 0 of size 4"); Lua code counts them from 1, so "dim N" and "dim but N" (N >= 0) become
 * N + 1. A dim reported as itself out of range ("dim 3 out of range ...") is left alone: it can
 * only come from a 0-based check whose range text would no longer match, and the bindings
 * check every Lua dim first anyway. */
static void push_lua_terms(lua_State *L, const char *msg)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *p = msg;
    for (;;) {
        const char *hit = strstr(p, "dim ");
        if (!hit) {
            luaL_addstring(&b, p);
            break;
        }
        const char *q = hit + 4;
        if (strncmp(q, "but ", 4) == 0) q += 4;
        int word = hit == msg || !(isalnum((unsigned char)hit[-1]) || hit[-1] == '_');
        if (word && isdigit((unsigned char)*q)) {
            char *end;
            long long n = strtoll(q, &end, 10);
            if (strncmp(end, " out of range", 13) != 0) {
                char num[32];
                snprintf(num, sizeof num, "%lld", n + 1);
                luaL_addlstring(&b, p, (size_t)(q - p));
                luaL_addstring(&b, num);
                p = end;
                continue;
            }
        }
        luaL_addlstring(&b, p, (size_t)(hit + 4 - p));
        p = hit + 4;
    }
    luaL_pushresult(&b);
}

int rxl_raise_message(lua_State *L, const char *msg)
{
    luaL_where(L, 1);
    push_lua_terms(L, msg);
    lua_concat(L, 2);
    return lua_error(L);
}

int rxl_raise(lua_State *L, rx_status status)
{
    const char *msg = rx_last_error();
    if (!msg[0]) return luaL_error(L, "%s: %s", rxl_fname(L), rx_status_name(status));
    return rxl_raise_message(L, msg);
}

void rxl_check_status(lua_State *L, rx_status status)
{
    if (status != RX_OK) rxl_raise(L, status);
}

void rxl_set_funcs(lua_State *L, const luaL_Reg *funcs)
{
    for (; funcs->name; funcs++) {
        const char *name = funcs->name;
        lua_pushstring(L, strncmp(name, "__", 2) == 0 ? name + 2 : name);
        lua_pushcclosure(L, funcs->func, 1);
        lua_setfield(L, -2, name);
    }
}

/* ---- boxes ------------------------------------------------------------------------------ */

rx_tensor *rxl_to_tensor(lua_State *L, int idx)
{
    tensor_box *b = luaL_testudata(L, idx, RXL_TENSOR_MT);
    return b ? b->t : NULL;
}

rx_tensor *rxl_check_tensor(lua_State *L, int idx)
{
    tensor_box *b = luaL_testudata(L, idx, RXL_TENSOR_MT);
    if (!b) rxl_arg_error(L, idx, "expected a tensor, got %s", luaL_typename(L, idx));
    if (!b->t) rxl_arg_error(L, idx, "tensor was released");
    return b->t;
}

rx_tensor **rxl_push_slot(lua_State *L)
{
    tensor_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->t = NULL;
    luaL_setmetatable(L, RXL_TENSOR_MT);
    return &b->t;
}

void rxl_note_tensor(lua_State *L, const rx_tensor *t)
{
    if (t) rxl_note_external_bytes(L, rx_tensor_numel(t) * rx_dtype_size(rx_tensor_dtype(t)));
}

void rxl_push_tensor(lua_State *L, rx_tensor *t)
{
    *rxl_push_slot(L) = t;
    rxl_note_tensor(L, t);
}

static int tensor_release(lua_State *L)
{
    tensor_box *b = luaL_checkudata(L, 1, RXL_TENSOR_MT);
    rx_tensor *t = b->t;
    b->t = NULL;
    rx_tensor_release(t);
    return 0;
}

/* ---- argument readers ----------------------------------------------------------------- */

/* The integer at stack index vidx, reported as argument #argn when it is not one. */
static lua_Integer integer_at(lua_State *L, int vidx, int argn, const char *what)
{
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, vidx, &ok);
    if (ok && lua_type(L, vidx) == LUA_TNUMBER) return v;
    if (lua_type(L, vidx) == LUA_TNUMBER)
        rxl_arg_error(L, argn, "expected an integer %s, got %.14g", what, lua_tonumber(L, vidx));
    rxl_arg_error(L, argn, "expected an integer %s, got %s", what, luaL_typename(L, vidx));
    return 0;
}

lua_Integer rxl_check_integer(lua_State *L, int idx, const char *what)
{
    return integer_at(L, idx, idx, what);
}

int rxl_dim_value(lua_State *L, int idx, lua_Integer d, int ndim)
{
    int n = ndim > 0 ? ndim : 1; /* a 0-d tensor has one implicit dim */
    if (d >= 1 && d <= n) return (int)(d - 1);
    if (d <= -1 && d >= -n) return (int)(d + n);
    rxl_arg_error(L, idx, "dim %lld out of range for a %d-D tensor (expected %d..%d excluding 0)", (long long)d,
                  ndim, -n, n);
    return 0;
}

int rxl_check_dim(lua_State *L, int idx, int ndim)
{
    return rxl_dim_value(L, idx, rxl_check_integer(L, idx, "dim"), ndim);
}

int rxl_check_shape(lua_State *L, int idx, int64_t *shape, int *nargs)
{
    int type = lua_type(L, idx);
    if (type == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        if (n > 8) rxl_arg_error(L, idx, "expected at most 8 dims, got %lld", (long long)n);
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, idx, i + 1);
            int ok = 0;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || lua_type(L, -1) != LUA_TNUMBER) {
                if (lua_type(L, -1) == LUA_TNUMBER)
                    rxl_arg_error(L, idx, "expected a shape (a list of integers), element %d is the non-integer %.14g",
                                  i + 1, lua_tonumber(L, -1));
                rxl_arg_error(L, idx, "expected a shape (a list of integers), element %d is a %s", i + 1,
                              luaL_typename(L, -1));
            }
            shape[i] = v;
            lua_pop(L, 1);
        }
        if (nargs) *nargs = 1;
        return (int)n;
    }
    if (type != LUA_TNUMBER)
        rxl_arg_error(L, idx, "expected a shape (a table like {2, 3} or integers), got %s", luaL_typename(L, idx));
    int n = 0;
    while (lua_type(L, idx + n) == LUA_TNUMBER) {
        if (n == 8) rxl_arg_error(L, idx + n, "expected at most 8 dims, got more");
        shape[n] = integer_at(L, idx + n, idx + n, "size");
        n++;
    }
    if (nargs) *nargs = n;
    return n;
}

/* The dtype named by the string at vidx, reported as argument #argn. */
static rx_dtype dtype_at(lua_State *L, int vidx, int argn)
{
    if (lua_type(L, vidx) != LUA_TSTRING)
        rxl_arg_error(L, argn, "expected a dtype name such as \"f32\", got %s", luaL_typename(L, vidx));
    const char *name = lua_tostring(L, vidx);
    if (strncmp(name, "torch.", 6) == 0) name += 6;
    rx_dtype d;
    if (rx_dtype_from_name(name, &d) != RX_OK) rxl_arg_error(L, argn, "%s", rx_last_error());
    return d;
}

rx_dtype rxl_check_dtype(lua_State *L, int idx) { return dtype_at(L, idx, idx); }

void rxl_check_opts(lua_State *L, int idx, rx_dtype *dtype, rx_device *device, rx_generator **gen)
{
    if (device) *device = rx_cpu();
    if (gen) *gen = NULL;
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx))
        rxl_arg_error(L, idx, "expected an options table such as {dtype = \"f32\", device = \"cpu\"}, got %s",
                      luaL_typename(L, idx));
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (key && strcmp(key, "dtype") == 0 && dtype) {
            *dtype = dtype_at(L, -1, idx);
        } else if (key && strcmp(key, "device") == 0 && device) {
            if (lua_type(L, -1) != LUA_TSTRING)
                rxl_arg_error(L, idx, "device: expected a name such as \"cpu\" or \"cuda:0\", got %s",
                              luaL_typename(L, -1));
            if (rx_device_from_name(lua_tostring(L, -1), device) != RX_OK)
                rxl_arg_error(L, idx, "%s", rx_last_error());
            if (device->type == RX_CUDA && device->index >= rx_cuda_device_count())
                rxl_arg_error(L, idx, "device '%s' is not available (this recx sees %d CUDA device(s)%s)",
                              lua_tostring(L, -1), rx_cuda_device_count(),
                              rx_cuda_available() ? "" : "; it may be built without CUDA");
        } else if (key && strcmp(key, "generator") == 0 && gen) {
            if (!lua_isnil(L, -1) && !(*gen = rxl_to_generator(L, -1)))
                rxl_arg_error(L, idx, "generator: expected a generator (recx.tensor.generator(seed)), got %s",
                              luaL_typename(L, -1));
        } else {
            lua_pushvalue(L, -2);
            const char *shown = luaL_tolstring(L, -1, NULL);
            char known[64] = "";
            if (dtype) strcat(known, "dtype");
            if (device) strcat(known, known[0] ? ", device" : "device");
            if (gen) strcat(known, known[0] ? ", generator" : "generator");
            rxl_arg_error(L, idx, "unknown option '%s' (expected %s)", shown, known);
        }
        lua_pop(L, 1);
    }
}

/* ---- methods that belong to the box itself ------------------------------------------- */

static int tensor_len(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    if (rx_tensor_ndim(t) == 0) return rxl_arg_error(L, 1, "a 0-d tensor has no length");
    lua_pushinteger(L, rx_tensor_size(t, 0));
    return 1;
}

static int tensor_is_tensor(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, RXL_TENSOR_MT) != NULL);
    return 1;
}

static int tensor_is_released(lua_State *L)
{
    tensor_box *b = luaL_testudata(L, 1, RXL_TENSOR_MT);
    if (!b) return rxl_arg_error(L, 1, "expected a tensor, got %s", luaL_typename(L, 1));
    lua_pushboolean(L, b->t == NULL);
    return 1;
}

static const luaL_Reg box_methods[] = {
    {"release", tensor_release},
    {"is_released", tensor_is_released},
    {NULL, NULL},
};

static const luaL_Reg box_functions[] = {
    {"is_tensor", tensor_is_tensor},
    {NULL, NULL},
};

static const luaL_Reg box_metamethods[] = {
    {"__gc", tensor_release},
    {"__close", tensor_release},
    {"__len", tensor_len},
    {"__tostring", rxl_tensor_tostring},
    {NULL, NULL},
};

void rxl_open_tensor(lua_State *L)
{
    const luaL_Reg *methods[] = {box_methods,       rxl_view_methods, rxl_ops_methods,    rxl_math_methods,
                                 rxl_random_methods, rxl_print_methods, NULL};
    const luaL_Reg *functions[] = {box_functions, rxl_create_functions, rxl_random_functions, rxl_ops_functions,
                                   rxl_math_functions, NULL};
    rxl_open_generator(L);
    luaL_newmetatable(L, RXL_TENSOR_MT); /* also sets __name = "recx.tensor" */
    rxl_set_funcs(L, box_metamethods);
    rxl_set_funcs(L, rxl_ops_metamethods);
    lua_newtable(L); /* methods */
    for (int i = 0; methods[i]; i++) rxl_set_funcs(L, methods[i]);
    lua_newtable(L); /* recx.tensor: the methods plus the functions */
    lua_pushnil(L);
    while (lua_next(L, -3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -4);
    }
    for (int i = 0; functions[i]; i++) rxl_set_funcs(L, functions[i]);
    lua_insert(L, -3);          /* module, metatable, methods */
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);              /* the metatable */
    lua_setfield(L, -2, "tensor");
}
