/* nfc.c — Unicode Normalization Form C of UTF-8 text (the tokenizer.json "NFC" normalizer).
 *
 * Owns: rx_nfc_quick_check (text whose code points all lie below the quick limit, pure ASCII
 * included, is NFC already) and rx_nfc: canonical decomposition (full decompositions from
 * unicode_nfc_tables.c, Hangul syllables algorithmically), canonical ordering (a stable sort of
 * each run of non-starters by combining class), canonical composition (primary composites from
 * the table, Hangul L+V and LV+T algorithmically; a mark is blocked from its starter by an
 * earlier mark of the same or higher class, a starter by anything in between).
 *
 * Invalid UTF-8 bytes (as rx_utf8_len walks them) pass through unchanged: each becomes the
 * pseudo code point RAW_BASE + byte, a starter of class 0 that composes with nothing, so the
 * valid stretches around it are normalized on their own and the bytes round-trip.
 */
#include "text.h"

#include <stdlib.h>

#define RAW_BASE 0x110000u /* above Unicode: an invalid byte carried through */

/* Hangul syllable arithmetic (Unicode chapter 3.12) */
#define S_BASE 0xAC00u
#define L_BASE 0x1100u
#define V_BASE 0x1161u
#define T_BASE 0x11A7u
#define L_COUNT 19u
#define V_COUNT 21u
#define T_COUNT 28u
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

int rx_nfc_quick_check(const char *s, int64_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (int64_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int len = rx_utf8_len(u + i, n - i);
        if (len > 1 && rx_utf8_decode(u + i, len) >= rx_nfc_quick_limit) return 0;
        i += len;
    }
    return 1;
}

static int ccc_of(uint32_t cp)
{
    if (cp < 0x300 || cp >= RAW_BASE) return 0;
    int64_t lo = 0, hi = rx_nfc_ccc_len;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        uint32_t c = rx_nfc_ccc[mid] >> 8;
        if (c == cp) return (int)(rx_nfc_ccc[mid] & 0xFF);
        if (c < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* Writes the full canonical decomposition of cp to out (at most rx_nfc_max_decomp code
 * points); returns how many. */
static int decompose(uint32_t cp, uint32_t *out)
{
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE, t = s % T_COUNT;
        out[0] = L_BASE + s / N_COUNT;
        out[1] = V_BASE + (s % N_COUNT) / T_COUNT;
        if (t == 0) return 2;
        out[2] = T_BASE + t;
        return 3;
    }
    if (cp >= 0xC0 && cp < RAW_BASE) {
        int64_t lo = 0, hi = rx_nfc_decomp_len;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            const rx_nfc_decomp *d = &rx_nfc_decomp_index[mid];
            if (d->cp == cp) {
                for (int k = 0; k < d->len; k++) out[k] = rx_nfc_decomp_pool[d->off + k];
                return d->len;
            }
            if (d->cp < cp) lo = mid + 1;
            else hi = mid;
        }
    }
    out[0] = cp;
    return 1;
}

/* The primary composite of (a, b), or 0 when there is none. */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    int64_t lo = 0, hi = rx_nfc_comp_len;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const rx_nfc_pair *p = &rx_nfc_comp[mid];
        if (p->first == a && p->second == b) return p->composite;
        if (p->first < a || (p->first == a && p->second < b)) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

rx_status rx_nfc(const char *s, int64_t n, rx_buf *out)
{
    if (n < 0) return rx_fail(RX_ERR_ARG, "nfc: argument #2: expected a length >= 0, got %lld", (long long)n);
    if (rx_nfc_quick_check(s, n)) return rx_buf_append(out, s, n);
    const unsigned char *u = (const unsigned char *)s;
    /* each byte yields at most one code point, each code point at most rx_nfc_max_decomp */
    int64_t cap = n * rx_nfc_max_decomp;
    uint32_t *cps = malloc((size_t)cap * sizeof *cps);
    uint8_t *cls = malloc((size_t)cap);
    if (!cps || !cls) {
        free(cps);
        free(cls);
        return rx_fail(RX_ERR_NOMEM, "nfc: out of memory (%lld bytes of text)", (long long)n);
    }

    /* decompose, then put each run of non-starters in canonical order (stable insertion sort) */
    int64_t m = 0;
    for (int64_t i = 0; i < n;) {
        int len = rx_utf8_len(u + i, n - i);
        int valid = len > 1 || u[i] < 0x80;
        uint32_t cp = valid ? rx_utf8_decode(u + i, len) : RAW_BASE + u[i];
        i += len;
        int k = decompose(cp, cps + m);
        for (int j = 0; j < k; j++, m++) {
            int c = ccc_of(cps[m]);
            cls[m] = (uint8_t)c;
            for (int64_t p = m; c != 0 && p > 0 && cls[p - 1] > c; p--) {
                uint32_t tc = cps[p];
                cps[p] = cps[p - 1];
                cps[p - 1] = tc;
                cls[p] = cls[p - 1];
                cls[p - 1] = (uint8_t)c;
            }
        }
    }

    /* compose in place: w is the write position, starter the last starter written (-1: none),
     * last the class of the last code point written after it (-1: nothing after it) */
    int64_t w = 0, starter = -1;
    int last = -1;
    for (int64_t i = 0; i < m; i++) {
        uint32_t cp = cps[i];
        int c = cls[i];
        if (starter >= 0 && (last < 0 || last < c)) {
            uint32_t comp = compose(cps[starter], cp);
            if (comp) {
                cps[starter] = comp;
                continue;
            }
        }
        if (c == 0) {
            starter = w;
            last = -1;
        } else {
            last = c;
        }
        cps[w++] = cp;
    }

    rx_status st = rx_buf_reserve(out, w * 4);
    for (int64_t i = 0; st == RX_OK && i < w; i++) {
        char b[4];
        int k;
        if (cps[i] >= RAW_BASE) {
            b[0] = (char)(cps[i] - RAW_BASE);
            k = 1;
        } else {
            k = rx_utf8_encode(cps[i], b);
        }
        st = rx_buf_append(out, b, k);
    }
    free(cps);
    free(cls);
    return st;
}
