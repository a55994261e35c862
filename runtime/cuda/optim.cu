/* optim.cu — CUDA optimizer kernels: AdamW (also with f32 master weights), SGD, sums of squares
 * (the global norm), in-place scaling and gradient clipping (adamw_step, adamw_step_master,
 * sgd_step, sum_squares, scale and clip_grad_norm of backend/backend.h).
 *
 * Owns:
 * - the multi-tensor launch: the host writes one descriptor per tensor (pointers, element count,
 *   dtype) and the prefix of the tensors' chunk counts into a parameter block passed by value to
 *   ONE kernel (up to MAX_TENSORS tensors per launch, so a model's whole parameter list normally
 *   takes a single launch and no host-to-device copy); each block takes chunks (CHUNK elements,
 *   ADAMW_CHUNK for AdamW) of any tensor (a binary search over the prefix finds the tensor) in a
 *   grid-stride loop;
 * - AdamW's vector path: a tensor whose operands are all 16-byte aligned is updated with 16-byte
 *   streaming loads and stores (f32 x4, f16/bf16 x8; the f32 state as float4), 8 elements of
 *   every operand loaded per thread before any update, in chunks of ADAMW_CHUNK elements (a
 *   multiple of 8, so every chunk starts aligned) over a grid of one resident wave; other
 *   tensors (offset views) take the per-element path. Both paths apply the same rounded
 *   operations to each element, so the bits do not depend on the path;
 * - the update rules, written with explicitly rounded operations (__fmul_rn, __fadd_rn, ...: no
 *   fused multiply-add) in the CPU's order, so that f32, f16 and bf16 parameters get the CPU's
 *   bits: AdamW's moments as the lerp m + (1-b1)(g - m), f16/bf16 parameters read into f32,
 *   updated and rounded back to nearest even, f64 parameters in f64 with f32 state;
 * - sums of squares: a double per chunk (a fixed tree inside the block), copied to the host and
 *   added in chunk order per tensor, so the global norm depends on the data only;
 * - gradient clipping: the same chunk partials stay on the device, one block adds them in a
 *   fixed order into the norm and the clipping factor, and the scaling kernel reads that factor
 *   from device memory, so nothing waits for the GPU (the norm may differ from the global norm's
 *   in the last bits: another order of the same double partials).
 */
#include "nn_common.cuh"

#include <atomic>

#define MAX_TENSORS 320
#define CHUNK 16384        /* elements per chunk of SGD, sums of squares and scaling */
#define ADAMW_CHUNK 65536  /* elements per chunk of AdamW (a multiple of every vector width) */
#define OPT_THREADS 256
#define OPT_UNROLL 4

/* One tensor of a multi-tensor launch: p the parameter (or the tensor), g its gradient, s1 and s2
 * the state (AdamW's moments, SGD's momentum buffer), master the f32 master weights. */
struct opt_desc {
    void *p;
    const void *g;
    void *s1, *s2;
    float *master;
    int64_t numel;
};

struct opt_pack {
    int n;
    int64_t chunk;                        /* elements per chunk */
    int64_t chunk_start[MAX_TENSORS + 1]; /* prefix of the chunk counts */
    opt_desc t[MAX_TENSORS];
    int8_t dtype[MAX_TENSORS];  /* the parameter's (tensor's) dtype */
    int8_t sdtype[MAX_TENSORS]; /* SGD's buffer dtype */
    int8_t aligned[MAX_TENSORS]; /* every pointer of the descriptor 16-byte aligned */
};

struct adamw_k {
    float decay, omb1, b2, omb2, step, bc2s, eps;       /* f32 math */
    double ddecay, domb1, db2, domb2, dstep, dbc2s, deps; /* f64 parameters */
};

struct sgd_k {
    float lr, mom, omd, wd;
    double dlr, dmom, domd, dwd;
    bool nesterov, first, use_buf, has_wd;
};

/* ---- element access ----------------------------------------------------------------------- */

__device__ __forceinline__ float load_f(const void *p, int dt, int64_t i)
{
    switch (dt) {
    case RX_F16: return rx_dev_f16_to_f32(((const uint16_t *)p)[i]);
    case RX_BF16: return rx_dev_bf16_to_f32(((const uint16_t *)p)[i]);
    case RX_F64: return (float)((const double *)p)[i];
    default: return ((const float *)p)[i];
    }
}

__device__ __forceinline__ void store_f(void *p, int dt, int64_t i, float v)
{
    switch (dt) {
    case RX_F16: ((uint16_t *)p)[i] = rx_dev_f32_to_f16(v); break;
    case RX_BF16: ((uint16_t *)p)[i] = rx_dev_f32_to_bf16(v); break;
    case RX_F64: ((double *)p)[i] = v; break;
    default: ((float *)p)[i] = v; break;
    }
}

__device__ __forceinline__ double load_d(const void *p, int dt, int64_t i)
{
    return dt == RX_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

__device__ __forceinline__ void store_d(void *p, int dt, int64_t i, double v)
{
    if (dt == RX_F64)
        ((double *)p)[i] = v;
    else
        ((float *)p)[i] = (float)v;
}

/* a + w (b - a) from the nearer end (torch.lerp), rounded step by step like the CPU. */
__device__ __forceinline__ float lerp_f(float a, float b, float w)
{
    return w < 0.5f ? __fadd_rn(a, __fmul_rn(w, __fsub_rn(b, a)))
                    : __fsub_rn(b, __fmul_rn(__fsub_rn(b, a), __fsub_rn(1.0f, w)));
}
__device__ __forceinline__ double lerp_d(double a, double b, double w)
{
    return w < 0.5 ? __dadd_rn(a, __dmul_rn(w, __dsub_rn(b, a)))
                   : __dsub_rn(b, __dmul_rn(__dsub_rn(b, a), __dsub_rn(1.0, w)));
}

/* ---- the chunk loop ---------------------------------------------------------------------- */

/* The tensor holding chunk c: the last i with chunk_start[i] <= c. */
__device__ __forceinline__ int find_tensor(const opt_pack &pk, int64_t c)
{
    int lo = 0, hi = pk.n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (pk.chunk_start[mid] <= c)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Calls f(i, element) for every element of every chunk this block takes, OPT_UNROLL elements per
 * thread at a time (independent iterations, so their loads overlap). */
template <typename F> __device__ __forceinline__ void for_chunks(const opt_pack &pk, F &&f)
{
    int64_t total = pk.chunk_start[pk.n];
    for (int64_t c = blockIdx.x; c < total; c += gridDim.x) {
        int i = find_tensor(pk, c);
        int64_t begin = (c - pk.chunk_start[i]) * pk.chunk, end = begin + pk.chunk;
        if (end > pk.t[i].numel) end = pk.t[i].numel;
        for (int64_t e = begin + threadIdx.x; e < end; e += (int64_t)OPT_THREADS * OPT_UNROLL) {
#pragma unroll
            for (int u = 0; u < OPT_UNROLL; u++) {
                int64_t k = e + (int64_t)u * OPT_THREADS;
                if (k < end) f(i, k);
            }
        }
    }
}

/* ---- AdamW --------------------------------------------------------------------------------- */

/* One f32 AdamW element: m, v updated in place; returns the new parameter value. */
__device__ __forceinline__ float adamw_f(float p, float g, float *m, float *v, const adamw_k &k)
{
    float mi = lerp_f(*m, g, k.omb1);
    float vi = __fadd_rn(__fmul_rn(*v, k.b2), __fmul_rn(__fmul_rn(k.omb2, g), g));
    *m = mi;
    *v = vi;
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), k.bc2s), k.eps);
    return __fsub_rn(__fmul_rn(p, k.decay), __fmul_rn(k.step, __fdiv_rn(mi, denom)));
}

/* Elements [begin, end) of one tensor, one element at a time (any alignment, any float dtype):
 * every operand of OPT_UNROLL elements per thread is loaded before any is updated (the stores
 * could alias later loads as far as the compiler knows, so an element-at-a-time loop would wait
 * on each load). f64 parameters without masters are updated in f64. */
template <bool MASTER>
__device__ __forceinline__ void adamw_elements(const opt_desc &d, int dt, int64_t begin, int64_t end, const adamw_k &k)
{
    float *m = (float *)d.s1, *v = (float *)d.s2;
    if (dt == RX_F64 && !MASTER) {
        for (int64_t e = begin + threadIdx.x; e < end; e += OPT_THREADS) {
            double gi = ((const double *)d.g)[e];
            double mi = lerp_d((double)m[e], gi, k.domb1);
            double vi = __dadd_rn(__dmul_rn((double)v[e], k.db2), __dmul_rn(__dmul_rn(k.domb2, gi), gi));
            m[e] = (float)mi;
            v[e] = (float)vi;
            double *p = (double *)d.p + e;
            double denom = __dadd_rn(__ddiv_rn(__dsqrt_rn(vi), k.dbc2s), k.deps);
            *p = __dsub_rn(__dmul_rn(*p, k.ddecay), __dmul_rn(k.dstep, __ddiv_rn(mi, denom)));
        }
        return;
    }
    for (int64_t e = begin + threadIdx.x; e < end; e += (int64_t)OPT_THREADS * OPT_UNROLL) {
        float pv[OPT_UNROLL], gv[OPT_UNROLL], mv[OPT_UNROLL], vv[OPT_UNROLL];
#pragma unroll
        for (int u = 0; u < OPT_UNROLL; u++) {
            int64_t x = e + (int64_t)u * OPT_THREADS;
            if (x >= end) continue;
            pv[u] = MASTER ? d.master[x] : load_f(d.p, dt, x);
            gv[u] = load_f(d.g, dt, x);
            mv[u] = m[x];
            vv[u] = v[x];
        }
#pragma unroll
        for (int u = 0; u < OPT_UNROLL; u++) {
            int64_t x = e + (int64_t)u * OPT_THREADS;
            if (x >= end) continue;
            float np = adamw_f(pv[u], gv[u], &mv[u], &vv[u], k);
            m[x] = mv[u];
            v[x] = vv[u];
            if (MASTER) d.master[x] = np;
            store_f(d.p, dt, x, np);
        }
    }
}

/* 16-byte streaming access (each byte of the update is touched once: evict first). VEC elements
 * of T (16 bytes) at vector index x, as f32; and VEC f32 values at element e (VEC / 4 float4). */
template <typename T, int VEC> __device__ __forceinline__ void ld_vec(const T *p, int64_t x, float (&out)[VEC])
{
    uint4 raw = __ldcs(reinterpret_cast<const uint4 *>(p) + x);
    rx_vec<T, VEC> a;
    memcpy(&a, &raw, 16);
#pragma unroll
    for (int j = 0; j < VEC; j++) out[j] = rx_to_c(a.v[j]);
}

template <typename T, int VEC> __device__ __forceinline__ void st_vec(T *p, int64_t x, const float (&in)[VEC])
{
    rx_vec<T, VEC> a;
#pragma unroll
    for (int j = 0; j < VEC; j++) a.v[j] = rx_from_c<T>(in[j]);
    uint4 raw;
    memcpy(&raw, &a, 16);
    __stcs(reinterpret_cast<uint4 *>(p) + x, raw);
}

template <int VEC> __device__ __forceinline__ void ld_f32(const float *p, int64_t e, float (&out)[VEC])
{
#pragma unroll
    for (int q = 0; q < VEC / 4; q++) {
        float4 a = __ldcs(reinterpret_cast<const float4 *>(p + e) + q);
        out[4 * q] = a.x, out[4 * q + 1] = a.y, out[4 * q + 2] = a.z, out[4 * q + 3] = a.w;
    }
}

template <int VEC> __device__ __forceinline__ void st_f32(float *p, int64_t e, const float (&in)[VEC])
{
#pragma unroll
    for (int q = 0; q < VEC / 4; q++)
        __stcs(reinterpret_cast<float4 *>(p + e) + q,
               make_float4(in[4 * q], in[4 * q + 1], in[4 * q + 2], in[4 * q + 3]));
}

/* Elements [begin, end) of a tensor whose operands are all 16-byte aligned (begin a multiple of
 * 8): VEC = 16 / sizeof(T) elements per vector (f32 x4, f16/bf16 x8), U vectors of every operand
 * (8 elements: 112-128 bytes in flight per thread) loaded before any update, consecutive threads
 * on consecutive vectors (coalesced); the last partial vector of the tensor goes to the element
 * path. The arithmetic per element is adamw_f, as on the element path. More elements per thread
 * cost registers (the division's slow path is a call: ~200 registers for 16 elements) and
 * occupancy without more bytes in flight per SM (~108 registers, 2 blocks of 256 an SM). */
template <typename T, bool MASTER>
__device__ __forceinline__ void adamw_vectors(const opt_desc &d, int dt, int64_t begin, int64_t end, const adamw_k &k)
{
    constexpr int VEC = 16 / sizeof(T), U = VEC == 4 ? 2 : 1;
    T *p = (T *)d.p;
    const T *g = (const T *)d.g;
    float *m = (float *)d.s1, *v = (float *)d.s2, *w = d.master;
    int64_t vend = end / VEC;
    for (int64_t x0 = begin / VEC + threadIdx.x; x0 < vend; x0 += (int64_t)OPT_THREADS * U) {
        float pv[U][VEC], gv[U][VEC], mv[U][VEC], vv[U][VEC];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int64_t x = x0 + (int64_t)u * OPT_THREADS;
            if (x >= vend) continue;
            if (MASTER)
                ld_f32<VEC>(w, x * VEC, pv[u]);
            else
                ld_vec<T, VEC>(p, x, pv[u]);
            ld_vec<T, VEC>(g, x, gv[u]);
            ld_f32<VEC>(m, x * VEC, mv[u]);
            ld_f32<VEC>(v, x * VEC, vv[u]);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            int64_t x = x0 + (int64_t)u * OPT_THREADS;
            if (x >= vend) continue;
#pragma unroll
            for (int j = 0; j < VEC; j++) pv[u][j] = adamw_f(pv[u][j], gv[u][j], &mv[u][j], &vv[u][j], k);
            st_f32<VEC>(m, x * VEC, mv[u]);
            st_f32<VEC>(v, x * VEC, vv[u]);
            if (MASTER) st_f32<VEC>(w, x * VEC, pv[u]);
            st_vec<T, VEC>(p, x, pv[u]);
        }
    }
    if (vend * VEC < end) adamw_elements<MASTER>(d, dt, vend * VEC, end, k);
}

/* One chunk per block at a time; the branch on the tensor's dtype and alignment is uniform over
 * the block. */
template <bool MASTER>
__global__ void __launch_bounds__(OPT_THREADS) adamw_kernel(const __grid_constant__ opt_pack pk, adamw_k k)
{
    int64_t total = pk.chunk_start[pk.n];
    for (int64_t c = blockIdx.x; c < total; c += gridDim.x) {
        int i = find_tensor(pk, c);
        const opt_desc &d = pk.t[i];
        int dt = pk.dtype[i];
        int64_t begin = (c - pk.chunk_start[i]) * pk.chunk;
        int64_t end = begin + pk.chunk < d.numel ? begin + pk.chunk : d.numel;
        if (pk.aligned[i] && dt == RX_F32)
            adamw_vectors<float, MASTER>(d, dt, begin, end, k);
        else if (pk.aligned[i] && dt == RX_BF16)
            adamw_vectors<rx_bf16_t, MASTER>(d, dt, begin, end, k);
        else if (pk.aligned[i] && dt == RX_F16)
            adamw_vectors<rx_f16_t, MASTER>(d, dt, begin, end, k);
        else
            adamw_elements<MASTER>(d, dt, begin, end, k);
    }
}

/* Fills the parameter blocks of n tensors (one per MAX_TENSORS, chunks of `chunk` elements) and
 * calls launch(pack) for each. */
template <typename Fill, typename Launch>
static rx_status multi_tensor(int n, rx_tensor *const *list, int64_t chunk, Fill &&fill, Launch &&launch)
{
    opt_pack *pk = (opt_pack *)malloc(sizeof(opt_pack));
    if (!pk) return rx_fail(RX_ERR_NOMEM, "cuda optimizer: out of host memory");
    rx_status s = RX_OK;
    pk->chunk = chunk;
    for (int base = 0; base < n && s == RX_OK; base += MAX_TENSORS) {
        int count = n - base < MAX_TENSORS ? n - base : MAX_TENSORS;
        pk->n = 0;
        pk->chunk_start[0] = 0;
        for (int j = 0; j < count; j++) {
            int64_t numel = rx_tensor_numel(list[base + j]);
            if (numel == 0) continue;
            int slot = pk->n++;
            opt_desc *d = &pk->t[slot];
            *d = opt_desc{};
            d->numel = numel;
            pk->dtype[slot] = (int8_t)list[base + j]->dtype;
            pk->sdtype[slot] = (int8_t)RX_F32;
            fill(base + j, d, &pk->sdtype[slot]);
            pk->aligned[slot] = (int8_t)(rx_aligned(d->p, 16) && rx_aligned(d->g, 16) && rx_aligned(d->s1, 16) &&
                                         rx_aligned(d->s2, 16) && rx_aligned(d->master, 16));
            pk->chunk_start[slot + 1] = pk->chunk_start[slot] + (numel + chunk - 1) / chunk;
        }
        if (pk->n > 0) s = launch(*pk, base);
    }
    free(pk);
    return s;
}

static unsigned opt_blocks(const opt_pack &pk, const rx_cuda_ctx *ctx)
{
    int64_t total = pk.chunk_start[pk.n], cap = (int64_t)ctx->sm_count * 8;
    return (unsigned)(total < cap ? total : cap);
}

static adamw_k adamw_consts(const rx_adamw_opts *o)
{
    double t = (double)o->step;
    double decay = 1 - o->lr * o->weight_decay, step = o->lr / (1 - pow(o->beta1, t)), bc2s = sqrt(1 - pow(o->beta2, t));
    adamw_k k;
    k.ddecay = decay, k.domb1 = 1 - o->beta1, k.db2 = o->beta2, k.domb2 = 1 - o->beta2;
    k.dstep = step, k.dbc2s = bc2s, k.deps = o->eps;
    k.decay = (float)decay, k.omb1 = (float)k.domb1, k.b2 = (float)o->beta2, k.omb2 = (float)k.domb2;
    k.step = (float)step, k.bc2s = (float)bc2s, k.eps = (float)o->eps;
    return k;
}

/* Launches adamw_kernel<MASTER> over one parameter block with one resident wave of blocks (the
 * chunks are spread by the grid-stride loop), at most one block per chunk. */
template <bool MASTER> static rx_status adamw_launch(const opt_pack &pk, const adamw_k &k, const rx_cuda_ctx *ctx)
{
    static std::atomic<int> per_sm{0}; /* resident blocks per SM: the same for every launch */
    int b = per_sm.load(std::memory_order_relaxed);
    if (b == 0) {
        RX_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, adamw_kernel<MASTER>, OPT_THREADS, 0));
        b = b > 0 ? b : 1;
        per_sm.store(b, std::memory_order_relaxed);
    }
    int64_t total = pk.chunk_start[pk.n], cap = (int64_t)ctx->sm_count * b;
    adamw_kernel<MASTER><<<(unsigned)(total < cap ? total : cap), OPT_THREADS, 0, ctx->stream>>>(pk, k);
    return RX_CUDA_LAUNCH_STATUS("adamw");
}

static rx_status adamw_common(int n, rx_tensor *const *params, rx_tensor *const *master, rx_tensor *const *grads,
                              rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts)
{
    if (n == 0) return RX_OK;
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(params[0]), &ctx));
    adamw_k k = adamw_consts(opts);
    return multi_tensor(
        n, params, ADAMW_CHUNK,
        [&](int i, opt_desc *d, int8_t *) {
            d->p = rx_cuda_ptr(params[i]);
            d->g = rx_cuda_ptr(grads[i]);
            d->s1 = rx_cuda_ptr(exp_avg[i]);
            d->s2 = rx_cuda_ptr(exp_avg_sq[i]);
            d->master = master ? (float *)rx_cuda_ptr(master[i]) : nullptr;
        },
        [&](const opt_pack &pk, int) -> rx_status {
            return master ? adamw_launch<true>(pk, k, ctx) : adamw_launch<false>(pk, k, ctx);
        });
}

rx_status rx_cuda_adamw_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *exp_avg,
                             rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts)
{
    return adamw_common(n, params, nullptr, grads, exp_avg, exp_avg_sq, opts);
}

rx_status rx_cuda_adamw_step_master(int n, rx_tensor *const *params, rx_tensor *const *master, rx_tensor *const *grads,
                                    rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts)
{
    return adamw_common(n, params, master, grads, exp_avg, exp_avg_sq, opts);
}

/* ---- SGD ----------------------------------------------------------------------------------- */

__global__ void __launch_bounds__(OPT_THREADS) sgd_kernel(const __grid_constant__ opt_pack pk, sgd_k k)
{
    for_chunks(pk, [&](int i, int64_t e) {
        const opt_desc &d = pk.t[i];
        int dt = pk.dtype[i], bdt = pk.sdtype[i];
        if (dt == RX_F64) {
            double *p = (double *)d.p + e;
            double dd = ((const double *)d.g)[e];
            if (k.has_wd) dd = __dadd_rn(dd, __dmul_rn(k.dwd, *p));
            if (k.use_buf) {
                double b = k.first ? dd : __dadd_rn(__dmul_rn(load_d(d.s1, bdt, e), k.dmom), __dmul_rn(k.domd, dd));
                store_d(d.s1, bdt, e, b);
                b = load_d(d.s1, bdt, e);
                dd = k.nesterov ? __dadd_rn(dd, __dmul_rn(k.dmom, b)) : b;
            }
            *p = __dsub_rn(*p, __dmul_rn(k.dlr, dd));
        } else {
            float pi = load_f(d.p, dt, e), dd = load_f(d.g, dt, e);
            if (k.has_wd) dd = __fadd_rn(dd, __fmul_rn(k.wd, pi));
            if (k.use_buf) {
                float b = k.first ? dd : __fadd_rn(__fmul_rn(load_f(d.s1, bdt, e), k.mom), __fmul_rn(k.omd, dd));
                store_f(d.s1, bdt, e, b);
                b = load_f(d.s1, bdt, e);
                dd = k.nesterov ? __fadd_rn(dd, __fmul_rn(k.mom, b)) : b;
            }
            store_f(d.p, dt, e, __fsub_rn(pi, __fmul_rn(k.lr, dd)));
        }
    });
}

rx_status rx_cuda_sgd_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *bufs, double lr,
                           double momentum, double dampening, double weight_decay, int nesterov, int first_step)
{
    if (n == 0) return RX_OK;
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(params[0]), &ctx));
    sgd_k k;
    k.lr = (float)lr, k.mom = (float)momentum, k.omd = (float)(1 - dampening), k.wd = (float)weight_decay;
    k.dlr = lr, k.dmom = momentum, k.domd = 1 - dampening, k.dwd = weight_decay;
    k.nesterov = nesterov != 0, k.first = first_step != 0, k.use_buf = bufs != nullptr, k.has_wd = weight_decay != 0;
    return multi_tensor(
        n, params, CHUNK,
        [&](int i, opt_desc *d, int8_t *sdt) {
            d->p = rx_cuda_ptr(params[i]);
            d->g = rx_cuda_ptr(grads[i]);
            if (bufs) {
                d->s1 = rx_cuda_ptr(bufs[i]);
                *sdt = (int8_t)bufs[i]->dtype;
            }
        },
        [&](const opt_pack &pk, int) -> rx_status {
            sgd_kernel<<<opt_blocks(pk, ctx), OPT_THREADS, 0, ctx->stream>>>(pk, k);
            return RX_CUDA_LAUNCH_STATUS("sgd");
        });
}

/* ---- sums of squares and scaling ----------------------------------------------------------- */

/* partial[c] = the sum of squares of chunk c (one chunk per block: a fixed tree). */
__global__ void __launch_bounds__(OPT_THREADS) sum_squares_kernel(const __grid_constant__ opt_pack pk, double *partial)
{
    __shared__ double shared[32];
    int64_t c = blockIdx.x;
    int i = find_tensor(pk, c);
    int64_t begin = (c - pk.chunk_start[i]) * pk.chunk, end = begin + pk.chunk;
    if (end > pk.t[i].numel) end = pk.t[i].numel;
    int dt = pk.dtype[i];
    double acc = 0.0;
    for (int64_t e = begin + threadIdx.x; e < end; e += OPT_THREADS) {
        double x = dt == RX_F64 ? ((const double *)pk.t[i].p)[e] : (double)load_f(pk.t[i].p, dt, e);
        acc += x * x;
    }
    acc = rx_nn_group_sum<OPT_THREADS>(acc, shared);
    if (threadIdx.x == 0) partial[c] = acc;
}

rx_status rx_cuda_sum_squares(int n, rx_tensor *const *tensors, double *out)
{
    for (int i = 0; i < n; i++) out[i] = 0;
    if (n == 0) return RX_OK;
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(tensors[0]);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t chunks = 0;
    for (int i = 0; i < n; i++) chunks += (rx_tensor_numel(tensors[i]) + CHUNK - 1) / CHUNK;
    rx_nn_scratch partial;
    RX_TRY(partial.alloc(chunks * (int64_t)sizeof(double), dev));
    double *host = (double *)malloc(sizeof(double) * (size_t)(chunks > 0 ? chunks : 1));
    int *owner = (int *)malloc(sizeof(int) * (size_t)(chunks > 0 ? chunks : 1));
    if (!host || !owner) {
        free(host);
        free(owner);
        return rx_fail(RX_ERR_NOMEM, "cuda global_norm: out of host memory for %lld partial sums", (long long)chunks);
    }
    int64_t next = 0; /* chunks of the launches so far, in tensor order */
    rx_status s = multi_tensor(
        n, tensors, CHUNK, [&](int i, opt_desc *d, int8_t *) { d->p = rx_cuda_ptr(tensors[i]); },
        [&](const opt_pack &pk, int base) -> rx_status {
            int64_t total = pk.chunk_start[pk.n];
            sum_squares_kernel<<<(unsigned)total, OPT_THREADS, 0, ctx->stream>>>(pk, partial.as<double>() + next);
            for (int i = base, slot = 0; i < n && i < base + MAX_TENSORS; i++) {
                int64_t cnt = (rx_tensor_numel(tensors[i]) + CHUNK - 1) / CHUNK;
                for (int64_t j = 0; j < cnt; j++) owner[next + pk.chunk_start[slot] + j] = i;
                slot += cnt > 0;
            }
            next += total;
            return RX_CUDA_LAUNCH_STATUS("global_norm");
        });
    if (s == RX_OK && chunks > 0)
        s = RX_CUDA_STATUS(cudaMemcpyAsync(host, partial.ptr, (size_t)chunks * sizeof(double), cudaMemcpyDeviceToHost,
                                           ctx->stream));
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaStreamSynchronize(ctx->stream));
    if (s == RX_OK)
        for (int64_t c = 0; c < chunks; c++) out[owner[c]] += host[c];
    free(host);
    free(owner);
    return s;
}

/* t *= s for every element of the pack: f32 math with sf for f32/f16/bf16, f64 with sd. */
__device__ __forceinline__ void scale_elements(const opt_pack &pk, float sf, double sd)
{
    for_chunks(pk, [&](int i, int64_t e) {
        int dt = pk.dtype[i];
        if (dt == RX_F64)
            ((double *)pk.t[i].p)[e] *= sd;
        else
            store_f(pk.t[i].p, dt, e, __fmul_rn(load_f(pk.t[i].p, dt, e), sf));
    });
}

__global__ void __launch_bounds__(OPT_THREADS) scale_kernel(const __grid_constant__ opt_pack pk, float sf, double sd)
{
    scale_elements(pk, sf, sd);
}

rx_status rx_cuda_scale(int n, rx_tensor *const *tensors, double s)
{
    if (n == 0) return RX_OK;
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(tensors[0]), &ctx));
    return multi_tensor(
        n, tensors, CHUNK, [&](int i, opt_desc *d, int8_t *) { d->p = rx_cuda_ptr(tensors[i]); },
        [&](const opt_pack &pk, int) -> rx_status {
            scale_kernel<<<opt_blocks(pk, ctx), OPT_THREADS, 0, ctx->stream>>>(pk, (float)s, s);
            return RX_CUDA_LAUNCH_STATUS("scale_");
        });
}

/* ---- gradient clipping without a host read-back --------------------------------------------- */

/* What clip_finish_kernel decided, read by clip_scale_kernel from device memory. */
struct clip_state {
    double coef; /* max_norm / (norm + 1e-6) */
    int apply;   /* the norm is finite and coef < 1 */
};

/* One block: the sum of the chunk partials in a fixed order (thread t adds chunks t, t + 256, ...
 * in increasing order, then the block's fixed tree), its square root into norm (f32), and the
 * clipping decision. */
__global__ void __launch_bounds__(OPT_THREADS) clip_finish_kernel(const double *partial, int64_t chunks,
                                                                  double max_norm, float *norm, clip_state *st)
{
    __shared__ double shared[32];
    double acc = 0.0;
    for (int64_t c = threadIdx.x; c < chunks; c += OPT_THREADS) acc += partial[c];
    acc = rx_nn_group_sum<OPT_THREADS>(acc, shared);
    if (threadIdx.x == 0) {
        double total = __dsqrt_rn(acc);
        double coef = __ddiv_rn(max_norm, __dadd_rn(total, 1e-6));
        *norm = (float)total;
        st->coef = coef;
        st->apply = isfinite(total) && coef < 1.0;
    }
}

__global__ void __launch_bounds__(OPT_THREADS) clip_scale_kernel(const __grid_constant__ opt_pack pk,
                                                                 const clip_state *st)
{
    if (!st->apply) return;
    double sd = st->coef;
    scale_elements(pk, (float)sd, sd);
}

/* Three launches on the stream and no copy to the host: the chunk partials (sum_squares_kernel),
 * the norm and the factor (clip_finish_kernel), the scaling (clip_scale_kernel, a no-op unless
 * the factor applies). The scratch goes back to the caching allocator at once: later work on the
 * stream is ordered after these kernels. */
rx_status rx_cuda_clip_grad_norm(int n, rx_tensor *const *tensors, double max_norm, rx_tensor *norm)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(tensors[0]);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    int64_t chunks = 0;
    for (int i = 0; i < n; i++) chunks += (rx_tensor_numel(tensors[i]) + CHUNK - 1) / CHUNK;
    rx_nn_scratch scratch; /* the partials, then the clip_state (16 bytes, 8-aligned) */
    RX_TRY(scratch.alloc((chunks + 2) * (int64_t)sizeof(double), dev));
    double *partial = scratch.as<double>();
    clip_state *st = (clip_state *)(partial + chunks);
    int64_t next = 0; /* chunks of the launches so far, in tensor order */
    auto fill = [&](int i, opt_desc *d, int8_t *) { d->p = rx_cuda_ptr(tensors[i]); };
    rx_status s = multi_tensor(n, tensors, CHUNK, fill, [&](const opt_pack &pk, int) -> rx_status {
        int64_t total = pk.chunk_start[pk.n];
        sum_squares_kernel<<<(unsigned)total, OPT_THREADS, 0, ctx->stream>>>(pk, partial + next);
        next += total;
        return RX_CUDA_LAUNCH_STATUS("clip_grad_norm_ (sums of squares)");
    });
    if (s == RX_OK) {
        clip_finish_kernel<<<1, OPT_THREADS, 0, ctx->stream>>>(partial, chunks, max_norm, (float *)rx_cuda_ptr(norm), st);
        s = RX_CUDA_LAUNCH_STATUS("clip_grad_norm_ (norm)");
    }
    if (s == RX_OK)
        s = multi_tensor(n, tensors, CHUNK, fill, [&](const opt_pack &pk, int) -> rx_status {
            clip_scale_kernel<<<opt_blocks(pk, ctx), OPT_THREADS, 0, ctx->stream>>>(pk, st);
            return RX_CUDA_LAUNCH_STATUS("clip_grad_norm_ (scale)");
        });
    return s;
}
