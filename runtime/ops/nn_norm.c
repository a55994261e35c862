/* nn_norm.c — RMSNorm and LayerNorm over the last dim: argument checks, forward and backward.
 *
 * Owns: the argument rules (x float with at least one dim, w and b of shape (C) and x's dtype,
 * eps finite and >= 0), the (M, C) row layout the kernels take (x made contiguous when it is not),
 * and the statistics saved for the backward: rstd (and mean for LayerNorm) shaped like x without
 * its last dim, as f32 stats (f64 for f64 x).
 */
#include "ops.h"

#include <math.h>

static rx_dtype stat_dtype(rx_dtype dt) { return dt == RX_F64 ? RX_F64 : RX_F32; }

/* Checks x (#1), a per-channel parameter p (#argn; NULL when absent) and eps (#eps_argn). */
static rx_status check_norm(const char *op, rx_tensor *x, rx_tensor *p, int argn, double eps, int eps_argn)
{
    RX_TRY(rx_check_tensor(op, 1, x));
    RX_TRY(rx_check_float(op, 1, x));
    if (x->ndim == 0)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected shape (*, C), got a scalar", op);
    if (p) {
        RX_TRY(rx_check_same_device(op, x, 1, p, argn));
        RX_TRY(rx_check_same_dtype(op, x, 1, p, argn));
        RX_TRY(rx_nn_check_shape(op, argn, NULL, p, 1, &x->shape[x->ndim - 1]));
    }
    if (!(eps >= 0.0) || isinf(eps))
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected a finite eps >= 0, got %g", op, eps_argn, eps);
    return RX_OK;
}

/* A contiguous 1-D view of t (NULL stays NULL). */
static rx_status flat(rx_tensor *t, rx_tensor **out)
{
    *out = NULL;
    if (!t) return RX_OK;
    rx_tensor *dense;
    RX_TRY(rx_op_contiguous(t, &dense));
    int64_t n = rx_tensor_numel(dense);
    rx_status s = rx_op_view(dense, 1, &n, out);
    rx_tensor_release(dense);
    return s;
}

/* A new tensor shaped like x (as_stat: without its last dim, of the stat dtype) and its (M, C) or
 * (M) view for the kernel. */
static rx_status new_out(rx_tensor *x, bool as_stat, rx_tensor **out, rx_tensor **view)
{
    *view = NULL;
    if (as_stat)
        RX_TRY(rx_empty(x->ndim - 1, x->shape, stat_dtype(x->dtype), rx_tensor_device(x), out));
    else
        RX_TRY(rx_empty(x->ndim, x->shape, x->dtype, rx_tensor_device(x), out));
    rx_status s = as_stat ? flat(*out, view) : rx_nn_rows(*out, view);
    if (s != RX_OK) {
        rx_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

/* Releases n temporaries. */
static void release_all(int n, rx_tensor **t)
{
    for (int i = 0; i < n; i++) rx_tensor_release(t[i]);
}

/* On failure releases the n outputs (slots may be NULL) and adds the op's name. */
static rx_status finish(const char *op, rx_status s, int n, rx_tensor **const *outs)
{
    if (s == RX_OK) return RX_OK;
    for (int i = 0; i < n; i++)
        if (outs[i]) {
            rx_tensor_release(*outs[i]);
            *outs[i] = NULL;
        }
    return rx_fail_context(s, "%s", op);
}

rx_status rx_op_rmsnorm_forward(rx_tensor *x, rx_tensor *w, double eps, rx_tensor **out, rx_tensor **rstd)
{
    const char *op = "rmsnorm";
    *out = NULL;
    if (rstd) *rstd = NULL;
    RX_TRY(rx_check_tensor(op, 2, w));
    RX_TRY(check_norm(op, x, w, 2, eps, 3));
    enum { XR, WC, YR, RR, NT };
    rx_tensor *t[NT] = {0};
    rx_status s = rx_nn_rows(x, &t[XR]);
    if (s == RX_OK) s = flat(w, &t[WC]);
    if (s == RX_OK) s = new_out(x, false, out, &t[YR]);
    if (s == RX_OK && rstd) s = new_out(x, true, rstd, &t[RR]);
    if (s == RX_OK) s = rx_backend_of(x)->rmsnorm(t[YR], t[RR], t[XR], t[WC], eps);
    release_all(NT, t);
    return finish(op, s, 2, (rx_tensor * *const[]){out, rstd});
}

rx_status rx_op_rmsnorm_backward(rx_tensor *g, rx_tensor *x, rx_tensor *w, rx_tensor *rstd, rx_tensor **dx,
                                 rx_tensor **dw)
{
    const char *op = "rmsnorm backward";
    if (dx) *dx = NULL;
    if (dw) *dw = NULL;
    enum { GR, XR, WC, RR, DXR, DWR, NT };
    rx_tensor *t[NT] = {0};
    rx_status s = rx_nn_rows(g, &t[GR]);
    if (s == RX_OK) s = rx_nn_rows(x, &t[XR]);
    if (s == RX_OK) s = flat(w, &t[WC]);
    if (s == RX_OK) s = flat(rstd, &t[RR]);
    if (s == RX_OK && dx) s = new_out(x, false, dx, &t[DXR]);
    if (s == RX_OK && dw) s = rx_empty(1, w->shape, w->dtype, rx_tensor_device(w), dw);
    if (s == RX_OK) s = rx_backend_of(x)->rmsnorm_bwd(t[DXR], dw ? *dw : NULL, t[GR], t[XR], t[WC], t[RR]);
    release_all(NT, t);
    return finish(op, s, 2, (rx_tensor * *const[]){dx, dw});
}

rx_status rx_op_layernorm_forward(rx_tensor *x, rx_tensor *w, rx_tensor *b, double eps, rx_tensor **out,
                                  rx_tensor **mean, rx_tensor **rstd)
{
    const char *op = "layernorm";
    *out = NULL;
    if (mean) *mean = NULL;
    if (rstd) *rstd = NULL;
    RX_TRY(check_norm(op, x, w, 2, eps, 4));
    RX_TRY(check_norm(op, x, b, 3, eps, 4));
    enum { XR, WC, BC, YR, MR, RR, NT };
    rx_tensor *t[NT] = {0};
    rx_status s = rx_nn_rows(x, &t[XR]);
    if (s == RX_OK) s = flat(w, &t[WC]);
    if (s == RX_OK) s = flat(b, &t[BC]);
    if (s == RX_OK) s = new_out(x, false, out, &t[YR]);
    if (s == RX_OK && mean) s = new_out(x, true, mean, &t[MR]);
    if (s == RX_OK && rstd) s = new_out(x, true, rstd, &t[RR]);
    if (s == RX_OK) s = rx_backend_of(x)->layernorm(t[YR], t[MR], t[RR], t[XR], t[WC], t[BC], eps);
    release_all(NT, t);
    return finish(op, s, 3, (rx_tensor * *const[]){out, mean, rstd});
}

rx_status rx_op_layernorm_backward(rx_tensor *g, rx_tensor *x, rx_tensor *w, rx_tensor *mean, rx_tensor *rstd,
                                   rx_tensor **dx, rx_tensor **dw, rx_tensor **db)
{
    const char *op = "layernorm backward";
    if (dx) *dx = NULL;
    if (dw) *dw = NULL;
    if (db) *db = NULL;
    int64_t c = x->shape[x->ndim - 1];
    enum { GR, XR, WC, MR, RR, DXR, NT };
    rx_tensor *t[NT] = {0};
    rx_status s = rx_nn_rows(g, &t[GR]);
    if (s == RX_OK) s = rx_nn_rows(x, &t[XR]);
    if (s == RX_OK) s = flat(w, &t[WC]);
    if (s == RX_OK) s = flat(mean, &t[MR]);
    if (s == RX_OK) s = flat(rstd, &t[RR]);
    if (s == RX_OK && dx) s = new_out(x, false, dx, &t[DXR]);
    if (s == RX_OK && dw) s = rx_empty(1, &c, x->dtype, rx_tensor_device(x), dw);
    if (s == RX_OK && db) s = rx_empty(1, &c, x->dtype, rx_tensor_device(x), db);
    if (s == RX_OK)
        s = rx_backend_of(x)->layernorm_bwd(t[DXR], dw ? *dw : NULL, db ? *db : NULL, t[GR], t[XR], t[WC],
                                            t[MR], t[RR]);
    release_all(NT, t);
    return finish(op, s, 3, (rx_tensor * *const[]){dx, dw, db});
}
