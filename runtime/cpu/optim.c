/* optim.c — CPU optimizer kernels: AdamW (also with f32 master weights), SGD, sums of squares
 * (global norm) and scaling (see "optimizer kernels" in backend/backend.h).
 *
 * Owns: the flattened work list and the per-element update rules. A call cuts every tensor into
 * fixed chunks of OPTIM_CHUNK elements and runs the (tensor, chunk) items of ALL tensors in one
 * OpenMP loop, so that many small tensors and a few big ones both spread over the threads. The
 * chunking never depends on the thread count, and sums of squares are per-chunk doubles added
 * in chunk order, so every result is the same for any number of threads.
 *
 * Precision: parameters are updated in f32 (f16 and bf16 parameters are read into f32, updated
 * and rounded back to nearest even once per step) and in f64 for f64 parameters; AdamW's state
 * is f32 and, for f64 parameters, is updated in f64 and rounded to f32 when stored. The AdamW
 * moment update is the lerp m + (1-b1)(g - m) (torch's form of b1 m + (1-b1) g). With master
 * weights, the f32 update runs on the f32 master copy and the parameter receives it rounded.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <stdlib.h>

#define OPTIM_CHUNK 16384 /* elements of one work item */

typedef struct work_item {
    int tensor;
    int64_t begin, len;
} work_item;

/* The (tensor, chunk) items of n tensors; *total = all their elements. */
static rx_status work_list(const char *op, int n, rx_tensor *const *ts, work_item **out, int64_t *count,
                           int64_t *total)
{
    int64_t c = 0, tot = 0;
    for (int i = 0; i < n; i++) {
        int64_t numel = rx_tensor_numel(ts[i]);
        c += (numel + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
        tot += numel;
    }
    work_item *w = malloc(sizeof *w * (size_t)(c > 0 ? c : 1));
    if (!w) return rx_fail(RX_ERR_NOMEM, "%s: out of host memory for %lld work items", op, (long long)c);
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        int64_t numel = rx_tensor_numel(ts[i]);
        for (int64_t b = 0; b < numel; b += OPTIM_CHUNK) {
            w[k].tensor = i;
            w[k].begin = b;
            w[k].len = numel - b < OPTIM_CHUNK ? numel - b : OPTIM_CHUNK;
            k++;
        }
    }
    *out = w;
    *count = c;
    *total = tot;
    return RX_OK;
}

/* The first byte of item w's chunk in ts[w->tensor] (lists of one call cut alike). */
static inline char *chunk(rx_tensor *const *ts, const work_item *w)
{
    const rx_tensor *t = ts[w->tensor];
    return rx_tensor_bytes(t) + w->begin * rx_dtype_size(t->dtype);
}

/* Element i of a float buffer of dtype dt, as f32 / stored from f32. */
static inline float load_f(const char *p, rx_dtype dt, int64_t i)
{
    switch (dt) {
    case RX_F16: return rx_f16_to_f32(((const uint16_t *)p)[i]);
    case RX_BF16: return rx_bf16_to_f32(((const uint16_t *)p)[i]);
    case RX_F64: return (float)((const double *)p)[i];
    default: return ((const float *)p)[i];
    }
}

static inline void store_f(char *p, rx_dtype dt, int64_t i, float v)
{
    switch (dt) {
    case RX_F16: ((uint16_t *)p)[i] = rx_f32_to_f16(v); break;
    case RX_BF16: ((uint16_t *)p)[i] = rx_f32_to_bf16(v); break;
    case RX_F64: ((double *)p)[i] = v; break;
    default: ((float *)p)[i] = v; break;
    }
}

/* Element i of an f64 or f32 buffer as double / stored from double. */
static inline double load_d(const char *p, rx_dtype dt, int64_t i)
{
    return dt == RX_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static inline void store_d(char *p, rx_dtype dt, int64_t i, double v)
{
    if (dt == RX_F64)
        ((double *)p)[i] = v;
    else
        ((float *)p)[i] = (float)v;
}

/* ---- AdamW --------------------------------------------------------------------------------- */

typedef struct adamw_k {
    double decay;     /* 1 - lr * wd */
    double b1, omb1;  /* beta1, 1 - beta1 */
    double b2, omb2;  /* beta2, 1 - beta2 */
    double step_size; /* lr / (1 - beta1^t) */
    double bc2_sqrt;  /* sqrt(1 - beta2^t) */
    double eps;
} adamw_k;

/* a + w (b - a), evaluated from the nearer end for accuracy (torch.lerp's form). */
static inline float lerp_f(float a, float b, float w)
{
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1 - w);
}
static inline double lerp_d(double a, double b, double w)
{
    return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w);
}

static adamw_k adamw_consts(const rx_adamw_opts *opts)
{
    double t = (double)opts->step;
    adamw_k k = {
        .decay = 1 - opts->lr * opts->weight_decay,
        .b1 = opts->beta1,
        .omb1 = 1 - opts->beta1,
        .b2 = opts->beta2,
        .omb2 = 1 - opts->beta2,
        .step_size = opts->lr / (1 - pow(opts->beta1, t)),
        .bc2_sqrt = sqrt(1 - pow(opts->beta2, t)),
        .eps = opts->eps,
    };
    return k;
}

/* The constants of adamw_k rounded to f32, for the f32 update. */
typedef struct adamw_kf {
    float decay, omb1, b2, omb2, step, bc2s, eps;
} adamw_kf;

static inline adamw_kf adamw_consts_f32(const adamw_k *k)
{
    adamw_kf c = {(float)k->decay,     (float)k->omb1,     (float)k->b2, (float)k->omb2,
                  (float)k->step_size, (float)k->bc2_sqrt, (float)k->eps};
    return c;
}

/* One f32 AdamW update of parameter value p with gradient g: the moments *m and *v move in
 * place; returns the new parameter value. */
static inline float adamw_update_f32(float p, float g, float *m, float *v, const adamw_kf *c)
{
    float mi = lerp_f(*m, g, c->omb1);
    float vi = *v * c->b2 + c->omb2 * g * g;
    *m = mi;
    *v = vi;
    return p * c->decay - c->step * (mi / (sqrtf(vi) / c->bc2s + c->eps));
}

static void adamw_f32(float *p, const float *g, float *m, float *v, int64_t n, const adamw_k *k)
{
    const adamw_kf c = adamw_consts_f32(k);
    for (int64_t i = 0; i < n; i++) p[i] = adamw_update_f32(p[i], g[i], &m[i], &v[i], &c);
}

/* f16/bf16 parameters: f32 math, one rounding back per element. */
static void adamw_half(char *p, const char *g, float *m, float *v, int64_t n, rx_dtype dt, const adamw_k *k)
{
    const adamw_kf c = adamw_consts_f32(k);
    for (int64_t i = 0; i < n; i++)
        store_f(p, dt, i, adamw_update_f32(load_f(p, dt, i), load_f(g, dt, i), &m[i], &v[i], &c));
}

static void adamw_f64(double *p, const double *g, float *m, float *v, int64_t n, const adamw_k *k)
{
    for (int64_t i = 0; i < n; i++) {
        double gi = g[i];
        double mi = lerp_d(m[i], gi, k->omb1);
        double vi = v[i] * k->b2 + k->omb2 * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = p[i] * k->decay - k->step_size * (mi / (sqrt(vi) / k->bc2_sqrt + k->eps));
    }
}

rx_status rx_cpu_adamw_step(int n, rx_tensor *const *params, rx_tensor *const *grads,
                            rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq,
                            const rx_adamw_opts *opts)
{
    work_item *work;
    int64_t count, total;
    RX_TRY(work_list("adamw", n, params, &work, &count, &total));
    adamw_k k = adamw_consts(opts);
#pragma omp parallel for schedule(dynamic) if (total >= RX_PARALLEL_MIN)
    for (int64_t w = 0; w < count; w++) {
        const work_item *it = &work[w];
        int64_t len = it->len;
        rx_dtype dt = params[it->tensor]->dtype;
        char *p = chunk(params, it);
        const char *g = chunk(grads, it);
        float *m = (float *)chunk(exp_avg, it), *v = (float *)chunk(exp_avg_sq, it);
        if (dt == RX_F32)
            adamw_f32((float *)p, (const float *)g, m, v, len, &k);
        else if (dt == RX_F64)
            adamw_f64((double *)p, (const double *)g, m, v, len, &k);
        else
            adamw_half(p, g, m, v, len, dt, &k);
    }
    free(work);
    return RX_OK;
}

/* With f32 master weights: the f32 update on the master copy, then the parameter (f16, bf16 or
 * f32) = the master rounded to its dtype. */
static void adamw_master(char *p, float *w, const char *g, float *m, float *v, int64_t n, rx_dtype dt, const adamw_k *k)
{
    const adamw_kf c = adamw_consts_f32(k);
    for (int64_t i = 0; i < n; i++) {
        w[i] = adamw_update_f32(w[i], load_f(g, dt, i), &m[i], &v[i], &c);
        store_f(p, dt, i, w[i]);
    }
}

rx_status rx_cpu_adamw_step_master(int n, rx_tensor *const *params, rx_tensor *const *master, rx_tensor *const *grads,
                                   rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts)
{
    work_item *work;
    int64_t count, total;
    RX_TRY(work_list("adamw_master", n, params, &work, &count, &total));
    adamw_k k = adamw_consts(opts);
#pragma omp parallel for schedule(dynamic) if (total >= RX_PARALLEL_MIN)
    for (int64_t w = 0; w < count; w++) {
        const work_item *it = &work[w];
        adamw_master(chunk(params, it), (float *)chunk(master, it), chunk(grads, it),
                     (float *)chunk(exp_avg, it), (float *)chunk(exp_avg_sq, it), it->len,
                     params[it->tensor]->dtype, &k);
    }
    free(work);
    return RX_OK;
}

/* ---- SGD ----------------------------------------------------------------------------------- */

typedef struct sgd_k {
    double lr, momentum, dampening, wd;
    bool nesterov, first, use_buf;
} sgd_k;

/* Parameters of f32/f16/bf16: f32 math; the buffer (f32 or the param's dtype) used as stored. */
static void sgd_float(char *p, const char *g, char *buf, rx_dtype dt, rx_dtype bdt, int64_t n, const sgd_k *k)
{
    const float lr = (float)k->lr, mom = (float)k->momentum, omd = (float)(1 - k->dampening),
                wd = (float)k->wd;
    for (int64_t i = 0; i < n; i++) {
        float pi = load_f(p, dt, i);
        float d = load_f(g, dt, i);
        if (k->wd != 0) d += wd * pi;
        if (k->use_buf) {
            float b = k->first ? d : load_f(buf, bdt, i) * mom + omd * d;
            store_f(buf, bdt, i, b);
            b = load_f(buf, bdt, i);
            d = k->nesterov ? d + mom * b : b;
        }
        store_f(p, dt, i, pi - lr * d);
    }
}

/* f64 parameters: f64 math; the buffer is f64 or f32. */
static void sgd_double(double *p, const double *g, char *buf, rx_dtype bdt, int64_t n, const sgd_k *k)
{
    for (int64_t i = 0; i < n; i++) {
        double d = g[i];
        if (k->wd != 0) d += k->wd * p[i];
        if (k->use_buf) {
            double b = k->first ? d : load_d(buf, bdt, i) * k->momentum + (1 - k->dampening) * d;
            store_d(buf, bdt, i, b);
            b = load_d(buf, bdt, i);
            d = k->nesterov ? d + k->momentum * b : b;
        }
        p[i] -= k->lr * d;
    }
}

rx_status rx_cpu_sgd_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *bufs,
                          double lr, double momentum, double dampening, double weight_decay, int nesterov,
                          int first_step)
{
    work_item *work;
    int64_t count, total;
    RX_TRY(work_list("sgd", n, params, &work, &count, &total));
    sgd_k k = {lr, momentum, dampening, weight_decay, nesterov != 0, first_step != 0, bufs != NULL};
#pragma omp parallel for schedule(dynamic) if (total >= RX_PARALLEL_MIN)
    for (int64_t w = 0; w < count; w++) {
        const work_item *it = &work[w];
        int64_t len = it->len;
        rx_dtype dt = params[it->tensor]->dtype;
        char *p = chunk(params, it);
        const char *g = chunk(grads, it);
        rx_dtype bdt = bufs ? bufs[it->tensor]->dtype : RX_F32;
        char *buf = bufs ? chunk(bufs, it) : NULL;
        if (dt == RX_F64)
            sgd_double((double *)p, (const double *)g, buf, bdt, len, &k);
        else
            sgd_float(p, g, buf, dt, bdt, len, &k);
    }
    free(work);
    return RX_OK;
}

/* ---- sums of squares and scaling ------------------------------------------------------------ */

static double sum_squares_chunk(const char *p, rx_dtype dt, int64_t n)
{
    double acc[4] = {0, 0, 0, 0};
    int64_t i = 0;
    if (dt == RX_F32) {
        const float *x = (const float *)p;
        for (; i + 4 <= n; i += 4)
            for (int l = 0; l < 4; l++) acc[l] += (double)x[i + l] * x[i + l];
    } else if (dt == RX_F64) {
        const double *x = (const double *)p;
        for (; i + 4 <= n; i += 4)
            for (int l = 0; l < 4; l++) acc[l] += x[i + l] * x[i + l];
    }
    for (; i < n; i++) {
        double x = dt == RX_F64 ? ((const double *)p)[i] : (double)load_f(p, dt, i);
        acc[i & 3] += x * x;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

rx_status rx_cpu_sum_squares(int n, rx_tensor *const *tensors, double *out)
{
    work_item *work;
    int64_t count, total;
    RX_TRY(work_list("global_norm", n, tensors, &work, &count, &total));
    double *partial = malloc(sizeof *partial * (size_t)(count > 0 ? count : 1));
    if (!partial) {
        free(work);
        return rx_fail(RX_ERR_NOMEM, "global_norm: out of host memory");
    }
#pragma omp parallel for schedule(dynamic) if (total >= RX_PARALLEL_MIN)
    for (int64_t w = 0; w < count; w++)
        partial[w] = sum_squares_chunk(chunk(tensors, &work[w]), tensors[work[w].tensor]->dtype, work[w].len);
    for (int i = 0; i < n; i++) out[i] = 0;
    for (int64_t w = 0; w < count; w++) out[work[w].tensor] += partial[w];
    free(partial);
    free(work);
    return RX_OK;
}

rx_status rx_cpu_scale(int n, rx_tensor *const *tensors, double s)
{
    work_item *work;
    int64_t count, total;
    RX_TRY(work_list("scale_", n, tensors, &work, &count, &total));
    const float sf = (float)s;
#pragma omp parallel for schedule(dynamic) if (total >= RX_PARALLEL_MIN)
    for (int64_t w = 0; w < count; w++) {
        rx_dtype dt = tensors[work[w].tensor]->dtype;
        char *p = chunk(tensors, &work[w]);
        int64_t len = work[w].len;
        if (dt == RX_F64) {
            double *x = (double *)p;
            for (int64_t i = 0; i < len; i++) x[i] *= s;
        } else if (dt == RX_F32) {
            float *x = (float *)p;
            for (int64_t i = 0; i < len; i++) x[i] *= sf;
        } else {
            for (int64_t i = 0; i < len; i++) store_f(p, dt, i, load_f(p, dt, i) * sf);
        }
    }
    free(work);
    return RX_OK;
}

/* The sums of squares per tensor added in tensor order, the square root, then the scaling: the
 * operations of rx_global_norm followed by rx_scale_, so the bits match that two-call form. */
rx_status rx_cpu_clip_grad_norm(int n, rx_tensor *const *tensors, double max_norm, rx_tensor *norm)
{
    double *sums = malloc(sizeof *sums * (size_t)(n > 0 ? n : 1));
    if (!sums) return rx_fail(RX_ERR_NOMEM, "clip_grad_norm_: out of host memory");
    rx_status s = rx_cpu_sum_squares(n, tensors, sums);
    double total = 0;
    for (int i = 0; i < n && s == RX_OK; i++) total += sums[i];
    free(sums);
    RX_TRY(s);
    total = sqrt(total);
    *(float *)rx_tensor_bytes(norm) = (float)total;
    double coef = max_norm / (total + 1e-6);
    if (isfinite(total) && coef < 1) return rx_cpu_scale(n, tensors, coef);
    return RX_OK;
}
