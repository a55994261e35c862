/* test_sigmoid_fast.c — the two-pass f32 sigmoid and silu of cpu/elementwise.c (expf calls, then
 * a vectorised rest) give the bits of the one-pass formula.
 *
 * Covers: rx_unary sigmoid and silu over dense f32 rows longer than one chunk (parallel, partial
 * last chunk), compared for bit equality with sigmoidf written here (e = expf(-|x|),
 * r = 1 / (1 + e), x >= 0 ? r : e r; silu = x sigmoid(x)), over values of both signs, +-0, huge
 * magnitudes, +-inf and NaN (NaN only as NaN); a transposed (strided) input through the one-pass path, also bit
 * equal; and f16 input (staged through f32) against the same formula rounded to f16.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

static float ref_sigmoidf(float x)
{
    float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

/* Value i of the test input: a spread of normal values with the special ones mixed in. */
static float input(int64_t i)
{
    static const float special[] = {0.0f,      -0.0f, 88.0f,  -88.0f,  104.0f, -104.0f, INFINITY,
                                    -INFINITY, NAN,   1e-30f, -1e-30f, 15.9f,  -15.9f};
    if (i % 97 < 13) return special[i % 97];
    return (float)((double)((i * 7919) % 20011) / 20011.0 * 40.0 - 20.0);
}

/* Elements whose bits differ from ref; a NaN reference only needs a NaN (its sign bit depends on
 * which operand of a multiply the compiler's instruction returns). */
static int64_t bit_mismatches(const rx_tensor *y, const float *ref, int64_t n)
{
    const float *v = rx_tensor_data_ptr(y);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += isnan(ref[i]) ? !isnan(v[i]) : memcmp(&v[i], &ref[i], sizeof(float)) != 0;
    return bad;
}

static void test_dense_and_strided(void)
{
    const int64_t rows = 300, cols = 331, n = rows * cols; /* > RX_PARALLEL_MIN, not a multiple of 256 */
    float *xv = malloc(sizeof(float) * n), *rs = malloc(sizeof(float) * n), *rl = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) {
        xv[i] = input(i);
        rs[i] = ref_sigmoidf(xv[i]);
        rl[i] = xv[i] * ref_sigmoidf(xv[i]);
    }
    rx_tensor *x = NULL, *ys = NULL, *yl = NULL;
    CHECK_OK(rx_from_buffer(2, (const int64_t[]){rows, cols}, RX_F32, xv, &x));
    CHECK_OK(rx_unary(RX_SIGMOID, x, &ys));
    CHECK_OK(rx_unary(RX_SILU, x, &yl));
    CHECK(bit_mismatches(ys, rs, n) == 0);
    CHECK(bit_mismatches(yl, rl, n) == 0);
    /* a transposed view: the strided (one-pass) loop, same bits at the transposed positions */
    rx_tensor *xt = NULL, *ts = NULL, *tl = NULL;
    CHECK_OK(rx_transpose(x, 0, 1, &xt));
    CHECK_OK(rx_unary(RX_SIGMOID, xt, &ts));
    CHECK_OK(rx_unary(RX_SILU, xt, &tl));
    float *rts = malloc(sizeof(float) * n), *rtl = malloc(sizeof(float) * n);
    for (int64_t c = 0; c < cols; c++)
        for (int64_t r = 0; r < rows; r++) {
            rts[c * rows + r] = rs[r * cols + c];
            rtl[c * rows + r] = rl[r * cols + c];
        }
    rx_tensor *tsc = NULL, *tlc = NULL;
    CHECK_OK(rx_contiguous(ts, &tsc));
    CHECK_OK(rx_contiguous(tl, &tlc));
    CHECK(bit_mismatches(tsc, rts, n) == 0);
    CHECK(bit_mismatches(tlc, rtl, n) == 0);
    /* NaN in, NaN out; the signs of the saturated ends */
    const float *sv = rx_tensor_data_ptr(ys);
    CHECK(isnan(sv[8]) && sv[6] == 1.0f && sv[7] == 0.0f);
    free(xv), free(rs), free(rl), free(rts), free(rtl);
    t_release_all(8, (rx_tensor *[]){x, ys, yl, xt, ts, tl, tsc, tlc});
}

static void test_f16(void)
{
    const int64_t n = 1000;
    double *xv = malloc(sizeof(double) * n), *ref = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) {
        float x = input(i);
        xv[i] = isnan(x) || isinf(x) || fabsf(x) > 60000.0f ? 0.5 : (double)x;
    }
    rx_tensor *x = t_from(1, &n, RX_F16, xv), *y = NULL;
    double *xr = t_values(x); /* the inputs as rounded to f16 */
    for (int64_t i = 0; i < n; i++)
        ref[i] = ref_round(RX_F16, (double)((float)xr[i] * ref_sigmoidf((float)xr[i])));
    CHECK_OK(rx_unary(RX_SILU, x, &y));
    CHECK_TENSOR(y, 1, &n, ref, 0, 0);
    free(xv), free(ref), free(xr);
    t_release_all(2, (rx_tensor *[]){x, y});
}

int main(void)
{
    RUN(test_dense_and_strided);
    RUN(test_f16);
    return check_finish();
}
