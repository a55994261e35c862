/* copy_fill.c — CPU strided copy with dtype conversion, and fill.
 *
 * Owns: the dense fast paths (same dtype: memcpy rows; f32<->f16/bf16 conversions) and the
 * generic any-dtype path through double.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <string.h>

rx_status rx_cpu_copy(rx_tensor *dst, const rx_tensor *src)
{
    if (dst->storage->device.type != RX_CPU || src->storage->device.type != RX_CPU)
        return rx_fail(RX_ERR_DEVICE, "cpu copy: both tensors must be in host memory");
    rx_iter it;
    rx_iter_init(&it, 2, (const rx_tensor *[]){dst, src});
    rx_dtype dt = dst->dtype, st = src->dtype;
    int64_t es[2] = {rx_dtype_size(dt), rx_dtype_size(st)};
    bool dense = rx_iter_inner_dense(&it, es);
    int64_t ntasks = rx_iter_tasks(&it);
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < ntasks; task++) {
        char *p[RX_ITER_MAX_OPS];
        int64_t len;
        rx_iter_task(&it, task, p, &len);
        int64_t sd = it.inner_stride[0], ss = it.inner_stride[1];
        if (dt == st && dense) {
            memcpy(p[0], p[1], (size_t)(len * es[0]));
        } else if (dt == st) {
            for (int64_t i = 0; i < len; i++) memcpy(p[0] + i * sd, p[1] + i * ss, (size_t)es[0]);
        } else if (dt == RX_F32 && st == RX_BF16) {
            for (int64_t i = 0; i < len; i++)
                *(float *)(p[0] + i * sd) = rx_bf16_to_f32(*(uint16_t *)(p[1] + i * ss));
        } else if (dt == RX_BF16 && st == RX_F32) {
            for (int64_t i = 0; i < len; i++)
                *(uint16_t *)(p[0] + i * sd) = rx_f32_to_bf16(*(float *)(p[1] + i * ss));
        } else if (dt == RX_F32 && st == RX_F16) {
            for (int64_t i = 0; i < len; i++)
                *(float *)(p[0] + i * sd) = rx_f16_to_f32(*(uint16_t *)(p[1] + i * ss));
        } else if (dt == RX_F16 && st == RX_F32) {
            for (int64_t i = 0; i < len; i++)
                *(uint16_t *)(p[0] + i * sd) = rx_f32_to_f16(*(float *)(p[1] + i * ss));
        } else {
            for (int64_t i = 0; i < len; i++)
                rx_store_double(p[0] + i * sd, dt, rx_load_double(p[1] + i * ss, st));
        }
    }
    return RX_OK;
}

rx_status rx_cpu_fill(rx_tensor *t, double value)
{
    rx_iter it;
    rx_iter_init(&it, 1, (const rx_tensor *[]){t});
    int64_t es = rx_dtype_size(t->dtype);
    char pattern[8];
    rx_store_double(pattern, t->dtype, value);
    int64_t ntasks = rx_iter_tasks(&it);
#pragma omp parallel for schedule(static) if (it.numel >= RX_PARALLEL_MIN)
    for (int64_t task = 0; task < ntasks; task++) {
        char *p[RX_ITER_MAX_OPS];
        int64_t len;
        rx_iter_task(&it, task, p, &len);
        int64_t s = it.inner_stride[0];
        if (s == es && es == 4) {
            uint32_t v;
            memcpy(&v, pattern, 4);
            for (int64_t i = 0; i < len; i++) ((uint32_t *)p[0])[i] = v;
        } else {
            for (int64_t i = 0; i < len; i++) memcpy(p[0] + i * s, pattern, (size_t)es);
        }
    }
    return RX_OK;
}
