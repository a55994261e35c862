/* reduce.cu — CUDA row reductions and row prefix sums (reduce_rows and cumsum_rows of
 * backend/backend.h).
 *
 * Owns: the accumulation rules on the device, chosen to give the CPU's results: float sums,
 * means and products accumulate in double (integer ones in wrapping 64-bit integers, exact in any
 * order); max/min/argmax/argmin keep (value, position) pairs under a total order — a NaN beats
 * every number and the lower position wins among NaNs and among equal values — so the result is
 * the CPU's first extreme and first NaN whatever the combining order; the extreme's value is
 * copied bit for bit from the input.
 *
 * Layout: a row is reduced by a warp (rows of up to 1024 elements, 8 rows per block) or by a
 * block of 256 threads; each thread folds the elements lane, lane + TPR, ... in order and the
 * group combines the lanes with a fixed butterfly, so a result depends only on the data and N.
 * When there are few rows and they are long, each row is cut into chunks reduced by separate
 * blocks into a scratch array, then one warp per row combines the chunks in a fixed order. No
 * atomics anywhere: runs are bitwise reproducible.
 *
 * cumsum: one warp (rows up to 1024) or one block per row scans the row in tiles, in double for
 * floats (each output rounded to its dtype like the CPU's running double sum) or in wrapping
 * 64-bit integers (i64 output); the tile carry is added in order. Few long rows are cut into
 * chunks: the chunk totals (the reduction's chunk kernel), each chunk's carry (their sums in
 * order), then all chunks scanned at once from their carries.
 */
#include "cuda_device.cuh"

#include <type_traits>

#define LONG_ROW 32768 /* rows at least this long are split over blocks when rows are few */
#define CHUNK 8192     /* at least this many elements per block of a split row */

/* ---- reducers ------------------------------------------------------------------------------- */
/* Each reducer has an accumulator type acc, init(), fold(acc, element, position),
 * combine(acc, acc) (commutative and associative up to float rounding) and finish(), which writes
 * row m's result. */

struct ext_f {
    double v;
    int64_t idx; /* -1: nothing folded yet */
};
struct ext_i {
    int64_t v;
    int64_t idx;
};
__device__ __forceinline__ ext_f rx_shfl_xor(ext_f a, int m) { return ext_f{rx_shfl_xor(a.v, m), rx_shfl_xor(a.idx, m)}; }
__device__ __forceinline__ ext_i rx_shfl_xor(ext_i a, int m) { return ext_i{rx_shfl_xor(a.v, m), rx_shfl_xor(a.idx, m)}; }

template <typename T, bool MEAN> struct fsum {
    using acc = double;
    __device__ static acc init() { return 0.0; }
    __device__ static acc fold(acc a, T x, int64_t) { return a + (double)rx_to_c(x); }
    __device__ static acc combine(acc a, acc b) { return a + b; }
    __device__ static void finish(acc a, const T *, int64_t n, void *out, int64_t *, int64_t m)
    {
        ((T *)out)[m] = rx_store_from_double<T>(MEAN ? a / (double)n : a);
    }
};

template <typename T> struct isum {
    using acc = uint64_t;
    __device__ static acc init() { return 0; }
    __device__ static acc fold(acc a, T x, int64_t) { return a + (uint64_t)(int64_t)rx_to_c(x); }
    __device__ static acc combine(acc a, acc b) { return a + b; }
    __device__ static void finish(acc a, const T *, int64_t, void *out, int64_t *, int64_t m)
    {
        ((int64_t *)out)[m] = (int64_t)a;
    }
};

template <typename T> struct fprod {
    using acc = double;
    __device__ static acc init() { return 1.0; }
    __device__ static acc fold(acc a, T x, int64_t) { return a * (double)rx_to_c(x); }
    __device__ static acc combine(acc a, acc b) { return a * b; }
    __device__ static void finish(acc a, const T *, int64_t, void *out, int64_t *, int64_t m)
    {
        ((T *)out)[m] = rx_store_from_double<T>(a);
    }
};

template <typename T> struct iprod {
    using acc = uint64_t;
    __device__ static acc init() { return 1; }
    __device__ static acc fold(acc a, T x, int64_t) { return a * (uint64_t)(int64_t)rx_to_c(x); }
    __device__ static acc combine(acc a, acc b) { return a * b; }
    __device__ static void finish(acc a, const T *, int64_t, void *out, int64_t *, int64_t m)
    {
        ((int64_t *)out)[m] = (int64_t)a;
    }
};

/* Writes an extreme: the value's bits (max/min, with the optional index) or the position (arg*). */
template <typename T, bool ARG>
__device__ __forceinline__ void finish_extreme(int64_t idx, const T *row, void *out, int64_t *index, int64_t m)
{
    if (ARG) {
        ((int64_t *)out)[m] = idx;
    } else {
        ((T *)out)[m] = row[idx];
        if (index) index[m] = idx;
    }
}

template <typename T, bool MAX, bool ARG> struct fext {
    using acc = ext_f;
    __device__ static acc init() { return ext_f{0.0, -1}; }
    /* true when a is the better of two (non-empty) candidates */
    __device__ static bool better(acc a, acc b)
    {
        bool an = a.v != a.v, bn = b.v != b.v;
        if (an || bn) return an && bn ? a.idx < b.idx : an;
        if (a.v != b.v) return MAX ? a.v > b.v : a.v < b.v;
        return a.idx < b.idx;
    }
    __device__ static acc combine(acc a, acc b)
    {
        if (a.idx < 0) return b;
        if (b.idx < 0) return a;
        return better(a, b) ? a : b;
    }
    __device__ static acc fold(acc a, T x, int64_t j) { return combine(a, ext_f{(double)rx_to_c(x), j}); }
    __device__ static void finish(acc a, const T *row, int64_t, void *out, int64_t *index, int64_t m)
    {
        finish_extreme<T, ARG>(a.idx, row, out, index, m);
    }
};

template <typename T, bool MAX, bool ARG> struct iext {
    using acc = ext_i;
    __device__ static acc init() { return ext_i{0, -1}; }
    __device__ static acc combine(acc a, acc b)
    {
        if (a.idx < 0) return b;
        if (b.idx < 0) return a;
        if (a.v != b.v) return (MAX ? a.v > b.v : a.v < b.v) ? a : b;
        return a.idx < b.idx ? a : b;
    }
    __device__ static acc fold(acc a, T x, int64_t j) { return combine(a, ext_i{(int64_t)rx_to_c(x), j}); }
    __device__ static void finish(acc a, const T *row, int64_t, void *out, int64_t *index, int64_t m)
    {
        finish_extreme<T, ARG>(a.idx, row, out, index, m);
    }
};

/* any / all: a value is true when it is non-zero (NaN is true). */
template <typename T, bool ANY> struct anyall {
    using acc = int;
    __device__ static acc init() { return ANY ? 0 : 1; }
    __device__ static acc fold(acc a, T x, int64_t) { return combine(a, (double)rx_to_c(x) != 0.0); }
    __device__ static acc combine(acc a, acc b) { return ANY ? (a | b) : (a & b); }
    __device__ static void finish(acc a, const T *, int64_t, void *out, int64_t *, int64_t m)
    {
        ((uint8_t *)out)[m] = (uint8_t)a;
    }
};

template <typename R> struct combine_op {
    __device__ typename R::acc operator()(typename R::acc a, typename R::acc b) const { return R::combine(a, b); }
};

/* ---- kernels ------------------------------------------------------------------------------ */

/* Each group of TPR threads reduces rows of (M, N); blockDim.x is a multiple of TPR. */
template <typename R, typename T, int TPR>
__global__ void reduce_rows_kernel(const T *a, int64_t M, int64_t N, void *out, int64_t *index)
{
    using acc = typename R::acc;
    __shared__ acc shared[32];
    int lane = threadIdx.x % TPR;
    int64_t groups = blockDim.x / TPR;
    for (int64_t m = blockIdx.x * groups + threadIdx.x / TPR; m < M; m += gridDim.x * groups) {
        const T *row = a + m * N;
        acc r = R::init();
        for (int64_t j = lane; j < N; j += TPR) r = R::fold(r, row[j], j);
        r = rx_group_allreduce<TPR>(r, combine_op<R>{}, shared);
        if (lane == 0) R::finish(r, row, N, out, index, m);
    }
}

/* Block (c, m) reduces columns [c * len, (c + 1) * len) of row m into part[m * chunks + c]. */
template <typename R, typename T>
__global__ void reduce_chunks_kernel(const T *a, int64_t N, int64_t len, typename R::acc *part)
{
    using acc = typename R::acc;
    __shared__ acc shared[32];
    int64_t c = blockIdx.x, m = blockIdx.y, chunks = gridDim.x;
    const T *row = a + m * N;
    int64_t hi = (c + 1) * len < N ? (c + 1) * len : N;
    acc r = R::init();
    for (int64_t j = c * len + threadIdx.x; j < hi; j += RX_CUDA_THREADS) r = R::fold(r, row[j], j);
    r = rx_group_allreduce<RX_CUDA_THREADS>(r, combine_op<R>{}, shared);
    if (threadIdx.x == 0) part[m * chunks + c] = r;
}

/* One warp per row combines the row's chunk results and writes the row's result. */
template <typename R, typename T>
__global__ void reduce_combine_kernel(const T *a, int64_t M, int64_t N, int64_t chunks, const typename R::acc *part,
                                      void *out, int64_t *index)
{
    using acc = typename R::acc;
    int lane = threadIdx.x % 32;
    int64_t m = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
    if (m >= M) return; /* whole warps leave together */
    acc r = R::init();
    for (int64_t c = lane; c < chunks; c += 32) r = R::combine(r, part[m * chunks + c]);
    r = rx_group_allreduce<32>(r, combine_op<R>{}, (acc *)nullptr);
    if (lane == 0) R::finish(r, a + m * N, N, out, index, m);
}

template <typename R, typename T>
static rx_status run_reduce(rx_cuda_ctx *ctx, const rx_tensor *a, rx_tensor *out, rx_tensor *index)
{
    using acc = typename R::acc;
    int64_t M = a->shape[0], N = a->shape[1];
    if (M == 0) return RX_OK;
    const T *x = (const T *)rx_cuda_ptr(a);
    void *o = rx_cuda_ptr(out);
    int64_t *ix = index ? (int64_t *)rx_cuda_ptr(index) : nullptr;
    if (M < ctx->sm_count && N >= LONG_ROW) {
        int64_t chunks = (4 * (int64_t)ctx->sm_count + M - 1) / M;
        if (chunks > N / CHUNK) chunks = N / CHUNK;
        int64_t len = (N + chunks - 1) / chunks;
        chunks = (N + len - 1) / len;
        int64_t bytes = M * chunks * (int64_t)sizeof(acc);
        void *part;
        RX_TRY(rx_cuda_alloc(bytes, ctx->device, &part));
        reduce_chunks_kernel<R, T><<<dim3((unsigned)chunks, (unsigned)M), RX_CUDA_THREADS, 0, ctx->stream>>>(
            x, N, len, (acc *)part);
        rx_status s = RX_CUDA_LAUNCH_STATUS("reduce (chunks)");
        if (s == RX_OK) {
            reduce_combine_kernel<R, T><<<(unsigned)((M + 7) / 8), RX_CUDA_THREADS, 0, ctx->stream>>>(
                x, M, N, chunks, (const acc *)part, o, ix);
            s = RX_CUDA_LAUNCH_STATUS("reduce (combine)");
        }
        rx_cuda_free(part, bytes, ctx->device); /* stream order keeps it alive for the kernels */
        return s;
    }
    if (N <= 1024) {
        reduce_rows_kernel<R, T, 32><<<rx_cuda_blocks((M + 7) / 8, 1, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(
            x, M, N, o, ix);
    } else {
        reduce_rows_kernel<R, T, RX_CUDA_THREADS><<<rx_cuda_blocks(M, 1, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(
            x, M, N, o, ix);
    }
    return RX_CUDA_LAUNCH_STATUS("reduce (rows)");
}

rx_status rx_cuda_reduce_rows(rx_reduce_op op, rx_tensor *out, rx_tensor *index, const rx_tensor *a)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    bool extreme = op == RX_MAX || op == RX_MIN || op == RX_ARGMAX || op == RX_ARGMIN;
    if (extreme && a->shape[1] == 0)
        return rx_fail(RX_ERR_INTERNAL, "cuda reduce: %s over an empty row", rx_reduce_op_name(op));
    return rx_cuda_dispatch(a->dtype, [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        constexpr bool FL = std::is_floating_point<typename rx_compute<T>::type>::value;
        switch (op) {
        case RX_SUM:
            if constexpr (FL) return run_reduce<fsum<T, false>, T>(ctx, a, out, index);
            else return run_reduce<isum<T>, T>(ctx, a, out, index);
        case RX_MEAN:
            if constexpr (FL) return run_reduce<fsum<T, true>, T>(ctx, a, out, index);
            else break;
        case RX_PROD:
            if constexpr (FL) return run_reduce<fprod<T>, T>(ctx, a, out, index);
            else return run_reduce<iprod<T>, T>(ctx, a, out, index);
        case RX_MAX:
            if constexpr (FL) return run_reduce<fext<T, true, false>, T>(ctx, a, out, index);
            else return run_reduce<iext<T, true, false>, T>(ctx, a, out, index);
        case RX_MIN:
            if constexpr (FL) return run_reduce<fext<T, false, false>, T>(ctx, a, out, index);
            else return run_reduce<iext<T, false, false>, T>(ctx, a, out, index);
        case RX_ARGMAX:
            if constexpr (FL) return run_reduce<fext<T, true, true>, T>(ctx, a, out, index);
            else return run_reduce<iext<T, true, true>, T>(ctx, a, out, index);
        case RX_ARGMIN:
            if constexpr (FL) return run_reduce<fext<T, false, true>, T>(ctx, a, out, index);
            else return run_reduce<iext<T, false, true>, T>(ctx, a, out, index);
        case RX_ANY: return run_reduce<anyall<T, true>, T>(ctx, a, out, index);
        case RX_ALL: return run_reduce<anyall<T, false>, T>(ctx, a, out, index);
        default: break;
        }
        return rx_fail(RX_ERR_DTYPE, "cuda reduce: %s is not defined for %s tensors", rx_reduce_op_name(op),
                       rx_dtype_name(a->dtype));
    });
}

/* ---- cumsum --------------------------------------------------------------------------------- */

__device__ __forceinline__ double rx_shfl_up(double v, int d) { return __shfl_up_sync(0xffffffffu, v, d); }
__device__ __forceinline__ uint64_t rx_shfl_up(uint64_t v, int d)
{
    return (uint64_t)__shfl_up_sync(0xffffffffu, (unsigned long long)v, d);
}

/* Inclusive prefix sums of columns [lo, hi) of one row by the TPR threads of a group (a warp, or
 * the whole block when TPR == blockDim.x), starting from `carry`, the sum of the row's elements
 * before lo. Tiles of TPR elements are scanned with warp shuffles (and the block's warp totals in
 * `warp_sum`), and the tile totals carried in order. */
template <typename T, typename OT, typename A, int TPR>
__device__ __forceinline__ void scan_span(const T *row, OT *orow, int64_t lo, int64_t hi, A carry, A *warp_sum)
{
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, tl = threadIdx.x % TPR;
    for (int64_t base = lo; base < hi; base += TPR) {
        int64_t j = base + tl;
        A v = 0;
        if (j < hi) {
            if constexpr (std::is_same<A, double>::value) v = (double)rx_to_c(row[j]);
            else v = (uint64_t)(int64_t)rx_to_c(row[j]);
        }
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            A y = rx_shfl_up(v, d);
            if (lane >= d) v += y;
        }
        A tile_total;
        if constexpr (TPR > 32) {
            __syncthreads(); /* warp_sum of the previous tile has been read */
            if (lane == 31) warp_sum[warp] = v;
            __syncthreads();
            A before = 0, total = 0;
            for (int w = 0; w < TPR / 32; w++) {
                if (w < warp) before += warp_sum[w];
                total += warp_sum[w];
            }
            v += before;
            tile_total = total;
        } else {
            tile_total = __shfl_sync(0xffffffffu, v, 31);
        }
        if (j < hi) {
            if constexpr (std::is_same<A, double>::value) orow[j] = rx_store_from_double<OT>(carry + v);
            else orow[j] = (int64_t)(carry + v);
        }
        carry += tile_total;
    }
}

/* Rows of (M, N) scanned by groups of TPR threads. */
template <typename T, typename OT, typename A, int TPR>
__global__ void cumsum_kernel(const T *a, OT *o, int64_t M, int64_t N)
{
    __shared__ A warp_sum[32];
    int64_t groups = blockDim.x / TPR;
    for (int64_t m = blockIdx.x * groups + threadIdx.x / TPR; m < M; m += gridDim.x * groups)
        scan_span<T, OT, A, TPR>(a + m * N, o + m * N, 0, N, A(0), warp_sum);
}

/* Block (c, m) scans columns [c * len, (c + 1) * len) of row m from carry[m * chunks + c]. */
template <typename T, typename OT, typename A>
__global__ void cumsum_chunks_kernel(const T *a, OT *o, int64_t N, int64_t len, const A *carry)
{
    __shared__ A warp_sum[32];
    int64_t c = blockIdx.x, m = blockIdx.y, chunks = gridDim.x;
    int64_t hi = (c + 1) * len < N ? (c + 1) * len : N;
    scan_span<T, OT, A, RX_CUDA_THREADS>(a + m * N, o + m * N, c * len, hi, carry[m * chunks + c], warp_sum);
}

/* carry[m, c] = the sum of part[m, 0 .. c-1], in chunk order (one thread per row). */
template <typename A> __global__ void chunk_carry_kernel(const A *part, A *carry, int64_t M, int64_t chunks)
{
    for (int64_t m = rx_tid(); m < M; m += rx_nthreads()) {
        A run = 0;
        for (int64_t c = 0; c < chunks; c++) {
            carry[m * chunks + c] = run;
            run += part[m * chunks + c];
        }
    }
}

/* R: the sum reducer whose accumulator is A (the chunk totals of the split path). */
template <typename R, typename T, typename OT, typename A>
static rx_status run_cumsum(rx_cuda_ctx *ctx, rx_tensor *out, const rx_tensor *a)
{
    int64_t M = a->shape[0], N = a->shape[1];
    if (M == 0 || N == 0) return RX_OK;
    const T *x = (const T *)rx_cuda_ptr(a);
    OT *o = (OT *)rx_cuda_ptr(out);
    if (M < ctx->sm_count && N >= LONG_ROW) {
        /* few long rows: chunk totals, then each chunk's carry, then every chunk scanned at once */
        int64_t chunks = (4 * (int64_t)ctx->sm_count + M - 1) / M;
        if (chunks > N / CHUNK) chunks = N / CHUNK;
        int64_t len = (N + chunks - 1) / chunks;
        chunks = (N + len - 1) / len;
        int64_t bytes = M * chunks * (int64_t)sizeof(A);
        void *part = NULL, *carry = NULL;
        rx_status s = rx_cuda_alloc(bytes, ctx->device, &part);
        if (s == RX_OK) s = rx_cuda_alloc(bytes, ctx->device, &carry);
        if (s == RX_OK) {
            reduce_chunks_kernel<R, T><<<dim3((unsigned)chunks, (unsigned)M), RX_CUDA_THREADS, 0, ctx->stream>>>(
                x, N, len, (A *)part);
            s = RX_CUDA_LAUNCH_STATUS("cumsum (chunk totals)");
        }
        if (s == RX_OK) {
            chunk_carry_kernel<A><<<1, 128, 0, ctx->stream>>>((const A *)part, (A *)carry, M, chunks);
            s = RX_CUDA_LAUNCH_STATUS("cumsum (carries)");
        }
        if (s == RX_OK) {
            cumsum_chunks_kernel<T, OT, A><<<dim3((unsigned)chunks, (unsigned)M), RX_CUDA_THREADS, 0, ctx->stream>>>(
                x, o, N, len, (const A *)carry);
            s = RX_CUDA_LAUNCH_STATUS("cumsum (chunks)");
        }
        if (part) rx_cuda_free(part, bytes, ctx->device);
        if (carry) rx_cuda_free(carry, bytes, ctx->device);
        return s;
    }
    if (N <= 1024)
        cumsum_kernel<T, OT, A, 32><<<rx_cuda_blocks((M + 7) / 8, 1, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(x, o, M, N);
    else
        cumsum_kernel<T, OT, A, RX_CUDA_THREADS><<<rx_cuda_blocks(M, 1, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(x, o, M, N);
    return RX_CUDA_LAUNCH_STATUS("cumsum");
}

rx_status rx_cuda_cumsum_rows(rx_tensor *out, const rx_tensor *a)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    return rx_cuda_dispatch(a->dtype, [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_floating_point<typename rx_compute<T>::type>::value)
            return run_cumsum<fsum<T, false>, T, T, double>(ctx, out, a);
        else
            return run_cumsum<isum<T>, T, int64_t, uint64_t>(ctx, out, a);
    });
}
