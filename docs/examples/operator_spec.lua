-- An operator's spec for a policy, run with plain busted against an installed runtime: the policy is
-- start-log.lua beside this file, the runtime's Lua (kata.testing, the default policy) and its `vc` module
-- come from the installation:
--
--   P=/usr/local   # the prefix kata-runtime was installed to
--   LUA_PATH="$P/share/kata-runtime/lua/?.lua;;" LUA_CPATH="$P/lib/kata-runtime/lua/?.so;;" \
--     busted "$P/share/kata-runtime/examples/operator_spec.lua"
--
-- Copy both files next to your own policy and change the names. kata.testing runs each command as
-- production does -- the real mechanism over fake primitives, the same read-only least-privilege api, the
-- instruction budget, the deadline and the memory cap -- and records every primitive call in order.
local testing = require("kata.testing")
local policies = require("kata.policies")

-- the runtime's Lua directory (where kata.testing was found) and this spec's own directory
local lua_dir = assert(package.searchpath("kata.testing", package.path)):match("^(.*)/kata/testing%.lua$")
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

local function load_policy()
  return assert(policies.load("start-log", lua_dir, { runtime = { policy_dir = here } }))
end

local function index_of(calls, pattern)
  for i, c in ipairs(calls) do if c:match(pattern) then return i end end
end

describe("the start-log policy", function()
  it("logs before the container starts, and starts it as the default does", function()
    local p = load_policy()
    local api = testing.api()
    assert.is_true(testing.run(p, api, testing.ctx("create", { "c1" }, { bundle = "/bundle" })))
    assert.is_true(testing.run(p, api, testing.ctx("start", { "c1" })))
    assert.equal("running", api.world.states.c1.status)
    assert.is_truthy(index_of(api.log.lines, "^info: start of c1 requested$"))
    assert.is_truthy(index_of(api.calls, "^agent start_container c1$"))
  end)

  it("refuses a terminal before anything is made", function()
    local p = load_policy()
    local api = testing.api({ config = { ociVersion = "1.2.0", root = { path = "rootfs" },
      process = { args = { "sh" }, cwd = "/", terminal = true } } })
    local ok, err = testing.run(p, api, testing.ctx("create", { "c1" }, { bundle = "/bundle" }))
    assert.is_nil(ok)
    assert.equal("this node runs no containers with a terminal", err)
    assert.is_nil(index_of(api.calls, "^sandbox.launch"))
    assert.same({}, testing.leftovers(api))
  end)

  it("leaves nothing behind when create fails at any step", function()
    for _, step in ipairs({ "sandbox.launch", "share.bind", "agent create_container", "shim.spawn",
      "hook prestart", "state.save" }) do
      local p = load_policy()
      local api = testing.api({ fail = { [step] = "injected" }, hooks = { prestart = { { path = "/bin/true" } } } })
      local ok = testing.run(p, api, testing.ctx("create", { "c1" }, { bundle = "/bundle" }))
      assert.is_nil(ok, step)
      assert.same({}, testing.leftovers(api), step)
    end
  end)

  it("keeps a failed start's container created, with its parts for delete", function()
    local p = load_policy()
    local api = testing.api()
    assert.is_true(testing.run(p, api, testing.ctx("create", { "c1" }, { bundle = "/bundle" })))
    api.fail["agent start_container"] = "the guest refused"
    local ok, err = testing.run(p, api, testing.ctx("start", { "c1" }))
    assert.is_nil(ok)
    assert.equal("start container: the guest refused", err)
    assert.equal("created", api.world.states.c1.status)
    assert.is_true(testing.run(p, api, testing.ctx("delete", { "c1" }, { force = true })))
    assert.same({}, testing.leftovers(api))
  end)
end)
