/* device.c — CUDA device discovery and the CUDA kernel table lookup.
 *
 * Owns: whether CUDA can be used on this machine (a driver and at least one GPU), with the
 * runtime's own reason when not. Compiled only when recx is built with RECX_CUDA.
 */
#include "../backend/backend.h"

#include <cuda_runtime.h>

int rx_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the non-sticky error */
        return 0;
    }
    return n;
}

int rx_cuda_available(void) { return rx_cuda_device_count() > 0; }

const rx_backend *rx_cuda_backend_get(int device_index)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        rx_fail(RX_ERR_DEVICE, "device cuda:%d: CUDA is not usable here (%s)", device_index, cudaGetErrorString(e));
        return NULL;
    }
    if (device_index < 0 || device_index >= n) {
        rx_fail(RX_ERR_DEVICE, "device cuda:%d: this machine has %d CUDA device(s)", device_index, n);
        return NULL;
    }
    rx_fail(RX_ERR_UNSUPPORTED, "device cuda:%d: tensor kernels for CUDA are not in this build yet", device_index);
    return NULL;
}
