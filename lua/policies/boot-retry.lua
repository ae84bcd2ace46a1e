--- An example operator policy: a sandbox VM that fails to boot is tried once more with another kernel,
--- firmware ("" for QEMU's own) and/or memory size from the configuration, then create fails with both errors:
---   policy_settings = { ["boot-retry"] = { kernel = "/path/to/other/vmlinuz", memory_mib = 512 } }
local M = { name = "boot-retry", extends = "default" }

function M.on_launch_failure(ctx, api, st, vm, plan, err)
  local s = api.settings
  local retry = {}
  for k, v in pairs(vm) do retry[k] = v end
  retry.kernel = s.kernel or vm.kernel
  retry.initrd = s.initrd or vm.initrd
  retry.firmware = s.firmware or vm.firmware
  retry.memory_mib = s.memory_mib or vm.memory_mib
  api.log.warn("boot-retry: the sandbox VM did not boot (%s); trying kernel '%s' with %d MiB", err, retry.kernel, retry.memory_mib)
  local info, err2 = api.policy.launch(ctx, api, st, retry, plan)
  if info then return info end
  return nil, ("%s; retry: %s"):format(err, err2)
end

return M
