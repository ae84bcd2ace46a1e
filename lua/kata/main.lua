--- The runtime's entry point: kata-runtime's C main calls run(ctx, lua_dir) with the parsed command line.
--- Lifecycle commands go to the policy; the others (spec, features, version, check, env, help) are here.
local vc = require("vc")
local api_mod = require("kata.api")
local config_mod = require("kata.config")
local policies = require("kata.policies")
local runner = require("kata.runner")
local loader = require("kata.loader")

local M = {}

local LIFECYCLE = {
  create = true, start = true, run = true, state = true, kill = true, delete = true, exec = true,
  ps = true, list = true, pause = true, resume = true, events = true, update = true, teardown = true,
}

-- Commands that must complete for any container even when its policy is gone, broken or no longer
-- allowed: they fall back to the runtime's own default policy, and say so in the log.
local FALLBACK = { state = true, kill = true, delete = true, list = true, teardown = true }

-- Commands the runtime runs itself rather than the policy (which gives them its steps).
local OWN = {
  --- `teardown <sandbox-id>`: the teardown `delete` handed to the background (kata.pod's teardown_later),
  --- under the sandbox's lock, with the policy's status and teardown steps.
  teardown = function(ctx, api)
    local sid = ctx.args[1]
    api.container.check_id(sid)
    local lock = runner.must("lock", api.lock(sid))
    if not api.state.load(sid) then
      api.container.finish_pending(sid, function(st) return api.policy.status(ctx, api, st) end,
        function(sst) return api.policy.teardown(ctx, api, sst) end)
    end
    lock:release(api.state.load(sid) == nil)
    return true
  end,
}

local function bundle_annotations(ctx)
  local text = api_mod.read_file((ctx.options.bundle or ".") .. "/config.json")
  local doc = text and vc.json.decode(text)
  return type(doc) == "table" and type(doc.annotations) == "table" and doc.annotations or {}
end

--- The policy a command uses: for a new container the one its annotation asks for among the allowed
--- ones (else the configured one); for an existing container the one pinned in its state at create.
---@return string|nil name
---@return string|nil err
---@return table|nil st the container's record, when it was read to find its policy
local function pick(ctx, config)
  if ctx.command == "create" or ctx.command == "run" then
    local ann = bundle_annotations(ctx)
    local ok, err = policies.check_annotations(config, ann)
    if not ok then return nil, err end
    local v = ann[policies.ANNOTATION]
    return policies.choose(config, type(v) == "string" and v or nil)
  end
  local id = ctx.args[1]
  if id and ctx.command ~= "list" and vc.id.validate(id) then
    local st = vc.state.load(ctx.global.root, id)
    if ctx.command == "teardown" then -- the sandbox's record is in its directory now
      st = require("kata.pod").read_pending(api_mod.sandbox_dir(ctx.global.root, id), id, api_mod.read_file, vc.json.decode)
    end
    local pinned = st and st.runtime and st.runtime.policy
    if type(pinned) == "string" then
      if not policies.allowed(config, pinned) then
        return nil, ("policy '%s' of container '%s' is no longer allowed"):format(pinned, id)
      end
      return pinned, nil, ctx.command ~= "teardown" and st or nil
    end
  end
  return config.runtime.policy
end

local function body(ctx, lua_dir, luac_dir)
  policies.luac_dir = luac_dir
  local env = { ctx = ctx, lua_dir = lua_dir, fail = runner.fail }
  if ctx.command == "help" or ctx.command == "version" then
    return require("kata.commands")[ctx.command](env) -- loaded only when used: not on the lifecycle path
  end
  local config, source = config_mod.load(ctx.global.config, lua_dir)
  if not config then runner.fail(source) end
  env.config, env.config_source = config, source
  if not LIFECYCLE[ctx.command] then
    return require("kata.commands")[ctx.command](env) -- loaded only when used: not on the lifecycle path
  end

  local name, err, record = pick(ctx, config)
  local policy, chain
  if name then policy, chain = policies.load(name, lua_dir, config) end
  if not policy then
    err = err or chain
    if not FALLBACK[ctx.command] then runner.fail(err) end
    vc.log.write("warning", ("%s: %s uses the runtime's own default policy"):format(err, ctx.command))
    name = "default"
    policy, chain = policies.load(name, lua_dir, { runtime = { policy_dir = nil } })
    if not policy then runner.fail(chain) end
  end
  -- a policy that computes, waits or sleeps without end fails instead of hanging the engine, and what
  -- it made is rolled back; `events` streams until the container stops, so only its --stats has a deadline
  runner.limits = vc.limits
  loader.set_limits(vc.limits)
  vc.limits.set_instruction_budget(config.runtime.instruction_budget or 0)
  if ctx.command ~= "events" or ctx.options.stats then vc.limits.set_deadline(config.runtime.command_timeout or 0) end
  ctx.policy = name
  if ctx.command == "create" or ctx.command == "run" then ctx.policy_digest = policies.digest(chain) end
  if ctx.args[1] and ctx.command ~= "list" then vc.log.set_field("container", ctx.args[1]) end
  local api = api_mod.new(ctx, config, record)
  api.policy = policy
  local target = OWN[ctx.command] and { name = "kata-runtime", [ctx.command] = OWN[ctx.command] } or policy
  local res, rerr, trace = runner.run(target, ctx.command, ctx, api_mod.protect(api, ctx),
    function() return rawget(api, "undo") end) -- bound on first use: nothing to undo without it
  if res == nil then
    error({ msg = rerr, trace = trace }, 0) -- run() logs the traceback of a script error
  end
  if res == true then return 0 end
  if math.type(res) == "integer" then return res end
  return 0
end

--- Run a command; returns the process exit status. Failures print one line on stderr and log it.
---@param ctx table
---@param lua_dir string
---@param luac_dir string|nil
---@return integer
function M.run(ctx, lua_dir, luac_dir)
  local ok, res = xpcall(body, function(e)
    if type(e) == "table" then return e end
    return { msg = tostring(e), trace = debug.traceback(tostring(e), 2) }
  end, ctx, lua_dir, luac_dir)
  if ok then return res end
  local msg = res.msg or "unknown error"
  if res.trace then msg = "kata-runtime: " .. msg end
  -- With --log the log gets the error (and the traceback of a script error) and stderr one line; without
  -- it the log is stderr itself, so only the line goes there (the traceback too with --debug).
  if ctx.global.log then
    vc.log.write("error", res.trace or msg)
  elseif res.trace then
    vc.log.write("debug", res.trace)
  end
  io.stderr:write(msg, "\n")
  -- exec reports the process's status; 255 means the runtime itself failed (runc does the same)
  if ctx.command == "exec" then return 255 end
  return 1
end

return M
