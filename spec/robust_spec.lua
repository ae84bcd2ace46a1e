-- Nothing lost, nothing leaked (issue 11): delete --force of whatever is under --root, a create killed or
-- interrupted while its VM boots (spec/fault_spec.lua walks every step; spec/race_spec.lua races commands
-- on one id). Every case ends with the leak check.
local vc = require("vc")
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local pool = require("spec.helpers.pool")

local ok_env, why = world.available()

describe("robustness #integration", function()
  local ws = pool.workspace("kata-robust")
  local tmp, root, n = nil, nil, 0
  local rt = function(...) return world.rt(root, { ... }) end

  setup(function()
    if not ok_env then return end
    ws.setup()
    tmp = ws.tmp
  end)
  teardown(function() if ok_env then ws.teardown() end end)
  before_each(function()
    root = ws.new_root()
    n = ws.roots
  end)
  after_each(function()
    if not ok_env then return end
    pool.kill_jobs()
    for _, id in ipairs(vc.state.list(root) or {}) do world.rt(root, { "delete", "--force", id }) end
    assert.same({}, world.leaks(root))
  end)

  local function bundle(name, args, edit) return world.bundle(("%s/%s-%d"):format(tmp, name, n), args, edit) end

  -- kata-runtime create in the background; returns a function giving its pid (once known) and status.
  local function create_bg(b, id)
    local cmd = ("exec %s --root %s --log %s create -b %s %s </dev/null >/dev/null 2>%s")
      :format(run.q(run.runtime), run.q(root), run.q(root .. ".log"), run.q(b), run.q(id),
        run.q(("%s/create-%d.status.err"):format(tmp, n)))
    local job = pool.spawn(tmp, cmd)
    return job.pid, job.status
  end

  -- Wait until the sandbox of `id` is booting: its qemu runs.
  local function wait_booting(id)
    local dir = root .. "/.sandbox/" .. vc.id.digest(id)
    return world.wait_for(function()
      for _, p in ipairs(world.processes(dir)) do if p:match("qemu%-system") then return true end end
      return false
    end, 60)
  end

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  it("delete --force removes a running sandbox whose state.json is garbage", function()
    assert.equal(0, (rt("create", "-b", bundle("b", { "sleep", "100" }), "c1")))
    assert.equal(0, (rt("start", "c1")))
    run.write(root .. "/c1/state.json", "{ this is not json")
    local s, _, e = rt("delete", "c1")
    assert.equal(1, s)
    assert.matches("c1", e)
    s, _, e = rt("delete", "--force", "c1")
    assert.equal(0, s, e)
    assert.same({}, world.leaks(root))
  end)

  it("delete --force removes a sandbox whose state has fields of the wrong type", function()
    assert.equal(0, (rt("create", "-b", bundle("b", { "sleep", "100" }), "c1")))
    local st = assert(vc.json.decode(run.read(root .. "/c1/state.json")))
    st.runtime.supervisor_pid, st.runtime.mounts, st.pid = "not a pid", 42, {}
    run.write(root .. "/c1/state.json", vc.json.encode(st))
    local s, _, e = rt("state", "c1")
    assert.equal(1, s)
    assert.matches("state of 'c1' is corrupt: ", e) -- one line, no traceback
    assert.not_matches("traceback", e)
    s, _, e = rt("delete", "--force", "c1")
    assert.equal(0, s, e)
    assert.same({}, world.leaks(root))
  end)

  it("delete --force finishes a create SIGKILLed while its VM boots, and the id works again", function()
    local b = bundle("b", { "sleep", "100" })
    local pid = create_bg(b, "c1")
    assert.truthy(wait_booting("c1"), "the VM never started booting")
    vc.proc.kill(pid, 9)
    local s, _, e = rt("delete", "--force", "c1")
    assert.equal(0, s, e)
    assert.same({}, world.leaks(root))
    s, _, e = rt("create", "-b", b, "c1")
    assert.equal(0, s, e)
    assert.equal(0, (rt("delete", "--force", "c1")))
  end)

  it("create rolls back and fails when SIGTERM arrives while its VM boots", function()
    local b = bundle("b", { "sleep", "100" })
    local pid, status = create_bg(b, "c1")
    assert.truthy(wait_booting("c1"), "the VM never started booting")
    vc.proc.kill(pid, 15)
    assert.truthy(world.wait_for(status, 120), "create did not end after SIGTERM")
    assert.are_not.equal(0, status())
    assert.matches("interrupted by SIGTERM", run.read(("%s/create-%d.status.err"):format(tmp, n)) or "")
    assert.is_nil(vc.state.load(root, "c1"))
    assert.same({}, world.leaks(root))
  end)

  it("state asks the guest once a shim is killed: the container still runs until it is stopped there", function()
    assert.equal(0, (rt("create", "-b", bundle("b", { "sleep", "1000" }), "c1")))
    assert.equal(0, (rt("start", "c1")))
    local st = world.state(root, "c1")
    vc.proc.kill(st.pid, 9) -- the shim: its container runs on in the guest
    assert.truthy(world.wait_for(function() return not vc.proc.alive(st.pid) end, 30))
    assert.equal("running", world.state(root, "c1").status)
    local s, _, e = rt("delete", "c1")
    assert.equal(1, s)
    assert.matches("that is not stopped: running", e)
    assert.equal(0, (rt("kill", "c1", "KILL")))
    assert.truthy(world.wait_for(function() return world.state(root, "c1").status == "stopped" end, 60))
    assert.equal(0, (rt("delete", "c1")))
    assert.same({}, world.leaks(root))
  end)

  for _, who in ipairs({ "kata-supervisor", "qemu-system" }) do
    it(("delete --force of a sandbox whose %s is SIGSTOPped succeeds without waiting on it"):format(who), function()
      assert.equal(0, (rt("create", "-b", bundle("b", { "sleep", "100" }), "c1")))
      assert.equal(0, (rt("start", "c1")))
      for _, p in ipairs(world.processes(root)) do
        if p:match(who:gsub("%-", "%%-")) then vc.proc.kill(tonumber(p:match("^%d+")), 19) end
      end
      local t0 = vc.clock.monotonic()
      local s, _, e = rt("delete", "--force", "c1")
      local took = vc.clock.monotonic() - t0
      assert.equal(0, s, e)
      print(("  delete --force, %s stopped: %.1f s"):format(who, took)) -- the figure; bench.sh holds targets
      assert.same({}, world.leaks(root))
    end)
  end
end)
