/* tensor_math.c — reductions, scans, matmul, softmax, sorting, indexing and joining from Lua.
 *
 * Owns: the Lua argument conventions of these ops: dims are 1-based (negative from the end) and
 * given as one integer or a table of them ({1, 3}); keepdim is an optional boolean; max/min with
 * one dim return (values, indices); sort/topk return (values, indices). Index CONTENTS (argmax
 * results, sort/topk indices, index_select/gather/scatter_add index tensors) stay 0-based
 * offsets, exactly as the core defines them.
 */
#include "recx_lua.h"

#include <string.h>

/* ---- reductions ------------------------------------------------------------------------- */

/* Reads optional dims at idx (nil: all dims) into dims; returns the count. */
static int reduce_dims(lua_State *L, int idx, int ndim, int *dims)
{
    if (lua_isnoneornil(L, idx)) return 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        dims[0] = rxl_check_dim(L, idx, ndim);
        return 1;
    }
    if (!lua_istable(L, idx))
        return rxl_arg_error(L, idx, "expected a dim or a table of dims, got %s", luaL_typename(L, idx));
    int64_t raw[8];
    int n = rxl_check_shape(L, idx, raw, NULL);
    if (n == 0) return rxl_arg_error(L, idx, "expected at least one dim in the table (or nil for all dims)");
    int seen[8] = {0};
    for (int i = 0; i < n; i++) {
        dims[i] = rxl_dim_value(L, idx, raw[i], ndim);
        if (seen[dims[i]]) return rxl_arg_error(L, idx, "dim %lld appears twice", (long long)raw[i]);
        seen[dims[i]] = 1;
    }
    return n;
}

static int opt_bool(lua_State *L, int idx, const char *what, int dflt)
{
    if (lua_isnoneornil(L, idx)) return dflt;
    if (!lua_isboolean(L, idx)) return rxl_arg_error(L, idx, "expected %s as a boolean, got %s", what, luaL_typename(L, idx));
    return lua_toboolean(L, idx);
}

/* Ends a binding whose (values, indices) slots the core call filled: raises on failure, else
 * counts both tensors' bytes and returns them. */
static int finish_pair(lua_State *L, rx_status status, rx_tensor **values, rx_tensor **indices)
{
    rxl_check_status(L, status);
    rxl_note_tensor(L, *values);
    rxl_note_tensor(L, *indices);
    return 2;
}

/* The optional dim at idx (1-based, negative from the end); absent or nil: the last dim. */
static int opt_dim_last(lua_State *L, int idx, int ndim)
{
    return lua_isnoneornil(L, idx) ? rxl_dim_value(L, idx, -1, ndim) : rxl_check_dim(L, idx, ndim);
}

static int reduce(lua_State *L, rx_reduce_op op)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    int dims[8];
    int n = reduce_dims(L, 2, rx_tensor_ndim(a), dims);
    int keepdim = opt_bool(L, 3, "keepdim", 0);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_reduce(op, a, n, dims, keepdim, out));
    rxl_note_tensor(L, *out);
    return 1;
}

static int math_sum(lua_State *L) { return reduce(L, RX_SUM); }
static int math_mean(lua_State *L) { return reduce(L, RX_MEAN); }
static int math_prod(lua_State *L) { return reduce(L, RX_PROD); }
static int math_argmax(lua_State *L) { return reduce(L, RX_ARGMAX); }
static int math_argmin(lua_State *L) { return reduce(L, RX_ARGMIN); }
static int math_any(lua_State *L) { return reduce(L, RX_ANY); }
static int math_all(lua_State *L) { return reduce(L, RX_ALL); }

/* max/min(): the extreme as a 0-d tensor; max/min(dim [, keepdim]): values, indices;
 * max/min({dims} [, keepdim]): values */
static int extreme(lua_State *L, int is_max)
{
    if (lua_type(L, 2) != LUA_TNUMBER) return reduce(L, is_max ? RX_MAX : RX_MIN);
    rx_tensor *a = rxl_check_tensor(L, 1);
    int dim = rxl_check_dim(L, 2, rx_tensor_ndim(a));
    int keepdim = opt_bool(L, 3, "keepdim", 0);
    rx_tensor **values = rxl_push_slot(L);
    rx_tensor **indices = rxl_push_slot(L);
    return finish_pair(L,
                       is_max ? rx_max_dim(a, dim, keepdim, values, indices)
                              : rx_min_dim(a, dim, keepdim, values, indices),
                       values, indices);
}

static int math_max(lua_State *L) { return extreme(L, 1); }
static int math_min(lua_State *L) { return extreme(L, 0); }

/* Ops that take one required dim: cumsum, softmax, log_softmax. */
static int along_dim(lua_State *L, int which)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) return rxl_arg_error(L, 2, "expected a dim (1-based, -1 = last), got nil");
    int dim = rxl_check_dim(L, 2, rx_tensor_ndim(a));
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, which == 0   ? rx_cumsum(a, dim, out)
                        : which == 1 ? rx_softmax(a, dim, out)
                                     : rx_log_softmax(a, dim, out));
    rxl_note_tensor(L, *out);
    return 1;
}

static int math_cumsum(lua_State *L) { return along_dim(L, 0); }
static int math_softmax(lua_State *L) { return along_dim(L, 1); }
static int math_log_softmax(lua_State *L) { return along_dim(L, 2); }

/* ---- matmul, sorting ------------------------------------------------------------------- */

static int math_matmul(lua_State *L)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    rx_tensor *b = rxl_check_tensor(L, 2);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_matmul(a, b, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* sort([dim = -1 [, descending = false]]) -> values, indices (0-based, i64) */
static int math_sort(lua_State *L)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    int dim = opt_dim_last(L, 2, rx_tensor_ndim(a));
    int descending = opt_bool(L, 3, "descending", 0);
    rx_tensor **values = rxl_push_slot(L);
    rx_tensor **indices = rxl_push_slot(L);
    return finish_pair(L, rx_sort(a, dim, descending, values, indices), values, indices);
}

/* topk(k [, dim = -1 [, largest = true]]) -> values, indices (0-based, i64), sorted */
static int math_topk(lua_State *L)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    lua_Integer k = rxl_check_integer(L, 2, "k");
    int dim = opt_dim_last(L, 3, rx_tensor_ndim(a));
    int largest = opt_bool(L, 4, "largest", 1);
    rx_tensor **values = rxl_push_slot(L);
    rx_tensor **indices = rxl_push_slot(L);
    return finish_pair(L, rx_topk(a, k, dim, largest, values, indices), values, indices);
}

/* ---- indexing ---------------------------------------------------------------------------- */

/* The bindings (dim, index) -> out of index_select and gather. */
static int select_along(lua_State *L, rx_status (*fn)(rx_tensor *, int, rx_tensor *, rx_tensor **))
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    int dim = rxl_check_dim(L, 2, rx_tensor_ndim(a));
    rx_tensor *index = rxl_check_tensor(L, 3);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, fn(a, dim, index, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* index_select(dim, index): index is a 1-D i32/i64 tensor of 0-based offsets */
static int math_index_select(lua_State *L) { return select_along(L, rx_index_select); }

/* gather(dim, index): out[i][j] = a[index[i][j]][j] for dim 1 (0-based index contents) */
static int math_gather(lua_State *L) { return select_along(L, rx_gather); }

/* scatter_add(dim, index, src): a copy of a with src added at index along dim */
static int math_scatter_add(lua_State *L)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    int dim = rxl_check_dim(L, 2, rx_tensor_ndim(a));
    rx_tensor *index = rxl_check_tensor(L, 3);
    rx_tensor *src = rxl_check_tensor(L, 4);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_scatter_add(a, dim, index, src, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* ---- joining ------------------------------------------------------------------------------- */

/* Reads the list of tensors at argument 1 into a Lua-owned scratch array; returns the count. */
static int tensor_list(lua_State *L, rx_tensor ***list)
{
    if (!lua_istable(L, 1))
        return rxl_arg_error(L, 1, "expected a list of tensors ({a, b, ...}), got %s", luaL_typename(L, 1));
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n == 0) return rxl_arg_error(L, 1, "expected a non-empty list of tensors");
    if (n > 1 << 20) return rxl_arg_error(L, 1, "too many tensors (%lld)", (long long)n);
    rx_tensor **arr = lua_newuserdatauv(L, (size_t)n * sizeof *arr, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        if (!luaL_testudata(L, -1, RXL_TENSOR_MT))
            rxl_arg_error(L, 1, "element %lld is a %s, expected a tensor", (long long)(i + 1), luaL_typename(L, -1));
        arr[i] = rxl_to_tensor(L, -1);
        if (!arr[i]) rxl_arg_error(L, 1, "element %lld: tensor was released", (long long)(i + 1));
        lua_pop(L, 1);
    }
    *list = arr;
    return (int)n;
}

/* Raises a failed cat/stack: the core numbers the listed tensors as arguments #1..#n, which in
 * Lua are elements of argument #1. */
static void check_list_status(lua_State *L, rx_status st)
{
    if (st == RX_OK) return;
    const char *fname = rxl_fname(L);
    luaL_gsub(L, rx_last_error(), "argument #", "element #");
    lua_pushfstring(L, "%s: element #", fname);
    size_t n;
    const char *head = lua_tolstring(L, -1, &n);
    const char *msg = lua_tostring(L, -2);
    if (strncmp(msg, head, n) == 0)
        lua_pushfstring(L, "%s: argument #1: element #%s", fname, msg + n);
    else
        lua_pushvalue(L, -2);
    rxl_raise_message(L, lua_tostring(L, -1));
}

/* cat({tensors}, dim = 1): joins along an existing dim */
static int math_cat(lua_State *L)
{
    lua_settop(L, 2); /* the scratch array goes above the arguments */
    rx_tensor **list;
    int n = tensor_list(L, &list);
    int dim = lua_isnoneornil(L, 2) ? 0 : rxl_check_dim(L, 2, rx_tensor_ndim(list[0]));
    rx_tensor **out = rxl_push_slot(L);
    check_list_status(L, rx_cat(n, list, dim, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* stack({tensors}, dim = 1): joins along a new dim (1..ndim+1, or negative) */
static int math_stack(lua_State *L)
{
    lua_settop(L, 2);
    rx_tensor **list;
    int n = tensor_list(L, &list);
    int dim = 0;
    if (!lua_isnoneornil(L, 2)) {
        int ndim = rx_tensor_ndim(list[0]) + 1;
        lua_Integer d = rxl_check_integer(L, 2, "dim");
        if (d >= 1 && d <= ndim) dim = (int)d - 1;
        else if (d <= -1 && d >= -ndim) dim = (int)d + ndim;
        else
            return rxl_arg_error(L, 2, "dim %lld out of range to stack %d-D tensors (expected %d..%d excluding 0)",
                                 (long long)d, ndim - 1, -ndim, ndim);
    }
    rx_tensor **out = rxl_push_slot(L);
    check_list_status(L, rx_stack(n, list, dim, out));
    rxl_note_tensor(L, *out);
    return 1;
}

const luaL_Reg rxl_math_methods[] = {
    {"sum", math_sum},
    {"mean", math_mean},
    {"prod", math_prod},
    {"max", math_max},
    {"min", math_min},
    {"argmax", math_argmax},
    {"argmin", math_argmin},
    {"any", math_any},
    {"all", math_all},
    {"cumsum", math_cumsum},
    {"softmax", math_softmax},
    {"log_softmax", math_log_softmax},
    {"matmul", math_matmul},
    {"sort", math_sort},
    {"topk", math_topk},
    {"index_select", math_index_select},
    {"gather", math_gather},
    {"scatter_add", math_scatter_add},
    {NULL, NULL},
};

const luaL_Reg rxl_math_functions[] = {
    {"cat", math_cat},
    {"stack", math_stack},
    {NULL, NULL},
};
