local vc = require("vc")

describe("vc.cli.parse", function()
  local function parse(...) return vc.cli.parse({ ... }) end

  it("fills global defaults", function()
    local ctx = assert(parse("state", "c1"))
    assert.equal("state", ctx.command)
    assert.equal("/run/kata-containers", ctx.global.root)
    assert.equal("text", ctx.global.log_format)
    assert.same({ "c1" }, ctx.args)
  end)

  it("parses the global flags containerd's runc shim passes", function()
    local ctx = assert(parse("--root", "/run/containerd/runc/default", "--log", "/b/log.json",
      "--log-format", "json", "--systemd-cgroup", "--debug", "delete", "--force", "c1"))
    assert.equal("/run/containerd/runc/default", ctx.global.root)
    assert.equal("/b/log.json", ctx.global.log)
    assert.equal("json", ctx.global.log_format)
    assert.is_true(ctx.global.systemd_cgroup)
    assert.is_true(ctx.global.debug)
    assert.is_true(ctx.options.force)
  end)

  it("accepts crun's --cgroup-manager as podman passes it with cgroups disabled, and rejects unknown managers", function()
    local ctx = assert(parse("--root=/r", "--log-format=json", "--log", "/b/oci-log", "--cgroup-manager", "disabled",
      "create", "--bundle", "/b", "--pid-file", "/p", "c1"))
    assert.equal("disabled", ctx.global.cgroup_manager)
    assert.equal("/r", ctx.global.root)
    assert.equal("json", ctx.global.log_format)
    assert.equal("systemd", assert(parse("--cgroup-manager=systemd", "list")).global.cgroup_manager)
    local ok, err = parse("--cgroup-manager", "cgroupv3", "list")
    assert.is_nil(ok)
    assert.equal("kata-runtime: flag '--cgroup-manager': unknown manager 'cgroupv3'", err)
  end)

  it("accepts --rootless and --config", function()
    local ctx = assert(parse("--rootless", "false", "--config", "/etc/x.lua", "list"))
    assert.equal("false", ctx.global.rootless)
    assert.equal("/etc/x.lua", ctx.global.config)
  end)

  it("parses create as conmon and containerd call it", function()
    local ctx = assert(parse("create", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s",
      "--no-pivot", "--no-new-keyring", "--preserve-fds", "2", "c1"))
    assert.same({ bundle = "/b", pid_file = "/p", console_socket = "/s", no_pivot = true,
      no_new_keyring = true, preserve_fds = 2 }, ctx.options)
    assert.same({ "c1" }, ctx.args)
    assert.same({ bundle = "/b" }, assert(parse("create", "-b", "/b", "c1")).options)
  end)

  it("parses start, state, pause, resume with exactly one id", function()
    for _, cmd in ipairs({ "start", "state", "pause", "resume" }) do
      assert.same({ "x" }, assert(parse(cmd, "x")).args)
      local ok, err = parse(cmd)
      assert.is_nil(ok)
      assert.equal(('"%s" requires exactly 1 argument(s)'):format(cmd), err)
    end
  end)

  it("parses kill with and without a signal and --all", function()
    assert.same({ "c1" }, assert(parse("kill", "c1")).args)
    local ctx = assert(parse("kill", "-a", "c1", "KILL"))
    assert.same({ "c1", "KILL" }, ctx.args)
    assert.is_true(ctx.options.all)
    assert.is_true(assert(parse("kill", "--all", "c1", "9")).options.all)
    assert.is_nil(parse("kill", "c1", "TERM", "extra"))
  end)

  it("parses delete with -f", function()
    assert.is_true(assert(parse("delete", "-f", "c1")).options.force)
  end)

  it("parses run with --detach and create's flags", function()
    local ctx = assert(parse("run", "-d", "-b", "/b", "--pid-file", "/p", "c1"))
    assert.same({ detach = true, bundle = "/b", pid_file = "/p" }, ctx.options)
  end)

  it("parses exec as conmon calls it and keeps the command's own flags", function()
    local ctx = assert(parse("exec", "--pid-file", "/p", "--process", "/proc.json", "--detach", "c1"))
    assert.same({ pid_file = "/p", process = "/proc.json", detach = true }, ctx.options)
    ctx = assert(parse("exec", "-t", "-e", "A=1", "-e", "B=2", "--cwd", "/tmp", "-u", "1000:1000", "c1",
      "ls", "-la", "--color"))
    assert.same({ "A=1", "B=2" }, ctx.options.env)
    assert.equal("1000:1000", ctx.options.user)
    assert.is_true(ctx.options.tty)
    assert.same({ "c1", "ls", "-la", "--color" }, ctx.args)
  end)

  it("parses ps and list formats", function()
    assert.equal("json", assert(parse("ps", "--format", "json", "c1")).options.format)
    assert.equal("json", assert(parse("ps", "-f", "json", "c1")).options.format)
    local ctx = assert(parse("list", "-q", "-f", "table"))
    assert.is_true(ctx.options.quiet)
    local ok, err = parse("list", "--format", "yaml")
    assert.is_nil(ok)
    assert.equal("list: flag '--format': unknown format 'yaml'", err)
  end)

  it("parses events --stats, spec --bundle and the commands without arguments", function()
    assert.is_true(assert(parse("events", "--stats", "c1")).options.stats)
    assert.equal("/b", assert(parse("spec", "-b", "/b")).options.bundle)
    for _, cmd in ipairs({ "features", "version", "check", "env", "list" }) do
      assert.equal(cmd, assert(parse(cmd)).command)
      assert.is_nil(parse(cmd, "extra"))
    end
  end)

  it("turns --help, --version and no command into commands", function()
    assert.equal("help", assert(parse()).command)
    assert.equal("help", assert(parse("--help")).command)
    assert.equal("version", assert(parse("--version")).command)
    assert.equal("version", assert(parse("-v")).command)
  end)

  it("names an unknown flag, a missing value and an unknown command", function()
    local ok, err, code = parse("create", "--bogus", "c1")
    assert.is_nil(ok)
    assert.equal("create: unknown flag '--bogus'", err)
    assert.equal("EINVAL", code)
    assert.equal("kata-runtime: flag '--root' needs a value", select(2, parse("--root")))
    assert.equal("kata-runtime: unknown command 'frobnicate'", select(2, parse("frobnicate")))
    assert.equal("kata-runtime: flag '--log-format': unknown format 'xml'",
      select(2, parse("--log-format", "xml", "list")))
    assert.equal("create: flag '--preserve-fds': invalid number 'x'",
      select(2, parse("create", "--preserve-fds", "x", "c1")))
  end)

  it("raises on misuse", function()
    assert.has_error(function() vc.cli.parse("state") end,
      "bad argument #1 to 'parse' (table expected, got string)")
  end)
end)

describe("vc.signal", function()
  it("parses names with or without SIG, any case, and numbers", function()
    assert.equal(15, vc.signal.parse("TERM"))
    assert.equal(15, vc.signal.parse("SIGTERM"))
    assert.equal(9, vc.signal.parse("kill"))
    assert.equal(10, vc.signal.parse("USR1"))
    assert.equal(10, vc.signal.parse("10"))
    assert.equal(0, vc.signal.parse("0")) -- a liveness check, as runc takes it
    assert.equal(34, vc.signal.parse("RTMIN"))
    assert.equal(36, vc.signal.parse("SIGRTMIN+2"))
  end)

  it("refuses unknown signals", function()
    for _, s in ipairs({ "BOGUS", "-1", "65", "15x", "", "SIG" }) do
      local ok, err, code = vc.signal.parse(s)
      assert.is_nil(ok, s)
      assert.equal(("unknown signal '%s'"):format(s), err)
      assert.equal("EINVAL", code)
    end
  end)

  it("names signals", function()
    assert.equal("TERM", vc.signal.name(15))
    assert.is_nil(vc.signal.name(1000))
  end)
end)
