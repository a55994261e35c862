/* elementwise.c — CPU kernels for unary ops, binary ops (tensor-tensor and tensor-scalar), clamp
 * and where.
 *
 * Owns: the per-element arithmetic of every rx_unary_op and rx_binary_op and how it runs over
 * strided operands. Each (op, compute type) pair is one small map function over a row of n
 * elements with byte strides; it has a dense loop (all strides equal the element size, or a
 * broadcast operand of stride 0) that GCC vectorizes, and a strided loop for everything else.
 * Out may alias an input exactly (in place): no `restrict` on the output, because GCC's runtime
 * overlap check admits a dependence distance of 0 and still takes the vector loop.
 *
 * Compute types: f32, f64, i32 and i64 have their own loops. f16 and bf16 are staged through f32
 * and u8 and bool through i64, in chunks of STAGE elements converted into stack buffers, so
 * every op has one definition per compute type. u8 arithmetic therefore wraps modulo 256.
 *
 * Semantics beyond the obvious:
 * - integer add, sub, mul, neg, abs, square and pow wrap (two's complement), never trap;
 * - integer pow with a negative exponent truncates like 1 / x^-y: 1 for x = 1, +-1 for x = -1,
 *   0 otherwise (x = 0 included);
 * - remainder has the sign of the divisor (Python, torch); integer remainder by 0 is 0;
 * - maximum and minimum propagate NaN; relu(NaN) = NaN; sign(0) = 0 and sign(NaN) = NaN;
 * - round is half to even (rint in the default rounding mode); sigmoid is computed from
 *   exp(-|x|) so it neither overflows nor loses the tail for large |x|;
 * - gelu is 0.5 x (1 + erf(x / sqrt 2)); gelu_tanh is 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)));
 * - comparisons and logical ops write bool bytes 0/1; a value is true when it is non-zero (NaN
 *   is true).
 * The ops layer (ops/elementwise.c) rejects undefined pairs (integer div, float-only ops on
 * integers, ...) before any kernel runs and hands binary_scalar integer scalars that fit.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <string.h>

#define STAGE 256 /* elements of one staged chunk */

/* out[i] = f(a[i]) over n elements with byte strides; ctx carries clamp's bounds (in the
 * compute type), NULL for unary ops. */
typedef void (*map1_fn)(char *o, const char *a, int64_t n, int64_t so, int64_t sa, const void *ctx);
/* out[i] = f(a[i], b[i]); a stride of 0 means a broadcast value. */
typedef void (*map2_fn)(char *o, const char *a, const char *b, int64_t n, int64_t so, int64_t sa, int64_t sb);

/* Defines NAME: o = EXPR over x (an element of a, type T) written as OT; `c` points to ctx as T. */
#define DEF_MAP1(NAME, T, OT, EXPR)                                                                \
    static void NAME(char *o_, const char *a_, int64_t n, int64_t so, int64_t sa, const void *ctx) \
    {                                                                                              \
        const T *c = ctx;                                                                          \
        (void)c;                                                                                   \
        if (so == (int64_t)sizeof(OT) && sa == (int64_t)sizeof(T)) {                               \
            OT *o = (OT *)o_;                                                                      \
            const T *a = (const T *)a_;                                                            \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = a[i];                                                                        \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = *(const T *)(a_ + i * sa);                                                   \
                *(OT *)(o_ + i * so) = (EXPR);                                                     \
            }                                                                                      \
        }                                                                                          \
    }

/* Defines NAME: o = EXPR over x (of a) and y (of b), both T, written as OT. */
#define DEF_MAP2(NAME, T, OT, EXPR)                                                               \
    static void NAME(char *o_, const char *a_, const char *b_, int64_t n, int64_t so, int64_t sa, \
                     int64_t sb)                                                                  \
    {                                                                                             \
        const int64_t es = (int64_t)sizeof(T);                                                    \
        if (so == (int64_t)sizeof(OT) && sa == es && sb == es) {                                  \
            OT *o = (OT *)o_;                                                                     \
            const T *a = (const T *)a_, *b = (const T *)b_;                                       \
            for (int64_t i = 0; i < n; i++) {                                                     \
                T x = a[i], y = b[i];                                                             \
                o[i] = (EXPR);                                                                    \
            }                                                                                     \
        } else if (so == (int64_t)sizeof(OT) && sa == es && sb == 0) {                            \
            OT *o = (OT *)o_;                                                                     \
            const T *a = (const T *)a_;                                                           \
            const T y = *(const T *)b_;                                                           \
            for (int64_t i = 0; i < n; i++) {                                                     \
                T x = a[i];                                                                       \
                o[i] = (EXPR);                                                                    \
            }                                                                                     \
        } else if (so == (int64_t)sizeof(OT) && sa == 0 && sb == es) {                            \
            OT *o = (OT *)o_;                                                                     \
            const T x = *(const T *)a_;                                                           \
            const T *b = (const T *)b_;                                                           \
            for (int64_t i = 0; i < n; i++) {                                                     \
                T y = b[i];                                                                       \
                o[i] = (EXPR);                                                                    \
            }                                                                                     \
        } else {                                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                     \
                T x = *(const T *)(a_ + i * sa), y = *(const T *)(b_ + i * sb);                   \
                *(OT *)(o_ + i * so) = (EXPR);                                                    \
            }                                                                                     \
        }                                                                                         \
    }

/* ---- scalar helpers ----------------------------------------------------------------------- */

/* The float helpers of type T, named like libm's functions: NAME##S with S its suffix (f for
 * float, none for double), so that the op lists below call them as they call libm. */
#define DEF_FLOAT_HELPERS(T, S)                                                                    \
    static inline T sigmoid##S(T x)                                                                \
    {                                                                                              \
        T e = exp##S(-fabs##S(x));                                                                 \
        T r = 1.0##S / (1.0##S + e);                                                               \
        return x >= 0.0##S ? r : e * r;                                                            \
    }                                                                                              \
    static inline T gelu_tanh##S(T x)                                                              \
    {                                                                                              \
        const T k = 0.7978845608028654##S; /* sqrt(2 / pi) */                                     \
        return 0.5##S * x * (1.0##S + tanh##S(k * (x + 0.044715##S * x * x * x)));                 \
    }                                                                                              \
    static inline T rem##S(T x, T y)                                                               \
    {                                                                                              \
        T r = fmod##S(x, y);                                                                       \
        return (r != 0.0##S && ((r < 0.0##S) != (y < 0.0##S))) ? r + y : r;                        \
    }

DEF_FLOAT_HELPERS(float, f)
DEF_FLOAT_HELPERS(double, )

/* Integer helpers compute in 64 bits; narrower types truncate the result, which is exact for
 * remainder and the right wrap-around for pow. */
static inline int64_t irem(int64_t x, int64_t y)
{
    if (y == 0 || y == -1) return 0;
    int64_t r = x % y;
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}

static inline int64_t ipow(int64_t x, int64_t y)
{
    if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x;
    while (y) {
        if (y & 1) r *= b;
        b *= b;
        y >>= 1;
    }
    return (int64_t)r;
}

#define MAXNAN(x, y) (((x) != (x) || (x) > (y)) ? (x) : (y))
#define MINNAN(x, y) (((x) != (x) || (x) < (y)) ? (x) : (y))
/* min(max(x, lo), hi): lo > hi gives hi (torch), NaN passes through; x is a plain variable */
#define CLAMP(x, lo, hi) (((x) < (lo) ? (lo) : (x)) > (hi) ? (hi) : ((x) < (lo) ? (lo) : (x)))

/* ---- op lists ------------------------------------------------------------------------------
 * Each op is written once for a family of compute types. A list calls X(NAME, OP, T, OT, EXPR)
 * per op: map NAME serves OP and computes EXPR over x (and y) of type T, written as OT. N names
 * the compute type in map names (f32); S is the suffix of its libm functions and literals (f
 * for float, none for double); U is the unsigned type integer arithmetic wraps in. */

// clang-format off
#define FLOAT_UNARY_OPS(X, N, T, S)                                                                \
    X(neg_##N, RX_NEG, T, T, -x)                                                                   \
    X(abs_##N, RX_ABS, T, T, fabs##S(x))                                                           \
    X(exp_##N, RX_EXP, T, T, exp##S(x))                                                            \
    X(log_##N, RX_LOG, T, T, log##S(x))                                                            \
    X(sqrt_##N, RX_SQRT, T, T, sqrt##S(x))                                                         \
    X(rsqrt_##N, RX_RSQRT, T, T, 1.0##S / sqrt##S(x))                                              \
    X(sin_##N, RX_SIN, T, T, sin##S(x))                                                            \
    X(cos_##N, RX_COS, T, T, cos##S(x))                                                            \
    X(tanh_##N, RX_TANH, T, T, tanh##S(x))                                                         \
    X(sigmoid_##N, RX_SIGMOID, T, T, sigmoid##S(x))                                                \
    X(relu_##N, RX_RELU, T, T, x < 0.0##S ? 0.0##S : x)                                            \
    X(silu_##N, RX_SILU, T, T, x * sigmoid##S(x))                                                  \
    X(gelu_##N, RX_GELU, T, T, 0.5##S * x * (1.0##S + erf##S(x * 0.70710678118654752##S)))        \
    X(gelu_tanh_##N, RX_GELU_TANH, T, T, gelu_tanh##S(x))                                          \
    X(reciprocal_##N, RX_RECIPROCAL, T, T, 1.0##S / x)                                             \
    X(square_##N, RX_SQUARE, T, T, x * x)                                                          \
    X(log1p_##N, RX_LOG1P, T, T, log1p##S(x))                                                      \
    X(expm1_##N, RX_EXPM1, T, T, expm1##S(x))                                                      \
    X(floor_##N, RX_FLOOR, T, T, floor##S(x))                                                      \
    X(ceil_##N, RX_CEIL, T, T, ceil##S(x))                                                         \
    X(round_##N, RX_ROUND, T, T, rint##S(x))                                                       \
    X(sign_##N, RX_SIGN, T, T, x > 0.0##S ? 1.0##S : x < 0.0##S ? -1.0##S : x)                     \
    X(not_##N, RX_LOGICAL_NOT, T, uint8_t, x == 0.0##S)

/* integer tensors: the float-only ops have no map (rejected by the ops layer); floor, ceil and
 * round are copies (copy_N, defined with the maps) */
#define INT_UNARY_OPS(X, N, T, U)                                                                  \
    X(neg_##N, RX_NEG, T, T, (T)(0u - (U)x))                                                       \
    X(abs_##N, RX_ABS, T, T, x < 0 ? (T)(0u - (U)x) : x)                                           \
    X(relu_##N, RX_RELU, T, T, x < 0 ? 0 : x)                                                      \
    X(square_##N, RX_SQUARE, T, T, (T)((U)x * (U)x))                                               \
    X(sign_##N, RX_SIGN, T, T, (x > 0) - (x < 0))                                                  \
    X(not_##N, RX_LOGICAL_NOT, T, uint8_t, x == 0)

#define FLOAT_BINARY_OPS(X, N, T, S)                                                               \
    X(add_##N, RX_ADD, T, T, x + y)                                                                \
    X(sub_##N, RX_SUB, T, T, x - y)                                                                \
    X(mul_##N, RX_MUL, T, T, x * y)                                                                \
    X(div_##N, RX_DIV, T, T, x / y)                                                                \
    X(pow_##N, RX_POW, T, T, pow##S(x, y))                                                         \
    X(max_##N, RX_MAXIMUM, T, T, MAXNAN(x, y))                                                     \
    X(min_##N, RX_MINIMUM, T, T, MINNAN(x, y))                                                     \
    X(rem_##N, RX_REMAINDER, T, T, rem##S(x, y))

/* integer division has no map (rejected by the ops layer) */
#define INT_BINARY_OPS(X, N, T, U)                                                                 \
    X(add_##N, RX_ADD, T, T, (T)((U)x + (U)y))                                                     \
    X(sub_##N, RX_SUB, T, T, (T)((U)x - (U)y))                                                     \
    X(mul_##N, RX_MUL, T, T, (T)((U)x * (U)y))                                                     \
    X(pow_##N, RX_POW, T, T, (T)ipow(x, y))                                                        \
    X(max_##N, RX_MAXIMUM, T, T, x > y ? x : y)                                                    \
    X(min_##N, RX_MINIMUM, T, T, x < y ? x : y)                                                    \
    X(rem_##N, RX_REMAINDER, T, T, (T)irem(x, y))

/* comparisons and logical ops, the same for every compute type */
#define CMP_OPS(X, N, T)                                                                           \
    X(eq_##N, RX_EQ, T, uint8_t, x == y)                                                           \
    X(ne_##N, RX_NE, T, uint8_t, x != y)                                                           \
    X(lt_##N, RX_LT, T, uint8_t, x < y)                                                            \
    X(le_##N, RX_LE, T, uint8_t, x <= y)                                                           \
    X(gt_##N, RX_GT, T, uint8_t, x > y)                                                            \
    X(ge_##N, RX_GE, T, uint8_t, x >= y)                                                           \
    X(and_##N, RX_LOGICAL_AND, T, uint8_t, (x != 0) & (y != 0))                                    \
    X(or_##N, RX_LOGICAL_OR, T, uint8_t, (x != 0) | (y != 0))

/* ---- maps and their tables ---------------------------------------------------------------- */

#define DEF1(NAME, OP, T, OT, EXPR) DEF_MAP1(NAME, T, OT, EXPR)
#define DEF2(NAME, OP, T, OT, EXPR) DEF_MAP2(NAME, T, OT, EXPR)
#define ENTRY(NAME, OP, T, OT, EXPR) [OP] = NAME,

#define DEF_FLOAT_MAPS(N, T, S)                                                                    \
    FLOAT_UNARY_OPS(DEF1, N, T, S)                                                                 \
    DEF_MAP1(clamp_##N, T, T, CLAMP(x, c[0], c[1]))                                                \
    FLOAT_BINARY_OPS(DEF2, N, T, S)                                                                \
    CMP_OPS(DEF2, N, T)

#define DEF_INT_MAPS(N, T, U)                                                                      \
    INT_UNARY_OPS(DEF1, N, T, U)                                                                   \
    DEF_MAP1(copy_##N, T, T, x)                                                                    \
    DEF_MAP1(clamp_##N, T, T, CLAMP(x, c[0], c[1]))                                                \
    INT_BINARY_OPS(DEF2, N, T, U)                                                                  \
    CMP_OPS(DEF2, N, T)

DEF_FLOAT_MAPS(f32, float, f)
DEF_FLOAT_MAPS(f64, double, )
DEF_INT_MAPS(i32, int32_t, uint32_t)
DEF_INT_MAPS(i64, int64_t, uint64_t)

static const map1_fn unary_f32[RX_UNARY_OP_COUNT] = {FLOAT_UNARY_OPS(ENTRY, f32, float, f)};
static const map1_fn unary_f64[RX_UNARY_OP_COUNT] = {FLOAT_UNARY_OPS(ENTRY, f64, double, )};
static const map1_fn unary_i32[RX_UNARY_OP_COUNT] = {
    INT_UNARY_OPS(ENTRY, i32, int32_t, uint32_t)
    [RX_FLOOR] = copy_i32, [RX_CEIL] = copy_i32, [RX_ROUND] = copy_i32,
};
static const map1_fn unary_i64[RX_UNARY_OP_COUNT] = {
    INT_UNARY_OPS(ENTRY, i64, int64_t, uint64_t)
    [RX_FLOOR] = copy_i64, [RX_CEIL] = copy_i64, [RX_ROUND] = copy_i64,
};

static const map2_fn binary_f32[RX_BINARY_OP_COUNT] = {
    FLOAT_BINARY_OPS(ENTRY, f32, float, f) CMP_OPS(ENTRY, f32, float)
};
static const map2_fn binary_f64[RX_BINARY_OP_COUNT] = {
    FLOAT_BINARY_OPS(ENTRY, f64, double, ) CMP_OPS(ENTRY, f64, double)
};
static const map2_fn binary_i32[RX_BINARY_OP_COUNT] = {
    INT_BINARY_OPS(ENTRY, i32, int32_t, uint32_t) CMP_OPS(ENTRY, i32, int32_t)
};
static const map2_fn binary_i64[RX_BINARY_OP_COUNT] = {
    INT_BINARY_OPS(ENTRY, i64, int64_t, uint64_t) CMP_OPS(ENTRY, i64, int64_t)
};
// clang-format on

/* ---- compute types and staging ------------------------------------------------------------ */

/* The dtype a kernel computes in for values stored as `dt`. */
static rx_dtype compute_dtype(rx_dtype dt)
{
    switch (dt) {
    case RX_F16:
    case RX_BF16: return RX_F32;
    case RX_U8:
    case RX_BOOL: return RX_I64;
    default: return dt;
    }
}

static const map1_fn *unary_table(rx_dtype ct)
{
    return ct == RX_F32 ? unary_f32 : ct == RX_F64 ? unary_f64 : ct == RX_I32 ? unary_i32 : unary_i64;
}

/* f32 sigmoid and silu over a dense row, in two passes per chunk of STAGE: the libm expf calls
 * first, into a stack buffer, then the rest of sigmoidf (and the product with x) as a loop without
 * calls or branches that GCC vectorises. The float operations are sigmoidf's, in its order, so
 * the bits are those of the generated maps, which strided rows still take (a NaN result stays NaN,
 * though its sign bit may differ: the vector multiply returns the other operand's NaN). o may be a. */
static void sigmoid_rows_f32(float *o, const float *a, int64_t n, bool silu)
{
    float e[STAGE];
    for (int64_t i0 = 0; i0 < n; i0 += STAGE) {
        int64_t len = n - i0 < STAGE ? n - i0 : STAGE;
        for (int64_t i = 0; i < len; i++) e[i] = expf(-fabsf(a[i0 + i]));
        for (int64_t i = 0; i < len; i++) { /* e[i] becomes sigmoid(x), chosen by bit masks */
            float x = a[i0 + i], r = 1.0f / (1.0f + e[i]), er = e[i] * r;
            uint32_t rb, eb, pos = x >= 0.0f ? ~0u : 0u;
            memcpy(&rb, &r, sizeof rb);
            memcpy(&eb, &er, sizeof eb);
            eb = (rb & pos) | (eb & ~pos);
            memcpy(&e[i], &eb, sizeof eb);
        }
        if (silu)
            for (int64_t i = 0; i < len; i++) o[i0 + i] = a[i0 + i] * e[i];
        else
            memcpy(o + i0, e, sizeof(float) * (size_t)len);
    }
}

static void sigmoid_staged_f32(char *o, const char *a, int64_t n, int64_t so, int64_t sa, const void *ctx)
{
    if (so == (int64_t)sizeof(float) && sa == (int64_t)sizeof(float))
        sigmoid_rows_f32((float *)o, (const float *)a, n, false);
    else
        sigmoid_f32(o, a, n, so, sa, ctx);
}

static void silu_staged_f32(char *o, const char *a, int64_t n, int64_t so, int64_t sa, const void *ctx)
{
    if (so == (int64_t)sizeof(float) && sa == (int64_t)sizeof(float))
        sigmoid_rows_f32((float *)o, (const float *)a, n, true);
    else
        silu_f32(o, a, n, so, sa, ctx);
}

/* The map of a unary op in compute type ct (NULL when the op is not defined for it). */
static map1_fn unary_map(rx_unary_op op, rx_dtype ct)
{
    if (ct == RX_F32 && op == RX_SIGMOID) return sigmoid_staged_f32;
    if (ct == RX_F32 && op == RX_SILU) return silu_staged_f32;
    return unary_table(ct)[op];
}

static const map2_fn *binary_table(rx_dtype ct)
{
    return ct == RX_F32 ? binary_f32 : ct == RX_F64 ? binary_f64 : ct == RX_I32 ? binary_i32 : binary_i64;
}

static bool bool_result(rx_binary_op op) { return op >= RX_EQ && op <= RX_LOGICAL_OR; }

/* A chunk buffer in a compute type (f32 or i64). */
typedef union stage_buf {
    float f[STAGE];
    int64_t i[STAGE];
} stage_buf;

/* An input operand of m elements stored as dt: returned as is when dt is already the compute
 * type ct, else converted into buf (one element when the stride is 0), with *stride updated. */
static const char *stage_in(stage_buf *buf, const char *p, int64_t m, int64_t *stride, rx_dtype dt,
                            rx_dtype ct)
{
    if (dt == ct) return p;
    int64_t s = *stride;
    if (s == 0) m = 1;
    switch (dt) {
    case RX_F16:
        for (int64_t i = 0; i < m; i++) buf->f[i] = rx_f16_to_f32(*(const uint16_t *)(p + i * s));
        break;
    case RX_BF16:
        for (int64_t i = 0; i < m; i++) buf->f[i] = rx_bf16_to_f32(*(const uint16_t *)(p + i * s));
        break;
    case RX_BOOL:
        for (int64_t i = 0; i < m; i++) buf->i[i] = *(const uint8_t *)(p + i * s) != 0;
        break;
    default: /* RX_U8 */
        for (int64_t i = 0; i < m; i++) buf->i[i] = *(const uint8_t *)(p + i * s);
        break;
    }
    *stride = s == 0 ? 0 : rx_dtype_size(ct);
    return (const char *)buf;
}

/* Stores m compute-type values from buf into p (stored as dt, byte stride s). */
static void stage_out(char *p, int64_t s, rx_dtype dt, const stage_buf *buf, int64_t m)
{
    switch (dt) {
    case RX_F16:
        for (int64_t i = 0; i < m; i++) *(uint16_t *)(p + i * s) = rx_f32_to_f16(buf->f[i]);
        break;
    case RX_BF16:
        for (int64_t i = 0; i < m; i++) *(uint16_t *)(p + i * s) = rx_f32_to_bf16(buf->f[i]);
        break;
    case RX_BOOL:
        for (int64_t i = 0; i < m; i++) *(uint8_t *)(p + i * s) = buf->i[i] != 0;
        break;
    default: /* RX_U8: wraps modulo 256 */
        for (int64_t i = 0; i < m; i++) *(uint8_t *)(p + i * s) = (uint8_t)buf->i[i];
        break;
    }
}

/* One row of a map1 whose input is stored as dt; the output is stored as dt, or is bool
 * (written directly by the map) when bool_out. */
static void map1_row(map1_fn fn, const void *ctx, rx_dtype dt, bool bool_out, char *o, const char *a,
                     int64_t n, int64_t so, int64_t sa)
{
    rx_dtype ct = compute_dtype(dt);
    if (ct == dt) {
        fn(o, a, n, so, sa, ctx);
        return;
    }
    stage_buf in, res;
    int64_t cs = rx_dtype_size(ct);
    for (int64_t j = 0; j < n; j += STAGE) {
        int64_t m = n - j < STAGE ? n - j : STAGE, s = sa;
        const char *pa = stage_in(&in, a + j * sa, m, &s, dt, ct);
        if (bool_out) {
            fn(o + j * so, pa, m, so, s, ctx);
        } else {
            fn((char *)&res, pa, m, cs, s, ctx);
            stage_out(o + j * so, so, dt, &res, m);
        }
    }
}

/* One row of a map2; a and b are stored as dta and dtb, each either dt or (a scalar already
 * converted) its compute type; the output as for map1_row. */
static void map2_row(map2_fn fn, rx_dtype dt, rx_dtype dta, rx_dtype dtb, bool bool_out, char *o,
                     const char *a, const char *b, int64_t n, int64_t so, int64_t sa, int64_t sb)
{
    rx_dtype ct = compute_dtype(dt);
    if (ct == dt) {
        fn(o, a, b, n, so, sa, sb);
        return;
    }
    stage_buf ina, inb, res;
    int64_t cs = rx_dtype_size(ct);
    for (int64_t j = 0; j < n; j += STAGE) {
        int64_t m = n - j < STAGE ? n - j : STAGE, s1 = sa, s2 = sb;
        const char *pa = stage_in(&ina, a + j * sa, m, &s1, dta, ct);
        const char *pb = stage_in(&inb, b + j * sb, m, &s2, dtb, ct);
        if (bool_out) {
            fn(o + j * so, pa, pb, m, so, s1, s2);
        } else {
            fn((char *)&res, pa, pb, m, cs, s1, s2);
            stage_out(o + j * so, so, dt, &res, m);
        }
    }
}

/* Runs fn over out = f(a) for same-shaped tensors. */
static rx_status run_map1(map1_fn fn, const void *ctx, bool bool_out, rx_tensor *out, const rx_tensor *a)
{
    rx_iter it;
    rx_iter_init(&it, 2, (const rx_tensor *[]){out, a});
    rx_dtype dt = a->dtype;
    int64_t ntasks = rx_iter_tasks(&it);
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < ntasks; task++) {
        char *p[RX_ITER_MAX_OPS];
        int64_t len;
        rx_iter_task(&it, task, p, &len);
        map1_row(fn, ctx, dt, bool_out, p[0], p[1], len, it.inner_stride[0], it.inner_stride[1]);
    }
    return RX_OK;
}

static rx_status no_kernel(const char *what, rx_dtype dt)
{
    return rx_fail(RX_ERR_DTYPE, "cpu %s: not defined for %s tensors", what, rx_dtype_name(dt));
}

/* ---- kernels ------------------------------------------------------------------------------ */

rx_status rx_cpu_unary(rx_unary_op op, rx_tensor *out, const rx_tensor *a)
{
    map1_fn fn = unary_map(op, compute_dtype(a->dtype));
    if (!fn) return no_kernel(rx_unary_op_name(op), a->dtype);
    return run_map1(fn, NULL, op == RX_LOGICAL_NOT, out, a);
}

rx_status rx_cpu_binary(rx_binary_op op, rx_tensor *out, const rx_tensor *a, const rx_tensor *b)
{
    rx_dtype dt = a->dtype;
    map2_fn fn = binary_table(compute_dtype(dt))[op];
    if (!fn) return no_kernel(rx_binary_op_name(op), dt);
    bool bool_out = bool_result(op);
    rx_iter it;
    rx_iter_init(&it, 3, (const rx_tensor *[]){out, a, b});
    int64_t ntasks = rx_iter_tasks(&it);
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < ntasks; task++) {
        char *p[RX_ITER_MAX_OPS];
        int64_t len;
        rx_iter_task(&it, task, p, &len);
        map2_row(fn, dt, dt, dt, bool_out, p[0], p[1], p[2], len, it.inner_stride[0], it.inner_stride[1],
                 it.inner_stride[2]);
    }
    return RX_OK;
}

/* Stores v in the compute type ct (the ops layer guarantees integers fit). */
static void store_compute(void *p, rx_dtype ct, double v)
{
    switch (ct) {
    case RX_F32: *(float *)p = (float)v; break;
    case RX_F64: *(double *)p = v; break;
    case RX_I32: *(int32_t *)p = (int32_t)v; break;
    default: *(int64_t *)p = (int64_t)v; break;
    }
}

rx_status rx_cpu_binary_scalar(rx_binary_op op, rx_tensor *out, const rx_tensor *a, double s,
                               int scalar_first)
{
    rx_dtype dt = a->dtype, ct = compute_dtype(dt);
    map2_fn fn = binary_table(ct)[op];
    if (!fn) return no_kernel(rx_binary_op_name(op), dt);
    bool bool_out = bool_result(op);
    int64_t sv[1]; /* 8 aligned bytes holding s in the compute type */
    store_compute(sv, ct, s);
    const char *sp = (const char *)sv;
    rx_iter it;
    rx_iter_init(&it, 2, (const rx_tensor *[]){out, a});
    int64_t ntasks = rx_iter_tasks(&it);
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < ntasks; task++) {
        char *p[RX_ITER_MAX_OPS];
        int64_t len;
        rx_iter_task(&it, task, p, &len);
        int64_t so = it.inner_stride[0], sa = it.inner_stride[1];
        if (scalar_first)
            map2_row(fn, dt, ct, dt, bool_out, p[0], sp, p[1], len, so, 0, sa);
        else
            map2_row(fn, dt, dt, ct, bool_out, p[0], p[1], sp, len, so, sa, 0);
    }
    return RX_OK;
}

/* v rounded into [lo, hi] of an integer range, exactly (no undefined casts). */
static int64_t saturate(double v, int64_t lo, int64_t hi)
{
    if (!(v > (double)lo)) return lo; /* also catches -inf */
    if (v >= (double)hi) return hi;   /* (double)INT64_MAX is 2^63: out of range, saturates */
    return (int64_t)v;
}

rx_status rx_cpu_clamp(rx_tensor *out, const rx_tensor *a, double lo, double hi)
{
    rx_dtype dt = a->dtype, ct = compute_dtype(dt);
    union {
        float f[2];
        double d[2];
        int32_t i32[2];
        int64_t i64[2];
    } b;
    map1_fn fn;
    switch (ct) {
    case RX_F32:
        fn = clamp_f32;
        b.f[0] = (float)lo;
        b.f[1] = (float)hi;
        break;
    case RX_F64:
        fn = clamp_f64;
        b.d[0] = lo;
        b.d[1] = hi;
        break;
    case RX_I32:
        fn = clamp_i32;
        b.i32[0] = (int32_t)saturate(ceil(lo), INT32_MIN, INT32_MAX);
        b.i32[1] = (int32_t)saturate(floor(hi), INT32_MIN, INT32_MAX);
        break;
    default: {
        int64_t vmin = dt == RX_I64 ? INT64_MIN : 0, vmax = dt == RX_I64 ? INT64_MAX : dt == RX_U8 ? 255 : 1;
        fn = clamp_i64;
        b.i64[0] = saturate(ceil(lo), vmin, vmax);
        b.i64[1] = saturate(floor(hi), vmin, vmax);
        break;
    }
    }
    return run_map1(fn, &b, false, out, a);
}

/* Defines NAME: o = c ? a : b for elements of type T (bit copies), cond bytes. */
#define DEF_WHERE(NAME, T)                                                                                   \
    static void NAME(char *o_, const char *c_, const char *a_, const char *b_, int64_t n, int64_t so,        \
                     int64_t sc, int64_t sa, int64_t sb)                                                     \
    {                                                                                                        \
        const int64_t es = (int64_t)sizeof(T);                                                               \
        if (so == es && sc == 1 && sa == es && sb == es) {                                                   \
            T *o = (T *)o_;                                                                                  \
            const uint8_t *c = (const uint8_t *)c_;                                                          \
            const T *a = (const T *)a_, *b = (const T *)b_;                                                  \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? a[i] : b[i];                                       \
        } else {                                                                                             \
            for (int64_t i = 0; i < n; i++)                                                                  \
                *(T *)(o_ + i * so) =                                                                        \
                    *(const uint8_t *)(c_ + i * sc) ? *(const T *)(a_ + i * sa) : *(const T *)(b_ + i * sb); \
        }                                                                                                    \
    }

DEF_WHERE(where_8, uint8_t)
DEF_WHERE(where_16, uint16_t)
DEF_WHERE(where_32, uint32_t)
DEF_WHERE(where_64, uint64_t)

rx_status rx_cpu_where(rx_tensor *out, const rx_tensor *cond, const rx_tensor *a, const rx_tensor *b)
{
    int64_t es = rx_dtype_size(a->dtype);
    void (*fn)(char *, const char *, const char *, const char *, int64_t, int64_t, int64_t, int64_t,
               int64_t) = es == 1   ? where_8
                          : es == 2 ? where_16
                          : es == 4 ? where_32
                                    : where_64;
    rx_iter it;
    rx_iter_init(&it, 4, (const rx_tensor *[]){out, cond, a, b});
    int64_t ntasks = rx_iter_tasks(&it);
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < ntasks; task++) {
        char *p[RX_ITER_MAX_OPS];
        int64_t len;
        rx_iter_task(&it, task, p, &len);
        fn(p[0], p[1], p[2], p[3], len, it.inner_stride[0], it.inner_stride[1], it.inner_stride[2],
           it.inner_stride[3]);
    }
    return RX_OK;
}
