local fakes = require("spec.helpers.fakes")
local loader = require("kata.loader")
local runner = require("kata.runner")

local policy = assert(loader.load_file("lua/kata/policy/default.lua", "default"))

local function run(api, cmd, args, options)
  api.policy = api.policy or policy
  return runner.run(api.policy, cmd, fakes.ctx(cmd, args, options), api)
end

local function index_of(calls, pattern)
  for i, c in ipairs(calls) do if c:match(pattern) then return i end end
  return nil
end

--- Assert that the patterns appear in the call log in this order.
local function assert_order(calls, patterns)
  local last = 0
  for _, p in ipairs(patterns) do
    local i = index_of(calls, p)
    assert(i, ("no call matching '%s' in:\n  %s"):format(p, table.concat(calls, "\n  ")))
    assert(i > last, ("'%s' came before an earlier step in:\n  %s"):format(p, table.concat(calls, "\n  ")))
    last = i
  end
end

local ALL_HOOKS = {
  prestart = { { path = "/h/prestart" } }, createRuntime = { { path = "/h/createRuntime" } },
  createContainer = { { path = "/h/createContainer" } }, startContainer = { { path = "/h/startContainer" } },
  poststart = { { path = "/h/poststart" } }, poststop = { { path = "/h/poststop1" }, { path = "/h/poststop2" } },
}

describe("policies.default", function()
  describe("create", function()
    it("makes a sandbox in order: state, share, netns, VM, container, shim, hooks, created, pid file", function()
      local api = fakes.api({ hooks = ALL_HOOKS })
      assert.is_true(run(api, "create", { "c1" }, { pid_file = "/tmp/pid" }))
      assert_order(api.calls, {
        "^oci.load /bundle/config.json$", "^lock c1$", "^state.save c1 creating$",
        "^netns.create d%-c1$", "^sandbox.launch c1$", "^share.bind /bundle/rootfs ", "^agent create_container c1$",
        "^shim.spawn c1$", "^hook prestart", "^hook createRuntime", "^hook createContainer",
        "^state.save c1 created$", "^fs.write /tmp/pid$", "^unlock c1$",
      })
      local st = api.world.states.c1
      assert.equal("created", st.status)
      assert.equal(api.world.files["/tmp/pid"], tostring(st.pid))
      assert.equal("sandbox", st.runtime.type)
      assert.is_true(st.runtime.netns_created)
      -- hooks run in the sandbox's namespace with the bundle as working directory and the state on stdin
      local h = api.world.hooks_run[1]
      assert.equal("/run/kata/.netns/d-c1", h.netns)
      assert.equal("/bundle", h.cwd)
      assert.matches('"id":"c1"', h.state, 1, true)
      assert.matches('"status":"creating"', h.state, 1, true)
      assert.matches('"pid":' .. st.pid, h.state, 1, true)
      -- the guest gets the rootfs relative to the share, and no hooks
      assert.equal("c1/rootfs", api.world.containers.c1.rootfs)
      assert.is_nil(api.world.containers.c1.spec.hooks)
    end)

    it("gives bind mounts to the guest through the share", function()
      local api = fakes.api({ mounts = { { destination = "/proc", type = "proc", source = "proc" },
        { destination = "/data", type = "bind", source = "/srv/data", options = { "rbind", "ro" } } },
        host_files = { ["/srv/data"] = "directory" } })
      assert.is_true(run(api, "create", { "c1" }))
      local spec = api.world.containers.c1.spec
      assert.equal("proc", spec.mounts[1].source)
      assert.equal("c1/mounts/1", spec.mounts[2].source)
      assert.equal("/srv/data", api.world.mounts["/run/kata/.sandbox/c1/mounts/c1/mounts/1"])
    end)

    it("refuses a missing bind source before it boots a VM (issue 11)", function()
      local api = fakes.api({ mounts = { { destination = "/data", type = "bind", source = "/srv/missing" } } })
      local ok, err = run(api, "create", { "c1" })
      assert.is_nil(ok)
      assert.equal("config.json: mounts[0]: source '/srv/missing' does not exist", err)
      assert.is_nil(index_of(api.calls, "^sandbox.launch"))
      assert.same({}, fakes.leftovers(api))
    end)

    it("refuses a duplicate id with runc's message and changes nothing", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      local before = #api.calls
      local ok, err = run(api, "create", { "c1" })
      assert.is_nil(ok)
      assert.equal("container with given ID already exists", err)
      assert.is_nil(index_of({ table.unpack(api.calls, before + 1) }, "^sandbox.launch"))
      assert.equal("created", api.world.states.c1.status)
      assert.same({}, api.world.locks)
    end)

    it("refuses the host's network namespace", function()
      local api = fakes.api({ linux = { namespaces = { { type = "network", path = "/proc/1/ns/net" } } } })
      local ok, err = run(api, "create", { "c1" })
      assert.is_nil(ok)
      assert.equal("network namespace '/proc/1/ns/net' is the host's: refusing to run a sandbox in it", err)
      assert.same({}, fakes.leftovers(api))
    end)

    it("uses the namespace the spec names and never deletes it", function()
      local api = fakes.api({ linux = { namespaces = { { type = "network", path = "/var/run/netns/cni-1" } } } })
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_nil(index_of(api.calls, "^netns.create"))
      assert.equal("/var/run/netns/cni-1", api.world.sandboxes["/run/kata/.sandbox/c1/sup.sock"].cfg.netns)
      assert.is_true(run(api, "delete", { "c1" }, { force = true }))
      assert.is_nil(index_of(api.calls, "^netns.delete"))
    end)

    it("sizes the VM from the container's resources", function()
      local api = fakes.api({ linux = { resources = { memory = { limit = 512 * 1024 * 1024 },
        cpu = { quota = 150000, period = 100000 } } } })
      assert.is_true(run(api, "create", { "c1" }))
      local cfg = api.world.sandboxes["/run/kata/.sandbox/c1/sup.sock"].cfg
      assert.equal(256 + 512, cfg.memory_mib)
      assert.equal(1 + 2, cfg.vcpus)
    end)

    it("puts a pod container into its sandbox's VM without launching another", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "pod" }))
      api.world.sandboxes["/run/kata/.sandbox/pod/sup.sock"].cfg = nil
      local launches = 0
      for _, c in ipairs(api.calls) do if c:match("^sandbox.launch") then launches = launches + 1 end end
      local pod_api = api
      pod_api.oci.container_type = function() return "container", "pod" end
      assert.is_true(run(pod_api, "create", { "app" }))
      local after = 0
      for _, c in ipairs(api.calls) do if c:match("^sandbox.launch") then after = after + 1 end end
      assert.equal(launches, after)
      assert.equal("pod", api.world.states.app.runtime.sandbox_id)
      assert.equal(api.world.states.pod.runtime.socket, api.world.states.app.runtime.socket)
      assert.is_truthy(index_of(api.calls, "^lock pod$"))
    end)

    it("has a pod container join the sandbox container's uts and ipc namespaces where CRI gives their host paths", function()
      local api = fakes.api({ config = { ociVersion = "1.0.2", process = { args = { "sh" }, cwd = "/" }, root = { path = "rootfs" },
        linux = { namespaces = { { type = "pid" }, { type = "ipc", path = "/proc/42/ns/ipc" }, { type = "uts", path = "/proc/42/ns/uts" },
          { type = "mount" }, { type = "network", path = "/proc/42/ns/net" } } } } })
      assert.is_true(run(api, "create", { "pod" }))
      assert.is_nil(api.world.containers.pod.join) -- the sandbox container makes the pod's namespaces
      api.oci.container_type = function() return "container", "pod" end
      assert.is_true(run(api, "create", { "app" }))
      assert.same({ uts = "pod", ipc = "pod" }, api.world.containers.app.join)
    end)

    it("has a pod container join the sandbox container's pid namespace when the pod shares its processes", function()
      local api = fakes.api({ config = { ociVersion = "1.0.2", process = { args = { "sh" }, cwd = "/" }, root = { path = "rootfs" },
        linux = { namespaces = { { type = "pid", path = "/proc/42/ns/pid" }, { type = "ipc", path = "/proc/42/ns/ipc" },
          { type = "uts", path = "/proc/42/ns/uts" }, { type = "mount" } } } } })
      api.oci.container_type = function() return "sandbox" end
      assert.is_true(run(api, "create", { "pod" }))
      api.oci.container_type = function() return "container", "pod" end
      assert.is_true(run(api, "create", { "app" }))
      assert.same({ uts = "pod", ipc = "pod", pid = "pod" }, api.world.containers.app.join)
    end)

    it("gives a pod container its own namespaces when its spec names no paths", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "pod" }))
      api.oci.container_type = function() return "container", "pod" end
      assert.is_true(run(api, "create", { "app" }))
      assert.is_nil(api.world.containers.app.join)
    end)

    it("refuses a pod container whose sandbox does not exist", function()
      local api = fakes.api()
      api.oci.container_type = function() return "container", "nopod" end
      local ok, err = run(api, "create", { "app" })
      assert.is_nil(ok)
      assert.equal("sandbox 'nopod' does not exist", err)
      assert.same({}, fakes.leftovers(api))
    end)

    -- every step that can fail, and what the error says: nothing this call made may be left behind
    local failures = {
      { "netns.create", "create network namespace: boom" },
      { "share.setup", "set up the share: boom" },
      { "share.bind", "share rootfs: boom" },
      { "sandbox.launch", "launch sandbox: boom" },
      { "agent create_container", "create container: boom" },
      { "shim.spawn", "start shim: boom" },
      { "hook prestart", "error running prestart hook #0: exit status 1, stderr: boom" },
      { "hook createRuntime", "error running createRuntime hook #0: exit status 1, stderr: boom" },
      { "hook createContainer", "error running createContainer hook #0: exit status 1, stderr: boom" },
      { "fs.write", "write pid file: boom" },
    }
    for _, f in ipairs(failures) do
      it(("rolls back everything when %s fails"):format(f[1]), function()
        local api = fakes.api({ hooks = ALL_HOOKS, fail = { [f[1]] = "boom" } })
        local ok, err = run(api, "create", { "c1" }, { pid_file = "/tmp/pid" })
        assert.is_nil(ok)
        assert.equal(f[2], err)
        assert.same({}, fakes.leftovers(api))
      end)
    end

    it("rolls back a pod container without touching its sandbox", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "pod" }))
      api.oci.container_type = function() return "container", "pod" end
      api.shim.spawn = function() return nil, "no shim", "EIO" end
      local ok, err = run(api, "create", { "app" })
      assert.is_nil(ok)
      assert.equal("start shim: no shim", err)
      assert.is_nil(api.world.states.app)
      assert.is_nil(api.world.containers.app)
      assert.is_not_nil(api.world.sandboxes["/run/kata/.sandbox/pod/sup.sock"])
      assert.is_not_nil(api.world.containers.pod)
    end)

    it("names a missing rootfs", function()
      local api = fakes.api({ missing = { ["/bundle/rootfs"] = true } })
      local ok, err = run(api, "create", { "c1" })
      assert.is_nil(ok)
      assert.equal("rootfs 'rootfs' does not exist", err)
      assert.same({}, fakes.leftovers(api))
    end)

    it("reports a bad config.json as the parser says it", function()
      local api = fakes.api({ fail = { ["oci.load"] = "config.json: hooks.poststart[1].path: must be absolute" } })
      local ok, err = run(api, "create", { "c1" })
      assert.is_nil(ok)
      assert.equal("config.json: hooks.poststart[1].path: must be absolute", err)
    end)
  end)

  describe("delete --force of a frozen sandbox (issue 11)", function()
    it("kills a sandbox that does not answer instead of waiting on it", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      assert.is_nil(index_of(api.calls, "^purge.processes"))
      api.fail["agent check"] = "ETIMEDOUT: no answer" -- frozen
      assert.is_true(run(api, "delete", { "c1" }, { force = true }))
      local killed = index_of(api.calls, "^purge.processes /run/kata/.sandbox/c1/$")
      assert.truthy(killed)
      assert.truthy(killed < index_of(api.calls, "^share.teardown"))
      assert.same({}, fakes.leftovers(api))
    end)

    it("talks to a sandbox that answers", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "delete", { "c1" }, { force = true }))
      assert.truthy(index_of(api.calls, "^agent check$"))
      assert.truthy(index_of(api.calls, "^agent remove_container c1$"))
    end)
  end)

  describe("delete of a corrupt record (issue 11)", function()
    it("refuses without --force, naming the field; with --force removes what the id names", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      api.world.states.c1.runtime.supervisor_pid = "not a pid"
      local ok, err = run(api, "delete", { "c1" })
      assert.is_nil(ok)
      assert.equal("state of 'c1' is corrupt: runtime.supervisor_pid: expected number, got string", err)
      assert.is_true(run(api, "delete", { "c1" }, { force = true }))
      assert.truthy(index_of(api.calls, "^purge.processes /run/kata/.sandbox/c1/$"))
      assert.same({}, fakes.leftovers(api))
    end)
  end)

  describe("start", function()
    it("stops the container again when its running state cannot be saved (issue 11)", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      api.state.save = function(id, st)
        if st.status == "running" then return nil, "No space left on device", "ENOSPC" end
        api.world.states[id] = st
        return true
      end
      local ok, err = run(api, "start", { "c1" })
      assert.is_nil(ok)
      assert.equal("save state: No space left on device (the container was stopped)", err)
      assert.equal(9, api.world.signals[#api.world.signals].signal)
      assert.equal("created", api.world.states.c1.status)
    end)

    it("starts a created container, then runs poststart hooks in the sandbox namespace", function()
      local api = fakes.api({ hooks = ALL_HOOKS })
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      assert_order(api.calls, { "^hook startContainer", "^agent start_container c1$", "^state.save c1 running$", "^hook poststart" })
      assert.equal("running", api.world.states.c1.status)
      assert.equal("running", api.world.containers.c1.status)
      local last = api.world.hooks_run[#api.world.hooks_run]
      assert.equal("poststart", last.kind)
      assert.matches('"status":"running"', last.state, 1, true)
    end)

    it("fails a second start without effect", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      local n = #api.calls
      local ok, err = run(api, "start", { "c1" })
      assert.is_nil(ok)
      assert.equal("cannot start an already running container", err)
      assert.is_nil(index_of({ table.unpack(api.calls, n + 1) }, "^agent start_container"))
    end)

    it("stops the container and fails when a poststart hook fails", function()
      local api = fakes.api({ hooks = ALL_HOOKS, fail = { ["hook poststart"] = "nope" } })
      assert.is_true(run(api, "create", { "c1" }))
      local ok, err = run(api, "start", { "c1" })
      assert.is_nil(ok)
      assert.equal("error running poststart hook #0: exit status 1, stderr: nope", err)
      assert.equal(9, api.world.signals[#api.world.signals].signal)
      assert.equal("stopped", api.world.states.c1.status)
    end)

    it("does not start a stopped container", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      api.alive[api.world.states.c1.pid] = nil
      local ok, err = run(api, "start", { "c1" })
      assert.is_nil(ok)
      assert.equal("cannot start a container that has stopped", err)
    end)

    it("says 'container does not exist' for an unknown id", function()
      local ok, err = run(fakes.api(), "start", { "nosuch" })
      assert.is_nil(ok)
      assert.equal("container does not exist", err)
    end)
  end)

  describe("kill", function()
    local api
    before_each(function()
      api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
    end)

    it("sends TERM by default and signals by name or number", function()
      api.world.states.c1.runtime.type = "container" -- no teardown in this case
      assert.is_true(run(api, "kill", { "c1", "USR1" }))
      assert.is_true(run(api, "kill", { "c1", "10" }))
      assert.equal(10, api.world.signals[1].signal)
      assert.equal(10, api.world.signals[2].signal)
      assert.is_true(run(api, "kill", { "c1" }))
      assert.equal(15, api.world.signals[3].signal)
    end)

    it("takes signal 0 as a liveness check, as runc: success while it runs, an error once stopped (issue 11)", function()
      assert.is_true(run(api, "kill", { "c1", "0" }))
      assert.is_nil(api.world.signals[1]) -- nothing reaches the guest
      api.alive[api.world.states.c1.pid] = nil
      local ok, err = run(api, "kill", { "c1", "0" })
      assert.is_nil(ok)
      assert.equal("container not running", err)
    end)

    it("refuses an unknown signal", function()
      local ok, err = run(api, "kill", { "c1", "BOGUS" })
      assert.is_nil(ok)
      assert.equal("unknown signal 'BOGUS'", err)
    end)

    it("signals every process with --all", function()
      api.world.states.c1.runtime.type = "container"
      assert.is_true(run(api, "kill", { "c1", "HUP" }, { all = true }))
      assert.is_true(api.world.signals[1].all)
    end)

    it("says 'container not running' for a stopped container, but --all tolerates it", function()
      api.alive[api.world.states.c1.pid] = nil
      local ok, err = run(api, "kill", { "c1", "KILL" })
      assert.is_nil(ok)
      assert.equal("container not running", err)
      assert.is_true(run(api, "kill", { "c1", "KILL" }, { all = true }))
    end)

    it("takes the whole pod down when its sandbox container is killed while a container still runs", function()
      api.oci.container_type = function() return "container", "c1" end
      assert.is_true(run(api, "create", { "app" }))
      assert.is_true(run(api, "start", { "app" }))
      assert.is_true(run(api, "kill", { "c1", "KILL" }))
      assert_order(api.calls, { "^agent signal_process c1$", "^agent sup.shutdown" })
      assert.is_nil(next(api.world.sandboxes))
      assert.is_nil(api.alive[api.world.states.app.pid]) -- its shim got its exit: app is stopped
      assert.is_true(run(api, "delete", { "app" }))
      assert.is_true(run(api, "delete", { "c1" }))
      assert.same({}, fakes.leftovers(api))
    end)

    it("tears the sandbox VM down when its sandbox container is killed", function()
      assert.is_true(run(api, "kill", { "c1", "KILL" }))
      assert_order(api.calls, { "^agent signal_process c1$", "^agent sup.shutdown" })
      assert.same({}, (function() local s = {} for k in pairs(api.world.sandboxes) do s[#s + 1] = k end return s end)())
      -- delete still cleans up afterwards, without waiting for the socket of the supervisor that has exited
      local t0 = api.clock.monotonic()
      assert.is_true(run(api, "delete", { "c1" }))
      assert.is_true(api.clock.monotonic() - t0 < 5)
      assert.same({}, fakes.leftovers(api))
    end)
  end)

  describe("delete", function()
    it("refuses a running container without --force", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      local ok, err = run(api, "delete", { "c1" })
      assert.is_nil(ok)
      assert.equal("cannot delete container c1 that is not stopped: running", err)
      assert.equal("running", api.world.states.c1.status)
    end)

    it("kills, removes and tears down with --force, then runs poststop hooks", function()
      local api = fakes.api({ hooks = ALL_HOOKS })
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      assert.is_true(run(api, "delete", { "c1" }, { force = true }))
      assert_order(api.calls, { "^agent signal_process c1$", "^agent remove_container c1$", "^agent sup.shutdown",
        "^netns.delete", "^state.remove c1$", "^unlock c1 remove$", "^hook poststop /h/poststop1$", "^hook poststop /h/poststop2$" })
      assert.same({}, fakes.leftovers(api))
    end)

    it("deletes a created container that never ran", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "delete", { "c1" }))
      assert.same({}, fakes.leftovers(api))
    end)

    it("only warns when a poststop hook fails, and runs the rest", function()
      local api = fakes.api({ hooks = ALL_HOOKS })
      assert.is_true(run(api, "create", { "c1" }))
      api.fail_poststop = true
      local real = api.hook.run_all
      api.hook.run_all = function(hooks, o)
        if o.kind == "poststop" and hooks[1].path == "/h/poststop1" then
          return nil, "error running poststop hook #0: exit status 3", "EIO", 0
        end
        return real(hooks, o)
      end
      assert.is_true(run(api, "delete", { "c1" }, { force = true }))
      assert.is_truthy(index_of(api.calls, "^hook poststop /h/poststop2$"))
      local warned = false
      for _, l in ipairs(api.log.lines) do if l:match("^warn: poststop hook #0") then warned = true end end
      assert.is_true(warned)
      assert.same({}, fakes.leftovers(api))
    end)

    it("exits 0 for an unknown id with --force and says it does not exist without", function()
      assert.is_true(run(fakes.api(), "delete", { "nosuch" }, { force = true }))
      local ok, err = run(fakes.api(), "delete", { "nosuch" })
      assert.is_nil(ok)
      assert.equal("container does not exist", err)
    end)

    it("keeps the VM until the last container of the pod is gone", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "pod" }))
      api.oci.container_type = function() return "container", "pod" end
      assert.is_true(run(api, "create", { "app" }))
      assert.is_true(run(api, "delete", { "app" }, { force = true }))
      assert.is_not_nil(api.world.sandboxes["/run/kata/.sandbox/pod/sup.sock"])
      assert.is_true(run(api, "delete", { "pod" }, { force = true }))
      assert.same({}, fakes.leftovers(api))
    end)

    it("cleans up when the VM died from outside", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      -- qemu killed: the supervisor and the shim go away
      api.world.sandboxes["/run/kata/.sandbox/c1/sup.sock"] = nil
      api.alive[api.world.states.c1.pid] = nil
      api.world.shims = {}
      api.world.containers = {}
      assert.is_true(run(api, "delete", { "c1" }))
      assert.same({}, fakes.leftovers(api))
    end)
  end)

  describe("exec", function()
    it("runs a detached process through its own shim and writes the pid file", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      assert.is_true(run(api, "exec", { "c1", "ls", "-l" }, { detach = true, pid_file = "/tmp/e.pid", env = { "A=1" } }))
      assert_order(api.calls, { "^agent exec_process c1$", "^shim.spawn c1 exec%-", "^agent start_process", "^fs.write /tmp/e.pid$" })
    end)

    it("refuses a container that is not running", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      local ok, err = run(api, "exec", { "c1", "ls" })
      assert.is_nil(ok)
      assert.equal("cannot exec in a created container", err)
    end)
  end)

  describe("update (issue 12)", function()
    it("turns runc's flags into a linux.resources object for the agent", function()
      local api = fakes.api()
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      assert.is_true(run(api, "update", { "c1" }, { memory = "512m", memory_swap = "-1", cpu_quota = "50000",
        cpu_period = "100000", cpu_share = "512", cpuset_cpus = "0-1", pids_limit = "64" }))
      assert.same({ id = "c1", resources = {
        memory = { limit = 512 * 1024 * 1024, swap = -1 },
        cpu = { quota = 50000, period = 100000, shares = 512, cpus = "0-1" },
        pids = { limit = 64 },
      } }, api.world.updates[1])
    end)

    it("takes -r FILE as the whole linux.resources object, the flags then ignored", function()
      local api = fakes.api({ files = { ["/r.json"] = '{"pids":{"limit":3}}' },
        decode = function(s) return s == '{"pids":{"limit":3}}' and { pids = { limit = 3 } } or nil end })
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      assert.is_true(run(api, "update", { "c1" }, { resources = "/r.json", memory = "1g" }))
      assert.same({ pids = { limit = 3 } }, api.world.updates[1].resources)
    end)

    it("names a bad size, and refuses a stopped container or what the agent refuses", function()
      local api = fakes.api({ fail = { ["agent update_container"] = "linux.resources.blockIO: not supported" } })
      assert.is_true(run(api, "create", { "c1" }))
      assert.is_true(run(api, "start", { "c1" }))
      local ok, err = run(api, "update", { "c1" }, { memory = "lots" })
      assert.is_nil(ok)
      assert.equal("update: --memory: invalid size 'lots'", err)
      ok, err = run(api, "update", { "c1" }, { blkio_weight = "500" })
      assert.is_nil(ok)
      assert.equal("update: linux.resources.blockIO: not supported", err)
      assert.is_true(run(api, "kill", { "c1", "KILL" }))
      ok, err = run(api, "update", { "c1" }, { memory = "1g" })
      assert.is_nil(ok)
      assert.equal("container not running", err)
    end)
  end)

  describe("an extending policy", function()
    it("changes how every command runs hooks by overriding one step", function()
      local audit = assert(loader.load_string([[
        local M = { name = "audit", extends = "default" }
        function M.run_hooks(ctx, api, kind, hooks, state, netns, bundle)
          api.log.info("audit: %s", kind)
          return api.policy.base.run_hooks(ctx, api, kind, hooks, state, netns, bundle)
        end
        return M]], "audit"))
      local merged = loader.extend(audit, policy)
      local api = fakes.api({ hooks = ALL_HOOKS })
      api.policy = merged
      assert.is_true(run(api, "create", { "c1" }))
      local seen = {}
      for _, l in ipairs(api.log.lines) do seen[#seen + 1] = l:match("^info: audit: (%w+)") end
      assert.same({ "prestart", "createRuntime", "createContainer" }, seen)
    end)
  end)
end)
