/* optim.c — the optimizer kernels and training-loop helpers from Lua (recx.core.optim and
 * recx.core.clock).
 *
 * Owns: the Lua forms of rx_adamw_step, rx_sgd_step, rx_global_norm, rx_scale_ and
 * rx_clip_grad_norm_ (lists of tensors as Lua lists, hyper-parameters as an options table), and
 * clock(), the monotonic wall clock in seconds that progress bars and training loops time
 * themselves with (os.clock counts CPU time of every thread, os.time whole seconds). The
 * optimizer objects themselves (state, groups, schedules) are Lua: lua/recx/optim/.
 *
 * The arrays of tensor pointers handed to the core live in userdata on the Lua stack, so an
 * argument error raised while reading the lists leaks nothing.
 */
#include "recx_lua.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* Reads the list at idx into a new array (a userdata left on the stack) of n tensors; with
 * n < 0 the list's own length is used and returned through *count. With allow_missing, nil and
 * false entries become NULL. `what` names the list in errors. */
static rx_tensor **check_list(lua_State *L, int idx, const char *what, int n, int allow_missing, int *count)
{
    if (!lua_istable(L, idx)) {
        rxl_arg_error(L, idx, "expected a list of tensors (%s), got %s", what, luaL_typename(L, idx));
    }
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
    if (n < 0) {
        if (len > 1 << 24) rxl_arg_error(L, idx, "too many tensors (%lld)", (long long)len);
        n = (int)len;
    } else if (len > n) {
        rxl_arg_error(L, idx, "expected %d %s (one per parameter), got %lld", n, what, (long long)len);
    }
    rx_tensor **arr = lua_newuserdatauv(L, sizeof(rx_tensor *) * (size_t)(n > 0 ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (allow_missing && (lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1)))) {
            arr[i] = NULL;
        } else {
            rx_tensor *t = rxl_to_tensor(L, -1);
            if (!t) {
                if (luaL_testudata(L, -1, RXL_TENSOR_MT))
                    rxl_arg_error(L, idx, "%s[%d]: tensor was released", what, i + 1);
                rxl_arg_error(L, idx, "%s[%d]: expected a tensor, got %s", what, i + 1, luaL_typename(L, -1));
            }
            arr[i] = t;
        }
        lua_pop(L, 1);
    }
    if (count) *count = n;
    return arr;
}

/* The number field `key` of the table at idx, or dflt when absent. */
static double opt_number(lua_State *L, int idx, const char *key, double dflt)
{
    lua_getfield(L, idx, key);
    double v = dflt;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            rxl_arg_error(L, idx, "%s: expected a number, got %s", key, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_boolean(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        rxl_arg_error(L, idx, "%s: expected a boolean, got %s", key, luaL_typename(L, -1));
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Raises for keys of the options table at idx that are not in `known` (NULL-terminated). */
static void check_keys(lua_State *L, int idx, const char *const *known, const char *list)
{
    if (!lua_istable(L, idx))
        rxl_arg_error(L, idx, "expected an options table {%s}, got %s", list, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int i = 0; known[i] && !ok; i++) ok = strcmp(lua_tostring(L, -2), known[i]) == 0;
        if (!ok) {
            lua_pushvalue(L, -2);
            rxl_arg_error(L, idx, "unknown option '%s' (expected %s)", luaL_tolstring(L, -1, NULL), list);
        }
        lua_pop(L, 1);
    }
}

/* The AdamW options table at idx: {lr=, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0, step=};
 * lr and the integer (1-based) step are required. */
static rx_adamw_opts check_adamw_opts(lua_State *L, int idx)
{
    static const char *const keys[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "step", NULL};
    check_keys(L, idx, keys, "lr, beta1, beta2, eps, weight_decay, step");
    rx_adamw_opts o;
    o.lr = opt_number(L, idx, "lr", NAN);
    o.beta1 = opt_number(L, idx, "beta1", 0.9);
    o.beta2 = opt_number(L, idx, "beta2", 0.999);
    o.eps = opt_number(L, idx, "eps", 1e-8);
    o.weight_decay = opt_number(L, idx, "weight_decay", 0.0);
    lua_getfield(L, idx, "step");
    int ok = 0;
    o.step = (int64_t)lua_tointegerx(L, -1, &ok);
    if (!ok && lua_type(L, -1) == LUA_TNUMBER)
        rxl_arg_error(L, idx, "step: expected an integer step number (1-based), got %.14g", lua_tonumber(L, -1));
    if (!ok) rxl_arg_error(L, idx, "step: expected an integer step number (1-based), got %s", luaL_typename(L, -1));
    lua_pop(L, 1);
    if (isnan(o.lr)) rxl_arg_error(L, idx, "lr: expected a number, got nil");
    return o;
}

/* adamw_step(params, grads, exp_avgs, exp_avg_sqs, {lr=, beta1=, beta2=, eps=, weight_decay=,
 * step=}): one AdamW update in place; step is the 1-based step number (bias correction). */
static int optim_adamw_step(lua_State *L)
{
    int n;
    rx_tensor **params = check_list(L, 1, "params", -1, 0, &n);
    rx_tensor **grads = check_list(L, 2, "grads", n, 0, NULL);
    rx_tensor **m = check_list(L, 3, "exp_avgs", n, 0, NULL);
    rx_tensor **v = check_list(L, 4, "exp_avg_sqs", n, 0, NULL);
    rx_adamw_opts o = check_adamw_opts(L, 5);
    rxl_check_status(L, rx_adamw_step(n, params, grads, m, v, &o));
    return 0;
}

/* adamw_step_master(params, masters, grads, exp_avgs, exp_avg_sqs, {same options as adamw_step}):
 * the update runs on the f32 master copies and each low-precision parameter receives its master
 * rounded to its dtype (rx_adamw_step_master). */
static int optim_adamw_step_master(lua_State *L)
{
    int n;
    rx_tensor **params = check_list(L, 1, "params", -1, 0, &n);
    rx_tensor **masters = check_list(L, 2, "masters", n, 0, NULL);
    rx_tensor **grads = check_list(L, 3, "grads", n, 0, NULL);
    rx_tensor **m = check_list(L, 4, "exp_avgs", n, 0, NULL);
    rx_tensor **v = check_list(L, 5, "exp_avg_sqs", n, 0, NULL);
    rx_adamw_opts o = check_adamw_opts(L, 6);
    rxl_check_status(L, rx_adamw_step_master(n, params, masters, grads, m, v, &o));
    return 0;
}

/* sgd_step(params, grads, momentum_bufs, {lr=, momentum=0, dampening=0, weight_decay=0,
 * nesterov=false, first_step=false}); momentum_bufs entries may be nil/false when momentum is 0 */
static int optim_sgd_step(lua_State *L)
{
    static const char *const keys[] = {"lr",       "momentum",   "dampening", "weight_decay",
                                       "nesterov", "first_step", NULL};
    int n;
    rx_tensor **params = check_list(L, 1, "params", -1, 0, &n);
    rx_tensor **grads = check_list(L, 2, "grads", n, 0, NULL);
    rx_tensor **bufs = lua_isnoneornil(L, 3) ? NULL : check_list(L, 3, "momentum_bufs", n, 1, NULL);
    check_keys(L, 4, keys, "lr, momentum, dampening, weight_decay, nesterov, first_step");
    double lr = opt_number(L, 4, "lr", NAN);
    if (isnan(lr)) return rxl_arg_error(L, 4, "lr: expected a number, got nil");
    double momentum = opt_number(L, 4, "momentum", 0.0);
    double dampening = opt_number(L, 4, "dampening", 0.0);
    double wd = opt_number(L, 4, "weight_decay", 0.0);
    int nesterov = opt_boolean(L, 4, "nesterov");
    int first = opt_boolean(L, 4, "first_step");
    if (momentum != 0 && !bufs)
        return rxl_arg_error(L, 3, "expected a list of momentum buffers (momentum is %g), got nil", momentum);
    rxl_check_status(L, rx_sgd_step(n, params, grads, bufs, lr, momentum, dampening, wd, nesterov, first));
    return 0;
}

/* global_norm(tensors) -> the L2 norm of all their elements together (a number) */
static int optim_global_norm(lua_State *L)
{
    int n;
    rx_tensor **ts = check_list(L, 1, "tensors", -1, 0, &n);
    double norm = 0;
    rxl_check_status(L, rx_global_norm(n, ts, &norm));
    lua_pushnumber(L, norm);
    return 1;
}

/* scale_(tensors, s): t *= s in place for each */
static int optim_scale_(lua_State *L)
{
    int n;
    rx_tensor **ts = check_list(L, 1, "tensors", -1, 0, &n);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return rxl_arg_error(L, 2, "expected a number, got %s", luaL_typename(L, 2));
    rxl_check_status(L, rx_scale_(n, ts, lua_tonumber(L, 2)));
    return 0;
}

/* clip_grad_norm_(tensors, max_norm) -> a 0-d f32 tensor on the tensors' device: their global
 * L2 norm; the tensors are scaled in place by max_norm / (norm + 1e-6) when the norm is finite
 * and that factor is below 1 (rx_clip_grad_norm_: on CUDA nothing is read back to the host) */
static int optim_clip_grad_norm_(lua_State *L)
{
    int n;
    rx_tensor **ts = check_list(L, 1, "tensors", -1, 0, &n);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return rxl_arg_error(L, 2, "expected a number, got %s", luaL_typename(L, 2));
    rx_tensor **slot = rxl_push_slot(L);
    rxl_check_status(L, rx_clip_grad_norm_(n, ts, lua_tonumber(L, 2), slot));
    rxl_note_tensor(L, *slot);
    return 1;
}

/* clock() -> seconds of a monotonic clock (only differences mean something) */
static int optim_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
    return 1;
}

static const luaL_Reg optim_functions[] = {
    {"adamw_step", optim_adamw_step},
    {"adamw_step_master", optim_adamw_step_master},
    {"sgd_step", optim_sgd_step},
    {"global_norm", optim_global_norm},
    {"scale_", optim_scale_},
    {"clip_grad_norm_", optim_clip_grad_norm_},
    {NULL, NULL},
};

static const luaL_Reg clock_functions[] = {
    {"clock", optim_clock},
    {NULL, NULL},
};

void rxl_open_optim(lua_State *L)
{
    lua_newtable(L);
    rxl_set_funcs(L, optim_functions);
    lua_setfield(L, -2, "optim");
    rxl_set_funcs(L, clock_functions);
}
