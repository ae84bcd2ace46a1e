--- Fault injection for the test suite: KATA_FAULT=<command>:<N>:<action> makes `kata-runtime <command>`
--- act at its N-th step, just before the step is taken. A step is every primitive call that makes or
--- unmakes something -- the lock, a state save or removal, a directory, the share and its mounts, the
--- network namespace, the launch, a guest call that changes the guest, the shim, a signal, a hook run --
--- counted from 1 in the order the command makes them (its rollback's steps count on). Actions:
---
---   kill  SIGKILL the runtime itself (a crash, an OOM kill, an engine's kill -9)
---   term  SIGTERM the runtime itself (an engine's timeout; create rolls back on it)
---   stop  SIGSTOP the runtime itself, so that a test can kill a part of the sandbox (its supervisor,
---         qemu, virtiofsd, a shim) at that point and SIGCONT the runtime
---
--- The knob needs no opt-in: it lets the runtime's caller do to it only what the caller can do anyway (a
--- caller that sets the runtime's environment can signal it, and as root every process it starts). With
--- --debug every step is logged ("fault injection: step N: ..."), which lists a command's steps.
local M = {}

M.ACTIONS = { kill = 9, term = 15, stop = 19 }
M.VARIABLE = "KATA_FAULT"

--- The steps: primitives (api.<ns>.<fn>) that make or unmake something.
M.STEPS = {
  state = { "save", "remove" },
  fs = { "mkdir_p", "atomic_write", "rmdir", "unlink", "bind", "umount" },
  sharefs = { "setup", "teardown", "mkdir", "mkfile", "bind", "umount", "remove" },
  sandbox = { "launch", "remove_dir" },
  netns = { "create", "delete", "remove_dir" },
  net = { "mirror", "unmirror" },
  shim = { "spawn", "exec" },
  proc = { "kill", "spawn_detached" },
  purge = { "processes" },
  hook = { "run_all" },
}

--- Methods of a sandbox connection (and sb:call methods) that change the guest or the sandbox.
M.CONNECTION_STEPS = {
  create_container = true, start_container = true, remove_container = true, signal_process = true,
  exec_process = true, start_process = true, pause_container = true, resume_container = true,
  update_container = true, shutdown = true, qmp = true, ["sup.qmp"] = true, update_interface = true,
}

--- Parse the variable's value: { command =, step =, action = }, or nil and a one-line error.
---@param s string
function M.parse(s)
  local command, n, action = s:match("^(%a+):(%d+):(%a+)$")
  local step = n and math.tointeger(tonumber(n))
  if not command or not step or step < 1 or not M.ACTIONS[action] then
    return nil, ("%s='%s': want <command>:<step>:<kill|term|stop>, step from 1"):format(M.VARIABLE, s)
  end
  return { command = command, step = step, action = action }
end

--- Wrap api's step primitives (in place of its tables: the vc module itself is left alone) so that each
--- call counts, and `fault.action` happens at step `fault.step`. `api.proc` must be the real one.
---@param api table the command's primitives, before the mechanism is attached
---@param fault table from M.parse
---@param debug boolean log every step
function M.arm(api, fault, debug)
  local kill, getpid, log = api.proc.kill, api.proc.getpid, api.log
  local count = 0
  local function step(what)
    count = count + 1
    if debug then log.debug("fault injection: step %d: %s", count, what) end
    if count == fault.step then
      log.warn("fault injection: %s at step %d (%s)", fault.action, count, what)
      kill(getpid(), M.ACTIONS[fault.action])
    end
  end
  local function counted(what, f)
    return function(...)
      step(what)
      return f(...)
    end
  end
  for ns, names in pairs(M.STEPS) do
    local t = {}
    for k, v in pairs(api[ns]) do t[k] = v end
    for _, name in ipairs(names) do
      if type(t[name]) == "function" then t[name] = counted(ns .. "." .. name, t[name]) end
    end
    api[ns] = t
  end
  -- a handle's methods: a proxy that counts the ones that change something
  local function proxy(obj, prefix, counts)
    local p = {}
    return setmetatable(p, {
      __index = function(_, k)
        local v = obj[k]
        if type(v) ~= "function" then return v end
        return function(self, ...)
          if self ~= p then return v(self, ...) end
          local method = k == "call" and select(1, ...) or k
          if counts(method) then step(prefix .. method) end
          return v(obj, ...)
        end
      end,
      __tostring = function() return tostring(obj) end,
    })
  end
  local connect = api.sandbox.connect
  api.sandbox.connect = function(...)
    local sb, err, code = connect(...)
    if not sb then return sb, err, code end
    return proxy(sb, "sandbox:", function(m) return M.CONNECTION_STEPS[m] end)
  end
  local lock = api.lock
  api.lock = function(...)
    step("lock")
    local l, err, code = lock(...)
    if not l then return l, err, code end
    return proxy(l, "lock:", function(m) return m == "release" end)
  end
end

return M
