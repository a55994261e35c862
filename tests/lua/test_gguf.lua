-- test_gguf.lua — recx.gguf against gguf-py: the committed fixture (one tensor per ggml type recx
-- decodes, every metadata type; written by tests/fixtures/make_gguf_fixtures.py), recx's writer
-- read back by recx and by gguf-py (when /opt/refenv/bin/python exists), the handle's ownership
-- rules and argument errors, and the real SmolLM2 GGUF (when it is in the models folder).
--
-- Tolerances: dequantised values must equal gguf-py's bit for bit (compared as doubles packed to
-- bytes, so -0.0 differs from 0.0); values written as F16/BF16 must be the nearest f16/bf16 of the
-- input (relative error <= 2^-11 / 2^-8, checked independently of recx's conversion, and equal to
-- what recx's own :to() gives).
local T = require "harness"
local recx = require "recx"
local cjson = require "cjson"

local FIX = "../fixtures/"
local PY = "/opt/refenv/bin/python"
local SCRIPT = "../fixtures/make_gguf_fixtures.py"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function have_python()
  return exists(PY) and os.execute(PY .. " -c 'import gguf, safetensors' 2>/dev/null") == true
end

-- Elements of two same-shaped tensors equal bit for bit (as doubles); returns the count checked.
local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, x in ipairs(v) do walk(x) end else out[#out + 1] = v end
  end
  walk(t:to("f64"):tolist())
  return out
end

local function same_bits(a, b, what)
  T.eq(a:shape(), b:shape(), what .. ": shape")
  local x, y = flat(a), flat(b)
  local bad, first = 0, nil
  for i = 1, #y do
    if string.pack("<d", x[i]) ~= string.pack("<d", y[i]) then
      bad = bad + 1
      first = first or string.format("element %d: %.9g vs %.9g", i, x[i], y[i])
    end
  end
  T.ok(#x == #y and bad == 0, string.format("%s: %d of %d elements differ (%s)", what, bad, #y, first or ""))
end

local function f32(x) return (string.unpack("<f", string.pack("<f", x))) end

local EXPECTED_TYPES = {
  f32 = "F32", f32_1d = "F32", f16 = "F16", f16_4d = "F16", bf16 = "BF16", f64 = "F64", i8 = "I8",
  i16 = "I16", i32 = "I32", i64 = "I64", q4_0 = "Q4_0", q4_1 = "Q4_1", q5_0 = "Q5_0", q5_1 = "Q5_1",
  q8_0 = "Q8_0", q8_0_3d = "Q8_0", q2_k = "Q2_K", q3_k = "Q3_K", q4_k = "Q4_K", q5_k = "Q5_K", q6_k = "Q6_K",
}

T.case("fixture: every tensor equals gguf-py's dequantisation bit for bit", function()
  local g <close> = recx.gguf.open(FIX .. "gguf_types.gguf")
  local refs = recx.safetensors.load(FIX .. "gguf_types_ref.safetensors")
  local seen = 0
  for _, info in ipairs(g:tensors()) do
    seen = seen + 1
    T.eq(info.type, EXPECTED_TYPES[info.name], info.name .. ": type")
    local x = g:load(info.name)
    T.eq(x:dtype(), "f32", info.name .. ": dtype")
    T.eq(info.shape, x:shape(), info.name .. ": info shape")
    same_bits(x, refs[info.name], info.name)
    T.eq(info.offset % 64, 0, info.name .. ": offset aligned to general.alignment 64")
  end
  T.eq(seen, 21, "tensor count")
  T.eq(#g, 21, "#g")
  T.eq(g:tensor_info("q8_0_3d").shape, {2, 3, 64}, "3-D shape is ne reversed")
  T.eq(g:tensor_info("q4_k").nbytes, 3 * 144, "Q4_K bytes: 3 blocks of 144")
  T.eq(g:tensor_info("nope"), nil)
end)

T.case("fixture: load converts to f16/bf16/f64 and keeps F16 as f16", function()
  local g <close> = recx.gguf.open(FIX .. "gguf_types.gguf")
  local refs = recx.safetensors.load(FIX .. "gguf_types_ref.safetensors")
  for _, name in ipairs({"q8_0", "q4_k", "q6_k"}) do
    for _, spec in ipairs({{"f16", 2 ^ -11}, {"bf16", 2 ^ -8}}) do
      local x = g:load(name, {dtype = spec[1]})
      T.eq(x:dtype(), spec[1])
      local a, b = flat(x), flat(refs[name])
      local worst = 0
      for i = 1, #b do
        local rel = math.abs(a[i] - b[i]) / math.max(math.abs(b[i]), 6.2e-5)
        worst = math.max(worst, rel)
      end
      T.ok(worst <= spec[2], string.format("%s as %s: relative error %g > %g", name, spec[1], worst, spec[2]))
    end
    same_bits(g:load(name, {dtype = "f64"}), refs[name], name .. " as f64")
  end
  local h = g:load("f16", {dtype = "f16"})
  T.eq(h:dtype(), "f16")
  same_bits(h, refs.f16, "f16 kept as f16")
  T.eq(g:load("i32", {dtype = "i32"}):tolist(), {{-2147483648, -7, 0}, {1, 99, 16777216}}, "I32 as i32")
  T.eq(g:load("i64", {dtype = "i64"}):tolist(), {-1099511627776, 0, 16777216}, "I64 as i64")
end)

-- the values make_gguf_fixtures.py writes (its METADATA list)
local META = {
  {"general.architecture", "str", "test"},
  {"general.alignment", "u32", 64},
  {"test.u8", "u8", 200}, {"test.i8", "i8", -100}, {"test.u16", "u16", 60000},
  {"test.i16", "i16", -30000}, {"test.u32", "u32", 4000000000}, {"test.i32", "i32", -2000000000},
  {"test.u64", "u64", 12345678901234567890.0}, {"test.i64", "i64", -9000000000000000000},
  {"test.f32", "f32", f32(0.1)}, {"test.f64", "f64", 3.141592653589793}, {"test.bool", "bool", true},
  {"test.str", "str", "héllo wörld ✓"}, {"test.str_nul", "str", "a\0b"}, {"test.empty_str", "str", ""},
  {"test.arr_u8", "arr[u8]", {1, 2, 255}}, {"test.arr_i8", "arr[i8]", {-128, 0, 127}},
  {"test.arr_u16", "arr[u16]", {0, 65535}}, {"test.arr_i16", "arr[i16]", {-32768, 32767}},
  {"test.arr_u32", "arr[u32]", {0, 4294967295}}, {"test.arr_i32", "arr[i32]", {-5, 7, 1000000}},
  {"test.arr_u64", "arr[u64]", {0, 9007199254740993}}, {"test.arr_i64", "arr[i64]", {-(1 << 62), 1 << 62}},
  {"test.arr_f32", "arr[f32]", {0.5, -1.25, f32(0.001)}}, {"test.arr_f64", "arr[f64]", {0.1, -2.5e300}},
  {"test.arr_bool", "arr[bool]", {true, false, true}}, {"test.arr_str", "arr[str]", {"a", "", "ü", "tab\there"}},
  {"test.arr_arr", "arr[arr[i32]]", {{1, 2}, {3, 4, 5}}}, {"test.arr_arr_str", "arr[arr[str]]", {{"x"}, {"y", "z"}}},
}

T.case("fixture: metadata values and types", function()
  local g <close> = recx.gguf.open(FIX .. "gguf_types.gguf")
  T.eq(g:version(), 3)
  local m = g:metadata()
  local n = 0
  for _ in pairs(m) do n = n + 1 end
  T.eq(n, #META, "metadata count")
  T.eq(g:keys()[3], "test.u8", "keys in file order")
  for _, e in ipairs(META) do
    local key, ty, want = e[1], e[2], e[3]
    T.eq(g:metadata_type(key), ty, key .. ": type")
    T.eq(m[key], want, key .. ": value")
    T.eq(g:get(key), want, key .. ": get")
  end
  -- integer types come back as Lua integers, floats as floats; u64 above maxinteger as a float
  T.eq(math.type(m["test.u32"]), "integer")
  T.eq(math.type(m["test.i64"]), "integer")
  T.eq(math.type(m["test.arr_u64"][2]), "integer")
  T.eq(m["test.arr_u64"][2], 9007199254740993, "2^53 + 1 exact")
  T.eq(math.type(m["test.u64"]), "float")
  T.eq(math.type(m["test.f64"]), "float")
  T.eq(math.type(m["test.arr_f32"][1]), "float")
  T.eq(#m["test.str_nul"], 3, "strings keep embedded NUL bytes")
  T.eq(g:get("absent"), nil)
  T.eq(g:metadata_type("absent"), nil)
end)

T.case("handle: close, <close>, tensors outliving the file, argument errors", function()
  local g = recx.gguf.open(FIX .. "gguf_types.gguf")
  local x = g:load("f32")
  local before = x:tolist()
  g:close()
  g:close()
  T.eq(tostring(g), "gguf(closed)")
  T.eq(x:tolist(), before, "a zero-copy tensor keeps the mapping alive")
  T.raises("the GGUF file was closed", g.metadata, g)
  T.raises("the GGUF file was closed", g.load, g, "f32")
  do
    local h <close> = recx.gguf.open(FIX .. "gguf_types.gguf")
    T.ok(tostring(h):find("gguf%(v3, 30 metadata, 21 tensors%)") ~= nil, tostring(h))
  end
  T.raises("open: argument #1: expected a file path (a string), got no value", recx.gguf.open)
  T.raises("gguf: /nonexistent/x.gguf: cannot open", recx.gguf.open, "/nonexistent/x.gguf")
  T.raises("bad magic", recx.gguf.open, FIX .. "gguf_types_ref.safetensors")
  local h <close> = recx.gguf.open(FIX .. "gguf_types.gguf")
  T.raises("tensor 'nope': no such tensor in the file", h.load, h, "nope")
  T.raises("load: argument #2: expected a tensor name (a string), got number", h.load, h, 3)
  T.raises("unknown option 'colour'", h.load, h, "f32", {colour = "red"})
  T.raises("load: argument #1: expected a GGUF file", h.load, {}, "f32")
  T.raises("get: argument #2: expected a metadata key (a string), got no value", h.get, h)
end)

-- what the writer tests save: every writable metadata type and F32/F16/BF16 tensors
local function writer_inputs()
  local base = recx.tensor.from({{1.0, -2.5, 3.25}, {1e-3, 65519.0, -7.0}, {0.1, 0.2, 0.3}, {1e30, -1e-30, 4.0}})
  local inputs = {
    w32 = base,
    w16 = base:narrow(1, 1, 3):t(),           -- non-contiguous (3, 3)
    wbf = recx.tensor.arange(0, 24):to("f32"):view(2, 3, 4) / 7,
    one = recx.tensor.from({42.0}),
    scalar = recx.tensor.from(1.5):view({}),   -- 0-d
  }
  local meta = {
    {"general.architecture", "str", "recx-test"},
    {"t.u8", "u8", 255}, {"t.i8", "i8", -128}, {"t.u16", "u16", 65535}, {"t.i16", "i16", -32768},
    {"t.u32", "u32", 4294967295}, {"t.i32", "i32", -2147483648}, {"t.u64", "u64", math.maxinteger},
    {"t.i64", "i64", math.mininteger}, {"t.f32", "f32", 0.1}, {"t.f64", "f64", -1 / 3}, {"t.bool", "bool", false},
    {"t.str", "str", "naïve \0 bytes"}, {"t.arr_u8", "arr[u8]", {0, 128, 255}},
    {"t.arr_i64", "arr[i64]", {math.mininteger, 0, math.maxinteger}}, {"t.arr_f32", "arr[f32]", {1.5, -0.1}},
    {"t.arr_f64", "arr[f64]", {1e300, -0.0}}, {"t.arr_bool", "arr[bool]", {false, true}},
    {"t.arr_str", "arr[str]", {"x", "", "ÿ"}}, {"t.empty", "arr[i32]", {}},
  }
  local tensors = {
    {"w32", inputs.w32}, {"w16", inputs.w16, type = "F16"}, {"wbf", inputs.wbf, type = "BF16"},
    {"one", inputs.one}, {"scalar", inputs.scalar, type = "F32"},
  }
  return meta, tensors, inputs
end

local function tmp_path(name)
  local dir = os.getenv("TMPDIR") or "/tmp"
  return string.format("%s/recx_test_gguf_%d_%s", dir, math.random(1, 1 << 30), name)
end

T.case("writer: recx writes, recx reads back equal", function()
  local meta, tensors, inputs = writer_inputs()
  local path = tmp_path("rt.gguf")
  recx.gguf.save(path, {metadata = meta, tensors = tensors})
  local g <close> = recx.gguf.open(path)
  T.eq(g:version(), 3)
  for _, e in ipairs(meta) do
    local want = e[3]
    if e[2] == "f32" then want = f32(want) end
    if e[2] == "arr[f32]" then want = {f32(want[1]), f32(want[2])} end
    T.eq(g:metadata_type(e[1]), e[2], e[1] .. ": type")
    T.eq(g:get(e[1]), want, e[1] .. ": value")
  end
  T.eq(string.pack("<d", g:get("t.arr_f64")[2]), string.pack("<d", -0.0), "-0.0 kept")
  local types = {}
  for _, info in ipairs(g:tensors()) do types[info.name] = info.type .. ":" .. table.concat(info.shape, "x") end
  T.eq(types, {w32 = "F32:4x3", w16 = "F16:3x3", wbf = "BF16:2x3x4", one = "F32:1", scalar = "F32:"}, "types and shapes")
  same_bits(g:load("w32"), inputs.w32, "F32 exact")
  same_bits(g:load("one"), inputs.one, "1-D")
  T.eq(g:load("scalar"):dim(), 0, "0-d stays 0-d")
  T.eq(g:load("scalar"):item(), 1.5)
  -- f16 / bf16: recx's own conversion, and within half an ulp of the input (independent check)
  for name, spec in pairs({w16 = {"f16", 2 ^ -11}, wbf = {"bf16", 2 ^ -8}}) do
    local back = g:load(name, {dtype = spec[1]})
    T.eq(back:dtype(), spec[1])
    same_bits(back, inputs[name]:to(spec[1]), name .. " equals :to(" .. spec[1] .. ")")
    local a, b = flat(back), flat(inputs[name])
    local worst = 0
    for i = 1, #b do worst = math.max(worst, math.abs(a[i] - b[i]) / math.max(math.abs(b[i]), 1e-30)) end
    T.ok(worst <= spec[2], string.format("%s: relative rounding error %g > %g", name, worst, spec[2]))
  end
  os.remove(path)
end)

T.case("writer: argument errors name the entry; a failed save leaves no file", function()
  local x = recx.tensor.zeros(2, 2)
  local path = tmp_path("bad.gguf")
  local function save(spec) return recx.gguf.save(path, spec) end
  T.raises("save: argument #2: metadata[1] ('k'): unknown type 'u128'", save, {metadata = {{"k", "u128", 1}}})
  T.raises("metadata[1] ('k'): expected an integer for type u32, got string", save, {metadata = {{"k", "u32", "1"}}})
  T.raises("metadata[1] ('k'): expected an integer for type u32, got a non-integer number", save,
    {metadata = {{"k", "u32", 1.5}}})
  T.raises("key 'k': value 300 out of range for u8", save, {metadata = {{"k", "u8", 300}}})
  T.raises("key 'k': value -1 out of range for u64", save, {metadata = {{"k", "u64", -1}}})
  T.raises("key 'k': element 1 = 70000 out of range for u16", save, {metadata = {{"k", "arr[u16]", {1, 70000}}}})
  T.raises("metadata[1] ('k'): element 2: expected a string, got number", save, {metadata = {{"k", "arr[str]", {"a", 1}}}})
  T.raises("metadata[1] ('k'): expected a boolean for type bool, got number", save, {metadata = {{"k", "bool", 1}}})
  T.raises("key 'k': duplicate key", save, {metadata = {{"k", "u8", 1}, {"k", "u8", 2}}})
  T.raises("metadata[1]: expected a key (string) first, got number", save, {metadata = {{1, "u8", 1}}})
  T.raises("tensors[1] ('w'): type: expected \"F32\", \"F16\" or \"BF16\", got Q4_0", save,
    {tensors = {{"w", x, type = "Q4_0"}}})
  T.raises("tensors[1] ('w'): expected a tensor second, got string", save, {tensors = {{"w", "x"}}})
  T.raises("tensor 'w': duplicate name", save, {tensors = {{"w", x}, {"w", x}}})
  T.raises("tensor 'w': 5 dims, GGUF stores at most 4", save, {tensors = {{"w", recx.tensor.zeros(1, 1, 1, 1, 1)}}})
  T.raises("tensor 'w': dim 1 has size 0 (GGUF needs sizes >= 1)", save, {tensors = {{"w", recx.tensor.zeros(0, 2)}}})
  T.raises("unknown field 'extra'", save, {extra = {}})
  T.raises("save: argument #1: expected a file path (a string), got no value", recx.gguf.save)
  T.raises("cannot create a temporary file", recx.gguf.save, "/nonexistent-dir/x.gguf", {tensors = {{"w", x}}})
  T.ok(not exists(path), "no file written by failed saves")
end)

T.case("writer: gguf-py reads a recx-written file", function()
  if not have_python() then
    print("  (skipped: " .. PY .. " with gguf-py is not installed)")
    return
  end
  local meta, tensors, inputs = writer_inputs()
  local path = tmp_path("py.gguf")
  recx.gguf.save(path, {metadata = meta, tensors = tensors})
  local p = io.popen(PY .. " " .. SCRIPT .. " --check " .. path .. " 2>&1")
  local lines = {}
  for line in p:lines() do lines[#lines + 1] = line end
  local ok = p:close()
  os.remove(path)
  T.ok(ok, "--check exited 0: " .. table.concat(lines, "\n"))
  if not ok then return end
  local head = cjson.decode(lines[1])
  T.eq({head.version, head.alignment}, {3, 32}, "version and alignment")
  local kv, ts = {}, {}
  for i = 2, #lines do
    local o = cjson.decode(lines[i])
    if o.kv then kv[o.kv] = o else ts[o.tensor] = o end
  end
  for _, e in ipairs(meta) do
    local o = kv[e[1]]
    T.ok(o ~= nil, e[1] .. " seen by gguf-py")
    if o then
      -- gguf-py records no element type for an empty array
      T.eq(o.type, (type(e[3]) == "table" and #e[3] == 0) and "arr" or e[2], e[1] .. ": type seen by gguf-py")
      if e[2] == "str" or e[2] == "arr[str]" or e[2] == "bool" or e[2] == "arr[bool]" then
        T.eq(o.value, e[3], e[1] .. ": value")
      else -- cjson decodes numbers as doubles: compare as doubles
        local want = e[3]
        if type(want) == "table" then
          local w = {}
          for i, v in ipairs(want) do w[i] = v + 0.0 end
          want = w
        else
          want = want + 0.0
        end
        if e[2]:find("f32") then
          T.near(o.value, want, 1e-7, e[1] .. ": value")
        else
          T.eq(o.value, want, e[1] .. ": value")
        end
      end
    end
  end
  local want_types = {w32 = "F32", w16 = "F16", wbf = "BF16", one = "F32", scalar = "F32"}
  for name, ty in pairs(want_types) do
    local o = ts[name]
    T.ok(o ~= nil, name .. " seen by gguf-py")
    if o then
      T.eq(o.type, ty, name .. ": type")
      local stored = inputs[name]:to(({F32 = "f32", F16 = "f16", BF16 = "bf16"})[ty]):to("f64")
      T.eq(o.shape, stored:shape(), name .. ": shape")
      T.near(o.sum, stored:sum():item(), 1e-12, name .. ": sum")
      T.near(o.sumsq, (stored * stored):sum():item(), 1e-12, name .. ": sum of squares")
    end
  end
end)

T.case("real model: SmolLM2-135M-Instruct Q4_1 GGUF", function()
  local path = T.models_dir() .. "/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
  if not exists(path) then
    print("  (skipped: " .. path .. " is absent)")
    return
  end
  local t0 = recx.clock()
  local g <close> = recx.gguf.open(path)
  local t1 = recx.clock()
  local m = g:metadata()
  local t2 = recx.clock()
  print(string.format("  open %.3f s, metadata() %.3f s", t1 - t0, t2 - t1))
  T.ok(t2 - t1 < 0.3, "metadata() under 0.3 s")
  T.eq(m["general.architecture"], "llama")
  T.eq(m["llama.block_count"], 30)
  T.eq(m["llama.embedding_length"], 576)
  T.eq(m["llama.attention.head_count"], 9)
  T.eq(m["llama.attention.head_count_kv"], 3)
  T.eq(m["llama.feed_forward_length"], 1536)
  T.eq(m["llama.rope.freq_base"], 100000.0)
  T.eq(m["llama.attention.layer_norm_rms_epsilon"], f32(1e-5))
  T.eq(#m["tokenizer.ggml.tokens"], 49152)
  T.eq(#m["tokenizer.ggml.merges"], 48900)
  T.eq(#m["tokenizer.ggml.token_type"], 49152)
  T.eq(g:metadata_type("tokenizer.ggml.tokens"), "arr[str]")
  T.eq({m["tokenizer.ggml.bos_token_id"], m["tokenizer.ggml.eos_token_id"], m["tokenizer.ggml.padding_token_id"]},
    {1, 2, 2})
  T.eq(m["tokenizer.ggml.tokens"][2], "<|im_start|>")
  T.eq(m["tokenizer.ggml.model"], "gpt2")
  T.eq(m["tokenizer.ggml.pre"], "smollm")
  local types = {}
  for _, info in ipairs(g:tensors()) do types[info.type] = (types[info.type] or 0) + 1 end
  T.eq(types, {Q4_1 = 210, Q8_0 = 1, F32 = 61}, "tensor types")
  T.eq(g:tensor_info("token_embd.weight").shape, {49152, 576})
  T.eq(g:tensor_info("output.weight"), nil, "tied embeddings")
  local q = g:load("blk.0.attn_q.weight")
  local e = g:load("token_embd.weight")
  T.eq(q:shape(), {576, 576})
  T.eq(e:shape(), {49152, 576})
  if have_python() then
    local ref_path = tmp_path("rows.safetensors")
    local cmd = string.format("%s %s --rows %s %s token_embd.weight:0,1,2,1000,49151 blk.0.attn_q.weight:0,7,300,575",
      PY, SCRIPT, path, ref_path)
    T.ok(os.execute(cmd .. " >/dev/null 2>&1") == true, "gguf-py reference rows written")
    local refs = recx.safetensors.load(ref_path)
    os.remove(ref_path)
    for name, x in pairs({["token_embd.weight"] = e, ["blk.0.attn_q.weight"] = q}) do
      local rows = refs[name .. ".rows"]
      same_bits(x:index_select(1, rows), refs[name], name .. " rows " .. table.concat(rows:tolist(), ","))
    end
  else
    print("  (gguf-py absent: checking statistics only)")
    for name, x in pairs({embd = e, q = q}) do
      local mean_abs = x:abs():mean():item()
      T.ok(mean_abs > 1e-3 and mean_abs < 1, name .. ": mean |w| " .. mean_abs)
      T.ok(x:isfinite():all():item(), name .. ": finite")
    end
  end
end)

T.done()
