/* nn_loss.c — losses: cross-entropy, binary cross-entropy with logits, mean squared error.
 *
 * Owns: the argument rules (logits (N, V) float, targets (N) i32/i64 checked on the host to lie
 * in [0, V) or equal ignore_index, with the row and value in the message; weights (N) of the
 * logits' dtype; pointwise losses on one shape, dtype and device), the result dtypes
 * (cross-entropy: a 0-d f32, f64 for f64 logits; BCE and MSE: 0-d of the inputs' dtype), and the
 * contiguous layouts the kernels take.
 *
 * Edge cases: cross-entropy over no kept row (all ignored, or weights summing to 0) is 0 with zero
 * gradients, not NaN; BCE and MSE of empty tensors are NaN (a mean of nothing).
 */
#include "ops.h"

static rx_status finish(const char *op, rx_status s, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

/* Checks the targets (#2) against [0, v) and ignore_index (on the device when it can). */
static rx_status check_targets(const char *op, rx_tensor *targets, int64_t v, int64_t ignore_index)
{
    bool done;
    RX_TRY(rx_nn_check_ids_on_device(op, 2, targets, v, &ignore_index, &done));
    if (done) return RX_OK;
    int64_t at, t;
    RX_TRY(rx_nn_find_bad_id(targets, v, &ignore_index, &at, &t));
    if (at < 0) return RX_OK;
    return rx_fail(RX_ERR_ARG,
                   "%s: argument #2: target %lld at row %lld is out of range [0, %lld) and not ignore_index "
                   "(%lld)",
                   op, (long long)t, (long long)at, (long long)v, (long long)ignore_index);
}

static rx_status check_ce(const char *op, rx_tensor *logits, rx_tensor *targets, int64_t ignore_index,
                          rx_tensor *weights)
{
    RX_TRY(rx_check_tensor(op, 1, logits));
    RX_TRY(rx_check_tensor(op, 2, targets));
    RX_TRY(rx_check_float(op, 1, logits));
    RX_TRY(rx_check_same_device(op, logits, 1, targets, 2));
    RX_TRY(rx_check_index_dtype(op, 2, targets));
    RX_TRY(rx_nn_check_shape(op, 1, NULL, logits, 2, (const int64_t[]){-1, -1}));
    int64_t n = logits->shape[0];
    RX_TRY(rx_nn_check_shape(op, 2, NULL, targets, 1, &n));
    if (weights) {
        RX_TRY(rx_check_same_device(op, logits, 1, weights, 4));
        RX_TRY(rx_check_same_dtype(op, logits, 1, weights, 4));
        RX_TRY(rx_nn_check_shape(op, 4, NULL, weights, 1, &n));
    }
    return check_targets(op, targets, logits->shape[1], ignore_index);
}

rx_status rx_op_cross_entropy_forward(rx_tensor *logits, rx_tensor *targets, int64_t ignore_index,
                                      rx_tensor *weights, rx_tensor **out, rx_tensor **lse)
{
    const char *op = "cross_entropy";
    *out = NULL;
    if (lse) *lse = NULL;
    RX_TRY(check_ce(op, logits, targets, ignore_index, weights));
    rx_dtype stat = logits->dtype == RX_F64 ? RX_F64 : RX_F32;
    rx_device dev = rx_tensor_device(logits);
    enum { LC, TC, WC, LSE, NT };
    rx_tensor *t[NT] = {0};
    rx_status s = rx_op_contiguous(logits, &t[LC]);
    if (s == RX_OK) s = rx_op_contiguous(targets, &t[TC]);
    if (s == RX_OK && weights) s = rx_op_contiguous(weights, &t[WC]);
    if (s == RX_OK) s = rx_empty(1, logits->shape, stat, dev, &t[LSE]);
    if (s == RX_OK) s = rx_empty(0, NULL, stat, dev, out);
    if (s == RX_OK) s = rx_backend_of(logits)->cross_entropy(*out, t[LSE], t[LC], t[TC], t[WC], ignore_index);
    if (s == RX_OK && lse) *lse = rx_tensor_retain(t[LSE]);
    for (int i = 0; i < NT; i++) rx_tensor_release(t[i]);
    return finish(op, s, out);
}

rx_status rx_op_cross_entropy_backward(rx_tensor *g, rx_tensor *logits, rx_tensor *targets,
                                       int64_t ignore_index, rx_tensor *weights, rx_tensor *lse,
                                       rx_tensor **dlogits)
{
    const char *op = "cross_entropy backward";
    *dlogits = NULL;
    enum { LC, TC, WC, LSE, NT };
    rx_tensor *t[NT] = {0};
    rx_status s = rx_op_contiguous(logits, &t[LC]);
    if (s == RX_OK) s = rx_op_contiguous(targets, &t[TC]);
    if (s == RX_OK && weights) s = rx_op_contiguous(weights, &t[WC]);
    if (s == RX_OK) s = rx_op_contiguous(lse, &t[LSE]);
    if (s == RX_OK) s = rx_empty(2, logits->shape, logits->dtype, rx_tensor_device(logits), dlogits);
    if (s == RX_OK)
        s = rx_backend_of(logits)->cross_entropy_bwd(*dlogits, g, t[LC], t[TC], t[WC], t[LSE], ignore_index);
    for (int i = 0; i < NT; i++) rx_tensor_release(t[i]);
    return finish(op, s, dlogits);
}

/* The pointwise losses: kind 0 = BCE with logits, 1 = MSE. */
static rx_status pointwise_forward(const char *op, int kind, rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor(op, 1, a));
    RX_TRY(rx_check_tensor(op, 2, b));
    RX_TRY(rx_check_float(op, 1, a));
    RX_TRY(rx_check_same_device(op, a, 1, b, 2));
    RX_TRY(rx_check_same_dtype(op, a, 1, b, 2));
    RX_TRY(rx_nn_check_shape(op, 2, NULL, b, a->ndim, a->shape));
    rx_tensor *ac = NULL, *bc = NULL;
    rx_status s = rx_op_contiguous(a, &ac);
    if (s == RX_OK) s = rx_op_contiguous(b, &bc);
    if (s == RX_OK) s = rx_empty(0, NULL, a->dtype, rx_tensor_device(a), out);
    if (s == RX_OK)
        s = kind == 0 ? rx_backend_of(a)->bce_with_logits(*out, ac, bc) : rx_backend_of(a)->mse(*out, ac, bc);
    rx_tensor_release(ac);
    rx_tensor_release(bc);
    return finish(op, s, out);
}

static rx_status pointwise_backward(const char *op, int kind, rx_tensor *g, rx_tensor *a, rx_tensor *b,
                                    rx_tensor **da, rx_tensor **db)
{
    if (da) *da = NULL;
    if (db) *db = NULL;
    rx_device dev = rx_tensor_device(a);
    rx_tensor *ac = NULL, *bc = NULL;
    rx_status s = rx_op_contiguous(a, &ac);
    if (s == RX_OK) s = rx_op_contiguous(b, &bc);
    if (s == RX_OK && da) s = rx_empty(a->ndim, a->shape, a->dtype, dev, da);
    if (s == RX_OK && db) s = rx_empty(a->ndim, a->shape, a->dtype, dev, db);
    if (s == RX_OK) {
        const rx_backend *be = rx_backend_of(a);
        rx_tensor *oa = da ? *da : NULL, *ob = db ? *db : NULL;
        s = kind == 0 ? be->bce_with_logits_bwd(oa, ob, g, ac, bc) : be->mse_bwd(oa, ob, g, ac, bc);
    }
    rx_tensor_release(ac);
    rx_tensor_release(bc);
    if (s == RX_OK) return RX_OK;
    if (da) {
        rx_tensor_release(*da);
        *da = NULL;
    }
    if (db) {
        rx_tensor_release(*db);
        *db = NULL;
    }
    return rx_fail_context(s, "%s", op);
}

rx_status rx_op_bce_with_logits(rx_tensor *logits, rx_tensor *targets, rx_tensor **out)
{
    return pointwise_forward("bce_with_logits", 0, logits, targets, out);
}

rx_status rx_op_bce_with_logits_backward(rx_tensor *g, rx_tensor *logits, rx_tensor *targets,
                                         rx_tensor **dlogits, rx_tensor **dtargets)
{
    return pointwise_backward("bce_with_logits backward", 0, g, logits, targets, dlogits, dtargets);
}

rx_status rx_op_mse(rx_tensor *pred, rx_tensor *target, rx_tensor **out)
{
    return pointwise_forward("mse", 1, pred, target, out);
}

rx_status rx_op_mse_backward(rx_tensor *g, rx_tensor *pred, rx_tensor *target, rx_tensor **dpred,
                             rx_tensor **dtarget)
{
    return pointwise_backward("mse backward", 1, g, pred, target, dpred, dtarget);
}
