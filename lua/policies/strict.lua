--- An example operator policy: refuse privileged configurations before anything is made -- the
--- capability CAP_SYS_ADMIN, a bind mount of the host's / or of the docker socket, a container that would
--- share a host namespace (a pod's own namespaces by path are fine). Select it with runtime.policy =
--- "strict".
local M = { name = "strict", extends = "default" }

local SOCKETS = { ["/var/run/docker.sock"] = true, ["/run/docker.sock"] = true }
local OWN = { "pid", "ipc", "uts", "mount", "network" } -- namespaces a container must have of its own

function M.validate(ctx, api, config)
  api.policy.base.validate(ctx, api, config)
  for set, caps in pairs(config.process.capabilities or {}) do
    for _, c in ipairs(caps) do
      if c == "CAP_SYS_ADMIN" then error({ msg = ("strict: process.capabilities.%s: CAP_SYS_ADMIN is refused"):format(set) }, 0) end
    end
  end
  for i, m in ipairs(config.mounts or {}) do
    local src = type(m.source) == "string" and m.source or ""
    if src:match("^/+$") or SOCKETS[(src:gsub("/+$", ""))] then
      error({ msg = ("strict: mounts[%d]: binding '%s' from the host is refused"):format(i - 1, m.source) }, 0)
    end
  end
  local have = {}
  for _, ns in ipairs(config.linux and config.linux.namespaces or {}) do have[ns.type] = true end
  for _, t in ipairs(OWN) do
    if not have[t] then error({ msg = ("strict: linux.namespaces: the host's %s namespace is refused"):format(t) }, 0) end
  end
  return true
end

return M
