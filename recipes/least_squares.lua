-- least_squares.lua — linear least squares fitted by full-batch gradient descent.
--
-- The first real job on the runtime, before autograd exists: draw X (n, dim) and a true weight
-- vector w* (dim) from N(0, 1), make targets y = X w* + noise * N(0, 1) (n), then minimise
--     L(w) = mean((X w - y)^2)
-- from w = 0 with the hand-written gradient
--     dL/dw = (2 / n) X^T (X w - y)                                           (dim)
-- A progress line is printed every tenth of the run; the result goes to <out>/result.json (see
-- docs/formats.md). The fit must reach 10 x the noise floor (noise^2) or the recipe fails.
--
--   recx recipes/least_squares.lua                      # the defaults below
--   recx recipes/least_squares.lua steps=60 n=512 out=/tmp/ls
local recx = require "recx"
local cjson = require "cjson"

local cfg = recx.config {
  n = 4096,      -- samples (rows of X)
  dim = 64,      -- features (columns of X)
  steps = 200,   -- gradient steps
  lr = 0.1,      -- step size
  noise = 0.01,  -- standard deviation of the target noise
  seed = 1,      -- seed of the generator that draws X, w* and the noise
  out = "out/least_squares",
}

local T = recx.tensor

-- Wall-clock seconds with 10 ms resolution (os.clock counts CPU time of every thread, which
-- overstates elapsed time when kernels run in parallel).
local function wall_seconds()
  local f = io.open("/proc/uptime", "r")
  if not f then return os.time() end
  local t = f:read("n")
  f:close()
  return t
end

local function format_duration(seconds)
  if seconds < 60 then return string.format("%.1fs", seconds) end
  return string.format("%dm%02ds", seconds // 60, math.floor(seconds % 60))
end

assert(cfg.n > 0 and cfg.dim > 0, "least_squares: n and dim must be positive")
assert(cfg.steps >= 0, "least_squares: steps must be >= 0")

-- The output folder first: a run that cannot save its result should fail before working.
local result_path = cfg.out .. "/result.json"
local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
if not os.execute("mkdir -p " .. shell_quote(cfg.out) .. " 2>/dev/null") then
  error(string.format("least_squares: cannot create the output folder '%s' (give out= a writable path)", cfg.out), 0)
end

-- ---- data ---------------------------------------------------------------------------------
local gen = T.generator(cfg.seed)
local X = T.randn({cfg.n, cfg.dim}, {generator = gen})            -- (n, dim)
local w_true = T.randn({cfg.dim}, {generator = gen})              -- (dim)
local noise <close> = T.randn({cfg.n}, {generator = gen}) * cfg.noise
local y = X:matmul(w_true) + noise                                -- (n)
local Xt = X:t()                                                  -- (dim, n), a view

-- ---- descent ------------------------------------------------------------------------------
local w = T.zeros({cfg.dim})                                      -- (dim)

local function loss_of(residual) return residual:square():mean():item() end

local log_every = math.max(1, cfg.steps // 10)
local history = {}
local initial_loss
do
  local r <close> = X:matmul(w) - y
  initial_loss = loss_of(r)
end
history[1] = { step = 0, loss = initial_loss }
print(string.format("least_squares: n=%d dim=%d steps=%d lr=%g noise=%g seed=%d",
                    cfg.n, cfg.dim, cfg.steps, cfg.lr, cfg.noise, cfg.seed))
print(string.format("step %5d/%d  loss %.6e", 0, cfg.steps, initial_loss))

local scale = 2 / cfg.n
local loss = initial_loss
local start = wall_seconds()
for step = 1, cfg.steps do
  local r <close> = X:matmul(w) - y                               -- (n) residual
  local grad <close> = Xt:matmul(r) * (scale * cfg.lr)            -- (dim), already times lr
  w:sub_(grad)
  if step % log_every == 0 or step == cfg.steps then
    local r_new <close> = X:matmul(w) - y
    loss = loss_of(r_new)
    history[#history + 1] = { step = step, loss = loss }
    local elapsed = wall_seconds() - start
    if elapsed > 0 then
      local rate = step / elapsed
      print(string.format("step %5d/%d  loss %.6e  %8.1f steps/s  ETA %s", step, cfg.steps, loss, rate,
                          format_duration((cfg.steps - step) / rate)))
    else -- under the clock's 10 ms resolution so far
      print(string.format("step %5d/%d  loss %.6e  %8s steps/s  ETA <0.1s", step, cfg.steps, loss, ">100"))
    end
  end
end
local seconds = wall_seconds() - start

-- ---- result -------------------------------------------------------------------------------
local diff <close> = w - w_true
local w_error = diff:square():sum():sqrt():item()
local w_norm = w_true:square():sum():sqrt():item()
local noise_floor = cfg.noise * cfg.noise
local converged = loss <= 10 * noise_floor

local result = {
  recipe = "least_squares",
  recx_version = recx.version,
  config = cfg,
  steps = cfg.steps,
  initial_loss = initial_loss,
  final_loss = loss,
  noise_floor = noise_floor,
  w_error = w_error,
  w_error_relative = w_norm > 0 and w_error / w_norm or 0,
  seconds = seconds,
  steps_per_second = seconds > 0 and cfg.steps / seconds or cjson.null, -- null: under 10 ms
  converged = converged,
  history = history,
}
local f, err = io.open(result_path, "w")
if not f then error("least_squares: cannot write " .. result_path .. ": " .. tostring(err), 0) end
f:write(cjson.encode(result), "\n")
f:close()

print(string.format("final loss %.6e (noise floor %.1e), |w - w*| = %.4e, %.2fs; wrote %s",
                    loss, noise_floor, w_error, seconds, result_path))
if not converged then
  error(string.format("least_squares: did not converge: final loss %.6e > 10 x noise^2 = %.1e "
                      .. "(try more steps or a different lr)", loss, 10 * noise_floor), 0)
end
