-- Helpers for specs that start supervisors and VMs: temp dirs, process and mount snapshots, leak checks.
local run = require("spec.helpers.run")

local M = {}

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end
M.sh = sh

function M.now_ms()
  return tonumber(sh("date +%s%N")) // 1000000
end

function M.is_root()
  return sh("id -u"):match("^0") ~= nil
end

function M.tmpdir(tag)
  local d = sh("mktemp -d /tmp/vc-" .. (tag or "spec") .. ".XXXXXX"):gsub("%s+$", "")
  assert(d ~= "", "mktemp failed")
  return d
end

-- Unmount anything left under dir (deepest first), then remove it.
function M.rmtree(dir)
  assert(dir:match("^/tmp/vc%-"), "refusing to remove " .. dir)
  run.rmtree(dir)
end

-- Running (a zombie counts as gone: what is left of it is its reaper's business).
function M.alive(pid)
  if pid == nil or pid <= 0 then return false end
  local f = io.open("/proc/" .. math.tointeger(pid) .. "/stat")
  if not f then return false end
  local stat = f:read("a") or ""
  f:close()
  local state = stat:match("%) (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

function M.kill(pid, sig)
  return os.execute("kill -" .. (sig or "TERM") .. " " .. math.tointeger(pid) .. " 2>/dev/null") == true
end

-- Wait until pred() is true, up to timeout seconds (polls every 50 ms).
function M.wait_for(pred, timeout)
  return run.wait_for(pred, timeout or 60) and true or false
end

-- Mount points under prefix, deepest first.
M.mounts_under = run.mounts_under

-- Pids of processes whose command line mentions s (qemu, virtiofsd and the supervisor all name the
-- sandbox dir in theirs).
function M.pids_mentioning(s, ppids)
  local pids = {}
  for pid in sh("ls /proc"):gmatch("%d+") do
    local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
    if f then
      local cmd = f:read("a") or ""
      f:close()
      if cmd:find(s, 1, true) and tonumber(pid) ~= nil then
        pids[#pids + 1] = tonumber(pid)
        if ppids then
          local st = io.open("/proc/" .. pid .. "/stat")
          local line = st and st:read("a") or ""
          if st then st:close() end
          ppids[tonumber(pid)] = tonumber(line:match("%) %a (%d+)"))
        end
      end
    end
  end
  return pids
end

-- Leak check for a sandbox that should be gone: no process naming dir, no mount under dir, no sockets.
function M.assert_no_leaks(dir, info)
  local ok = M.wait_for(function()
    return #M.pids_mentioning(dir) == 0 and not (info and (M.alive(info.pid) or M.alive(info.qemu_pid)
      or M.alive(info.virtiofsd_pid)))
  end, 15)
  assert(ok, "processes left for " .. dir .. ": " .. table.concat(M.pids_mentioning(dir), " "))
  local mounts = M.mounts_under(dir)
  assert(#mounts == 0, "mounts left: " .. table.concat(mounts, " "))
  for _, s in ipairs({ "sup.sock", "qmp.sock", "agent.sock", "vfsd.sock" }) do
    local f = io.open(dir .. "/" .. s)
    if f then f:close() end
    assert(f == nil, "socket left: " .. dir .. "/" .. s)
  end
end

function M.write_file(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then os.execute("chmod " .. mode .. " '" .. path .. "'") end
end

function M.build_dir()
  return os.getenv("VC_BUILD_DIR") or "./build"
end

-- The kernel of a guest image directory as the runtime picks it (kata.config.guest_kernel).
function M.guest_kernel(dir) return require("kata.config").guest_kernel(dir) end

-- A vc.sandbox.launch table: the configuration layer's VM defaults and the mechanism's standard plan
-- (the C side has neither) with the guest image of M.guest(), overridden by `over`.
function M.launch_config(over)
  local cfg = require("kata.config").defaults()
  local t = require("kata.pod").vm(cfg)
  t.kernel, t.initrd = M.guest()
  for k, v in pairs(over or {}) do t[k] = v end
  if t.plan == nil then t.plan = require("kata.pod").standard_plan(t.id or "sandbox") end
  return t
end

-- The guest image: $VC_GUEST_DIR (an image directory, <build>/guest/<kernel>) or the configuration's
-- default one, made by scripts/build-guest.sh.
function M.guest()
  local d = os.getenv("VC_GUEST_DIR")
  local k, i
  if d then
    k, i = M.guest_kernel(d), d .. "/initrd.img"
  else
    k, i = require("kata.config").guest_image()
  end
  for _, f in ipairs({ k, i }) do
    local h = io.open(f)
    assert(h, f .. " is missing: run scripts/build-guest.sh " .. M.build_dir())
    h:close()
  end
  return k, i
end

-- A busybox root file system in dir (scripts/make-rootfs.sh, or $VC_MAKE_ROOTFS).
function M.make_rootfs(dir)
  local script = os.getenv("VC_MAKE_ROOTFS") or "scripts/make-rootfs.sh"
  local ok = os.execute("bash " .. script .. " '" .. dir .. "' >/dev/null")
  assert(ok, script .. " failed for " .. dir)
end

return M
