-- vc.shim bindings, and kata-shim against a real supervisor and guest (#integration).
local vc = require("vc")
local run = require("spec.helpers.run")
local pool = require("spec.helpers.pool")

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

describe("kata-shim with a real guest #integration", function()
  local tmp, share, info, sb
  local count = 0

  local function sleep(s) os.execute("sleep " .. s) end

  --- Poll f until it returns a value, up to timeout seconds.
  local function eventually(f, timeout, what)
    local deadline = os.time() + timeout
    repeat
      local v = f()
      if v ~= nil then return v end
      sleep(0.05)
    until os.time() > deadline
    error("timed out waiting for " .. what, 2)
  end

  --- Processes whose command line names our temp dir (and, given a program name, run that program), as
  --- "pid args" lines.
  local function our_processes(program)
    local p = io.popen("ps -eo pid=,args=")
    local found = {}
    for line in p:lines() do
      local pid, exe = line:match("^%s*(%d+)%s+(%S+)")
      if line:find(tmp, 1, true) and tonumber(pid) ~= nil and
          (program == nil or exe:match("[^/]+$") == program) then
        found[#found + 1] = line
      end
    end
    p:close()
    return found
  end

  local function our_mounts()
    local found = {}
    for line in io.lines("/proc/self/mountinfo") do
      if line:find(tmp, 1, true) then found[#found + 1] = line end
    end
    return found
  end

  --- A container in the sandbox running args; returns its id, handle and scratch dir.
  local function container(args, opts)
    opts = opts or {}
    count = count + 1
    local id = "c" .. count
    local dir = tmp .. "/" .. id
    assert(os.execute("mkdir -p " .. run.q(dir)))
    local status, _, err = run.sh("bash scripts/make-rootfs.sh " .. run.q(share .. "/" .. id .. "/rootfs"))
    assert.equal(0, status, err)
    local namespaces = { { type = "mount" }, { type = "uts" }, { type = "ipc" } }
    if opts.pidns ~= false then table.insert(namespaces, { type = "pid" }) end
    local spec = {
      ociVersion = "1.0.2",
      hostname = id,
      root = { path = "rootfs" },
      process = { args = args, env = { "PATH=/bin", "TERM=xterm" }, cwd = "/", user = { uid = 0, gid = 0 },
        terminal = opts.terminal or false },
      mounts = {
        { destination = "/proc", type = "proc", source = "proc" },
        { destination = "/dev/pts", type = "devpts", source = "devpts",
          options = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620" } },
      },
      linux = { namespaces = namespaces },
    }
    local r, msg = sb:call("create_container", { id = id, rootfs = id .. "/rootfs", spec = spec })
    assert(r, msg)
    return id, r.handle, dir
  end

  --- kata-shim in the background with stdio redirected to files of dir; returns pid and file names.
  local function start_shim(id, handle, dir, extra, stdin)
    local shim = assert(vc.shim.path())
    local cmd = ("%s --socket %s --container %s --handle %d --log %s %s"):format(run.q(shim), run.q(info.socket),
      id, handle, run.q(dir .. "/shim.log"), extra or "")
    local job = pool.spawn(dir, ("exec %s <%s >%s 2>%s"):format(cmd, run.q(stdin or "/dev/null"), run.q(dir .. "/out"),
      run.q(dir .. "/err")))
    return { pid = job.pid, dir = dir, status = job.status }
  end

  local function exit_status(shim, timeout)
    return eventually(shim.status, timeout or 60, "the shim's exit")
  end

  --- The shim is attached once its log says so (then start_container cannot lose output).
  local function attached(shim)
    eventually(function()
      local log = run.read(shim.dir .. "/shim.log") or ""
      return log:find("attached to handle", 1, true) and true or nil
    end, 10, "the shim to attach")
  end

  local function run_container(args, opts, stdin)
    local id, handle, dir = container(args, opts)
    local shim = start_shim(id, handle, dir, nil, stdin)
    attached(shim)
    assert(sb:call("start_container", { id = id }))
    local status = exit_status(shim)
    assert(sb:call("remove_container", { id = id }))
    return status, run.read(dir .. "/out"), run.read(dir .. "/err"), shim
  end

  setup(function()
    local build = run.build
    assert(io.open((require("kata.config").guest_image())), "no guest image: run scripts/build-guest.sh " .. build)
    tmp = run.tmpdir("shim-it")
    share = tmp .. "/sb/shared"
    local msg
    info, msg = vc.sandbox.launch(require("helpers.vm").launch_config({ id = "shim-it", dir = tmp .. "/sb",
      accel = "auto", boot_timeout = 60 }))
    assert(info, msg)
    sb = assert(vc.sandbox.connect(info.socket))
  end)

  teardown(function()
    if sb then
      sb:call("sup.shutdown", { timeout = 10 })
      sb:close()
    end
    if info then
      eventually(function() return not vc.proc.alive(info.pid) or nil end, 30, "the supervisor to exit")
      pcall(eventually, function() return #our_processes() == 0 or nil end, 30, "qemu and virtiofsd to exit")
    end
    local left, mounts = our_processes(), our_mounts()
    for _, line in ipairs(left) do os.execute("kill -KILL " .. line:match("%d+")) end
    run.rmrf(tmp)
    assert.same({}, left)
    assert.same({}, mounts)
  end)

  after_each(function()
    -- no shim or console receiver outlives its case
    assert.same({}, our_processes("kata-shim"))
    assert.same({}, our_processes("kata-recvtty"))
  end)

  it("proxies the output of echo hello and exits 0", function()
    local status, out, err = run_container({ "echo", "hello" })
    assert.equal(0, status)
    assert.equal("hello\n", out)
    assert.equal("", err)
  end)

  it("exits with the process's exit code, stderr kept apart", function()
    local status, out, err = run_container({ "sh", "-c", "echo to-out; echo to-err >&2; exit 3" })
    assert.equal(3, status)
    assert.equal("to-out\n", out)
    assert.equal("to-err\n", err)
  end)

  it("feeds its stdin to the process and closes it at the end", function()
    local input = tmp .. "/input"
    run.write(input, "line one\nline two\n")
    local status, out = run_container({ "sh", "-c", "cat; echo done" }, nil, input)
    assert.equal(0, status)
    assert.equal("line one\nline two\ndone\n", out)
  end)

  it("forwards SIGTERM: the process dies of it and the shim exits 143", function()
    -- not PID 1 of a namespace: that one ignores signals it has no handler for, as with runc
    local id, handle, dir = container({ "sleep", "100" }, { pidns = false })
    local shim = start_shim(id, handle, dir)
    attached(shim)
    assert(sb:call("start_container", { id = id }))
    eventually(function()
      local r = sb:call("list_processes", { id = id })
      return r and #r.pids > 0 or nil
    end, 20, "the process to run")
    assert(os.execute("kill -TERM " .. shim.pid))
    assert.equal(143, exit_status(shim, 30))
    assert(sb:call("remove_container", { id = id }))
    assert.matches("forwarding signal 15", run.read(dir .. "/shim.log"))
  end)

  it("serves a detached exec: --exec-id, its own output and status, TERM by exec id", function()
    local id, handle, dir = container({ "sleep", "100" }, { pidns = false })
    local init = start_shim(id, handle, dir)
    attached(init)
    assert(sb:call("start_container", { id = id }))
    local function exec(exec_id, args)
      local r, msg = sb:call("exec_process", { id = id, exec_id = exec_id,
        process = { args = args, env = { "PATH=/bin" }, cwd = "/", user = { uid = 0, gid = 0 } } })
      assert(r, msg)
      local edir = dir .. "/" .. exec_id
      assert(os.execute("mkdir -p " .. run.q(edir)))
      local shim = start_shim(id, r.handle, edir, "--exec-id " .. exec_id)
      attached(shim)
      assert(sb:call("start_process", { handle = r.handle }))
      return shim, edir
    end
    local e1, e1dir = exec("e1", { "sh", "-c", "echo from-exec; hostname; exit 4" })
    assert.equal(4, exit_status(e1))
    assert.equal("from-exec\n" .. id .. "\n", run.read(e1dir .. "/out"))
    assert.matches("exec=e1", run.read(e1dir .. "/shim.log"))
    -- TERM to the exec's shim ends the exec, not the container
    local e2 = exec("e2", { "sleep", "100" })
    assert(os.execute("kill -TERM " .. e2.pid))
    assert.equal(143, exit_status(e2, 30))
    assert.is_nil(init.status(), "the container's shim still runs")
    assert(os.execute("kill -TERM " .. init.pid))
    assert.equal(143, exit_status(init, 30))
    assert(sb:call("remove_container", { id = id }))
  end)

  it("vc.shim.spawn returns once attached; the shim outlives its caller", function()
    local id, handle, dir = container({ "echo", "spawned" })
    -- a separate interpreter spawns the shim and exits at once, as `kata-runtime create` does; the shim
    -- inherits its stdout (the out file) and is reaped by whoever adopts it
    local script = ([[package.cpath = %q
      local vc = require("vc")
      local pid, msg = vc.shim.spawn({ socket = %q, container = %q, handle = %d, log = %q })
      io.stderr:write(pid and ("pid " .. pid .. "\n") or ("error " .. msg .. "\n"))]])
      :format(run.build .. "/?.so", info.socket, id, handle, dir .. "/shim.log")
    local status, _, err = run.sh("lua5.4 -e " .. run.q(script) .. " >" .. run.q(dir .. "/out") .. " </dev/null")
    assert.equal(0, status)
    local pid = tonumber(err:match("^pid (%d+)"))
    assert(pid, err)
    assert.is_true(vc.proc.alive(pid, assert(vc.proc.start_time(pid))), "the shim runs after its caller exited")
    assert.matches("attached to handle " .. handle, run.read(dir .. "/shim.log"))
    assert(sb:call("start_container", { id = id }))
    eventually(function() return not vc.proc.alive(pid) or nil end, 30, "the shim to exit")
    assert.equal("spawned\n", run.read(dir .. "/out"))
    assert.matches("exiting with status 0", run.read(dir .. "/shim.log"))
    assert(sb:call("remove_container", { id = id }))
  end)

  it("gives the process a terminal through --console-socket", function()
    local id, handle, dir = container({ "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; exit 7" },
      { terminal = true })
    local console = dir .. "/console.sock"
    local recv = run.build .. "/kata-recvtty"
    os.execute(("(%s --name-file %s %s >%s 2>&1; echo $? >%s) </dev/null >/dev/null 2>&1 &"):format(run.q(recv),
      run.q(dir .. "/pty"), run.q(console), run.q(dir .. "/console.out"), run.q(dir .. "/console.status")))
    eventually(function() return os.execute("test -S " .. run.q(console)) or nil end, 60, "the console socket")
    local shim = start_shim(id, handle, dir, "--console-socket " .. run.q(console))
    attached(shim)
    assert(sb:call("start_container", { id = id }))
    assert.equal(7, exit_status(shim))
    assert(sb:call("remove_container", { id = id }))
    -- the receiver got a /dev/pts master and saw the output; it ends when the shim's slave is gone
    eventually(function() return run.read(dir .. "/console.status") end, 60, "kata-recvtty to end")
    assert.equal("0\n", run.read(dir .. "/console.status"))
    assert.matches("^/dev/pts/%d+\n$", run.read(dir .. "/pty"))
    assert.matches("is%-a%-tty", run.read(dir .. "/console.out"))
  end)
end)
