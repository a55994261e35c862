/* nn_norm.cu — CUDA RMSNorm and LayerNorm over the rows of (M, C), forward and backward, and the
 * column sums of (M, N) (rmsnorm, rmsnorm_bwd, layernorm, layernorm_bwd and col_sum of
 * backend/backend.h).
 *
 * Owns:
 * - the row layout: a group of TPR threads per row (a warp for C <= 1024, 128 threads for
 *   C <= 4096, 512 beyond), 16-byte vector accesses when C and the pointers allow; rows of up
 *   to 8 vectors per thread are loaded into registers at once (all loads in flight) and read
 *   once, longer or unaligned ones take several passes (statistics, then the output), the later
 *   ones re-reading the row from L1/L2;
 * - the statistics: per-thread sums in the compute type (f32 for f32/f16/bf16, f64 for f64),
 *   combined across the group in double in a fixed order; LayerNorm takes the mean first, then
 *   the biased variance of the deviations, as the CPU does;
 * - the fused backward: dx row by row from the saved statistics, and the weight (and bias)
 *   gradients as column sums in two fixed-order stages: the rows are cut into chunks whose size
 *   depends on M only; the group that owns a chunk adds its rows' terms into per-column
 *   accumulators (each thread owns fixed columns: no atomics, no races) and writes them out as
 *   the chunk's partial row; a second kernel adds the partial rows in double in a fixed order
 *   (16 contiguous ranges of chunks per column, each in chunk order, then the ranges in order).
 *   Results therefore depend on the data only, never on scheduling. Rows of up to 4 vectors per
 *   thread keep x, g and the accumulators in registers (one read of each row; RMSNorm takes two
 *   rows a step); longer or unaligned rows re-read the row for dx and keep the accumulators in
 *   shared memory.
 *
 *   RMSNorm:   y = x r w,                  r = 1 / sqrt(mean(x^2) + eps)
 *              dx = r (g w) - r^3 x mean(g w x),   dw = sum_rows g x r
 *   LayerNorm: y = xh w + b,               xh = (x - mean) r, r = 1 / sqrt(var + eps)
 *              dx = r (g w - mean(g w) - xh mean(g w xh)),   dw = sum_rows g xh,   db = sum_rows g
 *
 * col_sum (bias gradients) uses the same two stages with one thread per column and a double
 * accumulator per chunk.
 */
#include "nn_common.cuh"

#include <type_traits>

enum { NORM_RMS, NORM_LN };

#define COLSUM_THREADS 256
#define CSUM_SLICES 16 /* warps per block of chunk_sum_kernel */

/* Rows per chunk of the column sums: depends on M only, at most ~1024 chunks. */
static int64_t chunk_rows(int64_t m)
{
    int64_t r = (m + 1023) / 1024;
    return r < 16 ? 16 : r;
}

/* The column-partial accumulator type: float for f32/f16/bf16 rows, double for f64. */
template <typename T> using part_t = typename std::conditional<sizeof(T) == 8, double, float>::type;
template <typename T> using stat_t = typename std::conditional<sizeof(T) == 8, double, float>::type;

/* Visits the elements of a row of c elements owned by `lane` of a TPR group: f(j, x_j) for each,
 * loading 16-byte vectors when vec. */
template <int TPR, typename T, typename F>
__device__ __forceinline__ void row_read(const T *x, int64_t c, int lane, bool vec, F &&f)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    if (vec) {
        for (int64_t k = lane; k < c / VEC; k += TPR) {
            C v[VEC];
            rx_nn_load_vec<T, VEC>(x, k * VEC, v);
#pragma unroll
            for (int j = 0; j < VEC; j++) f(k * VEC + j, v[j]);
        }
    } else {
        for (int64_t j = lane; j < c; j += TPR) f(j, (C)rx_to_c(x[j]));
    }
}

/* Visits the elements of two rows (x and g) together: f(j, x_j, g_j). */
template <int TPR, typename T, typename F>
__device__ __forceinline__ void row_read2(const T *x, const T *g, int64_t c, int lane, bool vec, F &&f)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    if (vec) {
        for (int64_t k = lane; k < c / VEC; k += TPR) {
            C a[VEC], b[VEC];
            rx_nn_load_vec<T, VEC>(x, k * VEC, a);
            rx_nn_load_vec<T, VEC>(g, k * VEC, b);
#pragma unroll
            for (int j = 0; j < VEC; j++) f(k * VEC + j, a[j], b[j]);
        }
    } else {
        for (int64_t j = lane; j < c; j += TPR) f(j, (C)rx_to_c(x[j]), (C)rx_to_c(g[j]));
    }
}

/* Writes a row: out[j] = f(j, x_j, g_j) (g may be x when only one input is needed). */
template <int TPR, typename T, typename F>
__device__ __forceinline__ void row_write(T *out, const T *x, const T *g, int64_t c, int lane, bool vec, F &&f)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    if (vec) {
        for (int64_t k = lane; k < c / VEC; k += TPR) {
            C a[VEC], b[VEC], o[VEC];
            rx_nn_load_vec<T, VEC>(x, k * VEC, a);
            rx_nn_load_vec<T, VEC>(g, k * VEC, b);
#pragma unroll
            for (int j = 0; j < VEC; j++) o[j] = f(k * VEC + j, a[j], b[j]);
            rx_nn_store_vec<T, VEC>(out, k * VEC, o);
        }
    } else {
        for (int64_t j = lane; j < c; j += TPR) out[j] = rx_from_c<T>(f(j, (C)rx_to_c(x[j]), (C)rx_to_c(g[j])));
    }
}

/* ---- forward ---------------------------------------------------------------------------------- */

template <typename T, int TPR, int KIND>
__global__ void norm_forward_kernel(T *out, stat_t<T> *mean_out, stat_t<T> *rstd_out, const T *x, const T *w, const T *b,
                                    int64_t m, int64_t c, double eps, bool vec)
{
    using C = typename rx_compute<T>::type;
    __shared__ double shared[32];
    int lane = threadIdx.x % TPR;
    int64_t groups = blockDim.x / TPR;
    double inv_c = 1.0 / (double)(c ? c : 1);
    /* every thread of a block runs the same number of iterations (the block-wide reductions) */
    int64_t iters = (m + (int64_t)gridDim.x * groups - 1) / ((int64_t)gridDim.x * groups);
    for (int64_t it = 0; it < iters; it++) {
        int64_t r = (it * gridDim.x + blockIdx.x) * groups + threadIdx.x / TPR;
        bool live = r < m;
        const T *xr = x + (live ? r : 0) * c;
        double mu = 0.0;
        if (KIND == NORM_LN) {
            C s = 0;
            if (live) row_read<TPR>(xr, c, lane, vec, [&](int64_t, C v) { s += v; });
            mu = rx_nn_group_sum<TPR>((double)s, shared) * inv_c;
        }
        C ss = 0, cmu = (C)mu;
        if (live) row_read<TPR>(xr, c, lane, vec, [&](int64_t, C v) {
            C d = KIND == NORM_LN ? v - cmu : v;
            ss += d * d;
        });
        double rs = 1.0 / sqrt(rx_nn_group_sum<TPR>((double)ss, shared) * inv_c + eps);
        if (!live) continue;
        C cr = (C)rs;
        row_write<TPR>(out + r * c, xr, xr, c, lane, vec, [&](int64_t j, C v, C) -> C {
            C wj = w ? (C)rx_to_c(w[j]) : (C)1;
            if (KIND == NORM_RMS) return v * (cr * wj);
            return (v - cmu) * cr * wj + (b ? (C)rx_to_c(b[j]) : (C)0);
        });
        if (lane == 0) {
            if (mean_out) mean_out[r] = (stat_t<T>)mu;
            if (rstd_out) rstd_out[r] = (stat_t<T>)rs;
        }
    }
}

/* The forward for rows that fit in registers (16-byte vectors, c <= TPR * VEC * NV, x, out, w
 * and b aligned): each thread loads its NV vectors of the row before using any (all of the row's
 * loads in flight at once, where the row loop of norm_forward_kernel waits on each), takes the
 * statistics from the registers and writes the output from them, so x is read once; w and b are
 * loaded as vectors (L1/L2 hits after the first rows). Same per-thread order, same group sums and
 * same expressions as norm_forward_kernel: the same bits. */
template <typename T, int TPR, int KIND, int NV>
__global__ void __launch_bounds__(TPR <= 128 ? 128 : 512)
    norm_forward_cached(T *out, stat_t<T> *mean_out, stat_t<T> *rstd_out, const T *x, const T *w, const T *b, int64_t m,
                        int64_t c, double eps)
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
        int64_t r = (it * gridDim.x + blockIdx.x) * groups + threadIdx.x / TPR;
        bool live = r < m;
        const T *xr = x + (live ? r : 0) * c;
        V xs[NV];
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int64_t kv = lane + (int64_t)k * TPR;
            if (live && kv < nvec) xs[k] = *reinterpret_cast<const V *>(xr + kv * VEC);
        }
        double mu = 0.0;
        if (KIND == NORM_LN) {
            C s = 0;
#pragma unroll
            for (int k = 0; k < NV; k++) {
                if (!live || lane + (int64_t)k * TPR >= nvec) continue;
#pragma unroll
                for (int j = 0; j < VEC; j++) s += (C)rx_to_c(xs[k].v[j]);
            }
            mu = rx_nn_group_sum<TPR>((double)s, shared) * inv_c;
        }
        C ss = 0, cmu = (C)mu;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            if (!live || lane + (int64_t)k * TPR >= nvec) continue;
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                C v = (C)rx_to_c(xs[k].v[j]);
                C d = KIND == NORM_LN ? v - cmu : v;
                ss += d * d;
            }
        }
        double rs = 1.0 / sqrt(rx_nn_group_sum<TPR>((double)ss, shared) * inv_c + eps);
        if (!live) continue;
        C cr = (C)rs;
#pragma unroll
        for (int k = 0; k < NV; k++) {
            int64_t kv = lane + (int64_t)k * TPR;
            if (kv >= nvec) continue;
            C wj[VEC], bj[VEC], o[VEC];
            if (w)
                rx_nn_load_vec<T, VEC>(w, kv * VEC, wj);
            if (KIND == NORM_LN && b) rx_nn_load_vec<T, VEC>(b, kv * VEC, bj);
#pragma unroll
            for (int j = 0; j < VEC; j++) {
                C v = (C)rx_to_c(xs[k].v[j]), wv = w ? wj[j] : (C)1;
                if (KIND == NORM_RMS)
                    o[j] = v * (cr * wv);
                else
                    o[j] = (v - cmu) * cr * wv + (b ? bj[j] : (C)0);
            }
            rx_nn_store_vec<T, VEC>(out + r * c, kv * VEC, o);
        }
        if (lane == 0) {
            if (mean_out) mean_out[r] = (stat_t<T>)mu;
            if (rstd_out) rstd_out[r] = (stat_t<T>)rs;
        }
    }
}

/* Threads per row for rows of c elements. */
static int norm_tpr(int64_t c) { return c <= 1024 ? 32 : c <= 4096 ? 128 : 512; }

/* Calls f(std::integral_constant<int, TPR>{}, threads per block) for rows of c elements. */
template <typename F> static rx_status tpr_dispatch(int64_t c, F &&f)
{
    switch (norm_tpr(c)) {
    case 32: return f(std::integral_constant<int, 32>{}, 128);
    case 128: return f(std::integral_constant<int, 128>{}, 128);
    default: return f(std::integral_constant<int, 512>{}, 512);
    }
}

template <int KIND>
static rx_status norm_forward(const char *op, rx_tensor *out, rx_tensor *mean, rx_tensor *rstd, const rx_tensor *x,
                              const rx_tensor *w, const rx_tensor *b, double eps)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(x), &ctx));
    int64_t m = x->shape[0], c = x->shape[1];
    if (m == 0) return RX_OK;
    return rx_nn_dispatch_float(x->dtype, op, [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        const T *xp = (const T *)rx_cuda_ptr(x);
        T *op_ = (T *)rx_cuda_ptr(out);
        const T *wp = w ? (const T *)rx_cuda_ptr(w) : nullptr, *bp = b ? (const T *)rx_cuda_ptr(b) : nullptr;
        stat_t<T> *mp = mean ? (stat_t<T> *)rx_cuda_ptr(mean) : nullptr;
        stat_t<T> *rp = rstd ? (stat_t<T> *)rx_cuda_ptr(rstd) : nullptr;
        bool vec = c % rx_nn_vec<T>() == 0 && rx_aligned(xp, 16) && rx_aligned(op_, 16);
        bool params_aligned = rx_aligned(wp, 16) && rx_aligned(bp, 16);
        return tpr_dispatch(c, [&](auto tpr, int threads) -> rx_status {
            constexpr int TPR = decltype(tpr)::value;
            int64_t groups = threads / TPR, row_vecs = (c + TPR * rx_nn_vec<T>() - 1) / (TPR * rx_nn_vec<T>());
            unsigned blocks = rx_cuda_blocks((m + groups - 1) / groups, 1, ctx);
            cudaStream_t st = ctx->stream;
            if (vec && params_aligned && row_vecs <= 4)
                norm_forward_cached<T, TPR, KIND, 4><<<blocks, threads, 0, st>>>(op_, mp, rp, xp, wp, bp, m, c, eps);
            else if (vec && params_aligned && row_vecs <= 8)
                norm_forward_cached<T, TPR, KIND, 8><<<blocks, threads, 0, st>>>(op_, mp, rp, xp, wp, bp, m, c, eps);
            else
                norm_forward_kernel<T, TPR, KIND><<<blocks, threads, 0, st>>>(op_, mp, rp, xp, wp, bp, m, c, eps, vec);
            return RX_CUDA_LAUNCH_STATUS("norm forward");
        });
    });
}

rx_status rx_cuda_rmsnorm(rx_tensor *out, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w, double eps)
{
    return norm_forward<NORM_RMS>("rmsnorm", out, nullptr, rstd, x, w, nullptr, eps);
}

rx_status rx_cuda_layernorm(rx_tensor *out, rx_tensor *mean, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w,
                            const rx_tensor *b, double eps)
{
    return norm_forward<NORM_LN>("layernorm", out, mean, rstd, x, w, b, eps);
}

/* ---- backward --------------------------------------------------------------------------------- */

/* A barrier over a TPR group (the warp for TPR <= 32, else the block, which is the group). */
template <int TPR> __device__ __forceinline__ void group_sync()
{
    if constexpr (TPR > 32)
        __syncthreads();
    else
        __syncwarp();
}

/* Group (chunk) k of the grid handles rows [k rpc, (k + 1) rpc); its column partials (nsum tables
 * of c) go to partial[(s * nchunks + k) * c + j]. */
template <typename T, int TPR, int KIND>
__global__ void norm_backward_kernel(T *dx, part_t<T> *partial, const T *g, const T *x, const T *w,
                                     const stat_t<T> *mean, const stat_t<T> *rstd, int64_t m, int64_t c, int64_t rpc,
                                     int64_t nchunks, int nsum, bool vec)
{
    using C = typename rx_compute<T>::type;
    using P = part_t<T>;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    __shared__ double shared[32];
    int lane = threadIdx.x % TPR, group = threadIdx.x / TPR;
    int64_t groups = blockDim.x / TPR;
    int64_t chunk = (int64_t)blockIdx.x * groups + group;
    P *acc_w = (P *)smem_raw + (int64_t)group * c * nsum, *acc_b = acc_w + c;
    for (int64_t j = lane; j < c * nsum; j += TPR) acc_w[j] = (P)0;
    group_sync<TPR>(); /* the accumulation visits columns in another order than the clearing */
    double inv_c = 1.0 / (double)(c ? c : 1);
    int64_t r0 = chunk * rpc, r1 = r0 + rpc < m ? r0 + rpc : m;
    /* every group runs rpc iterations: the block-wide reductions need all threads */
    for (int64_t r = r0; r < r0 + rpc; r++) {
        bool live = r < r1;
        const T *xr = x + (live ? r : 0) * c, *gr = g + (live ? r : 0) * c;
        C rs = live ? (C)rstd[r] : (C)0, mu = live && KIND == NORM_LN ? (C)mean[r] : (C)0;
        C s1 = 0, s2 = 0; /* sum g w (LayerNorm), sum g w x (RMS) or g w xh (LayerNorm) */
        if (live)
            row_read2<TPR>(xr, gr, c, lane, vec, [&](int64_t j, C xv, C gv) {
                C wj = w ? (C)rx_to_c(w[j]) : (C)1;
                C xh = KIND == NORM_LN ? (xv - mu) * rs : xv;
                C gw = gv * wj;
                s1 += gw;
                s2 += gw * xh;
                if (nsum) {
                    acc_w[j] += KIND == NORM_LN ? gv * xh : gv * xv * rs;
                    if (KIND == NORM_LN && nsum == 2) acc_b[j] += gv;
                }
            });
        if (!dx) continue;
        double d1 = rx_nn_group_sum<TPR>((double)s1, shared) * inv_c;
        double d2 = rx_nn_group_sum<TPR>((double)s2, shared) * inv_c;
        if (!live) continue;
        C m1 = (C)d1, m2 = (C)d2;
        row_write<TPR>(dx + r * c, xr, gr, c, lane, vec, [&](int64_t j, C xv, C gv) -> C {
            C wj = w ? (C)rx_to_c(w[j]) : (C)1;
            C gw = gv * wj;
            if (KIND == NORM_RMS) return rs * gw - rs * rs * rs * m2 * xv;
            C xh = (xv - mu) * rs;
            return rs * (gw - m1 - xh * m2);
        });
    }
    if (!nsum || chunk >= nchunks) return;
    group_sync<TPR>();
    for (int64_t s = 0; s < nsum; s++)
        for (int64_t j = lane; j < c; j += TPR) partial[(s * nchunks + chunk) * c + j] = acc_w[s * c + j];
}

/* Sums N values over the group at once (one pair of barriers for all), each in the order of
 * rx_nn_group_sum (the butterfly inside the warp, then the warps in order). */
template <int TPR, int N> __device__ __forceinline__ void group_sumn(double (&a)[N], double (*shared)[N])
{
#pragma unroll
    for (int m = (TPR < 32 ? TPR : 32) / 2; m >= 1; m >>= 1)
#pragma unroll
        for (int q = 0; q < N; q++) a[q] += __shfl_xor_sync(0xffffffffu, a[q], m);
    if constexpr (TPR > 32) {
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        __syncthreads();
        if (lane == 0)
#pragma unroll
            for (int q = 0; q < N; q++) shared[warp][q] = a[q];
        __syncthreads();
#pragma unroll
        for (int q = 0; q < N; q++) {
            double r = shared[0][q];
#pragma unroll 1
            for (int w = 1; w < TPR / 32; w++) r += shared[w][q];
            a[q] = r;
        }
    }
}

/* The backward for rows that fit in registers (c <= TPR * VEC * NV, 16-byte vectors): each thread
 * keeps its NV vectors of x and g in storage form (converted at each use, so that a bf16 row
 * costs half the registers of an f32 copy and more blocks fit on an SM) and its columns' weight-
 * and bias-gradient sums in registers, so a row is read once and the chunk's partial sums need
 * no shared memory; w is re-read at each use (L1 hits: registers go to the rows instead). RB
 * rows are taken per step: all their loads are issued before any use (twice the bytes in flight
 * of a row at a time: one row a step left the SM waiting on each row's loads, then its barriers)
 * and their row sums share one pair of barriers; the column sums still add the rows in row
 * order. Same chunks, same arithmetic and same partial layout as norm_backward_kernel. RMSNorm
 * (RB 2) is held to 128 registers (4 blocks of 128 threads an SM, 2 waves for the 1024 chunks of
 * a 16384-row input; 3 blocks would need 2.6 waves; a few values spill to L1); LayerNorm keeps a
 * row a step (its bias sums take the registers). */
template <typename T, int TPR, int KIND, int NV, int RB>
__global__ void __launch_bounds__(TPR <= 128 ? 128 : 512, TPR <= 128 && KIND == NORM_RMS ? 4 : 1)
    norm_backward_cached(T *dx, part_t<T> *partial, const T *g, const T *x, const T *w, const stat_t<T> *mean,
                         const stat_t<T> *rstd, int64_t m, int64_t c, int64_t rpc, int64_t nchunks, int nsum)
{
    using C = typename rx_compute<T>::type;
    using P = part_t<T>;
    using V = rx_vec<T, rx_nn_vec<T>()>;
    constexpr int VEC = rx_nn_vec<T>();
    __shared__ double shared[32][2 * RB];
    int lane = threadIdx.x % TPR;
    int64_t chunk = (int64_t)blockIdx.x * (blockDim.x / TPR) + threadIdx.x / TPR, nvec = c / VEC;
    C aw[NV][VEC], ab[NV][VEC];
#pragma unroll
    for (int k = 0; k < NV; k++)
#pragma unroll
        for (int j = 0; j < VEC; j++) aw[k][j] = (C)0, ab[k][j] = (C)0;
    auto wvec = [&](int64_t kv) {
        V v;
        if (w) return *reinterpret_cast<const V *>(w + kv * VEC);
#pragma unroll
        for (int j = 0; j < VEC; j++) v.v[j] = rx_from_c<T>((C)1);
        return v;
    };
    double inv_c = 1.0 / (double)(c ? c : 1);
    int64_t r0 = chunk * rpc, r1 = r0 + rpc < m ? r0 + rpc : m;
    /* every group runs the same steps: the block-wide reductions need all threads */
    for (int64_t rb = r0; rb < r0 + rpc; rb += RB) {
        bool live[RB];
        C rs[RB], mu[RB];
        V xs[RB][NV], gs[RB][NV];
#pragma unroll
        for (int q = 0; q < RB; q++) {
            int64_t r = rb + q;
            live[q] = r < r1;
            rs[q] = live[q] ? (C)rstd[r] : (C)0, mu[q] = live[q] && KIND == NORM_LN ? (C)mean[r] : (C)0;
            const T *xr = x + (live[q] ? r : 0) * c, *gr = g + (live[q] ? r : 0) * c;
#pragma unroll
            for (int k = 0; k < NV; k++) {
                int64_t kv = lane + (int64_t)k * TPR;
                if (!live[q] || kv >= nvec) continue;
                xs[q][k] = *reinterpret_cast<const V *>(xr + kv * VEC);
                gs[q][k] = *reinterpret_cast<const V *>(gr + kv * VEC);
            }
        }
        double d[2 * RB];
#pragma unroll
        for (int q = 0; q < RB; q++) {
            C s1 = 0, s2 = 0;
#pragma unroll
            for (int k = 0; k < NV; k++) {
                int64_t kv = lane + (int64_t)k * TPR;
                if (!live[q] || kv >= nvec) continue;
                V wv = wvec(kv);
#pragma unroll
                for (int j = 0; j < VEC; j++) {
                    C xv = (C)rx_to_c(xs[q][k].v[j]), gv = (C)rx_to_c(gs[q][k].v[j]);
                    C xh = KIND == NORM_LN ? (xv - mu[q]) * rs[q] : xv;
                    C gw = gv * (C)rx_to_c(wv.v[j]);
                    s1 += gw;
                    s2 += gw * xh;
                    aw[k][j] += KIND == NORM_LN ? gv * xh : gv * xv * rs[q];
                    if (KIND == NORM_LN) ab[k][j] += gv;
                }
            }
            d[2 * q] = (double)s1, d[2 * q + 1] = (double)s2;
        }
        if (!dx) continue;
        group_sumn<TPR, 2 * RB>(d, shared);
#pragma unroll
        for (int q = 0; q < RB; q++) {
            if (!live[q]) continue;
            int64_t r = rb + q;
            C m1 = (C)(d[2 * q] * inv_c), m2 = (C)(d[2 * q + 1] * inv_c);
#pragma unroll
            for (int k = 0; k < NV; k++) {
                int64_t kv = lane + (int64_t)k * TPR;
                if (kv >= nvec) continue;
                V wv = wvec(kv);
                C o[VEC];
#pragma unroll
                for (int j = 0; j < VEC; j++) {
                    C xv = (C)rx_to_c(xs[q][k].v[j]), gw = (C)rx_to_c(gs[q][k].v[j]) * (C)rx_to_c(wv.v[j]);
                    if (KIND == NORM_RMS) {
                        o[j] = rs[q] * gw - rs[q] * rs[q] * rs[q] * m2 * xv;
                    } else {
                        C xh = (xv - mu[q]) * rs[q];
                        o[j] = rs[q] * (gw - m1 - xh * m2);
                    }
                }
                rx_nn_store_vec<T, VEC>(dx + r * c, kv * VEC, o);
            }
        }
    }
    if (!nsum || chunk >= nchunks) return;
#pragma unroll
    for (int k = 0; k < NV; k++) {
        int64_t kv = lane + (int64_t)k * TPR;
        if (kv >= nvec) continue;
        rx_vec<P, VEC> pw, pb;
#pragma unroll
        for (int j = 0; j < VEC; j++) pw.v[j] = (P)aw[k][j], pb.v[j] = (P)ab[k][j];
        *reinterpret_cast<rx_vec<P, VEC> *>(partial + chunk * c + kv * VEC) = pw;
        if (nsum == 2) *reinterpret_cast<rx_vec<P, VEC> *>(partial + (nchunks + chunk) * c + kv * VEC) = pb;
    }
}

/* out[j] = sum over k < nchunks of partial[k * n + j], in double, in a fixed order: a block owns
 * 32 columns (one per lane, coalesced) and cuts the chunks into CSUM_SLICES contiguous ranges, one
 * per warp, each added in k order; the ranges' sums are then added in range order. The order
 * depends on nchunks only; the many warps per column keep enough loads in flight (one thread
 * per column walking all the chunks was latency-bound). */
template <typename P, typename T>
__global__ void __launch_bounds__(32 * CSUM_SLICES) chunk_sum_kernel(const P *partial, int64_t nchunks, int64_t n, T *out)
{
    __shared__ double part[CSUM_SLICES][32];
    int col = threadIdx.x % 32, slice = threadIdx.x / 32;
    int64_t j = (int64_t)blockIdx.x * 32 + col, per = (nchunks + CSUM_SLICES - 1) / CSUM_SLICES;
    int64_t k0 = slice * per, k1 = k0 + per < nchunks ? k0 + per : nchunks;
    double acc = 0.0;
    if (j < n) {
#pragma unroll 8
        for (int64_t k = k0; k < k1; k++) acc += (double)partial[k * n + j];
    }
    part[slice][col] = acc;
    __syncthreads();
    if (slice != 0 || j >= n) return;
    double r = part[0][col];
#pragma unroll
    for (int w = 1; w < CSUM_SLICES; w++) r += part[w][col];
    out[j] = rx_store_from_double<T>(r);
}

/* Launches chunk_sum_kernel over n columns. */
template <typename P, typename T>
static void chunk_sum(rx_cuda_ctx *ctx, const P *partial, int64_t nchunks, int64_t n, T *out)
{
    chunk_sum_kernel<P, T><<<(unsigned)((n + 31) / 32), 32 * CSUM_SLICES, 0, ctx->stream>>>(partial, nchunks, n, out);
}

/* dw (and db) = the chunk partial rows added in chunk order. */
template <typename P>
static rx_status sum_partials(int nsum, rx_cuda_ctx *ctx, const P *partial, int64_t nchunks, int64_t c, rx_tensor *dw,
                              rx_tensor *db)
{
    rx_tensor *outs[2] = {dw, db};
    for (int s = 0; s < nsum; s++) {
        if (!outs[s]) continue;
        rx_status st = rx_nn_dispatch_float(outs[s]->dtype, "norm backward", [&](auto tag) -> rx_status {
            using T = typename decltype(tag)::type;
            chunk_sum<P, T>(ctx, partial + (int64_t)s * nchunks * c, nchunks, c, (T *)rx_cuda_ptr(outs[s]));
            return RX_CUDA_LAUNCH_STATUS("norm parameter gradients");
        });
        RX_TRY(st);
    }
    return RX_OK;
}

template <int KIND>
static rx_status norm_backward(const char *op, rx_tensor *dx, rx_tensor *dw, rx_tensor *db, const rx_tensor *g,
                               const rx_tensor *x, const rx_tensor *w, const rx_tensor *mean, const rx_tensor *rstd)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(x);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t m = x->shape[0], c = x->shape[1];
    int nsum = dw || db ? (KIND == NORM_LN ? 2 : 1) : 0;
    return rx_nn_dispatch_float(x->dtype, op, [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        using P = part_t<T>;
        if (m == 0) { /* no rows: the parameter gradients are zeros */
            if (dw) RX_CUDA_CHECK(cudaMemsetAsync(rx_cuda_ptr(dw), 0, (size_t)(c * sizeof(T)), ctx->stream));
            if (db) RX_CUDA_CHECK(cudaMemsetAsync(rx_cuda_ptr(db), 0, (size_t)(c * sizeof(T)), ctx->stream));
            return RX_OK;
        }
        const T *xp = (const T *)rx_cuda_ptr(x), *gp = (const T *)rx_cuda_ptr(g);
        T *dxp = dx ? (T *)rx_cuda_ptr(dx) : nullptr;
        bool vec = c % rx_nn_vec<T>() == 0 && rx_aligned(xp, 16) && rx_aligned(gp, 16) && (!dxp || rx_aligned(dxp, 16));
        int64_t rpc = chunk_rows(m), nchunks = (m + rpc - 1) / rpc;
        rx_nn_scratch partial;
        if (nsum) RX_TRY(partial.alloc(nchunks * c * nsum * (int64_t)sizeof(P), dev));
        return tpr_dispatch(c, [&](auto tpr, int threads) -> rx_status {
            constexpr int TPR = decltype(tpr)::value;
            int64_t groups = threads / TPR;
            unsigned blocks = (unsigned)((nchunks + groups - 1) / groups);
            /* rows in registers with 128-thread blocks only: up to ~230 registers a thread (the
             * 512-thread instance, NV 1, is never taken: those rows are longer than 4096) */
            constexpr int NV = TPR <= 128 ? 4 : 1;
            if (TPR <= 128 && vec && c <= (int64_t)TPR * rx_nn_vec<T>() * NV && (!w || rx_aligned(rx_cuda_ptr(w), 16))) {
                constexpr int RB = TPR <= 128 && KIND == NORM_RMS ? 2 : 1;
                norm_backward_cached<T, TPR, KIND, NV, RB><<<blocks, threads, 0, ctx->stream>>>(
                    dxp, partial.as<P>(), gp, xp, w ? (const T *)rx_cuda_ptr(w) : nullptr,
                    mean ? (const stat_t<T> *)rx_cuda_ptr(mean) : nullptr, (const stat_t<T> *)rx_cuda_ptr(rstd), m, c,
                    rpc, nchunks, nsum);
                RX_TRY(RX_CUDA_LAUNCH_STATUS("norm backward"));
                return sum_partials(nsum, ctx, partial.as<P>(), nchunks, c, dw, db);
            }
            int64_t smem = groups * c * nsum * (int64_t)sizeof(P);
            auto kernel = norm_backward_kernel<T, TPR, KIND>;
            if (smem > 48 * 1024) {
                int limit = 0;
                RX_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
                if (smem > limit - 1024)
                    return rx_fail(RX_ERR_UNSUPPORTED,
                                   "cuda %s: rows of %lld channels need %lld bytes of shared memory for the parameter "
                                   "gradients, more than the device's %d",
                                   op, (long long)c, (long long)smem, limit);
                RX_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
            }
            kernel<<<blocks, threads, (size_t)smem, ctx->stream>>>(
                dxp, partial.as<P>(), gp, xp, w ? (const T *)rx_cuda_ptr(w) : nullptr,
                mean ? (const stat_t<T> *)rx_cuda_ptr(mean) : nullptr, (const stat_t<T> *)rx_cuda_ptr(rstd), m, c, rpc,
                nchunks, nsum, vec);
            RX_TRY(RX_CUDA_LAUNCH_STATUS("norm backward"));
            return sum_partials(nsum, ctx, partial.as<P>(), nchunks, c, dw, db);
        });
    });
}

rx_status rx_cuda_rmsnorm_bwd(rx_tensor *dx, rx_tensor *dw, const rx_tensor *g, const rx_tensor *x, const rx_tensor *w,
                              const rx_tensor *rstd)
{
    return norm_backward<NORM_RMS>("rmsnorm backward", dx, dw, nullptr, g, x, w, nullptr, rstd);
}

rx_status rx_cuda_layernorm_bwd(rx_tensor *dx, rx_tensor *dw, rx_tensor *db, const rx_tensor *g, const rx_tensor *x,
                                const rx_tensor *w, const rx_tensor *mean, const rx_tensor *rstd)
{
    return norm_backward<NORM_LN>("layernorm backward", dx, dw, db, g, x, w, mean, rstd);
}

/* ---- column sums ------------------------------------------------------------------------------ */

/* partial[k * n + j] = sum of a[i, j] over the rows i of chunk k (blockIdx.y), in row order. */
template <typename T>
__global__ void col_partial_kernel(const T *a, int64_t m, int64_t n, int64_t rs, int64_t cs, int64_t rpc, double *partial)
{
    int64_t j = (int64_t)blockIdx.x * COLSUM_THREADS + threadIdx.x, k = blockIdx.y;
    if (j >= n) return;
    int64_t r0 = k * rpc, r1 = r0 + rpc < m ? r0 + rpc : m;
    double acc = 0.0;
    for (int64_t i = r0; i < r1; i++) acc += (double)rx_to_c(a[i * rs + j * cs]);
    partial[k * n + j] = acc;
}

rx_status rx_cuda_col_sum(rx_tensor *out, const rx_tensor *a)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(a);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t m = a->shape[0], n = a->shape[1];
    if (n == 0) return RX_OK;
    return rx_nn_dispatch_float(a->dtype, "col_sum", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        if (m == 0) {
            RX_CUDA_CHECK(cudaMemsetAsync(rx_cuda_ptr(out), 0, (size_t)(n * sizeof(T)), ctx->stream));
            return RX_OK;
        }
        int64_t rpc = chunk_rows(m), nchunks = (m + rpc - 1) / rpc;
        rx_nn_scratch partial;
        RX_TRY(partial.alloc(nchunks * n * (int64_t)sizeof(double), dev));
        dim3 grid((unsigned)((n + COLSUM_THREADS - 1) / COLSUM_THREADS), (unsigned)nchunks);
        col_partial_kernel<T><<<grid, COLSUM_THREADS, 0, ctx->stream>>>((const T *)rx_cuda_ptr(a), m, n, a->stride[0],
                                                                        a->stride[1], rpc, partial.as<double>());
        RX_TRY(RX_CUDA_LAUNCH_STATUS("col_sum"));
        chunk_sum<double, T>(ctx, partial.as<double>(), nchunks, n, (T *)rx_cuda_ptr(out));
        return RX_CUDA_LAUNCH_STATUS("col_sum chunks");
    });
}
