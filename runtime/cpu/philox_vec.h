/* philox_vec.h — Philox 4x32-10 over runs of consecutive counters, vectorised across elements.
 *
 * Owns: the CPU's bulk draws. rx_cpu_philox_words gives, for elements i < n, the words r0 (and
 * r1) that core/philox.h's rx_philox4x32_10(counter + i, seed) gives, bit for bit: the same
 * rounds on 16 (AVX-512) or 8 (AVX2) counters at a time, picked at run time, scalar otherwise
 * (philox_vec.c). rx_cpu_bernoulli_threshold turns a probability into the integer test that
 * rx_philox_bernoulli makes: (r0 >> 8) * 2^-24 < p  <=>  (r0 >> 8) < threshold; and
 * rx_cpu_dropout_apply_f32 applies such a mask to f32 values.
 */
#ifndef RECX_CPU_PHILOX_VEC_H
#define RECX_CPU_PHILOX_VEC_H

#include <math.h>
#include <stdint.h>

/* r0[i] (and r1[i] when r1 is not NULL) = words 0 and 1 of Philox(counter + i, seed), i < n. */
void rx_cpu_philox_words(uint64_t seed, uint64_t counter, int64_t n, uint32_t *r0, uint32_t *r1);

/* The same with vectors of at most `lanes` words (16: AVX-512, 8: AVX2, else scalar), lowered to
 * what the CPU has; for tests of each path. */
void rx_cpu_philox_words_lanes(int lanes, uint64_t seed, uint64_t counter, int64_t n, uint32_t *r0,
                               uint32_t *r1);

/* o[i] = +0.0f when (w[i] >> 8) < thr (dropped), else (float)((double)x[i] * scale): the value
 * the double path rounds once; o may be x. Branch-free (the mask clears the bits), vectorised. */
void rx_cpu_dropout_apply_f32(float *o, const float *x, const uint32_t *w, int64_t n, uint32_t thr,
                              double scale);

/* The T with (v * 2^-24 < p) == (v < T) for every integer v in [0, 2^24): ceil(p 2^24) clamped to
 * [0, 2^24] (0 for NaN, which no value is below). */
static inline uint32_t rx_cpu_bernoulli_threshold(double p)
{
    if (!(p > 0.0)) return 0;
    if (p >= 1.0) return 1u << 24;
    return (uint32_t)ceil(p * 16777216.0);
}

#endif /* RECX_CPU_PHILOX_VEC_H */
