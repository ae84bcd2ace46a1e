local vc = require("vc")
local run = require("spec.helpers.run")

local function base()
  return {
    ociVersion = "1.2.0",
    root = { path = "rootfs" },
    process = { args = { "sh" }, cwd = "/", env = { "PATH=/bin" }, user = { uid = 0, gid = 0 } },
  }
end

local function invalid(doc, want)
  local ok, err, code = vc.oci.validate(doc)
  assert.is_nil(ok)
  assert.equal("config.json: " .. want, err)
  assert.equal("EINVAL", code)
end

describe("vc.id.validate", function()
  it("accepts the ids engines make", function()
    for _, id in ipairs({ "a", "c1", "A.b-c_d+e", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      string.rep("x", 1024) }) do
      assert.is_true(vc.id.validate(id), id)
    end
  end)

  it("refuses hostile ids before they touch the disk", function()
    for _, id in ipairs({ "", "../x", "a/b", "..", ".hidden", "-x", "_x", "a b", "a\nb", "a\0b",
      string.rep("x", 1025), "x/../../etc" }) do
      local ok, err, code = vc.id.validate(id)
      assert.is_nil(ok, id)
      assert.matches("^invalid container id", err)
      assert.equal("EINVAL", code)
    end
  end)

  it("keeps state operations away from hostile ids", function()
    local ok, err = vc.state.load("/tmp", "../etc")
    assert.is_nil(ok)
    assert.matches("^invalid container id", err)
  end)
end)

describe("vc.oci.validate", function()
  it("accepts a minimal config and every 1.x version up to 1.3", function()
    for _, v in ipairs({ "1.0.0", "1.0.2", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0", "1.0.0-rc92" }) do
      local doc = base()
      doc.ociVersion = v
      assert.is_true(vc.oci.validate(doc), v)
    end
  end)

  it("refuses unsupported versions", function()
    local doc = base()
    doc.ociVersion = "2.0.0"
    invalid(doc, "ociVersion: unsupported version '2.0.0' (supported: 1.0.0 to 1.3.x)")
    doc.ociVersion = "1.4.0"
    invalid(doc, "ociVersion: unsupported version '1.4.0' (supported: 1.0.0 to 1.3.x)")
    doc.ociVersion = nil
    invalid(doc, "ociVersion: is required")
  end)

  it("ignores unknown properties", function()
    local doc = base()
    doc.somethingNew = { x = 1 }
    doc.process.futureField = true
    assert.is_true(vc.oci.validate(doc))
  end)

  it("names the hook field that is wrong", function()
    local doc = base()
    doc.hooks = { poststart = { { path = "/bin/true" }, { path = "relative/hook" } } }
    invalid(doc, "hooks.poststart[1].path: must be absolute")
    doc.hooks = { prestart = { { path = "/bin/true", timeout = 0 } } }
    invalid(doc, "hooks.prestart[0].timeout: must be greater than zero")
    doc.hooks = { createRuntime = { { path = "/bin/true", args = { "a", 3 } } } }
    invalid(doc, "hooks.createRuntime[0].args[1]: must be a string, got integer")
    doc.hooks = { poststop = { { path = "/bin/true", env = { "NOEQUALS" } } } }
    invalid(doc, "hooks.poststop[0].env[0]: must be of the form KEY=value")
    doc.hooks = { startContainer = { {} } }
    invalid(doc, "hooks.startContainer[0].path: is required")
    doc.hooks = { createContainer = "x" }
    invalid(doc, "hooks.createContainer: must be an array, got string")
  end)

  it("names process fields", function()
    local doc = base()
    doc.process.args = vc.json.array()
    invalid(doc, "process.args: must not be empty")
    doc = base()
    doc.process.cwd = "relative"
    invalid(doc, "process.cwd: must be absolute")
    doc = base()
    doc.process.user.uid = -1
    invalid(doc, "process.user.uid: must not be negative")
    doc = base()
    doc.process.user.uid = 1.5
    invalid(doc, "process.user.uid: must be an integer, got number")
    doc = base()
    doc.process.terminal = "yes"
    invalid(doc, "process.terminal: must be a boolean, got string")
    doc = base()
    doc.process.consoleSize = { height = 10 }
    invalid(doc, "process.consoleSize.width: is required")
    doc = base()
    doc.process.rlimits = { { type = "NOFILE", hard = 1, soft = 1 } }
    invalid(doc, "process.rlimits[0].type: unknown rlimit 'NOFILE'")
  end)

  it("names mounts, annotations, namespaces and resources fields", function()
    local doc = base()
    doc.mounts = { { destination = "/proc", type = "proc" }, { destination = "tmp", type = "tmpfs" } }
    invalid(doc, "mounts[1].destination: must be absolute")
    doc = base()
    doc.annotations = { a = "x", b = 1 }
    invalid(doc, "annotations.b: must be a string, got integer")
    doc = base()
    doc.linux = { namespaces = { { type = "pid" }, { type = "pid" } } }
    invalid(doc, "linux.namespaces[1].type: duplicate namespace type 'pid'")
    doc.linux = { namespaces = { { type = "bogus" } } }
    invalid(doc, "linux.namespaces[0].type: unknown namespace type 'bogus'")
    doc.linux = { namespaces = { { type = "network", path = "var/run/netns/x" } } }
    invalid(doc, "linux.namespaces[0].path: must be absolute")
    doc.linux = { resources = { memory = { limit = "1G" } } }
    invalid(doc, "linux.resources.memory.limit: must be an integer, got string")
    doc.linux = { resources = { cpu = { shares = -2 } } }
    invalid(doc, "linux.resources.cpu.shares: must not be negative")
    doc.linux = { resources = { memory = { limit = 268435456 }, cpu = { quota = 50000, period = 100000 } } }
    assert.is_true(vc.oci.validate(doc))
  end)

  it("validates a process.json for exec on its own", function()
    assert.is_true(vc.oci.validate_process({ args = { "ls" }, cwd = "/" }))
    local ok, err = vc.oci.validate_process({ args = { "ls" } }, "process.json")
    assert.is_nil(ok)
    assert.equal("process.json: process.cwd: is required", err)
  end)

  it("raises on misuse", function()
    assert.has_error(function() vc.oci.validate("x") end,
      "bad argument #1 to 'validate' (table expected, got string)")
  end)
end)

describe("vc.oci.load", function()
  local dir
  before_each(function() dir = run.tmpdir() end)
  after_each(function() run.rmrf(dir) end)

  it("parses a config.json into a table", function()
    run.write(dir .. "/config.json", vc.json.encode(base()))
    local doc = assert(vc.oci.load(dir .. "/config.json"))
    assert.same({ "sh" }, doc.process.args)
  end)

  it("reports invalid JSON and a missing file in one line", function()
    run.write(dir .. "/config.json", "{ not json")
    local ok, err, code = vc.oci.load(dir .. "/config.json")
    assert.is_nil(ok)
    assert.matches("^config.json: invalid JSON", err)
    assert.equal("EINVAL", code)
    ok, err, code = vc.oci.load(dir .. "/missing.json")
    assert.is_nil(ok)
    assert.equal("open '" .. dir .. "/missing.json': No such file or directory", err)
    assert.equal("ENOENT", code)
  end)

  it("refuses data after the document (issue 11)", function()
    run.write(dir .. "/config.json", vc.json.encode(base()) .. "\n  \n")
    assert.is_table(vc.oci.load(dir .. "/config.json")) -- trailing whitespace is fine
    run.write(dir .. "/config.json", vc.json.encode(base()) .. ' {"process": {}}')
    local ok, err, code = vc.oci.load(dir .. "/config.json")
    assert.is_nil(ok)
    assert.matches("^config.json: invalid JSON: data after the document at byte %d+$", err)
    assert.equal("EINVAL", code)
  end)

  it("refuses a FIFO, a device and an oversized file at once instead of blocking or reading on (issue 11)", function()
    assert(os.execute("mkfifo " .. run.q(dir .. "/fifo")))
    local ok, err = vc.oci.load(dir .. "/fifo")
    assert.is_nil(ok)
    assert.equal("fifo: not a regular file", err)
    ok, err = vc.oci.load("/dev/zero")
    assert.is_nil(ok)
    assert.equal("zero: not a regular file", err)
    local f = assert(io.open(dir .. "/config.json", "w"))
    f:write(vc.json.encode(base()), string.rep(" ", 4 * 1024 * 1024))
    f:close()
    local code
    ok, err, code = vc.oci.load(dir .. "/config.json")
    assert.is_nil(ok)
    assert.equal("config.json: larger than 4194304 bytes", err)
    assert.equal("EFBIG", code)
  end)

  it("accepts the default spec", function()
    local spec = vc.oci.default_spec()
    assert.is_true(vc.oci.validate(spec))
    assert.equal(vc.oci.version, spec.ociVersion)
  end)
end)

describe("vc.oci.container_type", function()
  it("treats no annotations as a sandbox", function()
    assert.equal("sandbox", vc.oci.container_type(nil))
    assert.equal("sandbox", vc.oci.container_type({ other = "x" }))
  end)

  it("reads containerd's CRI annotations", function()
    assert.equal("sandbox", vc.oci.container_type({ ["io.kubernetes.cri.container-type"] = "sandbox" }))
    local t, sid = vc.oci.container_type({ ["io.kubernetes.cri.container-type"] = "container",
      ["io.kubernetes.cri.sandbox-id"] = "pod1" })
    assert.equal("container", t)
    assert.equal("pod1", sid)
  end)

  it("reads CRI-O's annotations", function()
    assert.equal("sandbox", vc.oci.container_type({ ["io.kubernetes.cri-o.ContainerType"] = "sandbox" }))
    local t, sid = vc.oci.container_type({ ["io.kubernetes.cri-o.ContainerType"] = "container",
      ["io.kubernetes.cri-o.SandboxID"] = "pod2" })
    assert.equal("container", t)
    assert.equal("pod2", sid)
  end)

  it("refuses an unknown type and a container without a valid sandbox id", function()
    local ok, err, code = vc.oci.container_type({ ["io.kubernetes.cri.container-type"] = "vm" })
    assert.is_nil(ok)
    assert.equal("annotation io.kubernetes.cri.container-type: unknown container type 'vm'", err)
    assert.equal("EINVAL", code)
    ok, err = vc.oci.container_type({ ["io.kubernetes.cri-o.ContainerType"] = "container" })
    assert.is_nil(ok)
    assert.equal("annotation io.kubernetes.cri-o.SandboxID: required for a container of a pod", err)
    ok, err = vc.oci.container_type({ ["io.kubernetes.cri.container-type"] = "container",
      ["io.kubernetes.cri.sandbox-id"] = "../x" })
    assert.is_nil(ok)
    assert.matches("^annotation io.kubernetes.cri.sandbox%-id: invalid container id", err)
  end)
end)
