/* complete.c — Tab completion of Lua names for the REPL (GNU readline).
 *
 * Owns: splitting the word before the cursor into a path and a partial name
 * ("recx.tensor.ze" -> the value recx.tensor and "ze"; "t:si" -> the methods of t), resolving
 * the path in the live Lua state, and listing candidates:
 *   - a bare word: global names and Lua keywords;
 *   - after '.': the string keys of the value when it is a table, then those of the __index
 *     tables along its metatable chain (so fields of userdata with an __index table show);
 *   - after ':': the same keys, keeping function values only (methods).
 * Lookups are raw (lua_rawget, lua_next, lua_getmetatable): pressing Tab never runs Lua code,
 * so a metamethod cannot error, loop or have side effects. Names that start with "__" are
 * offered only once the typed partial name starts with "__". No character is appended to a
 * unique match, so `recx.ten<Tab>` becomes `recx.tensor` and a '.', ':' or '(' can follow.
 */
#include "cli.h"

#include <lauxlib.h>
#include <readline/readline.h>
#include <stdlib.h>
#include <string.h>

/* The deepest chain of metatable __index tables followed. */
#define MAX_INDEX_DEPTH 8

/* Characters that end a word: everything in Lua that is not part of a dotted name. */
static const char word_breaks[] = " \t\n\"\\'`@$><=;|&{}(),+-*/%^#~[]!?";

static const char *const keywords[] = {
    "and", "break", "do",  "else", "elseif", "end",    "false",  "for",  "function", "goto",  "if",
    "in",  "local", "nil", "not",  "or",     "repeat", "return", "then", "true",     "until", "while",
};

static lua_State *complete_state;

/* Candidates of one Tab press, all sharing `prefix` (the text up to the last separator). */
typedef struct completion {
    const char *text;    /* the word being completed */
    size_t prefix_len;   /* length of the part kept as typed ("recx.tensor.") */
    const char *partial; /* the name being completed ("ze") */
    size_t partial_len;
    int methods_only;
    char **items; /* malloc'd strings, handed to readline one by one */
    size_t count, cap, next;
} completion;

static int is_keyword(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i]) == len && memcmp(keywords[i], s, len) == 0) return 1;
    return 0;
}

static int is_name_start(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

/* A Lua identifier that is not a keyword. */
static int is_name(const char *s, size_t len)
{
    if (len == 0 || !is_name_start(s[0])) return 0;
    for (size_t i = 1; i < len; i++)
        if (!is_name_char(s[i])) return 0;
    return !is_keyword(s, len);
}

/* Adds prefix + name when name starts with the partial name. Raises on memory failure (the
 * caller frees what was added). */
static void add_candidate(lua_State *L, completion *c, const char *name, size_t len)
{
    if (len < c->partial_len || memcmp(name, c->partial, c->partial_len) != 0) return;
    if (len >= 2 && name[0] == '_' && name[1] == '_' &&
        !(c->partial_len >= 2 && c->partial[0] == '_' && c->partial[1] == '_'))
        return;
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 32;
        char **items = realloc(c->items, cap * sizeof *items);
        if (!items) luaL_error(L, "completion: out of memory");
        c->items = items;
        c->cap = cap;
    }
    char *item = malloc(c->prefix_len + len + 1);
    if (!item) luaL_error(L, "completion: out of memory");
    memcpy(item, c->text, c->prefix_len);
    memcpy(item + c->prefix_len, name, len);
    item[c->prefix_len + len] = '\0';
    c->items[c->count++] = item;
}

/* Replaces the value on top of the stack with the table its metatable's __index holds, or
 * pops it and returns 0 when there is none. */
static int next_index_table(lua_State *L)
{
    if (!lua_getmetatable(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushliteral(L, "__index");
    int t = lua_rawget(L, -2);
    lua_remove(L, -2);
    lua_remove(L, -2);
    if (t != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Replaces the value on top of the stack with its field `name` (raw lookups in the value and
 * along its __index tables), or with nil. */
static void raw_field(lua_State *L, const char *name, size_t len)
{
    for (int depth = 0; depth <= MAX_INDEX_DEPTH; depth++) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushlstring(L, name, len);
            if (lua_rawget(L, -2) != LUA_TNIL) {
                lua_remove(L, -2);
                return;
            }
            lua_pop(L, 1);
        }
        if (!next_index_table(L)) {
            lua_pushnil(L);
            return;
        }
    }
    lua_pop(L, 1);
    lua_pushnil(L);
}

/* Adds the matching names of the value on top of the stack (kept there). */
static void add_fields(lua_State *L, completion *c)
{
    lua_pushvalue(L, -1);
    for (int depth = 0; depth <= MAX_INDEX_DEPTH; depth++) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                size_t len;
                if (lua_type(L, -2) == LUA_TSTRING) {
                    const char *key = lua_tolstring(L, -2, &len);
                    if (is_name(key, len) && (!c->methods_only || lua_type(L, -1) == LUA_TFUNCTION))
                        add_candidate(L, c, key, len);
                }
                lua_pop(L, 1);
            }
        }
        if (!next_index_table(L)) return;
    }
    lua_pop(L, 1);
}

/* Protected body of one completion: fills the completion passed as a light userdata. */
static int collect(lua_State *L)
{
    completion *c = lua_touserdata(L, 1);
    const char *text = c->text;
    const char *sep = NULL;
    for (const char *p = text; *p; p++)
        if (*p == '.' || *p == ':') sep = p;
    lua_pushglobaltable(L);
    if (!sep) {
        c->partial = text;
        c->partial_len = strlen(text);
        add_fields(L, c);
        for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
            add_candidate(L, c, keywords[i], strlen(keywords[i]));
        return 0;
    }
    /* The path before the last separator: names joined by '.'. */
    if (sep == text) return 0;
    const char *p = text;
    while (p < sep) {
        size_t len = strcspn(p, ".:");
        if (p + len > sep) len = (size_t)(sep - p);
        if (!is_name(p, len) || (p[len] == ':' && p + len != sep)) return 0;
        raw_field(L, p, len);
        if (lua_isnil(L, -1)) return 0;
        p += len + 1;
    }
    c->prefix_len = (size_t)(sep - text) + 1;
    c->partial = sep + 1;
    c->partial_len = strlen(sep + 1);
    c->methods_only = *sep == ':';
    add_fields(L, c);
    return 0;
}

/* readline's generator: hands out the collected candidates (readline frees them). */
static completion *current;

static char *next_candidate(const char *text, int state)
{
    (void)text;
    (void)state;
    if (!current || current->next >= current->count) return NULL;
    return current->items[current->next++];
}

static char **attempt_completion(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    rl_completion_append_character = '\0';
    lua_State *L = complete_state;
    completion c;
    memset(&c, 0, sizeof c);
    c.text = text;
    int top = lua_gettop(L);
    char **matches = NULL;
    if (lua_checkstack(L, 8)) {
        lua_pushcfunction(L, collect);
        lua_pushlightuserdata(L, &c);
        if (lua_pcall(L, 1, 0, 0) == LUA_OK && c.count > 0) {
            current = &c;
            matches = rl_completion_matches(text, next_candidate);
            current = NULL;
        }
    }
    lua_settop(L, top);
    for (size_t i = c.next; i < c.count; i++) free(c.items[i]);
    free(c.items);
    return matches;
}

void rx_cli_complete_init(lua_State *L)
{
    complete_state = L;
    rl_readline_name = "recx";
    rl_attempted_completion_function = attempt_completion;
    rl_completer_word_break_characters = (char *)word_breaks; /* char * before readline 8 */
    rl_basic_word_break_characters = (char *)word_breaks;
}
