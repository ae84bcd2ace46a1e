local fakes = require("spec.helpers.fakes")
local policies = require("kata.policies")
local runner = require("kata.runner")
local run = require("spec.helpers.run")
local vc = require("vc")

local config = { runtime = { policy = "default", allowed_policies = { "default", "audit" }, policy_dir = "/nonexistent" } }

local function load(name) return assert(policies.load(name, "lua", config)) end

describe("example policies", function()
  it("audit wraps every command of the default policy and logs its outcome", function()
    local p = load("audit")
    local api = fakes.api()
    api.policy = p
    assert.is_true(runner.run(p, "create", fakes.ctx("create", { "c1" }), api))
    local ok, err = runner.run(p, "start", fakes.ctx("start", { "nosuch" }), api)
    assert.is_nil(ok)
    assert.equal("container does not exist", err)
    assert.same({ 'info: {"audit":"create","duration_ms":1000,"id":"c1","outcome":"ok"}',
      'info: {"audit":"start","duration_ms":500,"error":"container does not exist","id":"nosuch","outcome":"failed"}' },
      (function() local t = {} for _, l in ipairs(api.log.lines) do if l:match("audit") then t[#t + 1] = l end end return t end)())
  end)

  it("lenient-poststart keeps a container running when a poststart hook fails", function()
    local p = load("lenient-poststart")
    local api = fakes.api({ hooks = { poststart = { { path = "/h/poststart" } } }, fail = { ["hook poststart"] = "nope" } })
    api.policy = p
    assert.is_true(runner.run(p, "create", fakes.ctx("create", { "c1" }), api))
    assert.is_true(runner.run(p, "start", fakes.ctx("start", { "c1" }), api))
    assert.equal("running", api.world.states.c1.status)
  end)
end)

describe("kata.policies", function()
  it("chooses the configured policy, an allowlisted one, and refuses others", function()
    assert.equal("default", policies.choose(config, nil))
    assert.equal("audit", policies.choose(config, "audit"))
    local ok, err = policies.choose(config, "lenient-poststart")
    assert.is_nil(ok)
    assert.equal("policy 'lenient-poststart' is not in runtime.allowed_policies", err)
  end)

  it("refuses names that could be paths", function()
    for _, name in ipairs({ "../x", "/etc/passwd", "a.b", "" }) do
      local ok, err = policies.load(name, "lua", config)
      assert.is_nil(ok)
      assert.equal(("invalid policy name '%s'"):format(name), err)
    end
  end)

  it("reports a policy that extends a missing one", function()
    local dir = run.tmpdir("kata-pol")
    run.write(dir .. "/orphan.lua", "return { extends = 'nosuch' }")
    local ok, err = policies.load("orphan", "lua", { runtime = { policy_dir = dir } })
    assert.is_nil(ok)
    assert.equal("policy 'orphan': policy 'nosuch' not found", err)
    run.rmrf(dir)
  end)

  it("lets a pod pick an allowlisted policy by annotation (through kata-runtime)", function()
    local dir = run.tmpdir("kata-pol")
    run.write(dir .. "/conf.lua", "return { runtime = { allowed_policies = { 'default', 'audit' } } }")
    vc.fs.mkdir_p(dir .. "/bundle")
    run.write(dir .. "/bundle/config.json", vc.json.encode({ ociVersion = "1.2.0", root = { path = "missing-rootfs" },
      process = { args = { "true" }, cwd = "/" },
      annotations = { ["io.katacontainers.config.runtime.policy"] = "audit" } }))
    local status, _, err = run.runtime_cmd({ "--root", dir .. "/root", "--config", dir .. "/conf.lua", "--log",
      dir .. "/log", "create", "-b", dir .. "/bundle", "c1" })
    assert.equal(1, status)
    assert.equal("rootfs 'missing-rootfs' does not exist\n", err)
    local log = run.read(dir .. "/log")
    assert.matches('"audit":"create"', log, 1, true)
    assert.matches('"outcome":"failed"', log, 1, true)
    assert.matches('"error":"rootfs \'missing-rootfs\' does not exist"', log, 1, true)
    run.rmrf(dir)
  end)
end)
