/* bench.h — helpers shared by the benchmarks in tests/bench (header only: each bench_*.c is one
 * executable).
 *
 * Owns: the clock, the median of repeated timings, deterministic buffer filling, and opening
 * the JSON output file (creating its folder), so that every benchmark reports the same way.
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

#endif /* RECX_BENCH_H */
