/* philox.h — the counter-based generator behind every random draw (Philox 4x32-10).
 *
 * Owns: the exact mapping from (seed, counter) to values, written so that the CPU and the CUDA
 * kernels include the same code and draw identical numbers. Element i of a draw at generator
 * offset o uses counter c = o + i (as 128 bits: c low 32, c high 32, 0, 0) under key (seed low
 * 32, seed high 32), giving four 32-bit words r0..r3. Then:
 *   uniform f64:  ((r0 << 32 | r1) >> 11) * 2^-53
 *   uniform f32:  (r0 >> 8) * 2^-24          f16: (r0 >> 21) * 2^-11     bf16: (r0 >> 24) * 2^-8
 *     (each exactly representable in its dtype, so the value is always < 1)
 *   normal:       Box-Muller on u1 = (r0 + 1) * 2^-32, u2 = r1 * 2^-32, computed in double:
 *                 sqrt(-2 ln u1) * cos(2 pi u2), then mean + std * z
 *   randint:      low + ((r0 << 32 | r1) mod (high - low))
 *   bernoulli:    1 if (r0 >> 8) * 2^-24 < p else 0
 */
#ifndef RECX_PHILOX_H
#define RECX_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define RX_HD __host__ __device__ __forceinline__
#else
#define RX_HD static inline
#endif

typedef struct rx_philox_out {
    uint32_t r[4];
} rx_philox_out;

RX_HD void rx_philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

RX_HD rx_philox_out rx_philox4x32_10(uint64_t counter, uint64_t seed)
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        rx_philox_mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        rx_philox_mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    rx_philox_out out = {{c0, c1, c2, c3}};
    return out;
}

RX_HD double rx_philox_uniform_f64(rx_philox_out o)
{
    uint64_t bits = ((uint64_t)o.r[0] << 32 | o.r[1]) >> 11;
    return (double)bits * (1.0 / 9007199254740992.0);
}

/* mantissa_bits: 24 (f32), 11 (f16), 8 (bf16). */
RX_HD double rx_philox_uniform_bits(rx_philox_out o, int mantissa_bits)
{
    uint32_t v = o.r[0] >> (32 - mantissa_bits);
    return (double)v / (double)((uint64_t)1 << mantissa_bits);
}

RX_HD double rx_philox_normal(rx_philox_out o)
{
    double u1 = ((double)o.r[0] + 1.0) * (1.0 / 4294967296.0);
    double u2 = (double)o.r[1] * (1.0 / 4294967296.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

RX_HD int64_t rx_philox_randint(rx_philox_out o, int64_t low, int64_t high)
{
    uint64_t range = (uint64_t)(high - low);
    uint64_t bits = (uint64_t)o.r[0] << 32 | o.r[1];
    return low + (int64_t)(bits % range);
}

RX_HD int rx_philox_bernoulli(rx_philox_out o, double p)
{
    return rx_philox_uniform_bits(o, 24) < p;
}

#endif /* RECX_PHILOX_H */
