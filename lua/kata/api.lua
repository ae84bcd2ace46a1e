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

---@param ctx table the parsed command line
---@param config table the effective configuration
---@return table api
function M.new(ctx, config)
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
  }

  api.log = {
    error = function(s, ...) vc.log.write("error", fmt(s, ...)) end,
    warn = function(s, ...) vc.log.write("warning", fmt(s, ...)) end,
    info = function(s, ...) vc.log.write("info", fmt(s, ...)) end,
    debug = function(s, ...) vc.log.write("debug", fmt(s, ...)) end,
    field = function(k, v) vc.log.set_field(k, v) end,
  }

  api.digest = M.digest
  api.out = function(s) io.stdout:write(s) end
  api.errout = function(s) io.stderr:write(s) end

  api.state = {
    load = function(id) return vc.state.load(root, id) end,
    save = function(id, st) return vc.state.save(root, id, st) end,
    remove = function(id) return vc.state.remove(root, id) end,
    list = function() return vc.state.list(root) end,
  }

  --- Take the sandbox's lock; waits up to runtime.lock_timeout seconds.
  api.lock = function(name, timeout_s)
    local t = timeout_s or config.runtime.lock_timeout or 120
    return vc.lock.acquire(root, name, math.floor(t * 1000))
  end

  api.paths = {
    container = function(id) return root .. "/" .. id end,
    -- sandbox ids may be 1024 bytes but unix socket paths only 108: name the directory by a digest
    sandbox = function(sid) return root .. "/.sandbox/" .. M.digest(sid) end,
    netns_dir = root .. "/.netns",
  }

  --- Read a whole file (the bundle's config.json, a process.json).
  api.read_file = function(path)
    local f, err = io.open(path, "r")
    if not f then return nil, err, "ENOENT" end
    local s = f:read("a")
    f:close()
    return s
  end

  return require("kata.mechanism").attach(api)
end

--- A read-only view of api for operator policies: tables are proxied, writes raise.
function M.protect(api)
  local loader = require("kata.loader")
  local seen = {}
  local function wrap(t, name)
    if type(t) ~= "table" then return t end
    if seen[t] then return seen[t] end
    local inner = {}
    for k, v in pairs(t) do
      inner[k] = type(v) == "table" and wrap(v, name .. "." .. tostring(k)) or v
    end
    local p = loader.readonly(inner, name)
    seen[t] = p
    return p
  end
  return wrap(api, "api")
end

return M
