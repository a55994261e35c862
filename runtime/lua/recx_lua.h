/* recx_lua.h — the interface between the Lua bindings (runtime/lua) and their users: the
 * recx executable (runtime/cli) and the loadable module (runtime/lua/module).
 *
 * Owns: the entry point luaopen_recx_core and the helpers every binding file shares to check
 * arguments, push tensors and turn a failed rx_status into a Lua error.
 *
 * Errors: bindings raise with luaL_error-style messages that name the function and the
 * argument ("matmul: argument #2: expected shape (*, 64, n), got (8, 32)"); a core status is
 * raised with its message (rx_last_error). Temporaries are released before raising.
 */
#ifndef RECX_LUA_H
#define RECX_LUA_H

#include "recx.h"

#include <lauxlib.h>
#include <lua.h>

/* The C part of `require "recx"`: returns the table of the "recx.core" module. */
int luaopen_recx_core(lua_State *L);

/* Metatable name of tensor userdata. */
#define RXL_TENSOR_MT "recx.tensor"

/* The tensor at idx, or raises "<fname>: argument #idx: expected a tensor, got <type>" /
 * "tensor was released". Borrowed. */
rx_tensor *rxl_check_tensor(lua_State *L, int idx);
/* The tensor at idx or NULL when the value is not a tensor (no error). */
rx_tensor *rxl_to_tensor(lua_State *L, int idx);
/* Pushes a userdata owning the reference `t` (steals it). */
void rxl_push_tensor(lua_State *L, rx_tensor *t);
/* Raises the current core error message as a Lua error (never returns). */
int rxl_raise(lua_State *L, rx_status status);
/* Converts a 1-based (negative from the end) Lua dim at idx to a 0-based dim for ndim dims, or
 * raises "<fname>: argument #idx: dim d out of range ...". */
int rxl_check_dim(lua_State *L, int idx, int ndim);
/* Reports `bytes` of external memory to Lua's GC pressure accounting. */
void rxl_note_external_bytes(lua_State *L, int64_t bytes);

/* Registration functions of each binding file, called by luaopen_recx_core with the module
 * table on top of the stack. */
void rxl_open_tensor(lua_State *L);

#endif /* RECX_LUA_H */
