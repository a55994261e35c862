/* grad_reduce.c — the public reductions, scans, softmax and sorting, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a
 * gradient is needed, records a node whose backward is written here.
 */
#include "autograd.h"

rx_status rx_reduce(rx_reduce_op op, rx_tensor *a, int ndims, const int *dims, int keepdim, rx_tensor **out)
{
    return rx_op_reduce(op, a, ndims, dims, keepdim, out);
}

rx_status rx_max_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices)
{
    return rx_op_max_dim(a, dim, keepdim, values, indices);
}

rx_status rx_min_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices)
{
    return rx_op_min_dim(a, dim, keepdim, values, indices);
}

rx_status rx_cumsum(rx_tensor *a, int dim, rx_tensor **out)
{
    return rx_op_cumsum(a, dim, out);
}

rx_status rx_softmax(rx_tensor *a, int dim, rx_tensor **out)
{
    return rx_op_softmax(a, dim, out);
}

rx_status rx_log_softmax(rx_tensor *a, int dim, rx_tensor **out)
{
    return rx_op_log_softmax(a, dim, out);
}

rx_status rx_sort(rx_tensor *a, int dim, int descending, rx_tensor **values, rx_tensor **indices)
{
    return rx_op_sort(a, dim, descending, values, indices);
}

rx_status rx_topk(rx_tensor *a, int64_t k, int dim, int largest, rx_tensor **values, rx_tensor **indices)
{
    return rx_op_topk(a, k, dim, largest, values, indices);
}
