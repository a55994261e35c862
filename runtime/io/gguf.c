/* gguf.c — reading and writing GGUF files (llama.cpp's model format).
 *
 * Format (little-endian; docs/formats.md "GGUF" has it byte by byte): "GGUF", u32 version (2 or
 * 3), u64 tensor count, u64 metadata count; the metadata (string key, u32 value type, value; a
 * string is a u64 length and that many bytes; an array a u32 element type, a u64 count and the
 * elements, arrays may nest); the tensor infos (string name, u32 n_dims, u64 ne[n_dims] with the
 * fastest-varying dim first, u32 ggml type, u64 offset relative to the data section); padding to
 * general.alignment (default 32); the data section.
 *
 * Owns: the validating reader, metadata access, tensor loading and the writer.
 * - Reading maps the file (private, like safetensors.c) and checks everything before returning:
 *   every count against the bytes left (each entry needs a minimum size, so a bogus count fails
 *   before any allocation grows), every string length, value and element types, nesting depth,
 *   bool bytes, general.alignment (a u32 power of two), n_dims <= 4, ne in [1, 2^63) with no
 *   overflow of the element or byte count, ne[0] a multiple of the type's block, offsets aligned
 *   and inside the file, no overlapping tensors, no duplicate keys or tensor names, no NUL bytes
 *   in keys or names. Errors name the file and the key or tensor.
 * - Metadata stays in the mapping: a value records where its bytes are (plus, for arrays of
 *   strings, each element's position, and for arrays of arrays their parsed children), and the
 *   getters decode on demand.
 * - rx_gguf_load views the mapping without a copy when the stored type is the dtype asked for
 *   (F32, F16, BF16, F64, I32, I64) on the CPU; otherwise it dequantises (gguf_quant.c) and/or
 *   converts. Shapes are PyTorch order: GGUF's ne reversed.
 * - Writing (v3, alignment 32, tensors F32/F16/BF16) serialises metadata as it is added and is
 *   atomic: a temporary file in the destination's folder, fsync, rename, fsync of the folder.
 * The mapping and its reference count live in file_map.c, the temporary file, rename and syncs
 * in atomic_write.c (shared with safetensors.c).
 */
#include "atomic_write.h"
#include "file_map.h"
#include "gguf_internal.h"

#include "../ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads and writes tensor bytes as they are in memory: little-endian hosts only"
#endif

#define GG_HEADER 24         /* magic, version, tensor count, metadata count */
#define GG_MIN_KV 13         /* key length (8), type (4), the smallest value (1) */
#define GG_MIN_TENSOR 24     /* name length (8), n_dims (4), type (4), offset (8) */
#define GG_MAX_DEPTH 8       /* arrays of arrays nest at most this deep */
#define GG_MAX_DIMS 4
#define GG_DEFAULT_ALIGNMENT 32

static const char *const value_type_names[] = {"u8",  "i8",   "u16", "i16", "u32", "i32", "f32",
                                               "bool", "str", "arr", "u64", "i64", "f64"};
static const int64_t value_sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}; /* 0: variable */
#define N_VALUE_TYPES 13

const char *rx_gguf_type_name(rx_gguf_type type)
{
    return (unsigned)type < N_VALUE_TYPES ? value_type_names[type] : NULL;
}

static bool is_int_type(int t)
{
    return t == RX_GGUF_U8 || t == RX_GGUF_I8 || t == RX_GGUF_U16 || t == RX_GGUF_I16 || t == RX_GGUF_U32 ||
           t == RX_GGUF_I32 || t == RX_GGUF_U64 || t == RX_GGUF_I64;
}

/* ---- the open file ------------------------------------------------------------------------ */

struct rx_gguf_value {
    const rx_gguf *file;
    const char *key;
    int type;
    int elem_type;        /* arrays: the elements' type; scalars: = type */
    int64_t n;            /* arrays: element count; scalars: 1 */
    int64_t pos;          /* file offset: a scalar's bytes, a string's length field, an array's first element */
    int64_t *elem_pos;    /* arrays of strings: each element's length field */
    rx_gguf_value *items; /* arrays of arrays: the elements */
};

typedef struct gg_kv {
    char *key;
    rx_gguf_value value;
} gg_kv;

typedef struct gg_tensor {
    char *name;
    int type;
    int ndim;
    int64_t ne[GG_MAX_DIMS];
    int64_t offset; /* relative to the data section */
    int64_t nbytes;
} gg_tensor;

struct rx_gguf {
    char *path;
    rx_file_map *map;
    const uint8_t *base;
    int64_t size;
    int version;
    int64_t alignment;
    int64_t data_start;
    int64_t n_kv, cap_kv;
    gg_kv *kvs;
    gg_kv **kv_sorted;  /* by key */
    int64_t n_t, cap_t;
    gg_tensor *tensors;
    gg_tensor **t_sorted; /* by name */
};

/* "gguf: PATH: [key 'K': | tensor 'T': ]MESSAGE" (what = "key" or "tensor" or NULL). */
static rx_status gg_fail(rx_status status, const rx_gguf *g, const char *what, const char *name, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));
static rx_status gg_fail(rx_status status, const rx_gguf *g, const char *what, const char *name, const char *fmt,
                         ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (what) return rx_fail(status, "gguf: %s: %s '%s': %s", g->path, what, name, msg);
    return rx_fail(status, "gguf: %s: %s", g->path, msg);
}

static void free_value(rx_gguf_value *v)
{
    if (v->items)
        for (int64_t i = 0; i < v->n; i++) free_value(&v->items[i]);
    free(v->items);
    free(v->elem_pos);
    v->items = NULL;
    v->elem_pos = NULL;
}

static void gg_free(rx_gguf *g)
{
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free_value(&g->kvs[i].value);
        free(g->kvs[i].key);
    }
    for (int64_t i = 0; i < g->n_t; i++) free(g->tensors[i].name);
    free(g->kvs);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    rx_file_map_release(g->map);
    free(g->path);
    free(g);
}

void rx_gguf_close(rx_gguf *g) { gg_free(g); }

static rx_status gg_map(rx_gguf *g)
{
    RX_TRY(rx_file_map_open("gguf", g->path, 4, "the 24-byte GGUF header", &g->map));
    g->size = g->map->size;
    g->base = g->map->addr;
    return RX_OK;
}

/* ---- bounds-checked reads ----------------------------------------------------------------- */

static bool have(const rx_gguf *g, int64_t pos, int64_t n) { return n >= 0 && pos <= g->size && n <= g->size - pos; }

static uint32_t rd32(const rx_gguf *g, int64_t pos)
{
    uint32_t v;
    memcpy(&v, g->base + pos, 4);
    return v;
}

static uint64_t rd64(const rx_gguf *g, int64_t pos)
{
    uint64_t v;
    memcpy(&v, g->base + pos, 8);
    return v;
}

/* The parse context of error messages: which entry is being read. */
typedef struct gg_ctx {
    const char *what; /* "key", "tensor" or NULL */
    const char *name;
    char label[64];   /* "kv #3" / "tensor info #3" before the name is known */
} gg_ctx;

static rx_status truncated(const rx_gguf *g, const gg_ctx *c, const char *field, int64_t pos, int64_t n)
{
    char where[80] = "";
    if (!c->what) snprintf(where, sizeof where, "%s: ", c->label);
    if (n < 0)
        return gg_fail(RX_ERR_FORMAT, g, c->what, c->name, "%s%s at offset %lld is absurd", where, field, (long long)pos);
    return gg_fail(RX_ERR_FORMAT, g, c->what, c->name,
                   "%s%s (%lld bytes at offset %lld) runs beyond end of file (size %lld; truncated?)", where, field,
                   (long long)n, (long long)pos, (long long)g->size);
}

/* A string at *pos: its bytes start at *pos + 8; advances *pos. */
static rx_status read_string(const rx_gguf *g, const gg_ctx *c, const char *field, int64_t *pos, int64_t *start,
                             int64_t *len)
{
    if (!have(g, *pos, 8)) return truncated(g, c, field, *pos, 8);
    uint64_t n = rd64(g, *pos);
    if (n > (uint64_t)INT64_MAX || !have(g, *pos + 8, (int64_t)n)) {
        char f[96];
        snprintf(f, sizeof f, "%s of length %llu", field, (unsigned long long)n);
        return truncated(g, c, f, *pos + 8, n > (uint64_t)INT64_MAX ? -1 : (int64_t)n);
    }
    *start = *pos + 8;
    *len = (int64_t)n;
    *pos += 8 + (int64_t)n;
    return RX_OK;
}

/* A NUL-terminated copy of a key or name (which may not contain NUL bytes). */
static rx_status copy_name(rx_gguf *g, const gg_ctx *c, const char *field, int64_t start, int64_t len, char **out)
{
    if (memchr(g->base + start, 0, (size_t)len))
        return gg_fail(RX_ERR_FORMAT, g, NULL, NULL, "%s: %s at offset %lld contains a NUL byte", c->label, field,
                       (long long)start);
    char *s = malloc((size_t)len + 1);
    if (!s) return gg_fail(RX_ERR_NOMEM, g, NULL, NULL, "out of host memory");
    memcpy(s, g->base + start, (size_t)len);
    s[len] = 0;
    *out = s;
    return RX_OK;
}

/* A u32 at *pos (the entry's `field`); advances *pos. */
static rx_status read_u32(const rx_gguf *g, const gg_ctx *c, const char *field, int64_t *pos, uint32_t *out)
{
    if (!have(g, *pos, 4)) return truncated(g, c, field, *pos, 4);
    *out = rd32(g, *pos);
    *pos += 4;
    return RX_OK;
}

/* The name that starts entry #i of a list ("kv #3" / "tensor info #3" in errors until it is known): a
 * string `field` at *pos, copied to *name; afterwards c names the entry as `what` 'NAME'. */
static rx_status read_entry_name(rx_gguf *g, gg_ctx *c, const char *list, int64_t i, const char *field,
                                 const char *what, int64_t *pos, char **name)
{
    snprintf(c->label, sizeof c->label, "%s #%lld", list, (long long)i);
    int64_t start = 0, len = 0;
    RX_TRY(read_string(g, c, field, pos, &start, &len));
    RX_TRY(copy_name(g, c, field, start, len, name));
    c->what = what;
    c->name = *name;
    return RX_OK;
}

/* `items` (n of `size` bytes, room for *cap) with room for one more: the capacity doubles from 16.
 * NULL when out of memory (items is then untouched). */
static void *reserve_one(void *items, int64_t n, int64_t *cap, size_t size)
{
    if (n < *cap) return items;
    int64_t grown = *cap ? 2 * *cap : 16;
    void *p = realloc(items, size * (size_t)grown);
    if (p) *cap = grown;
    return p;
}

/* ---- metadata values ------------------------------------------------------------------------ */

static rx_status parse_value(rx_gguf *g, const gg_ctx *c, int type, int64_t *pos, rx_gguf_value *v, int depth)
{
    memset(v, 0, sizeof *v);
    v->file = g;
    v->key = c->name;
    v->type = v->elem_type = type;
    v->n = 1;
    v->pos = *pos;
    if ((unsigned)type >= N_VALUE_TYPES)
        return gg_fail(RX_ERR_FORMAT, g, c->what, c->name, "unknown value type %u at offset %lld (expected 0..12)",
                       (unsigned)type, (long long)*pos - 4);
    if (type == RX_GGUF_STR) {
        int64_t start, len;
        return read_string(g, c, "string value", pos, &start, &len);
    }
    if (type != RX_GGUF_ARR) {
        int64_t sz = value_sizes[type];
        if (!have(g, *pos, sz)) return truncated(g, c, "value", *pos, sz);
        if (type == RX_GGUF_BOOL && g->base[*pos] > 1)
            return gg_fail(RX_ERR_FORMAT, g, c->what, c->name, "bool value %u at offset %lld (expected 0 or 1)",
                           g->base[*pos], (long long)*pos);
        *pos += sz;
        return RX_OK;
    }
    if (depth >= GG_MAX_DEPTH)
        return gg_fail(RX_ERR_FORMAT, g, c->what, c->name, "arrays nested deeper than %d levels", GG_MAX_DEPTH);
    if (!have(g, *pos, 12)) return truncated(g, c, "array header", *pos, 12);
    uint32_t et = rd32(g, *pos);
    uint64_t n = rd64(g, *pos + 4);
    *pos += 12;
    if (et >= N_VALUE_TYPES)
        return gg_fail(RX_ERR_FORMAT, g, c->what, c->name,
                       "unknown array element type %u at offset %lld (expected 0..12)", et, (long long)*pos - 12);
    int64_t min = et == RX_GGUF_STR ? 8 : et == RX_GGUF_ARR ? 12 : value_sizes[et];
    int64_t left = g->size - *pos;
    if (n > (uint64_t)(left / min))
        return gg_fail(RX_ERR_FORMAT, g, c->what, c->name,
                       "array of %llu %s elements at offset %lld needs at least %llu bytes, the file has %lld left",
                       (unsigned long long)n, value_type_names[et], (long long)v->pos,
                       n > (uint64_t)INT64_MAX / (uint64_t)min ? (unsigned long long)UINT64_MAX
                                                               : (unsigned long long)(n * (uint64_t)min),
                       (long long)left);
    v->elem_type = (int)et;
    v->n = (int64_t)n;
    v->pos = *pos;
    if (et == RX_GGUF_STR) {
        v->elem_pos = malloc(sizeof *v->elem_pos * (size_t)(n > 0 ? n : 1));
        if (!v->elem_pos) return gg_fail(RX_ERR_NOMEM, g, c->what, c->name, "out of host memory");
        for (int64_t i = 0; i < v->n; i++) {
            int64_t start, len;
            v->elem_pos[i] = *pos;
            RX_TRY(read_string(g, c, "array string", pos, &start, &len));
        }
    } else if (et == RX_GGUF_ARR) {
        v->items = calloc((size_t)(n > 0 ? n : 1), sizeof *v->items);
        if (!v->items) return gg_fail(RX_ERR_NOMEM, g, c->what, c->name, "out of host memory");
        for (int64_t i = 0; i < v->n; i++) RX_TRY(parse_value(g, c, RX_GGUF_ARR, pos, &v->items[i], depth + 1));
    } else {
        if (et == RX_GGUF_BOOL) {
            for (int64_t i = 0; i < v->n; i++)
                if (g->base[*pos + i] > 1)
                    return gg_fail(RX_ERR_FORMAT, g, c->what, c->name,
                                   "bool element %lld is %u at offset %lld (expected 0 or 1)", (long long)i,
                                   g->base[*pos + i], (long long)(*pos + i));
        }
        *pos += v->n * value_sizes[et];
    }
    return RX_OK;
}

static rx_status parse_kvs(rx_gguf *g, int64_t n_kv, int64_t *pos)
{
    for (int64_t i = 0; i < n_kv; i++) {
        gg_ctx c = {0};
        char *key;
        RX_TRY(read_entry_name(g, &c, "kv", i, "key", "key", pos, &key));
        gg_kv *kvs = reserve_one(g->kvs, g->n_kv, &g->cap_kv, sizeof *kvs);
        if (!kvs) {
            free(key);
            return gg_fail(RX_ERR_NOMEM, g, NULL, NULL, "out of host memory");
        }
        g->kvs = kvs;
        gg_kv *kv = &g->kvs[g->n_kv++];
        memset(kv, 0, sizeof *kv);
        kv->key = key;
        uint32_t type = 0;
        RX_TRY(read_u32(g, &c, "value type", pos, &type));
        RX_TRY(parse_value(g, &c, (int)type, pos, &kv->value, 0));
    }
    return RX_OK;
}

/* ---- tensor infos ---------------------------------------------------------------------------- */

static rx_status parse_tensor_infos(rx_gguf *g, int64_t n_t, int64_t *pos)
{
    for (int64_t i = 0; i < n_t; i++) {
        gg_ctx c = {0};
        char *name;
        RX_TRY(read_entry_name(g, &c, "tensor info", i, "name", "tensor", pos, &name));
        gg_tensor *ts = reserve_one(g->tensors, g->n_t, &g->cap_t, sizeof *ts);
        if (!ts) {
            free(name);
            return gg_fail(RX_ERR_NOMEM, g, NULL, NULL, "out of host memory");
        }
        g->tensors = ts;
        gg_tensor *t = &g->tensors[g->n_t++];
        memset(t, 0, sizeof *t);
        t->name = name;
        uint32_t nd = 0;
        RX_TRY(read_u32(g, &c, "n_dims", pos, &nd));
        if (nd > GG_MAX_DIMS)
            return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name, "n_dims %u, at most %d are supported", nd,
                           GG_MAX_DIMS);
        t->ndim = (int)nd;
        if (!have(g, *pos, 8 * (int64_t)nd)) return truncated(g, &c, "ne[]", *pos, 8 * (int64_t)nd);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t ne = rd64(g, *pos + 8 * d);
            if (ne == 0 || ne > (uint64_t)INT64_MAX)
                return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name, "ne[%d] = %llu (expected 1 .. 2^63-1)", d,
                               (unsigned long long)ne);
            t->ne[d] = (int64_t)ne;
            if (__builtin_mul_overflow(numel, t->ne[d], &numel))
                return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name, "element count overflows (ne[%d] = %lld)", d,
                               (long long)t->ne[d]);
        }
        *pos += 8 * (int64_t)nd;
        if (!have(g, *pos, 12)) return truncated(g, &c, "type and offset", *pos, 12);
        uint32_t type = rd32(g, *pos);
        uint64_t off = rd64(g, *pos + 4);
        *pos += 12;
        const gg_type_info *ti = gg_type((int)type);
        if (!ti) return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name, "unknown ggml type %u", type);
        t->type = (int)type;
        int64_t ne0 = t->ndim > 0 ? t->ne[0] : 1;
        if (ne0 % ti->block != 0)
            return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name,
                           "ne[0] = %lld is not a multiple of %s's block of %lld elements", (long long)ne0, ti->name,
                           (long long)ti->block);
        if (__builtin_mul_overflow(numel / ti->block, ti->block_bytes, &t->nbytes))
            return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name, "byte size overflows (%lld elements of %s)",
                           (long long)numel, ti->name);
        if (off > (uint64_t)INT64_MAX || off % (uint64_t)g->alignment != 0)
            return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name, "offset %llu is not a multiple of the alignment %lld",
                           (unsigned long long)off, (long long)g->alignment);
        t->offset = (int64_t)off;
    }
    return RX_OK;
}

/* ---- sets: lookups, duplicates, overlaps ------------------------------------------------------ */

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(gg_kv *const *)a)->key, (*(gg_kv *const *)b)->key);
}

static int cmp_tname(const void *a, const void *b)
{
    return strcmp((*(gg_tensor *const *)a)->name, (*(gg_tensor *const *)b)->name);
}

static int cmp_toff(const void *a, const void *b)
{
    const gg_tensor *x = *(gg_tensor *const *)a, *y = *(gg_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Builds the sorted lookup tables and checks duplicates and overlaps. */
static rx_status check_sets(rx_gguf *g)
{
    g->kv_sorted = malloc(sizeof *g->kv_sorted * (size_t)(g->n_kv > 0 ? g->n_kv : 1));
    g->t_sorted = malloc(sizeof *g->t_sorted * (size_t)(g->n_t > 0 ? g->n_t : 1));
    gg_tensor **by_off = malloc(sizeof *by_off * (size_t)(g->n_t > 0 ? g->n_t : 1));
    if (!g->kv_sorted || !g->t_sorted || !by_off) {
        free(by_off);
        return gg_fail(RX_ERR_NOMEM, g, NULL, NULL, "out of host memory");
    }
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kvs[i];
    for (int64_t i = 0; i < g->n_t; i++) g->t_sorted[i] = by_off[i] = &g->tensors[i];
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    qsort(g->t_sorted, (size_t)g->n_t, sizeof *g->t_sorted, cmp_tname);
    qsort(by_off, (size_t)g->n_t, sizeof *by_off, cmp_toff);
    rx_status s = RX_OK;
    for (int64_t i = 1; i < g->n_kv && s == RX_OK; i++)
        if (strcmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key) == 0)
            s = gg_fail(RX_ERR_FORMAT, g, "key", g->kv_sorted[i]->key, "duplicate key");
    for (int64_t i = 1; i < g->n_t && s == RX_OK; i++)
        if (strcmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name) == 0)
            s = gg_fail(RX_ERR_FORMAT, g, "tensor", g->t_sorted[i]->name, "duplicate tensor name");
    for (int64_t i = 1; i < g->n_t && s == RX_OK; i++) {
        const gg_tensor *p = by_off[i - 1], *t = by_off[i];
        if (t->offset < p->offset + p->nbytes)
            s = gg_fail(RX_ERR_FORMAT, g, "tensor", t->name,
                        "data [%lld, %lld) overlaps tensor '%s' [%lld, %lld) (offsets in the data section)",
                        (long long)t->offset, (long long)(t->offset + t->nbytes), p->name, (long long)p->offset,
                        (long long)(p->offset + p->nbytes));
    }
    free(by_off);
    return s;
}

static const gg_kv *find_kv(const rx_gguf *g, const char *key)
{
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const gg_kv *kv = g->kv_sorted[mid];
        int c = strcmp(kv->key, key);
        if (c == 0) return kv;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int64_t rx_gguf_tensor_find(const rx_gguf *g, const char *name)
{
    if (!g || !name) return -1;
    int64_t lo = 0, hi = g->n_t;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t_sorted[mid]->name, name);
        if (c == 0) return g->t_sorted[mid] - g->tensors;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- open ------------------------------------------------------------------------------------- */

static rx_status gg_parse(rx_gguf *g)
{
    if (memcmp(g->base, "GGUF", 4) != 0)
        return gg_fail(RX_ERR_FORMAT, g, NULL, NULL,
                       "bad magic %02x %02x %02x %02x (expected \"GGUF\"; not a GGUF file)", g->base[0], g->base[1],
                       g->base[2], g->base[3]);
    if (g->size < GG_HEADER)
        return gg_fail(RX_ERR_FORMAT, g, NULL, NULL, "file is %lld bytes, shorter than the %d-byte GGUF header (truncated?)",
                       (long long)g->size, GG_HEADER);
    uint32_t version = rd32(g, 4);
    if (version == 1)
        return gg_fail(RX_ERR_FORMAT, g, NULL, NULL, "GGUF version 1 is not supported (versions 2 and 3 are)");
    if (version != 2 && version != 3)
        return gg_fail(RX_ERR_FORMAT, g, NULL, NULL, "unsupported GGUF version %u (versions 2 and 3 are%s)", version,
                       (version & 0xFFFF) == 0 ? "; a big-endian file?" : "");
    g->version = (int)version;
    uint64_t n_t = rd64(g, 8), n_kv = rd64(g, 16);
    int64_t left = g->size - GG_HEADER;
    if (n_kv > (uint64_t)(left / GG_MIN_KV))
        return gg_fail(RX_ERR_FORMAT, g, NULL, NULL,
                       "metadata count %llu is impossible for a file of %lld bytes (each entry needs at least %d)",
                       (unsigned long long)n_kv, (long long)g->size, GG_MIN_KV);
    if (n_t > (uint64_t)(left / GG_MIN_TENSOR) ||
        (int64_t)n_t * GG_MIN_TENSOR > left - (int64_t)n_kv * GG_MIN_KV)
        return gg_fail(RX_ERR_FORMAT, g, NULL, NULL,
                       "tensor count %llu is impossible for a file of %lld bytes (each info needs at least %d)",
                       (unsigned long long)n_t, (long long)g->size, GG_MIN_TENSOR);
    int64_t pos = GG_HEADER;
    RX_TRY(parse_kvs(g, (int64_t)n_kv, &pos));
    g->alignment = GG_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < g->n_kv; i++) {
        const gg_kv *kv = &g->kvs[i];
        if (strcmp(kv->key, "general.alignment") != 0) continue;
        if (kv->value.type != RX_GGUF_U32)
            return gg_fail(RX_ERR_FORMAT, g, "key", kv->key, "expected a u32, got %s",
                           value_type_names[kv->value.type]);
        uint32_t a = rd32(g, kv->value.pos);
        if (a == 0 || (a & (a - 1)) != 0)
            return gg_fail(RX_ERR_FORMAT, g, "key", kv->key, "alignment %u is not a power of two", a);
        g->alignment = a;
    }
    RX_TRY(parse_tensor_infos(g, (int64_t)n_t, &pos));
    g->data_start = (pos + g->alignment - 1) / g->alignment * g->alignment;
    for (int64_t i = 0; i < g->n_t; i++) {
        const gg_tensor *t = &g->tensors[i];
        uint64_t b = (uint64_t)g->data_start + (uint64_t)t->offset;
        if (b > (uint64_t)g->size || (uint64_t)t->nbytes > (uint64_t)g->size - b)
            return gg_fail(RX_ERR_FORMAT, g, "tensor", t->name, "data [%llu, %llu) beyond end of file (size %lld)",
                           (unsigned long long)b, (unsigned long long)(b + (uint64_t)t->nbytes), (long long)g->size);
    }
    return check_sets(g);
}

rx_status rx_gguf_open(const char *path, rx_gguf **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "gguf: open: argument #2: expected an output pointer, got NULL");
    *out = NULL;
    if (!path || !path[0]) return rx_fail(RX_ERR_ARG, "gguf: open: argument #1: expected a file path");
    rx_gguf *g = calloc(1, sizeof *g);
    if (!g) return rx_fail(RX_ERR_NOMEM, "gguf: %s: out of host memory", path);
    g->path = strdup(path);
    if (!g->path) {
        free(g);
        return rx_fail(RX_ERR_NOMEM, "gguf: %s: out of host memory", path);
    }
    rx_status s = gg_map(g);
    if (s == RX_OK) s = gg_parse(g);
    if (s != RX_OK) {
        gg_free(g);
        return s;
    }
    *out = g;
    return RX_OK;
}

int rx_gguf_version(const rx_gguf *g) { return g ? g->version : 0; }
int64_t rx_gguf_alignment(const rx_gguf *g) { return g ? g->alignment : 0; }
int64_t rx_gguf_data_offset(const rx_gguf *g) { return g ? g->data_start : 0; }

/* ---- metadata access ------------------------------------------------------------------------ */

int64_t rx_gguf_kv_count(const rx_gguf *g) { return g ? g->n_kv : 0; }

const char *rx_gguf_kv_key(const rx_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_kv ? g->kvs[i].key : NULL;
}

const rx_gguf_value *rx_gguf_kv_value(const rx_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_kv ? &g->kvs[i].value : NULL;
}

const rx_gguf_value *rx_gguf_find(const rx_gguf *g, const char *key)
{
    if (!g || !key) return NULL;
    const gg_kv *kv = find_kv(g, key);
    return kv ? &kv->value : NULL;
}

rx_gguf_type rx_gguf_value_type(const rx_gguf_value *v) { return v ? (rx_gguf_type)v->type : RX_GGUF_U8; }
rx_gguf_type rx_gguf_value_elem_type(const rx_gguf_value *v) { return v ? (rx_gguf_type)v->elem_type : RX_GGUF_U8; }
int64_t rx_gguf_value_len(const rx_gguf_value *v) { return v ? v->n : 0; }

/* Locates element j: its type and file position. */
static rx_status value_elem(const rx_gguf_value *v, int64_t j, const char *getter, int *type, int64_t *pos)
{
    if (!v) return rx_fail(RX_ERR_ARG, "gguf: %s: argument #1: expected a value, got NULL", getter);
    bool arr = v->type == RX_GGUF_ARR;
    if (j < 0 || j >= (arr ? v->n : 1))
        return gg_fail(RX_ERR_ARG, v->file, "key", v->key, "%s: element %lld out of range (%s of %lld)", getter,
                       (long long)j, arr ? "array" : "scalar", (long long)(arr ? v->n : 1));
    *type = v->elem_type;
    if (!arr)
        *pos = v->pos;
    else if (v->elem_type == RX_GGUF_STR)
        *pos = v->elem_pos[j];
    else if (v->elem_type == RX_GGUF_ARR)
        *pos = v->items[j].pos;
    else
        *pos = v->pos + j * value_sizes[v->elem_type];
    return RX_OK;
}

static rx_status type_mismatch(const rx_gguf_value *v, const char *want, int got)
{
    return gg_fail(RX_ERR_DTYPE, v->file, "key", v->key, "expected %s, got %s%s%s", want,
                   v->type == RX_GGUF_ARR ? "an element of type " : "", value_type_names[got],
                   v->type == RX_GGUF_ARR ? " (arr)" : "");
}

static int64_t load_int(const uint8_t *p, int type, uint64_t *u64)
{
    switch (type) {
    case RX_GGUF_U8: return p[0];
    case RX_GGUF_I8: return (int8_t)p[0];
    case RX_GGUF_U16: return (uint16_t)(p[0] | p[1] << 8);
    case RX_GGUF_I16: return (int16_t)(p[0] | p[1] << 8);
    case RX_GGUF_U32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case RX_GGUF_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case RX_GGUF_U64: {
        memcpy(u64, p, 8);
        return (int64_t)*u64;
    }
    default: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

rx_status rx_gguf_value_int(const rx_gguf_value *v, int64_t j, int64_t *out)
{
    int type = 0;
    int64_t pos = 0;
    RX_TRY(value_elem(v, j, "value_int", &type, &pos));
    if (!is_int_type(type)) return type_mismatch(v, "an integer", type);
    uint64_t u = 0;
    int64_t x = load_int(v->file->base + pos, type, &u);
    if (type == RX_GGUF_U64 && u > (uint64_t)INT64_MAX)
        return gg_fail(RX_ERR_DTYPE, v->file, "key", v->key, "u64 value %llu does not fit in int64",
                       (unsigned long long)u);
    if (out) *out = x;
    return RX_OK;
}

rx_status rx_gguf_value_float(const rx_gguf_value *v, int64_t j, double *out)
{
    int type = 0;
    int64_t pos = 0;
    RX_TRY(value_elem(v, j, "value_float", &type, &pos));
    const uint8_t *p = v->file->base + pos;
    double d;
    if (type == RX_GGUF_F32) {
        float f;
        memcpy(&f, p, 4);
        d = f;
    } else if (type == RX_GGUF_F64) {
        memcpy(&d, p, 8);
    } else if (is_int_type(type)) {
        uint64_t u = 0;
        int64_t x = load_int(p, type, &u);
        d = type == RX_GGUF_U64 ? (double)u : (double)x;
    } else {
        return type_mismatch(v, "a number", type);
    }
    if (out) *out = d;
    return RX_OK;
}

rx_status rx_gguf_value_bool(const rx_gguf_value *v, int64_t j, int *out)
{
    int type = 0;
    int64_t pos = 0;
    RX_TRY(value_elem(v, j, "value_bool", &type, &pos));
    if (type != RX_GGUF_BOOL) return type_mismatch(v, "a bool", type);
    if (out) *out = v->file->base[pos] != 0;
    return RX_OK;
}

rx_status rx_gguf_value_string(const rx_gguf_value *v, int64_t j, const char **out, int64_t *len)
{
    int type = 0;
    int64_t pos = 0;
    RX_TRY(value_elem(v, j, "value_string", &type, &pos));
    if (type != RX_GGUF_STR) return type_mismatch(v, "a string", type);
    if (out) *out = (const char *)v->file->base + pos + 8;
    if (len) *len = (int64_t)rd64(v->file, pos);
    return RX_OK;
}

rx_status rx_gguf_value_array(const rx_gguf_value *v, int64_t j, const rx_gguf_value **out)
{
    int type = 0;
    int64_t pos = 0;
    RX_TRY(value_elem(v, j, "value_array", &type, &pos));
    if (v->type != RX_GGUF_ARR || type != RX_GGUF_ARR) return type_mismatch(v, "an array of arrays", type);
    if (out) *out = &v->items[j];
    return RX_OK;
}

static rx_status get_value(const rx_gguf *g, const char *key, const char *getter, const rx_gguf_value **out)
{
    if (!g) return rx_fail(RX_ERR_ARG, "gguf: %s: argument #1: expected an open file, got NULL", getter);
    if (!key) return rx_fail(RX_ERR_ARG, "gguf: %s: argument #2: expected a key, got NULL", getter);
    *out = rx_gguf_find(g, key);
    if (!*out) return gg_fail(RX_ERR_ARG, g, "key", key, "not in the file");
    return RX_OK;
}

rx_status rx_gguf_get_int(const rx_gguf *g, const char *key, int64_t *out)
{
    const rx_gguf_value *v;
    RX_TRY(get_value(g, key, "get_int", &v));
    if (v->type == RX_GGUF_ARR) return type_mismatch(v, "an integer", RX_GGUF_ARR);
    return rx_gguf_value_int(v, 0, out);
}

rx_status rx_gguf_get_float(const rx_gguf *g, const char *key, double *out)
{
    const rx_gguf_value *v;
    RX_TRY(get_value(g, key, "get_float", &v));
    if (v->type == RX_GGUF_ARR) return type_mismatch(v, "a number", RX_GGUF_ARR);
    return rx_gguf_value_float(v, 0, out);
}

rx_status rx_gguf_get_bool(const rx_gguf *g, const char *key, int *out)
{
    const rx_gguf_value *v;
    RX_TRY(get_value(g, key, "get_bool", &v));
    if (v->type == RX_GGUF_ARR) return type_mismatch(v, "a bool", RX_GGUF_ARR);
    return rx_gguf_value_bool(v, 0, out);
}

rx_status rx_gguf_get_string(const rx_gguf *g, const char *key, const char **out, int64_t *len)
{
    const rx_gguf_value *v;
    RX_TRY(get_value(g, key, "get_string", &v));
    if (v->type == RX_GGUF_ARR) return type_mismatch(v, "a string", RX_GGUF_ARR);
    return rx_gguf_value_string(v, 0, out, len);
}

/* ---- tensors ---------------------------------------------------------------------------------- */

int64_t rx_gguf_tensor_count(const rx_gguf *g) { return g ? g->n_t : 0; }

rx_status rx_gguf_tensor_info_at(const rx_gguf *g, int64_t i, rx_gguf_tensor_info *out)
{
    if (!g) return rx_fail(RX_ERR_ARG, "gguf: tensor_info: argument #1: expected an open file, got NULL");
    if (!out) return rx_fail(RX_ERR_ARG, "gguf: tensor_info: argument #3: expected an output pointer, got NULL");
    if (i < 0 || i >= g->n_t)
        return gg_fail(RX_ERR_ARG, g, NULL, NULL, "tensor_info: argument #2: index %lld out of range (%lld tensors)",
                       (long long)i, (long long)g->n_t);
    const gg_tensor *t = &g->tensors[i];
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->ggml_type = t->type;
    out->type_name = gg_type(t->type)->name;
    out->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) out->shape[d] = t->ne[t->ndim - 1 - d];
    out->offset = g->data_start + t->offset;
    out->nbytes = t->nbytes;
    return RX_OK;
}

const void *rx_gguf_tensor_data(const rx_gguf *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n_t) return NULL;
    return g->base + g->data_start + g->tensors[i].offset;
}

/* The rx dtype that stores ggml `type` as is, or -1. */
static int natural_dtype(int type)
{
    switch (type) {
    case GG_TYPE_F32: return RX_F32;
    case GG_TYPE_F16: return RX_F16;
    case GG_TYPE_BF16: return RX_BF16;
    case GG_TYPE_F64: return RX_F64;
    case GG_TYPE_I32: return RX_I32;
    case GG_TYPE_I64: return RX_I64;
    default: return -1;
    }
}

/* The stored tensor as a CPU tensor: a view of the mapping in its natural dtype (a copy when the
 * data is misaligned for it), or the dequantised f32 values. */
static rx_status load_host(rx_gguf *g, const gg_tensor *t, rx_tensor **out)
{
    int64_t shape[GG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->ne[t->ndim - 1 - d];
    const uint8_t *data = g->base + g->data_start + t->offset;
    int nat = natural_dtype(t->type);
    if (nat >= 0 && (uintptr_t)data % (uintptr_t)rx_dtype_size((rx_dtype)nat) == 0)
        return rx_file_map_view(g->map, (void *)data, t->nbytes, t->ndim, shape, (rx_dtype)nat, out);
    if (nat >= 0) {
        RX_TRY(rx_empty(t->ndim, shape, (rx_dtype)nat, rx_cpu(), out));
        memcpy(rx_tensor_bytes(*out), data, (size_t)t->nbytes);
        return RX_OK;
    }
    const gg_type_info *ti = gg_type(t->type);
    if (!ti->dequant) return rx_fail(RX_ERR_UNSUPPORTED, "type %s cannot be dequantised by recx", ti->name);
    RX_TRY(rx_empty(t->ndim, shape, RX_F32, rx_cpu(), out));
    int64_t numel = rx_tensor_numel(*out);
    rx_status st = rx_ggml_dequantize(t->type, data, numel, (float *)rx_tensor_bytes(*out));
    if (st != RX_OK) {
        rx_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

rx_status rx_gguf_load(rx_gguf *g, const char *name, rx_dtype dtype, rx_device device, rx_tensor **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "gguf: load: argument #5: expected an output pointer, got NULL");
    *out = NULL;
    if (!g) return rx_fail(RX_ERR_ARG, "gguf: load: argument #1: expected an open file, got NULL");
    if (!name) return rx_fail(RX_ERR_ARG, "gguf: load: argument #2: expected a tensor name, got NULL");
    if (!rx_dtype_name(dtype) || (unsigned)dtype > RX_BOOL)
        return rx_fail(RX_ERR_ARG, "gguf: load: argument #3: unknown dtype %d", (int)dtype);
    int64_t i = rx_gguf_tensor_find(g, name);
    if (i < 0) return gg_fail(RX_ERR_ARG, g, "tensor", name, "no such tensor in the file");
    const gg_tensor *t = &g->tensors[i];
    rx_tensor *host = NULL, *cast = NULL;
    rx_status s = load_host(g, t, &host);
    if (s == RX_OK) s = rx_op_to_dtype(host, dtype, &cast);
    rx_tensor_release(host);
    if (s == RX_OK) {
        s = rx_op_to_device(cast, device, out);
        rx_tensor_release(cast);
    }
    if (s != RX_OK) {
        *out = NULL;
        return rx_fail_context(s, "gguf: %s: tensor '%s'", g->path, name);
    }
    return RX_OK;
}

/* ---- writer ------------------------------------------------------------------------------------ */

/* A growing byte buffer; `failed` records an allocation failure. */
typedef struct gbuf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} gbuf;

static void gb_put(gbuf *b, const void *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void gb_u32(gbuf *b, uint32_t v) { gb_put(b, &v, 4); }
static void gb_u64(gbuf *b, uint64_t v) { gb_put(b, &v, 8); }
static void gb_str(gbuf *b, const char *s, int64_t len)
{
    gb_u64(b, (uint64_t)len);
    gb_put(b, s, (size_t)len);
}

typedef struct gw_tensor {
    char *name;
    rx_tensor *t;
    int type;
} gw_tensor;

struct rx_gguf_writer {
    gbuf kv;
    int64_t n_kv, cap_keys;
    char **keys;
    int64_t n_t, cap_t;
    gw_tensor *tensors;
};

rx_status rx_gguf_writer_new(rx_gguf_writer **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "gguf: writer_new: argument #1: expected an output pointer, got NULL");
    *out = calloc(1, sizeof **out);
    return *out ? RX_OK : rx_fail(RX_ERR_NOMEM, "gguf: writer_new: out of host memory");
}

void rx_gguf_writer_free(rx_gguf_writer *w)
{
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int64_t i = 0; i < w->n_t; i++) {
        free(w->tensors[i].name);
        rx_tensor_release(w->tensors[i].t);
    }
    free(w->keys);
    free(w->tensors);
    free(w->kv.p);
    free(w);
}

/* Checks the writer and a new key (present, non-empty, unique). */
static rx_status check_key(const rx_gguf_writer *w, const char *key, const char *fn)
{
    if (!w) return rx_fail(RX_ERR_ARG, "gguf: %s: argument #1: expected a writer, got NULL", fn);
    if (!key || !key[0]) return rx_fail(RX_ERR_ARG, "gguf: %s: argument #2: expected a non-empty key", fn);
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) return rx_fail(RX_ERR_ARG, "gguf: %s: key '%s': duplicate key", fn, key);
    return RX_OK;
}

/* Appends the key (serialised as a string, then the value type) and records it; the value bytes
 * follow through gb_* calls. On failure the buffer is cut back to `mark`. */
static rx_status begin_kv(rx_gguf_writer *w, const char *key, int type, size_t *mark)
{
    if (w->n_kv == w->cap_keys) {
        int64_t cap = w->cap_keys ? 2 * w->cap_keys : 16;
        char **k = realloc(w->keys, sizeof *k * (size_t)cap);
        if (!k) return rx_fail(RX_ERR_NOMEM, "gguf: writer: out of host memory");
        w->keys = k;
        w->cap_keys = cap;
    }
    *mark = w->kv.len;
    gb_str(&w->kv, key, (int64_t)strlen(key));
    gb_u32(&w->kv, (uint32_t)type);
    return RX_OK;
}

static rx_status end_kv(rx_gguf_writer *w, const char *key, size_t mark)
{
    char *k = w->kv.failed ? NULL : strdup(key);
    if (!k) {
        w->kv.len = mark;
        w->kv.failed = false;
        return rx_fail(RX_ERR_NOMEM, "gguf: writer: key '%s': out of host memory", key);
    }
    w->keys[w->n_kv++] = k;
    return RX_OK;
}

/* Range of an integer value type. */
static bool int_fits(int type, int64_t v)
{
    switch (type) {
    case RX_GGUF_U8: return v >= 0 && v <= UINT8_MAX;
    case RX_GGUF_I8: return v >= INT8_MIN && v <= INT8_MAX;
    case RX_GGUF_U16: return v >= 0 && v <= UINT16_MAX;
    case RX_GGUF_I16: return v >= INT16_MIN && v <= INT16_MAX;
    case RX_GGUF_U32: return v >= 0 && v <= UINT32_MAX;
    case RX_GGUF_I32: return v >= INT32_MIN && v <= INT32_MAX;
    case RX_GGUF_U64: return v >= 0;
    case RX_GGUF_I64: return true;
    case RX_GGUF_BOOL: return v == 0 || v == 1;
    default: return false;
    }
}

static void put_int(gbuf *b, int type, int64_t v)
{
    uint64_t u = (uint64_t)v; /* little-endian host: the low bytes first */
    gb_put(b, &u, (size_t)value_sizes[type]);
}

static void put_float(gbuf *b, int type, double v)
{
    if (type == RX_GGUF_F32) {
        float f = (float)v;
        gb_put(b, &f, 4);
    } else {
        gb_put(b, &v, 8);
    }
}

static rx_status check_int_type(const char *fn, const char *key, int type)
{
    if (!is_int_type(type) && type != RX_GGUF_BOOL)
        return rx_fail(RX_ERR_ARG, "gguf: %s: key '%s': argument #3: expected an integer or bool type, got %s", fn,
                       key, rx_gguf_type_name((rx_gguf_type)type) ? rx_gguf_type_name((rx_gguf_type)type) : "?");
    return RX_OK;
}

static rx_status check_float_type(const char *fn, const char *key, int type)
{
    if (type != RX_GGUF_F32 && type != RX_GGUF_F64)
        return rx_fail(RX_ERR_ARG, "gguf: %s: key '%s': argument #3: expected type f32 or f64, got %s", fn, key,
                       rx_gguf_type_name((rx_gguf_type)type) ? rx_gguf_type_name((rx_gguf_type)type) : "?");
    return RX_OK;
}

rx_status rx_gguf_writer_add_int(rx_gguf_writer *w, const char *key, rx_gguf_type type, int64_t value)
{
    RX_TRY(check_key(w, key, "add_int"));
    RX_TRY(check_int_type("add_int", key, type));
    if (!int_fits(type, value))
        return rx_fail(RX_ERR_ARG, "gguf: add_int: key '%s': value %lld out of range for %s", key, (long long)value,
                       value_type_names[type]);
    size_t mark;
    RX_TRY(begin_kv(w, key, type, &mark));
    put_int(&w->kv, type, value);
    return end_kv(w, key, mark);
}

rx_status rx_gguf_writer_add_float(rx_gguf_writer *w, const char *key, rx_gguf_type type, double value)
{
    RX_TRY(check_key(w, key, "add_float"));
    RX_TRY(check_float_type("add_float", key, type));
    size_t mark;
    RX_TRY(begin_kv(w, key, type, &mark));
    put_float(&w->kv, type, value);
    return end_kv(w, key, mark);
}

rx_status rx_gguf_writer_add_string(rx_gguf_writer *w, const char *key, const char *s, int64_t len)
{
    RX_TRY(check_key(w, key, "add_string"));
    if (!s) return rx_fail(RX_ERR_ARG, "gguf: add_string: key '%s': argument #3: expected a string, got NULL", key);
    size_t mark;
    RX_TRY(begin_kv(w, key, RX_GGUF_STR, &mark));
    gb_str(&w->kv, s, len < 0 ? (int64_t)strlen(s) : len);
    return end_kv(w, key, mark);
}

static rx_status check_array(const char *fn, const char *key, int64_t n, const void *values)
{
    if (n < 0) return rx_fail(RX_ERR_ARG, "gguf: %s: key '%s': argument #4: expected a count >= 0, got %lld", fn, key,
                              (long long)n);
    if (n > 0 && !values)
        return rx_fail(RX_ERR_ARG, "gguf: %s: key '%s': argument #5: expected %lld values, got NULL", fn, key,
                       (long long)n);
    return RX_OK;
}

rx_status rx_gguf_writer_add_int_array(rx_gguf_writer *w, const char *key, rx_gguf_type elem_type, int64_t n,
                                       const int64_t *values)
{
    RX_TRY(check_key(w, key, "add_int_array"));
    RX_TRY(check_int_type("add_int_array", key, elem_type));
    RX_TRY(check_array("add_int_array", key, n, values));
    for (int64_t i = 0; i < n; i++)
        if (!int_fits(elem_type, values[i]))
            return rx_fail(RX_ERR_ARG, "gguf: add_int_array: key '%s': element %lld = %lld out of range for %s", key,
                           (long long)i, (long long)values[i], value_type_names[elem_type]);
    size_t mark;
    RX_TRY(begin_kv(w, key, RX_GGUF_ARR, &mark));
    gb_u32(&w->kv, (uint32_t)elem_type);
    gb_u64(&w->kv, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) put_int(&w->kv, elem_type, values[i]);
    return end_kv(w, key, mark);
}

rx_status rx_gguf_writer_add_float_array(rx_gguf_writer *w, const char *key, rx_gguf_type elem_type, int64_t n,
                                         const double *values)
{
    RX_TRY(check_key(w, key, "add_float_array"));
    RX_TRY(check_float_type("add_float_array", key, elem_type));
    RX_TRY(check_array("add_float_array", key, n, values));
    size_t mark;
    RX_TRY(begin_kv(w, key, RX_GGUF_ARR, &mark));
    gb_u32(&w->kv, (uint32_t)elem_type);
    gb_u64(&w->kv, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) put_float(&w->kv, elem_type, values[i]);
    return end_kv(w, key, mark);
}

rx_status rx_gguf_writer_add_string_array(rx_gguf_writer *w, const char *key, int64_t n, const char *const *s,
                                          const int64_t *lens)
{
    RX_TRY(check_key(w, key, "add_string_array"));
    RX_TRY(check_array("add_string_array", key, n, s));
    for (int64_t i = 0; i < n; i++)
        if (!s[i])
            return rx_fail(RX_ERR_ARG, "gguf: add_string_array: key '%s': element %lld: expected a string, got NULL",
                           key, (long long)i);
    size_t mark;
    RX_TRY(begin_kv(w, key, RX_GGUF_ARR, &mark));
    gb_u32(&w->kv, RX_GGUF_STR);
    gb_u64(&w->kv, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) gb_str(&w->kv, s[i], lens && lens[i] >= 0 ? lens[i] : (int64_t)strlen(s[i]));
    return end_kv(w, key, mark);
}

rx_status rx_gguf_writer_add_tensor(rx_gguf_writer *w, const char *name, rx_tensor *t, int ggml_type)
{
    if (!w) return rx_fail(RX_ERR_ARG, "gguf: add_tensor: argument #1: expected a writer, got NULL");
    if (!name || !name[0]) return rx_fail(RX_ERR_ARG, "gguf: add_tensor: argument #2: expected a non-empty name");
    if (!t) return rx_fail(RX_ERR_ARG, "gguf: add_tensor: tensor '%s': argument #3: expected a tensor, got NULL", name);
    if (ggml_type != GG_TYPE_F32 && ggml_type != GG_TYPE_F16 && ggml_type != GG_TYPE_BF16)
        return rx_fail(RX_ERR_UNSUPPORTED,
                       "gguf: add_tensor: tensor '%s': argument #4: recx writes types F32, F16 and BF16, got %s", name,
                       rx_ggml_type_name(ggml_type) ? rx_ggml_type_name(ggml_type) : "an unknown type");
    if (t->ndim > GG_MAX_DIMS)
        return rx_fail(RX_ERR_SHAPE, "gguf: add_tensor: tensor '%s': %d dims, GGUF stores at most %d", name, t->ndim,
                       GG_MAX_DIMS);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] <= 0)
            return rx_fail(RX_ERR_SHAPE, "gguf: add_tensor: tensor '%s': dim %d has size %lld (GGUF needs sizes >= 1)",
                           name, d, (long long)t->shape[d]);
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return rx_fail(RX_ERR_ARG, "gguf: add_tensor: tensor '%s': duplicate name", name);
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 16;
        gw_tensor *p = realloc(w->tensors, sizeof *p * (size_t)cap);
        if (!p) return rx_fail(RX_ERR_NOMEM, "gguf: add_tensor: out of host memory");
        w->tensors = p;
        w->cap_t = cap;
    }
    char *copy = strdup(name);
    if (!copy) return rx_fail(RX_ERR_NOMEM, "gguf: add_tensor: out of host memory");
    w->tensors[w->n_t++] = (gw_tensor){copy, rx_tensor_retain(t), ggml_type};
    return RX_OK;
}

/* ---- writer: files ---- */

static int64_t tensor_bytes(const gw_tensor *t)
{
    return rx_tensor_numel(t->t) * (t->type == GG_TYPE_F32 ? 4 : 2);
}

static int64_t align_up(int64_t x) { return (x + GG_DEFAULT_ALIGNMENT - 1) / GG_DEFAULT_ALIGNMENT * GG_DEFAULT_ALIGNMENT; }

/* Header, metadata, tensor infos and the padding before the data section. */
static rx_status build_header(const rx_gguf_writer *w, const char *path, gbuf *b)
{
    gb_put(b, "GGUF", 4);
    gb_u32(b, 3);
    gb_u64(b, (uint64_t)w->n_t);
    gb_u64(b, (uint64_t)w->n_kv);
    gb_put(b, w->kv.p, w->kv.len);
    int64_t offset = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const gw_tensor *t = &w->tensors[i];
        gb_str(b, t->name, (int64_t)strlen(t->name));
        gb_u32(b, (uint32_t)t->t->ndim);
        for (int d = t->t->ndim - 1; d >= 0; d--) gb_u64(b, (uint64_t)t->t->shape[d]);
        gb_u32(b, (uint32_t)t->type);
        gb_u64(b, (uint64_t)offset);
        offset = align_up(offset + tensor_bytes(t));
    }
    static const uint8_t zeros[GG_DEFAULT_ALIGNMENT];
    gb_put(b, zeros, (size_t)(align_up((int64_t)b->len) - (int64_t)b->len));
    if (b->failed) return rx_fail(RX_ERR_NOMEM, "gguf: %s: out of host memory for the header", path);
    return RX_OK;
}

/* One tensor's bytes (a host, contiguous copy in the file's dtype when needed) and its padding. */
static rx_status write_tensor(rx_atomic_file *af, const char *path, const gw_tensor *t)
{
    rx_dtype dt = t->type == GG_TYPE_F32 ? RX_F32 : t->type == GG_TYPE_F16 ? RX_F16 : RX_BF16;
    rx_tensor *host = NULL, *cast = NULL, *dense = NULL;
    rx_status s = rx_op_to_device(t->t, rx_cpu(), &host);
    if (s == RX_OK) s = rx_op_to_dtype(host, dt, &cast);
    if (s == RX_OK) s = rx_op_contiguous(cast, &dense);
    rx_tensor_release(host);
    rx_tensor_release(cast);
    if (s != RX_OK) return rx_fail_context(s, "gguf: %s: tensor '%s'", path, t->name);
    int64_t nbytes = tensor_bytes(t);
    s = rx_atomic_write(af, rx_tensor_bytes(dense), (size_t)nbytes);
    rx_tensor_release(dense);
    static const uint8_t zeros[GG_DEFAULT_ALIGNMENT];
    if (s == RX_OK) s = rx_atomic_write(af, zeros, (size_t)(align_up(nbytes) - nbytes));
    return s;
}

rx_status rx_gguf_writer_write(rx_gguf_writer *w, const char *path)
{
    if (!w) return rx_fail(RX_ERR_ARG, "gguf: write: argument #1: expected a writer, got NULL");
    if (!path || !path[0]) return rx_fail(RX_ERR_ARG, "gguf: write: argument #2: expected a file path");
    const char *slash = strrchr(path, '/');
    if (!(slash ? slash[1] : path[0]))
        return rx_fail(RX_ERR_ARG, "gguf: write: argument #2: expected a file path, got a folder (%s)", path);
    gbuf header = {0};
    rx_status s = build_header(w, path, &header);
    if (s != RX_OK) {
        free(header.p);
        return s;
    }
    rx_atomic_file af;
    s = rx_atomic_open(&af, "gguf", path);
    if (s != RX_OK) {
        free(header.p);
        return s;
    }
    s = rx_atomic_write(&af, header.p, header.len);
    free(header.p);
    for (int64_t i = 0; i < w->n_t && s == RX_OK; i++) s = write_tensor(&af, path, &w->tensors[i]);
    return rx_atomic_finish(&af, s);
}
