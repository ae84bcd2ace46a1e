--- Mechanism: a container's record. The state schema (what `create` stores and every later command
--- reads), loading it under the sandbox lock, its status and the OCI state document. The rest of
--- `api.container` -- create's checks, the shim that stands for the container's process, exec, delete,
--- update and the runc-compatible output -- is kata.container_ops.
---
--- Functions are bound to one command's primitives by kata.mechanism (`api.container.*`). Those that
--- make something push its undo on the command's undo list; those that fail raise a message for the user.
local runner = require("kata.runner")

local M = {}

local fail = runner.fail
local must = runner.must

--- The state schema. `runtime` holds what only this runtime reads; the top level is the OCI state.
---@class kata.State
---@field ociVersion string
---@field id string
---@field status string "creating"|"created"|"running"|"paused"|"stopped"
---@field pid integer the shim's host pid (0 until it runs)
---@field bundle string
---@field annotations table|nil
---@field runtime table type, sandbox_id, policy, policy_digest, created, rootfs, terminal, process, hooks,
---       sandbox_dir, shared, share_host, netns, netns_created, socket, supervisor_pid, supervisor_start_time, accel,
---       boot_ms, agent_ms, share, mounts, handle, guest_pid, shim_pid, shim_start_time

-- What a pod container copies from its sandbox's record: enough to tear the sandbox down even when the
-- container outlives the sandbox container's own record.
M.SANDBOX_FIELDS = { "sandbox_dir", "shared", "share_host", "netns", "netns_created", "socket", "supervisor_pid",
  "supervisor_start_time", "accel", "network" }

-- The fields the mechanism reads, by type ("?" after the type: may be absent).
local RECORD = { id = "string", status = "string", pid = "number?", bundle = "string?", runtime = "table" }
local RUNTIME = {
  type = "string", sandbox_id = "string", sandbox_dir = "string?", shared = "string?", share_host = "string?",
  socket = "string?", netns = "string?", netns_created = "boolean?", supervisor_pid = "number?",
  supervisor_start_time = "number?", shim_pid = "number?", shim_start_time = "number?", handle = "number?",
  mounts = "table?", hooks = "table?", process = "table?", rootfs = "string?", share = "string?",
}

--- nil when st has the shape the runtime writes, else what is wrong with it.
function M.check_record(st)
  local function check(t, schema, prefix)
    for k, want in pairs(schema) do
      local ty, opt = want:match("^(%a+)(%??)$")
      local v = t[k]
      if not (v == nil and opt == "?") and type(v) ~= ty then
        return ("%s%s: expected %s, got %s"):format(prefix, k, ty, type(v))
      end
    end
  end
  if type(st) ~= "table" then return "not an object" end
  local why = check(st, RECORD, "")
  if why then return why end
  why = check(st.runtime, RUNTIME, "runtime.")
  if why then return why end
  if st.runtime.type ~= "sandbox" and st.runtime.type ~= "container" then
    return ("runtime.type: '%s' is neither sandbox nor container"):format(st.runtime.type)
  end
end

---@param api table the command's primitives
---@param undo table the command's undo list (kata.undo)
function M.bind(api, undo)
  local C = {}
  local locks = {} -- name -> { lock =, released =, remove = }

  --- Check an id (the one rule: api.id.validate); raises its message.
  function C.check_id(id) must(nil, api.id.validate(id)) end

  --- The status a stored container really has: created, running and paused ones whose shim is gone
  --- have stopped.
  function C.status(st)
    local s = st.status
    -- once the shim is gone, the guest decides: a shim killed on the host leaves its container running
    if (s == "created" or s == "running" or s == "paused") and not C.alive(st) and not C.runs_in_guest(st) then
      return "stopped"
    end
    return s
  end

  --- The container's record; raises "container does not exist" (runc's words, engines match them).
  --- Log lines from here on name its sandbox.
  ---@return kata.State
  function C.load(id)
    C.check_id(id)
    local st, err, code = C.find(id)
    if not st then
      if code == "ENOENT" then fail("container does not exist") end
      fail(err)
    end
    api.log.field("sandbox", st.runtime.sandbox_id)
    return st
  end

  --- C.load, then the sandbox's lock, then the record again as it is under the lock.
  ---@return kata.State st
  ---@return table lock (C.lock's)
  function C.load_locked(id)
    local st = C.load(id)
    local lock = C.lock(st.runtime.sandbox_id)
    return C.load(st.id), lock
  end

  --- The record, or nil, a message and a code ("ENOENT" for a missing one, "EBADMSG" for a record that
  --- does not have the shape the runtime writes: the mechanism never indexes a mistyped field).
  function C.find(id)
    local ok, err, code = api.id.validate(id)
    if not ok then return nil, err, code end
    local st
    st, err, code = api.state.load(id)
    if not st then return nil, err, code end
    local why = M.check_record(st)
    if why then return nil, ("state of '%s' is corrupt: %s"):format(id, why), "EBADMSG" end
    return st
  end

  --- Every readable record under --root.
  function C.all()
    local out = {}
    for _, id in ipairs(api.state.list() or {}) do
      local st = C.find(id)
      if st then out[#out + 1] = st end
    end
    return out
  end

  --- How many other containers belong to sandbox `sid`.
  function C.pod_members(sid, except_id)
    local n = 0
    for _, o in ipairs(C.all()) do
      if o.id ~= except_id and o.runtime and o.runtime.sandbox_id == sid then n = n + 1 end
    end
    return n
  end

  --- Take sandbox `sid`'s lock (waits up to runtime.lock_timeout). A rollback releases it.
  function C.lock(sid)
    local l = must("lock", api.lock(sid))
    local entry = { lock = l }
    locks[sid] = entry
    local handle = {}
    function handle.release(_, remove)
      if entry.released then return end
      entry.released = true
      l:release(remove)
    end
    undo.push("release lock " .. sid, function() handle:release(entry.remove) end)
    return handle
  end

  --- A new record, not yet saved: raises when the id is taken or the rootfs is missing.
  ---@return kata.State
  function C.new(ctx, id, bundle, config, ctype, sid)
    if api.state.load(id) then fail("container with given ID already exists") end
    -- from here on the sandbox is new: a rollback takes its lock file along
    if ctype == "sandbox" and locks[sid] then locks[sid].remove = true end
    local rootfs = config.root.path
    if rootfs:sub(1, 1) ~= "/" then rootfs = bundle .. "/" .. rootfs end
    rootfs = api.fs.realpath(rootfs)
    if not rootfs then fail(("rootfs '%s' does not exist"):format(config.root.path)) end
    return {
      ociVersion = config.ociVersion, id = id, status = "creating", pid = 0, bundle = bundle,
      annotations = config.annotations,
      runtime = {
        type = ctype, sandbox_id = sid, policy = ctx.policy, policy_digest = ctx.policy_digest,
        created = api.now(), rootfs = rootfs, terminal = config.process.terminal == true,
        process = config.process, -- exec's defaults (env, cwd, user)
        hooks = config.hooks or {}, -- as they were at create time: editing config.json later has no effect
      },
    }
  end

  --- Save a new record (status "creating"); a rollback removes it.
  function C.record(st)
    C.save(st)
    undo.push("remove state", function() api.state.remove(st.id) end)
  end

  function C.save(st) must("save state", api.state.save(st.id, st)) end

  --- Set and save the container's status.
  function C.set_status(st, status)
    st.status = status
    C.save(st)
  end

  --- The container's process runs: save status "running". When the record cannot say so (a full disk),
  --- the process is stopped again rather than left running under a 'created' record, and this raises.
  function C.started(st, sb)
    st.status = "running"
    local ok, err = pcall(C.save, st)
    if ok then return end
    api.agent.signal(sb, st.id, 9, true)
    api.agent.wait(sb, st, 10)
    fail(("%s (the container was stopped)"):format(type(err) == "table" and err.msg or tostring(err)))
  end

  function C.remove(st) must("remove state", api.state.remove(st.id)) end

  --- Whether the container's shim (its process on the host) still runs: pid plus start time.
  function C.alive(st)
    local rt = st.runtime or {}
    return rt.shim_pid ~= nil and api.proc.alive(rt.shim_pid, rt.shim_start_time) == true
  end

  --- Whether the container's processes still run in the guest, as the guest says: a shim can die (a kill,
  --- the OOM killer) while the container it stands for runs on. false when the sandbox is gone or does not
  --- answer within `timeout` seconds (default 2).
  function C.runs_in_guest(st, timeout)
    local sb = api.pod.connect_now(st)
    if not sb then return false end
    local pids = api.agent.list_processes(sb, st.id, timeout or 2)
    sb:close()
    return type(pids) == "table" and #pids > 0
  end

  --- The OCI state document (runtime-spec "State"), with runc's rootfs/created/owner extras.
  function C.oci_state(st, status)
    local doc = {
      ociVersion = st.ociVersion, id = st.id, status = status,
      pid = (status == "stopped") and 0 or (st.pid or 0),
      bundle = st.bundle, rootfs = st.runtime and st.runtime.rootfs or nil,
      created = st.runtime and st.runtime.created or nil, owner = "",
    }
    if st.annotations and next(st.annotations) ~= nil then doc.annotations = st.annotations end
    return doc
  end

  -- The rest of api.container (create's checks, the shim, exec, delete, update, output) is
  -- kata.container_ops, loaded and bound on the first use of one of its functions: `state`, `kill` and
  -- `start` need none of it. As the runtime's own code, outside a policy's limits.
  local function more()
    setmetatable(C, nil)
    local limits = api.limits
    for k, fn in pairs(require("kata.container_ops").bind(api, undo, C)) do
      rawset(C, k, limits and limits.trusted(fn) or fn)
    end
  end
  local function load_more()
    local limits = api.limits
    if limits then limits.trusted(more)() else more() end
  end
  return setmetatable(C, {
    __index = function(_, k) load_more(); return rawget(C, k) end,
    __pairs = function(t) load_more(); return next, t, nil end,
  })
end

return M
