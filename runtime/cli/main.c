/* main.c — the recx executable: argument handling and exit codes.
 *
 * Owns: the command line `recx [options] [script [key=value ...]]` and the subcommand
 * `recx pull ...` (handed to the Lua module recx.cli_pull, which returns the exit code), the
 * usage, help and version texts, building the Lua state (standard libraries, "recx.core" preloaded,
 * package.path pointing at recx's lua/), the global `arg`, handing the script's arguments to
 * recx.config (cli_args) and running, in order, the -e chunks, the script and the REPL.
 *
 * Exit codes: 0 success; 1 a Lua error (its message and traceback on stderr); 2 a usage error
 * (unknown option, -e without code, a script that cannot be read), with a hint on stderr.
 * Only main returns the code: everything else reports and returns a status.
 */
#include "cli.h"
#include "recx_lua.h"

#include <cblas.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#define EXIT_LUA_ERROR 1
#define EXIT_USAGE 2

#ifdef RECX_WITH_CUDA
#define CUDA_STATE "on"
#else
#define CUDA_STATE "off"
#endif

typedef struct cli_opts {
    int argc;
    char **argv;
    int script;      /* argv index of the script ("-" = stdin), 0 when none */
    int has_exec;    /* some -e was given */
    int interactive; /* -i */
    int version;
    int help;
    int pull;      /* argv[1] is "pull": run recx.cli_pull.main with argv[2..] */
    int exit_code; /* set by run_main */
} cli_opts;

const char *rx_cli_version_line(void)
{
    static char line[256];
    /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." -> "OpenBLAS 0.3.21" */
    const char *config = openblas_get_config();
    int words = 0;
    size_t len = 0;
    while (config[len] && !(config[len] == ' ' && ++words == 2)) len++;
    snprintf(line, sizeof line, "recx %s (%s, %.*s %s, CUDA %s)", rx_version(), LUA_RELEASE, (int)len, config,
             openblas_get_corename(), CUDA_STATE);
    return line;
}

static void print_usage_hint(void)
{
    fprintf(stderr, "usage: recx [options] [script [key=value ...]]\n"
                    "Try 'recx --help' for more information.\n");
}

static void print_help(void)
{
    char dir[4096];
    if (!rx_cli_lua_dir(dir, sizeof dir)) snprintf(dir, sizeof dir, "(not found)");
    printf("usage: recx [options] [script [key=value ...]]\n"
           "       recx pull NAME [--dir DIR]   download a model (recx pull --help)\n"
           "\n"
           "Runs a recipe (a Lua script) with key=value overrides of its recx.config defaults,\n"
           "Lua code given with -e, or an interactive REPL when neither is given.\n"
           "\n"
           "Options:\n"
           "  -e CODE        run CODE (several -e run in order, before the script)\n"
           "  -i             enter the REPL after the -e code and the script\n"
           "  -v, --version  print the version and exit\n"
           "  -h, --help     print this help and exit\n"
           "  --             stop handling options (the next argument is the script)\n"
           "  -              read the script from stdin\n"
           "\n"
           "The arguments after the script are arg[1..] (arg[0] is the script) and the script's\n"
           "`...`. key=value pairs override the defaults of recx.config{...}: steps=200 gives an\n"
           "integer, lr=3e-4 a float, flag=true a boolean, name=abc a string. An unknown key or a\n"
           "value of the wrong type is an error.\n"
           "\n"
           "REPL (also with -i): `=expr` or a bare expression prints all its values through\n"
           "tostring; statements run as usual; an unfinished statement continues on a \"  ...> \"\n"
           "line; an error prints its message and traceback and the REPL goes on. The global\n"
           "`recx` is loaded (also for -e code). Locals last one entry: use globals to keep values.\n"
           "  Tab       complete globals, fields after '.' (recx.ten -> recx.tensor), methods\n"
           "            after ':'\n"
           "  Up/Down   history, kept in ~/.recx_history\n"
           "  Ctrl-C    interrupt the running statement (Lua code and long recx ops), or clear\n"
           "            the line being typed\n"
           "  Ctrl-D    exit (status 0)\n"
           "When stdin or stdout is not a terminal the REPL reads plain lines (no editing,\n"
           "history or completion) and still prints its prompts on stdout, so it can be driven\n"
           "through a pipe; SIGINT interrupts the running statement there too.\n"
           "In a script, Ctrl-C raises \"interrupted!\" (exit status 1); a Ctrl-C 2 s or more after\n"
           "one that has not taken effect (a C call that does not return) ends recx at once.\n"
           "\n"
           "Exit status: 0 success, 1 a Lua error (message and traceback on stderr), 2 a usage\n"
           "error.\n"
           "Environment: RECX_LUA_PATH  directories or ?-templates, ';' or ':' separated,\n"
           "searched before recx's Lua library (now %s).\n",
           dir);
}

/* Validates the options; on a usage error writes the message into msg and returns 0. */
static int parse_args(cli_opts *o, char *msg, size_t size)
{
    for (int i = 1; i < o->argc; i++) {
        const char *a = o->argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            o->script = i;
            return 1;
        }
        if (strcmp(a, "--") == 0) {
            if (i + 1 < o->argc) o->script = i + 1;
            return 1;
        }
        if (strncmp(a, "-e", 2) == 0) {
            if (a[2] == '\0' && ++i >= o->argc) {
                snprintf(msg, size, "'-e' needs an argument (the code to run)");
                return 0;
            }
            o->has_exec = 1;
        } else if (strcmp(a, "-i") == 0) {
            o->interactive = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            o->version = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = 1;
        } else {
            snprintf(msg, size, "unknown option '%s'", a);
            return 0;
        }
    }
    return 1;
}

/* The global `arg`: arg[0] the script, arg[1..] its arguments, the options and the program
 * at negative indices (without a script every argument has a negative index). */
static void create_arg_table(lua_State *L, const cli_opts *o)
{
    int base = o->script ? o->script : o->argc;
    lua_createtable(L, o->argc - base, base + 1);
    for (int i = 0; i < o->argc; i++) {
        lua_pushstring(L, o->argv[i]);
        lua_rawseti(L, -2, i - base);
    }
    lua_setglobal(L, "arg");
}

/* require("recx.config").cli_args = { the script's arguments } */
static int set_cli_args(lua_State *L)
{
    const cli_opts *o = lua_touserdata(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "recx.config");
    lua_call(L, 1, 1);
    lua_createtable(L, o->argc - o->script - 1, 0);
    for (int i = o->script + 1; i < o->argc; i++) {
        lua_pushstring(L, o->argv[i]);
        lua_rawseti(L, -2, i - o->script);
    }
    lua_setfield(L, -2, "cli_args");
    return 0;
}

/* `recx pull ...`: o->exit_code = require("recx.cli_pull").main({argv[2..]}). */
static int run_pull(lua_State *L)
{
    cli_opts *o = lua_touserdata(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "recx.cli_pull");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, o->argc - 2, 0);
    for (int i = 2; i < o->argc; i++) {
        lua_pushstring(L, o->argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_call(L, 1, 1);
    o->exit_code = (int)luaL_optinteger(L, -1, EXIT_LUA_ERROR);
    return 0;
}

/* Compiles and runs one -e chunk. */
static int run_code(lua_State *L, const char *code)
{
    int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
    if (status == LUA_OK) status = rx_cli_pcall(L, 0, 0);
    if (status != LUA_OK) rx_cli_report(L);
    return status;
}

/* Loads and runs the script with its arguments; returns the exit code. */
static int run_script(lua_State *L, const cli_opts *o)
{
    const char *name = o->argv[o->script];
    int from_stdin = strcmp(name, "-") == 0 && strcmp(o->argv[o->script - 1], "--") != 0;
    int status = luaL_loadfile(L, from_stdin ? NULL : name);
    if (status == LUA_ERRFILE) {
        rx_cli_report(L);
        print_usage_hint();
        return EXIT_USAGE;
    }
    if (status == LUA_OK) {
        int nargs = o->argc - o->script - 1;
        luaL_checkstack(L, nargs, "too many arguments to the script");
        for (int i = o->script + 1; i < o->argc; i++) lua_pushstring(L, o->argv[i]);
        status = rx_cli_pcall(L, nargs, 0);
    }
    if (status != LUA_OK) {
        rx_cli_report(L);
        return EXIT_LUA_ERROR;
    }
    return 0;
}

/* Everything that needs the Lua state, run protected so that even a memory error while
 * setting up is reported instead of aborting. The exit code goes to o->exit_code. */
static int run_main(lua_State *L)
{
    cli_opts *o = lua_touserdata(L, 1);
    luaL_checkversion(L);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_recx_core);
    lua_setfield(L, -2, "recx.core");
    lua_pop(L, 1);
    rx_cli_setup_paths(L);
    create_arg_table(L, o);

    o->exit_code = EXIT_LUA_ERROR;
    if (o->pull) {
        lua_pushcfunction(L, run_pull);
        lua_pushlightuserdata(L, o);
        if (rx_cli_pcall(L, 1, 0) != LUA_OK) {
            o->exit_code = EXIT_LUA_ERROR;
            rx_cli_report(L);
        }
        return 0;
    }
    if (o->script && o->script + 1 < o->argc) {
        lua_pushcfunction(L, set_cli_args);
        lua_pushlightuserdata(L, o);
        if (rx_cli_pcall(L, 1, 0) != LUA_OK) {
            rx_cli_report(L);
            return 0;
        }
    }
    if (o->has_exec && rx_cli_load_recx_global(L) != LUA_OK) return 0;
    int stop = o->script ? o->script : o->argc;
    for (int i = 1; i < stop; i++) {
        const char *a = o->argv[i];
        if (strncmp(a, "-e", 2) != 0) continue;
        const char *code = a[2] ? a + 2 : o->argv[++i];
        if (run_code(L, code) != LUA_OK) return 0;
    }
    if (o->script) {
        o->exit_code = run_script(L, o);
        if (o->exit_code != 0) return 0;
    }
    if (o->interactive || (!o->script && !o->has_exec)) rx_cli_repl(L);
    o->exit_code = 0;
    return 0;
}

int main(int argc, char **argv)
{
    cli_opts o;
    memset(&o, 0, sizeof o);
    o.argc = argc;
    o.argv = argv;
    char msg[512];
    o.pull = argc >= 2 && strcmp(argv[1], "pull") == 0;
    if (!o.pull && !parse_args(&o, msg, sizeof msg)) {
        fprintf(stderr, "recx: %s\n", msg);
        print_usage_hint();
        return EXIT_USAGE;
    }
    if (o.help) {
        print_help();
        return 0;
    }
    if (o.version) {
        printf("%s\n", rx_cli_version_line());
        return 0;
    }
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "recx: cannot create the Lua state: not enough memory\n");
        return EXIT_LUA_ERROR;
    }
    lua_pushcfunction(L, run_main);
    lua_pushlightuserdata(L, &o);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        rx_cli_report(L);
        o.exit_code = EXIT_LUA_ERROR;
    }
    lua_close(L);
    return o.exit_code;
}
