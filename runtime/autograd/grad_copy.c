/* grad_copy.c — the public copies and casts: contiguous, clone, to, copy_, fill_, with their autograd
 * recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a gradient is
 * needed, records a node whose backward is written here. contiguous and clone pass the gradient
 * through; a cast to another float dtype casts it back to the input's dtype, and a cast to an
 * integer or bool dtype is not differentiable (its output never requires grad); a device move
 * moves it back. When contiguous, to_dtype or to_device return their input itself (nothing to
 * do), nothing is recorded: the input keeps its own place in the graph. copy_, copy_at_ and fill_
 * write in place and never record: they are errors on a tensor that requires grad while grad mode
 * is on.
 */
#include "autograd.h"

static rx_status identity_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    grad_inputs[0] = rx_tensor_retain(grad_outputs[0]);
    return RX_OK;
}

static rx_status to_dtype_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    return rx_op_to_dtype(grad_outputs[0], node->in_info[0].dtype, &grad_inputs[0]);
}

static rx_status to_device_backward(rx_node *node, rx_tensor *const *grad_outputs, rx_tensor **grad_inputs)
{
    return rx_op_to_device(grad_outputs[0], node->in_info[0].device, &grad_inputs[0]);
}

/* Records a node over t for *out unless *out is t itself, not float, or no gradient is needed. */
static rx_status record_copy(const char *name, rx_backward_fn backward, rx_tensor *t, rx_tensor **out)
{
    if (*out == t || !rx_dtype_is_float((*out)->dtype) || !rx_ag_needs_record(1, &t)) return RX_OK;
    rx_node *n = NULL;
    rx_status s = rx_node_new(name, backward, 1, &t, 1, &n);
    return rx_ag_attach(n, s, 1, out);
}

rx_status rx_contiguous(rx_tensor *t, rx_tensor **out)
{
    RX_TRY(rx_op_contiguous(t, out));
    return record_copy("ContiguousBackward", identity_backward, t, out);
}

rx_status rx_clone(rx_tensor *t, rx_tensor **out)
{
    RX_TRY(rx_op_clone(t, out));
    return record_copy("CloneBackward", identity_backward, t, out);
}

rx_status rx_to_dtype(rx_tensor *t, rx_dtype dtype, rx_tensor **out)
{
    RX_TRY(rx_op_to_dtype(t, dtype, out));
    return record_copy("ToDtypeBackward", to_dtype_backward, t, out);
}

rx_status rx_to_device(rx_tensor *t, rx_device device, rx_tensor **out)
{
    RX_TRY(rx_op_to_device(t, device, out));
    return record_copy("ToDeviceBackward", to_device_backward, t, out);
}

rx_status rx_copy_(rx_tensor *dst, rx_tensor *src)
{
    RX_TRY(rx_ag_check_inplace("copy_", 1, dst));
    RX_TRY(rx_op_copy_(dst, src));
    rx_tensor_bump_version(dst);
    return RX_OK;
}

rx_status rx_copy_at_(rx_tensor *dst, int dim, rx_tensor *offset, rx_tensor *src)
{
    RX_TRY(rx_ag_check_inplace("copy_at_", 1, dst));
    RX_TRY(rx_op_copy_at_(dst, dim, offset, src));
    rx_tensor_bump_version(dst);
    return RX_OK;
}

rx_status rx_fill_(rx_tensor *t, double value)
{
    RX_TRY(rx_ag_check_inplace("fill_", 1, t));
    RX_TRY(rx_op_fill_(t, value));
    rx_tensor_bump_version(t);
    return RX_OK;
}
