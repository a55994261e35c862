/* test_nn_loss.c — rx_cross_entropy, rx_bce_with_logits and rx_mse: forward against double
 * references written here, gradients by finite differences in f64 (ignore_index and weights
 * included), f32 and bf16 forwards, all rows ignored (0, not NaN), numerically extreme logits,
 * thread-count independence, and argument errors.
 */
#include "gradcheck.h"

#include <stdlib.h>
#include <string.h>

static double item(rx_tensor *t)
{
    double v = NAN;
    if (t) CHECK_OK(rx_tensor_item(t, &v));
    return v;
}

/* sum_i w_i (logsumexp(x_i) - x_i[t_i]) / sum_i w_i over rows with t_i != ignore (0 when none). */
static double ref_ce(const double *x, const double *t, const double *w, int64_t n, int64_t v, int64_t ignore)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((int64_t)t[i] == ignore) continue;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < v; j++) mx = fmax(mx, x[i * v + j]);
        for (int64_t j = 0; j < v; j++) sum += exp(x[i * v + j] - mx);
        double wi = w ? w[i] : 1.0;
        num += wi * (mx + log(sum) - x[i * v + (int64_t)t[i]]);
        den += wi;
    }
    return den != 0 ? num / den : 0;
}

static const double TARGETS[5] = {2, -100, 0, 3, 2};
static const double WEIGHTS[5] = {0.5, 2.0, 1.5, 1.0, 0.25};

static void test_cross_entropy_forward(void)
{
    const int64_t ls[2] = {5, 4}, ns[1] = {5};
    rx_dtype dts[4] = {RX_F64, RX_F32, RX_BF16, RX_F16};
    double tol[4] = {1e-12, 1e-6, 1e-5, 1e-5}; /* against the reference on the rounded inputs */
    for (int d = 0; d < 4; d++)
        for (int k = 0; k < 2; k++) {
            rx_tensor *x64 = t_randn(2, ls, RX_F64, 1), *x = t_cast(x64, dts[d]);
            rx_tensor *t = t_from(1, ns, k ? RX_I32 : RX_I64, TARGETS);
            rx_tensor *w64 = t_from(1, ns, RX_F64, WEIGHTS), *w = t_cast(w64, dts[d]), *l1 = NULL, *l2 = NULL;
            double *xv = t_values(x), *wv = t_values(w);
            CHECK_OK(rx_cross_entropy(x, t, -100, NULL, &l1));
            CHECK_OK(rx_cross_entropy(x, t, -100, w, &l2));
            CHECK_CLOSE(item(l1), ref_ce(xv, TARGETS, NULL, 5, 4, -100), tol[d]);
            CHECK_CLOSE(item(l2), ref_ce(xv, TARGETS, wv, 5, 4, -100), tol[d]);
            if (l1) {
                CHECK(rx_tensor_ndim(l1) == 0);
                CHECK(rx_tensor_dtype(l1) == (dts[d] == RX_F64 ? RX_F64 : RX_F32));
            }
            free(xv), free(wv);
            t_release_all(7, (rx_tensor *[]){x64, x, t, w64, w, l1, l2});
        }
    /* extreme logits stay finite; a non-contiguous (transposed) logits tensor */
    rx_tensor *base =
        t_from(2, (const int64_t[]){3, 2}, RX_F32, (const double[]){1000, -1000, 0, 5, -1000, 1000});
    rx_tensor *x = NULL, *t = t_from(1, (const int64_t[]){2}, RX_I64, (const double[]){0, 2}), *l = NULL;
    CHECK_OK(rx_transpose(base, 0, 1, &x));
    CHECK_OK(rx_cross_entropy(x, t, -1, NULL, &l));
    const double xv[6] = {1000, 0, -1000, -1000, 5, 1000};
    CHECK_CLOSE(item(l), ref_ce(xv, (const double[]){0, 2}, NULL, 2, 3, -1), 1e-6);
    t_release_all(4, (rx_tensor *[]){base, x, t, l});
}

typedef struct ce_ctx {
    rx_tensor *targets, *weights;
    int64_t ignore;
} ce_ctx;

static rx_status gc_ce(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    ce_ctx *c = ctx;
    return rx_cross_entropy(in[0], c->targets, c->ignore, c->weights, out);
}

static void test_cross_entropy_grad(void)
{
    rx_tensor *x = gc_leaf(2, (const int64_t[]){5, 4}, 10);
    ce_ctx plain = {t_from(1, (const int64_t[]){5}, RX_I64, TARGETS), NULL, -100};
    gradcheck("cross_entropy ignore_index", gc_ce, 1, &x, &plain, 1e-6, 1e-5);
    ce_ctx weighted = {plain.targets, t_from(1, (const int64_t[]){5}, RX_F64, WEIGHTS), -100};
    gradcheck("cross_entropy ignore_index + weights", gc_ce, 1, &x, &weighted, 1e-6, 1e-5);
    /* the ignored row's gradient is exactly zero */
    rx_tensor *l = NULL;
    CHECK_OK(rx_set_grad(x, NULL));
    CHECK_OK(rx_cross_entropy(x, plain.targets, -100, weighted.weights, &l));
    CHECK_OK(rx_backward(l, NULL, 0));
    double *g = t_values(rx_grad(x));
    CHECK(g[4] == 0 && g[5] == 0 && g[6] == 0 && g[7] == 0);
    free(g);
    t_release_all(4, (rx_tensor *[]){x, plain.targets, weighted.weights, l});
}

/* bf16 logits: the loss is f32 and the logits' gradient bf16, close to the f64 gradient. */
static void test_cross_entropy_bf16_grad(void)
{
    rx_tensor *x64 = t_randn(2, (const int64_t[]){5, 4}, RX_F64, 60), *xb = t_cast(x64, RX_BF16), *x = NULL;
    rx_tensor *t = t_from(1, (const int64_t[]){5}, RX_I64, TARGETS), *lb = NULL, *l = NULL;
    CHECK_OK(rx_to_dtype(xb, RX_F64, &x)); /* the same (rounded) values in f64 */
    CHECK_OK(rx_set_requires_grad(x, 1));
    CHECK_OK(rx_set_requires_grad(xb, 1));
    CHECK_OK(rx_cross_entropy(x, t, -100, NULL, &l));
    CHECK_OK(rx_cross_entropy(xb, t, -100, NULL, &lb));
    if (lb) CHECK(rx_tensor_dtype(lb) == RX_F32);
    CHECK_OK(rx_backward(l, NULL, 0));
    CHECK_OK(rx_backward(lb, NULL, 0));
    CHECK_CLOSE(item(lb), item(l), 1e-6);
    double *ref = t_values(rx_grad(x));
    CHECK(rx_grad(xb) && rx_tensor_dtype(rx_grad(xb)) == RX_BF16);
    CHECK_TENSOR(rx_grad(xb), 2, ((const int64_t[]){5, 4}), ref, 2e-3, 1e-2);
    free(ref);
    t_release_all(6, (rx_tensor *[]){x64, xb, x, t, lb, l});
}

static void test_cross_entropy_all_ignored(void)
{
    rx_tensor *x = t_randn(2, (const int64_t[]){3, 4}, RX_F32, 20), *l = NULL;
    rx_tensor *t = t_from(1, (const int64_t[]){3}, RX_I64, (const double[]){-1, -1, -1});
    CHECK_OK(rx_set_requires_grad(x, 1));
    CHECK_OK(rx_cross_entropy(x, t, -1, NULL, &l));
    CHECK(item(l) == 0.0);
    CHECK_OK(rx_backward(l, NULL, 0));
    double zeros[12] = {0};
    CHECK_TENSOR(rx_grad(x), 2, ((const int64_t[]){3, 4}), zeros, 0, 0);
    /* weights summing to zero behave the same */
    rx_tensor *w = t_from(1, (const int64_t[]){3}, RX_F32, (const double[]){0, 0, 0});
    rx_tensor *t2 = t_from(1, (const int64_t[]){3}, RX_I64, (const double[]){0, 1, 2}), *l2 = NULL;
    CHECK_OK(rx_cross_entropy(x, t2, -1, w, &l2));
    CHECK(item(l2) == 0.0);
    t_release_all(6, (rx_tensor *[]){x, l, t, w, t2, l2});
}

/* A large vocabulary: the loss does not depend on the thread count, bit for bit. */
static void test_cross_entropy_deterministic(void)
{
    double loss[2], *grad[2];
    for (int run = 0; run < 2; run++) {
        rx_set_num_threads(run == 0 ? 1 : 0);
        rx_tensor *x = t_randn(2, (const int64_t[]){300, 500}, RX_F32, 30), *t = NULL, *l = NULL;
        rx_generator *gen = rx_generator_new(31);
        CHECK_OK(rx_randint(0, 500, 1, (const int64_t[]){300}, RX_I64, rx_cpu(), gen, &t));
        rx_generator_free(gen);
        CHECK_OK(rx_set_requires_grad(x, 1));
        CHECK_OK(rx_cross_entropy(x, t, -100, NULL, &l));
        CHECK_OK(rx_backward(l, NULL, 0));
        loss[run] = item(l);
        grad[run] = t_values(rx_grad(x));
        t_release_all(3, (rx_tensor *[]){x, t, l});
    }
    rx_set_num_threads(0);
    CHECK(loss[0] == loss[1]);
    CHECK(memcmp(grad[0], grad[1], sizeof(double) * 300 * 500) == 0);
    free(grad[0]), free(grad[1]);
}

static void test_cross_entropy_errors(void)
{
    rx_tensor *x = t_randn(2, (const int64_t[]){4, 5}, RX_F32, 1), *y = NULL;
    rx_tensor *bad = t_from(1, (const int64_t[]){4}, RX_I64, (const double[]){0, 1, 9, 2});
    rx_tensor *neg = t_from(1, (const int64_t[]){4}, RX_I64, (const double[]){0, -3, 1, 2});
    rx_tensor *ok = t_from(1, (const int64_t[]){4}, RX_I64, (const double[]){0, 1, 4, 2});
    rx_tensor *short_t = t_from(1, (const int64_t[]){3}, RX_I64, (const double[]){0, 1, 2});
    rx_tensor *ft = t_from(1, (const int64_t[]){4}, RX_F32, (const double[]){0, 1, 2, 3});
    rx_tensor *w3 = t_from(1, (const int64_t[]){3}, RX_F32, (const double[]){1, 1, 1});
    rx_tensor *w64 = t_from(1, (const int64_t[]){4}, RX_F64, (const double[]){1, 1, 1, 1});
    rx_tensor *wg = t_from(1, (const int64_t[]){4}, RX_F32, (const double[]){1, 1, 1, 1});
    rx_tensor *x1 = t_randn(1, (const int64_t[]){5}, RX_F32, 2);
    CHECK_OK(rx_set_requires_grad(wg, 1));
    CHECK_ERR(
        rx_cross_entropy(x, bad, -100, NULL, &y), RX_ERR_ARG,
        "cross_entropy: argument #2: target 9 at row 2 is out of range [0, 5) and not ignore_index (-100)");
    CHECK_ERR(rx_cross_entropy(x, neg, -100, NULL, &y), RX_ERR_ARG, "target -3 at row 1");
    CHECK_ERR(rx_cross_entropy(x, short_t, -100, NULL, &y), RX_ERR_SHAPE,
              "cross_entropy: argument #2: expected shape (4), got (3)");
    CHECK_ERR(rx_cross_entropy(x, ft, -100, NULL, &y), RX_ERR_DTYPE,
              "cross_entropy: argument #2: expected an i32 or i64");
    CHECK_ERR(rx_cross_entropy(x, ok, -100, w3, &y), RX_ERR_SHAPE,
              "cross_entropy: argument #4: expected shape (4), got (3)");
    CHECK_ERR(rx_cross_entropy(x, ok, -100, w64, &y), RX_ERR_DTYPE,
              "cross_entropy: argument #1 is f32 but argument #4 is f64");
    CHECK_ERR(rx_cross_entropy(x, ok, -100, wg, &y), RX_ERR_ARG,
              "cross_entropy: argument #4: weights requires grad");
    CHECK_ERR(rx_cross_entropy(x1, ok, -100, NULL, &y), RX_ERR_SHAPE,
              "cross_entropy: argument #1: expected shape (*, *), got (5)");
    CHECK(y == NULL);
    t_release_all(9, (rx_tensor *[]){x, bad, neg, ok, short_t, ft, w3, w64, wg});
    rx_tensor_release(x1);
}

/* ---- bce_with_logits and mse ----------------------------------------------------------------- */

static void test_pointwise_losses(void)
{
    const int64_t sh[2] = {3, 4};
    rx_dtype dts[3] = {RX_F64, RX_F32, RX_BF16};
    double tol[3] = {1e-12, 1e-6, 1e-2}; /* bf16: the 0-d result is rounded to bf16 */
    for (int d = 0; d < 3; d++) {
        rx_tensor *x64 = t_randn(2, sh, RX_F64, 40), *y64 = NULL, *t64 = NULL;
        rx_generator *g = rx_generator_new(41);
        CHECK_OK(rx_rand(2, sh, RX_F64, rx_cpu(), g, &t64));
        CHECK_OK(rx_randn(2, sh, RX_F64, rx_cpu(), g, &y64));
        rx_generator_free(g);
        rx_tensor *x = t_cast(x64, dts[d]), *t = t_cast(t64, dts[d]), *y = t_cast(y64, dts[d]), *lb = NULL,
                  *lm = NULL;
        double *xv = t_values(x), *tv = t_values(t), *yv = t_values(y), rb = 0, rm = 0;
        for (int i = 0; i < 12; i++) {
            rb += (log(1 + exp(-xv[i])) * tv[i] + log(1 + exp(xv[i])) * (1 - tv[i])) /
                  12; /* -t log s - (1-t) log(1-s) */
            rm += (xv[i] - yv[i]) * (xv[i] - yv[i]) / 12;
        }
        CHECK_OK(rx_bce_with_logits(x, t, &lb));
        CHECK_OK(rx_mse(x, y, &lm));
        CHECK_CLOSE(item(lb), rb, tol[d]);
        CHECK_CLOSE(item(lm), rm, tol[d]);
        if (lb) CHECK(rx_tensor_ndim(lb) == 0 && rx_tensor_dtype(lb) == dts[d]);
        free(xv), free(tv), free(yv);
        t_release_all(8, (rx_tensor *[]){x64, t64, y64, x, t, y, lb, lm});
    }
    /* |x| = 1000 does not overflow */
    rx_tensor *x = t_from(1, (const int64_t[]){2}, RX_F32, (const double[]){1000, -1000});
    rx_tensor *t = t_from(1, (const int64_t[]){2}, RX_F32, (const double[]){0, 1}), *l = NULL;
    CHECK_OK(rx_bce_with_logits(x, t, &l));
    CHECK_CLOSE(item(l), 1000.0, 1e-6);
    rx_tensor *t3 = t_from(1, (const int64_t[]){3}, RX_F32, (const double[]){0, 1, 1}), *t64 = NULL,
              *bad = NULL;
    CHECK_OK(rx_to_dtype(t, RX_F64, &t64));
    CHECK_ERR(rx_bce_with_logits(x, t3, &bad), RX_ERR_SHAPE,
              "bce_with_logits: argument #2: expected shape (2), got (3)");
    CHECK_ERR(rx_mse(x, t64, &bad), RX_ERR_DTYPE, "mse: argument #1 is f32 but argument #2 is f64");
    CHECK_ERR(rx_mse(x, NULL, &bad), RX_ERR_ARG, "mse: argument #2: expected a tensor, got NULL");
    CHECK(bad == NULL);
    t_release_all(5, (rx_tensor *[]){x, t, l, t3, t64});
}

static rx_status gc_bce(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    return rx_bce_with_logits(in[0], in[1], out);
}
static rx_status gc_mse(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    return rx_mse(in[0], in[1], out);
}

static void test_pointwise_grad(void)
{
    rx_tensor *x = gc_leaf(2, (const int64_t[]){3, 4}, 50), *y = gc_leaf(2, (const int64_t[]){3, 4}, 51);
    gradcheck("bce_with_logits", gc_bce, 2, (rx_tensor *[]){x, y}, NULL, 1e-6, 1e-5);
    gradcheck("mse", gc_mse, 2, (rx_tensor *[]){x, y}, NULL, 1e-6, 1e-5);
    /* a non-contiguous prediction */
    rx_tensor *base = t_randn(2, (const int64_t[]){4, 3}, RX_F64, 52), *xt = NULL;
    CHECK_OK(rx_transpose(base, 0, 1, &xt));
    CHECK_OK(rx_set_requires_grad(xt, 1));
    gradcheck("mse non-contiguous", gc_mse, 2, (rx_tensor *[]){xt, y}, NULL, 1e-6, 1e-5);
    gradcheck("bce non-contiguous", gc_bce, 2, (rx_tensor *[]){xt, y}, NULL, 1e-6, 1e-5);
    t_release_all(4, (rx_tensor *[]){x, y, base, xt});
}

int main(void)
{
    RUN(test_cross_entropy_forward);
    RUN(test_cross_entropy_grad);
    RUN(test_cross_entropy_bf16_grad);
    RUN(test_cross_entropy_all_ignored);
    RUN(test_cross_entropy_deterministic);
    RUN(test_cross_entropy_errors);
    RUN(test_pointwise_losses);
    RUN(test_pointwise_grad);
    return check_finish();
}
