-- Limits that hold (issue 10): pattern matching counted as policy code, the deadline over sleeps and
-- waits, the memory reserve for the rollback, and the least-privilege api a policy gets.
local vc = require("vc")
local pattern = require("kata.pattern")
local loader = require("kata.loader")
local api_mod = require("kata.api")
local fakes = require("spec.helpers.fakes")

describe("kata.pattern", function()
  local CASES = {
    { "find", "hello world", "o w" }, { "find", "hello world", "l+" }, { "find", "hello", "(h)(e)" }, { "find", "hello", "()ll()" },
    { "find", "abc", "^b" }, { "find", "abc", "c$" }, { "find", "a.b", ".", 1, true }, { "find", "THE (quick) fox", "%((%a+)%)" },
    { "find", "x = 10", "(%w+)%s*=%s*(%w+)" }, { "find", "[[x]]", "%b[]" }, { "find", "THE (quick) fox", "%f[%a]%a+", 5 },
    { "find", "abc", "b", -1 }, { "find", "abc", "", 10 },
    { "match", "2024-01-02", "(%d+)-(%d+)-(%d+)" }, { "match", "key=val", "^(.-)=(.*)$" }, { "match", "hello", ".-(l+)(.*)" },
    { "match", "  trim  ", "^%s*(.-)%s*$" }, { "match", "abab", "(ab)%1" }, { "match", "x", "()" }, { "match", "abc", "[a-b]+" },
    { "match", "abc", "[^a]+" }, { "match", "a]b", "[]]" }, { "match", "a-b", "[%-]" }, { "match", "hello", "l*" },
    { "match", "hello", "he?l" }, { "match", "hello", "x?h" }, { "match", "abc", "b", -2 }, { "match", "", ".*" },
    { "match", "0x1F", "^0[xX](%x+)$" }, { "match", "A1 b2", "%u%d" }, { "match", "tab\there", "%c" }, { "match", "a,b", "%p" },
    { "gsub", "hello world", "o", "0" }, { "gsub", "hello world", "(%w+)", "<%1>" }, { "gsub", "abc", "%w*", "-" },
    { "gsub", "abc", "", "-" }, { "gsub", "hello", "l", { l = "L" } }, { "gsub", "abc", "^a", "x" }, { "gsub", "aaa", "a", "b", 2 },
    { "gsub", "a.b", "%.", "%%" }, { "gsub", "$1 $2", "%$(%d)", "#%1" }, { "gsub", "abc", "b*", "X" }, { "gsub", "hello", "(l)(l)", "%2%1%0" },
  }
  for _, c in ipairs(CASES) do
    it(("%s(%q, %q) as the string library does"):format(c[1], c[2], tostring(c[3])), function()
      assert.same(table.pack(string[c[1]](table.unpack(c, 2))), table.pack(pattern[c[1]](table.unpack(c, 2))))
    end)
  end

  it("gmatch and a function replacement as the string library does", function()
    for _, g in ipairs({ { "hello world from lua", "%a+" }, { "k=v, a=b", "(%w+)=(%w+)" }, { "abc", "" }, { "abc", "%w*" } }) do
      local x, y = {}, {}
      for a, b in string.gmatch(g[1], g[2]) do x[#x + 1] = { a, b } end
      for a, b in pattern.gmatch(g[1], g[2]) do y[#y + 1] = { a, b } end
      assert.same(x, y)
    end
    local up = function(w) return w:upper() end
    assert.same({ string.gsub("hello world", "%w+", up) }, { pattern.gsub("hello world", "%w+", up) })
  end)

  it("raises the string library's errors for malformed patterns", function()
    for _, p in ipairs({ "%", "[a", "(x", "%1", "%f", "%b" }) do
      local _, e1 = pcall(string.find, "x", p)
      local _, e2 = pcall(pattern.find, "x", p)
      assert.equal(e1:gsub("^.-:%d+: ", ""), e2)
    end
  end)
end)

describe("vc.limits", function()
  after_each(function()
    vc.limits.lift()
    vc.limits.set_memory(0)
    loader.set_limits(nil)
  end)

  local function policy_fn(src)
    local chunk = assert(load(src, "=policy/t", "t", loader.env()))
    return chunk()
  end

  it("counts pattern matching in policy code: a backtracking bomb stops at the budget (issue 10)", function()
    loader.set_limits(vc.limits)
    local f = policy_fn("return function() local s = string.rep('a', 5000); return s:find('.-.-.-.-x') end")
    vc.limits.set_instruction_budget(5000000)
    local t0 = vc.clock.monotonic()
    local ok, err = vc.limits.run(f)
    assert.is_false(ok)
    assert.equal("script exceeded its instruction budget", err.msg)
    assert.is_true(vc.clock.monotonic() - t0 < 10)
    -- a pcall in the policy cannot swallow it
    f = policy_fn("return function() while true do pcall(string.find, ('a'):rep(3000), '.-.-.-x') end end")
    vc.limits.set_instruction_budget(5000000)
    ok, err = vc.limits.run(f)
    assert.is_false(ok)
    assert.equal("script exceeded its instruction budget", err.msg)
  end)

  it("ends a sleep at the deadline, and waits in primitives too", function()
    vc.limits.set_deadline(0.3)
    local t0 = vc.clock.monotonic()
    local ok, err = vc.limits.run(function() while true do pcall(vc.clock.sleep, 3600) end end)
    assert.is_false(ok)
    assert.equal("command exceeded its deadline of 0 s", err.msg)
    assert.is_true(vc.clock.monotonic() - t0 < 5)
    vc.limits.set_deadline(0.3)
    t0 = vc.clock.monotonic()
    assert.is_nil(vc.sandbox.connect("/nonexistent/sup.sock", 3600)) -- its retries end at the deadline
    assert.is_true(vc.clock.monotonic() - t0 < 5)
  end)

  it("does not budget the runtime's own (trusted) functions", function()
    local spin = vc.limits.trusted(function() local n = 0 for i = 1, 3000000 do n = n + i end return n end)
    vc.limits.set_instruction_budget(1000000)
    local ok, n = vc.limits.run(function() return spin() end)
    assert.is_true(ok)
    assert.equal(4500001500000, n)
  end)

  it("keeps a reserve of memory for the rollback after a policy ran out", function()
    collectgarbage()
    local base = math.floor(collectgarbage("count") * 1024)
    vc.limits.set_memory(base + 48 * 1024 * 1024, 16 * 1024 * 1024)
    local hoard = {}
    local ok, err = vc.limits.run(function() while true do hoard[#hoard + 1] = ("x"):rep(1 << 20) .. #hoard end end)
    assert.is_false(ok)
    assert.equal("not enough memory", err.msg)
    -- the runtime's code still gets 8 MiB while the policy's hoard is alive
    local ok2 = pcall(function() return ("y"):rep(8 << 20) end)
    assert.is_true(ok2)
    hoard = nil
  end)
end)

describe("a policy's api", function()
  local api, view
  before_each(function()
    api = fakes.api()
    view = api_mod.policy_view(api, fakes.ctx("create", { "c1" }, { bundle = "/bundle" }))
  end)

  it("leaves out VM launch, namespaces, raw hooks, process waits and the limits", function()
    assert.is_nil(view.sandbox.launch)
    assert.is_nil(view.netns.create)
    assert.is_nil(view.netns.delete)
    assert.is_nil(view.hook.run_all)
    assert.is_nil(view.proc.wait)
    assert.is_nil(view.limits)
    assert.is_function(view.pod.launch)
  end)

  it("confines writes to --root and the bundle and reads to those", function()
    local ok, err, code = view.fs.atomic_write("/etc/cron.d/x", "boom", 420)
    assert.is_nil(ok)
    assert.equal("'/etc/cron.d/x': a policy may write only under --root and the bundle", err)
    assert.equal("EPERM", code)
    assert.is_nil((view.fs.atomic_write("/run/kata/../../etc/x", "", 420)))
    assert.is_nil((view.fs.bind("/run/kata/x", "/etc")))
    assert.is_true(view.fs.atomic_write("/run/kata/c1/note", "ok", 420))
    assert.is_true(view.fs.atomic_write("/bundle/note", "ok", 420))
    assert.equal("'/etc/shadow': a policy may read only under --root and the bundle", select(2, view.read_file("/etc/shadow")))
  end)

  it("signals only the runtime's own processes and connects only under --root", function()
    local ok, err = view.proc.kill(1, 9)
    assert.is_nil(ok)
    assert.equal("pid 1: a policy may signal only the runtime's own processes", err)
    assert.equal("'/run/containerd/containerd.sock': a policy may connect only to sockets under --root",
      select(2, view.sandbox.connect("/run/containerd/containerd.sock")))
  end)

  it("runs only the container's own hooks, and launches only the configured programs", function()
    local ok, err = view.hooks.run("prestart", { { path = "/bin/sh", args = { "sh", "-c", "id" } } }, {}, nil, "/bundle")
    assert.is_nil(ok)
    assert.equal("prestart hook #0: '/bin/sh' is not one of the container's hooks nor in runtime.allowed_hook_paths", err)
    local st = { id = "c1", runtime = { sandbox_id = "c1", sandbox_dir = "/run/kata/.sandbox/c1", hooks = {} } }
    local vm = view.pod.vm_defaults(fakes.ctx("create"))
    vm.qemu = "/tmp/evil"
    local info, lerr, code = view.pod.launch(st, vm)
    assert.is_nil(info)
    assert.equal("the VM must use the configured programs (qemu '/usr/bin/qemu', virtiofsd '/v')", lerr)
    assert.equal("EPERM", code)
  end)
end)
