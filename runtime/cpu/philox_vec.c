/* philox_vec.c — the bulk Philox 4x32-10 of philox_vec.h.
 *
 * Owns: the vector kernels and their dispatch. The rounds and constants are core/philox.h's,
 * element for element; 16 (AVX-512) or 8 (AVX2) counters go through the ten rounds together,
 * each 32x32->64 multiply done as two vpmuludq (even lanes, then odd lanes shifted down) whose
 * low and high halves are blended back into place. The kernels are compiled with target
 * attributes and chosen at run time (__builtin_cpu_supports), since the build targets baseline
 * x86-64; elsewhere, and for the tail of a run, the scalar rx_philox4x32_10 is used. Every path
 * gives the same bits (tests/c/test_random_fast.c compares them with the scalar generator over
 * counters that carry into the high word). Also the f32 application of a dropout mask, shared by
 * the dropout and attention kernels.
 */
#include "philox_vec.h"
#include "vexp.h"
#include "../core/philox.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RX_PHILOX_X86 1
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

#ifdef RX_PHILOX_X86
/* GROUPS independent vectors of counters per pass: one round is a chain of about ten dependent
 * instructions (multiply latency 5), so a single vector would leave the multipliers idle. */
#define GROUPS 4

#define AVX512 __attribute__((target("avx512f"), always_inline)) static inline
#define AVX2 __attribute__((target("avx2"), always_inline)) static inline

/* a * m as 32-bit lanes: the low and the high words of the 64-bit products. */
AVX512 void mulhilo16(__m512i a, __m512i m, __m512i *lo, __m512i *hi)
{
    __m512i e = _mm512_mul_epu32(a, m), o = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, e, _mm512_slli_epi64(o, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e, 32), o);
}

AVX2 void mulhilo8(__m256i a, __m256i m, __m256i *lo, __m256i *hi)
{
    __m256i e = _mm256_mul_epu32(a, m), o = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *lo = _mm256_blend_epi32(e, _mm256_slli_epi64(o, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(e, 32), o, 0xAA);
}

/* The words of blocks * 16 * GROUPS consecutive counters from counter. */
__attribute__((target("avx512f"))) static void lanes_avx512(uint64_t seed, uint64_t counter, int64_t blocks,
                                                            uint32_t *r0, uint32_t *r1)
{
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t blk = 0; blk < blocks; blk++) {
        __m512i c0[GROUPS], c1[GROUPS], c2[GROUPS], c3[GROUPS];
        for (int g = 0; g < GROUPS; g++) {
            uint64_t first = counter + (uint64_t)(blk * GROUPS + g) * 16;
            __m512i lo = _mm512_set1_epi32((int)(uint32_t)first);
            c0[g] = _mm512_add_epi32(lo, lane);
            __mmask16 carry = _mm512_cmplt_epu32_mask(c0[g], lo); /* the low word wrapped */
            __m512i hi = _mm512_set1_epi32((int)(uint32_t)(first >> 32));
            c1[g] = _mm512_mask_add_epi32(hi, carry, hi, _mm512_set1_epi32(1));
            c2[g] = c3[g] = _mm512_setzero_si512();
        }
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int round = 0; round < 10; round++) {
            __m512i kk0 = _mm512_set1_epi32((int)k0), kk1 = _mm512_set1_epi32((int)k1);
            for (int g = 0; g < GROUPS; g++) {
                __m512i lo0, hi0, lo1, hi1;
                mulhilo16(c0[g], m0, &lo0, &hi0);
                mulhilo16(c2[g], m1, &lo1, &hi1);
                c0[g] = _mm512_ternarylogic_epi32(hi1, c1[g], kk0, 0x96); /* three-way xor */
                c2[g] = _mm512_ternarylogic_epi32(hi0, c3[g], kk1, 0x96);
                c1[g] = lo1;
                c3[g] = lo0;
            }
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        for (int g = 0; g < GROUPS; g++) {
            int64_t at = (blk * GROUPS + g) * 16;
            _mm512_storeu_si512(r0 + at, c0[g]);
            if (r1) _mm512_storeu_si512(r1 + at, c1[g]);
        }
    }
}

/* The words of blocks * 8 * GROUPS consecutive counters from counter. */
__attribute__((target("avx2"))) static void lanes_avx2(uint64_t seed, uint64_t counter, int64_t blocks,
                                                       uint32_t *r0, uint32_t *r1)
{
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i sign = _mm256_set1_epi32(INT32_MIN);
    for (int64_t blk = 0; blk < blocks; blk++) {
        __m256i c0[GROUPS], c1[GROUPS], c2[GROUPS], c3[GROUPS];
        for (int g = 0; g < GROUPS; g++) {
            uint64_t first = counter + (uint64_t)(blk * GROUPS + g) * 8;
            __m256i lo = _mm256_set1_epi32((int)(uint32_t)first);
            c0[g] = _mm256_add_epi32(lo, lane);
            /* the low word wrapped: c0 < lo unsigned, as a signed compare with the sign bits flipped;
             * the all-ones result is -1, so subtracting it adds the carry */
            __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(lo, sign), _mm256_xor_si256(c0[g], sign));
            c1[g] = _mm256_sub_epi32(_mm256_set1_epi32((int)(uint32_t)(first >> 32)), carry);
            c2[g] = c3[g] = _mm256_setzero_si256();
        }
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int round = 0; round < 10; round++) {
            __m256i kk0 = _mm256_set1_epi32((int)k0), kk1 = _mm256_set1_epi32((int)k1);
            for (int g = 0; g < GROUPS; g++) {
                __m256i lo0, hi0, lo1, hi1;
                mulhilo8(c0[g], m0, &lo0, &hi0);
                mulhilo8(c2[g], m1, &lo1, &hi1);
                c0[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[g]), kk0);
                c2[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[g]), kk1);
                c1[g] = lo1;
                c3[g] = lo0;
            }
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        for (int g = 0; g < GROUPS; g++) {
            int64_t at = (blk * GROUPS + g) * 8;
            _mm256_storeu_si256((__m256i *)(r0 + at), c0[g]);
            if (r1) _mm256_storeu_si256((__m256i *)(r1 + at), c1[g]);
        }
    }
}

/* Lanes of a vector: 16 for AVX-512, 8 for AVX2, 0 for neither (decided once; threads racing to
 * decide store the same value). */
static int vector_lanes(void)
{
    static int lanes = -1;
    int l = __atomic_load_n(&lanes, __ATOMIC_RELAXED);
    if (l < 0) {
        __builtin_cpu_init();
        l = __builtin_cpu_supports("avx512f") ? 16 : __builtin_cpu_supports("avx2") ? 8 : 0;
        __atomic_store_n(&lanes, l, __ATOMIC_RELAXED);
    }
    return l;
}
#endif

void rx_cpu_philox_words_lanes(int lanes, uint64_t seed, uint64_t counter, int64_t n, uint32_t *r0,
                               uint32_t *r1)
{
    int64_t i = 0;
#ifdef RX_PHILOX_X86
    int have = vector_lanes();
    lanes = lanes > have ? have : lanes;
    if (lanes == 16 || lanes == 8) {
        int64_t blocks = n / (lanes * GROUPS);
        if (lanes == 16)
            lanes_avx512(seed, counter, blocks, r0, r1);
        else
            lanes_avx2(seed, counter, blocks, r0, r1);
        i = blocks * lanes * GROUPS;
    }
#else
    (void)lanes;
#endif
    for (; i < n; i++) {
        rx_philox_out o = rx_philox4x32_10(counter + (uint64_t)i, seed);
        r0[i] = o.r[0];
        if (r1) r1[i] = o.r[1];
    }
}

void rx_cpu_philox_words(uint64_t seed, uint64_t counter, int64_t n, uint32_t *r0, uint32_t *r1)
{
    rx_cpu_philox_words_lanes(16, seed, counter, n, r0, r1);
}

RX_VEC_CLONES void rx_cpu_dropout_apply_f32(float *o, const float *x, const uint32_t *w, int64_t n,
                                            uint32_t thr, double scale)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = (float)((double)x[i] * scale);
        uint32_t bits, keep = (w[i] >> 8) < thr ? 0u : ~0u; /* dropped: all bits cleared, +0.0f */
        memcpy(&bits, &v, sizeof bits);
        bits &= keep;
        memcpy(&o[i], &bits, sizeof bits);
    }
}
