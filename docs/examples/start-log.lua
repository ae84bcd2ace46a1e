--- An operator's policy (the example of docs/policy-guide.md): the default lifecycle, with a log line
--- before each start and a refusal of containers that ask for a terminal.
local M = { name = "start-log", extends = "default" }

function M.start(ctx, api)
  api.log.info("start of %s requested", ctx.args[1])
  return api.policy.base.start(ctx, api)
end

function M.validate(ctx, api, config)
  if config.process and config.process.terminal then return nil, "this node runs no containers with a terminal" end
  return api.policy.base.validate(ctx, api, config)
end

return M
