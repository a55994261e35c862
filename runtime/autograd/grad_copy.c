/* grad_copy.c — the public copies and casts: contiguous, clone, to, copy_, fill_, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a
 * gradient is needed, records a node whose backward is written here.
 */
#include "autograd.h"

rx_status rx_contiguous(rx_tensor *t, rx_tensor **out)
{
    return rx_op_contiguous(t, out);
}

rx_status rx_clone(rx_tensor *t, rx_tensor **out)
{
    return rx_op_clone(t, out);
}

rx_status rx_to_dtype(rx_tensor *t, rx_dtype dtype, rx_tensor **out)
{
    return rx_op_to_dtype(t, dtype, out);
}

rx_status rx_to_device(rx_tensor *t, rx_device device, rx_tensor **out)
{
    return rx_op_to_device(t, device, out);
}

rx_status rx_copy_(rx_tensor *dst, rx_tensor *src)
{
    RX_TRY(rx_ag_check_inplace("copy_", 1, dst));
    RX_TRY(rx_op_copy_(dst, src));
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
