-- The policy layer with real guests: ids at the limits of the one id rule, and (below) the shipped example
-- policies selected by configuration. Every case ends with a leak check.
local vc = require("vc")
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local pool = require("spec.helpers.pool")

local ok_env, why = world.available()

describe("policies #integration", function()
  local tmp, root, n = nil, nil, 0

  local ws = pool.case_roots("kata-polit", ok_env)
  setup(ws.setup)
  teardown(ws.teardown)
  before_each(ws.before_each)
  after_each(ws.after_each)
  before_each(function() tmp, root, n = ws.tmp, ws.root, ws.n end)

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

  -- the shipped examples, selected by configuration
  local function configure(text)
    local conf = ("%s/conf-%d.lua"):format(tmp, n)
    run.write(conf, text)
    return function(...) return world.rt(root, { "--config", conf, ... }) end
  end

  it("strict refuses a privileged container before anything is made", function()
    local rt = configure("return { runtime = { policy = 'strict' } }")
    local b = bundle("strict", { "true" }, function(c) c.process.capabilities = { bounding = { "CAP_SYS_ADMIN" } } end)
    local status, _, err = rt("create", "--bundle", b, "c1")
    assert.equal(1, status)
    assert.equal("strict: process.capabilities.bounding: CAP_SYS_ADMIN is refused\n", err)
    assert.is_nil(vc.fs.stat(root .. "/.sandbox"))
  end)

  it("kata-shimv2 keeps a container running when its poststart hook fails", function()
    local rt = configure("return { runtime = { policy = 'kata-shimv2' } }")
    local b = bundle("shimv2", { "sleep", "600" }, function(c) c.hooks = { poststart = { { path = "/bin/false" } } } end)
    assert.equal(0, (rt("create", "--bundle", b, "c1")))
    local status, _, err = rt("start", "c1")
    assert.equal(0, status, err)
    assert.equal("running", world.state(root, "c1").status)
    assert.equal(0, (rt("delete", "--force", "c1")))
  end)

  it("audit writes a JSON line per command, state, ps, events and a foreground exec included", function()
    local rt = configure("return { runtime = { policy = 'audit' } }")
    local b = bundle("audit", { "sleep", "600" })
    assert.equal(0, (rt("create", "--bundle", b, "c1")))
    assert.equal(0, (rt("start", "c1")))
    assert.equal(0, (rt("state", "c1")))
    assert.equal(0, (rt("ps", "c1")))
    assert.equal(0, (rt("events", "--stats", "c1")))
    assert.equal(0, (rt("exec", "c1", "true")))
    assert.equal(0, (rt("delete", "--force", "c1")))
    local seen = {}
    for l in io.lines(root .. ".log") do
      local cmd = l:match('\\"audit\\":\\"(%a+)\\"')
      if cmd then
        seen[#seen + 1] = cmd
        assert.matches('duration_ms', l, 1, true)
        assert.matches('outcome', l, 1, true)
      end
    end
    assert.same({ "create", "start", "state", "ps", "events", "exec", "delete" }, seen)
  end)

  it("ready-check returns from start once the container is ready, and kills one that never is", function()
    local rt = configure("return { runtime = { policy = 'ready-check' }, policy_settings = { ['ready-check'] = "
      .. "{ command = { 'test', '-f', '/ready' }, timeout = 60, interval = 0.5 } } }")
    local b = bundle("ready", { "sh", "-c", "sleep 2; touch /ready; sleep 600" })
    assert.equal(0, (rt("create", "--bundle", b, "c1")))
    local status, _, err = rt("start", "c1")
    assert.equal(0, status, err)
    assert.is_not_nil(vc.fs.stat(b .. "/rootfs/ready"))
    assert.equal(0, (rt("delete", "--force", "c1")))
    rt = configure("return { runtime = { policy = 'ready-check' }, policy_settings = { ['ready-check'] = "
      .. "{ command = { 'test', '-f', '/ready' }, timeout = 3 } } }")
    b = bundle("never", { "sleep", "600" })
    assert.equal(0, (rt("create", "--bundle", b, "c2")))
    status, _, err = rt("start", "c2")
    assert.equal(1, status)
    assert.equal("ready-check: 'test -f /ready' did not succeed within 3 s (exit status 1): the container was killed\n", err)
    assert.is_true(world.wait_for(function() return world.state(root, "c2").status == "stopped" end, 30))
    assert.equal(0, (rt("delete", "c2")))
  end)

  it("boot-retry boots again with the configured kernel, and fails with both errors leaving nothing", function()
    local kernel = require("kata.config").guest_image()
    local rt = configure(("return { hypervisor = { kernel = %q }, runtime = { policy = 'boot-retry' }, "
      .. "policy_settings = { ['boot-retry'] = { kernel = %q } } }"):format(tmp .. "/no-such-kernel", kernel))
    local b = bundle("retry", { "true" })
    local status, _, err = rt("create", "--bundle", b, "c1")
    assert.equal(0, status, err)
    assert.equal(0, (rt("delete", "--force", "c1")))
    rt = configure(("return { hypervisor = { kernel = %q }, runtime = { policy = 'boot-retry' }, "
      .. "policy_settings = { ['boot-retry'] = { kernel = %q } } }"):format(tmp .. "/no-such-kernel", tmp .. "/nor-this"))
    status, _, err = rt("create", "--bundle", b, "c2")
    assert.equal(1, status)
    assert.equal(("launch sandbox: kernel '%s/no-such-kernel': No such file or directory; retry: kernel '%s/nor-this': "
      .. "No such file or directory\n"):format(tmp, tmp), err)
  end)

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
