/* grad_elementwise.c — the public elementwise ops: unary, binary, binary with a scalar, clamp, where, masked_fill, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a
 * gradient is needed, records a node whose backward is written here.
 */
#include "autograd.h"

rx_status rx_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out)
{
    return rx_op_unary(op, a, out);
}

rx_status rx_binary(rx_binary_op op, rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    return rx_op_binary(op, a, b, out);
}

rx_status rx_binary_scalar(rx_binary_op op, rx_tensor *a, double s, int scalar_first, rx_tensor **out)
{
    return rx_op_binary_scalar(op, a, s, scalar_first, out);
}

rx_status rx_binary_(rx_binary_op op, rx_tensor *a, rx_tensor *b)
{
    RX_TRY(rx_ag_check_inplace("binary_", 1, a));
    RX_TRY(rx_op_binary_(op, a, b));
    rx_tensor_bump_version(a);
    return RX_OK;
}

rx_status rx_clamp(rx_tensor *a, double lo, double hi, rx_tensor **out)
{
    return rx_op_clamp(a, lo, hi, out);
}

rx_status rx_where(rx_tensor *cond, rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    return rx_op_where(cond, a, b, out);
}

rx_status rx_masked_fill(rx_tensor *a, rx_tensor *mask, double value, rx_tensor **out)
{
    return rx_op_masked_fill(a, mask, value, out);
}
