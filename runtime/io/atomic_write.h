/* atomic_write.h — writing a file so that readers see either the old file or the whole new one.
 *
 * Owns: the temporary file "<dir>/.<base>.tmp-<pid>-<k>" in the destination's folder, writing it
 * in full, fsync, rename over the destination, fsync of the folder, and removing the temporary
 * file on every failure (an existing destination is then left untouched). The safetensors and
 * GGUF writers share it. Errors read "PREFIX: PATH: MESSAGE" (PREFIX is the format, "safetensors"
 * or "gguf"; PATH the destination) and name the temporary file or folder involved. Nothing here
 * is public ABI.
 */
#ifndef RECX_IO_ATOMIC_WRITE_H
#define RECX_IO_ATOMIC_WRITE_H

#include "../core/core.h"

#include <stddef.h>

typedef struct rx_atomic_file {
    const char *prefix; /* borrowed */
    const char *path;   /* the destination, borrowed */
    char *tmp;          /* the temporary file */
    char *dir;          /* the destination's folder */
    int fd;             /* open on tmp */
} rx_atomic_file;

/* Creates the temporary file for `path` (mode 0666 & ~umask). On failure nothing is left to
 * clean up. prefix and path must outlive f. */
rx_status rx_atomic_open(rx_atomic_file *f, const char *prefix, const char *path);

/* Appends n bytes to the temporary file. */
rx_status rx_atomic_write(rx_atomic_file *f, const void *data, size_t n);

/* Finishes f and returns the final status. With status RX_OK: fsync, close, rename over the
 * destination and fsync of the folder. Otherwise (or when one of those fails) the temporary file
 * is closed and removed and `status` (or the failure) is returned. Frees f's memory either way. */
rx_status rx_atomic_finish(rx_atomic_file *f, rx_status status);

#endif /* RECX_IO_ATOMIC_WRITE_H */
