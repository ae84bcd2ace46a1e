-- kata-runtime policy check | show | trace (issue 10).
local run = require("spec.helpers.run")

describe("kata-runtime policy", function()
  local dir
  before_each(function() dir = run.tmpdir("kata-ptool") end)
  after_each(function() run.rmrf(dir) end)

  it("trace default start prints the seed's order: start, then poststart hooks", function()
    local status, out = run.runtime_cmd({ "policy", "trace", "default", "start" })
    assert.equal(0, status)
    assert.equal(table.concat({ "  1 lock c1", "  2 hook startContainer /etc/hooks/startContainer",
      "  3 sandbox.connect /run/kata/.sandbox/c1/sup.sock", "  4 agent start_container c1", "  5 state.save c1 running",
      "  6 hook poststart /etc/hooks/poststart", "  7 unlock c1", "" }, "\n"), out)
  end)

  it("trace --fail shows the rollback and that nothing is left", function()
    local status, out = run.runtime_cmd({ "policy", "--fail", "agent create_container", "trace", "default", "create" })
    assert.equal(1, status)
    assert.matches("error: create container: injected failure\nleft behind: nothing\n$", out)
    assert.matches("state.remove c1", out, 1, true)
  end)

  it("check names file:line of a syntax error, unknown steps and type mistakes, and exits 1", function()
    run.write(dir .. "/syntax.lua", "return {\n  x =\n")
    local status, out = run.runtime_cmd({ "policy", "check", dir .. "/syntax.lua" })
    assert.equal(1, status)
    assert.equal(dir .. "/syntax.lua:3: unexpected symbol near <eof>\n", out)
    run.write(dir .. "/typo.lua", "local M = { extends = 'default' }\nfunction M.strat() end\nM.status = 3\nreturn M\n")
    status, out = run.runtime_cmd({ "policy", "check", dir .. "/typo.lua" })
    assert.equal(1, status)
    assert.matches("unknown step or command 'strat'", out, 1, true)
    assert.matches("'status' must be a function, got number", out, 1, true)
    run.write(dir .. "/good.lua", "return { extends = 'default', hook_failure = { poststart = 'warn' } }\n")
    status, out = run.runtime_cmd({ "policy", "check", dir .. "/good.lua" })
    assert.equal(0, status, out)
    os.execute("chmod 666 " .. run.q(dir .. "/good.lua"))
    status, out = run.runtime_cmd({ "policy", "check", dir .. "/good.lua" })
    assert.equal(1, status)
    assert.matches("unsafe policy file", out, 1, true)
  end)

  it("show names the file each step comes from", function()
    local status, out = run.runtime_cmd({ "policy", "show", "lenient-poststart" })
    assert.equal(0, status)
    assert.matches("\n  hook_failure +[^\n]*/policies/lenient%-poststart%.lua\n", out)
    assert.matches("\n  start +[^\n]*/kata/policy/default%.lua\n", out)
  end)
end)
