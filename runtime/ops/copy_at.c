/* copy_at.c — copy_at_: a copy into a slice of dst whose start is read from a tensor.
 *
 * Owns: the argument checks of copy_at_ (all on the host, before any work, naming the argument),
 * the range check of the offset where the host can read it (CPU tensors), and the private copy
 * of an overlapping source. The offset lives in a tensor so that a caller that replays captured
 * device work (a CUDA graph of one decode step writing the KV cache at position n) can change it
 * between replays without a host read; on CUDA the kernel reads and checks it, and an
 * out-of-range offset writes nothing (see backend.h). Nothing here allocates or touches device
 * memory unless src shares dst's storage (then src is cloned first: an allocation, which a graph
 * capture should avoid).
 */
#include "ops.h"


/* Checks everything about the arguments that the host can see without reading device memory;
 * writes the normalised dim. */
static rx_status check_args(const char *op, rx_tensor *dst, int dim, rx_tensor *offset, rx_tensor *src,
                            int *d)
{
    char b1[128], b2[128];
    RX_TRY(rx_check_tensor(op, 1, dst));
    RX_TRY(rx_check_tensor(op, 3, offset));
    RX_TRY(rx_check_tensor(op, 4, src));
    if (dst->ndim == 0)
        return rx_fail(RX_ERR_SHAPE,
                       "%s: argument #1: expected a tensor with at least one dim, got a 0-d tensor", op);
    RX_TRY(rx_check_dim(op, 2, dim, dst->ndim, d));
    RX_TRY(rx_check_same_device(op, dst, 1, offset, 3));
    RX_TRY(rx_check_same_device(op, dst, 1, src, 4));
    RX_TRY(rx_check_same_dtype(op, dst, 1, src, 4));
    RX_TRY(rx_check_index_dtype(op, 3, offset));
    if (rx_shape_numel(offset->ndim, offset->shape) != 1)
        return rx_fail(RX_ERR_SHAPE,
                       "%s: argument #3: expected an offset tensor with one element, got shape %s", op,
                       rx_shape_str(offset->ndim, offset->shape, b1, sizeof b1));
    if (rx_tensor_shares_storage(offset, dst))
        return rx_fail(RX_ERR_ARG,
                       "%s: argument #3 shares storage with argument #1 (the write could change the offset)",
                       op);
    bool same = src->ndim == dst->ndim;
    for (int i = 0; same && i < dst->ndim; i++) same = i == *d || src->shape[i] == dst->shape[i];
    if (!same)
        return rx_fail(RX_ERR_SHAPE,
                       "%s: argument #4: expected the shape of argument #1 %s except along dim %d, got %s",
                       op, rx_shape_str(dst->ndim, dst->shape, b1, sizeof b1), *d,
                       rx_shape_str(src->ndim, src->shape, b2, sizeof b2));
    if (src->shape[*d] > dst->shape[*d])
        return rx_fail(RX_ERR_SHAPE,
                       "%s: argument #4: length %lld along dim %d exceeds the size %lld of argument #1 there",
                       op, (long long)src->shape[*d], *d, (long long)dst->shape[*d]);
    return RX_OK;
}

rx_status rx_op_copy_at_(rx_tensor *dst, int dim, rx_tensor *offset, rx_tensor *src)
{
    const char *op = "copy_at_";
    int d;
    RX_TRY(check_args(op, dst, dim, offset, src, &d));
    int64_t len = src->shape[d], size = dst->shape[d];
    if (rx_tensor_device(offset).type == RX_CPU) {
        int64_t off = rx_tensor_index_value(offset);
        if (off < 0 || off > size - len)
            return rx_fail(RX_ERR_ARG,
                           "%s: argument #3: offset %lld out of range [0, %lld] for dim %d of size %lld and "
                           "a source of length %lld",
                           op, (long long)off, (long long)(size - len), d, (long long)size, (long long)len);
    }
    /* the same storage on both sides may overlap: read from a private copy */
    rx_tensor *source = rx_tensor_retain(src);
    if (rx_tensor_shares_storage(dst, src)) {
        rx_tensor_release(source);
        RX_TRY(rx_op_clone(src, &source));
    }
    rx_status s = rx_backend_of(dst)->copy_at(dst, source, d, offset);
    rx_tensor_release(source);
    return s == RX_OK ? RX_OK : rx_fail_context(s, "%s", op);
}
