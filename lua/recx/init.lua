-- recx — the Lua face of the recx runtime: `local recx = require "recx"`.
--
-- Owns: assembling the public module from the C core ("recx.core": tensors, autograd, memory,
-- devices) and the pure-Lua parts (config, nn, optim, checkpoint, progress; later data,
-- templates). Recipes and the REPL see only this table. The Lua submodules load on first use
-- (`recx.nn` requires "recx.nn" the first time it is read), so `require "recx"` stays cheap.
local core = require "recx.core"

local recx = {
  version = core.version,
  tensor = core.tensor,           -- tensors: creation, views, ops, autograd (docs/lua-api.md)
  mem = core.mem,                 -- mem([device]) -> {live_bytes=, peak_bytes=, live_tensors=, ...}
  mem_reset_peak = core.mem_reset_peak,
  num_threads = core.num_threads, -- num_threads([n]) -> CPU threads used by kernels and BLAS
  cuda = core.cuda,               -- {is_available, device_count, synchronize, empty_cache}
  config = require("recx.config").config,
  no_grad = core.no_grad,         -- no_grad(fn, ...) -> fn(...) with grad mode off
  grad_enabled = core.grad_enabled,
  set_grad_enabled = core.set_grad_enabled,
  safetensors = core.safetensors, -- open / save / load of .safetensors files
  gguf = core.gguf,               -- open / save of GGUF files (docs/formats.md)
  clock = core.clock,             -- clock() -> monotonic seconds (for timing)
}

-- Submodules loaded on first access.
local lazy = {
  nn = "recx.nn",                 -- modules (Linear, Embedding, ...), nn.functional, nn.init
  optim = "recx.optim",           -- adamw, sgd, schedules, accumulate, clip_grad_norm
  checkpoint = "recx.checkpoint", -- save / load / resume of a training run (one safetensors file)
  progress = "recx.progress",     -- progress bars and JSON-lines logs
  tokenizer = "recx.text.tokenizer", -- BPE / SentencePiece tokenizers: load(tokenizer.json | folder | .gguf | .bin)
  llama = "recx.llm.llama",       -- Llama-family LLMs: new(config), load(HF folder | .gguf | llama2.c .bin)
  generate = "recx.llm.generate", -- decoding with a KV cache: greedy, sampling, beam search
  lora = "recx.nn.lora",          -- LoRA adapters: apply, merge, save, load
  hub = "recx.hub",               -- pull(name): models from the HF hub or the PyPI fallback
}

return setmetatable(recx, {
  __index = function(t, key)
    local name = lazy[key]
    if not name then return nil end
    local mod = require(name)
    rawset(t, key, mod)
    return mod
  end,
})
