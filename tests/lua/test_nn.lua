-- test_nn.lua — recx.nn modules: names and order of parameters (Hugging Face style), tied
-- weights, state_dict round trips and strict errors, train/eval with dropout, freeze, to(),
-- printing, reproducible initialisation, and the forward of each layer against values computed
-- here in plain Lua.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local nn = recx.nn
local F = nn.functional

local function gen(seed) return tensor.generator(seed) end

-- A Llama-shaped toy: names must come out as in Hugging Face checkpoints.
local Attn = nn.Module:extend("Attn")
function Attn:init(d, g)
  for _, name in ipairs({"q_proj", "k_proj", "v_proj", "o_proj"}) do
    self:add_module(name, nn.Linear(d, d, {bias = false, generator = g}))
  end
end
local Block = nn.Module:extend("Block")
function Block:init(d, g)
  self:add_module("input_layernorm", nn.RMSNorm(d))
  self:add_module("self_attn", Attn(d, g))
  self:add_module("mlp", nn.MLP(d, 2 * d, d, {generator = g}))
end
local Toy = nn.Module:extend("Toy")
function Toy:init(opts)
  local g = gen(opts.seed or 1)
  self:add_module("embed_tokens", nn.Embedding(10, 4, {generator = g}))
  self:add_module("layers", nn.ModuleList({Block(4, g), Block(4, g)}))
  self:add_module("norm", nn.RMSNorm(4))
  self:add_module("lm_head", nn.Linear(4, 10, {bias = false, generator = g}))
  if opts.tied then self.lm_head.weight = self.embed_tokens.weight end
end

T.case("named_parameters: dotted names, lists numbered from 0, stable order", function()
  local m = Toy({})
  local names = {}
  for i, e in ipairs(m:named_parameters()) do names[i] = e[1] end
  T.eq(names[1], "embed_tokens.weight")
  T.eq(names[2], "layers.0.input_layernorm.weight")
  T.eq(names[3], "layers.0.self_attn.q_proj.weight")
  T.eq(names[6], "layers.0.self_attn.o_proj.weight")
  T.eq(names[7], "layers.0.mlp.fc1.weight")
  T.eq(names[8], "layers.0.mlp.fc1.bias")
  T.eq(names[11], "layers.1.input_layernorm.weight")
  T.eq(names[#names - 1], "norm.weight")
  T.eq(names[#names], "lm_head.weight")
  T.eq(#names, 1 + 2 * 9 + 2)
  local again = {}
  for i, e in ipairs(Toy({}):named_parameters()) do again[i] = e[1] end
  T.eq(again, names, "same order every time")
  local params = m:parameters()
  T.ok(rawequal(params[3], m.layers[1].self_attn.q_proj.weight), "layers[1] is child \"0\"")
  T.eq(#m.layers, 2)
  for _, p in ipairs(params) do T.eq(p:requires_grad(), true) end
  T.eq(m:num_parameters(), 10 * 4 + 2 * (4 + 4 * 16 + (32 + 8) + (32 + 4)) + 4 + 40)
end)

T.case("tied weights: one parameter, two state_dict names", function()
  local m = Toy({tied = true})
  local n_tied = #m:parameters()
  T.eq(n_tied, #Toy({}):parameters() - 1, "the shared tensor counts once")
  local sd = m:state_dict()
  T.ok(rawequal(sd["lm_head.weight"], sd["embed_tokens.weight"]), "both names")
  m:to("f64")
  T.ok(rawequal(m.lm_head.weight, m.embed_tokens.weight), "still tied after to()")
end)

T.case("state_dict round trip and load errors", function()
  local a, b = Toy({seed = 1}), Toy({seed = 2})
  local x = tensor.from({{1, 2, 3}}, {dtype = "i64"})
  local wa = a.embed_tokens.weight:tolist()
  T.ok(T.show(wa) ~= T.show(b.embed_tokens.weight:tolist()), "different seeds, different weights")
  local res = b:load_state_dict(a:state_dict())
  T.eq(res.missing, {})
  T.eq(res.unexpected, {})
  for name, t in pairs(a:state_dict()) do
    T.eq(b:state_dict()[name]:tolist(), t:tolist(), name)
  end
  T.eq(b.embed_tokens(x):tolist(), a.embed_tokens(x):tolist())
  T.eq(b.embed_tokens.weight:requires_grad(), true, "still a parameter")

  local sd = a:state_dict()
  local partial = {}
  for k, v in pairs(sd) do partial[k] = v end
  partial["norm.weight"] = nil
  partial["extra.bias"] = tensor.zeros(3)
  local c = Toy({seed = 3})
  local before = c.embed_tokens.weight:tolist()
  T.raises('missing keys: "norm.weight"; unexpected keys: "extra.bias"', c.load_state_dict, c, partial)
  T.eq(c.embed_tokens.weight:tolist(), before, "a failed strict load copies nothing")
  local r = c:load_state_dict(partial, {strict = false})
  T.eq(r.missing, {"norm.weight"})
  T.eq(r.unexpected, {"extra.bias"})
  T.eq(c.embed_tokens.weight:tolist(), wa, "non-strict loads the rest")
  partial["norm.weight"] = tensor.ones(5)
  T.raises('"norm.weight": expected shape (4), got (5)', c.load_state_dict, c, partial, {strict = false})
  partial["norm.weight"] = "nope"
  T.raises('"norm.weight": expected a tensor, got string', c.load_state_dict, c, partial)
  T.raises("unknown option 'strickt'", c.load_state_dict, c, sd, {strickt = true})
end)

T.case("train / eval switch dropout everywhere", function()
  local g = gen(5)
  local m = nn.Sequential(nn.Dropout(0.5, {generator = g}), nn.MLP(8, 8, 8, {dropout = 0.5, generator = g}))
  T.eq(m:is_training(), true)
  local x = tensor.ones(4, 8)
  local y = m[1](x)
  local zeros, twos = 0, 0
  for _, row in ipairs(y:tolist()) do
    for _, v in ipairs(row) do
      if v == 0 then zeros = zeros + 1 elseif v == 2 then twos = twos + 1 end
    end
  end
  T.eq(zeros + twos, 32, "each element dropped or scaled by 1/(1-p)")
  T.ok(zeros > 4 and twos > 4, "some of both: " .. zeros .. " zeros")
  m:eval()
  T.eq(m[2].drop.training, false, "recursive")
  T.eq(m[1](x):tolist(), x:tolist(), "identity in eval")
  local e1, e2 = m(x):tolist(), m(x):tolist()
  T.eq(e1, e2, "deterministic in eval")
  m:train()
  T.eq(m[2].drop:is_training(), true)
  -- the module's generator makes masks replayable
  local d1, d2 = nn.Dropout(0.3, {generator = gen(9)}), nn.Dropout(0.3, {generator = gen(9)})
  T.eq(d1(x):tolist(), d2(x):tolist(), "same seed, same mask")
end)

T.case("freeze / unfreeze", function()
  local m = nn.MLP(3, 4, 2, {generator = gen(3)})
  m.fc1:freeze()
  T.eq(m.fc1.weight:requires_grad(), false)
  T.eq(m.fc2.weight:requires_grad(), true)
  T.eq(m:num_parameters({trainable = true}), 4 * 2 + 2)
  T.eq(m:num_parameters(), 3 * 4 + 4 + 4 * 2 + 2)
  local y = m(tensor.ones(5, 3)):sum()
  y:backward()
  T.eq(m.fc1.weight:grad(), nil, "frozen: no gradient")
  T.ok(m.fc2.weight:grad() ~= nil, "trainable: a gradient")
  m:unfreeze()
  T.eq(m.fc1.weight:requires_grad(), true)
  m:zero_grad()
  T.eq(m.fc2.weight:grad(), nil)
end)

T.case("to(dtype) keeps leaves trainable; integer buffers keep their dtype", function()
  local m = nn.Linear(2, 3, {generator = gen(1)})
  m:register_buffer("ids", tensor.from({1, 2}, {dtype = "i64"}))
  m:register_buffer("scratch", tensor.zeros(2), {persistent = false})
  local w = m.weight:tolist()
  m:to("f64")
  T.eq(m.weight:dtype(), "f64")
  T.eq(m.bias:dtype(), "f64")
  T.eq(m.ids:dtype(), "i64")
  T.eq(m.scratch:dtype(), "f64")
  T.eq(m.weight:is_leaf(), true)
  T.eq(m.weight:requires_grad(), true)
  T.near(m.weight:tolist(), w, 1e-7)
  local sd = m:state_dict()
  T.ok(sd.ids ~= nil and sd.scratch == nil, "persistent buffers only")
  local same = m.weight
  m:to({dtype = "f64", device = "cpu"})
  T.ok(rawequal(m.weight, same), "nothing to change: the same tensor")
  T.raises("only be cast to a floating-point dtype", m.to, m, "i32")
end)

T.case("printing the tree", function()
  local m = nn.Sequential(nn.Linear(4, 8, {bias = false}), nn.GELU(), nn.Embedding(5, 2, {padding_idx = 0}))
  T.eq(tostring(m), table.concat({
    "Sequential(",
    "  (0): Linear(in_features=4, out_features=8, bias=false)",
    "  (1): GELU()",
    "  (2): Embedding(5, 2, padding_idx=0)",
    ")",
  }, "\n"))
  T.eq(tostring(Toy({}).layers[1].self_attn):match("^Attn%(\n  %(q_proj%): Linear") ~= nil, true)
end)

T.case("initialisation: reproducible from a seed, torch's bounds", function()
  local a = nn.Linear(16, 8, {generator = gen(11)})
  local b = nn.Linear(16, 8, {generator = gen(11)})
  local c = nn.Linear(16, 8, {generator = gen(12)})
  T.eq(a.weight:tolist(), b.weight:tolist())
  T.eq(a.bias:tolist(), b.bias:tolist())
  T.ok(T.show(a.weight:tolist()) ~= T.show(c.weight:tolist()), "another seed differs")
  local bound = 1 / math.sqrt(16)
  local maxabs = 0
  for _, row in ipairs(a.weight:tolist()) do
    for _, v in ipairs(row) do maxabs = math.max(maxabs, math.abs(v)) end
  end
  T.ok(maxabs <= bound and maxabs > 0.8 * bound, "U(-1/sqrt(in), 1/sqrt(in)): max |w| = " .. maxabs)
  local e = nn.Embedding(200, 50, {generator = gen(4), padding_idx = 3})
  local vals = e.weight:tolist()
  local s, s2, n = 0, 0, 0
  for i, row in ipairs(vals) do
    for _, v in ipairs(row) do
      if i ~= 4 then s, s2, n = s + v, s2 + v * v, n + 1 end
    end
  end
  local mean, std = s / n, math.sqrt(s2 / n - (s / n) ^ 2)
  T.ok(math.abs(mean) < 0.03 and math.abs(std - 1) < 0.03, string.format("N(0, 1): mean %.4f std %.4f", mean, std))
  T.eq(vals[4], {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, "padding row is zero")
  local w = tensor.empty(30, 20)
  nn.init.xavier_uniform_(w, 1, gen(2))
  local xb = math.sqrt(6 / 50)
  T.ok(w:abs():max():item() <= xb, "xavier bound")
  nn.init.normal_(w, 3, 0.5, gen(2))
  T.near(w:mean():item(), 3, 0.05, "normal_ mean")
  T.eq(nn.init.zeros_(w):sum():item(), 0.0)
  T.eq(nn.init.ones_(w):sum():item(), 600.0)
  T.raises("expected a floating-point tensor", nn.init.zeros_, tensor.zeros(2, {dtype = "i64"}))
end)

T.case("Linear, RMSNorm, LayerNorm, Embedding forward against hand computation", function()
  local lin = nn.Linear(3, 2, {dtype = "f64"})
  local W, B = {{0.5, -1, 2}, {1, 0, -0.5}}, {0.1, -0.2}
  recx.no_grad(function()
    lin.weight:copy_(tensor.from(W, {dtype = "f64"}))
    lin.bias:copy_(tensor.from(B, {dtype = "f64"}))
  end)
  local X = {{1, 2, 3}, {-1, 0.5, 4}}
  local want = {}
  for i, row in ipairs(X) do
    want[i] = {}
    for o = 1, 2 do
      local acc = B[o]
      for k = 1, 3 do acc = acc + row[k] * W[o][k] end
      want[i][o] = acc
    end
  end
  T.near(lin(tensor.from(X, {dtype = "f64"})):tolist(), want, 1e-12)

  local rms = nn.RMSNorm(3, {eps = 1e-5, dtype = "f64"})
  recx.no_grad(function() rms.weight:copy_(tensor.from({1, 2, 0.5}, {dtype = "f64"})) end)
  local got = rms(tensor.from(X, {dtype = "f64"})):tolist()
  for i, row in ipairs(X) do
    local ms = 0
    for _, v in ipairs(row) do ms = ms + v * v / 3 end
    local r = 1 / math.sqrt(ms + 1e-5)
    T.near(got[i], {row[1] * r, row[2] * r * 2, row[3] * r * 0.5}, 1e-12, "rmsnorm row " .. i)
  end

  local ln = nn.LayerNorm(3, {dtype = "f64"})
  got = ln(tensor.from(X, {dtype = "f64"})):tolist()
  for i, row in ipairs(X) do
    local mean = (row[1] + row[2] + row[3]) / 3
    local var = 0
    for _, v in ipairs(row) do var = var + (v - mean) ^ 2 / 3 end
    local r = 1 / math.sqrt(var + 1e-5)
    T.near(got[i], {(row[1] - mean) * r, (row[2] - mean) * r, (row[3] - mean) * r}, 1e-12, "layernorm row " .. i)
  end

  local emb = nn.Embedding(4, 2, {padding_idx = 0, generator = gen(1)})
  local ids = tensor.from({{0, 3}, {3, 1}}, {dtype = "i64"})
  local out = emb(ids)
  T.eq(out:shape(), {2, 2, 2})
  local rows = emb.weight:tolist()
  T.eq(out:tolist(), {{rows[1], rows[4]}, {rows[4], rows[2]}}, "ids are 0-based rows")
  out:sum():backward()
  T.eq(emb.weight:grad():tolist(), {{0.0, 0.0}, {1.0, 1.0}, {0.0, 0.0}, {2.0, 2.0}}, "padding row gets no gradient")
end)

T.case("MLP options and module errors", function()
  local m = nn.MLP(2, 3, 1, {activation = "relu", bias = false})
  T.eq(m.fc1.bias, nil)
  local relu_out = m(tensor.from({{1, -1}}))
  local h = m.fc1(tensor.from({{1, -1}})):relu()
  T.eq(relu_out:tolist(), m.fc2(h):tolist())
  local custom = nn.MLP(2, 3, 1, {activation = function(x) return x * 0 end})
  T.eq(custom(tensor.ones(1, 2)):tolist(), {{custom.fc2.bias:item()}}, "a function activation")
  T.raises("unknown activation 'swish'", nn.MLP, 2, 3, 1, {activation = "swish"})
  T.raises("unknown option 'hidden'", nn.Linear, 2, 3, {hidden = 4})
  T.raises("expected a positive integer in_features", nn.Linear, 0, 3)
  local mod = nn.Module()
  mod:register_parameter("w", tensor.zeros(2))
  T.raises("'w' is already registered", mod.register_parameter, mod, "w", tensor.zeros(2))
  T.raises("would hide the method", mod.register_parameter, mod, "forward", tensor.zeros(2))
  T.raises("without '.'", mod.add_module, mod, "a.b", nn.Module())
  T.raises("expected a module", mod.add_module, mod, "child", {})
  T.raises("forward is not implemented", mod)
  T.raises("padding_idx 7 out of range", nn.Embedding, 4, 2, {padding_idx = 7})
end)

T.case("functional: cross_entropy with ignore_index against a hand computation", function()
  local logits = {{2, 0, -1}, {0.5, 0.5, 3}, {1, 2, 3}}
  local targets = {0, -100, 2}
  local lt = tensor.from(logits, {dtype = "f64"}):requires_grad(true)
  local loss = F.cross_entropy(lt, tensor.from(targets, {dtype = "i64"}))
  local want = 0
  for _, i in ipairs({1, 3}) do
    local z = 0
    for _, v in ipairs(logits[i]) do z = z + math.exp(v) end
    want = want + (math.log(z) - logits[i][targets[i] + 1])
  end
  T.near(loss:item(), want / 2, 1e-12)
  loss:backward()
  T.eq(lt:grad():tolist()[2], {0.0, 0.0, 0.0}, "ignored row: no gradient")
  local l2 = F.cross_entropy(lt, tensor.from({0, 1, 2}, {dtype = "i64"}), {ignore_index = 1})
  T.near(l2:item(), want / 2, 1e-12, "another ignore_index")
  T.raises("unknown option 'ignore'", F.cross_entropy, lt, tensor.from({0, 1, 2}, {dtype = "i64"}), {ignore = 1})
  T.raises("unknown option 'mask'", F.attention, tensor.zeros(1, 1, 2, 4), tensor.zeros(1, 1, 2, 4),
    tensor.zeros(1, 1, 2, 4), {mask = true})
  T.near(F.mse(tensor.from({1, 2}), tensor.from({0, 0})):item(), 2.5, 1e-7)
  T.ok(F.relu ~= nil and F.softmax ~= nil and F.silu ~= nil, "activations from the tensor methods")
end)

T.case("functional bindings: argument errors in Lua terms", function()
  local g = tensor.ones(2)
  T.raises("embedding: argument #3: expected padding_idx as a 0-based row (>= 0) or nil, got -1", F.embedding,
    tensor.zeros(3, 2), tensor.zeros(2, {dtype = "i64"}), -1)
  T.raises("dropout: argument #2: expected a probability p (a number), got string", F.dropout, g, "a")
  T.raises("dropout: argument #3: expected training as a boolean, got number", F.dropout, g, 0.5, 1)
  T.raises("linear: argument #3: expected a tensor or nil, got number", F.linear, g, g, 5)
  local q = tensor.zeros(1, 1, 2, 4)
  T.raises("attention: argument #4: causal: expected a boolean, got number", F.attention, q, q, q, {causal = 1})
  T.raises("attention: argument #4: generator: expected a generator", F.attention, q, q, q, {generator = 1})
  T.raises("cross_entropy: argument #3: weights: expected a tensor, got number", F.cross_entropy, tensor.zeros(2, 3),
    tensor.zeros(2, {dtype = "i64"}), {weights = 1})
  T.raises("rmsnorm: argument #3: expected eps (a number), got string", F.rmsnorm, g, g, "x")
  T.raises("rope_tables: argument #3", F.rope_tables, tensor.arange(2), F.rope_inv_freq(4), "float7")
  local cos, sin = F.rope_tables(tensor.arange(3), F.rope_inv_freq(4, 100))
  T.eq(cos:shape(), {3, 4})
  T.near(sin:tolist()[2], {math.sin(1), math.sin(0.1), math.sin(1), math.sin(0.1)}, 1e-6, "angles p * theta^(-2j/D)")
  local x = tensor.ones(3)
  T.ok(rawequal(x, x) and F.dropout(x, 0.5, false):shares_storage(x), "eval dropout returns x itself")
end)

T.done()
