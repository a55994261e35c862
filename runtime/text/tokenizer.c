/* tokenizer.c — the public tokenizer API: building blocks for the loaders, encode, decode,
 * lookups, runtime special tokens.
 *
 * Owns: rx_tokenizer's lifetime, the encode pipeline (added tokens on the raw text, the
 * normalizer, added tokens on normalized text, the pre-tokenizer, BPE per word, the
 * post-processor's prefix and suffix ids) and the decode pipeline (ids -> token strings, added
 * tokens first, then the decoder steps: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace).
 * Decoding keeps bytes exact: where HF would put U+FFFD for invalid UTF-8, the bytes are kept.
 */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rx_tokenizer *rx_tokenizer_alloc(void)
{
    rx_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
        return NULL;
    }
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    t->model_unk_id = t->bos_id = t->eos_id = t->unk_id = t->pad_id = -1;
    return t;
}

void rx_tokenizer_free(rx_tokenizer *t)
{
    if (!t) return;
    for (int64_t i = 0; i < t->n_vocab; i++) free(t->tokens[i]);
    free(t->tokens);
    free(t->token_lens);
    rx_strmap_free(&t->vocab);
    rx_mergemap_free(&t->merges);
    for (int64_t i = 0; i < t->n_added; i++) {
        if (t->added[i].match != t->added[i].content) free(t->added[i].match);
        free(t->added[i].content);
    }
    free(t->added);
    rx_strmap_free(&t->added_index);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].pattern);
        free(t->norm[i].content);
    }
    free(t->norm);
    for (int i = 0; i < t->n_pre; i++) {
        pcre2_match_data_free(t->pre[i].md);
        pcre2_code_free(t->pre[i].re);
    }
    free(t->pre);
    for (int i = 0; i < t->n_dec; i++) {
        free(t->dec[i].pattern);
        free(t->dec[i].content);
    }
    free(t->dec);
    rx_ids_free(&t->prefix);
    rx_ids_free(&t->suffix);
    rx_word_cache_free(&t->cache);
    free(t);
}

rx_status rx_tokenizer_set_token(rx_tokenizer *t, int32_t id, const char *s, int64_t n)
{
    if (id < 0) return rx_fail(RX_ERR_FORMAT, "tokenizer: token id %d is negative", id);
    if (id >= t->n_vocab) {
        int64_t cap = t->n_vocab ? t->n_vocab : 1024;
        while (cap <= id) cap *= 2;
        char **tk = realloc(t->tokens, (size_t)cap * sizeof *tk);
        if (tk) t->tokens = tk;
        int32_t *tl = tk ? realloc(t->token_lens, (size_t)cap * sizeof *tl) : NULL;
        if (!tl) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (vocabulary of %lld)", (long long)cap);
        t->token_lens = tl;
        for (int64_t i = t->n_vocab; i < cap; i++) {
            t->tokens[i] = NULL;
            t->token_lens[i] = 0;
        }
        t->n_vocab = cap;
    }
    if (t->tokens[id]) return RX_OK; /* an id listed twice keeps its first string */
    int32_t have = rx_strmap_get(&t->vocab, s, n);
    if (have < 0) RX_TRY(rx_strmap_put(&t->vocab, s, n, id, NULL));
    char *copy = malloc((size_t)n + 1);
    if (!copy) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(copy, s, (size_t)n);
    copy[n] = 0;
    t->tokens[id] = copy;
    t->token_lens[id] = (int32_t)n;
    return RX_OK;
}

rx_status rx_tokenizer_add_merge(rx_tokenizer *t, const char *a, int64_t na, const char *b, int64_t nb,
                                 int32_t rank, const char *where)
{
    int32_t ia = rx_strmap_get(&t->vocab, a, na), ib = rx_strmap_get(&t->vocab, b, nb);
    if (ia < 0 || ib < 0)
        return rx_fail(RX_ERR_FORMAT, "%s: merge %d: token '%.*s' is not in the vocabulary", where, rank,
                       (int)(ia < 0 ? na : nb), ia < 0 ? a : b);
    char stack[256];
    char *ab = na + nb <= (int64_t)sizeof stack ? stack : malloc((size_t)(na + nb));
    if (!ab) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(ab, a, (size_t)na);
    memcpy(ab + na, b, (size_t)nb);
    int32_t id = rx_strmap_get(&t->vocab, ab, na + nb);
    rx_status st = RX_OK;
    if (id < 0)
        st = rx_fail(RX_ERR_FORMAT, "%s: merge %d: the merged token '%.*s' is not in the vocabulary", where, rank,
                     (int)(na + nb), ab);
    if (ab != stack) free(ab);
    if (st != RX_OK) return st;
    return rx_mergemap_put(&t->merges, ia, ib, rank, id);
}

static void update_vocab_size(rx_tokenizer *t)
{
    int64_t size = 0;
    for (int64_t i = t->n_vocab - 1; i >= 0; i--)
        if (t->tokens[i]) {
            size = i + 1;
            break;
        }
    for (int64_t k = 0; k < t->n_added; k++)
        if (t->added[k].id + 1 > size) size = t->added[k].id + 1;
    t->vocab_size = size;
}

rx_status rx_tokenizer_finish(rx_tokenizer *t, const char *where)
{
    for (int b = 0; b < 256; b++) {
        char s[8];
        int n;
        if (t->byte_level) {
            n = rx_utf8_encode(rx_byte_to_unicode((uint8_t)b), s);
        } else {
            n = snprintf(s, sizeof s, "<0x%02X>", b);
        }
        t->byte_ids[b] = rx_strmap_get(&t->vocab, s, n);
    }
    update_vocab_size(t);
    if (t->vocab_size == 0) return rx_fail(RX_ERR_FORMAT, "%s: the vocabulary is empty", where);
    return RX_OK;
}

rx_status rx_tokenizer_add_added(rx_tokenizer *t, const char *content, int64_t len, int32_t id, int special,
                                 int lstrip, int rstrip, int single_word, int normalized)
{
    if (id < 0) return rx_fail(RX_ERR_FORMAT, "tokenizer: added token '%.*s' has a negative id", (int)len, content);
    int32_t k = rx_strmap_get(&t->added_index, content, len);
    if (k >= 0) { /* re-adding updates the flags */
        rx_added_token *a = &t->added[k];
        a->special = a->special || special;
        return RX_OK;
    }
    if (t->n_added == t->cap_added) {
        int64_t cap = t->cap_added ? t->cap_added * 2 : 16;
        rx_added_token *p = realloc(t->added, (size_t)cap * sizeof *p);
        if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (added tokens)");
        t->added = p;
        t->cap_added = cap;
    }
    char *copy = malloc((size_t)len + 1);
    if (!copy) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(copy, content, (size_t)len);
    copy[len] = 0;
    /* a normalized token is matched in normalized text, so it is matched by its normalized form */
    char *match = copy;
    int64_t match_len = len;
    rx_status st = RX_OK;
    if (normalized && t->n_norm > 0) {
        rx_buf arena = {0};
        rx_piece piece = {0, len, 0};
        st = rx_buf_append(&arena, content, len);
        if (st == RX_OK) st = rx_normalize(t, &arena, &piece);
        if (st == RX_OK) {
            match = malloc((size_t)piece.len + 1);
            if (!match) st = rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
            else {
                memcpy(match, arena.data + piece.off, (size_t)piece.len);
                match[piece.len] = 0;
                match_len = piece.len;
            }
        }
        rx_buf_free(&arena);
    }
    if (st == RX_OK) st = rx_strmap_put(&t->added_index, content, len, (int32_t)t->n_added, NULL);
    if (st != RX_OK) {
        if (match != copy) free(match);
        free(copy);
        return st;
    }
    t->added[t->n_added++] = (rx_added_token){copy, len, match, match_len, id, special, lstrip, rstrip, single_word,
                                              normalized};
    if (id + 1 > t->vocab_size) t->vocab_size = id + 1;
    return RX_OK;
}

/* ---- encode ---- */

static int any_normalized_added(const rx_tokenizer *t)
{
    for (int64_t k = 0; k < t->n_added; k++)
        if (t->added[k].normalized) return 1;
    return 0;
}

/* Pre-tokenizes and encodes arena[piece] (normalized text without added tokens). */
static rx_status encode_words(rx_tokenizer *t, rx_buf *arena, rx_piece piece, rx_ids *out)
{
    rx_pieces in = {0}, words = {0};
    rx_status st = rx_pieces_push(&in, piece.off, piece.len, piece.orig);
    if (st == RX_OK) st = rx_pretokenize(t, arena, &in, &words);
    for (int64_t i = 0; i < words.len && st == RX_OK; i++)
        st = rx_bpe_word(t, arena->data + words.data[i].off, words.data[i].len, out);
    free(in.data);
    free(words.data);
    return st;
}

static rx_status encode_text(rx_tokenizer *t, const char *text, int64_t len, int parse_special, rx_ids *out)
{
    rx_span *spans = NULL, *inner = NULL;
    int64_t n_spans = 0, n_inner = 0;
    rx_buf arena = {0};
    int norm_added = any_normalized_added(t);
    rx_status st = rx_split_added(t, text, len, 0, parse_special, &spans, &n_spans);
    for (int64_t i = 0; i < n_spans && st == RX_OK; i++) {
        if (spans[i].id >= 0) {
            st = rx_ids_push(out, spans[i].id);
            continue;
        }
        arena.len = 0;
        st = rx_buf_append(&arena, text + spans[i].start, spans[i].end - spans[i].start);
        rx_piece piece = {0, spans[i].end - spans[i].start, spans[i].start};
        if (st == RX_OK) st = rx_normalize(t, &arena, &piece);
        if (st != RX_OK) break;
        if (!norm_added) {
            st = encode_words(t, &arena, piece, out);
            continue;
        }
        /* normalized added tokens are matched on the normalized text; copy it first, since
         * encoding appends to the arena */
        int64_t base = arena.len;
        st = rx_buf_append(&arena, arena.data + piece.off, piece.len);
        if (st == RX_OK) st = rx_split_added(t, arena.data + base, piece.len, 1, parse_special, &inner, &n_inner);
        for (int64_t j = 0; j < n_inner && st == RX_OK; j++) {
            if (inner[j].id >= 0) {
                st = rx_ids_push(out, inner[j].id);
            } else {
                int64_t orig = inner[j].start == 0 ? piece.orig : piece.orig + inner[j].start + 1;
                st = encode_words(t, &arena, (rx_piece){base + inner[j].start, inner[j].end - inner[j].start, orig}, out);
            }
        }
        free(inner);
        inner = NULL;
    }
    free(spans);
    rx_buf_free(&arena);
    return st;
}

rx_status rx_tokenizer_encode(rx_tokenizer *t, const char *text, int64_t len, int add_special, int parse_special,
                              int32_t **ids, int64_t *n)
{
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!t) return rx_fail(RX_ERR_ARG, "tokenizer_encode: argument #1: expected a tokenizer, got NULL");
    if (!text && len > 0) return rx_fail(RX_ERR_ARG, "tokenizer_encode: argument #2: text is NULL");
    if (len < 0) return rx_fail(RX_ERR_ARG, "tokenizer_encode: argument #3: length %lld is negative", (long long)len);
    if (!ids || !n) return rx_fail(RX_ERR_ARG, "tokenizer_encode: the output pointers are NULL");
    rx_ids out = {0};
    rx_status st = RX_OK;
    if (add_special) st = rx_ids_append(&out, t->prefix.data, t->prefix.len);
    if (st == RX_OK) st = encode_text(t, text, len, parse_special, &out);
    if (st == RX_OK && add_special) st = rx_ids_append(&out, t->suffix.data, t->suffix.len);
    if (st != RX_OK) {
        rx_ids_free(&out);
        return st;
    }
    *ids = out.data;
    *n = out.len;
    if (out.len == 0) {
        free(out.data);
        *ids = NULL;
    }
    return RX_OK;
}

void rx_tokenizer_free_ids(int32_t *ids)
{
    free(ids);
}

/* ---- lookups ---- */

static const rx_added_token *added_by_id(const rx_tokenizer *t, int32_t id)
{
    for (int64_t k = t->n_added - 1; k >= 0; k--)
        if (t->added[k].id == id) return &t->added[k];
    return NULL;
}

const char *rx_tokenizer_id_to_token(const rx_tokenizer *t, int32_t id, int64_t *len)
{
    const rx_added_token *a = added_by_id(t, id);
    if (a) {
        if (len) *len = a->len;
        return a->content;
    }
    if (id < 0 || id >= t->n_vocab || !t->tokens[id]) return NULL;
    if (len) *len = t->token_lens[id];
    return t->tokens[id];
}

int32_t rx_tokenizer_token_to_id(const rx_tokenizer *t, const char *s, int64_t len)
{
    int32_t k = rx_strmap_get(&t->added_index, s, len);
    if (k >= 0) return t->added[k].id;
    return rx_strmap_get(&t->vocab, s, len);
}

int rx_tokenizer_is_special(const rx_tokenizer *t, int32_t id)
{
    const rx_added_token *a = added_by_id(t, id);
    return a && a->special;
}

int64_t rx_tokenizer_vocab_size(const rx_tokenizer *t)
{
    return t->vocab_size;
}

rx_status rx_tokenizer_add_special(rx_tokenizer *t, int n, const char *const *tokens, int32_t *ids)
{
    for (int i = 0; i < n; i++)
        if (!tokens[i] || !tokens[i][0])
            return rx_fail(RX_ERR_ARG, "tokenizer_add_special: token %d is empty", i + 1);
    for (int i = 0; i < n; i++) {
        int64_t len = (int64_t)strlen(tokens[i]);
        int32_t id = rx_tokenizer_token_to_id(t, tokens[i], len);
        if (id < 0) id = (int32_t)t->vocab_size;
        RX_TRY(rx_tokenizer_add_added(t, tokens[i], len, id, 1, 0, 0, 0, 0));
        ids[i] = id;
    }
    return RX_OK;
}

int32_t rx_tokenizer_special_id(const rx_tokenizer *t, rx_token_role role)
{
    switch (role) {
    case RX_TOKEN_BOS: return t->bos_id;
    case RX_TOKEN_EOS: return t->eos_id;
    case RX_TOKEN_UNK: return t->unk_id;
    case RX_TOKEN_PAD: return t->pad_id;
    }
    return -1;
}

rx_status rx_tokenizer_set_special_id(rx_tokenizer *t, rx_token_role role, int32_t id)
{
    if (id < -1 || id >= t->vocab_size)
        return rx_fail(RX_ERR_ARG, "tokenizer_set_special_id: argument #3: id %d out of range [0, %lld)", id,
                       (long long)t->vocab_size);
    switch (role) {
    case RX_TOKEN_BOS: t->bos_id = id; return RX_OK;
    case RX_TOKEN_EOS: t->eos_id = id; return RX_OK;
    case RX_TOKEN_UNK: t->unk_id = id; return RX_OK;
    case RX_TOKEN_PAD: t->pad_id = id; return RX_OK;
    }
    return rx_fail(RX_ERR_ARG, "tokenizer_set_special_id: argument #2: unknown role %d", (int)role);
}

int rx_tokenizer_adds_bos(const rx_tokenizer *t)
{
    return t->add_bos;
}

int rx_tokenizer_adds_eos(const rx_tokenizer *t)
{
    return t->add_eos;
}

/* ---- decode ---- */

typedef struct strlist {
    rx_buf bytes;
    int64_t *off, *len;
    int64_t n, cap;
} strlist;

static rx_status strlist_push(strlist *l, const char *s, int64_t n)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        int64_t *o = realloc(l->off, (size_t)cap * sizeof *o);
        if (o) l->off = o;
        int64_t *q = o ? realloc(l->len, (size_t)cap * sizeof *q) : NULL;
        if (!q) return rx_fail(RX_ERR_NOMEM, "tokenizer_decode: out of memory");
        l->len = q;
        l->cap = cap;
    }
    l->off[l->n] = l->bytes.len;
    l->len[l->n] = n;
    l->n++;
    return rx_buf_append(&l->bytes, s, n);
}

static void strlist_free(strlist *l)
{
    rx_buf_free(&l->bytes);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* One decoder step: in -> out. */
static rx_status decode_step(const rx_dec_step *d, const strlist *in, strlist *out)
{
    rx_buf tmp = {0};
    rx_status st = RX_OK;
    if (d->kind == RX_DEC_FUSE) {
        for (int64_t i = 0; i < in->n && st == RX_OK; i++) st = rx_buf_append(&tmp, in->bytes.data + in->off[i], in->len[i]);
        if (st == RX_OK) st = strlist_push(out, tmp.data ? tmp.data : "", tmp.len);
        rx_buf_free(&tmp);
        return st;
    }
    for (int64_t i = 0; i < in->n && st == RX_OK; i++) {
        const char *s = in->bytes.data + in->off[i];
        int64_t n = in->len[i];
        tmp.len = 0;
        st = rx_buf_reserve(&tmp, n + 8);
        if (st != RX_OK) break;
        switch (d->kind) {
        case RX_DEC_BYTELEVEL: {
            /* every char in the byte alphabet -> its byte; a token with any other char stays as is */
            int all = 1;
            for (int64_t j = 0; j < n && all;) {
                int l = rx_utf8_len((const unsigned char *)s + j, n - j);
                int b = rx_unicode_to_byte(rx_utf8_decode((const unsigned char *)s + j, l));
                if (b < 0 || (l == 1 && (unsigned char)s[j] >= 0x80)) all = 0;
                else {
                    char c = (char)b;
                    st = rx_buf_append(&tmp, &c, 1);
                }
                j += l;
            }
            if (!all) {
                tmp.len = 0;
                st = rx_buf_append(&tmp, s, n);
            }
            break;
        }
        case RX_DEC_REPLACE: {
            int64_t pl = (int64_t)strlen(d->pattern), cl = (int64_t)strlen(d->content);
            for (int64_t j = 0; j < n && st == RX_OK;) {
                if (pl > 0 && j + pl <= n && memcmp(s + j, d->pattern, (size_t)pl) == 0) {
                    st = rx_buf_append(&tmp, d->content, cl);
                    j += pl;
                } else {
                    st = rx_buf_append(&tmp, s + j, 1);
                    j++;
                }
            }
            break;
        }
        case RX_DEC_BYTEFALLBACK:
            if (n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' && hexval(s[3]) >= 0 &&
                hexval(s[4]) >= 0) {
                char c = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                st = rx_buf_append(&tmp, &c, 1);
            } else {
                st = rx_buf_append(&tmp, s, n);
            }
            break;
        case RX_DEC_STRIP: {
            int64_t cl = (int64_t)strlen(d->content), a = 0, b = n;
            for (int64_t k = 0; k < d->start && cl > 0 && a + cl <= b && memcmp(s + a, d->content, (size_t)cl) == 0; k++) a += cl;
            for (int64_t k = 0; k < d->stop && cl > 0 && b - cl >= a && memcmp(s + b - cl, d->content, (size_t)cl) == 0; k++) b -= cl;
            st = rx_buf_append(&tmp, s + a, b - a);
            break;
        }
        case RX_DEC_METASPACE: {
            /* as HF: every replacement becomes a space, except in the first token (when a prefix
             * was prepended), where they are all dropped */
            int64_t rl = (int64_t)strlen(d->replacement), j = 0;
            int drop = i == 0 && d->prepend != RX_PREPEND_NEVER;
            while (j < n && st == RX_OK) {
                if (rl > 0 && j + rl <= n && memcmp(s + j, d->replacement, (size_t)rl) == 0) {
                    if (!drop) st = rx_buf_append(&tmp, " ", 1);
                    j += rl;
                } else {
                    st = rx_buf_append(&tmp, s + j, 1);
                    j++;
                }
            }
            break;
        }
        case RX_DEC_FUSE: break;
        }
        if (st == RX_OK) st = strlist_push(out, tmp.data ? tmp.data : "", tmp.len);
    }
    rx_buf_free(&tmp);
    return st;
}

rx_status rx_tokenizer_decode(const rx_tokenizer *t, const int32_t *ids, int64_t n, int skip_special, char **text,
                              int64_t *len)
{
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t) return rx_fail(RX_ERR_ARG, "tokenizer_decode: argument #1: expected a tokenizer, got NULL");
    if (!text) return rx_fail(RX_ERR_ARG, "tokenizer_decode: the output pointer is NULL");
    if (n < 0 || (n > 0 && !ids)) return rx_fail(RX_ERR_ARG, "tokenizer_decode: argument #2: bad id list");
    for (int64_t i = 0; i < n; i++)
        if (!rx_tokenizer_id_to_token(t, ids[i], NULL))
            return rx_fail(RX_ERR_ARG, "tokenizer_decode: argument #2: id %d (index %lld) is not in the vocabulary "
                                       "(size %lld)", ids[i], (long long)i + 1, (long long)t->vocab_size);
    strlist a = {0}, b = {0};
    rx_status st = RX_OK;
    for (int64_t i = 0; i < n && st == RX_OK; i++) {
        if (skip_special && rx_tokenizer_is_special(t, ids[i])) continue;
        int64_t l;
        const char *s = rx_tokenizer_id_to_token(t, ids[i], &l);
        st = strlist_push(&a, s, l);
    }
    for (int k = 0; k < t->n_dec && st == RX_OK; k++) {
        b.n = 0;
        b.bytes.len = 0;
        st = decode_step(&t->dec[k], &a, &b);
        strlist tmp = a;
        a = b;
        b = tmp;
    }
    rx_buf out = {0};
    for (int64_t i = 0; i < a.n && st == RX_OK; i++) st = rx_buf_append(&out, a.bytes.data + a.off[i], a.len[i]);
    if (st == RX_OK) st = rx_buf_append(&out, "", 0); /* NUL-terminate even when empty */
    strlist_free(&a);
    strlist_free(&b);
    if (st != RX_OK) {
        rx_buf_free(&out);
        return st;
    }
    *text = out.data;
    if (len) *len = out.len;
    return RX_OK;
}

void rx_tokenizer_free_text(char *text)
{
    free(text);
}
