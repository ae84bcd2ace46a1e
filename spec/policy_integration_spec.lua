-- The policy layer with real guests: ids at the limits of the one id rule, and (below) the shipped example
-- policies selected by configuration. Every case ends with a leak check.
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")

local ok_env, why = world.available()

describe("policies #integration", function()
  local tmp, root, n = nil, nil, 0

  setup(function()
    if not ok_env then return end
    assert(vctest.proc.set_subreaper())
    tmp = run.tmpdir("kata-polit")
  end)
  teardown(function()
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
  end)

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  local function bundle(name, args, edit) return world.bundle(("%s/%s-%d"):format(tmp, name, n), args, edit) end

  it("runs a sandbox whose id is longer than a hostname and has a '+' (issue 10)", function()
    local id = "pod+" .. ("x"):rep(96)
    local b = bundle("long", { "sh", "-c", "hostname; exit 0" })
    local status, _, err = world.rt(root, { "create", "--bundle", b, id }, { stdout = b .. "/out" })
    assert.equal(0, status, err)
    assert.equal(0, (world.rt(root, { "start", id })))
    local st = world.state(root, id)
    assert.equal(id, st.id)
    assert.is_true(world.wait_for(function() return world.state(root, id).status == "stopped" end, 60))
    assert.equal("kata\n", run.read(b .. "/out")) -- the container ran (its own uts namespace, spec hostname)
    assert.equal(0, (world.rt(root, { "delete", id })))
  end)

  -- An operator policy that misbehaves after the VM is up and the rootfs is shared: the runtime stops it
  -- and its rollback removes everything (after_each checks: no process, mount, netns, state or file).
  local MISBEHAVIOURS = {
    { "raises", "error('boom')", "kata-runtime: bad.create: policy/bad:5: boom\n" },
    { "loops in C pattern matching", "local s = ('a'):rep(5000); while true do pcall(string.find, s, '.-.-.-.-x') end",
      "kata-runtime: bad.create: script exceeded its instruction budget\n" },
    { "sleeps forever", "while true do pcall(api.clock.sleep, 3600) end", "kata-runtime: bad.create: command exceeded its deadline of 40 s\n" },
    { "exhausts memory", "while true do hoard[#hoard + 1] = ('x'):rep(1 << 20) .. #hoard end", "not enough memory\n" },
  }
  for _, m in ipairs(MISBEHAVIOURS) do
    it(("leaves nothing behind when an operator policy %s mid-create"):format(m[1]), function()
      local pdir = ("%s/policies-%d"):format(tmp, n)
      assert(vc.fs.mkdir_p(pdir, 493))
      run.write(pdir .. "/bad.lua", ([[
        local M = { name = "bad", extends = "default" }
        local hoard = {}
        function M.share(ctx, api, st, config)
          local mounts = api.policy.base.share(ctx, api, st, config)
          %s
          return mounts
        end
        return M]]):format(m[2]))
      local conf = ("%s/conf-%d.lua"):format(tmp, n)
      run.write(conf, ("return { runtime = { policy = 'bad', policy_dir = %q, instruction_budget = 50000000, "
        .. "command_timeout = 40 } }"):format(pdir))
      local b = bundle("bad", { "true" })
      local t0 = vc.clock.monotonic()
      local status, _, err = world.rt(root, { "--config", conf, "create", "--bundle", b, "c1" })
      assert.equal(1, status)
      assert.equal(m[3], err)
      assert.is_true(vc.clock.monotonic() - t0 < 120)
      assert.same({}, vc.state.list(root) or {})
    end)
  end

  it("deletes a running container whose policy was removed after create, with the mechanism's teardown", function()
    local pdir = ("%s/policies-%d"):format(tmp, n)
    assert(vc.fs.mkdir_p(pdir, 493))
    run.write(pdir .. "/mine.lua", "return { name = 'mine', extends = 'default' }")
    local conf = ("%s/conf-%d.lua"):format(tmp, n)
    run.write(conf, ("return { runtime = { policy = 'mine', policy_dir = %q } }"):format(pdir))
    local b = bundle("gone", { "sleep", "600" })
    local function rt(...) return world.rt(root, { "--config", conf, ... }) end
    assert.equal(0, (rt("create", "--bundle", b, "c1")))
    assert.equal(0, (rt("start", "c1")))
    os.remove(pdir .. "/mine.lua")
    local status, out, err = rt("state", "c1")
    assert.equal(0, status, err)
    assert.equal("running", vc.json.decode(out).status)
    assert.equal(0, (rt("kill", "c1", "USR1")))
    status, _, err = rt("delete", "--force", "c1")
    assert.equal(0, status, err)
    assert.matches("policy 'mine' not found: delete uses the runtime's own default policy", run.read(root .. ".log"), 1, true)
  end)
end)
