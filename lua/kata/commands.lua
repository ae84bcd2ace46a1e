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

--- One factory command at a time changes the templates: a lock in factory.dir (<dir>/.lock/factory).
local function lock_factory(env, verb)
  local dir = env.config.factory.dir
  local ok, err = vc.fs.mkdir_p(dir, 448)
  local lock
  if ok then lock, err = vc.lock.acquire(dir, "factory", math.floor(env.config.runtime.lock_timeout * 1000)) end
  if not lock then env.fail(("factory %s: %s"):format(verb, tostring(err))) end
  return lock
end

--- `factory init|status|destroy`: the template VMs of kata.factory (docs/factory.md).
function M.factory(env)
  local factory, pod = require("kata.factory"), require("kata.pod")
  local p = { fs = vc.fs, json = vc.json, digest = vc.id.digest, sandbox = vc.sandbox, proc = vc.proc }
  local cfg, verb = env.config, env.ctx.args[1]
  local vm = pod.vm(cfg, env.ctx.global.debug)
  if verb == "init" then
    local lock = lock_factory(env, "init")
    local made, err = factory.init(p, cfg, vm)
    lock:release()
    if not made then env.fail("factory init: " .. tostring(err)) end
    for _, t in ipairs(made) do
      out(("template %s (%d MiB, %d vCPU) %s (%s, boot %d ms): %s\n"):format(t.loc.key, t.vm.memory_mib, t.vm.vcpus,
        t.how == "ready" and "is ready" or "made", t.rec.accel, t.rec.boot_ms or 0, t.loc.dir))
    end
    return 0
  elseif verb == "status" then
    local templates, keys, all_ready = {}, {}, true
    for _, v in ipairs(factory.sizes(cfg, vm)) do
      local loc = factory.locate(p, cfg, v)
      local rec, why = factory.check(p, loc, v)
      all_ready = all_ready and rec ~= nil
      keys[loc.key] = true
      templates[#templates + 1] = { key = loc.key, dir = loc.dir, memory = loc.memory, memory_mib = v.memory_mib,
        vcpus = v.vcpus, status = rec and "ready" or why, accel = rec and rec.accel or vc.json.null }
    end
    local others = {}
    for _, l in ipairs(factory.list(p, cfg)) do
      if not keys[l.key] then others[#others + 1] = l.dir end
    end
    out(vc.json.encode({ enabled = cfg.factory.template, status = all_ready and "ready" or "not ready",
      templates = templates, other_shapes = vc.json.array(others) }, true) .. "\n")
    return all_ready and 0 or 1
  elseif verb == "destroy" then
    local lock = lock_factory(env, "destroy")
    local n = factory.destroy(p, cfg)
    lock:release()
    out(("removed %d template(s)\n"):format(n))
    return 0
  end
  env.fail(("factory: unknown subcommand '%s' (init, status or destroy)"):format(tostring(verb)))
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
  if hv.firmware ~= "" then line(vc.fs.stat(hv.firmware) ~= nil, "firmware", hv.firmware) end

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
