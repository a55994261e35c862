/* memory.cu — device memory for CUDA storage: a caching allocator on top of cudaMalloc.
 *
 * Owns: CUDA allocation and its statistics. Requests are rounded up to a size class: 512 bytes
 * and below share one class; above, each power-of-two range (2^e, 2^(e+1)] is cut into 8 classes
 * of 2^(e-3) bytes, so a block is at most 12.5% larger than asked. A freed block goes to its
 * device's free list for its class (no cudaFree) and serves the next request of that class. This
 * is safe without events because every kernel and copy of a device runs on its one stream, in
 * order: work queued after the reuse cannot overtake work queued before the free.
 *
 * Graph pools: while a CUDA graph is being captured on a device (graph.cu), its allocations are
 * recorded as owned by that graph's pool, and an owned block that is freed (during the capture or
 * after it) goes to the pool's own free lists, never to the device's: replaying the graph writes
 * into every block the capture used, so none may be handed to other tensors while the graph
 * lives. Blocks of other tensors freed during the capture are held by the pool too (the captured
 * kernels may read them). Releasing the pool (the graph freed) returns its free blocks to the
 * device's cache and disowns the blocks still in use (their later free is an ordinary one).
 *
 * When cudaMalloc fails, the device's cache is returned to the driver (cudaFree) and the request
 * retried once; a second failure gives RX_ERR_NOMEM with how much was asked, how much recx had
 * cached, and what cudaMemGetInfo reports as free. rx_mem_empty_cache(RX_CUDA) empties every
 * device's cache; rx_mem_get_stats(RX_CUDA) reports the cached bytes.
 */
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define MIN_CLASS 512
#define CLASSES_PER_OCTAVE 8
#define NBUCKETS (1 + 64 * CLASSES_PER_OCTAVE)

typedef struct cached_block {
    struct cached_block *next;
    void *ptr;
} cached_block;

typedef struct device_cache {
    cached_block *free_list[NBUCKETS];
    rx_cuda_mem_info info;
} device_cache;

static device_cache caches[RX_CUDA_MAX_DEVICES];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* A graph's pool: blocks it owns that are free (per size class), and the blocks of others freed
 * during its capture (kept out of circulation until the pool is released). */
struct rx_cuda_pool {
    int device;
    cached_block *free_list[NBUCKETS];
    cached_block *held[NBUCKETS];
    int64_t owned; /* blocks recorded as owned (in the ownership table) */
};

/* The ownership table: block address -> its pool, for blocks allocated during a capture. */
#define OWNED_BUCKETS 4096
typedef struct owned_block {
    struct owned_block *next;
    void *ptr;
    rx_cuda_pool *pool;
} owned_block;
static owned_block *owned_table[OWNED_BUCKETS];
static int64_t owned_count;                            /* entries in owned_table */
static rx_cuda_pool *capturing_pool[RX_CUDA_MAX_DEVICES]; /* the pool of a capture in progress */

static size_t owned_slot(const void *p) { return (size_t)(((uintptr_t)p >> 9) * 0x9E3779B97F4A7C15ull >> 52) % OWNED_BUCKETS; }

/* The pool owning ptr, or NULL (under cache_lock). */
static rx_cuda_pool *owner_of(const void *ptr)
{
    if (owned_count == 0) return NULL;
    for (owned_block *e = owned_table[owned_slot(ptr)]; e; e = e->next)
        if (e->ptr == ptr) return e->pool;
    return NULL;
}

/* Enters ptr as owned by pool, using the entry e the caller allocated (under cache_lock). */
static void record_owned(owned_block *e, void *ptr, rx_cuda_pool *pool)
{
    size_t k = owned_slot(ptr);
    e->ptr = ptr;
    e->pool = pool;
    e->next = owned_table[k];
    owned_table[k] = e;
    owned_count++;
    pool->owned++;
}

/* The size class of a request: the rounded size, and its bucket. */
static int64_t size_class(int64_t nbytes, int *bucket)
{
    if (nbytes <= MIN_CLASS) {
        *bucket = 0;
        return MIN_CLASS;
    }
    int e = 63 - __builtin_clzll((unsigned long long)(nbytes - 1)); /* 2^e < nbytes <= 2^(e+1) */
    int64_t g = (int64_t)1 << (e - 3);
    int64_t size = (nbytes + g - 1) / g * g;
    int k = (int)(size / g) - CLASSES_PER_OCTAVE; /* 1..8 */
    *bucket = 1 + (e - 9) * CLASSES_PER_OCTAVE + (k - 1);
    return size;
}

static void note_peak(rx_cuda_mem_info *info)
{
    int64_t reserved = info->allocated + info->cached;
    if (reserved > info->peak_reserved) info->peak_reserved = reserved;
}

/* Frees every cached block of `device` (the caller made it current); returns the bytes freed. */
static int64_t release_cache(int device)
{
    pthread_mutex_lock(&cache_lock);
    device_cache *c = &caches[device];
    cached_block *all = NULL;
    for (int b = 0; b < NBUCKETS; b++) {
        while (c->free_list[b]) {
            cached_block *blk = c->free_list[b];
            c->free_list[b] = blk->next;
            blk->next = all;
            all = blk;
        }
    }
    int64_t freed = c->info.cached;
    c->info.cached = 0;
    pthread_mutex_unlock(&cache_lock);
    while (all) {
        cached_block *next = all->next;
        cudaFree(all->ptr); /* a failure here leaves nothing to undo */
        free(all);
        all = next;
    }
    cudaGetLastError();
    return freed;
}

static const char *human(int64_t bytes, char *buf, size_t size)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, u ? "%.2f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

rx_status rx_cuda_alloc(int64_t nbytes, int device_index, void **out)
{
    *out = NULL;
    if (nbytes < 0) return rx_fail(RX_ERR_ARG, "cuda:%d: negative allocation size %lld", device_index, (long long)nbytes);
    rx_cuda_ctx *ctx;
    RX_TRY(rx_cuda_enter(device_index, &ctx));
    int bucket;
    int64_t size = size_class(nbytes, &bucket);
    device_cache *c = &caches[device_index];
    owned_block *own = NULL;
    if (__atomic_load_n(&capturing_pool[device_index], __ATOMIC_ACQUIRE)) {
        own = (owned_block *)malloc(sizeof *own);
        if (!own) return rx_fail(RX_ERR_NOMEM, "cuda:%d: out of host memory for the graph pool's table", device_index);
    }
    pthread_mutex_lock(&cache_lock);
    rx_cuda_pool *pool = capturing_pool[device_index];
    if (pool && pool->free_list[bucket]) {
        /* a block this graph already owns: no new ownership entry */
        cached_block *blk = pool->free_list[bucket];
        pool->free_list[bucket] = blk->next;
        c->info.cached -= size;
        c->info.allocated += size;
        c->info.cache_hits++;
        pthread_mutex_unlock(&cache_lock);
        *out = blk->ptr;
        free(blk);
        free(own);
        return RX_OK;
    }
    cached_block *blk = c->free_list[bucket];
    if (blk) {
        c->free_list[bucket] = blk->next;
        c->info.cached -= size;
        c->info.allocated += size;
        c->info.cache_hits++;
        if (pool) record_owned(own, blk->ptr, pool), own = NULL;
        pthread_mutex_unlock(&cache_lock);
        *out = blk->ptr;
        free(blk);
        free(own);
        return RX_OK;
    }
    pthread_mutex_unlock(&cache_lock);

    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, (size_t)size);
    int64_t released = 0;
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        released = release_cache(device_index);
        e = cudaMalloc(&p, (size_t)size);
    }
    if (e != cudaSuccess) {
        free(own);
        if (e != cudaErrorMemoryAllocation) return RX_CUDA_STATUS(e);
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) cudaGetLastError();
        rx_mem_stats st;
        rx_mem_get_stats(RX_CUDA, &st);
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        return rx_fail(RX_ERR_NOMEM,
                       "cuda:%d: out of memory allocating %s (%lld bytes): %s cached by recx was released and "
                       "the allocation retried; the device has %s free of %s, and recx's live tensors on CUDA "
                       "hold %s",
                       device_index, human(size, b1, sizeof b1), (long long)nbytes, human(released, b2, sizeof b2),
                       human((int64_t)free_b, b3, sizeof b3), human((int64_t)total_b, b4, sizeof b4),
                       human(st.live_bytes, b5, sizeof b5));
    }
    pthread_mutex_lock(&cache_lock);
    c->info.allocated += size;
    c->info.device_mallocs++;
    note_peak(&c->info);
    pool = capturing_pool[device_index];
    if (pool) record_owned(own, p, pool), own = NULL;
    pthread_mutex_unlock(&cache_lock);
    free(own);
    *out = p;
    return RX_OK;
}

void rx_cuda_free(void *ptr, int64_t nbytes, int device_index)
{
    if (!ptr || device_index < 0 || device_index >= RX_CUDA_MAX_DEVICES) return;
    int bucket;
    int64_t size = size_class(nbytes, &bucket);
    cached_block *blk = (cached_block *)malloc(sizeof *blk);
    device_cache *c = &caches[device_index];
    if (!blk) {
        /* no host memory to remember the block: give it back to the driver instead, unless a graph
         * may still use it (then it is lost rather than freed under the graph) */
        pthread_mutex_lock(&cache_lock);
        bool graph_may_use = owned_count > 0 || capturing_pool[device_index];
        if (graph_may_use) c->info.allocated -= size;
        pthread_mutex_unlock(&cache_lock);
        if (graph_may_use) return;
        int prev = 0;
        cudaGetDevice(&prev);
        cudaSetDevice(device_index);
        cudaFree(ptr);
        cudaSetDevice(prev);
        cudaGetLastError();
        pthread_mutex_lock(&cache_lock);
        c->info.allocated -= size;
        pthread_mutex_unlock(&cache_lock);
        return;
    }
    blk->ptr = ptr;
    pthread_mutex_lock(&cache_lock);
    rx_cuda_pool *pool = owner_of(ptr);
    cached_block **list = &c->free_list[bucket];
    if (pool)
        list = &pool->free_list[bucket];
    else if (capturing_pool[device_index])
        list = &capturing_pool[device_index]->held[bucket];
    blk->next = *list;
    *list = blk;
    c->info.allocated -= size;
    c->info.cached += size;
    pthread_mutex_unlock(&cache_lock);
}

int64_t rx_cuda_cached_bytes(void)
{
    int64_t n = 0;
    pthread_mutex_lock(&cache_lock);
    for (int d = 0; d < RX_CUDA_MAX_DEVICES; d++) n += caches[d].info.cached;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

void rx_cuda_empty_cache(void)
{
    int prev = -1;
    bool switched = false;
    for (int d = 0; d < RX_CUDA_MAX_DEVICES; d++) {
        pthread_mutex_lock(&cache_lock);
        int64_t cached = caches[d].info.cached;
        pthread_mutex_unlock(&cache_lock);
        if (!cached) continue;
        if (!switched) {
            if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
            switched = true;
        }
        if (cudaSetDevice(d) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        release_cache(d);
    }
    if (switched && prev >= 0) cudaSetDevice(prev);
    cudaGetLastError();
}

void rx_cuda_memory_info(int device, rx_cuda_mem_info *out)
{
    memset(out, 0, sizeof *out);
    if (device < 0 || device >= RX_CUDA_MAX_DEVICES) return;
    pthread_mutex_lock(&cache_lock);
    *out = caches[device].info;
    pthread_mutex_unlock(&cache_lock);
}

/* ---- graph pools (graph.cu) --------------------------------------------------------------------- */

rx_status rx_cuda_pool_begin(int device, rx_cuda_pool **out)
{
    *out = NULL;
    rx_cuda_pool *pool = (rx_cuda_pool *)calloc(1, sizeof *pool);
    if (!pool) return rx_fail(RX_ERR_NOMEM, "cuda:%d: out of host memory for a graph pool", device);
    pool->device = device;
    pthread_mutex_lock(&cache_lock);
    bool busy = capturing_pool[device] != NULL;
    if (!busy) __atomic_store_n(&capturing_pool[device], pool, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&cache_lock);
    if (busy) {
        free(pool);
        return rx_fail(RX_ERR_DEVICE, "cuda:%d: a graph capture is already in progress on this device", device);
    }
    *out = pool;
    return RX_OK;
}

rx_cuda_pool *rx_cuda_pool_end(int device)
{
    pthread_mutex_lock(&cache_lock);
    rx_cuda_pool *pool = capturing_pool[device];
    __atomic_store_n(&capturing_pool[device], (rx_cuda_pool *)NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&cache_lock);
    return pool;
}

/* Moves every block of list[] onto the device cache's lists. */
static void return_blocks(device_cache *c, cached_block **lists)
{
    for (int b = 0; b < NBUCKETS; b++) {
        while (lists[b]) {
            cached_block *blk = lists[b];
            lists[b] = blk->next;
            blk->next = c->free_list[b];
            c->free_list[b] = blk;
        }
    }
}

void rx_cuda_pool_release(rx_cuda_pool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&cache_lock);
    if (capturing_pool[pool->device] == pool) __atomic_store_n(&capturing_pool[pool->device], (rx_cuda_pool *)NULL, __ATOMIC_RELEASE);
    device_cache *c = &caches[pool->device];
    return_blocks(c, pool->free_list);
    return_blocks(c, pool->held);
    owned_block *dropped = NULL;
    for (int k = 0; k < OWNED_BUCKETS && pool->owned > 0; k++) {
        owned_block **at = &owned_table[k];
        while (*at) {
            owned_block *e = *at;
            if (e->pool == pool) {
                *at = e->next;
                e->next = dropped;
                dropped = e;
                owned_count--;
                pool->owned--;
            } else {
                at = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&cache_lock);
    while (dropped) {
        owned_block *next = dropped->next;
        free(dropped);
        dropped = next;
    }
    free(pool);
}
