/* gradcheck.c — see gradcheck.h. */
#include "gradcheck.h"

#include <stdlib.h>

rx_tensor *gc_leaf(int ndim, const int64_t *shape, uint64_t seed)
{
    rx_tensor *t = t_randn(ndim, shape, RX_F64, seed);
    if (rx_set_requires_grad(t, 1) != RX_OK) {
        fprintf(stderr, "gc_leaf: %s\n", rx_last_error());
        exit(2);
    }
    return t;
}

/* sum(out * R) in double, without recording. */
static bool weighted_sum(gc_fn fn, int n, rx_tensor *const *inputs, void *ctx, const double *r, int64_t numel,
                         double *out)
{
    rx_tensor *y = NULL;
    if (fn(inputs, ctx, &y) != RX_OK) return false;
    double *v = t_values(y);
    double acc = 0;
    for (int64_t i = 0; i < numel; i++) acc += v[i] * r[i];
    free(v);
    rx_tensor_release(y);
    *out = acc;
    return true;
}

bool gradcheck(const char *name, gc_fn fn, int n, rx_tensor *const *inputs, void *ctx, double atol, double rtol)
{
    const double eps = 1e-6;
    int before = check_failures_in_test;
    for (int i = 0; i < n; i++) rx_set_grad(inputs[i], NULL);

    /* analytical: backward of sum(y * R) */
    rx_tensor *y = NULL;
    if (fn(inputs, ctx, &y) != RX_OK) {
        check_fail(__FILE__, __LINE__, "gradcheck %s: forward failed: %s", name, rx_last_error());
        return false;
    }
    int64_t numel = rx_tensor_numel(y);
    rx_tensor *r = t_randn(rx_tensor_ndim(y), rx_tensor_shape_ptr(y), rx_tensor_dtype(y), 12345);
    double *rv = t_values(r);
    rx_tensor *prod = NULL, *loss = NULL;
    if (rx_binary(RX_MUL, y, r, &prod) != RX_OK || rx_reduce(RX_SUM, prod, 0, NULL, 0, &loss) != RX_OK ||
        rx_backward(loss, NULL, 0) != RX_OK) {
        check_fail(__FILE__, __LINE__, "gradcheck %s: backward failed: %s", name, rx_last_error());
        rx_tensor_release(prod);
        rx_tensor_release(loss);
        rx_tensor_release(y);
        rx_tensor_release(r);
        free(rv);
        return false;
    }
    rx_tensor_release(prod);
    rx_tensor_release(loss);
    rx_tensor_release(y);
    rx_tensor_release(r);

    /* numerical: central differences, one element at a time */
    int prev = rx_set_grad_enabled(0);
    for (int i = 0; i < n; i++) {
        rx_tensor *x = inputs[i];
        if (!rx_requires_grad(x)) continue;
        rx_tensor *g = rx_grad(x);
        if (!g) {
            check_fail(__FILE__, __LINE__, "gradcheck %s: input #%d got no gradient", name, i + 1);
            continue;
        }
        double *gv = t_values(g);
        int nd = rx_tensor_ndim(x);
        int64_t idx[8] = {0}, xn = rx_tensor_numel(x);
        int reported = 0;
        for (int64_t e = 0; e < xn; e++) {
            double orig, fp = 0, fm = 0;
            rx_tensor_get(x, idx, &orig);
            rx_tensor_set(x, idx, orig + eps);
            bool ok = weighted_sum(fn, n, inputs, ctx, rv, numel, &fp);
            rx_tensor_set(x, idx, orig - eps);
            ok = ok && weighted_sum(fn, n, inputs, ctx, rv, numel, &fm);
            rx_tensor_set(x, idx, orig);
            double num = (fp - fm) / (2 * eps);
            if (!ok) {
                check_fail(__FILE__, __LINE__, "gradcheck %s: forward failed while perturbing: %s", name, rx_last_error());
                break;
            }
            if (!(fabs(num - gv[e]) <= atol + rtol * fabs(num)) && reported < 3) {
                check_fail(__FILE__, __LINE__, "gradcheck %s: input #%d element %lld: analytical %.10g, numerical %.10g",
                           name, i + 1, (long long)e, gv[e], num);
                reported++;
            }
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < rx_tensor_size(x, d)) break;
                idx[d] = 0;
            }
        }
        free(gv);
    }
    rx_set_grad_enabled(prev);
    free(rv);
    return check_failures_in_test == before;
}
