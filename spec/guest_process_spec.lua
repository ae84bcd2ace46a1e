-- The process and Linux parts of the spec the guest agent applies (capabilities, oomScoreAdj, sysctl,
-- seccomp), checked from inside the container and side by side with runc on the same bundle (issue 12).
local vc = require("vc")
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local pool = require("spec.helpers.pool")

local ok_env, why = world.available()
local have_runc = os.execute("command -v runc >/dev/null 2>&1")

-- The kernel's capability numbers (<linux/capability.h>), to turn a spec's names into the masks
-- /proc/self/status prints.
local CAPS = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}
local CAPNUM = {}
for i, n in ipairs(CAPS) do CAPNUM[n] = i - 1 end

local function mask(names)
  local m = 0
  for _, n in ipairs(names or {}) do m = m | (1 << CAPNUM[n]) end
  return ("%016x"):format(m)
end

-- podman's default capability set (containers.conf default_capabilities)
local PODMAN_CAPS = { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT" }

local STATUS = "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status"

local function field(out, name) return out:match(name .. ":%s*(%S+)") end

describe("the guest applies the process's security settings #integration", function()
  local tmp, root, n = nil, nil, 0

  local ws = pool.case_roots("kata-gproc", ok_env)
  setup(ws.setup)
  teardown(ws.teardown)
  before_each(ws.before_each)
  after_each(ws.after_each)
  before_each(function() tmp, root, n = ws.tmp, ws.root, ws.n end)

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  local function bundle(args, edit) return world.bundle(("%s/b%d"):format(tmp, n), args, edit) end

  -- `kata-runtime run` on the bundle: status, stdout, stderr.
  local function kata(b)
    local out = b .. "/kata.out"
    local s, _, e = world.rt(root, { "run", "--bundle", b, "k" .. n }, { stdout = out })
    return s, run.read(out) or "", e
  end

  -- runc on the same bundle, its state in a root of its own.
  local function runc(b)
    local s, o, e = run.sh(("runc --root %s run --bundle %s r%d </dev/null"):format(run.q(tmp .. "/runc"), run.q(b), n))
    return s, o, e
  end

  local function same_as_runc(b)
    local ks, ko, ke = kata(b)
    assert.equal(0, ks, ke)
    if have_runc then
      local rs, ro, re = runc(b)
      assert.equal(0, rs, re)
      assert.equal(ro, ko)
    end
    return ko
  end

  it("gives podman's default capability set, mask by mask as the spec says and as runc does", function()
    local caps = { bounding = PODMAN_CAPS, effective = PODMAN_CAPS, permitted = PODMAN_CAPS }
    local b = bundle({ "sh", "-c", STATUS }, function(c)
      c.process.capabilities = caps
      c.process.noNewPrivileges = false
    end)
    local out = same_as_runc(b)
    assert.equal(mask(PODMAN_CAPS), field(out, "CapBnd"))
    assert.equal(mask(PODMAN_CAPS), field(out, "CapEff"))
    assert.equal(mask(PODMAN_CAPS), field(out, "CapPrm"))
    assert.equal(mask({}), field(out, "CapInh"))
    assert.equal(mask({}), field(out, "CapAmb"))
    assert.equal("0", field(out, "NoNewPrivs"))
  end)

  it("gives one capability in all five sets to a user other than root (keep-caps, ambient)", function()
    local one = { "CAP_NET_BIND_SERVICE" }
    local b = bundle({ "sh", "-c", STATUS }, function(c)
      c.process.user = { uid = 1000, gid = 1000 }
      c.process.capabilities = { bounding = one, effective = one, permitted = one, inheritable = one, ambient = one }
    end)
    assert(os.execute("chmod 755 " .. run.q(b .. "/rootfs"))) -- a user without capabilities must reach /bin
    local out = same_as_runc(b)
    for _, set in ipairs({ "CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb" }) do
      assert.equal(mask(one), field(out, set), set)
    end
    assert.equal("1", field(out, "NoNewPrivs"))
  end)

  it("gives no capabilities when the spec names none, as runc; skips a name the kernel does not know", function()
    local b = bundle({ "sh", "-c", STATUS }, function(c)
      c.process.capabilities = { bounding = { "CAP_KILL", "CAP_NO_SUCH_THING" }, effective = { "CAP_KILL" } ,
        permitted = { "CAP_KILL" } }
    end)
    local out = same_as_runc(b)
    assert.equal(mask({ "CAP_KILL" }), field(out, "CapBnd"))
    local b2 = ("%s/b%d-none"):format(tmp, n)
    world.bundle(b2, { "sh", "-c", STATUS })
    n = n + 1
    local out2 = same_as_runc(b2)
    assert.equal(mask({}), field(out2, "CapBnd"))
    assert.equal(mask({}), field(out2, "CapEff"))
  end)

  it("sets oomScoreAdj and namespaced sysctls, as runc", function()
    local b = bundle({ "sh", "-c", "cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni" },
      function(c)
        c.process.oomScoreAdj = 500
        c.linux.sysctl = { ["net.ipv4.ip_forward"] = "1", ["kernel.shmmni"] = "1234" }
      end)
    assert.equal("500\n1\n1234\n", same_as_runc(b))
  end)

  it("refuses a sysctl no namespace of the container owns before a VM boots, naming it", function()
    local b = bundle({ "true" }, function(c) c.linux.sysctl = { ["vm.swappiness"] = "10" } end)
    local s, _, e = kata(b)
    assert.equal(1, s)
    assert.equal("config.json: linux.sysctl: 'vm.swappiness' is not in a namespace of the container's own\n", e)
    local b2 = ("%s/b%d-ipc"):format(tmp, n)
    world.bundle(b2, { "true" }, function(c)
      local keep = {}
      for _, ns in ipairs(c.linux.namespaces) do if ns.type ~= "ipc" then keep[#keep + 1] = ns end end
      c.linux.namespaces = keep
      c.linux.sysctl = { ["kernel.shmmax"] = "1000000" }
    end)
    n = n + 1
    s, _, e = kata(b2)
    assert.equal(1, s)
    assert.equal("config.json: linux.sysctl: 'kernel.shmmax' needs an ipc namespace of the container's own\n", e)
  end)

  it("loads a seccomp profile: EPERM by default, a chosen errno, unknown names skipped", function()
    local b = bundle({ "sh", "-c", "readlink -f . ; echo getcwd=$?; mkdir /tmp/x 2>&1; echo mkdir=$?; " .. STATUS },
      function(c)
        c.linux.seccomp = {
          defaultAction = "SCMP_ACT_ALLOW",
          architectures = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32" },
          syscalls = {
            { names = { "getcwd", "no_such_syscall_at_all" }, action = "SCMP_ACT_ERRNO" },
            { names = { "mkdir", "mkdirat" }, action = "SCMP_ACT_ERRNO", errnoRet = 18 },
            -- a condition that never matches: dup3 with flags 12345
            { names = { "dup3" }, action = "SCMP_ACT_KILL_PROCESS",
              args = { { index = 2, value = 12345, op = "SCMP_CMP_EQ" } } },
          },
        }
      end)
    local out = same_as_runc(b)
    assert.matches("getcwd=1\n", out, 1, true)
    assert.matches("Invalid cross%-device link\nmkdir=1\n", out)
    assert.equal("2", field(out, "Seccomp"))
  end)

  it("gives an exec'd process the container's seccomp filter, and its capabilities as runc's exec", function()
    local b = bundle({ "sleep", "100" }, function(c)
      c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW",
        syscalls = { { names = { "mkdir", "mkdirat" }, action = "SCMP_ACT_ERRNO", errnoRet = 1 } } }
      c.process.capabilities = { bounding = { "CAP_KILL" }, effective = { "CAP_KILL" }, permitted = { "CAP_KILL" } }
    end)
    local s, _, e = world.rt(root, { "run", "-d", "--bundle", b, "c1" })
    assert.equal(0, s, e)
    local out = b .. "/exec.out"
    s, _, e = world.rt(root, { "exec", "c1", "sh", "-c", "mkdir /tmp/y 2>&1; " .. STATUS },
      { stdout = out })
    assert.equal(0, s, e)
    assert.matches("Operation not permitted", run.read(out), 1, true)
    assert.matches("Seccomp:%s+2", run.read(out))
    assert.equal(mask({ "CAP_KILL" }), field(run.read(out), "CapEff"))
    assert.equal(mask({ "CAP_KILL" }), field(run.read(out), "CapBnd"))
    assert.equal(0, (world.rt(root, { "delete", "--force", "c1" })))
  end)

  it("gives the container a cgroup namespace rooted at its cgroup, and the root the propagation asked", function()
    -- (this host's runc sees its cgroup v1 hierarchies: compared with the guest's v2 by hand, not side by side)
    local b = bundle({ "sh", "-c", "cat /proc/self/cgroup; awk '$5 == \"/\" { print $7 }' /proc/self/mountinfo" },
      function(c)
        table.insert(c.linux.namespaces, { type = "cgroup" })
        c.linux.rootfsPropagation = "shared"
      end)
    local s, out, e = kata(b)
    assert.equal(0, s, e)
    assert.matches("^0::/\nshared:%d+\n$", out)
  end)

  -- refused on the host, before a VM boots: the leak check would see a qemu or supervisor left
  local refusals = {
    { "a path of the wrong namespace type", function(c) table.insert(c.linux.namespaces, { type = "cgroup", path = "/proc/self/ns/ipc" }) end,
      "linux.namespaces[5].path: '/proc/self/ns/ipc' is a namespace of type ipc, not cgroup" },
    { "the host's uts namespace", function(c) c.linux.namespaces[4].path = "/proc/self/ns/uts" end,
      "linux.namespaces[3].path: joining the host's uts namespace '/proc/self/ns/uts' is not possible from the guest" },
    { "a user namespace", function(c)
        table.insert(c.linux.namespaces, { type = "user" })
        c.linux.uidMappings = { { containerID = 0, hostID = 100000, size = 65536 } }
      end, "linux.namespaces[5]: user namespaces are not supported in the guest" },
    { "uid mappings", function(c) c.linux.uidMappings = { { containerID = 0, hostID = 100000, size = 65536 } } end,
      "linux.uidMappings: not supported in the guest" },
    { "an AppArmor profile", function(c) c.process.apparmorProfile = "docker-default" end,
      "process.apparmorProfile: 'docker-default' cannot be enforced in the guest" },
    { "an SELinux label", function(c) c.linux.mountLabel = "system_u:object_r:container_file_t:s0" end,
      "linux.mountLabel: 'system_u:object_r:container_file_t:s0' cannot be enforced in the guest" },
    -- over the guest agent's bounds (issue 11)
    { "a 100 KB argument", function(c) c.process.args[2] = ("x"):rep(100000) end,
      "process.args[1]: 100000 bytes, more than the guest takes (65536)" },
    { "an unknown rlimit", function(c) c.process.rlimits = { { type = "RLIMIT_NOFILE", hard = 8, soft = 8 }, { type = "RLIMIT_BOGUS", hard = 1, soft = 1 } } end,
      "process.rlimits[1].type: unknown rlimit 'RLIMIT_BOGUS'" },
    { "a uid out of the guest's range", function(c) c.process.user.uid = 4294967295 end,
      "process.user.uid: 4294967295 is not within 0..4294967294" },
    { "more additional groups than the guest takes", function(c)
        c.process.user.additionalGids = {}
        for i = 1, 300 do c.process.user.additionalGids[i] = i end
      end, "process.user.additionalGids: 300 entries, more than the guest takes (256)" },
    { "a command that is not in the rootfs", function(c) c.process.args = { "/bin/no-such-program" } end,
      "process.args[0]: exec '/bin/no-such-program': No such file or directory" },
    { "a bind mount whose source is missing", function(c)
        table.insert(c.mounts, { destination = "/data", type = "bind", source = "/nonexistent/kata-src", options = { "rbind" } })
      end, ("mounts[%d]: source '/nonexistent/kata-src' does not exist"):format(#vc.oci.default_spec().mounts) },
  }
  for _, r in ipairs(refusals) do
    it("refuses " .. r[1] .. " before a VM boots, naming the field", function()
      local b = bundle({ "true" }, r[2])
      local s, _, e = kata(b)
      assert.equal(1, s)
      assert.equal("config.json: " .. r[3] .. "\n", e)
      -- nothing was launched, nor a sandbox directory made
      assert.not_matches("launching sandbox VM", run.read(root .. ".log") or "")
      assert.is_nil(vc.fs.stat(root .. "/.sandbox/" .. vc.id.digest("k" .. n)))
    end)
  end

  it("refuses a 10 MB argument before a VM boots: config.json is over the size create reads", function()
    local b = bundle({ "true" })
    local config = vc.json.decode(run.read(b .. "/config.json"))
    config.process.args[2] = ("x"):rep(10 * 1024 * 1024)
    run.write(b .. "/config.json", vc.json.encode(config))
    local s, _, e = kata(b)
    assert.equal(1, s)
    assert.equal("config.json: larger than 4194304 bytes\n", e)
    assert.not_matches("launching sandbox VM", run.read(root .. ".log") or "")
  end)

  it("makes linux.devices with their modes and owners, and enforces the device cgroup rules, as runc", function()
    local b = bundle({ "sh", "-c", "stat -c '%F %t:%T %a %u:%g' /dev/test1 /dev/fifo1; echo x > /dev/test1 && echo write-ok; " ..
      "mknod /dev/mem1 c 1 1 && echo mknod-ok; head -c 1 /dev/mem1 >/dev/null 2>&1 || echo read-denied" }, function(c)
      c.linux.devices = {
        { path = "/dev/test1", type = "c", major = 1, minor = 3, fileMode = 416, uid = 1000, gid = 1000 },
        { path = "/dev/fifo1", type = "p", fileMode = 384 },
      }
      -- the default spec's rules deny every device; /dev/test1 is allowed because the spec lists it
      c.process.capabilities = { bounding = { "CAP_MKNOD", "CAP_DAC_OVERRIDE" }, effective = { "CAP_MKNOD", "CAP_DAC_OVERRIDE" },
        permitted = { "CAP_MKNOD", "CAP_DAC_OVERRIDE" } }
    end)
    assert.equal("character special file 1:3 640 1000:1000\nfifo 0:0 600 0:0\nwrite-ok\nmknod-ok\nread-denied\n",
      same_as_runc(b))
  end)

  it("OOM-kills a process that goes over linux.resources.memory.limit, as runc", function()
    -- tmpfs pages are charged to the writer's cgroup and there is no swap to put them in
    local b = bundle({ "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 2>/dev/null; echo dd=$?" },
      function(c) c.linux.resources = { memory = { limit = 24 * 1024 * 1024 } } end)
    assert.equal("dd=137\n", same_as_runc(b))
  end)

  it("update raises and lowers the limits of a running container; events --stats reads its cgroup", function()
    local b = bundle({ "sleep", "1000" }, function(c)
      c.linux.resources = { memory = { limit = 64 * 1024 * 1024 }, pids = { limit = 100 } }
    end)
    assert.equal(0, (world.rt(root, { "run", "-d", "--bundle", b, "u1" })))
    local function limit()
      local s, out, e = world.rt(root, { "events", "--stats", "u1" })
      assert.equal(0, s, e)
      return vc.json.decode(out).data.memory.usage.limit
    end
    assert.equal(64 * 1024 * 1024, limit())
    local s, _, e = world.rt(root, { "update", "--memory", "96m", "u1" })
    assert.equal(0, s, e)
    assert.equal(96 * 1024 * 1024, limit())
    s, _, e = world.rt(root, { "update", "--memory", "32m", "--cpu-quota", "50000", "--cpu-period", "100000",
      "--cpu-share", "512", "u1" })
    assert.equal(0, s, e)
    assert.equal(32 * 1024 * 1024, limit())
    -- -r: a linux.resources document; the pids limit then stops a fork
    run.write(b .. "/res.json", vc.json.encode({ pids = { limit = 3 } }))
    s, _, e = world.rt(root, { "update", "-r", b .. "/res.json", "u1" })
    assert.equal(0, s, e)
    local out = b .. "/exec.out"
    s = world.rt(root, { "exec", "u1", "sh", "-c", "sleep 5 & sleep 5 & sleep 5 & wait; echo done" }, { stdout = out })
    assert.are_not.equal(0, s)
    -- what cannot change says so
    s, _, e = world.rt(root, { "update", "--memory", "64g", "u1" })
    assert.equal(1, s)
    assert.matches("linux.resources.memory.limit: 68719476736 bytes is more than the VM's memory %(%d+ bytes%), which cannot grow\n$", e)
    s, _, e = world.rt(root, { "update", "--blkio-weight", "500", "u1" })
    assert.equal(1, s)
    assert.matches("linux.resources.blockIO: not supported: the guest has no block devices\n$", e)
    assert.equal(0, (world.rt(root, { "delete", "--force", "u1" })))
  end)

  it("refuses an unknown seccomp action before a VM boots, naming the field", function()
    local b = bundle({ "true" }, function(c)
      c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW", syscalls = { { names = { "getcwd" }, action = "SCMP_ACT_BOGUS" } } }
    end)
    local s, _, e = kata(b)
    assert.equal(1, s)
    assert.equal("config.json: linux.seccomp.syscalls[0].action: unsupported action 'SCMP_ACT_BOGUS'\n", e)
  end)
end)
