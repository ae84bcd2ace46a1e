-- The virtio-fs share against a hostile guest (issue 11, the CVE-2020-2023/2026 class): nothing planted in
-- the share redirects a host mount, and nothing is mounted outside the sandbox's directory.
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")

local ok_env, why = world.available()

describe("share against a hostile guest #integration", function()
  local tmp, root, victim, n = nil, nil, nil, 0
  local rt = function(...) return world.rt(root, { ... }) end

  setup(function()
    if not ok_env then return end
    assert(vctest.proc.set_subreaper())
    tmp = run.tmpdir("kata-share")
  end)
  teardown(function()
    if ok_env then vctest.proc.set_subreaper(false) end
    if tmp then run.rmrf(tmp) end
    if world.ROOTFS_TEMPLATE then run.rmrf(world.ROOTFS_TEMPLATE) end
  end)
  before_each(function()
    n = n + 1
    root = ("%s/root%d"):format(tmp, n)
    victim = ("%s/victim%d"):format(tmp, n)
    assert(vc.fs.mkdir_p(victim))
    run.write(victim .. "/marker", "host data\n")
  end)
  after_each(function()
    if not ok_env then return end
    for _, id in ipairs(vc.state.list(root) or {}) do world.rt(root, { "delete", "--force", id }) end
    assert.same({}, world.leaks(root))
    -- the host directory the guest aimed at: untouched, nothing mounted on or under it
    assert.same({}, run.mounts_under(victim))
    assert.equal("host data\n", run.read(victim .. "/marker"))
    local p = io.popen("ls -A " .. run.q(victim))
    assert.equal("marker", p:read("a"):gsub("%s+$", ""))
    p:close()
  end)

  local function bundle(name, args, edit) return world.bundle(("%s/%s-%d"):format(tmp, name, n), args, edit) end

  -- A pod whose sandbox container runs `script`.
  local function pod(script)
    local b = bundle("pod", { "sh", "-c", script }, function(c)
      c.annotations = { ["io.kubernetes.cri.container-type"] = "sandbox" }
    end)
    local s, _, e = rt("create", "-b", b, "pod1")
    assert.equal(0, s, e)
    assert.equal(0, (rt("start", "pod1")))
    return b, world.state(root, "pod1")
  end

  local function app_bundle(name)
    return bundle(name, { "sleep", "100" }, function(c)
      c.annotations = { ["io.kubernetes.cri.container-type"] = "container", ["io.kubernetes.cri.sandbox-id"] = "pod1" }
    end)
  end

  -- Mounts in this spec's directory (bundles, the host directory) that are not the runtime's own under root.
  local function mounts_outside()
    local out = {}
    for _, mp in ipairs(run.mounts_under(tmp)) do
      if mp:sub(1, #root + 1) ~= root .. "/" then out[#out + 1] = mp end
    end
    return out
  end

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  it("gives the guest no way to plant a link in the share: virtiofsd's view of it is read-only", function()
    local b = pod("echo in-guest > /written; sleep 100")
    assert.truthy(world.wait_for(function() return run.read(b .. "/rootfs/written") == "in-guest\n" end, 60))
    -- virtiofsd makes every change the guest asks for, in its own mount namespace rooted at the share:
    -- its root, as it sees it, is what a guest root could write through the FUSE protocol
    local vfsd
    for _, p in ipairs(world.processes(root)) do
      if p:match("virtiofsd") then vfsd = tonumber(p:match("^%d+")) end
    end
    assert.is_not_nil(vfsd)
    local view = "/proc/" .. vfsd .. "/root"
    assert.truthy(vc.fs.stat(view .. "/pod1/rootfs/written"), "virtiofsd does not see pod1's rootfs")
    local function sh(cmd) local ok = os.execute(cmd .. " 2>/dev/null"); return ok == true end
    assert.is_false(sh(("ln -s %s %s/app"):format(run.q(victim), view)))
    assert.is_false(sh(("mkdir %s/app"):format(view)))
    assert.is_false(sh(("ln -s %s %s/pod1/planted"):format(run.q(victim), view)))
    assert.is_false(sh(("mv %s/pod1/rootfs %s/pod1/moved"):format(view, view)))
    -- while the container's own rootfs stays writable through the share
    assert.is_true(sh(("echo via-share > %s/pod1/rootfs/written2"):format(view)))
    assert.equal("via-share\n", run.read(b .. "/rootfs/written2"))
    local s, _, e = rt("create", "-b", app_bundle("app"), "app")
    assert.equal(0, s, e)
    assert.same({}, mounts_outside())
    assert.equal(0, (rt("delete", "--force", "app")))
    assert.equal(0, (rt("delete", "--force", "pod1")))
  end)

  it("refuses to bind through a link planted where the host works, and leaves the pod usable", function()
    pod("sleep 100")
    -- the host-only side of the share (what the guest's view mirrors), as if the guest could write there
    local sdir = root .. "/.sandbox/" .. vc.id.digest("pod1") .. "/mounts"
    assert.truthy(vc.fs.stat(sdir), "no host side of the share at " .. sdir)
    assert(vc.fs.mkdir_p(sdir .. "/app"))
    assert(os.execute(("ln -s %s %s"):format(run.q(victim), run.q(sdir .. "/app/rootfs"))))
    local s, _, e = rt("create", "-b", app_bundle("app"), "app")
    assert.equal(1, s)
    assert.matches("share directory: .*symbolic link", e)
    assert.same({}, mounts_outside())
    assert.is_nil(world.state(root, "app"))
    -- the planted link is gone with the failed create; the id works afterwards
    assert.is_nil(vc.fs.stat(sdir .. "/app/rootfs"))
    s, _, e = rt("create", "-b", app_bundle("app2"), "app")
    assert.equal(0, s, e)
    assert.equal(0, (rt("delete", "--force", "app")))
    assert.equal(0, (rt("delete", "--force", "pod1")))
  end)

  it("never mounts outside the sandbox when a link is swapped in and out during create", function()
    pod("sleep 100")
    local sdir = root .. "/.sandbox/" .. vc.id.digest("pod1") .. "/mounts"
    -- a swapper: <share>/appN/rootfs alternates between a directory and a link to the host directory
    local stop = tmp .. "/stop" .. n
    -- (rmdir, never rm -r: a directory the runtime mounted on stays as it is)
    local script = ("while [ ! -e %s ] && [ $SECONDS -lt 300 ]; do for i in 1 2 3; do d=%s/app$i; " ..
      "mkdir -p $d; rmdir $d/rootfs 2>/dev/null || rm -f $d/rootfs; ln -s %s $d/rootfs 2>/dev/null; " ..
      "rm -f $d/rootfs; mkdir $d/rootfs 2>/dev/null; done; done")
      :format(run.q(stop), run.q(sdir), run.q(victim))
    local swapper = io.popen("bash -c " .. run.q(script) .. " >/dev/null 2>&1; echo gone", "r")
    local created, outside = 0, {}
    local ok, err = pcall(function()
      for i = 1, 3 do
        local s = rt("create", "-b", app_bundle("app" .. i), "app" .. i)
        if s == 0 then created = created + 1 end
        for _, m in ipairs(mounts_outside()) do outside[#outside + 1] = m end
      end
    end)
    run.write(stop, "")
    swapper:read("a")
    swapper:close()
    assert(ok, err)
    assert.same({}, outside)
    for i = 1, 3 do
      if world.state(root, "app" .. i) then assert.equal(0, (rt("delete", "--force", "app" .. i))) end
    end
    assert.equal(0, (rt("delete", "--force", "pod1")))
    assert.same({}, mounts_outside())
    print(("  swap race: %d of 3 pod containers created, the rest refused"):format(created))
  end)
end)
