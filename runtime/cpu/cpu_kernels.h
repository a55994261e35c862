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

#endif /* RECX_CPU_KERNELS_H */
