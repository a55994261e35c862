/* test_data_lines.c — the gzip/plain line reader and the record reader (runtime/data).
 *
 * Files are written by the test itself through zlib (gzopen/gzwrite) or stdio: long lines
 * (> 1 MB, more than the reader's first buffer), CRLF endings, empty lines, a last line without
 * a newline, a truncated and a corrupted gzip stream (exact messages), a missing file, and the
 * record reader in strict and lenient mode on JSON and Python-literal lines.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char *tmp_path(const char *suffix)
{
    static int counter = 0;
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/recx_test_data_%d_%d%s", (int)getpid(), counter++, suffix);
    return p;
}

static void write_gz(const char *path, const char *data, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    CHECK(gz != NULL);
    size_t done = 0;
    while (done < len) {
        unsigned n = (unsigned)(len - done > (1u << 20) ? (1u << 20) : len - done);
        CHECK(gzwrite(gz, data + done, n) == (int)n);
        done += n;
    }
    CHECK(gzclose(gz) == Z_OK);
}

static void write_plain(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

/* Reads every line of path into a list of copies; returns the count. */
static int read_all(const char *path, char **lines, int max, rx_status *status)
{
    rx_lines *r = NULL;
    *status = rx_lines_open(path, &r);
    if (*status != RX_OK) return 0;
    int n = 0;
    for (;;) {
        const char *line;
        int64_t len;
        *status = rx_lines_next(r, &line, &len);
        if (*status != RX_OK || !line) break;
        if (n < max) {
            lines[n] = malloc((size_t)len + 1);
            memcpy(lines[n], line, (size_t)len);
            lines[n][len] = 0;
        }
        n++;
        CHECK(rx_lines_lineno(r) == n);
    }
    rx_lines_close(r);
    return n;
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++) free(lines[i]);
}

static void test_gz_lines_crlf_empty_last(void)
{
    const char text[] = "first\r\n\nthird line\r\n  \r\n\r\nlast without newline";
    char *lines[8];
    rx_status st;
    const char *want[] = {"first", "", "third line", "  ", "", "last without newline"};
    for (int gz = 0; gz < 2; gz++) {
        char *path = tmp_path(gz ? ".gz" : ".txt");
        if (gz) write_gz(path, text, sizeof text - 1);
        else write_plain(path, text, sizeof text - 1);
        int n = read_all(path, lines, 8, &st);
        CHECK_OK(st);
        CHECK(n == 6);
        for (int i = 0; i < n && i < 6; i++) {
            if (strcmp(lines[i], want[i]) != 0) check_fail(__FILE__, __LINE__, "line %d: got '%s', want '%s'", i + 1, lines[i], want[i]);
        }
        free_lines(lines, n < 8 ? n : 8);
        unlink(path);
        free(path);
    }
}

static void test_gz_long_lines(void)
{
    /* lines of 1.5 MB, 10 bytes, 3 MB: each byte value derived from its position */
    size_t lens[3] = {1500000, 10, 3000000};
    size_t total = lens[0] + lens[1] + lens[2] + 3;
    char *text = malloc(total);
    size_t at = 0;
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < lens[l]; i++) text[at++] = (char)('a' + (i * 7 + (size_t)l) % 26);
        text[at++] = '\n';
    }
    char *path = tmp_path(".gz");
    write_gz(path, text, total);
    rx_lines *r = NULL;
    CHECK_OK(rx_lines_open(path, &r));
    at = 0;
    for (int l = 0; l < 3; l++) {
        const char *line;
        int64_t len;
        CHECK_OK(rx_lines_next(r, &line, &len));
        CHECK(line != NULL);
        CHECK(len == (int64_t)lens[l]);
        if (line && len == (int64_t)lens[l]) CHECK(memcmp(line, text + at, lens[l]) == 0);
        at += lens[l] + 1;
    }
    const char *line;
    int64_t len;
    CHECK_OK(rx_lines_next(r, &line, &len));
    CHECK(line == NULL && len == 0);
    CHECK(rx_lines_offset(r) == rx_lines_size(r));
    rx_lines_close(r);
    unlink(path);
    free(path);
    free(text);
}

static void test_gz_truncated_and_corrupted(void)
{
    /* 20,000 numbered lines compress to a few tens of kilobytes; cut the file in the middle */
    size_t cap = 20000 * 16;
    char *text = malloc(cap);
    size_t at = 0;
    for (int i = 1; i <= 20000; i++) at += (size_t)snprintf(text + at, cap - at, "line %d %d\n", i, i * 7919 % 10007);
    char *path = tmp_path(".gz");
    write_gz(path, text, at);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *gzbytes = malloc((size_t)size);
    CHECK(fread(gzbytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);

    write_plain(path, (const char *)gzbytes, (size_t)size / 2);
    char *lines[1];
    rx_status st;
    int n = read_all(path, lines, 0, &st);
    CHECK(st == RX_ERR_FORMAT);
    CHECK(n > 0 && n < 20000);
    char want[512];
    snprintf(want, sizeof want, "%s: truncated gzip data after line %d (unexpected end of file)", path, n);
    if (strcmp(rx_last_error(), want) != 0) check_fail(__FILE__, __LINE__, "got '%s', want '%s'", rx_last_error(), want);

    /* the 8-byte trailer (CRC, size) missing: every line read, then the error */
    write_plain(path, (const char *)gzbytes, (size_t)size - 8);
    n = read_all(path, lines, 0, &st);
    CHECK(st == RX_ERR_FORMAT);
    CHECK(strstr(rx_last_error(), "truncated gzip data") != NULL);

    /* a flipped byte inside the deflate data */
    gzbytes[size / 3] ^= 0x55;
    write_plain(path, (const char *)gzbytes, (size_t)size);
    n = read_all(path, lines, 0, &st);
    CHECK(st == RX_ERR_FORMAT);
    CHECK(strstr(rx_last_error(), "gzip data after line") != NULL);
    unlink(path);
    free(path);
    free(gzbytes);
    free(text);
}

static void test_open_errors(void)
{
    rx_lines *r = (rx_lines *)1;
    CHECK_ERR(rx_lines_open("/nonexistent/recx/file.json.gz", &r), RX_ERR_IO,
              "/nonexistent/recx/file.json.gz: cannot open (No such file or directory)");
    CHECK(r == NULL);
    CHECK_ERR(rx_lines_open("/tmp", &r), RX_ERR_IO, "/tmp: cannot open (is a directory)");
    rx_records *rec = (rx_records *)1;
    CHECK_ERR(rx_records_open("/nonexistent/x.gz", RX_SYNTAX_AUTO, 0, &rec), RX_ERR_IO, "cannot open");
    CHECK(rec == NULL);
    CHECK_ERR(rx_records_open("/tmp", 7, 0, &rec), RX_ERR_ARG, "records: argument #2: unknown syntax 7");
}

static void test_records_strict_and_lenient(void)
{
    const char text[] =
        "{\"asin\": \"A1\", \"title\": \"One\"}\n"                  /* 1 */
        "\n"                                                       /* 2 empty */
        "{'asin': 'A2', 'title': \"It's\", 'price': 3.5}\r\n"       /* 3 python */
        "{\"asin\" \"A3\"}\n"                                      /* 4 bad: col 9 */
        "[1, 2]\n"                                                 /* 5 bad: not an object */
        "   \n"                                                    /* 6 empty */
        "{'asin': 'A4', 'related': {'also_bought': ['B1', 'B2']}, 'categories': [['Video Games', 'PC']]}\n"; /* 7 */
    char *path = tmp_path(".json.gz");
    write_gz(path, text, sizeof text - 1);

    rx_records *r = NULL;
    const rx_jdoc *doc;
    CHECK_OK(rx_records_open(path, RX_SYNTAX_AUTO, 0, &r));
    CHECK_OK(rx_records_next(r, &doc));
    CHECK(doc != NULL && rx_jdoc_nodes(doc)[0].type == RX_JDICT && rx_jdoc_nodes(doc)[0].count == 2);
    CHECK_OK(rx_records_next(r, &doc));
    CHECK(doc != NULL && rx_jdoc_nodes(doc)[0].count == 3);
    if (doc) {
        const rx_jnode *n = rx_jdoc_nodes(doc);
        CHECK(strcmp(rx_jdoc_strings(doc) + n[4].str, "It's") == 0);
        CHECK(n[6].type == RX_JNUM && n[6].num == 3.5);
    }
    char want[512];
    snprintf(want, sizeof want, "%s:4: expected ':' after key at column 9, got '\"'", path);
    CHECK_ERR(rx_records_next(r, &doc), RX_ERR_FORMAT, want);
    CHECK(strcmp(rx_last_error(), want) == 0);
    rx_records_close(r);

    CHECK_OK(rx_records_open(path, RX_SYNTAX_AUTO, 1, &r));
    int n = 0;
    for (;;) {
        CHECK_OK(rx_records_next(r, &doc));
        if (!doc) break;
        n++;
    }
    CHECK(n == 3);
    rx_records_stats s;
    rx_records_get_stats(r, &s);
    CHECK(s.lines == 7 && s.records == 3 && s.empty == 2 && s.skipped == 2);
    CHECK(rx_records_first_skip(r) != NULL && strcmp(rx_records_first_skip(r), want) == 0);
    rx_records_close(r);

    /* forcing JSON on the Python line reports where JSON breaks */
    CHECK_OK(rx_records_open(path, RX_SYNTAX_JSON, 0, &r));
    CHECK_OK(rx_records_next(r, &doc));
    snprintf(want, sizeof want, "%s:3: expected a string key or '}' at column 2, got '''", path);
    CHECK_ERR(rx_records_next(r, &doc), RX_ERR_FORMAT, want);
    rx_records_close(r);

    /* line 5 in lenient mode kept its own message */
    const char text2[] = "[1, 2]\n";
    write_gz(path, text2, sizeof text2 - 1);
    CHECK_OK(rx_records_open(path, RX_SYNTAX_AUTO, 0, &r));
    snprintf(want, sizeof want, "%s:1: expected an object ('{') at column 1, got '['", path);
    CHECK_ERR(rx_records_next(r, &doc), RX_ERR_FORMAT, want);
    rx_records_close(r);
    unlink(path);
    free(path);
}

int main(void)
{
    RUN(test_gz_lines_crlf_empty_last);
    RUN(test_gz_long_lines);
    RUN(test_gz_truncated_and_corrupted);
    RUN(test_open_errors);
    RUN(test_records_strict_and_lenient);
    return check_finish();
}
