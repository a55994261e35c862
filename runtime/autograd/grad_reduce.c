/* grad_reduce.c — the public reductions, scans, softmax and sorting, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a gradient is
 * needed and the output is a float tensor, records a node whose backward is written here.
 * argmax, argmin, any, all and the index outputs of max_dim, min_dim, sort and topk are integer or
 * bool tensors and never require grad.
 *
 * Gradients:
 * - sum and mean spread the gradient over the reduced dims (mean divides by their element count).
 * - prod: d/dx_i = prod_{j != i} x_j, computed from P, the product of the non-zero elements, and
 *   Z, the number of zeros, of each reduced group: P / x_i when Z = 0; P at the zero and 0
 *   elsewhere when Z = 1; 0 everywhere when Z >= 2. So zeros are exact, not NaN.
 * - max and min over dims split the gradient evenly among the elements equal to the extreme
 *   (torch's amax rule); max_dim and min_dim give it all to the selected index.
 * - cumsum: the reversed cumulative sum of the gradient; softmax: y (g - sum(g y));
 *   log_softmax: g - exp(y) sum(g); sort and topk scatter the gradient back through the indices.
 * The formulas of f16 and bf16 tensors run in f32 (sum and mean only spread the gradient and
 * round at most once: they stay in the input's dtype).
 */
#include "autograd.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

/* The reduced dims as a bitmask (ndims == 0: all dims); a 0-d tensor has the one dim 0. */
static int64_t dims_mask(const rx_tensor *a, int ndims, const int *dims)
{
    int nd = a->ndim > 0 ? a->ndim : 1;
    if (ndims == 0) return ((int64_t)1 << nd) - 1;
    int64_t mask = 0;
    for (int i = 0; i < ndims; i++) {
        int d = 0;
        if (a->ndim > 0) rx_dim_normalize(dims[i], a->ndim, &d);
        mask |= (int64_t)1 << d;
    }
    return mask;
}

/* The input's shape with 1 at the reduced dims (the keepdim shape of the output). */
static void kept_shape(const rx_output_info *in, int64_t mask, int64_t *shape)
{
    for (int d = 0; d < in->ndim; d++) shape[d] = (mask >> d) & 1 ? 1 : in->shape[d];
}

/* The dims of mask as a list for rx_op_reduce; returns their count. */
static int mask_dims(const rx_output_info *in, int64_t mask, int *dims)
{
    int n = 0;
    for (int d = 0; d < (in->ndim > 0 ? in->ndim : 1); d++)
        if ((mask >> d) & 1) dims[n++] = d;
    return n;
}

static rx_tensor *expand_to(rx_ag_scratch *sc, rx_tensor *t, const rx_output_info *in)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_expand(t, in->ndim, in->shape, &r);
    return rx_ag_keep(sc, s, r);
}

/* The reduction `op` of t over ndims dims, keeping them. */
static rx_tensor *reduce_keep(rx_ag_scratch *sc, rx_reduce_op op, rx_tensor *t, int ndims, const int *dims)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_reduce(op, t, ndims, dims, 1, &r);
    return rx_ag_keep(sc, s, r);
}

static rx_tensor *zeros_of(rx_ag_scratch *sc, const rx_output_info *in)
{
    rx_tensor *t = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_ag_zeros_like_info(in, &t);
    return rx_ag_keep(sc, s, t);
}

/* ---- reductions ------------------------------------------------------------------------------- */

static rx_status reduce_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    rx_reduce_op op = (rx_reduce_op)node->ints[0];
    int64_t mask = node->ints[1];
    const rx_output_info *in = &node->in_info[0];
    /* sum and mean only spread g (mean with one division): no f32 copy */
    rx_dtype ct = op == RX_SUM || op == RX_MEAN ? in->dtype : rx_ag_compute_dtype(in->dtype);
    int64_t ks[RX_MAX_DIMS], count = 1;
    int dims[RX_MAX_DIMS], nd = mask_dims(in, mask, dims);
    kept_shape(in, mask, ks);
    for (int d = 0; d < in->ndim; d++)
        if ((mask >> d) & 1) count *= in->shape[d];
    rx_ag_scratch sc = {0};
    rx_tensor *gk = rx_ag_reshape(&sc, rx_ag_cast(&sc, grad_outputs[0], ct), in->ndim, ks), *r = NULL;
    switch (op) {
    case RX_SUM: r = expand_to(&sc, gk, in); break;
    case RX_MEAN: r = expand_to(&sc, rx_ag_scalar(&sc, RX_DIV, gk, (double)count, 0), in); break;
    case RX_PROD: {
        rx_tensor *x = rx_ag_cast(&sc, rx_ag_saved(&sc, node, 0), ct);
        rx_tensor *zero = rx_ag_scalar(&sc, RX_EQ, x, 0, 0);
        rx_tensor *nonzero = rx_ag_where(&sc, zero, rx_ag_const(&sc, x, 1), x);
        rx_tensor *p = reduce_keep(&sc, RX_PROD, nonzero, nd, dims);
        rx_tensor *zeros = reduce_keep(&sc, RX_SUM, zero, nd, dims); /* i64 count of zeros */
        rx_tensor *only = rx_ag_binary(&sc, RX_LOGICAL_AND, rx_ag_scalar(&sc, RX_EQ, zeros, 1, 0), zero);
        rx_tensor *d = rx_ag_where(&sc, rx_ag_scalar(&sc, RX_EQ, zeros, 0, 0), rx_ag_binary(&sc, RX_DIV, p, nonzero),
                                   rx_ag_where(&sc, only, p, rx_ag_const(&sc, x, 0)));
        r = rx_ag_binary(&sc, RX_MUL, gk, d);
        break;
    }
    case RX_MAX:
    case RX_MIN: {
        rx_tensor *x = rx_ag_cast(&sc, rx_ag_saved(&sc, node, 0), ct);
        rx_tensor *y = rx_ag_reshape(&sc, rx_ag_cast(&sc, rx_ag_saved(&sc, node, 1), ct), in->ndim, ks);
        rx_tensor *hit = rx_ag_binary(&sc, RX_EQ, x, y);
        rx_tensor *ties = rx_ag_cast(&sc, reduce_keep(&sc, RX_SUM, hit, nd, dims), ct);
        r = rx_ag_where(&sc, hit, rx_ag_binary(&sc, RX_DIV, gk, ties), rx_ag_const(&sc, x, 0));
        break;
    }
    default:
        sc.status = rx_fail(RX_ERR_INTERNAL, "autograd: no gradient formula for %s", rx_reduce_op_name(op));
        break;
    }
    rx_ag_give(&sc, rx_ag_cast(&sc, r, in->dtype), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

static const char *reduce_node_name(rx_reduce_op op)
{
    switch (op) {
    case RX_SUM: return "SumBackward";
    case RX_MEAN: return "MeanBackward";
    case RX_PROD: return "ProdBackward";
    case RX_MAX: return "MaxBackward";
    case RX_MIN: return "MinBackward";
    default: return NULL; /* not differentiable */
    }
}

rx_status rx_reduce(rx_reduce_op op, rx_tensor *a, int ndims, const int *dims, int keepdim, rx_tensor **out)
{
    RX_TRY(rx_op_reduce(op, a, ndims, dims, keepdim, out));
    const char *name = reduce_node_name(op);
    if (!name || !rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(1, &a)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new(name, reduce_backward, 1, &a, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = op;
        n->ints[1] = dims_mask(a, ndims, dims);
        if (op == RX_PROD || op == RX_MAX || op == RX_MIN) s = rx_node_save(n, a);
        if (s == RX_OK && (op == RX_MAX || op == RX_MIN)) s = rx_node_save(n, *out);
    }
    return rx_ag_attach(n, s, 1, out);
}

/* ---- outputs picked by index: max_dim, min_dim, sort, topk ---------------------------------- */

/* ints: dim (normalised), keepdim (0: the index and the gradient lack dim). Saved: the indices.
 * The gradient is scattered into zeros of the input's shape at the indices along dim. */
static rx_status pick_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    const rx_output_info *in = &node->in_info[0];
    if (in->ndim == 0) return rx_op_reshape(grad_outputs[0], 0, NULL, &grad_inputs[0]);
    int d = (int)node->ints[0];
    bool keepdim = node->ints[1] != 0;
    rx_ag_scratch sc = {0};
    rx_tensor *ix = rx_ag_saved(&sc, node, 0), *g = grad_outputs[0];
    if (!keepdim && sc.status == RX_OK) {
        rx_tensor *t = NULL;
        rx_status s = rx_op_unsqueeze(ix, d, &t);
        ix = rx_ag_keep(&sc, s, t);
        if (sc.status == RX_OK) s = rx_op_unsqueeze(g, d, &t);
        g = rx_ag_keep(&sc, s, t);
    }
    rx_tensor *z = zeros_of(&sc, in), *r = NULL;
    if (sc.status == RX_OK) {
        rx_status s = rx_op_scatter_add(z, d, ix, g, &r);
        r = rx_ag_keep(&sc, s, r);
    }
    rx_ag_give(&sc, r, &grad_inputs[0]);
    return rx_ag_end(&sc);
}

/* Records `name` for *values over a, once the op ran with status s and gave the index tensor ix
 * (owned here: handed to *indices when the caller asked for it, else released). */
static rx_status record_pick(const char *name, rx_status s, rx_tensor *a, int dim, int keepdim,
                             rx_tensor **values, rx_tensor *ix, rx_tensor **indices)
{
    if (indices) *indices = NULL;
    RX_TRY(s);
    int d = 0;
    if (a->ndim > 0) rx_dim_normalize(dim, a->ndim, &d);
    rx_node *n = NULL;
    s = rx_node_new(name, pick_backward, 1, &a, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = d;
        n->ints[1] = keepdim != 0;
        s = rx_node_save(n, ix);
    }
    s = rx_ag_attach(n, s, 1, values);
    if (s == RX_OK && indices)
        *indices = ix;
    else
        rx_tensor_release(ix);
    return s;
}

static bool picks_need_record(rx_tensor *a, rx_tensor **values)
{
    return values && a && rx_dtype_is_float(a->dtype) && rx_ag_needs_record(1, &a);
}

rx_status rx_max_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices)
{
    if (!picks_need_record(a, values)) return rx_op_max_dim(a, dim, keepdim, values, indices);
    rx_tensor *ix = NULL;
    rx_status s = rx_op_max_dim(a, dim, keepdim, values, &ix);
    return record_pick("MaxDimBackward", s, a, dim, keepdim, values, ix, indices);
}

rx_status rx_min_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices)
{
    if (!picks_need_record(a, values)) return rx_op_min_dim(a, dim, keepdim, values, indices);
    rx_tensor *ix = NULL;
    rx_status s = rx_op_min_dim(a, dim, keepdim, values, &ix);
    return record_pick("MinDimBackward", s, a, dim, keepdim, values, ix, indices);
}

rx_status rx_sort(rx_tensor *a, int dim, int descending, rx_tensor **values, rx_tensor **indices)
{
    if (!picks_need_record(a, values)) return rx_op_sort(a, dim, descending, values, indices);
    rx_tensor *ix = NULL;
    rx_status s = rx_op_sort(a, dim, descending, values, &ix);
    return record_pick("SortBackward", s, a, dim, 1, values, ix, indices);
}

rx_status rx_topk(rx_tensor *a, int64_t k, int dim, int largest, rx_tensor **values, rx_tensor **indices)
{
    if (!picks_need_record(a, values)) return rx_op_topk(a, k, dim, largest, values, indices);
    rx_tensor *ix = NULL;
    rx_status s = rx_op_topk(a, k, dim, largest, values, &ix);
    return record_pick("TopkBackward", s, a, dim, 1, values, ix, indices);
}

/* ---- cumsum, softmax, log_softmax -------------------------------------------------------------- */

/* t with dim d reversed (rev: the indices n-1 .. 0). */
static rx_tensor *flip(rx_ag_scratch *sc, rx_tensor *t, int d, rx_tensor *rev)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_index_select(t, d, rev, &r);
    return rx_ag_keep(sc, s, r);
}

static rx_tensor *cumsum(rx_ag_scratch *sc, rx_tensor *t, int d)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_cumsum(t, d, &r);
    return rx_ag_keep(sc, s, r);
}

/* ints: dim (normalised). The gradient cumulated from the end: flip, cumsum, flip. */
static rx_status cumsum_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    const rx_output_info *in = &node->in_info[0];
    int d = (int)node->ints[0];
    int64_t n = in->ndim > 0 ? in->shape[d] : 1;
    if (n <= 1) {
        grad_inputs[0] = rx_tensor_retain(grad_outputs[0]);
        return RX_OK;
    }
    rx_ag_scratch sc = {0};
    rx_tensor *rev = NULL;
    rx_status s = rx_arange((double)(n - 1), -1, -1, RX_I64, in->device, &rev);
    rev = rx_ag_keep(&sc, s, rev);
    rx_tensor *g = rx_ag_cast(&sc, grad_outputs[0], rx_ag_compute_dtype(in->dtype));
    rx_tensor *r = flip(&sc, cumsum(&sc, flip(&sc, g, d, rev), d), d, rev);
    rx_ag_give(&sc, rx_ag_cast(&sc, r, in->dtype), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

rx_status rx_cumsum(rx_tensor *a, int dim, rx_tensor **out)
{
    RX_TRY(rx_op_cumsum(a, dim, out));
    if (!rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(1, &a)) return RX_OK;
    int d = 0;
    if (a->ndim > 0) rx_dim_normalize(dim, a->ndim, &d);
    rx_node *n = NULL;
    rx_status s = rx_node_new("CumsumBackward", cumsum_backward, 1, &a, 1, &n);
    if (s == RX_OK) n->ints[0] = d;
    return rx_ag_attach(n, s, 1, out);
}

/* ints: log (0 softmax, 1 log_softmax), dim. Saved: the output y. */
static rx_status softmax_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    const rx_output_info *in = &node->in_info[0];
    rx_dtype ct = rx_ag_compute_dtype(in->dtype);
    int dim = (int)node->ints[1];
    rx_ag_scratch sc = {0};
    rx_tensor *y = rx_ag_cast(&sc, rx_ag_saved(&sc, node, 0), ct);
    rx_tensor *g = rx_ag_cast(&sc, grad_outputs[0], ct), *r;
    if (node->ints[0]) /* g - exp(y) sum(g) */
        r = rx_ag_binary(&sc, RX_SUB, g,
                         rx_ag_binary(&sc, RX_MUL, rx_ag_unary(&sc, RX_EXP, y), reduce_keep(&sc, RX_SUM, g, 1, &dim)));
    else /* y (g - sum(g y)) */
        r = rx_ag_binary(&sc, RX_MUL, y,
                         rx_ag_binary(&sc, RX_SUB, g, reduce_keep(&sc, RX_SUM, rx_ag_binary(&sc, RX_MUL, g, y), 1, &dim)));
    rx_ag_give(&sc, rx_ag_cast(&sc, r, in->dtype), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

static rx_status record_softmax(int log, rx_tensor *a, int dim, rx_tensor **out)
{
    if (!rx_ag_needs_record(1, &a)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new(log ? "LogSoftmaxBackward" : "SoftmaxBackward", softmax_backward, 1, &a, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = log;
        n->ints[1] = dim;
        s = rx_node_save(n, *out);
    }
    return rx_ag_attach(n, s, 1, out);
}

rx_status rx_softmax(rx_tensor *a, int dim, rx_tensor **out)
{
    RX_TRY(rx_op_softmax(a, dim, out));
    return record_softmax(0, a, dim, out);
}

rx_status rx_log_softmax(rx_tensor *a, int dim, rx_tensor **out)
{
    RX_TRY(rx_op_log_softmax(a, dim, out));
    return record_softmax(1, a, dim, out);
}
