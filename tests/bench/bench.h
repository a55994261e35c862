/* bench.h — helpers shared by the benchmarks in tests/bench (header only: each bench_*.c is one
 * executable).
 *
 * Owns: the clock, the median of repeated timings, deterministic buffer filling, and opening
 * the JSON output file (creating its folder), so that every benchmark reports the same way; and,
 * for the GPU benchmarks (bench_gpu_*.c, which define BENCH_GPU before including this header),
 * their start (output path, device, recx's stream), CUDA-event timing, the device-to-device
 * copy that serves as their bandwidth reference, and the common head of their report.
 */
#ifndef RECX_BENCH_H
#define RECX_BENCH_H

#include "recx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n timings (sorts them in place). */
static double bench_median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Fills n floats with a deterministic pattern in [lo, hi) (a 64-bit LCG; no recx code). */
static void bench_fill(float *p, int64_t n, uint64_t seed, float lo, float hi)
{
    uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = lo + (hi - lo) * (float)((x >> 40) * (1.0 / 16777216.0));
    }
}

/* Exits with the recx message when a call failed (benchmarks have nothing to clean up). */
static void bench_ok(rx_status s, const char *what)
{
    if (s != RX_OK) {
        fprintf(stderr, "bench: %s failed: %s: %s\n", what, rx_status_name(s), rx_last_error());
        exit(1);
    }
}

/* Opens `path` for writing after creating its parent folders; exits with a message on failure. */
static FILE *bench_open_json(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "bench: cannot create folder %s: %s\n", dir, strerror(errno));
            exit(1);
        }
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return f;
}

static const char *bench_utc_date(char *buf, size_t size)
{
    time_t now = time(NULL);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    return buf;
}

#ifdef BENCH_GPU

#include "cuda/cuda_kernels.h"

#include <cuda_runtime_api.h>
#include <stdbool.h>

#define BENCH_GPU_WARMUP 3

static cudaStream_t bench_stream; /* recx's stream on device 0 (bench_gpu_start) */

/* Exits with CUDA's message when a runtime call failed. */
static void cuda_ok(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "bench: %s failed: %s\n", what, cudaGetErrorString(e));
        exit(1);
    }
}

/* Median seconds of `repeats` timed calls of fn(ctx) after BENCH_GPU_WARMUP untimed ones (CUDA
 * events on recx's stream). */
static double time_calls(void (*fn)(void *ctx), void *ctx, int repeats)
{
    cudaEvent_t e0, e1;
    cuda_ok(cudaEventCreate(&e0), "cudaEventCreate");
    cuda_ok(cudaEventCreate(&e1), "cudaEventCreate");
    double *t = malloc(sizeof(double) * (size_t)repeats);
    for (int i = -BENCH_GPU_WARMUP; i < repeats; i++) {
        cuda_ok(cudaEventRecord(e0, bench_stream), "cudaEventRecord");
        fn(ctx);
        cuda_ok(cudaEventRecord(e1, bench_stream), "cudaEventRecord");
        cuda_ok(cudaEventSynchronize(e1), "cudaEventSynchronize");
        float ms = 0;
        cuda_ok(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
        if (i >= 0) t[i] = ms * 1e-3;
    }
    double m = bench_median(t, repeats);
    free(t);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return m;
}

/* Starts GPU benchmark bench_<name>: path (size bytes) receives the JSON path, argv[1] or else
 * <name>.json in $OUT when OUT is set, else in out/bench; then, when there is a CUDA device,
 * sets bench_stream and *prop (device 0) and returns true, else says it skips and returns false. */
static bool bench_gpu_start(const char *name, int argc, char **argv, char *path, size_t size,
                            struct cudaDeviceProp *prop)
{
    const char *out = getenv("OUT");
    if (argc > 1)
        snprintf(path, size, "%s", argv[1]);
    else
        snprintf(path, size, "%s/%s.json", out && *out ? out : "out/bench", name);
    if (!rx_cuda_available()) {
        printf("bench_%s: skipped: no CUDA device\n", name);
        return false;
    }
    bench_stream = (cudaStream_t)rx_cuda_stream(0);
    if (!bench_stream) bench_ok(RX_ERR_DEVICE, "rx_cuda_stream");
    cuda_ok(cudaGetDeviceProperties(prop, 0), "cudaGetDeviceProperties");
    return true;
}

typedef struct bench_copy_ctx {
    void *dst;
    const void *src;
    size_t bytes;
} bench_copy_ctx;

static void bench_copy_call(void *p)
{
    bench_copy_ctx *c = p;
    cuda_ok(cudaMemcpyAsync(c->dst, c->src, c->bytes, cudaMemcpyDeviceToDevice, bench_stream),
            "cudaMemcpyAsync");
}

/* Median seconds of `repeats` cudaMemcpyAsync device-to-device copies of `bytes` (time_calls),
 * between buffers allocated here. */
static double bench_memcpy_seconds(size_t bytes, int repeats)
{
    void *src, *dst;
    cuda_ok(cudaMalloc(&src, bytes), "cudaMalloc");
    cuda_ok(cudaMalloc(&dst, bytes), "cudaMalloc");
    cuda_ok(cudaMemsetAsync(src, 1, bytes, bench_stream), "cudaMemset");
    bench_copy_ctx cc = {dst, src, bytes};
    double s = time_calls(bench_copy_call, &cc, repeats);
    cudaFree(src);
    cudaFree(dst);
    return s;
}

/* The title line of the printed report of bench_<name>. */
static void bench_gpu_banner(const char *name, const struct cudaDeviceProp *prop)
{
    printf("== bench_%s on %s (%d SMs, %.0f GiB), recx %s\n", name, prop->name, prop->multiProcessorCount,
           (double)prop->totalGlobalMem / (1 << 30), rx_version());
}

/* Opens the JSON report of benchmark <name> and writes its first fields (benchmark, date,
 * recx_version, device, memcpy_gbps); the caller writes the rest and closes it. */
static FILE *bench_gpu_json(const char *path, const char *name, const struct cudaDeviceProp *prop,
                            double memcpy_gbps)
{
    FILE *f = bench_open_json(path);
    char date[64];
    fprintf(f, "{\n  \"benchmark\": \"%s\",\n  \"date\": \"%s\",\n  \"recx_version\": \"%s\",\n", name,
            bench_utc_date(date, sizeof date), rx_version());
    fprintf(f, "  \"device\": \"%s\",\n  \"memcpy_gbps\": %.1f,\n", prop->name, memcpy_gbps);
    return f;
}

/* Closes the list the report ends with and the report itself, and says where it went. */
static void bench_gpu_json_end(FILE *f, const char *path)
{
    fprintf(f, "  ]\n}\n");
    fclose(f);
    printf("wrote %s\n", path);
}

#endif /* BENCH_GPU */

#endif /* RECX_BENCH_H */
