/* test_optim.c — the optimizer list functions: rx_adamw_step, rx_sgd_step, rx_global_norm and
 * rx_scale_ on the CPU.
 *
 * Every update is compared with a reference written here in double precision that follows the
 * torch.optim formulas step by step and rounds the stored values as the runtime stores them
 * (parameters to their dtype, AdamW state to f32, momentum buffers to their dtype), over several
 * steps with weight decay, bias correction, dampening and nesterov; for f32, f64, f16 and bf16
 * parameters, mixed in one call; for tensors big enough to run in parallel chunks, 0-d and empty
 * ones; for non-contiguous parameters, state and gradients (transposed, narrowed, expanded).
 * Also: results do not depend on the thread count, versions are bumped, nothing is recorded,
 * and every argument error names the list entry.
 */
#include "check.h"

#include "autograd/autograd.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------- */

static double val(rx_dtype dt, int64_t seed, int64_t i)
{
    return sin(0.37 * (double)i + 1.3 * (double)seed) * (1 + 0.25 * (double)(i % 5));
}

static rx_tensor *make(int ndim, const int64_t *shape, rx_dtype dt, int seed)
{
    return t_gen(ndim, shape, dt, val, seed, NULL);
}

static int64_t numel_of(const rx_tensor *t) { return rx_tensor_numel(t); }

/* Tolerances on a parameter of dtype dt after updates computed in f32 (or f64). */
static void param_tol(rx_dtype dt, double *atol, double *rtol)
{
    switch (dt) {
    case RX_F64: *atol = 1e-12, *rtol = 1e-12; break;
    case RX_F32: *atol = 2e-6, *rtol = 1e-5; break;
    case RX_F16: *atol = 2e-3, *rtol = 2.0 / 1024; break; /* 2 ulps: f32 math may flip a rounding */
    default: *atol = 1e-2, *rtol = 2.0 / 128; break;
    }
}

static int64_t version_of(const rx_tensor *t) { return rx_tensor_version(t); }

/* ---- AdamW --------------------------------------------------------------------------------- */

typedef struct pspec {
    int ndim;
    int64_t shape[3];
    rx_dtype dtype;
} pspec;

typedef struct adam_ref {
    int64_t n;
    double *p, *m, *v;
} adam_ref;

static void adam_ref_step(adam_ref *r, rx_dtype dt, const double *g, const rx_adamw_opts *o)
{
    double bc1 = 1 - pow(o->beta1, (double)o->step), bc2 = 1 - pow(o->beta2, (double)o->step);
    for (int64_t i = 0; i < r->n; i++) {
        double p = r->p[i] * (1 - o->lr * o->weight_decay);
        double m = o->beta1 * r->m[i] + (1 - o->beta1) * g[i];
        double v = o->beta2 * r->v[i] + (1 - o->beta2) * g[i] * g[i];
        p -= o->lr * (m / bc1) / (sqrt(v / bc2) + o->eps);
        r->p[i] = ref_round(dt, p);
        r->m[i] = (float)m;
        r->v[i] = (float)v;
    }
}

/* Runs `steps` AdamW steps on parameters of the given specs, all in one call per step, and
 * compares parameters and state with the reference. */
static void adamw_case(int np, const pspec *specs, rx_adamw_opts opts, int steps)
{
    rx_tensor *p[8], *m[8], *v[8];
    adam_ref ref[8];
    for (int i = 0; i < np; i++) {
        p[i] = make(specs[i].ndim, specs[i].shape, specs[i].dtype, 10 + i);
        m[i] = t_zeros(specs[i].ndim, specs[i].shape, RX_F32);
        v[i] = t_zeros(specs[i].ndim, specs[i].shape, RX_F32);
        ref[i].n = numel_of(p[i]);
        ref[i].p = t_values(p[i]);
        ref[i].m = calloc((size_t)ref[i].n + 1, sizeof(double));
        ref[i].v = calloc((size_t)ref[i].n + 1, sizeof(double));
    }
    for (int s = 1; s <= steps; s++) {
        rx_tensor *g[8];
        for (int i = 0; i < np; i++) g[i] = make(specs[i].ndim, specs[i].shape, specs[i].dtype, 100 * s + i);
        opts.step = s;
        CHECK_OK(rx_adamw_step(np, p, g, m, v, &opts));
        for (int i = 0; i < np; i++) {
            double *gv = t_values(g[i]);
            adam_ref_step(&ref[i], specs[i].dtype, gv, &opts);
            free(gv);
            rx_tensor_release(g[i]);
        }
    }
    for (int i = 0; i < np; i++) {
        double atol, rtol;
        param_tol(specs[i].dtype, &atol, &rtol);
        CHECK_TENSOR(p[i], specs[i].ndim, specs[i].shape, ref[i].p, atol, rtol);
        CHECK_TENSOR(m[i], specs[i].ndim, specs[i].shape, ref[i].m, 1e-6, 1e-5);
        CHECK_TENSOR(v[i], specs[i].ndim, specs[i].shape, ref[i].v, 1e-8, 1e-5);
        free(ref[i].p);
        free(ref[i].m);
        free(ref[i].v);
        rx_tensor_release(p[i]);
        rx_tensor_release(m[i]);
        rx_tensor_release(v[i]);
    }
}

static const rx_adamw_opts adam_default = {
    .lr = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};

static void test_adamw_f32_many_sizes(void)
{
    /* a big tensor cut into parallel chunks next to small, 0-d and empty ones */
    pspec specs[] = {{2, {300, 257}, RX_F32},
                     {1, {3}, RX_F32},
                     {0, {0}, RX_F32},
                     {2, {0, 4}, RX_F32},
                     {3, {2, 3, 5}, RX_F32}};
    adamw_case(5, specs, adam_default, 5);
    rx_adamw_opts o = {.lr = 0.01, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3, .weight_decay = 0};
    adamw_case(5, specs, o, 4);
}

static void test_adamw_f64(void)
{
    pspec specs[] = {{2, {40, 33}, RX_F64}, {1, {7}, RX_F64}, {0, {0}, RX_F64}};
    adamw_case(3, specs, adam_default, 6);
}

static void test_adamw_half_params(void)
{
    pspec specs[] = {{2, {64, 65}, RX_BF16}, {2, {31, 9}, RX_F16}, {1, {5}, RX_BF16}};
    adamw_case(3, specs, adam_default, 5);
    rx_adamw_opts o = {.lr = 0.02, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.5};
    adamw_case(3, specs, o, 3);
}

static void test_adamw_mixed_dtypes(void)
{
    pspec specs[] = {{2, {200, 201}, RX_F32},
                     {2, {5, 7}, RX_BF16},
                     {1, {3}, RX_F64},
                     {0, {0}, RX_F16},
                     {2, {0, 4}, RX_F32}};
    adamw_case(5, specs, adam_default, 3);
}

/* The first step with wd = 0 moves every element by lr * g / (|g| + eps): about lr (bias
 * correction undoes the (1 - beta) factors). Checked without the reference. */
static void test_adamw_bias_correction(void)
{
    int64_t n = 6;
    double pv[6] = {1, -2, 3, 0.5, -0.25, 0}, gv[6] = {0.3, -4, 1e-3, -0.2, 2, 5};
    rx_tensor *p = t_from(1, &n, RX_F64, pv), *g = t_from(1, &n, RX_F64, gv);
    rx_tensor *m = t_zeros(1, &n, RX_F32), *v = t_zeros(1, &n, RX_F32);
    rx_adamw_opts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .step = 1};
    CHECK_OK(rx_adamw_step(1, &p, &g, &m, &v, &o));
    double *r = t_values(p);
    for (int i = 0; i < 6; i++) CHECK_CLOSE(r[i], pv[i] - 0.1 * (gv[i] > 0 ? 1 : -1), 1e-6);
    free(r);
    /* decoupled decay alone (zero gradient): p *= 1 - lr * wd */
    double zero[6] = {0};
    rx_tensor *g0 = t_from(1, &n, RX_F64, zero);
    double *before = t_values(p);
    o.weight_decay = 0.5;
    o.step = 2;
    rx_tensor *m0 = t_zeros(1, &n, RX_F32), *v0 = t_zeros(1, &n, RX_F32);
    CHECK_OK(rx_adamw_step(1, &p, &g0, &m0, &v0, &o));
    r = t_values(p);
    for (int i = 0; i < 6; i++) CHECK_CLOSE(r[i], before[i] * (1 - 0.1 * 0.5), 1e-12);
    free(r);
    free(before);
    rx_tensor *all[] = {p, g, m, v, g0, m0, v0};
    for (int i = 0; i < 7; i++) rx_tensor_release(all[i]);
}

static void test_adamw_noncontiguous(void)
{
    /* param: a transposed narrow view of base (6, 8); grad: an expanded (1, 6) row; exp_avg a
     * transposed view; exp_avg_sq contiguous */
    int64_t bs[2] = {6, 8}, s6[2] = {6, 6}, row[2] = {1, 6};
    rx_tensor *base = make(2, bs, RX_F32, 3), *nar, *p;
    CHECK_OK(rx_narrow(base, 1, 1, 6, &nar));
    CHECK_OK(rx_transpose(nar, 0, 1, &p));
    CHECK(!rx_tensor_is_contiguous(p));
    double *base0 = t_values(base);
    rx_tensor *mbase = t_zeros(2, s6, RX_F32), *m, *v = t_zeros(2, s6, RX_F32);
    CHECK_OK(rx_transpose(mbase, 0, 1, &m));
    adam_ref ref = {36, t_values(p), calloc(36, sizeof(double)), calloc(36, sizeof(double))};
    rx_adamw_opts o = adam_default;
    for (int s = 1; s <= 3; s++) {
        rx_tensor *gr = make(2, row, RX_F32, s), *g;
        CHECK_OK(rx_expand(gr, 2, s6, &g));
        o.step = s;
        CHECK_OK(rx_adamw_step(1, &p, &g, &m, &v, &o));
        double *gv = t_values(g);
        adam_ref_step(&ref, RX_F32, gv, &o);
        free(gv);
        rx_tensor_release(g);
        rx_tensor_release(gr);
    }
    CHECK_TENSOR(p, 2, s6, ref.p, 2e-6, 1e-5);
    CHECK_TENSOR(m, 2, s6, ref.m, 1e-6, 1e-5);
    CHECK_TENSOR(v, 2, s6, ref.v, 1e-8, 1e-5);
    /* the columns of base outside the view are untouched */
    double *b = t_values(base);
    for (int r = 0; r < 6; r++) {
        CHECK(b[r * 8] == base0[r * 8]);
        CHECK(b[r * 8 + 7] == base0[r * 8 + 7]);
        CHECK(b[r * 8 + 3] != base0[r * 8 + 3]);
    }
    free(b);
    free(base0);
    free(ref.p);
    free(ref.m);
    free(ref.v);
    rx_tensor *all[] = {base, nar, p, mbase, m, v};
    for (int i = 0; i < 6; i++) rx_tensor_release(all[i]);
}

/* Bitwise identical results with 1 and with several threads, for AdamW, SGD and the norm. */
static void test_thread_independence(void)
{
    int64_t big[2] = {500, 300}, small[1] = {17};
    rx_tensor *res[2][2];
    double norms[2];
    for (int run = 0; run < 2; run++) {
        rx_set_num_threads(run == 0 ? 1 : 4);
        rx_tensor *p[2] = {make(2, big, RX_F32, 1), make(1, small, RX_BF16, 2)};
        rx_tensor *g[2] = {make(2, big, RX_F32, 3), make(1, small, RX_BF16, 4)};
        rx_tensor *m[2] = {t_zeros(2, big, RX_F32), t_zeros(1, small, RX_F32)};
        rx_tensor *v[2] = {t_zeros(2, big, RX_F32), t_zeros(1, small, RX_F32)};
        rx_adamw_opts o = adam_default;
        for (int s = 1; s <= 2; s++) {
            o.step = s;
            CHECK_OK(rx_adamw_step(2, p, g, m, v, &o));
        }
        CHECK_OK(rx_sgd_step(2, p, g, m, 0.1, 0.9, 0, 0.01, 1, 1));
        CHECK_OK(rx_global_norm(2, p, &norms[run]));
        for (int i = 0; i < 2; i++) {
            res[run][i] = p[i];
            rx_tensor_release(g[i]);
            rx_tensor_release(m[i]);
            rx_tensor_release(v[i]);
        }
    }
    rx_set_num_threads(0);
    CHECK(memcmp(rx_tensor_data_ptr(res[0][0]), rx_tensor_data_ptr(res[1][0]), 500 * 300 * 4) == 0);
    CHECK(memcmp(rx_tensor_data_ptr(res[0][1]), rx_tensor_data_ptr(res[1][1]), 17 * 2) == 0);
    CHECK(norms[0] == norms[1]);
    for (int run = 0; run < 2; run++)
        for (int i = 0; i < 2; i++) rx_tensor_release(res[run][i]);
}

static void test_adamw_versions_and_no_recording(void)
{
    int64_t n = 4;
    rx_tensor *p = make(1, &n, RX_F32, 1), *g = make(1, &n, RX_F32, 2);
    rx_tensor *m = t_zeros(1, &n, RX_F32), *v = t_zeros(1, &n, RX_F32);
    CHECK_OK(rx_set_requires_grad(p, 1));
    int prev = rx_set_grad_enabled(1);
    int64_t vp = version_of(p), vm = version_of(m), vv = version_of(v), vg = version_of(g);
    rx_adamw_opts o = adam_default;
    o.step = 1;
    CHECK_OK(rx_adamw_step(1, &p, &g, &m, &v, &o));
    CHECK(version_of(p) > vp);
    CHECK(version_of(m) > vm);
    CHECK(version_of(v) > vv);
    CHECK(version_of(g) == vg);
    CHECK(rx_is_leaf(p));
    CHECK(rx_grad_fn_name(p) == NULL);
    CHECK(rx_requires_grad(p));
    int64_t v1 = version_of(p);
    rx_tensor *ps[1] = {p};
    CHECK_OK(rx_scale_(1, ps, 0.5));
    CHECK(version_of(p) > v1);
    int64_t v2 = version_of(p);
    CHECK_OK(rx_sgd_step(1, &p, &g, NULL, 0.1, 0, 0, 0, 0, 1));
    CHECK(version_of(p) > v2);
    rx_set_grad_enabled(prev);
    rx_tensor *all[] = {p, g, m, v};
    for (int i = 0; i < 4; i++) rx_tensor_release(all[i]);
}

static void test_adamw_errors(void)
{
    int64_t s3 = 3, s4 = 4, s22[2] = {2, 2};
    rx_tensor *p = make(1, &s3, RX_F32, 1), *g = make(1, &s3, RX_F32, 2);
    rx_tensor *m = t_zeros(1, &s3, RX_F32), *v = t_zeros(1, &s3, RX_F32);
    rx_tensor *g4 = make(1, &s4, RX_F32, 2), *g64 = make(1, &s3, RX_F64, 2), *m64 = t_zeros(1, &s3, RX_F64);
    rx_tensor *pi = make(1, &s3, RX_I32, 1), *m4 = t_zeros(1, &s4, RX_F32);
    rx_adamw_opts o = adam_default;
    o.step = 1;
    rx_tensor *P[2] = {p, p}, *G[2] = {g, NULL}, *M[2] = {m, m}, *V[2] = {v, v};
    CHECK_ERR(rx_adamw_step(2, P, G, M, V, &o), RX_ERR_ARG, "grads[1]");
    CHECK_ERR(rx_adamw_step(1, &p, NULL, &m, &v, &o), RX_ERR_ARG, "argument #3 (grads)");
    CHECK_ERR(rx_adamw_step(1, &p, &g4, &m, &v, &o), RX_ERR_SHAPE,
              "grads[0]): expected shape (3) like params[0], got (4)");
    CHECK_ERR(rx_adamw_step(1, &p, &g64, &m, &v, &o), RX_ERR_DTYPE, "grads[0]) is f64 but params[0] is f32");
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m64, &v, &o), RX_ERR_DTYPE, "exp_avg[0]): expected f32");
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &m4, &o), RX_ERR_SHAPE, "exp_avg_sq[0]");
    CHECK_ERR(rx_adamw_step(1, &pi, &pi, &m, &v, &o), RX_ERR_DTYPE, "params[0]): expected a floating-point");
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &m, &o), RX_ERR_ARG,
              "exp_avg_sq[0]) shares storage with exp_avg[0]");
    CHECK_ERR(rx_adamw_step(1, &p, &g, &p, &v, &o), RX_ERR_ARG, "exp_avg[0]) shares storage with params[0]");
    CHECK_ERR(rx_adamw_step(-1, &p, &g, &m, &v, &o), RX_ERR_ARG, "list length");
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &v, NULL), RX_ERR_ARG, "options");
    rx_adamw_opts bad = o;
    bad.lr = -1;
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &v, &bad), RX_ERR_ARG, "lr");
    bad = o;
    bad.beta1 = 1;
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &v, &bad), RX_ERR_ARG, "betas");
    bad = o;
    bad.beta2 = NAN;
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &v, &bad), RX_ERR_ARG, "betas");
    bad = o;
    bad.step = 0;
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &v, &bad), RX_ERR_ARG, "step >= 1");
    bad = o;
    bad.eps = -1e-8;
    CHECK_ERR(rx_adamw_step(1, &p, &g, &m, &v, &bad), RX_ERR_ARG, "eps");
    /* an expanded parameter aliases its elements */
    int64_t one = 1;
    rx_tensor *p1 = make(1, &one, RX_F32, 1), *pe;
    CHECK_OK(rx_expand(p1, 1, &s3, &pe));
    CHECK_ERR(rx_adamw_step(1, &pe, &g, &m, &v, &o), RX_ERR_ARG, "params[0]) is an expanded view");
    /* errors leave everything untouched */
    double *pv = t_values(p), *pv0 = t_values(p);
    int64_t ver = version_of(p);
    CHECK_ERR(rx_adamw_step(1, &p, &g4, &m, &v, &o), RX_ERR_SHAPE, NULL);
    free(pv);
    pv = t_values(p);
    CHECK(memcmp(pv, pv0, 3 * sizeof(double)) == 0);
    CHECK(version_of(p) == ver);
    free(pv);
    free(pv0);
    (void)s22;
    rx_tensor *all[] = {p, g, m, v, g4, g64, m64, pi, m4, p1, pe};
    for (int i = 0; i < 11; i++) rx_tensor_release(all[i]);
    /* n == 0 is a no-op */
    CHECK_OK(rx_adamw_step(0, NULL, NULL, NULL, NULL, &o));
}

/* ---- SGD ----------------------------------------------------------------------------------- */

typedef struct sgd_cfg {
    double lr, momentum, dampening, wd;
    int nesterov;
    rx_dtype buf_dtype; /* for each param: this, or -1 for the param's own dtype */
} sgd_cfg;

static void sgd_case(int np, const pspec *specs, sgd_cfg c, int steps)
{
    rx_tensor *p[8], *b[8];
    double *rp[8], *rb[8];
    rx_dtype bdt[8];
    bool use_buf = c.momentum != 0;
    for (int i = 0; i < np; i++) {
        p[i] = make(specs[i].ndim, specs[i].shape, specs[i].dtype, 20 + i);
        bdt[i] = (int)c.buf_dtype < 0 ? specs[i].dtype : c.buf_dtype;
        /* garbage in the buffers: the first step must ignore it */
        b[i] = use_buf ? make(specs[i].ndim, specs[i].shape, bdt[i], 99) : NULL;
        rp[i] = t_values(p[i]);
        rb[i] = calloc((size_t)numel_of(p[i]) + 1, sizeof(double));
    }
    for (int s = 1; s <= steps; s++) {
        rx_tensor *g[8];
        for (int i = 0; i < np; i++) g[i] = make(specs[i].ndim, specs[i].shape, specs[i].dtype, 50 * s + i);
        CHECK_OK(rx_sgd_step(np, p, g, use_buf ? b : NULL, c.lr, c.momentum, c.dampening, c.wd, c.nesterov,
                             s == 1));
        for (int i = 0; i < np; i++) {
            double *gv = t_values(g[i]);
            for (int64_t k = 0; k < numel_of(p[i]); k++) {
                double d = gv[k] + c.wd * rp[i][k];
                if (use_buf) {
                    double bb = s == 1 ? d : c.momentum * rb[i][k] + (1 - c.dampening) * d;
                    rb[i][k] = bb = ref_round(bdt[i], bb);
                    d = c.nesterov ? d + c.momentum * bb : bb;
                }
                rp[i][k] = ref_round(specs[i].dtype, rp[i][k] - c.lr * d);
            }
            free(gv);
            rx_tensor_release(g[i]);
        }
    }
    for (int i = 0; i < np; i++) {
        double atol, rtol;
        param_tol(specs[i].dtype, &atol, &rtol);
        CHECK_TENSOR(p[i], specs[i].ndim, specs[i].shape, rp[i], atol, rtol);
        if (use_buf) {
            param_tol(bdt[i], &atol, &rtol);
            CHECK_TENSOR(b[i], specs[i].ndim, specs[i].shape, rb[i], atol, rtol);
        }
        free(rp[i]);
        free(rb[i]);
        rx_tensor_release(p[i]);
        rx_tensor_release(b[i]);
    }
}

static void test_sgd(void)
{
    pspec f32s[] = {{2, {300, 129}, RX_F32}, {1, {5}, RX_F32}, {0, {0}, RX_F32}, {2, {0, 3}, RX_F32}};
    sgd_cfg plain = {0.1, 0, 0, 0, 0, RX_F32};
    sgd_case(4, f32s, plain, 3);
    sgd_cfg wd = {0.1, 0, 0, 0.05, 0, RX_F32};
    sgd_case(4, f32s, wd, 3);
    sgd_cfg mom = {0.05, 0.9, 0.1, 0.01, 0, RX_F32};
    sgd_case(4, f32s, mom, 4);
    sgd_cfg nest = {0.05, 0.8, 0, 0.02, 1, RX_F32};
    sgd_case(4, f32s, nest, 4);
    pspec f64s[] = {{2, {20, 30}, RX_F64}, {1, {4}, RX_F64}};
    sgd_case(2, f64s, mom, 4);
    sgd_cfg mom64 = mom;
    mom64.buf_dtype = (rx_dtype)-1; /* f64 buffers for f64 params */
    sgd_case(2, f64s, mom64, 4);
    pspec halves[] = {{2, {33, 17}, RX_BF16}, {1, {40}, RX_F16}};
    sgd_case(2, halves, nest, 4); /* f32 buffers */
    sgd_cfg own = nest;
    own.buf_dtype = (rx_dtype)-1; /* bf16 / f16 buffers used as stored */
    sgd_case(2, halves, own, 4);
    pspec mixed[] = {{1, {50000}, RX_F32}, {2, {7, 3}, RX_BF16}, {1, {9}, RX_F64}};
    sgd_case(3, mixed, mom, 3);
}

static void test_sgd_noncontiguous(void)
{
    int64_t bs[2] = {5, 7}, s[2] = {7, 5};
    rx_tensor *base = make(2, bs, RX_F64, 1), *p, *bbase = t_zeros(2, bs, RX_F32), *buf;
    CHECK_OK(rx_transpose(base, 0, 1, &p));
    CHECK_OK(rx_transpose(bbase, 0, 1, &buf));
    double *rp = t_values(p), rb[35];
    for (int st = 1; st <= 3; st++) {
        rx_tensor *g = make(2, s, RX_F64, st);
        CHECK_OK(rx_sgd_step(1, &p, &g, &buf, 0.1, 0.9, 0, 0, 0, st == 1));
        double *gv = t_values(g);
        for (int k = 0; k < 35; k++) {
            double bb = st == 1 ? gv[k] : 0.9 * rb[k] + gv[k];
            rb[k] = (float)bb;
            rp[k] -= 0.1 * rb[k];
        }
        free(gv);
        rx_tensor_release(g);
    }
    CHECK_TENSOR(p, 2, s, rp, 1e-12, 1e-12);
    CHECK_TENSOR(buf, 2, s, rb, 1e-7, 1e-6);
    free(rp);
    rx_tensor *all[] = {base, p, bbase, buf};
    for (int i = 0; i < 4; i++) rx_tensor_release(all[i]);
}

static void test_sgd_errors(void)
{
    int64_t s3 = 3;
    rx_tensor *p = make(1, &s3, RX_F32, 1), *g = make(1, &s3, RX_F32, 2), *b = t_zeros(1, &s3, RX_F32);
    rx_tensor *b16 = t_zeros(1, &s3, RX_F16), *g16 = make(1, &s3, RX_BF16, 2);
    CHECK_ERR(rx_sgd_step(1, &p, &g, NULL, 0.1, 0.9, 0, 0, 0, 1), RX_ERR_ARG, "momentum_bufs");
    CHECK_ERR(rx_sgd_step(1, &p, &g, &b, 0.1, 0.9, 0.1, 0, 1, 1), RX_ERR_ARG,
              "nesterov needs momentum > 0 and dampening 0");
    CHECK_ERR(rx_sgd_step(1, &p, &g, NULL, 0.1, 0, 0, 0, 1, 1), RX_ERR_ARG, "nesterov");
    CHECK_ERR(rx_sgd_step(1, &p, &g, &b16, 0.1, 0.9, 0, 0, 0, 1), RX_ERR_DTYPE,
              "momentum_bufs[0]): expected f32 or params[0]'s dtype f32, got f16");
    CHECK_ERR(rx_sgd_step(1, &p, &g16, NULL, 0.1, 0, 0, 0, 0, 1), RX_ERR_DTYPE,
              "grads[0]) is bf16 but params[0] is f32");
    CHECK_ERR(rx_sgd_step(1, &p, &g, &p, 0.1, 0.9, 0, 0, 0, 1), RX_ERR_ARG, "shares storage");
    CHECK_ERR(rx_sgd_step(1, &p, &g, NULL, -0.1, 0, 0, 0, 0, 1), RX_ERR_ARG, "lr");
    CHECK_ERR(rx_sgd_step(1, &p, &g, NULL, 0.1, -1, 0, 0, 0, 1), RX_ERR_ARG, "momentum");
    CHECK_ERR(rx_sgd_step(1, &p, &g, NULL, 0.1, 0, 0, -1, 0, 1), RX_ERR_ARG, "weight_decay");
    rx_tensor *P[2] = {p, NULL}, *G[2] = {g, g};
    CHECK_ERR(rx_sgd_step(2, P, G, NULL, 0.1, 0, 0, 0, 0, 1), RX_ERR_ARG, "params[1]");
    rx_tensor *all[] = {p, g, b, b16, g16};
    for (int i = 0; i < 5; i++) rx_tensor_release(all[i]);
}

/* ---- global norm and scale ------------------------------------------------------------------ */

static void test_global_norm(void)
{
    int64_t big[2] = {400, 300}, s5[1] = {5}, s23[2] = {2, 3}, e[2] = {0, 7}, bs[2] = {4, 6};
    rx_tensor *t[7];
    t[0] = make(2, big, RX_F32, 1);
    t[1] = make(1, s5, RX_F64, 2);
    t[2] = make(2, s23, RX_BF16, 3);
    t[3] = make(2, s23, RX_F16, 4);
    t[4] = make(2, e, RX_F32, 5);
    rx_tensor *base = make(2, bs, RX_F32, 6), *nar, *row;
    CHECK_OK(rx_narrow(base, 1, 2, 3, &nar));
    CHECK_OK(rx_transpose(nar, 0, 1, &t[5]));
    int64_t one[2] = {1, 9}, nine[2] = {4, 9};
    row = make(2, one, RX_F64, 7);
    CHECK_OK(rx_expand(row, 2, nine, &t[6]));
    double ref = 0;
    for (int i = 0; i < 7; i++) {
        double *v = t_values(t[i]);
        for (int64_t k = 0; k < numel_of(t[i]); k++) ref += v[k] * v[k];
        free(v);
    }
    ref = sqrt(ref);
    double got = -1;
    CHECK_OK(rx_global_norm(7, t, &got));
    CHECK_CLOSE(got, ref, 1e-13);
    /* one tensor: the plain L2 norm */
    CHECK_OK(rx_global_norm(1, &t[1], &got));
    double *v = t_values(t[1]), r1 = 0;
    for (int k = 0; k < 5; k++) r1 += v[k] * v[k];
    free(v);
    CHECK_CLOSE(got, sqrt(r1), 1e-15);
    CHECK_OK(rx_global_norm(0, NULL, &got));
    CHECK(got == 0);
    /* many equal small squares: accumulated in double */
    int64_t n = 1 << 17;
    rx_tensor *ones = NULL;
    CHECK_OK(rx_full(1, &n, 1e-4, RX_F32, rx_cpu(), &ones));
    CHECK_OK(rx_global_norm(1, &ones, &got));
    CHECK_CLOSE(got, sqrt((double)n * (double)(float)1e-4 * (double)(float)1e-4), 1e-12);
    rx_tensor *it = make(1, s5, RX_I32, 1);
    CHECK_ERR(rx_global_norm(1, &it, &got), RX_ERR_DTYPE, "tensors[0]): expected a floating-point");
    CHECK_ERR(rx_global_norm(1, &t[0], NULL), RX_ERR_ARG, "output");
    rx_tensor *withnull[2] = {t[0], NULL};
    CHECK_ERR(rx_global_norm(2, withnull, &got), RX_ERR_ARG, "tensors[1]");
    for (int i = 0; i < 7; i++) rx_tensor_release(t[i]);
    rx_tensor *all[] = {base, nar, row, ones, it};
    for (int i = 0; i < 5; i++) rx_tensor_release(all[i]);
}

static void test_scale(void)
{
    int64_t big[1] = {70001}, s23[2] = {2, 3}, bs[2] = {3, 4}, e[1] = {0};
    const double s = 0.3;
    rx_tensor *base = make(2, bs, RX_F32, 6), *tr;
    CHECK_OK(rx_transpose(base, 0, 1, &tr));
    rx_tensor *t[6] = {make(1, big, RX_F32, 1),
                       make(2, s23, RX_F64, 2),
                       make(2, s23, RX_BF16, 3),
                       make(2, s23, RX_F16, 4),
                       tr,
                       make(1, e, RX_F32, 5)};
    double *before[6];
    for (int i = 0; i < 6; i++) before[i] = t_values(t[i]);
    int64_t v0 = version_of(base);
    CHECK_OK(rx_scale_(6, t, s));
    CHECK(version_of(base) > v0);
    for (int i = 0; i < 6; i++) {
        rx_dtype dt = rx_tensor_dtype(t[i]);
        int64_t n = numel_of(t[i]);
        double *ref = malloc(sizeof(double) * (size_t)(n + 1));
        /* f32 math for f32/f16/bf16: the product of two floats is exact in double */
        for (int64_t k = 0; k < n; k++)
            ref[k] =
                dt == RX_F64 ? before[i][k] * s : ref_round(dt, (float)(before[i][k] * (double)(float)s));
        CHECK_TENSOR(t[i], rx_tensor_ndim(t[i]), rx_tensor_shape_ptr(t[i]), ref, 0, 0);
        free(ref);
        free(before[i]);
    }
    int64_t one = 1;
    rx_tensor *it = make(1, &one, RX_I64, 1);
    CHECK_ERR(rx_scale_(1, &it, 2), RX_ERR_DTYPE, "scale_: argument #2 (tensors[0])");
    CHECK_ERR(rx_scale_(1, NULL, 2), RX_ERR_ARG, "scale_");
    for (int i = 0; i < 6; i++) rx_tensor_release(t[i]);
    rx_tensor_release(base);
    rx_tensor_release(it);
}

/* Gradient clipping as the Lua layer will spell it: norm, then scale by max_norm / norm. */
static void test_clip_by_global_norm(void)
{
    int64_t s4 = 4;
    double a[4] = {3, 0, 0, 0}, b[4] = {0, 4, 0, 0};
    rx_tensor *t[2] = {t_from(1, &s4, RX_F32, a), t_from(1, &s4, RX_F32, b)};
    double norm;
    CHECK_OK(rx_global_norm(2, t, &norm));
    CHECK_CLOSE(norm, 5, 1e-15);
    CHECK_OK(rx_scale_(2, t, 1.0 / norm));
    CHECK_OK(rx_global_norm(2, t, &norm));
    CHECK_CLOSE(norm, 1, 1e-7);
    rx_tensor_release(t[0]);
    rx_tensor_release(t[1]);
}

int main(void)
{
    RUN(test_adamw_f32_many_sizes);
    RUN(test_adamw_f64);
    RUN(test_adamw_half_params);
    RUN(test_adamw_mixed_dtypes);
    RUN(test_adamw_bias_correction);
    RUN(test_adamw_noncontiguous);
    RUN(test_thread_independence);
    RUN(test_adamw_versions_and_no_recording);
    RUN(test_adamw_errors);
    RUN(test_sgd);
    RUN(test_sgd_noncontiguous);
    RUN(test_sgd_errors);
    RUN(test_global_norm);
    RUN(test_scale);
    RUN(test_clip_by_global_norm);
    return check_finish();
}
