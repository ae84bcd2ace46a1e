-- vc.netns: real network namespaces (root needed: tagged #privileged).
local vctest = require("vctest") -- test-only primitives (not installed)
local host = require("helpers.host")

local function mounted(path)
  for _, m in ipairs(host.mounts()) do
    if m == path then return true end
  end
  return false
end

local function ino(path) return host.run("stat -L -c %i " .. path) end

insulate("vc.netns #privileged", function()
  local vc = require("vc")
  local before, tmp, dir

  setup(function() before = host.snapshot() end)
  before_each(function()
    tmp = host.tmpdir()
    dir = tmp .. "/netns"
  end)
  after_each(function()
    -- whatever a failed test left: namespaces under dir, the directory's own mount
    for e in require("lfs").dir(tmp) do
      if e == "netns" then
        for n in require("lfs").dir(dir) do
          if not n:match("^%.") then vc.netns.delete(dir .. "/" .. n) end
        end
        vc.netns.remove_dir(dir)
      end
    end
    host.rmtree(tmp)
  end)

  describe("create", function()
    it("makes a persistent namespace with lo up, in a claimed shared directory", function()
      local ns = assert(vc.netns.create(dir, "n1"))
      assert.equals(dir .. "/n1", ns:path())
      assert.equals("vc.Netns (" .. dir .. "/n1)", tostring(ns))
      assert.is_number(ns:fd())
      assert.is_true(mounted(dir .. "/n1"))
      assert.is_true(mounted(dir))
      assert.is_true(host.exists(dir .. "/.vc-netns-dir"))
      assert.not_equals(ino("/proc/self/ns/net"), ino(dir .. "/n1"))
      assert.is_false(ns:is_host())

      local links = assert(vctest.netns.links(ns))
      assert.equals(1, #links)
      local lo = links[1]
      assert.equals("lo", lo.name)
      assert.is_true(lo.up)
      assert.same({ family = "inet", address = "127.0.0.1", prefixlen = 8 }, lo.addresses[1])
      assert.is_truthy(table.concat(lo.flags, ","):match("LOOPBACK"))
      ns:close()
      assert.is_true(vc.netns.delete(dir .. "/n1"))
    end)

    it("refuses a name that is taken", function()
      local ns <close> = assert(vc.netns.create(dir, "n1"))
      assert.same({ nil, "netns '" .. dir .. "/n1' already exists", "EEXIST" }, { vc.netns.create(dir, "n1") })
      assert.is_true(mounted(dir .. "/n1")) -- untouched
      assert.is_true(ns:delete())
    end)

    it("refuses bad names and relative directories before touching anything", function()
      assert.same({ nil, "invalid netns name '../x'", "EINVAL" }, { vc.netns.create(dir, "../x") })
      assert.same({ nil, "invalid netns name '.vc-netns-dir'", "EINVAL" }, { vc.netns.create(dir, ".vc-netns-dir") })
      assert.same({ nil, "invalid netns name ''", "EINVAL" }, { vc.netns.create(dir, "") })
      assert.same({ nil, "netns directory 'rel/netns' is not absolute", "EINVAL" },
        { vc.netns.create("rel/netns", "x") })
      assert.is_false(host.exists(dir))
    end)

    it("does not claim a directory that holds someone else's files", function()
      os.execute("mkdir -p " .. dir .. " && touch " .. dir .. "/theirs")
      assert.same({ nil, "netns directory '" .. dir .. "' is not empty and not the runtime's (no .vc-netns-dir)",
        "EPERM" }, { vc.netns.create(dir, "n1") })
      assert.is_false(host.exists(dir .. "/n1"))
      assert.is_false(mounted(dir))
      os.execute("rm " .. dir .. "/theirs")
    end)
  end)

  describe("enter", function()
    it("runs a function inside the namespace and comes back", function()
      local ns <close> = assert(vc.netns.create(dir, "n1"))
      local outside = ino("/proc/self/ns/net")
      local inside, a, b = vc.netns.enter(ns, function(x, y)
        return ino("/proc/self/ns/net"), x + y, y
      end, 1, 2)
      assert.equals(ino(dir .. "/n1"), inside)
      assert.equals(3, a)
      assert.equals(2, b)
      assert.equals(outside, ino("/proc/self/ns/net"))
      -- by path, and as a method
      assert.equals(inside, vc.netns.enter(dir .. "/n1", function() return ino("/proc/self/ns/net") end))
      assert.equals(inside, ns:enter(function() return ino("/proc/self/ns/net") end))
      assert.is_true(ns:delete())
    end)

    it("comes back when the function raises, and raises the same error again", function()
      local ns <close> = assert(vc.netns.create(dir, "n1"))
      local outside = ino("/proc/self/ns/net")
      local obj = { reason = "boom" }
      local ok, e = pcall(vc.netns.enter, ns, function() error(obj) end)
      assert.is_false(ok)
      assert.equals(obj, e)
      assert.equals(outside, ino("/proc/self/ns/net"))
      ok, e = pcall(vc.netns.enter, ns, function() error("plain") end)
      assert.is_false(ok)
      assert.matches("plain$", e)
      assert.equals(outside, ino("/proc/self/ns/net"))
      assert.is_true(ns:delete())
    end)

    it("returns nil, msg, code when the namespace cannot be entered, without calling the function", function()
      local called = false
      assert.same({ nil, "'/dev/null' is not a network namespace", "EINVAL" },
        { vc.netns.enter("/dev/null", function() called = true end) })
      assert.same({ nil, "open netns '/nonexistent': No such file or directory", "ENOENT" },
        { vc.netns.enter("/nonexistent", function() called = true end) })
      assert.is_false(called)
    end)
  end)

  describe("links", function()
    it("lists a veth added inside, with MAC, MTU, addresses and routes", function()
      local ns <close> = assert(vc.netns.create(dir, "n1"))
      assert.is_true(ns:enter(function()
        return os.execute("ip link add vc-a mtu 1400 type veth peer name vc-b"
          .. " && ip link set vc-a address 02:00:00:00:00:0a"
          .. " && ip addr add 192.0.2.10/24 dev vc-a && ip -6 addr add 2001:db8::a/64 dev vc-a nodad"
          .. " && ip link set vc-a up && ip link set vc-b up"
          .. " && ip route add default via 192.0.2.1 && ip route add 198.51.100.0/24 via 192.0.2.2")
      end))
      local by_name = {}
      for _, l in ipairs(assert(vctest.netns.links(dir .. "/n1"))) do by_name[l.name] = l end
      assert.is_not_nil(by_name.lo)
      assert.is_not_nil(by_name["vc-b"])
      local a = by_name["vc-a"]
      assert.equals("veth", a.kind)
      assert.equals("02:00:00:00:00:0a", a.mac)
      assert.equals(1400, a.mtu)
      assert.is_true(a.up)
      assert.is_number(a.index)
      local addrs = {}
      for _, x in ipairs(a.addresses) do addrs[x.family .. " " .. x.address .. "/" .. x.prefixlen] = true end
      assert.is_true(addrs["inet 192.0.2.10/24"])
      assert.is_true(addrs["inet6 2001:db8::a/64"])
      local routes = {}
      for _, r in ipairs(a.routes) do
        assert.equals("vc-a", r.device)
        routes[r.destination .. "/" .. r.prefixlen .. " via " .. (r.gateway or "-")] = r.family
      end
      assert.equals("inet", routes["0.0.0.0/0 via 192.0.2.1"])
      assert.equals("inet", routes["198.51.100.0/24 via 192.0.2.2"])
      assert.equals("inet", routes["192.0.2.0/24 via -"])
      assert.equals("inet6", routes["2001:db8::/64 via -"])
      -- nothing of this is in the host's namespace
      assert.equals("", host.run("ip -o link show vc-a 2>/dev/null"))
      assert.is_true(ns:delete())
    end)
  end)

  describe("delete", function()
    it("leaves no mount and no file", function()
      local ns = assert(vc.netns.create(dir, "n1"))
      ns:close()
      assert.is_true(vc.netns.delete(dir .. "/n1"))
      assert.is_false(mounted(dir .. "/n1"))
      assert.is_false(host.exists(dir .. "/n1"))
      assert.same({ nil, "delete netns '" .. dir .. "/n1': No such file or directory", "ENOENT" },
        { vc.netns.delete(dir .. "/n1") })
    end)

    it("closes a handle it is given", function()
      local ns = assert(vc.netns.create(dir, "n1"))
      assert.is_true(vc.netns.delete(ns))
      assert.equals("vc.Netns (closed)", tostring(ns))
      assert.is_false(mounted(dir .. "/n1"))
    end)

    it("refuses a namespace the runtime did not create", function()
      assert.same({ nil, "refusing to delete netns '/proc/self/ns/net': not one the runtime created "
        .. "(its directory has no .vc-netns-dir)", "EPERM" }, { vc.netns.delete("/proc/self/ns/net") })

      -- one made by another tool, in a directory the runtime never claimed
      local foreign = tmp .. "/foreign"
      os.execute("mkdir " .. foreign .. " && touch " .. foreign .. "/ns1 && unshare --net=" .. foreign .. "/ns1 true")
      assert.is_true(mounted(foreign .. "/ns1"))
      local ok, msg, code = vc.netns.delete(foreign .. "/ns1")
      assert.is_nil(ok)
      assert.equals("refusing to delete netns '" .. foreign .. "/ns1': not one the runtime created "
        .. "(its directory has no .vc-netns-dir)", msg)
      assert.equals("EPERM", code)
      assert.is_true(mounted(foreign .. "/ns1"))
      os.execute("umount " .. foreign .. "/ns1")

      -- the marker, and paths that lead out of the runtime's directory
      local ns <close> = assert(vc.netns.create(dir, "n1"))
      assert.same({ nil, "refusing to delete netns '" .. dir .. "/.vc-netns-dir': not one the runtime created",
        "EPERM" }, { vc.netns.delete(dir .. "/.vc-netns-dir") })
      assert.equals("EPERM", select(3, vc.netns.delete(dir .. "/../foreign/ns1")))
      assert.equals("EINVAL", select(3, vc.netns.delete("netns/n1")))
      assert.is_true(ns:delete())
    end)
  end)

  describe("remove_dir", function()
    it("refuses while namespaces remain, then unmounts and removes the directory", function()
      local ns <close> = assert(vc.netns.create(dir, "n1"))
      assert.same({ nil, "netns directory '" .. dir .. "' still holds 'n1'", "ENOTEMPTY" },
        { vc.netns.remove_dir(dir) })
      assert.is_true(ns:delete())
      assert.is_true(vc.netns.remove_dir(dir))
      assert.is_false(mounted(dir))
      assert.is_false(host.exists(dir))
    end)

    it("refuses a directory the runtime did not claim", function()
      assert.same({ nil, "refusing to remove netns directory '" .. tmp .. "': not the runtime's (no .vc-netns-dir)",
        "EPERM" }, { vc.netns.remove_dir(tmp) })
    end)
  end)

  describe("is_host", function()
    it("is true for the runtime's own namespace and false for a new one", function()
      assert.is_true(vc.netns.is_host("/proc/self/ns/net"))
      local ns <close> = assert(vc.netns.create(dir, "n1"))
      assert.is_false(vc.netns.is_host(ns))
      assert.is_false(vc.netns.is_host(dir .. "/n1"))
      assert.is_true(ns:delete())
    end)

    it("is true for /proc/1/ns/net", function()
      local f = io.open("/proc/1/ns/net")
      if not f then
        pending("/proc/1/ns/net cannot be opened here (PID 1 may not be inspected)")
        return
      end
      f:close()
      assert.is_true(vc.netns.is_host("/proc/1/ns/net"))
    end)
  end)

  describe("bindings", function()
    local function err(f)
      local ok, e = pcall(f)
      assert.is_false(ok)
      return (e:gsub("^[^:]*:%d+: ", ""))
    end

    it("raise on misuse with exact messages", function()
      assert.equals("bad argument #1 to 'open' (string expected, got no value)", err(function() vc.netns.open() end))
      assert.equals("bad argument #2 to 'create' (string expected, got nil)",
        err(function() vc.netns.create(dir, nil) end))
      assert.equals("bad argument #2 to 'enter' (function expected, got no value)",
        err(function() vc.netns.enter("/proc/self/ns/net") end))
      assert.equals("bad argument #1 to 'links' (vc.Netns or path expected, got number)",
        err(function() vctest.netns.links(5) end))
      assert.equals("bad argument #1 to 'is_host' (vc.Netns or path expected, got table)",
        err(function() vc.netns.is_host({}) end))
      assert.equals("bad argument #1 to 'delete' (string expected, got boolean)",
        err(function() vc.netns.delete(true) end))
    end)

    it("closes handles with :close(), <close> and __gc, and refuses to use a closed one", function()
      local ns = assert(vc.netns.open("/proc/self/ns/net"))
      assert.equals("vc.Netns (/proc/self/ns/net)", tostring(ns))
      ns:close()
      ns:close() -- idempotent
      assert.equals("vc.Netns (closed)", tostring(ns))
      assert.equals("attempt to use a closed vc.Netns", err(function() return ns:path() end))
      assert.equals("attempt to use a closed vc.Netns", err(function() return vctest.netns.links(ns) end))
      local kept
      do
        local n2 <close> = assert(vc.netns.open("/proc/self/ns/net"))
        kept = n2
      end
      assert.equals("vc.Netns (closed)", tostring(kept))
      local fds = #host.fds()
      for _ = 1, 20 do vc.netns.open("/proc/self/ns/net") end
      collectgarbage()
      collectgarbage()
      assert.equals(fds, #host.fds())
    end)
  end)

  it("leaves no child processes, fds or mounts behind", function()
    host.assert_clean(before)
  end)
end)
