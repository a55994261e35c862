/* test_data_parse.c — the JSON / Python-literal line parser (runtime/data/parse.c).
 *
 * Each good case is rendered back to a canonical text by the test's own printer (node walk:
 * lists [..], dicts {k:v,..}, strings "..." as raw bytes, bytes outside 0x20..0x7F as \xNN) and
 * compared with a hand-written expectation; malformed inputs must fail with the exact message
 * (what was expected, the byte column, what was found).
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

static int64_t render(const rx_jnode *nodes, const char *strs, int64_t i, char *out, size_t cap, size_t *at)
{
    const rx_jnode *n = &nodes[i];
#define PUT(...) (*at += (size_t)snprintf(out + *at, *at < cap ? cap - *at : 0, __VA_ARGS__))
    switch (n->type) {
    case RX_JNULL: PUT("null"); return i + 1;
    case RX_JFALSE: PUT("false"); return i + 1;
    case RX_JTRUE: PUT("true"); return i + 1;
    case RX_JINT: PUT("%lld", (long long)n->ival); return i + 1;
    case RX_JNUM: PUT("%.17g", n->num); return i + 1;
    case RX_JSTR:
        PUT("\"");
        for (int64_t k = 0; k < n->len; k++) {
            unsigned char c = (unsigned char)strs[n->str + k];
            if (c >= 0x20 && c < 0x80) PUT("%c", c);
            else PUT("\\x%02X", c);
        }
        PUT("\"");
        return i + 1;
    case RX_JLIST: {
        PUT("[");
        int64_t j = i + 1;
        for (int64_t k = 0; k < n->count; k++) {
            if (k) PUT(",");
            j = render(nodes, strs, j, out, cap, at);
        }
        PUT("]");
        CHECK(j - i == n->span);
        return j;
    }
    case RX_JDICT: {
        PUT("{");
        int64_t j = i + 1;
        for (int64_t k = 0; k < n->count; k++) {
            if (k) PUT(",");
            CHECK(nodes[j].type == RX_JSTR);
            j = render(nodes, strs, j, out, cap, at);
            PUT(":");
            j = render(nodes, strs, j, out, cap, at);
        }
        PUT("}");
        CHECK(j - i == n->span);
        return j;
    }
    }
#undef PUT
    return i + 1;
}

static void expect_value(int line, const char *text, rx_syntax syntax, const char *want)
{
    rx_jdoc *d = NULL;
    CHECK_OK(rx_jdoc_new(&d));
    rx_status st = rx_jdoc_parse(d, text, (int64_t)strlen(text), syntax);
    if (st != RX_OK) {
        check_fail(__FILE__, line, "parse of %s failed: %s", text, rx_last_error());
    } else {
        char out[1024];
        size_t at = 0;
        int64_t end = render(rx_jdoc_nodes(d), rx_jdoc_strings(d), 0, out, sizeof out, &at);
        if (end != rx_jdoc_count(d)) check_fail(__FILE__, line, "%lld nodes rendered of %lld", (long long)end, (long long)rx_jdoc_count(d));
        if (strcmp(out, want) != 0) check_fail(__FILE__, line, "%s\n    got  %s\n    want %s", text, out, want);
    }
    rx_jdoc_free(d);
}

static void expect_error(int line, const char *text, rx_syntax syntax, const char *want)
{
    rx_jdoc *d = NULL;
    CHECK_OK(rx_jdoc_new(&d));
    rx_status st = rx_jdoc_parse(d, text, (int64_t)strlen(text), syntax);
    if (st != RX_ERR_FORMAT) check_fail(__FILE__, line, "%s: expected RX_ERR_FORMAT, got %s", text, rx_status_name(st));
    else if (strcmp(rx_last_error(), want) != 0)
        check_fail(__FILE__, line, "%s\n    got  %s\n    want %s", text, rx_last_error(), want);
    CHECK(rx_jdoc_count(d) == 0);
    rx_jdoc_free(d);
}

#define VAL(text, syntax, want) expect_value(__LINE__, text, syntax, want)
#define ERR(text, syntax, want) expect_error(__LINE__, text, syntax, want)
#define PY RX_SYNTAX_PYTHON
#define JS RX_SYNTAX_JSON
#define AU RX_SYNTAX_AUTO

static void test_json_values(void)
{
    VAL("{\"a\": 1, \"b\": [true, false, null], \"c\": {}}", JS, "{\"a\":1,\"b\":[true,false,null],\"c\":{}}");
    VAL("  [ -12 , 2.5e3, 1E-2, 0.5, 9223372036854775807, 99999999999999999999 ] ", JS,
        "[-12,2500,0.01,0.5,9223372036854775807,1e+20]");
    VAL("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", JS, "\"\"\\/\\x08\\x0C\\x0A\\x0D\\x09\"");
    VAL("\"\\u00e9\\u20AC\\ud83d\\ude00\"", JS, "\"\\xC3\\xA9\\xE2\\x82\\xAC\\xF0\\x9F\\x98\\x80\"");
    VAL("\"lone \\ud800 and \\udc00\"", JS, "\"lone \\xEF\\xBF\\xBD and \\xEF\\xBF\\xBD\"");
    VAL("\"caf\xc3\xa9\"", JS, "\"caf\\xC3\\xA9\"");
    VAL("[NaN, Infinity, -Infinity]", JS, "[nan,inf,-inf]");
    VAL("{\"a\": {\"b\": {\"c\": [[[1]]]}}}", JS, "{\"a\":{\"b\":{\"c\":[[[1]]]}}}");
}

static void test_python_values(void)
{
    VAL("{'asin': '0078764343', 'title': \"It's\", 'price': 3.5}", PY,
        "{\"asin\":\"0078764343\",\"title\":\"It's\",\"price\":3.5}");
    VAL("{'related': {'also_bought': ['B1', 'B2'], 'n': 12L}, 'categories': [['Video Games', 'PC']]}", PY,
        "{\"related\":{\"also_bought\":[\"B1\",\"B2\"],\"n\":12},\"categories\":[[\"Video Games\",\"PC\"]]}");
    VAL("[True, False, None, (1, 2), (), (3,), [4,], {'a': 1,}]", PY, "[true,false,null,[1,2],[],[3],[4],{\"a\":1}]");
    VAL("'a\\'b\\\"c\\\\d\\n\\t\\r\\a\\b\\f\\v'", PY, "\"a'b\"c\\d\\x0A\\x09\\x0D\\x07\\x08\\x0C\\x0B\"");
    /* \x: a byte in a plain string (Python 2 str repr), a code point in u'' */
    VAL("'Pok\\xc3\\xa9mon'", PY, "\"Pok\\xC3\\xA9mon\"");
    VAL("u'Pok\\xe9mon'", PY, "\"Pok\\xC3\\xA9mon\"");
    VAL("u'\\u00e9\\U0001F600'", PY, "\"\\xC3\\xA9\\xF0\\x9F\\x98\\x80\"");
    VAL("'\\101\\0\\7'", PY, "\"A\\x00\\x07\"");
    VAL("'C:\\dir\\q'", PY, "\"C:\\dir\\q\"");
    VAL("b'bytes' ", PY, "\"bytes\"");
    VAL("{\"double\": 'single', u'k': -0.25}", PY, "{\"double\":\"single\",\"k\":-0.25}");
    /* AUTO picks the dialect per line */
    VAL("{'a': None}", AU, "{\"a\":null}");
    VAL("{\"a\": null}", AU, "{\"a\":null}");
    VAL("[True]", AU, "[true]");
}

static void test_malformed(void)
{
    ERR("{\"asin\" \"x\"}", JS, "expected ':' after key at column 9, got '\"'");
    ERR("{'asin': 'B0001', 'title' 'x'}", PY, "expected ':' after key at column 27, got '''");
    ERR("{'a': 1 'b': 2}", PY, "expected ',' or '}' at column 9, got '''");
    ERR("[1, 2", JS, "expected ',' or ']' at column 6, got end of line");
    ERR("(1 2)", PY, "expected ',' or ')' at column 4, got '2'");
    ERR("{'a': }", PY, "expected a value at column 7, got '}'");
    ERR("{", JS, "expected a string key or '}' at column 2, got end of line");
    ERR("{\"a\": 1, }", JS, "expected a string key at column 10, got '}'");
    ERR("[1, ]", JS, "expected a value at column 5, got ']'");
    ERR("{1: 'a'}", PY, "expected a string key or '}' at column 2, got '1'");
    ERR("{'a': 'unterminated}", PY, "unterminated string starting at column 7");
    ERR("{'a': True, 'b': none}", PY, "expected a value at column 18, got 'n'");
    ERR("{'a': true}", PY, "expected a value at column 7, got 't'");
    ERR("{\"a\": True}", JS, "expected a value at column 7, got 'T'");
    ERR("[Truex]", PY, "expected a value at column 2, got 'T'");
    ERR("\"bad \\q escape\"", JS, "invalid escape at column 6, got 'q' after the backslash");
    ERR("\"\\u12G4\"", JS, "invalid \\u escape at column 2 (expected 4 hex digits)");
    ERR("'\\x4'", PY, "invalid \\x escape at column 2 (expected 2 hex digits)");
    ERR("u'\\U00110000'", PY, "invalid \\U escape at column 3 (expected 8 hex digits up to 0010FFFF)");
    ERR("'end\\", PY, "unterminated string: backslash at the end of the line at column 5");
    ERR("[-]", JS, "expected a digit at column 3, got ']'");
    ERR("[1e+]", JS, "expected exponent digits at column 5, got ']'");
    ERR("{\"a\": 1} {\"b\": 2}", JS, "expected the end of the line after the value at column 10, got '{'");
    ERR("", JS, "expected a value at column 1, got end of line");
    ERR("[\x01]", JS, "expected a value at column 2, got byte 0x01");
}

static void test_depth_and_args(void)
{
    char deep[1200];
    for (int i = 0; i < 300; i++) deep[i] = '[';
    deep[300] = 0;
    ERR(deep, JS, "values nested deeper than 256 at column 257");
    rx_jdoc *d = NULL;
    CHECK_OK(rx_jdoc_new(&d));
    CHECK_ERR(rx_jdoc_parse(d, "1", 1, (rx_syntax)9), RX_ERR_ARG, "parse: argument #4: unknown syntax 9");
    CHECK_ERR(rx_jdoc_parse(NULL, "1", 1, JS), RX_ERR_ARG, "parse: argument #1");
    /* the document is reusable: a failed parse, then a good one */
    CHECK(rx_jdoc_parse(d, "[1,", 3, JS) == RX_ERR_FORMAT);
    CHECK_OK(rx_jdoc_parse(d, "[7]", 3, JS));
    CHECK(rx_jdoc_count(d) == 2 && rx_jdoc_nodes(d)[1].ival == 7);
    /* a 2 MB string grows the buffers */
    int64_t n = 2 * 1024 * 1024;
    char *big = malloc((size_t)n + 3);
    big[0] = '"';
    for (int64_t i = 1; i <= n; i++) big[i] = (char)('a' + i % 26);
    big[n + 1] = '"';
    CHECK_OK(rx_jdoc_parse(d, big, n + 2, JS));
    CHECK(rx_jdoc_nodes(d)[0].len == n);
    CHECK(memcmp(rx_jdoc_strings(d) + rx_jdoc_nodes(d)[0].str, big + 1, (size_t)n) == 0);
    free(big);
    rx_jdoc_free(d);
}

int main(void)
{
    RUN(test_json_values);
    RUN(test_python_values);
    RUN(test_malformed);
    RUN(test_depth_and_args);
    return check_finish();
}
