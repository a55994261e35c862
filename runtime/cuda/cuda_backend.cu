/* cuda_backend.cu — the CUDA kernel table, the per-device contexts and CUDA error reporting.
 *
 * Owns: the rx_backend table of CUDA (see backend/backend.h for each entry's contract); each
 * device's context (its stream, its cuBLAS handle, its multiprocessor count), created on first use
 * under a lock; the messages of failed CUDA and cuBLAS calls (check.h); and the sticky-error
 * state: once a call reports an error that leaves the CUDA context unusable (an illegal address
 * in a kernel, ...), every later entry on that device fails with that first message instead of
 * running, since the runtime cannot recover without a new process.
 */
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static rx_cuda_ctx contexts[RX_CUDA_MAX_DEVICES];
static int ctx_ready[RX_CUDA_MAX_DEVICES];
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

static int sticky[RX_CUDA_MAX_DEVICES];
static char sticky_message[RX_CUDA_MAX_DEVICES][768];

/* Errors after which the context can no longer run anything. */
static bool is_sticky(cudaError_t e)
{
    switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed: return true;
    default: return false;
    }
}

/* "cuda/copy_fill.cu" from a full path. */
static const char *short_path(const char *file)
{
    const char *p = strstr(file, "cuda/");
    return p ? p : file;
}

void rx_cuda_mark_sticky(int device, const char *message)
{
    if (device < 0 || device >= RX_CUDA_MAX_DEVICES) return;
    pthread_mutex_lock(&ctx_lock);
    if (!sticky[device]) {
        snprintf(sticky_message[device], sizeof sticky_message[device], "%s", message);
        __atomic_store_n(&sticky[device], 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ctx_lock);
}

rx_status rx_cuda_fail_call(cudaError_t e, const char *call, const char *file, int line)
{
    int device = -1;
    if (cudaGetDevice(&device) != cudaSuccess) device = -1;
    char call_buf[160];
    /* a long argument list says little: keep the function name and the first arguments */
    snprintf(call_buf, sizeof call_buf, "%s", call);
    if (strlen(call) >= sizeof call_buf) memcpy(call_buf + sizeof call_buf - 5, "...)", 5);
    rx_status s = rx_fail(e == cudaErrorMemoryAllocation ? RX_ERR_NOMEM : RX_ERR_DEVICE,
                          "cuda:%d: %s failed at %s:%d: %s (%s)", device, call_buf, short_path(file), line,
                          cudaGetErrorString(e), cudaGetErrorName(e));
    if (is_sticky(e))
        rx_cuda_mark_sticky(device, rx_last_error());
    else
        cudaGetLastError(); /* a non-sticky error must not be reported again by the next launch */
    return s;
}

rx_status rx_cublas_fail_call(cublasStatus_t e, const char *call, const char *file, int line)
{
    int device = -1;
    if (cudaGetDevice(&device) != cudaSuccess) device = -1;
    char call_buf[160];
    snprintf(call_buf, sizeof call_buf, "%s", call);
    if (strlen(call) >= sizeof call_buf) memcpy(call_buf + sizeof call_buf - 5, "...)", 5);
    /* a kernel failure inside cuBLAS shows as EXECUTION_FAILED; the runtime knows whether it stuck */
    cudaError_t pending = cudaPeekAtLastError();
    rx_status s = rx_fail(e == CUBLAS_STATUS_ALLOC_FAILED ? RX_ERR_NOMEM : RX_ERR_DEVICE,
                          "cuda:%d: %s failed at %s:%d: %s (%s)", device, call_buf, short_path(file), line,
                          cublasGetStatusString(e), cublasGetStatusName(e));
    if (is_sticky(pending)) rx_cuda_mark_sticky(device, rx_last_error());
    return s;
}

rx_status rx_cuda_enter(int device, rx_cuda_ctx **out)
{
    *out = NULL;
    if (device < 0 || device >= RX_CUDA_MAX_DEVICES)
        return rx_fail(RX_ERR_DEVICE, "cuda:%d: device index out of range (recx handles %d devices)", device,
                       RX_CUDA_MAX_DEVICES);
    if (__atomic_load_n(&sticky[device], __ATOMIC_ACQUIRE))
        return rx_fail(RX_ERR_DEVICE,
                       "cuda:%d: the device is unusable after an earlier error (restart the process): %s", device,
                       sticky_message[device]);
    RX_CUDA_CHECK(cudaSetDevice(device));
    rx_cuda_ctx *ctx = &contexts[device];
    if (!__atomic_load_n(&ctx_ready[device], __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&ctx_lock);
        rx_status s = RX_OK;
        if (!ctx_ready[device]) {
            ctx->device = device;
            s = RX_CUDA_STATUS(cudaDeviceGetAttribute(&ctx->sm_count, cudaDevAttrMultiProcessorCount, device));
            if (s == RX_OK) s = RX_CUDA_STATUS(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamDefault));
            if (s == RX_OK) __atomic_store_n(&ctx_ready[device], 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&ctx_lock);
        if (s != RX_OK) return s;
    }
    *out = ctx;
    return RX_OK;
}

#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20) /* what NVIDIA advises for Hopper */

rx_status rx_cuda_cublas(rx_cuda_ctx *ctx, cublasHandle_t *out)
{
    if (!__atomic_load_n(&ctx->cublas, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&ctx_lock);
        rx_status s = RX_OK;
        if (!ctx->cublas) {
            cublasHandle_t h = NULL;
            s = RX_CUBLAS_STATUS(cublasCreate(&h));
            if (s == RX_OK) s = RX_CUBLAS_STATUS(cublasSetStream(h, ctx->stream));
            /* TF32 stays off: f32 products use full f32 arithmetic (CUBLAS_COMPUTE_32F) */
            if (s == RX_OK) s = RX_CUBLAS_STATUS(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
            /* a workspace of its own, so that cuBLAS never allocates inside a graph capture */
            void *ws = NULL;
            if (s == RX_OK) s = RX_CUDA_STATUS(cudaMalloc(&ws, CUBLAS_WORKSPACE_BYTES));
            if (s == RX_OK) s = RX_CUBLAS_STATUS(cublasSetWorkspace(h, ws, CUBLAS_WORKSPACE_BYTES));
            if (s != RX_OK && ws) cudaFree(ws);
            if (s == RX_OK)
                __atomic_store_n(&ctx->cublas, h, __ATOMIC_RELEASE);
            else if (h)
                cublasDestroy(h);
        }
        pthread_mutex_unlock(&ctx_lock);
        if (s != RX_OK) return s;
    }
    *out = ctx->cublas;
    return RX_OK;
}

void *rx_cuda_stream(int device)
{
    rx_cuda_ctx *ctx;
    if (rx_cuda_enter(device, &ctx) != RX_OK) return NULL;
    return (void *)ctx->stream;
}

static rx_backend table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    table.name = "cuda";
    table.alloc = rx_cuda_alloc;
    table.free = rx_cuda_free;
    table.copy = rx_cuda_copy;
    table.fill = rx_cuda_fill;
    table.copy_at = rx_cuda_copy_at;
    table.unary = rx_cuda_unary;
    table.binary = rx_cuda_binary;
    table.binary_scalar = rx_cuda_binary_scalar;
    table.clamp = rx_cuda_clamp;
    table.where = rx_cuda_where;
    table.reduce_rows = rx_cuda_reduce_rows;
    table.cumsum_rows = rx_cuda_cumsum_rows;
    table.softmax_rows = rx_cuda_softmax_rows;
    table.sort_rows = rx_cuda_sort_rows;
    table.matmul = rx_cuda_matmul;
    table.index_select = rx_cuda_index_select;
    table.gather = rx_cuda_gather;
    table.scatter_add = rx_cuda_scatter_add;
    table.random = rx_cuda_random;
    /* fused neural-network kernels */
    table.col_sum = rx_cuda_col_sum;
    table.embedding = rx_cuda_embedding;
    table.embedding_bwd = rx_cuda_embedding_bwd;
    table.rmsnorm = rx_cuda_rmsnorm;
    table.rmsnorm_bwd = rx_cuda_rmsnorm_bwd;
    table.layernorm = rx_cuda_layernorm;
    table.layernorm_bwd = rx_cuda_layernorm_bwd;
    table.rope_tables = rx_cuda_rope_tables;
    table.check_ids_async = rx_cuda_check_ids_async;
    table.rope = rx_cuda_rope;
    table.rope_append_kv = rx_cuda_rope_append_kv;
    table.attention_stat_shape = rx_cuda_attention_stat_shape;
    table.attention = rx_cuda_attention;
    table.attention_bwd = rx_cuda_attention_bwd;
    table.swiglu = rx_cuda_swiglu;
    table.swiglu_bwd = rx_cuda_swiglu_bwd;
    table.add_rmsnorm = rx_cuda_add_rmsnorm;
    table.swiglu_packed = rx_cuda_swiglu_packed;
    table.dropout = rx_cuda_dropout;
    table.cross_entropy = rx_cuda_cross_entropy;
    table.cross_entropy_bwd = rx_cuda_cross_entropy_bwd;
    table.bce_with_logits = rx_cuda_bce_with_logits;
    table.bce_with_logits_bwd = rx_cuda_bce_with_logits_bwd;
    table.mse = rx_cuda_mse;
    table.mse_bwd = rx_cuda_mse_bwd;
    /* optimizer kernels */
    table.adamw_step = rx_cuda_adamw_step;
    table.adamw_step_master = rx_cuda_adamw_step_master;
    table.sgd_step = rx_cuda_sgd_step;
    table.sum_squares = rx_cuda_sum_squares;
    table.scale = rx_cuda_scale;
    table.clip_grad_norm = rx_cuda_clip_grad_norm;
}

const rx_backend *rx_cuda_backend_table(void)
{
    pthread_once(&table_once, table_init);
    return &table;
}
