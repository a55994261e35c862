/* test_elementwise.c — unit tests of the elementwise ops (rx_unary, rx_binary, rx_binary_scalar,
 * rx_binary_, rx_clamp, rx_where, rx_masked_fill) on the CPU backend.
 *
 * Owns: references computed here in double precision with <math.h> from the values the input
 * tensors actually hold (so f16/bf16 input rounding does not count against the kernels), every
 * op on every dtype where it is defined, broadcasting, non-contiguous inputs (transposed,
 * narrowed, expanded), tensors large enough for the OpenMP path, in-place aliasing, special
 * values (NaN, infinities, ties) and the error paths with their messages.
 */
#include "check.h"
#include "core/core.h"
#include "cpu/strided.h"

#include <stdlib.h>
#include <string.h>

static const rx_dtype FLOATS[] = {RX_F32, RX_F64, RX_F16, RX_BF16};
#define NFLOATS 4

static double atol_of(rx_dtype dt)
{
    return dt == RX_F64 ? 1e-12 : dt == RX_F32 ? 1e-6 : dt == RX_F16 ? 1e-4 : 1e-3;
}

static double rtol_of(rx_dtype dt)
{
    return dt == RX_F64 ? 1e-12 : dt == RX_F32 ? 2e-6 : dt == RX_F16 ? 1e-3 : 8e-3;
}

/* Prints what was being tested when the last checks failed. */
static int failures_seen;
static void context(const char *fmt, const char *a, const char *b)
{
    if (check_failures_in_test < failures_seen) failures_seen = 0; /* a new test began */
    if (check_failures_in_test > failures_seen) {
        fprintf(stderr, "    ^ in ");
        fprintf(stderr, fmt, a, b);
        fputc('\n', stderr);
    }
    failures_seen = check_failures_in_test;
}

static rx_tensor *view_t(rx_tensor *t, int d0, int d1)
{
    rx_tensor *v = NULL;
    CHECK_OK(rx_transpose(t, d0, d1, &v));
    return v;
}

/* ---- references ------------------------------------------------------------------------- */

static double round_half_even(double x)
{
    double r = floor(x), d = x - r;
    if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
    return r;
}

static double ref_unary(rx_unary_op op, double x)
{
    switch (op) {
    case RX_NEG: return -x;
    case RX_ABS: return fabs(x);
    case RX_EXP: return exp(x);
    case RX_LOG: return log(x);
    case RX_SQRT: return sqrt(x);
    case RX_RSQRT: return 1.0 / sqrt(x);
    case RX_SIN: return sin(x);
    case RX_COS: return cos(x);
    case RX_TANH: return tanh(x);
    case RX_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case RX_RELU: return x > 0 ? x : 0;
    case RX_SILU: return x / (1.0 + exp(-x));
    case RX_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case RX_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * pow(x, 3))));
    case RX_RECIPROCAL: return 1.0 / x;
    case RX_SQUARE: return x * x;
    case RX_LOG1P: return log1p(x);
    case RX_EXPM1: return expm1(x);
    case RX_FLOOR: return floor(x);
    case RX_CEIL: return ceil(x);
    case RX_ROUND: return round_half_even(x);
    case RX_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case RX_LOGICAL_NOT: return x == 0;
    default: return NAN;
    }
}

/* An input grid inside op's domain; i in [0, n). */
static double unary_input(rx_unary_op op, int64_t i, int64_t n)
{
    double t = (double)i / (double)(n - 1);
    switch (op) {
    case RX_LOG:
    case RX_SQRT:
    case RX_RSQRT: return 0.05 + 5.0 * t;
    case RX_LOG1P: return -0.9 + 5.0 * t;
    case RX_RECIPROCAL: return (i % 2 ? 1.0 : -1.0) * (0.1 + 3.0 * t);
    case RX_FLOOR:
    case RX_CEIL:
    case RX_ROUND: return -3.0 + 0.5 * (double)i + (i % 3 == 1 ? 0.25 : 0.0);
    case RX_SIGN:
    case RX_LOGICAL_NOT: return i % 3 == 0 ? 0.0 : -2.0 + 4.0 * t;
    default: return -4.0 + 8.0 * t;
    }
}

/* Python/torch remainder: the sign of the divisor. */
static double py_rem(double x, double y) { return x - y * floor(x / y); }

static double ref_binary(rx_binary_op op, double x, double y)
{
    switch (op) {
    case RX_ADD: return x + y;
    case RX_SUB: return x - y;
    case RX_MUL: return x * y;
    case RX_DIV: return x / y;
    case RX_POW: return pow(x, y);
    case RX_MAXIMUM: return x > y ? x : y;
    case RX_MINIMUM: return x < y ? x : y;
    case RX_REMAINDER: return py_rem(x, y);
    case RX_EQ: return x == y;
    case RX_NE: return x != y;
    case RX_LT: return x < y;
    case RX_LE: return x <= y;
    case RX_GT: return x > y;
    case RX_GE: return x >= y;
    case RX_LOGICAL_AND: return x != 0 && y != 0;
    case RX_LOGICAL_OR: return x != 0 || y != 0;
    default: return NAN;
    }
}

static bool bool_op(rx_binary_op op) { return op >= RX_EQ; }

/* Operands for op: b is never 0 for div/remainder, a is positive for pow, and a few b equal a. */
static void binary_inputs(rx_binary_op op, int64_t n, double *a, double *b)
{
    for (int64_t i = 0; i < n; i++) {
        a[i] = ((double)i - 5.5) * 0.7;
        b[i] = (0.3 + 0.4 * (double)(i % 5)) * (i % 2 ? 1.0 : -1.0);
        if (op == RX_POW) a[i] = 0.5 + 0.25 * (double)i;
        if (i % 4 == 0 && op != RX_DIV && op != RX_REMAINDER && op != RX_POW) b[i] = a[i];
        if ((op == RX_LOGICAL_AND || op == RX_LOGICAL_OR) && i % 3 == 1) a[i] = 0.0;
        if ((op == RX_LOGICAL_AND || op == RX_LOGICAL_OR) && i % 5 == 2) b[i] = 0.0;
    }
}

/* ---- names -------------------------------------------------------------------------------- */

static void test_op_names(void)
{
    CHECK(strcmp(rx_unary_op_name(RX_GELU_TANH), "gelu_tanh") == 0);
    CHECK(strcmp(rx_unary_op_name(RX_LOGICAL_NOT), "logical_not") == 0);
    CHECK(strcmp(rx_binary_op_name(RX_REMAINDER), "remainder") == 0);
    CHECK(strcmp(rx_binary_op_name(RX_LOGICAL_OR), "logical_or") == 0);
    CHECK(strcmp(rx_unary_op_name(RX_UNARY_OP_COUNT), "?") == 0);
    CHECK(strcmp(rx_binary_op_name((rx_binary_op)-1), "?") == 0);
    for (int i = 0; i < RX_UNARY_OP_COUNT; i++)
        for (int j = 0; j < i; j++) CHECK(strcmp(rx_unary_op_name(i), rx_unary_op_name(j)) != 0);
    for (int i = 0; i < RX_BINARY_OP_COUNT; i++)
        for (int j = 0; j < i; j++) CHECK(strcmp(rx_binary_op_name(i), rx_binary_op_name(j)) != 0);
}

/* ---- unary -------------------------------------------------------------------------------- */

/* Checks op on tensor a (any layout) against the reference from a's stored values. */
static void check_unary_on(rx_unary_op op, rx_tensor *a, double atol, double rtol)
{
    int64_t n = rx_tensor_numel(a);
    double *av = t_values(a), *ref = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ref[i] = ref_unary(op, av[i]);
    rx_tensor *o = NULL;
    CHECK_OK(rx_unary(op, a, &o));
    if (o) {
        CHECK(rx_tensor_dtype(o) == (op == RX_LOGICAL_NOT ? RX_BOOL : rx_tensor_dtype(a)));
        CHECK(rx_tensor_is_contiguous(o));
        CHECK_TENSOR(o, rx_tensor_ndim(a), rx_tensor_shape_ptr(a), ref, atol, rtol);
    }
    rx_tensor_release(o);
    free(av);
    free(ref);
}

static void test_unary_float_dtypes(void)
{
    int64_t shape[2] = {4, 6};
    double in[24];
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        for (int op = 0; op < RX_UNARY_OP_COUNT; op++) {
            for (int i = 0; i < 24; i++) in[i] = unary_input(op, i, 24);
            rx_tensor *a = t_from(2, shape, dt, in);
            check_unary_on(op, a, atol_of(dt), rtol_of(dt));
            rx_tensor_release(a);
            context("%s on %s", rx_unary_op_name(op), rx_dtype_name(dt));
        }
    }
}

static void test_unary_non_contiguous(void)
{
    static const rx_unary_op ops[] = {RX_EXP, RX_SIGMOID, RX_NEG, RX_GELU, RX_ROUND, RX_LOGICAL_NOT};
    double in[48];
    for (int i = 0; i < 48; i++) in[i] = i % 7 == 0 ? 0.0 : ((double)i - 20.0) * 0.15;
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *base = t_from(2, (int64_t[]){6, 8}, dt, in);
        rx_tensor *tr = view_t(base, 0, 1), *nar = NULL, *row = NULL, *ex = NULL;
        CHECK_OK(rx_narrow(base, 1, 2, 5, &nar)); /* (6, 5), row stride 8 */
        CHECK_OK(rx_narrow(base, 0, 3, 1, &row));
        CHECK_OK(rx_expand(row, 2, (int64_t[]){4, 8}, &ex)); /* (4, 8), stride 0 rows */
        CHECK(!rx_tensor_is_contiguous(tr) && !rx_tensor_is_contiguous(nar) && rx_tensor_stride(ex, 0) == 0);
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            check_unary_on(ops[k], tr, atol_of(dt), rtol_of(dt));
            check_unary_on(ops[k], nar, atol_of(dt), rtol_of(dt));
            check_unary_on(ops[k], ex, atol_of(dt), rtol_of(dt));
            context("%s on non-contiguous %s", rx_unary_op_name(ops[k]), rx_dtype_name(dt));
        }
        rx_tensor_release(base);
        rx_tensor_release(tr);
        rx_tensor_release(nar);
        rx_tensor_release(row);
        rx_tensor_release(ex);
    }
}

static void test_unary_special_values(void)
{
    double in[] = {-1000, -100, -20, 0,   20,   100, 1000,     NAN,
                   -0.5,  0.5,  1.5, 2.5, -2.5, 3.5, INFINITY, -INFINITY};
    int64_t n = 16;
    for (int d = 0; d < 2; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *a = t_from(1, &n, dt, in), *o = NULL;
        /* sigmoid: no overflow for large |x|, exact tails */
        CHECK_OK(rx_unary(RX_SIGMOID, a, &o));
        double *v = t_values(o);
        CHECK(v[0] == 0.0 && v[6] == 1.0 && v[3] == 0.5 && isnan(v[7]));
        CHECK_CLOSE(v[1], exp(-100.0), dt == RX_F64 ? 1e-12 : 1e-5);
        CHECK_CLOSE(v[2], 1.0 / (1.0 + exp(20.0)), dt == RX_F64 ? 1e-12 : 1e-5);
        CHECK(v[14] == 1.0 && v[15] == 0.0);
        free(v);
        rx_tensor_release(o);
        /* silu(-1000) is -0, not NaN */
        CHECK_OK(rx_unary(RX_SILU, a, &o));
        v = t_values(o);
        CHECK(v[0] == 0.0 && v[6] == 1000.0 && isnan(v[7]));
        free(v);
        rx_tensor_release(o);
        /* relu(NaN) = NaN, sign(0) = 0, sign(NaN) = NaN */
        CHECK_OK(rx_unary(RX_RELU, a, &o));
        v = t_values(o);
        CHECK(isnan(v[7]) && v[0] == 0.0 && v[5] == 100.0 && v[3] == 0.0);
        free(v);
        rx_tensor_release(o);
        CHECK_OK(rx_unary(RX_SIGN, a, &o));
        v = t_values(o);
        CHECK(v[3] == 0.0 && v[0] == -1.0 && v[4] == 1.0 && isnan(v[7]) && v[15] == -1.0);
        free(v);
        rx_tensor_release(o);
        /* round half to even: -0.5 0.5 1.5 2.5 -2.5 3.5 -> -0 0 2 2 -2 4 */
        CHECK_OK(rx_unary(RX_ROUND, a, &o));
        v = t_values(o);
        CHECK(v[8] == 0.0 && v[9] == 0.0 && v[10] == 2.0 && v[11] == 2.0 && v[12] == -2.0 && v[13] == 4.0);
        free(v);
        rx_tensor_release(o);
        /* NaN is true for logical_not */
        CHECK_OK(rx_unary(RX_LOGICAL_NOT, a, &o));
        v = t_values(o);
        CHECK(v[7] == 0.0 && v[3] == 1.0 && v[0] == 0.0);
        free(v);
        rx_tensor_release(o);
        /* exp overflows to inf, gelu of +-inf */
        CHECK_OK(rx_unary(RX_EXP, a, &o));
        v = t_values(o);
        CHECK(isinf(v[6]) && v[0] == 0.0 && v[15] == 0.0);
        free(v);
        rx_tensor_release(o);
        CHECK_OK(rx_unary(RX_GELU, a, &o));
        v = t_values(o);
        CHECK(v[14] == INFINITY && v[6] == 1000.0 && v[0] == 0.0);
        free(v);
        rx_tensor_release(o);
        rx_tensor_release(a);
        context("special values on %s%s", rx_dtype_name(dt), "");
    }
}

static void test_unary_integers(void)
{
    static const rx_unary_op ops[] = {RX_NEG,  RX_ABS,   RX_RELU, RX_SQUARE,     RX_FLOOR,
                                      RX_CEIL, RX_ROUND, RX_SIGN, RX_LOGICAL_NOT};
    static const rx_dtype dts[] = {RX_I32, RX_I64};
    int64_t shape[2] = {3, 5};
    double in[15];
    for (int i = 0; i < 15; i++) in[i] = (double)((i * 37) % 23) - 11.0;
    for (int d = 0; d < 2; d++) {
        rx_tensor *a = t_from(2, shape, dts[d], in);
        rx_tensor *tr = view_t(a, 0, 1);
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            check_unary_on(ops[k], a, 0, 0);
            check_unary_on(ops[k], tr, 0, 0);
            context("%s on %s", rx_unary_op_name(ops[k]), rx_dtype_name(dts[d]));
        }
        rx_tensor_release(a);
        rx_tensor_release(tr);
    }
    /* wrap-around instead of traps: neg and abs of INT32_MIN, square overflow */
    int32_t raw[3] = {INT32_MIN, 65536, -7};
    rx_tensor *a = NULL, *o = NULL;
    CHECK_OK(rx_from_buffer(1, (int64_t[]){3}, RX_I32, raw, &a));
    CHECK_OK(rx_unary(RX_NEG, a, &o));
    CHECK(((int32_t *)rx_tensor_data_ptr(o))[0] == INT32_MIN && ((int32_t *)rx_tensor_data_ptr(o))[2] == 7);
    rx_tensor_release(o);
    CHECK_OK(rx_unary(RX_SQUARE, a, &o));
    CHECK(((int32_t *)rx_tensor_data_ptr(o))[1] == 0 && ((int32_t *)rx_tensor_data_ptr(o))[2] == 49);
    rx_tensor_release(o);
    rx_tensor_release(a);
    /* u8 wraps, bool only has logical_not */
    double u[4] = {0, 1, 200, 255};
    a = t_from(1, (int64_t[]){4}, RX_U8, u);
    CHECK_OK(rx_unary(RX_NEG, a, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){4}), ((double[]){0, 255, 56, 1}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_unary(RX_SIGN, a, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){4}), ((double[]){0, 1, 1, 1}), 0, 0);
    rx_tensor_release(o);
    rx_tensor_release(a);
    a = t_from(1, (int64_t[]){4}, RX_BOOL, (double[]){1, 0, 0, 1});
    CHECK_OK(rx_unary(RX_LOGICAL_NOT, a, &o));
    CHECK(o && rx_tensor_dtype(o) == RX_BOOL);
    CHECK_TENSOR(o, 1, ((int64_t[]){4}), ((double[]){0, 1, 1, 0}), 0, 0);
    rx_tensor_release(o);
    CHECK_ERR(rx_unary(RX_NEG, a, &o), RX_ERR_DTYPE, "neg: argument #1: not defined for bool");
    CHECK(o == NULL);
    CHECK_ERR(rx_unary(RX_ABS, a, &o), RX_ERR_DTYPE, "bool");
    rx_tensor_release(a);
}

static void test_unary_empty(void)
{
    rx_tensor *a = NULL, *o = NULL;
    CHECK_OK(rx_zeros(2, (int64_t[]){0, 3}, RX_F32, rx_cpu(), &a));
    CHECK_OK(rx_unary(RX_EXP, a, &o));
    CHECK(o && rx_tensor_numel(o) == 0 && rx_tensor_size(o, 1) == 3);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_ADD, a, a, &o));
    CHECK(o && rx_tensor_numel(o) == 0);
    rx_tensor_release(o);
    rx_tensor_release(a);
}

/* ---- binary ------------------------------------------------------------------------------- */

/* Checks a op b (any layouts, broadcasting) against the reference on the broadcast shape. */
static void check_binary_on(rx_binary_op op, rx_tensor *a, rx_tensor *b, int nd, const int64_t *shape,
                            double atol, double rtol)
{
    rx_tensor *ae = NULL, *be = NULL, *o = NULL;
    CHECK_OK(rx_expand(a, nd, shape, &ae));
    CHECK_OK(rx_expand(b, nd, shape, &be));
    if (!ae || !be) return;
    int64_t n = rx_tensor_numel(ae);
    double *av = t_values(ae), *bv = t_values(be), *ref = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ref[i] = ref_binary(op, av[i], bv[i]);
    CHECK_OK(rx_binary(op, a, b, &o));
    if (o) {
        CHECK(rx_tensor_dtype(o) == (bool_op(op) ? RX_BOOL : rx_tensor_dtype(a)));
        CHECK(rx_tensor_is_contiguous(o));
        CHECK_TENSOR(o, nd, shape, ref, atol, rtol);
    }
    rx_tensor_release(o);
    rx_tensor_release(ae);
    rx_tensor_release(be);
    free(av);
    free(bv);
    free(ref);
}

static void test_binary_float_dtypes(void)
{
    int64_t shape[2] = {3, 4};
    double a[12], b[12];
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        for (int op = 0; op < RX_BINARY_OP_COUNT; op++) {
            binary_inputs(op, 12, a, b);
            rx_tensor *ta = t_from(2, shape, dt, a), *tb = t_from(2, shape, dt, b);
            check_binary_on(op, ta, tb, 2, shape, atol_of(dt), rtol_of(dt));
            /* b transposed from a (4, 3) buffer: a non-contiguous right operand */
            rx_tensor *tb2 = t_from(2, (int64_t[]){4, 3}, dt, b), *tbt = view_t(tb2, 0, 1);
            check_binary_on(op, ta, tbt, 2, shape, atol_of(dt), rtol_of(dt));
            check_binary_on(op, tbt, ta, 2, shape, atol_of(dt), rtol_of(dt));
            rx_tensor_release(ta);
            rx_tensor_release(tb);
            rx_tensor_release(tb2);
            rx_tensor_release(tbt);
            context("%s on %s", rx_binary_op_name(op), rx_dtype_name(dt));
        }
    }
}

static void test_binary_broadcast(void)
{
    static const rx_binary_op ops[] = {RX_ADD, RX_SUB, RX_MUL, RX_DIV, RX_MAXIMUM, RX_LT, RX_POW};
    double a[24], b[24];
    for (int i = 0; i < 24; i++) {
        a[i] = 0.5 + 0.125 * (double)i;
        b[i] = 2.0 - 0.375 * (double)i;
    }
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        double at = atol_of(dt), rt = rtol_of(dt);
        rx_tensor *c31 = t_from(2, (int64_t[]){3, 1}, dt, a), *r14 = t_from(2, (int64_t[]){1, 4}, dt, b);
        rx_tensor *t234 = t_from(3, (int64_t[]){2, 3, 4}, dt, a), *v4 = t_from(1, (int64_t[]){4}, dt, b);
        rx_tensor *s0 = t_from(0, NULL, dt, (double[]){1.75}), *m23 = t_from(2, (int64_t[]){2, 3}, dt, b);
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            rx_binary_op op = ops[k];
            check_binary_on(op, c31, r14, 2, (int64_t[]){3, 4}, at, rt);
            check_binary_on(op, r14, c31, 2, (int64_t[]){3, 4}, at, rt);
            check_binary_on(op, t234, v4, 3, (int64_t[]){2, 3, 4}, at, rt);
            check_binary_on(op, v4, t234, 3, (int64_t[]){2, 3, 4}, at, rt);
            check_binary_on(op, s0, m23, 2, (int64_t[]){2, 3}, at, rt);
            check_binary_on(op, m23, s0, 2, (int64_t[]){2, 3}, at, rt);
            check_binary_on(op, s0, s0, 0, NULL, at, rt);
            context("broadcast %s on %s", rx_binary_op_name(op), rx_dtype_name(dt));
        }
        rx_tensor *o = NULL;
        CHECK_OK(rx_binary(RX_ADD, c31, r14, &o));
        CHECK(o && rx_tensor_ndim(o) == 2 && rx_tensor_size(o, 0) == 3 && rx_tensor_size(o, 1) == 4);
        rx_tensor_release(o);
        CHECK_OK(rx_binary(RX_MUL, s0, s0, &o));
        CHECK(o && rx_tensor_ndim(o) == 0);
        rx_tensor_release(o);
        rx_tensor_release(c31);
        rx_tensor_release(r14);
        rx_tensor_release(t234);
        rx_tensor_release(v4);
        rx_tensor_release(s0);
        rx_tensor_release(m23);
    }
}

static void test_binary_non_contiguous(void)
{
    double in[48];
    for (int i = 0; i < 48; i++) in[i] = 0.25 * (double)((i * 11) % 17) - 1.5;
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *base = t_from(2, (int64_t[]){6, 8}, dt, in);
        rx_tensor *nar = NULL, *nar2 = NULL, *row = NULL, *ex = NULL;
        CHECK_OK(rx_narrow(base, 1, 1, 4, &nar));  /* (6, 4) */
        CHECK_OK(rx_narrow(base, 1, 4, 4, &nar2)); /* (6, 4), overlapping storage */
        CHECK_OK(rx_narrow(base, 0, 2, 1, &row));
        CHECK_OK(rx_expand(row, 2, (int64_t[]){6, 8}, &ex)); /* stride-0 rows */
        rx_tensor *tr = NULL;                                /* (8, 6) transposed */
        tr = view_t(base, 0, 1);
        rx_tensor *trn = NULL;
        CHECK_OK(rx_narrow(tr, 0, 0, 6, &trn)); /* (6, 6) */
        rx_tensor *sq = NULL;
        CHECK_OK(rx_narrow(base, 1, 0, 6, &sq)); /* (6, 6) */
        for (int op = 0; op < RX_BINARY_OP_COUNT; op++) {
            if (op == RX_DIV || op == RX_REMAINDER || op == RX_POW)
                continue; /* operands hold zeros/negatives */
            check_binary_on(op, nar, nar2, 2, (int64_t[]){6, 4}, atol_of(dt), rtol_of(dt));
            check_binary_on(op, ex, base, 2, (int64_t[]){6, 8}, atol_of(dt), rtol_of(dt));
            check_binary_on(op, trn, sq, 2, (int64_t[]){6, 6}, atol_of(dt), rtol_of(dt));
            context("non-contiguous %s on %s", rx_binary_op_name(op), rx_dtype_name(dt));
        }
        rx_tensor_release(base);
        rx_tensor_release(nar);
        rx_tensor_release(nar2);
        rx_tensor_release(row);
        rx_tensor_release(ex);
        rx_tensor_release(tr);
        rx_tensor_release(trn);
        rx_tensor_release(sq);
    }
}

static void test_binary_special_values(void)
{
    double a[] = {NAN, 1, NAN, -7, 7, -7, 5.5, -0.5, INFINITY, 2, 0, 3};
    double b[] = {1, NAN, NAN, 3, -3, -3, 2, 2, 1, INFINITY, 0, NAN};
    int64_t n = 12;
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *ta = t_from(1, &n, dt, a), *tb = t_from(1, &n, dt, b), *o = NULL;
        CHECK_OK(rx_binary(RX_MAXIMUM, ta, tb, &o));
        double *v = t_values(o);
        CHECK(isnan(v[0]) && isnan(v[1]) && isnan(v[2]) && v[3] == 3 && v[4] == 7 && v[9] == INFINITY &&
              isnan(v[11]));
        free(v);
        rx_tensor_release(o);
        CHECK_OK(rx_binary(RX_MINIMUM, ta, tb, &o));
        v = t_values(o);
        CHECK(isnan(v[0]) && isnan(v[1]) && isnan(v[2]) && v[3] == -7 && v[4] == -3 && v[8] == 1);
        free(v);
        rx_tensor_release(o);
        /* remainder takes the divisor's sign: -7%3=2, 7%-3=-2, -7%-3=-1, 5.5%2=1.5, -0.5%2=1.5 */
        CHECK_OK(rx_binary(RX_REMAINDER, ta, tb, &o));
        v = t_values(o);
        CHECK(v[3] == 2 && v[4] == -2 && v[5] == -1 && v[6] == 1.5 && v[7] == 1.5 && isnan(v[10]) &&
              isnan(v[8]));
        free(v);
        rx_tensor_release(o);
        /* NaN compares unequal to everything, NaN is true for logical ops */
        CHECK_OK(rx_binary(RX_NE, ta, tb, &o));
        v = t_values(o);
        CHECK(v[0] == 1 && v[2] == 1 && v[10] == 0);
        free(v);
        rx_tensor_release(o);
        CHECK_OK(rx_binary(RX_EQ, ta, ta, &o));
        v = t_values(o);
        CHECK(v[0] == 0 && v[1] == 1 && v[8] == 1);
        free(v);
        rx_tensor_release(o);
        CHECK_OK(rx_binary(RX_LOGICAL_AND, ta, tb, &o));
        v = t_values(o);
        CHECK(v[0] == 1 && v[2] == 1 && v[10] == 0 && v[11] == 1);
        free(v);
        rx_tensor_release(o);
        CHECK_OK(rx_binary(RX_DIV, ta, tb, &o));
        v = t_values(o);
        CHECK(isnan(v[10]) && v[9] == 0 && v[8] == INFINITY);
        free(v);
        rx_tensor_release(o);
        rx_tensor_release(ta);
        rx_tensor_release(tb);
        context("binary special values on %s%s", rx_dtype_name(dt), "");
    }
}

/* Integer references in int64 arithmetic (operands are small). */
static double ref_int_binary(rx_binary_op op, double x, double y)
{
    int64_t a = (int64_t)x, b = (int64_t)y;
    switch (op) {
    case RX_POW: {
        if (b < 0) return a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0;
        int64_t r = 1;
        for (int64_t k = 0; k < b; k++) r *= a;
        return (double)r;
    }
    case RX_REMAINDER: return b == 0 ? 0 : py_rem(x, y);
    default: return ref_binary(op, x, y);
    }
}

static void test_binary_integers(void)
{
    static const rx_dtype dts[] = {RX_I32, RX_I64};
    int64_t shape[2] = {4, 5};
    double a[20], b[20];
    for (int i = 0; i < 20; i++) {
        a[i] = (double)((i * 7) % 19) - 9.0;
        b[i] = (double)((i * 5) % 11) - 5.0; /* includes 0 and -1 */
        if (i % 6 == 0) b[i] = a[i];
    }
    for (int d = 0; d < 2; d++) {
        rx_tensor *ta = t_from(2, shape, dts[d], a), *tb = t_from(2, shape, dts[d], b);
        rx_tensor *tb2 = t_from(2, (int64_t[]){5, 4}, dts[d], b), *tbt = view_t(tb2, 0, 1);
        double *bt = t_values(tbt);
        for (int op = 0; op < RX_BINARY_OP_COUNT; op++) {
            if (op == RX_DIV) continue;
            for (int variant = 0; variant < 2; variant++) {
                rx_tensor *rhs = variant ? tbt : tb;
                const double *bv = variant ? bt : b;
                double ref[20], pb[20];
                for (int i = 0; i < 20; i++) {
                    pb[i] = op == RX_POW ? fmod(fabs(bv[i]), 4.0) - (i == 3 ? 2.0 : 0.0) : bv[i];
                    ref[i] = ref_int_binary(op, a[i], pb[i]);
                }
                rx_tensor *rb = rhs;
                if (op == RX_POW) rb = t_from(2, shape, dts[d], pb);
                rx_tensor *o = NULL;
                CHECK_OK(rx_binary(op, ta, rb, &o));
                if (o) CHECK(rx_tensor_dtype(o) == (bool_op(op) ? RX_BOOL : dts[d]));
                CHECK_TENSOR(o, 2, shape, ref, 0, 0);
                rx_tensor_release(o);
                if (op == RX_POW) rx_tensor_release(rb);
            }
            context("%s on %s", rx_binary_op_name(op), rx_dtype_name(dts[d]));
        }
        free(bt);
        rx_tensor_release(ta);
        rx_tensor_release(tb);
        rx_tensor_release(tb2);
        rx_tensor_release(tbt);
    }
    /* wrap-around and the extremes of remainder */
    int32_t xa[4] = {INT32_MAX, INT32_MIN, INT32_MIN, 2};
    int32_t xb[4] = {1, -1, 0, 31};
    rx_tensor *ta = NULL, *tb = NULL, *o = NULL;
    CHECK_OK(rx_from_buffer(1, (int64_t[]){4}, RX_I32, xa, &ta));
    CHECK_OK(rx_from_buffer(1, (int64_t[]){4}, RX_I32, xb, &tb));
    CHECK_OK(rx_binary(RX_ADD, ta, tb, &o));
    CHECK(((int32_t *)rx_tensor_data_ptr(o))[0] == INT32_MIN);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_REMAINDER, ta, tb, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){4}), ((double[]){0, 0, 0, 2}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_POW, ta, tb, &o));
    CHECK(((int32_t *)rx_tensor_data_ptr(o))[3] == INT32_MIN); /* 2^31 wraps */
    rx_tensor_release(o);
    rx_tensor_release(ta);
    rx_tensor_release(tb);
    int64_t big[2] = {INT64_MAX, INT64_MIN}, one[2] = {1, -1};
    CHECK_OK(rx_from_buffer(1, (int64_t[]){2}, RX_I64, big, &ta));
    CHECK_OK(rx_from_buffer(1, (int64_t[]){2}, RX_I64, one, &tb));
    CHECK_OK(rx_binary(RX_ADD, ta, tb, &o));
    CHECK(((int64_t *)rx_tensor_data_ptr(o))[0] == INT64_MIN &&
          ((int64_t *)rx_tensor_data_ptr(o))[1] == INT64_MAX);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_GT, ta, tb, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){2}), ((double[]){1, 0}), 0, 0);
    rx_tensor_release(o);
    rx_tensor_release(ta);
    rx_tensor_release(tb);
}

static void test_binary_u8_bool(void)
{
    int64_t n = 5;
    rx_tensor *a = t_from(1, &n, RX_U8, (double[]){250, 3, 0, 128, 7});
    rx_tensor *b = t_from(1, &n, RX_U8, (double[]){10, 5, 1, 128, 0});
    rx_tensor *o = NULL;
    CHECK_OK(rx_binary(RX_ADD, a, b, &o));
    CHECK_TENSOR(o, 1, &n, ((double[]){4, 8, 1, 0, 7}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_SUB, a, b, &o));
    CHECK_TENSOR(o, 1, &n, ((double[]){240, 254, 255, 0, 7}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_MUL, a, b, &o));
    CHECK_TENSOR(o, 1, &n, ((double[]){196, 15, 0, 0, 0}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_REMAINDER, a, b, &o));
    CHECK_TENSOR(o, 1, &n, ((double[]){0, 3, 0, 0, 0}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_MAXIMUM, a, b, &o));
    CHECK_TENSOR(o, 1, &n, ((double[]){250, 5, 1, 128, 7}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_GE, a, b, &o));
    CHECK(o && rx_tensor_dtype(o) == RX_BOOL);
    CHECK_TENSOR(o, 1, &n, ((double[]){1, 0, 0, 1, 1}), 0, 0);
    rx_tensor_release(o);
    CHECK_ERR(rx_binary(RX_DIV, a, b, &o), RX_ERR_DTYPE, "use a float dtype");
    rx_tensor_release(a);
    rx_tensor_release(b);

    a = t_from(1, (int64_t[]){4}, RX_BOOL, (double[]){0, 0, 1, 1});
    b = t_from(1, (int64_t[]){4}, RX_BOOL, (double[]){0, 1, 0, 1});
    struct {
        rx_binary_op op;
        double want[4];
    } cases[] = {
        {RX_LOGICAL_AND, {0, 0, 0, 1}}, {RX_LOGICAL_OR, {0, 1, 1, 1}}, {RX_EQ, {1, 0, 0, 1}},
        {RX_NE, {0, 1, 1, 0}},          {RX_LT, {0, 1, 0, 0}},         {RX_MAXIMUM, {0, 1, 1, 1}},
        {RX_MINIMUM, {0, 0, 0, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK_OK(rx_binary(cases[k].op, a, b, &o));
        CHECK(o && rx_tensor_dtype(o) == RX_BOOL);
        CHECK_TENSOR(o, 1, ((int64_t[]){4}), cases[k].want, 0, 0);
        rx_tensor_release(o);
        context("%s on %s", rx_binary_op_name(cases[k].op), "bool");
    }
    CHECK_ERR(rx_binary(RX_ADD, a, b, &o), RX_ERR_DTYPE, "add: not defined for bool");
    CHECK_ERR(rx_binary(RX_SUB, a, b, &o), RX_ERR_DTYPE, "bool");
    rx_tensor_release(a);
    rx_tensor_release(b);
    /* logical ops on any dtype give bool */
    a = t_from(1, (int64_t[]){3}, RX_I64, (double[]){0, 5, -2});
    b = t_from(1, (int64_t[]){3}, RX_I64, (double[]){3, 0, -1});
    CHECK_OK(rx_binary(RX_LOGICAL_OR, a, b, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){3}), ((double[]){1, 1, 1}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary(RX_LOGICAL_AND, a, b, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){3}), ((double[]){0, 0, 1}), 0, 0);
    rx_tensor_release(o);
    rx_tensor_release(a);
    rx_tensor_release(b);
}

/* ---- scalars ------------------------------------------------------------------------------ */

static void test_binary_scalar(void)
{
    double in[6] = {-2.5, -1, 0, 0.5, 2, 3.75};
    int64_t n = 6;
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *a = t_from(1, &n, dt, in);
        double *av = t_values(a);
        for (int op = 0; op < RX_BINARY_OP_COUNT; op++) {
            double s = op == RX_POW ? 2.0 : op == RX_EQ || op == RX_NE ? 0.5 : 1.25;
            for (int first = 0; first < 2; first++) {
                double ref[6];
                for (int i = 0; i < 6; i++)
                    ref[i] = first ? ref_binary(op, s, av[i]) : ref_binary(op, av[i], s);
                rx_tensor *o = NULL;
                CHECK_OK(rx_binary_scalar(op, a, s, first, &o));
                if (o) CHECK(rx_tensor_dtype(o) == (bool_op(op) ? RX_BOOL : dt));
                CHECK_TENSOR(o, 1, &n, ref, atol_of(dt), rtol_of(dt));
                rx_tensor_release(o);
            }
            context("scalar %s on %s", rx_binary_op_name(op), rx_dtype_name(dt));
        }
        /* a non-contiguous tensor with a scalar */
        rx_tensor *m = t_from(2, (int64_t[]){2, 3}, dt, in), *mt = view_t(m, 0, 1), *o = NULL;
        double *mv = t_values(mt), ref[6];
        for (int i = 0; i < 6; i++) ref[i] = mv[i] * 3.0;
        CHECK_OK(rx_binary_scalar(RX_MUL, mt, 3.0, 0, &o));
        CHECK_TENSOR(o, 2, ((int64_t[]){3, 2}), ref, atol_of(dt), rtol_of(dt));
        rx_tensor_release(o);
        free(mv);
        rx_tensor_release(m);
        rx_tensor_release(mt);
        free(av);
        rx_tensor_release(a);
    }
}

static void test_binary_scalar_integers(void)
{
    int64_t n = 7;
    double in[7] = {-3, -2, -1, 0, 1, 2, 3};
    for (int d = 0; d < 2; d++) {
        rx_dtype dt = d ? RX_I64 : RX_I32;
        rx_tensor *a = t_from(1, &n, dt, in), *o = NULL;
        CHECK_OK(rx_binary_scalar(RX_ADD, a, 10, 0, &o));
        CHECK_TENSOR(o, 1, &n, ((double[]){7, 8, 9, 10, 11, 12, 13}), 0, 0);
        rx_tensor_release(o);
        CHECK_OK(rx_binary_scalar(RX_SUB, a, 1, 1, &o));
        CHECK_TENSOR(o, 1, &n, ((double[]){4, 3, 2, 1, 0, -1, -2}), 0, 0);
        rx_tensor_release(o);
        CHECK_OK(rx_binary_scalar(RX_POW, a, 3, 0, &o));
        CHECK_TENSOR(o, 1, &n, ((double[]){-27, -8, -1, 0, 1, 8, 27}), 0, 0);
        rx_tensor_release(o);
        CHECK_OK(rx_binary_scalar(RX_POW, a, 2, 1, &o));
        CHECK_TENSOR(o, 1, &n, ((double[]){0, 0, 0, 1, 2, 4, 8}), 0, 0);
        rx_tensor_release(o);
        CHECK_OK(rx_binary_scalar(RX_REMAINDER, a, -2, 0, &o));
        CHECK_TENSOR(o, 1, &n, ((double[]){-1, 0, -1, 0, -1, 0, -1}), 0, 0);
        rx_tensor_release(o);
        CHECK_OK(rx_binary_scalar(RX_REMAINDER, a, 0, 0, &o));
        CHECK_TENSOR(o, 1, &n, ((double[]){0, 0, 0, 0, 0, 0, 0}), 0, 0);
        rx_tensor_release(o);
        /* comparisons with any real scalar are exact */
        struct {
            rx_binary_op op;
            double s;
            int first;
            double want[7];
        } cases[] = {
            {RX_LT, 0.5, 0, {1, 1, 1, 1, 0, 0, 0}},       {RX_LE, 0.5, 0, {1, 1, 1, 1, 0, 0, 0}},
            {RX_GT, -1.5, 0, {0, 0, 1, 1, 1, 1, 1}},      {RX_GE, -1.5, 0, {0, 0, 1, 1, 1, 1, 1}},
            {RX_EQ, 1.5, 0, {0, 0, 0, 0, 0, 0, 0}},       {RX_NE, 1.5, 0, {1, 1, 1, 1, 1, 1, 1}},
            {RX_EQ, 2, 0, {0, 0, 0, 0, 0, 1, 0}},         {RX_LT, 1e30, 0, {1, 1, 1, 1, 1, 1, 1}},
            {RX_GT, 1e30, 0, {0, 0, 0, 0, 0, 0, 0}},      {RX_GE, -1e30, 0, {1, 1, 1, 1, 1, 1, 1}},
            {RX_EQ, NAN, 0, {0, 0, 0, 0, 0, 0, 0}},       {RX_NE, NAN, 0, {1, 1, 1, 1, 1, 1, 1}},
            {RX_LT, NAN, 0, {0, 0, 0, 0, 0, 0, 0}},       {RX_GT, 0.5, 1, {1, 1, 1, 1, 0, 0, 0}},
            {RX_LE, 2.0, 1, {0, 0, 0, 0, 0, 1, 1}},       {RX_LOGICAL_AND, 0.25, 0, {1, 1, 1, 0, 1, 1, 1}},
            {RX_LOGICAL_OR, 0, 1, {1, 1, 1, 0, 1, 1, 1}}, {RX_LOGICAL_AND, NAN, 0, {1, 1, 1, 0, 1, 1, 1}},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            CHECK_OK(rx_binary_scalar(cases[k].op, a, cases[k].s, cases[k].first, &o));
            if (o) CHECK(rx_tensor_dtype(o) == RX_BOOL);
            CHECK_TENSOR(o, 1, &n, cases[k].want, 0, 0);
            rx_tensor_release(o);
            if (check_failures_in_test > failures_seen) fprintf(stderr, "    ^ case %zu\n", k);
            context("scalar comparisons on %s%s", rx_dtype_name(dt), "");
        }
        CHECK_ERR(rx_binary_scalar(RX_ADD, a, 0.5, 0, &o), RX_ERR_ARG,
                  "add: argument #2: 0.5 is not an integer");
        CHECK(o == NULL);
        CHECK_ERR(rx_binary_scalar(RX_MUL, a, INFINITY, 0, &o), RX_ERR_ARG, "argument #2");
        CHECK_ERR(rx_binary_scalar(RX_DIV, a, 2, 0, &o), RX_ERR_DTYPE, "use a float dtype");
        if (dt == RX_I32) CHECK_ERR(rx_binary_scalar(RX_ADD, a, 3e9, 0, &o), RX_ERR_ARG, "i32");
        rx_tensor_release(a);
    }
    /* i64 scalars beyond 2^53 stay exact */
    int64_t big = ((int64_t)1 << 60) + 1;
    rx_tensor *a = NULL, *o = NULL;
    CHECK_OK(rx_from_buffer(1, (int64_t[]){1}, RX_I64, &big, &a));
    CHECK_OK(rx_binary_scalar(RX_SUB, a, 1, 0, &o));
    CHECK(o && *(int64_t *)rx_tensor_data_ptr(o) == ((int64_t)1 << 60));
    rx_tensor_release(o);
    rx_tensor_release(a);
    /* u8 and bool */
    a = t_from(1, (int64_t[]){3}, RX_U8, (double[]){0, 100, 255});
    CHECK_OK(rx_binary_scalar(RX_ADD, a, 200, 0, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){3}), ((double[]){200, 44, 199}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary_scalar(RX_LT, a, -3, 0, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){3}), ((double[]){0, 0, 0}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary_scalar(RX_GE, a, 99.5, 0, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){3}), ((double[]){0, 1, 1}), 0, 0);
    rx_tensor_release(o);
    CHECK_ERR(rx_binary_scalar(RX_ADD, a, 256, 0, &o), RX_ERR_ARG, "u8");
    CHECK_ERR(rx_binary_scalar(RX_ADD, a, -1, 0, &o), RX_ERR_ARG, "u8");
    rx_tensor_release(a);
    a = t_from(1, (int64_t[]){2}, RX_BOOL, (double[]){0, 1});
    CHECK_OK(rx_binary_scalar(RX_EQ, a, 1, 0, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){2}), ((double[]){0, 1}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_binary_scalar(RX_MAXIMUM, a, 1, 0, &o));
    CHECK(o && rx_tensor_dtype(o) == RX_BOOL);
    CHECK_TENSOR(o, 1, ((int64_t[]){2}), ((double[]){1, 1}), 0, 0);
    rx_tensor_release(o);
    CHECK_ERR(rx_binary_scalar(RX_ADD, a, 1, 0, &o), RX_ERR_DTYPE, "bool");
    CHECK_ERR(rx_binary_scalar(RX_MAXIMUM, a, 2, 0, &o), RX_ERR_ARG, "bool");
    rx_tensor_release(a);
}

/* ---- in place ----------------------------------------------------------------------------- */

static void test_binary_inplace(void)
{
    double in[12];
    for (int i = 0; i < 12; i++) in[i] = 0.5 * (double)i - 2.0;
    int64_t shape[2] = {3, 4};
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *a = t_from(2, shape, dt, in), *b = t_from(1, (int64_t[]){4}, dt, (double[]){1, 2, 3, 4});
        double *av = t_values(a), ref[12];
        for (int i = 0; i < 12; i++) ref[i] = av[i] * (double)(i % 4 + 1);
        CHECK_OK(rx_binary_(RX_MUL, a, b));
        CHECK_TENSOR(a, 2, shape, ref, atol_of(dt), rtol_of(dt));
        /* a = a + a: b is exactly a */
        free(av);
        av = t_values(a);
        for (int i = 0; i < 12; i++) ref[i] = 2 * av[i];
        CHECK_OK(rx_binary_(RX_ADD, a, a));
        CHECK_TENSOR(a, 2, shape, ref, atol_of(dt), rtol_of(dt));
        /* a non-contiguous destination is written through its strides */
        rx_tensor *at = view_t(a, 0, 1), *c = t_from(2, (int64_t[]){4, 3}, dt, in);
        free(av);
        av = t_values(a);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) ref[i * 4 + j] = av[i * 4 + j] - in[j * 3 + i];
        CHECK_OK(rx_binary_(RX_SUB, at, c));
        CHECK_TENSOR(a, 2, shape, ref, atol_of(dt), rtol_of(dt));
        free(av);
        rx_tensor_release(at);
        rx_tensor_release(c);
        rx_tensor_release(a);
        rx_tensor_release(b);
        context("in-place on %s%s", rx_dtype_name(dt), "");
    }
}

/* a += a^T on a square matrix must read the original values, also on the parallel path. */
static void check_inplace_transpose(int64_t n, rx_dtype dt, double tol)
{
    double *in = malloc(sizeof(double) * (size_t)(n * n)), *ref = malloc(sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n * n; i++) in[i] = (double)((i * 13) % 101) - 50.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) ref[i * n + j] = in[i * n + j] + in[j * n + i];
    int64_t shape[2] = {n, n};
    rx_tensor *a = t_from(2, shape, dt, in), *at = view_t(a, 0, 1);
    CHECK_OK(rx_binary_(RX_ADD, a, at));
    CHECK_TENSOR(a, 2, shape, ref, tol, tol);
    /* a -= a[0] (a broadcast row of a itself) */
    rx_tensor *row = NULL;
    double *cur = t_values(a);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) ref[i * n + j] = cur[i * n + j] - cur[j];
    CHECK_OK(rx_narrow(a, 0, 0, 1, &row));
    CHECK_OK(rx_binary_(RX_SUB, a, row));
    CHECK_TENSOR(a, 2, shape, ref, tol, tol);
    free(cur);
    rx_tensor_release(row);
    rx_tensor_release(at);
    rx_tensor_release(a);
    free(in);
    free(ref);
}

static void test_binary_inplace_aliasing(void)
{
    check_inplace_transpose(4, RX_F32, 0);
    check_inplace_transpose(5, RX_I32, 0);
    check_inplace_transpose(5, RX_BF16, 1e-2);
    check_inplace_transpose(256, RX_F32, 0); /* 65536 elements: the OpenMP path */
    check_inplace_transpose(200, RX_I64, 0);
}

static void test_binary_inplace_errors(void)
{
    rx_tensor *a = t_from(2, (int64_t[]){3, 4}, RX_F32, (double[12]){0});
    rx_tensor *b5 = t_from(1, (int64_t[]){5}, RX_F32, (double[5]){0});
    rx_tensor *big = t_from(2, (int64_t[]){2, 4}, RX_F32, (double[8]){0});
    rx_tensor *row = t_from(1, (int64_t[]){4}, RX_F32, (double[4]){1, 2, 3, 4});
    rx_tensor *ai = t_from(2, (int64_t[]){3, 4}, RX_I32, (double[12]){0});
    CHECK_ERR(rx_binary_(RX_ADD, a, b5), RX_ERR_SHAPE, "cannot be broadcast");
    CHECK_ERR(rx_binary_(RX_ADD, row, a), RX_ERR_SHAPE,
              "add_: argument #2 of shape (3, 4) cannot be broadcast to the shape (4)");
    CHECK_ERR(rx_binary_(RX_ADD, a, big), RX_ERR_SHAPE, "cannot be broadcast");
    CHECK_ERR(rx_binary_(RX_LT, a, a), RX_ERR_DTYPE, "lt_: argument #1");
    CHECK_ERR(rx_binary_(RX_ADD, a, ai), RX_ERR_DTYPE, "add_: argument #1 is f32 but argument #2 is i32");
    CHECK_ERR(rx_binary_(RX_DIV, ai, ai), RX_ERR_DTYPE, "use a float dtype");
    rx_tensor *ex = NULL;
    CHECK_OK(rx_expand(row, 2, (int64_t[]){3, 4}, &ex));
    CHECK_ERR(rx_binary_(RX_ADD, ex, a), RX_ERR_ARG, "expanded");
    CHECK_ERR(rx_binary_(RX_ADD, NULL, a), RX_ERR_ARG, "add_: argument #1");
    CHECK_ERR(rx_binary_(RX_BINARY_OP_COUNT, a, a), RX_ERR_ARG, "unknown op");
    /* a is unchanged after the failures */
    double zero[12] = {0};
    CHECK_TENSOR(a, 2, ((int64_t[]){3, 4}), zero, 0, 0);
    /* bool in place comparison is fine */
    rx_tensor *m = t_from(1, (int64_t[]){3}, RX_BOOL, (double[]){0, 1, 1});
    rx_tensor *m2 = t_from(1, (int64_t[]){3}, RX_BOOL, (double[]){1, 1, 0});
    CHECK_OK(rx_binary_(RX_LOGICAL_AND, m, m2));
    CHECK_TENSOR(m, 1, ((int64_t[]){3}), ((double[]){0, 1, 0}), 0, 0);
    rx_tensor_release(m);
    rx_tensor_release(m2);
    rx_tensor_release(ex);
    rx_tensor_release(a);
    rx_tensor_release(b5);
    rx_tensor_release(big);
    rx_tensor_release(row);
    rx_tensor_release(ai);
}

/* ---- clamp, where, masked_fill ----------------------------------------------------------- */

static void test_clamp(void)
{
    double in[8] = {-3, -1.5, -0.25, 0, 0.75, 2, 9, NAN};
    int64_t n = 8;
    for (int d = 0; d < NFLOATS; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *a = t_from(1, &n, dt, in), *o = NULL;
        double *av = t_values(a), ref[8];
        for (int i = 0; i < 8; i++) ref[i] = isnan(av[i]) ? NAN : fmin(fmax(av[i], -1.0), 1.5);
        CHECK_OK(rx_clamp(a, -1.0, 1.5, &o));
        CHECK_TENSOR(o, 1, &n, ref, atol_of(dt), rtol_of(dt));
        rx_tensor_release(o);
        /* one-sided with an infinite bound; lo > hi gives hi everywhere (but NaN stays) */
        for (int i = 0; i < 8; i++) ref[i] = isnan(av[i]) ? NAN : fmax(av[i], 0.0);
        CHECK_OK(rx_clamp(a, 0.0, INFINITY, &o));
        CHECK_TENSOR(o, 1, &n, ref, 0, 0);
        rx_tensor_release(o);
        for (int i = 0; i < 8; i++) ref[i] = isnan(av[i]) ? NAN : 1.0;
        CHECK_OK(rx_clamp(a, 2.0, 1.0, &o));
        CHECK_TENSOR(o, 1, &n, ref, 0, 0);
        rx_tensor_release(o);
        /* a transposed input */
        rx_tensor *m = t_from(2, (int64_t[]){2, 4}, dt, in), *mt = view_t(m, 0, 1);
        double *mv = t_values(mt);
        for (int i = 0; i < 8; i++) ref[i] = isnan(mv[i]) ? NAN : fmin(fmax(mv[i], -0.5), 0.5);
        CHECK_OK(rx_clamp(mt, -0.5, 0.5, &o));
        CHECK_TENSOR(o, 2, ((int64_t[]){4, 2}), ref, atol_of(dt), rtol_of(dt));
        rx_tensor_release(o);
        free(mv);
        rx_tensor_release(m);
        rx_tensor_release(mt);
        free(av);
        rx_tensor_release(a);
        context("clamp on %s%s", rx_dtype_name(dt), "");
    }
    double iv[6] = {-5, -2, 0, 1, 3, 7};
    n = 6;
    for (int d = 0; d < 2; d++) {
        rx_tensor *a = t_from(1, &n, d ? RX_I64 : RX_I32, iv), *o = NULL;
        CHECK_OK(rx_clamp(a, -2.5, 3.5, &o)); /* integers: [-2, 3] */
        CHECK_TENSOR(o, 1, &n, ((double[]){-2, -2, 0, 1, 3, 3}), 0, 0);
        rx_tensor_release(o);
        CHECK_OK(rx_clamp(a, -INFINITY, 1e30, &o));
        CHECK_TENSOR(o, 1, &n, iv, 0, 0);
        rx_tensor_release(o);
        rx_tensor_release(a);
    }
    int64_t ext[2] = {INT64_MAX, INT64_MIN};
    rx_tensor *a = NULL, *o = NULL;
    CHECK_OK(rx_from_buffer(1, (int64_t[]){2}, RX_I64, ext, &a));
    CHECK_OK(rx_clamp(a, -INFINITY, INFINITY, &o));
    CHECK(o && ((int64_t *)rx_tensor_data_ptr(o))[0] == INT64_MAX &&
          ((int64_t *)rx_tensor_data_ptr(o))[1] == INT64_MIN);
    rx_tensor_release(o);
    rx_tensor_release(a);
    a = t_from(1, (int64_t[]){3}, RX_U8, (double[]){0, 100, 255});
    CHECK_OK(rx_clamp(a, -5, 300, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){3}), ((double[]){0, 100, 255}), 0, 0);
    rx_tensor_release(o);
    CHECK_OK(rx_clamp(a, 50, 200, &o));
    CHECK_TENSOR(o, 1, ((int64_t[]){3}), ((double[]){50, 100, 200}), 0, 0);
    rx_tensor_release(o);
    CHECK_ERR(rx_clamp(a, NAN, 1, &o), RX_ERR_ARG, "clamp: argument #2");
    CHECK_ERR(rx_clamp(a, 0, NAN, &o), RX_ERR_ARG, "clamp: argument #3");
    rx_tensor_release(a);
    a = t_from(1, (int64_t[]){2}, RX_BOOL, (double[]){0, 1});
    CHECK_ERR(rx_clamp(a, 0, 1, &o), RX_ERR_DTYPE, "bool");
    CHECK(o == NULL);
    rx_tensor_release(a);
    CHECK_ERR(rx_clamp(NULL, 0, 1, &o), RX_ERR_ARG, "clamp: argument #1");
}

static void test_where(void)
{
    static const rx_dtype dts[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I32, RX_I64, RX_U8, RX_BOOL};
    double c[3] = {1, 0, 1}, av[4] = {1, 0, 3, 4}, bv[1] = {0};
    rx_tensor *cond = t_from(2, (int64_t[]){3, 1}, RX_BOOL, c);
    for (int d = 0; d < 8; d++) {
        rx_dtype dt = dts[d];
        bv[0] = dt == RX_BOOL ? 1 : dt == RX_U8 ? 7 : -7;
        rx_tensor *a = t_from(2, (int64_t[]){1, 4}, dt, av), *b = t_from(0, NULL, dt, bv), *o = NULL;
        double ref[12];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                ref[i * 4 + j] = c[i] != 0 ? (dt == RX_BOOL ? av[j] != 0 : av[j]) : bv[0];
        CHECK_OK(rx_where(cond, a, b, &o));
        if (o) CHECK(rx_tensor_dtype(o) == dt);
        CHECK_TENSOR(o, 2, ((int64_t[]){3, 4}), ref, 0, 0);
        rx_tensor_release(o);
        rx_tensor_release(a);
        rx_tensor_release(b);
        context("where on %s%s", rx_dtype_name(dt), "");
    }
    /* non-contiguous everything */
    double x[12], y[12], cm[12];
    for (int i = 0; i < 12; i++) {
        x[i] = i;
        y[i] = -i;
        cm[i] = (i * 5) % 3 == 0;
    }
    rx_tensor *cb = t_from(2, (int64_t[]){4, 3}, RX_BOOL, cm), *ct = view_t(cb, 0, 1);
    rx_tensor *xb = t_from(2, (int64_t[]){4, 3}, RX_F64, x), *xt = view_t(xb, 0, 1);
    rx_tensor *yb = t_from(2, (int64_t[]){3, 4}, RX_F64, y), *o = NULL;
    double ref[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) ref[i * 4 + j] = cm[j * 3 + i] ? x[j * 3 + i] : y[i * 4 + j];
    CHECK_OK(rx_where(ct, xt, yb, &o));
    CHECK_TENSOR(o, 2, ((int64_t[]){3, 4}), ref, 0, 0);
    rx_tensor_release(o);
    /* errors */
    rx_tensor *xi = t_from(2, (int64_t[]){3, 4}, RX_I32, x), *bad = t_from(1, (int64_t[]){5}, RX_F64, x);
    CHECK_ERR(rx_where(yb, xt, yb, &o), RX_ERR_DTYPE, "where: argument #1: expected a bool tensor, got f64");
    CHECK_ERR(rx_where(ct, xt, xi, &o), RX_ERR_DTYPE, "where: argument #2 is f64 but argument #3 is i32");
    CHECK_ERR(rx_where(ct, xt, bad, &o), RX_ERR_SHAPE, "cannot be broadcast");
    CHECK_ERR(rx_where(ct, NULL, yb, &o), RX_ERR_ARG, "where: argument #2");
    CHECK(o == NULL);
    rx_tensor_release(xi);
    rx_tensor_release(bad);
    rx_tensor_release(cb);
    rx_tensor_release(ct);
    rx_tensor_release(xb);
    rx_tensor_release(xt);
    rx_tensor_release(yb);
    rx_tensor_release(cond);
}

static void test_masked_fill(void)
{
    double in[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    rx_tensor *mask = t_from(1, (int64_t[]){3}, RX_BOOL, (double[]){0, 1, 1}), *o = NULL;
    for (int d = 0; d < NFLOATS; d++) {
        rx_tensor *a = t_from(2, shape, FLOATS[d], in);
        CHECK_OK(rx_masked_fill(a, mask, -INFINITY, &o));
        CHECK_TENSOR(o, 2, shape, ((double[]){1, -INFINITY, -INFINITY, 4, -INFINITY, -INFINITY}), 0, 0);
        rx_tensor_release(o);
        CHECK_TENSOR(a, 2, shape, in, 0, 0); /* a itself unchanged */
        rx_tensor_release(a);
    }
    /* integer, non-contiguous a, full-shape mask */
    rx_tensor *ab = t_from(2, (int64_t[]){3, 2}, RX_I64, in), *at = view_t(ab, 0, 1);
    rx_tensor *m2 = t_from(2, shape, RX_BOOL, (double[]){1, 0, 0, 0, 0, 1});
    CHECK_OK(rx_masked_fill(at, m2, 7, &o));
    CHECK_TENSOR(o, 2, shape, ((double[]){7, 3, 5, 2, 4, 7}), 0, 0);
    rx_tensor_release(o);
    CHECK_ERR(rx_masked_fill(at, m2, 0.5, &o), RX_ERR_ARG, "masked_fill: argument #3");
    CHECK_ERR(rx_masked_fill(at, at, 1, &o), RX_ERR_DTYPE,
              "masked_fill: argument #2: expected a bool tensor");
    rx_tensor *small = t_from(1, (int64_t[]){3}, RX_I64, in);
    CHECK_ERR(rx_masked_fill(small, m2, 1, &o), RX_ERR_SHAPE, "cannot be broadcast");
    rx_tensor *m4 = t_from(1, (int64_t[]){4}, RX_BOOL, (double[4]){0});
    CHECK_ERR(rx_masked_fill(at, m4, 1, &o), RX_ERR_SHAPE, "cannot be broadcast");
    CHECK(o == NULL);
    rx_tensor_release(m4);
    rx_tensor_release(small);
    rx_tensor_release(ab);
    rx_tensor_release(at);
    rx_tensor_release(m2);
    rx_tensor_release(mask);
}

/* ---- large tensors: the OpenMP path ------------------------------------------------------ */

static void test_large(void)
{
    const int64_t R = 300, C = 400, N = R * C; /* 120000 > RX_PARALLEL_MIN */
    CHECK(N > RX_PARALLEL_MIN);
    double *a = malloc(sizeof(double) * (size_t)N), *b = malloc(sizeof(double) * (size_t)N);
    double *ref = malloc(sizeof(double) * (size_t)N);
    for (int64_t i = 0; i < N; i++) {
        a[i] = 0.25 * (double)(i % 97) - 12.0;
        b[i] = 0.5 * (double)((i * 7) % 89) - 20.0;
    }
    rx_tensor *ta = t_from(2, (int64_t[]){R, C}, RX_F32, a);
    rx_tensor *tb = t_from(2, (int64_t[]){C, R}, RX_F32, b), *tbt = view_t(tb, 0, 1); /* (R, C) strided */
    rx_tensor *o = NULL;
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) ref[i * C + j] = a[i * C + j] + b[j * R + i];
    CHECK_OK(rx_binary(RX_ADD, ta, tbt, &o));
    CHECK_TENSOR(o, 2, ((int64_t[]){R, C}), ref, 0, 0);
    rx_tensor_release(o);
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) ref[i * C + j] = a[i * C + j] * b[j * R + i];
    CHECK_OK(rx_binary(RX_MUL, tbt, ta, &o));
    CHECK_TENSOR(o, 2, ((int64_t[]){R, C}), ref, 0, 1e-7);
    rx_tensor_release(o);
    /* a 1-D run longer than one task, contiguous */
    rx_tensor *flat = t_from(1, &N, RX_F32, a);
    for (int64_t i = 0; i < N; i++) ref[i] = exp(a[i] * 0.25);
    rx_tensor *q = NULL;
    CHECK_OK(rx_binary_scalar(RX_MUL, flat, 0.25, 0, &q));
    CHECK_OK(rx_unary(RX_EXP, q, &o));
    CHECK_TENSOR(o, 1, &N, ref, 1e-6, 2e-6);
    rx_tensor_release(o);
    rx_tensor_release(q);
    /* f16 staged path with a broadcast row, and a comparison giving bool */
    rx_tensor *h = t_from(2, (int64_t[]){R, C}, RX_F16, a), *hr = t_from(1, &C, RX_F16, b);
    double *hv = t_values(h), *hrv = t_values(hr);
    for (int64_t i = 0; i < N; i++) ref[i] = hv[i] - hrv[i % C];
    CHECK_OK(rx_binary(RX_SUB, h, hr, &o));
    CHECK_TENSOR(o, 2, ((int64_t[]){R, C}), ref, 1e-3, 1e-3);
    rx_tensor_release(o);
    for (int64_t i = 0; i < N; i++) ref[i] = hv[i] > hrv[i % C];
    CHECK_OK(rx_binary(RX_GT, h, hr, &o));
    CHECK_TENSOR(o, 2, ((int64_t[]){R, C}), ref, 0, 0);
    /* where with a non-contiguous operand */
    rx_tensor *w = NULL;
    double *bt = t_values(tbt);
    CHECK_OK(rx_where(o, ta, tbt, &w));
    for (int64_t i = 0; i < N; i++) ref[i] = hv[i] > hrv[i % C] ? a[i] : bt[i];
    CHECK_TENSOR(w, 2, ((int64_t[]){R, C}), ref, 0, 0);
    rx_tensor_release(w);
    rx_tensor_release(o);
    /* i64 large with a transposed operand */
    rx_tensor *ia = t_from(2, (int64_t[]){R, C}, RX_I64, a), *ib = t_from(2, (int64_t[]){C, R}, RX_I64, b);
    rx_tensor *ibt = view_t(ib, 0, 1);
    double *iav = t_values(ia), *ibv = t_values(ibt);
    for (int64_t i = 0; i < N; i++) ref[i] = iav[i] * ibv[i];
    CHECK_OK(rx_binary(RX_MUL, ia, ibt, &o));
    CHECK_TENSOR(o, 2, ((int64_t[]){R, C}), ref, 0, 0);
    rx_tensor_release(o);
    free(iav);
    free(ibv);
    free(bt);
    free(hv);
    free(hrv);
    rx_tensor_release(ia);
    rx_tensor_release(ib);
    rx_tensor_release(ibt);
    rx_tensor_release(h);
    rx_tensor_release(hr);
    rx_tensor_release(flat);
    rx_tensor_release(ta);
    rx_tensor_release(tb);
    rx_tensor_release(tbt);
    free(a);
    free(b);
    free(ref);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_errors(void)
{
    rx_tensor *f = t_from(2, (int64_t[]){2, 3}, RX_F32, (double[6]){1, 2, 3, 4, 5, 6});
    rx_tensor *g = t_from(2, (int64_t[]){2, 3}, RX_F64, (double[6]){1, 2, 3, 4, 5, 6});
    rx_tensor *h = t_from(1, (int64_t[]){4}, RX_F32, (double[4]){1, 2, 3, 4});
    rx_tensor *i = t_from(1, (int64_t[]){3}, RX_I32, (double[3]){1, 2, 3});
    rx_tensor *o = NULL;
    CHECK_ERR(rx_binary(RX_ADD, f, g, &o), RX_ERR_DTYPE, "add: argument #1 is f32 but argument #2 is f64");
    CHECK(o == NULL);
    CHECK_ERR(rx_binary(RX_LT, g, f, &o), RX_ERR_DTYPE, "lt: argument #1 is f64 but argument #2 is f32");
    CHECK_ERR(rx_binary(RX_MUL, f, h, &o), RX_ERR_SHAPE, "mul: shapes (2, 3) and (4) cannot be broadcast");
    CHECK(o == NULL);
    CHECK_ERR(rx_unary(RX_EXP, i, &o), RX_ERR_DTYPE, "exp: argument #1: expected a floating-point tensor");
    CHECK_ERR(rx_unary(RX_SQRT, i, &o), RX_ERR_DTYPE, "got i32");
    CHECK_ERR(rx_unary(RX_GELU, i, &o), RX_ERR_DTYPE, "gelu");
    CHECK(o == NULL);
    CHECK_ERR(rx_binary(RX_DIV, i, i, &o), RX_ERR_DTYPE,
              "div: integer division of i32 tensors is not supported: use a float dtype");
    CHECK_ERR(rx_unary(RX_EXP, NULL, &o), RX_ERR_ARG, "exp: argument #1: expected a tensor, got NULL");
    CHECK_ERR(rx_binary(RX_ADD, f, NULL, &o), RX_ERR_ARG, "add: argument #2: expected a tensor, got NULL");
    CHECK_ERR(rx_binary(RX_ADD, NULL, f, &o), RX_ERR_ARG, "add: argument #1");
    CHECK_ERR(rx_binary_scalar(RX_ADD, NULL, 1, 0, &o), RX_ERR_ARG, "add: argument #1");
    CHECK_ERR(rx_masked_fill(NULL, f, 1, &o), RX_ERR_ARG, "masked_fill: argument #1");
    CHECK_ERR(rx_where(NULL, f, f, &o), RX_ERR_ARG, "where: argument #1");
    CHECK_ERR(rx_unary((rx_unary_op)99, f, &o), RX_ERR_ARG, "unknown op");
    CHECK_ERR(rx_binary((rx_binary_op)99, f, f, &o), RX_ERR_ARG, "unknown op");
    CHECK_ERR(rx_binary_scalar((rx_binary_op)-1, f, 1, 0, &o), RX_ERR_ARG, "unknown op");
    CHECK(o == NULL);

    /* a device mismatch: pretend g's storage lives on cuda:0 (restored before release) */
    rx_device saved = g->storage->device;
    g->storage->device = (rx_device){RX_CUDA, 0};
    CHECK_ERR(rx_binary(RX_ADD, f, g, &o), RX_ERR_DEVICE,
              "add: argument #1 is on cpu but argument #2 is on cuda:0");
    CHECK_ERR(rx_where(NULL, f, g, &o), RX_ERR_ARG, "where: argument #1");
    g->storage->device = saved;
    rx_tensor_release(f);
    rx_tensor_release(g);
    rx_tensor_release(h);
    rx_tensor_release(i);
}

/* Failing calls release everything they made. */
static void test_no_leaks_on_errors(void)
{
    rx_tensor *f = t_from(2, (int64_t[]){2, 3}, RX_F32, (double[6]){0});
    rx_tensor *v = t_from(1, (int64_t[]){5}, RX_F32, (double[5]){0});
    rx_tensor *m = t_from(1, (int64_t[]){5}, RX_BOOL, (double[5]){0});
    rx_mem_stats before, after;
    rx_mem_get_stats(RX_CPU, &before);
    rx_tensor *o = NULL;
    CHECK(rx_binary(RX_ADD, f, v, &o) == RX_ERR_SHAPE);
    CHECK(rx_binary_(RX_ADD, f, v) == RX_ERR_SHAPE);
    CHECK(rx_where(m, f, f, &o) == RX_ERR_SHAPE);
    CHECK(rx_masked_fill(f, m, 0, &o) == RX_ERR_SHAPE);
    CHECK(rx_unary(RX_LOG, m, &o) == RX_ERR_DTYPE);
    rx_mem_get_stats(RX_CPU, &after);
    CHECK(after.live_tensors == before.live_tensors);
    CHECK(after.live_bytes == before.live_bytes);
    CHECK(o == NULL);
    rx_tensor_release(f);
    rx_tensor_release(v);
    rx_tensor_release(m);
}

int main(void)
{
    RUN(test_op_names);
    RUN(test_unary_float_dtypes);
    RUN(test_unary_non_contiguous);
    RUN(test_unary_special_values);
    RUN(test_unary_integers);
    RUN(test_unary_empty);
    RUN(test_binary_float_dtypes);
    RUN(test_binary_broadcast);
    RUN(test_binary_non_contiguous);
    RUN(test_binary_special_values);
    RUN(test_binary_integers);
    RUN(test_binary_u8_bool);
    RUN(test_binary_scalar);
    RUN(test_binary_scalar_integers);
    RUN(test_binary_inplace);
    RUN(test_binary_inplace_aliasing);
    RUN(test_binary_inplace_errors);
    RUN(test_clamp);
    RUN(test_where);
    RUN(test_masked_fill);
    RUN(test_large);
    RUN(test_errors);
    RUN(test_no_leaks_on_errors);
    return check_finish();
}
