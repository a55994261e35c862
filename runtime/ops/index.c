/* index.c — indexing and joining: index_select, gather, scatter_add, cat, stack.
 *
 * Owns: the argument rules of these ops (index dtypes and shapes, every index entry checked to be
 * in range before a kernel runs, with the bad value in the message), output allocation, and
 * cat/stack, which need no kernel of their own: cat copies each input into a narrow view of the
 * output, stack is cat of unsqueezed inputs.
 */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

/* Checks that every entry of an i32/i64 index tensor (any shape, strides, device) lies in
 * [0, size); the message names the op, the argument, the value and the indexed dim. */
static rx_status check_index_range(const char *op, int argn, rx_tensor *index, int dim, int64_t size)
{
    rx_tensor *host;
    RX_TRY(rx_op_to_device(index, rx_cpu(), &host));
    int64_t numel = rx_tensor_numel(host), off = 0;
    int64_t pos[RX_MAX_DIMS] = {0};
    const char *base = rx_tensor_bytes(host);
    bool i64 = host->dtype == RX_I64;
    rx_status s = RX_OK;
    for (int64_t i = 0; i < numel; i++) {
        int64_t v = i64 ? ((const int64_t *)base)[off] : ((const int32_t *)base)[off];
        if (v < 0 || v >= size) {
            s = rx_fail(RX_ERR_ARG, "%s: argument #%d: index %lld out of range for dim %d of size %lld", op,
                        argn, (long long)v, dim, (long long)size);
            break;
        }
        for (int d = host->ndim - 1; d >= 0; d--) {
            if (++pos[d] < host->shape[d]) {
                off += host->stride[d];
                break;
            }
            off -= (pos[d] - 1) * host->stride[d];
            pos[d] = 0;
        }
    }
    rx_tensor_release(host);
    return s;
}

/* For gather and scatter_add: `index` (argument #argn) has a's ndim and fits inside a in every
 * dim but `dim`. */
static rx_status check_index_fits(const char *op, int argn, const rx_tensor *index, const rx_tensor *a,
                                  int dim)
{
    char b1[128], b2[128];
    if (index->ndim != a->ndim)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #%d: expected a %d-D index like argument #1, got shape %s",
                       op, argn, a->ndim, rx_shape_str(index->ndim, index->shape, b1, sizeof b1));
    for (int d = 0; d < a->ndim; d++)
        if (d != dim && index->shape[d] > a->shape[d])
            return rx_fail(RX_ERR_SHAPE,
                           "%s: argument #%d: index shape %s does not fit argument #1 of shape %s at dim %d",
                           op, argn, rx_shape_str(index->ndim, index->shape, b1, sizeof b1),
                           rx_shape_str(a->ndim, a->shape, b2, sizeof b2), d);
    return RX_OK;
}

static rx_status check_not_scalar(const char *op, int argn, const rx_tensor *t)
{
    if (t->ndim > 0) return RX_OK;
    return rx_fail(RX_ERR_SHAPE, "%s: argument #%d: expected at least 1 dim, got a scalar", op, argn);
}

/* Runs a kernel's status through: on failure releases *out and adds the op's name. */
static rx_status finish(const char *op, rx_status s, rx_tensor **out)
{
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

/* The checks index_select and gather share: a (#1) and index (#3) are tensors on one device,
 * index of an index dtype, a not 0-d and dim (#2) one of a's dims (*d: normalized). */
static rx_status check_select(const char *op, rx_tensor *a, int dim, rx_tensor *index, int *d)
{
    RX_TRY(rx_check_tensor(op, 1, a));
    RX_TRY(rx_check_tensor(op, 3, index));
    RX_TRY(rx_check_same_device(op, a, 1, index, 3));
    RX_TRY(rx_check_index_dtype(op, 3, index));
    RX_TRY(check_not_scalar(op, 1, a));
    return rx_check_dim(op, 2, dim, a->ndim, d);
}

rx_status rx_op_index_select(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out)
{
    const char *op = "index_select";
    *out = NULL;
    int d;
    RX_TRY(check_select(op, a, dim, index, &d));
    if (index->ndim != 1) {
        char b[128];
        return rx_fail(RX_ERR_SHAPE, "%s: argument #3: expected a 1-D index, got shape %s", op,
                       rx_shape_str(index->ndim, index->shape, b, sizeof b));
    }
    RX_TRY(check_index_range(op, 3, index, d, a->shape[d]));
    int64_t shape[RX_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[d] = index->shape[0];
    RX_TRY(rx_empty(a->ndim, shape, a->dtype, rx_tensor_device(a), out));
    return finish(op, rx_backend_of(a)->index_select(*out, a, d, index), out);
}

rx_status rx_op_gather(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out)
{
    const char *op = "gather";
    *out = NULL;
    int d;
    RX_TRY(check_select(op, a, dim, index, &d));
    RX_TRY(check_index_fits(op, 3, index, a, d));
    RX_TRY(check_index_range(op, 3, index, d, a->shape[d]));
    RX_TRY(rx_empty(index->ndim, index->shape, a->dtype, rx_tensor_device(a), out));
    return finish(op, rx_backend_of(a)->gather(*out, a, d, index), out);
}

rx_status rx_op_scatter_add(rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src, rx_tensor **out)
{
    const char *op = "scatter_add";
    *out = NULL;
    RX_TRY(rx_check_tensor(op, 1, a));
    RX_TRY(rx_check_tensor(op, 3, index));
    RX_TRY(rx_check_tensor(op, 4, src));
    RX_TRY(rx_check_same_device(op, a, 1, index, 3));
    RX_TRY(rx_check_same_device(op, a, 1, src, 4));
    RX_TRY(rx_check_index_dtype(op, 3, index));
    RX_TRY(rx_check_same_dtype(op, a, 1, src, 4));
    if (a->dtype == RX_BOOL)
        return rx_fail(RX_ERR_DTYPE, "%s: argument #1: expected a numeric tensor, got bool", op);
    RX_TRY(check_not_scalar(op, 1, a));
    int d;
    RX_TRY(rx_check_dim(op, 2, dim, a->ndim, &d));
    RX_TRY(check_index_fits(op, 3, index, a, d));
    char b1[128], b2[128];
    if (src->ndim != index->ndim ||
        memcmp(src->shape, index->shape, sizeof(int64_t) * (size_t)index->ndim) != 0)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #4: expected the index's shape %s, got %s", op,
                       rx_shape_str(index->ndim, index->shape, b1, sizeof b1),
                       rx_shape_str(src->ndim, src->shape, b2, sizeof b2));
    RX_TRY(check_index_range(op, 3, index, d, a->shape[d]));
    RX_TRY(rx_op_clone(a, out));
    return finish(op, rx_backend_of(a)->scatter_add(*out, d, index, src), out);
}

/* Checks cat's inputs against the first: dtype, device, ndim and every size but dim `d`. */
static rx_status check_cat_inputs(const char *op, int n, rx_tensor *const *ts, int dim, int *d)
{
    if (n < 1) return rx_fail(RX_ERR_ARG, "%s: expected at least one tensor, got %d", op, n);
    if (!ts) return rx_fail(RX_ERR_ARG, "%s: expected a list of tensors, got NULL", op);
    for (int i = 0; i < n; i++) RX_TRY(rx_check_tensor(op, i + 1, ts[i]));
    rx_tensor *t0 = ts[0];
    if (t0->ndim == 0) return rx_fail(RX_ERR_SHAPE, "%s: argument #1: a scalar cannot be concatenated", op);
    if (!rx_dim_normalize(dim, t0->ndim, d))
        return rx_fail(RX_ERR_ARG, "%s: dim %d out of range for %d-D tensors (expected %d..%d)", op, dim,
                       t0->ndim, -t0->ndim, t0->ndim - 1);
    char b1[128], b2[128];
    for (int i = 1; i < n; i++) {
        rx_tensor *t = ts[i];
        RX_TRY(rx_check_same_device(op, t0, 1, t, i + 1));
        RX_TRY(rx_check_same_dtype(op, t0, 1, t, i + 1));
        bool ok = t->ndim == t0->ndim;
        for (int k = 0; ok && k < t0->ndim; k++)
            if (k != *d && t->shape[k] != t0->shape[k]) ok = false;
        if (!ok)
            return rx_fail(
                RX_ERR_SHAPE,
                "%s: argument #%d: expected the sizes of argument #1 %s in every dim but %d, got %s", op,
                i + 1, rx_shape_str(t0->ndim, t0->shape, b1, sizeof b1), *d,
                rx_shape_str(t->ndim, t->shape, b2, sizeof b2));
    }
    return RX_OK;
}

/* cat of checked inputs: each copied into its narrow slice of a new output. */
static rx_status cat_checked(const char *op, int n, rx_tensor *const *ts, int d, rx_tensor **out)
{
    rx_tensor *t0 = ts[0];
    int64_t shape[RX_MAX_DIMS];
    memcpy(shape, t0->shape, sizeof shape);
    shape[d] = 0;
    for (int i = 0; i < n; i++) shape[d] += ts[i]->shape[d];
    RX_TRY(rx_empty(t0->ndim, shape, t0->dtype, rx_tensor_device(t0), out));
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        rx_tensor *slice;
        rx_status s = rx_op_narrow(*out, d, start, ts[i]->shape[d], &slice);
        if (s == RX_OK) s = rx_op_copy_(slice, ts[i]);
        rx_tensor_release(slice);
        if (s != RX_OK) return finish(op, s, out);
        start += ts[i]->shape[d];
    }
    return RX_OK;
}

rx_status rx_op_cat(int n, rx_tensor *const *tensors, int dim, rx_tensor **out)
{
    *out = NULL;
    int d;
    RX_TRY(check_cat_inputs("cat", n, tensors, dim, &d));
    return cat_checked("cat", n, tensors, d, out);
}

rx_status rx_op_stack(int n, rx_tensor *const *tensors, int dim, rx_tensor **out)
{
    const char *op = "stack";
    *out = NULL;
    if (n < 1) return rx_fail(RX_ERR_ARG, "%s: expected at least one tensor, got %d", op, n);
    if (!tensors) return rx_fail(RX_ERR_ARG, "%s: expected a list of tensors, got NULL", op);
    for (int i = 0; i < n; i++) RX_TRY(rx_check_tensor(op, i + 1, tensors[i]));
    rx_tensor *t0 = tensors[0];
    char b1[128], b2[128];
    for (int i = 1; i < n; i++) {
        rx_tensor *t = tensors[i];
        RX_TRY(rx_check_same_device(op, t0, 1, t, i + 1));
        RX_TRY(rx_check_same_dtype(op, t0, 1, t, i + 1));
        if (t->ndim != t0->ndim || memcmp(t->shape, t0->shape, sizeof(int64_t) * (size_t)t0->ndim) != 0)
            return rx_fail(RX_ERR_SHAPE, "%s: argument #%d: expected the shape %s of argument #1, got %s", op,
                           i + 1, rx_shape_str(t0->ndim, t0->shape, b1, sizeof b1),
                           rx_shape_str(t->ndim, t->shape, b2, sizeof b2));
    }
    if (t0->ndim >= RX_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "%s: a tensor cannot have more than %d dims", op, RX_MAX_DIMS);
    int d;
    if (!rx_dim_normalize(dim, t0->ndim + 1, &d))
        return rx_fail(RX_ERR_ARG, "%s: dim %d out of range for stacking %d-D tensors (expected %d..%d)", op,
                       dim, t0->ndim, -t0->ndim - 1, t0->ndim);
    rx_tensor **views = calloc((size_t)n, sizeof *views);
    if (!views) return rx_fail(RX_ERR_NOMEM, "%s: out of host memory for %d views", op, n);
    rx_status s = RX_OK;
    for (int i = 0; i < n && s == RX_OK; i++) s = rx_op_unsqueeze(tensors[i], d, &views[i]);
    if (s == RX_OK) s = cat_checked(op, n, views, d, out);
    for (int i = 0; i < n; i++) rx_tensor_release(views[i]);
    free(views);
    return s;
}
