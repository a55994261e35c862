/* test_random.c — generators and random draws.
 *
 * Covers: the Philox4x32-10 known-answer vector (Random123 kat_vectors, counter 0 and key 0),
 * the value mapping of core/philox.h recomputed here from the raw words, reproducibility (same
 * seed, same numbers; results independent of the thread count), offsets (10 then 10 equals the
 * last 10 of 20; the offset advances by numel), the default generator, moments of 1e6 uniform
 * and normal draws, randint ranges for integer and float dtypes, bernoulli rates (scalar and
 * per-element p, in every dtype it supports), multinomial frequencies with and without
 * replacement, uniqueness without replacement, and argument errors.
 */
#include "check.h"
#include "core/philox.h"

#include <stdlib.h>
#include <string.h>

static void test_philox_kat(void)
{
    /* Random123 tests/kat_vectors: "philox4x32 10 00000000 00000000 00000000 00000000
     * 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8" */
    rx_philox_out o = rx_philox4x32_10(0, 0);
    CHECK(o.r[0] == 0x6627e8d5u);
    CHECK(o.r[1] == 0xe169c58du);
    CHECK(o.r[2] == 0xbc57ac4cu);
    CHECK(o.r[3] == 0x9b00dbd8u);
    /* the counter is 64 bits (words 0 and 1), the key is the seed's two words */
    rx_philox_out p = rx_philox4x32_10(1ull << 32, 0), q = rx_philox4x32_10(1, 0),
                  r = rx_philox4x32_10(0, 1ull << 32);
    CHECK(memcmp(&p, &q, sizeof p) != 0);
    CHECK(memcmp(&p, &o, sizeof p) != 0);
    CHECK(memcmp(&r, &o, sizeof r) != 0);
}

/* Each dtype's rand values, recomputed from the raw Philox words with the documented formulas. */
static void test_mapping(void)
{
    const rx_dtype dts[] = {RX_F32, RX_F16, RX_BF16, RX_F64};
    const int bits[] = {24, 11, 8, 53};
    uint64_t seed = 0x123456789abcdefull, start = 1000;
    for (int di = 0; di < 4; di++) {
        rx_generator *g = rx_generator_new(seed);
        rx_generator_set_state(g, seed, start);
        rx_tensor *t = NULL;
        CHECK_OK(rx_rand(1, (int64_t[]){50}, dts[di], rx_cpu(), g, &t));
        double ref[50];
        for (int i = 0; i < 50; i++) {
            rx_philox_out o = rx_philox4x32_10(start + (uint64_t)i, seed);
            if (bits[di] == 53)
                ref[i] = (double)((((uint64_t)o.r[0] << 32) | o.r[1]) >> 11) / 9007199254740992.0;
            else
                ref[i] = (double)(o.r[0] >> (32 - bits[di])) / (double)(1u << bits[di]);
        }
        CHECK_TENSOR(t, 1, ((int64_t[]){50}), ref, 0, 0);
        uint64_t s, off;
        rx_generator_get_state(g, &s, &off);
        CHECK(s == seed && off == start + 50);
        rx_tensor_release(t);
        rx_generator_free(g);
    }
    /* randn and randint follow the same words */
    rx_generator *g = rx_generator_new(7);
    rx_tensor *n = NULL, *k = NULL;
    CHECK_OK(rx_randn(1, (int64_t[]){20}, RX_F64, rx_cpu(), g, &n));
    CHECK_OK(rx_randint(-5, 1000003, 1, (int64_t[]){20}, RX_I64, rx_cpu(), g, &k));
    double rn[20], rk[20];
    for (int i = 0; i < 20; i++) {
        rx_philox_out o = rx_philox4x32_10((uint64_t)i, 7);
        double u1 = ((double)o.r[0] + 1.0) / 4294967296.0, u2 = (double)o.r[1] / 4294967296.0;
        rn[i] = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        rx_philox_out o2 = rx_philox4x32_10((uint64_t)(20 + i), 7);
        rk[i] = -5.0 + (double)(((((uint64_t)o2.r[0] << 32) | o2.r[1])) % 1000008u);
    }
    CHECK_TENSOR(n, 1, ((int64_t[]){20}), rn, 1e-15, 1e-12);
    CHECK_TENSOR(k, 1, ((int64_t[]){20}), rk, 0, 0);
    rx_tensor_release(n), rx_tensor_release(k);
    rx_generator_free(g);
}

static bool same_values(const rx_tensor *a, const rx_tensor *b)
{
    int64_t n = rx_tensor_numel(a);
    if (n != rx_tensor_numel(b)) return false;
    double *x = t_values(a), *y = t_values(b);
    bool eq = memcmp(x, y, sizeof(double) * (size_t)n) == 0;
    free(x), free(y);
    return eq;
}

static void test_reproducible(void)
{
    rx_generator *g1 = rx_generator_new(42), *g2 = rx_generator_new(42), *g3 = rx_generator_new(43);
    rx_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(rx_randn(2, (int64_t[]){100, 700}, RX_F32, rx_cpu(), g1, &a)); /* large: parallel */
    int threads = rx_get_num_threads();
    rx_set_num_threads(1);
    CHECK_OK(rx_randn(2, (int64_t[]){100, 700}, RX_F32, rx_cpu(), g2, &b));
    rx_set_num_threads(threads);
    CHECK_OK(rx_randn(2, (int64_t[]){100, 700}, RX_F32, rx_cpu(), g3, &c));
    CHECK(same_values(a, b));
    CHECK(!same_values(a, c));
    rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(c);

    /* reseeding restarts the stream */
    rx_generator_set_seed(g1, 42);
    uint64_t s, off;
    rx_generator_get_state(g1, &s, &off);
    CHECK(s == 42 && off == 0);
    CHECK_OK(rx_rand(1, (int64_t[]){30}, RX_F64, rx_cpu(), g1, &a));
    rx_generator_set_seed(g1, 42);
    CHECK_OK(rx_rand(1, (int64_t[]){30}, RX_F64, rx_cpu(), g1, &b));
    CHECK(same_values(a, b));
    rx_tensor_release(a), rx_tensor_release(b);
    rx_generator_free(g1), rx_generator_free(g2), rx_generator_free(g3);
}

/* Drawing 10 then 10 gives the last 10 of drawing 20 after reseeding... and the first 10. */
static void test_offsets(void)
{
    rx_generator *g = rx_generator_new(2024);
    rx_tensor *a = NULL, *b = NULL, *all = NULL;
    CHECK_OK(rx_rand(1, (int64_t[]){10}, RX_F32, rx_cpu(), g, &a));
    CHECK_OK(rx_rand(2, (int64_t[]){2, 5}, RX_F32, rx_cpu(), g, &b));
    uint64_t s, off;
    rx_generator_get_state(g, &s, &off);
    CHECK(off == 20);
    rx_generator_set_seed(g, 2024);
    CHECK_OK(rx_rand(1, (int64_t[]){20}, RX_F32, rx_cpu(), g, &all));
    double *av = t_values(a), *bv = t_values(b), *v = t_values(all);
    CHECK(memcmp(av, v, sizeof(double) * 10) == 0);
    CHECK(memcmp(bv, v + 10, sizeof(double) * 10) == 0);
    free(av), free(bv), free(v);
    rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(all);
    /* an empty draw takes no counters */
    CHECK_OK(rx_rand(2, (int64_t[]){0, 3}, RX_F32, rx_cpu(), g, &a));
    rx_generator_get_state(g, &s, &off);
    CHECK(off == 20);
    rx_tensor_release(a);
    rx_generator_free(g);
}

static void test_default_generator(void)
{
    rx_generator *d = rx_default_generator();
    CHECK(d != NULL);
    rx_generator_set_seed(d, 5);
    rx_tensor *a = NULL, *b = NULL;
    CHECK_OK(rx_rand(1, (int64_t[]){8}, RX_F32, rx_cpu(), NULL, &a)); /* NULL: the default */
    uint64_t s, off;
    rx_generator_get_state(d, &s, &off);
    CHECK(s == 5 && off == 8);
    rx_generator *g = rx_generator_new(5);
    CHECK_OK(rx_rand(1, (int64_t[]){8}, RX_F32, rx_cpu(), g, &b));
    CHECK(same_values(a, b));
    rx_tensor_release(a), rx_tensor_release(b);
    rx_generator_free(g);
    rx_generator_free(NULL);
}

/* Mean and variance of n values of t. */
static void moments(const rx_tensor *t, double *mean, double *var)
{
    int64_t n = rx_tensor_numel(t);
    double *v = t_values(t), s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    *var = ss / (double)n;
    free(v);
}

/* 1e6 draws: the standard error of the mean is 0.29e-3 (uniform) and 1e-3 (normal); the
 * tolerances below are more than 5 standard errors (the seed is fixed, so this is exact anyway). */
static void test_moments(void)
{
    const rx_dtype dts[] = {RX_F32, RX_F64, RX_F16, RX_BF16};
    for (int di = 0; di < 4; di++) {
        rx_generator *g = rx_generator_new(100 + (uint64_t)di);
        rx_tensor *u = NULL, *z = NULL;
        CHECK_OK(rx_rand(1, (int64_t[]){1000000}, dts[di], rx_cpu(), g, &u));
        CHECK_OK(rx_randn(2, (int64_t[]){1000, 1000}, dts[di], rx_cpu(), g, &z));
        double m, v;
        moments(u, &m, &v);
        /* bf16 uniforms are k/256: mean 0.5 - 1/512, variance (1 - 1/65536)/12 */
        double um = dts[di] == RX_BF16 ? 0.5 - 1.0 / 512 : 0.5;
        CHECK(fabs(m - um) < 2e-3);
        CHECK(fabs(v - 1.0 / 12) < 2e-3);
        double *uv = t_values(u), lo = 1, hi = 0;
        for (int64_t i = 0; i < 1000000; i++) lo = uv[i] < lo ? uv[i] : lo, hi = uv[i] > hi ? uv[i] : hi;
        CHECK(lo >= 0.0 && lo < 1e-3 && hi < 1.0 && hi > 0.99);
        free(uv);
        moments(z, &m, &v);
        CHECK(fabs(m) < 6e-3);
        CHECK(fabs(v - 1.0) < 1e-2);
        rx_tensor_release(u), rx_tensor_release(z);
        rx_generator_free(g);
    }
}

static void test_randint(void)
{
    const rx_dtype dts[] = {RX_I64, RX_I32, RX_F32, RX_F64, RX_F16, RX_BF16};
    for (int di = 0; di < 6; di++) {
        rx_generator *g = rx_generator_new(9);
        rx_tensor *t = NULL;
        CHECK_OK(rx_randint(-3, 7, 2, (int64_t[]){200, 100}, dts[di], rx_cpu(), g, &t));
        CHECK(t && rx_tensor_dtype(t) == dts[di]);
        double *v = t_values(t);
        int64_t count[10] = {0};
        bool ok = true;
        for (int i = 0; i < 20000; i++) {
            if (v[i] != floor(v[i]) || v[i] < -3 || v[i] >= 7)
                ok = false;
            else
                count[(int)v[i] + 3]++;
        }
        CHECK(ok);
        for (int k = 0; k < 10; k++) CHECK(count[k] > 1700 && count[k] < 2300); /* 2000 +- 7 sd */
        free(v);
        rx_tensor_release(t);
        rx_generator_free(g);
    }
    /* a range beyond 32 bits in i64 */
    rx_generator *g = rx_generator_new(10);
    rx_tensor *t = NULL;
    int64_t lo = -((int64_t)1 << 40), hi = (int64_t)1 << 41;
    CHECK_OK(rx_randint(lo, hi, 1, (int64_t[]){1000}, RX_I64, rx_cpu(), g, &t));
    int64_t *p = rx_tensor_data_ptr(t);
    bool ok = true, big = false;
    for (int i = 0; i < 1000; i++) {
        if (p[i] < lo || p[i] >= hi) ok = false;
        if (p[i] > ((int64_t)1 << 40)) big = true;
    }
    CHECK(ok && big);
    rx_tensor_release(t);
    rx_generator_free(g);
}

static void test_bernoulli(void)
{
    const rx_dtype dts[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_BOOL, RX_U8, RX_I32, RX_I64};
    for (int di = 0; di < 8; di++) {
        rx_generator *g = rx_generator_new(11);
        rx_tensor *t = NULL;
        CHECK_OK(rx_bernoulli_scalar(0.3, 1, (int64_t[]){100000}, dts[di], rx_cpu(), g, &t));
        double *v = t_values(t);
        int64_t ones = 0;
        bool binary = true;
        for (int i = 0; i < 100000; i++) {
            ones += v[i] == 1.0;
            binary = binary && (v[i] == 0.0 || v[i] == 1.0);
        }
        CHECK(binary);
        CHECK(fabs((double)ones / 100000 - 0.3) < 0.008); /* sd 0.00145 */
        free(v);
        rx_tensor_release(t);
        rx_generator_free(g);
    }
    /* p = 0 and p = 1 are exact */
    rx_tensor *t0 = NULL, *t1 = NULL;
    CHECK_OK(rx_bernoulli_scalar(0.0, 1, (int64_t[]){1000}, RX_F32, rx_cpu(), NULL, &t0));
    CHECK_OK(rx_bernoulli_scalar(1.0, 1, (int64_t[]){1000}, RX_F32, rx_cpu(), NULL, &t1));
    double zeros[1000], ones[1000];
    for (int i = 0; i < 1000; i++) zeros[i] = 0, ones[i] = 1;
    CHECK_TENSOR(t0, 1, ((int64_t[]){1000}), zeros, 0, 0);
    CHECK_TENSOR(t1, 1, ((int64_t[]){1000}), ones, 0, 0);
    rx_tensor_release(t0), rx_tensor_release(t1);

    /* per-element p from an expanded (non-contiguous) tensor: columns with p 0, 0.25, 0.9, 1 */
    const rx_dtype fdts[] = {RX_F32, RX_F64, RX_F16, RX_BF16};
    for (int di = 0; di < 4; di++) {
        rx_tensor *row = t_from(2, (int64_t[]){1, 4}, fdts[di], (double[]){0.0, 0.25, 0.9, 1.0}), *p;
        CHECK_OK(rx_expand(row, 2, (int64_t[]){50000, 4}, &p));
        rx_generator *g = rx_generator_new(12);
        rx_tensor *t = NULL;
        CHECK_OK(rx_bernoulli(p, g, &t));
        CHECK(t && rx_tensor_dtype(t) == fdts[di] && rx_tensor_is_contiguous(t));
        double *v = t_values(t);
        int64_t count[4] = {0};
        for (int i = 0; i < 50000; i++)
            for (int k = 0; k < 4; k++) count[k] += v[i * 4 + k] == 1.0;
        CHECK(count[0] == 0 && count[3] == 50000);
        CHECK(fabs(count[1] / 50000.0 - 0.25) < 0.012 && fabs(count[2] / 50000.0 - 0.9) < 0.008);
        /* the same draw as the scalar version element by element: column 1 uses counters 4i+1 */
        bool match = true;
        for (int i = 0; i < 200; i++) {
            rx_philox_out o = rx_philox4x32_10((uint64_t)(4 * i + 1), 12);
            double u = (double)(o.r[0] >> 8) / 16777216.0;
            if (v[i * 4 + 1] != (u < 0.25 ? 1.0 : 0.0)) match = false;
        }
        CHECK(match);
        uint64_t s, off;
        rx_generator_get_state(g, &s, &off);
        CHECK(off == 200000);
        free(v);
        rx_tensor_release(row), rx_tensor_release(p), rx_tensor_release(t);
        rx_generator_free(g);
    }
}

/* Frequencies of 200000 draws with replacement from weights (1, 0, 3, 6) in a (2, 4) batch (the
 * second row reversed), and 1-D weights. */
static void test_multinomial_replacement(void)
{
    rx_tensor *w = t_from(2, (int64_t[]){2, 4}, RX_F32, (double[]){1, 0, 3, 6, 6, 3, 0, 1}), *t = NULL;
    rx_generator *g = rx_generator_new(13);
    int64_t k = 200000;
    CHECK_OK(rx_multinomial(w, k, 1, g, &t));
    CHECK(t && rx_tensor_ndim(t) == 2 && rx_tensor_size(t, 0) == 2 && rx_tensor_size(t, 1) == k);
    CHECK(t && rx_tensor_dtype(t) == RX_I64);
    const int64_t *p = rx_tensor_data_ptr(t);
    double freq[2][4] = {{0}};
    for (int r = 0; r < 2; r++)
        for (int64_t i = 0; i < k; i++) freq[r][p[r * k + i]] += 1.0 / (double)k;
    const double want[4] = {0.1, 0.0, 0.3, 0.6};
    for (int c = 0; c < 4; c++) {
        CHECK(fabs(freq[0][c] - want[c]) < 0.005); /* sd <= 0.0011 */
        CHECK(fabs(freq[1][3 - c] - want[c]) < 0.005);
    }
    CHECK(freq[0][1] == 0.0 && freq[1][2] == 0.0);
    uint64_t s, off;
    rx_generator_get_state(g, &s, &off);
    CHECK(off == (uint64_t)(2 * k));
    rx_tensor_release(t);
    /* 1-D weights in f64, narrowed view */
    rx_tensor *w1 = t_from(1, (int64_t[]){5}, RX_F64, (double[]){9, 0, 1, 0, 5}), *wn;
    CHECK_OK(rx_narrow(w1, 0, 1, 4, &wn)); /* (0, 1, 0, 5) */
    CHECK_OK(rx_multinomial(wn, 60000, 1, g, &t));
    CHECK(t && rx_tensor_ndim(t) == 1 && rx_tensor_size(t, 0) == 60000);
    p = rx_tensor_data_ptr(t);
    int64_t c3 = 0;
    bool valid = true;
    for (int i = 0; i < 60000; i++) {
        valid = valid && (p[i] == 1 || p[i] == 3);
        c3 += p[i] == 3;
    }
    CHECK(valid);
    CHECK(fabs((double)c3 / 60000 - 5.0 / 6) < 0.01);
    rx_tensor_release(t), rx_tensor_release(w), rx_tensor_release(w1), rx_tensor_release(wn);
    rx_generator_free(g);
}

/* Without replacement: every row's samples are distinct, never a zero weight, and the first
 * draw follows the weights; drawing all categories gives a permutation. */
static void test_multinomial_no_replacement(void)
{
    rx_tensor *w = t_from(1, (int64_t[]){6}, RX_BF16, (double[]){1, 2, 0, 4, 1, 0});
    rx_generator *g = rx_generator_new(14);
    int64_t first[6] = {0};
    int trials = 20000;
    bool distinct = true, nonzero = true;
    for (int r = 0; r < trials; r++) {
        rx_tensor *t = NULL;
        CHECK_OK(rx_multinomial(w, 4, 0, g, &t));
        if (!t) break;
        const int64_t *p = rx_tensor_data_ptr(t);
        for (int i = 0; i < 4; i++) {
            nonzero = nonzero && p[i] != 2 && p[i] != 5;
            for (int j = 0; j < i; j++) distinct = distinct && p[i] != p[j];
        }
        first[p[0]]++;
        rx_tensor_release(t);
    }
    CHECK(distinct && nonzero);
    CHECK(fabs((double)first[3] / trials - 0.5) < 0.015);  /* 4 / 8 */
    CHECK(fabs((double)first[1] / trials - 0.25) < 0.015); /* 2 / 8 */
    /* a permutation of all 5 categories of each row of a (3, 5) batch */
    rx_tensor *u =
        t_from(2, (int64_t[]){3, 5}, RX_F32, (double[]){1, 1, 1, 1, 1, 5, 4, 3, 2, 1, 1, 0.5, 7, 2, 3});
    rx_tensor *t = NULL;
    CHECK_OK(rx_multinomial(u, 5, 0, g, &t));
    const int64_t *p = t ? rx_tensor_data_ptr(t) : NULL;
    for (int r = 0; p && r < 3; r++) {
        int seen = 0;
        for (int i = 0; i < 5; i++) seen |= 1 << p[r * 5 + i];
        CHECK(seen == 31);
    }
    rx_tensor_release(t), rx_tensor_release(w), rx_tensor_release(u);
    rx_generator_free(g);
}

static void test_errors(void)
{
    rx_tensor *t = (rx_tensor *)1;
    CHECK_ERR(rx_rand(1, (int64_t[]){3}, RX_I32, rx_cpu(), NULL, &t), RX_ERR_DTYPE,
              "rand: expected a floating-point dtype (f32, f16, bf16, f64), got i32");
    CHECK(t == NULL);
    CHECK_ERR(rx_randn(1, (int64_t[]){3}, RX_BOOL, rx_cpu(), NULL, &t), RX_ERR_DTYPE,
              "randn: expected a floating-point");
    CHECK_ERR(rx_rand(1, (int64_t[]){-3}, RX_F32, rx_cpu(), NULL, &t), RX_ERR_SHAPE,
              "rand: size -3 at dim 0");
    CHECK_ERR(rx_randint(5, 5, 1, (int64_t[]){3}, RX_I64, rx_cpu(), NULL, &t), RX_ERR_ARG,
              "randint: expected low < high, got low = 5, high = 5");
    CHECK_ERR(rx_randint(0, (int64_t)1 << 40, 1, (int64_t[]){3}, RX_I32, rx_cpu(), NULL, &t), RX_ERR_ARG,
              "does not fit dtype i32");
    CHECK_ERR(rx_randint(0, 2, 1, (int64_t[]){3}, RX_BOOL, rx_cpu(), NULL, &t), RX_ERR_DTYPE,
              "randint: expected dtype");
    CHECK_ERR(rx_randint(0, INT64_MAX, 1, (int64_t[]){3}, RX_I64, rx_cpu(), NULL, &t), RX_ERR_ARG, "2^53");
    CHECK_ERR(rx_bernoulli_scalar(1.5, 1, (int64_t[]){3}, RX_F32, rx_cpu(), NULL, &t), RX_ERR_ARG,
              "bernoulli: argument #1: expected a probability in [0, 1], got 1.5");
    CHECK_ERR(rx_bernoulli_scalar(NAN, 1, (int64_t[]){3}, RX_F32, rx_cpu(), NULL, &t), RX_ERR_ARG,
              "probability");
    rx_tensor *p = t_from(1, (int64_t[]){3}, RX_F32, (double[]){0.5, -0.1, 1});
    CHECK_ERR(rx_bernoulli(p, NULL, &t), RX_ERR_ARG,
              "bernoulli: argument #1: expected probabilities in [0, 1], got -0.1 at element 1");
    rx_tensor *pi = t_from(1, (int64_t[]){3}, RX_I32, (double[]){0, 1, 1});
    CHECK_ERR(rx_bernoulli(pi, NULL, &t), RX_ERR_DTYPE,
              "bernoulli: argument #1: expected a floating-point tensor");
    rx_tensor *neg = t_from(2, (int64_t[]){2, 2}, RX_F32, (double[]){1, 1, 1, -1});
    CHECK_ERR(rx_multinomial(neg, 1, 1, NULL, &t), RX_ERR_ARG,
              "multinomial: argument #1: weights must be finite and non-negative, got -1 in row 1");
    rx_tensor *zero = t_from(2, (int64_t[]){2, 2}, RX_F32, (double[]){1, 1, 0, 0});
    CHECK_ERR(rx_multinomial(zero, 1, 1, NULL, &t), RX_ERR_ARG,
              "multinomial: argument #1: row 1 has no positive weight");
    rx_tensor *w = t_from(1, (int64_t[]){3}, RX_F32, (double[]){1, 0, 1});
    CHECK_ERR(rx_multinomial(w, 4, 0, NULL, &t), RX_ERR_ARG,
              "cannot draw 4 samples without replacement from 3 categories");
    CHECK_ERR(rx_multinomial(w, 3, 0, NULL, &t), RX_ERR_ARG,
              "cannot draw 3 samples without replacement from row 0 with 2 positive");
    CHECK_ERR(rx_multinomial(w, 0, 1, NULL, &t), RX_ERR_ARG,
              "multinomial: argument #2: expected a positive number");
    rx_tensor *s = t_from(0, NULL, RX_F32, (double[]){1});
    CHECK_ERR(rx_multinomial(s, 1, 1, NULL, &t), RX_ERR_SHAPE,
              "multinomial: argument #1: expected weights of shape (n) or (B, n), got ()");
    CHECK(t == NULL);
    /* failed draws take no counters */
    uint64_t seed, off0, off1;
    rx_generator_get_state(NULL, &seed, &off0);
    CHECK_ERR(rx_multinomial(zero, 1, 1, NULL, &t), RX_ERR_ARG, "no positive weight");
    rx_generator_get_state(NULL, &seed, &off1);
    CHECK(off0 == off1);
    rx_tensor_release(p), rx_tensor_release(pi), rx_tensor_release(neg), rx_tensor_release(zero);
    rx_tensor_release(w), rx_tensor_release(s);
}

int main(void)
{
    RUN(test_philox_kat);
    RUN(test_mapping);
    RUN(test_reproducible);
    RUN(test_offsets);
    RUN(test_default_generator);
    RUN(test_moments);
    RUN(test_randint);
    RUN(test_bernoulli);
    RUN(test_multinomial_replacement);
    RUN(test_multinomial_no_replacement);
    RUN(test_errors);
    return check_finish();
}
