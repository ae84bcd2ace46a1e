-- The installed runtime: `cmake --install` to a temporary prefix, then a container's lifecycle with
-- <prefix>/bin/kata-runtime alone (no VC_BUILD_DIR, no build path in any installed binary), ending with the
-- leak check. Run by the CTest test `install` (busted --tags=install).
local vc = require("vc")
local vctest = require("vctest") -- test-only primitives (not installed)
local run = require("spec.helpers.run")
local world = require("spec.helpers.world")

local ok_env, why = world.available()

describe("an installed kata-runtime #install", function()
  local tmp, prefix, root
  local build = vc.fs.realpath(run.build)
  local saved_runtime = run.runtime

  setup(function()
    if not ok_env then return end
    assert(vctest.proc.set_subreaper())
    tmp = run.tmpdir("kata-install")
    prefix, root = tmp .. "/prefix", tmp .. "/root"
    local out = os.tmpname()
    local ok = os.execute(("cmake --install %s --prefix %s >%s 2>&1"):format(run.q(build), run.q(prefix), run.q(out)))
    assert(ok, "cmake --install failed:\n" .. (run.read(out) or ""))
    os.remove(out)
    -- the runtime as an operator runs it: nothing of the build in its environment
    local wrapper = tmp .. "/kata-runtime"
    run.write(wrapper, ("#!/bin/sh\nexec env -u VC_BUILD_DIR -u LUA_PATH -u LUA_CPATH %s \"$@\"\n")
      :format(run.q(prefix .. "/bin/kata-runtime")))
    assert(os.execute("chmod +x " .. run.q(wrapper)))
    run.runtime = wrapper
  end)
  teardown(function()
    run.runtime = saved_runtime
    if ok_env then vctest.proc.set_subreaper(false) end
    if tmp then os.execute("umount -R " .. run.q(tmp) .. " 2>/dev/null"); run.rmrf(tmp) end
    if world.ROOTFS_TEMPLATE then run.rmrf(world.ROOTFS_TEMPLATE) end
  end)
  after_each(function()
    if not ok_env then return end
    for _, id in ipairs(vc.state.list(root) or {}) do world.rt(root, { "delete", "--force", id }) end
    assert.same({}, world.leaks(root))
  end)

  if not ok_env then
    pending("install spec skipped: " .. why)
    return
  end

  it("ships every program, the Lua, the chunks and the guest in Kata's layout", function()
    for _, f in ipairs({ "bin/kata-runtime", "libexec/kata-runtime/kata-supervisor", "libexec/kata-runtime/kata-shim",
      "libexec/kata-runtime/kata-agentctl", "libexec/kata-runtime/kata-recvtty",
      "share/kata-runtime/lua/kata/main.lua", "share/kata-runtime/luac/kata/main.luac",
      "share/kata-runtime/guest/kata/vmlinux", "share/kata-runtime/guest/kata/initrd.img",
      "share/kata-runtime/guest/debian/initrd.img", "libexec/kata-runtime/lua/vc.so",
      "share/kata-runtime/examples/operator_spec.lua", "share/kata-runtime/examples/start-log.lua" }) do
      assert.is_not_nil(vc.fs.stat(prefix .. "/" .. f), f)
    end
    assert.is_true(vc.fs.stat(prefix .. "/share/kata-runtime/guest/debian/vmlinux") ~= nil
      or vc.fs.stat(prefix .. "/share/kata-runtime/guest/debian/vmlinuz") ~= nil)
  end)

  it("has no build path compiled into an installed program", function()
    -- the strings a program can use (debug info naming the build directory is not one of them)
    for _, f in ipairs({ "bin/kata-runtime", "libexec/kata-runtime/kata-supervisor", "libexec/kata-runtime/kata-shim" }) do
      local p = io.popen(("readelf -p .rodata %s | grep -c -F %s"):format(run.q(prefix .. "/" .. f), run.q(build)))
      local n = p:read("l")
      p:close()
      assert.equal("0", n, f .. " names " .. build)
    end
  end)

  it("creates, starts, execs and deletes a container", function()
    local b = world.bundle(tmp .. "/bundle", { "sleep", "100" })
    local s, _, err = world.rt(root, { "create", "--bundle", b, "c1" })
    assert.equal(0, s, err)
    assert.equal("created", world.state(root, "c1").status)
    assert.equal(0, (world.rt(root, { "start", "c1" })))
    assert.equal("running", world.state(root, "c1").status)
    local es, out = world.rt(root, { "exec", "c1", "sh", "-c", "echo from-exec; exit 4" })
    assert.equal(4, es)
    assert.equal("from-exec\n", out)
    assert.equal(0, (world.rt(root, { "delete", "--force", "c1" })))
    assert.is_nil(world.state(root, "c1"))
  end)
end)
