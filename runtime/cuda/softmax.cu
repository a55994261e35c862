/* softmax.cu — CUDA softmax and log-softmax along rows (softmax_rows of backend/backend.h).
 *
 * Owns: the CPU's formulation on the device: the row max (in the compute type, NaN-propagating)
 * is subtracted before exp, the sum of exps accumulates in double, softmax rounds e * (1/sum)
 * (a double product) to the dtype and log-softmax gives (x - max) - (compute type)log(sum). f32
 * and f64 compute in their own precision, f16 and bf16 in f32. A NaN anywhere in a row, or a row
 * of -inf only, gives a row of NaN, as on the CPU.
 *
 * Layout: a warp per row for rows of up to 1024 elements (8 rows per block), else a block of 512
 * threads per row; three passes over the row (max, sum, write), the last two re-reading it from
 * L2. Group results are combined by a fixed butterfly, so runs are bitwise reproducible.
 */
#include "cuda_device.cuh"

#define BIG_ROW_THREADS 512

__device__ __forceinline__ float sm_exp(float x) { return expf(x); }
__device__ __forceinline__ double sm_exp(double x) { return exp(x); }

template <typename C> struct nanmax_op {
    __device__ C operator()(C a, C b) const { return (a != a || a > b) ? a : b; }
};
struct dsum_op {
    __device__ double operator()(double a, double b) const { return a + b; }
};

template <typename T, int TPR> __global__ void softmax_kernel(const T *a, T *o, int64_t M, int64_t N, int log_out)
{
    using C = typename rx_compute<T>::type;
    __shared__ C shared_c[32];
    __shared__ double shared_d[32];
    int lane = threadIdx.x % TPR;
    int64_t groups = blockDim.x / TPR;
    for (int64_t m = blockIdx.x * groups + threadIdx.x / TPR; m < M; m += gridDim.x * groups) {
        const T *x = a + m * N;
        T *y = o + m * N;
        C mx = -INFINITY;
        for (int64_t j = lane; j < N; j += TPR) mx = nanmax_op<C>{}(mx, rx_to_c(x[j]));
        mx = rx_group_allreduce<TPR>(mx, nanmax_op<C>{}, shared_c);
        double sum = 0.0;
        for (int64_t j = lane; j < N; j += TPR) sum += (double)sm_exp(rx_to_c(x[j]) - mx);
        sum = rx_group_allreduce<TPR>(sum, dsum_op{}, shared_d);
        if (log_out) {
            C ls = (C)log(sum);
            for (int64_t j = lane; j < N; j += TPR) y[j] = rx_from_c<T>((rx_to_c(x[j]) - mx) - ls);
        } else {
            double inv = 1.0 / sum;
            for (int64_t j = lane; j < N; j += TPR)
                y[j] = rx_from_c<T>((C)((double)sm_exp(rx_to_c(x[j]) - mx) * inv));
        }
    }
}

rx_status rx_cuda_softmax_rows(rx_tensor *out, const rx_tensor *a, int log_out)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    int64_t M = a->shape[0], N = a->shape[1];
    if (M == 0 || N == 0) return RX_OK;
    auto run = [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        const T *x = (const T *)rx_cuda_ptr(a);
        T *y = (T *)rx_cuda_ptr(out);
        if (N <= 1024)
            softmax_kernel<T, 32><<<rx_cuda_blocks((M + 7) / 8, 1, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(x, y, M, N, log_out);
        else
            softmax_kernel<T, BIG_ROW_THREADS><<<rx_cuda_blocks(M, 1, ctx), BIG_ROW_THREADS, 0, ctx->stream>>>(x, y, M, N, log_out);
        return RX_CUDA_LAUNCH_STATUS("softmax");
    };
    switch (a->dtype) {
    case RX_F32: return run(rx_type_tag<float>{});
    case RX_F64: return run(rx_type_tag<double>{});
    case RX_F16: return run(rx_type_tag<rx_f16_t>{});
    case RX_BF16: return run(rx_type_tag<rx_bf16_t>{});
    default:
        return rx_fail(RX_ERR_DTYPE, "cuda softmax: expected a floating-point tensor, got %s", rx_dtype_name(a->dtype));
    }
}
