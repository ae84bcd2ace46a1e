-- The shipped example policies on fakes: each one's decision, and that nothing is left behind.
local fakes = require("spec.helpers.fakes")
local policies = require("kata.policies")
local runner = require("kata.runner")

local function load(name) return assert(policies.load(name, "lua", { runtime = {} })) end

local function run(p, api, cmd, args, options)
  api.policy = p
  local ctx = fakes.ctx(cmd, args, options)
  ctx.policy = p.name
  return runner.run(p, cmd, ctx, api)
end

local function index_of(calls, pattern)
  for i, c in ipairs(calls) do if c:match(pattern) then return i end end
end

describe("strict", function()
  local p = load("strict")
  local NS = { { type = "pid" }, { type = "ipc" }, { type = "uts" }, { type = "mount" }, { type = "network" } }
  local function config(edit)
    local c = { ociVersion = "1.2.0", root = { path = "rootfs" }, process = { args = { "sh" }, cwd = "/" },
      linux = { namespaces = NS } }
    edit(c)
    return c
  end
  for _, case in ipairs({
    { "CAP_SYS_ADMIN", function(c) c.process.capabilities = { bounding = { "CAP_CHOWN", "CAP_SYS_ADMIN" } } end,
      "strict: process.capabilities.bounding: CAP_SYS_ADMIN is refused" },
    { "a bind of /", function(c) c.mounts = { { destination = "/host", type = "bind", source = "/", options = { "rbind" } } } end,
      "strict: mounts[0]: binding '/' from the host is refused" },
    { "the docker socket", function(c) c.mounts = { { destination = "/d.sock", type = "bind", source = "/var/run/docker.sock" } } end,
      "strict: mounts[0]: binding '/var/run/docker.sock' from the host is refused" },
    { "the host's network namespace", function(c) c.linux.namespaces = { NS[1], NS[2], NS[3], NS[4] } end,
      "strict: linux.namespaces: the host's network namespace is refused" },
  }) do
    it("refuses " .. case[1] .. " before anything is made", function()
      local api = fakes.api({ config = config(case[2]) })
      local ok, err = run(p, api, "create", { "c1" })
      assert.is_nil(ok)
      assert.equal(case[3], err)
      assert.is_nil(index_of(api.calls, "^lock"))
      assert.same({}, fakes.leftovers(api))
    end)
  end

  it("creates an unprivileged container", function()
    local api = fakes.api({ config = config(function() end), host_files = { ["/srv"] = "directory" } })
    assert.is_true(run(p, api, "create", { "c1" }))
  end)
end)

describe("kata-shimv2", function()
  it("only warns when a poststart hook fails: the container keeps running", function()
    local p = load("kata-shimv2")
    local api = fakes.api({ hooks = { poststart = { { path = "/h/post" } } }, fail = { ["hook poststart"] = "nope" } })
    assert.is_true(run(p, api, "create", { "c1" }))
    assert.is_true(run(p, api, "start", { "c1" }))
    assert.equal("running", api.world.states.c1.status)
    assert.is_nil(next(api.world.signals))
    assert.is_truthy(index_of(api.log.lines, "^warn: error running poststart hook #0: .*, ignoring$"))
  end)
end)

describe("audit", function()
  it("writes one JSON line with duration and outcome for every command, state, ps and events included", function()
    local p = load("audit")
    local api = fakes.api({ decode = function() return nil end })
    api.json.encode = function(t) return ("audit=%s id=%s outcome=%s"):format(t.audit, t.id, t.outcome) .. (t.duration_ms and " ms" or "") end
    assert.is_true(run(p, api, "create", { "c1" }))
    assert.is_true(run(p, api, "start", { "c1" }))
    assert.is_true(run(p, api, "state", { "c1" }))
    assert.is_true(run(p, api, "ps", { "c1" }))
    assert.is_true(run(p, api, "events", { "c1" }, { stats = true }))
    assert.is_nil(run(p, api, "exec", { "c1", "sh" })) -- foreground: the fakes cannot exec the shim
    assert.is_nil(run(p, api, "kill", { "nosuch" }))
    local lines = {}
    for _, l in ipairs(api.log.lines) do if l:match("^info: audit=") then lines[#lines + 1] = l:sub(7) end end
    assert.same({ "audit=create id=c1 outcome=ok ms", "audit=start id=c1 outcome=ok ms", "audit=state id=c1 outcome=ok ms",
      "audit=ps id=c1 outcome=ok ms", "audit=events id=c1 outcome=ok ms", "audit=exec id=c1 outcome=handed over ms",
      "audit=exec id=c1 outcome=failed ms", "audit=kill id=nosuch outcome=failed ms" }, lines)
  end)
end)

describe("ready-check", function()
  local p = load("ready-check")
  local settings = { command = { "test", "-f", "/ready" }, timeout = 5, interval = 1 }

  it("returns from start once the readiness command succeeds", function()
    local n = 0
    local api = fakes.api({ settings = { command = settings.command, timeout = 60 },
      exec_status = function() n = n + 1; return n < 3 and 1 or 0 end })
    assert.is_true(run(p, api, "create", { "c1" }))
    assert.is_true(run(p, api, "start", { "c1" }))
    assert.equal(3, n)
    assert.equal("running", api.world.states.c1.status)
  end)

  it("kills the container and fails start when the command never succeeds in time", function()
    local api = fakes.api({ settings = settings, exec_status = 1 })
    assert.is_true(run(p, api, "create", { "c1" }))
    local ok, err = run(p, api, "start", { "c1" })
    assert.is_nil(ok)
    assert.equal("ready-check: 'test -f /ready' did not succeed within 5 s (exit status 1): the container was killed", err)
    assert.equal(9, api.world.signals[#api.world.signals].signal)
    assert.same({}, api.world.locks)
  end)
end)

describe("boot-retry", function()
  local p = load("boot-retry")

  it("boots again with the configured kernel and memory after a failed boot", function()
    local api = fakes.api({ settings = { kernel = "/k2", memory_mib = 512 } })
    local launch = api.sandbox.launch
    local tries = {}
    api.sandbox.launch = function(vm)
      tries[#tries + 1] = vm.kernel .. " " .. vm.memory_mib
      if #tries == 1 then return nil, "agent did not answer within 60 s", "ETIMEDOUT" end
      return launch(vm)
    end
    assert.is_true(run(p, api, "create", { "c1" }))
    assert.same({ "/k 256", "/k2 512" }, tries)
  end)

  it("fails with both errors and leaves nothing when the retry fails too", function()
    local api = fakes.api({ settings = { kernel = "/k2" } })
    local n = 0
    api.sandbox.launch = function() n = n + 1; return nil, "boot " .. n .. " failed", "EIO" end
    local ok, err = run(p, api, "create", { "c1" })
    assert.is_nil(ok)
    assert.equal("launch sandbox: boot 1 failed; retry: boot 2 failed", err)
    assert.same({}, fakes.leftovers(api))
  end)
end)

describe("poststart-first (an operator policy that reorders start)", function()
  local p = load("poststart-first")

  it("runs poststart hooks before the process is released, in under 40 lines", function()
    local api = fakes.api({ hooks = { poststart = { { path = "/h/post" } }, startContainer = { { path = "/h/sc" } } } })
    assert.is_true(run(p, api, "create", { "c1" }))
    assert.is_true(run(p, api, "start", { "c1" }))
    local post, start = index_of(api.calls, "^hook poststart"), index_of(api.calls, "^agent start_container")
    assert.is_true(post < start)
    local n = 0
    for _ in io.lines("lua/policies/poststart-first.lua") do n = n + 1 end
    assert.is_true(n < 40)
  end)

  it("leaves the container created when a poststart hook fails", function()
    local api = fakes.api({ hooks = { poststart = { { path = "/h/post" } } }, fail = { ["hook poststart"] = "no" } })
    assert.is_true(run(p, api, "create", { "c1" }))
    local ok, err = run(p, api, "start", { "c1" })
    assert.is_nil(ok)
    assert.equal("error running poststart hook #0: exit status 1, stderr: no", err)
    assert.equal("created", api.world.states.c1.status)
    assert.is_nil(index_of(api.calls, "^agent start_container"))
    assert.same({}, api.world.locks)
  end)
end)

describe("kata.testing", function()
  it("runs a policy as production does: read-only api, least privilege, budget", function()
    local p = assert(require("kata.loader").load_string([[
      local M = { name = "nosy", extends = "default" }
      function M.validate(ctx, api, config)
        local ok, err = api.fs.atomic_write("/etc/motd", "hi", 420)
        if not ok then error({ msg = err }, 0) end
        return true
      end
      function M.state(ctx, api) api.log = nil end
      function M.list(ctx, api) local s = ("a"):rep(4000) return s:find(".-.-.-.-x") end
      return M]], "nosy"))
    p = require("kata.loader").extend(p, load("default"))
    local api = fakes.api()
    local ok, err = fakes.run(p, api, fakes.ctx("create", { "c1" }))
    assert.is_nil(ok)
    assert.equal("'/etc/motd': a policy may write only under --root and the bundle", err)
    assert.same({}, fakes.leftovers(api))
    ok, err = fakes.run(p, api, fakes.ctx("state", { "c1" }))
    assert.is_nil(ok)
    assert.matches("attempt to modify read%-only table 'api'", err)
    ok, err = fakes.run(p, api, fakes.ctx("list"), { budget = 2000000 })
    assert.is_nil(ok)
    assert.equal("nosy.list: script exceeded its instruction budget", err)
  end)
end)
