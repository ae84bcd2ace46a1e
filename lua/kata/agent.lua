--- Mechanism: typed calls to the guest's agent (and the supervisor's own sup.* methods) over a sandbox
--- connection from api.pod.connect. A policy calls these, never a method name: the wire protocol
--- (docs/agent-protocol.md) is libvc's business (vc.Sandbox's typed methods, include/vc/agent.h).
---
--- Every call returns its result, or nil, a message and an error code, like the primitives: what a
--- failure means is the policy's decision.
local M = {}

M.TIMEOUT = 30 -- seconds for one agent call

function M.bind(api, undo)
  local A = {}
  local runs = 0

  --- Create container `st` in the guest from `config` (its spec), with `guest_mounts` (from api.share)
  --- and the pod namespaces to `join` (or nil). Records handle and guest_pid; a rollback removes it.
  function A.create_container(sb, st, config, guest_mounts, join)
    local spec = {}
    for k, v in pairs(config) do spec[k] = v end
    spec.mounts = api.json.array(guest_mounts)
    spec.hooks = nil -- hooks run on the host
    local res, err, code = sb:create_container(st.id, st.id .. "/rootfs", spec, join, M.TIMEOUT)
    if not res then return nil, err, code end
    undo.push("remove container in the guest", function() sb:remove_container(st.id, M.TIMEOUT) end)
    st.runtime.handle, st.runtime.guest_pid = res.handle, res.pid
    return res
  end

  --- Release a created container's process.
  function A.start_container(sb, id) return sb:start_container(id, M.TIMEOUT) end

  --- Remove a container from the guest (its processes must have exited).
  function A.remove_container(sb, id) return sb:remove_container(id, M.TIMEOUT) end

  --- Send signal `signo` to the container's init (or, with `all`, to every process in it).
  function A.signal(sb, id, signo, all)
    return sb:signal_process(id, nil, signo, all == true, M.TIMEOUT)
  end

  --- Wait up to `timeout` seconds for the container's init to exit. Returns its exit status or nil.
  function A.wait(sb, st, timeout)
    -- a create cut short before the guest made the container: no process to wait for
    if type(st.runtime.handle) ~= "number" then return nil, "the container has no process in the guest", "ENOENT" end
    return (sb:wait(st.runtime.handle, timeout))
  end

  function A.pause(sb, id) return sb:pause_container(id, M.TIMEOUT) end

  function A.resume(sb, id) return sb:resume_container(id, M.TIMEOUT) end

  --- Create an extra process (exec) in the container; returns { handle, pid }.
  function A.exec_process(sb, id, exec_id, process)
    return sb:exec_process(id, exec_id, process, M.TIMEOUT)
  end

  --- Release an exec'd process once its shim is attached (or will be).
  function A.start_process(sb, handle) return sb:start_process(handle, M.TIMEOUT) end

  --- Run `args` in the container (as its process's user, env and cwd) and wait up to `timeout` seconds for
  --- it to exit. Returns its exit status, or nil and why (ETIMEDOUT when it is still running: it is killed).
  function A.run(sb, st, args, timeout)
    local p = st.runtime.process or {}
    local argv = {}
    for i, a in ipairs(args) do argv[i] = tostring(a) end
    args = argv
    runs = runs + 1
    local exec_id = ("run-%d-%d-%d"):format(api.proc.getpid(), math.floor(api.clock.monotonic() * 1000) % 100000000, runs)
    local res, err, code = sb:exec_process(st.id, exec_id, { args = args, env = p.env, cwd = p.cwd or "/",
      user = p.user or { uid = 0, gid = 0 }, terminal = false }, M.TIMEOUT)
    if not res then return nil, err, code end
    local ok, serr, scode = sb:start_process(res.handle, M.TIMEOUT)
    if not ok then return nil, serr, scode end
    local status = sb:wait(res.handle, timeout)
    if status then return status end
    sb:signal_process(st.id, exec_id, 9, false, M.TIMEOUT)
    return nil, ("'%s' did not exit within %g s"):format(table.concat(args, " "), timeout), "ETIMEDOUT"
  end

  --- The container's process ids, as the guest sees them.
  function A.list_processes(sb, id, timeout)
    return sb:list_processes(id, timeout or M.TIMEOUT)
  end

  --- The container's cgroup figures (cpu, memory, pids).
  function A.stats(sb, id) return sb:stats_container(id, M.TIMEOUT) end

  --- Apply `resources` (an OCI linux.resources object) to a running container's cgroup.
  function A.update(sb, id, resources)
    return sb:update_container(id, resources, M.TIMEOUT)
  end

  --- Give the guest NIC with `iface.mac` the name, MTU, addresses and routes of `iface`; returns
  --- { name, index }, or nil, msg, "ENODEV" while no guest NIC has the MAC yet (a hot-plugged one probing).
  function A.update_interface(sb, iface) return sb:update_interface(iface, M.TIMEOUT) end

  --- One QMP command through the supervisor (only those it passes: docs/agent-protocol.md, sup.qmp).
  function A.qmp(sb, execute, arguments) return sb:qmp(execute, arguments, M.TIMEOUT) end

  return A
end

return M
