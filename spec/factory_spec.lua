-- VM templates with real guests (docs/factory.md): `factory init` boots one template; the lifecycle, exec and
-- a pod then run in clones of it; two clones differ in their randomness and have the host's clock; a changed
-- input makes the template stale and sandboxes boot cold; `factory destroy` leaves no file and no process.
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")

local ok_env, why = world.available()

describe("factory #integration", function()
  local tmp, root, n, cfg, fdir, initrd, guest = nil, nil, 0, nil, nil, nil, nil
  local rt = function(...) return world.rt(root, { "--config", cfg, ... }) end
  local MEMDIR = "/dev/shm"

  -- the template files of this spec's factory dir (its keys), in /dev/shm
  local function shm_files()
    local out = {}
    for _, f in ipairs(vc.fs.list(MEMDIR) or {}) do
      for _, key in ipairs(vc.fs.list(fdir) or {}) do
        if f == "kata-template-" .. key .. ".mem" then out[#out + 1] = f end
      end
    end
    return out
  end

  setup(function()
    if not ok_env then return end
    assert(vctest.proc.set_subreaper())
    tmp = run.tmpdir("kata-factory")
    fdir = tmp .. "/factory"
    -- a copy of the initrd, so that a case can change an input of the template
    local kernel, image = require("kata.config").guest_image()
    initrd = tmp .. "/initrd.img"
    assert(os.execute(("cp %s %s"):format(run.q(image), run.q(initrd))))
    guest = ("hypervisor = { kernel = %q, initrd = %q }"):format(kernel, initrd)
    cfg = tmp .. "/configuration.lua"
    run.write(cfg, ([[return { factory = { template = true, dir = %q, memory_dir = %q, shapes = { { memory_mib = 512, vcpus = 1 } } },
      %s }]]):format(fdir, MEMDIR, guest))
    root = tmp .. "/root0"
    local s, out, err = rt("factory", "init")
    assert.equal(0, s, err)
    assert.matches("made", out)
  end)
  teardown(function()
    if ok_env and cfg then world.rt(tmp .. "/root0", { "--config", cfg, "factory", "destroy" }) end
    if ok_env then vctest.proc.set_subreaper(false) end
    if tmp then os.execute("umount -R " .. run.q(tmp) .. " 2>/dev/null"); run.rmrf(tmp) end
    if world.ROOTFS_TEMPLATE then run.rmrf(world.ROOTFS_TEMPLATE) end
  end)
  before_each(function()
    n = n + 1
    root = ("%s/root%d"):format(tmp, n)
  end)
  after_each(function()
    if not ok_env then return end
    for _, id in ipairs(vc.state.list(root) or {}) do world.rt(root, { "delete", "--force", id }) end
    assert.same({}, world.leaks(root))
    -- no template VM ever stays: the template is its files
    assert.same({}, world.processes(fdir))
  end)

  local function bundle(name, args, edit) return world.bundle(("%s/%s-%d"):format(tmp, name, n), args, edit) end
  local function cloned() return (run.read(root .. ".log") or ""):find("as a clone of template", 1, true) ~= nil end

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  it("reports a ready template and keeps it on a second init", function()
    local s, out = rt("factory", "status")
    assert.equal(0, s)
    local st = vc.json.decode(out)
    assert.equal("ready", st.status)
    assert.is_true(st.enabled)
    assert.equal(2, #st.templates) -- the configured size and factory.shapes' 512 MiB
    assert.equal(256, st.templates[1].memory_mib)
    assert.equal(512, st.templates[2].memory_mib)
    assert.equal(2, #shm_files())
    s, out = rt("factory", "init")
    assert.equal(0, s)
    assert.matches("is ready", out)
  end)

  it("runs the lifecycle and exec in a clone, with the share hot-plugged", function()
    local b = bundle("b", { "sh", "-c", "echo from-clone > /out; sleep 100" })
    local s, _, err = rt("create", "-b", b, "c1")
    assert.equal(0, s, err)
    assert.is_true(cloned())
    assert.equal(0, (rt("start", "c1")))
    assert.truthy(world.wait_for(function() return run.read(b .. "/rootfs/out") == "from-clone\n" end))
    local es, eo = rt("exec", "c1", "sh", "-c", "cat /out; exit 4")
    assert.equal(4, es)
    assert.equal("from-clone\n", eo)
    assert.equal("running", world.state(root, "c1").status)
    assert.equal(0, (rt("kill", "c1", "KILL")))
    assert.truthy(world.wait_for(function() return world.state(root, "c1").status == "stopped" end))
    assert.equal(0, (rt("delete", "c1")))
  end)

  it("runs a pod in one clone", function()
    local sb = bundle("pod", { "sleep", "100" }, function(c)
      c.annotations = { ["io.kubernetes.cri.container-type"] = "sandbox" }
    end)
    assert.equal(0, (rt("create", "-b", sb, "pod1")))
    assert.is_true(cloned())
    assert.equal(0, (rt("start", "pod1")))
    local cb = bundle("app", { "sh", "-c", "echo app > /out; sleep 100" }, function(c)
      c.annotations = { ["io.kubernetes.cri.container-type"] = "container", ["io.kubernetes.cri.sandbox-id"] = "pod1" }
    end)
    local s, _, e = rt("create", "-b", cb, "app")
    assert.equal(0, s, e)
    assert.equal(0, (rt("start", "app")))
    assert.truthy(world.wait_for(function() return run.read(cb .. "/rootfs/out") == "app\n" end))
    local q = 0
    for _, p in ipairs(world.processes(root)) do if p:match("qemu%-system") then q = q + 1 end end
    assert.equal(1, q)
    assert.equal(0, (rt("delete", "--force", "app")))
    assert.equal(0, (rt("delete", "--force", "pod1")))
  end)

  it("gives two clones different random bytes and the host's wall clock right after the restore", function()
    local seen = {}
    for i = 1, 2 do
      local b = bundle("r" .. i, { "sh", "-c", "date +%s; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; cat /proc/sys/kernel/random/uuid" })
      local before = os.time()
      local s, out, err = rt("run", "-b", b, "r" .. i)
      assert.equal(0, s, err)
      local t, bytes, uuid = out:match("^(%d+)\n(%x+)\n(%S+)\n$")
      assert.truthy(t, out)
      -- the template was saved a while ago: without the restore call its clock would be that far behind
      assert.is_true(tonumber(t) >= before - 2 and tonumber(t) <= os.time() + 2, ("guest clock %s, host %d"):format(t, before))
      assert.equal(64, #bytes)
      assert.is_nil(seen[bytes])
      assert.is_nil(seen[uuid])
      seen[bytes], seen[uuid] = true, true
    end
    assert.is_true(cloned())
  end)

  it("has the guest kernel reseed its RNG on the clone's new VM generation id (vmgenid)", function()
    local _, image = require("kata.config").guest_image()
    if not image:find("/guest/kata/", 1, true) then
      pending("the guest kernel is not the project's (Debian's cloud kernel has no vmgenid)")
      return
    end
    -- the kernel log is the guest's own: read with CAP_SYSLOG (and no other capability)
    local b = bundle("gen", { "sh", "-c", "dmesg | grep -c 'crng reseeded due to virtual machine fork'" }, function(c)
      local one = { "CAP_SYSLOG" }
      c.process.capabilities = { bounding = one, effective = one, permitted = one }
    end)
    local s, out, err = rt("run", "-b", b, "gen1")
    assert.equal(0, s, err)
    assert.is_true(cloned())
    -- once: the template's boot did not fork, the clone's restore did
    assert.equal("1\n", out)
  end)

  it("clones a VM grown by its container's memory limit from the next larger size", function()
    -- 256 MiB configured + a 100 MiB limit: the 512 MiB template holds it
    local b = bundle("big", { "sh", "-c", "grep MemTotal /proc/meminfo" }, function(c)
      c.linux.resources = c.linux.resources or {}
      c.linux.resources.memory = { limit = 100 * 1024 * 1024 }
    end)
    local s, out, err = rt("run", "-b", b, "big1")
    assert.equal(0, s, err)
    assert.matches("as a clone of template '[^']+' %(512 MiB, 1 vCPU%)", run.read(root .. ".log"))
    local kb = tonumber(out:match("MemTotal:%s+(%d+)"))
    assert.is_true(kb > 400 * 1024, out)
  end)

  it("runs a container in a copy-on-write clone over 9p, or boots cold saying the guest has no 9p", function()
    -- our guest kernel has 9p (docs/guest.md), Debian's cloud kernel has not
    local k9, i9 = require("kata.config").guest_image("kata")
    local g9 = vc.fs.stat(k9) and vc.fs.stat(i9) and ("hypervisor = { kernel = %q, initrd = %q }"):format(k9, i9) or guest
    local cfg9 = tmp .. "/configuration-9p.lua"
    run.write(cfg9, ([[return { factory = { template = true, dir = %q, memory_dir = %q, share_fs = "9p" },
      %s }]]):format(fdir, MEMDIR, g9))
    local s, out, err = world.rt(root, { "--config", cfg9, "factory", "init" })
    assert.equal(0, s, err)
    assert.matches("made", out)
    local b = bundle("ninep", { "sh", "-c", "echo over-9p > /out" })
    s, _, err = world.rt(root, { "--config", cfg9, "run", "-b", b, "n9" })
    assert.equal(0, s, err)
    assert.equal("over-9p\n", run.read(b .. "/rootfs/out"))
    local log = run.read(root .. ".log")
    if not log:find("booting cold", 1, true) then
      assert.is_true(cloned())
    else
      assert.matches("mount 9p 'kataShared' on [^:]+: No such device", log)
    end
  end)

  it("boots cold when an input changed, and factory status calls the template stale", function()
    assert(os.execute(("touch -d 2001-01-01 %s"):format(run.q(initrd)))) -- the initrd changed
    local s, out = rt("factory", "status")
    assert.equal(1, s)
    assert.matches("stale: initrd", vc.json.decode(out).templates[1].status)
    local b = bundle("cold", { "true" })
    s = rt("run", "-b", b, "cold1")
    assert.equal(0, s)
    assert.is_false(cloned())
    assert.matches("booting cold: template %x+: stale", run.read(root .. ".log"))
  end)

  it("destroys every template: no file in the factory dir or /dev/shm, no process", function()
    assert.is_true(#shm_files() >= 1)
    local keys = vc.fs.list(fdir)
    local s, out = rt("factory", "destroy")
    assert.equal(0, s)
    assert.matches("removed %d template", out)
    for _, f in ipairs(vc.fs.list(fdir)) do assert.equal(".lock", f) end -- factory init's lock
    for _, key in ipairs(keys) do assert.is_nil(vc.fs.stat(MEMDIR .. "/kata-template-" .. key .. ".mem")) end
    assert.same({}, world.processes(fdir))
    s = rt("factory", "status")
    assert.equal(1, s)
  end)
end)
