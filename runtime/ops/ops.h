/* ops.h — the raw ops: the public ops of recx.h without autograd recording.
 *
 * Owns: nothing but declarations. Each rx_op_NAME has exactly the contract of the public rx_NAME
 * in recx.h; the public functions (runtime/autograd/) call these and record a graph node when
 * gradients are needed. Backward functions call these so that they never record.
 */
#ifndef RECX_OPS_H
#define RECX_OPS_H

#include "../backend/backend.h"

rx_status rx_op_view(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_op_reshape(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_op_narrow(rx_tensor *t, int dim, int64_t start, int64_t length, rx_tensor **out);
rx_status rx_op_select(rx_tensor *t, int dim, int64_t index, rx_tensor **out);
rx_status rx_op_transpose(rx_tensor *t, int dim0, int dim1, rx_tensor **out);
rx_status rx_op_permute(rx_tensor *t, int ndim, const int *dims, rx_tensor **out);
rx_status rx_op_expand(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_op_squeeze(rx_tensor *t, int dim, rx_tensor **out);
rx_status rx_op_squeeze_all(rx_tensor *t, rx_tensor **out);
rx_status rx_op_unsqueeze(rx_tensor *t, int dim, rx_tensor **out);
rx_status rx_op_contiguous(rx_tensor *t, rx_tensor **out);
rx_status rx_op_clone(rx_tensor *t, rx_tensor **out);
rx_status rx_op_to_dtype(rx_tensor *t, rx_dtype dtype, rx_tensor **out);
rx_status rx_op_to_device(rx_tensor *t, rx_device device, rx_tensor **out);
rx_status rx_op_copy_(rx_tensor *dst, rx_tensor *src);
rx_status rx_op_fill_(rx_tensor *t, double value);
rx_status rx_op_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out);
rx_status rx_op_binary(rx_binary_op op, rx_tensor *a, rx_tensor *b, rx_tensor **out);
rx_status rx_op_binary_scalar(rx_binary_op op, rx_tensor *a, double s, int scalar_first, rx_tensor **out);
rx_status rx_op_binary_(rx_binary_op op, rx_tensor *a, rx_tensor *b);
rx_status rx_op_clamp(rx_tensor *a, double lo, double hi, rx_tensor **out);
rx_status rx_op_where(rx_tensor *cond, rx_tensor *a, rx_tensor *b, rx_tensor **out);
rx_status rx_op_masked_fill(rx_tensor *a, rx_tensor *mask, double value, rx_tensor **out);
rx_status rx_op_reduce(rx_reduce_op op, rx_tensor *a, int ndims, const int *dims, int keepdim, rx_tensor **out);
rx_status rx_op_max_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_min_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_cumsum(rx_tensor *a, int dim, rx_tensor **out);
rx_status rx_op_matmul(rx_tensor *a, rx_tensor *b, rx_tensor **out);
rx_status rx_op_softmax(rx_tensor *a, int dim, rx_tensor **out);
rx_status rx_op_log_softmax(rx_tensor *a, int dim, rx_tensor **out);
rx_status rx_op_sort(rx_tensor *a, int dim, int descending, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_topk(rx_tensor *a, int64_t k, int dim, int largest, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_index_select(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out);
rx_status rx_op_gather(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out);
rx_status rx_op_scatter_add(rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src, rx_tensor **out);
rx_status rx_op_cat(int n, rx_tensor *const *tensors, int dim, rx_tensor **out);
rx_status rx_op_stack(int n, rx_tensor *const *tensors, int dim, rx_tensor **out);

#endif /* RECX_OPS_H */
