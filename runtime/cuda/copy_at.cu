/* copy_at.cu — CUDA kernel of copy_at: a copy into a slice of dst that starts at an offset read
 * from device memory.
 *
 * Owns: the one kernel. The host never reads the offset: each thread loads it (one word, the
 * same for all) and checks it against [0, size - len], so a launch can be captured into a CUDA
 * graph and replayed after the offset tensor was rewritten on the device (a decode step writing
 * the KV cache at position n). An out-of-range offset makes every thread return before writing:
 * dst is unchanged and nothing reports it (ops/ reports it only for CPU tensors). dst and src
 * have one dtype, so elements move as bits (unsigned words of the element size), one grid-stride
 * thread per element of src through the strided iterator; the iterator walks dst's slice at
 * offset 0 and the kernel adds off * stride(dim) to the destination base.
 */
#include "cuda_device.cuh"

template <typename U, typename O>
__global__ void copy_at_kernel(rx_cuda_iter it, U *dst, const U *src, const O *offset, int64_t max_off,
                               int64_t dim_stride)
{
    int64_t off = (int64_t)*offset;
    if (off < 0 || off > max_off) return;
    U *base = dst + off * dim_stride;
    for (int64_t i = rx_tid(); i < it.numel; i += rx_nthreads()) {
        int64_t o[2];
        rx_cuda_iter_offsets<2>(it, i, o);
        base[o[0]] = src[o[1]];
    }
}

rx_status rx_cuda_copy_at(rx_tensor *dst, const rx_tensor *src, int dim, const rx_tensor *offset)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(dst->storage->device.index, &ctx));
    int64_t n = rx_tensor_numel(src);
    if (n == 0) return RX_OK;
    /* dst's slice at offset 0: the geometry the iterator walks (a header copy, never retained) */
    rx_tensor slice = *dst;
    slice.shape[dim] = src->shape[dim];
    rx_cuda_iter it;
    const rx_tensor *ops[2] = {&slice, src};
    rx_cuda_iter_init(&it, 2, ops);
    int64_t max_off = dst->shape[dim] - src->shape[dim], dim_stride = dst->stride[dim];
    unsigned blocks = rx_cuda_blocks(n, RX_CUDA_THREADS, ctx);
    bool wide = offset->dtype == RX_I64;
    return rx_cuda_dispatch_bits(rx_dtype_size(dst->dtype), [&](auto tag) {
        using U = typename decltype(tag)::type;
        U *d = (U *)rx_cuda_ptr(dst);
        const U *s = (const U *)rx_cuda_ptr(src);
        if (wide)
            copy_at_kernel<U, int64_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                it, d, s, (const int64_t *)rx_cuda_ptr(offset), max_off, dim_stride);
        else
            copy_at_kernel<U, int32_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                it, d, s, (const int32_t *)rx_cuda_ptr(offset), max_off, dim_stride);
        return RX_CUDA_LAUNCH_STATUS("copy_at");
    });
}
