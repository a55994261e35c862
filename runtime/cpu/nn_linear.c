/* nn_linear.c — CPU kernels of linear layers and embeddings: column sums (the bias gradient),
 * the embedding gather and its deterministic weight-gradient accumulation.
 *
 * Owns: the column sum (partial sums per row chunk, added chunk by chunk: see rx_nn_sum_chunks),
 * and the embedding backward, which sorts the row indices by id (a stable counting sort) so that
 * every weight row is the sum of its gradient rows in increasing order, computed by one thread,
 * without atomics.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <stdlib.h>
#include <string.h>

rx_status rx_cpu_col_sum(rx_tensor *out, const rx_tensor *a)
{
    int64_t m = a->shape[0], n = a->shape[1], rs = a->stride[0], cs = a->stride[1];
    rx_dtype dt = a->dtype;
    int64_t es = rx_dtype_size(dt);
    const char *base = rx_tensor_bytes(a);
    int64_t chunk = rx_nn_chunk_rows(m), nchunks = m ? (m + chunk - 1) / chunk : 1;
    double *partials = calloc((size_t)(nchunks * n + 1), sizeof(double));
    double *scratch = partials ? rx_nn_scratch_new("col_sum", n) : NULL;
    if (!scratch) {
        free(partials);
        return rx_fail(RX_ERR_NOMEM, "cpu col_sum: out of host memory for %lld partial sums",
                       (long long)(nchunks * n));
    }
    bool dense = n <= 1 || cs == 1;
#pragma omp parallel if (nchunks > 1 && m * n >= RX_PARALLEL_MIN)
    {
        double *row = rx_nn_thread_scratch(scratch, n);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < nchunks; c++) {
            double *acc = partials + c * n;
            int64_t end = (c + 1) * chunk < m ? (c + 1) * chunk : m;
            for (int64_t i = c * chunk; i < end; i++) {
                if (dense && dt == RX_F32) { /* the same sums without the double row */
                    const float *x = (const float *)base + i * rs;
                    for (int64_t j = 0; j < n; j++) acc[j] += (double)x[j];
                } else if (dense) {
                    rx_nn_load(base + i * rs * es, dt, n, row);
                    for (int64_t j = 0; j < n; j++) acc[j] += row[j];
                } else {
                    for (int64_t j = 0; j < n; j++) acc[j] += rx_nn_ld(base, i * rs + j * cs, dt);
                }
            }
        }
    }
    rx_nn_sum_chunks(partials, nchunks, n, rx_tensor_bytes(out), out->dtype);
    free(partials);
    free(scratch);
    return RX_OK;
}

static int64_t id_at(const void *ids, bool i64, int64_t n)
{
    return i64 ? ((const int64_t *)ids)[n] : ((const int32_t *)ids)[n];
}

rx_status rx_cpu_embedding(rx_tensor *out, const rx_tensor *weight, const rx_tensor *ids)
{
    int64_t n = ids->shape[0], c = weight->shape[1], es = rx_dtype_size(weight->dtype);
    int64_t row_bytes = c * es, wstride = weight->stride[0] * es;
    const char *w = rx_tensor_bytes(weight);
    const void *idp = rx_tensor_bytes(ids);
    bool i64 = ids->dtype == RX_I64;
    char *dst = rx_tensor_bytes(out);
#pragma omp parallel for schedule(static) if (n * c >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * row_bytes, w + id_at(idp, i64, i) * wstride, (size_t)row_bytes);
    return RX_OK;
}

rx_status rx_cpu_embedding_bwd(rx_tensor *dweight, const rx_tensor *g, const rx_tensor *ids,
                               int64_t padding_idx)
{
    int64_t v = dweight->shape[0], c = dweight->shape[1], n = ids->shape[0];
    rx_dtype dt = dweight->dtype;
    const void *idp = rx_tensor_bytes(ids);
    bool i64 = ids->dtype == RX_I64;
    const char *gp = rx_tensor_bytes(g);
    char *dst = rx_tensor_bytes(dweight);
    int64_t es = rx_dtype_size(dt);
    /* start[id] .. start[id + 1]: the positions in `order` of the rows with that id, increasing */
    int64_t *start = calloc((size_t)(v + 1), sizeof *start);
    int64_t *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    if (!start || !order) {
        free(start);
        free(order);
        return rx_fail(RX_ERR_NOMEM, "cpu embedding backward: out of host memory for %lld ids", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) start[id_at(idp, i64, i) + 1]++;
    for (int64_t r = 0; r < v; r++) start[r + 1] += start[r];
    int64_t *fill = malloc(sizeof *fill * (size_t)(v ? v : 1));
    if (!fill) {
        free(start);
        free(order);
        return rx_fail(RX_ERR_NOMEM, "cpu embedding backward: out of host memory for %lld rows",
                       (long long)v);
    }
    memcpy(fill, start, sizeof *fill * (size_t)v);
    for (int64_t i = 0; i < n; i++) order[fill[id_at(idp, i64, i)]++] = i;
    free(fill);
    double *scratch = rx_nn_scratch_new("embedding backward", 2 * c);
    if (!scratch) {
        free(start);
        free(order);
        return RX_ERR_NOMEM;
    }
#pragma omp parallel if (v * c >= RX_PARALLEL_MIN || n * c >= RX_PARALLEL_MIN)
    {
        double *acc = rx_nn_thread_scratch(scratch, 2 * c), *row = acc + c;
#pragma omp for schedule(dynamic, 64)
        for (int64_t r = 0; r < v; r++) {
            char *dst_row = dst + r * c * es;
            if (r == padding_idx || start[r] == start[r + 1]) {
                memset(dst_row, 0, (size_t)(c * es));
                continue;
            }
            for (int64_t j = 0; j < c; j++) acc[j] = 0.0;
            for (int64_t p = start[r]; p < start[r + 1]; p++) {
                rx_nn_load(gp + order[p] * c * es, dt, c, row);
                for (int64_t j = 0; j < c; j++) acc[j] += row[j];
            }
            rx_nn_store(dst_row, dt, c, acc);
        }
    }
    free(scratch);
    free(start);
    free(order);
    return RX_OK;
}
