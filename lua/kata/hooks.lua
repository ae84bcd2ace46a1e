--- Mechanism: the runtime spec's hooks. They run on the host, inside the sandbox's network namespace,
--- with the bundle as working directory and the state document on stdin (Kata runs them there too: the
--- container's own namespaces are inside the VM). The hooks are the ones config.json had at create time.
local M = {}

M.KINDS = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" }

local function key(h) return tostring(h.path) .. "\0" .. table.concat(h.args or {}, "\0") end

function M.bind(api, undo)
  local H = {}
  local known = {} -- the hooks handed out by H.list in this command: the only ones H.run runs

  --- The hooks of `kind` recorded at create (an empty list when there are none).
  function H.list(st, kind)
    local all = st.runtime and st.runtime.hooks or {}
    local list = all[kind] or {}
    for _, h in ipairs(list) do known[key(h)] = true end
    return list
  end

  --- The state document a hook reads on stdin.
  function H.state(st, status)
    local doc = { ociVersion = st.ociVersion, id = st.id, status = status, pid = st.pid or 0, bundle = st.bundle }
    if st.annotations and next(st.annotations) ~= nil then doc.annotations = st.annotations end
    return doc
  end

  --- Run `hooks` in order; stops at the first failure.
  ---@return boolean|nil ok
  ---@return string|nil err "error running <kind> hook #<n>: ..."
  function H.run(kind, hooks, state_doc, netns, bundle)
    if not hooks or #hooks == 0 then return true end
    -- a container's own hooks (as api.hooks.list gave them), or programs the configuration allows
    local extra = {}
    for _, p in ipairs(api.config.runtime.allowed_hook_paths or {}) do extra[p] = true end
    for i, h in ipairs(hooks) do
      if type(h) ~= "table" or not (known[key(h)] or extra[h.path]) then
        return nil, ("%s hook #%d: '%s' is not one of the container's hooks nor in runtime.allowed_hook_paths")
          :format(kind, i - 1, tostring(type(h) == "table" and h.path or h))
      end
    end
    api.log.info("running %d %s hook(s)", #hooks, kind)
    local ok, err = api.hook.run_all(hooks, { state = api.json.encode(state_doc), kind = kind, netns = netns, cwd = bundle })
    if not ok then return nil, err end
    return true
  end

  return H
end

return M
