/* test_nn.c — the fused nn ops linear, embedding, rmsnorm, layernorm, rope (+ tables), swiglu and
 * dropout: forward against double references computed here with plain loops, backward by finite
 * differences in f64 (gradcheck), f32 against the f64 reference, bf16 within a stated tolerance,
 * non-contiguous inputs, argument errors, and thread-count independence of the weight gradients.
 * Attention is in test_nn_attention.c, the losses in test_nn_loss.c.
 */
#include "gradcheck.h"
#include "core/philox.h"

#include <stdlib.h>
#include <string.h>

/* bf16 results: inputs are rounded to bf16 first (the reference uses the rounded values), then
 * the op computes in f32 and rounds its output once: 8 significant bits, so |err| <= atol + rtol |ref|. */
#define BF16_ATOL 2e-2
#define BF16_RTOL 1e-2

static rx_tensor *transposed(rx_tensor *t, int d0, int d1)
{
    rx_tensor *out = NULL;
    CHECK_OK(rx_transpose(t, d0, d1, &out));
    return out;
}

/* ---- linear -------------------------------------------------------------------------------------- */

/* y (rows, nout) = x (rows, in) w^T + b, row-major doubles; b may be NULL. */
static double *ref_linear(const double *x, const double *w, const double *b, int64_t rows, int64_t in,
                          int64_t nout)
{
    double *y = malloc(sizeof(double) * (size_t)(rows * nout));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < nout; o++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t i = 0; i < in; i++) acc += x[r * in + i] * w[o * in + i];
            y[r * nout + o] = acc;
        }
    return y;
}

static void check_linear_dtype(rx_dtype dt, double atol, double rtol)
{
    const int64_t xs[3] = {2, 3, 4}, ws[2] = {5, 4}, bs[1] = {5}, ys[3] = {2, 3, 5};
    rx_tensor *x64 = t_randn(3, xs, RX_F64, 1), *w64 = t_randn(2, ws, RX_F64, 2),
              *b64 = t_randn(1, bs, RX_F64, 3);
    rx_tensor *x = t_cast(x64, dt), *w = t_cast(w64, dt), *b = t_cast(b64, dt);
    double *xv = t_values(x), *wv = t_values(w), *bv = t_values(b); /* values as rounded to dt */
    double *ref = ref_linear(xv, wv, bv, 6, 4, 5), *ref_nb = ref_linear(xv, wv, NULL, 6, 4, 5);
    rx_tensor *y = NULL, *y_nb = NULL;
    CHECK_OK(rx_linear(x, w, b, &y));
    CHECK_OK(rx_linear(x, w, NULL, &y_nb));
    CHECK_TENSOR(y, 3, ys, ref, atol, rtol);
    CHECK_TENSOR(y_nb, 3, ys, ref_nb, atol, rtol);
    if (y) CHECK(rx_tensor_dtype(y) == dt);
    /* a 1-D input gives a 1-D output */
    rx_tensor *x1 = NULL, *y1 = NULL;
    CHECK_OK(rx_select(x, 0, 1, &x1));
    rx_tensor *x11 = NULL;
    CHECK_OK(rx_select(x1, 0, 2, &x11));
    CHECK_OK(rx_linear(x11, w, b, &y1));
    CHECK_TENSOR(y1, 1, bs, ref + 5 * 5, atol, rtol);
    free(xv), free(wv), free(bv), free(ref), free(ref_nb);
    t_release_all(11, (rx_tensor *[]){x64, w64, b64, x, w, b, y, y_nb, x1, x11, y1});
}

static void test_linear_forward(void)
{
    check_linear_dtype(RX_F64, 1e-12, 1e-12);
    check_linear_dtype(RX_F32, 1e-5, 1e-5);
    check_linear_dtype(RX_BF16, BF16_ATOL, BF16_RTOL);
    check_linear_dtype(RX_F16, 5e-3, 5e-3);
}

static rx_status gc_linear(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    return rx_linear(in[0], in[1], ctx ? NULL : in[2], out);
}

static void test_linear_grad(void)
{
    /* x (2, 3, 4): the weight gradient sums over both leading dims */
    rx_tensor *x = gc_leaf(3, (const int64_t[]){2, 3, 4}, 10), *w = gc_leaf(2, (const int64_t[]){5, 4}, 11);
    rx_tensor *b = gc_leaf(1, (const int64_t[]){5}, 12);
    gradcheck("linear", gc_linear, 3, (rx_tensor *[]){x, w, b}, NULL, 1e-6, 1e-5);
    int no_bias = 1;
    gradcheck("linear without bias", gc_linear, 2, (rx_tensor *[]){x, w}, &no_bias, 1e-6, 1e-5);
    /* a non-contiguous x: the transpose of a (4, 3) tensor, itself a leaf */
    rx_tensor *base = t_randn(2, (const int64_t[]){4, 3}, RX_F64, 13);
    rx_tensor *xt = transposed(base, 0, 1);
    CHECK(!rx_tensor_is_contiguous(xt));
    CHECK_OK(rx_set_requires_grad(xt, 1));
    rx_tensor *w2 = gc_leaf(2, (const int64_t[]){2, 4}, 14), *b2 = gc_leaf(1, (const int64_t[]){2}, 15);
    gradcheck("linear non-contiguous x", gc_linear, 3, (rx_tensor *[]){xt, w2, b2}, NULL, 1e-6, 1e-5);
    /* only the weight requires grad */
    rx_tensor *xc = t_randn(2, (const int64_t[]){3, 4}, RX_F64, 16);
    gradcheck("linear weight only", gc_linear, 3, (rx_tensor *[]){xc, w2, b2}, NULL, 1e-6, 1e-5);
    t_release_all(9, (rx_tensor *[]){x, w, b, base, xt, w2, b2, xc, NULL});
}

static void test_linear_errors(void)
{
    rx_tensor *x = t_randn(2, (const int64_t[]){3, 4}, RX_F32, 1),
              *w = t_randn(2, (const int64_t[]){5, 3}, RX_F32, 2);
    rx_tensor *w_ok = t_randn(2, (const int64_t[]){5, 4}, RX_F32, 3),
              *b = t_randn(1, (const int64_t[]){6}, RX_F32, 4);
    rx_tensor *w64 = t_randn(2, (const int64_t[]){5, 4}, RX_F64, 5), *s = t_randn(0, NULL, RX_F32, 6);
    rx_tensor *xi = NULL, *y = NULL;
    CHECK_OK(rx_zeros(2, (const int64_t[]){3, 4}, RX_I64, rx_cpu(), &xi));
    CHECK_ERR(rx_linear(x, w, NULL, &y), RX_ERR_SHAPE,
              "linear: argument #2: expected shape (*, 4), got (5, 3)");
    CHECK(y == NULL);
    CHECK_ERR(rx_linear(x, w_ok, b, &y), RX_ERR_SHAPE, "linear: argument #3: expected shape (5), got (6)");
    CHECK_ERR(rx_linear(x, w64, NULL, &y), RX_ERR_DTYPE, "linear: argument #1 is f32 but argument #2 is f64");
    CHECK_ERR(rx_linear(s, w_ok, NULL, &y), RX_ERR_SHAPE,
              "linear: argument #1: expected shape (*, in), got a scalar");
    CHECK_ERR(rx_linear(xi, w_ok, NULL, &y), RX_ERR_DTYPE,
              "linear: argument #1: expected a floating-point tensor");
    CHECK_ERR(rx_linear(NULL, w_ok, NULL, &y), RX_ERR_ARG,
              "linear: argument #1: expected a tensor, got NULL");
    CHECK(y == NULL);
    t_release_all(7, (rx_tensor *[]){x, w, w_ok, b, w64, s, xi});
}

/* The bias gradient (a column sum) and the weight gradient of a tall input do not depend on the
 * number of threads, bit for bit. */
static void test_linear_deterministic(void)
{
    double out[2][2][64];
    for (int run = 0; run < 2; run++) {
        rx_set_num_threads(run == 0 ? 1 : 0);
        rx_tensor *x = t_randn(2, (const int64_t[]){3000, 16}, RX_F32, 40);
        rx_tensor *w = t_randn(2, (const int64_t[]){4, 16}, RX_F32, 41),
                  *b = t_randn(1, (const int64_t[]){4}, RX_F32, 42);
        CHECK_OK(rx_set_requires_grad(w, 1));
        CHECK_OK(rx_set_requires_grad(b, 1));
        rx_tensor *y = NULL, *g = t_randn(2, (const int64_t[]){3000, 4}, RX_F32, 43);
        CHECK_OK(rx_linear(x, w, b, &y));
        CHECK_OK(rx_backward(y, g, 0));
        CHECK_OK(rx_tensor_to_doubles(rx_grad(w), out[run][0], 64));
        CHECK_OK(rx_tensor_to_doubles(rx_grad(b), out[run][1], 4));
        /* the bias gradient against a double reference */
        double *gv = t_values(g), ref[4] = {0};
        for (int64_t r = 0; r < 3000; r++)
            for (int o = 0; o < 4; o++) ref[o] += gv[r * 4 + o];
        CHECK_TENSOR(rx_grad(b), 1, (const int64_t[]){4}, ref, 1e-4, 1e-5);
        free(gv);
        t_release_all(5, (rx_tensor *[]){x, w, b, y, g});
    }
    rx_set_num_threads(0);
    CHECK(memcmp(out[0][0], out[1][0], sizeof(double) * 64) == 0);
    CHECK(memcmp(out[0][1], out[1][1], sizeof(double) * 4) == 0);
}

/* ---- embedding ---------------------------------------------------------------------------------- */

static void test_embedding_forward(void)
{
    const int64_t ws[2] = {6, 3}, is[2] = {2, 3}, os[3] = {2, 3, 3};
    const double ids[6] = {0, 5, 2, 2, 4, 1};
    rx_dtype dts[4] = {RX_F64, RX_F32, RX_BF16, RX_I32};
    rx_dtype its[2] = {RX_I64, RX_I32};
    for (int d = 0; d < 4; d++)
        for (int k = 0; k < 2; k++) {
            rx_tensor *w64 = t_randn(2, ws, RX_F64, 7), *w = t_cast(w64, dts[d]);
            rx_tensor *id = t_from(2, is, its[k], ids), *y = NULL;
            double *wv = t_values(w), ref[18];
            for (int i = 0; i < 6; i++)
                for (int c = 0; c < 3; c++) ref[i * 3 + c] = wv[(int)ids[i] * 3 + c];
            CHECK_OK(rx_embedding(w, id, -1, &y));
            CHECK_TENSOR(y, 3, os, ref, 0, 0); /* a gather is exact */
            if (y) CHECK(rx_tensor_dtype(y) == dts[d]);
            free(wv);
            t_release_all(4, (rx_tensor *[]){w64, w, id, y});
        }
    /* a weight with a non-unit column stride (the transpose of (3, 6)) */
    rx_tensor *base = t_randn(2, (const int64_t[]){3, 6}, RX_F64, 8), *wt = transposed(base, 0, 1);
    rx_tensor *id = t_from(1, (const int64_t[]){3}, RX_I64, (const double[]){5, 0, 5}), *y = NULL;
    double *bv = t_values(base), ref[9];
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++) ref[i * 3 + c] = bv[c * 6 + (i == 1 ? 0 : 5)];
    CHECK_OK(rx_embedding(wt, id, -1, &y));
    CHECK_TENSOR(y, 2, ((const int64_t[]){3, 3}), ref, 0, 0);
    free(bv);
    t_release_all(4, (rx_tensor *[]){base, wt, id, y});
}

static rx_status gc_embedding(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    return rx_embedding(in[0], (rx_tensor *)ctx, -1, out);
}

static void test_embedding_grad(void)
{
    /* repeated ids accumulate */
    rx_tensor *w = gc_leaf(2, (const int64_t[]){5, 3}, 20);
    rx_tensor *ids = t_from(2, (const int64_t[]){2, 4}, RX_I32, (const double[]){1, 3, 1, 0, 4, 1, 3, 3});
    gradcheck("embedding", gc_embedding, 1, &w, ids, 1e-6, 1e-5);
    /* padding_idx: its row gets no gradient although it is gathered */
    rx_tensor *y = NULL, *g = t_randn(3, (const int64_t[]){2, 4, 3}, RX_F64, 21);
    CHECK_OK(rx_set_grad(w, NULL));
    CHECK_OK(rx_embedding(w, ids, 3, &y));
    CHECK_OK(rx_backward(y, g, 0));
    double *gv = t_values(g), *idv = t_values(ids), ref[15] = {0};
    for (int n = 0; n < 8; n++)
        if (idv[n] != 3)
            for (int c = 0; c < 3; c++) ref[(int)idv[n] * 3 + c] += gv[n * 3 + c];
    CHECK_TENSOR(rx_grad(w), 2, ((const int64_t[]){5, 3}), ref, 1e-12, 1e-12);
    free(gv), free(idv);
    t_release_all(4, (rx_tensor *[]){w, ids, y, g});
}

/* The weight gradient of many repeated ids is identical with 1 and with all threads. */
static void test_embedding_deterministic(void)
{
    double out[2][40 * 8];
    for (int run = 0; run < 2; run++) {
        rx_set_num_threads(run == 0 ? 1 : 0);
        rx_tensor *w = t_randn(2, (const int64_t[]){40, 8}, RX_F32, 30), *ids = NULL, *y = NULL;
        rx_generator *gen = rx_generator_new(31);
        CHECK_OK(rx_randint(0, 40, 1, (const int64_t[]){5000}, RX_I64, rx_cpu(), gen, &ids));
        rx_generator_free(gen);
        rx_tensor *g = t_randn(2, (const int64_t[]){5000, 8}, RX_F32, 32);
        CHECK_OK(rx_set_requires_grad(w, 1));
        CHECK_OK(rx_embedding(w, ids, -1, &y));
        CHECK_OK(rx_backward(y, g, 0));
        CHECK_OK(rx_tensor_to_doubles(rx_grad(w), out[run], 40 * 8));
        t_release_all(4, (rx_tensor *[]){w, ids, y, g});
    }
    rx_set_num_threads(0);
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
}

static void test_embedding_errors(void)
{
    rx_tensor *w = t_randn(2, (const int64_t[]){5, 3}, RX_F32, 1), *y = NULL;
    rx_tensor *bad = t_from(1, (const int64_t[]){4}, RX_I64, (const double[]){0, 1, 7, 2});
    rx_tensor *neg = t_from(1, (const int64_t[]){2}, RX_I32, (const double[]){-1, 1});
    rx_tensor *fl = t_from(1, (const int64_t[]){2}, RX_F32, (const double[]){0, 1});
    rx_tensor *ok = t_from(1, (const int64_t[]){2}, RX_I64, (const double[]){0, 1});
    rx_tensor *w1 = t_randn(1, (const int64_t[]){5}, RX_F32, 2);
    CHECK_ERR(rx_embedding(w, bad, -1, &y), RX_ERR_ARG,
              "embedding: argument #2: id 7 at element 2 is out of range [0, 5)");
    CHECK_ERR(rx_embedding(w, neg, -1, &y), RX_ERR_ARG, "id -1 at element 0");
    CHECK_ERR(rx_embedding(w, fl, -1, &y), RX_ERR_DTYPE,
              "embedding: argument #2: expected an i32 or i64 index tensor");
    CHECK_ERR(rx_embedding(w, ok, 5, &y), RX_ERR_ARG, "embedding: argument #3: padding_idx 5 out of range");
    CHECK_ERR(rx_embedding(w, ok, -2, &y), RX_ERR_ARG, "padding_idx -2");
    CHECK_ERR(rx_embedding(w1, ok, -1, &y), RX_ERR_SHAPE,
              "embedding: argument #1: expected shape (*, *), got (5)");
    CHECK(y == NULL);
    t_release_all(6, (rx_tensor *[]){w, bad, neg, fl, ok, w1});
}

/* ---- rmsnorm and layernorm ------------------------------------------------------------------- */

/* Row-wise references over rows of c (w, b may be NULL). */
static double *ref_rmsnorm(const double *x, const double *w, int64_t rows, int64_t c, double eps)
{
    double *y = malloc(sizeof(double) * (size_t)(rows * c));
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t j = 0; j < c; j++) ss += x[r * c + j] * x[r * c + j];
        double inv = 1.0 / sqrt(ss / (double)c + eps);
        for (int64_t j = 0; j < c; j++) y[r * c + j] = x[r * c + j] * inv * w[j];
    }
    return y;
}

static double *ref_layernorm(const double *x, const double *w, const double *b, int64_t rows, int64_t c,
                             double eps)
{
    double *y = malloc(sizeof(double) * (size_t)(rows * c));
    for (int64_t r = 0; r < rows; r++) {
        double mu = 0, var = 0;
        for (int64_t j = 0; j < c; j++) mu += x[r * c + j];
        mu /= (double)c;
        for (int64_t j = 0; j < c; j++) var += (x[r * c + j] - mu) * (x[r * c + j] - mu);
        var /= (double)c;
        for (int64_t j = 0; j < c; j++)
            y[r * c + j] = (x[r * c + j] - mu) / sqrt(var + eps) * (w ? w[j] : 1.0) + (b ? b[j] : 0.0);
    }
    return y;
}

static void check_norms_dtype(rx_dtype dt, double atol, double rtol)
{
    const int64_t xs[3] = {2, 3, 7}, cs[1] = {7};
    rx_tensor *x64 = t_randn(3, xs, RX_F64, 50), *w64 = t_randn(1, cs, RX_F64, 51),
              *b64 = t_randn(1, cs, RX_F64, 52);
    rx_tensor *x = t_cast(x64, dt), *w = t_cast(w64, dt), *b = t_cast(b64, dt);
    rx_tensor *y = NULL, *z = NULL, *z0 = NULL;
    double *xv = t_values(x), *wv = t_values(w), *bv = t_values(b);
    double *r1 = ref_rmsnorm(xv, wv, 6, 7, 1e-6), *r2 = ref_layernorm(xv, wv, bv, 6, 7, 1e-5);
    double *r3 = ref_layernorm(xv, NULL, NULL, 6, 7, 1e-5);
    CHECK_OK(rx_rmsnorm(x, w, 1e-6, &y));
    CHECK_OK(rx_layernorm(x, w, b, 1e-5, &z));
    CHECK_OK(rx_layernorm(x, NULL, NULL, 1e-5, &z0));
    CHECK_TENSOR(y, 3, xs, r1, atol, rtol);
    CHECK_TENSOR(z, 3, xs, r2, atol, rtol);
    CHECK_TENSOR(z0, 3, xs, r3, atol, rtol);
    if (y) CHECK(rx_tensor_dtype(y) == dt);
    free(xv), free(wv), free(bv), free(r1), free(r2), free(r3);
    t_release_all(9, (rx_tensor *[]){x64, w64, b64, x, w, b, y, z, z0});
}

static void test_norm_forward(void)
{
    check_norms_dtype(RX_F64, 1e-12, 1e-12);
    check_norms_dtype(RX_F32, 1e-5, 1e-5);
    check_norms_dtype(RX_BF16, BF16_ATOL, BF16_RTOL);
    /* SASRec's eps 1e-10 on a constant row: zeros plus the bias, never NaN */
    rx_tensor *x = NULL, *y = NULL,
              *b = t_from(1, (const int64_t[]){4}, RX_F32, (const double[]){1, 2, 3, 4});
    CHECK_OK(rx_full(2, (const int64_t[]){2, 4}, 3.0, RX_F32, rx_cpu(), &x));
    CHECK_OK(rx_layernorm(x, NULL, b, 1e-10, &y));
    CHECK_TENSOR(y, 2, ((const int64_t[]){2, 4}), ((const double[]){1, 2, 3, 4, 1, 2, 3, 4}), 1e-6, 0);
    /* a non-contiguous x: the transpose of (7, 6) */
    rx_tensor *base = t_randn(2, (const int64_t[]){7, 6}, RX_F64, 53), *xt = transposed(base, 0, 1);
    rx_tensor *w = t_randn(1, (const int64_t[]){7}, RX_F64, 54), *yt = NULL;
    double *bv = t_values(base), *wv = t_values(w), xv[42];
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 7; c++) xv[r * 7 + c] = bv[c * 6 + r];
    double *ref = ref_rmsnorm(xv, wv, 6, 7, 1e-5);
    CHECK_OK(rx_rmsnorm(xt, w, 1e-5, &yt));
    CHECK_TENSOR(yt, 2, ((const int64_t[]){6, 7}), ref, 1e-12, 1e-12);
    free(bv), free(wv), free(ref);
    t_release_all(8, (rx_tensor *[]){x, y, b, base, xt, w, yt, NULL});
}

static rx_status gc_rmsnorm(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    return rx_rmsnorm(in[0], in[1], 1e-5, out);
}

static rx_status gc_layernorm(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    int variant = ctx ? *(int *)ctx : 0;
    return rx_layernorm(in[0], variant == 1 ? NULL : in[1], variant == 1 ? NULL : in[2], 1e-5, out);
}

static void test_norm_grad(void)
{
    rx_tensor *x = gc_leaf(3, (const int64_t[]){2, 3, 5}, 60), *w = gc_leaf(1, (const int64_t[]){5}, 61);
    rx_tensor *b = gc_leaf(1, (const int64_t[]){5}, 62);
    gradcheck("rmsnorm", gc_rmsnorm, 2, (rx_tensor *[]){x, w}, NULL, 1e-6, 1e-5);
    gradcheck("layernorm", gc_layernorm, 3, (rx_tensor *[]){x, w, b}, NULL, 1e-6, 1e-5);
    int no_affine = 1;
    gradcheck("layernorm without w, b", gc_layernorm, 1, &x, &no_affine, 1e-6, 1e-5);
    /* non-contiguous x (transpose of (5, 4)) */
    rx_tensor *base = t_randn(2, (const int64_t[]){5, 4}, RX_F64, 63), *xt = transposed(base, 0, 1);
    CHECK_OK(rx_set_requires_grad(xt, 1));
    gradcheck("rmsnorm non-contiguous", gc_rmsnorm, 2, (rx_tensor *[]){xt, w}, NULL, 1e-6, 1e-5);
    gradcheck("layernorm non-contiguous", gc_layernorm, 3, (rx_tensor *[]){xt, w, b}, NULL, 1e-6, 1e-5);
    /* only the parameters require grad */
    rx_tensor *xc = t_randn(2, (const int64_t[]){4, 5}, RX_F64, 64);
    gradcheck("rmsnorm weight only", gc_rmsnorm, 2, (rx_tensor *[]){xc, w}, NULL, 1e-6, 1e-5);
    gradcheck("layernorm parameters only", gc_layernorm, 3, (rx_tensor *[]){xc, w, b}, NULL, 1e-6, 1e-5);
    t_release_all(6, (rx_tensor *[]){x, w, b, base, xt, xc});
}

static void test_norm_deterministic(void)
{
    double out[2][3][32];
    for (int run = 0; run < 2; run++) {
        rx_set_num_threads(run == 0 ? 1 : 0);
        rx_tensor *x = t_randn(2, (const int64_t[]){5000, 32}, RX_F32, 70),
                  *g = t_randn(2, (const int64_t[]){5000, 32}, RX_F32, 71);
        rx_tensor *w = t_randn(1, (const int64_t[]){32}, RX_F32, 72),
                  *b = t_randn(1, (const int64_t[]){32}, RX_F32, 73);
        rx_tensor *w2 = t_randn(1, (const int64_t[]){32}, RX_F32, 74), *y = NULL, *z = NULL;
        CHECK_OK(rx_set_requires_grad(w, 1));
        CHECK_OK(rx_set_requires_grad(b, 1));
        CHECK_OK(rx_set_requires_grad(w2, 1));
        CHECK_OK(rx_layernorm(x, w, b, 1e-5, &y));
        CHECK_OK(rx_backward(y, g, 0));
        CHECK_OK(rx_rmsnorm(x, w2, 1e-5, &z));
        CHECK_OK(rx_backward(z, g, 0));
        CHECK_OK(rx_tensor_to_doubles(rx_grad(w), out[run][0], 32));
        CHECK_OK(rx_tensor_to_doubles(rx_grad(b), out[run][1], 32));
        CHECK_OK(rx_tensor_to_doubles(rx_grad(w2), out[run][2], 32));
        t_release_all(7, (rx_tensor *[]){x, g, w, b, w2, y, z});
    }
    rx_set_num_threads(0);
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
}

static void test_norm_errors(void)
{
    rx_tensor *x = t_randn(2, (const int64_t[]){3, 4}, RX_F32, 1),
              *w = t_randn(1, (const int64_t[]){5}, RX_F32, 2);
    rx_tensor *w4 = t_randn(1, (const int64_t[]){4}, RX_F32, 3),
              *w64 = t_randn(1, (const int64_t[]){4}, RX_F64, 4);
    rx_tensor *s = t_randn(0, NULL, RX_F32, 5), *y = NULL;
    CHECK_ERR(rx_rmsnorm(x, w, 1e-5, &y), RX_ERR_SHAPE, "rmsnorm: argument #2: expected shape (4), got (5)");
    CHECK_ERR(rx_rmsnorm(x, w64, 1e-5, &y), RX_ERR_DTYPE,
              "rmsnorm: argument #1 is f32 but argument #2 is f64");
    CHECK_ERR(rx_rmsnorm(x, w4, -1.0, &y), RX_ERR_ARG,
              "rmsnorm: argument #3: expected a finite eps >= 0, got -1");
    CHECK_ERR(rx_rmsnorm(x, NULL, 1e-5, &y), RX_ERR_ARG, "rmsnorm: argument #2: expected a tensor, got NULL");
    CHECK_ERR(rx_rmsnorm(s, w4, 1e-5, &y), RX_ERR_SHAPE,
              "rmsnorm: argument #1: expected shape (*, C), got a scalar");
    CHECK_ERR(rx_layernorm(x, w4, w, 1e-5, &y), RX_ERR_SHAPE,
              "layernorm: argument #3: expected shape (4), got (5)");
    CHECK_ERR(rx_layernorm(x, w, NULL, 1e-5, &y), RX_ERR_SHAPE,
              "layernorm: argument #2: expected shape (4), got (5)");
    CHECK_ERR(rx_layernorm(x, NULL, NULL, NAN, &y), RX_ERR_ARG,
              "layernorm: argument #4: expected a finite eps");
    CHECK(y == NULL);
    t_release_all(5, (rx_tensor *[]){x, w, w4, w64, s});
}

/* ---- rotary embeddings ----------------------------------------------------------------------- */

static void test_rope_tables(void)
{
    rx_tensor *inv = NULL;
    CHECK_OK(rx_rope_inv_freq(8, 10000.0, &inv));
    double ref_inv[4];
    for (int j = 0; j < 4; j++) ref_inv[j] = pow(10000.0, -2.0 * j / 8.0);
    CHECK_TENSOR(inv, 1, ((const int64_t[]){4}), ref_inv, 0, 2e-7);
    if (inv) CHECK(rx_tensor_dtype(inv) == RX_F32);
    /* (T) positions, f32 tables */
    rx_tensor *pos = t_from(1, (const int64_t[]){3}, RX_I64, (const double[]){0, 1, 7}), *c = NULL, *s = NULL;
    CHECK_OK(rx_rope_tables(pos, inv, RX_F32, &c, &s));
    double *iv = t_values(inv), rc[24], rs[24];
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < 8; j++) {
            double p = t == 2 ? 7 : t, a = p * iv[j % 4];
            rc[t * 8 + j] = cos(a), rs[t * 8 + j] = sin(a);
        }
    CHECK_TENSOR(c, 2, ((const int64_t[]){3, 8}), rc, 1e-6, 1e-6);
    CHECK_TENSOR(s, 2, ((const int64_t[]){3, 8}), rs, 1e-6, 1e-6);
    /* (B, T) i32 positions, bf16 tables */
    rx_tensor *pos2 = t_from(2, (const int64_t[]){2, 3}, RX_I32, (const double[]){0, 1, 7, 0, 1, 7});
    rx_tensor *c2 = NULL, *s2 = NULL;
    CHECK_OK(rx_rope_tables(pos2, inv, RX_BF16, &c2, &s2));
    double rc2[48], rs2[48];
    memcpy(rc2, rc, sizeof rc), memcpy(rc2 + 24, rc, sizeof rc);
    memcpy(rs2, rs, sizeof rs), memcpy(rs2 + 24, rs, sizeof rs);
    CHECK_TENSOR(c2, 3, ((const int64_t[]){2, 3, 8}), rc2, 1e-2, 1e-2);
    CHECK_TENSOR(s2, 3, ((const int64_t[]){2, 3, 8}), rs2, 1e-2, 1e-2);
    /* f64 inverse frequencies give f64-accurate angles */
    rx_tensor *inv64 = t_cast(inv, RX_F64), *c3 = NULL, *s3 = NULL;
    CHECK_OK(rx_rope_tables(pos, inv64, RX_F64, &c3, &s3));
    CHECK_TENSOR(c3, 2, ((const int64_t[]){3, 8}), rc, 1e-14, 1e-14);
    /* errors */
    rx_tensor *fpos = t_from(1, (const int64_t[]){2}, RX_F32, (const double[]){0, 1}), *x1 = NULL, *x2 = NULL;
    CHECK_ERR(rx_rope_inv_freq(7, 10000.0, &x1), RX_ERR_ARG,
              "rope_inv_freq: argument #1: expected a positive even head dim, got 7");
    CHECK_ERR(rx_rope_inv_freq(8, 0.0, &x1), RX_ERR_ARG, "rope_inv_freq: argument #2");
    CHECK_ERR(rx_rope_tables(fpos, inv, RX_F32, &x1, &x2), RX_ERR_DTYPE,
              "rope_tables: argument #1: expected an i32 or i64");
    CHECK_ERR(rx_rope_tables(pos, pos, RX_F32, &x1, &x2), RX_ERR_DTYPE,
              "rope_tables: argument #2: expected f32 or f64");
    CHECK_ERR(rx_rope_tables(pos, inv, RX_I32, &x1, &x2), RX_ERR_DTYPE,
              "rope_tables: argument #3: expected a floating-point dtype");
    CHECK(x1 == NULL && x2 == NULL);
    free(iv);
    t_release_all(12, (rx_tensor *[]){inv, pos, c, s, pos2, c2, s2, inv64, c3, s3, fpos, NULL});
}

/* y = x cos + rotate_half(x) sin for x (B, H, T, D) row-major doubles and tables (Bc, T, D). */
static double *ref_rope(const double *x, const double *c, const double *s, int64_t b, int64_t h, int64_t t,
                        int64_t d, bool batched)
{
    double *y = malloc(sizeof(double) * (size_t)(b * h * t * d));
    int64_t half = d / 2;
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t hi = 0; hi < h; hi++)
            for (int64_t ti = 0; ti < t; ti++) {
                const double *xr = x + ((bi * h + hi) * t + ti) * d;
                int64_t to = ((batched ? bi : 0) * t + ti) * d;
                for (int64_t j = 0; j < d; j++) {
                    double rot = j < half ? -xr[j + half] : xr[j - half];
                    y[((bi * h + hi) * t + ti) * d + j] = xr[j] * c[to + j] + rot * s[to + j];
                }
            }
    return y;
}

static void test_rope_forward(void)
{
    const int64_t xs[4] = {2, 3, 4, 6};
    rx_dtype dts[3] = {RX_F64, RX_F32, RX_BF16};
    double tol[3] = {1e-12, 1e-5, BF16_ATOL};
    for (int d = 0; d < 3; d++)
        for (int batched = 0; batched < 2; batched++) {
            int64_t ts[3] = {2, 4, 6};
            int nd = batched ? 3 : 2;
            const int64_t *tshape = batched ? ts : ts + 1;
            rx_tensor *x64 = t_randn(4, xs, RX_F64, 80), *c64 = t_randn(nd, tshape, RX_F64, 81);
            rx_tensor *s64 = t_randn(nd, tshape, RX_F64, 82);
            rx_tensor *x = t_cast(x64, dts[d]), *c = t_cast(c64, dts[d]), *s = t_cast(s64, dts[d]), *y = NULL;
            double *xv = t_values(x), *cv = t_values(c), *sv = t_values(s);
            double *ref = ref_rope(xv, cv, sv, 2, 3, 4, 6, batched);
            CHECK_OK(rx_rope(x, c, s, &y));
            CHECK_TENSOR(y, 4, xs, ref, tol[d], d == 2 ? BF16_RTOL : tol[d]);
            free(xv), free(cv), free(sv), free(ref);
            t_release_all(7, (rx_tensor *[]){x64, c64, s64, x, c, s, y});
        }
    /* x as a (B, T, H, D) tensor transposed to (B, H, T, D) */
    rx_tensor *base = t_randn(4, (const int64_t[]){2, 4, 3, 6}, RX_F64, 83), *xt = transposed(base, 1, 2);
    rx_tensor *xc = NULL, *c = t_randn(2, (const int64_t[]){4, 6}, RX_F64, 84),
              *s = t_randn(2, (const int64_t[]){4, 6}, RX_F64, 85);
    rx_tensor *y1 = NULL, *y2 = NULL;
    CHECK_OK(rx_contiguous(xt, &xc));
    CHECK_OK(rx_rope(xt, c, s, &y1));
    CHECK_OK(rx_rope(xc, c, s, &y2));
    double *v2 = t_values(y2);
    CHECK_TENSOR(y1, 4, xs, v2, 0, 0);
    free(v2);
    t_release_all(7, (rx_tensor *[]){base, xt, xc, c, s, y1, y2});
}

typedef struct rope_ctx {
    rx_tensor *cos, *sin;
} rope_ctx;

static rx_status gc_rope(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    rope_ctx *c = ctx;
    return rx_rope(in[0], c->cos, c->sin, out);
}

/* rope with tables of the input's dtype: bf16 tables for bf16 inputs, f64 ones (cast) for f64. */
static rx_status gc_rope_cast(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    rope_ctx *c = ctx;
    rx_dtype dt = rx_tensor_dtype(in[0]);
    rx_tensor *cs = NULL, *sn = NULL;
    rx_status s = rx_to_dtype(c->cos, dt, &cs);
    if (s == RX_OK) s = rx_to_dtype(c->sin, dt, &sn);
    if (s == RX_OK) s = rx_rope(in[0], cs, sn, out);
    rx_tensor_release(cs);
    rx_tensor_release(sn);
    return s;
}

static void test_rope_grad(void)
{
    /* arbitrary tables (halves differ), so the backward must be the exact transpose */
    rope_ctx ctx = {t_randn(2, (const int64_t[]){3, 4}, RX_F64, 90),
                    t_randn(2, (const int64_t[]){3, 4}, RX_F64, 91)};
    rx_tensor *x = gc_leaf(4, (const int64_t[]){2, 2, 3, 4}, 92);
    gradcheck("rope", gc_rope, 1, &x, &ctx, 1e-6, 1e-5);
    rope_ctx ctxb = {t_randn(3, (const int64_t[]){2, 3, 4}, RX_F64, 93),
                     t_randn(3, (const int64_t[]){2, 3, 4}, RX_F64, 94)};
    rx_tensor *base = t_randn(4, (const int64_t[]){2, 3, 2, 4}, RX_F64, 95), *xt = transposed(base, 1, 2);
    CHECK_OK(rx_set_requires_grad(xt, 1));
    gradcheck("rope batched tables, non-contiguous x", gc_rope, 1, &xt, &ctxb, 1e-6, 1e-5);
    t_release_all(7, (rx_tensor *[]){ctx.cos, ctx.sin, x, ctxb.cos, ctxb.sin, base, xt});
}

static void test_rope_errors(void)
{
    rx_tensor *x = t_randn(4, (const int64_t[]){1, 2, 3, 4}, RX_F32, 1),
              *c = t_randn(2, (const int64_t[]){3, 4}, RX_F32, 2);
    rx_tensor *odd = t_randn(4, (const int64_t[]){1, 2, 3, 5}, RX_F32, 3),
              *c5 = t_randn(2, (const int64_t[]){3, 5}, RX_F32, 4);
    rx_tensor *cbad = t_randn(2, (const int64_t[]){2, 4}, RX_F32, 5),
              *c64 = t_randn(2, (const int64_t[]){3, 4}, RX_F64, 6);
    rx_tensor *cb = t_randn(3, (const int64_t[]){2, 3, 4}, RX_F32, 7),
              *x3 = t_randn(3, (const int64_t[]){2, 3, 4}, RX_F32, 8);
    rx_tensor *cg = t_randn(2, (const int64_t[]){3, 4}, RX_F32, 9), *y = NULL;
    CHECK_OK(rx_set_requires_grad(cg, 1));
    CHECK_ERR(rx_rope(odd, c5, c5, &y), RX_ERR_SHAPE, "rope: argument #1: expected an even head dim, got 5");
    CHECK_ERR(rx_rope(x, cbad, c, &y), RX_ERR_SHAPE, "rope: argument #2: expected shape (3, 4), got (2, 4)");
    CHECK_ERR(rx_rope(x, c, cbad, &y), RX_ERR_SHAPE, "rope: argument #3: expected shape (3, 4), got (2, 4)");
    CHECK_ERR(rx_rope(x, cb, c, &y), RX_ERR_SHAPE,
              "rope: argument #2: expected shape (1, 3, 4), got (2, 3, 4)");
    CHECK_ERR(rx_rope(x, c, c64, &y), RX_ERR_DTYPE, "rope: argument #1 is f32 but argument #3 is f64");
    CHECK_ERR(rx_rope(x3, c, c, &y), RX_ERR_SHAPE,
              "rope: argument #1: expected shape (*, *, *, *), got (2, 3, 4)");
    CHECK_ERR(rx_rope(x, cg, c, &y), RX_ERR_ARG, "rope: argument #2: cos requires grad");
    CHECK(y == NULL);
    t_release_all(9, (rx_tensor *[]){x, c, odd, c5, cbad, c64, cb, x3, cg});
}

/* ---- swiglu ------------------------------------------------------------------------------------ */

static void test_swiglu(void)
{
    const int64_t sh[2] = {3, 5};
    rx_dtype dts[3] = {RX_F64, RX_F32, RX_BF16};
    double tol[3] = {1e-12, 1e-6, BF16_ATOL};
    for (int d = 0; d < 3; d++) {
        rx_tensor *a64 = t_randn(2, sh, RX_F64, 100), *u64 = t_randn(2, sh, RX_F64, 101);
        rx_tensor *a = t_cast(a64, dts[d]), *u = t_cast(u64, dts[d]), *y = NULL;
        double *av = t_values(a), *uv = t_values(u), ref[15];
        for (int i = 0; i < 15; i++) ref[i] = av[i] / (1.0 + exp(-av[i])) * uv[i];
        CHECK_OK(rx_swiglu(a, u, &y));
        CHECK_TENSOR(y, 2, sh, ref, tol[d], d == 2 ? BF16_RTOL : tol[d]);
        free(av), free(uv);
        t_release_all(5, (rx_tensor *[]){a64, u64, a, u, y});
    }
    /* large |gate| stays finite */
    rx_tensor *a = t_from(1, (const int64_t[]){3}, RX_F32, (const double[]){-200, 0, 200});
    rx_tensor *u = t_from(1, (const int64_t[]){3}, RX_F32, (const double[]){1, 1, 1}), *y = NULL;
    CHECK_OK(rx_swiglu(a, u, &y));
    CHECK_TENSOR(y, 1, ((const int64_t[]){3}), ((const double[]){0, 0, 200}), 1e-6, 1e-6);
    rx_tensor *u2 = t_randn(2, sh, RX_F32, 1), *bad = NULL;
    CHECK_ERR(rx_swiglu(a, u2, &bad), RX_ERR_SHAPE, "swiglu: argument #2: expected shape (3), got (3, 5)");
    t_release_all(4, (rx_tensor *[]){a, u, y, u2});
}

static rx_status gc_swiglu(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    return rx_swiglu(in[0], in[1], out);
}

static void test_swiglu_grad(void)
{
    rx_tensor *a = gc_leaf(2, (const int64_t[]){3, 4}, 110), *u = gc_leaf(2, (const int64_t[]){3, 4}, 111);
    gradcheck("swiglu", gc_swiglu, 2, (rx_tensor *[]){a, u}, NULL, 1e-6, 1e-5);
    /* a gate that is a narrowed (non-contiguous) view */
    rx_tensor *base = t_randn(2, (const int64_t[]){3, 8}, RX_F64, 112), *an = NULL;
    CHECK_OK(rx_narrow(base, 1, 2, 4, &an));
    CHECK_OK(rx_set_requires_grad(an, 1));
    gradcheck("swiglu narrowed gate", gc_swiglu, 2, (rx_tensor *[]){an, u}, NULL, 1e-6, 1e-5);
    t_release_all(4, (rx_tensor *[]){a, u, base, an});
}

/* ---- dropout ----------------------------------------------------------------------------------- */

static void test_dropout_identity(void)
{
    rx_tensor *x = t_randn(2, (const int64_t[]){4, 5}, RX_F32, 120), *y = NULL, *z = NULL;
    rx_generator *g = rx_generator_new(5);
    CHECK_OK(rx_dropout(x, 0.5, 0, g, &y));
    CHECK(y == x);
    CHECK_OK(rx_dropout(x, 0.0, 1, g, &z));
    CHECK(z == x);
    uint64_t seed, off;
    rx_generator_get_state(g, &seed, &off);
    CHECK(off == 0); /* nothing drawn */
    rx_tensor *bad = NULL;
    CHECK_ERR(rx_dropout(x, 1.5, 1, g, &bad), RX_ERR_ARG,
              "dropout: argument #2: expected a probability in [0, 1], got 1.5");
    CHECK_ERR(rx_dropout(x, -0.1, 0, g, &bad), RX_ERR_ARG, "dropout: argument #2");
    CHECK(bad == NULL);
    /* p = 1 drops everything */
    rx_tensor *w = NULL;
    CHECK_OK(rx_dropout(x, 1.0, 1, g, &w));
    double zeros[20] = {0};
    CHECK_TENSOR(w, 2, ((const int64_t[]){4, 5}), zeros, 0, 0);
    rx_generator_free(g);
    t_release_all(4, (rx_tensor *[]){x, y, z, w});
}

static void test_dropout_statistics(void)
{
    const int64_t n = 200000;
    const double p = 0.3;
    rx_tensor *x = NULL, *y = NULL;
    CHECK_OK(rx_ones(1, &n, RX_F32, rx_cpu(), &x));
    rx_generator *g = rx_generator_new(7);
    CHECK_OK(rx_dropout(x, p, 1, g, &y));
    uint64_t seed, off;
    rx_generator_get_state(g, &seed, &off);
    CHECK(off == (uint64_t)n); /* one counter per element */
    double *v = t_values(y), sum = 0;
    int64_t zeros = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += v[i];
        if (v[i] == 0)
            zeros++;
        else if (fabs(v[i] - 1.0 / (1.0 - p)) > 1e-6)
            bad++;
    }
    CHECK(bad == 0);
    CHECK_CLOSE((double)zeros / (double)n, p, 0.01);
    CHECK_CLOSE(sum / (double)n, 1.0, 0.01);
    /* the mask follows the documented counters: element i dropped when uniform(offset + i) < p */
    int64_t mismatches = 0;
    for (int64_t i = 0; i < n; i++) {
        bool drop = rx_philox_bernoulli(rx_philox4x32_10((uint64_t)i, 7), p);
        if (drop != (v[i] == 0)) mismatches++;
    }
    CHECK(mismatches == 0);
    free(v);
    rx_generator_free(g);
    t_release_all(2, (rx_tensor *[]){x, y});
}

typedef struct dropout_ctx {
    double p;
    int training;
} dropout_ctx;

/* A fresh generator with one seed in every call, so every forward draws the same mask. */
static rx_status gc_dropout(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    dropout_ctx *c = ctx;
    rx_generator *g = rx_generator_new(99);
    rx_status s = rx_dropout(in[0], c->p, c->training, g, out);
    rx_generator_free(g);
    return s;
}

static void test_dropout_grad(void)
{
    rx_tensor *x = gc_leaf(2, (const int64_t[]){6, 7}, 130);
    dropout_ctx c = {0.4, 1};
    gradcheck("dropout", gc_dropout, 1, &x, &c, 1e-6, 1e-5);
    dropout_ctx all = {1.0, 1};
    gradcheck("dropout p = 1", gc_dropout, 1, &x, &all, 1e-6, 1e-5);
    /* the gradient is the mask of the forward: zero exactly where the output is zero */
    rx_tensor *y = NULL, *g = NULL;
    CHECK_OK(rx_set_grad(x, NULL));
    CHECK_OK(gc_dropout(&x, &c, &y));
    CHECK_OK(rx_ones(2, (const int64_t[]){6, 7}, RX_F64, rx_cpu(), &g));
    CHECK_OK(rx_backward(y, g, 0));
    double *yv = t_values(y), *gv = t_values(rx_grad(x));
    int bad = 0;
    for (int i = 0; i < 42; i++)
        bad += (yv[i] == 0) != (gv[i] == 0) || (gv[i] != 0 && fabs(gv[i] - 1 / 0.6) > 1e-12);
    CHECK(bad == 0);
    free(yv), free(gv);
    t_release_all(3, (rx_tensor *[]){x, y, g});
}

/* ---- bf16 backward ------------------------------------------------------------------------------ */

/* Runs fn on n inputs (f64 values drawn with seeds 200 + i) in f64 and in bf16, seeds backward with
 * the same upstream gradient, and compares the bf16 gradients with the f64 ones (tolerance
 * 5e-2 + 5e-2 |ref|: bf16 inputs, f32 arithmetic, bf16 outputs). */
static void check_bf16_grads(const char *name, gc_fn fn, int n, const int64_t (*shapes)[4], const int *ndims,
                             void *ctx)
{
    rx_tensor *in[2][4] = {{0}}, *y[2] = {0}, *g[2] = {0};
    double *ref[4] = {0};
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < n; i++) {
            rx_tensor *base = t_randn(ndims[i], shapes[i], RX_F64, 200 + (uint64_t)i);
            in[d][i] = t_cast(base, d ? RX_BF16 : RX_F64);
            if (in[d][i] == base) { /* same dtype: take a private copy so base stays a plain tensor */
                rx_tensor_release(in[d][i]);
                CHECK_OK(rx_clone(base, &in[d][i]));
            }
            rx_tensor_release(base);
            CHECK_OK(rx_set_requires_grad(in[d][i], 1));
        }
        CHECK_OK(fn(in[d], ctx, &y[d]));
        if (!y[d]) return;
        rx_tensor *g64 = t_randn(rx_tensor_ndim(y[d]), rx_tensor_shape_ptr(y[d]), RX_F64, 299);
        g[d] = t_cast(g64, d ? RX_BF16 : RX_F64);
        rx_tensor_release(g64);
        CHECK_OK(rx_backward(y[d], g[d], 0));
    }
    for (int i = 0; i < n; i++) {
        ref[i] = t_values(rx_grad(in[0][i]));
        if (check_failures_in_test == 0) {
            rx_tensor *gb = rx_grad(in[1][i]);
            CHECK(gb && rx_tensor_dtype(gb) == RX_BF16);
            check_tensor_(__FILE__, __LINE__, name, gb, ndims[i], shapes[i], ref[i], 5e-2, 5e-2);
        }
        free(ref[i]);
    }
    for (int d = 0; d < 2; d++) {
        t_release_all(n, in[d]);
        rx_tensor_release(y[d]);
        rx_tensor_release(g[d]);
    }
}

static void test_bf16_backward(void)
{
    const int64_t lin[3][4] = {{3, 2, 8}, {5, 8}, {5}};
    check_bf16_grads("linear bf16", gc_linear, 3, lin, (const int[]){3, 2, 1}, NULL);
    const int64_t norm[3][4] = {{4, 16}, {16}, {16}};
    check_bf16_grads("rmsnorm bf16", gc_rmsnorm, 2, norm, (const int[]){2, 1}, NULL);
    check_bf16_grads("layernorm bf16", gc_layernorm, 3, norm, (const int[]){2, 1, 1}, NULL);
    const int64_t sw[2][4] = {{4, 16}, {4, 16}};
    check_bf16_grads("swiglu bf16", gc_swiglu, 2, sw, (const int[]){2, 2}, NULL);
    const int64_t rp[1][4] = {{2, 2, 3, 4}};
    rope_ctx ctx = {t_randn(2, (const int64_t[]){3, 4}, RX_F64, 90),
                    t_randn(2, (const int64_t[]){3, 4}, RX_F64, 91)};
    rope_ctx ctxb = {t_cast(ctx.cos, RX_BF16), t_cast(ctx.sin, RX_BF16)};
    check_bf16_grads("rope bf16", gc_rope_cast, 1, rp, (const int[]){4}, &ctxb);
    t_release_all(4, (rx_tensor *[]){ctx.cos, ctx.sin, ctxb.cos, ctxb.sin});
}

int main(void)
{
    RUN(test_linear_forward);
    RUN(test_linear_grad);
    RUN(test_linear_errors);
    RUN(test_linear_deterministic);
    RUN(test_embedding_forward);
    RUN(test_embedding_grad);
    RUN(test_embedding_deterministic);
    RUN(test_embedding_errors);
    RUN(test_norm_forward);
    RUN(test_norm_grad);
    RUN(test_norm_deterministic);
    RUN(test_norm_errors);
    RUN(test_rope_tables);
    RUN(test_rope_forward);
    RUN(test_rope_grad);
    RUN(test_rope_errors);
    RUN(test_swiglu);
    RUN(test_swiglu_grad);
    RUN(test_dropout_identity);
    RUN(test_dropout_statistics);
    RUN(test_dropout_grad);
    RUN(test_bf16_backward);
    return check_finish();
}
