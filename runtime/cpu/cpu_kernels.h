/* cpu_kernels.h — declarations of the CPU kernels that fill rx_cpu_backend.
 *
 * Owns: nothing but the list; each kernel lives in the cpu/ file named beside it and follows
 * the contract of its entry in backend/backend.h.
 */
#ifndef RECX_CPU_KERNELS_H
#define RECX_CPU_KERNELS_H

#include "../backend/backend.h"

/* memory.c */
rx_status rx_cpu_alloc(int64_t nbytes, int device_index, void **out);
void rx_cpu_free(void *ptr, int64_t nbytes, int device_index);
int64_t rx_cpu_cached_bytes(void);
void rx_cpu_empty_cache(void);
/* copy_fill.c */
rx_status rx_cpu_copy(rx_tensor *dst, const rx_tensor *src);
rx_status rx_cpu_fill(rx_tensor *t, double value);
/* copy_at.c */
rx_status rx_cpu_copy_at(rx_tensor *dst, const rx_tensor *src, int dim, const rx_tensor *offset);
/* elementwise.c */
rx_status rx_cpu_unary(rx_unary_op op, rx_tensor *out, const rx_tensor *a);
rx_status rx_cpu_binary(rx_binary_op op, rx_tensor *out, const rx_tensor *a, const rx_tensor *b);
rx_status rx_cpu_binary_scalar(rx_binary_op op, rx_tensor *out, const rx_tensor *a, double s, int scalar_first);
rx_status rx_cpu_clamp(rx_tensor *out, const rx_tensor *a, double lo, double hi);
rx_status rx_cpu_where(rx_tensor *out, const rx_tensor *cond, const rx_tensor *a, const rx_tensor *b);
/* reduce.c */
rx_status rx_cpu_reduce_rows(rx_reduce_op op, rx_tensor *out, rx_tensor *index, const rx_tensor *a);
rx_status rx_cpu_cumsum_rows(rx_tensor *out, const rx_tensor *a);
/* softmax.c */
rx_status rx_cpu_softmax_rows(rx_tensor *out, const rx_tensor *a, int log);
/* sort.c */
rx_status rx_cpu_sort_rows(rx_tensor *values, rx_tensor *indices, const rx_tensor *a, int64_t k, int descending);
/* matmul.c */
rx_status rx_cpu_matmul(rx_tensor *out, const rx_tensor *a, const rx_tensor *b);
/* index.c */
rx_status rx_cpu_index_select(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index);
rx_status rx_cpu_gather(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index);
rx_status rx_cpu_scatter_add(rx_tensor *out, int dim, const rx_tensor *index, const rx_tensor *src);
/* random.c */
rx_status rx_cpu_random(int kind, rx_tensor *out, uint64_t seed, uint64_t offset, double p0, double p1);
/* nn_*.c: fused neural-network kernels */
/* nn_linear.c */
rx_status rx_cpu_col_sum(rx_tensor *out, const rx_tensor *a);
rx_status rx_cpu_embedding(rx_tensor *out, const rx_tensor *weight, const rx_tensor *ids);
rx_status rx_cpu_embedding_bwd(rx_tensor *dweight, const rx_tensor *g, const rx_tensor *ids, int64_t padding_idx);
/* nn_norm.c */
rx_status rx_cpu_rmsnorm(rx_tensor *out, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w, double eps);
rx_status rx_cpu_rmsnorm_bwd(rx_tensor *dx, rx_tensor *dw, const rx_tensor *g, const rx_tensor *x, const rx_tensor *w,
                             const rx_tensor *rstd);
rx_status rx_cpu_layernorm(rx_tensor *out, rx_tensor *mean, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w,
                           const rx_tensor *b, double eps);
rx_status rx_cpu_layernorm_bwd(rx_tensor *dx, rx_tensor *dw, rx_tensor *db, const rx_tensor *g, const rx_tensor *x,
                               const rx_tensor *w, const rx_tensor *mean, const rx_tensor *rstd);
/* nn_rope.c */
rx_status rx_cpu_rope_tables(rx_tensor *cos, rx_tensor *sin, const rx_tensor *positions, const rx_tensor *inv_freq);
rx_status rx_cpu_rope(rx_tensor *out, const rx_tensor *x, const rx_tensor *cos, const rx_tensor *sin, int transpose);
/* rope_append_kv.c */
rx_status rx_cpu_rope_append_kv(rx_tensor *q, rx_tensor *cache_k, rx_tensor *cache_v, const rx_tensor *qkv,
                                 const rx_tensor *cos, const rx_tensor *sin, const rx_tensor *slot,
                                 int64_t heads, int64_t kv_heads);
/* nn_attention.c */
void rx_cpu_attention_stat_shape(int64_t B, int64_t H, int64_t T, int64_t S, int *ndim, int64_t *shape);
rx_status rx_cpu_attention(rx_tensor *out, rx_tensor *stat, const rx_tensor *q, const rx_tensor *k, const rx_tensor *v,
                           const rx_tensor *key_padding, const rx_tensor *mask, int causal, double scale,
                           double dropout_p, uint64_t seed, uint64_t offset);
rx_status rx_cpu_attention_bwd(rx_tensor *dq, rx_tensor *dk, rx_tensor *dv, const rx_tensor *g, const rx_tensor *q,
                               const rx_tensor *k, const rx_tensor *v, const rx_tensor *out, const rx_tensor *stat,
                               const rx_tensor *key_padding, const rx_tensor *mask, int causal, double scale,
                               double dropout_p, uint64_t seed, uint64_t offset);
/* nn_pointwise.c */
/* swiglu works in blocks of RX_CPU_SWIGLU_BLOCK elements; rx_cpu_swiglu_block computes one:
 * out = silu(gate) * up over len (<= the block) contiguous elements of dt, a and u being a
 * block's worth of double scratch each (unused for f32). swiglu_packed shares it for its bits. */
#define RX_CPU_SWIGLU_BLOCK 1024
void rx_cpu_swiglu_block(rx_dtype dt, char *out, const char *gate, const char *up, int64_t len, double *a,
                         double *u);
rx_status rx_cpu_swiglu(rx_tensor *out, const rx_tensor *gate, const rx_tensor *up);
rx_status rx_cpu_swiglu_bwd(rx_tensor *dgate, rx_tensor *dup, const rx_tensor *g, const rx_tensor *gate,
                            const rx_tensor *up);
rx_status rx_cpu_dropout(rx_tensor *out, const rx_tensor *x, double p, uint64_t seed, uint64_t offset);
/* nn_fused_infer.c */
rx_status rx_cpu_add_rmsnorm(rx_tensor *out, rx_tensor *x, const rx_tensor *r, const rx_tensor *w, double eps);
rx_status rx_cpu_swiglu_packed(rx_tensor *out, const rx_tensor *gu);
/* nn_loss.c */
rx_status rx_cpu_cross_entropy(rx_tensor *loss, rx_tensor *lse, const rx_tensor *logits, const rx_tensor *targets,
                               const rx_tensor *weights, int64_t ignore_index);
rx_status rx_cpu_cross_entropy_bwd(rx_tensor *dlogits, const rx_tensor *grad, const rx_tensor *logits,
                                   const rx_tensor *targets, const rx_tensor *weights, const rx_tensor *lse,
                                   int64_t ignore_index);
rx_status rx_cpu_bce_with_logits(rx_tensor *loss, const rx_tensor *x, const rx_tensor *t);
rx_status rx_cpu_bce_with_logits_bwd(rx_tensor *dx, rx_tensor *dt, const rx_tensor *grad, const rx_tensor *x,
                                     const rx_tensor *t);
rx_status rx_cpu_mse(rx_tensor *loss, const rx_tensor *a, const rx_tensor *b);
rx_status rx_cpu_mse_bwd(rx_tensor *da, rx_tensor *db, const rx_tensor *grad, const rx_tensor *a, const rx_tensor *b);
/* nn_common.c and helpers of the nn kernels. Values are computed in double: rx_nn_ld/rx_nn_st
 * access one element of a float array of dtype dt; rx_nn_load/rx_nn_store convert n contiguous
 * elements to or from a double buffer with the dtype switch outside the loop (the row kernels
 * work on such buffers so that their inner loops are plain double arithmetic). */
static inline double rx_nn_ld(const void *p, int64_t i, rx_dtype dt)
{
    switch (dt) {
    case RX_F32: return ((const float *)p)[i];
    case RX_F64: return ((const double *)p)[i];
    case RX_F16: return rx_f16_to_f32(((const uint16_t *)p)[i]);
    default: return rx_bf16_to_f32(((const uint16_t *)p)[i]);
    }
}
static inline void rx_nn_st(void *p, int64_t i, rx_dtype dt, double v)
{
    switch (dt) {
    case RX_F32: ((float *)p)[i] = (float)v; break;
    case RX_F64: ((double *)p)[i] = v; break;
    case RX_F16: ((uint16_t *)p)[i] = rx_f32_to_f16((float)v); break;
    default: ((uint16_t *)p)[i] = rx_f32_to_bf16((float)v); break;
    }
}
/* exp in the precision of dtype dt: f32 (expf) for f32/f16/bf16, f64 for f64. */
double rx_nn_exp(double x, rx_dtype dt);
void rx_nn_load(const void *p, rx_dtype dt, int64_t n, double *dst);
void rx_nn_store(void *p, rx_dtype dt, int64_t n, const double *src);
/* Per-thread double scratch: room for `per_thread` doubles for each OpenMP thread (NULL with an
 * RX_ERR_NOMEM message naming op when out of memory; free with free()); rx_nn_thread_scratch
 * gives the calling thread's part. */
double *rx_nn_scratch_new(const char *op, int64_t per_thread);
double *rx_nn_thread_scratch(double *scratch, int64_t per_thread);
/* Fixed-order column sums (weight and bias gradients): the M rows are cut into chunks whose size
 * depends only on M (at least 64 rows, at most 256 chunks); each chunk's partial sums (double,
 * one row of n per chunk) are formed in parallel, then rx_nn_sum_chunks adds them chunk by chunk
 * in order into out (n values of dtype dt). */
static inline int64_t rx_nn_chunk_rows(int64_t m)
{
    int64_t rows = (m + 255) / 256;
    return rows < 64 ? 64 : rows;
}
void rx_nn_sum_chunks(const double *partials, int64_t nchunks, int64_t n, void *out, rx_dtype dt);

/* optim.c: optimizer kernels */
rx_status rx_cpu_adamw_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *exp_avg,
                            rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts);
rx_status rx_cpu_adamw_step_master(int n, rx_tensor *const *params, rx_tensor *const *master, rx_tensor *const *grads,
                                   rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts);
rx_status rx_cpu_sgd_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *bufs,
                          double lr, double momentum, double dampening, double weight_decay, int nesterov,
                          int first_step);
rx_status rx_cpu_sum_squares(int n, rx_tensor *const *tensors, double *out);
rx_status rx_cpu_scale(int n, rx_tensor *const *tensors, double s);
rx_status rx_cpu_clip_grad_norm(int n, rx_tensor *const *tensors, double max_norm, rx_tensor *norm);

#endif /* RECX_CPU_KERNELS_H */
