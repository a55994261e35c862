/* check.h — turning CUDA runtime and cuBLAS failures into recx statuses.
 *
 * Owns: the checking macros every cuda/ file uses. A failing call becomes a status with a message
 * naming the device, the call, the file and line, and the runtime's own words, e.g.
 *   "cuda:0: cudaMemcpyAsync(...) failed at cuda/copy_fill.cu:212: an illegal memory access was
 *    encountered (cudaErrorIllegalAddress)".
 * Out-of-memory errors give RX_ERR_NOMEM, everything else RX_ERR_DEVICE. Errors that leave the
 * CUDA context unusable (illegal address, launch failure, ...) are recorded as sticky for the
 * device (rx_cuda_mark_sticky) so that every later recx call on it fails with the first message.
 *
 *   RX_CUDA_CHECK(cudaMemsetAsync(p, 0, n, ctx->stream));       returns the status on failure
 *   s = RX_CUDA_STATUS(cudaMemcpyAsync(...));                    for paths that free temporaries
 *   kernel<<<grid, block, 0, ctx->stream>>>(...); RX_CUDA_LAUNCHED("kernel");
 */
#ifndef RECX_CUDA_CHECK_H
#define RECX_CUDA_CHECK_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The status of a failed call (e != cudaSuccess) with its message; implemented in
 * cuda_backend.cu. */
rx_status rx_cuda_fail_call(cudaError_t e, const char *call, const char *file, int line);
rx_status rx_cublas_fail_call(cublasStatus_t e, const char *call, const char *file, int line);

#ifdef __cplusplus
}
#endif

static inline rx_status rx_cuda_status_(cudaError_t e, const char *call, const char *file, int line)
{
    return e == cudaSuccess ? RX_OK : rx_cuda_fail_call(e, call, file, line);
}

static inline rx_status rx_cublas_status_(cublasStatus_t e, const char *call, const char *file, int line)
{
    return e == CUBLAS_STATUS_SUCCESS ? RX_OK : rx_cublas_fail_call(e, call, file, line);
}

#define RX_CUDA_STATUS(call) rx_cuda_status_((call), #call, __FILE__, __LINE__)
#define RX_CUBLAS_STATUS(call) rx_cublas_status_((call), #call, __FILE__, __LINE__)

#define RX_CUDA_CHECK(call)                            \
    do {                                               \
        rx_status rx_cc_s_ = RX_CUDA_STATUS(call);     \
        if (rx_cc_s_ != RX_OK) return rx_cc_s_;        \
    } while (0)

#define RX_CUBLAS_CHECK(call)                          \
    do {                                               \
        rx_status rx_cc_s_ = RX_CUBLAS_STATUS(call);   \
        if (rx_cc_s_ != RX_OK) return rx_cc_s_;        \
    } while (0)

/* After a kernel launch: a launch error (bad configuration, or a sticky error of an earlier
 * kernel) becomes a status naming the kernel. */
#define RX_CUDA_LAUNCHED(name) \
    RX_CUDA_CHECK(rx_cuda_status_(cudaGetLastError(), "launch of kernel " name, __FILE__, __LINE__))
#define RX_CUDA_LAUNCH_STATUS(name) rx_cuda_status_(cudaGetLastError(), "launch of kernel " name, __FILE__, __LINE__)

#endif /* RECX_CUDA_CHECK_H */
