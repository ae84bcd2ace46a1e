-- Fails when the files of one program call each other in a cycle.
--   lua5.4 scripts/call-cycles.lua NAME OBJECT...
-- Each object file is one source file. The graph has an edge A -> B when A's object references (nm: U) a
-- symbol B's object defines; calls through function pointers a file registers are not edges, which is
-- the point: a part below reports up only through callbacks its owner gave it. Prints the graph and
-- exits 1 on the first cycle found, naming the files and a symbol of each edge.
local name = arg[1]
local objs = { table.unpack(arg, 2) }
if not name or #objs == 0 then
  io.stderr:write("usage: call-cycles.lua NAME OBJECT...\n")
  os.exit(2)
end

local function short(path)
  return (path:match("([^/]+)%.o$") or path)
end

local defines, refs = {}, {}
for _, obj in ipairs(objs) do
  local f = assert(io.popen("nm -P " .. string.format("%q", obj) .. " 2>&1"))
  local file = short(obj)
  refs[file] = refs[file] or {}
  for line in f:lines() do
    local sym, kind = line:match("^(%S+) (%a) ")
    if sym then
      if kind == "U" then
        refs[file][sym] = true
      elseif kind:match("%u") then
        defines[sym] = file
      end
    end
  end
  local ok, _, code = f:close()
  if not ok then
    io.stderr:write(string.format("call-cycles: nm %s failed (%s)\n", obj, tostring(code)))
    os.exit(2)
  end
end

-- edges[a][b] = one symbol a uses from b
local edges, files = {}, {}
for file, syms in pairs(refs) do
  files[#files + 1] = file
  edges[file] = {}
  for sym in pairs(syms) do
    local to = defines[sym]
    if to and to ~= file and (not edges[file][to] or sym < edges[file][to]) then
      edges[file][to] = sym
    end
  end
end
table.sort(files)

for _, a in ipairs(files) do
  local tos = {}
  for b, sym in pairs(edges[a]) do
    tos[#tos + 1] = string.format("%s (%s)", b, sym)
  end
  table.sort(tos)
  print(string.format("%s: %s -> %s", name, a, #tos > 0 and table.concat(tos, ", ") or "-"))
end

local state, stack = {}, {}
local function visit(a)
  state[a] = "open"
  stack[#stack + 1] = a
  local tos = {}
  for b in pairs(edges[a] or {}) do
    tos[#tos + 1] = b
  end
  table.sort(tos)
  for _, b in ipairs(tos) do
    if state[b] == "open" then
      local cycle, on = {}, false
      for _, f in ipairs(stack) do
        on = on or f == b
        if on then
          cycle[#cycle + 1] = f
        end
      end
      cycle[#cycle + 1] = b
      local parts = { cycle[1] }
      for i = 2, #cycle do
        parts[#parts + 1] = string.format("-(%s)-> %s", edges[cycle[i - 1]][cycle[i]], cycle[i])
      end
      io.stderr:write(string.format("%s: call cycle: %s\n", name, table.concat(parts, " ")))
      os.exit(1)
    elseif not state[b] then
      visit(b)
    end
  end
  stack[#stack] = nil
  state[a] = "done"
end

for _, a in ipairs(files) do
  if not state[a] then
    visit(a)
  end
end
print(string.format("%s: no call cycle between %d files", name, #files))
