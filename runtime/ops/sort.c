/* sort.c — sort and top-k along any dim.
 *
 * Owns: the argument checks (dim, k in [0, size(dim)]) and moving the dim last: the input is
 * permuted so that `dim` is innermost, made contiguous and viewed as (M, N); the row kernel
 * writes (M, k) values and i64 indices (k = N for a full sort), which are permuted back and
 * returned contiguous in the input's dim order. Either output may be skipped (NULL).
 */
#include "ops.h"

/* Sorts a along dim d (already checked) and keeps the first k of each row. */
static rx_status sort_along(const char *name, rx_tensor *a, int d, int64_t k, int descending,
                            rx_tensor **values, rx_tensor **indices)
{
    if (!values && !indices) return RX_OK;
    int nd = a->ndim;
    /* perm moves d last; inverse moves it back */
    int perm[RX_MAX_DIMS], inverse[RX_MAX_DIMS];
    int64_t shape[RX_MAX_DIMS], m = 1, n = nd > 0 ? a->shape[d] : 1;
    int j = 0;
    for (int i = 0; i < nd; i++)
        if (i != d) perm[j++] = i;
    if (nd > 0) perm[j] = d;
    for (int i = 0; i < nd; i++) {
        inverse[perm[i]] = i;
        shape[i] = i == nd - 1 ? k : a->shape[perm[i]];
        if (i < nd - 1) m *= shape[i];
    }
    rx_device dev = rx_tensor_device(a);
    rx_tensor *permuted = NULL, *dense = NULL, *rows = NULL;
    rx_tensor *res[2] = {NULL, NULL}, *res_rows[2] = {NULL, NULL};
    rx_status s = rx_op_permute(a, nd, perm, &permuted);
    if (s == RX_OK) s = rx_op_contiguous(permuted, &dense);
    if (s == RX_OK) s = rx_op_view(dense, 2, (const int64_t[]){m, n}, &rows);
    rx_tensor **outs[2] = {values, indices};
    for (int o = 0; o < 2 && s == RX_OK; o++) {
        if (!outs[o]) continue;
        s = rx_empty(nd, shape, o == 0 ? a->dtype : RX_I64, dev, &res[o]);
        if (s == RX_OK) s = rx_op_view(res[o], 2, (const int64_t[]){m, k}, &res_rows[o]);
    }
    if (s == RX_OK) {
        s = rx_backend_of(a)->sort_rows(res_rows[0], res_rows[1], rows, k, descending);
        if (s != RX_OK) s = rx_fail_context(s, "%s", name);
    }
    for (int o = 0; o < 2 && s == RX_OK; o++) {
        if (!outs[o]) continue;
        rx_tensor *moved;
        s = rx_op_permute(res[o], nd, inverse, &moved);
        if (s == RX_OK) {
            s = rx_op_contiguous(moved, outs[o]);
            rx_tensor_release(moved);
        }
    }
    if (s != RX_OK) {
        for (int o = 0; o < 2; o++)
            if (outs[o]) {
                rx_tensor_release(*outs[o]);
                *outs[o] = NULL;
            }
    }
    rx_tensor_release(permuted);
    rx_tensor_release(dense);
    rx_tensor_release(rows);
    for (int o = 0; o < 2; o++) {
        rx_tensor_release(res[o]);
        rx_tensor_release(res_rows[o]);
    }
    return s;
}

rx_status rx_op_sort(rx_tensor *a, int dim, int descending, rx_tensor **values, rx_tensor **indices)
{
    if (values) *values = NULL;
    if (indices) *indices = NULL;
    RX_TRY(rx_check_tensor("sort", 1, a));
    int d;
    RX_TRY(rx_check_dim("sort", 2, dim, a->ndim, &d));
    int64_t n = a->ndim > 0 ? a->shape[d] : 1;
    return sort_along("sort", a, d, n, descending, values, indices);
}

rx_status rx_op_topk(rx_tensor *a, int64_t k, int dim, int largest, rx_tensor **values, rx_tensor **indices)
{
    if (values) *values = NULL;
    if (indices) *indices = NULL;
    RX_TRY(rx_check_tensor("topk", 1, a));
    int d;
    RX_TRY(rx_check_dim("topk", 3, dim, a->ndim, &d));
    int64_t n = a->ndim > 0 ? a->shape[d] : 1;
    int64_t lo = a->ndim > 0 ? 0 : 1; /* a 0-d result holds exactly one value */
    if (k < lo || k > n)
        return rx_fail(
            RX_ERR_ARG,
            "topk: argument #2: k = %lld is out of range for dim %d of size %lld (expected %lld..%lld)",
            (long long)k, d, (long long)n, (long long)lo, (long long)n);
    return sort_along("topk", a, d, k, largest, values, indices);
}
