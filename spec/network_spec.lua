-- Sandbox networking with real guests, entirely inside network namespaces the spec makes: namespace A
-- (the pod's) holds veths whose peers sit in namespace B with a TCP echo server (busybox nc). The container
-- reaches B through the mirrored interfaces, B reaches a server in the container, and after delete no tap
-- or filter remains while A's interfaces are as they were (a CNI DEL would still find them).
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")

local ok_env, why = world.available()

local function sh(cmd)
  local status, out, err = run.sh(cmd)
  assert(status == 0, cmd .. ": " .. err)
  return out
end

describe("sandbox networking #integration", function()
  local tmp, root, n, ns_a, ns_b, servers = nil, nil, 0, nil, nil, {}
  local rt = function(...) return world.rt(root, { ... }) end

  setup(function()
    if not ok_env then return end
    assert(vctest.proc.set_subreaper())
    tmp = run.tmpdir("kata-net")
  end)
  teardown(function()
    if ok_env then vctest.proc.set_subreaper(false) end
    if tmp then os.execute("umount -R " .. run.q(tmp) .. " 2>/dev/null"); run.rmrf(tmp) end
    if world.ROOTFS_TEMPLATE then run.rmrf(world.ROOTFS_TEMPLATE) end
  end)
  before_each(function()
    n = n + 1
    root = ("%s/root%d"):format(tmp, n)
    ns_a, ns_b = ("vc-net-%d-%d-a"):format(vc.proc.getpid(), n), ("vc-net-%d-%d-b"):format(vc.proc.getpid(), n)
    sh(("ip netns add %s && ip netns add %s && ip -n %s link set lo up && ip -n %s link set lo up"):format(ns_a, ns_b, ns_a, ns_b))
  end)
  after_each(function()
    if not ok_env then return end
    for _, id in ipairs(vc.state.list(root) or {}) do world.rt(root, { "delete", "--force", id }) end
    for _, pid in ipairs(servers) do vc.proc.kill(pid, 9) end
    servers = {}
    vctest.proc.reap()
    os.execute(("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null"):format(ns_a, ns_b))
    assert.same({}, world.leaks(root))
  end)

  if not ok_env then
    pending("integration specs skipped: " .. why)
    return
  end

  --- A veth pair: `name` in A with addrs, its peer in B with peer_addrs (CIDR strings, IPv6 without DAD).
  local function veth(name, addrs, peer_addrs, ns)
    ns = ns or ns_a
    local peer = "p" .. name
    sh(("ip -n %s link add %s type veth peer name %s netns %s"):format(ns, name, peer, ns_b))
    for _, a in ipairs(addrs) do sh(("ip -n %s addr add %s dev %s%s"):format(ns, a, name, a:find(":") and " nodad" or "")) end
    for _, a in ipairs(peer_addrs) do sh(("ip -n %s addr add %s dev %s%s"):format(ns_b, a, peer, a:find(":") and " nodad" or "")) end
    sh(("ip -n %s link set %s up && ip -n %s link set %s up"):format(ns, name, ns_b, peer))
  end

  --- An echo server in B on port (busybox nc, one cat per connection).
  local function echo_server(port)
    local pid = sh(("ip netns exec %s busybox nc -ll -p %d -e /bin/cat </dev/null >/dev/null 2>&1 & echo $!"):format(ns_b, port))
    servers[#servers + 1] = tonumber(pid)
  end

  local function bundle(args, edit)
    return world.bundle(("%s/b-%d"):format(tmp, n), args, function(c)
      for _, ns in ipairs(c.linux.namespaces) do if ns.type == "network" then ns.path = "/run/netns/" .. ns_a end end
      if edit then edit(c) end
    end)
  end

  --- bytes sent from the container to addr:port come back
  local function echoes(id, addr, port)
    local status, out, err = rt("exec", id, "sh", "-c", ("echo hello-%s | nc -w 10 %s %d"):format(port, addr, port))
    assert.equal(0, status, err)
    assert.equal(("hello-%s\n"):format(port), out)
  end

  --- what A looks like, minus taps and qdiscs: links with their addresses
  local function a_links() return sh(("ip -n %s -br addr show"):format(ns_a)) end
  local function no_runtime_traces()
    world.settle({ root }) -- the teardown delete leaves to the background removes them
    assert.is_nil(sh(("ip -n %s link show"):format(ns_a)):find("vctap", 1, true))
    assert.is_nil(sh(("ip netns exec %s tc qdisc show"):format(ns_a)):find("ingress", 1, true))
  end

  --- run a server in the container and reach it from B
  local function served_from_guest(id, addr)
    local status, _, err = rt("exec", "-d", id, "sh", "-c", "nc -ll -p 8080 -e /bin/echo from-guest")
    assert.equal(0, status, err)
    local got
    assert.truthy(world.wait_for(function()
      got = select(2, run.sh(("ip netns exec %s busybox nc -w 5 %s 8080 </dev/null"):format(ns_b, addr)))
      return got == "from-guest\n"
    end, 60), "server in the guest not reachable from the peer namespace: " .. tostring(got))
  end

  it("mirrors a veth: the container reaches the peer's echo server and the peer reaches the container", function()
    veth("eth0", { "10.99.0.1/24" }, { "10.99.0.2/24" })
    sh(("ip -n %s route add default via 10.99.0.2"):format(ns_a))
    echo_server(7777)
    local before = a_links()
    local b = bundle({ "sh", "-c", "while :; do sleep 1; done" })
    assert.equal(0, (world.rt(root, { "create", "-b", b, "c1" }, { stdout = b .. "/out" })))
    assert.equal(0, (rt("start", "c1")))
    echoes("c1", "10.99.0.2", 7777)
    local rs, routes, rerr = rt("exec", "c1", "sh", "-c", "ip route")
    assert.equal(0, rs, rerr)
    assert.matches("default via 10.99.0.2 dev eth0", routes)
    served_from_guest("c1", "10.99.0.1")
    local _, stats = rt("events", "--stats", "c1")
    local ev = vc.json.decode(stats)
    local eth0 = ev.data.network_interfaces[1]
    assert.is_table(eth0, stats)
    assert.equal("eth0", eth0.name)
    assert.is_true(eth0.rx_bytes > 0 and eth0.tx_bytes > 0 and eth0.rx_packets > 0)
    assert.equal(0, (rt("delete", "--force", "c1")))
    no_runtime_traces()
    assert.equal(before, a_links())
  end)

  it("mirrors two interfaces and IPv6 addresses", function()
    veth("eth0", { "10.99.0.1/24", "fd00:99::1/64" }, { "10.99.0.2/24", "fd00:99::2/64" })
    veth("eth1", { "10.98.0.1/24" }, { "10.98.0.2/24" })
    echo_server(7777)
    local before = a_links()
    local b = bundle({ "sh", "-c", "while :; do sleep 1; done" })
    assert.equal(0, (world.rt(root, { "create", "-b", b, "c1" }, { stdout = b .. "/out" })))
    assert.equal(0, (rt("start", "c1")))
    echoes("c1", "10.99.0.2", 7777)
    echoes("c1", "10.98.0.2", 7777)
    echoes("c1", "fd00:99::2", 7777)
    served_from_guest("c1", "fd00:99::1")
    assert.equal(0, (rt("delete", "--force", "c1")))
    no_runtime_traces()
    assert.equal(before, a_links())
  end)

  it("hot-plugs an interface a createRuntime hook adds", function()
    echo_server(7777)
    local hook = tmp .. "/add-veth-" .. n
    run.write(hook, table.concat({
      "#!/bin/sh",
      "set -e",
      ("ip link add eth0 type veth peer name peth0 netns %s"):format(ns_b),
      "ip addr add 10.99.0.1/24 dev eth0",
      "ip link set eth0 up",
      ("ip -n %s addr add 10.99.0.2/24 dev peth0"):format(ns_b),
      ("ip -n %s link set peth0 up"):format(ns_b),
      "",
    }, "\n"))
    sh("chmod 755 " .. run.q(hook))
    local b = bundle({ "sh", "-c", "while :; do sleep 1; done" }, function(c)
      c.hooks = { createRuntime = { { path = hook } } }
    end)
    local status, _, err = world.rt(root, { "create", "-b", b, "c1" }, { stdout = b .. "/out" })
    assert.equal(0, status, err)
    assert.equal(0, (rt("start", "c1")))
    echoes("c1", "10.99.0.2", 7777)
    assert.equal(0, (rt("delete", "--force", "c1")))
    no_runtime_traces()
    assert.matches("eth0@if%d+%s+UP%s+10%.99%.0%.1/24", a_links())
  end)

  it("hot-plugs an interface a startContainer hook adds, before the process starts", function()
    echo_server(7777)
    veth("eth0", { "10.99.0.1/24" }, { "10.99.0.2/24" })
    local hook = tmp .. "/add-veth-start-" .. n
    run.write(hook, table.concat({
      "#!/bin/sh",
      "set -e",
      ("ip link add eth1 type veth peer name peth1 netns %s"):format(ns_b),
      "ip addr add 10.98.0.1/24 dev eth1",
      "ip link set eth1 up",
      ("ip -n %s addr add 10.98.0.2/24 dev peth1"):format(ns_b),
      ("ip -n %s link set peth1 up"):format(ns_b),
      "",
    }, "\n"))
    sh("chmod 755 " .. run.q(hook))
    -- the container's first act needs eth1: it is there before the process runs
    local b = bundle({ "sh", "-c", "echo hello-start | nc -w 10 10.98.0.2 7777; sleep 1000" }, function(c)
      c.hooks = { startContainer = { { path = hook } } }
    end)
    local status, _, err = world.rt(root, { "create", "-b", b, "c1" }, { stdout = b .. "/out" })
    assert.equal(0, status, err)
    assert.equal(0, (rt("start", "c1")))
    assert.truthy(world.wait_for(function() return (run.read(b .. "/out") or ""):find("hello-start\n", 1, true) end, 60),
      run.read(b .. "/out"))
    echoes("c1", "10.99.0.2", 7777)
    assert.equal(0, (rt("delete", "--force", "c1")))
    no_runtime_traces()
  end)

  it("lets the policy leave an interface out and refuse a pod", function()
    veth("eth0", { "10.99.0.1/24" }, { "10.99.0.2/24" })
    veth("eth1", { "10.98.0.1/24" }, { "10.98.0.2/24" })
    local pdir = tmp .. "/policies-" .. n
    assert(vc.fs.mkdir_p(pdir))
    run.write(pdir .. "/netpick.lua", [[
local P = { name = "netpick", extends = "default" }
function P.network(ctx, api, phase, interfaces)
  if #interfaces > 2 then return nil, "at most 2 interfaces" end
  local keep = {}
  for _, k in ipairs(interfaces) do if k.name ~= "eth1" then keep[#keep + 1] = k end end
  return { model = "tcfilter", interfaces = keep, hotplug_ports = 0 }
end
return P
]])
    local conf = tmp .. "/conf-" .. n .. ".lua"
    run.write(conf, ("return { runtime = { policy = 'netpick', allowed_policies = { 'netpick' }, policy_dir = %q } }"):format(pdir))
    local b = bundle({ "sh", "-c", "ip -o link; sleep 1000" })
    local status, _, err = world.rt(root, { "--config", conf, "create", "-b", b, "c1" }, { stdout = b .. "/out" })
    assert.equal(0, status, err)
    assert.equal(0, (world.rt(root, { "--config", conf, "start", "c1" })))
    assert.truthy(world.wait_for(function() return (run.read(b .. "/out") or ""):find("eth0") end, 30))
    assert.is_nil((run.read(b .. "/out") or ""):find("eth1"))
    assert.equal(0, (world.rt(root, { "--config", conf, "delete", "--force", "c1" })))
    no_runtime_traces()

    veth("eth2", { "10.97.0.1/24" }, { "10.97.0.2/24" })
    local s2, _, e2 = world.rt(root, { "--config", conf, "create", "-b", b, "c2" })
    assert.equal(1, s2)
    assert.matches("at most 2 interfaces", e2)
    no_runtime_traces()
  end)
end)
