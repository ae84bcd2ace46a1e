--- Finds, checks, loads and merges policies. Names are plain words. The runtime's own policies live in
--- its Lua directory (kata/policy, then the shipped examples in policies/); an operator's in
--- runtime.policy_dir, which must be root's: a policy file and its directory must be owned by root and
--- not writable by group or others (as sudo and systemd require of their drop-ins), and an operator file
--- may not take the name of a shipped policy. A bundle never names a path. A pod may pick a policy by
--- annotation only among runtime.allowed_policies (the configured policy is always allowed).
local loader = require("kata.loader")
local vc = require("vc")

local M = {}

--- The runtime's precompiled chunks (set by kata.main); only its built-in policies are taken from there.
M.luac_dir = nil

M.ANNOTATION = "io.katacontainers.config.runtime.policy"

--- The runtime's own policy directories, in lookup order.
function M.shipped_dirs(lua_dir) return { lua_dir .. "/kata/policy", lua_dir .. "/policies" } end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

--- Whether an operator's policy file may be loaded: it and its directory are root's and nobody else can
--- write them. Returns true, or nil and why not.
---@param path string
function M.check_trust(path)
  local real, rerr = vc.fs.realpath(path)
  if not real then return nil, rerr end
  for _, p in ipairs({ real, dirname(real) }) do
    local st, err = vc.fs.stat(p)
    if not st then return nil, err end
    if st.uid ~= 0 then return nil, ("'%s' is owned by uid %d, not root"):format(p, st.uid) end
    if st.mode & 18 ~= 0 then return nil, ("'%s' is writable by group or others (mode %04o)"):format(p, st.mode) end
  end
  return true
end

---@param name string
---@param lua_dir string
---@param config table
---@return string|nil path
---@return boolean|string shipped, or the error when there is no usable file
function M.find(name, lua_dir, config)
  local shipped
  for _, dir in ipairs(M.shipped_dirs(lua_dir)) do
    local path = dir .. "/" .. name .. ".lua"
    if vc.fs.stat(path) then shipped = path break end
  end
  local dir = config.runtime.policy_dir
  local own = dir and dir .. "/" .. name .. ".lua"
  if own and not vc.fs.stat(own) then own = nil end
  if shipped and own then
    return nil, ("policy '%s': '%s' has the name of a policy the runtime ships: rename it"):format(name, own)
  end
  if shipped then return shipped, true end
  if not own then return nil, ("policy '%s' not found"):format(name) end
  local ok, why = M.check_trust(own)
  if not ok then return nil, ("policy '%s': refusing an unsafe policy file: %s"):format(name, why) end
  return own, false
end

--- Load policy `name` and what it extends.
---@return table|nil policy
---@return string|table err, or the chain: { { name =, path =, shipped = }, ... } from `name` to its last base
function M.load(name, lua_dir, config, depth)
  depth = depth or 0
  if type(name) ~= "string" or not name:match("^[%w_-]+$") then
    return nil, ("invalid policy name '%s'"):format(tostring(name))
  end
  if depth > 4 then return nil, ("policy '%s': extends too deep"):format(name) end
  local path, shipped = M.find(name, lua_dir, config)
  if not path then return nil, shipped end
  local precompiled
  if M.luac_dir and path == lua_dir .. "/kata/policy/" .. name .. ".lua" then
    precompiled = M.luac_dir .. "/kata/policy/" .. name .. ".luac"
  end
  local policy, err = loader.load_file(path, name, precompiled)
  if not policy then return nil, err end
  local chain = { { name = name, path = path, shipped = shipped } }
  if policy.extends ~= nil then
    local base, bchain = M.load(policy.extends, lua_dir, config, depth + 1)
    if not base then return nil, ("policy '%s': %s"):format(name, bchain) end
    policy = loader.extend(policy, base)
    for _, c in ipairs(bchain) do chain[#chain + 1] = c end
  end
  return policy, chain
end

--- A digest of the source files of a loaded chain (kata.policies.load's second result): what a container
--- was created under, pinned in its state.
function M.digest(chain)
  local parts = {}
  for _, c in ipairs(chain) do
    local f = io.open(c.path, "rb")
    -- vc.id.digest reads a C string: a NUL in a file would end it, so NULs are written out
    parts[#parts + 1] = c.name .. "\n" .. (f and f:read("a") or ""):gsub("%z", "\\0")
    if f then f:close() end
  end
  return vc.id.digest(table.concat(parts, "\n"))
end

--- Whether containers may use policy `name`: the configured one, or one of runtime.allowed_policies.
function M.allowed(config, name)
  if name == config.runtime.policy then return true end
  for _, a in ipairs(config.runtime.allowed_policies or {}) do
    if a == name then return true end
  end
  return false
end

--- Which policy a new container uses: the one its annotation asks for, if allowed, else the configured one.
---@param config table
---@param requested string|nil
---@return string|nil name
---@return string|nil err
function M.choose(config, requested)
  if requested == nil then return config.runtime.policy end
  if M.allowed(config, requested) then return requested end
  return nil, ("policy '%s' is not in runtime.allowed_policies"):format(requested)
end

--- Refuse a bundle's runtime-configuration annotations (io.katacontainers.config.*) that
--- runtime.allowed_annotations does not list.
---@return boolean|nil ok
---@return string|nil err
function M.check_annotations(config, annotations)
  local allowed = {}
  for _, a in ipairs(config.runtime.allowed_annotations or {}) do allowed[a] = true end
  for k in pairs(annotations or {}) do
    if type(k) == "string" and k:sub(1, 25) == "io.katacontainers.config." and not allowed[k] then
      return nil, ("annotation '%s' is not in runtime.allowed_annotations"):format(k)
    end
  end
  return true
end

return M
