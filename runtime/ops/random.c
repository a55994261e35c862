/* random.c — random tensors: rand, randn, randint, bernoulli, multinomial.
 *
 * Owns: argument checks (float dtypes for rand/randn, low < high, probabilities in [0, 1]),
 * counter reservation on the generator (a draw of n values takes counters [offset, offset + n)
 * after its output is allocated, so a failed allocation draws nothing), and multinomial, which
 * draws one f64 uniform per sample through the backend and inverts each row's CDF on the host
 * (binary search; without replacement, chosen weights are zeroed between draws).
 */
#include "ops.h"

#include <math.h>
#include <stdlib.h>

/* Integers up to 2^53 pass through the backend's double parameters exactly. */
#define RX_RANDINT_LIMIT 9007199254740992.0

static rx_status check_float_dtype(const char *op, rx_dtype dtype)
{
    if ((unsigned)dtype <= RX_BOOL && rx_dtype_is_float(dtype)) return RX_OK;
    return rx_fail(RX_ERR_DTYPE, "%s: expected a floating-point dtype (f32, f16, bf16, f64), got %s", op,
                   (unsigned)dtype <= RX_BOOL ? rx_dtype_name(dtype) : "an unknown dtype");
}

/* Allocates out (shape, dtype, device) and fills it with one draw of `kind`. */
static rx_status draw(const char *op, int kind, int ndim, const int64_t *shape, rx_dtype dtype,
                      rx_device device, rx_generator *gen, double p0, double p1, rx_tensor **out)
{
    *out = NULL;
    RX_TRY(rx_check_shape(op, ndim, shape));
    const rx_backend *be = rx_backend_for(device);
    if (!be) return rx_fail_context(RX_ERR_DEVICE, "%s", op);
    RX_TRY(rx_empty(ndim, shape, dtype, device, out));
    uint64_t seed, offset;
    rx_generator_reserve(gen, (uint64_t)rx_tensor_numel(*out), &seed, &offset);
    rx_status s = be->random(kind, *out, seed, offset, p0, p1);
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

rx_status rx_rand(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_generator *gen,
                  rx_tensor **out)
{
    *out = NULL;
    RX_TRY(check_float_dtype("rand", dtype));
    return draw("rand", RX_RANDOM_UNIFORM, ndim, shape, dtype, device, gen, 0.0, 1.0, out);
}

rx_status rx_randn(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_generator *gen,
                   rx_tensor **out)
{
    *out = NULL;
    RX_TRY(check_float_dtype("randn", dtype));
    return draw("randn", RX_RANDOM_NORMAL, ndim, shape, dtype, device, gen, 0.0, 1.0, out);
}

rx_status rx_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, rx_dtype dtype,
                     rx_device device, rx_generator *gen, rx_tensor **out)
{
    *out = NULL;
    const char *op = "randint";
    if (low >= high)
        return rx_fail(RX_ERR_ARG, "%s: expected low < high, got low = %lld, high = %lld", op, (long long)low,
                       (long long)high);
    if ((double)low < -RX_RANDINT_LIMIT || (double)high > RX_RANDINT_LIMIT)
        return rx_fail(RX_ERR_ARG, "%s: low and high must lie within +-2^53, got [%lld, %lld)", op,
                       (long long)low, (long long)high);
    if (dtype == RX_I32 && (low < INT32_MIN || high - 1 > INT32_MAX))
        return rx_fail(RX_ERR_ARG, "%s: [%lld, %lld) does not fit dtype i32", op, (long long)low,
                       (long long)high);
    if (dtype != RX_I32 && dtype != RX_I64 && check_float_dtype(op, dtype) != RX_OK)
        return rx_fail(RX_ERR_DTYPE, "%s: expected dtype i32, i64, f32, f16, bf16 or f64, got %s", op,
                       (unsigned)dtype <= RX_BOOL ? rx_dtype_name(dtype) : "an unknown dtype");
    return draw(op, RX_RANDOM_RANDINT, ndim, shape, dtype, device, gen, (double)low, (double)high, out);
}

rx_status rx_bernoulli_scalar(double p, int ndim, const int64_t *shape, rx_dtype dtype, rx_device device,
                              rx_generator *gen, rx_tensor **out)
{
    *out = NULL;
    if (!(p >= 0.0 && p <= 1.0))
        return rx_fail(RX_ERR_ARG, "bernoulli: argument #1: expected a probability in [0, 1], got %g", p);
    return draw("bernoulli", RX_RANDOM_BERNOULLI, ndim, shape, dtype, device, gen, p, 0.0, out);
}

/* The values of a CPU tensor t in row-major order, one at a time, as doubles. */
typedef struct host_walk {
    const rx_tensor *t;
    int64_t pos[RX_MAX_DIMS];
    int64_t off;
} host_walk;

static double walk_next(host_walk *w)
{
    const rx_tensor *t = w->t;
    int64_t es = rx_dtype_size(t->dtype);
    double v = rx_load_double(rx_tensor_bytes(t) + w->off * es, t->dtype);
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (++w->pos[d] < t->shape[d]) {
            w->off += t->stride[d];
            break;
        }
        w->off -= (w->pos[d] - 1) * t->stride[d];
        w->pos[d] = 0;
    }
    return v;
}

rx_status rx_bernoulli(rx_tensor *p, rx_generator *gen, rx_tensor **out)
{
    *out = NULL;
    const char *op = "bernoulli";
    RX_TRY(rx_check_tensor(op, 1, p));
    RX_TRY(rx_check_float(op, 1, p));
    rx_tensor *host;
    RX_TRY(rx_op_to_device(p, rx_cpu(), &host));
    host_walk w = {.t = host};
    int64_t n = rx_tensor_numel(host);
    rx_status s = RX_OK;
    for (int64_t i = 0; i < n; i++) {
        double v = walk_next(&w);
        if (!(v >= 0.0 && v <= 1.0)) {
            s = rx_fail(RX_ERR_ARG,
                        "%s: argument #1: expected probabilities in [0, 1], got %g at element %lld", op, v,
                        (long long)i);
            break;
        }
    }
    rx_tensor_release(host);
    RX_TRY(s);
    RX_TRY(rx_op_clone(p, out));
    uint64_t seed, offset;
    rx_generator_reserve(gen, (uint64_t)n, &seed, &offset);
    s = rx_backend_of(p)->random(RX_RANDOM_BERNOULLI_P, *out, seed, offset, 0.0, 0.0);
    if (s == RX_OK) return RX_OK;
    rx_tensor_release(*out);
    *out = NULL;
    return rx_fail_context(s, "%s", op);
}

/* Checks the weights of B rows of n (row-major doubles): finite, non-negative, some positive per
 * row, and at least k positive when sampling without replacement. */
static rx_status check_weights(const double *w, int64_t rows, int64_t n, int64_t k, int replacement)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t positive = 0;
        for (int64_t j = 0; j < n; j++) {
            double v = w[r * n + j];
            if (!(v >= 0.0) || isinf(v))
                return rx_fail(
                    RX_ERR_ARG,
                    "multinomial: argument #1: weights must be finite and non-negative, got %g in row "
                    "%lld",
                    v, (long long)r);
            positive += v > 0.0;
        }
        if (positive == 0)
            return rx_fail(RX_ERR_ARG, "multinomial: argument #1: row %lld has no positive weight",
                           (long long)r);
        if (!replacement && positive < k)
            return rx_fail(
                RX_ERR_ARG,
                "multinomial: cannot draw %lld samples without replacement from row %lld with %lld "
                "positive weights",
                (long long)k, (long long)r, (long long)positive);
    }
    return RX_OK;
}

/* Running sums of weights w (n, some positive) into cdf; returns the last positive category. */
static int64_t build_cdf(const double *w, int64_t n, double *cdf)
{
    double acc = 0.0;
    int64_t last = 0;
    for (int64_t j = 0; j < n; j++) {
        acc += w[j];
        cdf[j] = acc;
        if (w[j] > 0.0) last = j;
    }
    return last;
}

/* The category that uniform u in [0, 1) selects: the first j with cdf[j] > u * total (never a
 * zero-weight one); `last` when rounding makes u * total reach the total. */
static int64_t search_cdf(const double *cdf, int64_t n, int64_t last, double u)
{
    double target = u * cdf[n - 1];
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > target)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < n ? lo : last;
}

/* Samples on the host: w (rows, n) weights (zeroed as chosen when !replacement), u (rows, k)
 * uniforms, idx (rows, k) results. */
static rx_status sample_rows(double *w, int64_t rows, int64_t n, const double *u, int64_t k, int replacement,
                             int64_t *idx)
{
    double *cdf = malloc(sizeof(double) * (size_t)n);
    if (!cdf) return rx_fail(RX_ERR_NOMEM, "multinomial: out of host memory");
    for (int64_t r = 0; r < rows; r++) {
        double *wr = w + r * n;
        int64_t last = build_cdf(wr, n, cdf);
        for (int64_t s = 0; s < k; s++) {
            if (!replacement && s > 0) last = build_cdf(wr, n, cdf);
            int64_t j = search_cdf(cdf, n, last, u[r * k + s]);
            idx[r * k + s] = j;
            if (!replacement) wr[j] = 0.0;
        }
    }
    free(cdf);
    return RX_OK;
}

rx_status rx_multinomial(rx_tensor *probs, int64_t num_samples, int replacement, rx_generator *gen,
                         rx_tensor **out)
{
    *out = NULL;
    const char *op = "multinomial";
    RX_TRY(rx_check_tensor(op, 1, probs));
    RX_TRY(rx_check_float(op, 1, probs));
    char b[128];
    if (probs->ndim != 1 && probs->ndim != 2)
        return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected weights of shape (n) or (B, n), got %s", op,
                       rx_shape_str(probs->ndim, probs->shape, b, sizeof b));
    int64_t n = probs->shape[probs->ndim - 1], rows = probs->ndim == 2 ? probs->shape[0] : 1;
    if (n < 1) return rx_fail(RX_ERR_SHAPE, "%s: argument #1: expected at least one category, got 0", op);
    if (num_samples < 1)
        return rx_fail(RX_ERR_ARG, "%s: argument #2: expected a positive number of samples, got %lld", op,
                       (long long)num_samples);
    if (!replacement && num_samples > n)
        return rx_fail(RX_ERR_ARG,
                       "%s: argument #2: cannot draw %lld samples without replacement from %lld categories",
                       op, (long long)num_samples, (long long)n);

    /* weights as contiguous f64 on the host */
    rx_tensor *host = NULL, *w64 = NULL, *w = NULL, *u = NULL, *uhost = NULL, *res = NULL;
    rx_status s = rx_op_to_device(probs, rx_cpu(), &host);
    if (s == RX_OK) s = rx_op_to_dtype(host, RX_F64, &w64);
    if (s == RX_OK) s = rx_op_clone(w64, &w);
    if (s == RX_OK) s = check_weights((const double *)rx_tensor_bytes(w), rows, n, num_samples, replacement);

    /* one uniform per sample, drawn on probs' device, then the search on the host */
    int64_t ushape[1] = {rows * num_samples};
    if (s == RX_OK)
        s = draw(op, RX_RANDOM_UNIFORM, 1, ushape, RX_F64, rx_tensor_device(probs), gen, 0.0, 1.0, &u);
    if (s == RX_OK) s = rx_op_to_device(u, rx_cpu(), &uhost);
    int64_t oshape[2] = {rows, num_samples};
    if (s == RX_OK) s = rx_empty(probs->ndim, probs->ndim == 2 ? oshape : oshape + 1, RX_I64, rx_cpu(), &res);
    if (s == RX_OK)
        s = sample_rows((double *)rx_tensor_bytes(w), rows, n, (const double *)rx_tensor_bytes(uhost),
                        num_samples, replacement, (int64_t *)rx_tensor_bytes(res));
    if (s == RX_OK) s = rx_op_to_device(res, rx_tensor_device(probs), out);
    rx_tensor_release(host);
    rx_tensor_release(w64);
    rx_tensor_release(w);
    rx_tensor_release(u);
    rx_tensor_release(uhost);
    rx_tensor_release(res);
    return s;
}
