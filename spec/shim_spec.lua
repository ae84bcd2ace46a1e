-- vc.shim bindings, and kata-shim against a real supervisor and guest (#integration).
local vc = require("vc")
local run = require("spec.helpers.run")

describe("vc.shim", function()
  local opts = function(extra)
    local o = { socket = "/nonexistent/sup.sock", container = "c1", handle = 3 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  it("raises on a missing or mistyped option", function()
    assert.has_error(function() vc.shim.spawn() end, "bad argument #1 to 'spawn' (table expected, got no value)")
    assert.has_error(function() vc.shim.spawn({ container = "c1", handle = 3 }) end, "field 'socket' is required")
    assert.has_error(function() vc.shim.spawn(opts({ container = "" })) end, "field 'container' is required")
    assert.has_error(function() vc.shim.spawn(opts({ handle = 0 })) end,
      "field 'handle' must be an integer 1..4294967295")
    assert.has_error(function() vc.shim.spawn(opts({ handle = "x" })) end,
      "field 'handle' must be an integer, got string")
    assert.has_error(function() vc.shim.spawn(opts({ log_format = "xml" })) end,
      "field 'log_format' must be 'text' or 'json', got 'xml'")
    assert.has_error(function() vc.shim.exec(opts({ exec_id = "" })) end, "field 'exec_id' must not be empty")
    assert.has_error(function() vc.shim.spawn(opts({ terminal = 1 })) end,
      "field 'terminal' must be a boolean, got number")
  end)

  it("finds the kata-shim of the build tree", function()
    local path = assert(vc.shim.path())
    assert.matches("/kata%-shim$", path)
    local nope, msg, code = vc.shim.path("/nonexistent/kata-shim")
    assert.is_nil(nope)
    assert.equal("ENOENT", code)
    assert.matches("shim binary '/nonexistent/kata%-shim'", msg)
  end)

  it("returns nil, msg, code when the shim cannot attach", function()
    local pid, msg, code = vc.shim.spawn(opts())
    assert.is_nil(pid)
    assert.equal("ENOENT", code)
    assert.equal("start kata-shim: connect to supervisor '/nonexistent/sup.sock': No such file or directory", msg)
  end)

  it("exec replaces the calling process with kata-shim", function()
    -- a separate interpreter becomes the shim: its exit status and its stderr are the shim's
    local script = ([[package.cpath = %q
      local vc = require("vc")
      print(vc.shim.exec({ socket = "/nonexistent/sup.sock", container = "c1", handle = 3 }))]])
      :format(run.build .. "/?.so")
    local status, out, err = run.sh("lua5.4 -e " .. run.q(script))
    assert.equal(255, status)
    assert.equal("", out)
    assert.matches("connect to supervisor '/nonexistent/sup.sock'", err)
  end)

  it("exec returns nil, msg, code when there is no binary", function()
    local ok, msg, code = vc.shim.exec(opts({ path = "/nonexistent/kata-shim" }))
    assert.is_nil(ok)
    assert.equal("ENOENT", code)
    assert.matches("/nonexistent/kata%-shim", msg)
  end)
end)
