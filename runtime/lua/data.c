/* data.c — bindings for core.data: fast readers for recommendation data files.
 *
 * Owns: the Lua face of runtime/data (docs/lua-api.md "Data"):
 *   data.lines(path)          -> reader; reader:next() -> line, lineno (nil at the end)
 *   data.records(path, opts)  -> reader; reader:next() -> table (nil at the end),
 *                                reader:stats(), reader:lineno(),
 *                                reader:progress() -> bytes read, file size
 *   data.parse(text [, syntax]) -> the value of one JSON / Python literal
 *   data.null                 -> the value of null / None (a light userdata, = cjson.null)
 * Readers are created closed before they are opened; __gc = __close = close, idempotent. The
 * conversion of a parsed document to Lua values lives here: dicts become tables keyed by
 * string, lists become sequences, null becomes data.null; `fields` keeps only the named keys of
 * each record (the rest is parsed, for validation, but never turned into Lua values).
 */
#include "recx_lua.h"

#include <string.h>

#define LINES_MT "recx.data.lines"
#define RECORDS_MT "recx.data.records"
#define JDOC_MT "recx.data.jdoc"

typedef struct lines_box {
    rx_lines *r;
} lines_box;

typedef struct records_box {
    rx_records *r;
    int nfields;     /* 0: every key */
    size_t *flen;    /* field name lengths (inside the userdata, after the box) */
    const char **fname;
} records_box;

static const char *check_path(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        rxl_arg_error(L, idx, "expected a file path (a string), got %s", luaL_typename(L, idx));
    return lua_tostring(L, idx);
}

static rx_syntax check_syntax(lua_State *L, int idx, const char *s)
{
    if (!strcmp(s, "json")) return RX_SYNTAX_JSON;
    if (!strcmp(s, "python")) return RX_SYNTAX_PYTHON;
    if (!strcmp(s, "auto")) return RX_SYNTAX_AUTO;
    rxl_arg_error(L, idx, "syntax: expected \"auto\", \"json\" or \"python\", got \"%s\"", s);
    return RX_SYNTAX_AUTO;
}

/* Raises the core message as it is: file errors carry their own place ("<path>:<line>: ..."),
 * so no Lua position is put in front. */
static void check_file_status(lua_State *L, rx_status status)
{
    if (status == RX_OK) return;
    lua_pushstring(L, rx_last_error()[0] ? rx_last_error() : rx_status_name(status));
    lua_error(L);
}

/* ---- document -> Lua ---- */

/* Pushes the value of node i; returns the index after its subtree. */
static int64_t push_node(lua_State *L, const rx_jnode *nodes, const char *strs, int64_t i)
{
    const rx_jnode *n = &nodes[i];
    switch (n->type) {
    case RX_JNULL: lua_pushlightuserdata(L, NULL); return i + 1;
    case RX_JFALSE: lua_pushboolean(L, 0); return i + 1;
    case RX_JTRUE: lua_pushboolean(L, 1); return i + 1;
    case RX_JINT: lua_pushinteger(L, (lua_Integer)n->ival); return i + 1;
    case RX_JNUM: lua_pushnumber(L, (lua_Number)n->num); return i + 1;
    case RX_JSTR: lua_pushlstring(L, strs + n->str, (size_t)n->len); return i + 1;
    case RX_JLIST: {
        luaL_checkstack(L, 4, "data: values nested too deeply");
        lua_createtable(L, n->count > 1 << 24 ? 0 : (int)n->count, 0);
        int64_t j = i + 1;
        for (int64_t k = 1; k <= n->count; k++) {
            j = push_node(L, nodes, strs, j);
            lua_rawseti(L, -2, k);
        }
        return j;
    }
    case RX_JDICT: {
        luaL_checkstack(L, 4, "data: values nested too deeply");
        lua_createtable(L, 0, n->count > 1 << 24 ? 0 : (int)n->count);
        int64_t j = i + 1;
        for (int64_t k = 0; k < n->count; k++) {
            lua_pushlstring(L, strs + nodes[j].str, (size_t)nodes[j].len);
            j = push_node(L, nodes, strs, j + 1);
            lua_rawset(L, -3);
        }
        return j;
    }
    }
    return i + 1;
}

/* The root dict of doc with only the fields of b. */
static void push_record(lua_State *L, const records_box *b, const rx_jdoc *doc)
{
    const rx_jnode *nodes = rx_jdoc_nodes(doc);
    const char *strs = rx_jdoc_strings(doc);
    if (b->nfields == 0) {
        push_node(L, nodes, strs, 0);
        return;
    }
    lua_createtable(L, 0, b->nfields);
    int64_t j = 1;
    for (int64_t k = 0; k < nodes[0].count; k++) {
        const rx_jnode *key = &nodes[j];
        int want = 0;
        for (int f = 0; f < b->nfields && !want; f++)
            want = b->flen[f] == (size_t)key->len && memcmp(b->fname[f], strs + key->str, (size_t)key->len) == 0;
        if (want) {
            lua_pushlstring(L, strs + key->str, (size_t)key->len);
            j = push_node(L, nodes, strs, j + 1);
            lua_rawset(L, -3);
        } else {
            j = j + 1 + nodes[j + 1].span;
        }
    }
}

/* ---- data.parse ---- */

static int d_parse(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING) rxl_arg_error(L, 1, "expected a string, got %s", luaL_typename(L, 1));
    const char *text = lua_tolstring(L, 1, &len);
    rx_syntax syntax = check_syntax(L, 2, luaL_optstring(L, 2, "auto"));
    /* the document lives in a userdata whose __gc frees it, so an error frees it too */
    rx_jdoc **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, JDOC_MT);
    rxl_check_status(L, rx_jdoc_new(slot));
    if (rx_jdoc_parse(*slot, text, (int64_t)len, syntax) != RX_OK) return luaL_error(L, "data.parse: %s", rx_last_error());
    push_node(L, rx_jdoc_nodes(*slot), rx_jdoc_strings(*slot), 0);
    rx_jdoc_free(*slot);
    *slot = NULL;
    return 1;
}

static int jdoc_gc(lua_State *L)
{
    rx_jdoc **slot = luaL_checkudata(L, 1, JDOC_MT);
    rx_jdoc_free(*slot);
    *slot = NULL;
    return 0;
}

/* ---- data.lines ---- */

static rx_lines *check_lines(lua_State *L)
{
    lines_box *b = luaL_checkudata(L, 1, LINES_MT);
    if (!b->r) rxl_arg_error(L, 1, "the line reader was closed");
    return b->r;
}

static int d_lines(lua_State *L)
{
    const char *path = check_path(L, 1);
    lines_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->r = NULL;
    luaL_setmetatable(L, LINES_MT);
    check_file_status(L, rx_lines_open(path, &b->r));
    return 1;
}

static int lines_next(lua_State *L)
{
    rx_lines *r = check_lines(L);
    const char *line;
    int64_t len;
    check_file_status(L, rx_lines_next(r, &line, &len));
    if (!line) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, line, (size_t)len);
    lua_pushinteger(L, rx_lines_lineno(r));
    return 2;
}

static int lines_progress(lua_State *L)
{
    rx_lines *r = check_lines(L);
    lua_pushinteger(L, rx_lines_offset(r));
    lua_pushinteger(L, rx_lines_size(r));
    return 2;
}

static int lines_close(lua_State *L)
{
    lines_box *b = luaL_checkudata(L, 1, LINES_MT);
    rx_lines *r = b->r;
    b->r = NULL;
    rx_lines_close(r);
    return 0;
}

/* ---- data.records ---- */

static rx_records *check_records(lua_State *L)
{
    records_box *b = luaL_checkudata(L, 1, RECORDS_MT);
    if (!b->r) rxl_arg_error(L, 1, "the record reader was closed");
    return b->r;
}

/* records(path, {syntax = "auto", fields = {...}, lenient = false}) */
static int d_records(lua_State *L)
{
    const char *path = check_path(L, 1);
    rx_syntax syntax = RX_SYNTAX_AUTO;
    int lenient = 0, nfields = 0;
    if (!lua_isnoneornil(L, 2)) {
        if (!lua_istable(L, 2)) rxl_arg_error(L, 2, "expected an options table or nil, got %s", luaL_typename(L, 2));
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (!strcmp(k, "syntax")) {
                if (lua_type(L, -1) != LUA_TSTRING) rxl_arg_error(L, 2, "syntax: expected a string, got %s", luaL_typename(L, -1));
                syntax = check_syntax(L, 2, lua_tostring(L, -1));
            } else if (!strcmp(k, "lenient")) {
                lenient = lua_toboolean(L, -1);
            } else if (!strcmp(k, "fields")) {
                if (!lua_istable(L, -1)) rxl_arg_error(L, 2, "fields: expected a list of key names, got %s", luaL_typename(L, -1));
                nfields = (int)luaL_len(L, -1);
                for (int f = 1; f <= nfields; f++) {
                    if (lua_rawgeti(L, -1, f) != LUA_TSTRING)
                        rxl_arg_error(L, 2, "fields[%d]: expected a key name (a string), got %s", f, luaL_typename(L, -1));
                    lua_pop(L, 1);
                }
            } else {
                rxl_arg_error(L, 2, "unknown option '%s' (known: fields, lenient, syntax)", k);
            }
            lua_pop(L, 1);
        }
    }
    /* the box, then the field lengths and name pointers; the names themselves are kept alive
     * in the user value (a copy of the fields list) */
    size_t size = sizeof(records_box) + (size_t)nfields * (sizeof(size_t) + sizeof(const char *));
    records_box *b = lua_newuserdatauv(L, size, 1);
    memset(b, 0, size);
    luaL_setmetatable(L, RECORDS_MT);
    b->flen = (size_t *)(b + 1);
    b->fname = (const char **)(b->flen + nfields);
    if (nfields > 0) {
        lua_createtable(L, nfields, 0);
        lua_getfield(L, 2, "fields");
        for (int f = 1; f <= nfields; f++) {
            lua_rawgeti(L, -1, f);
            b->fname[f - 1] = lua_tolstring(L, -1, &b->flen[f - 1]);
            lua_rawseti(L, -3, f);
        }
        lua_pop(L, 1);
        lua_setiuservalue(L, -2, 1);
        b->nfields = nfields;
    }
    check_file_status(L, rx_records_open(path, syntax, lenient, &b->r));
    return 1;
}

static int records_next(lua_State *L)
{
    rx_records *r = check_records(L);
    records_box *b = lua_touserdata(L, 1);
    const rx_jdoc *doc;
    check_file_status(L, rx_records_next(r, &doc));
    if (!doc) {
        lua_pushnil(L);
        return 1;
    }
    push_record(L, b, doc);
    return 1;
}

/* reader:stats() -> {lines, records, empty, skipped, first_skip} */
static int records_stats(lua_State *L)
{
    rx_records *r = check_records(L);
    rx_records_stats s;
    rx_records_get_stats(r, &s);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, s.lines);
    lua_setfield(L, -2, "lines");
    lua_pushinteger(L, s.records);
    lua_setfield(L, -2, "records");
    lua_pushinteger(L, s.empty);
    lua_setfield(L, -2, "empty");
    lua_pushinteger(L, s.skipped);
    lua_setfield(L, -2, "skipped");
    const char *first = rx_records_first_skip(r);
    if (first) {
        lua_pushstring(L, first);
        lua_setfield(L, -2, "first_skip");
    }
    return 1;
}

static int records_progress(lua_State *L)
{
    rx_records *r = check_records(L);
    lua_pushinteger(L, rx_lines_offset(rx_records_lines(r)));
    lua_pushinteger(L, rx_lines_size(rx_records_lines(r)));
    return 2;
}

/* reader:lineno() -> number of the line last read */
static int records_lineno(lua_State *L)
{
    lua_pushinteger(L, rx_lines_lineno(rx_records_lines(check_records(L))));
    return 1;
}

static int records_close(lua_State *L)
{
    records_box *b = luaL_checkudata(L, 1, RECORDS_MT);
    rx_records *r = b->r;
    b->r = NULL;
    rx_records_close(r);
    return 0;
}

static const luaL_Reg lines_methods[] = {
    {"next", lines_next}, {"progress", lines_progress}, {"close", lines_close}, {NULL, NULL}};
static const luaL_Reg records_methods[] = {
    {"next", records_next}, {"stats", records_stats}, {"progress", records_progress}, {"lineno", records_lineno},
    {"close", records_close}, {NULL, NULL}};
static const luaL_Reg data_functions[] = {
    {"lines", d_lines}, {"records", d_records}, {"parse", d_parse}, {NULL, NULL}};

static void new_metatable(lua_State *L, const char *name, lua_CFunction close, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
    lua_newtable(L);
    rxl_set_funcs(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void rxl_open_data(lua_State *L)
{
    new_metatable(L, LINES_MT, lines_close, lines_methods);
    new_metatable(L, RECORDS_MT, records_close, records_methods);
    luaL_newmetatable(L, JDOC_MT);
    lua_pushcfunction(L, jdoc_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    rxl_set_funcs(L, data_functions);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "data");
}
