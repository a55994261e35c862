/* copy.c — operations that move or convert data: contiguous, clone, casts, device moves,
 * in-place copy and fill.
 *
 * Owns: when a copy happens (only when spelled), overlap handling for in-place copies, and
 * cross-device transfers (through the destination backend's copy).
 */
#include "ops.h"

static rx_status copy_new(const char *op, rx_tensor *t, rx_dtype dtype, rx_device device, rx_tensor **out)
{
    RX_TRY(rx_empty(t->ndim, t->shape, dtype, device, out));
    /* a cross-device copy runs on the non-CPU side's backend, which knows both memories */
    rx_device src_dev = rx_tensor_device(t);
    const rx_backend *be = rx_backend_for(device.type != RX_CPU ? device : src_dev);
    rx_status s = be ? be->copy(*out, t) : RX_ERR_DEVICE;
    if (s != RX_OK) {
        rx_tensor_release(*out);
        *out = NULL;
        return rx_fail_context(s, "%s", op);
    }
    return RX_OK;
}

rx_status rx_op_contiguous(rx_tensor *t, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("contiguous", 1, t));
    if (rx_tensor_is_contiguous(t)) {
        *out = rx_tensor_retain(t);
        return RX_OK;
    }
    return copy_new("contiguous", t, t->dtype, rx_tensor_device(t), out);
}

rx_status rx_op_clone(rx_tensor *t, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("clone", 1, t));
    return copy_new("clone", t, t->dtype, rx_tensor_device(t), out);
}

rx_status rx_op_to_dtype(rx_tensor *t, rx_dtype dtype, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("to", 1, t));
    if ((unsigned)dtype > RX_BOOL) return rx_fail(RX_ERR_DTYPE, "to: argument #2: unknown dtype %d", (int)dtype);
    if (dtype == t->dtype) {
        *out = rx_tensor_retain(t);
        return RX_OK;
    }
    return copy_new("to", t, dtype, rx_tensor_device(t), out);
}

rx_status rx_op_to_device(rx_tensor *t, rx_device device, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_tensor("to", 1, t));
    if (rx_same_device(device, rx_tensor_device(t))) {
        *out = rx_tensor_retain(t);
        return RX_OK;
    }
    if (!rx_backend_for(device)) return rx_fail_context(RX_ERR_DEVICE, "to");
    return copy_new("to", t, t->dtype, device, out);
}

rx_status rx_op_copy_(rx_tensor *dst, rx_tensor *src)
{
    RX_TRY(rx_check_tensor("copy_", 1, dst));
    RX_TRY(rx_check_tensor("copy_", 2, src));
    rx_tensor *expanded;
    RX_TRY(rx_op_expand(src, dst->ndim, dst->shape, &expanded));
    rx_tensor *source = expanded;
    /* the same storage on both sides may overlap: read from a private copy */
    if (rx_tensor_shares_storage(dst, src)) {
        rx_status s = rx_op_contiguous(expanded, &source);
        if (s == RX_OK && source == expanded) {
            rx_tensor_release(source);
            s = rx_op_clone(expanded, &source);
        }
        rx_tensor_release(expanded);
        if (s != RX_OK) return s;
    }
    rx_device dd = rx_tensor_device(dst), sd = rx_tensor_device(source);
    const rx_backend *be = rx_backend_for(dd.type != RX_CPU ? dd : sd);
    rx_status s = be ? be->copy(dst, source) : RX_ERR_DEVICE;
    rx_tensor_release(source);
    return s == RX_OK ? RX_OK : rx_fail_context(s, "copy_");
}

rx_status rx_op_fill_(rx_tensor *t, double value)
{
    RX_TRY(rx_check_tensor("fill_", 1, t));
    return rx_backend_of(t)->fill(t, value);
}
