/* strided.h — the CPU iterator over same-shaped strided operands.
 *
 * Owns: coalescing dims (size-1 dims dropped, mergeable dims fused), splitting the iteration
 * into independent tasks (a task = part of one innermost row) for OpenMP, and computing each
 * task's operand pointers. Kernels write only the innermost loop:
 *
 *     rx_iter it;
 *     rx_iter_init(&it, 3, (const rx_tensor *[]){out, a, b});
 *     int64_t ntasks = rx_iter_tasks(&it);
 *     #pragma omp parallel for if (it.numel >= RX_PARALLEL_MIN)
 *     for (int64_t t = 0; t < ntasks; t++) {
 *         char *p[RX_ITER_MAX_OPS]; int64_t len;
 *         rx_iter_task(&it, t, p, &len);
 *         ... for (i < len) use p[k] + i * it.inner_stride[k] (bytes) ...
 *     }
 */
#ifndef RECX_CPU_STRIDED_H
#define RECX_CPU_STRIDED_H

#include "../core/core.h"

#define RX_ITER_MAX_OPS 4
#define RX_ITER_CHUNK 16384       /* elements of one task at most */
#define RX_PARALLEL_MIN 32768     /* fewer elements than this run on one thread */

typedef struct rx_iter {
    int nops;
    int ndim;                                   /* >= 1 after coalescing */
    int64_t shape[RX_MAX_DIMS];                 /* outer dims first, inner last */
    int64_t stride[RX_ITER_MAX_OPS][RX_MAX_DIMS]; /* bytes */
    char *base[RX_ITER_MAX_OPS];
    int64_t inner_stride[RX_ITER_MAX_OPS];      /* bytes, = stride[k][ndim-1] */
    int64_t numel;
    int64_t nrows;    /* product of outer dims */
    int64_t nchunks;  /* tasks per row */
} rx_iter;

/* All operands must have the same shape (broadcast already applied by strides). */
void rx_iter_init(rx_iter *it, int nops, const rx_tensor *const *ops);
static inline int64_t rx_iter_tasks(const rx_iter *it) { return it->numel ? it->nrows * it->nchunks : 0; }
void rx_iter_task(const rx_iter *it, int64_t task, char **ptrs, int64_t *len);
/* True when every operand's inner stride equals its element size (dense inner rows). */
bool rx_iter_inner_dense(const rx_iter *it, const int64_t *elem_sizes);

#endif /* RECX_CPU_STRIDED_H */
