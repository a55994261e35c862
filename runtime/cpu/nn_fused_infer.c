/* nn_fused_infer.c — CPU kernels of the inference-only fusions of the decode step: add_rmsnorm
 * (x += r in place, then RMSNorm of the updated rows) and swiglu_packed (SwiGLU of rows whose
 * first half is the gate and second half the up projection).
 *
 * Owns: the promise that these give the same bits as the unfused ops. add_rmsnorm runs the two
 * kernels the unfused ops run (binary RX_ADD in place, then rmsnorm), so it is the same
 * computation by construction; on the CPU the fusion saves nothing but the op-level overhead
 * between them (the point of the fusion is one launch on CUDA). swiglu_packed runs
 * nn_pointwise.c's block function (rx_cpu_swiglu_block) over rx_cpu_swiglu's blocks of the flat
 * output, each block's gate and up values gathered from the packed rows into contiguous 64-byte
 * aligned buffers first. The same blocking
 * matters: in the f32 loop the vector body and the scalar tail may round differently (FMA
 * contraction), so an element's bits depend on its place in its block; with the same blocks the
 * results equal rx_swiglu on the two halves (tests/c/test_fused_infer.c checks the bits).
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK RX_CPU_SWIGLU_BLOCK /* output elements per work item: rx_cpu_swiglu's block */

rx_status rx_cpu_add_rmsnorm(rx_tensor *out, rx_tensor *x, const rx_tensor *r, const rx_tensor *w, double eps)
{
    RX_TRY(rx_cpu_binary(RX_ADD, x, x, r));
    return rx_cpu_rmsnorm(out, NULL, x, w, eps);
}

/* The gate and up values of the flat output elements [off, off + len) of (m, f) rows packed as
 * gu (m, 2f) (es bytes an element), copied into contiguous gate and up buffers run by run. */
static void gather_halves(char *gate, char *up, const char *gu, int64_t f, int64_t es, int64_t off, int64_t len)
{
    int64_t i = off / f, j = off % f;
    for (int64_t t = 0; t < len; i++, j = 0) {
        int64_t run = f - j < len - t ? f - j : len - t;
        const char *row = gu + i * 2 * f * es;
        memcpy(gate + t * es, row + j * es, (size_t)(run * es));
        memcpy(up + t * es, row + (f + j) * es, (size_t)(run * es));
        t += run;
    }
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_index(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Block b covers the flat output elements [b BLOCK, (b + 1) BLOCK) of out (m, f), across rows,
 * as rx_cpu_swiglu's block b does for contiguous (m, f) gate and up tensors. */
rx_status rx_cpu_swiglu_packed(rx_tensor *out, const rx_tensor *gu)
{
    int64_t m = out->shape[0], f = out->shape[1], n = m * f, es = rx_dtype_size(out->dtype);
    /* per thread: the gathered gate and up blocks (2 BLOCK elements), then, for the double
     * path, their double conversions (2 BLOCK doubles) */
    int64_t nb = (n + BLOCK - 1) / BLOCK, per_thread = 2 * BLOCK * (8 + 8);
    rx_dtype dt = out->dtype;
    const char *gp = rx_tensor_bytes(gu);
    char *op = rx_tensor_bytes(out), *bufs = NULL;
    if (n == 0) return RX_OK;
    if (posix_memalign((void **)&bufs, 64, (size_t)(thread_count() * per_thread)) != 0)
        return rx_fail(RX_ERR_NOMEM, "cpu swiglu_packed: out of host memory for row buffers");
#pragma omp parallel if (n >= RX_PARALLEL_MIN)
    {
        char *gate = bufs + thread_index() * per_thread, *up = gate + BLOCK * 8;
        double *a = (double *)(gate + 2 * BLOCK * 8), *u = a + BLOCK;
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t off = blk * BLOCK, len = n - off < BLOCK ? n - off : BLOCK;
            gather_halves(gate, up, gp, f, es, off, len);
            rx_cpu_swiglu_block(dt, op + off * es, gate, up, len, a, u);
        }
    }
    free(bufs);
    return RX_OK;
}
