/* test_random_fast.c — the vectorised Philox paths of the CPU (cpu/philox_vec.c) against the
 * scalar generator of core/philox.h, bit for bit.
 *
 * Covers: rx_cpu_philox_words through each path (AVX-512, AVX2, scalar; a path the CPU lacks falls
 * back to a narrower one) with runs that are not a multiple of the vector block, counters whose
 * low word carries into the high word and counters that wrap at 2^64, and r1 on or off;
 * rx_cpu_bernoulli_threshold against the double test (v 2^-24 < p) for every v in [0, 2^24) at
 * edge and SASRec probabilities (0, below 2^-24, exact multiples of 2^-24, 1 - 2^-25, 1, > 1,
 * negative, NaN); rand (f32, f16, bf16, f64), randn, randint, bernoulli (scalar p in f32, f64, bf16,
 * i32; per-element p) over thousands of elements from a generator offset just below 2^32, each
 * value recomputed here from the scalar words with the documented mapping; dropout of f32 (also a
 * transposed input and in place through the ops layer), f64 and bf16, compared bit for bit with
 * the reference (+0 for dropped elements, x / (1 - p) rounded once); attention with SASRec's
 * shape (T = S = 9, 81 dropout words per head: vector blocks and a tail) against a double
 * reference, and its gradients (the backward's single draw of each head's words) by finite
 * differences.
 */
#include "gradcheck.h"
#include "core/philox.h"
#include "cpu/philox_vec.h"

#include <stdlib.h>
#include <string.h>

static void test_words_paths(void)
{
    const uint64_t seeds[] = {0, 0x0123456789abcdefull, 0xffffffff00000001ull};
    const uint64_t starts[] = {0, 0xffffffffull - 300, 0xfffffffffffffff0ull - 500, 12345};
    const int64_t n = 1037; /* 16 blocks of 64 and a tail of 13 */
    uint32_t *r0 = malloc(sizeof(uint32_t) * n), *r1 = malloc(sizeof(uint32_t) * n);
    const int lanes[] = {16, 8, 0};
    for (int li = 0; li < 3; li++)
        for (int si = 0; si < 3; si++)
            for (int ci = 0; ci < 4; ci++) {
                memset(r0, 0, sizeof(uint32_t) * n);
                memset(r1, 0, sizeof(uint32_t) * n);
                rx_cpu_philox_words_lanes(lanes[li], seeds[si], starts[ci], n, r0, r1);
                int64_t bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    rx_philox_out o = rx_philox4x32_10(starts[ci] + (uint64_t)i, seeds[si]);
                    bad += o.r[0] != r0[i] || o.r[1] != r1[i];
                }
                if (bad)
                    check_fail(__FILE__, __LINE__, "lanes %d seed #%d start #%d: %lld words differ",
                               lanes[li], si, ci, (long long)bad);
                /* r0 alone, with an odd length */
                memset(r0, 0, sizeof(uint32_t) * n);
                rx_cpu_philox_words_lanes(lanes[li], seeds[si], starts[ci] + 7, n - 6, r0, NULL);
                bad = 0;
                for (int64_t i = 0; i < n - 6; i++)
                    bad += rx_philox4x32_10(starts[ci] + 7 + (uint64_t)i, seeds[si]).r[0] != r0[i];
                CHECK(bad == 0);
            }
    /* the default entry point and tiny runs */
    for (int64_t m = 0; m < 70; m += 3) {
        rx_cpu_philox_words(99, 0xffffffffull - 5, m, r0, r1);
        bool ok = true;
        for (int64_t i = 0; i < m; i++) {
            rx_philox_out o = rx_philox4x32_10(0xffffffffull - 5 + (uint64_t)i, 99);
            ok = ok && o.r[0] == r0[i] && o.r[1] == r1[i];
        }
        CHECK(ok);
    }
    free(r0);
    free(r1);
}

static void test_bernoulli_threshold(void)
{
    const double ps[] = {
        0.0, 1e-9,  0x1p-24, 3 * 0x1p-24, 0.1871672079253271, 0.4954053313841075, 0.5, 1.0 - 0x1p-25, 1.0,
        1.5, -0.25, NAN,     0.3};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        uint32_t t = rx_cpu_bernoulli_threshold(ps[k]);
        int64_t bad = 0;
        for (uint32_t v = 0; v < (1u << 24); v++) bad += (v < t) != ((double)v / 16777216.0 < ps[k]);
        if (bad)
            check_fail(__FILE__, __LINE__, "p = %.17g: threshold %u disagrees for %lld values", ps[k], t,
                       (long long)bad);
    }
}

/* A generator at (seed, offset). */
static rx_generator *gen_at(uint64_t seed, uint64_t offset)
{
    rx_generator *g = rx_generator_new(seed);
    rx_generator_set_state(g, seed, offset);
    return g;
}

static double unit_bits(rx_philox_out o, int bits)
{
    return (double)(o.r[0] >> (32 - bits)) / (double)((uint64_t)1 << bits);
}

static void test_draws(void)
{
    const uint64_t seed = 0x5eed5eedcafeull, start = 0xffffffffull - 2500;
    const int64_t n = 5003, shape[1] = {n};
    double *ref = malloc(sizeof(double) * n);
    /* uniform: f32 24 bits, f16 11, bf16 8, f64 53 */
    const rx_dtype dts[] = {RX_F32, RX_F16, RX_BF16, RX_F64};
    const int bits[] = {24, 11, 8, 0};
    for (int di = 0; di < 4; di++) {
        rx_generator *g = gen_at(seed, start);
        rx_tensor *t = NULL;
        CHECK_OK(rx_rand(1, shape, dts[di], rx_cpu(), g, &t));
        for (int64_t i = 0; i < n; i++) {
            rx_philox_out o = rx_philox4x32_10(start + (uint64_t)i, seed);
            ref[i] = bits[di] ? unit_bits(o, bits[di])
                              : (double)(((uint64_t)o.r[0] << 32 | o.r[1]) >> 11) / 9007199254740992.0;
        }
        CHECK_TENSOR(t, 1, shape, ref, 0, 0);
        rx_generator_free(g);
        rx_tensor_release(t);
    }
    /* normal (f64, exact formula) and randint (i64) */
    rx_generator *g = gen_at(seed, start);
    rx_tensor *nt = NULL, *it = NULL;
    CHECK_OK(rx_randn(1, shape, RX_F64, rx_cpu(), g, &nt));
    for (int64_t i = 0; i < n; i++) {
        rx_philox_out o = rx_philox4x32_10(start + (uint64_t)i, seed);
        double u1 = ((double)o.r[0] + 1.0) / 4294967296.0, u2 = (double)o.r[1] / 4294967296.0;
        ref[i] = sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
    }
    CHECK_TENSOR(nt, 1, shape, ref, 1e-14, 1e-12);
    CHECK_OK(rx_randint(-7, 1000003, 1, shape, RX_I64, rx_cpu(), g, &it));
    for (int64_t i = 0; i < n; i++) {
        rx_philox_out o = rx_philox4x32_10(start + (uint64_t)n + (uint64_t)i, seed);
        ref[i] = (double)(-7 + (int64_t)(((uint64_t)o.r[0] << 32 | o.r[1]) % 1000010u));
    }
    CHECK_TENSOR(it, 1, shape, ref, 0, 0);
    rx_generator_free(g);
    t_release_all(2, (rx_tensor *[]){nt, it});
    /* bernoulli with a scalar p in several dtypes, then a per-element p */
    const rx_dtype bdts[] = {RX_F32, RX_F64, RX_BF16, RX_I32};
    const double p = 0.4954053313841075;
    for (int di = 0; di < 4; di++) {
        rx_generator *gb = gen_at(seed, start);
        rx_tensor *t = NULL;
        CHECK_OK(rx_bernoulli_scalar(p, 1, shape, bdts[di], rx_cpu(), gb, &t));
        for (int64_t i = 0; i < n; i++)
            ref[i] = unit_bits(rx_philox4x32_10(start + (uint64_t)i, seed), 24) < p;
        CHECK_TENSOR(t, 1, shape, ref, 0, 0);
        rx_generator_free(gb);
        rx_tensor_release(t);
    }
    double *pv = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) pv[i] = (double)(i % 11) / 10.0;
    rx_tensor *pt = t_from(1, shape, RX_F32, pv), *bt = NULL;
    rx_generator *gp = gen_at(seed, start);
    CHECK_OK(rx_bernoulli(pt, gp, &bt));
    for (int64_t i = 0; i < n; i++)
        ref[i] = unit_bits(rx_philox4x32_10(start + (uint64_t)i, seed), 24) < (double)(float)pv[i];
    CHECK_TENSOR(bt, 1, shape, ref, 0, 0);
    rx_generator_free(gp);
    t_release_all(2, (rx_tensor *[]){pt, bt});
    free(pv);
    free(ref);
}

/* The dropout of x (values xv, row-major) at (seed, offset) as the backend contract states it,
 * rounded to dt. */
static double *ref_dropout(const double *xv, int64_t n, double p, uint64_t seed, uint64_t offset, rx_dtype dt)
{
    double *r = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        bool drop = unit_bits(rx_philox4x32_10(offset + (uint64_t)i, seed), 24) < p;
        r[i] = drop ? 0.0 : ref_round(dt, xv[i] * (1.0 / (1.0 - p)));
    }
    return r;
}

/* Every dropped element is +0.0 (not -0.0). */
static bool zeros_positive(const rx_tensor *y)
{
    const float *v = rx_tensor_data_ptr(y);
    for (int64_t i = 0; i < rx_tensor_numel(y); i++)
        if (v[i] == 0.0f && signbit(v[i])) return false;
    return true;
}

static void test_dropout(void)
{
    const double p = 0.4954053313841075;
    const uint64_t seed = 3419, offset = 0xffffffffull - 40000;
    const int64_t shape[2] = {300, 257}, n = 300 * 257; /* parallel, with a partial last block */
    const rx_dtype dts[] = {RX_F32, RX_F64, RX_BF16};
    for (int di = 0; di < 3; di++) {
        rx_tensor *x = t_randn(2, shape, dts[di], 21), *y = NULL;
        double *xv = t_values(x);
        rx_generator *g = gen_at(seed, offset);
        CHECK_OK(rx_dropout(x, p, 1, g, &y));
        double *ref = ref_dropout(xv, n, p, seed, offset, dts[di]);
        CHECK_TENSOR(y, 2, shape, ref, 0, 0);
        if (dts[di] == RX_F32 && y) CHECK(zeros_positive(y));
        uint64_t s, off;
        rx_generator_get_state(g, &s, &off);
        CHECK(off == offset + (uint64_t)n);
        free(xv);
        free(ref);
        rx_generator_free(g);
        t_release_all(2, (rx_tensor *[]){x, y});
    }
    /* a transposed f32 view: element i is the view's row-major index */
    rx_tensor *x = t_randn(2, (const int64_t[]){257, 300}, RX_F32, 22), *xt = NULL, *y = NULL;
    CHECK_OK(rx_transpose(x, 0, 1, &xt));
    double *xv = t_values(xt);
    rx_generator *g = gen_at(seed, 5);
    CHECK_OK(rx_dropout(xt, 0.1871672079253271, 1, g, &y));
    double *ref = ref_dropout(xv, n, 0.1871672079253271, seed, 5, RX_F32);
    CHECK_TENSOR(y, 2, shape, ref, 0, 0);
    free(xv);
    free(ref);
    rx_generator_free(g);
    t_release_all(3, (rx_tensor *[]){x, xt, y});
}

/* SASRec's attention shape: causal, T = S = 9, dropout on the probabilities. */
enum { AB = 3, AH = 4, AT = 9, AD = 5 };

static double *ref_attention(const double *q, const double *k, const double *v, double p, uint64_t seed,
                             uint64_t offset)
{
    double *out = calloc(AB * AH * AT * AD, sizeof(double));
    for (int64_t b = 0; b < AB; b++)
        for (int64_t h = 0; h < AH; h++)
            for (int64_t t = 0; t < AT; t++) {
                double w[AT], mx = -INFINITY, sum = 0;
                int64_t base = (b * AH + h) * AT;
                for (int64_t s = 0; s <= t; s++) {
                    double dot = 0;
                    for (int64_t j = 0; j < AD; j++) dot += q[(base + t) * AD + j] * k[(base + s) * AD + j];
                    w[s] = dot / sqrt((double)AD);
                    mx = w[s] > mx ? w[s] : mx;
                }
                for (int64_t s = 0; s <= t; s++) sum += (w[s] = exp(w[s] - mx));
                for (int64_t s = 0; s <= t; s++) {
                    uint64_t i = (uint64_t)((base + t) * AT + s);
                    bool drop = unit_bits(rx_philox4x32_10(offset + i, seed), 24) < p;
                    double pr = drop ? 0.0 : w[s] / sum / (1.0 - p);
                    for (int64_t j = 0; j < AD; j++) out[(base + t) * AD + j] += pr * v[(base + s) * AD + j];
                }
            }
    return out;
}

static const double ATTN_P = 0.1871672079253271;
static const uint64_t ATTN_SEED = 77, ATTN_OFFSET = 0xffffffffull - 100;

static rx_status gc_attention(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    (void)ctx;
    rx_generator *g = gen_at(ATTN_SEED, ATTN_OFFSET);
    rx_attention_opts o = {.causal = 1, .dropout_p = ATTN_P, .generator = g};
    rx_status s = rx_attention(in[0], in[1], in[2], &o, out);
    rx_generator_free(g);
    return s;
}

static void test_attention_dropout(void)
{
    const int64_t shape[4] = {AB, AH, AT, AD};
    const rx_dtype dts[] = {RX_F64, RX_F32};
    const double tol[] = {1e-12, 1e-5};
    for (int di = 0; di < 2; di++) {
        rx_tensor *q = t_randn(4, shape, dts[di], 31), *k = t_randn(4, shape, dts[di], 32),
                  *v = t_randn(4, shape, dts[di], 33), *y = NULL;
        double *qv = t_values(q), *kv = t_values(k), *vv = t_values(v);
        double *ref = ref_attention(qv, kv, vv, ATTN_P, ATTN_SEED, ATTN_OFFSET);
        CHECK_OK(gc_attention((rx_tensor *[]){q, k, v}, NULL, &y));
        CHECK_TENSOR(y, 4, shape, ref, tol[di], tol[di]);
        free(qv), free(kv), free(vv), free(ref);
        t_release_all(4, (rx_tensor *[]){q, k, v, y});
    }
    rx_tensor *q = gc_leaf(4, shape, 41), *k = gc_leaf(4, shape, 42), *v = gc_leaf(4, shape, 43);
    gradcheck("attention dropout T = S = 9", gc_attention, 3, (rx_tensor *[]){q, k, v}, NULL, 1e-6, 1e-5);
    t_release_all(3, (rx_tensor *[]){q, k, v});
}

int main(void)
{
    RUN(test_words_paths);
    RUN(test_bernoulli_threshold);
    RUN(test_draws);
    RUN(test_dropout);
    RUN(test_attention_dropout);
    return check_finish();
}
