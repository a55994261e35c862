/* nn_common.c — helpers shared by the fused neural-network ops (ops/nn_*.c).
 *
 * Owns: the "expected shape" argument check with its message (sizes that may be anything print
 * as *), the (M, C) row view that the row kernels (norms, losses) take, and the host-side scan
 * for ids out of range (embedding ids, cross-entropy targets).
 */
#include "ops.h"

#include <stdio.h>

rx_status rx_nn_check_shape(const char *op, int argn, const char *field, const rx_tensor *t, int ndim,
                            const int64_t *shape)
{
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] < 0 || shape[i] == t->shape[i];
    if (same) return RX_OK;
    char want[160] = "(", got[128], label[64] = "";
    size_t len = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            len += (size_t)snprintf(want + len, sizeof want - len, "%s*", i ? ", " : "");
        else
            len +=
                (size_t)snprintf(want + len, sizeof want - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (len >= sizeof want) len = sizeof want - 1;
    }
    snprintf(want + len, sizeof want - len, ")");
    if (field) snprintf(label, sizeof label, " (%s)", field);
    return rx_fail(RX_ERR_SHAPE, "%s: argument #%d%s: expected shape %s, got %s", op, argn, label, want,
                   rx_shape_str(t->ndim, t->shape, got, sizeof got));
}

rx_status rx_nn_rows(rx_tensor *t, rx_tensor **out)
{
    *out = NULL;
    int64_t c = t->ndim ? t->shape[t->ndim - 1] : 1;
    int64_t m = t->ndim ? rx_shape_numel(t->ndim - 1, t->shape) : 1;
    rx_tensor *dense;
    RX_TRY(rx_op_contiguous(t, &dense));
    rx_status s = rx_op_view(dense, 2, (const int64_t[]){m, c}, out);
    rx_tensor_release(dense);
    return s;
}

rx_status rx_nn_check_ids_on_device(const char *op, int argn, rx_tensor *ids, int64_t v, const int64_t *ignore,
                                    bool *done)
{
    *done = false;
    if (rx_device_capturing(ids->storage->device)) {
        *done = true;
        return RX_OK;
    }
    const rx_backend *be = rx_backend_of(ids);
    if (!be->check_ids_async) return RX_OK;
    *done = true;
    rx_tensor *dense;
    RX_TRY(rx_op_contiguous(ids, &dense));
    rx_status s = be->check_ids_async(op, argn, dense, v, ignore);
    rx_tensor_release(dense);
    return s;
}

rx_status rx_nn_find_bad_id(rx_tensor *ids, int64_t v, const int64_t *ignore, int64_t *at, int64_t *id)
{
    *at = -1;
    *id = 0;
    rx_tensor *host, *dense;
    RX_TRY(rx_op_to_device(ids, rx_cpu(), &host));
    rx_status s = rx_op_contiguous(host, &dense);
    rx_tensor_release(host);
    RX_TRY(s);
    int64_t n = rx_tensor_numel(dense);
    const char *base = rx_tensor_bytes(dense);
    bool i64 = dense->dtype == RX_I64;
    for (int64_t i = 0; i < n; i++) {
        int64_t x = i64 ? ((const int64_t *)base)[i] : ((const int32_t *)base)[i];
        if ((x < 0 || x >= v) && !(ignore && x == *ignore)) {
            *at = i;
            *id = x;
            break;
        }
    }
    rx_tensor_release(dense);
    return RX_OK;
}
