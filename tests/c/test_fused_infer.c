/* test_fused_infer.c — the inference-only fusions of the decode step, add_rmsnorm_ and
 * swiglu_packed, on the CPU.
 *
 * Two independent checks for each: against double references computed here by plain loops from
 * the inputs' values as rounded to their dtype (the residual sum rounded as the elementwise add
 * does it: f32 sums for f32, f16 and bf16 then rounded to the dtype, f64 sums for f64; exact),
 * and bit equality with the unfused ops (rx_binary_(RX_ADD) then rx_rmsnorm; rx_swiglu on the
 * two halves), which the fused ops promise on the CPU.
 *
 * Covers: f32, f64, f16, bf16; one row and many rows (64 x 576 and 64 x 1536 run on several
 * threads), SmolLM2's C = 576 and F = 1536, odd sizes (C = 37, F = 9, F = 1), rows longer than
 * swiglu_packed's 1024-column blocks, 3-D inputs, zero rows; add_rmsnorm_'s r transposed,
 * expanded (stride 0), equal to x itself, and overlapping x in another order (read from a private
 * copy, as rx_binary_ does); w strided; x a view with an offset into a larger tensor (the
 * elements around it untouched); the version bump; swiglu_packed on a transposed input and on
 * large |gate|; and the errors naming the argument (x not contiguous, dtypes, shapes, scalar,
 * NULL, w sharing x's storage, eps, an odd last dim, inputs that require grad while grad mode
 * is on, allowed under no_grad), each leaving x unchanged and the output NULL.
 */
#include "check.h"
#include "core/core.h"
#include "autograd/autograd.h"

#include <stdlib.h>
#include <string.h>

static const rx_dtype FLOATS[] = {RX_F32, RX_F64, RX_F16, RX_BF16};

/* Output tolerance against the double reference: the kernels compute in f32 or better and round
 * the result once (f16: 2^-11, bf16: 2^-8 relative), f32 adds a few ulps of f32 arithmetic. */
static void tolerance(rx_dtype dt, double *atol, double *rtol)
{
    switch (dt) {
    case RX_F64: *atol = 1e-13, *rtol = 1e-12; break;
    case RX_F32: *atol = 1e-6, *rtol = 1e-5; break;
    case RX_F16: *atol = 1e-6, *rtol = 1.0 / 1024; break;
    default: *atol = 1e-6, *rtol = 1.0 / 128; break;
    }
}

/* A random CPU tensor of dtype dt: scale * N(0, 1) + shift, rounded to dt. */
static rx_tensor *rnd(int ndim, const int64_t *shape, rx_dtype dt, uint64_t seed, double scale, double shift)
{
    rx_tensor *x64 = t_randn(ndim, shape, RX_F64, seed), *a = NULL, *b = NULL, *out;
    CHECK_OK(rx_binary_scalar(RX_MUL, x64, scale, 0, &a));
    CHECK_OK(rx_binary_scalar(RX_ADD, a, shift, 0, &b));
    out = t_cast(b, dt);
    t_release_all(3, (rx_tensor *[]){x64, a, b});
    return out;
}

static rx_tensor *clone(rx_tensor *t)
{
    rx_tensor *c = NULL;
    CHECK_OK(rx_clone(t, &c));
    return c;
}

/* Whether two CPU tensors hold the same bytes (both made contiguous first). */
static bool same_bits(rx_tensor *a, rx_tensor *b)
{
    if (!a || !b || rx_tensor_dtype(a) != rx_tensor_dtype(b) || rx_tensor_numel(a) != rx_tensor_numel(b)) return false;
    rx_tensor *ac = NULL, *bc = NULL;
    CHECK_OK(rx_contiguous(a, &ac));
    CHECK_OK(rx_contiguous(b, &bc));
    bool same = ac && bc &&
                memcmp(rx_tensor_data_ptr(ac), rx_tensor_data_ptr(bc),
                       (size_t)(rx_tensor_numel(a) * rx_dtype_size(rx_tensor_dtype(a)))) == 0;
    t_release_all(2, (rx_tensor *[]){ac, bc});
    return same;
}

/* ---- add_rmsnorm_ ------------------------------------------------------------------------------ */

/* The residual sum as the elementwise add rounds it. */
static double ref_add(rx_dtype dt, double x, double r)
{
    if (dt == RX_F64) return x + r;
    return ref_round(dt, ref_round(RX_F32, x + r));
}

/* sum[i] = x + r (rounded), y = sum / sqrt(mean(sum^2) + eps) * w over rows of c (doubles). */
static void ref_add_rmsnorm(rx_dtype dt, const double *x, const double *r, const double *w, int64_t rows, int64_t c,
                            double eps, double *sum, double *y)
{
    for (int64_t i = 0; i < rows; i++) {
        double ss = 0;
        for (int64_t j = 0; j < c; j++) {
            sum[i * c + j] = ref_add(dt, x[i * c + j], r[i * c + j]);
            ss += sum[i * c + j] * sum[i * c + j];
        }
        double rs = 1.0 / sqrt(ss / (double)c + eps);
        for (int64_t j = 0; j < c; j++) y[i * c + j] = sum[i * c + j] * rs * w[j];
    }
}

/* Runs add_rmsnorm_ on a clone of x0 with r and w, checks x and the output against the double
 * reference and against the unfused ops bit for bit. x0 contiguous; r any layout. */
static void check_add_rmsnorm(const char *what, rx_tensor *x0, rx_tensor *r, rx_tensor *w, double eps)
{
    rx_dtype dt = rx_tensor_dtype(x0);
    int nd = rx_tensor_ndim(x0);
    const int64_t *shape = rx_tensor_shape_ptr(x0);
    int64_t n = rx_tensor_numel(x0), c = shape[nd - 1], rows = c ? n / c : 0;
    double *xv = t_values(x0), *rv = t_values(r), *wv = t_values(w);
    double *sum = malloc(sizeof(double) * (size_t)(n + 1)), *ref = malloc(sizeof(double) * (size_t)(n + 1));
    ref_add_rmsnorm(dt, xv, rv, wv, rows, c, eps, sum, ref);
    double atol, rtol;
    tolerance(dt, &atol, &rtol);

    rx_tensor *x = clone(x0), *y = NULL, *xu = clone(x0), *yu = NULL;
    int64_t v0 = x ? rx_tensor_version(x) : 0;
    CHECK_OK(rx_add_rmsnorm_(x, r, w, eps, &y));
    int fails = check_failures_in_test;
    CHECK_TENSOR(x, nd, shape, sum, 0, 0); /* the residual stream, exactly */
    CHECK_TENSOR(y, nd, shape, ref, atol, rtol);
    CHECK(x && rx_tensor_version(x) > v0);
    if (y) CHECK(rx_tensor_dtype(y) == dt && rx_tensor_is_contiguous(y));
    /* the unfused pair gives the same bits */
    CHECK_OK(rx_binary_(RX_ADD, xu, r));
    CHECK_OK(rx_rmsnorm(xu, w, eps, &yu));
    CHECK(same_bits(x, xu));
    CHECK(same_bits(y, yu));
    if (check_failures_in_test != fails) printf("  (in case %s, %s)\n", what, rx_dtype_name(dt));
    free(xv), free(rv), free(wv), free(sum), free(ref);
    t_release_all(4, (rx_tensor *[]){x, y, xu, yu});
}

static void test_add_rmsnorm_reference(void)
{
    const int64_t shapes[][3] = {{1, 576, 0}, {64, 576, 0}, {3, 37, 0}, {2, 3, 37}, {1, 1, 0}, {2, 4096, 0}};
    for (int d = 0; d < 4; d++) {
        rx_dtype dt = FLOATS[d];
        for (int s = 0; s < 6; s++) {
            int nd = shapes[s][2] ? 3 : 2;
            const int64_t *sh = shapes[s];
            int64_t c = sh[nd - 1];
            rx_tensor *x = rnd(nd, sh, dt, 10 + s, 1.5, 0), *r = rnd(nd, sh, dt, 20 + s, 1, 0.25);
            rx_tensor *w = rnd(1, &c, dt, 30 + s, 0.5, 1);
            char what[64];
            snprintf(what, sizeof what, "shape %d", s);
            check_add_rmsnorm(what, x, r, w, s % 2 ? 1e-6 : 1e-5);
            t_release_all(3, (rx_tensor *[]){x, r, w});
        }
    }
    /* zero rows */
    const int64_t z[2] = {0, 8}, c8 = 8;
    rx_tensor *x = t_zeros(2, z, RX_F32), *r = t_zeros(2, z, RX_F32), *w = rnd(1, &c8, RX_F32, 1, 1, 0), *y = NULL;
    CHECK_OK(rx_add_rmsnorm_(x, r, w, 1e-5, &y));
    CHECK(y && rx_tensor_numel(y) == 0 && rx_tensor_size(y, 1) == 8);
    t_release_all(4, (rx_tensor *[]){x, r, w, y});
}

static void test_add_rmsnorm_layouts(void)
{
    for (int d = 0; d < 4; d++) {
        rx_dtype dt = FLOATS[d];
        const int64_t sh[2] = {5, 37}, tsh[2] = {37, 5}, row[2] = {1, 37}, wsh[2] = {37, 2}, c = 37;
        rx_tensor *x = rnd(2, sh, dt, 1, 1.5, 0), *w = rnd(1, &c, dt, 2, 0.5, 1);
        /* r transposed: a (5, 37) view with strides (1, 5) */
        rx_tensor *rt0 = rnd(2, tsh, dt, 3, 1, 0), *rt = NULL;
        CHECK_OK(rx_transpose(rt0, 0, 1, &rt));
        check_add_rmsnorm("r transposed", x, rt, w, 1e-5);
        /* r expanded from one row (stride 0) */
        rx_tensor *r1 = rnd(2, row, dt, 4, 1, 0), *re = NULL;
        CHECK_OK(rx_expand(r1, 2, sh, &re));
        check_add_rmsnorm("r expanded", x, re, w, 1e-5);
        /* w strided: column 0 of a (37, 2) tensor */
        rx_tensor *w2 = rnd(2, wsh, dt, 5, 0.5, 1), *ws = NULL, *r = rnd(2, sh, dt, 6, 1, 0);
        CHECK_OK(rx_select(w2, 1, 0, &ws));
        check_add_rmsnorm("w strided", x, r, ws, 1e-5);
        t_release_all(9, (rx_tensor *[]){x, w, rt0, rt, r1, re, w2, ws, r});
    }
}

/* r is x itself: x = 2x, then the norm of 2x. */
static void test_add_rmsnorm_aliasing(void)
{
    const int64_t sh[2] = {4, 37}, c = 37, big[2] = {6, 37};
    for (int d = 0; d < 4; d++) {
        rx_dtype dt = FLOATS[d];
        rx_tensor *x0 = rnd(2, sh, dt, 7, 1.5, 0), *w = rnd(1, &c, dt, 8, 0.5, 1);
        double *xv = t_values(x0), *wv = t_values(w), sum[4 * 37], ref[4 * 37];
        ref_add_rmsnorm(dt, xv, xv, wv, 4, 37, 1e-5, sum, ref);
        double atol, rtol;
        tolerance(dt, &atol, &rtol);
        rx_tensor *x = clone(x0), *y = NULL, *xu = clone(x0), *yu = NULL;
        CHECK_OK(rx_add_rmsnorm_(x, x, w, 1e-5, &y));
        CHECK_TENSOR(x, 2, sh, sum, 0, 0);
        CHECK_TENSOR(y, 2, sh, ref, atol, rtol);
        CHECK_OK(rx_binary_(RX_ADD, xu, xu));
        CHECK_OK(rx_rmsnorm(xu, w, 1e-5, &yu));
        CHECK(same_bits(y, yu));
        free(xv);

        /* x = rows 0..3 of a (6, 37) base, r = rows 1..4 of the same base: r overlaps x in
         * another order, so it is read as it was before the call */
        rx_tensor *base = rnd(2, big, dt, 9, 1, 0), *xb = NULL, *rb = NULL, *yb = NULL;
        double *bv = t_values(base), sum2[4 * 37], ref2[4 * 37];
        ref_add_rmsnorm(dt, bv, bv + 37, wv, 4, 37, 1e-5, sum2, ref2);
        CHECK_OK(rx_narrow(base, 0, 0, 4, &xb));
        CHECK_OK(rx_narrow(base, 0, 1, 4, &rb));
        CHECK_OK(rx_add_rmsnorm_(xb, rb, w, 1e-5, &yb));
        CHECK_TENSOR(xb, 2, sh, sum2, 0, 0);
        CHECK_TENSOR(yb, 2, sh, ref2, atol, rtol);
        double *after = t_values(base); /* rows 4 and 5 untouched */
        bool kept = true;
        for (int64_t i = 4 * 37; i < 6 * 37; i++) kept &= after[i] == bv[i];
        CHECK(kept);
        free(bv), free(wv), free(after);
        t_release_all(10, (rx_tensor *[]){x0, w, x, y, xu, yu, base, xb, rb, yb});
    }
}

/* x a contiguous view with an offset into a larger tensor: only its elements change. */
static void test_add_rmsnorm_offset_view(void)
{
    const int64_t big[3] = {3, 2, 576}, sh[2] = {2, 576}, c = 576;
    rx_tensor *base = rnd(3, big, RX_BF16, 11, 1, 0), *x = NULL, *r = rnd(2, sh, RX_BF16, 12, 1, 0),
              *w = rnd(1, &c, RX_BF16, 13, 0.5, 1), *y = NULL;
    double *bv = t_values(base), *rv = t_values(r), *wv = t_values(w), sum[2 * 576], ref[2 * 576];
    ref_add_rmsnorm(RX_BF16, bv + 2 * 576, rv, wv, 2, 576, 1e-5, sum, ref);
    CHECK_OK(rx_select(base, 0, 1, &x)); /* offset 1152 elements, contiguous */
    CHECK(x && rx_tensor_is_contiguous(x));
    CHECK_OK(rx_add_rmsnorm_(x, r, w, 1e-5, &y));
    CHECK_TENSOR(x, 2, sh, sum, 0, 0);
    CHECK_TENSOR(y, 2, sh, ref, 1e-6, 1.0 / 128);
    double *after = t_values(base);
    bool kept = true;
    for (int64_t i = 0; i < 3 * 2 * 576; i++)
        if (i < 2 * 576 || i >= 4 * 576) kept &= after[i] == bv[i];
    CHECK(kept);
    free(bv), free(rv), free(wv), free(after);
    t_release_all(5, (rx_tensor *[]){base, x, r, w, y});
}

/* x keeps its values after a failed call, and the output stays NULL. */
static void expect_untouched(rx_tensor *x, const double *xv)
{
    double *now = t_values(x);
    bool same = true;
    for (int64_t i = 0; i < rx_tensor_numel(x); i++) same &= now[i] == xv[i];
    CHECK(same);
    free(now);
}

static void test_add_rmsnorm_errors(void)
{
    const int64_t sh[2] = {3, 37}, sh2[2] = {3, 36}, c = 37, c36 = 36;
    rx_tensor *x = rnd(2, sh, RX_F32, 1, 1, 0), *r = rnd(2, sh, RX_F32, 2, 1, 0), *w = rnd(1, &c, RX_F32, 3, 1, 0);
    rx_tensor *r36 = rnd(2, sh2, RX_F32, 4, 1, 0), *r64 = t_cast(r, RX_F64), *w36 = rnd(1, &c36, RX_F32, 5, 1, 0);
    rx_tensor *wbf = t_cast(w, RX_BF16), *xi = t_cast(x, RX_I32), *ri = t_cast(r, RX_I32), *wi = t_cast(w, RX_I32);
    rx_tensor *xt = NULL, *wx = NULL, *y = (rx_tensor *)1;
    CHECK_OK(rx_transpose(x, 0, 1, &xt));
    CHECK_OK(rx_select(x, 0, 0, &wx)); /* (37): shares x's storage */
    rx_tensor *sc = NULL;
    CHECK_OK(rx_full(0, NULL, 1.0, RX_F32, rx_cpu(), &sc));
    double *xv = t_values(x);

    CHECK_ERR(rx_add_rmsnorm_(NULL, r, w, 1e-5, &y), RX_ERR_ARG, "add_rmsnorm_: argument #1: expected a tensor, got NULL");
    CHECK(y == NULL);
    CHECK_ERR(rx_add_rmsnorm_(x, NULL, w, 1e-5, &y), RX_ERR_ARG, "add_rmsnorm_: argument #2: expected a tensor, got NULL");
    CHECK_ERR(rx_add_rmsnorm_(x, r, NULL, 1e-5, &y), RX_ERR_ARG, "add_rmsnorm_: argument #3: expected a tensor, got NULL");
    CHECK_ERR(rx_add_rmsnorm_(xi, ri, wi, 1e-5, &y), RX_ERR_DTYPE,
              "add_rmsnorm_: argument #1: expected a floating-point tensor");
    CHECK_ERR(rx_add_rmsnorm_(sc, sc, w, 1e-5, &y), RX_ERR_SHAPE, "add_rmsnorm_: argument #1: expected shape (*, C), got a scalar");
    CHECK_ERR(rx_add_rmsnorm_(xt, r, w, 1e-5, &y), RX_ERR_ARG,
              "add_rmsnorm_: argument #1: expected a contiguous tensor (it is updated in place), got strides (1, 37)");
    CHECK_ERR(rx_add_rmsnorm_(x, r36, w, 1e-5, &y), RX_ERR_SHAPE, "add_rmsnorm_: argument #2: expected shape (3, 37), got (3, 36)");
    CHECK_ERR(rx_add_rmsnorm_(x, r64, w, 1e-5, &y), RX_ERR_DTYPE, "add_rmsnorm_: argument #1 is f32 but argument #2 is f64");
    CHECK_ERR(rx_add_rmsnorm_(x, r, w36, 1e-5, &y), RX_ERR_SHAPE, "add_rmsnorm_: argument #3: expected shape (37), got (36)");
    CHECK_ERR(rx_add_rmsnorm_(x, r, wbf, 1e-5, &y), RX_ERR_DTYPE, "add_rmsnorm_: argument #1 is f32 but argument #3 is bf16");
    CHECK_ERR(rx_add_rmsnorm_(x, r, wx, 1e-5, &y), RX_ERR_ARG,
              "add_rmsnorm_: argument #3 shares storage with argument #1, which is updated in place");
    CHECK_ERR(rx_add_rmsnorm_(x, r, w, -1.0, &y), RX_ERR_ARG, "add_rmsnorm_: argument #4: expected a finite eps >= 0, got -1");
    CHECK_ERR(rx_add_rmsnorm_(x, r, w, NAN, &y), RX_ERR_ARG, "add_rmsnorm_: argument #4: expected a finite eps >= 0");
    CHECK_ERR(rx_add_rmsnorm_(x, r, w, INFINITY, &y), RX_ERR_ARG, "add_rmsnorm_: argument #4: expected a finite eps >= 0");
    CHECK(y == NULL);
    expect_untouched(x, xv);

    /* inference only: any input that requires grad is refused while grad mode is on */
    rx_tensor *args[3] = {x, r, w};
    const char *want[3] = {"add_rmsnorm_: argument #1 requires grad, but add_rmsnorm_ is inference-only",
                           "add_rmsnorm_: argument #2 requires grad", "add_rmsnorm_: argument #3 requires grad"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(rx_set_requires_grad(args[i], 1));
        CHECK_ERR(rx_add_rmsnorm_(x, r, w, 1e-5, &y), RX_ERR_ARG, want[i]);
        CHECK(y == NULL);
        expect_untouched(x, xv);
        /* under no_grad it runs */
        int prev = rx_set_grad_enabled(0);
        CHECK_OK(rx_add_rmsnorm_(x, r, w, 1e-5, &y));
        rx_set_grad_enabled(prev);
        CHECK(y && !rx_requires_grad(y));
        rx_tensor_release(y);
        y = NULL;
        CHECK_OK(rx_set_requires_grad(args[i], 0));
        free(xv);
        xv = t_values(x);
    }
    free(xv);
    t_release_all(13, (rx_tensor *[]){x, r, w, r36, r64, w36, wbf, xi, ri, wi, xt, wx, sc});
}

/* ---- swiglu_packed ----------------------------------------------------------------------------- */

/* Checks swiglu_packed(gu) against the double reference and rx_swiglu on the halves. */
static void check_swiglu_packed(const char *what, rx_tensor *gu)
{
    rx_dtype dt = rx_tensor_dtype(gu);
    int nd = rx_tensor_ndim(gu);
    int64_t shape[8];
    for (int i = 0; i < nd; i++) shape[i] = rx_tensor_size(gu, i);
    int64_t f = shape[nd - 1] / 2, n = rx_tensor_numel(gu) / 2, rows = f ? n / f : 0;
    shape[nd - 1] = f;
    double *gv = t_values(gu), *ref = malloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < f; j++) {
            double a = gv[i * 2 * f + j], u = gv[i * 2 * f + f + j];
            ref[i * f + j] = a / (1.0 + exp(-a)) * u;
        }
    double atol, rtol;
    tolerance(dt, &atol, &rtol);
    rx_tensor *y = NULL, *gate = NULL, *up = NULL, *yu = NULL;
    int fails = check_failures_in_test;
    CHECK_OK(rx_swiglu_packed(gu, &y));
    CHECK_TENSOR(y, nd, shape, ref, atol, rtol);
    if (y) CHECK(rx_tensor_dtype(y) == dt && rx_tensor_is_contiguous(y));
    CHECK_OK(rx_narrow(gu, -1, 0, f, &gate));
    CHECK_OK(rx_narrow(gu, -1, f, f, &up));
    CHECK_OK(rx_swiglu(gate, up, &yu));
    CHECK(same_bits(y, yu));
    if (check_failures_in_test != fails) printf("  (in case %s, %s)\n", what, rx_dtype_name(dt));
    free(gv), free(ref);
    t_release_all(4, (rx_tensor *[]){y, gate, up, yu});
}

static void test_swiglu_packed_reference(void)
{
    const int64_t shapes[][3] = {{1, 3072, 0}, {64, 3072, 0}, {5, 74, 0}, {2, 3, 18}, {4, 2, 0}, {3, 3000, 0}};
    for (int d = 0; d < 4; d++)
        for (int s = 0; s < 6; s++) {
            int nd = shapes[s][2] ? 3 : 2;
            rx_tensor *gu = rnd(nd, shapes[s], FLOATS[d], 40 + s, 3, 0);
            char what[64];
            snprintf(what, sizeof what, "shape %d", s);
            check_swiglu_packed(what, gu);
            rx_tensor_release(gu);
        }
    /* a transposed input: (6, 10) view of a (10, 6) tensor */
    const int64_t tsh[2] = {10, 6};
    for (int d = 0; d < 4; d++) {
        rx_tensor *g0 = rnd(2, tsh, FLOATS[d], 50, 3, 0), *gt = NULL;
        CHECK_OK(rx_transpose(g0, 0, 1, &gt));
        check_swiglu_packed("transposed", gt);
        t_release_all(2, (rx_tensor *[]){g0, gt});
    }
    /* large |gate| stays finite: silu(-200) = 0, silu(200) = 200 */
    const int64_t s6[2] = {1, 6}, s3[2] = {1, 3};
    rx_tensor *gu = t_from(2, s6, RX_F32, (const double[]){-200, 0, 200, 1, 1, 1}), *y = NULL;
    CHECK_OK(rx_swiglu_packed(gu, &y));
    CHECK_TENSOR(y, 2, s3, ((const double[]){0, 0, 200}), 1e-6, 1e-6);
    t_release_all(2, (rx_tensor *[]){gu, y});
    /* zero rows */
    const int64_t z[2] = {0, 8};
    rx_tensor *gz = t_zeros(2, z, RX_F32), *yz = NULL;
    CHECK_OK(rx_swiglu_packed(gz, &yz));
    CHECK(yz && rx_tensor_numel(yz) == 0 && rx_tensor_size(yz, 1) == 4);
    t_release_all(2, (rx_tensor *[]){gz, yz});
}

static void test_swiglu_packed_errors(void)
{
    const int64_t odd[2] = {3, 5}, sh[2] = {3, 8};
    rx_tensor *g5 = rnd(2, odd, RX_F32, 1, 1, 0), *g = rnd(2, sh, RX_F32, 2, 1, 0), *gi = t_cast(g, RX_I64), *sc = NULL;
    rx_tensor *y = (rx_tensor *)1;
    CHECK_OK(rx_full(0, NULL, 1.0, RX_F32, rx_cpu(), &sc));
    CHECK_ERR(rx_swiglu_packed(NULL, &y), RX_ERR_ARG, "swiglu_packed: argument #1: expected a tensor, got NULL");
    CHECK(y == NULL);
    CHECK_ERR(rx_swiglu_packed(g5, &y), RX_ERR_SHAPE,
              "swiglu_packed: argument #1: expected shape (*, 2F) with an even last dim, got (3, 5)");
    CHECK_ERR(rx_swiglu_packed(sc, &y), RX_ERR_SHAPE, "swiglu_packed: argument #1: expected shape (*, 2F), got a scalar");
    CHECK_ERR(rx_swiglu_packed(gi, &y), RX_ERR_DTYPE, "swiglu_packed: argument #1: expected a floating-point tensor");
    CHECK_OK(rx_set_requires_grad(g, 1));
    CHECK_ERR(rx_swiglu_packed(g, &y), RX_ERR_ARG,
              "swiglu_packed: argument #1 requires grad, but swiglu_packed is inference-only and records no gradient "
              "(run it under no_grad)");
    CHECK(y == NULL);
    int prev = rx_set_grad_enabled(0);
    CHECK_OK(rx_swiglu_packed(g, &y));
    rx_set_grad_enabled(prev);
    CHECK(y && rx_tensor_size(y, 1) == 4 && !rx_requires_grad(y));
    t_release_all(5, (rx_tensor *[]){g5, g, gi, sc, y});
}

int main(void)
{
    RUN(test_add_rmsnorm_reference);
    RUN(test_add_rmsnorm_layouts);
    RUN(test_add_rmsnorm_aliasing);
    RUN(test_add_rmsnorm_offset_view);
    RUN(test_add_rmsnorm_errors);
    RUN(test_swiglu_packed_reference);
    RUN(test_swiglu_packed_errors);
    RUN(check_no_leaks);
    return check_finish();
}
