/* bench_elementwise.c — GB/s of rx_binary add and mul on large contiguous f32 tensors against
 * memcpy in the same process.
 *
 *   bench_elementwise [out.json] [MiB per tensor]     (default out/bench/elementwise.json, 64)
 *
 * Bandwidth counts bytes read + written: memcpy moves 2 S bytes for S copied; c = a op b moves
 * 3 S. Each case has warm-up calls, then the median of `repeats` timed calls. Cases:
 * - memcpy, one thread, into a destination allocated and touched once;
 * - memcpy split over the OpenMP threads (the bandwidth the machine gives to every core);
 * - rx_binary (new output per call: includes allocating and first-touching the output pages,
 *   which is what `c = a + b` costs a caller);
 * - rx_binary_ in place (a = a op b: the kernel alone, no allocation).
 * The results are checked against the inputs so that a fast but wrong kernel cannot pass.
 */
#include "bench.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define REPEATS 11
#define WARMUP 2

typedef struct ew_row {
    const char *name;
    double bytes, seconds, gbps;
} ew_row;

static ew_row row_of(const char *name, double bytes, double *t)
{
    ew_row r = {.name = name, .bytes = bytes};
    r.seconds = bench_median(t, REPEATS);
    r.gbps = bytes / r.seconds * 1e-9;
    return r;
}

static void memcpy_parallel(char *dst, const char *src, size_t size)
{
#pragma omp parallel
    {
#ifdef _OPENMP
        size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
#else
        size_t nt = 1, id = 0;
#endif
        size_t chunk = (size_t)(size + nt - 1) / nt / 64 * 64 + 64;
        size_t lo = id * chunk < size ? id * chunk : size;
        size_t hi = lo + chunk < size ? lo + chunk : size;
        memcpy(dst + lo, src + lo, hi - lo);
    }
}

/* Largest |got - want(i)| over the tensor, want from the pristine inputs (in double). */
static double max_err(const float *got, const float *a, const float *b, int64_t n, int is_add)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double want = is_add ? (double)a[i] + (double)b[i] : (double)a[i] * (double)b[i];
        double d = fabs((double)got[i] - want);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "out/bench/elementwise.json";
    int64_t mib = argc > 2 ? strtoll(argv[2], NULL, 10) : 64;
    if (mib <= 0) {
        fprintf(stderr, "bench_elementwise: MiB per tensor must be positive, got %s\n", argv[2]);
        return 2;
    }
    rx_set_num_threads(0);
    int threads = rx_get_num_threads();
    int64_t n = mib * 1024 * 1024 / (int64_t)sizeof(float);
    size_t size = (size_t)n * sizeof(float);
    double s = (double)size;

    rx_tensor *a, *b, *c;
    bench_ok(rx_empty(1, &n, RX_F32, rx_cpu(), &a), "rx_empty a");
    bench_ok(rx_empty(1, &n, RX_F32, rx_cpu(), &b), "rx_empty b");
    float *pa = rx_tensor_data_ptr(a), *pb = rx_tensor_data_ptr(b);
    bench_fill(pa, n, 1, -1.0f, 1.0f);
    bench_fill(pb, n, 2, 0.999f, 1.001f); /* near 1: repeated in-place mul stays normal */
    char *dst = malloc(size);
    if (!dst) {
        fprintf(stderr, "bench_elementwise: out of memory\n");
        return 1;
    }
    memset(dst, 0, size);

    ew_row rows[6];
    int nrows = 0;
    double t[REPEATS];
    double err_add = 0, err_mul = 0;

    for (int i = -WARMUP; i < REPEATS; i++) {
        double t0 = bench_now();
        memcpy(dst, pa, size);
        if (i >= 0) t[i] = bench_now() - t0;
    }
    rows[nrows++] = row_of("memcpy (1 thread)", 2 * s, t);
    for (int i = -WARMUP; i < REPEATS; i++) {
        double t0 = bench_now();
        memcpy_parallel(dst, (const char *)pa, size);
        if (i >= 0) t[i] = bench_now() - t0;
    }
    rows[nrows++] = row_of("memcpy (all threads)", 2 * s, t);

    static const struct { const char *name; rx_binary_op op; } ops[2] = {{"add", RX_ADD}, {"mul", RX_MUL}};
    static const char *names[2][2] = {{"add c = a + b", "add a += b (in place)"},
                                      {"mul c = a * b", "mul a *= b (in place)"}};
    for (int k = 0; k < 2; k++) {
        rx_tensor *out = NULL;
        for (int i = -WARMUP; i < REPEATS; i++) {
            rx_tensor_release(out);
            double t0 = bench_now();
            bench_ok(rx_binary(ops[k].op, a, b, &out), ops[k].name);
            if (i >= 0) t[i] = bench_now() - t0;
        }
        double err = max_err(rx_tensor_data_ptr(out), pa, pb, n, k == 0);
        rx_tensor_release(out);
        rows[nrows++] = row_of(names[k][0], 3 * s, t);

        bench_ok(rx_clone(a, &c), "rx_clone");
        for (int i = -WARMUP; i < REPEATS; i++) {
            double t0 = bench_now();
            bench_ok(rx_binary_(ops[k].op, c, b), ops[k].name);
            if (i >= 0) t[i] = bench_now() - t0;
        }
        /* one more in-place step on a fresh copy, checked against the inputs */
        memcpy(rx_tensor_data_ptr(c), pa, size);
        bench_ok(rx_binary_(ops[k].op, c, b), ops[k].name);
        double err_inplace = max_err(rx_tensor_data_ptr(c), pa, pb, n, k == 0);
        rx_tensor_release(c);
        rows[nrows++] = row_of(names[k][1], 3 * s, t);
        double worst = err > err_inplace ? err : err_inplace;
        if (k == 0) err_add = worst; else err_mul = worst;
    }

    double ref = rows[0].gbps > rows[1].gbps ? rows[0].gbps : rows[1].gbps;
    printf("elementwise f32, %lld MiB per tensor, %d threads, median of %d (bytes read + written)\n",
           (long long)mib, threads, REPEATS);
    printf("%-24s %12s %10s %10s %14s\n", "case", "MiB moved", "ms", "GB/s", "x best memcpy");
    for (int i = 0; i < nrows; i++)
        printf("%-24s %12.0f %10.3f %10.2f %14.3f\n", rows[i].name, rows[i].bytes / 1048576.0,
               1e3 * rows[i].seconds, rows[i].gbps, rows[i].gbps / ref);
    printf("max |error|: add %.3g, mul %.3g (f32 rounding of one op: expect < 1e-6)\n", err_add, err_mul);

    char date[64];
    FILE *f = bench_open_json(path);
    fprintf(f, "{\n  \"benchmark\": \"elementwise\",\n  \"date\": \"%s\",\n  \"recx_version\": \"%s\",\n",
            bench_utc_date(date, sizeof date), rx_version());
    fprintf(f, "  \"dtype\": \"f32\",\n  \"threads\": %d,\n  \"mib_per_tensor\": %lld,\n  \"repeats\": %d,\n",
            threads, (long long)mib, REPEATS);
    fprintf(f, "  \"max_abs_error\": {\"add\": %.4g, \"mul\": %.4g},\n  \"best_memcpy_gbps\": %.4g,\n",
            isinf(err_add) ? 1e308 : err_add, isinf(err_mul) ? 1e308 : err_mul, ref);
    fprintf(f, "  \"results\": [\n");
    for (int i = 0; i < nrows; i++)
        fprintf(f, "    {\"case\": \"%s\", \"bytes\": %.0f, \"seconds\": %.6g, \"gbps\": %.4g, \"vs_memcpy\": %.4f}%s\n",
                rows[i].name, rows[i].bytes, rows[i].seconds, rows[i].gbps, rows[i].gbps / ref,
                i + 1 < nrows ? "," : "");
    fprintf(f, "  ]\n}\n");
    fclose(f);
    printf("wrote %s\n", path);
    free(dst);
    rx_tensor_release(a);
    rx_tensor_release(b);
    return 0;
}
