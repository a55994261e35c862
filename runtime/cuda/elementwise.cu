/* elementwise.cu — CUDA kernels for unary ops, binary ops (tensor-tensor and tensor-scalar), clamp
 * and where.
 *
 * Owns: the per-element arithmetic of every rx_unary_op and rx_binary_op on the device, written to
 * give the CPU kernels' results (cpu/elementwise.c states the semantics): f16 and bf16 compute in
 * f32 and u8 and bool in i64, rounded back with the CPU's bit-exact conversions; integer
 * arithmetic wraps; remainder takes the divisor's sign; maximum/minimum propagate NaN; sigmoid
 * is computed from exp(-|x|); round is half to even. Exact operations (arithmetic, comparisons,
 * rounding, abs, clamp, where) give the same bits as the CPU; transcendental ones differ by the
 * few ulps between CUDA's and glibc's math libraries (CUDA's are documented within 1 to 4 ulps).
 *
 * Each (op, dtype) is one functor run by the map kernels of cuda_device.cuh (16-byte accesses for
 * dense operands, the strided iterator otherwise). binary_scalar is a map1 whose functor holds the
 * scalar in the compute type, like the CPU; the ops layer has already rejected undefined
 * (op, dtype) pairs, which are not instantiated here.
 */
#include "cuda_device.cuh"

#include <type_traits>

/* ---- scalar math ------------------------------------------------------------------------- */

#define RX_MATH1(NAME, FF, FD)                                          \
    __device__ __forceinline__ float NAME(float x) { return FF(x); }    \
    __device__ __forceinline__ double NAME(double x) { return FD(x); }

RX_MATH1(m_abs, fabsf, fabs)
RX_MATH1(m_exp, expf, exp)
RX_MATH1(m_log, logf, log)
RX_MATH1(m_sqrt, sqrtf, sqrt)
RX_MATH1(m_sin, sinf, sin)
RX_MATH1(m_cos, cosf, cos)
RX_MATH1(m_tanh, tanhf, tanh)
RX_MATH1(m_log1p, log1pf, log1p)
RX_MATH1(m_expm1, expm1f, expm1)
RX_MATH1(m_floor, floorf, floor)
RX_MATH1(m_ceil, ceilf, ceil)
RX_MATH1(m_rint, rintf, rint)

__device__ __forceinline__ float m_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double m_pow(double x, double y) { return pow(x, y); }

__device__ __forceinline__ float m_sigmoid(float x)
{
    float e = expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

__device__ __forceinline__ double m_sigmoid(double x)
{
    double e = exp(-fabs(x));
    double r = 1.0 / (1.0 + e);
    return x >= 0.0 ? r : e * r;
}

__device__ __forceinline__ float m_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ double m_gelu(double x) { return 0.5 * x * (1.0 + erf(x * 0.70710678118654752)); }

__device__ __forceinline__ float m_gelu_tanh(float x)
{
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

__device__ __forceinline__ double m_gelu_tanh(double x)
{
    const double k = 0.7978845608028654;
    return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}

__device__ __forceinline__ float m_rem(float x, float y)
{
    float r = fmodf(x, y);
    return (r != 0.0f && ((r < 0.0f) != (y < 0.0f))) ? r + y : r;
}

__device__ __forceinline__ double m_rem(double x, double y)
{
    double r = fmod(x, y);
    return (r != 0.0 && ((r < 0.0) != (y < 0.0))) ? r + y : r;
}

/* Integer helpers in 64 bits, as on the CPU (narrower types truncate the result). */
__device__ __forceinline__ int64_t m_irem(int64_t x, int64_t y)
{
    if (y == 0 || y == -1) return 0;
    int64_t r = x % y;
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}

__device__ __forceinline__ int64_t m_ipow(int64_t x, int64_t y)
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

/* ---- op semantics ------------------------------------------------------------------------- */

template <int OP, typename C> __device__ __forceinline__ C unary_apply(C x)
{
    constexpr bool FL = std::is_floating_point<C>::value;
    if constexpr (FL) {
        if constexpr (OP == RX_NEG) return -x;
        else if constexpr (OP == RX_ABS) return m_abs(x);
        else if constexpr (OP == RX_EXP) return m_exp(x);
        else if constexpr (OP == RX_LOG) return m_log(x);
        else if constexpr (OP == RX_SQRT) return m_sqrt(x);
        else if constexpr (OP == RX_RSQRT) return C(1) / m_sqrt(x);
        else if constexpr (OP == RX_SIN) return m_sin(x);
        else if constexpr (OP == RX_COS) return m_cos(x);
        else if constexpr (OP == RX_TANH) return m_tanh(x);
        else if constexpr (OP == RX_SIGMOID) return m_sigmoid(x);
        else if constexpr (OP == RX_RELU) return x < C(0) ? C(0) : x;
        else if constexpr (OP == RX_SILU) return x * m_sigmoid(x);
        else if constexpr (OP == RX_GELU) return m_gelu(x);
        else if constexpr (OP == RX_GELU_TANH) return m_gelu_tanh(x);
        else if constexpr (OP == RX_RECIPROCAL) return C(1) / x;
        else if constexpr (OP == RX_SQUARE) return x * x;
        else if constexpr (OP == RX_LOG1P) return m_log1p(x);
        else if constexpr (OP == RX_EXPM1) return m_expm1(x);
        else if constexpr (OP == RX_FLOOR) return m_floor(x);
        else if constexpr (OP == RX_CEIL) return m_ceil(x);
        else if constexpr (OP == RX_ROUND) return m_rint(x);
        else return x > C(0) ? C(1) : x < C(0) ? C(-1) : x; /* RX_SIGN */
    } else {
        using U = typename std::make_unsigned<C>::type;
        if constexpr (OP == RX_NEG) return (C)(U(0) - (U)x);
        else if constexpr (OP == RX_ABS) return x < 0 ? (C)(U(0) - (U)x) : x;
        else if constexpr (OP == RX_RELU) return x < 0 ? C(0) : x;
        else if constexpr (OP == RX_SQUARE) return (C)((U)x * (U)x);
        else if constexpr (OP == RX_SIGN) return (C)((x > 0) - (x < 0));
        else return x; /* RX_FLOOR, RX_CEIL, RX_ROUND leave integers unchanged */
    }
}

template <int OP> constexpr bool gives_bool = OP >= RX_EQ && OP <= RX_LOGICAL_OR;

/* x op y in the compute type C; comparisons and logical ops give 0/1. */
template <int OP, typename C> __device__ __forceinline__ auto binary_apply(C x, C y)
{
    constexpr bool FL = std::is_floating_point<C>::value;
    if constexpr (OP == RX_EQ) return (uint8_t)(x == y);
    else if constexpr (OP == RX_NE) return (uint8_t)(x != y);
    else if constexpr (OP == RX_LT) return (uint8_t)(x < y);
    else if constexpr (OP == RX_LE) return (uint8_t)(x <= y);
    else if constexpr (OP == RX_GT) return (uint8_t)(x > y);
    else if constexpr (OP == RX_GE) return (uint8_t)(x >= y);
    else if constexpr (OP == RX_LOGICAL_AND) return (uint8_t)((x != C(0)) & (y != C(0)));
    else if constexpr (OP == RX_LOGICAL_OR) return (uint8_t)((x != C(0)) | (y != C(0)));
    else if constexpr (FL) {
        if constexpr (OP == RX_ADD) return x + y;
        else if constexpr (OP == RX_SUB) return x - y;
        else if constexpr (OP == RX_MUL) return x * y;
        else if constexpr (OP == RX_DIV) return x / y;
        else if constexpr (OP == RX_POW) return m_pow(x, y);
        else if constexpr (OP == RX_MAXIMUM) return (x != x || x > y) ? x : y;
        else if constexpr (OP == RX_MINIMUM) return (x != x || x < y) ? x : y;
        else return m_rem(x, y); /* RX_REMAINDER */
    } else {
        using U = typename std::make_unsigned<C>::type;
        if constexpr (OP == RX_ADD) return (C)((U)x + (U)y);
        else if constexpr (OP == RX_SUB) return (C)((U)x - (U)y);
        else if constexpr (OP == RX_MUL) return (C)((U)x * (U)y);
        else if constexpr (OP == RX_POW) return (C)m_ipow(x, y);
        else if constexpr (OP == RX_MAXIMUM) return x > y ? x : y;
        else if constexpr (OP == RX_MINIMUM) return x < y ? x : y;
        else return (C)m_irem(x, y); /* RX_REMAINDER (integer division is rejected by ops/) */
    }
}

/* ---- functors ------------------------------------------------------------------------------ */

template <int OP, typename T> struct unary_f {
    using C = typename rx_compute<T>::type;
    using out_type = typename std::conditional<OP == RX_LOGICAL_NOT, rx_bool_t, T>::type;
    __device__ out_type operator()(T x) const
    {
        if constexpr (OP == RX_LOGICAL_NOT)
            return rx_bool_t{(uint8_t)(rx_to_c(x) == C(0))};
        else
            return rx_from_c<T>(unary_apply<OP, C>(rx_to_c(x)));
    }
};

template <int OP, typename T> struct binary_f {
    using C = typename rx_compute<T>::type;
    using out_type = typename std::conditional<gives_bool<OP>, rx_bool_t, T>::type;
    __device__ out_type operator()(T x, T y) const
    {
        if constexpr (gives_bool<OP>)
            return rx_bool_t{binary_apply<OP, C>(rx_to_c(x), rx_to_c(y))};
        else
            return rx_from_c<T>(binary_apply<OP, C>(rx_to_c(x), rx_to_c(y)));
    }
};

/* a op s, or s op a when `first` (a uniform branch). */
template <int OP, typename T> struct scalar_f {
    using C = typename rx_compute<T>::type;
    using out_type = typename std::conditional<gives_bool<OP>, rx_bool_t, T>::type;
    C s;
    int first;
    __device__ out_type operator()(T x) const
    {
        C v = rx_to_c(x);
        if constexpr (gives_bool<OP>)
            return rx_bool_t{first ? binary_apply<OP, C>(s, v) : binary_apply<OP, C>(v, s)};
        else
            return rx_from_c<T>(first ? binary_apply<OP, C>(s, v) : binary_apply<OP, C>(v, s));
    }
};

/* min(max(x, lo), hi): lo > hi gives hi, NaN passes through (the CPU's CLAMP). */
template <typename T> struct clamp_f {
    using C = typename rx_compute<T>::type;
    using out_type = T;
    C lo, hi;
    __device__ T operator()(T x) const
    {
        C v = rx_to_c(x);
        C m = v < lo ? lo : v;
        return rx_from_c<T>(m > hi ? hi : m);
    }
};

/* ---- dispatch ------------------------------------------------------------------------------ */

static rx_status no_kernel(const char *what, rx_dtype dt)
{
    return rx_fail(RX_ERR_DTYPE, "cuda %s: not defined for %s tensors", what, rx_dtype_name(dt));
}

#define UNARY_CASE(OP) \
    case OP: return rx_cuda_map1<T>(ctx, out, a, unary_f<OP, T>{}, "launch of kernel unary " #OP)

template <typename T>
static rx_status unary_typed(rx_cuda_ctx *ctx, rx_unary_op op, rx_tensor *out, const rx_tensor *a)
{
    if constexpr (std::is_floating_point<typename rx_compute<T>::type>::value) {
        switch (op) {
            UNARY_CASE(RX_NEG);
            UNARY_CASE(RX_ABS);
            UNARY_CASE(RX_EXP);
            UNARY_CASE(RX_LOG);
            UNARY_CASE(RX_SQRT);
            UNARY_CASE(RX_RSQRT);
            UNARY_CASE(RX_SIN);
            UNARY_CASE(RX_COS);
            UNARY_CASE(RX_TANH);
            UNARY_CASE(RX_SIGMOID);
            UNARY_CASE(RX_RELU);
            UNARY_CASE(RX_SILU);
            UNARY_CASE(RX_GELU);
            UNARY_CASE(RX_GELU_TANH);
            UNARY_CASE(RX_RECIPROCAL);
            UNARY_CASE(RX_SQUARE);
            UNARY_CASE(RX_LOG1P);
            UNARY_CASE(RX_EXPM1);
            UNARY_CASE(RX_FLOOR);
            UNARY_CASE(RX_CEIL);
            UNARY_CASE(RX_ROUND);
            UNARY_CASE(RX_SIGN);
            UNARY_CASE(RX_LOGICAL_NOT);
        default: break;
        }
    } else {
        switch (op) {
            UNARY_CASE(RX_NEG);
            UNARY_CASE(RX_ABS);
            UNARY_CASE(RX_RELU);
            UNARY_CASE(RX_SQUARE);
            UNARY_CASE(RX_SIGN);
            UNARY_CASE(RX_LOGICAL_NOT);
        case RX_FLOOR:
        case RX_CEIL:
        case RX_ROUND: return rx_cuda_map1<T>(ctx, out, a, unary_f<RX_FLOOR, T>{}, "launch of kernel unary (copy)");
        default: break;
        }
    }
    return no_kernel(rx_unary_op_name(op), a->dtype);
}

rx_status rx_cuda_unary(rx_unary_op op, rx_tensor *out, const rx_tensor *a)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    return rx_cuda_dispatch(a->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return unary_typed<T>(ctx, op, out, a);
    });
}

/* Calls f(std::integral_constant<int, OP>{}) for the binary ops defined on compute type C. */
template <typename C, typename F> static rx_status binary_ops(rx_binary_op op, rx_dtype dt, F &&f)
{
    switch (op) {
    case RX_ADD: return f(std::integral_constant<int, RX_ADD>{});
    case RX_SUB: return f(std::integral_constant<int, RX_SUB>{});
    case RX_MUL: return f(std::integral_constant<int, RX_MUL>{});
    case RX_DIV:
        if constexpr (std::is_floating_point<C>::value) return f(std::integral_constant<int, RX_DIV>{});
        break;
    case RX_POW: return f(std::integral_constant<int, RX_POW>{});
    case RX_MAXIMUM: return f(std::integral_constant<int, RX_MAXIMUM>{});
    case RX_MINIMUM: return f(std::integral_constant<int, RX_MINIMUM>{});
    case RX_REMAINDER: return f(std::integral_constant<int, RX_REMAINDER>{});
    case RX_EQ: return f(std::integral_constant<int, RX_EQ>{});
    case RX_NE: return f(std::integral_constant<int, RX_NE>{});
    case RX_LT: return f(std::integral_constant<int, RX_LT>{});
    case RX_LE: return f(std::integral_constant<int, RX_LE>{});
    case RX_GT: return f(std::integral_constant<int, RX_GT>{});
    case RX_GE: return f(std::integral_constant<int, RX_GE>{});
    case RX_LOGICAL_AND: return f(std::integral_constant<int, RX_LOGICAL_AND>{});
    case RX_LOGICAL_OR: return f(std::integral_constant<int, RX_LOGICAL_OR>{});
    default: break;
    }
    return no_kernel(rx_binary_op_name(op), dt);
}

rx_status rx_cuda_binary(rx_binary_op op, rx_tensor *out, const rx_tensor *a, const rx_tensor *b)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    return rx_cuda_dispatch(a->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = typename rx_compute<T>::type;
        return binary_ops<C>(op, a->dtype, [&](auto opc) {
            constexpr int OP = decltype(opc)::value;
            return rx_cuda_map2<T>(ctx, out, a, b, binary_f<OP, T>{}, "launch of kernel binary");
        });
    });
}

rx_status rx_cuda_binary_scalar(rx_binary_op op, rx_tensor *out, const rx_tensor *a, double s, int scalar_first)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    return rx_cuda_dispatch(a->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = typename rx_compute<T>::type;
        /* the scalar in the compute type, as the CPU stores it (ops/ guarantees integers fit) */
        C sv = (C)s;
        return binary_ops<C>(op, a->dtype, [&](auto opc) {
            constexpr int OP = decltype(opc)::value;
            return rx_cuda_map1<T>(ctx, out, a, scalar_f<OP, T>{sv, scalar_first}, "launch of kernel binary_scalar");
        });
    });
}

/* v rounded into [lo, hi] of an integer range, exactly (the CPU's saturate). */
static int64_t saturate(double v, int64_t lo, int64_t hi)
{
    if (!(v > (double)lo)) return lo;
    if (v >= (double)hi) return hi;
    return (int64_t)v;
}

rx_status rx_cuda_clamp(rx_tensor *out, const rx_tensor *a, double lo, double hi)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    rx_dtype dt = a->dtype;
    return rx_cuda_dispatch(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using C = typename rx_compute<T>::type;
        clamp_f<T> f;
        if constexpr (std::is_floating_point<C>::value) {
            f.lo = (C)lo;
            f.hi = (C)hi;
        } else if constexpr (std::is_same<C, int32_t>::value) {
            f.lo = (C)saturate(ceil(lo), INT32_MIN, INT32_MAX);
            f.hi = (C)saturate(floor(hi), INT32_MIN, INT32_MAX);
        } else {
            int64_t vmin = dt == RX_I64 ? INT64_MIN : 0, vmax = dt == RX_I64 ? INT64_MAX : dt == RX_U8 ? 255 : 1;
            f.lo = saturate(ceil(lo), vmin, vmax);
            f.hi = saturate(floor(hi), vmin, vmax);
        }
        return rx_cuda_map1<T>(ctx, out, a, f, "launch of kernel clamp");
    });
}

/* ---- where ------------------------------------------------------------------------------- */

template <int VEC, typename U>
__global__ void where_dense(U *o, const uint8_t *c, const U *a, const U *b, int64_t n)
{
    int64_t nv = n / VEC;
    for (int64_t v = rx_tid(); v < nv; v += rx_nthreads()) {
        rx_vec<uint8_t, VEC> cv = reinterpret_cast<const rx_vec<uint8_t, VEC> *>(c)[v];
        rx_vec<U, VEC> x = reinterpret_cast<const rx_vec<U, VEC> *>(a)[v];
        rx_vec<U, VEC> y = reinterpret_cast<const rx_vec<U, VEC> *>(b)[v];
#pragma unroll
        for (int j = 0; j < VEC; j++) x.v[j] = cv.v[j] ? x.v[j] : y.v[j];
        reinterpret_cast<rx_vec<U, VEC> *>(o)[v] = x;
    }
    for (int64_t i = nv * VEC + rx_tid(); i < n; i += rx_nthreads()) o[i] = c[i] ? a[i] : b[i];
}

template <typename U> __global__ void where_strided(rx_cuda_iter it, U *o, const uint8_t *c, const U *a, const U *b)
{
    for (int64_t i = rx_tid(); i < it.numel; i += rx_nthreads()) {
        int64_t off[4];
        rx_cuda_iter_offsets<4>(it, i, off);
        o[off[0]] = c[off[1]] ? a[off[2]] : b[off[3]];
    }
}

rx_status rx_cuda_where(rx_tensor *out, const rx_tensor *cond, const rx_tensor *a, const rx_tensor *b)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    rx_cuda_iter it;
    const rx_tensor *ops[4] = {out, cond, a, b};
    rx_cuda_iter_init(&it, 4, ops);
    if (it.numel == 0) return RX_OK;
    return rx_cuda_dispatch_bits(rx_dtype_size(a->dtype), [&](auto tag) {
        using U = typename decltype(tag)::type;
        constexpr int VEC = 16 / sizeof(U);
        U *o = (U *)rx_cuda_ptr(out);
        const U *x = (const U *)rx_cuda_ptr(a), *y = (const U *)rx_cuda_ptr(b);
        const uint8_t *c = (const uint8_t *)rx_cuda_ptr(cond);
        if (rx_cuda_iter_dense(&it, 4) && rx_aligned(o, 16) && rx_aligned(x, 16) && rx_aligned(y, 16) &&
            rx_aligned(c, VEC)) {
            where_dense<VEC, U><<<rx_cuda_blocks(it.numel / VEC + 1, RX_CUDA_THREADS, ctx), RX_CUDA_THREADS, 0,
                                  ctx->stream>>>(o, c, x, y, it.numel);
        } else {
            where_strided<U><<<rx_cuda_blocks(it.numel, RX_CUDA_THREADS, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(
                it, o, c, x, y);
        }
        return RX_CUDA_LAUNCH_STATUS("where");
    });
}
