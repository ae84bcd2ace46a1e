local vc = require("vc")
local run = require("spec.helpers.run")

describe("kata-runtime", function()
  local dir
  before_each(function() dir = run.tmpdir("kata-rt") end)
  after_each(function() run.rmrf(dir) end)

  it("prints features as valid JSON", function()
    local status, out = run.runtime_cmd({ "features" })
    assert.equal(0, status)
    local doc = assert(vc.json.decode(out))
    assert.equal("1.0.0", doc.ociVersionMin)
    assert.equal("1.3.0", doc.ociVersionMax)
    assert.same({ "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" }, doc.hooks)
    assert.matches("io.kubernetes.cri.container-type", doc.annotations["org.katacontainers.runtime.annotations-read"], 1, true)
  end)

  it("lists in features what the guest honours: seccomp's names, the capabilities, the namespaces (issue 12)", function()
    local _, out = run.runtime_cmd({ "features" })
    local l = assert(vc.json.decode(out)).linux
    assert.is_true(l.seccomp.enabled)
    assert.same({ "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
      "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG" }, l.seccomp.actions)
    assert.same({ "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
      "SCMP_CMP_MASKED_EQ" }, l.seccomp.operators)
    assert.equal(19, #l.seccomp.archs)
    assert.same({ "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW" }, l.seccomp.supportedFlags)
    assert.equal(41, #l.capabilities)
    assert.equal("CAP_CHECKPOINT_RESTORE", l.capabilities[41])
    assert.same({ "mount", "pid", "uts", "ipc", "network", "cgroup" }, l.namespaces)
    assert.is_false(l.apparmor.enabled)
    assert.is_false(l.selinux.enabled)
  end)

  it("writes a config.json with spec that its own parser accepts, and refuses to overwrite it", function()
    local status = run.runtime_cmd({ "spec", "--bundle", dir })
    assert.equal(0, status)
    assert.is_truthy(vc.oci.load(dir .. "/config.json"))
    local err
    status, _, err = run.runtime_cmd({ "spec", "-b", dir })
    assert.equal(1, status)
    assert.equal(("File %s/config.json exists. Remove it first\n"):format(dir), err)
  end)

  it("writes JSON log lines with level, msg, time and the container id", function()
    local log = dir .. "/log.json"
    local status = run.runtime_cmd({ "--root", dir, "--log", log, "--log-format", "json", "state", "nosuch" })
    assert.equal(1, status)
    local n = 0
    for line in io.lines(log) do
      local rec = assert(vc.json.decode(line))
      assert.is_string(rec.level)
      assert.is_string(rec.msg)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$", rec.time)
      n = n + 1
      if rec.level == "error" then
        assert.equal("container does not exist", rec.msg)
        assert.equal("nosuch", rec.container)
      end
    end
    assert.is_true(n >= 1)
  end)

  it("refuses a hostile id with one line and exit 1", function()
    local status, out, err = run.runtime_cmd({ "--root", dir, "state", "../etc" })
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches("^invalid container id '%.%./etc': character 0 not allowed\n$", err)
    assert.is_nil(vc.fs.stat(dir .. "/.lock"))
  end)

  it("prints version and help", function()
    local status, out = run.runtime_cmd({ "--version" })
    assert.equal(0, status)
    assert.matches("^kata%-runtime version %d+%.%d+%.%d+\nspec: 1%.3%.0\n", out)
    status, out = run.runtime_cmd({ "--help" })
    assert.equal(0, status)
    assert.matches("Usage: kata%-runtime", out)
    status, out = run.runtime_cmd({ "help", "create" })
    assert.matches("%-%-console%-socket", out)
  end)

  it("exits 1 on argument errors without running anything", function()
    local status, _, err = run.runtime_cmd({ "kill" })
    assert.equal(1, status)
    assert.equal('"kill" requires a minimum of 1 argument(s)\n', err)
  end)

  describe("configuration", function()
    it("prints the effective configuration with env, including a --config file's values", function()
      run.write(dir .. "/conf.lua", "return { hypervisor = { vcpus = 2, memory_mib = 512 } }")
      local status, out = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      assert.equal(0, status)
      local doc = assert(vc.json.decode(out))
      assert.equal(2, doc.configuration.hypervisor.vcpus)
      assert.equal(512, doc.configuration.hypervisor.memory_mib)
      assert.equal(16, doc.configuration.hypervisor.tcg_cache_mib)
      assert.equal("/usr/share/qemu/qboot.rom", doc.configuration.hypervisor.firmware)
      assert.equal("default", doc.configuration.runtime.policy)
      assert.equal(dir .. "/conf.lua", doc.runtime.config_file)
    end)

    it("picks the guest image by kernel name, its initramfs with it, and a named file wins", function()
      local status, out = run.runtime_cmd({ "env" })
      assert.equal(0, status)
      local hv = assert(vc.json.decode(out)).configuration.hypervisor
      local default = hv.guest_kernel
      assert.matches("/guest/" .. default .. "/vmlinu[xz]$", hv.kernel)
      assert.matches("/guest/" .. default .. "/initrd.img$", hv.initrd)
      for _, k in ipairs({ "kata", "debian" }) do
        run.write(dir .. "/conf.lua", ("return { hypervisor = { guest_kernel = %q } }"):format(k))
        status, out = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
        assert.equal(0, status)
        hv = assert(vc.json.decode(out)).configuration.hypervisor
        assert.equal(k, hv.guest_kernel)
        assert.matches("/guest/" .. k .. "/vmlinu[xz]$", hv.kernel)
        assert.matches("/guest/" .. k .. "/initrd.img$", hv.initrd)
      end
      run.write(dir .. "/conf.lua", "return { hypervisor = { guest_kernel = 'debian', kernel = '/k/vmlinux' } }")
      status, out = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      hv = assert(vc.json.decode(out)).configuration.hypervisor
      assert.equal("/k/vmlinux", hv.kernel)
      assert.matches("/guest/debian/initrd.img$", hv.initrd)
      run.write(dir .. "/conf.lua", "return { hypervisor = { guest_kernel = 'linux' } }")
      local err
      status, _, err = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      assert.equal(1, status)
      assert.equal(("configuration: %s/conf.lua: hypervisor.guest_kernel: must be kata or debian, got 'linux'\n"):format(dir),
        err)
    end)

    it("names a wrong setting in one line", function()
      run.write(dir .. "/conf.lua", "return { hypervisor = { vcpu = 2 } }")
      local status, _, err = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      assert.equal(1, status)
      assert.equal(("configuration: %s/conf.lua: hypervisor.vcpu: unknown setting\n"):format(dir), err)
      run.write(dir .. "/conf.lua", "return { hypervisor = { accel = 'xen' } }")
      _, _, err = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      assert.equal(("configuration: %s/conf.lua: hypervisor.accel: must be auto, kvm or tcg, got 'xen'\n"):format(dir), err)
      run.write(dir .. "/conf.lua", "return { hypervisor = { tcg_cache_mib = 0 } }")
      _, _, err = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      assert.equal(("configuration: %s/conf.lua: hypervisor.tcg_cache_mib: must be between 1 and 2048\n"):format(dir), err)
      run.write(dir .. "/conf.lua", "return { hypervisor = { firmware = 'qboot.rom' } }")
      _, _, err = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      assert.equal(("configuration: %s/conf.lua: hypervisor.firmware: must be an absolute path or \"\" (QEMU's own), got 'qboot.rom'\n"):format(dir), err)
    end)

    it("names a wrong factory setting in one line (issue 14)", function()
      local cases = {
        { "{ dir = 'relative' }", "factory.dir: must be an absolute path of [A-Za-z0-9/._-], got 'relative'" },
        { "{ memory_dir = '/dev/shm/a b' }", "factory.memory_dir: must be an absolute path of [A-Za-z0-9/._-], got '/dev/shm/a b'" },
        { "{ share_fs = 'nfs' }", "factory.share_fs: must be virtio-fs or 9p, got 'nfs'" },
        { "{ shapes = { { memory_mib = 10, vcpus = 1 } } }", "factory.shapes[1]: must be { memory_mib = 64..65536, vcpus = 1..64 }" },
        { "{ hotplug_ports = 9 }", "factory.hotplug_ports: must be between 0 and 8" },
        { "{ template = 'yes' }", "factory.template: must be a boolean, got string" },
      }
      for _, c in ipairs(cases) do
        run.write(dir .. "/conf.lua", "return { factory = " .. c[1] .. " }")
        local status, _, err = run.runtime_cmd({ "--config", dir .. "/conf.lua", "factory", "status" })
        assert.equal(1, status)
        assert.equal(("configuration: %s/conf.lua: %s\n"):format(dir, c[2]), err)
      end
    end)

    it("loads the file as data: no library is reachable from it", function()
      run.write(dir .. "/conf.lua", "os.execute('touch " .. dir .. "/pwned') return {}")
      local status, _, err = run.runtime_cmd({ "--config", dir .. "/conf.lua", "env" })
      assert.equal(1, status)
      assert.matches("attempt to index a nil value %(global 'os'%)", err)
      assert.is_nil(vc.fs.stat(dir .. "/pwned"))
    end)

    it("stops a policy that computes without end, even one that catches errors", function()
      vc.fs.mkdir_p(dir .. "/policies")
      run.write(dir .. "/policies/spin.lua", [[
        local M = { name = "spin", extends = "default" }
        function M.list(ctx, api)
          while true do pcall(function() while true do end end) end
        end
        return M]])
      run.write(dir .. "/conf.lua", ("return { runtime = { policy = 'spin', allowed_policies = { 'spin' }, "
        .. "policy_dir = %q, instruction_budget = 10000000 } }"):format(dir .. "/policies"))
      local status, out, err = run.runtime_cmd({ "--root", dir .. "/root", "--config", dir .. "/conf.lua", "list" })
      assert.equal(1, status)
      assert.equal("", out)
      assert.equal("kata-runtime: spin.list: script exceeded its instruction budget\n", err)
    end)

    it("refuses a policy that is not allowlisted", function()
      run.write(dir .. "/conf.lua", "return { runtime = { policy = 'default' } }")
      local bundle = dir .. "/bundle"
      vc.fs.mkdir_p(bundle)
      run.write(bundle .. "/config.json", vc.json.encode({ ociVersion = "1.2.0", root = { path = "rootfs" },
        annotations = { ["io.katacontainers.config.runtime.policy"] = "evil" } }))
      local status, _, err = run.runtime_cmd({ "--root", dir .. "/root", "--config", dir .. "/conf.lua",
        "create", "-b", bundle, "c1" })
      assert.equal(1, status)
      assert.equal("policy 'evil' is not in runtime.allowed_policies\n", err)
    end)
  end)
end)
