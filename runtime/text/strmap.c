/* strmap.c — the tokenizer's containers: growable byte buffers and id lists, an open-addressing
 * map from byte strings to int32 (vocabularies, added tokens, the word cache) and a map from id
 * pairs to merges.
 *
 * Hashing is FNV-1a over the bytes followed by a 64-bit finaliser; tables stay at most half full.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

rx_status rx_buf_reserve(rx_buf *b, int64_t extra)
{
    if (b->len + extra <= b->cap) return RX_OK;
    int64_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, (size_t)cap);
    if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (%lld bytes)", (long long)cap);
    b->data = p;
    b->cap = cap;
    return RX_OK;
}

rx_status rx_buf_append(rx_buf *b, const void *data, int64_t n)
{
    /* the source may lie inside the buffer itself (pieces copied within an arena) */
    const char *src = data;
    if (b->data && src >= b->data && src < b->data + b->cap) {
        int64_t off = src - b->data;
        RX_TRY(rx_buf_reserve(b, n + 1));
        data = b->data + off;
    }
    RX_TRY(rx_buf_reserve(b, n + 1));
    if (n) memcpy(b->data + b->len, data, (size_t)n);
    b->len += n;
    b->data[b->len] = 0;
    return RX_OK;
}

void rx_buf_free(rx_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

rx_status rx_ids_append(rx_ids *l, const int32_t *ids, int64_t n)
{
    if (l->len + n > l->cap) {
        int64_t cap = l->cap ? l->cap : 64;
        while (cap < l->len + n) cap *= 2;
        int32_t *p = realloc(l->data, (size_t)cap * sizeof *p);
        if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (%lld ids)", (long long)cap);
        l->data = p;
        l->cap = cap;
    }
    if (n) memcpy(l->data + l->len, ids, (size_t)n * sizeof *ids);
    l->len += n;
    return RX_OK;
}

rx_status rx_ids_push(rx_ids *l, int32_t id)
{
    if (l->len < l->cap) {
        l->data[l->len++] = id;
        return RX_OK;
    }
    return rx_ids_append(l, &id, 1);
}

void rx_ids_free(rx_ids *l)
{
    free(l->data);
    memset(l, 0, sizeof *l);
}

uint64_t rx_hash_bytes(const void *data, int64_t n)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static rx_status strmap_grow(rx_strmap *m)
{
    int64_t cap = m->cap ? m->cap * 2 : 64;
    int64_t *slots = malloc((size_t)cap * sizeof *slots);
    if (!slots) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (hash table of %lld slots)", (long long)cap);
    for (int64_t i = 0; i < cap; i++) slots[i] = -1;
    for (int64_t e = 0; e < m->count; e++) {
        int64_t s = (int64_t)(m->hashes[e] & (uint64_t)(cap - 1));
        while (slots[s] >= 0) s = (s + 1) & (cap - 1);
        slots[s] = e;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return RX_OK;
}

static int64_t strmap_find(const rx_strmap *m, const char *key, int64_t n, uint64_t h)
{
    if (!m->cap) return -1;
    int64_t s = (int64_t)(h & (uint64_t)(m->cap - 1));
    for (;;) {
        int64_t e = m->slots[s];
        if (e < 0) return -(s + 2); /* empty slot s */
        if (m->hashes[e] == h && m->key_lens[e] == n && memcmp(m->keys[e], key, (size_t)n) == 0) return e;
        s = (s + 1) & (m->cap - 1);
    }
}

rx_status rx_strmap_put(rx_strmap *m, const char *key, int64_t n, int32_t value, int *had_key)
{
    uint64_t h = rx_hash_bytes(key, n);
    int64_t e = strmap_find(m, key, n, h);
    if (had_key) *had_key = e >= 0;
    if (e >= 0) {
        m->values[e] = value;
        return RX_OK;
    }
    if (n > INT32_MAX) return rx_fail(RX_ERR_ARG, "tokenizer: a token of %lld bytes is too long", (long long)n);
    if ((m->count + 1) * 2 > m->cap) RX_TRY(strmap_grow(m));
    if (m->count == m->entries_cap) {
        int64_t cap = m->entries_cap ? m->entries_cap * 2 : 32;
        uint64_t *hs = realloc(m->hashes, (size_t)cap * sizeof *hs);
        if (hs) m->hashes = hs;
        char **ks = hs ? realloc(m->keys, (size_t)cap * sizeof *ks) : NULL;
        if (ks) m->keys = ks;
        int32_t *ls = ks ? realloc(m->key_lens, (size_t)cap * sizeof *ls) : NULL;
        if (ls) m->key_lens = ls;
        int32_t *vs = ls ? realloc(m->values, (size_t)cap * sizeof *vs) : NULL;
        if (!vs) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (hash table of %lld keys)", (long long)cap);
        m->values = vs;
        m->entries_cap = cap;
    }
    char *copy = malloc((size_t)n + 1);
    if (!copy) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (a key of %lld bytes)", (long long)n);
    if (n) memcpy(copy, key, (size_t)n);
    copy[n] = 0;
    e = m->count++;
    m->hashes[e] = h;
    m->keys[e] = copy;
    m->key_lens[e] = (int32_t)n;
    m->values[e] = value;
    int64_t s = (int64_t)(h & (uint64_t)(m->cap - 1));
    while (m->slots[s] >= 0) s = (s + 1) & (m->cap - 1);
    m->slots[s] = e;
    return RX_OK;
}

int32_t rx_strmap_get(const rx_strmap *m, const char *key, int64_t n)
{
    int64_t e = strmap_find(m, key, n, rx_hash_bytes(key, n));
    return e >= 0 ? m->values[e] : -1;
}

void rx_strmap_free(rx_strmap *m)
{
    for (int64_t e = 0; e < m->count; e++) free(m->keys[e]);
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    free(m->hashes);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static uint64_t pair_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static rx_status mergemap_grow(rx_mergemap *m)
{
    int64_t cap = m->cap ? m->cap * 2 : 1024;
    rx_merge *slots = malloc((size_t)cap * sizeof *slots);
    if (!slots) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (merge table of %lld slots)", (long long)cap);
    for (int64_t i = 0; i < cap; i++) slots[i].key = UINT64_MAX;
    for (int64_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == UINT64_MAX) continue;
        int64_t s = (int64_t)(pair_hash(m->slots[i].key) & (uint64_t)(cap - 1));
        while (slots[s].key != UINT64_MAX) s = (s + 1) & (cap - 1);
        slots[s] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return RX_OK;
}

rx_status rx_mergemap_put(rx_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    if ((m->count + 1) * 2 > m->cap) RX_TRY(mergemap_grow(m));
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    int64_t s = (int64_t)(pair_hash(key) & (uint64_t)(m->cap - 1));
    while (m->slots[s].key != UINT64_MAX) {
        if (m->slots[s].key == key) { /* a repeated pair: the later rank wins, as in HF tokenizers */
            m->slots[s].rank = rank;
            m->slots[s].id = id;
            return RX_OK;
        }
        s = (s + 1) & (m->cap - 1);
    }
    m->slots[s] = (rx_merge){key, rank, id};
    m->count++;
    return RX_OK;
}

const rx_merge *rx_mergemap_get(const rx_mergemap *m, int32_t a, int32_t b)
{
    if (!m->cap) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    int64_t s = (int64_t)(pair_hash(key) & (uint64_t)(m->cap - 1));
    while (m->slots[s].key != UINT64_MAX) {
        if (m->slots[s].key == key) return &m->slots[s];
        s = (s + 1) & (m->cap - 1);
    }
    return NULL;
}

void rx_mergemap_free(rx_mergemap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}
