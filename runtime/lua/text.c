/* text.c — the BPE tokenizer from Lua (core.text; the Lua face is recx.text.tokenizer).
 *
 * Owns: the tokenizer userdata (created closed before it is loaded; __gc = __close = close,
 * idempotent; a closed tokenizer raises "tokenizer was closed"), the loaders
 * core.text.from_json(text, name), core.text.load_json(path) and core.text.from_gguf(metadata)
 * (the {key = value} table of recx.gguf's g:metadata(), keys as in the file), and the methods
 * encode, decode, token_to_id, id_to_token, add_special, is_special, info, set_special_id.
 * Ids cross into Lua 0-based, as the model sees them. Temporary C buffers are owned by a
 * scratch userdata or freed before any Lua error.
 */
#include "recx_lua.h"

#include <stdlib.h>
#include <string.h>

#define TOK_MT "recx.text.tokenizer"

typedef struct tok_box {
    rx_tokenizer *t;
} tok_box;

static rx_tokenizer *check_tok(lua_State *L, int idx)
{
    tok_box *b = luaL_checkudata(L, idx, TOK_MT);
    if (!b->t) luaL_error(L, "tokenizer was closed");
    return b->t;
}

static tok_box *push_box(lua_State *L)
{
    tok_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->t = NULL;
    luaL_setmetatable(L, TOK_MT);
    return b;
}

static int tok_close(lua_State *L)
{
    tok_box *b = luaL_checkudata(L, 1, TOK_MT);
    rx_tokenizer_free(b->t);
    b->t = NULL;
    return 0;
}

/* core.text.from_json(text [, name]) */
static int text_from_json(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "tokenizer.json");
    tok_box *b = push_box(L);
    rxl_check_status(L, rx_tokenizer_from_json(s, (int64_t)len, name, &b->t));
    return 1;
}

/* core.text.load_json(path) */
static int text_load_json(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    tok_box *b = push_box(L);
    rxl_check_status(L, rx_tokenizer_load_json(path, &b->t));
    return 1;
}

/* Scratch memory owned by a userdata (freed by its __gc even when an argument error is raised). */
typedef struct scratch {
    void *p[6];
} scratch;

static int scratch_gc(lua_State *L)
{
    scratch *s = lua_touserdata(L, 1);
    for (int i = 0; i < 6; i++) {
        free(s->p[i]);
        s->p[i] = NULL;
    }
    return 0;
}

static scratch *push_scratch(lua_State *L)
{
    scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    if (luaL_newmetatable(L, "recx.text.scratch")) {
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return s;
}

static void *scratch_alloc(lua_State *L, scratch *s, int slot, size_t n)
{
    s->p[slot] = calloc(n ? n : 1, 1);
    if (!s->p[slot]) luaL_error(L, "from_gguf: out of memory");
    return s->p[slot];
}

static int64_t opt_int_field(lua_State *L, int tbl, const char *key, int64_t def)
{
    int t = lua_getfield(L, tbl, key);
    int64_t v = def;
    if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
    else if (t != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) rxl_arg_error(L, 1, "'%s': expected an integer, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* Reads array key into strings (pointers into Lua strings kept alive by the table) and lengths. */
static int64_t string_array(lua_State *L, int tbl, const char *key, scratch *s, int slot, const char ***strs,
                            int64_t **lens)
{
    if (lua_getfield(L, tbl, key) != LUA_TTABLE) {
        lua_pop(L, 1);
        *strs = NULL;
        *lens = NULL;
        return 0;
    }
    int64_t n = (int64_t)luaL_len(L, -1);
    *strs = scratch_alloc(L, s, slot, (size_t)n * sizeof(char *));
    *lens = scratch_alloc(L, s, slot + 1, (size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        if (lua_geti(L, -1, i + 1) != LUA_TSTRING)
            rxl_arg_error(L, 1, "'%s'[%lld]: expected a string, got %s", key, (long long)i + 1, luaL_typename(L, -1));
        size_t l;
        (*strs)[i] = lua_tolstring(L, -1, &l); /* the table keeps the string alive */
        (*lens)[i] = (int64_t)l;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

/* The per-token list `key` of the metadata table (argument 1), n_tokens `what` ("scores"), read into
 * a scratch array in `slot`: floats, or with `ints` int32s. NULL when the list is absent. */
static void *per_token(lua_State *L, const char *key, const char *what, int64_t n_tokens, scratch *s, int slot,
                       int ints)
{
    void *out = NULL;
    if (lua_getfield(L, 1, key) == LUA_TTABLE) {
        int64_t n = (int64_t)luaL_len(L, -1);
        if (n != n_tokens)
            rxl_arg_error(L, 1, "'%s': expected %lld %s, got %lld", key, (long long)n_tokens, what, (long long)n);
        out = scratch_alloc(L, s, slot, (size_t)n * (ints ? sizeof(int32_t) : sizeof(float)));
        for (int64_t i = 0; i < n; i++) {
            lua_geti(L, -1, i + 1);
            if (ints)
                ((int32_t *)out)[i] = (int32_t)lua_tointeger(L, -1);
            else
                ((float *)out)[i] = (float)lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return out;
}

/* core.text.from_gguf(metadata) */
static int text_from_gguf(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    scratch *s = push_scratch(L);
    rx_tokenizer_gguf m;
    memset(&m, 0, sizeof m);
    lua_getfield(L, 1, "tokenizer.ggml.model");
    m.model = lua_tostring(L, -1);
    lua_pop(L, 1); /* the metadata table keeps it alive */
    if (!m.model) rxl_arg_error(L, 1, "'tokenizer.ggml.model' is missing");
    lua_getfield(L, 1, "tokenizer.ggml.pre");
    m.pre = lua_tostring(L, -1);
    lua_pop(L, 1);
    const char **tokens, **merges;
    int64_t *tlens, *mlens;
    m.n_tokens = string_array(L, 1, "tokenizer.ggml.tokens", s, 0, &tokens, &tlens);
    m.tokens = tokens;
    m.token_lens = tlens;
    m.n_merges = string_array(L, 1, "tokenizer.ggml.merges", s, 2, &merges, &mlens);
    m.merges = merges;
    m.merge_lens = mlens;
    m.scores = per_token(L, "tokenizer.ggml.scores", "scores", m.n_tokens, s, 4, 0);
    m.token_types = per_token(L, "tokenizer.ggml.token_type", "types", m.n_tokens, s, 5, 1);
    m.bos_id = opt_int_field(L, 1, "tokenizer.ggml.bos_token_id", -1);
    m.eos_id = opt_int_field(L, 1, "tokenizer.ggml.eos_token_id", -1);
    m.unk_id = opt_int_field(L, 1, "tokenizer.ggml.unknown_token_id", -1);
    m.pad_id = opt_int_field(L, 1, "tokenizer.ggml.padding_token_id", -1);
    m.add_bos = (int)opt_int_field(L, 1, "tokenizer.ggml.add_bos_token", -1);
    m.add_eos = (int)opt_int_field(L, 1, "tokenizer.ggml.add_eos_token", -1);
    m.add_space_prefix = (int)opt_int_field(L, 1, "tokenizer.ggml.add_space_prefix", -1);
    tok_box *b = push_box(L);
    rx_status st = rx_tokenizer_from_gguf(&m, &b->t);
    for (int i = 0; i < 6; i++) { /* the arrays are no longer needed */
        free(s->p[i]);
        s->p[i] = NULL;
    }
    rxl_check_status(L, st);
    return 1;
}

/* ---- methods ---- */

/* tok:encode(text, add_special, parse_special) -> {ids} */
static int tok_encode(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    int add_special = lua_toboolean(L, 3), parse_special = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
    scratch *sc = push_scratch(L); /* owns the ids while the table is built */
    int32_t *ids = NULL;
    int64_t n = 0;
    rxl_check_status(L, rx_tokenizer_encode(t, text, (int64_t)len, add_special, parse_special, &ids, &n));
    sc->p[0] = ids;
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, i + 1);
    }
    free(sc->p[0]);
    sc->p[0] = NULL;
    return 1;
}

/* tok:decode({ids}, skip_special) -> string */
static int tok_decode(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int skip = lua_toboolean(L, 3);
    int64_t n = (int64_t)luaL_len(L, 2);
    int32_t *ids = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(int32_t), 0); /* GC-owned */
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < INT32_MIN || v > INT32_MAX)
            rxl_arg_error(L, 2, "ids[%lld]: expected an integer id, got %s", (long long)i + 1, luaL_typename(L, -1));
        ids[i] = (int32_t)v;
        lua_pop(L, 1);
    }
    scratch *sc = push_scratch(L); /* owns the text while Lua copies it */
    char *text = NULL;
    int64_t len = 0;
    rxl_check_status(L, rx_tokenizer_decode(t, ids, n, skip, &text, &len));
    sc->p[0] = text;
    lua_pushlstring(L, text, (size_t)len);
    free(sc->p[0]);
    sc->p[0] = NULL;
    return 1;
}

static int tok_token_to_id(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    int32_t id = rx_tokenizer_token_to_id(t, s, (int64_t)len);
    if (id < 0) lua_pushnil(L);
    else lua_pushinteger(L, id);
    return 1;
}

static int tok_id_to_token(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    lua_Integer id = rxl_check_integer(L, 2, "id");
    int64_t len;
    const char *s = id >= INT32_MIN && id <= INT32_MAX ? rx_tokenizer_id_to_token(t, (int32_t)id, &len) : NULL;
    if (!s) lua_pushnil(L);
    else lua_pushlstring(L, s, (size_t)len);
    return 1;
}

static int tok_is_special(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    lua_Integer id = rxl_check_integer(L, 2, "id");
    lua_pushboolean(L, id >= INT32_MIN && id <= INT32_MAX && rx_tokenizer_is_special(t, (int32_t)id));
    return 1;
}

/* tok:add_special({"<user>", ...}) -> {ids} */
static int tok_add_special(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n > 1 << 20) return rxl_arg_error(L, 2, "expected at most 1048576 tokens, got %lld", (long long)n);
    const char **strs = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(char *), 0);
    int32_t *ids = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(int32_t), 0);
    for (lua_Integer i = 0; i < n; i++) {
        if (lua_geti(L, 2, i + 1) != LUA_TSTRING)
            rxl_arg_error(L, 2, "[%lld]: expected a string, got %s", (long long)i + 1, luaL_typename(L, -1));
        size_t l;
        strs[i] = lua_tolstring(L, -1, &l);
        if (strlen(strs[i]) != l) rxl_arg_error(L, 2, "[%lld]: a token may not contain NUL bytes", (long long)i + 1);
        lua_pop(L, 1); /* the argument table keeps it alive */
    }
    rxl_check_status(L, rx_tokenizer_add_special(t, (int)n, strs, ids));
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static void set_id_field(lua_State *L, const char *key, int32_t id)
{
    if (id < 0) return;
    lua_pushinteger(L, id);
    lua_setfield(L, -2, key);
}

/* tok:info() -> {vocab_size, bos_id, eos_id, unk_id, pad_id (absent when none), add_bos, add_eos} */
static int tok_info(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, rx_tokenizer_vocab_size(t));
    lua_setfield(L, -2, "vocab_size");
    set_id_field(L, "bos_id", rx_tokenizer_special_id(t, RX_TOKEN_BOS));
    set_id_field(L, "eos_id", rx_tokenizer_special_id(t, RX_TOKEN_EOS));
    set_id_field(L, "unk_id", rx_tokenizer_special_id(t, RX_TOKEN_UNK));
    set_id_field(L, "pad_id", rx_tokenizer_special_id(t, RX_TOKEN_PAD));
    lua_pushboolean(L, rx_tokenizer_adds_bos(t));
    lua_setfield(L, -2, "add_bos");
    lua_pushboolean(L, rx_tokenizer_adds_eos(t));
    lua_setfield(L, -2, "add_eos");
    return 1;
}

/* tok:set_special_id("bos" | "eos" | "unk" | "pad", id or nil) */
static int tok_set_special_id(lua_State *L)
{
    rx_tokenizer *t = check_tok(L, 1);
    static const char *const roles[] = {"bos", "eos", "unk", "pad", NULL};
    int role = luaL_checkoption(L, 2, NULL, roles);
    lua_Integer id = lua_isnoneornil(L, 3) ? -1 : rxl_check_integer(L, 3, "id");
    if (id < -1 || id > INT32_MAX) return rxl_arg_error(L, 3, "id %lld out of range", (long long)id);
    rxl_check_status(L, rx_tokenizer_set_special_id(t, (rx_token_role)role, (int32_t)id));
    return 0;
}

static int tok_tostring(lua_State *L)
{
    tok_box *b = luaL_checkudata(L, 1, TOK_MT);
    if (!b->t) lua_pushliteral(L, "tokenizer(closed)");
    else lua_pushfstring(L, "tokenizer(vocab %I)", (lua_Integer)rx_tokenizer_vocab_size(b->t));
    return 1;
}

static const luaL_Reg tok_methods[] = {
    {"encode", tok_encode},
    {"decode", tok_decode},
    {"token_to_id", tok_token_to_id},
    {"id_to_token", tok_id_to_token},
    {"is_special", tok_is_special},
    {"add_special", tok_add_special},
    {"info", tok_info},
    {"set_special_id", tok_set_special_id},
    {"close", tok_close},
    {NULL, NULL},
};

static const luaL_Reg text_functions[] = {
    {"from_json", text_from_json},
    {"load_json", text_load_json},
    {"from_gguf", text_from_gguf},
    {NULL, NULL},
};

void rxl_open_text(lua_State *L)
{
    luaL_newmetatable(L, TOK_MT);
    lua_newtable(L);
    rxl_set_funcs(L, tok_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, tok_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, tok_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, tok_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_newtable(L);
    rxl_set_funcs(L, text_functions);
    lua_setfield(L, -2, "text");
}
