-- test_rope_append_kv.lua — F.rope_append_kv(qkv, cos, sin, cache_k, cache_v, slot, heads, kv_heads)
-- from Lua: a tiny case against values computed here in plain Lua, SmolLM2's heads against the
-- unfused ops (F.rope on the q and k columns, the v columns as they are), the decode pattern (one
-- slot tensor rewritten per step), bf16, and the errors in Lua terms (argument positions, the
-- slot range, grad mode).
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local F = recx.nn.functional

local function slot(n, dtype) return tensor.from({n}, {dtype = dtype or "i64"}) end

T.case("a tiny case against plain Lua (H 2, G 1, D 4)", function()
  local B, Tn, H, G, D, L = 1, 2, 2, 1, 4, 4
  local W = (H + 2 * G) * D
  local x, c, s = {}, {}, {}
  for t = 1, Tn do
    local row = {}
    for i = 1, W do row[i] = ((i * 7 + t * 3) % 11 - 5) / 4 end
    x[t] = row
    c[t], s[t] = {}, {}
    for j = 1, D do c[t][j] = math.cos(t * j / 3); s[t][j] = math.sin(t * j / 3) end
  end
  local qkv = tensor.from({x}, {dtype = "f64"})
  local cos, sin = tensor.from(c, {dtype = "f64"}), tensor.from(s, {dtype = "f64"})
  local ck, cv = tensor.full({B, G, L, D}, 9, {dtype = "f64"}), tensor.full({B, G, L, D}, -9, {dtype = "f64"})
  local q = F.rope_append_kv(qkv, cos, sin, ck, cv, slot(1), H, G)
  T.eq(q:shape(), {B, H, Tn, D})
  local half = D / 2
  local function rot(t, first) -- the rotated head whose columns start after `first`
    local r = {}
    for j = 1, D do
      local xj = x[t][first + j]
      local rh = j <= half and -x[t][first + j + half] or x[t][first + j - half]
      r[j] = xj * c[t][j] + rh * s[t][j]
    end
    return r
  end
  local want_q = {{}, {}}
  for h = 1, H do
    for t = 1, Tn do want_q[h][t] = rot(t, (h - 1) * D) end
  end
  T.near(q:tolist()[1], want_q, 1e-12, "q")
  local kl, vl = ck:tolist()[1][1], cv:tolist()[1][1]
  T.eq(kl[1], {9, 9, 9, 9}, "slot 0 untouched")
  T.eq(kl[4], {9, 9, 9, 9}, "slot 3 untouched")
  T.eq(vl[1], {-9, -9, -9, -9})
  for t = 1, Tn do
    T.near(kl[1 + t], rot(t, H * D), 1e-12, "k at slot " .. t)
    T.eq(vl[1 + t], {x[t][(H + G) * D + 1], x[t][(H + G) * D + 2], x[t][(H + G) * D + 3], x[t][(H + G) * D + 4]},
      "v at slot " .. t)
  end
end)

-- qkv (B, T, W) columns [first, first + n) of heads as (B, n, T, D)
local function heads(qkv, first, n, D)
  local B, Tn = qkv:size(1), qkv:size(2)
  return qkv:narrow(3, first * D + 1, n * D):reshape(B, Tn, n, D):transpose(2, 3)
end

T.case("SmolLM2's heads (9, 3, 64) equal the unfused ops exactly", function()
  local g = tensor.generator(5)
  for _, dtype in ipairs({"f32", "bf16"}) do
    local B, Tn, H, G, D, L, s = 3, 5, 9, 3, 64, 8, 3
    local qkv = tensor.randn({B, Tn, (H + 2 * G) * D}, {generator = g}):to(dtype)
    local cos = tensor.randn({B, Tn, D}, {generator = g}):to(dtype)
    local sin = tensor.randn({B, Tn, D}, {generator = g}):to(dtype)
    local ck = tensor.randn({B, G, L, D}, {generator = g}):to(dtype)
    local cv = tensor.randn({B, G, L, D}, {generator = g}):to(dtype)
    local k0, v0 = ck:clone(), cv:clone()
    local q = F.rope_append_kv(qkv, cos, sin, ck, cv, slot(s, "i32"), H, G)
    T.eq(q:dtype(), dtype)
    T.eq(q:tolist(), F.rope(heads(qkv, 0, H, D), cos, sin):tolist(), dtype .. " q")
    T.eq(ck:narrow(3, s + 1, Tn):tolist(), F.rope(heads(qkv, H, G, D), cos, sin):tolist(), dtype .. " k")
    T.eq(cv:narrow(3, s + 1, Tn):tolist(), heads(qkv, H + G, G, D):tolist(), dtype .. " v")
    T.eq(ck:narrow(3, 1, s):tolist(), k0:narrow(3, 1, s):tolist(), "k before the slot")
    T.eq(cv:narrow(3, s + Tn + 1, L - s - Tn):tolist(), v0:narrow(3, s + Tn + 1, L - s - Tn):tolist(),
      "v after the slots")
  end
end)

T.case("decode: one slot tensor rewritten per step fills the cache", function()
  local g = tensor.generator(6)
  local B, H, G, D, L = 2, 4, 2, 8, 5
  local ck, cv = tensor.zeros(B, G, L, D), tensor.zeros(B, G, L, D)
  local pos = tensor.zeros(1, {dtype = "i64"})
  local ks, vs = {}, {}
  for step = 0, L - 1 do
    pos:fill_(step)
    local qkv = tensor.randn({B, 1, (H + 2 * G) * D}, {generator = g})
    local cos, sin = tensor.randn({B, 1, D}, {generator = g}), tensor.randn({B, 1, D}, {generator = g})
    F.rope_append_kv(qkv, cos, sin, ck, cv, pos, H, G)
    ks[#ks + 1] = F.rope(heads(qkv, H, G, D), cos, sin)
    vs[#vs + 1] = heads(qkv, H + G, G, D)
  end
  T.eq(ck:tolist(), tensor.cat(ks, 3):tolist(), "keys of every step")
  T.eq(cv:tolist(), tensor.cat(vs, 3):tolist(), "values of every step")
end)

T.case("errors in Lua terms", function()
  local qkv, cos, sin = tensor.zeros(1, 2, 16), tensor.zeros(2, 4), tensor.zeros(2, 4)
  local ck, cv = tensor.zeros(1, 1, 3, 4), tensor.zeros(1, 1, 3, 4)
  local ok = F.rope_append_kv(qkv, cos, sin, ck, cv, slot(1), 2, 1)
  T.eq(ok:shape(), {1, 2, 2, 4})
  T.raises("rope_append_kv: argument #6: slot 2 out of range [0, 1]", F.rope_append_kv, qkv, cos, sin, ck, cv,
    slot(2), 2, 1)
  T.raises("rope_append_kv: argument #6: slot -1 out of range", F.rope_append_kv, qkv, cos, sin, ck, cv, slot(-1), 2, 1)
  T.raises("argument #6: expected a tensor, got number", F.rope_append_kv, qkv, cos, sin, ck, cv, 1, 2, 1)
  T.raises("argument #7: expected an integer heads, got 2.5", F.rope_append_kv, qkv, cos, sin, ck, cv, slot(0), 2.5, 1)
  T.raises("argument #8: expected an integer kv_heads, got no value", F.rope_append_kv, qkv, cos, sin, ck, cv,
    slot(0), 2)
  T.raises("rope_append_kv: argument #8: expected kv_heads >= 1 dividing heads 2, got 3", F.rope_append_kv, qkv, cos,
    sin, ck, cv, slot(0), 2, 3)
  T.raises("argument #2: expected a table of shape (2, 4) or (1, 2, 4), got (3, 4)", F.rope_append_kv, qkv,
    tensor.zeros(3, 4), sin, ck, cv, slot(0), 2, 1)
  T.raises("argument #5 shares storage with argument #4", F.rope_append_kv, qkv, cos, sin, ck, ck, slot(0), 2, 1)
  local w = tensor.zeros(1, 2, 16):requires_grad(true)
  T.raises("rope_append_kv: argument #1 requires grad, but rope_append_kv is inference only", F.rope_append_kv, w, cos,
    sin, ck, cv, slot(0), 2, 1)
  local q = recx.no_grad(F.rope_append_kv, w, cos, sin, ck, cv, slot(0), 2, 1)
  T.eq(q:requires_grad(), false, "allowed under no_grad")
end)

T.done()
