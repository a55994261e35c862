/* nn_attention.c — CPU scaled dot-product attention with grouped-query heads, forward and
 * backward.
 *
 * Owns: the per-(batch, head) algorithm and the CPU's attention statistic, the probabilities
 * (B, H, T, S) (attention_stat_shape). Forward: scores = scale q k^T by one GEMM written straight
 * into the saved probabilities, masks and a stable softmax row by row (exp at the
 * working precision, sums in double), dropout from Philox counters, then out = P v by a second
 * GEMM. Backward, from the saved
 * probabilities P (before dropout) and the regenerated dropout mask m (keep / (1 - p), or 0):
 *     dPd = g v^T,  dv = (P m)^T g,  dP = dPd m,  dS = P (dP - rowsum(P dP)),
 *     dq = scale dS k,  dk = scale dS^T q.
 * Masked keys have P = 0, so they get no gradient, and rows without a visible key are zeros with
 * zero gradients. dk and dv of a key/value head shared by H/G query heads are formed per query head
 * and then summed in increasing head order, so the result does not depend on the thread count.
 *
 * f32 and f64 run in their own precision through sgemm/dgemm; f16/bf16 operands are converted to
 * f32 copies first and the results rounded back. (batch, head) pairs run in parallel when each
 * GEMM is small enough that OpenBLAS would use one thread for it anyway; larger heads run one
 * after the other with OpenBLAS's own threads.
 */
#include "cpu_kernels.h"
#include "strided.h"
#include "../core/philox.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
} dropout_cfg;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The leading dimension of a (rows, d) matrix of x for BLAS. */
static int64_t ld_of(const heads *x, int64_t rows, int64_t d) { return max64(rows > 1 ? x->sr : d, 1); }

static const char *head_ptr(const heads *x, int64_t b, int64_t h, int64_t es)
{
    return x->data + (b * x->sb + h * x->sh) * es;
}

/* C (m, n) = alpha op(A) op(B), row-major, in f32 or f64. */
static void gemm(bool f64, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const void *a,
                 int64_t lda, const void *b, int64_t ldb, void *c, int64_t ldc)
{
    if (m == 0 || n == 0) return;
    if (k == 0) {
        memset(c, 0, (size_t)(m * ldc) * (f64 ? sizeof(double) : sizeof(float)));
        return;
    }
    enum CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
    if (f64)
        cblas_dgemm(CblasRowMajor, tra, trb, (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b,
                    (blasint)ldb, 0.0, c, (blasint)ldc);
    else
        cblas_sgemm(CblasRowMajor, tra, trb, (blasint)m, (blasint)n, (blasint)k, (float)alpha, a,
                    (blasint)lda, b, (blasint)ldb, 0.0f, c, (blasint)ldc);
}

/* True when element (t, s) of head (b, h) survives dropout. */
static bool kept(const dropout_cfg *dp, const attn_dims *dm, int64_t b, int64_t h, int64_t t, int64_t s)
{
    uint64_t i = (uint64_t)(((b * dm->h + h) * dm->t + t) * dm->s + s);
    return !rx_philox_bernoulli(rx_philox4x32_10(dp->offset + i, dp->seed), dp->p);
}

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

/* Masked softmax of row t of head (b, h) in place: raw scores in, probabilities out. */
static void softmax_row(const fwd_args *a, int64_t b, int64_t h, int64_t t, char *row)
{
    const attn_dims *dm = &a->dm;
    rx_dtype cdt = a->f64 ? RX_F64 : RX_F32;
    int64_t limit = a->causal ? t + dm->s - dm->t : dm->s - 1; /* last visible key */
    const uint8_t *kp = a->key_padding ? a->key_padding + b * dm->s : NULL;
    const char *mp = NULL;
    int64_t ms = 0;
    rx_dtype mdt = RX_F32;
    if (a->mask) {
        const rx_tensor *m = a->mask;
        mdt = m->dtype;
        mp = rx_tensor_bytes(m) +
             (b * m->stride[0] + h * m->stride[1] + t * m->stride[2]) * rx_dtype_size(mdt);
        ms = m->stride[3];
    }
    double mx = -INFINITY;
    for (int64_t s = 0; s < dm->s; s++) {
        if (s > limit || (kp && !kp[s])) continue;
        double v = rx_nn_ld(row, s, cdt) + (mp ? rx_nn_ld(mp, s * ms, mdt) : 0.0);
        rx_nn_st(row, s, cdt, v);
        if (v > mx) mx = v;
    }
    double sum = 0.0;
    if (mx > -INFINITY)
        for (int64_t s = 0; s < dm->s; s++) {
            if (s > limit || (kp && !kp[s])) continue;
            double e = rx_nn_exp(rx_nn_ld(row, s, cdt) - mx, cdt);
            rx_nn_st(row, s, cdt, e);
            sum += e;
        }
    double inv = sum > 0.0 ? 1.0 / sum : 0.0; /* no visible key (or all -inf): a row of zeros */
    for (int64_t s = 0; s < dm->s; s++) {
        bool visible = s <= limit && !(kp && !kp[s]) && mx > -INFINITY;
        rx_nn_st(row, s, cdt, visible ? rx_nn_ld(row, s, cdt) * inv : 0.0);
    }
}

static void forward_head(const void *args, int64_t bh, char *scratch)
{
    const fwd_args *a = args;
    const attn_dims *dm = &a->dm;
    int64_t b = bh / dm->h, h = bh % dm->h, gi = h / (dm->h / dm->g);
    int64_t es = a->f64 ? 8 : 4;
    rx_dtype cdt = a->f64 ? RX_F64 : RX_F32;
    const char *qp = head_ptr(&a->q, b, h, es), *kp = head_ptr(&a->k, b, gi, es),
               *vp = head_ptr(&a->v, b, gi, es);
    char *p = a->probs + bh * dm->t * dm->s * es;
    gemm(a->f64, false, true, dm->t, dm->s, dm->d, a->scale, qp, ld_of(&a->q, dm->t, dm->d), kp,
         ld_of(&a->k, dm->s, dm->d), p, max64(dm->s, 1));
    for (int64_t t = 0; t < dm->t; t++) softmax_row(a, b, h, t, p + t * dm->s * es);
    const char *pd = p;
    if (a->drop.p > 0) {
        double keep_scale = 1.0 / (1.0 - a->drop.p);
        for (int64_t t = 0; t < dm->t; t++)
            for (int64_t s = 0; s < dm->s; s++) {
                int64_t i = t * dm->s + s;
                rx_nn_st(scratch, i, cdt,
                         kept(&a->drop, dm, b, h, t, s) ? rx_nn_ld(p, i, cdt) * keep_scale : 0.0);
            }
        pd = scratch;
    }
    gemm(a->f64, false, false, dm->t, dm->d, dm->s, 1.0, pd, max64(dm->s, 1), vp, ld_of(&a->v, dm->s, dm->d),
         a->out + bh * dm->t * dm->d * es, max64(dm->d, 1));
}

/* Runs fn(args, bh, scratch) for every (batch, head) pair bh < nbh, in parallel when par, each
 * thread with its own scratch of scratch_bytes; false when a scratch could not be allocated. */
static bool run_heads(bool par, int64_t nbh, int64_t scratch_bytes, void (*fn)(const void *, int64_t, char *),
                      const void *args)
{
    int failed = 0;
#pragma omp parallel if (par)
    {
        char *scratch = scratch_bytes ? malloc((size_t)scratch_bytes) : NULL;
        if (scratch_bytes && !scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t bh = 0; bh < nbh; bh++)
            if (!scratch_bytes || scratch) fn(args, bh, scratch);
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
        .drop = {dropout_p, seed, offset},
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
        int64_t nbh = dm->b * dm->h, es = a.f64 ? 8 : 4;
        int64_t scratch = dropout_p > 0 ? dm->t * dm->s * es : 0;
        bool par = nbh > 1 && dm->t * dm->s * max64(dm->d, 1) <= SMALL_HEAD_GEMM;
        if (!run_heads(par, nbh, scratch, forward_head, &a))
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
    char *dkh, *dvh;   /* (B, H, S, D) per query head (or (B, G, S, D) when G == H), or NULL */
    double scale;
    dropout_cfg drop;
} bwd_args;

static void backward_head(const void *args, int64_t bh, char *scratch)
{
    const bwd_args *a = args;
    const attn_dims *dm = &a->dm;
    int64_t b = bh / dm->h, h = bh % dm->h, gi = h / (dm->h / dm->g);
    int64_t es = a->f64 ? 8 : 4, ts = dm->t * dm->s, lds = max64(dm->s, 1), ldd = max64(dm->d, 1);
    rx_dtype cdt = a->f64 ? RX_F64 : RX_F32;
    const char *gp = head_ptr(&a->g, b, h, es), *qp = head_ptr(&a->q, b, h, es);
    const char *kp = head_ptr(&a->k, b, gi, es), *vp = head_ptr(&a->v, b, gi, es);
    int64_t ldg = ld_of(&a->g, dm->t, dm->d), ldq = ld_of(&a->q, dm->t, dm->d);
    int64_t ldk = ld_of(&a->k, dm->s, dm->d), ldv = ld_of(&a->v, dm->s, dm->d);
    const char *p = a->probs + bh * ts * es;
    /* scratch: dP (T, S), then with dropout the kept probabilities P m and the multipliers m */
    char *dp = scratch, *pd = scratch + ts * es, *mk = scratch + 2 * ts * es;
    bool drop = a->drop.p > 0;
    if (drop) {
        double keep_scale = 1.0 / (1.0 - a->drop.p);
        for (int64_t t = 0; t < dm->t; t++)
            for (int64_t s = 0; s < dm->s; s++) {
                int64_t i = t * dm->s + s;
                double m = kept(&a->drop, dm, b, h, t, s) ? keep_scale : 0.0;
                rx_nn_st(mk, i, cdt, m);
                rx_nn_st(pd, i, cdt, rx_nn_ld(p, i, cdt) * m);
            }
    }
    if (a->dvh)
        gemm(a->f64, true, false, dm->s, dm->d, dm->t, 1.0, drop ? pd : p, lds, gp, ldg,
             a->dvh + bh * dm->s * dm->d * es, ldd);
    if (!a->dq && !a->dkh) return;
    gemm(a->f64, false, true, dm->t, dm->s, dm->d, 1.0, gp, ldg, vp, ldv, dp, lds); /* dPd = g v^T */
    for (int64_t t = 0; t < dm->t; t++) { /* dS = P (dP - rowsum(P dP)), dP = dPd m */
        char *drow = dp + t * dm->s * es;
        const char *prow = p + t * dm->s * es, *mrow = mk + t * dm->s * es;
        double r = 0.0;
        for (int64_t s = 0; s < dm->s; s++) {
            double d = rx_nn_ld(drow, s, cdt);
            if (drop) d *= rx_nn_ld(mrow, s, cdt);
            rx_nn_st(drow, s, cdt, d);
            r += rx_nn_ld(prow, s, cdt) * d;
        }
        for (int64_t s = 0; s < dm->s; s++)
            rx_nn_st(drow, s, cdt, rx_nn_ld(prow, s, cdt) * (rx_nn_ld(drow, s, cdt) - r));
    }
    if (a->dq)
        gemm(a->f64, false, false, dm->t, dm->d, dm->s, a->scale, dp, lds, kp, ldk,
             a->dq + bh * dm->t * dm->d * es, ldd);
    if (a->dkh)
        gemm(a->f64, true, false, dm->s, dm->d, dm->t, a->scale, dp, lds, qp, ldq,
             a->dkh + bh * dm->s * dm->d * es, ldd);
}

/* dst (B, G, S, D) = per-head src (B, H, S, D) summed over each group's heads in order. */
static void sum_groups(rx_tensor *dst, const char *src, const attn_dims *dm, bool f64)
{
    rx_dtype cdt = f64 ? RX_F64 : RX_F32;
    int64_t per = dm->h / dm->g, row = dm->s * dm->d, rows = dm->b * dm->g;
    char *out = rx_tensor_bytes(dst);
#pragma omp parallel for schedule(static) if (rows * row * per >= RX_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t b = r / dm->g, gi = r % dm->g;
        for (int64_t i = 0; i < row; i++) {
            double acc = 0.0;
            for (int64_t j = 0; j < per; j++)
                acc += rx_nn_ld(src, ((b * dm->h + gi * per + j) * row) + i, cdt);
            rx_nn_st(out, r * row + i, dst->dtype, acc);
        }
    }
}

rx_status rx_cpu_attention_bwd(rx_tensor *dq, rx_tensor *dk, rx_tensor *dv, const rx_tensor *g,
                               const rx_tensor *q, const rx_tensor *k, const rx_tensor *v,
                               const rx_tensor *out, const rx_tensor *stat, const rx_tensor *key_padding,
                               const rx_tensor *mask, int causal, double scale, double dropout_p,
                               uint64_t seed, uint64_t offset)
{
    /* the saved probabilities already hold the masks, so out, key_padding, mask and causal go unused */
    const rx_tensor *probs = stat;
    bwd_args a = {
        .dm = {q->shape[0], q->shape[1], k->shape[1], q->shape[2], k->shape[2], q->shape[3]},
        .f64 = q->dtype == RX_F64,
        .probs = rx_tensor_bytes(probs),
        .scale = scale,
        .drop = {dropout_p, seed, offset},
    };
    const attn_dims *dm = &a.dm;
    bool half = q->dtype == RX_F16 || q->dtype == RX_BF16;
    int64_t es = a.f64 ? 8 : 4, nbh = dm->b * dm->h;
    /* per-head dk/dv are summed afterwards when heads share a kv head or the dtype is a half one */
    bool direct_kv = !half && dm->g == dm->h;
    int64_t kvh = nbh * dm->s * dm->d;
    float *tg = NULL, *tq = NULL, *tk = NULL, *tv = NULL;
    char *dqb = NULL, *dkb = NULL, *dvb = NULL;
    bool nomem = false;
    if (half) {
        tg = to_f32(g, &a.g);
        tq = to_f32(q, &a.q);
        tk = to_f32(k, &a.k);
        tv = to_f32(v, &a.v);
        nomem = !tg || !tq || !tk || !tv;
        if (dq) nomem |= !(a.dq = dqb = malloc((size_t)(rx_tensor_numel(dq) * es + 1)));
    } else {
        a.g = heads_of(g), a.q = heads_of(q), a.k = heads_of(k), a.v = heads_of(v);
        a.dq = dq ? rx_tensor_bytes(dq) : NULL;
    }
    if (dk) {
        if (direct_kv)
            a.dkh = rx_tensor_bytes(dk);
        else
            nomem |= !(a.dkh = dkb = malloc((size_t)(kvh * es + 1)));
    }
    if (dv) {
        if (direct_kv)
            a.dvh = rx_tensor_bytes(dv);
        else
            nomem |= !(a.dvh = dvb = malloc((size_t)(kvh * es + 1)));
    }
    rx_status s = RX_OK;
    const heads *ops[4] = {&a.g, &a.q, &a.k, &a.v};
    if (nomem) {
        s = rx_fail(RX_ERR_NOMEM, "cpu attention backward: out of host memory for temporaries");
    } else if (!fits_blas(dm, ops, 4)) {
        s = rx_fail(RX_ERR_UNSUPPORTED,
                    "cpu attention backward: sizes and strides must be below 2^31 for BLAS");
    } else {
        int64_t scratch = dm->t * dm->s * es * (dropout_p > 0 ? 3 : 1);
        bool par = nbh > 1 && dm->t * dm->s * max64(dm->d, 1) <= SMALL_HEAD_GEMM;
        if (!run_heads(par, nbh, scratch, backward_head, &a))
            s = rx_fail(RX_ERR_NOMEM, "cpu attention backward: out of host memory for (%lld, %lld) scratches",
                        (long long)dm->t, (long long)dm->s);
        if (s == RX_OK && dq && half) from_f32(dq, (const float *)dqb, rx_tensor_numel(dq));
        if (s == RX_OK && dkb) sum_groups(dk, dkb, dm, a.f64);
        if (s == RX_OK && dvb) sum_groups(dv, dvb, dm, a.f64);
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
