/* pending_reduce.c — TEMPORARY placeholders while the reduce ops are written; delete when done. */
#include "../cpu/cpu_kernels.h"

const char *rx_reduce_op_name(rx_reduce_op op) { return 0; }
rx_status rx_reduce(rx_reduce_op op, rx_tensor *a, int ndims, const int *dims, int keepdim, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_reduce: not written yet"); }
rx_status rx_max_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_max_dim: not written yet"); }
rx_status rx_min_dim(rx_tensor *a, int dim, int keepdim, rx_tensor **values, rx_tensor **indices) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_min_dim: not written yet"); }
rx_status rx_cumsum(rx_tensor *a, int dim, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cumsum: not written yet"); }
rx_status rx_softmax(rx_tensor *a, int dim, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_softmax: not written yet"); }
rx_status rx_log_softmax(rx_tensor *a, int dim, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_log_softmax: not written yet"); }
rx_status rx_sort(rx_tensor *a, int dim, int descending, rx_tensor **values, rx_tensor **indices) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_sort: not written yet"); }
rx_status rx_topk(rx_tensor *a, int64_t k, int dim, int largest, rx_tensor **values, rx_tensor **indices) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_topk: not written yet"); }
rx_status rx_cpu_reduce_rows(rx_reduce_op op, rx_tensor *out, rx_tensor *index, const rx_tensor *a) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_reduce_rows: not written yet"); }
rx_status rx_cpu_cumsum_rows(rx_tensor *out, const rx_tensor *a) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_cumsum_rows: not written yet"); }
rx_status rx_cpu_softmax_rows(rx_tensor *out, const rx_tensor *a, int log) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_softmax_rows: not written yet"); }
rx_status rx_cpu_sort_rows(rx_tensor *values, rx_tensor *indices, const rx_tensor *a, int64_t k, int descending) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_sort_rows: not written yet"); }
