/* test_safetensors.c — the safetensors reader and writer (runtime/io/safetensors.c).
 *
 * Covers: round trips of every dtype over several shapes (0-d, empty, non-contiguous and
 * expanded inputs) with metadata and names that need JSON escapes; the byte layout the writer
 * produces (checked with an independent JSON parse: order kept, tensors back to back, header
 * padded with spaces to an 8-byte aligned buffer); zero-copy reads (the data pointers are the
 * file's offsets apart and no memory is allocated), copies of misaligned tensors, tensors that
 * outlive the file and the file's replacement, in-place writes that never reach the file; every
 * validation error of the reader on crafted bad files (the message names the file and the
 * tensor), files truncated at many points; and the writer's atomicity: failures before, during
 * (a file size limit) and after writing (rename onto a folder) leave an existing file byte for
 * byte as it was and no temporary file behind. All files live in a fresh temporary folder.
 */
#include "check.h"
#include "files.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file of: 8-byte little-endian length of `header` (or `hlen` when >= 0), the header, and
 * `data_len` data bytes (0, 1, 2, ...). */
static const char *craft(const char *name, const char *header, int64_t hlen, size_t data_len)
{
    const char *path = path_in(name);
    size_t h = strlen(header);
    uint64_t len = hlen >= 0 ? (uint64_t)hlen : h;
    unsigned char *b = malloc(8 + h + data_len + 1);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(len >> (8 * k));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (unsigned char)i;
    write_bytes(path, b, 8 + h + data_len);
    free(b);
    return path;
}

static int count_temp_files(void)
{
    DIR *d = opendir(tmp_dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

static const rx_dtype all_dtypes[] = {RX_F64, RX_F32, RX_F16, RX_BF16, RX_I64, RX_I32, RX_U8, RX_BOOL};

static double val(rx_dtype dt, int64_t seed, int64_t i)
{
    double x = sin(0.7 * (double)i + (double)seed) * 100;
    return dt == RX_BOOL           ? (double)(((i + seed) % 3) == 0)
           : dt == RX_U8           ? (double)((i * 7 + seed) % 256)
           : rx_dtype_is_float(dt) ? x
                                   : round(x);
}

static rx_tensor *make(int ndim, const int64_t *shape, rx_dtype dt, int seed)
{
    return t_gen(ndim, shape, dt, val, seed, NULL);
}

static bool same_values(const rx_tensor *a, const rx_tensor *b)
{
    if (rx_tensor_dtype(a) != rx_tensor_dtype(b) || rx_tensor_ndim(a) != rx_tensor_ndim(b)) return false;
    for (int d = 0; d < rx_tensor_ndim(a); d++)
        if (rx_tensor_size(a, d) != rx_tensor_size(b, d)) return false;
    double *x = t_values(a), *y = t_values(b);
    bool ok = memcmp(x, y, sizeof(double) * (size_t)rx_tensor_numel(a)) == 0;
    free(x);
    free(y);
    return ok;
}

/* ---- round trips ----------------------------------------------------------------------------- */

static void test_round_trip_all_dtypes(void)
{
    static const int nd[] = {0, 1, 1, 2, 3, 4};
    static const int64_t shapes[][4] = {{0}, {0}, {3}, {2, 3}, {2, 0, 4}, {1, 1, 5, 2}};
    enum { NS = 6, ND = 8 };
    rx_tensor *t[ND * NS];
    char names[ND * NS][32];
    const char *np[ND * NS];
    for (int d = 0; d < ND; d++)
        for (int s = 0; s < NS; s++) {
            int k = d * NS + s;
            t[k] = make(nd[s], shapes[s], all_dtypes[d], k);
            snprintf(names[k], sizeof names[k], "%s.s%d", rx_dtype_name(all_dtypes[d]), s);
            np[k] = names[k];
        }
    const char *keys[] = {"format", "note", ""};
    const char *vals[] = {"pt", "quote \" backslash \\ newline \n tab \t \x01 caf\xc3\xa9 \xf0\x9f\x99\x82",
                          "empty key"};
    const char *path = path_in("all.safetensors");
    CHECK_OK(rx_safetensors_save(path, ND * NS, np, t, 3, keys, vals));
    rx_safetensors *f = NULL;
    CHECK_OK(rx_safetensors_open(path, &f));
    if (!f) return;
    CHECK(rx_safetensors_count(f) == ND * NS);
    for (int k = 0; k < ND * NS; k++) {
        CHECK(rx_safetensors_name(f, k) && strcmp(rx_safetensors_name(f, k), names[k]) == 0);
        rx_tensor *r = NULL;
        CHECK_OK(rx_safetensors_get(f, names[k], &r));
        CHECK(r && same_values(r, t[k]));
        rx_tensor_release(r);
    }
    CHECK(rx_safetensors_name(f, -1) == NULL);
    CHECK(rx_safetensors_name(f, ND * NS) == NULL);
    CHECK(rx_safetensors_metadata_count(f) == 3);
    for (int i = 0; i < 3; i++) {
        CHECK(strcmp(rx_safetensors_metadata_key(f, i), keys[i]) == 0);
        CHECK(strcmp(rx_safetensors_metadata(f, keys[i]), vals[i]) == 0);
    }
    CHECK(rx_safetensors_metadata_key(f, 3) == NULL);
    CHECK(rx_safetensors_metadata(f, "absent") == NULL);
    rx_tensor *r = NULL;
    CHECK_ERR(rx_safetensors_get(f, "nope", &r), RX_ERR_ARG,
              "all.safetensors: tensor 'nope': no such tensor");
    CHECK(r == NULL);
    rx_safetensors_close(f);
    for (int k = 0; k < ND * NS; k++) rx_tensor_release(t[k]);
}

static void test_noncontiguous_and_special_names(void)
{
    int64_t s[2] = {3, 4}, row[2] = {1, 4};
    rx_tensor *a = make(2, s, RX_F32, 1), *at, *r1 = make(2, row, RX_I32, 2), *ex;
    CHECK_OK(rx_transpose(a, 0, 1, &at));
    CHECK_OK(rx_expand(r1, 2, s, &ex));
    rx_tensor *ts[2] = {at, ex};
    const char *names[2] = {"w \"quoted\" \\ back\nslash", "\xc3\xa9t\xc3\xa9/\x7f"};
    const char *path = path_in("nc.safetensors");
    CHECK_OK(rx_safetensors_save(path, 2, names, ts, 0, NULL, NULL));
    rx_safetensors *f = NULL;
    CHECK_OK(rx_safetensors_open(path, &f));
    if (!f) return;
    CHECK(rx_safetensors_metadata_count(f) == 0);
    for (int i = 0; i < 2; i++) {
        rx_tensor *r = NULL;
        CHECK_OK(rx_safetensors_get(f, names[i], &r));
        CHECK(r && rx_tensor_is_contiguous(r) && same_values(r, ts[i]));
        rx_tensor_release(r);
    }
    rx_safetensors_close(f);
    /* an empty file (no tensors, no metadata) */
    CHECK_OK(rx_safetensors_save(path, 0, NULL, NULL, 0, NULL, NULL));
    CHECK_OK(rx_safetensors_open(path, &f));
    CHECK(f && rx_safetensors_count(f) == 0);
    rx_safetensors_close(f);
    rx_tensor *all[] = {a, at, r1, ex};
    for (int i = 0; i < 4; i++) rx_tensor_release(all[i]);
}

/* The writer's layout, read back with cJSON and raw bytes (not with the reader under test). */
static void test_written_layout(void)
{
    int64_t s3 = 3, s2[2] = {2, 2}, s5 = 5;
    rx_tensor *ts[3] = {make(1, &s3, RX_U8, 1), make(2, s2, RX_F32, 2), make(1, &s5, RX_I64, 3)};
    const char *names[3] = {"zeta", "alpha", "mid"}; /* not sorted: order must be kept */
    const char *k[1] = {"k"}, *v[1] = {"v"};
    const char *path = path_in("layout.safetensors");
    CHECK_OK(rx_safetensors_save(path, 3, names, ts, 1, k, v));
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h |= (uint64_t)b[i] << (8 * i);
    CHECK((8 + h) % 8 == 0);
    CHECK(n == 8 + h + 3 + 16 + 40);
    CHECK(b[8] == '{');
    char *hdr = malloc(h + 1);
    memcpy(hdr, b + 8, h);
    hdr[h] = 0;
    size_t jl = strlen(hdr);
    while (jl > 0 && hdr[jl - 1] == ' ') jl--;
    CHECK(hdr[jl - 1] == '}');
    CHECK(h - jl < 8);
    cJSON *root = cJSON_Parse(hdr);
    CHECK(root != NULL);
    if (root) {
        const cJSON *c = root->child;
        CHECK(strcmp(c->string, "__metadata__") == 0);
        CHECK(strcmp(cJSON_GetObjectItem(c, "k")->valuestring, "v") == 0);
        int64_t expect[3][2] = {{0, 3}, {3, 19}, {19, 59}};
        const char *dts[3] = {"U8", "F32", "I64"};
        for (int i = 0; i < 3; i++) {
            c = c->next;
            CHECK(strcmp(c->string, names[i]) == 0);
            CHECK(strcmp(cJSON_GetObjectItem(c, "dtype")->valuestring, dts[i]) == 0);
            const cJSON *o = cJSON_GetObjectItem(c, "data_offsets");
            CHECK(o->child->valuedouble == (double)expect[i][0] &&
                  o->child->next->valuedouble == (double)expect[i][1]);
        }
        CHECK(c->next == NULL);
        cJSON_Delete(root);
    }
    /* the f32 tensor's bytes at its offset, little-endian */
    float fv[4];
    memcpy(fv, b + 8 + h + 3, 16);
    double *ref = t_values(ts[1]);
    for (int i = 0; i < 4; i++) CHECK(fv[i] == (float)ref[i]);
    free(ref);
    free(hdr);
    free(b);
    for (int i = 0; i < 3; i++) rx_tensor_release(ts[i]);
}

/* ---- zero copy and lifetimes ----------------------------------------------------------------- */

static void test_zero_copy(void)
{
    int64_t big = 4096, s2[2] = {16, 8};
    rx_tensor *ts[3] = {make(1, &big, RX_F32, 1), make(2, s2, RX_F64, 2), make(1, &big, RX_BF16, 3)};
    const char *names[3] = {"a", "b", "c"};
    const char *path = path_in("zc.safetensors");
    CHECK_OK(rx_safetensors_save(path, 3, names, ts, 0, NULL, NULL));
    rx_safetensors *f = NULL;
    CHECK_OK(rx_safetensors_open(path, &f));
    if (!f) return;
    rx_mem_stats before, after;
    rx_mem_get_stats(RX_CPU, &before);
    rx_tensor *a = NULL, *a2 = NULL, *b = NULL, *c = NULL;
    CHECK_OK(rx_safetensors_get(f, "a", &a));
    CHECK_OK(rx_safetensors_get(f, "a", &a2));
    CHECK_OK(rx_safetensors_get(f, "b", &b));
    CHECK_OK(rx_safetensors_get(f, "c", &c));
    rx_mem_get_stats(RX_CPU, &after);
    CHECK(after.live_bytes == before.live_bytes); /* mapped, not allocated */
    char *pa = rx_tensor_data_ptr(a), *pb = rx_tensor_data_ptr(b), *pc = rx_tensor_data_ptr(c);
    CHECK(pa == rx_tensor_data_ptr(a2));
    CHECK(pb - pa == 4096 * 4); /* data_offsets [16384, 17408] vs [0, 16384] */
    CHECK(pc - pa == 4096 * 4 + 128 * 8);
    CHECK((uintptr_t)pa % 8 == 0);
    CHECK(same_values(a, ts[0]) && same_values(b, ts[1]) && same_values(c, ts[2]));
    /* tensors outlive the file */
    rx_safetensors_close(f);
    CHECK(same_values(a, ts[0]) && same_values(c, ts[2]));
    /* an in-place write changes this process's copy, never the file */
    CHECK_OK(rx_fill_(a, 7));
    double x;
    int64_t i0 = 5;
    CHECK_OK(rx_tensor_get(a, &i0, &x));
    CHECK(x == 7);
    CHECK_OK(rx_safetensors_open(path, &f));
    rx_tensor *fresh = NULL;
    CHECK_OK(rx_safetensors_get(f, "a", &fresh));
    CHECK(fresh && same_values(fresh, ts[0]));
    rx_tensor_release(fresh);
    rx_safetensors_close(f);
    /* replacing the file while tensors view the old one keeps their values */
    rx_tensor *other[1] = {ts[1]};
    const char *nb[1] = {"b"};
    CHECK_OK(rx_safetensors_save(path, 1, nb, other, 0, NULL, NULL));
    CHECK(same_values(b, ts[1]) && same_values(c, ts[2]));
    rx_tensor *all[] = {a, a2, b, c, ts[0], ts[1], ts[2]};
    for (int i = 0; i < 7; i++) rx_tensor_release(all[i]);
}

static void test_misaligned_is_copied(void)
{
    /* a U8 tensor of 1 byte puts the F32 tensor at buffer offset 1 */
    int64_t one = 1, s4 = 4;
    rx_tensor *ts[2] = {make(1, &one, RX_U8, 1), make(1, &s4, RX_F32, 2)};
    const char *names[2] = {"byte", "w"};
    const char *path = path_in("mis.safetensors");
    CHECK_OK(rx_safetensors_save(path, 2, names, ts, 0, NULL, NULL));
    rx_safetensors *f = NULL;
    CHECK_OK(rx_safetensors_open(path, &f));
    if (!f) return;
    rx_mem_stats before, after;
    rx_mem_get_stats(RX_CPU, &before);
    rx_tensor *w = NULL, *u = NULL;
    CHECK_OK(rx_safetensors_get(f, "w", &w));
    rx_mem_get_stats(RX_CPU, &after);
    CHECK(after.live_bytes == before.live_bytes + 16); /* a copy */
    CHECK((uintptr_t)rx_tensor_data_ptr(w) % 4 == 0);
    CHECK(same_values(w, ts[1]));
    CHECK_OK(rx_safetensors_get(f, "byte", &u)); /* 1-byte elements are always aligned */
    CHECK(same_values(u, ts[0]));
    rx_safetensors_close(f);
    rx_tensor_release(w);
    rx_tensor_release(u);
    rx_tensor_release(ts[0]);
    rx_tensor_release(ts[1]);
}

/* ---- validation ------------------------------------------------------------------------------ */

/* Opens a crafted file and expects RX_ERR_FORMAT with the path and `needle` in the message. */
#define CHECK_BAD(path, needle)                                           \
    do {                                                                  \
        rx_safetensors *f_ = (rx_safetensors *)1;                         \
        const char *p_ = (path);                                          \
        CHECK_ERR(rx_safetensors_open(p_, &f_), RX_ERR_FORMAT, (needle)); \
        CHECK(f_ == NULL);                                                \
        CHECK(strstr(rx_last_error(), p_) != NULL);                       \
    } while (0)

static void test_validation_errors(void)
{
    write_bytes(path_in("empty.st"), "", 0);
    CHECK_BAD(path_in("empty.st"), "file is 0 bytes, shorter than the 8-byte");
    write_bytes(path_in("five.st"), "\x10\0\0\0\0", 5);
    CHECK_BAD(path_in("five.st"), "file is 5 bytes, shorter");
    CHECK_BAD(craft("beyond.st", "{}", 50, 0), "header length 50 runs beyond the end of the file (10 bytes)");
    CHECK_BAD(craft("absurd.st", "{}", 200000000, 0), "header length 200000000 is absurd");
    CHECK_BAD(craft("huge.st", "{}", INT64_MAX, 0), "header length 9223372036854775807 is absurd");
    CHECK_BAD(craft("badjson.st", "{\"w\": {\"dtype\": ", -1, 0), "invalid JSON");
    CHECK_BAD(craft("array.st", "[1, 2]", -1, 0), "the header is not a JSON object");
    CHECK_BAD(craft("trail.st", "{} x", -1, 0), "unexpected bytes after the JSON header");
    write_bytes(path_in("nul.st"), "\x06\0\0\0\0\0\0\0{}\0   ", 14);
    CHECK_BAD(path_in("nul.st"), "unexpected bytes after the JSON header (at byte 2 of 6)");
    CHECK_BAD(craft("notobj.st", "{\"w\": 5}", -1, 0), "tensor 'w': entry is not a JSON object");
    CHECK_BAD(craft("i8.st", "{\"w\": {\"dtype\": \"I8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", -1, 2),
              "tensor 'w': unsupported dtype 'I8'");
    CHECK_BAD(
        craft("f8.st", "{\"q\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", -1, 2),
        "tensor 'q': unsupported dtype 'F8_E4M3'");
    CHECK_BAD(craft("dtnum.st", "{\"w\": {\"dtype\": 3, \"shape\": [2], \"data_offsets\": [0, 8]}}", -1, 8),
              "tensor 'w': missing or non-string \"dtype\"");
    CHECK_BAD(craft("noshape.st", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", -1, 8),
              "tensor 'w': missing or non-array \"shape\"");
    CHECK_BAD(
        craft("neg.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 8]}}", -1, 8),
        "tensor 'w': shape entry #1 is -2, expected a non-negative integer");
    CHECK_BAD(
        craft("frac.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", -1, 8),
        "tensor 'w': shape entry #0 is 2.5");
    CHECK_BAD(craft("sstr.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}",
                    -1, 8),
              "tensor 'w': shape entry #0 is a string");
    CHECK_BAD(craft("dims.st",
                    "{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}",
                    -1, 1),
              "tensor 'w': shape has 9 dims, at most 8");
    CHECK_BAD(craft("off1.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0]}}", -1, 2),
              "tensor 'w': \"data_offsets\" is not [begin, end]");
    CHECK_BAD(
        craft("off3.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2, 4]}}", -1, 4),
        "tensor 'w': \"data_offsets\" is not [begin, end]");
    CHECK_BAD(
        craft("offs.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [\"0\", 2]}}", -1, 2),
        "tensor 'w': \"data_offsets\" is not [begin, end]");
    CHECK_BAD(
        craft("offneg.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [-2, 0]}}", -1, 2),
        "tensor 'w': \"data_offsets\" is not [begin, end]");
    CHECK_BAD(craft("nooff.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [2]}}", -1, 2),
              "tensor 'w': \"data_offsets\" is not [begin, end]");
    CHECK_BAD(
        craft("rev.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [8, 6]}}", -1, 8),
        "tensor 'w': data_offsets [8, 6] begin after end");
    CHECK_BAD(
        craft("past.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [4, 12]}}", -1, 10),
        "tensor 'w': data_offsets [4, 12] end beyond the data buffer of 10 bytes");
    CHECK_BAD(craft("len.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [5, 6], \"data_offsets\": [0, 100]}}",
                    -1, 120),
              "tensor 'w': data_offsets [0, 100] but shape (5, 6) of F32 needs 120 bytes");
    CHECK_BAD(
        craft("ovf.st",
              "{\"w\": {\"dtype\": \"F64\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 0]}}",
              -1, 0),
        "tensor 'w': shape (4294967296, 4294967296) is too large");
    CHECK_BAD(craft("overlap.st",
                    "{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                    " \"b\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [3, 7]}}",
                    -1, 8),
              "tensor 'b': data_offsets [3, 7] overlap tensor 'a' [0, 4]");
    CHECK_BAD(craft("same.st",
                    "{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                    " \"b\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                    -1, 8),
              "overlap tensor");
    CHECK_BAD(craft("dup.st",
                    "{\"w\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                    " \"w\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [4, 8]}}",
                    -1, 8),
              "tensor 'w': duplicate name");
    CHECK_BAD(craft("meta.st", "{\"__metadata__\": {\"format\": \"pt\", \"n\": 5}}", -1, 0),
              "metadata 'n': value is 5, expected a string");
    CHECK_BAD(craft("metaobj.st", "{\"__metadata__\": [\"pt\"]}", -1, 0),
              "\"__metadata__\" is not a JSON object");
    CHECK_BAD(craft("metadup.st", "{\"__metadata__\": {\"k\": \"a\", \"k\": \"b\"}}", -1, 0),
              "metadata 'k': duplicate key");
    CHECK_BAD(craft("metatwice.st", "{\"__metadata__\": {}, \"__metadata__\": {}}", -1, 0),
              "duplicate \"__metadata__\"");

    /* not a format error: missing files and folders */
    rx_safetensors *f = NULL;
    CHECK_ERR(rx_safetensors_open(path_in("missing.st"), &f), RX_ERR_IO, "missing.st: cannot open");
    CHECK_ERR(rx_safetensors_open(tmp_dir, &f), RX_ERR_IO, "not a regular file");
    CHECK_ERR(rx_safetensors_open(NULL, &f), RX_ERR_ARG, "argument #1");
    CHECK(f == NULL);
}

/* Accepted variations: padding with spaces and newlines, unknown keys in an entry, gaps and
 * empty tensors sharing an offset, entries listed out of offset order. */
static void test_valid_variations(void)
{
    /* a dtype of the format that recx does not support, among valid entries */
    rx_safetensors *f = NULL;
    const char *path =
        craft("ok2.st",
              "{\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [6, 8], \"extra\": [1]},"
              " \"e1\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [2, 2]},"
              " \"e2\": {\"dtype\": \"F64\", \"shape\": [0], \"data_offsets\": [2, 2]},"
              " \"a\": {\"dtype\": \"I16\", \"shape\": [], \"data_offsets\": [0, 2]}} \n  ",
              -1, 8);
    CHECK_ERR(rx_safetensors_open(path, &f), RX_ERR_FORMAT, "ok2.st: tensor 'a': unsupported dtype 'I16'");
    path = craft("ok3.st",
                 "{\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [6, 8], \"extra\": [1]},"
                 " \"e1\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [2, 2]},"
                 " \"e2\": {\"dtype\": \"F64\", \"shape\": [0], \"data_offsets\": [2, 2]},"
                 " \"a\": {\"dtype\": \"U8\", \"shape\": [1, 2], \"data_offsets\": [0, 2]}} \n  ",
                 -1, 8);
    CHECK_OK(rx_safetensors_open(path, &f));
    if (!f) return;
    CHECK(rx_safetensors_count(f) == 4);
    CHECK(strcmp(rx_safetensors_name(f, 0), "b") == 0 && strcmp(rx_safetensors_name(f, 3), "a") == 0);
    rx_tensor *b = NULL, *a = NULL, *e = NULL;
    CHECK_OK(rx_safetensors_get(f, "b", &b));
    CHECK_OK(rx_safetensors_get(f, "a", &a));
    CHECK_OK(rx_safetensors_get(f, "e1", &e));
    double bv[2] = {6, 7}, av[2] = {0, 1};
    int64_t s2 = 2, s12[2] = {1, 2}, s03[2] = {0, 3};
    CHECK_TENSOR(b, 1, &s2, bv, 0, 0);
    CHECK_TENSOR(a, 2, s12, av, 0, 0);
    CHECK_TENSOR(e, 2, s03, bv, 0, 0);
    CHECK(e && rx_tensor_dtype(e) == RX_F32);
    rx_safetensors_close(f);
    rx_tensor_release(a);
    rx_tensor_release(b);
    rx_tensor_release(e);
}

/* A valid file cut at every interesting point (and a few others) fails cleanly. */
static void test_truncated(void)
{
    int64_t s[2] = {4, 5};
    rx_tensor *ts[2] = {make(2, s, RX_F32, 1), make(1, s, RX_I64, 2)};
    const char *names[2] = {"w", "b"};
    const char *path = path_in("full.st");
    CHECK_OK(rx_safetensors_save(path, 2, names, ts, 0, NULL, NULL));
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h |= (uint64_t)b[i] << (8 * i);
    size_t cuts[] = {0, 1, 7, 8, 9, 8 + h / 2, 8 + h - 1, 8 + h, 8 + h + 1, 8 + h + 79, 8 + h + 80, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        const char *cut = path_in("cut.st");
        write_bytes(cut, b, cuts[k]);
        rx_safetensors *f = NULL;
        rx_status st = rx_safetensors_open(cut, &f);
        if (st != RX_ERR_FORMAT)
            check_fail(__FILE__, __LINE__, "cut at %zu of %zu: %s", cuts[k], n, rx_status_name(st));
        CHECK(f == NULL);
        CHECK(strstr(rx_last_error(), "cut.st") != NULL);
    }
    free(b);
    rx_tensor_release(ts[0]);
    rx_tensor_release(ts[1]);
}

/* ---- the writer ------------------------------------------------------------------------------ */

static void test_save_argument_errors(void)
{
    int64_t s3 = 3;
    rx_tensor *t = make(1, &s3, RX_F32, 1);
    rx_tensor *ts[2] = {t, t};
    const char *path = path_in("keep.st");
    const char *good[1] = {"x"};
    CHECK_OK(rx_safetensors_save(path, 1, good, ts, 0, NULL, NULL));
    size_t n0, n1;
    unsigned char *b0 = read_bytes(path, &n0);
    const char *dup[2] = {"w", "w"}, *empty[1] = {""}, *reserved[1] = {"__metadata__"},
               *bad_utf8[1] = {"\xc3("};
    const char *nul[1] = {NULL};
    CHECK_ERR(rx_safetensors_save(path, 2, dup, ts, 0, NULL, NULL), RX_ERR_ARG,
              "keep.st: tensor 'w': duplicate name");
    CHECK_ERR(rx_safetensors_save(path, 1, empty, ts, 0, NULL, NULL), RX_ERR_ARG,
              "keep.st: argument #3 (names[0]): empty name");
    CHECK_ERR(rx_safetensors_save(path, 1, reserved, ts, 0, NULL, NULL), RX_ERR_ARG, "reserved");
    CHECK_ERR(rx_safetensors_save(path, 1, bad_utf8, ts, 0, NULL, NULL), RX_ERR_ARG, "not valid UTF-8");
    CHECK_ERR(rx_safetensors_save(path, 1, nul, ts, 0, NULL, NULL), RX_ERR_ARG, "names[0]");
    rx_tensor *nt[1] = {NULL};
    CHECK_ERR(rx_safetensors_save(path, 1, good, nt, 0, NULL, NULL), RX_ERR_ARG,
              "tensor 'x': argument #4 (tensors[0])");
    const char *mk[2] = {"k", "k"}, *mv[2] = {"a", "b"}, *mvn[2] = {"a", NULL};
    CHECK_ERR(rx_safetensors_save(path, 1, good, ts, 2, mk, mv), RX_ERR_ARG, "metadata 'k': duplicate key");
    const char *mk2[2] = {"k", "j"};
    CHECK_ERR(rx_safetensors_save(path, 1, good, ts, 2, mk2, mvn), RX_ERR_ARG,
              "metadata 'j': expected a string value");
    CHECK_ERR(rx_safetensors_save(path, -1, good, ts, 0, NULL, NULL), RX_ERR_ARG, "argument #2");
    CHECK_ERR(rx_safetensors_save(NULL, 1, good, ts, 0, NULL, NULL), RX_ERR_ARG, "argument #1");
    CHECK_ERR(rx_safetensors_save(path_in(""), 1, good, ts, 0, NULL, NULL), RX_ERR_ARG, "got a folder");
    unsigned char *b1 = read_bytes(path, &n1);
    CHECK(n0 == n1 && memcmp(b0, b1, n0) == 0);
    CHECK(count_temp_files() == 0);
    free(b0);
    free(b1);
    rx_tensor_release(t);
}

static void test_atomic_save_failures(void)
{
    int64_t s3 = 3, big = 1 << 18;
    rx_tensor *small = make(1, &s3, RX_F32, 1), *large = make(1, &big, RX_F64, 2);
    const char *name[1] = {"w"};
    const char *path = path_in("atomic.st");
    CHECK_OK(rx_safetensors_save(path, 1, name, &small, 0, NULL, NULL));
    size_t n0, n1;
    unsigned char *b0 = read_bytes(path, &n0);

    /* failure while writing: a file size limit below the new file's size (EFBIG) */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_ERR(rx_safetensors_save(path, 1, name, &large, 0, NULL, NULL), RX_ERR_IO, "atomic.st: writing");
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    unsigned char *b1 = read_bytes(path, &n1);
    CHECK(n0 == n1 && memcmp(b0, b1, n0) == 0);
    free(b1);
    CHECK(count_temp_files() == 0);

    /* failure after writing: the destination is a folder, so the rename fails */
    const char *sub = path_in("sub.st");
    CHECK(mkdir(sub, 0755) == 0);
    CHECK_ERR(rx_safetensors_save(sub, 1, name, &small, 0, NULL, NULL), RX_ERR_IO, "renaming");
    CHECK(count_temp_files() == 0);
    struct stat sb;
    CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode));
    rmdir(sub);

    /* failure before writing: no such folder */
    CHECK_ERR(rx_safetensors_save(path_in("no/such/dir.st"), 1, name, &small, 0, NULL, NULL), RX_ERR_IO,
              "cannot create a temporary file");

    /* a folder without write permission (not enforced for root: then skipped) */
    const char *ro = path_in("ro");
    CHECK(mkdir(ro, 0755) == 0);
    char inside[600];
    snprintf(inside, sizeof inside, "%s/x.st", ro);
    CHECK_OK(rx_safetensors_save(inside, 1, name, &small, 0, NULL, NULL));
    chmod(ro, 0555);
    if (access(ro, W_OK) != 0) {
        CHECK_ERR(rx_safetensors_save(inside, 1, name, &large, 0, NULL, NULL), RX_ERR_IO, "x.st");
        rx_safetensors *f = NULL;
        CHECK_OK(rx_safetensors_open(inside, &f));
        CHECK(f && rx_safetensors_count(f) == 1);
        rx_tensor *w = NULL;
        CHECK_OK(rx_safetensors_get(f, "w", &w));
        CHECK(w && same_values(w, small));
        rx_tensor_release(w);
        rx_safetensors_close(f);
    }
    chmod(ro, 0755);
    unlink(inside);
    rmdir(ro);

    /* and the old file is still the old file after a successful save elsewhere */
    b1 = read_bytes(path, &n1);
    CHECK(n0 == n1 && memcmp(b0, b1, n0) == 0);
    free(b1);
    free(b0);
    /* a successful save over it replaces it */
    CHECK_OK(rx_safetensors_save(path, 1, name, &large, 0, NULL, NULL));
    rx_safetensors *f = NULL;
    CHECK_OK(rx_safetensors_open(path, &f));
    rx_tensor *w = NULL;
    CHECK_OK(rx_safetensors_get(f, "w", &w));
    CHECK(w && same_values(w, large));
    rx_tensor_release(w);
    rx_safetensors_close(f);
    CHECK(count_temp_files() == 0);
    rx_tensor_release(small);
    rx_tensor_release(large);
}

/* Many tensors: lookups by name (binary search) find each one. */
static void test_many_names(void)
{
    enum { N = 300 };
    rx_tensor *ts[N];
    char names[N][24];
    const char *np[N];
    for (int i = 0; i < N; i++) {
        int64_t s = i % 5;
        ts[i] = make(1, &s, RX_I32, i);
        snprintf(names[i], sizeof names[i], "layer.%d.w", (i * 37) % N);
        np[i] = names[i];
    }
    const char *path = path_in("many.st");
    CHECK_OK(rx_safetensors_save(path, N, np, ts, 0, NULL, NULL));
    rx_safetensors *f = NULL;
    CHECK_OK(rx_safetensors_open(path, &f));
    if (!f) return;
    for (int i = 0; i < N; i++) {
        rx_tensor *r = NULL;
        CHECK_OK(rx_safetensors_get(f, names[i], &r));
        CHECK(r && same_values(r, ts[i]));
        rx_tensor_release(r);
        rx_tensor_release(ts[i]);
    }
    rx_safetensors_close(f);
}

int main(void)
{
    if (!tmp_dir_create("recx_st")) return 2;
    RUN(test_round_trip_all_dtypes);
    RUN(test_noncontiguous_and_special_names);
    RUN(test_written_layout);
    RUN(test_zero_copy);
    RUN(test_misaligned_is_copied);
    RUN(test_validation_errors);
    RUN(test_valid_variations);
    RUN(test_truncated);
    RUN(test_save_argument_errors);
    RUN(test_atomic_save_failures);
    RUN(test_many_names);
    tmp_dir_remove();
    return check_finish();
}
