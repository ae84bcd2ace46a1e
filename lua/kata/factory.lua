--- Mechanism: VM templates (the factory, docs/factory.md). A template is a booted guest whose agent
--- answered, saved as two files: its RAM (a file on a tmpfs) and its device state. A sandbox whose VM has the
--- template's shape starts as a clone of it instead of booting.
---
--- One template per shape (the configured QEMU, kernel, initrd, kernel parameters, memory, vCPUs, TCG cache,
--- accelerator, hot-plug ports), in <factory.dir>/<key>/ (template.json, state) with its RAM in
--- <factory.memory_dir>/kata-template-<key>.mem. template.json records what each input file was (size,
--- mtime, inode): a template whose inputs changed since is stale, never cloned, and rebuilt by `init`.
---
--- Functions take the primitives they use as `p` ({ fs, json, digest, sandbox, proc }):
--- the runtime's `vc` for the factory command, a command's api for a launch.
local M = {}

-- Bumped when the template's device set or CPU (vc_qemu_build_argv's template shape) or files change.
M.FORMAT = 3
M.NIC_PORTS = 4 -- VC_TEMPLATE_NIC_PORTS: the NICs a clone can boot with

--- The shape a VM must have to be cloned from a template, as a string (and the fields it is made of).
---@param vm table vc.sandbox.launch's table (kata.pod.vm)
---@param hotplug_ports integer
local function shape_of(vm, hotplug_ports)
  return table.concat({ "format=" .. M.FORMAT, "qemu=" .. vm.qemu, "kernel=" .. vm.kernel, "initrd=" .. vm.initrd,
    "params=" .. (vm.kernel_params or ""), "memory=" .. vm.memory_mib, "vcpus=" .. vm.vcpus,
    "tcg=" .. vm.tcg_cache_mib, "accel=" .. vm.accel, "ports=" .. hotplug_ports,
    "fs=" .. (vm.share_fs or "virtio-fs") }, "\n")
end

--- What an input file is now: realpath, size, mtime, inode; nil, err when it is missing.
local function identity(p, path)
  local real, err = p.fs.realpath(path)
  if not real then return nil, err end
  local st, serr = p.fs.stat(real)
  if not st then return nil, serr end
  return { path = real, size = st.size, mtime = st.mtime, ino = st.ino }
end

--- The template a VM of this shape would use: { key, dir, file, state, memory, shape } (paths only).
---@param cfg table the effective configuration
---@param vm table kata.pod.vm(cfg) or a grown copy of it
function M.locate(p, cfg, vm)
  local f = cfg.factory
  local shape = shape_of(vm, f.hotplug_ports)
  local key = p.digest(shape)
  local dir = f.dir .. "/" .. key
  return { key = key, dir = dir, file = dir .. "/template.json", state = dir .. "/state", shape = shape,
    memory = f.memory_dir .. "/kata-template-" .. key .. ".mem", hotplug_ports = f.hotplug_ports }
end

local function read_json(p, path)
  local fh = io.open(path, "r")
  if not fh then return nil end
  local doc = p.json.decode(fh:read("a") or "")
  fh:close()
  return type(doc) == "table" and doc or nil
end

--- Whether the template at `loc` can be cloned: its record, else nil and why ("missing", "stale: ...").
function M.check(p, loc, vm)
  local rec = read_json(p, loc.file)
  if not rec then return nil, "missing" end
  if rec.shape ~= loc.shape then return nil, "stale: made for another shape" end
  for _, what in ipairs({ "qemu", "kernel", "initrd" }) do
    local now = identity(p, vm[what])
    local was = rec.inputs and rec.inputs[what]
    if not now or not was or now.path ~= was.path or now.size ~= was.size or now.mtime ~= was.mtime or now.ino ~= was.ino then
      return nil, ("stale: %s '%s' changed since the template was made"):format(what, vm[what])
    end
  end
  for _, f in ipairs({ loc.memory, loc.state }) do
    if not p.fs.stat(f) then return nil, ("damaged: '%s' is missing"):format(f) end
  end
  return rec
end

--- Remove one template's files (never raises); returns the number of files removed.
local function remove(p, loc)
  local n = 0
  for _, f in ipairs({ loc.file, loc.state, loc.memory }) do
    if p.fs.stat(f) then p.fs.unlink(f); n = n + 1 end
  end
  if p.fs.stat(loc.dir .. "/vm") then p.sandbox.remove_dir(loc.dir .. "/vm") end
  p.fs.rmdir(loc.dir)
  return n
end

--- Every template directory under factory.dir, as locations (key, dir, file, state, memory).
function M.list(p, cfg)
  local out = {}
  for _, key in ipairs(p.fs.list(cfg.factory.dir) or {}) do
    if key:match("^%x+$") then
      local dir = cfg.factory.dir .. "/" .. key
      out[#out + 1] = { key = key, dir = dir, file = dir .. "/template.json", state = dir .. "/state",
        memory = cfg.factory.memory_dir .. "/kata-template-" .. key .. ".mem" }
    end
  end
  return out
end

--- Make the template of one shape: boot it, wait for its agent, save it. A ready one is kept; a stale or
--- damaged one is replaced. Returns the record and "ready" | "made", or nil, err.
local function init_one(p, cfg, vm)
  local loc = M.locate(p, cfg, vm)
  local rec = M.check(p, loc, vm)
  if rec then return rec, "ready" end
  remove(p, loc)
  local ok, err = p.fs.mkdir_p(loc.dir, 448)
  if not ok then return nil, err end
  local inputs = {}
  for _, what in ipairs({ "qemu", "kernel", "initrd" }) do
    local id, ierr = identity(p, vm[what])
    if not id then remove(p, loc) return nil, ("%s: %s"):format(what, ierr) end
    inputs[what] = id
  end
  local tvm = {}
  for k, v in pairs(vm) do tvm[k] = v end
  tvm.id, tvm.dir = "factory-" .. loc.key, loc.dir .. "/vm"
  tvm.hotplug_ports = loc.hotplug_ports
  tvm.template = { memory = loc.memory, state = loc.state, save = true, fs = vm.share_fs }
  -- the template only waits for its agent; it is stopped once saved (the shutdown plan is for a failure)
  tvm.plan = { boot = { { call = "check" } }, shutdown = { timeout = 10, destroy_timeout = 5 } }
  local info, lerr = p.sandbox.launch(tvm)
  if not info then remove(p, loc) return nil, lerr end
  -- the supervisor stops the template VM once it is saved: wait for that, then drop its directory
  p.proc.wait_gone(info.pid, 0, 30)
  p.sandbox.remove_dir(tvm.dir)
  rec = { shape = loc.shape, inputs = inputs, accel = info.accel, boot_ms = info.boot_ms,
    memory_mib = vm.memory_mib, vcpus = vm.vcpus, hotplug_ports = loc.hotplug_ports, memory = loc.memory,
    state = loc.state, created = os.time() }
  ok, err = p.fs.atomic_write(loc.file, p.json.encode(rec, true) .. "\n", 384)
  if not ok then remove(p, loc) return nil, err end
  return rec, "made"
end

--- The sizes templates are made in: the configured VM's, then factory.shapes' ({ memory_mib, vcpus }),
--- smallest first. Each is `vm` with that size.
function M.sizes(cfg, vm)
  local out, seen = {}, {}
  local function add(mem, cpus)
    local k = mem .. "/" .. cpus
    if seen[k] then return end
    seen[k] = true
    local v = {}
    for key, val in pairs(vm) do v[key] = val end
    v.memory_mib, v.vcpus = mem, cpus
    out[#out + 1] = v
  end
  add(vm.memory_mib, vm.vcpus)
  for _, sh in ipairs(cfg.factory.shapes or {}) do add(sh.memory_mib, sh.vcpus) end
  table.sort(out, function(a, b)
    if a.memory_mib ~= b.memory_mib then return a.memory_mib < b.memory_mib end
    return a.vcpus < b.vcpus
  end)
  return out
end

--- Make the template of every size (M.sizes) of the configured VM. Returns { { vm, loc, rec, how } }, or
--- nil, err at the first that fails.
function M.init(p, cfg, vm)
  local out = {}
  for _, v in ipairs(M.sizes(cfg, vm)) do
    local rec, how = init_one(p, cfg, v)
    if not rec then return nil, ("%d MiB, %d vCPU: %s"):format(v.memory_mib, v.vcpus, tostring(how)) end
    out[#out + 1] = { vm = v, loc = M.locate(p, cfg, v), rec = rec, how = how }
  end
  return out
end

--- Remove every template under factory.dir; returns how many.
function M.destroy(p, cfg)
  local n = 0
  for _, loc in ipairs(M.list(p, cfg)) do
    remove(p, loc)
    n = n + 1
  end
  return n
end

--- The clone a sandbox VM can start as, when the factory is on and a valid template exists for it: the
--- smallest of the configured sizes (M.sizes) with at least the VM's memory and vCPUs, so that a VM grown by
--- its container's limits still starts as a clone (of a larger guest). Returns the launch table's
--- `template` field and the template's record (its accel, ports, memory_mib and vcpus the clone must keep),
--- or nil and why (the VM boots cold).
---@param vm table the VM the policy asked for (kata.pod.vm, maybe grown)
function M.clone_of(p, cfg, vm)
  if not (cfg.factory and cfg.factory.template) then return nil, "the factory is off" end
  if #(vm.nics or {}) > M.NIC_PORTS then return nil, ("%d NICs, a clone has ports for %d"):format(#vm.nics, M.NIC_PORTS) end
  if (vm.hotplug_ports or 0) > cfg.factory.hotplug_ports then
    return nil, ("%d hot-plug ports asked for, templates have %d"):format(vm.hotplug_ports, cfg.factory.hotplug_ports)
  end
  local base = M.vm_of(cfg, vm)
  local why -- of the smallest size that would do
  for _, v in ipairs(M.sizes(cfg, base)) do
    if v.memory_mib >= vm.memory_mib and v.vcpus >= vm.vcpus then
      local loc = M.locate(p, cfg, v)
      local rec, bad = M.check(p, loc, v)
      if rec then return { memory = loc.memory, state = loc.state, fs = v.share_fs }, rec end
      why = why or ("template %s: %s"):format(loc.key, bad)
    end
  end
  return nil, why or ("no template size holds %d MiB and %d vCPUs"):format(vm.memory_mib, vm.vcpus)
end

--- The configured size of a VM: `vm` with the configuration's memory and vCPUs (what the policy may have
--- grown), the base M.sizes starts from.
function M.vm_of(cfg, vm)
  local v = {}
  for k, val in pairs(vm) do v[k] = val end
  v.memory_mib, v.vcpus = cfg.hypervisor.memory_mib, cfg.hypervisor.vcpus
  return v
end

return M
