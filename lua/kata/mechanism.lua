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
--- These modules are the runtime's own code: precompiled, never budgeted.
local M = {}

M.NAMESPACES = { "container", "share", "pod", "hooks", "agent", "network", "undo" }

---@param api table primitives: kata.api.new(...) or kata.testing's fakes
---@return table api the same table, with the mechanism namespaces added
function M.attach(api)
  local undo = require("kata.undo").new(api.log)
  api.undo = undo
  api.container = require("kata.container").bind(api, undo)
  api.share = require("kata.share").bind(api, undo)
  api.pod = require("kata.pod").bind(api, undo)
  api.hooks = require("kata.hooks").bind(api, undo)
  api.agent = require("kata.agent").bind(api, undo)
  api.network = require("kata.network").bind(api, undo)
  -- under limits (api.limits: vc.limits), every mechanism function runs as the runtime's own code: no
  -- budget, and the memory reserve, whoever calls it
  local limits = api.limits
  if limits then
    for _, ns in ipairs(M.NAMESPACES) do
      for k, v in pairs(api[ns]) do
        if type(v) == "function" then api[ns][k] = limits.trusted(v) end
      end
    end
  end
  return api
end

return M
