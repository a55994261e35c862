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

extern const rx_backend rx_cpu_backend;

#endif /* RECX_BACKEND_H */
