/* bpe.c — the BPE merge loop of one pre-tokenized word, and the word cache.
 *
 * Owns: turning a word's bytes into initial symbols (byte-level: one symbol per byte through the
 * GPT-2 alphabet; otherwise one per UTF-8 character, with <0xXX> byte fallback or the unknown
 * token) and merging them. Symbols form a doubly linked list; a binary min-heap holds candidate
 * merges ordered by (rank, position), so the best-ranked, leftmost pair merges first as in HF
 * tokenizers, and a word of n symbols costs O(n log n). Stale heap entries (a side already
 * merged) are skipped when popped. Short words' results are cached by their bytes.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

typedef struct heap_item {
    int32_t rank;
    int32_t pos;
} heap_item;

static int item_less(heap_item a, heap_item b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(heap_item *h, int64_t *n, heap_item it)
{
    int64_t i = (*n)++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!item_less(it, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = it;
}

static heap_item heap_pop(heap_item *h, int64_t *n)
{
    heap_item top = h[0], last = h[--(*n)];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && item_less(h[c + 1], h[c])) c++;
        if (!item_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Initial symbols of the word into syms (capacity >= n bytes). Returns the count, or -1 with the
 * error set when a character has no token and there is no unknown token. */
static int64_t initial_symbols(const rx_tokenizer *t, const unsigned char *w, int64_t n, int32_t *syms)
{
    int64_t m = 0;
    if (t->byte_level) {
        for (int64_t i = 0; i < n; i++) {
            int32_t id = t->byte_ids[w[i]];
            if (id < 0) {
                if (t->model_unk_id < 0) {
                    rx_fail(RX_ERR_ARG, "tokenizer: byte 0x%02X has no token and the model has no unk_token", w[i]);
                    return -1;
                }
                if (t->fuse_unk && m > 0 && syms[m - 1] == t->model_unk_id) continue;
                id = t->model_unk_id;
            }
            syms[m++] = id;
        }
        return m;
    }
    for (int64_t i = 0; i < n;) {
        int len = rx_utf8_len(w + i, n - i);
        int32_t id = rx_strmap_get(&t->vocab, (const char *)w + i, len);
        if (id >= 0) {
            syms[m++] = id;
        } else {
            int all = t->byte_fallback;
            for (int k = 0; all && k < len; k++) all = t->byte_ids[w[i + k]] >= 0;
            if (all) {
                for (int k = 0; k < len; k++) syms[m++] = t->byte_ids[w[i + k]];
            } else if (t->model_unk_id >= 0) {
                if (!(t->fuse_unk && m > 0 && syms[m - 1] == t->model_unk_id)) syms[m++] = t->model_unk_id;
            } else {
                rx_fail(RX_ERR_ARG, "tokenizer: the text has a character with no token (bytes at %lld) and the "
                                    "model has no unk_token", (long long)i);
                return -1;
            }
        }
        i += len;
    }
    return m;
}

static rx_status merge_word(const rx_tokenizer *t, const unsigned char *w, int64_t n, rx_ids *out)
{
    if (t->ignore_merges) {
        int32_t whole = -1;
        if (t->byte_level) {
            rx_buf mapped = {0};
            char u[4];
            for (int64_t i = 0; i < n; i++) {
                rx_status st = rx_buf_append(&mapped, u, rx_utf8_encode(rx_byte_to_unicode(w[i]), u));
                if (st != RX_OK) {
                    rx_buf_free(&mapped);
                    return st;
                }
            }
            whole = rx_strmap_get(&t->vocab, mapped.data, mapped.len);
            rx_buf_free(&mapped);
        } else {
            whole = rx_strmap_get(&t->vocab, (const char *)w, n);
        }
        if (whole >= 0) return rx_ids_push(out, whole);
    }
    /* symbols, links, and a heap that holds at most 3 entries per symbol (one per initial pair,
     * two per merge) */
    int32_t *sym = malloc((size_t)n * 3 * sizeof(int32_t) + (size_t)(3 * n + 1) * sizeof(heap_item));
    if (!sym) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (a word of %lld bytes)", (long long)n);
    int32_t *prev = sym + n, *next = prev + n;
    heap_item *heap = (heap_item *)(next + n);
    int64_t m = initial_symbols(t, w, n, sym), hn = 0;
    if (m < 0) {
        free(sym);
        return RX_ERR_ARG;
    }
    for (int64_t i = 0; i < m; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    }
    for (int64_t i = 0; i + 1 < m; i++) {
        const rx_merge *mg = rx_mergemap_get(&t->merges, sym[i], sym[i + 1]);
        if (mg) heap_push(heap, &hn, (heap_item){mg->rank, (int32_t)i});
    }
    while (hn > 0) {
        heap_item top = heap_pop(heap, &hn);
        int32_t p = top.pos;
        if (sym[p] < 0 || next[p] < 0) continue;
        int32_t q = next[p];
        const rx_merge *mg = rx_mergemap_get(&t->merges, sym[p], sym[q]);
        if (!mg || mg->rank != top.rank) continue;
        sym[p] = mg->id;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = p;
        if (prev[p] >= 0) {
            const rx_merge *l = rx_mergemap_get(&t->merges, sym[prev[p]], sym[p]);
            if (l) heap_push(heap, &hn, (heap_item){l->rank, prev[p]});
        }
        if (next[p] >= 0) {
            const rx_merge *r = rx_mergemap_get(&t->merges, sym[p], sym[next[p]]);
            if (r) heap_push(heap, &hn, (heap_item){r->rank, p});
        }
    }
    rx_status st = RX_OK;
    for (int64_t i = m > 0 ? 0 : -1; i >= 0 && st == RX_OK; i = next[i]) st = rx_ids_push(out, sym[i]);
    free(sym);
    return st;
}

void rx_word_cache_clear(rx_word_cache *c)
{
    rx_strmap_free(&c->index);
    c->ids.len = 0;
    c->n = 0;
}

void rx_word_cache_free(rx_word_cache *c)
{
    rx_strmap_free(&c->index);
    rx_ids_free(&c->ids);
    free(c->starts);
    free(c->counts);
    memset(c, 0, sizeof *c);
}

static rx_status cache_put(rx_word_cache *c, const char *word, int64_t n, const int32_t *ids, int64_t count)
{
    if (c->n == RX_WORD_CACHE_MAX) rx_word_cache_clear(c);
    if (c->n == c->cap) {
        int64_t cap = c->cap ? c->cap * 2 : 1024;
        int64_t *s = realloc(c->starts, (size_t)cap * sizeof *s);
        if (s) c->starts = s;
        int32_t *k = s ? realloc(c->counts, (size_t)cap * sizeof *k) : NULL;
        if (!k) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (word cache)");
        c->counts = k;
        c->cap = cap;
    }
    RX_TRY(rx_strmap_put(&c->index, word, n, (int32_t)c->n, NULL));
    c->starts[c->n] = c->ids.len;
    c->counts[c->n] = (int32_t)count;
    c->n++;
    return rx_ids_append(&c->ids, ids, count);
}

rx_status rx_bpe_word(rx_tokenizer *t, const char *word, int64_t n, rx_ids *ids)
{
    if (n == 0) return RX_OK;
    int cacheable = n <= RX_WORD_CACHE_MAX_LEN;
    if (cacheable) {
        int32_t e = rx_strmap_get(&t->cache.index, word, n);
        if (e >= 0) return rx_ids_append(ids, t->cache.ids.data + t->cache.starts[e], t->cache.counts[e]);
    }
    int64_t before = ids->len;
    RX_TRY(merge_word(t, (const unsigned char *)word, n, ids));
    if (cacheable) RX_TRY(cache_put(&t->cache, word, n, ids->data + before, ids->len - before));
    return RX_OK;
}
