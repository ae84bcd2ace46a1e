--- Mechanism: the sandbox VM of a pod. Its directory and network namespace, launching its supervisor
--- (which owns qemu and virtiofsd), connecting to it, and tearing it all down again.
---
--- The sandbox directory's layout stays in C (vc.sandbox); this module records in the state what it
--- made, so teardown removes exactly that, and pushes the undo of each step on the command's undo list.
local runner = require("kata.runner")

local M = {}

local fail = runner.fail
local must = runner.must

M.SHARE_TAG = "kataShared" -- the virtio-fs tag the guest mounts the share by
-- In the sandbox directory: the record of a teardown that goes on after `delete` answered. It goes with
-- the directory, the teardown's last step; while it is there the teardown is not finished.
M.PENDING = "teardown.json"

--- The sandbox's boot and shutdown plan as data: what the supervisor asks the agent once it answers,
--- and how long shutdown may take. The runtime's only standard plan (libvc and the supervisor have none
--- and refuse a launch without one); the `boot_plan` policy step starts from this.
---@param sid string
function M.standard_plan(sid)
  return {
    boot = {
      { call = "check" },
      { call = "create_sandbox", params = { hostname = sid:sub(1, 64), share_tag = M.SHARE_TAG } },
    },
    shutdown = {
      timeout = 10, -- seconds the supervisor gives the agent and qemu before SIGKILL
      destroy_timeout = 5, -- of those, seconds the agent's destroy_sandbox may take before qemu is asked to quit
      wait = 30, -- seconds the runtime waits for the supervisor to answer
      kill_after = 15, -- seconds the runtime waits for the supervisor to exit before SIGKILL
    },
  }
end

--- The VM of a configuration's hypervisor section, as vc.sandbox.launch takes it: every field given,
--- since the C side has no defaults of its own (kata.config holds them).
---@param cfg table an effective configuration (kata.config.load or .defaults)
---@param debug boolean|nil --debug on the command line
---@return table
function M.vm(cfg, debug)
  local hv = cfg.hypervisor
  return {
    qemu = hv.path, kernel = hv.kernel, initrd = hv.initrd, kernel_params = hv.kernel_params,
    firmware = hv.firmware, -- "": QEMU's own
    virtiofsd = hv.virtiofsd, vcpus = hv.vcpus, memory_mib = hv.memory_mib, accel = hv.accel,
    tcg_cache_mib = hv.tcg_cache_mib, boot_timeout = math.ceil(hv.boot_timeout), debug = hv.debug or debug or false,
    -- a clone's shared file system (docs/factory.md); the vm_config step may pick another per pod
    share_fs = cfg.factory and cfg.factory.share_fs or "virtio-fs",
  }
end

--- The record of the unfinished teardown of sandbox `sid` in its directory `dir` (M.PENDING), or nil; the
--- second value says why a record that is there cannot be used. `read_file` and `decode` are the
--- caller's (a command's api, or the runtime's vc before a policy is chosen).
function M.read_pending(dir, sid, read_file, decode)
  local text = read_file(dir .. "/" .. M.PENDING)
  if not text then return nil end
  local sst = decode(text)
  local why = require("kata.container").check_record(sst)
  if not why and (sst.runtime.sandbox_id ~= sid or sst.runtime.sandbox_dir ~= dir) then
    why = "it names another sandbox"
  end
  if why then return nil, ("%s of sandbox '%s': %s"):format(M.PENDING, sid, why) end
  return sst
end

function M.bind(api, undo)
  local Pod = { standard_plan = M.standard_plan, PENDING = M.PENDING }

  --- The configured VM (the configuration layer's hypervisor section) as vc.sandbox.launch takes it.
  function Pod.vm_defaults(ctx) return M.vm(api.config, ctx.global.debug) end

  --- VM `vm` grown by the container's resource limits, the way Kata sizes its VMs: its memory plus the
  --- memory limit, its vCPUs plus quota/period (within 64 GiB and 64 vCPUs).
  function Pod.sized_vm(vm, config)
    local res = config.linux and config.linux.resources or {}
    if res.memory and type(res.memory.limit) == "number" and res.memory.limit > 0 then
      vm.memory_mib = math.min(vm.memory_mib + math.ceil(res.memory.limit / (1024 * 1024)), 65536)
    end
    if res.cpu and type(res.cpu.quota) == "number" and res.cpu.quota > 0 and (res.cpu.period or 0) > 0 then
      vm.vcpus = math.min(vm.vcpus + math.ceil(res.cpu.quota / res.cpu.period), 64)
    end
    return vm
  end

  --- The directory and network namespace of a new sandbox. The namespace is the one the spec names
  --- (never the host's), else a new one the runtime owns. Records sandbox_dir, shared, share_host, netns,
  --- netns_created.
  function Pod.prepare(st, config)
    local rt, sid = st.runtime, st.runtime.sandbox_id
    rt.sandbox_dir = api.paths.sandbox(sid)
    rt.shared, rt.share_host = rt.sandbox_dir .. "/shared", rt.sandbox_dir .. "/mounts"
    rt.socket = rt.sandbox_dir .. "/sup.sock"
    rt.netns, rt.netns_created = nil, false
    for _, ns in ipairs(config.linux and config.linux.namespaces or {}) do
      if ns.type == "network" and ns.path then
        local is_host, err = api.netns.is_host(ns.path)
        if is_host == nil then fail(("network namespace '%s': %s"):format(ns.path, err)) end
        if is_host then fail(("network namespace '%s' is the host's: refusing to run a sandbox in it"):format(ns.path)) end
        rt.netns = ns.path
        break
      end
    end
    if not rt.netns then rt.netns, rt.netns_created = api.paths.netns_dir .. "/" .. api.digest(sid), true end
    -- a teardown of an earlier sandbox of this id still to finish (its process died, or waits for the lock
    -- this command holds) goes first: the directory, namespace and share are named by the id
    api.container.finish_pending(sid)
    -- intent first: the record names the directory, the share, the socket and the namespace before any
    -- of them exists, so that a create killed at any point can be finished off by delete --force
    must("save state", api.state.save(st.id, st))

    must("create sandbox directory", api.fs.mkdir_p(rt.sandbox_dir, 448))
    undo.push("remove sandbox directory", function() must("remove sandbox directory", api.sandbox.remove_dir(rt.sandbox_dir)) end)
    -- a launch cut short (an interrupted create) may leave a supervisor the record never learnt of
    undo.push("stop what names the sandbox directory", function() must("stop sandbox processes", api.purge.processes(rt.sandbox_dir .. "/", 5)) end)
    api.share.setup(st)
    if rt.netns_created then
      local ns = must("create network namespace", api.netns.create(api.paths.netns_dir, api.digest(sid)))
      local path = ns:path()
      ns:close()
      undo.push("delete network namespace " .. path, function()
        must("delete netns", api.netns.delete(path))
        api.netns.remove_dir(api.paths.netns_dir)
      end)
      rt.netns = path
    end
  end

  --- A pod container joins its sandbox: it copies what tearing the sandbox down needs.
  function Pod.join(st, sst)
    for _, k in ipairs(require("kata.container").SANDBOX_FIELDS) do st.runtime[k] = sst.runtime[k] end
  end

  --- The sandbox container's namespaces a pod container joins in the guest. CRI gives a pod container's
  --- uts and ipc namespaces (and pid, when the pod shares its processes) as the sandbox's host paths,
  --- meaningless in the guest, where the sandbox container's namespaces are the pod's: joining them gives
  --- every container the pod's hostname and IPC, as under runc. Returns { type = sid } or nil.
  function Pod.join_namespaces(config, sid)
    local join
    for _, ns in ipairs(config.linux and config.linux.namespaces or {}) do
      if (ns.type == "uts" or ns.type == "ipc" or ns.type == "pid") and ns.path then
        join = join or {}
        join[ns.type] = sid
      end
    end
    return join
  end

  --- With the factory on and a valid template of the VM's shape: the VM as a clone of the template
  --- (kata.factory). nil when there is none, or when the clone failed (then logged: the caller boots cold).
  local function launch_clone(st, vm)
    local clone, rec = require("kata.factory").clone_of(api, api.config, vm) -- loaded by a launch alone
    if not clone then
      if api.config.factory and api.config.factory.template then api.log.info("booting cold: %s", rec) end
      return nil
    end
    local cvm = {}
    for k, v in pairs(vm) do cvm[k] = v end
    cvm.template, cvm.accel, cvm.hotplug_ports = clone, rec.accel, rec.hotplug_ports
    cvm.memory_mib, cvm.vcpus = rec.memory_mib, rec.vcpus -- the template's size (at least the VM's)
    if clone.fs == "9p" and vm.plan then
      -- the share is the template's 9p device: create_sandbox mounts it as such
      cvm.plan = { shutdown = vm.plan.shutdown, boot = {} }
      for i, step in ipairs(vm.plan.boot) do
        local c = { call = step.call, params = step.params }
        if step.call == "create_sandbox" then
          c.params = {}
          for k, v in pairs(step.params or {}) do c.params[k] = v end
          c.params.share_fs = "9p"
        end
        cvm.plan.boot[i] = c
      end
    end
    api.log.info("launching sandbox VM as a clone of template '%s' (%d MiB, %d vCPU)", clone.state, rec.memory_mib, rec.vcpus)
    local info, err = api.sandbox.launch(cvm)
    if not info then
      api.log.warn("clone of template '%s' failed, booting cold: %s", clone.state, tostring(err))
      return nil
    end
    st.runtime.clone = true
    return info
  end

  --- Launch the sandbox's supervisor with VM `vm` (from the vm_config step) and boot plan `plan`.
  --- Records the supervisor in the state and saves it; a rollback shuts the sandbox down.
  ---@return table|nil info { pid, socket, accel, boot_ms, agent_ms }
  ---@return string|nil err
  function Pod.launch(st, vm, plan)
    local rt = st.runtime
    local hv = api.config.hypervisor
    if vm.qemu ~= hv.path or vm.virtiofsd ~= hv.virtiofsd or vm.supervisor ~= nil then
      return nil, ("the VM must use the configured programs (qemu '%s', virtiofsd '%s')"):format(hv.path, hv.virtiofsd), "EPERM"
    end
    vm.id, vm.dir, vm.share_dir, vm.netns = rt.sandbox_id, rt.sandbox_dir, rt.shared, rt.netns
    -- the boot counts against the command's deadline
    local left = api.limits and api.limits.remaining()
    if left and vm.boot_timeout > left then vm.boot_timeout = math.max(1, math.floor(left)) end
    vm.plan = plan
    local info, err, code = launch_clone(st, vm)
    if not info then
      api.log.info("launching sandbox VM (%d vCPU, %d MiB)", vm.vcpus, vm.memory_mib)
      info, err, code = api.sandbox.launch(vm)
    end
    if not info then return nil, err, code end
    rt.socket, rt.supervisor_pid = info.socket, info.pid
    rt.supervisor_start_time = api.proc.start_time(info.pid)
    rt.accel, rt.boot_ms, rt.agent_ms = info.accel, info.boot_ms, info.agent_ms
    rt.shutdown = plan and plan.shutdown or nil
    local sup = { runtime = { socket = rt.socket, supervisor_pid = rt.supervisor_pid,
      supervisor_start_time = rt.supervisor_start_time, shutdown = rt.shutdown } }
    undo.push("shut the sandbox down", function() Pod.teardown(sup) end)
    must("save state", api.state.save(st.id, st))
    return info
  end

  --- Connect to the sandbox's supervisor, trying for up to 5 s while it runs (its socket may not be there
  --- yet). Once the supervisor has exited -- a kill that stopped the VM, a crash -- its socket will not come
  --- back, so that is reported at once: engines call delete right after such a kill.
  ---@return table|nil sb a vc.Sandbox connection (for api.agent.*)
  function Pod.connect(st)
    local rt = st.runtime
    local deadline = api.clock.monotonic() + 5
    -- a create killed before its supervisor was known: no socket, nobody to wait for
    if not rt.socket or (not rt.supervisor_pid and not api.fs.stat(rt.socket)) then
      return nil, "no sandbox supervisor", "ENOENT"
    end
    while true do
      local sb, err, code = api.sandbox.connect(rt.socket)
      if sb then return sb end
      if rt.supervisor_pid and not api.proc.alive(rt.supervisor_pid, rt.supervisor_start_time) then
        return nil, "sandbox supervisor is not running", "ESRCH"
      end
      if api.clock.monotonic() >= deadline then return nil, err, code end
      api.clock.sleep(0.02)
    end
  end

  --- A connection to the sandbox's supervisor now, or nil: no waiting for a socket, nothing when the
  --- recorded supervisor is not running.
  function Pod.connect_now(st)
    local rt = st.runtime
    if not rt.socket or not rt.supervisor_pid or not api.proc.alive(rt.supervisor_pid, rt.supervisor_start_time) then
      return nil
    end
    return (api.sandbox.connect(rt.socket))
  end

  --- Whether the sandbox answers within `timeout` seconds: its supervisor and, through it, the agent. A
  --- frozen one (a SIGSTOPped supervisor or qemu, a hung guest) does not, and no call to it may be waited on.
  function Pod.responsive(st, timeout)
    local sb = Pod.connect_now(st)
    if not sb then return false end
    local ok, _, code = sb:check(timeout)
    sb:close()
    -- a sandbox that is stopping says so: it answers
    return (ok ~= nil and ok ~= false) or code == "ESHUTDOWN"
  end

  --- Kill the sandbox outright: every process that names its directory (supervisor, qemu, virtiofsd,
  --- shims; SIGKILL reaches stopped ones too). What is left on the host goes with Pod.teardown.
  function Pod.kill(st)
    local rt = st.runtime
    if not rt.sandbox_dir then return end
    local n, err = api.purge.processes(rt.sandbox_dir .. "/", 5)
    if not n then api.log.warn("kill the sandbox: %s, ignoring", err) else api.log.warn("killed the sandbox's %d processes", n) end
  end

  --- Ask the supervisor to shut the VM down (the agent first, then qemu) and wait for its answer.
  function Pod.shutdown(sb, st)
    local sd = st.runtime.shutdown or M.standard_plan(st.runtime.sandbox_id).shutdown
    return sb:shutdown(sd.timeout, sd.wait)
  end

  --- Stop the sandbox VM once its sandbox container has exited with `code`: its shim reports the exit
  --- first, then the supervisor shuts the VM down.
  function Pod.stop(sb, st, code)
    api.container.wait_gone(st, 5)
    api.log.info("sandbox container exited with %d: stopping the sandbox VM", code)
    return Pod.shutdown(sb, st)
  end

  --- Have the supervisor stop the sandbox VM by itself once the sandbox container's process has exited
  --- (its shim gets the exit first), without waiting for either: Kata stops the sandbox when its sandbox
  --- container is killed. A container with no process in the guest: the VM stops now, waited for.
  function Pod.stop_after_exit(sb, st)
    local handle = st.runtime.handle
    local sd = st.runtime.shutdown or M.standard_plan(st.runtime.sandbox_id).shutdown
    if type(handle) ~= "number" then return Pod.shutdown(sb, st) end
    local ok, err, code = sb:shutdown_after(handle, sd.timeout)
    if ok then api.log.info("the sandbox VM stops once its sandbox container has exited") end
    return ok, err, code
  end

  --- Tear a sandbox down from its record: the VM (through its supervisor; killed if it does not go), the
  --- share, the sandbox directory, the namespace the runtime made. Never raises; logs what fails.
  function Pod.teardown(sst)
    local rt = sst.runtime
    local sd = rt.shutdown or M.standard_plan(rt.sandbox_id).shutdown
    local sb = rt.socket and Pod.connect(sst)
    if sb then
      local ok, err = Pod.shutdown(sb, sst)
      if not ok then api.log.warn("sandbox shutdown: %s, ignoring", tostring(err)) end
      sb:close()
    end
    if rt.supervisor_pid and not api.proc.wait_gone(rt.supervisor_pid, rt.supervisor_start_time, sd.kill_after) then
      api.log.warn("supervisor %d still running, killing it", rt.supervisor_pid)
      api.proc.kill(rt.supervisor_pid, 9)
      api.proc.wait_gone(rt.supervisor_pid, rt.supervisor_start_time, 5)
    end
    -- what the record cannot name (a supervisor that never reported, its qemu, virtiofsd, shims): every
    -- process that names the sandbox's directory
    if rt.sandbox_dir then
      local n, perr = api.purge.processes(rt.sandbox_dir .. "/", 5)
      if not n then api.log.warn("sandbox processes: %s, ignoring", perr) elseif n > 0 then api.log.warn("killed %d leftover sandbox processes", n) end
    end
    api.share.teardown(sst)
    api.network.teardown(sst) -- the VM is gone: its taps can go
    if rt.netns_created and rt.netns then
      local ok, err = api.netns.delete(rt.netns)
      if not ok then api.log.warn("delete network namespace: %s, ignoring", err) end
      -- the namespace directory (a mount point) goes with its last namespace
      local _, _, code = api.netns.remove_dir(api.paths.netns_dir)
      if code and code ~= "ENOTEMPTY" and code ~= "ENOENT" then api.log.debug("remove namespace directory: %s", code) end
    end
    -- last: the directory holds the record of a teardown handed to the background (M.PENDING), which
    -- lets another command finish it until then
    if rt.sandbox_dir then
      local ok, err = api.sandbox.remove_dir(rt.sandbox_dir)
      if not ok then api.log.warn("remove sandbox directory: %s, ignoring", err) end
    end
  end

  --- The record of a teardown of sandbox `sid` not finished yet (M.PENDING), or nil; the second value says
  --- why a record that is there cannot be used.
  function Pod.pending(sid) return M.read_pending(api.paths.sandbox(sid), sid, api.read_file, api.json.decode) end

  --- Hand the teardown of sandbox `sst` (its last container is being deleted) to a process of its own,
  --- `kata-runtime teardown <sandbox-id>`, so that `delete` answers before the VM is down: the record is
  --- written first (M.PENDING), so that when that process cannot start or dies, the next create or
  --- `delete --force` of the id finishes the teardown. Returns true, or nil and why (nothing started: the
  --- caller tears down itself).
  function Pod.teardown_later(sst)
    local rt = sst.runtime
    if not rt.sandbox_dir or not api.fs.stat(rt.sandbox_dir) then return nil, "no sandbox directory" end
    local function now(err)
      api.log.warn("sandbox teardown in the background: %s; tearing down now", tostring(err))
      return nil, err
    end
    local argv, err = api.self_command("teardown", rt.sandbox_id)
    if not argv then return now(err) end
    local ok
    ok, err = api.fs.atomic_write(rt.sandbox_dir .. "/" .. M.PENDING, api.json.encode(sst), 384)
    if not ok then return now(err) end
    local pid
    pid, err = api.proc.spawn_detached(argv)
    if not pid then
      api.fs.unlink(rt.sandbox_dir .. "/" .. M.PENDING)
      return now(err)
    end
    api.log.info("the sandbox's teardown goes on in the background (pid %d)", pid)
    return true
  end

  return Pod
end

return M
