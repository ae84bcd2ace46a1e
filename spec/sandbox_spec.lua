-- A real sandbox: kata-supervisor, virtiofsd and qemu (TCG) booting the real guest and kata-agent,
-- driven through vc.sandbox.launch / connect / call. Two guests are booted: one shared by the cases that
-- leave it running, one that is killed from outside.
local vc = require("vc")
local vm = require("helpers.vm")

local function spec(args, opts)
  opts = opts or {}
  local ns = { { type = "mount" }, { type = "uts" }, { type = "ipc" } }
  if opts.pidns ~= false then ns[#ns + 1] = { type = "pid" } end
  return {
    ociVersion = "1.0.2",
    process = { args = args, cwd = "/", env = { "PATH=/bin" }, user = { uid = 0, gid = 0 }, terminal = false },
    root = { path = "rootfs" },
    hostname = "c",
    mounts = { { destination = "/proc", type = "proc", source = "proc" } },
    linux = { namespaces = ns },
  }
end

-- Read this connection's messages for handle until its exit event: stdout, stderr, status.
local function collect(sb, handle, timeout)
  local out = { stdout = {}, stderr = {} }
  local deadline = vm.now_ms() + (timeout or 30) * 1000
  while true do
    local m, err = sb:read(math.max(0.05, (deadline - vm.now_ms()) / 1000))
    assert(m, err)
    if m.type == "data" and m.handle == handle then
      table.insert(out[m.stream], m.data)
    elseif m.type == "event" and m.event == "exit" and m.params.handle == handle then
      return table.concat(out.stdout), table.concat(out.stderr), m.params.status
    end
  end
end

local function create(sb, id, args, opts)
  local r, msg = sb:call("create_container", { id = id, rootfs = "rootfs", spec = spec(args, opts) })
  assert(r, msg)
  assert.is_true(math.type(r.handle) == "integer" and r.handle > 0)
  assert.is_true(math.type(r.pid) == "integer" and r.pid > 0)
  return r.handle
end

local function launch(tmp, id, netns, tcg_cache_mib)
  local info, msg = vc.sandbox.launch(vm.launch_config({ id = id, dir = tmp .. "/sb", share_dir = tmp .. "/share",
    accel = "tcg", boot_timeout = 60, memory_mib = 256, netns = netns, tcg_cache_mib = tcg_cache_mib,
    supervisor = os.getenv("VC_SUPERVISOR") }))
  assert(info, msg)
  return info
end

describe("a sandbox with a real guest #integration", function()
  local tmp, dir, share, info, sb

  setup(function()
    assert(vm.is_root(), "integration specs run as root")
    tmp = vm.tmpdir("int")
    dir, share = tmp .. "/sb", tmp .. "/share"
    assert(os.execute("mkdir -p " .. share .. "/rootfs"))
    vm.make_rootfs(tmp .. "/rootfs")
    info = launch(tmp, "int1")
    -- made after boot: reaches the guest only through the share's mount propagation into virtiofsd
    assert(os.execute("mount --bind " .. tmp .. "/rootfs " .. share .. "/rootfs"))
    sb = assert(vc.sandbox.connect(info.socket))
  end)

  teardown(function()
    if sb then sb:close() end
    if info and vm.alive(info.pid) then
      local c = vc.sandbox.connect(info.socket)
      if c then c:call("sup.shutdown", { timeout = 5 }, 20) c:close() end
      vm.kill(info.pid, "KILL")
    end
    if tmp then vm.rmtree(tmp) end
  end)

  after_each(function()
    -- nothing but the sandbox's own three processes, nothing mounted but the share and the rootfs
    if vm.alive(info.pid) then
      local ppids = {}
      local pids = {}
      for _, p in ipairs(vm.pids_mentioning(dir, ppids)) do
        -- virtiofsd runs its sandbox as a child of its own
        if ppids[p] ~= info.virtiofsd_pid then pids[#pids + 1] = p end
      end
      table.sort(pids)
      local want = { info.pid, info.qemu_pid, info.virtiofsd_pid }
      table.sort(want)
      assert.same(want, pids)
      local mounts = vm.mounts_under(tmp)
      table.sort(mounts)
      assert.same({ share, share .. "/rootfs" }, mounts)
    end
  end)

  it("boots and reports its status", function()
    assert.equals("tcg", info.accel)
    assert.equals(dir .. "/sup.sock", info.socket)
    assert.is_true(info.boot_ms > 0 and info.boot_ms < 60000)
    for _, p in ipairs({ info.pid, info.qemu_pid, info.virtiofsd_pid }) do assert.is_true(vm.alive(p)) end
    assert.equals("vc.Sandbox (" .. info.socket .. ")", tostring(sb))
    local st = assert(sb:call("sup.status"))
    assert.same({ qemu_pid = info.qemu_pid, virtiofsd_pid = info.virtiofsd_pid, vm = "running", accel = "tcg" }, st)
    local check = assert(sb:call("check"))
    assert.equals(1, check.protocol)
  end)

  it("answers sup.qmp query-status with running", function()
    local r = assert(sb:call("sup.qmp", { execute = "query-status" }))
    assert.equals("running", r.status)
    assert.is_true(r.running)
    assert(sb:call("sup.qmp", { execute = "stop" }))
    assert.equals("paused", assert(sb:call("sup.qmp", { execute = "query-status" })).status)
    assert.is_true(vm.wait_for(function() return sb:call("sup.status").vm == "stopped" end, 60))
    assert(sb:call("sup.qmp", { execute = "cont" }))
    assert.is_true(vm.wait_for(function() return sb:call("sup.status").vm == "running" end, 60))
    assert(sb:call("check")) -- the guest runs on
    -- only the commands the runtime uses, with arguments that run nothing on the host (issue 11)
    for _, q in ipairs({ { execute = "no-such-command" }, { execute = "human-monitor-command",
      arguments = { ["command-line"] = "info status" } }, { execute = "quit" },
      { execute = "netdev_add", arguments = { type = "tap", id = "x", script = "/bin/sh" } },
      { execute = "netdev_add", arguments = { type = "user", id = "x" } },
      { execute = "device_add", arguments = { driver = "virtio-blk-pci", id = "x" } } }) do
      local ok, msg, code = sb:call("sup.qmp", q)
      assert.is_nil(ok, q.execute)
      assert.matches("^sup.qmp: '" .. q.execute:gsub("%-", "%%-") .. "': ", msg)
      assert.equals("EPERM", code)
    end
    assert(sb:call("check"))
  end)

  it("runs echo hello and streams its output", function()
    local h = create(sb, "c1", { "/bin/echo", "hello" })
    assert.is_true(sb:attach(h))
    assert(sb:call("start_container", { id = "c1" }))
    local out, err, status = collect(sb, h)
    assert.equals("hello\n", out)
    assert.equals("", err)
    assert.equals(0, status)
    assert.same({ status = 0 }, assert(sb:call("sup.wait", { handle = h })))
    assert(sb:call("remove_container", { id = "c1" }))
    local ok, _, code = sb:call("sup.wait", { handle = h })
    assert.is_nil(ok)
    assert.equals("ENOENT", code)
  end)

  it("has the guest report freed memory to the host in 128 KiB blocks", function()
    -- the kernel command line asks for order 5; Linux 6.1 resets it to 2 MiB when virtio-balloon
    -- registers, and the agent sets it again
    local s = spec({ "/bin/cat", "/sys/module/page_reporting/parameters/page_reporting_order" })
    table.insert(s.mounts, { destination = "/sys", type = "sysfs", source = "sysfs", options = { "ro" } })
    local r = assert(sb:call("create_container", { id = "c-pr", rootfs = "rootfs", spec = s }))
    assert.is_true(sb:attach(r.handle))
    assert(sb:call("start_container", { id = "c-pr" }))
    local out, err, status = collect(sb, r.handle)
    assert.equals("5\n", out, err)
    assert.equals(0, status)
    assert(sb:call("remove_container", { id = "c-pr" }))
  end)

  it("refuses a second launch in the directory of a running sandbox, which goes on", function()
    local function config() local f = assert(io.open(dir .. "/supervisor.json")); local c = f:read("a"); f:close(); return c end
    local before = config()
    local r, msg = vc.sandbox.launch(vm.launch_config({ id = "again", dir = dir, share_dir = share, accel = "tcg",
      boot_timeout = 60, memory_mib = 256, supervisor = os.getenv("VC_SUPERVISOR") }))
    assert.is_nil(r)
    assert.equals(("sandbox dir '%s' is in use: a supervisor answers on '%s/sup.sock'"):format(dir, dir), msg)
    assert.equals(before, config())
    local sb2 = assert(vc.sandbox.connect(info.socket))
    assert.equals("running", assert(sb2:call("sup.status")).vm)
    assert.equals(1, assert(sb2:call("check")).protocol)
    sb2:close()
  end)

  it("reports exit code 3", function()
    local h = create(sb, "c2", { "/bin/sh", "-c", "echo out; echo err >&2; exit 3" })
    assert(sb:attach(h))
    assert(sb:call("start_container", { id = "c2" }))
    local out, err, status = collect(sb, h)
    assert.equals("out\n", out)
    assert.equals("err\n", err)
    assert.equals(3, status)
    assert(sb:call("remove_container", { id = "c2" }))
  end)

  it("gives 143 when sleep gets SIGTERM", function()
    local h = create(sb, "c3", { "/bin/sleep", "100" }, { pidns = false })
    assert(sb:attach(h))
    assert(sb:call("start_container", { id = "c3" }))
    local pids = assert(sb:call("list_processes", { id = "c3" })).pids
    assert.equals(1, #pids)
    assert(sb:call("signal_process", { id = "c3", signal = 15 }))
    local _, _, status = collect(sb, h)
    assert.equals(143, status)
    assert.same({ status = 143 }, assert(sb:call("sup.wait", { handle = h })))
    assert(sb:call("remove_container", { id = "c3" }))
  end)

  it("execs a process in a running container", function()
    local h = create(sb, "c4", { "/bin/sleep", "100" }, { pidns = false })
    assert(sb:call("start_container", { id = "c4" }))
    local r = assert(sb:call("exec_process", { id = "c4", exec_id = "e1", process = {
      args = { "/bin/sh", "-c", "echo from-exec; hostname; exit 7" }, cwd = "/", env = { "PATH=/bin" },
      user = { uid = 0, gid = 0 } } }))
    assert.is_true(r.handle > 0 and r.handle ~= h)
    assert(sb:attach(r.handle))
    assert(sb:call("start_process", { handle = r.handle }))
    local out, _, status = collect(sb, r.handle)
    assert.equals("from-exec\nc\n", out)
    assert.equals(7, status)
    -- the init was never attached: its status still comes through sup.wait
    assert(sb:call("signal_process", { id = "c4", signal = 9 }))
    assert.same({ status = 137 }, assert(sb:call("sup.wait", { handle = h }, 30)))
    assert(sb:call("remove_container", { id = "c4" }))
  end)

  it("keeps output produced before anyone attached", function()
    local h = create(sb, "c5", { "/bin/sh", "-c", "seq 1 20000" })
    assert(sb:call("start_container", { id = "c5" }))
    assert.same({ status = 0 }, assert(sb:call("sup.wait", { handle = h }, 30)))
    assert(sb:attach(h))
    local out, _, status = collect(sb, h)
    local want = {}
    for i = 1, 20000 do want[i] = tostring(i) end
    assert.equals(table.concat(want, "\n") .. "\n", out)
    assert.equals(0, status)
    assert(sb:call("remove_container", { id = "c5" }))
  end)

  it("holds back output nobody reads without losing any (backpressure)", function()
    -- 6 MiB, more than the supervisor buffers for a handle: the agent channel pauses until it is read
    local h = create(sb, "c8", { "/bin/sh", "-c", "yes xxxxxxx | head -c 6291456; echo; exit 5" })
    assert(sb:call("start_container", { id = "c8" }))
    local done = sb:call("sup.wait", { handle = h }, 3)
    assert.is_nil(done) -- cannot finish: its output is not being read
    assert(sb:attach(h))
    local out, _, status = collect(sb, h, 120)
    assert.equals(6291456 + 1, #out)
    assert.equals(("xxxxxxx\n"):rep(6291456 // 8) .. "\n", out)
    assert.equals(5, status)
    assert(sb:call("remove_container", { id = "c8" }))
  end)

  it("forwards stdin and its end", function()
    local h = create(sb, "c6", { "/bin/cat" })
    assert(sb:attach(h))
    assert(sb:call("start_container", { id = "c6" }))
    assert(sb:write(h, "ping\n"))
    assert(sb:write(h, ""))
    local out, _, status = collect(sb, h)
    assert.equals("ping\n", out)
    assert.equals(0, status)
    assert(sb:call("remove_container", { id = "c6" }))
  end)

  it("serves several clients and refuses what it must", function()
    local other <close> = assert(vc.sandbox.connect(info.socket))
    assert(other:call("check"))
    local h = create(sb, "c7", { "/bin/sleep", "100" }, { pidns = false })
    local ok, msg, code = other:call("sup.attach", { handle = h })
    assert.is_true(ok ~= nil, msg)
    ok, msg, code = sb:call("sup.attach", { handle = h })
    assert.is_nil(ok)
    assert.equals("sup.attach: handle " .. h .. " is attached to another connection", msg)
    assert.equals("EBUSY", code)
    ok, msg, code = sb:call("sup.wait", { handle = 99999 })
    assert.equals("sup.wait: no process with handle 99999", msg)
    assert.equals("ENOENT", code)
    ok, msg, code = sb:call("sup.attach", { handle = "x" })
    assert.equals("EINVAL", code)
    ok, msg, code = sb:call("destroy_sandbox")
    assert.equals("EPERM", code)
    assert.has_error(function() sb:call("check", { 1, 2 }) end,
      "bad argument #2 to 'call' (params must be a table with string keys)")
    assert.has_error(function() sb:call("check", nil, "soon") end,
      "bad argument #3 to 'call' (number expected, got string)")
    assert.has_error(function() sb:attach(0) end,
      "bad argument #1 to 'attach' (handle must be a positive 32-bit integer)")
    ok, msg, code = sb:call("sup.nothing")
    assert.equals("ENOSYS", code)
    ok, msg, code = sb:call("create_container", { id = "bad", rootfs = "nowhere", spec = spec({ "/bin/true" }) })
    assert.is_nil(ok)
    assert.equals("ENOENT", code)
    assert(sb:call("remove_container", { id = "c7" }))
    -- the attached connection saw its process end
    local _, _, status = collect(other, h, 10)
    assert.equals(137, status)
  end)

  it("shuts down with sup.shutdown and leaves nothing behind", function()
    local t0 = vm.now_ms()
    assert.same({}, assert(sb:call("sup.shutdown", { timeout = 10 }, 30)))
    assert.is_true(vm.now_ms() - t0 < 10000)
    vm.assert_no_leaks(dir, info)
    assert.is_false(vm.alive(info.pid))
    local ok, _, code = sb:call("check", nil, 2)
    assert.is_nil(ok)
    assert.equals("EPIPE", code)
    sb:close()
    sb:close() -- idempotent
    assert.equals("vc.Sandbox (closed)", tostring(sb))
    assert.has_error(function() sb:call("check") end, "attempt to use a closed vc.Sandbox")
    sb = nil
  end)
end)

describe("a sandbox in a netns whose qemu is killed #integration", function()
  local tmp, info, netns

  teardown(function()
    if info then
      for _, p in ipairs({ info.pid, info.qemu_pid, info.virtiofsd_pid }) do vm.kill(p, "KILL") end
    end
    if netns then os.execute("ip netns delete " .. netns .. " 2>/dev/null") end
    if tmp then vm.rmtree(tmp) end
  end)

  local function netns_of(pid)
    return vm.sh("readlink /proc/" .. math.tointeger(pid) .. "/ns/net"):gsub("%s+$", "")
  end

  it("runs only qemu in the netns; reports vm-exit and status 255 when qemu dies, then exits", function()
    assert(vm.is_root(), "integration specs run as root")
    tmp = vm.tmpdir("int")
    netns = "vc-sup-" .. tmp:match("[^.]+$")
    assert(os.execute("ip netns add " .. netns))
    os.execute("mkdir -p " .. tmp .. "/share")
    vm.make_rootfs(tmp .. "/share/rootfs")
    info = launch(tmp, "int2", "/run/netns/" .. netns, 24)
    local f = assert(io.open("/proc/" .. info.qemu_pid .. "/cmdline"))
    assert.matches("%ztcg,tb%-size=24%z", f:read("a")) -- the TCG cache size that launch was given
    f:close()
    local want = vm.sh("stat -L -c 'net:[%i]' /run/netns/" .. netns):gsub("%s+$", "")
    assert.equals(want, netns_of(info.qemu_pid))
    assert.are_not.equals(want, netns_of(info.pid))
    assert.are_not.equals(want, netns_of(info.virtiofsd_pid))
    local sb <close> = assert(vc.sandbox.connect(info.socket))
    local h = create(sb, "k1", { "/bin/sleep", "100" }, { pidns = false })
    assert(sb:attach(h))
    assert(sb:call("start_container", { id = "k1" }))
    local waiter <close> = assert(vc.sandbox.connect(info.socket))
    assert(vm.kill(info.qemu_pid, "KILL"))
    local seen = {}
    while not (seen.vm and seen.exit) do
      local m, err = sb:read(15)
      assert(m, err)
      if m.type == "event" and m.event == "vm-exit" then seen.vm = true end
      if m.type == "event" and m.event == "exit" then
        assert.equals(h, m.params.handle)
        assert.equals(255, m.params.status)
        assert.equals("k1", m.params.id)
        seen.exit = true
      end
    end
    vm.assert_no_leaks(tmp .. "/sb", info)
    local ok, _, code = waiter:call("sup.status", nil, 2)
    assert.is_nil(ok)
    assert.equals("EPIPE", code)
    assert(os.execute("ip netns delete " .. netns))
    netns = nil
  end)
end)
