--- The default lifecycle policy: Kata Containers 1.x's cli/ behaviour on the OCI runtime spec lifecycle.
---
--- Each command is a function(ctx, api). ctx is the parsed command line as plain data ({command, global,
--- options, args}); api holds the primitives (kata/api.lua builds the real ones, spec/helpers/fakes.lua the
--- fakes). A command returns true (exit 0), an integer exit status, or raises a message for the user.
---
--- Steps an operator is likely to change are separate functions of this table (run_hooks, vm_config,
--- on_poststart_failure, ...). Commands call them through api.policy, so a policy that extends this one and
--- overrides a step changes every command that uses it.
local P = { name = "default" }

local HOOK_KINDS = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" }
local AGENT_TIMEOUT = 30 -- seconds for one agent call
local SHARE_MOUNT = "/run/kata-containers/shared" -- where the guest mounts the virtio-fs share

local function fail(msg) error({ msg = msg }, 0) end

--- `value, err` -> value, or raise "<what>: err".
local function must(what, v, err)
  if v == nil or v == false then fail(what and (what .. ": " .. tostring(err)) or tostring(err)) end
  return v
end

local function step(api, name) return (api.policy and api.policy[name]) or P[name] end

-- An undo list: what a command made, undone in reverse order when a later step fails.
local function undo_list(api)
  local steps = {}
  return {
    push = function(what, fn) steps[#steps + 1] = { what = what, fn = fn } end,
    run = function()
      for i = #steps, 1, -1 do
        local ok, err = pcall(steps[i].fn)
        if not ok then
          api.log.warn("rollback: %s failed, ignoring: %s", steps[i].what, type(err) == "table" and err.msg or tostring(err))
        end
      end
      steps = {}
    end,
  }
end

------------------------------------------------------------------------------------------------------------
-- State

--- The container's state record, or the runc error engines match on.
function P.load_state(ctx, api, id)
  must(nil, api.id.validate(id))
  local st, err, code = api.state.load(id)
  if not st then
    if code == "ENOENT" then fail("container does not exist") end
    fail(err)
  end
  return st
end

--- The status a stored container really has: its shim's liveness decides; a shim that is gone (or whose
--- pid now belongs to another process) means stopped.
function P.status(ctx, api, st)
  local status = st.status
  if status == "created" or status == "running" or status == "paused" then
    local rt = st.runtime or {}
    if not rt.shim_pid or not api.proc.alive(rt.shim_pid, rt.shim_start_time) then return "stopped" end
  end
  return status
end

--- The OCI state document (runtime-spec "State"), with runc's rootfs/created/owner extras.
function P.oci_state(ctx, api, st, status)
  status = status or P.status(ctx, api, st)
  local doc = {
    ociVersion = st.ociVersion,
    id = st.id,
    status = status,
    pid = (status == "stopped") and 0 or (st.pid or 0),
    bundle = st.bundle,
    rootfs = st.runtime and st.runtime.rootfs or nil,
    created = st.runtime and st.runtime.created or nil,
    owner = "",
  }
  if st.annotations and next(st.annotations) ~= nil then doc.annotations = st.annotations end
  return doc
end

function P.state(ctx, api)
  local st = P.load_state(ctx, api, ctx.args[1])
  api.out(api.json.encode(P.oci_state(ctx, api, st), true) .. "\n")
  return true
end

function P.list(ctx, api)
  local ids = must("list", api.state.list())
  local rows = {}
  for _, id in ipairs(ids) do
    local st = api.state.load(id)
    if st then rows[#rows + 1] = P.oci_state(ctx, api, st) end
  end
  if ctx.options.quiet then
    for _, r in ipairs(rows) do api.out(r.id .. "\n") end
  elseif ctx.options.format == "json" then
    api.out(api.json.encode(api.json.array(rows)) .. "\n")
  else
    local fmt = "%-12s %-10s %-10s %-40s %-30s %s\n"
    api.out(fmt:format("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"))
    for _, r in ipairs(rows) do
      api.out(fmt:format(r.id, tostring(r.pid), r.status, r.bundle or "", r.created or "", "root"))
    end
  end
  return true
end

------------------------------------------------------------------------------------------------------------
-- Steps an operator may override

--- Run the hooks of one kind. Returns true, or nil and "error running <kind> hook #<n>: ...".
--- Hooks run on the host, inside the sandbox's network namespace, with the bundle as working directory
--- (Kata runs them there too: the container's own namespaces are inside the VM).
function P.run_hooks(ctx, api, kind, hooks, state_doc, netns, bundle)
  if not hooks or #hooks == 0 then return true end
  api.log.info("running %d %s hook(s)", #hooks, kind)
  local ok, err = api.hook.run_all(hooks, { state = api.json.encode(state_doc), kind = kind, netns = netns, cwd = bundle })
  if not ok then return nil, err end
  return true
end

--- What a failing hook of each kind does: "fail" the command (and roll back) or "warn" and go on.
--- The runtime spec: prestart, createRuntime, createContainer, startContainer and poststart failures fail
--- the operation; poststop failures are logged and the rest still run.
P.hook_failure = {
  prestart = "fail", createRuntime = "fail", createContainer = "fail", startContainer = "fail",
  poststart = "fail", poststop = "warn",
}

--- The VM for a sandbox: the configured defaults, grown by the container's resource limits the way Kata
--- sizes its VMs (default memory plus the limit; default vCPUs plus quota/period).
function P.vm_config(ctx, api, config)
  local hv = api.config.hypervisor
  local mem, vcpus = hv.memory_mib, hv.vcpus
  local res = config.linux and config.linux.resources or {}
  if res.memory and type(res.memory.limit) == "number" and res.memory.limit > 0 then
    mem = mem + math.ceil(res.memory.limit / (1024 * 1024))
  end
  if res.cpu and type(res.cpu.quota) == "number" and res.cpu.quota > 0 and (res.cpu.period or 0) > 0 then
    vcpus = vcpus + math.ceil(res.cpu.quota / res.cpu.period)
  end
  return {
    qemu = hv.path, kernel = hv.kernel, initrd = hv.initrd, kernel_params = hv.kernel_params,
    virtiofsd = hv.virtiofsd, vcpus = math.min(vcpus, 64), memory_mib = math.min(mem, 65536),
    accel = hv.accel, tcg_cache_mib = hv.tcg_cache_mib, boot_timeout = hv.boot_timeout,
    debug = hv.debug or ctx.global.debug or false,
  }
end

--- The sandbox container's namespaces a pod container joins in the guest. CRI gives a pod container's uts
--- and ipc namespaces the sandbox's host path (/proc/<pid>/ns/...), meaningless in the guest, where the
--- sandbox container's namespaces are the pod's: joining them gives every container the pod's hostname
--- and shared IPC, as under runc. The pid namespace comes with a path too when the pod shares its
--- processes (shareProcessNamespace): the sandbox container's init is then pid 1 for all of them.
--- Returns the create_container "join" map (type -> container id) or nil.
function P.pod_namespaces(ctx, api, config, sid)
  local join
  for _, ns in ipairs(config.linux and config.linux.namespaces or {}) do
    if (ns.type == "uts" or ns.type == "ipc" or ns.type == "pid") and ns.path then
      join = join or {}
      join[ns.type] = sid
    end
  end
  return join
end

--- A poststart hook failed: the runtime spec (1.3) says start fails and the container is stopped.
function P.on_poststart_failure(ctx, api, st, sb, err)
  api.log.error("poststart hook failed, stopping the container: %s", err)
  sb:call("signal_process", { id = st.id, signal = 9, all = true }, AGENT_TIMEOUT)
  P.wait_exit(ctx, api, st, sb, 10)
  return nil, err
end

------------------------------------------------------------------------------------------------------------
-- Helpers

local function hook_state(api, st, status)
  local doc = { ociVersion = st.ociVersion, id = st.id, status = status, pid = st.pid or 0, bundle = st.bundle }
  if st.annotations and next(st.annotations) ~= nil then doc.annotations = st.annotations end
  return doc
end

--- Run hooks of `kind` from the state's snapshot, honouring hook_failure. Raises on a fatal failure.
local function hooks(ctx, api, st, kind, status)
  local list = st.runtime.hooks and st.runtime.hooks[kind]
  if not list or #list == 0 then return true end
  local ok, err = step(api, "run_hooks")(ctx, api, kind, list, hook_state(api, st, status), st.runtime.netns, st.bundle)
  if ok then return true end
  local rule = (api.policy and api.policy.hook_failure or P.hook_failure)[kind] or "fail"
  if rule == "warn" then
    api.log.warn("%s, ignoring", err)
    return true
  end
  return nil, err
end

--- Connect to the sandbox's supervisor, trying for up to 5 s while the supervisor runs (its socket may not
--- be there yet). Once the supervisor has exited -- a kill that stopped the VM, a crash -- its socket will
--- not come back, so that is reported at once: engines call delete right after such a kill.
local function connect(api, st)
  local rt = st.runtime
  local deadline = api.clock.monotonic() + 5
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

--- Wait until the container's init process has exited (or timeout seconds). Returns its status or nil.
function P.wait_exit(ctx, api, st, sb, timeout)
  local res = sb:call("sup.wait", { handle = st.runtime.handle }, timeout)
  return res and res.status or nil
end

local function all_states(api)
  local out = {}
  for _, id in ipairs(api.state.list() or {}) do
    local st = api.state.load(id)
    if st then out[#out + 1] = st end
  end
  return out
end

--- Host mounts of a container inside the share: its rootfs and bind-mount sources.
local function share_container(ctx, api, st, config, shared, undo)
  local id = st.id
  local base = shared .. "/" .. id
  must("create share directory", api.fs.mkdir_p(base .. "/rootfs", 493))
  undo.push("remove " .. base, function() api.fs.rmdir(base .. "/mounts"); api.fs.rmdir(base .. "/rootfs"); api.fs.rmdir(base) end)
  must("share rootfs", api.fs.bind(st.runtime.rootfs, base .. "/rootfs", { readonly = config.root.readonly == true }))
  local mounts = { base .. "/rootfs" }
  undo.push("unmount rootfs", function() api.fs.umount(base .. "/rootfs") end)

  -- bind mounts whose source is on the host are bound into the share and given to the guest relative to it
  local guest_mounts = {}
  for i, m in ipairs(config.mounts or {}) do
    local is_bind = m.type == "bind"
    for _, o in ipairs(m.options or {}) do if o == "bind" or o == "rbind" then is_bind = true end end
    local gm = {}
    for k, v in pairs(m) do gm[k] = v end
    if is_bind and type(m.source) == "string" and m.source:sub(1, 1) == "/" then
      local st_src = api.fs.stat(m.source)
      if not st_src then fail(("mounts[%d]: source '%s' does not exist"):format(i - 1, m.source)) end
      local target = ("%s/mounts/%d"):format(base, i - 1)
      must("create share directory", api.fs.mkdir_p(base .. "/mounts", 493))
      if st_src.type == "directory" then
        must("create mount point", api.fs.mkdir_p(target, 493))
        undo.push("remove " .. target, function() api.fs.rmdir(target) end)
      else
        must("create mount point", api.fs.atomic_write(target, "", 420))
        undo.push("remove " .. target, function() api.fs.unlink(target) end)
      end
      local ro = false
      for _, o in ipairs(m.options or {}) do if o == "ro" then ro = true end end
      must(("share mounts[%d] '%s'"):format(i - 1, m.source), api.fs.bind(m.source, target, { readonly = ro }))
      undo.push("unmount " .. target, function() api.fs.umount(target) end)
      mounts[#mounts + 1] = target
      gm.source = ("%s/mounts/%d"):format(id, i - 1)
      gm.type = "bind"
    end
    guest_mounts[#guest_mounts + 1] = gm
  end
  return mounts, guest_mounts
end

local function unshare_container(api, st)
  local rt = st.runtime
  for i = #(rt.mounts or {}), 1, -1 do
    local path = rt.mounts[i]
    api.fs.umount(path)
    local s = api.fs.stat(path)
    if s and s.type == "directory" then api.fs.rmdir(path) elseif s then api.fs.unlink(path) end
  end
  if rt.share then
    api.fs.rmdir(rt.share .. "/mounts")
    api.fs.rmdir(rt.share .. "/rootfs")
    api.fs.rmdir(rt.share)
  end
end

--- The network namespace of a new sandbox: the one the spec names (never the host's), else a new one
--- the runtime owns. Returns path, created.
local function sandbox_netns(ctx, api, config, sid, undo)
  for _, ns in ipairs(config.linux and config.linux.namespaces or {}) do
    if ns.type == "network" and ns.path then
      local is_host, err = api.netns.is_host(ns.path)
      if is_host == nil then fail(("network namespace '%s': %s"):format(ns.path, err)) end
      if is_host then fail(("network namespace '%s' is the host's: refusing to run a sandbox in it"):format(ns.path)) end
      return ns.path, false
    end
  end
  local ns = must("create network namespace", api.netns.create(api.paths.netns_dir, api.digest and api.digest(sid) or sid))
  local path = ns:path()
  ns:close()
  undo.push("delete network namespace " .. path, function()
    must("delete netns", api.netns.delete(path))
    api.netns.remove_dir(api.paths.netns_dir)
  end)
  return path, true
end

--- Tear a sandbox down: the VM (through its supervisor), the share, the namespace the runtime made.
local function destroy_sandbox(ctx, api, sst)
  local rt = sst.runtime
  local sb = connect(api, sst)
  if sb then
    local ok, err = sb:call("sup.shutdown", { timeout = 10 }, 30)
    if not ok then api.log.warn("sandbox shutdown: %s, ignoring", tostring(err)) end
    sb:close()
  end
  if rt.supervisor_pid and not api.proc.wait_gone(rt.supervisor_pid, rt.supervisor_start_time, 15) then
    api.log.warn("supervisor %d still running, killing it", rt.supervisor_pid)
    api.proc.kill(rt.supervisor_pid, 9)
    api.proc.wait_gone(rt.supervisor_pid, rt.supervisor_start_time, 5)
  end
  if rt.shared then api.fs.umount(rt.shared) end
  if rt.sandbox_dir then
    local ok, err = api.sandbox.remove_dir(rt.sandbox_dir)
    if not ok then api.log.warn("remove sandbox directory: %s, ignoring", err) end
  end
  if rt.netns_created and rt.netns then
    local ok, err = api.netns.delete(rt.netns)
    if not ok then api.log.warn("delete network namespace: %s, ignoring", err) end
    -- the namespace directory (a mount point) goes with its last namespace
    local _, _, code = api.netns.remove_dir(api.paths.netns_dir)
    if code and code ~= "ENOTEMPTY" and code ~= "ENOENT" then api.log.debug("remove namespace directory: %s", code) end
  end
end

local function write_pid_file(api, path, pid)
  if path then must("write pid file", api.fs.atomic_write(path, tostring(pid), 420)) end
end

------------------------------------------------------------------------------------------------------------
-- create

function P.create(ctx, api)
  local id = ctx.args[1]
  must(nil, api.id.validate(id))
  local bundle = must("bundle", api.fs.realpath(ctx.options.bundle or "."))
  local config = must(nil, api.oci.load(bundle .. "/config.json"))
  if not config.process then fail("config.json: process: is required") end
  if not config.root then fail("config.json: root: is required") end
  local ctype, sid = api.oci.container_type(config.annotations)
  if not ctype then fail(sid) end
  if ctype == "sandbox" then sid = id end
  api.log.field("sandbox", sid)

  local lock = must("lock", api.lock(sid))
  if api.state.load(id) then
    lock:release()
    fail("container with given ID already exists")
  end

  local rootfs = config.root.path
  if rootfs:sub(1, 1) ~= "/" then rootfs = bundle .. "/" .. rootfs end
  rootfs = api.fs.realpath(rootfs)
  if not rootfs then
    lock:release(ctype == "sandbox")
    fail(("rootfs '%s' does not exist"):format(config.root.path))
  end

  local st = {
    ociVersion = config.ociVersion, id = id, status = "creating", pid = 0, bundle = bundle,
    annotations = config.annotations,
    runtime = {
      type = ctype, sandbox_id = sid, policy = ctx.policy or P.name, created = api.now(), rootfs = rootfs,
      terminal = config.process.terminal == true,
      process = config.process, -- exec's defaults (env, cwd, user)
      -- the hooks as they were at create time: editing config.json later has no effect
      hooks = config.hooks or {},
    },
  }
  local undo = undo_list(api)
  local ok, err = pcall(function()
    must("save state", api.state.save(id, st))
    undo.push("remove state", function() api.state.remove(id) end)

    local rt = st.runtime
    if ctype == "sandbox" then
      rt.sandbox_dir = api.paths.sandbox(sid)
      rt.shared = rt.sandbox_dir .. "/shared"
      must("create sandbox directory", api.fs.mkdir_p(rt.shared, 448))
      undo.push("remove sandbox directory", function() must("remove sandbox directory", api.sandbox.remove_dir(rt.sandbox_dir)) end)
      rt.netns, rt.netns_created = sandbox_netns(ctx, api, config, sid, undo)
    else
      local sst = api.state.load(sid)
      if not sst or sst.runtime.type ~= "sandbox" then fail(("sandbox '%s' does not exist"):format(sid)) end
      if P.status(ctx, api, sst) == "stopped" then fail(("sandbox '%s' is not running"):format(sid)) end
      -- what tearing the sandbox down needs, in case this container outlives the sandbox's own record
      for _, k in ipairs({ "sandbox_dir", "shared", "netns", "netns_created", "socket", "supervisor_pid",
        "supervisor_start_time", "accel" }) do
        rt[k] = sst.runtime[k]
      end
    end

    if ctype == "sandbox" then
      local vm = step(api, "vm_config")(ctx, api, config)
      vm.id, vm.dir, vm.share_dir, vm.netns = sid, rt.sandbox_dir, rt.shared, rt.netns
      api.log.info("launching sandbox VM (%d vCPU, %d MiB)", vm.vcpus, vm.memory_mib)
      local info = must("launch sandbox", api.sandbox.launch(vm))
      rt.socket, rt.supervisor_pid = info.socket, info.pid
      rt.supervisor_start_time = api.proc.start_time(info.pid)
      rt.accel, rt.boot_ms = info.accel, info.boot_ms
      undo.push("shut the sandbox down", function() destroy_sandbox(ctx, api, { runtime = {
        socket = rt.socket, supervisor_pid = rt.supervisor_pid, supervisor_start_time = rt.supervisor_start_time } })
      end)
      must("save state", api.state.save(id, st))
    end

    -- the supervisor made the share a shared mount point: binds made under it now reach virtiofsd
    rt.share = rt.shared .. "/" .. id
    local guest_mounts
    rt.mounts, guest_mounts = share_container(ctx, api, st, config, rt.shared, undo)
    must("save state", api.state.save(id, st))

    local sb = must("connect to sandbox", connect(api, st))
    local spec = {}
    for k, v in pairs(config) do spec[k] = v end
    spec.mounts = api.json.array(guest_mounts)
    spec.hooks = nil
    local params = { id = id, rootfs = id .. "/rootfs", spec = spec }
    if ctype == "container" then params.join = step(api, "pod_namespaces")(ctx, api, config, sid) end
    local res = must("create container", sb:call("create_container", params, AGENT_TIMEOUT))
    undo.push("remove container in the guest", function() sb:call("remove_container", { id = id }, AGENT_TIMEOUT) end)
    rt.handle, rt.guest_pid = res.handle, res.pid

    local shim_pid = must("start shim", api.shim.spawn({
      socket = rt.socket, container = id, handle = res.handle, console_socket = ctx.options.console_socket,
      terminal = rt.terminal and not ctx.options.console_socket, log = ctx.global.log,
      log_format = ctx.global.log_format, debug = ctx.global.debug,
    }))
    rt.shim_pid, rt.shim_start_time = shim_pid, api.proc.start_time(shim_pid)
    undo.push("stop shim", function() api.proc.kill(shim_pid, 9) end)
    st.pid = shim_pid
    must("save state", api.state.save(id, st))

    -- the runtime spec's create-time hooks, in order, with the state as it is now
    for _, kind in ipairs({ "prestart", "createRuntime", "createContainer" }) do
      must(nil, hooks(ctx, api, st, kind, "creating"))
    end

    st.status = "created"
    must("save state", api.state.save(id, st))
    write_pid_file(api, ctx.options.pid_file, shim_pid)
    sb:close()
  end)
  if not ok then
    undo.run()
    lock:release(ctype == "sandbox") -- a sandbox that never came to be takes its lock file along
    fail(type(err) == "table" and err.msg or tostring(err))
  end
  lock:release()
  api.log.info("created container (shim pid %d)", st.pid)
  return true
end

------------------------------------------------------------------------------------------------------------
-- start

function P.start(ctx, api)
  local st = P.load_state(ctx, api, ctx.args[1])
  api.log.field("sandbox", st.runtime.sandbox_id)
  local lock = must("lock", api.lock(st.runtime.sandbox_id))
  local ok, err = pcall(function()
    st = P.load_state(ctx, api, st.id)
    local status = P.status(ctx, api, st)
    if status == "stopped" then fail("cannot start a container that has stopped") end
    if status ~= "created" then fail(("cannot start an already %s container"):format(status)) end

    must(nil, hooks(ctx, api, st, "startContainer", "created"))
    local sb = must("connect to sandbox", connect(api, st))
    must("start container", sb:call("start_container", { id = st.id }, AGENT_TIMEOUT))
    st.status = "running"
    must("save state", api.state.save(st.id, st))

    local hok, herr = hooks(ctx, api, st, "poststart", "running")
    if not hok then
      local _, perr = step(api, "on_poststart_failure")(ctx, api, st, sb, herr)
      if perr then
        st.status = "stopped"
        api.state.save(st.id, st)
        fail(perr)
      end
    end
    sb:close()
  end)
  lock:release()
  if not ok then fail(type(err) == "table" and err.msg or tostring(err)) end
  return true
end

------------------------------------------------------------------------------------------------------------
-- kill

function P.kill(ctx, api)
  local st = P.load_state(ctx, api, ctx.args[1])
  api.log.field("sandbox", st.runtime.sandbox_id)
  local signo, serr = api.signal.parse(ctx.args[2] or "TERM")
  if not signo then fail(serr) end
  local status = P.status(ctx, api, st)
  if status == "stopped" then
    if ctx.options.all then return true end -- --all tolerates a stopped container
    fail("container not running")
  end
  local sb = must("connect to sandbox", connect(api, st))
  must("signal container", sb:call("signal_process", { id = st.id, signal = signo, all = ctx.options.all == true }, AGENT_TIMEOUT))
  api.log.info("sent signal %d", signo)

  -- Kata tears the sandbox down when its sandbox container is killed or terminated (its cli/kill.go calls
  -- StopSandbox): we do that once the process has really exited (a TERM it ignores leaves everything
  -- running) and its shim has reported it. Containers still running in the pod go with the VM: the
  -- agent's destroy_sandbox kills them first, so their shims report 137. (Kubelet stops them before the
  -- sandbox anyway; their exits may just not have arrived yet.)
  if st.runtime.type == "sandbox" and (signo == 9 or signo == 15) then
    local code = P.wait_exit(ctx, api, st, sb, signo == 9 and 10 or 2)
    if code then
      api.proc.wait_gone(st.runtime.shim_pid, st.runtime.shim_start_time, 5)
      api.log.info("sandbox container exited with %d: stopping the sandbox VM", code)
      sb:call("sup.shutdown", { timeout = 10 }, 30)
    end
  end
  sb:close()
  return true
end

------------------------------------------------------------------------------------------------------------
-- delete

function P.delete(ctx, api)
  local id = ctx.args[1]
  local ok_id, id_err = api.id.validate(id)
  if not ok_id then fail(id_err) end
  local st, _, code = api.state.load(id)
  if not st then
    if code == "ENOENT" and ctx.options.force then return true end
    fail("container does not exist")
  end
  local rt = st.runtime
  api.log.field("sandbox", rt.sandbox_id)
  local lock = must("lock", api.lock(rt.sandbox_id))
  local destroyed = false
  local ok, err = pcall(function()
    local status = P.status(ctx, api, st)
    if (status == "running" or status == "paused") and not ctx.options.force then
      fail(("cannot delete container %s that is not stopped: %s"):format(id, status))
    end
    local sb = rt.socket and connect(api, st) or nil
    if status ~= "stopped" and sb then
      if status == "paused" then sb:call("resume_container", { id = id }, AGENT_TIMEOUT) end
      sb:call("signal_process", { id = id, signal = 9, all = true }, AGENT_TIMEOUT)
      P.wait_exit(ctx, api, st, sb, 10)
    end
    if rt.shim_pid and not api.proc.wait_gone(rt.shim_pid, rt.shim_start_time, 5) then
      api.proc.kill(rt.shim_pid, 9)
      api.proc.wait_gone(rt.shim_pid, rt.shim_start_time, 5)
    end
    if sb then
      local rok, rerr = sb:call("remove_container", { id = id }, AGENT_TIMEOUT)
      if not rok then api.log.warn("remove container in the guest: %s, ignoring", tostring(rerr)) end
      sb:close()
    end
    unshare_container(api, st)

    -- the VM goes with the last container of its sandbox
    local remaining = 0
    for _, o in ipairs(all_states(api)) do
      if o.id ~= id and o.runtime and o.runtime.sandbox_id == rt.sandbox_id then remaining = remaining + 1 end
    end
    if remaining == 0 then
      local sst = rt.type == "sandbox" and st or api.state.load(rt.sandbox_id) or st
      destroy_sandbox(ctx, api, sst)
      destroyed = true
    end
    must("remove state", api.state.remove(id))
  end)
  lock:release(ok and destroyed)
  if not ok then fail(type(err) == "table" and err.msg or tostring(err)) end
  -- poststop hooks: after the container is gone; failures are warnings and the rest still run
  local list = rt.hooks and rt.hooks.poststop or {}
  for i, h in ipairs(list) do
    local hok, herr = step(api, "run_hooks")(ctx, api, "poststop", { h }, hook_state(api, st, "stopped"), nil, st.bundle)
    if not hok then api.log.warn("poststop hook #%d: %s, ignoring", i - 1, tostring(herr)) end
  end
  return true
end

------------------------------------------------------------------------------------------------------------
-- exec, ps, pause, resume, events, run

local function parse_user(s)
  local uid, gid = s:match("^(%d+):(%d+)$")
  if not uid then uid = s:match("^(%d+)$") end
  if not uid then fail(("exec: --user '%s': want uid[:gid]"):format(s)) end
  return { uid = tonumber(uid), gid = tonumber(gid or 0) }
end

local function exec_process(ctx, api, st)
  local o = ctx.options
  if o.process then
    local text = must("exec: --process", api.read_file(o.process))
    local p, perr = api.json.decode(text)
    if not p then fail(("%s: %s"):format(o.process, perr)) end
    must(nil, api.oci.validate_process(p, o.process:match("[^/]+$")))
    return p
  end
  if #ctx.args < 2 then fail("exec: no command given (use --process or add it after the id)") end
  local config = st.runtime.process or {}
  local env = {}
  for _, e in ipairs(config.env or { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }) do env[#env + 1] = e end
  for _, e in ipairs(o.env or {}) do env[#env + 1] = e end
  local args = {}
  for i = 2, #ctx.args do args[#args + 1] = ctx.args[i] end
  local p = { args = args, env = env, cwd = o.cwd or config.cwd or "/", terminal = o.tty == true,
    user = o.user and parse_user(o.user) or config.user or { uid = 0, gid = 0 } }
  if o.additional_gids then
    p.user.additionalGids = {}
    for _, g in ipairs(o.additional_gids) do p.user.additionalGids[#p.user.additionalGids + 1] = math.tointeger(tonumber(g)) end
  end
  return p
end

function P.exec(ctx, api)
  local st = P.load_state(ctx, api, ctx.args[1])
  api.log.field("sandbox", st.runtime.sandbox_id)
  local status = P.status(ctx, api, st)
  if status ~= "running" then fail(("cannot exec in a %s container"):format(status)) end
  local process = exec_process(ctx, api, st)
  local exec_id = ("exec-%d-%d"):format(api.proc.getpid(), math.floor(api.clock.monotonic() * 1000) % 1000000)
  local sb = must("connect to sandbox", connect(api, st))
  local res = must("exec", sb:call("exec_process", { id = st.id, exec_id = exec_id, process = process }, AGENT_TIMEOUT))
  local shim = {
    socket = st.runtime.socket, container = st.id, exec_id = exec_id, handle = res.handle,
    console_socket = ctx.options.console_socket, terminal = process.terminal == true and not ctx.options.console_socket,
    log = ctx.global.log, log_format = ctx.global.log_format, debug = ctx.global.debug,
  }
  if ctx.options.detach then
    local pid = must("start shim", api.shim.spawn(shim))
    must("start process", sb:call("start_process", { handle = res.handle }, AGENT_TIMEOUT))
    write_pid_file(api, ctx.options.pid_file, pid)
    sb:close()
    return true
  end
  -- foreground: start it, then become the shim (our stdio, signals and exit status are the process's);
  -- the supervisor keeps what it prints until the shim attaches
  must("start process", sb:call("start_process", { handle = res.handle }, AGENT_TIMEOUT))
  sb:close()
  write_pid_file(api, ctx.options.pid_file, api.proc.getpid())
  must("exec shim", api.shim.exec(shim))
  return 255
end

function P.ps(ctx, api)
  local st = P.load_state(ctx, api, ctx.args[1])
  if P.status(ctx, api, st) == "stopped" then fail("container not running") end
  local sb = must("connect to sandbox", connect(api, st))
  local res = must("list processes", sb:call("list_processes", { id = st.id }, AGENT_TIMEOUT))
  sb:close()
  if ctx.options.format == "json" then
    api.out(api.json.encode(api.json.array(res.pids or {})) .. "\n")
  else
    api.out("PID\n")
    for _, pid in ipairs(res.pids or {}) do api.out(tostring(pid) .. "\n") end
  end
  return true
end

local function set_paused(ctx, api, want)
  local st = P.load_state(ctx, api, ctx.args[1])
  local lock = must("lock", api.lock(st.runtime.sandbox_id))
  local ok, err = pcall(function()
    local status = P.status(ctx, api, st)
    if want and status ~= "running" then fail(("container not running: %s"):format(status)) end
    if not want and status ~= "paused" then fail(("container not paused: %s"):format(status)) end
    local sb = must("connect to sandbox", connect(api, st))
    must(want and "pause" or "resume", sb:call(want and "pause_container" or "resume_container", { id = st.id }, AGENT_TIMEOUT))
    sb:close()
    st.status = want and "paused" or "running"
    must("save state", api.state.save(st.id, st))
  end)
  lock:release()
  if not ok then fail(type(err) == "table" and err.msg or tostring(err)) end
  return true
end

function P.pause(ctx, api) return set_paused(ctx, api, true) end
function P.resume(ctx, api) return set_paused(ctx, api, false) end

--- One runc-style stats event from the guest's cgroup figures.
local function stats_event(api, st, s)
  return {
    type = "stats", id = st.id,
    data = {
      cpu = { usage = { total = (s.cpu and s.cpu.usage_usec or 0) * 1000, user = (s.cpu and s.cpu.user_usec or 0) * 1000,
        kernel = (s.cpu and s.cpu.system_usec or 0) * 1000 } },
      memory = { usage = { usage = s.memory and s.memory.usage or 0, limit = s.memory and s.memory.limit or 0 } },
      pids = { current = s.pids and s.pids.current or 0 },
    },
  }
end

function P.events(ctx, api)
  local st = P.load_state(ctx, api, ctx.args[1])
  local interval = tonumber((ctx.options.interval or "5s"):match("^(%d+%.?%d*)s?$"))
  if not interval or interval <= 0 then fail(("events: invalid --interval '%s'"):format(tostring(ctx.options.interval))) end
  repeat
    if P.status(ctx, api, st) == "stopped" then
      if ctx.options.stats then fail("container not running") end
      return true
    end
    local sb = must("connect to sandbox", connect(api, st))
    local s = must("stats", sb:call("stats_container", { id = st.id }, AGENT_TIMEOUT))
    sb:close()
    api.out(api.json.encode(stats_event(api, st, s)) .. "\n")
    if ctx.options.stats then return true end
    api.clock.sleep(interval)
  until false
end

--- run: create, start, and unless --detach wait for the container and delete it (unless --keep).
function P.run(ctx, api)
  local p = api.policy or P
  must(nil, (p.create or P.create)(ctx, api))
  local ok, err = pcall(p.start or P.start, ctx, api)
  if not ok then
    pcall(p.delete or P.delete, { command = "delete", global = ctx.global, options = { force = true }, args = { ctx.args[1] } }, api)
    fail(type(err) == "table" and err.msg or tostring(err))
  end
  if ctx.options.detach then return true end
  local st = P.load_state(ctx, api, ctx.args[1])
  local code = api.proc.wait(st.runtime.shim_pid)
  if not ctx.options.keep then
    local dok, derr = pcall(p.delete or P.delete, { command = "delete", global = ctx.global, options = { force = true }, args = { ctx.args[1] } }, api)
    if not dok then api.log.warn("delete after run: %s", type(derr) == "table" and derr.msg or tostring(derr)) end
  end
  return code or 255
end

return P
