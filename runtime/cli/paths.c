/* paths.c — where the recx executable finds its Lua library (lua/recx/ and its modules).
 *
 * Owns: choosing the lua/ directory and prepending it, and $RECX_LUA_PATH, to package.path.
 * The choice, first match wins:
 *   1. the binary runs from its build tree (its directory's parent holds CMakeCache.txt) and
 *      RECX_SOURCE_LUA_DIR (the source tree's lua/, from CMake) exists: edits to lua/ apply
 *      without a rebuild;
 *   2. <directory of the binary>/../share/recx/lua exists: an installed tree, even if moved;
 *   3. RECX_INSTALL_LUA_DIR (<prefix>/share/recx/lua, from CMake) exists;
 *   4. RECX_SOURCE_LUA_DIR exists (a binary copied out of its build tree).
 * With none, package.path is left alone and `require "recx"` reports where it looked.
 */
#include "cli.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RECX_SOURCE_LUA_DIR
#error "RECX_SOURCE_LUA_DIR must be defined by the build (see CMakeLists.txt)"
#endif
#ifndef RECX_INSTALL_LUA_DIR
#error "RECX_INSTALL_LUA_DIR must be defined by the build (see CMakeLists.txt)"
#endif

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of the running binary, or "" when /proc/self/exe cannot be read. */
static void exe_dir(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        buf[0] = '\0';
}

static int choose(char *buf, size_t size, const char *dir)
{
    int n = snprintf(buf, size, "%s", dir);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return 0;
    }
    return 1;
}

int rx_cli_lua_dir(char *buf, size_t size)
{
    char bin[PATH_MAX];
    char probe[PATH_MAX + 32];
    char resolved[PATH_MAX];
    exe_dir(bin, sizeof bin);
    if (bin[0]) {
        snprintf(probe, sizeof probe, "%s/../CMakeCache.txt", bin);
        if (is_file(probe) && is_dir(RECX_SOURCE_LUA_DIR)) return choose(buf, size, RECX_SOURCE_LUA_DIR);
        snprintf(probe, sizeof probe, "%s/../share/recx/lua", bin);
        if (is_dir(probe) && realpath(probe, resolved)) return choose(buf, size, resolved);
    }
    if (is_dir(RECX_INSTALL_LUA_DIR)) return choose(buf, size, RECX_INSTALL_LUA_DIR);
    if (is_dir(RECX_SOURCE_LUA_DIR)) return choose(buf, size, RECX_SOURCE_LUA_DIR);
    buf[0] = '\0';
    return 0;
}

/* Adds the search templates of one directory: DIR/?.lua;DIR/?/init.lua; */
static void add_dir(luaL_Buffer *b, const char *dir, size_t len)
{
    for (int i = 0; i < 2; i++) {
        luaL_addlstring(b, dir, len);
        luaL_addstring(b, i == 0 ? "/?.lua;" : "/?/init.lua;");
    }
}

/* Adds the entries of a ';' or ':' separated list: templates (with '?') as they are,
 * anything else as a directory. Empty entries are skipped. */
static void add_env_entries(luaL_Buffer *b, const char *list)
{
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ";:");
        if (len > 0) {
            if (memchr(p, '?', len)) {
                luaL_addlstring(b, p, len);
                luaL_addchar(b, ';');
            } else {
                add_dir(b, p, len);
            }
        }
        p += len;
        if (*p) p++;
    }
}

void rx_cli_setup_paths(lua_State *L)
{
    char dir[PATH_MAX];
    int have_dir = rx_cli_lua_dir(dir, sizeof dir);
    const char *env = getenv("RECX_LUA_PATH");
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *old = lua_tostring(L, -1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (env) add_env_entries(&b, env);
    if (have_dir) add_dir(&b, dir, strlen(dir));
    luaL_addstring(&b, old ? old : "");
    luaL_pushresult(&b);
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}
