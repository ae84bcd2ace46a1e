--- Runs one policy function under xpcall with a traceback, so a script error becomes a plain
--- `nil, "<policy>.<fn>: <err>"` result the caller can report, never a crash.
local M = {}

--- An error raised on purpose with a message for the user (no traceback wanted).
---@param msg string
function M.fail(msg)
  error({ msg = msg }, 0)
end

--- `value, err` -> value, or raise "<what>: err" with M.fail (the mechanism modules' one way to check a
--- primitive's result).
---@param what string|nil
function M.must(what, v, err)
  if v == nil or v == false then M.fail(what and (what .. ": " .. tostring(err)) or tostring(err)) end
  return v
end

local function handler(e)
  if type(e) == "table" then return e end
  return { msg = tostring(e), trace = debug.traceback(tostring(e), 2) }
end

--- vc.limits, when policies run under limits (kata.main, kata.testing): the policy function is called
--- through limits.run, and a failed command's rollback runs with the limits lifted -- it is the runtime's
--- own code and must run to the end. Without it (plain specs) the call is an xpcall.
M.limits = nil

--- Call policy[fn](ctx, api). A missing function is success. When api carries the mechanism's undo list
--- (api.undo), a failure rolls back whatever the command made -- caught by the policy or not -- and a
--- success commits it.
---@param policy table
---@param fn string
---@param ctx table
---@param api table
---@param undo_of function|nil returns the command's undo list, or nil when nothing made one (kata.main: so a
---       command that made nothing never loads it); without it, api.undo
---@return any result true, an exit status, or nil on failure
---@return string|nil err the message on failure; "<policy>.<fn>: <message>" for a script error
---@return string|nil trace the traceback of a script error
function M.run(policy, fn, ctx, api, undo_of)
  local f = policy[fn]
  if f == nil then return true end
  if type(f) ~= "function" then
    return nil, ("%s.%s: not a function"):format(policy.name or "policy", fn)
  end
  local limits = M.limits
  local ok, res, err
  if limits then
    ok, res, err = limits.run(f, ctx, api)
  else
    ok, res, err = xpcall(f, handler, ctx, api)
  end
  local undo
  if undo_of then undo = undo_of() else undo = api.undo end
  if undo then
    if ok and res ~= nil then
      undo.commit()
    else
      if limits then limits.lift() end
      undo.rollback()
    end
  end
  if not ok then
    if res.trace then -- a script error: say where
      return nil, ("%s.%s: %s"):format(policy.name or "policy", fn, res.msg), res.trace
    end
    return nil, res.msg -- raised on purpose with M.fail: the message is for the user as it is
  end
  if res == nil then
    return nil, err ~= nil and tostring(err) or ("%s.%s failed"):format(policy.name or "policy", fn)
  end
  return res
end

return M
