/* test_matmul.c — rx_matmul against a naive double-precision product computed here.
 *
 * Covers: 2-D products in f32/f64/f16/bf16 with contiguous, transposed, narrowed and expanded
 * operands; batched products with broadcast batch dims ((2,1,3,4) @ (5,4,2)), the folded
 * (B, T, C) @ (C, m) linear-layer case, batches whose strides force a copy; the 1-D cases
 * (dot -> 0-d, matrix-vector, vector-matrix, vector-batch); empty products (n, m or k == 0,
 * k == 0 giving zeros); shape, dtype, scalar and batch errors with the argument number; a
 * large product (one GEMM) against a double reference on sampled entries.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

/* Deterministic values in [-1, 1) that are exact in bf16 (7 bits): k/64 for k in [-64, 64). */
static double val(rx_dtype dt, int64_t seed, int64_t i)
{
    uint64_t x = ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return (double)((int64_t)(x % 128) - 64) / 64.0;
}

/* A new contiguous tensor of `shape` filled with val(dt, seed, i) in row-major order; also returns
 * the values (caller frees). */
static rx_tensor *make(int ndim, const int64_t *shape, rx_dtype dt, uint64_t seed, double **vals)
{
    return t_gen(ndim, shape, dt, val, (int64_t)seed, vals);
}

/* Reference (batch, n, m) = a (batch, n, k) @ b (batch, k, m), both given as element accessors
 * by strides over row-major double arrays (a batch stride 0 broadcasts). */
static void ref_bmm(const double *a, int64_t as0, int64_t as1, int64_t as2, const double *b, int64_t bs0,
                    int64_t bs1, int64_t bs2, int64_t batch, int64_t n, int64_t k, int64_t m, double *c)
{
    for (int64_t p = 0; p < batch; p++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double acc = 0;
                for (int64_t q = 0; q < k; q++)
                    acc += a[p * as0 + i * as1 + q * as2] * b[p * bs0 + q * bs1 + j * bs2];
                c[(p * n + i) * m + j] = acc;
            }
}

/* Tolerances by dtype for products of values in [-1, 1) with k terms. */
static double tol(rx_dtype dt)
{
    switch (dt) {
    case RX_F64: return 1e-12;
    case RX_F32: return 1e-5;
    case RX_F16: return 2e-2;
    default: return 8e-2;
    }
}

static const rx_dtype FLOATS[] = {RX_F32, RX_F64, RX_F16, RX_BF16};

static void test_2d_contiguous(void)
{
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = FLOATS[di];
        int64_t n = 7, k = 13, m = 5;
        double *av, *bv;
        rx_tensor *a = make(2, (int64_t[]){n, k}, dt, 1, &av), *b = make(2, (int64_t[]){k, m}, dt, 2, &bv),
                  *c = NULL;
        double ref[35];
        ref_bmm(av, 0, k, 1, bv, 0, m, 1, 1, n, k, m, ref);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){n, m}), ref, tol(dt), tol(dt));
        CHECK(c && rx_tensor_dtype(c) == dt);
        rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(c);
        free(av), free(bv);
    }
}

/* a^T @ b^T where a is stored (k, n) and b is stored (m, k): both operands transposed views. */
static void test_2d_transposed(void)
{
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = FLOATS[di];
        int64_t n = 6, k = 9, m = 4;
        double *av, *bv;
        rx_tensor *as = make(2, (int64_t[]){k, n}, dt, 3, &av), *bs = make(2, (int64_t[]){m, k}, dt, 4, &bv);
        rx_tensor *a, *b, *c = NULL;
        CHECK_OK(rx_transpose(as, 0, 1, &a));
        CHECK_OK(rx_transpose(bs, 0, 1, &b));
        double ref[24];
        ref_bmm(av, 0, 1, n, bv, 0, 1, k, 1, n, k, m, ref);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){n, m}), ref, tol(dt), tol(dt));
        /* mixed: a transposed, b contiguous (k, m) */
        rx_tensor *b2 = make(2, (int64_t[]){k, m}, dt, 5, NULL), *c2 = NULL;
        double *b2v = t_values(b2);
        ref_bmm(av, 0, 1, n, b2v, 0, m, 1, 1, n, k, m, ref);
        CHECK_OK(rx_matmul(a, b2, &c2));
        CHECK_TENSOR(c2, 2, ((int64_t[]){n, m}), ref, tol(dt), tol(dt));
        rx_tensor_release(as), rx_tensor_release(bs), rx_tensor_release(a), rx_tensor_release(b);
        rx_tensor_release(c), rx_tensor_release(b2), rx_tensor_release(c2);
        free(av), free(bv), free(b2v);
    }
}

/* Narrowed operands (leading dimension larger than the row), a column-narrowed transposed one,
 * a view with no unit stride (every other column), and an expanded (stride-0) operand. */
static void test_2d_strided(void)
{
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = FLOATS[di];
        double *fv, *gv;
        rx_tensor *f = make(2, (int64_t[]){10, 12}, dt, 6, &fv), *g = make(2, (int64_t[]){12, 9}, dt, 7, &gv);
        /* a = f[2:7, 3:11] (5, 8), b = g[1:9, 2:6] (8, 4) */
        rx_tensor *a0, *a, *b0, *b, *c = NULL;
        CHECK_OK(rx_narrow(f, 0, 2, 5, &a0));
        CHECK_OK(rx_narrow(a0, 1, 3, 8, &a));
        CHECK_OK(rx_narrow(g, 0, 1, 8, &b0));
        CHECK_OK(rx_narrow(b0, 1, 2, 4, &b));
        double ref[5 * 9];
        ref_bmm(fv + 2 * 12 + 3, 0, 12, 1, gv + 1 * 9 + 2, 0, 9, 1, 1, 5, 8, 4, ref);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){5, 4}), ref, tol(dt), tol(dt));
        rx_tensor_release(c);

        /* every other column of f: (10, 6) with strides (12, 2) has no unit stride -> copy */
        rx_tensor *ev, *ev2, *h = make(2, (int64_t[]){6, 3}, dt, 8, NULL);
        double *hv = t_values(h);
        CHECK_OK(rx_view(f, 3, (int64_t[]){10, 6, 2}, &ev));
        CHECK_OK(rx_select(ev, 2, 0, &ev2));
        CHECK(rx_tensor_stride(ev2, 1) == 2);
        ref_bmm(fv, 0, 12, 2, hv, 0, 3, 1, 1, 10, 6, 3, ref);
        CHECK_OK(rx_matmul(ev2, h, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){10, 3}), ref, tol(dt), tol(dt));
        rx_tensor_release(c);

        /* b expanded from one row: (1, 4) -> (8, 4) with row stride 0 */
        rx_tensor *row, *bx;
        CHECK_OK(rx_narrow(b, 0, 0, 1, &row));
        CHECK_OK(rx_expand(row, 2, (int64_t[]){8, 4}, &bx));
        ref_bmm(fv + 2 * 12 + 3, 0, 12, 1, gv + 1 * 9 + 2, 0, 0, 1, 1, 5, 8, 4, ref);
        CHECK_OK(rx_matmul(a, bx, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){5, 4}), ref, tol(dt), tol(dt));
        rx_tensor_release(c);

        rx_tensor_release(f), rx_tensor_release(g), rx_tensor_release(a0), rx_tensor_release(a);
        rx_tensor_release(b0), rx_tensor_release(b), rx_tensor_release(ev), rx_tensor_release(ev2);
        rx_tensor_release(h), rx_tensor_release(row), rx_tensor_release(bx);
        free(fv), free(gv), free(hv);
    }
}

/* (2, 1, 3, 4) @ (5, 4, 2) -> (2, 5, 3, 2). */
static void test_batch_broadcast(void)
{
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = FLOATS[di];
        double *av, *bv;
        rx_tensor *a = make(4, (int64_t[]){2, 1, 3, 4}, dt, 9, &av),
                  *b = make(3, (int64_t[]){5, 4, 2}, dt, 10, &bv);
        rx_tensor *c = NULL;
        double ref[2 * 5 * 3 * 2];
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < 5; j++)
                ref_bmm(av + i * 12, 0, 4, 1, bv + j * 8, 0, 2, 1, 1, 3, 4, 2, ref + (i * 5 + j) * 6);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 4, ((int64_t[]){2, 5, 3, 2}), ref, tol(dt), tol(dt));
        rx_tensor_release(c);
        /* the other way round: (5, 2, 4) @ (3, 1, 4, 6) -> (3, 5, 2, 6) */
        rx_tensor *x = make(3, (int64_t[]){5, 2, 4}, dt, 11, NULL),
                  *y = make(4, (int64_t[]){3, 1, 4, 6}, dt, 12, NULL);
        double *xv = t_values(x), *yv = t_values(y);
        double ref2[3 * 5 * 2 * 6];
        for (int64_t i = 0; i < 3; i++)
            for (int64_t j = 0; j < 5; j++)
                ref_bmm(xv + j * 8, 0, 4, 1, yv + i * 24, 0, 6, 1, 1, 2, 4, 6, ref2 + (i * 5 + j) * 12);
        CHECK_OK(rx_matmul(x, y, &c));
        CHECK_TENSOR(c, 4, ((int64_t[]){3, 5, 2, 6}), ref2, tol(dt), tol(dt));
        rx_tensor_release(c), rx_tensor_release(x), rx_tensor_release(y);
        rx_tensor_release(a), rx_tensor_release(b);
        free(av), free(bv), free(xv), free(yv);
    }
}

/* (B, T, C) @ (C, m): folded into one GEMM when contiguous; also with a transposed weight and
 * with a batch-strided left operand that cannot fold, and (n, k) @ (B, k, m). */
static void test_batch_linear(void)
{
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = FLOATS[di];
        double *xv, *wv;
        rx_tensor *x = make(3, (int64_t[]){3, 5, 8}, dt, 13, &xv),
                  *w = make(2, (int64_t[]){6, 8}, dt, 14, &wv);
        rx_tensor *wt, *c = NULL;
        CHECK_OK(rx_transpose(w, 0, 1, &wt)); /* (8, 6), unit stride on rows */
        double ref[3 * 5 * 6];
        ref_bmm(xv, 0, 8, 1, wv, 0, 1, 8, 1, 15, 8, 6, ref);
        CHECK_OK(rx_matmul(x, wt, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){3, 5, 6}), ref, tol(dt), tol(dt));
        rx_tensor_release(c);

        /* x transposed in its batch dims: (5, 3, 8) view, rows cannot merge with the batch */
        rx_tensor *xp;
        CHECK_OK(rx_transpose(x, 0, 1, &xp));
        double ref2[5 * 3 * 6];
        for (int64_t t = 0; t < 5; t++) ref_bmm(xv + t * 8, 0, 40, 1, wv, 0, 1, 8, 1, 3, 8, 6, ref2 + t * 18);
        CHECK_OK(rx_matmul(xp, wt, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){5, 3, 6}), ref2, tol(dt), tol(dt));
        rx_tensor_release(c);

        /* (5, 8) @ (3, 8, 6): the left matrix broadcast over b's batch */
        rx_tensor *a2, *bb = make(3, (int64_t[]){3, 8, 6}, dt, 15, NULL);
        double *bbv = t_values(bb);
        CHECK_OK(rx_select(x, 0, 1, &a2));
        double ref3[3 * 5 * 6];
        ref_bmm(xv + 40, 0, 8, 1, bbv, 48, 6, 1, 3, 5, 8, 6, ref3);
        CHECK_OK(rx_matmul(a2, bb, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){3, 5, 6}), ref3, tol(dt), tol(dt));
        rx_tensor_release(c);

        /* batch of transposed matrices: (3, 8, 5)^T per batch */
        rx_tensor *xt;
        CHECK_OK(rx_transpose(x, 1, 2, &xt)); /* (3, 8, 5), unit stride on rows */
        rx_tensor *y = make(3, (int64_t[]){3, 5, 2}, dt, 16, NULL);
        double *yv = t_values(y);
        double ref4[3 * 8 * 2];
        ref_bmm(xv, 40, 1, 8, yv, 10, 2, 1, 3, 8, 5, 2, ref4);
        CHECK_OK(rx_matmul(xt, y, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){3, 8, 2}), ref4, tol(dt), tol(dt));
        rx_tensor_release(c);

        rx_tensor_release(x), rx_tensor_release(w), rx_tensor_release(wt), rx_tensor_release(xp);
        rx_tensor_release(a2), rx_tensor_release(bb), rx_tensor_release(xt), rx_tensor_release(y);
        free(xv), free(wv), free(bbv), free(yv);
    }
}

/* Many small GEMMs (run in parallel over the batch) against the reference. */
static void test_many_small(void)
{
    double *av, *bv;
    int64_t B = 64, n = 9, k = 7, m = 11;
    rx_tensor *a = make(3, (int64_t[]){B, n, k}, RX_F64, 17, &av),
              *b = make(3, (int64_t[]){B, k, m}, RX_F64, 18, &bv);
    rx_tensor *c = NULL;
    double *ref = malloc(sizeof(double) * (size_t)(B * n * m));
    ref_bmm(av, n * k, k, 1, bv, k * m, m, 1, B, n, k, m, ref);
    CHECK_OK(rx_matmul(a, b, &c));
    CHECK_TENSOR(c, 3, ((int64_t[]){B, n, m}), ref, 1e-12, 1e-12);
    rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(c);
    free(av), free(bv), free(ref);
}

static void test_1d(void)
{
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = FLOATS[di];
        double *uv, *vv, *mv, *bv;
        rx_tensor *u = make(1, (int64_t[]){6}, dt, 19, &uv), *v = make(1, (int64_t[]){6}, dt, 20, &vv);
        rx_tensor *mat = make(2, (int64_t[]){4, 6}, dt, 21, &mv),
                  *bat = make(3, (int64_t[]){2, 6, 3}, dt, 22, &bv);
        rx_tensor *c = NULL;
        /* dot -> 0-d */
        double dot = 0;
        for (int i = 0; i < 6; i++) dot += uv[i] * vv[i];
        CHECK_OK(rx_matmul(u, v, &c));
        CHECK_TENSOR(c, 0, NULL, &dot, tol(dt), tol(dt));
        rx_tensor_release(c);
        /* matrix-vector: (4, 6) @ (6) -> (4) */
        double mvr[4];
        ref_bmm(mv, 0, 6, 1, vv, 0, 1, 0, 1, 4, 6, 1, mvr);
        CHECK_OK(rx_matmul(mat, v, &c));
        CHECK_TENSOR(c, 1, ((int64_t[]){4}), mvr, tol(dt), tol(dt));
        rx_tensor_release(c);
        /* vector-matrix: (6) @ (6, 4)^T view -> (4) */
        rx_tensor *mt;
        CHECK_OK(rx_transpose(mat, 0, 1, &mt));
        ref_bmm(uv, 0, 0, 1, mv, 0, 1, 6, 1, 1, 6, 4, mvr);
        CHECK_OK(rx_matmul(u, mt, &c));
        CHECK_TENSOR(c, 1, ((int64_t[]){4}), mvr, tol(dt), tol(dt));
        rx_tensor_release(c);
        /* vector-batch: (6) @ (2, 6, 3) -> (2, 3); batch-vector: (2, 3, 6) view @ (6) -> (2, 3) */
        double vb[6];
        ref_bmm(uv, 0, 0, 1, bv, 18, 3, 1, 2, 1, 6, 3, vb);
        CHECK_OK(rx_matmul(u, bat, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){2, 3}), vb, tol(dt), tol(dt));
        rx_tensor_release(c);
        rx_tensor *bt;
        CHECK_OK(rx_transpose(bat, 1, 2, &bt));
        ref_bmm(bv, 18, 1, 3, vv, 0, 1, 0, 2, 3, 6, 1, vb);
        CHECK_OK(rx_matmul(bt, v, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){2, 3}), vb, tol(dt), tol(dt));
        rx_tensor_release(c);
        /* contiguous (2, 3, 6) @ (6): folded into one (6, 6) @ (6, 1) product */
        rx_tensor *btc;
        CHECK_OK(rx_contiguous(bt, &btc));
        CHECK_OK(rx_matmul(btc, v, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){2, 3}), vb, tol(dt), tol(dt));
        rx_tensor_release(c), rx_tensor_release(btc);
        /* a strided vector: every other element of a (12) */
        rx_tensor *w = make(1, (int64_t[]){12}, dt, 23, NULL), *w2, *ws;
        double *wv = t_values(w);
        CHECK_OK(rx_view(w, 2, (int64_t[]){6, 2}, &w2));
        CHECK_OK(rx_select(w2, 1, 1, &ws));
        dot = 0;
        for (int i = 0; i < 6; i++) dot += wv[2 * i + 1] * vv[i];
        CHECK_OK(rx_matmul(ws, v, &c));
        CHECK_TENSOR(c, 0, NULL, &dot, tol(dt), tol(dt));
        rx_tensor_release(c);

        rx_tensor_release(u), rx_tensor_release(v), rx_tensor_release(mat), rx_tensor_release(bat);
        rx_tensor_release(mt), rx_tensor_release(bt), rx_tensor_release(w), rx_tensor_release(w2);
        rx_tensor_release(ws);
        free(uv), free(vv), free(mv), free(bv), free(wv);
    }
}

static void test_empty(void)
{
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = FLOATS[di];
        rx_tensor *c = NULL;
        /* k == 0: zeros */
        rx_tensor *a = make(2, (int64_t[]){3, 0}, dt, 0, NULL), *b = make(2, (int64_t[]){0, 4}, dt, 0, NULL);
        double zeros[12] = {0};
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){3, 4}), zeros, 0, 0);
        rx_tensor_release(c), rx_tensor_release(a), rx_tensor_release(b);
        /* batched k == 0 */
        a = make(3, (int64_t[]){2, 3, 0}, dt, 0, NULL), b = make(2, (int64_t[]){0, 2}, dt, 0, NULL);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){2, 3, 2}), zeros, 0, 0);
        rx_tensor_release(c), rx_tensor_release(a), rx_tensor_release(b);
        /* n == 0, m == 0, batch == 0, empty dot */
        a = make(2, (int64_t[]){0, 5}, dt, 0, NULL), b = make(2, (int64_t[]){5, 4}, dt, 0, NULL);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){0, 4}), zeros, 0, 0);
        rx_tensor_release(c), rx_tensor_release(a), rx_tensor_release(b);
        a = make(2, (int64_t[]){3, 5}, dt, 0, NULL), b = make(2, (int64_t[]){5, 0}, dt, 0, NULL);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){3, 0}), zeros, 0, 0);
        rx_tensor_release(c), rx_tensor_release(a), rx_tensor_release(b);
        a = make(3, (int64_t[]){0, 3, 5}, dt, 0, NULL), b = make(3, (int64_t[]){1, 5, 2}, dt, 0, NULL);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){0, 3, 2}), zeros, 0, 0);
        rx_tensor_release(c), rx_tensor_release(a), rx_tensor_release(b);
        a = make(1, (int64_t[]){0}, dt, 0, NULL), b = make(1, (int64_t[]){0}, dt, 0, NULL);
        CHECK_OK(rx_matmul(a, b, &c));
        CHECK_TENSOR(c, 0, NULL, zeros, 0, 0);
        rx_tensor_release(c), rx_tensor_release(a), rx_tensor_release(b);
    }
}

static void test_errors(void)
{
    rx_tensor *a = make(2, (int64_t[]){8, 32}, RX_F32, 0, NULL),
              *b = make(2, (int64_t[]){8, 32}, RX_F32, 0, NULL);
    rx_tensor *c = (rx_tensor *)1;
    CHECK_ERR(rx_matmul(a, b, &c), RX_ERR_SHAPE,
              "matmul: argument #2: expected shape (*, 32, m), got (8, 32)");
    CHECK(c == NULL);
    rx_tensor *v = make(1, (int64_t[]){31}, RX_F32, 0, NULL);
    CHECK_ERR(rx_matmul(a, v, &c), RX_ERR_SHAPE, "matmul: argument #2: expected shape (32), got (31)");
    CHECK_ERR(rx_matmul(v, a, &c), RX_ERR_SHAPE, "argument #2: expected shape (*, 31, m), got (8, 32)");
    rx_tensor *x = make(3, (int64_t[]){2, 4, 5}, RX_F32, 0, NULL),
              *y = make(3, (int64_t[]){3, 5, 6}, RX_F32, 0, NULL);
    CHECK_ERR(rx_matmul(x, y, &c), RX_ERR_SHAPE, "batch dims (2) of argument #1 and (3) of argument #2");
    rx_tensor *d = make(2, (int64_t[]){32, 4}, RX_F64, 0, NULL);
    CHECK_ERR(rx_matmul(a, d, &c), RX_ERR_DTYPE, "matmul: argument #1 is f32 but argument #2 is f64");
    rx_tensor *i = make(2, (int64_t[]){2, 2}, RX_I32, 0, NULL);
    CHECK_ERR(rx_matmul(i, i, &c), RX_ERR_DTYPE, "matmul: argument #1: expected a floating-point tensor");
    rx_tensor *s = make(0, NULL, RX_F32, 0, NULL);
    CHECK_ERR(rx_matmul(s, a, &c), RX_ERR_SHAPE, "matmul: argument #1: expected at least 1 dim");
    CHECK_ERR(rx_matmul(v, s, &c), RX_ERR_SHAPE, "matmul: argument #2: expected at least 1 dim");
    CHECK_ERR(rx_matmul(NULL, a, &c), RX_ERR_ARG, "matmul: argument #1: expected a tensor");
    CHECK(c == NULL);
    rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(v), rx_tensor_release(x);
    rx_tensor_release(y), rx_tensor_release(d), rx_tensor_release(i), rx_tensor_release(s);
}

/* A product large enough to use several BLAS threads, checked on a sample of entries; the
 * result must not share storage with either input and the memory stats must balance. */
static void test_large(void)
{
    int64_t n = 300, k = 257, m = 190;
    double *av, *bv;
    rx_mem_stats before, after;
    rx_mem_get_stats(RX_CPU, &before);
    rx_tensor *a = make(2, (int64_t[]){n, k}, RX_F32, 24, &av),
              *b = make(2, (int64_t[]){k, m}, RX_F32, 25, &bv);
    rx_tensor *c = NULL;
    CHECK_OK(rx_matmul(a, b, &c));
    double *cv = t_values(c);
    for (int64_t t = 0; t < 200; t++) {
        int64_t i = (t * 37) % n, j = (t * 53) % m;
        double acc = 0;
        for (int64_t q = 0; q < k; q++) acc += av[i * k + q] * bv[q * m + j];
        CHECK_CLOSE(cv[i * m + j], acc, 1e-5);
    }
    rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(c);
    rx_mem_get_stats(RX_CPU, &after);
    CHECK(after.live_tensors == before.live_tensors);
    CHECK(after.live_bytes == before.live_bytes);
    free(av), free(bv), free(cv);
}

int main(void)
{
    RUN(test_2d_contiguous);
    RUN(test_2d_transposed);
    RUN(test_2d_strided);
    RUN(test_batch_broadcast);
    RUN(test_batch_linear);
    RUN(test_many_small);
    RUN(test_1d);
    RUN(test_empty);
    RUN(test_errors);
    RUN(test_large);
    return check_finish();
}
