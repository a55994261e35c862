/* id_ring.cu — rings of token ids that the device hands to the host without a synchronisation.
 *
 * Owns: rx_id_ring_* of recx.h. A ring is RING records of N ids in mapped, pinned host memory,
 * a count of records written (mapped too) and the index of the next record (device memory). A
 * push queues one small kernel that copies an (N) i64 device tensor into the next record, makes
 * it visible to the host, then bumps the written count and the index. Because the index lives on
 * the device, a push captured into a CUDA graph writes a new record at every replay; greedy
 * decoding captures step + argmax + push and replays it steps ahead of the host, which reads
 * record k with rx_id_ring_wait (polling the mapped count, not waiting for the stream). A wait
 * that would never end (the stream went idle without record k, or a kernel failed) is an error.
 */
#include "cuda_device.cuh"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define RING 64

struct rx_id_ring {
    int device;
    int64_t rows;
    long long *records;   /* mapped host: RING * rows */
    long long *written;   /* mapped host: records written so far */
    long long *next;      /* device: the index of the next record */
    long long *records_dev, *written_dev;
};

__global__ void id_ring_push_kernel(const int64_t *ids, int64_t rows, long long *records, volatile long long *written,
                                    long long *next)
{
    const long long k = *next;
    for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) records[(k % RING) * rows + r] = ids[r];
    __threadfence_system();
    __syncthreads();
    if (threadIdx.x == 0) {
        *written = k + 1;
        *next = k + 1;
    }
}

void rx_id_ring_free(rx_id_ring *r)
{
    if (!r) return;
    rx_cuda_ctx *ctx;
    if (rx_cuda_enter(r->device, &ctx) == RX_OK) cudaStreamSynchronize(ctx->stream);
    if (r->next) rx_cuda_free(r->next, 16, r->device);
    if (r->records) cudaFreeHost(r->records);
    if (r->written) cudaFreeHost(r->written);
    free(r);
}

rx_status rx_id_ring_new(rx_device device, int64_t rows, rx_id_ring **out)
{
    *out = NULL;
    if (device.type != RX_CUDA) return rx_fail(RX_ERR_DEVICE, "id ring: expected a CUDA device, got the CPU");
    if (rows < 1) return rx_fail(RX_ERR_ARG, "id ring: argument #2: expected at least one row, got %lld", (long long)rows);
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(device.index, &ctx));
    RX_TRY(rx_cuda_refuse_in_capture(device.index, "creating an id ring"));
    rx_id_ring *r = (rx_id_ring *)calloc(1, sizeof *r);
    if (!r) return rx_fail(RX_ERR_NOMEM, "id ring: out of host memory");
    r->device = device.index;
    r->rows = rows;
    void *p;
    rx_status st = RX_CUDA_STATUS(cudaHostAlloc(&p, (size_t)RING * rows * sizeof(long long), cudaHostAllocMapped));
    if (st == RX_OK) {
        r->records = (long long *)p;
        st = RX_CUDA_STATUS(cudaHostAlloc(&p, sizeof(long long), cudaHostAllocMapped));
    }
    if (st == RX_OK) {
        r->written = (long long *)p;
        *r->written = 0;
        st = rx_cuda_alloc(16, r->device, &p);
    }
    if (st == RX_OK) {
        r->next = (long long *)p;
        st = RX_CUDA_STATUS(cudaMemsetAsync(r->next, 0, sizeof(long long), ctx->stream));
    }
    if (st == RX_OK) st = RX_CUDA_STATUS(cudaHostGetDevicePointer((void **)&r->records_dev, r->records, 0));
    if (st == RX_OK) st = RX_CUDA_STATUS(cudaHostGetDevicePointer((void **)&r->written_dev, r->written, 0));
    if (st != RX_OK) {
        rx_id_ring_free(r);
        return st;
    }
    *out = r;
    return RX_OK;
}

rx_status rx_id_ring_push(rx_id_ring *r, rx_tensor *ids)
{
    if (!r) return rx_fail(RX_ERR_ARG, "id ring: push: expected a ring, got NULL");
    rx_device d = rx_tensor_device(ids);
    if (d.type != RX_CUDA || d.index != r->device)
        return rx_fail(RX_ERR_DEVICE, "id ring: push: argument #2: expected a tensor on cuda:%d", r->device);
    if (ids->dtype != RX_I64 || ids->ndim != 1 || ids->shape[0] != r->rows || !rx_tensor_is_contiguous(ids))
        return rx_fail(RX_ERR_SHAPE, "id ring: push: argument #2: expected a contiguous (%lld) i64 tensor",
                       (long long)r->rows);
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(r->device, &ctx));
    int threads = r->rows < 256 ? 32 * (int)((r->rows + 31) / 32) : 256;
    id_ring_push_kernel<<<1, threads, 0, ctx->stream>>>((const int64_t *)rx_cuda_ptr(ids), r->rows, r->records_dev,
                                                       r->written_dev, r->next);
    return RX_CUDA_LAUNCH_STATUS("id ring push");
}

rx_status rx_id_ring_wait(rx_id_ring *r, int64_t k, int64_t *out)
{
    if (!r || !out) return rx_fail(RX_ERR_ARG, "id ring: wait: expected a ring and an output buffer");
    if (k < 0) return rx_fail(RX_ERR_ARG, "id ring: wait: record %lld: expected k >= 0", (long long)k);
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(r->device, &ctx));
    volatile long long *written = r->written;
    for (long spins = 0; *written <= k; spins++) {
        if (spins % 1024 != 1023) continue;
        cudaError_t e = cudaStreamQuery(ctx->stream);
        if (e == cudaErrorNotReady) {
            sched_yield();
            continue;
        }
        if (e != cudaSuccess) return RX_CUDA_STATUS(e);
        if (*written <= k)
            return rx_fail(RX_ERR_ARG, "id ring: wait: record %lld (0-based) was never written (%lld records so far)",
                           (long long)k, (long long)*written);
    }
    if (*written - k >= RING)
        return rx_fail(RX_ERR_ARG, "id ring: wait: record %lld (0-based) was overwritten (%lld records written, the ring keeps %d)",
                       (long long)k, (long long)*written, RING);
    __sync_synchronize();
    const volatile long long *rec = r->records + (k % RING) * r->rows;
    for (int64_t i = 0; i < r->rows; i++) out[i] = rec[i];
    if (*written - k >= RING) /* overwritten while being read */
        return rx_fail(RX_ERR_ARG, "id ring: wait: record %lld (0-based) was overwritten while read", (long long)k);
    return RX_OK;
}

int64_t rx_id_ring_rows(const rx_id_ring *r) { return r ? r->rows : 0; }
