/* nn_rope.cu — CUDA rotary position embeddings: the cos/sin tables and the rotation in the
 * rotate-half layout with its transpose for the backward (rope_tables and rope of
 * backend/backend.h).
 *
 * Owns: the CPU's rounding of table angles on the device (an f32 product, the position rounded
 * to f32, for f32 inverse frequencies; f64 otherwise; cos and sin then evaluated in f64 and
 * rounded to the tables' dtype), and the rotation of (B, H, T, D) rows of any strides: one thread
 * per (row, j < D/2) pair computes out[j] and out[j + D/2] in double and rounds them once, as the
 * CPU does (the kernel is memory-bound, so the f64 arithmetic costs nothing). Consecutive threads take consecutive j, so rows with a unit D
 * stride are read and written coalesced.
 */
#include "nn_common.cuh"

template <typename T, typename PT, typename FT>
__global__ void rope_tables_kernel(T *cos_t, T *sin_t, const PT *pos, const FT *inv_freq, int64_t np, int64_t h)
{
    int64_t d = 2 * h;
    for (int64_t i = rx_tid(); i < np * h; i += rx_nthreads()) {
        int64_t p = i / h, j = i % h;
        double angle;
        if constexpr (sizeof(FT) == 8)
            angle = (double)pos[p] * inv_freq[j];
        else
            angle = (double)__fmul_rn((float)pos[p], inv_freq[j]);
        double c = cos(angle), s = sin(angle);
        T cv = rx_store_from_double<T>(c), sv = rx_store_from_double<T>(s);
        cos_t[p * d + j] = cv;
        cos_t[p * d + j + h] = cv;
        sin_t[p * d + j] = sv;
        sin_t[p * d + j + h] = sv;
    }
}

rx_status rx_cuda_rope_tables(rx_tensor *cos_t, rx_tensor *sin_t, const rx_tensor *positions, const rx_tensor *inv_freq)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(cos_t), &ctx));
    int64_t np = positions->shape[0], h = inv_freq->shape[0];
    if (np == 0 || h == 0) return RX_OK;
    bool p64 = positions->dtype == RX_I64, f64 = inv_freq->dtype == RX_F64;
    unsigned blocks = rx_cuda_blocks(np * h, RX_CUDA_THREADS, ctx);
    return rx_nn_dispatch_float(cos_t->dtype, "rope_tables", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        T *c = (T *)rx_cuda_ptr(cos_t), *s = (T *)rx_cuda_ptr(sin_t);
        const void *pp = rx_cuda_ptr(positions), *fp = rx_cuda_ptr(inv_freq);
        if (p64 && f64)
            rope_tables_kernel<<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(c, s, (const int64_t *)pp, (const double *)fp, np, h);
        else if (p64)
            rope_tables_kernel<<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(c, s, (const int64_t *)pp, (const float *)fp, np, h);
        else if (f64)
            rope_tables_kernel<<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(c, s, (const int32_t *)pp, (const double *)fp, np, h);
        else
            rope_tables_kernel<<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(c, s, (const int32_t *)pp, (const float *)fp, np, h);
        return RX_CUDA_LAUNCH_STATUS("rope_tables");
    });
}

struct rope_geom {
    int64_t nh, t, h;           /* heads, positions, half the head dim */
    int64_t sb, sh, st, sd;     /* x's strides */
    int64_t table_batch_stride; /* 0 when the tables are shared by the batch */
};

template <typename T>
__global__ void rope_kernel(T *out, const T *x, const T *cos_t, const T *sin_t, int64_t pairs, rope_geom g, int transpose)
{
    using C = double;
    int64_t d = 2 * g.h;
    for (int64_t i = rx_tid(); i < pairs; i += rx_nthreads()) {
        int64_t row = i / g.h, j = i % g.h;
        int64_t ti = row % g.t, hi = (row / g.t) % g.nh, bi = row / (g.t * g.nh);
        int64_t xo = bi * g.sb + hi * g.sh + ti * g.st, to = bi * g.table_batch_stride + ti * d, oo = row * d;
        C x1 = rx_to_c(x[xo + j * g.sd]), x2 = rx_to_c(x[xo + (j + g.h) * g.sd]);
        C c1 = rx_to_c(cos_t[to + j]), c2 = rx_to_c(cos_t[to + j + g.h]);
        C s1 = rx_to_c(sin_t[to + j]), s2 = rx_to_c(sin_t[to + j + g.h]);
        C o1, o2;
        if (transpose) {
            o1 = x1 * c1 + x2 * s2;
            o2 = x2 * c2 - x1 * s1;
        } else {
            o1 = x1 * c1 - x2 * s1;
            o2 = x2 * c2 + x1 * s2;
        }
        out[oo + j] = rx_store_from_double<T>(o1);
        out[oo + j + g.h] = rx_store_from_double<T>(o2);
    }
}

rx_status rx_cuda_rope(rx_tensor *out, const rx_tensor *x, const rx_tensor *cos_t, const rx_tensor *sin_t, int transpose)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(out), &ctx));
    rope_geom g = {x->shape[1], x->shape[2], x->shape[3] / 2, x->stride[0], x->stride[1], x->stride[2], x->stride[3],
                   cos_t->shape[0] == 1 ? 0 : x->shape[2] * x->shape[3]};
    int64_t pairs = x->shape[0] * x->shape[1] * x->shape[2] * g.h;
    if (pairs == 0) return RX_OK;
    unsigned blocks = rx_cuda_blocks(pairs, RX_CUDA_THREADS, ctx);
    return rx_nn_dispatch_float(x->dtype, "rope", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        rope_kernel<T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>((T *)rx_cuda_ptr(out), (const T *)rx_cuda_ptr(x),
                                                                     (const T *)rx_cuda_ptr(cos_t),
                                                                     (const T *)rx_cuda_ptr(sin_t), pairs, g, transpose);
        return RX_CUDA_LAUNCH_STATUS("rope");
    });
}
