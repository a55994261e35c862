/* llama_decode.cu — the decode step of a Llama-family model as one persistent CUDA kernel.
 *
 * Owns: the kernel, its device buffers (residual stream, q, attention output, SwiGLU
 * activations, attention and argmax partials, counters, the grid barrier), the records of greedy
 * ids in mapped host memory, the launch of a step and the host's wait for a step's ids
 * (rx_cuda_decoder_* of cuda_kernels.h; ops/llama_decoder.c validates the tensors).
 *
 * Why one kernel: a decode step of a small model is ~270 tiny kernels whose launch gaps, not
 * their arithmetic, set the time. Here one block per SM (a cooperative launch: all resident) walks
 * the layers in phases separated by a grid-wide barrier:
 *   P1 rmsnorm + q/k/v projection (+ bias) + rope; q to a buffer, k and v into the caches at slot
 *      (layer 0 also copies the embedding rows of ids into the residual stream x)
 *   P2 attention of each (row, kv head), the keys split over blocks when a row has few units of
 *      work per SM; the last block of a (row, kv head) to finish combines the splits
 *   P3 o projection, x += it
 *   P4 rmsnorm + gate/up projection + SwiGLU
 *   P5 down projection, x += it
 * and after the last layer the final rmsnorm and lm_head: logits written (logits mode) and/or each
 * row's first argmax (greedy mode), combined by the last block to finish, which writes the ids
 * back into `ids` (the next step's input) and into a ring of records in mapped host memory with
 * a completed-step counter that the host polls.
 *
 * Projections (y = a W^T, W (n, k) row-major) are tensor-core products: mma.sync m16n8k16 with
 * f32 accumulation, 16 rows of a per m-tile (1 or 2 m-tiles: up to 32 rows at a time), a unit of
 * work being two 8-column tiles of W (chosen so that rope pairs (j, j + D/2) and SwiGLU pairs
 * (gate j, up j) meet in one thread). A unit's k range is split over 1-8 warps of a block and
 * the partial sums are added in warp order (deterministic). Each lane loads 16 contiguous bytes
 * of a W row and of an a row per 32 k: the dot product is taken over a permutation of k that is
 * the same for both operands, so 16-byte loads feed the fragments directly. A warp's first
 * weights are loaded before the barrier that precedes its phase: weight traffic overlaps the
 * wait. Values written during the kernel by another block are read through L2 (ld.global.cg),
 * never a possibly stale L1 line.
 *
 * Rounding follows the unfused ops: projection outputs are rounded to the storage type T (by the
 * conversion instructions: round to nearest even), rope rounds x1 cos - x2 sin once (fmaf of
 * exact products, as rope_append_kv's double expression rounded to f32 does) with cos and sin
 * from sincosf rounded to T (the tables kernel rounds cos(double) to f32, then to T: equal but for
 * rare ties), SwiGLU is nn_pointwise.cu's expression, residual adds round like the elementwise
 * add, rmsnorm is x * (rstd * w) in f32, logits are lm_head's T output widened to f32. Sums run in
 * other orders than cuBLAS and the attention kernel, so results agree with the op-by-op step to
 * rounding, not bit for bit.
 *
 * Code size seems to matter: every layer walks through the whole kernel again, and the version
 * whose attention unrolled its loops over up to 16 heads (373 KB of machine code, now 252 KB)
 * spent 3x as long in the attention, so the attention's loops over heads are not unrolled. With a trace buffer, thread 0 of block 0
 * stamps four times per phase (docs/benchmarks.md has a table). Today the kernel is slower than
 * the captured 9-kernel graph step at B32 and about even at B1; it is opt-in.
 */
#include "cuda_device.cuh"

#include <cuda_bf16.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <type_traits>

namespace {

constexpr int WARPS = 8;
constexpr int THREADS = WARPS * 32;
constexpr int MAX_BAN = 16;
constexpr int MAX_ROWS = 256;
constexpr int MAX_GROUP = 16;   /* q heads per kv head */
constexpr int RECORDS = 64;     /* greedy steps the host can still read */
constexpr int PHASES = 5;       /* barriers per layer */
constexpr int MAX_SPLITS = 64;  /* blocks one (row, kv head)'s keys are split over */
constexpr int MAX_LEN = MAX_SPLITS * THREADS;

struct layer_ptrs {
    const uint16_t *attn_norm, *qkv_w, *qkv_b, *o_w, *mlp_norm, *gu_w, *down_w;
    uint16_t *cache_k, *cache_v;
};

struct decode_params {
    const layer_ptrs *layers;
    const uint16_t *embed, *final_norm, *lm_head;
    const float *inv_freq;
    int64_t *ids;
    const int64_t *pos;
    uint8_t *key_padding;
    uint16_t *x, *q, *o, *act;
    float *attn_part;
    unsigned long long *argmax_part;
    unsigned *attn_count, *head_count;
    unsigned long long *bar;
    unsigned long long *trace; /* NULL, or 4 times in ns per phase seen by block 0 (see trace_marks) */
    float *logits;
    long long *records;
    volatile long long *done;
    int n_layers, rows, c, heads, kv_heads, d, f, v, len_max;
    float eps, scale;
    long long slot, step, advance;
    unsigned long long bar_base;
    int splits, greedy, n_ban;
    long long ban[MAX_BAN];
};

/* ---- small helpers ------------------------------------------------------------------------ */

template <typename T> __device__ __forceinline__ float to_f(uint16_t h)
{
    if constexpr (std::is_same<T, rx_bf16_t>::value)
        return __uint_as_float((uint32_t)h << 16);
    else
        return __half2float(__ushort_as_half(h));
}
/* Round to nearest even by the conversion instruction (one instruction; finite values give the
 * bits of rx_from_c, NaN payloads are not kept). */
template <typename T> __device__ __forceinline__ uint16_t round_t(float v)
{
    if constexpr (std::is_same<T, rx_bf16_t>::value)
        return __bfloat16_as_ushort(__float2bfloat16_rn(v));
    else
        return __half_as_ushort(__float2half_rn(v));
}

__device__ __forceinline__ uint4 ld_cg(const uint16_t *p) { return __ldcg(reinterpret_cast<const uint4 *>(p)); }
__device__ __forceinline__ uint4 ld_w(const uint16_t *p) { return __ldg(reinterpret_cast<const uint4 *>(p)); }

__device__ __forceinline__ void unpack8(uint4 v, uint16_t out[8])
{
    memcpy(out, &v, 16);
}
__device__ __forceinline__ uint4 pack8(const uint16_t in[8])
{
    uint4 v;
    memcpy(&v, in, 16);
    return v;
}

__device__ __forceinline__ unsigned long long global_ns()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

/* All blocks reach the barrier before any leaves: `target` is the count of arrivals after it.
 * The block's writes are ordered before its arrival by bar.sync and the release of the add
 * (cumulative at gpu scope); the acquire load and the second bar.sync order every later read of
 * the block after all arrivals. */
__device__ __forceinline__ void grid_sync(unsigned long long *bar, unsigned long long target)
{
    __syncthreads();
    if (threadIdx.x == 0) {
        asm volatile("red.release.gpu.global.add.u64 [%0], %1;" ::"l"(bar), "l"(1ULL) : "memory");
        unsigned long long seen;
        do {
            asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(seen) : "l"(bar) : "memory");
        } while (seen < target);
    }
    __syncthreads();
}

/* Whether this block is the last of `total` to call it for the counter (which it then resets). */
__device__ __forceinline__ bool last_to_arrive(unsigned *counter, unsigned total, int *flag)
{
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned prev = atomicAdd(counter, 1u);
        *flag = prev == total - 1;
        if (*flag) *counter = 0;
    }
    __syncthreads();
    if (*flag) __threadfence();
    return *flag;
}

template <typename T>
__device__ __forceinline__ void mma16816(float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1)
{
    if constexpr (std::is_same<T, rx_bf16_t>::value)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* ---- the a operand ---------------------------------------------------------------------------- */

/* Rows of a plain (rows, k) matrix written earlier in the kernel. */
struct a_plain {
    const uint16_t *p;
    int ld;
    template <typename T> __device__ __forceinline__ uint4 load(int row, int k0) const
    {
        return ld_cg(p + (int64_t)row * ld + k0);
    }
};

/* rmsnorm(x) * w of the rows of x (or, for layer 0, of the embedding rows of ids), with the
 * rows' 1/rms in shared memory. */
struct a_normed {
    const uint16_t *x;    /* (rows, ld), or NULL: embedding rows */
    const uint16_t *embed;
    const int64_t *ids;
    const uint16_t *w;
    const float *rstd;
    int ld;
    template <typename T> __device__ __forceinline__ uint4 load(int row, int k0) const
    {
        uint4 raw = x ? ld_cg(x + (int64_t)row * ld + k0) : ld_w(embed + ids[row] * ld + k0);
        uint16_t xs[8], ws[8], out[8];
        unpack8(raw, xs);
        unpack8(ld_w(w + k0), ws);
        float rs = rstd[row];
#pragma unroll
        for (int e = 0; e < 8; e++) out[e] = round_t<T>(to_f<T>(xs[e]) * (rs * to_f<T>(ws[e])));
        return pack8(out);
    }
};

/* 1/rms of each row of x (or of the embedding rows of ids) into rstd (shared). A lane loads its
 * chunks of a row (up to 8 at a time) before using any: one memory round trip per row for C <= 2048. */
template <typename T>
__device__ void row_rstd(const uint16_t *x, const uint16_t *embed, const int64_t *ids, int rows, int c, float eps,
                         float *rstd)
{
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int r = warp; r < rows; r += WARPS) {
        const uint16_t *row = x ? x + (int64_t)r * c : embed + ids[r] * c;
        float ss = 0;
        for (int k0 = lane * 8; k0 < c; k0 += 8 * 256) {
            uint4 v[8];
#pragma unroll
            for (int i = 0; i < 8; i++) {
                int k = k0 + i * 256;
                v[i] = k < c ? (x ? ld_cg(row + k) : ld_w(row + k)) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int i = 0; i < 8; i++) {
                uint16_t xs[8];
                unpack8(v[i], xs);
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    float f = to_f<T>(xs[e]);
                    ss += f * f;
                }
            }
        }
#pragma unroll
        for (int m = 16; m >= 1; m >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, m);
        if (lane == 0) rstd[r] = 1.0f / sqrtf(ss / (float)c + eps);
    }
    __syncthreads();
}

/* ---- projections ------------------------------------------------------------------------------ */

/* A projection phase: `units` units of two 8-column tiles of w (n_out, k) (columns cols.c0(u) and
 * cols.c1(u) + [0, 8)), for `rows` rows of a in groups of 16 * MT. The weights of each warp's
 * first unit are loaded, then wait() runs (the barrier), then prepare() (per-block statistics),
 * then every unit is computed and handed to epi(unit, row0, acc) by the unit's first warp, with
 * acc[m][t][e] the sum of row row0 + 16 m + lane / 4 + 8 (e / 2), column c_t + 2 (lane % 4) + e % 2. */
template <typename T, int MT, typename Cols, typename A, typename Wait, typename Prep, typename Epi>
__device__ void projection(const uint16_t *w, int n_out, int k, int units, int rows, Cols cols, A a, Wait wait,
                           Prep prepare, Epi epi, float *red, unsigned long long *const &tr, bool prefetch = false)
{
    constexpr int PF = MT == 1 ? 6 : 4; /* 32-wide k chunks of weights (and a) a warp holds in registers */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
    const int groups = (rows + 16 * MT - 1) / (16 * MT);
    const int items = units * groups;
    int split = WARPS;
    while (split > 1 && items * split > (int)gridDim.x * WARPS) split >>= 1;
    const int per_block = WARPS / split, ws = warp / split, ks = warp % split;
    const int nk = k / 32;
    const int mine = ks < nk ? (nk - ks + split - 1) / split : 0; /* chunks of this warp */
    const int stride = (int)gridDim.x * per_block;
    const int passes = (items + stride - 1) / stride;

    uint4 wb[PF][2];
    auto load_w = [&](int item, int first) {
        int unit = item % units;
        int c0 = cols.c0(unit) + g, c1 = cols.c1(unit) + g;
#pragma unroll
        for (int i = 0; i < PF; i++) {
            int kc = ks + (first + i) * split;
            if (first + i < mine) {
                int64_t off = (int64_t)kc * 32 + q * 8;
                wb[i][0] = c0 < n_out ? ld_w(w + (int64_t)c0 * k + off) : make_uint4(0, 0, 0, 0);
                wb[i][1] = c1 < n_out ? ld_w(w + (int64_t)c1 * k + off) : make_uint4(0, 0, 0, 0);
            }
        }
    };
    /* with several passes, the block's rows of the next pass are prefetched into L2 (one bulk
     * request) while this pass runs: its units are per_block consecutive pair_cols-style units */
    auto prefetch_pass = [&](int pass) {
        if (!prefetch || threadIdx.x != 0 || pass >= passes) return;
        int first_item = (pass * (int)gridDim.x + (int)blockIdx.x) * per_block;
        if (first_item >= items) return;
        int u0 = first_item % units, u1 = min(u0 + per_block, units);
        const uint16_t *from = w + (int64_t)cols.c0(u0) * k;
        int64_t rows_n = min((int64_t)cols.c0(u1 - 1) + 16, (int64_t)n_out) - cols.c0(u0);
        unsigned bytes = (unsigned)(rows_n * k * 2);
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(from), "r"(bytes) : "memory");
    };
    int item = (int)blockIdx.x * per_block + ws;
    prefetch_pass(1);
    if (item < items) load_w(item, 0);
    wait();
    prepare();
    if (tr) tr[1] = global_ns();
    for (int pass = 0; pass < passes; pass++, item += stride) {
        if (pass > 0) prefetch_pass(pass + 1);
        float acc[MT][2][4];
#pragma unroll
        for (int m = 0; m < MT; m++)
#pragma unroll
            for (int t = 0; t < 2; t++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[m][t][e] = 0.f;
        const bool live = item < items;
        const int row0 = live ? (item / units) * 16 * MT : 0;
        if (live) {
            if (pass > 0) load_w(item, 0);
            for (int first = 0; first < mine; first += PF) {
                if (first > 0) load_w(item, first);
                uint4 av[PF][MT][2];
#pragma unroll
                for (int i = 0; i < PF; i++) {
                    if (first + i < mine) {
                        int k0 = (ks + (first + i) * split) * 32 + q * 8;
#pragma unroll
                        for (int m = 0; m < MT; m++) {
                            int r0 = row0 + m * 16 + g, r1 = r0 + 8;
                            av[i][m][0] = r0 < rows ? a.template load<T>(r0, k0) : make_uint4(0, 0, 0, 0);
                            av[i][m][1] = r1 < rows ? a.template load<T>(r1, k0) : make_uint4(0, 0, 0, 0);
                        }
                    }
                }
#pragma unroll
                for (int i = 0; i < PF; i++) {
                    if (first + i < mine) {
#pragma unroll
                        for (int m = 0; m < MT; m++)
#pragma unroll
                            for (int t = 0; t < 2; t++) {
                                const uint4 lo = av[i][m][0], hi = av[i][m][1], b = wb[i][t];
                                mma16816<T>(acc[m][t], lo.x, hi.x, lo.y, hi.y, b.x, b.y);
                                mma16816<T>(acc[m][t], lo.z, hi.z, lo.w, hi.w, b.z, b.w);
                            }
                    }
                }
            }
        }
        if (tr && pass == 0) tr[2] = global_ns();
        if (split > 1) { /* partial sums of the unit's other warps, added in warp order */
            float *mine_red = red + (size_t)warp * MT * 8 * 32;
            if (ks != 0) {
#pragma unroll
                for (int m = 0; m < MT; m++)
#pragma unroll
                    for (int t = 0; t < 2; t++)
#pragma unroll
                        for (int e = 0; e < 4; e++) mine_red[((m * 2 + t) * 4 + e) * 32 + lane] = acc[m][t][e];
            }
            __syncthreads();
            if (ks == 0) {
                for (int s = 1; s < split; s++) {
                    const float *other = red + (size_t)(warp + s) * MT * 8 * 32;
#pragma unroll
                    for (int m = 0; m < MT; m++)
#pragma unroll
                        for (int t = 0; t < 2; t++)
#pragma unroll
                            for (int e = 0; e < 4; e++) acc[m][t][e] += other[((m * 2 + t) * 4 + e) * 32 + lane];
                }
            }
            __syncthreads();
        }
        if (live && ks == 0) epi(item % units, row0, acc);
    }
    if (tr) tr[3] = global_ns();
}

/* Column maps of the projections' units (two 8-column tiles each). */
struct qkv_cols { /* q, k heads: the rope pairs (j, j + D/2); v heads: 16 consecutive columns */
    int per_head, rope_heads, half, d;
    __device__ int c0(int u) const
    {
        int hh = u / per_head, i = u % per_head;
        return hh * d + (hh < rope_heads ? 8 * i : 16 * i);
    }
    __device__ int c1(int u) const { return c0(u) + (u / per_head < rope_heads ? half : 8); }
};
struct pair_cols { /* 16 consecutive columns */
    __device__ int c0(int u) const { return 16 * u; }
    __device__ int c1(int u) const { return 16 * u + 8; }
};
struct gu_cols { /* gate column j and up column F + j */
    int f;
    __device__ int c0(int u) const { return 8 * u; }
    __device__ int c1(int u) const { return f + 8 * u; }
};

/* Calls f(m, row, col offset in the tile (0..7), e) for the rows < rows of a unit's accumulators. */
template <int MT, typename F> __device__ __forceinline__ void each_element(int row0, int rows, F f)
{
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
#pragma unroll
    for (int m = 0; m < MT; m++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int row = row0 + m * 16 + g + (e / 2) * 8;
            if (row < rows) f(m, row, q * 2 + (e % 2), e);
        }
}

/* ---- attention ---------------------------------------------------------------------------------- */

/* Softmax attention of one (row, kv head, split of the visible keys): the R = H/G q heads of the
 * kv head against keys [s0, s1), one key per thread (its row loaded whole, 64 elements at a
 * time), scores and probabilities in shared memory; then p v with each thread on one (head,
 * d pair) and one group of keys. With one split the output is written; otherwise the split's
 * max, sum and unnormalised output go to attn_part and the last split to finish combines them in
 * split order. Loops over heads are not unrolled: the kernel's code must stay small enough for
 * the instruction cache, which every layer walks through again. */
template <typename T>
__device__ __forceinline__ void attention_unit(const decode_params &p, const layer_ptrs &lp, int unit, float *sm,
                                              unsigned long long *tr)
{
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int H = p.heads, G = p.kv_heads, D = p.d, R = H / G, L = p.len_max;
    const int sp = unit % p.splits, bg = unit / p.splits, b = bg / G, g = bg % G;
    const int len = (int)p.slot + 1, chunk = (len + p.splits - 1) / p.splits;
    const int s0 = sp * chunk, s1 = min(len, s0 + chunk), n = max(s1 - s0, 0);
    float *qs = sm;                          /* (R, D) */
    float *ps = qs + MAX_GROUP * 128;        /* (R, THREADS): scores, then probabilities */
    float *acc_s = ps + MAX_GROUP * THREADS; /* (groups, R, D) */
    float *red = acc_s + MAX_GROUP * 512;    /* (WARPS, R) */
    float *mx = red + WARPS * MAX_GROUP, *sum = mx + MAX_GROUP;
    __shared__ int last;

    for (int i = tid; i < R * D; i += THREADS) qs[i] = to_f<T>(__ldcg(p.q + ((int64_t)b * H + g * R) * D + i));
    __syncthreads();
    const int s = s0 + tid;
    const bool valid = tid < n && __ldcg(p.key_padding + (int64_t)b * L + s) != 0;
    const uint16_t *krow = lp.cache_k + (((int64_t)b * G + g) * L + s) * D;
    for (int h0 = 0; h0 < D; h0 += 64) {
        uint4 kv[8];
#pragma unroll
        for (int i = 0; i < 8; i++) kv[i] = valid && h0 + i * 8 < D ? ld_cg(krow + h0 + i * 8) : make_uint4(0, 0, 0, 0);
        const int width = min(64, D - h0);
#pragma unroll 1
        for (int r = 0; r < R; r++) {
            const float *qr = qs + r * D + h0;
            float dot = 0.f;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                if (i * 8 < width) {
                    uint16_t ks[8];
                    unpack8(kv[i], ks);
#pragma unroll
                    for (int e = 0; e < 8; e++) dot += qr[i * 8 + e] * to_f<T>(ks[e]);
                }
            }
            ps[r * THREADS + tid] = (h0 == 0 ? 0.f : ps[r * THREADS + tid]) + dot;
        }
    }
    /* softmax over the keys of each head: the max, then exp and the sum */
#pragma unroll 1
    for (int r = 0; r < R; r++) {
        float v = valid ? ps[r * THREADS + tid] * p.scale : -INFINITY;
        ps[r * THREADS + tid] = v;
#pragma unroll
        for (int m = 16; m >= 1; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
        if (lane == 0) red[warp * MAX_GROUP + r] = v;
    }
    __syncthreads();
    if (tid < R) {
        float v = -INFINITY;
        for (int w = 0; w < WARPS; w++) v = fmaxf(v, red[w * MAX_GROUP + tid]);
        mx[tid] = v;
    }
    __syncthreads();
#pragma unroll 1
    for (int r = 0; r < R; r++) {
        float e = valid ? expf(ps[r * THREADS + tid] - mx[r]) : 0.f;
        ps[r * THREADS + tid] = e;
#pragma unroll
        for (int m = 16; m >= 1; m >>= 1) e += __shfl_xor_sync(0xffffffffu, e, m);
        if (lane == 0) red[warp * MAX_GROUP + r] = e;
    }
    __syncthreads();
    if (tid < R) {
        float v = 0.f;
        for (int w = 0; w < WARPS; w++) v += red[w * MAX_GROUP + tid];
        sum[tid] = v;
    }
    if (tr) tr[1] = global_ns();
    /* p v: job = (group, head, d pair); a group takes keys group, group + groups, ... */
    const int rp = R * D / 2, groups = max(1, THREADS / rp);
    for (int job = tid; job < rp * groups; job += THREADS) {
        const int pr = job % rp, grp = job / rp, r = pr / (D / 2), dp = pr % (D / 2);
        const uint16_t *vbase = lp.cache_v + (((int64_t)b * G + g) * L + s0) * D + 2 * dp;
        const float *pr_row = ps + r * THREADS;
        float o0 = 0.f, o1 = 0.f;
        for (int i0 = grp; i0 < n; i0 += 8 * groups) { /* 8 keys' values in flight at once */
            unsigned vv[8];
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int i = i0 + j * groups;
                vv[j] = i < n ? __ldcg(reinterpret_cast<const unsigned *>(vbase + (int64_t)i * D)) : 0u;
            }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int i = i0 + j * groups;
                float pv = i < n ? pr_row[i] : 0.f;
                o0 += pv * to_f<T>((uint16_t)(vv[j] & 0xffffu));
                o1 += pv * to_f<T>((uint16_t)(vv[j] >> 16));
            }
        }
        acc_s[(grp * R + r) * D + 2 * dp] = o0;
        acc_s[(grp * R + r) * D + 2 * dp + 1] = o1;
    }
    __syncthreads();
    if (tr) tr[2] = global_ns();
    float *part = p.attn_part + (int64_t)unit * R * (D + 2);
    for (int i = tid; i < R * D; i += THREADS) {
        int r = i / D, dd = i % D;
        float a = 0.f;
        for (int gi = 0; gi < groups; gi++) a += acc_s[(gi * R + r) * D + dd];
        if (p.splits == 1)
            p.o[((int64_t)b * H + g * R + r) * D + dd] = round_t<T>(a / sum[r]);
        else
            part[r * (D + 2) + 2 + dd] = a;
    }
    if (p.splits == 1) {
        __syncthreads();
        return;
    }
    if (tid < R) {
        part[tid * (D + 2)] = mx[tid];
        part[tid * (D + 2) + 1] = sum[tid];
    }
    if (!last_to_arrive(p.attn_count + bg, (unsigned)p.splits, &last)) return;
    /* the splits' (max, sum) pairs into shared memory (ps is free now), then each output element
     * sums the splits' partial outputs in split order, all loads of a batch of 8 in flight */
    const float *parts = p.attn_part + (int64_t)bg * p.splits * R * (D + 2);
    float *stat = ps; /* (splits, R, 2) */
    for (int i = tid; i < p.splits * R * 2; i += THREADS) stat[i] = __ldcg(parts + (int64_t)(i / 2) * (D + 2) + i % 2);
    __syncthreads();
    for (int i = tid; i < R * D; i += THREADS) {
        int r = i / D, dd = i % D;
        float m = -INFINITY;
        for (int k = 0; k < p.splits; k++) m = fmaxf(m, stat[(k * R + r) * 2]);
        float tot = 0.f, a = 0.f;
        for (int k0 = 0; k0 < p.splits; k0 += 8) {
            float av[8];
#pragma unroll
            for (int j = 0; j < 8; j++)
                av[j] = k0 + j < p.splits ? __ldcg(parts + ((int64_t)(k0 + j) * R + r) * (D + 2) + 2 + dd) : 0.f;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int k = k0 + j;
                if (k >= p.splits) break;
                float mk = stat[(k * R + r) * 2];
                if (mk == -INFINITY) continue;
                float wgt = expf(mk - m);
                tot += stat[(k * R + r) * 2 + 1] * wgt;
                a += av[j] * wgt;
            }
        }
        p.o[((int64_t)b * H + g * R + r) * D + dd] = round_t<T>(a / tot);
    }
    __syncthreads();
}

/* ---- argmax keys ------------------------------------------------------------------------------- */

/* A 64-bit key whose unsigned order is (value, then lower column first); NaN beats everything. */
__device__ __forceinline__ unsigned long long argmax_key(float v, int col)
{
    unsigned u = __float_as_uint(v);
    unsigned ku = isnan(v) ? 0xffffffffu : ((u & 0x80000000u) ? ~u : (u | 0x80000000u));
    return ((unsigned long long)ku << 32) | (unsigned long long)(0xffffffffu - (unsigned)col);
}

/* ---- the kernel ---------------------------------------------------------------------------------- */

template <typename T, int MT> __global__ void __launch_bounds__(THREADS, 1) decode_kernel(const decode_params p)
{
    extern __shared__ float sm[];
    __shared__ float rstd[MAX_ROWS];
    __shared__ unsigned long long best[MAX_ROWS];
    __shared__ int last;
    const int N = p.rows, C = p.c, H = p.heads, G = p.kv_heads, D = p.d, F = p.f, L = p.len_max;
    const int tid = threadIdx.x;
    unsigned long long barrier_no = 0;
    /* trace: thread 0 of block 0 stamps each phase's start, end of prepare, end of the math and end */
    unsigned long long *tr = p.trace && blockIdx.x == 0 && tid == 0 ? p.trace : nullptr;
    if (tr) tr[0] = global_ns();
    auto sync_all = [&]() {
        grid_sync(p.bar, p.bar_base + (++barrier_no) * gridDim.x);
        if (tr) {
            tr = p.trace + 4 * barrier_no;
            tr[0] = global_ns();
        }
    };
    auto no_wait = []() {};

    for (int l = 0; l < p.n_layers; l++) {
        const layer_ptrs lp = p.layers[l];
        const bool first = l == 0;
        /* P1: x = embedding (layer 0); h = rmsnorm(x); q, k, v = h Wqkv^T (+ b), rope on q and k */
        {
            const int per_head = D / 16, nh = H + 2 * G;
            const qkv_cols cols{per_head, H + G, D / 2, D};
            a_normed a{first ? nullptr : p.x, p.embed, p.ids, lp.attn_norm, rstd, C};
            auto wait = [&]() {
                if (!first) sync_all();
            };
            auto prep = [&]() {
                if (first) { /* the embedding rows become the residual stream */
                    for (int64_t i = (int64_t)blockIdx.x * THREADS + tid; i < (int64_t)N * C / 8;
                         i += (int64_t)gridDim.x * THREADS) {
                        int64_t r = i / (C / 8), k = (i % (C / 8)) * 8;
                        *reinterpret_cast<uint4 *>(p.x + r * C + k) = ld_w(p.embed + p.ids[r] * C + k);
                    }
                }
                if (blockIdx.x == 0)
                    for (int r = tid; r < N; r += THREADS) p.key_padding[(int64_t)r * L + p.slot] = 1;
                row_rstd<T>(first ? nullptr : p.x, p.embed, p.ids, N, C, p.eps, rstd);
            };
            auto epi = [&](int u, int row0, float (&acc)[MT][2][4]) {
                const int hh = u / per_head, c0 = cols.c0(u), c1 = cols.c1(u);
                each_element<MT>(row0, N, [&](int m, int row, int cc, int e) {
                    float y0 = acc[m][0][e], y1 = acc[m][1][e];
                    if (lp.qkv_b) {
                        y0 += to_f<T>(lp.qkv_b[c0 + cc]);
                        y1 += to_f<T>(lp.qkv_b[c1 + cc]);
                    }
                    uint16_t r0 = round_t<T>(y0), r1 = round_t<T>(y1);
                    if (hh < H + G) {
                        const int j = c0 - hh * D + cc;
                        float angle = __fmul_rn((float)(p.pos[row] + p.advance), p.inv_freq[j]), cf, sf;
                        sincosf(angle, &sf, &cf);
                        /* products of two T values are exact in f32, so fmaf rounds x1 cs - x2 sn once,
                         * as the double expression rounded to f32 does */
                        float cs = to_f<T>(round_t<T>(cf)), sn = to_f<T>(round_t<T>(sf));
                        float x1 = to_f<T>(r0), x2 = to_f<T>(r1);
                        uint16_t o1 = round_t<T>(fmaf(x1, cs, -(x2 * sn)));
                        uint16_t o2 = round_t<T>(fmaf(x2, cs, x1 * sn));
                        uint16_t *dst = hh < H ? p.q + ((int64_t)row * H + hh) * D
                                               : lp.cache_k + (((int64_t)row * G + hh - H) * L + p.slot) * D;
                        dst[j] = o1;
                        dst[j + D / 2] = o2;
                    } else {
                        uint16_t *dst = lp.cache_v + (((int64_t)row * G + hh - H - G) * L + p.slot) * D;
                        dst[c0 - hh * D + cc] = r0;
                        dst[c1 - hh * D + cc] = r1;
                    }
                });
            };
            projection<T, MT>(lp.qkv_w, nh * D, C, nh * per_head, N, cols, a, wait, prep, epi, sm, tr);
        }
        /* P2: attention */
        sync_all();
        for (int u = blockIdx.x; u < N * G * p.splits; u += gridDim.x) attention_unit<T>(p, lp, u, sm, tr);
        if (tr) tr[3] = global_ns();
        /* P3: x += o Wo^T */
        auto residual = [&](int u, int row0, float (&acc)[MT][2][4]) {
            each_element<MT>(row0, N, [&](int m, int row, int cc, int e) {
#pragma unroll
                for (int t = 0; t < 2; t++) {
                    uint16_t *xp = p.x + (int64_t)row * C + 16 * u + 8 * t + cc;
                    float y = to_f<T>(round_t<T>(acc[m][t][e]));
                    *xp = round_t<T>(to_f<T>(__ldcg(xp)) + y);
                }
            });
        };
        auto sync_wait = [&]() { sync_all(); };
        projection<T, MT>(lp.o_w, C, H * D, C / 16, N, pair_cols{}, a_plain{p.o, H * D}, sync_wait, no_wait, residual,
                          sm, tr);
        /* P4: act = swiglu(rmsnorm(x) Wgu^T) */
        {
            a_normed a{p.x, p.embed, p.ids, lp.mlp_norm, rstd, C};
            auto prep = [&]() { row_rstd<T>(p.x, p.embed, p.ids, N, C, p.eps, rstd); };
            auto epi = [&](int u, int row0, float (&acc)[MT][2][4]) {
                each_element<MT>(row0, N, [&](int m, int row, int cc, int e) {
                    float gt = to_f<T>(round_t<T>(acc[m][0][e])), up = to_f<T>(round_t<T>(acc[m][1][e]));
                    float sg = gt >= 0.f ? 1.f / (1.f + expf(-gt)) : expf(gt) / (1.f + expf(gt));
                    p.act[(int64_t)row * F + 8 * u + cc] = round_t<T>(gt * sg * up);
                });
            };
            projection<T, MT>(lp.gu_w, 2 * F, C, F / 8, N, gu_cols{F}, a, sync_wait, prep, epi, sm, tr);
        }
        /* P5: x += act Wdown^T */
        projection<T, MT>(lp.down_w, C, F, C / 16, N, pair_cols{}, a_plain{p.act, F}, sync_wait, no_wait, residual,
                          sm, tr);
    }

    /* the head: logits = rmsnorm(x) W_lm^T, then the greedy argmax of each row */
    {
        const int V = p.v;
        a_normed a{p.x, p.embed, p.ids, p.final_norm, rstd, C};
        auto wait = [&]() { sync_all(); };
        auto prep = [&]() {
            for (int r = tid; r < N; r += THREADS) best[r] = 0ull;
            row_rstd<T>(p.x, p.embed, p.ids, N, C, p.eps, rstd);
        };
        auto epi = [&](int u, int row0, float (&acc)[MT][2][4]) {
            each_element<MT>(row0, N, [&](int m, int row, int cc, int e) {
                unsigned long long key = 0ull;
#pragma unroll
                for (int t = 0; t < 2; t++) {
                    int col = 16 * u + 8 * t + cc;
                    if (col >= V) continue;
                    float y = to_f<T>(round_t<T>(acc[m][t][e]));
                    if (p.logits) p.logits[(int64_t)row * V + col] = y;
                    if (p.greedy) {
                        bool banned = false;
                        for (int i = 0; i < p.n_ban; i++) banned |= p.ban[i] == col;
                        if (!banned) key = max(key, argmax_key(y, col));
                    }
                }
                if (p.greedy && key) atomicMax(&best[row], key);
            });
        };
        projection<T, MT>(p.lm_head, V, C, (V + 15) / 16, N, pair_cols{}, a, wait, prep, epi, sm, tr, true);
        if (tr) __threadfence_system();
        if (!p.greedy) return;
        __syncthreads();
        for (int r = tid; r < N; r += THREADS) p.argmax_part[(int64_t)blockIdx.x * N + r] = best[r];
        if (!last_to_arrive(p.head_count, gridDim.x, &last)) return;
        for (int r = tid; r < N; r += THREADS) {
            unsigned long long k = 0ull;
            for (unsigned b = 0; b < gridDim.x; b++) k = max(k, __ldcg(p.argmax_part + (int64_t)b * N + r));
            long long id = (long long)(0xffffffffu - (unsigned)(k & 0xffffffffull));
            p.ids[r] = id;
            p.records[(p.step % RECORDS) * N + r] = id;
        }
        __threadfence_system();
        __syncthreads();
        if (tid == 0) *p.done = p.step + 1;
    }
}

/* Dynamic shared memory: the larger of the projections' partial sums and attention's buffers. */
constexpr size_t SMEM_BYTES =
    sizeof(float) * (MAX_GROUP * 128 + MAX_GROUP * THREADS + MAX_GROUP * 512 + WARPS * MAX_GROUP + 2 * MAX_GROUP);
static_assert(SMEM_BYTES >= sizeof(float) * WARPS * 2 * 8 * 32, "projection partials fit");

} // namespace

/* ---- host side ---------------------------------------------------------------------------------- */

struct rx_cuda_decoder {
    int device;
    int bf16;
    rx_cuda_ctx *ctx;
    int blocks;
    decode_params p;      /* the per-launch fields are set by each step */
    int64_t steps;        /* queued */
    void *buffers[9];
    int64_t sizes[9];
    long long *records;   /* mapped host: RECORDS * rows */
    long long *done_host; /* mapped host */
    unsigned long long *trace_host; /* mapped host, or NULL */
    unsigned char greedy_ring[RECORDS]; /* whether step i % RECORDS was greedy */
};

static rx_status decoder_alloc(rx_cuda_decoder *d, int i, int64_t bytes, void **out)
{
    d->sizes[i] = bytes < 16 ? 16 : bytes;
    RX_TRY(rx_cuda_alloc(d->sizes[i], d->device, &d->buffers[i]));
    *out = d->buffers[i];
    return RX_OK;
}

template <typename T, int MT> static void *kernel_of() { return (void *)decode_kernel<T, MT>; }

static void *pick_kernel(int bf16, int64_t rows)
{
    int mt2 = rows > 16;
    if (bf16) return mt2 ? kernel_of<rx_bf16_t, 2>() : kernel_of<rx_bf16_t, 1>();
    return mt2 ? kernel_of<rx_f16_t, 2>() : kernel_of<rx_f16_t, 1>();
}

void rx_cuda_decoder_free(rx_cuda_decoder *d)
{
    if (!d) return;
    rx_cuda_ctx *ctx;
    if (rx_cuda_enter(d->device, &ctx) == RX_OK) cudaStreamSynchronize(ctx->stream);
    for (int i = 0; i < 9; i++)
        if (d->buffers[i]) rx_cuda_free(d->buffers[i], d->sizes[i], d->device);
    if (d->records) cudaFreeHost(d->records);
    if (d->done_host) cudaFreeHost(d->done_host);
    if (d->trace_host) cudaFreeHost(d->trace_host);
    free(d);
}

rx_status rx_cuda_decoder_new(const rx_cuda_decoder_desc *desc, rx_cuda_decoder **out)
{
    *out = NULL;
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(desc->device, &ctx));
    RX_TRY(rx_cuda_refuse_in_capture(desc->device, "creating a llama decoder"));
    const int64_t N = desc->rows, C = desc->hidden, H = desc->heads, G = desc->kv_heads, D = desc->head_dim,
                  F = desc->ffn, V = desc->vocab, L = desc->max_len, nl = desc->layers;
    if (N > MAX_ROWS)
        return rx_fail(RX_ERR_UNSUPPORTED, "llama decoder: %lld rows, the kernel takes at most %d", (long long)N, MAX_ROWS);
    if (H / G > MAX_GROUP)
        return rx_fail(RX_ERR_UNSUPPORTED, "llama decoder: %lld q heads per kv head, the kernel takes at most %d",
                       (long long)(H / G), MAX_GROUP);
    if (D % 16 || D > 128)
        return rx_fail(RX_ERR_UNSUPPORTED, "llama decoder: head dim %lld, the kernel takes multiples of 16 up to 128",
                       (long long)D);
    if (C % 32 || F % 32 || (H * D) % 32)
        return rx_fail(RX_ERR_UNSUPPORTED,
                       "llama decoder: hidden %lld, MLP width %lld and heads * head dim %lld must be multiples of 32",
                       (long long)C, (long long)F, (long long)(H * D));
    if (V % 8)
        return rx_fail(RX_ERR_UNSUPPORTED, "llama decoder: vocabulary %lld is not a multiple of 8", (long long)V);
    if (L > MAX_LEN)
        return rx_fail(RX_ERR_UNSUPPORTED, "llama decoder: %lld cache positions, the kernel takes at most %d",
                       (long long)L, MAX_LEN);

    rx_cuda_decoder *d = (rx_cuda_decoder *)calloc(1, sizeof *d);
    if (!d) return rx_fail(RX_ERR_NOMEM, "llama decoder: out of host memory");
    d->device = desc->device;
    d->bf16 = desc->bf16;
    d->ctx = ctx;
    rx_status st = RX_OK;
    int per_sm = 0;
    void *kernel = pick_kernel(desc->bf16, N);
#define TRY(call)                   \
    do {                            \
        st = (call);                \
        if (st != RX_OK) goto fail; \
    } while (0)
    TRY(RX_CUDA_STATUS(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SMEM_BYTES)));
    TRY(RX_CUDA_STATUS(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, THREADS, SMEM_BYTES)));
    if (per_sm < 1) {
        st = rx_fail(RX_ERR_UNSUPPORTED, "llama decoder: the kernel does not fit on an SM of cuda:%d", d->device);
        goto fail;
    }
    d->blocks = ctx->sm_count;
    {
        /* splits of the keys: enough units to fill the SMs, at most THREADS keys each */
        decode_params &p = d->p;
        void *buf;
        TRY(decoder_alloc(d, 0, nl * (int64_t)sizeof(layer_ptrs), &buf));
        p.layers = (const layer_ptrs *)buf;
        TRY(decoder_alloc(d, 1, N * C * 2, &buf));
        p.x = (uint16_t *)buf;
        TRY(decoder_alloc(d, 2, N * H * D * 2, &buf));
        p.q = (uint16_t *)buf;
        TRY(decoder_alloc(d, 3, N * H * D * 2, &buf));
        p.o = (uint16_t *)buf;
        TRY(decoder_alloc(d, 4, N * F * 2, &buf));
        p.act = (uint16_t *)buf;
        TRY(decoder_alloc(d, 5, N * G * MAX_SPLITS * (H / G) * (D + 2) * 4, &buf));
        p.attn_part = (float *)buf;
        TRY(decoder_alloc(d, 6, (int64_t)d->blocks * N * 8, &buf));
        p.argmax_part = (unsigned long long *)buf;
        TRY(decoder_alloc(d, 7, (N * G + 1) * 4, &buf));
        p.attn_count = (unsigned *)buf;
        p.head_count = p.attn_count + N * G;
        TRY(decoder_alloc(d, 8, 16, &buf));
        p.bar = (unsigned long long *)buf;
        TRY(RX_CUDA_STATUS(cudaMemsetAsync(p.attn_count, 0, (size_t)(N * G + 1) * 4, ctx->stream)));
        TRY(RX_CUDA_STATUS(cudaMemsetAsync(p.bar, 0, 16, ctx->stream)));
        layer_ptrs *host = (layer_ptrs *)malloc((size_t)nl * sizeof(layer_ptrs));
        if (!host) {
            st = rx_fail(RX_ERR_NOMEM, "llama decoder: out of host memory");
            goto fail;
        }
        for (int64_t l = 0; l < nl; l++) {
            const void *const *t = desc->layer + l * RX_LLAMA_LAYER_TENSORS;
            host[l] = layer_ptrs{(const uint16_t *)t[RX_LLAMA_ATTN_NORM], (const uint16_t *)t[RX_LLAMA_QKV_W],
                                 (const uint16_t *)t[RX_LLAMA_QKV_B],     (const uint16_t *)t[RX_LLAMA_O_W],
                                 (const uint16_t *)t[RX_LLAMA_MLP_NORM],  (const uint16_t *)t[RX_LLAMA_GU_W],
                                 (const uint16_t *)t[RX_LLAMA_DOWN_W],    (uint16_t *)t[RX_LLAMA_CACHE_K],
                                 (uint16_t *)t[RX_LLAMA_CACHE_V]};
        }
        st = RX_CUDA_STATUS(cudaMemcpy((void *)p.layers, host, (size_t)nl * sizeof(layer_ptrs), cudaMemcpyHostToDevice));
        free(host);
        if (st != RX_OK) goto fail;
        void *mapped;
        TRY(RX_CUDA_STATUS(cudaHostAlloc(&mapped, (size_t)RECORDS * N * sizeof(long long), cudaHostAllocMapped)));
        d->records = (long long *)mapped;
        TRY(RX_CUDA_STATUS(cudaHostAlloc(&mapped, sizeof(long long), cudaHostAllocMapped)));
        d->done_host = (long long *)mapped;
        *d->done_host = 0;
        TRY(RX_CUDA_STATUS(cudaHostGetDevicePointer((void **)&p.records, d->records, 0)));
        void *done_dev;
        TRY(RX_CUDA_STATUS(cudaHostGetDevicePointer(&done_dev, d->done_host, 0)));
        p.done = (volatile long long *)done_dev;
        if (desc->trace) {
            size_t n = (size_t)4 * (PHASES * nl + 1) * sizeof(unsigned long long);
            TRY(RX_CUDA_STATUS(cudaHostAlloc(&mapped, n, cudaHostAllocMapped)));
            d->trace_host = (unsigned long long *)mapped;
            memset(mapped, 0, n);
            void *trace_dev;
            TRY(RX_CUDA_STATUS(cudaHostGetDevicePointer(&trace_dev, d->trace_host, 0)));
            p.trace = (unsigned long long *)trace_dev;
        }
        p.embed = (const uint16_t *)desc->embed;
        p.final_norm = (const uint16_t *)desc->final_norm;
        p.lm_head = (const uint16_t *)desc->lm_head;
        p.inv_freq = desc->inv_freq;
        p.ids = desc->ids;
        p.pos = desc->positions;
        p.key_padding = desc->key_padding;
        p.n_layers = (int)nl;
        p.rows = (int)N;
        p.c = (int)C;
        p.heads = (int)H;
        p.kv_heads = (int)G;
        p.d = (int)D;
        p.f = (int)F;
        p.v = (int)V;
        p.len_max = (int)L;
        p.eps = (float)desc->rms_eps;
        p.scale = (float)(1.0 / sqrt((double)D));
        p.slot = desc->slot;
    }
#undef TRY
    *out = d;
    return RX_OK;
fail:
    rx_cuda_decoder_free(d);
    return st;
}

rx_status rx_cuda_decoder_step(rx_cuda_decoder *d, float *logits, int greedy, const int64_t *ban, int n_ban)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(d->device, &ctx));
    RX_TRY(rx_cuda_refuse_in_capture(d->device, "a llama decoder step"));
    if (n_ban < 0 || n_ban > MAX_BAN)
        return rx_fail(RX_ERR_ARG, "llama decoder: step: %d banned ids, at most %d", n_ban, MAX_BAN);
    decode_params p = d->p;
    p.slot = d->p.slot + d->steps;
    p.advance = d->steps;
    p.step = d->steps;
    p.logits = logits;
    p.greedy = greedy != 0;
    p.n_ban = greedy ? n_ban : 0;
    for (int i = 0; i < p.n_ban; i++) p.ban[i] = ban[i];
    p.bar_base = (unsigned long long)d->steps * (unsigned long long)(PHASES * p.n_layers) * (unsigned)d->blocks;
    /* splits of each (row, kv head)'s keys: fill the SMs, but keep >= 32 keys per split */
    int64_t len = p.slot + 1, units = (int64_t)p.rows * p.kv_heads;
    int64_t splits = (d->blocks + units - 1) / units, by_keys = (len + 31) / 32, need = (len + THREADS - 1) / THREADS;
    if (splits > by_keys) splits = by_keys;
    if (splits < need) splits = need;
    if (splits > MAX_SPLITS) splits = MAX_SPLITS;
    p.splits = (int)splits;
    void *args[] = {&p};
    RX_CUDA_CHECK(cudaLaunchCooperativeKernel(pick_kernel(d->bf16, p.rows), dim3(d->blocks), dim3(THREADS), args,
                                              SMEM_BYTES, ctx->stream));
    d->greedy_ring[d->steps % RECORDS] = (unsigned char)p.greedy;
    d->steps++;
    return RX_OK;
}

rx_status rx_cuda_decoder_wait(rx_cuda_decoder *d, int64_t step, int64_t *out)
{
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(d->device, &ctx));
    if (step < 0 || step >= d->steps)
        return rx_fail(RX_ERR_ARG, "llama decoder: wait: step %lld was not queued (%lld steps so far)", (long long)step,
                       (long long)d->steps);
    if (step < d->steps - RECORDS)
        return rx_fail(RX_ERR_ARG, "llama decoder: wait: step %lld is older than the last %d steps", (long long)step,
                       RECORDS);
    if (!d->greedy_ring[step % RECORDS])
        return rx_fail(RX_ERR_ARG, "llama decoder: wait: step %lld recorded no ids (it was not a greedy step)",
                       (long long)step);
    volatile long long *done = d->done_host;
    for (long spins = 0; *done <= step; spins++) {
        if (spins % 1024 != 1023) continue;
        cudaError_t e = cudaStreamQuery(ctx->stream);
        if (e == cudaErrorNotReady) {
            sched_yield();
            continue;
        }
        if (e != cudaSuccess) return RX_CUDA_STATUS(e);
        if (*done <= step) /* idle stream, no record: cannot happen unless the kernel misbehaved */
            return rx_fail(RX_ERR_DEVICE, "llama decoder: wait: step %lld finished without recording its ids",
                           (long long)step);
    }
    __sync_synchronize();
    const volatile long long *rec = d->records + (step % RECORDS) * d->p.rows;
    for (int r = 0; r < d->p.rows; r++) out[r] = rec[r];
    return RX_OK;
}

int rx_cuda_decoder_trace(const rx_cuda_decoder *d, double *us, int n)
{
    if (!d->trace_host) return 0;
    const int phases = PHASES * d->p.n_layers + 1;
    if (n > 4 * phases) n = 4 * phases;
    const volatile unsigned long long *t = d->trace_host;
    for (int i = 0; i < n; i++) {
        int ph = i / 4, k = i % 4;
        unsigned long long a = t[4 * ph + k], b = k < 3 ? t[4 * ph + k + 1] : (ph + 1 < phases ? t[4 * (ph + 1)] : a);
        us[i] = (double)(long long)(b - a) * 1e-3;
    }
    return n;
}
