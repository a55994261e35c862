/* records.c — files of one object per line (rx_records_*): JSON lines or Python dict literals,
 * gzipped or plain.
 *
 * Owns: joining the line reader (lines.c) and the parser (parse.c), the rule that every
 * non-empty line holds one object, the "<path>:<line>: " prefix of a malformed line's message,
 * and lenient mode (count, keep the first message, skip).
 */
#include "../core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rx_records {
    rx_lines *lines;
    rx_jdoc *doc;
    rx_syntax syntax;
    int lenient;
    rx_records_stats stats;
    char *first_skip;
};

rx_status rx_records_open(const char *path, rx_syntax syntax, int lenient, rx_records **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "records: argument #4: expected an output pointer, got NULL");
    *out = NULL;
    if (syntax != RX_SYNTAX_JSON && syntax != RX_SYNTAX_PYTHON && syntax != RX_SYNTAX_AUTO)
        return rx_fail(RX_ERR_ARG, "records: argument #2: unknown syntax %d", (int)syntax);
    rx_records *r = calloc(1, sizeof *r);
    if (!r) return rx_fail(RX_ERR_NOMEM, "records: out of memory");
    r->syntax = syntax;
    r->lenient = lenient != 0;
    rx_status st = rx_lines_open(path, &r->lines);
    if (st == RX_OK) st = rx_jdoc_new(&r->doc);
    if (st != RX_OK) {
        rx_records_close(r);
        return st;
    }
    *out = r;
    return RX_OK;
}

static rx_status parse_line(rx_records *r, const char *line, int64_t len)
{
    int64_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (line[i] != '{') {
        char got[32];
        if (line[i] >= 0x20 && line[i] < 0x7f)
            snprintf(got, sizeof got, "'%c'", line[i]);
        else
            snprintf(got, sizeof got, "byte 0x%02X", (unsigned char)line[i]);
        return rx_fail(RX_ERR_FORMAT, "expected an object ('{') at column %lld, got %s", (long long)i + 1, got);
    }
    return rx_jdoc_parse(r->doc, line, len, r->syntax);
}

rx_status rx_records_next(rx_records *r, const rx_jdoc **doc)
{
    if (!r || !doc) return rx_fail(RX_ERR_ARG, "records: next: expected a reader and an output pointer, got NULL");
    *doc = NULL;
    for (;;) {
        const char *line;
        int64_t len;
        RX_TRY(rx_lines_next(r->lines, &line, &len));
        if (!line) return RX_OK;
        r->stats.lines++;
        int64_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
        if (i == len) {
            r->stats.empty++;
            continue;
        }
        rx_status st = parse_line(r, line, len);
        if (st == RX_OK) {
            r->stats.records++;
            *doc = r->doc;
            return RX_OK;
        }
        if (st != RX_ERR_FORMAT) return st;
        rx_fail_context(RX_ERR_FORMAT, "%s:%lld", rx_lines_path(r->lines), (long long)rx_lines_lineno(r->lines));
        if (!r->lenient) return RX_ERR_FORMAT;
        r->stats.skipped++;
        if (!r->first_skip) r->first_skip = strdup(rx_last_error());
        rx_clear_error();
    }
}

void rx_records_get_stats(const rx_records *r, rx_records_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (r) *out = r->stats;
}

const char *rx_records_first_skip(const rx_records *r) { return r ? r->first_skip : NULL; }
const rx_lines *rx_records_lines(const rx_records *r) { return r ? r->lines : NULL; }

void rx_records_close(rx_records *r)
{
    if (!r) return;
    rx_lines_close(r->lines);
    rx_jdoc_free(r->doc);
    free(r->first_skip);
    free(r);
}
