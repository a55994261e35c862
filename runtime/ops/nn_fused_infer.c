/* nn_fused_infer.c — the inference-only fusions of the LLM decode step: add_rmsnorm_ (the residual
 * add and the next RMSNorm in one call) and swiglu_packed (SwiGLU of one (..., 2F) tensor that
 * holds the gate and up projections side by side, the output of one linear with both weights).
 *
 * Owns: their argument rules and layouts, and the inference-only rule. Both are public functions
 * defined here (like the optimizer steps, they never record): when grad mode is on and an input
 * requires grad they fail before any work, naming the argument. add_rmsnorm_: x (..., C)
 * contiguous float, written in place (its version is bumped); r x's shape, dtype and device with
 * any strides (made contiguous when it is not; an r that overlaps x without being x itself is
 * read from a private copy, as rx_binary_ does); w (C) of x's dtype, not sharing x's storage;
 * eps finite and >= 0. swiglu_packed: gu (..., 2F) float with any strides (made contiguous when
 * it is not). The kernels see (M, C) and (M, 2F) rows (backend.h, "inference-only fusions").
 */
#include "ops.h"

#include <math.h>

/* An error when grad mode is on and one of the n inputs (arguments #1..#n) requires grad. */
static rx_status check_inference(const char *op, int n, rx_tensor *const *inputs)
{
    if (!rx_grad_enabled()) return RX_OK;
    for (int i = 0; i < n; i++)
        if (rx_requires_grad(inputs[i]))
            return rx_fail(RX_ERR_ARG,
                           "%s: argument #%d requires grad, but %s is inference-only and records no gradient "
                           "(run it under no_grad)",
                           op, i + 1, op);
    return RX_OK;
}

/* Whether b views exactly a's elements in a's order (same storage, offset and strides; shapes
 * already equal). */
static bool same_elements(const rx_tensor *a, const rx_tensor *b)
{
    if (!rx_tensor_shares_storage(a, b) || a->offset != b->offset) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] > 1 && a->stride[i] != b->stride[i]) return false;
    return true;
}

static void release_all(int n, rx_tensor **t)
{
    for (int i = 0; i < n; i++) rx_tensor_release(t[i]);
}

/* On failure releases *out and adds the op's name. */
static rx_status finish(const char *op, rx_status s, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

static rx_status check_add_rmsnorm(const char *op, rx_tensor *x, rx_tensor *r, rx_tensor *w, double eps)
{
    char buf[128];
    RX_TRY(rx_check_tensor(op, 1, x));
    RX_TRY(rx_check_tensor(op, 2, r));
    RX_TRY(rx_check_tensor(op, 3, w));
    RX_TRY(rx_check_float(op, 1, x));
    if (x->ndim == 0) return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected shape (*, C), got a scalar", op);
    if (!rx_tensor_is_contiguous(x))
        return rx_fail(RX_ERR_ARG, "%s: argument #1: expected a contiguous tensor (it is updated in place), got strides %s",
                       op, rx_shape_str(x->ndim, x->stride, buf, sizeof buf));
    RX_TRY(rx_check_same_device(op, x, 1, r, 2));
    RX_TRY(rx_check_same_dtype(op, x, 1, r, 2));
    RX_TRY(rx_nn_check_shape(op, 2, NULL, r, x->ndim, x->shape));
    RX_TRY(rx_check_same_device(op, x, 1, w, 3));
    RX_TRY(rx_check_same_dtype(op, x, 1, w, 3));
    RX_TRY(rx_nn_check_shape(op, 3, NULL, w, 1, &x->shape[x->ndim - 1]));
    if (rx_tensor_shares_storage(w, x))
        return rx_fail(RX_ERR_ARG, "%s: argument #3 shares storage with argument #1, which is updated in place", op);
    if (!(eps >= 0.0) || isinf(eps))
        return rx_fail(RX_ERR_ARG, "%s: argument #4: expected a finite eps >= 0, got %g", op, eps);
    return check_inference(op, 3, (rx_tensor *[]){x, r, w});
}

rx_status rx_add_rmsnorm_(rx_tensor *x, rx_tensor *r, rx_tensor *w, double eps, rx_tensor **normed)
{
    const char *op = "add_rmsnorm_";
    *normed = NULL;
    RX_TRY(check_add_rmsnorm(op, x, r, w, eps));
    enum { XR, RP, RR, WC, YR, NT };
    rx_tensor *t[NT] = {0};
    bool self = same_elements(x, r);
    rx_status s = rx_nn_rows(x, &t[XR]); /* a view: x is contiguous */
    if (s == RX_OK && self)
        t[RR] = rx_tensor_retain(t[XR]);
    else if (s == RX_OK) {
        /* an r overlapping x in another order is read from a private copy */
        if (rx_tensor_shares_storage(r, x)) s = rx_op_clone(r, &t[RP]);
        if (s == RX_OK) s = rx_nn_rows(t[RP] ? t[RP] : r, &t[RR]);
    }
    if (s == RX_OK) s = rx_op_contiguous(w, &t[WC]);
    if (s == RX_OK) s = rx_empty(x->ndim, x->shape, x->dtype, rx_tensor_device(x), normed);
    if (s == RX_OK) s = rx_nn_rows(*normed, &t[YR]);
    if (s == RX_OK) {
        s = rx_backend_of(x)->add_rmsnorm(t[YR], t[XR], t[RR], t[WC], eps);
        rx_tensor_bump_version(x);
    }
    release_all(NT, t);
    return finish(op, s, normed);
}

rx_status rx_swiglu_packed(rx_tensor *gu, rx_tensor **out)
{
    const char *op = "swiglu_packed";
    char buf[128];
    *out = NULL;
    RX_TRY(rx_check_tensor(op, 1, gu));
    RX_TRY(rx_check_float(op, 1, gu));
    if (gu->ndim == 0) return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected shape (*, 2F), got a scalar", op);
    if (gu->shape[gu->ndim - 1] % 2 != 0)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected shape (*, 2F) with an even last dim, got %s", op,
                       rx_shape_str(gu->ndim, gu->shape, buf, sizeof buf));
    RX_TRY(check_inference(op, 1, &gu));
    int64_t shape[RX_MAX_DIMS];
    for (int i = 0; i < gu->ndim; i++) shape[i] = gu->shape[i];
    shape[gu->ndim - 1] /= 2;
    enum { GR, YR, NT };
    rx_tensor *t[NT] = {0};
    rx_status s = rx_nn_rows(gu, &t[GR]);
    if (s == RX_OK) s = rx_empty(gu->ndim, shape, gu->dtype, rx_tensor_device(gu), out);
    if (s == RX_OK) s = rx_nn_rows(*out, &t[YR]);
    if (s == RX_OK) s = rx_backend_of(gu)->swiglu_packed(t[YR], t[GR]);
    release_all(NT, t);
    return finish(op, s, out);
}
