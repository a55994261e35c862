/* atomic_write.c — the temporary file, rename and syncs of an atomic save (see atomic_write.h).
 *
 * Owns: naming and creating the temporary file next to the destination, retrying writes on
 * EINTR, and the commit sequence fsync(file), close, rename, fsync(folder) with the temporary
 * file removed on every error path.
 */
#include "atomic_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

rx_status rx_atomic_open(rx_atomic_file *f, const char *prefix, const char *path)
{
    static int64_t counter;
    *f = (rx_atomic_file){prefix, path, NULL, NULL, -1};
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 1;
    if (slash && dlen == 0) dlen = 1; /* "/name": the root folder */
    char *dir = malloc(dlen + 1);
    size_t tcap = strlen(path) + 64;
    char *tmp = malloc(tcap);
    if (!dir || !tmp) {
        free(dir);
        free(tmp);
        return rx_fail(RX_ERR_NOMEM, "%s: %s: out of host memory", prefix, path);
    }
    memcpy(dir, slash ? path : ".", dlen);
    dir[dlen] = 0;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        long long k = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp, tcap, "%.*s%s.%s.tmp-%ld-%lld", slash ? (int)(slash - path) : 0, path, slash ? "/" : "",
                 base, (long)getpid(), k);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        rx_status s = rx_fail(RX_ERR_IO, "%s: %s: cannot create a temporary file in %s: %s", prefix, path,
                              dir, strerror(errno));
        free(dir);
        free(tmp);
        return s;
    }
    f->tmp = tmp;
    f->dir = dir;
    f->fd = fd;
    return RX_OK;
}

rx_status rx_atomic_write(rx_atomic_file *f, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return rx_fail(RX_ERR_IO, "%s: %s: writing %s failed: %s", f->prefix, f->path, f->tmp,
                           strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return RX_OK;
}

/* Makes the rename durable; EINVAL means the file system cannot sync folders. */
static rx_status sync_folder(const rx_atomic_file *f)
{
    int fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rx_fail(RX_ERR_IO, "%s: %s: saved, but cannot open folder %s to sync it: %s", f->prefix,
                       f->path, f->dir, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL)
        return rx_fail(RX_ERR_IO, "%s: %s: saved, but syncing folder %s failed: %s", f->prefix, f->path,
                       f->dir, strerror(e));
    return RX_OK;
}

rx_status rx_atomic_finish(rx_atomic_file *f, rx_status s)
{
    if (s == RX_OK && fsync(f->fd) != 0)
        s = rx_fail(RX_ERR_IO, "%s: %s: syncing %s failed: %s", f->prefix, f->path, f->tmp, strerror(errno));
    if (close(f->fd) != 0 && s == RX_OK)
        s = rx_fail(RX_ERR_IO, "%s: %s: closing %s failed: %s", f->prefix, f->path, f->tmp, strerror(errno));
    if (s == RX_OK && rename(f->tmp, f->path) != 0)
        s = rx_fail(RX_ERR_IO, "%s: %s: renaming %s over it failed: %s", f->prefix, f->path, f->tmp,
                    strerror(errno));
    if (s != RX_OK)
        unlink(f->tmp);
    else
        s = sync_folder(f);
    free(f->tmp);
    free(f->dir);
    f->tmp = f->dir = NULL;
    f->fd = -1;
    return s;
}
