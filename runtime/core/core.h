/* core.h — private definitions of the recx core, shared by core/, ops/, cpu/ and cuda/.
 *
 * Owns: the layout of storage and tensors, the error-reporting helpers every layer uses, and
 * small shape utilities. Nothing here includes lua.h; nothing here is part of the public ABI.
 */
#ifndef RECX_CORE_H
#define RECX_CORE_H

#include "recx.h"

#include <stdarg.h>
#include <stdbool.h>

#define RX_MAX_DIMS 8

/* Refcounted memory. A storage either owns its bytes (freed through its device's allocator) or
 * borrows them from an owner (an mmapped file, ...) released through `release_owner`. */
typedef struct rx_storage {
    int64_t refcount;
    void *data;
    int64_t nbytes;
    rx_device device;
    void *owner;                       /* non-NULL: borrowed memory */
    void (*release_owner)(void *owner);
    int64_t version;                   /* bumped by every in-place write (autograd checks it) */
} rx_storage;

struct rx_tensor {
    int64_t refcount;
    rx_storage *storage;
    int64_t offset; /* elements */
    int ndim;
    int64_t shape[RX_MAX_DIMS];
    int64_t stride[RX_MAX_DIMS]; /* elements; 0 for broadcast dims */
    rx_dtype dtype;
    /* Autograd metadata, owned and interpreted by the autograd layer; the core only frees it
     * through `autograd_free` when the tensor dies. */
    void *autograd;
    void (*autograd_free)(void *autograd);
};

/* ---- errors ---- */
/* Sets the thread's message (printf-style) and returns `status`, so callers can write
 * `return rx_fail(RX_ERR_SHAPE, "cat: ...")`. */
rx_status rx_fail(rx_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "prefix: " to the current message and returns status (for layered context). */
rx_status rx_fail_context(rx_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Propagate a failing status. */
#define RX_TRY(expr)                        \
    do {                                    \
        rx_status rx_try_s_ = (expr);       \
        if (rx_try_s_ != RX_OK) return rx_try_s_; \
    } while (0)

/* Formats a shape as "(2, 3, 4)" into buf (size >= 128 is enough for 8 dims). */
const char *rx_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* ---- shapes ---- */
int64_t rx_shape_numel(int ndim, const int64_t *shape);
/* Normalises a possibly-negative dim against ndim; returns false when out of range. */
bool rx_dim_normalize(int dim, int ndim, int *out);
/* Checks a dim argument and writes "<op>: argument #<argn>: dim <d> out of range for a <n>-D
 * tensor (expected -n..n-1)" on failure. */
rx_status rx_check_dim(const char *op, int argn, int dim, int ndim, int *out);
rx_status rx_check_shape(const char *op, int ndim, const int64_t *shape); /* sizes >= 0, ndim ok */
/* Row-major contiguous strides for a shape. */
void rx_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);

/* ---- storage and tensors ---- */
rx_status rx_storage_new(int64_t nbytes, rx_device device, rx_storage **out);
rx_storage *rx_storage_wrap(void *data, int64_t nbytes, void *owner, void (*release_owner)(void *));
void rx_storage_retain(rx_storage *s);
void rx_storage_release(rx_storage *s);

/* A new tensor header on `storage` (retained) with the given geometry. */
rx_status rx_tensor_make(rx_storage *storage, int64_t offset, int ndim, const int64_t *shape,
                         const int64_t *stride, rx_dtype dtype, rx_tensor **out);
/* A new view header sharing t's storage. */
rx_status rx_tensor_view_of(rx_tensor *t, int64_t offset, int ndim, const int64_t *shape,
                            const int64_t *stride, rx_tensor **out);
/* Pointer to element 0 of a CPU tensor, as bytes. */
static inline char *rx_tensor_bytes(const rx_tensor *t)
{
    return (char *)t->storage->data + t->offset * rx_dtype_size(t->dtype);
}
/* The value of element 0 of an i32 or i64 CPU tensor (an offset or a slot held in a tensor). */
static inline int64_t rx_tensor_index_value(const rx_tensor *t)
{
    const char *p = rx_tensor_bytes(t);
    if (t->dtype == RX_I64) return *(const int64_t *)p;
    return *(const int32_t *)p;
}
static inline void rx_tensor_bump_version(rx_tensor *t) { __atomic_add_fetch(&t->storage->version, 1, __ATOMIC_RELAXED); }
bool rx_same_device(rx_device a, rx_device b);
const char *rx_device_str(rx_device d, char *buf, size_t size); /* "cpu", "cuda:0" */

/* Argument checks shared by ops: they name the op and the argument position. */
rx_status rx_check_tensor(const char *op, int argn, const rx_tensor *t);
rx_status rx_check_same_device(const char *op, const rx_tensor *a, int argn_a, const rx_tensor *b,
                               int argn_b);
rx_status rx_check_same_dtype(const char *op, const rx_tensor *a, int argn_a, const rx_tensor *b,
                              int argn_b);
rx_status rx_check_float(const char *op, int argn, const rx_tensor *t);
rx_status rx_check_index_dtype(const char *op, int argn, const rx_tensor *t); /* i32 or i64 */

/* ---- scalar conversion (any dtype <-> double), used by generic kernels ---- */
float rx_f16_to_f32(uint16_t h);
uint16_t rx_f32_to_f16(float f);   /* round to nearest even */
float rx_bf16_to_f32(uint16_t h);
uint16_t rx_f32_to_bf16(float f);  /* round to nearest even, NaN preserved */
double rx_load_double(const void *p, rx_dtype dtype);
void rx_store_double(void *p, rx_dtype dtype, double v);

/* ---- memory accounting (used by device allocators) ---- */
void rx_mem_note_alloc(rx_device_type device, int64_t nbytes);
void rx_mem_note_free(rx_device_type device, int64_t nbytes);
void rx_mem_note_tensor(int delta);

/* ---- random generators (core/generator.c) ---- */
/* Reserves n consecutive Philox counters of g (NULL: the default generator) for one draw:
 * writes g's seed and the first counter, and advances g's offset by n (atomically). */
void rx_generator_reserve(rx_generator *g, uint64_t n, uint64_t *seed, uint64_t *offset);

/* ---- interrupts ---- */
/* Returns RX_ERR_INTERRUPTED with a message (and clears the flag) when an interrupt is pending. */
rx_status rx_poll_interrupt(const char *op);

#endif /* RECX_CORE_H */
