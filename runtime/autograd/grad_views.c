/* grad_views.c — the public views: view, reshape, narrow, select, transpose, permute, expand, squeeze, unsqueeze, with their autograd recording.
 *
 * Owns: the public rx_* functions of these ops: each runs the raw op (ops/) and, when a
 * gradient is needed, records a node whose backward is written here.
 */
#include "autograd.h"

rx_status rx_view(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    return rx_op_view(t, ndim, shape, out);
}

rx_status rx_reshape(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    return rx_op_reshape(t, ndim, shape, out);
}

rx_status rx_narrow(rx_tensor *t, int dim, int64_t start, int64_t length, rx_tensor **out)
{
    return rx_op_narrow(t, dim, start, length, out);
}

rx_status rx_select(rx_tensor *t, int dim, int64_t index, rx_tensor **out)
{
    return rx_op_select(t, dim, index, out);
}

rx_status rx_transpose(rx_tensor *t, int dim0, int dim1, rx_tensor **out)
{
    return rx_op_transpose(t, dim0, dim1, out);
}

rx_status rx_permute(rx_tensor *t, int ndim, const int *dims, rx_tensor **out)
{
    return rx_op_permute(t, ndim, dims, out);
}

rx_status rx_expand(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    return rx_op_expand(t, ndim, shape, out);
}

rx_status rx_squeeze(rx_tensor *t, int dim, rx_tensor **out)
{
    return rx_op_squeeze(t, dim, out);
}

rx_status rx_squeeze_all(rx_tensor *t, rx_tensor **out)
{
    return rx_op_squeeze_all(t, out);
}

rx_status rx_unsqueeze(rx_tensor *t, int dim, rx_tensor **out)
{
    return rx_op_unsqueeze(t, dim, out);
}
