/* nn_embedding.cu — CUDA embedding lookup and its deterministic weight gradient (embedding and
 * embedding_bwd of backend/backend.h).
 *
 * Owns:
 * - the gather: a warp per output row copies weight[ids[n]] with 16-byte accesses when the row
 *   bytes, the row stride and the pointers allow, element by element otherwise (any dtype);
 * - the backward as a segmented reduction without sorting and without float atomics:
 *     1. count the ids (integer atomics: the counts do not depend on scheduling);
 *     2. start[v] = exclusive prefix sum of the counts (one block, in tiles);
 *     3. drop each position n into its id's segment through an integer cursor (the order inside
 *        a segment depends on scheduling here), then
 *     4. move each position to its rank inside its segment, the number of positions of that
 *        segment smaller than it: every segment is then in increasing n, exactly the stable
 *        counting sort of the ids (segments are short for token ids; the rank costs the segment's
 *        length per position);
 *     5. a warp per vocabulary row adds its gradient rows in increasing n in double and writes the
 *        row once (zeros for unused ids and for padding_idx).
 *   So every row is the CPU's sum in the CPU's order, rounded once: the result depends on the data
 *   only.
 */
#include "nn_common.cuh"

#include <limits.h>

#define SCAN_THREADS 1024
#define SCAN_PER_THREAD 4

/* ---- forward ---------------------------------------------------------------------------------- */

template <typename U, typename IT>
__global__ void embedding_kernel(U *out, const U *weight, const IT *ids, int64_t n, int64_t units, int64_t wstride,
                                 int64_t rows)
{
    int lane = threadIdx.x % 32;
    int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < n; r += warps) {
        int64_t id = (int64_t)ids[r];
        U *dst = out + r * units;
        if (id < 0 || id >= rows) { /* unchecked ids (a graph capture): a zero row, never a wild read */
            for (int64_t j = lane; j < units; j += 32) dst[j] = U{};
            continue;
        }
        const U *src = weight + id * wstride;
        for (int64_t j = lane; j < units; j += 32) dst[j] = src[j];
    }
}

template <typename IT>
static rx_status embedding_launch(rx_cuda_ctx *ctx, rx_tensor *out, const rx_tensor *weight, const IT *ids, int64_t n)
{
    int64_t c = weight->shape[1], es = rx_dtype_size(weight->dtype);
    int64_t row_bytes = c * es, stride_bytes = weight->stride[0] * es;
    const char *w = rx_cuda_ptr(weight);
    char *o = rx_cuda_ptr(out);
    unsigned blocks = rx_cuda_blocks((n + 7) / 8, 1, ctx);
    if (row_bytes % 16 == 0 && stride_bytes % 16 == 0 && rx_aligned(w, 16) && rx_aligned(o, 16)) {
        embedding_kernel<uint4, IT><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>((uint4 *)o, (const uint4 *)w, ids, n,
                                                                                 row_bytes / 16, stride_bytes / 16,
                                                                                 weight->shape[0]);
        return RX_CUDA_LAUNCH_STATUS("embedding");
    }
    return rx_cuda_dispatch_bits(es, [&](auto tag) -> rx_status {
        using U = typename decltype(tag)::type;
        embedding_kernel<U, IT><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>((U *)o, (const U *)w, ids, n, c,
                                                                             weight->stride[0], weight->shape[0]);
        return RX_CUDA_LAUNCH_STATUS("embedding");
    });
}

rx_status rx_cuda_embedding(rx_tensor *out, const rx_tensor *weight, const rx_tensor *ids)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(out), &ctx));
    int64_t n = ids->shape[0];
    if (n == 0 || weight->shape[1] == 0) return RX_OK;
    if (ids->dtype == RX_I64) return embedding_launch(ctx, out, weight, (const int64_t *)rx_cuda_ptr(ids), n);
    return embedding_launch(ctx, out, weight, (const int32_t *)rx_cuda_ptr(ids), n);
}

/* ---- backward --------------------------------------------------------------------------------- */

/* Ids outside [0, nv) (checked asynchronously, id_check.cu) are left out of every segment. */
template <typename IT> __global__ void count_kernel(const IT *ids, int64_t n, int64_t nv, int *count)
{
    for (int64_t i = rx_tid(); i < n; i += rx_nthreads()) {
        int64_t id = (int64_t)ids[i];
        if (id >= 0 && id < nv) atomicAdd(&count[id], 1);
    }
}

/* One block: start[v] = sum of count[0..v) for v <= nv (start[nv] = the total); cursor = start. */
__global__ void scan_kernel(const int *count, int64_t nv, int *start, int *cursor)
{
    __shared__ int warp_sums[SCAN_THREADS / 32];
    __shared__ int carry_s;
    if (threadIdx.x == 0) carry_s = 0;
    __syncthreads();
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int64_t tile = (int64_t)SCAN_THREADS * SCAN_PER_THREAD;
    for (int64_t base = 0; base <= nv; base += tile) {
        int vals[SCAN_PER_THREAD], sum = 0;
#pragma unroll
        for (int k = 0; k < SCAN_PER_THREAD; k++) {
            int64_t i = base + (int64_t)threadIdx.x * SCAN_PER_THREAD + k;
            vals[k] = i < nv ? count[i] : 0;
            sum += vals[k];
        }
        int incl = sum; /* inclusive scan of the thread sums: warps, then warp totals */
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            int o = __shfl_up_sync(0xffffffffu, incl, d);
            if (lane >= d) incl += o;
        }
        if (lane == 31) warp_sums[warp] = incl;
        __syncthreads();
        if (warp == 0) {
            int ws = lane < SCAN_THREADS / 32 ? warp_sums[lane] : 0;
#pragma unroll
            for (int d = 1; d < 32; d <<= 1) {
                int o = __shfl_up_sync(0xffffffffu, ws, d);
                if (lane >= d) ws += o;
            }
            if (lane < SCAN_THREADS / 32) warp_sums[lane] = ws;
        }
        __syncthreads();
        int carry = carry_s;
        int run = carry + (warp ? warp_sums[warp - 1] : 0) + incl - sum;
#pragma unroll
        for (int k = 0; k < SCAN_PER_THREAD; k++) {
            int64_t i = base + (int64_t)threadIdx.x * SCAN_PER_THREAD + k;
            if (i <= nv) {
                start[i] = run;
                if (i < nv) cursor[i] = run;
            }
            run += vals[k];
        }
        __syncthreads();
        if (threadIdx.x == SCAN_THREADS - 1) carry_s = run;
        __syncthreads();
    }
}

template <typename IT> __global__ void place_kernel(const IT *ids, int64_t n, int64_t nv, int *cursor, int *slots)
{
    for (int64_t i = rx_tid(); i < n; i += rx_nthreads()) {
        int64_t id = (int64_t)ids[i];
        if (id >= 0 && id < nv) slots[atomicAdd(&cursor[id], 1)] = (int)i;
    }
}

/* order[start[id] + rank] = position, rank = the positions of the segment smaller than it. */
template <typename IT>
__global__ void rank_kernel(const IT *ids, const int *start, const int *slots, int64_t nv, int *order)
{
    int64_t placed = start[nv]; /* the ids in range */
    for (int64_t p = rx_tid(); p < placed; p += rx_nthreads()) {
        int pos = slots[p];
        int64_t id = (int64_t)ids[pos];
        int a = start[id], b = start[id + 1], rank = 0;
        for (int q = a; q < b; q++) rank += slots[q] < pos;
        order[a + rank] = pos;
    }
}

/* A warp per vocabulary row: dweight[v] = sum of g[order[p]] over v's segment, in order. */
template <typename T, int VEC>
__global__ void segment_sum_kernel(T *dweight, const T *g, const int *start, const int *order, int64_t nv, int64_t c,
                                   int64_t padding_idx, bool vec)
{
    int lane = threadIdx.x % 32;
    int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t v = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; v < nv; v += warps) {
        int a = start[v], b = v == padding_idx ? a : start[v + 1];
        T *dst = dweight + v * c;
        if (vec) {
            for (int64_t k = lane; k < c / VEC; k += 32) {
                double acc[VEC];
#pragma unroll
                for (int j = 0; j < VEC; j++) acc[j] = 0.0;
                for (int p = a; p < b; p++) {
                    typename rx_compute<T>::type x[VEC];
                    rx_nn_load_vec<T, VEC>(g + (int64_t)order[p] * c, k * VEC, x);
#pragma unroll
                    for (int j = 0; j < VEC; j++) acc[j] += (double)x[j];
                }
                rx_vec<T, VEC> o;
#pragma unroll
                for (int j = 0; j < VEC; j++) o.v[j] = rx_store_from_double<T>(acc[j]);
                *reinterpret_cast<rx_vec<T, VEC> *>(dst + k * VEC) = o;
            }
        } else {
            for (int64_t j = lane; j < c; j += 32) {
                double acc = 0.0;
                for (int p = a; p < b; p++) acc += (double)rx_to_c(g[(int64_t)order[p] * c + j]);
                dst[j] = rx_store_from_double<T>(acc);
            }
        }
    }
}

template <typename IT>
static rx_status embedding_bwd_ids(rx_cuda_ctx *ctx, int dev, rx_tensor *dweight, const rx_tensor *g, const IT *ids,
                                   int64_t n, int64_t padding_idx)
{
    int64_t nv = dweight->shape[0], c = dweight->shape[1];
    rx_nn_scratch buf; /* count (nv), start (nv + 1), cursor (nv), slots (n), order (n) */
    RX_TRY(buf.alloc((4 * nv + 1 + 2 * n) * (int64_t)sizeof(int), dev));
    int *count = buf.as<int>(), *start = count + nv, *cursor = start + nv + 1, *slots = cursor + nv, *order = slots + n;
    RX_CUDA_CHECK(cudaMemsetAsync(count, 0, (size_t)nv * sizeof(int), ctx->stream));
    if (n > 0) {
        unsigned blocks = rx_cuda_blocks(n, RX_CUDA_THREADS, ctx);
        count_kernel<IT><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(ids, n, nv, count);
        RX_TRY(RX_CUDA_LAUNCH_STATUS("embedding backward counts"));
        scan_kernel<<<1, SCAN_THREADS, 0, ctx->stream>>>(count, nv, start, cursor);
        RX_TRY(RX_CUDA_LAUNCH_STATUS("embedding backward offsets"));
        place_kernel<IT><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(ids, n, nv, cursor, slots);
        RX_TRY(RX_CUDA_LAUNCH_STATUS("embedding backward placement"));
        rank_kernel<IT><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(ids, start, slots, nv, order);
        RX_TRY(RX_CUDA_LAUNCH_STATUS("embedding backward ranks"));
    } else {
        RX_CUDA_CHECK(cudaMemsetAsync(start, 0, (size_t)(nv + 1) * sizeof(int), ctx->stream));
    }
    return rx_nn_dispatch_float(dweight->dtype, "embedding backward", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        constexpr int VEC = rx_nn_vec<T>();
        T *dw = (T *)rx_cuda_ptr(dweight);
        const T *gp = (const T *)rx_cuda_ptr(g);
        bool vec = c % VEC == 0 && rx_aligned(dw, 16) && rx_aligned(gp, 16);
        segment_sum_kernel<T, VEC><<<rx_cuda_blocks((nv + 7) / 8, 1, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(
            dw, gp, start, order, nv, c, padding_idx, vec);
        return RX_CUDA_LAUNCH_STATUS("embedding backward sums");
    });
}

rx_status rx_cuda_embedding_bwd(rx_tensor *dweight, const rx_tensor *g, const rx_tensor *ids, int64_t padding_idx)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(dweight);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t n = ids->shape[0], nv = dweight->shape[0];
    if (nv == 0 || dweight->shape[1] == 0) return RX_OK;
    if (n >= INT_MAX || nv >= INT_MAX)
        return rx_fail(RX_ERR_UNSUPPORTED,
                       "cuda embedding backward: %lld ids over %lld rows; at most 2^31 - 1 of each are supported",
                       (long long)n, (long long)nv);
    if (ids->dtype == RX_I64)
        return embedding_bwd_ids(ctx, dev, dweight, g, (const int64_t *)rx_cuda_ptr(ids), n, padding_idx);
    return embedding_bwd_ids(ctx, dev, dweight, g, (const int32_t *)rx_cuda_ptr(ids), n, padding_idx);
}
