/* index.cu — CUDA kernels of index_select, gather and scatter_add.
 *
 * Owns: walking the operands with the strided iterator over stack-only headers (no references
 * taken), as cpu/index.c does. gather walks (out, index, a restricted to index's shape with
 * stride 0 along dim) and adds entry * stride(dim) to a's offset. index_select is the same walk
 * with the 1-D index viewed over out's shape (stride 0 except along dim); when a and out are
 * contiguous it instead copies whole slices a[o, index[j], :] -> out[o, j, :] with 16-byte
 * accesses where alignment allows (the embedding-lookup case).
 *
 * scatter_add is deterministic without atomics: one thread owns one line of the index (every
 * position but `dim`) and adds its entries along dim in index order. Lines differ in the other
 * coordinates, so no two threads write the same output element, and each output element receives
 * its additions in the CPU's order: f32 and f64 results are the CPU's bits, f16/bf16 are rounded
 * after every addition like the CPU. The price is that a long dim with few lines runs with little
 * parallelism.
 */
#include "cuda_device.cuh"

#include <type_traits>

/* ---- headers ------------------------------------------------------------------------------ */

/* t's header without dim d (its slice at 0). Holds no reference. */
static rx_tensor drop_dim(const rx_tensor *t, int d)
{
    rx_tensor s = *t;
    s.ndim = t->ndim - 1;
    for (int i = d; i < s.ndim; i++) {
        s.shape[i] = t->shape[i + 1];
        s.stride[i] = t->stride[i + 1];
    }
    return s;
}

/* a's header over `shape` with stride 0 along dim. Holds no reference. */
static rx_tensor restrict_to(const rx_tensor *a, const int64_t *shape, int dim)
{
    rx_tensor r = *a;
    for (int i = 0; i < a->ndim; i++) r.shape[i] = shape[i];
    r.stride[dim] = 0;
    return r;
}

/* ---- gather (and the general index_select) ------------------------------------------------- */

template <typename U, typename I>
__global__ void gather_kernel(rx_cuda_iter it, U *out, const I *index, const U *a, int64_t astep)
{
    for (int64_t i = rx_tid(); i < it.numel; i += rx_nthreads()) {
        int64_t off[3];
        rx_cuda_iter_offsets<3>(it, i, off);
        out[off[0]] = a[off[2] + (int64_t)index[off[1]] * astep];
    }
}

/* out (walked with index_view and a_view as same-shaped operands) = a[... index ...]. */
static rx_status run_gather(rx_cuda_ctx *ctx, rx_tensor *out, const rx_tensor *index_view, const rx_tensor *a_view,
                            int64_t astep, rx_dtype index_dtype)
{
    rx_cuda_iter it;
    const rx_tensor *ops[3] = {out, index_view, a_view};
    rx_cuda_iter_init(&it, 3, ops);
    if (it.numel == 0) return RX_OK;
    unsigned blocks = rx_cuda_blocks(it.numel, RX_CUDA_THREADS, ctx);
    return rx_cuda_dispatch_bits(rx_dtype_size(out->dtype), [&](auto tag) {
        using U = typename decltype(tag)::type;
        if (index_dtype == RX_I64)
            gather_kernel<U, int64_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                it, (U *)rx_cuda_ptr(out), (const int64_t *)rx_cuda_ptr(index_view), (const U *)rx_cuda_ptr(a_view), astep);
        else
            gather_kernel<U, int32_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                it, (U *)rx_cuda_ptr(out), (const int32_t *)rx_cuda_ptr(index_view), (const U *)rx_cuda_ptr(a_view), astep);
        return RX_CUDA_LAUNCH_STATUS("gather");
    });
}

rx_status rx_cuda_gather(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    rx_tensor ar = restrict_to(a, index->shape, dim);
    return run_gather(ctx, out, index, &ar, a->stride[dim], index->dtype);
}

/* ---- index_select -------------------------------------------------------------------------- */

/* Contiguous a (outer, A, inner) and out (outer, L, inner): out[o, j, :] = a[o, index[j], :],
 * moved in units of U (16 bytes when rows and pointers allow, else one element). */
template <typename U, typename I>
__global__ void select_rows_kernel(U *out, const U *a, const I *index, int64_t istride, int64_t L, int64_t A,
                                   int64_t units, int64_t total)
{
    for (int64_t u = rx_tid(); u < total; u += rx_nthreads()) {
        int64_t r = u / units, c = u - r * units; /* r = o * L + j */
        int64_t o = r / L, j = r - o * L;
        int64_t src = (o * A + (int64_t)index[j * istride]) * units + c;
        out[u] = a[src];
    }
}

rx_status rx_cuda_index_select(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(a->storage->device.index, &ctx));
    int64_t L = index->shape[0], total = rx_tensor_numel(out);
    if (total == 0) return RX_OK;
    int64_t es = rx_dtype_size(a->dtype);
    if (rx_tensor_is_contiguous(a) && rx_tensor_is_contiguous(out)) {
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < dim; d++) outer *= a->shape[d];
        for (int d = dim + 1; d < a->ndim; d++) inner *= a->shape[d];
        int64_t row_bytes = inner * es;
        bool wide = row_bytes % 16 == 0 && rx_aligned(rx_cuda_ptr(a), 16) && rx_aligned(rx_cuda_ptr(out), 16);
        int64_t ues = wide ? 16 : es, units = row_bytes / ues, n = outer * L * units;
        auto launch = [&](auto tag) -> rx_status {
            using U = typename decltype(tag)::type;
            unsigned blocks = rx_cuda_blocks(n, RX_CUDA_THREADS, ctx);
            if (index->dtype == RX_I64)
                select_rows_kernel<U, int64_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                    (U *)rx_cuda_ptr(out), (const U *)rx_cuda_ptr(a), (const int64_t *)rx_cuda_ptr(index),
                    index->stride[0], L, a->shape[dim], units, n);
            else
                select_rows_kernel<U, int32_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                    (U *)rx_cuda_ptr(out), (const U *)rx_cuda_ptr(a), (const int32_t *)rx_cuda_ptr(index),
                    index->stride[0], L, a->shape[dim], units, n);
            return RX_CUDA_LAUNCH_STATUS("index_select (rows)");
        };
        if (wide) return launch(rx_type_tag<uint4>{});
        return rx_cuda_dispatch_bits(es, launch);
    }
    /* the general walk: index viewed over out's shape, stride 0 except along dim */
    rx_tensor iv = *out;
    for (int d = 0; d < out->ndim; d++) iv.stride[d] = 0;
    iv.stride[dim] = index->stride[0];
    iv.storage = index->storage;
    iv.offset = index->offset;
    iv.dtype = index->dtype;
    rx_tensor ar = restrict_to(a, out->shape, dim);
    return run_gather(ctx, out, &iv, &ar, a->stride[dim], index->dtype);
}

/* ---- scatter_add ------------------------------------------------------------------------------ */

/* a + b in the compute type; integers wrap (two's complement) like the CPU's unsigned adds. */
template <typename C> __device__ __forceinline__ C wrap_add(C a, C b)
{
    if constexpr (std::is_integral<C>::value) {
        using U = typename std::make_unsigned<C>::type;
        return (C)((U)a + (U)b);
    } else {
        return a + b;
    }
}

/* out[.., index[.., j, ..], ..] += src[.., j, ..] for j = 0 .. L-1 of each line, in order. */
template <typename T, typename I>
__global__ void scatter_add_kernel(rx_cuda_iter it, T *out, const I *index, const T *src, int64_t L, int64_t ostep,
                                   int64_t istep, int64_t sstep)
{
    for (int64_t line = rx_tid(); line < it.numel; line += rx_nthreads()) {
        int64_t off[3];
        rx_cuda_iter_offsets<3>(it, line, off);
        T *o = out + off[0];
        const I *ip = index + off[1];
        const T *sp = src + off[2];
        for (int64_t j = 0; j < L; j++) {
            T *d = o + (int64_t)ip[j * istep] * ostep;
            *d = rx_from_c<T>(wrap_add(rx_to_c(*d), rx_to_c(sp[j * sstep])));
        }
    }
}

rx_status rx_cuda_scatter_add(rx_tensor *out, int dim, const rx_tensor *index, const rx_tensor *src)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(out->storage->device.index, &ctx));
    int64_t L = index->shape[dim];
    if (rx_tensor_numel(index) == 0) return RX_OK;
    rx_tensor orr = restrict_to(out, index->shape, dim);
    rx_tensor o = drop_dim(&orr, dim), ix = drop_dim(index, dim), s = drop_dim(src, dim);
    rx_cuda_iter it;
    const rx_tensor *ops[3] = {&o, &ix, &s};
    rx_cuda_iter_init(&it, 3, ops);
    unsigned blocks = rx_cuda_blocks(it.numel, RX_CUDA_THREADS, ctx);
    int64_t ostep = out->stride[dim], istep = index->stride[dim], sstep = src->stride[dim];
    return rx_cuda_dispatch(out->dtype, [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_same<T, rx_bool_t>::value) {
            return rx_fail(RX_ERR_DTYPE, "cuda scatter_add: not defined for bool tensors");
        } else {
            if (index->dtype == RX_I64)
                scatter_add_kernel<T, int64_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                    it, (T *)rx_cuda_ptr(&o), (const int64_t *)rx_cuda_ptr(&ix), (const T *)rx_cuda_ptr(&s), L, ostep,
                    istep, sstep);
            else
                scatter_add_kernel<T, int32_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                    it, (T *)rx_cuda_ptr(&o), (const int32_t *)rx_cuda_ptr(&ix), (const T *)rx_cuda_ptr(&s), L, ostep,
                    istep, sstep);
            return RX_CUDA_LAUNCH_STATUS("scatter_add");
        }
    });
}
