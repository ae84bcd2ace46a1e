--- Mechanism: what commands other than `state` do with a container, the rest of `api.container`
--- (kata.container binds it on first use): create's checks and the bundle, the shim that stands for the
--- container's process, exec, delete, `update`'s resources, `events`' interval and the runc-compatible
--- output of `list`, `ps` and `events`.
local runner = require("kata.runner")

local M = {}

local fail = runner.fail
local must = runner.must

local function parse_user(s)
  local uid, gid = s:match("^(%d+):(%d+)$")
  if not uid then uid = s:match("^(%d+)$") end
  if not uid then fail(("exec: --user '%s': want uid[:gid]"):format(s)) end
  return { uid = tonumber(uid), gid = tonumber(gid or 0) }
end

--- runc's size strings: "512m", "1g", "1024", "-1"; k, m, g, t in powers of 1024, a "b" after them allowed.
local function bytes(s, flag)
  local n, unit = tostring(s):lower():match("^(%-?%d+)([kmgt]?)b?$")
  if not n then fail(("update: --%s: invalid size '%s'"):format(flag, tostring(s))) end
  return math.tointeger(tonumber(n) * ({ [""] = 1, k = 1 << 10, m = 1 << 20, g = 1 << 30, t = 1 << 40 })[unit])
end

local function integer(s, flag)
  local n = math.tointeger(tonumber(s))
  if not n then fail(("update: --%s: not an integer: '%s'"):format(flag, tostring(s))) end
  return n
end

--- The linux.resources object `update`'s flags stand for (runc's update flags).
local function flag_resources(o)
  local res, mem, cpu = {}, {}, {}
  if o.memory then mem.limit = bytes(o.memory, "memory") end
  if o.memory_reservation then mem.reservation = bytes(o.memory_reservation, "memory-reservation") end
  if o.memory_swap then mem.swap = bytes(o.memory_swap, "memory-swap") end
  if o.kernel_memory then mem.kernel = bytes(o.kernel_memory, "kernel-memory") end
  if o.kernel_memory_tcp then mem.kernelTCP = bytes(o.kernel_memory_tcp, "kernel-memory-tcp") end
  local shares = o.cpu_share or o.cpu_shares
  if shares then cpu.shares = integer(shares, "cpu-share") end
  if o.cpu_quota then cpu.quota = integer(o.cpu_quota, "cpu-quota") end
  if o.cpu_period then cpu.period = integer(o.cpu_period, "cpu-period") end
  if o.cpu_rt_period then cpu.realtimePeriod = integer(o.cpu_rt_period, "cpu-rt-period") end
  if o.cpu_rt_runtime then cpu.realtimeRuntime = integer(o.cpu_rt_runtime, "cpu-rt-runtime") end
  if o.cpuset_cpus then cpu.cpus = o.cpuset_cpus end
  if o.cpuset_mems then cpu.mems = o.cpuset_mems end
  if next(mem) then res.memory = mem end
  if next(cpu) then res.cpu = cpu end
  if o.pids_limit then res.pids = { limit = integer(o.pids_limit, "pids-limit") } end
  if o.blkio_weight then res.blockIO = { weight = integer(o.blkio_weight, "blkio-weight") } end
  if o.l3_cache_schema or o.mem_bw_schema then fail("update: Intel RDT is not supported in the guest") end
  return res
end

---@param api table the command's primitives
---@param undo table the command's undo list (kata.undo)
---@param C table api.container: kata.container's functions, and these once bound
function M.bind(api, undo, C)
  local O = {}

  --- AppArmor and SELinux labels (process.apparmorProfile, process.selinuxLabel, linux.mountLabel): the
  --- guest enforces neither. A label whose field is in `ignored` (a set) is logged as ignored; any other
  --- is refused. Returns true, or nil and the error naming the field.
  function O.check_labels(config, ignored)
    ignored = ignored or {}
    for _, f in ipairs({ { "process", "apparmorProfile" }, { "process", "selinuxLabel" }, { "linux", "mountLabel" } }) do
      local v = type(config[f[1]]) == "table" and config[f[1]][f[2]]
      if type(v) == "string" and v ~= "" then
        if not ignored[f[2]] then
          return nil, ("config.json: %s.%s: '%s' cannot be enforced in the guest"):format(f[1], f[2], v)
        end
        api.log.warn("%s.%s '%s' is not enforced in the guest, ignoring", f[1], f[2], v)
      end
    end
    return true
  end

  --- The checks of a new container that cost nothing (its share, what the guest cannot honour and, given
  --- the bundle, a command that is surely not in its rootfs), made before anything exists; returns
  --- C.kind's "sandbox"|"container", sandbox id. Raises what fails.
  function O.check_new(id, config, bundle)
    api.share.check(config)
    local ctype, sid = C.kind(id, config)
    api.log.field("sandbox", sid)
    must(nil, api.oci.check_guest(config, ctype == "container"))
    if bundle then must(nil, api.oci.check_command(config, bundle)) end
    return ctype, sid
  end

  --- The record `delete` removes, under its sandbox's lock: st, lock; or nil when there is nothing to
  --- delete under --force (no record: a lock file a command cut short left goes, and a teardown left
  --- unfinished is finished; or a corrupt one, whose parts are then purged by what its id names).
  --- Raises "container does not exist" without --force. A record that changed while the lock was awaited
  --- is read again.
  function O.load_for_delete(id, force)
    C.check_id(id)
    while true do
      local st, err, code = C.find(id)
      if not st and code ~= "ENOENT" and force then
        local lock = C.lock(id)
        C.purge(id)
        lock:release(true)
        return nil
      end
      if not st then
        if code == "ENOENT" and force then
          O.forget(id) -- what a command cut short may have left: the lock file
          return nil
        end
        fail(code == "ENOENT" and "container does not exist" or err)
      end
      local rt = st.runtime
      api.log.field("sandbox", rt.sandbox_id)
      local lock = C.lock(rt.sandbox_id)
      -- read again under the lock: a create, delete or start of this id may have changed it meanwhile
      st, err, code = C.find(id)
      if st and st.runtime.sandbox_id == rt.sandbox_id then return st, lock end
      -- gone meanwhile: its sandbox went with it, and so does the lock file this call made again
      lock:release(not st and rt.type == "sandbox")
      if not st and code == "ENOENT" then
        if force then return nil end
        fail("container does not exist")
      end
      -- another record under this id now: start over with its sandbox's lock
    end
  end

  --- The record of the sandbox to tear down when `st` is the last container of its pod (`st` itself for a
  --- sandbox), or nil while other containers remain.
  function O.last_of_pod(st)
    local rt = st.runtime
    if C.pod_members(rt.sandbox_id, st.id) > 0 then return nil end
    return rt.type == "sandbox" and st or C.find(rt.sandbox_id) or st
  end

  --- Remove what a container whose record is unreadable or corrupt may have left (delete --force): its
  --- record, and when it names a sandbox no other container belongs to, that sandbox as the paths its id
  --- gives find it -- the supervisor through its socket, every process that names its directory, the
  --- share, the directory, the namespace the runtime made for it. Never raises on what is already gone.
  -- Tear sandbox `sid` down by what its id names (its record is unreadable or gone).
  local function purge_sandbox(sid)
    local sdir = api.paths.sandbox(sid)
    local rt = { type = "sandbox", sandbox_id = sid, sandbox_dir = sdir, shared = sdir .. "/shared",
      share_host = sdir .. "/mounts", socket = sdir .. "/sup.sock" }
    local ns = api.paths.netns_dir .. "/" .. api.digest(sid)
    if api.fs.stat(ns) then rt.netns, rt.netns_created = ns, true end
    api.pod.teardown({ id = sid, runtime = rt })
  end

  function O.purge(id)
    api.log.warn("removing container '%s' whose record is unreadable, by what its id names", id)
    if api.fs.stat(api.paths.sandbox(id)) and C.pod_members(id, id) == 0 then purge_sandbox(id) end
    local ok, err, code = api.state.remove(id)
    if not ok and code ~= "ENOENT" then fail("remove state: " .. tostring(err)) end
  end

  --- Finish the teardown of sandbox `sid` that `delete` handed to the background (kata.pod's
  --- teardown_later), or that was cut short, from its record in the sandbox directory: what still runs in
  --- its sandbox container is stopped, then the sandbox goes. The caller holds the sandbox's lock.
  --- `status` and `teardown` are the policy's steps (default: the mechanism's). Never raises on what is
  --- already gone; returns true when there was a teardown to finish.
  ---@param status function|nil (st) -> status
  ---@param teardown function|nil (sst)
  function O.finish_pending(sid, status, teardown)
    local sst, why = api.pod.pending(sid)
    if not sst and not why then return false end
    if not sst then
      api.log.warn("%s: removing the sandbox by what its id names", why)
      purge_sandbox(sid)
      return true
    end
    api.log.info("finishing the teardown of sandbox '%s'", sid)
    O.destroy(sst, (status or C.status)(sst), true)
    ;(teardown or api.pod.teardown)(sst)
    return true
  end

  --- delete --force of an id with no record: a create or delete cut short between taking the sandbox lock
  --- and saving the record (or between removing it and releasing the lock) left the lock file, which goes
  --- now -- unless another command holds it (that command owns the id) or a sandbox of this id still has
  --- containers or a directory. Never raises.
  function O.forget(id)
    if C.pod_members(id, id) > 0 then return end
    if api.fs.stat(api.paths.sandbox(id) .. "/" .. api.pod.PENDING) then
      -- a teardown still going on in the background, or one whose process died: finished here
      local l = api.lock(id)
      if not l then return end
      if not api.state.load(id) then O.finish_pending(id) end
      l:release(api.state.load(id) == nil)
      return
    end
    if api.fs.stat(api.paths.sandbox(id)) then return end
    local l = api.lock(id, 0)
    if not l then return end
    l:release(api.state.load(id) == nil)
  end

  --- The bundle directory (absolute) and its parsed, validated config.json.
  function O.read_bundle(ctx)
    local bundle = must("bundle", api.fs.realpath(ctx.options.bundle or "."))
    local config = must(nil, api.oci.load(bundle .. "/config.json"))
    return bundle, config
  end

  --- "sandbox", id or "container", its sandbox's id -- from the engine's annotations.
  function O.kind(id, config)
    local ctype, sid = api.oci.container_type(config.annotations)
    if not ctype then fail(sid) end
    if ctype == "sandbox" then sid = id end
    return ctype, sid
  end

  --- A new container is complete: status "created", --pid-file written, what the command made is the
  --- container's now (the undo list is committed).
  function O.created(ctx, st)
    C.set_status(st, "created")
    C.write_pid_file(ctx.options.pid_file, st.pid)
    undo.commit()
    api.log.info("created container (shim pid %d)", st.pid)
  end

  --- Wait up to `timeout` seconds for the container's shim to exit; true once it has.
  function O.wait_gone(st, timeout)
    local rt = st.runtime
    return not rt.shim_pid or api.proc.wait_gone(rt.shim_pid, rt.shim_start_time, timeout) == true
  end

  --- Make sure the shim is gone: a few seconds to report the exit, then SIGKILL.
  function O.stop_shim(st)
    local rt = st.runtime
    if rt.shim_pid and not C.wait_gone(st, 5) then
      api.proc.kill(rt.shim_pid, 9)
      C.wait_gone(st, 5)
    end
  end

  --- Remove a container that is being deleted: kill what still runs in it (a paused one is resumed
  --- first), make sure its shim is gone, remove it from the guest, unshare its files. Never raises.
  ---@param status string its status (the policy's status step)
  function O.destroy(st, status, force)
    local rt, id = st.runtime, st.id
    if force and rt.socket and not api.pod.responsive(st, 2) then
      -- a frozen sandbox would stretch every call to its timeout: it is killed instead
      api.log.warn("sandbox '%s' does not answer: killing it", rt.sandbox_id)
      api.pod.kill(st)
      status = "stopped"
    end
    local sb = rt.socket and api.pod.connect(st) or nil
    if status ~= "stopped" and sb then
      if status == "paused" then api.agent.resume(sb, id) end
      api.agent.signal(sb, id, 9, true)
      api.agent.wait(sb, st, 10)
    end
    C.stop_shim(st)
    if sb then
      local ok, err = api.agent.remove_container(sb, id)
      if not ok then api.log.warn("remove container in the guest: %s, ignoring", tostring(err)) end
      sb:close()
    end
    api.share.remove(st)
  end

  --- Wait for the container's shim to exit and return its status (the container's). Waiting for the
  --- container's own life is not the command's work: the command's deadline starts again afterwards.
  function O.wait_exit(st)
    local limits = api.limits
    local left = limits and limits.remaining()
    if left then limits.set_deadline(0) end
    local code = api.proc.wait(st.runtime.shim_pid)
    if left then limits.set_deadline(api.config.runtime.command_timeout or 0) end
    return code
  end

  --- Start the container's shim (its host process: stdio, signals, exit status); a rollback kills it.
  --- `exec` (optional) names an exec'd process: { exec_id =, handle =, terminal = }.
  ---@return integer pid
  function O.spawn_shim(ctx, st, exec)
    local rt = st.runtime
    local opts = C.shim_options(ctx, st, exec)
    local pid = must("start shim", api.shim.spawn(opts))
    if exec then return pid end
    rt.shim_pid, rt.shim_start_time = pid, api.proc.start_time(pid)
    undo.push("stop shim", function() api.proc.kill(pid, 9) end)
    st.pid = pid
    C.save(st)
    return pid
  end

  function O.shim_options(ctx, st, exec)
    local rt = st.runtime
    local terminal = exec and exec.terminal or (not exec and rt.terminal)
    return {
      socket = rt.socket, container = st.id, handle = exec and exec.handle or rt.handle,
      exec_id = exec and exec.exec_id or nil, console_socket = ctx.options.console_socket,
      terminal = terminal == true and not ctx.options.console_socket, log = ctx.global.log,
      log_format = ctx.global.log_format, debug = ctx.global.debug,
      netns = not exec and rt.netns or nil, -- the container's pid is the shim's: its netns is the pod's
    }
  end

  --- Become the shim of an exec'd process (foreground exec): returns only on failure.
  function O.become_shim(ctx, st, exec)
    return must("exec shim", api.shim.exec(C.shim_options(ctx, st, exec)))
  end

  --- Write --pid-file (decimal, no newline), if one was asked for.
  function O.write_pid_file(path, pid)
    if path then must("write pid file", api.fs.atomic_write(path, tostring(pid), 420)) end
  end

  --- The linux.resources `update` applies: `-r FILE` (a linux.resources object, "-" for stdin; the flags
  --- are then ignored) or runc's update flags.
  function O.update_resources(ctx)
    local o = ctx.options
    if not o.resources then return flag_resources(o) end
    local text, err = api.read_file(o.resources == "-" and "/dev/stdin" or o.resources)
    if not text then fail(("update: -r %s: %s"):format(o.resources, tostring(err))) end
    local doc, derr = api.json.decode(text)
    if type(doc) ~= "table" then fail(("update: -r %s: not a JSON object: %s"):format(o.resources, tostring(derr))) end
    return doc
  end

  --- The process `exec` runs: --process FILE, or the command line over the container's defaults.
  function O.exec_process(ctx, st)
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
    -- as runc's exec: the container's process is the base, so its capabilities, no_new_privs, rlimits and
    -- OOM score carry over
    local p = { args = args, env = env, cwd = o.cwd or config.cwd or "/", terminal = o.tty == true,
      user = o.user and parse_user(o.user) or config.user or { uid = 0, gid = 0 },
      capabilities = config.capabilities, noNewPrivileges = config.noNewPrivileges, rlimits = config.rlimits,
      oomScoreAdj = config.oomScoreAdj }
    if o.additional_gids then
      p.user.additionalGids = {}
      for _, g in ipairs(o.additional_gids) do p.user.additionalGids[#p.user.additionalGids + 1] = math.tointeger(tonumber(g)) end
    end
    must(nil, api.oci.validate_process(p, "exec")) -- what the guest would refuse, refused here
    return p
  end

  --- A fresh id for an exec'd process.
  function O.exec_id()
    return ("exec-%d-%d"):format(api.proc.getpid(), math.floor(api.clock.monotonic() * 1000) % 1000000)
  end

  --- Start `process` (C.exec_process's) in the container through connection sb: with --detach under a
  --- shim of its own, else for this process to become its shim (C.become_shim); writes --pid-file.
  --- Returns the exec { exec_id, handle, terminal }.
  function O.exec(ctx, st, sb, process)
    local exec_id = C.exec_id()
    local res = must("exec", api.agent.exec_process(sb, st.id, exec_id, process))
    local exec = { exec_id = exec_id, handle = res.handle, terminal = process.terminal == true }
    local pid = ctx.options.detach and C.spawn_shim(ctx, st, exec) or api.proc.getpid()
    must("start process", api.agent.start_process(sb, res.handle))
    C.write_pid_file(ctx.options.pid_file, pid)
    return exec
  end

  --- `events`' --interval in seconds ("5s" unless given); raises for a malformed one.
  function O.events_interval(ctx)
    local interval = tonumber((ctx.options.interval or "5s"):match("^(%d+%.?%d*)s?$"))
    if not interval or interval <= 0 then fail(("events: invalid --interval '%s'"):format(tostring(ctx.options.interval))) end
    return interval
  end

  --- `list`'s output (runc's table, --quiet or --format json) for these OCI state documents.
  function O.print_list(ctx, rows)
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
  end

  --- `ps`'s output (a PID table or --format json).
  function O.print_pids(ctx, pids)
    if ctx.options.format == "json" then
      api.out(api.json.encode(api.json.array(pids)) .. "\n")
    else
      api.out("PID\n")
      for _, pid in ipairs(pids) do api.out(tostring(pid) .. "\n") end
    end
  end

  --- Print one stats event (`events` output, one JSON object a line).
  function O.print_stats(st, s) api.out(api.json.encode(C.stats_event(st, s)) .. "\n") end

  --- One runc-style stats event (`events`) from the guest's cgroup figures.
  function O.stats_event(st, s)
    return {
      type = "stats", id = st.id,
      data = {
        cpu = { usage = { total = (s.cpu and s.cpu.usage_usec or 0) * 1000, user = (s.cpu and s.cpu.user_usec or 0) * 1000,
          kernel = (s.cpu and s.cpu.system_usec or 0) * 1000 } },
        memory = { usage = { usage = s.memory and s.memory.usage or 0, limit = s.memory and s.memory.limit or 0 } },
        pids = { current = s.pids and s.pids.current or 0 },
        network_interfaces = api.network.stats(s.network),
      },
    }
  end

  return O
end

return M
