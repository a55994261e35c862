-- test_tensor_print.lua — the exact text of tostring(t) (PyTorch's layout).
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

local function is(t, want, message) T.eq(tostring(t), want, message) end

T.case("floats: integral values, 4 decimals, widths", function()
  is(tensor.from({{1, 2, 3}, {4, 5, 6}}), "tensor([[1., 2., 3.],\n        [4., 5., 6.]])")
  is(tensor.zeros(2, 2), "tensor([[0., 0.],\n        [0., 0.]])")
  is(tensor.from({1.5, -2.25, 3}), "tensor([ 1.5000, -2.2500,  3.0000])")
  is(tensor.from({{-1.5, 2}, {3, 4}}), "tensor([[-1.5000,  2.0000],\n        [ 3.0000,  4.0000]])")
  is(tensor.from({0.12345, 1}), "tensor([0.1235, 1.0000])", "rounded to 4 decimals")
  is(tensor.from({-3, 10}), "tensor([-3., 10.])")
end)

T.case("floats: scientific when the range demands it", function()
  is(tensor.from({1e-5, 1}), "tensor([1.0000e-05, 1.0000e+00])", "min below 1e-4")
  is(tensor.from({1, 2000}), "tensor([1.0000e+00, 2.0000e+03])", "max/min above 1000")
  is(tensor.from({1e9}), "tensor([1.0000e+09])", "max above 1e8")
  is(tensor.from({0.5, 123.25}), "tensor([  0.5000, 123.2500])", "a ratio under 1000 stays fixed")
end)

T.case("non-finite values", function()
  is(tensor.from({0 / 0, math.huge, -math.huge, 1}), "tensor([nan, inf, -inf, 1.])")
  is(tensor.from({0 / 0, 1.5}), "tensor([   nan, 1.5000])")
end)

T.case("integers and bools", function()
  is(tensor.arange(5), "tensor([0, 1, 2, 3, 4])")
  is(tensor.from({1, -10, 100}, {dtype = "i64"}), "tensor([  1, -10, 100])")
  is(tensor.from({true, false, true}), "tensor([ True, False,  True])")
  is(tensor.from({{true}, {false}}), "tensor([[ True],\n        [False]])")
  is(tensor.from({0, 255}, {dtype = "u8"}), "tensor([  0, 255], dtype=u8)")
  is(tensor.from({1, 2}, {dtype = "i32"}), "tensor([1, 2], dtype=i32)")
end)

T.case("0-d tensors", function()
  is(tensor.from(3.5), "tensor(3.5000)")
  is(tensor.from(7), "tensor(7.)")
  is(tensor.from(7, {dtype = "i64"}), "tensor(7)")
  is(tensor.from(true), "tensor(True)")
  is(tensor.from(-2, {dtype = "i32"}), "tensor(-2, dtype=i32)")
  is(tensor.from({{1, 2}}):sum(), "tensor(3.)")
end)

T.case("empty tensors", function()
  is(tensor.zeros(0, 3), "tensor([], size=(0, 3))")
  is(tensor.zeros(0), "tensor([])")
  is(tensor.zeros(2, 0, 4), "tensor([], size=(2, 0, 4))")
  is(tensor.zeros(0, {dtype = "i64"}), "tensor([], dtype=i64)", "an empty tensor always names a non-f32 dtype")
  is(tensor.zeros(0, 2, {dtype = "bf16"}), "tensor([], size=(0, 2), dtype=bf16)")
end)

T.case("dtype suffixes", function()
  is(tensor.from({1, 2}, {dtype = "bf16"}), "tensor([1., 2.], dtype=bf16)")
  is(tensor.from({1 / 3}, {dtype = "f16"}), "tensor([0.3333], dtype=f16)")
  is(tensor.from({0.12345, 1}, {dtype = "f64"}), "tensor([0.1235, 1.0000], dtype=f64)")
  -- a suffix that does not fit the line moves to the next one
  is(tensor.arange(14, {dtype = "bf16"}),
    "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n" ..
    "       dtype=bf16)")
end)

T.case("nesting and line wrapping", function()
  is(tensor.arange(8):view(2, 2, 2),
    "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])")
  is(tensor.arange(6):view(2, 3):t(), "tensor([[0, 3],\n        [1, 4],\n        [2, 5]])", "a transposed view")
  is(tensor.arange(30, {dtype = "f32"}),
    "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n" ..
    "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n" ..
    "        28., 29.])")
end)

T.case("large tensors are summarised", function()
  is(tensor.arange(2000), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])")
  is(tensor.arange(1000), tostring(tensor.arange(1000)), "deterministic")
  T.ok(not tostring(tensor.arange(1000)):find("...", 1, true), "1000 elements are printed in full")
  is(tensor.arange(2000):view(100, 20),
    "tensor([[   0,    1,    2,  ...,   17,   18,   19],\n" ..
    "        [  20,   21,   22,  ...,   37,   38,   39],\n" ..
    "        [  40,   41,   42,  ...,   57,   58,   59],\n" ..
    "        ...,\n" ..
    "        [1940, 1941, 1942,  ..., 1957, 1958, 1959],\n" ..
    "        [1960, 1961, 1962,  ..., 1977, 1978, 1979],\n" ..
    "        [1980, 1981, 1982,  ..., 1997, 1998, 1999]])")
  -- the width comes only from the shown elements (the hidden 5000 would need 4 digits)
  local x = tensor.zeros(5001)
  x:narrow(1, 2500, 1):fill_(5000)
  is(x, "tensor([0., 0., 0.,  ..., 0., 0., 0.])")
end)

T.done()
