/* nn_norm.c — CPU RMSNorm and LayerNorm over the rows of (M, C), forward and backward.
 *
 * Owns: the per-row statistics (in double; LayerNorm takes the mean first, then the biased
 * variance of the deviations, which stays accurate for rows far from zero and for tiny eps such as
 * SASRec's 1e-10), the saved statistics (rstd, and mean for LayerNorm, as f32 or f64 stats), and
 * the fused backward: dx row by row from the saved statistics, and dw/db as fixed-order column
 * sums of per-chunk partials (see rx_nn_sum_chunks), so results do not depend on the thread
 * count. Rows are converted to double buffers (per-thread scratch) and the per-channel parameters
 * once per call; RMSNorm in f32 (the training path) instead works on the f32 rows directly, with
 * the row sums and the dw partials in double and the elementwise products in f32.
 *
 *   RMSNorm:   y = x r w,                  r = 1 / sqrt(mean(x^2) + eps)
 *              dx = r (g w) - r^3 x mean(g w x),   dw = sum_rows g x r
 *   LayerNorm: y = xh w + b,               xh = (x - mean) r, r = 1 / sqrt(var + eps)
 *              dx = r (g w - mean(g w) - xh mean(g w xh)),   dw = sum_rows g xh,   db = sum_rows g
 */
#include "cpu_kernels.h"
#include "strided.h"
#include "vexp.h"

#include <math.h>
#include <stdlib.h>

static rx_dtype stat_dtype(rx_dtype dt) { return dt == RX_F64 ? RX_F64 : RX_F32; }

/* sum_j a[j] b[j] (b == NULL: sum_j a[j]) with four running sums, so the additions do not wait on
 * each other; the order is fixed. */
static double dot(const double *a, const double *b, int64_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t j = 0;
    if (b) {
        for (; j + 4 <= n; j += 4) {
            s0 += a[j] * b[j];
            s1 += a[j + 1] * b[j + 1];
            s2 += a[j + 2] * b[j + 2];
            s3 += a[j + 3] * b[j + 3];
        }
        for (; j < n; j++) s0 += a[j] * b[j];
    } else {
        for (; j + 4 <= n; j += 4) {
            s0 += a[j];
            s1 += a[j + 1];
            s2 += a[j + 2];
            s3 += a[j + 3];
        }
        for (; j < n; j++) s0 += a[j];
    }
    return (s0 + s1) + (s2 + s3);
}

/* Buffers of one call: `params` per-channel parameters as doubles (c each, w first; ones for an
 * absent w, zeros for an absent b), per-thread scratch of `rows` rows of c, and `nsums` column
 * partial-sum tables of nchunks rows of c. */
typedef struct norm_bufs {
    double *params, *scratch, *partials;
    int64_t chunk, nchunks;
} norm_bufs;

static void bufs_free(norm_bufs *b)
{
    free(b->params);
    free(b->scratch);
    free(b->partials);
}

static rx_status bufs_new(const char *op, int64_t m, int64_t c, const rx_tensor *w, const rx_tensor *b,
                          int rows, int nsums, norm_bufs *out)
{
    *out = (norm_bufs){0};
    out->chunk = rx_nn_chunk_rows(m);
    out->nchunks = m ? (m + out->chunk - 1) / out->chunk : 1;
    out->params = malloc(sizeof(double) * (size_t)(2 * c + 1));
    out->scratch = rx_nn_scratch_new(op, rows * c);
    if (nsums) out->partials = calloc((size_t)(out->nchunks * c * nsums + 1), sizeof(double));
    if (!out->params || !out->scratch || (nsums && !out->partials)) {
        bufs_free(out);
        return rx_fail(RX_ERR_NOMEM, "cpu %s: out of host memory for row buffers", op);
    }
    double *pw = out->params, *pb = out->params + c;
    if (w)
        rx_nn_load(rx_tensor_bytes(w), w->dtype, c, pw);
    else
        for (int64_t j = 0; j < c; j++) pw[j] = 1.0;
    if (b)
        rx_nn_load(rx_tensor_bytes(b), b->dtype, c, pb);
    else
        for (int64_t j = 0; j < c; j++) pb[j] = 0.0;
    return RX_OK;
}

/* RMSNorm of the f32 rows [i0, i1) of x (M, c): out = x r w, rstd[i] = r (rstd may be NULL). */
RX_VEC_CLONES static void rmsnorm_rows_f32(float *out, float *rstd, const float *x, const float *w, int64_t i0,
                                           int64_t i1, int64_t c, double eps)
{
    for (int64_t i = i0; i < i1; i++) {
        const float *xr = x + i * c;
        float *yr = out + i * c;
        double ss = 0.0;
#pragma omp simd reduction(+ : ss)
        for (int64_t j = 0; j < c; j++) ss += (double)xr[j] * xr[j];
        float r = (float)(1.0 / sqrt(ss / (double)c + eps));
#pragma omp simd
        for (int64_t j = 0; j < c; j++) yr[j] = xr[j] * r * w[j];
        if (rstd) rstd[i] = r;
    }
}

/* RMSNorm backward over the f32 rows [i0, i1): dx rows (dx may be NULL) and, when pw is given,
 * pw[j] += sum over the rows of g x r (double partial sums). */
RX_VEC_CLONES static void rmsnorm_bwd_rows_f32(float *dx, double *pw, const float *g, const float *x,
                                               const float *w, const float *rstd, int64_t i0, int64_t i1,
                                               int64_t c)
{
    for (int64_t i = i0; i < i1; i++) {
        const float *xr = x + i * c, *gr = g + i * c;
        float r = rstd[i];
        if (pw) {
#pragma omp simd
            for (int64_t j = 0; j < c; j++) pw[j] += (double)(gr[j] * xr[j]) * r;
        }
        if (!dx) continue;
        double dot = 0.0;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < c; j++) dot += (double)(gr[j] * w[j]) * xr[j];
        float coef = (float)((double)r * r * r * dot / (double)c);
        float *dr = dx + i * c;
#pragma omp simd
        for (int64_t j = 0; j < c; j++) dr[j] = r * (gr[j] * w[j]) - coef * xr[j];
    }
}

/* w as f32 (ones when NULL) in buf, or w's own data; NULL when out of memory. */
static const float *weights_f32(const rx_tensor *w, int64_t c, float **buf)
{
    *buf = NULL;
    if (w) return (const float *)rx_tensor_bytes(w);
    *buf = malloc(sizeof(float) * (size_t)(c + 1));
    if (!*buf) return NULL;
    for (int64_t j = 0; j < c; j++) (*buf)[j] = 1.0f;
    return *buf;
}

static bool f32_path(const rx_tensor *x, const rx_tensor *w)
{
    return x->dtype == RX_F32 && (!w || w->dtype == RX_F32);
}

static rx_status rmsnorm_f32(rx_tensor *out, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w, double eps)
{
    int64_t m = x->shape[0], c = x->shape[1];
    float *ones;
    const float *wv = weights_f32(w, c, &ones);
    if (!wv) return rx_fail(RX_ERR_NOMEM, "cpu rmsnorm: out of host memory for %lld weights", (long long)c);
    float *op = (float *)rx_tensor_bytes(out), *rp = rstd ? (float *)rx_tensor_bytes(rstd) : NULL;
    const float *xp = (const float *)rx_tensor_bytes(x);
    int64_t rows = 16, nb = (m + rows - 1) / rows;
#pragma omp parallel for schedule(static) if (m > 1 && m * c >= RX_PARALLEL_MIN)
    for (int64_t k = 0; k < nb; k++)
        rmsnorm_rows_f32(op, rp, xp, wv, k * rows, (k + 1) * rows < m ? (k + 1) * rows : m, c, eps);
    free(ones);
    return RX_OK;
}

static rx_status rmsnorm_bwd_f32(rx_tensor *dx, rx_tensor *dw, const rx_tensor *g, const rx_tensor *x,
                                 const rx_tensor *w, const rx_tensor *rstd)
{
    int64_t m = x->shape[0], c = x->shape[1];
    int64_t chunk = rx_nn_chunk_rows(m), nchunks = m ? (m + chunk - 1) / chunk : 1;
    float *ones;
    const float *wv = weights_f32(w, c, &ones);
    double *partials = dw ? calloc((size_t)(nchunks * c + 1), sizeof(double)) : NULL;
    if (!wv || (dw && !partials)) {
        free(ones);
        free(partials);
        return rx_fail(RX_ERR_NOMEM, "cpu rmsnorm backward: out of host memory for row buffers");
    }
    float *dxp = dx ? (float *)rx_tensor_bytes(dx) : NULL;
    const float *gp = (const float *)rx_tensor_bytes(g), *xp = (const float *)rx_tensor_bytes(x),
                *rp = (const float *)rx_tensor_bytes(rstd);
#pragma omp parallel for schedule(static) if (nchunks > 1 && m * c >= RX_PARALLEL_MIN)
    for (int64_t k = 0; k < nchunks; k++)
        rmsnorm_bwd_rows_f32(dxp, partials ? partials + k * c : NULL, gp, xp, wv, rp, k * chunk,
                             (k + 1) * chunk < m ? (k + 1) * chunk : m, c);
    if (dw) rx_nn_sum_chunks(partials, nchunks, c, rx_tensor_bytes(dw), dw->dtype);
    free(ones);
    free(partials);
    return RX_OK;
}

rx_status rx_cpu_rmsnorm(rx_tensor *out, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w, double eps)
{
    if (f32_path(x, w)) return rmsnorm_f32(out, rstd, x, w, eps);
    int64_t m = x->shape[0], c = x->shape[1], es = rx_dtype_size(x->dtype);
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x);
    char *op = rx_tensor_bytes(out), *rp = rstd ? rx_tensor_bytes(rstd) : NULL;
    norm_bufs bf;
    RX_TRY(bufs_new("rmsnorm", m, c, w, NULL, 1, 0, &bf));
    const double *wv = bf.params;
    double inv_c = 1.0 / (double)(c ? c : 1);
#pragma omp parallel if (m > 1 && m * c >= RX_PARALLEL_MIN)
    {
        double *row = rx_nn_thread_scratch(bf.scratch, c);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m; i++) {
            rx_nn_load(xp + i * c * es, dt, c, row);
            double r = 1.0 / sqrt(dot(row, row, c) * inv_c + eps);
            for (int64_t j = 0; j < c; j++) row[j] *= r * wv[j];
            rx_nn_store(op + i * c * es, dt, c, row);
            if (rp) rx_nn_st(rp, i, st, r);
        }
    }
    bufs_free(&bf);
    return RX_OK;
}

rx_status rx_cpu_rmsnorm_bwd(rx_tensor *dx, rx_tensor *dw, const rx_tensor *g, const rx_tensor *x,
                             const rx_tensor *w, const rx_tensor *rstd)
{
    if (f32_path(x, w) && rstd->dtype == RX_F32) return rmsnorm_bwd_f32(dx, dw, g, x, w, rstd);
    int64_t m = x->shape[0], c = x->shape[1], es = rx_dtype_size(x->dtype);
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x), *gp = rx_tensor_bytes(g), *rp = rx_tensor_bytes(rstd);
    char *dxp = dx ? rx_tensor_bytes(dx) : NULL;
    norm_bufs bf;
    RX_TRY(bufs_new("rmsnorm backward", m, c, w, NULL, 2, dw ? 1 : 0, &bf));
    const double *wv = bf.params;
    double inv_c = 1.0 / (double)(c ? c : 1);
#pragma omp parallel if (bf.nchunks > 1 && m * c >= RX_PARALLEL_MIN)
    {
        double *xr = rx_nn_thread_scratch(bf.scratch, 2 * c), *gr = xr + c;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < bf.nchunks; k++) {
            double *pw = bf.partials ? bf.partials + k * c : NULL;
            int64_t end = (k + 1) * bf.chunk < m ? (k + 1) * bf.chunk : m;
            for (int64_t i = k * bf.chunk; i < end; i++) {
                rx_nn_load(xp + i * c * es, dt, c, xr);
                rx_nn_load(gp + i * c * es, dt, c, gr);
                double r = rx_nn_ld(rp, i, st);
                if (pw)
                    for (int64_t j = 0; j < c; j++) pw[j] += gr[j] * xr[j] * r;
                if (!dxp) continue;
                for (int64_t j = 0; j < c; j++) gr[j] *= wv[j];
                double coef = r * r * r * dot(gr, xr, c) * inv_c;
                for (int64_t j = 0; j < c; j++) gr[j] = r * gr[j] - coef * xr[j];
                rx_nn_store(dxp + i * c * es, dt, c, gr);
            }
        }
    }
    if (dw) rx_nn_sum_chunks(bf.partials, bf.nchunks, c, rx_tensor_bytes(dw), dw->dtype);
    bufs_free(&bf);
    return RX_OK;
}

rx_status rx_cpu_layernorm(rx_tensor *out, rx_tensor *mean, rx_tensor *rstd, const rx_tensor *x,
                           const rx_tensor *w, const rx_tensor *b, double eps)
{
    int64_t m = x->shape[0], c = x->shape[1], es = rx_dtype_size(x->dtype);
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x);
    char *op = rx_tensor_bytes(out);
    char *mp = mean ? rx_tensor_bytes(mean) : NULL, *rp = rstd ? rx_tensor_bytes(rstd) : NULL;
    norm_bufs bf;
    RX_TRY(bufs_new("layernorm", m, c, w, b, 1, 0, &bf));
    const double *wv = bf.params, *bv = bf.params + c;
    double inv_c = 1.0 / (double)(c ? c : 1);
#pragma omp parallel if (m > 1 && m * c >= RX_PARALLEL_MIN)
    {
        double *row = rx_nn_thread_scratch(bf.scratch, c);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m; i++) {
            rx_nn_load(xp + i * c * es, dt, c, row);
            double mu = dot(row, NULL, c) * inv_c;
            for (int64_t j = 0; j < c; j++) row[j] -= mu;
            double r = 1.0 / sqrt(dot(row, row, c) * inv_c + eps);
            for (int64_t j = 0; j < c; j++) row[j] = row[j] * r * wv[j] + bv[j];
            rx_nn_store(op + i * c * es, dt, c, row);
            if (mp) rx_nn_st(mp, i, st, mu);
            if (rp) rx_nn_st(rp, i, st, r);
        }
    }
    bufs_free(&bf);
    return RX_OK;
}

rx_status rx_cpu_layernorm_bwd(rx_tensor *dx, rx_tensor *dw, rx_tensor *db, const rx_tensor *g,
                               const rx_tensor *x, const rx_tensor *w, const rx_tensor *mean,
                               const rx_tensor *rstd)
{
    int64_t m = x->shape[0], c = x->shape[1], es = rx_dtype_size(x->dtype);
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x), *gp = rx_tensor_bytes(g);
    const char *mp = rx_tensor_bytes(mean), *rp = rx_tensor_bytes(rstd);
    char *dxp = dx ? rx_tensor_bytes(dx) : NULL;
    int nsums = (dw != NULL) + (db != NULL);
    norm_bufs bf;
    RX_TRY(bufs_new("layernorm backward", m, c, w, NULL, 2, nsums, &bf));
    const double *wv = bf.params;
    /* partials: nchunks rows of dw sums, then nchunks rows of db sums */
    double *pw_all = dw ? bf.partials : NULL, *pb_all = db ? bf.partials + (dw ? bf.nchunks * c : 0) : NULL;
    double inv_c = 1.0 / (double)(c ? c : 1);
#pragma omp parallel if (bf.nchunks > 1 && m * c >= RX_PARALLEL_MIN)
    {
        double *xh = rx_nn_thread_scratch(bf.scratch, 2 * c), *gr = xh + c;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < bf.nchunks; k++) {
            double *pw = pw_all ? pw_all + k * c : NULL, *pb = pb_all ? pb_all + k * c : NULL;
            int64_t end = (k + 1) * bf.chunk < m ? (k + 1) * bf.chunk : m;
            for (int64_t i = k * bf.chunk; i < end; i++) {
                rx_nn_load(xp + i * c * es, dt, c, xh);
                rx_nn_load(gp + i * c * es, dt, c, gr);
                double mu = rx_nn_ld(mp, i, st), r = rx_nn_ld(rp, i, st);
                for (int64_t j = 0; j < c; j++) xh[j] = (xh[j] - mu) * r;
                if (pw)
                    for (int64_t j = 0; j < c; j++) pw[j] += gr[j] * xh[j];
                if (pb)
                    for (int64_t j = 0; j < c; j++) pb[j] += gr[j];
                if (!dxp) continue;
                for (int64_t j = 0; j < c; j++) gr[j] *= wv[j];
                double s1 = dot(gr, NULL, c) * inv_c, s2 = dot(gr, xh, c) * inv_c;
                for (int64_t j = 0; j < c; j++) gr[j] = r * (gr[j] - s1 - xh[j] * s2);
                rx_nn_store(dxp + i * c * es, dt, c, gr);
            }
        }
    }
    if (dw) rx_nn_sum_chunks(pw_all, bf.nchunks, c, rx_tensor_bytes(dw), dw->dtype);
    if (db) rx_nn_sum_chunks(pb_all, bf.nchunks, c, rx_tensor_bytes(db), db->dtype);
    bufs_free(&bf);
    return RX_OK;
}
