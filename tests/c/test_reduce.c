/* test_reduce.c — reductions (rx_reduce, rx_max_dim, rx_min_dim) and rx_cumsum on the CPU.
 *
 * Every result is compared with a reference computed here in double precision from the input's
 * values: over single dims, several dims, all dims, keepdim, negative dims, non-contiguous
 * inputs (transposed, narrowed, expanded), every dtype, a long f32 sum that naive f32
 * accumulation gets wrong, NaN propagation, long rows cut into parallel chunks, exact i64
 * arithmetic, empty and 0-d tensors, and the error paths.
 */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const rx_dtype all_dtypes[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I32, RX_I64, RX_U8, RX_BOOL};
#define N_DTYPES ((int)(sizeof all_dtypes / sizeof all_dtypes[0]))

static bool is_float(rx_dtype d) { return rx_dtype_is_float(d); }

/* Deterministic test values of element i for a dtype: mixed signs with some zeros; `near_one`
 * gives values whose products stay small (for prod). */
static double value_of(rx_dtype dt, int64_t near_one, int64_t i)
{
    int sign = (i % 7 == 3) ? -1 : 1;
    switch (dt) {
    case RX_U8: return near_one ? (i % 5 == 0 ? 2 : 1) : (double)((i * 37) % 23);
    case RX_BOOL: return near_one ? 1 : (i % 3 == 0);
    case RX_I32:
    case RX_I64: return near_one ? sign * (i % 5 == 0 ? 2 : 1) : round(10 * sin(i * 0.37));
    default: return near_one ? sign * (1 + 0.15 * sin(i * 0.37)) : (i % 7 == 0 ? 0 : 3 * sin(i * 0.37));
    }
}

static rx_tensor *make(int ndim, const int64_t *shape, rx_dtype dt, bool near_one)
{
    return t_gen(ndim, shape, dt, value_of, near_one, NULL);
}

/* The reference of `op` over the dims marked in `red` of values x (row-major, shape), in
 * double. Writes the kept shape (with 1s under keepdim) and the values of the result. */
static int ref_reduce(rx_reduce_op op, const double *x, int ndim, const int64_t *shape, const bool *red,
                      int keepdim, int64_t *out_shape, double *out, int64_t *out_n)
{
    int on = 0;
    int64_t nout = 1, nred = 1;
    for (int d = 0; d < ndim; d++) {
        if (!red[d]) {
            out_shape[on++] = shape[d];
            nout *= shape[d];
        } else {
            nred *= shape[d];
            if (keepdim) out_shape[on++] = 1;
        }
    }
    double *acc = calloc((size_t)nout, sizeof(double));
    int64_t *seen = calloc((size_t)nout, sizeof(int64_t));
    int64_t *best = calloc((size_t)nout, sizeof(int64_t));
    int64_t total = 1;
    for (int d = 0; d < ndim; d++) total *= shape[d];
    int64_t idx[8] = {0};
    for (int64_t k = 0; k < total; k++) {
        int64_t o = 0, r = 0;
        for (int d = 0; d < ndim; d++) {
            if (red[d])
                r = r * shape[d] + idx[d];
            else
                o = o * shape[d] + idx[d];
        }
        double v = x[k];
        switch (op) {
        case RX_SUM:
        case RX_MEAN: acc[o] += v; break;
        case RX_PROD: acc[o] = (seen[o] ? acc[o] : 1) * v; break;
        case RX_ANY: acc[o] = acc[o] || v != 0; break;
        case RX_ALL: acc[o] = (seen[o] ? acc[o] != 0 : true) && v != 0; break;
        default: {
            bool mx = op == RX_MAX || op == RX_ARGMAX;
            bool take = !seen[o] || (!isnan(acc[o]) && (isnan(v) || (mx ? v > acc[o] : v < acc[o])));
            if (take) {
                acc[o] = v;
                best[o] = r;
            }
        }
        }
        seen[o]++;
        for (int d = ndim - 1; d >= 0; d--) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
    for (int64_t o = 0; o < nout; o++) {
        if (op == RX_MEAN)
            out[o] = acc[o] / (double)nred;
        else if (op == RX_ARGMAX || op == RX_ARGMIN)
            out[o] = (double)best[o];
        else if (op == RX_PROD && nred == 0)
            out[o] = 1;
        else if (op == RX_ALL && nred == 0)
            out[o] = 1;
        else
            out[o] = acc[o];
    }
    free(acc);
    free(seen);
    free(best);
    *out_n = nout;
    return on;
}

static rx_dtype expected_dtype(rx_reduce_op op, rx_dtype in)
{
    switch (op) {
    case RX_SUM:
    case RX_PROD: return is_float(in) ? in : RX_I64;
    case RX_ARGMAX:
    case RX_ARGMIN: return RX_I64;
    case RX_ANY:
    case RX_ALL: return RX_BOOL;
    default: return in;
    }
}

/* Relative tolerance of a float result rounded to dtype dt. */
static double rtol_of(rx_dtype dt)
{
    switch (dt) {
    case RX_F16: return 1e-3;
    case RX_BF16: return 4e-3;
    case RX_F32: return 1e-6;
    default: return 1e-12;
    }
}

/* Checks rx_reduce(op, x, dims) against the reference; ndims == 0 reduces all dims. */
static void check_case(const char *what, rx_reduce_op op, rx_tensor *x, int ndims, const int *dims,
                       int keepdim)
{
    int nd = rx_tensor_ndim(x);
    const int64_t *shape = rx_tensor_shape_ptr(x);
    bool red[8] = {false};
    for (int i = 0; i < ndims; i++) red[dims[i] < 0 ? dims[i] + nd : dims[i]] = true;
    if (ndims == 0)
        for (int d = 0; d < nd; d++) red[d] = true;
    double *xv = t_values(x);
    int64_t oshape[8], nout;
    double *ref = malloc(sizeof(double) * (size_t)(rx_tensor_numel(x) + 1));
    int on = ref_reduce(op, xv, nd, shape, red, keepdim, oshape, ref, &nout);
    rx_tensor *out = NULL;
    rx_status s = rx_reduce(op, x, ndims, dims, keepdim, &out);
    if (s != RX_OK) {
        check_fail(__FILE__, __LINE__, "%s: %s(%s) failed: %s", what, rx_reduce_op_name(op),
                   rx_dtype_name(rx_tensor_dtype(x)), rx_last_error());
    } else {
        rx_dtype want = expected_dtype(op, rx_tensor_dtype(x));
        if (rx_tensor_dtype(out) != want)
            check_fail(__FILE__, __LINE__, "%s: %s(%s) gave dtype %s, expected %s", what,
                       rx_reduce_op_name(op), rx_dtype_name(rx_tensor_dtype(x)),
                       rx_dtype_name(rx_tensor_dtype(out)), rx_dtype_name(want));
        CHECK(rx_tensor_is_contiguous(out));
        double rt = (op == RX_SUM || op == RX_MEAN || op == RX_PROD) && is_float(want) ? rtol_of(want) : 0;
        int before = check_failures_in_test;
        CHECK_TENSOR(out, on, oshape, ref, rt * 1e-3, rt);
        if (check_failures_in_test != before)
            fprintf(stderr, "    in %s: %s over %s (ndims %d, keepdim %d)\n", what, rx_reduce_op_name(op),
                    rx_dtype_name(rx_tensor_dtype(x)), ndims, keepdim);
    }
    rx_tensor_release(out);
    free(xv);
    free(ref);
}

static void check_all_ops(const char *what, rx_tensor *x, rx_tensor *x_near_one, int ndims, const int *dims,
                          int keepdim)
{
    for (int op = 0; op < RX_REDUCE_OP_COUNT; op++) {
        if (op == RX_MEAN && !is_float(rx_tensor_dtype(x))) continue;
        if ((op == RX_ARGMAX || op == RX_ARGMIN) && ndims > 1) continue;
        check_case(what, (rx_reduce_op)op, op == RX_PROD ? x_near_one : x, ndims, dims, keepdim);
    }
}

static void test_op_names(void)
{
    CHECK(strcmp(rx_reduce_op_name(RX_SUM), "sum") == 0);
    CHECK(strcmp(rx_reduce_op_name(RX_ARGMIN), "argmin") == 0);
    CHECK(strcmp(rx_reduce_op_name(RX_ALL), "all") == 0);
}

/* Every op, every dtype, over single dims, negative dims, several dims, all dims, keepdim. */
static void test_dims_and_dtypes(void)
{
    const int64_t shape[3] = {3, 4, 5};
    const struct {
        int ndims;
        int dims[3];
    } cases[] = {{1, {0}},    {1, {1}},     {1, {2}},       {1, {-1}}, {1, {-3}},
                 {2, {0, 2}}, {2, {-1, 1}}, {3, {2, 0, 1}}, {0, {0}}};
    for (int t = 0; t < N_DTYPES; t++) {
        rx_tensor *x = make(3, shape, all_dtypes[t], false);
        rx_tensor *x1 = make(3, shape, all_dtypes[t], true);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int keep = 0; keep < 2; keep++)
                check_all_ops("dims", x, x1, cases[c].ndims, cases[c].dims, keep);
        rx_tensor_release(x);
        rx_tensor_release(x1);
    }
}

/* Transposed, narrowed and expanded views reduce like their row-major values. */
static void test_non_contiguous(void)
{
    for (int t = 0; t < N_DTYPES; t++) {
        rx_dtype dt = all_dtypes[t];
        rx_tensor *base = make(3, (const int64_t[]){5, 4, 3}, dt, false);
        rx_tensor *base1 = make(3, (const int64_t[]){5, 4, 3}, dt, true);
        rx_tensor *tr = NULL, *tr1 = NULL;
        CHECK_OK(rx_permute(base, 3, (const int[]){2, 0, 1}, &tr));
        CHECK_OK(rx_permute(base1, 3, (const int[]){2, 0, 1}, &tr1));
        CHECK(!rx_tensor_is_contiguous(tr));
        rx_tensor *wide = make(3, (const int64_t[]){3, 4, 9}, dt, false);
        rx_tensor *wide1 = make(3, (const int64_t[]){3, 4, 9}, dt, true);
        rx_tensor *nar = NULL, *nar1 = NULL;
        CHECK_OK(rx_narrow(wide, 2, 2, 5, &nar));
        CHECK_OK(rx_narrow(wide1, 2, 2, 5, &nar1));
        rx_tensor *small = make(3, (const int64_t[]){3, 1, 5}, dt, false);
        rx_tensor *small1 = make(3, (const int64_t[]){3, 1, 5}, dt, true);
        rx_tensor *ex = NULL, *ex1 = NULL;
        CHECK_OK(rx_expand(small, 3, (const int64_t[]){3, 4, 5}, &ex));
        CHECK_OK(rx_expand(small1, 3, (const int64_t[]){3, 4, 5}, &ex1));
        rx_tensor *views[3][2] = {{tr, tr1}, {nar, nar1}, {ex, ex1}};
        const char *names[3] = {"transposed", "narrowed", "expanded"};
        for (int v = 0; v < 3; v++) {
            check_all_ops(names[v], views[v][0], views[v][1], 1, (const int[]){1}, 0);
            check_all_ops(names[v], views[v][0], views[v][1], 1, (const int[]){-1}, 1);
            check_all_ops(names[v], views[v][0], views[v][1], 2, (const int[]){0, 2}, 0);
            check_all_ops(names[v], views[v][0], views[v][1], 0, NULL, 0);
        }
        rx_tensor *all[] = {base, base1, tr, tr1, wide, wide1, nar, nar1, small, small1, ex, ex1};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rx_tensor_release(all[i]);
    }
}

/* 3 million copies of 0.1f: naive f32 accumulation drifts by far more than 1e-6 relative. */
static void test_large_f32_sum(void)
{
    const int64_t n = 3000000;
    float *buf = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) buf[i] = 0.1f;
    float naive = 0;
    for (int64_t i = 0; i < n; i++) naive += buf[i];
    double exact = (double)n * (double)0.1f;
    CHECK(fabs(naive - exact) / exact > 1e-4); /* the case is hard for a float accumulator */
    rx_tensor *x = NULL, *x2 = NULL, *s = NULL, *s2 = NULL, *m = NULL;
    CHECK_OK(rx_from_buffer(1, &n, RX_F32, buf, &x));
    CHECK_OK(rx_reduce(RX_SUM, x, 0, NULL, 0, &s));
    double v = 0;
    CHECK_OK(rx_tensor_item(s, &v));
    CHECK(fabs(v - exact) / exact < 1e-6);
    CHECK_OK(rx_reduce(RX_MEAN, x, 1, (const int[]){0}, 0, &m));
    CHECK_OK(rx_tensor_item(m, &v));
    CHECK(fabs(v - (double)0.1f) / 0.1 < 1e-6);
    /* two long rows (the chunked path) */
    CHECK_OK(rx_view(x, 2, (const int64_t[]){2, n / 2}, &x2));
    CHECK_OK(rx_reduce(RX_SUM, x2, 1, (const int[]){1}, 0, &s2));
    double r[2];
    CHECK_OK(rx_tensor_to_doubles(s2, r, 2));
    CHECK(fabs(r[0] - exact / 2) / exact < 1e-6 && fabs(r[1] - exact / 2) / exact < 1e-6);
    rx_tensor *all[] = {x, x2, s, s2, m};
    for (size_t i = 0; i < 5; i++) rx_tensor_release(all[i]);
    free(buf);
}

/* Long rows cut into chunks: results equal the reference and do not depend on the thread count. */
static void test_chunked_rows(void)
{
    const int64_t shape[2] = {3, 100003};
    int64_t n = shape[0] * shape[1];
    double *v = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = sin(i * 0.37) * 5 + 0.001 * (double)(i % 1000);
    /* row 0: the max appears twice (chunks 0 and 2): the first wins; row 1: NaN late, after a
     * larger number; row 2: min repeated in chunks 1 and 3 */
    v[100] = 50;
    v[80000] = 50;
    v[shape[1] + 10] = 60;
    v[shape[1] + 90000] = NAN;
    v[shape[1] + 95000] = NAN;
    v[2 * shape[1] + 40000] = -70;
    v[2 * shape[1] + 99000] = -70;
    rx_tensor *x = t_from(2, shape, RX_F32, v);
    double *xv = t_values(x);
    bool red[2] = {false, true};
    for (int op = 0; op < RX_REDUCE_OP_COUNT; op++) {
        if (op == RX_PROD) continue;
        int64_t oshape[2], nout;
        double ref[3];
        ref_reduce((rx_reduce_op)op, xv, 2, shape, red, 0, oshape, ref, &nout);
        rx_tensor *out = NULL;
        CHECK_OK(rx_reduce((rx_reduce_op)op, x, 1, (const int[]){1}, 0, &out));
        CHECK_TENSOR(out, 1, oshape, ref, 1e-9, 1e-6);
        rx_tensor_release(out);
    }
    int64_t idx[3];
    rx_tensor *mv = NULL, *mi = NULL;
    CHECK_OK(rx_max_dim(x, 1, 0, &mv, &mi));
    if (mi) {
        memcpy(idx, rx_tensor_data_ptr(mi), sizeof idx);
        CHECK(idx[0] == 100 && idx[1] == 90000);
    }
    rx_tensor_release(mv);
    rx_tensor_release(mi);
    CHECK_OK(rx_min_dim(x, -1, 0, &mv, &mi));
    if (mi) {
        memcpy(idx, rx_tensor_data_ptr(mi), sizeof idx);
        CHECK(idx[1] == 90000 && idx[2] == 40000);
    }
    rx_tensor_release(mv);
    rx_tensor_release(mi);
    /* bit-identical sums with one thread and with the default count */
    int threads = rx_get_num_threads();
    rx_tensor *s1 = NULL, *s2 = NULL;
    rx_set_num_threads(1);
    CHECK_OK(rx_reduce(RX_SUM, x, 0, NULL, 0, &s1));
    rx_set_num_threads(threads > 1 ? threads : 4);
    CHECK_OK(rx_reduce(RX_SUM, x, 0, NULL, 0, &s2));
    rx_set_num_threads(0);
    if (s1 && s2) CHECK(memcmp(rx_tensor_data_ptr(s1), rx_tensor_data_ptr(s2), 4) == 0);
    rx_tensor_release(s1);
    rx_tensor_release(s2);
    rx_tensor_release(x);
    free(xv);
    free(v);
}

/* Many short rows run in parallel. */
static void test_many_rows(void)
{
    const int64_t shape[2] = {20000, 7};
    rx_tensor *x = make(2, shape, RX_F32, false);
    double *xv = t_values(x);
    bool red[2] = {false, true};
    int64_t oshape[2], nout;
    double *ref = malloc(sizeof(double) * 20000);
    ref_reduce(RX_SUM, xv, 2, shape, red, 0, oshape, ref, &nout);
    rx_tensor *out = NULL;
    CHECK_OK(rx_reduce(RX_SUM, x, 1, (const int[]){1}, 0, &out));
    CHECK_TENSOR(out, 1, oshape, ref, 1e-6, 1e-6);
    rx_tensor_release(out);
    ref_reduce(RX_ARGMIN, xv, 2, shape, red, 0, oshape, ref, &nout);
    CHECK_OK(rx_reduce(RX_ARGMIN, x, 1, (const int[]){-1}, 0, &out));
    CHECK_TENSOR(out, 1, oshape, ref, 0, 0);
    rx_tensor_release(out);
    rx_tensor_release(x);
    free(xv);
    free(ref);
}

static void test_nan(void)
{
    const double v[8] = {1, NAN, 3, NAN, 2, 5, -1, 4};
    for (int t = 0; t < 4; t++) {
        rx_dtype dt = all_dtypes[t];
        rx_tensor *x = t_from(2, (const int64_t[]){2, 4}, dt, v);
        rx_tensor *out = NULL;
        CHECK_OK(rx_reduce(RX_MAX, x, 1, (const int[]){1}, 0, &out));
        CHECK_TENSOR(out, 1, (const int64_t[]){2}, ((const double[]){NAN, 5}), 0, 0);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_MIN, x, 1, (const int[]){1}, 0, &out));
        CHECK_TENSOR(out, 1, (const int64_t[]){2}, ((const double[]){NAN, -1}), 0, 0);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_ARGMAX, x, 1, (const int[]){1}, 0, &out));
        CHECK_TENSOR(out, 1, (const int64_t[]){2}, ((const double[]){1, 1}), 0, 0);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_ARGMIN, x, 1, (const int[]){1}, 0, &out));
        CHECK_TENSOR(out, 1, (const int64_t[]){2}, ((const double[]){1, 2}), 0, 0);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_SUM, x, 1, (const int[]){1}, 0, &out));
        CHECK_TENSOR(out, 1, (const int64_t[]){2}, ((const double[]){NAN, 10}), 0, 1e-6);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_ARGMAX, x, 0, NULL, 0, &out)); /* flattened: the first NaN */
        CHECK_TENSOR(out, 0, NULL, ((const double[]){1}), 0, 0);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_ANY, x, 0, NULL, 0, &out)); /* NaN counts as true */
        CHECK_TENSOR(out, 0, NULL, ((const double[]){1}), 0, 0);
        rx_tensor_release(out);
        rx_tensor *mv = NULL, *mi = NULL;
        CHECK_OK(rx_max_dim(x, 0, 0, &mv, &mi)); /* columns: (1,2) (NaN,5) (3,-1) (NaN,4) */
        CHECK_TENSOR(mv, 1, (const int64_t[]){4}, ((const double[]){2, NAN, 3, NAN}), 0, 0);
        CHECK_TENSOR(mi, 1, (const int64_t[]){4}, ((const double[]){1, 0, 0, 0}), 0, 0);
        rx_tensor_release(mv);
        rx_tensor_release(mi);
        rx_tensor_release(x);
    }
}

static void test_max_min_dim(void)
{
    /* ties: the first position wins */
    const double v[12] = {3, 7, 7, 1, 0, 0, 9, 9, -2, 5, -2, 5};
    for (int t = 0; t < N_DTYPES; t++) {
        rx_dtype dt = all_dtypes[t];
        double vv[12];
        for (int i = 0; i < 12; i++) vv[i] = dt == RX_BOOL ? (v[i] > 2) : dt == RX_U8 ? fabs(v[i]) : v[i];
        rx_tensor *x = t_from(2, (const int64_t[]){3, 4}, dt, vv);
        rx_tensor *mv = NULL, *mi = NULL;
        CHECK_OK(rx_max_dim(x, 1, 1, &mv, &mi));
        double ev[3], ei[3], nv[3], ni[3];
        for (int r = 0; r < 3; r++) {
            ev[r] = nv[r] = vv[4 * r];
            ei[r] = ni[r] = 0;
            for (int c = 1; c < 4; c++) {
                if (vv[4 * r + c] > ev[r]) ev[r] = vv[4 * r + c], ei[r] = c;
                if (vv[4 * r + c] < nv[r]) nv[r] = vv[4 * r + c], ni[r] = c;
            }
        }
        CHECK(mv && rx_tensor_dtype(mv) == dt);
        CHECK(mi && rx_tensor_dtype(mi) == RX_I64);
        CHECK_TENSOR(mv, 2, ((const int64_t[]){3, 1}), ev, 0, 0);
        CHECK_TENSOR(mi, 2, ((const int64_t[]){3, 1}), ei, 0, 0);
        rx_tensor_release(mv);
        rx_tensor_release(mi);
        CHECK_OK(rx_min_dim(x, -1, 0, &mv, &mi));
        CHECK_TENSOR(mv, 1, ((const int64_t[]){3}), nv, 0, 0);
        CHECK_TENSOR(mi, 1, ((const int64_t[]){3}), ni, 0, 0);
        rx_tensor_release(mv);
        rx_tensor_release(mi);
        /* either output may be skipped */
        CHECK_OK(rx_max_dim(x, 0, 0, NULL, &mi));
        CHECK(mi && rx_tensor_size(mi, 0) == 4);
        rx_tensor_release(mi);
        CHECK_OK(rx_min_dim(x, 0, 0, &mv, NULL));
        CHECK(mv && rx_tensor_size(mv, 0) == 4);
        rx_tensor_release(mv);
        rx_tensor_release(x);
    }
}

/* i64 results are exact beyond 2^53. */
static void test_i64_exact(void)
{
    const int64_t big = (int64_t)1 << 62, n = 4;
    const int64_t vals[4] = {big, big - 1, -big, 3};
    rx_tensor *x = NULL, *out = NULL, *mv = NULL, *mi = NULL;
    CHECK_OK(rx_from_buffer(1, &n, RX_I64, vals, &x));
    CHECK_OK(rx_reduce(RX_SUM, x, 0, NULL, 0, &out));
    if (out) CHECK(*(int64_t *)rx_tensor_data_ptr(out) == big + 2);
    rx_tensor_release(out);
    CHECK_OK(rx_max_dim(x, 0, 0, &mv, &mi));
    if (mv && mi) CHECK(*(int64_t *)rx_tensor_data_ptr(mv) == big && *(int64_t *)rx_tensor_data_ptr(mi) == 0);
    rx_tensor_release(mv);
    rx_tensor_release(mi);
    rx_tensor *x2 = NULL;
    const int64_t vals2[2] = {big + 1, big + 3};
    CHECK_OK(rx_from_buffer(1, (const int64_t[]){2}, RX_I64, vals2, &x2));
    CHECK_OK(rx_reduce(RX_MIN, x2, 0, NULL, 0, &out));
    if (out) CHECK(*(int64_t *)rx_tensor_data_ptr(out) == big + 1);
    rx_tensor_release(out);
    CHECK_OK(rx_reduce(RX_ARGMAX, x2, 0, NULL, 0, &out));
    if (out) CHECK(*(int64_t *)rx_tensor_data_ptr(out) == 1);
    rx_tensor_release(out);
    rx_tensor_release(x);
    rx_tensor_release(x2);
}

static void test_any_all(void)
{
    /* rows: all zero, mixed, all nonzero */
    const double v[9] = {0, 0, 0, 0, 2, 0, -1, 0.5, 3};
    for (int t = 0; t < N_DTYPES; t++) {
        rx_dtype dt = all_dtypes[t];
        double vv[9];
        for (int i = 0; i < 9; i++)
            vv[i] = dt == RX_U8 ? ceil(fabs(v[i])) : (is_float(dt) ? v[i] : (v[i] != 0) * (i + 1));
        rx_tensor *x = t_from(2, (const int64_t[]){3, 3}, dt, vv);
        rx_tensor *out = NULL;
        CHECK_OK(rx_reduce(RX_ANY, x, 1, (const int[]){1}, 0, &out));
        CHECK(out && rx_tensor_dtype(out) == RX_BOOL);
        CHECK_TENSOR(out, 1, (const int64_t[]){3}, ((const double[]){0, 1, 1}), 0, 0);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_ALL, x, 1, (const int[]){1}, 0, &out));
        CHECK_TENSOR(out, 1, (const int64_t[]){3}, ((const double[]){0, 0, 1}), 0, 0);
        rx_tensor_release(out);
        CHECK_OK(rx_reduce(RX_ALL, x, 1, (const int[]){0}, 1, &out));
        CHECK_TENSOR(out, 2, ((const int64_t[]){1, 3}), ((const double[]){0, 0, 0}), 0, 0);
        rx_tensor_release(out);
        rx_tensor_release(x);
    }
}

static void test_empty_and_scalar(void)
{
    rx_tensor *e = NULL, *out = NULL;
    CHECK_OK(rx_zeros(2, (const int64_t[]){3, 0}, RX_F32, rx_cpu(), &e));
    CHECK_OK(rx_reduce(RX_SUM, e, 1, (const int[]){1}, 0, &out));
    CHECK_TENSOR(out, 1, (const int64_t[]){3}, ((const double[]){0, 0, 0}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_reduce(RX_PROD, e, 1, (const int[]){1}, 1, &out));
    CHECK_TENSOR(out, 2, ((const int64_t[]){3, 1}), ((const double[]){1, 1, 1}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_reduce(RX_MEAN, e, 1, (const int[]){1}, 0, &out));
    CHECK_TENSOR(out, 1, (const int64_t[]){3}, ((const double[]){NAN, NAN, NAN}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_reduce(RX_ANY, e, 0, NULL, 0, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){0}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_reduce(RX_ALL, e, 0, NULL, 0, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){1}), 0, 0);
    rx_tensor_release(out);
    /* reducing the non-empty dim of an empty tensor gives an empty result, even for max */
    CHECK_OK(rx_reduce(RX_MAX, e, 1, (const int[]){0}, 0, &out));
    CHECK(out && rx_tensor_ndim(out) == 1 && rx_tensor_size(out, 0) == 0);
    rx_tensor_release(out);
    CHECK_ERR(rx_reduce(RX_MAX, e, 1, (const int[]){1}, 0, &out), RX_ERR_SHAPE,
              "max: cannot reduce over an empty dim");
    CHECK(out == NULL);
    CHECK_ERR(rx_reduce(RX_ARGMIN, e, 0, NULL, 0, &out), RX_ERR_SHAPE,
              "argmin: cannot reduce over an empty dim");
    rx_tensor *mv = NULL, *mi = NULL;
    CHECK_ERR(rx_max_dim(e, 1, 0, &mv, &mi), RX_ERR_SHAPE, "empty dim");
    CHECK(mv == NULL && mi == NULL);
    rx_tensor_release(e);

    /* a 0-d tensor reduces over dim 0 or -1 like torch */
    rx_tensor *s = t_from(0, NULL, RX_F32, (const double[]){2.5});
    CHECK_OK(rx_reduce(RX_SUM, s, 1, (const int[]){0}, 0, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){2.5}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_reduce(RX_MEAN, s, 1, (const int[]){-1}, 1, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){2.5}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_reduce(RX_ARGMAX, s, 0, NULL, 0, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){0}), 0, 0);
    rx_tensor_release(out);
    CHECK_OK(rx_max_dim(s, 0, 0, &mv, &mi));
    CHECK_TENSOR(mv, 0, NULL, ((const double[]){2.5}), 0, 0);
    CHECK_TENSOR(mi, 0, NULL, ((const double[]){0}), 0, 0);
    rx_tensor_release(mv);
    rx_tensor_release(mi);
    CHECK_ERR(rx_reduce(RX_SUM, s, 1, (const int[]){1}, 0, &out), RX_ERR_ARG,
              "sum: argument #2: dim 1 out of range");
    CHECK_OK(rx_cumsum(s, 0, &out));
    CHECK_TENSOR(out, 0, NULL, ((const double[]){2.5}), 0, 0);
    rx_tensor_release(out);
    rx_tensor_release(s);
}

static void test_errors(void)
{
    rx_tensor *x = make(2, (const int64_t[]){3, 4}, RX_F32, false);
    rx_tensor *xi = make(2, (const int64_t[]){3, 4}, RX_I32, false);
    rx_tensor *out = x;
    CHECK_ERR(rx_reduce(RX_SUM, x, 1, (const int[]){2}, 0, &out), RX_ERR_ARG,
              "sum: argument #2: dim 2 out of range for a 2-D tensor");
    CHECK(out == NULL);
    CHECK_ERR(rx_reduce(RX_PROD, x, 1, (const int[]){-3}, 0, &out), RX_ERR_ARG, "prod: argument #2: dim -3");
    CHECK_ERR(rx_reduce(RX_SUM, x, 2, (const int[]){1, -1}, 0, &out), RX_ERR_ARG,
              "sum: argument #2: dim 1 appears twice");
    CHECK_ERR(rx_reduce(RX_MEAN, xi, 0, NULL, 0, &out), RX_ERR_DTYPE, "mean: argument #1");
    CHECK_ERR(rx_reduce(RX_MEAN, xi, 0, NULL, 0, &out), RX_ERR_DTYPE, "i32");
    CHECK_ERR(rx_reduce(RX_ARGMAX, x, 2, (const int[]){0, 1}, 0, &out), RX_ERR_ARG,
              "argmax: argument #2: expected at most one dim, got 2");
    CHECK_ERR(rx_reduce(RX_SUM, NULL, 0, NULL, 0, &out), RX_ERR_ARG, "sum: argument #1");
    CHECK_ERR(rx_reduce(RX_REDUCE_OP_COUNT, x, 0, NULL, 0, &out), RX_ERR_ARG, "unknown op");
    CHECK_ERR(rx_reduce(RX_SUM, x, 9, (const int[]){0, 1, 0, 1, 0, 1, 0, 1, 0}, 0, &out), RX_ERR_ARG,
              "sum: argument #2");
    rx_tensor *mv = NULL, *mi = NULL;
    CHECK_ERR(rx_max_dim(x, 5, 0, &mv, &mi), RX_ERR_ARG, "max: argument #2: dim 5");
    CHECK_ERR(rx_min_dim(x, -4, 0, &mv, &mi), RX_ERR_ARG, "min: argument #2: dim -4");
    CHECK(mv == NULL && mi == NULL);
    CHECK_ERR(rx_cumsum(x, 2, &out), RX_ERR_ARG, "cumsum: argument #2: dim 2 out of range");
    CHECK_ERR(rx_cumsum(NULL, 0, &out), RX_ERR_ARG, "cumsum: argument #1");
    CHECK(out == NULL);
    rx_tensor_release(x);
    rx_tensor_release(xi);
}

/* Inclusive prefix sums along dim of a 2-D row-major (r, c) array. */
static void ref_cumsum(const double *x, int64_t r, int64_t c, int dim, double *out)
{
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) {
            double prev = dim == 0 ? (i ? out[(i - 1) * c + j] : 0) : (j ? out[i * c + j - 1] : 0);
            out[i * c + j] = prev + x[i * c + j];
        }
}

static void test_cumsum(void)
{
    for (int t = 0; t < N_DTYPES; t++) {
        rx_dtype dt = all_dtypes[t];
        rx_tensor *base = make(2, (const int64_t[]){5, 3}, dt, false);
        rx_tensor *tr = NULL;
        CHECK_OK(rx_transpose(base, 0, 1, &tr)); /* (3, 5), non-contiguous */
        rx_tensor *ins[2] = {base, tr};
        for (int w = 0; w < 2; w++) {
            rx_tensor *x = ins[w];
            int64_t r = rx_tensor_size(x, 0), c = rx_tensor_size(x, 1);
            double *xv = t_values(x), ref[15];
            for (int dim = 0; dim < 2; dim++) {
                ref_cumsum(xv, r, c, dim, ref);
                rx_tensor *out = NULL;
                CHECK_OK(rx_cumsum(x, dim == 0 ? 0 : -1, &out));
                CHECK(out && rx_tensor_dtype(out) == (is_float(dt) ? dt : RX_I64));
                CHECK(out && rx_tensor_is_contiguous(out));
                double rt = is_float(dt) ? rtol_of(dt) : 0;
                CHECK_TENSOR(out, 2, ((const int64_t[]){r, c}), ref, rt * 1e-3, rt);
                rx_tensor_release(out);
            }
            free(xv);
        }
        rx_tensor_release(tr);
        rx_tensor_release(base);
    }
    /* a long f32 cumsum accumulates in double */
    const int64_t n = 1000000;
    rx_tensor *x = NULL, *out = NULL;
    CHECK_OK(rx_full(1, &n, 0.1, RX_F32, rx_cpu(), &x));
    CHECK_OK(rx_cumsum(x, 0, &out));
    if (out) {
        double last;
        CHECK_OK(rx_tensor_get(out, (const int64_t[]){n - 1}, &last));
        CHECK(fabs(last - (double)n * (double)0.1f) / ((double)n * 0.1) < 1e-6);
    }
    rx_tensor_release(out);
    rx_tensor_release(x);
    /* an empty dim */
    rx_tensor *e = NULL;
    CHECK_OK(rx_zeros(2, (const int64_t[]){3, 0}, RX_I32, rx_cpu(), &e));
    CHECK_OK(rx_cumsum(e, 1, &out));
    CHECK(out && rx_tensor_dtype(out) == RX_I64 && rx_tensor_size(out, 0) == 3 &&
          rx_tensor_size(out, 1) == 0);
    rx_tensor_release(out);
    rx_tensor_release(e);
}

int main(void)
{
    RUN(test_op_names);
    RUN(test_dims_and_dtypes);
    RUN(test_non_contiguous);
    RUN(test_large_f32_sum);
    RUN(test_chunked_rows);
    RUN(test_many_rows);
    RUN(test_nan);
    RUN(test_max_min_dim);
    RUN(test_i64_exact);
    RUN(test_any_all);
    RUN(test_empty_and_scalar);
    RUN(test_errors);
    RUN(test_cumsum);
    RUN(check_no_leaks);
    return check_finish();
}
