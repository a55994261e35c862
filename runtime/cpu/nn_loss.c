/* nn_loss.c — CPU loss kernels: cross-entropy over rows of logits, binary cross-entropy with
 * logits and mean squared error, forward and backward.
 *
 * Owns: the numerics (log-sum-exp with the row max subtracted, sums in double; BCE as
 * max(x, 0) - x t + log1p(exp(-|x|)), which never overflows) and the order of every mean: per-row
 * or per-chunk partial sums formed in parallel, then added in index order, so a loss does not
 * depend on the thread count. Cross-entropy keeps each row's log-sum-exp (a stat) for the
 * backward, which writes (softmax - onehot) * w * grad / sum_w in a single pass.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <stdlib.h>

/* Elements per partial sum of the means of BCE and MSE. */
#define LOSS_CHUNK 4096

static int64_t target_at(const void *t, bool i64, int64_t i)
{
    return i64 ? ((const int64_t *)t)[i] : ((const int32_t *)t)[i];
}

rx_status rx_cpu_cross_entropy(rx_tensor *loss, rx_tensor *lse, const rx_tensor *logits,
                               const rx_tensor *targets, const rx_tensor *weights, int64_t ignore_index)
{
    int64_t n = logits->shape[0], v = logits->shape[1], es = rx_dtype_size(logits->dtype);
    rx_dtype dt = logits->dtype, st = lse->dtype;
    const char *xp = rx_tensor_bytes(logits), *wp = weights ? rx_tensor_bytes(weights) : NULL;
    const void *tp = rx_tensor_bytes(targets);
    bool t64 = targets->dtype == RX_I64;
    char *lp = rx_tensor_bytes(lse);
    double *row_loss = malloc(sizeof(double) * (size_t)(n ? n : 1));
    double *scratch = row_loss ? rx_nn_scratch_new("cross_entropy", v) : NULL;
    if (!scratch) {
        free(row_loss);
        return rx_fail(RX_ERR_NOMEM, "cpu cross_entropy: out of host memory for row buffers");
    }
#pragma omp parallel if (n > 1 && n * v >= RX_PARALLEL_MIN)
    {
        double *row = rx_nn_thread_scratch(scratch, v);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            rx_nn_load(xp + i * v * es, dt, v, row);
            double mx = -INFINITY, sum = 0.0; /* a NaN logit makes the sum, and the row's loss, NaN */
            for (int64_t j = 0; j < v; j++) mx = row[j] > mx ? row[j] : mx;
            for (int64_t j = 0; j < v; j++) sum += rx_nn_exp(row[j] - mx, dt);
            double l = mx + log(sum);
            rx_nn_st(lp, i, st, l);
            int64_t t = target_at(tp, t64, i);
            row_loss[i] = t == ignore_index ? 0.0 : (l - row[t]) * (wp ? rx_nn_ld(wp, i, dt) : 1.0);
        }
    }
    double total = 0.0, wsum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (target_at(tp, t64, i) == ignore_index) continue;
        total += row_loss[i];
        wsum += wp ? rx_nn_ld(wp, i, dt) : 1.0;
    }
    free(row_loss);
    free(scratch);
    rx_nn_st(rx_tensor_bytes(loss), 0, loss->dtype, wsum != 0.0 ? total / wsum : 0.0);
    return RX_OK;
}

rx_status rx_cpu_cross_entropy_bwd(rx_tensor *dlogits, const rx_tensor *grad, const rx_tensor *logits,
                                   const rx_tensor *targets, const rx_tensor *weights, const rx_tensor *lse,
                                   int64_t ignore_index)
{
    int64_t n = logits->shape[0], v = logits->shape[1], es = rx_dtype_size(logits->dtype);
    rx_dtype dt = logits->dtype, st = lse->dtype;
    const char *xp = rx_tensor_bytes(logits), *wp = weights ? rx_tensor_bytes(weights) : NULL;
    const char *lp = rx_tensor_bytes(lse);
    const void *tp = rx_tensor_bytes(targets);
    bool t64 = targets->dtype == RX_I64;
    char *dp = rx_tensor_bytes(dlogits);
    double wsum = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (target_at(tp, t64, i) != ignore_index) wsum += wp ? rx_nn_ld(wp, i, dt) : 1.0;
    double g = rx_nn_ld(rx_tensor_bytes(grad), 0, grad->dtype);
    double scale = wsum != 0.0 ? g / wsum : 0.0;
    double *scratch = rx_nn_scratch_new("cross_entropy backward", v);
    if (!scratch) return RX_ERR_NOMEM;
#pragma omp parallel if (n > 1 && n * v >= RX_PARALLEL_MIN)
    {
        double *row = rx_nn_thread_scratch(scratch, v);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            int64_t t = target_at(tp, t64, i);
            double coef = t == ignore_index ? 0.0 : scale * (wp ? rx_nn_ld(wp, i, dt) : 1.0);
            if (coef == 0.0) {
                for (int64_t j = 0; j < v; j++) row[j] = 0.0;
            } else {
                double l = rx_nn_ld(lp, i, st);
                rx_nn_load(xp + i * v * es, dt, v, row);
                for (int64_t j = 0; j < v; j++) row[j] = rx_nn_exp(row[j] - l, dt) * coef;
                row[t] -= coef;
            }
            rx_nn_store(dp + i * v * es, dt, v, row);
        }
    }
    free(scratch);
    return RX_OK;
}

enum { LOSS_BCE, LOSS_MSE };

static inline double loss_term(int kind, double a, double b)
{
    if (kind == LOSS_MSE) return (a - b) * (a - b);
    return (a > 0 ? a : 0.0) - a * b + log1p(exp(-fabs(a))); /* BCE with logits a, target b */
}

/* Writes the mean of loss_term over n element pairs into the 0-d loss (NaN when n == 0). */
static rx_status pointwise_mean(const char *op, int kind, rx_tensor *loss, const rx_tensor *a,
                                const rx_tensor *b)
{
    int64_t n = rx_tensor_numel(a), nch = (n + LOSS_CHUNK - 1) / LOSS_CHUNK;
    rx_dtype dt = a->dtype;
    const char *ap = rx_tensor_bytes(a), *bp = rx_tensor_bytes(b);
    double *part = malloc(sizeof(double) * (size_t)(nch ? nch : 1));
    if (!part)
        return rx_fail(RX_ERR_NOMEM, "cpu %s: out of host memory for %lld partial sums", op, (long long)nch);
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t c = 0; c < nch; c++) {
        double acc = 0.0;
        int64_t end = (c + 1) * LOSS_CHUNK < n ? (c + 1) * LOSS_CHUNK : n;
        for (int64_t i = c * LOSS_CHUNK; i < end; i++)
            acc += loss_term(kind, rx_nn_ld(ap, i, dt), rx_nn_ld(bp, i, dt));
        part[c] = acc;
    }
    double total = 0.0;
    for (int64_t c = 0; c < nch; c++) total += part[c];
    free(part);
    rx_nn_st(rx_tensor_bytes(loss), 0, loss->dtype, n > 0 ? total / (double)n : NAN);
    return RX_OK;
}

/* The gradients of loss_term(kind, a, b) with respect to a and b, times scale. */
static inline void loss_grads(int kind, double a, double b, double scale, double *da, double *db)
{
    if (kind == LOSS_MSE) {
        *da = (a - b) * scale;
        *db = -*da;
        return;
    }
    double s = a >= 0 ? 1.0 / (1.0 + exp(-a)) : exp(a) / (1.0 + exp(a)); /* sigmoid(a) */
    *da = (s - b) * scale;
    *db = -a * scale;
}

/* Writes the gradients of pointwise_mean into da and db (either may be NULL: not wanted) for the
 * 0-d incoming gradient grad. */
static rx_status pointwise_mean_bwd(int kind, rx_tensor *da, rx_tensor *db, const rx_tensor *grad,
                                    const rx_tensor *a, const rx_tensor *b)
{
    int64_t n = rx_tensor_numel(a);
    rx_dtype dt = a->dtype;
    const char *ap = rx_tensor_bytes(a), *bp = rx_tensor_bytes(b);
    char *dap = da ? rx_tensor_bytes(da) : NULL, *dbp = db ? rx_tensor_bytes(db) : NULL;
    double g = rx_nn_ld(rx_tensor_bytes(grad), 0, grad->dtype);
    double scale = (kind == LOSS_MSE ? 2.0 : 1.0) * g / (double)(n ? n : 1);
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        double ga, gb;
        loss_grads(kind, rx_nn_ld(ap, i, dt), rx_nn_ld(bp, i, dt), scale, &ga, &gb);
        if (dap) rx_nn_st(dap, i, dt, ga);
        if (dbp) rx_nn_st(dbp, i, dt, gb);
    }
    return RX_OK;
}

rx_status rx_cpu_bce_with_logits(rx_tensor *loss, const rx_tensor *x, const rx_tensor *t)
{
    return pointwise_mean("bce_with_logits", LOSS_BCE, loss, x, t);
}

rx_status rx_cpu_bce_with_logits_bwd(rx_tensor *dx, rx_tensor *dt, const rx_tensor *grad, const rx_tensor *x,
                                     const rx_tensor *t)
{
    return pointwise_mean_bwd(LOSS_BCE, dx, dt, grad, x, t);
}

rx_status rx_cpu_mse(rx_tensor *loss, const rx_tensor *a, const rx_tensor *b)
{
    return pointwise_mean("mse", LOSS_MSE, loss, a, b);
}

rx_status rx_cpu_mse_bwd(rx_tensor *da, rx_tensor *db, const rx_tensor *grad, const rx_tensor *a,
                         const rx_tensor *b)
{
    return pointwise_mean_bwd(LOSS_MSE, da, db, grad, a, b);
}
