-- kata-supervisor's failure paths during boot, driven through vc.sandbox.launch with stand-in qemu and
-- virtiofsd programs (no VM is booted). Root: the supervisor makes the share dir a shared mount.
local vc = require("vc")
local vm = require("helpers.vm")

describe("kata-supervisor boot failures #privileged", function()
  local tmp
  before_each(function()
    tmp = vm.tmpdir("sup")
  end)
  after_each(function()
    vm.rmtree(tmp)
  end)

  local function cfg(extra)
    -- the configuration layer's VM (libvc has no defaults of its own), with stand-in kernel and initrd
    local c = require("kata.pod").vm(require("kata.config").defaults())
    c.id, c.dir, c.accel, c.kernel, c.initrd, c.boot_timeout = "f1", tmp .. "/sb", "tcg", tmp .. "/kernel",
      tmp .. "/initrd", 5
    vm.write_file(tmp .. "/kernel", "not a kernel")
    vm.write_file(tmp .. "/initrd", "not an initrd")
    c.plan = require("kata.pod").standard_plan(c.id)
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end

  it("reports qemu's last stderr line when it exits, and leaves nothing behind", function()
    vm.write_file(tmp .. "/qemu", "#!/bin/sh\necho 'qemu-system-x86_64: warming up' >&2\n" ..
      "echo \"qemu-system-x86_64: cannot set up guest memory 'mem': Cannot allocate memory\" >&2\nexit 1\n", "755")
    local ok, msg, code = vc.sandbox.launch(cfg({ qemu = tmp .. "/qemu" }))
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': qemu exited: qemu-system-x86_64: cannot set up guest memory 'mem': " ..
      "Cannot allocate memory", msg)
    assert.equals("EIO", code)
    vm.assert_no_leaks(tmp .. "/sb")
    assert.is_nil(io.open(tmp .. "/sb"), "the sandbox dir it created is removed")
  end)

  it("reports a virtiofsd that exits", function()
    local ok, msg, code = vc.sandbox.launch(cfg({ virtiofsd = "/bin/false" }))
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': virtiofsd exited: status 1", msg)
    assert.equals("EIO", code)
    vm.assert_no_leaks(tmp .. "/sb")
  end)

  it("times out on a qemu that never opens its sockets and kills it", function()
    vm.write_file(tmp .. "/qemu", "#!/bin/sh\necho $$ > " .. tmp .. "/qemu.pid\nexec sleep 100\n", "755")
    local t0 = vm.now_ms()
    local ok, msg, code = vc.sandbox.launch(cfg({ qemu = tmp .. "/qemu", boot_timeout = 2 }))
    local elapsed = vm.now_ms() - t0
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': qemu did not start within 2 s", msg)
    assert.equals("ETIMEDOUT", code)
    assert.is_true(elapsed >= 1900 and elapsed < 6000, "elapsed " .. elapsed)
    local pid = tonumber(io.open(tmp .. "/qemu.pid"):read("l"))
    assert.is_false(vm.alive(pid))
    vm.assert_no_leaks(tmp .. "/sb")
  end)

  it("waits for an agent socket that qemu has bound but not yet listens on, instead of failing the boot", function()
    -- qemu binds each chardev socket, then listens: a connect in between is refused. The stand-in holds
    -- that window open for half a second, then listens and records the supervisor's connection.
    vm.write_file(tmp .. "/qemu", [[#!/usr/bin/perl
use Socket;
my ($qmp, $agent);
for (@ARGV) { $qmp = $1 if /id=qmp,path=([^,]+)/; $agent = $1 if /id=agent,path=([^,]+)/; }
open(my $pf, '>', ']] .. tmp .. [[/qemu.pid'); print $pf "$$\n"; close($pf);
socket(my $q, AF_UNIX, SOCK_STREAM, 0) or die; bind($q, pack_sockaddr_un($qmp)) or die; listen($q, 1) or die;
socket(my $a, AF_UNIX, SOCK_STREAM, 0) or die; bind($a, pack_sockaddr_un($agent)) or die;
select(undef, undef, undef, 0.5);
listen($a, 1) or die;
accept(my $c, $a) or die;
open(my $m, '>', ']] .. tmp .. [[/connected'); close($m);
sleep 100;
]], "755")
    local ok, msg, code = vc.sandbox.launch(cfg({ qemu = tmp .. "/qemu", boot_timeout = 3 }))
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': agent did not answer within 3 s", msg) -- not "connection refused"
    assert.equals("ETIMEDOUT", code)
    assert.is_not_nil(io.open(tmp .. "/connected"), "the supervisor connected once qemu listened")
    assert.is_false(vm.alive(tonumber(io.open(tmp .. "/qemu.pid"):read("l"))))
    vm.assert_no_leaks(tmp .. "/sb")
  end)

  -- A guest is untrusted: a stand-in qemu plays a guest whose agent answers the supervisor's first request
  -- with garbage. The host side must refuse it in one line, stop the VM and leave nothing behind.
  local function garbage_guest(reply_perl)
    vm.write_file(tmp .. "/qemu", [[#!/usr/bin/perl
use Socket;
my ($qmp, $agent);
for (@ARGV) { $qmp = $1 if /id=qmp,path=([^,]+)/; $agent = $1 if /id=agent,path=([^,]+)/; }
open(my $pf, '>', ']] .. tmp .. [[/qemu.pid'); print $pf "$$\n"; close($pf);
socket(my $q, AF_UNIX, SOCK_STREAM, 0) or die; bind($q, pack_sockaddr_un($qmp)) or die; listen($q, 1) or die;
socket(my $a, AF_UNIX, SOCK_STREAM, 0) or die; bind($a, pack_sockaddr_un($agent)) or die; listen($a, 1) or die;
accept(my $c, $a) or die;
my $hdr; read($c, $hdr, 12) == 12 or die;
my ($len, $type, $stream, $zero, $id) = unpack("N C C n N", $hdr);
my $body; read($c, $body, $len);
]] .. reply_perl .. [[
syswrite($c, $reply);
sleep 100;
]], "755")
  end

  it("stops the VM when the guest sends a frame header it cannot trust", function()
    -- an unknown frame type, then a length over the 1 MiB cap
    garbage_guest([[my $reply = pack("N C C n N", 2, 9, 0, 0, $id) . "{}" . pack("N C C n N", 0x7fffffff, 2, 0, 0, $id);]])
    local ok, msg, code = vc.sandbox.launch(cfg({ qemu = tmp .. "/qemu", boot_timeout = 5 }))
    assert.is_nil(ok)
    assert.matches("protocol error on the agent channel", msg, 1, true)
    assert.is_string(code)
    assert.is_false(vm.alive(tonumber(io.open(tmp .. "/qemu.pid"):read("l"))))
    vm.assert_no_leaks(tmp .. "/sb")
  end)

  it("ignores an answer that is not JSON and keeps waiting for a real one", function()
    garbage_guest([[my $junk = "\x00\xffnot json at all"; my $reply = pack("N C C n N", length($junk), 2, 0, 0, $id) . $junk;]])
    local ok, msg, code = vc.sandbox.launch(cfg({ qemu = tmp .. "/qemu", boot_timeout = 2 }))
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': agent did not answer within 2 s", msg)
    assert.equals("ETIMEDOUT", code)
    assert.is_false(vm.alive(tonumber(io.open(tmp .. "/qemu.pid"):read("l"))))
    vm.assert_no_leaks(tmp .. "/sb")
  end)

  it("keeps an existing sandbox dir and removes only what it wrote", function()
    os.execute("mkdir -p " .. tmp .. "/sb")
    vm.write_file(tmp .. "/sb/keep", "x")
    local ok, msg = vc.sandbox.launch(cfg({ virtiofsd = "/bin/false" }))
    assert.is_nil(ok)
    assert.matches("virtiofsd exited", msg)
    assert.is_not_nil(io.open(tmp .. "/sb/keep"))
    assert.is_nil(io.open(tmp .. "/sb/supervisor.json"))
    assert.is_nil(io.open(tmp .. "/sb/shared"))
    vm.assert_no_leaks(tmp .. "/sb")
  end)

  it("kills a supervisor that never reports", function()
    vm.write_file(tmp .. "/sup", "#!/bin/sh\necho $$ > " .. tmp .. "/sup.pid\nexec sleep 100\n", "755")
    local t0 = vm.now_ms()
    local ok, msg, code = vc.sandbox.launch(cfg({ supervisor = tmp .. "/sup", boot_timeout = 1 }))
    local elapsed = vm.now_ms() - t0
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': the supervisor did not report within 6 s", msg)
    assert.equals("ETIMEDOUT", code)
    assert.is_true(elapsed >= 5900 and elapsed < 10000, "elapsed " .. elapsed)
    local pid = tonumber(io.open(tmp .. "/sup.pid"):read("l"))
    assert.is_false(vm.alive(pid))
    assert.is_nil(io.open(tmp .. "/sb"))
  end)

  it("reports a supervisor that exits without a word", function()
    vm.write_file(tmp .. "/sup", "#!/bin/sh\nexit 3\n", "755")
    local ok, msg, code = vc.sandbox.launch(cfg({ supervisor = tmp .. "/sup" }))
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': the supervisor exited before it was ready (see " .. tmp .. "/sb/supervisor.log)", msg)
    assert.equals("EIO", code)
    assert.is_nil(io.open(tmp .. "/sb"))
  end)

  it("passes a bad config's reason through", function()
    -- the real supervisor refusing its config (written by hand here: the launcher never writes a bad one)
    vm.write_file(tmp .. "/sup", "#!/bin/sh\necho '{}' > " .. tmp .. "/bad.json\nexec " .. vm.build_dir() ..
      "/kata-supervisor --config " .. tmp .. "/bad.json --ready-fd 3\n", "755")
    local ok, msg, code = vc.sandbox.launch(cfg({ supervisor = tmp .. "/sup" }))
    assert.is_nil(ok)
    assert.equals("sandbox 'f1': config: 'id' is missing", msg)
    assert.equals("EINVAL", code)
  end)

  it("has no VM defaults nor plan of its own: a missing value is refused in one line", function()
    local full = { id = "f1", dir = tmp .. "/sb", qemu = "q", kernel = "k", initrd = "i", accel = "tcg",
      share_dir = tmp .. "/sb/shared", virtiofsd = "v", vcpus = 1, memory_mib = 256, tcg_cache_mib = 16,
      boot_timeout = 5, boot = { { call = "check" } }, shutdown = { timeout = 10, destroy_timeout = 5 } }
    local why = { vcpus = "'vcpus' is missing", memory_mib = "'memory_mib' is missing",
      tcg_cache_mib = "'tcg_cache_mib' is missing", boot_timeout = "'boot_timeout' is missing",
      boot = "'boot' must be a non-empty array of agent calls",
      shutdown = "'shutdown.timeout' must be 0..3600 seconds" }
    for k, line in pairs(why) do
      local c = {}
      for fk, fv in pairs(full) do if fk ~= k then c[fk] = fv end end
      vm.write_file(tmp .. "/sup.json", vc.json.encode(c))
      local p = io.popen(vm.build_dir() .. "/kata-supervisor --config " .. tmp .. "/sup.json 2>&1; echo \"rc $?\"")
      local out = p:read("a")
      p:close()
      assert.equals("kata-supervisor: config: " .. line .. "\nrc 2\n", out, k)
    end
    full.shutdown = { timeout = 10 }
    vm.write_file(tmp .. "/sup.json", vc.json.encode(full))
    local p = io.popen(vm.build_dir() .. "/kata-supervisor --config " .. tmp .. "/sup.json 2>&1")
    assert.equals("kata-supervisor: config: 'shutdown.destroy_timeout' must be within 0..timeout seconds\n", p:read("a"))
    p:close()
    assert.is_nil(io.open(tmp .. "/sb"))
  end)
end)
