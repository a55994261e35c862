/* pending_matmul_index_random.c — TEMPORARY placeholders while the matmul_index_random ops are written; delete when done. */
#include "../cpu/cpu_kernels.h"

rx_status rx_matmul(rx_tensor *a, rx_tensor *b, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_matmul: not written yet"); }
rx_status rx_index_select(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_index_select: not written yet"); }
rx_status rx_gather(rx_tensor *a, int dim, rx_tensor *index, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_gather: not written yet"); }
rx_status rx_scatter_add(rx_tensor *a, int dim, rx_tensor *index, rx_tensor *src, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_scatter_add: not written yet"); }
rx_status rx_cat(int n, rx_tensor *const *tensors, int dim, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cat: not written yet"); }
rx_status rx_stack(int n, rx_tensor *const *tensors, int dim, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_stack: not written yet"); }
rx_generator *rx_generator_new(uint64_t seed) { return 0; }
void rx_generator_free(rx_generator *g) {  }
rx_generator *rx_default_generator(void) { return 0; }
void rx_generator_set_seed(rx_generator *g, uint64_t seed) {  }
void rx_generator_get_state(const rx_generator *g, uint64_t *seed, uint64_t *offset) {  }
void rx_generator_set_state(rx_generator *g, uint64_t seed, uint64_t offset) {  }
rx_status rx_rand(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_generator *gen, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_rand: not written yet"); }
rx_status rx_randn(int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_generator *gen, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_randn: not written yet"); }
rx_status rx_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_generator *gen, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_randint: not written yet"); }
rx_status rx_bernoulli(rx_tensor *p, rx_generator *gen, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_bernoulli: not written yet"); }
rx_status rx_bernoulli_scalar(double p, int ndim, const int64_t *shape, rx_dtype dtype, rx_device device, rx_generator *gen, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_bernoulli_scalar: not written yet"); }
rx_status rx_multinomial(rx_tensor *probs, int64_t num_samples, int replacement, rx_generator *gen, rx_tensor **out) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_multinomial: not written yet"); }
rx_status rx_cpu_matmul(rx_tensor *out, const rx_tensor *a, const rx_tensor *b) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_matmul: not written yet"); }
rx_status rx_cpu_index_select(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_index_select: not written yet"); }
rx_status rx_cpu_gather(rx_tensor *out, const rx_tensor *a, int dim, const rx_tensor *index) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_gather: not written yet"); }
rx_status rx_cpu_scatter_add(rx_tensor *out, int dim, const rx_tensor *index, const rx_tensor *src) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_scatter_add: not written yet"); }
rx_status rx_cpu_random(int kind, rx_tensor *out, uint64_t seed, uint64_t offset, double p0, double p1) { return rx_fail(RX_ERR_UNSUPPORTED, "rx_cpu_random: not written yet"); }
