/* nn_pointwise.c — SwiGLU and dropout: argument checks, forward and backward.
 *
 * Owns: the argument rules (one shape, dtype and device; p in [0, 1]), the contiguous layout the
 * kernels take, and dropout's counters: a training call with 0 < p < 1 reserves numel Philox
 * counters on the generator after its output is allocated and reports (seed, offset) so that the
 * backward regenerates the same mask; p == 1 gives zeros and draws nothing; eval or p == 0 returns
 * x itself.
 */
#include "ops.h"

#include <math.h>

static rx_status finish(const char *op, rx_status s, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

/* Checks that b (#argn_b) matches a (#argn_a) in device, dtype and shape. */
static rx_status check_like(const char *op, rx_tensor *a, int argn_a, rx_tensor *b, int argn_b)
{
    RX_TRY(rx_check_same_device(op, a, argn_a, b, argn_b));
    RX_TRY(rx_check_same_dtype(op, a, argn_a, b, argn_b));
    return rx_nn_check_shape(op, argn_b, NULL, b, a->ndim, a->shape);
}

rx_status rx_op_swiglu(rx_tensor *gate, rx_tensor *up, rx_tensor **out)
{
    const char *op = "swiglu";
    *out = NULL;
    RX_TRY(rx_check_tensor(op, 1, gate));
    RX_TRY(rx_check_tensor(op, 2, up));
    RX_TRY(rx_check_float(op, 1, gate));
    RX_TRY(check_like(op, gate, 1, up, 2));
    rx_tensor *gc = NULL, *uc = NULL;
    rx_status s = rx_op_contiguous(gate, &gc);
    if (s == RX_OK) s = rx_op_contiguous(up, &uc);
    if (s == RX_OK) s = rx_empty(gate->ndim, gate->shape, gate->dtype, rx_tensor_device(gate), out);
    if (s == RX_OK) s = rx_backend_of(gate)->swiglu(*out, gc, uc);
    rx_tensor_release(gc);
    rx_tensor_release(uc);
    return finish(op, s, out);
}

rx_status rx_op_swiglu_backward(rx_tensor *g, rx_tensor *gate, rx_tensor *up, rx_tensor **dgate,
                                rx_tensor **dup)
{
    const char *op = "swiglu backward";
    if (dgate) *dgate = NULL;
    if (dup) *dup = NULL;
    rx_tensor *gc = NULL, *ac = NULL, *uc = NULL;
    rx_device dev = rx_tensor_device(gate);
    rx_status s = rx_op_contiguous(g, &gc);
    if (s == RX_OK) s = rx_op_contiguous(gate, &ac);
    if (s == RX_OK) s = rx_op_contiguous(up, &uc);
    if (s == RX_OK && dgate) s = rx_empty(gate->ndim, gate->shape, gate->dtype, dev, dgate);
    if (s == RX_OK && dup) s = rx_empty(gate->ndim, gate->shape, gate->dtype, dev, dup);
    if (s == RX_OK) s = rx_backend_of(gate)->swiglu_bwd(dgate ? *dgate : NULL, dup ? *dup : NULL, gc, ac, uc);
    rx_tensor_release(gc);
    rx_tensor_release(ac);
    rx_tensor_release(uc);
    if (s != RX_OK && dup) {
        rx_tensor_release(*dup);
        *dup = NULL;
    }
    if (dgate) return finish(op, s, dgate);
    return s == RX_OK ? RX_OK : rx_fail_context(s, "%s", op);
}

/* out = x with the dropout mask of (*seed, *offset) applied (0 < p < 1). With draw, the counters
 * are first reserved on gen, once the output exists, so a failed call draws nothing. */
static rx_status apply_mask(rx_tensor *x, double p, bool draw, rx_generator *gen, uint64_t *seed,
                            uint64_t *offset, rx_tensor **out)
{
    rx_tensor *xc;
    RX_TRY(rx_op_contiguous(x, &xc));
    rx_status s = rx_empty(x->ndim, x->shape, x->dtype, rx_tensor_device(x), out);
    if (s == RX_OK) {
        if (draw) rx_generator_reserve(gen, (uint64_t)rx_tensor_numel(x), seed, offset);
        s = rx_backend_of(x)->dropout(*out, xc, p, *seed, *offset);
    }
    rx_tensor_release(xc);
    if (s != RX_OK) {
        rx_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

rx_status rx_op_dropout_forward(rx_tensor *x, double p, int training, rx_generator *gen, rx_tensor **out,
                                uint64_t *seed, uint64_t *offset)
{
    const char *op = "dropout";
    *out = NULL;
    RX_TRY(rx_check_tensor(op, 1, x));
    RX_TRY(rx_check_float(op, 1, x));
    if (!(p >= 0.0 && p <= 1.0))
        return rx_fail(RX_ERR_ARG, "%s: argument #2: expected a probability in [0, 1], got %g", op, p);
    if (!training || p == 0.0) {
        *out = rx_tensor_retain(x);
        return RX_OK;
    }
    if (p == 1.0) return finish(op, rx_zeros(x->ndim, x->shape, x->dtype, rx_tensor_device(x), out), out);
    uint64_t sd = 0, off = 0;
    RX_TRY(finish(op, apply_mask(x, p, true, gen, &sd, &off, out), out));
    if (seed) *seed = sd;
    if (offset) *offset = off;
    return RX_OK;
}

rx_status rx_op_dropout_backward(rx_tensor *g, double p, uint64_t seed, uint64_t offset, rx_tensor **dx)
{
    *dx = NULL;
    rx_status s = p >= 1.0 ? rx_zeros(g->ndim, g->shape, g->dtype, rx_tensor_device(g), dx)
                           : apply_mask(g, p, false, NULL, &seed, &offset, dx);
    return s == RX_OK ? RX_OK : rx_fail_context(s, "dropout backward");
}
