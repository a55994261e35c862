/* id_check.cu — range checks of id tensors on the device, without a host synchronisation.
 *
 * Owns: checking embedding ids and cross-entropy targets that live on a CUDA device. Reading them
 * on the host would stall the host until every queued kernel has run, once per check (three times
 * per training step of a recommender). Instead a kernel checks the ids where they are and records
 * the first bad one in a small report in mapped, pinned host memory: the host reads that report
 * without waiting, at the start of every later check, after every device-to-host copy and at
 * cuda.synchronize, and turns it into the error the host-side check would have given, naming the
 * op, the argument, the value and its element, plus when it was found. The kernels that consume
 * ids guard the range themselves (a zero row, a skipped id, a zero loss), so a bad id can never
 * read or write out of bounds before its error is reported.
 *
 * Each check takes a sequence number; the op's name and the valid range are kept host-side in a
 * ring of the last RING checks, indexed by it. A report older than the ring still gives an error,
 * without the op's name.
 */
#include "cuda_device.cuh"

#include <stdio.h>
#include <string.h>

#define RING 1024

typedef struct id_report {
    int bad;            /* 0, or 1 once a kernel found a bad id */
    int seq;            /* the sequence number of that check */
    long long value;    /* the bad id */
    long long element;  /* its element (row-major) */
} id_report;

typedef struct check_entry {
    char op[32];
    int argn;
    long long limit;
    long long ignore;
    int has_ignore;
} check_entry;

typedef struct device_checks {
    id_report *report; /* mapped pinned memory, NULL until the first check */
    int next_seq;
    check_entry ring[RING];
} device_checks;

static device_checks checks[RX_CUDA_MAX_DEVICES];

template <typename IT>
__global__ void check_ids_kernel(const IT *ids, int64_t n, int64_t limit, int64_t ignore, int has_ignore, int seq,
                                 id_report *rep)
{
    for (int64_t i = rx_tid(); i < n; i += rx_nthreads()) {
        int64_t x = (int64_t)ids[i];
        if ((x < 0 || x >= limit) && !(has_ignore && x == ignore)) {
            if (atomicCAS(&rep->bad, 0, 2) == 0) { /* 2: being written */
                rep->seq = seq;
                rep->value = (long long)x;
                rep->element = (long long)i;
                __threadfence_system();
                atomicExch(&rep->bad, 1);
            }
            return;
        }
    }
}

rx_status rx_cuda_poll_id_errors(int device)
{
    if (device < 0 || device >= RX_CUDA_MAX_DEVICES) return RX_OK;
    device_checks *c = &checks[device];
    volatile id_report *rep = c->report;
    if (!rep || rep->bad != 1) return RX_OK;
    int seq = rep->seq;
    long long value = rep->value, element = rep->element;
    rep->bad = 0;
    if (c->next_seq - seq > RING || seq > c->next_seq)
        return rx_fail(RX_ERR_ARG, "cuda:%d: an id %lld at element %lld was out of range in an earlier op (found on the device)",
                       device, value, element);
    const check_entry *e = &c->ring[seq % RING];
    if (e->has_ignore)
        return rx_fail(RX_ERR_ARG,
                       "%s: argument #%d: target %lld at row %lld is out of range [0, %lld) and not ignore_index (%lld) "
                       "(found on cuda:%d after the op was queued)",
                       e->op, e->argn, value, element, e->limit, e->ignore, device);
    return rx_fail(RX_ERR_ARG,
                   "%s: argument #%d: id %lld at element %lld is out of range [0, %lld) (found on cuda:%d after the op "
                   "was queued)",
                   e->op, e->argn, value, element, e->limit, device);
}

rx_status rx_cuda_check_ids_async(const char *op, int argn, const rx_tensor *ids, int64_t limit, const int64_t *ignore)
{
    int device = ids->storage->device.index;
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(device, &ctx));
    RX_TRY(rx_cuda_poll_id_errors(device));
    device_checks *c = &checks[device];
    if (!c->report) {
        void *p = NULL;
        RX_CUDA_CHECK(cudaHostAlloc(&p, sizeof(id_report), cudaHostAllocMapped | cudaHostAllocPortable));
        memset(p, 0, sizeof(id_report));
        c->report = (id_report *)p;
    }
    int64_t n = rx_tensor_numel(ids);
    if (n == 0) return RX_OK;
    int seq = c->next_seq++;
    check_entry *e = &c->ring[seq % RING];
    snprintf(e->op, sizeof e->op, "%s", op);
    e->argn = argn;
    e->limit = (long long)limit;
    e->has_ignore = ignore != NULL;
    e->ignore = ignore ? (long long)*ignore : 0;
    unsigned blocks = rx_cuda_blocks(n, RX_CUDA_THREADS, ctx);
    if (ids->dtype == RX_I64)
        check_ids_kernel<int64_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
            (const int64_t *)rx_cuda_ptr(ids), n, limit, e->ignore, e->has_ignore, seq, c->report);
    else
        check_ids_kernel<int32_t><<<blocks, RX_CUDA_THREADS, 0, ctx->stream>>>(
            (const int32_t *)rx_cuda_ptr(ids), n, limit, e->ignore, e->has_ignore, seq, c->report);
    return RX_CUDA_LAUNCH_STATUS("id range check");
}
