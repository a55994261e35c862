-- recx.util.fs — the small file helpers that several Lua modules share.
--
-- Owns: whether a file exists, its size and bytes, a JSON file's value, writing a file
-- atomically, whether a folder exists and making one with its parents (mkdir -p through the
-- shell, the name single-quoted). None of them raises on a missing or unwritable file: they
-- return nil or false, and the caller words the error with its own prefix ("pull: cannot
-- create the folder ...").
local M = {}

-- s as one single-quoted shell word.
function M.shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The bytes of the file at path, or nil when it cannot be opened.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The size in bytes of the file at path, or nil when it cannot be opened.
function M.size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- Whether the file at path can be opened for reading.
function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The decoded value of the JSON file at path (lua-cjson); nil when the file cannot be opened,
-- nil and cjson's message when it is not valid JSON.
function M.read_json(path)
  local text = M.read(path)
  if not text then return nil end
  local ok, value = pcall(require("cjson").decode, text)
  if not ok then return nil, tostring(value) end
  return value
end

-- Writes text to path atomically (to path .. ".tmp", then a rename); true, or nil and the reason.
function M.write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, tostring(err) end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then return nil, tostring(rerr) end
  return true
end

-- Whether path is a folder.
function M.is_dir(path)
  return os.execute("test -d " .. M.shell_quote(path)) == true
end

-- Makes the folder path and its parents; true when it is a folder afterwards.
function M.mkdir_p(path)
  if M.is_dir(path) then return true end
  return os.execute("mkdir -p " .. M.shell_quote(path) .. " 2>/dev/null") == true and M.is_dir(path)
end

return M
