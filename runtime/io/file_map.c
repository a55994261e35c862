/* file_map.c — the refcounted, private mapping of a whole file (see file_map.h).
 *
 * Owns: open/fstat/mmap of the file the safetensors and GGUF readers parse, the reference count
 * shared by the open file and every zero-copy tensor, and the wrapping of a mapped range as a
 * tensor's storage.
 */
#include "file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

rx_status rx_file_map_open(const char *prefix, const char *path, int64_t min_size, const char *too_short,
                           rx_file_map **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rx_fail(RX_ERR_IO, "%s: %s: cannot open: %s", prefix, path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return rx_fail(RX_ERR_IO, "%s: %s: cannot stat: %s", prefix, path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return rx_fail(RX_ERR_IO, "%s: %s: not a regular file", prefix, path);
    }
    int64_t size = (int64_t)sb.st_size;
    if (size < min_size) {
        close(fd);
        return rx_fail(RX_ERR_FORMAT, "%s: %s: file is %lld bytes, shorter than %s (truncated?)", prefix,
                       path, (long long)size, too_short);
    }
    rx_file_map *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        return rx_fail(RX_ERR_NOMEM, "%s: %s: out of host memory", prefix, path);
    }
    /* private and writable: in-place writes to loaded tensors copy the page, never reach the file */
    void *addr = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (addr == MAP_FAILED) {
        free(m);
        return rx_fail(RX_ERR_IO, "%s: %s: cannot map %lld bytes: %s", prefix, path, (long long)size,
                       strerror(e));
    }
    m->refcount = 1;
    m->addr = addr;
    m->size = size;
    *out = m;
    return RX_OK;
}

void rx_file_map_retain(rx_file_map *m) { __atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED); }

void rx_file_map_release(void *p)
{
    rx_file_map *m = p;
    if (!m || __atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    munmap(m->addr, (size_t)m->size);
    free(m);
}

rx_status rx_file_map_view(rx_file_map *m, void *data, int64_t nbytes, int ndim, const int64_t *shape,
                           rx_dtype dtype, rx_tensor **out)
{
    int64_t stride[RX_MAX_DIMS];
    rx_contiguous_strides(ndim, shape, stride);
    rx_file_map_retain(m);
    rx_storage *s = rx_storage_wrap(data, nbytes, m, rx_file_map_release);
    if (!s) {
        rx_file_map_release(m);
        return rx_fail(RX_ERR_NOMEM, "out of host memory");
    }
    rx_status st = rx_tensor_make(s, 0, ndim, shape, stride, dtype, out);
    rx_storage_release(s);
    return st;
}
