/* views.c — operations that make a new header on the same storage (no data moves).
 *
 * Owns: view, reshape (view or copy), narrow, select, transpose, permute, expand, squeeze and
 * unsqueeze. Every result shares its input's storage except reshape's copy fallback.
 */
#include "ops.h"

#include <string.h>

/* Resolves one -1 in `shape` against numel; writes the result to `out`. */
static rx_status infer_shape(const char *op, const rx_tensor *t, int ndim, const int64_t *shape,
                             int64_t *out)
{
    if (ndim < 0 || ndim > RX_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #2: expected at most %d dims, got %d", op, RX_MAX_DIMS, ndim);
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer >= 0) return rx_fail(RX_ERR_SHAPE, "%s: argument #2: only one dim can be -1", op);
            infer = i;
        } else if (shape[i] < 0) {
            return rx_fail(RX_ERR_SHAPE, "%s: argument #2: invalid size %lld at dim %d", op,
                           (long long)shape[i], i);
        } else {
            known *= shape[i];
        }
        out[i] = shape[i];
    }
    int64_t numel = rx_tensor_numel(t);
    char b1[128], b2[128];
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return rx_fail(RX_ERR_SHAPE, "%s: argument #2: shape %s is invalid for a tensor of %lld elements",
                           op, rx_shape_str(ndim, shape, b1, sizeof b1), (long long)numel);
        out[infer] = numel / known;
    } else if (known != numel) {
        return rx_fail(RX_ERR_SHAPE, "%s: argument #2: shape %s has %lld elements but the tensor %s has %lld",
                       op, rx_shape_str(ndim, shape, b1, sizeof b1), (long long)known,
                       rx_shape_str(t->ndim, t->shape, b2, sizeof b2), (long long)numel);
    }
    return RX_OK;
}

/* Strides for viewing t as new_shape without copying, or false (torch's computeStride). */
static bool view_strides(const rx_tensor *t, int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t numel = rx_tensor_numel(t);
    if (numel == 0 || t->ndim == 0) {
        rx_contiguous_strides(ndim, shape, stride);
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->stride[t->ndim - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        tensor_numel *= t->shape[d];
        if (d == 0 || (t->shape[d - 1] != 1 && t->stride[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                chunk_base_stride = t->stride[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

rx_status rx_op_view(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("view", 1, t));
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    RX_TRY(infer_shape("view", t, ndim, shape, sh));
    if (!view_strides(t, ndim, sh, st)) {
        char b1[128], b2[128];
        return rx_fail(RX_ERR_SHAPE,
                       "view: the strides of a %s tensor do not allow viewing it as %s; use reshape or "
                       ":contiguous() first",
                       rx_shape_str(t->ndim, t->shape, b1, sizeof b1), rx_shape_str(ndim, sh, b2, sizeof b2));
    }
    return rx_tensor_view_of(t, t->offset, ndim, sh, st, out);
}

rx_status rx_op_reshape(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("reshape", 1, t));
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    RX_TRY(infer_shape("reshape", t, ndim, shape, sh));
    if (view_strides(t, ndim, sh, st)) return rx_tensor_view_of(t, t->offset, ndim, sh, st, out);
    rx_tensor *c;
    RX_TRY(rx_op_clone(t, &c));
    rx_status s = rx_op_view(c, ndim, sh, out);
    rx_tensor_release(c);
    return s;
}

rx_status rx_op_narrow(rx_tensor *t, int dim, int64_t start, int64_t length, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("narrow", 1, t));
    int d;
    RX_TRY(rx_check_dim("narrow", 2, dim, t->ndim, &d));
    if (t->ndim == 0) return rx_fail(RX_ERR_SHAPE, "narrow: argument #1: expected at least 1 dim, got a scalar");
    if (start < 0 || length < 0 || start + length > t->shape[d])
        return rx_fail(RX_ERR_ARG, "narrow: range [%lld, %lld) is outside dim %d of size %lld", (long long)start,
                       (long long)(start + length), d, (long long)t->shape[d]);
    int64_t sh[RX_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    sh[d] = length;
    return rx_tensor_view_of(t, t->offset + start * t->stride[d], t->ndim, sh, t->stride, out);
}

rx_status rx_op_select(rx_tensor *t, int dim, int64_t index, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("select", 1, t));
    if (t->ndim == 0) return rx_fail(RX_ERR_SHAPE, "select: argument #1: cannot select from a scalar");
    int d;
    RX_TRY(rx_check_dim("select", 2, dim, t->ndim, &d));
    int64_t i = index < 0 ? index + t->shape[d] : index;
    if (i < 0 || i >= t->shape[d])
        return rx_fail(RX_ERR_ARG, "select: argument #3: index %lld out of range for dim %d of size %lld",
                       (long long)index, d, (long long)t->shape[d]);
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    int n = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (k == d) continue;
        sh[n] = t->shape[k];
        st[n] = t->stride[k];
        n++;
    }
    return rx_tensor_view_of(t, t->offset + i * t->stride[d], n, sh, st, out);
}

rx_status rx_op_transpose(rx_tensor *t, int dim0, int dim1, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("transpose", 1, t));
    if (t->ndim == 0) return rx_tensor_view_of(t, t->offset, 0, t->shape, t->stride, out);
    int a, b;
    RX_TRY(rx_check_dim("transpose", 2, dim0, t->ndim, &a));
    RX_TRY(rx_check_dim("transpose", 3, dim1, t->ndim, &b));
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->stride, sizeof st);
    sh[a] = t->shape[b];
    sh[b] = t->shape[a];
    st[a] = t->stride[b];
    st[b] = t->stride[a];
    return rx_tensor_view_of(t, t->offset, t->ndim, sh, st, out);
}

rx_status rx_op_permute(rx_tensor *t, int ndim, const int *dims, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("permute", 1, t));
    if (ndim != t->ndim)
        return rx_fail(RX_ERR_ARG, "permute: argument #2: expected %d dims for a %d-D tensor, got %d", t->ndim,
                       t->ndim, ndim);
    bool seen[RX_MAX_DIMS] = {false};
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int d;
        RX_TRY(rx_check_dim("permute", 2, dims[i], t->ndim, &d));
        if (seen[d]) return rx_fail(RX_ERR_ARG, "permute: argument #2: dim %d appears twice", dims[i]);
        seen[d] = true;
        sh[i] = t->shape[d];
        st[i] = t->stride[d];
    }
    return rx_tensor_view_of(t, t->offset, ndim, sh, st, out);
}

rx_status rx_op_expand(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("expand", 1, t));
    char b1[128], b2[128];
    if (ndim < t->ndim || ndim > RX_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "expand: argument #2: cannot expand a %s tensor to %d dims",
                       rx_shape_str(t->ndim, t->shape, b1, sizeof b1), ndim);
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int k = i - lead;
        int64_t want = shape[i];
        if (k < 0) {
            if (want < 0)
                return rx_fail(RX_ERR_SHAPE, "expand: argument #2: size -1 not allowed for a new leading dim %d", i);
            sh[i] = want;
            st[i] = 0;
        } else if (want == -1 || want == t->shape[k]) {
            sh[i] = t->shape[k];
            st[i] = t->stride[k];
        } else if (t->shape[k] == 1 && want >= 0) {
            sh[i] = want;
            st[i] = 0;
        } else {
            return rx_fail(RX_ERR_SHAPE, "expand: cannot expand %s to %s (dim %d has size %lld, not 1)",
                           rx_shape_str(t->ndim, t->shape, b1, sizeof b1), rx_shape_str(ndim, shape, b2, sizeof b2),
                           k, (long long)t->shape[k]);
        }
    }
    return rx_tensor_view_of(t, t->offset, ndim, sh, st, out);
}

rx_status rx_op_squeeze(rx_tensor *t, int dim, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("squeeze", 1, t));
    int d;
    RX_TRY(rx_check_dim("squeeze", 2, dim, t->ndim, &d));
    if (t->ndim == 0 || t->shape[d] != 1) return rx_tensor_view_of(t, t->offset, t->ndim, t->shape, t->stride, out);
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    int n = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (k == d) continue;
        sh[n] = t->shape[k];
        st[n++] = t->stride[k];
    }
    return rx_tensor_view_of(t, t->offset, n, sh, st, out);
}

rx_status rx_op_squeeze_all(rx_tensor *t, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("squeeze", 1, t));
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    int n = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] == 1) continue;
        sh[n] = t->shape[k];
        st[n++] = t->stride[k];
    }
    return rx_tensor_view_of(t, t->offset, n, sh, st, out);
}

rx_status rx_op_unsqueeze(rx_tensor *t, int dim, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("unsqueeze", 1, t));
    if (t->ndim >= RX_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "unsqueeze: a tensor cannot have more than %d dims", RX_MAX_DIMS);
    int d;
    RX_TRY(rx_check_dim("unsqueeze", 2, dim, t->ndim + 1, &d));
    int64_t sh[RX_MAX_DIMS], st[RX_MAX_DIMS];
    int n = 0;
    for (int k = 0; k <= t->ndim; k++) {
        if (k == d) {
            sh[n] = 1;
            st[n++] = (k < t->ndim) ? t->shape[k] * t->stride[k] : 1;
        }
        if (k < t->ndim) {
            sh[n] = t->shape[k];
            st[n++] = t->stride[k];
        }
    }
    return rx_tensor_view_of(t, t->offset, n, sh, st, out);
}
