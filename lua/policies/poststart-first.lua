--- An example operator policy that reorders `start`: poststart hooks run before the container's process
--- is released (a network or registration step the workload needs at its first instruction), and a
--- failing one leaves the container created, not started.
local M = { name = "poststart-first", extends = "default" }

local function hooks(ctx, api, st, kind, status)
  local ok, err = api.policy.run_hooks(ctx, api, kind, api.hooks.list(st, kind), api.hooks.state(st, status),
    st.runtime.netns, st.bundle)
  if not ok and api.policy.hook_failure[kind] ~= "warn" then error({ msg = err }, 0) end
end

function M.start(ctx, api)
  local st = api.container.load(ctx.args[1])
  local lock = api.container.lock(st.runtime.sandbox_id)
  local status = api.policy.status(ctx, api, st)
  if status ~= "created" then error({ msg = ("cannot start a %s container"):format(status) }, 0) end
  hooks(ctx, api, st, "startContainer", "created")
  hooks(ctx, api, st, "poststart", "created")
  local sb = assert(api.pod.connect(st))
  local ok, err = api.agent.start_container(sb, st.id)
  if not ok then error({ msg = "start container: " .. tostring(err) }, 0) end
  st.status = "running"
  api.container.save(st)
  sb:close()
  lock:release()
  return true
end

return M
