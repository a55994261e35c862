-- recx — the Lua face of the recx runtime: `local recx = require "recx"`.
--
-- Owns: assembling the public module from the C core ("recx.core": tensors, memory, devices)
-- and the pure-Lua parts (config; later nn, optim, data, templates). Recipes and the REPL see
-- only this table.
local core = require "recx.core"

local recx = {
  version = core.version,
  tensor = core.tensor,           -- tensors: creation, views, ops (docs/lua-api.md)
  mem = core.mem,                 -- mem([device]) -> {live_bytes=, peak_bytes=, live_tensors=, ...}
  mem_reset_peak = core.mem_reset_peak,
  num_threads = core.num_threads, -- num_threads([n]) -> CPU threads used by kernels and BLAS
  cuda = core.cuda,               -- {is_available = fn, device_count = fn}
  config = require("recx.config").config,
}

return recx
