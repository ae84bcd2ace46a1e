-- A guest that floods the host: a container process writes output at full speed to a client that attaches
-- to it and never reads. A real sandbox (supervisor, virtiofsd, qemu under TCG, the guest agent). The
-- supervisor must stop reading the agent channel rather than buffer (its memory stays bounded), disconnect
-- the client that does not read, and go on serving the others.
local vc = require("vc")
local vm = require("helpers.vm")

-- Bound on the supervisor's growth during the flood: its queues are bounded at 16 MiB in all (a client's
-- at 4 MiB plus a few frames before it counts as behind); the rest is room for the allocator.
local RSS_GROWTH_MAX_KIB = 48 * 1024

local function rss_kib(pid)
  local f = assert(io.open("/proc/" .. math.tointeger(pid) .. "/status"))
  local text = f:read("a")
  f:close()
  local kib = tonumber(text:match("VmRSS:%s*(%d+) kB"))
  assert(kib, "no VmRSS for " .. pid)
  return kib
end

local function self_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("a"):match("^(%d+)")
  f:close()
  return pid
end

local function log_has(path, pattern)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text:match(pattern)
end

local function spec(args)
  return {
    ociVersion = "1.0.2",
    process = { args = args, cwd = "/", env = { "PATH=/bin" }, user = { uid = 0, gid = 0 }, terminal = false },
    root = { path = "rootfs" },
    hostname = "flood",
    mounts = { { destination = "/proc", type = "proc", source = "proc" } },
    linux = { namespaces = { { type = "mount" }, { type = "uts" }, { type = "ipc" }, { type = "pid" } } },
  }
end

describe("a guest flooding a client that does not read #integration", function()
  local tmp, dir, info, sb

  setup(function()
    assert(vm.is_root(), "integration specs run as root")
    tmp = vm.tmpdir("flood")
    dir = tmp .. "/sb"
    assert(os.execute("mkdir -p " .. tmp .. "/share/rootfs"))
    vm.make_rootfs(tmp .. "/rootfs")
    local msg
    info, msg = vc.sandbox.launch(vm.launch_config({ id = "flood", dir = dir, share_dir = tmp .. "/share",
      accel = "tcg", boot_timeout = 60, memory_mib = 256 }))
    assert(info, msg)
    assert(os.execute("mount --bind " .. tmp .. "/rootfs " .. tmp .. "/share/rootfs"))
    sb = assert(vc.sandbox.connect(info.socket))
  end)

  teardown(function()
    if sb then sb:close() end
    if info and vm.alive(info.pid) then
      local c = vc.sandbox.connect(info.socket)
      if c then c:call("sup.shutdown", { timeout = 5 }, 20) c:close() end
      vm.kill(info.pid, "KILL")
    end
    if info then vm.assert_no_leaks(dir, info) end
    if tmp then vm.rmtree(tmp) end
  end)

  it("is slowed, not buffered: the client that does not read is dropped, the others are served", function()
    local before = rss_kib(info.pid)
    local flooder = assert(vc.sandbox.connect(info.socket))
    local r, msg = sb:call("create_container", { id = "f1", rootfs = "rootfs",
      spec = spec({ "/bin/sh", "-c", "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }) })
    assert(r, msg)
    local h = r.handle
    assert.is_true(flooder:attach(h)) -- and then never reads
    assert(sb:call("start_container", { id = "f1" }))

    -- the supervisor names the client it drops: this process, which holds the flooder
    local peak = before
    local line = "client pid " .. self_pid() .. " %([^)]*%) does not read: %d+ bytes queued to it"
    local dropped = vm.wait_for(function()
      peak = math.max(peak, rss_kib(info.pid))
      return log_has(dir .. "/supervisor.log", line) ~= nil
    end, 240)
    assert.is_true(dropped, "the client that does not read was not disconnected")

    -- the other connection works while the process goes on writing (its output is now dropped)
    for _ = 1, 3 do
      local ok, err = sb:call("check", nil, 60)
      assert(ok, err)
      peak = math.max(peak, rss_kib(info.pid))
    end
    local st = assert(sb:call("sup.status", nil, 60))
    assert.equals("running", st.vm)
    -- a new client too
    local late <close> = assert(vc.sandbox.connect(info.socket))
    assert(late:call("check", nil, 60))

    -- the flooder's connection was closed by the supervisor: after what was queued, its end
    local got, code = 0, nil
    local deadline = vm.now_ms() + 120000
    while vm.now_ms() < deadline do
      local m, _, c = flooder:read(5)
      if m == nil then code = c break end
      if m.type == "data" then got = got + #m.data end
    end
    assert.equals("EPIPE", code, "the disconnected client's connection did not end")
    flooder:close()

    assert(sb:call("remove_container", { id = "f1" }, 60))
    local after = rss_kib(info.pid)
    print(string.format("flood: supervisor VmRSS %d kB before, %d kB peak, %d kB after; %d bytes reached the "
      .. "client before it was dropped", before, peak, after, got))
    assert.is_true(peak - before < RSS_GROWTH_MAX_KIB,
      string.format("supervisor grew from %d to %d kB", before, peak))
  end)
end)
