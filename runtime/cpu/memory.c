/* memory.c — host memory for CPU storage: aligned blocks and a cache of large ones.
 *
 * Owns: CPU allocation. Blocks under 1 MiB come straight from posix_memalign (64-byte aligned).
 * Larger blocks are rounded up to 2 MiB, aligned to 2 MiB, advised for transparent huge pages,
 * and kept in a cache when freed so that a training loop that frees and re-allocates the same
 * sizes every step reuses warm pages instead of faulting fresh ones in. The cache holds at most
 * RECX_CPU_CACHE_MB (default 2048) MiB; rx_mem_empty_cache(RX_CPU) returns it to the system.
 */
#include "cpu_kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#define LARGE_BLOCK (1 << 20)
#define LARGE_ALIGN (2 << 20)

typedef struct cached_block {
    struct cached_block *next;
    void *ptr;
    int64_t size;
} cached_block;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_block *cache_head;
static int64_t cache_bytes;
static int64_t cache_limit = -1;

static int64_t rounded_size(int64_t nbytes)
{
    if (nbytes < LARGE_BLOCK) return (nbytes + 63) / 64 * 64;
    return (nbytes + LARGE_ALIGN - 1) / LARGE_ALIGN * LARGE_ALIGN;
}

static int64_t limit_bytes(void)
{
    if (cache_limit < 0) {
        const char *env = getenv("RECX_CPU_CACHE_MB");
        long mb = env ? strtol(env, NULL, 10) : 2048;
        cache_limit = (int64_t)(mb < 0 ? 0 : mb) << 20;
    }
    return cache_limit;
}

rx_status rx_cpu_alloc(int64_t nbytes, int device_index, void **out)
{
    (void)device_index;
    int64_t size = rounded_size(nbytes);
    if (size >= LARGE_BLOCK) {
        pthread_mutex_lock(&cache_lock);
        for (cached_block **link = &cache_head; *link; link = &(*link)->next) {
            cached_block *b = *link;
            if (b->size != size) continue;
            *link = b->next;
            cache_bytes -= size;
            pthread_mutex_unlock(&cache_lock);
            *out = b->ptr;
            free(b);
            return RX_OK;
        }
        pthread_mutex_unlock(&cache_lock);
    }
    void *p = NULL;
    size_t align = size >= LARGE_BLOCK ? LARGE_ALIGN : 64;
    if (posix_memalign(&p, align, (size_t)(size ? size : 64)) != 0) {
        /* the cache may be what stands in the way */
        rx_mem_empty_cache(RX_CPU);
        if (posix_memalign(&p, align, (size_t)(size ? size : 64)) != 0) {
            *out = NULL;
            return rx_fail(RX_ERR_NOMEM, "cpu: out of memory allocating %lld bytes", (long long)nbytes);
        }
    }
#ifdef MADV_HUGEPAGE
    if (size >= LARGE_BLOCK) madvise(p, (size_t)size, MADV_HUGEPAGE);
#endif
    *out = p;
    return RX_OK;
}

void rx_cpu_free(void *ptr, int64_t nbytes, int device_index)
{
    (void)device_index;
    int64_t size = rounded_size(nbytes);
    if (ptr && size >= LARGE_BLOCK) {
        cached_block *b = malloc(sizeof *b);
        pthread_mutex_lock(&cache_lock);
        if (b && cache_bytes + size <= limit_bytes()) {
            b->ptr = ptr;
            b->size = size;
            b->next = cache_head;
            cache_head = b;
            cache_bytes += size;
            pthread_mutex_unlock(&cache_lock);
            return;
        }
        pthread_mutex_unlock(&cache_lock);
        free(b);
    }
    free(ptr);
}

int64_t rx_cpu_cached_bytes(void)
{
    pthread_mutex_lock(&cache_lock);
    int64_t n = cache_bytes;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

void rx_cpu_empty_cache(void)
{
    pthread_mutex_lock(&cache_lock);
    cached_block *b = cache_head;
    cache_head = NULL;
    cache_bytes = 0;
    pthread_mutex_unlock(&cache_lock);
    while (b) {
        cached_block *next = b->next;
        free(b->ptr);
        free(b);
        b = next;
    }
}
