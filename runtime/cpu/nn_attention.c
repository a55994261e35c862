/* nn_attention.c — CPU scaled dot-product attention with grouped-query heads, forward and
 * backward.
 *
 * Owns: the per-head algorithm and the CPU's attention statistic, the probabilities (B, H, T, S)
 * (attention_stat_shape). Forward, for each (batch, head) pair and each block of ROW_BLOCK query
 * rows: scores = scale q k^T by one GEMM written straight into the saved probabilities, masks and
 * a stable softmax row by row, dropout from Philox counters, then out = P v by a second GEMM.
 * The dropout words of a block of rows are consecutive counters, drawn together by the vectorised
 * generator of philox_vec.h (the backward draws a head's once and uses them for both products).
 * Backward, from the saved probabilities P (before dropout) and the regenerated dropout mask m
 * (keep / (1 - p), or 0):
 *     dPd = g v^T,  dv = (P m)^T g,  dP = dPd m,  dS = P (dP - rowsum(P dP)),
 *     dq = scale dS k,  dk = scale dS^T q,
 * dPd, dS and dq by blocks of query rows, dv and dk by blocks of ROW_BLOCK keys. With a causal
 * mask a block of queries multiplies only the keys its last row sees, and a block of keys only
 * the queries that see its first key, so the GEMMs skip the fully masked tiles (about half the
 * work when T = S). k (forward) and v (backward) are first copied transposed, (D, S), so that
 * those GEMMs take both operands untransposed, which OpenBLAS runs faster at these sizes. Masked
 * keys have P = 0, so they get no gradient, and rows without a visible key are zeros with zero
 * gradients.
 *
 * Parallelism and determinism: the forward runs the (batch, head) pairs in parallel, the backward
 * the (batch, key/value head) pairs, each pair on one thread with single-threaded GEMMs, whenever
 * there are at least as many pairs as threads (or each GEMM is small); otherwise the pairs run one
 * after the other with OpenBLAS's own threads. In the backward the H/G query heads of a key/value
 * head run in increasing order and their dk and dv terms accumulate into the result in that order
 * (GEMMs with beta = 1), so every value is computed in a fixed order whatever the thread count.
 *
 * Precision: f32 and f64 run in their own precision through sgemm/dgemm; the f32 row work
 * (softmax with the vectorised exp of vexp.h, the row sums of the backward) stays in f32 with f32
 * accumulation, f64 in double. f16/bf16 operands are converted to f32 copies first and the
 * results rounded back.
 */
#include "cpu_kernels.h"
#include "philox_vec.h"
#include "strided.h"
#include "vexp.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Query rows of a forward / backward GEMM block, and keys of a backward dk / dv block. */
#define ROW_BLOCK 32

/* Per-head GEMMs of at most this many multiply-adds run on one OpenMP thread each (OpenBLAS's
 * own threading starts near 65536 * 4). */
#define SMALL_HEAD_GEMM 262144

typedef struct attn_dims {
    int64_t b, h, g, t, s, d;
} attn_dims;

/* A (B, heads, rows, D) operand: element (b, h, r, j) at data + (b sb + h sh + r sr + j) elements
 * of the compute dtype (f32 or f64). */
typedef struct heads {
    const char *data;
    int64_t sb, sh, sr;
} heads;

typedef struct dropout_cfg {
    double p;
    uint64_t seed, offset;
    uint32_t thr; /* element i is dropped when (word i >> 8) < thr (rx_cpu_bernoulli_threshold(p)) */
} dropout_cfg;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The leading dimension of a (rows, d) matrix of x for BLAS. */
static int64_t ld_of(const heads *x, int64_t rows, int64_t d) { return max64(rows > 1 ? x->sr : d, 1); }

static const char *head_ptr(const heads *x, int64_t b, int64_t h, int64_t es)
{
    return x->data + (b * x->sb + h * x->sh) * es;
}

/* C (m, n) = alpha op(A) op(B) + beta C (beta 0 or 1: C is not read when 0), row-major, in f32 or
 * f64. */
static void gemm(bool f64, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
                 int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc)
{
    if (m == 0 || n == 0) return;
    size_t es = f64 ? sizeof(double) : sizeof(float);
    if (k == 0) {
        for (int64_t i = 0; i < m && beta == 0.0; i++) memset((char *)c + (size_t)(i * ldc) * es, 0, (size_t)n * es);
        return;
    }
    enum CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
    if (f64)
        cblas_dgemm(CblasRowMajor, tra, trb, (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b,
                    (blasint)ldb, beta, c, (blasint)ldc);
    else
        cblas_sgemm(CblasRowMajor, tra, trb, (blasint)m, (blasint)n, (blasint)k, (float)alpha, a,
                    (blasint)lda, b, (blasint)ldb, (float)beta, c, (blasint)ldc);
}

/* dst (cols, rows) contiguous = the transpose of the (rows, cols) matrix at src with row stride ld,
 * in f32 or f64. */
static void transpose(bool f64, const char *src, int64_t ld, int64_t rows, int64_t cols, char *dst)
{
    if (f64) {
        const double *x = (const double *)src;
        double *y = (double *)dst;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) y[c * rows + r] = x[r * ld + c];
    } else {
        const float *x = (const float *)src;
        float *y = (float *)dst;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) y[c * rows + r] = x[r * ld + c];
    }
}

/* The Philox words of rows t0 .. t0 + rows - 1 of head bh = b H + h, (rows, S) row-major into w:
 * element (t, s) uses counter offset + (bh T + t) S + s. */
static void drop_words(const dropout_cfg *dp, const attn_dims *dm, int64_t bh, int64_t t0, int64_t rows,
                       uint32_t *w)
{
    rx_cpu_philox_words(dp->seed, dp->offset + (uint64_t)((bh * dm->t + t0) * dm->s), rows * dm->s, w, NULL);
}

/* True when the element with word w survives dropout. */
static bool kept(const dropout_cfg *dp, uint32_t w) { return (w >> 8) >= dp->thr; }

/* A contiguous f32 copy of a 4-D f16/bf16 tensor, viewed as heads; NULL when out of memory. */
static float *to_f32(const rx_tensor *t, heads *out)
{
    int64_t n = rx_tensor_numel(t);
    float *buf = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!buf) return NULL;
    const int64_t *sh = t->shape, *st = t->stride;
    const char *src = rx_tensor_bytes(t);
    int64_t rows = sh[0] * sh[1] * sh[2];
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i2 = r % sh[2], i1 = (r / sh[2]) % sh[1], i0 = r / (sh[2] * sh[1]);
        int64_t off = i0 * st[0] + i1 * st[1] + i2 * st[2];
        for (int64_t j = 0; j < sh[3]; j++)
            buf[r * sh[3] + j] = (float)rx_nn_ld(src, off + j * st[3], t->dtype);
    }
    out->data = (const char *)buf;
    out->sr = sh[3];
    out->sh = sh[2] * sh[3];
    out->sb = sh[1] * sh[2] * sh[3];
    return buf;
}

static heads heads_of(const rx_tensor *t)
{
    heads h = {rx_tensor_bytes(t), t->stride[0], t->stride[1], t->stride[2]};
    return h;
}

/* Rounds n f32 values into a f16/bf16 tensor's contiguous storage. */
static void from_f32(rx_tensor *dst, const float *src, int64_t n)
{
    char *p = rx_tensor_bytes(dst);
#pragma omp parallel for schedule(static) if (n >= RX_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) rx_nn_st(p, i, dst->dtype, src[i]);
}

static bool fits_blas(const attn_dims *dm, const heads *const *ops, int nops)
{
    if (dm->t > INT_MAX || dm->s > INT_MAX || dm->d > INT_MAX) return false;
    for (int i = 0; i < nops; i++)
        if (ops[i] && ops[i]->sr > INT_MAX) return false;
    return true;
}

/* The keys 0 .. n-1 that query t may see under the causal mask (all S without it). */
static int64_t visible_keys(const attn_dims *dm, int causal, int64_t t)
{
    if (!causal) return dm->s;
    int64_t n = t + dm->s - dm->t + 1;
    return n < 0 ? 0 : n > dm->s ? dm->s : n;
}

/* The first query that sees key s under the causal mask (0 without it). */
static int64_t first_query(const attn_dims *dm, int causal, int64_t s)
{
    if (!causal) return 0;
    int64_t t = s - dm->s + dm->t;
    return t < 0 ? 0 : t > dm->t ? dm->t : t;
}

/* ---- forward ---------------------------------------------------------------------------------- */

typedef struct fwd_args {
    attn_dims dm;
    bool f64;
    heads q, k, v;
    char *out;                  /* (B, H, T, D) contiguous, compute dtype */
    char *probs;                /* (B, H, T, S) contiguous, compute dtype */
    const uint8_t *key_padding; /* (B, S) or NULL */
    const rx_tensor *mask;      /* (B, H, T, S) strided view, or NULL */
    int causal;
    double scale;
    dropout_cfg drop;
} fwd_args;

/* Adds the mask of row t of head (b, h) to the n scores of row and sets keys hidden by key_padding
 * to -inf (a softmax gives them 0). */
static void mask_row(const fwd_args *a, int64_t b, int64_t h, int64_t t, char *row, int64_t n)
{
    const attn_dims *dm = &a->dm;
    rx_dtype cdt = a->f64 ? RX_F64 : RX_F32;
    const uint8_t *kp = a->key_padding ? a->key_padding + b * dm->s : NULL;
    const char *mp = NULL;
    int64_t ms = 0;
    rx_dtype mdt = RX_F32;
    if (a->mask) {
        const rx_tensor *m = a->mask;
        mdt = m->dtype;
        mp = rx_tensor_bytes(m) + (b * m->stride[0] + h * m->stride[1] + t * m->stride[2]) * rx_dtype_size(mdt);
        ms = m->stride[3];
    }
    for (int64_t s = 0; s < n; s++) {
        double v = kp && !kp[s] ? -INFINITY : rx_nn_ld(row, s, cdt) + (mp ? rx_nn_ld(mp, s * ms, mdt) : 0.0);
        rx_nn_st(row, s, cdt, v);
    }
}

/* Entries a vectorised row loop handles without a scalar remainder (a multiple of 16 floats, the
 * widest vector). */
#define VEC_PAD 16

/* Softmax in place of the first n (visible) scores of an f32 row of S; the rest of the row becomes
 * 0, and so does all of it when no score is above -inf. The loops run to n rounded up to VEC_PAD
 * (at most S) over -inf padding, whose exp is 0: a scalar remainder of a short row costs more
 * than the vector work. */
RX_VEC_CLONES static void softmax_row_f32(float *row, int64_t n, int64_t S)
{
    int64_t np = (n + VEC_PAD - 1) / VEC_PAD * VEC_PAD;
    np = np < S ? np : S;
    for (int64_t s = n; s < np; s++) row[s] = -INFINITY;
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t s = 0; s < np; s++) mx = row[s] > mx ? row[s] : mx;
    if (mx == -INFINITY) np = 0;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t s = 0; s < np; s++) {
        float e = rx_vexpf(row[s] - mx);
        row[s] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t s = 0; s < np; s++) row[s] *= inv;
    memset(row + np, 0, sizeof(float) * (size_t)(S - np));
}

/* The same in f64. */
static void softmax_row_f64(double *row, int64_t n, int64_t S)
{
    double mx = -INFINITY;
    for (int64_t s = 0; s < n; s++) mx = row[s] > mx ? row[s] : mx;
    if (mx == -INFINITY) n = 0;
    double sum = 0.0;
    for (int64_t s = 0; s < n; s++) sum += (row[s] = exp(row[s] - mx));
    double inv = 1.0 / sum;
    for (int64_t s = 0; s < n; s++) row[s] *= inv;
    memset(row + n, 0, sizeof(double) * (size_t)(S - n));
}

/* Scratch of one forward pair: k^T (D, S), then with dropout the kept probabilities of a block
 * (ROW_BLOCK, S) and the block's dropout words (ROW_BLOCK, S) uint32. */
static int64_t forward_scratch(const attn_dims *dm, bool f64, bool drop)
{
    int64_t rows = dm->t < ROW_BLOCK ? dm->t : ROW_BLOCK;
    return (dm->d * dm->s + (drop ? rows * dm->s : 0)) * (f64 ? 8 : 4) + (drop ? rows * dm->s * 4 : 0);
}

static void forward_head(const void *args, int64_t bh, char *scratch)
{
    const fwd_args *a = args;
    const attn_dims *dm = &a->dm;
    int64_t b = bh / dm->h, h = bh % dm->h, gi = h / (dm->h / dm->g);
    int64_t es = a->f64 ? 8 : 4, lds = max64(dm->s, 1), ldd = max64(dm->d, 1);
    rx_dtype cdt = a->f64 ? RX_F64 : RX_F32;
    const char *qp = head_ptr(&a->q, b, h, es), *vp = head_ptr(&a->v, b, gi, es);
    int64_t ldq = ld_of(&a->q, dm->t, dm->d), ldv = ld_of(&a->v, dm->s, dm->d);
    char *p = a->probs + bh * dm->t * dm->s * es, *o = a->out + bh * dm->t * dm->d * es;
    int64_t block_rows = dm->t < ROW_BLOCK ? dm->t : ROW_BLOCK;
    char *kt = scratch, *kept_p = scratch + dm->d * dm->s * es;
    uint32_t *words = (uint32_t *)(kept_p + block_rows * dm->s * es);
    transpose(a->f64, head_ptr(&a->k, b, gi, es), ld_of(&a->k, dm->s, dm->d), dm->s, dm->d, kt);
    double keep_scale = a->drop.p > 0 ? 1.0 / (1.0 - a->drop.p) : 1.0;
    for (int64_t t0 = 0; t0 < dm->t; t0 += ROW_BLOCK) {
        int64_t t1 = t0 + ROW_BLOCK < dm->t ? t0 + ROW_BLOCK : dm->t, rows = t1 - t0;
        int64_t nk = visible_keys(dm, a->causal, t1 - 1); /* keys the block's last row sees */
        char *pb = p + t0 * dm->s * es;
        gemm(a->f64, false, false, rows, nk, dm->d, a->scale, qp + t0 * ldq * es, ldq, kt, lds, 0.0, pb, lds);
        for (int64_t t = t0; t < t1; t++) {
            char *row = p + t * dm->s * es;
            int64_t n = visible_keys(dm, a->causal, t);
            if (a->mask || a->key_padding) mask_row(a, b, h, t, row, n);
            if (a->f64)
                softmax_row_f64((double *)row, n, dm->s);
            else
                softmax_row_f32((float *)row, n, dm->s);
        }
        const char *pd = pb;
        if (a->drop.p > 0) { /* the kept probabilities of the block */
            drop_words(&a->drop, dm, bh, t0, rows, words);
            if (a->f64) {
                for (int64_t t = t0; t < t1; t++)
                    for (int64_t s = 0; s < nk; s++) {
                        int64_t i = (t - t0) * dm->s + s;
                        double v = rx_nn_ld(pb, i, cdt);
                        rx_nn_st(kept_p, i, cdt, kept(&a->drop, words[i]) ? v * keep_scale : 0.0);
                    }
            } else { /* whole rows: softmax_row_f32 wrote every entry of them */
                rx_cpu_dropout_apply_f32((float *)kept_p, (const float *)pb, words, rows * dm->s, a->drop.thr,
                                         keep_scale);
            }
            pd = kept_p;
        }
        gemm(a->f64, false, false, rows, dm->d, nk, 1.0, pd, lds, vp, ldv, 0.0, o + t0 * dm->d * es, ldd);
    }
}

/* Whether npairs work items (per-head GEMMs of T x S x D) run in parallel: when there are enough
 * of them for every thread, or when each GEMM is small enough that OpenBLAS would run it on one
 * thread anyway. */
static bool pairs_in_parallel(const attn_dims *dm, int64_t npairs)
{
#ifdef _OPENMP
    return npairs > 1 && (npairs >= omp_get_max_threads() || dm->t * dm->s * max64(dm->d, 1) <= SMALL_HEAD_GEMM);
#else
    (void)dm, (void)npairs;
    return false;
#endif
}

/* Runs fn(args, i, scratch) for every work item i < n, in parallel when par (items handed out one
 * at a time, so a core slowed by other work takes fewer), each thread with its own scratch of
 * scratch_bytes (never NULL); false when a scratch could not be allocated. Without par no parallel
 * region is opened at all: inside even an inactive one (`if (0)`), OpenBLAS's OpenMP build does not
 * see that it is nested and starts a fresh team of threads for every GEMM. */
static bool run_pairs(bool par, int64_t n, int64_t scratch_bytes, void (*fn)(const void *, int64_t, char *),
                      const void *args)
{
    size_t bytes = (size_t)scratch_bytes + 64;
    if (!par) {
        char *scratch = malloc(bytes);
        if (!scratch) return false;
        for (int64_t i = 0; i < n; i++) fn(args, i, scratch);
        free(scratch);
        return true;
    }
    int failed = 0;
#pragma omp parallel
    {
        char *scratch = malloc(bytes);
        if (!scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++)
            if (scratch) fn(args, i, scratch);
        free(scratch);
    }
    return !failed;
}

void rx_cpu_attention_stat_shape(int64_t B, int64_t H, int64_t T, int64_t S, int *ndim, int64_t *shape)
{
    *ndim = 4;
    shape[0] = B, shape[1] = H, shape[2] = T, shape[3] = S;
}

rx_status rx_cpu_attention(rx_tensor *out, rx_tensor *stat, const rx_tensor *q, const rx_tensor *k,
                           const rx_tensor *v, const rx_tensor *key_padding, const rx_tensor *mask,
                           int causal, double scale, double dropout_p, uint64_t seed, uint64_t offset)
{
    rx_tensor *probs = stat; /* the CPU's statistic is the probabilities (B, H, T, S) */
    fwd_args a = {
        .dm = {q->shape[0], q->shape[1], k->shape[1], q->shape[2], k->shape[2], q->shape[3]},
        .f64 = q->dtype == RX_F64,
        .probs = rx_tensor_bytes(probs),
        .key_padding = key_padding ? (const uint8_t *)rx_tensor_bytes(key_padding) : NULL,
        .mask = mask,
        .causal = causal,
        .scale = scale,
        .drop = {dropout_p, seed, offset, rx_cpu_bernoulli_threshold(dropout_p)},
    };
    const attn_dims *dm = &a.dm;
    bool half = q->dtype == RX_F16 || q->dtype == RX_BF16;
    float *tq = NULL, *tk = NULL, *tv = NULL, *tout = NULL;
    if (half) {
        int64_t on = rx_tensor_numel(out);
        tq = to_f32(q, &a.q);
        tk = to_f32(k, &a.k);
        tv = to_f32(v, &a.v);
        tout = malloc(sizeof(float) * (size_t)(on ? on : 1));
        a.out = (char *)tout;
    } else {
        a.q = heads_of(q), a.k = heads_of(k), a.v = heads_of(v);
        a.out = rx_tensor_bytes(out);
    }
    rx_status s = RX_OK;
    const heads *ops[3] = {&a.q, &a.k, &a.v};
    if (half && (!tq || !tk || !tv || !tout)) {
        s = rx_fail(RX_ERR_NOMEM, "cpu attention: out of host memory for f32 copies of the operands");
    } else if (!fits_blas(dm, ops, 3)) {
        s = rx_fail(RX_ERR_UNSUPPORTED, "cpu attention: sizes and strides must be below 2^31 for BLAS");
    } else {
        int64_t nbh = dm->b * dm->h;
        int64_t scratch = forward_scratch(dm, a.f64, dropout_p > 0);
        if (!run_pairs(pairs_in_parallel(dm, nbh), nbh, scratch, forward_head, &a))
            s = rx_fail(RX_ERR_NOMEM, "cpu attention: out of host memory for a (%lld, %lld) scratch",
                        (long long)dm->t, (long long)dm->s);
        if (s == RX_OK && half) from_f32(out, tout, rx_tensor_numel(out));
    }
    free(tq);
    free(tk);
    free(tv);
    free(tout);
    return s;
}

/* ---- backward --------------------------------------------------------------------------------- */

typedef struct bwd_args {
    attn_dims dm;
    bool f64;
    heads g, q, k, v;
    const char *probs; /* (B, H, T, S) compute dtype */
    char *dq;          /* (B, H, T, D) compute dtype, or NULL */
    char *dk, *dv;     /* (B, G, S, D) compute dtype, or NULL */
    int causal;        /* only to skip the tiles that P's zeros make zero */
    double scale;
    dropout_cfg drop;
} bwd_args;

/* dS = P (dP - rowsum(P dP)) in place of the first n entries of an f32 row d = dP of S; the rest
 * of the row becomes 0 (P is 0 there). */
RX_VEC_CLONES static void dscore_row_f32(float *d, const float *p, int64_t n, int64_t S)
{
    float r = 0.0f;
#pragma omp simd reduction(+ : r)
    for (int64_t s = 0; s < n; s++) r += p[s] * d[s];
#pragma omp simd
    for (int64_t s = 0; s < n; s++) d[s] = p[s] * (d[s] - r);
    memset(d + n, 0, sizeof(float) * (size_t)(S - n));
}

/* The same in f64. */
static void dscore_row_f64(double *d, const double *p, int64_t n, int64_t S)
{
    double r = 0.0;
    for (int64_t s = 0; s < n; s++) r += p[s] * d[s];
    for (int64_t s = 0; s < n; s++) d[s] = p[s] * (d[s] - r);
    memset(d + n, 0, sizeof(double) * (size_t)(S - n));
}

/* Scratch of one backward pair: dP (T, S), v^T (D, S), then with dropout the kept probabilities
 * P m (T, S) and the head's dropout words (T, S) uint32. */
static int64_t backward_scratch(const attn_dims *dm, bool f64, bool drop)
{
    return (dm->t * dm->s * (drop ? 2 : 1) + dm->d * dm->s) * (f64 ? 8 : 4) + (drop ? dm->t * dm->s * 4 : 0);
}

/* Query head h of work item bg = (batch, key/value head); first: the group's first head, whose dk
 * and dv terms overwrite (beta 0) where the later ones accumulate (beta 1). */
static void backward_head(const bwd_args *a, int64_t bg, int64_t h, bool first, char *scratch)
{
    const attn_dims *dm = &a->dm;
    int64_t b = bg / dm->g, gi = bg % dm->g, bh = b * dm->h + h;
    int64_t es = a->f64 ? 8 : 4, ts = dm->t * dm->s, lds = max64(dm->s, 1), ldd = max64(dm->d, 1);
    rx_dtype cdt = a->f64 ? RX_F64 : RX_F32;
    const char *gp = head_ptr(&a->g, b, h, es), *qp = head_ptr(&a->q, b, h, es), *kp = head_ptr(&a->k, b, gi, es);
    int64_t ldg = ld_of(&a->g, dm->t, dm->d), ldq = ld_of(&a->q, dm->t, dm->d), ldk = ld_of(&a->k, dm->s, dm->d);
    const char *p = a->probs + bh * ts * es;
    char *dp = scratch, *vt = scratch + ts * es, *pd = vt + dm->d * dm->s * es;
    uint32_t *words = (uint32_t *)(pd + ts * es);
    double beta = first ? 0.0 : 1.0;
    bool drop = a->drop.p > 0;
    double keep_scale = drop ? 1.0 / (1.0 - a->drop.p) : 1.0;
    if (drop) {
        drop_words(&a->drop, dm, bh, 0, dm->t, words);
        if (a->f64)
            for (int64_t i = 0; i < ts; i++)
                rx_nn_st(pd, i, cdt, kept(&a->drop, words[i]) ? rx_nn_ld(p, i, cdt) * keep_scale : 0.0);
        else
            rx_cpu_dropout_apply_f32((float *)pd, (const float *)p, words, ts, a->drop.thr, keep_scale);
    }
    char *dvg = a->dv ? a->dv + bg * dm->s * dm->d * es : NULL;
    char *dkg = a->dk ? a->dk + bg * dm->s * dm->d * es : NULL;
    for (int64_t s0 = 0; dvg && s0 < dm->s; s0 += ROW_BLOCK) { /* dv += (P m)^T g, by blocks of keys */
        int64_t s1 = s0 + ROW_BLOCK < dm->s ? s0 + ROW_BLOCK : dm->s, t0 = first_query(dm, a->causal, s0);
        gemm(a->f64, true, false, s1 - s0, dm->d, dm->t - t0, 1.0, (drop ? pd : p) + (t0 * dm->s + s0) * es, lds,
             gp + t0 * ldg * es, ldg, beta, dvg + s0 * dm->d * es, ldd);
    }
    if (!a->dq && !dkg) return;
    for (int64_t t0 = 0; t0 < dm->t; t0 += ROW_BLOCK) { /* dS and dq by blocks of queries */
        int64_t t1 = t0 + ROW_BLOCK < dm->t ? t0 + ROW_BLOCK : dm->t, rows = t1 - t0;
        int64_t nk = visible_keys(dm, a->causal, t1 - 1);
        char *db = dp + t0 * dm->s * es;
        gemm(a->f64, false, false, rows, nk, dm->d, 1.0, gp + t0 * ldg * es, ldg, vt, lds, 0.0, db, lds); /* g v^T */
        for (int64_t t = t0; t < t1; t++) {
            char *drow = dp + t * dm->s * es;
            const char *prow = p + t * dm->s * es;
            if (drop && !a->f64) /* dP = dPd m */
                rx_cpu_dropout_apply_f32((float *)drow, (const float *)drow, words + t * dm->s, nk, a->drop.thr,
                                         keep_scale);
            else if (drop)
                for (int64_t s = 0; s < nk; s++)
                    rx_nn_st(drow, s, cdt,
                             kept(&a->drop, words[t * dm->s + s]) ? rx_nn_ld(drow, s, cdt) * keep_scale : 0.0);
            if (a->f64)
                dscore_row_f64((double *)drow, (const double *)prow, nk, dm->s);
            else
                dscore_row_f32((float *)drow, (const float *)prow, nk, dm->s);
        }
        if (a->dq)
            gemm(a->f64, false, false, rows, dm->d, nk, a->scale, db, lds, kp, ldk, 0.0,
                 a->dq + (bh * dm->t + t0) * dm->d * es, ldd);
    }
    for (int64_t s0 = 0; dkg && s0 < dm->s; s0 += ROW_BLOCK) { /* dk += scale dS^T q, by blocks of keys */
        int64_t s1 = s0 + ROW_BLOCK < dm->s ? s0 + ROW_BLOCK : dm->s, t0 = first_query(dm, a->causal, s0);
        gemm(a->f64, true, false, s1 - s0, dm->d, dm->t - t0, a->scale, dp + (t0 * dm->s + s0) * es, lds,
             qp + t0 * ldq * es, ldq, beta, dkg + s0 * dm->d * es, ldd);
    }
}

/* Work item bg = (batch, key/value head): its query heads in increasing order. */
static void backward_group(const void *args, int64_t bg, char *scratch)
{
    const bwd_args *a = args;
    const attn_dims *dm = &a->dm;
    int64_t per = dm->h / dm->g, b = bg / dm->g, gi = bg % dm->g, es = a->f64 ? 8 : 4;
    char *vt = scratch + dm->t * dm->s * es;
    transpose(a->f64, head_ptr(&a->v, b, gi, es), ld_of(&a->v, dm->s, dm->d), dm->s, dm->d, vt);
    for (int64_t j = 0; j < per; j++) backward_head(a, bg, gi * per + j, j == 0, scratch);
}

rx_status rx_cpu_attention_bwd(rx_tensor *dq, rx_tensor *dk, rx_tensor *dv, const rx_tensor *g,
                               const rx_tensor *q, const rx_tensor *k, const rx_tensor *v,
                               const rx_tensor *out, const rx_tensor *stat, const rx_tensor *key_padding,
                               const rx_tensor *mask, int causal, double scale, double dropout_p,
                               uint64_t seed, uint64_t offset)
{
    /* the saved probabilities already hold the masks, so out, key_padding and mask go unused (causal
     * only tells which tiles of P are all zeros) */
    const rx_tensor *probs = stat;
    bwd_args a = {
        .dm = {q->shape[0], q->shape[1], k->shape[1], q->shape[2], k->shape[2], q->shape[3]},
        .f64 = q->dtype == RX_F64,
        .probs = rx_tensor_bytes(probs),
        .causal = causal,
        .scale = scale,
        .drop = {dropout_p, seed, offset, rx_cpu_bernoulli_threshold(dropout_p)},
    };
    const attn_dims *dm = &a.dm;
    bool half = q->dtype == RX_F16 || q->dtype == RX_BF16;
    float *tg = NULL, *tq = NULL, *tk = NULL, *tv = NULL, *dqb = NULL, *dkb = NULL, *dvb = NULL;
    bool nomem = false;
    if (half) { /* f32 copies in, f32 results rounded back at the end */
        tg = to_f32(g, &a.g);
        tq = to_f32(q, &a.q);
        tk = to_f32(k, &a.k);
        tv = to_f32(v, &a.v);
        nomem = !tg || !tq || !tk || !tv;
        if (dq) nomem |= !(dqb = malloc(sizeof(float) * (size_t)(rx_tensor_numel(dq) + 1)));
        if (dk) nomem |= !(dkb = malloc(sizeof(float) * (size_t)(rx_tensor_numel(dk) + 1)));
        if (dv) nomem |= !(dvb = malloc(sizeof(float) * (size_t)(rx_tensor_numel(dv) + 1)));
        a.dq = (char *)dqb, a.dk = (char *)dkb, a.dv = (char *)dvb;
    } else {
        a.g = heads_of(g), a.q = heads_of(q), a.k = heads_of(k), a.v = heads_of(v);
        a.dq = dq ? rx_tensor_bytes(dq) : NULL;
        a.dk = dk ? rx_tensor_bytes(dk) : NULL;
        a.dv = dv ? rx_tensor_bytes(dv) : NULL;
    }
    rx_status s = RX_OK;
    const heads *ops[4] = {&a.g, &a.q, &a.k, &a.v};
    if (nomem) {
        s = rx_fail(RX_ERR_NOMEM, "cpu attention backward: out of host memory for temporaries");
    } else if (!fits_blas(dm, ops, 4)) {
        s = rx_fail(RX_ERR_UNSUPPORTED,
                    "cpu attention backward: sizes and strides must be below 2^31 for BLAS");
    } else {
        int64_t nbg = dm->b * dm->g;
        if (!run_pairs(pairs_in_parallel(dm, nbg), nbg, backward_scratch(dm, a.f64, dropout_p > 0), backward_group,
                       &a))
            s = rx_fail(RX_ERR_NOMEM, "cpu attention backward: out of host memory for (%lld, %lld) scratches",
                        (long long)dm->t, (long long)dm->s);
        if (s == RX_OK && dqb) from_f32(dq, dqb, rx_tensor_numel(dq));
        if (s == RX_OK && dkb) from_f32(dk, dkb, rx_tensor_numel(dk));
        if (s == RX_OK && dvb) from_f32(dv, dvb, rx_tensor_numel(dv));
    }
    free(tg);
    free(tq);
    free(tk);
    free(tv);
    free(dqb);
    free(dkb);
    free(dvb);
    return s;
}
