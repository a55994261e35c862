/* run.c — protected execution of Lua code for the recx executable.
 *
 * Owns: the message handler that turns an error into "message + stack traceback", the
 * protected call every chunk, script and printed result goes through, error reporting on
 * stderr, the REPL's result printer, and SIGINT. While Lua code runs, Ctrl-C sets a hook
 * (call, return and every-instruction count events) that raises "interrupted!" in the running
 * Lua code, and calls rx_interrupt_request() so long C ops return RX_ERR_INTERRUPTED. In a
 * script, a Ctrl-C that comes RX_CLI_ESCAPE_SECONDS after one that was not honoured (a C call
 * that never returns) ends the process by SIGINT; closer ones count as one. Outside of running
 * code the REPL installs a handler that only raises a flag for its line reader.
 *
 * Limit: the hook is set on the main thread; Lua code running inside a coroutine is reached
 * when it returns to (or calls out through) the main thread, and C ops through the flag.
 */
#include "cli.h"

#include "recx.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t rx_cli_sigint_flag;

static lua_State *volatile run_state; /* the state whose hook a Ctrl-C sets */
static volatile sig_atomic_t sigint_mode = RX_CLI_SIGINT_SCRIPT;
static volatile sig_atomic_t interrupt_pending; /* a Ctrl-C not yet followed by the call's end */
static struct timespec interrupt_at;            /* when that Ctrl-C came */
static struct sigaction prompt_saved;           /* the handler the REPL's handler replaced */
static int prompt_installed;

void rx_cli_set_sigint_mode(rx_cli_sigint_mode mode) { sigint_mode = mode; }

/* Raises the interrupt in the Lua code that runs, at its next instruction, call or return. */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* Seconds since `t`, on the monotonic clock. */
static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + 1e-9 * (double)(now.tv_nsec - t->tv_nsec);
}

/* SIGINT while Lua code runs (lua_sethook and clock_gettime are async-signal-safe). */
static void on_sigint_running(int sig)
{
    if (interrupt_pending) {
        if (sigint_mode == RX_CLI_SIGINT_SCRIPT && seconds_since(&interrupt_at) >= RX_CLI_ESCAPE_SECONDS) {
            signal(sig, SIG_DFL);
            raise(sig);
            return;
        }
    } else {
        clock_gettime(CLOCK_MONOTONIC, &interrupt_at);
        interrupt_pending = 1;
    }
    rx_interrupt_request();
    lua_sethook(run_state, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void on_sigint_prompt(int sig)
{
    (void)sig;
    rx_cli_sigint_flag = 1;
}

/* Installs `fn` for SIGINT without SA_RESTART: a blocking read returns EINTR, so a reader at
 * the prompt and Lua code blocked in io.read both notice the interrupt. */
static void set_sigint(void (*fn)(int), struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, old);
}

void rx_cli_install_prompt_sigint(void)
{
    rx_cli_sigint_flag = 0;
    set_sigint(on_sigint_prompt, &prompt_saved);
    prompt_installed = 1;
}

void rx_cli_restore_sigint(void)
{
    if (!prompt_installed) return;
    sigaction(SIGINT, &prompt_saved, NULL);
    prompt_installed = 0;
}

/* Message handler: the error message (or a description of a non-string error object) followed
 * by the stack traceback of where it was raised. */
static int add_traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int rx_cli_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs; /* the function's index */
    lua_pushcfunction(L, add_traceback);
    lua_insert(L, base);
    struct sigaction outer;
    run_state = L;
    interrupt_pending = 0;
    set_sigint(on_sigint_running, &outer);
    int status = lua_pcall(L, nargs, nresults, base);
    sigaction(SIGINT, &outer, NULL);
    /* An interrupt that arrived as the call ended must not hit the next one. */
    if (lua_gethook(L) == interrupt_hook) lua_sethook(L, NULL, 0, 0);
    rx_interrupt_clear();
    interrupt_pending = 0;
    lua_remove(L, base);
    return status;
}

void rx_cli_report(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fflush(stdout);
    fprintf(stderr, "recx: %s\n", msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
}

static int load_recx(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "recx");
    lua_call(L, 1, 1);
    lua_setglobal(L, "recx");
    return 0;
}

int rx_cli_load_recx_global(lua_State *L)
{
    lua_pushcfunction(L, load_recx);
    int status = rx_cli_pcall(L, 0, 0);
    if (status != LUA_OK) rx_cli_report(L);
    return status;
}

/* print-like, but every value goes through luaL_tolstring (so __tostring and __name apply)
 * and the whole line is built before anything is written: a failing __tostring prints
 * nothing. */
static int print_values(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    size_t len;
    const char *line = lua_tolstring(L, -1, &len);
    fwrite(line, 1, len, stdout);
    fflush(stdout);
    return 0;
}

void rx_cli_push_printer(lua_State *L) { lua_pushcfunction(L, print_values); }
