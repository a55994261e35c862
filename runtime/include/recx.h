/* recx.h — the public C API of the recx runtime.
 *
 * Owns: the declarations every client sees (the Lua bindings, the recx executable, LuaJIT's FFI,
 * other C programs). Everything here is plain C that LuaJIT's ffi.cdef accepts once the
 * preprocessor lines are stripped: opaque handles, enums, plain structs and functions; no macros
 * or inline functions inside the declarations.
 *
 * Conventions
 * - Every fallible call returns rx_status; RX_OK (0) means success. On failure the calling
 *   thread's message (rx_last_error) says what was wrong, e.g.
 *   "matmul: argument #2: expected shape (*, 64, n), got (8, 32)". Nothing here exits or aborts.
 * - Output tensors are returned through `rx_tensor **out` as NEW references: the caller owns them
 *   and releases them with rx_tensor_release. On failure *out is left NULL.
 * - Input tensors are BORROWED: the call does not keep them unless it documents so (views keep
 *   their base's storage alive by their own reference).
 * - Dims are 0-based; a negative dim counts from the end (-1 = last).
 * - Binary ops need both sides on one device and of one dtype: mismatches are errors naming both
 *   sides, never silent casts or copies.
 */
#ifndef RECX_H
#define RECX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rx_status {
    RX_OK = 0,
    RX_ERR_ARG = 1,         /* a bad argument value (negative size, unknown name, ...) */
    RX_ERR_SHAPE = 2,       /* shapes do not fit */
    RX_ERR_DTYPE = 3,       /* dtype not supported or not matching */
    RX_ERR_DEVICE = 4,      /* device not available or not matching */
    RX_ERR_NOMEM = 5,       /* an allocation failed */
    RX_ERR_IO = 6,          /* a file or network operation failed */
    RX_ERR_FORMAT = 7,      /* a file's content is not what its format says */
    RX_ERR_UNSUPPORTED = 8, /* valid request that this build cannot do */
    RX_ERR_INTERRUPTED = 9, /* rx_interrupt_request was called while the op ran */
    RX_ERR_INTERNAL = 10    /* a bug in recx: please report it */
} rx_status;

typedef enum rx_dtype {
    RX_F32 = 0,
    RX_F16 = 1,
    RX_BF16 = 2,
    RX_F64 = 3,
    RX_I32 = 4,
    RX_I64 = 5,
    RX_U8 = 6,
    RX_BOOL = 7
} rx_dtype;

typedef enum rx_device_type { RX_CPU = 0, RX_CUDA = 1 } rx_device_type;

typedef struct rx_device {
    rx_device_type type;
    int index;
} rx_device;

/* A tensor: a strided view (shape, strides, offset, dtype) on refcounted storage. Opaque. */
typedef struct rx_tensor rx_tensor;

/* A counter-based (Philox 4x32-10) random generator: a seed plus an offset that each draw
 * advances by the number of values drawn, so every device draws the same numbers. Opaque. */
typedef struct rx_generator rx_generator;

/* ---- library ---------------------------------------------------------------------------- */
const char *rx_version(void);
const char *rx_last_error(void);  /* the calling thread's last message ("" when none) */
void rx_clear_error(void);
const char *rx_status_name(rx_status status);
void rx_set_num_threads(int n);   /* OpenMP and OpenBLAS threads; n <= 0 restores the default */
int rx_get_num_threads(void);

/* Interrupts: a signal handler may call rx_interrupt_request(); long-running ops poll it and
 * return RX_ERR_INTERRUPTED. The flag is cleared by rx_interrupt_clear or when reported. */
void rx_interrupt_request(void);
void rx_interrupt_clear(void);
int rx_interrupt_pending(void);

/* Memory accounting of tensor storage owned by recx (mmapped files excluded). */
typedef struct rx_mem_stats {
    int64_t live_bytes;
    int64_t peak_bytes;
    int64_t live_storages;
    int64_t live_tensors;
    int64_t total_allocs;
    int64_t cached_bytes; /* freed blocks kept by the device allocator for reuse */
} rx_mem_stats;
void rx_mem_get_stats(rx_device_type device, rx_mem_stats *out);
void rx_mem_reset_peak(rx_device_type device);
void rx_mem_empty_cache(rx_device_type device); /* return cached blocks to the system */

/* ---- dtypes and devices -------------------------------------------------------------------- */
const char *rx_dtype_name(rx_dtype dtype);            /* "f32", "bf16", "i64", "bool", ... */
rx_status rx_dtype_from_name(const char *name, rx_dtype *out); /* also accepts torch names */
int64_t rx_dtype_size(rx_dtype dtype);
int rx_dtype_is_float(rx_dtype dtype);
rx_device rx_cpu(void);
rx_status rx_device_from_name(const char *name, rx_device *out); /* "cpu", "cuda", "cuda:1" */
int rx_cuda_available(void);
int rx_cuda_device_count(void);
/* Waits until every queued CUDA operation has finished (for timing from the host); reports a
 * device error raised meanwhile. RX_OK at once when there is no CUDA device. */
rx_status rx_cuda_synchronize(void);
/* CUDA graphs. Between rx_cuda_graph_begin and rx_cuda_graph_end, the work recx queues on the
 * device's stream is recorded instead of run; rx_cuda_graph_replay runs the recorded kernels
 * again, on the same memory, in one launch. While capturing: host<->device copies and
 * synchronisations fail (they cannot be recorded), and the host-side range checks of index
 * tensors on the device are skipped (an out-of-range id gives a zero row in embedding). The
 * allocations made during the capture belong to the graph until rx_cuda_graph_free: tensors
 * created during the capture and kept are the graph's outputs (each replay rewrites them), and
 * every tensor the recorded work reads must stay alive while the graph is replayed.
 * rx_cuda_graph_end with out == NULL discards the capture (after an error). */
typedef struct rx_cuda_graph rx_cuda_graph;
rx_status rx_cuda_graph_begin(rx_device device);
rx_status rx_cuda_graph_end(rx_device device, rx_cuda_graph **out);
rx_status rx_cuda_graph_replay(rx_cuda_graph *graph);
int64_t rx_cuda_graph_nodes(const rx_cuda_graph *graph); /* kernels and copies recorded */
void rx_cuda_graph_free(rx_cuda_graph *graph);           /* NULL is fine */
int rx_cuda_graph_capturing(rx_device device);
/* Id rings: token ids handed from the device to the host without a synchronisation (greedy
 * decoding with the host a few steps behind). rx_id_ring_push queues a kernel that copies ids
 * ((rows) i64, contiguous, on the ring's device) into the next of 64 records in mapped host
 * memory; the record index lives on the device, so a push captured into a CUDA graph writes a
 * new record at every replay. rx_id_ring_wait(k) polls until record k (0-based, counted from the
 * ring's creation) is written and copies its rows ids; it fails instead of waiting forever when
 * the device went idle without writing it or a kernel failed, and when record k was overwritten
 * (read records less than 64 pushes behind). */
typedef struct rx_id_ring rx_id_ring;
rx_status rx_id_ring_new(rx_device device, int64_t rows, rx_id_ring **out);
rx_status rx_id_ring_push(rx_id_ring *ring, rx_tensor *ids);
rx_status rx_id_ring_wait(rx_id_ring *ring, int64_t k, int64_t *out);
int64_t rx_id_ring_rows(const rx_id_ring *ring);
void rx_id_ring_free(rx_id_ring *ring); /* waits for the device's queued work; NULL is fine */

/* ---- tensor lifetime and metadata ---------------------------------------------------------- */
rx_tensor *rx_tensor_retain(rx_tensor *t); /* returns t with one more reference */
void rx_tensor_release(rx_tensor *t);      /* NULL is fine */
int rx_tensor_ndim(const rx_tensor *t);
int64_t rx_tensor_size(const rx_tensor *t, int dim);   /* negative dims allowed; -1 if out of range */
int64_t rx_tensor_stride(const rx_tensor *t, int dim); /* in elements */
const int64_t *rx_tensor_shape_ptr(const rx_tensor *t); /* ndim entries, borrowed */
const int64_t *rx_tensor_strides_ptr(const rx_tensor *t);
int64_t rx_tensor_numel(const rx_tensor *t);
int64_t rx_tensor_offset(const rx_tensor *t);          /* in elements, into the storage */
rx_dtype rx_tensor_dtype(const rx_tensor *t);
rx_device rx_tensor_device(const rx_tensor *t);
int rx_tensor_is_contiguous(const rx_tensor *t);
/* The storage's write counter: every in-place op, copy into and optimizer step bumps it (a cache
 * built from a tensor's values can tell that they changed). */
int64_t rx_tensor_version(const rx_tensor *t);
int rx_tensor_shares_storage(const rx_tensor *a, const rx_tensor *b);
void *rx_tensor_data_ptr(const rx_tensor *t); /* first element; CPU memory only, borrowed */

/* Reading values (CPU tensors; any dtype, converted to double). */
rx_status rx_tensor_item(const rx_tensor *t, double *out);              /* numel must be 1 */
rx_status rx_tensor_get(const rx_tensor *t, const int64_t *index, double *out); /* ndim indices */
rx_status rx_tensor_set(rx_tensor *t, const int64_t *index, double value);
rx_status rx_tensor_to_doubles(const rx_tensor *t, double *buf, int64_t n); /* row-major, n = numel */

/* ---- creation ------------------------------------------------------------------------------ */
rx_status rx_empty(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_tensor **out);
rx_status rx_zeros(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_tensor **out);
rx_status rx_ones(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_tensor **out);
rx_status rx_full(int ndim, const int64_t *shape, double value, rx_dtype dtype, rx_device device,
                  rx_tensor **out);
/* [start, end) by step, like torch.arange. */
rx_status rx_arange(double start, double end, double step, rx_dtype dtype, rx_device device,
                    rx_tensor **out);
/* Copies numel elements of `dtype` from a row-major buffer into a new CPU tensor. */
rx_status rx_from_buffer(int ndim, const int64_t *shape, rx_dtype dtype, const void *data,
                         rx_tensor **out);
/* Converts n doubles into a new CPU tensor of `dtype` (the Lua table path). */
rx_status rx_from_doubles(int ndim, const int64_t *shape, rx_dtype dtype, const double *data,
                          rx_tensor **out);

/* ---- views (share storage; no copy) ----------------------------------------------------- */
/* One entry of `shape` may be -1 and is inferred. view fails when strides do not allow it;
 * reshape copies then. */
rx_status rx_view(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_reshape(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_narrow(rx_tensor *t, int dim, int64_t start, int64_t length, rx_tensor **out);
rx_status rx_select(rx_tensor *t, int dim, int64_t index, rx_tensor **out); /* drops dim */
rx_status rx_transpose(rx_tensor *t, int dim0, int dim1, rx_tensor **out);
rx_status rx_permute(rx_tensor *t, int ndim, const int *dims, rx_tensor **out);
/* Broadcast to `shape` (size-1 dims and new leading dims; -1 keeps a size). */
rx_status rx_expand(rx_tensor *t, int ndim, const int64_t *shape, rx_tensor **out);
rx_status rx_squeeze(rx_tensor *t, int dim, rx_tensor **out); /* no-op if size != 1 */
rx_status rx_squeeze_all(rx_tensor *t, rx_tensor **out);
rx_status rx_unsqueeze(rx_tensor *t, int dim, rx_tensor **out); /* dim in [-(ndim+1), ndim] */
/* The broadcast shape of two shapes, numpy rules. out_shape has room for 8 dims. */
rx_status rx_broadcast_shapes(int ndim_a, const int64_t *a, int ndim_b, const int64_t *b,
                              int *out_ndim, int64_t *out_shape);

/* ---- copies and casts ------------------------------------------------------------------ */
rx_status rx_contiguous(rx_tensor *t, rx_tensor **out); /* t itself (retained) if contiguous */
rx_status rx_clone(rx_tensor *t, rx_tensor **out);      /* always a new storage */
rx_status rx_to_dtype(rx_tensor *t, rx_dtype dtype, rx_tensor **out); /* t itself if same */
rx_status rx_to_device(rx_tensor *t, rx_device device, rx_tensor **out); /* t itself if same */
rx_status rx_copy_(rx_tensor *dst, rx_tensor *src); /* src broadcast to dst; casts allowed */
rx_status rx_fill_(rx_tensor *t, double value);
/* dst narrowed along `dim` to [off, off + src->shape[dim]) = src, where off is the single element
 * of `offset` (an i32 or i64 tensor with one element, on dst's device). src has dst's dtype and
 * device, and dst's shape except along dim; both may have any strides (dst may be a view). The
 * offset is read where it lives: on the CPU it is range-checked ("copy_at_: argument #3: offset N
 * out of range [0, size - len] ..."); on CUDA the kernel reads it from device memory (no host
 * read, so the call can be captured into a CUDA graph and replayed with a new offset), and an
 * out-of-range offset writes nothing and cannot be reported. Bumps dst's version; not
 * differentiable (an error when dst requires grad while grad mode is on). */
rx_status rx_copy_at_(rx_tensor *dst, int dim, rx_tensor *offset, rx_tensor *src);

/* ---- random ------------------------------------------------------------------------------ */
rx_generator *rx_generator_new(uint64_t seed);
void rx_generator_free(rx_generator *g);
rx_generator *rx_default_generator(void);        /* process-wide; borrowed */
void rx_generator_set_seed(rx_generator *g, uint64_t seed); /* also resets the offset */
void rx_generator_get_state(const rx_generator *g, uint64_t *seed, uint64_t *offset);
void rx_generator_set_state(rx_generator *g, uint64_t seed, uint64_t offset);
/* gen may be NULL for the default generator. */
rx_status rx_rand(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device,
                  rx_generator *gen, rx_tensor **out);             /* uniform [0, 1) */
rx_status rx_randn(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device,
                   rx_generator *gen, rx_tensor **out);            /* normal(0, 1) */
rx_status rx_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, rx_dtype dtype,
                     rx_device device, rx_generator *gen, rx_tensor **out); /* [low, high) */
rx_status rx_bernoulli(rx_tensor *p, rx_generator *gen, rx_tensor **out); /* same dtype as p */
rx_status rx_bernoulli_scalar(double p, int ndim, const int64_t *shape, rx_dtype dtype,
                              rx_device device, rx_generator *gen, rx_tensor **out);
/* probs: (n) or (B, n) non-negative weights; out: (k) or (B, k) i64 indices. */
rx_status rx_multinomial(rx_tensor *probs, int64_t num_samples, int replacement,
                         rx_generator *gen, rx_tensor **out);

/* ---- elementwise ---------------------------------------------------------------------------- */
typedef enum rx_unary_op {
    RX_NEG = 0, RX_ABS, RX_EXP, RX_LOG, RX_SQRT, RX_RSQRT, RX_SIN, RX_COS, RX_TANH,
    RX_SIGMOID, RX_RELU, RX_SILU, RX_GELU, RX_GELU_TANH, RX_RECIPROCAL, RX_SQUARE, RX_LOG1P,
    RX_EXPM1, RX_FLOOR, RX_CEIL, RX_ROUND, RX_SIGN, RX_LOGICAL_NOT, RX_UNARY_OP_COUNT
} rx_unary_op;

typedef enum rx_binary_op {
    RX_ADD = 0, RX_SUB, RX_MUL, RX_DIV, RX_POW, RX_MAXIMUM, RX_MINIMUM, RX_REMAINDER,
    RX_EQ, RX_NE, RX_LT, RX_LE, RX_GT, RX_GE, RX_LOGICAL_AND, RX_LOGICAL_OR, RX_BINARY_OP_COUNT
} rx_binary_op;

const char *rx_unary_op_name(rx_unary_op op);
const char *rx_binary_op_name(rx_binary_op op);
/* Float ops on integer tensors (exp, sqrt, ...) are dtype errors; comparisons give bool. */
rx_status rx_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out);
rx_status rx_binary(rx_binary_op op, rx_tensor *a, rx_tensor *b, rx_tensor **out);
/* a (op) s, or s (op) a when scalar_first; the result has a's dtype (bool for comparisons). */
rx_status rx_binary_scalar(rx_binary_op op, rx_tensor *a, double s, int scalar_first,
                           rx_tensor **out);
/* a = a (op) b in place, b broadcast to a's shape. */
rx_status rx_binary_(rx_binary_op op, rx_tensor *a, rx_tensor *b);
rx_status rx_clamp(rx_tensor *a, double lo, double hi, rx_tensor **out);
/* cond ? a : b, all broadcast together; cond is bool. */
rx_status rx_where(rx_tensor *cond, rx_tensor *a, rx_tensor *b, rx_tensor **out);
/* a copy of a with value where mask (bool, broadcast to a) is true. */
rx_status rx_masked_fill(rx_tensor *a, rx_tensor *mask, double value, rx_tensor **out);

/* ---- reductions and scans -------------------------------------------------------------- */
typedef enum rx_reduce_op {
    RX_SUM = 0, RX_MEAN, RX_MAX, RX_MIN, RX_PROD, RX_ARGMAX, RX_ARGMIN, RX_ANY, RX_ALL,
    RX_REDUCE_OP_COUNT
} rx_reduce_op;
const char *rx_reduce_op_name(rx_reduce_op op);
/* Reduce over `ndims` dims (ndims == 0: all dims). Sums of integers and bools are i64; mean
 * needs a float dtype; argmax/argmin take at most one dim (none: over the flattened tensor)
 * and give i64; any/all give bool. Float sums accumulate in double. */
rx_status rx_reduce(rx_reduce_op op, rx_tensor *a, int ndims, const int *dims, int keepdim,
                    rx_tensor **out);
/* Max or min along one dim with the index of the first extreme element (i64). */
rx_status rx_max_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices);
rx_status rx_min_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices);
rx_status rx_cumsum(rx_tensor *a, int dim, rx_tensor **out);

/* ---- linear algebra ---------------------------------------------------------------------- */
/* torch.matmul semantics: 1-D and 2-D operands, batched (..., n, k) @ (..., k, m) with
 * broadcast batch dims. f32/f64 through BLAS; f16/bf16 converted to f32 and back. */
rx_status rx_matmul(rx_tensor *a, rx_tensor *b, rx_tensor **out);

/* ---- softmax, sorting ---------------------------------------------------------------------- */
rx_status rx_softmax(rx_tensor *a, int dim, rx_tensor **out);
rx_status rx_log_softmax(rx_tensor *a, int dim, rx_tensor **out);
/* Stable sort along dim; indices are i64. Either output pointer may be NULL. */
rx_status rx_sort(rx_tensor *a, int dim, int descending, rx_tensor **values, rx_tensor **indices);
rx_status rx_topk(rx_tensor *a, int64_t k, int dim, int largest, rx_tensor **values,
                  rx_tensor **indices); /* sorted, ties by lower index */

/* ---- indexing and joining --------------------------------------------------------------- */
/* index: 1-D i32/i64 with entries in [0, size(dim)); negative entries are errors. */
rx_status rx_index_select(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out);
/* torch.gather: out[i][j] = a[index[i][j]][j] for dim 0, index same ndim as a. */
rx_status rx_gather(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out);
/* A copy of a with src added at index along dim (torch.scatter_add). */
rx_status rx_scatter_add(rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src, rx_tensor **out);
rx_status rx_cat(int n, rx_tensor *const *tensors, int dim, rx_tensor **out);
rx_status rx_stack(int n, rx_tensor *const *tensors, int dim, rx_tensor **out);

/* ---- autograd ------------------------------------------------------------------------------
 * Define-by-run: every differentiable op above records a graph node when grad mode is on and an
 * input requires grad. rx_backward walks the graph from `root` and accumulates into the .grad
 * of leaves. In-place writes to a tensor that requires grad are errors while grad mode is on;
 * a tensor saved for backward and then modified in place makes backward fail with a message. */
rx_status rx_set_requires_grad(rx_tensor *t, int requires_grad); /* leaves of a float dtype */
int rx_requires_grad(const rx_tensor *t);
int rx_is_leaf(const rx_tensor *t);            /* no grad_fn */
rx_tensor *rx_grad(const rx_tensor *t);        /* borrowed; NULL when none */
/* Replaces t's .grad (NULL clears it); the gradient must match t's shape, dtype and device. */
rx_status rx_set_grad(rx_tensor *t, rx_tensor *grad);
/* grad: the gradient of root (NULL: root must have one element; 1 is used). Frees the saved
 * tensors of the graph unless retain_graph. */
rx_status rx_backward(rx_tensor *root, rx_tensor *grad, int retain_graph);
rx_status rx_detach(rx_tensor *t, rx_tensor **out); /* same storage, no graph */
const char *rx_grad_fn_name(const rx_tensor *t);    /* e.g. "MatmulBackward", NULL for leaves */
int rx_grad_enabled(void);
int rx_set_grad_enabled(int enabled); /* per thread; returns the previous state */

/* ---- neural-network ops (fused, differentiable, one graph node each) ------------------------
 * Shapes: B batch, T query positions, S key positions, H query heads, G key/value heads (H % G
 * == 0), D head dim, C channels, V vocabulary, N rows. */
/* y = x W^T + b: x (..., in), w (out, in), b (out) or NULL -> (..., out). */
rx_status rx_linear(rx_tensor *x, rx_tensor *w, rx_tensor *b, rx_tensor **out);
/* Rows of weight (V, C) at ids (any shape, i32/i64, entries in [0, V)) -> (ids..., C). Ids equal
 * to padding_idx (-1: none) receive no gradient. The weight gradient is accumulated in a fixed
 * order (deterministic). */
rx_status rx_embedding(rx_tensor *weight, rx_tensor *ids, int64_t padding_idx, rx_tensor **out);
/* Over the last dim C: y = x / sqrt(mean(x^2) + eps) * w; w (C). Statistics in f32 or f64. */
rx_status rx_rmsnorm(rx_tensor *x, rx_tensor *w, double eps, rx_tensor **out);
/* Inference only (an error when grad mode is on and x, r or w requires grad; never recorded):
 * x += r in place (x (..., C) contiguous float; r x's shape, dtype and device, any strides),
 * then *normed = rmsnorm(x, w, eps) of the updated x, w (C). The same bits as rx_binary_(RX_ADD,
 * x, r) followed by rx_rmsnorm(x, w, eps) on the CPU; one kernel on CUDA. Bumps x's version. */
rx_status rx_add_rmsnorm_(rx_tensor *x, rx_tensor *r, rx_tensor *w, double eps, rx_tensor **normed);
/* Over the last dim C: y = (x - mean) / sqrt(var + eps) * w + b (biased var); w, b (C) or NULL. */
rx_status rx_layernorm(rx_tensor *x, rx_tensor *w, rx_tensor *b, double eps, rx_tensor **out);
/* Rotary tables in the Hugging Face layout (rotate-half): for positions p (T) or (B, T) (i32/i64)
 * and inverse frequencies inv_freq (D/2) (f32/f64), cos and sin are (T, D) or (B, T, D) with
 * angle[.., j] = p * inv_freq[j mod D/2]. Not differentiable. */
rx_status rx_rope_tables(rx_tensor *positions, rx_tensor *inv_freq, rx_dtype dtype, rx_tensor **cos,
                         rx_tensor **sin);
/* inv_freq[j] = theta^(-2j/D), j < D/2 (f32). */
rx_status rx_rope_inv_freq(int64_t head_dim, double theta, rx_tensor **out);
/* y = x * cos + rotate_half(x) * sin, rotate_half([x1, x2]) = [-x2, x1] (halves of D).
 * x (B, H, T, D); cos, sin (T, D) or (B, T, D). */
rx_status rx_rope(rx_tensor *x, rx_tensor *cos, rx_tensor *sin, rx_tensor **out);
/* Inference only (one kernel on CUDA): rope of the q and k heads of a stacked projection, with
 * k and v appended to a KV cache. qkv (B, T, (H + 2G) * D) float, unit stride on the last dim
 * (columns [0, H*D) q's heads, [H*D, (H+G)*D) k's, then v's; H = heads, G = kv_heads); cos, sin
 * (T, D) or (Bc, T, D) contiguous, Bc 1 or B, qkv's dtype; cache_k, cache_v (B, G, L, D) with a
 * unit stride on D, qkv's dtype and device. *q = (B, H, T, D) contiguous, equal bit for bit to
 * rx_rope of qkv[..., :H*D] viewed (B, T, H, D) and transposed to (B, H, T, D). With s the one
 * element of slot (an i32/i64 tensor on the caches' device), cache positions [s, s + T) receive
 * the rotated k heads and the v heads; the other positions are untouched. On the CPU s is read
 * and checked ("rope_append_kv: argument #6: slot N out of range [0, L - T] ..."); on CUDA the
 * kernel reads it from device memory (no host read, no sync: the call can be captured into a
 * CUDA graph), and an out-of-range s writes nothing to the caches and cannot be reported. An
 * error when grad mode is on and an input requires grad. Bumps the caches' versions. */
rx_status rx_rope_append_kv(rx_tensor *qkv, rx_tensor *cos, rx_tensor *sin, rx_tensor *cache_k,
                            rx_tensor *cache_v, rx_tensor *slot, int64_t heads, int64_t kv_heads,
                            rx_tensor **q);

typedef struct rx_attention_opts {
    int causal;                 /* query t sees keys s <= t + (S - T) */
    double scale;               /* 0: 1/sqrt(D) */
    rx_tensor *key_padding;     /* (B, S) bool, true = key may be attended, or NULL */
    rx_tensor *additive_mask;   /* (B or 1, H or 1, T, S) float added to the scores, or NULL */
    double dropout_p;           /* on the attention probabilities; 0 in eval */
    rx_generator *generator;    /* for dropout; NULL: the default generator */
} rx_attention_opts;
/* softmax(q k^T * scale + masks) v with grouped-query heads: q (B, H, T, D), k and v (B, G, S,
 * D) -> (B, H, T, D). Additive masking keeps every softmax defined: a query whose keys all
 * get the same -10000 (SASRec's convention) gets the softmax of its raw scores, as in PyTorch.
 * A query that boolean masking (key_padding, causal) leaves without keys gets zeros and zero
 * gradients, never NaN. */
rx_status rx_attention(rx_tensor *q, rx_tensor *k, rx_tensor *v, const rx_attention_opts *opts, rx_tensor **out);
/* silu(gate) * up, same shapes. */
rx_status rx_swiglu(rx_tensor *gate, rx_tensor *up, rx_tensor **out);
/* Inference only (as rx_add_rmsnorm_): gu (..., 2F) float -> silu(gu[..., :F]) * gu[..., F:]
 * (..., F), computed as rx_swiglu computes it (the same bits on the CPU); one kernel on CUDA. */
rx_status rx_swiglu_packed(rx_tensor *gu, rx_tensor **out);
/* Zeroes each element with probability p and scales the rest by 1/(1-p) when training; the
 * identity (a new reference to x) otherwise. The mask is regenerated from the generator's
 * counters in backward, never stored. */
rx_status rx_dropout(rx_tensor *x, double p, int training, rx_generator *gen, rx_tensor **out);
/* Mean cross-entropy of logits (N, V) against targets (N) (i32/i64), skipping rows whose target
 * is ignore_index; weights (N) (float) or NULL scales each row's loss and the mean divides by
 * the sum of the weights of the rows kept. Returns a 0-d f32 (f64 for f64 logits). Log-sum-exp
 * in f32 or better, never materialising probabilities twice. */
rx_status rx_cross_entropy(rx_tensor *logits, rx_tensor *targets, int64_t ignore_index, rx_tensor *weights,
                           rx_tensor **out);
/* Mean binary cross-entropy with logits, numerically stable; same shapes. 0-d result. */
rx_status rx_bce_with_logits(rx_tensor *logits, rx_tensor *targets, rx_tensor **out);
/* Mean squared error; same shapes. 0-d result. */
rx_status rx_mse(rx_tensor *pred, rx_tensor *target, rx_tensor **out);

/* ---- llama decoder: a decode step as one kernel (ops/llama_decoder.c, cuda/llama_decode.cu) -----
 * The one-token decode step of a Llama-family model (pre-norm, rmsnorm, rope in the rotate-half
 * layout, grouped-query attention over a KV cache, SwiGLU MLP) run on CUDA as a single persistent
 * kernel: one launch per token for the whole model, with greedy ids optionally fed back on the
 * device so that the host can queue steps ahead and read the ids later. Inference only, f16 or
 * bf16 weights, no sliding window, biases only on the q/k/v projection. Shapes: N rows, C hidden,
 * H heads, G kv heads, D head dim, F MLP width, V vocabulary, L cache positions. */
typedef struct rx_llama_decoder rx_llama_decoder;
/* The tensors of one layer, in this order, RX_LLAMA_LAYER_TENSORS per layer. */
enum {
    RX_LLAMA_ATTN_NORM, /* (C) */
    RX_LLAMA_QKV_W,     /* ((H + 2G) D, C): q, k and v projections stacked */
    RX_LLAMA_QKV_B,     /* ((H + 2G) D) or NULL */
    RX_LLAMA_O_W,       /* (C, H D) */
    RX_LLAMA_MLP_NORM,  /* (C) */
    RX_LLAMA_GU_W,      /* (2F, C): gate and up projections stacked */
    RX_LLAMA_DOWN_W,    /* (C, F) */
    RX_LLAMA_CACHE_K,   /* (N, G, L, D), written at the slot of each step */
    RX_LLAMA_CACHE_V,   /* (N, G, L, D) */
    RX_LLAMA_LAYER_TENSORS
};
typedef struct rx_llama_decoder_spec {
    int64_t layers, heads, kv_heads;
    double rms_eps;
    rx_tensor *embed;        /* (V, C) */
    rx_tensor *final_norm;   /* (C) */
    rx_tensor *lm_head;      /* (V, C); the embedding itself when tied */
    rx_tensor *inv_freq;     /* (D/2) f32: rope's inverse frequencies (scaling applied) */
    rx_tensor *const *layer; /* layers * RX_LLAMA_LAYER_TENSORS tensors */
    rx_tensor *ids;          /* (N) i64: the tokens the next step feeds (greedy steps rewrite it) */
    rx_tensor *positions;    /* (N) i64: each row's rope position for the first step */
    rx_tensor *key_padding;  /* (N, L) bool: the cache slots each row may attend (each step sets its slot) */
    int64_t slot;            /* the cache slot the first step writes (the prompt length) */
    int trace;               /* nonzero: record the time of each phase (rx_llama_decoder_trace) */
} rx_llama_decoder_spec;
/* Validates every tensor (device, dtype, shape, contiguity) and allocates the step's buffers.
 * The decoder keeps references to all the tensors. A model the kernel cannot run (CPU tensors,
 * f32 weights, dims that are not multiples of 32, ...) gives RX_ERR_UNSUPPORTED naming why. */
rx_status rx_llama_decoder_new(const rx_llama_decoder_spec *spec, rx_llama_decoder **out);
/* Queues one step (does not wait): reads ids, writes k and v at the slot, sets the slot in
 * key_padding. logits (N, V) f32 contiguous on the device, or NULL: receives the step's logits
 * (the lm_head output rounded to the weights' dtype, as the model's forward gives them). greedy:
 * each row's first argmax (ids in ban[0..n_ban) excluded, n_ban <= 16) is written to ids and
 * recorded for rx_llama_decoder_wait. Fails when the cache is full. */
rx_status rx_llama_decoder_step(rx_llama_decoder *d, rx_tensor *logits, int greedy, const int64_t *ban, int n_ban);
/* Waits for greedy step `step` (0-based, counted from the decoder's creation) and copies its N
 * ids to out. Only the last 64 queued steps can be read. Reports a device error, never hangs. */
rx_status rx_llama_decoder_wait(rx_llama_decoder *d, int64_t step, int64_t *out);
int64_t rx_llama_decoder_steps(const rx_llama_decoder *d); /* steps queued so far */
/* With spec.trace: where the last finished step spent its time, seen by block 0: for each phase
 * (5 per layer, then the head) 4 microsecond figures: preparing (row statistics), the math, the
 * writes, and the wait at the next barrier. Returns how many were written (0 without trace). Read
 * after rx_cuda_synchronize. */
int rx_llama_decoder_trace(const rx_llama_decoder *d, double *us, int n);
void rx_llama_decoder_free(rx_llama_decoder *d);           /* waits for queued steps; NULL is fine */

/* ---- optimizers (in place, under no graph; each call bumps the parameters' versions) -------- */
typedef struct rx_adamw_opts {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step; /* 1-based step number, for bias correction */
} rx_adamw_opts;
/* For each i: decoupled weight decay p -= lr * wd * p, then Adam with bias correction. exp_avg
 * and exp_avg_sq are f32 tensors shaped like the parameters (created by the caller with zeros).
 * All lists have n entries; every parameter needs a gradient of its own shape and dtype. */
rx_status rx_adamw_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *exp_avg,
                        rx_tensor *const *exp_avg_sq, const rx_adamw_opts *opts);
/* AdamW with f32 master weights, for models that keep f16/bf16 parameters: for each i, the AdamW
 * step of rx_adamw_step is taken on master_f32[i] (an f32 copy of the parameter, made by the
 * caller and owned by the optimizer), and params_lowp[i] (f16, bf16 or f32) receives the updated
 * master rounded to its dtype (nearest even). grads[i] has params_lowp[i]'s shape and dtype;
 * master_f32[i], exp_avg[i] and exp_avg_sq[i] are f32 of that shape, all distinct tensors. */
rx_status rx_adamw_step_master(int n, rx_tensor *const *params_lowp, rx_tensor *const *master_f32,
                               rx_tensor *const *grads, rx_tensor *const *exp_avg, rx_tensor *const *exp_avg_sq,
                               const rx_adamw_opts *opts);
/* SGD with momentum (torch semantics incl. dampening and nesterov); momentum_bufs[i] may be NULL
 * when momentum == 0. Weight decay is added to the gradient (L2). */
rx_status rx_sgd_step(int n, rx_tensor *const *params, rx_tensor *const *grads, rx_tensor *const *momentum_bufs,
                      double lr, double momentum, double dampening, double weight_decay, int nesterov, int first_step);
/* The global L2 norm of n tensors (accumulated in double). */
rx_status rx_global_norm(int n, rx_tensor *const *tensors, double *out);
/* t *= s in place for each of n tensors. */
rx_status rx_scale_(int n, rx_tensor *const *tensors, double s);
/* Gradient clipping that reads nothing back to the host: *norm = a new 0-d f32 tensor on the
 * tensors' device holding their global L2 norm (accumulated in double like rx_global_norm, then
 * rounded to f32); when that norm is finite and c = max_norm / (norm + 1e-6) < 1, every tensor
 * is scaled in place by c as rx_scale_ would. On the CPU the bits equal rx_global_norm followed
 * by rx_scale_(c). On CUDA the norm and c are computed and applied by kernels, so the call does
 * not wait for the device. All n tensors are float, on one device and not expanded views
 * (written in place); max_norm > 0. n == 0 gives a CPU zero. Versions are bumped whether or
 * not the tensors were scaled. */
rx_status rx_clip_grad_norm_(int n, rx_tensor *const *tensors, double max_norm, rx_tensor **norm);

/* ---- safetensors ----------------------------------------------------------------------------- */
typedef struct rx_safetensors rx_safetensors; /* an open, memory-mapped file */
/* Validates the whole header (JSON, dtypes, shapes, offsets inside the file, no overlaps)
 * before returning. Errors name the file and the tensor. */
rx_status rx_safetensors_open(const char *path, rx_safetensors **out);
void rx_safetensors_close(rx_safetensors *f); /* tensors already taken stay valid */
int64_t rx_safetensors_count(const rx_safetensors *f);
const char *rx_safetensors_name(const rx_safetensors *f, int64_t i); /* file order */
/* A zero-copy CPU tensor viewing the mapping (it keeps the mapping alive). */
rx_status rx_safetensors_get(rx_safetensors *f, const char *name, rx_tensor **out);
const char *rx_safetensors_metadata(const rx_safetensors *f, const char *key); /* NULL if absent */
int64_t rx_safetensors_metadata_count(const rx_safetensors *f);
const char *rx_safetensors_metadata_key(const rx_safetensors *f, int64_t i);
/* Writes tensors (CPU or not: copied to host) and string metadata atomically: a temporary file
 * in the same folder, fsync, rename over `path`, fsync of the folder. */
rx_status rx_safetensors_save(const char *path, int n, const char *const *names, rx_tensor *const *tensors,
                              int n_meta, const char *const *meta_keys, const char *const *meta_values);

/* ---- gguf (runtime/io/gguf.c) ---------------------------------------------------------------- */
/* GGUF files (llama.cpp's model format), versions 2 and 3, little-endian; docs/formats.md "GGUF".
 * rx_gguf_open maps the file and validates EVERYTHING before returning (counts against the file
 * size, string lengths, value and tensor types, dims, byte sizes from the type's block size,
 * aligned offsets inside the file, no overlaps, no duplicate keys or names). Errors name the
 * file and the key or tensor: "gguf: m.gguf: tensor 'blk.3.attn_q.weight': data [1000, 5000)
 * beyond end of file (size 4096)". Metadata strings point into the mapping and are NOT
 * NUL-terminated (use the returned length); keys and tensor names are NUL-terminated copies.
 * Everything borrowed from a file stays valid until rx_gguf_close. */
typedef struct rx_gguf rx_gguf;               /* an open, validated, memory-mapped file */
typedef struct rx_gguf_value rx_gguf_value;   /* one metadata value (borrowed from its file) */
typedef struct rx_gguf_writer rx_gguf_writer; /* a GGUF file being assembled */

typedef enum rx_gguf_type {
    RX_GGUF_U8 = 0, RX_GGUF_I8 = 1, RX_GGUF_U16 = 2, RX_GGUF_I16 = 3, RX_GGUF_U32 = 4,
    RX_GGUF_I32 = 5, RX_GGUF_F32 = 6, RX_GGUF_BOOL = 7, RX_GGUF_STR = 8, RX_GGUF_ARR = 9,
    RX_GGUF_U64 = 10, RX_GGUF_I64 = 11, RX_GGUF_F64 = 12
} rx_gguf_type;
const char *rx_gguf_type_name(rx_gguf_type type); /* "u8" ... "f64", "str", "arr"; NULL if unknown */
/* ggml tensor types by their GGUF id (F32 0, F16 1, Q4_0 2, ..., BF16 30): llama.cpp's names. */
const char *rx_ggml_type_name(int ggml_type);    /* "Q4_K"; NULL when unknown */
int rx_ggml_type_from_name(const char *name);    /* -1 when unknown */
/* Decodes n elements (a multiple of the type's block size) of ggml_type into f32, in parallel.
 * Types: F32 F16 BF16 F64 I8 I16 I32 I64 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K. */
rx_status rx_ggml_dequantize(int ggml_type, const void *src, int64_t n, float *dst);

rx_status rx_gguf_open(const char *path, rx_gguf **out);
void rx_gguf_close(rx_gguf *g); /* NULL is fine; loaded tensors stay valid */
int rx_gguf_version(const rx_gguf *g);
int64_t rx_gguf_alignment(const rx_gguf *g);   /* general.alignment, default 32 */
int64_t rx_gguf_data_offset(const rx_gguf *g); /* file offset of the tensor data section */

/* Metadata, in file order. */
int64_t rx_gguf_kv_count(const rx_gguf *g);
const char *rx_gguf_kv_key(const rx_gguf *g, int64_t i);            /* NULL when out of range */
const rx_gguf_value *rx_gguf_kv_value(const rx_gguf *g, int64_t i); /* NULL when out of range */
const rx_gguf_value *rx_gguf_find(const rx_gguf *g, const char *key); /* NULL when absent */
rx_gguf_type rx_gguf_value_type(const rx_gguf_value *v);
rx_gguf_type rx_gguf_value_elem_type(const rx_gguf_value *v); /* arrays: the elements' type */
int64_t rx_gguf_value_len(const rx_gguf_value *v);            /* arrays: element count; else 1 */
/* Element j of an array value, or the value itself (j = 0) for a scalar. _int reads every integer
 * type (a u64 above INT64_MAX is an error); _float every numeric type; _bool bool only; _string
 * str only (borrowed, *len bytes, not NUL-terminated); _array the j-th array of an array of
 * arrays. Type mismatches are RX_ERR_DTYPE naming the key and both types. */
rx_status rx_gguf_value_int(const rx_gguf_value *v, int64_t j, int64_t *out);
rx_status rx_gguf_value_float(const rx_gguf_value *v, int64_t j, double *out);
rx_status rx_gguf_value_bool(const rx_gguf_value *v, int64_t j, int *out);
rx_status rx_gguf_value_string(const rx_gguf_value *v, int64_t j, const char **out, int64_t *len);
rx_status rx_gguf_value_array(const rx_gguf_value *v, int64_t j, const rx_gguf_value **out);
/* The scalar value of `key` (RX_ERR_ARG when absent), as the value getters with j = 0. */
rx_status rx_gguf_get_int(const rx_gguf *g, const char *key, int64_t *out);
rx_status rx_gguf_get_float(const rx_gguf *g, const char *key, double *out);
rx_status rx_gguf_get_bool(const rx_gguf *g, const char *key, int *out);
rx_status rx_gguf_get_string(const rx_gguf *g, const char *key, const char **out, int64_t *len);

/* Tensors, in file order. */
typedef struct rx_gguf_tensor_info {
    const char *name;      /* borrowed from the file handle */
    int ggml_type;
    const char *type_name; /* "Q4_1" */
    int ndim;              /* 0..4 */
    int64_t shape[4];      /* PyTorch order: GGUF's ne reversed (ne [576, 49152] -> (49152, 576)) */
    int64_t offset;        /* absolute file offset of the data */
    int64_t nbytes;
} rx_gguf_tensor_info;
int64_t rx_gguf_tensor_count(const rx_gguf *g);
int64_t rx_gguf_tensor_find(const rx_gguf *g, const char *name); /* -1 when absent */
rx_status rx_gguf_tensor_info_at(const rx_gguf *g, int64_t i, rx_gguf_tensor_info *out);
const void *rx_gguf_tensor_data(const rx_gguf *g, int64_t i); /* raw bytes in the mapping */
/* Tensor `name` as a new tensor of `dtype` on `device` in PyTorch order. F32/F16/BF16/F64/I32/I64
 * data asked in its own dtype on the CPU is a zero-copy view of the mapping (it keeps the mapping
 * alive; private pages, so in-place writes never reach the file); quantised types are dequantised
 * to f32 (bit-identical to ggml) and then converted as rx_to_dtype does. */
rx_status rx_gguf_load(rx_gguf *g, const char *name, rx_dtype dtype, rx_device device, rx_tensor **out);

/* Writing GGUF v3 (alignment 32): add metadata and tensors in order, then write. Keys and tensor
 * names must be unique, non-empty and free of NUL bytes. */
rx_status rx_gguf_writer_new(rx_gguf_writer **out);
void rx_gguf_writer_free(rx_gguf_writer *w); /* NULL is fine; releases the tensors it holds */
/* type: U8..I64 or BOOL (0/1); the value must fit the type. */
rx_status rx_gguf_writer_add_int(rx_gguf_writer *w, const char *key, rx_gguf_type type, int64_t value);
rx_status rx_gguf_writer_add_float(rx_gguf_writer *w, const char *key, rx_gguf_type type, double value); /* F32/F64 */
rx_status rx_gguf_writer_add_string(rx_gguf_writer *w, const char *key, const char *s, int64_t len); /* len < 0: strlen */
rx_status rx_gguf_writer_add_int_array(rx_gguf_writer *w, const char *key, rx_gguf_type elem_type, int64_t n,
                                       const int64_t *values);
rx_status rx_gguf_writer_add_float_array(rx_gguf_writer *w, const char *key, rx_gguf_type elem_type, int64_t n,
                                         const double *values);
/* lens may be NULL (strlen of each). */
rx_status rx_gguf_writer_add_string_array(rx_gguf_writer *w, const char *key, int64_t n, const char *const *s,
                                          const int64_t *lens);
/* Retains t (any device, any float or integer dtype, 0..4 dims, no empty dim) until written or freed;
 * ggml_type: F32 (0), F16 (1) or BF16 (30): values are converted when written. */
rx_status rx_gguf_writer_add_tensor(rx_gguf_writer *w, const char *name, rx_tensor *t, int ggml_type);
/* Writes atomically: a temporary file in the same folder, fsync, rename over `path`, fsync of the
 * folder. The writer may be written again or freed afterwards. */
rx_status rx_gguf_writer_write(rx_gguf_writer *w, const char *path);

/* ---- text: BPE tokenizer (runtime/text/) ------------------------------------------------------ */
/* Byte-level BPE (GPT-2 style: SmolLM2, Llama-3, Qwen2) and SentencePiece-style BPE with byte
 * fallback (Llama-2, Mistral, TinyLlama), loaded from a tokenizer.json (the subset in
 * docs/formats.md "tokenizer.json subset") or from GGUF tokenizer metadata. Encoding follows HF
 * tokenizers: split on added tokens (longest match; lstrip/rstrip/single_word/normalized), the
 * normalizer, the pre-tokenizer (PCRE2 regexes), BPE per word, the post-processor. Ids are
 * 0-based int32. A tokenizer is not safe to use from two threads at once (it owns a word cache). */
typedef struct rx_tokenizer rx_tokenizer;

/* GGUF tokenizer metadata as plain arrays (keys "tokenizer.ggml.*"); everything is borrowed for
 * the duration of the call. Strings are NUL-terminated unless the matching *_lens array is given.
 * Absent ids are -1; absent flags are -1 (add_bos defaults to 1 for model "llama", else 0). */
typedef struct rx_tokenizer_gguf {
    const char *model;              /* tokenizer.ggml.model: "gpt2" or "llama" */
    const char *pre;                /* tokenizer.ggml.pre, or NULL */
    int64_t n_tokens;
    const char *const *tokens;
    const int64_t *token_lens;      /* or NULL */
    const float *scores;            /* or NULL (model "llama" without merges needs them) */
    const int32_t *token_types;     /* or NULL: 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte */
    int64_t n_merges;
    const char *const *merges;      /* "a b" */
    const int64_t *merge_lens;      /* or NULL */
    int64_t bos_id, eos_id, unk_id, pad_id;
    int add_bos, add_eos, add_space_prefix; /* add_space_prefix is ignored, as transformers does */
} rx_tokenizer_gguf;

/* Parses tokenizer.json text (len bytes); `name` labels errors ("tokenizer.json: model.type
 * 'Unigram' is not supported"). */
rx_status rx_tokenizer_from_json(const char *json, int64_t len, const char *name, rx_tokenizer **out);
rx_status rx_tokenizer_load_json(const char *path, rx_tokenizer **out);
rx_status rx_tokenizer_from_gguf(const rx_tokenizer_gguf *meta, rx_tokenizer **out);
void rx_tokenizer_free(rx_tokenizer *t); /* NULL is fine */

/* Encodes len bytes of text. add_special: add the post-processor's tokens (BOS/EOS); parse_special:
 * match special added tokens in the text (when 0, "<|im_start|>" is plain text). *ids is a new
 * malloc'd array of *n ids (free it with rx_tokenizer_free_ids), NULL when *n == 0. */
rx_status rx_tokenizer_encode(rx_tokenizer *t, const char *text, int64_t len, int add_special, int parse_special,
                              int32_t **ids, int64_t *n);
void rx_tokenizer_free_ids(int32_t *ids);
/* Decodes n ids to bytes (exact: invalid UTF-8 is kept as is). *text is a new malloc'd,
 * NUL-terminated string of *len bytes (free it with rx_tokenizer_free_text). */
rx_status rx_tokenizer_decode(const rx_tokenizer *t, const int32_t *ids, int64_t n, int skip_special, char **text,
                              int64_t *len);
void rx_tokenizer_free_text(char *text);

int64_t rx_tokenizer_vocab_size(const rx_tokenizer *t); /* 1 + the largest id, added tokens included */
/* The id of a token string (added tokens first, then the model vocabulary), or -1. */
int32_t rx_tokenizer_token_to_id(const rx_tokenizer *t, const char *s, int64_t len);
/* The string of an id (borrowed, NUL-terminated, *len bytes when len != NULL), or NULL. */
const char *rx_tokenizer_id_to_token(const rx_tokenizer *t, int32_t id, int64_t *len);
int rx_tokenizer_is_special(const rx_tokenizer *t, int32_t id);
/* Adds special tokens that are never split; new ones get the next free ids, existing ones keep
 * theirs (and become special). ids[i] receives each token's id. */
rx_status rx_tokenizer_add_special(rx_tokenizer *t, int n, const char *const *tokens, int32_t *ids);

typedef enum rx_token_role { RX_TOKEN_BOS = 0, RX_TOKEN_EOS, RX_TOKEN_UNK, RX_TOKEN_PAD } rx_token_role;
int32_t rx_tokenizer_special_id(const rx_tokenizer *t, rx_token_role role); /* -1 when absent */
rx_status rx_tokenizer_set_special_id(rx_tokenizer *t, rx_token_role role, int32_t id); /* -1 clears */
/* Whether add_special adds BOS / EOS (from the post-processor or the GGUF flags). */
int rx_tokenizer_adds_bos(const rx_tokenizer *t);
int rx_tokenizer_adds_eos(const rx_tokenizer *t);


/* ---- net: http download, sha256, zip (runtime/net/, runtime/io/zip.c) ------------------------- */
/* SHA-256 (FIPS 180-4), incremental: init, update any number of times, final. */
typedef struct rx_sha256 {
    uint32_t state[8];
    uint64_t nbytes;      /* message bytes hashed so far */
    uint8_t block[64];    /* the pending partial block */
    int block_len;
} rx_sha256;
void rx_sha256_init(rx_sha256 *s);
void rx_sha256_update(rx_sha256 *s, const void *data, size_t n);
void rx_sha256_final(rx_sha256 *s, uint8_t digest[32]); /* s must be re-initialised to be reused */
void rx_sha256_hex(const uint8_t digest[32], char hex[65]); /* lower-case, NUL-terminated */
/* The lower-case hex digest of a whole file. Polls interrupts. Errors name the file. */
rx_status rx_sha256_file(const char *path, char hex[65]);

/* HTTP(S) over libcurl: blocking transfers that follow redirects. Failures return RX_ERR_IO
 * with a message naming the method, the URL and the HTTP status ("http: GET https://x/y: HTTP
 * 404 Not Found") or the curl error ("... : curl error 7 (Couldn't connect to server): ...");
 * an interrupt (rx_interrupt_request) or a progress callback returning nonzero ends the
 * transfer with RX_ERR_INTERRUPTED. */
typedef int (*rx_http_progress_fn)(void *ud, int64_t done, int64_t total); /* total -1: unknown;
                                                                             nonzero: abort */
typedef struct rx_http_opts {
    double connect_timeout;   /* seconds; 0: 10 */
    double timeout;           /* whole transfer, seconds; 0: none */
    double low_speed_time;    /* abort when slower than low_speed_limit for this long; 0: 30 s */
    int64_t low_speed_limit;  /* bytes per second; 0: 1 */
    const char *const *headers; /* extra "Name: value" request headers, NULL-terminated, or NULL */
    int resume;               /* rx_http_download: continue an existing file with a Range request */
    rx_http_progress_fn progress; /* or NULL; done/total count the whole file, resumed part included */
    void *progress_ud;
} rx_http_opts;
typedef struct rx_http_result {
    long status;              /* the last response's HTTP status (0: none received) */
    int curl_code;            /* the CURLcode of the transfer (0: ok) */
    int64_t bytes;            /* rx_http_download: size of the file afterwards */
    int resumed;              /* the server honoured the Range request (206) */
    int64_t content_length;   /* of the last response's body, -1 unknown */
    char etag[160];           /* ETag of the last response, quotes and W/ removed ("" none) */
    char linked_etag[160];    /* X-Linked-Etag of any response in the redirect chain (Hugging
                                 Face: the sha256 of an LFS file) */
    int64_t linked_size;      /* X-Linked-Size, -1 when absent */
    double retry_after;       /* Retry-After in seconds, -1 when absent */
} rx_http_result;
/* GET url into the file at path (created or truncated; with opts->resume and an existing
 * non-empty file, "Range: bytes=<size>-" is sent: a 206 appends, a 200 (Range ignored) starts
 * the file again, a 416 truncates it and retries without Range). An HTTP status >= 400 leaves
 * the file as it was. What arrived before a failure stays in the file, so a later resume
 * continues it. res (may be NULL) is filled in on success and on failure. */
rx_status rx_http_download(const char *url, const char *path, const rx_http_opts *opts, rx_http_result *res);
/* GET url into memory (at most max_bytes, else an error): *body (NUL-terminated, *len bytes
 * before the NUL) is freed with rx_http_free. */
rx_status rx_http_get(const char *url, const rx_http_opts *opts, int64_t max_bytes, char **body, int64_t *len,
                      rx_http_result *res);
void rx_http_free(void *p);

/* Zip archives (PKWARE APPNOTE subset): the central directory (zip64 included) is read and
 * validated on open; members stored (method 0) or deflated (8), not encrypted, are extracted
 * with a CRC-32 and size check. Errors name the archive and the member. */
typedef struct rx_zip rx_zip;
typedef struct rx_zip_entry {
    const char *name;         /* borrowed from the archive handle */
    int method;               /* 0 stored, 8 deflated */
    uint32_t crc32;
    int64_t compressed_size;
    int64_t size;             /* uncompressed */
    int64_t header_offset;    /* of the local file header */
} rx_zip_entry;
rx_status rx_zip_open(const char *path, rx_zip **out);
void rx_zip_close(rx_zip *z); /* NULL is fine */
int64_t rx_zip_count(const rx_zip *z);
rx_status rx_zip_entry_at(const rx_zip *z, int64_t i, rx_zip_entry *out); /* 0 <= i < count */
int64_t rx_zip_find(const rx_zip *z, const char *name); /* index, -1 when absent */
/* Extracts member i into dest_path atomically (dest_path.part, then rename): no file at
 * dest_path on failure. Polls interrupts. */
rx_status rx_zip_extract(rx_zip *z, int64_t i, const char *dest_path);


/* ---- data: recsys readers (runtime/data/) ----------------------------------------------------- */
/* Line reader (runtime/data/lines.c): gzip files through zlib, plain files read as they are.
 * Lines may be of any length (the buffer grows to the longest line); "\n" ends a line and one
 * trailing "\r" is removed; a last line without "\n" is still a line. A truncated or corrupted
 * gzip stream is an RX_ERR_FORMAT error naming the file and the last good line. */
typedef struct rx_lines rx_lines;
rx_status rx_lines_open(const char *path, rx_lines **out);
/* The next line: *line points into the reader's buffer (valid until the next call; not
 * NUL-terminated), *len its length. At the end *line is NULL and *len 0. */
rx_status rx_lines_next(rx_lines *r, const char **line, int64_t *len);
int64_t rx_lines_lineno(const rx_lines *r); /* number of the line last returned (1-based) */
int64_t rx_lines_offset(const rx_lines *r); /* bytes of the file consumed so far (compressed) */
int64_t rx_lines_size(const rx_lines *r);   /* size of the file on disk */
const char *rx_lines_path(const rx_lines *r);
void rx_lines_close(rx_lines *r); /* NULL is fine */

/* Value parser (runtime/data/parse.c) for one line of JSON or of a Python literal (the 2014
 * Amazon files: {'a': 'It\'s', "b": [True, None, 1.5, 2L], 'c': {...}}: single or double
 * quotes, u/b prefixes, Python escapes, True/False/None, tuples read as lists). A parse fills a
 * reusable document: nodes in pre-order; a list's `count` elements follow it, a dict's `count`
 * key/value pairs follow it as key node (RX_JSTR) then value subtree; `span` is the number of
 * nodes in a subtree, itself included. Strings are decoded to UTF-8 bytes: JSON \u escapes
 * (surrogate pairs joined; a lone surrogate becomes U+FFFD); Python \x escapes are bytes in
 * plain strings (Python 2's str repr) and code points in u'' strings; unknown Python escapes stay
 * as written. Errors (RX_ERR_FORMAT) read "expected ':' after key at column 17, got ','",
 * columns counted in bytes from 1. */
typedef enum rx_syntax { RX_SYNTAX_JSON = 0, RX_SYNTAX_PYTHON = 1, RX_SYNTAX_AUTO = 2 } rx_syntax;
typedef enum rx_jtype {
    RX_JNULL = 0, RX_JFALSE = 1, RX_JTRUE = 2, RX_JINT = 3, RX_JNUM = 4, RX_JSTR = 5, RX_JLIST = 6,
    RX_JDICT = 7
} rx_jtype;
typedef struct rx_jnode {
    rx_jtype type;
    int64_t count; /* list: elements; dict: key/value pairs */
    int64_t span;  /* nodes in this subtree, itself included */
    int64_t ival;  /* RX_JINT */
    double num;    /* RX_JNUM */
    int64_t str;   /* RX_JSTR: offset into rx_jdoc_strings */
    int64_t len;   /* RX_JSTR: length in bytes */
} rx_jnode;
typedef struct rx_jdoc rx_jdoc;
rx_status rx_jdoc_new(rx_jdoc **out);
void rx_jdoc_free(rx_jdoc *d); /* NULL is fine */
/* Parses text[0..len) as one value; RX_SYNTAX_AUTO reads Python when the first key or string
 * is single-quoted (or a literal is True/False/None), JSON otherwise. Nodes and strings stay
 * valid until the next parse. */
rx_status rx_jdoc_parse(rx_jdoc *d, const char *text, int64_t len, rx_syntax syntax);
int64_t rx_jdoc_count(const rx_jdoc *d);
const rx_jnode *rx_jdoc_nodes(const rx_jdoc *d);
const char *rx_jdoc_strings(const rx_jdoc *d);

/* Record reader (runtime/data/records.c): a file of one object per line (JSON lines or Python
 * dict literals, gzipped or not). Empty lines (only spaces) are counted and skipped. A malformed
 * line fails with "<path>:<line>: <parser message>" (RX_ERR_FORMAT), or, when lenient, is
 * counted, its message kept when it is the first, and skipped. */
typedef struct rx_records rx_records;
typedef struct rx_records_stats {
    int64_t lines;   /* lines read */
    int64_t records; /* objects returned */
    int64_t empty;   /* empty lines skipped */
    int64_t skipped; /* malformed lines skipped (lenient) */
} rx_records_stats;
rx_status rx_records_open(const char *path, rx_syntax syntax, int lenient, rx_records **out);
/* The next object: *doc (borrowed, valid until the next call) has a RX_JDICT root; NULL at the
 * end. */
rx_status rx_records_next(rx_records *r, const rx_jdoc **doc);
void rx_records_get_stats(const rx_records *r, rx_records_stats *out);
const char *rx_records_first_skip(const rx_records *r); /* NULL when nothing was skipped */
const rx_lines *rx_records_lines(const rx_records *r);   /* for progress: offset and size */
void rx_records_close(rx_records *r); /* NULL is fine */

#ifdef __cplusplus
}
#endif

#endif /* RECX_H */
