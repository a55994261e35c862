/* nn_pointwise.cu — CUDA elementwise nn kernels: SwiGLU (forward and backward) and dropout
 * (swiglu, swiglu_bwd and dropout of backend/backend.h).
 *
 * Owns: the device side of the CPU's formulas: sigmoid written so that exp never overflows, in f32
 * for f32/f16/bf16 and f64 for f64; SwiGLU's derivative d silu(a)/da = s (1 + a (1 - s)); and
 * dropout's mask, element i dropped when Philox counter offset + i under `seed` gives a
 * bernoulli(p) one (core/philox.h, the code the CPU runs), kept elements scaled by 1 / (1 - p) in
 * double and rounded once, as on the CPU, so both devices give the same bits.
 *
 * Layout: dense operands with 16-byte aligned pointers take one 16-byte vector per thread and
 * step; tails and unaligned operands go element by element (all operands are contiguous).
 */
#include "nn_common.cuh"

#include "../core/philox.h"

__device__ __forceinline__ float nn_exp(float x) { return expf(x); }
__device__ __forceinline__ double nn_exp(double x) { return exp(x); }

template <typename C> __device__ __forceinline__ C sigmoid_c(C a)
{
    if (a >= (C)0) return (C)1 / ((C)1 + nn_exp(-a));
    C e = nn_exp(a);
    return e / ((C)1 + e);
}

template <typename T> struct swiglu_f {
    using out_type = T;
    using C = typename rx_compute<T>::type;
    __device__ T operator()(T gate, T up) const
    {
        C a = rx_to_c(gate);
        return rx_from_c<T>(a * sigmoid_c(a) * rx_to_c(up));
    }
};

rx_status rx_cuda_swiglu(rx_tensor *out, const rx_tensor *gate, const rx_tensor *up)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(out), &ctx));
    return rx_nn_dispatch_float(out->dtype, "swiglu", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        return rx_cuda_map2<T>(ctx, out, gate, up, swiglu_f<T>{}, "swiglu");
    });
}

template <typename T, int VEC>
__global__ void swiglu_bwd_kernel(T *dgate, T *dup, const T *g, const T *gate, const T *up, int64_t n, bool vec)
{
    using C = typename rx_compute<T>::type;
    auto one = [&](int64_t i) {
        C a = rx_to_c(gate[i]), u = rx_to_c(up[i]), gi = rx_to_c(g[i]);
        C s = sigmoid_c(a);
        if (dgate) dgate[i] = rx_from_c<T>(gi * u * s * ((C)1 + a * ((C)1 - s)));
        if (dup) dup[i] = rx_from_c<T>(gi * a * s);
    };
    int64_t start = 0;
    if (vec) {
        int64_t nv = n / VEC;
        for (int64_t v = rx_tid(); v < nv; v += rx_nthreads()) {
            C a[VEC], u[VEC], gi[VEC], dg[VEC], du[VEC];
            rx_nn_load_vec<T, VEC>(gate, v * VEC, a);
            rx_nn_load_vec<T, VEC>(up, v * VEC, u);
            rx_nn_load_vec<T, VEC>(g, v * VEC, gi);
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                C s = sigmoid_c(a[j]);
                dg[j] = gi[j] * u[j] * s * ((C)1 + a[j] * ((C)1 - s));
                du[j] = gi[j] * a[j] * s;
            }
            if (dgate) rx_nn_store_vec<T, VEC>(dgate, v * VEC, dg);
            if (dup) rx_nn_store_vec<T, VEC>(dup, v * VEC, du);
        }
        start = nv * VEC;
    }
    for (int64_t i = start + rx_tid(); i < n; i += rx_nthreads()) one(i);
}

rx_status rx_cuda_swiglu_bwd(rx_tensor *dgate, rx_tensor *dup, const rx_tensor *g, const rx_tensor *gate,
                             const rx_tensor *up)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(g), &ctx));
    int64_t n = rx_tensor_numel(g);
    if (n == 0 || (!dgate && !dup)) return RX_OK;
    return rx_nn_dispatch_float(g->dtype, "swiglu backward", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        constexpr int VEC = rx_nn_vec<T>();
        T *dg = dgate ? (T *)rx_cuda_ptr(dgate) : nullptr, *du = dup ? (T *)rx_cuda_ptr(dup) : nullptr;
        const T *gp = (const T *)rx_cuda_ptr(g), *ap = (const T *)rx_cuda_ptr(gate), *up_ = (const T *)rx_cuda_ptr(up);
        int64_t al = sizeof(T) * VEC;
        bool vec = rx_aligned(gp, al) && rx_aligned(ap, al) && rx_aligned(up_, al) && (!dg || rx_aligned(dg, al)) &&
                   (!du || rx_aligned(du, al));
        unsigned blocks = rx_cuda_blocks(vec ? n / VEC + 1 : n, RX_CUDA_THREADS, ctx);
        swiglu_bwd_kernel<T, VEC><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(dg, du, gp, ap, up_, n, vec);
        return RX_CUDA_LAUNCH_STATUS("swiglu backward");
    });
}

/* x * scale in double, rounded once to T (the CPU's rx_nn_store of a double). */
template <typename T> __device__ __forceinline__ T drop_one(T x, bool drop, double scale)
{
    return rx_store_from_double<T>(drop ? 0.0 : (double)rx_to_c(x) * scale);
}

template <typename T, int VEC>
__global__ void dropout_kernel(T *out, const T *x, int64_t n, double p, double scale, uint64_t seed, uint64_t offset,
                               bool vec)
{
    int64_t start = 0;
    if (vec) {
        int64_t nv = n / VEC;
        for (int64_t v = rx_tid(); v < nv; v += rx_nthreads()) {
            rx_vec<T, VEC> a = reinterpret_cast<const rx_vec<T, VEC> *>(x)[v], o;
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                uint64_t i = (uint64_t)(v * VEC + j);
                o.v[j] = drop_one(a.v[j], rx_philox_bernoulli(rx_philox4x32_10(offset + i, seed), p), scale);
            }
            reinterpret_cast<rx_vec<T, VEC> *>(out)[v] = o;
        }
        start = nv * VEC;
    }
    for (int64_t i = start + rx_tid(); i < n; i += rx_nthreads())
        out[i] = drop_one(x[i], rx_philox_bernoulli(rx_philox4x32_10(offset + (uint64_t)i, seed), p), scale);
}

rx_status rx_cuda_dropout(rx_tensor *out, const rx_tensor *x, double p, uint64_t seed, uint64_t offset)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(out), &ctx));
    int64_t n = rx_tensor_numel(out);
    if (n == 0) return RX_OK;
    double scale = 1.0 / (1.0 - p);
    return rx_nn_dispatch_float(out->dtype, "dropout", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        constexpr int VEC = rx_nn_vec<T>();
        T *o = (T *)rx_cuda_ptr(out);
        const T *xp = (const T *)rx_cuda_ptr(x);
        bool vec = rx_aligned(o, sizeof(T) * VEC) && rx_aligned(xp, sizeof(T) * VEC);
        unsigned blocks = rx_cuda_blocks(vec ? n / VEC + 1 : n, RX_CUDA_THREADS, ctx);
        dropout_kernel<T, VEC><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(o, xp, n, p, scale, seed, offset, vec);
        return RX_CUDA_LAUNCH_STATUS("dropout");
    });
}
