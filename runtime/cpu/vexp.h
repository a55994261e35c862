/* vexp.h — f32 exp and sigmoid that the compiler can vectorise, for the f32 paths of the CPU nn
 * kernels (softmax rows of attention, SwiGLU).
 *
 * Owns: rx_vexpf and rx_vsigmoidf. Both are branch-free inline functions of plain float and
 * int32 arithmetic (selects instead of branches, no libm call), so a loop over them under
 * `#pragma omp simd` compiles to vector instructions at whatever width the target has (SSE2 at the
 * baseline). Results are a pure function of the input: the same bits whatever the thread count or
 * the loop's chunking.
 *
 * exp: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (ln2 split in two parts, the first
 * with few enough bits that n * ln2_hi is exact); exp(r) by its Taylor polynomial of degree 7
 * (truncation error below 2^-27 relative); 2^n built from exponent bits, as two factors so that
 * n = 128 (x near the overflow threshold) stays representable. Measured against double exp: at
 * most 1.2 ulp over [-87.3, 88.7] (sigmoid: 2.6 ulp over [-30, 30]). Below -87.33 (where expf's
 * result is a subnormal or 0) it returns 0, above 88.72 +inf, and NaN for NaN.
 *
 * RX_VEC_CLONES in front of a hot function compiles it once more for AVX-512 and for AVX2 (gcc's
 * target_clones; the loader picks the widest the CPU has), since the build targets baseline
 * x86-64 (SSE2, 4 floats a vector). The clones may contract a * b + c into one FMA, so results
 * can differ in the last bit between machines, never between runs or thread counts on one.
 */
#ifndef RECX_CPU_VEXP_H
#define RECX_CPU_VEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define RX_VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef RX_VEC_CLONES
#define RX_VEC_CLONES
#endif

static inline float rx_bits_to_f32(int32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline int32_t rx_f32_to_bits(float f)
{
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* cond ? a : b through integer masks. gcc does not if-convert a float ?: whose operands involve
 * arithmetic (it would have to evaluate a possibly trapping operation unconditionally under the
 * default -ftrapping-math) and then leaves the loop scalar; bitwise selects always vectorise. */
static inline float rx_vsel(int cond, float a, float b)
{
    int32_t m = -(int32_t)(cond != 0);
    return rx_bits_to_f32((rx_f32_to_bits(a) & m) | (rx_f32_to_bits(b) & ~m));
}

static inline float rx_vexpf(float x)
{
    const float lo = -87.33654f, hi = 88.72283f;
    const float shifter = 12582912.0f;   /* 1.5 * 2^23: x + shifter - shifter rounds x to an integer */
    float xc = rx_vsel(x < lo, lo, x);   /* NaN compares false and stays NaN */
    xc = rx_vsel(xc > hi, hi, xc);
    float n = (xc * 1.44269504088896341f + shifter) - shifter;
    float r = xc - n * 0.693359375f; /* ln2_hi = 355 / 512: n * ln2_hi is exact */
    r = r - n * -2.12194440e-4f;     /* ln2_lo = ln2 - ln2_hi */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ni = (int32_t)n, n1 = ni >> 1, n2 = ni - n1; /* n in [-126, 128]: each half in [-63, 64] */
    float y = p * rx_bits_to_f32((n1 + 127) << 23) * rx_bits_to_f32((n2 + 127) << 23);
    y = rx_vsel(x < lo, 0.0f, y);
    return rx_vsel(x > hi, INFINITY, y);
}

/* 1 / (1 + exp(-a)) without overflow: with e = exp(-|a|) <= 1, 1 / (1 + e) for a >= 0 and
 * e / (1 + e) for a < 0. */
static inline float rx_vsigmoidf(float a)
{
    float e = rx_vexpf(-fabsf(a));
    float inv = 1.0f / (1.0f + e);
    return rx_vsel(a >= 0.0f, inv, e * inv);
}

#endif /* RECX_CPU_VEXP_H */
