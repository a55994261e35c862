/* grad_linalg_index.c — the public matmul and indexing/joining: index_select, gather, scatter_add, cat,
 * stack, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a gradient is
 * needed, records a node whose backward is written here.
 * - matmul (torch.matmul semantics): with both operands promoted to matrices (a 1-D left operand
 *   is a row (1, k), a 1-D right operand a column (k, 1)) and the gradient g to (batch..., n, m),
 *   dA = g B^T and dB = A^T g, summed over the batch dims that the operand was broadcast along
 *   (rx_ag_sum_to) and viewed back to its shape. When B is a matrix and A has batch dims (a linear
 *   layer), dB is one (k, B*n) @ (B*n, m) product instead of a batch of products and a sum.
 * - index_select and gather: zeros of the input's shape with the gradient added at the indices
 *   (scatter_add; duplicate indices accumulate); scatter_add: g for the input, gather(g) for src.
 *   The additions of f16 and bf16 gradients run in f32.
 * - cat: the gradient narrowed into each input's slice; stack: selected at each input's index.
 * Index tensors are integers and never require grad.
 */
#include "autograd.h"

/* ---- scratch steps used here ------------------------------------------------------------------ */

static rx_tensor *matmul(rx_ag_scratch *sc, rx_tensor *a, rx_tensor *b)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_matmul(a, b, &r);
    return rx_ag_keep(sc, s, r);
}

/* The last two dims swapped. */
static rx_tensor *mt(rx_ag_scratch *sc, rx_tensor *t)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_transpose(t, -1, -2, &r);
    return rx_ag_keep(sc, s, r);
}

static rx_tensor *zeros_as(rx_ag_scratch *sc, const rx_output_info *in, rx_dtype dtype)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_zeros(in->ndim, in->shape, dtype, in->device, &r);
    return rx_ag_keep(sc, s, r);
}

static rx_tensor *scatter_add(rx_ag_scratch *sc, rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src)
{
    rx_tensor *r = NULL;
    if (sc->status != RX_OK) return NULL;
    rx_status s = rx_op_scatter_add(a, dim, index, src, &r);
    return rx_ag_keep(sc, s, r);
}

/* ---- matmul ---------------------------------------------------------------------------------- */

/* The shape of operand info promoted to a matrix: (1, k) for a 1-D left operand, (k, 1) for a 1-D
 * right operand; returns its ndim. */
static int promoted(const rx_output_info *info, bool left, int64_t *shape)
{
    if (info->ndim != 1) {
        for (int d = 0; d < info->ndim; d++) shape[d] = info->shape[d];
        return info->ndim;
    }
    shape[0] = left ? 1 : info->shape[0];
    shape[1] = left ? info->shape[0] : 1;
    return 2;
}

static rx_status matmul_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    const rx_output_info *ia = &node->in_info[0], *ib = &node->in_info[1];
    int64_t as[RX_MAX_DIMS] = {0}, bs[RX_MAX_DIMS] = {0}, gs[RX_MAX_DIMS];
    int a_nd = promoted(ia, true, as), b_nd = promoted(ib, false, bs);
    rx_tensor *g = grad_outputs[0];
    /* g promoted to (batch..., n, m): the batch dims are the leading dims of the output */
    int nb = g->ndim - (ia->ndim > 1) - (ib->ndim > 1);
    for (int d = 0; d < nb; d++) gs[d] = g->shape[d];
    gs[nb] = as[a_nd - 2];
    gs[nb + 1] = bs[b_nd - 1];
    rx_ag_scratch sc = {0};
    rx_tensor *g2 = rx_ag_reshape(&sc, g, nb + 2, gs);
    if (node->needs_grad[0]) {
        rx_tensor *b = rx_ag_reshape(&sc, rx_ag_saved(&sc, node, 1), b_nd, bs);
        rx_tensor *full = matmul(&sc, g2, mt(&sc, b)); /* (batch..., n, k) */
        rx_tensor *ga = rx_ag_reshape(&sc, rx_ag_reduce_to(&sc, full, a_nd, as), ia->ndim, ia->shape);
        rx_ag_give(&sc, ga, &grad_inputs[0]);
    }
    if (node->needs_grad[1]) {
        rx_tensor *a = rx_ag_reshape(&sc, rx_ag_saved(&sc, node, 0), a_nd, as), *gb;
        if (b_nd == 2 && nb > 0) { /* one (k, rows) @ (rows, m) product over every batch row */
            int64_t k = as[a_nd - 1], m = gs[nb + 1];
            rx_tensor *rows_a = rx_ag_reshape(&sc, a, 2, (const int64_t[]){-1, k});
            rx_tensor *rows_g = rx_ag_reshape(&sc, g2, 2, (const int64_t[]){-1, m});
            gb = matmul(&sc, mt(&sc, rows_a), rows_g);
        } else {
            gb = rx_ag_reduce_to(&sc, matmul(&sc, mt(&sc, a), g2), b_nd, bs); /* (batch..., k, m) summed */
        }
        rx_ag_give(&sc, rx_ag_reshape(&sc, gb, ib->ndim, ib->shape), &grad_inputs[1]);
    }
    return rx_ag_end(&sc);
}

rx_status rx_matmul(rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    RX_TRY(rx_op_matmul(a, b, out));
    rx_tensor *inputs[2] = {a, b};
    if (!rx_ag_needs_record(2, inputs)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new("MatmulBackward", matmul_backward, 2, inputs, 1, &n);
    /* dA reads b, dB reads a: keep only what a gradient needs */
    if (s == RX_OK) s = rx_node_save(n, n->needs_grad[1] ? a : NULL);
    if (s == RX_OK) s = rx_node_save(n, n->needs_grad[0] ? b : NULL);
    return rx_ag_attach(n, s, 1, out);
}

/* ---- index_select, gather, scatter_add --------------------------------------------------------- */

/* ints: dim (normalised), kind (0 index_select: the 1-D index is spread over g's shape first;
 * 1 gather). Saved: the index. zeros(input) with g added at the index along dim. */
static rx_status index_add_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    const rx_output_info *in = &node->in_info[0];
    int d = (int)node->ints[0];
    rx_dtype ct = rx_ag_compute_dtype(in->dtype);
    rx_tensor *g0 = grad_outputs[0];
    rx_ag_scratch sc = {0};
    rx_tensor *index = rx_ag_saved(&sc, node, 0);
    if (node->ints[1] == 0 && sc.status == RX_OK) { /* (L) -> (1.., L at d, 1..) -> g's shape */
        int64_t shape[RX_MAX_DIMS];
        for (int i = 0; i < in->ndim; i++) shape[i] = i == d ? index->shape[0] : 1;
        rx_tensor *col = rx_ag_reshape(&sc, index, in->ndim, shape), *spread = NULL;
        if (sc.status == RX_OK) {
            rx_status s = rx_op_expand(col, g0->ndim, g0->shape, &spread);
            index = rx_ag_keep(&sc, s, spread);
        }
    }
    rx_tensor *g = rx_ag_cast(&sc, g0, ct);
    rx_tensor *r = scatter_add(&sc, zeros_as(&sc, in, ct), d, index, g);
    rx_ag_give(&sc, rx_ag_cast(&sc, r, in->dtype), &grad_inputs[0]);
    return rx_ag_end(&sc);
}

static rx_status record_index_add(const char *name, int kind, rx_tensor *a, int dim, rx_tensor *index,
                                  rx_tensor **out)
{
    if (!rx_ag_needs_record(1, &a)) return RX_OK;
    int d = 0;
    rx_dim_normalize(dim, a->ndim, &d);
    rx_node *n = NULL;
    rx_status s = rx_node_new(name, index_add_backward, 1, &a, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = d;
        n->ints[1] = kind;
        s = rx_node_save(n, index);
    }
    return rx_ag_attach(n, s, 1, out);
}

rx_status rx_index_select(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out)
{
    RX_TRY(rx_op_index_select(a, dim, index, out));
    return record_index_add("IndexSelectBackward", 0, a, dim, index, out);
}

rx_status rx_gather(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out)
{
    RX_TRY(rx_op_gather(a, dim, index, out));
    return record_index_add("GatherBackward", 1, a, dim, index, out);
}

/* ints: dim (normalised). Saved: the index. Inputs: a, src. */
static rx_status scatter_add_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    if (node->needs_grad[0]) grad_inputs[0] = rx_tensor_retain(grad_outputs[0]);
    if (!node->needs_grad[1]) return RX_OK;
    rx_tensor *index;
    RX_TRY(rx_node_saved(node, 0, &index));
    return rx_op_gather(grad_outputs[0], (int)node->ints[0], index, &grad_inputs[1]);
}

rx_status rx_scatter_add(rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src, rx_tensor **out)
{
    RX_TRY(rx_op_scatter_add(a, dim, index, src, out));
    rx_tensor *inputs[2] = {a, src};
    if (!rx_ag_needs_record(2, inputs)) return RX_OK;
    int d = 0;
    rx_dim_normalize(dim, a->ndim, &d);
    rx_node *n = NULL;
    rx_status s = rx_node_new("ScatterAddBackward", scatter_add_backward, 2, inputs, 1, &n);
    if (s == RX_OK) {
        n->ints[0] = d;
        s = rx_node_save(n, index);
    }
    return rx_ag_attach(n, s, 1, out);
}

/* ---- cat, stack -------------------------------------------------------------------------------- */

/* ints: dim (normalised). Each input's slice of the gradient along dim. */
static rx_status cat_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    int d = (int)node->ints[0];
    int64_t start = 0;
    for (int i = 0; i < node->n_inputs; i++) {
        int64_t len = node->in_info[i].shape[d];
        if (node->needs_grad[i]) RX_TRY(rx_op_narrow(grad_outputs[0], d, start, len, &grad_inputs[i]));
        start += len;
    }
    return RX_OK;
}

rx_status rx_cat(int n, rx_tensor *const *tensors, int dim, rx_tensor **out)
{
    RX_TRY(rx_op_cat(n, tensors, dim, out));
    if (!rx_ag_needs_record(n, tensors)) return RX_OK;
    int d = 0;
    rx_dim_normalize(dim, tensors[0]->ndim, &d);
    rx_node *node = NULL;
    rx_status s = rx_node_new("CatBackward", cat_backward, n, tensors, 1, &node);
    if (s == RX_OK) node->ints[0] = d;
    return rx_ag_attach(node, s, 1, out);
}

/* ints: dim (normalised, of the output). Input i's gradient is the gradient at index i of dim. */
static rx_status stack_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    for (int i = 0; i < node->n_inputs; i++)
        if (node->needs_grad[i]) RX_TRY(rx_op_select(grad_outputs[0], (int)node->ints[0], i, &grad_inputs[i]));
    return RX_OK;
}

rx_status rx_stack(int n, rx_tensor *const *tensors, int dim, rx_tensor **out)
{
    RX_TRY(rx_op_stack(n, tensors, dim, out));
    if (!rx_ag_needs_record(n, tensors)) return RX_OK;
    int d = 0;
    rx_dim_normalize(dim, tensors[0]->ndim + 1, &d);
    rx_node *node = NULL;
    rx_status s = rx_node_new("StackBackward", stack_backward, n, tensors, 1, &node);
    if (s == RX_OK) node->ints[0] = d;
    return rx_ag_attach(node, s, 1, out);
}
