/* test_index.c — index_select, gather, scatter_add, cat and stack against references computed
 * here in plain C.
 *
 * Covers: i32 and i64 indices (also strided index views), dims 0 and last (and negative dims),
 * non-contiguous inputs (transposed, narrowed, expanded), every dtype for the copies,
 * duplicate indices in scatter_add (with a deterministic float sum across thread counts), a
 * scatter_add large enough to run in parallel, out-of-range and negative index errors naming
 * the argument and value, shape/dtype errors; cat/stack of views with mixed contiguity, empty
 * inputs, and errors naming the offending list position.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

static const rx_dtype ALL[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I32, RX_I64, RX_U8, RX_BOOL};

/* Small integers exact in every dtype (bool keeps v != 0); arg is unused. */
static double val(rx_dtype dt, int64_t arg, int64_t i)
{
    double v = (double)((i * 7 + 3) % 23);
    return dt == RX_BOOL ? (double)(((i * 5) % 3) == 0) : v;
}

static rx_tensor *iota(int ndim, const int64_t *shape, rx_dtype dt, double **vals)
{
    return t_gen(ndim, shape, dt, val, 0, vals);
}

static rx_tensor *index_of(int ndim, const int64_t *shape, rx_dtype dt, const int64_t *entries)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = (double)entries[i];
    rx_tensor *t = t_from(ndim, shape, dt, v);
    free(v);
    return t;
}

/* (4, 5) source, dims 0 and 1, every dtype, both index dtypes. */
static void test_index_select_basic(void)
{
    for (int di = 0; di < 8; di++)
        for (int ii = 0; ii < 2; ii++) {
            rx_dtype dt = ALL[di], it = ii ? RX_I64 : RX_I32;
            double *av;
            rx_tensor *a = iota(2, (int64_t[]){4, 5}, dt, &av), *c = NULL;
            int64_t e0[] = {3, 0, 3, 1, 2, 2};
            rx_tensor *i0 = index_of(1, (int64_t[]){6}, it, e0);
            double ref[30];
            for (int j = 0; j < 6; j++)
                for (int q = 0; q < 5; q++) ref[j * 5 + q] = av[e0[j] * 5 + q];
            CHECK_OK(rx_index_select(a, 0, i0, &c));
            CHECK_TENSOR(c, 2, ((int64_t[]){6, 5}), ref, 0, 0);
            CHECK(c && rx_tensor_dtype(c) == dt);
            rx_tensor_release(c);
            int64_t e1[] = {4, 0, 4};
            rx_tensor *i1 = index_of(1, (int64_t[]){3}, it, e1);
            for (int r = 0; r < 4; r++)
                for (int j = 0; j < 3; j++) ref[r * 3 + j] = av[r * 5 + e1[j]];
            CHECK_OK(rx_index_select(a, -1, i1, &c));
            CHECK_TENSOR(c, 2, ((int64_t[]){4, 3}), ref, 0, 0);
            rx_tensor_release(c);
            /* empty index */
            rx_tensor *ie = index_of(1, (int64_t[]){0}, it, e1);
            CHECK_OK(rx_index_select(a, 1, ie, &c));
            CHECK_TENSOR(c, 2, ((int64_t[]){4, 0}), ref, 0, 0);
            rx_tensor_release(c);
            rx_tensor_release(a), rx_tensor_release(i0), rx_tensor_release(i1), rx_tensor_release(ie);
            free(av);
        }
}

/* Non-contiguous sources (transposed 3-D, narrowed, expanded) and a strided index. */
static void test_index_select_strided(void)
{
    for (int ii = 0; ii < 2; ii++) {
        rx_dtype it = ii ? RX_I64 : RX_I32;
        double *bv;
        rx_tensor *base = iota(3, (int64_t[]){3, 4, 6}, RX_F32, &bv);
        rx_tensor *t, *c = NULL;
        CHECK_OK(rx_transpose(base, 0, 2, &t)); /* (6, 4, 3): t[i][j][k] = base[k][j][i] */
        /* index 8 entries, taken every other one from a (16) tensor: strided index view */
        int64_t raw[16] = {5, 9, 0, 9, 2, 9, 2, 9, 3, 9, 1, 9, 4, 9, 5, 9};
        rx_tensor *iraw = index_of(1, (int64_t[]){16}, it, raw), *i2, *idx;
        CHECK_OK(rx_view(iraw, 2, (int64_t[]){8, 2}, &i2));
        CHECK_OK(rx_select(i2, 1, 0, &idx));
        int64_t e[8] = {5, 0, 2, 2, 3, 1, 4, 5};
        double ref[8 * 4 * 3];
        for (int a = 0; a < 8; a++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 3; k++) ref[(a * 4 + j) * 3 + k] = bv[(k * 4 + j) * 6 + e[a]];
        CHECK_OK(rx_index_select(t, 0, idx, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){8, 4, 3}), ref, 0, 0);
        rx_tensor_release(c);
        /* dim 1 of t with a narrowed index */
        rx_tensor *in;
        CHECK_OK(rx_narrow(idx, 0, 2, 3, &in)); /* {2, 2, 3} */
        double ref1[6 * 3 * 3];
        int64_t e1[3] = {2, 2, 3};
        for (int i = 0; i < 6; i++)
            for (int a = 0; a < 3; a++)
                for (int k = 0; k < 3; k++) ref1[(i * 3 + a) * 3 + k] = bv[(k * 4 + e1[a]) * 6 + i];
        CHECK_OK(rx_index_select(t, 1, in, &c));
        CHECK_TENSOR(c, 3, ((int64_t[]){6, 3, 3}), ref1, 0, 0);
        rx_tensor_release(c);
        /* an expanded source: (1, 6) row broadcast to (5, 6), select columns */
        rx_tensor *row, *ex;
        CHECK_OK(rx_select(base, 0, 1, &row)); /* (4, 6) */
        rx_tensor *r1;
        CHECK_OK(rx_narrow(row, 0, 2, 1, &r1)); /* (1, 6) */
        CHECK_OK(rx_expand(r1, 2, (int64_t[]){5, 6}, &ex));
        double ref2[5 * 3];
        for (int r = 0; r < 5; r++)
            for (int a = 0; a < 3; a++) ref2[r * 3 + a] = bv[(1 * 4 + 2) * 6 + e1[a]];
        CHECK_OK(rx_index_select(ex, 1, in, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){5, 3}), ref2, 0, 0);
        rx_tensor_release(c);
        /* 1-D source */
        rx_tensor *v = iota(1, (int64_t[]){6}, RX_I64, NULL);
        double ref3[8];
        for (int a = 0; a < 8; a++) ref3[a] = val(RX_I64, 0, e[a]);
        CHECK_OK(rx_index_select(v, 0, idx, &c));
        CHECK_TENSOR(c, 1, ((int64_t[]){8}), ref3, 0, 0);
        rx_tensor_release(c);
        rx_tensor_release(base), rx_tensor_release(t), rx_tensor_release(iraw), rx_tensor_release(i2);
        rx_tensor_release(idx), rx_tensor_release(in), rx_tensor_release(row), rx_tensor_release(r1);
        rx_tensor_release(ex), rx_tensor_release(v);
        free(bv);
    }
}

/* An embedding-sized lookup that runs in parallel: (1000, 64) table, 3000 rows. */
static void test_index_select_large(void)
{
    double *tv;
    rx_tensor *table = iota(2, (int64_t[]){1000, 64}, RX_F32, &tv), *c = NULL;
    int64_t *e = malloc(sizeof(int64_t) * 3000);
    for (int i = 0; i < 3000; i++) e[i] = (i * 389) % 1000;
    rx_tensor *idx = index_of(1, (int64_t[]){3000}, RX_I64, e);
    double *ref = malloc(sizeof(double) * 3000 * 64);
    for (int i = 0; i < 3000; i++)
        for (int q = 0; q < 64; q++) ref[i * 64 + q] = tv[e[i] * 64 + q];
    CHECK_OK(rx_index_select(table, 0, idx, &c));
    CHECK_TENSOR(c, 2, ((int64_t[]){3000, 64}), ref, 0, 0);
    rx_tensor_release(table), rx_tensor_release(idx), rx_tensor_release(c);
    free(tv), free(e), free(ref);
}

static void test_index_errors(void)
{
    rx_tensor *a = iota(2, (int64_t[]){5, 3}, RX_F32, NULL), *c = (rx_tensor *)1;
    rx_tensor *bad = index_of(1, (int64_t[]){3}, RX_I64, (int64_t[]){0, 7, 1});
    CHECK_ERR(rx_index_select(a, 0, bad, &c), RX_ERR_ARG,
              "index_select: argument #3: index 7 out of range for dim 0 of size 5");
    CHECK(c == NULL);
    rx_tensor *neg = index_of(1, (int64_t[]){2}, RX_I32, (int64_t[]){1, -1});
    CHECK_ERR(rx_index_select(a, 0, neg, &c), RX_ERR_ARG, "index_select: argument #3: index -1 out of range");
    rx_tensor *three = index_of(1, (int64_t[]){1}, RX_I32, (int64_t[]){3});
    CHECK_ERR(rx_index_select(a, 1, three, &c), RX_ERR_ARG, "index 3 out of range for dim 1 of size 3");
    rx_tensor *fl = iota(1, (int64_t[]){2}, RX_F32, NULL);
    CHECK_ERR(rx_index_select(a, 0, fl, &c), RX_ERR_DTYPE,
              "index_select: argument #3: expected an i32 or i64");
    rx_tensor *i2 = index_of(2, (int64_t[]){1, 2}, RX_I64, (int64_t[]){0, 1});
    CHECK_ERR(rx_index_select(a, 0, i2, &c), RX_ERR_SHAPE, "index_select: argument #3: expected a 1-D index");
    CHECK_ERR(rx_index_select(a, 2, three, &c), RX_ERR_ARG, "index_select: argument #2: dim 2 out of range");
    CHECK_ERR(rx_index_select(a, 0, NULL, &c), RX_ERR_ARG, "index_select: argument #3: expected a tensor");
    /* gather / scatter_add: range, shape and dtype errors */
    rx_tensor *g = index_of(2, (int64_t[]){2, 3}, RX_I64, (int64_t[]){0, 1, 2, 3, 4, 5});
    CHECK_ERR(rx_gather(a, 0, g, &c), RX_ERR_ARG,
              "gather: argument #3: index 5 out of range for dim 0 of size 5");
    CHECK_ERR(rx_gather(a, 1, g, &c), RX_ERR_ARG,
              "gather: argument #3: index 3 out of range for dim 1 of size 3");
    rx_tensor *gw = index_of(2, (int64_t[]){2, 4}, RX_I64, (int64_t[]){0, 0, 0, 0, 0, 0, 0, 0});
    CHECK_ERR(rx_gather(a, 0, gw, &c), RX_ERR_SHAPE, "gather: argument #3: index shape (2, 4) does not fit");
    CHECK_ERR(rx_gather(a, 0, bad, &c), RX_ERR_SHAPE, "gather: argument #3: expected a 2-D index");
    rx_tensor *src = iota(2, (int64_t[]){2, 3}, RX_F32, NULL),
              *src64 = iota(2, (int64_t[]){2, 3}, RX_F64, NULL);
    rx_tensor *src4 = iota(2, (int64_t[]){2, 4}, RX_F32, NULL);
    rx_tensor *gneg = index_of(2, (int64_t[]){2, 3}, RX_I32, (int64_t[]){0, 1, 2, 0, -3, 1});
    CHECK_ERR(rx_scatter_add(a, 0, gneg, src, &c), RX_ERR_ARG,
              "scatter_add: argument #3: index -3 out of range");
    rx_tensor *gok = index_of(2, (int64_t[]){2, 3}, RX_I32, (int64_t[]){0, 1, 2, 0, 4, 1});
    CHECK_ERR(rx_scatter_add(a, 0, gok, src64, &c), RX_ERR_DTYPE,
              "scatter_add: argument #1 is f32 but argument #4 is f64");
    CHECK_ERR(rx_scatter_add(a, 0, gok, src4, &c), RX_ERR_SHAPE,
              "scatter_add: argument #4: expected the index's shape (2, 3)");
    CHECK(c == NULL);
    rx_tensor_release(a), rx_tensor_release(bad), rx_tensor_release(neg), rx_tensor_release(three);
    rx_tensor_release(fl), rx_tensor_release(i2), rx_tensor_release(g), rx_tensor_release(gw);
    rx_tensor_release(src), rx_tensor_release(src64), rx_tensor_release(src4), rx_tensor_release(gneg);
    rx_tensor_release(gok);
}

/* gather on (3, 4, 5) along each dim with a smaller index, both index dtypes, and on a
 * transposed source. */
static void test_gather(void)
{
    for (int ii = 0; ii < 2; ii++)
        for (int dim = 0; dim < 3; dim++) {
            rx_dtype it = ii ? RX_I64 : RX_I32;
            double *av;
            rx_tensor *a = iota(3, (int64_t[]){3, 4, 5}, RX_F64, &av), *c = NULL;
            int64_t ash[3] = {3, 4, 5}, ish[3] = {2, 3, 4};
            ish[dim] = 6; /* longer than a along dim: allowed */
            int64_t n = ish[0] * ish[1] * ish[2];
            int64_t e[6 * 3 * 4];
            for (int64_t i = 0; i < n; i++) e[i] = (i * 5 + 1) % ash[dim];
            rx_tensor *idx = index_of(3, ish, it, e);
            double ref[6 * 3 * 4];
            for (int64_t p = 0; p < ish[0]; p++)
                for (int64_t q = 0; q < ish[1]; q++)
                    for (int64_t r = 0; r < ish[2]; r++) {
                        int64_t i = (p * ish[1] + q) * ish[2] + r;
                        int64_t co[3] = {p, q, r};
                        co[dim] = e[i];
                        ref[i] = av[(co[0] * 4 + co[1]) * 5 + co[2]];
                    }
            CHECK_OK(rx_gather(a, dim, idx, &c));
            CHECK_TENSOR(c, 3, ish, ref, 0, 0);
            rx_tensor_release(c);
            /* same values through a transposed copy of a: at(a, dims swapped) */
            rx_tensor *at, *atc, *att;
            CHECK_OK(rx_transpose(a, 0, 2, &at));
            CHECK_OK(rx_contiguous(at, &atc));
            CHECK_OK(rx_transpose(atc, 0, 2, &att)); /* same values as a, non-contiguous */
            CHECK(!rx_tensor_is_contiguous(att));
            CHECK_OK(rx_gather(att, dim - 3, idx, &c));
            CHECK_TENSOR(c, 3, ish, ref, 0, 0);
            rx_tensor_release(c);
            rx_tensor_release(a), rx_tensor_release(idx), rx_tensor_release(at), rx_tensor_release(atc);
            rx_tensor_release(att);
            free(av);
        }
    /* every dtype on a 1-D gather */
    for (int di = 0; di < 8; di++) {
        double *av;
        rx_tensor *a = iota(1, (int64_t[]){7}, ALL[di], &av), *c = NULL;
        int64_t e[4] = {6, 0, 6, 3};
        rx_tensor *idx = index_of(1, (int64_t[]){4}, RX_I64, e);
        double ref[4] = {av[6], av[0], av[6], av[3]};
        CHECK_OK(rx_gather(a, 0, idx, &c));
        CHECK_TENSOR(c, 1, ((int64_t[]){4}), ref, 0, 0);
        rx_tensor_release(a), rx_tensor_release(idx), rx_tensor_release(c);
        free(av);
    }
}

/* scatter_add with duplicates along each dim of (3, 4), numeric dtypes, input unchanged. */
static void test_scatter_add(void)
{
    const rx_dtype dts[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I32, RX_I64, RX_U8};
    for (int di = 0; di < 7; di++)
        for (int ii = 0; ii < 2; ii++)
            for (int dim = 0; dim < 2; dim++) {
                rx_dtype dt = dts[di], it = ii ? RX_I64 : RX_I32;
                double *av, *sv;
                rx_tensor *a = iota(2, (int64_t[]){3, 4}, dt, &av), *c = NULL;
                int64_t ish[2] = {2, 3};
                ish[dim] = 5; /* more entries than a has along dim: duplicates */
                int64_t n = ish[0] * ish[1], lim = dim == 0 ? 3 : 4;
                int64_t e[15];
                for (int64_t i = 0; i < n; i++) e[i] = (i * 2 + i / 3) % lim;
                rx_tensor *idx = index_of(2, ish, it, e), *src = iota(2, ish, dt, &sv);
                double ref[12];
                memcpy(ref, av, sizeof ref);
                for (int64_t p = 0; p < ish[0]; p++)
                    for (int64_t q = 0; q < ish[1]; q++) {
                        int64_t i = p * ish[1] + q;
                        int64_t r = dim == 0 ? e[i] : p, col = dim == 0 ? q : e[i];
                        ref[r * 4 + col] += sv[i];
                    }
                if (dt == RX_U8)
                    for (int i = 0; i < 12; i++) ref[i] = (double)((int64_t)ref[i] % 256);
                CHECK_OK(rx_scatter_add(a, dim, idx, src, &c));
                CHECK_TENSOR(c, 2, ((int64_t[]){3, 4}), ref, 0, 0);
                CHECK_TENSOR(a, 2, ((int64_t[]){3, 4}), av, 0, 0);
                rx_tensor_release(c), rx_tensor_release(a), rx_tensor_release(idx), rx_tensor_release(src);
                free(av), free(sv);
            }
}

/* A transposed source and non-contiguous index/src; then a large f32 scatter with many
 * duplicates: exact order-dependent sums must match a serial reference in float and be the
 * same for 1 and several threads. */
static void test_scatter_add_strided_large(void)
{
    double *av;
    rx_tensor *a0 = iota(2, (int64_t[]){4, 3}, RX_F64, &av), *a, *c = NULL;
    CHECK_OK(rx_transpose(a0, 0, 1, &a)); /* (3, 4): a[i][j] = av[j * 3 + i] */
    int64_t e[8] = {3, 3, 0, 1, 2, 2, 3, 3};
    rx_tensor *i0 = index_of(2, (int64_t[]){4, 2}, RX_I64, e), *idx; /* transpose -> (2, 4) */
    CHECK_OK(rx_transpose(i0, 0, 1, &idx));
    rx_tensor *s0 = iota(2, (int64_t[]){4, 2}, RX_F64, NULL), *src;
    double *s0v = t_values(s0);
    CHECK_OK(rx_transpose(s0, 0, 1, &src));
    double ref[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) ref[i * 4 + j] = av[j * 3 + i];
    for (int p = 0; p < 2; p++)
        for (int q = 0; q < 4; q++) ref[p * 4 + e[q * 2 + p]] += s0v[q * 2 + p];
    CHECK_OK(rx_scatter_add(a, 1, idx, src, &c));
    CHECK_TENSOR(c, 2, ((int64_t[]){3, 4}), ref, 0, 0);
    rx_tensor_release(c), rx_tensor_release(a0), rx_tensor_release(a), rx_tensor_release(i0);
    rx_tensor_release(idx), rx_tensor_release(s0), rx_tensor_release(src);
    free(av), free(s0v);

    /* (64, 8) output, (40000, 8) updates along dim 0 into 64 rows */
    int64_t R = 40000;
    rx_tensor *z = NULL;
    CHECK_OK(rx_zeros(2, (int64_t[]){64, 8}, RX_F32, rx_cpu(), &z));
    int64_t *ei = malloc(sizeof(int64_t) * (size_t)(R * 8));
    double *sv = malloc(sizeof(double) * (size_t)(R * 8));
    for (int64_t i = 0; i < R * 8; i++) {
        ei[i] = (i * 2654435761u) % 64;
        sv[i] = 1.0 / (double)(1 + (i % 97));
    }
    rx_tensor *bi = index_of(2, (int64_t[]){R, 8}, RX_I64, ei),
              *bs = t_from(2, (int64_t[]){R, 8}, RX_F32, sv);
    float fref[64 * 8] = {0};
    for (int64_t p = 0; p < R; p++)
        for (int q = 0; q < 8; q++) fref[ei[p * 8 + q] * 8 + q] += (float)sv[p * 8 + q];
    double dref[64 * 8];
    for (int i = 0; i < 64 * 8; i++) dref[i] = fref[i];
    rx_tensor *c1 = NULL, *c2 = NULL;
    int threads = rx_get_num_threads();
    rx_set_num_threads(1);
    CHECK_OK(rx_scatter_add(z, 0, bi, bs, &c1));
    rx_set_num_threads(threads > 1 ? threads : 4);
    CHECK_OK(rx_scatter_add(z, 0, bi, bs, &c2));
    rx_set_num_threads(0);
    CHECK_TENSOR(c1, 2, ((int64_t[]){64, 8}), dref, 0, 0);
    CHECK_TENSOR(c2, 2, ((int64_t[]){64, 8}), dref, 0, 0);
    rx_tensor_release(z), rx_tensor_release(bi), rx_tensor_release(bs), rx_tensor_release(c1);
    rx_tensor_release(c2);
    free(ei), free(sv);
}

/* cat along dims 0, 1 and -1 of views with mixed contiguity, every dtype. */
static void test_cat(void)
{
    for (int di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        double *xv, *yv, *zv;
        rx_tensor *x = iota(2, (int64_t[]){2, 3}, dt, &xv);      /* contiguous (2, 3) */
        rx_tensor *y0 = iota(2, (int64_t[]){3, 4}, dt, &yv), *y; /* transposed (4, 3) */
        CHECK_OK(rx_transpose(y0, 0, 1, &y));
        rx_tensor *z0 = iota(2, (int64_t[]){5, 6}, dt, &zv), *z1, *z; /* narrowed (1, 3) */
        CHECK_OK(rx_narrow(z0, 0, 4, 1, &z1));
        CHECK_OK(rx_narrow(z1, 1, 2, 3, &z));
        rx_tensor *c = NULL;
        double ref[7 * 3];
        for (int i = 0; i < 6; i++) ref[i] = xv[i];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++) ref[6 + i * 3 + j] = yv[j * 4 + i];
        for (int j = 0; j < 3; j++) ref[18 + j] = zv[4 * 6 + 2 + j];
        CHECK_OK(rx_cat(3, (rx_tensor *[]){x, y, z}, 0, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){7, 3}), ref, 0, 0);
        rx_tensor_release(c);

        /* along the last dim: (2, 3) ++ (2, 0) ++ a transposed (4, 2) */
        rx_tensor *e = NULL, *w0 = iota(2, (int64_t[]){4, 2}, dt, NULL), *w;
        double *wv = t_values(w0);
        CHECK_OK(rx_empty(2, (int64_t[]){2, 0}, dt, rx_cpu(), &e));
        CHECK_OK(rx_transpose(w0, 0, 1, &w)); /* (2, 4) */
        double ref2[2 * 7];
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 3; j++) ref2[i * 7 + j] = xv[i * 3 + j];
            for (int j = 0; j < 4; j++) ref2[i * 7 + 3 + j] = wv[j * 2 + i];
        }
        CHECK_OK(rx_cat(3, (rx_tensor *[]){x, e, w}, -1, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){2, 7}), ref2, 0, 0);
        rx_tensor_release(c);
        /* a single tensor: a copy */
        double ref3[2 * 4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) ref3[i * 4 + j] = wv[j * 2 + i];
        CHECK_OK(rx_cat(1, (rx_tensor *[]){w}, 1, &c));
        CHECK_TENSOR(c, 2, ((int64_t[]){2, 4}), ref3, 0, 0);
        CHECK(c && !rx_tensor_shares_storage(c, w));
        rx_tensor_release(c);
        rx_tensor_release(x), rx_tensor_release(y0), rx_tensor_release(y), rx_tensor_release(z0);
        rx_tensor_release(z1), rx_tensor_release(z), rx_tensor_release(e), rx_tensor_release(w0);
        rx_tensor_release(w);
        free(xv), free(yv), free(zv), free(wv);
    }
}

static void test_cat_errors(void)
{
    rx_tensor *a = iota(2, (int64_t[]){2, 3}, RX_F32, NULL), *b = iota(2, (int64_t[]){2, 4}, RX_F32, NULL);
    rx_tensor *d = iota(2, (int64_t[]){2, 3}, RX_F64, NULL), *v = iota(1, (int64_t[]){3}, RX_F32, NULL);
    rx_tensor *s = iota(0, NULL, RX_F32, NULL), *c = (rx_tensor *)1;
    CHECK_ERR(rx_cat(3, (rx_tensor *[]){a, a, b}, 0, &c), RX_ERR_SHAPE,
              "cat: argument #3: expected the sizes of argument #1 (2, 3) in every dim but 0, got (2, 4)");
    CHECK(c == NULL);
    CHECK_ERR(rx_cat(2, (rx_tensor *[]){a, d}, 0, &c), RX_ERR_DTYPE,
              "cat: argument #1 is f32 but argument #2 is f64");
    CHECK_ERR(rx_cat(2, (rx_tensor *[]){a, v}, 0, &c), RX_ERR_SHAPE, "cat: argument #2: expected the sizes");
    CHECK_ERR(rx_cat(2, (rx_tensor *[]){a, a}, 2, &c), RX_ERR_ARG, "cat: dim 2 out of range for 2-D tensors");
    CHECK_ERR(rx_cat(0, (rx_tensor *[]){a}, 0, &c), RX_ERR_ARG, "cat: expected at least one tensor");
    CHECK_ERR(rx_cat(2, (rx_tensor *[]){a, NULL}, 0, &c), RX_ERR_ARG, "cat: argument #2: expected a tensor");
    CHECK_ERR(rx_cat(2, (rx_tensor *[]){s, s}, 0, &c), RX_ERR_SHAPE, "cat: argument #1: a scalar");
    CHECK_ERR(rx_stack(2, (rx_tensor *[]){a, b}, 0, &c), RX_ERR_SHAPE,
              "stack: argument #2: expected the shape (2, 3) of argument #1, got (2, 4)");
    CHECK_ERR(rx_stack(2, (rx_tensor *[]){a, a}, 3, &c), RX_ERR_ARG, "stack: dim 3 out of range");
    CHECK_ERR(rx_stack(2, (rx_tensor *[]){a, d}, 0, &c), RX_ERR_DTYPE,
              "stack: argument #1 is f32 but argument #2 is f64");
    CHECK(c == NULL);
    rx_tensor_release(a), rx_tensor_release(b), rx_tensor_release(d), rx_tensor_release(v),
        rx_tensor_release(s);
}

/* stack of a contiguous, a transposed and an expanded (2, 3) at dims 0, 1, 2 and -1; and of
 * scalars. */
static void test_stack(void)
{
    double *xv, *yv;
    rx_tensor *x = iota(2, (int64_t[]){2, 3}, RX_F32, &xv), *y0 = iota(2, (int64_t[]){3, 2}, RX_F32, &yv), *y;
    CHECK_OK(rx_transpose(y0, 0, 1, &y));
    rx_tensor *r, *z;
    CHECK_OK(rx_narrow(x, 0, 1, 1, &r));
    CHECK_OK(rx_expand(r, 2, (int64_t[]){2, 3}, &z));
    double src[3][6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            src[0][i * 3 + j] = xv[i * 3 + j];
            src[1][i * 3 + j] = yv[j * 2 + i];
            src[2][i * 3 + j] = xv[3 + j];
        }
    for (int dim = 0; dim < 4; dim++) {
        int d = dim == 3 ? 2 : dim;
        int64_t shape[3] = {2, 3, 3}; /* (2, 3 stacked, 3) and (2, 3, 3 stacked) */
        if (d == 0) shape[0] = 3, shape[1] = 2;
        double ref[18];
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++) {
                    int64_t co[3] = {i, j, 0};
                    if (d == 0) co[0] = k, co[1] = i, co[2] = j;
                    if (d == 1) co[0] = i, co[1] = k, co[2] = j;
                    if (d == 2) co[0] = i, co[1] = j, co[2] = k;
                    ref[(co[0] * shape[1] + co[1]) * shape[2] + co[2]] = src[k][i * 3 + j];
                }
        rx_tensor *c = NULL;
        CHECK_OK(rx_stack(3, (rx_tensor *[]){x, y, z}, dim == 3 ? -1 : dim, &c));
        CHECK_TENSOR(c, 3, shape, ref, 0, 0);
        rx_tensor_release(c);
    }
    rx_tensor *s1 = iota(0, NULL, RX_I64, NULL), *c = NULL;
    double sref[2] = {val(RX_I64, 0, 0), val(RX_I64, 0, 0)};
    CHECK_OK(rx_stack(2, (rx_tensor *[]){s1, s1}, 0, &c));
    CHECK_TENSOR(c, 1, ((int64_t[]){2}), sref, 0, 0);
    rx_tensor_release(c), rx_tensor_release(s1);
    rx_tensor_release(x), rx_tensor_release(y0), rx_tensor_release(y), rx_tensor_release(r),
        rx_tensor_release(z);
    free(xv), free(yv);
}

int main(void)
{
    RUN(test_index_select_basic);
    RUN(test_index_select_strided);
    RUN(test_index_select_large);
    RUN(test_index_errors);
    RUN(test_gather);
    RUN(test_scatter_add);
    RUN(test_scatter_add_strided_large);
    RUN(test_cat);
    RUN(test_cat_errors);
    RUN(test_stack);
    return check_finish();
}
