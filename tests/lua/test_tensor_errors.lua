-- test_tensor_errors.lua — every argument error names the function and the argument position
-- (method form: self is #1) in Lua terms (1-based dims).
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

local m = tensor.ones(2, 3)

T.case("core messages pass through, dims counted from 1", function()
  T.raises("matmul: argument #2: expected shape (*, 64, m), got (8, 32)",
    tensor.matmul, tensor.ones(4, 64), tensor.ones(8, 32))
  T.raises("add: shapes (2, 3) and (4, 5) cannot be broadcast (dim 1: 2 vs 4)", tensor.add, m, tensor.ones(4, 5))
  T.raises("add: argument #1 is f32 but argument #2 is f64 (cast one with :to())",
    function() return m + m:to("f64") end)
  T.raises("index_select: argument #3: index 9 out of range for dim 1 of size 2",
    m.index_select, m, 1, tensor.from({0, 9}, {dtype = "i64"}))
  T.raises("index_select: argument #3: expected an i32 or i64 index tensor, got f32",
    m.index_select, m, 1, tensor.from({0}))
  T.raises("mean: argument #1: expected a floating-point tensor", tensor.mean, tensor.ones(2, {dtype = "i64"}))
  T.raises("view: argument #2: shape (4) has 4 elements but the tensor (2, 3) has 6", m.view, m, 4)
  T.raises("cat: argument #1: element #2: expected the sizes of element #1 (2, 3) in every dim but 1, got (2, 4)",
    tensor.cat, {m, tensor.ones(2, 4)})
end)

T.case("dims out of range, in Lua terms", function()
  T.raises("narrow: argument #2: dim 3 out of range for a 2-D tensor (expected -2..2 excluding 0)",
    m.narrow, m, 3, 1, 1)
  T.raises("narrow: argument #2: dim 0 out of range for a 2-D tensor (expected -2..2 excluding 0)",
    m.narrow, m, 0, 1, 1)
  T.raises("transpose: argument #3: dim -3 out of range for a 2-D tensor", m.transpose, m, 1, -3)
  T.raises("select: argument #2: dim 5 out of range for a 2-D tensor", m.select, m, 5, 1)
  T.raises("size: argument #2: dim 3 out of range for a 2-D tensor", m.size, m, 3)
  T.raises("sum: argument #2: dim 3 out of range for a 2-D tensor (expected -2..2 excluding 0)", m.sum, m, 3)
  T.raises("sum: argument #2: dim 3 out of range", m.sum, m, {1, 3})
  T.raises("max: argument #2: dim -3 out of range", m.max, m, -3)
  T.raises("softmax: argument #2: dim 3 out of range", m.softmax, m, 3)
  T.raises("cumsum: argument #2: dim 0 out of range", m.cumsum, m, 0)
  T.raises("sort: argument #2: dim 4 out of range", m.sort, m, 4)
  T.raises("topk: argument #3: dim 3 out of range", m.topk, m, 1, 3)
  T.raises("squeeze: argument #2: dim 3 out of range", m.squeeze, m, 3)
  T.raises("unsqueeze: argument #2: dim 4 out of range to unsqueeze a 2-D tensor (expected -3..3 excluding 0)",
    m.unsqueeze, m, 4)
  T.raises("gather: argument #2: dim 3 out of range", m.gather, m, 3, tensor.zeros(1, {dtype = "i64"}))
  T.raises("cat: argument #2: dim 3 out of range", tensor.cat, {m, m}, 3)
  T.raises("stack: argument #2: dim 4 out of range to stack 2-D tensors (expected -3..3 excluding 0)",
    tensor.stack, {m, m}, 4)
  T.raises("narrow: argument #2: expected an integer dim, got 1.5", m.narrow, m, 1.5, 1, 1)
  T.raises("narrow: argument #2: expected an integer dim, got no value", m.narrow, m)
end)

T.case("positions and sizes of views", function()
  T.raises("narrow: argument #3: start 4 out of range for dim 1 of size 2", m.narrow, m, 1, 4, 0)
  T.raises("narrow: argument #4: length 3 from start 2 goes past the end of dim 2 (size 3)", m.narrow, m, 2, 2, 3)
  T.raises("narrow: argument #4: length -1", m.narrow, m, 2, 1, -1)
  T.raises("select: argument #3: index 4 out of range for dim 2 of size 3 (expected -3..3 excluding 0)",
    m.select, m, 2, 4)
  T.raises("select: argument #3: index 0 out of range", m.select, m, 2, 0)
  T.raises("select: argument #1: cannot select from a 0-d tensor", tensor.select, tensor.from(1), 1, 1)
  T.raises("permute: argument #2: expected 2 dims for a 2-D tensor, got 3", m.permute, m, 1, 2, 1)
  T.raises("permute: argument #3: dim 1 appears twice", m.permute, m, 1, -2)
  T.raises("expand: argument #2: cannot expand (2, 3) to (4, 3): dim 1 has size 2, not 1", m.expand, m, 4, 3)
  T.raises("view: argument #3: invalid size -2 at dim 2", m.view, m, 3, -2)
  T.raises("view: the strides of a (3, 2) tensor do not allow viewing it as (6)", tensor.view, m:t(), 6)
  T.raises("t: argument #1: expected a tensor with at most 2 dims, got 3-D", tensor.t, tensor.ones(1, 2, 3))
  T.raises("copy_: argument #2: cannot expand (3) to (3, 2): dim 1 has size 3, not 1",
    tensor.copy_, tensor.zeros(3, 2), tensor.ones(3))
  T.raises("item: argument #1: expected a tensor with one element, got shape (2, 3)", m.item, m)
  T.raises("len: argument #1: a 0-d tensor has no length", function() return #tensor.from(1) end)
end)

T.case("wrong argument types", function()
  T.raises("numel: argument #1: expected a tensor, got nil", tensor.numel, nil)
  T.raises("add: argument #2: expected a tensor or a number, got string", function() return m + "x" end)
  T.raises("mul: argument #1: expected a tensor or a number, got table", function() return {} * m end)
  T.raises("add: argument #1: expected a tensor (at least one side must be), got number", tensor.add, 1, 2)
  T.raises("matmul: argument #2: expected a tensor, got number", m.matmul, m, 3)
  T.raises("sub: argument #1: expected an integer to combine with a i64 tensor, got 2.5",
    function() return 2.5 - tensor.ones(2, {dtype = "i64"}) end)
  T.raises("add_: argument #2: expected an integer to combine with a i32 tensor, got 0.5",
    tensor.add_, tensor.ones(2, {dtype = "i32"}), 0.5)
  T.raises("clamp: argument #3: expected a number or nil, got string", m.clamp, m, 0, "1")
  T.raises("clamp: argument #2: expected at least one bound", m.clamp, m)
  T.raises("masked_fill: argument #3: expected a number or a boolean, got no value", m.masked_fill, m,
    tensor.from({true}))
  T.raises("sum: argument #3: expected keepdim as a boolean, got number", m.sum, m, 1, 1)
  T.raises("sum: argument #2: dim -2 appears twice", m.sum, m, {1, -2})
  T.raises("softmax: argument #2: expected a dim (1-based, -1 = last), got nil", m.softmax, m)
  T.raises("to: argument #2: unknown dtype or device 'f33'", m.to, m, "f33")
  T.raises("to: argument #2: expected a dtype, a device or {dtype=, device=}, got number", m.to, m, 1)
  T.raises("fill_: argument #2: expected a number or a boolean, got string", m.fill_, m, "1")
  T.raises("cat: argument #1: expected a list of tensors ({a, b, ...}), got userdata", tensor.cat, m)
  T.raises("cat: argument #1: expected a non-empty list of tensors", tensor.cat, {})
  T.raises("stack: argument #1: element 2 is a number, expected a tensor", tensor.stack, {m, 5})
  local dead = tensor.ones(2, 3)
  dead:release()
  T.raises("cat: argument #1: element 2: tensor was released", tensor.cat, {m, dead})
  T.raises("multinomial: argument #3: expected replacement as a boolean, got number", m.multinomial, m, 1, 1)
end)

T.case("creation errors", function()
  T.raises("from: argument #1: ragged nested table: [2] has 1 elements, expected 2",
    tensor.from, {{1, 2}, {3}})
  T.raises("from: argument #1: ragged nested table: element [2][1] is a number, expected a table of 2 elements",
    tensor.from, {{{1, 2}}, {3}})
  T.raises("from: argument #1: ragged nested table: element [2] is a table, expected a number",
    tensor.from, {1, {2}})
  T.raises("from: argument #1: element [1][2] is a string, expected a number or a boolean",
    tensor.from, {{1, "2"}})
  T.raises("from: argument #1: element [3] is a boolean but the first element is a number (no mixing)",
    tensor.from, {1, 2, true})
  T.raises("from: argument #1: expected a (nested) table of numbers or booleans, got string", tensor.from, "1")
  T.raises("from: argument #2: unknown dtype 'f33'", tensor.from, {1}, {dtype = "f33"})
  T.raises("zeros: argument #2: size -3 at dim 2 is negative", tensor.zeros, 2, -3)
  T.raises("zeros: argument #1: size -3 at dim 2 is negative", tensor.zeros, {2, -3})
  T.raises("zeros: argument #1: expected a shape (a table like {2, 3} or integers), got string", tensor.zeros, "2")
  T.raises("zeros: argument #1: expected a shape (a list of integers), element 2 is the non-integer 1.5",
    tensor.zeros, {2, 1.5})
  T.raises("ones: argument #1: expected at most 8 dims, got 9", tensor.ones, {1, 1, 1, 1, 1, 1, 1, 1, 1})
  T.raises("zeros: argument #3: unknown dtype 'f33' (expected one of", tensor.zeros, 2, 3, {dtype = "f33"})
  T.raises("zeros: argument #2: unknown option 'dtyp' (expected dtype, device)", tensor.zeros, {2}, {dtyp = "f32"})
  T.raises("rand: argument #2: unknown option 'seed' (expected dtype, device, generator)",
    tensor.rand, {2}, {seed = 1})
  T.raises("empty: argument #2: expected an options table", tensor.empty, {2}, "f32")
  T.raises("zeros: argument #2: unknown device 'gpu'", tensor.zeros, {2}, {device = "gpu"})
  T.raises("full: argument #2: expected a fill value (a number or a boolean), got no value", tensor.full, {2})
  T.raises("arange: argument #1: expected a number", tensor.arange, "3")
  T.raises("arange: argument #3: step must not be 0", tensor.arange, 0, 3, 0)
  T.raises("randint: argument #2: expected high > low, got low = 5, high = 2", tensor.randint, 5, 2, {3})
  T.raises("rand: argument #2: generator: expected a generator (recx.tensor.generator(seed)), got number",
    tensor.rand, {2}, {generator = 5})
  T.raises("set_state: argument #2: expected a state table", tensor.generator(1).set_state, tensor.generator(1), 5)
  T.raises("generator: argument #1: expected an integer seed, got string", tensor.generator, "x")
  if not recx.cuda.is_available() then
    T.raises("zeros: argument #2: device 'cuda:0' is not available", tensor.zeros, {2}, {device = "cuda:0"})
  end
end)

T.case("errors keep the file and line of the caller", function()
  local ok, err = pcall(function() return m:narrow(9, 1, 1) end)
  T.ok(not ok)
  T.ok(err:find("test_tensor_errors.lua:%d+: narrow: argument #2") ~= nil, err)
  ok, err = pcall(function() return m:matmul(m) end)
  T.ok(err:find("test_tensor_errors.lua:%d+: matmul: argument #2") ~= nil, err)
end)

T.done()
