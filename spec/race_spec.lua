-- Commands racing on one id (issue 11): create against delete --force, start against delete --force,
-- start against kill, delete --force against delete --force. Every round must end as one of the serial
-- orders would, and leave nothing once the id is deleted. Rounds run in lanes side by side, each lane with
-- its own --root (spec/helpers/pool.lua); KATA_RACE_ROUNDS sets the rounds of each race (default 8),
-- KATA_RACE_PARALLEL the lanes (default 3).
local vc = require("vc")
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local pool = require("spec.helpers.pool")

local ok_env, why = world.available()
local ROUNDS = tonumber(os.getenv("KATA_RACE_ROUNDS") or "") or 8
local PARALLEL = tonumber(os.getenv("KATA_RACE_PARALLEL") or "") or 3

describe("races on one id #integration", function()
  local ws = pool.workspace("kata-race")
  local bundle
  local new_root = ws.new_root

  setup(function() if ok_env then ws.setup() end end)
  teardown(function() if ok_env then ws.teardown() end end)

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  -- The container's status as `state` says it, or nil when it does not exist.
  local function status(root)
    local s, out = pool.rt_wait(root, { "state", "c1" })
    if s ~= 0 then return nil end
    return assert(vc.json.decode(out)).status
  end

  local function created(root)
    local s, _, e = pool.rt_wait(root, { "create", "-b", bundle, "c1" })
    assert(s == 0, "create: " .. e)
  end

  -- Delete whatever is left, and nothing may be left after.
  local function clean(root, round)
    local s, _, e = pool.rt_wait(root, { "delete", "--force", "c1" })
    assert(s == 0, "delete --force: " .. e)
    local leaks = world.leaks(root)
    assert(#leaks == 0, round .. ": left: " .. table.concat(leaks, "; "))
  end

  -- Two commands started together (b first in an even round); their results: status, stderr, status, stderr.
  local function together(root, round, a, b)
    local wa, wb
    if round % 2 == 0 then
      wb = select(2, pool.rt(root, b))
      wa = select(2, pool.rt(root, a))
    else
      wa = select(2, pool.rt(root, a))
      wb = select(2, pool.rt(root, b))
    end
    local sa, _, ea = wa()
    local sb, _, eb = wb()
    return sa, ea, sb, eb
  end

  local outcomes = {}
  local function outcome(race, what) outcomes[race] = outcomes[race] or {}; outcomes[race][what] = (outcomes[race][what] or 0) + 1 end

  local RACES = {
    -- a kubelet retrying: three deletes started around a create
    ["create vs delete --force"] = function(root, name, round)
      -- the deletes start around the create: after it in odd rounds, before it in even ones
      local wc
      if round % 2 == 1 then wc = select(2, pool.rt(root, { "create", "-b", bundle, "c1" })) end
      local waits = {}
      for i = 1, 3 do
        local _, w = pool.rt(root, { "delete", "--force", "c1" })
        waits[i] = w
      end
      if round % 2 == 0 then wc = select(2, pool.rt(root, { "create", "-b", bundle, "c1" })) end
      local cs, _, ce = wc()
      for _, w in ipairs(waits) do
        local s, _, e = w()
        assert(s == 0, name .. ": delete --force: " .. e)
      end
      -- serial: the create ran after the deletes (it exists, whole) or before one of them (it is gone);
      -- either way create succeeded
      assert(cs == 0, name .. ": create: " .. ce)
      local st = status(root)
      assert(st == nil or st == "created", name .. ": status " .. tostring(st))
      outcome("create vs delete --force", st or "deleted")
    end,
    ["start vs delete --force"] = function(root, name, round)
      created(root)
      local ss, se, ds, de = together(root, round, { "start", "c1" }, { "delete", "--force", "c1" })
      assert(ds == 0, name .. ": delete --force: " .. de)
      -- serial: start then delete (start 0), or delete then start (the container does not exist)
      assert(ss == 0 or (ss == 1 and se == "container does not exist\n"), name .. ": start: " .. tostring(ss) .. " " .. se)
      assert(status(root) == nil, name .. ": still there after delete --force")
      outcome("start vs delete --force", ss == 0 and "started, deleted" or "deleted, start refused")
    end,
    ["start vs kill"] = function(root, name, round)
      created(root)
      local ss, se, ks, ke = together(root, round, { "start", "c1" }, { "kill", "c1", "KILL" })
      -- serial: start then kill (both 0), or kill then start (start refused: it has stopped)
      assert(ks == 0, name .. ": kill: " .. ke)
      assert(ss == 0 or (ss == 1 and se == "cannot start a container that has stopped\n"), name .. ": start: " .. tostring(ss) .. " " .. se)
      assert(pool.wait(function() return status(root) == "stopped" end, 60), name .. ": not stopped after kill")
      outcome("start vs kill", ss == 0 and "started, killed" or "killed, start refused")
    end,
    ["delete --force vs delete --force"] = function(root, name, round)
      created(root)
      assert(pool.rt_wait(root, { "start", "c1" }) == 0, name .. ": start")
      local s1, e1, s2, e2 = together(root, round, { "delete", "--force", "c1" }, { "delete", "--force", "c1" })
      assert(s1 == 0 and s2 == 0, name .. ": " .. e1 .. e2)
      assert(status(root) == nil, name .. ": still there")
      outcome("delete --force vs delete --force", "deleted")
    end,
  }

  it("ends every round as one of the serial orders, and leaves nothing", function()
    bundle = world.bundle(ws.tmp .. "/bundle", { "sleep", "1000" })
    local names = {}
    for k in pairs(RACES) do names[#names + 1] = k end
    table.sort(names)
    local cases = {}
    for round = 1, ROUNDS do
      for _, race in ipairs(names) do
        local name = ("%s, round %d"):format(race, round)
        cases[#cases + 1] = { name = name, fn = function(root)
          RACES[race](root, name, round)
          clean(root, name)
        end }
      end
    end
    local failures, took = pool.lanes(cases, PARALLEL, new_root)
    print(("  races: %d rounds, %d at once, %.0f s"):format(#cases, PARALLEL, took))
    for _, race in ipairs(names) do
      local parts = {}
      for what, k in pairs(outcomes[race] or {}) do parts[#parts + 1] = ("%s %d"):format(what, k) end
      table.sort(parts)
      print(("  %s: %s"):format(race, table.concat(parts, ", ")))
    end
    assert.same({}, failures)
  end)
end)
