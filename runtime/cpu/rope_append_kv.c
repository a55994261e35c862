/* rope_append_kv.c — CPU kernel of rope_append_kv: the rotary embedding of the q and k heads of a
 * stacked (B, T, (H + 2G) D) projection, q written out and k, v appended to the KV caches.
 *
 * Owns: the row loop over the (B, T, H + 2G) head rows of qkv (one row a head of one token): a q
 * row is rotated into q (B, H, T, D), a k row into cache_k at position slot + t, a v row copied
 * as bytes into cache_v there. The rotation is rope's (cpu/nn_rope.c) operation for operation
 * (each output one double expression of the loaded values, rounded once to the dtype), so q and
 * the cached keys equal rope's results bit for bit. A slot out of range writes neither cache, as
 * the backend contract says (ops/ has already reported it).
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <string.h>

rx_status rx_cpu_rope_append_kv(rx_tensor *q, rx_tensor *cache_k, rx_tensor *cache_v, const rx_tensor *qkv,
                                const rx_tensor *cos_t, const rx_tensor *sin_t, const rx_tensor *slot,
                                int64_t heads, int64_t kv_heads)
{
    int64_t b = qkv->shape[0], t = qkv->shape[1], l = cache_k->shape[2], d = cache_k->shape[3], h = d / 2;
    int64_t nh = heads + 2 * kv_heads, rows = b * t * nh;
    int64_t s = rx_tensor_index_value(slot);
    bool append = s >= 0 && s <= l - t;
    rx_dtype dt = qkv->dtype;
    int64_t es = rx_dtype_size(dt);
    int64_t xsb = qkv->stride[0], xst = qkv->stride[1];
    const int64_t *ks = cache_k->stride, *vs = cache_v->stride;
    int64_t cb = cos_t->shape[0] == 1 ? 0 : t * d; /* table batch stride */
    const char *xp = rx_tensor_bytes(qkv), *cp = rx_tensor_bytes(cos_t), *sp = rx_tensor_bytes(sin_t);
    char *qp = rx_tensor_bytes(q), *kp = rx_tensor_bytes(cache_k), *vp = rx_tensor_bytes(cache_v);
#pragma omp parallel for schedule(static) if (rows > 1 && rows * d >= RX_PARALLEL_MIN)
    for (int64_t row = 0; row < rows; row++) {
        int64_t hd = row % nh, n = row / nh, ti = n % t, bi = n / t;
        int64_t xo = bi * xsb + ti * xst + hd * d;
        if (hd >= heads + kv_heads) { /* a v head: its bits, unchanged */
            if (!append) continue;
            int64_t vo = bi * vs[0] + (hd - heads - kv_heads) * vs[1] + (s + ti) * vs[2];
            memcpy(vp + vo * es, xp + xo * es, (size_t)(d * es));
            continue;
        }
        char *op;
        int64_t oo;
        if (hd < heads) {
            op = qp;
            oo = ((bi * heads + hd) * t + ti) * d;
        } else {
            if (!append) continue;
            op = kp;
            oo = bi * ks[0] + (hd - heads) * ks[1] + (s + ti) * ks[2];
        }
        int64_t to = bi * cb + ti * d;
        for (int64_t j = 0; j < h; j++) {
            double x1 = rx_nn_ld(xp, xo + j, dt), x2 = rx_nn_ld(xp, xo + j + h, dt);
            double c1 = rx_nn_ld(cp, to + j, dt), c2 = rx_nn_ld(cp, to + j + h, dt);
            double s1 = rx_nn_ld(sp, to + j, dt), s2 = rx_nn_ld(sp, to + j + h, dt);
            rx_nn_st(op, oo + j, dt, x1 * c1 - x2 * s1);
            rx_nn_st(op, oo + j + h, dt, x2 * c2 + x1 * s2);
        }
    }
    return RX_OK;
}
