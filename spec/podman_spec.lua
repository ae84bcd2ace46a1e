-- podman (Debian's 4.3, with conmon) drives the unmodified kata-runtime of the build tree: podman gets
-- `--runtime <build>/kata-runtime`, a private containers.conf and storage.conf and a fresh graphroot in a
-- temporary directory, and every case ends with a leak check. docs/podman.md says why each setting is
-- there.
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")

-- podman 4.3's cleanup process (`podman container cleanup`, which conmon starts when a container exits)
-- does not pass --runtime-flag on, so the runtime podman gets is the two-line wrapper docs/podman.md
-- recommends, which gives every call a private --root: no other user of the default root on this machine
-- can show up in this spec's leak check, nor this spec in theirs.
local KATA_ROOT -- <tmp>/kata-root

local function which(name)
  local p = io.popen("command -v " .. name .. " 2>/dev/null")
  local path = p:read("l")
  p:close()
  return path
end

local ok_env, why = world.available()
if ok_env then
  for _, bin in ipairs({ "podman", "conmon" }) do
    if not which(bin) then ok_env, why = false, bin .. " is not installed (scripts/setup.sh installs it)" end
  end
end

local CONTAINERS_CONF = [[
# podman's configuration for these specs only: nothing of it lives outside this directory
[containers]
# a VM runtime keeps the container's cgroups in the guest: podman makes none on the host
cgroups = "disabled"
# no container networking unless a case asks for it (--network bridge: CNI, docs/networking.md)
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "@T@/events.log"
# file locks in tmp_dir instead of the machine-wide /dev/shm/libpod_lock
lock_type = "file"
tmp_dir = "@T@/tmp"
runtime_supports_json = ["kata-runtime"]
# sic: podman 4.3 reads this key without the final "s" its manual gives
runtime_supports_nocgroup = ["kata-runtime"]
runtime_supports_kvm = ["kata-runtime"]

[network]
network_config_dir = "@T@/networks"
]]

local STORAGE_CONF = [[
[storage]
driver = "vfs"
graphroot = "@T@/root"
runroot = "@T@/runroot"
]]

describe("podman #integration", function()
  local tmp, runtime, rootfs, before

  local function leak_dirs() return { tmp, KATA_ROOT } end

  --- Run podman with the private configuration; stdio to files, never to a pipe a conmon might hold.
  --- Returns status, stdout, stderr.
  local function podman(...)
    local args = { ... }
    local parts = {
      "CONTAINERS_CONF=" .. run.q(tmp .. "/containers.conf"), "CONTAINERS_STORAGE_CONF=" .. run.q(tmp .. "/storage.conf"),
      "timeout", "-k", "5", "120", "podman", "--root", run.q(tmp .. "/root"), "--runroot", run.q(tmp .. "/runroot"),
      "--runtime", run.q(runtime),
    }
    for _, a in ipairs(args) do parts[#parts + 1] = run.q(a) end
    local out, err = tmp .. "/podman.out", tmp .. "/podman.err"
    local _, _, status = os.execute(table.concat(parts, " ") .. " </dev/null >" .. run.q(out) .. " 2>" .. run.q(err))
    return status, run.read(out) or "", run.read(err) or ""
  end

  local function inspect(name, format)
    local s, out, err = podman("inspect", "--format", format, name)
    assert.equal(0, s, err)
    return (out:gsub("\n$", ""))
  end

  local function logs(name)
    local _, out, err = podman("logs", name)
    return out .. err
  end

  setup(function()
    if not ok_env then return end
    -- conmon expects init to reap it, as on a host: a subreaper spec process (another spec may have made
    -- it one) would hold the exited conmon as a zombie, which podman takes for a live one and waits on
    assert(vctest.proc.set_subreaper(false))
    tmp = run.tmpdir("kata-podman")
    KATA_ROOT = tmp .. "/kata-root"
    -- named kata-runtime, as containers.conf's runtime_supports_* lists expect
    runtime = tmp .. "/kata-runtime"
    -- KATA_SPEC_CONFIG (spec/helpers/world.lua) goes on every call too
    local conf = os.getenv("KATA_SPEC_CONFIG")
    run.write(runtime, ("#!/bin/sh\nexec %s --root %s%s \"$@\"\n"):format(run.q(assert(vc.fs.realpath(run.runtime))),
      run.q(KATA_ROOT), conf and (" --config " .. run.q(conf)) or ""))
    assert(os.execute("chmod 0755 " .. run.q(runtime)))
    rootfs = tmp .. "/rootfs"
    assert(os.execute("bash scripts/make-rootfs.sh " .. run.q(rootfs) .. " >/dev/null"))
    run.write(tmp .. "/containers.conf", (CONTAINERS_CONF:gsub("@T@", tmp)))
    run.write(tmp .. "/storage.conf", (STORAGE_CONF:gsub("@T@", tmp)))
  end)

  teardown(function()
    if not tmp then return end
    podman("rm", "--all", "--force", "--time", "0")
    os.execute("umount -R " .. run.q(tmp) .. " 2>/dev/null")
    run.rmrf(tmp)
  end)

  before_each(function()
    if not ok_env then return end
    before = world.footprint(leak_dirs(), { KATA_ROOT })
  end)

  after_each(function()
    if not ok_env then return end
    -- whatever a failed case left goes first; then podman knows no container, and nothing of one is left
    podman("rm", "--all", "--force", "--time", "0")
    local _, ids = podman("ps", "--all", "--quiet")
    assert.equal("", ids)
    -- conmon's cleanup process may still be finishing when podman returns
    local leaks = world.wait_for(function()
      local l = world.leaks_since(before, leak_dirs(), { KATA_ROOT })
      return #l == 0 and l or nil
    end, 60) or world.leaks_since(before, leak_dirs(), { KATA_ROOT })
    assert.same({}, leaks)
  end)

  if not ok_env then
    pending("podman specs skipped: " .. why)
    return
  end

  it("runs --rm with the output on stdout and stderr, in a guest kernel, and removes the container", function()
    -- with a volume, and --read-only (a read-only root with tmpcopyup tmpfs on /tmp, /run, /var/tmp)
    local vol = tmp .. "/vol"
    assert(vc.fs.mkdir_p(vol))
    run.write(vol .. "/in", "from-host\n")
    local s, out, err = podman("run", "--rm", "--read-only", "-v", vol .. ":/data", "--rootfs", rootfs, "sh", "-c",
      "echo hello; uname -r; echo oops >&2; cat /data/in; echo from-guest > /data/out; " ..
      "touch /etc/x 2>/dev/null || echo read-only; echo t > /tmp/t && cat /tmp/t")
    assert.equal(0, s, out .. err)
    local hello, kernel, rest = out:match("^(hello)\n([^\n]+)\n(.*)$")
    assert.equal("hello", hello, out)
    local uname = io.popen("uname -r")
    local host_kernel = uname:read("l")
    uname:close()
    assert.are_not.equal(host_kernel, kernel) -- the guest's own kernel
    assert.equal("from-host\nread-only\nt\n", rest)
    assert.matches("oops\n", err, 1, true)
    assert.equal("from-guest\n", run.read(vol .. "/out"))
    assert.is_nil(vc.fs.stat(rootfs .. "/etc/x"))
    local _, ids = podman("ps", "--all", "--quiet")
    assert.equal("", ids)
  end)

  it("runs with podman's default capabilities and its default seccomp profile loaded (issue 12)", function()
    local s, out, err = podman("run", "--rm", "--rootfs", rootfs, "sh", "-c",
      "grep -E '^(CapBnd|CapEff|Seccomp):' /proc/self/status; mkdir /tmp/d && echo mkdir-ok")
    assert.equal(0, s, out .. err)
    -- podman 4.3's built-in default capabilities (the private containers.conf names none), bit by bit:
    -- CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD
    -- AUDIT_WRITE SETFCAP
    assert.matches("CapBnd:%s+00000000a80425fb\n", out)
    assert.matches("CapEff:%s+00000000a80425fb\n", out)
    assert.matches("Seccomp:%s+2\n", out)
    assert.matches("mkdir%-ok\n", out)
  end)

  it("propagates the exit code through run, and through create + start --attach; 127 for a missing command", function()
    local s, _, err = podman("run", "--rm", "--rootfs", rootfs, "sh", "-c", "exit 7")
    assert.equal(7, s, err)
    -- a command that is not there fails create, which podman reports as 127, as with runc
    s, _, err = podman("run", "--rm", "--rootfs", rootfs, "/no/such/binary")
    assert.equal(127, s)
    assert.matches("exec '/no/such/binary': No such file or directory", err, 1, true)

    s, _, err = podman("create", "--name", "e1", "--rootfs", rootfs, "sh", "-c", "echo out; exit 3")
    assert.equal(0, s, err)
    assert.equal("created", inspect("e1", "{{.State.Status}}"))
    local out
    s, out, err = podman("start", "--attach", "e1")
    assert.equal(3, s, err)
    assert.equal("out\n", out)
    assert.equal("exited 3", inspect("e1", "{{.State.Status}} {{.State.ExitCode}}"))
    assert.equal(0, (podman("rm", "e1")))
  end)

  it("runs detached: ps and inspect show it running as the shim, exec, logs, stop by TERM, rm", function()
    local s, out, err = podman("run", "-d", "--name", "d1", "--rootfs", rootfs, "sh", "-c",
      "trap 'echo got-term; exit 0' TERM; echo up; echo warn >&2; while :; do sleep 0.1; done")
    assert.equal(0, s, err)
    local id = out:match("^(%x+)\n$")
    assert.is_truthy(id, out)
    assert.truthy(world.wait_for(function() return logs("d1"):find("up\n", 1, true) end, 30))

    local state = inspect("d1", "{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.State.ExitCode}}")
    local pid = tonumber(state:match("^running true (%d+) 0$"))
    assert.is_truthy(pid, state)
    -- podman's container pid is kata-runtime's: the shim that stands for the process in the guest
    local cmdline = (run.read("/proc/" .. pid .. "/cmdline") or ""):gsub("%z", " ")
    assert.matches("kata%-shim", cmdline)
    local _, ps = podman("ps", "--format", "{{.ID}} {{.Names}} {{.Status}}", "--no-trunc")
    assert.matches("^" .. id .. " d1 Up ", ps)

    s, out, err = podman("exec", "d1", "sh", "-c", "echo from-exec; echo to-stderr >&2; exit 5")
    assert.equal(5, s, err)
    assert.equal("from-exec\n", out)
    assert.matches("to-stderr\n", err, 1, true)
    s, out = podman("exec", "--env", "FOO=bar", "--workdir", "/tmp", "d1", "sh", "-c", "echo $FOO $(pwd)")
    assert.equal(0, s)
    assert.equal("bar /tmp\n", out)
    -- podman's default rlimits, above this host's hard limits, hold in the guest without --ulimit
    s, out = podman("exec", "d1", "sh", "-c", "ulimit -n; ulimit -u")
    assert.equal(0, s)
    assert.equal("1048576\n32768\n", out)

    -- the trap answers TERM, so stop returns well before its 10 s grace period
    local t0 = vc.clock.monotonic()
    s, out, err = podman("stop", "d1")
    assert.equal(0, s, err)
    assert.is_true(vc.clock.monotonic() - t0 < 8)
    assert.equal("exited false 0", inspect("d1", "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}"))
    local l = logs("d1")
    for _, want in ipairs({ "up\n", "warn\n", "got-term\n" }) do assert.matches(want, l, 1, true) end
    _, ps = podman("ps", "--all", "--format", "{{.Names}} {{.Status}}")
    assert.matches("^d1 Exited %(0%)", ps)

    s, _, err = podman("rm", "d1")
    assert.equal(0, s, err)
    s = podman("inspect", "d1")
    assert.equal(125, s)
  end)

  it("kills with a signal the container handles, then with the default KILL", function()
    local s, _, err = podman("run", "-d", "--name", "k1", "--rootfs", rootfs, "sh", "-c",
      "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done")
    assert.equal(0, s, err)
    assert.truthy(world.wait_for(function() return logs("k1"):find("ready\n", 1, true) end, 30))
    s, _, err = podman("kill", "--signal", "USR1", "k1")
    assert.equal(0, s, err)
    assert.truthy(world.wait_for(function() return logs("k1"):find("got-usr1\n", 1, true) end, 60))
    assert.equal("running", inspect("k1", "{{.State.Status}}"))

    s, _, err = podman("kill", "k1")
    assert.equal(0, s, err)
    assert.truthy(world.wait_for(function() return inspect("k1", "{{.State.Status}}") == "exited" end, 60))
    assert.equal("137", inspect("k1", "{{.State.ExitCode}}"))
    assert.equal(0, (podman("rm", "k1")))
  end)

  it("gives run -it and exec -it a terminal through conmon's console socket, sized and interactive", function()
    local sock = tmp .. "/tmux.sock"
    local function tmux(args)
      local p = io.popen("tmux -S " .. run.q(sock) .. " " .. args .. " 2>&1")
      local out = p:read("a")
      p:close()
      return out
    end
    --- A window's command: podman, then its exit status into a file. The shell, not tmux, waits for podman
    --- (tmux loses a pane's exit status now and then when the pane exits while the server waits for a
    --- child of its own).
    local function podman_cmd(w, ...)
      local parts = {
        "CONTAINERS_CONF=" .. run.q(tmp .. "/containers.conf"), "CONTAINERS_STORAGE_CONF=" .. run.q(tmp .. "/storage.conf"),
        "podman", "--root", run.q(tmp .. "/root"), "--runroot", run.q(tmp .. "/runroot"), "--runtime", run.q(runtime),
      }
      for _, a in ipairs({ ... }) do parts[#parts + 1] = run.q(a) end
      return run.q(table.concat(parts, " ") .. "; echo $? > " .. run.q(tmp .. "/" .. w .. ".status"))
    end
    local function screen(w) return tmux("capture-pane -p -t pm:" .. w) end
    --- The window's podman exit status once it has exited, or what podman is still doing.
    local function exit_status(w)
      local status = world.wait_for(function() return tonumber(run.read(tmp .. "/" .. w .. ".status") or "") end, 60)
      if status then return status end
      local p = io.popen("ps -eo pid,ppid,stat,etime,wchan:24,args | grep -E 'podman|conmon|kata-' | grep -v grep")
      local what = p:read("a")
      p:close()
      return what
    end

    -- the windows' shell is /bin/sh wherever the suite runs, not the caller's $SHELL
    run.write(tmp .. "/tmux.conf", "set -g remain-on-exit on\nset -g history-limit 100\nset -g default-shell /bin/sh\n")
    assert(os.execute(("tmux -S %s -f %s new-session -d -x 100 -y 30 -s pm -n run %s"):format(
      run.q(sock), run.q(tmp .. "/tmux.conf"), podman_cmd("run", "run", "--rm", "-it", "--name", "t1", "--rootfs", rootfs, "sh"))))
    local ok, err = pcall(function()
      assert.truthy(world.wait_for(function() return screen("run"):find("\n/ #\n", 1, true) end, 60), screen("run"))
      tmux("send-keys -t pm:run " .. run.q("test -t 0 && test -t 1 && echo tty-$((6*7)); tty; stty size") .. " Enter")
      assert.truthy(world.wait_for(function() return screen("run"):find("tty-42\n/dev/pts/0\n30 100\n", 1, true) end, 60), screen("run"))

      -- a second terminal process in the same container
      tmux("new-window -d -t pm -n ex " .. podman_cmd("ex", "exec", "-it", "t1", "sh", "-c",
        "test -t 0 && echo exec-tty; tty; stty size; read line; echo got-$line; exit 6"))
      assert.truthy(world.wait_for(function() return screen("ex"):find("exec-tty\n/dev/pts/1\n30 100\n", 1, true) end, 30), screen("ex"))
      tmux("send-keys -t pm:ex hello Enter")
      assert.equal(6, exit_status("ex"))
      assert.matches("got-hello\n", screen("ex"), 1, true)

      tmux("send-keys -t pm:run 'exit 4' Enter")
      assert.equal(4, exit_status("run"))
    end)
    tmux("kill-server")
    world.wait_for(function() return #world.processes(sock) == 0 end, 30)
    assert(ok, err)
  end)

  it("puts containers on the default bridge network (CNI): a published port, and the host's HTTP server", function()
    -- ports of their own, so that parallel runs and other services do not collide
    local seed = vc.proc.getpid() % 5000
    local hostport, httpport = 20000 + seed, 25000 + seed
    -- a published port: CNI's portmap forwards the host's port to the guest's server
    local s, _, err = podman("run", "-d", "--name", "web", "--network", "bridge", "-p", hostport .. ":8080",
      "--rootfs", rootfs, "sh", "-c", "nc -ll -p 8080 -e /bin/echo served-from-guest")
    assert.equal(0, s, err)
    local got
    assert.truthy(world.wait_for(function()
      got = select(2, run.sh(("busybox nc -w 5 127.0.0.1 %d </dev/null"):format(hostport)))
      return got == "served-from-guest\n"
    end, 60), "published port: " .. tostring(got))

    -- the bridge exists now: an HTTP server on its address, fetched by a --rm container
    local _, addrs = run.sh("ip -4 -o addr show dev cni-podman0")
    local gw = addrs:match("inet (%d+%.%d+%.%d+%.%d+)/")
    assert.is_truthy(gw, "no IPv4 address on cni-podman0")
    local www = tmp .. "/www"
    assert(vc.fs.mkdir_p(www))
    run.write(www .. "/hello.txt", "hello-from-the-host\n")
    local _, pid = run.sh(("busybox httpd -f -p %s:%d -h %s </dev/null >/dev/null 2>&1 & echo $!"):format(gw, httpport, run.q(www)))
    local httpd = assert(tonumber(pid))
    local out
    s, out, err = podman("run", "--rm", "--network", "bridge", "--rootfs", rootfs, "sh", "-c",
      ("wget -q -O - http://%s:%d/hello.txt"):format(gw, httpport))
    vc.proc.kill(httpd, 9)
    vctest.proc.reap()
    assert.equal(0, s, err)
    assert.equal("hello-from-the-host\n", out)
    assert.equal(0, (podman("rm", "--force", "--time", "0", "web")))
  end)
end)
