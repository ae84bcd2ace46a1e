--- The default lifecycle policy: Kata Containers 1.x's cli/ behaviour on the OCI runtime spec lifecycle.
---
--- Each command is a function(ctx, api). ctx is the parsed command line ({command, global, options,
--- args}); api holds the primitives (see kata/api.lua). A function returns true (exit 0), an integer exit
--- status, or nil and a message. Steps that operators commonly change are separate functions of this
--- table, called through api.policy so an extending policy's version is the one that runs.
local P = { name = "default" }

local function fail(msg) error({ msg = msg }, 0) end

--- The container's state record or the runc error engines match on.
function P.load_state(ctx, api, id)
  local ok, err = api.id.validate(id)
  if not ok then fail(err) end
  local st, lerr, code = api.state.load(id)
  if not st then
    if code == "ENOENT" then fail("container does not exist") end
    fail(lerr)
  end
  return st
end

--- The status a stored container really has: its shim's liveness decides created/running/paused vs
--- stopped (a shim pid that is gone, or reused by another process, means stopped).
function P.status(ctx, api, st)
  local status = st.status
  if status == "created" or status == "running" or status == "paused" then
    local rt = st.runtime or {}
    if not rt.shim_pid or not api.proc.alive(rt.shim_pid, rt.shim_start_time) then
      return "stopped"
    end
  end
  return status
end

--- The OCI state document (runtime-spec "State"), with runc's rootfs/created/owner extras.
function P.oci_state(ctx, api, st)
  local status = P.status(ctx, api, st)
  local doc = {
    ociVersion = st.ociVersion,
    id = st.id,
    status = status,
    pid = (status == "stopped") and 0 or (st.pid or 0),
    bundle = st.bundle,
    rootfs = st.runtime and st.runtime.rootfs or nil,
    created = st.runtime and st.runtime.created or nil,
    owner = "",
  }
  if st.annotations and next(st.annotations) ~= nil then doc.annotations = st.annotations end
  return doc
end

function P.state(ctx, api)
  local st = P.load_state(ctx, api, ctx.args[1])
  api.out(api.json.encode(P.oci_state(ctx, api, st), true) .. "\n")
  return true
end

function P.list(ctx, api)
  local ids, err = api.state.list()
  if not ids then fail(err) end
  local rows = {}
  for _, id in ipairs(ids) do
    local st = api.state.load(id)
    if st then rows[#rows + 1] = P.oci_state(ctx, api, st) end
  end
  local opts = ctx.options
  if opts.quiet then
    for _, r in ipairs(rows) do api.out(r.id .. "\n") end
  elseif opts.format == "json" then
    api.out(api.json.encode(api.json.array(rows)) .. "\n")
  else
    local fmt = "%-12s %-10s %-10s %-40s %-30s %s\n"
    api.out(fmt:format("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"))
    for _, r in ipairs(rows) do
      api.out(fmt:format(r.id, tostring(r.pid), r.status, r.bundle or "", r.created or "", "root"))
    end
  end
  return true
end

for _, cmd in ipairs({ "create", "start", "run", "kill", "delete", "exec", "ps", "pause", "resume", "events" }) do
  P[cmd] = P[cmd] or function(ctx)
    fail(("%s: not available in this build"):format(ctx.command))
  end
end

return P
