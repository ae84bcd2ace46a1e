local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")

--- A real process to stand for a shim: `sleep`, started in the background; returns its pid.
local function spawn_sleeper()
  local p = assert(io.popen("sleep 60 >/dev/null 2>&1 & echo $!"))
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

local function record(id, bundle, shim_pid, start_time)
  return {
    ociVersion = "1.2.0", id = id, status = "created", pid = shim_pid, bundle = bundle,
    annotations = { ["org.example/key"] = "value" },
    runtime = { sandbox_id = id, type = "sandbox", shim_pid = shim_pid, shim_start_time = start_time,
      created = "2026-01-02T03:04:05.123456789Z", rootfs = bundle .. "/rootfs", policy = "default" },
  }
end

--- The runtime-spec state schema (schema/state-schema.json), checked field by field.
local function assert_state_schema(doc)
  assert.equal("string", type(doc.ociVersion))
  assert.equal("string", type(doc.id))
  assert.is_truthy(({ creating = 1, created = 1, running = 1, stopped = 1 })[doc.status], doc.status)
  assert.equal("integer", math.type(doc.pid))
  assert.is_true(doc.pid >= 0)
  assert.equal("string", type(doc.bundle))
  if doc.annotations ~= nil then
    for k, v in pairs(doc.annotations) do
      assert.equal("string", type(k))
      assert.equal("string", type(v))
    end
  end
end

describe("state store", function()
  local root, sleeper
  before_each(function() root = run.tmpdir("kata-state") end)
  after_each(function()
    if sleeper then os.execute("kill " .. sleeper .. " 2>/dev/null"); sleeper = nil end
    run.rmrf(root)
  end)

  it("round-trips a record and lists it", function()
    assert.is_true(vc.state.save(root, "c1", record("c1", "/b", 1, 2)))
    assert.is_true(vc.state.save(root, "c0", record("c0", "/b", 1, 2)))
    local st = assert(vc.state.load(root, "c1"))
    assert.equal("c1", st.id)
    assert.equal("value", st.annotations["org.example/key"])
    assert.same({ "c0", "c1" }, vc.state.list(root))
    assert.is_true(vc.state.remove(root, "c1"))
    assert.same({ "c0" }, vc.state.list(root))
    assert.is_nil(vc.fs.stat(root .. "/c1"))
  end)

  it("stores, lists, locks and removes an id of 1024 bytes (longer than a file name may be)", function()
    local long = "c" .. string.rep("x", 1023)
    assert.is_true(vc.state.save(root, long, record(long, "/b", 1, 2)))
    assert.is_true(vc.state.save(root, "short", record("short", "/b", 1, 2)))
    assert.equal(long, assert(vc.state.load(root, long)).id)
    local ids = vc.state.list(root)
    table.sort(ids)
    assert.same({ long, "short" }, ids)
    local lock <close> = assert(vc.lock.acquire(root, long, 0))
    assert.is_nil(vc.lock.acquire(root, long, 0))
    assert.is_true(vc.state.remove(root, long))
    assert.same({ "short" }, vc.state.list(root))
  end)

  it("says 'container does not exist' for an unknown id", function()
    local ok, err, code = vc.state.load(root, "nosuch")
    assert.is_nil(ok)
    assert.equal("container does not exist", err)
    assert.equal("ENOENT", code)
  end)

  it("lists nothing under a root that does not exist", function()
    assert.same({}, vc.state.list(root .. "/missing"))
  end)

  it("keeps the old state readable when a write dies between the temp write and the rename", function()
    assert.is_true(vc.state.save(root, "c1", record("c1", "/old", 1, 2)))
    -- strace kills the writer as it enters rename(2): the temp file is written and synced, the rename
    -- never happens.
    local script = ("package.cpath = %q; local vc = require('vc'); vc.state.save(%q, 'c1', { id = 'c1', bundle = '/new' })")
      :format(package.cpath, root)
    local status = run.sh(("strace -f -o /dev/null -e trace=rename,renameat,renameat2 "
      .. "-e inject=rename,renameat,renameat2:signal=KILL lua5.4 -e %s"):format(run.q(script)))
    assert.are_not.equal(0, status)
    local st = assert(vc.state.load(root, "c1"))
    assert.equal("/old", st.bundle)
    -- the orphaned temp file is there, and removal cleans it up with the rest
    local _, listing = run.sh("ls " .. run.q(root .. "/c1"))
    assert.matches("state.json.tmp.", listing, 1, true)
    assert.is_true(vc.state.remove(root, "c1"))
    assert.is_nil(vc.fs.stat(root .. "/c1"))
  end)

  it("makes a second process wait for the sandbox lock", function()
    -- the holder lets go when told (a file appears), or after two minutes
    local go = root .. "/.release-sb1"
    local holder = ("package.cpath = %q; local vc = require('vc'); local l = assert(vc.lock.acquire(%q, 'sb1')); "
      .. "io.write('locked\\n'); io.stdout:flush(); local t = vc.clock.monotonic() + 120; "
      .. "while not vc.fs.stat(%q) and vc.clock.monotonic() < t do vc.clock.sleep(0.02) end; l:release()")
      :format(package.cpath, root, go)
    local p = assert(io.popen("lua5.4 -e " .. run.q(holder)))
    assert.equal("locked", p:read("l"))
    local t0 = vc.clock.monotonic()
    local ok, err, code = vc.lock.acquire(root, "sb1", 200)
    assert.is_nil(ok)
    assert.equal("sandbox 'sb1' is locked by another command", err)
    assert.equal("EAGAIN", code)
    assert.is_true(vc.clock.monotonic() - t0 >= 0.2)
    -- a different sandbox is not blocked
    local other <close> = assert(vc.lock.acquire(root, "sb2", 0))
    -- waiting without a deadline succeeds once the holder lets go
    run.write(go, "")
    local lock = assert(vc.lock.acquire(root, "sb1", -1))
    p:close()
    assert.equal("vc.Lock (sb1)", tostring(lock))
    lock:release(true)
    assert.equal("vc.Lock (released)", tostring(lock))
    assert.is_nil(vc.fs.stat(root .. "/.lock/sb1"))
  end)

  it("retries on a fresh file when the holder removed the lock", function()
    local a = assert(vc.lock.acquire(root, "sb1", 0))
    a:release(true)
    local b <close> = assert(vc.lock.acquire(root, "sb1", 0))
    assert.is_not_nil(vc.fs.stat(root .. "/.lock/sb1"))
  end)

  describe("through kata-runtime state", function()
    it("prints OCI state JSON for a created container whose shim lives", function()
      sleeper = spawn_sleeper()
      local start = assert(vc.proc.start_time(sleeper))
      assert.is_true(vc.state.save(root, "c1", record("c1", "/bundles/c1", sleeper, start)))
      local status, out = run.runtime_cmd({ "--root", root, "state", "c1" })
      assert.equal(0, status)
      local doc = assert(vc.json.decode(out))
      assert_state_schema(doc)
      assert.equal("created", doc.status)
      assert.equal(sleeper, doc.pid)
      assert.equal("/bundles/c1", doc.bundle)
      assert.equal("c1", doc.id)
      assert.equal("2026-01-02T03:04:05.123456789Z", doc.created)
      assert.equal("value", doc.annotations["org.example/key"])
    end)

    it("reports stopped when the shim is gone", function()
      sleeper = spawn_sleeper()
      local start = assert(vc.proc.start_time(sleeper))
      assert.is_true(vc.state.save(root, "c1", record("c1", "/b", sleeper, start)))
      os.execute("kill -9 " .. sleeper .. "; sleep 0.1")
      local status, out = run.runtime_cmd({ "--root", root, "state", "c1" })
      assert.equal(0, status)
      local doc = vc.json.decode(out)
      assert_state_schema(doc)
      assert.equal("stopped", doc.status)
      assert.equal(0, doc.pid)
    end)

    it("reports stopped when the pid was reused by another process", function()
      sleeper = spawn_sleeper()
      local start = assert(vc.proc.start_time(sleeper))
      assert.is_true(vc.state.save(root, "c1", record("c1", "/b", sleeper, start - 1)))
      local _, out = run.runtime_cmd({ "--root", root, "state", "c1" })
      assert.equal("stopped", vc.json.decode(out).status)
    end)

    it("exits 1 with runc's message for an unknown container", function()
      local status, out, err = run.runtime_cmd({ "--root", root, "state", "nosuch" })
      assert.equal(1, status)
      assert.equal("", out)
      assert.equal("container does not exist\n", err)
    end)

    it("lists containers as a table, as JSON and quietly", function()
      sleeper = spawn_sleeper()
      assert.is_true(vc.state.save(root, "c1", record("c1", "/b1", sleeper, assert(vc.proc.start_time(sleeper)))))
      assert.is_true(vc.state.save(root, "c2", record("c2", "/b2", 999999, 1)))
      local status, out = run.runtime_cmd({ "--root", root, "list", "--format", "json" })
      assert.equal(0, status)
      local rows = vc.json.decode(out)
      assert.equal(2, #rows)
      assert.equal("created", rows[1].status)
      assert.equal("stopped", rows[2].status)
      local _, quiet = run.runtime_cmd({ "--root", root, "list", "-q" })
      assert.equal("c1\nc2\n", quiet)
      local _, tbl = run.runtime_cmd({ "--root", root, "list" })
      assert.matches("^ID%s+PID%s+STATUS%s+BUNDLE", tbl)
      assert.matches("\nc2%s+0%s+stopped%s+/b2", tbl)
    end)
  end)
end)

describe("vc.proc", function()
  it("knows the start time of a live process and that a dead pid is gone", function()
    local me = vc.proc.getpid()
    local st = assert(vc.proc.start_time(me))
    assert.is_true(vc.proc.alive(me, st))
    assert.is_false(vc.proc.alive(me, st + 1))
    assert.is_false(vc.proc.alive(4194304, 0))
    local ok, _, code = vc.proc.start_time(4194304)
    assert.is_nil(ok)
    assert.equal("ENOENT", code)
  end)

  it("waits for a process that is not its child to go away, and no longer than asked", function()
    -- a sleep whose parent shell exits at once: init (or a subreaper) owns it, as a shim after create
    local p = io.popen("sh -c 'sleep 0.3 >/dev/null 2>&1 & echo $!'")
    local pid = tonumber(p:read("l"))
    p:close()
    local st = assert(vc.proc.start_time(pid))
    assert.is_false(vc.proc.wait_gone(pid, st, 0.05)) -- still running after 50 ms
    local t0 = vc.clock.monotonic()
    assert.is_true(vc.proc.wait_gone(pid, st, 5))
    local waited = vc.clock.monotonic() - t0
    assert.is_true(waited < 4, "returned when it exited, not at the timeout")
    vctest.proc.reap()
    assert.is_true(vc.proc.wait_gone(pid, st)) -- gone: no wait
    assert.is_true(vc.proc.wait_gone(vc.proc.getpid(), st)) -- a pid that now names another process
    assert.is_false(vc.proc.wait_gone(vc.proc.getpid(), 0, 0.01))
    assert.has_error(function() vc.proc.wait_gone(1, 0, -1) end)
  end)

  it("adopts orphaned descendants as a subreaper, and gives them back to init when that is switched off", function()
    local function orphan_parent()
      local p = io.popen("sh -c 'sleep 2 >/dev/null 2>&1 & echo $!'")
      local pid = tonumber(p:read("l"))
      p:close() -- sh has exited: its sleep is an orphan now
      local stat = run.read("/proc/" .. pid .. "/stat")
      vc.proc.kill(pid, 9)
      return tonumber(stat:match("^%d+ %b() %S+ (%d+)"))
    end
    local me = vc.proc.getpid()
    assert.is_true(vctest.proc.set_subreaper())
    assert.equal(me, orphan_parent())
    assert.is_true(vctest.proc.set_subreaper(false))
    assert.are_not.equal(me, orphan_parent())
    vctest.proc.reap()
    assert.has_error(function() vctest.proc.set_subreaper("yes") end,
      "bad argument #1 to 'set_subreaper' (boolean expected, got string)")
  end)
end)
