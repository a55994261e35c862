-- recx.llm.kv_cache — the key/value cache of a Llama-family model for incremental decoding.
--
-- Owns: one preallocated key and one value tensor per layer, each (B, G, max_len, D) in the
-- model's dtype and on its device, written in place as forward() appends positions; the number
-- of valid positions (the same for every row: left padding is expressed by the attention mask,
-- not by per-row lengths); the attention mask of the positions seen so far when forward() was
-- given one; reorder (index_select over the batch, for beam search) and reset.
-- The cache holds no graph: keys and values are stored detached, so gradients do not flow
-- through cached positions (train without a cache).
-- Use:
--   local cache = model:new_cache(B, max_len)
--   model:forward(prompt_ids, {cache = cache})        -- prefill: writes positions 0..T-1
--   model:forward(next_ids, {cache = cache})          -- (B, 1): appends one position
--   cache:length(), cache:reorder(idx), cache:reset()
local core = require "recx.core"
local tensor = core.tensor

local Cache = {}
Cache.__index = Cache

local function fail(fmt, ...) error("kv_cache: " .. string.format(fmt, ...), 3) end

-- layers: number of layers; B, G, max_len, D sizes; opts {dtype, device}.
function Cache.new(layers, B, G, max_len, D, opts)
  for i, v in ipairs({B, max_len}) do
    if math.type(v) ~= "integer" or v < 1 then
      fail("argument #%d: expected a positive integer %s, got %s", i, i == 1 and "batch size" or "max_len", tostring(v))
    end
  end
  local self = setmetatable({B = B, G = G, max_len = max_len, D = D, n = 0, k = {}, v = {}, mask = nil}, Cache)
  local topts = {dtype = opts.dtype, device = opts.device}
  for l = 1, layers do
    self.k[l] = tensor.zeros({B, G, max_len, D}, topts)
    self.v[l] = tensor.zeros({B, G, max_len, D}, topts)
  end
  return self
end

function Cache.is_cache(v)
  return getmetatable(v) == Cache
end

-- Number of positions written so far.
function Cache:length()
  return self.n
end

function Cache:batch_size()
  return self.B
end

-- Forgets every position (the buffers are kept and overwritten by the next forward).
function Cache:reset()
  self.n = 0
  self.mask = nil
  return self
end

-- Checks that T more positions fit (called by forward before any work).
function Cache:check_append(B, Tn)
  if B ~= self.B then
    error(string.format("forward: cache: expected batch size %d, got %d", self.B, B), 0)
  end
  if self.n + Tn > self.max_len then
    error(string.format("forward: cache: %d cached + %d new positions exceed max_len %d", self.n, Tn, self.max_len), 0)
  end
end

-- Writes k, v (B, G, T, D) of layer l at positions n..n+T-1 and returns the valid prefix views
-- (B, G, n + T, D). The position count advances in advance(), once per forward.
function Cache:update(l, k, v)
  local Tn = k:size(3)
  core.no_grad(function()
    self.k[l]:narrow(3, self.n + 1, Tn):copy_(k)
    self.v[l]:narrow(3, self.n + 1, Tn):copy_(v)
  end)
  return self.k[l]:narrow(3, 1, self.n + Tn), self.v[l]:narrow(3, 1, self.n + Tn)
end

function Cache:advance(Tn)
  self.n = self.n + Tn
end

-- Keeps rows idx (a (B',) i32/i64 tensor of 0-based batch rows, repeats allowed) of every
-- buffer: the cache then has batch size B'. Returns self.
function Cache:reorder(idx)
  if not tensor.is_tensor(idx) or idx:dim() ~= 1 or (idx:dtype() ~= "i64" and idx:dtype() ~= "i32") then
    fail("reorder: argument #2: expected a 1-D i32/i64 tensor of batch rows")
  end
  local mx, mn = idx:max():item(), idx:min():item()
  if idx:numel() == 0 or mn < 0 or mx >= self.B then
    fail("reorder: argument #2: rows must lie in [0, %d), got [%d, %d]", self.B, mn or 0, mx or 0)
  end
  local dev = self.k[1]:device()
  local index = idx:to(dev)
  core.no_grad(function()
    for l = 1, #self.k do
      self.k[l] = self.k[l]:index_select(1, index)
      self.v[l] = self.v[l]:index_select(1, index)
    end
    if self.mask then self.mask = self.mask:index_select(1, index:to(self.mask:device())) end
  end)
  self.B = idx:numel()
  return self
end

-- Bytes held by the key and value buffers.
function Cache:nbytes()
  local n = 0
  for l = 1, #self.k do
    local per = ({f32 = 4, f64 = 8, f16 = 2, bf16 = 2})[self.k[l]:dtype()] or 4
    n = n + 2 * self.k[l]:numel() * per
  end
  return n
end

return Cache
