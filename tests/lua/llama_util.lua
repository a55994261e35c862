-- llama_util.lua — shared by the test_llama_*.lua tests: comparisons computed in plain Lua
-- doubles (never with the recx ops under test), fixture paths and the optional Python check.
local recx = require "recx"

local M = {}

M.FIXTURES = "../fixtures/"
M.TINY = {"gqa", "tied", "qwen2", "llama3", "mistral", "bias"}
M.PYTHON = "/opt/refenv/bin/python"

local flatten = require("fixture").flatten
M.flatten = flatten

-- Largest |a - b| over two tensors of one shape (converted to f64 on the CPU first).
function M.maxdiff(a, b)
  local sa, sb = table.concat(a:shape(), ","), table.concat(b:shape(), ",")
  assert(sa == sb, "maxdiff: shapes differ: (" .. sa .. ") vs (" .. sb .. ")")
  local x = flatten(a:detach():to({dtype = "f64", device = "cpu"}):tolist(), {})
  local y = flatten(b:detach():to({dtype = "f64", device = "cpu"}):tolist(), {})
  local m = 0
  for i = 1, #x do
    local d = math.abs(x[i] - y[i])
    if d ~= d then return math.huge end
    if d > m then m = d end
  end
  return m
end

function M.reference(name)
  return recx.safetensors.load(M.FIXTURES .. "llama_tiny_" .. name .. "/reference.safetensors")
end

function M.has_python()
  local f = io.open(M.PYTHON, "rb")
  if f then f:close() return true end
  return false
end

-- Runs the fixture script in a check mode over pairs {{path, expect}, ...}; returns ok, output.
function M.python_check(mode, pairs, tol)
  local args = {}
  for _, p in ipairs(pairs) do args[#args + 1] = string.format("'%s' '%s'", p[1], p[2]) end
  local cmd = string.format("%s %smake_llama_fixtures.py %s %g %s 2>&1", M.PYTHON, M.FIXTURES, mode, tol,
    table.concat(args, " "))
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok = p:close()
  return ok == true, out
end

function M.tmpdir(tag)
  local d = os.tmpname()
  os.remove(d)
  d = d .. "_" .. tag
  os.execute("mkdir -p '" .. d .. "'")
  return d
end

function M.rmdir(d)
  os.execute("rm -rf '" .. d .. "'")
end

-- ids (B, T) i64 from nested Lua lists.
function M.ids(t)
  return recx.tensor.from(t, {dtype = "i64"})
end

-- The model's shifted loss on the reference batch within 1e-6 of HF's and three weight gradients
-- within 2e-6 (assertions through the harness T).
function M.check_loss_and_grads(T, m, ref, name)
  local loss = m:loss(ref.input_ids, ref.labels)
  T.eq(loss:dtype(), "f32")
  T.near(loss:item(), ref.loss:item(), 1e-6, name .. ": loss")
  loss:backward()
  local p = {}
  for _, e in ipairs(m:named_parameters()) do p[e[1]] = e[2] end
  for _, g in ipairs({"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
      "model.layers.1.mlp.down_proj.weight"}) do
    local d = M.maxdiff(p[g]:grad(), ref["grad." .. g])
    T.ok(d <= 2e-6, string.format("%s: grad %s max diff %.3g", name, g, d))
  end
end

-- prompts (lists of ids) LEFT-padded to T0 positions with id 0: ids (B, T0) i64 and the mask
-- (B, T0) i64 (1 = real token), as recx.llm.generate builds them.
function M.left_padded(prompts, T0)
  local ids, mask = {}, {}
  for b, p in ipairs(prompts) do
    ids[b], mask[b] = {}, {}
    for t = 1, T0 do
      local k = t - (T0 - #p)
      ids[b][t], mask[b][t] = k >= 1 and p[k] or 0, k >= 1 and 1 or 0
    end
  end
  return recx.tensor.from(ids, {dtype = "i64"}), recx.tensor.from(mask, {dtype = "i64"})
end

-- Loads each saved folder of pairs ({folder, expect.safetensors}) with transformers (when
-- M.PYTHON exists) and checks its logits within 1e-5 of the expected ones; n folders must pass.
function M.check_with_transformers(T, pairs, n)
  if not M.has_python() then
    print("  (skipped inside the test: transformers check, " .. M.PYTHON .. " not found)")
    return
  end
  local ok, out = M.python_check("--check-hf", pairs, 1e-5)
  T.ok(ok, "transformers: " .. out)
  local passed = 0
  for _ in out:gmatch('"ok": true') do passed = passed + 1 end
  T.eq(passed, n, n .. " folders checked")
end

return M
