--- A private containerd for integration specs: its own config.toml, root, state, sockets, runc root and
--- FIFO directory under one temporary directory, the CRI plugin disabled; a busybox image built locally
--- as an OCI layout and imported with ctr; ctr invocations with kata-runtime as the runc binary; and a
--- leak check of what containerd and its runc shim may leave on the machine.
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")

local M = {}

M.IMAGE = "localhost/kata-busybox:latest"
M.NAMESPACE = "kata-spec"

local PROGRAMS = { "containerd", "ctr", "containerd-shim-runc-v2" }

local function which(prog)
  local p = io.popen("command -v " .. run.q(prog) .. " 2>/dev/null")
  local path = p:read("l")
  p:close()
  return path
end

--- Whether containerd and ctr are installed (scripts/setup.sh installs them), on top of world.available().
function M.available()
  local ok, why = world.available()
  if not ok then return false, why end
  for _, prog in ipairs(PROGRAMS) do
    if not which(prog) then return false, prog .. " is not installed (run scripts/setup.sh)" end
  end
  return true
end

-- Shared directories containerd 1.6 uses whatever its configuration says: the runc shim's sockets
-- (/run/containerd/s) and go-runc's console sockets (/tmp/pty*). Snapshotted so that the leak check sees
-- what this containerd added and teardown removes the directories only if it created them.
local function list(dir, pattern)
  local out = {}
  local p = io.popen("ls -A " .. run.q(dir) .. " 2>/dev/null")
  for name in p:lines() do
    if not pattern or name:match(pattern) then out[#out + 1] = name end
  end
  p:close()
  table.sort(out)
  return out
end

local function added(before, now)
  local seen, out = {}, {}
  for _, n in ipairs(before) do seen[n] = true end
  for _, n in ipairs(now) do if not seen[n] then out[#out + 1] = n end end
  return out
end

local function config_toml(d)
  return table.concat({
    "version = 2",
    ("root = %q"):format(d.dir .. "/root"),
    ("state = %q"):format(d.dir .. "/state"),
    -- no CRI (this is not a Kubernetes node) and none of the snapshotters that probe the host
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",',
    '  "io.containerd.snapshotter.v1.devmapper"]',
    "[grpc]",
    ("  address = %q"):format(d.sock),
    "[ttrpc]",
    ("  address = %q"):format(d.sock .. ".ttrpc"),
    "[debug]",
    '  address = ""',
    "[metrics]",
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    ("  path = %q"):format(d.dir .. "/opt"),
    "",
  }, "\n")
end

--- Start containerd under dir (which must exist). Returns a handle for M.ctr, M.stop and M.leaks.
---@param dir string
function M.start(dir)
  local d = {
    dir = dir, sock = dir .. "/containerd.sock", runc_root = dir .. "/runc", fifo = dir .. "/fifo",
    runtime = assert(vc.fs.realpath(run.runtime)),
    had_run_dir = vc.fs.stat("/run/containerd") ~= nil,
    had_sock_dir = vc.fs.stat("/run/containerd/s") ~= nil,
    shim_socks = list("/run/containerd/s"),
    ptys = list("/tmp", "^pty%d+$"),
  }
  -- kata-runtime's --root as the runc shim passes it: <runc root>/<namespace>
  d.root = d.runc_root .. "/" .. M.NAMESPACE
  assert(vc.fs.mkdir_p(d.fifo))
  -- KATA_SPEC_CONFIG (spec/helpers/world.lua): the runc shim passes no flags of ours, so a wrapper does
  local conf = os.getenv("KATA_SPEC_CONFIG")
  if conf then
    local wrapper = dir .. "/kata-runtime"
    run.write(wrapper, ("#!/bin/sh\nexec %s --config %s \"$@\"\n"):format(run.q(d.runtime), run.q(conf)))
    assert(os.execute("chmod 0755 " .. run.q(wrapper)))
    d.runtime = wrapper
  end
  run.write(dir .. "/config.toml", config_toml(d))
  local p = io.popen(("containerd --config %s >%s 2>&1 </dev/null & echo $!"):format(run.q(dir .. "/config.toml"),
    run.q(dir .. "/containerd.log")))
  d.pid = tonumber(p:read("l"))
  p:close()
  local up = world.wait_for(function()
    return vc.fs.stat(d.sock) and M.ctr(d, { "version" }) == 0
  end, 20)
  if not up then
    M.stop(d)
    error("containerd did not start:\n" .. (run.read(dir .. "/containerd.log") or ""))
  end
  return d
end

--- Stop containerd and remove the shared directories it created (only if it created them and they are
--- empty: anything in them is a leak that M.leaks reports).
function M.stop(d)
  if d.pid and vc.proc.alive(d.pid) then
    vc.proc.kill(d.pid, 15)
    if not world.wait_for(function() vctest.proc.reap(); return not vc.proc.alive(d.pid) end, 10) then
      vc.proc.kill(d.pid, 9)
      world.wait_for(function() vctest.proc.reap(); return not vc.proc.alive(d.pid) end, 30)
    end
  end
  if not d.had_sock_dir then vc.fs.rmdir("/run/containerd/s") end
  if not d.had_run_dir then vc.fs.rmdir("/run/containerd") end
end

--- The shell command running ctr against this containerd with args (a list), killed if it hangs for
--- more than timeout (60) seconds. timeout(1) stays in the caller's process group (--foreground): in a
--- group of its own it would be a background job of the caller's terminal, and `ctr run -t` putting that
--- terminal in raw mode would be stopped by SIGTTOU.
function M.command(d, args, timeout)
  local parts = { "timeout", "--foreground", "-s", "KILL", tostring(timeout or 60), "ctr", "-a", run.q(d.sock),
    "-n", M.NAMESPACE }
  for _, a in ipairs(args) do parts[#parts + 1] = run.q(a) end
  return table.concat(parts, " ")
end

--- Run ctr against this containerd. args: a list; opts.stdin, opts.stdout (a file), opts.timeout.
--- Returns status, stdout, stderr (a ctr killed for hanging: 137).
function M.ctr(d, args, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local cmd = M.command(d, args, opts.timeout) .. " <" .. (opts.stdin or "/dev/null") .. " >" .. (opts.stdout or out) .. " 2>" .. err
  local _, _, status = os.execute(cmd)
  local o, e = run.read(opts.stdout or out) or "", run.read(err) or ""
  os.remove(out)
  os.remove(err)
  return status, o, e
end

--- The flags that make `ctr run` use kata-runtime through containerd's runc v2 shim (BinaryName and Root
--- of the runc options), with this containerd's private FIFO directory.
function M.run_flags(d)
  return { "--runtime", "io.containerd.runc.v2", "--runc-binary", d.runtime, "--runc-root", d.runc_root,
    "--fifo-dir", d.fifo }
end

--- `ctr run [--rm] <kata flags> <extra...> IMAGE id args...` as one argument list.
function M.run_args(d, id, args, extra, no_rm)
  local a = { "run" }
  if not no_rm then a[#a + 1] = "--rm" end
  for _, f in ipairs(M.run_flags(d)) do a[#a + 1] = f end
  for _, f in ipairs(extra or {}) do a[#a + 1] = f end
  a[#a + 1] = M.IMAGE
  a[#a + 1] = id
  for _, x in ipairs(args) do a[#a + 1] = x end
  return a
end

local function sha256(path)
  local p = io.popen("sha256sum " .. run.q(path))
  local sum = p:read("l"):match("^(%x+)")
  p:close()
  return sum
end

-- Move a file into the layout's blob store under its digest; returns the descriptor fields.
local function add_blob(layout, path)
  local sum = sha256(path)
  local size = vc.fs.stat(path).size
  assert(os.rename(path, layout .. "/blobs/sha256/" .. sum))
  return "sha256:" .. sum, size
end

--- Build an OCI image archive of `rootfs` (one uncompressed layer) and import it as M.IMAGE.
--- Written out rather than done with umoci: an OCI layout is a directory of four JSON documents and a
--- tar, and this keeps the image exactly the busybox rootfs the other integration specs use.
function M.import_image(d, rootfs)
  local layout = d.dir .. "/oci"
  assert(vc.fs.mkdir_p(layout .. "/blobs/sha256"))
  local layer = d.dir .. "/layer.tar"
  assert(os.execute(("tar -C %s --numeric-owner --owner=0 --group=0 -cf %s ."):format(run.q(rootfs), run.q(layer))))
  local layer_digest, layer_size = add_blob(layout, layer)

  local function json_blob(name, doc)
    local path = d.dir .. "/" .. name
    run.write(path, vc.json.encode(doc))
    return add_blob(layout, path)
  end
  local config_digest, config_size = json_blob("config.json", {
    architecture = "amd64", os = "linux",
    config = { Env = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }, Cmd = { "sh" } },
    rootfs = { type = "layers", diff_ids = { layer_digest } },
  })
  local manifest_digest, manifest_size = json_blob("manifest.json", {
    schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json",
    config = { mediaType = "application/vnd.oci.image.config.v1+json", digest = config_digest, size = config_size },
    layers = { { mediaType = "application/vnd.oci.image.layer.v1.tar", digest = layer_digest, size = layer_size } },
  })
  run.write(layout .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  run.write(layout .. "/index.json", vc.json.encode({
    schemaVersion = 2,
    manifests = { {
      mediaType = "application/vnd.oci.image.manifest.v1+json", digest = manifest_digest, size = manifest_size,
      annotations = { ["io.containerd.image.name"] = M.IMAGE, ["org.opencontainers.image.ref.name"] = "latest" },
    } },
  }))
  local archive = d.dir .. "/image.tar"
  assert(os.execute(("tar -C %s -cf %s ."):format(run.q(layout), run.q(archive))))
  run.rmrf(layout)
  local status, _, err = M.ctr(d, { "image", "import", archive })
  os.remove(archive)
  assert(status == 0, "ctr image import: " .. err)
end

--- Tasks and containers this containerd still has (ids), for cleanup after a failed case.
function M.ids(d, what)
  local status, out = M.ctr(d, { what, "ls", "-q" })
  local ids = {}
  if status == 0 then for id in out:gmatch("%S+") do ids[#ids + 1] = id end end
  return ids
end

--- Force away whatever a failed case left in containerd: tasks (killed, deleted), then containers.
function M.clean(d)
  for _, id in ipairs(M.ids(d, "tasks")) do
    M.ctr(d, { "task", "kill", "-s", "KILL", id })
    M.ctr(d, { "task", "delete", "-f", id })
  end
  for _, id in ipairs(M.ids(d, "containers")) do M.ctr(d, { "container", "delete", id }) end
end

--- What this containerd's containers left behind: world.leaks of kata-runtime's root, plus tasks and
--- containers containerd still knows, runc shims, mounts under its directory, shim sockets, FIFOs and
--- console socket directories. Empty: clean.
function M.leaks(d)
  local out = world.leaks(d.root)
  for _, id in ipairs(M.ids(d, "tasks")) do out[#out + 1] = "task " .. id end
  for _, id in ipairs(M.ids(d, "containers")) do out[#out + 1] = "container " .. id end
  for _, p in ipairs(world.processes(d.sock)) do
    if not p:match("^" .. d.pid .. " ") then out[#out + 1] = "process " .. p end
  end
  for line in io.lines("/proc/self/mountinfo") do
    local mp = line:match("^%S+ %S+ %S+ %S+ (%S+)")
    if mp and mp:sub(1, #d.dir + 1) == d.dir .. "/" then out[#out + 1] = "mount " .. mp end
  end
  -- /run/containerd/s is shared with any other containerd on the machine: a socket someone still listens
  -- on belongs to a live shim (ours would have shown above as a process), so only a dead one is a leak.
  local listening = {}
  for line in io.lines("/proc/net/unix") do
    local path = line:match("(/run/containerd/s/%S+)$")
    if path then listening[path] = true end
  end
  for _, n in ipairs(added(d.shim_socks, list("/run/containerd/s"))) do
    if not listening["/run/containerd/s/" .. n] then out[#out + 1] = "shim socket /run/containerd/s/" .. n end
  end
  for _, n in ipairs(added(d.ptys, list("/tmp", "^pty%d+$"))) do out[#out + 1] = "console socket dir /tmp/" .. n end
  for _, n in ipairs(list(d.fifo)) do out[#out + 1] = "fifo dir " .. d.fifo .. "/" .. n end
  local p = io.popen("ls -A " .. run.q(d.dir .. "/state/io.containerd.runtime.v2.task/" .. M.NAMESPACE) .. " 2>/dev/null")
  for name in p:lines() do out[#out + 1] = "bundle " .. name end
  p:close()
  return out
end

return M
