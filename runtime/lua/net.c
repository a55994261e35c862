/* net.c — recx.core.net: HTTP downloads, SHA-256 and zip archives from Lua.
 *
 * Owns: argument checking and the Lua forms of runtime/net and runtime/io/zip.c:
 *   net.download(url, path [, opts]) -> result       raises on failure
 *   net.try_download(url, path [, opts]) -> result | nil, message, result
 *   net.get(url [, opts]) -> body, result             raises on failure
 *   net.try_get(url [, opts]) -> body, result | nil, message, result
 *   net.sha256(string) -> hex, net.sha256_file(path) -> hex
 *   net.sleep(seconds) (for retry back-off; a signal ends it early)
 *   net.zip_open(path) -> archive: #a, a:entries(), a:find(name), a:extract(name | index, dest),
 *     a:close() (idempotent; also __gc and __close)
 * opts: resume (download only), headers = {"Name: value", ...}, connect_timeout, timeout,
 * low_speed_time, low_speed_limit (seconds, bytes/s), max_bytes (get only, default 64 MiB),
 * progress = function(done, total|nil) (return false to stop the transfer). result: status,
 * curl_code, bytes, resumed, content_length, etag, linked_etag, linked_size, retry_after (absent
 * fields are nil).
 *
 * The progress function runs under lua_pcall inside libcurl's callback: an error there (Ctrl-C's
 * "interrupted!" included) is kept, the transfer is aborted through libcurl, and the error is
 * raised once curl has returned, so no longjmp crosses libcurl's frames. Interrupts and callback
 * errors are raised by the try_ forms too: only network and HTTP failures come back as nil.
 */
#include "recx_lua.h"

#include <string.h>
#include <time.h>

#define ZIP_MT "recx.zip"
#define GET_DEFAULT_MAX (64LL << 20)

typedef struct progress_ctx {
    lua_State *L;
    int fn;      /* stack index of the Lua function, 0 when none */
    int err_ref; /* registry ref of the callback's error, LUA_NOREF when none */
} progress_ctx;

static int call_progress(void *ud, int64_t done, int64_t total)
{
    progress_ctx *p = ud;
    lua_State *L = p->L;
    if (!lua_checkstack(L, 4)) return 1;
    lua_pushvalue(L, p->fn);
    lua_pushinteger(L, (lua_Integer)done);
    if (total >= 0)
        lua_pushinteger(L, (lua_Integer)total);
    else
        lua_pushnil(L);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        p->err_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 1;
    }
    int stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    return stop;
}

static const char *const http_keys[] = {"resume", "headers", "connect_timeout", "timeout", "low_speed_time",
                                        "low_speed_limit", "progress", "max_bytes", NULL};

static double opt_seconds(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    double v = 0;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0)
            rxl_arg_error(L, idx, "option '%s': expected a number >= 0, got %s", key, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Reads the options table at idx into o. Leaves on the stack what must live through the
 * transfer: the progress function (its index in p->fn) and the header list (a userdata, so an
 * error frees it). */
static void check_http_opts(lua_State *L, int idx, rx_http_opts *o, progress_ctx *p, int64_t *max_bytes,
                            int for_download)
{
    memset(o, 0, sizeof *o);
    p->L = L;
    p->fn = 0;
    p->err_ref = LUA_NOREF;
    *max_bytes = GET_DEFAULT_MAX;
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return;
    }
    if (!lua_istable(L, idx)) rxl_arg_error(L, idx, "expected an options table, got %s", luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; http_keys[i]; i++) known |= strcmp(lua_tostring(L, -1), http_keys[i]) == 0;
        if (!known)
            rxl_arg_error(L, idx, "unknown option '%s'", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    }
    o->connect_timeout = opt_seconds(L, idx, "connect_timeout");
    o->timeout = opt_seconds(L, idx, "timeout");
    o->low_speed_time = opt_seconds(L, idx, "low_speed_time");
    o->low_speed_limit = (int64_t)opt_seconds(L, idx, "low_speed_limit");
    lua_getfield(L, idx, "resume");
    if (!lua_isnil(L, -1) && !for_download) rxl_arg_error(L, idx, "option 'resume' is for download only");
    o->resume = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "max_bytes");
    if (!lua_isnil(L, -1)) {
        if (for_download) rxl_arg_error(L, idx, "option 'max_bytes' is for get only");
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) <= 0)
            rxl_arg_error(L, idx, "option 'max_bytes': expected a positive integer");
        *max_bytes = (int64_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "progress");
    if (!lua_isnil(L, -1)) {
        if (!lua_isfunction(L, -1))
            rxl_arg_error(L, idx, "option 'progress': expected a function, got %s", luaL_typename(L, -1));
        p->fn = lua_gettop(L); /* the function stays on the stack for the whole call */
        o->progress = call_progress;
        o->progress_ud = p;
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, idx, "headers");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return;
    }
    if (!lua_istable(L, -1)) rxl_arg_error(L, idx, "option 'headers': expected a list of strings");
    int ht = lua_gettop(L);
    lua_Integer n = luaL_len(L, ht);
    const char **list = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, ht, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            rxl_arg_error(L, idx, "option 'headers': entry %d: expected a string, got %s", (int)i,
                          luaL_typename(L, -1));
        list[i - 1] = lua_tostring(L, -1); /* anchored by the headers table */
        lua_pop(L, 1);
    }
    list[n] = NULL;
    o->headers = list;
    lua_remove(L, ht); /* the userdata stays; the table stays anchored in opts */
}

static void push_result(lua_State *L, const rx_http_result *r)
{
    lua_createtable(L, 0, 9);
    lua_pushinteger(L, r->status);
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, r->curl_code);
    lua_setfield(L, -2, "curl_code");
    lua_pushinteger(L, (lua_Integer)r->bytes);
    lua_setfield(L, -2, "bytes");
    lua_pushboolean(L, r->resumed);
    lua_setfield(L, -2, "resumed");
    if (r->content_length >= 0) {
        lua_pushinteger(L, (lua_Integer)r->content_length);
        lua_setfield(L, -2, "content_length");
    }
    if (r->etag[0]) {
        lua_pushstring(L, r->etag);
        lua_setfield(L, -2, "etag");
    }
    if (r->linked_etag[0]) {
        lua_pushstring(L, r->linked_etag);
        lua_setfield(L, -2, "linked_etag");
    }
    if (r->linked_size >= 0) {
        lua_pushinteger(L, (lua_Integer)r->linked_size);
        lua_setfield(L, -2, "linked_size");
    }
    if (r->retry_after >= 0) {
        lua_pushnumber(L, r->retry_after);
        lua_setfield(L, -2, "retry_after");
    }
}

/* After a transfer: raises the progress callback's error, or an interrupt; returns otherwise. */
static void raise_callback_error(lua_State *L, const progress_ctx *p, rx_status st)
{
    if (p->err_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, p->err_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, p->err_ref);
        lua_error(L);
    }
    if (st == RX_ERR_INTERRUPTED) rxl_raise(L, st);
}

/* What a transfer returns: on success the `n_ok` values pushed already and the result table; on
 * failure raises, or with `safe` returns nil, the message and the result table. */
static int transfer_results(lua_State *L, rx_status st, const rx_http_result *r, int safe, int n_ok)
{
    if (st != RX_OK && !safe) rxl_raise(L, st);
    if (st != RX_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rx_last_error());
        push_result(L, r);
        return 3;
    }
    push_result(L, r);
    return n_ok + 1;
}

static int do_download(lua_State *L, int safe)
{
    const char *url = luaL_checkstring(L, 1);
    const char *path = luaL_checkstring(L, 2);
    rx_http_opts o;
    progress_ctx p;
    int64_t max_bytes;
    check_http_opts(L, 3, &o, &p, &max_bytes, 1);
    rx_http_result r;
    rx_status st = rx_http_download(url, path, &o, &r);
    raise_callback_error(L, &p, st);
    return transfer_results(L, st, &r, safe, 0);
}

static int l_download(lua_State *L) { return do_download(L, 0); }
static int l_try_download(lua_State *L) { return do_download(L, 1); }

static int do_get(lua_State *L, int safe)
{
    const char *url = luaL_checkstring(L, 1);
    rx_http_opts o;
    progress_ctx p;
    int64_t max_bytes;
    check_http_opts(L, 2, &o, &p, &max_bytes, 0);
    rx_http_result r;
    char *body = NULL;
    int64_t len = 0;
    rx_status st = rx_http_get(url, &o, max_bytes, &body, &len, &r);
    if (st == RX_OK) {
        lua_pushlstring(L, body, (size_t)len); /* may raise a memory error: body is freed first */
        rx_http_free(body);
    }
    raise_callback_error(L, &p, st);
    return transfer_results(L, st, &r, safe, 1);
}

static int l_get(lua_State *L) { return do_get(L, 0); }
static int l_try_get(lua_State *L) { return do_get(L, 1); }

static int l_sha256(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    rx_sha256 h;
    uint8_t d[32];
    char hex[65];
    rx_sha256_init(&h);
    rx_sha256_update(&h, s, n);
    rx_sha256_final(&h, d);
    rx_sha256_hex(d, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int l_sha256_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char hex[65];
    rxl_check_status(L, rx_sha256_file(path, hex));
    lua_pushstring(L, hex);
    return 1;
}

static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    if (!(s >= 0) || s > 86400) return rxl_arg_error(L, 1, "expected seconds in [0, 86400], got %g", s);
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL); /* EINTR (Ctrl-C) ends it: the interrupt hook then raises */
    return 0;
}

/* ---- zip archives ----------------------------------------------------------------------- */
typedef struct zip_box {
    rx_zip *z; /* NULL until opened and once closed */
} zip_box;

static rx_zip *check_zip(lua_State *L, int idx)
{
    zip_box *b = luaL_testudata(L, idx, ZIP_MT);
    if (!b) rxl_arg_error(L, idx, "expected a zip archive (recx.core.net.zip_open(path)), got %s", luaL_typename(L, idx));
    if (!b->z) rxl_arg_error(L, idx, "the zip archive was closed");
    return b->z;
}

static int l_zip_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    zip_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->z = NULL;
    luaL_setmetatable(L, ZIP_MT);
    rxl_check_status(L, rx_zip_open(path, &b->z));
    return 1;
}

static int l_zip_close(lua_State *L)
{
    zip_box *b = luaL_checkudata(L, 1, ZIP_MT);
    rx_zip_close(b->z);
    b->z = NULL;
    return 0;
}

static int l_zip_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rx_zip_count(check_zip(L, 1)));
    return 1;
}

static int l_zip_entries(lua_State *L)
{
    rx_zip *z = check_zip(L, 1);
    int64_t n = rx_zip_count(z);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        rx_zip_entry e;
        rxl_check_status(L, rx_zip_entry_at(z, i, &e));
        lua_createtable(L, 0, 5);
        lua_pushstring(L, e.name);
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, e.method);
        lua_setfield(L, -2, "method");
        lua_pushinteger(L, (lua_Integer)e.size);
        lua_setfield(L, -2, "size");
        lua_pushinteger(L, (lua_Integer)e.compressed_size);
        lua_setfield(L, -2, "compressed_size");
        lua_pushinteger(L, (lua_Integer)e.crc32);
        lua_setfield(L, -2, "crc32");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int l_zip_find(lua_State *L)
{
    rx_zip *z = check_zip(L, 1);
    int64_t i = rx_zip_find(z, luaL_checkstring(L, 2));
    if (i < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, (lua_Integer)i + 1);
    return 1;
}

/* a:extract(name | index, dest) */
static int l_zip_extract(lua_State *L)
{
    rx_zip *z = check_zip(L, 1);
    int64_t i;
    if (lua_type(L, 2) == LUA_TSTRING) {
        i = rx_zip_find(z, lua_tostring(L, 2));
        if (i < 0) return rxl_arg_error(L, 2, "no member '%s' in the archive", lua_tostring(L, 2));
    } else {
        i = (int64_t)rxl_check_integer(L, 2, "member index") - 1;
        if (i < 0 || i >= rx_zip_count(z))
            return rxl_arg_error(L, 2, "member index %lld out of range (1..%lld)", (long long)i + 1,
                                 (long long)rx_zip_count(z));
    }
    const char *dest = luaL_checkstring(L, 3);
    rxl_check_status(L, rx_zip_extract(z, i, dest));
    return 0;
}

static const luaL_Reg zip_methods[] = {
    {"entries", l_zip_entries}, {"find", l_zip_find}, {"extract", l_zip_extract}, {"close", l_zip_close},
    {NULL, NULL},
};

static const luaL_Reg net_functions[] = {
    {"download", l_download}, {"try_download", l_try_download}, {"get", l_get},
    {"try_get", l_try_get},   {"sha256", l_sha256},             {"sha256_file", l_sha256_file},
    {"zip_open", l_zip_open}, {"sleep", l_sleep},                {NULL, NULL},
};

void rxl_open_net(lua_State *L)
{
    luaL_newmetatable(L, ZIP_MT);
    lua_pushcfunction(L, l_zip_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_zip_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_zip_len);
    lua_setfield(L, -2, "__len");
    lua_newtable(L);
    rxl_set_funcs(L, zip_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_newtable(L);
    rxl_set_funcs(L, net_functions);
    lua_setfield(L, -2, "net");
}
