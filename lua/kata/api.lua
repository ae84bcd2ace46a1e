--- Builds `api`, the primitives a policy receives: the `vc` module bound to this invocation (root
--- directory, configuration, log fields). Specs build their own `api` from fakes with the same shape
--- (spec/helpers/fakes.lua).
local vc = require("vc")

local M = {}

local function fmt(s, ...)
  if select("#", ...) == 0 then return tostring(s) end
  return string.format(s, ...)
end

--- RFC 3339 UTC time with nanoseconds, as Go's time.Time marshals it (engines parse `created`).
local function now()
  local t = vc.clock and vc.clock.realtime and vc.clock.realtime() or nil
  if t then
    return os.date("!%Y-%m-%dT%H:%M:%S", t.sec) .. string.format(".%09dZ", t.nsec)
  end
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

--- A short, stable name for a long id (16 hex digits): sandbox directories and namespaces are named by it.
M.digest = vc.id.digest

--- The directory of sandbox `sid` under state root `root`. Sandbox ids may be 1024 bytes but unix socket
--- paths only 108: the directory is named by a digest.
function M.sandbox_dir(root, sid) return root .. "/.sandbox/" .. M.digest(sid) end

--- Read a whole file: its text, or nil, the error and "ENOENT".
function M.read_file(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err, "ENOENT" end
  local s = f:read("a")
  f:close()
  return s
end

---@param ctx table the parsed command line
---@param config table the effective configuration
---@param record table|nil the record of container ctx.args[1], just read (kata.main reads it to find its
---       policy): the command's first api.state.load of it returns this one instead of reading it again,
---       unless a lock, save or remove came first
---@return table api
function M.new(ctx, config, record)
  local root = ctx.global.root
  local api = {
    root = root,
    config = config,
    now = now,
    json = vc.json,
    signal = vc.signal,
    id = vc.id,
    oci = vc.oci,
    proc = vc.proc,
    fs = vc.fs,
    sharefs = vc.share,
    purge = vc.purge,
    hook = vc.hook,
    netns = vc.netns,
    net = vc.net,
    sandbox = vc.sandbox,
    shim = vc.shim,
    hypervisor = vc.hypervisor,
    clock = vc.clock,
    limits = vc.limits, -- the mechanism's; never in a policy's view (M.protect)
    -- the running policy's own section of the configuration (policy_settings[<name>])
    settings = (config.policy_settings or {})[ctx.policy] or {},
  }

  api.log = {
    error = function(s, ...) vc.log.write("error", fmt(s, ...)) end,
    warn = function(s, ...) vc.log.write("warning", fmt(s, ...)) end,
    info = function(s, ...) vc.log.write("info", fmt(s, ...)) end,
    debug = function(s, ...) vc.log.write("debug", fmt(s, ...)) end,
    field = function(k, v) vc.log.set_field(k, v) end,
  }

  api.digest = M.digest
  --- The command line of this runtime running `...` with the same --root, --config, --log and --debug (a
  --- process the runtime starts of itself: the background teardown).
  api.self_command = function(...)
    local g = ctx.global
    local exe, err, code = vc.fs.realpath("/proc/self/exe")
    if not exe then return nil, err, code end
    local argv = { exe, "--root", root }
    if g.config then argv[#argv + 1] = "--config"; argv[#argv + 1] = g.config end
    if g.log then
      for _, a in ipairs({ "--log", g.log, "--log-format", g.log_format or "text" }) do argv[#argv + 1] = a end
    end
    if g.debug then argv[#argv + 1] = "--debug" end
    for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
    return argv
  end
  api.out = function(s) io.stdout:write(s) end
  api.errout = function(s) io.stderr:write(s) end

  local prefetched = record and ctx.args and ctx.args[1] and { id = ctx.args[1], st = record } or nil
  api.state = {
    load = function(id)
      local p = prefetched
      prefetched = nil
      if p and p.id == id then return p.st end
      return vc.state.load(root, id)
    end,
    save = function(id, st) prefetched = nil; return vc.state.save(root, id, st) end,
    remove = function(id) prefetched = nil; return vc.state.remove(root, id) end,
    list = function() return vc.state.list(root) end,
  }

  --- Take the sandbox's lock; waits up to runtime.lock_timeout seconds.
  api.lock = function(name, timeout_s)
    prefetched = nil -- what is read from here on is read under the lock
    local t = timeout_s or config.runtime.lock_timeout or 120
    return vc.lock.acquire(root, name, math.floor(t * 1000))
  end

  api.paths = {
    container = function(id) return root .. "/" .. id end,
    sandbox = function(sid) return M.sandbox_dir(root, sid) end,
    netns_dir = root .. "/.netns",
  }

  --- Read a whole file (the bundle's config.json, a process.json).
  api.read_file = M.read_file

  -- the test suite's fault injection (kata.fault): counts this command's steps and acts at one; the module
  -- loads only when its variable (kata.fault.VARIABLE) is set
  local fault = os.getenv("KATA_FAULT")
  if fault and fault ~= "" then
    local f = require("kata.fault")
    local spec, err = f.parse(fault)
    if not spec then error({ msg = err }, 0) end
    if spec.command == ctx.command then f.arm(api, spec, ctx.global.debug) end
  end

  return require("kata.mechanism").attach(api)
end

-- Least privilege: what a policy's view of api leaves out (the mechanism does these, with its own
-- checks) and what it confines.
local HIDDEN = { limits = true }
local HIDDEN_IN = {
  -- waiting for a container's life is api.container.wait_exit (outside the deadline); the background
  -- teardown is api.pod.teardown_later's
  proc = { wait = true, spawn_detached = true },
  sandbox = { launch = true }, -- api.pod.launch: only the configured qemu, virtiofsd and supervisor
  netns = { create = true, delete = true }, -- api.pod.prepare and teardown
  hook = { run = true, run_all = true }, -- api.hooks.run: only the container's own hooks
}
local FS_WRITES = { "atomic_write", "mkdir_p", "rmdir", "unlink", "bind", "umount", "make_shared" }

local function under(path, dirs)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then return false end
  for seg in path:gmatch("[^/]+") do if seg == ".." or seg == "." then return false end end
  for _, d in pairs(dirs) do -- pairs: entries may be nil
    if d and (path == d or path:sub(1, #d + 1) == d .. "/") then return true end
  end
  return false
end

--- A table that shows `t` without the keys in `hidden` and with `extra[k]` in place of `t[k]`: resolved on
--- each access, so nothing of `t` is copied (or, for api, loaded) before a policy asks for it.
local function filtered(t, hidden, extra)
  return setmetatable({}, {
    __index = function(_, k)
      if hidden[k] then return nil end
      local e = extra[k]
      if e ~= nil then return e end
      return t[k]
    end,
    __pairs = function()
      local k
      return function()
        repeat
          k = next(t, k)
        until k == nil or not hidden[k]
        if k == nil then return nil end
        local e = extra[k]
        if e ~= nil then return k, e end
        return k, t[k]
      end
    end,
  })
end

--- The api a policy gets: file writes confined to --root and the bundle, reads to those and --process,
--- signals to the runtime's own processes (the shims and supervisors its states record), connections to
--- sockets under --root; VM launch, namespaces and hooks only through the mechanism. A proxy: each name is
--- looked up in api when the policy uses it.
---@param api table
---@param ctx table the command line
function M.policy_view(api, ctx)
  local bundle
  local function dirs(...)
    if bundle == nil then
      bundle = ctx.options and ctx.options.bundle and api.fs.realpath(ctx.options.bundle) or false
    end
    return { api.root, bundle or nil, ... }
  end
  local function confined_fs()
    local fs = {}
    for _, name in ipairs(FS_WRITES) do
      local f = api.fs[name]
      if f then
        fs[name] = function(path, ...)
          local target = name == "bind" and select(1, ...) or path
          if not under(target, dirs()) then
            return nil, ("'%s': a policy may write only under --root and the bundle"):format(tostring(target)), "EPERM"
          end
          return f(path, ...)
        end
      end
    end
    return filtered(api.fs, {}, fs)
  end
  local function read_file(path)
    if not under(path, dirs(ctx.options and ctx.options.process)) then
      return nil, ("'%s': a policy may read only under --root and the bundle"):format(tostring(path)), "EPERM"
    end
    return api.read_file(path)
  end
  local function kill(pid, sig)
    for _, id in ipairs(api.state.list() or {}) do
      local st = api.state.load(id)
      local rt = st and st.runtime or {}
      if pid == rt.shim_pid or pid == rt.supervisor_pid then return api.proc.kill(pid, sig) end
    end
    return nil, ("pid %s: a policy may signal only the runtime's own processes"):format(tostring(pid)), "EPERM"
  end
  local function connect(socket, ...)
    if not under(socket, { api.root }) then
      return nil, ("'%s': a policy may connect only to sockets under --root"):format(tostring(socket)), "EPERM"
    end
    return api.sandbox.connect(socket, ...)
  end
  local EXTRA_IN = { proc = { kill = kill }, sandbox = { connect = connect } }
  local NONE = {}
  local made = {}
  local build = {
    fs = confined_fs,
    read_file = function() return read_file end,
  }
  for ns, hidden in pairs(HIDDEN_IN) do
    build[ns] = function() return filtered(api[ns], hidden, EXTRA_IN[ns] or NONE) end
  end
  local extra = setmetatable({}, {
    __index = function(_, k)
      local b = build[k]
      if not b or api[k] == nil then return nil end
      local v = made[k]
      if v == nil then v = b(); made[k] = v end
      return v
    end,
  })
  return filtered(api, HIDDEN, extra)
end

--- A read-only view of api for operator policies: M.policy_view, with tables proxied so writes raise.
--- Tables are wrapped when they are reached, not copied up front.
function M.protect(api, ctx)
  local seen = setmetatable({}, { __mode = "k" })
  local function wrap(t, name)
    if type(t) ~= "table" then return t end
    local p = seen[t]
    if p then return p end
    local function get(k)
      local v = t[k]
      if type(v) == "table" then return wrap(v, name .. "." .. tostring(k)) end
      return v
    end
    p = setmetatable({}, {
      __index = function(_, k) return get(k) end,
      __newindex = function(_, k)
        error(("attempt to modify read-only table '%s' (key '%s')"):format(name, tostring(k)), 2)
      end,
      __len = function() return #t end,
      __pairs = function()
        local f, s, k = pairs(t)
        return function()
          local v
          k, v = f(s, k)
          if k == nil then return nil end
          if type(v) == "table" then v = wrap(v, name .. "." .. tostring(k)) end
          return k, v
        end
      end,
      __metatable = false,
    })
    seen[t] = p
    return p
  end
  return wrap(ctx and M.policy_view(api, ctx) or api, "api")
end

return M
