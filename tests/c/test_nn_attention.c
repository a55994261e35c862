/* test_nn_attention.c — rx_attention: forward against a double reference written here (grouped
 * heads, causal with T != S, key padding, additive mask, scale, dropout from the documented Philox
 * counters), gradients by finite differences in f64, fully masked rows (zeros, never NaN),
 * SASRec's additive -10000 convention, non-contiguous operands, f32 and bf16, thread-count
 * independence of the gradients, and argument errors.
 */
#include "gradcheck.h"
#include "core/philox.h"

#include <stdlib.h>
#include <string.h>

typedef struct attn_case {
    int64_t b, h, g, t, s, d;
    int causal;
    double scale;       /* 0: 1/sqrt(D) */
    const double *kp;   /* (B, S) 0/1, or NULL */
    const double *mask; /* (mb, mh, T, S), or NULL */
    int64_t mb, mh;
    double p;
    uint64_t seed, offset;
} attn_case;

/* out (B, H, T, D) from row-major q (B, H, T, D), k, v (B, G, S, D). */
static double *ref_attention(const double *q, const double *k, const double *v, const attn_case *c)
{
    double *out = calloc((size_t)(c->b * c->h * c->t * c->d), sizeof(double));
    double *w = malloc(sizeof(double) * (size_t)(c->s ? c->s : 1));
    double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)c->d);
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++) {
            int64_t g = h / (c->h / c->g);
            for (int64_t t = 0; t < c->t; t++) {
                double mx = -INFINITY;
                for (int64_t s = 0; s < c->s; s++) {
                    bool vis = (!c->causal || s <= t + c->s - c->t) && (!c->kp || c->kp[b * c->s + s] != 0);
                    if (!vis) {
                        w[s] = -INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int64_t j = 0; j < c->d; j++)
                        dot += q[((b * c->h + h) * c->t + t) * c->d + j] *
                               k[((b * c->g + g) * c->s + s) * c->d + j];
                    double m = 0;
                    if (c->mask) {
                        int64_t mb = c->mb == 1 ? 0 : b, mh = c->mh == 1 ? 0 : h;
                        m = c->mask[((mb * c->mh + mh) * c->t + t) * c->s + s];
                    }
                    w[s] = dot * scale + m;
                    if (w[s] > mx) mx = w[s];
                }
                if (mx == -INFINITY) continue; /* no visible key: zeros */
                double sum = 0;
                for (int64_t s = 0; s < c->s; s++) sum += (w[s] = w[s] == -INFINITY ? 0 : exp(w[s] - mx));
                for (int64_t s = 0; s < c->s; s++) {
                    double pr = w[s] / sum;
                    if (c->p > 0) {
                        uint64_t i = (uint64_t)(((b * c->h + h) * c->t + t) * c->s + s);
                        bool drop = rx_philox_bernoulli(rx_philox4x32_10(c->offset + i, c->seed), c->p);
                        pr = drop ? 0 : pr / (1 - c->p);
                    }
                    for (int64_t j = 0; j < c->d; j++)
                        out[((b * c->h + h) * c->t + t) * c->d + j] +=
                            pr * v[((b * c->g + g) * c->s + s) * c->d + j];
                }
            }
        }
    free(w);
    return out;
}

/* t_cast(), releasing t (a cast to t's own dtype gives t back). */
static rx_tensor *cast_owned(rx_tensor *t, rx_dtype dt)
{
    rx_tensor *out = t_cast(t, dt);
    rx_tensor_release(t);
    return out;
}

static const double KP[2 * 5] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 0};

/* Options for case c with tensors of dtype dt (mask and padding built from c). */
static rx_attention_opts make_opts(const attn_case *c, rx_dtype dt, rx_generator *gen)
{
    rx_attention_opts o = {.causal = c->causal, .scale = c->scale, .dropout_p = c->p, .generator = gen};
    if (c->kp) o.key_padding = t_from(2, (const int64_t[]){c->b, c->s}, RX_BOOL, c->kp);
    if (c->mask) o.additive_mask = t_from(4, (const int64_t[]){c->mb, c->mh, c->t, c->s}, dt, c->mask);
    return o;
}

static void free_opts(rx_attention_opts *o)
{
    rx_tensor_release(o->key_padding);
    rx_tensor_release(o->additive_mask);
}

/* Runs case c in dtype dt against the reference (computed from the values rounded to dt). */
static void check_case(const attn_case *c, rx_dtype dt, double atol, double rtol)
{
    const int64_t qs[4] = {c->b, c->h, c->t, c->d}, ks[4] = {c->b, c->g, c->s, c->d};
    rx_tensor *q64 = t_randn(4, qs, RX_F64, 1), *k64 = t_randn(4, ks, RX_F64, 2),
              *v64 = t_randn(4, ks, RX_F64, 3);
    rx_tensor *q = t_cast(q64, dt), *k = t_cast(k64, dt), *v = t_cast(v64, dt), *y = NULL;
    double *qv = t_values(q), *kv = t_values(k), *vv = t_values(v);
    rx_generator *gen = rx_generator_new(c->seed);
    rx_generator_set_state(gen, c->seed, c->offset);
    rx_attention_opts o = make_opts(c, dt, gen);
    double *ref = ref_attention(qv, kv, vv, c);
    CHECK_OK(rx_attention(q, k, v, &o, &y));
    CHECK_TENSOR(y, 4, qs, ref, atol, rtol);
    if (y) CHECK(rx_tensor_dtype(y) == dt);
    uint64_t seed, off;
    rx_generator_get_state(gen, &seed, &off);
    CHECK(off == c->offset + (c->p > 0 ? (uint64_t)(c->b * c->h * c->t * c->s) : 0));
    free(qv), free(kv), free(vv), free(ref);
    free_opts(&o);
    rx_generator_free(gen);
    t_release_all(7, (rx_tensor *[]){q64, k64, v64, q, k, v, y});
}

static double *random_mask(int64_t n, uint64_t seed)
{
    rx_tensor *m = t_randn(1, &n, RX_F64, seed);
    double *v = t_values(m);
    rx_tensor_release(m);
    return v;
}

static void test_attention_forward(void)
{
    double *mask = random_mask(2 * 1 * 3 * 5, 7);
    /* grouped heads, causal with T < S, key padding, an additive (B, 1, T, S) mask */
    attn_case full = {2, 4, 2, 3, 5, 8, 1, 0, KP, mask, 2, 1, 0, 0, 0};
    check_case(&full, RX_F64, 1e-12, 1e-12);
    check_case(&full, RX_F32, 1e-5, 1e-5);
    check_case(&full, RX_BF16, 3e-2, 2e-2);
    check_case(&full, RX_F16, 5e-3, 5e-3);
    /* plain multi-head attention with an explicit scale, a (1, H, T, S) mask, T > S */
    double *mask2 = random_mask(3 * 4 * 5, 8);
    attn_case mha = {1, 3, 3, 4, 5, 6, 0, 0.3, NULL, mask2, 1, 3, 0, 0, 0};
    check_case(&mha, RX_F64, 1e-12, 1e-12);
    attn_case causal_long = {2,    2,    1, 6, 4, 4, 1, 0,
                             NULL, NULL, 0, 0, 0, 0, 0}; /* early queries see nothing */
    check_case(&causal_long, RX_F64, 1e-12, 1e-12);
    /* dropout: the mask follows the documented counters, from a non-zero generator offset */
    attn_case drop = {2, 4, 2, 3, 5, 8, 1, 0, KP, mask, 2, 1, 0.3, 42, 1000};
    check_case(&drop, RX_F64, 1e-12, 1e-12);
    check_case(&drop, RX_F32, 1e-5, 1e-5);
    free(mask);
    free(mask2);
}

typedef struct gc_ctx {
    const attn_case *c;
} gc_ctx;

/* A fresh generator per call: every forward of the finite differences draws the same mask. */
static rx_status gc_attention(rx_tensor *const *in, void *ctx, rx_tensor **out)
{
    const attn_case *c = ((gc_ctx *)ctx)->c;
    rx_generator *gen = rx_generator_new(c->seed);
    rx_attention_opts o = make_opts(c, RX_F64, gen);
    rx_status s = rx_attention(in[0], in[1], in[2], &o, out);
    free_opts(&o);
    rx_generator_free(gen);
    return s;
}

static void grad_case(const char *name, const attn_case *c)
{
    rx_tensor *q = gc_leaf(4, (const int64_t[]){c->b, c->h, c->t, c->d}, 11);
    rx_tensor *k = gc_leaf(4, (const int64_t[]){c->b, c->g, c->s, c->d}, 12);
    rx_tensor *v = gc_leaf(4, (const int64_t[]){c->b, c->g, c->s, c->d}, 13);
    gc_ctx ctx = {c};
    gradcheck(name, gc_attention, 3, (rx_tensor *[]){q, k, v}, &ctx, 1e-6, 1e-5);
    t_release_all(3, (rx_tensor *[]){q, k, v});
}

static void test_attention_grad(void)
{
    double *mask = random_mask(2 * 1 * 3 * 5, 17), *mask2 = random_mask(4 * 3 * 5, 18);
    attn_case gqa = {2, 4, 2, 3, 5, 4, 1, 0, NULL, NULL, 0, 0, 0, 0, 0};
    grad_case("attention GQA causal T != S", &gqa);
    attn_case masked = {2, 4, 2, 3, 5, 4, 0, 0.7, KP, mask, 2, 1, 0, 0, 0};
    grad_case("attention key padding + (B, 1, T, S) mask", &masked);
    attn_case head_mask = {1, 4, 4, 3, 5, 4, 1, 0, NULL, mask2, 1, 4, 0, 0, 0};
    grad_case("attention (1, H, T, S) mask", &head_mask);
    attn_case drop = {2, 4, 2, 3, 5, 4, 1, 0, KP, NULL, 0, 0, 0.3, 5, 0};
    grad_case("attention dropout", &drop);
    attn_case empty_rows = {1, 2, 1, 5, 3, 4, 1, 0, NULL, NULL, 0, 0, 0, 0, 0};
    grad_case("attention causal T > S (rows without keys)", &empty_rows);
    free(mask);
    free(mask2);
}

/* Rows whose keys are all padding give zeros and zero gradients, never NaN; additive masking of
 * every key (SASRec's -10000) keeps a well-defined softmax. */
static void test_attention_masked_rows(void)
{
    const int64_t qs[4] = {2, 2, 3, 4}, ks[4] = {2, 2, 5, 4};
    rx_tensor *q = t_randn(4, qs, RX_F32, 20), *k = t_randn(4, ks, RX_F32, 21),
              *v = t_randn(4, ks, RX_F32, 22);
    CHECK_OK(rx_set_requires_grad(q, 1));
    CHECK_OK(rx_set_requires_grad(k, 1));
    CHECK_OK(rx_set_requires_grad(v, 1));
    const double kp[10] = {1, 1, 0, 1, 1, 0, 0, 0, 0, 0}; /* batch 1 has no key at all */
    rx_attention_opts o = {.key_padding = t_from(2, (const int64_t[]){2, 5}, RX_BOOL, kp)};
    rx_tensor *y = NULL, *g = t_randn(4, qs, RX_F32, 23);
    CHECK_OK(rx_attention(q, k, v, &o, &y));
    CHECK_OK(rx_backward(y, g, 0));
    double *yv = t_values(y), *gq = t_values(rx_grad(q)), *gk = t_values(rx_grad(k)),
           *gv = t_values(rx_grad(v));
    int nan = 0, nonzero = 0;
    for (int i = 0; i < 48; i++) nan += isnan(yv[i]) || isnan(gq[i]);
    for (int i = 0; i < 80; i++) nan += isnan(gk[i]) || isnan(gv[i]);
    for (int i = 24; i < 48; i++) nonzero += yv[i] != 0 || gq[i] != 0;
    for (int i = 40; i < 80; i++) nonzero += gk[i] != 0 || gv[i] != 0;
    /* padded keys of batch 0 (s = 2) get no gradient either */
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++) nonzero += gk[(h * 5 + 2) * 4 + j] != 0 || gv[(h * 5 + 2) * 4 + j] != 0;
    CHECK(nan == 0);
    CHECK(nonzero == 0);
    free(yv), free(gq), free(gk), free(gv);
    rx_tensor_release(y);
    free_opts(&o);

    /* the same additive value on every key (-10000, SASRec's value for a query without a visible
     * key) leaves the softmax well defined: by shift invariance it equals the unmasked one (f64 so
     * that the -10000 costs no precision) */
    double big[3 * 5];
    for (int i = 0; i < 15; i++) big[i] = -10000.0;
    rx_tensor *q64 = NULL, *k64 = NULL, *v64 = NULL, *y_none = NULL;
    CHECK_OK(rx_to_dtype(q, RX_F64, &q64));
    CHECK_OK(rx_to_dtype(k, RX_F64, &k64));
    CHECK_OK(rx_to_dtype(v, RX_F64, &v64));
    rx_attention_opts oa = {.additive_mask = t_from(4, (const int64_t[]){1, 1, 3, 5}, RX_F64, big)};
    rx_set_grad_enabled(0);
    CHECK_OK(rx_attention(q64, k64, v64, &oa, &y));
    CHECK_OK(rx_attention(q64, k64, v64, NULL, &y_none));
    rx_set_grad_enabled(1);
    double *ref = t_values(y_none);
    CHECK_TENSOR(y, 4, qs, ref, 1e-9, 1e-9);
    free(ref);
    t_release_all(5, (rx_tensor *[]){y, y_none, q64, k64, v64});
    free_opts(&oa);

    /* SASRec: (1 - m) * -10000 for m = causal & not padding equals boolean masking wherever a
     * query sees at least one key */
    const int64_t sq[4] = {2, 2, 5, 4};
    rx_tensor *q5 = t_randn(4, sq, RX_F32, 24), *y_add = NULL, *y_bool = NULL;
    const double kp5[10] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1}; /* left padding in batch 0 */
    double add[2 * 5 * 5];
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 5; t++)
            for (int s = 0; s < 5; s++)
                add[(b * 5 + t) * 5 + s] = (s <= t && kp5[b * 5 + s]) ? 0.0 : -10000.0;
    rx_attention_opts oadd = {.additive_mask = t_from(4, (const int64_t[]){2, 1, 5, 5}, RX_F32, add)};
    rx_attention_opts obool = {.causal = 1, .key_padding = t_from(2, (const int64_t[]){2, 5}, RX_BOOL, kp5)};
    CHECK_OK(rx_attention(q5, k, v, &oadd, &y_add));
    CHECK_OK(rx_attention(q5, k, v, &obool, &y_bool));
    double *va = t_values(y_add), *vb = t_values(y_bool);
    int differ = 0, zero_rows = 0;
    for (int b = 0; b < 2; b++)
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 5; t++) {
                bool sees = b == 1 || t >= 2;
                for (int j = 0; j < 4; j++) {
                    int64_t i = ((b * 2 + h) * 5 + t) * 4 + j;
                    if (sees)
                        differ += fabs(va[i] - vb[i]) > 1e-5;
                    else
                        zero_rows += vb[i] == 0 && !isnan(va[i]);
                }
            }
    CHECK(differ == 0);
    CHECK(zero_rows == 2 * 2 * 4); /* batch 0, queries 0-1: boolean gives zeros, additive a finite mean */
    free(va), free(vb);
    free_opts(&oadd);
    free_opts(&obool);
    t_release_all(6, (rx_tensor *[]){q, k, v, g, q5, y_add});
    rx_tensor_release(y_bool);
}

/* Views as the model makes them ((B, T, H, D) transposed) are used in place; a last dim with a
 * non-unit stride is copied; all give the contiguous result. */
static void test_attention_layouts(void)
{
    const int64_t qs[4] = {2, 4, 3, 8}; /* (B, H, T, D) */
    rx_tensor *qb = t_randn(4, (const int64_t[]){2, 3, 4, 8}, RX_F64, 30),
              *kb = t_randn(4, (const int64_t[]){2, 5, 2, 8}, RX_F64, 31);
    rx_tensor *vb = t_randn(4, (const int64_t[]){2, 5, 2, 8}, RX_F64, 32);
    rx_tensor *q = NULL, *k = NULL, *v = NULL, *qc = NULL, *kc = NULL, *vc = NULL;
    CHECK_OK(rx_transpose(qb, 1, 2, &q));
    CHECK_OK(rx_transpose(kb, 1, 2, &k));
    CHECK_OK(rx_transpose(vb, 1, 2, &v));
    CHECK_OK(rx_contiguous(q, &qc));
    CHECK_OK(rx_contiguous(k, &kc));
    CHECK_OK(rx_contiguous(v, &vc));
    rx_attention_opts o = {.causal = 1};
    rx_tensor *y = NULL, *yc = NULL, *qt = NULL, *qtt = NULL, *y2 = NULL;
    CHECK_OK(rx_attention(q, k, v, &o, &y));
    CHECK_OK(rx_attention(qc, kc, vc, &o, &yc));
    double *ref = t_values(yc);
    CHECK_TENSOR(y, 4, qs, ref, 1e-14, 1e-14);
    /* q with D strided: transpose a (B, H, D, T) tensor */
    rx_tensor *qd = NULL;
    CHECK_OK(rx_transpose(qc, 2, 3, &qt));
    CHECK_OK(rx_contiguous(qt, &qtt));
    CHECK_OK(rx_transpose(qtt, 2, 3, &qd));
    CHECK(rx_tensor_stride(qd, 3) != 1);
    CHECK_OK(rx_attention(qd, kc, vc, &o, &y2));
    CHECK_TENSOR(y2, 4, qs, ref, 1e-14, 1e-14);
    /* opts NULL: no masks, default scale */
    rx_tensor *y3 = NULL, *y4 = NULL;
    rx_attention_opts none = {0};
    CHECK_OK(rx_attention(qc, kc, vc, NULL, &y3));
    CHECK_OK(rx_attention(qc, kc, vc, &none, &y4));
    double *r4 = t_values(y4);
    CHECK_TENSOR(y3, 4, qs, r4, 0, 0);
    free(ref), free(r4);
    t_release_all(17, (rx_tensor *[]){qb, kb, vb, q, k, v, qc, kc, vc, y, yc, qt, qtt, y2, qd, y3, y4});
}

/* bf16 gradients approximate the f64 ones. */
static void test_attention_bf16_grad(void)
{
    const int64_t qs[4] = {1, 4, 3, 8}, ks[4] = {1, 2, 4, 8};
    rx_tensor *q64 = t_randn(4, qs, RX_F64, 40), *k64 = t_randn(4, ks, RX_F64, 41),
              *v64 = t_randn(4, ks, RX_F64, 42);
    rx_tensor *g64 = t_randn(4, qs, RX_F64, 43);
    rx_tensor *ins[2][4];
    double *grads[2][3];
    rx_dtype dts[2] = {RX_F64, RX_BF16};
    rx_tensor *base[4] = {q64, k64, v64, g64};
    for (int d = 0; d < 2; d++) /* private copies: no cast is recorded once some require grad */
        for (int i = 0; i < 4; i++) {
            rx_tensor *copy = NULL;
            CHECK_OK(rx_clone(base[i], &copy));
            ins[d][i] = cast_owned(copy, dts[d]);
        }
    for (int d = 0; d < 2; d++) {
        rx_tensor *y = NULL;
        for (int i = 0; i < 3; i++) CHECK_OK(rx_set_requires_grad(ins[d][i], 1));
        rx_attention_opts o = {.causal = 1};
        CHECK_OK(rx_attention(ins[d][0], ins[d][1], ins[d][2], &o, &y));
        CHECK_OK(rx_backward(y, ins[d][3], 0));
        for (int i = 0; i < 3; i++) grads[d][i] = t_values(rx_grad(ins[d][i]));
        rx_tensor_release(y);
    }
    CHECK_TENSOR(rx_grad(ins[1][0]), 4, qs, grads[0][0], 5e-2, 5e-2);
    CHECK_TENSOR(rx_grad(ins[1][1]), 4, ks, grads[0][1], 5e-2, 5e-2);
    CHECK_TENSOR(rx_grad(ins[1][2]), 4, ks, grads[0][2], 5e-2, 5e-2);
    for (int d = 0; d < 2; d++) {
        t_release_all(4, ins[d]);
        for (int i = 0; i < 3; i++) free(grads[d][i]);
    }
    t_release_all(4, (rx_tensor *[]){q64, k64, v64, g64});
}

/* Gradients (dk and dv summed over grouped heads) do not depend on the thread count. */
static void test_attention_deterministic(void)
{
    const int64_t qs[4] = {4, 8, 16, 8}, ks[4] = {4, 2, 16, 8};
    double *out[2][3];
    for (int run = 0; run < 2; run++) {
        rx_set_num_threads(run == 0 ? 1 : 0);
        rx_tensor *q = t_randn(4, qs, RX_F32, 50), *k = t_randn(4, ks, RX_F32, 51),
                  *v = t_randn(4, ks, RX_F32, 52);
        rx_tensor *g = t_randn(4, qs, RX_F32, 53), *y = NULL;
        rx_generator *gen = rx_generator_new(3);
        rx_attention_opts o = {.causal = 1, .dropout_p = 0.2, .generator = gen};
        for (int i = 0; i < 3; i++) CHECK_OK(rx_set_requires_grad((rx_tensor *[]){q, k, v}[i], 1));
        CHECK_OK(rx_attention(q, k, v, &o, &y));
        CHECK_OK(rx_backward(y, g, 0));
        out[run][0] = t_values(rx_grad(q));
        out[run][1] = t_values(rx_grad(k));
        out[run][2] = t_values(rx_grad(v));
        rx_generator_free(gen);
        t_release_all(5, (rx_tensor *[]){q, k, v, g, y});
    }
    rx_set_num_threads(0);
    CHECK(memcmp(out[0][0], out[1][0], sizeof(double) * 4 * 8 * 16 * 8) == 0);
    CHECK(memcmp(out[0][1], out[1][1], sizeof(double) * 4 * 2 * 16 * 8) == 0);
    CHECK(memcmp(out[0][2], out[1][2], sizeof(double) * 4 * 2 * 16 * 8) == 0);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 3; i++) free(out[r][i]);
}

static void test_attention_errors(void)
{
    rx_tensor *q = t_randn(4, (const int64_t[]){2, 4, 5, 8}, RX_F32, 1),
              *k = t_randn(4, (const int64_t[]){2, 2, 5, 8}, RX_F32, 2);
    rx_tensor *v3 = t_randn(4, (const int64_t[]){2, 3, 5, 8}, RX_F32, 3),
              *k3 = t_randn(4, (const int64_t[]){2, 3, 5, 8}, RX_F32, 4);
    rx_tensor *kd = t_randn(4, (const int64_t[]){2, 2, 5, 4}, RX_F32, 5),
              *q3 = t_randn(3, (const int64_t[]){2, 5, 8}, RX_F32, 6);
    rx_tensor *k64 = t_randn(4, (const int64_t[]){2, 2, 5, 8}, RX_F64, 7), *y = NULL;
    rx_tensor *kpf = t_randn(2, (const int64_t[]){2, 5}, RX_F32, 8), *kps = NULL,
              *m = t_randn(4, (const int64_t[]){2, 3, 5, 5}, RX_F32, 9);
    rx_tensor *m64 = t_randn(4, (const int64_t[]){1, 1, 5, 5}, RX_F64, 10),
              *mg = t_randn(4, (const int64_t[]){1, 1, 5, 5}, RX_F32, 11);
    CHECK_OK(rx_ones(2, (const int64_t[]){2, 4}, RX_BOOL, rx_cpu(), &kps));
    CHECK_OK(rx_set_requires_grad(mg, 1));
    CHECK_ERR(rx_attention(q, k, v3, NULL, &y), RX_ERR_SHAPE,
              "attention: argument #3: expected shape (2, 2, 5, 8), got (2, 3, 5, 8)");
    CHECK_ERR(rx_attention(q, k3, k3, NULL, &y), RX_ERR_SHAPE,
              "attention: argument #2: 3 key/value heads do not divide 4 query heads");
    CHECK_ERR(rx_attention(q, kd, kd, NULL, &y), RX_ERR_SHAPE,
              "attention: argument #2: expected shape (2, *, *, 8), got (2, 2, 5, 4)");
    CHECK_ERR(rx_attention(q3, k, k, NULL, &y), RX_ERR_SHAPE,
              "attention: argument #1: expected shape (*, *, *, *), got (2, 5, 8)");
    CHECK_ERR(rx_attention(q, k64, k64, NULL, &y), RX_ERR_DTYPE,
              "attention: argument #1 is f32 but argument #2 is f64");
    rx_attention_opts o = {.key_padding = kpf};
    CHECK_ERR(rx_attention(q, k, k, &o, &y), RX_ERR_DTYPE,
              "attention: argument #4 (key_padding): expected a bool tensor, got f32");
    o.key_padding = kps;
    CHECK_ERR(rx_attention(q, k, k, &o, &y), RX_ERR_SHAPE,
              "attention: argument #4 (key_padding): expected shape (2, 5), got (2, 4)");
    rx_attention_opts om = {.additive_mask = m};
    CHECK_ERR(rx_attention(q, k, k, &om, &y), RX_ERR_SHAPE,
              "attention: argument #4 (additive_mask): expected shape (2, 4, 5, 5) (dims 0 and 1 may be 1), "
              "got (2, 3, 5, 5)");
    om.additive_mask = m64;
    CHECK_ERR(rx_attention(q, k, k, &om, &y), RX_ERR_DTYPE,
              "attention: argument #4 (additive_mask) is f64 but argument #1 is f32");
    om.additive_mask = mg;
    CHECK_ERR(rx_attention(q, k, k, &om, &y), RX_ERR_ARG,
              "attention: argument #4: additive_mask requires grad");
    rx_attention_opts od = {.dropout_p = 1.0};
    CHECK_ERR(rx_attention(q, k, k, &od, &y), RX_ERR_ARG,
              "attention: argument #4 (dropout_p): expected a probability in [0, 1), got 1");
    rx_attention_opts os = {.scale = INFINITY};
    CHECK_ERR(rx_attention(q, k, k, &os, &y), RX_ERR_ARG, "attention: argument #4 (scale)");
    CHECK(y == NULL);
    t_release_all(13, (rx_tensor *[]){q, k, v3, k3, kd, q3, k64, kpf, kps, m, m64, mg, NULL});
}

int main(void)
{
    RUN(test_attention_forward);
    RUN(test_attention_grad);
    RUN(test_attention_masked_rows);
    RUN(test_attention_layouts);
    RUN(test_attention_bf16_grad);
    RUN(test_attention_deterministic);
    RUN(test_attention_errors);
    return check_finish();
}
