--- Loads policy scripts: text only (never bytecode), into a fresh environment built from an allowlist,
--- with globals locked (reading or writing an undeclared global raises). A policy reaches the outside
--- world only through the `api` argument its functions receive.
local M = {}

local SAFE_GLOBALS = {
  "assert", "error", "ipairs", "pairs", "next", "pcall", "xpcall", "select", "type", "tostring",
  "tonumber", "rawequal", "rawlen", "setmetatable",
}
local SAFE_LIBS = { "string", "table", "math", "utf8" }

local function readonly(t, name)
  return setmetatable({}, {
    __index = t,
    __newindex = function(_, k) error(("attempt to modify read-only table '%s' (key '%s')"):format(name, tostring(k)), 2) end,
    __metatable = false,
  })
end

--- A fresh environment for one policy script.
---@return table
function M.env()
  local env = {}
  for _, k in ipairs(SAFE_GLOBALS) do env[k] = _G[k] end
  for _, lib in ipairs(SAFE_LIBS) do
    local copy = {}
    for k, v in pairs(_G[lib]) do copy[k] = v end
    if lib == "string" then copy.dump = nil end
    env[lib] = readonly(copy, lib)
  end
  env.os = readonly({ time = os.time, clock = os.clock, date = os.date }, "os")
  env._G = env
  return setmetatable(env, {
    __index = function(_, k) error(("undeclared global '%s'"):format(tostring(k)), 2) end,
    __newindex = function(_, k) error(("assignment to undeclared global '%s'"):format(tostring(k)), 2) end,
    __metatable = false,
  })
end

-- `("").dump` reaches the real string table through the string metatable: remove it once per state.
string.dump = nil

--- Load a policy from a file.
---@param path string
---@param name string used in the chunk name: "=policy/<name>"
---@return table|nil policy
---@return string|nil err
function M.load_file(path, name)
  local f, err = io.open(path, "r")
  if not f then return nil, ("policy '%s': %s"):format(name, err) end
  local src = f:read("a")
  f:close()
  return M.load_string(src, name)
end

---@param src string
---@param name string
---@return table|nil policy
---@return string|nil err
function M.load_string(src, name)
  local chunk, err = load(src, "=policy/" .. name, "t", M.env())
  if not chunk then return nil, ("policy '%s': %s"):format(name, err) end
  local ok, policy = pcall(chunk)
  if not ok then return nil, ("policy '%s': %s"):format(name, tostring(policy)) end
  if type(policy) ~= "table" then
    return nil, ("policy '%s': must return a table of functions"):format(name)
  end
  policy.name = policy.name or name
  return policy
end

--- Merge a policy over the one it extends: its functions win, the rest come from the base.
--- `policy.base` is the base, so an override can call the function it replaces.
---@param policy table
---@param base table
---@return table
function M.extend(policy, base)
  local merged = {}
  for k, v in pairs(base) do merged[k] = v end
  for k, v in pairs(policy) do merged[k] = v end
  merged.base = base
  merged.name = policy.name
  return merged
end

M.readonly = readonly

return M
