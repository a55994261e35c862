/* test_grad_core.c — finite-difference gradient checks of every differentiable op of the core.
 *
 * Each gradcheck (tests/c/gradcheck.h) compares the gradient that rx_backward computes for f64 leaf
 * inputs with central differences of the op's forward, element by element. Covered: every view,
 * copy, unary and binary op (tensor-tensor and scalar, both orders), clamp, where, masked_fill,
 * every differentiable reduction (with keepdim and negative dims), max/min_dim, cumsum, softmax,
 * log_softmax, sort, topk, matmul in all torch.matmul cases, index_select and gather with
 * duplicate indices, scatter_add, cat and stack; broadcasting on both sides of binary ops and
 * non-contiguous (transposed, narrowed) leaves. Inputs stay away from kinks; the values at kinks
 * and ties (relu/abs at 0, maximum ties, max ties, clamp bounds, prod with zeros, pow at 0) are
 * checked against hand-computed gradients. 0-d leaves and empty tensors are covered. Non-float
 * outputs never require grad; f32, f16 and bf16 inputs get gradients of their own dtype, close to
 * the f64 gradient of the same values (a hand-derived formula, and one graph through most ops run
 * in both dtypes).
 */
#include "gradcheck.h"

#include <stdlib.h>
#include <string.h>

#define MAXD 8 /* dims a tensor may have */
#define ATOL 1e-6
#define RTOL 1e-5

/* ---- inputs ----------------------------------------------------------------------------------- */

/* A contiguous f64 tensor (no grad) with values spread over [lo, hi] (deterministic for a seed). */
static rx_tensor *values_in(int ndim, const int64_t *shape, uint64_t seed, double lo, double hi)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (int64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = lo + (hi - lo) * (double)(x >> 11) / 9007199254740992.0;
    }
    rx_tensor *t = t_from(ndim, shape, RX_F64, v);
    free(v);
    return t;
}

static rx_tensor *leaf_in(int ndim, const int64_t *shape, uint64_t seed, double lo, double hi)
{
    rx_tensor *t = values_in(ndim, shape, seed, lo, hi);
    CHECK_OK(rx_set_requires_grad(t, 1));
    return t;
}

/* A leaf from explicit values. */
static rx_tensor *leaf_of(int ndim, const int64_t *shape, const double *v)
{
    rx_tensor *t = t_from(ndim, shape, RX_F64, v);
    CHECK_OK(rx_set_requires_grad(t, 1));
    return t;
}

/* A non-contiguous leaf of `shape` (ndim >= 2), values in [lo, hi]: the transpose of dims 0 and
 * ndim-1 of a base that does not require grad. */
static rx_tensor *leaf_transposed_in(int ndim, const int64_t *shape, uint64_t seed, double lo, double hi)
{
    int64_t bs[MAXD];
    memcpy(bs, shape, sizeof(int64_t) * (size_t)ndim);
    bs[0] = shape[ndim - 1];
    bs[ndim - 1] = shape[0];
    rx_tensor *base = values_in(ndim, bs, seed, lo, hi), *v = NULL;
    CHECK_OK(rx_transpose(base, 0, ndim - 1, &v));
    rx_tensor_release(base);
    CHECK(!rx_tensor_is_contiguous(v));
    CHECK_OK(rx_set_requires_grad(v, 1));
    return v;
}

static rx_tensor *leaf_transposed(int ndim, const int64_t *shape, uint64_t seed)
{
    return leaf_transposed_in(ndim, shape, seed, -1, 1);
}

/* A non-contiguous leaf of `shape`: columns 1 .. of a base wider by 3 in the last dim. */
static rx_tensor *leaf_narrowed(int ndim, const int64_t *shape, uint64_t seed)
{
    int64_t bs[MAXD];
    memcpy(bs, shape, sizeof(int64_t) * (size_t)ndim);
    bs[ndim - 1] += 3;
    rx_tensor *base = values_in(ndim, bs, seed, -1, 1), *v = NULL;
    CHECK_OK(rx_narrow(base, -1, 1, shape[ndim - 1], &v));
    rx_tensor_release(base);
    CHECK(!rx_tensor_is_contiguous(v));
    CHECK_OK(rx_set_requires_grad(v, 1));
    return v;
}

static rx_tensor *index_of(int n, const int64_t *v)
{
    rx_tensor *t = NULL;
    CHECK_OK(rx_from_buffer(1, (const int64_t[]){n}, RX_I64, v, &t));
    return t;
}

/* Runs a gradcheck over n inputs and releases them. */
static void gc_run(const char *name, gc_fn fn, void *ctx, int n, rx_tensor **inputs)
{
    gradcheck(name, fn, n, inputs, ctx, ATOL, RTOL);
    for (int i = 0; i < n; i++) rx_tensor_release(inputs[i]);
}
#define GC(name, fn, ctx, ...)                                                      \
    do {                                                                            \
        rx_tensor *gc_in_[] = {__VA_ARGS__};                                        \
        gc_run(name, fn, ctx, (int)(sizeof gc_in_ / sizeof gc_in_[0]), gc_in_);     \
    } while (0)

/* backward of sum(y) (y released). */
static void backward_sum(rx_tensor *y)
{
    rx_tensor *s = NULL;
    CHECK_OK(rx_reduce(RX_SUM, y, 0, NULL, 0, &s));
    if (s) CHECK_OK(rx_backward(s, NULL, 0));
    rx_tensor_release(s);
    rx_tensor_release(y);
}

/* ---- the ops under test, as gc_fn ------------------------------------------------------------- */

typedef struct ctx {
    int op;
    double s, lo, hi;
    int first, dim, dim2, keepdim, k, ndims;
    int dims[MAXD];
    int ndim;
    int64_t shape[MAXD];
    rx_tensor *aux; /* an index, mask or condition */
} ctx;

static rx_status f_view(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_view(in[0], x->ndim, x->shape, out);
}

static rx_status f_reshape(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_reshape(in[0], x->ndim, x->shape, out);
}

static rx_status f_narrow(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_narrow(in[0], x->dim, x->k, x->dim2, out);
}

static rx_status f_select(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_select(in[0], x->dim, x->k, out);
}

static rx_status f_transpose(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_transpose(in[0], x->dim, x->dim2, out);
}

static rx_status f_permute(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_permute(in[0], x->ndims, x->dims, out);
}

static rx_status f_expand(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_expand(in[0], x->ndim, x->shape, out);
}

static rx_status f_squeeze(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_squeeze(in[0], x->dim, out);
}

static rx_status f_squeeze_all(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_squeeze_all(in[0], out); }

static rx_status f_unsqueeze(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_unsqueeze(in[0], x->dim, out);
}

/* A view followed by a unary op, so the view's gradient meets a non-trivial one downstream. */
static rx_status f_transpose_exp(rx_tensor *const *in, void *c, rx_tensor **out)
{
    rx_tensor *t = NULL;
    rx_status s = rx_transpose(in[0], 0, 1, &t);
    if (s == RX_OK) s = rx_unary(RX_EXP, t, out);
    rx_tensor_release(t);
    return s;
}

static rx_status f_contiguous(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_contiguous(in[0], out); }
static rx_status f_clone(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_clone(in[0], out); }

static rx_status f_unary(rx_tensor *const *in, void *c, rx_tensor **out)
{
    return rx_unary((rx_unary_op)((ctx *)c)->op, in[0], out);
}

static rx_status f_binary(rx_tensor *const *in, void *c, rx_tensor **out)
{
    return rx_binary((rx_binary_op)((ctx *)c)->op, in[0], in[1], out);
}

static rx_status f_scalar(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_binary_scalar((rx_binary_op)x->op, in[0], x->s, x->first, out);
}

static rx_status f_clamp(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_clamp(in[0], x->lo, x->hi, out);
}

static rx_status f_where(rx_tensor *const *in, void *c, rx_tensor **out)
{
    return rx_where(((ctx *)c)->aux, in[0], in[1], out);
}

static rx_status f_masked_fill(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_masked_fill(in[0], x->aux, x->s, out);
}

static rx_status f_reduce(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_reduce((rx_reduce_op)x->op, in[0], x->ndims, x->dims, x->keepdim, out);
}

static rx_status f_max_dim(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    rx_tensor *ix = NULL;
    rx_status s = x->op == RX_MAX ? rx_max_dim(in[0], x->dim, x->keepdim, out, &ix)
                                  : rx_min_dim(in[0], x->dim, x->keepdim, out, &ix);
    if (ix) CHECK(!rx_requires_grad(ix) && rx_tensor_dtype(ix) == RX_I64);
    rx_tensor_release(ix);
    return s;
}

static rx_status f_cumsum(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_cumsum(in[0], ((ctx *)c)->dim, out); }
static rx_status f_softmax(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_softmax(in[0], ((ctx *)c)->dim, out); }
static rx_status f_log_softmax(rx_tensor *const *in, void *c, rx_tensor **out)
{
    return rx_log_softmax(in[0], ((ctx *)c)->dim, out);
}

static rx_status f_sort(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_sort(in[0], x->dim, x->first, out, NULL); /* first: descending */
}

static rx_status f_topk(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    rx_tensor *ix = NULL;
    rx_status s = rx_topk(in[0], x->k, x->dim, x->first, out, &ix); /* first: largest */
    if (ix) CHECK(!rx_requires_grad(ix));
    rx_tensor_release(ix);
    return s;
}

static rx_status f_matmul(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_matmul(in[0], in[1], out); }

static rx_status f_index_select(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_index_select(in[0], x->dim, x->aux, out);
}

static rx_status f_gather(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_gather(in[0], x->dim, x->aux, out);
}

static rx_status f_scatter_add(rx_tensor *const *in, void *c, rx_tensor **out)
{
    ctx *x = c;
    return rx_scatter_add(in[0], x->dim, x->aux, in[1], out);
}

static rx_status f_cat3(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_cat(3, in, ((ctx *)c)->dim, out); }
static rx_status f_stack3(rx_tensor *const *in, void *c, rx_tensor **out) { return rx_stack(3, in, ((ctx *)c)->dim, out); }

/* ---- views and copies ------------------------------------------------------------------------- */

static void test_views(void)
{
    const int64_t s234[] = {2, 3, 4};
    ctx c = {.ndim = 2, .shape = {6, 4}};
    GC("view", f_view, &c, leaf_in(3, s234, 1, -1, 1));
    c = (ctx){.ndim = 3, .shape = {4, -1, 2}};
    GC("view -1", f_view, &c, leaf_in(3, s234, 2, -1, 1));
    /* reshape of a transposed leaf copies: its gradient must still land in the right elements */
    c = (ctx){.ndim = 1, .shape = {-1}};
    GC("reshape (copy)", f_reshape, &c, leaf_transposed(3, s234, 3));
    c = (ctx){.ndim = 2, .shape = {3, 8}};
    GC("reshape (view)", f_reshape, &c, leaf_in(3, s234, 4, -1, 1));
    c = (ctx){.dim = -1, .k = 1, .dim2 = 2};
    GC("narrow last", f_narrow, &c, leaf_in(3, s234, 5, -1, 1));
    c = (ctx){.dim = 0, .k = 1, .dim2 = 1};
    GC("narrow non-contiguous", f_narrow, &c, leaf_transposed(3, s234, 6));
    c = (ctx){.dim = 1, .k = -1};
    GC("select negative index", f_select, &c, leaf_in(3, s234, 7, -1, 1));
    c = (ctx){.dim = -3, .k = 0};
    GC("select negative dim", f_select, &c, leaf_narrowed(3, s234, 8));
    c = (ctx){.dim = 0, .dim2 = 2};
    GC("transpose", f_transpose, &c, leaf_in(3, s234, 9, -1, 1));
    GC("transpose then exp", f_transpose_exp, NULL, leaf_in(2, (const int64_t[]){3, 4}, 10, -1, 1));
    c = (ctx){.ndims = 3, .dims = {2, 0, 1}};
    GC("permute", f_permute, &c, leaf_in(3, s234, 11, -1, 1));
    c = (ctx){.ndims = 3, .dims = {-1, -3, -2}};
    GC("permute negative dims, narrowed leaf", f_permute, &c, leaf_narrowed(3, s234, 12));
    c = (ctx){.ndim = 3, .shape = {2, 3, 4}};
    GC("expand (3,1) -> (2,3,4)", f_expand, &c, leaf_in(2, (const int64_t[]){3, 1}, 13, -1, 1));
    c = (ctx){.ndim = 2, .shape = {5, -1}};
    GC("expand (1) -> (5,1) with -1", f_expand, &c, leaf_in(1, (const int64_t[]){1}, 14, -1, 1));
    c = (ctx){.dim = 1};
    GC("squeeze", f_squeeze, &c, leaf_in(3, (const int64_t[]){2, 1, 3}, 15, -1, 1));
    c = (ctx){.dim = 0};
    GC("squeeze no-op", f_squeeze, &c, leaf_in(3, (const int64_t[]){2, 1, 3}, 16, -1, 1));
    GC("squeeze_all", f_squeeze_all, NULL, leaf_in(4, (const int64_t[]){1, 2, 1, 3}, 17, -1, 1));
    c = (ctx){.dim = -1};
    GC("unsqueeze -1", f_unsqueeze, &c, leaf_in(2, (const int64_t[]){2, 3}, 18, -1, 1));
}

static void test_copies(void)
{
    const int64_t s[] = {3, 4};
    GC("contiguous of a transposed leaf", f_contiguous, NULL, leaf_transposed(2, s, 20));
    GC("clone", f_clone, NULL, leaf_in(2, s, 21, -1, 1));
    GC("clone of a narrowed leaf", f_clone, NULL, leaf_narrowed(2, s, 22));

    /* contiguous/to of a tensor that needs no copy is the tensor itself: nothing recorded */
    rx_tensor *x = leaf_in(2, s, 23, -1, 1), *y = NULL;
    CHECK_OK(rx_contiguous(x, &y));
    CHECK(y == x && rx_is_leaf(y));
    rx_tensor_release(y);
    CHECK_OK(rx_to_dtype(x, RX_F64, &y));
    CHECK(y == x && rx_is_leaf(y));
    rx_tensor_release(y);
    CHECK_OK(rx_to_device(x, rx_cpu(), &y));
    CHECK(y == x && rx_is_leaf(y));
    rx_tensor_release(y);

    /* f64 -> f32: the gradient comes back as f64 with the f32 gradient's values */
    CHECK_OK(rx_to_dtype(x, RX_F32, &y));
    CHECK(rx_grad_fn_name(y) && strcmp(rx_grad_fn_name(y), "ToDtypeBackward") == 0);
    double gv[12];
    for (int i = 0; i < 12; i++) gv[i] = 0.25 * (i - 5);
    rx_tensor *g = t_from(2, s, RX_F32, gv);
    CHECK_OK(rx_backward(y, g, 0));
    CHECK_TENSOR(rx_grad(x), 2, s, gv, 0, 0);
    CHECK(rx_tensor_dtype(rx_grad(x)) == RX_F64);
    rx_tensor_release(g);
    rx_tensor_release(y);

    /* to an integer dtype: not differentiable */
    CHECK_OK(rx_to_dtype(x, RX_I64, &y));
    CHECK(!rx_requires_grad(y) && rx_grad_fn_name(y) == NULL);
    rx_tensor_release(y);
    rx_tensor_release(x);
}

/* ---- elementwise ----------------------------------------------------------------------------- */

static void test_unary(void)
{
    const int64_t s[] = {3, 4};
    struct {
        rx_unary_op op;
        double lo, hi;
    } cases[] = {
        {RX_NEG, -2, 2},      {RX_ABS, 0.1, 2},       {RX_EXP, -2, 2},        {RX_LOG, 0.3, 3},
        {RX_SQRT, 0.3, 3},    {RX_RSQRT, 0.3, 3},     {RX_SIN, -3, 3},        {RX_COS, -3, 3},
        {RX_TANH, -2, 2},     {RX_SIGMOID, -4, 4},    {RX_RELU, 0.05, 2},     {RX_SILU, -4, 4},
        {RX_GELU, -4, 4},     {RX_GELU_TANH, -4, 4},  {RX_RECIPROCAL, 0.3, 3}, {RX_SQUARE, -2, 2},
        {RX_LOG1P, -0.7, 3},  {RX_EXPM1, -2, 2},      {RX_FLOOR, 0.1, 0.9},   {RX_CEIL, 0.1, 0.9},
        {RX_ROUND, 0.1, 0.4}, {RX_SIGN, 0.1, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctx c = {.op = cases[i].op};
        char name[64];
        snprintf(name, sizeof name, "%s", rx_unary_op_name(cases[i].op));
        GC(name, f_unary, &c, leaf_in(2, s, 30 + i, cases[i].lo, cases[i].hi));
        /* the mirrored range too where the op is defined there (abs, relu, sign: the other side of 0) */
        if (cases[i].lo > 0 && cases[i].op != RX_LOG && cases[i].op != RX_SQRT && cases[i].op != RX_RSQRT) {
            snprintf(name, sizeof name, "%s negative", rx_unary_op_name(cases[i].op));
            GC(name, f_unary, &c, leaf_in(2, s, 60 + i, -cases[i].hi, -cases[i].lo));
        }
    }
    ctx c = {.op = RX_TANH};
    GC("tanh of a transposed leaf", f_unary, &c, leaf_transposed(2, s, 90));
    c.op = RX_GELU;
    GC("gelu of a narrowed leaf", f_unary, &c, leaf_narrowed(2, s, 91));
    c.op = RX_GELU;
    GC("gelu near 0", f_unary, &c, leaf_in(1, (const int64_t[]){6}, 92, -1e-3, 1e-3));
}

/* Gradients at kinks, compared with hand-computed values (finite differences are not defined). */
static void test_unary_kinks(void)
{
    const int64_t s[] = {4};
    const double v[] = {0, -1.5, 2, 0};
    struct {
        rx_unary_op op;
        double g[4];
    } cases[] = {
        {RX_RELU, {0, 0, 1, 0}},      /* relu'(0) = 0 */
        {RX_ABS, {0, -1, 1, 0}},      /* abs'(0) = 0 */
        {RX_SIGN, {0, 0, 0, 0}},      {RX_FLOOR, {0, 0, 0, 0}}, {RX_CEIL, {0, 0, 0, 0}},
        {RX_ROUND, {0, 0, 0, 0}},
        {RX_GELU, {0.5, -0.1, 1.0852318406465532, 0.5}}, /* Phi(x) + x phi(x) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rx_tensor *x = leaf_of(1, s, v), *y = NULL;
        CHECK_OK(rx_unary(cases[i].op, x, &y));
        CHECK(rx_requires_grad(y));
        if (cases[i].op == RX_GELU) { /* Phi(-1.5) - 1.5 phi(-1.5) */
            cases[i].g[1] = 0.5 * (1 + erf(-1.5 / sqrt(2))) - 1.5 * exp(-1.125) / sqrt(2 * M_PI);
            cases[i].g[2] = 0.5 * (1 + erf(2 / sqrt(2))) + 2 * exp(-2) / sqrt(2 * M_PI);
        }
        backward_sum(y);
        CHECK_TENSOR(rx_grad(x), 1, s, cases[i].g, 1e-12, 1e-12);
        rx_tensor_release(x);
    }
    /* logical_not gives bool: never recorded */
    rx_tensor *x = leaf_of(1, s, v), *y = NULL;
    CHECK_OK(rx_unary(RX_LOGICAL_NOT, x, &y));
    CHECK(!rx_requires_grad(y) && rx_grad_fn_name(y) == NULL);
    rx_tensor_release(y);
    rx_tensor_release(x);
}

static void test_binary(void)
{
    const int64_t s31[] = {3, 1}, s14[] = {1, 4}, s234[] = {2, 3, 4}, s4[] = {4}, s34[] = {3, 4};
    struct {
        rx_binary_op op;
        double alo, ahi, blo, bhi;
    } cases[] = {
        {RX_ADD, -2, 2, -2, 2},         {RX_SUB, -2, 2, -2, 2},     {RX_MUL, -2, 2, -2, 2},
        {RX_DIV, -2, 2, 0.5, 2},        {RX_POW, 0.3, 3, -2, 2},    {RX_MAXIMUM, -2, 2, -2, 2},
        {RX_MINIMUM, -2, 2, -2, 2},     {RX_REMAINDER, -3, 3, 0.7, 1.3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctx c = {.op = cases[i].op};
        const char *op = rx_binary_op_name(cases[i].op);
        char name[96];
        snprintf(name, sizeof name, "%s same shape", op);
        GC(name, f_binary, &c, leaf_in(2, s34, 100 + i, cases[i].alo, cases[i].ahi),
           leaf_in(2, s34, 110 + i, cases[i].blo, cases[i].bhi));
        snprintf(name, sizeof name, "%s (3,1) with (1,4)", op);
        GC(name, f_binary, &c, leaf_in(2, s31, 120 + i, cases[i].alo, cases[i].ahi),
           leaf_in(2, s14, 130 + i, cases[i].blo, cases[i].bhi));
        snprintf(name, sizeof name, "%s (2,3,4) with (4)", op);
        GC(name, f_binary, &c, leaf_in(3, s234, 140 + i, cases[i].alo, cases[i].ahi),
           leaf_in(1, s4, 150 + i, cases[i].blo, cases[i].bhi));
        snprintf(name, sizeof name, "%s (4) with (2,3,4)", op);
        GC(name, f_binary, &c, leaf_in(1, s4, 160 + i, cases[i].alo, cases[i].ahi),
           leaf_in(3, s234, 170 + i, cases[i].blo, cases[i].bhi));
    }
    /* non-contiguous operands on both sides, and one side without grad */
    ctx c = {.op = RX_MUL};
    GC("mul transposed with narrowed", f_binary, &c, leaf_transposed(2, s34, 180), leaf_narrowed(2, s34, 181));
    c.op = RX_DIV;
    rx_tensor *fixed = t_from(2, s14, RX_F64, (const double[]){1.5, -2, 0.75, 3});
    GC("div by a tensor without grad", f_binary, &c, leaf_in(2, s31, 182, -1, 1), fixed);
    c.op = RX_POW;
    fixed = t_from(2, s14, RX_F64, (const double[]){1.5, 2, 0.75, 3});
    GC("pow of a constant base", f_binary, &c, fixed, leaf_in(2, s31, 183, -1, 1));
    /* comparisons and logical ops give bool: never recorded */
    rx_tensor *a = leaf_in(2, s34, 184, -1, 1), *b = leaf_in(2, s34, 185, -1, 1), *y = NULL;
    for (rx_binary_op op = RX_EQ; op <= RX_LOGICAL_OR; op++) {
        CHECK_OK(rx_binary(op, a, b, &y));
        CHECK(!rx_requires_grad(y) && rx_grad_fn_name(y) == NULL);
        rx_tensor_release(y);
    }
    rx_tensor_release(a);
    rx_tensor_release(b);
}

/* maximum/minimum ties split the gradient; pow's special points; scalar ops at ties. */
static void test_binary_special_points(void)
{
    const int64_t s[] = {4};
    rx_tensor *a = leaf_of(1, s, (const double[]){1, 2, 3, -1});
    rx_tensor *b = leaf_of(1, s, (const double[]){1, 0, 5, -1});
    rx_tensor *y = NULL;
    CHECK_OK(rx_binary(RX_MAXIMUM, a, b, &y));
    backward_sum(y);
    CHECK_TENSOR(rx_grad(a), 1, s, ((const double[]){0.5, 1, 0, 0.5}), 0, 0);
    CHECK_TENSOR(rx_grad(b), 1, s, ((const double[]){0.5, 0, 1, 0.5}), 0, 0);
    rx_set_grad(a, NULL);
    rx_set_grad(b, NULL);
    CHECK_OK(rx_binary(RX_MINIMUM, a, b, &y));
    backward_sum(y);
    CHECK_TENSOR(rx_grad(a), 1, s, ((const double[]){0.5, 0, 1, 0.5}), 0, 0);
    CHECK_TENSOR(rx_grad(b), 1, s, ((const double[]){0.5, 1, 0, 0.5}), 0, 0);
    rx_set_grad(a, NULL);
    CHECK_OK(rx_binary_scalar(RX_MAXIMUM, a, 2, 0, &y)); /* tie at a = 2 */
    backward_sum(y);
    CHECK_TENSOR(rx_grad(a), 1, s, ((const double[]){0, 0.5, 1, 0}), 0, 0);
    rx_tensor_release(a);
    rx_tensor_release(b);

    /* pow at base 0: d/da 0^0 = 0 (b == 0), d/db 0^b = 0 for b >= 0; d/da 0^1 = 1 */
    a = leaf_of(1, s, (const double[]){0, 0, 0, 2});
    b = leaf_of(1, s, (const double[]){0, 1, 2.5, 0});
    CHECK_OK(rx_binary(RX_POW, a, b, &y));
    backward_sum(y);
    CHECK_TENSOR(rx_grad(a), 1, s, ((const double[]){0, 1, 0, 0}), 0, 0);
    CHECK_TENSOR(rx_grad(b), 1, s, ((const double[]){0, 0, 0, log(2)}), 1e-15, 1e-15);
    rx_set_grad(a, NULL);
    CHECK_OK(rx_binary_scalar(RX_POW, a, 0, 0, &y)); /* a^0 = 1: zero gradient */
    backward_sum(y);
    CHECK_TENSOR(rx_grad(a), 1, s, ((const double[]){0, 0, 0, 0}), 0, 0);
    rx_set_grad(b, NULL);
    CHECK_OK(rx_binary_scalar(RX_POW, b, 0, 1, &y)); /* 0^b, b >= 0: zero gradient */
    backward_sum(y);
    CHECK_TENSOR(rx_grad(b), 1, s, ((const double[]){0, 0, 0, 0}), 0, 0);
    rx_tensor_release(a);
    rx_tensor_release(b);
}

static void test_binary_scalar(void)
{
    const int64_t s[] = {3, 4};
    struct {
        rx_binary_op op;
        double s;
        int first;
        double lo, hi;
    } cases[] = {
        {RX_ADD, 1.5, 0, -2, 2},      {RX_ADD, 1.5, 1, -2, 2},       {RX_SUB, 1.5, 0, -2, 2},
        {RX_SUB, 1.5, 1, -2, 2},      {RX_MUL, -2.5, 0, -2, 2},      {RX_MUL, -2.5, 1, -2, 2},
        {RX_DIV, 0.8, 0, -2, 2},      {RX_DIV, 1.7, 1, 0.4, 2},      {RX_DIV, 1.7, 1, -2, -0.4},
        {RX_POW, 2.5, 0, 0.3, 3},     {RX_POW, 3, 0, -2, 2},         {RX_POW, -1.5, 0, 0.3, 3},
        {RX_POW, 1.7, 1, -2, 2},      {RX_POW, 0.4, 1, -2, 2},       {RX_MAXIMUM, 0.3, 0, -2, 2},
        {RX_MAXIMUM, 0.3, 1, -2, 2},  {RX_MINIMUM, -0.2, 0, -2, 2},  {RX_MINIMUM, -0.2, 1, -2, 2},
        {RX_REMAINDER, 0.7, 0, -3, 3}, {RX_REMAINDER, 2.3, 1, 0.7, 1.3},
        {RX_REMAINDER, -2.3, 1, 0.7, 1.3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctx c = {.op = cases[i].op, .s = cases[i].s, .first = cases[i].first};
        char name[96];
        if (cases[i].first)
            snprintf(name, sizeof name, "%g %s a", cases[i].s, rx_binary_op_name(cases[i].op));
        else
            snprintf(name, sizeof name, "a %s %g", rx_binary_op_name(cases[i].op), cases[i].s);
        GC(name, f_scalar, &c, leaf_in(2, s, 200 + i, cases[i].lo, cases[i].hi));
    }
    ctx c = {.op = RX_DIV, .s = 2.5, .first = 1};
    GC("2.5 / transposed a", f_scalar, &c, leaf_transposed_in(2, s, 230, 0.5, 2));
    /* comparisons with a scalar give bool */
    rx_tensor *a = leaf_in(2, s, 231, -1, 1), *y = NULL;
    CHECK_OK(rx_binary_scalar(RX_GT, a, 0, 0, &y));
    CHECK(!rx_requires_grad(y));
    rx_tensor_release(y);
    rx_tensor_release(a);
}

static void test_clamp_where_masked_fill(void)
{
    const int64_t s[] = {3, 4};
    ctx c = {.lo = -0.5, .hi = 0.5};
    GC("clamp", f_clamp, &c, leaf_in(2, s, 240, -1.5, 1.5));
    c = (ctx){.lo = -INFINITY, .hi = 0.2};
    GC("clamp max only, transposed", f_clamp, &c, leaf_transposed(2, s, 241));
    /* the bounds are inclusive: the gradient passes at x == lo and x == hi */
    rx_tensor *x = leaf_of(1, (const int64_t[]){5}, (const double[]){-0.5, 0.5, 0, 2, -3}), *y = NULL;
    CHECK_OK(rx_clamp(x, -0.5, 0.5, &y));
    backward_sum(y);
    CHECK_TENSOR(rx_grad(x), 1, ((const int64_t[]){5}), ((const double[]){1, 1, 1, 0, 0}), 0, 0);
    rx_tensor_release(x);

    /* where: cond (3,4), a (3,1), b (4): every side broadcast */
    double cv[12];
    for (int i = 0; i < 12; i++) cv[i] = (i * 7) % 3 == 0;
    c = (ctx){.aux = t_from(2, s, RX_BOOL, cv)};
    GC("where", f_where, &c, leaf_in(2, (const int64_t[]){3, 1}, 242, -1, 1), leaf_in(1, (const int64_t[]){4}, 243, -1, 1));
    rx_tensor_release(c.aux);
    /* cond broadcast against a and b */
    c.aux = t_from(2, (const int64_t[]){1, 4}, RX_BOOL, (const double[]){1, 0, 0, 1});
    GC("where cond (1,4)", f_where, &c, leaf_in(2, s, 244, -1, 1), leaf_narrowed(2, s, 245));
    rx_tensor_release(c.aux);

    c = (ctx){.s = 7, .aux = t_from(2, (const int64_t[]){1, 4}, RX_BOOL, (const double[]){0, 1, 1, 0})};
    GC("masked_fill", f_masked_fill, &c, leaf_in(2, s, 246, -1, 1));
    GC("masked_fill transposed", f_masked_fill, &c, leaf_transposed(2, s, 247));
    rx_tensor_release(c.aux);
}

/* ---- reductions -------------------------------------------------------------------------------- */

static void test_reductions(void)
{
    const int64_t s234[] = {2, 3, 4};
    ctx c = {.op = RX_SUM};
    GC("sum all", f_reduce, &c, leaf_in(3, s234, 300, -1, 1));
    c = (ctx){.op = RX_SUM, .ndims = 2, .dims = {0, -1}, .keepdim = 1};
    GC("sum dims (0,-1) keepdim", f_reduce, &c, leaf_in(3, s234, 301, -1, 1));
    c = (ctx){.op = RX_SUM, .ndims = 1, .dims = {-2}};
    GC("sum dim -2 of a transposed leaf", f_reduce, &c, leaf_transposed(3, s234, 302));
    c = (ctx){.op = RX_MEAN, .ndims = 1, .dims = {1}, .keepdim = 1};
    GC("mean dim 1 keepdim", f_reduce, &c, leaf_in(3, s234, 303, -1, 1));
    c = (ctx){.op = RX_MEAN};
    GC("mean all, narrowed leaf", f_reduce, &c, leaf_narrowed(3, s234, 304));
    c = (ctx){.op = RX_MEAN, .ndims = 2, .dims = {2, 0}};
    GC("mean dims (2,0)", f_reduce, &c, leaf_in(3, s234, 305, -1, 1));
    c = (ctx){.op = RX_PROD, .ndims = 1, .dims = {-1}};
    GC("prod dim -1", f_reduce, &c, leaf_in(3, s234, 306, 0.5, 1.5));
    c = (ctx){.op = RX_PROD};
    GC("prod all", f_reduce, &c, leaf_in(2, (const int64_t[]){2, 3}, 307, -1.5, 1.5));
    /* prod is multilinear, so central differences are exact at zeros too: rows with no zero, one
     * zero and two zeros */
    const int64_t s34[] = {3, 4};
    const double pz[] = {1.5, -0.5, 2, 0.75, 0, 1.25, -2, 0.5, 0, 3, 0, -1};
    c = (ctx){.op = RX_PROD, .ndims = 1, .dims = {1}, .keepdim = 1};
    GC("prod with zeros", f_reduce, &c, leaf_of(2, s34, pz));
    c = (ctx){.op = RX_PROD, .ndims = 1, .dims = {0}};
    GC("prod with zeros dim 0", f_reduce, &c, leaf_of(2, s34, pz));
    c = (ctx){.op = RX_MAX};
    GC("max all", f_reduce, &c, leaf_in(3, s234, 308, -1, 1));
    c = (ctx){.op = RX_MIN, .ndims = 1, .dims = {1}, .keepdim = 1};
    GC("min dim 1 keepdim", f_reduce, &c, leaf_in(3, s234, 309, -1, 1));
    c = (ctx){.op = RX_MAX, .ndims = 2, .dims = {0, 2}};
    GC("max dims (0,2), transposed", f_reduce, &c, leaf_transposed(3, s234, 310));

    /* hand-checked: prod with zeros, and ties of max/min split evenly */
    rx_tensor *x = leaf_of(2, s34, pz), *y = NULL;
    CHECK_OK(rx_reduce(RX_PROD, x, 1, (const int[]){1}, 0, &y));
    backward_sum(y);
    const double pg[] = {-0.5 * 2 * 0.75, 1.5 * 2 * 0.75, 1.5 * -0.5 * 0.75, 1.5 * -0.5 * 2,
                         1.25 * -2 * 0.5, 0, 0, 0, 0, 0, 0, 0};
    CHECK_TENSOR(rx_grad(x), 2, s34, pg, 1e-15, 1e-15);
    rx_tensor_release(x);
    const int64_t s5[] = {5};
    x = leaf_of(1, s5, (const double[]){1, 3, 3, 2, 3});
    CHECK_OK(rx_reduce(RX_MAX, x, 0, NULL, 0, &y));
    backward_sum(y);
    CHECK_TENSOR(rx_grad(x), 1, s5, ((const double[]){0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3}), 1e-15, 0);
    rx_set_grad(x, NULL);
    CHECK_OK(rx_reduce(RX_MIN, x, 1, (const int[]){0}, 1, &y));
    backward_sum(y);
    CHECK_TENSOR(rx_grad(x), 1, s5, ((const double[]){1, 0, 0, 0, 0}), 0, 0);
    rx_tensor_release(x);

    /* argmax, argmin, any, all: not differentiable */
    x = leaf_in(3, s234, 311, -1, 1);
    const rx_reduce_op nd[] = {RX_ARGMAX, RX_ARGMIN, RX_ANY, RX_ALL};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(rx_reduce(nd[i], x, i < 2 ? 1 : 0, (const int[]){1}, 0, &y));
        CHECK(!rx_requires_grad(y));
        rx_tensor_release(y);
    }
    rx_tensor_release(x);
}

static void test_extreme_dim(void)
{
    const int64_t s234[] = {2, 3, 4};
    ctx c = {.op = RX_MAX, .dim = -1};
    GC("max_dim -1", f_max_dim, &c, leaf_in(3, s234, 320, -1, 1));
    c = (ctx){.op = RX_MAX, .dim = 1, .keepdim = 1};
    GC("max_dim 1 keepdim", f_max_dim, &c, leaf_in(3, s234, 321, -1, 1));
    c = (ctx){.op = RX_MIN, .dim = 0};
    GC("min_dim 0, transposed", f_max_dim, &c, leaf_transposed(3, s234, 322));
    c = (ctx){.op = RX_MIN, .dim = -2, .keepdim = 1};
    GC("min_dim -2 keepdim, narrowed", f_max_dim, &c, leaf_narrowed(3, s234, 323));
    /* ties: the whole gradient goes to the selected (first) index */
    const int64_t s4[] = {4};
    rx_tensor *x = leaf_of(1, s4, (const double[]){1, 3, 3, 2}), *v = NULL, *ix = NULL;
    CHECK_OK(rx_max_dim(x, 0, 0, &v, &ix));
    CHECK(!rx_requires_grad(ix));
    CHECK(rx_grad_fn_name(v) && strcmp(rx_grad_fn_name(v), "MaxDimBackward") == 0);
    backward_sum(v);
    CHECK_TENSOR(rx_grad(x), 1, s4, ((const double[]){0, 1, 0, 0}), 0, 0);
    rx_tensor_release(ix);
    /* only values asked for, and only indices */
    rx_set_grad(x, NULL);
    CHECK_OK(rx_min_dim(x, 0, 1, &v, NULL));
    backward_sum(v);
    CHECK_TENSOR(rx_grad(x), 1, s4, ((const double[]){1, 0, 0, 0}), 0, 0);
    CHECK_OK(rx_max_dim(x, 0, 0, NULL, &ix));
    CHECK(!rx_requires_grad(ix));
    rx_tensor_release(ix);
    rx_tensor_release(x);
}

static void test_scans_softmax_sort(void)
{
    const int64_t s234[] = {2, 3, 4};
    ctx c = {.dim = 1};
    GC("cumsum dim 1", f_cumsum, &c, leaf_in(3, s234, 330, -1, 1));
    c.dim = -1;
    GC("cumsum dim -1, transposed", f_cumsum, &c, leaf_transposed(3, s234, 331));
    c.dim = 0;
    GC("cumsum 1-D", f_cumsum, &c, leaf_in(1, (const int64_t[]){7}, 332, -1, 1));
    c.dim = -1;
    GC("softmax -1", f_softmax, &c, leaf_in(3, s234, 333, -2, 2));
    c.dim = 0;
    GC("softmax 0, narrowed", f_softmax, &c, leaf_narrowed(3, s234, 334));
    c.dim = -1;
    GC("log_softmax -1", f_log_softmax, &c, leaf_in(3, s234, 335, -2, 2));
    c.dim = 1;
    GC("log_softmax 1, transposed", f_log_softmax, &c, leaf_transposed(3, s234, 336));
    c = (ctx){.dim = -1, .first = 0};
    GC("sort ascending", f_sort, &c, leaf_in(3, s234, 337, -1, 1));
    c = (ctx){.dim = 0, .first = 1};
    GC("sort descending dim 0, transposed", f_sort, &c, leaf_transposed(3, s234, 338));
    c = (ctx){.dim = -1, .k = 2, .first = 1};
    GC("topk 2 largest", f_topk, &c, leaf_in(3, s234, 339, -1, 1));
    c = (ctx){.dim = 1, .k = 1, .first = 0};
    GC("topk 1 smallest dim 1", f_topk, &c, leaf_narrowed(3, s234, 340));
}

/* ---- matmul, indexing, joining ---------------------------------------------------------------- */

static void test_matmul(void)
{
    struct {
        const char *name;
        int na;
        int64_t a[4];
        int nb;
        int64_t b[4];
    } cases[] = {
        {"(3,4) @ (4,5)", 2, {3, 4}, 2, {4, 5}},
        {"(4) @ (4)", 1, {4}, 1, {4}},
        {"(4) @ (4,5)", 1, {4}, 2, {4, 5}},
        {"(3,4) @ (4)", 2, {3, 4}, 1, {4}},
        {"(2,3,4) @ (2,4,5)", 3, {2, 3, 4}, 3, {2, 4, 5}},
        {"(2,3,4) @ (4,5) linear", 3, {2, 3, 4}, 2, {4, 5}},
        {"(3,4) @ (2,4,5)", 2, {3, 4}, 3, {2, 4, 5}},
        {"(2,1,3,4) @ (5,4,2) broadcast", 4, {2, 1, 3, 4}, 3, {5, 4, 2}},
        {"(4) @ (2,4,5)", 1, {4}, 3, {2, 4, 5}},
        {"(2,3,4) @ (4)", 3, {2, 3, 4}, 1, {4}},
        {"(2,1,3,4) @ (1,2,4,2)", 4, {2, 1, 3, 4}, 4, {1, 2, 4, 2}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        GC(cases[i].name, f_matmul, NULL, leaf_in(cases[i].na, cases[i].a, 400 + i, -1, 1),
           leaf_in(cases[i].nb, cases[i].b, 420 + i, -1, 1));
    GC("transposed @ narrowed", f_matmul, NULL, leaf_transposed(2, (const int64_t[]){3, 4}, 440),
       leaf_narrowed(2, (const int64_t[]){4, 5}, 441));
    GC("batched transposed @ (4,2)", f_matmul, NULL, leaf_transposed(3, (const int64_t[]){2, 3, 4}, 442),
       leaf_in(2, (const int64_t[]){4, 2}, 443, -1, 1));
    rx_tensor *fixed = t_randn(2, (const int64_t[]){4, 5}, RX_F64, 444);
    GC("only a requires grad", f_matmul, NULL, leaf_in(3, (const int64_t[]){2, 3, 4}, 445, -1, 1), fixed);
    fixed = t_randn(3, (const int64_t[]){2, 3, 4}, RX_F64, 446);
    GC("only b requires grad", f_matmul, NULL, fixed, leaf_in(2, (const int64_t[]){4, 5}, 447, -1, 1));
}

static void test_indexing(void)
{
    const int64_t s34[] = {3, 4};
    ctx c = {.dim = 0, .aux = index_of(5, (const int64_t[]){2, 0, 2, 1, 2})};
    GC("index_select dim 0 duplicates", f_index_select, &c, leaf_in(2, s34, 500, -1, 1));
    rx_tensor_release(c.aux);
    c = (ctx){.dim = -1, .aux = index_of(3, (const int64_t[]){3, 3, 0})};
    GC("index_select dim -1 duplicates, transposed", f_index_select, &c, leaf_transposed(2, s34, 501));
    rx_tensor_release(c.aux);
    /* an i32 index */
    rx_tensor *i32 = NULL;
    CHECK_OK(rx_from_doubles(1, (const int64_t[]){4}, RX_I32, (const double[]){1, 1, 1, 0}, &i32));
    c = (ctx){.dim = 1, .aux = i32};
    GC("index_select i32 index, 3-D", f_index_select, &c, leaf_in(3, (const int64_t[]){2, 3, 2}, 502, -1, 1));
    rx_tensor_release(i32);

    double gi[6] = {0, 0, 3, 1, 2, 2};
    CHECK_OK(rx_from_doubles(2, (const int64_t[]){2, 3}, RX_I64, gi, &c.aux));
    c.dim = 1;
    GC("gather dim 1 duplicates", f_gather, &c, leaf_in(2, s34, 503, -1, 1));
    rx_tensor_release(c.aux);
    double gi0[4] = {2, 2, 0, 2};
    CHECK_OK(rx_from_doubles(2, (const int64_t[]){2, 2}, RX_I64, gi0, &c.aux));
    c.dim = -2;
    GC("gather dim -2 duplicates, narrowed", f_gather, &c, leaf_narrowed(2, s34, 504));

    /* scatter_add: gradient to both a and src, src with duplicate targets */
    GC("scatter_add dim -2", f_scatter_add, &c, leaf_in(2, s34, 505, -1, 1), leaf_in(2, (const int64_t[]){2, 2}, 506, -1, 1));
    rx_tensor *fixed = t_randn(2, s34, RX_F64, 507);
    GC("scatter_add src only", f_scatter_add, &c, fixed, leaf_in(2, (const int64_t[]){2, 2}, 508, -1, 1));
    rx_tensor_release(c.aux);
}

static void test_cat_stack(void)
{
    ctx c = {.dim = 1};
    rx_tensor *fixed = t_randn(2, (const int64_t[]){3, 1}, RX_F64, 600);
    GC("cat dim 1 (middle input without grad)", f_cat3, &c, leaf_in(2, (const int64_t[]){3, 2}, 601, -1, 1), fixed,
       leaf_transposed(2, (const int64_t[]){3, 4}, 602));
    c.dim = -3;
    GC("cat dim -3", f_cat3, &c, leaf_in(3, (const int64_t[]){1, 2, 2}, 603, -1, 1),
       leaf_in(3, (const int64_t[]){3, 2, 2}, 604, -1, 1), leaf_in(3, (const int64_t[]){2, 2, 2}, 605, -1, 1));
    c.dim = 0;
    const int64_t s[] = {2, 3};
    GC("stack dim 0", f_stack3, &c, leaf_in(2, s, 606, -1, 1), leaf_narrowed(2, s, 607), leaf_in(2, s, 608, -1, 1));
    c.dim = -1;
    fixed = t_randn(2, s, RX_F64, 609);
    GC("stack dim -1", f_stack3, &c, leaf_in(2, s, 610, -1, 1), fixed, leaf_transposed(2, s, 611));
}

/* ---- dtypes ----------------------------------------------------------------------------------- */

/* f32, f16 and bf16 leaves get gradients of their own dtype, close to the f64 gradient of the same
 * values (a small graph through several ops). */
static void test_low_precision(void)
{
    const int64_t s[] = {3, 4};
    const rx_dtype dts[] = {RX_F32, RX_F16, RX_BF16};
    const double tol[] = {1e-5, 2e-2, 8e-2};
    double v[12];
    for (int i = 0; i < 12; i++) v[i] = 0.3 * (i - 5.5) / 3.0;
    /* y = sum(tanh(x) x^2): dy/dx = (1 - tanh^2) x^2 + 2 x tanh, in double from the values the dtype holds */
    double ref[12];
    for (int d = 0; d < 3; d++) {
        rx_tensor *x = t_from(2, s, dts[d], v), *t = NULL, *q = NULL, *y = NULL;
        CHECK_OK(rx_set_requires_grad(x, 1));
        CHECK_OK(rx_unary(RX_TANH, x, &t));
        CHECK_OK(rx_binary(RX_MUL, x, x, &q));
        CHECK_OK(rx_binary(RX_MUL, t, q, &y));
        rx_tensor_release(t);
        rx_tensor_release(q);
        backward_sum(y);
        rx_tensor *g = rx_grad(x);
        CHECK(g && rx_tensor_dtype(g) == dts[d]);
        double vr[12];
        rx_tensor_to_doubles(x, vr, 12); /* the values the dtype holds */
        for (int i = 0; i < 12; i++)
            ref[i] = (1 - tanh(vr[i]) * tanh(vr[i])) * vr[i] * vr[i] + 2 * vr[i] * tanh(vr[i]);
        CHECK_TENSOR(g, 2, s, ref, tol[d], tol[d]);
        rx_tensor_release(x);
    }
    /* f16 through matmul, softmax, sum over dims and gelu */
    rx_tensor *a = t_randn(2, s, RX_F16, 700), *b = t_randn(2, (const int64_t[]){4, 2}, RX_F16, 701);
    rx_tensor *m = NULL, *sm = NULL, *ge = NULL;
    CHECK_OK(rx_set_requires_grad(a, 1));
    CHECK_OK(rx_set_requires_grad(b, 1));
    CHECK_OK(rx_matmul(a, b, &m));
    CHECK_OK(rx_softmax(m, -1, &sm));
    CHECK_OK(rx_unary(RX_GELU, sm, &ge));
    backward_sum(ge);
    CHECK(rx_grad(a) && rx_tensor_dtype(rx_grad(a)) == RX_F16);
    CHECK(rx_grad(b) && rx_tensor_dtype(rx_grad(b)) == RX_F16);
    rx_tensor_release(m);
    rx_tensor_release(sm);
    rx_tensor_release(a);
    rx_tensor_release(b);
}

/* A graph through most ops: x (3, 4), w (4, 3) of one dtype -> a 0-d loss. Temporaries are
 * released at the end (the graph keeps what backward needs). */
#define STEP(var, call)     \
    rx_tensor *var = NULL;  \
    CHECK_OK(call);         \
    held[n++] = var

static rx_tensor *composite_loss(rx_tensor *x, rx_tensor *w, rx_tensor *idx)
{
    rx_tensor *held[64];
    int n = 0;
    STEP(a, rx_matmul(x, w, &a)); /* (3, 3) */
    STEP(b, rx_softmax(a, -1, &b));
    STEP(c1, rx_unary(RX_GELU, x, &c1));
    STEP(c2, rx_unary(RX_SIGMOID, x, &c2));
    STEP(c, rx_binary(RX_MUL, c1, c2, &c));
    STEP(d, rx_reduce(RX_SUM, c, 1, (const int[]){1}, 1, &d)); /* (3, 1) */
    STEP(e, rx_binary(RX_ADD, b, d, &e));                       /* (3, 3) */
    STEP(f, rx_max_dim(e, 1, 0, &f, NULL));                     /* (3) */
    STEP(g, rx_cumsum(f, 0, &g));
    STEP(h, rx_clamp(x, -0.5, 0.5, &h));
    STEP(i1, rx_index_select(w, 0, idx, &i1)); /* (3, 3) */
    STEP(i, rx_binary(RX_MUL, i1, e, &i));
    STEP(j1, rx_unary(RX_ABS, x, &j1));
    STEP(j2, rx_binary_scalar(RX_ADD, j1, 0.5, 0, &j2));
    STEP(j, rx_binary_scalar(RX_POW, j2, 1.5, 0, &j));
    STEP(k1, rx_binary_scalar(RX_GT, x, 0, 0, &k1));
    STEP(k2, rx_binary_scalar(RX_MUL, x, 2, 0, &k2));
    STEP(k, rx_where(k1, x, k2, &k));
    STEP(l1, rx_sort(x, -1, 1, &l1, NULL));
    STEP(l, rx_topk(l1, 2, -1, 1, &l, NULL)); /* (3, 2) */
    STEP(m1, rx_transpose(l, 0, 1, &m1));
    STEP(m, rx_log_softmax(m1, 0, &m));
    STEP(o1, rx_narrow(j, 1, 0, 2, &o1));
    STEP(o, rx_reduce(RX_PROD, o1, 1, (const int[]){-1}, 0, &o)); /* (3) */
    STEP(q1, rx_cat(2, (rx_tensor *[]){g, o}, 0, &q1));             /* (6) */
    STEP(q2, rx_stack(2, (rx_tensor *[]){f, o}, 0, &q2));           /* (2, 3) */
    STEP(q3, rx_reshape(q2, 1, (const int64_t[]){6}, &q3));
    STEP(q4, rx_unary(RX_EXP, q3, &q4));
    STEP(q5, rx_binary_scalar(RX_ADD, q4, 1, 0, &q5));
    STEP(q, rx_binary(RX_DIV, q1, q5, &q));
    STEP(r1, rx_unary(RX_TANH, x, &r1));
    STEP(r, rx_reduce(RX_MAX, r1, 1, (const int[]){0}, 0, &r));
    rx_tensor *parts[] = {g, h, i, j, k, m, q, r};
    STEP(loss, rx_reduce(RX_MEAN, c, 0, NULL, 0, &loss));
    for (int p = 0; p < 8; p++) {
        STEP(sp, rx_reduce(RX_SUM, parts[p], 0, NULL, 0, &sp));
        STEP(next, rx_binary(RX_ADD, loss, sp, &next));
        loss = next;
    }
    rx_tensor_retain(loss);
    for (int z = 0; z < n; z++) rx_tensor_release(held[z]);
    return loss;
}
#undef STEP

static void test_low_precision_graph(void)
{
    const int64_t sx[] = {3, 4}, sw[] = {4, 3};
    double xv[12], wv[12];
    for (int i = 0; i < 12; i++) {
        xv[i] = 0.9 * sin(1.7 * i + 0.3);
        wv[i] = 0.8 * cos(1.3 * i + 0.1);
    }
    rx_tensor *idx = index_of(3, (const int64_t[]){1, 3, 1});
    const rx_dtype dts[] = {RX_F32, RX_F16, RX_BF16};
    const double tol[] = {1e-4, 3e-2, 1.5e-1};
    for (int k = 0; k < 3; k++) {
        rx_tensor *x = t_from(2, sx, dts[k], xv), *w = t_from(2, sw, dts[k], wv);
        /* the reference: the same graph in f64 on the values the dtype holds */
        double xr[12], wr[12];
        rx_tensor_to_doubles(x, xr, 12);
        rx_tensor_to_doubles(w, wr, 12);
        rx_tensor *x64 = t_from(2, sx, RX_F64, xr), *w64 = t_from(2, sw, RX_F64, wr);
        rx_tensor *in[4] = {x, w, x64, w64};
        for (int j = 0; j < 4; j++) CHECK_OK(rx_set_requires_grad(in[j], 1));
        for (int j = 0; j < 2; j++) {
            rx_tensor *loss = composite_loss(in[2 * j], in[2 * j + 1], idx);
            CHECK(rx_tensor_dtype(loss) == (j ? RX_F64 : dts[k]));
            CHECK_OK(rx_backward(loss, NULL, 0));
            rx_tensor_release(loss);
        }
        for (int j = 0; j < 2; j++) {
            rx_tensor *g = rx_grad(in[j]), *ref = rx_grad(in[j + 2]);
            CHECK(g && ref && rx_tensor_dtype(g) == dts[k]);
            if (!g || !ref) continue;
            double *rv = t_values(ref);
            CHECK_TENSOR(g, 2, j ? sw : sx, rv, tol[k], tol[k]);
            free(rv);
        }
        for (int j = 0; j < 4; j++) rx_tensor_release(in[j]);
    }
    rx_tensor_release(idx);
}

/* 0-d leaves through broadcasting, views, reductions and scans; empty tensors. */
static void test_scalars_and_empty(void)
{
    ctx c = {.ndim = 2, .shape = {3, 4}};
    GC("expand 0-d", f_expand, &c, leaf_in(0, NULL, 800, -1, 1));
    c.op = RX_MUL;
    GC("0-d * (3,4)", f_binary, &c, leaf_in(0, NULL, 801, -1, 1), leaf_in(2, (const int64_t[]){3, 4}, 802, -1, 1));
    c.op = RX_POW;
    GC("(3) ^ 0-d", f_binary, &c, leaf_in(1, (const int64_t[]){3}, 803, 0.5, 2), leaf_in(0, NULL, 804, -1, 1));
    c = (ctx){.op = RX_SUM};
    GC("sum of 0-d", f_reduce, &c, leaf_in(0, NULL, 805, -1, 1));
    c = (ctx){.op = RX_PROD, .ndims = 1, .dims = {-1}, .keepdim = 1};
    GC("prod of 0-d, dim -1", f_reduce, &c, leaf_in(0, NULL, 806, -1, 1));
    c = (ctx){.dim = 0};
    GC("cumsum of 0-d", f_cumsum, &c, leaf_in(0, NULL, 807, -1, 1));
    GC("log_softmax of 0-d", f_log_softmax, &c, leaf_in(0, NULL, 808, -1, 1));
    GC("sort of 0-d", f_sort, &c, leaf_in(0, NULL, 809, -1, 1));
    c = (ctx){.op = RX_MAX, .dim = -1};
    GC("max_dim of 0-d", f_max_dim, &c, leaf_in(0, NULL, 810, -1, 1));
    c = (ctx){.ndim = 0};
    GC("view (1,1) as 0-d", f_view, &c, leaf_in(2, (const int64_t[]){1, 1}, 811, -1, 1));
    GC("(4) @ (4) -> 0-d", f_matmul, NULL, leaf_in(1, (const int64_t[]){4}, 812, -1, 1), leaf_in(1, (const int64_t[]){4}, 813, -1, 1));

    /* empty: the gradient is empty too, of the right shape */
    const int64_t s03[] = {0, 3};
    rx_tensor *x = leaf_in(2, s03, 814, -1, 1), *y = NULL, *e = NULL;
    CHECK_OK(rx_unary(RX_EXP, x, &e));
    CHECK_OK(rx_reduce(RX_SUM, e, 1, (const int[]){0}, 0, &y));
    rx_tensor_release(e);
    backward_sum(y);
    CHECK_TENSOR(rx_grad(x), 2, s03, NULL, 0, 0);
    rx_tensor_release(x);
}

/* Integer and bool tensors never require grad; ops on them never record. */
static void test_integers(void)
{
    rx_tensor *i = NULL, *y = NULL;
    CHECK_OK(rx_arange(0, 6, 1, RX_I64, rx_cpu(), &i));
    CHECK_ERR(rx_set_requires_grad(i, 1), RX_ERR_DTYPE, "floating-point");
    CHECK(!rx_requires_grad(i));
    CHECK_OK(rx_binary(RX_ADD, i, i, &y));
    CHECK(!rx_requires_grad(y) && rx_grad_fn_name(y) == NULL);
    rx_tensor_release(y);
    rx_tensor_release(i);
}

int main(void)
{
    RUN(test_views);
    RUN(test_copies);
    RUN(test_unary);
    RUN(test_unary_kinks);
    RUN(test_binary);
    RUN(test_binary_special_points);
    RUN(test_binary_scalar);
    RUN(test_clamp_where_masked_fill);
    RUN(test_reductions);
    RUN(test_extreme_dim);
    RUN(test_scans_softmax_sort);
    RUN(test_matmul);
    RUN(test_indexing);
    RUN(test_cat_stack);
    RUN(test_scalars_and_empty);
    RUN(test_low_precision);
    RUN(test_low_precision_graph);
    RUN(test_integers);
    return check_finish();
}
