/* test_softmax_sort.c — rx_softmax, rx_log_softmax, rx_sort and rx_topk on the CPU.
 *
 * Softmax results are compared with double-precision references computed here (including rows
 * of large values, -inf entries, rows of -inf only, dim 0 and non-contiguous inputs, every float
 * dtype); sort and top-k with a reference stable insertion sort over (value, position) written
 * here: many ties in both directions, NaN as the largest value, -0 equal to +0, every dtype,
 * any dim, long rows that take the bounded-heap top-k path, k = 0 and k = N, and error paths.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const rx_dtype float_dtypes[] = {RX_F32, RX_F64, RX_F16, RX_BF16};
static const rx_dtype all_dtypes[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I32, RX_I64, RX_U8, RX_BOOL};

static double rtol_of(rx_dtype dt)
{
    switch (dt) {
    case RX_F16: return 2e-3;
    case RX_BF16: return 8e-3;
    case RX_F32: return 2e-6;
    default: return 1e-12;
    }
}

/* softmax or log-softmax along dim of row-major (r, c) doubles. */
static void ref_softmax(const double *x, int64_t r, int64_t c, int dim, int log_out, double *out)
{
    int64_t outer = dim == 0 ? c : r, inner = dim == 0 ? r : c;
    for (int64_t o = 0; o < outer; o++) {
        int64_t step = dim == 0 ? c : 1, start = dim == 0 ? o : o * c;
        double mx = -INFINITY;
        for (int64_t i = 0; i < inner; i++) mx = fmax(mx, x[start + i * step]);
        double sum = 0;
        for (int64_t i = 0; i < inner; i++) sum += exp(x[start + i * step] - mx);
        for (int64_t i = 0; i < inner; i++) {
            double z = x[start + i * step] - mx;
            out[start + i * step] = log_out ? z - log(sum) : exp(z) / sum;
        }
    }
}

static rx_tensor *make_wave(int ndim, const int64_t *shape, rx_dtype dt, double scale)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double *v = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = scale * sin(i * 0.37) + 0.25 * cos(i * 1.3);
    rx_tensor *t = t_from(ndim, shape, dt, v);
    free(v);
    return t;
}

static void check_softmax_2d(rx_tensor *x, int dim, int log_out, double rt)
{
    int64_t r = rx_tensor_size(x, 0), c = rx_tensor_size(x, 1);
    double *xv = t_values(x), *ref = malloc(sizeof(double) * (size_t)(r * c));
    ref_softmax(xv, r, c, dim < 0 ? dim + 2 : dim, log_out, ref);
    rx_tensor *out = NULL;
    CHECK_OK((log_out ? rx_log_softmax : rx_softmax)(x, dim, &out));
    CHECK(out && rx_tensor_dtype(out) == rx_tensor_dtype(x) && rx_tensor_is_contiguous(out));
    /* log-softmax is compared with an absolute tolerance scaled by its magnitude */
    CHECK_TENSOR(out, 2, ((const int64_t[]){r, c}), ref, log_out ? rt * 10 : rt * 1e-3, rt);
    rx_tensor_release(out);
    free(xv);
    free(ref);
}

static void test_softmax_dtypes_dims(void)
{
    for (int t = 0; t < 4; t++) {
        rx_dtype dt = float_dtypes[t];
        rx_tensor *x = make_wave(2, (const int64_t[]){6, 9}, dt, 3);
        rx_tensor *tr = NULL;
        CHECK_OK(rx_transpose(x, 0, 1, &tr));
        for (int log_out = 0; log_out < 2; log_out++) {
            check_softmax_2d(x, 1, log_out, rtol_of(dt));
            check_softmax_2d(x, -1, log_out, rtol_of(dt));
            check_softmax_2d(x, 0, log_out, rtol_of(dt));
            check_softmax_2d(tr, 1, log_out, rtol_of(dt));
            check_softmax_2d(tr, 0, log_out, rtol_of(dt));
        }
        rx_tensor_release(tr);
        rx_tensor_release(x);
    }
}

/* Softmax along the middle dim of a 3-D tensor equals the 2-D softmax of each slice. */
static void test_softmax_3d(void)
{
    rx_tensor *x = make_wave(3, (const int64_t[]){2, 5, 3}, RX_F64, 2);
    double *xv = t_values(x), ref[30];
    for (int b = 0; b < 2; b++) ref_softmax(xv + 15 * b, 5, 3, 0, 0, ref + 15 * b);
    rx_tensor *out = NULL;
    CHECK_OK(rx_softmax(x, 1, &out));
    CHECK_TENSOR(out, 3, ((const int64_t[]){2, 5, 3}), ref, 1e-14, 1e-12);
    rx_tensor_release(out);
    rx_tensor_release(x);
    free(xv);
}

/* Many rows run in parallel. */
static void test_softmax_many_rows(void)
{
    rx_tensor *x = make_wave(2, (const int64_t[]){5000, 33}, RX_F32, 4);
    check_softmax_2d(x, 1, 0, 2e-6);
    check_softmax_2d(x, 1, 1, 2e-6);
    rx_tensor_release(x);
    rx_tensor *h = make_wave(2, (const int64_t[]){3000, 17}, RX_BF16, 4);
    check_softmax_2d(h, 1, 0, 8e-3);
    rx_tensor_release(h);
}

static void test_softmax_extremes(void)
{
    /* large values: no overflow; -inf entries get probability 0; a row of -inf gives NaN */
    const double v[12] = {1000, 999, 998, 0, -1000, 0, 1000, 500, -INFINITY, 2, -INFINITY, 1};
    for (int t = 0; t < 4; t++) {
        rx_dtype dt = float_dtypes[t];
        rx_tensor *x = t_from(2, (const int64_t[]){3, 4}, dt, v);
        double *xv = t_values(x), ref[12], lref[12];
        ref_softmax(xv, 3, 4, 1, 0, ref);
        ref_softmax(xv, 3, 4, 1, 1, lref);
        rx_tensor *out = NULL;
        CHECK_OK(rx_softmax(x, 1, &out));
        CHECK_TENSOR(out, 2, ((const int64_t[]){3, 4}), ref, 1e-7, rtol_of(dt));
        rx_tensor_release(out);
        CHECK_OK(rx_log_softmax(x, 1, &out));
        CHECK_TENSOR(out, 2, ((const int64_t[]){3, 4}), lref, 1e-5, rtol_of(dt));
        rx_tensor_release(out);
        free(xv);
        rx_tensor_release(x);
    }
    const double w[6] = {-INFINITY, -INFINITY, -INFINITY, 60000, 60001, 59999};
    for (int t = 0; t < 4; t++) {
        rx_dtype dt = float_dtypes[t];
        rx_tensor *x = t_from(2, (const int64_t[]){2, 3}, dt, w);
        double *xv = t_values(x), ref[6];
        ref_softmax(xv, 2, 3, 1, 0, ref);
        CHECK(isnan(ref[0]) && isnan(ref[2]));
        rx_tensor *out = NULL;
        CHECK_OK(rx_softmax(x, -1, &out));
        CHECK_TENSOR(out, 2, ((const int64_t[]){2, 3}), ref, 1e-6, rtol_of(dt));
        rx_tensor_release(out);
        CHECK_OK(rx_log_softmax(x, -1, &out));
        double *o = out ? t_values(out) : NULL;
        if (o) CHECK(isnan(o[0]) && isnan(o[1]) && isnan(o[2]) && isfinite(o[3]) && isfinite(o[4]));
        free(o);
        rx_tensor_release(out);
        free(xv);
        rx_tensor_release(x);
    }
    /* a NaN poisons its row only */
    rx_tensor *x = t_from(2, (const int64_t[]){2, 2}, RX_F32, (const double[]){1, NAN, 0, 0});
    rx_tensor *out = NULL;
    CHECK_OK(rx_softmax(x, 1, &out));
    CHECK_TENSOR(out, 2, ((const int64_t[]){2, 2}), ((const double[]){NAN, NAN, 0.5, 0.5}), 0, 1e-7);
    rx_tensor_release(out);
    rx_tensor_release(x);
}

static void test_softmax_scalar_empty(void)
{
    rx_tensor *s = t_from(0, NULL, RX_F32, (const double[]){-3});
    rx_tensor *out = NULL;
    CHECK_OK(rx_softmax(s, 0, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){1}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_log_softmax(s, -1, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){0}), 0, 0);
    rx_tensor_release(out);
    rx_tensor_release(s);
    rx_tensor *e = NULL;
    CHECK_OK(rx_zeros(2, (const int64_t[]){0, 4}, RX_BF16, rx_cpu(), &e));
    CHECK_OK(rx_softmax(e, 1, &out));
    CHECK(out && rx_tensor_size(out, 0) == 0 && rx_tensor_size(out, 1) == 4);
    rx_tensor_release(out);
    rx_tensor_release(e);
}

static void test_softmax_errors(void)
{
    rx_tensor *xi = t_from(1, (const int64_t[]){3}, RX_I32, (const double[]){1, 2, 3});
    rx_tensor *x = t_from(1, (const int64_t[]){3}, RX_F32, (const double[]){1, 2, 3});
    rx_tensor *out = x;
    CHECK_ERR(rx_softmax(xi, 0, &out), RX_ERR_DTYPE,
              "softmax: argument #1: expected a floating-point tensor");
    CHECK(out == NULL);
    CHECK_ERR(rx_log_softmax(xi, 0, &out), RX_ERR_DTYPE, "log_softmax: argument #1");
    CHECK_ERR(rx_softmax(x, 1, &out), RX_ERR_ARG, "softmax: argument #2: dim 1 out of range");
    CHECK_ERR(rx_log_softmax(x, -2, &out), RX_ERR_ARG, "log_softmax: argument #2: dim -2");
    CHECK_ERR(rx_softmax(NULL, 0, &out), RX_ERR_ARG, "softmax: argument #1");
    rx_tensor_release(xi);
    rx_tensor_release(x);
}

/* ---- sort and top-k ---------------------------------------------------------------------- */

/* Does value a at position ia come before b at ib (NaN largest; stable)? */
static bool before(double a, int64_t ia, double b, int64_t ib, int descending)
{
    bool na = isnan(a), nb = isnan(b);
    if (na || nb) {
        if (na && nb) return ia < ib;
        return descending ? na : nb;
    }
    if (a != b) return descending ? a > b : a < b;
    return ia < ib;
}

/* Stable reference sort of n doubles with stride `step` from x + start: writes positions. */
static void ref_argsort(const double *x, int64_t start, int64_t step, int64_t n, int descending, int64_t *pos)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        while (j > 0 &&
               before(x[start + i * step], i, x[start + pos[j - 1] * step], pos[j - 1], descending)) {
            pos[j] = pos[j - 1];
            j--;
        }
        pos[j] = i;
    }
}

/* Checks sort (k < 0) or top-k of x (2-D) along dim against the reference, values and indices. */
static void check_sort_2d(rx_tensor *x, int dim, int descending, int64_t k)
{
    int64_t r = rx_tensor_size(x, 0), c = rx_tensor_size(x, 1);
    int d = dim < 0 ? dim + 2 : dim;
    int64_t n = d == 0 ? r : c, outer = d == 0 ? c : r, kk = k < 0 ? n : k;
    double *xv = t_values(x);
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t oshape[2] = {d == 0 ? kk : r, d == 0 ? c : kk};
    double *rv = malloc(sizeof(double) * (size_t)(outer * kk + 1)),
           *ri = malloc(sizeof(double) * (size_t)(outer * kk + 1));
    for (int64_t o = 0; o < outer; o++) {
        int64_t start = d == 0 ? o : o * c, step = d == 0 ? c : 1;
        ref_argsort(xv, start, step, n, descending, pos);
        for (int64_t i = 0; i < kk; i++) {
            int64_t at = d == 0 ? i * c + o : o * kk + i;
            rv[at] = xv[start + pos[i] * step];
            ri[at] = (double)pos[i];
        }
    }
    rx_tensor *vals = NULL, *idx = NULL;
    if (k < 0)
        CHECK_OK(rx_sort(x, dim, descending, &vals, &idx));
    else
        CHECK_OK(rx_topk(x, k, dim, descending, &vals, &idx));
    int before_fail = check_failures_in_test;
    CHECK(vals && rx_tensor_dtype(vals) == rx_tensor_dtype(x) && rx_tensor_is_contiguous(vals));
    CHECK(idx && rx_tensor_dtype(idx) == RX_I64 && rx_tensor_is_contiguous(idx));
    CHECK_TENSOR(vals, 2, oshape, rv, 0, 0);
    CHECK_TENSOR(idx, 2, oshape, ri, 0, 0);
    if (check_failures_in_test != before_fail)
        fprintf(stderr, "    in %s of %s (%lld, %lld) dim %d descending %d k %lld\n", k < 0 ? "sort" : "topk",
                rx_dtype_name(rx_tensor_dtype(x)), (long long)r, (long long)c, dim, descending, (long long)k);
    rx_tensor_release(vals);
    rx_tensor_release(idx);
    free(xv);
    free(pos);
    free(rv);
    free(ri);
}

/* Values with many ties, in a small range that every dtype holds exactly. */
static rx_tensor *make_ties(int64_t r, int64_t c, rx_dtype dt)
{
    double *v = malloc(sizeof(double) * (size_t)(r * c));
    for (int64_t i = 0; i < r * c; i++) {
        int64_t q = (i * 7 + i / 5) % 6;
        v[i] = dt == RX_BOOL ? (q > 2) : dt == RX_U8 ? (double)q : (double)q - 2.5 * (q % 2);
    }
    rx_tensor *t = t_from(2, (const int64_t[]){r, c}, dt, v);
    free(v);
    return t;
}

static void test_sort_stable_ties(void)
{
    for (int t = 0; t < 8; t++) {
        rx_dtype dt = all_dtypes[t];
        rx_tensor *x = make_ties(4, 50, dt);
        rx_tensor *tr = NULL;
        CHECK_OK(rx_transpose(x, 0, 1, &tr)); /* (50, 4), non-contiguous */
        for (int desc = 0; desc < 2; desc++) {
            check_sort_2d(x, 1, desc, -1);
            check_sort_2d(x, 0, desc, -1);
            check_sort_2d(tr, 0, desc, -1);
            check_sort_2d(tr, -1, desc, -1);
        }
        rx_tensor_release(tr);
        rx_tensor_release(x);
    }
}

/* Long rows: merge passes well beyond the insertion runs, in parallel over rows. */
static void test_sort_long_rows(void)
{
    const int64_t r = 8, c = 5000;
    double *v = malloc(sizeof(double) * (size_t)(r * c));
    for (int64_t i = 0; i < r * c; i++) v[i] = round(100 * sin(i * 0.37) * cos(i * 0.011));
    for (int t = 0; t < 2; t++) {
        rx_tensor *x = t_from(2, (const int64_t[]){r, c}, t ? RX_I64 : RX_F32, v);
        check_sort_2d(x, 1, 0, -1);
        check_sort_2d(x, 1, 1, -1);
        rx_tensor_release(x);
    }
    free(v);
}

static void test_sort_nan_and_zero(void)
{
    for (int t = 0; t < 4; t++) {
        rx_dtype dt = float_dtypes[t];
        rx_tensor *x =
            t_from(1, (const int64_t[]){7}, dt, (const double[]){3, NAN, 1, NAN, -INFINITY, INFINITY, 2});
        rx_tensor *v = NULL, *i = NULL;
        CHECK_OK(rx_sort(x, 0, 0, &v, &i));
        CHECK_TENSOR(v, 1, (const int64_t[]){7}, ((const double[]){-INFINITY, 1, 2, 3, INFINITY, NAN, NAN}),
                     0, 0);
        CHECK_TENSOR(i, 1, (const int64_t[]){7}, ((const double[]){4, 2, 6, 0, 5, 1, 3}), 0, 0);
        rx_tensor_release(v);
        rx_tensor_release(i);
        CHECK_OK(rx_sort(x, -1, 1, &v, &i));
        CHECK_TENSOR(v, 1, (const int64_t[]){7}, ((const double[]){NAN, NAN, INFINITY, 3, 2, 1, -INFINITY}),
                     0, 0);
        CHECK_TENSOR(i, 1, (const int64_t[]){7}, ((const double[]){1, 3, 5, 0, 6, 2, 4}), 0, 0);
        rx_tensor_release(v);
        rx_tensor_release(i);
        CHECK_OK(rx_topk(x, 2, 0, 1, &v, &i)); /* NaN is the largest */
        CHECK_TENSOR(i, 1, (const int64_t[]){2}, ((const double[]){1, 3}), 0, 0);
        rx_tensor_release(v);
        rx_tensor_release(i);
        rx_tensor_release(x);
    }
    /* -0 and +0 are equal: their order is kept, and the bits are copied through */
    rx_tensor *z = t_from(1, (const int64_t[]){4}, RX_F32, (const double[]){0.0, -0.0, -1, 0.0});
    rx_tensor *v = NULL, *i = NULL;
    CHECK_OK(rx_sort(z, 0, 0, &v, &i));
    CHECK_TENSOR(i, 1, (const int64_t[]){4}, ((const double[]){2, 0, 1, 3}), 0, 0);
    if (v)
        CHECK(signbit(((float *)rx_tensor_data_ptr(v))[2]) && !signbit(((float *)rx_tensor_data_ptr(v))[1]));
    rx_tensor_release(v);
    rx_tensor_release(i);
    CHECK_OK(rx_sort(z, 0, 1, &v, &i));
    CHECK_TENSOR(i, 1, (const int64_t[]){4}, ((const double[]){0, 1, 3, 2}), 0, 0);
    rx_tensor_release(v);
    rx_tensor_release(i);
    rx_tensor_release(z);
}

static void test_sort_i64_exact(void)
{
    const int64_t big = (int64_t)1 << 60;
    const int64_t vals[4] = {big + 3, big + 1, -big, big + 2};
    rx_tensor *x = NULL, *v = NULL, *i = NULL;
    CHECK_OK(rx_from_buffer(1, (const int64_t[]){4}, RX_I64, vals, &x));
    CHECK_OK(rx_sort(x, 0, 0, &v, &i));
    if (v && i) {
        const int64_t *pv = rx_tensor_data_ptr(v), *pi = rx_tensor_data_ptr(i);
        CHECK(pv[0] == -big && pv[1] == big + 1 && pv[2] == big + 2 && pv[3] == big + 3);
        CHECK(pi[0] == 2 && pi[1] == 1 && pi[2] == 3 && pi[3] == 0);
    }
    rx_tensor_release(v);
    rx_tensor_release(i);
    rx_tensor_release(x);
}

static void test_sort_optional_outputs(void)
{
    rx_tensor *x = t_from(2, (const int64_t[]){2, 3}, RX_F32, (const double[]){3, 1, 2, 0, 5, 4});
    rx_tensor *v = NULL, *i = NULL;
    CHECK_OK(rx_sort(x, 1, 0, &v, NULL));
    CHECK_TENSOR(v, 2, ((const int64_t[]){2, 3}), ((const double[]){1, 2, 3, 0, 4, 5}), 0, 0);
    rx_tensor_release(v);
    CHECK_OK(rx_sort(x, 1, 1, NULL, &i));
    CHECK_TENSOR(i, 2, ((const int64_t[]){2, 3}), ((const double[]){0, 2, 1, 1, 2, 0}), 0, 0);
    rx_tensor_release(i);
    CHECK_OK(rx_topk(x, 1, 0, 1, &v, NULL));
    CHECK_TENSOR(v, 2, ((const int64_t[]){1, 3}), ((const double[]){3, 5, 4}), 0, 0);
    rx_tensor_release(v);
    CHECK_OK(rx_sort(x, 0, 0, NULL, NULL));
    rx_tensor *s = t_from(0, NULL, RX_F32, (const double[]){7});
    CHECK_OK(rx_sort(s, 0, 0, &v, &i));
    CHECK_TENSOR(v, 0, NULL, ((const double[]){7}), 0, 0);
    CHECK_TENSOR(i, 0, NULL, ((const double[]){0}), 0, 0);
    rx_tensor_release(v);
    rx_tensor_release(i);
    CHECK_OK(rx_topk(s, 1, -1, 1, &v, &i));
    CHECK_TENSOR(v, 0, NULL, ((const double[]){7}), 0, 0);
    rx_tensor_release(v);
    rx_tensor_release(i);
    rx_tensor_release(s);
    rx_tensor_release(x);
}

static void test_topk(void)
{
    /* explicit ties: the lower index first */
    rx_tensor *x = t_from(1, (const int64_t[]){6}, RX_F32, (const double[]){1, 3, 3, 2, 3, 1});
    rx_tensor *v = NULL, *i = NULL;
    CHECK_OK(rx_topk(x, 2, 0, 1, &v, &i));
    CHECK_TENSOR(v, 1, (const int64_t[]){2}, ((const double[]){3, 3}), 0, 0);
    CHECK_TENSOR(i, 1, (const int64_t[]){2}, ((const double[]){1, 2}), 0, 0);
    rx_tensor_release(v);
    rx_tensor_release(i);
    CHECK_OK(rx_topk(x, 3, 0, 0, &v, &i));
    CHECK_TENSOR(v, 1, (const int64_t[]){3}, ((const double[]){1, 1, 2}), 0, 0);
    CHECK_TENSOR(i, 1, (const int64_t[]){3}, ((const double[]){0, 5, 3}), 0, 0);
    rx_tensor_release(v);
    rx_tensor_release(i);
    /* k = 0 gives empty outputs; k = N a full sort */
    CHECK_OK(rx_topk(x, 0, 0, 1, &v, &i));
    CHECK(v && i && rx_tensor_ndim(v) == 1 && rx_tensor_size(v, 0) == 0 && rx_tensor_size(i, 0) == 0);
    rx_tensor_release(v);
    rx_tensor_release(i);
    rx_tensor_release(x);
    for (int t = 0; t < 8; t++) {
        rx_tensor *m = make_ties(3, 40, all_dtypes[t]);
        for (int largest = 0; largest < 2; largest++) {
            check_sort_2d(m, 1, largest, 40);
            check_sort_2d(m, 1, largest, 7);
            check_sort_2d(m, 0, largest, 2);
            check_sort_2d(m, 0, largest, 0);
        }
        rx_tensor_release(m);
    }
}

/* k much smaller than N takes the bounded-heap path; it must agree with the stable order. */
static void test_topk_heap(void)
{
    const int64_t r = 6, c = 3000;
    double *v = malloc(sizeof(double) * (size_t)(r * c));
    for (int64_t i = 0; i < r * c; i++) v[i] = (double)((i * 13) % 17) + (i % 101 == 0 ? 20 : 0);
    v[2 * c + 2999] = NAN;
    v[3 * c + 5] = NAN;
    for (int t = 0; t < 4; t++) {
        rx_dtype dt = (rx_dtype[]){RX_F32, RX_BF16, RX_I32, RX_F64}[t];
        rx_tensor *x = t_from(2, (const int64_t[]){r, c}, dt, v);
        rx_tensor *tr = NULL;
        CHECK_OK(rx_transpose(x, 0, 1, &tr));
        for (int largest = 0; largest < 2; largest++) {
            check_sort_2d(x, 1, largest, 1);
            check_sort_2d(x, 1, largest, 5);
            check_sort_2d(x, -1, largest, 60);
            check_sort_2d(tr, 0, largest, 9);
        }
        rx_tensor_release(tr);
        rx_tensor_release(x);
    }
    free(v);
}

static void test_sort_errors(void)
{
    rx_tensor *x = t_from(2, (const int64_t[]){2, 3}, RX_F32, (const double[]){3, 1, 2, 0, 5, 4});
    rx_tensor *v = x, *i = x;
    CHECK_ERR(rx_sort(x, 2, 0, &v, &i), RX_ERR_ARG, "sort: argument #2: dim 2 out of range for a 2-D tensor");
    CHECK(v == NULL && i == NULL);
    CHECK_ERR(rx_sort(NULL, 0, 0, &v, &i), RX_ERR_ARG, "sort: argument #1");
    CHECK_ERR(rx_topk(x, 4, 1, 1, &v, &i), RX_ERR_ARG,
              "topk: argument #2: k = 4 is out of range for dim 1 of size 3");
    CHECK_ERR(rx_topk(x, -1, 1, 1, &v, &i), RX_ERR_ARG, "topk: argument #2");
    CHECK_ERR(rx_topk(x, 3, 0, 1, &v, &i), RX_ERR_ARG, "of size 2");
    CHECK_ERR(rx_topk(x, 1, -3, 1, &v, &i), RX_ERR_ARG, "topk: argument #3: dim -3 out of range");
    CHECK(v == NULL && i == NULL);
    rx_tensor *s = t_from(0, NULL, RX_F32, (const double[]){7});
    CHECK_ERR(rx_topk(s, 0, 0, 1, &v, &i), RX_ERR_ARG, "topk: argument #2");
    rx_tensor_release(s);
    rx_tensor_release(x);
}

int main(void)
{
    RUN(test_softmax_dtypes_dims);
    RUN(test_softmax_3d);
    RUN(test_softmax_many_rows);
    RUN(test_softmax_extremes);
    RUN(test_softmax_scalar_empty);
    RUN(test_softmax_errors);
    RUN(test_sort_stable_ties);
    RUN(test_sort_long_rows);
    RUN(test_sort_nan_and_zero);
    RUN(test_sort_i64_exact);
    RUN(test_sort_optional_outputs);
    RUN(test_topk);
    RUN(test_topk_heap);
    RUN(test_sort_errors);
    RUN(check_no_leaks);
    return check_finish();
}
