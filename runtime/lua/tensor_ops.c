/* tensor_ops.c — elementwise tensor ops from Lua: unary ops by name, binary ops with a tensor
 * or a number on either side, in-place add_/sub_/mul_/div_, clamp, where, masked_fill, and
 * the arithmetic metamethods (+ - * / % ^ and unary minus).
 *
 * Owns: turning Lua numbers into the scalar forms of the core ops (2 - t is
 * rx_binary_scalar(SUB, t, 2, scalar_first)); dtype and broadcasting rules are the core's.
 */
#include "recx_lua.h"

#include <math.h>

/* ---- unary ------------------------------------------------------------------------------ */

static int unary(lua_State *L, rx_unary_op op)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_unary(op, a, out));
    rxl_note_tensor(L, *out);
    return 1;
}

#define UNARY(fn, op) \
    static int fn(lua_State *L) { return unary(L, op); }
UNARY(op_neg, RX_NEG)
UNARY(op_abs, RX_ABS)
UNARY(op_exp, RX_EXP)
UNARY(op_log, RX_LOG)
UNARY(op_sqrt, RX_SQRT)
UNARY(op_rsqrt, RX_RSQRT)
UNARY(op_sin, RX_SIN)
UNARY(op_cos, RX_COS)
UNARY(op_tanh, RX_TANH)
UNARY(op_sigmoid, RX_SIGMOID)
UNARY(op_relu, RX_RELU)
UNARY(op_silu, RX_SILU)
UNARY(op_gelu, RX_GELU)
UNARY(op_gelu_tanh, RX_GELU_TANH)
UNARY(op_reciprocal, RX_RECIPROCAL)
UNARY(op_square, RX_SQUARE)
UNARY(op_log1p, RX_LOG1P)
UNARY(op_expm1, RX_EXPM1)
UNARY(op_floor, RX_FLOOR)
UNARY(op_ceil, RX_CEIL)
UNARY(op_round, RX_ROUND)
UNARY(op_sign, RX_SIGN)
UNARY(op_logical_not, RX_LOGICAL_NOT)

/* ---- binary ------------------------------------------------------------------------------ */

/* A tensor (returned) or a number/boolean (written to *v, NULL returned) at idx. */
static rx_tensor *tensor_or_number(lua_State *L, int idx, double *v)
{
    int type = lua_type(L, idx);
    if (type == LUA_TNUMBER) {
        *v = lua_tonumber(L, idx);
        return NULL;
    }
    if (type == LUA_TBOOLEAN) {
        *v = lua_toboolean(L, idx);
        return NULL;
    }
    if (!luaL_testudata(L, idx, RXL_TENSOR_MT))
        rxl_arg_error(L, idx, "expected a tensor or a number, got %s", luaL_typename(L, idx));
    return rxl_check_tensor(L, idx);
}

/* Arithmetic with an integer or bool tensor needs an integral number: checked here so that the
 * error names the number's own position (2 - t has the number at #1). */
static void check_integral(lua_State *L, rx_binary_op op, const rx_tensor *t, int idx, double v)
{
    rx_dtype dt = rx_tensor_dtype(t);
    if (rx_dtype_is_float(dt) || op >= RX_EQ || v == floor(v)) return;
    rxl_arg_error(L, idx, "expected an integer to combine with a %s tensor, got %.14g (cast the tensor with :to())",
                  rx_dtype_name(dt), v);
}

static int binary(lua_State *L, rx_binary_op op)
{
    double va = 0, vb = 0;
    rx_tensor *a = tensor_or_number(L, 1, &va);
    rx_tensor *b = tensor_or_number(L, 2, &vb);
    if (!a && !b) return rxl_arg_error(L, 1, "expected a tensor (at least one side must be), got number");
    if (!a) check_integral(L, op, b, 1, va);
    if (!b) check_integral(L, op, a, 2, vb);
    rx_tensor **out = rxl_push_slot(L);
    rx_status st = a && b ? rx_binary(op, a, b, out)
                   : a    ? rx_binary_scalar(op, a, vb, 0, out)
                          : rx_binary_scalar(op, b, va, 1, out);
    rxl_check_status(L, st);
    rxl_note_tensor(L, *out);
    return 1;
}

#define BINARY(fn, op) \
    static int fn(lua_State *L) { return binary(L, op); }
BINARY(op_add, RX_ADD)
BINARY(op_sub, RX_SUB)
BINARY(op_mul, RX_MUL)
BINARY(op_div, RX_DIV)
BINARY(op_pow, RX_POW)
BINARY(op_maximum, RX_MAXIMUM)
BINARY(op_minimum, RX_MINIMUM)
BINARY(op_remainder, RX_REMAINDER)
BINARY(op_eq, RX_EQ)
BINARY(op_ne, RX_NE)
BINARY(op_lt, RX_LT)
BINARY(op_le, RX_LE)
BINARY(op_gt, RX_GT)
BINARY(op_ge, RX_GE)
BINARY(op_logical_and, RX_LOGICAL_AND)
BINARY(op_logical_or, RX_LOGICAL_OR)

static int op_unm(lua_State *L) { return unary(L, RX_NEG); }

/* a:add_(b) -> a, with b a tensor (broadcast to a) or a number */
static int binary_inplace(lua_State *L, rx_binary_op op)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    double v = 0;
    rx_tensor *b = tensor_or_number(L, 2, &v);
    rx_status st;
    if (b) {
        st = rx_binary_(op, a, b);
    } else {
        check_integral(L, op, a, 2, v);
        rx_tensor *scalar = NULL;
        st = rx_full(0, NULL, v, rx_tensor_dtype(a), rx_tensor_device(a), &scalar);
        if (st == RX_OK) st = rx_binary_(op, a, scalar);
        rx_tensor_release(scalar);
    }
    rxl_check_status(L, st);
    lua_settop(L, 1);
    return 1;
}

static int op_add_(lua_State *L) { return binary_inplace(L, RX_ADD); }
static int op_sub_(lua_State *L) { return binary_inplace(L, RX_SUB); }
static int op_mul_(lua_State *L) { return binary_inplace(L, RX_MUL); }
static int op_div_(lua_State *L) { return binary_inplace(L, RX_DIV); }

/* ---- clamp, where, masked_fill -------------------------------------------------------- */

/* clamp(lo, hi): either bound may be nil (no bound on that side) */
static int op_clamp(lua_State *L)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    double lo = -HUGE_VAL, hi = HUGE_VAL;
    for (int i = 2; i <= 3; i++) {
        if (lua_isnoneornil(L, i)) continue;
        if (lua_type(L, i) != LUA_TNUMBER)
            return rxl_arg_error(L, i, "expected a number or nil, got %s", luaL_typename(L, i));
        *(i == 2 ? &lo : &hi) = lua_tonumber(L, i);
    }
    if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3))
        return rxl_arg_error(L, 2, "expected at least one bound (clamp(lo, hi), either may be nil)");
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_clamp(a, lo, hi, out));
    rxl_note_tensor(L, *out);
    return 1;
}

/* where(cond, a, b): cond ? a : b; a or b may be numbers (taking the other side's dtype) */
static int op_where(lua_State *L)
{
    rx_tensor *cond = rxl_check_tensor(L, 1);
    double va = 0, vb = 0;
    rx_tensor *a = tensor_or_number(L, 2, &va);
    rx_tensor *b = tensor_or_number(L, 3, &vb);
    rx_tensor *other = a ? a : b;
    rx_dtype dtype = other ? rx_tensor_dtype(other) : RX_F32;
    rx_device device = other ? rx_tensor_device(other) : rx_tensor_device(cond);
    rx_tensor *ta = NULL, *tb = NULL; /* temporaries for numbers */
    rx_status st = RX_OK;
    if (!a) st = rx_full(0, NULL, va, dtype, device, &ta);
    if (st == RX_OK && !b) st = rx_full(0, NULL, vb, dtype, device, &tb);
    rx_tensor **out = rxl_push_slot(L);
    if (st == RX_OK) st = rx_where(cond, a ? a : ta, b ? b : tb, out);
    rx_tensor_release(ta);
    rx_tensor_release(tb);
    rxl_check_status(L, st);
    rxl_note_tensor(L, *out);
    return 1;
}

/* masked_fill(mask, value): a copy with value where the bool mask (broadcast) is true */
static int op_masked_fill(lua_State *L)
{
    rx_tensor *a = rxl_check_tensor(L, 1);
    rx_tensor *mask = rxl_check_tensor(L, 2);
    double v;
    if (lua_type(L, 3) == LUA_TNUMBER) v = lua_tonumber(L, 3);
    else if (lua_type(L, 3) == LUA_TBOOLEAN) v = lua_toboolean(L, 3);
    else return rxl_arg_error(L, 3, "expected a number or a boolean, got %s", luaL_typename(L, 3));
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_masked_fill(a, mask, v, out));
    rxl_note_tensor(L, *out);
    return 1;
}

const luaL_Reg rxl_ops_methods[] = {
    {"neg", op_neg},
    {"abs", op_abs},
    {"exp", op_exp},
    {"log", op_log},
    {"sqrt", op_sqrt},
    {"rsqrt", op_rsqrt},
    {"sin", op_sin},
    {"cos", op_cos},
    {"tanh", op_tanh},
    {"sigmoid", op_sigmoid},
    {"relu", op_relu},
    {"silu", op_silu},
    {"gelu", op_gelu},
    {"gelu_tanh", op_gelu_tanh},
    {"reciprocal", op_reciprocal},
    {"square", op_square},
    {"log1p", op_log1p},
    {"expm1", op_expm1},
    {"floor", op_floor},
    {"ceil", op_ceil},
    {"round", op_round},
    {"sign", op_sign},
    {"logical_not", op_logical_not},
    {"add", op_add},
    {"sub", op_sub},
    {"mul", op_mul},
    {"div", op_div},
    {"pow", op_pow},
    {"maximum", op_maximum},
    {"minimum", op_minimum},
    {"remainder", op_remainder},
    {"eq", op_eq},
    {"ne", op_ne},
    {"lt", op_lt},
    {"le", op_le},
    {"gt", op_gt},
    {"ge", op_ge},
    {"logical_and", op_logical_and},
    {"logical_or", op_logical_or},
    {"add_", op_add_},
    {"sub_", op_sub_},
    {"mul_", op_mul_},
    {"div_", op_div_},
    {"clamp", op_clamp},
    {"masked_fill", op_masked_fill},
    {NULL, NULL},
};

const luaL_Reg rxl_ops_functions[] = {
    {"where", op_where},
    {NULL, NULL},
};

const luaL_Reg rxl_ops_metamethods[] = {
    {"__add", op_add},
    {"__sub", op_sub},
    {"__mul", op_mul},
    {"__div", op_div},
    {"__mod", op_remainder},
    {"__pow", op_pow},
    {"__unm", op_unm},
    {NULL, NULL},
};
