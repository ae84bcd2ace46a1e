--- Real bundles, real kata-runtime invocations and the leak check for integration specs.
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")

local M = {}

M.ROOTFS_TEMPLATE = nil

--- Skip (pending) unless the guest image and programs exist and we are root.
function M.available()
  -- closed at once: a pipe left to the GC keeps `id` as a child that other specs' checks would see
  local p = io.popen("id -u")
  local uid = p:read("l")
  p:close()
  if uid ~= "0" then return false, "needs root" end
  local kernel, initrd = require("kata.config").guest_image()
  for _, f in ipairs({ kernel, initrd, run.build .. "/kata-supervisor", run.build .. "/kata-shim" }) do
    if not vc.fs.stat(f) then return false, "missing " .. f .. " (run scripts/build-guest.sh build)" end
  end
  return true
end

--- The busybox rootfs bundles copy, made on first use (again if a spec file's teardown removed it).
function M.rootfs_template()
  if not M.ROOTFS_TEMPLATE or not vc.fs.stat(M.ROOTFS_TEMPLATE) then
    M.ROOTFS_TEMPLATE = run.tmpdir("kata-rootfs")
    assert(os.execute("bash scripts/make-rootfs.sh " .. run.q(M.ROOTFS_TEMPLATE) .. " >/dev/null"))
  end
  return M.ROOTFS_TEMPLATE
end

--- A bundle directory with a busybox rootfs and a config.json made from the default spec plus `edit`.
---@param dir string
---@param args string[] the process
---@param edit fun(config: table)|nil
function M.bundle(dir, args, edit)
  M.rootfs_template()
  assert(vc.fs.mkdir_p(dir))
  assert(os.execute(("cp -a %s %s"):format(run.q(M.ROOTFS_TEMPLATE), run.q(dir .. "/rootfs"))))
  local config = vc.oci.default_spec()
  config.process.terminal = false
  config.process.args = args
  if edit then edit(config) end
  run.write(dir .. "/config.json", vc.json.encode(config, true))
  return dir
end

--- Run kata-runtime with stdio to files (a shim inherits them, so never to a pipe we wait on).
--- opts: stdin, stdout (files), cwd, env (a table added to the environment). Returns status, stdout, stderr.
function M.rt(root, args, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local parts = {}
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. run.q(v) end
  parts[#parts + 1] = run.q(run.runtime)
  for _, a in ipairs({ "--root", run.q(root), "--log", run.q(root .. ".log"), "--log-format", "json" }) do parts[#parts + 1] = a end
  -- KATA_SPEC_CONFIG: the integration specs under another configuration (the factory on: docs/factory.md)
  if os.getenv("KATA_SPEC_CONFIG") then parts[#parts + 1] = "--config " .. run.q(os.getenv("KATA_SPEC_CONFIG")) end
  for _, a in ipairs(args) do parts[#parts + 1] = run.q(a) end
  local cmd = table.concat(parts, " ") .. " <" .. (opts.stdin or "/dev/null") .. " >" .. (opts.stdout or out) .. " 2>" .. err
  if opts.cwd then cmd = "cd " .. run.q(opts.cwd) .. " && " .. cmd end
  local _, _, status = os.execute(cmd)
  local o, e = run.read(opts.stdout or out) or "", run.read(err) or ""
  os.remove(out)
  os.remove(err)
  return status, o, e
end

function M.state(root, id)
  local status, out = M.rt(root, { "state", id })
  if status ~= 0 then return nil end
  return vc.json.decode(out)
end

--- Poll until fn() is true or timeout seconds pass.
function M.wait_for(fn, timeout) return run.wait_for(fn, timeout or 60) end

--- Live (non-zombie) processes whose command line mentions `needle`.
function M.processes(needle)
  local found = {}
  local p = io.popen("ls /proc")
  for pid in p:lines() do
    if pid:match("^%d+$") then
      local f = io.open("/proc/" .. pid .. "/cmdline", "r")
      local cmd = f and f:read("a") or ""
      if f then f:close() end
      if cmd:find(needle, 1, true) and tonumber(pid) ~= vc.proc.getpid() and vc.proc.alive(tonumber(pid)) then
        found[#found + 1] = pid .. " " .. cmd:gsub("%z", " ")
      end
    end
  end
  p:close()
  return found
end

--- Everything the runtime may leave behind under root: processes, mounts, container or sandbox state,
--- namespaces. Returns a list of descriptions (empty: clean).
--- Wait (up to 120 s: a loaded machine) for the teardowns `delete` left running in the background under any
--- of `dirs` (`kata-runtime ... teardown`, or a delete still forking one) to end: what they remove is not a
--- leak until they have had their time.
function M.settle(dirs)
  M.wait_for(function()
    vctest.proc.reap()
    for _, d in ipairs(dirs) do
      for _, p in ipairs(M.processes(d)) do
        if p:match("^%d+ %S*kata%-runtime ") then return false end
      end
    end
    return true
  end, 120)
end

function M.leaks(root)
  M.settle({ root })
  vctest.proc.reap()
  local out = {}
  for _, p in ipairs(M.processes(root)) do out[#out + 1] = "process " .. p end
  for line in io.lines("/proc/self/mountinfo") do
    local mp = line:match("^%S+ %S+ %S+ %S+ (%S+)")
    if mp and mp:sub(1, #root) == root then out[#out + 1] = "mount " .. mp end
  end
  local p = io.popen("find " .. run.q(root) .. " -mindepth 1 2>/dev/null")
  for path in p:lines() do
    local rel = path:sub(#root + 2)
    if rel ~= ".lock" and rel ~= ".sandbox" then out[#out + 1] = "file " .. path end
  end
  p:close()
  return out
end

--- What the runtime and an engine have made: processes whose command line mentions one of `dirs`, mounts
--- under them, and files in the ones of `file_dirs` (the `.lock` and `.sandbox` directories themselves,
--- which the runtime keeps, aside). For a root that other runs may share, compare two of these with
--- M.leaks_since rather than demanding emptiness.
---@param dirs string[]
---@param file_dirs string[]|nil
---@return table<string, true>
function M.footprint(dirs, file_dirs)
  M.settle(dirs)
  vctest.proc.reap()
  local set = {}
  for _, d in ipairs(dirs) do
    for _, p in ipairs(M.processes(d)) do set["process " .. p] = true end
  end
  for line in io.lines("/proc/self/mountinfo") do
    local mp = line:match("^%S+ %S+ %S+ %S+ (%S+)")
    for _, d in ipairs(dirs) do
      if mp and (mp == d or mp:sub(1, #d + 1) == d .. "/") then set["mount " .. mp] = true end
    end
  end
  for _, d in ipairs(file_dirs or {}) do
    local p = io.popen("find " .. run.q(d) .. " -xdev -mindepth 1 2>/dev/null") -- mounts are listed above
    for path in p:lines() do
      local rel = path:sub(#d + 2)
      if rel ~= ".lock" and rel ~= ".sandbox" then set["file " .. path] = true end
    end
    p:close()
  end
  return set
end

--- What is there now and was not in `before` (a M.footprint of the same dirs), sorted.
---@return string[]
function M.leaks_since(before, dirs, file_dirs)
  local out = {}
  for k in pairs(M.footprint(dirs, file_dirs)) do
    if not before[k] then out[#out + 1] = k end
  end
  table.sort(out)
  return out
end

return M
