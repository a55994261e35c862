/* safetensors.c — .safetensors files from Lua (recx.safetensors).
 *
 * Owns: the file handle userdata (an open, validated, memory-mapped file: created closed before
 * it is opened, __gc = __close = close, idempotent; tensors already taken stay valid because
 * each keeps the mapping alive), and the Lua forms of saving (a map name -> tensor written in
 * name order, or a list of {name, tensor} pairs written in list order; string metadata) and
 * loading (every tensor and the metadata as tables). Writing is atomic (rx_safetensors_save):
 * a failed or interrupted save leaves an existing file as it was.
 */
#include "recx_lua.h"

#include <stdlib.h>
#include <string.h>

#define SAFETENSORS_MT "recx.safetensors"

typedef struct file_box {
    rx_safetensors *f; /* NULL until opened and once closed */
} file_box;

static rx_safetensors *check_file(lua_State *L, int idx)
{
    file_box *b = luaL_testudata(L, idx, SAFETENSORS_MT);
    if (!b)
        rxl_arg_error(L, idx, "expected a safetensors file (recx.safetensors.open(path)), got %s",
                      luaL_typename(L, idx));
    if (!b->f) rxl_arg_error(L, idx, "the safetensors file was closed");
    return b->f;
}

static const char *check_string(lua_State *L, int idx, const char *what)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        rxl_arg_error(L, idx, "expected %s (a string), got %s", what, luaL_typename(L, idx));
    return lua_tostring(L, idx);
}

/* open(path) -> file */
static int st_open(lua_State *L)
{
    const char *path = check_string(L, 1, "a file path");
    file_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->f = NULL;
    luaL_setmetatable(L, SAFETENSORS_MT);
    rxl_check_status(L, rx_safetensors_open(path, &b->f));
    return 1;
}

static int st_close(lua_State *L)
{
    file_box *b = luaL_checkudata(L, 1, SAFETENSORS_MT);
    rx_safetensors *f = b->f;
    b->f = NULL;
    rx_safetensors_close(f);
    return 0;
}

/* f:count() or #f -> number of tensors */
static int st_count(lua_State *L)
{
    lua_pushinteger(L, rx_safetensors_count(check_file(L, 1)));
    return 1;
}

/* f:names() -> the tensor names in file order */
static int st_names(lua_State *L)
{
    rx_safetensors *f = check_file(L, 1);
    int64_t n = rx_safetensors_count(f);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushstring(L, rx_safetensors_name(f, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* f:get(name) -> a CPU tensor viewing the file (no copy) */
static int st_get(lua_State *L)
{
    rx_safetensors *f = check_file(L, 1);
    const char *name = check_string(L, 2, "a tensor name");
    rx_tensor **out = rxl_push_slot(L);
    rxl_check_status(L, rx_safetensors_get(f, name, out));
    return 1;
}

static void push_metadata(lua_State *L, rx_safetensors *f)
{
    int64_t n = rx_safetensors_metadata_count(f);
    lua_createtable(L, 0, (int)n);
    for (int64_t i = 0; i < n; i++) {
        const char *key = rx_safetensors_metadata_key(f, i);
        lua_pushstring(L, rx_safetensors_metadata(f, key));
        lua_setfield(L, -2, key);
    }
}

/* f:metadata() -> {key = value}; f:metadata(key) -> value or nil */
static int st_metadata(lua_State *L)
{
    rx_safetensors *f = check_file(L, 1);
    if (lua_isnoneornil(L, 2)) {
        push_metadata(L, f);
        return 1;
    }
    const char *v = rx_safetensors_metadata(f, check_string(L, 2, "a metadata key"));
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int st_tostring(lua_State *L)
{
    file_box *b = luaL_checkudata(L, 1, SAFETENSORS_MT);
    if (!b->f)
        lua_pushstring(L, "safetensors(closed)");
    else
        lua_pushfstring(L, "safetensors(%I tensors)", (lua_Integer)rx_safetensors_count(b->f));
    return 1;
}

/* load(path) -> {name = tensor}, {key = value}: every tensor (viewing the mapping) and the
 * metadata; the file handle is closed before returning */
static int st_load(lua_State *L)
{
    const char *path = check_string(L, 1, "a file path");
    lua_settop(L, 1);
    file_box *b = lua_newuserdatauv(L, sizeof *b, 0); /* 2: closes the file on any error */
    b->f = NULL;
    luaL_setmetatable(L, SAFETENSORS_MT);
    rxl_check_status(L, rx_safetensors_open(path, &b->f));
    int64_t n = rx_safetensors_count(b->f);
    lua_createtable(L, 0, (int)n); /* 3 */
    for (int64_t i = 0; i < n; i++) {
        const char *name = rx_safetensors_name(b->f, i);
        rx_tensor **out = rxl_push_slot(L);
        rxl_check_status(L, rx_safetensors_get(b->f, name, out));
        lua_setfield(L, 3, name);
    }
    push_metadata(L, b->f); /* 4 */
    rx_safetensors_close(b->f);
    b->f = NULL;
    return 2;
}

typedef struct named_tensor {
    const char *name;
    rx_tensor *t;
} named_tensor;

typedef struct key_value {
    const char *key, *value;
} key_value;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const named_tensor *)a)->name, ((const named_tensor *)b)->name);
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const key_value *)a)->key, ((const key_value *)b)->key);
}

/* save(path, tensors [, metadata]): tensors is {name = tensor} (written in name order) or
 * {{name, tensor}, ...} (written in that order); metadata is {key = string} */
static int st_save(lua_State *L)
{
    const char *path = check_string(L, 1, "a file path");
    if (!lua_istable(L, 2))
        return rxl_arg_error(L, 2, "expected a table {name = tensor} or {{name, tensor}, ...}, got %s",
                             luaL_typename(L, 2));
    if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
        return rxl_arg_error(L, 3, "expected a metadata table {key = string} or nil, got %s",
                             luaL_typename(L, 3));
    lua_settop(L, 3);
    int as_list = lua_rawlen(L, 2) > 0;
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        n++;
        lua_pop(L, 1);
    }
    named_tensor *items = lua_newuserdatauv(L, sizeof *items * (size_t)(n > 0 ? n : 1), 0); /* 4 */
    int k = 0;
    if (as_list) {
        if ((int)lua_rawlen(L, 2) != n)
            return rxl_arg_error(L, 2, "a list of {name, tensor} pairs must have no other keys");
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, 2, i + 1);
            if (!lua_istable(L, -1))
                return rxl_arg_error(L, 2, "entry %d: expected {name, tensor}, got %s", i + 1,
                                     luaL_typename(L, -1));
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (lua_type(L, -2) != LUA_TSTRING)
                return rxl_arg_error(L, 2, "entry %d: expected a name (string) first, got %s", i + 1,
                                     luaL_typename(L, -2));
            if (!luaL_testudata(L, -1, RXL_TENSOR_MT))
                return rxl_arg_error(L, 2, "entry %d: expected a tensor second, got %s", i + 1,
                                     luaL_typename(L, -1));
            items[k].name = lua_tostring(L, -2); /* kept alive by the entry, kept alive by argument #2 */
            items[k].t = rxl_to_tensor(L, -1);
            if (!items[k].t)
                return rxl_arg_error(L, 2, "entry %d ('%s'): tensor was released", i + 1, items[k].name);
            k++;
            lua_pop(L, 3);
        }
    } else {
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return rxl_arg_error(L, 2, "expected string keys (tensor names), got a %s key",
                                     luaL_typename(L, -2));
            if (!luaL_testudata(L, -1, RXL_TENSOR_MT))
                return rxl_arg_error(L, 2, "'%s': expected a tensor, got %s", lua_tostring(L, -2),
                                     luaL_typename(L, -1));
            items[k].name = lua_tostring(L, -2);
            items[k].t = rxl_to_tensor(L, -1);
            if (!items[k].t) return rxl_arg_error(L, 2, "'%s': tensor was released", items[k].name);
            k++;
            lua_pop(L, 1);
        }
        qsort(items, (size_t)n, sizeof *items, by_name);
    }
    int n_meta = 0;
    if (!lua_isnil(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return rxl_arg_error(
                    L, 3, "metadata: expected string keys and string values, got a %s key with a %s value",
                    luaL_typename(L, -2), luaL_typename(L, -1));
            n_meta++;
            lua_pop(L, 1);
        }
    }
    const char **names = lua_newuserdatauv(L, sizeof *names * (size_t)(n + 1), 0);
    rx_tensor **tensors = lua_newuserdatauv(L, sizeof *tensors * (size_t)(n + 1), 0);
    key_value *meta = lua_newuserdatauv(L, sizeof *meta * (size_t)(n_meta + 1), 0);
    const char **keys = lua_newuserdatauv(L, sizeof *keys * (size_t)(n_meta + 1), 0);
    const char **values = lua_newuserdatauv(L, sizeof *values * (size_t)(n_meta + 1), 0);
    for (int i = 0; i < n; i++) {
        names[i] = items[i].name;
        tensors[i] = items[i].t;
    }
    if (n_meta > 0) {
        int j = 0;
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            meta[j].key = lua_tostring(L, -2);
            meta[j].value = lua_tostring(L, -1);
            j++;
            lua_pop(L, 1);
        }
        qsort(meta, (size_t)n_meta, sizeof *meta, by_key);
        for (int i = 0; i < n_meta; i++) {
            keys[i] = meta[i].key;
            values[i] = meta[i].value;
        }
    }
    rxl_check_status(L, rx_safetensors_save(path, n, names, tensors, n_meta, keys, values));
    return 0;
}

static const luaL_Reg file_methods[] = {
    {"count", st_count},       {"names", st_names}, {"get", st_get},
    {"metadata", st_metadata}, {"close", st_close}, {NULL, NULL},
};

static const luaL_Reg safetensors_functions[] = {
    {"open", st_open},
    {"load", st_load},
    {"save", st_save},
    {NULL, NULL},
};

void rxl_open_safetensors(lua_State *L)
{
    luaL_newmetatable(L, SAFETENSORS_MT);
    lua_pushcfunction(L, st_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, st_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, st_count);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, st_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_newtable(L);
    rxl_set_funcs(L, file_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_newtable(L);
    rxl_set_funcs(L, safetensors_functions);
    lua_setfield(L, -2, "safetensors");
}
