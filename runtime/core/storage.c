/* storage.c — refcounted storage and the memory statistics behind recx.mem().
 *
 * Owns: allocation of a storage through its device's backend, wrapping borrowed memory (mmapped
 * files), reference counting, and the live/peak byte counters per device type.
 */
#include "core.h"
#include "../backend/backend.h"
#include "../cpu/cpu_kernels.h"
#ifdef RECX_WITH_CUDA
#include "../cuda/cuda_kernels.h"
#endif

#include <stdatomic.h>
#include <stdlib.h>

typedef struct mem_counters {
    _Atomic int64_t live_bytes;
    _Atomic int64_t peak_bytes;
    _Atomic int64_t live_storages;
    _Atomic int64_t total_allocs;
} mem_counters;

static mem_counters counters[2];
static _Atomic int64_t live_tensors;

void rx_mem_note_alloc(rx_device_type device, int64_t nbytes)
{
    mem_counters *c = &counters[device == RX_CUDA];
    int64_t live = atomic_fetch_add(&c->live_bytes, nbytes) + nbytes;
    atomic_fetch_add(&c->live_storages, 1);
    atomic_fetch_add(&c->total_allocs, 1);
    int64_t peak = atomic_load(&c->peak_bytes);
    while (live > peak && !atomic_compare_exchange_weak(&c->peak_bytes, &peak, live)) {
    }
}

void rx_mem_note_free(rx_device_type device, int64_t nbytes)
{
    mem_counters *c = &counters[device == RX_CUDA];
    atomic_fetch_sub(&c->live_bytes, nbytes);
    atomic_fetch_sub(&c->live_storages, 1);
}

void rx_mem_note_tensor(int delta) { atomic_fetch_add(&live_tensors, delta); }

void rx_mem_get_stats(rx_device_type device, rx_mem_stats *out)
{
    mem_counters *c = &counters[device == RX_CUDA];
    out->live_bytes = atomic_load(&c->live_bytes);
    out->peak_bytes = atomic_load(&c->peak_bytes);
    out->live_storages = atomic_load(&c->live_storages);
    out->total_allocs = atomic_load(&c->total_allocs);
    out->live_tensors = atomic_load(&live_tensors);
    out->cached_bytes = device == RX_CPU ? rx_cpu_cached_bytes() : 0;
#ifdef RECX_WITH_CUDA
    if (device == RX_CUDA) out->cached_bytes = rx_cuda_cached_bytes();
#endif
}

void rx_mem_empty_cache(rx_device_type device)
{
    if (device == RX_CPU) rx_cpu_empty_cache();
#ifdef RECX_WITH_CUDA
    if (device == RX_CUDA) rx_cuda_empty_cache();
#endif
}

void rx_mem_reset_peak(rx_device_type device)
{
    mem_counters *c = &counters[device == RX_CUDA];
    atomic_store(&c->peak_bytes, atomic_load(&c->live_bytes));
}

rx_status rx_storage_new(int64_t nbytes, rx_device device, rx_storage **out)
{
    *out = NULL;
    if (nbytes < 0) return rx_fail(RX_ERR_ARG, "storage: negative size %lld", (long long)nbytes);
    const rx_backend *be = rx_backend_for(device);
    if (!be) return RX_ERR_DEVICE;
    rx_storage *s = calloc(1, sizeof *s);
    if (!s) return rx_fail(RX_ERR_NOMEM, "storage: out of host memory for a storage header");
    rx_status st = be->alloc(nbytes, device.index, &s->data);
    if (st != RX_OK) {
        free(s);
        return st;
    }
    s->refcount = 1;
    s->nbytes = nbytes;
    s->device = device;
    rx_mem_note_alloc(device.type, nbytes);
    *out = s;
    return RX_OK;
}

rx_storage *rx_storage_wrap(void *data, int64_t nbytes, void *owner, void (*release_owner)(void *))
{
    rx_storage *s = calloc(1, sizeof *s);
    if (!s) {
        rx_fail(RX_ERR_NOMEM, "storage: out of host memory for a storage header");
        return NULL;
    }
    s->refcount = 1;
    s->data = data;
    s->nbytes = nbytes;
    s->device = rx_cpu();
    s->owner = owner;
    s->release_owner = release_owner;
    return s;
}

void rx_storage_retain(rx_storage *s) { __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED); }

void rx_storage_release(rx_storage *s)
{
    if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (s->owner) {
        if (s->release_owner) s->release_owner(s->owner);
    } else {
        const rx_backend *be = rx_backend_for(s->device);
        if (be) be->free(s->data, s->nbytes, s->device.index);
        rx_mem_note_free(s->device.type, s->nbytes);
    }
    free(s);
}
