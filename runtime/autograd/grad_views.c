/* grad_views.c — the public views: view, reshape, narrow, select, transpose, permute, expand, squeeze,
 * unsqueeze, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a gradient is
 * needed, records a node whose backward is written here. The backward of a view maps the gradient
 * of the view back onto the input's shape: a reshape for the views that only regroup elements
 * (view, reshape, squeeze, unsqueeze), the inverse permutation for transpose and permute, a sum
 * over the broadcast dims for expand, and zeros with the gradient copied into the viewed slot for
 * narrow and select. Views save no tensors, so their backward can run any number of times.
 */
#include "autograd.h"

/* Records a view node over t for *out with up to 8 integer parameters. */
static rx_status record_view(const char *name, rx_backward_fn backward, rx_tensor *t, int n_ints,
                             const int64_t *ints, rx_tensor **out)
{
    if (!rx_ag_needs_record(1, &t)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new(name, backward, 1, &t, 1, &n);
    if (s == RX_OK)
        for (int i = 0; i < n_ints; i++) n->ints[i] = ints[i];
    return rx_ag_attach(n, s, 1, out);
}

/* view, reshape, squeeze, unsqueeze: the gradient reshaped to the input's shape. */
static rx_status reshape_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    const rx_output_info *in = &node->in_info[0];
    return rx_op_reshape(grad_outputs[0], in->ndim, in->shape, &grad_inputs[0]);
}

rx_status rx_view(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    RX_TRY(rx_op_view(t, ndim, shape, out));
    return record_view("ViewBackward", reshape_backward, t, 0, NULL, out);
}

rx_status rx_reshape(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    RX_TRY(rx_op_reshape(t, ndim, shape, out));
    return record_view("ReshapeBackward", reshape_backward, t, 0, NULL, out);
}

/* narrow (ints: dim, start, length) and select (ints: dim, index): zeros of the input's shape with
 * the gradient copied into the slot the view showed. */
static rx_status slot_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    bool narrow = node->ints[3] != 0;
    rx_tensor *z = NULL, *slot = NULL;
    RX_TRY(rx_ag_zeros_like_info(&node->in_info[0], &z));
    int dim = (int)node->ints[0];
    rx_status s = narrow ? rx_op_narrow(z, dim, node->ints[1], node->ints[2], &slot)
                         : rx_op_select(z, dim, node->ints[1], &slot);
    if (s == RX_OK) s = rx_op_copy_(slot, grad_outputs[0]);
    rx_tensor_release(slot);
    if (s != RX_OK) {
        rx_tensor_release(z);
        return s;
    }
    grad_inputs[0] = z;
    return RX_OK;
}

rx_status rx_narrow(rx_tensor *t, int dim, int64_t start, int64_t length, rx_tensor **out)
{
    RX_TRY(rx_op_narrow(t, dim, start, length, out));
    int d = 0;
    rx_dim_normalize(dim, t->ndim, &d);
    return record_view("NarrowBackward", slot_backward, t, 4, (const int64_t[]){d, start, length, 1}, out);
}

rx_status rx_select(rx_tensor *t, int dim, int64_t index, rx_tensor **out)
{
    RX_TRY(rx_op_select(t, dim, index, out));
    int d = 0;
    rx_dim_normalize(dim, t->ndim, &d);
    int64_t i = index < 0 ? index + t->shape[d] : index;
    return record_view("SelectBackward", slot_backward, t, 4, (const int64_t[]){d, i, 1, 0}, out);
}

/* transpose (ints: dim0, dim1): the same transpose of the gradient. */
static rx_status transpose_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    return rx_op_transpose(grad_outputs[0], (int)node->ints[0], (int)node->ints[1], &grad_inputs[0]);
}

rx_status rx_transpose(rx_tensor *t, int dim0, int dim1, rx_tensor **out)
{
    RX_TRY(rx_op_transpose(t, dim0, dim1, out));
    return record_view("TransposeBackward", transpose_backward, t, 2, (const int64_t[]){dim0, dim1}, out);
}

/* permute (ints: the inverse permutation). */
static rx_status permute_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    int nd = node->in_info[0].ndim, inverse[RX_MAX_DIMS];
    for (int i = 0; i < nd; i++) inverse[i] = (int)node->ints[i];
    return rx_op_permute(grad_outputs[0], nd, inverse, &grad_inputs[0]);
}

rx_status rx_permute(rx_tensor *t, int ndim, const int *dims, rx_tensor **out)
{
    RX_TRY(rx_op_permute(t, ndim, dims, out));
    int64_t inverse[RX_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int d = 0;
        rx_dim_normalize(dims[i], ndim, &d);
        inverse[d] = i;
    }
    return record_view("PermuteBackward", permute_backward, t, ndim, inverse, out);
}

/* expand: the gradient summed over the broadcast dims. */
static rx_status expand_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    const rx_output_info *in = &node->in_info[0];
    return rx_ag_sum_to(grad_outputs[0], in->ndim, in->shape, &grad_inputs[0]);
}

rx_status rx_expand(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    RX_TRY(rx_op_expand(t, ndim, shape, out));
    return record_view("ExpandBackward", expand_backward, t, 0, NULL, out);
}

rx_status rx_squeeze(rx_tensor *t, int dim, rx_tensor **out)
{
    RX_TRY(rx_op_squeeze(t, dim, out));
    return record_view("SqueezeBackward", reshape_backward, t, 0, NULL, out);
}

rx_status rx_squeeze_all(rx_tensor *t, rx_tensor **out)
{
    RX_TRY(rx_op_squeeze_all(t, out));
    return record_view("SqueezeBackward", reshape_backward, t, 0, NULL, out);
}

rx_status rx_unsqueeze(rx_tensor *t, int dim, rx_tensor **out)
{
    RX_TRY(rx_op_unsqueeze(t, dim, out));
    return record_view("UnsqueezeBackward", reshape_backward, t, 0, NULL, out);
}
