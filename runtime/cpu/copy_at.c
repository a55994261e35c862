/* copy_at.c — CPU kernel of copy_at: a copy into a slice of dst that starts at an offset read
 * from a tensor.
 *
 * Owns: reading the offset (i32 or i64, one element) and forming the narrowed destination as a
 * header on the stack (no reference counting, nothing allocated); the copy itself is
 * rx_cpu_copy's (its dense and strided same-dtype paths). An offset out of range writes nothing,
 * as the backend contract says; ops/ has already reported it.
 */
#include "cpu_kernels.h"


rx_status rx_cpu_copy_at(rx_tensor *dst, const rx_tensor *src, int dim, const rx_tensor *offset)
{
    int64_t off = rx_tensor_index_value(offset);
    int64_t len = src->shape[dim];
    if (off < 0 || off > dst->shape[dim] - len) return RX_OK;
    rx_tensor slice = *dst; /* read-only geometry for rx_cpu_copy: never retained or released */
    slice.offset += off * dst->stride[dim];
    slice.shape[dim] = len;
    return rx_cpu_copy(&slice, src);
}
