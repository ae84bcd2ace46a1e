--- An example operator policy: a failing poststart hook is logged as a warning and the container keeps
--- running (the behaviour of OCI runtime-spec versions before 1.3 and of many runtimes), instead of
--- failing `start` and stopping the container as the default policy does.
local M = { name = "lenient-poststart", extends = "default" }

M.hook_failure = {
  prestart = "fail", createRuntime = "fail", createContainer = "fail", startContainer = "fail",
  poststart = "warn", poststop = "warn",
}

return M
