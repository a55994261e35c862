/* matmul.cu — the CUDA batched matrix product through cuBLAS.
 *
 * Owns: mapping the kernel's row-major operands — a (B, n, k), b (B, k, m), out (B, n, m)
 * contiguous, each matrix of a and b with a unit stride in one of its last two dims, batch
 * strides possibly 0 (broadcast) — onto one cublasGemmStridedBatchedEx_64 call. cuBLAS is
 * column-major, so the product is computed as out^T = b^T a^T: a row-major matrix with unit column
 * stride is, read column-major, its own transpose with leading dimension = its row stride (no
 * transpose flag), and a matrix with unit row stride is read as is (transpose flag set, leading
 * dimension = its column stride). A batch stride of 0 is passed as is (cuBLAS reads the same
 * matrix for every batch).
 *
 * Precision: f32 computes with CUBLAS_COMPUTE_32F (full f32: TF32 is not used), f64 with
 * CUBLAS_COMPUTE_64F, f16 and bf16 read and write 16-bit values and accumulate in f32
 * (CUBLAS_COMPUTE_32F), like the CPU path that converts them to f32 and rounds the result back.
 */
#include "check.h"

/* One operand as cuBLAS reads it. */
typedef struct gemm_operand {
    cublasOperation_t op;
    int64_t ld;
    long long batch_stride;
} gemm_operand;

/* The ops layer guarantees (rows, cols) strides with cs == 1 and rs >= max(1, cols), or rs == 1
 * and cs >= max(1, rows). */
static gemm_operand operand_of(const rx_tensor *t)
{
    gemm_operand g;
    g.batch_stride = t->shape[0] > 1 ? (long long)t->stride[0] : 0;
    if (t->stride[2] == 1) {
        g.op = CUBLAS_OP_N;
        g.ld = t->stride[1];
    } else {
        g.op = CUBLAS_OP_T;
        g.ld = t->stride[2];
    }
    return g;
}

rx_status rx_cuda_matmul(rx_tensor *out, const rx_tensor *a, const rx_tensor *b)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(out->storage->device.index, &ctx));
    int64_t batch = out->shape[0], n = out->shape[1], m = out->shape[2], k = a->shape[2];
    int64_t es = rx_dtype_size(out->dtype);
    if (batch == 0 || n == 0 || m == 0) return RX_OK;
    if (k == 0)
        return RX_CUDA_STATUS(cudaMemsetAsync(rx_tensor_bytes(out), 0, (size_t)(batch * n * m * es), ctx->stream));
    cudaDataType_t type;
    cublasComputeType_t compute;
    float one32 = 1.0f, zero32 = 0.0f;
    double one64 = 1.0, zero64 = 0.0;
    const void *alpha = &one32, *beta = &zero32;
    switch (out->dtype) {
    case RX_F32:
        type = CUDA_R_32F;
        compute = CUBLAS_COMPUTE_32F;
        break;
    case RX_F64:
        type = CUDA_R_64F;
        compute = CUBLAS_COMPUTE_64F;
        alpha = &one64;
        beta = &zero64;
        break;
    case RX_F16:
        type = CUDA_R_16F;
        compute = CUBLAS_COMPUTE_32F;
        break;
    case RX_BF16:
        type = CUDA_R_16BF;
        compute = CUBLAS_COMPUTE_32F;
        break;
    default:
        return rx_fail(RX_ERR_DTYPE, "cuda matmul: expected a floating-point dtype, got %s", rx_dtype_name(out->dtype));
    }
    cublasHandle_t h;
    RX_TRY(rx_cuda_cublas(ctx, &h));
    gemm_operand ga = operand_of(a), gb = operand_of(b);
    /* column-major: C' (m x n, ldc = m) = op(B') (m x k) * op(A') (k x n) */
    RX_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(h, gb.op, ga.op, m, n, k, alpha, rx_tensor_bytes(b), type, gb.ld,
                                                  gb.batch_stride, rx_tensor_bytes(a), type, ga.ld, ga.batch_stride,
                                                  beta, rx_tensor_bytes(out), type, m, (long long)(n * m), batch,
                                                  compute, CUBLAS_GEMM_DEFAULT));
    return RX_OK;
}
