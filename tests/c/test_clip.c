/* test_clip.c — rx_clip_grad_norm_ (gradient clipping whose norm stays on the device) on the CPU.
 *
 * The norm is compared with a double-precision sum of squares computed here from the stored
 * values, and every scaled element with the product the kernel must form (f64 math for f64, f32
 * math rounded to the tensor's dtype otherwise) by a factor derived from that reference norm.
 * Covered: lists above and below max_norm (f32, f64, f16 and bf16 mixed in one call, a tensor of
 * several parallel chunks, 0-d and empty tensors, transposed and narrowed views written through
 * to their bases), a non-finite norm (inf, NaN, overflow of the squares) leaving every tensor
 * untouched, the bits of the two-call form rx_global_norm + rx_scale_, version bumps, the empty
 * list, and every argument error (with the output left NULL).
 */
#include "check.h"

#include "autograd/autograd.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static double val(rx_dtype dt, int64_t seed, int64_t i)
{
    (void)dt;
    return cos(0.61 * (double)i + 0.7 * (double)seed) * (1 + 0.5 * (double)(i % 3));
}

static rx_tensor *make(int ndim, const int64_t *shape, rx_dtype dt, int seed)
{
    return t_gen(ndim, shape, dt, val, seed, NULL);
}

/* The reference norm of n tensors: a double sum of the squares of their stored values. */
static double ref_norm(int n, rx_tensor *const *ts)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double *v = t_values(ts[i]);
        for (int64_t k = 0; k < rx_tensor_numel(ts[i]); k++) sum += v[k] * v[k];
        free(v);
    }
    return sqrt(sum);
}

/* Checks that t (a 0-d f32 CPU tensor) holds `want` rounded to f32, to a relative 1e-7. */
static void check_norm(const rx_tensor *t, double want)
{
    CHECK(t != NULL);
    if (!t) return;
    CHECK(rx_tensor_ndim(t) == 0);
    CHECK(rx_tensor_dtype(t) == RX_F32);
    CHECK(rx_tensor_device(t).type == RX_CPU);
    double *v = t_values(t);
    CHECK_CLOSE(v[0], want, 1e-7);
    free(v);
}

/* tensors[i] must hold before[i] * c: f64 math for f64, else f32 math rounded to the dtype. */
static void check_scaled(int n, rx_tensor *const *ts, double *const *before, double c)
{
    for (int i = 0; i < n; i++) {
        rx_dtype dt = rx_tensor_dtype(ts[i]);
        int64_t m = rx_tensor_numel(ts[i]);
        double *ref = malloc(sizeof(double) * (size_t)(m + 1));
        for (int64_t k = 0; k < m; k++)
            ref[k] = dt == RX_F64 ? before[i][k] * c : ref_round(dt, (float)(before[i][k] * (double)(float)c));
        /* the kernel's factor comes from its own order of summation (the reference's plain sum
         * of 40,000 squares is good to ~1e-13), so f32 may see one ulp of c differently */
        double rtol = dt == RX_F64 ? 1e-12 : dt == RX_F32 ? 3e-7 : dt == RX_F16 ? 1.0 / 1024 : 1.0 / 128;
        CHECK_TENSOR(ts[i], rx_tensor_ndim(ts[i]), rx_tensor_shape_ptr(ts[i]), ref, 0, rtol);
        free(ref);
    }
}

static void check_unchanged(int n, rx_tensor *const *ts, double *const *before)
{
    for (int i = 0; i < n; i++)
        CHECK_TENSOR(ts[i], rx_tensor_ndim(ts[i]), rx_tensor_shape_ptr(ts[i]), before[i], 0, 0);
}

/* A list of every float dtype, a 3-chunk f32 tensor (16384-element chunks), a 0-d and an empty
 * tensor, and two views: a transposed (4, 6) and a narrowed column block of a (5, 8) base.
 * bases[0..2) receive the views' bases. */
enum { NLIST = 8 };
static void make_list(rx_tensor **t, rx_tensor **bases, double scale_by)
{
    int64_t big = 40000, s23[2] = {2, 3}, s7 = 7, e[2] = {0, 3}, b46[2] = {4, 6}, b58[2] = {5, 8};
    t[0] = make(1, &big, RX_F32, 1);
    t[1] = make(2, s23, RX_BF16, 2);
    t[2] = make(1, &s7, RX_F16, 3);
    t[3] = make(2, s23, RX_F64, 4);
    t[4] = make(0, NULL, RX_F32, 5);
    t[5] = make(2, e, RX_F32, 6);
    bases[0] = make(2, b46, RX_F32, 7);
    bases[1] = make(2, b58, RX_BF16, 8);
    CHECK_OK(rx_transpose(bases[0], 0, 1, &t[6]));
    CHECK_OK(rx_narrow(bases[1], 1, 2, 5, &t[7]));
    if (scale_by != 1)
        CHECK_OK(rx_scale_(NLIST, t, scale_by));
}

static void release_list(rx_tensor **t, rx_tensor **bases, double **before)
{
    t_release_all(NLIST, t);
    t_release_all(2, bases);
    for (int i = 0; i < NLIST && before; i++) free(before[i]);
}

static void test_above_max_norm(void)
{
    rx_tensor *t[NLIST], *bases[2];
    make_list(t, bases, 1);
    double *before[NLIST];
    for (int i = 0; i < NLIST; i++) before[i] = t_values(t[i]);
    double ref = ref_norm(NLIST, t), max_norm = ref / 3;
    CHECK(ref > 100); /* the list really is clipped */
    int64_t v0 = rx_tensor_version(bases[0]), v1 = rx_tensor_version(t[0]);
    rx_tensor *norm = NULL;
    CHECK_OK(rx_clip_grad_norm_(NLIST, t, max_norm, &norm));
    check_norm(norm, ref);
    check_scaled(NLIST, t, before, max_norm / (ref + 1e-6));
    CHECK(rx_tensor_version(bases[0]) > v0);
    CHECK(rx_tensor_version(t[0]) > v1);
    /* the transposed view was written through to its base: base[r][c] = view[c][r] */
    double *bv = t_values(bases[0]), *tv = t_values(t[6]);
    int ok = 1;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 6; c++) ok &= bv[r * 6 + c] == tv[c * 4 + r];
    CHECK(ok);
    free(bv);
    free(tv);
    /* the columns of the narrowed base outside the view are untouched */
    double *b1 = t_values(bases[1]);
    rx_tensor *fresh = NULL;
    int64_t b58[2] = {5, 8};
    fresh = make(2, b58, RX_BF16, 8);
    double *f1 = t_values(fresh);
    ok = 1;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 8; c++)
            if (c < 2 || c >= 7) ok &= b1[r * 8 + c] == f1[r * 8 + c];
    CHECK(ok);
    free(b1);
    free(f1);
    rx_tensor_release(fresh);
    /* clipped again to the same bound: the new norm is max_norm (up to f32 rounding) */
    rx_tensor *again = NULL;
    CHECK_OK(rx_clip_grad_norm_(NLIST, t, max_norm, &again));
    double *a = t_values(again);
    CHECK_CLOSE(a[0], max_norm, 5e-3); /* bf16/f16 entries rounded after scaling */
    free(a);
    rx_tensor_release(again);
    rx_tensor_release(norm);
    release_list(t, bases, before);
}

static void test_below_max_norm(void)
{
    rx_tensor *t[NLIST], *bases[2];
    make_list(t, bases, 1);
    double *before[NLIST];
    for (int i = 0; i < NLIST; i++) before[i] = t_values(t[i]);
    double ref = ref_norm(NLIST, t);
    rx_tensor *norm = NULL;
    /* factor max_norm / (norm + 1e-6) >= 1: untouched */
    CHECK_OK(rx_clip_grad_norm_(NLIST, t, ref * (1 + 1e-9) + 1e-6, &norm));
    check_norm(norm, ref);
    check_unchanged(NLIST, t, before);
    rx_tensor_release(norm);
    CHECK_OK(rx_clip_grad_norm_(NLIST, t, INFINITY, &norm));
    check_norm(norm, ref);
    check_unchanged(NLIST, t, before);
    rx_tensor_release(norm);
    /* max_norm == norm: the 1e-6 makes the factor just below 1, so the list is scaled */
    CHECK_OK(rx_clip_grad_norm_(NLIST, t, ref, &norm));
    check_scaled(NLIST, t, before, ref / (ref + 1e-6));
    rx_tensor_release(norm);
    release_list(t, bases, before);
}

static void test_non_finite(void)
{
    int64_t s3 = 3;
    double fin[3] = {1e3, -2e3, 5e2}, with_inf[3] = {1, INFINITY, 2}, with_nan[3] = {1, NAN, 2};
    double huge[3] = {1e200, 1e200, 0};
    struct {
        const double *v;
        rx_dtype dt;
        double want; /* the norm: inf or NaN */
    } cases[] = {{with_inf, RX_F32, INFINITY}, {with_nan, RX_BF16, NAN}, {huge, RX_F64, INFINITY},
                 {with_inf, RX_F16, INFINITY}};
    for (int c = 0; c < 4; c++) {
        rx_tensor *t[2] = {t_from(1, &s3, RX_F32, fin), t_from(1, &s3, cases[c].dt, cases[c].v)};
        double *before[2] = {t_values(t[0]), t_values(t[1])};
        rx_tensor *norm = NULL;
        CHECK_OK(rx_clip_grad_norm_(2, t, 1.0, &norm));
        double *nv = norm ? t_values(norm) : NULL;
        if (nv) {
            if (isnan(cases[c].want))
                CHECK(isnan(nv[0]));
            else
                CHECK(isinf(nv[0]) && nv[0] > 0);
        }
        free(nv);
        /* bitwise: NaN entries compared as NaN */
        for (int i = 0; i < 2; i++) {
            double *after = t_values(t[i]);
            int same = 1;
            for (int k = 0; k < 3; k++)
                same &= (isnan(before[i][k]) && isnan(after[k])) || before[i][k] == after[k];
            CHECK(same);
            free(after);
            free(before[i]);
        }
        rx_tensor_release(norm);
        t_release_all(2, t);
    }
}

/* The CPU's bits equal the two-call form: rx_global_norm, then rx_scale_ by the same factor. */
static void test_same_bits_as_two_calls(void)
{
    rx_tensor *a[NLIST], *abase[2], *b[NLIST], *bbase[2];
    make_list(a, abase, 37.5);
    make_list(b, bbase, 37.5);
    double max_norm = 11.25, total = 0;
    CHECK_OK(rx_global_norm(NLIST, b, &total));
    double coef = max_norm / (total + 1e-6);
    CHECK(coef < 1);
    CHECK_OK(rx_scale_(NLIST, b, coef));
    rx_tensor *norm = NULL;
    CHECK_OK(rx_clip_grad_norm_(NLIST, a, max_norm, &norm));
    double *nv = t_values(norm);
    CHECK(nv[0] == (double)(float)total);
    free(nv);
    for (int i = 0; i < NLIST; i++) {
        size_t bytes = (size_t)(rx_tensor_numel(a[i]) * rx_dtype_size(rx_tensor_dtype(a[i])));
        rx_tensor *ca = NULL, *cb = NULL;
        CHECK_OK(rx_contiguous(a[i], &ca));
        CHECK_OK(rx_contiguous(b[i], &cb));
        CHECK(bytes == 0 || memcmp(rx_tensor_bytes(ca), rx_tensor_bytes(cb), bytes) == 0);
        rx_tensor_release(ca);
        rx_tensor_release(cb);
    }
    rx_tensor_release(norm);
    release_list(a, abase, NULL);
    release_list(b, bbase, NULL);
}

static void test_empty_list(void)
{
    rx_tensor *norm = NULL;
    CHECK_OK(rx_clip_grad_norm_(0, NULL, 1.0, &norm));
    check_norm(norm, 0);
    rx_tensor_release(norm);
    /* a list of empty tensors: norm 0, nothing to scale */
    int64_t e = 0;
    rx_tensor *t = make(1, &e, RX_F16, 1);
    CHECK_OK(rx_clip_grad_norm_(1, &t, 1.0, &norm));
    check_norm(norm, 0);
    rx_tensor_release(norm);
    rx_tensor_release(t);
}

static void test_errors(void)
{
    int64_t s4 = 4, one[2] = {1, 4}, four[2] = {3, 4};
    rx_tensor *f = make(1, &s4, RX_F32, 1), *i32 = make(1, &s4, RX_I32, 2), *row = make(2, one, RX_F32, 3);
    rx_tensor *exp = NULL;
    CHECK_OK(rx_expand(row, 2, four, &exp));
    rx_tensor *norm = f; /* must come back NULL from every failure */
    CHECK_ERR(rx_clip_grad_norm_(-1, &f, 1.0, &norm), RX_ERR_ARG,
              "clip_grad_norm_: argument #1: expected a list length >= 0, got -1");
    CHECK(norm == NULL);
    CHECK_ERR(rx_clip_grad_norm_(2, NULL, 1.0, &norm), RX_ERR_ARG, "clip_grad_norm_: argument #2: expected 2 tensors");
    rx_tensor *withnull[2] = {f, NULL};
    CHECK_ERR(rx_clip_grad_norm_(2, withnull, 1.0, &norm), RX_ERR_ARG,
              "clip_grad_norm_: argument #2 (tensors[1]): expected a tensor, got NULL");
    rx_tensor *withint[2] = {f, i32};
    CHECK_ERR(rx_clip_grad_norm_(2, withint, 1.0, &norm), RX_ERR_DTYPE,
              "clip_grad_norm_: argument #2 (tensors[1]): expected a floating-point tensor");
    rx_tensor *withexp[2] = {f, exp};
    CHECK_ERR(rx_clip_grad_norm_(2, withexp, 1.0, &norm), RX_ERR_ARG,
              "clip_grad_norm_: argument #2 (tensors[1]) is an expanded view");
    CHECK_ERR(rx_clip_grad_norm_(1, &f, 0.0, &norm), RX_ERR_ARG,
              "clip_grad_norm_: argument #3: expected max_norm > 0, got 0");
    CHECK_ERR(rx_clip_grad_norm_(1, &f, -2.0, &norm), RX_ERR_ARG, "expected max_norm > 0, got -2");
    CHECK_ERR(rx_clip_grad_norm_(1, &f, NAN, &norm), RX_ERR_ARG, "expected max_norm > 0, got nan");
    CHECK_ERR(rx_clip_grad_norm_(1, &f, 1.0, NULL), RX_ERR_ARG,
              "clip_grad_norm_: argument #4: expected an output pointer, got NULL");
    CHECK(norm == NULL);
    /* nothing was scaled by the failed calls */
    double *v = t_values(f);
    int ok = 1;
    for (int k = 0; k < 4; k++) ok &= v[k] == (double)(float)val(RX_F32, 1, k);
    CHECK(ok);
    free(v);
    rx_tensor *all[] = {f, i32, row, exp};
    t_release_all(4, all);
}

static void test_no_leaks(void) { check_no_leaks(); }

int main(void)
{
    RUN(test_above_max_norm);
    RUN(test_below_max_norm);
    RUN(test_non_finite);
    RUN(test_same_bits_as_two_calls);
    RUN(test_empty_list);
    RUN(test_errors);
    RUN(test_no_leaks);
    return check_finish();
}
