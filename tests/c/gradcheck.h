/* gradcheck.h — finite-difference gradient checks for the C tests.
 *
 * Owns: comparing the gradients that rx_backward computes against central differences in f64.
 * The checked scalar is L = sum(f(inputs) * R) with a fixed random R shaped like the output, so
 * every output element's gradient path is exercised with a different weight.
 */
#ifndef RECX_GRADCHECK_H
#define RECX_GRADCHECK_H

#include "check.h"

/* Computes the op under test from its inputs through the public (recording) API. ctx carries any
 * extra arguments. Returns a new reference in *out. */
typedef rx_status (*gc_fn)(rx_tensor *const *inputs, void *ctx, rx_tensor **out);

/* inputs: n f64 tensors; those with requires_grad are checked (element by element, eps 1e-6),
 * the others are held fixed. A mismatch fails the current test with the op name, the input
 * number (1-based) and the element index. Returns true when everything matched. */
bool gradcheck(const char *name, gc_fn fn, int n, rx_tensor *const *inputs, void *ctx, double atol, double rtol);

/* A fresh f64 leaf with values from N(0, 1) drawn with `seed`, requiring grad. */
rx_tensor *gc_leaf(int ndim, const int64_t *shape, uint64_t seed);

#endif
