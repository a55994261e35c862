/* nn_common.c — helpers shared by the fused neural-network ops (ops/nn_*.c).
 *
 * Owns: the "expected shape" argument check with its message (sizes that may be anything print
 * as *), and the (M, C) row view that the row kernels (norms, losses) take.
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
