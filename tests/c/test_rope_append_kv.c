/* test_rope_append_kv.c — rope_append_kv (rope of a stacked q/k/v projection fused with the
 * KV-cache append) on the CPU, against references computed here in double and against the
 * unfused ops.
 *
 * Covers: GQA (H 9, G 3, D 64, SmolLM2's heads) and MHA (H 4, G 4, D 8); T 1 and 5; B 1 and 3;
 * tables (T, D), (1, T, D) and (B, T, D); f32, f64, f16 and bf16; slots at both ends and inside,
 * as i64 and i32 tensors of shapes (1), () and (1, 1); qkv contiguous, narrowed (row stride
 * wider than the row) and token-major (a transposed view); caches contiguous, stored (B, L, G,
 * D) and transposed, and narrowed along L; a prefill large enough to run in parallel; T = 0; the
 * caches' version bump; and the errors (caches and q untouched, *q NULL): every argument's NULL,
 * shapes, dtypes, strides, heads / kv_heads, T > L, slots out of range at both ends, slot dtype
 * and element count, storage shared with a cache, and inputs that require grad (allowed under
 * no_grad).
 *
 * References: (1) in double from the stored input values: q[b, h, t, j] = x1 c1 - x2 s1 and
 * q[.., j + D/2] = x2 c2 + x1 s2 (x1, x2 the pair of the head's row, c, s the table row of (b,
 * t)), rounded once to the dtype by ref_round; the caches' whole base storage is compared with
 * its previous values where the slots [s, s + T) of every (b, g) received the rotated k heads and
 * the v heads. Exact (0 tolerance; f64 1e-14 relative). (2) bit equality with rx_rope applied to
 * the q (and k) columns of qkv viewed (B, T, H, D) and transposed to (B, H, T, D), and of the
 * cached values with the v columns.
 */
#include "check.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

typedef struct cfg {
    int64_t b, t, h, g, d, l, slot;
    int tables;       /* 0: (T, D), 1: (1, T, D), 2: (B, T, D) */
    int qkv_layout;   /* 0: contiguous, 1: narrowed from a wider row, 2: token-major transposed */
    int cache_layout; /* 0: contiguous, 1: stored (B, L, G, D) and transposed, 2: narrowed along L */
    int slot_kind;    /* 0: i64 (1), 1: i32 (), 2: i32 (1, 1) */
    rx_dtype dt;
} cfg;

static rx_tensor *view_t(rx_tensor *t, int a, int b) /* takes t */
{
    rx_tensor *o = NULL;
    CHECK_OK(rx_transpose(t, a, b, &o));
    rx_tensor_release(t);
    return o;
}

static rx_tensor *narrow_t(rx_tensor *t, int dim, int64_t start, int64_t len) /* borrows t */
{
    rx_tensor *o = NULL;
    CHECK_OK(rx_narrow(t, dim, start, len, &o));
    return o;
}

static rx_tensor *slot_tensor(int kind, int64_t s)
{
    double v = (double)s;
    if (kind == 0) return t_from(1, (const int64_t[]){1}, RX_I64, &v);
    if (kind == 1) return t_from(0, NULL, RX_I32, &v);
    return t_from(2, (const int64_t[]){1, 1}, RX_I32, &v);
}

/* qkv (B, T, W) in the configured layout (a view of *base). */
static rx_tensor *make_qkv(const cfg *c, uint64_t seed, rx_tensor **base)
{
    int64_t w = (c->h + 2 * c->g) * c->d;
    if (c->qkv_layout == 1) {
        *base = t_randn(3, (const int64_t[]){c->b, c->t, w + 6}, c->dt, seed);
        return narrow_t(*base, 2, 3, w);
    }
    if (c->qkv_layout == 2) {
        *base = t_randn(3, (const int64_t[]){c->t, c->b, w}, c->dt, seed);
        return view_t(rx_tensor_retain(*base), 0, 1);
    }
    *base = t_randn(3, (const int64_t[]){c->b, c->t, w}, c->dt, seed);
    return rx_tensor_retain(*base);
}

/* A (B, G, L, D) cache in the configured layout (a view of *base, filled with other values). */
static rx_tensor *make_cache(const cfg *c, uint64_t seed, rx_tensor **base)
{
    if (c->cache_layout == 1) {
        *base = t_randn(4, (const int64_t[]){c->b, c->l, c->g, c->d}, c->dt, seed);
        return view_t(rx_tensor_retain(*base), 1, 2);
    }
    if (c->cache_layout == 2) {
        *base = t_randn(4, (const int64_t[]){c->b, c->g, c->l + 4, c->d}, c->dt, seed);
        return narrow_t(*base, 2, 2, c->l);
    }
    *base = t_randn(4, (const int64_t[]){c->b, c->g, c->l, c->d}, c->dt, seed);
    return rx_tensor_retain(*base);
}

/* The rotated pair element j (< D/2: first half) of head hd of token (b, t), from qkv values x
 * (row-major (B, T, W)) and tables cv, sv (row-major (Bc, T, D)). */
static void ref_pair(const cfg *c, const double *x, const double *cv, const double *sv, int64_t b, int64_t t,
                     int64_t hd, int64_t j, double *o1, double *o2)
{
    int64_t w = (c->h + 2 * c->g) * c->d, half = c->d / 2;
    const double *xr = x + (b * c->t + t) * w + hd * c->d;
    int64_t to = ((c->tables == 2 ? b : 0) * c->t + t) * c->d;
    double x1 = xr[j], x2 = xr[j + half];
    *o1 = ref_round(c->dt, x1 * cv[to + j] - x2 * sv[to + j]);
    *o2 = ref_round(c->dt, x2 * cv[to + j + half] + x1 * sv[to + j + half]);
}

/* Writes into the base storage values e what the op must put in cache view `cache` for the k
 * (kv = 0) or v (kv = 1) heads. */
static void ref_cache(const cfg *c, const rx_tensor *cache, double *e, int kv, const double *x,
                      const double *cv, const double *sv)
{
    int64_t w = (c->h + 2 * c->g) * c->d, half = c->d / 2;
    const int64_t *st = rx_tensor_strides_ptr(cache);
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t g = 0; g < c->g; g++)
            for (int64_t t = 0; t < c->t; t++) {
                int64_t pos = rx_tensor_offset(cache) + b * st[0] + g * st[1] + (c->slot + t) * st[2];
                int64_t hd = c->h + kv * c->g + g;
                for (int64_t j = 0; j < half; j++) {
                    double o1, o2;
                    if (kv) {
                        o1 = x[(b * c->t + t) * w + hd * c->d + j];
                        o2 = x[(b * c->t + t) * w + hd * c->d + j + half];
                    } else {
                        ref_pair(c, x, cv, sv, b, t, hd, j, &o1, &o2);
                    }
                    e[pos + j * st[3]] = o1;
                    e[pos + (j + half) * st[3]] = o2;
                }
            }
}

/* Exact comparison of n values (f64: 1e-14 relative, in case a compiler contracts a product). */
static void check_values(const char *what, const cfg *c, const double *got, const double *want, int64_t n)
{
    double tol = c->dt == RX_F64 ? 1e-14 : 0;
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * fabs(want[i]))) bad++, first = first < 0 ? i : first;
    if (bad)
        check_fail(
            __FILE__, __LINE__,
            "%s: %lld of %lld values differ (first [%lld]: %.9g, expected %.9g); B %lld T %lld H %lld G %lld "
            "D %lld L %lld slot %lld tables %d layouts %d/%d %s",
            what, (long long)bad, (long long)n, (long long)first, got[first], want[first], (long long)c->b,
            (long long)c->t, (long long)c->h, (long long)c->g, (long long)c->d, (long long)c->l,
            (long long)c->slot, c->tables, c->qkv_layout, c->cache_layout, rx_dtype_name(c->dt));
}

/* The (B, n, T, D) contiguous heads [first, first + n) of qkv, rotated by rx_rope when roped. */
static rx_tensor *unfused_heads(const cfg *c, rx_tensor *qkv, rx_tensor *cos, rx_tensor *sin, int64_t first,
                                int64_t n, bool roped)
{
    rx_tensor *cols = narrow_t(qkv, 2, first * c->d, n * c->d), *r = NULL, *out = NULL;
    CHECK_OK(rx_reshape(cols, 4, (const int64_t[]){c->b, c->t, n, c->d}, &r));
    rx_tensor *x = view_t(r, 1, 2);
    if (roped) {
        rx_tensor *c2 = NULL, *s2 = NULL;
        if (c->tables == 1) { /* rx_rope takes (T, D) or (B, T, D) */
            CHECK_OK(rx_view(cos, 2, (const int64_t[]){c->t, c->d}, &c2));
            CHECK_OK(rx_view(sin, 2, (const int64_t[]){c->t, c->d}, &s2));
        } else {
            c2 = rx_tensor_retain(cos);
            s2 = rx_tensor_retain(sin);
        }
        CHECK_OK(rx_rope(x, c2, s2, &out));
        t_release_all(2, (rx_tensor *[]){c2, s2});
    } else {
        CHECK_OK(rx_contiguous(x, &out));
    }
    t_release_all(2, (rx_tensor *[]){cols, x});
    return out;
}

static void run_case(const cfg *c, uint64_t seed)
{
    rx_tensor *qb, *kb, *vb;
    rx_tensor *qkv = make_qkv(c, seed, &qb);
    rx_tensor *ck = make_cache(c, seed + 1, &kb), *cvc = make_cache(c, seed + 2, &vb);
    int64_t ts[3] = {c->b, c->t, c->d};
    const int64_t *tshape = c->tables == 0 ? ts + 1 : ts;
    if (c->tables == 1) ts[0] = 1;
    int tnd = c->tables == 0 ? 2 : 3;
    rx_tensor *cos = t_randn(tnd, tshape, c->dt, seed + 3), *sin = t_randn(tnd, tshape, c->dt, seed + 4);
    rx_tensor *slot = slot_tensor(c->slot_kind, c->slot), *q = NULL;
    double *x = t_values(qkv), *cv = t_values(cos), *sv = t_values(sin);
    double *ek = t_values(kb), *ev = t_values(vb);
    int64_t kv_version = ck->storage->version;

    CHECK_OK(rx_rope_append_kv(qkv, cos, sin, ck, cvc, slot, c->h, c->g, &q));
    if (!q) goto done;
    CHECK(ck->storage->version == kv_version + 1 && cvc->storage->version == vb->storage->version);
    int64_t qs[4] = {c->b, c->h, c->t, c->d};
    CHECK(rx_tensor_ndim(q) == 4 && memcmp(rx_tensor_shape_ptr(q), qs, sizeof qs) == 0);
    CHECK(rx_tensor_is_contiguous(q) && rx_tensor_dtype(q) == c->dt);

    /* (1) the double references */
    int64_t nq = rx_tensor_numel(q), half = c->d / 2;
    double *eq = malloc(sizeof(double) * (size_t)(nq ? nq : 1));
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t t = 0; t < c->t; t++)
                for (int64_t j = 0; j < half; j++) {
                    double *row = eq + ((b * c->h + h) * c->t + t) * c->d;
                    ref_pair(c, x, cv, sv, b, t, h, j, &row[j], &row[j + half]);
                }
    double *gq = t_values(q), *gk = t_values(kb), *gv = t_values(vb);
    check_values("q", c, gq, eq, nq);
    ref_cache(c, ck, ek, 0, x, cv, sv);
    ref_cache(c, cvc, ev, 1, x, cv, sv);
    check_values("cache_k storage", c, gk, ek, rx_tensor_numel(kb));
    check_values("cache_v storage", c, gv, ev, rx_tensor_numel(vb));

    /* (2) bit equality with the unfused ops */
    cfg exact = *c;
    exact.dt = RX_F32; /* check_values' 0 tolerance for every dtype: both sides are one computation */
    rx_tensor *rq = unfused_heads(c, qkv, cos, sin, 0, c->h, true);
    rx_tensor *rk = unfused_heads(c, qkv, cos, sin, c->h, c->g, true);
    rx_tensor *rv = unfused_heads(c, qkv, cos, sin, c->h + c->g, c->g, false);
    rx_tensor *sk = narrow_t(ck, 2, c->slot, c->t), *svv = narrow_t(cvc, 2, c->slot, c->t);
    double *vrq = t_values(rq), *vrk = t_values(rk), *vrv = t_values(rv), *vsk = t_values(sk),
           *vsv = t_values(svv);
    check_values("q vs rope", &exact, gq, vrq, nq);
    check_values("cached k vs rope", &exact, vsk, vrk, rx_tensor_numel(rk));
    check_values("cached v vs qkv", &exact, vsv, vrv, rx_tensor_numel(rv));
    free(vrq), free(vrk), free(vrv), free(vsk), free(vsv);
    t_release_all(5, (rx_tensor *[]){rq, rk, rv, sk, svv});
    free(eq), free(gq), free(gk), free(gv);
done:
    free(x), free(cv), free(sv), free(ek), free(ev);
    t_release_all(10, (rx_tensor *[]){qb, kb, vb, qkv, ck, cvc, cos, sin, slot, q});
}

static void test_cases(void)
{
    const rx_dtype dts[4] = {RX_F32, RX_BF16, RX_F16, RX_F64};
    const int64_t heads[2][3] = {{9, 3, 64}, {4, 4, 8}}; /* GQA (SmolLM2), MHA */
    int n = 0;
    for (int hk = 0; hk < 2; hk++)
        for (int64_t t = 1; t <= 5; t += 4)
            for (int64_t b = 1; b <= 3; b += 2)
                for (int tables = 0; tables < 3; tables++)
                    for (int k = 0; k < 4; k++)
                        for (int where = 0; where < 3; where++) {
                            cfg c = {b, t,      heads[hk][0], heads[hk][1], heads[hk][2], 7,
                                     0, tables, n % 3,        (n / 3) % 3,  n % 3,        dts[k]};
                            c.slot = where == 0 ? 0 : where == 1 ? c.l - t : (c.l - t) / 2;
                            run_case(&c, 100 + (uint64_t)n * 8);
                            n++;
                        }
}

static void test_parallel_prefill(void)
{
    /* 3 * 64 * 15 head rows of 64: over the CPU kernel's threshold for threads */
    cfg c = {3, 64, 9, 3, 64, 80, 16, 2, 2, 1, 0, RX_F32};
    run_case(&c, 7);
    c.dt = RX_BF16, c.tables = 0, c.slot = 0, c.qkv_layout = 0, c.cache_layout = 0;
    run_case(&c, 8);
}

static void test_empty(void)
{
    rx_tensor *qkv = t_zeros(3, (const int64_t[]){2, 0, 3 * 4}, RX_F32);
    rx_tensor *cos = t_zeros(2, (const int64_t[]){0, 4}, RX_F32),
              *sin = t_zeros(2, (const int64_t[]){0, 4}, RX_F32);
    rx_tensor *ck = t_randn(4, (const int64_t[]){2, 1, 3, 4}, RX_F32, 1),
              *cv = t_randn(4, (const int64_t[]){2, 1, 3, 4}, RX_F32, 2);
    rx_tensor *slot = slot_tensor(0, 3), *q = NULL; /* L - T = 3: the end is a valid slot */
    double *k0 = t_values(ck), *v0 = t_values(cv);
    CHECK_OK(rx_rope_append_kv(qkv, cos, sin, ck, cv, slot, 1, 1, &q));
    CHECK(q && rx_tensor_numel(q) == 0 && rx_tensor_size(q, 1) == 1 && rx_tensor_size(q, 3) == 4);
    double *k1 = t_values(ck), *v1 = t_values(cv);
    CHECK(memcmp(k0, k1, sizeof(double) * 24) == 0 && memcmp(v0, v1, sizeof(double) * 24) == 0);
    free(k0), free(v0), free(k1), free(v1);
    t_release_all(7, (rx_tensor *[]){qkv, cos, sin, ck, cv, slot, q});
}

/* The fixtures of the error cases: B 2, T 2, H 4, G 2, D 4, L 5, f32. */
typedef struct fx {
    rx_tensor *qkv, *cos, *sin, *ck, *cv, *slot;
} fx;

static fx fx_new(void)
{
    fx f;
    f.qkv = t_randn(3, (const int64_t[]){2, 2, 8 * 4}, RX_F32, 11);
    f.cos = t_randn(2, (const int64_t[]){2, 4}, RX_F32, 12);
    f.sin = t_randn(2, (const int64_t[]){2, 4}, RX_F32, 13);
    f.ck = t_randn(4, (const int64_t[]){2, 2, 5, 4}, RX_F32, 14);
    f.cv = t_randn(4, (const int64_t[]){2, 2, 5, 4}, RX_F32, 15);
    f.slot = slot_tensor(0, 1);
    return f;
}

static void fx_free(fx *f)
{
    t_release_all(6, (rx_tensor *[]){f->qkv, f->cos, f->sin, f->ck, f->cv, f->slot});
}

/* Expects the call on f (with the given replacements: NULL keeps f's) to fail with status and
 * needle, leaving *q NULL and the caches unchanged. */
static void expect_err(int line, fx *f, rx_tensor *qkv, rx_tensor *cos, rx_tensor *sin, rx_tensor *ck,
                       rx_tensor *cv, rx_tensor *slot, int64_t h, int64_t g, rx_status st, const char *needle)
{
    rx_tensor *k = ck ? ck : f->ck, *v = cv ? cv : f->cv;
    double *k0 = t_values(k), *v0 = t_values(v);
    rx_tensor *q = (rx_tensor *)&q; /* must be reset to NULL */
    rx_status s = rx_rope_append_kv(qkv ? qkv : f->qkv, cos ? cos : f->cos, sin ? sin : f->sin, k, v,
                                    slot ? slot : f->slot, h, g, &q);
    check_err_(__FILE__, line, "rope_append_kv", s, st, needle);
    if (q != NULL) check_fail(__FILE__, line, "*q not NULL after an error");
    double *k1 = t_values(k), *v1 = t_values(v);
    int64_t n = rx_tensor_numel(k);
    if (memcmp(k0, k1, sizeof(double) * (size_t)n) ||
        memcmp(v0, v1, sizeof(double) * (size_t)rx_tensor_numel(v)))
        check_fail(__FILE__, line, "a cache changed after an error");
    if (s == RX_OK) rx_tensor_release(q);
    free(k0), free(v0), free(k1), free(v1);
}
#define ERR(...) expect_err(__LINE__, &f, __VA_ARGS__)

static void test_errors(void)
{
    fx f = fx_new();
    rx_tensor *q = NULL;
    /* the fixture itself is valid */
    CHECK_OK(rx_rope_append_kv(f.qkv, f.cos, f.sin, f.ck, f.cv, f.slot, 4, 2, &q));
    rx_tensor_release(q);
    CHECK_ERR(rx_rope_append_kv(f.qkv, f.cos, f.sin, f.ck, f.cv, f.slot, 4, 2, NULL), RX_ERR_ARG,
              "rope_append_kv: argument #9");

    /* slots out of range (L - T = 3), in both dtypes */
    rx_tensor *s4 = slot_tensor(0, 4), *sm1 = slot_tensor(1, -1), *s3 = slot_tensor(2, 3);
    ERR(NULL, NULL, NULL, NULL, NULL, s4, 4, 2, RX_ERR_ARG,
        "rope_append_kv: argument #6: slot 4 out of range [0, 3]");
    ERR(NULL, NULL, NULL, NULL, NULL, sm1, 4, 2, RX_ERR_ARG, "slot -1 out of range [0, 3]");
    CHECK_OK(rx_rope_append_kv(f.qkv, f.cos, f.sin, f.ck, f.cv, s3, 4, 2, &q));
    rx_tensor_release(q);

    /* heads */
    ERR(NULL, NULL, NULL, NULL, NULL, NULL, 0, 2, RX_ERR_ARG,
        "rope_append_kv: argument #7: expected heads >= 1, got 0");
    ERR(NULL, NULL, NULL, NULL, NULL, NULL, 4, 3, RX_ERR_ARG,
        "argument #8: expected kv_heads >= 1 dividing heads 4, got 3");
    ERR(NULL, NULL, NULL, NULL, NULL, NULL, 4, 0, RX_ERR_ARG, "argument #8");
    /* kv_heads 1: the caches have 2 heads */
    ERR(NULL, NULL, NULL, NULL, NULL, NULL, 4, 1, RX_ERR_SHAPE,
        "argument #4: expected a cache of shape (2, 1, L, D), got (2, 2, 5, 4)");
    /* H 6, G 2: qkv's width 32 is not (6 + 4) * 4 */
    ERR(NULL, NULL, NULL, NULL, NULL, NULL, 6, 2, RX_ERR_SHAPE,
        "argument #1: expected a last dim of (heads + 2 kv_heads) * D = (6 + 2 * 2) * 4 = 40, got (2, 2, "
        "32)");

    /* NULL tensors */
    rx_tensor *a[6] = {f.qkv, f.cos, f.sin, f.ck, f.cv, f.slot};
    for (int i = 0; i < 6; i++) {
        rx_tensor *b[6];
        memcpy(b, a, sizeof b);
        b[i] = NULL;
        char needle[96];
        snprintf(needle, sizeof needle, "rope_append_kv: argument #%d: expected a tensor, got NULL", i + 1);
        CHECK_ERR(rx_rope_append_kv(b[0], b[1], b[2], b[3], b[4], b[5], 4, 2, &q), RX_ERR_ARG, needle);
        CHECK(q == NULL);
    }

    /* qkv */
    rx_tensor *qi = t_zeros(3, (const int64_t[]){2, 2, 32}, RX_I32),
              *q2 = t_zeros(2, (const int64_t[]){2, 32}, RX_F32);
    rx_tensor *q64 = t_zeros(3, (const int64_t[]){2, 2, 32}, RX_F64),
              *qb3 = t_zeros(3, (const int64_t[]){3, 2, 32}, RX_F32);
    rx_tensor *qwide = t_zeros(3, (const int64_t[]){2, 2, 64}, RX_F32), *q4 = NULL, *qstep = NULL;
    CHECK_OK(rx_view(qwide, 4, (const int64_t[]){2, 2, 32, 2}, &q4));
    CHECK_OK(rx_select(q4, 3, 0, &qstep)); /* (2, 2, 32) with a stride of 2 on the last dim */
    rx_tensor *qt6 = t_zeros(3, (const int64_t[]){2, 6, 32}, RX_F32),
              *c6 = t_zeros(2, (const int64_t[]){6, 4}, RX_F32);
    ERR(qi, NULL, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_DTYPE,
        "rope_append_kv: argument #1: expected a floating-point");
    ERR(q2, NULL, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #1: expected qkv of shape (B, T, (H + 2G) * D), got (2, 32)");
    ERR(q64, NULL, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_DTYPE, "argument #1 is f64 but argument #4 is f32");
    ERR(qb3, NULL, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #4: expected a cache of shape (3, 2, L, D)");
    ERR(qstep, NULL, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #1: expected a unit stride on the last dim, got 2");
    ERR(qt6, c6, c6, NULL, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #1: 6 new positions exceed the cache length 5 of argument #4");

    /* caches */
    rx_tensor *k3 = t_zeros(3, (const int64_t[]){2, 2, 20}, RX_F32),
              *v6 = t_zeros(4, (const int64_t[]){2, 2, 6, 4}, RX_F32);
    rx_tensor *v64 = t_zeros(4, (const int64_t[]){2, 2, 5, 4}, RX_F64);
    rx_tensor *kd3 = t_zeros(4, (const int64_t[]){2, 2, 5, 3}, RX_F32),
              *vd3 = t_zeros(4, (const int64_t[]){2, 2, 5, 3}, RX_F32);
    rx_tensor *kwide = t_zeros(4, (const int64_t[]){2, 2, 5, 8}, RX_F32), *k5 = NULL, *kstep = NULL;
    CHECK_OK(rx_view(kwide, 5, (const int64_t[]){2, 2, 5, 4, 2}, &k5));
    CHECK_OK(rx_select(k5, 4, 1, &kstep));
    ERR(NULL, NULL, NULL, k3, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #4: expected a cache of shape (2, 2, L, D), got (2, 2, 20)");
    ERR(NULL, NULL, NULL, NULL, v6, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #5: expected the shape (2, 2, 5, 4) of argument #4, got (2, 2, 6, 4)");
    ERR(NULL, NULL, NULL, NULL, v64, NULL, 4, 2, RX_ERR_DTYPE, "argument #1 is f32 but argument #5 is f64");
    ERR(NULL, NULL, NULL, kd3, vd3, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #4: expected an even head dim D >= 2, got 3");
    ERR(NULL, NULL, NULL, kstep, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #4: expected a unit stride on the last dim, got 2");

    /* tables */
    rx_tensor *c3 = t_zeros(2, (const int64_t[]){3, 4}, RX_F32),
              *cb3 = t_zeros(3, (const int64_t[]){3, 2, 4}, RX_F32);
    rx_tensor *c1 = t_zeros(3, (const int64_t[]){1, 2, 4}, RX_F32),
              *c64 = t_zeros(2, (const int64_t[]){2, 4}, RX_F64);
    rx_tensor *ct = t_zeros(2, (const int64_t[]){4, 2}, RX_F32), *ctt = view_t(rx_tensor_retain(ct), 0, 1);
    ERR(NULL, c3, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #2: expected a table of shape (2, 4) or (1 or 2, 2, 4), got (3, 4)");
    ERR(NULL, NULL, cb3, NULL, NULL, NULL, 4, 2, RX_ERR_SHAPE, "argument #3: expected a table of shape");
    ERR(NULL, c64, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_DTYPE, "argument #1 is f32 but argument #2 is f64");
    ERR(NULL, ctt, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_ARG, "argument #2: expected a contiguous table");
    ERR(NULL, NULL, c1, NULL, NULL, NULL, 4, 2, RX_ERR_SHAPE,
        "argument #3: expected the shape (2, 4) of argument #2, got (1, 2, 4)");

    /* slot */
    rx_tensor *sf = t_zeros(1, (const int64_t[]){1}, RX_F32), *s2 = t_zeros(1, (const int64_t[]){2}, RX_I64);
    ERR(NULL, NULL, NULL, NULL, NULL, sf, 4, 2, RX_ERR_DTYPE,
        "argument #6: expected an i32 or i64 index tensor");
    ERR(NULL, NULL, NULL, NULL, NULL, s2, 4, 2, RX_ERR_SHAPE,
        "argument #6: expected a slot tensor with one element, got shape (2)");

    /* storage shared with a cache */
    rx_tensor *flat = t_randn(1, (const int64_t[]){300}, RX_F32, 16), *kpart = narrow_t(flat, 0, 0, 80);
    rx_tensor *qpart = narrow_t(flat, 0, 80, 128), *cpart = narrow_t(flat, 0, 208, 8),
              *vpart = narrow_t(flat, 0, 216, 80);
    rx_tensor *ks = NULL, *qsh = NULL, *csh = NULL, *vsh = NULL, *slot_sh = NULL;
    CHECK_OK(rx_view(kpart, 4, (const int64_t[]){2, 2, 5, 4}, &ks));
    CHECK_OK(rx_view(qpart, 3, (const int64_t[]){2, 2, 32}, &qsh));
    CHECK_OK(rx_view(cpart, 2, (const int64_t[]){2, 4}, &csh));
    CHECK_OK(rx_view(vpart, 4, (const int64_t[]){2, 2, 5, 4}, &vsh));
    /* an i64 header on cache_v's storage: its bits are not a valid slot, but the check comes first */
    CHECK_OK(
        rx_tensor_make(f.cv->storage, 0, 1, (const int64_t[]){1}, (const int64_t[]){1}, RX_I64, &slot_sh));
    ERR(qsh, NULL, NULL, ks, NULL, NULL, 4, 2, RX_ERR_ARG, "argument #1 shares storage with argument #4");
    ERR(NULL, csh, NULL, ks, NULL, NULL, 4, 2, RX_ERR_ARG, "argument #2 shares storage with argument #4");
    ERR(NULL, NULL, NULL, ks, vsh, NULL, 4, 2, RX_ERR_ARG, "argument #5 shares storage with argument #4");
    ERR(NULL, NULL, NULL, NULL, NULL, slot_sh, 4, 2, RX_ERR_ARG,
        "argument #6 shares storage with argument #5");

    t_release_all(11, (rx_tensor *[]){qi, q2, q64, qb3, qwide, q4, qstep, qt6, c6, k3, v6});
    t_release_all(10, (rx_tensor *[]){v64, kd3, vd3, kwide, k5, kstep, c3, cb3, c1, c64});
    t_release_all(8, (rx_tensor *[]){ct, ctt, sf, s2, flat, kpart, qpart, cpart});
    t_release_all(7, (rx_tensor *[]){vpart, ks, qsh, csh, vsh, slot_sh, NULL});
    t_release_all(3, (rx_tensor *[]){s4, sm1, s3});
    fx_free(&f);
}

/* Inference only: inputs that require grad are errors while grad mode is on. */
static void test_grad_mode(void)
{
    fx f = fx_new();
    rx_tensor *q = NULL;
    rx_tensor *a[5] = {f.qkv, f.cos, f.sin, f.ck, f.cv};
    for (int i = 0; i < 5; i++) {
        CHECK_OK(rx_set_requires_grad(a[i], 1));
        char needle[128];
        snprintf(needle, sizeof needle,
                 "rope_append_kv: argument #%d requires grad, but rope_append_kv is inference only", i + 1);
        ERR(NULL, NULL, NULL, NULL, NULL, NULL, 4, 2, RX_ERR_ARG, needle);
        int prev = rx_set_grad_enabled(0);
        CHECK_OK(rx_rope_append_kv(f.qkv, f.cos, f.sin, f.ck, f.cv, f.slot, 4, 2, &q));
        CHECK(q && !rx_requires_grad(q));
        rx_tensor_release(q);
        q = NULL;
        rx_set_grad_enabled(prev);
        CHECK_OK(rx_set_requires_grad(a[i], 0));
    }
    fx_free(&f);
}

int main(void)
{
    RUN(test_cases);
    RUN(test_parallel_prefill);
    RUN(test_empty);
    RUN(test_errors);
    RUN(test_grad_mode);
    RUN(check_no_leaks);
    return check_finish();
}
