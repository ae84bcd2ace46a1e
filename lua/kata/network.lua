--- Mechanism: sandbox networking, how the interfaces the policy's `network` step picked reach the guest.
---
--- Each picked interface of the sandbox's network namespace is mirrored (api.net.mirror: a tap beside it,
--- tc redirects both ways), gets a virtio-net device on that tap -- on the QEMU command line when the VM
--- is not running yet, hot-plugged over QMP (netdev_add + device_add on a free PCIe root port) when it
--- is -- and the agent gives the guest NIC the interface's name, MTU, addresses and routes
--- (update_interface). What was made is recorded in the sandbox state (runtime.network) so that teardown
--- removes exactly that; each mirror's undo goes on the command's undo list. docs/networking.md.
local runner = require("kata.runner")

local M = {}

M.MODELS = { tcfilter = true, none = true }
M.TIMEOUT = 30 -- seconds for one QMP or agent call, and for a hot-plugged NIC to show up in the guest

local fail = runner.fail
local must = runner.must

-- IPv6 link-local addresses and routes (fe80::/10) stay out: the guest makes its own from the same MAC.
local function global_only(list)
  local out = {}
  for _, a in ipairs(list or {}) do
    local addr = a.address or a.destination or ""
    if not (a.family == "inet6" and addr:lower():match("^fe[89ab]")) then out[#out + 1] = a end
  end
  return out
end

--- Check what a policy's network step returned: { model =, interfaces = { link | name, ... }, hotplug_ports = }.
---@return string model, table picked links, integer ports
function M.check_decision(d, offered)
  if type(d) ~= "table" then fail("network: the policy's decision is not a table") end
  local model = d.model or "tcfilter"
  if not M.MODELS[model] then fail(("network: model '%s' is not supported (tcfilter, none)"):format(tostring(model))) end
  local names = {}
  for _, k in ipairs(offered) do names[k.name] = k end
  local picked = {}
  for _, k in ipairs(d.interfaces or {}) do
    local name = type(k) == "table" and k.name or k
    if not names[name] then fail(("network: interface '%s' is not in the sandbox's namespace"):format(tostring(name))) end
    picked[#picked + 1] = names[name]
  end
  if model == "none" then picked = {} end
  local ports = d.hotplug_ports or 0
  if math.type(ports) ~= "integer" or ports < 0 or ports > 8 then fail("network: hotplug_ports must be within 0..8") end
  return model, picked, ports
end

function M.bind(api, undo)
  local N = {}

  --- The interfaces of the sandbox's namespace not mirrored yet (no loopback, no taps of ours), or nil
  --- when st is not a sandbox with a namespace.
  function N.offered(st)
    local rt = st.runtime
    if rt.type ~= "sandbox" or not rt.netns then return nil end
    local ifs, err = api.net.interfaces(rt.netns)
    if not ifs then fail("network interfaces of '" .. rt.netns .. "': " .. tostring(err)) end
    local known = {}
    for _, m in ipairs(rt.network and rt.network.mirrors or {}) do known[m.link] = true end
    local out = {}
    for _, k in ipairs(ifs) do if not known[k.name] then out[#out + 1] = k end end
    return out
  end

  local function save(st) must("save state", api.state.save(st.id, st)) end

  --- Hot-plug one mirror on the first free root port.
  local function hotplug(sb, net, m)
    local used = 0
    for _, o in ipairs(net.mirrors) do if type(o.plugged) == "number" then used = used + 1 end end
    if used >= (net.hotplug_ports or 0) then
      fail(("network: no free hotplug port for '%s' (hotplug_ports = %d)"):format(m.link, net.hotplug_ports or 0))
    end
    local id = "net-" .. m.tap
    must("network: netdev_add " .. m.tap, api.agent.qmp(sb, "netdev_add",
      { type = "tap", id = id, ifname = m.tap, script = "no", downscript = "no", vhost = false }))
    local ok, err = api.agent.qmp(sb, "device_add",
      { driver = "virtio-net-pci", netdev = id, id = "nic-" .. m.tap, mac = m.mac, bus = "vc-rp" .. used, romfile = "" })
    if not ok then
      api.agent.qmp(sb, "netdev_del", { id = id })
      fail(("network: device_add '%s': %s"):format(m.tap, tostring(err)))
    end
    m.plugged = used
  end

  --- Give every plugged NIC not configured yet its name, MTU, addresses and routes in the guest. A
  --- hot-plugged NIC needs a moment to probe: ENODEV is retried until timeout seconds have passed.
  function N.configure(st, sb, timeout)
    local net = st.runtime.network
    for _, m in ipairs(net and net.mirrors or {}) do
      if m.plugged and not m.configured then
        local deadline = api.clock.monotonic() + (timeout or M.TIMEOUT)
        local params = { name = m.link, mac = m.mac, mtu = m.mtu,
          addresses = api.json.array(m.addresses), routes = api.json.array(m.routes) }
        while true do
          local res, err, code = api.agent.update_interface(sb, params)
          if res then break end
          if code ~= "ENODEV" or api.clock.monotonic() >= deadline then
            fail(("network: configure '%s' in the guest: %s"):format(m.link, tostring(err)))
          end
          api.clock.sleep(0.1)
        end
        m.configured = true
        save(st)
      end
    end
  end

  --- Carry out a network decision (from the policy's step) for `offered`. Phase "boot": before the launch,
  --- the NICs go into vm (vm.nics, vm.hotplug_ports). Later phases: hot-plugged into the running VM (sb)
  --- and configured in the guest.
  function N.apply(st, phase, decision, offered, vm, sb)
    local rt = st.runtime
    local model, picked, ports = M.check_decision(decision, offered)
    rt.network = rt.network or { model = model, hotplug_ports = ports, mirrors = {} }
    if phase == "boot" then
      rt.network.model, rt.network.hotplug_ports = model, ports
      vm.hotplug_ports = ports
    end
    if rt.network.model == "none" or #picked == 0 then return end
    api.log.info("network (%s): mirroring %d interface(s)", phase, #picked)
    for _, k in ipairs(picked) do
      local m, err = api.net.mirror(rt.netns, k.name)
      if not m then fail(("network: mirror '%s': %s"):format(k.name, tostring(err))) end
      m.mac, m.addresses, m.routes = k.mac, global_only(k.addresses), global_only(k.routes)
      rt.network.mirrors[#rt.network.mirrors + 1] = m
      local netns = rt.netns
      undo.push("unmirror " .. k.name, function() api.net.unmirror(netns, m) end)
    end
    save(st)
    if phase == "boot" then
      vm.nics = {}
      for _, m in ipairs(rt.network.mirrors) do
        if not m.plugged then
          vm.nics[#vm.nics + 1] = { tap = m.tap, mac = m.mac }
          m.plugged = "boot"
        end
      end
      return
    end
    for _, m in ipairs(rt.network.mirrors) do
      if not m.plugged then hotplug(sb, rt.network, m) end
    end
    save(st)
    N.configure(st, sb)
  end

  --- Remove every tap and filter the sandbox's mirrors made; its interfaces stay as they were found.
  --- Never raises: failures are logged and teardown goes on.
  function N.teardown(sst)
    local rt = sst.runtime
    if not rt.netns or not rt.network then return end
    for i = #(rt.network.mirrors or {}), 1, -1 do
      local m = rt.network.mirrors[i]
      local ok, err = api.net.unmirror(rt.netns, m)
      if not ok then api.log.warn("network: unmirror '%s': %s, ignoring", tostring(m.link), tostring(err)) end
    end
  end

  --- The guest's per-interface counters (stats_container's "network") as runc lists them.
  function N.stats(s)
    local list = {}
    for name, c in pairs(type(s) == "table" and s or {}) do
      list[#list + 1] = { name = name, rx_bytes = c.rx_bytes, rx_packets = c.rx_packets, rx_errors = c.rx_errors,
        rx_dropped = c.rx_dropped, tx_bytes = c.tx_bytes, tx_packets = c.tx_packets, tx_errors = c.tx_errors,
        tx_dropped = c.tx_dropped }
    end
    table.sort(list, function(a, b) return a.name < b.name end)
    return api.json.array(list)
  end

  return N
end

return M
