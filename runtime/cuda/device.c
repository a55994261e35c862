/* device.c — CUDA device discovery and the CUDA kernel table lookup.
 *
 * Owns: whether CUDA can be used on this machine (a driver and at least one GPU), with the
 * runtime's own reason when not. Compiled only when recx is built with RECX_CUDA. The device
 * count is read once (it cannot change while a process runs) because every op on a CUDA tensor
 * looks its backend up here.
 */
#include "cuda_kernels.h"

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

rx_status rx_cuda_synchronize(void)
{
    int n = rx_cuda_device_count();
    if (n == 0) return RX_OK;
    for (int d = 0; d < n && d < RX_CUDA_MAX_DEVICES; d++) RX_TRY(rx_cuda_refuse_in_capture(d, "cuda.synchronize"));
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess)
        return rx_fail(RX_ERR_DEVICE, "cuda.synchronize: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    for (int d = 0; d < n && d < RX_CUDA_MAX_DEVICES; d++) RX_TRY(rx_cuda_poll_id_errors(d));
    return RX_OK;
}

const rx_backend *rx_cuda_backend_get(int device_index)
{
    static int known_count = -1; /* the device count once read successfully */
    int n = __atomic_load_n(&known_count, __ATOMIC_ACQUIRE);
    if (n < 0) {
        cudaError_t e = cudaGetDeviceCount(&n);
        if (e != cudaSuccess) {
            cudaGetLastError();
            rx_fail(RX_ERR_DEVICE, "device cuda:%d: CUDA is not usable here (%s)", device_index, cudaGetErrorString(e));
            return NULL;
        }
        __atomic_store_n(&known_count, n, __ATOMIC_RELEASE);
    }
    if (device_index < 0 || device_index >= n) {
        rx_fail(RX_ERR_DEVICE, "device cuda:%d: this machine has %d CUDA device(s)", device_index, n);
        return NULL;
    }
    return rx_cuda_backend_table();
}
