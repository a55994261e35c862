/* file_map.h — the read-only view of a whole file that the safetensors and GGUF readers share.
 *
 * Owns: opening, checking and mapping a regular file, and the reference count that keeps the
 * mapping alive while the open file or any zero-copy tensor viewing it lives. The mapping is
 * private and writable (copy-on-write): an in-place write to a tensor viewing it changes this
 * process's copy of the page, never the file. Errors read "PREFIX: PATH: MESSAGE" (PREFIX is the
 * format, "safetensors" or "gguf"). Nothing here is public ABI.
 */
#ifndef RECX_IO_FILE_MAP_H
#define RECX_IO_FILE_MAP_H

#include "../core/core.h"

typedef struct rx_file_map {
    int64_t refcount;
    void *addr; /* the first byte of the file */
    int64_t size;
} rx_file_map;

/* Maps the regular file `path` (one reference, for the caller). A file shorter than min_size
 * bytes fails with RX_ERR_FORMAT: "file is N bytes, shorter than <too_short> (truncated?)". */
rx_status rx_file_map_open(const char *prefix, const char *path, int64_t min_size, const char *too_short,
                           rx_file_map **out);

void rx_file_map_retain(rx_file_map *m);
/* Drops one reference (NULL is ignored); the last one unmaps. A `void *` for rx_storage_wrap. */
void rx_file_map_release(void *m);

/* A contiguous CPU tensor viewing `data` (inside the mapping, aligned for dtype, nbytes > 0)
 * without a copy; it holds a reference on the mapping. */
rx_status rx_file_map_view(rx_file_map *m, void *data, int64_t nbytes, int ndim, const int64_t *shape,
                           rx_dtype dtype, rx_tensor **out);

#endif /* RECX_IO_FILE_MAP_H */
