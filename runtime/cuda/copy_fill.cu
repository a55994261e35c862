/* copy_fill.cu — CUDA copies (on a device, between devices, to and from host memory) and fill.
 *
 * Owns: every transfer that touches CUDA memory.
 * - On one device: dense same-dtype copies are one cudaMemcpyAsync; other same-dtype copies move
 *   bits through the strided iterator; f32 <-> f16/bf16 convert directly (16-byte accesses when
 *   dense); every other dtype pair goes through double exactly like rx_load_double /
 *   rx_store_double, so a cast gives the CPU's bits.
 * - Host -> device: a contiguous source of the destination's dtype into a contiguous destination
 *   is one cudaMemcpyAsync; otherwise a non-contiguous source is packed on the host first, and
 *   when the destination is strided or of another dtype the bytes land in a device staging
 *   buffer that the on-device copy then converts and scatters. The call waits until the host
 *   bytes have been read (pageable memory), so the caller may free them at once.
 * - Device -> host: the device side is made contiguous in the destination's dtype on the device
 *   when needed, copied down, and scattered into a strided destination on the host
 *   (rx_cpu_copy). This is the one path that waits for the stream by design.
 * - Device -> other device: staged contiguous on the source, copied peer to peer, converted on
 *   the destination; both streams are waited for (rare path).
 * Fill writes the value converted once on the host (rx_store_double) as a bit pattern:
 * cudaMemsetAsync when the pattern is one repeated byte, else a kernel.
 */
#include "cuda_device.cuh"

extern "C" {
#include "../cpu/cpu_kernels.h" /* rx_cpu_copy, for the host side of staged copies */
}

#include <stdlib.h>

/* ---- conversions -------------------------------------------------------------------------- */

template <typename U> struct bits_f {
    using out_type = U;
    __device__ U operator()(U x) const { return x; }
};

struct f32_to_bf16_f {
    using out_type = rx_bf16_t;
    __device__ rx_bf16_t operator()(float x) const { return rx_bf16_t{rx_dev_f32_to_bf16(x)}; }
};
struct bf16_to_f32_f {
    using out_type = float;
    __device__ float operator()(rx_bf16_t x) const { return rx_dev_bf16_to_f32(x.bits); }
};
struct f32_to_f16_f {
    using out_type = rx_f16_t;
    __device__ rx_f16_t operator()(float x) const { return rx_f16_t{rx_dev_f32_to_f16(x)}; }
};
struct f16_to_f32_f {
    using out_type = float;
    __device__ float operator()(rx_f16_t x) const { return rx_dev_f16_to_f32(x.bits); }
};

/* Any dtype pair through double, with runtime dtypes. */
__global__ void copy_generic_kernel(rx_cuda_iter it, char *dst, rx_dtype dt, const char *src, rx_dtype st)
{
    int64_t des = dt == RX_F64 || dt == RX_I64 ? 8 : dt == RX_F32 || dt == RX_I32 ? 4 : dt == RX_U8 || dt == RX_BOOL ? 1 : 2;
    int64_t ses = st == RX_F64 || st == RX_I64 ? 8 : st == RX_F32 || st == RX_I32 ? 4 : st == RX_U8 || st == RX_BOOL ? 1 : 2;
    for (int64_t i = rx_tid(); i < it.numel; i += rx_nthreads()) {
        int64_t off[2];
        rx_cuda_iter_offsets<2>(it, i, off);
        rx_dev_store_double(dst + off[0] * des, dt, rx_dev_load_double(src + off[1] * ses, st));
    }
}

/* dst = src for same-shaped tensors on the current device (ctx). */
static rx_status copy_on_device(rx_cuda_ctx *ctx, rx_tensor *dst, const rx_tensor *src)
{
    int64_t n = rx_tensor_numel(dst);
    if (n == 0) return RX_OK;
    rx_dtype dt = dst->dtype, st = src->dtype;
    if (dt == st) {
        if (rx_tensor_is_contiguous(dst) && rx_tensor_is_contiguous(src))
            return RX_CUDA_STATUS(cudaMemcpyAsync(rx_cuda_ptr(dst), rx_cuda_ptr(src), (size_t)(n * rx_dtype_size(dt)),
                                                  cudaMemcpyDeviceToDevice, ctx->stream));
        return rx_cuda_dispatch_bits(rx_dtype_size(dt), [&](auto tag) {
            using U = typename decltype(tag)::type;
            return rx_cuda_map1<U>(ctx, dst, src, bits_f<U>{}, "launch of kernel copy (bits)");
        });
    }
    if (st == RX_F32 && dt == RX_BF16) return rx_cuda_map1<float>(ctx, dst, src, f32_to_bf16_f{}, "launch of kernel copy f32->bf16");
    if (st == RX_BF16 && dt == RX_F32) return rx_cuda_map1<rx_bf16_t>(ctx, dst, src, bf16_to_f32_f{}, "launch of kernel copy bf16->f32");
    if (st == RX_F32 && dt == RX_F16) return rx_cuda_map1<float>(ctx, dst, src, f32_to_f16_f{}, "launch of kernel copy f32->f16");
    if (st == RX_F16 && dt == RX_F32) return rx_cuda_map1<rx_f16_t>(ctx, dst, src, f16_to_f32_f{}, "launch of kernel copy f16->f32");
    rx_cuda_iter it;
    const rx_tensor *ops[2] = {dst, src};
    rx_cuda_iter_init(&it, 2, ops);
    copy_generic_kernel<<<rx_cuda_blocks(n, RX_CUDA_THREADS, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(
        it, rx_cuda_ptr(dst), dt, rx_cuda_ptr(src), st);
    return RX_CUDA_LAUNCH_STATUS("copy (any dtypes)");
}

/* ---- host <-> device ------------------------------------------------------------------------ */

static rx_status copy_host_to_device(rx_tensor *dst, const rx_tensor *src)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(dst->storage->device.index, &ctx));
    int64_t n = rx_tensor_numel(dst);
    if (n == 0) return RX_OK;
    int64_t bytes = n * rx_dtype_size(src->dtype);
    rx_status s = RX_OK;
    void *packed = NULL, *staging = NULL;
    const void *host = rx_cuda_ptr(src);
    if (!rx_tensor_is_contiguous(src)) {
        packed = malloc((size_t)bytes);
        if (!packed)
            return rx_fail(RX_ERR_NOMEM, "cuda copy: out of host memory for a %lld-byte staging buffer", (long long)bytes);
        rx_cuda_temp h;
        s = rx_cpu_copy(rx_cuda_temp_tensor(&h, packed, rx_cpu(), src->ndim, src->shape, src->dtype), src);
        host = packed;
    }
    if (s == RX_OK && rx_tensor_is_contiguous(dst) && dst->dtype == src->dtype) {
        s = RX_CUDA_STATUS(cudaMemcpyAsync(rx_cuda_ptr(dst), host, (size_t)bytes, cudaMemcpyHostToDevice, ctx->stream));
    } else if (s == RX_OK) {
        s = rx_cuda_alloc(bytes, ctx->device, &staging);
        if (s == RX_OK)
            s = RX_CUDA_STATUS(cudaMemcpyAsync(staging, host, (size_t)bytes, cudaMemcpyHostToDevice, ctx->stream));
        if (s == RX_OK) {
            rx_cuda_temp h;
            s = copy_on_device(ctx, dst, rx_cuda_temp_tensor(&h, staging, dst->storage->device, src->ndim, src->shape, src->dtype));
        }
    }
    /* pageable host memory: the copy may still read it after cudaMemcpyAsync returns */
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaStreamSynchronize(ctx->stream));
    if (staging) rx_cuda_free(staging, bytes, ctx->device);
    free(packed);
    return s;
}

static rx_status copy_device_to_host(rx_tensor *dst, const rx_tensor *src)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(src->storage->device.index, &ctx));
    int64_t n = rx_tensor_numel(dst);
    if (n == 0) return RX_OK;
    rx_status s = RX_OK;
    const rx_tensor *dev = src;
    void *staging = NULL, *landing = NULL;
    int64_t bytes = n * rx_dtype_size(dst->dtype);
    rx_cuda_temp hs, hl;
    if (!rx_tensor_is_contiguous(src) || src->dtype != dst->dtype) {
        s = rx_cuda_alloc(bytes, ctx->device, &staging);
        if (s == RX_OK) {
            rx_tensor *t = rx_cuda_temp_tensor(&hs, staging, src->storage->device, src->ndim, src->shape, dst->dtype);
            s = copy_on_device(ctx, t, src);
            dev = t;
        }
    }
    bool direct = rx_tensor_is_contiguous(dst);
    if (s == RX_OK && !direct && !(landing = malloc((size_t)bytes)))
        s = rx_fail(RX_ERR_NOMEM, "cuda copy: out of host memory for a %lld-byte staging buffer", (long long)bytes);
    if (s == RX_OK)
        s = RX_CUDA_STATUS(cudaMemcpyAsync(direct ? rx_cuda_ptr(dst) : landing, rx_cuda_ptr(dev), (size_t)bytes,
                                           cudaMemcpyDeviceToHost, ctx->stream));
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaStreamSynchronize(ctx->stream));
    if (s == RX_OK && !direct) s = rx_cpu_copy(dst, rx_cuda_temp_tensor(&hl, landing, rx_cpu(), dst->ndim, dst->shape, dst->dtype));
    if (staging) rx_cuda_free(staging, bytes, ctx->device);
    free(landing);
    return s;
}

/* ---- device -> another device ---------------------------------------------------------------- */

static rx_status copy_peer(rx_tensor *dst, const rx_tensor *src)
{
    int sdev = src->storage->device.index, ddev = dst->storage->device.index;
    int64_t n = rx_tensor_numel(dst), bytes = n * rx_dtype_size(src->dtype);
    if (n == 0) return RX_OK;
    rx_cuda_ctx *sctx, *dctx;
    RX_TRY(rx_cuda_enter(sdev, &sctx));
    rx_status s = RX_OK;
    void *packed = NULL, *landing = NULL;
    const void *from = rx_cuda_ptr(src);
    if (!rx_tensor_is_contiguous(src)) {
        s = rx_cuda_alloc(bytes, sdev, &packed);
        rx_cuda_temp h;
        if (s == RX_OK) s = copy_on_device(sctx, rx_cuda_temp_tensor(&h, packed, src->storage->device, src->ndim, src->shape, src->dtype), src);
        from = packed;
    }
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaStreamSynchronize(sctx->stream));
    if (s == RX_OK) s = rx_cuda_enter(ddev, &dctx);
    if (s == RX_OK && rx_tensor_is_contiguous(dst) && dst->dtype == src->dtype) {
        s = RX_CUDA_STATUS(cudaMemcpyPeerAsync(rx_cuda_ptr(dst), ddev, from, sdev, (size_t)bytes, dctx->stream));
    } else if (s == RX_OK) {
        s = rx_cuda_alloc(bytes, ddev, &landing);
        if (s == RX_OK) s = RX_CUDA_STATUS(cudaMemcpyPeerAsync(landing, ddev, from, sdev, (size_t)bytes, dctx->stream));
        rx_cuda_temp h;
        if (s == RX_OK) s = copy_on_device(dctx, dst, rx_cuda_temp_tensor(&h, landing, dst->storage->device, src->ndim, src->shape, src->dtype));
    }
    /* the source's staging block goes back to its cache only once the peer copy has read it */
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaStreamSynchronize(dctx->stream));
    if (landing) rx_cuda_free(landing, bytes, ddev);
    if (packed) rx_cuda_free(packed, bytes, sdev);
    return s;
}

rx_status rx_cuda_copy(rx_tensor *dst, const rx_tensor *src)
{
    rx_device dd = dst->storage->device, sd = src->storage->device;
    if (dd.type == RX_CUDA && sd.type == RX_CUDA) {
        if (dd.index != sd.index) return copy_peer(dst, src);
        rx_cuda_ctx *ctx;
        RX_TRY(rx_cuda_enter(dd.index, &ctx));
        return copy_on_device(ctx, dst, src);
    }
    if (dd.type == RX_CUDA) return copy_host_to_device(dst, src);
    if (sd.type == RX_CUDA) return copy_device_to_host(dst, src);
    return rx_cpu_copy(dst, src);
}

/* ---- fill ----------------------------------------------------------------------------------- */

template <typename U> struct const_f {
    using out_type = U;
    U v;
    __device__ U operator()(U) const { return v; }
};

rx_status rx_cuda_fill(rx_tensor *t, double value)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(t->storage->device.index, &ctx));
    int64_t n = rx_tensor_numel(t), es = rx_dtype_size(t->dtype);
    if (n == 0) return RX_OK;
    unsigned char pattern[8] = {0};
    rx_store_double(pattern, t->dtype, value);
    bool one_byte = true;
    for (int64_t i = 1; i < es; i++) one_byte = one_byte && pattern[i] == pattern[0];
    if (one_byte && rx_tensor_is_contiguous(t))
        return RX_CUDA_STATUS(cudaMemsetAsync(rx_cuda_ptr(t), pattern[0], (size_t)(n * es), ctx->stream));
    /* out = pattern, with t as both operands (the input is never read) */
    return rx_cuda_dispatch_bits(es, [&](auto tag) {
        using U = typename decltype(tag)::type;
        U v;
        memcpy(&v, pattern, sizeof v);
        return rx_cuda_map1<U>(ctx, t, t, const_f<U>{v}, "launch of kernel fill");
    });
}
