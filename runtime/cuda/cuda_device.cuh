/* cuda_device.cuh — device-side helpers shared by the .cu files of the CUDA backend.
 *
 * Owns: the storage type of each dtype and its compute type (f16/bf16 compute in f32, u8/bool in
 * i64, as on the CPU), the bit-exact conversions of core/dtype.c on the device (so that a cast or
 * a rounded result is the same bits on both devices), the strided iterator (a small struct passed
 * by value to kernels: dims coalesced like cpu/strided.c, offsets computed per element from the
 * linear index), 16-byte vector access for dense operands, launch-size helpers and a dtype
 * dispatcher for host code.
 */
#ifndef RECX_CUDA_DEVICE_CUH
#define RECX_CUDA_DEVICE_CUH

#include "check.h"

#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>

/* ---- storage types ------------------------------------------------------------------------ */

/* 16-bit floats and bool as distinct one-member structs, so that overloads and templates tell
 * them apart from uint16_t and uint8_t. */
struct rx_f16_t {
    uint16_t bits;
};
struct rx_bf16_t {
    uint16_t bits;
};
struct rx_bool_t {
    uint8_t v;
};

template <typename T> struct rx_type_tag {
    using type = T;
};

/* The compute type of a storage type. */
template <typename T> struct rx_compute {
    using type = T;
};
template <> struct rx_compute<rx_f16_t> {
    using type = float;
};
template <> struct rx_compute<rx_bf16_t> {
    using type = float;
};
template <> struct rx_compute<uint8_t> {
    using type = int64_t;
};
template <> struct rx_compute<rx_bool_t> {
    using type = int64_t;
};

/* Bit-exact copies of rx_f32_to_bf16 / rx_f32_to_f16 (round to nearest even; NaN kept quiet). */
__host__ __device__ __forceinline__ uint16_t rx_dev_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40);
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7FFFu + lsb;
    return (uint16_t)(x >> 16);
}

__device__ __forceinline__ uint16_t rx_dev_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t absx = x & 0x7FFFFFFFu;
    if (absx > 0x7F800000u) /* NaN: the CPU's payload rule */
        return (uint16_t)(((x >> 16) & 0x8000) | 0x7C00 | 0x200 | ((absx >> 13) & 0x3FF));
    return __half_as_ushort(__float2half_rn(f)); /* IEEE round to nearest even, like the CPU */
}

__device__ __forceinline__ float rx_dev_bf16_to_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
__device__ __forceinline__ float rx_dev_f16_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }

/* Storage -> compute type. */
__device__ __forceinline__ float rx_to_c(float x) { return x; }
__device__ __forceinline__ double rx_to_c(double x) { return x; }
__device__ __forceinline__ int32_t rx_to_c(int32_t x) { return x; }
__device__ __forceinline__ int64_t rx_to_c(int64_t x) { return x; }
__device__ __forceinline__ float rx_to_c(rx_f16_t x) { return rx_dev_f16_to_f32(x.bits); }
__device__ __forceinline__ float rx_to_c(rx_bf16_t x) { return rx_dev_bf16_to_f32(x.bits); }
__device__ __forceinline__ int64_t rx_to_c(uint8_t x) { return x; }
__device__ __forceinline__ int64_t rx_to_c(rx_bool_t x) { return x.v != 0; }

/* Compute type -> storage (u8 wraps modulo 256, bool keeps v != 0, like the CPU's staging). */
template <typename T> __device__ __forceinline__ T rx_from_c(typename rx_compute<T>::type v) { return v; }
template <> __device__ __forceinline__ rx_f16_t rx_from_c<rx_f16_t>(float v) { return rx_f16_t{rx_dev_f32_to_f16(v)}; }
template <> __device__ __forceinline__ rx_bf16_t rx_from_c<rx_bf16_t>(float v)
{
    return rx_bf16_t{rx_dev_f32_to_bf16(v)};
}
template <> __device__ __forceinline__ uint8_t rx_from_c<uint8_t>(int64_t v) { return (uint8_t)v; }
template <> __device__ __forceinline__ rx_bool_t rx_from_c<rx_bool_t>(int64_t v) { return rx_bool_t{(uint8_t)(v != 0)}; }

/* Any dtype <-> double exactly as rx_load_double / rx_store_double (runtime dtype). */
__device__ __forceinline__ double rx_dev_load_double(const char *p, rx_dtype dt)
{
    switch (dt) {
    case RX_F32: return *(const float *)p;
    case RX_F16: return rx_dev_f16_to_f32(*(const uint16_t *)p);
    case RX_BF16: return rx_dev_bf16_to_f32(*(const uint16_t *)p);
    case RX_F64: return *(const double *)p;
    case RX_I32: return *(const int32_t *)p;
    case RX_I64: return (double)*(const int64_t *)p;
    case RX_U8: return *(const uint8_t *)p;
    default: return *(const uint8_t *)p != 0; /* RX_BOOL */
    }
}

/* Out-of-range float -> integer conversions are undefined in C; the device saturates. */
__device__ __forceinline__ void rx_dev_store_double(char *p, rx_dtype dt, double v)
{
    switch (dt) {
    case RX_F32: *(float *)p = (float)v; break;
    case RX_F16: *(uint16_t *)p = rx_dev_f32_to_f16((float)v); break;
    case RX_BF16: *(uint16_t *)p = rx_dev_f32_to_bf16((float)v); break;
    case RX_F64: *(double *)p = v; break;
    case RX_I32: *(int32_t *)p = isnan(v) ? 0 : (int32_t)v; break;
    case RX_I64: *(int64_t *)p = isnan(v) ? 0 : (int64_t)v; break;
    case RX_U8: *(uint8_t *)p = isnan(v) ? 0 : (uint8_t)(int64_t)v; break;
    default: *(uint8_t *)p = v != 0; break; /* RX_BOOL */
    }
}

/* ---- the strided iterator ------------------------------------------------------------------- */

#define RX_CUDA_MAX_OPS 4

/* Same-shaped operands (broadcast by stride 0), dims coalesced, inner dim last. Strides are in
 * elements of each operand's own dtype. */
struct rx_cuda_iter {
    int ndim;
    int64_t numel;
    int64_t shape[RX_MAX_DIMS];
    int64_t stride[RX_CUDA_MAX_OPS][RX_MAX_DIMS];
};

/* Builds the iterator of nops same-shaped tensors (host). */
static inline void rx_cuda_iter_init(rx_cuda_iter *it, int nops, const rx_tensor *const *ops)
{
    const rx_tensor *t0 = ops[0];
    it->numel = rx_tensor_numel(t0);
    int nd = 0;
    for (int d = 0; d < t0->ndim; d++) {
        if (t0->shape[d] == 1) continue;
        it->shape[nd] = t0->shape[d];
        for (int k = 0; k < nops; k++) it->stride[k][nd] = ops[k]->stride[d];
        nd++;
    }
    if (nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) it->stride[k][0] = 1;
        nd = 1;
    }
    int out = 0;
    for (int d = 1; d < nd; d++) {
        bool fuse = true;
        for (int k = 0; k < nops; k++)
            if (it->stride[k][out] != it->stride[k][d] * it->shape[d]) fuse = false;
        if (fuse) {
            it->shape[out] *= it->shape[d];
            for (int k = 0; k < nops; k++) it->stride[k][out] = it->stride[k][d];
        } else {
            out++;
            it->shape[out] = it->shape[d];
            for (int k = 0; k < nops; k++) it->stride[k][out] = it->stride[k][d];
        }
    }
    it->ndim = out + 1;
    for (int k = nops; k < RX_CUDA_MAX_OPS; k++)
        for (int d = 0; d < RX_MAX_DIMS; d++) it->stride[k][d] = 0;
}

/* True when the first nops operands walk memory densely in one order (unit inner stride). */
static inline bool rx_cuda_iter_dense(const rx_cuda_iter *it, int nops)
{
    if (it->ndim != 1) return false;
    for (int k = 0; k < nops; k++)
        if (it->stride[k][0] != 1 && it->numel > 1) return false;
    return true;
}

/* Element offsets of the first N operands at linear index i (row-major over the shape). The
 * division runs in 32 bits when the tensor is small enough, which is most of the time. */
template <int N>
__device__ __forceinline__ void rx_cuda_iter_offsets(const rx_cuda_iter &it, int64_t i, int64_t (&off)[N])
{
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = 0;
    if (it.ndim == 1) {
#pragma unroll
        for (int k = 0; k < N; k++) off[k] = i * it.stride[k][0];
        return;
    }
    if (it.numel <= (int64_t)UINT32_MAX) {
        uint32_t r = (uint32_t)i;
#pragma unroll
        for (int d = RX_MAX_DIMS - 1; d >= 0; d--) {
            if (d >= it.ndim) continue;
            uint32_t sz = (uint32_t)it.shape[d];
            uint32_t q = r / sz, c = r - q * sz;
#pragma unroll
            for (int k = 0; k < N; k++) off[k] += (int64_t)c * it.stride[k][d];
            r = q;
        }
    } else {
        uint64_t r = (uint64_t)i;
#pragma unroll
        for (int d = RX_MAX_DIMS - 1; d >= 0; d--) {
            if (d >= it.ndim) continue;
            uint64_t sz = (uint64_t)it.shape[d];
            uint64_t q = r / sz, c = r - q * sz;
#pragma unroll
            for (int k = 0; k < N; k++) off[k] += (int64_t)c * it.stride[k][d];
            r = q;
        }
    }
}

/* ---- vector access ------------------------------------------------------------------------ */

template <typename T, int N> struct alignas(sizeof(T) * N) rx_vec {
    T v[N];
};

static inline bool rx_aligned(const void *p, int64_t bytes) { return ((uintptr_t)p % (uintptr_t)bytes) == 0; }

/* ---- launches ------------------------------------------------------------------------------- */

#define RX_CUDA_THREADS 256

/* Blocks for a grid-stride loop over n work items of `threads` threads each. */
static inline unsigned rx_cuda_blocks(int64_t n, int threads, const rx_cuda_ctx *ctx)
{
    int64_t b = (n + threads - 1) / threads;
    int64_t cap = (int64_t)ctx->sm_count * 32;
    if (b > cap) b = cap;
    return (unsigned)(b < 1 ? 1 : b);
}

__device__ __forceinline__ int64_t rx_tid() { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t rx_nthreads() { return (int64_t)gridDim.x * blockDim.x; }

/* Device address of a tensor's first element. */
static inline char *rx_cuda_ptr(const rx_tensor *t) { return rx_tensor_bytes(t); }

/* Calls f(rx_type_tag<T>{}) with T the storage type of dt. */
template <typename F> static inline rx_status rx_cuda_dispatch(rx_dtype dt, F &&f)
{
    switch (dt) {
    case RX_F32: return f(rx_type_tag<float>{});
    case RX_F64: return f(rx_type_tag<double>{});
    case RX_F16: return f(rx_type_tag<rx_f16_t>{});
    case RX_BF16: return f(rx_type_tag<rx_bf16_t>{});
    case RX_I32: return f(rx_type_tag<int32_t>{});
    case RX_I64: return f(rx_type_tag<int64_t>{});
    case RX_U8: return f(rx_type_tag<uint8_t>{});
    case RX_BOOL: return f(rx_type_tag<rx_bool_t>{});
    }
    return rx_fail(RX_ERR_DTYPE, "cuda: unknown dtype %d", (int)dt);
}

/* Calls f(rx_type_tag<U>{}) with U the unsigned type of es bytes. */
template <typename F> static inline rx_status rx_cuda_dispatch_bits(int64_t es, F &&f)
{
    switch (es) {
    case 1: return f(rx_type_tag<uint8_t>{});
    case 2: return f(rx_type_tag<uint16_t>{});
    case 4: return f(rx_type_tag<uint32_t>{});
    default: return f(rx_type_tag<uint64_t>{});
    }
}

/* ---- group reductions ---------------------------------------------------------------------- */

__device__ __forceinline__ float rx_shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ double rx_shfl_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ int rx_shfl_xor(int v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ int64_t rx_shfl_xor(int64_t v, int m)
{
    return (int64_t)__shfl_xor_sync(0xffffffffu, (long long)v, m);
}
__device__ __forceinline__ uint64_t rx_shfl_xor(uint64_t v, int m)
{
    return (uint64_t)__shfl_xor_sync(0xffffffffu, (unsigned long long)v, m);
}

/* Combines v over a group of TPR threads (a warp, or the whole block when TPR == blockDim.x > 32)
 * and returns the result to every thread of the group. op must be commutative: the butterfly then
 * gives every lane the same bits, and the block stage combines warp results in warp order, so the
 * result depends only on the data. `shared` holds 32 values (block stage only); every thread of
 * the block must call this the same number of times. */
template <int TPR, typename V, typename Op>
__device__ __forceinline__ V rx_group_allreduce(V v, Op op, V *shared)
{
#pragma unroll
    for (int m = 16; m >= 1; m >>= 1) v = op(v, rx_shfl_xor(v, m));
    if constexpr (TPR > 32) {
        int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        __syncthreads(); /* shared may still be read by the previous call */
        if (lane == 0) shared[warp] = v;
        __syncthreads();
        V r = shared[0];
        for (int w = 1; w < TPR / 32; w++) r = op(r, shared[w]);
        v = r;
    }
    return v;
}

/* Rounds a double result into a float storage type exactly as rx_store_double does. */
template <typename T> __device__ __forceinline__ T rx_store_from_double(double v);
template <> __device__ __forceinline__ float rx_store_from_double<float>(double v) { return (float)v; }
template <> __device__ __forceinline__ double rx_store_from_double<double>(double v) { return v; }
template <> __device__ __forceinline__ rx_f16_t rx_store_from_double<rx_f16_t>(double v)
{
    return rx_f16_t{rx_dev_f32_to_f16((float)v)};
}
template <> __device__ __forceinline__ rx_bf16_t rx_store_from_double<rx_bf16_t>(double v)
{
    return rx_bf16_t{rx_dev_f32_to_bf16((float)v)};
}

/* ---- temporary headers ------------------------------------------------------------------ */

/* A contiguous tensor header over a raw buffer (a staging or scratch buffer) that no reference
 * counting touches: kernels and rx_cpu_copy read only its geometry and data pointer. */
struct rx_cuda_temp {
    rx_storage storage;
    rx_tensor tensor;
};

static inline rx_tensor *rx_cuda_temp_tensor(rx_cuda_temp *h, void *data, rx_device device, int ndim,
                                             const int64_t *shape, rx_dtype dtype)
{
    memset(h, 0, sizeof *h);
    h->storage.refcount = 1;
    h->storage.data = data;
    h->storage.nbytes = rx_shape_numel(ndim, shape) * rx_dtype_size(dtype);
    h->storage.device = device;
    rx_tensor *t = &h->tensor;
    t->refcount = 1;
    t->storage = &h->storage;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    rx_contiguous_strides(ndim, shape, t->stride);
    t->dtype = dtype;
    return t;
}

/* ---- elementwise maps ------------------------------------------------------------------- */
/* out[i] = f(a[i]) (map1), f(a[i], b[i]) (map2), f(a[i], b[i], c[i]) (map3) over same-shaped
 * operands. F is a functor with `out_type` and a __device__ operator(); it is passed by value
 * (scalars ride along). Dense operands with 16-byte aligned pointers take VEC elements per access;
 * everything else goes through the strided iterator. The output may alias an input exactly. */

template <typename T, typename OT> constexpr int rx_map_vec()
{
    return 16 / (int)(sizeof(T) > sizeof(OT) ? sizeof(T) : sizeof(OT));
}

template <int VEC, typename F, typename T>
__global__ void rx_map1_dense(typename F::out_type *o, const T *a, int64_t n, F f)
{
    using OT = typename F::out_type;
    int64_t nv = n / VEC;
    for (int64_t v = rx_tid(); v < nv; v += rx_nthreads()) {
        rx_vec<T, VEC> x = reinterpret_cast<const rx_vec<T, VEC> *>(a)[v];
        rx_vec<OT, VEC> y;
#pragma unroll
        for (int j = 0; j < VEC; j++) y.v[j] = f(x.v[j]);
        reinterpret_cast<rx_vec<OT, VEC> *>(o)[v] = y;
    }
    for (int64_t i = nv * VEC + rx_tid(); i < n; i += rx_nthreads()) o[i] = f(a[i]);
}

template <typename F, typename T>
__global__ void rx_map1_strided(rx_cuda_iter it, typename F::out_type *o, const T *a, F f)
{
    for (int64_t i = rx_tid(); i < it.numel; i += rx_nthreads()) {
        int64_t off[2];
        rx_cuda_iter_offsets<2>(it, i, off);
        o[off[0]] = f(a[off[1]]);
    }
}

template <typename T, typename F>
static rx_status rx_cuda_map1(rx_cuda_ctx *ctx, rx_tensor *out, const rx_tensor *a, F f, const char *name)
{
    using OT = typename F::out_type;
    rx_cuda_iter it;
    const rx_tensor *ops[2] = {out, a};
    rx_cuda_iter_init(&it, 2, ops);
    if (it.numel == 0) return RX_OK;
    OT *o = (OT *)rx_cuda_ptr(out);
    const T *x = (const T *)rx_cuda_ptr(a);
    constexpr int VEC = rx_map_vec<T, OT>();
    if (rx_cuda_iter_dense(&it, 2) && rx_aligned(o, sizeof(OT) * VEC) && rx_aligned(x, sizeof(T) * VEC)) {
        unsigned blocks = rx_cuda_blocks(it.numel / VEC + 1, RX_CUDA_THREADS, ctx);
        rx_map1_dense<VEC, F, T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(o, x, it.numel, f);
    } else {
        unsigned blocks = rx_cuda_blocks(it.numel, RX_CUDA_THREADS, ctx);
        rx_map1_strided<F, T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(it, o, x, f);
    }
    return rx_cuda_status_(cudaGetLastError(), name, __FILE__, __LINE__);
}

template <int VEC, typename F, typename T>
__global__ void rx_map2_dense(typename F::out_type *o, const T *a, const T *b, int64_t n, F f)
{
    using OT = typename F::out_type;
    int64_t nv = n / VEC;
    for (int64_t v = rx_tid(); v < nv; v += rx_nthreads()) {
        rx_vec<T, VEC> x = reinterpret_cast<const rx_vec<T, VEC> *>(a)[v];
        rx_vec<T, VEC> y = reinterpret_cast<const rx_vec<T, VEC> *>(b)[v];
        rx_vec<OT, VEC> r;
#pragma unroll
        for (int j = 0; j < VEC; j++) r.v[j] = f(x.v[j], y.v[j]);
        reinterpret_cast<rx_vec<OT, VEC> *>(o)[v] = r;
    }
    for (int64_t i = nv * VEC + rx_tid(); i < n; i += rx_nthreads()) o[i] = f(a[i], b[i]);
}

template <typename F, typename T>
__global__ void rx_map2_strided(rx_cuda_iter it, typename F::out_type *o, const T *a, const T *b, F f)
{
    for (int64_t i = rx_tid(); i < it.numel; i += rx_nthreads()) {
        int64_t off[3];
        rx_cuda_iter_offsets<3>(it, i, off);
        o[off[0]] = f(a[off[1]], b[off[2]]);
    }
}

template <typename T, typename F>
static rx_status rx_cuda_map2(rx_cuda_ctx *ctx, rx_tensor *out, const rx_tensor *a, const rx_tensor *b, F f,
                              const char *name)
{
    using OT = typename F::out_type;
    rx_cuda_iter it;
    const rx_tensor *ops[3] = {out, a, b};
    rx_cuda_iter_init(&it, 3, ops);
    if (it.numel == 0) return RX_OK;
    OT *o = (OT *)rx_cuda_ptr(out);
    const T *x = (const T *)rx_cuda_ptr(a), *y = (const T *)rx_cuda_ptr(b);
    constexpr int VEC = rx_map_vec<T, OT>();
    if (rx_cuda_iter_dense(&it, 3) && rx_aligned(o, sizeof(OT) * VEC) && rx_aligned(x, sizeof(T) * VEC) &&
        rx_aligned(y, sizeof(T) * VEC)) {
        unsigned blocks = rx_cuda_blocks(it.numel / VEC + 1, RX_CUDA_THREADS, ctx);
        rx_map2_dense<VEC, F, T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(o, x, y, it.numel, f);
    } else {
        unsigned blocks = rx_cuda_blocks(it.numel, RX_CUDA_THREADS, ctx);
        rx_map2_strided<F, T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(it, o, x, y, f);
    }
    return rx_cuda_status_(cudaGetLastError(), name, __FILE__, __LINE__);
}

#endif /* RECX_CUDA_DEVICE_CUH */
