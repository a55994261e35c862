/* zip.c — a validating reader for the subset of zip archives that Python wheels use.
 *
 * Format (PKWARE APPNOTE 6.3, little-endian): members, each a local file header (signature
 * 0x04034b50, 30 bytes + name + extra) followed by its data; then the central directory, one
 * 46-byte header (0x02014b50) + name + extra + comment per member; then, for zip64 archives, the
 * zip64 end record (0x06064b50) and its locator (0x07064b50, 20 bytes); then the end of central
 * directory record (0x06054b50, 22 bytes + a comment of up to 65535 bytes). A 32-bit size or
 * offset (16-bit count) of 0xFFFFFFFF (0xFFFF) means "see the zip64 record / the zip64 extra
 * field (id 0x0001: uncompressed size, compressed size, header offset, in that order, each
 * present only when its 32-bit field is 0xFFFFFFFF)".
 *
 * Owns: finding the end record, reading and checking the whole central directory on open (the
 * directory inside the file and before the end record; every header's signature and lengths
 * inside the directory; every member's data range inside the file), and extracting one member:
 * its local header is checked again, stored (method 0) data is copied and deflated (method 8)
 * data is inflated with zlib's raw inflate, then the size and CRC-32 are compared with the
 * directory's. Encrypted members, other methods and multi-disk archives are refused. Errors
 * name the archive and the member. Extraction writes <dest>.part and renames it, so a failed
 * extraction leaves no file at <dest>.
 */
#include "../core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define ZIP_SIG_LOCAL 0x04034b50u
#define ZIP_SIG_CENTRAL 0x02014b50u
#define ZIP_SIG_END 0x06054b50u
#define ZIP_SIG_END64 0x06064b50u
#define ZIP_SIG_LOCATOR64 0x07064b50u
#define ZIP_END_SIZE 22
#define ZIP_LOCATOR64_SIZE 20
#define ZIP_END64_SIZE 56
#define ZIP_CENTRAL_SIZE 46
#define ZIP_LOCAL_SIZE 30
#define ZIP_MAX_DIRECTORY (256LL << 20) /* bytes of central directory accepted */
#define ZIP_CHUNK (1 << 20)

struct rx_zip {
    char *path;
    int fd;
    int64_t file_size;
    int64_t directory_offset; /* member data must end at or before it */
    int64_t count;
    rx_zip_entry *entries;
    char *names; /* the NUL-terminated names, entries[i].name point inside */
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Reads exactly n bytes at offset; a short read is a format error ("truncated"). */
static rx_status read_at(const rx_zip *z, int64_t offset, void *buf, int64_t n, const char *what)
{
    int64_t done = 0;
    while (done < n) {
        ssize_t r = pread(z->fd, (char *)buf + done, (size_t)(n - done), (off_t)(offset + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return rx_fail(RX_ERR_IO, "zip: %s: reading %s: %s", z->path, what, strerror(errno));
        }
        if (r == 0)
            return rx_fail(RX_ERR_FORMAT, "zip: %s: %s truncated (%lld bytes at offset %lld, file size %lld)", z->path,
                           what, (long long)n, (long long)offset, (long long)z->file_size);
        done += r;
    }
    return RX_OK;
}

/* Finds the end of central directory record; *end_pos its offset, rec its 22 bytes. */
static rx_status find_end(rx_zip *z, int64_t *end_pos, uint8_t rec[ZIP_END_SIZE])
{
    if (z->file_size < ZIP_END_SIZE)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: not a zip archive (%lld bytes, no end of central directory record)",
                       z->path, (long long)z->file_size);
    int64_t tail = z->file_size < ZIP_END_SIZE + 65535 ? z->file_size : ZIP_END_SIZE + 65535;
    uint8_t *buf = malloc((size_t)tail);
    if (!buf) return rx_fail(RX_ERR_NOMEM, "zip: %s: cannot allocate %lld bytes", z->path, (long long)tail);
    rx_status st = read_at(z, z->file_size - tail, buf, tail, "end of central directory");
    if (st != RX_OK) {
        free(buf);
        return st;
    }
    for (int64_t i = tail - ZIP_END_SIZE; i >= 0; i--) {
        /* the comment length must reach exactly to the end of the file */
        if (rd32(buf + i) == ZIP_SIG_END && i + ZIP_END_SIZE + rd16(buf + i + 20) == tail) {
            memcpy(rec, buf + i, ZIP_END_SIZE);
            *end_pos = z->file_size - tail + i;
            free(buf);
            return RX_OK;
        }
    }
    free(buf);
    return rx_fail(RX_ERR_FORMAT, "zip: %s: not a zip archive (no end of central directory record)", z->path);
}

/* The zip64 extra field of a central header: replaces the fields that were 0xFFFFFFFF. */
static rx_status read_zip64_extra(const rx_zip *z, const char *name, const uint8_t *extra, int64_t len,
                                  rx_zip_entry *e, int need_usize, int need_csize, int need_offset)
{
    int64_t p = 0;
    while (p + 4 <= len) {
        uint16_t id = rd16(extra + p), size = rd16(extra + p + 2);
        if (p + 4 + size > len) break;
        if (id == 0x0001) {
            const uint8_t *f = extra + p + 4;
            int64_t need = 8 * (need_usize + need_csize + need_offset), at = 0;
            if (size < need)
                return rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': zip64 extra field of %u bytes, expected %lld",
                               z->path, name, (unsigned)size, (long long)need);
            if (need_usize) e->size = (int64_t)rd64(f + at), at += 8;
            if (need_csize) e->compressed_size = (int64_t)rd64(f + at), at += 8;
            if (need_offset) e->header_offset = (int64_t)rd64(f + at);
            return RX_OK;
        }
        p += 4 + size;
    }
    return rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': 32-bit size or offset is 0xFFFFFFFF but there is no zip64 "
                   "extra field", z->path, name);
}

/* Reads the directory (dir_size bytes at dir_offset, n entries) into z->entries / z->names. */
static rx_status read_directory(rx_zip *z, int64_t dir_offset, int64_t dir_size, int64_t n)
{
    if (n > dir_size / ZIP_CENTRAL_SIZE)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: central directory truncated (%lld members cannot fit in %lld bytes)", z->path,
                       (long long)n, (long long)dir_size);
    uint8_t *dir = malloc(dir_size > 0 ? (size_t)dir_size : 1);
    z->entries = calloc(n > 0 ? (size_t)n : 1, sizeof *z->entries);
    z->names = malloc(dir_size > 0 ? (size_t)dir_size : 1); /* names + NULs fit in the directory */
    if (!dir || !z->entries || !z->names) {
        free(dir);
        return rx_fail(RX_ERR_NOMEM, "zip: %s: cannot allocate the central directory (%lld bytes)", z->path,
                       (long long)dir_size);
    }
    rx_status st = read_at(z, dir_offset, dir, dir_size, "central directory");
    int64_t p = 0, names_used = 0;
    for (int64_t i = 0; st == RX_OK && i < n; i++) {
        if (p + ZIP_CENTRAL_SIZE > dir_size) {
            st = rx_fail(RX_ERR_FORMAT, "zip: %s: central directory truncated at member %lld of %lld", z->path,
                         (long long)i + 1, (long long)n);
            break;
        }
        const uint8_t *h = dir + p;
        if (rd32(h) != ZIP_SIG_CENTRAL) {
            st = rx_fail(RX_ERR_FORMAT, "zip: %s: bad central directory header signature at member %lld (offset %lld)",
                         z->path, (long long)i + 1, (long long)(dir_offset + p));
            break;
        }
        int64_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32);
        if (p + ZIP_CENTRAL_SIZE + nlen + xlen + clen > dir_size) {
            st = rx_fail(RX_ERR_FORMAT, "zip: %s: central directory truncated in member %lld of %lld", z->path,
                         (long long)i + 1, (long long)n);
            break;
        }
        char *name = z->names + names_used;
        memcpy(name, h + ZIP_CENTRAL_SIZE, (size_t)nlen);
        name[nlen] = '\0';
        names_used += nlen + 1;
        if ((int64_t)strlen(name) != nlen) {
            st = rx_fail(RX_ERR_FORMAT, "zip: %s: member %lld: name contains a NUL byte", z->path, (long long)i + 1);
            break;
        }
        rx_zip_entry *e = &z->entries[i];
        e->name = name;
        e->method = rd16(h + 10);
        e->crc32 = rd32(h + 16);
        uint32_t csize = rd32(h + 20), usize = rd32(h + 24), offset = rd32(h + 42);
        e->compressed_size = csize;
        e->size = usize;
        e->header_offset = offset;
        int need_u = usize == 0xFFFFFFFFu, need_c = csize == 0xFFFFFFFFu, need_o = offset == 0xFFFFFFFFu;
        if (need_u || need_c || need_o) {
            st = read_zip64_extra(z, name, h + ZIP_CENTRAL_SIZE + nlen, xlen, e, need_u, need_c, need_o);
            if (st != RX_OK) break;
        }
        if (rd16(h + 8) & 1) {
            st = rx_fail(RX_ERR_UNSUPPORTED, "zip: %s: member '%s' is encrypted", z->path, name);
            break;
        }
        if (e->compressed_size < 0 || e->size < 0 || e->header_offset < 0 ||
            e->header_offset > z->directory_offset - ZIP_LOCAL_SIZE - nlen ||
            e->compressed_size > z->directory_offset - e->header_offset - ZIP_LOCAL_SIZE - nlen) {
            st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': data (header at offset %lld, %lld bytes) lies outside "
                         "the member area (%lld bytes)", z->path, name, (long long)e->header_offset,
                         (long long)e->compressed_size, (long long)z->directory_offset);
            break;
        }
        p += ZIP_CENTRAL_SIZE + nlen + xlen + clen;
    }
    free(dir);
    if (st == RX_OK) z->count = n;
    return st;
}

/* Reads the zip64 end record through the locator just before the end record at end_pos. */
static rx_status read_end64(rx_zip *z, int64_t end_pos, int64_t *dir_offset, int64_t *dir_size, int64_t *n,
                            int64_t *end64_pos)
{
    if (end_pos < ZIP_LOCATOR64_SIZE)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: zip64 values in the end record but no zip64 locator", z->path);
    uint8_t loc[ZIP_LOCATOR64_SIZE], rec[ZIP_END64_SIZE];
    RX_TRY(read_at(z, end_pos - ZIP_LOCATOR64_SIZE, loc, ZIP_LOCATOR64_SIZE, "zip64 locator"));
    if (rd32(loc) != ZIP_SIG_LOCATOR64)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: zip64 values in the end record but no zip64 locator", z->path);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
        return rx_fail(RX_ERR_UNSUPPORTED, "zip: %s: multi-disk archives are not supported", z->path);
    uint64_t pos = rd64(loc + 8);
    if (pos > (uint64_t)(end_pos - ZIP_LOCATOR64_SIZE - ZIP_END64_SIZE))
        return rx_fail(RX_ERR_FORMAT, "zip: %s: zip64 end record offset %llu out of range", z->path,
                       (unsigned long long)pos);
    RX_TRY(read_at(z, (int64_t)pos, rec, ZIP_END64_SIZE, "zip64 end record"));
    if (rd32(rec) != ZIP_SIG_END64)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: bad zip64 end record signature at offset %llu", z->path,
                       (unsigned long long)pos);
    if (rd32(rec + 16) != 0 || rd32(rec + 20) != 0)
        return rx_fail(RX_ERR_UNSUPPORTED, "zip: %s: multi-disk archives are not supported", z->path);
    uint64_t count = rd64(rec + 32), size = rd64(rec + 40), offset = rd64(rec + 48);
    if (count > INT64_MAX || size > INT64_MAX || offset > INT64_MAX)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: zip64 end record values out of range", z->path);
    *n = (int64_t)count;
    *dir_size = (int64_t)size;
    *dir_offset = (int64_t)offset;
    *end64_pos = (int64_t)pos;
    return RX_OK;
}

static rx_status zip_open(rx_zip *z)
{
    struct stat sb;
    z->fd = open(z->path, O_RDONLY | O_CLOEXEC);
    if (z->fd < 0) return rx_fail(RX_ERR_IO, "zip: %s: %s", z->path, strerror(errno));
    if (fstat(z->fd, &sb) != 0) return rx_fail(RX_ERR_IO, "zip: %s: %s", z->path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return rx_fail(RX_ERR_IO, "zip: %s: not a regular file", z->path);
    z->file_size = (int64_t)sb.st_size;
    int64_t end_pos = 0;
    uint8_t end[ZIP_END_SIZE] = {0};
    RX_TRY(find_end(z, &end_pos, end));
    uint16_t disk = rd16(end + 4), dir_disk = rd16(end + 6);
    uint16_t n_disk = rd16(end + 8), n_total = rd16(end + 10);
    uint32_t size32 = rd32(end + 12), offset32 = rd32(end + 16);
    int64_t n = n_total, dir_size = size32, dir_offset = offset32, dir_limit = end_pos;
    if (n_total == 0xFFFF || size32 == 0xFFFFFFFFu || offset32 == 0xFFFFFFFFu || disk == 0xFFFF) {
        RX_TRY(read_end64(z, end_pos, &dir_offset, &dir_size, &n, &dir_limit));
    } else if (disk != 0 || dir_disk != 0 || n_disk != n_total) {
        return rx_fail(RX_ERR_UNSUPPORTED, "zip: %s: multi-disk archives are not supported", z->path);
    }
    if (dir_offset > dir_limit || dir_size > dir_limit - dir_offset)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: central directory (%lld bytes at offset %lld) runs past its end "
                       "record at offset %lld (truncated or corrupted archive)", z->path, (long long)dir_size,
                       (long long)dir_offset, (long long)dir_limit);
    if (dir_size > ZIP_MAX_DIRECTORY)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: central directory of %lld bytes is larger than the %lld accepted",
                       z->path, (long long)dir_size, (long long)ZIP_MAX_DIRECTORY);
    z->directory_offset = dir_offset;
    return read_directory(z, dir_offset, dir_size, n);
}

rx_status rx_zip_open(const char *path, rx_zip **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "zip_open: argument #2: expected an output pointer, got NULL");
    *out = NULL;
    if (!path) return rx_fail(RX_ERR_ARG, "zip_open: argument #1: expected a path, got NULL");
    rx_zip *z = calloc(1, sizeof *z);
    char *copy = strdup(path);
    if (!z || !copy) {
        free(z);
        free(copy);
        return rx_fail(RX_ERR_NOMEM, "zip: %s: out of memory", path);
    }
    z->path = copy;
    z->fd = -1;
    rx_status st = zip_open(z);
    if (st != RX_OK) {
        rx_zip_close(z);
        return st;
    }
    *out = z;
    return RX_OK;
}

void rx_zip_close(rx_zip *z)
{
    if (!z) return;
    if (z->fd >= 0) close(z->fd);
    free(z->entries);
    free(z->names);
    free(z->path);
    free(z);
}

int64_t rx_zip_count(const rx_zip *z) { return z ? z->count : 0; }

rx_status rx_zip_entry_at(const rx_zip *z, int64_t i, rx_zip_entry *out)
{
    if (!z) return rx_fail(RX_ERR_ARG, "zip_entry: argument #1: expected an archive, got NULL");
    if (i < 0 || i >= z->count)
        return rx_fail(RX_ERR_ARG, "zip_entry: argument #2: index %lld out of range (the archive %s has %lld members)",
                       (long long)i, z->path, (long long)z->count);
    if (!out) return rx_fail(RX_ERR_ARG, "zip_entry: argument #3: expected an output pointer, got NULL");
    *out = z->entries[i];
    return RX_OK;
}

int64_t rx_zip_find(const rx_zip *z, const char *name)
{
    if (!z || !name) return -1;
    for (int64_t i = 0; i < z->count; i++)
        if (strcmp(z->entries[i].name, name) == 0) return i;
    return -1;
}

static rx_status write_all(int fd, const void *buf, size_t n, const char *dest)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return rx_fail(RX_ERR_IO, "zip: writing %s: %s", dest, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return RX_OK;
}

/* Copies or inflates the member's data (at data_offset) into fd; checks size and CRC-32. */
static rx_status extract_data(rx_zip *z, const rx_zip_entry *e, int64_t data_offset, int fd, const char *dest)
{
    uint8_t *in = malloc(ZIP_CHUNK), *outbuf = malloc(ZIP_CHUNK);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int inflating = 0;
    rx_status st = RX_OK;
    if (!in || !outbuf) {
        st = rx_fail(RX_ERR_NOMEM, "zip: %s: member '%s': cannot allocate buffers", z->path, e->name);
        goto done;
    }
    if (e->method == 8) {
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            st = rx_fail(RX_ERR_NOMEM, "zip: %s: member '%s': inflateInit2 failed", z->path, e->name);
            goto done;
        }
        inflating = 1;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    int64_t consumed = 0, produced = 0;
    int ended = e->method == 0;
    while (consumed < e->compressed_size) {
        int64_t take = e->compressed_size - consumed < ZIP_CHUNK ? e->compressed_size - consumed : ZIP_CHUNK;
        if ((st = read_at(z, data_offset + consumed, in, take, "member data")) != RX_OK) goto done;
        consumed += take;
        if (e->method == 0) {
            crc = crc32(crc, in, (uInt)take);
            produced += take;
            if ((st = write_all(fd, in, (size_t)take, dest)) != RX_OK) goto done;
        } else {
            if (ended) {
                st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': %lld bytes of data after the end of the deflate "
                             "stream", z->path, e->name, (long long)(e->compressed_size - consumed + take));
                goto done;
            }
            zs.next_in = in;
            zs.avail_in = (uInt)take;
            while (zs.avail_in > 0 && !ended) {
                zs.next_out = outbuf;
                zs.avail_out = ZIP_CHUNK;
                int r = inflate(&zs, Z_NO_FLUSH);
                if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
                    st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': corrupt deflate data (%s)", z->path, e->name,
                                 zs.msg ? zs.msg : "inflate error");
                    goto done;
                }
                size_t got = ZIP_CHUNK - zs.avail_out;
                produced += (int64_t)got;
                if (produced > e->size) {
                    st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': inflates to more than its declared %lld "
                                 "bytes", z->path, e->name, (long long)e->size);
                    goto done;
                }
                crc = crc32(crc, outbuf, (uInt)got);
                if ((st = write_all(fd, outbuf, got, dest)) != RX_OK) goto done;
                if (r == Z_STREAM_END) ended = 1;
                else if (r == Z_BUF_ERROR && got == 0) break;
            }
            if (ended && zs.avail_in > 0) {
                st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': %u bytes of data after the end of the deflate "
                             "stream", z->path, e->name, zs.avail_in);
                goto done;
            }
        }
        if ((st = rx_poll_interrupt("zip")) != RX_OK) goto done;
    }
    if (!ended) {
        st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': deflate stream ends early (truncated data)", z->path,
                     e->name);
        goto done;
    }
    if (produced != e->size) {
        st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': %lld bytes extracted, the directory says %lld", z->path,
                     e->name, (long long)produced, (long long)e->size);
        goto done;
    }
    if ((uint32_t)crc != e->crc32)
        st = rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': CRC-32 mismatch (data 0x%08x, directory 0x%08x)", z->path,
                     e->name, (unsigned)crc, (unsigned)e->crc32);
done:
    if (inflating) inflateEnd(&zs);
    free(in);
    free(outbuf);
    return st;
}

rx_status rx_zip_extract(rx_zip *z, int64_t i, const char *dest_path)
{
    if (!z) return rx_fail(RX_ERR_ARG, "zip_extract: argument #1: expected an archive, got NULL");
    if (i < 0 || i >= z->count)
        return rx_fail(RX_ERR_ARG, "zip_extract: argument #2: index %lld out of range (the archive %s has %lld "
                       "members)", (long long)i, z->path, (long long)z->count);
    if (!dest_path) return rx_fail(RX_ERR_ARG, "zip_extract: argument #3: expected a path, got NULL");
    const rx_zip_entry *e = &z->entries[i];
    if (e->method != 0 && e->method != 8)
        return rx_fail(RX_ERR_UNSUPPORTED, "zip: %s: member '%s': compression method %d is not supported (only 0 "
                       "stored and 8 deflated)", z->path, e->name, e->method);
    if (e->method == 0 && e->compressed_size != e->size)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': stored with %lld bytes but %lld uncompressed", z->path,
                       e->name, (long long)e->compressed_size, (long long)e->size);
    uint8_t h[ZIP_LOCAL_SIZE];
    RX_TRY(read_at(z, e->header_offset, h, ZIP_LOCAL_SIZE, "local file header"));
    if (rd32(h) != ZIP_SIG_LOCAL)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': bad local header signature at offset %lld", z->path,
                       e->name, (long long)e->header_offset);
    if (rd16(h + 6) & 1) return rx_fail(RX_ERR_UNSUPPORTED, "zip: %s: member '%s' is encrypted", z->path, e->name);
    int64_t data_offset = e->header_offset + ZIP_LOCAL_SIZE + rd16(h + 26) + rd16(h + 28);
    if (data_offset > z->directory_offset || e->compressed_size > z->directory_offset - data_offset)
        return rx_fail(RX_ERR_FORMAT, "zip: %s: member '%s': data (%lld bytes at offset %lld) runs into the central "
                       "directory at %lld", z->path, e->name, (long long)e->compressed_size, (long long)data_offset,
                       (long long)z->directory_offset);
    size_t dlen = strlen(dest_path);
    char *part = malloc(dlen + 6);
    if (!part) return rx_fail(RX_ERR_NOMEM, "zip: %s: out of memory", z->path);
    memcpy(part, dest_path, dlen);
    memcpy(part + dlen, ".part", 6);
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rx_status st = rx_fail(RX_ERR_IO, "zip: %s: member '%s': cannot create %s: %s", z->path, e->name, part,
                               strerror(errno));
        free(part);
        return st;
    }
    rx_status st = extract_data(z, e, data_offset, fd, part);
    if (st == RX_OK && fsync(fd) != 0) st = rx_fail(RX_ERR_IO, "zip: writing %s: %s", part, strerror(errno));
    if (close(fd) != 0 && st == RX_OK) st = rx_fail(RX_ERR_IO, "zip: writing %s: %s", part, strerror(errno));
    if (st == RX_OK && rename(part, dest_path) != 0)
        st = rx_fail(RX_ERR_IO, "zip: renaming %s to %s: %s", part, dest_path, strerror(errno));
    if (st != RX_OK) unlink(part);
    free(part);
    return st;
}
