/* gpu_check.h — helpers shared by the CUDA tests (tests/gpu/test_cuda_*.c), on top of check.h.
 *
 * Owns: the device the tests run on (GPU), the description of the case under test for failure
 * messages (what), status checks that report and keep going (OKS), releasing several tensors
 * at once (rel), copies across devices (to_dev), poisoning the CUDA cache's freed blocks so that
 * an element a kernel forgets to write shows up (poison), and the selection of test functions
 * by RECX_GPU_TEST_ONLY (RUN_SELECTED).
 */
#ifndef RECX_GPU_CHECK_H
#define RECX_GPU_CHECK_H

#include "check.h"

static const rx_device GPU = {RX_CUDA, 0};

/* The description of the case under test (printf-style), in a buffer that the next call
 * overwrites. */
const char *what(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Expects RX_OK: otherwise a failure naming the expression and the error; returns s == RX_OK. */
#define OKS(expr) ok_(__FILE__, __LINE__, #expr, (expr))
bool ok_(const char *file, int line, const char *expr, rx_status s);

/* Releases the n tensors that follow (NULL allowed). */
void rel(int n, ...);

/* A copy of t on device d (NULL for NULL; a failure and NULL when the copy fails). */
rx_tensor *to_dev(rx_tensor *t, rx_device d);

/* Fills freed CUDA cache blocks of nbytes with 0xFF, NaN in every float dtype (twice: both land
 * at the head of the free list of their size class, where the next allocations of that class
 * are served from). */
void poison(int64_t nbytes);

/* RUN(fn) unless RECX_GPU_TEST_ONLY is set, not empty and does not name fn in its
 * comma-separated list. */
#define RUN_SELECTED(fn)                                                                           \
    do {                                                                                           \
        if (gpu_selected(#fn)) RUN(fn);                                                            \
    } while (0)
bool gpu_selected(const char *name);

#endif
