-- kata-agent in a real guest: boots one QEMU VM (TCG) with the default guest image, shares a
-- busybox rootfs through virtiofsd, and drives the agent through build/kata-agentctl.
-- Builds nothing: run `cmake -S . -B build && make -C build -j2 && scripts/build-guest.sh build` first.
local json = require("dkjson")
local vm = require("helpers.vm")
local wait_for = require("spec.helpers.run").wait_for

local BUILD = os.getenv("VC_BUILD_DIR") or "./build"
local CTL = BUILD .. "/kata-agentctl"
local KERNEL, INITRD = require("kata.config").guest_image()
local VIRTIOFSD = "/usr/lib/qemu/virtiofsd"

local function exists(p)
  local f = io.open(p, "r")
  if f then f:close() end
  return f ~= nil
end

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Run a shell command; returns its stdout and exit status (128+n when a signal ended it).
local function sh(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  local _, how, code = f:close()
  if how == "signal" then code = 128 + code end
  return out, code
end

local function sleep(s)
  os.execute("sleep " .. s)
end

local function now()
  local out = sh("date +%s.%N")
  return tonumber(out)
end

local function alive(pid)
  if not pid then return false end
  local _, code = sh("kill -0 " .. pid .. " 2>/dev/null")
  if code ~= 0 then return false end
  local stat = sh("cat /proc/" .. pid .. "/stat 2>/dev/null")
  return not stat:match("^%d+ %b() Z")  -- a zombie has finished
end

local missing = {}
for _, p in ipairs({ CTL, KERNEL, INITRD, VIRTIOFSD, "/usr/bin/qemu-system-x86_64" }) do
  if not exists(p) then missing[#missing + 1] = p end
end

describe("kata-agent in a guest #integration", function()
  if #missing > 0 then
    it("needs the guest image and kata-agentctl", function()
      pending("missing " .. table.concat(missing, ", ") ..
        ": build them with `make -C build` and `scripts/build-guest.sh build`")
    end)
    return
  end

  local tmp, sock, qemu_pid

  -- kata-agentctl with a bounded wait; input (a string) becomes its stdin.
  local function ctl(args, input)
    local stdin = "/dev/null"
    if input then
      stdin = tmp .. "/stdin"
      local f = assert(io.open(stdin, "w"))
      f:write(input)
      f:close()
    end
    return sh("timeout 120 " .. CTL .. " --timeout 60 " .. q(sock) .. " " .. args .. " <" .. stdin .. " 2>" ..
      tmp .. "/ctl.err")
  end

  local function ctl_err()
    local f = io.open(tmp .. "/ctl.err")
    local s = f and f:read("a") or ""
    if f then f:close() end
    return s
  end

  local function call(method, params)
    local out, code = ctl("call " .. method .. (params and (" " .. q(json.encode(params))) or ""))
    assert(code == 0, method .. " failed: " .. ctl_err())
    return json.decode(out)
  end

  local function call_fails(method, params)
    local _, code = ctl("call " .. method .. (params and (" " .. q(json.encode(params))) or ""))
    return code ~= 0, ctl_err()
  end

  local function spec(args, opts)
    opts = opts or {}
    local namespaces = { { type = "mount" }, { type = "uts" }, { type = "ipc" } }
    if opts.pid ~= false then table.insert(namespaces, { type = "pid" }) end
    return {
      process = { args = args, env = { "PATH=/bin" }, cwd = "/" },
      hostname = "spec",
      mounts = {
        { destination = "/proc", type = "proc", source = "proc" },
        { destination = "/dev", type = "tmpfs", source = "tmpfs", options = { "nosuid", "mode=755" } },
      },
      linux = { namespaces = namespaces },
    }
  end

  local pids = {} -- every qemu and virtiofsd started, for the teardown

  local function stop(pid)
    if not alive(pid) then return end
    os.execute("kill " .. pid .. " 2>/dev/null")
    for _ = 1, 50 do
      if not alive(pid) then return end
      sleep(0.1)
    end
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
  end

  local function cleanup()
    for _, pid in ipairs(pids) do stop(pid) end
    if tmp then os.execute("rm -rf " .. q(tmp)) end
  end

  -- Boot a guest in tmp/<name>/ sharing tmp/share; returns the agent socket, qemu's pid and the time it
  -- took until the agent answered check.
  local function boot(name, append)
    local dir = tmp .. "/" .. name
    local _, code = sh("mkdir " .. q(dir))
    assert(code == 0)
    local vfs = tonumber((sh(VIRTIOFSD .. " --socket-path=" .. q(dir .. "/vfs.sock") .. " -o source=" ..
      q(tmp .. "/share") .. " -o cache=none -o sandbox=chroot >" .. q(dir .. "/virtiofsd.log") ..
      " 2>&1 & echo $!")))
    pids[#pids + 1] = vfs
    assert(wait_for(function() return os.execute("test -S " .. q(dir .. "/vfs.sock")) end, 60),
      "virtiofsd made no socket in 60 s")
    local t0 = now()
    local agent_sock = dir .. "/agent.sock"
    _, code = sh(table.concat({
      "qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m 256M -nodefaults -nographic -no-reboot",
      "-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem",
      "-kernel " .. q(KERNEL) .. " -initrd " .. q(INITRD),
      "-append " .. q("console=ttyS0 quiet panic=-1 agent.debug " .. (append or "")),
      "-serial file:" .. q(dir .. "/console.log"),
      "-chardev socket,id=vfs,path=" .. q(dir .. "/vfs.sock"),
      "-device vhost-user-fs-pci,chardev=vfs,tag=kataShared",
      "-device virtio-serial-pci",
      "-chardev socket,id=agent,path=" .. q(agent_sock) .. ",server=on,wait=off",
      "-device virtserialport,chardev=agent,name=agent.channel.0",
      "-pidfile " .. q(dir .. "/qemu.pid") .. " -daemonize",
    }, " "))
    assert(code == 0, "qemu did not start")
    local qpid = tonumber((sh("cat " .. q(dir .. "/qemu.pid"))))
    pids[#pids + 1] = qpid
    local answered = wait_for(function()
      local _, c = sh(CTL .. " --timeout 5 " .. q(agent_sock) .. " call check >/dev/null 2>&1")
      return c == 0
    end, 180)
    assert(answered, "the agent did not answer check within 180 s; console:\n" ..
      sh("cat " .. q(dir .. "/console.log")))
    return agent_sock, qpid, now() - t0
  end

  lazy_setup(function()
    tmp = sh("mktemp -d /tmp/kata-agent-spec.XXXXXX"):gsub("%s+$", "")
    assert(tmp:match("^/tmp/kata%-agent%-spec"), "mktemp failed")
    local _, code = sh("mkdir " .. q(tmp .. "/share") .. " && scripts/make-rootfs.sh " .. q(tmp .. "/share/rootfs"))
    assert(code == 0, "make-rootfs.sh failed")
    local took
    sock, qemu_pid, took = boot("vm")
    io.stderr:write(string.format("\n[agent_guest] boot to check: %.2f s\n", took))
    assert.same({}, call("create_sandbox", { share_tag = "kataShared", hostname = "sandbox" }))
  end)

  lazy_teardown(function()
    local path = tmp
    -- KATA_SPEC_CONSOLE=FILE keeps the guest's console log for a look after the run
    local keep = os.getenv("KATA_SPEC_CONSOLE")
    if keep and tmp then os.execute("cp " .. q(tmp .. "/vm/console.log") .. " " .. q(keep)) end
    cleanup()
    if path then
      local function left() return sh("pgrep -af " .. q(path) .. " | grep -v pgrep || true") end
      wait_for(function() return left() == "" end, 30)
      assert.equal("", left(), "processes left behind")
      assert.is_false(exists(path))
    end
  end)

  it("answers check with its version and protocol", function()
    assert.same({ version = "0.1.0", protocol = 1 }, call("check"))
  end)

  it("runs echo hello: the output arrives and the exit status is 0", function()
    local out, code = ctl("run c-echo rootfs -- echo hello")
    assert.equal("hello\n", out)
    assert.equal(0, code)
  end)

  it("passes the exit status through: sh -c 'exit 3' gives 3", function()
    local _, code = ctl("run c-exit rootfs -- sh -c 'exit 3'")
    assert.equal(3, code)
  end)

  it("keeps stdout and stderr apart", function()
    local out, code = ctl("run c-streams rootfs -- sh -c 'echo out; echo err >&2'")
    assert.equal(0, code)
    assert.equal("out\n", out)
    assert.equal("err\n", ctl_err())
  end)

  it("sets up user, groups, env, cwd and hostname from the spec", function()
    local out, code = ctl("run -u 1000:100 -e FOO=bar -w /tmp --hostname h1 c-user rootfs -- " ..
      "sh -c 'id -u; id -g; echo $FOO; pwd; hostname'")
    assert.equal(0, code)
    assert.equal("1000\n100\nbar\n/tmp\nh1\n", out)
  end)

  it("applies rlimits from the spec, and the usual default without them", function()
    local out, code = ctl("run c-nolimit rootfs -- sh -c 'ulimit -n'")
    assert.equal(0, code)
    assert.equal("1024\n", out)
    local sp = spec({ "true" })
    sp.process.rlimits = { { type = "RLIMIT_NOFILE", soft = 100, hard = 200 } }
    local f = assert(io.open(tmp .. "/rlimit.json", "w"))
    f:write(json.encode(sp))
    f:close()
    out, code = ctl("run --spec " .. q(tmp .. "/rlimit.json") .. " c-limit rootfs -- sh -c 'ulimit -n; ulimit -Hn'")
    assert.equal(0, code)
    assert.equal("100\n200\n", out)
  end)

  it("gives the container its own pid namespace: its process is pid 1", function()
    local out, code = ctl("run c-pidns rootfs -- sh -c 'echo $$'")
    assert.equal(0, code)
    assert.equal("1\n", out)
  end)

  it("refuses at create a command it cannot find or execute, as runc does, and forgets the container", function()
    local _, code = ctl("run c-noexec rootfs -- /no/such/binary")
    assert.equal(125, code)
    assert.matches("create_container: ENOENT: exec '/no/such/binary': No such file or directory", ctl_err(), 1, true)
    _, code = ctl("run c-noexec rootfs -- nosuchcmd")
    assert.equal(125, code)
    assert.matches("create_container: ENOENT: exec 'nosuchcmd': No such file or directory", ctl_err(), 1, true)
    _, code = ctl("run c-noexec rootfs -- /etc")
    assert.equal(125, code)
    assert.matches("create_container: EACCES: exec '/etc': Permission denied", ctl_err(), 1, true)
    -- found through the process's PATH, as execvp finds it
    local out
    out, code = ctl("run -e PATH=/bin c-noexec rootfs -- sh -c 'echo found'")
    assert.equal(0, code)
    assert.equal("found\n", out)
  end)

  it("fails create_container and exec_process, not the start, for a program that is missing or not executable", function()
    -- as runc create does: an engine learns it at create and cleans up, instead of after a start it took for granted
    for _, c in ipairs({
      { "/no/such/binary", "exec '/no/such/binary': No such file or directory" },
      { "nosuchprog", "exec 'nosuchprog': No such file or directory" }, -- searched along the spec's PATH
      { "/etc/passwd", "exec '/etc/passwd': Permission denied" },
    }) do
      local failed, err = call_fails("create_container", { id = "c-noexec", rootfs = "rootfs", spec = spec({ c[1] }) })
      assert.is_true(failed)
      assert.matches(c[2], err, 1, true)
    end
    -- the id is free again, and PATH lookup finds what is there
    local r = call("create_container", { id = "c-noexec", rootfs = "rootfs", spec = spec({ "sleep", "100" }) })
    assert.is_true(r.handle > 0)
    local failed, err = call_fails("exec_process", { id = "c-noexec", exec_id = "e1", process = { args = { "nosuchprog" }, cwd = "/" } })
    assert.is_true(failed)
    assert.matches("exec 'nosuchprog': No such file or directory", err, 1, true)
    call("remove_container", { id = "c-noexec" })
  end)

  it("refuses to join the namespaces of a container that does not exist, or of an unknown type", function()
    local failed, err = call_fails("create_container", { id = "c-join", rootfs = "rootfs", spec = spec({ "true" }),
      join = { uts = "c-nosuch" } })
    assert.is_true(failed)
    assert.matches("ENOENT: join.uts: container 'c-nosuch' not found", err, 1, true)
    failed, err = call_fails("create_container", { id = "c-join", rootfs = "rootfs", spec = spec({ "true" }),
      join = { net = "c-nosuch" } })
    assert.is_true(failed)
    assert.matches("EINVAL: join: unknown namespace type 'net'", err, 1, true)
  end)

  it("delivers SIGTERM to sleep 100: status 143", function()
    -- without a pid namespace: a pid-namespace init ignores signals it has no handler for (kernel rule)
    local r = call("create_container", { id = "c-term", rootfs = "rootfs", spec = spec({ "sleep", "100" }, { pid = false }) })
    assert.is_true(r.handle > 0 and r.pid > 1)
    call("start_container", { id = "c-term" })
    call("signal_process", { id = "c-term", signal = 15 })
    assert.same({ status = 143 }, call("wait_process", { handle = r.handle }))
    -- signalling a process that has exited is an error, not a silent success
    local failed, err = call_fails("signal_process", { id = "c-term", signal = 15 })
    assert.is_true(failed)
    assert.matches("ESRCH", err)
    call("remove_container", { id = "c-term" })
  end)

  it("execs a second process in a running container, in its namespaces", function()
    local r = call("create_container", { id = "c-exec", rootfs = "rootfs", spec = spec({ "sleep", "100" }) })
    call("start_container", { id = "c-exec" })
    local out, code = ctl("exec c-exec e1 -- sh -c 'echo from exec; cat /proc/1/cmdline; echo; hostname'")
    assert.equal(0, code)
    assert.equal("from exec\nsleep\000100\000\nspec\n", out)

    -- a long-running exec'd process: SIGTERM reaches it (it is not a namespace init)
    local e = call("exec_process", { id = "c-exec", exec_id = "e2", process = { args = { "sleep", "100" }, cwd = "/" } })
    call("start_process", { handle = e.handle })
    local pids = call("list_processes", { id = "c-exec" }).pids
    assert.equal(2, #pids)
    call("signal_process", { id = "c-exec", exec_id = "e2", signal = 15 })
    assert.same({ status = 143 }, call("wait_process", { handle = e.handle }))

    local stats = call("stats_container", { id = "c-exec" })
    assert.is_true(stats.memory.usage > 0 and stats.memory.limit > 0)
    assert.equal(1, stats.pids.current)
    call("pause_container", { id = "c-exec" })
    call("resume_container", { id = "c-exec" })

    call("signal_process", { id = "c-exec", signal = 9, all = true })
    assert.same({ status = 137 }, call("wait_process", { handle = r.handle }))
    call("remove_container", { id = "c-exec" })
    local failed, err = call_fails("start_container", { id = "c-exec" })
    assert.is_true(failed)
    assert.matches("ENOENT", err)
  end)

  it("forwards stdin: cat sends it back, and stdin EOF ends it", function()
    local input = "line one\nline two\n" .. string.rep("x", 200000) .. "\n"
    local out, code = ctl("run c-cat rootfs -- cat", input)
    assert.equal(0, code)
    assert.equal(#input, #out)
    assert.equal(input, out)
  end)

  it("moves megabytes through stdin and stdout at once without stalling either", function()
    local chunk = {}
    for i = 1, 4096 do chunk[i] = string.format("%07d ", i) end
    local input = string.rep(table.concat(chunk), 256) -- 8 MiB
    local out, code = ctl("run c-cat-big rootfs -- cat", input)
    assert.equal(0, code)
    assert.equal(#input, #out)
    assert.is_true(input == out)
  end)

  it("gives a terminal process a tty", function()
    local out, code = ctl("run -t c-tty rootfs -- sh -c 'test -t 0 && test -t 1 && echo is-a-tty; tty; " ..
      "stat -c %t:%T /dev/console $(tty)'")
    assert.equal(0, code)
    -- the pty is the container's own (its /dev/pts), so its name resolves inside; it is /dev/console too
    assert.equal("is-a-tty\r\n/dev/pts/0\r\n88:0\r\n88:0\r\n", out)
    -- typed input reaches the shell; stdin's end is the terminal's EOF
    out, code = ctl("run -t c-tty2 rootfs -- sh -c 'read line; echo got $line; exit 5'", "hello\n")
    assert.equal(5, code)
    assert.matches("got hello", out, 1, true)
  end)

  it("sizes a terminal from consoleSize and resizes it", function()
    local sp = spec({ "sleep", "100" })
    sp.process.terminal = true
    sp.process.consoleSize = { height = 33, width = 99 }
    table.insert(sp.mounts, { destination = "/dev/pts", type = "devpts", source = "devpts",
      options = { "newinstance", "ptmxmode=0666", "mode=0620" } })
    local r = call("create_container", { id = "c-size", rootfs = "rootfs", spec = sp })
    call("start_container", { id = "c-size" })
    local out, code = ctl("exec c-size e1 -- stty -F /proc/1/fd/0 size")
    assert.equal(0, code)
    assert.equal("33 99\n", out)
    call("resize", { handle = r.handle, rows = 40, cols = 120 })
    out = ctl("exec c-size e2 -- stty -F /proc/1/fd/0 size")
    assert.equal("40 120\n", out)
    -- the pty is the container's: its devpts instance has it as /dev/pts/0
    out = ctl("exec c-size e3 -- readlink /proc/1/fd/0")
    assert.equal("/dev/pts/0\n", out)
    local e = call("exec_process", { id = "c-size", exec_id = "e4", process = { args = { "true" }, cwd = "/" } })
    local failed, err = call_fails("resize", { handle = e.handle, rows = 1, cols = 1 })
    assert.is_true(failed)
    assert.matches("ENOTTY", err)
    call("remove_container", { id = "c-size" })
  end)

  it("starts a tmpcopyup tmpfs with what the directory it covers holds, and leaves that directory alone", function()
    local sp = spec({ "true" })
    sp.process = nil
    table.insert(sp.mounts, { destination = "/etc", type = "tmpfs", source = "tmpfs", options = { "nosuid", "tmpcopyup" } })
    local f = assert(io.open(tmp .. "/copyup.json", "w"))
    f:write(json.encode(sp))
    f:close()
    local out, code = ctl("run --spec " .. q(tmp .. "/copyup.json") .. " c-copyup rootfs -- sh -c " ..
      q("head -1 /etc/passwd; stat -c %a /etc; grep -c ' /etc tmpfs' /proc/mounts; echo new > /etc/new && cat /etc/new"))
    assert.equal(0, code, ctl_err())
    assert.equal("root:x:0:0:root:/root:/bin/sh\n755\n1\nnew\n", out)
    assert.is_false(exists(tmp .. "/share/rootfs/etc/new"))
  end)

  it("sets rlimits in the guest, and names the one it cannot set", function()
    local sp = spec({ "sh", "-c", "ulimit -n" })
    sp.process.rlimits = { { type = "RLIMIT_NOFILE", hard = 1048576, soft = 1048576 } }
    local r = call("create_container", { id = "c-rlim", rootfs = "rootfs", spec = sp })
    assert.is_true(r.handle > 0)
    call("remove_container", { id = "c-rlim" })
    sp.process.rlimits = { { type = "RLIMIT_NOFILE", hard = 2000000, soft = 2000000 } } -- above fs.nr_open
    local failed, err = call_fails("create_container", { id = "c-rlim2", rootfs = "rootfs", spec = sp })
    assert.is_true(failed)
    assert.matches("setrlimit RLIMIT_NOFILE 2000000:2000000: Operation not permitted", err, 1, true)
  end)

  it("streams large output completely and in order", function()
    local out, code = ctl("run c-big rootfs -- sh -c 'dd if=/dev/zero bs=65536 count=80 2>/dev/null'")
    assert.equal(0, code)
    assert.equal(80 * 65536, #out)
    -- text that tells where a byte went missing or came twice: many whole frames and a last part of one
    local want = {}
    for i = 1, 200000 do want[i] = tostring(i) end
    out, code = ctl("run c-seq rootfs -- seq 1 200000")
    assert.equal(0, code)
    assert.equal(#table.concat(want, "\n") + 1, #out)
    assert.equal(table.concat(want, "\n") .. "\n", out)
  end)

  it("rejects bad requests with one clear error and goes on", function()
    local failed, err = call_fails("create_container",
      { id = "../x", rootfs = "rootfs", spec = { process = { args = { "true" } } } })
    assert.is_true(failed)
    assert.matches("EINVAL: invalid container id", err, 1, true)
    failed, err = call_fails("create_container", { id = "c-bad", rootfs = "rootfs", spec = { process = { args = {} } } })
    assert.is_true(failed)
    assert.matches("process.args", err, 1, true)
    failed, err = call_fails("no_such_method")
    assert.is_true(failed)
    assert.matches("ENOSYS", err)
    -- a failure inside the container setup (a bind source that does not exist) is the create's error
    local sp = spec({ "true" })
    table.insert(sp.mounts, { destination = "/data", type = "bind", source = "no-such-dir", options = { "rbind" } })
    failed, err = call_fails("create_container", { id = "c-bad", rootfs = "rootfs", spec = sp })
    assert.is_true(failed)
    assert.matches("bind source '/run/kata-containers/shared/no-such-dir'", err, 1, true)
    -- nothing half-made: the id is free
    local out, code = ctl("run c-bad rootfs -- true")
    assert.equal(0, code, out)
  end)

  it("removes a container that was created but never started", function()
    local r = call("create_container", { id = "c-idle", rootfs = "rootfs", spec = spec({ "echo", "never" }) })
    assert.same({ pids = { r.pid } }, call("list_processes", { id = "c-idle" }))
    call("remove_container", { id = "c-idle" })
    local failed, err = call_fails("list_processes", { id = "c-idle" })
    assert.is_true(failed)
    assert.matches("ENOENT", err)
  end)

  it("mounts a bind from the share, read-only when asked", function()
    os.execute("mkdir -p " .. q(tmp .. "/share/vol") .. " && echo shared-data > " .. q(tmp .. "/share/vol/f"))
    local sp = spec({ "true" })
    table.insert(sp.mounts, { destination = "/data", type = "bind", source = "vol", options = { "rbind", "ro" } })
    table.insert(sp.mounts, { destination = "/rw", type = "bind", source = "vol", options = { "rbind" } })
    local f = assert(io.open(tmp .. "/bind.json", "w"))
    f:write(json.encode(sp))
    f:close()
    local out, code = ctl("run --spec " .. q(tmp .. "/bind.json") .. " c-bind rootfs -- " ..
      "sh -c 'cat /data/f; touch /data/g 2>/dev/null || echo read-only; echo written > /rw/h'")
    assert.equal(0, code)
    assert.equal("shared-data\nread-only\n", out)
    assert.equal("written\n", sh("cat " .. q(tmp .. "/share/vol/h")))
  end)

  it("answers every request with wrong or hostile parameters with one error each", function()
    local methods = { "check", "create_sandbox", "create_container", "start_container", "exec_process",
      "start_process", "signal_process", "wait_process", "list_processes", "resize", "pause_container",
      "resume_container", "stats_container", "remove_container" }
    local keys = { "id", "exec_id", "handle", "rootfs", "spec", "process", "signal", "all", "rows", "cols",
      "share_tag", "hostname" }
    local deep = "0"
    for _ = 1, 200 do deep = "[" .. deep .. "]" end
    local values = { "-1", "0", "4294967296", "1e308", '""', '"' .. string.rep("a", 5000) .. '"', "{}", "[]",
      "null", "true", deep, '"../../etc"', '{"args":[]}', '{"process":{"args":[1]}}' }
    local frames, n = {}, 0
    local function frame(payload)
      n = n + 1
      frames[#frames + 1] = string.pack(">I4BBI2I4", #payload, 1, 0, 0, n) .. payload
    end
    for _, m in ipairs(methods) do
      for _, k in ipairs(keys) do
        for _, v in ipairs(values) do
          -- a valid "id" makes some of these real calls, on a container that does not exist
          frame('{"method":"' .. m .. '","params":{"' .. k .. '":' .. v .. ',"id":"nosuch"}}')
        end
      end
      frame('{"method":"' .. m .. '","params":[]}')
      frame('{"method":' .. '"' .. m .. '"}')
    end
    frame("\0\1\2 not json")
    frame('{"method":1}')
    frame(deep)
    local f = assert(io.open(tmp .. "/fuzz.bin", "wb"))
    f:write(table.concat(frames))
    f:close()
    local out = sh(CTL .. " --timeout 300 " .. q(sock) .. " raw " .. n .. " <" .. q(tmp .. "/fuzz.bin"))
    -- walk the reply: responses only, one per request id, each an error or (check) a result
    local seen, pos = {}, 1
    while pos <= #out do
      local len, typ, _, _, id = string.unpack(">I4BBI2I4", out, pos)
      assert.equal(2, typ)
      local body = json.decode(out:sub(pos + 12, pos + 11 + len))
      assert.is_table(body)
      assert.is_true(body.error ~= nil or body.result ~= nil)
      assert.is_nil(seen[id])
      seen[id] = true
      pos = pos + 12 + len
    end
    local answered = 0
    for _ in pairs(seen) do answered = answered + 1 end
    assert.equal(n, answered)
    assert.same({ version = "0.1.0", protocol = 1 }, call("check"))
  end)

  it("survives garbage frames: that connection is dropped, a new one works", function()
    -- raw bytes to the agent; with `frames`, what comes back until that many frames did (up to a minute),
    -- else what comes back before the agent is quiet for 3 s: a slow guest can only make that emptier,
    -- so the cases expecting nothing cannot fail for want of time
    local function raw(bytes, frames)
      local f = assert(io.open(tmp .. "/raw.bin", "wb"))
      f:write(bytes)
      f:close()
      local how = frames and ("--timeout 60 " .. q(sock) .. " raw " .. frames) or ("--timeout 3 " .. q(sock) .. " raw")
      return sh(CTL .. " " .. how .. " <" .. q(tmp .. "/raw.bin"))
    end
    local check = "\0\0\0\18\1\0\0\0\0\0\0\7" .. '{"method":"check"}'
    -- After a dropped connection the agent reads nothing until it has seen the host hang up; a host that
    -- is back before a slow guest looked (TCG under load) finds its first bytes dropped with the old
    -- connection's, and connects again. Tries, each waiting 10 s for the answer, for up to 3 minutes.
    local function answered(bytes, pattern)
      local got
      local deadline = os.time() + 180
      repeat
        local f = assert(io.open(tmp .. "/raw.bin", "wb"))
        f:write(bytes)
        f:close()
        got = sh(CTL .. " --timeout 10 " .. q(sock) .. " raw 1 <" .. q(tmp .. "/raw.bin"))
        if got:find(pattern, 1, true) then return got end
      until os.time() >= deadline
      return got
    end
    -- a sane request is answered, as a control for what follows
    assert.matches('"result":{"version"', raw(check, 1), 1, true)
    -- after a frame of unknown type, the check on the same connection gets no answer
    assert.equal("", raw("\0\0\0\2\9\0\0\0\0\0\0\1{}" .. check))
    -- oversized length; reserved bits set; a stream on a request
    assert.equal("", raw("\255\0\0\0\1\0\0\0\0\0\0\1" .. check))
    assert.equal("", raw("\0\0\0\2\1\0\1\0\0\0\0\1{}" .. check))
    assert.equal("", raw("\0\0\0\2\1\2\0\0\0\0\0\1{}" .. check))
    -- bad JSON in a good frame is only an error response
    assert.matches('"code":"EINVAL"', answered("\0\0\0\5\1\0\0\0\0\0\0\7{\"met", '"code":"EINVAL"'), 1, true)
    assert.matches('"result":{"version"', answered(check, '"result":{"version"'), 1, true)
    assert.same({ version = "0.1.0", protocol = 1 }, call("check"))
  end)

  it("powers the guest off on destroy_sandbox and qemu exits", function()
    assert.same({}, call("destroy_sandbox"))
    wait_for(function() return not alive(qemu_pid) end, 120)
    assert.is_false(alive(qemu_pid))
    assert.matches("powering off", sh("cat " .. q(tmp .. "/vm/console.log")))
  end)

  it("powers off by itself once the host side has been closed for the hang-up timeout", function()
    local _, q2 = boot("vm2", "agent.hangup_timeout=2")
    local t0 = now()
    wait_for(function() return not alive(q2) end, 120)
    assert.is_false(alive(q2))
    assert.is_true(now() - t0 >= 1.5)
    assert.matches("host gone for 2 s", sh("cat " .. q(tmp .. "/vm2/console.log")))
  end)
end)
