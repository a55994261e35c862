/* nn_pointwise.c — CPU elementwise nn kernels: SwiGLU (forward and backward) and dropout.
 *
 * Owns: the SwiGLU derivative (d silu(a)/da = s (1 + a (1 - s)), s = sigmoid(a), with the
 * sigmoid written so that exp never overflows and evaluated at the dtype's precision), dropout's
 * mask (element i is dropped when Philox counter offset + i gives a bernoulli(p) one, see
 * core/philox.h, so the backward, which is the same kernel applied to the gradient, regenerates
 * exactly the forward's mask; the words come a block at a time from philox_vec.h, f32 is scaled
 * without a double buffer), and the blocking: elements are processed in blocks of BLOCK. f32
 * stays in f32 (rx_vsigmoidf of vexp.h, loops the compiler vectorises); the other dtypes are
 * converted to per-thread double buffers (f64 with exp, f16/bf16 with expf). Every element is a
 * pure function of its inputs, so results do not depend on the thread count.
 */
#include "cpu_kernels.h"
#include "philox_vec.h"
#include "strided.h"
#include "vexp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK RX_CPU_SWIGLU_BLOCK

static inline double sigmoid(double a, rx_dtype dt)
{
    if (a >= 0) return 1.0 / (1.0 + rx_nn_exp(-a, dt));
    double e = rx_nn_exp(a, dt);
    return e / (1.0 + e);
}

/* out = a sigmoid(a) u over n f32 values. */
RX_VEC_CLONES static void swiglu_f32(float *out, const float *a, const float *u, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = a[i] * rx_vsigmoidf(a[i]) * u[i];
}

/* dgate = g u s (1 + a (1 - s)) and dup = g a s with s = sigmoid(a), over n f32 values; either
 * output may be NULL. */
RX_VEC_CLONES static void swiglu_bwd_f32(float *dgate, float *dup, const float *g, const float *a, const float *u,
                                         int64_t n)
{
    if (dgate && dup) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float s = rx_vsigmoidf(a[i]), gs = g[i] * s;
            dgate[i] = gs * u[i] * (1.0f + a[i] * (1.0f - s));
            dup[i] = gs * a[i];
        }
    } else if (dgate) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float s = rx_vsigmoidf(a[i]);
            dgate[i] = g[i] * s * u[i] * (1.0f + a[i] * (1.0f - s));
        }
    } else if (dup) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) dup[i] = g[i] * rx_vsigmoidf(a[i]) * a[i];
    }
}

void rx_cpu_swiglu_block(rx_dtype dt, char *out, const char *gate, const char *up, int64_t len, double *a,
                         double *u)
{
    if (dt == RX_F32) {
        swiglu_f32((float *)out, (const float *)gate, (const float *)up, len);
        return;
    }
    rx_nn_load(gate, dt, len, a);
    rx_nn_load(up, dt, len, u);
    for (int64_t i = 0; i < len; i++) a[i] = a[i] * sigmoid(a[i], dt) * u[i];
    rx_nn_store(out, dt, len, a);
}

rx_status rx_cpu_swiglu(rx_tensor *out, const rx_tensor *gate, const rx_tensor *up)
{
    int64_t n = rx_tensor_numel(out), nb = (n + BLOCK - 1) / BLOCK, es = rx_dtype_size(out->dtype);
    rx_dtype dt = out->dtype;
    const char *gp = rx_tensor_bytes(gate), *upp = rx_tensor_bytes(up);
    char *op = rx_tensor_bytes(out);
    if (dt == RX_F32) {
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t off = blk * BLOCK, len = n - off < BLOCK ? n - off : BLOCK;
            swiglu_f32((float *)op + off, (const float *)gp + off, (const float *)upp + off, len);
        }
        return RX_OK;
    }
    double *scratch = rx_nn_scratch_new("swiglu", 2 * BLOCK);
    if (!scratch) return RX_ERR_NOMEM;
#pragma omp parallel if (n >= RX_PARALLEL_MIN)
    {
        double *a = rx_nn_thread_scratch(scratch, 2 * BLOCK), *u = a + BLOCK;
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t off = blk * BLOCK, len = n - off < BLOCK ? n - off : BLOCK;
            rx_cpu_swiglu_block(dt, op + off * es, gp + off * es, upp + off * es, len, a, u);
        }
    }
    free(scratch);
    return RX_OK;
}

rx_status rx_cpu_swiglu_bwd(rx_tensor *dgate, rx_tensor *dup, const rx_tensor *g, const rx_tensor *gate,
                            const rx_tensor *up)
{
    int64_t n = rx_tensor_numel(g), nb = (n + BLOCK - 1) / BLOCK, es = rx_dtype_size(g->dtype);
    rx_dtype dt = g->dtype;
    const char *gp = rx_tensor_bytes(g), *ap = rx_tensor_bytes(gate), *upp = rx_tensor_bytes(up);
    char *dgp = dgate ? rx_tensor_bytes(dgate) : NULL, *dup_ = dup ? rx_tensor_bytes(dup) : NULL;
    if (dt == RX_F32) {
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t off = blk * BLOCK, len = n - off < BLOCK ? n - off : BLOCK;
            swiglu_bwd_f32(dgp ? (float *)dgp + off : NULL, dup_ ? (float *)dup_ + off : NULL, (const float *)gp + off,
                           (const float *)ap + off, (const float *)upp + off, len);
        }
        return RX_OK;
    }
    double *scratch = rx_nn_scratch_new("swiglu backward", 3 * BLOCK);
    if (!scratch) return RX_ERR_NOMEM;
#pragma omp parallel if (n >= RX_PARALLEL_MIN)
    {
        double *gb = rx_nn_thread_scratch(scratch, 3 * BLOCK), *a = gb + BLOCK, *u = a + BLOCK;
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t off = blk * BLOCK, len = n - off < BLOCK ? n - off : BLOCK;
            rx_nn_load(gp + off * es, dt, len, gb);
            rx_nn_load(ap + off * es, dt, len, a);
            rx_nn_load(upp + off * es, dt, len, u);
            for (int64_t i = 0; i < len; i++) { /* a <- dgate, u <- dup */
                double s = sigmoid(a[i], dt), gi = gb[i], ai = a[i];
                a[i] = gi * u[i] * s * (1.0 + ai * (1.0 - s));
                u[i] = gi * ai * s;
            }
            if (dgp) rx_nn_store(dgp + off * es, dt, len, a);
            if (dup_) rx_nn_store(dup_ + off * es, dt, len, u);
        }
    }
    free(scratch);
    return RX_OK;
}

rx_status rx_cpu_dropout(rx_tensor *out, const rx_tensor *x, double p, uint64_t seed, uint64_t offset)
{
    int64_t n = rx_tensor_numel(out), nb = (n + BLOCK - 1) / BLOCK, es = rx_dtype_size(out->dtype);
    rx_dtype dt = out->dtype;
    const char *xp = rx_tensor_bytes(x);
    char *op = rx_tensor_bytes(out);
    double scale = 1.0 / (1.0 - p);
    uint32_t thr = rx_cpu_bernoulli_threshold(p);
    double *scratch = dt == RX_F32 ? NULL : rx_nn_scratch_new("dropout", BLOCK);
    if (dt != RX_F32 && !scratch) return RX_ERR_NOMEM;
#pragma omp parallel if (n >= RX_PARALLEL_MIN / 4)
    {
        double *v = scratch ? rx_nn_thread_scratch(scratch, BLOCK) : NULL;
        uint32_t r0[BLOCK];
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t off = blk * BLOCK, len = n - off < BLOCK ? n - off : BLOCK;
            rx_cpu_philox_words(seed, offset + (uint64_t)off, len, r0, NULL);
            if (dt == RX_F32) {
                rx_cpu_dropout_apply_f32((float *)op + off, (const float *)xp + off, r0, len, thr, scale);
                continue;
            }
            rx_nn_load(xp + off * es, dt, len, v);
            for (int64_t i = 0; i < len; i++) v[i] = (r0[i] >> 8) < thr ? 0.0 : v[i] * scale;
            rx_nn_store(op + off * es, dt, len, v);
        }
    }
    free(scratch);
    return RX_OK;
}
