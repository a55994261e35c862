/* memory.c — host memory for CPU storage (64-byte aligned for vector loads). */
#include "cpu_kernels.h"

#include <stdlib.h>

rx_status rx_cpu_alloc(int64_t nbytes, int device_index, void **out)
{
    (void)device_index;
    size_t size = (size_t)((nbytes + 63) / 64 * 64);
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 64) != 0) {
        *out = NULL;
        return rx_fail(RX_ERR_NOMEM, "cpu: out of memory allocating %lld bytes", (long long)nbytes);
    }
    *out = p;
    return RX_OK;
}

void rx_cpu_free(void *ptr, int64_t nbytes, int device_index)
{
    (void)nbytes;
    (void)device_index;
    free(ptr);
}
