/* tokenizer_gguf.c — building a tokenizer from GGUF tokenizer metadata (tokenizer.ggml.*).
 *
 * Owns: the same tokenizer that transformers builds from a GGUF file (its gguf tokenizer
 * mapping), so that ids match HF's:
 * - model "gpt2": byte-level BPE. Tokens spelled outside the GPT-2 alphabet are respelled byte by
 *   byte; merges "a b" in rank order; pre-tokenizer per tokenizer.ggml.pre: the Llama-3 split
 *   ("llama-bpe", "llama3", "llama-v3", "falcon3", "smaug-bpe", "dbrx", ...), the Qwen2 split
 *   ("qwen2", "deepseek-r1-qwen", ...) each followed by ByteLevel without its regex, else (gpt2,
 *   smollm, ...) ByteLevel with the GPT-2 regex; decoder ByteLevel.
 * - model "llama": SentencePiece-style BPE with byte fallback and fuse_unk, Metaspace (prepend
 *   "first", no split), decoder Replace("▁", " ") + ByteFallback + Fuse + Strip(1 leading space);
 *   merges from the file or, when absent, recovered from the vocabulary and the scores as
 *   transformers' generate_merges does (every split of a token into two tokens, best score first,
 *   then longer left part, then longer right part, stable).
 * Control tokens (type 3) and the bos/eos/unk/pad tokens become special added tokens, user-defined
 * ones (type 4) plain added tokens; BOS/EOS are added per add_bos_token/add_eos_token.
 */
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
static const char qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
static const char *const llama3_pres[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                                          "midm-2.0", "lfm2", "dbrx", "smaug-bpe", NULL};
static const char *const qwen2_pres[] = {"qwen2", "deepseek-r1-qwen", "kormo", "megrez", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (int i = 0; s && list[i]; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

static int64_t slen(const char *const *strs, const int64_t *lens, int64_t i)
{
    return lens ? lens[i] : (int64_t)strlen(strs[i]);
}

static rx_status add_pre(rx_tokenizer *t, rx_pre_kind kind, const char *pattern, int add_prefix_space)
{
    rx_pre_step *p = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *p);
    if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    t->pre = p;
    rx_pre_step *s = &t->pre[t->n_pre++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->behavior = RX_SPLIT_ISOLATED;
    s->add_prefix_space = add_prefix_space;
    s->prepend = RX_PREPEND_FIRST;
    strcpy(s->replacement, "\xe2\x96\x81");
    if (!pattern) return RX_OK;
    return rx_regex_compile(pattern, (int64_t)strlen(pattern), 0, "gguf tokenizer: tokenizer.ggml.pre", &s->re, &s->md);
}

static rx_status add_dec(rx_tokenizer *t, rx_dec_kind kind, const char *pattern, const char *content, int64_t start)
{
    rx_dec_step *p = realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof *p);
    if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    t->dec = p;
    rx_dec_step *d = &t->dec[t->n_dec++];
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->start = start;
    if (pattern) d->pattern = strdup(pattern);
    if (content) d->content = strdup(content);
    if ((pattern && !d->pattern) || (content && !d->content)) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    return RX_OK;
}

/* Whether every code point of s is in the GPT-2 byte alphabet. */
static int in_alphabet(const char *s, int64_t n)
{
    for (int64_t i = 0; i < n;) {
        int l = rx_utf8_len((const unsigned char *)s + i, n - i);
        if (l == 1 && (unsigned char)s[i] >= 0x80) return 0;
        if (rx_unicode_to_byte(rx_utf8_decode((const unsigned char *)s + i, l)) < 0) return 0;
        i += l;
    }
    return 1;
}

/* The spelling of token i in the model's vocabulary (byte-level: respelled when needed). */
static rx_status spelled(const rx_tokenizer_gguf *m, int byte_level, int64_t i, rx_buf *out)
{
    const char *s = m->tokens[i];
    int64_t n = slen(m->tokens, m->token_lens, i);
    out->len = 0;
    if (!byte_level || in_alphabet(s, n)) return rx_buf_append(out, s, n);
    char u[4];
    for (int64_t k = 0; k < n; k++) RX_TRY(rx_buf_append(out, u, rx_utf8_encode(rx_byte_to_unicode((uint8_t)s[k]), u)));
    return RX_OK;
}

typedef struct gen_merge {
    int32_t a, b;
    float score;
    int32_t la, lb; /* code points */
    int64_t order;
} gen_merge;

static int gen_merge_cmp(const void *x, const void *y)
{
    const gen_merge *p = x, *q = y;
    if (p->score != q->score) return p->score > q->score ? -1 : 1;
    if (p->la != q->la) return p->la > q->la ? -1 : 1;
    if (p->lb != q->lb) return p->lb > q->lb ? -1 : 1;
    return p->order < q->order ? -1 : p->order > q->order;
}

static int gen_local_cmp(const void *x, const void *y)
{
    const gen_merge *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

static int64_t count_cps(const char *s, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i += rx_utf8_len((const unsigned char *)s + i, n - i)) c++;
    return c;
}

/* Merges recovered from the vocabulary and scores (model "llama" without merges). Python's
 * dict keeps a repeated token's last id and score, at its first position. */
static rx_status generate_merges(rx_tokenizer *t, const rx_tokenizer_gguf *m)
{
    int64_t cap = 1024, n = 0;
    gen_merge *gm = malloc((size_t)cap * sizeof *gm);
    rx_strmap last = {0};
    rx_status st = gm ? RX_OK : rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (merges)");
    for (int64_t i = 0; i < m->n_tokens && st == RX_OK; i++)
        st = rx_strmap_put(&last, m->tokens[i], slen(m->tokens, m->token_lens, i), (int32_t)i, NULL);
    for (int64_t i = 0; i < m->n_tokens && st == RX_OK; i++) {
        const char *s = m->tokens[i];
        int64_t len = slen(m->tokens, m->token_lens, i);
        int32_t li = rx_strmap_get(&last, s, len);
        if (rx_strmap_get(&t->vocab, s, len) != (int32_t)i && li != (int32_t)i) {
            /* a repeat: its first occurrence already produced the merges */
            int first = 1;
            for (int64_t k = 0; k < i && first; k++)
                if (slen(m->tokens, m->token_lens, k) == len && !memcmp(m->tokens[k], s, (size_t)len)) first = 0;
            if (!first) continue;
        }
        int64_t start = n;
        for (int64_t k = rx_utf8_len((const unsigned char *)s, len); k < len && st == RX_OK;
             k += rx_utf8_len((const unsigned char *)s + k, len - k)) {
            int32_t a = rx_strmap_get(&last, s, k), b = rx_strmap_get(&last, s + k, len - k);
            if (a < 0 || b < 0) continue;
            if (n == cap) {
                cap *= 2;
                gen_merge *p = realloc(gm, (size_t)cap * sizeof *p);
                if (!p) {
                    st = rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (merges)");
                    break;
                }
                gm = p;
            }
            gm[n++] = (gen_merge){a, b, m->scores[li], (int32_t)count_cps(s, k), (int32_t)count_cps(s + k, len - k), 0};
        }
        qsort(gm + start, (size_t)(n - start), sizeof *gm, gen_local_cmp);
    }
    for (int64_t i = 0; i < n; i++) gm[i].order = i;
    if (st == RX_OK) qsort(gm, (size_t)n, sizeof *gm, gen_merge_cmp);
    for (int64_t i = 0; i < n && st == RX_OK; i++) {
        int32_t a = rx_strmap_get(&t->vocab, m->tokens[gm[i].a], slen(m->tokens, m->token_lens, gm[i].a));
        int32_t b = rx_strmap_get(&t->vocab, m->tokens[gm[i].b], slen(m->tokens, m->token_lens, gm[i].b));
        int64_t la = slen(m->tokens, m->token_lens, gm[i].a), lb = slen(m->tokens, m->token_lens, gm[i].b);
        st = rx_tokenizer_add_merge(t, t->tokens[a], la, t->tokens[b], lb, (int32_t)i, "gguf tokenizer: derived merges");
    }
    free(gm);
    rx_strmap_free(&last);
    return st;
}

static rx_status build(rx_tokenizer *t, const rx_tokenizer_gguf *m)
{
    int byte_level = !strcmp(m->model, "gpt2");
    rx_buf sp = {0};
    rx_status st = RX_OK;
    t->byte_level = byte_level;
    for (int64_t i = 0; i < m->n_tokens && st == RX_OK; i++) {
        if (!m->tokens[i]) {
            st = rx_fail(RX_ERR_ARG, "gguf tokenizer: tokenizer.ggml.tokens[%lld] is NULL", (long long)i);
            break;
        }
        st = spelled(m, byte_level, i, &sp);
        if (st == RX_OK) st = rx_tokenizer_set_token(t, (int32_t)i, sp.data, sp.len);
    }
    if (st == RX_OK && m->merges) {
        for (int64_t i = 0; i < m->n_merges && st == RX_OK; i++) {
            const char *s = m->merges[i];
            int64_t n = slen(m->merges, m->merge_lens, i);
            const char *space = n > 1 ? memchr(s + 1, ' ', (size_t)(n - 1)) : NULL;
            if (!s || !space) {
                st = rx_fail(RX_ERR_FORMAT, "gguf tokenizer: tokenizer.ggml.merges[%lld]: expected \"a b\"", (long long)i);
                break;
            }
            char where[96];
            snprintf(where, sizeof where, "gguf tokenizer: tokenizer.ggml.merges[%lld]", (long long)i);
            st = rx_tokenizer_add_merge(t, s, space - s, space + 1, n - (space + 1 - s), (int32_t)i, where);
        }
    } else if (st == RX_OK && !byte_level) {
        if (!m->scores)
            st = rx_fail(RX_ERR_ARG, "gguf tokenizer: model 'llama' without tokenizer.ggml.merges needs tokenizer.ggml.scores");
        else st = generate_merges(t, m);
    }
    rx_buf_free(&sp);
    if (st != RX_OK) return st;
    if (byte_level) {
        if (in_list(m->pre, llama3_pres)) {
            RX_TRY(add_pre(t, RX_PRE_SPLIT, llama3_pattern, 0));
            RX_TRY(add_pre(t, RX_PRE_BYTELEVEL, NULL, 0));
        } else if (in_list(m->pre, qwen2_pres)) {
            RX_TRY(add_pre(t, RX_PRE_SPLIT, qwen2_pattern, 0));
            RX_TRY(add_pre(t, RX_PRE_BYTELEVEL, NULL, 0));
        } else {
            RX_TRY(add_pre(t, RX_PRE_BYTELEVEL, rx_gpt2_pattern, 0));
        }
        RX_TRY(add_dec(t, RX_DEC_BYTELEVEL, NULL, NULL, 0));
    } else {
        t->byte_fallback = 1;
        t->fuse_unk = 1;
        RX_TRY(add_pre(t, RX_PRE_METASPACE, NULL, 0));
        RX_TRY(add_dec(t, RX_DEC_REPLACE, "\xe2\x96\x81", " ", 0));
        RX_TRY(add_dec(t, RX_DEC_BYTEFALLBACK, NULL, NULL, 0));
        RX_TRY(add_dec(t, RX_DEC_FUSE, NULL, NULL, 0));
        RX_TRY(add_dec(t, RX_DEC_STRIP, NULL, " ", 1));
    }
    RX_TRY(rx_tokenizer_finish(t, "gguf tokenizer"));
    /* added tokens: control tokens spelled in the model's alphabet, then user-defined ones */
    for (int64_t i = 0; m->token_types && i < m->n_tokens; i++) {
        int64_t n = slen(m->tokens, m->token_lens, i);
        if (m->token_types[i] == 3 && (!byte_level || in_alphabet(m->tokens[i], n)))
            RX_TRY(rx_tokenizer_add_added(t, m->tokens[i], n, (int32_t)i, 1, 0, 0, 0, 0));
    }
    int64_t role_ids[4] = {m->bos_id, m->eos_id, m->unk_id, m->pad_id};
    for (int r = 0; r < 4; r++) {
        int64_t id = role_ids[r];
        if (id < 0) continue;
        if (id >= m->n_tokens)
            return rx_fail(RX_ERR_FORMAT, "gguf tokenizer: special token id %lld is beyond the %lld tokens", (long long)id,
                           (long long)m->n_tokens);
        RX_TRY(rx_tokenizer_add_added(t, m->tokens[id], slen(m->tokens, m->token_lens, id), (int32_t)id, 1, 0, 0, 0, 0));
    }
    for (int64_t i = 0; m->token_types && i < m->n_tokens; i++) {
        int64_t n = slen(m->tokens, m->token_lens, i);
        if (m->token_types[i] == 4 && rx_strmap_get(&t->vocab, m->tokens[i], n) >= 0)
            RX_TRY(rx_tokenizer_add_added(t, m->tokens[i], n, (int32_t)i, 0, 0, 0, 0, 0));
    }
    t->bos_id = (int32_t)m->bos_id;
    t->eos_id = (int32_t)m->eos_id;
    t->unk_id = (int32_t)m->unk_id;
    t->pad_id = (int32_t)m->pad_id;
    t->add_bos = m->add_bos >= 0 ? m->add_bos : !byte_level;
    t->add_eos = m->add_eos > 0;
    if (t->add_bos && t->bos_id >= 0) RX_TRY(rx_ids_push(&t->prefix, t->bos_id));
    if (t->add_eos && t->eos_id >= 0) RX_TRY(rx_ids_push(&t->suffix, t->eos_id));
    return RX_OK;
}

rx_status rx_tokenizer_from_gguf(const rx_tokenizer_gguf *m, rx_tokenizer **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "tokenizer_from_gguf: the output pointer is NULL");
    *out = NULL;
    if (!m) return rx_fail(RX_ERR_ARG, "tokenizer_from_gguf: argument #1: metadata is NULL");
    if (!m->model) return rx_fail(RX_ERR_ARG, "gguf tokenizer: tokenizer.ggml.model is missing");
    if (strcmp(m->model, "gpt2") != 0 && strcmp(m->model, "llama") != 0)
        return rx_fail(RX_ERR_UNSUPPORTED, "gguf tokenizer: tokenizer.ggml.model '%s' is not supported (gpt2, llama)",
                       m->model);
    if (m->n_tokens <= 0 || !m->tokens) return rx_fail(RX_ERR_ARG, "gguf tokenizer: tokenizer.ggml.tokens is missing or empty");
    if (m->n_tokens > INT32_MAX) return rx_fail(RX_ERR_ARG, "gguf tokenizer: %lld tokens is too many", (long long)m->n_tokens);
    if (!strcmp(m->model, "gpt2") && (!m->merges || m->n_merges <= 0))
        return rx_fail(RX_ERR_ARG, "gguf tokenizer: model 'gpt2' needs tokenizer.ggml.merges");
    rx_tokenizer *t = rx_tokenizer_alloc();
    if (!t) return RX_ERR_NOMEM;
    rx_status st = build(t, m);
    if (st != RX_OK) {
        rx_tokenizer_free(t);
        return st;
    }
    *out = t;
    return RX_OK;
}
