-- Helpers for specs that touch the host: temp dirs, reading files, and a leak check of this process's
-- child processes, open fds and mounts.
local lfs = require("lfs")

local M = {}

---@return integer pid of this Lua process
function M.pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = tonumber(f:read("l"):match("^(%d+)"))
  f:close()
  return pid
end

---@param path string
---@return string? content, nil when the file cannot be read
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

---@param cmd string shell command
---@return string its stdout without the trailing newline
function M.run(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("a")
  p:close()
  return (s:gsub("\n$", ""))
end

---@return string path of a new empty directory
function M.tmpdir()
  return M.run("mktemp -d /tmp/vc-spec.XXXXXX")
end

---@param dir string removed with everything in it, after lazily unmounting whatever is mounted under it
--- (what a failed test may have left), deepest first
function M.rmtree(dir)
  assert(dir:match("^/tmp/vc%-spec%.[%w]+$"), "refusing to remove " .. dir)
  require("spec.helpers.run").rmtree(dir)
end

---@return boolean whether path exists
function M.exists(path)
  return lfs.attributes(path, "mode") ~= nil
end

---@return string? process state letter of pid ("R", "S", "Z", ...), nil when it is gone
function M.proc_state(pid)
  local s = M.read("/proc/" .. pid .. "/stat")
  return s and s:match("^%d+ %b() (%a)")
end

--- Wait (up to `seconds`) until pid is gone or a zombie; returns true if it is.
function M.wait_dead(pid, seconds)
  local deadline = os.time() + (seconds or 3)
  repeat
    local st = M.proc_state(pid)
    if st == nil or st == "Z" then return true end
    os.execute("sleep 0.05")
  until os.time() > deadline
  return false
end

--- Children of this process (pids), read from /proc/*/stat.
function M.children()
  local me, kids = M.pid(), {}
  for e in lfs.dir("/proc") do
    if e:match("^%d+$") then
      local s = M.read("/proc/" .. e .. "/stat")
      local ppid = s and tonumber(s:match("^%d+ %b() %a (%d+)"))
      if ppid == me then kids[#kids + 1] = tonumber(e) end
    end
  end
  table.sort(kids)
  return kids
end

--- Children in `after` that were not in `before` (earlier specs in the same process may leave children
--- that exit meanwhile: only new ones are leaks).
function M.new_children(before, after)
  local had, new = {}, {}
  for _, pid in ipairs(before) do had[pid] = true end
  for _, pid in ipairs(after) do if not had[pid] then new[#new + 1] = pid end end
  return new
end

--- Assert that nothing was left since `before` (a snapshot): no new child, the same fds and mounts.
function M.assert_clean(before)
  local assert = require("luassert")
  collectgarbage()
  collectgarbage()
  local after = M.snapshot()
  assert.same({}, M.new_children(before.children, after.children))
  assert.same(before.fds, after.fds)
  assert.same(before.mounts, after.mounts)
end

--- Open fds of this process, as a sorted list of "fd -> target".
function M.fds()
  local out = {}
  for e in lfs.dir("/proc/self/fd") do
    if e:match("^%d+$") then
      local target = lfs.symlinkattributes("/proc/self/fd/" .. e, "target") or "?"
      -- the directory stream lfs.dir itself holds is listed too, but always the same way
      out[#out + 1] = e .. " -> " .. target
    end
  end
  table.sort(out)
  return out
end

--- Mount points of this process's mount namespace.
function M.mounts()
  local out = {}
  for line in (M.read("/proc/self/mountinfo") or ""):gmatch("[^\n]+") do
    out[#out + 1] = line:match("^%S+ %S+ %S+ %S+ (%S+)")
  end
  table.sort(out)
  return out
end

--- Mount points under the specs' scratch directories (/tmp/vc-spec.*), where every namespace and mount
--- the specs make lives. The rest of the mount table is shared with whatever else runs on the machine
--- and changes under our feet.
function M.spec_mounts()
  local out = {}
  for _, m in ipairs(M.mounts()) do
    if m:match("^/tmp/vc%-spec%.") then out[#out + 1] = m end
  end
  return out
end

---@return table snapshot of children, fds and the specs' mounts
function M.snapshot()
  return { children = M.children(), fds = M.fds(), mounts = M.spec_mounts() }
end

return M
