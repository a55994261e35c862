/* cli.h — the private interface between the files of the recx executable.
 *
 * Owns: the declarations main.c (arguments, exit codes), run.c (protected calls, tracebacks,
 * the SIGINT hook), repl.c (the read-eval-print loop), complete.c (Tab completion) and
 * paths.c (where the lua/ library is found) share. Nothing here exits: functions return a
 * status and main alone turns it into the process's exit code.
 */
#ifndef RECX_CLI_H
#define RECX_CLI_H

#include <lua.h>
#include <signal.h>
#include <stddef.h>

/* ---- main.c --------------------------------------------------------------------------------- */

/* The one-line description used by --version and the REPL banner:
 * "recx 0.1.0 (Lua 5.4.4, OpenBLAS 0.3.21 SkylakeX, CUDA off)". Static storage. */
const char *rx_cli_version_line(void);

/* ---- run.c ---------------------------------------------------------------------------------- */

/* How SIGINT behaves while Lua code runs. Every Ctrl-C requests an interrupt: the running
 * Lua code gets "interrupted!" through a hook, and rx_interrupt_request() makes long C ops
 * stop. They differ for code that does not stop (a C call that never polls): */
typedef enum rx_cli_sigint_mode {
    RX_CLI_SIGINT_SCRIPT = 0, /* a Ctrl-C RX_CLI_ESCAPE_SECONDS or more after one that was not
                                 honoured yet ends recx by SIGINT (status 130 in a shell) */
    RX_CLI_SIGINT_REPL = 1    /* never ends recx: the REPL keeps its state */
} rx_cli_sigint_mode;

/* Repeated signals closer than this are taken as one (tools like timeout(1) forward a
 * signal more than once). */
#define RX_CLI_ESCAPE_SECONDS 2

void rx_cli_set_sigint_mode(rx_cli_sigint_mode mode);

/* Calls the function below its `nargs` arguments like lua_pcall(L, nargs, nresults, ...) with
 * a message handler that appends a traceback, and with SIGINT routed to the interrupt hook for
 * the duration of the call. On error the message (with traceback) is on top of the stack. */
int rx_cli_pcall(lua_State *L, int nargs, int nresults);

/* Prints the string on top of the stack (an error message) to stderr as "recx: MSG" and pops
 * it. Flushes stdout first so outputs keep their order. */
void rx_cli_report(lua_State *L);

/* Runs `recx = require "recx"` protected; on failure reports the error. Returns a lua status. */
int rx_cli_load_recx_global(lua_State *L);

/* Pushes a C function that prints its arguments through tostring (luaL_tolstring), tab
 * separated, then a newline, on stdout: the REPL's printer of results. */
void rx_cli_push_printer(lua_State *L);

/* The REPL's own SIGINT handler (installed for the REPL's lifetime; rx_cli_pcall swaps in the
 * interrupt hook while code runs): it only raises rx_cli_sigint_flag, which the line readers
 * poll to clear the line being typed. */
extern volatile sig_atomic_t rx_cli_sigint_flag;
void rx_cli_install_prompt_sigint(void);
void rx_cli_restore_sigint(void);

/* ---- paths.c -------------------------------------------------------------------------------- */

/* Writes the directory of recx's Lua library into buf: the source tree's lua/ when the binary
 * runs from its build tree, else <prefix>/share/recx/lua next to the binary, else the
 * configured install directory. Returns 0 and writes "" when none of them exists. */
int rx_cli_lua_dir(char *buf, size_t size);

/* Prepends to package.path: the entries of $RECX_LUA_PATH (';' or ':' separated; an entry
 * without '?' is a directory and gives DIR/?.lua and DIR/?/init.lua), then the library's
 * directory. Runs inside a protected call (may raise on memory errors). */
void rx_cli_setup_paths(lua_State *L);

/* ---- complete.c ----------------------------------------------------------------------------- */

/* Configures GNU readline's completion of Lua globals, fields after '.', methods after ':'
 * and keywords, resolved in L without running any Lua code (raw lookups only). */
void rx_cli_complete_init(lua_State *L);

/* ---- repl.c --------------------------------------------------------------------------------- */

/* Runs the read-eval-print loop on stdin until end of input; returns 0. Errors in statements
 * are reported and the loop goes on. With a terminal it uses readline (editing, history in
 * ~/.recx_history, completion); otherwise it reads plain lines and still prints prompts. */
int rx_cli_repl(lua_State *L);

#endif /* RECX_CLI_H */
