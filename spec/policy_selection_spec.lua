-- Safe selection (issue 10): which policy a pod may pick, which policy files are trusted, and that the
-- policy is pinned at create so that state, kill, delete and list work for a container whatever becomes of
-- its policy. Through the kata-runtime binary; no guest is needed.
local vc = require("vc")
local run = require("spec.helpers.run")
local policies = require("kata.policies")

local ANN = "io.katacontainers.config.runtime.policy"

describe("policy selection", function()
  local dir
  before_each(function()
    dir = run.tmpdir("kata-sel")
    assert(vc.fs.mkdir_p(dir .. "/policies", 493))
    assert(vc.fs.mkdir_p(dir .. "/bundle/rootfs", 493))
  end)
  after_each(function() run.rmrf(dir) end)

  local function conf(runtime)
    local parts = {}
    for k, v in pairs(runtime) do
      if type(v) == "table" then
        local items = {}
        for _, x in ipairs(v) do items[#items + 1] = ("%q"):format(x) end
        v = "{ " .. table.concat(items, ", ") .. " }"
      else
        v = ("%q"):format(v)
      end
      parts[#parts + 1] = k .. " = " .. v
    end
    run.write(dir .. "/conf.lua", ("return { runtime = { policy_dir = %q, %s } }"):format(dir .. "/policies",
      table.concat(parts, ", ")))
  end
  local function bundle(annotations)
    run.write(dir .. "/bundle/config.json", vc.json.encode({ ociVersion = "1.2.0", root = { path = "no-rootfs" },
      process = { args = { "true" }, cwd = "/" }, annotations = annotations }))
  end
  local function rt(...)
    local args = { "--root", dir .. "/root", "--config", dir .. "/conf.lua", "--log", dir .. "/log", ... }
    return run.runtime_cmd(args)
  end
  local function nothing_made()
    assert.same({}, vc.state.list(dir .. "/root") or {})
    assert.is_nil(vc.fs.stat(dir .. "/root/.sandbox/" .. vc.id.digest("c1")))
  end

  it("lets a pod pick neither an unlisted policy nor 'default' once another is configured", function()
    conf({ policy = "lenient-poststart" })
    for _, asked in ipairs({ "default", "audit" }) do
      bundle({ [ANN] = asked })
      local status, _, err = rt("create", "-b", dir .. "/bundle", "c1")
      assert.equal(1, status)
      assert.equal(("policy '%s' is not in runtime.allowed_policies\n"):format(asked), err)
      nothing_made()
    end
    -- the configured policy itself, and one the operator lists, may be picked
    conf({ policy = "lenient-poststart", allowed_policies = { "audit" } })
    for _, asked in ipairs({ "lenient-poststart", "audit" }) do
      bundle({ [ANN] = asked })
      local status, _, err = rt("create", "-b", dir .. "/bundle", "c1")
      assert.equal(1, status)
      assert.equal("rootfs 'no-rootfs' does not exist\n", err) -- got past selection
    end
  end)

  it("refuses configuration annotations that runtime.allowed_annotations does not list", function()
    conf({ allowed_annotations = {} })
    bundle({ [ANN] = "default" })
    local status, _, err = rt("create", "-b", dir .. "/bundle", "c1")
    assert.equal(1, status)
    assert.equal(("annotation '%s' is not in runtime.allowed_annotations\n"):format(ANN), err)
    bundle({ ["io.katacontainers.config.hypervisor.memory"] = "4096" })
    status, _, err = rt("create", "-b", dir .. "/bundle", "c1")
    assert.equal(1, status)
    assert.equal("annotation 'io.katacontainers.config.hypervisor.memory' is not in runtime.allowed_annotations\n", err)
    nothing_made()
  end)

  describe("policy files", function()
    local config
    before_each(function()
      config = { runtime = { policy_dir = dir .. "/policies" } }
      run.write(dir .. "/policies/mine.lua", "return { extends = 'default' }")
    end)

    it("loads a root-owned file in a root-owned directory nobody else can write", function()
      assert.is_truthy(policies.load("mine", "lua", config))
    end)

    for _, case in ipairs({
      { "a group-writable file", "chmod 664 %s/policies/mine.lua", "'%s/policies/mine.lua' is writable by group or others (mode 0664)" },
      { "a world-writable file", "chmod 646 %s/policies/mine.lua", "'%s/policies/mine.lua' is writable by group or others (mode 0646)" },
      { "a file owned by another user", "chown 1234 %s/policies/mine.lua", "'%s/policies/mine.lua' is owned by uid 1234, not root" },
      { "a group-writable directory", "chmod 775 %s/policies", "'%s/policies' is writable by group or others (mode 0775)" },
      { "a directory owned by another user", "chown 1234 %s/policies", "'%s/policies' is owned by uid 1234, not root" },
    }) do
      it("refuses " .. case[1], function()
        assert(os.execute(case[2]:format(run.q(dir))))
        local ok, err = policies.load("mine", "lua", config)
        assert.is_nil(ok)
        assert.equal(("policy 'mine': refusing an unsafe policy file: " .. case[3]):format(dir), err)
      end)
    end

    it("refuses an operator file with the name of a shipped policy instead of shadowing it", function()
      run.write(dir .. "/policies/audit.lua", "return {}")
      local ok, err = policies.load("audit", "lua", config)
      assert.is_nil(ok)
      assert.equal(("policy 'audit': '%s/policies/audit.lua' has the name of a policy the runtime ships: rename it"):format(dir), err)
      -- also when it is only the base of another
      run.write(dir .. "/policies/mine.lua", "return { extends = 'audit' }")
      ok, err = policies.load("mine", "lua", config)
      assert.is_nil(ok)
      assert.matches("has the name of a policy the runtime ships", err, 1, true)
    end)

    it("names the unsafe file through kata-runtime and makes nothing", function()
      conf({ policy = "mine" })
      assert(os.execute("chmod 666 " .. run.q(dir .. "/policies/mine.lua")))
      bundle(nil)
      local status, _, err = rt("create", "-b", dir .. "/bundle", "c1")
      assert.equal(1, status)
      assert.equal(("policy 'mine': refusing an unsafe policy file: '%s/policies/mine.lua' is writable by group or others (mode 0666)\n"):format(dir), err)
      nothing_made()
    end)
  end)

  describe("a container whose policy is gone, broken or disallowed", function()
    -- A record as create leaves it, for a container whose shim and VM have gone (so no guest is needed).
    local function record(id, policy)
      assert(vc.state.save(dir .. "/root", id, {
        ociVersion = "1.2.0", id = id, status = "created", pid = 99999999, bundle = dir .. "/bundle",
        runtime = { type = "sandbox", sandbox_id = id, policy = policy, policy_digest = "0123456789abcdef",
          created = "2026-01-01T00:00:00Z", rootfs = dir .. "/bundle/rootfs", hooks = {},
          shim_pid = 99999999, shim_start_time = 1 },
      }))
    end

    for _, case in ipairs({
      { "removed", function() os.remove(dir .. "/policies/mine.lua") end, "policy 'mine' not found" },
      { "broken", function() run.write(dir .. "/policies/mine.lua", "return {") end, "policy 'mine': " },
      { "disallowed", function() conf({ policy = "default" }) end, "policy 'mine' of container 'c1' is no longer allowed" },
    }) do
      it(("still answers state, list, kill and delete --force when it was %s, saying so in the log"):format(case[1]), function()
        run.write(dir .. "/policies/mine.lua", "return { extends = 'default' }")
        conf({ policy = "mine" })
        record("c1", "mine")
        case[2]()
        local status, out, err = rt("state", "c1")
        assert.equal(0, status, err)
        assert.equal("stopped", vc.json.decode(out).status)
        status, out, err = rt("list", "-q")
        assert.equal(0, status, err)
        assert.equal("c1\n", out)
        status, _, err = rt("kill", "--all", "c1", "KILL")
        assert.equal(0, status, err)
        status, _, err = rt("delete", "--force", "c1")
        assert.equal(0, status, err)
        assert.same({}, vc.state.list(dir .. "/root"))
        local log = run.read(dir .. "/log")
        assert.matches(case[3], log, 1, true)
        assert.matches("delete uses the runtime's own default policy", log, 1, true)
        -- other commands do not pretend: they fail with the reason
        record("c2", "mine")
        if case[1] == "disallowed" then
          status, _, err = rt("start", "c2")
          assert.equal(1, status)
          assert.equal("policy 'mine' of container 'c2' is no longer allowed\n", err)
        end
        assert.equal(0, (rt("delete", "--force", "c2")))
      end)
    end

    it("pins the policy's name and digest in the state at create", function()
      local fakes = require("spec.helpers.fakes")
      local runner = require("kata.runner")
      local policy = assert(policies.load("audit", "lua", { runtime = {} }))
      local _, chain = policies.load("audit", "lua", { runtime = {} })
      local digest = policies.digest(chain)
      assert.matches("^%x+$", digest)
      local api = fakes.api()
      api.policy = policy
      local ctx = fakes.ctx("create", { "c1" })
      ctx.policy, ctx.policy_digest = "audit", digest
      assert.is_true(runner.run(policy, "create", ctx, api))
      assert.equal("audit", api.world.states.c1.runtime.policy)
      assert.equal(digest, api.world.states.c1.runtime.policy_digest)
      -- a change to any file of the chain changes the digest
      local copy = run.tmpdir("kata-dig")
      run.write(copy .. "/x.lua", "return {}")
      local d1 = policies.digest({ { name = "x", path = copy .. "/x.lua" } })
      run.write(copy .. "/x.lua", "return { }")
      assert.are_not.equal(d1, policies.digest({ { name = "x", path = copy .. "/x.lua" } }))
      run.rmrf(copy)
    end)
  end)
end)
