-- Fault injection (issue 11): kata-runtime killed (SIGKILL), terminated (SIGTERM) or stopped while a part
-- of its sandbox is killed, at every step of create, start, exec (--detach), delete and the teardown delete
-- leaves to the background (KATA_FAULT,
-- lua/kata/fault.lua). After each: `delete --force` returns 0 and leaves no process, mount, namespace,
-- lock, socket or state, and a later create of the same id works. Cases run in a few lanes side by side,
-- each lane with its own --root (spec/helpers/pool.lua). KATA_FAULT_WALK=all walks the parts' kills at
-- every step and SIGTERM at every step of start, exec and delete too (the suite walks the parts' kills at
-- a chosen set of steps); KATA_FAULT_PARALLEL sets how many cases run at once (default 3), and
-- KATA_FAULT_ONLY (a Lua pattern) picks the cases whose name ("create:9:kill", "create:12:qemu killed")
-- matches.
local vc = require("vc")
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local pool = require("spec.helpers.pool")

local ok_env, why = world.available()
local WALK_ALL = os.getenv("KATA_FAULT_WALK") == "all"
local PARALLEL = tonumber(os.getenv("KATA_FAULT_PARALLEL") or "") or 3
local ONLY = os.getenv("KATA_FAULT_ONLY") -- a Lua pattern: only the cases whose name matches

-- The parts of a sandbox, by the name their command line starts with.
local PARTS = { supervisor = "kata-supervisor", qemu = "qemu-system", virtiofsd = "virtiofsd", shim = "kata-shim" }

describe("fault injection #integration", function()
  local ws = pool.workspace("kata-fault")
  local bundle
  local new_root = ws.new_root

  setup(function() if ok_env then ws.setup() end end)
  teardown(function() if ok_env then ws.teardown() end end)

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  -- The steps a command took, from its --debug log: { "lock", "state.save", ... }.
  local function steps_of(root)
    local list = {}
    for line in io.lines(root .. ".log") do
      local n, what = line:match("fault injection: step (%d+): ([%w_.:]+)")
      if n then list[tonumber(n)] = what end
    end
    return list
  end

  -- The pid of `part` of the sandbox under root, or nil.
  local function part_pid(root, part)
    for _, p in ipairs(world.processes(root .. "/.sandbox/")) do
      local pid, cmd = p:match("^(%d+) (%S+)")
      if cmd and cmd:match("[^/]*$"):sub(1, #PARTS[part]) == PARTS[part] then return tonumber(pid) end
    end
  end

  local function proc_state(pid)
    local s = run.read("/proc/" .. pid .. "/stat")
    return s and s:match("%) (%a)")
  end

  local function fired(root, action, n)
    local log = run.read(root .. ".log") or ""
    return log:find(("fault injection: %s at step %d "):format(action, n), 1, true) ~= nil
  end

  -- After a fault: delete --force succeeds and leaves nothing.
  local function clean(root)
    local s, _, e = pool.rt_wait(root, { "delete", "--force", "c1" })
    assert(s == 0, "delete --force: " .. e)
    local leaks = world.leaks(root)
    assert(#leaks == 0, "left after delete --force: " .. table.concat(leaks, "; "))
  end

  -- The id works again: a whole create (and a delete that leaves nothing).
  local function reusable(root)
    local s, _, e = pool.rt_wait(root, { "create", "-b", bundle, "c1" })
    assert(s == 0, "create again: " .. e)
    clean(root)
  end

  -- The runtime's own death at step n of `command` (kill: SIGKILL, term: SIGTERM).
  local function self_case(command, n, action)
    return {
      name = ("%s:%d:%s"):format(command, n, action),
      fn = function(root)
        if command ~= "create" then
          local s, _, e = pool.rt_wait(root, { "create", "-b", bundle, "c1" })
          assert(s == 0, "create: " .. e)
          if command == "delete" or command == "exec" then
            s, _, e = pool.rt_wait(root, { "start", "c1" })
            assert(s == 0, "start: " .. e)
          end
        end
        local args = ({ create = { "create", "-b", bundle, "c1" }, start = { "start", "c1" },
          exec = { "exec", "--detach", "c1", "sleep", "1000" }, delete = { "delete", "--force", "c1" } })[command]
        local s, _, e = pool.rt_wait(root, args, { KATA_FAULT = ("%s:%d:%s"):format(command, n, action) })
        assert(fired(root, action, n), ("the fault did not fire (status %s: %s)"):format(tostring(s), e))
        if action == "kill" then
          assert(s == 137, ("status %s, not SIGKILL's: %s"):format(tostring(s), e))
        elseif command == "create" then -- create catches SIGTERM and rolls back
          assert(s == 1 and e:find("interrupted by SIGTERM", 1, true), ("status %s: %s"):format(tostring(s), e))
        else
          assert(s == 143, ("status %s, not SIGTERM's: %s"):format(tostring(s), e))
        end
        clean(root)
      end,
    }
  end

  -- A part of the sandbox SIGKILLed while create is stopped at step n; create then goes on.
  local function part_case(part, n)
    return {
      name = ("create:%d:%s killed"):format(n, part),
      fn = function(root)
        local job, wait = pool.rt(root, { "create", "-b", bundle, "c1" }, { KATA_FAULT = ("create:%d:stop"):format(n) })
        assert(pool.wait(function() return proc_state(job.pid) == "T" or job.status() end, 300), "create neither stopped nor ended")
        assert(proc_state(job.pid) == "T", "create ended before step " .. n)
        local pid = part_pid(root, part)
        assert(pid, ("no %s at step %d"):format(part, n))
        vc.proc.kill(pid, 9)
        assert(pool.wait(function() return not vc.proc.alive(pid) end, 30), part .. " did not die")
        vc.proc.kill(job.pid, 18)
        local s, _, e = wait(300)
        assert(s == 0 or s == 1, ("create: status %s: %s"):format(tostring(s), e))
        if s == 0 then
          -- created: state answers, whatever it says
          local ss, _, se = pool.rt_wait(root, { "state", "c1" })
          assert(ss == 0, "state after create: " .. se)
        end
        clean(root)
      end,
    }
  end

  -- The background teardown `delete` hands the sandbox to (`kata-runtime teardown`) SIGKILLed at step n:
  -- delete has answered 0; the next delete --force of the id finishes the teardown.
  local function teardown_case(n)
    return {
      name = ("teardown:%d:kill"):format(n),
      fn = function(root)
        local s, _, e = pool.rt_wait(root, { "create", "-b", bundle, "c1" })
        assert(s == 0, "create: " .. e)
        s, _, e = pool.rt_wait(root, { "start", "c1" })
        assert(s == 0, "start: " .. e)
        s, _, e = pool.rt_wait(root, { "delete", "--force", "c1" }, { KATA_FAULT = ("teardown:%d:kill"):format(n) })
        assert(s == 0, ("delete --force: status %s: %s"):format(tostring(s), e))
        assert(pool.wait(function() return fired(root, "kill", n) end, 120), "the fault did not fire in the teardown")
        clean(root)
      end,
    }
  end

  it("cleans up after every step of create, start, exec and delete, and the id works again", function()
    bundle = world.bundle(ws.tmp .. "/bundle", { "sleep", "1000" })
    -- the steps, from one traced lifecycle: a fault at a step past the last never fires
    local root = new_root()
    local never = { create = "create:100000:kill", start = "start:100000:kill", exec = "exec:100000:kill",
      delete = "delete:100000:kill" }
    local steps = {}
    for _, c in ipairs({ { "create", "-b", bundle, "c1" }, { "start", "c1" }, { "exec", "--detach", "c1", "sleep", "1000" },
      { "delete", "--force", "c1" } }) do
      os.remove(root .. ".log")
      local args = { "--debug" }
      for _, a in ipairs(c) do args[#args + 1] = a end
      local s, _, e = world.rt(root, args, { env = { KATA_FAULT = never[c[1]] } })
      assert.equal(0, s, e)
      steps[c[1]] = steps_of(root)
      assert.is_true(#steps[c[1]] > 0, "no steps logged for " .. c[1])
    end
    assert.same({}, world.leaks(root))
    -- the background teardown's steps: a lifecycle whose delete arms only the teardown it starts
    for _, c in ipairs({ { "create", "-b", bundle, "c1" }, { "start", "c1" }, { "delete", "--force", "c1" } }) do
      local s, _, e = world.rt(root, { "--debug", table.unpack(c) }, { env = { KATA_FAULT = "teardown:100000:kill" } })
      assert.equal(0, s, e)
      if c[1] == "create" then os.remove(root .. ".log") end
    end
    world.settle({ root })
    steps.teardown = steps_of(root)
    assert.is_true(#steps.teardown > 0, "no steps logged for the background teardown")
    assert.same({}, world.leaks(root))

    -- SIGKILL at every step; SIGTERM at every step of create (which catches it and rolls back), and of
    -- start, exec and delete only in the whole walk (they do not catch it: the same death as SIGKILL's)
    local cases = {}
    for _, command in ipairs({ "create", "start", "exec", "delete" }) do
      for n = 1, #steps[command] do
        cases[#cases + 1] = self_case(command, n, "kill")
        if command == "create" or WALK_ALL then cases[#cases + 1] = self_case(command, n, "term") end
      end
    end
    for n = 1, #steps.teardown do cases[#cases + 1] = teardown_case(n) end
    -- the parts, at each step of create once they exist (or a chosen set of those)
    local first = {}
    for i, what in ipairs(steps.create) do
      if what == "sandbox.launch" then first.supervisor, first.qemu, first.virtiofsd = i + 1, i + 1, i + 1 end
      if what == "shim.spawn" then first.shim = i + 1 end
    end
    local ncreate = #steps.create
    for _, part in ipairs({ "supervisor", "qemu", "virtiofsd", "shim" }) do
      assert(first[part], "no step of create makes the " .. part)
      for n = first[part], ncreate do
        -- the suite: right after the part is made, mid-way, and at the last step
        if WALK_ALL or n == first[part] or n == ncreate or n == (first[part] + ncreate) // 2 then
          cases[#cases + 1] = part_case(part, n)
        end
      end
    end

    if ONLY then
      local picked = {}
      for _, c in ipairs(cases) do if c.name:match(ONLY) then picked[#picked + 1] = c end end
      cases = picked
    end
    -- in lanes: the next case's create in a lane is the later create of the same id (it must get to its
    -- own fault without an error), and each lane ends with a whole create
    local failures, took = pool.lanes(cases, PARALLEL, new_root, reusable)
    print(("  fault walk: create %d, start %d, exec %d, delete %d, teardown %d steps; %d cases, %d at once, %.0f s")
      :format(#steps.create, #steps.start, #steps.exec, #steps.delete, #steps.teardown, #cases, PARALLEL, took))
    assert.same({}, failures)
  end)
end)
