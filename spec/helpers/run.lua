--- Helpers for specs that run the real programs of the build tree.
local M = {}

M.build = os.getenv("VC_BUILD_DIR") or "./build"
M.runtime = M.build .. "/kata-runtime"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.q = shell_quote

--- Run a shell command; returns exit status, stdout, stderr.
---@param cmd string
---@return integer status
---@return string stdout
---@return string stderr
function M.sh(cmd)
  local errfile = os.tmpname()
  local p = assert(io.popen(cmd .. " 2>" .. errfile, "r"))
  local out = p:read("a")
  local _, _, status = p:close()
  local f = io.open(errfile, "r")
  local err = f and f:read("a") or ""
  if f then f:close() end
  os.remove(errfile)
  return status, out, err
end

--- Run kata-runtime with the given arguments (a list, quoted for the shell).
function M.runtime_cmd(args, env)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  parts[#parts + 1] = shell_quote(M.runtime)
  for _, a in ipairs(args) do parts[#parts + 1] = shell_quote(a) end
  return M.sh(table.concat(parts, " "))
end

--- A fresh temporary directory, removed by M.rmrf.
function M.tmpdir(prefix)
  local p = assert(io.popen("mktemp -d /tmp/" .. (prefix or "kata-spec") .. ".XXXXXX"))
  local d = p:read("l")
  p:close()
  return d
end

--- Mount points at or under prefix, deepest first.
function M.mounts_under(prefix)
  local out = {}
  for line in io.lines("/proc/self/mountinfo") do
    local mp = line:match("^%S+ %S+ %S+ %S+ (%S+)")
    if mp and (mp == prefix or mp:sub(1, #prefix + 1) == prefix .. "/") then out[#out + 1] = mp end
  end
  table.sort(out, function(a, b) return #a > #b end)
  return out
end

--- Remove a temporary directory and everything in it, lazily unmounting first whatever a failed test
--- left mounted under it, deepest first. Only under /tmp.
function M.rmtree(path)
  if not (path and path:match("^/tmp/.")) then return end
  for _, m in ipairs(M.mounts_under(path)) do os.execute("umount -l " .. shell_quote(m) .. " 2>/dev/null") end
  os.execute("rm -rf " .. shell_quote(path))
end
M.rmrf = M.rmtree

--- Poll fn until it returns a true value (returned) or timeout seconds pass (then fn's last answer).
function M.wait_for(fn, timeout)
  local vc = require("vc")
  local deadline = vc.clock.monotonic() + (timeout or 60)
  while vc.clock.monotonic() < deadline do
    local v = fn()
    if v then return v end
    vc.clock.sleep(0.05)
  end
  return fn()
end

function M.write(path, data)
  local f = assert(io.open(path, "w"))
  f:write(data)
  f:close()
end

function M.read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

return M
