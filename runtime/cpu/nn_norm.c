/* nn_norm.c — CPU RMSNorm and LayerNorm over the rows of (M, C), forward and backward.
 *
 * Owns: the per-row statistics (sums in double; LayerNorm takes the mean first, then the biased
 * variance of the deviations, which stays accurate for rows far from zero and for tiny eps such as
 * SASRec's 1e-10), the saved statistics (rstd, and mean for LayerNorm, as f32 or f64 stats), and
 * the fused backward: dx row by row from the saved statistics, and dw/db as fixed-order column
 * sums of per-chunk partials (see rx_nn_sum_chunks), so results do not depend on the thread
 * count.
 *
 *   RMSNorm:   y = x r w,                  r = 1 / sqrt(mean(x^2) + eps)
 *              dx = r (g w) - r^3 x mean(g w x),   dw = sum_rows g x r
 *   LayerNorm: y = xh w + b,               xh = (x - mean) r, r = 1 / sqrt(var + eps)
 *              dx = r (g w - mean(g w) - xh mean(g w xh)),   dw = sum_rows g xh,   db = sum_rows g
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <stdlib.h>

static rx_dtype stat_dtype(rx_dtype dt) { return dt == RX_F64 ? RX_F64 : RX_F32; }

rx_status rx_cpu_rmsnorm(rx_tensor *out, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w, double eps)
{
    int64_t m = x->shape[0], c = x->shape[1];
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x), *wp = rx_tensor_bytes(w);
    char *op = rx_tensor_bytes(out), *rp = rstd ? rx_tensor_bytes(rstd) : NULL;
#pragma omp parallel for schedule(static) if (m > 1 && m * c >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < m; i++) {
        int64_t base = i * c;
        double ss = 0.0;
        for (int64_t j = 0; j < c; j++) {
            double v = rx_nn_ld(xp, base + j, dt);
            ss += v * v;
        }
        double r = 1.0 / sqrt(ss / (double)(c ? c : 1) + eps);
        for (int64_t j = 0; j < c; j++) rx_nn_st(op, base + j, dt, rx_nn_ld(xp, base + j, dt) * r * rx_nn_ld(wp, j, dt));
        if (rp) rx_nn_st(rp, i, st, r);
    }
    return RX_OK;
}

/* The partial-sum buffers of a backward with `nsums` column sums of width c over m rows. */
static rx_status alloc_partials(const char *op, int64_t m, int64_t c, int nsums, int64_t *chunk, int64_t *nchunks,
                                double **partials)
{
    *chunk = rx_nn_chunk_rows(m);
    *nchunks = m ? (m + *chunk - 1) / *chunk : 1;
    *partials = NULL;
    if (nsums == 0) return RX_OK;
    *partials = calloc((size_t)(*nchunks * c * nsums + 1), sizeof(double));
    if (!*partials)
        return rx_fail(RX_ERR_NOMEM, "cpu %s backward: out of host memory for %lld partial sums", op,
                       (long long)(*nchunks * c * nsums));
    return RX_OK;
}

rx_status rx_cpu_rmsnorm_bwd(rx_tensor *dx, rx_tensor *dw, const rx_tensor *g, const rx_tensor *x, const rx_tensor *w,
                             const rx_tensor *rstd)
{
    int64_t m = x->shape[0], c = x->shape[1], chunk, nchunks;
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x), *wp = rx_tensor_bytes(w), *gp = rx_tensor_bytes(g);
    const char *rp = rx_tensor_bytes(rstd);
    char *dxp = dx ? rx_tensor_bytes(dx) : NULL;
    double *partials;
    RX_TRY(alloc_partials("rmsnorm", m, c, dw ? 1 : 0, &chunk, &nchunks, &partials));
#pragma omp parallel for schedule(static) if (nchunks > 1 && m * c >= RX_PARALLEL_MIN)
    for (int64_t k = 0; k < nchunks; k++) {
        double *pw = partials ? partials + k * c : NULL;
        int64_t end = (k + 1) * chunk < m ? (k + 1) * chunk : m;
        for (int64_t i = k * chunk; i < end; i++) {
            int64_t base = i * c;
            double r = rx_nn_ld(rp, i, st);
            if (dxp) {
                double dot = 0.0;
                for (int64_t j = 0; j < c; j++)
                    dot += rx_nn_ld(gp, base + j, dt) * rx_nn_ld(wp, j, dt) * rx_nn_ld(xp, base + j, dt);
                double coef = r * r * r * dot / (double)(c ? c : 1);
                for (int64_t j = 0; j < c; j++) {
                    double gw = rx_nn_ld(gp, base + j, dt) * rx_nn_ld(wp, j, dt);
                    rx_nn_st(dxp, base + j, dt, r * gw - coef * rx_nn_ld(xp, base + j, dt));
                }
            }
            if (pw)
                for (int64_t j = 0; j < c; j++) pw[j] += rx_nn_ld(gp, base + j, dt) * rx_nn_ld(xp, base + j, dt) * r;
        }
    }
    if (partials) rx_nn_sum_chunks(partials, nchunks, c, rx_tensor_bytes(dw), dw->dtype);
    free(partials);
    return RX_OK;
}

rx_status rx_cpu_layernorm(rx_tensor *out, rx_tensor *mean, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w,
                           const rx_tensor *b, double eps)
{
    int64_t m = x->shape[0], c = x->shape[1];
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x);
    const char *wp = w ? rx_tensor_bytes(w) : NULL, *bp = b ? rx_tensor_bytes(b) : NULL;
    char *op = rx_tensor_bytes(out);
    char *mp = mean ? rx_tensor_bytes(mean) : NULL, *rp = rstd ? rx_tensor_bytes(rstd) : NULL;
    double inv_c = 1.0 / (double)(c ? c : 1);
#pragma omp parallel for schedule(static) if (m > 1 && m * c >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < m; i++) {
        int64_t base = i * c;
        double sum = 0.0;
        for (int64_t j = 0; j < c; j++) sum += rx_nn_ld(xp, base + j, dt);
        double mu = sum * inv_c, var = 0.0;
        for (int64_t j = 0; j < c; j++) {
            double d = rx_nn_ld(xp, base + j, dt) - mu;
            var += d * d;
        }
        double r = 1.0 / sqrt(var * inv_c + eps);
        for (int64_t j = 0; j < c; j++) {
            double y = (rx_nn_ld(xp, base + j, dt) - mu) * r;
            if (wp) y *= rx_nn_ld(wp, j, dt);
            if (bp) y += rx_nn_ld(bp, j, dt);
            rx_nn_st(op, base + j, dt, y);
        }
        if (mp) rx_nn_st(mp, i, st, mu);
        if (rp) rx_nn_st(rp, i, st, r);
    }
    return RX_OK;
}

rx_status rx_cpu_layernorm_bwd(rx_tensor *dx, rx_tensor *dw, rx_tensor *db, const rx_tensor *g, const rx_tensor *x,
                               const rx_tensor *w, const rx_tensor *mean, const rx_tensor *rstd)
{
    int64_t m = x->shape[0], c = x->shape[1], chunk, nchunks;
    rx_dtype dt = x->dtype, st = stat_dtype(dt);
    const char *xp = rx_tensor_bytes(x), *gp = rx_tensor_bytes(g), *wp = w ? rx_tensor_bytes(w) : NULL;
    const char *mp = rx_tensor_bytes(mean), *rp = rx_tensor_bytes(rstd);
    char *dxp = dx ? rx_tensor_bytes(dx) : NULL;
    int nsums = (dw != NULL) + (db != NULL);
    double *partials;
    RX_TRY(alloc_partials("layernorm", m, c, nsums, &chunk, &nchunks, &partials));
    /* partials: nchunks rows of dw sums, then nchunks rows of db sums */
    double *pw_all = dw ? partials : NULL, *pb_all = db ? partials + (dw ? nchunks * c : 0) : NULL;
    double inv_c = 1.0 / (double)(c ? c : 1);
#pragma omp parallel for schedule(static) if (nchunks > 1 && m * c >= RX_PARALLEL_MIN)
    for (int64_t k = 0; k < nchunks; k++) {
        double *pw = pw_all ? pw_all + k * c : NULL, *pb = pb_all ? pb_all + k * c : NULL;
        int64_t end = (k + 1) * chunk < m ? (k + 1) * chunk : m;
        for (int64_t i = k * chunk; i < end; i++) {
            int64_t base = i * c;
            double mu = rx_nn_ld(mp, i, st), r = rx_nn_ld(rp, i, st);
            if (dxp) {
                double s1 = 0.0, s2 = 0.0;
                for (int64_t j = 0; j < c; j++) {
                    double gw = rx_nn_ld(gp, base + j, dt) * (wp ? rx_nn_ld(wp, j, dt) : 1.0);
                    double xh = (rx_nn_ld(xp, base + j, dt) - mu) * r;
                    s1 += gw;
                    s2 += gw * xh;
                }
                s1 *= inv_c;
                s2 *= inv_c;
                for (int64_t j = 0; j < c; j++) {
                    double gw = rx_nn_ld(gp, base + j, dt) * (wp ? rx_nn_ld(wp, j, dt) : 1.0);
                    double xh = (rx_nn_ld(xp, base + j, dt) - mu) * r;
                    rx_nn_st(dxp, base + j, dt, r * (gw - s1 - xh * s2));
                }
            }
            if (pw)
                for (int64_t j = 0; j < c; j++)
                    pw[j] += rx_nn_ld(gp, base + j, dt) * (rx_nn_ld(xp, base + j, dt) - mu) * r;
            if (pb)
                for (int64_t j = 0; j < c; j++) pb[j] += rx_nn_ld(gp, base + j, dt);
        }
    }
    if (dw) rx_nn_sum_chunks(pw_all, nchunks, c, rx_tensor_bytes(dw), dw->dtype);
    if (db) rx_nn_sum_chunks(pb_all, nchunks, c, rx_tensor_bytes(db), db->dtype);
    free(partials);
    return RX_OK;
}
