-- kata.testing, the policy test kit (issue 10): a sandbox connection as complete as vc.Sandbox's
-- (exec, attach, read, write), and an api view that is production's: lazy, read-only, least privilege.
local testing = require("kata.testing")
local api_mod = require("kata.api")

local function running(opts)
  local api = testing.api(opts)
  local policy = require("kata.loader").load_file("lua/kata/policy/default.lua", "default")
  assert(testing.run(policy, api, testing.ctx("create", { "c1" }, { bundle = "/bundle" })))
  assert(testing.run(policy, api, testing.ctx("start", { "c1" })))
  local st = api.container.load("c1")
  return api, st, assert(api.pod.connect(st))
end

describe("kata.testing's sandbox connection", function()
  it("runs an exec'd process whose output and exit arrive through attach and read", function()
    local api, st, sb = running({ exec_output = function(ex) return "hello " .. ex.process.args[1] .. "\n", "warn\n" end,
      exec_status = 3 })
    local res = assert(api.agent.exec_process(sb, st.id, "e1", { args = { "echo" }, cwd = "/" }))
    assert.is_true(api.agent.start_process(sb, res.handle))
    assert.is_true(sb:attach(res.handle))
    local got = {}
    while true do
      local m = assert(sb:read(1))
      got[#got + 1] = m.type == "data" and (m.stream .. ":" .. m.data) or (m.event .. ":" .. m.params.status)
      if m.type == "event" then break end
    end
    assert.same({ "stdout:hello echo\n", "stdout:", "stderr:warn\n", "stderr:", "exit:3" }, got)
    local m, err, code = sb:read(0.5)
    assert.is_nil(m)
    assert.equal("ETIMEDOUT", code, err)
    assert.is_truthy(table.concat(api.calls, "\n"):find("agent sup.attach " .. res.handle, 1, true))
  end)

  it("keeps what is written to a process's stdin, and refuses what vc.Sandbox refuses", function()
    local api, st, sb = running({ exec_status = "running" })
    local res = assert(api.agent.exec_process(sb, st.id, "e1", { args = { "cat" }, cwd = "/" }))
    assert.equal("ENOENT", select(3, sb:write(res.handle, "early")))
    assert.is_true(sb:attach(res.handle))
    assert.equal("EBUSY", select(3, sb:attach(res.handle)))
    assert.equal("ENOENT", select(3, sb:attach(999)))
    assert.is_true(sb:write(res.handle, "a"))
    assert.is_true(sb:write(res.handle, "b"))
    assert.is_true(sb:write(res.handle, ""))
    assert.equal("EPIPE", select(3, sb:write(res.handle, "late")))
    assert.same({ "a", "b", closed = true }, api.world.stdin[res.handle])
  end)

  it("fails one call on request", function()
    local api, st, sb = running({ fail = { ["agent sup.attach"] = "boom" } })
    local res = assert(api.agent.exec_process(sb, st.id, "e1", { args = { "true" }, cwd = "/" }))
    local ok, err = sb:attach(res.handle)
    assert.is_nil(ok)
    assert.equal("boom", err)
  end)
end)

describe("a policy's api view", function()
  it("is read-only all the way down, and hides what a policy may not use", function()
    local api = testing.api()
    local view = api_mod.protect(api, testing.ctx("create", { "c1" }, { bundle = "/bundle" }))
    assert.has_error(function() view.state = {} end, "attempt to modify read-only table 'api' (key 'state')")
    assert.has_error(function() view.container.load = print end,
      "attempt to modify read-only table 'api.container' (key 'load')")
    assert.has_error(function() view.config.runtime.policy = "x" end,
      "attempt to modify read-only table 'api.config.runtime' (key 'policy')")
    assert.is_nil(view.limits)
    assert.is_nil(view.hook.run_all)
    for k in pairs(view.sandbox) do assert.is_not.equal("launch", k) end
    assert.equal(view.container, view.container) -- one proxy per table
  end)

  it("binds a mechanism namespace only when it is first used", function()
    local api = testing.api()
    assert.is_nil(rawget(api, "pod"))
    local view = api_mod.protect(api, testing.ctx("state", { "c1" }))
    assert.is_nil(rawget(api, "pod"))
    assert.is_function(view.pod.connect)
    assert.is_not_nil(rawget(api, "pod"))
  end)
end)
