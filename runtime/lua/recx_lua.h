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
/* Pushes a userdata owning the reference `t` (steals it) and counts its bytes towards the GC
 * pressure (rxl_note_tensor). */
void rxl_push_tensor(lua_State *L, rx_tensor *t);
/* Raises `msg` (a core-style message) in Lua terms, as rxl_raise does. */
int rxl_raise_message(lua_State *L, const char *msg);
/* Raises the current core error message as a Lua error (never returns), with the dims it names
 * counted from 1 as Lua code counts them ("dim 0 of size 4" becomes "dim 1 of size 4"). */
int rxl_raise(lua_State *L, rx_status status);
/* Converts a 1-based (negative from the end) Lua dim at idx to a 0-based dim for ndim dims, or
 * raises "<fname>: argument #idx: dim d out of range ...". */
int rxl_check_dim(lua_State *L, int idx, int ndim);
/* Reports `bytes` of external memory to Lua's GC pressure accounting. */
void rxl_note_external_bytes(lua_State *L, int64_t bytes);

/* ---- shared helpers (tensor.c) ---------------------------------------------------------- */
/* The name of the running binding ("matmul"): the name registered with rxl_set_funcs, else
 * what Lua's debug info knows, else "?". */
const char *rxl_fname(lua_State *L);
/* Raises "<fname>: argument #idx: <message>" (printf-style; never returns). */
int rxl_arg_error(lua_State *L, int idx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Registers `funcs` into the table at the top of the stack, each as a closure whose upvalue is
 * its own name (what rxl_fname reports). */
void rxl_set_funcs(lua_State *L, const luaL_Reg *funcs);
/* Pushes an empty tensor userdata and returns its slot, for a core call to fill in place
 * (`rx_clone(t, rxl_push_slot(L))`): the result is owned by Lua from birth, so no error can leak
 * it. Call rxl_check_status and then rxl_note_tensor (new storage) once the call succeeded. */
rx_tensor **rxl_push_slot(lua_State *L);
/* Raises the core message when status != RX_OK; returns otherwise. */
void rxl_check_status(lua_State *L, rx_status status);
/* Reports the bytes of a freshly allocated tensor to the GC accounting. */
void rxl_note_tensor(lua_State *L, const rx_tensor *t);
/* An integer argument (floats with an exact integer value are accepted); `what` names it in
 * the error ("expected an integer dim, got 1.5"). */
lua_Integer rxl_check_integer(lua_State *L, int idx, const char *what);
/* Converts the 1-based Lua dim `d` (argument idx) for ndim dims, or raises. */
int rxl_dim_value(lua_State *L, int idx, lua_Integer d, int ndim);
/* A shape given as a table at idx ({2, 3}) or as integers starting at idx (2, 3). Writes up to
 * 8 sizes and returns the dim count; *nargs receives how many arguments it used (may be NULL).
 * Sizes are not range-checked (views accept -1). */
int rxl_check_shape(lua_State *L, int idx, int64_t *shape, int *nargs);
/* A dtype name ("f32", "bf16", torch names such as "float32" or "torch.int64"). */
rx_dtype rxl_check_dtype(lua_State *L, int idx);
/* Creation options {dtype=, device=, generator=} at idx (nil or absent: defaults). Unknown keys
 * are errors. `gen` may be NULL when the function takes no generator. */
void rxl_check_opts(lua_State *L, int idx, rx_dtype *dtype, rx_device *device, rx_generator **gen);
/* The generator userdata at idx (borrowed), or raises. */
rx_generator *rxl_check_generator(lua_State *L, int idx);
rx_generator *rxl_to_generator(lua_State *L, int idx); /* NULL when not a live generator */

/* Registration functions of each binding file, called by luaopen_recx_core with the module
 * table on top of the stack. */
void rxl_open_tensor(lua_State *L);
void rxl_open_mem(lua_State *L); /* mem.c: mem, num_threads, cuda */
void rxl_open_autograd(lua_State *L); /* autograd.c: gradient methods of tensors, no_grad */
void rxl_open_optim(lua_State *L);    /* optim.c: recx.core.optim, clock */
void rxl_open_safetensors(lua_State *L); /* safetensors.c: recx.core.safetensors */
void rxl_open_nn(lua_State *L);       /* nn.c: recx.core.nn (recx.nn.functional) */
void rxl_open_gguf(lua_State *L);      /* gguf.c: core.gguf */
void rxl_open_text(lua_State *L);      /* text.c: core.text (BPE tokenizer) */
void rxl_open_net(lua_State *L);       /* net.c: core.net (http download, sha256, zip) */
void rxl_open_data(lua_State *L);      /* data.c: core.data (fast readers for recsys data) */
void rxl_open_cuda_graph(lua_State *L); /* cuda_graph.c: the graph metatable */
int rxl_cuda_graph(lua_State *L);       /* cuda_graph.c: recx.cuda.graph */
void rxl_open_llama_decoder(lua_State *L); /* llama_decoder.c: recx.cuda.decoder, into the table on top */
void rxl_open_id_ring(lua_State *L);       /* id_ring.c: recx.cuda.id_ring, into the table on top */

/* Function lists of the tensor binding files, assembled by rxl_open_tensor: `methods` are
 * reachable as t:NAME(...) and recx.tensor.NAME(t, ...); `functions` only as recx.tensor.NAME. */
extern const luaL_Reg rxl_create_functions[]; /* tensor_create.c */
extern const luaL_Reg rxl_random_functions[]; /* tensor_random.c */
void rxl_open_generator(lua_State *L);        /* the recx.generator metatable */
extern const luaL_Reg rxl_random_methods[];
extern const luaL_Reg rxl_view_methods[];     /* tensor_views.c */
extern const luaL_Reg rxl_ops_methods[];      /* tensor_ops.c */
extern const luaL_Reg rxl_ops_functions[];
extern const luaL_Reg rxl_ops_metamethods[];
extern const luaL_Reg rxl_math_methods[];     /* tensor_math.c */
extern const luaL_Reg rxl_math_functions[];
extern const luaL_Reg rxl_print_methods[];    /* tensor_print.c */
int rxl_tensor_tostring(lua_State *L);

#endif /* RECX_LUA_H */
