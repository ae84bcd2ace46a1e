-- The default policy's network step and the networking mechanism (kata/network.lua) against fakes: what
-- is mirrored when, what an operator's step can decide, and that teardown and rollback leave no tap.
local fakes = require("spec.helpers.fakes")
local loader = require("kata.loader")
local runner = require("kata.runner")

local policy = assert(loader.load_file("lua/kata/policy/default.lua", "default"))
local NETNS = "/run/kata/.netns/d-c1"

local function run(api, cmd, args, options)
  api.policy = api.policy or policy
  return runner.run(api.policy, cmd, fakes.ctx(cmd, args, options), api)
end

local function iface(name, mac)
  return { name = name, mac = mac, mtu = 1500, kind = "veth",
    addresses = { { family = "inet", address = "10.0.0.2", prefixlen = 24 },
      { family = "inet6", address = "fe80::1", prefixlen = 64 } },
    routes = { { family = "inet", destination = "0.0.0.0", prefixlen = 0, gateway = "10.0.0.1" } } }
end

local function launched(api)
  local _, sbx = next(api.world.sandboxes)
  return sbx.cfg
end

local function find(calls, pattern)
  for i, c in ipairs(calls) do if c:match(pattern) then return i end end
end

--- api whose sandbox namespace offers ifs; agent calls are recorded with their params
local function api_with(ifs, opts)
  local api = fakes.api(opts)
  api.world.interfaces[NETNS] = ifs
  return api
end

local function extend(fn)
  local p = {}
  for k, v in pairs(policy) do p[k] = v end
  p.network = fn
  return p
end

describe("network step", function()
  it("mirrors every interface before the VM boots and gives the VM their NICs", function()
    local api = api_with({ iface("eth0", "02:00:00:00:00:01"), iface("eth1", "02:00:00:00:00:02") })
    assert.is_true(run(api, "create", { "c1" }))
    local launch = find(api.calls, "^sandbox.launch")
    assert.truthy(find(api.calls, "^net.mirror eth0$") < launch)
    assert.truthy(find(api.calls, "^net.mirror eth1$") < launch)
    local cfg = launched(api)
    assert.same({ { tap = "vctapeth0", mac = "02:00:00:00:00:01" }, { tap = "vctapeth1", mac = "02:00:00:00:00:02" } }, cfg.nics)
    assert.equal(2, cfg.hotplug_ports)
    -- the guest side is configured before the container is created
    assert.truthy(find(api.calls, "^agent update_interface") < find(api.calls, "^agent create_container"))
    local st = api.world.states.c1
    assert.equal(2, #st.runtime.network.mirrors)
    -- link-local IPv6 stays out: the guest makes its own
    assert.same({ { family = "inet", address = "10.0.0.2", prefixlen = 24 } }, st.runtime.network.mirrors[1].addresses)
  end)

  it("boots without NICs when the namespace has no interfaces", function()
    local api = api_with({})
    assert.is_true(run(api, "create", { "c1" }))
    assert.is_nil(launched(api).nics)
    assert.is_nil(find(api.calls, "^net.mirror"))
    assert.is_nil(find(api.calls, "^agent update_interface"))
  end)

  it("removes every tap at delete, and the namespace it created", function()
    local api = api_with({ iface("eth0", "02:00:00:00:00:01") })
    assert.is_true(run(api, "create", { "c1" }))
    assert.is_true(run(api, "delete", { "c1" }, { force = true }))
    assert.truthy(find(api.calls, "^net.unmirror eth0$") < find(api.calls, "^netns.delete"))
    assert.same({}, fakes.leftovers(api))
  end)

  it("rolls back the mirrors when the VM does not boot", function()
    local api = api_with({ iface("eth0", "02:00:00:00:00:01") }, { fail = { ["sandbox.launch"] = "qemu exited" } })
    assert.is_nil(run(api, "create", { "c1" }))
    assert.truthy(find(api.calls, "^net.unmirror eth0$"))
    assert.same({}, fakes.leftovers(api))
  end)

  it("hot-plugs an interface a create-time hook added, after the hooks", function()
    local api = api_with({}, { hooks = { createRuntime = { { path = "/h/cni" } } } })
    local run_all = api.hook.run_all
    api.hook.run_all = function(hooks, o)
      api.world.interfaces[NETNS] = { iface("eth0", "02:00:00:00:00:01") }
      return run_all(hooks, o)
    end
    assert.is_true(run(api, "create", { "c1" }))
    local hook = find(api.calls, "^hook createRuntime")
    assert.truthy(find(api.calls, "^net.mirror eth0$") > hook)
    assert.truthy(find(api.calls, "^agent sup.qmp") > hook)
    assert.truthy(find(api.calls, "^agent update_interface") > hook)
    local m = api.world.states.c1.runtime.network.mirrors[1]
    assert.equal(0, m.plugged) -- the first free root port
    assert.is_true(m.configured)
  end)

  it("refuses a hot-plug when the policy kept no port free, and leaves no tap", function()
    local api = api_with({}, { hooks = { createRuntime = { { path = "/h/cni" } } } })
    api.policy = extend(function(ctx, a, phase, ifs) return { interfaces = ifs, hotplug_ports = 0 } end)
    local run_all = api.hook.run_all
    api.hook.run_all = function(hooks, o)
      api.world.interfaces[NETNS] = { iface("eth0", "02:00:00:00:00:01") }
      return run_all(hooks, o)
    end
    local ok, err = run(api, "create", { "c1" })
    assert.is_nil(ok)
    assert.matches("no free hotplug port for 'eth0'", err)
    assert.same({}, fakes.leftovers(api))
  end)

  it("lets an operator's step leave an interface out or refuse the pod", function()
    local api = api_with({ iface("eth0", "02:00:00:00:00:01"), iface("eth1", "02:00:00:00:00:02") })
    api.policy = extend(function(ctx, a, phase, ifs)
      local keep = {}
      for _, k in ipairs(ifs) do if k.name ~= "eth1" then keep[#keep + 1] = k end end
      return { interfaces = keep }
    end)
    assert.is_true(run(api, "create", { "c1" }))
    assert.truthy(find(api.calls, "^net.mirror eth0$"))
    assert.is_nil(find(api.calls, "^net.mirror eth1$"))

    local api2 = api_with({ iface("eth0", "02:00:00:00:00:01"), iface("eth1", "02:00:00:00:00:02") })
    api2.policy = extend(function(ctx, a, phase, ifs)
      if #ifs > 1 then return nil, "at most 1 interface" end
      return { interfaces = ifs }
    end)
    local ok, err = run(api2, "create", { "c1" })
    assert.is_nil(ok)
    assert.equal("network: at most 1 interface", err)
    assert.same({}, fakes.leftovers(api2))
  end)

  it("mirrors nothing with the model 'none' and refuses an unknown model or interface", function()
    local api = api_with({ iface("eth0", "02:00:00:00:00:01") })
    api.policy = extend(function(ctx, a, phase, ifs) return { model = "none", interfaces = ifs } end)
    assert.is_true(run(api, "create", { "c1" }))
    assert.is_nil(find(api.calls, "^net.mirror"))

    local api2 = api_with({ iface("eth0", "02:00:00:00:00:01") })
    api2.policy = extend(function() return { model = "macvtap" } end)
    local ok, err = run(api2, "create", { "c1" })
    assert.is_nil(ok)
    assert.equal("network: model 'macvtap' is not supported (tcfilter, none)", err)

    local api3 = api_with({ iface("eth0", "02:00:00:00:00:01") })
    api3.policy = extend(function() return { interfaces = { "eth9" } } end)
    ok, err = run(api3, "create", { "c1" })
    assert.is_nil(ok)
    assert.equal("network: interface 'eth9' is not in the sandbox's namespace", err)
    assert.same({}, fakes.leftovers(api3))
  end)

  it("retries the guest configuration while a hot-plugged NIC probes", function()
    local api = api_with({})
    local st = { id = "c1", status = "creating", runtime = { network = { model = "tcfilter", hotplug_ports = 1, mirrors = { { link = "eth0",
      tap = "vctap3", mac = "02:00:00:00:00:01", mtu = 1500, addresses = {}, routes = {}, plugged = 0 } } } } }
    local tries = 0
    local sb = { update_interface = function(self, iface)
      tries = tries + 1
      if tries < 3 then return nil, "update_interface: no interface with address 02:00:00:00:00:01", "ENODEV" end
      return { name = "eth0", index = 2 }
    end }
    api.network.configure(st, sb, 30)
    assert.equal(3, tries)
    assert.is_true(st.runtime.network.mirrors[1].configured)
  end)
end)
