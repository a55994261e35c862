/* sort.cu — CUDA stable sort and top-k along rows (sort_rows of backend/backend.h).
 *
 * Owns: the order, identical to the CPU's: every element gets an unsigned key that orders like
 * its value (floats by their bits with negatives flipped, -0 as +0 and every NaN above +inf;
 * integers with the sign bit flipped), complemented for a descending sort; ties keep the input
 * order in both directions (stable), so top-k breaks ties by the lower index.
 *
 * Method: CUB's DeviceRadixSort, which is stable, over the whole (M, N) array at once. For dtypes
 * of at most 32 bits the key of element (m, j) is (m << kbits | key), so one sort groups the rows
 * in order and sorts inside each; the radix passes cover only the bits in use (kbits plus the
 * bits of M - 1). For 64-bit dtypes the key leaves no room for the row: a first sort orders all
 * elements by key carrying their flat position, and a second stable sort by row number (computed
 * from the position) regroups the rows without disturbing the order inside each. A last kernel
 * writes the first k columns of each row: values copied bit for bit from the input and i64
 * positions. Top-k is this full sort followed by keeping k columns.
 */
#include "cuda_device.cuh"

#include <cub/device/device_radix_sort.cuh>

/* ---- keys ------------------------------------------------------------------------------------ */

__device__ __forceinline__ uint32_t key32_f32(float f)
{
    uint32_t b = __float_as_uint(f);
    if (f != f) return 0xFFFFFFFFu;
    if (b == 0x80000000u) b = 0; /* -0 sorts with +0 */
    return (b >> 31) ? ~b : b | 0x80000000u;
}

/* f16/bf16 keys from their 16 bits, by the same rule. */
__device__ __forceinline__ uint32_t key16(uint16_t b, bool nan)
{
    if (nan) return 0xFFFFu;
    if (b == 0x8000u) b = 0;
    return (b >> 15) ? (uint16_t)~b : (uint32_t)(b | 0x8000u);
}

__device__ __forceinline__ uint32_t sort_key(float x) { return key32_f32(x); }
__device__ __forceinline__ uint32_t sort_key(rx_f16_t x)
{
    return key16(x.bits, (x.bits & 0x7C00u) == 0x7C00u && (x.bits & 0x3FFu));
}
__device__ __forceinline__ uint32_t sort_key(rx_bf16_t x)
{
    return key16(x.bits, (x.bits & 0x7F80u) == 0x7F80u && (x.bits & 0x7Fu));
}
__device__ __forceinline__ uint32_t sort_key(int32_t x) { return (uint32_t)x ^ 0x80000000u; }
__device__ __forceinline__ uint32_t sort_key(uint8_t x) { return x; }
__device__ __forceinline__ uint32_t sort_key(rx_bool_t x) { return x.v != 0; }
__device__ __forceinline__ uint64_t sort_key(double x)
{
    uint64_t b = (uint64_t)__double_as_longlong(x);
    if (x != x) return ~0ull;
    if (b == 0x8000000000000000ull) b = 0;
    return (b >> 63) ? ~b : b | 0x8000000000000000ull;
}
__device__ __forceinline__ uint64_t sort_key(int64_t x) { return (uint64_t)x ^ 0x8000000000000000ull; }

/* Bits of the key of each storage type. */
template <typename T> constexpr int key_bits = sizeof(T) == 1 ? 8 : sizeof(T) == 2 ? 16 : sizeof(T) == 4 ? 32 : 64;

static int bits_for(int64_t v) /* bits needed to hold values in [0, v] */
{
    int b = 0;
    while (b < 63 && ((uint64_t)v >> b) != 0) b++;
    return b;
}

/* Narrow keys: key[i] = row << kbits | key(a[i]) (complemented inside kbits when descending),
 * val[i] = position in the row. */
template <typename T>
__global__ void narrow_keys_kernel(const T *a, int64_t total, int64_t N, int descending, uint64_t *key, uint64_t *val)
{
    constexpr int KB = key_bits<T>;
    const uint64_t mask = KB == 64 ? ~0ull : ((1ull << KB) - 1);
    for (int64_t i = rx_tid(); i < total; i += rx_nthreads()) {
        uint64_t k = (uint64_t)sort_key(a[i]);
        if (descending) k = ~k & mask;
        int64_t m = i / N;
        if constexpr (KB < 64) k |= (uint64_t)m << KB; /* 64-bit keys come here only when M == 1 */
        key[i] = k;
        val[i] = (uint64_t)(i - m * N);
    }
}

/* Wide keys (64-bit dtypes): key[i] = key(a[i]) (complemented when descending), val[i] = i. */
template <typename T>
__global__ void wide_keys_kernel(const T *a, int64_t total, int descending, uint64_t *key, uint64_t *val)
{
    for (int64_t i = rx_tid(); i < total; i += rx_nthreads()) {
        uint64_t k = sort_key(a[i]);
        key[i] = descending ? ~k : k;
        val[i] = (uint64_t)i;
    }
}

/* Row numbers of flat positions, for the regrouping sort. */
__global__ void row_keys_kernel(const uint64_t *pos, int64_t total, int64_t N, uint64_t *key)
{
    for (int64_t i = rx_tid(); i < total; i += rx_nthreads()) key[i] = pos[i] / (uint64_t)N;
}

/* Sorted position q belongs to row q / N; keeps the first k of each row. `flat` says whether
 * val holds flat positions (wide keys) or positions in the row. */
template <typename T>
__global__ void write_topk_kernel(const T *a, const uint64_t *val, int64_t total, int64_t N, int64_t k, int flat,
                                  T *values, int64_t vrow, int64_t *indices, int64_t irow)
{
    for (int64_t q = rx_tid(); q < total; q += rx_nthreads()) {
        int64_t m = q / N, c = q - m * N;
        if (c >= k) continue;
        int64_t j = flat ? (int64_t)val[q] - m * N : (int64_t)val[q];
        if (values) values[m * vrow + c] = a[m * N + j];
        if (indices) indices[m * irow + c] = j;
    }
}

/* ---- the sort -------------------------------------------------------------------------------- */

/* Stable sort of (key, val) pairs over bits [0, end_bit): keys and vals are double buffers whose
 * current halves hold the input and, on return, the result. */
static rx_status radix_sort(rx_cuda_ctx *ctx, cub::DoubleBuffer<uint64_t> &keys, cub::DoubleBuffer<uint64_t> &vals,
                            int64_t total, int end_bit)
{
    size_t temp_bytes = 0;
    RX_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, vals, total, 0, end_bit, ctx->stream));
    void *temp;
    RX_TRY(rx_cuda_alloc((int64_t)temp_bytes, ctx->device, &temp));
    rx_status s = RX_CUDA_STATUS(
        cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, vals, total, 0, end_bit, ctx->stream));
    rx_cuda_free(temp, (int64_t)temp_bytes, ctx->device);
    return s;
}

template <typename T>
static rx_status sort_typed(rx_cuda_ctx *ctx, rx_tensor *values, rx_tensor *indices, const rx_tensor *a, int64_t k,
                            int descending)
{
    int64_t M = a->shape[0], N = a->shape[1], total = M * N;
    const T *x = (const T *)rx_cuda_ptr(a);
    constexpr int KB = key_bits<T>;
    int64_t bytes = total * (int64_t)sizeof(uint64_t);
    void *buf[4] = {nullptr, nullptr, nullptr, nullptr};
    rx_status s = RX_OK;
    for (int i = 0; i < 4 && s == RX_OK; i++) s = rx_cuda_alloc(bytes, ctx->device, &buf[i]);
    cub::DoubleBuffer<uint64_t> keys((uint64_t *)buf[0], (uint64_t *)buf[1]);
    cub::DoubleBuffer<uint64_t> vals((uint64_t *)buf[2], (uint64_t *)buf[3]);
    unsigned blocks = rx_cuda_blocks(total, RX_CUDA_THREADS, ctx);
    int row_bits = bits_for(M - 1);
    if (s == RX_OK && KB + row_bits <= 64) {
        narrow_keys_kernel<T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(x, total, N, descending, keys.Current(),
                                                                          vals.Current());
        s = RX_CUDA_LAUNCH_STATUS("sort keys");
        if (s == RX_OK) s = radix_sort(ctx, keys, vals, total, KB + row_bits);
    } else if (s == RX_OK) {
        wide_keys_kernel<T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(x, total, descending, keys.Current(),
                                                                        vals.Current());
        s = RX_CUDA_LAUNCH_STATUS("sort keys");
        if (s == RX_OK) s = radix_sort(ctx, keys, vals, total, 64);
        if (s == RX_OK && M > 1) {
            row_keys_kernel<<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(vals.Current(), total, N, keys.Current());
            s = RX_CUDA_LAUNCH_STATUS("sort rows");
            if (s == RX_OK) s = radix_sort(ctx, keys, vals, total, row_bits);
        }
    }
    if (s == RX_OK) {
        write_topk_kernel<T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
            x, vals.Current(), total, N, k, KB + row_bits > 64, values ? (T *)rx_cuda_ptr(values) : nullptr,
            values ? values->shape[1] : 0, indices ? (int64_t *)rx_cuda_ptr(indices) : nullptr,
            indices ? indices->shape[1] : 0);
        s = RX_CUDA_LAUNCH_STATUS("sort (write top k)");
    }
    for (int i = 0; i < 4; i++)
        if (buf[i]) rx_cuda_free(buf[i], bytes, ctx->device);
    return s;
}

rx_status rx_cuda_sort_rows(rx_tensor *values, rx_tensor *indices, const rx_tensor *a, int64_t k, int descending)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    int64_t M = a->shape[0], N = a->shape[1];
    if (k <= 0 || M == 0 || N == 0) return RX_OK;
    return rx_cuda_dispatch(a->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return sort_typed<T>(ctx, values, indices, a, k, descending);
    });
}
