/* random.cu — the CUDA random kernel: fills a contiguous tensor with Philox draws.
 *
 * Owns: the device loop over core/philox.h, the same code the CPU runs: element i uses counter
 * offset + i under key seed, with the value mapping of philox.h (uniform bits by dtype: f64 53,
 * f32 24, f16 11, bf16 8) and the conversion of rx_store_double. The affine steps p0 + (p1 - p0) u
 * and p0 + p1 z are computed with explicitly rounded multiply and add (no fused multiply-add), as
 * the CPU computes them, so uniform, randint and Bernoulli draws are the CPU's bits; normal draws
 * differ only by the last-bit differences between CUDA's and glibc's double log and cos.
 */
#include "cuda_device.cuh"

#include "../core/philox.h"

__global__ void random_kernel(int kind, char *out, rx_dtype dt, int64_t es, int64_t n, uint64_t seed, uint64_t offset,
                              double p0, double p1, int bits)
{
    int64_t low = (int64_t)p0, high = (int64_t)p1;
    for (int64_t i = rx_tid(); i < n; i += rx_nthreads()) {
        rx_philox_out o = rx_philox4x32_10(offset + (uint64_t)i, seed);
        char *p = out + i * es;
        switch (kind) {
        case RX_RANDOM_UNIFORM: {
            double u = dt == RX_F64 ? rx_philox_uniform_f64(o) : rx_philox_uniform_bits(o, bits);
            rx_dev_store_double(p, dt, __dadd_rn(p0, __dmul_rn(p1 - p0, u)));
            break;
        }
        case RX_RANDOM_NORMAL: rx_dev_store_double(p, dt, __dadd_rn(p0, __dmul_rn(p1, rx_philox_normal(o)))); break;
        case RX_RANDOM_RANDINT: {
            int64_t v = rx_philox_randint(o, low, high);
            if (dt == RX_I64)
                *(int64_t *)p = v;
            else if (dt == RX_I32)
                *(int32_t *)p = (int32_t)v;
            else
                rx_dev_store_double(p, dt, (double)v);
            break;
        }
        case RX_RANDOM_BERNOULLI: rx_dev_store_double(p, dt, rx_philox_bernoulli(o, p0) ? 1.0 : 0.0); break;
        default: /* RX_RANDOM_BERNOULLI_P */
            rx_dev_store_double(p, dt, rx_philox_bernoulli(o, rx_dev_load_double(p, dt)) ? 1.0 : 0.0);
            break;
        }
    }
}

rx_status rx_cuda_random(int kind, rx_tensor *out, uint64_t seed, uint64_t offset, double p0, double p1)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(out->storage->device.index, &ctx));
    rx_dtype dt = out->dtype;
    if ((kind == RX_RANDOM_UNIFORM || kind == RX_RANDOM_NORMAL || kind == RX_RANDOM_BERNOULLI_P) && !rx_dtype_is_float(dt))
        return rx_fail(RX_ERR_DTYPE, "cuda random: expected a floating-point output, got %s", rx_dtype_name(dt));
    if (kind < RX_RANDOM_UNIFORM || kind > RX_RANDOM_BERNOULLI_P)
        return rx_fail(RX_ERR_INTERNAL, "cuda random: unknown kind %d", kind);
    int64_t n = rx_tensor_numel(out);
    if (n == 0) return RX_OK;
    int bits = dt == RX_F16 ? 11 : dt == RX_BF16 ? 8 : 24;
    random_kernel<<<rx_cuda_blocks(n, RX_CUDA_THREADS, ctx), RX_CUDA_THREADS, 0, ctx->stream>>>(
        kind, rx_cuda_ptr(out), dt, rx_dtype_size(dt), n, seed, offset, p0, p1, bits);
    return RX_CUDA_LAUNCH_STATUS("random");
}
