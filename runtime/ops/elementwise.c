/* elementwise.c — unary and binary elementwise ops, clamp, where and masked_fill.
 *
 * Owns: op names, the dtype rules of each op, broadcasting (numpy rules, through
 * rx_broadcast_shapes and rx_expand), output allocation (contiguous, from rx_empty), aliasing in
 * the in-place rx_binary_, and the normalisation of scalars before the backend sees them.
 *
 * Dtype rules (no implicit promotion: both sides of a binary op have one dtype):
 * - float-only unary ops (exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, silu, gelu, gelu_tanh,
 *   reciprocal, log1p, expm1) reject integer and bool tensors; floor, ceil and round leave
 *   integers unchanged; on bool only logical_not is defined.
 * - div rejects integer tensors ("use a float dtype"); pow, remainder, add, sub and mul accept
 *   them (wrapping); integer pow with a negative exponent truncates (1, +-1 or 0); remainder has
 *   the divisor's sign and an integer remainder by 0 is 0 (kernels cannot cheaply pre-check).
 * - comparisons and logical_and/or accept every dtype and give bool; on bool tensors only those
 *   and maximum/minimum are defined.
 * - a scalar combined arithmetically with an integer tensor must be an integer that the dtype
 *   holds (0/1 for bool); a comparison of an integer tensor with any real scalar is exact: it is
 *   rewritten here into an integer comparison or a constant result, so kernels only ever see
 *   scalars that fit the tensor's dtype.
 * - clamp on integer tensors uses ceil(lo) and floor(hi); NaN bounds are errors.
 */
#include "ops.h"

#include <math.h>
#include <stdio.h>

static const char *const unary_names[RX_UNARY_OP_COUNT] = {
    [RX_NEG] = "neg",
    [RX_ABS] = "abs",
    [RX_EXP] = "exp",
    [RX_LOG] = "log",
    [RX_SQRT] = "sqrt",
    [RX_RSQRT] = "rsqrt",
    [RX_SIN] = "sin",
    [RX_COS] = "cos",
    [RX_TANH] = "tanh",
    [RX_SIGMOID] = "sigmoid",
    [RX_RELU] = "relu",
    [RX_SILU] = "silu",
    [RX_GELU] = "gelu",
    [RX_GELU_TANH] = "gelu_tanh",
    [RX_RECIPROCAL] = "reciprocal",
    [RX_SQUARE] = "square",
    [RX_LOG1P] = "log1p",
    [RX_EXPM1] = "expm1",
    [RX_FLOOR] = "floor",
    [RX_CEIL] = "ceil",
    [RX_ROUND] = "round",
    [RX_SIGN] = "sign",
    [RX_LOGICAL_NOT] = "logical_not",
};

static const char *const binary_names[RX_BINARY_OP_COUNT] = {
    [RX_ADD] = "add",
    [RX_SUB] = "sub",
    [RX_MUL] = "mul",
    [RX_DIV] = "div",
    [RX_POW] = "pow",
    [RX_MAXIMUM] = "maximum",
    [RX_MINIMUM] = "minimum",
    [RX_REMAINDER] = "remainder",
    [RX_EQ] = "eq",
    [RX_NE] = "ne",
    [RX_LT] = "lt",
    [RX_LE] = "le",
    [RX_GT] = "gt",
    [RX_GE] = "ge",
    [RX_LOGICAL_AND] = "logical_and",
    [RX_LOGICAL_OR] = "logical_or",
};

const char *rx_unary_op_name(rx_unary_op op)
{
    return (unsigned)op < RX_UNARY_OP_COUNT ? unary_names[op] : "?";
}

const char *rx_binary_op_name(rx_binary_op op)
{
    return (unsigned)op < RX_BINARY_OP_COUNT ? binary_names[op] : "?";
}

static bool is_comparison(rx_binary_op op) { return op >= RX_EQ && op <= RX_GE; }
static bool is_logical(rx_binary_op op) { return op == RX_LOGICAL_AND || op == RX_LOGICAL_OR; }
static bool gives_bool(rx_binary_op op) { return is_comparison(op) || is_logical(op); }

static bool is_integer(rx_dtype dt) { return dt == RX_I32 || dt == RX_I64 || dt == RX_U8; }

static bool float_only(rx_unary_op op)
{
    switch (op) {
    case RX_NEG:
    case RX_ABS:
    case RX_RELU:
    case RX_SQUARE:
    case RX_FLOOR:
    case RX_CEIL:
    case RX_ROUND:
    case RX_SIGN:
    case RX_LOGICAL_NOT: return false;
    default: return true;
    }
}

/* The range of values an integer or bool dtype holds. */
static void int_range(rx_dtype dt, double *lo, double *hi)
{
    switch (dt) {
    case RX_I32:
        *lo = -2147483648.0;
        *hi = 2147483647.0;
        break;
    case RX_I64:
        *lo = -9223372036854775808.0;
        *hi = 9223372036854775807.0;
        break;
    case RX_U8:
        *lo = 0;
        *hi = 255;
        break;
    default:
        *lo = 0;
        *hi = 1;
        break; /* RX_BOOL */
    }
}

/* True when s is an integer that dt holds (always true for float dtypes). */
static bool scalar_fits(rx_dtype dt, double s)
{
    if (rx_dtype_is_float(dt)) return true;
    double lo, hi;
    int_range(dt, &lo, &hi);
    if (dt == RX_I64) return s == floor(s) && s >= lo && s < -lo; /* hi rounds up to 2^63 */
    return s == floor(s) && s >= lo && s <= hi;
}

static rx_status check_scalar(const char *name, int argn, rx_dtype dt, double s)
{
    if (scalar_fits(dt, s)) return RX_OK;
    double lo, hi;
    int_range(dt, &lo, &hi);
    return rx_fail(
        RX_ERR_ARG,
        "%s: argument #%d: %g is not an integer in [%.0f, %.0f] for a %s tensor (cast it with :to())", name,
        argn, s, lo, hi, rx_dtype_name(dt));
}

static rx_status check_unary_dtype(const char *name, rx_unary_op op, const rx_tensor *a)
{
    if (op == RX_LOGICAL_NOT || rx_dtype_is_float(a->dtype)) return RX_OK;
    if (float_only(op)) return rx_check_float(name, 1, a);
    if (a->dtype == RX_BOOL)
        return rx_fail(RX_ERR_DTYPE,
                       "%s: argument #1: not defined for bool tensors (use logical_not, or cast with :to())",
                       name);
    return RX_OK;
}

/* The dtype rules of a binary op on operands of dtype dt (argument #1 is the tensor). */
static rx_status check_binary_dtype(const char *name, rx_binary_op op, rx_dtype dt)
{
    if (gives_bool(op) || rx_dtype_is_float(dt)) return RX_OK;
    if (dt == RX_BOOL && op != RX_MAXIMUM && op != RX_MINIMUM)
        return rx_fail(RX_ERR_DTYPE,
                       "%s: not defined for bool tensors (use logical_and/logical_or, or cast with :to())",
                       name);
    if (op == RX_DIV)
        return rx_fail(
            RX_ERR_DTYPE,
            "%s: integer division of %s tensors is not supported: use a float dtype (cast with :to())", name,
            rx_dtype_name(dt));
    return RX_OK;
}

/* A view of t expanded to (ndim, shape), or t itself retained when it already has that shape. */
static rx_status expand_to(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (same) {
        *out = rx_tensor_retain(t);
        return RX_OK;
    }
    return rx_op_expand(t, ndim, shape, out);
}

/* Releases an output on a kernel failure and names the op. */
static rx_status finish(rx_status s, const char *name, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", name);
}

rx_status rx_op_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out)
{
    *out = NULL;
    if ((unsigned)op >= RX_UNARY_OP_COUNT) return rx_fail(RX_ERR_ARG, "unary: unknown op %d", (int)op);
    const char *name = unary_names[op];
    RX_TRY(rx_check_tensor(name, 1, a));
    RX_TRY(check_unary_dtype(name, op, a));
    rx_dtype odt = op == RX_LOGICAL_NOT ? RX_BOOL : a->dtype;
    RX_TRY(rx_empty(a->ndim, a->shape, odt, rx_tensor_device(a), out));
    return finish(rx_backend_of(a)->unary(op, *out, a), name, out);
}

/* Checks the tensors of a binary op and computes the broadcast shape. */
static rx_status check_binary(const char *name, rx_binary_op op, const rx_tensor *a, const rx_tensor *b,
                              int *nd, int64_t *shape)
{
    RX_TRY(rx_check_tensor(name, 1, a));
    RX_TRY(rx_check_tensor(name, 2, b));
    RX_TRY(rx_check_same_device(name, a, 1, b, 2));
    RX_TRY(rx_check_same_dtype(name, a, 1, b, 2));
    RX_TRY(check_binary_dtype(name, op, a->dtype));
    rx_status s = rx_broadcast_shapes(a->ndim, a->shape, b->ndim, b->shape, nd, shape);
    return s == RX_OK ? RX_OK : rx_fail_context(s, "%s", name);
}

rx_status rx_op_binary(rx_binary_op op, rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    *out = NULL;
    if ((unsigned)op >= RX_BINARY_OP_COUNT) return rx_fail(RX_ERR_ARG, "binary: unknown op %d", (int)op);
    const char *name = binary_names[op];
    int nd;
    int64_t shape[RX_MAX_DIMS];
    RX_TRY(check_binary(name, op, a, b, &nd, shape));
    rx_tensor *ae = NULL, *be = NULL;
    rx_status s = expand_to(a, nd, shape, &ae);
    if (s == RX_OK) s = expand_to(b, nd, shape, &be);
    if (s == RX_OK) s = rx_empty(nd, shape, gives_bool(op) ? RX_BOOL : a->dtype, rx_tensor_device(a), out);
    if (s == RX_OK) s = finish(rx_backend_of(a)->binary(op, *out, ae, be), name, out);
    rx_tensor_release(ae);
    rx_tensor_release(be);
    return s;
}

/* Rewrites the comparison `x op s` (x of the integer or bool dtype dt, s any real) into one with
 * an integer s that dt holds, or decides it for every x: returns true with *constant set then. */
static bool int_comparison(rx_dtype dt, rx_binary_op *op, double *s, bool *constant)
{
    double v = *s;
    if (isnan(v)) {
        *constant = *op == RX_NE;
        return true;
    }
    switch (*op) {
    case RX_LT:
    case RX_GE: v = ceil(v); break; /* x < 2.5 <=> x < 3; x >= 2.5 <=> x >= 3 */
    case RX_LE:
    case RX_GT: v = floor(v); break; /* x <= 2.5 <=> x <= 2; x > 2.5 <=> x > 2 */
    default:
        if (v != floor(v)) { /* eq/ne with a non-integer */
            *constant = *op == RX_NE;
            return true;
        }
        break;
    }
    double lo, hi;
    int_range(dt, &lo, &hi);
    bool above = dt == RX_I64 ? v >= -lo : v > hi, below = v < lo;
    if (above || below) { /* every x is below v, or every x is above v */
        bool lt = above;  /* x < v for all x */
        switch (*op) {
        case RX_LT:
        case RX_LE: *constant = lt; break;
        case RX_GT:
        case RX_GE: *constant = !lt; break;
        default: *constant = *op == RX_NE; break;
        }
        return true;
    }
    *s = v;
    return false;
}

/* s op x as x op' s. */
static rx_binary_op flip_comparison(rx_binary_op op)
{
    switch (op) {
    case RX_LT: return RX_GT;
    case RX_LE: return RX_GE;
    case RX_GT: return RX_LT;
    case RX_GE: return RX_LE;
    default: return op;
    }
}

rx_status rx_op_binary_scalar(rx_binary_op op, rx_tensor *a, double s, int scalar_first, rx_tensor **out)
{
    *out = NULL;
    if ((unsigned)op >= RX_BINARY_OP_COUNT) return rx_fail(RX_ERR_ARG, "binary: unknown op %d", (int)op);
    const char *name = binary_names[op];
    RX_TRY(rx_check_tensor(name, 1, a));
    RX_TRY(check_binary_dtype(name, op, a->dtype));
    rx_dtype dt = a->dtype;
    bool constant = false, is_constant = false;
    if (!rx_dtype_is_float(dt) && is_comparison(op)) {
        if (scalar_first) {
            op = flip_comparison(op);
            scalar_first = 0;
        }
        is_constant = int_comparison(dt, &op, &s, &constant);
    } else if (!rx_dtype_is_float(dt) && is_logical(op)) {
        s = s != 0; /* NaN is true */
    } else {
        RX_TRY(check_scalar(name, 2, dt, s));
    }
    RX_TRY(rx_empty(a->ndim, a->shape, gives_bool(op) ? RX_BOOL : dt, rx_tensor_device(a), out));
    const rx_backend *be = rx_backend_of(a);
    rx_status st = is_constant ? be->fill(*out, constant) : be->binary_scalar(op, *out, a, s, scalar_first);
    return finish(st, name, out);
}

/* True when b (already of a's shape) reads exactly the elements a writes, in the same order. */
static bool same_elements(const rx_tensor *a, const rx_tensor *b)
{
    if (!rx_tensor_shares_storage(a, b) || a->offset != b->offset) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] > 1 && a->stride[i] != b->stride[i]) return false;
    return true;
}

rx_status rx_op_binary_(rx_binary_op op, rx_tensor *a, rx_tensor *b)
{
    if ((unsigned)op >= RX_BINARY_OP_COUNT) return rx_fail(RX_ERR_ARG, "binary_: unknown op %d", (int)op);
    char name[32];
    snprintf(name, sizeof name, "%s_", binary_names[op]);
    int nd;
    int64_t shape[RX_MAX_DIMS];
    RX_TRY(check_binary(name, op, a, b, &nd, shape));
    if (gives_bool(op) && a->dtype != RX_BOOL)
        return rx_fail(RX_ERR_DTYPE,
                       "%s: argument #1: the result is bool but the tensor written in place is %s", name,
                       rx_dtype_name(a->dtype));
    bool fits = nd == a->ndim;
    for (int i = 0; fits && i < nd; i++) fits = shape[i] == a->shape[i];
    char b1[128], b2[128];
    if (!fits)
        return rx_fail(RX_ERR_SHAPE,
                       "%s: argument #2 of shape %s cannot be broadcast to the shape %s of argument #1", name,
                       rx_shape_str(b->ndim, b->shape, b1, sizeof b1),
                       rx_shape_str(a->ndim, a->shape, b2, sizeof b2));
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] > 1 && a->stride[i] == 0)
            return rx_fail(RX_ERR_ARG,
                           "%s: argument #1: cannot write in place to an expanded tensor (dim %d has stride "
                           "0); clone it first",
                           name, i);
    rx_tensor *be = NULL;
    RX_TRY(expand_to(b, a->ndim, a->shape, &be));
    if (rx_tensor_shares_storage(a, b) && !same_elements(a, be)) {
        /* b overlaps a in another order: read it from a private copy */
        rx_tensor *copy;
        rx_tensor_release(be);
        be = NULL;
        rx_status s = rx_op_clone(b, &copy);
        if (s == RX_OK) s = expand_to(copy, a->ndim, a->shape, &be);
        rx_tensor_release(copy);
        if (s != RX_OK) return s;
    }
    rx_status s = rx_backend_of(a)->binary(op, a, a, be);
    rx_tensor_release(be);
    return s == RX_OK ? RX_OK : rx_fail_context(s, "%s", name);
}

rx_status rx_op_clamp(rx_tensor *a, double lo, double hi, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("clamp", 1, a));
    if (a->dtype == RX_BOOL) return rx_fail(RX_ERR_DTYPE, "clamp: argument #1: not defined for bool tensors");
    if (isnan(lo) || isnan(hi))
        return rx_fail(RX_ERR_ARG, "clamp: argument #%d: the bound is NaN", isnan(lo) ? 2 : 3);
    if (is_integer(a->dtype)) {
        lo = ceil(lo);
        hi = floor(hi);
    }
    RX_TRY(rx_empty(a->ndim, a->shape, a->dtype, rx_tensor_device(a), out));
    return finish(rx_backend_of(a)->clamp(*out, a, lo, hi), "clamp", out);
}

static rx_status check_bool_arg(const char *name, int argn, const rx_tensor *t)
{
    if (t->dtype == RX_BOOL) return RX_OK;
    return rx_fail(RX_ERR_DTYPE, "%s: argument #%d: expected a bool tensor, got %s", name, argn,
                   rx_dtype_name(t->dtype));
}

rx_status rx_op_where(rx_tensor *cond, rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("where", 1, cond));
    RX_TRY(rx_check_tensor("where", 2, a));
    RX_TRY(rx_check_tensor("where", 3, b));
    RX_TRY(rx_check_same_device("where", cond, 1, a, 2));
    RX_TRY(rx_check_same_device("where", a, 2, b, 3));
    RX_TRY(check_bool_arg("where", 1, cond));
    RX_TRY(rx_check_same_dtype("where", a, 2, b, 3));
    int nd1, nd;
    int64_t s1[RX_MAX_DIMS], shape[RX_MAX_DIMS];
    rx_status s = rx_broadcast_shapes(cond->ndim, cond->shape, a->ndim, a->shape, &nd1, s1);
    if (s == RX_OK) s = rx_broadcast_shapes(nd1, s1, b->ndim, b->shape, &nd, shape);
    if (s != RX_OK) return rx_fail_context(s, "where");
    rx_tensor *ce = NULL, *ae = NULL, *be = NULL;
    s = expand_to(cond, nd, shape, &ce);
    if (s == RX_OK) s = expand_to(a, nd, shape, &ae);
    if (s == RX_OK) s = expand_to(b, nd, shape, &be);
    if (s == RX_OK) s = rx_empty(nd, shape, a->dtype, rx_tensor_device(a), out);
    if (s == RX_OK) s = finish(rx_backend_of(a)->where(*out, ce, ae, be), "where", out);
    rx_tensor_release(ce);
    rx_tensor_release(ae);
    rx_tensor_release(be);
    return s;
}

rx_status rx_op_masked_fill(rx_tensor *a, rx_tensor *mask, double value, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("masked_fill", 1, a));
    RX_TRY(rx_check_tensor("masked_fill", 2, mask));
    RX_TRY(rx_check_same_device("masked_fill", a, 1, mask, 2));
    RX_TRY(check_bool_arg("masked_fill", 2, mask));
    RX_TRY(check_scalar("masked_fill", 3, a->dtype, value));
    int nd;
    int64_t shape[RX_MAX_DIMS];
    rx_status s = rx_broadcast_shapes(a->ndim, a->shape, mask->ndim, mask->shape, &nd, shape);
    if (s != RX_OK) return rx_fail_context(s, "masked_fill");
    bool fits = nd == a->ndim;
    for (int i = 0; fits && i < nd; i++) fits = shape[i] == a->shape[i];
    if (!fits) {
        char b1[128], b2[128];
        return rx_fail(
            RX_ERR_SHAPE,
            "masked_fill: argument #2 of shape %s cannot be broadcast to the shape %s of argument #1",
            rx_shape_str(mask->ndim, mask->shape, b1, sizeof b1),
            rx_shape_str(a->ndim, a->shape, b2, sizeof b2));
    }
    /* out = mask ? value : a, with value a 0-d tensor expanded by stride 0 */
    rx_tensor *me = NULL, *v = NULL, *ve = NULL;
    s = expand_to(mask, a->ndim, a->shape, &me);
    if (s == RX_OK) s = rx_full(0, NULL, value, a->dtype, rx_tensor_device(a), &v);
    if (s == RX_OK) s = expand_to(v, a->ndim, a->shape, &ve);
    if (s == RX_OK) s = rx_empty(a->ndim, a->shape, a->dtype, rx_tensor_device(a), out);
    if (s == RX_OK) s = finish(rx_backend_of(a)->where(*out, me, ve, a), "masked_fill", out);
    rx_tensor_release(me);
    rx_tensor_release(v);
    rx_tensor_release(ve);
    return s;
}
