/* nn_pointwise.c — CPU elementwise nn kernels: SwiGLU (forward and backward) and dropout.
 *
 * Owns: the SwiGLU derivative (d silu(a)/da = s (1 + a (1 - s)), s = sigmoid(a), with the
 * sigmoid written so that it never overflows), and dropout's mask: element i is dropped when
 * Philox counter offset + i gives a bernoulli(p) one (core/philox.h), so the backward, which is
 * the same kernel applied to the gradient, regenerates exactly the forward's mask.
 */
#include "cpu_kernels.h"
#include "strided.h"
#include "../core/philox.h"

#include <math.h>

static inline double sigmoid(double a)
{
    if (a >= 0) return 1.0 / (1.0 + exp(-a));
    double e = exp(a);
    return e / (1.0 + e);
}

rx_status rx_cpu_swiglu(rx_tensor *out, const rx_tensor *gate, const rx_tensor *up)
{
    int64_t n = rx_tensor_numel(out);
    rx_dtype dt = out->dtype;
    const char *gp = rx_tensor_bytes(gate), *up_ = rx_tensor_bytes(up);
    char *op = rx_tensor_bytes(out);
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        double a = rx_nn_ld(gp, i, dt);
        rx_nn_st(op, i, dt, a * sigmoid(a) * rx_nn_ld(up_, i, dt));
    }
    return RX_OK;
}

rx_status rx_cpu_swiglu_bwd(rx_tensor *dgate, rx_tensor *dup, const rx_tensor *g, const rx_tensor *gate,
                            const rx_tensor *up)
{
    int64_t n = rx_tensor_numel(g);
    rx_dtype dt = g->dtype;
    const char *gp = rx_tensor_bytes(g), *ap = rx_tensor_bytes(gate), *up_ = rx_tensor_bytes(up);
    char *dgp = dgate ? rx_tensor_bytes(dgate) : NULL, *dup_ = dup ? rx_tensor_bytes(dup) : NULL;
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        double gi = rx_nn_ld(gp, i, dt), a = rx_nn_ld(ap, i, dt), s = sigmoid(a);
        if (dgp) rx_nn_st(dgp, i, dt, gi * rx_nn_ld(up_, i, dt) * s * (1.0 + a * (1.0 - s)));
        if (dup_) rx_nn_st(dup_, i, dt, gi * a * s);
    }
    return RX_OK;
}

rx_status rx_cpu_dropout(rx_tensor *out, const rx_tensor *x, double p, uint64_t seed, uint64_t offset)
{
    int64_t n = rx_tensor_numel(out);
    rx_dtype dt = out->dtype;
    const char *xp = rx_tensor_bytes(x);
    char *op = rx_tensor_bytes(out);
    double scale = 1.0 / (1.0 - p);
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        bool drop = rx_philox_bernoulli(rx_philox4x32_10(offset + (uint64_t)i, seed), p);
        rx_nn_st(op, i, dt, drop ? 0.0 : rx_nn_ld(xp, i, dt) * scale);
    }
    return RX_OK;
}
