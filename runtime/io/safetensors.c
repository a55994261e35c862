/* safetensors.c — reading and writing safetensors files.
 *
 * Format: 8 bytes little-endian header length N, N bytes of JSON (an object: each tensor name
 * maps to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, and the optional key
 * "__metadata__" maps to an object of string values), then the data buffer; offsets are relative
 * to the start of the buffer and tensors are row-major little-endian bytes. Supported dtypes:
 * F64 F32 F16 BF16 I64 I32 U8 BOOL.
 *
 * Owns: the validating reader and the atomic writer.
 * - Reading maps the whole file (opened read-only) and checks EVERYTHING before returning:
 *   the header length against the file size and a 100 MB limit, the JSON, every entry's dtype,
 *   shape and offsets (inside the buffer, byte length = numel * dtype size), duplicate names,
 *   overlapping tensors and the metadata's values. Errors name the file and the tensor. Gaps
 *   between tensors and unknown keys inside an entry are accepted.
 * - rx_safetensors_get returns a tensor viewing the mapping without a copy; its storage holds a
 *   reference on the mapping, so the file may be closed while tensors live. The mapping is
 *   private (copy-on-write): an in-place write to such a tensor changes this process's copy of
 *   the page, never the file. The format aligns the buffer at best to 8 bytes and tensors only
 *   to their neighbours' sizes, so a tensor whose data is not aligned to its element size (or
 *   that is empty) is returned as a copy instead.
 * - Writing keeps the given order, packs tensors back to back, pads the header with spaces so
 *   that the buffer starts at an 8-byte aligned offset, and is atomic: a temporary file in the
 *   destination's folder, fsync, rename over the destination, fsync of the folder. On any
 *   failure the temporary file is removed and an existing destination is left untouched.
 * The mapping and its reference count live in file_map.c, the temporary file, rename and syncs
 * in atomic_write.c (shared with gguf.c).
 */
#include "atomic_write.h"
#include "file_map.h"

#include "../ops/ops.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads and writes tensor bytes as they are in memory: little-endian hosts only"
#endif

#define ST_MAX_HEADER 100000000LL     /* bytes of JSON header accepted (the reference limit) */
#define ST_MAX_INT 9007199254740992.0 /* 2^53: integers above are not exact in JSON doubles */
#define ST_METADATA "__metadata__"

static const struct {
    const char *name;
    rx_dtype dtype;
} st_dtypes[] = {
    {"F64", RX_F64}, {"F32", RX_F32}, {"F16", RX_F16}, {"BF16", RX_BF16},
    {"I64", RX_I64}, {"I32", RX_I32}, {"U8", RX_U8},   {"BOOL", RX_BOOL},
};
#define ST_NDTYPES ((int)(sizeof st_dtypes / sizeof st_dtypes[0]))

static const char *st_dtype_name(rx_dtype dt)
{
    for (int i = 0; i < ST_NDTYPES; i++)
        if (st_dtypes[i].dtype == dt) return st_dtypes[i].name;
    return NULL;
}

/* "safetensors: PATH: [tensor 'NAME': ]MESSAGE" */
static rx_status st_fail(rx_status status, const char *path, const char *tensor, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static rx_status st_fail(rx_status status, const char *path, const char *tensor, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tensor) return rx_fail(status, "safetensors: %s: tensor '%s': %s", path, tensor, msg);
    return rx_fail(status, "safetensors: %s: %s", path, msg);
}

/* ---- reader ------------------------------------------------------------------------------- */

typedef struct st_entry {
    const char *name; /* owned by the JSON tree */
    rx_dtype dtype;
    int ndim;
    int64_t shape[RX_MAX_DIMS];
    int64_t begin, end; /* bytes, relative to the data buffer */
} st_entry;

struct rx_safetensors {
    char *path;
    rx_file_map *map;
    int64_t file_size;
    int64_t data_start; /* 8 + header length */
    cJSON *root;        /* the parsed header; names and metadata point into it */
    int64_t n;
    st_entry *entries;  /* header order */
    st_entry **by_name; /* sorted by name, for lookups */
    int64_t n_meta;
    const char **meta_keys, **meta_values; /* header order */
};

static void st_free(rx_safetensors *f)
{
    if (!f) return;
    rx_file_map_release(f->map);
    cJSON_Delete(f->root);
    free(f->entries);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    free(f);
}

void rx_safetensors_close(rx_safetensors *f) { st_free(f); }

static rx_status st_map(rx_safetensors *f)
{
    RX_TRY(rx_file_map_open("safetensors", f->path, 8, "the 8-byte header length", &f->map));
    f->file_size = f->map->size;
    return RX_OK;
}

/* A JSON number that is an integer in [0, 2^53]. */
static bool json_count(const cJSON *item, int64_t *out)
{
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT) || d != floor(d)) return false;
    *out = (int64_t)d;
    return true;
}

/* Describes a JSON value for messages: its number, or its kind. */
static const char *json_describe(const cJSON *item, char *buf, size_t size)
{
    if (!item) return "missing";
    if (cJSON_IsNumber(item)) {
        snprintf(buf, size, "%.17g", item->valuedouble);
        return buf;
    }
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsArray(item)) return "an array";
    if (cJSON_IsObject(item)) return "an object";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsNull(item)) return "null";
    return "invalid";
}

static rx_status st_parse_entry(rx_safetensors *f, const cJSON *item, st_entry *e, int64_t buf_len)
{
    const char *name = item->string;
    e->name = name;
    if (!cJSON_IsObject(item)) return st_fail(RX_ERR_FORMAT, f->path, name, "entry is not a JSON object");

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dt)) return st_fail(RX_ERR_FORMAT, f->path, name, "missing or non-string \"dtype\"");
    int k = 0;
    while (k < ST_NDTYPES && strcmp(st_dtypes[k].name, dt->valuestring) != 0) k++;
    if (k == ST_NDTYPES)
        return st_fail(RX_ERR_FORMAT, f->path, name,
                       "unsupported dtype '%s' (supported: F64, F32, F16, BF16, I64, I32, U8, BOOL)",
                       dt->valuestring);
    e->dtype = st_dtypes[k].dtype;

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    if (!cJSON_IsArray(shape)) return st_fail(RX_ERR_FORMAT, f->path, name, "missing or non-array \"shape\"");
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > RX_MAX_DIMS)
        return st_fail(RX_ERR_FORMAT, f->path, name, "shape has %d dims, at most %d are supported", ndim,
                       RX_MAX_DIMS);
    e->ndim = ndim;
    int d = 0;
    for (const cJSON *s = shape->child; s; s = s->next, d++) {
        if (!json_count(s, &e->shape[d])) {
            char b[40];
            return st_fail(RX_ERR_FORMAT, f->path, name,
                           "shape entry #%d is %s, expected a non-negative integer", d,
                           json_describe(s, b, sizeof b));
        }
    }

    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    int64_t begin = 0, end = 0;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_count(offs->child, &begin) ||
        !json_count(offs->child->next, &end))
        return st_fail(RX_ERR_FORMAT, f->path, name,
                       "\"data_offsets\" is not [begin, end] of non-negative integers");
    if (begin > end)
        return st_fail(RX_ERR_FORMAT, f->path, name, "data_offsets [%lld, %lld] begin after end",
                       (long long)begin, (long long)end);
    if (end > buf_len)
        return st_fail(RX_ERR_FORMAT, f->path, name,
                       "data_offsets [%lld, %lld] end beyond the data buffer of %lld bytes (truncated file?)",
                       (long long)begin, (long long)end, (long long)buf_len);
    e->begin = begin;
    e->end = end;

    char sb[160];
    int64_t nbytes = rx_dtype_size(e->dtype);
    for (int i = 0; i < ndim; i++) {
        if (__builtin_mul_overflow(nbytes, e->shape[i], &nbytes))
            return st_fail(RX_ERR_FORMAT, f->path, name, "shape %s is too large",
                           rx_shape_str(ndim, e->shape, sb, sizeof sb));
    }
    if (nbytes != end - begin)
        return st_fail(RX_ERR_FORMAT, f->path, name,
                       "data_offsets [%lld, %lld] but shape %s of %s needs %lld bytes", (long long)begin,
                       (long long)end, rx_shape_str(ndim, e->shape, sb, sizeof sb), dt->valuestring,
                       (long long)nbytes);
    return RX_OK;
}

static rx_status st_parse_metadata(rx_safetensors *f, const cJSON *item)
{
    if (f->meta_keys) return st_fail(RX_ERR_FORMAT, f->path, NULL, "duplicate \"" ST_METADATA "\"");
    if (!cJSON_IsObject(item))
        return st_fail(RX_ERR_FORMAT, f->path, NULL, "\"" ST_METADATA "\" is not a JSON object");
    int64_t m = cJSON_GetArraySize(item);
    f->meta_keys = malloc(sizeof *f->meta_keys * (size_t)(m > 0 ? m : 1));
    f->meta_values = malloc(sizeof *f->meta_values * (size_t)(m > 0 ? m : 1));
    if (!f->meta_keys || !f->meta_values) return st_fail(RX_ERR_NOMEM, f->path, NULL, "out of host memory");
    for (const cJSON *c = item->child; c; c = c->next) {
        char b[40];
        if (!cJSON_IsString(c))
            return st_fail(RX_ERR_FORMAT, f->path, NULL, "metadata '%s': value is %s, expected a string",
                           c->string, json_describe(c, b, sizeof b));
        f->meta_keys[f->n_meta] = c->string;
        f->meta_values[f->n_meta] = c->valuestring;
        f->n_meta++;
    }
    return RX_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp((*(st_entry *const *)a)->name, (*(st_entry *const *)b)->name);
}

static int cmp_entry_offset(const void *a, const void *b)
{
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate names, duplicate metadata keys and overlapping tensors. */
static rx_status st_check_sets(rx_safetensors *f)
{
    f->by_name = malloc(sizeof *f->by_name * (size_t)(f->n > 0 ? f->n : 1));
    st_entry **by_off = malloc(sizeof *by_off * (size_t)(f->n > 0 ? f->n : 1));
    const char **keys = malloc(sizeof *keys * (size_t)(f->n_meta > 0 ? f->n_meta : 1));
    rx_status s = RX_OK;
    if (!f->by_name || !by_off || !keys) {
        s = st_fail(RX_ERR_NOMEM, f->path, NULL, "out of host memory");
        goto done;
    }
    for (int64_t i = 0; i < f->n; i++) f->by_name[i] = by_off[i] = &f->entries[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_entry_name);
    for (int64_t i = 1; i < f->n; i++) {
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
            s = st_fail(RX_ERR_FORMAT, f->path, f->by_name[i]->name, "duplicate name");
            goto done;
        }
    }
    qsort(by_off, (size_t)f->n, sizeof *by_off, cmp_entry_offset);
    const st_entry *prev = NULL;
    for (int64_t i = 0; i < f->n; i++) {
        const st_entry *e = by_off[i];
        if (e->begin == e->end) continue; /* empty tensors occupy no bytes */
        if (prev && e->begin < prev->end) {
            s = st_fail(RX_ERR_FORMAT, f->path, e->name,
                        "data_offsets [%lld, %lld] overlap tensor '%s' [%lld, %lld]", (long long)e->begin,
                        (long long)e->end, prev->name, (long long)prev->begin, (long long)prev->end);
            goto done;
        }
        prev = e;
    }
    for (int64_t i = 0; i < f->n_meta; i++) keys[i] = f->meta_keys[i];
    qsort(keys, (size_t)f->n_meta, sizeof *keys, cmp_str);
    for (int64_t i = 1; i < f->n_meta; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            s = st_fail(RX_ERR_FORMAT, f->path, NULL, "metadata '%s': duplicate key", keys[i]);
            goto done;
        }
    }
done:
    free(by_off);
    free(keys);
    return s;
}

static rx_status st_parse(rx_safetensors *f)
{
    const unsigned char *base = f->map->addr;
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)base[k] << (8 * k);
    if (hlen > (uint64_t)ST_MAX_HEADER)
        return st_fail(RX_ERR_FORMAT, f->path, NULL, "header length %llu is absurd (more than %lld bytes)",
                       (unsigned long long)hlen, ST_MAX_HEADER);
    if ((int64_t)hlen > f->file_size - 8)
        return st_fail(RX_ERR_FORMAT, f->path, NULL,
                       "header length %llu runs beyond the end of the file (%lld bytes)",
                       (unsigned long long)hlen, (long long)f->file_size);
    f->data_start = 8 + (int64_t)hlen;
    int64_t buf_len = f->file_size - f->data_start;

    /* a NUL-terminated copy: an embedded NUL then ends the JSON and fails the trailing check */
    char *text = malloc((size_t)hlen + 1);
    if (!text)
        return st_fail(RX_ERR_NOMEM, f->path, NULL, "out of host memory for a %llu-byte header",
                       (unsigned long long)hlen);
    memcpy(text, base + 8, (size_t)hlen);
    text[hlen] = 0;
    const char *end = NULL;
    f->root = cJSON_ParseWithOpts(text, &end, 0);
    int64_t pos = end ? (int64_t)(end - text) : 0;
    if (!f->root) {
        free(text);
        return st_fail(RX_ERR_FORMAT, f->path, NULL, "invalid JSON in the header (near byte %lld of %llu)",
                       (long long)pos, (unsigned long long)hlen);
    }
    while (pos < (int64_t)hlen && text[pos] && strchr(" \t\r\n", text[pos])) pos++;
    free(text);
    if (pos < (int64_t)hlen)
        return st_fail(RX_ERR_FORMAT, f->path, NULL,
                       "unexpected bytes after the JSON header (at byte %lld of %llu)", (long long)pos,
                       (unsigned long long)hlen);
    if (!cJSON_IsObject(f->root))
        return st_fail(RX_ERR_FORMAT, f->path, NULL, "the header is not a JSON object");

    int64_t members = cJSON_GetArraySize(f->root);
    f->entries = calloc((size_t)(members > 0 ? members : 1), sizeof *f->entries);
    if (!f->entries) return st_fail(RX_ERR_NOMEM, f->path, NULL, "out of host memory");
    for (const cJSON *c = f->root->child; c; c = c->next) {
        if (strcmp(c->string, ST_METADATA) == 0)
            RX_TRY(st_parse_metadata(f, c));
        else
            RX_TRY(st_parse_entry(f, c, &f->entries[f->n++], buf_len));
    }
    return st_check_sets(f);
}

rx_status rx_safetensors_open(const char *path, rx_safetensors **out)
{
    if (!out)
        return rx_fail(RX_ERR_ARG, "safetensors: open: argument #2: expected an output pointer, got NULL");
    *out = NULL;
    if (!path) return rx_fail(RX_ERR_ARG, "safetensors: open: argument #1: expected a path, got NULL");
    rx_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return rx_fail(RX_ERR_NOMEM, "safetensors: %s: out of host memory", path);
    }
    rx_status s = st_map(f);
    if (s == RX_OK) s = st_parse(f);
    if (s != RX_OK) {
        st_free(f);
        return s;
    }
    *out = f;
    return RX_OK;
}

int64_t rx_safetensors_count(const rx_safetensors *f) { return f ? f->n : 0; }

const char *rx_safetensors_name(const rx_safetensors *f, int64_t i)
{
    return f && i >= 0 && i < f->n ? f->entries[i].name : NULL;
}

int64_t rx_safetensors_metadata_count(const rx_safetensors *f) { return f ? f->n_meta : 0; }

const char *rx_safetensors_metadata_key(const rx_safetensors *f, int64_t i)
{
    return f && i >= 0 && i < f->n_meta ? f->meta_keys[i] : NULL;
}

const char *rx_safetensors_metadata(const rx_safetensors *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int64_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static const st_entry *st_find(const rx_safetensors *f, const char *name)
{
    int64_t lo = 0, hi = f->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

rx_status rx_safetensors_get(rx_safetensors *f, const char *name, rx_tensor **out)
{
    if (!out)
        return rx_fail(RX_ERR_ARG, "safetensors: get: argument #3: expected an output pointer, got NULL");
    *out = NULL;
    if (!f) return rx_fail(RX_ERR_ARG, "safetensors: get: argument #1: expected an open file, got NULL");
    if (!name) return rx_fail(RX_ERR_ARG, "safetensors: get: argument #2: expected a tensor name, got NULL");
    const st_entry *e = st_find(f, name);
    if (!e) return st_fail(RX_ERR_ARG, f->path, name, "no such tensor in the file");
    int64_t nbytes = e->end - e->begin;
    char *data = (char *)f->map->addr + f->data_start + e->begin;
    int64_t es = rx_dtype_size(e->dtype);
    if (nbytes > 0 && (uintptr_t)data % (uintptr_t)es == 0) {
        rx_status st = rx_file_map_view(f->map, data, nbytes, e->ndim, e->shape, e->dtype, out);
        return st == RX_OK ? RX_OK : rx_fail_context(st, "safetensors: %s: tensor '%s'", f->path, name);
    }
    /* misaligned for its dtype (or empty): a copy */
    rx_status st = rx_empty(e->ndim, e->shape, e->dtype, rx_cpu(), out);
    if (st != RX_OK) return rx_fail_context(st, "safetensors: %s: tensor '%s'", f->path, name);
    if (nbytes > 0) memcpy(rx_tensor_bytes(*out), data, (size_t)nbytes);
    return RX_OK;
}

/* ---- writer ------------------------------------------------------------------------------- */

/* A growing string; `failed` records an allocation failure. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_int(sbuf *b, int64_t v)
{
    char t[32];
    sb_put(b, t, (size_t)snprintf(t, sizeof t, "%lld", (long long)v));
}

/* A JSON string literal (s is valid UTF-8, checked before). */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char t[2] = {'\\', (char)*c};
            sb_put(b, t, 2);
        } else if (*c < 0x20) {
            char t[8];
            sb_put(b, t, (size_t)snprintf(t, sizeof t, "\\u%04x", *c));
        } else {
            sb_put(b, (const char *)c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* JSON text must be UTF-8: rejects overlong forms, surrogates and code points above U+10FFFF. */
static bool valid_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (int k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[k] & 0x3F);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        s += n + 1;
    }
    return true;
}

/* Checks a list of names (tensor names or metadata keys): present, UTF-8, unique; tensor names
 * must also be non-empty and not the metadata key. */
static rx_status check_names(const char *path, int n, const char *const *names, int argn, const char *what,
                             bool tensors)
{
    for (int i = 0; i < n; i++) {
        if (!names[i])
            return st_fail(RX_ERR_ARG, path, NULL, "argument #%d (%s[%d]): expected a name, got NULL", argn,
                           what, i);
        if (tensors && !names[i][0])
            return st_fail(RX_ERR_ARG, path, NULL, "argument #%d (%s[%d]): empty name", argn, what, i);
        if (!valid_utf8(names[i]))
            return st_fail(RX_ERR_ARG, path, NULL, "argument #%d (%s[%d]): name is not valid UTF-8", argn,
                           what, i);
        if (tensors && strcmp(names[i], ST_METADATA) == 0)
            return st_fail(RX_ERR_ARG, path, names[i], "the name is reserved for the metadata");
    }
    const char **sorted = malloc(sizeof *sorted * (size_t)(n > 0 ? n : 1));
    if (!sorted) return st_fail(RX_ERR_NOMEM, path, NULL, "out of host memory");
    for (int i = 0; i < n; i++) sorted[i] = names[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    rx_status s = RX_OK;
    for (int i = 1; i < n && s == RX_OK; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) != 0) continue;
        if (tensors)
            s = st_fail(RX_ERR_ARG, path, sorted[i], "duplicate name");
        else
            s = st_fail(RX_ERR_ARG, path, NULL, "metadata '%s': duplicate key", sorted[i]);
    }
    free(sorted);
    return s;
}

/* The padded header (without the 8-byte length) for tensors laid out back to back. */
static rx_status build_header(const char *path, int n, const char *const *names, rx_tensor *const *tensors,
                              int n_meta, const char *const *keys, const char *const *values, sbuf *b)
{
    sb_str(b, "{");
    if (n_meta > 0) {
        sb_str(b, "\"" ST_METADATA "\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_str(b, ",");
            sb_json_string(b, keys[i]);
            sb_str(b, ":");
            sb_json_string(b, values[i]);
        }
        sb_str(b, "}");
    }
    int64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const rx_tensor *t = tensors[i];
        int64_t nbytes = rx_tensor_numel(t) * rx_dtype_size(t->dtype);
        if (i || n_meta > 0) sb_str(b, ",");
        sb_json_string(b, names[i]);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, st_dtype_name(t->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_str(b, ",");
            sb_int(b, t->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_int(b, offset);
        sb_str(b, ",");
        sb_int(b, offset + nbytes);
        sb_str(b, "]}");
        offset += nbytes;
    }
    sb_str(b, "}");
    while (!b->failed && b->len % 8 != 0) sb_str(b, " "); /* the buffer starts at 8 + len */
    if (b->failed) return st_fail(RX_ERR_NOMEM, path, NULL, "out of host memory for the header");
    return RX_OK;
}

/* Writes one tensor's bytes (through a host contiguous copy when needed). */
static rx_status write_tensor(rx_atomic_file *af, const char *path, const char *name, rx_tensor *t)
{
    rx_tensor *host = NULL, *dense = NULL;
    rx_status s = rx_op_to_device(t, rx_cpu(), &host);
    if (s == RX_OK) s = rx_op_contiguous(host, &dense);
    if (s != RX_OK) {
        rx_tensor_release(host);
        return rx_fail_context(s, "safetensors: %s: tensor '%s'", path, name);
    }
    int64_t nbytes = rx_tensor_numel(dense) * rx_dtype_size(dense->dtype);
    if (nbytes > 0) s = rx_atomic_write(af, rx_tensor_bytes(dense), (size_t)nbytes);
    rx_tensor_release(dense);
    rx_tensor_release(host);
    return s;
}

rx_status rx_safetensors_save(const char *path, int n, const char *const *names, rx_tensor *const *tensors,
                              int n_meta, const char *const *meta_keys, const char *const *meta_values)
{
    if (!path || !path[0]) return rx_fail(RX_ERR_ARG, "safetensors: save: argument #1: expected a file path");
    if (n < 0) return st_fail(RX_ERR_ARG, path, NULL, "argument #2: expected a tensor count >= 0, got %d", n);
    if (n > 0 && (!names || !tensors))
        return st_fail(RX_ERR_ARG, path, NULL, "arguments #3 and #4: expected %d names and tensors, got NULL",
                       n);
    if (n_meta < 0)
        return st_fail(RX_ERR_ARG, path, NULL, "argument #5: expected a metadata count >= 0, got %d", n_meta);
    if (n_meta > 0 && (!meta_keys || !meta_values))
        return st_fail(RX_ERR_ARG, path, NULL,
                       "arguments #6 and #7: expected %d metadata keys and values, got NULL", n_meta);
    const char *slash = strrchr(path, '/');
    if (!(slash ? slash[1] : path[0]))
        return st_fail(RX_ERR_ARG, path, NULL, "argument #1: expected a file path, got a folder");
    RX_TRY(check_names(path, n, names, 3, "names", true));
    for (int i = 0; i < n; i++) {
        if (!tensors[i])
            return st_fail(RX_ERR_ARG, path, names[i],
                           "argument #4 (tensors[%d]): expected a tensor, got NULL", i);
        if (!st_dtype_name(tensors[i]->dtype))
            return st_fail(RX_ERR_DTYPE, path, names[i], "unsupported dtype %s",
                           rx_dtype_name(tensors[i]->dtype));
    }
    RX_TRY(check_names(path, n_meta, meta_keys, 6, "meta_keys", false));
    for (int i = 0; i < n_meta; i++) {
        if (!meta_values[i])
            return st_fail(RX_ERR_ARG, path, NULL, "metadata '%s': expected a string value, got NULL",
                           meta_keys[i]);
        if (!valid_utf8(meta_values[i]))
            return st_fail(RX_ERR_ARG, path, NULL, "metadata '%s': value is not valid UTF-8", meta_keys[i]);
    }

    sbuf header = {0};
    rx_status s = build_header(path, n, names, tensors, n_meta, meta_keys, meta_values, &header);
    if (s != RX_OK) {
        free(header.p);
        return s;
    }
    rx_atomic_file af;
    s = rx_atomic_open(&af, "safetensors", path);
    if (s != RX_OK) {
        free(header.p);
        return s;
    }
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)header.len >> (8 * k));
    s = rx_atomic_write(&af, len8, 8);
    if (s == RX_OK) s = rx_atomic_write(&af, header.p, header.len);
    free(header.p);
    for (int i = 0; i < n && s == RX_OK; i++) s = write_tensor(&af, path, names[i], tensors[i]);
    return rx_atomic_finish(&af, s);
}
