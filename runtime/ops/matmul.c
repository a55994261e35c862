/* matmul.c — rx_matmul: torch.matmul over 1-D, 2-D and batched operands.
 *
 * Owns: the shape rules (a 1-D left operand is a row (1, k), a 1-D right operand a column
 * (k, 1), and the added dim is dropped from the result; batch dims broadcast, numpy rules),
 * and the reduction of every case to one batched product (B, n, k) @ (B, k, m) on views that
 * the backend's matmul kernel accepts. Data is copied only when a matrix has no BLAS layout
 * (one unit stride and a leading dimension covering the other extent) or its batch dims cannot
 * be walked with one stride. A left operand (..., n, k) times a 2-D right operand is folded into
 * one (B*n, k) @ (k, m) product when its strides allow, so linear layers are one GEMM.
 */
#include "ops.h"

#include <string.h>

/* Geometry of one operand as a (batch..., rows, cols) array of shapes and strides. */
typedef struct mm_geom {
    int ndim;
    int64_t shape[RX_MAX_DIMS];
    int64_t stride[RX_MAX_DIMS];
} mm_geom;

/* The single stride that walks dims [0, nb) of g as one flattened dim, or false. Size-1 dims
 * are skipped; broadcast (stride 0) dims merge with each other only. */
static bool merge_dims(const mm_geom *g, int nb, int64_t *stride)
{
    bool have = false;
    int64_t st = 0, span = 0;
    for (int d = nb - 1; d >= 0; d--) {
        if (g->shape[d] == 1) continue;
        if (!have) {
            st = g->stride[d];
            have = true;
        } else if (g->stride[d] != span) {
            return false;
        }
        span = g->stride[d] * g->shape[d];
    }
    *stride = st;
    return true;
}

/* Canonical strides (rs, cs) of a (rows, cols) matrix that BLAS takes as it is: cs == 1 and
 * rs >= max(1, cols) (row-major), or rs == 1 and cs >= max(1, rows) (transposed); the stride
 * of a size-1 dim is free and set so. False when neither layout fits. */
static bool blas_strides(int64_t rows, int64_t cols, int64_t *rs, int64_t *cs)
{
    int64_t r = *rs, c = *cs;
    if ((cols <= 1 || c == 1) && (rows <= 1 || r >= (cols > 1 ? cols : 1))) {
        *cs = 1;
        *rs = rows <= 1 ? (cols > 1 ? cols : 1) : r;
        return true;
    }
    if ((rows <= 1 || r == 1) && (cols <= 1 || c >= (rows > 1 ? rows : 1))) {
        *rs = 1;
        *cs = cols <= 1 ? (rows > 1 ? rows : 1) : c;
        return true;
    }
    return false;
}

/* A (B, rows, cols) view of g (on t's storage) for the kernel, or false when g's strides do
 * not allow one. */
static bool try_view3(rx_tensor *t, int64_t offset, const mm_geom *g, rx_status *status, rx_tensor **out)
{
    int nb = g->ndim - 2;
    int64_t rows = g->shape[nb], cols = g->shape[nb + 1];
    int64_t rs = g->stride[nb], cs = g->stride[nb + 1], bs;
    if (!merge_dims(g, nb, &bs) || !blas_strides(rows, cols, &rs, &cs)) return false;
    int64_t shape[3] = {rx_shape_numel(nb, g->shape), rows, cols}, stride[3] = {bs, rs, cs};
    *status = rx_tensor_view_of(t, offset, 3, shape, stride, out);
    return true;
}

/* A (B, rows, cols) kernel operand for geometry g on t: a view when possible, else a view of a
 * contiguous copy of the (broadcast) operand. */
static rx_status operand3(rx_tensor *t, const mm_geom *g, rx_tensor **out)
{
    *out = NULL;
    rx_status s = RX_OK;
    if (try_view3(t, t->offset, g, &s, out)) return s;
    rx_tensor *full, *copy;
    RX_TRY(rx_tensor_view_of(t, t->offset, g->ndim, g->shape, g->stride, &full));
    s = rx_op_contiguous(full, &copy);
    rx_tensor_release(full);
    if (s != RX_OK) return rx_fail_context(s, "matmul");
    mm_geom c = {.ndim = g->ndim};
    memcpy(c.shape, copy->shape, sizeof c.shape);
    memcpy(c.stride, copy->stride, sizeof c.stride);
    if (!try_view3(copy, copy->offset, &c, &s, out))
        s = rx_fail(RX_ERR_INTERNAL, "matmul: a contiguous copy has no BLAS layout");
    rx_tensor_release(copy);
    return s;
}

/* The geometry of operand t promoted to 2-D (1-D left: (1, k); 1-D right: (k, 1)) and
 * broadcast to the batch shape bshape (nb dims). */
static void promote(const rx_tensor *t, bool left, int nb, const int64_t *bshape, mm_geom *g)
{
    int64_t sh[2], st[2];
    if (t->ndim == 1) {
        int64_t n = t->shape[0], s = t->stride[0];
        if (left) {
            sh[0] = 1, sh[1] = n, st[0] = n * s, st[1] = s;
        } else {
            sh[0] = n, sh[1] = 1, st[0] = s, st[1] = 1;
        }
    } else {
        sh[0] = t->shape[t->ndim - 2], sh[1] = t->shape[t->ndim - 1];
        st[0] = t->stride[t->ndim - 2], st[1] = t->stride[t->ndim - 1];
    }
    int tb = t->ndim > 2 ? t->ndim - 2 : 0;
    g->ndim = nb + 2;
    for (int i = 0; i < nb; i++) {
        int k = i - (nb - tb);
        bool own = k >= 0 && t->shape[k] != 1;
        g->shape[i] = bshape[i];
        g->stride[i] = own ? t->stride[k] : 0;
    }
    g->shape[nb] = sh[0], g->shape[nb + 1] = sh[1];
    g->stride[nb] = st[0], g->stride[nb + 1] = st[1];
}

/* Runs the kernel on (B, n, k) @ (B, k, m) operands and views the (B, n, m) result as
 * (out_ndim, out_shape). */
static rx_status run(const rx_backend *be, rx_tensor *a3, rx_tensor *b3, int out_ndim,
                     const int64_t *out_shape, rx_tensor **out)
{
    int64_t shape[3] = {a3->shape[0], a3->shape[1], b3->shape[2]};
    rx_tensor *c;
    RX_TRY(rx_empty(3, shape, a3->dtype, rx_tensor_device(a3), &c));
    rx_status s = be->matmul(c, a3, b3);
    if (s == RX_OK)
        s = rx_op_view(c, out_ndim, out_shape, out);
    else
        s = rx_fail_context(s, "matmul");
    rx_tensor_release(c);
    return s;
}

rx_status rx_op_matmul(rx_tensor *a, rx_tensor *b, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("matmul", 1, a));
    RX_TRY(rx_check_tensor("matmul", 2, b));
    RX_TRY(rx_check_same_device("matmul", a, 1, b, 2));
    RX_TRY(rx_check_float("matmul", 1, a));
    RX_TRY(rx_check_same_dtype("matmul", a, 1, b, 2));
    if (a->ndim == 0)
        return rx_fail(RX_ERR_SHAPE, "matmul: argument #1: expected at least 1 dim, got a scalar");
    if (b->ndim == 0)
        return rx_fail(RX_ERR_SHAPE, "matmul: argument #2: expected at least 1 dim, got a scalar");

    char b1[128], b2[128];
    int64_t n = a->ndim == 1 ? 1 : a->shape[a->ndim - 2];
    int64_t k = a->shape[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    int64_t m = b->ndim == 1 ? 1 : b->shape[b->ndim - 1];
    if (kb != k) {
        if (b->ndim == 1)
            return rx_fail(RX_ERR_SHAPE, "matmul: argument #2: expected shape (%lld), got %s", (long long)k,
                           rx_shape_str(b->ndim, b->shape, b1, sizeof b1));
        return rx_fail(RX_ERR_SHAPE, "matmul: argument #2: expected shape (*, %lld, m), got %s", (long long)k,
                       rx_shape_str(b->ndim, b->shape, b1, sizeof b1));
    }

    /* broadcast batch dims */
    int ab = a->ndim > 2 ? a->ndim - 2 : 0, bb = b->ndim > 2 ? b->ndim - 2 : 0;
    int nb;
    int64_t bshape[RX_MAX_DIMS];
    if (rx_broadcast_shapes(ab, a->shape, bb, b->shape, &nb, bshape) != RX_OK || nb > RX_MAX_DIMS - 2)
        return rx_fail(RX_ERR_SHAPE,
                       "matmul: batch dims %s of argument #1 and %s of argument #2 cannot be broadcast",
                       rx_shape_str(ab, a->shape, b1, sizeof b1), rx_shape_str(bb, b->shape, b2, sizeof b2));

    /* result shape: batch, then n unless a is 1-D, then m unless b is 1-D */
    int out_ndim = nb;
    int64_t out_shape[RX_MAX_DIMS];
    memcpy(out_shape, bshape, sizeof(int64_t) * (size_t)nb);
    if (a->ndim > 1) out_shape[out_ndim++] = n;
    if (b->ndim > 1) out_shape[out_ndim++] = m;

    const rx_backend *be = rx_backend_of(a);
    mm_geom ga, gb;
    rx_tensor *a3 = NULL, *b3 = NULL;
    rx_status s = RX_OK;

    /* (..., n, k) @ (k, m): one (B*n, k) @ (k, m) product when a's rows merge with its batch */
    if (bb == 0 && ab > 0) {
        promote(a, true, nb, bshape, &ga);
        mm_geom fa = {.ndim = 3};
        fa.shape[0] = 1, fa.stride[0] = 0;
        fa.shape[1] = rx_shape_numel(nb + 1, ga.shape), fa.shape[2] = k, fa.stride[2] = ga.stride[nb + 1];
        if (merge_dims(&ga, nb + 1, &fa.stride[1]) && try_view3(a, a->offset, &fa, &s, &a3)) {
            if (s != RX_OK) return s;
            promote(b, false, 0, NULL, &gb);
            s = operand3(b, &gb, &b3);
            if (s == RX_OK) s = run(be, a3, b3, out_ndim, out_shape, out);
            rx_tensor_release(a3);
            rx_tensor_release(b3);
            return s;
        }
    }

    promote(a, true, nb, bshape, &ga);
    promote(b, false, nb, bshape, &gb);
    s = operand3(a, &ga, &a3);
    if (s == RX_OK) s = operand3(b, &gb, &b3);
    if (s == RX_OK) s = run(be, a3, b3, out_ndim, out_shape, out);
    rx_tensor_release(a3);
    rx_tensor_release(b3);
    return s;
}
