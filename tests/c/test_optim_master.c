/* test_optim_master.c — rx_adamw_step_master (AdamW with f32 master weights) on the CPU.
 *
 * Covers: several steps with weight decay and bias correction for bf16, f16 and f32 parameters
 * (mixed in one call, sizes that run in parallel chunks, 0-d and empty tensors) against a
 * reference written here in double that keeps the master, the moments and the parameter exactly
 * as the runtime stores them (master and state rounded to f32, the parameter = the master
 * rounded to its dtype with round-to-nearest-even written independently); the point of master
 * weights (updates smaller than half a bf16 ulp accumulate in the master and reach the bf16
 * parameter once they add up, where a plain bf16 AdamW step loses them); non-contiguous
 * parameters, masters and state (staged and written back); versions bumped; and every argument
 * error (dtypes, shapes, aliasing, options) with the argument named.
 */
#include "check.h"

#include "autograd/autograd.h"

#include <stdlib.h>

static double val(rx_dtype dt, int64_t seed, int64_t i)
{
    return sin(0.41 * (double)i + 1.7 * (double)seed) * (1 + 0.2 * (double)(i % 7));
}

static rx_tensor *make(int ndim, const int64_t *shape, rx_dtype dt, int seed)
{
    return t_gen(ndim, shape, dt, val, seed, NULL);
}

/* The state of one parameter in the double reference. */
typedef struct ref {
    int64_t n;
    double *w, *m, *v, *g;
} ref;

static ref ref_new(rx_tensor *master, rx_tensor *grad)
{
    ref r = {rx_tensor_numel(master), t_values(master), NULL, NULL, t_values(grad)};
    r.m = calloc((size_t)(r.n ? r.n : 1), sizeof(double));
    r.v = calloc((size_t)(r.n ? r.n : 1), sizeof(double));
    return r;
}

static void ref_free(ref *r)
{
    free(r->w), free(r->m), free(r->v), free(r->g);
}

/* One torch.optim.AdamW step in double; master and moments are stored as f32 by the runtime. */
static void ref_step(ref *r, const rx_adamw_opts *o)
{
    double bc1 = 1 - pow(o->beta1, (double)o->step), bc2 = 1 - pow(o->beta2, (double)o->step);
    for (int64_t i = 0; i < r->n; i++) {
        double g = r->g[i];
        r->m[i] = (float)(o->beta1 * r->m[i] + (1 - o->beta1) * g);
        r->v[i] = (float)(o->beta2 * r->v[i] + (1 - o->beta2) * g * g);
        double w = r->w[i] * (1 - o->lr * o->weight_decay);
        w -= o->lr / bc1 * r->m[i] / (sqrt(r->v[i]) / sqrt(bc2) + o->eps);
        r->w[i] = (float)w;
    }
}

/* The parameter is exactly the master rounded to its dtype; the master follows the reference. */
static void check_against(const ref *r, rx_tensor *param, rx_tensor *master)
{
    double *p = t_values(param), *w = t_values(master);
    rx_dtype dt = rx_tensor_dtype(param);
    int bad_p = 0, bad_w = 0;
    for (int64_t i = 0; i < r->n; i++) {
        if (fabs(w[i] - r->w[i]) > 1e-6 + 1e-5 * fabs(r->w[i])) bad_w++;
        if (p[i] != ref_round(dt, w[i])) bad_p++;
    }
    if (bad_w) check_fail(__FILE__, __LINE__, "%d of %lld master values off the double reference (%s)", bad_w,
                          (long long)r->n, rx_dtype_name(dt));
    if (bad_p) check_fail(__FILE__, __LINE__, "%d of %lld %s parameters are not the rounded master", bad_p,
                          (long long)r->n, rx_dtype_name(dt));
    free(p), free(w);
}

static rx_tensor *f32_copy(rx_tensor *t)
{
    rx_tensor *o = NULL, *c = NULL;
    CHECK_OK(rx_to_dtype(t, RX_F32, &o));
    CHECK_OK(rx_clone(o, &c)); /* a storage of its own even when t is f32 */
    rx_tensor_release(o);
    return c;
}

static void test_steps_mixed_dtypes(void)
{
    enum { N = 6 };
    const rx_dtype dts[N] = {RX_BF16, RX_F16, RX_F32, RX_BF16, RX_F16, RX_BF16};
    const int64_t shapes[N][2] = {{3, 5}, {70000, 1}, {17, 33}, {1, 1}, {0, 4}, {257, 300}};
    rx_tensor *p[N], *w[N], *g[N], *m[N], *v[N];
    ref r[N];
    for (int i = 0; i < N; i++) {
        p[i] = make(2, shapes[i], dts[i], i);
        w[i] = f32_copy(p[i]);
        g[i] = make(2, shapes[i], dts[i], 100 + i);
        m[i] = t_zeros(2, shapes[i], RX_F32);
        v[i] = t_zeros(2, shapes[i], RX_F32);
        r[i] = ref_new(w[i], g[i]);
    }
    rx_adamw_opts o = {.lr = 3e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
    for (int step = 1; step <= 4; step++) {
        o.step = step;
        CHECK_OK(rx_adamw_step_master(N, p, w, g, m, v, &o));
        for (int i = 0; i < N; i++) ref_step(&r[i], &o);
    }
    for (int i = 0; i < N; i++) {
        check_against(&r[i], p[i], w[i]);
        double *mv = t_values(m[i]);
        for (int64_t k = 0; k < r[i].n; k++) CHECK_CLOSE(mv[k], r[i].m[k], 1e-6);
        free(mv);
        ref_free(&r[i]);
        rx_tensor_release(p[i]), rx_tensor_release(w[i]), rx_tensor_release(g[i]);
        rx_tensor_release(m[i]), rx_tensor_release(v[i]);
    }
}

/* Updates below half a bf16 ulp: lost by plain bf16 AdamW, accumulated by the master. */
static void test_small_updates_accumulate(void)
{
    int64_t shape[1] = {64};
    double ones[64], grads[64];
    for (int i = 0; i < 64; i++) ones[i] = 1.0, grads[i] = 1.0;
    rx_tensor *p = t_from(1, shape, RX_BF16, ones), *plain = t_from(1, shape, RX_BF16, ones);
    rx_tensor *g = t_from(1, shape, RX_BF16, grads), *w = f32_copy(p);
    rx_tensor *m = t_zeros(1, shape, RX_F32), *v = t_zeros(1, shape, RX_F32);
    rx_tensor *m2 = t_zeros(1, shape, RX_F32), *v2 = t_zeros(1, shape, RX_F32);
    /* each step moves a weight by about lr = 1e-3, an eighth of bf16's ulp at 1 (2^-7) */
    rx_adamw_opts o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
    for (int step = 1; step <= 20; step++) {
        o.step = step;
        CHECK_OK(rx_adamw_step_master(1, &p, &w, &g, &m, &v, &o));
        CHECK_OK(rx_adamw_step(1, &plain, &g, &m2, &v2, &o));
    }
    double *pv = t_values(p), *wv = t_values(w), *plv = t_values(plain);
    CHECK_CLOSE(wv[0], 1.0 - 20 * 1e-3, 1e-4);          /* the master moved by 20 lr */
    CHECK(pv[0] == ref_round(RX_BF16, wv[0]) && pv[0] < 1.0); /* and the parameter followed it */
    CHECK(plv[0] == 1.0);                                  /* plain bf16 steps rounded back every time */
    free(pv), free(wv), free(plv);
    rx_tensor *all[] = {p, plain, g, w, m, v, m2, v2};
    for (int i = 0; i < 8; i++) rx_tensor_release(all[i]);
}

static void test_noncontiguous_and_versions(void)
{
    int64_t shape[2] = {6, 9}, tshape[2] = {9, 6};
    rx_tensor *pb = make(2, tshape, RX_BF16, 1), *p = NULL; /* a transposed parameter */
    CHECK_OK(rx_transpose(pb, 0, 1, &p));
    rx_tensor *wc = f32_copy(p), *wb = t_zeros(2, tshape, RX_F32), *w = NULL; /* a transposed master */
    CHECK_OK(rx_transpose(wb, 0, 1, &w));
    CHECK_OK(rx_copy_(w, wc));
    rx_tensor *g = make(2, shape, RX_BF16, 7), *m = t_zeros(2, shape, RX_F32), *v = t_zeros(2, shape, RX_F32);
    ref r = ref_new(w, g);
    int64_t ver_p = rx_tensor_version(p), ver_w = rx_tensor_version(w), ver_m = rx_tensor_version(m);
    rx_adamw_opts o = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.01};
    for (int step = 1; step <= 3; step++) {
        o.step = step;
        CHECK_OK(rx_adamw_step_master(1, &p, &w, &g, &m, &v, &o));
        ref_step(&r, &o);
    }
    check_against(&r, p, w);
    CHECK(rx_tensor_version(p) > ver_p && rx_tensor_version(w) > ver_w && rx_tensor_version(m) > ver_m);
    ref_free(&r);
    rx_tensor *all[] = {pb, p, wc, wb, w, g, m, v};
    for (int i = 0; i < 8; i++) rx_tensor_release(all[i]);
}

static void test_errors(void)
{
    int64_t shape[2] = {4, 3}, other[2] = {3, 4};
    rx_tensor *p = make(2, shape, RX_BF16, 1), *w = t_zeros(2, shape, RX_F32);
    rx_tensor *g = make(2, shape, RX_BF16, 2);
    rx_tensor *m = t_zeros(2, shape, RX_F32), *v = t_zeros(2, shape, RX_F32);
    rx_tensor *w16 = t_zeros(2, shape, RX_F16), *wbad = t_zeros(2, other, RX_F32);
    rx_tensor *g32 = make(2, shape, RX_F32, 3);
    rx_tensor *p64 = make(2, shape, RX_F64, 4), *g64 = make(2, shape, RX_F64, 5);
    rx_adamw_opts o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .step = 1};
    CHECK_ERR(rx_adamw_step_master(1, &p, &w16, &g, &m, &v, &o), RX_ERR_DTYPE, "argument #3 (master_f32[0]): expected f32");
    CHECK_ERR(rx_adamw_step_master(1, &p, &wbad, &g, &m, &v, &o), RX_ERR_SHAPE, "master_f32[0]");
    CHECK_ERR(rx_adamw_step_master(1, &p, &w, &g32, &m, &v, &o), RX_ERR_DTYPE, "argument #4 (grads[0]) is f32");
    CHECK_ERR(rx_adamw_step_master(1, &p64, &w, &g64, &m, &v, &o), RX_ERR_DTYPE, "expected f16, bf16 or f32, got f64");
    CHECK_ERR(rx_adamw_step_master(1, &p, &m, &g, &m, &v, &o), RX_ERR_ARG, "exp_avg[0]) shares storage with master_f32[0]");
    CHECK_ERR(rx_adamw_step_master(1, &p, &w, &g, &m, &v, NULL), RX_ERR_ARG, "argument #7: expected options");
    CHECK_ERR(rx_adamw_step_master(1, &p, NULL, &g, &m, &v, &o), RX_ERR_ARG, "argument #3 (master_f32)");
    rx_adamw_opts bad = o;
    bad.step = 0;
    CHECK_ERR(rx_adamw_step_master(1, &p, &w, &g, &m, &v, &bad), RX_ERR_ARG, "expected step >= 1");
    bad = o;
    bad.beta2 = 1.0;
    CHECK_ERR(rx_adamw_step_master(1, &p, &w, &g, &m, &v, &bad), RX_ERR_ARG, "betas in [0, 1)");
    CHECK_ERR(rx_adamw_step_master(-1, &p, &w, &g, &m, &v, &o), RX_ERR_ARG, "list length >= 0");
    /* nothing was written by the failed calls */
    double *wv = t_values(w);
    for (int i = 0; i < 12; i++) CHECK(wv[i] == 0.0);
    free(wv);
    CHECK_OK(rx_adamw_step_master(0, NULL, NULL, NULL, NULL, NULL, &o));
    rx_tensor *all[] = {p, w, g, m, v, w16, wbad, g32, p64, g64};
    for (int i = 0; i < 10; i++) rx_tensor_release(all[i]);
}

int main(void)
{
    RUN(test_steps_mixed_dtypes);
    RUN(test_small_updates_accumulate);
    RUN(test_noncontiguous_and_versions);
    RUN(test_errors);
    return check_finish();
}
