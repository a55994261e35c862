/* dtype.c — dtype names and sizes, half-precision conversions, and any-dtype <-> double.
 *
 * Owns: the bit-exact f16 and bf16 conversions (round to nearest even) used by every CPU kernel
 * and by file readers, and the generic scalar load/store that slow paths and Lua use.
 */
#include "core.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    const char *alias1;
    const char *alias2;
    int64_t size;
} dtype_info[] = {
    [RX_F32] = {"f32", "float32", "float", 4},
    [RX_F16] = {"f16", "float16", "half", 2},
    [RX_BF16] = {"bf16", "bfloat16", NULL, 2},
    [RX_F64] = {"f64", "float64", "double", 8},
    [RX_I32] = {"i32", "int32", "int", 4},
    [RX_I64] = {"i64", "int64", "long", 8},
    [RX_U8] = {"u8", "uint8", NULL, 1},
    [RX_BOOL] = {"bool", NULL, NULL, 1},
};

static bool dtype_valid(rx_dtype d) { return (unsigned)d <= RX_BOOL; }

const char *rx_dtype_name(rx_dtype dtype) { return dtype_valid(dtype) ? dtype_info[dtype].name : "?"; }

int64_t rx_dtype_size(rx_dtype dtype) { return dtype_valid(dtype) ? dtype_info[dtype].size : 0; }

int rx_dtype_is_float(rx_dtype dtype)
{
    return dtype == RX_F32 || dtype == RX_F16 || dtype == RX_BF16 || dtype == RX_F64;
}

rx_status rx_dtype_from_name(const char *name, rx_dtype *out)
{
    if (!name) return rx_fail(RX_ERR_ARG, "dtype: expected a name, got NULL");
    for (int d = 0; d <= RX_BOOL; d++) {
        if (strcmp(name, dtype_info[d].name) == 0 ||
            (dtype_info[d].alias1 && strcmp(name, dtype_info[d].alias1) == 0) ||
            (dtype_info[d].alias2 && strcmp(name, dtype_info[d].alias2) == 0)) {
            *out = (rx_dtype)d;
            return RX_OK;
        }
    }
    return rx_fail(RX_ERR_ARG,
                   "unknown dtype '%s' (expected one of f32, f16, bf16, f64, i32, i64, u8, bool)",
                   name);
}

float rx_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3FF) << 13;
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rx_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000u ? 0x200 | ((absx >> 13) & 0x3FF) : 0));
    if (absx >= 0x477FF000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7C00);
    if (absx < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        /* value = absx as float; half subnormal unit = 2^-24 */
        float a;
        memcpy(&a, &absx, 4);
        float scaled = a * 16777216.0f; /* / 2^-24, exact */
        uint32_t m = (uint32_t)scaled;
        float rem = scaled - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t exp = ((absx >> 23) - 127 + 15);
    uint32_t man = absx & 0x7FFFFF;
    uint32_t half = exp << 10 | man >> 13;
    uint32_t rest = man & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return (uint16_t)(sign | half);
}

float rx_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t rx_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7FFFu + lsb;
    return (uint16_t)(x >> 16);
}

double rx_load_double(const void *p, rx_dtype dtype)
{
    switch (dtype) {
    case RX_F32: return *(const float *)p;
    case RX_F16: return rx_f16_to_f32(*(const uint16_t *)p);
    case RX_BF16: return rx_bf16_to_f32(*(const uint16_t *)p);
    case RX_F64: return *(const double *)p;
    case RX_I32: return *(const int32_t *)p;
    case RX_I64: return (double)*(const int64_t *)p;
    case RX_U8: return *(const uint8_t *)p;
    case RX_BOOL: return *(const uint8_t *)p != 0;
    }
    return 0;
}

void rx_store_double(void *p, rx_dtype dtype, double v)
{
    switch (dtype) {
    case RX_F32: *(float *)p = (float)v; break;
    case RX_F16: *(uint16_t *)p = rx_f32_to_f16((float)v); break;
    case RX_BF16: *(uint16_t *)p = rx_f32_to_bf16((float)v); break;
    case RX_F64: *(double *)p = v; break;
    case RX_I32: *(int32_t *)p = isnan(v) ? 0 : (int32_t)v; break;
    case RX_I64: *(int64_t *)p = isnan(v) ? 0 : (int64_t)v; break;
    case RX_U8: *(uint8_t *)p = isnan(v) ? 0 : (uint8_t)(int64_t)v; break;
    case RX_BOOL: *(uint8_t *)p = v != 0; break;
    }
}
