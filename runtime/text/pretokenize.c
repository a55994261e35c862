/* pretokenize.c — normalizers and pre-tokenizers of the tokenizer, with PCRE2.
 *
 * Owns: compiling patterns (UTF + UCP so that \p{L}, \s and \w are Unicode-aware, JIT when the
 * library has it), the normalizer steps (Prepend, Replace, NFC through nfc.c), and the
 * pre-tokenizer steps: Split by a regex or literal with HF's delimiter behaviours (Removed,
 * Isolated, MergedWithPrevious, MergedWithNext, Contiguous; invert), Digits (a \p{N} split), ByteLevel (optional prefix space,
 * then the GPT-2 split; its byte -> alphabet mapping happens in bpe.c) and Metaspace (spaces
 * become the replacement, prepended per scheme, optional split before each replacement).
 *
 * Pieces live in one arena buffer as (offset, length); a step appends new bytes to the arena
 * only when it changes text (Metaspace, normalizers), otherwise it slices.
 */
#include "text.h"

#include <stdlib.h>
#include <string.h>

const char rx_gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

rx_status rx_regex_compile(const char *pattern, int64_t len, int literal, const char *where, pcre2_code **re,
                           pcre2_match_data **md)
{
    int err = 0;
    PCRE2_SIZE erroff = 0;
    /* Text may hold invalid UTF-8 (tokenizers round-trip raw bytes): PCRE2_MATCH_INVALID_UTF
     * makes matching safe on it (an invalid sequence matches no pattern item and ends up in a
     * non-matching gap), where PCRE2_NO_UTF_CHECK on such a subject is undefined behaviour.
     * PCRE2 accepts PCRE2_UTF but not PCRE2_UCP together with PCRE2_LITERAL (a literal has no
     * character classes for UCP to change). */
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    *re = pcre2_compile((PCRE2_SPTR)pattern, (PCRE2_SIZE)len, opts, &err, &erroff, NULL);
    if (!*re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return rx_fail(RX_ERR_FORMAT, "%s: cannot compile the pattern at offset %lld: %s", where,
                       (long long)erroff, (const char *)msg);
    }
    pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter when JIT is absent */
    *md = pcre2_match_data_create_from_pattern(*re, NULL);
    if (!*md) {
        pcre2_code_free(*re);
        *re = NULL;
        return rx_fail(RX_ERR_NOMEM, "%s: out of memory (regex match data)", where);
    }
    return RX_OK;
}

rx_status rx_pieces_push(rx_pieces *p, int64_t off, int64_t len, int64_t orig)
{
    if (len <= 0) return RX_OK;
    if (p->len == p->cap) {
        int64_t c = p->cap ? p->cap * 2 : 64;
        rx_piece *d = realloc(p->data, (size_t)c * sizeof *d);
        if (!d) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (pre-tokenizer pieces)");
        p->data = d;
        p->cap = c;
    }
    p->data[p->len++] = (rx_piece){off, len, orig};
    return RX_OK;
}

/* ---- normalizers ---- */

rx_status rx_normalize(const rx_tokenizer *t, rx_buf *arena, rx_piece *piece)
{
    for (int s = 0; s < t->n_norm; s++) {
        const rx_norm_step *st = &t->norm[s];
        if (piece->len == 0) return RX_OK;
        int64_t off = arena->len;
        if (st->kind == RX_NORM_NFC) {
            /* text already in NFC (pure ASCII, say) keeps its piece; otherwise rx_nfc reads a
             * copy, since appending to the arena may move the source */
            if (rx_nfc_quick_check(arena->data + piece->off, piece->len)) continue;
            rx_buf src = {0};
            rx_status status = rx_buf_append(&src, arena->data + piece->off, piece->len);
            if (status == RX_OK) status = rx_nfc(src.data, src.len, arena);
            rx_buf_free(&src);
            RX_TRY(status);
        } else if (st->kind == RX_NORM_PREPEND) {
            RX_TRY(rx_buf_append(arena, st->content, (int64_t)strlen(st->content)));
            RX_TRY(rx_buf_append(arena, arena->data + piece->off, piece->len));
        } else {
            int64_t pl = (int64_t)strlen(st->pattern), cl = (int64_t)strlen(st->content);
            for (int64_t i = 0; i < piece->len;) {
                const char *src = arena->data + piece->off + i; /* re-read: the arena may move */
                if (pl > 0 && i + pl <= piece->len && memcmp(src, st->pattern, (size_t)pl) == 0) {
                    RX_TRY(rx_buf_append(arena, st->content, cl));
                    i += pl;
                } else {
                    char c = *src;
                    RX_TRY(rx_buf_append(arena, &c, 1));
                    i++;
                }
            }
        }
        piece->off = off;
        piece->len = arena->len - off;
    }
    return RX_OK;
}

/* ---- pre-tokenizers ---- */

typedef struct seg {
    int64_t start, end;
    int is_match;
} seg;

static rx_status split_piece(const rx_pre_step *st, const rx_buf *arena, const rx_piece *pc, rx_pieces *out)
{
    const char *s = arena->data + pc->off;
    int64_t n = pc->len, cap = 16, m = 0;
    seg *segs = malloc((size_t)cap * sizeof *segs);
    if (!segs) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (split)");
    rx_status status = RX_OK;
    int64_t prev = 0, pos = 0;
    while (pos <= n) {
        int rc = pcre2_match(st->re, (PCRE2_SPTR)s, (PCRE2_SIZE)n, (PCRE2_SIZE)pos, 0, st->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            status = rx_fail(RX_ERR_INTERNAL, "tokenizer: pre-tokenizer regex failed: %s", (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
        int64_t ms = (int64_t)ov[0], me = (int64_t)ov[1];
        if (m + 2 > cap) {
            cap *= 2;
            seg *p = realloc(segs, (size_t)cap * sizeof *p);
            if (!p) {
                status = rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (split)");
                break;
            }
            segs = p;
        }
        if (me > ms) {
            if (prev != ms) segs[m++] = (seg){prev, ms, 0};
            segs[m++] = (seg){ms, me, 1};
            prev = me;
            pos = me;
        } else { /* an empty match: step over one character */
            if (ms >= n) break;
            pos = ms + rx_utf8_len((const unsigned char *)s + ms, n - ms);
        }
    }
    if (status == RX_OK && prev < n) {
        if (m + 1 > cap) {
            seg *p = realloc(segs, (size_t)(cap + 1) * sizeof *p);
            if (!p) status = rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory (split)");
            else segs = p;
        }
        if (status == RX_OK) segs[m++] = (seg){prev, n, 0};
    }
    if (status == RX_OK && st->invert)
        for (int64_t i = 0; i < m; i++) segs[i].is_match = !segs[i].is_match;
    /* apply the delimiter behaviour, in place: keep[] entries are the pieces */
    int64_t k = 0;
    if (status == RX_OK) {
        switch (st->behavior) {
        case RX_SPLIT_REMOVED:
            for (int64_t i = 0; i < m; i++)
                if (!segs[i].is_match) segs[k++] = segs[i];
            break;
        case RX_SPLIT_ISOLATED:
            k = m;
            break;
        case RX_SPLIT_MERGED_PREV: {
            int prev_match = 0;
            for (int64_t i = 0; i < m; i++) {
                int im = segs[i].is_match;
                if (im && !prev_match && k > 0) segs[k - 1].end = segs[i].end;
                else segs[k++] = segs[i];
                prev_match = im;
            }
            break;
        }
        case RX_SPLIT_MERGED_NEXT: {
            /* walk backwards: a match joins the piece after it */
            int prev_match = 0;
            int64_t w = m; /* result fills segs[w..m) from the back */
            for (int64_t i = m - 1; i >= 0; i--) {
                int im = segs[i].is_match;
                if (im && !prev_match && w < m) segs[w].start = segs[i].start;
                else segs[--w] = segs[i];
                prev_match = im;
            }
            memmove(segs, segs + w, (size_t)(m - w) * sizeof *segs);
            k = m - w;
            break;
        }
        case RX_SPLIT_CONTIGUOUS: {
            int prev_match = 0;
            for (int64_t i = 0; i < m; i++) {
                int im = segs[i].is_match;
                if (im == prev_match && k > 0) segs[k - 1].end = segs[i].end;
                else segs[k++] = segs[i];
                prev_match = im;
            }
            break;
        }
        }
    }
    for (int64_t i = 0; i < k && status == RX_OK; i++) {
        int64_t orig = segs[i].start == 0 ? pc->orig : pc->orig + segs[i].start + 1;
        status = rx_pieces_push(out, pc->off + segs[i].start, segs[i].end - segs[i].start, orig);
    }
    free(segs);
    return status;
}

static rx_status metaspace_piece(const rx_pre_step *st, rx_buf *arena, const rx_piece *pc, rx_pieces *out)
{
    int64_t rl = (int64_t)strlen(st->replacement);
    int64_t off = arena->len;
    int starts = pc->len >= rl && memcmp(arena->data + pc->off, st->replacement, (size_t)rl) == 0;
    int starts_space = pc->len > 0 && arena->data[pc->off] == ' ';
    int prepend = !starts && !starts_space &&
                  (st->prepend == RX_PREPEND_ALWAYS || (st->prepend == RX_PREPEND_FIRST && pc->orig == 0));
    if (prepend) RX_TRY(rx_buf_append(arena, st->replacement, rl));
    for (int64_t i = 0; i < pc->len; i++) {
        char c = arena->data[pc->off + i];
        if (c == ' ') RX_TRY(rx_buf_append(arena, st->replacement, rl));
        else RX_TRY(rx_buf_append(arena, &c, 1));
    }
    int64_t len = arena->len - off;
    if (!st->split) return rx_pieces_push(out, off, len, pc->orig);
    /* split before each replacement (MergedWithNext) */
    int64_t start = 0;
    for (int64_t i = rl; i + rl <= len; i++) {
        if (memcmp(arena->data + off + i, st->replacement, (size_t)rl) == 0) {
            RX_TRY(rx_pieces_push(out, off + start, i - start, start == 0 ? pc->orig : pc->orig + start + 1));
            start = i;
            i += rl - 1;
        }
    }
    return rx_pieces_push(out, off + start, len - start, start == 0 ? pc->orig : pc->orig + start + 1);
}

static rx_status bytelevel_piece(const rx_pre_step *st, rx_buf *arena, const rx_piece *pc, rx_pieces *out)
{
    rx_piece p = *pc;
    if (st->add_prefix_space && p.len > 0 && arena->data[p.off] != ' ') {
        int64_t off = arena->len;
        RX_TRY(rx_buf_append(arena, " ", 1));
        RX_TRY(rx_buf_append(arena, arena->data + p.off, p.len));
        p.off = off;
        p.len += 1;
    }
    if (!st->re) return rx_pieces_push(out, p.off, p.len, p.orig);
    return split_piece(st, arena, &p, out);
}

rx_status rx_pretokenize(const rx_tokenizer *t, rx_buf *arena, const rx_pieces *in, rx_pieces *out)
{
    rx_pieces cur = {0}, next = {0};
    rx_status st = RX_OK;
    for (int64_t i = 0; i < in->len && st == RX_OK; i++) st = rx_pieces_push(&cur, in->data[i].off, in->data[i].len, in->data[i].orig);
    for (int s = 0; s < t->n_pre && st == RX_OK; s++) {
        const rx_pre_step *step = &t->pre[s];
        next.len = 0;
        for (int64_t i = 0; i < cur.len && st == RX_OK; i++) {
            switch (step->kind) {
            case RX_PRE_SPLIT: st = split_piece(step, arena, &cur.data[i], &next); break;
            case RX_PRE_BYTELEVEL: st = bytelevel_piece(step, arena, &cur.data[i], &next); break;
            case RX_PRE_METASPACE: st = metaspace_piece(step, arena, &cur.data[i], &next); break;
            }
        }
        rx_pieces tmp = cur;
        cur = next;
        next = tmp;
    }
    free(next.data);
    if (st != RX_OK) {
        free(cur.data);
        return st;
    }
    for (int64_t i = 0; i < cur.len && st == RX_OK; i++) st = rx_pieces_push(out, cur.data[i].off, cur.data[i].len, cur.data[i].orig);
    free(cur.data);
    return st;
}
