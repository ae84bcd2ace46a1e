--- An example operator policy: the default lifecycle plus one JSON line in the runtime log per command --
--- every command, `state`, `ps` and `events` included -- with its duration and outcome. A foreground
--- `exec` becomes the process it runs, so its line is written when the process is handed over.
local M = { name = "audit", extends = "default" }

local COMMANDS = { "create", "start", "state", "list", "kill", "delete", "exec", "ps", "pause", "resume", "events", "run" }

local function line(api, cmd, ctx, t0, outcome, err)
  api.log.info("%s", api.json.encode({ audit = cmd, id = ctx.args[1] or "", outcome = outcome, error = err,
    duration_ms = math.floor((api.clock.monotonic() - t0) * 1000 + 0.5) }))
end

for _, cmd in ipairs(COMMANDS) do
  M[cmd] = function(ctx, api)
    local t0 = api.clock.monotonic()
    if cmd == "exec" and not ctx.options.detach then line(api, cmd, ctx, t0, "handed over") end
    local ok, res, err = pcall(api.policy.base[cmd], ctx, api)
    if not ok or res == nil then
      local msg = not ok and (type(res) == "table" and res.msg or tostring(res)) or tostring(err)
      line(api, cmd, ctx, t0, "failed", msg)
      if not ok then error(res, 0) end
      return nil, err
    end
    line(api, cmd, ctx, t0, "ok")
    return res
  end
end

return M
