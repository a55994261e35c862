/* added_tokens.c — splitting text on added tokens, as HF tokenizers' AddedVocabulary does.
 *
 * Owns: the leftmost-longest scan for added tokens (those with the requested `normalized` flag),
 * skipping special tokens when parse_special is off, the single_word check (no word character on
 * either side of the match) and the lstrip/rstrip extensions over Unicode white space. A match
 * that fails single_word is dropped, not retried shorter, as HF's aho-corasick scan does.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

static int is_word_char(uint32_t cp)
{
    /* ASCII word characters plus every non-ASCII letter or digit-like code point: enough for
     * single_word, which only looks at the characters next to a match. */
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return !rx_unicode_is_space(cp);
}

/* The code point that ends at text[end) (reading backwards). */
static uint32_t cp_before(const char *text, int64_t end)
{
    int64_t s = end - 1;
    while (s > 0 && end - s < 4 && ((unsigned char)text[s] & 0xC0) == 0x80) s--;
    int n = rx_utf8_len((const unsigned char *)text + s, end - s);
    if (s + n != end) return 0xFFFD;
    return rx_utf8_decode((const unsigned char *)text + s, n);
}

static uint32_t cp_at(const char *text, int64_t n, int64_t i, int *len)
{
    *len = rx_utf8_len((const unsigned char *)text + i, n - i);
    return rx_utf8_decode((const unsigned char *)text + i, *len);
}

/* The longest added token (with the given normalized flag) starting at text[i], or -1. */
static int64_t longest_at(const rx_tokenizer *t, const char *text, int64_t n, int64_t i, int normalized)
{
    int64_t best = -1, best_len = 0;
    for (int64_t k = 0; k < t->n_added; k++) {
        const rx_added_token *a = &t->added[k];
        if (a->normalized != normalized || a->match_len <= best_len || a->match_len > n - i) continue;
        if (text[i] == a->match[0] && memcmp(text + i, a->match, (size_t)a->match_len) == 0) {
            best = k;
            best_len = a->match_len;
        }
    }
    return best;
}

static rx_status push_span(rx_span **spans, int64_t *n, int64_t *cap, int64_t start, int64_t end, int32_t id)
{
    if (*n == *cap) {
        int64_t c = *cap ? *cap * 2 : 16;
        rx_span *p = realloc(*spans, (size_t)c * sizeof *p);
        if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (added-token split)");
        *spans = p;
        *cap = c;
    }
    (*spans)[(*n)++] = (rx_span){start, end, id};
    return RX_OK;
}

rx_status rx_split_added(const rx_tokenizer *t, const char *text, int64_t n, int normalized, int parse_special,
                         rx_span **spans, int64_t *n_spans)
{
    *spans = NULL;
    *n_spans = 0;
    int64_t cap = 0, done = 0; /* done: text before it is already in spans */
    int any = 0;
    unsigned char first[256] = {0};
    for (int64_t k = 0; k < t->n_added; k++)
        if (t->added[k].normalized == normalized && t->added[k].match_len > 0) {
            first[(unsigned char)t->added[k].match[0]] = 1;
            any = 1;
        }
    rx_status st = RX_OK;
    for (int64_t i = 0; any && i < n && st == RX_OK;) {
        if (!first[(unsigned char)text[i]]) {
            i++;
            continue;
        }
        int64_t k = longest_at(t, text, n, i, normalized);
        if (k < 0) {
            i++;
            continue;
        }
        const rx_added_token *a = &t->added[k];
        int64_t start = i, stop = i + a->match_len;
        i = stop; /* the scan resumes after the match whether or not it is used */
        if (a->special && !parse_special) continue;
        if (a->single_word) {
            int l;
            int before = start > 0 && is_word_char(cp_before(text, start));
            int after = stop < n && is_word_char(cp_at(text, n, stop, &l));
            if (before || after) continue;
        }
        if (a->lstrip) {
            while (start > done) {
                uint32_t c = cp_before(text, start);
                if (!rx_unicode_is_space(c)) break;
                char u[4];
                start -= rx_utf8_encode(c, u);
            }
        }
        if (a->rstrip) {
            while (stop < n) {
                int l;
                if (!rx_unicode_is_space(cp_at(text, n, stop, &l))) break;
                stop += l;
            }
            i = stop;
        }
        if (done < start) st = push_span(spans, n_spans, &cap, done, start, -1);
        if (st == RX_OK) st = push_span(spans, n_spans, &cap, start, stop, a->id);
        done = stop;
    }
    if (st == RX_OK && done < n) st = push_span(spans, n_spans, &cap, done, n, -1);
    if (st != RX_OK) {
        free(*spans);
        *spans = NULL;
        *n_spans = 0;
    }
    return st;
}
