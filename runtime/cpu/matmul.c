/* matmul.c — the CPU batched matrix product through OpenBLAS.
 *
 * Owns: mapping each (n, k) / (k, m) matrix of the kernel's operands onto a GEMM call (row-major,
 * transposed when the unit stride is on the row dim, leading dims from the strides), the batch
 * loop (batches run in parallel with OpenMP when each GEMM is small enough that OpenBLAS would
 * run it on one thread anyway), and the f16/bf16 path: operands converted to f32 temporaries,
 * multiplied with sgemm, the result converted back.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Products of at most this many multiply-adds run single-threaded inside OpenBLAS
 * (its GEMM threshold is 65536 * 4), so batches of them are spread over OpenMP threads. */
#define RX_SMALL_GEMM 262144

/* One operand's matrices as BLAS sees them. */
typedef struct gemm_arg {
    enum CBLAS_TRANSPOSE trans;
    blasint ld;
    int64_t batch_stride; /* elements; 0 for a broadcast operand */
} gemm_arg;

/* The ops layer guarantees (rows, cols) strides with cs == 1 and rs >= max(1, cols), or rs == 1
 * and cs >= max(1, rows). */
static gemm_arg gemm_arg_of(const rx_tensor *t)
{
    gemm_arg g;
    g.batch_stride = t->shape[0] > 1 ? t->stride[0] : 0;
    if (t->stride[2] == 1) {
        g.trans = CblasNoTrans;
        g.ld = (blasint)t->stride[1];
    } else {
        g.trans = CblasTrans;
        g.ld = (blasint)t->stride[2];
    }
    return g;
}

static bool fits_blasint(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* Matrix i of a batched product (one BLAS call). */
static void sgemm_at(int64_t i, int64_t n, int64_t m, int64_t k, const float *a, gemm_arg ga, const float *b,
                     gemm_arg gb, float *c)
{
    cblas_sgemm(CblasRowMajor, ga.trans, gb.trans, (blasint)n, (blasint)m, (blasint)k, 1.0f, a + i * ga.batch_stride,
                ga.ld, b + i * gb.batch_stride, gb.ld, 0.0f, c + i * n * m, (blasint)m);
}

static void dgemm_at(int64_t i, int64_t n, int64_t m, int64_t k, const double *a, gemm_arg ga, const double *b,
                     gemm_arg gb, double *c)
{
    cblas_dgemm(CblasRowMajor, ga.trans, gb.trans, (blasint)n, (blasint)m, (blasint)k, 1.0, a + i * ga.batch_stride,
                ga.ld, b + i * gb.batch_stride, gb.ld, 0.0, c + i * n * m, (blasint)m);
}

/* Many small products run one per thread; otherwise each product gets all threads from OpenBLAS.
 * The serial case must open no OpenMP region at all, not even an inactive one (`if (0)`): inside
 * one, OpenBLAS's OpenMP build starts a fresh thread team for every call (a linear layer's
 * forward and backward went from 6.7 to 4.0 ms without it). */
static void gemm_f32(int64_t batch, int64_t n, int64_t m, int64_t k, const float *a, gemm_arg ga,
                     const float *b, gemm_arg gb, float *c)
{
    if (batch > 1 && n * m * k <= RX_SMALL_GEMM) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < batch; i++) sgemm_at(i, n, m, k, a, ga, b, gb, c);
        return;
    }
    for (int64_t i = 0; i < batch; i++) sgemm_at(i, n, m, k, a, ga, b, gb, c);
}

static void gemm_f64(int64_t batch, int64_t n, int64_t m, int64_t k, const double *a, gemm_arg ga,
                     const double *b, gemm_arg gb, double *c)
{
    if (batch > 1 && n * m * k <= RX_SMALL_GEMM) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < batch; i++) dgemm_at(i, n, m, k, a, ga, b, gb, c);
        return;
    }
    for (int64_t i = 0; i < batch; i++) dgemm_at(i, n, m, k, a, ga, b, gb, c);
}

/* Converts the matrices of a (B, rows, cols) f16/bf16 tensor to row-major f32 in dst; a
 * broadcast batch (stride 0) is converted once. Returns the number of matrices written. */
static int64_t to_f32(const rx_tensor *t, float *dst)
{
    int64_t nmat = t->shape[0] > 1 && t->stride[0] != 0 ? t->shape[0] : 1;
    int64_t rows = t->shape[1], cols = t->shape[2];
    int64_t bs = t->stride[0], rs = t->stride[1], cs = t->stride[2];
    const uint16_t *src = (const uint16_t *)rx_tensor_bytes(t);
    bool bf = t->dtype == RX_BF16;
#pragma omp parallel for schedule(static) if (nmat * rows * cols >= RX_PARALLEL_MIN)
    for (int64_t r = 0; r < nmat * rows; r++) {
        int64_t bi = r / rows, i = r % rows;
        const uint16_t *row = src + bi * bs + i * rs;
        float *out = dst + r * cols;
        if (bf)
            for (int64_t j = 0; j < cols; j++) out[j] = rx_bf16_to_f32(row[j * cs]);
        else
            for (int64_t j = 0; j < cols; j++) out[j] = rx_f16_to_f32(row[j * cs]);
    }
    return nmat;
}

static rx_status matmul_half(rx_tensor *out, const rx_tensor *a, const rx_tensor *b)
{
    int64_t batch = out->shape[0], n = out->shape[1], m = out->shape[2], k = a->shape[2];
    int64_t na = a->shape[0] > 1 && a->stride[0] != 0 ? batch : 1;
    int64_t nbm = b->shape[0] > 1 && b->stride[0] != 0 ? batch : 1;
    float *a32 = malloc(sizeof(float) * (size_t)(na * n * k));
    float *b32 = malloc(sizeof(float) * (size_t)(nbm * k * m));
    float *c32 = malloc(sizeof(float) * (size_t)(batch * n * m));
    if (!a32 || !b32 || !c32) {
        free(a32);
        free(b32);
        free(c32);
        return rx_fail(RX_ERR_NOMEM, "cpu matmul: out of host memory for f32 temporaries (%lld bytes)",
                       (long long)(4 * (na * n * k + nbm * k * m + batch * n * m)));
    }
    gemm_arg ga = {CblasNoTrans, (blasint)k, 0}, gb = {CblasNoTrans, (blasint)m, 0};
    ga.batch_stride = to_f32(a, a32) > 1 ? n * k : 0;
    gb.batch_stride = to_f32(b, b32) > 1 ? k * m : 0;
    gemm_f32(batch, n, m, k, a32, ga, b32, gb, c32);
    uint16_t *dst = (uint16_t *)rx_tensor_bytes(out);
    int64_t total = batch * n * m;
    bool bf = out->dtype == RX_BF16;
#pragma omp parallel for schedule(static) if (total >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < total; i++) dst[i] = bf ? rx_f32_to_bf16(c32[i]) : rx_f32_to_f16(c32[i]);
    free(a32);
    free(b32);
    free(c32);
    return RX_OK;
}

rx_status rx_cpu_matmul(rx_tensor *out, const rx_tensor *a, const rx_tensor *b)
{
    int64_t batch = out->shape[0], n = out->shape[1], m = out->shape[2], k = a->shape[2];
    int64_t es = rx_dtype_size(out->dtype);
    if (batch == 0 || n == 0 || m == 0) return RX_OK;
    if (k == 0) {
        memset(rx_tensor_bytes(out), 0, (size_t)(batch * n * m * es));
        return RX_OK;
    }
    if (!fits_blasint(n) || !fits_blasint(m) || !fits_blasint(k) || !fits_blasint(a->stride[1]) ||
        !fits_blasint(a->stride[2]) || !fits_blasint(b->stride[1]) || !fits_blasint(b->stride[2]))
        return rx_fail(RX_ERR_UNSUPPORTED, "cpu matmul: sizes and strides must be below 2^31 for BLAS");
    gemm_arg ga = gemm_arg_of(a), gb = gemm_arg_of(b);
    switch (out->dtype) {
    case RX_F32:
        gemm_f32(batch, n, m, k, (const float *)rx_tensor_bytes(a), ga, (const float *)rx_tensor_bytes(b), gb,
                 (float *)rx_tensor_bytes(out));
        return RX_OK;
    case RX_F64:
        gemm_f64(batch, n, m, k, (const double *)rx_tensor_bytes(a), ga, (const double *)rx_tensor_bytes(b),
                 gb, (double *)rx_tensor_bytes(out));
        return RX_OK;
    case RX_F16:
    case RX_BF16: return matmul_half(out, a, b);
    default:
        return rx_fail(RX_ERR_DTYPE, "cpu matmul: expected a floating-point dtype, got %s",
                       rx_dtype_name(out->dtype));
    }
}
