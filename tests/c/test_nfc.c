/* test_nfc.c — Unicode NFC of UTF-8 text (runtime/text/nfc.c) against Python's unicodedata.
 *
 * The cases (tests/fixtures/nfc_cases.h, written by tests/fixtures/make_unicode_tables.py) are
 * composed and decomposed Latin, Vietnamese stacked diacritics (both mark orders), Hangul jamo
 * and syllables, combining-class reordering and blocking, singletons (U+212B -> U+00C5),
 * composition exclusions (U+0958) and non-starter decompositions, already-NFC text in many
 * scripts, 200 random mixtures of starters and marks, every character with a canonical
 * decomposition (composed and NFD) in one string each, and invalid UTF-8 (raw bytes kept, the
 * valid stretches around them normalized on their own). Plus: the quick check, appending after
 * existing bytes, idempotence, and the length error.
 */
#include "check.h"
#include "text/text.h"

#include <stdio.h>
#include <string.h>

#include "../fixtures/nfc_cases.h"

/* The first byte offset where a and b differ (or the shorter length). */
static int64_t first_diff(const char *a, int64_t na, const char *b, int64_t nb)
{
    int64_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

static void test_fixture_cases(void)
{
    size_t n = sizeof nfc_cases / sizeof nfc_cases[0];
    CHECK(n > 400);
    for (size_t k = 0; k < n; k++) {
        const char *in = nfc_cases[k][1], *want = nfc_cases[k][2];
        int64_t ni = (int64_t)strlen(in), nw = (int64_t)strlen(want);
        rx_buf out = {0};
        rx_status st = rx_nfc(in, ni, &out);
        CHECK(st == RX_OK);
        int same = st == RX_OK && out.len == nw && (nw == 0 || memcmp(out.data, want, (size_t)nw) == 0);
        if (!same) {
            int64_t d = first_diff(out.data ? out.data : "", out.len, want, nw);
            check_fail(__FILE__, __LINE__, "case %zu (%s): %lld bytes, expected %lld; first difference at byte %lld",
                       k, nfc_cases[k][0], (long long)out.len, (long long)nw, (long long)d);
        }
        /* NFC is idempotent */
        rx_buf again = {0};
        CHECK(rx_nfc(out.data ? out.data : "", out.len, &again) == RX_OK);
        CHECK(again.len == out.len && (out.len == 0 || memcmp(again.data, out.data, (size_t)out.len) == 0));
        rx_buf_free(&again);
        rx_buf_free(&out);
    }
}

static void expect_nfc(const char *in, const char *want, int line)
{
    rx_buf out = {0};
    rx_status st = rx_nfc(in, (int64_t)strlen(in), &out);
    int64_t nw = (int64_t)strlen(want);
    if (st != RX_OK || out.len != nw || (nw && memcmp(out.data, want, (size_t)nw)))
        check_fail(__FILE__, line, "nfc(\"%s\"): got %lld bytes, expected %lld", in, (long long)out.len, (long long)nw);
    rx_buf_free(&out);
}

static void test_hand_cases(void)
{
    expect_nfc("e\xcc\x81", "\xc3\xa9", __LINE__);                      /* e + U+0301 -> U+00E9 */
    expect_nfc("\xe2\x84\xab", "\xc3\x85", __LINE__);                  /* U+212B -> U+00C5 */
    expect_nfc("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc", __LINE__);  /* U+0958 -> U+0915 U+093C */
    expect_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81", __LINE__); /* L V T -> U+AC01 */
    /* a + U+0301 (230) + U+0316 (220): reordered to U+0316 first, then U+0301 still composes */
    expect_nfc("a\xcc\x81\xcc\x96", "\xc3\xa1\xcc\x96", __LINE__);
    /* a + U+0301 + U+0301: the second acute is blocked by the first (same class) */
    expect_nfc("a\xcc\x81\xcc\x81", "\xc3\xa1\xcc\x81", __LINE__);
    expect_nfc("\xcc\x81", "\xcc\x81", __LINE__);                      /* a lone mark stays */
    expect_nfc("a\xff\xcc\x81", "a\xff\xcc\x81", __LINE__);            /* invalid byte blocks */
}

static void test_quick_check_and_append(void)
{
    CHECK(rx_nfc_quick_check("plain ascii", 11));
    CHECK(rx_nfc_quick_check("caf\xc3\xa9 \xff", 7));         /* U+00E9 and a raw byte: below U+0300 */
    CHECK(!rx_nfc_quick_check("cafe\xcc\x81", 6));            /* U+0301 */
    CHECK(!rx_nfc_quick_check("\xea\xb0\x80", 3));            /* U+AC00: a following T could compose */
    CHECK(rx_nfc_quick_check("", 0));
    /* rx_nfc appends after what the buffer holds */
    rx_buf out = {0};
    CHECK(rx_buf_append(&out, "xy", 2) == RX_OK);
    CHECK(rx_nfc("A\xcc\x8a!", 4, &out) == RX_OK);
    CHECK(out.len == 5 && memcmp(out.data, "xy\xc3\x85!", 5) == 0);
    CHECK(rx_nfc("ok", 2, &out) == RX_OK); /* quick path appends too */
    CHECK(out.len == 7 && memcmp(out.data, "xy\xc3\x85!ok", 7) == 0);
    rx_buf_free(&out);
    CHECK(strcmp(rx_nfc_unicode_version, "14.0.0") == 0);
}

static void test_errors(void)
{
    rx_buf out = {0};
    CHECK_ERR(rx_nfc("a", -1, &out), RX_ERR_ARG, "nfc: argument #2: expected a length >= 0");
    CHECK(out.len == 0);
    rx_buf_free(&out);
}

int main(void)
{
    RUN(test_fixture_cases);
    RUN(test_hand_cases);
    RUN(test_quick_check_and_append);
    RUN(test_errors);
    return check_finish();
}
