/* nn_fused_infer.cu — CUDA kernels of the inference-only fusions of the decode step
 * (add_rmsnorm and swiglu_packed of backend/backend.h), one launch each.
 *
 * Owns:
 * - add_rmsnorm: one row per group of TPR threads, with nn_norm.cu's row layout and arithmetic,
 *   so that the result is the bits of the unfused pair (binary RX_ADD in place, then rmsnorm)
 *   whenever both take the same path: TPR from C as nn_norm.cu picks it (a warp for C <= 1024,
 *   128 threads for C <= 4096, 512 beyond); each lane adds its elements of r to x in the compute
 *   type (f32 for f16/bf16), rounds the sum to the storage type as the elementwise add does,
 *   writes it back to x and squares the rounded value into its partial sum (the same per-lane
 *   order as nn_norm.cu); partial sums are combined with rx_nn_group_sum in double and the output
 *   is x * (rstd * w) in the compute type. Rows of up to 8 16-byte vectors per lane (all of x, r
 *   and w aligned) stay in registers between the statistics and the output (x and r read once);
 *   longer or unaligned rows take two passes, the second re-reading the lane's own sums from x.
 *   When r alone is unaligned the kernel goes element by element where the unfused rmsnorm would
 *   take vectors: the squares are then summed in another order (a last-bit difference in rstd).
 * - swiglu_packed: one thread per 16-byte vector of the output when F is a multiple of the
 *   vector width and gu and out are aligned, else per element; out[i, j] = a sigmoid(a) u with
 *   a = gu[i, j], u = gu[i, F + j], nn_pointwise.cu's expression, so the bits equal rx_swiglu's.
 */
#include "nn_common.cuh"

#include <type_traits>

/* ---- add_rmsnorm ------------------------------------------------------------------------------- */

/* x + r in the compute type, rounded to the storage type (the elementwise add's result). */
template <typename T> __device__ __forceinline__ T add_round(T x, T r)
{
    using C = typename rx_compute<T>::type;
    return rx_from_c<T>((C)rx_to_c(x) + (C)rx_to_c(r));
}

/* Rows of any length and alignment: pass 1 writes x + r and sums the squares, pass 2 re-reads the
 * lane's own elements of x (program order: no barrier needed) and writes the output. */
template <typename T, int TPR>
__global__ void add_rmsnorm_rows(T *out, T *x, const T *r, const T *w, int64_t m, int64_t c, double eps, bool vec)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    using V = rx_vec<T, VEC>;
    __shared__ double shared[32];
    int lane = threadIdx.x % TPR;
    int64_t groups = blockDim.x / TPR;
    double inv_c = 1.0 / (double)(c ? c : 1);
    /* every thread of a block runs the same number of iterations (the block-wide reductions) */
    int64_t iters = (m + (int64_t)gridDim.x * groups - 1) / ((int64_t)gridDim.x * groups);
    for (int64_t it = 0; it < iters; it++) {
        int64_t row = (it * gridDim.x + blockIdx.x) * groups + threadIdx.x / TPR;
        bool live = row < m;
        T *xr = x + (live ? row : 0) * c;
        const T *rr = r + (live ? row : 0) * c;
        C ss = 0;
        if (live && vec) {
            for (int64_t k = lane; k < c / VEC; k += TPR) {
                V a = *reinterpret_cast<const V *>(xr + k * VEC), b = *reinterpret_cast<const V *>(rr + k * VEC);
#pragma unroll
                for (int j = 0; j < VEC; j++) {
                    a.v[j] = add_round(a.v[j], b.v[j]);
                    C v = (C)rx_to_c(a.v[j]);
                    ss += v * v;
                }
                *reinterpret_cast<V *>(xr + k * VEC) = a;
            }
        } else if (live) {
            for (int64_t j = lane; j < c; j += TPR) {
                T s = add_round(xr[j], rr[j]);
                xr[j] = s;
                C v = (C)rx_to_c(s);
                ss += v * v;
            }
        }
        double rs = 1.0 / sqrt(rx_nn_group_sum<TPR>((double)ss, shared) * inv_c + eps);
        if (!live) continue;
        C cr = (C)rs;
        T *yr = out + row * c;
        if (vec) {
            for (int64_t k = lane; k < c / VEC; k += TPR) {
                C a[VEC], o[VEC];
                rx_nn_load_vec<T, VEC>(xr, k * VEC, a);
#pragma unroll
                for (int j = 0; j < VEC; j++) o[j] = a[j] * (cr * (C)rx_to_c(w[k * VEC + j]));
                rx_nn_store_vec<T, VEC>(yr, k * VEC, o);
            }
        } else {
            for (int64_t j = lane; j < c; j += TPR) yr[j] = rx_from_c<T>((C)rx_to_c(xr[j]) * (cr * (C)rx_to_c(w[j])));
        }
    }
}

/* Rows of at most TPR * NV aligned vectors: each lane loads all of its vectors of x and r before
 * using any (every load in flight at once), keeps the rounded sums in registers for the output,
 * and reads w as vectors. */
template <typename T, int TPR, int NV>
__global__ void __launch_bounds__(TPR <= 128 ? 128 : 512)
    add_rmsnorm_cached(T *out, T *x, const T *r, const T *w, int64_t m, int64_t c, double eps)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    using V = rx_vec<T, VEC>;
    __shared__ double shared[32];
    int lane = threadIdx.x % TPR;
    int64_t groups = blockDim.x / TPR, nvec = c / VEC;
    double inv_c = 1.0 / (double)(c ? c : 1);
    int64_t iters = (m + (int64_t)gridDim.x * groups - 1) / ((int64_t)gridDim.x * groups);
    for (int64_t it = 0; it < iters; it++) {
        int64_t row = (it * gridDim.x + blockIdx.x) * groups + threadIdx.x / TPR;
        bool live = row < m;
        T *xr = x + (live ? row : 0) * c;
        const T *rr = r + (live ? row : 0) * c;
        V xs[NV], rs_[NV];
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int64_t kv = lane + (int64_t)k * TPR;
            if (live && kv < nvec) {
                xs[k] = *reinterpret_cast<const V *>(xr + kv * VEC);
                rs_[k] = *reinterpret_cast<const V *>(rr + kv * VEC);
            }
        }
        C ss = 0;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int64_t kv = lane + (int64_t)k * TPR;
            if (!live || kv >= nvec) continue;
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                xs[k].v[j] = add_round(xs[k].v[j], rs_[k].v[j]);
                C v = (C)rx_to_c(xs[k].v[j]);
                ss += v * v;
            }
            *reinterpret_cast<V *>(xr + kv * VEC) = xs[k];
        }
        double rs = 1.0 / sqrt(rx_nn_group_sum<TPR>((double)ss, shared) * inv_c + eps);
        if (!live) continue;
        C cr = (C)rs;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int64_t kv = lane + (int64_t)k * TPR;
            if (kv >= nvec) continue;
            C wj[VEC], o[VEC];
            rx_nn_load_vec<T, VEC>(w, kv * VEC, wj);
#pragma unroll
            for (int j = 0; j < VEC; j++) o[j] = (C)rx_to_c(xs[k].v[j]) * (cr * wj[j]);
            rx_nn_store_vec<T, VEC>(out + row * c, kv * VEC, o);
        }
    }
}

/* Threads per row for rows of c elements (nn_norm.cu's choice). */
static int row_tpr(int64_t c) { return c <= 1024 ? 32 : c <= 4096 ? 128 : 512; }

rx_status rx_cuda_add_rmsnorm(rx_tensor *out, rx_tensor *x, const rx_tensor *r, const rx_tensor *w, double eps)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(x), &ctx));
    int64_t m = x->shape[0], c = x->shape[1];
    if (m == 0) return RX_OK;
    return rx_nn_dispatch_float(x->dtype, "add_rmsnorm", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        constexpr int VEC = rx_nn_vec<T>();
        T *xp = (T *)rx_cuda_ptr(x), *op = (T *)rx_cuda_ptr(out);
        const T *rp = (const T *)rx_cuda_ptr(r), *wp = (const T *)rx_cuda_ptr(w);
        bool vec = c % VEC == 0 && rx_aligned(xp, 16) && rx_aligned(rp, 16) && rx_aligned(op, 16);
        bool w_aligned = rx_aligned(wp, 16);
        int tpr = row_tpr(c), threads = tpr <= 128 ? 128 : 512;
        int64_t groups = threads / tpr, row_vecs = (c + (int64_t)tpr * VEC - 1) / ((int64_t)tpr * VEC);
        unsigned blocks = rx_cuda_blocks((m + groups - 1) / groups, 1, ctx);
        cudaStream_t st = ctx->stream;
        auto launch = [&](auto tpr_c) {
            constexpr int TPR = decltype(tpr_c)::value;
            if (vec && w_aligned && row_vecs <= 4)
                add_rmsnorm_cached<T, TPR, 4><<<blocks, threads, 0, st>>>(op, xp, rp, wp, m, c, eps);
            else if (vec && w_aligned && row_vecs <= 8)
                add_rmsnorm_cached<T, TPR, 8><<<blocks, threads, 0, st>>>(op, xp, rp, wp, m, c, eps);
            else
                add_rmsnorm_rows<T, TPR><<<blocks, threads, 0, st>>>(op, xp, rp, wp, m, c, eps, vec);
        };
        if (tpr == 32)
            launch(std::integral_constant<int, 32>{});
        else if (tpr == 128)
            launch(std::integral_constant<int, 128>{});
        else
            launch(std::integral_constant<int, 512>{});
        return RX_CUDA_LAUNCH_STATUS("add_rmsnorm");
    });
}

/* ---- swiglu_packed ----------------------------------------------------------------------------- */

__device__ __forceinline__ float packed_exp(float v) { return expf(v); }
__device__ __forceinline__ double packed_exp(double v) { return exp(v); }

/* a sigmoid(a) u in the compute type, the sigmoid written so that exp never overflows
 * (nn_pointwise.cu's swiglu). */
template <typename C> __device__ __forceinline__ C silu_mul(C a, C u)
{
    C s;
    if (a >= (C)0) {
        s = (C)1 / ((C)1 + packed_exp(-a));
    } else {
        C e = packed_exp(a);
        s = e / ((C)1 + e);
    }
    return a * s * u;
}

/* vec: f % VEC == 0 and gu, out 16-byte aligned; one thread per output vector. Otherwise one
 * thread per output element. */
template <typename T>
__global__ void swiglu_packed_kernel(T *out, const T *gu, int64_t m, int64_t f, bool vec)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    if (vec) {
        int64_t fv = f / VEC, n = m * fv;
        for (int64_t k = rx_tid(); k < n; k += rx_nthreads()) {
            int64_t i = k / fv, j = (k % fv) * VEC;
            const T *row = gu + i * 2 * f;
            C a[VEC], u[VEC], o[VEC];
            rx_nn_load_vec<T, VEC>(row, j, a);
            rx_nn_load_vec<T, VEC>(row, f + j, u);
#pragma unroll
            for (int e = 0; e < VEC; e++) o[e] = silu_mul<C>(a[e], u[e]);
            rx_nn_store_vec<T, VEC>(out, i * f + j, o);
        }
    } else {
        int64_t n = m * f;
        for (int64_t k = rx_tid(); k < n; k += rx_nthreads()) {
            int64_t i = k / f, j = k % f;
            const T *row = gu + i * 2 * f;
            out[k] = rx_from_c<T>(silu_mul<C>((C)rx_to_c(row[j]), (C)rx_to_c(row[f + j])));
        }
    }
}

rx_status rx_cuda_swiglu_packed(rx_tensor *out, const rx_tensor *gu)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(out), &ctx));
    int64_t m = out->shape[0], f = out->shape[1];
    if (m * f == 0) return RX_OK;
    return rx_nn_dispatch_float(out->dtype, "swiglu_packed", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        constexpr int VEC = rx_nn_vec<T>();
        T *op = (T *)rx_cuda_ptr(out);
        const T *gp = (const T *)rx_cuda_ptr(gu);
        bool vec = f % VEC == 0 && rx_aligned(op, 16) && rx_aligned(gp, 16);
        unsigned blocks = rx_cuda_blocks(vec ? m * (f / VEC) : m * f, RX_CUDA_THREADS, ctx);
        swiglu_packed_kernel<T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(op, gp, m, f, vec);
        return RX_CUDA_LAUNCH_STATUS("swiglu_packed");
    });
}
