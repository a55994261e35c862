/* test_cuda_nn.c — every fused nn kernel and optimizer kernel of the CUDA backend against the CPU
 * backend, forward and backward, on the GPU.
 *
 * Each op runs through the public API (so the ops layer's staging runs too) on CPU tensors and on
 * GPU copies of them; backward passes get the same random upstream gradient on both devices.
 * Inputs are fresh random tensors (N(0, 1) scaled, never zeros); before each op, freed CUDA cache
 * blocks of the outputs' sizes are filled with 0xFF bytes (NaN in every float dtype), so an
 * element a kernel forgets to write fails the comparison.
 *
 * Covers: col_sum (the bias gradient of linear, also on transposed inputs); embedding and its
 * deterministic backward (repeated and hot ids, padding_idx, i32/i64 ids, a weight with a row
 * stride, bitwise equal to the CPU and between runs); rmsnorm and layernorm (warp, 128- and
 * 512-thread rows, unaligned rows, leading dims, NULL weight/bias, rows far from zero, SmolLM2's
 * 576 channels, an odd number of rows per weight-gradient chunk); rope tables
 * (i32/i64 positions, f32/f64 frequencies, batched positions) and rope on transposed views;
 * rope_append_kv (GQA and MHA, every float dtype, shared and per-batch tables, strided qkv and
 * caches, i32/i64 slots at both ends, out-of-range slots leaving the caches unchanged, decode
 * steps with the slot rewritten on the device, 64-row decode batches, 1000-token prefills;
 * exact against the CPU but for f64 (one ulp), and bit for bit against the CUDA rope);
 * attention (tensor-core path: bf16 and f16, head dims 64 and 128, GQA, causal with T != S, key
 * padding, additive masks broadcast over batch or heads, dropout, transposed q/k/v, multi-tile
 * sequences, the benchmark's shape; generic path: f32, f64, head dim 48 and 16; rows without keys
 * give zeros and zero gradients); the attention decode path (T = 1: S 1 to 3000 including the
 * split-key kernels, GQA 9/3, 4/4, 8/1, 12/2, head dims 1 to 128 including idle lanes and
 * unaligned rows (scalar loads), q sliced from a packed projection and k/v from a longer cache,
 * key padding with rows that see only their last or first key or none, masks with -inf, S = 0;
 * the output also against double precision, the log-sum-exp statistic against double precision,
 * a second run bit for bit, and the existing backward through it); swiglu; dropout (identical
 * masks on both devices, exactly);
 * the inference-only add_rmsnorm_ and swiglu_packed (the residual exactly; the outputs also bit
 * for bit against the unfused CUDA ops where both take the same path: SmolLM2's 576 and 1536,
 * odd and long rows, unaligned operands, r = x);
 * cross-entropy (ignore_index, weights, i32/i64 targets, a 8192 x 49152 bf16 vocabulary);
 * bce_with_logits and mse; AdamW (f32, f64, f16, bf16 mixed in one call, 0-d and empty tensors,
 * more tensors than one launch takes; offset views, so that the 16-byte vector path and the
 * per-element path share a launch), AdamW with f32 master weights (also on offset views), SGD
 * (momentum, dampening, nesterov, f32 and bf16 buffers), the global norm and scale_; gradient
 * clipping on the device (rx_clip_grad_norm_: below and above max_norm, non-finite norms, a list
 * of two devices refused); small host -> device copies through the pinned staging ring (sources
 * overwritten right after each copy, ring wrap-around, packed and converting copies); and a tiny
 * transformer (embedding, rmsnorm, linear, rope, GQA causal attention, swiglu, cross-entropy)
 * trained 10 AdamW steps in f32 on both devices, whose loss curves must agree within 1e-4.
 *
 * Bounds. Elementwise: |cuda - cpu| <= rtol |cpu| + atol max|cpu| (max over the tensor, so atol
 * covers results that cancel); normwise: ||cuda - cpu|| / ||cpu|| <= nrel. NaN matches only NaN.
 * - exact (0): embedding and its backward (both add in double in increasing n, one rounding),
 *   dropout, rope tables in f32 for f32 frequencies (one ulp allowed: CUDA's and glibc's double
 *   cos differ in the last bit), AdamW/SGD/scale_ (explicitly rounded f32 operations in the CPU's
 *   order; f64 likewise) and AdamW with master weights.
 * - f32 (f64): rtol 1e-5 (1e-12), atol 1e-6 (1e-13) for norms, rope, swiglu, losses, col_sum
 *   (f32 sums in another order); attention f32 nrel 1e-5, elementwise 1e-4/1e-5 (f64 1e-12).
 * - f16/bf16 elementwise ops: one or two ulps of the dtype (2^-10 / 2^-7 relative): both devices
 *   compute in f32 and round once, but the f32 values differ in the last bits.
 * - bf16 (f16) attention: nrel 1e-2 (3e-3): the tensor cores multiply probabilities rounded to
 *   bf16 (f16) where the CPU keeps f32; METHOD.md's range for bf16 operands is 1e-3..1e-2.
 *   The decode path (f32 probabilities) also against double: rtol 2^-7 (bf16), 2^-10 (f16), 1e-5
 *   (f32) with atol 1e-4 x max, i.e. the output's rounding; its statistic within 2e-5 (1 + |lse|).
 * - global norm: 1e-12 relative (double sums in another order). clip_grad_norm_: norm 1e-6
 *   relative, scaled f32 1e-6 relative, f16/bf16 one ulp (the factor may round differently).
 *
 * Skips (exit 77, "skipped: no CUDA device") when rx_cuda_available() is 0. Environment:
 * RECX_GPU_TEST_QUICK=1 shrinks the large shapes (for compute-sanitizer runs);
 * RECX_GPU_TEST_ONLY=test_norms,test_rope runs only the named test functions;
 * RECX_GPU_TEST_VERBOSE=1 prints each case before it runs.
 */
#include "gpu_check.h"
#include "core/core.h"
#include "autograd/autograd.h"
#include "cuda/cuda_kernels.h"
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

static bool quick, verbose;
static rx_generator *gen; /* inputs */

/* ---- small helpers ------------------------------------------------------------------------ */

static void poison_like(const rx_tensor *t) { poison(rx_tensor_numel(t) * rx_dtype_size(rx_tensor_dtype(t))); }

/* A fresh CPU tensor: scale * N(0, 1) + shift, rounded to dt. */
static rx_tensor *rnd(int ndim, const int64_t *shape, rx_dtype dt, double scale, double shift)
{
    rx_tensor *x = NULL, *y = NULL, *z = NULL, *o = NULL;
    OKS(rx_randn(ndim, shape, RX_F64, rx_cpu(), gen, &x));
    OKS(rx_binary_scalar(RX_MUL, x, scale, 0, &y));
    OKS(rx_binary_scalar(RX_ADD, y, shift, 0, &z));
    OKS(rx_to_dtype(z, dt, &o));
    rel(3, x, y, z);
    return o;
}

static rx_tensor *randint_cpu(int64_t lo, int64_t hi, int ndim, const int64_t *shape, rx_dtype dt)
{
    rx_tensor *x = NULL;
    OKS(rx_randint(lo, hi, ndim, shape, dt, rx_cpu(), gen, &x));
    return x;
}

static rx_tensor *transposed(rx_tensor *t, int a, int b) /* takes t */
{
    rx_tensor *o = NULL;
    OKS(rx_transpose(t, a, b, &o));
    rx_tensor_release(t);
    return o;
}

static rx_tensor *contig(rx_tensor *t) /* takes t */
{
    rx_tensor *o = NULL;
    OKS(rx_contiguous(t, &o));
    rx_tensor_release(t);
    return o;
}

/* A leaf copy of cpu tensor c on device d that requires grad (when grad). */
static rx_tensor *leaf(rx_tensor *c, rx_device d, bool grad)
{
    rx_tensor *o = NULL, *det = NULL;
    if (d.type == RX_CPU) {
        OKS(rx_clone(c, &o));
    } else {
        o = to_dev(c, d);
    }
    if (!o) return NULL;
    /* a leaf: no graph, and a layout of its own like c's (clone keeps strides only when dense) */
    OKS(rx_detach(o, &det));
    rx_tensor_release(o);
    if (grad) OKS(rx_set_requires_grad(det, 1));
    return det;
}

static void backward_with(rx_tensor *out, rx_tensor *gout_cpu)
{
    rx_tensor *g = gout_cpu ? to_dev(gout_cpu, rx_tensor_device(out)) : NULL;
    OKS(rx_backward(out, g, 0));
    rx_tensor_release(g);
}

/* Announces a case on stdout when RECX_GPU_TEST_VERBOSE is set (to place a crash). */
static void announce(const char *desc)
{
    if (!verbose) return;
    printf("  case: %s\n", desc);
    fflush(stdout);
}

/* ---- comparison ---------------------------------------------------------------------------- */

typedef struct tol {
    double rtol, atol, nrel; /* nrel 0: no normwise bound */
} tol;

static const tol EXACT = {0, 0, 0};

static tol tol_elem(rx_dtype dt)
{
    switch (dt) {
    case RX_F64: return (tol){1e-12, 1e-13, 0};
    case RX_F32: return (tol){1e-5, 1e-6, 0};
    case RX_F16: return (tol){2.0 / 1024, 1e-3, 0};
    default: return (tol){2.0 / 128, 1e-2, 0};
    }
}

/* Streams through two tensors of one shape (any device, any float/int dtype). */
#define CMP(desc, g, c, t) cmp_(__FILE__, __LINE__, (desc), (g), (c), (t))
static void cmp_(const char *file, int line, const char *desc, rx_tensor *g, rx_tensor *c, tol t)
{
    if (!g || !c) {
        check_fail(file, line, "%s: missing result (cuda %s, cpu %s): %s", desc, g ? "ok" : "NULL", c ? "ok" : "NULL",
                   rx_last_error());
        return;
    }
    if (rx_tensor_ndim(g) != rx_tensor_ndim(c) ||
        memcmp(rx_tensor_shape_ptr(g), rx_tensor_shape_ptr(c), sizeof(int64_t) * (size_t)rx_tensor_ndim(g)) != 0 ||
        rx_tensor_dtype(g) != rx_tensor_dtype(c)) {
        check_fail(file, line, "%s: cuda and cpu results differ in shape or dtype (%s vs %s)", desc,
                   rx_dtype_name(rx_tensor_dtype(g)), rx_dtype_name(rx_tensor_dtype(c)));
        return;
    }
    /* either side may live on the GPU (a CUDA run compared with another CUDA run) */
    rx_tensor *gh = to_dev(g, rx_cpu()), *ch = to_dev(c, rx_cpu()), *gc = NULL, *cc = NULL;
    if (!gh || !ch || rx_contiguous(gh, &gc) != RX_OK || rx_contiguous(ch, &cc) != RX_OK) {
        check_fail(file, line, "%s: could not read the results back: %s", desc, rx_last_error());
        rel(4, gh, ch, gc, cc);
        return;
    }
    int64_t n = rx_tensor_numel(cc), es = rx_dtype_size(rx_tensor_dtype(cc));
    rx_dtype dt = rx_tensor_dtype(cc);
    const char *gp = rx_tensor_data_ptr(gc), *cp = rx_tensor_data_ptr(cc);
    double amax = 0, se = 0, ref2 = 0;
    bool nan_mismatch = false;
    for (int64_t i = 0; i < n; i++) {
        double a = rx_load_double(gp + i * es, dt), b = rx_load_double(cp + i * es, dt);
        if (isfinite(b)) {
            amax = fabs(b) > amax ? fabs(b) : amax;
            ref2 += b * b;
        }
        if (isfinite(a) && isfinite(b)) se += (a - b) * (a - b);
        nan_mismatch |= isnan(a) != isnan(b);
    }
    int64_t bad = 0, worst = -1;
    double worst_ratio = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = rx_load_double(gp + i * es, dt), b = rx_load_double(cp + i * es, dt);
        if ((isnan(a) && isnan(b)) || a == b) continue;
        double err = fabs(a - b), bound = t.rtol * fabs(b) + t.atol * amax;
        if (err <= bound) continue;
        double ratio = bound > 0 ? err / bound : INFINITY;
        if (bad++ == 0 || !(ratio <= worst_ratio)) worst = i, worst_ratio = ratio;
    }
    char worst_s[160] = "";
    if (bad)
        snprintf(worst_s, sizeof worst_s, "; worst [%lld]: cuda %.9g, cpu %.9g", (long long)worst,
                 rx_load_double(gp + worst * es, dt), rx_load_double(cp + worst * es, dt));
    double nr = ref2 > 0 ? sqrt(se / ref2) : sqrt(se);
    if (t.nrel > 0 && (nr > t.nrel || nan_mismatch || bad))
        check_fail(file, line, "%s: normwise error %.3g (bound %g)%s; %lld of %lld elements past the elementwise "
                   "bound (rtol %g, atol %g x max|cpu| %.3g)%s",
                   desc, nr, t.nrel, nan_mismatch ? ", NaN where the CPU has none or the reverse" : "", (long long)bad,
                   (long long)n, t.rtol, t.atol, amax, worst_s);
    else if (t.nrel <= 0 && bad)
        check_fail(file, line, "%s: %lld of %lld elements outside the bound (rtol %g, atol %g x max|cpu| %.3g)%s", desc,
                   (long long)bad, (long long)n, t.rtol, t.atol, amax, worst_s);
    rel(4, gh, ch, gc, cc);
}

/* The gradient of leaf t (borrowed), with a failure when missing. */
static rx_tensor *grad(rx_tensor *t, const char *name)
{
    rx_tensor *g = t ? rx_grad(t) : NULL;
    if (!g) check_fail(__FILE__, __LINE__, "%s has no gradient", name);
    return g;
}

/* ---- col_sum (linear's bias gradient) ----------------------------------------------------- */

static void test_col_sum(void)
{
    const rx_dtype dts[] = {RX_F32, RX_F64, RX_BF16};
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 37, 129}, {2, 2500, 64}, {1, 300, 1000}};
    for (int di = 0; di < 3; di++)
        for (int si = 0; si < 4; si++) {
            rx_dtype dt = dts[di];
            const int64_t *sh = shapes[si];
            int64_t xs[3] = {sh[0], sh[1], 24}, ws[2] = {sh[2], 24};
            rx_tensor *x = rnd(3, xs, dt, 1, 0), *w = rnd(2, ws, dt, 0.2, 0), *b = rnd(1, &sh[2], dt, 1, 0);
            rx_tensor *gout = rnd(3, sh, dt, 1, 0.3);
            if (si == 3) gout = transposed(contig(transposed(gout, 1, 2)), 1, 2); /* a transposed upstream grad */
            rx_tensor *xc = leaf(x, rx_cpu(), false), *wc = leaf(w, rx_cpu(), false), *bc = leaf(b, rx_cpu(), true);
            rx_tensor *xg = leaf(x, GPU, false), *wg = leaf(w, GPU, false), *bg = leaf(b, GPU, true);
            rx_tensor *yc = NULL, *yg = NULL;
            OKS(rx_linear(xc, wc, bc, &yc));
            OKS(rx_linear(xg, wg, bg, &yg));
            backward_with(yc, gout);
            poison_like(b);
            backward_with(yg, gout);
            tol t = tol_elem(dt);
            if (dt == RX_BF16) t.rtol = 1.0 / 128; /* double sums on both sides, one rounding: one ulp */
            CMP(what("col_sum %s %lldx%lld", rx_dtype_name(dt), (long long)(sh[0] * sh[1]), (long long)sh[2]),
                grad(bg, "bias"), grad(bc, "bias"), t);
            rel(12, x, w, b, gout, xc, wc, bc, xg, wg, bg, yc, yg);
        }
}

/* ---- embedding ------------------------------------------------------------------------------ */

static void embedding_case(int64_t v, int64_t c, int64_t n, rx_dtype dt, rx_dtype idt, int64_t padding, int64_t hot,
                           bool strided)
{
    int64_t ws[2] = {v, strided ? c + 8 : c}, ns[2] = {n / 4, 4};
    rx_tensor *w = rnd(2, ws, dt, 1, 0);
    if (strided) { /* row stride c + 8, unit stride on C */
        rx_tensor *nw = NULL;
        OKS(rx_narrow(w, 1, 3, c, &nw));
        rel(1, w);
        w = nw;
    }
    rx_tensor *ids = randint_cpu(0, v, 2, ns, idt);
    for (int64_t i = 0; i < hot; i++) { /* one id repeated many times: a long segment */
        int64_t idx[2] = {(i * 7) % (n / 4), (i * 3) % 4};
        rx_tensor_set(ids, idx, (double)(v / 2));
    }
    if (padding >= 0)
        for (int64_t i = 0; i < n / 8; i++) {
            int64_t idx[2] = {(i * 5) % (n / 4), (i * 11) % 4};
            rx_tensor_set(ids, idx, (double)padding);
        }
    int64_t gs[3] = {n / 4, 4, c};
    rx_tensor *gout = rnd(3, gs, dt, 1, 0);
    rx_tensor *wc = leaf(w, rx_cpu(), true), *wg = leaf(w, GPU, true), *idg = to_dev(ids, GPU);
    rx_tensor *oc = NULL, *og = NULL;
    const char *d = what("embedding V%lld C%lld N%lld %s %s pad %lld hot %lld%s", (long long)v, (long long)c, (long long)n,
                         rx_dtype_name(dt), rx_dtype_name(idt), (long long)padding, (long long)hot,
                         strided ? " strided" : "");
    char desc[256];
    snprintf(desc, sizeof desc, "%s", d);
    announce(desc);
    OKS(rx_embedding(wc, ids, padding, &oc));
    poison(n * c * rx_dtype_size(dt));
    OKS(rx_embedding(wg, idg, padding, &og));
    CMP(what("%s forward", desc), og, oc, EXACT);
    backward_with(oc, gout);
    poison(v * c * rx_dtype_size(dt));
    backward_with(og, gout);
    CMP(what("%s backward", desc), grad(wg, "weight"), grad(wc, "weight"), EXACT);
    /* a second run gives the same bits */
    rx_tensor *wg2 = leaf(w, GPU, true), *og2 = NULL;
    OKS(rx_embedding(wg2, idg, padding, &og2));
    poison(v * c * rx_dtype_size(dt));
    backward_with(og2, gout);
    CMP(what("%s backward, second run", desc), grad(wg2, "weight"), grad(wg, "weight"), EXACT);
    rel(10, w, ids, gout, wc, wg, idg, oc, og, wg2, og2);
}

static void test_embedding(void)
{
    embedding_case(50, 24, 1000, RX_F32, RX_I64, -1, 0, false);
    embedding_case(50, 24, 1000, RX_F32, RX_I32, 7, 0, true);
    embedding_case(1000, 64, 4096, RX_BF16, RX_I64, 0, 300, false);
    embedding_case(997, 33, 512, RX_F64, RX_I32, -1, 0, false);
    embedding_case(1, 8, 64, RX_F16, RX_I64, -1, 0, false);
    if (!quick) embedding_case(32000, 256, 8192, RX_F32, RX_I64, 2, 3000, false);
}

/* ---- normalisation ----------------------------------------------------------------------- */

static void norm_case(bool layer, int64_t m, int64_t c, rx_dtype dt, bool with_w, bool with_b, double shift,
                      bool transposed_x)
{
    int64_t xs[3] = {2, m / 2, c};
    rx_tensor *x = rnd(3, xs, dt, 1.5, shift);
    if (transposed_x) x = transposed(contig(transposed(x, 0, 1)), 0, 1);
    rx_tensor *w = with_w ? rnd(1, &c, dt, 0.5, 1) : NULL, *b = with_b ? rnd(1, &c, dt, 0.5, 0) : NULL;
    rx_tensor *gout = rnd(3, xs, dt, 1, 0);
    rx_tensor *xc = leaf(x, rx_cpu(), true), *wc = w ? leaf(w, rx_cpu(), true) : NULL, *bc = b ? leaf(b, rx_cpu(), true) : NULL;
    rx_tensor *xg = leaf(x, GPU, true), *wg = w ? leaf(w, GPU, true) : NULL, *bg = b ? leaf(b, GPU, true) : NULL;
    rx_tensor *yc = NULL, *yg = NULL;
    double eps = layer ? 1e-5 : 1e-6;
    char desc[160];
    snprintf(desc, sizeof desc, "%s (%lld, %lld) %s%s%s shift %g%s", layer ? "layernorm" : "rmsnorm", (long long)m,
             (long long)c, rx_dtype_name(dt), with_w ? " w" : "", with_b ? " b" : "", shift, transposed_x ? " strided" : "");
    announce(desc);
    if (layer) {
        OKS(rx_layernorm(xc, wc, bc, eps, &yc));
        poison_like(x);
        OKS(rx_layernorm(xg, wg, bg, eps, &yg));
    } else {
        OKS(rx_rmsnorm(xc, wc, eps, &yc));
        poison_like(x);
        OKS(rx_rmsnorm(xg, wg, eps, &yg));
    }
    tol t = tol_elem(dt);
    CMP(what("%s forward", desc), yg, yc, t);
    backward_with(yc, gout);
    poison_like(x);
    backward_with(yg, gout);
    CMP(what("%s dx", desc), grad(xg, "x"), grad(xc, "x"), t);
    if (w) CMP(what("%s dw", desc), grad(wg, "w"), grad(wc, "w"), t);
    if (b) CMP(what("%s db", desc), grad(bg, "b"), grad(bc, "b"), t);
    rel(12, x, w, b, gout, xc, wc, bc, xg, wg, bg, yc, yg);
}

static void test_norms(void)
{
    const int64_t shapes[][2] = {{8, 64}, {66, 1000}, {10, 1001}, {64, 4096}, {16, 8192}, {4, 20000}};
    for (int layer = 0; layer < 2; layer++)
        for (int si = 0; si < 6; si++) {
            norm_case(layer, shapes[si][0], shapes[si][1], RX_F32, true, layer, 0, si == 1);
            norm_case(layer, shapes[si][0], shapes[si][1], RX_BF16, true, layer, 0, false);
        }
    norm_case(true, 40, 300, RX_F32, false, false, 20, false); /* no weight or bias, rows far from zero */
    norm_case(true, 40, 300, RX_F64, true, true, 3, false);
    norm_case(false, 40, 300, RX_F64, true, false, 0, false);
    norm_case(false, 40, 300, RX_F16, true, false, 0, false);
    /* SmolLM2's rows (576: 3 bf16 vectors or 5 f32 vectors per lane of a warp) */
    norm_case(false, 64, 576, RX_BF16, true, false, 0, false);
    norm_case(false, 64, 576, RX_F32, true, false, 0, false);
    norm_case(true, 64, 576, RX_BF16, true, true, 0, false);
    /* 17002 rows: 17 rows per chunk of the weight gradient (odd: RMSNorm's two-row steps end on a
     * lone row) and a last chunk of 2 rows */
    norm_case(false, 17002, 64, RX_BF16, true, false, 0, false);
    if (!quick) norm_case(false, 17002, 576, RX_F16, true, false, 0, false);
    if (!quick) norm_case(false, 8192, 4096, RX_BF16, true, false, 0, false); /* the benchmark's shape */
}

/* ---- rotary embeddings -------------------------------------------------------------------- */

static void test_rope(void)
{
    /* tables */
    for (int f64 = 0; f64 < 2; f64++)
        for (int batched = 0; batched < 2; batched++) {
            int64_t d = 64, t = 300, ps[2] = {3, t};
            rx_tensor *pos = randint_cpu(0, 100000, batched ? 2 : 1, batched ? ps : &t, batched ? RX_I32 : RX_I64);
            rx_tensor *invf = NULL, *inv = NULL;
            OKS(rx_rope_inv_freq(d, 10000.0, &invf));
            OKS(rx_to_dtype(invf, f64 ? RX_F64 : RX_F32, &inv));
            rx_tensor *posg = to_dev(pos, GPU), *invg = to_dev(inv, GPU);
            const rx_dtype tdts[] = {RX_F32, RX_BF16, RX_F64};
            for (int k = 0; k < 3; k++) {
                rx_tensor *cc = NULL, *sc = NULL, *cg = NULL, *sg = NULL;
                OKS(rx_rope_tables(pos, inv, tdts[k], &cc, &sc));
                poison(3 * t * d * 8);
                OKS(rx_rope_tables(posg, invg, tdts[k], &cg, &sg));
                tol one_ulp = {tdts[k] == RX_F64 ? 1e-15 : tdts[k] == RX_F32 ? 1.2e-7 : 1.0 / 128, 1e-15, 0};
                CMP(what("rope_tables cos %s freq %s%s", rx_dtype_name(tdts[k]), f64 ? "f64" : "f32", batched ? " batched" : ""),
                    cg, cc, one_ulp);
                CMP("rope_tables sin", sg, sc, one_ulp);
                rel(4, cc, sc, cg, sg);
            }
            rel(5, pos, invf, inv, posg, invg);
        }
    /* the rotation on a (B, T, H, D) tensor viewed as (B, H, T, D), tables shared or per batch */
    const rx_dtype dts[] = {RX_F32, RX_BF16, RX_F64};
    for (int k = 0; k < 3; k++)
        for (int per_batch = 0; per_batch < 2; per_batch++) {
            int64_t b = 3, h = 5, t = 37, d = 32, xs[4] = {b, t, h, d}, ts[3] = {b, t, d};
            rx_tensor *x = transposed(rnd(4, xs, dts[k], 1, 0), 1, 2);
            int tnd = per_batch ? 3 : 2; /* (B, T, D) or shared (T, D) */
            rx_tensor *cs = rnd(tnd, ts + 3 - tnd, dts[k], 1, 0), *sn = rnd(tnd, ts + 3 - tnd, dts[k], 1, 0);
            int64_t os[4] = {b, h, t, d};
            rx_tensor *gout = rnd(4, os, dts[k], 1, 0);
            rx_tensor *xc = leaf(x, rx_cpu(), true), *xg = to_dev(x, GPU); /* the GPU copy keeps the transposed view */
            OKS(rx_set_requires_grad(xg, 1));
            rx_tensor *csg = to_dev(cs, GPU), *sng = to_dev(sn, GPU), *yc = NULL, *yg = NULL;
            OKS(rx_rope(xc, cs, sn, &yc));
            poison_like(x);
            OKS(rx_rope(xg, csg, sng, &yg));
            tol t1 = tol_elem(dts[k]);
            CMP(what("rope %s%s", rx_dtype_name(dts[k]), per_batch ? " per-batch tables" : ""), yg, yc, t1);
            backward_with(yc, gout);
            poison_like(x);
            backward_with(yg, gout);
            CMP(what("rope backward %s", rx_dtype_name(dts[k])), grad(xg, "x"), grad(xc, "x"), t1);
            rel(10, x, cs, sn, gout, xc, xg, csg, sng, yc, yg);
        }
}

/* ---- rope_append_kv (rope fused with the KV-cache append) ------------------------------------ */

/* The (B, n, T, D) heads [first, first + n) of qkv (B, T, W), rotated by rx_rope when cs is not
 * NULL (tables (T, D) or (B, T, D)), else made contiguous: the unfused ops on qkv's device. */
static rx_tensor *rak_heads(rx_tensor *qkv, int64_t first, int64_t n, int64_t d, rx_tensor *cs, rx_tensor *sn)
{
    const int64_t *qs = rx_tensor_shape_ptr(qkv);
    rx_tensor *cols = NULL, *r = NULL, *out = NULL;
    OKS(rx_narrow(qkv, 2, first * d, n * d, &cols));
    OKS(rx_reshape(cols, 4, (const int64_t[]){qs[0], qs[1], n, d}, &r));
    rx_tensor *x = transposed(r, 1, 2);
    if (cs)
        OKS(rx_rope(x, cs, sn, &out));
    else
        OKS(rx_contiguous(x, &out));
    rel(2, cols, x);
    return out;
}

/* A one-element slot tensor of dtype sdt on device dev. */
static rx_tensor *rak_slot(int64_t s, rx_dtype sdt, rx_device dev)
{
    rx_tensor *c = NULL;
    double v = (double)s;
    OKS(rx_from_doubles(1, (const int64_t[]){1}, sdt, &v, &c));
    rx_tensor *o = to_dev(c, dev);
    rel(1, c);
    return o;
}

/* A (B, G, L, D) cache on the CPU and a copy of it on the GPU: contiguous, or each stored
 * (B, L, G, D) and transposed. */
static void rak_cache(int64_t b, int64_t g, int64_t l, int64_t d, rx_dtype dt, bool strided, rx_tensor **c,
                      rx_tensor **gpu)
{
    if (!strided) {
        *c = rnd(4, (const int64_t[]){b, g, l, d}, dt, 1, 0);
        *gpu = to_dev(*c, GPU);
        return;
    }
    rx_tensor *base = rnd(4, (const int64_t[]){b, l, g, d}, dt, 1, 0), *gbase = to_dev(base, GPU);
    *c = transposed(base, 1, 2);
    *gpu = transposed(gbase, 1, 2);
}

/* One case on both devices. q and the whole caches against the CPU: exactly for f32, f16 and bf16
 * (products of such values are exact in double, so x1 c1 - x2 s1 is one rounding of the exact
 * value whether or not CUDA contracts it into an fma, and both devices round it to the dtype to
 * nearest even), within one f64 ulp (plus 1e-15 max|cpu| for cancellations) for f64, where the
 * fma's single rounding shows; the v heads are copied bits. q and the cached keys also against
 * the CUDA rope of the same columns, exactly (the same expression). tables: 0 (T, D), 1 (1, T,
 * D), 2 (B, T, D). */
static void rope_append_kv_case(int64_t b, int64_t t, int64_t h, int64_t g, int64_t d, int64_t l, int64_t s,
                                int tables, bool strided, rx_dtype dt, rx_dtype sdt)
{
    char desc[160], dbuf[220];
    snprintf(desc, sizeof desc,
             "rope_append_kv B %lld T %lld H %lld G %lld D %lld L %lld slot %lld tables %d%s %s %s",
             (long long)b, (long long)t, (long long)h, (long long)g, (long long)d, (long long)l,
             (long long)s, tables, strided ? " strided" : "", rx_dtype_name(dt), rx_dtype_name(sdt));
    announce(desc);
    int64_t w = (h + 2 * g) * d;
    rx_tensor *qkv, *qkvg;
    if (strided) { /* token-major storage: row strides B W and W */
        rx_tensor *base = rnd(3, (const int64_t[]){t, b, w}, dt, 1, 0), *gbase = to_dev(base, GPU);
        qkv = transposed(base, 0, 1);
        qkvg = transposed(gbase, 0, 1);
    } else {
        qkv = rnd(3, (const int64_t[]){b, t, w}, dt, 1, 0);
        qkvg = to_dev(qkv, GPU);
    }
    int64_t ts[3] = {tables == 1 ? 1 : b, t, d};
    int tnd = tables == 0 ? 2 : 3;
    rx_tensor *cs = rnd(tnd, ts + 3 - tnd, dt, 1, 0), *sn = rnd(tnd, ts + 3 - tnd, dt, 1, 0);
    rx_tensor *csg = to_dev(cs, GPU), *sng = to_dev(sn, GPU);
    rx_tensor *ck, *ckg, *cv, *cvg;
    rak_cache(b, g, l, d, dt, strided, &ck, &ckg);
    rak_cache(b, g, l, d, dt, strided, &cv, &cvg);
    rx_tensor *slc = rak_slot(s, sdt, rx_cpu()), *slg = rak_slot(s, sdt, GPU), *qc = NULL, *qg = NULL;
    OKS(rx_rope_append_kv(qkv, cs, sn, ck, cv, slc, h, g, &qc));
    poison(b * h * t * d * rx_dtype_size(dt));
    OKS(rx_rope_append_kv(qkvg, csg, sng, ckg, cvg, slg, h, g, &qg));
    tol vs_cpu = dt == RX_F64 ? (tol){2.3e-16, 1e-15, 0} : EXACT;
    snprintf(dbuf, sizeof dbuf, "%s: q", desc);
    CMP(dbuf, qg, qc, vs_cpu);
    snprintf(dbuf, sizeof dbuf, "%s: cache_k", desc);
    CMP(dbuf, ckg, ck, vs_cpu);
    snprintf(dbuf, sizeof dbuf, "%s: cache_v", desc);
    CMP(dbuf, cvg, cv, EXACT);
    /* the unfused CUDA ops (rope takes (T, D) or (B, T, D) tables) */
    rx_tensor *c2 = NULL, *s2 = NULL, *kslot = NULL, *vslot = NULL;
    if (tables == 1) {
        OKS(rx_view(csg, 2, (const int64_t[]){t, d}, &c2));
        OKS(rx_view(sng, 2, (const int64_t[]){t, d}, &s2));
    } else {
        c2 = rx_tensor_retain(csg);
        s2 = rx_tensor_retain(sng);
    }
    rx_tensor *rq = rak_heads(qkvg, 0, h, d, c2, s2), *rk = rak_heads(qkvg, h, g, d, c2, s2);
    rx_tensor *rv = rak_heads(qkvg, h + g, g, d, NULL, NULL);
    OKS(rx_narrow(ckg, 2, s, t, &kslot));
    OKS(rx_narrow(cvg, 2, s, t, &vslot));
    snprintf(dbuf, sizeof dbuf, "%s: q vs cuda rope", desc);
    CMP(dbuf, qg, rq, EXACT);
    snprintf(dbuf, sizeof dbuf, "%s: cached k vs cuda rope", desc);
    CMP(dbuf, kslot, rk, EXACT);
    snprintf(dbuf, sizeof dbuf, "%s: cached v vs qkv", desc);
    CMP(dbuf, vslot, rv, EXACT);
    rel(7, c2, s2, rq, rk, rv, kslot, vslot);

    /* slots out of range on the GPU: no error (nothing reads them on the host), q still written,
     * the caches untouched */
    const int64_t bad[2] = {-1, l - t + 1};
    for (int i = 0; i < 2; i++) {
        rx_tensor *kb = NULL, *vb = NULL, *sb = rak_slot(bad[i], sdt, GPU), *q2 = NULL;
        OKS(rx_clone(ckg, &kb));
        OKS(rx_clone(cvg, &vb));
        poison(b * h * t * d * rx_dtype_size(dt));
        OKS(rx_rope_append_kv(qkvg, csg, sng, ckg, cvg, sb, h, g, &q2));
        snprintf(dbuf, sizeof dbuf, "%s: slot %lld out of range: q", desc, (long long)bad[i]);
        CMP(dbuf, q2, qg, EXACT);
        snprintf(dbuf, sizeof dbuf, "%s: slot %lld out of range: cache_k unchanged", desc, (long long)bad[i]);
        CMP(dbuf, ckg, kb, EXACT);
        snprintf(dbuf, sizeof dbuf, "%s: slot %lld out of range: cache_v unchanged", desc, (long long)bad[i]);
        CMP(dbuf, cvg, vb, EXACT);
        rel(4, kb, vb, sb, q2);
    }
    rel(14, qkv, qkvg, cs, sn, csg, sng, ck, ckg, cv, cvg, slc, slg, qc, qg);
}

/* Decode steps: one slot tensor on the GPU rewritten between calls (as a replayed graph sees it),
 * q and the caches compared with the CPU after every step (exactly, as in rope_append_kv_case). */
static void rope_append_kv_decode(rx_dtype dt)
{
    int64_t b = 2, h = 9, g = 3, d = 64, l = 6, w = (h + 2 * g) * d;
    rx_tensor *ck, *ckg, *cv, *cvg;
    rak_cache(b, g, l, d, dt, false, &ck, &ckg);
    rak_cache(b, g, l, d, dt, false, &cv, &cvg);
    rx_tensor *slg = rak_slot(0, RX_I64, GPU);
    for (int64_t step = 0; step < l; step++) {
        rx_tensor *qkv = rnd(3, (const int64_t[]){b, 1, w}, dt, 1, 0), *qkvg = to_dev(qkv, GPU);
        rx_tensor *cs = rnd(3, (const int64_t[]){b, 1, d}, dt, 1, 0);
        rx_tensor *sn = rnd(3, (const int64_t[]){b, 1, d}, dt, 1, 0);
        rx_tensor *csg = to_dev(cs, GPU), *sng = to_dev(sn, GPU), *slc = rak_slot(step, RX_I64, rx_cpu());
        rx_tensor *qc = NULL, *qg = NULL;
        OKS(rx_fill_(slg, (double)step));
        OKS(rx_rope_append_kv(qkv, cs, sn, ck, cv, slc, h, g, &qc));
        OKS(rx_rope_append_kv(qkvg, csg, sng, ckg, cvg, slg, h, g, &qg));
        const char *dn = rx_dtype_name(dt);
        CMP(what("rope_append_kv decode %s step %lld: q", dn, (long long)step), qg, qc, EXACT);
        CMP(what("rope_append_kv decode %s step %lld: cache_k", dn, (long long)step), ckg, ck, EXACT);
        CMP(what("rope_append_kv decode %s step %lld: cache_v", dn, (long long)step), cvg, cv, EXACT);
        rel(9, qkv, qkvg, cs, sn, csg, sng, slc, qc, qg);
    }
    rel(5, ck, ckg, cv, cvg, slg);
}

static void test_rope_append_kv(void)
{
    const rx_dtype dts[4] = {RX_F32, RX_BF16, RX_F16, RX_F64};
    int n = 0;
    for (int k = 0; k < 4; k++)
        for (int64_t b = 1; b <= 3; b += 2)
            for (int64_t t = 1; t <= 5; t += 4)
                for (int tables = 0; tables < 3; tables++) {
                    int64_t l = 9, s = n % 3 == 0 ? 0 : n % 3 == 1 ? l - t : 2;
                    rx_dtype sdt = n % 4 < 2 ? RX_I64 : RX_I32;
                    rope_append_kv_case(b, t, 9, 3, 64, l, s, tables, n % 2 == 1, dts[k], sdt);
                    n++;
                }
    rope_append_kv_case(2, 3, 4, 4, 16, 8, 5, 2, true, RX_F32, RX_I32); /* MHA */
    /* decode batches of 64 rows, and a prefill of 1000 tokens (a grid-stride loop past one pass) */
    rope_append_kv_case(64, 1, 9, 3, 64, 32, 31, 2, false, RX_BF16, RX_I64);
    rope_append_kv_case(2, quick ? 100 : 1000, 9, 3, 64, quick ? 120 : 1024, 7, 0, true, RX_BF16, RX_I64);
    rope_append_kv_case(1, quick ? 100 : 1000, 32, 8, 128, quick ? 100 : 1000, 0, 1, false, RX_F32, RX_I32);
    rope_append_kv_decode(RX_F32);
    rope_append_kv_decode(RX_BF16);
}

/* ---- attention ------------------------------------------------------------------------------ */

typedef struct attn_cfg {
    int64_t b, h, g, t, s, d;
    rx_dtype dt;
    int causal;
    bool key_padding, empty_batch; /* empty_batch: batch 0 sees no key */
    int mask;                      /* 0 none, 1 (1, H, T, S), 2 (B, 1, T, S) */
    double p;
    bool transposed; /* q, k, v as (B, T, H, D) buffers viewed as (B, H, T, D) */
} attn_cfg;

static tol attn_tol(rx_dtype dt)
{
    switch (dt) {
    case RX_F64: return (tol){1e-12, 1e-12, 1e-12};
    case RX_F32: return (tol){1e-4, 1e-5, 1e-5};
    case RX_F16: return (tol){0.1, 0.03, 3e-3};
    default: return (tol){0.2, 0.06, 1e-2};
    }
}

static rx_tensor *attn_operand(int64_t b, int64_t h, int64_t t, int64_t d, rx_dtype dt, bool tr)
{
    if (!tr) return rnd(4, (int64_t[]){b, h, t, d}, dt, 1, 0);
    return transposed(rnd(4, (int64_t[]){b, t, h, d}, dt, 1, 0), 1, 2);
}

static void attention_case(attn_cfg c)
{
    char desc[200];
    snprintf(desc, sizeof desc, "attention B%lld H%lld G%lld T%lld S%lld D%lld %s%s%s%s mask%d p%g%s", (long long)c.b,
             (long long)c.h, (long long)c.g, (long long)c.t, (long long)c.s, (long long)c.d, rx_dtype_name(c.dt),
             c.causal ? " causal" : "", c.key_padding ? " padding" : "", c.empty_batch ? " empty-batch" : "", c.mask, c.p,
             c.transposed ? " transposed" : "");
    announce(desc);
    rx_tensor *q = attn_operand(c.b, c.h, c.t, c.d, c.dt, c.transposed);
    rx_tensor *k = attn_operand(c.b, c.g, c.s, c.d, c.dt, c.transposed);
    rx_tensor *v = attn_operand(c.b, c.g, c.s, c.d, c.dt, c.transposed);
    rx_tensor *gout = rnd(4, (int64_t[]){c.b, c.h, c.t, c.d}, c.dt, 1, 0);
    rx_tensor *kp = NULL, *mask = NULL;
    if (c.key_padding || c.empty_batch) {
        rx_tensor *u = NULL;
        OKS(rx_rand(2, (int64_t[]){c.b, c.s}, RX_F32, rx_cpu(), gen, &u));
        OKS(rx_binary_scalar(RX_GT, u, c.key_padding ? 0.25 : -1.0, 0, &kp));
        rel(1, u);
        if (c.empty_batch)
            for (int64_t s = 0; s < c.s; s++) rx_tensor_set(kp, (int64_t[]){0, s}, 0.0);
    }
    if (c.mask) {
        int64_t ms[4] = {c.mask == 2 ? c.b : 1, c.mask == 1 ? c.h : 1, c.t, c.s};
        mask = rnd(4, ms, c.dt, 2, 0);
    }
    rx_generator *gc = rx_generator_new(1234), *gg = rx_generator_new(1234);
    rx_attention_opts oc = {.causal = c.causal, .key_padding = kp, .additive_mask = mask, .dropout_p = c.p, .generator = gc};
    rx_tensor *kpg = to_dev(kp, GPU), *maskg = to_dev(mask, GPU);
    rx_attention_opts og = {.causal = c.causal, .key_padding = kpg, .additive_mask = maskg, .dropout_p = c.p, .generator = gg};
    rx_tensor *qc = leaf(q, rx_cpu(), true), *kc = leaf(k, rx_cpu(), true), *vc = leaf(v, rx_cpu(), true);
    rx_tensor *qg = to_dev(q, GPU), *kg = to_dev(k, GPU), *vg = to_dev(v, GPU); /* keep the transposed layouts */
    OKS(rx_set_requires_grad(qg, 1));
    OKS(rx_set_requires_grad(kg, 1));
    OKS(rx_set_requires_grad(vg, 1));
    rx_tensor *yc = NULL, *yg = NULL;
    OKS(rx_attention(qc, kc, vc, &oc, &yc));
    poison_like(gout);
    OKS(rx_attention(qg, kg, vg, &og, &yg));
    tol t = attn_tol(c.dt);
    CMP(what("%s forward", desc), yg, yc, t);
    backward_with(yc, gout);
    poison_like(q);
    poison_like(k);
    backward_with(yg, gout);
    CMP(what("%s dq", desc), grad(qg, "q"), grad(qc, "q"), t);
    CMP(what("%s dk", desc), grad(kg, "k"), grad(kc, "k"), t);
    CMP(what("%s dv", desc), grad(vg, "v"), grad(vc, "v"), t);
    if (c.empty_batch && yg && rx_grad(qg)) { /* batch 0 sees no key: zeros, and zero gradients, never NaN */
        rx_tensor *y0 = NULL, *dq0 = NULL, *yh = NULL, *dqh = NULL;
        OKS(rx_select(yg, 0, 0, &y0));
        OKS(rx_select(rx_grad(qg), 0, 0, &dq0));
        yh = to_dev(y0, rx_cpu()), dqh = to_dev(dq0, rx_cpu());
        double *a = t_values(yh), *bq = t_values(dqh);
        bool zero = true;
        for (int64_t i = 0; i < rx_tensor_numel(yh); i++) zero &= a[i] == 0.0 && bq[i] == 0.0;
        CHECK(zero);
        free(a), free(bq);
        rel(4, y0, dq0, yh, dqh);
    }
    rel(16, q, k, v, gout, kp, mask, kpg, maskg, qc, kc, vc, qg, kg, vg, yc, yg);
    rx_generator_free(gc);
    rx_generator_free(gg);
}

static void test_attention(void)
{
    /* tensor-core path */
    attention_case((attn_cfg){2, 8, 2, 128, 128, 64, RX_BF16, 1, false, false, 0, 0, false});
    attention_case((attn_cfg){2, 4, 4, 100, 160, 64, RX_BF16, 1, false, false, 0, 0, true});
    attention_case((attn_cfg){2, 4, 2, 160, 100, 64, RX_BF16, 1, false, false, 0, 0, false}); /* rows without keys */
    attention_case((attn_cfg){2, 4, 1, 77, 131, 128, RX_BF16, 0, true, false, 1, 0, true});
    attention_case((attn_cfg){3, 2, 2, 65, 64, 128, RX_F16, 0, false, true, 2, 0, false});
    attention_case((attn_cfg){2, 6, 3, 96, 96, 64, RX_F16, 1, true, false, 0, 0.2, false});
    attention_case((attn_cfg){1, 2, 1, 70, 90, 128, RX_BF16, 1, false, false, 1, 0.1, true});
    /* the unchecked full-tile loops of the backward: non-causal GQA 3:1 with a partial last key
     * tile (D 128), and causal with T > S (the diagonal shifted) at D 64 */
    attention_case((attn_cfg){2, 6, 2, 192, 200, 128, RX_BF16, 0, false, false, 0, 0, false});
    attention_case((attn_cfg){2, 9, 3, 200, 136, 64, RX_F16, 1, false, false, 0, 0, false});
    if (!quick) {
        attention_case((attn_cfg){2, 8, 2, 1024, 1024, 128, RX_BF16, 1, false, false, 0, 0, false});
        attention_case((attn_cfg){16, 9, 3, 512, 512, 64, RX_BF16, 1, false, false, 0, 0, false}); /* the benchmark */
    }
    /* generic path */
    attention_case((attn_cfg){2, 4, 2, 33, 33, 16, RX_F32, 1, false, false, 0, 0, false});
    attention_case((attn_cfg){2, 4, 4, 17, 40, 16, RX_F32, 0, true, false, 1, 0, true});
    attention_case((attn_cfg){2, 4, 2, 40, 17, 64, RX_F32, 1, false, true, 2, 0.15, false});
    attention_case((attn_cfg){1, 3, 1, 50, 70, 48, RX_BF16, 1, true, false, 0, 0, true});
    attention_case((attn_cfg){2, 2, 1, 9, 12, 20, RX_F64, 1, true, false, 1, 0.3, false});
    attention_case((attn_cfg){1, 2, 2, 130, 130, 64, RX_F32, 1, false, false, 0, 0, false});
}

/* ---- attention, decode path (one query per row) ---------------------------------------------- */

typedef struct dec_cfg {
    int64_t b, h, g, s, d;
    rx_dtype dt;
    int padding; /* 0 none; 1 random (a quarter hidden); 2 edge rows: batch 0 sees only its last key,
                  * batch 1 none, batch 2 only its first, batch 3 random */
    int mask;    /* 0 none; 1 (B, H, 1, S); 2 (1, H, 1, S); 3 (B, 1, 1, S) with every fifth key -inf
                  * and, with B > 1, the last batch all -inf */
    int layout;  /* 0 contiguous; 1 q a head slice of a packed (B, 1, H + 2G, D) projection, k and v
                  * keys [2, 2 + S) of a (B, G, S + 5, D) cache; 2 rows offset by one element of a
                  * (.., D + 1) buffer (no 16-byte alignment) */
    double scale; /* 0: 1/sqrt(D) */
} dec_cfg;

/* The buffer behind a (B, n, rows, D) operand in `layout` (CPU, random). */
static rx_tensor *dec_buffer(int layout, bool is_q, int64_t b, int64_t n, int64_t rows, int64_t d, int64_t g,
                             rx_dtype dt)
{
    if (layout == 1)
        return is_q ? rnd(4, (int64_t[]){b, 1, n + 2 * g, d}, dt, 1, 0) : rnd(4, (int64_t[]){b, n, rows + 5, d}, dt, 1, 0);
    return rnd(4, (int64_t[]){b, n, rows, layout == 2 ? d + 1 : d}, dt, 1, 0);
}

/* The (B, n, rows, D) operand viewed in buf (either device), as dec_buffer laid it out. */
static rx_tensor *dec_view(rx_tensor *buf, int layout, bool is_q, int64_t n, int64_t rows, int64_t d)
{
    rx_tensor *o = NULL;
    if (layout == 0) return rx_tensor_retain(buf);
    if (layout == 2) {
        OKS(rx_narrow(buf, 3, 1, d, &o));
        return o;
    }
    if (!is_q) {
        OKS(rx_narrow(buf, 2, 2, rows, &o));
        return o;
    }
    OKS(rx_narrow(buf, 2, 0, n, &o));
    return transposed(o, 1, 2);
}

/* A device leaf viewing a device copy of buf as dec_view does, requiring grad. */
static rx_tensor *dec_gpu_leaf(rx_tensor *buf, int layout, bool is_q, int64_t n, int64_t rows, int64_t d)
{
    rx_tensor *bg = to_dev(buf, GPU), *view = bg ? dec_view(bg, layout, is_q, n, rows, d) : NULL, *det = NULL;
    if (view && OKS(rx_detach(view, &det))) OKS(rx_set_requires_grad(det, 1));
    rel(2, bg, view);
    return det;
}

/* Key padding per dec_cfg.padding, (B, S) bool on the CPU, or NULL. */
static rx_tensor *dec_padding(const dec_cfg *c)
{
    if (!c->padding) return NULL;
    rx_tensor *u = NULL;
    OKS(rx_rand(2, (int64_t[]){c->b, c->s}, RX_F64, rx_cpu(), gen, &u));
    double *v = t_values(u);
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t s = 0; s < c->s; s++) {
            double *x = &v[b * c->s + s];
            *x = *x > 0.25;
            if (c->padding == 2 && b == 0) *x = s == c->s - 1;
            if (c->padding == 2 && b == 1) *x = 0;
            if (c->padding == 2 && b == 2) *x = s == 0;
        }
    rx_tensor *kp = t_from(2, (int64_t[]){c->b, c->s}, RX_BOOL, v);
    free(v);
    rel(1, u);
    return kp;
}

/* The additive mask per dec_cfg.mask (CPU, q's dtype), or NULL. */
static rx_tensor *dec_mask(const dec_cfg *c)
{
    if (!c->mask) return NULL;
    int64_t shape[4] = {c->mask == 2 ? 1 : c->b, c->mask == 3 ? 1 : c->h, 1, c->s};
    rx_tensor *m = rnd(4, shape, c->dt, 2, 0);
    if (c->mask == 3)
        for (int64_t b = 0; b < shape[0]; b++)
            for (int64_t s = 0; s < c->s; s++)
                if (s % 5 == 0 || (c->b > 1 && b == c->b - 1)) OKS(rx_tensor_set(m, (int64_t[]){b, 0, 0, s}, -INFINITY));
    return m;
}

/* The double-precision reference of one (B, H, 1, D) decode attention from the CPU inputs:
 * ref (B, H, D) outputs, lse (B, H) log-sum-exps (+inf for a row without a visible finite score). */
static void dec_reference(const dec_cfg *c, double scale, rx_tensor *q, rx_tensor *k, rx_tensor *v, rx_tensor *kp,
                          rx_tensor *mask, double *ref, double *lse)
{
    double *qv = t_values(q), *kv = t_values(k), *vv = t_values(v), *kpv = kp ? t_values(kp) : NULL;
    double *mv = mask ? t_values(mask) : NULL, *x = malloc(sizeof(double) * (size_t)(c->s ? c->s : 1));
    const int64_t *ms = mask ? rx_tensor_shape_ptr(mask) : NULL;
    int64_t d = c->d, hpg = c->h / c->g;
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++) {
            const double *qr = qv + (b * c->h + h) * d;
            const double *kb = kv + (b * c->g + h / hpg) * c->s * d, *vb = vv + (b * c->g + h / hpg) * c->s * d;
            double mx = -INFINITY;
            for (int64_t s = 0; s < c->s; s++) {
                x[s] = -INFINITY;
                if (kpv && kpv[b * c->s + s] == 0) continue;
                double dot = 0;
                for (int64_t j = 0; j < d; j++) dot += qr[j] * kb[s * d + j];
                x[s] = dot * scale;
                if (mv) x[s] += mv[((ms[0] == 1 ? 0 : b) * ms[1] + (ms[1] == 1 ? 0 : h)) * c->s + s];
                mx = x[s] > mx ? x[s] : mx;
            }
            double sum = 0, *o = ref + (b * c->h + h) * d;
            for (int64_t j = 0; j < d; j++) o[j] = 0;
            for (int64_t s = 0; s < c->s && mx > -INFINITY; s++) {
                double p = exp(x[s] - mx);
                sum += p;
                for (int64_t j = 0; j < d; j++) o[j] += p * vb[s * d + j];
            }
            for (int64_t j = 0; j < d && sum > 0; j++) o[j] /= sum;
            lse[b * c->h + h] = sum > 0 ? mx + log(sum) : INFINITY;
        }
    free(qv), free(kv), free(vv), free(kpv), free(mv), free(x);
}

static void decode_case(dec_cfg c)
{
    char desc[200];
    snprintf(desc, sizeof desc, "decode attention B%lld H%lld G%lld S%lld D%lld %s padding%d mask%d layout%d scale%g",
             (long long)c.b, (long long)c.h, (long long)c.g, (long long)c.s, (long long)c.d, rx_dtype_name(c.dt),
             c.padding, c.mask, c.layout, c.scale);
    announce(desc);
    rx_tensor *qb = dec_buffer(c.layout, true, c.b, c.h, 1, c.d, c.g, c.dt);
    rx_tensor *kb = dec_buffer(c.layout, false, c.b, c.g, c.s, c.d, c.g, c.dt);
    rx_tensor *vb = dec_buffer(c.layout, false, c.b, c.g, c.s, c.d, c.g, c.dt);
    rx_tensor *q = contig(dec_view(qb, c.layout, true, c.h, 1, c.d));
    rx_tensor *k = contig(dec_view(kb, c.layout, false, c.g, c.s, c.d));
    rx_tensor *v = contig(dec_view(vb, c.layout, false, c.g, c.s, c.d));
    rx_tensor *qg = dec_gpu_leaf(qb, c.layout, true, c.h, 1, c.d);
    rx_tensor *kg = dec_gpu_leaf(kb, c.layout, false, c.g, c.s, c.d);
    rx_tensor *vg = dec_gpu_leaf(vb, c.layout, false, c.g, c.s, c.d);
    rx_tensor *kp = dec_padding(&c), *mask = dec_mask(&c), *kpg = to_dev(kp, GPU), *maskg = to_dev(mask, GPU);
    rx_tensor *gout = rnd(4, (int64_t[]){c.b, c.h, 1, c.d}, c.dt, 1, 0);
    rx_tensor *qc = leaf(q, rx_cpu(), true), *kc = leaf(k, rx_cpu(), true), *vc = leaf(v, rx_cpu(), true);
    rx_attention_opts oc = {.scale = c.scale, .key_padding = kp, .additive_mask = mask};
    rx_attention_opts og = {.scale = c.scale, .key_padding = kpg, .additive_mask = maskg};
    rx_tensor *yc = NULL, *yg = NULL, *y2 = NULL, *st = NULL;
    OKS(rx_attention(qc, kc, vc, &oc, &yc));
    int64_t rows = c.b * c.h;
    poison(rows * c.d * rx_dtype_size(c.dt));
    poison(rows * (int64_t)sizeof(float));
    OKS(rx_attention(qg, kg, vg, &og, &yg));
    CMP(what("%s forward vs cpu", desc), yg, yc, attn_tol(c.dt));
    /* against double precision from the same inputs: rounding of the output to the dtype plus f32
     * arithmetic (no rounded probabilities on this path) */
    double scale = c.scale != 0 ? c.scale : 1.0 / sqrt((double)c.d);
    double *ref = malloc(sizeof(double) * (size_t)(rows * c.d)), *lse = malloc(sizeof(double) * (size_t)rows);
    dec_reference(&c, scale, q, k, v, kp, mask, ref, lse);
    rx_tensor *reft = t_from(4, (int64_t[]){c.b, c.h, 1, c.d}, RX_F64, ref), *yg64 = NULL;
    if (yg) OKS(rx_to_dtype(yg, RX_F64, &yg64));
    tol td = {c.dt == RX_BF16 ? 1.0 / 128 : c.dt == RX_F16 ? 1.0 / 1024 : 1e-5, 1e-4, 0};
    CMP(what("%s forward vs double", desc), yg64, reft, td);
    /* the statistic the backward reads: each row's log-sum-exp, +inf for rows without keys; and the
     * same output again (bitwise: the decode path is deterministic) */
    poison(rows * c.d * rx_dtype_size(c.dt));
    OKS(rx_op_attention_forward(qg, kg, vg, &og, &y2, &st, NULL, NULL));
    CMP(what("%s forward again", desc), y2, yg, EXACT);
    rx_tensor *sth = to_dev(st, rx_cpu());
    if (sth) CHECK(rx_tensor_numel(sth) == rows);
    if (sth && rx_tensor_numel(sth) == rows) {
        double *sv = t_values(sth);
        int bad = 0;
        for (int64_t r = 0; r < rows; r++) {
            bool ok = isinf(lse[r]) ? sv[r] == lse[r] : fabs(sv[r] - lse[r]) <= 2e-5 * (1 + fabs(lse[r]));
            if (!ok && bad++ < 3)
                check_fail(__FILE__, __LINE__, "%s: stat[%lld] = %.9g, expected %.9g", desc, (long long)r, sv[r], lse[r]);
        }
        free(sv);
    }
    /* the existing backward through the decode forward's output and statistic (rows with one
     * visible key have dq = dk = 0 up to rounding, so cases of those rows alone are skipped: the
     * edge-row padding with one batch, or with the mask that hides the remaining batch) */
    if (c.s > 1 && !(c.padding == 2 && (c.b == 1 || c.mask == 3))) {
        backward_with(yc, gout);
        poison_like(q);
        poison_like(k);
        backward_with(yg, gout);
        tol t = attn_tol(c.dt);
        CMP(what("%s dq", desc), grad(qg, "q"), grad(qc, "q"), t);
        CMP(what("%s dk", desc), grad(kg, "k"), grad(kc, "k"), t);
        CMP(what("%s dv", desc), grad(vg, "v"), grad(vc, "v"), t);
    }
    free(ref), free(lse);
    rel(22, qb, kb, vb, q, k, v, qg, kg, vg, kp, mask, kpg, maskg, gout, qc, kc, vc, yc, yg, y2, st, sth);
    rel(2, reft, yg64);
}

static void test_attention_decode(void)
{
    static const int64_t ss[] = {1, 7, 64, 160, 1000, 3000}, hg[][2] = {{9, 3}, {4, 4}, {8, 1}}, ds[] = {64, 32, 128};
    static const rx_dtype dts[] = {RX_BF16, RX_F16, RX_F32};
    uint64_t r = 88172645463325252ull; /* xorshift: B, padding, mask and layout per case */
    int n = 0;
    for (int is = 0; is < 6; is++)
        for (int ih = 0; ih < 3; ih++)
            for (int id = 0; id < 3; id++)
                for (int it = 0; it < 3; it++) {
                    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                    if (quick && (is + ih + id + it) % 3 != 0) continue;
                    dec_cfg c = {r % 2 ? 4 : 1, hg[ih][0], hg[ih][1], ss[is], ds[id], dts[it], (int)(r / 2 % 3),
                                 (int)(r / 6 % 4), (int)(r / 24 % 3), 0};
                    decode_case(c);
                    n++;
                }
    CHECK(n > 0);
    /* the edge rows and the mask with -inf on every dtype, the split kernels with them, head dims
     * that leave lanes idle or take scalar loads, a query head group of 6 (two blocks of 3), a
     * given scale */
    for (int it = 0; it < 3; it++) {
        decode_case((dec_cfg){4, 9, 3, 160, 64, dts[it], 2, 3, 1, 0});
        decode_case((dec_cfg){4, 8, 1, 3000, 64, dts[it], 2, 1, 0, 0});
        decode_case((dec_cfg){1, 9, 3, 1000, 128, dts[it], 2, 0, 2, 0});
        decode_case((dec_cfg){2, 12, 2, 77, 48, dts[it], 1, 2, 0, 0.3});
        decode_case((dec_cfg){2, 4, 1, 600, 24, dts[it], 1, 3, 2, 0});
    }
    decode_case((dec_cfg){2, 6, 2, 33, 36, RX_BF16, 0, 0, 2, 0}); /* 36 = 4.5 vectors: scalar loads */
    decode_case((dec_cfg){3, 2, 2, 50, 1, RX_F32, 1, 1, 0, 0});
    decode_case((dec_cfg){2, 3, 3, 0, 64, RX_F32, 0, 0, 0, 0}); /* no keys: zeros, stat +inf */
    /* T = 1 outside the decode path: dropout, and a head dim above 128 */
    attention_case((attn_cfg){2, 4, 2, 1, 50, 64, RX_BF16, 0, true, false, 0, 0.1, false});
    attention_case((attn_cfg){2, 4, 2, 1, 40, 160, RX_F32, 1, true, false, 1, 0, false});
}

/* ---- swiglu and dropout ------------------------------------------------------------------ */

static void test_swiglu_dropout(void)
{
    const rx_dtype dts[] = {RX_F32, RX_BF16, RX_F16, RX_F64};
    int64_t n = quick ? 10001 : 3000001;
    for (int k = 0; k < 4; k++) {
        rx_dtype dt = dts[k];
        for (int unaligned = 0; unaligned < 2; unaligned++) {
            int64_t m = n + unaligned;
            rx_tensor *a = rnd(1, &m, dt, 3, 0), *u = rnd(1, &m, dt, 1, 0), *gout = NULL;
            if (unaligned) { /* views starting one element in: not 16-byte aligned */
                rx_tensor *a1 = NULL, *u1 = NULL;
                OKS(rx_narrow(a, 0, 1, n, &a1));
                OKS(rx_narrow(u, 0, 1, n, &u1));
                rel(2, a, u);
                a = a1, u = u1;
            }
            gout = rnd(1, &n, dt, 1, 0);
            rx_tensor *ac = leaf(a, rx_cpu(), true), *uc = leaf(u, rx_cpu(), true);
            rx_tensor *ag = leaf(a, GPU, true), *ug = leaf(u, GPU, true), *yc = NULL, *yg = NULL;
            OKS(rx_swiglu(ac, uc, &yc));
            poison_like(gout);
            OKS(rx_swiglu(ag, ug, &yg));
            tol t = tol_elem(dt);
            CMP(what("swiglu %s%s", rx_dtype_name(dt), unaligned ? " unaligned" : ""), yg, yc, t);
            backward_with(yc, gout);
            poison_like(gout);
            backward_with(yg, gout);
            CMP(what("swiglu dgate %s", rx_dtype_name(dt)), grad(ag, "gate"), grad(ac, "gate"), t);
            CMP(what("swiglu dup %s", rx_dtype_name(dt)), grad(ug, "up"), grad(uc, "up"), t);
            /* dropout: the same Philox counters on both devices give the same mask, exactly */
            rx_generator *gc = rx_generator_new(99), *gg = rx_generator_new(99);
            rx_tensor *xc = leaf(a, rx_cpu(), true), *xg = leaf(a, GPU, true), *dc = NULL, *dg = NULL;
            OKS(rx_dropout(xc, 0.3, 1, gc, &dc));
            poison_like(gout);
            OKS(rx_dropout(xg, 0.3, 1, gg, &dg));
            CMP(what("dropout %s", rx_dtype_name(dt)), dg, dc, EXACT);
            backward_with(dc, gout);
            poison_like(gout);
            backward_with(dg, gout);
            CMP(what("dropout backward %s", rx_dtype_name(dt)), grad(xg, "x"), grad(xc, "x"), EXACT);
            rx_generator_free(gc);
            rx_generator_free(gg);
            rel(13, a, u, gout, ac, uc, ag, ug, yc, yg, xc, xg, dc, dg);
        }
    }
}

/* ---- inference-only fusions: add_rmsnorm_, swiglu_packed --------------------------------------- */

/* A GPU copy of CPU tensor t, contiguous, whose first element sits `off` elements into its
 * storage (off 1: not 16-byte aligned, so the kernels go element by element). */
static rx_tensor *gpu_at(rx_tensor *t, int64_t off)
{
    int64_t n = rx_tensor_numel(t) + off;
    rx_tensor *base = NULL, *flat = NULL, *view = NULL, *src = to_dev(t, GPU);
    OKS(rx_empty(1, &n, rx_tensor_dtype(t), GPU, &base));
    OKS(rx_narrow(base, 0, off, n - off, &flat));
    OKS(rx_view(flat, rx_tensor_ndim(t), rx_tensor_shape_ptr(t), &view));
    if (view && src) OKS(rx_copy_(view, src));
    rel(3, base, flat, src);
    return view;
}

/* x (m, c) += r, then rmsnorm: CUDA against the CPU (x exactly: both round the same f32 sums; the
 * output within tol_elem), and against CUDA's unfused x:add_(r) + rmsnorm: the same bits whenever
 * both take the same path, i.e. unless r alone is unaligned (the fused kernel then goes element by
 * element where rmsnorm takes vectors, and sums the squares in another order). x_off, r_off:
 * element offsets of x and r in their storage; self: r is x itself. */
static void add_rmsnorm_case(int64_t m, int64_t c, rx_dtype dt, int x_off, int r_off, bool self)
{
    char desc[160];
    snprintf(desc, sizeof desc, "add_rmsnorm_ (%lld, %lld) %s%s%s%s", (long long)m, (long long)c, rx_dtype_name(dt),
             x_off ? " x unaligned" : "", r_off ? " r unaligned" : "", self ? " r = x" : "");
    announce(desc);
    int64_t sh[2] = {m, c}, c1 = c;
    rx_tensor *x = rnd(2, sh, dt, 1.5, 0), *r = rnd(2, sh, dt, 1, 0.25), *w = rnd(1, &c1, dt, 0.5, 1);
    rx_tensor *xc = NULL, *yc = NULL, *yg = NULL, *yu = NULL;
    OKS(rx_clone(x, &xc));
    rx_tensor *xg = gpu_at(x, x_off), *xu = gpu_at(x, x_off), *rg = gpu_at(r, r_off), *wg = to_dev(w, GPU);
    OKS(rx_add_rmsnorm_(xc, self ? xc : r, w, 1e-5, &yc));
    poison_like(x);
    OKS(rx_add_rmsnorm_(xg, self ? xg : rg, wg, 1e-5, &yg));
    CMP(what("%s: x", desc), xg, xc, EXACT);
    CMP(what("%s: normed", desc), yg, yc, tol_elem(dt));
    OKS(rx_binary_(RX_ADD, xu, self ? xu : rg));
    OKS(rx_rmsnorm(xu, wg, 1e-5, &yu));
    int vec = 16 / rx_dtype_size(dt);
    bool same_path = self || c % vec != 0 || x_off % vec != 0 || r_off % vec == 0;
    CMP(what("%s: vs unfused cuda", desc), yg, yu, same_path ? EXACT : tol_elem(dt));
    rel(11, x, r, w, xc, yc, yg, yu, xg, xu, rg, wg);
}

/* swiglu_packed(gu (m, 2f)) on CUDA against the CPU (tol_elem) and against CUDA's rx_swiglu on the
 * two halves (the same expression per element: exact). */
static void swiglu_packed_case(int64_t m, int64_t f, rx_dtype dt, int off)
{
    char desc[160];
    snprintf(desc, sizeof desc, "swiglu_packed (%lld, 2 x %lld) %s%s", (long long)m, (long long)f, rx_dtype_name(dt),
             off ? " unaligned" : "");
    announce(desc);
    int64_t sh[2] = {m, 2 * f}, osh[2] = {m, f};
    rx_tensor *gu = rnd(2, sh, dt, 3, 0), *gg = gpu_at(gu, off), *yc = NULL, *yg = NULL, *yu = NULL, *a = NULL,
              *u = NULL;
    OKS(rx_swiglu_packed(gu, &yc));
    poison(rx_shape_numel(2, osh) * rx_dtype_size(dt));
    OKS(rx_swiglu_packed(gg, &yg));
    CMP(what("%s", desc), yg, yc, tol_elem(dt));
    OKS(rx_narrow(gg, 1, 0, f, &a));
    OKS(rx_narrow(gg, 1, f, f, &u));
    OKS(rx_swiglu(a, u, &yu));
    CMP(what("%s: vs swiglu cuda", desc), yg, yu, EXACT);
    rel(7, gu, gg, yc, yg, yu, a, u);
}

static void test_fused_infer(void)
{
    const rx_dtype dts[] = {RX_F32, RX_BF16, RX_F16, RX_F64};
    for (int k = 0; k < 4; k++) {
        add_rmsnorm_case(1, 576, dts[k], 0, 0, false); /* SmolLM2's decode step */
        swiglu_packed_case(1, 1536, dts[k], 0);
    }
    add_rmsnorm_case(64, 576, RX_F32, 0, 0, false);
    add_rmsnorm_case(64, 576, RX_BF16, 0, 0, false);
    add_rmsnorm_case(5, 576, RX_BF16, 0, 0, true);
    add_rmsnorm_case(7, 37, RX_F32, 0, 0, false);     /* odd C: element by element */
    add_rmsnorm_case(4, 1001, RX_BF16, 0, 0, false);
    add_rmsnorm_case(5, 4096, RX_BF16, 0, 0, false);  /* 128 threads a row */
    add_rmsnorm_case(3, 8192, RX_F32, 0, 0, false);   /* 512 threads a row, in registers */
    add_rmsnorm_case(2, 20000, RX_F32, 0, 0, false);  /* 512 threads a row, two passes */
    add_rmsnorm_case(6, 300, RX_F64, 0, 0, false);
    add_rmsnorm_case(3, 576, RX_F32, 1, 1, false);    /* both unaligned */
    add_rmsnorm_case(3, 576, RX_BF16, 0, 1, false);   /* r alone unaligned */
    add_rmsnorm_case(quick ? 100 : 4000, 576, RX_BF16, 0, 0, false);
    swiglu_packed_case(64, 1536, RX_BF16, 0);
    swiglu_packed_case(5, 37, RX_F32, 0);
    swiglu_packed_case(3, 1001, RX_F16, 0);
    swiglu_packed_case(3, 64, RX_F32, 1);
    swiglu_packed_case(quick ? 100 : 4000, 1536, RX_F32, 0);
}

/* ---- losses -------------------------------------------------------------------------------- */

static void ce_case(int64_t n, int64_t v, rx_dtype dt, rx_dtype tdt, bool weights, bool ignore, bool gpu_inputs)
{
    char desc[160];
    snprintf(desc, sizeof desc, "cross_entropy (%lld, %lld) %s %s%s%s", (long long)n, (long long)v, rx_dtype_name(dt),
             rx_dtype_name(tdt), weights ? " weights" : "", ignore ? " ignore" : "");
    announce(desc);
    rx_tensor *x = NULL;
    if (gpu_inputs) { /* the large case: drawn on the GPU (no f64 staging copy of 400M values) */
        rx_tensor *xg0 = NULL, *xs = NULL;
        OKS(rx_randn(2, (int64_t[]){n, v}, dt, GPU, gen, &xg0));
        OKS(rx_binary_scalar(RX_MUL, xg0, 3.0, 0, &xs));
        x = to_dev(xs, rx_cpu());
        rel(2, xg0, xs);
    } else {
        x = rnd(2, (int64_t[]){n, v}, dt, 3, 0);
    }
    rx_tensor *tg = randint_cpu(0, v, 1, &n, tdt);
    if (ignore)
        for (int64_t i = 0; i < n; i += 3) rx_tensor_set(tg, &i, -100);
    rx_tensor *w = weights ? rnd(1, &n, dt, 0.3, 1) : NULL;
    rx_tensor *xc = leaf(x, rx_cpu(), true), *xg = leaf(x, GPU, true), *tgg = to_dev(tg, GPU), *wg = to_dev(w, GPU);
    rx_tensor *lc = NULL, *lg = NULL;
    OKS(rx_cross_entropy(xc, tg, -100, w, &lc));
    OKS(rx_cross_entropy(xg, tgg, -100, wg, &lg));
    tol t = dt == RX_F64 ? (tol){1e-12, 0, 0} : (tol){1e-5, 0, 0};
    CMP(what("%s loss", desc), lg, lc, t);
    rx_tensor *g0 = rnd(0, NULL, rx_tensor_dtype(lc), 1, 0.5);
    backward_with(lc, g0);
    poison_like(x);
    backward_with(lg, g0);
    tol td = tol_elem(dt);
    if (dt == RX_F32) td.atol = 1e-5; /* exp differs by ulps; relative to the row's largest probability */
    CMP(what("%s dlogits", desc), grad(xg, "logits"), grad(xc, "logits"), td);
    rel(11, x, tg, w, xc, xg, tgg, wg, lc, lg, g0, NULL);
}

static void pointwise_loss_case(bool bce, int64_t n, rx_dtype dt)
{
    rx_tensor *a = rnd(1, &n, dt, 2, 0), *b = bce ? NULL : rnd(1, &n, dt, 1, 0.5);
    if (bce) {
        rx_tensor *u = NULL;
        OKS(rx_rand(1, &n, RX_F64, rx_cpu(), gen, &u));
        OKS(rx_to_dtype(u, dt, &b));
        rel(1, u);
    }
    rx_tensor *ac = leaf(a, rx_cpu(), true), *bc = leaf(b, rx_cpu(), true), *ag = leaf(a, GPU, true), *bg = leaf(b, GPU, true);
    rx_tensor *lc = NULL, *lg = NULL;
    if (bce) {
        OKS(rx_bce_with_logits(ac, bc, &lc));
        OKS(rx_bce_with_logits(ag, bg, &lg));
    } else {
        OKS(rx_mse(ac, bc, &lc));
        OKS(rx_mse(ag, bg, &lg));
    }
    const char *name = bce ? "bce_with_logits" : "mse";
    tol t = tol_elem(dt);
    CMP(what("%s %lld %s loss", name, (long long)n, rx_dtype_name(dt)), lg, lc, t);
    if (n > 0) {
        rx_tensor *g0 = rnd(0, NULL, dt, 1, 0.5);
        backward_with(lc, g0);
        poison_like(a);
        backward_with(lg, g0);
        CMP(what("%s %s d1", name, rx_dtype_name(dt)), grad(ag, "a"), grad(ac, "a"), t);
        CMP(what("%s %s d2", name, rx_dtype_name(dt)), grad(bg, "b"), grad(bc, "b"), t);
        rel(1, g0);
    }
    rel(8, a, b, ac, bc, ag, bg, lc, lg);
}

static void test_losses(void)
{
    ce_case(64, 1000, RX_F32, RX_I64, false, false, false);
    ce_case(37, 50000, RX_F32, RX_I32, true, true, false);
    ce_case(100, 333, RX_BF16, RX_I64, true, true, false);
    ce_case(9, 17, RX_F64, RX_I64, false, true, false);
    ce_case(6, 10, RX_F32, RX_I64, false, false, false);
    ce_case(quick ? 256 : 8192, 49152, RX_BF16, RX_I64, false, false, true);
    const rx_dtype dts[] = {RX_F32, RX_F64, RX_BF16};
    for (int k = 0; k < 3; k++) {
        pointwise_loss_case(true, 100003, dts[k]);
        pointwise_loss_case(false, 100003, dts[k]);
        pointwise_loss_case(false, 7, dts[k]);
    }
    pointwise_loss_case(false, 0, RX_F32); /* NaN on both devices */
}

/* ---- optimizers ---------------------------------------------------------------------------- */

/* n tensors of assorted sizes and dtypes on both devices. */
typedef struct tlist {
    int n;
    rx_tensor **c, **g;
} tlist;

static tlist tlist_new(int n, const rx_dtype *dts, int ndts, int seed_kind, bool as_state)
{
    tlist l = {n, calloc((size_t)n, sizeof(rx_tensor *)), calloc((size_t)n, sizeof(rx_tensor *))};
    for (int i = 0; i < n; i++) {
        int64_t sizes[] = {1, 0, 5, 1000, 65537, 33, 17000, 3};
        int64_t m = sizes[i % 8] * (i == 3 ? (quick ? 10 : 1000) : 1);
        rx_dtype dt = as_state ? RX_F32 : dts[i % ndts];
        l.c[i] = i % 8 == 0 ? rnd(0, NULL, dt, 1, 0) : rnd(1, &m, dt, seed_kind ? 0.1 : 1, seed_kind == 2 ? 0.05 : 0);
        if (seed_kind == 2) { /* second moments are non-negative */
            rx_tensor *ab = NULL;
            OKS(rx_unary(RX_ABS, l.c[i], &ab));
            rel(1, l.c[i]);
            l.c[i] = ab;
        }
        l.g[i] = to_dev(l.c[i], GPU);
    }
    return l;
}

static tlist tlist_like(const tlist *p, rx_dtype force, bool zeros)
{
    tlist l = {p->n, calloc((size_t)p->n, sizeof(rx_tensor *)), calloc((size_t)p->n, sizeof(rx_tensor *))};
    for (int i = 0; i < p->n; i++) {
        rx_tensor *c = p->c[i];
        rx_dtype dt = force == RX_BOOL ? rx_tensor_dtype(c) : force;
        if (zeros)
            OKS(rx_zeros(rx_tensor_ndim(c), rx_tensor_shape_ptr(c), dt, rx_cpu(), &l.c[i]));
        else
            l.c[i] = rnd(rx_tensor_ndim(c), rx_tensor_shape_ptr(c), dt, 1, 0);
        l.g[i] = to_dev(l.c[i], GPU);
    }
    return l;
}

static void tlist_free(tlist *l)
{
    for (int i = 0; i < l->n; i++) rel(2, l->c[i], l->g[i]);
    free(l->c), free(l->g);
}

static void tlist_cmp(const char *what_list, const tlist *l, tol t)
{
    for (int i = 0; i < l->n; i++) CMP(what("%s[%d] %s", what_list, i, rx_dtype_name(rx_tensor_dtype(l->c[i]))), l->g[i], l->c[i], t);
}

/* A contiguous 1-D view of n elements starting `off` elements into a fresh random tensor, on the
 * CPU (*c) and the GPU (*g, same values); off > 0 puts it off 16-byte alignment. */
static void offset_view(int64_t n, int64_t off, rx_dtype dt, double scale, bool nonneg, rx_tensor **c, rx_tensor **g)
{
    int64_t total = n + off;
    rx_tensor *base = rnd(1, &total, dt, scale, 0), *gbase = NULL;
    if (nonneg) {
        rx_tensor *ab = NULL;
        OKS(rx_unary(RX_ABS, base, &ab));
        rel(1, base);
        base = ab;
    }
    gbase = to_dev(base, GPU);
    OKS(rx_narrow(base, 0, off, n, c));
    OKS(rx_narrow(gbase, 0, off, n, g));
    rel(2, base, gbase);
}

/* AdamW (plain or with f32 masters) over tensors whose operands start 0..2 elements into their
 * storage, so that aligned tensors (the 16-byte vector path), tensors with some operands off
 * alignment and fully misaligned ones (the per-element path) share one launch; sizes around the
 * 65536-element chunks and the 8-element vectors. Bits equal to the CPU's. */
static void adamw_views_case(bool master)
{
    enum { N = 8, OPS = 5 };
    const int64_t sizes[N] = {65536 + 37, 1000, 9, 3 * 65536 + 5, 24, 131072, 7, 4096};
    rx_tensor *c[OPS][N], *g[OPS][N];
    for (int i = 0; i < N; i++) {
        rx_dtype pdt = master ? (i % 2 ? RX_BF16 : RX_F16) : (i % 3 == 2 ? RX_BF16 : RX_F32);
        for (int k = 0; k < OPS; k++) { /* p, grad, exp_avg, exp_avg_sq, master */
            int64_t off = i < 3 ? 0 : (i + k) % 3;
            rx_dtype dt = k < 2 ? pdt : RX_F32;
            offset_view(sizes[i], off, dt, k == 2 ? 0.1 : k == 3 ? 0.05 : 1, k == 3, &c[k][i], &g[k][i]);
        }
    }
    rx_adamw_opts o = {.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    for (int step = 1; step <= 2; step++) {
        o.step = step;
        if (master) {
            OKS(rx_adamw_step_master(N, c[0], c[4], c[1], c[2], c[3], &o));
            OKS(rx_adamw_step_master(N, g[0], g[4], g[1], g[2], g[3], &o));
        } else {
            OKS(rx_adamw_step(N, c[0], c[1], c[2], c[3], &o));
            OKS(rx_adamw_step(N, g[0], g[1], g[2], g[3], &o));
        }
    }
    const char *names[OPS] = {"params", "grads", "exp_avg", "exp_avg_sq", "masters"};
    for (int k = 0; k < OPS; k++)
        for (int i = 0; i < N; i++) {
            if (k != 1 && (k != 4 || master))
                CMP(what("adamw%s offset views %s[%d]", master ? "_master" : "", names[k], i), g[k][i], c[k][i], EXACT);
            rel(2, c[k][i], g[k][i]);
        }
}

static void test_optimizers(void)
{
    const rx_dtype mixed[] = {RX_F32, RX_BF16, RX_F16, RX_F64};
    for (int big = 0; big < 2; big++) {
        int n = big ? 400 : 24; /* 400: more tensors than one launch takes */
        tlist p = tlist_new(n, mixed, 4, 0, false), g = tlist_like(&p, RX_BOOL, false);
        tlist m = tlist_like(&p, RX_F32, true), v = tlist_like(&p, RX_F32, true);
        rx_adamw_opts o = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
        for (int step = 1; step <= 3; step++) {
            o.step = step;
            OKS(rx_adamw_step(n, p.c, g.c, m.c, v.c, &o));
            OKS(rx_adamw_step(n, p.g, g.g, m.g, v.g, &o));
        }
        tlist_cmp(what("adamw (%d tensors) params", n), &p, EXACT);
        tlist_cmp("adamw exp_avg", &m, EXACT);
        tlist_cmp("adamw exp_avg_sq", &v, EXACT);
        double nc = 0, ng = 0;
        OKS(rx_global_norm(n, g.c, &nc));
        OKS(rx_global_norm(n, g.g, &ng));
        CHECK_CLOSE(ng, nc, 1e-12);
        OKS(rx_scale_(n, g.c, 0.37));
        OKS(rx_scale_(n, g.g, 0.37));
        tlist_cmp("scale_", &g, EXACT);
        tlist_free(&p), tlist_free(&g), tlist_free(&m), tlist_free(&v);
    }
    /* master weights: bf16/f16 parameters, f32 masters */
    {
        const rx_dtype half[] = {RX_BF16, RX_F16, RX_F32};
        tlist p = tlist_new(16, half, 3, 0, false), g = tlist_like(&p, RX_BOOL, false);
        tlist w = tlist_like(&p, RX_F32, true), m = tlist_like(&p, RX_F32, true), v = tlist_like(&p, RX_F32, true);
        for (int i = 0; i < p.n; i++) { /* masters start as the parameters' values */
            OKS(rx_copy_(w.c[i], p.c[i]));
            OKS(rx_copy_(w.g[i], p.g[i]));
        }
        rx_adamw_opts o = {.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
        for (int step = 1; step <= 3; step++) {
            o.step = step;
            OKS(rx_adamw_step_master(p.n, p.c, w.c, g.c, m.c, v.c, &o));
            OKS(rx_adamw_step_master(p.n, p.g, w.g, g.g, m.g, v.g, &o));
        }
        tlist_cmp("adamw_master params", &p, EXACT);
        tlist_cmp("adamw_master masters", &w, EXACT);
        tlist_free(&p), tlist_free(&g), tlist_free(&w), tlist_free(&m), tlist_free(&v);
    }
    adamw_views_case(false);
    adamw_views_case(true);
    /* SGD: plain, momentum with dampening, nesterov; f32 and parameter-dtype buffers */
    for (int variant = 0; variant < 3; variant++) {
        tlist p = tlist_new(12, mixed, 4, 0, false), g = tlist_like(&p, RX_BOOL, false);
        tlist b = tlist_like(&p, variant == 2 ? RX_BOOL : RX_F32, true);
        double mom = variant ? 0.9 : 0, damp = variant == 1 ? 0.1 : 0;
        for (int step = 0; step < 3; step++) {
            OKS(rx_sgd_step(p.n, p.c, g.c, variant ? b.c : NULL, 0.05, mom, damp, 0.01, variant == 2, step == 0));
            OKS(rx_sgd_step(p.n, p.g, g.g, variant ? b.g : NULL, 0.05, mom, damp, 0.01, variant == 2, step == 0));
        }
        tlist_cmp(what("sgd variant %d params", variant), &p, EXACT);
        if (variant) tlist_cmp("sgd buffers", &b, EXACT);
        tlist_free(&p), tlist_free(&g), tlist_free(&b);
    }
}

/* ---- gradient clipping on the device; small host -> device copies through the pinned ring ---- */

/* rx_clip_grad_norm_ on both devices: the norm (a 0-d f32 tensor on the list's device) within
 * 1e-6 relative; scaled values within 1e-6 relative for f32 (the double factor, formed from
 * sums in another order, may round to a neighbouring f32), one ulp for f16/bf16, 1e-12 for
 * f64; below max_norm and for a non-finite norm the lists are left exactly as they were. */
static void clip_case(int n, bool clip)
{
    const rx_dtype mixed[] = {RX_F32, RX_BF16, RX_F16, RX_F64};
    tlist g = tlist_new(n, mixed, 4, 0, false);
    double ref = 0;
    OKS(rx_global_norm(n, g.c, &ref));
    double max_norm = clip ? ref / 4 : ref * 2;
    rx_tensor *nc = NULL, *ng = NULL;
    OKS(rx_clip_grad_norm_(n, g.c, max_norm, &nc));
    OKS(rx_clip_grad_norm_(n, g.g, max_norm, &ng));
    CHECK(ng && rx_tensor_device(ng).type == RX_CUDA && rx_tensor_ndim(ng) == 0 && rx_tensor_dtype(ng) == RX_F32);
    CMP(what("clip_grad_norm_ norm (%d tensors%s)", n, clip ? ", clipped" : ""), ng, nc, ((tol){1e-6, 0, 0}));
    for (int i = 0; i < n; i++) {
        rx_dtype dt = rx_tensor_dtype(g.c[i]);
        tol t = !clip ? EXACT
                : dt == RX_F64 ? (tol){1e-12, 0, 0}
                : dt == RX_F32 ? (tol){1e-6, 0, 0}
                               : (tol){dt == RX_F16 ? 1.0 / 1024 : 1.0 / 128, 0, 0};
        CMP(what("clip_grad_norm_ (%d tensors%s) [%d] %s", n, clip ? ", clipped" : "", i, rx_dtype_name(dt)), g.g[i],
            g.c[i], t);
    }
    rel(2, nc, ng);
    tlist_free(&g);
}

static void test_clip_grad_norm(void)
{
    for (int big = 0; big < 2; big++) { /* 400: more tensors than one launch takes */
        clip_case(big ? 400 : 24, false);
        clip_case(big ? 400 : 24, true);
    }
    /* a non-finite norm (inf, then NaN) leaves every tensor as it was */
    int64_t s3 = 3;
    double fin[3] = {10, -20, 30};
    double bad[2][3] = {{1, INFINITY, 2}, {1, NAN, 2}};
    for (int k = 0; k < 2; k++) {
        rx_tensor *c[2] = {t_from(1, &s3, RX_F32, fin), t_from(1, &s3, RX_BF16, bad[k])};
        rx_tensor *gl[2] = {to_dev(c[0], GPU), to_dev(c[1], GPU)}, *ng = NULL;
        OKS(rx_clip_grad_norm_(2, gl, 1.0, &ng));
        rx_tensor *nh = to_dev(ng, rx_cpu());
        double *v = nh ? t_values(nh) : NULL;
        CHECK(v && (k == 0 ? isinf(v[0]) && v[0] > 0 : isnan(v[0])));
        free(v);
        CMP(what("clip_grad_norm_ non-finite %d [0]", k), gl[0], c[0], EXACT);
        CMP(what("clip_grad_norm_ non-finite %d [1]", k), gl[1], c[1], EXACT);
        rel(6, c[0], c[1], gl[0], gl[1], ng, nh);
    }
    /* one device per call */
    rx_tensor *c = t_from(1, &s3, RX_F32, fin), *gt = to_dev(c, GPU), *mixed[2] = {gt, c}, *ng = NULL;
    CHECK_ERR(rx_clip_grad_norm_(2, mixed, 1.0, &ng), RX_ERR_DEVICE,
              "clip_grad_norm_: argument #2 (tensors[1]) is on cpu but tensors[0] is on cuda:0");
    CHECK(ng == NULL);
    rel(2, c, gt);
}

/* Value k of copy j: distinct per copy, exact in f32 and f16 (integers below 2048). */
static float h2d_value(int j, int64_t k) { return (float)((j * 37 + k * 11) % 2047) - 1023.0f; }

/* Many small host -> device copies (each at most 4 MiB: the pinned ring's path, which returns
 * without waiting), whose host source is overwritten right after each copy returns: every copy
 * must land with the values the source had when it was made. Sizes vary up to 512 KiB so the
 * 16 MiB ring wraps several times and copies straddle its end; every 5th source is a transposed
 * view (packed into the ring), every 7th destination is f16 (converted on the device), and the
 * last copies are exactly 4 MiB and just over it (the synchronous path), checked the same way. */
static void test_h2d_ring(void)
{
    enum { COPIES = 400 };
    int64_t cap = (4 << 20) / 4 + 1; /* f32 elements: one past 4 MiB */
    rx_tensor *host = NULL, *dev[COPIES] = {NULL};
    OKS(rx_empty(1, &cap, RX_F32, rx_cpu(), &host));
    float *hp = host ? (float *)rx_tensor_data_ptr(host) : NULL;
    int64_t len[COPIES];
    int kind[COPIES]; /* 0 contiguous, 1 transposed source, 2 f16 destination */
    for (int j = 0; j < COPIES && hp; j++) {
        len[j] = j == COPIES - 2 ? (4 << 20) / 4 : j == COPIES - 1 ? cap : 1 + (j * 7919) % (128 * 1024);
        kind[j] = j >= COPIES - 2 ? 0 : j % 5 == 0 ? 1 : j % 7 == 0 ? 2 : 0;
        if (kind[j] == 1) len[j] -= len[j] % 8; /* (len / 8, 8) transposed to (8, len / 8) */
        if (len[j] == 0) len[j] = 8;
        for (int64_t k = 0; k < len[j]; k++) hp[k] = h2d_value(j, k);
        rx_tensor *src = NULL, *view = NULL;
        if (kind[j] == 1) {
            int64_t shape[2] = {len[j] / 8, 8}, tshape[2] = {8, len[j] / 8};
            rx_tensor *flat = NULL;
            OKS(rx_narrow(host, 0, 0, len[j], &flat));
            OKS(rx_view(flat, 2, shape, &view));
            OKS(rx_transpose(view, 0, 1, &src));
            OKS(rx_empty(2, tshape, RX_F32, GPU, &dev[j]));
            rel(1, flat);
        } else {
            OKS(rx_narrow(host, 0, 0, len[j], &src));
            OKS(rx_empty(1, &len[j], kind[j] == 2 ? RX_F16 : RX_F32, GPU, &dev[j]));
        }
        OKS(rx_copy_(dev[j], src));
        for (int64_t k = 0; k < len[j]; k++) hp[k] = NAN; /* the caller reuses its buffer at once */
        rel(2, src, view);
    }
    int wrong = 0;
    for (int j = 0; j < COPIES && hp; j++) {
        rx_tensor *back = to_dev(dev[j], rx_cpu()), *flat = NULL;
        if (back && kind[j] == 1) { /* back[c][r] = source row r, column c */
            rx_tensor *t = NULL;
            OKS(rx_transpose(back, 0, 1, &t));
            OKS(rx_contiguous(t, &flat));
            rel(1, t);
        } else if (back) {
            flat = back;
            rx_tensor_retain(back);
        }
        double *v = flat ? t_values(flat) : NULL;
        int64_t bad = v ? 0 : 1;
        for (int64_t k = 0; v && k < len[j]; k++) bad += v[k] != (double)h2d_value(j, k);
        if (bad && wrong++ < 5)
            check_fail(__FILE__, __LINE__, "h2d copy %d (%lld elements, kind %d): %lld elements wrong", j,
                       (long long)len[j], kind[j], (long long)bad);
        free(v);
        rel(2, back, flat);
    }
    for (int j = 0; j < COPIES; j++) rel(1, dev[j]);
    rel(1, host);
}

/* ---- a tiny transformer trained on both devices --------------------------------------------- */

enum { LM_V = 48, LM_C = 32, LM_H = 4, LM_G = 2, LM_D = 8, LM_L = 2, LM_FF = 64, LM_B = 3, LM_T = 12, LM_STEPS = 10 };
enum { P_WTE, P_LNF, P_HEAD, P_LAYER0 };
enum { L_LN1, L_WQ, L_WK, L_WV, L_WO, L_LN2, L_WG, L_WU, L_WD, L_COUNT };
#define LM_NPARAMS (P_LAYER0 + LM_L * L_COUNT)

static rx_tensor *lin(rx_tensor *x, rx_tensor *w)
{
    rx_tensor *y = NULL;
    OKS(rx_linear(x, w, NULL, &y));
    return y;
}

/* x + y; releases both. */
static rx_tensor *add_rel(rx_tensor *x, rx_tensor *y)
{
    rx_tensor *o = NULL;
    OKS(rx_binary(RX_ADD, x, y, &o));
    rel(2, x, y);
    return o;
}

/* (B, T, nh D) -> (B, nh, T, D), a view; releases x. */
static rx_tensor *heads(rx_tensor *x, int64_t nh)
{
    rx_tensor *v = NULL;
    OKS(rx_view(x, 4, (int64_t[]){LM_B, LM_T, nh, LM_D}, &v));
    rx_tensor_release(x);
    return transposed(v, 1, 2);
}

/* rope(x); releases x. */
static rx_tensor *roped(rx_tensor *x, rx_tensor *cs, rx_tensor *sn)
{
    rx_tensor *y = NULL;
    OKS(rx_rope(x, cs, sn, &y));
    rx_tensor_release(x);
    return y;
}

/* One pre-norm block: x + attn(rmsnorm(x)), then + mlp(rmsnorm(.)); releases x. */
static rx_tensor *block(rx_tensor *x, rx_tensor **lp, rx_tensor *cs, rx_tensor *sn)
{
    rx_attention_opts ao = {.causal = 1};
    rx_tensor *h = NULL, *a = NULL, *ab = NULL, *h2 = NULL, *act = NULL;
    OKS(rx_rmsnorm(x, lp[L_LN1], 1e-5, &h));
    rx_tensor *q = roped(heads(lin(h, lp[L_WQ]), LM_H), cs, sn);
    rx_tensor *k = roped(heads(lin(h, lp[L_WK]), LM_G), cs, sn);
    rx_tensor *v = heads(lin(h, lp[L_WV]), LM_G);
    OKS(rx_attention(q, k, v, &ao, &a));
    a = transposed(a, 1, 2);
    OKS(rx_reshape(a, 3, (int64_t[]){LM_B, LM_T, LM_C}, &ab));
    x = add_rel(x, lin(ab, lp[L_WO]));
    OKS(rx_rmsnorm(x, lp[L_LN2], 1e-5, &h2));
    rx_tensor *gate = lin(h2, lp[L_WG]), *up = lin(h2, lp[L_WU]);
    OKS(rx_swiglu(gate, up, &act));
    x = add_rel(x, lin(act, lp[L_WD]));
    rel(10, h, q, k, v, a, ab, h2, gate, up, act);
    return x;
}

/* The loss of each of LM_STEPS AdamW steps of the tiny model on device dev. */
static void tiny_lm(rx_device dev, double *losses)
{
    rx_generator *pg = rx_generator_new(2024);
    rx_tensor *params[LM_NPARAMS] = {0};
    for (int i = 0; i < LM_NPARAMS; i++) {
        int kind = i < P_LAYER0 ? i : (i - P_LAYER0) % L_COUNT;
        int64_t shape[2];
        int nd = 2;
        bool norm = i < P_LAYER0 ? i == P_LNF : (kind == L_LN1 || kind == L_LN2);
        if (i == P_WTE) shape[0] = LM_V, shape[1] = LM_C;
        else if (i == P_HEAD) shape[0] = LM_V, shape[1] = LM_C;
        else if (norm) nd = 1, shape[0] = LM_C;
        else if (kind == L_WQ || kind == L_WO) shape[0] = LM_C, shape[1] = LM_C;
        else if (kind == L_WK || kind == L_WV) shape[0] = LM_G * LM_D, shape[1] = LM_C;
        else if (kind == L_WG || kind == L_WU) shape[0] = LM_FF, shape[1] = LM_C;
        else shape[0] = LM_C, shape[1] = LM_FF;
        rx_tensor *r = NULL, *s = NULL;
        OKS(rx_randn(nd, shape, RX_F32, rx_cpu(), pg, &r));
        OKS(rx_binary_scalar(norm ? RX_ADD : RX_MUL, r, norm ? 1.0 : 0.15, 0, &s));
        if (norm) { /* norm weights near 1 */
            rx_tensor *s2 = NULL;
            OKS(rx_binary_scalar(RX_MUL, r, 0.1, 0, &s2));
            rel(1, s);
            OKS(rx_binary_scalar(RX_ADD, s2, 1.0, 0, &s));
            rel(1, s2);
        }
        params[i] = leaf(s, dev, true);
        rel(2, r, s);
    }
    rx_tensor *ids_c = NULL, *tgt_c = NULL;
    OKS(rx_randint(0, LM_V, 2, (int64_t[]){LM_B, LM_T}, RX_I64, rx_cpu(), pg, &ids_c));
    OKS(rx_randint(0, LM_V, 1, (int64_t[]){LM_B * LM_T}, RX_I64, rx_cpu(), pg, &tgt_c));
    rx_tensor *ids = to_dev(ids_c, dev), *tgt = to_dev(tgt_c, dev);
    rx_tensor *pos_c = NULL, *invf = NULL, *pos = NULL, *inv = NULL, *cs = NULL, *sn = NULL;
    OKS(rx_arange(0, LM_T, 1, RX_I64, rx_cpu(), &pos_c));
    OKS(rx_rope_inv_freq(LM_D, 10000.0, &invf));
    pos = to_dev(pos_c, dev), inv = to_dev(invf, dev);
    OKS(rx_rope_tables(pos, inv, RX_F32, &cs, &sn));
    rx_tensor *m[LM_NPARAMS], *v[LM_NPARAMS], *g[LM_NPARAMS];
    for (int i = 0; i < LM_NPARAMS; i++) {
        OKS(rx_zeros(rx_tensor_ndim(params[i]), rx_tensor_shape_ptr(params[i]), RX_F32, dev, &m[i]));
        OKS(rx_zeros(rx_tensor_ndim(params[i]), rx_tensor_shape_ptr(params[i]), RX_F32, dev, &v[i]));
    }
    for (int step = 0; step < LM_STEPS; step++) {
        rx_tensor *x = NULL;
        OKS(rx_embedding(params[P_WTE], ids, -1, &x));
        for (int l = 0; l < LM_L; l++) x = block(x, params + P_LAYER0 + l * L_COUNT, cs, sn);
        rx_tensor *hf = NULL, *logits = NULL, *flat = NULL, *loss = NULL;
        OKS(rx_rmsnorm(x, params[P_LNF], 1e-5, &hf));
        logits = lin(hf, params[P_HEAD]);
        OKS(rx_reshape(logits, 2, (int64_t[]){LM_B * LM_T, LM_V}, &flat));
        OKS(rx_cross_entropy(flat, tgt, -100, NULL, &loss));
        rel(4, x, hf, logits, flat);
        rx_tensor *lh = to_dev(loss, rx_cpu());
        losses[step] = NAN;
        if (lh) OKS(rx_tensor_item(lh, &losses[step]));
        OKS(rx_backward(loss, NULL, 0));
        rel(2, loss, lh);
        for (int i = 0; i < LM_NPARAMS; i++) g[i] = grad(params[i], "tiny model parameter");
        rx_adamw_opts o = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.01, .step = step + 1};
        bool have = true;
        for (int i = 0; i < LM_NPARAMS; i++) have &= g[i] != NULL;
        if (have) OKS(rx_adamw_step(LM_NPARAMS, params, g, m, v, &o));
        for (int i = 0; i < LM_NPARAMS; i++) OKS(rx_set_grad(params[i], NULL));
    }
    for (int i = 0; i < LM_NPARAMS; i++) rel(3, params[i], m[i], v[i]);
    rel(10, ids_c, tgt_c, ids, tgt, pos_c, invf, pos, inv, cs, sn);
    rx_generator_free(pg);
}

static void test_tiny_transformer(void)
{
    double lc[LM_STEPS], lg[LM_STEPS];
    tiny_lm(rx_cpu(), lc);
    tiny_lm(GPU, lg);
    printf("  step  loss cpu      loss cuda     |diff|\n");
    for (int s = 0; s < LM_STEPS; s++) {
        printf("  %4d  %.9f  %.9f  %.2e\n", s + 1, lc[s], lg[s], fabs(lc[s] - lg[s]));
        if (!(fabs(lc[s] - lg[s]) <= 1e-4)) check_fail(__FILE__, __LINE__, "tiny transformer step %d: loss cpu %.9g, cuda %.9g", s + 1, lc[s], lg[s]);
    }
    CHECK(lc[LM_STEPS - 1] < lc[0]); /* it learns */
}

int main(void)
{
    if (!rx_cuda_available()) {
        printf("skipped: no CUDA device (rx_cuda_available() is 0)\n");
        return 77;
    }
    const char *q = getenv("RECX_GPU_TEST_QUICK");
    quick = q && *q && strcmp(q, "0") != 0;
    const char *v = getenv("RECX_GPU_TEST_VERBOSE");
    verbose = v && *v && strcmp(v, "0") != 0;
    gen = rx_generator_new(20261117);
    RUN_SELECTED(test_col_sum);
    RUN_SELECTED(test_embedding);
    RUN_SELECTED(test_norms);
    RUN_SELECTED(test_rope);
    RUN_SELECTED(test_rope_append_kv);
    RUN_SELECTED(test_attention);
    RUN_SELECTED(test_attention_decode);
    RUN_SELECTED(test_swiglu_dropout);
    RUN_SELECTED(test_fused_infer);
    RUN_SELECTED(test_losses);
    RUN_SELECTED(test_optimizers);
    RUN_SELECTED(test_clip_grad_norm);
    RUN_SELECTED(test_h2d_ring);
    RUN_SELECTED(test_tiny_transformer);
    rx_generator_free(gen);
    return check_finish();
}
