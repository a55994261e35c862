/* scratch.c — helpers for writing recording wrappers and backward formulas (see autograd.h).
 *
 * Owns: the scratch list of temporaries that a backward formula builds (each step is skipped once
 * one has failed, and everything is released at the end, so formulas need no cleanup code), and
 * rx_ag_attach, the single exit of a recording wrapper.
 */
#include "autograd.h"

rx_tensor *rx_ag_keep(rx_ag_scratch *sc, rx_status s, rx_tensor *t)
{
    if (sc->status == RX_OK && s != RX_OK) sc->status = s;
    if (sc->status == RX_OK && sc->n == RX_AG_SCRATCH_MAX)
        sc->status =
            rx_fail(RX_ERR_INTERNAL, "autograd: a backward formula holds more than %d temporaries", RX_AG_SCRATCH_MAX);
    if (sc->status != RX_OK) {
        rx_tensor_release(t);
        return NULL;
    }
    sc->held[sc->n++] = t;
    return t;
}

rx_tensor *rx_ag_unary(rx_ag_scratch *sc, rx_unary_op op, rx_tensor *a)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_unary(op, a, &t);
    return rx_ag_keep(sc, s, t);
}

rx_tensor *rx_ag_binary(rx_ag_scratch *sc, rx_binary_op op, rx_tensor *a, rx_tensor *b)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_binary(op, a, b, &t);
    return rx_ag_keep(sc, s, t);
}

rx_tensor *rx_ag_scalar(rx_ag_scratch *sc, rx_binary_op op, rx_tensor *a, double s, int scalar_first)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status st = rx_op_binary_scalar(op, a, s, scalar_first, &t);
    return rx_ag_keep(sc, st, t);
}

rx_tensor *rx_ag_where(rx_ag_scratch *sc, rx_tensor *cond, rx_tensor *a, rx_tensor *b)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_where(cond, a, b, &t);
    return rx_ag_keep(sc, s, t);
}

rx_tensor *rx_ag_cast(rx_ag_scratch *sc, rx_tensor *a, rx_dtype dtype)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_to_dtype(a, dtype, &t);
    return rx_ag_keep(sc, s, t);
}

rx_tensor *rx_ag_reshape(rx_ag_scratch *sc, rx_tensor *a, int ndim, const int64_t *shape)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_reshape(a, ndim, shape, &t);
    return rx_ag_keep(sc, s, t);
}

rx_tensor *rx_ag_reduce_to(rx_ag_scratch *sc, rx_tensor *g, int ndim, const int64_t *shape)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_ag_sum_to(g, ndim, shape, &t);
    return rx_ag_keep(sc, s, t);
}

rx_tensor *rx_ag_const(rx_ag_scratch *sc, rx_tensor *like, double value)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_full(0, NULL, value, like->dtype, rx_tensor_device(like), &t);
    return rx_ag_keep(sc, s, t);
}

rx_tensor *rx_ag_saved(rx_ag_scratch *sc, rx_node *node, int k)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_node_saved(node, k, &t);
    if (s != RX_OK) sc->status = s;
    return t;
}

rx_dtype rx_ag_compute_dtype(rx_dtype dtype) { return dtype == RX_F16 || dtype == RX_BF16 ? RX_F32 : dtype; }

void rx_ag_give(rx_ag_scratch *sc, rx_tensor *t, rx_tensor **out)
{
    if (sc->status == RX_OK) *out = rx_tensor_retain(t);
}

rx_status rx_ag_end(rx_ag_scratch *sc)
{
    for (int i = 0; i < sc->n; i++) rx_tensor_release(sc->held[i]);
    sc->n = 0;
    return sc->status;
}

rx_status rx_ag_attach(rx_node *n, rx_status s, int n_outputs, rx_tensor **outputs)
{
    if (s == RX_OK) return rx_node_finish(n, n_outputs, outputs);
    rx_node_release(n);
    for (int k = 0; k < n_outputs; k++) {
        rx_tensor_release(outputs[k]);
        outputs[k] = NULL;
    }
    return s;
}
