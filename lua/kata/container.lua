--- Mechanism: a container's record. The state schema (what `create` stores and every later command
--- reads), the OCI state document, the bundle, the shim that stands for the container's process, the
--- sandbox lock, and the runc-compatible output of `list` and `ps`.
---
--- Functions are bound to one command's primitives by kata.mechanism (`api.container.*`). Those that
--- make something push its undo on the command's undo list; those that fail raise a message for the user.
local runner = require("kata.runner")

local M = {}

local fail = runner.fail
local must = runner.must

--- The state schema. `runtime` holds what only this runtime reads; the top level is the OCI state.
---@class kata.State
---@field ociVersion string
---@field id string
---@field status string "creating"|"created"|"running"|"paused"|"stopped"
---@field pid integer the shim's host pid (0 until it runs)
---@field bundle string
---@field annotations table|nil
---@field runtime table type, sandbox_id, policy, policy_digest, created, rootfs, terminal, process, hooks,
---       sandbox_dir, shared, share_host, netns, netns_created, socket, supervisor_pid, supervisor_start_time, accel,
---       boot_ms, share, mounts, handle, guest_pid, shim_pid, shim_start_time

-- What a pod container copies from its sandbox's record: enough to tear the sandbox down even when the
-- container outlives the sandbox container's own record.
M.SANDBOX_FIELDS = { "sandbox_dir", "shared", "share_host", "netns", "netns_created", "socket", "supervisor_pid",
  "supervisor_start_time", "accel", "network" }

-- The fields the mechanism reads, by type ("?" after the type: may be absent).
local RECORD = { id = "string", status = "string", pid = "number?", bundle = "string?", runtime = "table" }
local RUNTIME = {
  type = "string", sandbox_id = "string", sandbox_dir = "string?", shared = "string?", share_host = "string?",
  socket = "string?", netns = "string?", netns_created = "boolean?", supervisor_pid = "number?",
  supervisor_start_time = "number?", shim_pid = "number?", shim_start_time = "number?", handle = "number?",
  mounts = "table?", hooks = "table?", process = "table?", rootfs = "string?", share = "string?",
}

--- nil when st has the shape the runtime writes, else what is wrong with it.
function M.check_record(st)
  local function check(t, schema, prefix)
    for k, want in pairs(schema) do
      local ty, opt = want:match("^(%a+)(%??)$")
      local v = t[k]
      if not (v == nil and opt == "?") and type(v) ~= ty then
        return ("%s%s: expected %s, got %s"):format(prefix, k, ty, type(v))
      end
    end
  end
  if type(st) ~= "table" then return "not an object" end
  local why = check(st, RECORD, "")
  if why then return why end
  why = check(st.runtime, RUNTIME, "runtime.")
  if why then return why end
  if st.runtime.type ~= "sandbox" and st.runtime.type ~= "container" then
    return ("runtime.type: '%s' is neither sandbox nor container"):format(st.runtime.type)
  end
end

local function parse_user(s)
  local uid, gid = s:match("^(%d+):(%d+)$")
  if not uid then uid = s:match("^(%d+)$") end
  if not uid then fail(("exec: --user '%s': want uid[:gid]"):format(s)) end
  return { uid = tonumber(uid), gid = tonumber(gid or 0) }
end

---@param api table the command's primitives
---@param undo table the command's undo list (kata.undo)
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

function M.bind(api, undo)
  local C = {}
  local locks = {} -- name -> { lock =, released =, remove = }

  --- Check an id (the one rule: api.id.validate); raises its message.
  function C.check_id(id) must(nil, api.id.validate(id)) end

  --- The container's record; raises "container does not exist" (runc's words, engines match them).
  --- Log lines from here on name its sandbox.
  ---@return kata.State
  function C.load(id)
    C.check_id(id)
    local st, err, code = C.find(id)
    if not st then
      if code == "ENOENT" then fail("container does not exist") end
      fail(err)
    end
    api.log.field("sandbox", st.runtime.sandbox_id)
    return st
  end

  --- The record, or nil, a message and a code ("ENOENT" for a missing one, "EBADMSG" for a record that
  --- does not have the shape the runtime writes: the mechanism never indexes a mistyped field).
  function C.find(id)
    local ok, err, code = api.id.validate(id)
    if not ok then return nil, err, code end
    local st
    st, err, code = api.state.load(id)
    if not st then return nil, err, code end
    local why = M.check_record(st)
    if why then return nil, ("state of '%s' is corrupt: %s"):format(id, why), "EBADMSG" end
    return st
  end

  --- Remove what a container whose record is unreadable or corrupt may have left (delete --force): its
  --- record, and when it names a sandbox no other container belongs to, that sandbox as the paths its id
  --- gives find it -- the supervisor through its socket, every process that names its directory, the
  --- share, the directory, the namespace the runtime made for it. Never raises on what is already gone.
  function C.purge(id)
    api.log.warn("removing container '%s' whose record is unreadable, by what its id names", id)
    local sdir = api.paths.sandbox(id)
    if api.fs.stat(sdir) and C.pod_members(id, id) == 0 then
      local rt = { type = "sandbox", sandbox_id = id, sandbox_dir = sdir, shared = sdir .. "/shared",
        share_host = sdir .. "/mounts", socket = sdir .. "/sup.sock" }
      local ns = api.paths.netns_dir .. "/" .. api.digest(id)
      if api.fs.stat(ns) then rt.netns, rt.netns_created = ns, true end
      api.pod.teardown({ id = id, runtime = rt })
    end
    local ok, err, code = api.state.remove(id)
    if not ok and code ~= "ENOENT" then fail("remove state: " .. tostring(err)) end
  end

  --- delete --force of an id with no record: a create or delete cut short between taking the sandbox lock
  --- and saving the record (or between removing it and releasing the lock) left the lock file, which goes
  --- now -- unless another command holds it (that command owns the id) or a sandbox of this id still has
  --- containers or a directory. Never raises.
  function C.forget(id)
    if api.fs.stat(api.paths.sandbox(id)) or C.pod_members(id, id) > 0 then return end
    local l = api.lock(id, 0)
    if not l then return end
    l:release(api.state.load(id) == nil)
  end

  --- Every readable record under --root.
  function C.all()
    local out = {}
    for _, id in ipairs(api.state.list() or {}) do
      local st = C.find(id)
      if st then out[#out + 1] = st end
    end
    return out
  end

  --- How many other containers belong to sandbox `sid`.
  function C.pod_members(sid, except_id)
    local n = 0
    for _, o in ipairs(C.all()) do
      if o.id ~= except_id and o.runtime and o.runtime.sandbox_id == sid then n = n + 1 end
    end
    return n
  end

  --- The bundle directory (absolute) and its parsed, validated config.json.
  function C.read_bundle(ctx)
    local bundle = must("bundle", api.fs.realpath(ctx.options.bundle or "."))
    local config = must(nil, api.oci.load(bundle .. "/config.json"))
    return bundle, config
  end

  --- "sandbox", id or "container", its sandbox's id -- from the engine's annotations.
  function C.kind(id, config)
    local ctype, sid = api.oci.container_type(config.annotations)
    if not ctype then fail(sid) end
    if ctype == "sandbox" then sid = id end
    return ctype, sid
  end

  --- Take sandbox `sid`'s lock (waits up to runtime.lock_timeout). A rollback releases it.
  function C.lock(sid)
    local l = must("lock", api.lock(sid))
    local entry = { lock = l }
    locks[sid] = entry
    local handle = {}
    function handle.release(_, remove)
      if entry.released then return end
      entry.released = true
      l:release(remove)
    end
    undo.push("release lock " .. sid, function() handle:release(entry.remove) end)
    return handle
  end

  --- A new record, not yet saved: raises when the id is taken or the rootfs is missing.
  ---@return kata.State
  function C.new(ctx, id, bundle, config, ctype, sid)
    if api.state.load(id) then fail("container with given ID already exists") end
    -- from here on the sandbox is new: a rollback takes its lock file along
    if ctype == "sandbox" and locks[sid] then locks[sid].remove = true end
    local rootfs = config.root.path
    if rootfs:sub(1, 1) ~= "/" then rootfs = bundle .. "/" .. rootfs end
    rootfs = api.fs.realpath(rootfs)
    if not rootfs then fail(("rootfs '%s' does not exist"):format(config.root.path)) end
    return {
      ociVersion = config.ociVersion, id = id, status = "creating", pid = 0, bundle = bundle,
      annotations = config.annotations,
      runtime = {
        type = ctype, sandbox_id = sid, policy = ctx.policy, policy_digest = ctx.policy_digest,
        created = api.now(), rootfs = rootfs, terminal = config.process.terminal == true,
        process = config.process, -- exec's defaults (env, cwd, user)
        hooks = config.hooks or {}, -- as they were at create time: editing config.json later has no effect
      },
    }
  end

  --- Save a new record (status "creating"); a rollback removes it.
  function C.record(st)
    C.save(st)
    undo.push("remove state", function() api.state.remove(st.id) end)
  end

  function C.save(st) must("save state", api.state.save(st.id, st)) end

  function C.remove(st) must("remove state", api.state.remove(st.id)) end

  --- Wait up to `timeout` seconds for the container's shim to exit; true once it has.
  function C.wait_gone(st, timeout)
    local rt = st.runtime
    return not rt.shim_pid or api.proc.wait_gone(rt.shim_pid, rt.shim_start_time, timeout) == true
  end

  --- Make sure the shim is gone: a few seconds to report the exit, then SIGKILL.
  function C.stop_shim(st)
    local rt = st.runtime
    if rt.shim_pid and not C.wait_gone(st, 5) then
      api.proc.kill(rt.shim_pid, 9)
      C.wait_gone(st, 5)
    end
  end

  --- Remove a container that is being deleted: kill what still runs in it (a paused one is resumed
  --- first), make sure its shim is gone, remove it from the guest, unshare its files. Never raises.
  ---@param status string its status (the policy's status step)
  function C.destroy(st, status)
    local rt, id = st.runtime, st.id
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
  function C.wait_exit(st)
    local limits = api.limits
    local left = limits and limits.remaining()
    if left then limits.set_deadline(0) end
    local code = api.proc.wait(st.runtime.shim_pid)
    if left then limits.set_deadline(api.config.runtime.command_timeout or 0) end
    return code
  end

  --- Whether the container's shim (its process on the host) still runs: pid plus start time.
  function C.alive(st)
    local rt = st.runtime or {}
    return rt.shim_pid ~= nil and api.proc.alive(rt.shim_pid, rt.shim_start_time) == true
  end

  --- The OCI state document (runtime-spec "State"), with runc's rootfs/created/owner extras.
  function C.oci_state(st, status)
    local doc = {
      ociVersion = st.ociVersion, id = st.id, status = status,
      pid = (status == "stopped") and 0 or (st.pid or 0),
      bundle = st.bundle, rootfs = st.runtime and st.runtime.rootfs or nil,
      created = st.runtime and st.runtime.created or nil, owner = "",
    }
    if st.annotations and next(st.annotations) ~= nil then doc.annotations = st.annotations end
    return doc
  end

  --- Start the container's shim (its host process: stdio, signals, exit status); a rollback kills it.
  --- `exec` (optional) names an exec'd process: { exec_id =, handle =, terminal = }.
  ---@return integer pid
  function C.spawn_shim(ctx, st, exec)
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

  function C.shim_options(ctx, st, exec)
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
  function C.become_shim(ctx, st, exec)
    return must("exec shim", api.shim.exec(C.shim_options(ctx, st, exec)))
  end

  --- Write --pid-file (decimal, no newline), if one was asked for.
  function C.write_pid_file(path, pid)
    if path then must("write pid file", api.fs.atomic_write(path, tostring(pid), 420)) end
  end

  --- The linux.resources `update` applies: `-r FILE` (a linux.resources object, "-" for stdin; the flags
  --- are then ignored) or runc's update flags.
  function C.update_resources(ctx)
    local o = ctx.options
    if not o.resources then return flag_resources(o) end
    local text, err = api.read_file(o.resources == "-" and "/dev/stdin" or o.resources)
    if not text then fail(("update: -r %s: %s"):format(o.resources, tostring(err))) end
    local doc, derr = api.json.decode(text)
    if type(doc) ~= "table" then fail(("update: -r %s: not a JSON object: %s"):format(o.resources, tostring(derr))) end
    return doc
  end

  --- The process `exec` runs: --process FILE, or the command line over the container's defaults.
  function C.exec_process(ctx, st)
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
  function C.exec_id()
    return ("exec-%d-%d"):format(api.proc.getpid(), math.floor(api.clock.monotonic() * 1000) % 1000000)
  end

  --- `list`'s output (runc's table, --quiet or --format json) for these OCI state documents.
  function C.print_list(ctx, rows)
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
  function C.print_pids(ctx, pids)
    if ctx.options.format == "json" then
      api.out(api.json.encode(api.json.array(pids)) .. "\n")
    else
      api.out("PID\n")
      for _, pid in ipairs(pids) do api.out(tostring(pid) .. "\n") end
    end
  end

  --- Print one stats event (`events` output, one JSON object a line).
  function C.print_stats(st, s) api.out(api.json.encode(C.stats_event(st, s)) .. "\n") end

  --- One runc-style stats event (`events`) from the guest's cgroup figures.
  function C.stats_event(st, s)
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

  return C
end

return M
