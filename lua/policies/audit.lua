--- An example operator policy: the default lifecycle, plus one audit line per command with its outcome.
--- Select it with runtime.policy = "audit" in the configuration, or allow pods to pick it by annotation
--- (runtime.allowed_policies). It shows the usual shape: extend "default", wrap what you need.
local M = { name = "audit", extends = "default" }

local COMMANDS = { "create", "start", "kill", "delete", "exec", "pause", "resume", "run" }

for _, cmd in ipairs(COMMANDS) do
  M[cmd] = function(ctx, api)
    local id = ctx.args[1] or "-"
    api.log.info("audit: %s %s requested", cmd, id)
    local ok, res, err = pcall(api.policy.base[cmd], ctx, api)
    if not ok then
      api.log.warn("audit: %s %s failed: %s", cmd, id, type(res) == "table" and res.msg or tostring(res))
      error(res, 0)
    end
    if res == nil then
      api.log.warn("audit: %s %s failed: %s", cmd, id, tostring(err))
      return nil, err
    end
    api.log.info("audit: %s %s done", cmd, id)
    return res
  end
end

return M
