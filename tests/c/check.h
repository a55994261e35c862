/* check.h — the tiny C test harness of recx's unit tests.
 *
 * Owns: assertion macros that record failures with file:line and keep going, tensor helpers
 * for tests (build from doubles, compare against double references), and the runner that
 * prints "N passed, N failed" and returns non-zero on any failure.
 *
 *   static void test_add(void) { ... CHECK(x == 1); CHECK_CLOSE(a, b, 1e-6); ... }
 *   int main(void) { RUN(test_add); return check_finish(); }
 */
#ifndef RECX_CHECK_H
#define RECX_CHECK_H

#include "recx.h"

#include <stdbool.h>
#include <stdio.h>

extern int check_failures_in_test;

void check_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void check_run(const char *name, void (*fn)(void));
int check_finish(void);

#define RUN(fn) check_run(#fn, fn)
#define CHECK(cond) \
    do { if (!(cond)) check_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond); } while (0)
#define CHECK_CLOSE(a, b, tol)                                                                   \
    do {                                                                                         \
        double ca_ = (a), cb_ = (b);                                                             \
        if (!(fabs(ca_ - cb_) <= (tol) * (1.0 + fabs(cb_))))                                     \
            check_fail(__FILE__, __LINE__, "%s = %.9g, expected %s = %.9g (tol %g)", #a, ca_, #b, cb_, (double)(tol)); \
    } while (0)
/* Expects RX_OK; prints the error message otherwise. */
#define CHECK_OK(expr)                                                                           \
    do {                                                                                         \
        rx_status cs_ = (expr);                                                                  \
        if (cs_ != RX_OK) check_fail(__FILE__, __LINE__, "%s -> %s: %s", #expr, rx_status_name(cs_), rx_last_error()); \
    } while (0)
/* Expects the given failing status and that the message contains `needle`. */
#define CHECK_ERR(expr, status, needle) check_err_(__FILE__, __LINE__, #expr, (expr), (status), (needle))
void check_err_(const char *file, int line, const char *expr, rx_status got, rx_status want, const char *needle);

/* Tensor helpers (CPU). */
rx_tensor *t_from(int ndim, const int64_t *shape, rx_dtype dtype, const double *values);
rx_tensor *t_randn(int ndim, const int64_t *shape, rx_dtype dtype, uint64_t seed);
/* Row-major values of any tensor as doubles (caller frees). */
double *t_values(const rx_tensor *t);
/* A CPU tensor whose row-major element i is f(dtype, arg, i) (arg: a seed or another parameter
 * of f); when vals is not NULL, *vals receives those values (caller frees). */
typedef double (*t_value_fn)(rx_dtype dtype, int64_t arg, int64_t i);
rx_tensor *t_gen(int ndim, const int64_t *shape, rx_dtype dtype, t_value_fn f, int64_t arg, double **vals);
/* Zeros on the CPU; t cast to dtype (a new reference); a check failure (and NULL) on error. */
rx_tensor *t_zeros(int ndim, const int64_t *shape, rx_dtype dtype);
rx_tensor *t_cast(rx_tensor *t, rx_dtype dtype);
/* Releases ts[0..n) (NULL entries allowed). */
void t_release_all(int n, rx_tensor **ts);
/* x rounded to nearest even in dtype (f32, f16, bf16; f64 and other dtypes: x), computed
 * without the runtime's conversions. */
double ref_round(rx_dtype dtype, double x);
/* A test: no CPU tensor is alive (every tensor the tests made was released). */
void check_no_leaks(void);
/* Checks shape equality and |t - ref| <= atol + rtol * |ref| element-wise. */
#define CHECK_TENSOR(t, ndim, shape, ref, atol, rtol) check_tensor_(__FILE__, __LINE__, #t, (t), (ndim), (shape), (ref), (atol), (rtol))
void check_tensor_(const char *file, int line, const char *name, const rx_tensor *t, int ndim,
                   const int64_t *shape, const double *ref, double atol, double rtol);

#include <math.h>

#endif
