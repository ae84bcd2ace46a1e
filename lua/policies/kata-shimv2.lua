--- An example operator policy: hook failures as Kata Containers' shim v2 treats them -- a failing
--- poststart or poststop hook is logged as a warning and the container goes on, instead of failing
--- `start` and stopping the container as the runtime spec (1.3) and the default policy do.
local M = { name = "kata-shimv2", extends = "default" }

M.hook_failure = {
  prestart = "fail", createRuntime = "fail", createContainer = "fail", startContainer = "fail",
  poststart = "warn", poststop = "warn",
}

function M.on_poststart_failure(ctx, api, st, sb, err)
  api.log.warn("poststart hook failed, the container keeps running: %s", err)
  return true
end

return M
