--- An example operator policy: `start` returns only once a readiness command inside the container
--- succeeds. The command and the deadline come from the configuration:
---   policy_settings = { ["ready-check"] = { command = { "test", "-f", "/ready" }, timeout = 30, interval = 0.5 } }
--- On timeout the container is killed and start fails.
local M = { name = "ready-check", extends = "default" }

function M.start(ctx, api)
  api.policy.base.start(ctx, api)
  local s = api.settings
  if not s.command then return true end
  local st = api.container.load(ctx.args[1])
  local sb = assert(api.pod.connect(st))
  local deadline = api.clock.monotonic() + (s.timeout or 30)
  local last
  repeat
    local status, err = api.agent.run(sb, st, s.command, math.max(1, deadline - api.clock.monotonic()))
    if status == 0 then sb:close() return true end
    last = err or ("exit status " .. tostring(status))
    api.clock.sleep(s.interval or 0.5)
  until api.clock.monotonic() >= deadline
  api.agent.signal(sb, st.id, 9, true)
  api.policy.wait_exit(ctx, api, st, sb, 10)
  sb:close()
  error({ msg = ("ready-check: '%s' did not succeed within %g s (%s): the container was killed")
    :format(table.concat(s.command, " "), s.timeout or 30, last) }, 0)
end

return M
