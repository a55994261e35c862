/* pending_elementwise.c — TEMPORARY placeholders while the elementwise ops are written; delete when done. */
#include "../cpu/cpu_kernels.h"

const char *rx_unary_op_name(rx_unary_op op) { return 0; }
const char *rx_binary_op_name(rx_binary_op op) { return 0; }
rx_status rx_unary(rx_unary_op op, rx_tensor *a, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_unary: not written yet"); }
rx_status rx_binary(rx_binary_op op, rx_tensor *a, rx_tensor *b, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_binary: not written yet"); }
rx_status rx_binary_scalar(rx_binary_op op, rx_tensor *a, double s, int scalar_first, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_binary_scalar: not written yet"); }
rx_status rx_binary_(rx_binary_op op, rx_tensor *a, rx_tensor *b) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_binary_: not written yet"); }
rx_status rx_clamp(rx_tensor *a, double lo, double hi, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_clamp: not written yet"); }
rx_status rx_where(rx_tensor *cond, rx_tensor *a, rx_tensor *b, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_where: not written yet"); }
rx_status rx_masked_fill(rx_tensor *a, rx_tensor *mask, double value, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_masked_fill: not written yet"); }
rx_status rx_cpu_unary(rx_unary_op op, rx_tensor *out, const rx_tensor *a) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_unary: not written yet"); }
rx_status rx_cpu_binary(rx_binary_op op, rx_tensor *out, const rx_tensor *a, const rx_tensor *b) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_binary: not written yet"); }
rx_status rx_cpu_binary_scalar(rx_binary_op op, rx_tensor *out, const rx_tensor *a, double s, int scalar_first) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_binary_scalar: not written yet"); }
rx_status rx_cpu_clamp(rx_tensor *out, const rx_tensor *a, double lo, double hi) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_clamp: not written yet"); }
rx_status rx_cpu_where(rx_tensor *out, const rx_tensor *cond, const rx_tensor *a, const rx_tensor *b) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_where: not written yet"); }
