/* graph.cu — CUDA graphs of recx work: capture, replay and release.
 *
 * Owns: recording the work queued on one device's stream into a cudaGraph (stream capture,
 * relaxed mode, so that the caching allocator may still call cudaMalloc for a new block), the
 * graph pool that keeps every block the capture used for the graph alone (memory.cu), and the
 * "capturing" state that host<->device copies, synchronisations and the ops' host-side index
 * checks consult to refuse or skip what cannot be recorded. A failed or discarded capture ends
 * the stream capture, so the device stays usable.
 *
 * Replaying is one cudaGraphLaunch on the device's stream: it is ordered after the work queued
 * before it and before the work queued after it, like any kernel.
 */
#include "check.h"

#include <stdlib.h>

struct rx_cuda_graph {
    int device;
    cudaGraphExec_t exec;
    rx_cuda_pool *pool;
    int64_t nodes;
};

static int capturing[RX_CUDA_MAX_DEVICES]; /* set between begin and end */

int rx_cuda_capturing(int device)
{
    return device >= 0 && device < RX_CUDA_MAX_DEVICES && __atomic_load_n(&capturing[device], __ATOMIC_ACQUIRE);
}

rx_status rx_cuda_refuse_in_capture(int device, const char *what)
{
    if (!rx_cuda_capturing(device)) return RX_OK;
    return rx_fail(RX_ERR_UNSUPPORTED,
                   "cuda:%d: %s cannot be recorded in a CUDA graph (a capture is in progress): keep host reads, "
                   "host-to-device copies and synchronisations outside the captured function",
                   device, what);
}

int rx_cuda_graph_capturing(rx_device device) { return device.type == RX_CUDA && rx_cuda_capturing(device.index); }

static rx_status check_cuda_device(const char *fn, rx_device device)
{
    if (device.type != RX_CUDA)
        return rx_fail(RX_ERR_DEVICE, "cuda graph: %s: expected a CUDA device, got the CPU", fn);
    return RX_OK;
}

rx_status rx_cuda_graph_begin(rx_device device)
{
    RX_TRY(check_cuda_device("begin", device));
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(device.index, &ctx));
    if (rx_cuda_capturing(device.index))
        return rx_fail(RX_ERR_DEVICE, "cuda graph: begin: cuda:%d is already capturing (captures do not nest)",
                       device.index);
    /* the recorded kernels must not depend on work still queued: let it finish first */
    RX_CUDA_CHECK(cudaStreamSynchronize(ctx->stream));
    /* cuBLAS needs its handle (and workspace) before the capture: make them now */
    cublasHandle_t h;
    RX_TRY(rx_cuda_cublas(ctx, &h));
    rx_cuda_pool *pool;
    RX_TRY(rx_cuda_pool_begin(device.index, &pool));
    rx_status s = RX_CUDA_STATUS(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeRelaxed));
    if (s != RX_OK) {
        rx_cuda_pool_release(pool);
        return rx_fail_context(s, "cuda graph: begin");
    }
    __atomic_store_n(&capturing[device.index], 1, __ATOMIC_RELEASE);
    return RX_OK;
}

rx_status rx_cuda_graph_end(rx_device device, rx_cuda_graph **out)
{
    if (out) *out = NULL;
    RX_TRY(check_cuda_device("end", device));
    if (!rx_cuda_capturing(device.index))
        return rx_fail(RX_ERR_DEVICE, "cuda graph: end: no capture is in progress on cuda:%d", device.index);
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(device.index, &ctx));
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(ctx->stream, &graph);
    __atomic_store_n(&capturing[device.index], 0, __ATOMIC_RELEASE);
    rx_cuda_pool *pool = rx_cuda_pool_end(device.index);
    rx_status s = RX_OK;
    if (e != cudaSuccess) {
        cudaGetLastError();
        s = rx_fail(RX_ERR_DEVICE, "cuda graph: the capture on cuda:%d failed: %s (%s)", device.index,
                    cudaGetErrorString(e), cudaGetErrorName(e));
    }
    if (s != RX_OK || !out) {
        if (graph) cudaGraphDestroy(graph);
        /* kernels recorded but never run: the pool's blocks are free again */
        rx_cuda_pool_release(pool);
        return s;
    }
    rx_cuda_graph *g = (rx_cuda_graph *)calloc(1, sizeof *g);
    if (!g) s = rx_fail(RX_ERR_NOMEM, "cuda graph: out of host memory");
    size_t nodes = 0;
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaGraphGetNodes(graph, NULL, &nodes));
    if (s == RX_OK) s = RX_CUDA_STATUS(cudaGraphInstantiate(&g->exec, graph, 0));
    cudaGraphDestroy(graph);
    if (s != RX_OK) {
        free(g);
        rx_cuda_pool_release(pool);
        return rx_fail_context(s, "cuda graph: end");
    }
    g->device = device.index;
    g->pool = pool;
    g->nodes = (int64_t)nodes;
    *out = g;
    return RX_OK;
}

rx_status rx_cuda_graph_replay(rx_cuda_graph *graph)
{
    if (!graph) return rx_fail(RX_ERR_ARG, "cuda graph: replay: argument #1: expected a graph, got NULL");
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(graph->device, &ctx));
    if (rx_cuda_capturing(graph->device))
        return rx_fail(RX_ERR_DEVICE, "cuda graph: replay: cuda:%d is capturing; replay after the capture ends",
                       graph->device);
    RX_CUDA_CHECK(cudaGraphLaunch(graph->exec, ctx->stream));
    return RX_OK;
}

int64_t rx_cuda_graph_nodes(const rx_cuda_graph *graph) { return graph ? graph->nodes : 0; }

void rx_cuda_graph_free(rx_cuda_graph *graph)
{
    if (!graph) return;
    /* A replay may still be running: CUDA frees the executable graph when it completes, and the
     * pool's blocks, back in the device cache, serve only work queued after it on the same stream. */
    int prev = -1;
    if (cudaGetDevice(&prev) == cudaSuccess && cudaSetDevice(graph->device) == cudaSuccess) {
        cudaGraphExecDestroy(graph->exec);
        cudaSetDevice(prev);
    }
    cudaGetLastError();
    rx_cuda_pool_release(graph->pool);
    free(graph);
}
