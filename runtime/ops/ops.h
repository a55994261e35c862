/* ops.h — the raw ops: the public ops of recx.h without autograd recording.
 *
 * Owns: nothing but declarations. Each rx_op_NAME has exactly the contract of the public rx_NAME
 * in recx.h; the public functions (runtime/autograd/) call these and record a graph node when
 * gradients are needed. Backward functions call these so that they never record.
 */
#ifndef RECX_OPS_H
#define RECX_OPS_H

#include "../backend/backend.h"

rx_status rx_op_view(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_op_reshape(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_op_narrow(rx_tensor *t, int dim, int64_t start, int64_t length, rx_tensor **out);
rx_status rx_op_select(rx_tensor *t, int dim, int64_t index, rx_tensor **out);
rx_status rx_op_transpose(rx_tensor *t, int dim0, int dim1, rx_tensor **out);
rx_status rx_op_permute(rx_tensor *t, int ndim, const int *dims, rx_tensor **out);
rx_status rx_op_expand(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_op_squeeze(rx_tensor *t, int dim, rx_tensor **out);
rx_status rx_op_squeeze_all(rx_tensor *t, rx_tensor **out);
rx_status rx_op_unsqueeze(rx_tensor *t, int dim, rx_tensor **out);
rx_status rx_op_contiguous(rx_tensor *t, rx_tensor **out);
rx_status rx_op_clone(rx_tensor *t, rx_tensor **out);
rx_status rx_op_to_dtype(rx_tensor *t, rx_dtype dtype, rx_tensor **out);
rx_status rx_op_to_device(rx_tensor *t, rx_device device, rx_tensor **out);
rx_status rx_op_copy_(rx_tensor *dst, rx_tensor *src);
rx_status rx_op_fill_(rx_tensor *t, double value);
rx_status rx_op_copy_at_(rx_tensor *dst, int dim, rx_tensor *offset, rx_tensor *src);
rx_status rx_op_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out);
rx_status rx_op_binary(rx_binary_op op, rx_tensor *a, rx_tensor *b, rx_tensor **out);
rx_status rx_op_binary_scalar(rx_binary_op op, rx_tensor *a, double s, int scalar_first, rx_tensor **out);
rx_status rx_op_binary_(rx_binary_op op, rx_tensor *a, rx_tensor *b);
rx_status rx_op_clamp(rx_tensor *a, double lo, double hi, rx_tensor **out);
rx_status rx_op_where(rx_tensor *cond, rx_tensor *a, rx_tensor *b, rx_tensor **out);
rx_status rx_op_masked_fill(rx_tensor *a, rx_tensor *mask, double value, rx_tensor **out);
rx_status rx_op_reduce(rx_reduce_op op, rx_tensor *a, int ndims, const int *dims, int keepdim, rx_tensor **out);
rx_status rx_op_max_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_min_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_cumsum(rx_tensor *a, int dim, rx_tensor **out);
rx_status rx_op_matmul(rx_tensor *a, rx_tensor *b, rx_tensor **out);
rx_status rx_op_softmax(rx_tensor *a, int dim, rx_tensor **out);
rx_status rx_op_log_softmax(rx_tensor *a, int dim, rx_tensor **out);
rx_status rx_op_sort(rx_tensor *a, int dim, int descending, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_topk(rx_tensor *a, int64_t k, int dim, int largest, rx_tensor **values, rx_tensor **indices);
rx_status rx_op_index_select(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out);
rx_status rx_op_gather(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out);
rx_status rx_op_scatter_add(rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src, rx_tensor **out);
rx_status rx_op_cat(int n, rx_tensor *const *tensors, int dim, rx_tensor **out);
rx_status rx_op_stack(int n, rx_tensor *const *tensors, int dim, rx_tensor **out);

/* ---- fused neural-network ops (ops/nn_*.c) ---------------------------------------------------
 * Forward ops with a public counterpart have its contract; those named *_forward also return what
 * their backward needs (each extra output pointer may be NULL). Backward ops take the upstream
 * gradient g first and return new references through their output pointers; a NULL output
 * pointer skips that gradient. "stat" tensors are f32, or f64 for f64 inputs. */
rx_status rx_op_linear(rx_tensor *x, rx_tensor *w, rx_tensor *b, rx_tensor **out);
/* dx = g w, dw = g^T x over all leading dims (one GEMM), db = column sums of g; x may be NULL when
 * dw is not wanted, w when dx is not. */
rx_status rx_op_linear_backward(rx_tensor *g, rx_tensor *x, rx_tensor *w, rx_tensor **dx, rx_tensor **dw,
                                rx_tensor **db);
rx_status rx_op_embedding(rx_tensor *weight, rx_tensor *ids, int64_t padding_idx, rx_tensor **out);
/* The (num_embeddings, C) weight gradient of g (ids..., C). */
rx_status rx_op_embedding_backward(rx_tensor *g, rx_tensor *ids, int64_t num_embeddings, int64_t padding_idx,
                                   rx_tensor **dweight);
/* rstd: (x's leading dims) stat. */
rx_status rx_op_rmsnorm_forward(rx_tensor *x, rx_tensor *w, double eps, rx_tensor **out, rx_tensor **rstd);
rx_status rx_op_rmsnorm_backward(rx_tensor *g, rx_tensor *x, rx_tensor *w, rx_tensor *rstd, rx_tensor **dx,
                                 rx_tensor **dw);
/* mean, rstd: (x's leading dims) stats. */
rx_status rx_op_layernorm_forward(rx_tensor *x, rx_tensor *w, rx_tensor *b, double eps, rx_tensor **out,
                                  rx_tensor **mean, rx_tensor **rstd);
rx_status rx_op_layernorm_backward(rx_tensor *g, rx_tensor *x, rx_tensor *w, rx_tensor *mean, rx_tensor *rstd,
                                   rx_tensor **dx, rx_tensor **dw, rx_tensor **db);
rx_status rx_op_rope_inv_freq(int64_t head_dim, double theta, rx_tensor **out);
rx_status rx_op_rope_tables(rx_tensor *positions, rx_tensor *inv_freq, rx_dtype dtype, rx_tensor **cos,
                            rx_tensor **sin);
rx_status rx_op_rope(rx_tensor *x, rx_tensor *cos, rx_tensor *sin, rx_tensor **out);
/* The transposed rotation of g (the gradient of x). */
rx_status rx_op_rope_backward(rx_tensor *g, rx_tensor *cos, rx_tensor *sin, rx_tensor **dx);
/* stat: the statistic the backend keeps for the backward (attention_stat_shape: probabilities
 * (B, H, T, S) on the CPU, log-sum-exp (B, H, T) on CUDA), before dropout; seed and offset: the
 * Philox counters of the dropout mask (meaningful when opts->dropout_p > 0). opts may be NULL. */
rx_status rx_op_attention_forward(rx_tensor *q, rx_tensor *k, rx_tensor *v, const rx_attention_opts *opts,
                                  rx_tensor **out, rx_tensor **stat, uint64_t *seed, uint64_t *offset);
/* out and stat: as the forward returned them; key_padding, mask (unexpanded) and causal: the
 * forward's options; scale: the resolved scale (never 0). */
rx_status rx_op_attention_backward(rx_tensor *g, rx_tensor *q, rx_tensor *k, rx_tensor *v, rx_tensor *out,
                                   rx_tensor *stat, rx_tensor *key_padding, rx_tensor *mask, int causal,
                                   double scale, double dropout_p, uint64_t seed, uint64_t offset,
                                   rx_tensor **dq, rx_tensor **dk, rx_tensor **dv);
rx_status rx_op_swiglu(rx_tensor *gate, rx_tensor *up, rx_tensor **out);
rx_status rx_op_swiglu_backward(rx_tensor *g, rx_tensor *gate, rx_tensor *up, rx_tensor **dgate, rx_tensor **dup);
/* seed, offset: the mask's Philox counters (set when a mask was drawn: training, 0 < p < 1). */
rx_status rx_op_dropout_forward(rx_tensor *x, double p, int training, rx_generator *gen, rx_tensor **out,
                                uint64_t *seed, uint64_t *offset);
/* g with the forward's mask (0 < p < 1) applied; zeros for p == 1. */
rx_status rx_op_dropout_backward(rx_tensor *g, double p, uint64_t seed, uint64_t offset, rx_tensor **dx);
/* lse: (N) stat, each row's log-sum-exp. */
rx_status rx_op_cross_entropy_forward(rx_tensor *logits, rx_tensor *targets, int64_t ignore_index,
                                      rx_tensor *weights, rx_tensor **out, rx_tensor **lse);
rx_status rx_op_cross_entropy_backward(rx_tensor *g, rx_tensor *logits, rx_tensor *targets, int64_t ignore_index,
                                       rx_tensor *weights, rx_tensor *lse, rx_tensor **dlogits);
rx_status rx_op_bce_with_logits(rx_tensor *logits, rx_tensor *targets, rx_tensor **out);
rx_status rx_op_bce_with_logits_backward(rx_tensor *g, rx_tensor *logits, rx_tensor *targets, rx_tensor **dlogits,
                                         rx_tensor **dtargets);
rx_status rx_op_mse(rx_tensor *pred, rx_tensor *target, rx_tensor **out);
rx_status rx_op_mse_backward(rx_tensor *g, rx_tensor *pred, rx_tensor *target, rx_tensor **dpred,
                             rx_tensor **dtarget);
/* Helpers of ops/nn_*.c (nn_common.c). rx_nn_check_shape: t (argument #argn of op, `field` naming
 * an options field or NULL) has `ndim` dims of sizes `shape` (-1: any), else "op: argument #n:
 * expected shape (2, *, 8), got (2, 3)". rx_nn_rows: a contiguous (M, C) view of t, C its last
 * dim (1 for a 0-d t), M the product of the others. rx_nn_find_bad_id: reads the i32/i64 tensor
 * ids (any device and layout) on the host and sets *at to the C-order index of its first element
 * outside [0, v) that is not *ignore (ignore NULL: none exempt), -1 when there is none, and *id
 * to that element's value; the caller words the error. */
rx_status rx_nn_check_shape(const char *op, int argn, const char *field, const rx_tensor *t, int ndim,
                            const int64_t *shape);
rx_status rx_nn_rows(rx_tensor *t, rx_tensor **out);
rx_status rx_nn_find_bad_id(rx_tensor *ids, int64_t v, const int64_t *ignore, int64_t *at, int64_t *id);
/* The check of ids against [0, v) (or *ignore) where the device can do it without a host read:
 * its backend's check_ids_async (a bad id surfaces as the error of a later call), or nothing
 * while a CUDA graph is being captured (the kernels guard the range). *done = false when the
 * caller must check on the host (rx_nn_find_bad_id). */
rx_status rx_nn_check_ids_on_device(const char *op, int argn, rx_tensor *ids, int64_t v, const int64_t *ignore,
                                    bool *done);

#endif /* RECX_OPS_H */
