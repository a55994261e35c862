/* grad_elementwise.c — the public elementwise ops: unary, binary, binary with a scalar, clamp, where,
 * masked_fill, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a gradient is
 * needed and the output is a float tensor, records a node whose backward is written here.
 * Comparisons and logical ops give bool tensors and are never recorded; the in-place rx_binary_
 * never records (it is an error on a tensor that requires grad while grad mode is on).
 *
 * Gradient conventions (torch's):
 * - floor, ceil, round and sign are recorded with a zero gradient, so their outputs require grad
 *   when the input does and a graph through them runs backward; relu'(0) = 0 and abs'(0) = 0.
 * - gelu: Phi(x) + x phi(x), with Phi(x) = gelu(x) / x (there is no erf op) and 1/2 for |x| < 1e-30;
 *   gelu_tanh differentiates the tanh formula itself.
 * - maximum and minimum split the gradient half/half between equal operands; clamp passes it where
 *   lo <= x <= hi (inclusive); remainder: d/da = 1, d/db = -floor(a / b).
 * - pow: d/da = b a^(b-1), 0 where b == 0; d/db = a^b log(a), 0 where a == 0 and b >= 0 (NaN for
 *   a < 0). The scalar forms follow the same rules.
 * - broadcasting is undone by summing (rx_ag_sum_to); the formulas of f16 and bf16 tensors run in
 *   f32 and the gradient is cast back to the input's dtype, except those of add, sub and of the
 *   scalar add, sub and mul, which pass g on or round once anyway.
 */
#include "autograd.h"

#include <math.h>

/* ---- shorthands for the formulas below --------------------------------------------------------- */

static rx_tensor *mul(rx_ag_scratch *sc, rx_tensor *a, rx_tensor *b) { return rx_ag_binary(sc, RX_MUL, a, b); }
static rx_tensor *divide(rx_ag_scratch *sc, rx_tensor *a, rx_tensor *b) { return rx_ag_binary(sc, RX_DIV, a, b); }
static rx_tensor *neg(rx_ag_scratch *sc, rx_tensor *a) { return rx_ag_unary(sc, RX_NEG, a); }
static rx_tensor *add_s(rx_ag_scratch *sc, rx_tensor *a, double s) { return rx_ag_scalar(sc, RX_ADD, a, s, 0); }
static rx_tensor *mul_s(rx_ag_scratch *sc, rx_tensor *a, double s) { return rx_ag_scalar(sc, RX_MUL, a, s, 0); }
static rx_tensor *rsub_s(rx_ag_scratch *sc, double s, rx_tensor *a) { return rx_ag_scalar(sc, RX_SUB, a, s, 1); }
static rx_tensor *zeros_like(rx_ag_scratch *sc, rx_tensor *g)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_zeros(g->ndim, g->shape, g->dtype, rx_tensor_device(g), &t);
    return rx_ag_keep(sc, s, t);
}
/* cond ? g : 0 */
static rx_tensor *pass_where(rx_ag_scratch *sc, rx_tensor *cond, rx_tensor *g)
{
    return rx_ag_where(sc, cond, g, rx_ag_const(sc, g, 0));
}
/* cond ? 0 : g */
static rx_tensor *zero_where(rx_ag_scratch *sc, rx_tensor *cond, rx_tensor *g)
{
    return rx_ag_where(sc, cond, rx_ag_const(sc, g, 0), g);
}

/* A saved tensor (or NULL) cast to the compute dtype. */
static rx_tensor *saved_as(rx_ag_scratch *sc, rx_node *node, int k, rx_dtype ct)
{
    rx_tensor *t = rx_ag_saved(sc, node, k);
    return t ? rx_ag_cast(sc, t, ct) : NULL;
}

/* ---- unary ------------------------------------------------------------------------------------ */

static const char *const unary_node_names[RX_UNARY_OP_COUNT] = {
    [RX_NEG] = "NegBackward",
    [RX_ABS] = "AbsBackward",
    [RX_EXP] = "ExpBackward",
    [RX_LOG] = "LogBackward",
    [RX_SQRT] = "SqrtBackward",
    [RX_RSQRT] = "RsqrtBackward",
    [RX_SIN] = "SinBackward",
    [RX_COS] = "CosBackward",
    [RX_TANH] = "TanhBackward",
    [RX_SIGMOID] = "SigmoidBackward",
    [RX_RELU] = "ReluBackward",
    [RX_SILU] = "SiluBackward",
    [RX_GELU] = "GeluBackward",
    [RX_GELU_TANH] = "GeluTanhBackward",
    [RX_RECIPROCAL] = "ReciprocalBackward",
    [RX_SQUARE] = "SquareBackward",
    [RX_LOG1P] = "Log1pBackward",
    [RX_EXPM1] = "Expm1Backward",
    [RX_FLOOR] = "FloorBackward",
    [RX_CEIL] = "CeilBackward",
    [RX_ROUND] = "RoundBackward",
    [RX_SIGN] = "SignBackward",
    [RX_LOGICAL_NOT] = "LogicalNotBackward", /* never recorded: bool output */
};

/* What the backward of a unary op reads: its input x, its output y, or nothing. */
enum { READS_NOTHING, READS_X, READS_Y };

static int unary_reads(rx_unary_op op)
{
    switch (op) {
    case RX_ABS:
    case RX_LOG:
    case RX_SIN:
    case RX_COS:
    case RX_SILU:
    case RX_GELU:
    case RX_GELU_TANH:
    case RX_SQUARE:
    case RX_LOG1P: return READS_X;
    case RX_EXP:
    case RX_SQRT:
    case RX_RSQRT:
    case RX_TANH:
    case RX_SIGMOID:
    case RX_RELU:
    case RX_RECIPROCAL:
    case RX_EXPM1: return READS_Y;
    default: return READS_NOTHING;
    }
}

/* d out / d x times g, from v (x or y as unary_reads says). */
static rx_tensor *unary_grad(rx_ag_scratch *sc, rx_unary_op op, rx_tensor *v, rx_tensor *g)
{
    switch (op) {
    case RX_NEG: return neg(sc, g);
    case RX_ABS: return mul(sc, g, rx_ag_unary(sc, RX_SIGN, v));
    case RX_EXP: return mul(sc, g, v);
    case RX_LOG: return divide(sc, g, v);
    case RX_SQRT: return divide(sc, g, mul_s(sc, v, 2)); /* 1 / (2 y) */
    case RX_RSQRT: return mul(sc, g, mul_s(sc, mul(sc, mul(sc, v, v), v), -0.5)); /* -y^3 / 2 */
    case RX_SIN: return mul(sc, g, rx_ag_unary(sc, RX_COS, v));
    case RX_COS: return mul(sc, g, neg(sc, rx_ag_unary(sc, RX_SIN, v)));
    case RX_TANH: return mul(sc, g, rsub_s(sc, 1, mul(sc, v, v)));     /* 1 - y^2 */
    case RX_SIGMOID: return mul(sc, g, mul(sc, v, rsub_s(sc, 1, v))); /* y (1 - y) */
    case RX_RELU: return pass_where(sc, rx_ag_scalar(sc, RX_GT, v, 0, 0), g);
    case RX_SILU: { /* s (1 + x (1 - s)) */
        rx_tensor *s = rx_ag_unary(sc, RX_SIGMOID, v);
        return mul(sc, g, mul(sc, s, add_s(sc, mul(sc, v, rsub_s(sc, 1, s)), 1)));
    }
    case RX_GELU: { /* Phi(x) + x phi(x) */
        rx_tensor *tiny = rx_ag_scalar(sc, RX_LT, rx_ag_unary(sc, RX_ABS, v), 1e-30, 0);
        rx_tensor *cdf = rx_ag_where(sc, tiny, rx_ag_const(sc, v, 0.5), divide(sc, rx_ag_unary(sc, RX_GELU, v), v));
        rx_tensor *pdf = mul_s(sc, rx_ag_unary(sc, RX_EXP, mul_s(sc, mul(sc, v, v), -0.5)), 0.39894228040143267794);
        return mul(sc, g, rx_ag_binary(sc, RX_ADD, cdf, mul(sc, v, pdf)));
    }
    case RX_GELU_TANH: { /* t = tanh(k (x + c x^3)): 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2) */
        const double k = 0.7978845608028654, c = 0.044715;
        rx_tensor *x2 = mul(sc, v, v);
        rx_tensor *t = rx_ag_unary(sc, RX_TANH, mul_s(sc, mul(sc, v, add_s(sc, mul_s(sc, x2, c), 1)), k));
        rx_tensor *left = mul_s(sc, add_s(sc, t, 1), 0.5);
        rx_tensor *right = mul(sc, mul(sc, mul_s(sc, v, 0.5 * k), rsub_s(sc, 1, mul(sc, t, t))),
                               add_s(sc, mul_s(sc, x2, 3 * c), 1));
        return mul(sc, g, rx_ag_binary(sc, RX_ADD, left, right));
    }
    case RX_RECIPROCAL: return mul(sc, g, neg(sc, mul(sc, v, v))); /* -y^2 */
    case RX_SQUARE: return mul(sc, g, mul_s(sc, v, 2));
    case RX_LOG1P: return divide(sc, g, add_s(sc, v, 1));
    case RX_EXPM1: return mul(sc, g, add_s(sc, v, 1)); /* y + 1 */
    default:
        if (sc->status == RX_OK)
            sc->status = rx_fail(RX_ERR_INTERNAL, "autograd: no gradient formula for %s", rx_unary_op_name(op));
        return NULL;
    }
}

static bool piecewise_constant(rx_unary_op op)
{
    return op == RX_FLOOR || op == RX_CEIL || op == RX_ROUND || op == RX_SIGN;
}

static rx_status unary_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    rx_unary_op op = (rx_unary_op)node->ints[0];
    const rx_output_info *in = &node->in_info[0];
    if (piecewise_constant(op)) return rx_ag_zeros_like_info(in, &grad_inputs[0]);
    rx_dtype ct = rx_ag_compute_dtype(in->dtype);
    rx_ag_scratch sc = {0};
    rx_tensor *v = unary_reads(op) != READS_NOTHING ? saved_as(&sc, node, 0, ct) : NULL;
    rx_tensor *g = rx_ag_cast(&sc, grad_outputs[0], ct);
    rx_ag_give(&sc, rx_ag_cast(&sc, unary_grad(&sc, op, v, g), in->dtype), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

rx_status rx_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out)
{
    RX_TRY(rx_op_unary(op, a, out));
    if (!rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(1, &a)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new(unary_node_names[op], unary_backward, 1, &a, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = op;
        int reads = unary_reads(op);
        if (reads == READS_X) s = rx_node_save(n, a);
        if (reads == READS_Y) s = rx_node_save(n, *out);
    }
    return rx_ag_attach(n, s, 1, out);
}

/* ---- binary ----------------------------------------------------------------------------------- */

static const char *const binary_node_names[RX_BINARY_OP_COUNT] = {
    [RX_ADD] = "AddBackward",
    [RX_SUB] = "SubBackward",
    [RX_MUL] = "MulBackward",
    [RX_DIV] = "DivBackward",
    [RX_POW] = "PowBackward",
    [RX_MAXIMUM] = "MaximumBackward",
    [RX_MINIMUM] = "MinimumBackward",
    [RX_REMAINDER] = "RemainderBackward",
};

static const char *const scalar_node_names[RX_BINARY_OP_COUNT] = {
    [RX_ADD] = "AddScalarBackward",
    [RX_SUB] = "SubScalarBackward",
    [RX_MUL] = "MulScalarBackward",
    [RX_DIV] = "DivScalarBackward",
    [RX_POW] = "PowScalarBackward",
    [RX_MAXIMUM] = "MaximumScalarBackward",
    [RX_MINIMUM] = "MinimumScalarBackward",
    [RX_REMAINDER] = "RemainderScalarBackward",
};

/* The share of the gradient of maximum/minimum that goes to x against y: 1 where x wins, 1/2 on
 * ties, 0 elsewhere (y is a tensor, or NULL for the scalar s). */
static rx_tensor *extreme_share(rx_ag_scratch *sc, rx_binary_op op, rx_tensor *x, rx_tensor *y, double s,
                                rx_dtype ct)
{
    rx_binary_op wins = op == RX_MAXIMUM ? RX_GT : RX_LT;
    rx_tensor *win = y ? rx_ag_binary(sc, wins, x, y) : rx_ag_scalar(sc, wins, x, s, 0);
    rx_tensor *tie = y ? rx_ag_binary(sc, RX_EQ, x, y) : rx_ag_scalar(sc, RX_EQ, x, s, 0);
    return rx_ag_binary(sc, RX_ADD, rx_ag_cast(sc, win, ct), mul_s(sc, rx_ag_cast(sc, tie, ct), 0.5));
}

/* Which of a, b and y the backward reads, given which inputs need a gradient (add and sub: none). */
static void binary_reads(rx_binary_op op, bool need_a, bool need_b, bool *a, bool *b, bool *y)
{
    *a = *b = *y = false;
    switch (op) {
    case RX_MUL: /* d/da = b, d/db = a */
        *a = need_b;
        *b = need_a;
        break;
    case RX_DIV: /* d/da = 1 / b, d/db = -y / b */
        *b = true;
        *y = need_b;
        break;
    case RX_POW:
        *a = *b = true;
        *y = need_b;
        break;
    case RX_MAXIMUM:
    case RX_MINIMUM: *a = *b = true; break;
    case RX_REMAINDER: *a = *b = need_b; break; /* d/da = 1 */
    default: break;
    }
}

static rx_status binary_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    rx_binary_op op = (rx_binary_op)node->ints[0];
    /* add and sub only pass g on (sums over broadcast dims accumulate in double): no f32 copy */
    rx_dtype dt = node->out_info[0].dtype, ct = op == RX_ADD || op == RX_SUB ? dt : rx_ag_compute_dtype(dt);
    bool need_a = node->needs_grad[0], need_b = node->needs_grad[1];
    rx_ag_scratch sc = {0};
    rx_tensor *a = NULL, *b = NULL, *y = NULL;
    if (node->n_saved > 0) { /* slots a, b, y; NULL where not needed */
        a = saved_as(&sc, node, 0, ct);
        b = saved_as(&sc, node, 1, ct);
        y = saved_as(&sc, node, 2, ct);
    }
    rx_tensor *g = rx_ag_cast(&sc, grad_outputs[0], ct), *ga = NULL, *gb = NULL;
    switch (op) {
    case RX_ADD:
        ga = gb = g;
        break;
    case RX_SUB:
        ga = g;
        gb = need_b ? neg(&sc, g) : NULL;
        break;
    case RX_MUL:
        ga = need_a ? mul(&sc, g, b) : NULL;
        gb = need_b ? mul(&sc, g, a) : NULL;
        break;
    case RX_DIV: /* d/da = 1 / b, d/db = -a / b^2 = -(1 / b) y */
        ga = divide(&sc, g, b);
        gb = need_b ? neg(&sc, mul(&sc, ga, y)) : NULL;
        break;
    case RX_POW:
        if (need_a) {
            rx_tensor *d = mul(&sc, b, rx_ag_binary(&sc, RX_POW, a, rx_ag_scalar(&sc, RX_SUB, b, 1, 0)));
            ga = zero_where(&sc, rx_ag_scalar(&sc, RX_EQ, b, 0, 0), mul(&sc, g, d));
        }
        if (need_b) {
            rx_tensor *flat = rx_ag_binary(&sc, RX_LOGICAL_AND, rx_ag_scalar(&sc, RX_EQ, a, 0, 0),
                                           rx_ag_scalar(&sc, RX_GE, b, 0, 0));
            gb = zero_where(&sc, flat, mul(&sc, mul(&sc, g, y), rx_ag_unary(&sc, RX_LOG, a)));
        }
        break;
    case RX_MAXIMUM:
    case RX_MINIMUM:
        ga = need_a ? mul(&sc, g, extreme_share(&sc, op, a, b, 0, ct)) : NULL;
        gb = need_b ? mul(&sc, g, extreme_share(&sc, op, b, a, 0, ct)) : NULL;
        break;
    case RX_REMAINDER: /* a - floor(a / b) b */
        ga = g;
        gb = need_b ? neg(&sc, mul(&sc, g, rx_ag_unary(&sc, RX_FLOOR, divide(&sc, a, b)))) : NULL;
        break;
    default:
        sc.status = rx_fail(RX_ERR_INTERNAL, "autograd: no gradient formula for %s", rx_binary_op_name(op));
        break;
    }
    const rx_output_info *ia = &node->in_info[0], *ib = &node->in_info[1];
    if (need_a) rx_ag_give(&sc, rx_ag_cast(&sc, rx_ag_reduce_to(&sc, ga, ia->ndim, ia->shape), dt), &grad_inputs[0]);
    if (need_b) rx_ag_give(&sc, rx_ag_cast(&sc, rx_ag_reduce_to(&sc, gb, ib->ndim, ib->shape), dt), &grad_inputs[1]);
    return rx_ag_end(&sc);
}

rx_status rx_binary(rx_binary_op op, rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    RX_TRY(rx_op_binary(op, a, b, out));
    rx_tensor *inputs[2] = {a, b};
    if (!rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(2, inputs)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new(binary_node_names[op], binary_backward, 2, inputs, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = op;
        bool keep_a, keep_b, keep_y;
        binary_reads(op, n->needs_grad[0], n->needs_grad[1], &keep_a, &keep_b, &keep_y);
        if (keep_a || keep_b || keep_y) {
            s = rx_node_save(n, keep_a ? a : NULL);
            if (s == RX_OK) s = rx_node_save(n, keep_b ? b : NULL);
            if (s == RX_OK) s = rx_node_save(n, keep_y ? *out : NULL);
        }
    }
    return rx_ag_attach(n, s, 1, out);
}

/* ---- binary with a scalar --------------------------------------------------------------------- */

/* Which of a and y the backward of a (op) s (s (op) a when scalar_first) reads. */
static void scalar_reads(rx_binary_op op, int scalar_first, double s, bool *a, bool *y)
{
    *a = *y = false;
    switch (op) {
    case RX_DIV: *a = *y = scalar_first; break;
    case RX_POW:
        *a = scalar_first ? s == 0 : s != 0;
        *y = scalar_first;
        break;
    case RX_MAXIMUM:
    case RX_MINIMUM: *a = true; break;
    case RX_REMAINDER: *a = scalar_first; break;
    default: break;
    }
}

static rx_status scalar_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    rx_binary_op op = (rx_binary_op)node->ints[0];
    int first = (int)node->ints[1];
    double s = node->scalars[0];
    const rx_output_info *in = &node->in_info[0];
    bool one_step = op == RX_ADD || op == RX_SUB || op == RX_MUL; /* exact or one rounding */
    rx_dtype ct = one_step ? in->dtype : rx_ag_compute_dtype(in->dtype);
    rx_ag_scratch sc = {0};
    rx_tensor *a = NULL, *y = NULL;
    if (node->n_saved > 0) { /* slots a, y; NULL where not needed */
        a = saved_as(&sc, node, 0, ct);
        y = saved_as(&sc, node, 1, ct);
    }
    rx_tensor *g = rx_ag_cast(&sc, grad_outputs[0], ct), *ga = NULL;
    switch (op) {
    case RX_ADD: ga = g; break;
    case RX_SUB: ga = first ? neg(&sc, g) : g; break;
    case RX_MUL: ga = mul_s(&sc, g, s); break;
    case RX_DIV: /* a / s: 1 / s; s / a: -s / a^2 = -y / a */
        ga = first ? neg(&sc, divide(&sc, mul(&sc, g, y), a)) : rx_ag_scalar(&sc, RX_DIV, g, s, 0);
        break;
    case RX_POW:
        if (!first) { /* a^s: s a^(s-1), 0 for s == 0 */
            if (s == 0) {
                ga = zeros_like(&sc, g);
            } else {
                ga = mul(&sc, g, mul_s(&sc, rx_ag_scalar(&sc, RX_POW, a, s - 1, 0), s));
            }
        } else { /* s^a: s^a log(s), 0 where s == 0 and a >= 0 */
            ga = rx_ag_scalar(&sc, RX_MUL, mul(&sc, g, y), log(s), 0);
            if (s == 0) ga = zero_where(&sc, rx_ag_scalar(&sc, RX_GE, a, 0, 0), ga);
        }
        break;
    case RX_MAXIMUM:
    case RX_MINIMUM: ga = mul(&sc, g, extreme_share(&sc, op, a, NULL, s, ct)); break;
    case RX_REMAINDER: /* a % s: 1; s % a: -floor(s / a) */
        ga = first ? neg(&sc, mul(&sc, g, rx_ag_unary(&sc, RX_FLOOR, rx_ag_scalar(&sc, RX_DIV, a, s, 1)))) : g;
        break;
    default:
        sc.status = rx_fail(RX_ERR_INTERNAL, "autograd: no gradient formula for %s", rx_binary_op_name(op));
        break;
    }
    rx_ag_give(&sc, rx_ag_cast(&sc, ga, in->dtype), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

rx_status rx_binary_scalar(rx_binary_op op, rx_tensor *a, double s, int scalar_first, rx_tensor **out)
{
    RX_TRY(rx_op_binary_scalar(op, a, s, scalar_first, out));
    if (!rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(1, &a)) return RX_OK;
    rx_node *n = NULL;
    rx_status st = rx_node_new(scalar_node_names[op], scalar_backward, 1, &a, 1, &n);
    if (st == RX_OK) {
        n->ints[0] = op;
        n->ints[1] = scalar_first != 0;
        n->scalars[0] = s;
        bool keep_a, keep_y;
        scalar_reads(op, scalar_first, s, &keep_a, &keep_y);
        if (keep_a || keep_y) {
            st = rx_node_save(n, keep_a ? a : NULL);
            if (st == RX_OK) st = rx_node_save(n, keep_y ? *out : NULL);
        }
    }
    return rx_ag_attach(n, st, 1, out);
}

rx_status rx_binary_(rx_binary_op op, rx_tensor *a, rx_tensor *b)
{
    RX_TRY(rx_ag_check_inplace("binary_", 1, a));
    RX_TRY(rx_op_binary_(op, a, b));
    rx_tensor_bump_version(a);
    return RX_OK;
}

/* ---- clamp, where, masked_fill ---------------------------------------------------------------- */

static rx_status clamp_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    rx_ag_scratch sc = {0};
    rx_tensor *x = rx_ag_saved(&sc, node, 0);
    rx_tensor *inside = rx_ag_binary(&sc, RX_LOGICAL_AND, rx_ag_scalar(&sc, RX_GE, x, node->scalars[0], 0),
                                     rx_ag_scalar(&sc, RX_LE, x, node->scalars[1], 0));
    rx_ag_give(&sc, pass_where(&sc, inside, grad_outputs[0]), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

rx_status rx_clamp(rx_tensor *a, double lo, double hi, rx_tensor **out)
{
    RX_TRY(rx_op_clamp(a, lo, hi, out));
    if (!rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(1, &a)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new("ClampBackward", clamp_backward, 1, &a, 1, &n);
    if (s == RX_OK) {
        n->scalars[0] = lo;
        n->scalars[1] = hi;
        s = rx_node_save(n, a);
    }
    return rx_ag_attach(n, s, 1, out);
}

static rx_status where_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    rx_ag_scratch sc = {0};
    rx_tensor *cond = rx_ag_saved(&sc, node, 0), *g = grad_outputs[0];
    for (int i = 1; i <= 2; i++) {
        if (!node->needs_grad[i]) continue;
        const rx_output_info *in = &node->in_info[i];
        rx_tensor *gi = i == 1 ? pass_where(&sc, cond, g) : zero_where(&sc, cond, g);
        rx_ag_give(&sc, rx_ag_reduce_to(&sc, gi, in->ndim, in->shape), &grad_inputs[i]);
    }
    return rx_ag_end(&sc);
}

rx_status rx_where(rx_tensor *cond, rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    RX_TRY(rx_op_where(cond, a, b, out));
    rx_tensor *inputs[3] = {cond, a, b};
    if (!rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(3, inputs)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new("WhereBackward", where_backward, 3, inputs, 1, &n);
    if (s == RX_OK) s = rx_node_save(n, cond);
    return rx_ag_attach(n, s, 1, out);
}

static rx_status masked_fill_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    rx_ag_scratch sc = {0};
    rx_tensor *mask = rx_ag_saved(&sc, node, 0);
    rx_ag_give(&sc, zero_where(&sc, mask, grad_outputs[0]), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

rx_status rx_masked_fill(rx_tensor *a, rx_tensor *mask, double value, rx_tensor **out)
{
    RX_TRY(rx_op_masked_fill(a, mask, value, out));
    rx_tensor *inputs[2] = {a, mask};
    if (!rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(2, inputs)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new("MaskedFillBackward", masked_fill_backward, 2, inputs, 1, &n);
    if (s == RX_OK) s = rx_node_save(n, mask);
    return rx_ag_attach(n, s, 1, out);
}
