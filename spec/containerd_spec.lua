-- containerd 1.6 drives kata-runtime unmodified: ctr with the runc v2 shim and kata-runtime as its runc
-- binary, against a private containerd (spec/helpers/containerd.lua); and pods the way containerd's CRI
-- plugin makes them, with its exact annotations, fed to kata-runtime directly. A leak check follows
-- every case.
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local ctd = require("spec.helpers.containerd")

local ok_env, why = ctd.available()

describe("containerd #integration", function()
  local tmp, d, n = nil, nil, 0

  setup(function()
    if not ok_env then return end
    assert(vctest.proc.set_subreaper()) -- orphaned shims come to us, as to containerd-shim
    tmp = run.tmpdir("kata-ctd")
    d = ctd.start(tmp .. "/ctd")
    ctd.import_image(d, world.rootfs_template())
  end)
  teardown(function()
    if d then
      ctd.clean(d)
      for _, id in ipairs(vc.state.list(d.root) or {}) do world.rt(d.root, { "delete", "--force", id }) end
      ctd.stop(d)
    end
    if tmp then os.execute("umount -R " .. run.q(tmp) .. " 2>/dev/null"); run.rmrf(tmp) end
    if world.ROOTFS_TEMPLATE then run.rmrf(world.ROOTFS_TEMPLATE); world.ROOTFS_TEMPLATE = nil end
  end)
  before_each(function() n = n + 1 end)
  after_each(function()
    if not ok_env then return end
    local leaks = ctd.leaks(d)
    -- whatever a failed case left: forced away, so the next case starts clean; then report it
    if #leaks > 0 then
      ctd.clean(d)
      for _, id in ipairs(vc.state.list(d.root) or {}) do world.rt(d.root, { "delete", "--force", id }) end
    end
    assert.same({}, leaks)
  end)

  if not ok_env then
    pending("containerd specs skipped: " .. why)
    return
  end

  local function qemus(root)
    local q = {}
    for _, p in ipairs(world.processes(root)) do if p:match("qemu%-system") then q[#q + 1] = p end end
    return q
  end

  it("ctr run --rm prints the container's output and returns its exit code", function()
    local status, out, err = ctd.ctr(d, ctd.run_args(d, "echo" .. n, { "sh", "-c", "echo hello from the guest; exit 3" }))
    assert.equal(3, status, err)
    assert.equal("hello from the guest\n", out)
  end)

  it("ctr run --seccomp runs the container under containerd's default profile (issue 12)", function()
    local status, out, err = ctd.ctr(d, ctd.run_args(d, "sc" .. n,
      { "sh", "-c", "grep -E '^(CapBnd|Seccomp):' /proc/self/status; mkdir /tmp/d && echo mkdir-ok" }, { "--seccomp" }))
    assert.equal(0, status, err)
    -- containerd's default capabilities, as runc gives them
    assert.matches("CapBnd:%s+00000000a80425fb\n", out)
    assert.matches("Seccomp:%s+2\n", out)
    assert.matches("mkdir%-ok\n", out)
  end)

  it("ctr task exec, ps, pause, resume and kill a container running in its own VM", function()
    local id = "k" .. n
    local out, err, rc = tmp .. "/k.out", tmp .. "/k.err", tmp .. "/k.rc"
    -- the foreground `ctr run --rm` in the background: it waits for the task and gets its exit status
    os.execute(("( %s </dev/null >%s 2>%s; echo $? >%s ) &"):format(ctd.command(d, ctd.run_args(d, id,
      { "sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done" }), 120),
      run.q(out), run.q(err), run.q(rc)))
    assert.truthy(world.wait_for(function() return (run.read(out) or ""):find("ready", 1, true) end, 60), run.read(err))
    assert.equal(1, #qemus(d.root)) -- a VM of its own

    local s, o, e = ctd.ctr(d, { "task", "exec", "--fifo-dir", d.fifo, "--exec-id", "e1", id,
      "sh", "-c", "echo in-exec; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 4" })
    assert.equal(4, s, e)
    assert.equal("in-exec\nsh -c trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done \n", o)
    -- a program that does not exist: the exec fails with kata-runtime's message, the task keeps running
    s, _, e = ctd.ctr(d, { "task", "exec", "--fifo-dir", d.fifo, "--exec-id", "e2", id, "nosuchprog" })
    assert.equal(1, s)
    assert.matches("exec 'nosuchprog': No such file or directory", e, 1, true)

    s, o = ctd.ctr(d, { "task", "ps", id })
    assert.equal(0, s)
    assert.is_true(select(2, o:gsub("\n%d+", "")) >= 1, o)

    assert.equal(0, (ctd.ctr(d, { "task", "pause", id })))
    s, o = ctd.ctr(d, { "task", "ls" })
    assert.matches(id .. "%s+%d+%s+PAUSED", o)
    assert.equal(0, (ctd.ctr(d, { "task", "resume", id })))
    s, o = ctd.ctr(d, { "task", "ls" })
    assert.matches(id .. "%s+%d+%s+RUNNING", o)

    assert.equal(0, (ctd.ctr(d, { "task", "kill", id }))) -- SIGTERM
    assert.truthy(world.wait_for(function() return run.read(rc) end, 60))
    assert.equal("42\n", run.read(rc), run.read(err))
    assert.matches("got%-term\n$", run.read(out))
  end)

  it("ctr run -t gives the container a terminal of the caller's size", function()
    local out = tmp .. "/tty.out"
    local inner = "stty cols 100 rows 30; " .. ctd.command(d, ctd.run_args(d, "tty" .. n,
      -- ctr sets the size after the start: wait (up to 60 s, a loaded TCG guest) for it to reach the guest's pty (0 0 at first)
      { "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; i=0; while [ \"$(stty size)\" = '0 0' ] && [ $i -lt 600 ]; " ..
        "do sleep 0.1; i=$((i+1)); done; stty size; exit 3" }, { "-t" }))
    -- script(1) runs the command with $SHELL: the same shell wherever the suite runs
    local _, _, status = os.execute(("SHELL=/bin/sh script -qec %s /dev/null </dev/null >%s 2>&1"):format(
      run.q(inner), run.q(out)))
    local text = run.read(out) or ""
    assert.equal(3, status, text)
    -- the guest pty turns \n into \r\n and the caller's terminal (not raw: stdin is no tty) once more, as with runc
    assert.matches("is%-a%-tty\r+\n", text)
    assert.matches("30 100\r+\n", text)
  end)

  it("shows kata-runtime's error when create fails, and leaves nothing behind", function()
    -- a program that is not in the image: create fails (as with runc), so ctr run --rm cleans up
    local status, _, err = ctd.ctr(d, ctd.run_args(d, "nx" .. n, { "nosuchprog" }))
    assert.equal(1, status)
    assert.equal("ctr: failed to create shim task: OCI runtime create failed: create container: "
      .. "exec 'nosuchprog': No such file or directory: unknown\n", err)
    assert.same({}, ctd.leaks(d))

    -- a createRuntime hook that does not exist, from a whole OCI spec given to ctr (its rootfs a directory)
    local rootfs = tmp .. "/hook-rootfs"
    assert(os.execute(("cp -a %s %s"):format(run.q(world.rootfs_template()), run.q(rootfs))))
    local config = vc.oci.default_spec()
    config.root = { path = rootfs }
    config.process.terminal = false
    config.process.args = { "true" }
    config.hooks = { createRuntime = { { path = "/no/such/hook" } } }
    run.write(tmp .. "/hook.json", vc.json.encode(config))
    local args = { "run", "--rm", "--config", tmp .. "/hook.json" }
    for _, f in ipairs(ctd.run_flags(d)) do args[#args + 1] = f end
    args[#args + 1] = "hook" .. n
    status, _, err = ctd.ctr(d, args)
    assert.equal(1, status)
    assert.equal("ctr: failed to create shim task: OCI runtime create failed: error running createRuntime hook #0: "
      .. "exec '/no/such/hook': No such file or directory: unknown\n", err)
  end)

  it("ctr run --cni puts the container on a bridge the spec configures, and it reaches a server there", function()
    -- ctr's CNI (go-cni) reads /etc/cni/net.d and runs plugins from /opt/cni/bin, fixed places: the spec's
    -- config sorts first there for the case's length only, and /opt/cni/bin (Debian has the plugins in
    -- /usr/lib/cni) is made only when missing and removed again.
    local tag = vc.proc.getpid() % 200 + 20
    local name, bridge = "kata-spec-" .. vc.proc.getpid(), "kspec" .. vc.proc.getpid() % 100000
    local conf = "/etc/cni/net.d/10-" .. name .. ".conflist"
    local gw, port = ("10.231.%d.1"):format(tag), 26000 + vc.proc.getpid() % 5000
    local made_bin, made_opt, made_netd = not vc.fs.stat("/opt/cni/bin"), not vc.fs.stat("/opt/cni"), not vc.fs.stat("/etc/cni/net.d")
    local httpd
    local ok, err = pcall(function()
      if made_bin then assert(os.execute("mkdir -p /opt/cni && ln -s /usr/lib/cni /opt/cni/bin")) end
      assert(vc.fs.mkdir_p("/etc/cni/net.d"))
      run.write(conf, vc.json.encode({ cniVersion = "0.4.0", name = name, plugins = { {
        type = "bridge", bridge = bridge, isGateway = true, ipMasq = false,
        ipam = { type = "host-local", dataDir = tmp .. "/cni-ipam", ranges = { { { subnet = ("10.231.%d.0/24"):format(tag) } } },
          routes = { { dst = "0.0.0.0/0" } } } } } }))
      -- the bridge with the gateway's address made first (the bridge plugin takes it as it finds it), so the
      -- server can listen there before the container exists
      assert(os.execute(("ip link add %s type bridge && ip addr add %s/24 dev %s && ip link set %s up"):format(bridge, gw, bridge, bridge)))
      local www = tmp .. "/www"
      assert(vc.fs.mkdir_p(www))
      run.write(www .. "/hello.txt", "hello-over-cni\n")
      local _, pid = run.sh(("busybox httpd -f -p %s:%d -h %s </dev/null >/dev/null 2>&1 & echo $!"):format(gw, port, run.q(www)))
      httpd = assert(tonumber(pid))
      local status, out, e = ctd.ctr(d, ctd.run_args(d, "cni" .. n, { "sh", "-c",
        ("ip -o -4 addr show dev eth0 | grep -o 'inet [0-9.]*'; wget -q -O - http://%s:%d/hello.txt"):format(gw, port) }, { "--cni" }))
      assert.equal(0, status, out .. e)
      assert.matches(("^inet 10%%.231%%.%d%%.%%d+\nhello%%-over%%-cni\n$"):format(tag), out)
    end)
    if httpd then vc.proc.kill(httpd, 9); vctest.proc.reap() end
    ctd.clean(d)
    os.remove(conf)
    os.execute("ip link del " .. bridge .. " 2>/dev/null")
    if made_bin then os.remove("/opt/cni/bin") end
    if made_opt then vc.fs.rmdir("/opt/cni") end
    if made_netd then vc.fs.rmdir("/etc/cni/net.d") end
    assert(ok, err)
  end)
end)

-- The OCI specs containerd 1.6's CRI plugin writes for a pod (RunPodSandbox) and its containers
-- (CreateContainer): its annotations exactly, and the namespaces, mounts, cgroup path and OOM score it
-- sets, with kata-runtime as the runc v2 shim's BinaryName would run them.
describe("pods as containerd's CRI plugin makes them #integration", function()
  local tmp, root, n = nil, nil, 0
  local rt = function(...) return world.rt(root, { ... }) end

  setup(function()
    if not ok_env then return end
    assert(vctest.proc.set_subreaper())
    tmp = run.tmpdir("kata-cri")
  end)
  -- mounts under tmp, deepest first (a failed case may leave a pod's netns file bound)
  local function unmount_all()
    local mps = {}
    for line in io.lines("/proc/self/mountinfo") do
      local mp = line:match("^%S+ %S+ %S+ %S+ (%S+)")
      if mp and mp:sub(1, #tmp + 1) == tmp .. "/" then mps[#mps + 1] = mp end
    end
    for i = #mps, 1, -1 do os.execute("umount -l " .. run.q(mps[i])) end
  end
  teardown(function()
    if tmp then unmount_all(); run.rmrf(tmp) end
    if world.ROOTFS_TEMPLATE then run.rmrf(world.ROOTFS_TEMPLATE); world.ROOTFS_TEMPLATE = nil end
  end)
  before_each(function()
    n = n + 1
    root = ("%s/root%d"):format(tmp, n)
  end)
  after_each(function()
    if not ok_env then return end
    for _, id in ipairs(vc.state.list(root) or {}) do world.rt(root, { "delete", "--force", id }) end
    assert.same({}, world.leaks(root))
  end)

  if not ok_env then
    pending("CRI pod specs skipped: " .. why)
    return
  end

  -- CRI ids are 64 hex digits
  local function cri_id(seed)
    local p = io.popen("printf %s " .. run.q(seed .. n) .. " | sha256sum")
    local id = p:read("l"):match("^(%x+)")
    p:close()
    return id
  end

  local POD = { name = "web", namespace = "default", uid = "6f1c2f0e-8a51-4a8e-9a52-1d2f3c4b5a69", hostname = "web-pod" }

  -- the pod's files the CRI plugin keeps on the host and binds into every container
  local function pod_files(dir)
    assert(vc.fs.mkdir_p(dir .. "/shm"))
    run.write(dir .. "/hostname", POD.hostname .. "\n")
    run.write(dir .. "/hosts", "127.0.0.1\tlocalhost\n")
    run.write(dir .. "/resolv.conf", "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n")
  end

  local function ns_list(entries)
    local out = {}
    for _, e in ipairs(entries) do out[#out + 1] = e end
    return out
  end

  it("puts the sandbox and its containers in one VM, binds the pod's files, and tears down like kubelet", function()
    local sid = cri_id("sandbox")
    local poddir = ("%s/pod-%d"):format(tmp, n)
    pod_files(poddir)
    -- the pod's network namespace, made the way CNI's netns helper makes it: a bind-mounted nsfs file
    local netns = poddir .. "/netns"
    run.write(netns, "")
    assert(os.execute("unshare --net=" .. run.q(netns) .. " true"))

    local sb = world.bundle(("%s/sb-%d"):format(tmp, n), { "sleep", "3600" }, function(c) -- the pause container
      c.hostname = POD.hostname
      c.annotations = {
        ["io.kubernetes.cri.container-type"] = "sandbox",
        ["io.kubernetes.cri.sandbox-id"] = sid,
        ["io.kubernetes.cri.sandbox-namespace"] = POD.namespace,
        ["io.kubernetes.cri.sandbox-name"] = POD.name,
        ["io.kubernetes.cri.sandbox-log-directory"] = ("/var/log/pods/%s_%s_%s"):format(POD.namespace, POD.name, POD.uid),
      }
      c.linux.namespaces = ns_list({ { type = "pid" }, { type = "ipc" }, { type = "uts" }, { type = "mount" },
        { type = "network", path = netns } })
      c.linux.cgroupsPath = "/kubepods/besteffort/pod" .. POD.uid .. "/" .. sid
      c.linux.resources = { cpu = { shares = 2 } }
      c.process.oomScoreAdj = -998
      c.process.noNewPrivileges = true
      c.mounts[#c.mounts + 1] = { destination = "/dev/shm", type = "bind", source = poddir .. "/shm",
        options = { "rbind", "ro" } }
    end)
    local s, _, e = rt("create", "-b", sb, "--pid-file", sb .. "/pid", sid)
    assert.equal(0, s, e)
    assert.equal(0, (rt("start", sid)))
    local spid = world.state(root, sid).pid

    local ids, ipc, pid1 = {}, {}, {}
    for i = 1, 2 do
      local name = "app" .. i
      local cid = cri_id(name)
      local b = world.bundle(("%s/%s-%d"):format(tmp, name, n), { "sh", "-c",
        "{ echo " .. name .. "; cat /etc/hostname; hostname; cat /etc/resolv.conf; readlink /proc/self/ns/ipc; " ..
        "tr '\\0' ' ' </proc/1/cmdline; echo; } > /out.tmp; mv /out.tmp /out; sleep 3600" }, function(c)
        c.hostname = nil
        c.annotations = {
          ["io.kubernetes.cri.container-type"] = "container",
          ["io.kubernetes.cri.sandbox-id"] = sid,
          ["io.kubernetes.cri.sandbox-namespace"] = POD.namespace,
          ["io.kubernetes.cri.sandbox-name"] = POD.name,
          ["io.kubernetes.cri.container-name"] = name,
          ["io.kubernetes.cri.image-name"] = "docker.io/library/busybox:latest",
        }
        -- joins the sandbox's namespaces by /proc path; app1 has its own pid namespace (CRI's default),
        -- app2 the sandbox's, as CRI gives every container of a pod with shareProcessNamespace
        local pidns = i == 2 and { type = "pid", path = ("/proc/%d/ns/pid"):format(spid) } or { type = "pid" }
        c.linux.namespaces = ns_list({ pidns, { type = "ipc", path = ("/proc/%d/ns/ipc"):format(spid) },
          { type = "uts", path = ("/proc/%d/ns/uts"):format(spid) }, { type = "mount" },
          { type = "network", path = ("/proc/%d/ns/net"):format(spid) } })
        c.linux.cgroupsPath = "/kubepods/besteffort/pod" .. POD.uid .. "/" .. cid
        for _, m in ipairs({ { "/etc/hosts", "hosts" }, { "/etc/hostname", "hostname" }, { "/etc/resolv.conf", "resolv.conf" } }) do
          c.mounts[#c.mounts + 1] = { destination = m[1], type = "bind", source = poddir .. "/" .. m[2],
            options = { "rbind", "rprivate", "rw" } }
        end
        c.mounts[#c.mounts + 1] = { destination = "/dev/shm", type = "bind", source = poddir .. "/shm",
          options = { "rbind", "rprivate", "rw" } }
      end)
      s, _, e = rt("create", "-b", b, cid)
      assert.equal(0, s, e)
      assert.equal(0, (rt("start", cid)))
      ids[#ids + 1] = cid
      local out = world.wait_for(function() return run.read(b .. "/rootfs/out") end)
      -- the pod's files, and the pod's hostname from the sandbox's UTS namespace (as under runc)
      local want = name .. "\n" .. POD.hostname .. "\n" .. POD.hostname .. "\n" .. run.read(poddir .. "/resolv.conf")
      assert.equal(want, out:sub(1, #want))
      ipc[#ipc + 1], pid1[#pid1 + 1] = out:sub(#want + 1):match("^([^\n]*)\n([^\n]*)\n$")
    end
    assert.matches("^ipc:%[%d+%]$", ipc[1])
    assert.equal(ipc[1], ipc[2]) -- one IPC namespace for the pod
    assert.matches("^sh %-c ", pid1[1]) -- its own pid namespace: its own process is pid 1
    assert.equal("sleep 3600 ", pid1[2]) -- the pod's: the sandbox container's process is pid 1
    local ps, pso = rt("ps", "--format", "json", ids[2])
    assert.equal(0, ps)
    assert.equal(1, #vc.json.decode(pso)) -- ps lists the container's own processes, not the pod's
    local es, eo = rt("exec", ids[1], "hostname")
    assert.equal(0, es)
    assert.equal(POD.hostname .. "\n", eo)
    local q = {}
    for _, p in ipairs(world.processes(root)) do if p:match("qemu%-system") then q[#q + 1] = p end end
    assert.equal(1, #q)

    -- StopContainer of app2, then StopPodSandbox with app1 still running (a pause container that dies
    -- takes the pod along): the VM goes, and app1 with it; then the removals
    assert.equal(0, (rt("kill", ids[2], "KILL")))
    assert.equal("running", world.state(root, ids[1]).status)
    assert.equal(0, (rt("kill", sid, "KILL")))
    assert.truthy(world.wait_for(function() return #world.processes(root) == 0 end, 30),
      table.concat(world.processes(root), "\n") .. "\n" .. (run.read(root .. ".log") or ""):sub(-3000))
    local t0 = vc.clock.monotonic()
    for _, cid in ipairs(ids) do
      assert.equal("stopped", world.state(root, cid).status)
      assert.equal(0, (rt("delete", cid)))
    end
    assert.equal(0, (rt("delete", sid)))
    -- with the VM gone there is no one to ask: no waiting for its socket (was 5 s per container)
    assert.is_true(vc.clock.monotonic() - t0 < 4, "deletes took " .. (vc.clock.monotonic() - t0) .. " s")
    assert(os.execute("umount " .. run.q(netns)))
  end)
end)
