--- The default lifecycle policy: Kata Containers 1.x's cli/ behaviour on the OCI runtime spec lifecycle.
--- Ordering and decisions only; how each step is done is the mechanism's (api.container, api.pod, ...). A
--- failed command is rolled back by the runtime. Every step is called through api.policy, so overriding one
--- changes every command that uses it (docs/policy-guide.md).
local P = { name = "default" }

local function fail(msg) error({ msg = msg }, 0) end

--- `value, err` -> value, or raise "<what>: err".
local function must(what, v, err)
  if v == nil or v == false then fail(what and (what .. ": " .. tostring(err)) or tostring(err)) end
  return v
end

--- Run the hooks of `kind` (run_hooks is called for every kind, with or without hooks) and apply the
--- hook_failure rule: returns true, or nil and the error when the failure is fatal.
local function hooks(ctx, api, st, kind, status)
  local ok, err = api.policy.run_hooks(ctx, api, kind, api.hooks.list(st, kind), api.hooks.state(st, status),
    st.runtime.netns, st.bundle)
  if ok then return true end
  local rule = api.policy.hook_failure
  if type(rule) == "function" then rule = rule(ctx, api, kind, err) else rule = (rule or {})[kind] end
  if rule == "warn" then
    api.log.warn("%s, ignoring", err)
    return true
  end
  return nil, err
end

--- Mirror the sandbox's new interfaces into the guest as the network step decides (phase "boot": into
--- vm before the launch; "create", "start": hot-plugged into the running VM through sb).
local function network(ctx, api, st, phase, vm, sb)
  local offered = api.network.offered(st)
  if not offered or (#offered == 0 and phase ~= "boot") then return end
  local d, err = api.policy.network(ctx, api, phase, offered)
  if not d then fail("network: " .. tostring(err)) end
  api.network.apply(st, phase, d, offered, vm, sb)
end

-- Steps ------------------------------------------------------------------------------------------------------

--- Refuse a configuration before anything is made: raise, or return nil, err.
function P.validate(ctx, api, config)
  if not config.process then fail("config.json: process: is required") end
  if not config.root then fail("config.json: root: is required") end
  return api.policy.check_labels(ctx, api, config)
end
--- AppArmor and SELinux labels: the guest enforces neither, so a spec that sets one is refused, unless its
--- field is in ignored_labels (`{ apparmorProfile = true }`): then it is logged as ignored.
P.ignored_labels = {}
function P.check_labels(ctx, api, config) return api.container.check_labels(config, api.policy.ignored_labels) end
--- The status a stored container really has: its shim's liveness decides.
function P.status(ctx, api, st) return api.container.status(st) end
--- The VM for a sandbox: the configured one, grown by the container's resource limits as Kata sizes it.
function P.vm_config(ctx, api, config) return api.pod.sized_vm(api.pod.vm_defaults(ctx), config) end
--- What the supervisor does once the agent answers, and the shutdown grace periods (data).
function P.boot_plan(ctx, api, st, config) return api.pod.standard_plan(st.runtime.sandbox_id) end
--- Launch the sandbox VM: the supervisor's info, or nil, err (then on_launch_failure decides).
function P.launch(ctx, api, st, vm, plan) return api.pod.launch(st, vm, plan) end
--- A launch failed (nothing of it is left): info to go on (a retry), or nil, err to fail create.
function P.on_launch_failure(ctx, api, st, vm, plan, err) return nil, err end
--- Put the container's rootfs and bind mounts where the guest sees them; returns the guest's mounts.
function P.share(ctx, api, st, config) return api.share.container(st, config) end
--- The sandbox container's namespaces a pod container joins in the guest ("join" map, or nil).
function P.pod_namespaces(ctx, api, config, sid) return api.pod.join_namespaces(config, sid) end
--- Which of the sandbox's new interfaces reach the guest, and how (phase "boot", "create" or "start").
function P.network(ctx, api, phase, interfaces)
  return { model = "tcfilter", interfaces = interfaces, hotplug_ports = 2 }
end
--- Run the hooks of one kind (the list may be empty): true, or nil and "error running ...".
function P.run_hooks(ctx, api, kind, list, state_doc, netns, bundle)
  return api.hooks.run(kind, list, state_doc, netns, bundle)
end
--- What a failing hook of each kind does: "fail" the command (and roll back) or "warn" and go on. The
--- runtime spec: every kind but poststop fails the operation.
P.hook_failure = {
  prestart = "fail", createRuntime = "fail", createContainer = "fail", startContainer = "fail",
  poststart = "fail", poststop = "warn",
}
--- A poststart hook failed: the runtime spec (1.3) says start fails and the container is stopped. Return
--- true to keep it running, or nil, err to fail start.
function P.on_poststart_failure(ctx, api, st, sb, err)
  api.log.error("poststart hook failed, stopping the container: %s", err)
  api.agent.signal(sb, st.id, 9, true)
  api.policy.wait_exit(ctx, api, st, sb, 10)
  return nil, err
end
--- Wait until the container's init process has exited (or timeout seconds): its status, or nil.
function P.wait_exit(ctx, api, st, sb, timeout) return api.agent.wait(sb, st, timeout) end
--- Tear a sandbox down (its last container is gone, or it is being deleted).
function P.teardown(ctx, api, sst) return api.pod.teardown(sst) end

-- Commands ---------------------------------------------------------------------------------------------------

function P.create(ctx, api)
  local id = ctx.args[1]
  api.container.check_id(id)
  local bundle, config = api.container.read_bundle(ctx)
  local valid, verr = api.policy.validate(ctx, api, config)
  if valid == false or verr ~= nil then fail(tostring(verr or "refused by the policy")) end
  local ctype, sid = api.container.check_new(id, config, bundle) -- what the guest cannot honour fails before a VM boots
  local lock = api.container.lock(sid)
  local st = api.container.new(ctx, id, bundle, config, ctype, sid)
  api.container.record(st)
  if ctype == "sandbox" then
    api.pod.prepare(st, config)
    local vm = api.policy.vm_config(ctx, api, config)
    network(ctx, api, st, "boot", vm)
    local plan = api.policy.boot_plan(ctx, api, st, config)
    local info, err = api.policy.launch(ctx, api, st, vm, plan)
    if not info then info, err = api.policy.on_launch_failure(ctx, api, st, vm, plan, err) end
    must("launch sandbox", info, err)
  else
    local sst = api.container.find(sid)
    if not sst or sst.runtime.type ~= "sandbox" then fail(("sandbox '%s' does not exist"):format(sid)) end
    if api.policy.status(ctx, api, sst) == "stopped" then fail(("sandbox '%s' is not running"):format(sid)) end
    api.pod.join(st, sst)
  end
  local guest_mounts = api.policy.share(ctx, api, st, config)
  local sb = must("connect to sandbox", api.pod.connect(st))
  if ctype == "sandbox" then api.network.configure(st, sb) end -- the NICs it booted with
  local join = ctype == "container" and api.policy.pod_namespaces(ctx, api, config, sid) or nil
  must("create container", api.agent.create_container(sb, st, config, guest_mounts, join))
  api.container.spawn_shim(ctx, st)
  for _, kind in ipairs({ "prestart", "createRuntime", "createContainer" }) do
    must(nil, hooks(ctx, api, st, kind, "creating"))
  end
  network(ctx, api, st, "create", nil, sb) -- interfaces those hooks added (a CNI ADD run from one)
  api.container.created(ctx, st)
  sb:close()
  lock:release()
  return true
end

--- start (Kata's cli/start.go): look up, start the container, poststart hooks in the sandbox's netns, the
--- failure rule.
function P.start(ctx, api)
  local st, lock = api.container.load_locked(ctx.args[1])
  local status = api.policy.status(ctx, api, st)
  if status == "stopped" then fail("cannot start a container that has stopped") end
  if status ~= "created" then fail(("cannot start an already %s container"):format(status)) end
  must(nil, hooks(ctx, api, st, "startContainer", "created"))
  -- A kill just before this command may still be ending the container after the status above: its process
  -- has exited (the agent's ESRCH), its sandbox is stopping (ESHUTDOWN) or gone (connect's ESRCH). The
  -- order is kill, then start.
  local function stopped_meanwhile(code)
    if code == "ESRCH" or code == "ESHUTDOWN" then fail("cannot start a container that has stopped") end
  end
  local sb, cerr, ccode = api.pod.connect(st)
  if not sb then stopped_meanwhile(ccode) end
  must("connect to sandbox", sb, cerr)
  network(ctx, api, st, "start", nil, sb)
  local started, serr, scode = api.agent.start_container(sb, st.id)
  if not started then stopped_meanwhile(scode) end
  must("start container", started, serr)
  api.container.started(st, sb) -- a process whose record cannot say it runs is stopped again
  local ok, err = hooks(ctx, api, st, "poststart", "running")
  if not ok then
    local _, perr = api.policy.on_poststart_failure(ctx, api, st, sb, err)
    if perr then api.container.set_status(st, "stopped"); fail(perr) end
  end
  sb:close()
  lock:release()
  return true
end

function P.state(ctx, api)
  local st = api.container.load(ctx.args[1])
  api.out(api.json.encode(api.container.oci_state(st, api.policy.status(ctx, api, st)), true) .. "\n")
  return true
end

function P.list(ctx, api)
  local rows = {}
  for _, st in ipairs(api.container.all()) do rows[#rows + 1] = api.container.oci_state(st, api.policy.status(ctx, api, st)) end
  api.container.print_list(ctx, rows)
  return true
end

function P.kill(ctx, api)
  local st, lock = api.container.load_locked(ctx.args[1])
  local signo = must(nil, api.signal.parse(ctx.args[2] or "TERM"))
  if api.policy.status(ctx, api, st) == "stopped" then
    if ctx.options.all then lock:release(); return true end -- --all tolerates a stopped container
    fail("container not running")
  end
  if signo == 0 then lock:release(); return true end -- signal 0 asks only whether it runs (its shim lives), as runc
  local sb = must("connect to sandbox", api.pod.connect(st))
  must("signal container", api.agent.signal(sb, st.id, signo, ctx.options.all))
  api.log.info("sent signal %d", signo)
  -- Kata stops the sandbox when its sandbox container is killed (cli/kill.go calls StopSandbox): the
  -- supervisor does once the process has exited, without kill waiting for it (runc's kill does not wait
  -- either). Containers still running in the pod go with the VM (their shims report 137).
  if st.runtime.type == "sandbox" and (signo == 9 or signo == 15) then
    local ok, err = api.pod.stop_after_exit(sb, st)
    if not ok then api.log.warn("stop the sandbox VM after its container: %s, ignoring", tostring(err)) end
  end
  sb:close()
  lock:release()
  return true
end

function P.delete(ctx, api)
  local st, lock = api.container.load_for_delete(ctx.args[1], ctx.options.force)
  if not st then return true end -- nothing (left) to delete under --force
  -- the status decides what a plain delete refuses and what is left to stop in the guest: a forced delete
  -- of a pod's last container hands all of it to the teardown, without asking the guest first
  local status
  if not ctx.options.force then
    status = api.policy.status(ctx, api, st)
    if status == "running" or status == "paused" then
      fail(("cannot delete container %s that is not stopped: %s"):format(st.id, status))
    end
  end
  local sandbox = api.container.last_of_pod(st) -- the VM goes with the pod's last container
  if sandbox == st and api.pod.teardown_later(st) then
    -- what still runs, the container's parts and the VM go in a process of its own once this command has
    -- released the lock: `kata-runtime teardown`, with this policy's status and teardown steps
    api.container.remove(st)
    lock:release(true)
  else
    -- what still runs is killed; the guest's and the share's parts go
    api.container.destroy(st, status or api.policy.status(ctx, api, st), ctx.options.force)
    if sandbox then api.policy.teardown(ctx, api, sandbox) end
    api.container.remove(st)
    lock:release(sandbox ~= nil)
  end
  -- poststop hooks, each on its own: a failure is a warning and the rest still run
  local list = api.hooks.list(st, "poststop")
  for i = 1, math.max(#list, 1) do
    local ok, err = api.policy.run_hooks(ctx, api, "poststop", { list[i] }, api.hooks.state(st, "stopped"), nil, st.bundle)
    if not ok then api.log.warn("poststop hook #%d: %s, ignoring", i - 1, tostring(err)) end
  end
  return true
end

function P.exec(ctx, api)
  local st = api.container.load(ctx.args[1])
  local status = api.policy.status(ctx, api, st)
  if status ~= "running" then fail(("cannot exec in a %s container"):format(status)) end
  local process = api.container.exec_process(ctx, st)
  local sb = must("connect to sandbox", api.pod.connect(st))
  local exec = api.container.exec(ctx, st, sb, process) -- its shim, unless it runs in the foreground
  sb:close()
  if ctx.options.detach then return true end
  api.container.become_shim(ctx, st, exec) -- foreground: this process becomes its shim
  return 255
end

function P.ps(ctx, api)
  local st = api.container.load(ctx.args[1])
  if api.policy.status(ctx, api, st) == "stopped" then fail("container not running") end
  local sb = must("connect to sandbox", api.pod.connect(st))
  local pids = must("list processes", api.agent.list_processes(sb, st.id))
  sb:close()
  api.container.print_pids(ctx, pids)
  return true
end

local function set_paused(ctx, api, want)
  local st, lock = api.container.load_locked(ctx.args[1])
  local status = api.policy.status(ctx, api, st)
  if status ~= (want and "running" or "paused") then fail(("container not %s: %s"):format(want and "running" or "paused", status)) end
  local sb = must("connect to sandbox", api.pod.connect(st))
  must(want and "pause" or "resume", (want and api.agent.pause or api.agent.resume)(sb, st.id))
  sb:close()
  api.container.set_status(st, want and "paused" or "running")
  lock:release()
  return true
end

function P.pause(ctx, api) return set_paused(ctx, api, true) end
function P.resume(ctx, api) return set_paused(ctx, api, false) end

--- events: the container's stats every --interval until it stops, or once with --stats.
function P.events(ctx, api)
  local st = api.container.load(ctx.args[1])
  local interval = api.container.events_interval(ctx)
  repeat
    if api.policy.status(ctx, api, st) == "stopped" then
      if ctx.options.stats then fail("container not running") end
      return true
    end
    local sb = must("connect to sandbox", api.pod.connect(st))
    api.container.print_stats(st, must("stats", api.agent.stats(sb, st.id)))
    sb:close()
    if ctx.options.stats then return true end
    api.clock.sleep(interval)
  until false
end

--- update: a running container's limits, from `-r FILE` or runc's flags (api.container.update_resources).
function P.update(ctx, api)
  local st = api.container.load(ctx.args[1])
  if api.policy.status(ctx, api, st) == "stopped" then fail("container not running") end
  local res = api.container.update_resources(ctx)
  local sb = must("connect to sandbox", api.pod.connect(st))
  local ok, err = api.agent.update(sb, st.id, res)
  sb:close()
  if not ok then fail("update: " .. tostring(err)) end
  return true
end

--- run: create, start, and unless --detach wait for the container and delete it (unless --keep).
function P.run(ctx, api)
  local p = api.policy
  local function delete() return pcall(p.delete, { command = "delete", global = ctx.global, options = { force = true }, args = { ctx.args[1] } }, api) end
  must(nil, p.create(ctx, api))
  local ok, err = pcall(p.start, ctx, api)
  if not ok then
    delete()
    fail(type(err) == "table" and err.msg or tostring(err))
  end
  if ctx.options.detach then return true end
  local code = api.container.wait_exit(api.container.load(ctx.args[1]))
  if not ctx.options.keep then
    local dok, derr = delete()
    if not dok then api.log.warn("delete after run: %s", type(derr) == "table" and derr.msg or tostring(derr)) end
  end
  return code or 255
end

return P
