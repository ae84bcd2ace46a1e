--- Commands that are not part of a container's lifecycle and so not up to a policy: spec, features,
--- version, check, env, help.
local vc = require("vc")

local M = {}

local HOOKS = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" }

--- Annotations the runtime reads from config.json.
M.annotations_read = {
  "io.kubernetes.cri.container-type", "io.kubernetes.cri.sandbox-id",
  "io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri-o.SandboxID",
  "io.katacontainers.config.runtime.policy",
}

local function out(s) io.stdout:write(s) end

function M.help(env)
  out(vc.cli.usage(env.ctx.args[1]))
  return 0
end

function M.version()
  out(("kata-runtime version %s\nspec: %s\nlua: %s\n"):format(vc.version, vc.oci.version, _VERSION))
  return 0
end

function M.spec(env)
  local bundle = env.ctx.options.bundle or "."
  local path = bundle .. "/config.json"
  if vc.fs.stat(path) then
    env.fail(("File %s exists. Remove it first"):format(path))
  end
  local ok, err = vc.fs.atomic_write(path, vc.json.encode(vc.oci.default_spec(), true) .. "\n", 420)
  if not ok then env.fail("spec: " .. err) end
  return 0
end

function M.features()
  local doc = {
    ociVersionMin = vc.oci.version_min,
    ociVersionMax = vc.oci.version,
    hooks = HOOKS,
    mountOptions = { "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind",
      "relatime", "norelatime", "strictatime", "noatime", "mode", "size", "newinstance", "ptmxmode", "gid" },
    linux = {
      namespaces = { "mount", "pid", "uts", "ipc", "network", "cgroup" },
      capabilities = vc.json.array(vc.oci.capabilities),
      cgroup = { v1 = false, v2 = true, systemd = false, systemdUser = false },
      seccomp = {
        enabled = true,
        actions = vc.json.array(vc.oci.seccomp.actions),
        operators = vc.json.array(vc.oci.seccomp.operators),
        archs = vc.json.array(vc.oci.seccomp.archs),
        knownFlags = vc.json.array(vc.oci.seccomp.flags),
        supportedFlags = vc.json.array(vc.oci.seccomp.flags),
      },
      apparmor = { enabled = false },
      selinux = { enabled = false },
      mountExtensions = { idmap = { enabled = false } },
    },
    annotations = {
      ["org.katacontainers.runtime.version"] = vc.version,
      ["org.katacontainers.runtime.isolation"] = "vm",
      ["org.katacontainers.runtime.annotations-read"] = table.concat(M.annotations_read, ","),
    },
    potentiallyUnsafeConfigAnnotations = { "io.katacontainers.config.runtime.policy" },
  }
  out(vc.json.encode(doc, true) .. "\n")
  return 0
end

function M.env(env)
  local doc = {
    runtime = {
      version = vc.version,
      oci_version = vc.oci.version,
      root = env.ctx.global.root,
      config_file = env.config_source or vc.json.null,
      lua_dir = env.lua_dir,
      lua = _VERSION,
    },
    configuration = env.config,
  }
  out(vc.json.encode(doc, true) .. "\n")
  return 0
end

local function executable(path)
  local st = vc.fs.stat(path)
  if st and st.type == "link" then
    local real = vc.fs.realpath(path)
    st = real and vc.fs.stat(real)
  end
  return st ~= nil and st.type == "file" and st.mode & 73 ~= 0
end

local function first_line(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  if not p then return nil end
  local line = p:read("l")
  p:close()
  return line
end

local function loaded_modules()
  local mods = {}
  local f = io.open("/proc/modules", "r")
  if f then
    for line in f:lines() do
      local name = line:match("^(%S+)")
      if name then mods[name] = true end
    end
    f:close()
  end
  return mods
end

--- `policy check|show|trace`: see kata.policytool.
function M.policy(env) return require("kata.policytool").run(env) end

--- `check`: what this host offers. Exit 0 when a sandbox can run (with KVM or with TCG).
function M.check(env)
  local hv = env.config.hypervisor
  local problems = {}
  local function line(ok, what, detail)
    out(("%-4s %-12s %s\n"):format(ok and "ok" or "FAIL", what, detail))
    if not ok then problems[#problems + 1] = what end
  end

  local qemu_ok = executable(hv.path)
  line(qemu_ok, "qemu", qemu_ok and (hv.path .. " (" .. (first_line(vc.fs.realpath(hv.path) .. " --version") or "?") .. ")")
    or (hv.path .. " is missing or not executable"))
  local vfs_ok = executable(hv.virtiofsd)
  line(vfs_ok, "virtiofsd", vfs_ok and hv.virtiofsd or (hv.virtiofsd .. " is missing or not executable"))
  line(vc.fs.stat(hv.kernel) ~= nil, "kernel", hv.kernel)
  line(vc.fs.stat(hv.initrd) ~= nil, "initrd", hv.initrd)

  local accel = "tcg"
  if vc.hypervisor and vc.hypervisor.probe then
    local p = vc.hypervisor.probe()
    accel = p.accel or accel
    out(("%-4s %-12s %s\n"):format("info", "kvm", p.kvm and "usable" or ("not usable: " .. tostring(p.kvm_reason))))
  else
    local st = vc.fs.stat("/dev/kvm")
    out(("%-4s %-12s %s\n"):format("info", "kvm", st and "/dev/kvm present (not probed)" or "no /dev/kvm"))
  end
  if hv.accel ~= "auto" then accel = hv.accel end

  local mods = loaded_modules()
  local have = {}
  for _, m in ipairs({ "kvm", "kvm_intel", "kvm_amd", "vhost", "vhost_net", "tun", "fuse" }) do
    if mods[m] then have[#have + 1] = m end
  end
  out(("%-4s %-12s %s\n"):format("info", "modules", #have > 0 and table.concat(have, " ") or "none of kvm, vhost_net, tun loaded (built in or absent)"))
  local netns_ok = vc.fs.stat("/proc/self/ns/net") ~= nil
  line(netns_ok, "netns", netns_ok and "network namespaces available" or "no network namespace support")

  if #problems > 0 then
    out(("System is not capable of running kata-runtime: %s\n"):format(table.concat(problems, ", ")))
    return 1
  end
  out(("System is capable of running kata-runtime (accel: %s)\n"):format(accel))
  return 0
end

return M
