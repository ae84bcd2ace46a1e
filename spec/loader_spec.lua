local loader = require("kata.loader")
local runner = require("kata.runner")

describe("kata.loader", function()
  it("gives a policy only the allowlisted globals", function()
    local p = assert(loader.load_string([[
      return { probe = function(ctx, api)
        return { string = type(string), table = type(table), math = type(math), os_time = type(os.time),
                 pcall = type(pcall) }
      end }]], "probe"))
    local res = p.probe({}, {})
    assert.same({ string = "table", table = "table", math = "table", os_time = "function", pcall = "function" }, res)
  end)

  it("raises on undeclared globals, reading or writing", function()
    for _, name in ipairs({ "io", "require", "load", "loadfile", "dofile", "debug", "package", "print",
      "collectgarbage", "getmetatable" }) do
      local p = assert(loader.load_string(("return { f = function() return %s end }"):format(name), "g"))
      local ok, err = pcall(p.f)
      assert.is_false(ok, name)
      assert.matches(("undeclared global '%s'"):format(name), err)
    end
    local ok, err = loader.load_string("x = 1 return {}", "w")
    assert.is_nil(ok)
    assert.matches("assignment to undeclared global 'x'", err)
  end)

  it("hides os.execute and string.dump, also through the string metatable", function()
    local p = assert(loader.load_string(
      "return { f = function() return os.execute, os.getenv, string.dump, ('').dump end }", "d"))
    local a, b, c, d = p.f()
    assert.is_nil(a)
    assert.is_nil(b)
    assert.is_nil(c)
    assert.is_nil(d)
  end)

  it("does not let a policy change the shared libraries", function()
    local p = assert(loader.load_string("return { f = function() string.rep = nil end }", "m"))
    local ok, err = pcall(p.f)
    assert.is_false(ok)
    assert.matches("attempt to modify read%-only table 'string'", err)
    assert.is_function(string.rep)
  end)

  it("refuses bytecode", function()
    local bc = string.char(0x1b) .. "Lua"
    local ok, err = loader.load_string(bc, "bin")
    assert.is_nil(ok)
    assert.matches("attempt to load a binary chunk", err)
  end)

  it("refuses a script that does not return a table", function()
    local ok, err = loader.load_string("return 42", "n")
    assert.is_nil(ok)
    assert.equal("policy 'n': must return a table of functions", err)
  end)

  it("merges an extending policy over its base and keeps the base reachable", function()
    local base = { name = "default", start = function() return "base" end, kill = function() return "kill" end }
    local ext = assert(loader.load_string([[
      local M = { name = "audit", extends = "default" }
      function M.start(ctx, api) return "audit+" .. api.policy.base.start(ctx, api) end
      return M]], "audit"))
    local merged = loader.extend(ext, base)
    assert.equal("kill", merged.kill())
    assert.equal("audit+base", merged.start({}, { policy = merged }))
    assert.equal("audit", merged.name)
  end)
end)

describe("kata.runner", function()
  local policy = {
    name = "p",
    ok = function() return true end,
    status = function() return 3 end,
    soft = function() return nil, "soft failure" end,
    hard = function() error("boom") end,
    deliberate = function() runner.fail("container not running") end,
  }

  it("returns what the function returns", function()
    assert.is_true(runner.run(policy, "ok", {}, {}))
    assert.equal(3, runner.run(policy, "status", {}, {}))
  end)

  it("treats a missing function as success", function()
    assert.is_true(runner.run(policy, "missing", {}, {}))
  end)

  it("passes nil, err through", function()
    local ok, err = runner.run(policy, "soft", {}, {})
    assert.is_nil(ok)
    assert.equal("soft failure", err)
  end)

  it("names the policy and function of a script error and keeps a traceback", function()
    local ok, err, trace = runner.run(policy, "hard", {}, {})
    assert.is_nil(ok)
    assert.matches("^p%.hard: .*boom$", err)
    assert.matches("stack traceback", trace)
  end)

  it("keeps a deliberate failure's message as it is", function()
    local ok, err, trace = runner.run(policy, "deliberate", {}, {})
    assert.is_nil(ok)
    assert.equal("container not running", err)
    assert.is_nil(trace)
  end)
end)
