-- containerd 1.6 drives kata-runtime unmodified: ctr with the runc v2 shim and kata-runtime as its runc
-- binary, against a private containerd (spec/helpers/containerd.lua); and pods the way containerd's CRI
-- plugin makes them, with its exact annotations, fed to kata-runtime directly. A leak check follows
-- every case.
local vc = require("vc")
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")
local ctd = require("spec.helpers.containerd")

local ok_env, why = ctd.available()

describe("containerd #integration", function()
  local tmp, d, n = nil, nil, 0

  setup(function()
    if not ok_env then return end
    assert(vc.proc.set_subreaper()) -- orphaned shims come to us, as to containerd-shim
    tmp = run.tmpdir("kata-ctd")
    if not world.ROOTFS_TEMPLATE then
      world.ROOTFS_TEMPLATE = run.tmpdir("kata-rootfs")
      assert(os.execute("bash scripts/make-rootfs.sh " .. run.q(world.ROOTFS_TEMPLATE) .. " >/dev/null"))
    end
    d = ctd.start(tmp .. "/ctd")
    ctd.import_image(d, world.ROOTFS_TEMPLATE)
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
      { "sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; stty size; exit 3" }, { "-t" }))
    local _, _, status = os.execute(("script -qec %s /dev/null </dev/null >%s 2>&1"):format(run.q(inner), run.q(out)))
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
    assert(os.execute(("cp -a %s %s"):format(run.q(world.ROOTFS_TEMPLATE), run.q(rootfs))))
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
end)
