--- The runtime configuration: built-in defaults, overridden by a Lua table file.
---
--- The file is data, not a program: it is loaded as text into an empty environment and must return a
--- table. Search order: --config FILE, then /etc/kata-containers/configuration.lua, then the defaults.
local vc = require("vc")

local M = {}

M.search_path = { "/etc/kata-containers/configuration.lua" }

M.QBOOT = "/usr/share/qemu/qboot.rom" -- Debian's qemu-system-data

local function exists(path)
  return vc.fs.stat(path) ~= nil
end

--- Where the guest images live (guest/<kernel>/): beside an installed binary, else the build tree.
---@param lua_dir string the runtime's Lua directory
local function share_dir(lua_dir)
  local installed = lua_dir:match("^(.*)/lua$")
  if installed and (exists(installed .. "/guest/kata/initrd.img") or exists(installed .. "/guest/debian/initrd.img")) then
    return installed .. "/guest"
  end
  return vc.build.guest_dir
end

--- The guest kernels scripts/build-guest.sh builds, each an image directory guest/<name>/ holding its kernel
--- and the initramfs made for it: the project's own (guest/kernel/*.conf, every driver built in) and
--- Debian's cloud kernel (virtio drivers as modules the agent loads).
M.guest_kernels = { kata = true, debian = true }
M.default_guest_kernel = "kata"

--- The guest kernel of a guest image directory -- the one place it is chosen: the ELF vmlinux (booted at
--- its PVH entry point) when the guest build could make it, else the bzImage.
---@param image string an image directory, guest/<name>
---@return string
function M.guest_kernel(image)
  if exists(image .. "/vmlinux") then return image .. "/vmlinux" end
  return image .. "/vmlinuz"
end

--- The kernel and initramfs of the image `name` (hypervisor.guest_kernel).
---@param name string|nil default: M.default_guest_kernel
---@param lua_dir string|nil
---@return string kernel
---@return string initrd
function M.guest_image(name, lua_dir)
  local image = share_dir(lua_dir or vc.build.lua_dir) .. "/" .. (name or M.default_guest_kernel)
  return M.guest_kernel(image), image .. "/initrd.img"
end

---@param lua_dir string|nil
---@return table
function M.defaults(lua_dir)
  local kernel, initrd = M.guest_image(M.default_guest_kernel, lua_dir)
  return {
    hypervisor = {
      path = "/usr/bin/qemu-system-x86_64",
      guest_kernel = M.default_guest_kernel,
      kernel = kernel,
      initrd = initrd,
      kernel_params = "",
      -- qboot: a -kernel boot without SeaBIOS's work, where QEMU's data has it; "" is QEMU's own firmware
      -- (docs/configuration.md)
      firmware = exists(M.QBOOT) and M.QBOOT or "",
      virtiofsd = "/usr/lib/qemu/virtiofsd",
      vcpus = 1,
      memory_mib = 256,
      tcg_cache_mib = 16,
      accel = "auto",
      boot_timeout = 60,
      debug = false,
    },
    factory = {
      template = false, -- sandboxes start as clones of a template VM (docs/factory.md)
      dir = "/run/kata-runtime/factory",
      memory_dir = "/dev/shm",
      hotplug_ports = 2,
      shapes = {}, -- further sizes { memory_mib =, vcpus = } templates are made in
      share_fs = "virtio-fs", -- a clone's shared file system: "virtio-fs" (hot-plugged, private RAM) or "9p"
    },
    policy_settings = {},
    runtime = {
      policy = "default",
      allowed_policies = {}, -- beyond runtime.policy, which is always allowed
      policy_dir = "/etc/kata-containers/policies",
      allowed_annotations = { "io.katacontainers.config.runtime.policy" },
      lock_timeout = 120,
      instruction_budget = 1000000000,
      command_timeout = 300,
      allowed_hook_paths = {},
    },
  }
end

-- The expected type of every known setting; unknown keys are an error (a typo should not pass silently).
local schema = {
  hypervisor = {
    path = "string", guest_kernel = "string", kernel = "string", initrd = "string", kernel_params = "string",
    firmware = "string", virtiofsd = "string", vcpus = "integer", memory_mib = "integer", tcg_cache_mib = "integer", accel = "string",
    boot_timeout = "number", debug = "boolean",
  },
  factory = { template = "boolean", dir = "string", memory_dir = "string", hotplug_ports = "integer", shapes = "shapes",
    share_fs = "string" },
  runtime = {
    policy = "string", allowed_policies = "list", policy_dir = "string",
    allowed_annotations = "list", lock_timeout = "number", instruction_budget = "integer",
    command_timeout = "number", allowed_hook_paths = "list",
  },
}

local function typeof(v)
  if math.type(v) == "integer" then return "integer" end
  if type(v) == "table" then return "list" end
  return type(v)
end

local function check(cfg, source)
  for section, value in pairs(cfg) do
    if section == "policy_settings" then
      -- data for policies: policy_settings[<policy name>] = { ... }, read by that policy as api.settings
      if type(value) ~= "table" then return nil, ("%s: policy_settings: must be a table"):format(source) end
      for name, t in pairs(value) do
        if type(name) ~= "string" or type(t) ~= "table" then
          return nil, ("%s: policy_settings.%s: must be a table"):format(source, tostring(name))
        end
      end
      goto next_section
    end
    local fields = schema[section]
    if not fields then
      return nil, ("%s: unknown section '%s'"):format(source, tostring(section))
    end
    if type(value) ~= "table" then
      return nil, ("%s: %s: must be a table"):format(source, section)
    end
    for k, v in pairs(value) do
      local want = fields[k]
      if not want then
        return nil, ("%s: %s.%s: unknown setting"):format(source, section, tostring(k))
      end
      local got = typeof(v)
      if want == "shapes" then
        if got ~= "list" then return nil, ("%s: %s.%s: must be a list of { memory_mib =, vcpus = }"):format(source, section, k) end
        for i, sh in ipairs(v) do
          if type(sh) ~= "table" or math.type(sh.memory_mib) ~= "integer" or math.type(sh.vcpus) ~= "integer"
            or sh.memory_mib < 64 or sh.memory_mib > 65536 or sh.vcpus < 1 or sh.vcpus > 64 then
            return nil, ("%s: %s.%s[%d]: must be { memory_mib = 64..65536, vcpus = 1..64 }"):format(source, section, k, i)
          end
        end
        goto next_setting
      end
      local ok = got == want or (want == "number" and got == "integer")
      if ok and want == "list" then
        for i, item in ipairs(v) do
          if type(item) ~= "string" then
            return nil, ("%s: %s.%s[%d]: must be a string"):format(source, section, k, i)
          end
        end
      end
      if not ok then
        return nil, ("%s: %s.%s: must be %s, got %s"):format(source, section, k,
          want == "list" and "a list of strings" or ("a " .. want), got)
      end
      ::next_setting::
    end
    ::next_section::
  end
  local hv = cfg.hypervisor or {}
  if hv.guest_kernel and not M.guest_kernels[hv.guest_kernel] then
    return nil, ("%s: hypervisor.guest_kernel: must be kata or debian, got '%s'"):format(source, hv.guest_kernel)
  end
  if hv.accel and hv.accel ~= "auto" and hv.accel ~= "kvm" and hv.accel ~= "tcg" then
    return nil, ("%s: hypervisor.accel: must be auto, kvm or tcg, got '%s'"):format(source, hv.accel)
  end
  if hv.firmware and hv.firmware ~= "" and hv.firmware:sub(1, 1) ~= "/" then
    return nil, ("%s: hypervisor.firmware: must be an absolute path or \"\" (QEMU's own), got '%s'"):format(source,
      hv.firmware)
  end
  if hv.vcpus and (hv.vcpus < 1 or hv.vcpus > 64) then
    return nil, ("%s: hypervisor.vcpus: must be between 1 and 64"):format(source)
  end
  if hv.memory_mib and (hv.memory_mib < 64 or hv.memory_mib > 65536) then
    return nil, ("%s: hypervisor.memory_mib: must be between 64 and 65536"):format(source)
  end
  local fa = cfg.factory or {}
  for _, k in ipairs({ "dir", "memory_dir" }) do
    local v = fa[k]
    if v and (not v:match("^/[%w/._-]*$") or v:find("/%.%./") or v:find("/%.%.$")) then
      return nil, ("%s: factory.%s: must be an absolute path of [A-Za-z0-9/._-], got '%s'"):format(source, k, v)
    end
  end
  if fa.share_fs and fa.share_fs ~= "virtio-fs" and fa.share_fs ~= "9p" then
    return nil, ("%s: factory.share_fs: must be virtio-fs or 9p, got '%s'"):format(source, fa.share_fs)
  end
  if fa.hotplug_ports and (fa.hotplug_ports < 0 or fa.hotplug_ports > 8) then
    return nil, ("%s: factory.hotplug_ports: must be between 0 and 8"):format(source)
  end
  local rt = cfg.runtime or {}
  if rt.command_timeout and (rt.command_timeout < 0 or rt.command_timeout > 86400) then
    return nil, ("%s: runtime.command_timeout: must be between 0 and 86400"):format(source)
  end
  if hv.boot_timeout and (hv.boot_timeout < 1 or hv.boot_timeout > 3600) then
    return nil, ("%s: hypervisor.boot_timeout: must be between 1 and 3600"):format(source)
  end
  if hv.tcg_cache_mib and (hv.tcg_cache_mib < 1 or hv.tcg_cache_mib > 2048) then
    return nil, ("%s: hypervisor.tcg_cache_mib: must be between 1 and 2048"):format(source)
  end
  return true
end

--- Read a configuration file as data.
---@param path string
---@return table|nil cfg
---@return string|nil err
function M.read(path)
  local f, err = io.open(path, "r")
  if not f then return nil, ("configuration: %s"):format(err) end
  local src = f:read("a")
  f:close()
  local chunk, perr = load(src, "=" .. path, "t", {})
  if not chunk then return nil, ("configuration: %s"):format(perr) end
  local ok, cfg = pcall(chunk)
  if not ok then return nil, ("configuration: %s"):format(tostring(cfg)) end
  if type(cfg) ~= "table" then
    return nil, ("configuration: %s: must return a table"):format(path)
  end
  local valid, verr = check(cfg, path)
  if not valid then return nil, "configuration: " .. verr end
  return cfg
end

local function merge(base, over)
  for section, values in pairs(over) do
    base[section] = base[section] or {}
    for k, v in pairs(values) do base[section][k] = v end
  end
  return base
end

--- The effective configuration and the file it came from (nil: built-in defaults only).
---@param explicit string|nil the --config flag
---@param lua_dir string|nil
---@return table|nil cfg
---@return string|nil source_or_err
function M.load(explicit, lua_dir)
  local cfg = M.defaults(lua_dir)
  local path = explicit
  if not path then
    for _, candidate in ipairs(M.search_path) do
      if exists(candidate) then path = candidate break end
    end
  end
  if not path then return cfg, nil end
  local file, err = M.read(path)
  if not file then return nil, err end
  -- a kernel picked by name brings its own initramfs; a kernel or initrd named by path still wins
  local hv = file.hypervisor or {}
  if hv.guest_kernel then
    local kernel, initrd = M.guest_image(hv.guest_kernel, lua_dir)
    cfg.hypervisor.kernel, cfg.hypervisor.initrd = kernel, initrd
  end
  return merge(cfg, file), path
end

return M
