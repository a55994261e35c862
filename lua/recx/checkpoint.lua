-- recx.checkpoint — one file per checkpoint of a training run: save, load, resume, rotation.
--
-- Owns: the checkpoint layout, a .safetensors file written atomically (rx_safetensors_save:
-- temporary file, fsync, rename), so a crash or a failed save leaves the previous file intact:
--   tensors   "model.<name>"       every tensor of model:state_dict()
--             "optim.<i>.<key>"    optimizer state tensors of parameter i (0-based, in the
--                                  optimizer's parameter order): exp_avg, exp_avg_sq, ...
--   metadata  "recx.state"         JSON: {format = "recx.checkpoint", version = 1, step,
--                                  optimizer = {kind, param_groups, state = {"<i>" = {step...}}},
--                                  scheduler = <its state_dict()>, rng = {seed, offset} (or a
--                                  table of them by name), config, extra}
-- Numbers in the JSON round-trip exactly: JSON numbers are integers below 1e14 and non-integral
-- floats that 14 digits represent exactly (what lua-cjson writes); any other number is a tagged
-- string, "#i:<integer>" or "#f:<%.17g>" ("#f:inf", "#f:nan"); strings that start with "#" are
-- stored as "#s:<string>". Saving N/2 steps, resuming in a fresh process with fresh objects and
-- running N/2 more therefore reproduces N straight steps bit for bit.
local core = require "recx.core"
local cjson = require "cjson"

local is_tensor = core.tensor.is_tensor
local json = cjson.new()
json.encode_sparse_array(false)

local M = {FORMAT = "recx.checkpoint", VERSION = 1, STATE_KEY = "recx.state"}

-- ---- exact JSON ------------------------------------------------------------------------------

local function fail(path, fmt, ...)
  error("checkpoint: " .. path .. ": " .. string.format(fmt, ...), 0)
end

local function is_sequence(t)
  local n = #t
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n and n > 0
end

-- A copy of v whose numbers and strings survive a cjson round trip exactly (see the header).
local function pack(v, where, file)
  local tv = type(v)
  if tv == "number" then
    if math.type(v) == "integer" then
      if v > -1e14 and v < 1e14 then return v end
      return string.format("#i:%d", v)
    end
    if v ~= v then return "#f:nan" end
    if v == math.huge then return "#f:inf" end
    if v == -math.huge then return "#f:-inf" end
    if v ~= math.floor(v) and tonumber(string.format("%.14g", v)) == v then return v end
    return "#f:" .. string.format("%.17g", v)
  elseif tv == "string" then
    if v:sub(1, 1) == "#" then return "#s:" .. v end
    return v
  elseif tv == "boolean" then
    return v
  elseif tv == "table" then
    local out = {}
    if is_sequence(v) then
      for i, x in ipairs(v) do out[i] = pack(x, where .. "[" .. i .. "]", file) end
    else
      for k, x in pairs(v) do
        if type(k) ~= "string" then
          fail(file, "%s: keys must be strings (or the table a list), got a %s key", where, type(k))
        end
        out[k] = pack(x, where .. "." .. k, file)
      end
    end
    return out
  end
  fail(file, "%s: a %s cannot be stored in the checkpoint state (numbers, strings, booleans and tables only)", where, tv)
end

local function unpack_value(v)
  local tv = type(v)
  if tv == "number" then
    if v == math.floor(v) and v > -1e14 and v < 1e14 then return math.tointeger(v) end
    return v
  elseif tv == "string" then
    local tag, rest = v:match("^#(%a):(.*)$")
    if tag == "i" then return math.tointeger(tonumber(rest)) end
    if tag == "f" then
      if rest == "nan" then return 0 / 0 end
      if rest == "inf" then return math.huge end
      if rest == "-inf" then return -math.huge end
      return tonumber(rest) + 0.0
    end
    if tag == "s" then return rest end
    return v
  elseif tv == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = unpack_value(x) end
    return out
  end
  return v -- booleans; cjson.null stays as is
end

-- Exported for tests and for other files that need exact JSON.
function M.encode_state(state, file)
  return json.encode(pack(state, "state", file or "?"))
end

function M.decode_state(text)
  return unpack_value(json.decode(text))
end

-- ---- saving --------------------------------------------------------------------------------------

local function rng_state(rng, file)
  if type(rng) == "userdata" then return rng:state() end
  if type(rng) == "table" then
    local out = {}
    for name, g in pairs(rng) do
      if type(g) ~= "userdata" then fail(file, "rng.%s: expected a generator, got %s", tostring(name), type(g)) end
      out[name] = g:state()
    end
    return out
  end
  fail(file, "rng: expected a generator or a table of generators by name, got %s", type(rng))
end

local save_keys = {model = true, optimizer = true, scheduler = true, step = true, rng = true, config = true,
  extra = true}

-- save(path, {model =, optimizer =, scheduler =, step =, rng = generator | {name = generator},
-- config = table, extra = table}): writes the checkpoint file atomically. Every part is optional.
function M.save(path, spec)
  if type(path) ~= "string" or path == "" then error("checkpoint.save: argument #1: expected a file path", 2) end
  if type(spec) ~= "table" then error("checkpoint.save: argument #2: expected a table {model =, optimizer =, ...}", 2) end
  for k in pairs(spec) do
    if not save_keys[k] then
      fail(path, "unknown field '%s' (expected model, optimizer, scheduler, step, rng, config, extra)", tostring(k))
    end
  end
  local tensors = {}
  local state = {format = M.FORMAT, version = M.VERSION, step = spec.step, config = spec.config, extra = spec.extra}
  if spec.model then
    for name, t in pairs(spec.model:state_dict()) do tensors["model." .. name] = t end
  end
  if spec.optimizer then
    local sd = spec.optimizer:state_dict()
    local per_param = {}
    for i, entry in pairs(sd.state) do
      local scalars = {}
      for k, v in pairs(entry) do
        if is_tensor(v) then
          tensors[string.format("optim.%d.%s", i - 1, k)] = v
        else
          scalars[k] = v
        end
      end
      per_param[tostring(i - 1)] = scalars
    end
    state.optimizer = {kind = sd.kind, param_groups = sd.param_groups, state = per_param}
  end
  if spec.scheduler then state.scheduler = spec.scheduler:state_dict() end
  if spec.rng then state.rng = rng_state(spec.rng, path) end
  local text = M.encode_state(state, path)
  core.safetensors.save(path, tensors, {[M.STATE_KEY] = text})
  return path
end

-- ---- loading -------------------------------------------------------------------------------------

-- load(path) -> {path, step, config, extra, rng, scheduler, version,
--   model = {name = tensor}, optimizer = {kind, param_groups, state = {[i] = {...}}} or nil,
--   tensors = every tensor by file name}. Tensors view the file's mapping (no copies).
function M.load(path)
  if type(path) ~= "string" then error("checkpoint.load: argument #1: expected a file path", 2) end
  local tensors, meta = core.safetensors.load(path)
  local text = meta[M.STATE_KEY]
  if not text then fail(path, "not a recx checkpoint (no \"%s\" metadata)", M.STATE_KEY) end
  local ok, state = pcall(M.decode_state, text)
  if not ok then fail(path, "\"%s\" is not valid JSON: %s", M.STATE_KEY, tostring(state)) end
  if type(state) ~= "table" or state.format ~= M.FORMAT then fail(path, "\"%s\" is not a recx checkpoint state", M.STATE_KEY) end
  if type(state.version) ~= "number" or state.version > M.VERSION then
    fail(path, "checkpoint format version %s is newer than this recx reads (%d)", tostring(state.version), M.VERSION)
  end
  local ck = {path = path, version = state.version, step = state.step, config = state.config, extra = state.extra,
    rng = state.rng, scheduler = state.scheduler, model = {}, tensors = tensors}
  for name, t in pairs(tensors) do
    if name:sub(1, 6) == "model." then ck.model[name:sub(7)] = t end
  end
  if state.optimizer then
    local st = {}
    for key, scalars in pairs(state.optimizer.state or {}) do
      local i = math.tointeger(tonumber(key))
      if not i then fail(path, "optimizer state key '%s' is not a parameter index", tostring(key)) end
      st[i + 1] = scalars
    end
    for name, t in pairs(tensors) do
      local i, k = name:match("^optim%.(%d+)%.(.+)$")
      if i then
        i = math.tointeger(tonumber(i)) + 1
        st[i] = st[i] or {}
        st[i][k] = t
      end
    end
    ck.optimizer = {kind = state.optimizer.kind, param_groups = state.optimizer.param_groups, state = st}
  end
  return ck
end

local function strip_where(msg)
  return (tostring(msg):gsub("^[^:\n]+:%d+: ", ""))
end

-- resume(path, {model =, optimizer =, scheduler =, rng =, strict = true}) -> step, checkpoint:
-- loads the file and restores every object given (each must have its part in the file). Errors
-- name the file, the part and the key.
function M.resume(path, objs)
  if type(objs) ~= "table" then error("checkpoint.resume: argument #2: expected a table {model =, optimizer =, ...}", 2) end
  for k in pairs(objs) do
    if k ~= "model" and k ~= "optimizer" and k ~= "scheduler" and k ~= "rng" and k ~= "strict" then
      fail(path, "resume: unknown field '%s' (expected model, optimizer, scheduler, rng, strict)", tostring(k))
    end
  end
  local ck = M.load(path)
  local function restore(what, fn)
    local ok, err = pcall(fn)
    if not ok then fail(path, "%s: %s", what, strip_where(err)) end
  end
  if objs.model then
    restore("model", function() objs.model:load_state_dict(ck.model, {strict = objs.strict ~= false}) end)
  end
  if objs.optimizer then
    if not ck.optimizer then fail(path, "has no optimizer state") end
    restore("optimizer", function() objs.optimizer:load_state_dict(ck.optimizer) end)
  end
  if objs.scheduler then
    if not ck.scheduler then fail(path, "has no scheduler state") end
    restore("scheduler", function() objs.scheduler:load_state_dict(ck.scheduler) end)
  end
  if objs.rng then
    if not ck.rng then fail(path, "has no rng state") end
    if type(objs.rng) == "userdata" then
      restore("rng", function() objs.rng:set_state(ck.rng) end)
    else
      for name, g in pairs(objs.rng) do
        if not ck.rng[name] then fail(path, "has no rng state '%s'", tostring(name)) end
        restore("rng." .. name, function() g:set_state(ck.rng[name]) end)
      end
    end
  end
  return ck.step, ck
end

-- ---- rotation ------------------------------------------------------------------------------------

local function read_index(file)
  local f = io.open(file, "r")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local ok, list = pcall(json.decode, text)
  if not ok or type(list) ~= "table" then return {} end
  return list
end

local function write_index(file, list)
  local tmp = file .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(json.encode(list), "\n")
  f:close()
  local ok, err = os.rename(tmp, file)
  if not ok then error("checkpoint: cannot update " .. file .. ": " .. tostring(err), 0) end
end

-- save_rotating(dir, step, spec, {keep_last = 3, prefix = "ckpt"}) -> path: saves
-- <dir>/<prefix>-<step, 8 digits>.safetensors, records it in <dir>/<prefix>.index.json and
-- deletes the oldest recorded checkpoints beyond keep_last.
function M.save_rotating(dir, step, spec, opts)
  opts = opts or {}
  local keep, prefix = opts.keep_last or 3, opts.prefix or "ckpt"
  if math.type(keep) ~= "integer" or keep < 1 then error("checkpoint.save_rotating: keep_last: expected an integer >= 1", 2) end
  if math.type(step) ~= "integer" then error("checkpoint.save_rotating: argument #2: expected an integer step", 2) end
  local path = string.format("%s/%s-%08d.safetensors", dir, prefix, step)
  M.save(path, spec)
  local index = dir .. "/" .. prefix .. ".index.json"
  local list = {}
  for _, p in ipairs(read_index(index)) do
    if p ~= path then list[#list + 1] = p end
  end
  list[#list + 1] = path
  while #list > keep do
    os.remove(table.remove(list, 1))
  end
  write_index(index, list)
  return path
end

-- latest(dir, {prefix = "ckpt"}) -> the newest checkpoint recorded by save_rotating that still
-- exists, or nil.
function M.latest(dir, opts)
  local prefix = (opts and opts.prefix) or "ckpt"
  local list = read_index(dir .. "/" .. prefix .. ".index.json")
  for i = #list, 1, -1 do
    local f = io.open(list[i], "rb")
    if f then
      f:close()
      return list[i]
    end
  end
  return nil
end

return M
