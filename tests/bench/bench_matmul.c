/* bench_matmul.c — GFLOP/s of rx_matmul against cblas_sgemm called directly on the same buffers.
 *
 *   bench_matmul [out.json] [n ...]      (default out/bench/matmul.json, n = 1024 4096)
 *
 * For each n: A, B (n, n) f32 filled with a fixed pattern; one warm-up call of each, then
 * `repeats` calls of each, alternated so that both see the same machine state; the median time
 * gives GFLOP/s = 2 n^3 / t. rx_matmul's time includes allocating its (n, n) output (what a
 * caller pays); sgemm writes into a buffer allocated once. Both run with the same number of
 * threads (rx_set_num_threads sets OpenMP's and OpenBLAS's). The two results are compared
 * element-wise so that a fast but wrong matmul cannot pass.
 */
#include "bench.h"

#include <cblas.h>
#include <math.h>

typedef struct matmul_row {
    int64_t n;
    int repeats;
    double recx_s, blas_s, recx_gflops, blas_gflops, max_abs_diff;
} matmul_row;

static matmul_row bench_size(int64_t n)
{
    matmul_row r = {.n = n, .repeats = n <= 1024 ? 21 : 5};
    int64_t shape[2] = {n, n};
    rx_tensor *a, *b, *c;
    bench_ok(rx_empty(2, shape, RX_F32, rx_cpu(), &a), "rx_empty A");
    bench_ok(rx_empty(2, shape, RX_F32, rx_cpu(), &b), "rx_empty B");
    bench_ok(rx_empty(2, shape, RX_F32, rx_cpu(), &c), "rx_empty C");
    float *pa = rx_tensor_data_ptr(a), *pb = rx_tensor_data_ptr(b), *pc = rx_tensor_data_ptr(c);
    bench_fill(pa, n * n, 1, -1.0f, 1.0f);
    bench_fill(pb, n * n, 2, -1.0f, 1.0f);
    memset(pc, 0, (size_t)(n * n) * sizeof(float));

    double *tr = malloc(sizeof(double) * (size_t)r.repeats), *tb = malloc(sizeof(double) * (size_t)r.repeats);
    rx_tensor *out = NULL;
    for (int i = -1; i < r.repeats; i++) { /* i = -1: warm-up */
        rx_tensor_release(out);
        double t0 = bench_now();
        bench_ok(rx_matmul(a, b, &out), "rx_matmul");
        double t1 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, pa, (int)n, pb,
                    (int)n, 0.0f, pc, (int)n);
        double t2 = bench_now();
        if (i >= 0) {
            tr[i] = t1 - t0;
            tb[i] = t2 - t1;
        }
    }
    const float *po = rx_tensor_data_ptr(out);
    for (int64_t i = 0; i < n * n; i++) {
        double d = fabs((double)po[i] - (double)pc[i]);
        if (!(d <= r.max_abs_diff)) r.max_abs_diff = isnan(d) ? INFINITY : d;
    }
    r.recx_s = bench_median(tr, r.repeats);
    r.blas_s = bench_median(tb, r.repeats);
    double flops = 2.0 * (double)n * (double)n * (double)n;
    r.recx_gflops = flops / r.recx_s * 1e-9;
    r.blas_gflops = flops / r.blas_s * 1e-9;
    free(tr);
    free(tb);
    rx_tensor_release(out);
    rx_tensor_release(a);
    rx_tensor_release(b);
    rx_tensor_release(c);
    return r;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "out/bench/matmul.json";
    int64_t sizes[16] = {1024, 4096};
    int nsizes = 2;
    if (argc > 2) {
        nsizes = 0;
        for (int i = 2; i < argc && nsizes < 16; i++) sizes[nsizes++] = strtoll(argv[i], NULL, 10);
    }
    rx_set_num_threads(0);
    int threads = rx_get_num_threads();

    matmul_row rows[16];
    printf("matmul f32, %d threads (recx) / %d threads (OpenBLAS), median of repeats\n", threads,
           openblas_get_num_threads());
    printf("%6s %8s %12s %12s %14s %14s %8s %12s\n", "n", "repeats", "recx ms", "sgemm ms", "recx GFLOP/s",
           "sgemm GFLOP/s", "ratio", "max|diff|");
    for (int i = 0; i < nsizes; i++) {
        rows[i] = bench_size(sizes[i]);
        matmul_row *r = &rows[i];
        printf("%6lld %8d %12.3f %12.3f %14.1f %14.1f %8.3f %12.3g\n", (long long)r->n, r->repeats,
               1e3 * r->recx_s, 1e3 * r->blas_s, r->recx_gflops, r->blas_gflops, r->recx_gflops / r->blas_gflops,
               r->max_abs_diff);
        fflush(stdout);
    }

    char date[64];
    FILE *f = bench_open_json(path);
    fprintf(f, "{\n  \"benchmark\": \"matmul\",\n  \"date\": \"%s\",\n  \"recx_version\": \"%s\",\n",
            bench_utc_date(date, sizeof date), rx_version());
    fprintf(f, "  \"dtype\": \"f32\",\n  \"threads\": %d,\n  \"results\": [\n", threads);
    for (int i = 0; i < nsizes; i++) {
        matmul_row *r = &rows[i];
        fprintf(f,
                "    {\"n\": %lld, \"repeats\": %d, \"recx_seconds\": %.6g, \"sgemm_seconds\": %.6g, "
                "\"recx_gflops\": %.4g, \"sgemm_gflops\": %.4g, \"ratio\": %.4f, \"max_abs_diff\": %.4g}%s\n",
                (long long)r->n, r->repeats, r->recx_s, r->blas_s, r->recx_gflops, r->blas_gflops,
                r->recx_gflops / r->blas_gflops, isinf(r->max_abs_diff) ? 1e308 : r->max_abs_diff,
                i + 1 < nsizes ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    printf("wrote %s\n", path);
    return 0;
}
