/* creation.c — new tensors: empty, zeros, ones, full, arange, from host buffers.
 *
 * Owns: argument checks for shapes/dtypes/devices of new tensors and their initial fill.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

rx_status rx_empty(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_shape("empty", ndim, shape));
    if ((unsigned)dtype > RX_BOOL) return rx_fail(RX_ERR_DTYPE, "empty: unknown dtype %d", (int)dtype);
    int64_t numel = rx_shape_numel(ndim, shape);
    rx_storage *s;
    RX_TRY(rx_storage_new(numel * rx_dtype_size(dtype), device, &s));
    int64_t stride[RX_MAX_DIMS];
    rx_contiguous_strides(ndim, shape, stride);
    rx_status st = rx_tensor_make(s, 0, ndim, shape, stride, dtype, out);
    rx_storage_release(s);
    return st;
}

rx_status rx_full(int ndim, const int64_t *shape, double value, rx_dtype dtype, rx_device device,
                  rx_tensor **out)
{
    RX_TRY(rx_empty(ndim, shape, dtype, device, out));
    rx_status s = rx_backend_of(*out)->fill(*out, value);
    if (s != RX_OK) {
        rx_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

rx_status rx_zeros(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_tensor **out)
{
    return rx_full(ndim, shape, 0.0, dtype, device, out);
}

rx_status rx_ones(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_tensor **out)
{
    return rx_full(ndim, shape, 1.0, dtype, device, out);
}

rx_status rx_arange(double start, double end, double step, rx_dtype dtype, rx_device device, rx_tensor **out)
{
    *out = NULL;
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step))
        return rx_fail(RX_ERR_ARG, "arange: expected finite start, end and a non-zero step, got (%g, %g, %g)",
                       start, end, step);
    double count = ceil((end - start) / step);
    int64_t n = count > 0 ? (int64_t)count : 0;
    rx_tensor *host;
    RX_TRY(rx_empty(1, &n, dtype, rx_cpu(), &host));
    char *p = rx_tensor_bytes(host);
    int64_t es = rx_dtype_size(dtype);
    for (int64_t i = 0; i < n; i++) rx_store_double(p + i * es, dtype, start + (double)i * step);
    rx_status s = rx_op_to_device(host, device, out);
    rx_tensor_release(host);
    return s;
}

rx_status rx_from_buffer(int ndim, const int64_t *shape, rx_dtype dtype, const void *data, rx_tensor **out)
{
    RX_TRY(rx_empty(ndim, shape, dtype, rx_cpu(), out));
    int64_t nbytes = rx_tensor_numel(*out) * rx_dtype_size(dtype);
    if (nbytes) memcpy(rx_tensor_bytes(*out), data, (size_t)nbytes);
    return RX_OK;
}

rx_status rx_from_doubles(int ndim, const int64_t *shape, rx_dtype dtype, const double *data, rx_tensor **out)
{
    RX_TRY(rx_empty(ndim, shape, dtype, rx_cpu(), out));
    int64_t n = rx_tensor_numel(*out), es = rx_dtype_size(dtype);
    char *p = rx_tensor_bytes(*out);
    for (int64_t i = 0; i < n; i++) rx_store_double(p + i * es, dtype, data[i]);
    return RX_OK;
}
