-- docs/policy-guide.md against the code (issue 10): every step of the default policy and every mechanism
-- function a policy can call is documented (with its own row: arguments, returns, errors), and the guide
-- names no step that does not exist.
local fakes = require("spec.helpers.fakes")
local loader = require("kata.loader")
local mechanism = require("kata.mechanism")

local COMMANDS = { create = 1, start = 1, state = 1, list = 1, kill = 1, delete = 1, exec = 1, ps = 1, pause = 1,
  resume = 1, events = 1, update = 1, run = 1 }

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

describe("docs/policy-guide.md", function()
  local guide = read("docs/policy-guide.md")
  local policy = assert(loader.load_file("lua/kata/policy/default.lua", "default"))

  it("documents every step of the default policy, and only those", function()
    local documented = {}
    for name in guide:gmatch("\n| `([%w_]+)` |") do documented[name] = true end
    for k in pairs(policy) do
      if k ~= "name" and not COMMANDS[k] then assert.is_true(documented[k] == true, "step '" .. k .. "' is not in the guide") end
    end
    for name in pairs(documented) do
      assert.is_not_nil(policy[name], "the guide lists '" .. name .. "', which the default policy does not have")
    end
  end)

  --- The text of the guide's section on api.<ns> ("### `api.<ns>`..." up to the next heading), or nil.
  local function section(ns)
    local at = guide:find("\n### `api." .. ns .. "`", 1, true)
    if not at then return nil end
    local stop = guide:find("\n##", at + 1, true)
    return guide:sub(at, stop and stop - 1 or #guide)
  end

  --- Whether a table row of the guide names api.<ns>.<k> in its first cell: in the namespace's own section
  --- as `k(...)`, or anywhere as `ns.k(...)`.
  local function has_row(ns, k)
    for _, text in ipairs({ section(ns) or "", guide }) do
      for first in text:gmatch("\n| ([^|\n]*)|") do
        if (text ~= guide and first:find("`" .. k .. "(", 1, true)) or first:find("`" .. ns .. "." .. k .. "(", 1, true) then
          return true
        end
      end
    end
    return false
  end

  it("documents every mechanism function a policy can call", function()
    local api = fakes.api()
    for _, ns in ipairs(mechanism.NAMESPACES) do
      local row = guide:match("\n| `api%." .. ns .. "` |([^\n]*)")
      assert.is_not_nil(row, "no row for api." .. ns)
      for k, v in pairs(api[ns]) do
        if type(v) == "function" then
          assert.is_truthy(row:find("`" .. k .. "(", 1, true) or row:find("`" .. k .. "`", 1, true),
            ("api.%s.%s is not in the guide"):format(ns, k))
          -- and in a row of its namespace's own table, with what it returns and how it fails
          assert.is_true(has_row(ns, k), ("api.%s.%s has no row of its own in the guide"):format(ns, k))
        end
      end
    end
  end)
end)
