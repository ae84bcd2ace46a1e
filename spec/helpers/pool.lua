--- Independent integration cases run side by side: each case is a function run as a coroutine that
--- starts kata-runtime (and anything else) in the background and waits for it by yielding, so that a few
--- guests boot at once. `M.run` returns the failures of all cases, each named.
local vc = require("vc")
local run = require("spec.helpers.run")

local M = {}

local seq = 0

-- An error's message: busted's assertion errors are tables with a __tostring.
local function message(err)
  local mt = type(err) == "table" and getmetatable(err)
  return (mt and mt.__tostring or type(err) ~= "table") and tostring(err) or tostring(err.message or err.msg)
end

--- Wait until pred() returns a true value, or timeout seconds pass; returns pred's last answer. Inside a
--- case it yields to the other cases between tries; outside one it sleeps.
function M.wait(pred, timeout)
  local deadline = vc.clock.monotonic() + (timeout or 60)
  while true do
    local v = pred()
    if v or vc.clock.monotonic() >= deadline then return v end
    if coroutine.isyieldable() then coroutine.yield() else vc.clock.sleep(0.05) end
  end
end

--- Start a shell command in the background; returns { pid = (the command's own pid), status = fn }.
--- The command's stdio is redirected by the caller; the wrapper's own goes to /dev/null, so that a job
--- left behind never holds the output of the test run open. Both files are written whole (a rename):
--- a reader never sees one half-written.
---@param dir string a directory for the bookkeeping files
function M.spawn(dir, cmd)
  seq = seq + 1
  local pidf, stf = ("%s/job%d.pid"):format(dir, seq), ("%s/job%d.status"):format(dir, seq)
  local ptmp, stmp = pidf .. ".tmp", stf .. ".tmp"
  os.execute("bash -c " .. run.q(("(%s & echo $! > %s; mv %s %s; wait $!; echo $? > %s; mv %s %s) >/dev/null 2>&1 </dev/null &")
    :format(cmd, run.q(ptmp), run.q(ptmp), run.q(pidf), run.q(stmp), run.q(stmp), run.q(stf))))
  local job = {}
  function job.status()
    local s = run.read(stf)
    return s and tonumber(s)
  end
  local pid = M.wait(function() return tonumber(run.read(pidf) or "") end, 60)
  assert(pid, "no pid from the background job: " .. cmd)
  job.pid = pid
  M.jobs[#M.jobs + 1] = job
  return job
end

--- Every job started, so that a teardown can stop what a failed case left running.
M.jobs = {}

--- Kill (SIGKILL, after SIGCONT for a stopped one) every job that has not ended.
function M.kill_jobs()
  for _, job in ipairs(M.jobs) do
    if not job.status() and vc.proc.alive(job.pid) then
      vc.proc.kill(job.pid, 18)
      vc.proc.kill(job.pid, 9)
    end
  end
  M.jobs = {}
end

--- kata-runtime with `args` under `root`, in the background, `env` added to its environment. Returns
--- the job (see M.spawn) and a function that waits for it: status, stdout, stderr.
function M.rt(root, args, env)
  seq = seq + 1
  local out, err = ("%s.out%d"):format(root, seq), ("%s.err%d"):format(root, seq)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. run.q(v) end
  parts[#parts + 1] = run.q(run.runtime)
  for _, a in ipairs({ "--root", root, "--log", root .. ".log", "--log-format", "json" }) do parts[#parts + 1] = run.q(a) end
  for _, a in ipairs(args) do parts[#parts + 1] = run.q(a) end
  local cmd = ("exec env %s </dev/null >%s 2>%s"):format(table.concat(parts, " "), run.q(out), run.q(err))
  local dir = root:match("^(.*)/[^/]+$")
  local job = M.spawn(dir, cmd)
  return job, function(timeout)
    local s = M.wait(job.status, timeout or 300)
    return s, run.read(out) or "", run.read(err) or ""
  end
end

--- kata-runtime run to its end (inside a case): status, stdout, stderr.
function M.rt_wait(root, args, env, timeout)
  local _, wait = M.rt(root, args, env)
  return wait(timeout)
end

--- Run `cases` ({ name =, fn = }) at most `parallel` at a time. Returns the failures ("name: message")
--- and the wall time in seconds.
function M.run(cases, parallel)
  local t0 = vc.clock.monotonic()
  local failures, active, next_case = {}, {}, 1
  while next_case <= #cases or #active > 0 do
    while #active < parallel and next_case <= #cases do
      local c = cases[next_case]
      next_case = next_case + 1
      active[#active + 1] = { name = c.name, co = coroutine.create(c.fn) }
    end
    local still = {}
    for _, a in ipairs(active) do
      local ok, err = coroutine.resume(a.co)
      if not ok then
        failures[#failures + 1] = ("%s: %s"):format(a.name, message(err))
      elseif coroutine.status(a.co) ~= "dead" then
        still[#still + 1] = a
      end
    end
    active = still
    if #active > 0 then vc.clock.sleep(0.05) end
  end
  return failures, vc.clock.monotonic() - t0
end

--- The workspace of a spec file whose cases each take a --root of their own: ws.setup() and ws.teardown()
--- (for busted's setup and teardown: a subreaper for the runtime's orphans, a temporary directory, and at
--- the end delete --force of whatever a failed case left in any root), ws.new_root(), ws.tmp.
function M.workspace(prefix)
  local vctest = require("vctest")
  local world = require("spec.helpers.world")
  local ws = { roots = 0 }
  function ws.setup()
    assert(vctest.proc.set_subreaper())
    ws.tmp = run.tmpdir(prefix)
  end
  function ws.teardown()
    M.kill_jobs()
    for i = 1, ws.roots do
      local root = ("%s/root%d"):format(ws.tmp, i)
      for _, id in ipairs(vc.state.list(root) or {}) do world.rt(root, { "delete", "--force", id }) end
    end
    -- teardowns the deletes left to the background go first: they read their records from under ws.tmp
    if ws.tmp then world.settle({ ws.tmp }) end
    vctest.proc.set_subreaper(false)
    if ws.tmp then os.execute("umount -R " .. run.q(ws.tmp) .. " 2>/dev/null"); run.rmrf(ws.tmp) end
    if world.ROOTFS_TEMPLATE then run.rmrf(world.ROOTFS_TEMPLATE) end
  end
  function ws.new_root()
    ws.roots = ws.roots + 1
    return ("%s/root%d"):format(ws.tmp, ws.roots)
  end
  return ws
end

--- A workspace whose cases each get a --root of their own (ws.root, ws.n: the case's number), for busted's
--- hooks in the spec's describe block: setup(ws.setup) teardown(ws.teardown) before_each(ws.before_each)
--- after_each(ws.after_each). After each case whatever it left is force-deleted and the root must be clean
--- (world.leaks). Without `ok_env` (world.available()) the hooks do nothing.
function M.case_roots(prefix, ok_env)
  local world = require("spec.helpers.world")
  local ws = M.workspace(prefix)
  local setup, teardown = ws.setup, ws.teardown
  ws.n = 0
  function ws.setup() if ok_env then setup() end end
  function ws.teardown() if ok_env then teardown() end end
  function ws.before_each()
    if not ok_env then return end
    ws.root = ws.new_root()
    ws.n = ws.roots
  end
  function ws.after_each()
    if not ok_env then return end
    M.kill_jobs()
    for _, id in ipairs(vc.state.list(ws.root) or {}) do world.rt(ws.root, { "delete", "--force", id }) end
    require("luassert").same({}, world.leaks(ws.root))
  end
  return ws
end

--- Run `cases` ({ name =, fn = function(root) }) in `parallel` lanes, each lane taking the next case in turn
--- with a --root of its own from new_root(): every case starts on a clean root and must leave it clean, so
--- the cases of a lane follow each other on one root. A failed case moves its lane to a fresh root. Each
--- lane ends with finish(root) (may be nil). Returns the failures ("name: message") and the wall time.
function M.lanes(cases, parallel, new_root, finish)
  local failures, queue, out = {}, {}, {}
  for i, c in ipairs(cases) do queue[i] = c end
  for l = 1, math.min(parallel, #cases) do
    out[l] = { name = "lane " .. l, fn = function()
      local root = new_root()
      while #queue > 0 do
        local c = table.remove(queue, 1)
        local ok, err = pcall(c.fn, root)
        if not ok then
          failures[#failures + 1] = c.name .. ": " .. message(err)
          root = new_root()
        end
      end
      if finish then
        local ok, err = pcall(finish, root)
        if not ok then failures[#failures + 1] = "lane " .. l .. " at its end: " .. message(err) end
      end
    end }
  end
  local errs, took = M.run(out, parallel)
  for _, e in ipairs(errs) do failures[#failures + 1] = e end
  return failures, took
end

return M
