/* softmax.c — CPU softmax and log-softmax along rows (see softmax_rows in backend/backend.h).
 *
 * Owns: the numerically stable formulation: each row's max is subtracted before exp, the sum of
 * exps accumulates in double, and softmax scales the exps by 1/sum while log-softmax gives
 * (x - max) - log(sum). f32 and f64 compute in their own precision; f16 and bf16 rows are
 * converted to an f32 scratch row, computed in f32 and rounded back. A NaN anywhere in a row,
 * or a row of -inf only, gives a row of NaN (as torch does).
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <stdlib.h>

/* Defines NAME: y = softmax(x) or log_softmax(x) over n elements of type T, with EXP the exp of
 * T; y may be x. */
#define DEF_SOFTMAX_ROW(NAME, T, EXP)                                                             \
    static void NAME(const T *x, T *y, int64_t n, int log_out)                                    \
    {                                                                                             \
        T mx = -INFINITY;                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                         \
            if (isnan(x[i])) {                                                                    \
                mx = x[i];                                                                        \
                break;                                                                            \
            }                                                                                     \
            if (x[i] > mx) mx = x[i];                                                             \
        }                                                                                         \
        double sum = 0;                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                         \
            T e = EXP(x[i] - mx);                                                                 \
            if (!log_out) y[i] = e;                                                               \
            sum += e;                                                                             \
        }                                                                                         \
        if (log_out) {                                                                            \
            T ls = (T)log(sum);                                                                   \
            for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mx) - ls;                              \
        } else {                                                                                  \
            double inv = 1.0 / sum;                                                               \
            for (int64_t i = 0; i < n; i++) y[i] = (T)(y[i] * inv);                               \
        }                                                                                         \
    }

DEF_SOFTMAX_ROW(softmax_row_f32, float, expf)
DEF_SOFTMAX_ROW(softmax_row_f64, double, exp)

rx_status rx_cpu_softmax_rows(rx_tensor *out, const rx_tensor *a, int log_out)
{
    int64_t m_rows = a->shape[0], n = a->shape[1];
    rx_dtype dt = a->dtype;
    bool half = dt == RX_F16 || dt == RX_BF16;
    const char *base = rx_tensor_bytes(a);
    char *obase = rx_tensor_bytes(out);
    int64_t row_bytes = n * rx_dtype_size(dt);
    int failed = 0;
#pragma omp parallel if (m_rows > 1 && m_rows * n >= RX_PARALLEL_MIN)
    {
        float *scratch = NULL;
        if (half && n > 0 && !(scratch = malloc((size_t)n * sizeof(float)))) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t m = 0; m < m_rows; m++) {
            const char *row = base + m * row_bytes;
            char *orow = obase + m * row_bytes;
            if (dt == RX_F32) {
                softmax_row_f32((const float *)row, (float *)orow, n, log_out);
            } else if (dt == RX_F64) {
                softmax_row_f64((const double *)row, (double *)orow, n, log_out);
            } else if (scratch) {
                const uint16_t *x = (const uint16_t *)row;
                uint16_t *y = (uint16_t *)orow;
                for (int64_t i = 0; i < n; i++)
                    scratch[i] = dt == RX_F16 ? rx_f16_to_f32(x[i]) : rx_bf16_to_f32(x[i]);
                softmax_row_f32(scratch, scratch, n, log_out);
                for (int64_t i = 0; i < n; i++)
                    y[i] = dt == RX_F16 ? rx_f32_to_f16(scratch[i]) : rx_f32_to_bf16(scratch[i]);
            }
        }
        free(scratch);
    }
    if (failed)
        return rx_fail(RX_ERR_NOMEM, "cpu softmax: out of host memory for a row of %lld floats",
                       (long long)n);
    return RX_OK;
}
