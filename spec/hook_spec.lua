-- vc.hook: OCI hooks run by real scripts (spec/fixtures/hooks/).
local host = require("helpers.host")

local FIX = host.run("pwd") .. "/spec/fixtures/hooks/"

insulate("vc.hook", function()
  local vc = require("vc")
  local before, tmp

  setup(function()
    -- libuv makes a process-wide pipe (its signal lock) on the first loop it creates and keeps it for the
    -- life of the process: let that happen before the snapshot, so that what is compared is per call.
    assert(vc.hook.run({ path = "/bin/true" }))
    before = host.snapshot()
  end)

  before_each(function() tmp = host.tmpdir() end)
  after_each(function() host.rmtree(tmp) end)

  describe("run_all", function()
    it("runs a list in order", function()
      local log = tmp .. "/order"
      local hooks = {}
      for _, name in ipairs({ "first", "second", "third" }) do
        hooks[#hooks + 1] = { path = FIX .. "record", args = { "record", name, log } }
      end
      local ok, outs = vc.hook.run_all(hooks, { kind = "prestart" })
      assert.is_true(ok)
      assert.equals(3, #outs)
      assert.equals("first\nsecond\nthird\n", host.read(log))
    end)

    it("stops at the first failure and says which hook failed (0-based)", function()
      local log = tmp .. "/order"
      local ok, msg, code, index = vc.hook.run_all({
        { path = FIX .. "record", args = { "record", "a", log } },
        { path = FIX .. "fail", args = { "fail", "2", "no network" } },
        { path = FIX .. "record", args = { "record", "c", log } },
      }, { kind = "poststart" })
      assert.is_nil(ok)
      assert.equals("error running poststart hook #1: exit status 2, stderr: no network", msg)
      assert.equals("EIO", code)
      assert.equals(1, index)
      assert.equals("a\n", host.read(log))
    end)

    it("refuses a relative path before anything runs", function()
      local log = tmp .. "/order"
      local ok, msg, code, index = vc.hook.run_all({
        { path = FIX .. "record", args = { "record", "a", log } },
        { path = "bin/hook" },
      }, { kind = "createRuntime" })
      assert.is_nil(ok)
      assert.equals("invalid createRuntime hook #1: path 'bin/hook' is not absolute", msg)
      assert.equals("EINVAL", code)
      assert.equals(1, index)
      assert.is_nil(host.read(log))
    end)

    it("accepts an empty list", function()
      local ok, outs = vc.hook.run_all({}, { kind = "poststop" })
      assert.is_true(ok)
      assert.same({}, outs)
    end)
  end)

  describe("run", function()
    it("writes the state JSON on stdin, from a table or a string", function()
      local state = { ociVersion = "1.0.2", id = "c1", status = "created", pid = 4242, bundle = "/b",
                      annotations = { ["io.kubernetes.cri.container-type"] = "sandbox" } }
      assert.is_true(vc.hook.run({ path = FIX .. "dump", args = { "dump", tmp } }, { state = state }))
      assert.same(state, vc.json.decode(host.read(tmp .. "/state.json")))

      assert.is_true(vc.hook.run({ path = FIX .. "dump", args = { "dump", tmp } }, { state = '{"id":"c2"}' }))
      assert.equals('{"id":"c2"}', host.read(tmp .. "/state.json"))
    end)

    it("gives an empty stdin without state", function()
      assert.is_true(vc.hook.run({ path = FIX .. "dump", args = { "dump", tmp } }))
      assert.equals("", host.read(tmp .. "/state.json"))
    end)

    it("passes args exactly, args[0] included", function()
      local ok, out = vc.hook.run({ path = "/bin/sh", args = { "my-hook-name", "-c", 'echo "$0"' } })
      assert.is_true(ok)
      assert.equals("my-hook-name\n", out.stdout)
      assert.is_true(vc.hook.run({ path = FIX .. "dump", args = { "dump", tmp, "two words", "" } }))
      assert.equals(tmp .. "\ntwo words\n\n", host.read(tmp .. "/args"))
    end)

    it("runs argv = { path } without args", function()
      local ok, out = vc.hook.run({ path = "/bin/sh", args = nil }, { state = 'echo "$0 $#"' })
      assert.is_true(ok)
      assert.equals("/bin/sh 0\n", out.stdout)
    end)

    it("replaces the environment: nothing is inherited", function()
      assert.is_not_nil(os.getenv("PATH"))
      assert.is_true(vc.hook.run({ path = FIX .. "dump", args = { "dump", tmp }, env = { "A=1", "B=two words" } }))
      assert.equals("A=1\nB=two words\n", host.read(tmp .. "/env"))
      assert.is_true(vc.hook.run({ path = FIX .. "dump", args = { "dump", tmp } }))
      assert.equals("", host.read(tmp .. "/env"))
    end)

    it("runs in the given working directory", function()
      assert.is_true(vc.hook.run({ path = FIX .. "dump", args = { "dump", tmp } }, { cwd = tmp }))
      assert.equals(tmp .. "\n", host.read(tmp .. "/cwd"))
    end)

    it("refuses a relative path", function()
      assert.same({ nil, "invalid prestart hook #0: path 'true' is not absolute", "EINVAL" },
        { vc.hook.run({ path = "true" }, { kind = "prestart" }) })
    end)

    it("refuses a timeout that is not positive", function()
      assert.same({ nil, "invalid hook #0: timeout must be greater than zero, got 0", "EINVAL" },
        { vc.hook.run({ path = "/bin/true", timeout = 0 }) })
    end)

    it("reports a non-zero exit with the captured stderr and the index given", function()
      local ok, msg, code = vc.hook.run({ path = FIX .. "fail", args = { "fail", "3", "it broke" } },
        { kind = "poststart", index = 1 })
      assert.is_nil(ok)
      assert.equals("error running poststart hook #1: exit status 3, stderr: it broke", msg)
      assert.equals("EIO", code)
    end)

    it("reports a death by signal", function()
      local ok, msg = vc.hook.run({ path = "/bin/sh", args = { "sh", "-c", "kill -KILL $$" } }, { kind = "poststop" })
      assert.is_nil(ok)
      assert.equals("error running poststop hook #0: signal: killed", msg)
    end)

    it("reports a hook that cannot be executed", function()
      assert.same({ nil, "error running prestart hook #0: exec '/nonexistent/hook': No such file or directory",
        "ENOENT" }, { vc.hook.run({ path = "/nonexistent/hook" }, { kind = "prestart" }) })
      assert.same({ nil, "error running prestart hook #0: exec '" .. FIX .. "': Permission denied", "EACCES" },
        { vc.hook.run({ path = FIX }, { kind = "prestart" }) })
    end)

    it("kills a hook that runs past its timeout, and its children", function()
      local pidfile = tmp .. "/grandchild"
      local t0 = os.time()
      local ok, msg, code = vc.hook.run({ path = FIX .. "sleeper", args = { "sleeper", pidfile }, timeout = 1 },
        { kind = "poststart" })
      assert.is_nil(ok)
      assert.equals("error running poststart hook #0: hook ran past specified timeout of 1s", msg)
      assert.equals("ETIMEDOUT", code)
      assert.is_true(os.time() - t0 <= 3)
      local gpid = tonumber(host.read(pidfile))
      assert.is_number(gpid)
      local dead = host.wait_dead(gpid, 3)
      if not dead then os.execute("kill -KILL " .. gpid) end -- do not leave it behind when this fails
      assert.is_true(dead, "the hook's child " .. gpid .. " is still alive")
    end)

    it("bounds captured output to 64 KiB per stream", function()
      local ok, out = vc.hook.run({ path = FIX .. "flood", args = { "flood", "100000", "70000", "0" } })
      assert.is_true(ok)
      local marker = "\n[... output truncated]\n"
      assert.equals(65536 + #marker, #out.stdout)
      assert.equals(string.rep("o", 65536) .. marker, out.stdout)
      assert.equals(string.rep("e", 65536) .. marker, out.stderr)

      ok, out = vc.hook.run({ path = FIX .. "flood", args = { "flood", "10", "65536", "0" } })
      assert.equals("oooooooooo", out.stdout)
      assert.equals(string.rep("e", 65536), out.stderr) -- exactly at the bound: nothing dropped
    end)

    it("puts bounded stderr and stdout in the failure message", function()
      local ok, msg = vc.hook.run({ path = FIX .. "flood", args = { "flood", "3", "70000", "1" } })
      assert.is_nil(ok)
      assert.equals("error running hook #0: exit status 1, stderr: " .. string.rep("e", 65536)
        .. "\n[... output truncated], stdout: ooo", msg)
    end)

    it("runs a hook inside a network namespace #privileged", function()
      local ns = assert(vc.netns.create(tmp .. "/netns", "hook-ns"))
      local ns_ino = host.run("stat -L -c %i " .. ns:path())
      local host_ino = host.run("stat -L -c %i /proc/self/ns/net")
      assert.not_equals(host_ino, ns_ino)

      local ok, out = vc.hook.run({ path = FIX .. "netns" }, { netns = ns:path() })
      assert.is_true(ok)
      assert.equals(ns_ino .. "\n", out.stdout)
      ok, out = vc.hook.run({ path = FIX .. "netns" }, { netns = ns })
      assert.equals(ns_ino .. "\n", out.stdout)
      local oks, outs = vc.hook.run_all({ { path = FIX .. "netns" }, { path = FIX .. "netns" } }, { netns = ns })
      assert.is_true(oks)
      assert.equals(ns_ino .. "\n", outs[2].stdout)
      -- the runtime itself stayed where it was
      assert.equals(host_ino, host.run("stat -L -c %i /proc/self/ns/net"))
      ok, out = vc.hook.run({ path = FIX .. "netns" })
      assert.equals(host_ino .. "\n", out.stdout)

      assert.is_true(ns:delete())
      assert.is_true(vc.netns.remove_dir(tmp .. "/netns"))
      for _, m in ipairs(host.mounts()) do
        assert.is_nil(m:find(tmp, 1, true), "still mounted: " .. m)
      end
    end)

    it("reports a namespace that cannot be opened", function()
      assert.same({ nil, "error running poststart hook #0: open netns '/nonexistent': No such file or directory",
        "ENOENT" }, { vc.hook.run({ path = "/bin/true" }, { kind = "poststart", netns = "/nonexistent" }) })
      assert.same({ nil, "error running hook #0: '/dev/null' is not a network namespace", "EINVAL" },
        { vc.hook.run({ path = "/bin/true" }, { netns = "/dev/null" }) })
    end)
  end)

  describe("bindings", function()
    local function err(f, ...)
      local ok, e = pcall(f, ...)
      assert.is_false(ok)
      return (e:gsub("^[^:]*:%d+: ", "")) -- without the caller's position
    end

    it("raise on misuse with exact messages", function()
      assert.equals("bad argument #1 to 'run' (table expected, got nil)", err(function() vc.hook.run(nil) end))
      assert.equals("bad argument #1 to 'run' (field 'path' must be a string, got nil)",
        err(function() vc.hook.run({}) end))
      assert.equals("bad argument #1 to 'run' (field 'args' must be a table of strings, got string)",
        err(function() vc.hook.run({ path = "/bin/true", args = "x" }) end))
      assert.equals("bad argument #1 to 'run' (args[2] must be a string, got number)",
        err(function() vc.hook.run({ path = "/bin/true", args = { "true", 1 } }) end))
      assert.equals("bad argument #1 to 'run' (env[1] must be a string, got table)",
        err(function() vc.hook.run({ path = "/bin/true", env = { {} } }) end))
      assert.equals("bad argument #1 to 'run' (field 'timeout' must be an integer, got string)",
        err(function() vc.hook.run({ path = "/bin/true", timeout = "5" }) end))
      assert.equals("bad argument #2 to 'run' (table expected, got number)",
        err(function() vc.hook.run({ path = "/bin/true" }, 5) end))
      assert.equals("bad argument #2 to 'run' (field 'state' must be a string or a table, got function)",
        err(function() vc.hook.run({ path = "/bin/true" }, { state = print }) end))
      assert.equals("bad argument #2 to 'run' (field 'netns' must be a path or a vc.Netns, got number)",
        err(function() vc.hook.run({ path = "/bin/true" }, { netns = 5 }) end))
      assert.equals("bad argument #2 to 'run' (field 'index' must not be negative)",
        err(function() vc.hook.run({ path = "/bin/true" }, { index = -1 }) end))
      assert.equals("bad argument #1 to 'run_all' (table expected, got string)",
        err(function() vc.hook.run_all("x") end))
      assert.equals("bad argument #1 to 'run_all' (hook #1: table expected, got string)",
        err(function() vc.hook.run_all({ { path = "/bin/true" }, "x" }) end))
      assert.equals("bad argument #1 to 'run_all' (hook #0: field 'path' must be a string, got number)",
        err(function() vc.hook.run_all({ { path = 1 } }) end))
    end)
  end)

  it("leaves no child processes, fds or mounts behind", function()
    host.assert_clean(before)
  end)
end)
