/* repl.c — the recx read-eval-print loop.
 *
 * Owns: reading lines, gathering them into chunks, compiling and running the chunks, printing
 * their values or errors, and the history file.
 *   - When stdin and stdout are terminals, lines come from GNU readline's callback interface,
 *     driven by pselect so that a Ctrl-C at the prompt (SIGINT, which only raises a flag
 *     there) clears the line and any pending continuation lines. History is kept in ~/.recx_history (mode 0600, the last
 *     HISTORY_MAX entries); failing to read or write it is not an error.
 *   - Otherwise (a pipe, a file) lines are read plainly and the prompts are still printed on
 *     stdout, so whoever drives the REPL sees when an entry was consumed.
 *   - A chunk is first compiled as "return <chunk>" (a leading '=' forces that), so bare
 *     expressions print all their values through tostring; else as a statement. A syntax
 *     error reported at "<eof>" means the chunk is incomplete: the next line continues it
 *     under the "  ...> " prompt.
 *   - Errors (syntax, runtime, interrupt, a failing __tostring) are reported with their
 *     traceback and the loop goes on; only the end of input ends it.
 */
#include "cli.h"

#include <errno.h>
#include <lauxlib.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROMPT "recx> "
#define PROMPT_MORE "  ...> "
#define CHUNK_NAME "=stdin"
#define HISTORY_FILE ".recx_history"
#define HISTORY_MAX 1000
#define EOF_MARK "<eof>"

/* A chunk still waiting for more lines (not a lua status). */
#define CHUNK_INCOMPLETE (-1)

typedef enum line_status { LINE_OK, LINE_EOF, LINE_INTERRUPTED } line_status;

typedef struct repl {
    lua_State *L;
    int tty;
    char *history_path; /* NULL when history is not kept */
    char *line;         /* plain reader's buffer */
    size_t line_cap;
    char *chunk; /* lines gathered so far, '\n' separated */
    size_t chunk_len, chunk_cap;
} repl;

/* ---- reading lines -------------------------------------------------------------------------- */

static char *tty_line;
static int tty_line_ready;

/* readline's line handler. Removing the handler here keeps readline from displaying the
 * prompt again before the line has run. */
static void on_tty_line(char *line)
{
    rl_callback_handler_remove();
    tty_line = line;
    tty_line_ready = 1;
}

/* One line from readline; *out is malloc'd. SIGINT stays blocked except while pselect waits,
 * so an interrupt is never lost between testing the flag and waiting. */
static line_status read_tty(const char *prompt, char **out)
{
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    rx_cli_sigint_flag = 0;
    tty_line = NULL;
    tty_line_ready = 0;
    fflush(stdout);
    rl_callback_handler_install(prompt, on_tty_line);
    line_status status = LINE_OK;
    int fd = fileno(rl_instream);
    while (!tty_line_ready) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int ready = pselect(fd + 1, &fds, NULL, NULL, NULL, &orig);
        /* pselect reports ready input ahead of a pending SIGINT (keys typed right after
         * Ctrl-C): let the signal in before reading them, so they land on a fresh line. */
        sigprocmask(SIG_SETMASK, &orig, NULL);
        sigprocmask(SIG_BLOCK, &block, NULL);
        if (rx_cli_sigint_flag) {
            status = LINE_INTERRUPTED;
            break;
        }
        if (ready < 0) {
            if (errno == EINTR) continue;
            status = LINE_EOF;
            break;
        }
        rl_callback_read_char();
    }
    if (status == LINE_INTERRUPTED) {
        rx_cli_sigint_flag = 0;
        rl_free_line_state();
        rl_callback_sigcleanup();
        rl_replace_line("", 0);
        rl_echo_signal_char(SIGINT);
    }
    rl_callback_handler_remove();
    sigprocmask(SIG_SETMASK, &orig, NULL);
    if (status != LINE_OK) {
        fputc('\n', stdout);
        return status;
    }
    if (!tty_line) {
        fputc('\n', stdout);
        return LINE_EOF;
    }
    *out = tty_line;
    return LINE_OK;
}

/* One line from a non-terminal stdin, without its end of line; *out is malloc'd. */
static line_status read_plain(repl *r, const char *prompt, char **out)
{
    rx_cli_sigint_flag = 0;
    fputs(prompt, stdout);
    fflush(stdout);
    clearerr(stdin);
    ssize_t n = getline(&r->line, &r->line_cap, stdin);
    if (n < 0) {
        if (rx_cli_sigint_flag) {
            rx_cli_sigint_flag = 0;
            clearerr(stdin);
            fputc('\n', stdout);
            return LINE_INTERRUPTED;
        }
        fputc('\n', stdout);
        return LINE_EOF;
    }
    if (rx_cli_sigint_flag) {
        /* SIGINT came just before the read blocked: drop the pending lines, keep this one. */
        rx_cli_sigint_flag = 0;
        r->chunk_len = 0;
    }
    while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r')) r->line[--n] = '\0';
    *out = strdup(r->line);
    return *out ? LINE_OK : LINE_EOF;
}

/* ---- history -------------------------------------------------------------------------------- */

static void history_open(repl *r)
{
    using_history();
    stifle_history(HISTORY_MAX);
    const char *home = getenv("HOME");
    if (!home || !*home) return;
    size_t size = strlen(home) + sizeof "/" HISTORY_FILE;
    r->history_path = malloc(size);
    if (!r->history_path) return;
    snprintf(r->history_path, size, "%s/%s", home, HISTORY_FILE);
    if (read_history(r->history_path) != 0 && write_history(r->history_path) == 0)
        chmod(r->history_path, 0600); /* entries may hold secrets: keep them private */
}

static void history_add(repl *r, const char *entry)
{
    if (!r->tty || entry[0] == '\0') return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, entry) == 0) return;
    add_history(entry);
    if (r->history_path) append_history(1, r->history_path);
}

static void history_close(repl *r)
{
    if (r->history_path) history_truncate_file(r->history_path, HISTORY_MAX);
    free(r->history_path);
    r->history_path = NULL;
}

/* ---- chunks --------------------------------------------------------------------------------- */

/* Appends a line to the pending chunk. Returns 0 when memory runs out. */
static int chunk_append(repl *r, const char *line)
{
    size_t len = strlen(line);
    size_t need = r->chunk_len + len + 2;
    if (need > r->chunk_cap) {
        size_t cap = r->chunk_cap ? r->chunk_cap : 256;
        while (cap < need) cap *= 2;
        char *chunk = realloc(r->chunk, cap);
        if (!chunk) return 0;
        r->chunk = chunk;
        r->chunk_cap = cap;
    }
    if (r->chunk_len > 0) r->chunk[r->chunk_len++] = '\n';
    memcpy(r->chunk + r->chunk_len, line, len + 1);
    r->chunk_len += len;
    return 1;
}

/* A syntax error at the end of the input: the chunk may continue on the next line. */
static int is_incomplete(lua_State *L, int status)
{
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    size_t mark = sizeof EOF_MARK - 1;
    return status == LUA_ERRSYNTAX && msg && len >= mark && strcmp(msg + len - mark, EOF_MARK) == 0;
}

/* Compiles the chunk: pushes its function and returns LUA_OK, pushes the error message and
 * returns its status, or pushes nothing and returns CHUNK_INCOMPLETE. */
static int compile_chunk(lua_State *L, const char *chunk, size_t len)
{
    int forced = chunk[0] == '=';
    const char *expr = forced ? chunk + 1 : chunk;
    lua_pushliteral(L, "return ");
    lua_pushlstring(L, expr, len - (size_t)(expr - chunk));
    lua_concat(L, 2);
    size_t code_len;
    const char *code = lua_tolstring(L, -1, &code_len);
    int status = luaL_loadbuffer(L, code, code_len, CHUNK_NAME);
    lua_remove(L, -2);
    if (status == LUA_OK) return status;
    int expr_incomplete = is_incomplete(L, status);
    if (forced && !expr_incomplete) return status;
    lua_pop(L, 1);
    if (!forced) {
        /* As a statement; an expression cut short ("1 +") also waits for more lines. */
        status = luaL_loadbuffer(L, chunk, len, CHUNK_NAME);
        if (status == LUA_OK || !(expr_incomplete || is_incomplete(L, status))) return status;
        lua_pop(L, 1);
    }
    return CHUNK_INCOMPLETE;
}

/* Runs the function on top of the stack and prints the values it returns. */
static void run_and_print(lua_State *L)
{
    int base = lua_gettop(L) - 1;
    if (rx_cli_pcall(L, 0, LUA_MULTRET) != LUA_OK) {
        rx_cli_report(L);
        return;
    }
    int n = lua_gettop(L) - base;
    if (n > 0) {
        if (!lua_checkstack(L, 2)) {
            lua_settop(L, base);
            lua_pushliteral(L, "too many results to print");
            rx_cli_report(L);
            return;
        }
        rx_cli_push_printer(L);
        lua_insert(L, base + 1);
        if (rx_cli_pcall(L, n, 0) != LUA_OK) rx_cli_report(L);
    }
    lua_settop(L, base);
}

/* Handles the line just read: gathers it, and runs the chunk once it is complete. */
static void handle_line(repl *r, const char *line)
{
    lua_State *L = r->L;
    if (!chunk_append(r, line)) {
        r->chunk_len = 0;
        lua_pushliteral(L, "out of memory gathering the input");
        rx_cli_report(L);
        return;
    }
    int status = compile_chunk(L, r->chunk, r->chunk_len);
    if (status == CHUNK_INCOMPLETE) return;
    history_add(r, r->chunk);
    r->chunk_len = 0;
    if (status == LUA_OK)
        run_and_print(L);
    else
        rx_cli_report(L);
}

/* ---- the loop ------------------------------------------------------------------------------- */

int rx_cli_repl(lua_State *L)
{
    repl r;
    memset(&r, 0, sizeof r);
    r.L = L;
    r.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO); /* readline echoes to stdout */
    printf("%s\n", rx_cli_version_line());
    printf("Tab completes, Ctrl-C interrupts, Ctrl-D exits; =expr prints values; `recx` is loaded.\n");
    fflush(stdout);
    rx_cli_load_recx_global(L);
    if (r.tty) {
        rl_catch_signals = 0; /* SIGINT is ours: see read_tty */
        rx_cli_complete_init(L);
        history_open(&r);
    }
    rx_cli_set_sigint_mode(RX_CLI_SIGINT_REPL);
    rx_cli_install_prompt_sigint();
    for (;;) {
        const char *prompt = r.chunk_len > 0 ? PROMPT_MORE : PROMPT;
        char *line = NULL;
        line_status status = r.tty ? read_tty(prompt, &line) : read_plain(&r, prompt, &line);
        if (status == LINE_EOF) break;
        if (status == LINE_INTERRUPTED) {
            r.chunk_len = 0;
            continue;
        }
        handle_line(&r, line);
        free(line);
    }
    fflush(stdout);
    rx_cli_restore_sigint();
    rx_cli_set_sigint_mode(RX_CLI_SIGINT_SCRIPT);
    if (r.tty) history_close(&r);
    free(r.line);
    free(r.chunk);
    return 0;
}
