/* nn_common.c — helpers shared by the CPU nn kernels (nn_*.c).
 *
 * Owns: exp at the precision of a dtype (expf is several times faster than exp, and f32 is the
 * working precision of every non-f64 dtype), row conversion between float dtypes and double
 * buffers, per-thread double scratch for OpenMP regions (one allocation before the region, so a
 * failure is reported once and nothing leaks inside it), and the fixed-order column sums that
 * make weight gradients independent of the thread count.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

double rx_nn_exp(double x, rx_dtype dt) { return dt == RX_F64 ? exp(x) : (double)expf((float)x); }

void rx_nn_load(const void *p, rx_dtype dt, int64_t n, double *dst)
{
    switch (dt) {
    case RX_F32:
        for (int64_t i = 0; i < n; i++) dst[i] = ((const float *)p)[i];
        break;
    case RX_F64: memcpy(dst, p, sizeof(double) * (size_t)n); break;
    case RX_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = rx_f16_to_f32(((const uint16_t *)p)[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) dst[i] = rx_bf16_to_f32(((const uint16_t *)p)[i]);
        break;
    }
}

void rx_nn_store(void *p, rx_dtype dt, int64_t n, const double *src)
{
    switch (dt) {
    case RX_F32:
        for (int64_t i = 0; i < n; i++) ((float *)p)[i] = (float)src[i];
        break;
    case RX_F64: memcpy(p, src, sizeof(double) * (size_t)n); break;
    case RX_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)p)[i] = rx_f32_to_f16((float)src[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)p)[i] = rx_f32_to_bf16((float)src[i]);
        break;
    }
}

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

double *rx_nn_scratch_new(const char *op, int64_t per_thread)
{
    int64_t n = (int64_t)max_threads() * (per_thread > 0 ? per_thread : 1);
    double *p = malloc(sizeof(double) * (size_t)n);
    if (!p) rx_fail(RX_ERR_NOMEM, "cpu %s: out of host memory for %lld scratch values", op, (long long)n);
    return p;
}

double *rx_nn_thread_scratch(double *scratch, int64_t per_thread)
{
#ifdef _OPENMP
    return scratch + (int64_t)omp_get_thread_num() * (per_thread > 0 ? per_thread : 1);
#else
    return scratch;
#endif
}

void rx_nn_sum_chunks(const double *partials, int64_t nchunks, int64_t n, void *out, rx_dtype dt)
{
#pragma omp parallel for schedule(static) if (n * nchunks >= RX_PARALLEL_MIN)
    for (int64_t j = 0; j < n; j++) {
        double acc = 0.0;
        for (int64_t c = 0; c < nchunks; c++) acc += partials[c * n + j];
        rx_nn_st(out, j, dt, acc);
    }
}
