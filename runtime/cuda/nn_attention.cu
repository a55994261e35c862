/* nn_attention.cu — CUDA scaled dot-product attention with grouped-query heads, forward and
 * backward, flash style (attention_stat_shape, attention and attention_bwd of
 * backend/backend.h).
 *
 * Owns: CUDA's attention statistic, each row's log-sum-exp (B, H, T) (+inf for a row without a
 * visible key), and the kernels. The (T, S) scores never reach global memory: tiles of queries
 * meet tiles of keys and values in shared memory, with an online softmax (running max and sum,
 * the partial output rescaled when the max grows).
 *
 * Tensor-core path: f16/bf16 operands with head dim 64 or 128, 16-byte aligned rows (row
 * strides multiple of 8 elements). Matrix products use inline PTX mma.sync.aligned.m16n8k16
 * (f32 accumulators) fed by ldmatrix from shared memory that is swizzled (16-byte chunk c of row r
 * stored at c ^ (r mod 8)) so that the eight rows of an 8x8 fragment hit distinct banks; tiles are
 * loaded with cp.async, the next key/value (or query) tile in flight while the current one is
 * used. 4 warps per block, each owning 16 rows of the tile.
 *   forward   64 queries per block against 64-key tiles: S = Q K^T, masks, online softmax in the
 *             log2 domain (exp2f), dropout, O += P V with P rounded to the operand dtype; with
 *             D 64 held to 128 registers so that 4 blocks (16 warps) fit an SM instead of 3 at
 *             156 registers (a few values spill to L1): more warps to cover each block's
 *             first loads, and 2.2 waves instead of 2.9 for 1152 blocks on 132 SMs;
 *   backward  delta = rowsum(dO * O) first (one warp per row), then two kernels, so that no sum
 *             depends on scheduling (no float atomics): dK/dV per block of 64 keys and query
 *             head, looping over its query tiles (S^T = K Q^T, P^T = exp(S^T - lse),
 *             dP^T = V dO^T, dV += (P m)^T dO, dS^T = P (dP^T m - delta), dK += dS^T Q; with
 *             grouped heads each query head writes f32 partials, added over the group in
 *             increasing h by a small kernel), and dQ per block of 64 queries looping over key
 *             tiles (S, P, dP = dO V^T, dQ += dS K), recomputing the probabilities from the
 *             saved log-sum-exp. Tiles whose pairs are all visible, with no mask and no
 *             dropout, take a loop without per-element checks; dK/dV walks its query tile in
 *             32-row halves (same products, same order) so that with D 64 three blocks fit an
 *             SM (168 registers).
 * Generic path (any head dim, f32, f64, and f16/bf16 operands the tensor-core path does not take):
 * one warp per query row (forward, dQ) or per key row (dK/dV), lanes over the head dim, each dot
 * product a fixed butterfly over the warp, accumulators in shared memory; arithmetic in f32 (f64
 * for f64), exp at full precision. Same statistic, same masks, same dropout.
 * Decode path (forward only: T = 1, no dropout, f32/f16/bf16, head dim <= 128), where the
 * tensor-core tiles would leave 63 of 64 rows idle: a block of 8 warps per (batch, kv head,
 * up to 4 of its query heads), which share each key and value read. Groups of lanes (VEC dims a
 * lane, 16-byte loads when rows are aligned) each walk every n-th key with an online softmax in
 * f32 (4 keys loaded per round, one rescale per round), the groups merged by a butterfly and the
 * warps in fixed order through shared memory; probabilities stay f32 (no rounding before P V).
 * Rows of more than 512 keys are split into ranges of >= 256 keys over enough blocks for one per
 * SM (with 16-bit operands a thread takes ~240 registers: one block fits an SM), each block
 * writing its unnormalised output, max and sum, merged in range order by a second kernel (flash
 * decoding, no atomics). Same statistic and conventions, so attention_bwd applies.
 *
 * Dropout uses the CPU's counters: probability (b, h, t, s) is dropped when Philox counter
 * offset + ((b H + h) T + t) S + s under `seed` gives (r0 >> 8) * 2^-24 < p, i.e. (r0 >> 8) <
 * ceil(p 2^24), so both devices drop the same elements.
 */
#include "nn_common.cuh"

#include "../core/philox.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <type_traits>

#define LOG2E 1.4426950408889634
#define LN2 0.6931471805599453
#define ATTN_THREADS 128
#define ATTN_WARPS 4

/* Everything a kernel needs about one call. Strides are in elements: q (b, h, t), k and v
 * (b, g, s), the mask (b, h, t, s); D strides are 1. */
struct attn_args {
    const void *q, *k, *v;
    int64_t qs[3], ks[3], vs[3];
    int64_t B, H, G, T, S, D;
    const uint8_t *kp; /* (B, S) contiguous bool, or NULL */
    const void *mask;  /* (B, H, T, S) by strides, q's dtype, or NULL */
    int64_t ms[4];
    int causal;
    double scale;
    uint32_t drop_thr; /* an element is dropped when (r0 >> 8) < drop_thr; 0: no dropout */
    double keep;       /* 1 / (1 - p) */
    uint64_t seed, offset;
};

__device__ __forceinline__ bool attn_visible(const attn_args &a, int64_t b, int64_t t, int64_t s)
{
    if (t >= a.T || s >= a.S) return false;
    if (a.causal && s > t + a.S - a.T) return false;
    return !a.kp || a.kp[b * a.S + s];
}

template <typename T> __device__ __forceinline__ float attn_mask_f(const attn_args &a, int64_t b, int64_t h, int64_t t, int64_t s)
{
    return (float)rx_to_c(((const T *)a.mask)[b * a.ms[0] + h * a.ms[1] + t * a.ms[2] + s * a.ms[3]]);
}

__device__ __forceinline__ bool attn_dropped(const attn_args &a, int64_t b, int64_t h, int64_t t, int64_t s)
{
    uint64_t i = (uint64_t)(((b * a.H + h) * a.T + t) * a.S + s);
    return (rx_philox4x32_10(a.offset + i, a.seed).r[0] >> 8) < a.drop_thr;
}

/* ==== tensor-core path ======================================================================== */

template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<rx_bf16_t>(float lo, float hi)
{
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
template <> __device__ __forceinline__ uint32_t pack2<rx_f16_t>(float lo, float hi)
{
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}

/* c += a b for one m16n8k16 tile: a 16x16 (row), b 16x8 (col), f32 accumulators. */
template <typename T> __device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <> __device__ __forceinline__ void mma16816<rx_bf16_t>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma16816<rx_f16_t>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void cp_async16(uint32_t saddr, const void *g, bool valid)
{
    int n = valid ? 16 : 0; /* 0 bytes read: the 16 bytes are zero-filled */
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(saddr), "l"(g), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* Byte offset of 16-byte chunk c of row r in a tile of rows of D 2-byte elements (swizzled). */
template <int D> __device__ __forceinline__ uint32_t sw(int r, int c) { return (uint32_t)(r * (D * 2) + ((c ^ (r & 7)) << 4)); }

/* Queues the copy of `rows` rows of D elements (row stride rs) into a swizzled tile; rows at or
 * after `valid` are zero-filled. */
template <int D, int ROWS, typename T> __device__ __forceinline__ void load_tile(uint32_t s, const T *g, int64_t rs, int64_t valid)
{
    constexpr int CH = D / 8;
    static_assert(ROWS * CH % ATTN_THREADS == 0, "a tile is a whole number of 16-byte chunks per thread");
#pragma unroll
    for (int k = 0; k < ROWS * CH / ATTN_THREADS; k++) {
        int i = k * ATTN_THREADS + threadIdx.x, r = i / CH, c = i % CH;
        bool ok = r < valid;
        cp_async16(s + sw<D>(r, c), g + (ok ? r : 0) * rs + c * 8, ok);
    }
}

/* acc[j] (16 x 8 each) += A[a0 .. a0 + 16, 0 .. D) B[b0 + 8 j .. + 8, 0 .. D)^T for j < NT: both
 * operands are row tiles in shared memory (the product of a tile with the transpose of another). */
template <typename T, int D, int NT>
__device__ __forceinline__ void mma_rows(float (&acc)[NT][4], uint32_t sa, int a0, uint32_t sb, int b0, int lane)
{
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t a[4];
        ldsm_x4(a, sa + sw<D>(a0 + (lane & 15), 2 * kk + (lane >> 4)));
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            uint32_t b[4];
            ldsm_x4(b, sb + sw<D>(b0 + j * 8 + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1)));
            mma16816<T>(acc[j], a, b[0], b[1]);
            mma16816<T>(acc[j + 1], a, b[2], b[3]);
        }
    }
}

/* acc (16 x D) += P (16 x KN) B[b0 .. b0 + KN, 0 .. D): P held as f32 accumulator fragments
 * (rounded to T here), B a row tile in shared memory read transposed. */
template <typename T, int D, int KN>
__device__ __forceinline__ void mma_prob(float (&acc)[D / 8][4], const float (&p)[KN / 8][4], uint32_t sb, int b0, int lane)
{
#pragma unroll
    for (int kk = 0; kk < KN / 16; kk++) {
        uint32_t a[4] = {pack2<T>(p[2 * kk][0], p[2 * kk][1]), pack2<T>(p[2 * kk][2], p[2 * kk][3]),
                         pack2<T>(p[2 * kk + 1][0], p[2 * kk + 1][1]), pack2<T>(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
        for (int dj = 0; dj < D / 8; dj += 2) {
            uint32_t b[4];
            ldsm_x4_t(b, sb + sw<D>(b0 + 16 * kk + (lane & 7) + (((lane >> 3) & 1) << 3), dj + (lane >> 4)));
            mma16816<T>(acc[dj], a, b[0], b[1]);
            mma16816<T>(acc[dj + 1], a, b[2], b[3]);
        }
    }
}

template <int N> __device__ __forceinline__ void zero(float (&x)[N][4])
{
#pragma unroll
    for (int j = 0; j < N; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) x[j][e] = 0.0f;
}

/* Writes a 16-row fragment tile acc (rows r0 = lane / 4 and r0 + 8 of the warp's tile) times
 * `mul` to rows [row0, row0 + 16) of a contiguous (rows, D) array, rows below `limit` only. */
template <typename T, int D>
__device__ __forceinline__ void store_rows(T *dst, int64_t row0, int64_t limit, const float (&acc)[D / 8][4], float mul0,
                                           float mul1, int lane)
{
    int64_t r0 = row0 + lane / 4, r1 = r0 + 8;
#pragma unroll
    for (int dj = 0; dj < D / 8; dj++) {
        int col = dj * 8 + (lane % 4) * 2;
        if (r0 < limit) *reinterpret_cast<uint32_t *>(dst + r0 * D + col) = pack2<T>(acc[dj][0] * mul0, acc[dj][1] * mul0);
        if (r1 < limit) *reinterpret_cast<uint32_t *>(dst + r1 * D + col) = pack2<T>(acc[dj][2] * mul1, acc[dj][3] * mul1);
    }
}

/* As store_rows, into a contiguous f32 (rows, D) array. */
template <int D>
__device__ __forceinline__ void store_rows_f32(float *dst, int64_t row0, int64_t limit, const float (&acc)[D / 8][4],
                                               float mul, int lane)
{
    int64_t r0 = row0 + lane / 4, r1 = r0 + 8;
#pragma unroll
    for (int dj = 0; dj < D / 8; dj++) {
        int col = dj * 8 + (lane % 4) * 2;
        if (r0 < limit) *reinterpret_cast<float2 *>(dst + r0 * D + col) = make_float2(acc[dj][0] * mul, acc[dj][1] * mul);
        if (r1 < limit) *reinterpret_cast<float2 *>(dst + r1 * D + col) = make_float2(acc[dj][2] * mul, acc[dj][3] * mul);
    }
}

/* Number of key tiles of BN keys that queries [m0, m0 + rows) can see. */
__device__ __forceinline__ int key_tiles(const attn_args &a, int64_t m0, int rows, int bn)
{
    int64_t end = a.S;
    if (a.causal) {
        int64_t lim = m0 + rows + a.S - a.T; /* one past the last key the last query sees */
        end = lim < end ? lim : end;
        if (end < 0) end = 0;
    }
    return (int)((end + bn - 1) / bn);
}

/* True when a key tile [n0, n0 + bn) needs no per-element visibility or mask work for the query
 * rows [m0, m0 + rows). */
__device__ __forceinline__ bool tile_is_full(const attn_args &a, int64_t m0, int rows, int64_t n0, int bn)
{
    if (a.kp || a.mask || n0 + bn > a.S || m0 + rows > a.T) return false;
    return !a.causal || n0 + bn - 1 <= m0 + a.S - a.T;
}

template <typename T, int D>
__global__ void __launch_bounds__(ATTN_THREADS, D == 64 ? 4 : 1) attn_fwd_mma(attn_args a, T *out, float *lse)
{
    constexpr int BM = 64, BN = 64, NT = BN / 8;
    extern __shared__ __align__(128) unsigned char smem[];
    /* Q, then two stages of K, then two of V (stage st of K at sK + st * TILE) */
    constexpr uint32_t TILE = BN * D * 2;
    uint32_t sQ = (uint32_t)__cvta_generic_to_shared(smem), sK = sQ + BM * D * 2, sV = sK + 2 * TILE;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t m0 = (int64_t)(gridDim.x - 1 - blockIdx.x) * BM; /* the longest (causal) blocks start first */
    int64_t h = blockIdx.y, b = blockIdx.z, g = h / (a.H / a.G);
    const T *qg = (const T *)a.q + b * a.qs[0] + h * a.qs[1] + m0 * a.qs[2];
    const T *kg = (const T *)a.k + b * a.ks[0] + g * a.ks[1];
    const T *vg = (const T *)a.v + b * a.vs[0] + g * a.vs[1];
    int ntiles = key_tiles(a, m0, BM, BN);
    load_tile<D, BM>(sQ, qg, a.qs[2], a.T - m0);
    cp_async_commit();
    if (ntiles > 0) {
        load_tile<D, BN>(sK, kg, a.ks[2], a.S);
        load_tile<D, BN>(sV, vg, a.vs[2], a.S);
    }
    cp_async_commit();
    float o[D / 8][4];
    zero(o);
    float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.0f, 0.0f};
    const float sl2 = (float)(a.scale * LOG2E);
    int64_t t0 = m0 + warp * 16 + lane / 4;
    for (int kt = 0; kt < ntiles; kt++) {
        int st = kt & 1;
        if (kt + 1 < ntiles) {
            int64_t n1 = (int64_t)(kt + 1) * BN;
            load_tile<D, BN>(sK + (st ^ 1) * TILE, kg + n1 * a.ks[2], a.ks[2], a.S - n1);
            load_tile<D, BN>(sV + (st ^ 1) * TILE, vg + n1 * a.vs[2], a.vs[2], a.S - n1);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        float s[NT][4];
        zero(s);
        mma_rows<T, D, NT>(s, sQ, warp * 16, sK + st * TILE, 0, lane);
        int64_t n0 = (int64_t)kt * BN;
        bool full = tile_is_full(a, m0, BM, n0, BN);
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float x = s[j][e] * sl2;
                if (!full) {
                    int64_t t = t0 + (e >> 1) * 8, sk = n0 + j * 8 + (lane % 4) * 2 + (e & 1);
                    if (!attn_visible(a, b, t, sk))
                        x = -INFINITY;
                    else if (a.mask)
                        x += attn_mask_f<T>(a, b, h, t, sk) * (float)LOG2E;
                }
                s[j][e] = x;
                mx[e >> 1] = fmaxf(mx[e >> 1], x);
            }
        float muse[2], alpha[2], lsum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            float mnew = fmaxf(mrow[i], mx[i]);
            muse[i] = mnew == -INFINITY ? 0.0f : mnew;
            alpha[i] = exp2f(mrow[i] - muse[i]);
            mrow[i] = mnew;
        }
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float p = exp2f(s[j][e] - muse[e >> 1]);
                lsum[e >> 1] += p;
                if (a.drop_thr && p != 0.0f) {
                    int64_t t = t0 + (e >> 1) * 8, sk = n0 + j * 8 + (lane % 4) * 2 + (e & 1);
                    p = attn_dropped(a, b, h, t, sk) ? 0.0f : p * (float)a.keep;
                }
                s[j][e] = p;
            }
#pragma unroll
        for (int i = 0; i < 2; i++) lrow[i] = lrow[i] * alpha[i] + lsum[i];
#pragma unroll
        for (int dj = 0; dj < D / 8; dj++) {
            o[dj][0] *= alpha[0], o[dj][1] *= alpha[0];
            o[dj][2] *= alpha[1], o[dj][3] *= alpha[1];
        }
        mma_prob<T, D, BN>(o, s, sV + st * TILE, 0, lane);
        __syncthreads(); /* the next iteration's copies overwrite this stage */
    }
    cp_async_wait<0>();
    float inv[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        lrow[i] += __shfl_xor_sync(0xffffffffu, lrow[i], 1);
        lrow[i] += __shfl_xor_sync(0xffffffffu, lrow[i], 2);
        inv[i] = lrow[i] > 0.0f ? 1.0f / lrow[i] : 0.0f;
    }
    T *ob = out + ((b * a.H + h) * a.T) * D;
    store_rows<T, D>(ob, m0 + warp * 16, a.T, o, inv[0], inv[1], lane);
    if (lane % 4 == 0) {
        float *lb = lse + (b * a.H + h) * a.T;
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int64_t t = t0 + i * 8;
            if (t < a.T) lb[t] = lrow[i] > 0.0f ? (mrow[i] + log2f(lrow[i])) * (float)LN2 : INFINITY;
        }
    }
}

/* The contributions of query head h (blockIdx.y) of batch b (blockIdx.z) to dK, dV of 64 keys of
 * its kv head, over its query tiles of BMQ rows: into dk, dv (B, G, S, D) when each kv head has
 * one query head, else as f32 partials pk, pv (B, H, S, D) that group_sum_kernel adds over each
 * group in increasing h. */
template <typename T, int D, int BMQ>
__global__ void __launch_bounds__(ATTN_THREADS, D == 64 ? 3 : 1)
    attn_bwd_dkdv_mma(attn_args a, const T *gout, int64_t gs0, int64_t gs1, int64_t gs2, const float *lse,
                      const float *delta, T *dk, T *dv, float *pk, float *pv)
{
    constexpr int BN = 64, QS = 32, NTQ = QS / 8;
    static_assert(BMQ % QS == 0, "a query tile is a whole number of sub-blocks");
    extern __shared__ __align__(128) unsigned char smem[];
    /* K, V, then two stages of Q and two of dO (stage st of Q at sQ + st * TILE) */
    constexpr uint32_t TILE = BMQ * D * 2;
    uint32_t sK = (uint32_t)__cvta_generic_to_shared(smem), sV = sK + BN * D * 2, sQ = sV + BN * D * 2,
             sO = sQ + 2 * TILE;
    float *sL = (float *)(smem + 2 * BN * D * 2 + 4 * BMQ * D * 2); /* [2][BMQ] lse * log2 e, then [2][BMQ] delta */
    float *sD = sL + 2 * BMQ;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t n0 = (int64_t)blockIdx.x * BN, h = blockIdx.y, b = blockIdx.z, g = h / (a.H / a.G);
    load_tile<D, BN>(sK, (const T *)a.k + b * a.ks[0] + g * a.ks[1] + n0 * a.ks[2], a.ks[2], a.S - n0);
    load_tile<D, BN>(sV, (const T *)a.v + b * a.vs[0] + g * a.vs[1] + n0 * a.vs[2], a.vs[2], a.S - n0);
    cp_async_commit();
    int64_t first = 0; /* the first query that sees key n0 */
    if (a.causal) first = n0 - (a.S - a.T) > 0 ? n0 - (a.S - a.T) : 0;
    int64_t nq = (a.T + BMQ - 1) / BMQ, q0 = first / BMQ, total = nq > q0 ? nq - q0 : 0;
    auto issue = [&](int64_t it, int st) {
        int64_t m0 = (q0 + it) * BMQ;
        load_tile<D, BMQ>(sQ + st * TILE, (const T *)a.q + b * a.qs[0] + h * a.qs[1] + m0 * a.qs[2], a.qs[2], a.T - m0);
        load_tile<D, BMQ>(sO + st * TILE, gout + b * gs0 + h * gs1 + m0 * gs2, gs2, a.T - m0);
        for (int i = threadIdx.x; i < BMQ; i += ATTN_THREADS) {
            int64_t t = m0 + i;
            bool ok = t < a.T;
            sL[st * BMQ + i] = ok ? lse[(b * a.H + h) * a.T + t] * (float)LOG2E : INFINITY;
            sD[st * BMQ + i] = ok ? delta[(b * a.H + h) * a.T + t] : 0.0f;
        }
    };
    if (total > 0) issue(0, 0);
    cp_async_commit();
    float dka[D / 8][4], dva[D / 8][4];
    zero(dka);
    zero(dva);
    const float sl2 = (float)(a.scale * LOG2E);
    int64_t s0 = n0 + warp * 16 + lane / 4; /* this thread's key rows: s0 and s0 + 8 */
    for (int64_t it = 0; it < total; it++) {
        int st = (int)(it & 1);
        if (it + 1 < total) issue(it + 1, st ^ 1);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        int64_t m0 = (q0 + it) * BMQ;
        bool fast = !a.drop_thr && tile_is_full(a, m0, BMQ, n0, BN);
        /* the query tile in sub-blocks of QS rows: the same products in the same order as one
         * pass over the tile, with half the score fragments live (3 blocks an SM fit) */
#pragma unroll
        for (int q0s = 0; q0s < BMQ; q0s += QS) {
            float sp[NTQ][4], dp[NTQ][4];
            zero(sp);
            zero(dp);
            mma_rows<T, D, NTQ>(sp, sK, warp * 16, sQ + st * TILE, q0s, lane); /* S^T = K Q^T */
            mma_rows<T, D, NTQ>(dp, sV, warp * 16, sO + st * TILE, q0s, lane); /* dP^T = V dO^T */
            if (fast) {
                /* every pair visible, no mask, no dropout: the general loop below without its checks */
#pragma unroll
                for (int j = 0; j < NTQ; j++) {
                    int q2 = st * BMQ + q0s + j * 8 + (lane % 4) * 2;
                    float2 l2 = *reinterpret_cast<const float2 *>(sL + q2), d2 = *reinterpret_cast<const float2 *>(sD + q2);
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float p = exp2f(sp[j][e] * sl2 - (e & 1 ? l2.y : l2.x));
                        sp[j][e] = p;
                        dp[j][e] = p * (dp[j][e] - (e & 1 ? d2.y : d2.x));
                    }
                }
            } else {
#pragma unroll
                for (int j = 0; j < NTQ; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        int qi = q0s + j * 8 + (lane % 4) * 2 + (e & 1);
                        int64_t t = m0 + qi, sk = s0 + (e >> 1) * 8;
                        float p = 0.0f;
                        if (attn_visible(a, b, t, sk)) {
                            float x = sp[j][e] * sl2;
                            if (a.mask) x += attn_mask_f<T>(a, b, h, t, sk) * (float)LOG2E;
                            p = exp2f(x - sL[st * BMQ + qi]);
                        }
                        float m = 1.0f;
                        if (a.drop_thr && p != 0.0f) m = attn_dropped(a, b, h, t, sk) ? 0.0f : (float)a.keep;
                        sp[j][e] = p * m;
                        dp[j][e] = p * (dp[j][e] * m - sD[st * BMQ + qi]);
                    }
            }
            mma_prob<T, D, QS>(dva, sp, sO + st * TILE, q0s, lane); /* dV += (P m)^T dO */
            mma_prob<T, D, QS>(dka, dp, sQ + st * TILE, q0s, lane); /* dK += dS^T Q */
        }
        __syncthreads();
    }
    cp_async_wait<0>();
    float sc = (float)a.scale;
    if (pk) { /* partials of this query head */
        int64_t base = (b * a.H + h) * a.S * D;
        store_rows_f32<D>(pk + base, n0 + warp * 16, a.S, dka, sc, lane);
        store_rows_f32<D>(pv + base, n0 + warp * 16, a.S, dva, 1.0f, lane);
        return;
    }
    int64_t base = (b * a.G + g) * a.S * D;
    if (dk) store_rows<T, D>(dk + base, n0 + warp * 16, a.S, dka, sc, sc, lane);
    if (dv) store_rows<T, D>(dv + base, n0 + warp * 16, a.S, dva, 1.0f, 1.0f, lane);
}

/* out[b, g, s, d] = sum over the heads h of group g, in increasing h, of part[b, h, s, d]. */
template <typename T>
__global__ void group_sum_kernel(const float *part, T *out, int64_t B, int64_t H, int64_t G, int64_t sd)
{
    int64_t hpg = H / G, total = B * G * sd;
    for (int64_t i = rx_tid(); i < total; i += rx_nthreads()) {
        int64_t e = i % sd, bg = i / sd, b = bg / G, g = bg % G;
        const float *p = part + ((b * H + g * hpg) * sd) + e;
        float acc = 0.0f;
        for (int64_t j = 0; j < hpg; j++) acc += p[j * sd];
        out[i] = rx_from_c<T>(acc);
    }
}

/* dQ for 64 queries of head h (blockIdx.y) of batch b (blockIdx.z), over key tiles of BNK. */
template <typename T, int D, int BNK>
__global__ void __launch_bounds__(ATTN_THREADS)
    attn_bwd_dq_mma(attn_args a, const T *gout, int64_t gs0, int64_t gs1, int64_t gs2, const float *lse,
                    const float *delta, T *dq)
{
    constexpr int BM = 64, NTK = BNK / 8;
    extern __shared__ __align__(128) unsigned char smem[];
    /* Q, dO, then two stages of K and two of V (stage st of K at sK + st * TILE) */
    constexpr uint32_t TILE = BNK * D * 2;
    uint32_t sQ = (uint32_t)__cvta_generic_to_shared(smem), sO = sQ + BM * D * 2, sK = sO + BM * D * 2,
             sV = sK + 2 * TILE;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t m0 = (int64_t)(gridDim.x - 1 - blockIdx.x) * BM;
    int64_t h = blockIdx.y, b = blockIdx.z, g = h / (a.H / a.G);
    const T *kg = (const T *)a.k + b * a.ks[0] + g * a.ks[1];
    const T *vg = (const T *)a.v + b * a.vs[0] + g * a.vs[1];
    load_tile<D, BM>(sQ, (const T *)a.q + b * a.qs[0] + h * a.qs[1] + m0 * a.qs[2], a.qs[2], a.T - m0);
    load_tile<D, BM>(sO, gout + b * gs0 + h * gs1 + m0 * gs2, gs2, a.T - m0);
    cp_async_commit();
    int ntiles = key_tiles(a, m0, BM, BNK);
    if (ntiles > 0) {
        load_tile<D, BNK>(sK, kg, a.ks[2], a.S);
        load_tile<D, BNK>(sV, vg, a.vs[2], a.S);
    }
    cp_async_commit();
    int64_t t0 = m0 + warp * 16 + lane / 4;
    float l2[2], dl[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int64_t t = t0 + i * 8;
        l2[i] = t < a.T ? lse[(b * a.H + h) * a.T + t] * (float)LOG2E : INFINITY;
        dl[i] = t < a.T ? delta[(b * a.H + h) * a.T + t] : 0.0f;
    }
    float dqa[D / 8][4];
    zero(dqa);
    const float sl2 = (float)(a.scale * LOG2E);
    for (int kt = 0; kt < ntiles; kt++) {
        int st = kt & 1;
        if (kt + 1 < ntiles) {
            int64_t n1 = (int64_t)(kt + 1) * BNK;
            load_tile<D, BNK>(sK + (st ^ 1) * TILE, kg + n1 * a.ks[2], a.ks[2], a.S - n1);
            load_tile<D, BNK>(sV + (st ^ 1) * TILE, vg + n1 * a.vs[2], a.vs[2], a.S - n1);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        int64_t n0 = (int64_t)kt * BNK;
        float sp[NTK][4], dp[NTK][4];
        zero(sp);
        zero(dp);
        mma_rows<T, D, NTK>(sp, sQ, warp * 16, sK + st * TILE, 0, lane); /* S = Q K^T */
        mma_rows<T, D, NTK>(dp, sO, warp * 16, sV + st * TILE, 0, lane); /* dP = dO V^T */
        if (!a.drop_thr && tile_is_full(a, m0, BM, n0, BNK)) {
            /* every pair visible, no mask, no dropout: the general loop below without its checks */
#pragma unroll
            for (int j = 0; j < NTK; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float p = exp2f(sp[j][e] * sl2 - l2[e >> 1]);
                    sp[j][e] = p * (dp[j][e] - dl[e >> 1]);
                }
        } else
#pragma unroll
        for (int j = 0; j < NTK; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int i = e >> 1;
                int64_t t = t0 + i * 8, sk = n0 + j * 8 + (lane % 4) * 2 + (e & 1);
                float p = 0.0f, m = 1.0f;
                if (attn_visible(a, b, t, sk)) {
                    float x = sp[j][e] * sl2;
                    if (a.mask) x += attn_mask_f<T>(a, b, h, t, sk) * (float)LOG2E;
                    p = exp2f(x - l2[i]);
                }
                if (a.drop_thr && p != 0.0f) m = attn_dropped(a, b, h, t, sk) ? 0.0f : (float)a.keep;
                sp[j][e] = p * (dp[j][e] * m - dl[i]);
            }
        mma_prob<T, D, BNK>(dqa, sp, sK + st * TILE, 0, lane); /* dQ += dS K */
        __syncthreads();
    }
    cp_async_wait<0>();
    float sc = (float)a.scale;
    store_rows<T, D>(dq + ((b * a.H + h) * a.T) * D, m0 + warp * 16, a.T, dqa, sc, sc, lane);
}

/* ==== generic path ============================================================================= */

/* Sum over the warp by a fixed butterfly: every lane gets the same bits. */
template <typename C> __device__ __forceinline__ C warp_sum(C v)
{
#pragma unroll
    for (int m = 16; m >= 1; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}
template <typename C> __device__ __forceinline__ C warp_max(C v)
{
#pragma unroll
    for (int m = 16; m >= 1; m >>= 1) {
        C o = __shfl_xor_sync(0xffffffffu, v, m);
        v = o > v ? o : v;
    }
    return v;
}

__device__ __forceinline__ float g_exp(float x) { return expf(x); }
__device__ __forceinline__ double g_exp(double x) { return exp(x); }
__device__ __forceinline__ float g_log(float x) { return logf(x); }
__device__ __forceinline__ double g_log(double x) { return log(x); }

/* x . y over D (x in shared memory at stride 1, y a global row), lanes over the dim. */
template <typename T, typename C> __device__ __forceinline__ C g_dot(const C *x, const T *y, int64_t d, int lane)
{
    C acc = 0;
    for (int64_t j = lane; j < d; j += 32) acc += x[j] * (C)rx_to_c(y[j]);
    return warp_sum(acc);
}

/* The scaled, masked score of (t, s) from a raw dot product, or -inf when s is invisible. */
template <typename T, typename C>
__device__ __forceinline__ C g_score(const attn_args &a, int64_t b, int64_t h, int64_t t, int64_t s, C dot)
{
    if (!attn_visible(a, b, t, s)) return -INFINITY;
    C x = dot * (C)a.scale;
    if (a.mask) x += (C)rx_to_c(((const T *)a.mask)[b * a.ms[0] + h * a.ms[1] + t * a.ms[2] + s * a.ms[3]]);
    return x;
}

template <typename T, typename ST>
__global__ void __launch_bounds__(ATTN_THREADS) attn_fwd_generic(attn_args a, T *out, ST *lse)
{
    using C = typename rx_compute<T>::type;
    extern __shared__ __align__(16) unsigned char smem[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wpb = blockDim.x / 32;
    C *q = (C *)smem + (int64_t)warp * 2 * a.D, *o = q + a.D;
    int64_t rows = a.B * a.H * a.T;
    for (int64_t row = (int64_t)blockIdx.x * wpb + warp; row < rows; row += (int64_t)gridDim.x * wpb) {
        int64_t t = row % a.T, h = (row / a.T) % a.H, b = row / (a.T * a.H), g = h / (a.H / a.G);
        const T *qr = (const T *)a.q + b * a.qs[0] + h * a.qs[1] + t * a.qs[2];
        const T *kb = (const T *)a.k + b * a.ks[0] + g * a.ks[1];
        const T *vb = (const T *)a.v + b * a.vs[0] + g * a.vs[1];
        for (int64_t j = lane; j < a.D; j += 32) q[j] = rx_to_c(qr[j]), o[j] = 0;
        int64_t send = a.S;
        if (a.causal) send = t + a.S - a.T + 1 < send ? t + a.S - a.T + 1 : send;
        C m = -INFINITY, l = 0;
        for (int64_t s0 = 0; s0 < send; s0 += 32) {
            int n = send - s0 < 32 ? (int)(send - s0) : 32;
            C mine = -INFINITY;
            for (int j = 0; j < n; j++) {
                C dot = g_dot(q, kb + (s0 + j) * a.ks[2], a.D, lane);
                if (lane == j) mine = g_score<T>(a, b, h, t, s0 + j, dot);
            }
            C mnew = warp_max(mine);
            mnew = m > mnew ? m : mnew;
            C muse = mnew == -INFINITY ? (C)0 : mnew;
            C alpha = g_exp(m - muse);
            C p = mine == -INFINITY ? (C)0 : g_exp(mine - muse);
            l = l * alpha + warp_sum(p);
            m = mnew;
            if (a.drop_thr && p != (C)0 && attn_dropped(a, b, h, t, s0 + lane)) p = 0;
            else if (a.drop_thr) p = (C)((double)p * a.keep);
            for (int64_t d = lane; d < a.D; d += 32) o[d] *= alpha;
            for (int j = 0; j < n; j++) {
                C pj = __shfl_sync(0xffffffffu, p, j);
                if (pj == (C)0) continue;
                const T *vr = vb + (s0 + j) * a.vs[2];
                for (int64_t d = lane; d < a.D; d += 32) o[d] += pj * (C)rx_to_c(vr[d]);
            }
        }
        C inv = l > (C)0 ? (C)1 / l : (C)0;
        T *orow = out + row * a.D;
        for (int64_t d = lane; d < a.D; d += 32) orow[d] = rx_from_c<T>(o[d] * inv);
        if (lane == 0) lse[row] = l > (C)0 ? (ST)(m + g_log(l)) : (ST)INFINITY;
    }
}

/* delta[row] = sum_d dO[row, d] O[row, d] (the dot in the compute type). */
template <typename T, typename ST>
__global__ void attn_delta_kernel(const T *gout, int64_t gs0, int64_t gs1, int64_t gs2, const T *o, int64_t os0,
                                  int64_t os1, int64_t os2, int64_t nh, int64_t nt, int64_t d, int64_t rows, ST *delta)
{
    using C = typename rx_compute<T>::type;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wpb = blockDim.x / 32;
    for (int64_t row = (int64_t)blockIdx.x * wpb + warp; row < rows; row += (int64_t)gridDim.x * wpb) {
        int64_t t = row % nt, h = (row / nt) % nh, b = row / (nt * nh);
        const T *gr = gout + b * gs0 + h * gs1 + t * gs2, *orow = o + b * os0 + h * os1 + t * os2;
        C acc = 0;
        for (int64_t j = lane; j < d; j += 32) acc += (C)rx_to_c(gr[j]) * (C)rx_to_c(orow[j]);
        acc = warp_sum(acc);
        if (lane == 0) delta[row] = (ST)acc;
    }
}

template <typename T, typename ST>
__global__ void __launch_bounds__(ATTN_THREADS)
    attn_bwd_dq_generic(attn_args a, const T *gout, int64_t gs0, int64_t gs1, int64_t gs2, const ST *lse,
                        const ST *delta, T *dq)
{
    using C = typename rx_compute<T>::type;
    extern __shared__ __align__(16) unsigned char smem[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wpb = blockDim.x / 32;
    C *q = (C *)smem + (int64_t)warp * 3 * a.D, *go = q + a.D, *acc = go + a.D;
    int64_t rows = a.B * a.H * a.T;
    for (int64_t row = (int64_t)blockIdx.x * wpb + warp; row < rows; row += (int64_t)gridDim.x * wpb) {
        int64_t t = row % a.T, h = (row / a.T) % a.H, b = row / (a.T * a.H), g = h / (a.H / a.G);
        const T *qr = (const T *)a.q + b * a.qs[0] + h * a.qs[1] + t * a.qs[2];
        const T *gr = gout + b * gs0 + h * gs1 + t * gs2;
        const T *kb = (const T *)a.k + b * a.ks[0] + g * a.ks[1];
        const T *vb = (const T *)a.v + b * a.vs[0] + g * a.vs[1];
        for (int64_t j = lane; j < a.D; j += 32) q[j] = rx_to_c(qr[j]), go[j] = rx_to_c(gr[j]), acc[j] = 0;
        C L = (C)lse[row], dl = (C)delta[row];
        int64_t send = a.S;
        if (a.causal) send = t + a.S - a.T + 1 < send ? t + a.S - a.T + 1 : send;
        for (int64_t s = 0; s < send && L != (C)INFINITY; s++) {
            if (a.kp && !a.kp[b * a.S + s]) continue;
            const T *kr = kb + s * a.ks[2];
            C x = g_score<T>(a, b, h, t, s, g_dot(q, kr, a.D, lane));
            C dpv = g_dot(go, vb + s * a.vs[2], a.D, lane);
            C p = x == -INFINITY ? (C)0 : g_exp(x - L);
            C m = 1;
            if (a.drop_thr && p != (C)0) m = attn_dropped(a, b, h, t, s) ? (C)0 : (C)a.keep;
            C ds = p * (dpv * m - dl);
            if (ds == (C)0) continue;
            for (int64_t d = lane; d < a.D; d += 32) acc[d] += ds * (C)rx_to_c(kr[d]);
        }
        T *dst = dq + row * a.D;
        for (int64_t d = lane; d < a.D; d += 32) dst[d] = rx_from_c<T>(acc[d] * (C)a.scale);
    }
}

template <typename T, typename ST>
__global__ void __launch_bounds__(ATTN_THREADS)
    attn_bwd_dkdv_generic(attn_args a, const T *gout, int64_t gs0, int64_t gs1, int64_t gs2, const ST *lse,
                          const ST *delta, T *dk, T *dv)
{
    using C = typename rx_compute<T>::type;
    extern __shared__ __align__(16) unsigned char smem[];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wpb = blockDim.x / 32;
    C *kx = (C *)smem + (int64_t)warp * 4 * a.D, *vx = kx + a.D, *dka = vx + a.D, *dva = dka + a.D;
    int64_t rows = a.B * a.G * a.S, hpg = a.H / a.G;
    for (int64_t row = (int64_t)blockIdx.x * wpb + warp; row < rows; row += (int64_t)gridDim.x * wpb) {
        int64_t s = row % a.S, g = (row / a.S) % a.G, b = row / (a.S * a.G);
        const T *kr = (const T *)a.k + b * a.ks[0] + g * a.ks[1] + s * a.ks[2];
        const T *vr = (const T *)a.v + b * a.vs[0] + g * a.vs[1] + s * a.vs[2];
        for (int64_t j = lane; j < a.D; j += 32) kx[j] = rx_to_c(kr[j]), vx[j] = rx_to_c(vr[j]), dka[j] = 0, dva[j] = 0;
        int64_t first = a.causal && s - (a.S - a.T) > 0 ? s - (a.S - a.T) : 0;
        bool live = !a.kp || a.kp[b * a.S + s];
        for (int64_t h = g * hpg; live && h < (g + 1) * hpg; h++)
            for (int64_t t = first; t < a.T; t++) {
                int64_t r = (b * a.H + h) * a.T + t;
                C L = (C)lse[r];
                if (L == (C)INFINITY) continue;
                const T *qr = (const T *)a.q + b * a.qs[0] + h * a.qs[1] + t * a.qs[2];
                const T *gr = gout + b * gs0 + h * gs1 + t * gs2;
                C x = g_score<T>(a, b, h, t, s, g_dot(kx, qr, a.D, lane));
                C dpv = g_dot(vx, gr, a.D, lane);
                C p = x == -INFINITY ? (C)0 : g_exp(x - L);
                C m = 1;
                if (a.drop_thr && p != (C)0) m = attn_dropped(a, b, h, t, s) ? (C)0 : (C)a.keep;
                C pm = p * m, ds = p * (dpv * m - (C)delta[r]);
                if (pm == (C)0 && ds == (C)0) continue;
                for (int64_t d = lane; d < a.D; d += 32) {
                    dva[d] += pm * (C)rx_to_c(gr[d]);
                    dka[d] += ds * (C)rx_to_c(qr[d]);
                }
            }
        for (int64_t d = lane; d < a.D; d += 32) {
            if (dk) dk[row * a.D + d] = rx_from_c<T>(dka[d] * (C)a.scale);
            if (dv) dv[row * a.D + d] = rx_from_c<T>(dva[d]);
        }
    }
}

/* ==== decode path (one query per row) ========================================================== */

#define DEC_WARPS 8
#define DEC_THREADS (DEC_WARPS * 32)
#define DEC_UNROLL 4       /* keys per stream loaded before they are used */
#define DEC_MAX_D 128      /* head dims the decode path takes */
#define DEC_SPLIT_MIN 512  /* rows of more keys than this may be split over blocks */
#define DEC_SPLIT_KEYS 256 /* ... into ranges of at least this many keys */

/* The decode launch shape, besides attn_args. */
struct dec_args {
    int lpk;               /* lanes per key: a power of two >= ceil(D / VEC), each lane VEC dims */
    int vec;               /* rows of q, k, v 16-byte aligned and D % VEC == 0: vector loads */
    int64_t hpg, hc;       /* query heads per kv head; blocks (head chunks) per kv head */
    int64_t nsplit, chunk; /* key ranges per row and keys per range */
};

/* Dims [c VEC, c VEC + VEC) of a row as f32, zeros past D. */
template <typename T, int VEC>
__device__ __forceinline__ void dec_load(const T *row, int c, int64_t d, bool vec, float (&x)[VEC])
{
    int64_t j0 = (int64_t)c * VEC;
    if (vec && j0 < d) {
        rx_nn_load_vec<T, VEC>(row, j0, x);
        return;
    }
#pragma unroll
    for (int j = 0; j < VEC; j++) x[j] = j0 + j < d ? (float)rx_to_c(row[j0 + j]) : 0.0f;
}

/* Merges another softmax state (m2, l2, o2) into (m, l, o): running max in the log2 domain (-inf
 * when no key was seen), sum of exp2(x - m), and the output summed with those weights. */
template <int VEC>
__device__ __forceinline__ void dec_merge(float &m, float &l, float (&o)[VEC], float m2, float l2, const float (&o2)[VEC])
{
    float mx = fmaxf(m, m2), mu = mx == -INFINITY ? 0.0f : mx;
    float a1 = exp2f(m - mu), a2 = exp2f(m2 - mu);
    l = l * a1 + l2 * a2;
#pragma unroll
    for (int j = 0; j < VEC; j++) o[j] = o[j] * a1 + o2[j] * a2;
    m = mx;
}

/* Attention of single-query rows: block (split, g * hc + chunk, b) takes the NH query heads
 * g hpg + chunk NH .. of kv head g (those below (g + 1) hpg) against keys
 * [split chunk, (split + 1) chunk). Each group of lpk lanes is a stream that walks every
 * (8 32 / lpk)-th key of the range, each lane holding VEC dims of the queries and of the output
 * (f32); per key, a dot product over the group (butterfly), per round of DEC_UNROLL keys one
 * online-softmax rescale. Streams merge by a butterfly over the warp, then the warps in increasing
 * order through shared memory. Without `part` the block writes out (B, H, 1, D) and the
 * log-sum-exp; with it, its unnormalised output to part (B H, nsplit, D) and (max, sum) to pml
 * (B H, nsplit, 2), which attn_decode_combine merges. */
template <typename T, int NH>
__global__ void __launch_bounds__(DEC_THREADS) attn_fwd_decode(attn_args a, dec_args d, T *out, float *lse, float *part,
                                                               float *pml)
{
    constexpr int VEC = rx_nn_vec<T>(), U = DEC_UNROLL;
    __shared__ float so[DEC_WARPS][NH][DEC_MAX_D], sm[DEC_WARPS][NH], sl[DEC_WARPS][NH];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, c = lane % d.lpk, kpw = 32 / d.lpk;
    int64_t nstreams = (int64_t)DEC_WARPS * kpw, stream = (int64_t)warp * kpw + lane / d.lpk;
    int64_t split = blockIdx.x, g = blockIdx.y / d.hc, h0 = g * d.hpg + (blockIdx.y % d.hc) * NH, b = blockIdx.z;
    int64_t left = (g + 1) * d.hpg - h0;
    int nh = left < NH ? (int)left : NH;
    bool vec = d.vec != 0;
    const float sl2 = (float)(a.scale * LOG2E);
    float q[NH][VEC], o[NH][VEC], m[NH], l[NH];
#pragma unroll
    for (int i = 0; i < NH; i++) {
        if (i < nh)
            dec_load<T, VEC>((const T *)a.q + b * a.qs[0] + (h0 + i) * a.qs[1], c, a.D, vec, q[i]);
#pragma unroll
        for (int j = 0; j < VEC; j++) {
            q[i][j] = i < nh ? q[i][j] * sl2 : 0.0f; /* scores come out in the log2 domain */
            o[i][j] = 0.0f;
        }
        m[i] = -INFINITY, l[i] = 0.0f;
    }
    const T *kb = (const T *)a.k + b * a.ks[0] + g * a.ks[1];
    const T *vb = (const T *)a.v + b * a.vs[0] + g * a.vs[1];
    int64_t s_begin = split * d.chunk, s_end = s_begin + d.chunk < a.S ? s_begin + d.chunk : a.S;
    /* rounds are uniform over the block, so every lane reaches every shuffle */
    for (int64_t base = s_begin; base < s_end; base += U * nstreams) {
        float kx[U][VEC], vx[U][VEC];
        bool vis[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int64_t s = base + u * nstreams + stream;
            bool in = s < s_end;
            vis[u] = in && (!a.kp || a.kp[b * a.S + s]);
            if (in) {
                dec_load<T, VEC>(kb + s * a.ks[2], c, a.D, vec, kx[u]);
                dec_load<T, VEC>(vb + s * a.vs[2], c, a.D, vec, vx[u]);
            } else {
#pragma unroll
                for (int j = 0; j < VEC; j++) kx[u][j] = vx[u][j] = 0.0f;
            }
        }
#pragma unroll
        for (int i = 0; i < NH; i++) {
            float x[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                float p = 0.0f;
#pragma unroll
                for (int j = 0; j < VEC; j++) p += q[i][j] * kx[u][j];
                for (int w = d.lpk / 2; w >= 1; w >>= 1) p += __shfl_xor_sync(0xffffffffu, p, w);
                int64_t s = base + u * nstreams + stream;
                if (!vis[u] || i >= nh)
                    p = -INFINITY;
                else if (a.mask)
                    p += attn_mask_f<T>(a, b, h0 + i, 0, s) * (float)LOG2E;
                x[u] = p;
            }
            float mx = m[i];
#pragma unroll
            for (int u = 0; u < U; u++) mx = fmaxf(mx, x[u]);
            float mu = mx == -INFINITY ? 0.0f : mx, al = exp2f(m[i] - mu);
            l[i] *= al;
#pragma unroll
            for (int j = 0; j < VEC; j++) o[i][j] *= al;
#pragma unroll
            for (int u = 0; u < U; u++) {
                float p = exp2f(x[u] - mu);
                l[i] += p;
#pragma unroll
                for (int j = 0; j < VEC; j++) o[i][j] += p * vx[u][j];
            }
            m[i] = mx;
        }
    }
    /* the warp's streams: lanes [0, lpk) end up with the merge of all of them */
    for (int w = 16; w >= d.lpk; w >>= 1)
#pragma unroll
        for (int i = 0; i < NH; i++) {
            float o2[VEC];
#pragma unroll
            for (int j = 0; j < VEC; j++) o2[j] = __shfl_xor_sync(0xffffffffu, o[i][j], w);
            float m2 = __shfl_xor_sync(0xffffffffu, m[i], w), l2 = __shfl_xor_sync(0xffffffffu, l[i], w);
            dec_merge<VEC>(m[i], l[i], o[i], m2, l2, o2);
        }
    if (lane < d.lpk) {
#pragma unroll
        for (int i = 0; i < NH; i++) {
#pragma unroll
            for (int j = 0; j < VEC; j++)
                if (c * VEC + j < a.D) so[warp][i][c * VEC + j] = o[i][j];
            if (lane == 0) sm[warp][i] = m[i], sl[warp][i] = l[i];
        }
    }
    __syncthreads();
    for (int64_t idx = threadIdx.x; idx < nh * a.D; idx += DEC_THREADS) {
        int i = (int)(idx / a.D);
        int64_t e = idx % a.D, row = b * a.H + h0 + i;
        float mx = -INFINITY;
        for (int w = 0; w < DEC_WARPS; w++) mx = fmaxf(mx, sm[w][i]);
        float mu = mx == -INFINITY ? 0.0f : mx, sum = 0.0f, acc = 0.0f;
        for (int w = 0; w < DEC_WARPS; w++) {
            float f = exp2f(sm[w][i] - mu);
            sum += sl[w][i] * f;
            acc += so[w][i][e] * f;
        }
        if (part) {
            int64_t pr = row * d.nsplit + split;
            part[pr * a.D + e] = acc;
            if (e == 0) pml[2 * pr] = mx, pml[2 * pr + 1] = sum;
        } else {
            out[row * a.D + e] = rx_from_c<T>(sum > 0.0f ? acc / sum : 0.0f);
            if (e == 0) lse[row] = sum > 0.0f ? (mx + log2f(sum)) * (float)LN2 : INFINITY;
        }
    }
}

/* Merges the nsplit partial results of each of `rows` rows (one warp per row, splits in
 * increasing order) into out (rows, D) and the log-sum-exp. */
template <typename T>
__global__ void attn_decode_combine(const float *part, const float *pml, int64_t rows, int64_t nsplit, int64_t d,
                                    T *out, float *lse)
{
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wpb = blockDim.x / 32;
    for (int64_t row = (int64_t)blockIdx.x * wpb + warp; row < rows; row += (int64_t)gridDim.x * wpb) {
        const float *ml = pml + row * nsplit * 2, *pr = part + row * nsplit * d;
        float mx = -INFINITY, sum = 0.0f;
        for (int64_t s = 0; s < nsplit; s++) mx = fmaxf(mx, ml[2 * s]);
        float mu = mx == -INFINITY ? 0.0f : mx;
        for (int64_t s = 0; s < nsplit; s++) sum += ml[2 * s + 1] * exp2f(ml[2 * s] - mu);
        for (int64_t e = lane; e < d; e += 32) {
            float acc = 0.0f;
            for (int64_t s = 0; s < nsplit; s++) acc += pr[s * d + e] * exp2f(ml[2 * s] - mu);
            out[row * d + e] = rx_from_c<T>(sum > 0.0f ? acc / sum : 0.0f);
        }
        if (lane == 0) lse[row] = sum > 0.0f ? (mx + log2f(sum)) * (float)LN2 : INFINITY;
    }
}

/* ==== host side ================================================================================ */

void rx_cuda_attention_stat_shape(int64_t B, int64_t H, int64_t T, int64_t S, int *ndim, int64_t *shape)
{
    *ndim = 3;
    shape[0] = B, shape[1] = H, shape[2] = T;
}

static attn_args make_args(const rx_tensor *q, const rx_tensor *k, const rx_tensor *v, const rx_tensor *key_padding,
                           const rx_tensor *mask, int causal, double scale, double dropout_p, uint64_t seed, uint64_t offset)
{
    attn_args a = {};
    a.q = rx_cuda_ptr(q), a.k = rx_cuda_ptr(k), a.v = rx_cuda_ptr(v);
    for (int i = 0; i < 3; i++) a.qs[i] = q->stride[i], a.ks[i] = k->stride[i], a.vs[i] = v->stride[i];
    a.B = q->shape[0], a.H = q->shape[1], a.G = k->shape[1], a.T = q->shape[2], a.S = k->shape[2], a.D = q->shape[3];
    a.kp = key_padding ? (const uint8_t *)rx_cuda_ptr(key_padding) : nullptr;
    a.mask = mask ? rx_cuda_ptr(mask) : nullptr;
    if (mask)
        for (int i = 0; i < 4; i++) a.ms[i] = mask->stride[i];
    a.causal = causal;
    a.scale = scale;
    a.drop_thr = dropout_p > 0 ? (uint32_t)ceil(dropout_p * 16777216.0) : 0;
    a.keep = dropout_p > 0 ? 1.0 / (1.0 - dropout_p) : 1.0;
    a.seed = seed, a.offset = offset;
    return a;
}

/* True when t's rows suit the tensor-core tiles: 16-byte aligned start and row strides. */
static bool rows_aligned(const rx_tensor *t)
{
    return rx_aligned(rx_cuda_ptr(t), 16) && t->stride[0] % 8 == 0 && t->stride[1] % 8 == 0 && t->stride[2] % 8 == 0;
}

static bool use_mma(const rx_tensor *q, const rx_tensor *k, const rx_tensor *v)
{
    int64_t d = q->shape[3];
    return (q->dtype == RX_BF16 || q->dtype == RX_F16) && (d == 64 || d == 128) && rows_aligned(q) && rows_aligned(k) &&
           rows_aligned(v);
}

/* Launches kernel with `smem` bytes of dynamic shared memory, raising its limit when needed. */
template <typename K, typename... Rest>
static rx_status launch_smem(const char *name, K kernel, dim3 grid, int threads, int64_t smem, rx_cuda_ctx *ctx,
                             const attn_args &a, Rest... rest)
{
    if (smem > 48 * 1024) {
        int limit = 0;
        RX_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, ctx->device));
        if (smem > limit)
            return rx_fail(RX_ERR_UNSUPPORTED,
                           "cuda attention: head dim %lld needs %lld bytes of shared memory per block, more than the "
                           "device's %d",
                           (long long)a.D, (long long)smem, limit);
        RX_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    }
    kernel<<<grid, threads, (size_t)smem, ctx->stream>>>(a, rest...);
    return rx_cuda_status_(cudaGetLastError(), name, __FILE__, __LINE__);
}

/* Warps per block of a generic kernel keeping `per_warp` compute values per warp in shared memory:
 * 4 when that fits in 48 KB, else 1. */
static int generic_warps(int64_t per_warp_bytes) { return 4 * per_warp_bytes <= 48 * 1024 ? 4 : 1; }

static unsigned generic_blocks(int64_t rows, int warps, const rx_cuda_ctx *ctx)
{
    int64_t b = (rows + warps - 1) / warps, cap = (int64_t)ctx->sm_count * 64;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

template <typename T, int D> static rx_status fwd_mma(rx_cuda_ctx *ctx, const attn_args &a, rx_tensor *out, rx_tensor *stat)
{
    dim3 grid((unsigned)((a.T + 63) / 64), (unsigned)a.H, (unsigned)a.B);
    int64_t smem = (64 + 4 * 64) * D * 2;
    return launch_smem("attention", attn_fwd_mma<T, D>, grid, ATTN_THREADS, smem, ctx, a, (T *)rx_cuda_ptr(out),
                       (float *)rx_cuda_ptr(stat));
}

/* Query heads per decode block for hpg query heads per kv head: all of them up to 4, else 4, or 3
 * when 3 divides hpg and 4 does not (no idle head slots). */
static int decode_heads(int64_t hpg) { return hpg <= 4 ? (int)hpg : hpg % 4 != 0 && hpg % 3 == 0 ? 3 : 4; }

/* True when every (b, head, row) row of t starts 16-byte aligned for elements of `vec` per 16
 * bytes (dims of size 1 do not count). */
static bool rows_vec_aligned(const rx_tensor *t, int64_t vec)
{
    if (!rx_aligned(rx_cuda_ptr(t), 16)) return false;
    for (int i = 0; i < 3; i++)
        if (t->shape[i] > 1 && t->stride[i] % vec != 0) return false;
    return true;
}

static bool use_decode(const attn_args &a, rx_dtype dt)
{
    return a.T == 1 && !a.drop_thr && (dt == RX_F32 || dt == RX_BF16 || dt == RX_F16) && a.D >= 1 && a.D <= DEC_MAX_D;
}

template <typename T, int NH>
static rx_status launch_decode(rx_cuda_ctx *ctx, const attn_args &a, const dec_args &d, T *out, float *lse, float *part,
                               float *pml)
{
    dim3 grid((unsigned)d.nsplit, (unsigned)(a.G * d.hc), (unsigned)a.B);
    attn_fwd_decode<T, NH><<<grid, DEC_THREADS, 0, ctx->stream>>>(a, d, out, lse, part, pml);
    return RX_CUDA_LAUNCH_STATUS("attention (decode)");
}

template <typename T>
static rx_status fwd_decode(rx_cuda_ctx *ctx, const attn_args &a, const rx_tensor *q, const rx_tensor *k,
                            const rx_tensor *v, rx_tensor *out, rx_tensor *stat)
{
    constexpr int VEC = rx_nn_vec<T>();
    dec_args d = {};
    int64_t chunks = (a.D + VEC - 1) / VEC;
    d.lpk = 1;
    while (d.lpk < chunks) d.lpk *= 2;
    d.vec = a.D % VEC == 0 && rows_vec_aligned(q, VEC) && rows_vec_aligned(k, VEC) && rows_vec_aligned(v, VEC);
    d.hpg = a.H / a.G;
    int nh = decode_heads(d.hpg);
    d.hc = (d.hpg + nh - 1) / nh;
    int64_t blocks = a.B * a.G * d.hc;
    d.nsplit = 1;
    if (a.S > DEC_SPLIT_MIN) { /* a block per SM (one fits at ~240 registers), ranges of DEC_SPLIT_KEYS keys or more */
        int64_t want = ((int64_t)ctx->sm_count + blocks - 1) / blocks, most = a.S / DEC_SPLIT_KEYS;
        d.nsplit = want < most ? want : most;
        if (d.nsplit < 1) d.nsplit = 1;
    }
    d.chunk = (a.S + d.nsplit - 1) / d.nsplit;
    if (d.chunk > 0) d.nsplit = (a.S + d.chunk - 1) / d.chunk; /* no empty range */
    T *o = (T *)rx_cuda_ptr(out);
    float *lse = (float *)rx_cuda_ptr(stat);
    rx_nn_scratch scratch;
    float *part = nullptr, *pml = nullptr;
    if (d.nsplit > 1) {
        int64_t n = a.B * a.H * d.nsplit;
        RX_TRY(scratch.alloc(n * (a.D + 2) * (int64_t)sizeof(float), ctx->device));
        part = scratch.as<float>(), pml = part + n * a.D;
    }
    rx_status s;
    switch (nh) {
    case 1: s = launch_decode<T, 1>(ctx, a, d, o, lse, part, pml); break;
    case 2: s = launch_decode<T, 2>(ctx, a, d, o, lse, part, pml); break;
    case 3: s = launch_decode<T, 3>(ctx, a, d, o, lse, part, pml); break;
    default: s = launch_decode<T, 4>(ctx, a, d, o, lse, part, pml); break;
    }
    if (s != RX_OK || !part) return s;
    int64_t rows = a.B * a.H;
    attn_decode_combine<T><<<generic_blocks(rows, 8, ctx), 256, 0, ctx->stream>>>(part, pml, rows, d.nsplit, a.D, o, lse);
    return RX_CUDA_LAUNCH_STATUS("attention (decode combine)");
}

rx_status rx_cuda_attention(rx_tensor *out, rx_tensor *stat, const rx_tensor *q, const rx_tensor *k, const rx_tensor *v,
                            const rx_tensor *key_padding, const rx_tensor *mask, int causal, double scale,
                            double dropout_p, uint64_t seed, uint64_t offset)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(rx_nn_device(q), &ctx));
    attn_args a = make_args(q, k, v, key_padding, mask, causal, scale, dropout_p, seed, offset);
    if (a.B * a.H * a.T == 0) return RX_OK;
    if (a.B > 65535 || a.H > 65535)
        return rx_fail(RX_ERR_UNSUPPORTED, "cuda attention: at most 65535 batches and heads, got (%lld, %lld)",
                       (long long)a.B, (long long)a.H);
    if (use_decode(a, q->dtype)) {
        if (q->dtype == RX_BF16) return fwd_decode<rx_bf16_t>(ctx, a, q, k, v, out, stat);
        if (q->dtype == RX_F16) return fwd_decode<rx_f16_t>(ctx, a, q, k, v, out, stat);
        return fwd_decode<float>(ctx, a, q, k, v, out, stat);
    }
    if (use_mma(q, k, v)) {
        if (q->dtype == RX_BF16) return a.D == 64 ? fwd_mma<rx_bf16_t, 64>(ctx, a, out, stat) : fwd_mma<rx_bf16_t, 128>(ctx, a, out, stat);
        return a.D == 64 ? fwd_mma<rx_f16_t, 64>(ctx, a, out, stat) : fwd_mma<rx_f16_t, 128>(ctx, a, out, stat);
    }
    return rx_nn_dispatch_float(q->dtype, "attention", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        using C = typename rx_compute<T>::type;
        using ST = typename std::conditional<sizeof(T) == 8, double, float>::type;
        int64_t per_warp = 2 * a.D * (int64_t)sizeof(C);
        int warps = generic_warps(per_warp);
        return launch_smem("attention", attn_fwd_generic<T, ST>, dim3(generic_blocks(a.B * a.H * a.T, warps, ctx)),
                           warps * 32, warps * per_warp, ctx, a, (T *)rx_cuda_ptr(out), (ST *)rx_cuda_ptr(stat));
    });
}

template <typename T, int D>
static rx_status bwd_mma(rx_cuda_ctx *ctx, const attn_args &a, const rx_tensor *g, const float *delta, const float *lse,
                         rx_tensor *dq, rx_tensor *dk, rx_tensor *dv)
{
    const T *gp = (const T *)rx_cuda_ptr(g);
    if (dk || dv) {
        constexpr int BMQ = D == 64 ? 64 : 32;
        int64_t smem = (2 * 64 + 4 * BMQ) * D * 2 + 4 * BMQ * 4;
        dim3 grid((unsigned)((a.S + 63) / 64), (unsigned)a.H, (unsigned)a.B);
        /* grouped heads: per-head f32 partials, then a fixed-order sum over each group */
        rx_nn_scratch part;
        int64_t sd = a.S * D;
        if (a.G != a.H) RX_TRY(part.alloc(2 * a.B * a.H * sd * (int64_t)sizeof(float), ctx->device));
        float *pk = a.G != a.H ? part.as<float>() : nullptr, *pv = pk ? pk + a.B * a.H * sd : nullptr;
        RX_TRY(launch_smem("attention backward (dk, dv)", attn_bwd_dkdv_mma<T, D, BMQ>, grid, ATTN_THREADS, smem, ctx, a,
                           gp, g->stride[0], g->stride[1], g->stride[2], lse, delta, dk ? (T *)rx_cuda_ptr(dk) : nullptr,
                           dv ? (T *)rx_cuda_ptr(dv) : nullptr, pk, pv));
        if (pk) {
            unsigned blocks = rx_cuda_blocks(a.B * a.G * sd, RX_CUDA_THREADS, ctx);
            if (dk) group_sum_kernel<T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(pk, (T *)rx_cuda_ptr(dk), a.B, a.H, a.G, sd);
            if (dv) group_sum_kernel<T><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(pv, (T *)rx_cuda_ptr(dv), a.B, a.H, a.G, sd);
            RX_TRY(RX_CUDA_LAUNCH_STATUS("attention backward (group sums)"));
        }
    }
    if (dq) {
        constexpr int BNK = D == 64 ? 64 : 32;
        int64_t smem = (2 * 64 + 4 * BNK) * D * 2;
        dim3 grid((unsigned)((a.T + 63) / 64), (unsigned)a.H, (unsigned)a.B);
        RX_TRY(launch_smem("attention backward (dq)", attn_bwd_dq_mma<T, D, BNK>, grid, ATTN_THREADS, smem, ctx, a, gp,
                           g->stride[0], g->stride[1], g->stride[2], lse, delta, (T *)rx_cuda_ptr(dq)));
    }
    return RX_OK;
}

rx_status rx_cuda_attention_bwd(rx_tensor *dq, rx_tensor *dk, rx_tensor *dv, const rx_tensor *g, const rx_tensor *q,
                                const rx_tensor *k, const rx_tensor *v, const rx_tensor *out, const rx_tensor *stat,
                                const rx_tensor *key_padding, const rx_tensor *mask, int causal, double scale,
                                double dropout_p, uint64_t seed, uint64_t offset)
{
    rx_cuda_ctx *ctx;
    int dev = rx_nn_device(q);
    RX_TRY(rx_cuda_enter(dev, &ctx));
    attn_args a = make_args(q, k, v, key_padding, mask, causal, scale, dropout_p, seed, offset);
    if (a.B > 65535 || a.H > 65535)
        return rx_fail(RX_ERR_UNSUPPORTED, "cuda attention backward: at most 65535 batches and heads, got (%lld, %lld)",
                       (long long)a.B, (long long)a.H);
    /* nothing reaches dk, dv when no query exists, and dq is empty: zeros */
    if (a.B * a.H * a.T == 0 || a.S == 0 || a.D == 0) {
        if (dk) RX_CUDA_CHECK(cudaMemsetAsync(rx_cuda_ptr(dk), 0, (size_t)(rx_tensor_numel(dk) * rx_dtype_size(dk->dtype)), ctx->stream));
        if (dv) RX_CUDA_CHECK(cudaMemsetAsync(rx_cuda_ptr(dv), 0, (size_t)(rx_tensor_numel(dv) * rx_dtype_size(dv->dtype)), ctx->stream));
        if (dq) RX_CUDA_CHECK(cudaMemsetAsync(rx_cuda_ptr(dq), 0, (size_t)(rx_tensor_numel(dq) * rx_dtype_size(dq->dtype)), ctx->stream));
        return RX_OK;
    }
    int64_t rows = a.B * a.H * a.T;
    return rx_nn_dispatch_float(q->dtype, "attention backward", [&](auto tag) -> rx_status {
        using T = typename decltype(tag)::type;
        using C = typename rx_compute<T>::type;
        using ST = typename std::conditional<sizeof(T) == 8, double, float>::type;
        rx_nn_scratch delta;
        RX_TRY(delta.alloc(rows * (int64_t)sizeof(ST), dev));
        const T *gp = (const T *)rx_cuda_ptr(g);
        attn_delta_kernel<T, ST><<<generic_blocks(rows, 8, ctx), 256, 0, ctx->stream>>>(
            gp, g->stride[0], g->stride[1], g->stride[2], (const T *)rx_cuda_ptr(out), out->stride[0], out->stride[1],
            out->stride[2], a.H, a.T, a.D, rows, delta.as<ST>());
        RX_TRY(RX_CUDA_LAUNCH_STATUS("attention backward (delta)"));
        const ST *lse = (const ST *)rx_cuda_ptr(stat);
        if constexpr (std::is_same<T, rx_bf16_t>::value || std::is_same<T, rx_f16_t>::value) {
            if (use_mma(q, k, v) && rows_aligned(g)) {
                if (a.D == 64) return bwd_mma<T, 64>(ctx, a, g, delta.as<float>(), (const float *)lse, dq, dk, dv);
                return bwd_mma<T, 128>(ctx, a, g, delta.as<float>(), (const float *)lse, dq, dk, dv);
            }
        }
        if (dk || dv) {
            int64_t per_warp = 4 * a.D * (int64_t)sizeof(C);
            int warps = generic_warps(per_warp);
            RX_TRY(launch_smem("attention backward (dk, dv)", attn_bwd_dkdv_generic<T, ST>,
                               dim3(generic_blocks(a.B * a.G * a.S, warps, ctx)), warps * 32, warps * per_warp, ctx, a, gp,
                               g->stride[0], g->stride[1], g->stride[2], lse, delta.as<ST>(),
                               dk ? (T *)rx_cuda_ptr(dk) : nullptr, dv ? (T *)rx_cuda_ptr(dv) : nullptr));
        }
        if (dq) {
            int64_t per_warp = 3 * a.D * (int64_t)sizeof(C);
            int warps = generic_warps(per_warp);
            RX_TRY(launch_smem("attention backward (dq)", attn_bwd_dq_generic<T, ST>,
                               dim3(generic_blocks(rows, warps, ctx)), warps * 32, warps * per_warp, ctx, a, gp,
                               g->stride[0], g->stride[1], g->stride[2], lse, delta.as<ST>(), (T *)rx_cuda_ptr(dq)));
        }
        return RX_OK;
    });
}
