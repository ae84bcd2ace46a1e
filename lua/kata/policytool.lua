--- `kata-runtime policy check|show|trace`: an operator's view of a policy before it reaches a node.
local vc = require("vc")
local loader = require("kata.loader")
local policies = require("kata.policies")

local M = {}

local function out(s) io.stdout:write(s) end

-- Steps whose value is data, not a function
local DATA_STEPS = { hook_failure = { table = true, ["function"] = true }, ignored_labels = { table = true } }

--- check FILE|NAME: syntax (file:line), safety, what it extends, unknown names, type mistakes. 0 or 1.
function M.check(env, target)
  local config, lua_dir = env.config, env.lua_dir
  local problems = {}
  local path, name = target, target:match("([%w_-]+)%.lua$")
  if not target:find("/", 1, true) then
    name = target
    local p, why = policies.find(target, lua_dir, config)
    if not p then out(why .. "\n") return 1 end
    path = p
  else
    local ok, why = policies.check_trust(target)
    if not ok then problems[#problems + 1] = "unsafe policy file: " .. why end
  end
  local f, ferr = io.open(path, "r")
  if not f then out(("%s\n"):format(ferr)) return 1 end
  local src = f:read("a")
  f:close()
  local chunk, serr = load(src, "@" .. path, "t", loader.env())
  if not chunk then out(serr .. "\n") return 1 end
  local ok, t = pcall(chunk)
  if not ok then out(tostring(t) .. "\n") return 1 end
  if type(t) ~= "table" then out(path .. ": must return a table\n") return 1 end
  local default = assert(policies.load("default", lua_dir, { runtime = {} }))
  if t.extends ~= nil then
    local base, berr = policies.load(t.extends, lua_dir, config)
    if not base then problems[#problems + 1] = berr end
  end
  for k, v in pairs(t) do
    if k ~= "name" and k ~= "extends" then
      local known = default[k]
      if known == nil then
        problems[#problems + 1] = ("%s: unknown step or command '%s'"):format(path, tostring(k))
      elseif DATA_STEPS[k] then
        if not DATA_STEPS[k][type(v)] then problems[#problems + 1] = ("%s: '%s' must be a table, got %s"):format(path, k, type(v)) end
      elseif type(v) ~= type(known) then
        problems[#problems + 1] = ("%s: '%s' must be a %s, got %s"):format(path, k, type(known), type(v))
      end
    end
  end
  for _, p in ipairs(problems) do out(p .. "\n") end
  if #problems > 0 then return 1 end
  out(("%s: ok (policy '%s'%s)\n"):format(path, t.name or name or "?", t.extends and (", extends '" .. t.extends .. "'") or ""))
  return 0
end

--- show NAME: every step and command of the merged policy, and the file it comes from.
function M.show(env, name)
  local policy, chain = policies.load(name, env.lua_dir, env.config)
  if not policy then out(chain .. "\n") return 1 end
  local own = {}
  for i, c in ipairs(chain) do own[i] = assert(loader.load_file(c.path, c.name)) end
  local keys = {}
  for k in pairs(policy) do if k ~= "base" and k ~= "name" and k ~= "extends" then keys[#keys + 1] = k end end
  table.sort(keys)
  out(("policy '%s': %s\n"):format(name, table.concat((function()
    local t = {} for _, c in ipairs(chain) do t[#t + 1] = c.path end return t end)(), " <- ")))
  for _, k in ipairs(keys) do
    for i, c in ipairs(chain) do
      if rawget(own[i], k) ~= nil then out(("  %-22s %s\n"):format(k, c.path)) break end
    end
  end
  return 0
end

--- trace NAME COMMAND [ARGS]: the ordered primitive calls of a command against the fakes; --fail STEP
--- makes that call fail and lists the undo steps the rollback ran, newest first, each with its calls.
function M.trace(env, name, command, args)
  local testing = require("kata.testing")
  local policy, chain = policies.load(name, env.lua_dir, env.config)
  if not policy then out(chain .. "\n") return 1 end
  local fail = env.ctx.options.fail
  local hooks = {}
  for _, kind in ipairs(require("kata.hooks").KINDS) do hooks[kind] = { { path = "/etc/hooks/" .. kind } } end
  local api = testing.api({ fail = {}, hooks = hooks })
  if command ~= "create" and command ~= "run" and command ~= "list" then
    local ok, err = testing.run(policy, api, testing.ctx("create", { args[1] or "c1" }))
    if not ok then out("setup create failed: " .. tostring(err) .. "\n") return 1 end
    if command ~= "start" then testing.run(policy, api, testing.ctx("start", { args[1] or "c1" })) end
  end
  for i = #api.calls, 1, -1 do api.calls[i] = nil end
  if fail then api.fail[fail] = "injected failure" end
  if #args == 0 and command ~= "list" then args = { "c1" } end
  -- each undo step the mechanism pushes notes where its calls begin when a rollback runs it
  local undo, undos = api.undo, {}
  local push = undo.push
  undo.push = function(what, fn)
    return push(what, function(...)
      undos[#undos + 1] = { what = what, at = #api.calls + 1 }
      return fn(...)
    end)
  end
  local ctx = testing.ctx(command, args)
  ctx.policy = name
  local ok, err = testing.run(policy, api, ctx)
  undo.push = push
  local forward = undos[1] and undos[1].at - 1 or #api.calls
  for i = 1, forward do out(("%3d %s\n"):format(i, api.calls[i])) end
  if not ok then out(("error: %s\n"):format(tostring(err))) end
  if #undos > 0 then
    out("undo, newest first:\n")
    for u, step in ipairs(undos) do
      out(("    %s\n"):format(step.what))
      for i = step.at, (undos[u + 1] and undos[u + 1].at - 1 or #api.calls) do out(("%7d %s\n"):format(i, api.calls[i])) end
    end
  end
  local left = testing.leftovers(api)
  if fail and command == "create" then out(("left behind: %s\n"):format(#left == 0 and "nothing" or table.concat(left, ", "))) end
  return ok and 0 or 1
end

function M.run(env)
  local args = env.ctx.args
  local sub = args[1]
  if sub == "check" then return M.check(env, args[2]) end
  if sub == "show" then return M.show(env, args[2]) end
  if sub == "trace" then
    if not args[3] then env.fail("policy trace: <name> <command> [args...]") end
    local rest = {}
    for i = 4, #args do rest[#rest + 1] = args[i] end
    return M.trace(env, args[2], args[3], rest)
  end
  env.fail(("policy: unknown subcommand '%s' (check, show or trace)"):format(tostring(sub)))
end

return M
