/* check.c — see check.h. */
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int check_failures_in_test;
static int passed, failed;
static const char *current;

void check_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  FAIL %s (%s:%d): ", current ? current : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    check_failures_in_test++;
}

void check_run(const char *name, void (*fn)(void))
{
    current = name;
    check_failures_in_test = 0;
    rx_clear_error();
    fn();
    if (check_failures_in_test) {
        failed++;
        printf("not ok  %s\n", name);
    } else {
        passed++;
        printf("ok      %s\n", name);
    }
    fflush(stdout);
    current = NULL;
}

int check_finish(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

void check_err_(const char *file, int line, const char *expr, rx_status got, rx_status want, const char *needle)
{
    if (got != want) {
        check_fail(file, line, "%s -> %s (%s), expected %s", expr, rx_status_name(got), rx_last_error(),
                   rx_status_name(want));
        return;
    }
    if (needle && !strstr(rx_last_error(), needle))
        check_fail(file, line, "%s: message \"%s\" does not contain \"%s\"", expr, rx_last_error(), needle);
}

rx_tensor *t_from(int ndim, const int64_t *shape, rx_dtype dtype, const double *values)
{
    rx_tensor *t = NULL;
    if (rx_from_doubles(ndim, shape, dtype, values, &t) != RX_OK) {
        fprintf(stderr, "t_from: %s\n", rx_last_error());
        exit(2);
    }
    return t;
}

rx_tensor *t_randn(int ndim, const int64_t *shape, rx_dtype dtype, uint64_t seed)
{
    rx_generator *g = rx_generator_new(seed);
    rx_tensor *t = NULL;
    if (rx_randn(ndim, shape, dtype, rx_cpu(), g, &t) != RX_OK) {
        fprintf(stderr, "t_randn: %s\n", rx_last_error());
        exit(2);
    }
    rx_generator_free(g);
    return t;
}

double *t_values(const rx_tensor *t)
{
    int64_t n = rx_tensor_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (rx_tensor_to_doubles(t, v, n) != RX_OK) {
        fprintf(stderr, "t_values: %s\n", rx_last_error());
        exit(2);
    }
    return v;
}

rx_tensor *t_gen(int ndim, const int64_t *shape, rx_dtype dtype, t_value_fn f, int64_t arg, double **vals)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = f(dtype, arg, i);
    rx_tensor *t = t_from(ndim, shape, dtype, v);
    if (vals)
        *vals = v;
    else
        free(v);
    return t;
}

rx_tensor *t_zeros(int ndim, const int64_t *shape, rx_dtype dtype)
{
    rx_tensor *t = NULL;
    CHECK_OK(rx_zeros(ndim, shape, dtype, rx_cpu(), &t));
    return t;
}

rx_tensor *t_cast(rx_tensor *t, rx_dtype dtype)
{
    rx_tensor *out = NULL;
    CHECK_OK(rx_to_dtype(t, dtype, &out));
    return out;
}

void t_release_all(int n, rx_tensor **ts)
{
    for (int i = 0; i < n; i++) rx_tensor_release(ts[i]);
}

double ref_round(rx_dtype dtype, double x)
{
    switch (dtype) {
    case RX_F32: return (float)x;
    case RX_F16: return (double)(_Float16)(float)x;
    case RX_BF16: {
        float f = (float)x;
        uint32_t b;
        memcpy(&b, &f, 4);
        b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000u;
        memcpy(&f, &b, 4);
        return f;
    }
    default: return x;
    }
}

void check_no_leaks(void)
{
    rx_mem_stats st;
    rx_mem_get_stats(RX_CPU, &st);
    CHECK(st.live_tensors == 0);
    CHECK(st.live_bytes == 0);
}

void check_tensor_(const char *file, int line, const char *name, const rx_tensor *t, int ndim,
                   const int64_t *shape, const double *ref, double atol, double rtol)
{
    if (!t) {
        check_fail(file, line, "%s is NULL (%s)", name, rx_last_error());
        return;
    }
    if (rx_tensor_ndim(t) != ndim) {
        check_fail(file, line, "%s has %d dims, expected %d", name, rx_tensor_ndim(t), ndim);
        return;
    }
    for (int i = 0; i < ndim; i++)
        if (rx_tensor_size(t, i) != shape[i]) {
            check_fail(file, line, "%s dim %d has size %lld, expected %lld", name, i,
                       (long long)rx_tensor_size(t, i), (long long)shape[i]);
            return;
        }
    double *v = t_values(t);
    int64_t n = rx_tensor_numel(t);
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 5; i++) {
        bool ok = (isnan(ref[i]) && isnan(v[i])) || fabs(v[i] - ref[i]) <= atol + rtol * fabs(ref[i]) ||
                  (isinf(ref[i]) && v[i] == ref[i]);
        if (!ok) {
            check_fail(file, line, "%s[%lld] = %.9g, expected %.9g", name, (long long)i, v[i], ref[i]);
            bad++;
        }
    }
    free(v);
}
