/* nn_linear.c — linear layers and embeddings: argument checks, forward and backward.
 *
 * Owns: linear as one GEMM of x (..., in) against the transposed view of w (the matmul op folds the
 * leading dims into rows when x's strides allow, so no copy of w or x is made) followed by an
 * in-place bias add; its backward (dx = g w, dw = g^T x as one GEMM over the rows of all leading
 * dims, db by the backend's column-sum kernel, never a transposed copy of g); and embeddings:
 * id range checks on the host (the message names the element and the value), the gather, and
 * the weight gradient accumulated deterministically by the backend.
 */
#include "ops.h"

#include <string.h>

/* On failure: release *out and add the op's name to the message. */
static rx_status finish(const char *op, rx_status s, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

rx_status rx_op_linear(rx_tensor *x, rx_tensor *w, rx_tensor *b, rx_tensor **out)
{
    const char *op = "linear";
    *out = NULL;
    RX_TRY(rx_check_tensor(op, 1, x));
    RX_TRY(rx_check_tensor(op, 2, w));
    RX_TRY(rx_check_float(op, 1, x));
    RX_TRY(rx_check_same_device(op, x, 1, w, 2));
    RX_TRY(rx_check_same_dtype(op, x, 1, w, 2));
    if (x->ndim == 0)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected shape (*, in), got a scalar", op);
    int64_t in = x->shape[x->ndim - 1];
    RX_TRY(rx_nn_check_shape(op, 2, NULL, w, 2, (const int64_t[]){-1, in}));
    if (b) {
        RX_TRY(rx_check_same_device(op, x, 1, b, 3));
        RX_TRY(rx_check_same_dtype(op, x, 1, b, 3));
        RX_TRY(rx_nn_check_shape(op, 3, NULL, b, 1, (const int64_t[]){w->shape[0]}));
    }
    rx_tensor *wt;
    RX_TRY(rx_op_transpose(w, 0, 1, &wt));
    rx_status s = rx_op_matmul(x, wt, out);
    rx_tensor_release(wt);
    if (s == RX_OK && b) s = rx_op_binary_(RX_ADD, *out, b);
    return finish(op, s, out);
}

rx_status rx_op_linear_backward(rx_tensor *g, rx_tensor *x, rx_tensor *w, rx_tensor **dx, rx_tensor **dw,
                                rx_tensor **db)
{
    const char *op = "linear backward";
    if (dx) *dx = NULL;
    if (dw) *dw = NULL;
    if (db) *db = NULL;
    int64_t nout = g->shape[g->ndim - 1], rows = rx_shape_numel(g->ndim - 1, g->shape);
    rx_tensor *g2 = NULL, *x2 = NULL, *g2t = NULL;
    rx_status s = RX_OK;
    if (dx) s = rx_op_matmul(g, w, dx);
    if (s == RX_OK && (dw || db)) s = rx_op_reshape(g, 2, (const int64_t[]){rows, nout}, &g2);
    if (s == RX_OK && dw) {
        s = rx_op_reshape(x, 2, (const int64_t[]){rows, x->shape[x->ndim - 1]}, &x2);
        if (s == RX_OK) s = rx_op_transpose(g2, 0, 1, &g2t);
        if (s == RX_OK) s = rx_op_matmul(g2t, x2, dw);
    }
    if (s == RX_OK && db) {
        s = rx_empty(1, &nout, g->dtype, rx_tensor_device(g), db);
        if (s == RX_OK) s = rx_backend_of(g)->col_sum(*db, g2);
    }
    rx_tensor_release(g2);
    rx_tensor_release(x2);
    rx_tensor_release(g2t);
    if (s != RX_OK) {
        if (dx) rx_tensor_release(*dx), *dx = NULL;
        if (dw) rx_tensor_release(*dw), *dw = NULL;
        if (db) rx_tensor_release(*db), *db = NULL;
        return rx_fail_context(s, "%s", op);
    }
    return RX_OK;
}

/* Checks every id of an i32/i64 tensor against [0, v): on the device when it can (see
 * rx_nn_check_ids_on_device), else on the host. */
static rx_status check_ids(const char *op, int argn, rx_tensor *ids, int64_t v)
{
    bool done;
    RX_TRY(rx_nn_check_ids_on_device(op, argn, ids, v, NULL, &done));
    if (done) return RX_OK;
    int64_t at, id;
    RX_TRY(rx_nn_find_bad_id(ids, v, NULL, &at, &id));
    if (at < 0) return RX_OK;
    return rx_fail(RX_ERR_ARG, "%s: argument #%d: id %lld at element %lld is out of range [0, %lld)", op,
                   argn, (long long)id, (long long)at, (long long)v);
}

/* A contiguous 1-D view (N) of the ids. */
static rx_status flat_ids(rx_tensor *ids, rx_tensor **out)
{
    rx_tensor *dense;
    RX_TRY(rx_op_contiguous(ids, &dense));
    int64_t n = rx_tensor_numel(dense);
    rx_status s = rx_op_view(dense, 1, &n, out);
    rx_tensor_release(dense);
    return s;
}

rx_status rx_op_embedding(rx_tensor *weight, rx_tensor *ids, int64_t padding_idx, rx_tensor **out)
{
    const char *op = "embedding";
    *out = NULL;
    RX_TRY(rx_check_tensor(op, 1, weight));
    RX_TRY(rx_check_tensor(op, 2, ids));
    RX_TRY(rx_check_same_device(op, weight, 1, ids, 2));
    RX_TRY(rx_check_index_dtype(op, 2, ids));
    RX_TRY(rx_nn_check_shape(op, 1, NULL, weight, 2, (const int64_t[]){-1, -1}));
    int64_t v = weight->shape[0], c = weight->shape[1];
    if (padding_idx < -1 || padding_idx >= v)
        return rx_fail(RX_ERR_ARG,
                       "%s: argument #3: padding_idx %lld out of range (-1 for none, or [0, %lld))", op,
                       (long long)padding_idx, (long long)v);
    if (ids->ndim + 1 > RX_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #2: expected at most %d dims, got %d", op, RX_MAX_DIMS - 1,
                       ids->ndim);
    RX_TRY(check_ids(op, 2, ids, v));
    int64_t shape[RX_MAX_DIMS];
    memcpy(shape, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
    shape[ids->ndim] = c;
    int64_t n = rx_tensor_numel(ids);
    rx_tensor *w = NULL, *flat = NULL, *rows = NULL;
    rx_status s = RX_OK;
    if (c > 1 && weight->stride[1] != 1)
        s = rx_op_contiguous(weight, &w);
    else
        w = rx_tensor_retain(weight);
    if (s == RX_OK) s = flat_ids(ids, &flat);
    if (s == RX_OK) s = rx_empty(ids->ndim + 1, shape, weight->dtype, rx_tensor_device(weight), out);
    if (s == RX_OK) s = rx_op_view(*out, 2, (const int64_t[]){n, c}, &rows);
    if (s == RX_OK) s = rx_backend_of(weight)->embedding(rows, w, flat);
    rx_tensor_release(w);
    rx_tensor_release(flat);
    rx_tensor_release(rows);
    return finish(op, s, out);
}

rx_status rx_op_embedding_backward(rx_tensor *g, rx_tensor *ids, int64_t num_embeddings, int64_t padding_idx,
                                   rx_tensor **dweight)
{
    const char *op = "embedding backward";
    *dweight = NULL;
    int64_t c = g->shape[g->ndim - 1];
    rx_tensor *flat = NULL, *rows = NULL;
    rx_status s = flat_ids(ids, &flat);
    if (s == RX_OK) s = rx_nn_rows(g, &rows);
    if (s == RX_OK)
        s = rx_empty(2, (const int64_t[]){num_embeddings, c}, g->dtype, rx_tensor_device(g), dweight);
    if (s == RX_OK) s = rx_backend_of(g)->embedding_bwd(*dweight, rows, flat, padding_idx);
    rx_tensor_release(flat);
    rx_tensor_release(rows);
    return finish(op, s, dweight);
}
