/* gguf.c — GGUF files from Lua (core.gguf, exposed as recx.gguf).
 *
 * Owns: the file handle userdata (an open, validated, memory-mapped file: created closed before it
 * is opened, __gc = __close = close, idempotent; loaded tensors stay valid after close because
 * each keeps the mapping alive), the Lua forms of metadata (arrays become 1-based tables, nested
 * arrays nested tables; integers stay integers, a u64 above math.maxinteger becomes a float;
 * f32/f64 floats; bools; strings as bytes) and their type names ("u32", "str", "arr[str]",
 * "arr[arr[i32]]"), tensor listings in PyTorch order, and saving: recx.gguf.save(path,
 * {metadata = {{key, type, value}, ...}, tensors = {{name, tensor, type = "F16"}, ...}}). The
 * writer being filled is owned by a userdata, so an argument error raised half way frees it.
 */
#include "recx_lua.h"

#include <stdlib.h>
#include <string.h>

#define GGUF_MT "recx.gguf"
#define WRITER_MT "recx.gguf.writer"

typedef struct gguf_box {
    rx_gguf *g; /* NULL until opened and once closed */
} gguf_box;

typedef struct writer_box {
    rx_gguf_writer *w;
} writer_box;

static rx_gguf *check_file(lua_State *L, int idx)
{
    gguf_box *b = luaL_testudata(L, idx, GGUF_MT);
    if (!b) rxl_arg_error(L, idx, "expected a GGUF file (recx.gguf.open(path)), got %s", luaL_typename(L, idx));
    if (!b->g) rxl_arg_error(L, idx, "the GGUF file was closed");
    return b->g;
}

static const char *check_string(lua_State *L, int idx, const char *what)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        rxl_arg_error(L, idx, "expected %s (a string), got %s", what, luaL_typename(L, idx));
    return lua_tostring(L, idx);
}

/* open(path) -> file */
static int gg_open(lua_State *L)
{
    const char *path = check_string(L, 1, "a file path");
    gguf_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->g = NULL;
    luaL_setmetatable(L, GGUF_MT);
    rxl_check_status(L, rx_gguf_open(path, &b->g));
    return 1;
}

static int gg_close(lua_State *L)
{
    gguf_box *b = luaL_checkudata(L, 1, GGUF_MT);
    rx_gguf *g = b->g;
    b->g = NULL;
    rx_gguf_close(g);
    return 0;
}

static int gg_version(lua_State *L)
{
    lua_pushinteger(L, rx_gguf_version(check_file(L, 1)));
    return 1;
}

/* ---- metadata ---- */

/* Pushes element j of v (the value itself when v is a scalar, j = 0). */
static void push_elem(lua_State *L, const rx_gguf_value *v, int64_t j);

static void push_value(lua_State *L, const rx_gguf_value *v)
{
    if (rx_gguf_value_type(v) != RX_GGUF_ARR) {
        push_elem(L, v, 0);
        return;
    }
    int64_t n = rx_gguf_value_len(v);
    luaL_checkstack(L, 4, "gguf: metadata nested too deeply");
    lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
    for (int64_t j = 0; j < n; j++) {
        push_elem(L, v, j);
        lua_rawseti(L, -2, j + 1);
    }
}

static void push_elem(lua_State *L, const rx_gguf_value *v, int64_t j)
{
    rx_gguf_type t = rx_gguf_value_elem_type(v);
    switch (t) {
    case RX_GGUF_STR: {
        const char *s;
        int64_t len;
        rxl_check_status(L, rx_gguf_value_string(v, j, &s, &len));
        lua_pushlstring(L, s, (size_t)len);
        return;
    }
    case RX_GGUF_BOOL: {
        int b;
        rxl_check_status(L, rx_gguf_value_bool(v, j, &b));
        lua_pushboolean(L, b);
        return;
    }
    case RX_GGUF_F32:
    case RX_GGUF_F64: {
        double d;
        rxl_check_status(L, rx_gguf_value_float(v, j, &d));
        lua_pushnumber(L, d);
        return;
    }
    case RX_GGUF_ARR: {
        const rx_gguf_value *inner;
        rxl_check_status(L, rx_gguf_value_array(v, j, &inner));
        push_value(L, inner);
        return;
    }
    default: {
        int64_t x;
        if (rx_gguf_value_int(v, j, &x) == RX_OK) {
            lua_pushinteger(L, x);
        } else { /* a u64 above math.maxinteger */
            double d;
            rxl_check_status(L, rx_gguf_value_float(v, j, &d));
            lua_pushnumber(L, d);
        }
        rx_clear_error();
        return;
    }
    }
}

/* "u32", "arr[str]", "arr[arr[i32]]" (an empty array of arrays: "arr[arr]"). */
static void push_type_name(lua_State *L, const rx_gguf_value *v)
{
    rx_gguf_type t = rx_gguf_value_type(v);
    if (t != RX_GGUF_ARR) {
        lua_pushstring(L, rx_gguf_type_name(t));
        return;
    }
    rx_gguf_type e = rx_gguf_value_elem_type(v);
    const rx_gguf_value *inner = NULL;
    if (e == RX_GGUF_ARR && rx_gguf_value_len(v) > 0 && rx_gguf_value_array(v, 0, &inner) == RX_OK) {
        luaL_checkstack(L, 4, "gguf: metadata nested too deeply");
        lua_pushstring(L, "arr[");
        push_type_name(L, inner);
        lua_pushstring(L, "]");
        lua_concat(L, 3);
        return;
    }
    lua_pushfstring(L, "arr[%s]", rx_gguf_type_name(e));
}

/* g:metadata() -> {key = value} */
static int gg_metadata(lua_State *L)
{
    rx_gguf *g = check_file(L, 1);
    int64_t n = rx_gguf_kv_count(g);
    lua_createtable(L, 0, (int)n);
    for (int64_t i = 0; i < n; i++) {
        push_value(L, rx_gguf_kv_value(g, i));
        lua_setfield(L, -2, rx_gguf_kv_key(g, i));
    }
    return 1;
}

/* g:METHOD(key): pushes what `push` makes of the value, or nil when the key is absent. */
static int push_found(lua_State *L, void (*push)(lua_State *L, const rx_gguf_value *v))
{
    rx_gguf *g = check_file(L, 1);
    const rx_gguf_value *v = rx_gguf_find(g, check_string(L, 2, "a metadata key"));
    if (v)
        push(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* g:get(key) -> value, or nil when absent */
static int gg_get(lua_State *L) { return push_found(L, push_value); }

/* g:metadata_type(key) -> "u32" | "arr[str]" | ..., or nil when absent */
static int gg_metadata_type(lua_State *L) { return push_found(L, push_type_name); }

/* g:keys() -> the metadata keys in file order */
static int gg_keys(lua_State *L)
{
    rx_gguf *g = check_file(L, 1);
    int64_t n = rx_gguf_kv_count(g);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushstring(L, rx_gguf_kv_key(g, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---- tensors ---- */

static void push_info(lua_State *L, const rx_gguf_tensor_info *info)
{
    lua_createtable(L, 0, 5);
    lua_pushstring(L, info->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, info->type_name);
    lua_setfield(L, -2, "type");
    lua_createtable(L, info->ndim, 0);
    for (int d = 0; d < info->ndim; d++) {
        lua_pushinteger(L, info->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
    lua_setfield(L, -2, "shape");
    lua_pushinteger(L, info->nbytes);
    lua_setfield(L, -2, "nbytes");
    lua_pushinteger(L, info->offset);
    lua_setfield(L, -2, "offset");
}

/* g:tensors() -> {{name=, type=, shape=, nbytes=, offset=}, ...} in file order */
static int gg_tensors(lua_State *L)
{
    rx_gguf *g = check_file(L, 1);
    int64_t n = rx_gguf_tensor_count(g);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        rx_gguf_tensor_info info;
        rxl_check_status(L, rx_gguf_tensor_info_at(g, i, &info));
        push_info(L, &info);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* g:tensor_info(name) -> {name=, type=, shape=, nbytes=, offset=}, or nil when absent */
static int gg_tensor_info(lua_State *L)
{
    rx_gguf *g = check_file(L, 1);
    int64_t i = rx_gguf_tensor_find(g, check_string(L, 2, "a tensor name"));
    if (i < 0) {
        lua_pushnil(L);
        return 1;
    }
    rx_gguf_tensor_info info;
    rxl_check_status(L, rx_gguf_tensor_info_at(g, i, &info));
    push_info(L, &info);
    return 1;
}

/* g:load(name [, {dtype = "f32", device = "cpu"}]) -> tensor */
static int gg_load(lua_State *L)
{
    rx_gguf *g = check_file(L, 1);
    const char *name = check_string(L, 2, "a tensor name");
    rx_dtype dtype = RX_F32;
    rx_device device;
    rxl_check_opts(L, 3, &dtype, &device, NULL);
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_gguf_load(g, name, dtype, device, out));
    rxl_note_tensor(L, *out);
    return 1;
}

static int gg_count(lua_State *L)
{
    lua_pushinteger(L, rx_gguf_tensor_count(check_file(L, 1)));
    return 1;
}

static int gg_tostring(lua_State *L)
{
    gguf_box *b = luaL_checkudata(L, 1, GGUF_MT);
    if (!b->g)
        lua_pushstring(L, "gguf(closed)");
    else
        lua_pushfstring(L, "gguf(v%d, %I metadata, %I tensors)", rx_gguf_version(b->g),
                        (lua_Integer)rx_gguf_kv_count(b->g), (lua_Integer)rx_gguf_tensor_count(b->g));
    return 1;
}

/* ---- save ---- */

static int writer_gc(lua_State *L)
{
    writer_box *b = luaL_checkudata(L, 1, WRITER_MT);
    rx_gguf_writer_free(b->w);
    b->w = NULL;
    return 0;
}

/* A scratch buffer owned by Lua (pushed on the stack), so errors cannot leak it. */
static void *scratch(lua_State *L, size_t size) { return lua_newuserdatauv(L, size > 0 ? size : 1, 0); }

/* Parses a type name: scalar types, or "arr[T]" with *is_array set. */
static int parse_type(const char *s, int *is_array)
{
    *is_array = 0;
    size_t n = strlen(s);
    char inner[16];
    if (n > 5 && strncmp(s, "arr[", 4) == 0 && s[n - 1] == ']' && n - 5 < sizeof inner) {
        memcpy(inner, s + 4, n - 5);
        inner[n - 5] = 0;
        *is_array = 1;
        s = inner;
    }
    for (int t = 0; t <= RX_GGUF_F64; t++)
        if (t != RX_GGUF_ARR && strcmp(rx_gguf_type_name((rx_gguf_type)t), s) == 0) return t;
    return -1;
}


/* The integer at idx (exact floats accepted) for metadata entry k, or raises. */
static int64_t entry_int(lua_State *L, int idx, int k, const char *key, const char *type)
{
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok || lua_type(L, idx) != LUA_TNUMBER)
        rxl_arg_error(L, 2, "metadata[%d] ('%s'): expected an integer for type %s, got %s", k, key, type,
                      lua_type(L, idx) == LUA_TNUMBER ? "a non-integer number" : luaL_typename(L, idx));
    return v;
}

/* Raises unless `ok`: the value at idx of metadata entry k is not `what` (a scalar of type tname). */
static void check_scalar(lua_State *L, int ok, int idx, int k, const char *key, const char *what, const char *tname)
{
    if (!ok)
        rxl_arg_error(L, 2, "metadata[%d] ('%s'): expected %s for type %s, got %s", k, key, what, tname,
                      luaL_typename(L, idx));
}

/* Raises unless `ok`: element i (0-based, on top of the stack) of metadata entry k's list is not `what`. */
static void check_elem(lua_State *L, int ok, int k, const char *key, int64_t i, const char *what)
{
    if (!ok)
        rxl_arg_error(L, 2, "metadata[%d] ('%s'): element %lld: expected %s, got %s", k, key, (long long)i + 1, what,
                      luaL_typename(L, -1));
}

static void add_entry(lua_State *L, rx_gguf_writer *w, int k)
{
    /* the entry table is on top of the stack */
    int e = lua_gettop(L);
    if (!lua_istable(L, e))
        rxl_arg_error(L, 2, "metadata[%d]: expected {key, type, value}, got %s", k, luaL_typename(L, e));
    lua_rawgeti(L, e, 1);
    lua_rawgeti(L, e, 2);
    lua_rawgeti(L, e, 3);
    if (lua_type(L, e + 1) != LUA_TSTRING)
        rxl_arg_error(L, 2, "metadata[%d]: expected a key (string) first, got %s", k, luaL_typename(L, e + 1));
    const char *key = lua_tostring(L, e + 1);
    if (lua_type(L, e + 2) != LUA_TSTRING)
        rxl_arg_error(L, 2, "metadata[%d] ('%s'): expected a type name (\"u32\", \"str\", \"arr[i32]\", ...) second, got %s",
                      k, key, luaL_typename(L, e + 2));
    const char *tname = lua_tostring(L, e + 2);
    int is_array;
    int t = parse_type(tname, &is_array);
    if (t < 0)
        rxl_arg_error(L, 2,
                      "metadata[%d] ('%s'): unknown type '%s' (expected u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool "
                      "str, or arr[T] of one of them)",
                      k, key, tname);
    int v = e + 3;
    rx_status s;
    if (!is_array) {
        if (t == RX_GGUF_STR) {
            check_scalar(L, lua_type(L, v) == LUA_TSTRING, v, k, key, "a string", tname);
            size_t len;
            const char *str = lua_tolstring(L, v, &len);
            s = rx_gguf_writer_add_string(w, key, str, (int64_t)len);
        } else if (t == RX_GGUF_BOOL) {
            check_scalar(L, lua_isboolean(L, v), v, k, key, "a boolean", tname);
            s = rx_gguf_writer_add_int(w, key, RX_GGUF_BOOL, lua_toboolean(L, v));
        } else if (t == RX_GGUF_F32 || t == RX_GGUF_F64) {
            check_scalar(L, lua_type(L, v) == LUA_TNUMBER, v, k, key, "a number", tname);
            s = rx_gguf_writer_add_float(w, key, (rx_gguf_type)t, lua_tonumber(L, v));
        } else {
            s = rx_gguf_writer_add_int(w, key, (rx_gguf_type)t, entry_int(L, v, k, key, tname));
        }
        rxl_check_status(L, s);
        lua_settop(L, e);
        return;
    }
    check_scalar(L, lua_istable(L, v), v, k, key, "a table (list)", tname);
    int64_t n = (int64_t)lua_rawlen(L, v);
    if (t == RX_GGUF_STR) {
        const char **strs = scratch(L, sizeof *strs * (size_t)n);
        int64_t *lens = scratch(L, sizeof *lens * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            lua_rawgeti(L, v, i + 1);
            check_elem(L, lua_type(L, -1) == LUA_TSTRING, k, key, i, "a string");
            size_t len;
            strs[i] = lua_tolstring(L, -1, &len); /* kept alive by the list */
            lens[i] = (int64_t)len;
            lua_pop(L, 1);
        }
        s = rx_gguf_writer_add_string_array(w, key, n, strs, lens);
    } else if (t == RX_GGUF_F32 || t == RX_GGUF_F64) {
        double *vals = scratch(L, sizeof *vals * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            lua_rawgeti(L, v, i + 1);
            check_elem(L, lua_type(L, -1) == LUA_TNUMBER, k, key, i, "a number");
            vals[i] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        s = rx_gguf_writer_add_float_array(w, key, (rx_gguf_type)t, n, vals);
    } else {
        int64_t *vals = scratch(L, sizeof *vals * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            lua_rawgeti(L, v, i + 1);
            if (t == RX_GGUF_BOOL) {
                check_elem(L, lua_isboolean(L, -1), k, key, i, "a boolean");
                vals[i] = lua_toboolean(L, -1);
            } else {
                vals[i] = entry_int(L, -1, k, key, tname);
            }
            lua_pop(L, 1);
        }
        s = rx_gguf_writer_add_int_array(w, key, (rx_gguf_type)t, n, vals);
    }
    rxl_check_status(L, s);
    lua_settop(L, e);
}

static void add_tensor_entry(lua_State *L, rx_gguf_writer *w, int k)
{
    int e = lua_gettop(L);
    if (!lua_istable(L, e))
        rxl_arg_error(L, 2, "tensors[%d]: expected {name, tensor, type = \"F32\"}, got %s", k, luaL_typename(L, e));
    lua_rawgeti(L, e, 1);
    lua_rawgeti(L, e, 2);
    lua_getfield(L, e, "type");
    if (lua_type(L, e + 1) != LUA_TSTRING)
        rxl_arg_error(L, 2, "tensors[%d]: expected a name (string) first, got %s", k, luaL_typename(L, e + 1));
    const char *name = lua_tostring(L, e + 1);
    if (!luaL_testudata(L, e + 2, RXL_TENSOR_MT))
        rxl_arg_error(L, 2, "tensors[%d] ('%s'): expected a tensor second, got %s", k, name, luaL_typename(L, e + 2));
    rx_tensor *t = rxl_to_tensor(L, e + 2);
    if (!t) rxl_arg_error(L, 2, "tensors[%d] ('%s'): tensor was released", k, name);
    int type;
    if (lua_isnil(L, e + 3)) {
        rx_dtype dt = rx_tensor_dtype(t);
        type = dt == RX_F16 ? 1 : dt == RX_BF16 ? 30 : 0;
    } else {
        const char *tn = lua_type(L, e + 3) == LUA_TSTRING ? lua_tostring(L, e + 3) : NULL;
        type = tn ? rx_ggml_type_from_name(tn) : -1;
        if (type != 0 && type != 1 && type != 30)
            rxl_arg_error(L, 2, "tensors[%d] ('%s'): type: expected \"F32\", \"F16\" or \"BF16\", got %s", k, name,
                          tn ? tn : luaL_typename(L, e + 3));
    }
    rxl_check_status(L, rx_gguf_writer_add_tensor(w, name, t, type));
    lua_settop(L, e);
}

/* Adds each entry k of the list opts[field] (opts at index 2) with add(L, w, k), the entry on top. */
static void add_list(lua_State *L, rx_gguf_writer *w, const char *field,
                     void (*add)(lua_State *L, rx_gguf_writer *w, int k))
{
    lua_getfield(L, 2, field);
    int list = lua_gettop(L);
    if (lua_istable(L, list)) {
        int n = (int)lua_rawlen(L, list);
        for (int k = 1; k <= n; k++) {
            lua_rawgeti(L, list, k);
            add(L, w, k);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

/* save(path, {metadata = {{key, type, value}, ...}, tensors = {{name, tensor, type = "F16"}, ...}}) */
static int gg_save(lua_State *L)
{
    const char *path = check_string(L, 1, "a file path");
    if (!lua_istable(L, 2))
        return rxl_arg_error(L, 2, "expected a table {metadata = {...}, tensors = {...}}, got %s",
                             luaL_typename(L, 2));
    lua_settop(L, 2);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!k || (strcmp(k, "metadata") != 0 && strcmp(k, "tensors") != 0))
            return rxl_arg_error(L, 2, "unknown field '%s' (expected metadata, tensors)",
                                 k ? k : luaL_typename(L, -2));
        if (!lua_istable(L, -1)) return rxl_arg_error(L, 2, "%s: expected a list, got %s", k, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    writer_box *b = lua_newuserdatauv(L, sizeof *b, 0); /* 3 */
    b->w = NULL;
    luaL_setmetatable(L, WRITER_MT);
    rxl_check_status(L, rx_gguf_writer_new(&b->w));
    add_list(L, b->w, "metadata", add_entry);
    add_list(L, b->w, "tensors", add_tensor_entry);
    rx_status s = rx_gguf_writer_write(b->w, path);
    rx_gguf_writer_free(b->w);
    b->w = NULL;
    rxl_check_status(L, s);
    return 0;
}

static const luaL_Reg file_methods[] = {
    {"version", gg_version},   {"metadata", gg_metadata},       {"get", gg_get},
    {"keys", gg_keys},         {"metadata_type", gg_metadata_type}, {"tensors", gg_tensors},
    {"tensor_info", gg_tensor_info}, {"load", gg_load},         {"count", gg_count},
    {"close", gg_close},       {NULL, NULL},
};

static const luaL_Reg gguf_functions[] = {
    {"open", gg_open},
    {"save", gg_save},
    {NULL, NULL},
};

void rxl_open_gguf(lua_State *L)
{
    luaL_newmetatable(L, GGUF_MT);
    lua_pushcfunction(L, gg_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gg_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, gg_count);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, gg_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_newtable(L);
    rxl_set_funcs(L, file_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, WRITER_MT);
    lua_pushcfunction(L, writer_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    rxl_set_funcs(L, gguf_functions);
    lua_setfield(L, -2, "gguf");
}
