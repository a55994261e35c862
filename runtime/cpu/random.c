/* random.c — the CPU random kernel: fills a contiguous tensor with Philox draws.
 *
 * Owns: the per-dtype loops; element i uses counter offset + i under key seed and the value
 * mapping of core/philox.h (uniform bits by dtype: f64 53, f32 24, f16 11, bf16 8), so the
 * result does not depend on the number of threads and matches every other device. The words come
 * BLOCK elements at a time from the vectorised generator of philox_vec.h; f32 and f64 uniform and
 * bernoulli draws are stored by plain loops (bernoulli as the integer test of
 * rx_cpu_bernoulli_threshold), the other kinds and dtypes through rx_store_double as before, with
 * the same double arithmetic, so every value is the one the scalar mapping gives.
 */
#include "cpu_kernels.h"
#include "philox_vec.h"
#include "strided.h"
#include "../core/philox.h"

#define BLOCK 1024

/* Uniform bits of a float dtype: exactly representable values k * 2^-bits in [0, 1). */
static int uniform_bits(rx_dtype dt)
{
    switch (dt) {
    case RX_F16: return 11;
    case RX_BF16: return 8;
    default: return 24;
    }
}

/* Whether a kind reads word r1 as well as r0 (f64 uniform, normal, randint). */
static bool needs_r1(int kind, rx_dtype dt)
{
    return kind == RX_RANDOM_NORMAL || kind == RX_RANDOM_RANDINT ||
           (kind == RX_RANDOM_UNIFORM && dt == RX_F64);
}

/* The len draws of one block starting at element `first`, from their words r0 and r1. */
static void fill_block(int kind, char *base, rx_dtype dt, int64_t first, int64_t len, const uint32_t *r0,
                       const uint32_t *r1, double p0, double p1)
{
    int64_t es = rx_dtype_size(dt);
    char *blk = base + first * es;
    if (kind == RX_RANDOM_UNIFORM) {
        double span = p1 - p0;
        if (dt == RX_F64) {
            double *o = (double *)blk;
            for (int64_t i = 0; i < len; i++) {
                rx_philox_out w = {{r0[i], r1[i], 0, 0}};
                o[i] = p0 + span * rx_philox_uniform_f64(w);
            }
        } else if (dt == RX_F32) {
            float *o = (float *)blk;
            for (int64_t i = 0; i < len; i++) o[i] = (float)(p0 + span * ((double)(r0[i] >> 8) * 0x1p-24));
        } else {
            int bits = uniform_bits(dt);
            double unit = 1.0 / (double)((uint64_t)1 << bits);
            for (int64_t i = 0; i < len; i++)
                rx_store_double(blk + i * es, dt, p0 + span * ((double)(r0[i] >> (32 - bits)) * unit));
        }
        return;
    }
    if (kind == RX_RANDOM_BERNOULLI) {
        uint32_t t = rx_cpu_bernoulli_threshold(p0);
        if (dt == RX_F32) {
            float *o = (float *)blk;
            for (int64_t i = 0; i < len; i++) o[i] = (r0[i] >> 8) < t ? 1.0f : 0.0f;
        } else if (dt == RX_F64) {
            double *o = (double *)blk;
            for (int64_t i = 0; i < len; i++) o[i] = (r0[i] >> 8) < t ? 1.0 : 0.0;
        } else {
            for (int64_t i = 0; i < len; i++) rx_store_double(blk + i * es, dt, (r0[i] >> 8) < t ? 1.0 : 0.0);
        }
        return;
    }
    int64_t low = (int64_t)p0, high = (int64_t)p1;
    for (int64_t i = 0; i < len; i++) {
        rx_philox_out w = {{r0[i], r1 ? r1[i] : 0, 0, 0}};
        char *p = blk + i * es;
        switch (kind) {
        case RX_RANDOM_NORMAL: rx_store_double(p, dt, p0 + p1 * rx_philox_normal(w)); break;
        case RX_RANDOM_RANDINT: {
            int64_t v = rx_philox_randint(w, low, high);
            if (dt == RX_I64)
                *(int64_t *)p = v;
            else if (dt == RX_I32)
                *(int32_t *)p = (int32_t)v;
            else
                rx_store_double(p, dt, (double)v);
            break;
        }
        default: /* RX_RANDOM_BERNOULLI_P */
            rx_store_double(p, dt, rx_philox_bernoulli(w, rx_load_double(p, dt)) ? 1.0 : 0.0);
            break;
        }
    }
}

rx_status rx_cpu_random(int kind, rx_tensor *out, uint64_t seed, uint64_t offset, double p0, double p1)
{
    int64_t n = rx_tensor_numel(out), nb = (n + BLOCK - 1) / BLOCK;
    rx_dtype dt = out->dtype;
    char *base = rx_tensor_bytes(out);
    bool fl = rx_dtype_is_float(dt);
    if ((kind == RX_RANDOM_UNIFORM || kind == RX_RANDOM_NORMAL || kind == RX_RANDOM_BERNOULLI_P) && !fl)
        return rx_fail(RX_ERR_DTYPE, "cpu random: expected a floating-point output, got %s",
                       rx_dtype_name(dt));
    if (kind < RX_RANDOM_UNIFORM || kind > RX_RANDOM_BERNOULLI_P)
        return rx_fail(RX_ERR_INTERNAL, "cpu random: unknown kind %d", kind);
    bool two = needs_r1(kind, dt);
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t blk = 0; blk < nb; blk++) {
        uint32_t r0[BLOCK], r1[BLOCK];
        int64_t first = blk * BLOCK, len = n - first < BLOCK ? n - first : BLOCK;
        rx_cpu_philox_words(seed, offset + (uint64_t)first, len, r0, two ? r1 : NULL);
        fill_block(kind, base, dt, first, len, r0, two ? r1 : NULL, p0, p1);
    }
    return RX_OK;
}
