/* reduce.c — reductions (sum, mean, prod, max, min, argmax, argmin, any, all), max/min along a
 * dim with indices, and cumsum.
 *
 * Owns: the dims arguments (range, duplicates, the one-dim rule of argmax/argmin), the output
 * dtypes, and the layout every reduce kernel expects: the input is permuted so that the kept
 * dims come first and the reduced dims last, made contiguous and viewed as (M, N); the kernel
 * reduces each of the M rows into a contiguous (M) output, which is the kept shape (with 1s at
 * the reduced dims under keepdim) laid out row-major. cumsum moves its dim last the same way and
 * returns a contiguous result in the input's dim order.
 */
#include "ops.h"

static const char *const reduce_names[RX_REDUCE_OP_COUNT] = {
    [RX_SUM] = "sum",       [RX_MEAN] = "mean",     [RX_MAX] = "max", [RX_MIN] = "min", [RX_PROD] = "prod",
    [RX_ARGMAX] = "argmax", [RX_ARGMIN] = "argmin", [RX_ANY] = "any", [RX_ALL] = "all",
};

const char *rx_reduce_op_name(rx_reduce_op op)
{
    return (unsigned)op < RX_REDUCE_OP_COUNT ? reduce_names[op] : "?";
}

/* The output dtype of `op` over a tensor of dtype `in`. */
static rx_dtype reduce_out_dtype(rx_reduce_op op, rx_dtype in)
{
    switch (op) {
    case RX_SUM:
    case RX_PROD: return rx_dtype_is_float(in) ? in : RX_I64;
    case RX_ARGMAX:
    case RX_ARGMIN: return RX_I64;
    case RX_ANY:
    case RX_ALL: return RX_BOOL;
    default: return in;
    }
}

/* The reduction plan of one call: which dims are reduced, the permutation that puts kept dims
 * first, the (M, N) sizes and the output shape. */
typedef struct reduce_plan {
    int perm[RX_MAX_DIMS];
    int64_t m, n;
    int out_ndim;
    int64_t out_shape[RX_MAX_DIMS];
} reduce_plan;

/* Validates dims (argument #argn of `op`) against a and fills the plan. ndims == 0 reduces all
 * dims. A 0-d tensor accepts dim 0 and -1 and gives a 0-d result. */
static rx_status plan_reduce(const char *op, int argn, const rx_tensor *a, int ndims, const int *dims,
                             int keepdim, reduce_plan *p)
{
    int nd = a->ndim;
    bool reduced[RX_MAX_DIMS] = {false};
    if (ndims < 0 || ndims > RX_MAX_DIMS)
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected 0 to %d dims, got %d", op, argn, RX_MAX_DIMS,
                       ndims);
    if (ndims > 0 && !dims)
        return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected %d dims, got NULL", op, argn, ndims);
    for (int i = 0; i < ndims; i++) {
        int d;
        RX_TRY(rx_check_dim(op, argn, dims[i], nd, &d));
        if (reduced[d]) return rx_fail(RX_ERR_ARG, "%s: argument #%d: dim %d appears twice", op, argn, d);
        reduced[d] = true;
    }
    if (ndims == 0)
        for (int d = 0; d < nd; d++) reduced[d] = true;
    int k = 0;
    p->m = 1;
    p->n = 1;
    p->out_ndim = 0;
    for (int d = 0; d < nd; d++) {
        if (reduced[d]) {
            if (keepdim) p->out_shape[p->out_ndim++] = 1;
            continue;
        }
        p->perm[k++] = d;
        p->m *= a->shape[d];
        p->out_shape[p->out_ndim++] = a->shape[d];
    }
    for (int d = 0; d < nd; d++) {
        if (!reduced[d]) continue;
        p->perm[k++] = d;
        p->n *= a->shape[d];
    }
    return RX_OK;
}

/* a permuted by `perm`, made contiguous and viewed as (m, n). Returns a new reference. */
static rx_status rows_view(rx_tensor *a, const int *perm, int64_t m, int64_t n, rx_tensor **out)
{
    *out = NULL;
    rx_tensor *permuted, *dense;
    RX_TRY(rx_op_permute(a, a->ndim, perm, &permuted));
    rx_status s = rx_op_contiguous(permuted, &dense);
    rx_tensor_release(permuted);
    if (s != RX_OK) return s;
    s = rx_op_view(dense, 2, (const int64_t[]){m, n}, out);
    rx_tensor_release(dense);
    return s;
}

/* A 1-D (numel) view of a contiguous tensor, for kernels that take the flat (M) output. */
static rx_status flat_view(rx_tensor *t, rx_tensor **out)
{
    int64_t n = rx_tensor_numel(t), one = 1;
    return rx_tensor_view_of(t, t->offset, 1, &n, &one, out);
}

/* Runs the row kernel: values gets `op` of every row (dtype vdtype); indices (may be NULL) the
 * position of the extreme for RX_MAX/RX_MIN. Both are allocated here with the plan's shape. */
static rx_status run_reduce(const char *name, rx_reduce_op op, rx_tensor *a, const reduce_plan *p,
                            rx_dtype vdtype, rx_tensor **values, rx_tensor **indices)
{
    rx_device dev = rx_tensor_device(a);
    rx_tensor *rows = NULL, *v = NULL, *ix = NULL, *vflat = NULL, *ixflat = NULL;
    rx_status s = rows_view(a, p->perm, p->m, p->n, &rows);
    if (s == RX_OK) s = rx_empty(p->out_ndim, p->out_shape, vdtype, dev, &v);
    if (s == RX_OK && indices) s = rx_empty(p->out_ndim, p->out_shape, RX_I64, dev, &ix);
    if (s == RX_OK) s = flat_view(v, &vflat);
    if (s == RX_OK && ix) s = flat_view(ix, &ixflat);
    if (s == RX_OK) {
        s = rx_backend_of(a)->reduce_rows(op, vflat, ixflat, rows);
        if (s != RX_OK) s = rx_fail_context(s, "%s", name);
    }
    rx_tensor_release(rows);
    rx_tensor_release(vflat);
    rx_tensor_release(ixflat);
    if (s != RX_OK) {
        rx_tensor_release(v);
        rx_tensor_release(ix);
        return s;
    }
    *values = v;
    if (indices) *indices = ix;
    return RX_OK;
}

rx_status rx_op_reduce(rx_reduce_op op, rx_tensor *a, int ndims, const int *dims, int keepdim, rx_tensor **out)
{
    *out = NULL;
    if ((unsigned)op >= RX_REDUCE_OP_COUNT) return rx_fail(RX_ERR_ARG, "reduce: unknown op %d", (int)op);
    const char *name = reduce_names[op];
    RX_TRY(rx_check_tensor(name, 1, a));
    if (op == RX_MEAN) RX_TRY(rx_check_float(name, 1, a));
    if ((op == RX_ARGMAX || op == RX_ARGMIN) && ndims > 1)
        return rx_fail(RX_ERR_ARG, "%s: argument #2: expected at most one dim, got %d", name, ndims);
    reduce_plan p;
    RX_TRY(plan_reduce(name, 2, a, ndims, dims, keepdim, &p));
    if ((op == RX_MAX || op == RX_MIN || op == RX_ARGMAX || op == RX_ARGMIN) && p.n == 0)
        return rx_fail(RX_ERR_SHAPE, "%s: cannot reduce over an empty dim", name);
    return run_reduce(name, op, a, &p, reduce_out_dtype(op, a->dtype), out, NULL);
}

static rx_status extreme_dim(rx_reduce_op op, rx_tensor *a, int dim, int keepdim, rx_tensor **values,
                             rx_tensor **indices)
{
    const char *name = reduce_names[op];
    if (values) *values = NULL;
    if (indices) *indices = NULL;
    RX_TRY(rx_check_tensor(name, 1, a));
    reduce_plan p;
    RX_TRY(plan_reduce(name, 2, a, 1, &dim, keepdim, &p));
    if (p.n == 0) return rx_fail(RX_ERR_SHAPE, "%s: cannot reduce over an empty dim", name);
    rx_tensor *v;
    RX_TRY(run_reduce(name, op, a, &p, a->dtype, &v, indices));
    if (values)
        *values = v;
    else
        rx_tensor_release(v);
    return RX_OK;
}

rx_status rx_op_max_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices)
{
    return extreme_dim(RX_MAX, a, dim, keepdim, values, indices);
}

rx_status rx_op_min_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices)
{
    return extreme_dim(RX_MIN, a, dim, keepdim, values, indices);
}

rx_status rx_op_cumsum(rx_tensor *a, int dim, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("cumsum", 1, a));
    int d;
    RX_TRY(rx_check_dim("cumsum", 2, dim, a->ndim, &d));
    int nd = a->ndim;
    /* perm moves d last; inverse moves it back */
    int perm[RX_MAX_DIMS], inverse[RX_MAX_DIMS];
    int64_t shape[RX_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < nd; i++)
        if (i != d) perm[k++] = i;
    if (nd > 0) perm[k] = d;
    int64_t m = 1, n = nd > 0 ? a->shape[d] : 1;
    for (int i = 0; i < nd; i++) {
        inverse[perm[i]] = i;
        shape[i] = a->shape[perm[i]];
        if (i < nd - 1) m *= shape[i];
    }
    rx_dtype dt = rx_dtype_is_float(a->dtype) ? a->dtype : RX_I64;
    rx_tensor *rows = NULL, *res = NULL, *res_rows = NULL, *moved = NULL;
    rx_status s = rows_view(a, perm, m, n, &rows);
    if (s == RX_OK) s = rx_empty(nd, shape, dt, rx_tensor_device(a), &res);
    if (s == RX_OK) s = rx_op_view(res, 2, (const int64_t[]){m, n}, &res_rows);
    if (s == RX_OK) {
        s = rx_backend_of(a)->cumsum_rows(res_rows, rows);
        if (s != RX_OK) s = rx_fail_context(s, "cumsum");
    }
    if (s == RX_OK) s = rx_op_permute(res, nd, inverse, &moved);
    if (s == RX_OK) s = rx_op_contiguous(moved, out);
    rx_tensor_release(rows);
    rx_tensor_release(res);
    rx_tensor_release(res_rows);
    rx_tensor_release(moved);
    return s;
}
