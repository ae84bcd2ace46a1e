-- The whole lifecycle with real guests: kata-runtime create/start/state/kill/delete/exec/... on real
-- bundles, each case followed by a leak check.
local vc = require("vc")
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local pool = require("spec.helpers.pool")

local ok_env, why = world.available()

describe("lifecycle #integration", function()
  local tmp, root, n = nil, nil, 0
  local rt = function(...) return world.rt(root, { ... }) end

  local ws = pool.case_roots("kata-life", ok_env)
  setup(ws.setup)
  teardown(ws.teardown)
  before_each(ws.before_each)
  after_each(ws.after_each)
  before_each(function() tmp, root, n = ws.tmp, ws.root, ws.n end)

  local function bundle(name, args, edit) return world.bundle(("%s/%s-%d"):format(tmp, name, n), args, edit) end

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  it("creates without running, starts, delivers stdout and the exit code through the shim", function()
    local b = bundle("b", { "sh", "-c", "echo hello; touch /marker; exit 3" })
    local out = b .. "/stdout"
    local status, _, err = world.rt(root, { "create", "--bundle", b, "--pid-file", b .. "/pid", "c1" }, { stdout = out })
    assert.equal(0, status, err)
    local st = world.state(root, "c1")
    assert.equal("created", st.status)
    assert.is_true(st.pid > 0)
    assert.equal(run.read(b .. "/pid"), tostring(st.pid)) -- decimal, no newline
    assert.is_nil(vc.fs.stat(b .. "/rootfs/marker"))       -- not run yet

    assert.equal(0, (rt("start", "c1")))
    assert.equal(3, vc.proc.wait(st.pid)) -- the shim's exit status is the container's
    assert.equal("hello\n", run.read(out))
    assert.is_not_nil(vc.fs.stat(b .. "/rootfs/marker"))
    assert.equal("stopped", world.state(root, "c1").status)

    -- a second start fails and changes nothing
    local s2, _, e2 = rt("start", "c1")
    assert.equal(1, s2)
    assert.equal("cannot start a container that has stopped\n", e2)
    assert.equal(0, (rt("delete", "c1")))
    assert.is_nil(world.state(root, "c1"))
  end)

  it("signals by name and number, refuses to delete a running container, deletes with --force", function()
    local b = bundle("b", { "sh", "-c", "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done" })
    local out = b .. "/stdout"
    assert.equal(0, (world.rt(root, { "create", "-b", b, "c1" }, { stdout = out })))
    local pid = world.state(root, "c1").pid
    assert.equal(0, (rt("start", "c1")))
    assert.truthy(world.wait_for(function() return (run.read(out) or ""):find("ready") end))
    assert.equal(0, (rt("kill", "c1", "USR1")))
    assert.truthy(world.wait_for(function() return select(2, (run.read(out) or ""):gsub("got%-usr1", "")) >= 1 end))
    assert.equal(0, (rt("kill", "c1", "10")))
    assert.truthy(world.wait_for(function() return select(2, (run.read(out) or ""):gsub("got%-usr1", "")) >= 2 end))
    assert.equal("running", world.state(root, "c1").status)

    local s, _, e = rt("delete", "c1")
    assert.equal(1, s)
    assert.equal("cannot delete container c1 that is not stopped: running\n", e)

    -- duplicate id while it exists
    local b2 = bundle("b2", { "true" })
    s, _, e = rt("create", "-b", b2, "c1")
    assert.equal(1, s)
    assert.equal("container with given ID already exists\n", e)

    assert.equal(0, (rt("delete", "--force", "c1")))
    assert.equal(137, vc.proc.wait(pid))
    assert.is_nil(world.state(root, "c1"))
  end)

  it("reports TERM as 143 and reuses an id after delete", function()
    -- no pid namespace: a pid 1 without a handler would ignore TERM, in a VM as under runc
    local b = bundle("b", { "sleep", "100" }, function(c)
      local keep = {}
      for _, ns in ipairs(c.linux.namespaces) do if ns.type ~= "pid" then keep[#keep + 1] = ns end end
      c.linux.namespaces = keep
    end)
    assert.equal(0, (rt("create", "-b", b, "c1")))
    local pid = world.state(root, "c1").pid
    assert.equal(0, (rt("start", "c1")))
    assert.equal(0, (rt("kill", "c1", "SIGTERM")))
    assert.equal(143, vc.proc.wait(pid))
    assert.truthy(world.wait_for(function() return world.state(root, "c1").status == "stopped" end))
    local s, _, e = rt("kill", "c1", "TERM")
    assert.equal(1, s)
    assert.equal("container not running\n", e)
    assert.equal(0, (rt("kill", "--all", "c1", "KILL")))
    assert.equal(0, (rt("delete", "c1")))
    -- the id is free again
    assert.equal(0, (rt("create", "-b", b, "c1")))
    assert.equal(0, (rt("delete", "--force", "c1")))
    assert.equal(0, (rt("delete", "--force", "c1"))) -- unknown with --force: fine
  end)

  it("ignores edits to config.json after create", function()
    local b = bundle("b", { "sh", "-c", "echo original" })
    local out = b .. "/stdout"
    assert.equal(0, (world.rt(root, { "create", "-b", b, "c1" }, { stdout = out })))
    local config = assert(vc.oci.load(b .. "/config.json"))
    config.process.args = { "sh", "-c", "echo edited" }
    config.hooks = { poststart = { { path = "/bin/false" } } }
    run.write(b .. "/config.json", vc.json.encode(config))
    local pid = world.state(root, "c1").pid
    assert.equal(0, (rt("start", "c1")))
    assert.equal(0, vc.proc.wait(pid))
    assert.equal("original\n", run.read(out))
    assert.equal(0, (rt("delete", "c1")))
  end)

  describe("hooks", function()
    local function hook(b, kind, code)
      local path = ("%s/hook-%s"):format(b, kind)
      run.write(path, ("#!/bin/sh\n{ printf '%s '; cat; echo; } >> %s/hooks.log\nexit %d\n"):format(kind, b, code or 0))
      os.execute("chmod +x " .. run.q(path))
      return { path = path, args = { "hook-" .. kind } }
    end

    it("run every kind at the right moment with the state on stdin", function()
      local dir = ("%s/hb-%d"):format(tmp, n)
      assert(vc.fs.mkdir_p(dir))
      local b = bundle("hb", { "true" }, function(c)
        c.hooks = {}
        for _, kind in ipairs({ "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" }) do
          c.hooks[kind] = { hook(dir, kind) }
        end
      end)
      assert.equal(0, (rt("create", "-b", b, "c1")))
      local pid = world.state(root, "c1").pid
      assert.equal(0, (rt("start", "c1")))
      vc.proc.wait(pid)
      assert.equal(0, (rt("delete", "c1")))
      local seen = {}
      for line in io.lines(dir .. "/hooks.log") do
        local kind, json = line:match("^(%S+) (.*)$")
        local st = assert(vc.json.decode(json))
        assert.equal("c1", st.id)
        assert.equal(b, st.bundle)
        seen[#seen + 1] = kind .. ":" .. st.status
        if kind ~= "poststop" then assert.equal(pid, st.pid) end
      end
      assert.same({ "prestart:creating", "createRuntime:creating", "createContainer:creating",
        "startContainer:created", "poststart:running", "poststop:stopped" }, seen)
    end)

    it("leave nothing behind when a prestart or createRuntime hook fails", function()
      for _, kind in ipairs({ "prestart", "createRuntime" }) do
        local dir = ("%s/hf-%s-%d"):format(tmp, kind, n)
        assert(vc.fs.mkdir_p(dir))
        local b = bundle("hf" .. kind, { "true" }, function(c) c.hooks = { [kind] = { hook(dir, kind, 2) } } end)
        local s, _, e = rt("create", "-b", b, "c1")
        assert.equal(1, s)
        assert.matches(("^error running %s hook #0: exit status 2"):format(kind), e)
        assert.is_nil(world.state(root, "c1"))
        assert.same({}, world.leaks(root))
      end
    end)

    it("fail start and stop the container when a poststart hook fails; a failing poststop only warns", function()
      local dir = ("%s/hp-%d"):format(tmp, n)
      assert(vc.fs.mkdir_p(dir))
      local b = bundle("hp", { "sleep", "100" }, function(c)
        c.hooks = { poststart = { hook(dir, "poststart", 1) }, poststop = { hook(dir, "poststop", 1), hook(dir, "poststop2", 0) } }
      end)
      assert.equal(0, (rt("create", "-b", b, "c1")))
      local pid = world.state(root, "c1").pid
      local s, _, e = rt("start", "c1")
      assert.equal(1, s)
      assert.matches("^error running poststart hook #0: exit status 1", e)
      assert.equal(137, vc.proc.wait(pid))
      assert.equal("stopped", world.state(root, "c1").status)
      assert.equal(0, (rt("delete", "c1")))
      local log = run.read(dir .. "/hooks.log")
      assert.matches("poststop2 ", log, 1, true) -- the hook after the failing one still ran
    end)
  end)

  it("gives a working terminal through --console-socket", function()
    local b = bundle("b", { "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty" }, function(c) c.process.terminal = true end)
    local sock, out = b .. "/console.sock", b .. "/tty.out"
    local recv = io.popen(("%s/kata-recvtty %s > %s 2>&1 & echo $!"):format(run.build, run.q(sock), run.q(out)))
    local recv_pid = tonumber(recv:read("l"))
    recv:close()
    assert.truthy(world.wait_for(function() return vc.fs.stat(sock) end, 60))
    -- create's stdout and stderr are a pipe read to EOF, as containerd's runc shim reads them for a
    -- terminal: the shim (alive until start) must not hold the pipe, or this pipeline never ends
    local t0 = vc.clock.monotonic()
    local _, _, code = os.execute(("timeout 30 sh -c %s"):format(run.q(("%s --root %s create -b %s --console-socket %s c1 2>&1 | cat >/dev/null")
      :format(run.q(run.runtime), run.q(root), run.q(b), run.q(sock)))))
    assert.equal(0, code)
    assert.is_true(vc.clock.monotonic() - t0 < 25)
    assert.equal("created", world.state(root, "c1").status)
    local pid = world.state(root, "c1").pid
    assert.equal(0, (rt("start", "c1")))
    assert.equal(0, vc.proc.wait(pid))
    assert.truthy(world.wait_for(function() return (run.read(out) or ""):find("is-a-tty", 1, true) end, 60))
    vc.proc.kill(recv_pid, 15)
    vc.proc.wait(recv_pid)
    assert.equal(0, (rt("delete", "c1")))
  end)

  it("execs in a running container with its exit code, lists processes, pauses and resumes", function()
    local b = bundle("b", { "sleep", "100" })
    assert.equal(0, (rt("create", "-b", b, "c1")))
    assert.equal(0, (rt("start", "c1")))
    local s, out = rt("exec", "c1", "sh", "-c", "echo from-exec; exit 5")
    assert.equal(5, s)
    assert.equal("from-exec\n", out)
    s, out = rt("exec", "-e", "FOO=bar", "c1", "sh", "-c", "echo $FOO")
    assert.equal(0, s)
    assert.equal("bar\n", out)
    -- a virtio-fs share the rootfs comes through reads ahead 1 MiB at once (the agent's
    -- AGENT_SHARE_READAHEAD_KB; Linux's default is 128); the guest has no other backing device. A 9p
    -- clone's share keeps 9p's own.
    s, out = rt("exec", "c1", "sh", "-c", [[awk '$5 == "/" { for (i = 7; i < NF; i++) if ($i == "-") print $(i + 1) }' ]]
      .. "/proc/self/mountinfo; cat /sys/class/bdi/*/read_ahead_kb")
    assert.equal(0, s)
    local fstype, ra = out:match("^(%S+)\n(.*)$")
    assert.is_not_nil(fstype, out)
    if fstype == "virtiofs" then assert.equal("1024\n", ra) else assert.equal("9p", fstype) end
    s = rt("exec", "c1", "/no/such/binary")
    assert.is_true(s ~= 0)
    -- detached exec with a pid file
    s = rt("exec", "-d", "--pid-file", b .. "/exec.pid", "c1", "sleep", "50")
    assert.equal(0, s)
    assert.is_true(vc.proc.alive(tonumber(run.read(b .. "/exec.pid"))))

    local ps_status, ps_out = rt("ps", "--format", "json", "c1")
    assert.equal(0, ps_status)
    assert.is_true(#vc.json.decode(ps_out) >= 2)

    assert.equal(0, (rt("pause", "c1")))
    assert.equal("paused", world.state(root, "c1").status)
    assert.equal(0, (rt("resume", "c1")))
    assert.equal("running", world.state(root, "c1").status)

    local es, eo = rt("events", "--stats", "c1")
    assert.equal(0, es)
    local ev = vc.json.decode(eo)
    assert.equal("stats", ev.type)
    assert.is_true(ev.data.memory.usage.usage > 0)
    assert.is_true(ev.data.cpu.usage.total > 0)

    assert.equal(0, (rt("delete", "-f", "c1")))
  end)

  it("runs a pod: containerd's annotations put two containers in one VM; the sandbox deleted last tears it down", function()
    local sb = bundle("pod", { "sleep", "100" }, function(c)
      c.annotations = { ["io.kubernetes.cri.container-type"] = "sandbox" }
    end)
    assert.equal(0, (rt("create", "-b", sb, "pod1")))
    assert.equal(0, (rt("start", "pod1")))
    local ids = {}
    for i = 1, 2 do
      local cb = bundle("app" .. i, { "sh", "-c", "echo app" .. i .. " > /out; sleep 100" }, function(c)
        c.annotations = { ["io.kubernetes.cri.container-type"] = "container", ["io.kubernetes.cri.sandbox-id"] = "pod1" }
      end)
      local id = "app" .. i
      local s, _, e = rt("create", "-b", cb, id)
      assert.equal(0, s, e)
      assert.equal(0, (rt("start", id)))
      ids[#ids + 1] = id
      assert.truthy(world.wait_for(function() return run.read(cb .. "/rootfs/out") == id .. "\n" end))
    end
    local function qemus()
      local q = {}
      for _, p in ipairs(world.processes(root)) do if p:match("qemu%-system") then q[#q + 1] = p end end
      return q
    end
    assert.equal(1, #qemus())
    for _, id in ipairs(ids) do assert.equal(0, (rt("delete", "--force", id))) end
    assert.equal(1, #qemus()) -- the sandbox container still holds the VM
    assert.equal("running", world.state(root, "pod1").status)
    assert.equal(0, (rt("delete", "--force", "pod1")))
    world.settle({ root }) -- the VM goes in the teardown delete leaves to the background
    assert.equal(0, #qemus())
  end)

  it("marks containers stopped when qemu is killed from outside, and delete still succeeds", function()
    local b = bundle("b", { "sleep", "100" })
    assert.equal(0, (rt("create", "-b", b, "c1")))
    local pid = world.state(root, "c1").pid
    assert.equal(0, (rt("start", "c1")))
    for _, p in ipairs(world.processes(root)) do
      if p:match("qemu%-system") then vc.proc.kill(tonumber(p:match("^%d+")), 9) end
    end
    assert.equal(255, vc.proc.wait(pid))
    assert.truthy(world.wait_for(function() return world.state(root, "c1").status == "stopped" end))
    -- the log names the process that died: qemu, not virtiofsd, which only followed it (issue 11)
    local log = run.read(root .. "/.sandbox/" .. vc.id.digest("c1") .. "/supervisor.log") or ""
    assert.matches("the VM exited unexpectedly", log)
    assert.not_matches("virtiofsd died", log)
    assert.equal(0, (rt("delete", "c1")))
  end)

  it("makes the sandbox's sockets 0600 whatever the caller's umask (issue 11)", function()
    local b = bundle("b", { "sleep", "100" })
    local cmd = ("umask 000; %s --root %s create -b %s c1 </dev/null >/dev/null 2>/dev/null")
      :format(run.q(run.runtime), run.q(root), run.q(b))
    assert.is_true(os.execute(cmd) == true)
    local dir = root .. "/.sandbox/" .. vc.id.digest("c1")
    for _, f in ipairs({ "sup.sock", "qmp.sock", "agent.sock" }) do
      local st = assert(vc.fs.stat(dir .. "/" .. f), f)
      assert.equal("socket", st.type)
      assert.equal(tonumber("600", 8), st.mode, f)
    end
    assert.equal(0, (rt("delete", "--force", "c1")))
  end)
end)
