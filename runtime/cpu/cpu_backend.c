/* cpu_backend.c — the CPU kernel table (see backend/backend.h for each entry's contract). */
#include "cpu_kernels.h"

const rx_backend rx_cpu_backend = {
    .name = "cpu",
    .alloc = rx_cpu_alloc,
    .free = rx_cpu_free,
    .copy = rx_cpu_copy,
    .fill = rx_cpu_fill,
    .unary = rx_cpu_unary,
    .binary = rx_cpu_binary,
    .binary_scalar = rx_cpu_binary_scalar,
    .clamp = rx_cpu_clamp,
    .where = rx_cpu_where,
    .reduce_rows = rx_cpu_reduce_rows,
    .cumsum_rows = rx_cpu_cumsum_rows,
    .softmax_rows = rx_cpu_softmax_rows,
    .sort_rows = rx_cpu_sort_rows,
    .matmul = rx_cpu_matmul,
    .index_select = rx_cpu_index_select,
    .gather = rx_cpu_gather,
    .scatter_add = rx_cpu_scatter_add,
    .random = rx_cpu_random,
};
