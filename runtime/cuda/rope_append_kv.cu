/* rope_append_kv.cu — CUDA kernel of rope_append_kv: the rotary embedding of the q and k heads of a
 * stacked (B, T, (H + 2G) D) projection, q written out and k, v appended to the KV caches, in one
 * launch (rope_append_kv of backend/backend.h).
 *
 * Owns: the one kernel. One grid-stride thread per pair (j, j + D/2) of one head of one token:
 * consecutive threads take consecutive j of a head, so qkv rows, q rows and cache rows (unit
 * stride on D) are read and written coalesced, and a warp of D = 64 works on exactly one head
 * (the branch between q, k and v heads does not diverge inside it). A q pair is rotated into q, a
 * k pair rotated into cache_k at position slot + t, a v pair copied into cache_v there. The
 * rotation is rope_kernel's (nn_rope.cu) expression for expression (loaded into double, one
 * rounding per output), so q and the cached keys equal the CUDA rope's results. The host never
 * reads the slot: every thread loads it (one word, the same for all) and checks it against
 * [0, L - T], so the launch can be captured into a CUDA graph and replayed after the slot was
 * rewritten on the device; out of range, the k and v threads write nothing (q is still written)
 * and nothing reports it (ops/ reports it only for CPU tensors). Index arithmetic runs in 32 bits
 * when the pair count allows (a decode step's few hundred pairs up to a long prefill), in 64
 * otherwise; element offsets are always 64-bit.
 */
#include "nn_common.cuh"

#include <limits.h>

struct rope_append_geom {
    int64_t t, heads, kv_heads, nh, h; /* tokens, q heads, kv heads, H + 2G, half the head dim */
    int64_t xsb, xst;                  /* qkv's batch and token strides (unit stride on the last dim) */
    int64_t tsb;                       /* the tables' batch stride; 0 when shared by the batch */
    int64_t ksb, ksg, ksl;             /* cache_k's batch, head and position strides */
    int64_t vsb, vsg, vsl;             /* cache_v's */
    int64_t max_slot;                  /* L - T */
};

template <typename T, typename S, typename I>
__global__ void rope_append_kv_kernel(T *q, T *cache_k, T *cache_v, const T *qkv, const T *cos_t,
                                      const T *sin_t, const S *slot, I pairs, rope_append_geom g)
{
    using C = double;
    const int64_t s = (int64_t)*slot;
    const bool append = s >= 0 && s <= g.max_slot;
    const I h = (I)g.h, nh = (I)g.nh, tn = (I)g.t;
    const int64_t d = 2 * g.h;
    for (I i = (I)rx_tid(); i < pairs; i += (I)rx_nthreads()) {
        I j = i % h, r = i / h;
        I hd = r % nh, n = r / nh;
        I ti = n % tn, bi = n / tn;
        const T *x = qkv + (int64_t)bi * g.xsb + (int64_t)ti * g.xst + (int64_t)hd * d;
        if ((int64_t)hd >= g.heads + g.kv_heads) { /* a v head: its bits, unchanged */
            if (append) {
                T *o = cache_v + (int64_t)bi * g.vsb + ((int64_t)hd - g.heads - g.kv_heads) * g.vsg +
                       (s + (int64_t)ti) * g.vsl;
                o[j] = x[j];
                o[j + h] = x[j + h];
            }
            continue;
        }
        T *o;
        if ((int64_t)hd < g.heads) {
            o = q + (((int64_t)bi * g.heads + (int64_t)hd) * g.t + (int64_t)ti) * d;
        } else {
            if (!append) continue;
            o = cache_k + (int64_t)bi * g.ksb + ((int64_t)hd - g.heads) * g.ksg + (s + (int64_t)ti) * g.ksl;
        }
        const int64_t to = (int64_t)bi * g.tsb + (int64_t)ti * d;
        C x1 = rx_to_c(x[j]), x2 = rx_to_c(x[j + h]);
        C c1 = rx_to_c(cos_t[to + j]), c2 = rx_to_c(cos_t[to + j + h]);
        C s1 = rx_to_c(sin_t[to + j]), s2 = rx_to_c(sin_t[to + j + h]);
        C o1, o2;
        o1 = x1 * c1 - x2 * s1;
        o2 = x2 * c2 + x1 * s2;
        o[j] = rx_store_from_double<T>(o1);
        o[j + h] = rx_store_from_double<T>(o2);
    }
}

rx_status rx_cuda_rope_append_kv(rx_tensor *q, rx_tensor *cache_k, rx_tensor *cache_v, const rx_tensor *qkv,
                                 const rx_tensor *cos_t, const rx_tensor *sin_t, const rx_tensor *slot,
                                 int64_t heads, int64_t kv_heads)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(q), &ctx));
    int64_t t = qkv->shape[1], d = cache_k->shape[3];
    rope_append_geom g = {t,
                          heads,
                          kv_heads,
                          heads + 2 * kv_heads,
                          d / 2,
                          qkv->stride[0],
                          qkv->stride[1],
                          cos_t->shape[0] == 1 ? 0 : t * d,
                          cache_k->stride[0],
                          cache_k->stride[1],
                          cache_k->stride[2],
                          cache_v->stride[0],
                          cache_v->stride[1],
                          cache_v->stride[2],
                          cache_k->shape[2] - t};
    int64_t pairs = qkv->shape[0] * t * g.nh * g.h;
    if (pairs == 0) return RX_OK;
    unsigned blocks = rx_cuda_blocks(pairs, RX_CUDA_THREADS, ctx);
    /* 32-bit indices when i + the grid's thread count stays below 2^32 */
    bool narrow = pairs <= INT_MAX;
    bool wide_slot = slot->dtype == RX_I64;
    return rx_nn_dispatch_float(qkv->dtype, "rope_append_kv", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        T *qp = (T *)rx_cuda_ptr(q), *kp = (T *)rx_cuda_ptr(cache_k), *vp = (T *)rx_cuda_ptr(cache_v);
        const T *xp = (const T *)rx_cuda_ptr(qkv), *cp = (const T *)rx_cuda_ptr(cos_t);
        const T *sp = (const T *)rx_cuda_ptr(sin_t);
        const void *slp = rx_cuda_ptr(slot);
        auto launch = [&](auto slot_tag, auto index_tag) {
            using S = typename decltype(slot_tag)::type;
            using I = typename decltype(index_tag)::type;
            rope_append_kv_kernel<T, S, I><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
                qp, kp, vp, xp, cp, sp, (const S *)slp, (I)pairs, g);
        };
        if (wide_slot && narrow)
            launch(rx_type_tag<int64_t>{}, rx_type_tag<uint32_t>{});
        else if (wide_slot)
            launch(rx_type_tag<int64_t>{}, rx_type_tag<int64_t>{});
        else if (narrow)
            launch(rx_type_tag<int32_t>{}, rx_type_tag<uint32_t>{});
        else
            launch(rx_type_tag<int32_t>{}, rx_type_tag<int64_t>{});
        return RX_CUDA_LAUNCH_STATUS("rope_append_kv");
    });
}
