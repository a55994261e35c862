/* nn_loss.cu — CUDA loss kernels: cross-entropy over rows of logits, binary cross-entropy with
 * logits and mean squared error, forward and backward (cross_entropy, cross_entropy_bwd,
 * bce_with_logits, bce_with_logits_bwd, mse and mse_bwd of backend/backend.h).
 *
 * Owns:
 * - cross-entropy in one pass over each row: every thread keeps an online (max, sum of exp) pair
 *   in the compute type (f32 for f32/f16/bf16, f64 for f64) over 16-byte vectors of the row, the
 *   pairs are merged in a fixed order, and lse = max + log(sum). The row's loss goes to a double
 *   scratch, and one block adds the rows in index order (and the weights of the rows kept) for the
 *   mean. The backward reads each logit once and writes (softmax - onehot) * w * grad / sum_w
 *   straight into dlogits: exp(x - lse) at the compute precision, the product with the row's
 *   coefficient in double and one rounding, as on the CPU; no probabilities are stored. Both
 *   passes load CE_UNROLL vectors per thread before using any (one load at a time left each
 *   thread waiting on every load: the backward's stores may alias the next load as far as the
 *   compiler knows), and use them in the same order as one at a time (the same bits).
 * - BCE and MSE in double (the CPU's formulas: max(x, 0) - x t + log1p(exp(-|x|)) and (a - b)^2),
 *   with per-block partial sums of fixed chunks added in chunk order. Upstream gradients are read
 *   on the device, so no call waits for the GPU.
 * Every sum has a fixed order: results depend on the data only, not on scheduling.
 */
#include "nn_common.cuh"

#define SUM_THREADS 1024
#define CHUNK_THREADS 256
#define CHUNK_PER_THREAD 16 /* a block of the BCE/MSE partial sums covers 4096 elements */
#define CE_UNROLL 4         /* 16-byte vectors of a row loaded per thread before any is used */

__device__ __forceinline__ float nn_exp(float x) { return expf(x); }
__device__ __forceinline__ double nn_exp(double x) { return exp(x); }
__device__ __forceinline__ float nn_log(float x) { return logf(x); }
__device__ __forceinline__ double nn_log(double x) { return log(x); }

template <typename IT> __device__ __forceinline__ int64_t target_of(const IT *t, int64_t i) { return (int64_t)t[i]; }

/* ---- cross-entropy ---------------------------------------------------------------------------- */

/* An online softmax accumulator: the max m and the sum s of exp(x - m) of the values seen. */
template <typename C> struct lse_acc {
    C m, s;
};

template <typename C> __device__ __forceinline__ lse_acc<C> lse_merge(lse_acc<C> a, lse_acc<C> b)
{
    C m = a.m > b.m ? a.m : b.m;
    if (m == -INFINITY) return {m, (C)0};
    C s = (a.m == -INFINITY ? (C)0 : a.s * nn_exp(a.m - m)) + (b.m == -INFINITY ? (C)0 : b.s * nn_exp(b.m - m));
    return {m, s};
}

/* Merges the accumulators of a group of TPR threads in a fixed order. */
template <int TPR, typename C> __device__ __forceinline__ lse_acc<C> lse_group(lse_acc<C> a, lse_acc<C> *shared)
{
#pragma unroll
    for (int k = (TPR < 32 ? TPR : 32) / 2; k >= 1; k >>= 1) {
        lse_acc<C> o = {__shfl_xor_sync(0xffffffffu, a.m, k), __shfl_xor_sync(0xffffffffu, a.s, k)};
        a = lse_merge(a, o);
    }
    if constexpr (TPR > 32) {
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        __syncthreads();
        if (lane == 0) shared[warp] = a;
        __syncthreads();
        a = shared[0];
#pragma unroll 1
        for (int w = 1; w < TPR / 32; w++) a = lse_merge(a, shared[w]);
    }
    return a;
}

/* Folds values x[0..n) into the accumulator (the max of the batch first, then one exp each). */
template <typename C, int N> __device__ __forceinline__ lse_acc<C> lse_fold(lse_acc<C> a, const C (&x)[N])
{
    C mx = x[0];
#pragma unroll
    for (int j = 1; j < N; j++) mx = x[j] > mx ? x[j] : mx; /* NaN never wins: it poisons the sum instead */
    C m = a.m > mx ? a.m : mx;
    if (m == -INFINITY) return a;
    C s = a.m == -INFINITY ? (C)0 : a.s * nn_exp(a.m - m);
#pragma unroll
    for (int j = 0; j < N; j++) s += nn_exp(x[j] - m);
    return {m, s};
}

/* Rows of 512 threads: 3 blocks an SM (40 registers; f64 unbounded), so CE_UNROLL loads per
 * thread do not cost occupancy below 1536 threads. */
template <typename T, int TPR, typename IT, typename ST>
__global__ void __launch_bounds__(TPR == 512 ? 512 : RX_CUDA_THREADS, TPR == 512 && sizeof(T) < 8 ? 3 : 1)
    ce_forward_kernel(const T *logits, const IT *targets, const T *weights, ST *lse_out, double *row_loss, int64_t n,
                      int64_t v, int64_t ignore_index, bool vec)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    __shared__ lse_acc<C> shared[32];
    int lane = threadIdx.x % TPR;
    int64_t groups = blockDim.x / TPR;
    for (int64_t r = blockIdx.x * groups + threadIdx.x / TPR; r < n; r += gridDim.x * groups) {
        const T *x = logits + r * v;
        lse_acc<C> a = {-INFINITY, (C)0};
        int64_t start = 0;
        if (vec) {
            int64_t nv = v / VEC, k = lane;
            for (; k + (CE_UNROLL - 1) * TPR < nv; k += CE_UNROLL * TPR) {
                C xs[CE_UNROLL][VEC];
#pragma unroll
                for (int u = 0; u < CE_UNROLL; u++) rx_nn_load_vec<T, VEC>(x, (k + u * TPR) * VEC, xs[u]);
#pragma unroll
                for (int u = 0; u < CE_UNROLL; u++) a = lse_fold(a, xs[u]);
            }
            for (; k < nv; k += TPR) {
                C xs[VEC];
                rx_nn_load_vec<T, VEC>(x, k * VEC, xs);
                a = lse_fold(a, xs);
            }
            start = nv * VEC;
        }
        for (int64_t j = start + lane; j < v; j += TPR) {
            C xs[1] = {rx_to_c(x[j])};
            a = lse_fold(a, xs);
        }
        a = lse_group<TPR>(a, shared);
        if (lane == 0) {
            C l = a.m + nn_log(a.s); /* -inf row max: log(0) = -inf; NaN or +inf logits: NaN */
            lse_out[r] = (ST)l;
            int64_t t = target_of(targets, r);
            /* an out-of-range target (checked asynchronously, id_check.cu) reads nothing */
            row_loss[r] = t == ignore_index || t < 0 || t >= v
                              ? 0.0
                              : ((double)l - (double)rx_to_c(x[t])) * (weights ? (double)rx_to_c(weights[r]) : 1.0);
        }
    }
}

/* One block: loss = sum of row losses / sum of kept weights (0 when that is 0), in index order;
 * with want_coef, coef = grad / sum_w (or 0) instead. */
template <typename T, typename IT>
__global__ void ce_reduce_kernel(const double *row_loss, const IT *targets, const T *weights, int64_t n,
                                 int64_t ignore_index, char *loss, rx_dtype loss_dt, const char *grad, double *coef)
{
    __shared__ double shared[32];
    double tot = 0.0, ws = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += SUM_THREADS) {
        if (target_of(targets, i) == ignore_index) continue;
        if (row_loss) tot += row_loss[i];
        ws += weights ? (double)rx_to_c(weights[i]) : 1.0;
    }
    tot = rx_nn_group_sum<SUM_THREADS>(tot, shared);
    ws = rx_nn_group_sum<SUM_THREADS>(ws, shared);
    if (threadIdx.x != 0) return;
    if (coef)
        *coef = ws != 0.0 ? rx_dev_load_double(grad, loss_dt) / ws : 0.0;
    else
        rx_dev_store_double(loss, loss_dt, ws != 0.0 ? tot / ws : 0.0);
}

/* Rows of 512 threads: 2 blocks an SM (64 registers, a few bytes spilled to L1; unbounded it
 * took 87 registers and 1 block). */
template <typename T, int TPR, typename IT, typename ST>
__global__ void __launch_bounds__(TPR == 512 ? 512 : RX_CUDA_THREADS, TPR == 512 ? 2 : 1)
    ce_backward_kernel(T *dlogits, const T *logits, const IT *targets, const T *weights, const ST *lse,
                       const double *coef_base, int64_t n, int64_t v, int64_t ignore_index, bool vec)
{
    using C = typename rx_compute<T>::type;
    constexpr int VEC = rx_nn_vec<T>();
    int lane = threadIdx.x % TPR;
    int64_t groups = blockDim.x / TPR;
    double base = *coef_base;
    for (int64_t r = blockIdx.x * groups + threadIdx.x / TPR; r < n; r += gridDim.x * groups) {
        const T *x = logits + r * v;
        T *d = dlogits + r * v;
        int64_t t = target_of(targets, r);
        double coef = t == ignore_index ? 0.0 : base * (weights ? (double)rx_to_c(weights[r]) : 1.0);
        C l = (C)lse[r];
        auto value = [&](C xj, int64_t j) -> T {
            if (coef == 0.0) return rx_store_from_double<T>(0.0);
            double g = (double)nn_exp(xj - l) * coef;
            if (j == t) g -= coef;
            return rx_store_from_double<T>(g);
        };
        int64_t start = 0;
        if (vec) {
            int64_t nv = v / VEC, k = lane;
            for (; k + (CE_UNROLL - 1) * TPR < nv; k += CE_UNROLL * TPR) {
                C xs[CE_UNROLL][VEC];
                if (coef != 0.0) {
#pragma unroll
                    for (int u = 0; u < CE_UNROLL; u++) rx_nn_load_vec<T, VEC>(x, (k + u * TPR) * VEC, xs[u]);
                }
#pragma unroll
                for (int u = 0; u < CE_UNROLL; u++) {
                    int64_t ku = k + u * TPR;
                    rx_vec<T, VEC> o;
#pragma unroll
                    for (int j = 0; j < VEC; j++) o.v[j] = value(coef != 0.0 ? xs[u][j] : (C)0, ku * VEC + j);
                    *reinterpret_cast<rx_vec<T, VEC> *>(d + ku * VEC) = o;
                }
            }
            for (; k < nv; k += TPR) {
                C xs[VEC];
                rx_vec<T, VEC> o;
                if (coef != 0.0) rx_nn_load_vec<T, VEC>(x, k * VEC, xs);
#pragma unroll
                for (int j = 0; j < VEC; j++) o.v[j] = value(coef != 0.0 ? xs[j] : (C)0, k * VEC + j);
                *reinterpret_cast<rx_vec<T, VEC> *>(d + k * VEC) = o;
            }
            start = nv * VEC;
        }
        for (int64_t j = start + lane; j < v; j += TPR) d[j] = value(coef != 0.0 ? rx_to_c(x[j]) : (C)0, j);
    }
}

/* Calls f(rx_type_tag<IT>{}) with IT the index type of targets (i32 or i64). */
template <typename F> static rx_status dispatch_targets(const rx_tensor *targets, F &&f)
{
    if (targets->dtype == RX_I64) return f(rx_type_tag<int64_t>{});
    return f(rx_type_tag<int32_t>{});
}

/* Rows of v elements: a warp per row for short rows, a block of 512 threads otherwise. */
template <typename F> static rx_status row_launch(int64_t n, int64_t v, const rx_cuda_ctx *ctx, F &&f)
{
    if (v <= 2048) return f(std::integral_constant<int, 32>{}, rx_cuda_blocks((n + 7) / 8, 1, ctx), RX_CUDA_THREADS);
    return f(std::integral_constant<int, 512>{}, rx_cuda_blocks(n, 1, ctx), 512);
}

rx_status rx_cuda_cross_entropy(rx_tensor *loss, rx_tensor *lse, const rx_tensor *logits, const rx_tensor *targets,
                                const rx_tensor *weights, int64_t ignore_index)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(logits);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t n = logits->shape[0], v = logits->shape[1];
    rx_nn_scratch row_loss;
    RX_TRY(row_loss.alloc(n * (int64_t)sizeof(double), dev));
    return rx_nn_dispatch_float(logits->dtype, "cross_entropy", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        using ST = typename std::conditional<sizeof(T) == 8, double, float>::type;
        constexpr int VEC = rx_nn_vec<T>();
        const T *x = (const T *)rx_cuda_ptr(logits), *w = weights ? (const T *)rx_cuda_ptr(weights) : nullptr;
        bool vec = v % VEC == 0 && rx_aligned(x, 16);
        return dispatch_targets(targets, [&](auto itag) -> rx_status {
            using IT = typename decltype(itag)::type;
            const IT *t = (const IT *)rx_cuda_ptr(targets);
            if (n > 0) {
                RX_TRY(row_launch(n, v, ctx, [&](auto tpr, unsigned blocks, int threads) -> rx_status {
                    ce_forward_kernel<T, decltype(tpr)::value, IT, ST><<<blocks, threads, 0, ctx->stream>>>(
                        x, t, w, (ST *)rx_cuda_ptr(lse), row_loss.as<double>(), n, v, ignore_index, vec);
                    return RX_CUDA_LAUNCH_STATUS("cross_entropy");
                }));
            }
            ce_reduce_kernel<T, IT><<<1, SUM_THREADS, 0, ctx->stream>>>(row_loss.as<double>(), t, w, n, ignore_index,
                                                                        rx_cuda_ptr(loss), loss->dtype, nullptr, nullptr);
            return RX_CUDA_LAUNCH_STATUS("cross_entropy mean");
        });
    });
}

rx_status rx_cuda_cross_entropy_bwd(rx_tensor *dlogits, const rx_tensor *grad, const rx_tensor *logits,
                                    const rx_tensor *targets, const rx_tensor *weights, const rx_tensor *lse,
                                    int64_t ignore_index)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(logits);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t n = logits->shape[0], v = logits->shape[1];
    if (n == 0 || v == 0) return RX_OK;
    rx_nn_scratch coef;
    RX_TRY(coef.alloc(sizeof(double), dev));
    return rx_nn_dispatch_float(logits->dtype, "cross_entropy backward", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        using ST = typename std::conditional<sizeof(T) == 8, double, float>::type;
        constexpr int VEC = rx_nn_vec<T>();
        const T *x = (const T *)rx_cuda_ptr(logits), *w = weights ? (const T *)rx_cuda_ptr(weights) : nullptr;
        T *d = (T *)rx_cuda_ptr(dlogits);
        bool vec = v % VEC == 0 && rx_aligned(x, 16) && rx_aligned(d, 16);
        return dispatch_targets(targets, [&](auto itag) -> rx_status {
            using IT = typename decltype(itag)::type;
            const IT *t = (const IT *)rx_cuda_ptr(targets);
            ce_reduce_kernel<T, IT><<<1, SUM_THREADS, 0, ctx->stream>>>(nullptr, t, w, n, ignore_index, nullptr,
                                                                        grad->dtype, rx_cuda_ptr(grad), coef.as<double>());
            RX_TRY(RX_CUDA_LAUNCH_STATUS("cross_entropy backward weights"));
            return row_launch(n, v, ctx, [&](auto tpr, unsigned blocks, int threads) -> rx_status {
                ce_backward_kernel<T, decltype(tpr)::value, IT, ST><<<blocks, threads, 0, ctx->stream>>>(
                    d, x, t, w, (const ST *)rx_cuda_ptr(lse), coef.as<double>(), n, v, ignore_index, vec);
                return RX_CUDA_LAUNCH_STATUS("cross_entropy backward");
            });
        });
    });
}

/* ---- BCE with logits and MSE ----------------------------------------------------------------- */

enum { LOSS_BCE, LOSS_MSE };

template <int KIND> __device__ __forceinline__ double loss_term(double a, double b)
{
    if (KIND == LOSS_MSE) return (a - b) * (a - b);
    return (a > 0 ? a : 0.0) - a * b + log1p(exp(-fabs(a))); /* BCE with logits a, target b */
}

/* partial[c] = sum of the terms of chunk c (CHUNK_THREADS * CHUNK_PER_THREAD elements). */
template <typename T, int KIND> __global__ void pointwise_partial_kernel(const T *a, const T *b, int64_t n, double *partial)
{
    __shared__ double shared[32];
    int64_t chunk = (int64_t)CHUNK_THREADS * CHUNK_PER_THREAD, base = (int64_t)blockIdx.x * chunk;
    double acc = 0.0;
#pragma unroll 4
    for (int k = 0; k < CHUNK_PER_THREAD; k++) {
        int64_t i = base + (int64_t)k * CHUNK_THREADS + threadIdx.x;
        if (i < n) acc += loss_term<KIND>((double)rx_to_c(a[i]), (double)rx_to_c(b[i]));
    }
    acc = rx_nn_group_sum<CHUNK_THREADS>(acc, shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

/* out (0-d of dtype dt) = sum of partial[0..m) / n, NaN when n == 0. */
__global__ void mean_of_partials_kernel(const double *partial, int64_t m, int64_t n, char *out, rx_dtype dt)
{
    __shared__ double shared[32];
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < m; i += SUM_THREADS) acc += partial[i];
    acc = rx_nn_group_sum<SUM_THREADS>(acc, shared);
    if (threadIdx.x == 0) rx_dev_store_double(out, dt, n > 0 ? acc / (double)n : (double)NAN);
}

template <int KIND> static rx_status pointwise_mean(const char *op, rx_tensor *loss, const rx_tensor *a, const rx_tensor *b)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(a);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t n = rx_tensor_numel(a), chunk = (int64_t)CHUNK_THREADS * CHUNK_PER_THREAD, m = (n + chunk - 1) / chunk;
    rx_nn_scratch partial;
    RX_TRY(partial.alloc(m * (int64_t)sizeof(double), dev));
    return rx_nn_dispatch_float(a->dtype, op, [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        if (m > 0) {
            pointwise_partial_kernel<T, KIND><<<(unsigned)m, CHUNK_THREADS, 0, ctx->stream>>>(
                (const T *)rx_cuda_ptr(a), (const T *)rx_cuda_ptr(b), n, partial.as<double>());
            RX_TRY(RX_CUDA_LAUNCH_STATUS("loss partial sums"));
        }
        mean_of_partials_kernel<<<1, SUM_THREADS, 0, ctx->stream>>>(partial.as<double>(), m, n, rx_cuda_ptr(loss), loss->dtype);
        return RX_CUDA_LAUNCH_STATUS("loss mean");
    });
}

rx_status rx_cuda_bce_with_logits(rx_tensor *loss, const rx_tensor *x, const rx_tensor *t)
{
    return pointwise_mean<LOSS_BCE>("bce_with_logits", loss, x, t);
}

rx_status rx_cuda_mse(rx_tensor *loss, const rx_tensor *a, const rx_tensor *b)
{
    return pointwise_mean<LOSS_MSE>("mse", loss, a, b);
}

/* d1 = f1(a, b) * scale, d2 = f2(a, b) * scale with scale = grad * factor / n (either NULL). */
template <typename T, int KIND>
__global__ void pointwise_bwd_kernel(T *d1, T *d2, const T *a, const T *b, int64_t n, const char *grad, rx_dtype gdt,
                                     double factor)
{
    double scale = rx_dev_load_double(grad, gdt) * factor / (double)(n ? n : 1);
    for (int64_t i = rx_tid(); i < n; i += rx_nthreads()) {
        double ai = (double)rx_to_c(a[i]), bi = (double)rx_to_c(b[i]);
        if (KIND == LOSS_MSE) {
            double d = (ai - bi) * scale;
            if (d1) d1[i] = rx_store_from_double<T>(d);
            if (d2) d2[i] = rx_store_from_double<T>(-d);
        } else {
            double s = ai >= 0 ? 1.0 / (1.0 + exp(-ai)) : exp(ai) / (1.0 + exp(ai));
            if (d1) d1[i] = rx_store_from_double<T>((s - bi) * scale);
            if (d2) d2[i] = rx_store_from_double<T>(-ai * scale);
        }
    }
}

template <int KIND>
static rx_status pointwise_bwd(const char *op, rx_tensor *d1, rx_tensor *d2, const rx_tensor *grad, const rx_tensor *a,
                               const rx_tensor *b, double factor)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(a), &ctx));
    int64_t n = rx_tensor_numel(a);
    if (n == 0 || (!d1 && !d2)) return RX_OK;
    return rx_nn_dispatch_float(a->dtype, op, [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        pointwise_bwd_kernel<T, KIND><<<rx_cuda_blocks(n, RX_CUDA_THREADS, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(
            d1 ? (T *)rx_cuda_ptr(d1) : nullptr, d2 ? (T *)rx_cuda_ptr(d2) : nullptr, (const T *)rx_cuda_ptr(a),
            (const T *)rx_cuda_ptr(b), n, rx_cuda_ptr(grad), grad->dtype, factor);
        return RX_CUDA_LAUNCH_STATUS("loss backward");
    });
}

rx_status rx_cuda_bce_with_logits_bwd(rx_tensor *dx, rx_tensor *dt, const rx_tensor *grad, const rx_tensor *x,
                                      const rx_tensor *t)
{
    return pointwise_bwd<LOSS_BCE>("bce_with_logits backward", dx, dt, grad, x, t, 1.0);
}

rx_status rx_cuda_mse_bwd(rx_tensor *da, rx_tensor *db, const rx_tensor *grad, const rx_tensor *a, const rx_tensor *b)
{
    return pointwise_bwd<LOSS_MSE>("mse backward", da, db, grad, a, b, 2.0);
}
