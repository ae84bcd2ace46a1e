--- Mechanism: typed calls to the guest's agent (and the supervisor's own sup.* methods) over a sandbox
--- connection from api.pod.connect. A policy calls these, never a method name: the wire protocol
--- (docs/agent-protocol.md) is this module's business.
---
--- Every call returns its result, or nil, a message and an error code, like the primitives: what a
--- failure means is the policy's decision.
local M = {}

M.TIMEOUT = 30 -- seconds for one agent call

function M.bind(api, undo)
  local A = {}

  --- Create container `st` in the guest from `config` (its spec), with `guest_mounts` (from api.share)
  --- and the pod namespaces to `join` (or nil). Records handle and guest_pid; a rollback removes it.
  function A.create_container(sb, st, config, guest_mounts, join)
    local spec = {}
    for k, v in pairs(config) do spec[k] = v end
    spec.mounts = api.json.array(guest_mounts)
    spec.hooks = nil -- hooks run on the host
    local res, err, code = sb:call("create_container", { id = st.id, rootfs = st.id .. "/rootfs", spec = spec, join = join }, M.TIMEOUT)
    if not res then return nil, err, code end
    undo.push("remove container in the guest", function() sb:call("remove_container", { id = st.id }, M.TIMEOUT) end)
    st.runtime.handle, st.runtime.guest_pid = res.handle, res.pid
    return res
  end

  --- Release a created container's process.
  function A.start_container(sb, id) return sb:call("start_container", { id = id }, M.TIMEOUT) end

  --- Remove a container from the guest (its processes must have exited).
  function A.remove_container(sb, id) return sb:call("remove_container", { id = id }, M.TIMEOUT) end

  --- Send signal `signo` to the container's init (or, with `all`, to every process in it).
  function A.signal(sb, id, signo, all)
    return sb:call("signal_process", { id = id, signal = signo, all = all == true }, M.TIMEOUT)
  end

  --- Wait up to `timeout` seconds for the container's init to exit. Returns its exit status or nil.
  function A.wait(sb, st, timeout)
    local res = sb:call("sup.wait", { handle = st.runtime.handle }, timeout)
    return res and res.status or nil
  end

  function A.pause(sb, id) return sb:call("pause_container", { id = id }, M.TIMEOUT) end

  function A.resume(sb, id) return sb:call("resume_container", { id = id }, M.TIMEOUT) end

  --- Create an extra process (exec) in the container; returns { handle, pid }.
  function A.exec_process(sb, id, exec_id, process)
    return sb:call("exec_process", { id = id, exec_id = exec_id, process = process }, M.TIMEOUT)
  end

  --- Release an exec'd process once its shim is attached (or will be).
  function A.start_process(sb, handle) return sb:call("start_process", { handle = handle }, M.TIMEOUT) end

  --- The container's process ids, as the guest sees them.
  function A.list_processes(sb, id)
    local res, err, code = sb:call("list_processes", { id = id }, M.TIMEOUT)
    if not res then return nil, err, code end
    return res.pids or {}
  end

  --- The container's cgroup figures (cpu, memory, pids).
  function A.stats(sb, id) return sb:call("stats_container", { id = id }, M.TIMEOUT) end

  return A
end

return M
