/* nn_rope.c — CPU rotary position embeddings: the cos/sin tables and the rotation (rotate-half
 * layout of Hugging Face Llama) with its transpose for the backward.
 *
 * Owns: how table angles are rounded (an f32 product for f32 inverse frequencies, as Hugging
 * Face computes them, f64 otherwise; cos and sin are then evaluated in double), and the row loop
 * of the rotation over (B, H, T) rows of any strides.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>

rx_status rx_cpu_rope_tables(rx_tensor *cos_t, rx_tensor *sin_t, const rx_tensor *positions,
                             const rx_tensor *inv_freq)
{
    int64_t np = positions->shape[0], h = inv_freq->shape[0], d = 2 * h;
    rx_dtype dt = cos_t->dtype;
    const void *pp = rx_tensor_bytes(positions);
    const void *fp = rx_tensor_bytes(inv_freq);
    bool p64 = positions->dtype == RX_I64, f64 = inv_freq->dtype == RX_F64;
    char *cp = rx_tensor_bytes(cos_t), *sp = rx_tensor_bytes(sin_t);
#pragma omp parallel for schedule(static) if (np * d >= RX_PARALLEL_MIN)
    for (int64_t p = 0; p < np; p++) {
        int64_t pos = p64 ? ((const int64_t *)pp)[p] : ((const int32_t *)pp)[p];
        for (int64_t j = 0; j < h; j++) {
            double angle;
            if (f64) {
                angle = (double)pos * ((const double *)fp)[j];
            } else {
                float a32 = (float)pos * ((const float *)fp)[j];
                angle = a32;
            }
            double c = cos(angle), s = sin(angle);
            rx_nn_st(cp, p * d + j, dt, c);
            rx_nn_st(cp, p * d + j + h, dt, c);
            rx_nn_st(sp, p * d + j, dt, s);
            rx_nn_st(sp, p * d + j + h, dt, s);
        }
    }
    return RX_OK;
}

rx_status rx_cpu_rope(rx_tensor *out, const rx_tensor *x, const rx_tensor *cos_t, const rx_tensor *sin_t,
                      int transpose)
{
    int64_t b = x->shape[0], nh = x->shape[1], t = x->shape[2], d = x->shape[3], h = d / 2;
    int64_t xsb = x->stride[0], xsh = x->stride[1], xst = x->stride[2], xsd = x->stride[3];
    int64_t cb = cos_t->shape[0] == 1 ? 0 : t * d; /* table batch stride */
    rx_dtype dt = x->dtype;
    const char *xp = rx_tensor_bytes(x), *cp = rx_tensor_bytes(cos_t), *sp = rx_tensor_bytes(sin_t);
    char *op = rx_tensor_bytes(out);
    int64_t rows = b * nh * t;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * d >= RX_PARALLEL_MIN)
    for (int64_t row = 0; row < rows; row++) {
        int64_t ti = row % t, hi = (row / t) % nh, bi = row / (t * nh);
        int64_t xo = bi * xsb + hi * xsh + ti * xst, to = bi * cb + ti * d, oo = row * d;
        for (int64_t j = 0; j < h; j++) {
            double x1 = rx_nn_ld(xp, xo + j * xsd, dt), x2 = rx_nn_ld(xp, xo + (j + h) * xsd, dt);
            double c1 = rx_nn_ld(cp, to + j, dt), c2 = rx_nn_ld(cp, to + j + h, dt);
            double s1 = rx_nn_ld(sp, to + j, dt), s2 = rx_nn_ld(sp, to + j + h, dt);
            if (transpose) {
                rx_nn_st(op, oo + j, dt, x1 * c1 + x2 * s2);
                rx_nn_st(op, oo + j + h, dt, x2 * c2 - x1 * s1);
            } else {
                rx_nn_st(op, oo + j, dt, x1 * c1 - x2 * s1);
                rx_nn_st(op, oo + j + h, dt, x2 * c2 + x1 * s2);
            }
        }
    }
    return RX_OK;
}
