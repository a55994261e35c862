/* backend.h — the private table of kernels each device provides (CPU now, CUDA later).
 *
 * Owns: the contract between ops/ (argument checks, dtype rules, output allocation, broadcasting,
 * moving the worked-on dim last) and the device kernels in cpu/ and cuda/. The ops layer hands a
 * kernel tensors that already satisfy the contract written beside each entry; kernels only
 * compute. Kernels return RX_OK or an error status with a message (e.g. an interrupt).
 *
 * Shapes in the comments: "same shape" means identical shape arrays; inputs may have any strides
 * (including 0 from expand) unless the entry says "contiguous". Outputs made by ops/ are
 * contiguous unless the entry says otherwise (copy and fill write through any strides).
 */
#ifndef RECX_BACKEND_H
#define RECX_BACKEND_H

#include "../core/core.h"

typedef struct rx_backend {
    const char *name;

    /* Raw memory. alloc returns RX_ERR_NOMEM with a message on failure. */
    rx_status (*alloc)(int64_t nbytes, int device_index, void **out);
    void (*free)(void *ptr, int64_t nbytes, int device_index);

    /* dst[i] = (dtype of dst) src[i]; same shape; any strides on both; any dtype pair.
     * dst and src do not overlap (ops/ clones first when they would). */
    rx_status (*copy)(rx_tensor *dst, const rx_tensor *src);
    /* t[i] = value (converted to t's dtype); any strides. */
    rx_status (*fill)(rx_tensor *t, double value);
    /* dst narrowed along `dim` to [off, off + src->shape[dim]) = src, off = the one element of
     * `offset` (i32 or i64, on this device), read by the kernel where it lives (on CUDA no host
     * read, so the call can be captured in a graph). dst and src: one dtype, same shape except
     * along dim (src's size there <= dst's); any strides; no overlap (ops/ clones first), and
     * offset shares storage with neither. An off outside [0, dst size - src size] writes
     * nothing (ops/ reports it on the CPU before the call). */
    rx_status (*copy_at)(rx_tensor *dst, const rx_tensor *src, int dim, const rx_tensor *offset);

    /* out = op(a); same shape; out dtype = a's, except RX_LOGICAL_NOT gives bool. */
    rx_status (*unary)(rx_unary_op op, rx_tensor *out, const rx_tensor *a);
    /* out = a op b; a, b, out same shape (a, b broadcast by strides), a and b one dtype;
     * out has that dtype, or bool for comparisons and logical ops. out may alias a exactly
     * (in-place a = a op b). */
    rx_status (*binary)(rx_binary_op op, rx_tensor *out, const rx_tensor *a, const rx_tensor *b);
    /* out = a op s (scalar_first: s op a); same shape. out may alias a exactly. */
    rx_status (*binary_scalar)(rx_binary_op op, rx_tensor *out, const rx_tensor *a, double s,
                               int scalar_first);
    /* out = min(max(a, lo), hi); same shape and dtype. */
    rx_status (*clamp)(rx_tensor *out, const rx_tensor *a, double lo, double hi);
    /* out = cond ? a : b; all same shape (broadcast by strides); cond bool; a, b, out one dtype. */
    rx_status (*where)(rx_tensor *out, const rx_tensor *cond, const rx_tensor *a,
                       const rx_tensor *b);

    /* Row reductions: a is contiguous (M, N); out is contiguous (M) of the op's output dtype
     * (see rx_reduce); for RX_MAX/RX_MIN `index` may be non-NULL (M) i64 and receives the
     * first position of the extreme. N may be 0 (sum 0, prod 1, any false, all true; max/min
     * and arg* are rejected by ops/ before this). */
    rx_status (*reduce_rows)(rx_reduce_op op, rx_tensor *out, rx_tensor *index, const rx_tensor *a);
    /* Inclusive prefix sums along rows of contiguous (M, N); out same shape and dtype (i64 for
     * integer and bool inputs). */
    rx_status (*cumsum_rows)(rx_tensor *out, const rx_tensor *a);
    /* Softmax / log-softmax along rows of contiguous (M, N), float dtypes, out same. */
    rx_status (*softmax_rows)(rx_tensor *out, const rx_tensor *a, int log);
    /* Stable sort of each row of contiguous (M, N): values (M, N) a's dtype, indices (M, N)
     * i64; either may be NULL. Only the first k columns are written when k < N (top-k). NaN
     * sorts as larger than every number. */
    rx_status (*sort_rows)(rx_tensor *values, rx_tensor *indices, const rx_tensor *a, int64_t k,
                           int descending);

    /* Batched matrix product: a (B, n, k), b (B, k, m), out (B, n, m) contiguous; every matrix
     * of a and b has a unit stride in one of its two last dims (ops/ copies otherwise); batch
     * strides may be 0 (broadcast). One float dtype for all three. */
    rx_status (*matmul)(rx_tensor *out, const rx_tensor *a, const rx_tensor *b);

    /* out = a indexed along `dim` by index (1-D i32/i64, entries checked by ops/ to be in
     * range); out shape = a's with size(dim) = len(index). */
    rx_status (*index_select)(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index);
    /* torch.gather; index same ndim as a, entries in range (checked by ops/); out index's shape. */
    rx_status (*gather)(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index);
    /* out[index] += src along dim, in place; out already holds a's values; index and src same
     * shape, entries in range. */
    rx_status (*scatter_add)(rx_tensor *out, int dim, const rx_tensor *index, const rx_tensor *src);

    /* Random draws into a contiguous float (or integer for randint) tensor, element i using
     * Philox counter (offset + i) under key `seed`; see core/philox.h for the exact mapping. */
    rx_status (*random)(int kind, rx_tensor *out, uint64_t seed, uint64_t offset, double p0,
                        double p1);

    /* ---- fused neural-network kernels (forward and backward) ----
     * Common rules: "float" means f32, f64, f16 or bf16, and every float operand of one call has
     * one dtype unless the entry says otherwise. Arithmetic runs in f32 or better (f64 for f64
     * tensors; f16/bf16 values are computed in f32). A "stat" tensor (rstd, mean, lse, probs) is
     * contiguous f32, or f64 when the inputs are f64. Sums over rows (weight and bias gradients,
     * loss means) are taken in a fixed order, so results do not depend on the number of threads.
     * Scalar gradients `grad` of losses are 0-d tensors of the loss's dtype. */

    /* out[j] = sum_i a[i, j]: a (M, N) float with any strides; out (N) contiguous, a's dtype. */
    rx_status (*col_sum)(rx_tensor *out, const rx_tensor *a);
    /* out[n] = weight[ids[n]]: weight (V, C) any dtype with unit stride on C (row stride free);
     * ids (N) contiguous i32/i64 with entries in [0, V) (checked by ops/); out (N, C)
     * contiguous, weight's dtype. */
    rx_status (*embedding)(rx_tensor *out, const rx_tensor *weight, const rx_tensor *ids);
    /* dweight (V, C) contiguous float, every row written: row v is the sum, in increasing n, of
     * the rows g[n] with ids[n] == v, and zero when no id is v or v == padding_idx (-1: none);
     * g (N, C) contiguous of dweight's dtype; ids as for embedding. */
    rx_status (*embedding_bwd)(rx_tensor *dweight, const rx_tensor *g, const rx_tensor *ids,
                               int64_t padding_idx);
    /* RMSNorm of rows: x (M, C) contiguous float; w (C) contiguous; out (M, C) contiguous;
     * out = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps); rstd (M) stat, or NULL. */
    rx_status (*rmsnorm)(rx_tensor *out, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w,
                         double eps);
    /* Gradients of rmsnorm for g (M, C) contiguous: dx (M, C) and dw (C) contiguous, either
     * NULL when not wanted; x, w and rstd as given to / written by the forward. */
    rx_status (*rmsnorm_bwd)(rx_tensor *dx, rx_tensor *dw, const rx_tensor *g, const rx_tensor *x,
                             const rx_tensor *w, const rx_tensor *rstd);
    /* LayerNorm of rows (biased variance): x (M, C) contiguous float; w, b (C) contiguous or
     * NULL (ones, zeros); out (M, C) contiguous = (x - mean) * rstd * w + b with rstd =
     * 1 / sqrt(var + eps); mean and rstd (M) stats, or NULL. */
    rx_status (*layernorm)(rx_tensor *out, rx_tensor *mean, rx_tensor *rstd, const rx_tensor *x,
                           const rx_tensor *w, const rx_tensor *b, double eps);
    /* Gradients of layernorm for g (M, C) contiguous: dx (M, C), dw (C), db (C) contiguous,
     * each NULL when not wanted; w may be NULL (ones); mean and rstd as the forward wrote. */
    rx_status (*layernorm_bwd)(rx_tensor *dx, rx_tensor *dw, rx_tensor *db, const rx_tensor *g,
                               const rx_tensor *x, const rx_tensor *w, const rx_tensor *mean,
                               const rx_tensor *rstd);
    /* Rotary tables: positions (P) contiguous i32/i64; inv_freq (D/2) contiguous f32/f64; cos
     * and sin (P, D) contiguous float: angle[p, j] = positions[p] * inv_freq[j mod D/2], computed
     * as an f32 product (positions rounded to f32) for f32 inv_freq and in f64 for f64, then
     * cos/sin evaluated in f64 and rounded to the tables' dtype. */
    rx_status (*rope_tables)(rx_tensor *cos, rx_tensor *sin, const rx_tensor *positions,
                             const rx_tensor *inv_freq);
    /* Rotary embedding, rotate-half layout: x (B, H, T, D) float with any strides, D even; cos,
     * sin (Bc, T, D) contiguous with Bc 1 or B (broadcast over batch); out (B, H, T, D)
     * contiguous. With h = D/2, j < h: out[j] = x[j] cos[j] - x[j+h] sin[j] and out[j+h] =
     * x[j+h] cos[j+h] + x[j] sin[j+h]. transpose != 0 applies the transposed map instead (the
     * backward): out[j] = x[j] cos[j] + x[j+h] sin[j+h], out[j+h] = x[j+h] cos[j+h] - x[j] sin[j]. */
    rx_status (*rope)(rx_tensor *out, const rx_tensor *x, const rx_tensor *cos, const rx_tensor *sin,
                      int transpose);
    /* Rotary embedding fused with the KV-cache append of one inference step. qkv (B, T, (H + 2G) D)
     * float with a unit stride on its last dim (batch and token strides free): columns [0, H D)
     * are the q heads, [H D, (H + G) D) the k heads, the rest the v heads; cos, sin (Bc, T, D)
     * contiguous, Bc 1 or B; cache_k, cache_v (B, G, L, D) with a unit stride on D (other strides
     * free), T <= L; q (B, H, T, D) contiguous; one float dtype for all. slot: one i32/i64 element
     * on this device, read by the kernel where it lives (on CUDA no host read). q = `rope` of the
     * q heads (the same arithmetic, bit for bit on one device); with s = slot in [0, L - T],
     * cache_k[b, g, s + t] = that rotation of k head g of token (b, t) and cache_v[b, g, s + t] =
     * v head g (bits copied). An s outside [0, L - T] writes neither cache (q is still written;
     * ops/ reports it on the CPU before the call). No operand shares storage with a cache, and
     * the caches do not share storage (ops/ checks). */
    rx_status (*rope_append_kv)(rx_tensor *q, rx_tensor *cache_k, rx_tensor *cache_v, const rx_tensor *qkv,
                                const rx_tensor *cos, const rx_tensor *sin, const rx_tensor *slot,
                                int64_t heads, int64_t kv_heads);
    /* The shape of the statistic `attention` saves for `attention_bwd` (a stat: f32, f64 for f64
     * inputs): the CPU keeps the softmax probabilities (B, H, T, S), CUDA each row's
     * log-sum-exp (B, H, T). Writes *ndim (at most 4) and that many sizes into shape. */
    void (*attention_stat_shape)(int64_t B, int64_t H, int64_t T, int64_t S, int *ndim, int64_t *shape);
    /* Attention: q (B, H, T, D), k and v (B, G, S, D) with H % G == 0 (head h reads kv head
     * h / (H / G)), each with unit stride on D and a stride >= D on T/S (batch and head strides
     * free); out (B, H, T, D) contiguous. Key s is visible to query t unless key_padding[b, s]
     * is false (key_padding (B, S) contiguous bool, or NULL) or causal and s > t + S - T.
     * scores = q k^T * scale + mask, where mask (B, H, T, S) float of q's dtype has any strides
     * (0 for broadcast dims) or is NULL. Each row's softmax over its visible keys (0 at invisible
     * keys; a row with no visible key, or whose visible scores are all -inf, is all zeros) is
     * summarised in `stat`, shaped as attention_stat_shape says: the probabilities themselves
     * (B, H, T, S), or the log-sum-exp of the row's visible scores (B, H, T), +inf for a row of
     * zeros. With dropout_p in (0, 1), probability (b, h, t, s) is zeroed when Philox counter
     * offset + ((b H + h) T + t) S + s under `seed` gives a bernoulli(dropout_p) one
     * (core/philox.h) and the others are scaled by 1 / (1 - p); stat describes the values
     * before dropout. out = dropped probs @ v. */
    rx_status (*attention)(rx_tensor *out, rx_tensor *stat, const rx_tensor *q, const rx_tensor *k,
                           const rx_tensor *v, const rx_tensor *key_padding, const rx_tensor *mask,
                           int causal, double scale, double dropout_p, uint64_t seed, uint64_t offset);
    /* Gradients of attention for g (B, H, T, D) (layout as q): dq (B, H, T, D), dk and dv
     * (B, G, S, D) contiguous, each NULL when not wanted (dk, dv sum over the heads of a group
     * in increasing h); q, k, v, key_padding, mask, causal, scale and the dropout arguments as
     * in the forward; out (B, H, T, D) (layout as q) and stat as the forward wrote them. A
     * kernel whose stat holds the probabilities may ignore out and the masks. */
    rx_status (*attention_bwd)(rx_tensor *dq, rx_tensor *dk, rx_tensor *dv, const rx_tensor *g,
                               const rx_tensor *q, const rx_tensor *k, const rx_tensor *v,
                               const rx_tensor *out, const rx_tensor *stat, const rx_tensor *key_padding,
                               const rx_tensor *mask, int causal, double scale, double dropout_p,
                               uint64_t seed, uint64_t offset);
    /* out = silu(gate) * up; all contiguous float of one shape. */
    rx_status (*swiglu)(rx_tensor *out, const rx_tensor *gate, const rx_tensor *up);
    /* dgate = g * up * sigmoid(gate) * (1 + gate * (1 - sigmoid(gate))), dup = g * silu(gate);
     * all contiguous of one shape; dgate or dup may be NULL. */
    rx_status (*swiglu_bwd)(rx_tensor *dgate, rx_tensor *dup, const rx_tensor *g, const rx_tensor *gate,
                            const rx_tensor *up);
    /* Inference-only fusions of the decode step (no backward). add_rmsnorm: x (M, C) contiguous
     * float updated in place to x + r as `binary` RX_ADD computes it (rounded to x's dtype),
     * then out (M, C) contiguous = rmsnorm of the updated rows with w (C) contiguous, as
     * `rmsnorm` computes it from them; r (M, C) contiguous, either x itself or not overlapping
     * it; w does not overlap x. */
    rx_status (*add_rmsnorm)(rx_tensor *out, rx_tensor *x, const rx_tensor *r, const rx_tensor *w, double eps);
    /* out (M, F) contiguous = silu(gu[:, :F]) * gu[:, F:] as `swiglu` computes it; gu (M, 2F)
     * contiguous float. */
    rx_status (*swiglu_packed)(rx_tensor *out, const rx_tensor *gu);
    /* out[i] = x[i] / (1 - p), or 0 when Philox counter offset + i under `seed` gives a
     * bernoulli(p) one (core/philox.h); i is the row-major index; x and out contiguous float of
     * one shape, out may be x; 0 < p < 1. The same call on the gradient is the backward. */
    rx_status (*dropout)(rx_tensor *out, const rx_tensor *x, double p, uint64_t seed, uint64_t offset);
    /* Cross-entropy: logits (N, V) contiguous float; targets (N) contiguous i32/i64 with entries
     * in [0, V) or equal to ignore_index (checked by ops/); weights (N) contiguous of the logits'
     * dtype or NULL (ones). lse (N) stat receives every row's log-sum-exp; loss (0-d, f32, f64
     * for f64 logits) = sum_i w_i (lse_i - logits[i, t_i]) / sum_i w_i over the rows kept, and 0
     * when that weight sum is 0 (e.g. every row ignored). */
    rx_status (*cross_entropy)(rx_tensor *loss, rx_tensor *lse, const rx_tensor *logits,
                               const rx_tensor *targets, const rx_tensor *weights, int64_t ignore_index);
    /* dlogits (N, V) contiguous, logits' dtype = (softmax - onehot(t_i)) * w_i * grad / sum_w for
     * kept rows, 0 for ignored rows (all 0 when sum_w == 0); grad 0-d of the loss's dtype; other
     * arguments as in the forward. */
    rx_status (*cross_entropy_bwd)(rx_tensor *dlogits, const rx_tensor *grad, const rx_tensor *logits,
                                   const rx_tensor *targets, const rx_tensor *weights, const rx_tensor *lse,
                                   int64_t ignore_index);
    /* loss (0-d, x's dtype) = mean of max(x, 0) - x t + log1p(exp(-|x|)); x, t contiguous float
     * of one shape. */
    rx_status (*bce_with_logits)(rx_tensor *loss, const rx_tensor *x, const rx_tensor *t);
    /* dx = (sigmoid(x) - t) * grad / n, dt = -x * grad / n (either NULL); all contiguous. */
    rx_status (*bce_with_logits_bwd)(rx_tensor *dx, rx_tensor *dt, const rx_tensor *grad, const rx_tensor *x,
                                     const rx_tensor *t);
    /* loss (0-d, a's dtype) = mean of (a - b)^2; a, b contiguous float of one shape. */
    rx_status (*mse)(rx_tensor *loss, const rx_tensor *a, const rx_tensor *b);
    /* da = 2 (a - b) * grad / n, db = -da (either NULL); all contiguous. */
    rx_status (*mse_bwd)(rx_tensor *da, rx_tensor *db, const rx_tensor *grad, const rx_tensor *a,
                         const rx_tensor *b);

    /* ---- optimizer kernels ---- */
    /* Every tensor handed to these is contiguous and on this device, and no written tensor
     * overlaps another (ops/optim.c checks and stages). Tensors with 0 elements may appear. */

    /* One AdamW step (torch.optim.AdamW) over all n parameters in one pass. params[i] and
     * grads[i]: one float dtype and shape; exp_avg[i], exp_avg_sq[i]: f32 of that shape. With
     * t = opts->step >= 1: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps). Math in f32 (f16/bf16 params are
     * read into f32 and rounded back), in f64 for f64 params. opts already range-checked. */
    rx_status (*adamw_step)(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *exp_avg,
                            rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts);
    /* AdamW with f32 master weights: as adamw_step on master[i] (f32), then params[i] (f16 or
     * bf16, the model's copy) = master[i] rounded to nearest even; grads[i] of params[i]'s dtype;
     * exp_avg[i], exp_avg_sq[i] f32; all of one shape. */
    rx_status (*adamw_step_master)(int n, rx_tensor *const *params, rx_tensor *const *master,
                                   rx_tensor *const *grads, rx_tensor *const *exp_avg,
                                   rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts);
    /* One SGD step (torch.optim.SGD): d = g + wd p; with momentum != 0, b = d on the first step
     * else b = momentum b + (1 - dampening) d, and d = nesterov ? d + momentum b : b; then
     * p -= lr d. bufs is NULL when momentum == 0, else bufs[i] has the param's shape and is f32
     * or the param's dtype (b is used as stored). Math as for adamw_step. */
    rx_status (*sgd_step)(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *bufs,
                          double lr, double momentum, double dampening, double weight_decay, int nesterov,
                          int first_step);
    /* out[i] = sum of squares of tensors[i] (float dtypes), accumulated in double over fixed
     * chunks combined in chunk order: the result depends on the data only, not on threads. */
    rx_status (*sum_squares)(int n, rx_tensor *const *tensors, double *out);
    /* tensors[i] *= s in place (float dtypes); f32 math for f32/f16/bf16, f64 for f64. */
    rx_status (*scale)(int n, rx_tensor *const *tensors, double s);
    /* Optional (NULL on the CPU): checks that every id of `ids` (contiguous i32/i64) lies in
     * [0, limit) or equals *ignore (when ignore is not NULL) without waiting for the device; a bad
     * id found by an earlier call is returned as this call's error (message naming `op` and
     * argument #argn of that call). Kernels that read ids guard the range themselves. */
    rx_status (*check_ids_async)(const char *op, int argn, const rx_tensor *ids, int64_t limit, const int64_t *ignore);
    /* Gradient clipping without a host read-back: norm (0-d f32, contiguous, this device)
     * receives sqrt of the sum of squares of all tensors (float dtypes; accumulated in double
     * in a fixed order, as sum_squares), rounded to f32; when that double norm is finite and
     * c = max_norm / (norm + 1e-6) < 1, every tensor is scaled in place by c as `scale` would
     * (f32 math with (float)c for f32/f16/bf16, f64 for f64). The decision and c are taken from
     * device memory on devices with their own memory. n >= 1; max_norm > 0 (checked by ops/). */
    rx_status (*clip_grad_norm)(int n, rx_tensor *const *tensors, double max_norm, rx_tensor *norm);
} rx_backend;

/* Kinds for rx_backend.random (p0, p1 meaning in brackets). */
enum {
    RX_RANDOM_UNIFORM = 0,   /* [low, high) */
    RX_RANDOM_NORMAL = 1,    /* (mean, std) */
    RX_RANDOM_RANDINT = 2,   /* [low, high) integers */
    RX_RANDOM_BERNOULLI = 3, /* (p, unused): 1 with probability p */
    RX_RANDOM_BERNOULLI_P = 4 /* (unused, unused): out holds a float p per element on entry;
                                 each becomes 1 with probability p (same draw as BERNOULLI) */
};

/* The backend of a device; NULL with a message when the device is not available in this
 * build or on this machine. */
const rx_backend *rx_backend_for(rx_device device);
const rx_backend *rx_backend_of(const rx_tensor *t); /* of t's device; never NULL for live t */
/* Whether a CUDA graph capture is in progress on the device (rx_cuda_graph_begin): the ops then
 * skip checks that would read device memory on the host. */
int rx_device_capturing(rx_device device);

extern const rx_backend rx_cpu_backend;

#endif /* RECX_BACKEND_H */
