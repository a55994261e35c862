/* nn_common.cuh — device and host helpers shared by the CUDA nn and optimizer kernels
 * (nn_*.cu, optim.cu).
 *
 * Owns: the float-dtype dispatcher of these kernels, scratch device memory released on every
 * path (a small RAII holder over the caching allocator: freeing right after queueing the kernels
 * that use a block is safe because every kernel of a device runs in order on its one stream),
 * fixed-order group reductions (a butterfly inside each warp, then the warps' results combined in
 * warp order by every thread, so a result depends only on the data and the launch shape, never on
 * scheduling), 16-byte vector loads of rows, and the compute type of each storage type (f32 for
 * f32/f16/bf16, f64 for f64).
 */
#ifndef RECX_CUDA_NN_COMMON_CUH
#define RECX_CUDA_NN_COMMON_CUH

#include "cuda_device.cuh"

/* Calls f(rx_type_tag<T>{}) with T the storage type of the float dtype dt; other dtypes are an
 * internal error (ops/ checks dtypes before any kernel runs). */
template <typename F> static inline rx_status rx_nn_dispatch_float(rx_dtype dt, const char *op, F &&f)
{
    switch (dt) {
    case RX_F32: return f(rx_type_tag<float>{});
    case RX_F64: return f(rx_type_tag<double>{});
    case RX_F16: return f(rx_type_tag<rx_f16_t>{});
    case RX_BF16: return f(rx_type_tag<rx_bf16_t>{});
    default: return rx_fail(RX_ERR_INTERNAL, "cuda %s: expected a floating-point tensor, got %s", op, rx_dtype_name(dt));
    }
}

/* Device scratch of `bytes` on `device`, returned to the allocator's cache when the holder goes
 * out of scope. */
struct rx_nn_scratch {
    void *ptr = nullptr;
    int64_t bytes = 0;
    int device = 0;
    rx_nn_scratch() = default;
    rx_nn_scratch(const rx_nn_scratch &) = delete;
    rx_nn_scratch &operator=(const rx_nn_scratch &) = delete;
    ~rx_nn_scratch()
    {
        if (ptr) rx_cuda_free(ptr, bytes, device);
    }
    rx_status alloc(int64_t n, int dev)
    {
        bytes = n > 0 ? n : 1;
        device = dev;
        return rx_cuda_alloc(bytes, dev, &ptr);
    }
    template <typename T> T *as() const { return (T *)ptr; }
};

/* ---- fixed-order reductions ------------------------------------------------------------------ */

/* Sum of v over a group of TPR consecutive threads (TPR a power of two <= 32, or a multiple of 32
 * equal to blockDim.x), returned to every thread of the group. `shared` holds 32 values and is
 * only used when TPR > 32; every thread of the block must make the call. */
template <int TPR, typename V> __device__ __forceinline__ V rx_nn_group_sum(V v, V *shared)
{
#pragma unroll
    for (int m = (TPR < 32 ? TPR : 32) / 2; m >= 1; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    if constexpr (TPR > 32) {
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        __syncthreads(); /* shared may still be read by the previous call */
        if (lane == 0) shared[warp] = v;
        __syncthreads();
        V r = shared[0];
#pragma unroll 1
        for (int w = 1; w < TPR / 32; w++) r += shared[w];
        v = r;
    }
    return v;
}

/* Max of v over the group, as rx_nn_group_sum (NaN-free inputs; -inf is the identity). */
template <int TPR> __device__ __forceinline__ float rx_nn_group_max(float v, float *shared)
{
#pragma unroll
    for (int m = (TPR < 32 ? TPR : 32) / 2; m >= 1; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
    if constexpr (TPR > 32) {
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        __syncthreads();
        if (lane == 0) shared[warp] = v;
        __syncthreads();
        float r = shared[0];
#pragma unroll 1
        for (int w = 1; w < TPR / 32; w++) r = fmaxf(r, shared[w]);
        v = r;
    }
    return v;
}

/* ---- vector access ------------------------------------------------------------------------ */

/* Elements of T per 16-byte access. */
template <typename T> __host__ __device__ constexpr int rx_nn_vec() { return (int)(16 / sizeof(T)); }

/* Loads VEC consecutive elements of p[i..] (16-byte aligned) into compute-type values. */
template <typename T, int VEC, typename C>
__device__ __forceinline__ void rx_nn_load_vec(const T *p, int64_t i, C (&out)[VEC])
{
    rx_vec<T, VEC> x = *reinterpret_cast<const rx_vec<T, VEC> *>(p + i);
#pragma unroll
    for (int j = 0; j < VEC; j++) out[j] = (C)rx_to_c(x.v[j]);
}

template <typename T, int VEC, typename C>
__device__ __forceinline__ void rx_nn_store_vec(T *p, int64_t i, const C (&in)[VEC])
{
    rx_vec<T, VEC> x;
#pragma unroll
    for (int j = 0; j < VEC; j++) x.v[j] = rx_from_c<T>((typename rx_compute<T>::type)in[j]);
    *reinterpret_cast<rx_vec<T, VEC> *>(p + i) = x;
}

/* Device index of a tensor. */
static inline int rx_nn_device(const rx_tensor *t) { return t->storage->device.index; }

#endif /* RECX_CUDA_NN_COMMON_CUH */
