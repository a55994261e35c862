/* shape.c — shape arithmetic and the argument checks every op shares.
 *
 * Owns: numel, dim normalisation, contiguous strides, broadcasting of shapes, shape printing,
 * and the checks that produce messages naming the op and the argument position.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

int64_t rx_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

bool rx_dim_normalize(int dim, int ndim, int *out)
{
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim) return false;
    *out = d;
    return true;
}

rx_status rx_check_dim(const char *op, int argn, int dim, int ndim, int *out)
{
    if (ndim == 0 && (dim == 0 || dim == -1)) { /* a scalar has one implicit dim */
        *out = 0;
        return RX_OK;
    }
    if (rx_dim_normalize(dim, ndim, out)) return RX_OK;
    return rx_fail(RX_ERR_ARG, "%s: argument #%d: dim %d out of range for a %d-D tensor (expected %d..%d)",
                   op, argn, dim, ndim, -ndim, ndim - 1);
}

rx_status rx_check_shape(const char *op, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > RX_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "%s: expected at most %d dims, got %d", op, RX_MAX_DIMS, ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return rx_fail(RX_ERR_SHAPE, "%s: size %lld at dim %d is negative", op,
                           (long long)shape[i], i);
        if (shape[i] > 0 && numel > INT64_MAX / shape[i])
            return rx_fail(RX_ERR_SHAPE, "%s: shape has more than 2^63 elements", op);
        numel *= shape[i];
    }
    return RX_OK;
}

void rx_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

const char *rx_shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "(");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, ")");
    return buf;
}

rx_status rx_broadcast_shapes(int ndim_a, const int64_t *a, int ndim_b, const int64_t *b,
                              int *out_ndim, int64_t *out_shape)
{
    int nd = ndim_a > ndim_b ? ndim_a : ndim_b;
    if (nd > RX_MAX_DIMS) return rx_fail(RX_ERR_SHAPE, "broadcast: more than %d dims", RX_MAX_DIMS);
    for (int i = 0; i < nd; i++) {
        int ia = ndim_a - nd + i, ib = ndim_b - nd + i;
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ba[128], bb[128];
            return rx_fail(RX_ERR_SHAPE, "shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)",
                           rx_shape_str(ndim_a, a, ba, sizeof ba), rx_shape_str(ndim_b, b, bb, sizeof bb),
                           i, (long long)sa, (long long)sb);
        }
        out_shape[i] = sa == 1 ? sb : sa;
    }
    *out_ndim = nd;
    return RX_OK;
}

rx_status rx_check_tensor(const char *op, int argn, const rx_tensor *t)
{
    if (!t) return rx_fail(RX_ERR_ARG, "%s: argument #%d: expected a tensor, got NULL", op, argn);
    return RX_OK;
}

rx_status rx_check_same_device(const char *op, const rx_tensor *a, int argn_a, const rx_tensor *b,
                               int argn_b)
{
    rx_device da = rx_tensor_device(a), db = rx_tensor_device(b);
    if (rx_same_device(da, db)) return RX_OK;
    char sa[32], sb[32];
    return rx_fail(RX_ERR_DEVICE, "%s: argument #%d is on %s but argument #%d is on %s (move one with :to())",
                   op, argn_a, rx_device_str(da, sa, sizeof sa), argn_b, rx_device_str(db, sb, sizeof sb));
}

rx_status rx_check_same_dtype(const char *op, const rx_tensor *a, int argn_a, const rx_tensor *b,
                              int argn_b)
{
    if (a->dtype == b->dtype) return RX_OK;
    return rx_fail(RX_ERR_DTYPE, "%s: argument #%d is %s but argument #%d is %s (cast one with :to())", op,
                   argn_a, rx_dtype_name(a->dtype), argn_b, rx_dtype_name(b->dtype));
}

rx_status rx_check_float(const char *op, int argn, const rx_tensor *t)
{
    if (rx_dtype_is_float(t->dtype)) return RX_OK;
    return rx_fail(RX_ERR_DTYPE, "%s: argument #%d: expected a floating-point tensor (f32, f16, bf16, f64), got %s",
                   op, argn, rx_dtype_name(t->dtype));
}

rx_status rx_check_index_dtype(const char *op, int argn, const rx_tensor *t)
{
    if (t->dtype == RX_I32 || t->dtype == RX_I64) return RX_OK;
    return rx_fail(RX_ERR_DTYPE, "%s: argument #%d: expected an i32 or i64 index tensor, got %s", op, argn,
                   rx_dtype_name(t->dtype));
}
