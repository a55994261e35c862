/* grad_linalg_index.c — the public matmul and indexing/joining: index_select, gather, scatter_add, cat, stack, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a
 * gradient is needed, records a node whose backward is written here.
 */
#include "autograd.h"

rx_status rx_matmul(rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    return rx_op_matmul(a, b, out);
}

rx_status rx_index_select(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out)
{
    return rx_op_index_select(a, dim, index, out);
}

rx_status rx_gather(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out)
{
    return rx_op_gather(a, dim, index, out);
}

rx_status rx_scatter_add(rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src, rx_tensor **out)
{
    return rx_op_scatter_add(a, dim, index, src, out);
}

rx_status rx_cat(int n, rx_tensor *const *tensors, int dim, rx_tensor **out)
{
    return rx_op_cat(n, tensors, dim, out);
}

rx_status rx_stack(int n, rx_tensor *const *tensors, int dim, rx_tensor **out)
{
    return rx_op_stack(n, tensors, dim, out);
}
