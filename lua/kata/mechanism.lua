--- The mechanism layer: how each lifecycle step is done, between the primitives (the `vc` module, or
--- fakes in specs) and a policy (which only orders steps and decides). `attach` binds the mechanism
--- modules to one command's primitives and adds them to its `api`:
---
---   api.container  state schema, OCI state, bundle, shim, lock, output (kata.container)
---   api.share      a container's files in the sandbox's share (kata.share)
---   api.pod        the sandbox VM: directory, netns, launch, connect, teardown (kata.pod)
---   api.hooks      the runtime spec's hooks (kata.hooks)
---   api.agent      typed calls to the guest agent (kata.agent)
---   api.network    the sandbox's interfaces mirrored into the guest (kata.network)
---   api.undo       the command's undo list (kata.undo); the runner rolls it back when the command fails
---
--- These modules are the runtime's own code: precompiled, never budgeted. A namespace is loaded and bound
--- on its first use, so a command pays only for the modules it uses (`state` loads kata.container alone).
local M = {}

M.NAMESPACES = { "container", "share", "pod", "hooks", "agent", "network", "undo" }

local MODULES = {
  container = "kata.container", share = "kata.share", pod = "kata.pod", hooks = "kata.hooks",
  agent = "kata.agent", network = "kata.network",
}

--- Bind namespace `ns` of api: load its module, bind it to api and the undo list and, under limits
--- (api.limits: vc.limits), make every function run as the runtime's own code: no budget, and the memory
--- reserve, whoever calls it.
local function bind(api, ns)
  local t
  if ns == "undo" then
    t = require("kata.undo").new(api.log)
  else
    t = require(MODULES[ns]).bind(api, api.undo)
  end
  local limits = rawget(api, "limits")
  if limits then
    for k, v in next, t do -- raw: a namespace may bind more of itself on first use (kata.container)
      if type(v) == "function" then t[k] = limits.trusted(v) end
    end
  end
  rawset(api, ns, t)
  return t
end

---@param api table primitives: kata.api.new(...) or kata.testing's fakes
---@return table api the same table; the mechanism namespaces appear on first access
function M.attach(api)
  local mt = getmetatable(api) or {}
  local parent = mt.__index
  mt.__index = function(t, k)
    if k == "undo" or MODULES[k] then
      -- first used from policy code, perhaps: loading and binding are the runtime's work, not the policy's
      local limits = rawget(t, "limits")
      if limits then return limits.trusted(bind)(t, k) end
      return bind(t, k)
    end
    if type(parent) == "function" then return parent(t, k) end
    if type(parent) == "table" then return parent[k] end
    return nil
  end
  return setmetatable(api, mt)
end

--- Whether `k` is a mechanism namespace (bound on first access).
function M.is_namespace(k) return k == "undo" or MODULES[k] ~= nil end

return M
