/* gguf_quant.c — the ggml tensor types of GGUF files and their dequantisation to f32.
 *
 * Owns: the type table (every type id GGUF files use today, with its block geometry, so that
 * the reader validates sizes even of types recx cannot decode) and the block decoders of F32,
 * F16, BF16, F64, I8/I16/I32/I64, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K
 * and Q8_K. Block layouts are ggml's (little-endian, f16 scales; documented byte by byte in
 * docs/formats.md "GGUF"). Each decoder does its float arithmetic in f32 in the order ggml does
 * (scale * quant, then + min or - min scale), with no fused multiply-adds, so the results are
 * bit-identical to ggml's and gguf-py's reference decoders.
 */
#include "gguf_internal.h"

#include "../cpu/strided.h"

#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define QK 32   /* elements per block of the 32-element formats */
#define QK_K 256 /* elements per super-block of the K formats */

static inline float f16(const uint8_t *p) { return rx_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static inline uint32_t u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- plain element types (one element per block) ------------------------------------------ */

static void dq_f32(const uint8_t *s, float *y) { memcpy(y, s, 4); }
static void dq_f16(const uint8_t *s, float *y) { *y = f16(s); }
static void dq_bf16(const uint8_t *s, float *y)
{
    uint32_t bits = (uint32_t)(s[0] | s[1] << 8) << 16;
    memcpy(y, &bits, 4);
}
static void dq_f64(const uint8_t *s, float *y)
{
    double d;
    memcpy(&d, s, 8);
    *y = (float)d;
}
static void dq_i8(const uint8_t *s, float *y) { *y = (float)(int8_t)s[0]; }
static void dq_i16(const uint8_t *s, float *y) { *y = (float)(int16_t)(s[0] | s[1] << 8); }
static void dq_i32(const uint8_t *s, float *y) { *y = (float)(int32_t)u32le(s); }
static void dq_i64(const uint8_t *s, float *y)
{
    int64_t v;
    memcpy(&v, s, 8);
    *y = (float)v;
}

/* ---- 32-element blocks ------------------------------------------------------------------------ */

/* Q4_0 (18 bytes): f16 d, 16 bytes of nibbles; element j (< 16) is the low nibble of byte j,
 * element j + 16 its high nibble; y = d * (q - 8). */
static void dq_q4_0(const uint8_t *s, float *y)
{
    float d = f16(s);
    const uint8_t *qs = s + 2;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = d * (float)((qs[j] & 0x0F) - 8);
        y[j + QK / 2] = d * (float)((qs[j] >> 4) - 8);
    }
}

/* Q4_1 (20 bytes): f16 d, f16 m, 16 bytes of nibbles as Q4_0; y = d * q + m. */
static void dq_q4_1(const uint8_t *s, float *y)
{
    float d = f16(s), m = f16(s + 2);
    const uint8_t *qs = s + 4;
    for (int j = 0; j < QK / 2; j++) {
        y[j] = d * (float)(qs[j] & 0x0F) + m;
        y[j + QK / 2] = d * (float)(qs[j] >> 4) + m;
    }
}

/* Q5_0 (22 bytes): f16 d, u32 qh (bit j = fifth bit of element j), 16 bytes of nibbles as Q4_0;
 * y = d * (q - 16). */
static void dq_q5_0(const uint8_t *s, float *y)
{
    float d = f16(s);
    uint32_t qh = u32le(s + 2);
    const uint8_t *qs = s + 6;
    for (int j = 0; j < QK / 2; j++) {
        int lo = (qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + QK / 2)) & 1) << 4;
        y[j] = d * (float)(lo - 16);
        y[j + QK / 2] = d * (float)(hi - 16);
    }
}

/* Q5_1 (24 bytes): f16 d, f16 m, u32 qh, 16 bytes of nibbles; y = d * q + m. */
static void dq_q5_1(const uint8_t *s, float *y)
{
    float d = f16(s), m = f16(s + 2);
    uint32_t qh = u32le(s + 4);
    const uint8_t *qs = s + 8;
    for (int j = 0; j < QK / 2; j++) {
        int lo = (qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + QK / 2)) & 1) << 4;
        y[j] = d * (float)lo + m;
        y[j + QK / 2] = d * (float)hi + m;
    }
}

/* Q8_0 (34 bytes): f16 d, 32 int8; y = q * d. */
static void dq_q8_0(const uint8_t *s, float *y)
{
    float d = f16(s);
    const int8_t *qs = (const int8_t *)(s + 2);
    for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
}

/* ---- 256-element super-blocks (K formats) ----------------------------------------------------- */

/* Q2_K (84 bytes): 16 scale bytes (low nibble: scale, high nibble: min of a 16-element group),
 * 64 bytes of 2-bit quants, f16 d, f16 dmin. Element h*128 + s*32 + l (h < 2, s < 4, l < 32) is
 * bits 2s..2s+1 of qs[h*32 + l]; group g = element / 16; y = (d * sc_g) * q - dmin * m_g. */
static void dq_q2_k(const uint8_t *s, float *y)
{
    const uint8_t *sc = s, *qs = s + 16;
    float d = f16(s + 80), dmin = f16(s + 82);
    for (int h = 0; h < 2; h++)
        for (int sh = 0; sh < 4; sh++)
            for (int l = 0; l < 32; l++) {
                int k = h * 128 + sh * 32 + l;
                uint8_t g = sc[k / 16];
                float dl = d * (float)(g & 0x0F), ml = dmin * (float)(g >> 4);
                y[k] = dl * (float)((qs[h * 32 + l] >> (2 * sh)) & 3) - ml;
            }
}

/* Q3_K (110 bytes): 32 bytes hmask, 64 bytes of 2-bit quants (laid out as Q2_K), 12 bytes of
 * 6-bit signed scales, f16 d. Group i (< 16) has scale (low 4 bits: nibble i/8 of byte i%8; high
 * 2 bits: bits 2*(i/4).. of byte 8 + i%4) - 32. Element k = b*32 + l takes bit b of hmask[l]: when
 * that bit is clear, 4 is subtracted from the 2-bit quant. y = (d * scale) * q. */
static void dq_q3_k(const uint8_t *s, float *y)
{
    const uint8_t *hmask = s, *qs = s + 32, *scb = s + 96;
    float d = f16(s + 108);
    float dl[16];
    for (int i = 0; i < 16; i++) {
        int lo = (scb[i % 8] >> (4 * (i / 8))) & 0x0F;
        int hi = (scb[8 + i % 4] >> (2 * (i / 4))) & 0x03;
        dl[i] = d * (float)((lo | hi << 4) - 32);
    }
    for (int h = 0; h < 2; h++)
        for (int sh = 0; sh < 4; sh++)
            for (int l = 0; l < 32; l++) {
                int k = h * 128 + sh * 32 + l;
                int q = (qs[h * 32 + l] >> (2 * sh)) & 3;
                if (!((hmask[l] >> (k / 32)) & 1)) q -= 4;
                y[k] = dl[k / 16] * (float)q;
            }
}

/* The 8 six-bit scales and mins of Q4_K/Q5_K from their 12 packed bytes: for j < 4, scale j is
 * the low 6 bits of byte j and min j those of byte j + 4; for j >= 4, scale j is the low nibble
 * of byte j + 4 with the top 2 bits of byte j - 4 above it, min j the high nibble of byte j + 4
 * with the top 2 bits of byte j. */
static void k_scale_min(const uint8_t *p, int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = p[j] & 63;
        *mn = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 0x0F) | ((p[j - 4] >> 6) << 4);
        *mn = (p[j + 4] >> 4) | ((p[j] >> 6) << 4);
    }
}

/* Q4_K (144 bytes): f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles. Sub-block j (< 8, 32
 * elements) reads the low (j even) or high (j odd) nibbles of bytes 32*(j/2) .. +31;
 * y = (d * sc_j) * q - dmin * m_j. */
static void dq_q4_k(const uint8_t *s, float *y)
{
    float d = f16(s), dmin = f16(s + 2);
    const uint8_t *scb = s + 4, *qs = s + 16;
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        k_scale_min(scb, j, &sc, &mn);
        float dl = d * (float)sc, ml = dmin * (float)mn;
        const uint8_t *q = qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) y[32 * j + l] = dl * (float)((q[l] >> shift) & 0x0F) - ml;
    }
}

/* Q5_K (176 bytes): f16 d, f16 dmin, 12 scale bytes, 32 bytes qh (bit j of qh[l] is the fifth
 * bit of element 32*j + l), 128 bytes of nibbles as Q4_K; y = (d * sc_j) * q - dmin * m_j. */
static void dq_q5_k(const uint8_t *s, float *y)
{
    float d = f16(s), dmin = f16(s + 2);
    const uint8_t *scb = s + 4, *qh = s + 16, *qs = s + 48;
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        k_scale_min(scb, j, &sc, &mn);
        float dl = d * (float)sc, ml = dmin * (float)mn;
        const uint8_t *q = qs + 32 * (j / 2);
        int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> shift) & 0x0F) | ((qh[l] >> j) & 1) << 4;
            y[32 * j + l] = dl * (float)v - ml;
        }
    }
}

/* Q6_K (210 bytes): 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8 scales, f16 d.
 * Element k = h*128 + r (h < 2, r < 128): low bits = nibble r/64 of ql[h*64 + r%64], high bits =
 * bits 2*(r/32).. of qh[h*32 + r%32]; y = (d * scale[k/16]) * (q - 32). */
static void dq_q6_k(const uint8_t *s, float *y)
{
    const uint8_t *ql = s, *qh = s + 128;
    const int8_t *scales = (const int8_t *)(s + 192);
    float d = f16(s + 208);
    for (int h = 0; h < 2; h++)
        for (int r = 0; r < 128; r++) {
            int k = h * 128 + r;
            int lo = (ql[h * 64 + r % 64] >> (4 * (r / 64))) & 0x0F;
            int hi = (qh[h * 32 + r % 32] >> (2 * (r / 32))) & 0x03;
            float dl = d * (float)scales[k / 16];
            y[k] = dl * (float)((lo | hi << 4) - 32);
        }
}

/* Q8_K (292 bytes): f32 d, 256 int8, 16 int16 group sums (unused here); y = d * q. */
static void dq_q8_k(const uint8_t *s, float *y)
{
    float d;
    memcpy(&d, s, 4);
    const int8_t *qs = (const int8_t *)(s + 4);
    for (int j = 0; j < QK_K; j++) y[j] = d * (float)qs[j];
}

/* ---- the type table ------------------------------------------------------------------------- */

static const gg_type_info types[] = {
    {0, "F32", 1, 4, dq_f32},
    {1, "F16", 1, 2, dq_f16},
    {2, "Q4_0", QK, 18, dq_q4_0},
    {3, "Q4_1", QK, 20, dq_q4_1},
    {6, "Q5_0", QK, 22, dq_q5_0},
    {7, "Q5_1", QK, 24, dq_q5_1},
    {8, "Q8_0", QK, 34, dq_q8_0},
    {9, "Q8_1", QK, 40, NULL},
    {10, "Q2_K", QK_K, 84, dq_q2_k},
    {11, "Q3_K", QK_K, 110, dq_q3_k},
    {12, "Q4_K", QK_K, 144, dq_q4_k},
    {13, "Q5_K", QK_K, 176, dq_q5_k},
    {14, "Q6_K", QK_K, 210, dq_q6_k},
    {15, "Q8_K", QK_K, 292, dq_q8_k},
    {16, "IQ2_XXS", QK_K, 66, NULL},
    {17, "IQ2_XS", QK_K, 74, NULL},
    {18, "IQ3_XXS", QK_K, 98, NULL},
    {19, "IQ1_S", QK_K, 50, NULL},
    {20, "IQ4_NL", QK, 18, NULL},
    {21, "IQ3_S", QK_K, 110, NULL},
    {22, "IQ2_S", QK_K, 82, NULL},
    {23, "IQ4_XS", QK_K, 136, NULL},
    {24, "I8", 1, 1, dq_i8},
    {25, "I16", 1, 2, dq_i16},
    {26, "I32", 1, 4, dq_i32},
    {27, "I64", 1, 8, dq_i64},
    {28, "F64", 1, 8, dq_f64},
    {29, "IQ1_M", QK_K, 56, NULL},
    {30, "BF16", 1, 2, dq_bf16},
    {34, "TQ1_0", QK_K, 54, NULL},
    {35, "TQ2_0", QK_K, 66, NULL},
    {39, "MXFP4", QK, 17, NULL},
};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

const gg_type_info *gg_type(int id)
{
    for (int i = 0; i < N_TYPES; i++)
        if (types[i].id == id) return &types[i];
    return NULL;
}

const char *rx_ggml_type_name(int ggml_type)
{
    const gg_type_info *t = gg_type(ggml_type);
    return t ? t->name : NULL;
}

int rx_ggml_type_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < N_TYPES; i++)
        if (strcmp(types[i].name, name) == 0) return types[i].id;
    return -1;
}

rx_status rx_ggml_dequantize(int ggml_type, const void *src, int64_t n, float *dst)
{
    const gg_type_info *t = gg_type(ggml_type);
    if (!t) return rx_fail(RX_ERR_ARG, "ggml_dequantize: argument #1: unknown ggml type %d", ggml_type);
    if (!t->dequant)
        return rx_fail(RX_ERR_UNSUPPORTED, "ggml_dequantize: argument #1: type %s cannot be dequantised by recx",
                       t->name);
    if (n < 0 || n % t->block != 0)
        return rx_fail(RX_ERR_ARG,
                       "ggml_dequantize: argument #3: expected a count >= 0 that is a multiple of %s's block "
                       "of %lld elements, got %lld",
                       t->name, (long long)t->block, (long long)n);
    if (n > 0 && (!src || !dst))
        return rx_fail(RX_ERR_ARG, "ggml_dequantize: arguments #2 and #4: expected buffers, got NULL");
    const uint8_t *s = src;
    int64_t nblocks = n / t->block, block = t->block, bytes = t->block_bytes;
    void (*dq)(const uint8_t *, float *) = t->dequant;
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t b = 0; b < nblocks; b++) dq(s + b * bytes, dst + b * block);
    return RX_OK;
}
