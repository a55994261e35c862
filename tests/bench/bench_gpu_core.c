/* bench_gpu_core.c — throughput of the CUDA backend's core paths: GEMM through rx_matmul and an
 * elementwise add, against the device's own copy bandwidth measured in the same run.
 *
 *   bench_gpu_core [out.json]     (default $OUT/gpu_core.json when OUT is set, else
 *                                  out/bench/gpu_core.json)
 *
 * GEMM: random N(0, 1) operands made on the GPU; TFLOP/s = 2 n k m / median time. Shapes: 4096^3
 * in bf16 and f32 (f32 with TF32 off, as recx computes it), and the SmolLM2-135M shapes at
 * B*T = 8192 rows: x (8192, 576) @ (576, 1536) (the MLP width) and @ (576, 49152) (the LM head),
 * each in bf16 and f32, and in bf16 also as x @ W^T with W (out, in) stored row-major (the layout
 * of rx_linear's weights). Each call includes allocating its output from recx's cache (what a
 * caller pays). A sample of 64 output entries is checked against a double-precision dot product
 * on the host, so that a fast but wrong product cannot pass unnoticed (max relative error
 * printed).
 *
 * Bandwidth: c = a + b through rx_binary (f32 and bf16, 256 MiB per f32 operand, several times
 * the 60 MB L2) counts 3 S bytes per call; cudaMemcpyAsync device to device of the same S counts
 * 2 S (read + write); vs_memcpy = add GB/s / memcpy GB/s.
 *
 * Timing: CUDA events recorded on recx's stream around each call, after 3 warm-up calls; the
 * median of `repeats` calls. JSON fields: benchmark "gpu_core", date, recx_version, device,
 * gemm[] {name, dtype, n, k, m, layout, repeats, seconds, tflops, max_rel_err}, bandwidth[]
 * {kind ("memcpy" or "add"), name, dtype, bytes, repeats, seconds, gbps, vs_memcpy}, memcpy_gbps.
 * tests/bench/bench_gpu_core_torch.py writes the same fields for PyTorch (tests/gpu/run.sh puts
 * the two side by side, matching GEMM rows by name, dtype and layout and bandwidth rows by kind
 * and dtype).
 */
#ifdef RECX_WITH_CUDA
/* bench.h is a set of static helpers shared by all benchmarks; this one uses only some */
#define BENCH_GPU
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "bench.h"
#pragma GCC diagnostic pop

#include <math.h>

/* ---- GEMM ------------------------------------------------------------------------------------ */

typedef struct gemm_ctx {
    rx_tensor *a, *b, *out;
} gemm_ctx;

static void gemm_call(void *p)
{
    gemm_ctx *g = p;
    rx_tensor_release(g->out);
    g->out = NULL;
    bench_ok(rx_matmul(g->a, g->b, &g->out), "matmul");
}

typedef struct gemm_row {
    const char *name, *layout;
    rx_dtype dtype;
    int64_t n, k, m;
    int repeats;
    double seconds, tflops, max_rel_err;
} gemm_row;

/* A (rows, cols) slice of t starting at (r0, c0), in f64 on the host. */
static rx_tensor *host_slice(rx_tensor *t, int64_t r0, int64_t nr, int64_t c0, int64_t nc)
{
    rx_tensor *a = NULL, *b = NULL, *h = NULL, *f = NULL;
    bench_ok(rx_narrow(t, 0, r0, nr, &a), "narrow");
    bench_ok(rx_narrow(a, 1, c0, nc, &b), "narrow");
    bench_ok(rx_to_device(b, rx_cpu(), &h), "copy to host");
    bench_ok(rx_to_dtype(h, RX_F64, &f), "to f64");
    rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(h);
    return f;
}

/* Largest |out - ref| / sum |a_i b_i| over 8 x 8 sampled entries (ref in double on the host). */
static double sample_error(rx_tensor *a, rx_tensor *b, rx_tensor *out)
{
    int64_t n = rx_tensor_size(a, 0), k = rx_tensor_size(a, 1), m = rx_tensor_size(b, 1);
    rx_tensor *cols[8];
    int64_t cj[8];
    for (int c = 0; c < 8; c++) {
        cj[c] = (int64_t)((uint64_t)(c * 2654435761u + 17) % (uint64_t)m);
        cols[c] = host_slice(b, 0, k, cj[c], 1);
    }
    double worst = 0;
    for (int r = 0; r < 8; r++) {
        int64_t i = (int64_t)((uint64_t)(r * 40503u + 5) % (uint64_t)n);
        rx_tensor *arow = host_slice(a, i, 1, 0, k), *orow = host_slice(out, i, 1, 0, m);
        const double *av = rx_tensor_data_ptr(arow), *ov = rx_tensor_data_ptr(orow);
        for (int c = 0; c < 8; c++) {
            const double *bv = rx_tensor_data_ptr(cols[c]);
            double ref = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                ref += av[p] * bv[p];
                mag += fabs(av[p] * bv[p]);
            }
            double e = fabs(ov[cj[c]] - ref) / (mag > 0 ? mag : 1);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
        rx_tensor_release(arow), rx_tensor_release(orow);
    }
    for (int c = 0; c < 8; c++) rx_tensor_release(cols[c]);
    return worst;
}

static gemm_row bench_gemm(const char *name, rx_dtype dt, int64_t n, int64_t k, int64_t m, int transposed_b,
                           rx_generator *gen)
{
    gemm_row r = {.name = name, .dtype = dt, .n = n, .k = k, .m = m, .layout = transposed_b ? "x @ W^T" : "x @ W"};
    rx_device gpu = {RX_CUDA, 0};
    gemm_ctx g = {0};
    bench_ok(rx_randn(2, (int64_t[]){n, k}, dt, gpu, gen, &g.a), "randn a");
    if (transposed_b) {
        rx_tensor *w = NULL;
        bench_ok(rx_randn(2, (int64_t[]){m, k}, dt, gpu, gen, &w), "randn W");
        bench_ok(rx_transpose(w, 0, 1, &g.b), "transpose W");
        rx_tensor_release(w);
    } else {
        bench_ok(rx_randn(2, (int64_t[]){k, m}, dt, gpu, gen, &g.b), "randn b");
    }
    double flops = 2.0 * (double)n * (double)k * (double)m;
    r.repeats = flops > 1e12 ? 10 : 20;
    r.seconds = time_calls(gemm_call, &g, r.repeats);
    r.tflops = flops / r.seconds * 1e-12;
    r.max_rel_err = sample_error(g.a, g.b, g.out);
    rx_tensor_release(g.a), rx_tensor_release(g.b), rx_tensor_release(g.out);
    rx_mem_empty_cache(RX_CUDA);
    return r;
}

/* ---- bandwidth ------------------------------------------------------------------------------- */

typedef struct add_ctx {
    rx_tensor *a, *b, *out;
} add_ctx;

static void add_call(void *p)
{
    add_ctx *c = p;
    rx_tensor_release(c->out);
    c->out = NULL;
    bench_ok(rx_binary(RX_ADD, c->a, c->b, &c->out), "add");
}

typedef struct bw_row {
    const char *kind, *name;
    const char *dtype;
    double bytes;
    int repeats;
    double seconds, gbps, vs_memcpy;
} bw_row;

int main(int argc, char **argv)
{
    char path[4096];
    struct cudaDeviceProp prop;
    if (!bench_gpu_start("gpu_core", argc, argv, path, sizeof path, &prop)) return 0;
    rx_generator *gen = rx_generator_new(42);

    gemm_row gemm[10];
    int ng = 0;
    gemm[ng++] = bench_gemm("4096^3", RX_BF16, 4096, 4096, 4096, 0, gen);
    gemm[ng++] = bench_gemm("4096^3", RX_F32, 4096, 4096, 4096, 0, gen);
    gemm[ng++] = bench_gemm("SmolLM2 MLP up (8192x576 @ 576x1536)", RX_BF16, 8192, 576, 1536, 0, gen);
    gemm[ng++] = bench_gemm("SmolLM2 MLP up (8192x576 @ 576x1536)", RX_BF16, 8192, 576, 1536, 1, gen);
    gemm[ng++] = bench_gemm("SmolLM2 MLP up (8192x576 @ 576x1536)", RX_F32, 8192, 576, 1536, 0, gen);
    gemm[ng++] = bench_gemm("SmolLM2 LM head (8192x576 @ 576x49152)", RX_BF16, 8192, 576, 49152, 0, gen);
    gemm[ng++] = bench_gemm("SmolLM2 LM head (8192x576 @ 576x49152)", RX_BF16, 8192, 576, 49152, 1, gen);
    gemm[ng++] = bench_gemm("SmolLM2 LM head (8192x576 @ 576x49152)", RX_F32, 8192, 576, 49152, 0, gen);

    /* bandwidth: memcpy first (the reference), then add in f32 and bf16 */
    bw_row bw[3];
    int64_t S = 256ll << 20; /* bytes per f32 operand */
    bw[0] = (bw_row){.kind = "memcpy", .name = "cudaMemcpyAsync device to device", .dtype = "bytes",
                     .bytes = 2.0 * (double)S, .repeats = 20};
    bw[0].seconds = bench_memcpy_seconds((size_t)S, bw[0].repeats);
    bw[0].gbps = bw[0].bytes / bw[0].seconds * 1e-9;
    bw[0].vs_memcpy = 1.0;
    for (int i = 0; i < 2; i++) {
        rx_dtype dt = i ? RX_BF16 : RX_F32;
        int64_t n = S / 4; /* the same element count: bf16 moves half the bytes */
        add_ctx ac = {0};
        bench_ok(rx_randn(1, &n, dt, (rx_device){RX_CUDA, 0}, gen, &ac.a), "randn a");
        bench_ok(rx_randn(1, &n, dt, (rx_device){RX_CUDA, 0}, gen, &ac.b), "randn b");
        bw_row *r = &bw[1 + i];
        *r = (bw_row){.kind = "add", .name = "add c = a + b (rx_binary)", .dtype = rx_dtype_name(dt), .repeats = 20};
        r->bytes = 3.0 * (double)n * (double)rx_dtype_size(dt);
        r->seconds = time_calls(add_call, &ac, r->repeats);
        r->gbps = r->bytes / r->seconds * 1e-9;
        r->vs_memcpy = r->gbps / bw[0].gbps;
        rx_tensor_release(ac.a), rx_tensor_release(ac.b), rx_tensor_release(ac.out);
    }

    bench_gpu_banner("gpu_core", &prop);
    printf("%-42s %-5s %-8s %8s %10s %9s %12s\n", "GEMM (rx_matmul)", "dtype", "layout", "repeats", "ms", "TFLOP/s",
           "max rel err");
    for (int i = 0; i < ng; i++)
        printf("%-42s %-5s %-8s %8d %10.3f %9.1f %12.2e\n", gemm[i].name, rx_dtype_name(gemm[i].dtype), gemm[i].layout,
               gemm[i].repeats, gemm[i].seconds * 1e3, gemm[i].tflops, gemm[i].max_rel_err);
    printf("%-42s %-5s %8s %10s %9s %12s\n", "bandwidth", "dtype", "repeats", "ms", "GB/s", "vs memcpy");
    for (int i = 0; i < 3; i++)
        printf("%-42s %-5s %8d %10.3f %9.0f %12.2f\n", bw[i].name, bw[i].dtype, bw[i].repeats, bw[i].seconds * 1e3,
               bw[i].gbps, bw[i].vs_memcpy);

    FILE *f = bench_gpu_json(path, "gpu_core", &prop, bw[0].gbps);
    fprintf(f, "  \"gemm\": [\n");
    for (int i = 0; i < ng; i++)
        fprintf(f,
                "    {\"name\": \"%s\", \"dtype\": \"%s\", \"n\": %lld, \"k\": %lld, \"m\": %lld, \"layout\": \"%s\", "
                "\"repeats\": %d, \"seconds\": %.6e, \"tflops\": %.2f, \"max_rel_err\": %.3e}%s\n",
                gemm[i].name, rx_dtype_name(gemm[i].dtype), (long long)gemm[i].n, (long long)gemm[i].k,
                (long long)gemm[i].m, gemm[i].layout, gemm[i].repeats, gemm[i].seconds, gemm[i].tflops,
                gemm[i].max_rel_err, i + 1 < ng ? "," : "");
    fprintf(f, "  ],\n  \"bandwidth\": [\n");
    for (int i = 0; i < 3; i++)
        fprintf(f,
                "    {\"kind\": \"%s\", \"name\": \"%s\", \"dtype\": \"%s\", \"bytes\": %.0f, \"repeats\": %d, "
                "\"seconds\": %.6e, \"gbps\": %.1f, \"vs_memcpy\": %.3f}%s\n",
                bw[i].kind, bw[i].name, bw[i].dtype, bw[i].bytes, bw[i].repeats, bw[i].seconds, bw[i].gbps, bw[i].vs_memcpy,
                i + 1 < 3 ? "," : "");
    bench_gpu_json_end(f, path);
    rx_generator_free(gen);
    return 0;
}

#else

#include <stdio.h>

int main(void)
{
    printf("bench_gpu_core: skipped: recx was built without CUDA (configure with -DRECX_CUDA=ON)\n");
    return 0;
}

#endif
