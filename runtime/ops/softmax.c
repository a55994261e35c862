/* softmax.c — softmax and log-softmax along any dim.
 *
 * Owns: the argument checks (a float tensor, a dim in range) and moving the dim last: the input
 * is permuted so that `dim` is innermost, made contiguous and viewed as (M, N) for the row
 * kernel; the result is permuted back and returned contiguous in the input's dim order.
 */
#include "ops.h"

static rx_status softmax_op(const char *name, int log, rx_tensor *a, int dim, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor(name, 1, a));
    RX_TRY(rx_check_float(name, 1, a));
    int d;
    RX_TRY(rx_check_dim(name, 2, dim, a->ndim, &d));
    int nd = a->ndim;
    /* perm moves d last; inverse moves it back */
    int perm[RX_MAX_DIMS], inverse[RX_MAX_DIMS];
    int64_t shape[RX_MAX_DIMS], m = 1, n = nd > 0 ? a->shape[d] : 1;
    int k = 0;
    for (int i = 0; i < nd; i++)
        if (i != d) perm[k++] = i;
    if (nd > 0) perm[k] = d;
    for (int i = 0; i < nd; i++) {
        inverse[perm[i]] = i;
        shape[i] = a->shape[perm[i]];
        if (i < nd - 1) m *= shape[i];
    }
    rx_tensor *permuted = NULL, *dense = NULL, *rows = NULL, *res = NULL, *res_rows = NULL, *moved = NULL;
    rx_status s = rx_op_permute(a, nd, perm, &permuted);
    if (s == RX_OK) s = rx_op_contiguous(permuted, &dense);
    if (s == RX_OK) s = rx_op_view(dense, 2, (const int64_t[]){m, n}, &rows);
    if (s == RX_OK) s = rx_empty(nd, shape, a->dtype, rx_tensor_device(a), &res);
    if (s == RX_OK) s = rx_op_view(res, 2, (const int64_t[]){m, n}, &res_rows);
    if (s == RX_OK) {
        s = rx_backend_of(a)->softmax_rows(res_rows, rows, log);
        if (s != RX_OK) s = rx_fail_context(s, "%s", name);
    }
    if (s == RX_OK) s = rx_op_permute(res, nd, inverse, &moved);
    if (s == RX_OK) s = rx_op_contiguous(moved, out);
    rx_tensor_release(permuted);
    rx_tensor_release(dense);
    rx_tensor_release(rows);
    rx_tensor_release(res);
    rx_tensor_release(res_rows);
    rx_tensor_release(moved);
    return s;
}

rx_status rx_op_softmax(rx_tensor *a, int dim, rx_tensor **out) { return softmax_op("softmax", 0, a, dim, out); }

rx_status rx_op_log_softmax(rx_tensor *a, int dim, rx_tensor **out)
{
    return softmax_op("log_softmax", 1, a, dim, out);
}
