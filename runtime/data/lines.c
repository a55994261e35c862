/* lines.c — a line reader for big text files, gzipped or plain (rx_lines_*).
 *
 * Owns: reading a file through zlib (gzopen reads a plain file as it is), cutting it into lines
 * of any length, and telling a truncated or corrupted gzip stream from a clean end. The reader
 * keeps one buffer that holds unread bytes; a line is returned as a pointer into it, so lines
 * are never copied. When a line does not fit, the buffer doubles, so it ends as large as the
 * longest line (Amazon descriptions reach hundreds of kilobytes).
 *
 * zlib reports a gzip stream that ends early as a short read with gzerror == Z_BUF_ERROR, not
 * as -1: every end of input is checked with gzerror.
 */
#include "../core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define LINES_CHUNK (256 * 1024)

struct rx_lines {
    gzFile gz;
    char *path;
    char *buf;
    int64_t cap;
    int64_t start, end; /* unread bytes are buf[start, end) */
    int64_t lineno;
    int64_t size;
    int eof;
};

rx_status rx_lines_open(const char *path, rx_lines **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "lines: argument #2: expected an output pointer, got NULL");
    *out = NULL;
    if (!path) return rx_fail(RX_ERR_ARG, "lines: argument #1: expected a path, got NULL");
    struct stat st;
    if (stat(path, &st) != 0)
        return rx_fail(RX_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return rx_fail(RX_ERR_IO, "%s: cannot open (is a directory)", path);
    rx_lines *r = calloc(1, sizeof *r);
    if (!r) return rx_fail(RX_ERR_NOMEM, "lines: out of memory");
    r->path = strdup(path);
    r->cap = LINES_CHUNK;
    r->buf = malloc((size_t)r->cap);
    if (!r->path || !r->buf) {
        rx_lines_close(r);
        return rx_fail(RX_ERR_NOMEM, "lines: out of memory");
    }
    r->size = (int64_t)st.st_size;
    r->gz = gzopen(path, "rb");
    if (!r->gz) {
        int e = errno;
        rx_lines_close(r);
        return rx_fail(RX_ERR_IO, "%s: cannot open (%s)", path, e ? strerror(e) : "zlib could not open it");
    }
    gzbuffer(r->gz, LINES_CHUNK);
    *out = r;
    return RX_OK;
}

/* Reads more bytes after buf[end), growing the buffer when it is full of one unfinished line. */
static rx_status fill(rx_lines *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, (size_t)(r->end - r->start));
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        char *nb = realloc(r->buf, (size_t)(r->cap * 2));
        if (!nb) return rx_fail(RX_ERR_NOMEM, "%s: out of memory for a line of more than %lld bytes", r->path, (long long)r->cap);
        r->buf = nb;
        r->cap *= 2;
    }
    int64_t want = r->cap - r->end;
    if (want > (1 << 30)) want = 1 << 30;
    int got = gzread(r->gz, r->buf + r->end, (unsigned)want);
    int err = Z_OK;
    const char *msg = gzerror(r->gz, &err);
    if (got < 0 || (err != Z_OK && err != Z_BUF_ERROR)) {
        if (err == Z_ERRNO)
            return rx_fail(RX_ERR_IO, "%s: read error after line %lld (%s)", r->path, (long long)r->lineno, strerror(errno));
        return rx_fail(RX_ERR_FORMAT, "%s: corrupted gzip data after line %lld (%s)", r->path, (long long)r->lineno,
                       msg ? msg : "zlib error");
    }
    if (got == 0) {
        if (err == Z_BUF_ERROR)
            return rx_fail(RX_ERR_FORMAT, "%s: truncated gzip data after line %lld (unexpected end of file)", r->path,
                           (long long)r->lineno);
        r->eof = 1;
    }
    r->end += got;
    return RX_OK;
}

rx_status rx_lines_next(rx_lines *r, const char **line, int64_t *len)
{
    if (!r || !line || !len) return rx_fail(RX_ERR_ARG, "lines: next: expected a reader and output pointers, got NULL");
    *line = NULL;
    *len = 0;
    if (!r->gz) return rx_fail(RX_ERR_ARG, "lines: next: the reader was closed");
    int64_t scanned = r->start; /* bytes before `scanned` hold no newline */
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', (size_t)(r->end - scanned));
        if (nl) {
            int64_t n = (nl - r->buf) - r->start;
            *line = r->buf + r->start;
            r->start += n + 1;
            if (n > 0 && (*line)[n - 1] == '\r') n--;
            *len = n;
            r->lineno++;
            return RX_OK;
        }
        if (r->eof) {
            if (r->start == r->end) return RX_OK;
            int64_t n = r->end - r->start;
            *line = r->buf + r->start;
            r->start = r->end;
            if ((*line)[n - 1] == '\r') n--;
            *len = n;
            r->lineno++;
            return RX_OK;
        }
        int64_t seen = r->end - r->start;
        RX_TRY(fill(r));
        scanned = r->start + seen;
    }
}

int64_t rx_lines_lineno(const rx_lines *r) { return r ? r->lineno : 0; }
int64_t rx_lines_size(const rx_lines *r) { return r ? r->size : 0; }
const char *rx_lines_path(const rx_lines *r) { return r ? r->path : ""; }

int64_t rx_lines_offset(const rx_lines *r)
{
    if (!r || !r->gz) return 0;
    if (r->eof) return r->size;
    z_off_t off = gzoffset(r->gz);
    return off < 0 ? 0 : (int64_t)off;
}

void rx_lines_close(rx_lines *r)
{
    if (!r) return;
    if (r->gz) gzclose(r->gz);
    free(r->buf);
    free(r->path);
    free(r);
}
