/* tensor_views.c — tensor metadata, views and copies from Lua.
 *
 * Owns: shape/size/stride/dim/numel/dtype/device queries; the views (view, reshape, narrow,
 * select, transpose, t, permute, expand, squeeze, unsqueeze), which share storage; and the
 * spelled copies (contiguous, clone, to, copy_, copy_at_, fill_). Positions given as Lua numbers are
 * 1-based here (dims, narrow's start, select's index; negatives count from the end) and are
 * checked and reported in those terms before the 0-based core call.
 */
#include "recx_lua.h"

#include <stdio.h>
#include <string.h>

static void push_shape_list(lua_State *L, int n, const int64_t *v)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static const char *shape_str(int n, const int64_t *shape, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < n && k < size; i++) k += (size_t)snprintf(buf + k, size - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < size) snprintf(buf + k, size - k, ")");
    return buf;
}

/* ---- metadata --------------------------------------------------------------------------- */

static int view_shape(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    push_shape_list(L, rx_tensor_ndim(t), rx_tensor_shape_ptr(t));
    return 1;
}

static int view_size(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) return view_shape(L);
    int ndim = rx_tensor_ndim(t);
    if (ndim == 0) return rxl_arg_error(L, 2, "a 0-d tensor has no dims");
    lua_pushinteger(L, rx_tensor_shape_ptr(t)[rxl_check_dim(L, 2, ndim)]);
    return 1;
}

static int view_stride(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int ndim = rx_tensor_ndim(t);
    if (lua_isnoneornil(L, 2)) {
        push_shape_list(L, ndim, rx_tensor_strides_ptr(t));
        return 1;
    }
    if (ndim == 0) return rxl_arg_error(L, 2, "a 0-d tensor has no dims");
    lua_pushinteger(L, rx_tensor_strides_ptr(t)[rxl_check_dim(L, 2, ndim)]);
    return 1;
}

static int view_dim(lua_State *L)
{
    lua_pushinteger(L, rx_tensor_ndim(rxl_check_tensor(L, 1)));
    return 1;
}

static int view_numel(lua_State *L)
{
    lua_pushinteger(L, rx_tensor_numel(rxl_check_tensor(L, 1)));
    return 1;
}

static int view_dtype(lua_State *L)
{
    lua_pushstring(L, rx_dtype_name(rx_tensor_dtype(rxl_check_tensor(L, 1))));
    return 1;
}

static int view_device(lua_State *L)
{
    rx_device d = rx_tensor_device(rxl_check_tensor(L, 1));
    if (d.type == RX_CPU) lua_pushstring(L, "cpu");
    else lua_pushfstring(L, "cuda:%d", d.index);
    return 1;
}

static int view_is_contiguous(lua_State *L)
{
    lua_pushboolean(L, rx_tensor_is_contiguous(rxl_check_tensor(L, 1)));
    return 1;
}

static int view_version(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rx_tensor_version(rxl_check_tensor(L, 1)));
    return 1;
}

static int view_shares_storage(lua_State *L)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    rx_tensor *b = rxl_check_tensor(L, 2);
    lua_pushboolean(L, rx_tensor_shares_storage(a, b));
    return 1;
}

/* ---- views -------------------------------------------------------------------------------- */

/* Pushes the view the core wrote into a fresh slot (views allocate no storage). */
#define VIEW_CALL(call_with_out)                         \
    do {                                                 \
        rx_tensor **out = rxl_push_slot(L);              \
        rxl_check_status(L, call_with_out);              \
        return 1;                                        \
    } while (0)

static int view_reshape_impl(lua_State *L, int copy_ok)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int64_t shape[8];
    int n = rxl_check_shape(L, 2, shape, NULL);
    int table = lua_type(L, 2) == LUA_TTABLE;
    for (int i = 0; i < n; i++)
        if (shape[i] < -1) rxl_arg_error(L, table ? 2 : 2 + i, "invalid size %lld at dim %d", (long long)shape[i], i + 1);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, copy_ok ? rx_reshape(t, n, shape, out) : rx_view(t, n, shape, out));
    if (copy_ok && !rx_tensor_shares_storage(t, *out)) rxl_note_tensor(L, *out);
    return 1;
}

static int view_view(lua_State *L) { return view_reshape_impl(L, 0); }
static int view_reshape(lua_State *L) { return view_reshape_impl(L, 1); }

/* narrow(dim, start, length): start is 1-based (negative: from the end) */
static int view_narrow(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int ndim = rx_tensor_ndim(t);
    if (ndim == 0) return rxl_arg_error(L, 1, "cannot narrow a 0-d tensor");
    lua_Integer ldim = rxl_check_integer(L, 2, "dim");
    int d = rxl_dim_value(L, 2, ldim, ndim);
    lua_Integer start = rxl_check_integer(L, 3, "start");
    lua_Integer length = rxl_check_integer(L, 4, "length");
    int64_t size = rx_tensor_shape_ptr(t)[d];
    int64_t s0;
    if (start >= 1 && start <= size + 1) s0 = start - 1;
    else if (start <= -1 && start >= -size) s0 = size + start;
    else
        return rxl_arg_error(L, 3, "start %lld out of range for dim %lld of size %lld (expected 1..%lld, or -%lld..-1 "
                             "from the end)", (long long)start, (long long)ldim, (long long)size,
                             (long long)size + 1, (long long)size);
    if (length < 0 || s0 + length > size)
        return rxl_arg_error(L, 4, "length %lld from start %lld goes past the end of dim %lld (size %lld)",
                             (long long)length, (long long)start, (long long)ldim, (long long)size);
    VIEW_CALL(rx_narrow(t, d, s0, length, out));
}

/* select(dim, index): index is 1-based (negative: from the end); drops the dim */
static int view_select(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int ndim = rx_tensor_ndim(t);
    if (ndim == 0) return rxl_arg_error(L, 1, "cannot select from a 0-d tensor");
    lua_Integer ldim = rxl_check_integer(L, 2, "dim");
    int d = rxl_dim_value(L, 2, ldim, ndim);
    lua_Integer index = rxl_check_integer(L, 3, "index");
    int64_t size = rx_tensor_shape_ptr(t)[d];
    int64_t i0;
    if (index >= 1 && index <= size) i0 = index - 1;
    else if (index <= -1 && index >= -size) i0 = size + index;
    else
        return rxl_arg_error(L, 3, "index %lld out of range for dim %lld of size %lld (expected -%lld..%lld excluding 0)",
                             (long long)index, (long long)ldim, (long long)size, (long long)size, (long long)size);
    VIEW_CALL(rx_select(t, d, i0, out));
}

static int view_transpose(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int ndim = rx_tensor_ndim(t);
    int a = rxl_check_dim(L, 2, ndim);
    int b = rxl_check_dim(L, 3, ndim);
    VIEW_CALL(rx_transpose(t, a, b, out));
}

/* t(): transpose of a 2-D tensor; 0-D and 1-D tensors come back as views of themselves */
static int view_t(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int ndim = rx_tensor_ndim(t);
    if (ndim > 2) return rxl_arg_error(L, 1, "expected a tensor with at most 2 dims, got %d-D (use transpose)", ndim);
    if (ndim < 2) VIEW_CALL(rx_transpose(t, 0, 0, out));
    VIEW_CALL(rx_transpose(t, 0, 1, out));
}

/* permute(d1, d2, ...) or permute({d1, d2, ...}) */
static int view_permute(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int ndim = rx_tensor_ndim(t);
    int64_t dims[8];
    int n = rxl_check_shape(L, 2, dims, NULL);
    int table = lua_type(L, 2) == LUA_TTABLE;
    if (n != ndim) return rxl_arg_error(L, 2, "expected %d dims for a %d-D tensor, got %d", ndim, ndim, n);
    int perm[8];
    int seen[8] = {0};
    for (int i = 0; i < n; i++) {
        int argn = table ? 2 : 2 + i;
        perm[i] = rxl_dim_value(L, argn, dims[i], ndim);
        if (seen[perm[i]]) return rxl_arg_error(L, argn, "dim %d appears twice", perm[i] + 1);
        seen[perm[i]] = 1;
    }
    VIEW_CALL(rx_permute(t, n, perm, out));
}

/* Checks that a tensor of shape `from` can broadcast to `to`, reporting as argument #argn with
 * Lua dims. */
static void check_expand(lua_State *L, int argn, int nfrom, const int64_t *from, int nto, const int64_t *to,
                         int allow_keep)
{
    char b1[128], b2[128];
    if (nto < nfrom)
        rxl_arg_error(L, argn, "cannot expand %s to %s (fewer dims)", shape_str(nfrom, from, b1, sizeof b1),
                      shape_str(nto, to, b2, sizeof b2));
    int lead = nto - nfrom;
    for (int i = 0; i < nto; i++) {
        int k = i - lead;
        if (k < 0) {
            if (to[i] < 0)
                rxl_arg_error(L, argn, "size %lld is not allowed for the new leading dim %d", (long long)to[i], i + 1);
        } else if (!((allow_keep && to[i] == -1) || to[i] == from[k] || (from[k] == 1 && to[i] >= 0))) {
            rxl_arg_error(L, argn, "cannot expand %s to %s: dim %d has size %lld, not 1",
                          shape_str(nfrom, from, b1, sizeof b1), shape_str(nto, to, b2, sizeof b2), k + 1,
                          (long long)from[k]);
        }
    }
}

/* expand(sizes...) or expand({sizes}); -1 keeps a size */
static int view_expand(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int64_t shape[8];
    int n = rxl_check_shape(L, 2, shape, NULL);
    check_expand(L, 2, rx_tensor_ndim(t), rx_tensor_shape_ptr(t), n, shape, 1);
    VIEW_CALL(rx_expand(t, n, shape, out));
}

/* squeeze([dim]): drops size-1 dims (all, or the one given when its size is 1) */
static int view_squeeze(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) VIEW_CALL(rx_squeeze_all(t, out));
    int d = rxl_check_dim(L, 2, rx_tensor_ndim(t));
    VIEW_CALL(rx_squeeze(t, d, out));
}

/* unsqueeze(dim): a new size-1 dim at position dim of the result (1..ndim+1, or negative) */
static int view_unsqueeze(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    int ndim = rx_tensor_ndim(t);
    lua_Integer d = rxl_check_integer(L, 2, "dim");
    int n = ndim + 1;
    int d0;
    if (d >= 1 && d <= n) d0 = (int)d - 1;
    else if (d <= -1 && d >= -n) d0 = (int)d + n;
    else
        return rxl_arg_error(L, 2, "dim %lld out of range to unsqueeze a %d-D tensor (expected %d..%d excluding 0)",
                             (long long)d, ndim, -n, n);
    VIEW_CALL(rx_unsqueeze(t, d0, out));
}

/* ---- copies ---------------------------------------------------------------------------- */

static int view_contiguous(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_contiguous(t, out));
    if (*out != t) rxl_note_tensor(L, *out);
    return 1;
}

static int view_clone(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_clone(t, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* to("bf16" | "cuda:0" | {dtype=, device=}): the same tensor (a new handle) when nothing
 * changes, else a copy */
static int view_to(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_dtype dtype = rx_tensor_dtype(t);
    rx_device device = rx_tensor_device(t);
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *name = lua_tostring(L, 2);
        const char *dname = strncmp(name, "torch.", 6) == 0 ? name + 6 : name;
        if (rx_dtype_from_name(dname, &dtype) != RX_OK && rx_device_from_name(name, &device) != RX_OK)
            return rxl_arg_error(L, 2, "unknown dtype or device '%s' (expected a dtype such as \"bf16\" or a device "
                                 "such as \"cpu\" or \"cuda:0\")", name);
    } else if (lua_istable(L, 2)) {
        rx_device given;
        lua_getfield(L, 2, "device");
        int has_device = !lua_isnil(L, -1);
        lua_pop(L, 1);
        rxl_check_opts(L, 2, &dtype, &given, NULL);
        if (has_device) device = given;
    } else {
        return rxl_arg_error(L, 2, "expected a dtype, a device or {dtype=, device=}, got %s", luaL_typename(L, 2));
    }
    rx_tensor **out = rxl_push_slot(L);
    rx_tensor *moved = NULL;
    rx_status st = rx_to_device(t, device, &moved);
    if (st == RX_OK) st = rx_to_dtype(moved, dtype, out);
    rx_tensor_release(moved);
    rxl_check_status(L, st);
    if (*out != t) rxl_note_tensor(L, *out);
    return 1;
}

/* dst:copy_(src) -> dst; src broadcast to dst's shape, casts allowed */
static int view_copy_(lua_State *L)
{
    rx_tensor *dst = rxl_check_tensor(L, 1);
    rx_tensor *src = rxl_check_tensor(L, 2);
    check_expand(L, 2, rx_tensor_ndim(src), rx_tensor_shape_ptr(src), rx_tensor_ndim(dst), rx_tensor_shape_ptr(dst), 0);
    rxl_check_status(L, rx_copy_(dst, src));
    lua_settop(L, 1);
    return 1;
}

/* dst:copy_at_(dim, offset, src) -> dst; dst narrowed along dim (1-based) to [off, off + len)
 * receives src, off being the one element of the i32/i64 tensor offset (0-based, like index
 * tensors), read on the device where it lives */
static int view_copy_at_(lua_State *L)
{
    rx_tensor *dst = rxl_check_tensor(L, 1);
    if (rx_tensor_ndim(dst) == 0) return rxl_arg_error(L, 1, "expected a tensor with at least one dim, got a 0-d tensor");
    int dim = rxl_check_dim(L, 2, rx_tensor_ndim(dst));
    rx_tensor *offset = rxl_check_tensor(L, 3);
    rx_tensor *src = rxl_check_tensor(L, 4);
    rxl_check_status(L, rx_copy_at_(dst, dim, offset, src));
    lua_settop(L, 1);
    return 1;
}

/* t:fill_(v) -> t */
static int view_fill_(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    double v;
    if (lua_type(L, 2) == LUA_TNUMBER) v = lua_tonumber(L, 2);
    else if (lua_type(L, 2) == LUA_TBOOLEAN) v = lua_toboolean(L, 2);
    else return rxl_arg_error(L, 2, "expected a number or a boolean, got %s", luaL_typename(L, 2));
    rxl_check_status(L, rx_fill_(t, v));
    lua_settop(L, 1);
    return 1;
}

const luaL_Reg rxl_view_methods[] = {
    {"shape", view_shape},
    {"size", view_size},
    {"stride", view_stride},
    {"dim", view_dim},
    {"numel", view_numel},
    {"dtype", view_dtype},
    {"device", view_device},
    {"is_contiguous", view_is_contiguous},
    {"version", view_version},
    {"shares_storage", view_shares_storage},
    {"view", view_view},
    {"reshape", view_reshape},
    {"narrow", view_narrow},
    {"select", view_select},
    {"transpose", view_transpose},
    {"t", view_t},
    {"permute", view_permute},
    {"expand", view_expand},
    {"squeeze", view_squeeze},
    {"unsqueeze", view_unsqueeze},
    {"contiguous", view_contiguous},
    {"clone", view_clone},
    {"to", view_to},
    {"copy_", view_copy_},
    {"copy_at_", view_copy_at_},
    {"fill_", view_fill_},
    {NULL, NULL},
};
