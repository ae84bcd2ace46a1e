--- kata.testing: the kit for testing a policy with busted, installed with the runtime. Fake primitives
--- with the shape of kata/api.lua, for policy specs: an in-memory world (state store,
--- mounts, namespaces, sandboxes, shims, hooks) and an ordered log of every call, so specs can assert
--- the order of steps and that a rollback leaves the world as it found it.
local M = {}

local function copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = copy(v) end
  return setmetatable(c, getmetatable(t))
end

local NULL = setmetatable({}, { __name = "null" })

--- A minimal JSON encoder for what policies hand to hooks (strings, numbers, booleans, tables).
local function encode(v)
  local t = type(v)
  if v == NULL or v == nil then return "null" end
  if t == "string" then return ('"%s"'):format(v:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end)) end
  if t == "number" or t == "boolean" then return tostring(v) end
  local mt = getmetatable(v)
  if #v > 0 or (mt and mt.__jsontype == "array") then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = encode(x) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = encode(k) .. ":" .. encode(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

---@param opts table|nil { config = <config.json table>, bundle = "/b", fail = { [call] = "msg" }, hooks =,
---       exec_output = string | function(exec) -> stdout [, stderr], exec_status = n | "running" | function(exec) }
function M.api(opts)
  opts = opts or {}
  local world = {
    states = {}, mounts = {}, mount_ids = {}, dirs = {}, files = {}, netns = {}, sandboxes = {}, shims = {}, containers = {},
    locks = {}, pid_files = {}, hooks_run = {}, signals = {}, updates = {}, stdin = {},
  }
  local calls = {}
  local fails = opts.fail or {}
  local next_pid = 1000
  local function log(s) calls[#calls + 1] = s end
  local function maybe_fail(stepname)
    if fails[stepname] then return nil, fails[stepname], "EIO" end
    return true
  end

  local config = opts.config or {
    ociVersion = "1.2.0", root = { path = "rootfs" },
    process = { args = { "sh" }, cwd = "/", env = { "PATH=/bin" } },
    hooks = opts.hooks,
    annotations = opts.annotations,
    linux = opts.linux,
    mounts = opts.mounts,
  }

  local api = { world = world, calls = calls, fail = fails, root = "/run/kata", settings = opts.settings or {} }
  api.config = {
    hypervisor = { path = "/usr/bin/qemu", kernel = "/k", initrd = "/i", kernel_params = "", firmware = "", virtiofsd = "/v",
      vcpus = 1, memory_mib = 256, accel = "auto", boot_timeout = 30 },
    runtime = { policy = "default", allowed_policies = { "default" }, lock_timeout = 10 },
  }
  api.now = function() return "2026-01-01T00:00:00.000000000Z" end
  api.digest = function(s) return "d-" .. s end
  api.json = {
    null = NULL, encode = encode,
    decode = function(s) return opts.decode and opts.decode(s) or nil, "no decoder in fakes" end,
    array = function(t) return setmetatable(t or {}, { __jsontype = "array" }) end,
  }
  api.out_buf = {}
  api.out = function(s) api.out_buf[#api.out_buf + 1] = s end
  api.log = {
    lines = {},
    error = function(f, ...) api.log.lines[#api.log.lines + 1] = "error: " .. f:format(...) end,
    warn = function(f, ...) api.log.lines[#api.log.lines + 1] = "warn: " .. f:format(...) end,
    info = function(f, ...) api.log.lines[#api.log.lines + 1] = "info: " .. f:format(...) end,
    debug = function() end,
    field = function() end,
  }
  api.signal = {
    parse = function(s)
      local names = { TERM = 15, KILL = 9, USR1 = 10, HUP = 1, INT = 2 }
      local n = tonumber(s) or names[(s:gsub("^SIG", ""))]
      if not n then return nil, ("unknown signal '%s'"):format(s), "EINVAL" end
      return n
    end,
  }
  api.id = {
    validate = function(id)
      if type(id) ~= "string" or not id:match("^[%w][%w_+.-]*$") then
        return nil, ("invalid container id '%s'"):format(tostring(id)), "EINVAL"
      end
      return true
    end,
  }
  api.oci = {
    load = function(path)
      log("oci.load " .. path)
      if fails["oci.load"] then return nil, fails["oci.load"], "EINVAL" end
      return copy(config)
    end,
    container_type = function(ann)
      local t = ann and ann["io.kubernetes.cri.container-type"]
      if t == nil or t == "sandbox" then return "sandbox" end
      if t == "container" then return "container", ann["io.kubernetes.cri.sandbox-id"] end
      return nil, "unknown container type", "EINVAL"
    end,
    validate_process = function() return true end,
    check_command = function() return true end,
    check_guest = function()
      if fails["oci.check_guest"] then return nil, fails["oci.check_guest"], "EINVAL" end
      return true
    end,
  }
  local now = 0
  api.clock = { monotonic = function() now = now + 0.5; return now end, sleep = function(s) now = now + s end }
  api.paths = {
    container = function(id) return api.root .. "/" .. id end,
    sandbox = function(sid) return api.root .. "/.sandbox/" .. sid end,
    netns_dir = api.root .. "/.netns",
  }
  api.self_command = function(...) return { "/usr/bin/kata-runtime", "--root", api.root, ... } end
  api.read_file = function(path) return opts.files and opts.files[path] or nil, "no such file", "ENOENT" end

  api.state = {
    load = function(id)
      local st = world.states[id]
      if not st then return nil, "container does not exist", "ENOENT" end
      return copy(st)
    end,
    save = function(id, st)
      log("state.save " .. id .. " " .. st.status)
      if fails["state.save"] then return nil, fails["state.save"], "EIO" end
      world.states[id] = copy(st)
      return true
    end,
    remove = function(id)
      log("state.remove " .. id)
      world.states[id] = nil
      return true
    end,
    list = function()
      local ids = {}
      for id in pairs(world.states) do ids[#ids + 1] = id end
      table.sort(ids)
      return ids
    end,
  }
  api.lock = function(name)
    log("lock " .. name)
    if world.locks[name] then return nil, ("sandbox '%s' is locked by another command"):format(name), "EAGAIN" end
    world.locks[name] = true
    return { release = function(_, remove) world.locks[name] = nil; log("unlock " .. name .. (remove and " remove" or "")) end }
  end

  local alive = {}
  api.proc = {
    alive = function(pid) return alive[pid] == true end,
    -- nothing exits by itself in the fake world: a live pid stays until the timeout
    wait_gone = function(pid, _, timeout) now = now + (alive[pid] and (timeout or 0) or 0); return alive[pid] ~= true end,
    start_time = function(pid) return alive[pid] and 42 or nil, "gone", "ENOENT" end,
    kill = function(pid, sig)
      log("proc.kill " .. pid .. " " .. sig)
      alive[pid] = nil
      world.shims[pid] = nil
      return true
    end,
    getpid = function() return 4242 end,
    -- the fake world runs no processes of the runtime's own: a teardown handed to the background happens
    -- in the command instead (kata.pod's teardown_later falls back to that)
    spawn_detached = function(argv)
      log("proc.spawn_detached " .. table.concat(argv, " ", #argv - 1))
      return nil, "no background processes in the fake world", "ENOSYS"
    end,
    wait = function(pid) log("proc.wait " .. pid); alive[pid] = nil; world.shims[pid] = nil; return opts.exit_status or 0 end,
  }
  api.alive = alive -- specs can kill a "shim" from outside

  api.fs = {
    realpath = function(p)
      if p == "." then return opts.bundle or "/bundle" end
      if opts.missing and opts.missing[p] then return nil, p .. ": No such file or directory", "ENOENT" end
      return p
    end,
    stat = function(p)
      if world.files[p] then return { type = "file" } end
      if world.dirs[p] then return { type = "directory" } end
      if world.sandboxes[p] then return { type = "socket" } end
      if world.netns[p] then return { type = "file" } end
      if opts.host_files and opts.host_files[p] then return { type = opts.host_files[p] } end
      return nil, "no such file", "ENOENT"
    end,
    mkdir_p = function(p)
      log("fs.mkdir_p " .. p)
      local acc = ""
      for part in p:gmatch("[^/]+") do acc = acc .. "/" .. part; world.dirs[acc] = world.dirs[acc] or "parent" end
      world.dirs[p] = "made"
      return true
    end,
    rmdir = function(p) world.dirs[p] = nil; return true end,
    unlink = function(p) world.files[p] = nil; return true end,
    atomic_write = function(p, data)
      log("fs.write " .. p)
      if fails["fs.write"] then return nil, fails["fs.write"], "EIO" end
      world.files[p] = data
      return true
    end,
    bind = function(src, dst)
      log("fs.bind " .. src .. " " .. dst)
      if fails["fs.bind"] then return nil, fails["fs.bind"], "EIO" end
      world.mounts[dst] = src
      return true
    end,
    make_shared = function(p)
      log("fs.make_shared " .. p)
      world.mounts[p] = p
      return true
    end,
    umount = function(p)
      log("fs.umount " .. p)
      if not world.mounts[p] then return nil, "not mounted", "EINVAL" end
      world.mounts[p] = nil
      return true
    end,
  }

  -- every process naming the directory: in this world, the shims whose socket is in it
  api.purge = {
    processes = function(dir)
      log("purge.processes " .. dir)
      local n = 0
      for pid, shim in pairs(world.shims) do
        if (shim.opts.socket or ""):sub(1, #dir) == dir then alive[pid], world.shims[pid] = nil, nil; n = n + 1 end
      end
      return n
    end,
  }

  -- the share: a host-only directory and the guest's view of it; mounts carry an id, as the real ones do
  local next_mount_id = 100
  api.sharefs = {
    setup = function(host, guest)
      log("share.setup " .. host .. " " .. guest)
      if fails["share.setup"] then return nil, fails["share.setup"], "EIO" end
      world.dirs[host], world.dirs[guest] = "made", "made"
      world.mounts[host], world.mounts[guest] = host, host
      return true
    end,
    teardown = function(host, guest)
      log("share.teardown " .. host)
      for p in pairs(world.mounts) do
        if p == host or p == guest or p:sub(1, #host + 1) == host .. "/" then world.mounts[p] = nil end
      end
      for p in pairs(world.dirs) do if p == host or p == guest or p:sub(1, #host + 1) == host .. "/" then world.dirs[p] = nil end end
      return true
    end,
    mkdir = function(host, rel)
      local acc = host
      for part in rel:gmatch("[^/]+") do acc = acc .. "/" .. part; world.dirs[acc] = world.dirs[acc] or "made" end
      return true
    end,
    mkfile = function(host, rel) world.files[host .. "/" .. rel] = ""; return true end,
    bind = function(src, host, rel)
      log("share.bind " .. src .. " " .. rel)
      if fails["share.bind"] then return nil, fails["share.bind"], "EIO" end
      next_mount_id = next_mount_id + 1
      world.mounts[host .. "/" .. rel] = src
      world.mount_ids[host .. "/" .. rel] = next_mount_id
      return next_mount_id
    end,
    umount = function(host, rel, id)
      log("share.umount " .. rel)
      local p = host .. "/" .. rel
      if not world.mounts[p] then return nil, "not mounted", "EINVAL" end
      if world.mount_ids[p] ~= id then return nil, "another mount", "ESTALE" end
      world.mounts[p], world.mount_ids[p] = nil, nil
      return true
    end,
    remove = function(host, rel)
      local p = host .. "/" .. rel
      world.dirs[p], world.files[p] = nil, nil
      return true
    end,
  }

  api.netns = {
    create = function(dir, name)
      log("netns.create " .. name)
      if fails["netns.create"] then return nil, fails["netns.create"], "EIO" end
      local path = dir .. "/" .. name
      world.netns[path] = true
      return { path = function() return path end, close = function() end }
    end,
    delete = function(path)
      log("netns.delete " .. path)
      if not world.netns[path] then return nil, "not created by the runtime", "EPERM" end
      world.netns[path] = nil
      return true
    end,
    is_host = function(path) return path == "/proc/1/ns/net" end,
    remove_dir = function(dir)
      for p in pairs(world.netns) do if p:sub(1, #dir + 1) == dir .. "/" then return nil, "not empty", "ENOTEMPTY" end end
      return true
    end,
  }

  -- sandbox networking: world.interfaces[netns] lists what the namespace offers (kata/network.lua is real)
  world.interfaces, world.mirrors = {}, {}
  api.net = {
    interfaces = function(netns)
      local out = {}
      for _, k in ipairs(world.interfaces[netns] or {}) do out[#out + 1] = copy(k) end
      return out
    end,
    mirror = function(netns, name)
      log("net.mirror " .. name)
      if fails["net.mirror"] then return nil, fails["net.mirror"], "EIO" end
      world.mirrors[netns .. " " .. name] = true
      return { link = name, tap = "vctap" .. name, link_qdisc = true, mtu = 1500 }
    end,
    unmirror = function(netns, m)
      log("net.unmirror " .. m.link)
      world.mirrors[netns .. " " .. m.link] = nil
      return true
    end,
  }

  api.hook = {
    run_all = function(hooks, o)
      for i, h in ipairs(hooks) do
        log("hook " .. o.kind .. " " .. h.path)
        world.hooks_run[#world.hooks_run + 1] = { kind = o.kind, path = h.path, state = o.state, netns = o.netns, cwd = o.cwd }
        if fails["hook " .. o.kind] then
          return nil, ("error running %s hook #%d: exit status 1, stderr: %s"):format(o.kind, i - 1, fails["hook " .. o.kind]), "EIO", i - 1
        end
      end
      return true, {}
    end,
  }

  -- what vc.Sandbox's methods without a result return: true, or nil, msg, code
  local function done(r, err, code)
    if r == nil then return nil, err, code end
    return true
  end

  local function client(socket)
    local sbx = world.sandboxes[socket]
    return {
      call = function(self, method, params)
        log("agent " .. method .. (params and params.id and (" " .. params.id) or ""))
        if not world.sandboxes[socket] or not world.sandboxes[socket].running then return nil, "EPIPE: supervisor went away", "EPIPE" end
        if fails["agent " .. method] then return nil, fails["agent " .. method], "EIO" end
        if method == "create_container" then
          sbx.handles = (sbx.handles or 0) + 1
          world.containers[params.id] = { handle = sbx.handles, spec = params.spec, rootfs = params.rootfs, join = params.join,
            status = "created", socket = socket }
          return { handle = sbx.handles, pid = 1 }
        elseif method == "start_container" then
          world.containers[params.id].status = "running"
        elseif method == "remove_container" then
          world.containers[params.id] = nil
        elseif method == "signal_process" then
          world.signals[#world.signals + 1] = params
          if params.signal == 9 or params.signal == 15 then
            local c = world.containers[params.id]
            if c then c.status = "stopped" end
            for pid, shim in pairs(world.shims) do
              if shim.container == params.id and not shim.exec_id then alive[pid] = nil; world.shims[pid] = nil end
            end
          end
        elseif method == "sup.wait" then
          local ex = sbx.execs and sbx.execs[params.handle]
          if ex then
            local st = opts.exec_status
            if type(st) == "function" then st = st(ex) end
            if st == nil then st = 0 end
            if st == "running" then return nil, "ETIMEDOUT: still running", "ETIMEDOUT" end
            return { status = st }
          end
          return { status = 137 }
        elseif method == "sup.shutdown" then
          world.sandboxes[socket] = nil
          alive[sbx.pid] = nil
          -- destroy_sandbox kills what still runs: those shims get their exits and go
          for id, c in pairs(world.containers) do
            if c.socket == socket then
              world.containers[id] = nil
              for pid, shim in pairs(world.shims) do
                if shim.container == id then alive[pid] = nil; world.shims[pid] = nil end
              end
            end
          end
        elseif method == "exec_process" then
          sbx.handles = (sbx.handles or 0) + 1
          sbx.execs = sbx.execs or {}
          sbx.execs[sbx.handles] = { id = params.id, exec_id = params.exec_id, process = params.process }
          return { handle = sbx.handles, pid = 7 }
        elseif method == "list_processes" then
          -- in this world a container's processes live as long as a shim stands for them
          for pid, shim in pairs(world.shims) do
            if shim.container == params.id and alive[pid] then return { pids = { 1, 7 } } end
          end
          return { pids = {} }
        elseif method == "update_container" then
          world.updates[#world.updates + 1] = { id = params.id, resources = params.resources }
        end
        return {}
      end,
      close = function() end,
      -- the typed methods of vc.Sandbox, logged as the calls they make
      create_container = function(self, id, rootfs, spec, join)
        return self:call("create_container", { id = id, rootfs = rootfs, spec = spec, join = join })
      end,
      start_container = function(self, id) return done(self:call("start_container", { id = id })) end,
      remove_container = function(self, id) return done(self:call("remove_container", { id = id })) end,
      pause_container = function(self, id) return done(self:call("pause_container", { id = id })) end,
      resume_container = function(self, id) return done(self:call("resume_container", { id = id })) end,
      stats_container = function(self, id) return self:call("stats_container", { id = id }) end,
      update_container = function(self, id, resources)
        return done(self:call("update_container", { id = id, resources = resources }))
      end,
      signal_process = function(self, id, exec_id, signo, all)
        return done(self:call("signal_process", { id = id, exec_id = exec_id, signal = signo, all = all }))
      end,
      exec_process = function(self, id, exec_id, process)
        return self:call("exec_process", { id = id, exec_id = exec_id, process = process })
      end,
      start_process = function(self, handle) return done(self:call("start_process", { handle = handle })) end,
      list_processes = function(self, id)
        local r, err, code = self:call("list_processes", { id = id })
        if not r then return nil, err, code end
        return r.pids
      end,
      wait = function(self, handle)
        local r, err, code = self:call("sup.wait", { handle = handle })
        if not r then return nil, err, code end
        return r.status
      end,
      shutdown = function(self, timeout) return done(self:call("sup.shutdown", { timeout = timeout })) end,
      -- in this world a killed container has exited already: the sandbox goes at once
      shutdown_after = function(self, handle, timeout)
        return done(self:call("sup.shutdown", { timeout = timeout, after = handle }))
      end,
      check = function(self) return self:call("check", {}) end,
      update_interface = function(self, iface) return self:call("update_interface", iface) end,
      qmp = function(self, execute, arguments)
        return self:call("sup.qmp", { execute = execute, arguments = arguments })
      end,
      -- a process's stdio, as vc.Sandbox's attach/read/write: what opts.exec_output gives an exec'd process
      -- (a string, or function(exec) -> stdout [, stderr]) arrives as data messages, each stream ended by
      -- "", then its exit event; stdin writes are kept in world.stdin[handle] ("" closes it)
      attach = function(self, handle)
        log("agent sup.attach " .. tostring(handle))
        if not world.sandboxes[socket] or not world.sandboxes[socket].running then return nil, "EPIPE: supervisor went away", "EPIPE" end
        if fails["agent sup.attach"] then return nil, fails["agent sup.attach"], "EIO" end
        local ex = sbx.execs and sbx.execs[handle]
        if not ex then return nil, ("no process with handle %s"):format(tostring(handle)), "ENOENT" end
        if ex.attached then return nil, "attached to another connection", "EBUSY" end
        ex.attached = true
        local out, err = opts.exec_output, nil
        if type(out) == "function" then out, err = out(ex) end
        local status = opts.exec_status
        if type(status) == "function" then status = status(ex) end
        local q = self.queue
        for _, m in ipairs({ { "stdout", out }, { "stderr", err } }) do
          if m[2] and m[2] ~= "" then q[#q + 1] = { type = "data", handle = handle, stream = m[1], data = m[2] } end
          q[#q + 1] = { type = "data", handle = handle, stream = m[1], data = "" }
        end
        if status ~= "running" then
          q[#q + 1] = { type = "event", event = "exit", params = { handle = handle, id = ex.id, exec_id = ex.exec_id,
            status = status or 0 } }
        end
        return true
      end,
      read = function(self, timeout)
        local m = table.remove(self.queue, 1)
        if m then return m end
        now = now + (timeout or 0) -- the real one waits that long
        return nil, "no message within the timeout", "ETIMEDOUT"
      end,
      write = function(self, handle, data)
        log("agent write " .. tostring(handle) .. " " .. #data)
        if fails["agent write"] then return nil, fails["agent write"], "EIO" end
        local ex = sbx.execs and sbx.execs[handle]
        if not ex or not ex.attached then return nil, ("process %s is not attached"):format(tostring(handle)), "ENOENT" end
        world.stdin[handle] = world.stdin[handle] or {}
        if world.stdin[handle].closed then return nil, "stdin is closed", "EPIPE" end
        if data == "" then world.stdin[handle].closed = true else table.insert(world.stdin[handle], data) end
        return true
      end,
      queue = {},
    }
  end

  api.sandbox = {
    launch = function(cfg)
      log("sandbox.launch " .. cfg.id)
      if fails["sandbox.launch"] then return nil, fails["sandbox.launch"], "EIO" end
      next_pid = next_pid + 1
      local socket = cfg.dir .. "/sup.sock"
      world.sandboxes[socket] = { id = cfg.id, cfg = cfg, running = true, pid = next_pid }
      alive[next_pid] = true
      return { pid = next_pid, socket = socket, accel = "tcg", boot_ms = 1 }
    end,
    remove_dir = function(dir)
      for p in pairs(world.dirs) do
        if p == dir or p:sub(1, #dir + 1) == dir .. "/" then world.dirs[p] = nil end
      end
      return true
    end,
    connect = function(socket, timeout)
      log("sandbox.connect " .. socket)
      if not world.sandboxes[socket] then
        now = now + (timeout or 0) -- the real one retries until the timeout passes
        return nil, "connect: No such file or directory", "ENOENT"
      end
      return client(socket)
    end,
  }

  api.shim = {
    spawn = function(o)
      log("shim.spawn " .. o.container .. (o.exec_id and (" " .. o.exec_id) or ""))
      if fails["shim.spawn"] then return nil, fails["shim.spawn"], "EIO" end
      next_pid = next_pid + 1
      alive[next_pid] = true
      world.shims[next_pid] = { container = o.container, exec_id = o.exec_id, handle = o.handle, opts = o }
      return next_pid
    end,
    exec = function(o)
      log("shim.exec " .. o.container)
      return nil, "exec: not in a fake", "ENOEXEC"
    end,
  }
  return require("kata.mechanism").attach(api)
end

--- Run command `cmd` of `policy` as production does: through the same read-only, least-privilege api view
--- (kata.api.protect), and -- when the vc module is loadable -- under the same limits: the instruction
--- budget, a deadline and the memory cap with its reserve; a failure rolls the mechanism's undo list back.
--- Returns what kata.runner.run returns.
---@param policy table a loaded policy (kata.policies.load or kata.loader.load_string + extend)
---@param api table from M.api
---@param ctx table from M.ctx
---@param limits table|nil { budget =, deadline =, memory = } (defaults: the runtime's)
function M.run(policy, api, ctx, limits)
  local runner, loader, api_mod = require("kata.runner"), require("kata.loader"), require("kata.api")
  local ok, vc = pcall(require, "vc")
  api.policy = policy
  local view = api_mod.protect(api, ctx)
  if not ok then return runner.run(policy, ctx.command, ctx, view) end
  limits = limits or {}
  runner.limits = vc.limits
  loader.set_limits(vc.limits)
  vc.limits.set_memory(limits.memory or 256 * 1024 * 1024, 16 * 1024 * 1024)
  vc.limits.set_instruction_budget(limits.budget or 1000000000)
  vc.limits.set_deadline(limits.deadline or 300)
  local res, err, trace = runner.run(policy, ctx.command, ctx, view)
  vc.limits.lift()
  vc.limits.set_memory(0)
  runner.limits = nil
  loader.set_limits(nil)
  return res, err, trace
end

--- A command context as vc.cli.parse makes it.
function M.ctx(command, args, options)
  return { command = command, args = args or {}, options = options or {},
    global = { root = "/run/kata", log_format = "text" }, policy = "default" }
end

--- Everything the runtime made in the fake world, as a list of strings (empty: nothing left behind).
function M.leftovers(api)
  local out = {}
  local w = api.world
  for id in pairs(w.states) do out[#out + 1] = "state " .. id end
  for p in pairs(w.mounts) do out[#out + 1] = "mount " .. p end
  for p in pairs(w.netns) do out[#out + 1] = "netns " .. p end
  for m in pairs(w.mirrors or {}) do out[#out + 1] = "mirror " .. m end
  for s in pairs(w.sandboxes) do out[#out + 1] = "sandbox " .. s end
  for pid in pairs(w.shims) do out[#out + 1] = "shim " .. pid end
  for id in pairs(w.containers) do out[#out + 1] = "guest container " .. id end
  for n in pairs(w.locks) do out[#out + 1] = "lock " .. n end
  for p, how in pairs(w.dirs) do if how == "made" and p:match("^/run/kata/") then out[#out + 1] = "dir " .. p end end
  table.sort(out)
  return out
end

return M
