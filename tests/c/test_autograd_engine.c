/* test_autograd_engine.c — the autograd engine: graph building, backward, accumulation, the rules
 * around saved tensors and in-place writes, grad mode, detach, and graph lifetime.
 *
 * Gradients are compared with values computed here in double precision by hand (never by calling
 * the code under test). Lifetime checks count live tensor headers (rx_mem_get_stats): a graph
 * that is not freed keeps saved tensors and leaves alive and shows up there.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

static rx_tensor *leaf(int ndim, const int64_t *shape, const double *v)
{
    rx_tensor *t = t_from(ndim, shape, RX_F64, v);
    CHECK_OK(rx_set_requires_grad(t, 1));
    return t;
}

static int64_t live_tensors(void)
{
    rx_mem_stats st;
    rx_mem_get_stats(RX_CPU, &st);
    return st.live_tensors;
}

/* sum(y), a new reference. */
static rx_tensor *sum_all(rx_tensor *y)
{
    rx_tensor *s = NULL;
    CHECK_OK(rx_reduce(RX_SUM, y, 0, NULL, 0, &s));
    return s;
}

static const int64_t S4[] = {4};
static const double X4[] = {0.3, -1.2, 2.0, 0.7};

/* sin(x) and cos(x) both use x; y = sum(sin(x) * cos(x)) -> dy/dx = cos(2x). */
static void test_diamond_accumulates(void)
{
    rx_tensor *x = leaf(1, S4, X4), *a = NULL, *b = NULL, *p = NULL;
    CHECK_OK(rx_unary(RX_SIN, x, &a));
    CHECK_OK(rx_unary(RX_COS, x, &b));
    CHECK_OK(rx_binary(RX_MUL, a, b, &p));
    rx_tensor *y = sum_all(p);
    CHECK_OK(rx_backward(y, NULL, 0));
    double ref[4];
    for (int i = 0; i < 4; i++) ref[i] = cos(2 * X4[i]);
    CHECK_TENSOR(rx_grad(x), 1, S4, ref, 1e-14, 1e-14);
    rx_tensor_release(a);
    rx_tensor_release(b);
    rx_tensor_release(p);
    rx_tensor_release(y);

    /* x twice in one op, and a longer diamond: z = x * x + exp(x) * x -> 2x + exp(x)(1 + x) */
    rx_set_grad(x, NULL);
    rx_tensor *xx = NULL, *e = NULL, *ex = NULL, *z = NULL;
    CHECK_OK(rx_binary(RX_MUL, x, x, &xx));
    CHECK_OK(rx_unary(RX_EXP, x, &e));
    CHECK_OK(rx_binary(RX_MUL, e, x, &ex));
    CHECK_OK(rx_binary(RX_ADD, xx, ex, &z));
    y = sum_all(z);
    CHECK_OK(rx_backward(y, NULL, 0));
    for (int i = 0; i < 4; i++) ref[i] = 2 * X4[i] + exp(X4[i]) * (1 + X4[i]);
    CHECK_TENSOR(rx_grad(x), 1, S4, ref, 1e-14, 1e-14);
    rx_tensor_release(xx);
    rx_tensor_release(e);
    rx_tensor_release(ex);
    rx_tensor_release(z);
    rx_tensor_release(y);
    rx_tensor_release(x);
}

/* .grad accumulates over backward calls: fresh graphs, and one graph kept with retain_graph. */
static void test_grad_accumulates(void)
{
    rx_tensor *x = leaf(1, S4, X4);
    double ref[4];
    for (int round = 1; round <= 2; round++) {
        rx_tensor *sq = NULL;
        CHECK_OK(rx_unary(RX_SQUARE, x, &sq));
        rx_tensor *y = sum_all(sq);
        CHECK_OK(rx_backward(y, NULL, 0));
        for (int i = 0; i < 4; i++) ref[i] = round * 2 * X4[i];
        CHECK_TENSOR(rx_grad(x), 1, S4, ref, 1e-15, 1e-15);
        rx_tensor_release(sq);
        rx_tensor_release(y);
    }
    /* rx_grad is borrowed and stays valid across backward calls that add into it */
    rx_set_grad(x, NULL);
    rx_tensor *sq = NULL;
    CHECK_OK(rx_unary(RX_SQUARE, x, &sq));
    rx_tensor *y = sum_all(sq);
    CHECK_OK(rx_backward(y, NULL, 1));
    CHECK_OK(rx_backward(y, NULL, 1));
    CHECK_OK(rx_backward(y, NULL, 0));
    for (int i = 0; i < 4; i++) ref[i] = 3 * 2 * X4[i];
    CHECK_TENSOR(rx_grad(x), 1, S4, ref, 1e-15, 1e-15);
    rx_tensor_release(sq);
    rx_tensor_release(y);
    /* set_grad replaces the gradient; backward adds to it */
    rx_tensor *g0 = t_from(1, S4, RX_F64, (const double[]){1, 2, 3, 4});
    CHECK_OK(rx_set_grad(x, g0));
    CHECK_OK(rx_unary(RX_NEG, x, &sq));
    y = sum_all(sq);
    CHECK_OK(rx_backward(y, NULL, 0));
    CHECK_TENSOR(rx_grad(x), 1, S4, ((const double[]){0, 1, 2, 3}), 0, 0);
    /* ... without writing into the caller's tensor */
    CHECK_TENSOR(g0, 1, S4, ((const double[]){1, 2, 3, 4}), 0, 0);
    rx_tensor *bad = t_from(1, (const int64_t[]){3}, RX_F64, (const double[]){1, 2, 3});
    CHECK_ERR(rx_set_grad(x, bad), RX_ERR_SHAPE, "(3)");
    rx_tensor_release(bad);
    rx_tensor_release(g0);
    rx_tensor_release(sq);
    rx_tensor_release(y);
    rx_tensor_release(x);
}

static void test_backward_twice(void)
{
    rx_tensor *x = leaf(1, S4, X4), *e = NULL;
    CHECK_OK(rx_unary(RX_EXP, x, &e)); /* saves its output */
    rx_tensor *y = sum_all(e);
    CHECK_OK(rx_backward(y, NULL, 0));
    CHECK_ERR(rx_backward(y, NULL, 0), RX_ERR_ARG, "already run");
    CHECK(strstr(rx_last_error(), "ExpBackward") != NULL);
    CHECK(strstr(rx_last_error(), "retain_graph") != NULL);
    /* the failed call left the first gradient alone */
    double ref[4];
    for (int i = 0; i < 4; i++) ref[i] = exp(X4[i]);
    CHECK_TENSOR(rx_grad(x), 1, S4, ref, 1e-15, 1e-15);
    rx_tensor_release(y);
    rx_tensor_release(e);

    /* with retain_graph the second backward works (and accumulates) */
    rx_set_grad(x, NULL);
    CHECK_OK(rx_unary(RX_EXP, x, &e));
    y = sum_all(e);
    CHECK_OK(rx_backward(y, NULL, 1));
    CHECK_OK(rx_backward(y, NULL, 0));
    for (int i = 0; i < 4; i++) ref[i] = 2 * exp(X4[i]);
    CHECK_TENSOR(rx_grad(x), 1, S4, ref, 1e-15, 1e-15);
    rx_tensor_release(y);
    rx_tensor_release(e);
    rx_tensor_release(x);
}

static void test_saved_tensor_modified(void)
{
    /* the input saved by sin, modified in place under no_grad */
    rx_tensor *x = leaf(1, S4, X4), *s = NULL, *one = NULL;
    CHECK_OK(rx_unary(RX_SIN, x, &s));
    rx_tensor *y = sum_all(s);
    CHECK_OK(rx_full(1, S4, 1, RX_F64, rx_cpu(), &one));
    int prev = rx_set_grad_enabled(0);
    CHECK_OK(rx_binary_(RX_ADD, x, one));
    rx_set_grad_enabled(prev);
    CHECK_ERR(rx_backward(y, NULL, 0), RX_ERR_ARG, "modified in place");
    CHECK(strstr(rx_last_error(), "SinBackward") != NULL);
    CHECK(rx_grad(x) == NULL);
    rx_tensor_release(y);
    rx_tensor_release(s);

    /* the output saved by exp, overwritten through a detached alias */
    rx_tensor *e = NULL, *d = NULL;
    CHECK_OK(rx_unary(RX_EXP, x, &e));
    y = sum_all(e);
    CHECK_OK(rx_detach(e, &d));
    CHECK_OK(rx_fill_(d, 0)); /* d does not require grad: allowed, and bumps the shared version */
    CHECK_ERR(rx_backward(y, NULL, 0), RX_ERR_ARG, "modified in place");
    rx_tensor_release(d);
    rx_tensor_release(y);
    rx_tensor_release(e);

    /* a tensor that nothing saved may change: add saves nothing */
    rx_tensor *a = NULL;
    CHECK_OK(rx_binary(RX_ADD, x, one, &a));
    y = sum_all(a);
    prev = rx_set_grad_enabled(0);
    CHECK_OK(rx_fill_(x, 5));
    rx_set_grad_enabled(prev);
    CHECK_OK(rx_backward(y, NULL, 0));
    CHECK_TENSOR(rx_grad(x), 1, S4, ((const double[]){1, 1, 1, 1}), 0, 0);
    rx_tensor_release(y);
    rx_tensor_release(a);
    rx_tensor_release(one);
    rx_tensor_release(x);

    /* nodes keep only what their backward reads: in c * w and c @ w with only w requiring grad,
     * w may change afterwards (its gradient reads c), c may not */
    const int64_t s22[] = {2, 2};
    for (int mm = 0; mm <= 1; mm++) {
        rx_tensor *c = t_from(2, s22, RX_F64, (const double[]){1, 2, 3, 4});
        rx_tensor *w = leaf(2, s22, (const double[]){0.5, -1, 2, 0.25}), *p = NULL;
        CHECK_OK(mm ? rx_matmul(c, w, &p) : rx_binary(RX_MUL, c, w, &p));
        y = sum_all(p);
        prev = rx_set_grad_enabled(0);
        CHECK_OK(rx_fill_(w, 3));
        rx_set_grad_enabled(prev);
        CHECK_OK(rx_backward(y, NULL, 1));
        /* d sum(c w) / dw = c; d sum(c @ w) / dw[k][j] = sum_i c[i][k] */
        const double ref_mul[] = {1, 2, 3, 4}, ref_mm[] = {4, 4, 6, 6};
        CHECK_TENSOR(rx_grad(w), 2, s22, mm ? ref_mm : ref_mul, 0, 0);
        CHECK_OK(rx_fill_(c, 0));
        CHECK_ERR(rx_backward(y, NULL, 0), RX_ERR_ARG, "modified in place");
        rx_tensor_release(y);
        rx_tensor_release(p);
        rx_tensor_release(w);
        rx_tensor_release(c);
    }
}

/* A forward that fails records nothing and leaves nothing alive. */
static void test_forward_errors(void)
{
    int64_t start = live_tensors();
    rx_tensor *x = leaf(1, S4, X4), *b = leaf(1, (const int64_t[]){3}, X4), *y = (rx_tensor *)1;
    CHECK_ERR(rx_binary(RX_MUL, x, b, &y), RX_ERR_SHAPE, NULL);
    CHECK(y == NULL);
    y = (rx_tensor *)1;
    CHECK_ERR(rx_matmul(x, b, &y), RX_ERR_SHAPE, "argument #2");
    CHECK(y == NULL);
    rx_tensor *v = NULL, *ix = NULL;
    CHECK_ERR(rx_max_dim(x, 3, 0, &v, &ix), RX_ERR_ARG, "dim 3");
    CHECK(v == NULL && ix == NULL);
    CHECK_ERR(rx_sort(x, 1, 0, &v, &ix), RX_ERR_ARG, NULL);
    CHECK(v == NULL && ix == NULL);
    CHECK_ERR(rx_narrow(x, 0, 2, 3, &y), RX_ERR_ARG, "narrow");
    rx_tensor *parts[2] = {x, NULL};
    CHECK_ERR(rx_cat(2, parts, 0, &y), RX_ERR_ARG, "argument #2");
    CHECK(rx_grad(x) == NULL && rx_is_leaf(x));
    rx_tensor_release(x);
    rx_tensor_release(b);
    CHECK(live_tensors() == start);
}

static void test_inplace_on_grad_tensor(void)
{
    rx_tensor *x = leaf(1, S4, X4), *one = NULL, *v = NULL;
    CHECK_OK(rx_full(1, S4, 1, RX_F64, rx_cpu(), &one));
    CHECK_ERR(rx_fill_(x, 0), RX_ERR_ARG, "requires grad");
    CHECK_ERR(rx_copy_(x, one), RX_ERR_ARG, "requires grad");
    CHECK_ERR(rx_binary_(RX_MUL, x, one), RX_ERR_ARG, "requires grad");
    /* a view of x is part of the graph: the same rule */
    CHECK_OK(rx_narrow(x, 0, 1, 2, &v));
    CHECK(rx_requires_grad(v) && !rx_is_leaf(v));
    CHECK_ERR(rx_fill_(v, 0), RX_ERR_ARG, "requires grad");
    CHECK_TENSOR(x, 1, S4, X4, 0, 0); /* nothing was written */
    /* under no_grad it is allowed */
    int prev = rx_set_grad_enabled(0);
    CHECK_OK(rx_fill_(v, 9));
    rx_set_grad_enabled(prev);
    CHECK_TENSOR(x, 1, S4, ((const double[]){X4[0], 9, 9, X4[3]}), 0, 0);
    /* writing a tensor without grad from one with grad is fine */
    CHECK_OK(rx_copy_(one, x));
    rx_tensor_release(v);
    rx_tensor_release(one);
    rx_tensor_release(x);
}

static void test_backward_arguments(void)
{
    const int64_t s23[] = {2, 3};
    const double v6[] = {1, 2, 3, 4, 5, 6};
    rx_tensor *x = leaf(2, s23, v6), *y = NULL;
    CHECK_OK(rx_binary_scalar(RX_MUL, x, 3, 0, &y));
    CHECK_ERR(rx_backward(y, NULL, 0), RX_ERR_SHAPE, "(2, 3)");
    /* an explicit gradient */
    const double gv[] = {1, -1, 0.5, 2, 0, -3};
    rx_tensor *g = t_from(2, s23, RX_F64, gv);
    CHECK_OK(rx_backward(y, g, 0));
    double ref[6];
    for (int i = 0; i < 6; i++) ref[i] = 3 * gv[i];
    CHECK_TENSOR(rx_grad(x), 2, s23, ref, 0, 0);
    CHECK_TENSOR(g, 2, s23, gv, 0, 0); /* the caller's gradient is not modified */
    rx_tensor_release(g);
    /* a gradient of the wrong shape or dtype */
    g = t_from(1, (const int64_t[]){6}, RX_F64, gv);
    CHECK_ERR(rx_backward(y, g, 0), RX_ERR_SHAPE, "(6)");
    rx_tensor_release(g);
    g = t_from(2, s23, RX_F32, gv);
    CHECK_ERR(rx_backward(y, g, 0), RX_ERR_DTYPE, "f32");
    rx_tensor_release(g);
    rx_tensor_release(y);
    /* a root that does not require grad */
    rx_tensor *c = t_from(2, s23, RX_F64, v6);
    CHECK_ERR(rx_backward(c, NULL, 0), RX_ERR_ARG, "does not require grad");
    CHECK_ERR(rx_backward(NULL, NULL, 0), RX_ERR_ARG, "argument #1");
    rx_tensor_release(c);
    /* a leaf as the root: d x / d x = 1 */
    rx_tensor *s = leaf(0, NULL, (const double[]){2.5});
    CHECK_OK(rx_backward(s, NULL, 0));
    CHECK_TENSOR(rx_grad(s), 0, NULL, ((const double[]){1}), 0, 0);
    rx_tensor_release(s);
    rx_tensor_release(x);
}

static void test_grad_mode_and_detach(void)
{
    rx_tensor *x = leaf(1, S4, X4), *y = NULL;
    CHECK(rx_grad_enabled());
    int prev = rx_set_grad_enabled(0);
    CHECK(prev == 1 && !rx_grad_enabled());
    CHECK_OK(rx_unary(RX_EXP, x, &y));
    CHECK(rx_grad_fn_name(y) == NULL && !rx_requires_grad(y) && rx_is_leaf(y));
    rx_tensor_release(y);
    rx_tensor *z = NULL;
    CHECK_OK(rx_matmul(x, x, &z));
    CHECK(rx_grad_fn_name(z) == NULL && !rx_requires_grad(z));
    rx_tensor_release(z);
    CHECK(rx_set_grad_enabled(prev) == 0);
    CHECK(rx_grad_enabled());

    /* detach cuts the graph: y = detach(2x) * x -> dy/dx = 2x, not 4x */
    rx_tensor *two = NULL, *d = NULL, *p = NULL;
    CHECK_OK(rx_binary_scalar(RX_MUL, x, 2, 0, &two));
    CHECK_OK(rx_detach(two, &d));
    CHECK(!rx_requires_grad(d) && rx_is_leaf(d) && rx_grad_fn_name(d) == NULL);
    CHECK(rx_tensor_shares_storage(d, two));
    CHECK_OK(rx_binary(RX_MUL, d, x, &p));
    rx_tensor *s = NULL;
    CHECK_OK(rx_reduce(RX_SUM, p, 0, NULL, 0, &s));
    CHECK_OK(rx_backward(s, NULL, 0));
    double ref[4];
    for (int i = 0; i < 4; i++) ref[i] = 2 * X4[i];
    CHECK_TENSOR(rx_grad(x), 1, S4, ref, 0, 0);
    /* requires_grad on a non-leaf is an error; on the detached tensor it makes a new leaf */
    CHECK_ERR(rx_set_requires_grad(two, 1), RX_ERR_ARG, "not a leaf");
    CHECK_OK(rx_set_requires_grad(d, 1));
    CHECK(rx_requires_grad(d) && rx_is_leaf(d));
    rx_tensor_release(s);
    rx_tensor_release(p);
    rx_tensor_release(d);
    rx_tensor_release(two);
    rx_tensor_release(x);
}

static void test_grad_fn_names(void)
{
    rx_tensor *x = leaf(2, (const int64_t[]){2, 2}, (const double[]){1, 2, 3, 4}), *y = NULL;
    CHECK(rx_grad_fn_name(x) == NULL && rx_is_leaf(x));
    CHECK_OK(rx_matmul(x, x, &y));
    CHECK(rx_grad_fn_name(y) && strcmp(rx_grad_fn_name(y), "MatmulBackward") == 0);
    CHECK(!rx_is_leaf(y) && rx_requires_grad(y));
    rx_tensor_release(y);
    CHECK_OK(rx_binary(RX_MUL, x, x, &y));
    CHECK(strcmp(rx_grad_fn_name(y), "MulBackward") == 0);
    rx_tensor_release(y);
    CHECK_OK(rx_reduce(RX_SUM, x, 0, NULL, 0, &y));
    CHECK(strcmp(rx_grad_fn_name(y), "SumBackward") == 0);
    rx_tensor_release(y);
    CHECK_OK(rx_transpose(x, 0, 1, &y));
    CHECK(strcmp(rx_grad_fn_name(y), "TransposeBackward") == 0);
    rx_tensor_release(y);
    CHECK_OK(rx_softmax(x, -1, &y));
    CHECK(strcmp(rx_grad_fn_name(y), "SoftmaxBackward") == 0);
    rx_tensor_release(y);
    CHECK_OK(rx_binary_scalar(RX_SUB, x, 1, 1, &y));
    CHECK(strcmp(rx_grad_fn_name(y), "SubScalarBackward") == 0);
    rx_tensor_release(y);
    rx_tensor *parts[2] = {x, x};
    CHECK_OK(rx_cat(2, parts, 0, &y));
    CHECK(strcmp(rx_grad_fn_name(y), "CatBackward") == 0);
    rx_tensor_release(y);
    rx_tensor_release(x);
}

/* Releasing the last reference to a loss frees its whole graph, with and without backward. */
static void test_graph_freed(void)
{
    int64_t start = live_tensors();
    for (int with_backward = 0; with_backward <= 1; with_backward++) {
        rx_tensor *w = leaf(2, (const int64_t[]){3, 3}, (const double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
        rx_tensor *x = t_randn(2, (const int64_t[]){2, 3}, RX_F64, 7);
        rx_tensor *h = NULL, *a = NULL, *sm = NULL, *loss = NULL;
        CHECK_OK(rx_matmul(x, w, &h));
        CHECK_OK(rx_unary(RX_TANH, h, &a));
        CHECK_OK(rx_log_softmax(a, -1, &sm));
        CHECK_OK(rx_reduce(RX_MEAN, sm, 0, NULL, 0, &loss));
        rx_tensor_release(h);
        rx_tensor_release(a);
        rx_tensor_release(sm);
        rx_tensor_release(x);
        CHECK(live_tensors() > start + 2); /* the graph holds saved tensors */
        if (with_backward) {
            CHECK_OK(rx_backward(loss, NULL, 0));
            CHECK(rx_grad(w) != NULL);
        }
        rx_tensor_release(loss);
        /* only w (and its gradient) remain */
        CHECK(live_tensors() == start + 1 + with_backward);
        rx_tensor_release(w);
        CHECK(live_tensors() == start);
    }
    /* a graph kept by retain_graph is freed with its root too */
    rx_tensor *w = leaf(1, S4, X4), *e = NULL, *loss = NULL;
    CHECK_OK(rx_unary(RX_EXP, w, &e));
    CHECK_OK(rx_reduce(RX_SUM, e, 0, NULL, 0, &loss));
    CHECK_OK(rx_backward(loss, NULL, 1));
    rx_tensor_release(loss);
    rx_tensor_release(e);
    rx_tensor_release(w);
    CHECK(live_tensors() == start);
}

/* A 10,000-node chain: backward and release without recursion. */
static void test_long_chain(void)
{
    int64_t start = live_tensors();
    const int n = 10000;
    rx_tensor *x = leaf(0, NULL, (const double[]){0.5}), *y = rx_tensor_retain(x);
    double v = 0.5, dv = 1; /* the chain's value and derivative, in double */
    for (int i = 0; i < n; i++) {
        rx_tensor *next = NULL;
        if (i % 2 == 0) {
            CHECK_OK(rx_binary_scalar(RX_MUL, y, 1.0001, 0, &next));
            v *= 1.0001;
            dv *= 1.0001;
        } else {
            CHECK_OK(rx_unary(RX_SIN, y, &next)); /* saves its input */
            dv *= cos(v);
            v = sin(v);
        }
        rx_tensor_release(y);
        y = next;
    }
    CHECK_OK(rx_backward(y, NULL, 1));
    CHECK_TENSOR(rx_grad(x), 0, NULL, &dv, 1e-12, 1e-9);
    rx_tensor_release(y); /* frees 10,000 nodes */
    rx_tensor_release(x);
    CHECK(live_tensors() == start);

    /* released without any backward */
    x = leaf(0, NULL, (const double[]){0.5});
    y = rx_tensor_retain(x);
    for (int i = 0; i < n; i++) {
        rx_tensor *next = NULL;
        CHECK_OK(rx_unary(RX_TANH, y, &next));
        rx_tensor_release(y);
        y = next;
    }
    rx_tensor_release(y);
    rx_tensor_release(x);
    CHECK(live_tensors() == start);
}

static void test_requires_grad_rules(void)
{
    rx_tensor *i = NULL;
    CHECK_OK(rx_zeros(1, S4, RX_I64, rx_cpu(), &i));
    CHECK_ERR(rx_set_requires_grad(i, 1), RX_ERR_DTYPE, "i64");
    CHECK(!rx_requires_grad(i));
    CHECK_OK(rx_set_requires_grad(i, 0));
    rx_tensor_release(i);
    CHECK_ERR(rx_set_requires_grad(NULL, 1), RX_ERR_ARG, "argument #1");
    /* f32, f16 and bf16 leaves are fine; turning it off makes a plain tensor again */
    const rx_dtype f[] = {RX_F32, RX_F16, RX_BF16};
    for (int k = 0; k < 3; k++) {
        rx_tensor *t = NULL, *y = NULL;
        CHECK_OK(rx_ones(1, S4, f[k], rx_cpu(), &t));
        CHECK_OK(rx_set_requires_grad(t, 1));
        CHECK(rx_requires_grad(t) && rx_is_leaf(t));
        CHECK_OK(rx_set_requires_grad(t, 0));
        CHECK_OK(rx_unary(RX_EXP, t, &y));
        CHECK(!rx_requires_grad(y));
        rx_tensor_release(y);
        rx_tensor_release(t);
    }
}

int main(void)
{
    RUN(test_diamond_accumulates);
    RUN(test_grad_accumulates);
    RUN(test_backward_twice);
    RUN(test_saved_tensor_modified);
    RUN(test_inplace_on_grad_tensor);
    RUN(test_forward_errors);
    RUN(test_backward_arguments);
    RUN(test_grad_mode_and_detach);
    RUN(test_grad_fn_names);
    RUN(test_graph_freed);
    RUN(test_long_chain);
    RUN(test_requires_grad_rules);
    return check_finish();
}
