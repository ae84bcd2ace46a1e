--- Loads policy scripts: text only (never bytecode), into a fresh environment built from an allowlist,
--- with globals locked (reading or writing an undeclared global raises). A policy reaches the outside
--- world only through the `api` argument its functions receive.
local M = {}

--- vc.limits when policies run under limits (M.set_limits: kata.main and kata.testing).
M.limits = nil

-- kata.pattern, loaded when policy code first matches a pattern (most commands never do). It is loaded as
-- the runtime's own code: outside the limits, where a pattern call made while loading goes to the C one.
local pattern
local function load_pattern()
  local limits = M.limits
  pattern = limits and limits.trusted(require)("kata.pattern") or require("kata.pattern")
  return pattern
end
local function lua_pattern(f)
  return function(...) return (pattern or load_pattern())[f](...) end
end

-- Work a policy could make the C library do in one call, where no hook sees it: pattern matching goes to
-- kata.pattern (counted like any Lua code), and a sort always calls a Lua comparison.
local PATTERN_FUNCS = { "find", "match", "gmatch", "gsub" }
local real_sort = table.sort
local function lt(a, b) return a < b end
local function bounded_sort(t, cmp) return real_sort(t, cmp or lt) end

local SAFE_GLOBALS = {
  "assert", "error", "ipairs", "pairs", "next", "pcall", "xpcall", "select", "type", "tostring",
  "tonumber", "rawequal", "rawlen", "setmetatable",
}
local SAFE_LIBS = { "string", "table", "math", "utf8" }

local function readonly(t, name)
  return setmetatable({}, {
    __index = t,
    __newindex = function(_, k) error(("attempt to modify read-only table '%s' (key '%s')"):format(name, tostring(k)), 2) end,
    __len = function() return #t end,
    __pairs = function() return next, t, nil end,
    __metatable = false,
  })
end

-- The libraries a policy sees, read-only and so shared by every policy of the state: made once.
local libs

--- A fresh environment for one policy script.
---@return table
function M.env()
  if not libs then
    libs = {}
    for _, lib in ipairs(SAFE_LIBS) do
      local copy = {}
      for k, v in pairs(_G[lib]) do copy[k] = v end
      if lib == "string" then
        copy.dump = nil
        for _, f in ipairs(PATTERN_FUNCS) do copy[f] = lua_pattern(f) end
      end
      if lib == "table" then copy.sort = bounded_sort end
      libs[lib] = readonly(copy, lib)
    end
    libs.os = readonly({ time = os.time, clock = os.clock, date = os.date }, "os")
  end
  local env = {}
  for _, k in ipairs(SAFE_GLOBALS) do env[k] = _G[k] end
  for k, v in pairs(libs) do env[k] = v end
  env._G = env
  return setmetatable(env, {
    __index = function(_, k) error(("undeclared global '%s'"):format(tostring(k)), 2) end,
    __newindex = function(_, k) error(("assignment to undeclared global '%s'"):format(tostring(k)), 2) end,
    __metatable = false,
  })
end

-- `("").dump` reaches the real string table through the string metatable: remove it once per state.
string.dump = nil

-- Method calls (`s:match(p)`) reach the string table through the string metatable, shared by the whole
-- state: its __index dispatches the pattern functions to kata.pattern while policy code runs under limits.
do
  -- once per state (this module may be loaded again, as busted does per spec file): the dispatch table
  -- itself holds the limits
  local smt = getmetatable("")
  if type(smt.__index) == "table" and not rawget(smt.__index, "__kata_dispatch") then
    local real = smt.__index
    local index = setmetatable({ __kata_dispatch = {} }, { __index = real })
    local state = index.__kata_dispatch
    for _, f in ipairs(PATTERN_FUNCS) do
      local c, lua = real[f], lua_pattern(f)
      index[f] = function(...)
        local l = state.limits
        if l and l.active() then return lua(...) end
        return c(...)
      end
    end
    smt.__index = index
  end
end

--- Run policies under `limits` (vc.limits; nil: none).
function M.set_limits(limits)
  M.limits = limits
  rawget(getmetatable("").__index, "__kata_dispatch").limits = limits
end

--- Load a policy from a file.
---@param path string
---@param name string used in the chunk name: "=policy/<name>"
---@return table|nil policy
---@return string|nil err
---@param precompiled string|nil the runtime's own precompiled chunk of this file (never an operator's): used
---       when it is at least as new as the source
function M.load_file(path, name, precompiled)
  if precompiled then
    local vc = require("vc")
    local bs, ss = vc.fs.stat(precompiled), vc.fs.stat(path)
    if bs and (not ss or ss.mtime <= bs.mtime) then
      local f = io.open(precompiled, "rb")
      if f then
        local bytes = f:read("a")
        f:close()
        local policy = M.load_string(bytes, name, "b")
        if policy then return policy end
      end
    end
  end
  local f, err = io.open(path, "r")
  if not f then return nil, ("policy '%s': %s"):format(name, err) end
  local src = f:read("a")
  f:close()
  return M.load_string(src, name)
end

---@param src string
---@param name string
---@param mode string|nil "t" (the default: text only); "b" only for the runtime's own precompiled chunks
---@return table|nil policy
---@return string|nil err
function M.load_string(src, name, mode)
  local chunk, err = load(src, "=policy/" .. name, mode or "t", M.env())
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
