/* cuda_kernels.h — declarations of the CUDA backend: the per-device context, the caching
 * allocator and the kernels that fill the CUDA rx_backend table.
 *
 * Owns: nothing but the list; each kernel lives in the cuda/ file named beside it and follows the
 * contract of its entry in backend/backend.h. Plain C (included by core/storage.c, cuda/device.c
 * and benchmarks); the .cu files add the device-side helpers of cuda_device.cuh.
 *
 * Streams: each device has one stream, created on first use (a blocking stream, so work on the
 * legacy default stream of other code stays ordered with it). Every kernel and copy of recx on a
 * device is queued on that stream; only copies to host memory wait for it.
 */
#ifndef RECX_CUDA_KERNELS_H
#define RECX_CUDA_KERNELS_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../backend/backend.h"

#define RX_CUDA_MAX_DEVICES 16

/* A device's state, created by rx_cuda_enter on first use and kept for the process. */
typedef struct rx_cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t cublas; /* created by the first matmul (rx_cuda_cublas) */
    int sm_count;
} rx_cuda_ctx;

/* cuda_backend.cu */
/* Makes `device` current on the calling thread, creates its context on first use, and fails
 * (with the first message) once the device has seen a sticky error. Every entry point calls it. */
rx_status rx_cuda_enter(int device, rx_cuda_ctx **ctx);
rx_status rx_cuda_cublas(rx_cuda_ctx *ctx, cublasHandle_t *out);
/* Records a sticky error (the context is unusable) of the current device with its message. */
void rx_cuda_mark_sticky(int device, const char *message);
const rx_backend *rx_cuda_backend_table(void);
/* The stream recx queues work on for `device` (a cudaStream_t), or NULL when it cannot be made;
 * for benchmarks and tests that time or order their own work against recx's. */
void *rx_cuda_stream(int device);

/* memory.cu: a caching allocator over cudaMalloc (see the file's header for the size classes) */
rx_status rx_cuda_alloc(int64_t nbytes, int device_index, void **out);
void rx_cuda_free(void *ptr, int64_t nbytes, int device_index);
int64_t rx_cuda_cached_bytes(void); /* all devices */
void rx_cuda_empty_cache(void);     /* all devices */
typedef struct rx_cuda_mem_info {
    int64_t allocated;     /* bytes of blocks handed out (rounded to their size class) */
    int64_t cached;        /* bytes of free blocks kept for reuse */
    int64_t peak_reserved; /* the highest allocated + cached seen */
    int64_t device_mallocs; /* cudaMalloc calls made */
    int64_t cache_hits;    /* allocations served from the cache */
} rx_cuda_mem_info;
void rx_cuda_memory_info(int device, rx_cuda_mem_info *out);
/* Graph pools (see memory.cu's header): begin makes `device`'s allocations owned by a new pool
 * until end (which returns it); release (when the graph is freed) returns the pool's blocks to
 * the device cache. */
typedef struct rx_cuda_pool rx_cuda_pool;
rx_status rx_cuda_pool_begin(int device, rx_cuda_pool **out);
rx_cuda_pool *rx_cuda_pool_end(int device);
void rx_cuda_pool_release(rx_cuda_pool *pool);

/* graph.cu: whether a graph capture is in progress on `device`, and the error for an operation
 * that cannot be captured (a host<->device copy, a synchronisation): RX_OK when not capturing. */
int rx_cuda_capturing(int device);
rx_status rx_cuda_refuse_in_capture(int device, const char *what);

/* id_check.cu: range checks of device ids without a synchronisation (see the file's header). */
rx_status rx_cuda_check_ids_async(const char *op, int argn, const rx_tensor *ids, int64_t limit, const int64_t *ignore);
rx_status rx_cuda_poll_id_errors(int device); /* the error of a bad id found since the last poll */

/* copy_fill.cu */
rx_status rx_cuda_copy(rx_tensor *dst, const rx_tensor *src);
rx_status rx_cuda_fill(rx_tensor *t, double value);
/* copy_at.cu */
rx_status rx_cuda_copy_at(rx_tensor *dst, const rx_tensor *src, int dim, const rx_tensor *offset);
/* elementwise.cu */
rx_status rx_cuda_unary(rx_unary_op op, rx_tensor *out, const rx_tensor *a);
rx_status rx_cuda_binary(rx_binary_op op, rx_tensor *out, const rx_tensor *a, const rx_tensor *b);
rx_status rx_cuda_binary_scalar(rx_binary_op op, rx_tensor *out, const rx_tensor *a, double s, int scalar_first);
rx_status rx_cuda_clamp(rx_tensor *out, const rx_tensor *a, double lo, double hi);
rx_status rx_cuda_where(rx_tensor *out, const rx_tensor *cond, const rx_tensor *a, const rx_tensor *b);
/* reduce.cu */
rx_status rx_cuda_reduce_rows(rx_reduce_op op, rx_tensor *out, rx_tensor *index, const rx_tensor *a);
rx_status rx_cuda_cumsum_rows(rx_tensor *out, const rx_tensor *a);
/* softmax.cu */
rx_status rx_cuda_softmax_rows(rx_tensor *out, const rx_tensor *a, int log);
/* sort.cu */
rx_status rx_cuda_sort_rows(rx_tensor *values, rx_tensor *indices, const rx_tensor *a, int64_t k, int descending);
/* matmul.cu */
rx_status rx_cuda_matmul(rx_tensor *out, const rx_tensor *a, const rx_tensor *b);
/* index.cu */
rx_status rx_cuda_index_select(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index);
rx_status rx_cuda_gather(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index);
rx_status rx_cuda_scatter_add(rx_tensor *out, int dim, const rx_tensor *index, const rx_tensor *src);
/* random.cu */
rx_status rx_cuda_random(int kind, rx_tensor *out, uint64_t seed, uint64_t offset, double p0, double p1);
/* nn_*.cu: fused neural-network kernels */
/* nn_norm.cu */
rx_status rx_cuda_col_sum(rx_tensor *out, const rx_tensor *a);
rx_status rx_cuda_rmsnorm(rx_tensor *out, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w, double eps);
rx_status rx_cuda_rmsnorm_bwd(rx_tensor *dx, rx_tensor *dw, const rx_tensor *g, const rx_tensor *x, const rx_tensor *w,
                              const rx_tensor *rstd);
rx_status rx_cuda_layernorm(rx_tensor *out, rx_tensor *mean, rx_tensor *rstd, const rx_tensor *x, const rx_tensor *w,
                            const rx_tensor *b, double eps);
rx_status rx_cuda_layernorm_bwd(rx_tensor *dx, rx_tensor *dw, rx_tensor *db, const rx_tensor *g, const rx_tensor *x,
                                const rx_tensor *w, const rx_tensor *mean, const rx_tensor *rstd);
/* nn_embedding.cu */
rx_status rx_cuda_embedding(rx_tensor *out, const rx_tensor *weight, const rx_tensor *ids);
rx_status rx_cuda_embedding_bwd(rx_tensor *dweight, const rx_tensor *g, const rx_tensor *ids, int64_t padding_idx);
/* nn_rope.cu */
rx_status rx_cuda_rope_tables(rx_tensor *cos, rx_tensor *sin, const rx_tensor *positions, const rx_tensor *inv_freq);
rx_status rx_cuda_rope(rx_tensor *out, const rx_tensor *x, const rx_tensor *cos, const rx_tensor *sin, int transpose);
/* rope_append_kv.cu */
rx_status rx_cuda_rope_append_kv(rx_tensor *q, rx_tensor *cache_k, rx_tensor *cache_v, const rx_tensor *qkv,
                                  const rx_tensor *cos, const rx_tensor *sin, const rx_tensor *slot,
                                  int64_t heads, int64_t kv_heads);
/* nn_attention.cu */
void rx_cuda_attention_stat_shape(int64_t B, int64_t H, int64_t T, int64_t S, int *ndim, int64_t *shape);
rx_status rx_cuda_attention(rx_tensor *out, rx_tensor *stat, const rx_tensor *q, const rx_tensor *k, const rx_tensor *v,
                            const rx_tensor *key_padding, const rx_tensor *mask, int causal, double scale,
                            double dropout_p, uint64_t seed, uint64_t offset);
rx_status rx_cuda_attention_bwd(rx_tensor *dq, rx_tensor *dk, rx_tensor *dv, const rx_tensor *g, const rx_tensor *q,
                                const rx_tensor *k, const rx_tensor *v, const rx_tensor *out, const rx_tensor *stat,
                                const rx_tensor *key_padding, const rx_tensor *mask, int causal, double scale,
                                double dropout_p, uint64_t seed, uint64_t offset);
/* nn_pointwise.cu */
rx_status rx_cuda_swiglu(rx_tensor *out, const rx_tensor *gate, const rx_tensor *up);
rx_status rx_cuda_swiglu_bwd(rx_tensor *dgate, rx_tensor *dup, const rx_tensor *g, const rx_tensor *gate,
                             const rx_tensor *up);
rx_status rx_cuda_dropout(rx_tensor *out, const rx_tensor *x, double p, uint64_t seed, uint64_t offset);
/* nn_fused_infer.cu */
rx_status rx_cuda_add_rmsnorm(rx_tensor *out, rx_tensor *x, const rx_tensor *r, const rx_tensor *w, double eps);
rx_status rx_cuda_swiglu_packed(rx_tensor *out, const rx_tensor *gu);
/* nn_loss.cu */
rx_status rx_cuda_cross_entropy(rx_tensor *loss, rx_tensor *lse, const rx_tensor *logits, const rx_tensor *targets,
                                const rx_tensor *weights, int64_t ignore_index);
rx_status rx_cuda_cross_entropy_bwd(rx_tensor *dlogits, const rx_tensor *grad, const rx_tensor *logits,
                                    const rx_tensor *targets, const rx_tensor *weights, const rx_tensor *lse,
                                    int64_t ignore_index);
rx_status rx_cuda_bce_with_logits(rx_tensor *loss, const rx_tensor *x, const rx_tensor *t);
rx_status rx_cuda_bce_with_logits_bwd(rx_tensor *dx, rx_tensor *dt, const rx_tensor *grad, const rx_tensor *x,
                                      const rx_tensor *t);
rx_status rx_cuda_mse(rx_tensor *loss, const rx_tensor *a, const rx_tensor *b);
rx_status rx_cuda_mse_bwd(rx_tensor *da, rx_tensor *db, const rx_tensor *grad, const rx_tensor *a, const rx_tensor *b);

/* optim.cu: optimizer kernels */
rx_status rx_cuda_adamw_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *exp_avg,
                             rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts);
rx_status rx_cuda_adamw_step_master(int n, rx_tensor *const *params, rx_tensor *const *master, rx_tensor *const *grads,
                                    rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts);
rx_status rx_cuda_sgd_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *bufs, double lr,
                           double momentum, double dampening, double weight_decay, int nesterov, int first_step);
rx_status rx_cuda_sum_squares(int n, rx_tensor *const *tensors, double *out);
rx_status rx_cuda_scale(int n, rx_tensor *const *tensors, double s);
rx_status rx_cuda_clip_grad_norm(int n, rx_tensor *const *tensors, double max_norm, rx_tensor *norm);

/* llama_decode.cu: the decode step of a Llama-family model as one persistent kernel (recx.h
 * "llama decoder"; ops/llama_decoder.c validates the tensors and fills the description). */
typedef struct rx_cuda_decoder_desc {
    int device;
    int bf16; /* 1: bf16 weights and caches, 0: f16 */
    int64_t layers, rows, hidden, heads, kv_heads, head_dim, ffn, vocab, max_len;
    double rms_eps;
    const void *embed, *final_norm, *lm_head;
    const float *inv_freq;
    const void *const *layer; /* layers * RX_LLAMA_LAYER_TENSORS device pointers (NULL: no qkv bias) */
    int64_t *ids;
    const int64_t *positions;
    uint8_t *key_padding;
    int64_t slot;
    int trace;
} rx_cuda_decoder_desc;
typedef struct rx_cuda_decoder rx_cuda_decoder;
rx_status rx_cuda_decoder_new(const rx_cuda_decoder_desc *desc, rx_cuda_decoder **out);
rx_status rx_cuda_decoder_step(rx_cuda_decoder *d, float *logits, int greedy, const int64_t *ban, int n_ban);
rx_status rx_cuda_decoder_wait(rx_cuda_decoder *d, int64_t step, int64_t *out);
void rx_cuda_decoder_free(rx_cuda_decoder *d);
int rx_cuda_decoder_trace(const rx_cuda_decoder *d, double *us, int n);

#ifdef __cplusplus
}
#endif

#endif /* RECX_CUDA_KERNELS_H */
