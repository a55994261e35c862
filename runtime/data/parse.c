/* parse.c — one-line value parser for JSON and Python literals (rx_jdoc_*).
 *
 * Owns: the recursive-descent parser that turns one line of JSON (Amazon 2018 files) or of a
 * Python literal (Amazon 2014 files, written with Python 2's repr: single or double quotes,
 * escapes, True/False/None, 12L longs) into a flat array of nodes in pre-order plus one buffer
 * of decoded string bytes. The document is reused from line to line, so parsing a file
 * allocates only while its buffers grow to the largest line. Errors name what was expected and
 * the byte column (from 1) where something else was found; the caller adds the file and line.
 *
 * The two dialects share everything but their literals and strings:
 *   JSON:   "..." with \" \\ \/ \b \f \n \r \t \uXXXX; true false null; NaN Infinity -Infinity
 *           (as Python's json writes them); no trailing commas.
 *   Python: '...' or "..." with an optional u/U/b/B prefix; \\ \' \" \a \b \f \n \r \t \v,
 *           octal \ooo, \xhh (a byte in plain strings, a code point in u'' strings), \uXXXX,
 *           \UXXXXXXXX; an unknown escape keeps its backslash (as Python does); True False
 *           None; integers may end in L; tuples (...) read as lists; trailing commas allowed.
 */
#include "../core/core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JDOC_MAX_DEPTH 256

struct rx_jdoc {
    rx_jnode *nodes;
    int64_t n, cap;
    char *str;
    int64_t str_len, str_cap;
};

typedef struct parser {
    rx_jdoc *d;
    const char *s;
    int64_t len, pos;
    int python;
    int depth;
} parser;

rx_status rx_jdoc_new(rx_jdoc **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "jdoc_new: argument #1: expected an output pointer, got NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return rx_fail(RX_ERR_NOMEM, "jdoc_new: out of memory");
    return RX_OK;
}

void rx_jdoc_free(rx_jdoc *d)
{
    if (!d) return;
    free(d->nodes);
    free(d->str);
    free(d);
}

int64_t rx_jdoc_count(const rx_jdoc *d) { return d ? d->n : 0; }
const rx_jnode *rx_jdoc_nodes(const rx_jdoc *d) { return d ? d->nodes : NULL; }
const char *rx_jdoc_strings(const rx_jdoc *d) { return d ? d->str : NULL; }

/* ---- errors ---- */

/* Describes the byte at pos for "got ...": "'x'", "end of line" or "byte 0xNN". */
static const char *got_text(const parser *p, int64_t pos, char *buf, size_t size)
{
    if (pos >= p->len) return "end of line";
    unsigned char c = (unsigned char)p->s[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02X", c);
    return buf;
}

static rx_status expected(const parser *p, const char *what)
{
    char buf[32];
    return rx_fail(RX_ERR_FORMAT, "expected %s at column %lld, got %s", what, (long long)p->pos + 1,
                   got_text(p, p->pos, buf, sizeof buf));
}

/* ---- buffers ---- */

static rx_status new_node(parser *p, rx_jtype type, int64_t *index)
{
    rx_jdoc *d = p->d;
    if (d->n == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 256;
        rx_jnode *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return rx_fail(RX_ERR_NOMEM, "parse: out of memory for %lld values", (long long)cap);
        d->nodes = nn;
        d->cap = cap;
    }
    rx_jnode *node = &d->nodes[d->n];
    memset(node, 0, sizeof *node);
    node->type = type;
    node->span = 1;
    *index = d->n++;
    return RX_OK;
}

static inline void put_byte(parser *p, unsigned char c) { p->d->str[p->d->str_len++] = (char)c; }

static void put_utf8(parser *p, uint32_t cp)
{
    if (cp < 0x80) {
        put_byte(p, (unsigned char)cp);
    } else if (cp < 0x800) {
        put_byte(p, (unsigned char)(0xC0 | (cp >> 6)));
        put_byte(p, (unsigned char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        put_byte(p, (unsigned char)(0xE0 | (cp >> 12)));
        put_byte(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(p, (unsigned char)(0x80 | (cp & 0x3F)));
    } else {
        put_byte(p, (unsigned char)(0xF0 | (cp >> 18)));
        put_byte(p, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
        put_byte(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
        put_byte(p, (unsigned char)(0x80 | (cp & 0x3F)));
    }
}

/* ---- lexing helpers ---- */

static inline void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
        p->pos++;
    }
}

static int match_word(parser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->pos + (int64_t)n > p->len || memcmp(p->s + p->pos, w, n) != 0) return 0;
    int64_t after = p->pos + (int64_t)n;
    if (after < p->len) {
        char c = p->s[after];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') return 0;
    }
    p->pos = after;
    return 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* n hex digits at s[at..]; -1 when they are not all there. */
static int64_t read_hex(const parser *p, int64_t at, int n)
{
    if (at + n > p->len) return -1;
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        int h = hex_value(p->s[at + i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* ---- values ---- */

static rx_status parse_value(parser *p);

/* A \u escape at p->pos (the backslash): its code point, joining a surrogate pair. */
static rx_status parse_u_escape(parser *p, uint32_t *cp)
{
    int64_t at = p->pos;
    int64_t v = read_hex(p, at + 2, 4);
    if (v < 0) return rx_fail(RX_ERR_FORMAT, "invalid \\u escape at column %lld (expected 4 hex digits)", (long long)at + 1);
    p->pos = at + 6;
    if (v >= 0xD800 && v <= 0xDBFF) {
        int64_t lo = -1;
        if (p->pos + 1 < p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') lo = read_hex(p, p->pos + 2, 4);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            p->pos += 6;
            *cp = (uint32_t)(0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00));
            return RX_OK;
        }
        *cp = 0xFFFD;
        return RX_OK;
    }
    *cp = (v >= 0xDC00 && v <= 0xDFFF) ? 0xFFFD : (uint32_t)v;
    return RX_OK;
}

/* The escapes both dialects share, at p->pos (the backslash): a backslash at the end of the line
 * (an error), the one-letter escapes in `simple` (pairs of letter and byte) and \uXXXX. *done says
 * whether the escape was one of these (and is then written). */
static rx_status shared_escape(parser *p, const char *simple, int *done)
{
    int64_t at = p->pos;
    *done = 1;
    if (at + 1 >= p->len) return rx_fail(RX_ERR_FORMAT, "unterminated string: backslash at the end of the line at column %lld", (long long)at + 1);
    char e = p->s[at + 1];
    for (const char *q = simple; *q; q += 2) {
        if (e == q[0]) {
            put_byte(p, (unsigned char)q[1]);
            p->pos = at + 2;
            return RX_OK;
        }
    }
    if (e == 'u') {
        uint32_t cp = 0;
        RX_TRY(parse_u_escape(p, &cp));
        put_utf8(p, cp);
        return RX_OK;
    }
    *done = 0;
    return RX_OK;
}

/* A Python escape at p->pos (the backslash); writes its bytes. */
static rx_status python_escape(parser *p, int unicode)
{
    int done;
    RX_TRY(shared_escape(p, "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v", &done));
    if (done) return RX_OK;
    int64_t at = p->pos;
    char e = p->s[at + 1];
    if (e >= '0' && e <= '7') {
        int v = 0, k = 0;
        while (k < 3 && at + 1 + k < p->len && p->s[at + 1 + k] >= '0' && p->s[at + 1 + k] <= '7') {
            v = v * 8 + (p->s[at + 1 + k] - '0');
            k++;
        }
        p->pos = at + 1 + k;
        if (unicode) put_utf8(p, (uint32_t)v);
        else put_byte(p, (unsigned char)(v & 0xFF));
        return RX_OK;
    }
    if (e == 'x') {
        int64_t v = read_hex(p, at + 2, 2);
        if (v < 0) return rx_fail(RX_ERR_FORMAT, "invalid \\x escape at column %lld (expected 2 hex digits)", (long long)at + 1);
        p->pos = at + 4;
        if (unicode) put_utf8(p, (uint32_t)v);
        else put_byte(p, (unsigned char)v);
        return RX_OK;
    }
    if (e == 'U') {
        int64_t v = read_hex(p, at + 2, 8);
        if (v < 0 || v > 0x10FFFF)
            return rx_fail(RX_ERR_FORMAT, "invalid \\U escape at column %lld (expected 8 hex digits up to 0010FFFF)", (long long)at + 1);
        p->pos = at + 10;
        put_utf8(p, (v >= 0xD800 && v <= 0xDFFF) ? 0xFFFD : (uint32_t)v);
        return RX_OK;
    }
    put_byte(p, '\\'); /* unknown escape: kept as written */
    p->pos = at + 1;
    return RX_OK;
}

static rx_status json_escape(parser *p)
{
    int done;
    RX_TRY(shared_escape(p, "\"\"\\\\//b\bf\fn\nr\rt\t", &done));
    if (done) return RX_OK;
    int64_t at = p->pos;
    char buf[32];
    parser tmp = *p;
    tmp.pos = at + 1;
    return rx_fail(RX_ERR_FORMAT, "invalid escape at column %lld, got %s after the backslash", (long long)at + 1,
                   got_text(&tmp, at + 1, buf, sizeof buf));
}

/* A string whose opening quote is at p->pos (after any prefix); appends a RX_JSTR node. */
static rx_status parse_string(parser *p, int unicode)
{
    char q = p->s[p->pos];
    int64_t open = p->pos;
    int64_t idx;
    RX_TRY(new_node(p, RX_JSTR, &idx));
    int64_t start = p->d->str_len;
    p->pos++;
    for (;;) {
        /* copy the run of plain bytes */
        int64_t run = p->pos;
        while (run < p->len && p->s[run] != q && p->s[run] != '\\') run++;
        if (run > p->pos) {
            memcpy(p->d->str + p->d->str_len, p->s + p->pos, (size_t)(run - p->pos));
            p->d->str_len += run - p->pos;
            p->pos = run;
        }
        if (p->pos >= p->len)
            return rx_fail(RX_ERR_FORMAT, "unterminated string starting at column %lld", (long long)open + 1);
        if (p->s[p->pos] == q) {
            p->pos++;
            break;
        }
        RX_TRY(p->python ? python_escape(p, unicode) : json_escape(p));
    }
    rx_jnode *node = &p->d->nodes[idx];
    node->str = start;
    node->len = p->d->str_len - start;
    put_byte(p, 0); /* each string is NUL-terminated for C callers */
    return RX_OK;
}

/* At p->pos: a Python string with its optional prefix, or a JSON string. Returns 0 when no
 * string starts here. */
static int string_start(const parser *p, int *unicode, int64_t *quote_at)
{
    int64_t at = p->pos;
    *unicode = 0;
    if (p->python && at < p->len && p->s[at] != 0 && strchr("uUbB", p->s[at])) {
        if (at + 1 < p->len && (p->s[at + 1] == '\'' || p->s[at + 1] == '"')) {
            *unicode = p->s[at] == 'u' || p->s[at] == 'U';
            *quote_at = at + 1;
            return 1;
        }
        return 0;
    }
    if (at < p->len && (p->s[at] == '"' || (p->python && p->s[at] == '\''))) {
        *quote_at = at;
        return 1;
    }
    return 0;
}

static rx_status parse_number(parser *p)
{
    int64_t at = p->pos, i = at;
    int is_float = 0;
    if (i < p->len && p->s[i] == '-') i++;
    if (!p->python && i + 8 <= p->len && memcmp(p->s + i, "Infinity", 8) == 0) {
        int64_t idx;
        RX_TRY(new_node(p, RX_JNUM, &idx));
        p->d->nodes[idx].num = p->s[at] == '-' ? -INFINITY : INFINITY;
        p->pos = i + 8;
        return RX_OK;
    }
    int64_t digits = i;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i == digits) {
        p->pos = i;
        return expected(p, "a digit");
    }
    if (i < p->len && p->s[i] == '.') {
        is_float = 1;
        i++;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        is_float = 1;
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        int64_t e0 = i;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
        if (i == e0) {
            p->pos = i;
            return expected(p, "exponent digits");
        }
    }
    char buf[64];
    int64_t n = i - at;
    if (n >= (int64_t)sizeof buf) return rx_fail(RX_ERR_FORMAT, "number too long at column %lld", (long long)at + 1);
    memcpy(buf, p->s + at, (size_t)n);
    buf[n] = 0;
    if (p->python && !is_float && i < p->len && (p->s[i] == 'L' || p->s[i] == 'l')) i++;
    int64_t idx;
    RX_TRY(new_node(p, is_float ? RX_JNUM : RX_JINT, &idx));
    rx_jnode *node = &p->d->nodes[idx];
    if (!is_float) {
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (errno == ERANGE) { /* beyond int64: a float, as Lua reads such numerals */
            node->type = RX_JNUM;
            node->num = strtod(buf, NULL);
        } else {
            node->ival = v;
        }
    } else {
        node->num = strtod(buf, NULL);
    }
    p->pos = i;
    return RX_OK;
}

static rx_status parse_container(parser *p, char close, int dict)
{
    int64_t open = p->pos;
    if (++p->depth > JDOC_MAX_DEPTH)
        return rx_fail(RX_ERR_FORMAT, "values nested deeper than %d at column %lld", JDOC_MAX_DEPTH, (long long)open + 1);
    int64_t idx;
    RX_TRY(new_node(p, dict ? RX_JDICT : RX_JLIST, &idx));
    p->pos++;
    int64_t count = 0;
    skip_ws(p);
    char close_what[48];
    snprintf(close_what, sizeof close_what, "',' or '%c'", close);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            if (dict) {
                int unicode;
                int64_t quote_at;
                if (!string_start(p, &unicode, &quote_at))
                    return expected(p, count == 0 ? "a string key or '}'" : "a string key");
                p->pos = quote_at;
                RX_TRY(parse_string(p, unicode));
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':') return expected(p, "':' after key");
                p->pos++;
            }
            RX_TRY(parse_value(p));
            count++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                skip_ws(p);
                if (p->python && p->pos < p->len && p->s[p->pos] == close) {
                    p->pos++;
                    break;
                }
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == close) {
                p->pos++;
                break;
            }
            return expected(p, close_what);
        }
    }
    rx_jnode *node = &p->d->nodes[idx];
    node->count = count;
    node->span = p->d->n - idx;
    p->depth--;
    return RX_OK;
}

static rx_status literal(parser *p, rx_jtype type)
{
    int64_t idx;
    return new_node(p, type, &idx);
}

static rx_status parse_value(parser *p)
{
    skip_ws(p);
    if (p->pos >= p->len) return expected(p, "a value");
    char c = p->s[p->pos];
    int unicode;
    int64_t quote_at;
    if (c == '{') return parse_container(p, '}', 1);
    if (c == '[') return parse_container(p, ']', 0);
    if (p->python && c == '(') return parse_container(p, ')', 0);
    if (string_start(p, &unicode, &quote_at)) {
        p->pos = quote_at;
        return parse_string(p, unicode);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
    if (p->python) {
        if (match_word(p, "True")) return literal(p, RX_JTRUE);
        if (match_word(p, "False")) return literal(p, RX_JFALSE);
        if (match_word(p, "None")) return literal(p, RX_JNULL);
    } else {
        if (match_word(p, "true")) return literal(p, RX_JTRUE);
        if (match_word(p, "false")) return literal(p, RX_JFALSE);
        if (match_word(p, "null")) return literal(p, RX_JNULL);
        if (match_word(p, "NaN")) {
            int64_t idx;
            RX_TRY(new_node(p, RX_JNUM, &idx));
            p->d->nodes[idx].num = NAN;
            return RX_OK;
        }
        if (c == 'I') return parse_number(p);
    }
    return expected(p, "a value");
}

/* AUTO: Python when the first quote is a single quote or a Python literal comes before any
 * double quote. */
static int looks_python(const char *s, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\'') return 1;
        if (c == '"') return 0;
        if ((c == 'T' || c == 'F' || c == 'N') && i + 3 < len &&
            (!memcmp(s + i, "True", 4) || !memcmp(s + i, "None", 4) || (i + 4 < len && !memcmp(s + i, "False", 5))))
            return 1;
    }
    return 0;
}

rx_status rx_jdoc_parse(rx_jdoc *d, const char *text, int64_t len, rx_syntax syntax)
{
    if (!d) return rx_fail(RX_ERR_ARG, "parse: argument #1: expected a document, got NULL");
    if (!text && len > 0) return rx_fail(RX_ERR_ARG, "parse: argument #2: expected text, got NULL");
    if (len < 0) return rx_fail(RX_ERR_ARG, "parse: argument #3: expected a length >= 0, got %lld", (long long)len);
    if (syntax != RX_SYNTAX_JSON && syntax != RX_SYNTAX_PYTHON && syntax != RX_SYNTAX_AUTO)
        return rx_fail(RX_ERR_ARG, "parse: argument #4: unknown syntax %d", (int)syntax);
    /* decoded strings never take more bytes than the text, plus one NUL per string */
    int64_t need = 2 * len + 16;
    if (d->str_cap < need) {
        char *ns = realloc(d->str, (size_t)need);
        if (!ns) return rx_fail(RX_ERR_NOMEM, "parse: out of memory for a line of %lld bytes", (long long)len);
        d->str = ns;
        d->str_cap = need;
    }
    d->n = 0;
    d->str_len = 0;
    parser p = {.d = d, .s = text, .len = len, .pos = 0, .depth = 0};
    p.python = syntax == RX_SYNTAX_PYTHON || (syntax == RX_SYNTAX_AUTO && looks_python(text, len));
    rx_status st = parse_value(&p);
    if (st == RX_OK) {
        skip_ws(&p);
        if (p.pos < p.len) st = expected(&p, "the end of the line after the value");
    }
    if (st != RX_OK) d->n = 0;
    return st;
}
