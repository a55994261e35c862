/* random.c — the CPU random kernel: fills a contiguous tensor with Philox draws.
 *
 * Owns: the per-dtype loops; element i uses counter offset + i under key seed and the value
 * mapping of core/philox.h (uniform bits by dtype: f64 53, f32 24, f16 11, bf16 8), so the
 * result does not depend on the number of threads and matches every other device.
 */
#include "cpu_kernels.h"
#include "strided.h"
#include "../core/philox.h"

/* Uniform bits of a float dtype: exactly representable values k * 2^-bits in [0, 1). */
static int uniform_bits(rx_dtype dt)
{
    switch (dt) {
    case RX_F16: return 11;
    case RX_BF16: return 8;
    default: return 24;
    }
}

rx_status rx_cpu_random(int kind, rx_tensor *out, uint64_t seed, uint64_t offset, double p0, double p1)
{
    int64_t n = rx_tensor_numel(out), es = rx_dtype_size(out->dtype);
    rx_dtype dt = out->dtype;
    char *base = rx_tensor_bytes(out);
    bool fl = rx_dtype_is_float(dt);
    if ((kind == RX_RANDOM_UNIFORM || kind == RX_RANDOM_NORMAL || kind == RX_RANDOM_BERNOULLI_P) && !fl)
        return rx_fail(RX_ERR_DTYPE, "cpu random: expected a floating-point output, got %s",
                       rx_dtype_name(dt));
    if (kind < RX_RANDOM_UNIFORM || kind > RX_RANDOM_BERNOULLI_P)
        return rx_fail(RX_ERR_INTERNAL, "cpu random: unknown kind %d", kind);
    int bits = uniform_bits(dt);
    int64_t low = (int64_t)p0, high = (int64_t)p1;
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        rx_philox_out o = rx_philox4x32_10(offset + (uint64_t)i, seed);
        char *p = base + i * es;
        switch (kind) {
        case RX_RANDOM_UNIFORM: {
            double u = dt == RX_F64 ? rx_philox_uniform_f64(o) : rx_philox_uniform_bits(o, bits);
            rx_store_double(p, dt, p0 + (p1 - p0) * u);
            break;
        }
        case RX_RANDOM_NORMAL: rx_store_double(p, dt, p0 + p1 * rx_philox_normal(o)); break;
        case RX_RANDOM_RANDINT: {
            int64_t v = rx_philox_randint(o, low, high);
            if (dt == RX_I64)
                *(int64_t *)p = v;
            else if (dt == RX_I32)
                *(int32_t *)p = (int32_t)v;
            else
                rx_store_double(p, dt, (double)v);
            break;
        }
        case RX_RANDOM_BERNOULLI: rx_store_double(p, dt, rx_philox_bernoulli(o, p0) ? 1.0 : 0.0); break;
        default: /* RX_RANDOM_BERNOULLI_P */
            rx_store_double(p, dt, rx_philox_bernoulli(o, rx_load_double(p, dt)) ? 1.0 : 0.0);
            break;
        }
    }
    return RX_OK;
}
