/* test_cuda_ops.c — every core op of the CUDA backend against the CPU backend, on the GPU.
 *
 * Covers: host <-> device round trips (contiguous, transposed, narrowed, expanded, casts across
 * devices, strided destinations); on-device copies for all 64 dtype pairs and special values;
 * fill; every unary op, binary op (same shape, broadcast, strided, in place) and scalar op in both
 * orders on every dtype that defines it; clamp, where, masked_fill; every reduction on row shapes
 * that take the warp, block and multi-block paths, with ties, NaNs and -0; max_dim/min_dim;
 * cumsum; softmax and log_softmax (short and 49152-long rows, -inf and NaN rows); stable sort and
 * top-k (ties, NaN, +-0, both directions, narrow and 64-bit key paths); matmul (transposed
 * operands, batches, broadcast batches with stride 0, vectors, k = 0, 1M outputs); index_select
 * (slice fast path and strided path, strided index), gather, scatter_add (bitwise equal to the
 * CPU, and reproducible); copy_at_ (every dtype and dim, strided views, out-of-range offsets
 * leaving dst unchanged, and a captured CUDA graph replayed with the offset rewritten on the
 * device); Philox draws identical to the CPU for the same seed; the caching
 * allocator's reuse, statistics and out-of-memory message; errors mixing devices; a tensor of
 * more than 2^32 elements (64-bit index paths); copies between two GPUs and ops on the second
 * (when there are two); and a sticky error (an illegal address, in a child process) reported by
 * every later call.
 *
 * Inputs are fresh random tensors made on the CPU and copied to the GPU, so both devices see the
 * same values; the same view calls then make the non-contiguous variants on each side. Before an
 * op, freed blocks of the output's size in the CUDA cache are filled with 0xFF bytes (NaN in every
 * float dtype, an invalid bool), so an element a kernel forgets to write shows up.
 *
 * Bounds, |cuda - cpu| <= atol * scale + rtol * |cpu| (NaN matches NaN, equal infinities match):
 * - exact (0, 0): copies and casts, fill, arithmetic, comparisons, rounding, abs/neg, sqrt,
 *   reciprocal, clamp, where, extremes and arg*, any/all, integer sums and products, sort, index
 *   ops, scatter_add, uniform/randint/bernoulli draws. IEEE-rounded operations in the same order
 *   give the same bits on both devices; f16/bf16 compute in f32 and round with the same rule.
 * - transcendental elementwise ops (CUDA's libm differs from glibc by 1-4 ulp): f32 rtol 1e-5,
 *   atol 1e-6 (the atol covers results that cancel, e.g. gelu's 1 + erf(x) for x < -3 or log
 *   near 1, where a 1-ulp difference of an intermediate is large relative to the result); f64
 *   rtol 1e-12, atol 1e-14; f16 rtol 2^-10 (one f16 ulp at most: the f32 values differ by ulps
 *   and can round to neighbouring halves), atol 1e-6 (subnormal halves and cancelling results);
 *   bf16 rtol 2^-7 (one bf16 ulp), atol 1e-6.
 * - sums, means, cumsum (both accumulate in double, in different orders): rtol as above for the
 *   output dtype (one ulp of the rounded result) plus atol 1e-12 * S, S = the sum of |x| over the
 *   same elements (the double sums differ by a few ulps of S).
 * - products: f32 1e-5, f64 1e-12, f16 2^-10, bf16 2^-7 relative (values near 1).
 * - matmul: atol 1e-5 * S (f64: 1e-12 * S), S = |a| @ |b|: the f32 accumulations of cuBLAS and
 *   OpenBLAS differ by about sqrt(k) ulps of S; TF32 (10-bit mantissa) would miss this by 100x.
 *   Plus one ulp of the output dtype for f16 (2^-10) and bf16 (2^-7), whose inputs are exact in
 *   f32 on both sides.
 * - softmax/log_softmax: as transcendental ops (exp differs by ulps; sums in double).
 * - normal draws: same Philox words; CUDA's double log/cos differ from glibc's in the last bits:
 *   f64 rtol 1e-13, f32 rtol 2.5e-7 (2 ulps), f16 2^-10, bf16 2^-7, atol 1e-15.
 *
 * Skips (exit 77, "skipped: no CUDA device") when rx_cuda_available() is 0. Environment:
 * RECX_GPU_TEST_QUICK=1 shrinks the large shapes (for compute-sanitizer runs);
 * RECX_GPU_TEST_NO_STICKY=1 skips the sticky-error child, whose deliberate illegal address a
 * memory checker would report; RECX_GPU_TEST_ONLY=test_reduce,test_softmax runs only the named
 * test functions.
 */
#include "gpu_check.h"
#include "core/core.h"
#include "cuda/cuda_kernels.h"

#include <cuda_runtime_api.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static const rx_dtype ALL[] = {RX_F32, RX_F64, RX_F16, RX_BF16, RX_I32, RX_I64, RX_U8, RX_BOOL};
static const rx_dtype FLOATS[] = {RX_F32, RX_F64, RX_F16, RX_BF16};
static bool quick;
static int64_t LARGE;    /* > 1M elements (odd, so vector tails run) */
static int64_t LONG_ROW; /* rows long enough for the multi-block reduction */
static rx_generator *gen; /* inputs */

/* ---- tolerances -------------------------------------------------------------------------- */

typedef struct tol {
    double rtol, atol;
} tol;

static const tol EXACT = {0, 0};

static double ulp_rel(rx_dtype dt)
{
    switch (dt) {
    case RX_F16: return 1.0 / 1024;
    case RX_BF16: return 1.0 / 128;
    case RX_F64: return 1e-12;
    default: return 1e-5;
    }
}

static tol tol_math(rx_dtype dt)
{
    switch (dt) {
    case RX_F64: return (tol){1e-12, 1e-14};
    case RX_F32: return (tol){1e-5, 1e-6};
    default: return (tol){ulp_rel(dt), 1e-6};
    }
}

/* With a per-element scale S: atol is multiplied by S. */
static tol tol_sum(rx_dtype dt) { return (tol){rx_dtype_is_float(dt) ? ulp_rel(dt) : 0, rx_dtype_is_float(dt) ? 1e-12 : 0}; }
static tol tol_matmul(rx_dtype dt) { return (tol){dt == RX_F64 ? 1e-12 : dt == RX_F32 ? 1e-6 : ulp_rel(dt), dt == RX_F64 ? 1e-12 : 1e-5}; }
static tol tol_normal(rx_dtype dt)
{
    switch (dt) {
    case RX_F64: return (tol){1e-13, 1e-15};
    case RX_F32: return (tol){2.5e-7, 1e-15};
    default: return (tol){ulp_rel(dt), 1e-15};
    }
}

/* ---- small helpers ------------------------------------------------------------------------- */

static const char *shape_str(int ndim, const int64_t *shape)
{
    static char buf[8][128];
    static int next;
    char *b = buf[next++ % 8];
    int n = snprintf(b, 128, "(");
    for (int i = 0; i < ndim; i++) n += snprintf(b + n, 128 - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    snprintf(b + n, 128 - n, ndim == 1 ? ",)" : ")");
    return b;
}

static void poison_for(int ndim, const int64_t *shape, rx_dtype dt) { poison(rx_shape_numel(ndim, shape) * rx_dtype_size(dt)); }

/* Row-major values of t (any device): doubles, and the raw integers of an i64 tensor. */
static double *values_of(rx_tensor *t, int64_t **ints)
{
    rx_tensor *h = to_dev(t, rx_cpu()), *c = NULL;
    *ints = NULL;
    if (!h || rx_contiguous(h, &c) != RX_OK) {
        rx_tensor_release(h);
        return NULL;
    }
    int64_t n = rx_tensor_numel(c);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    const char *p = rx_tensor_data_ptr(c);
    int64_t es = rx_dtype_size(c->dtype);
    for (int64_t i = 0; i < n; i++) v[i] = rx_load_double(p + i * es, c->dtype);
    if (c->dtype == RX_I64) {
        *ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        memcpy(*ints, p, (size_t)n * sizeof(int64_t));
    }
    rx_tensor_release(h);
    rx_tensor_release(c);
    return v;
}

/* Compares g (the CUDA result, which must live on the GPU) with c (the reference): same shape and
 * dtype, and every element within atol * scale[i] (scale NULL: 1) + rtol * |c|. Reports the worst
 * element on failure. CMP_ANY accepts g on any device (results copied back to the host). */
#define CMP(desc, g, c, t, scale) cmp_(__FILE__, __LINE__, (desc), (g), (c), (t), (scale), true)
#define CMP_ANY(desc, g, c, t, scale) cmp_(__FILE__, __LINE__, (desc), (g), (c), (t), (scale), false)
static void cmp_(const char *file, int line, const char *desc, rx_tensor *g, rx_tensor *c, tol t, const double *scale,
                 bool on_gpu)
{
    if (!g || !c) {
        check_fail(file, line, "%s: missing result (cuda %s, cpu %s): %s", desc, g ? "ok" : "NULL", c ? "ok" : "NULL",
                   rx_last_error());
        return;
    }
    if (on_gpu && rx_tensor_device(g).type != RX_CUDA) {
        check_fail(file, line, "%s: the result is not on the GPU", desc);
        return;
    }
    if (rx_tensor_ndim(g) != rx_tensor_ndim(c) ||
        memcmp(rx_tensor_shape_ptr(g), rx_tensor_shape_ptr(c), sizeof(int64_t) * (size_t)rx_tensor_ndim(g)) != 0 ||
        rx_tensor_dtype(g) != rx_tensor_dtype(c)) {
        check_fail(file, line, "%s: cuda result %s %s, cpu result %s %s", desc,
                   shape_str(rx_tensor_ndim(g), rx_tensor_shape_ptr(g)), rx_dtype_name(rx_tensor_dtype(g)),
                   shape_str(rx_tensor_ndim(c), rx_tensor_shape_ptr(c)), rx_dtype_name(rx_tensor_dtype(c)));
        return;
    }
    int64_t *gi, *ci;
    double *gv = values_of(g, &gi), *cv = values_of(c, &ci);
    if (!gv || !cv) {
        check_fail(file, line, "%s: could not read the results back: %s", desc, rx_last_error());
        free(gv), free(cv), free(gi), free(ci);
        return;
    }
    int64_t n = rx_tensor_numel(c), bad = 0, worst = -1;
    double worst_ratio = 0, worst_err = 0, worst_bound = 0;
    for (int64_t i = 0; i < n; i++) {
        if (gi) {
            if (gi[i] != ci[i]) {
                if (!bad) worst = i;
                bad++;
            }
            continue;
        }
        double a = gv[i], b = cv[i];
        if ((isnan(a) && isnan(b)) || a == b) continue;
        double err = fabs(a - b), bound = t.atol * (scale ? scale[i] : 1.0) + t.rtol * fabs(b);
        if (err <= bound) continue;
        double ratio = bound > 0 ? err / bound : INFINITY;
        bad++;
        if (worst < 0 || ratio > worst_ratio || isnan(err)) {
            worst = i;
            worst_ratio = ratio;
            worst_err = err;
            worst_bound = bound;
        }
    }
    if (bad && gi)
        check_fail(file, line, "%s %s %s: %lld of %lld elements differ; first at [%lld]: cuda %lld, cpu %lld", desc,
                   shape_str(rx_tensor_ndim(c), rx_tensor_shape_ptr(c)), rx_dtype_name(rx_tensor_dtype(c)),
                   (long long)bad, (long long)n, (long long)worst, (long long)gi[worst], (long long)ci[worst]);
    else if (bad)
        check_fail(file, line,
                   "%s %s %s: %lld of %lld elements outside the bound; worst at [%lld] (row-major): cuda %.9g, cpu "
                   "%.9g, |err| %.3g > bound %.3g (rtol %g, atol %g%s)",
                   desc, shape_str(rx_tensor_ndim(c), rx_tensor_shape_ptr(c)), rx_dtype_name(rx_tensor_dtype(c)),
                   (long long)bad, (long long)n, (long long)worst, gv[worst], cv[worst], worst_err, worst_bound,
                   t.rtol, t.atol, scale ? " x S" : "");
    free(gv), free(cv), free(gi), free(ci);
}

/* ---- inputs -------------------------------------------------------------------------------- */

typedef enum {
    IN_NORMAL,   /* floats 2 * N(0, 1); integers in [-50, 50) (u8 [0, 100), bool {0, 1}) */
    IN_POSITIVE, /* floats |N(0, 1)| + 0.1; integers in [1, 20) */
    IN_NONZERO,  /* floats +-(|N| + 0.5); integers in [1, 20) with random sign */
    IN_TIES,     /* floats floor(2 N(0,1)) / 2 (many ties); integers in [-3, 4) */
    IN_NEAR_ONE, /* floats 1 + 0.01 N(0, 1); integers in [-3, 4) */
    IN_SMALL,    /* floats 2 * N(0, 1); integers in [0, 6) (exponents, shifts) */
} in_kind;

static rx_tensor *scal(rx_binary_op op, rx_tensor *t, double s)
{
    rx_tensor *o = NULL;
    OKS(rx_binary_scalar(op, t, s, 0, &o));
    rx_tensor_release(t);
    return o;
}

static rx_tensor *un(rx_unary_op op, rx_tensor *t)
{
    rx_tensor *o = NULL;
    OKS(rx_unary(op, t, &o));
    rx_tensor_release(t);
    return o;
}

/* A fresh CPU tensor of `shape` and dtype dt drawn from the test generator. */
static rx_tensor *input(int ndim, const int64_t *shape, rx_dtype dt, in_kind kind)
{
    rx_tensor *x = NULL, *o = NULL;
    if (!rx_dtype_is_float(dt)) {
        int64_t lo = -50, hi = 50;
        switch (kind) {
        case IN_POSITIVE:
        case IN_NONZERO: lo = 1, hi = 20; break;
        case IN_TIES:
        case IN_NEAR_ONE: lo = -3, hi = 4; break;
        case IN_SMALL: lo = 0, hi = 6; break;
        default: break;
        }
        if (dt == RX_U8 && lo < 0) lo = 0, hi = kind == IN_NORMAL ? 100 : 4;
        if (dt == RX_BOOL) lo = kind == IN_POSITIVE || kind == IN_NONZERO ? 1 : 0, hi = 2;
        OKS(rx_randint(lo, hi, ndim, shape, RX_I64, rx_cpu(), gen, &x));
        if (x && kind == IN_NONZERO && dt != RX_U8 && dt != RX_BOOL) { /* random signs */
            rx_tensor *sg = NULL, *prod = NULL;
            OKS(rx_randint(0, 2, ndim, shape, RX_I64, rx_cpu(), gen, &sg));
            sg = scal(RX_SUB, scal(RX_MUL, sg, 2), 1);
            OKS(rx_binary(RX_MUL, x, sg, &prod));
            rx_tensor_release(x), rx_tensor_release(sg);
            x = prod;
        }
    } else {
        OKS(rx_randn(ndim, shape, RX_F64, rx_cpu(), gen, &x));
        switch (kind) {
        case IN_POSITIVE: x = scal(RX_ADD, un(RX_ABS, x), 0.1); break;
        case IN_NONZERO: {
            rx_tensor *sg = NULL, *mag = NULL;
            OKS(rx_unary(RX_SIGN, x, &sg));
            mag = scal(RX_ADD, un(RX_ABS, x), 0.5);
            OKS(rx_binary(RX_MUL, sg, mag, &x));
            rx_tensor_release(sg), rx_tensor_release(mag);
            break;
        }
        case IN_TIES: x = scal(RX_MUL, un(RX_FLOOR, scal(RX_MUL, x, 2)), 0.5); break;
        case IN_NEAR_ONE: x = scal(RX_ADD, scal(RX_MUL, x, 0.01), 1); break;
        default: x = scal(RX_MUL, x, 2); break;
        }
    }
    if (x) OKS(rx_to_dtype(x, dt, &o));
    rx_tensor_release(x);
    return o;
}

/* The same values on both devices. */
typedef struct pair {
    rx_tensor *c, *g;
} pair;

static pair pair_of(rx_tensor *c) /* takes c */
{
    pair p = {c, to_dev(c, GPU)};
    return p;
}

static void pair_free(pair p)
{
    rx_tensor_release(p.c);
    rx_tensor_release(p.g);
}

typedef enum { V_CONTIG, V_TRANSPOSED, V_NARROWED, V_EXPANDED } view_kind;
static const char *const view_names[] = {"contiguous", "transposed", "narrowed", "expanded"};

static rx_tensor *apply_view(rx_tensor *t, view_kind v, int ndim, const int64_t *shape)
{
    rx_tensor *o = NULL;
    if (!t) return NULL;
    switch (v) {
    case V_TRANSPOSED: OKS(rx_transpose(t, 0, ndim - 1, &o)); break;
    case V_NARROWED: OKS(rx_narrow(t, ndim - 1, 1, shape[ndim - 1], &o)); break;
    case V_EXPANDED: OKS(rx_expand(t, ndim, shape, &o)); break;
    default: o = rx_tensor_retain(t); break;
    }
    rx_tensor_release(t);
    return o;
}

/* A pair of logical shape `shape` laid out as v: transposed (stored with dims 0 and last
 * swapped), narrowed (last dim stored 3 wider, offset 1) or expanded (dim 0 stored with size 1). */
static pair make_pair(int ndim, const int64_t *shape, rx_dtype dt, in_kind k, view_kind v)
{
    int64_t base[RX_MAX_DIMS];
    memcpy(base, shape, sizeof(int64_t) * (size_t)ndim);
    if (v == V_TRANSPOSED) {
        base[0] = shape[ndim - 1];
        base[ndim - 1] = shape[0];
    } else if (v == V_NARROWED) {
        base[ndim - 1] += 3;
    } else if (v == V_EXPANDED) {
        base[0] = 1;
    }
    pair p = pair_of(input(ndim, base, dt, k));
    p.c = apply_view(p.c, v, ndim, shape);
    p.g = apply_view(p.g, v, ndim, shape);
    return p;
}

/* Per-element scale: reduce(|x| as f64) with the same dims (sum or mean), row-major. */
static double *abs_scale(rx_tensor *xc, rx_reduce_op op, int ndims, const int *dims, int keepdim)
{
    rx_tensor *a = NULL, *a64 = NULL, *r = NULL;
    double *s = NULL;
    int64_t *unused;
    if (OKS(rx_unary(RX_ABS, xc, &a)) && OKS(rx_to_dtype(a, RX_F64, &a64)) &&
        OKS(rx_reduce(op, a64, ndims, dims, keepdim, &r)))
        s = values_of(r, &unused);
    rx_tensor_release(a), rx_tensor_release(a64), rx_tensor_release(r);
    return s;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_device_info(void)
{
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
        printf("  device 0: %s, compute capability %d.%d, %d multiprocessors, %.1f GiB; %d device(s)\n", prop.name,
               prop.major, prop.minor, prop.multiProcessorCount, (double)prop.totalGlobalMem / (1 << 30),
               rx_cuda_device_count());
    CHECK(rx_cuda_device_count() >= 1);
    rx_tensor *z = NULL;
    CHECK_OK(rx_zeros(1, (int64_t[]){3}, RX_F32, GPU, &z));
    CHECK(z && rx_tensor_device(z).type == RX_CUDA);
    rx_tensor_release(z);
}

/* Host -> device -> host for every dtype and layout; copies across devices with casts and into
 * strided destinations on either side. */
static void test_roundtrip(void)
{
    const struct {
        int nd;
        int64_t shape[2];
    } cases[] = {{1, {0}}, {1, {1}}, {1, {1001}}, {2, {37, 41}}, {2, {1, 300}}};
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        for (size_t si = 0; si < sizeof cases / sizeof cases[0]; si++) {
            int nd = cases[si].nd;
            const int64_t *shape = cases[si].shape;
            for (view_kind v = V_CONTIG; v <= V_EXPANDED; v++) {
                if (v == V_EXPANDED && rx_shape_numel(nd, shape) == 0) continue;
                pair p = make_pair(nd, shape, dt, IN_NORMAL, v);
                rx_tensor *back = to_dev(p.g, rx_cpu());
                CMP_ANY(what("round trip %s %s", shape_str(nd, shape), view_names[v]), back, p.c, EXACT, NULL);
                rx_tensor_release(back);
                /* a strided device tensor made contiguous on the device */
                rx_tensor *gc = NULL, *cc = NULL;
                OKS(rx_contiguous(p.g, &gc));
                OKS(rx_contiguous(p.c, &cc));
                CMP(what("contiguous() of a %s %s view", shape_str(nd, shape), view_names[v]), gc, cc, EXACT, NULL);
                rx_tensor_release(gc), rx_tensor_release(cc);
                pair_free(p);
            }
        }
        /* large contiguous */
        pair p = make_pair(1, &LARGE, dt, IN_NORMAL, V_CONTIG);
        rx_tensor *back = to_dev(p.g, rx_cpu());
        CMP_ANY(what("round trip (large)"), back, p.c, EXACT, NULL);
        rx_tensor_release(back);
        pair_free(p);
    }
    /* copy_ across devices: casts, strided destinations on each side */
    for (size_t si = 0; si < 4; si++) {
        rx_dtype st = FLOATS[si];
        for (size_t di = 0; di < 8; di++) {
            rx_dtype dt = ALL[di];
            int64_t shape[2] = {29, 33};
            rx_tensor *src = input(2, shape, st, IN_NORMAL), *srct = NULL;
            OKS(rx_transpose(src, 0, 1, &srct)); /* (33, 29) strided host source */
            int64_t dshape[2] = {29, 33};
            rx_tensor *dg = NULL, *dc = NULL, *dgt = NULL, *dct = NULL;
            OKS(rx_zeros(2, dshape, dt, GPU, &dg));
            OKS(rx_zeros(2, dshape, dt, rx_cpu(), &dc));
            OKS(rx_transpose(dg, 0, 1, &dgt));
            OKS(rx_transpose(dc, 0, 1, &dct));
            OKS(rx_copy_(dgt, srct)); /* host strided f* -> device strided dt */
            OKS(rx_copy_(dct, srct));
            CMP(what("copy_ cpu %s (transposed) -> cuda %s (transposed)", rx_dtype_name(st), rx_dtype_name(dt)), dg, dc,
                EXACT, NULL);
            /* device strided -> host strided with a cast back */
            rx_tensor *hc = NULL, *hct = NULL, *ref = NULL, *reft = NULL;
            OKS(rx_full(2, (int64_t[]){33, 29}, -7, st, rx_cpu(), &hc));
            OKS(rx_full(2, (int64_t[]){33, 29}, -7, st, rx_cpu(), &ref));
            OKS(rx_transpose(hc, 0, 1, &hct));
            OKS(rx_transpose(ref, 0, 1, &reft));
            OKS(rx_copy_(hct, dg));
            OKS(rx_copy_(reft, dc));
            CMP_ANY(what("copy_ cuda %s -> cpu %s (transposed)", rx_dtype_name(dt), rx_dtype_name(st)), hc, ref, EXACT,
                    NULL);
            rx_tensor_release(src), rx_tensor_release(srct), rx_tensor_release(dg), rx_tensor_release(dc);
            rx_tensor_release(dgt), rx_tensor_release(dct), rx_tensor_release(hc), rx_tensor_release(hct);
            rx_tensor_release(ref), rx_tensor_release(reft);
        }
    }
}

/* On-device casts between every dtype pair, strided and dense, and special values. */
static void test_casts(void)
{
    for (size_t si = 0; si < 8; si++)
        for (size_t di = 0; di < 8; di++) {
            rx_dtype st = ALL[si], dt = ALL[di];
            int64_t shape[2] = {257, 129};
            for (view_kind v = V_CONTIG; v <= V_TRANSPOSED; v++) {
                pair p = make_pair(2, shape, st, IN_NORMAL, v);
                rx_tensor *g = NULL, *c = NULL;
                poison_for(2, shape, dt);
                OKS(rx_to_dtype(p.g, dt, &g));
                OKS(rx_to_dtype(p.c, dt, &c));
                CMP(what("cast %s -> %s, %s", rx_dtype_name(st), rx_dtype_name(dt), view_names[v]), g, c, EXACT, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                pair_free(p);
            }
        }
    /* special values into every float dtype (and back to f32) */
    const double sv[] = {0.0, -0.0, 1.0, -1.0, INFINITY, -INFINITY, NAN, 65504.0, 65519.0, 65520.0, 1e5, 6e-8,
                         3e-8, 1e-8, 5.960464477539063e-08, 1.0009765625, 1.00048828125, 1.00146484375, 3.4e38,
                         1e-40, 1.00390625, 1.001953125, 1.005859375, 0.1, 1.0 / 3.0, 123456.789};
    int64_t n = (int64_t)(sizeof sv / sizeof sv[0]);
    for (size_t si = 0; si < 4; si++)
        for (size_t di = 0; di < 4; di++) {
            rx_tensor *c0 = t_from(1, &n, RX_F64, sv), *cs = NULL;
            OKS(rx_to_dtype(c0, FLOATS[si], &cs));
            pair p = pair_of(cs);
            rx_tensor *g = NULL, *c = NULL;
            OKS(rx_to_dtype(p.g, FLOATS[di], &g));
            OKS(rx_to_dtype(p.c, FLOATS[di], &c));
            CMP(what("cast of special values %s -> %s", rx_dtype_name(FLOATS[si]), rx_dtype_name(FLOATS[di])), g, c,
                EXACT, NULL);
            rx_tensor_release(c0), rx_tensor_release(g), rx_tensor_release(c);
            pair_free(p);
        }
}

static void test_fill(void)
{
    const double vals[] = {0.0, 1.0, -2.5, 37.0, NAN};
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        for (size_t vi = 0; vi < 5; vi++) {
            if (vi == 4 && !rx_dtype_is_float(dt)) continue;
            int64_t shape[2] = {61, 67};
            rx_tensor *g = NULL, *c = NULL;
            poison_for(2, shape, dt);
            OKS(rx_full(2, shape, vals[vi], dt, GPU, &g));
            OKS(rx_full(2, shape, vals[vi], dt, rx_cpu(), &c));
            CMP(what("full(%g)", vals[vi]), g, c, EXACT, NULL);
            /* fill a strided part: a transposed narrow of each */
            rx_tensor *gv = NULL, *cv = NULL, *gt = NULL, *ct = NULL;
            OKS(rx_transpose(g, 0, 1, &gt));
            OKS(rx_transpose(c, 0, 1, &ct));
            OKS(rx_narrow(gt, 1, 5, 40, &gv));
            OKS(rx_narrow(ct, 1, 5, 40, &cv));
            OKS(rx_fill_(gv, 3.0));
            OKS(rx_fill_(cv, 3.0));
            CMP(what("fill_(3) of a strided view after full(%g)", vals[vi]), g, c, EXACT, NULL);
            rx_tensor_release(g), rx_tensor_release(c), rx_tensor_release(gv), rx_tensor_release(cv);
            rx_tensor_release(gt), rx_tensor_release(ct);
        }
    }
}

static bool exact_unary(rx_unary_op op)
{
    switch (op) {
    case RX_NEG:
    case RX_ABS:
    case RX_SQRT:
    case RX_RSQRT:
    case RX_RELU:
    case RX_RECIPROCAL:
    case RX_SQUARE:
    case RX_FLOOR:
    case RX_CEIL:
    case RX_ROUND:
    case RX_SIGN:
    case RX_LOGICAL_NOT: return true;
    default: return false;
    }
}

static void test_unary(void)
{
    const int64_t big[1] = {LARGE}, mid[2] = {67, 45}, small[3] = {5, 9, 33};
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        bool fl = rx_dtype_is_float(dt);
        for (int op = 0; op < RX_UNARY_OP_COUNT; op++) {
            bool int_ok = op == RX_NEG || op == RX_ABS || op == RX_RELU || op == RX_SQUARE || op == RX_FLOOR ||
                          op == RX_CEIL || op == RX_ROUND || op == RX_SIGN || op == RX_LOGICAL_NOT;
            if (!fl && !int_ok) continue;
            if (dt == RX_BOOL && op != RX_LOGICAL_NOT) continue;
            in_kind k = (op == RX_LOG || op == RX_SQRT || op == RX_RSQRT || op == RX_LOG1P) ? IN_POSITIVE : IN_NORMAL;
            tol t = exact_unary(op) ? EXACT : tol_math(dt);
            struct {
                int nd;
                const int64_t *shape;
                view_kind v;
            } cases[] = {{1, big, V_CONTIG}, {2, mid, V_TRANSPOSED}, {3, small, V_NARROWED}, {3, small, V_EXPANDED}};
            for (size_t ci = 0; ci < 4; ci++) {
                pair p = make_pair(cases[ci].nd, cases[ci].shape, dt, k, cases[ci].v);
                rx_tensor *g = NULL, *c = NULL;
                poison_for(cases[ci].nd, cases[ci].shape, op == RX_LOGICAL_NOT ? RX_BOOL : dt);
                OKS(rx_unary(op, p.g, &g));
                OKS(rx_unary(op, p.c, &c));
                CMP(what("unary %s, %s input", rx_unary_op_name(op), view_names[cases[ci].v]), g, c, t, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                pair_free(p);
            }
        }
    }
}

static bool binary_defined(rx_binary_op op, rx_dtype dt)
{
    if (op >= RX_EQ) return true; /* comparisons and logical ops: every dtype */
    if (dt == RX_BOOL) return op == RX_MAXIMUM || op == RX_MINIMUM;
    if (!rx_dtype_is_float(dt)) return op != RX_DIV;
    return true;
}

static void binary_inputs(rx_binary_op op, in_kind *ka, in_kind *kb)
{
    *ka = IN_NORMAL, *kb = IN_NORMAL;
    if (op == RX_POW) *ka = IN_POSITIVE, *kb = IN_SMALL;
    if (op == RX_DIV || op == RX_REMAINDER) *kb = IN_NONZERO;
    if (op >= RX_EQ) *ka = IN_TIES, *kb = IN_TIES; /* equal elements happen */
}

static void test_binary(void)
{
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        for (int op = 0; op < RX_BINARY_OP_COUNT; op++) {
            if (!binary_defined(op, dt)) continue;
            in_kind ka, kb;
            binary_inputs(op, &ka, &kb);
            tol t = op == RX_POW && rx_dtype_is_float(dt) ? tol_math(dt) : EXACT;
            rx_dtype odt = op >= RX_EQ ? RX_BOOL : dt;
            /* same shape, dense (the 16-byte path) */
            {
                pair a = make_pair(1, &LARGE, dt, ka, V_CONTIG), b = make_pair(1, &LARGE, dt, kb, V_CONTIG);
                rx_tensor *g = NULL, *c = NULL;
                poison_for(1, &LARGE, odt);
                OKS(rx_binary(op, a.g, b.g, &g));
                OKS(rx_binary(op, a.c, b.c, &c));
                CMP(what("binary %s, dense", rx_binary_op_name(op)), g, c, t, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                pair_free(a), pair_free(b);
            }
            /* broadcast (64, 1, 33) with (1, 17, 33) */
            {
                pair a = make_pair(3, (int64_t[]){64, 1, 33}, dt, ka, V_CONTIG);
                pair b = make_pair(3, (int64_t[]){1, 17, 33}, dt, kb, V_CONTIG);
                rx_tensor *g = NULL, *c = NULL;
                poison_for(3, (int64_t[]){64, 17, 33}, odt);
                OKS(rx_binary(op, a.g, b.g, &g));
                OKS(rx_binary(op, a.c, b.c, &c));
                CMP(what("binary %s, broadcast (64, 1, 33) x (1, 17, 33)", rx_binary_op_name(op)), g, c, t, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                pair_free(a), pair_free(b);
            }
            /* transposed with narrowed */
            {
                int64_t shape[2] = {45, 67};
                pair a = make_pair(2, shape, dt, ka, V_TRANSPOSED), b = make_pair(2, shape, dt, kb, V_NARROWED);
                rx_tensor *g = NULL, *c = NULL;
                poison_for(2, shape, odt);
                OKS(rx_binary(op, a.g, b.g, &g));
                OKS(rx_binary(op, a.c, b.c, &c));
                CMP(what("binary %s, transposed x narrowed", rx_binary_op_name(op)), g, c, t, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                /* in place (out aliases a) when the result keeps a's dtype */
                if (odt == dt) {
                    rx_tensor *ag = NULL, *ac = NULL;
                    OKS(rx_clone(a.g, &ag));
                    OKS(rx_clone(a.c, &ac));
                    OKS(rx_binary_(op, ag, b.g));
                    OKS(rx_binary_(op, ac, b.c));
                    CMP(what("binary_ %s in place", rx_binary_op_name(op)), ag, ac, t, NULL);
                    rx_tensor_release(ag), rx_tensor_release(ac);
                }
                pair_free(a), pair_free(b);
            }
        }
    }
}

static void test_binary_scalar(void)
{
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        bool fl = rx_dtype_is_float(dt);
        for (int op = 0; op < RX_BINARY_OP_COUNT; op++) {
            if (!binary_defined(op, dt)) continue;
            for (int first = 0; first < 2; first++) {
                in_kind ka, kb;
                binary_inputs(op, &ka, &kb);
                double s = fl ? 1.75 : 3;
                if (op == RX_POW) s = first ? (fl ? 1.5 : 2) : (fl ? 2.5 : 3);
                if (op == RX_POW && first) ka = IN_SMALL;
                if ((op == RX_DIV || op == RX_REMAINDER) && first) ka = IN_NONZERO;
                if (op >= RX_EQ) s = fl ? 0.5 : 1;
                if (dt == RX_BOOL) s = 1;
                tol t = op == RX_POW && fl ? tol_math(dt) : EXACT;
                rx_dtype odt = op >= RX_EQ ? RX_BOOL : dt;
                int64_t mid[2] = {45, 67};
                for (int ci = 0; ci < 2; ci++) {
                    pair a = ci ? make_pair(2, mid, dt, ka, V_TRANSPOSED) : make_pair(1, &LARGE, dt, ka, V_CONTIG);
                    rx_tensor *g = NULL, *c = NULL;
                    poison_for(ci ? 2 : 1, ci ? mid : &LARGE, odt);
                    OKS(rx_binary_scalar(op, a.g, s, first, &g));
                    OKS(rx_binary_scalar(op, a.c, s, first, &c));
                    CMP(what("binary_scalar %s %s %g, %s", first ? "s" : "a", rx_binary_op_name(op), s,
                             ci ? "transposed" : "dense"),
                        g, c, t, NULL);
                    rx_tensor_release(g), rx_tensor_release(c);
                    pair_free(a);
                }
            }
        }
    }
}

static void test_clamp_where(void)
{
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        int64_t mid[2] = {45, 67};
        if (dt != RX_BOOL) {
            const double bounds[][2] = {{-0.5, 0.75}, {-3, 4}, {2, -1}, {-INFINITY, 0.0}};
            for (int bi = 0; bi < 4; bi++)
                for (int ci = 0; ci < 2; ci++) {
                    pair a = ci ? make_pair(2, mid, dt, IN_NORMAL, V_TRANSPOSED) : make_pair(1, &LARGE, dt, IN_NORMAL, V_CONTIG);
                    rx_tensor *g = NULL, *c = NULL;
                    OKS(rx_clamp(a.g, bounds[bi][0], bounds[bi][1], &g));
                    OKS(rx_clamp(a.c, bounds[bi][0], bounds[bi][1], &c));
                    CMP(what("clamp(%g, %g)", bounds[bi][0], bounds[bi][1]), g, c, EXACT, NULL);
                    rx_tensor_release(g), rx_tensor_release(c);
                    pair_free(a);
                }
        }
        /* where: dense, broadcast cond (64, 1) against (64, 33), transposed operands */
        {
            pair cond = make_pair(1, &LARGE, RX_BOOL, IN_NORMAL, V_CONTIG);
            pair a = make_pair(1, &LARGE, dt, IN_NORMAL, V_CONTIG), b = make_pair(1, &LARGE, dt, IN_NORMAL, V_CONTIG);
            rx_tensor *g = NULL, *c = NULL;
            poison_for(1, &LARGE, dt);
            OKS(rx_where(cond.g, a.g, b.g, &g));
            OKS(rx_where(cond.c, a.c, b.c, &c));
            CMP(what("where, dense"), g, c, EXACT, NULL);
            rx_tensor_release(g), rx_tensor_release(c);
            pair_free(cond), pair_free(a), pair_free(b);
        }
        {
            pair cond = make_pair(2, (int64_t[]){64, 1}, RX_BOOL, IN_NORMAL, V_CONTIG);
            pair a = make_pair(2, (int64_t[]){64, 33}, dt, IN_NORMAL, V_TRANSPOSED);
            pair b = make_pair(2, (int64_t[]){64, 33}, dt, IN_NORMAL, V_NARROWED);
            rx_tensor *g = NULL, *c = NULL, *mg = NULL, *mc = NULL;
            OKS(rx_where(cond.g, a.g, b.g, &g));
            OKS(rx_where(cond.c, a.c, b.c, &c));
            CMP(what("where, broadcast cond, strided operands"), g, c, EXACT, NULL);
            OKS(rx_masked_fill(a.g, cond.g, 1, &mg));
            OKS(rx_masked_fill(a.c, cond.c, 1, &mc));
            CMP(what("masked_fill"), mg, mc, EXACT, NULL);
            rx_tensor_release(g), rx_tensor_release(c), rx_tensor_release(mg), rx_tensor_release(mc);
            pair_free(cond), pair_free(a), pair_free(b);
        }
    }
    /* clamp passes NaN through and keeps infinities in range */
    const double sv[] = {NAN, INFINITY, -INFINITY, -0.0, 0.25};
    int64_t n = 5;
    pair p = pair_of(t_from(1, &n, RX_F32, sv));
    rx_tensor *g = NULL, *c = NULL;
    OKS(rx_clamp(p.g, -1, 1, &g));
    OKS(rx_clamp(p.c, -1, 1, &c));
    CMP("clamp of NaN, inf, -0", g, c, EXACT, NULL);
    rx_tensor_release(g), rx_tensor_release(c);
    pair_free(p);
}

static bool reduce_defined(rx_reduce_op op, rx_dtype dt)
{
    if (op == RX_MEAN) return rx_dtype_is_float(dt);
    return true;
}

static tol reduce_tol(rx_reduce_op op, rx_dtype dt)
{
    if (!rx_dtype_is_float(dt)) return EXACT;
    if (op == RX_SUM || op == RX_MEAN) return tol_sum(dt);
    if (op == RX_PROD) return (tol){ulp_rel(dt), 0};
    return EXACT;
}

/* Reduces the pair over dims on both devices and compares (and max_dim/min_dim's indices). */
static void check_reduce(pair x, rx_reduce_op op, int ndims, const int *dims, int keepdim, const char *desc)
{
    char where_[256];
    snprintf(where_, sizeof where_, "%s", desc); /* desc may be what()'s buffer */
    rx_dtype dt = rx_tensor_dtype(x.c);
    rx_tensor *g = NULL, *c = NULL;
    if (!OKS(rx_reduce(op, x.c, ndims, dims, keepdim, &c))) return;
    poison_for(rx_tensor_ndim(c), rx_tensor_shape_ptr(c), rx_tensor_dtype(c));
    OKS(rx_reduce(op, x.g, ndims, dims, keepdim, &g));
    double *scale = NULL;
    if ((op == RX_SUM || op == RX_MEAN) && rx_dtype_is_float(dt)) scale = abs_scale(x.c, op, ndims, dims, keepdim);
    CMP(what("reduce %s over %s", rx_reduce_op_name(op), where_), g, c, reduce_tol(op, dt), scale);
    free(scale);
    rx_tensor_release(g), rx_tensor_release(c);
}

static void test_reduce(void)
{
    const int64_t rows[][2] = {{7, 13}, {1000, 37}, {33, 5000}, {3, 0}};
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        for (int op = 0; op < RX_REDUCE_OP_COUNT; op++) {
            if (!reduce_defined(op, dt)) continue;
            bool extreme = op == RX_MAX || op == RX_MIN || op == RX_ARGMAX || op == RX_ARGMIN;
            in_kind k = op == RX_PROD ? IN_NEAR_ONE : extreme || op == RX_ANY || op == RX_ALL ? IN_TIES : IN_NORMAL;
            for (size_t ri = 0; ri < 4; ri++) {
                if (rows[ri][1] == 0 && extreme) continue;
                pair x = make_pair(2, rows[ri], dt, k, V_CONTIG);
                check_reduce(x, op, 1, (int[]){1}, 0, what("dim 1 of %s", shape_str(2, rows[ri])));
                pair_free(x);
            }
            /* long rows (multi-block path), the whole of a large tensor, dim 0 of a transposed one,
             * two dims with keepdim */
            int64_t lr[2] = {3, LONG_ROW};
            pair x = make_pair(2, lr, dt, k, V_CONTIG);
            check_reduce(x, op, 1, (int[]){1}, 0, what("dim 1 of %s (split rows)", shape_str(2, lr)));
            pair_free(x);
            x = make_pair(1, &LARGE, dt, k, V_CONTIG);
            check_reduce(x, op, 0, NULL, 0, "all of a large tensor");
            pair_free(x);
            if (op != RX_ARGMAX && op != RX_ARGMIN) {
                x = make_pair(3, (int64_t[]){16, 7, 9}, dt, k, V_TRANSPOSED);
                check_reduce(x, op, 2, (int[]){0, 2}, 1, "dims (0, 2) of a transposed (16, 7, 9), keepdim");
                pair_free(x);
            }
            x = make_pair(2, (int64_t[]){300, 41}, dt, k, V_NARROWED);
            check_reduce(x, op, 1, (int[]){0}, 0, "dim 0 of a narrowed (300, 41)");
            pair_free(x);
        }
    }
    /* NaN (the first wins), -0 and +0, and infinities in extremes */
    for (size_t fi = 0; fi < 4; fi++) {
        rx_dtype dt = FLOATS[fi];
        int64_t shape[2] = {4, 2000};
        rx_tensor *c0 = input(2, shape, RX_F64, IN_TIES);
        rx_tensor_set(c0, (int64_t[]){0, 500}, NAN);
        rx_tensor_set(c0, (int64_t[]){0, 1500}, NAN);
        rx_tensor_set(c0, (int64_t[]){1, 3}, INFINITY);
        rx_tensor_set(c0, (int64_t[]){2, 7}, -INFINITY);
        for (int64_t j = 0; j < shape[1]; j++) rx_tensor_set(c0, (int64_t[]){3, j}, (j % 3) ? 0.0 : -0.0);
        rx_tensor *cd = NULL;
        OKS(rx_to_dtype(c0, dt, &cd));
        pair x = pair_of(cd);
        const rx_reduce_op ops[] = {RX_MAX, RX_MIN, RX_ARGMAX, RX_ARGMIN, RX_SUM, RX_ANY, RX_ALL};
        for (int oi = 0; oi < 7; oi++) check_reduce(x, ops[oi], 1, (int[]){1}, 0, "rows with NaN, inf, +-0");
        for (int mx = 0; mx < 2; mx++) {
            rx_tensor *gv = NULL, *gi = NULL, *cv = NULL, *ci = NULL;
            OKS(mx ? rx_max_dim(x.g, 1, 1, &gv, &gi) : rx_min_dim(x.g, 1, 1, &gv, &gi));
            OKS(mx ? rx_max_dim(x.c, 1, 1, &cv, &ci) : rx_min_dim(x.c, 1, 1, &cv, &ci));
            CMP(what("%s_dim values", mx ? "max" : "min"), gv, cv, EXACT, NULL);
            CMP(what("%s_dim indices", mx ? "max" : "min"), gi, ci, EXACT, NULL);
            rx_tensor_release(gv), rx_tensor_release(gi), rx_tensor_release(cv), rx_tensor_release(ci);
        }
        rx_tensor_release(c0);
        pair_free(x);
    }
}

static void test_cumsum(void)
{
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        const struct {
            int nd;
            int64_t shape[2];
            int dim;
            view_kind v;
        } cases[] = {{2, {5, 7}, 1, V_CONTIG},      {2, {3000, 40}, 1, V_CONTIG}, {2, {4, LONG_ROW}, 1, V_CONTIG},
                     {1, {LARGE}, 0, V_CONTIG},     {2, {300, 41}, 0, V_TRANSPOSED}, {2, {3, 0}, 1, V_CONTIG}};
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            int nd = cases[ci].nd, dim = cases[ci].dim;
            const int64_t *shape = cases[ci].shape;
            pair x = make_pair(nd, shape, dt, IN_NORMAL, cases[ci].v);
            rx_tensor *g = NULL, *c = NULL;
            OKS(rx_cumsum(x.c, dim, &c));
            if (c) poison_for(nd, shape, rx_tensor_dtype(c));
            OKS(rx_cumsum(x.g, dim, &g));
            double *scale = NULL;
            if (rx_dtype_is_float(dt)) {
                rx_tensor *a = NULL, *a64 = NULL, *s = NULL;
                int64_t *unused;
                if (OKS(rx_unary(RX_ABS, x.c, &a)) && OKS(rx_to_dtype(a, RX_F64, &a64)) && OKS(rx_cumsum(a64, dim, &s)))
                    scale = values_of(s, &unused);
                rx_tensor_release(a), rx_tensor_release(a64), rx_tensor_release(s);
            }
            CMP(what("cumsum along dim %d of a %s %s", dim, view_names[cases[ci].v], shape_str(nd, shape)), g, c,
                tol_sum(dt), scale);
            free(scale);
            rx_tensor_release(g), rx_tensor_release(c);
            pair_free(x);
        }
    }
}

static void test_softmax(void)
{
    const int64_t shapes[][2] = {{8, 10}, {4096, 300}, {64, 49152}, {300, 7}};
    for (size_t fi = 0; fi < 4; fi++) {
        rx_dtype dt = FLOATS[fi];
        for (int si = 0; si < 4; si++) {
            int64_t shape[2] = {shapes[si][0], shapes[si][1]};
            if (quick && si == 2) shape[0] = 4;
            int dim = si == 3 ? 0 : 1;
            rx_tensor *c0 = input(2, shape, RX_F64, IN_NORMAL), *cd = NULL;
            if (si == 0) { /* masked entries, a fully masked row, a NaN row */
                rx_tensor_set(c0, (int64_t[]){1, 3}, -INFINITY);
                rx_tensor_set(c0, (int64_t[]){1, 4}, -INFINITY);
                for (int64_t j = 0; j < shape[1]; j++) rx_tensor_set(c0, (int64_t[]){2, j}, -INFINITY);
                rx_tensor_set(c0, (int64_t[]){3, 5}, NAN);
                rx_tensor_set(c0, (int64_t[]){4, 0}, 80.0);
            }
            OKS(rx_to_dtype(c0, dt, &cd));
            pair x = pair_of(cd);
            for (int lg = 0; lg < 2; lg++) {
                rx_tensor *g = NULL, *c = NULL;
                poison_for(2, shape, dt);
                OKS(lg ? rx_log_softmax(x.g, dim, &g) : rx_softmax(x.g, dim, &g));
                OKS(lg ? rx_log_softmax(x.c, dim, &c) : rx_softmax(x.c, dim, &c));
                CMP(what("%s along dim %d", lg ? "log_softmax" : "softmax", dim), g, c, tol_math(dt), NULL);
                rx_tensor_release(g), rx_tensor_release(c);
            }
            rx_tensor_release(c0);
            pair_free(x);
        }
    }
}

static void test_sort(void)
{
    const int64_t shapes[][2] = {{5, 17}, {300, 1000}, {3, 200000}, {1, 5000}};
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        for (int si = 0; si < 5; si++) {
            int64_t shape[2] = {1000, 7};
            int dim = 0;
            if (si < 4) {
                shape[0] = shapes[si][0], shape[1] = shapes[si][1], dim = 1;
                if (quick && si == 2) shape[1] = 20000;
            }
            rx_tensor *c0 = input(2, shape, rx_dtype_is_float(dt) ? RX_F64 : dt, IN_TIES), *cd = NULL;
            if (rx_dtype_is_float(dt) && shape[1] > 12) {
                rx_tensor_set(c0, (int64_t[]){0, 2}, NAN);
                rx_tensor_set(c0, (int64_t[]){0, 9}, NAN);
                rx_tensor_set(c0, (int64_t[]){0, 4}, -0.0);
                rx_tensor_set(c0, (int64_t[]){0, 5}, 0.0);
                rx_tensor_set(c0, (int64_t[]){0, 6}, -0.0);
                rx_tensor_set(c0, (int64_t[]){0, 7}, INFINITY);
                rx_tensor_set(c0, (int64_t[]){0, 8}, -INFINITY);
            }
            OKS(rx_to_dtype(c0, dt, &cd));
            pair x = pair_of(cd);
            for (int desc = 0; desc < 2; desc++) {
                rx_tensor *gv = NULL, *gi = NULL, *cv = NULL, *ci = NULL;
                poison_for(2, shape, RX_I64);
                OKS(rx_sort(x.g, dim, desc, &gv, &gi));
                OKS(rx_sort(x.c, dim, desc, &cv, &ci));
                CMP(what("sort values (%s) along dim %d of %s", desc ? "descending" : "ascending", dim, shape_str(2, shape)),
                    gv, cv, EXACT, NULL);
                CMP(what("sort indices (%s) along dim %d of %s", desc ? "descending" : "ascending", dim,
                         shape_str(2, shape)),
                    gi, ci, EXACT, NULL);
                rx_tensor_release(gv), rx_tensor_release(gi), rx_tensor_release(cv), rx_tensor_release(ci);
                const int64_t ks[] = {1, 7};
                for (int ki = 0; ki < 2 && si == 1; ki++) {
                    OKS(rx_topk(x.g, ks[ki], dim, !desc, &gv, &gi));
                    OKS(rx_topk(x.c, ks[ki], dim, !desc, &cv, &ci));
                    CMP(what("topk k=%lld %s values", (long long)ks[ki], desc ? "smallest" : "largest"), gv, cv, EXACT, NULL);
                    CMP(what("topk k=%lld %s indices", (long long)ks[ki], desc ? "smallest" : "largest"), gi, ci, EXACT, NULL);
                    rx_tensor_release(gv), rx_tensor_release(gi), rx_tensor_release(cv), rx_tensor_release(ci);
                }
            }
            /* indices only */
            rx_tensor *gi = NULL, *ci = NULL;
            OKS(rx_sort(x.g, dim, 0, NULL, &gi));
            OKS(rx_sort(x.c, dim, 0, NULL, &ci));
            CMP("sort (indices only)", gi, ci, EXACT, NULL);
            rx_tensor_release(gi), rx_tensor_release(ci);
            rx_tensor_release(c0);
            pair_free(x);
        }
    }
}

/* |a| @ |b| in f64 on the CPU, row-major: the scale of matmul's bound. */
static double *matmul_scale(rx_tensor *a, rx_tensor *b)
{
    rx_tensor *aa = NULL, *ba = NULL, *a64 = NULL, *b64 = NULL, *s = NULL;
    double *v = NULL;
    int64_t *unused;
    if (OKS(rx_unary(RX_ABS, a, &aa)) && OKS(rx_unary(RX_ABS, b, &ba)) && OKS(rx_to_dtype(aa, RX_F64, &a64)) &&
        OKS(rx_to_dtype(ba, RX_F64, &b64)) && OKS(rx_matmul(a64, b64, &s)))
        v = values_of(s, &unused);
    rx_tensor_release(aa), rx_tensor_release(ba), rx_tensor_release(a64), rx_tensor_release(b64), rx_tensor_release(s);
    return v;
}

static void check_matmul(pair a, pair b, const char *desc)
{
    rx_tensor *g = NULL, *c = NULL;
    if (!OKS(rx_matmul(a.c, b.c, &c))) return;
    poison_for(rx_tensor_ndim(c), rx_tensor_shape_ptr(c), rx_tensor_dtype(c));
    OKS(rx_matmul(a.g, b.g, &g));
    double *scale = matmul_scale(a.c, b.c);
    CMP(what("matmul %s", desc), g, c, tol_matmul(rx_tensor_dtype(c)), scale);
    free(scale);
    rx_tensor_release(g), rx_tensor_release(c);
}

static void test_matmul(void)
{
    for (size_t fi = 0; fi < 4; fi++) {
        rx_dtype dt = FLOATS[fi];
        struct {
            int na;
            int64_t sa[4];
            view_kind va;
            int nb;
            int64_t sb[4];
            view_kind vb;
            const char *desc;
        } cases[] = {
            {2, {37, 53}, V_CONTIG, 2, {53, 29}, V_CONTIG, "(37, 53) @ (53, 29)"},
            {2, {37, 53}, V_TRANSPOSED, 2, {53, 29}, V_TRANSPOSED, "a^T @ b^T (unit stride on the row dim)"},
            {2, {37, 53}, V_NARROWED, 2, {53, 29}, V_NARROWED, "narrowed operands (leading dims > width)"},
            {3, {4, 65, 33}, V_CONTIG, 3, {4, 33, 17}, V_CONTIG, "batched (4, 65, 33) @ (4, 33, 17)"},
            {3, {5, 16, 8}, V_CONTIG, 3, {1, 8, 12}, V_CONTIG, "broadcast batch (5, 16, 8) @ (1, 8, 12)"},
            {3, {6, 16, 8}, V_EXPANDED, 3, {6, 8, 12}, V_CONTIG, "expanded batch (6, 16, 8) @ (6, 8, 12)"},
            {4, {2, 3, 17, 9}, V_CONTIG, 2, {9, 5}, V_CONTIG, "(2, 3, 17, 9) @ (9, 5) (folded rows)"},
            {3, {17, 3, 9}, V_TRANSPOSED, 2, {9, 5}, V_CONTIG, "transposed (17, 3, 9) @ (9, 5) (b broadcast, stride 0)"},
            {1, {53}, V_CONTIG, 2, {53, 29}, V_CONTIG, "vector @ matrix"},
            {2, {37, 53}, V_CONTIG, 1, {53}, V_CONTIG, "matrix @ vector"},
            {1, {53}, V_CONTIG, 1, {53}, V_CONTIG, "vector @ vector"},
            {2, {5, 0}, V_CONTIG, 2, {0, 7}, V_CONTIG, "k = 0"},
            {2, {1024, 768}, V_CONTIG, 2, {768, 1100}, V_CONTIG, "(1024, 768) @ (768, 1100)"},
        };
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            if (quick && ci == 12) continue;
            pair a = make_pair(cases[ci].na, cases[ci].sa, dt, IN_NORMAL, cases[ci].va);
            pair b = make_pair(cases[ci].nb, cases[ci].sb, dt, IN_NORMAL, cases[ci].vb);
            check_matmul(a, b, cases[ci].desc);
            pair_free(a), pair_free(b);
        }
    }
}

static rx_tensor *index_tensor(int ndim, const int64_t *shape, rx_dtype it, int64_t hi)
{
    rx_tensor *x = NULL;
    OKS(rx_randint(0, hi, ndim, shape, it, rx_cpu(), gen, &x));
    return x;
}

static void test_index(void)
{
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        for (int ii = 0; ii < 2; ii++) {
            rx_dtype it = ii ? RX_I64 : RX_I32;
            /* index_select: dims 0, 1, last of 3-D; contiguous (slice path) and transposed */
            for (int ci = 0; ci < 4; ci++) {
                int nd = ci == 2 ? 3 : 2, dim = ci == 0 ? 0 : ci == 1 ? 1 : ci == 2 ? 2 : 0;
                int64_t s2[2] = {50, 37}, s3[3] = {6, 7, 8};
                const int64_t *shape = nd == 3 ? s3 : s2;
                pair a = make_pair(nd, shape, dt, IN_NORMAL, ci == 3 ? V_TRANSPOSED : V_CONTIG);
                pair ix = pair_of(index_tensor(1, (int64_t[]){23}, it, shape[dim]));
                rx_tensor *g = NULL, *c = NULL;
                OKS(rx_index_select(a.g, dim, ix.g, &g));
                OKS(rx_index_select(a.c, dim, ix.c, &c));
                CMP(what("index_select dim %d of %s %s, %s index", dim, shape_str(nd, shape), view_names[ci == 3],
                         rx_dtype_name(it)),
                    g, c, EXACT, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                pair_free(a), pair_free(ix);
            }
            /* a strided index (a column of a 2-D index) */
            {
                pair a = make_pair(2, (int64_t[]){50, 37}, dt, IN_NORMAL, V_CONTIG);
                pair ix2 = pair_of(index_tensor(2, (int64_t[]){19, 3}, it, 50));
                rx_tensor *icg = NULL, *icc = NULL, *g = NULL, *c = NULL;
                OKS(rx_select(ix2.g, 1, 2, &icg));
                OKS(rx_select(ix2.c, 1, 2, &icc));
                OKS(rx_index_select(a.g, 0, icg, &g));
                OKS(rx_index_select(a.c, 0, icc, &c));
                CMP(what("index_select with a strided %s index", rx_dtype_name(it)), g, c, EXACT, NULL);
                rx_tensor_release(icg), rx_tensor_release(icc), rx_tensor_release(g), rx_tensor_release(c);
                pair_free(a), pair_free(ix2);
            }
            /* gather along dims 0 and 1, plain and transposed source */
            for (int ci = 0; ci < 3; ci++) {
                int dim = ci == 1 ? 1 : 0;
                int64_t ishape[2] = {dim ? 20 : 15, dim ? 12 : 30};
                pair a = make_pair(2, (int64_t[]){20, 30}, dt, IN_NORMAL, ci == 2 ? V_TRANSPOSED : V_CONTIG);
                pair ix = pair_of(index_tensor(2, ishape, it, dim ? 30 : 20));
                rx_tensor *g = NULL, *c = NULL;
                OKS(rx_gather(a.g, dim, ix.g, &g));
                OKS(rx_gather(a.c, dim, ix.c, &c));
                CMP(what("gather dim %d, %s source, %s index", dim, ci == 2 ? "transposed" : "contiguous",
                         rx_dtype_name(it)),
                    g, c, EXACT, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                pair_free(a), pair_free(ix);
            }
            /* scatter_add with duplicate indices: the CPU's order, so the CPU's bits */
            if (dt != RX_BOOL)
                for (int dim = 0; dim < 2; dim++) {
                    int64_t ishape[2] = {dim ? 20 : 40, dim ? 60 : 30};
                    pair a = make_pair(2, (int64_t[]){20, 30}, dt, IN_NORMAL, V_CONTIG);
                    pair src = make_pair(2, ishape, dt, IN_NORMAL, V_CONTIG);
                    pair ix = pair_of(index_tensor(2, ishape, it, dim ? 30 : 20));
                    rx_tensor *g = NULL, *c = NULL;
                    OKS(rx_scatter_add(a.g, dim, ix.g, src.g, &g));
                    OKS(rx_scatter_add(a.c, dim, ix.c, src.c, &c));
                    CMP(what("scatter_add dim %d, %s index", dim, rx_dtype_name(it)), g, c, EXACT, NULL);
                    rx_tensor_release(g), rx_tensor_release(c);
                    pair_free(a), pair_free(src), pair_free(ix);
                }
        }
    }
    /* an embedding-sized lookup (the 16-byte slice path) and a large scatter_add, twice */
    for (int fi = 0; fi < 2; fi++) {
        rx_dtype dt = fi ? RX_BF16 : RX_F32;
        int64_t rows = quick ? 2000 : 50000, n = quick ? 512 : 8192;
        pair w = make_pair(2, (int64_t[]){rows, 576}, dt, IN_NORMAL, V_CONTIG);
        pair ix = pair_of(index_tensor(1, &n, RX_I64, rows));
        rx_tensor *g = NULL, *c = NULL;
        poison_for(2, (int64_t[]){n, 576}, dt);
        OKS(rx_index_select(w.g, 0, ix.g, &g));
        OKS(rx_index_select(w.c, 0, ix.c, &c));
        CMP(what("index_select of %lld rows of a (%lld, 576) table", (long long)n, (long long)rows), g, c, EXACT, NULL);
        rx_tensor_release(g), rx_tensor_release(c);
        pair_free(w), pair_free(ix);
    }
    {
        int64_t L = quick ? 2000 : 20000;
        pair a = make_pair(2, (int64_t[]){1000, 64}, RX_F32, IN_NORMAL, V_CONTIG);
        pair src = make_pair(2, (int64_t[]){L, 64}, RX_F32, IN_NORMAL, V_CONTIG);
        pair ix = pair_of(index_tensor(2, (int64_t[]){L, 64}, RX_I64, 1000));
        rx_tensor *g1 = NULL, *g2 = NULL, *c = NULL;
        OKS(rx_scatter_add(a.g, 0, ix.g, src.g, &g1));
        OKS(rx_scatter_add(a.g, 0, ix.g, src.g, &g2));
        OKS(rx_scatter_add(a.c, 0, ix.c, src.c, &c));
        CMP("large scatter_add (f32, bitwise the CPU's)", g1, c, EXACT, NULL);
        CMP("large scatter_add run twice (bitwise reproducible)", g2, g1, EXACT, NULL);
        rx_tensor_release(g1), rx_tensor_release(g2), rx_tensor_release(c);
        pair_free(a), pair_free(src), pair_free(ix);
    }
}

/* copy_at_ on both devices: base (B, G, S, D) pairs viewed as themselves, transposed or narrowed
 * (the whole base is compared, so a write outside the view shows); every dtype, every dim, offsets
 * at both ends, i32 and i64 offsets, strided and expanded sources. */
static rx_tensor *copy_at_view(rx_tensor *base, int kind)
{
    rx_tensor *v = NULL;
    if (kind == 1) OKS(rx_transpose(base, 0, 3, &v));
    else if (kind == 2) OKS(rx_narrow(base, 3, 1, rx_tensor_size(base, 3) - 3, &v));
    else v = rx_tensor_retain(base);
    return v;
}

static rx_tensor *offset_on(rx_dtype it, int64_t off, rx_device d)
{
    rx_tensor *c = NULL;
    OKS(rx_full(1, (int64_t[]){1}, (double)off, it, rx_cpu(), &c));
    if (d.type == RX_CPU) return c;
    rx_tensor *g = to_dev(c, d);
    rx_tensor_release(c);
    return g;
}

static void test_copy_at(void)
{
    const int64_t shape[4] = {3, 4, 5, 6}; /* the logical shape of every destination view */
    for (size_t di = 0; di < 8; di++) {
        rx_dtype dt = ALL[di];
        for (int kind = 0; kind < 3; kind++)
            for (int dim = 0; dim < 4; dim++)
                for (int end = 0; end < 2; end++) {
                    int64_t bshape[4] = {shape[0], shape[1], shape[2], shape[3]};
                    if (kind == 1) bshape[0] = shape[3], bshape[3] = shape[0];
                    if (kind == 2) bshape[3] += 3;
                    pair base = make_pair(4, bshape, dt, IN_NORMAL, V_CONTIG);
                    rx_tensor *vg = copy_at_view(base.g, kind), *vc = copy_at_view(base.c, kind);
                    int64_t sshape[4] = {shape[0], shape[1], shape[2], shape[3]};
                    sshape[dim] = 2;
                    view_kind sv = (view_kind)((dim + end + kind) % 4);
                    pair src = make_pair(4, sshape, dt, IN_NORMAL, sv);
                    rx_dtype it = end ? RX_I64 : RX_I32;
                    int64_t off = end ? shape[dim] - 2 : 0;
                    rx_tensor *og = offset_on(it, off, GPU), *oc = offset_on(it, off, rx_cpu());
                    OKS(rx_copy_at_(vg, dim, og, src.g));
                    OKS(rx_copy_at_(vc, dim, oc, src.c));
                    CMP(what("copy_at_ %s dim %d offset %lld (%s) into a %s view from a %s source", rx_dtype_name(dt),
                             dim, (long long)off, rx_dtype_name(it), kind == 0 ? "contiguous" : kind == 1 ? "transposed" : "narrowed",
                             view_names[sv]),
                        base.g, base.c, EXACT, NULL);
                    rel(4, vg, vc, og, oc);
                    pair_free(base), pair_free(src);
                }
    }
    /* an out-of-range offset on the device writes nothing and cannot be reported; on the CPU it
     * is an error */
    pair cache = make_pair(4, (int64_t[]){2, 3, 16, 8}, RX_BF16, IN_NORMAL, V_CONTIG);
    pair kv = make_pair(4, (int64_t[]){2, 3, 1, 8}, RX_BF16, IN_NORMAL, V_CONTIG);
    rx_tensor *before = NULL;
    OKS(rx_clone(cache.c, &before));
    for (int k = 0; k < 3; k++) {
        int64_t off = k == 0 ? -1 : k == 1 ? 16 : (int64_t)1 << 40;
        rx_tensor *og = offset_on(RX_I64, off, GPU), *oc = offset_on(RX_I64, off, rx_cpu());
        OKS(rx_copy_at_(cache.g, 2, og, kv.g));
        CHECK_ERR(rx_copy_at_(cache.c, 2, oc, kv.c), RX_ERR_ARG, "out of range [0, 15]");
        CMP(what("copy_at_ with offset %lld (out of range) leaves dst unchanged", (long long)off), cache.g, before, EXACT, NULL);
        rel(2, og, oc);
    }
    rx_tensor *og32 = offset_on(RX_I32, -5, GPU);
    OKS(rx_copy_at_(cache.g, 2, og32, kv.g));
    CMP("copy_at_ with an i32 offset -5 leaves dst unchanged", cache.g, before, EXACT, NULL);
    /* devices: the offset and the source live on dst's device */
    rx_tensor *oc = offset_on(RX_I64, 0, rx_cpu()), *og = offset_on(RX_I64, 0, GPU), *o = NULL;
    CHECK_ERR(rx_copy_at_(cache.g, 2, oc, kv.g), RX_ERR_DEVICE, "copy_at_: argument #1 is on cuda:0 but argument #3 is on cpu");
    CHECK_ERR(rx_copy_at_(cache.g, 2, og, kv.c), RX_ERR_DEVICE, "copy_at_: argument #1 is on cuda:0 but argument #4 is on cpu");
    CHECK_ERR(rx_copy_at_(cache.c, 2, og, kv.c), RX_ERR_DEVICE, "copy_at_: argument #1 is on cpu but argument #3 is on cuda:0");
    /* a captured CUDA graph replayed with the offset rewritten on the device between replays:
     * one KV-cache write per step, against the CPU doing the same steps */
    cudaStream_t stream = (cudaStream_t)rx_cuda_stream(0);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    CHECK(stream != NULL);
    CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    rx_status s = rx_copy_at_(cache.g, 2, og, kv.g);
    cudaError_t e = cudaStreamEndCapture(stream, &graph);
    CHECK(s == RX_OK);
    CHECK(e == cudaSuccess);
    if (s == RX_OK && e == cudaSuccess && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess) {
        for (int64_t step = 0; step < 16; step++) {
            rx_tensor *step_kv = input(4, (int64_t[]){2, 3, 1, 8}, RX_BF16, IN_NORMAL);
            rx_tensor *oc_step = offset_on(RX_I64, step, rx_cpu());
            OKS(rx_fill_(og, (double)step));   /* queued on the stream, before the replay */
            OKS(rx_copy_(kv.g, step_kv));      /* host -> device, waits for the host bytes */
            CHECK(cudaGraphLaunch(exec, stream) == cudaSuccess);
            OKS(rx_copy_(kv.c, step_kv));
            OKS(rx_copy_at_(cache.c, 2, oc_step, kv.c));
            rel(2, step_kv, oc_step);
        }
        /* a replay with an out-of-range offset changes nothing */
        OKS(rx_clone(cache.c, &o));
        OKS(rx_fill_(og, 16));
        CHECK(cudaGraphLaunch(exec, stream) == cudaSuccess);
        CHECK(cudaStreamSynchronize(stream) == cudaSuccess);
        CMP("16 graph replays of copy_at_ (offset rewritten on the device) vs the CPU", cache.g, cache.c, EXACT, NULL);
        CMP("a graph replay with an out-of-range offset leaves the cache unchanged", cache.g, o, EXACT, NULL);
    } else {
        check_fail(__FILE__, __LINE__, "copy_at_ could not be captured into a CUDA graph (%s; %s)",
                   cudaGetErrorString(e), rx_last_error());
    }
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError(); /* a failed capture must not be reported by the next test */
    rel(5, before, og32, oc, og, o);
    pair_free(cache), pair_free(kv);
}

static void test_random(void)
{
    int64_t n = quick ? 100003 : 5000011, one = 1;
    for (int rep = 0; rep < 2; rep++) {
        rx_generator *gc = rx_generator_new(20261128 + rep), *gg = rx_generator_new(20261128 + rep);
        for (size_t fi = 0; fi < 4; fi++) {
            rx_dtype dt = FLOATS[fi];
            for (int size = 0; size < 2; size++) {
                int64_t *shape = size ? &n : &one;
                rx_tensor *g = NULL, *c = NULL;
                poison_for(1, shape, dt);
                OKS(rx_rand(1, shape, dt, GPU, gg, &g));
                OKS(rx_rand(1, shape, dt, rx_cpu(), gc, &c));
                CMP(what("rand %s", rx_dtype_name(dt)), g, c, EXACT, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                OKS(rx_randn(1, shape, dt, GPU, gg, &g));
                OKS(rx_randn(1, shape, dt, rx_cpu(), gc, &c));
                CMP(what("randn %s", rx_dtype_name(dt)), g, c, tol_normal(dt), NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                OKS(rx_bernoulli_scalar(0.3, 1, shape, dt, GPU, gg, &g));
                OKS(rx_bernoulli_scalar(0.3, 1, shape, dt, rx_cpu(), gc, &c));
                CMP(what("bernoulli(0.3) %s", rx_dtype_name(dt)), g, c, EXACT, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                /* bernoulli with a probability per element (RX_RANDOM_BERNOULLI_P) */
                rx_tensor *p = NULL;
                OKS(rx_rand(1, shape, dt, rx_cpu(), gen, &p));
                pair pp = pair_of(p);
                OKS(rx_bernoulli(pp.g, gg, &g));
                OKS(rx_bernoulli(pp.c, gc, &c));
                CMP(what("bernoulli(p) %s", rx_dtype_name(dt)), g, c, EXACT, NULL);
                rx_tensor_release(g), rx_tensor_release(c);
                pair_free(pp);
            }
        }
        const rx_dtype it[] = {RX_I32, RX_I64, RX_F32, RX_F64};
        for (int ii = 0; ii < 4; ii++) {
            rx_tensor *g = NULL, *c = NULL;
            int64_t lo = it[ii] == RX_I64 ? -((int64_t)1 << 40) : -7, hi = it[ii] == RX_I64 ? (int64_t)1 << 50 : 1000;
            OKS(rx_randint(lo, hi, 1, &n, it[ii], GPU, gg, &g));
            OKS(rx_randint(lo, hi, 1, &n, it[ii], rx_cpu(), gc, &c));
            CMP(what("randint [%lld, %lld) %s", (long long)lo, (long long)hi, rx_dtype_name(it[ii])), g, c, EXACT, NULL);
            rx_tensor_release(g), rx_tensor_release(c);
        }
        /* multinomial draws its uniforms on the probabilities' device */
        rx_tensor *w = NULL;
        OKS(rx_rand(2, (int64_t[]){16, 300}, RX_F32, rx_cpu(), gen, &w));
        pair pw = pair_of(w);
        for (int repl = 0; repl < 2; repl++) {
            rx_tensor *g = NULL, *c = NULL;
            OKS(rx_multinomial(pw.g, 20, repl, gg, &g));
            OKS(rx_multinomial(pw.c, 20, repl, gc, &c));
            CMP(what("multinomial (replacement %d)", repl), g, c, EXACT, NULL);
            rx_tensor_release(g), rx_tensor_release(c);
        }
        pair_free(pw);
        uint64_t s1, o1, s2, o2;
        rx_generator_get_state(gc, &s1, &o1);
        rx_generator_get_state(gg, &s2, &o2);
        CHECK(s1 == s2 && o1 == o2);
        rx_generator_free(gc);
        rx_generator_free(gg);
    }
}

static void test_allocator(void)
{
    rx_mem_stats st;
    rx_cuda_mem_info i0, i1;
    rx_mem_empty_cache(RX_CUDA);
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.cached_bytes == 0);
    int64_t live0 = st.live_bytes, n = 3 << 20; /* exactly a size class */
    rx_tensor *t = NULL;
    CHECK_OK(rx_empty(1, &n, RX_U8, GPU, &t));
    if (!t) return;
    void *p1 = t->storage->data;
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.live_bytes == live0 + n);
    rx_tensor_release(t);
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.live_bytes == live0);
    CHECK(st.cached_bytes == n);
    rx_cuda_memory_info(0, &i0);
    /* a request of the same class reuses the block without cudaMalloc */
    int64_t n2 = n - 1000;
    CHECK_OK(rx_empty(1, &n2, RX_U8, GPU, &t));
    rx_cuda_memory_info(0, &i1);
    CHECK(t && t->storage->data == p1);
    CHECK(i1.cache_hits == i0.cache_hits + 1);
    CHECK(i1.device_mallocs == i0.device_mallocs);
    CHECK(i1.cached == i0.cached - n && i1.allocated == i0.allocated + n);
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.cached_bytes == 0);
    rx_tensor_release(t);
    /* peak */
    rx_mem_reset_peak(RX_CUDA);
    int64_t big = 10 << 20;
    CHECK_OK(rx_empty(1, &big, RX_U8, GPU, &t));
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.peak_bytes >= st.live_bytes && st.peak_bytes >= big);
    rx_tensor_release(t);
    rx_cuda_memory_info(0, &i1);
    CHECK(i1.peak_reserved >= i1.allocated + i1.cached);
    rx_mem_empty_cache(RX_CUDA);
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.cached_bytes == 0);
    /* out of memory: the cache is released and the allocation retried, then a message */
    int64_t four = 4 << 20;
    CHECK_OK(rx_empty(1, &four, RX_U8, GPU, &t));
    rx_tensor_release(t);
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.cached_bytes == four);
    int64_t huge = (int64_t)1 << 48;
    t = NULL;
    CHECK_ERR(rx_empty(1, &huge, RX_F32, GPU, &t), RX_ERR_NOMEM, "out of memory allocating 1.00 PiB");
    printf("  out-of-memory message: %s\n", rx_last_error());
    CHECK(strstr(rx_last_error(), "4.00 MiB cached by recx was released") != NULL);
    CHECK(strstr(rx_last_error(), "free of") != NULL);
    CHECK(t == NULL);
    rx_mem_get_stats(RX_CUDA, &st);
    CHECK(st.cached_bytes == 0);
    /* the device still works */
    CHECK_OK(rx_zeros(1, &four, RX_F32, GPU, &t));
    rx_tensor_release(t);
}

static void test_errors(void)
{
    int64_t shape[2] = {4, 5};
    rx_tensor *c = input(2, shape, RX_F32, IN_NORMAL), *g = to_dev(c, GPU), *o = NULL, *o2 = NULL;
    rx_tensor *bc = input(2, shape, RX_BOOL, IN_NORMAL);
    CHECK_ERR(rx_binary(RX_ADD, c, g, &o), RX_ERR_DEVICE, "add: argument #1 is on cpu but argument #2 is on cuda:0");
    CHECK(o == NULL);
    CHECK_ERR(rx_matmul(g, c, &o), RX_ERR_DEVICE, "cuda:0");
    CHECK(strstr(rx_last_error(), "cpu") != NULL);
    CHECK_ERR(rx_where(bc, g, g, &o), RX_ERR_DEVICE, "cuda:0");
    CHECK(strstr(rx_last_error(), "cpu") != NULL);
    rx_tensor *ix = index_tensor(1, (int64_t[]){3}, RX_I64, 4), *ixg = to_dev(ix, GPU);
    CHECK_ERR(rx_index_select(g, 0, ix, &o), RX_ERR_DEVICE, "cuda:0");
    CHECK(strstr(rx_last_error(), "cpu") != NULL);
    CHECK_ERR(rx_gather(c, 0, ixg, &o), RX_ERR_DEVICE, "cpu");
    CHECK_ERR(rx_zeros(1, (int64_t[]){2}, RX_F32, (rx_device){RX_CUDA, 99}, &o), RX_ERR_DEVICE, "cuda:99");
    /* an out-of-range index on the device is caught before any kernel runs */
    rx_tensor *bad = NULL, *badg = NULL;
    OKS(rx_full(1, (int64_t[]){2}, 7, RX_I64, rx_cpu(), &bad));
    badg = to_dev(bad, GPU);
    CHECK_ERR(rx_index_select(g, 0, badg, &o), RX_ERR_ARG, "index 7 out of range");
    /* and the device is still fine */
    CHECK_OK(rx_binary(RX_ADD, g, g, &o));
    CHECK_OK(rx_binary(RX_ADD, c, c, &o2));
    CMP("add after errors", o, o2, EXACT, NULL);
    rx_tensor_release(o), rx_tensor_release(o2);
    rx_tensor_release(c), rx_tensor_release(g), rx_tensor_release(bc), rx_tensor_release(ix), rx_tensor_release(ixg);
    rx_tensor_release(bad), rx_tensor_release(badg);
}

/* Same inputs, same bits, run after run: reductions, softmax, cumsum, matmul. */
static void test_determinism(void)
{
    pair x = make_pair(1, &LARGE, RX_F32, IN_NORMAL, V_CONTIG);
    pair m = make_pair(2, (int64_t[]){300, 300}, RX_F32, IN_NORMAL, V_CONTIG);
    for (int k = 0; k < 4; k++) {
        rx_tensor *r1 = NULL, *r2 = NULL;
        switch (k) {
        case 0:
            OKS(rx_reduce(RX_SUM, x.g, 0, NULL, 0, &r1));
            OKS(rx_reduce(RX_SUM, x.g, 0, NULL, 0, &r2));
            break;
        case 1:
            OKS(rx_cumsum(x.g, 0, &r1));
            OKS(rx_cumsum(x.g, 0, &r2));
            break;
        case 2:
            OKS(rx_softmax(x.g, 0, &r1));
            OKS(rx_softmax(x.g, 0, &r2));
            break;
        default:
            OKS(rx_matmul(m.g, m.g, &r1));
            OKS(rx_matmul(m.g, m.g, &r2));
            break;
        }
        static const char *const names[] = {"sum", "cumsum", "softmax", "matmul"};
        CMP(what("%s run twice", names[k]), r1, r2, EXACT, NULL);
        rx_tensor_release(r1), rx_tensor_release(r2);
    }
    pair_free(x), pair_free(m);
}

/* More than 2^32 elements (skipped with RECX_GPU_TEST_QUICK): the 64-bit index paths of the
 * strided iterator, fills, copies and reductions, against results known in closed form. */
static void test_huge(void)
{
    if (quick) {
        printf("  skipped (RECX_GPU_TEST_QUICK is set)\n");
        return;
    }
    const int64_t n = 65537, total = n * n; /* 4295098369 > 2^32 */
    rx_tensor *a = NULL, *col = NULL, *at = NULL, *c = NULL, *last = NULL, *row = NULL, *r = NULL;
    if (!OKS(rx_full(2, (int64_t[]){n, n}, 1, RX_U8, GPU, &a))) return;
    OKS(rx_narrow(a, 1, 7, 1, &col)); /* column 7: a strided fill */
    OKS(rx_fill_(col, 3));
    OKS(rx_transpose(a, 0, 1, &at));
    OKS(rx_contiguous(at, &c)); /* a strided copy of 2^32+ elements: column 7 becomes row 7 */
    rx_tensor_release(a), rx_tensor_release(col), rx_tensor_release(at);
    a = col = at = NULL;
    rx_tensor *tmp = NULL;
    OKS(rx_narrow(c, 0, n - 1, 1, &tmp));
    OKS(rx_narrow(tmp, 1, n - 1, 1, &last));
    OKS(rx_fill_(last, 0)); /* the very last element */
    rx_tensor_release(tmp);
    double v = 0;
    rx_tensor *h = NULL;
    if (OKS(rx_reduce(RX_SUM, c, 0, NULL, 0, &r)) && (h = to_dev(r, rx_cpu())) && OKS(rx_tensor_item(h, &v)))
        CHECK(v == (double)(total + 2 * n - 1));
    rx_tensor_release(r), rx_tensor_release(h);
    r = h = NULL;
    if (OKS(rx_reduce(RX_ARGMIN, c, 0, NULL, 0, &r)) && (h = to_dev(r, rx_cpu())) && OKS(rx_tensor_item(h, &v)))
        CHECK(v == (double)(total - 1));
    rx_tensor_release(r), rx_tensor_release(h);
    r = h = NULL;
    OKS(rx_narrow(c, 0, 7, 1, &row));
    if (OKS(rx_reduce(RX_SUM, row, 0, NULL, 0, &r)) && (h = to_dev(r, rx_cpu())) && OKS(rx_tensor_item(h, &v)))
        CHECK(v == (double)(3 * n));
    rx_tensor_release(r), rx_tensor_release(h), rx_tensor_release(row), rx_tensor_release(last), rx_tensor_release(c);
    rx_mem_empty_cache(RX_CUDA);
}

/* Two GPUs (skipped with one): copies between devices (strided sources, casts, strided
 * destinations) and ops on cuda:1, which has its own context, stream, cache and cuBLAS handle. */
static void test_multi_gpu(void)
{
    if (rx_cuda_device_count() < 2) {
        printf("  skipped (one CUDA device)\n");
        return;
    }
    const rx_device g1dev = {RX_CUDA, 1};
    const rx_dtype dts[] = {RX_F32, RX_BF16, RX_F64, RX_I64};
    for (int di = 0; di < 4; di++) {
        rx_dtype dt = dts[di];
        int64_t shape[2] = {300, 257};
        pair p = make_pair(2, shape, dt, IN_NORMAL, V_TRANSPOSED);
        rx_tensor *g1 = to_dev(p.g, g1dev); /* cuda:0 strided -> cuda:1 */
        CHECK(g1 && rx_tensor_device(g1).index == 1);
        CMP(what("cuda:0 (transposed) -> cuda:1"), g1, p.c, EXACT, NULL);
        /* cuda:1 strided -> cuda:0 strided f32 destination, and cuda:1 -> cpu */
        rx_tensor *g1t = NULL, *ct = NULL, *d0 = NULL, *dc = NULL, *d0t = NULL, *dct = NULL;
        OKS(rx_transpose(g1, 0, 1, &g1t));
        OKS(rx_transpose(p.c, 0, 1, &ct));
        OKS(rx_zeros(2, shape, RX_F32, GPU, &d0));
        OKS(rx_zeros(2, shape, RX_F32, rx_cpu(), &dc));
        OKS(rx_transpose(d0, 0, 1, &d0t));
        OKS(rx_transpose(dc, 0, 1, &dct));
        OKS(rx_copy_(d0t, g1t));
        OKS(rx_copy_(dct, ct));
        CMP(what("copy_ cuda:1 %s (transposed) -> cuda:0 f32 (transposed)", rx_dtype_name(dt)), d0, dc, EXACT, NULL);
        /* ops on cuda:1 */
        rx_tensor *g = NULL, *c = NULL;
        OKS(rx_binary(RX_ADD, g1, g1, &g));
        OKS(rx_binary(RX_ADD, p.c, p.c, &c));
        CMP("add on cuda:1", g, c, EXACT, NULL);
        CHECK(g && rx_tensor_device(g).index == 1);
        rx_tensor_release(g), rx_tensor_release(c);
        OKS(rx_reduce(RX_MAX, g1, 1, (int[]){1}, 0, &g));
        OKS(rx_reduce(RX_MAX, p.c, 1, (int[]){1}, 0, &c));
        CMP("max on cuda:1", g, c, EXACT, NULL);
        rx_tensor_release(g), rx_tensor_release(c);
        if (rx_dtype_is_float(dt)) {
            pair a = {p.c, g1}, b = {ct, g1t};
            check_matmul(a, b, "on cuda:1");
        }
        /* mixing the two GPUs is an error naming both */
        CHECK_ERR(rx_binary(RX_ADD, p.g, g1, &g), RX_ERR_DEVICE, "argument #1 is on cuda:0 but argument #2 is on cuda:1");
        rx_tensor_release(g1), rx_tensor_release(g1t), rx_tensor_release(ct), rx_tensor_release(d0);
        rx_tensor_release(dc), rx_tensor_release(d0t), rx_tensor_release(dct);
        pair_free(p);
    }
}

static void noop_release(void *owner) { (void)owner; }

/* Runs in a child process: a kernel writes through a bogus device address; the next call that
 * waits reports the illegal address and every later call on the device fails with it. */
static int sticky_child(void)
{
    int fails = 0;
    rx_tensor *ok = NULL, *o = NULL, *host = NULL;
    if (rx_zeros(1, (int64_t[]){4}, RX_F32, GPU, &ok) != RX_OK) {
        printf("  sticky child: setup failed: %s\n", rx_last_error());
        return 1;
    }
    rx_storage *s = rx_storage_wrap((void *)(uintptr_t)0x10000, 1 << 22, (void *)1, noop_release);
    s->device = GPU;
    rx_tensor *bad = NULL;
    rx_tensor_make(s, 0, 1, (int64_t[]){1 << 20}, (int64_t[]){1}, RX_F32, &bad);
    rx_storage_release(s);
    rx_status st = rx_fill_(bad, 1.0); /* asynchronous: may or may not report yet */
    printf("  sticky child: fill through a bogus pointer -> %s %s\n", rx_status_name(st), st ? rx_last_error() : "");
    st = rx_to_device(ok, rx_cpu(), &host);
    printf("  sticky child: next copy to host -> %s: %s\n", rx_status_name(st), rx_last_error());
    if (st != RX_ERR_DEVICE || !strstr(rx_last_error(), "illegal")) fails++;
    st = rx_zeros(1, (int64_t[]){4}, RX_F32, GPU, &o);
    printf("  sticky child: a later zeros -> %s: %s\n", rx_status_name(st), rx_last_error());
    if (st != RX_ERR_DEVICE || !strstr(rx_last_error(), "unusable after an earlier error") ||
        !strstr(rx_last_error(), "illegal"))
        fails++;
    st = rx_binary(RX_ADD, ok, ok, &o);
    printf("  sticky child: a later add -> %s: %s\n", rx_status_name(st), rx_last_error());
    if (st != RX_ERR_DEVICE || !strstr(rx_last_error(), "unusable after an earlier error")) fails++;
    return fails ? 1 : 0;
}

static void test_sticky_error(void)
{
    if (getenv("RECX_GPU_TEST_NO_STICKY")) {
        printf("  skipped (RECX_GPU_TEST_NO_STICKY is set)\n");
        return;
    }
    fflush(stdout);
    char *argv[] = {(char *)"/proc/self/exe", (char *)"--sticky-child", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    CHECK(rc == 0);
    if (rc != 0) return;
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--sticky-child") == 0) return sticky_child();
    if (!rx_cuda_available()) {
        printf("skipped: no CUDA device (rx_cuda_available() is 0)\n");
        return 77;
    }
    quick = getenv("RECX_GPU_TEST_QUICK") != NULL;
    LARGE = quick ? 70001 : 1048579;
    LONG_ROW = quick ? 40000 : 300000;
    gen = rx_generator_new(1234567);
    RUN_SELECTED(test_device_info);
    RUN_SELECTED(test_roundtrip);
    RUN_SELECTED(test_casts);
    RUN_SELECTED(test_fill);
    RUN_SELECTED(test_unary);
    RUN_SELECTED(test_binary);
    RUN_SELECTED(test_binary_scalar);
    RUN_SELECTED(test_clamp_where);
    RUN_SELECTED(test_reduce);
    RUN_SELECTED(test_cumsum);
    RUN_SELECTED(test_softmax);
    RUN_SELECTED(test_sort);
    RUN_SELECTED(test_matmul);
    RUN_SELECTED(test_index);
    RUN_SELECTED(test_copy_at);
    RUN_SELECTED(test_random);
    RUN_SELECTED(test_allocator);
    RUN_SELECTED(test_errors);
    RUN_SELECTED(test_determinism);
    RUN_SELECTED(test_huge);
    RUN_SELECTED(test_multi_gpu);
    RUN_SELECTED(test_sticky_error);
    rx_generator_free(gen);
    return check_finish();
}
