/* copy_fill.cu — CUDA copies (on a device, between devices, to and from host memory) and fill.
 *
 * Owns: every transfer that touches CUDA memory.
 * - On one device: dense same-dtype copies are one cudaMemcpyAsync; other same-dtype copies move
 *   bits through the strided iterator; f32 <-> f16/bf16 convert directly (16-byte accesses when
 *   dense); every other dtype pair goes through double exactly like rx_load_double /
 *   rx_store_double, so a cast gives the CPU's bits.
 * - Host -> device: the source's bytes (a non-contiguous source packed first) go to the device in
 *   one cudaMemcpyAsync, straight into a contiguous destination of the source's dtype, else into
 *   a device staging buffer that the on-device copy then converts and scatters.
 *   Small copies (at most H2D_MAX_BYTES of source) do not wait for the device: the host bytes
 *   are first copied into a pinned staging ring of the device (H2D_RING_BYTES, cudaHostAlloc'd
 *   on first use and kept for the process, like the device's stream: recx has no context
 *   teardown) and the cudaMemcpyAsync reads the ring. This is safe because (1) the caller's
 *   buffer is never read after the memcpy into the ring, so it may be freed or overwritten as
 *   soon as the call returns; (2) every later kernel or copy of the device is queued on the same
 *   stream, so it runs after the transfer has landed; (3) each copy's bytes of the ring carry a
 *   cudaEvent recorded after its cudaMemcpyAsync, and the host waits on the events of the
 *   copies whose bytes it is about to overwrite (the oldest first) before reusing them. Larger
 *   copies, and copies made when the pinned ring could not be allocated, wait for the stream
 *   (the host bytes are pageable, so the copy may read them after cudaMemcpyAsync returns).
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

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- the pinned staging ring of small host -> device copies ---------------------------------- */

#define H2D_RING_BYTES ((int64_t)16 << 20) /* pinned bytes per device */
#define H2D_MAX_BYTES ((int64_t)4 << 20)   /* larger copies take the synchronous path */
#define H2D_SLOTS 64                       /* copies in flight at most (one event each) */
#define H2D_ALIGN 256                      /* every copy starts on this boundary */

/* One copy in flight: bytes [off, off + len) of the ring, read by a cudaMemcpyAsync before `done`. */
struct h2d_slot {
    int64_t off, len;
    cudaEvent_t done;
};

/* Live slots are slot[(first + k) % H2D_SLOTS] for k < count, oldest first; their byte ranges
 * follow one another around the ring from the oldest to `head`. */
struct h2d_ring {
    int state; /* 0: not made yet, 1: ready, -1: no pinned memory here (synchronous path) */
    char *buf;
    int64_t head; /* where the next copy would start */
    int first, count;
    h2d_slot slot[H2D_SLOTS];
};

static h2d_ring rings[RX_CUDA_MAX_DEVICES];
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

/* Makes the ring of the current device (ctx); on failure the ring is marked unusable and the
 * error cleared, so copies fall back to the synchronous path. Under ring_lock. */
static void ring_make(h2d_ring *r)
{
    void *buf = NULL;
    int made = 0;
    bool ok = cudaHostAlloc(&buf, (size_t)H2D_RING_BYTES, cudaHostAllocPortable) == cudaSuccess;
    for (; ok && made < H2D_SLOTS; made++)
        ok = cudaEventCreateWithFlags(&r->slot[made].done, cudaEventDisableTiming) == cudaSuccess;
    if (!ok) {
        cudaGetLastError(); /* not sticky: the synchronous path still works */
        for (int i = 0; i < made; i++) cudaEventDestroy(r->slot[i].done);
        if (buf) cudaFreeHost(buf);
        r->state = -1;
        return;
    }
    r->buf = (char *)buf;
    r->head = r->first = r->count = 0;
    r->state = 1;
}

static void ring_pop(h2d_ring *r)
{
    r->first = (r->first + 1) % H2D_SLOTS;
    r->count--;
}

/* Whether a live copy still reads some byte of [off, off + len). */
static bool ring_overlaps(const h2d_ring *r, int64_t off, int64_t len)
{
    for (int k = 0; k < r->count; k++) {
        const h2d_slot *sl = &r->slot[(r->first + k) % H2D_SLOTS];
        if (off < sl->off + sl->len && sl->off < off + len) return true;
    }
    return false;
}

/* Reserves len bytes of the ring as the newest slot (*slot), waiting on the events of the oldest
 * copies while the slots are all taken or a live copy still reads those bytes. Under ring_lock. */
static rx_status ring_reserve(h2d_ring *r, int64_t len, h2d_slot **slot)
{
    len = (len + H2D_ALIGN - 1) / H2D_ALIGN * H2D_ALIGN;
    while (r->count > 0) { /* retire the copies that have landed, without waiting */
        cudaError_t q = cudaEventQuery(r->slot[r->first].done);
        if (q == cudaErrorNotReady) {
            cudaGetLastError();
            break;
        }
        if (q != cudaSuccess) return RX_CUDA_STATUS(q);
        ring_pop(r);
    }
    int64_t off = r->head + len <= H2D_RING_BYTES ? r->head : 0;
    while (r->count == H2D_SLOTS || ring_overlaps(r, off, len)) {
        RX_CUDA_CHECK(cudaEventSynchronize(r->slot[r->first].done));
        ring_pop(r);
    }
    h2d_slot *sl = &r->slot[(r->first + r->count) % H2D_SLOTS];
    sl->off = off;
    sl->len = len;
    r->count++;
    r->head = off + len;
    *slot = sl;
    return RX_OK;
}

/* dst (on ctx's device) = src (host, `bytes` bytes of its dtype) through the ring. *used = false
 * when the device has no ring (the caller takes the synchronous path); otherwise the copy is
 * queued and the call returns without waiting for the device. */
static rx_status copy_host_to_device_ring(rx_cuda_ctx *ctx, rx_tensor *dst, const rx_tensor *src, int64_t bytes,
                                          bool *used)
{
    *used = false;
    h2d_ring *r = &rings[ctx->device];
    pthread_mutex_lock(&ring_lock);
    if (r->state == 0) ring_make(r);
    if (r->state < 0) {
        pthread_mutex_unlock(&ring_lock);
        return RX_OK;
    }
    *used = true;
    h2d_slot *sl = NULL;
    rx_status s = ring_reserve(r, bytes, &sl);
    if (s != RX_OK) {
        pthread_mutex_unlock(&ring_lock);
        return s;
    }
    char *pinned = r->buf + sl->off;
    if (rx_tensor_is_contiguous(src)) {
        memcpy(pinned, rx_cuda_ptr(src), (size_t)bytes);
    } else {
        rx_cuda_temp h;
        s = rx_cpu_copy(rx_cuda_temp_tensor(&h, pinned, rx_cpu(), src->ndim, src->shape, src->dtype), src);
    }
    bool queued = false;
    if (s == RX_OK && rx_tensor_is_contiguous(dst) && dst->dtype == src->dtype) {
        s = RX_CUDA_STATUS(cudaMemcpyAsync(rx_cuda_ptr(dst), pinned, (size_t)bytes, cudaMemcpyHostToDevice, ctx->stream));
        queued = s == RX_OK;
    } else if (s == RX_OK) {
        /* the device staging block may go back to the cache at once: later users of the block
         * are queued on this stream after the conversion that reads it */
        void *staging = NULL;
        s = rx_cuda_alloc(bytes, ctx->device, &staging);
        if (s == RX_OK) {
            s = RX_CUDA_STATUS(cudaMemcpyAsync(staging, pinned, (size_t)bytes, cudaMemcpyHostToDevice, ctx->stream));
            queued = s == RX_OK;
        }
        if (s == RX_OK) {
            rx_cuda_temp h;
            s = copy_on_device(ctx, dst, rx_cuda_temp_tensor(&h, staging, dst->storage->device, src->ndim, src->shape, src->dtype));
        }
        if (staging) rx_cuda_free(staging, bytes, ctx->device);
    }
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaEventRecord(sl->done, ctx->stream));
    if (s != RX_OK) {
        /* the newest slot is given back; a transfer already queued must land before its bytes
         * can be reused (the first error is the one reported) */
        if (queued && cudaStreamSynchronize(ctx->stream) != cudaSuccess) cudaGetLastError();
        r->count--;
        r->head = sl->off;
    }
    pthread_mutex_unlock(&ring_lock);
    return s;
}

/* ---- host <-> device ------------------------------------------------------------------------ */

static rx_status copy_host_to_device(rx_tensor *dst, const rx_tensor *src)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(dst->storage->device.index, &ctx));
    int64_t n = rx_tensor_numel(dst);
    if (n == 0) return RX_OK;
    int64_t bytes = n * rx_dtype_size(src->dtype);
    if (bytes <= H2D_MAX_BYTES) {
        bool used;
        rx_status rs = copy_host_to_device_ring(ctx, dst, src, bytes, &used);
        if (used) return rs;
    }
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
        if (dd.index != sd.index) {
            RX_TRY(rx_cuda_refuse_in_capture(dd.index, "a copy between two devices"));
            RX_TRY(rx_cuda_refuse_in_capture(sd.index, "a copy between two devices"));
            return copy_peer(dst, src);
        }
        rx_cuda_ctx *ctx;
        RX_TRY(rx_cuda_enter(dd.index, &ctx));
        return copy_on_device(ctx, dst, src);
    }
    if (dd.type == RX_CUDA) {
        RX_TRY(rx_cuda_refuse_in_capture(dd.index, "a host-to-device copy"));
        return copy_host_to_device(dst, src);
    }
    if (sd.type == RX_CUDA) {
        RX_TRY(rx_cuda_refuse_in_capture(sd.index, "a device-to-host copy (reading a tensor on the host)"));
        RX_TRY(copy_device_to_host(dst, src));
        return rx_cuda_poll_id_errors(sd.index); /* the copy waited for every queued kernel */
    }
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
