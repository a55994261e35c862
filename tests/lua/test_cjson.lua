-- test_cjson.lua — system Lua C modules (lua-cjson) load inside recx, and tensors round-trip
-- through JSON as nested lists.
local T = require "harness"
local recx = require "recx"

T.case("require cjson works from recx", function()
  local ok, cjson = pcall(require, "cjson")
  T.ok(ok, "require 'cjson': " .. tostring(cjson))
  if not ok then return end
  T.eq(cjson.decode('{"a": [1, 2, 3]}').a, {1.0, 2.0, 3.0}, "cjson decodes numbers as floats")
  local x = recx.tensor.from({{1, 2}, {3, 4}}, {dtype = "i64"})
  local text = cjson.encode({ids = x:tolist()})
  T.eq(text, '{"ids":[[1,2],[3,4]]}')
  local back = recx.tensor.from(cjson.decode(text).ids, {dtype = "i64"})
  T.eq(back:tolist(), x:tolist())
  T.eq(tostring(back), "tensor([[1, 2],\n        [3, 4]])")
end)

T.done()
