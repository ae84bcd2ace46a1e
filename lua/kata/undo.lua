--- The undo list of one command: what the mechanism made, undone in reverse order when the command fails.
---
--- Every mechanism function that makes something (a state record, a directory, a mount, a namespace, a
--- VM, a guest container, a shim) pushes how to undo it here. The runner rolls the list back when the
--- policy's command fails -- whatever the policy did, caught or not -- and a command that succeeds
--- commits it (what was made now belongs to the container's state). Rollback is the runtime's code: it
--- runs with the policy's limits lifted.
local M = {}

---@param log table api.log
---@return table undo { push = fn(what, fn), rollback = fn(), commit = fn(), pending = fn() -> {what...} }
function M.new(log)
  local steps = {}
  local U = {}

  --- Remember how to undo something just made. `fn` runs at most once, on rollback.
  ---@param what string what the step undoes, for the log ("unmount rootfs")
  ---@param fn function
  function U.push(what, fn)
    assert(type(what) == "string" and type(fn) == "function", "undo.push(what, fn)")
    steps[#steps + 1] = { what = what, fn = fn }
  end

  --- Undo everything not committed, newest first. A failing step is logged and the rest still run.
  function U.rollback()
    local list = steps
    steps = {}
    for i = #list, 1, -1 do
      local ok, err = pcall(list[i].fn)
      if not ok then
        log.warn("rollback: %s failed, ignoring: %s", list[i].what, type(err) == "table" and tostring(err.msg) or tostring(err))
      end
    end
    return #list
  end

  --- Keep what was made: the command succeeded.
  function U.commit() steps = {} end

  --- What a rollback would undo now, oldest first.
  function U.pending()
    local out = {}
    for i, s in ipairs(steps) do out[i] = s.what end
    return out
  end

  return U
end

return M
