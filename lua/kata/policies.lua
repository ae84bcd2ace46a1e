--- Finds, loads and merges policies. Names are plain words; a policy file is looked up in the runtime's
--- own policy directories first, then in the operator's (runtime.policy_dir), never at a path a bundle
--- names. A pod may pick a policy by annotation only among runtime.allowed_policies.
local loader = require("kata.loader")

local M = {}

M.ANNOTATION = "io.katacontainers.config.runtime.policy"

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

---@param name string
---@param lua_dir string
---@param config table
---@return string|nil path
function M.find(name, lua_dir, config)
  local dirs = { lua_dir .. "/kata/policy", lua_dir .. "/policies", config.runtime.policy_dir }
  for _, dir in ipairs(dirs) do
    local path = dir .. "/" .. name .. ".lua"
    if file_exists(path) then return path end
  end
  return nil
end

--- Load policy `name` and what it extends.
---@return table|nil policy
---@return string|nil err
function M.load(name, lua_dir, config, depth)
  depth = depth or 0
  if type(name) ~= "string" or not name:match("^[%w_-]+$") then
    return nil, ("invalid policy name '%s'"):format(tostring(name))
  end
  if depth > 4 then return nil, ("policy '%s': extends too deep"):format(name) end
  local path = M.find(name, lua_dir, config)
  if not path then return nil, ("policy '%s' not found"):format(name) end
  local policy, err = loader.load_file(path, name)
  if not policy then return nil, err end
  if policy.extends ~= nil then
    local base, berr = M.load(policy.extends, lua_dir, config, depth + 1)
    if not base then return nil, ("policy '%s': %s"):format(name, berr) end
    policy = loader.extend(policy, base)
  end
  return policy
end

--- Which policy a command uses: the one recorded when the container was created, else the one the
--- bundle's annotation asks for (create/run), else the configured default.
---@param config table
---@param requested string|nil
---@return string|nil name
---@return string|nil err
function M.choose(config, requested)
  local default = config.runtime.policy
  if requested == nil or requested == default then return default end
  for _, allowed in ipairs(config.runtime.allowed_policies) do
    if allowed == requested then return requested end
  end
  return nil, ("policy '%s' is not in runtime.allowed_policies"):format(requested)
end

return M
