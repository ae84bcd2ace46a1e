--- Lua patterns for policy code: string.find, match, gmatch and gsub with the semantics of Lua 5.4's,
--- written in Lua so that every step of a match is a VM instruction the policy's instruction budget and
--- deadline see. (The C matcher runs a whole backtracking match inside one call, where no hook fires:
--- `("a"):rep(5000):find(".-.-.-.-x")` would run for minutes on any budget.) There is no library for this
--- in Debian; it is written here from the reference manual's definition of patterns (6.4.1).
local M = {}

local byte, sub, char, sfind = string.byte, string.sub, string.char, string.find -- the C ones, captured
local MAXCAPTURES, MAXDEPTH = 32, 200
local L_ESC, CAP_UNFINISHED, CAP_POSITION = 37, -1, -2 -- '%'
local SPECIALS = "^$*+?.([%-"

local function class_match(c, cl)
  local lower = cl | 32
  local res
  if lower == 97 then -- a
    res = (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
  elseif lower == 99 then -- c
    res = c < 32 or c == 127
  elseif lower == 100 then -- d
    res = c >= 48 and c <= 57
  elseif lower == 103 then -- g: printable except space
    res = c > 32 and c < 127
  elseif lower == 108 then -- l
    res = c >= 97 and c <= 122
  elseif lower == 112 then -- p
    res = (c >= 33 and c <= 47) or (c >= 58 and c <= 64) or (c >= 91 and c <= 96) or (c >= 123 and c <= 126)
  elseif lower == 115 then -- s
    res = c == 32 or (c >= 9 and c <= 13)
  elseif lower == 117 then -- u
    res = c >= 65 and c <= 90
  elseif lower == 119 then -- w
    res = (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
  elseif lower == 120 then -- x
    res = (c >= 48 and c <= 57) or (c >= 65 and c <= 70) or (c >= 97 and c <= 102)
  else
    return cl == c
  end
  if cl >= 65 and cl <= 90 then return not res end -- upper case: the complement
  return res
end

local function new_state(s, p)
  return { s = s, p = p, slen = #s, plen = #p, level = 0, depth = MAXDEPTH, cstart = {}, clen = {} }
end

-- index just past the single-char class starting at pi
local function class_end(ms, pi)
  local p = ms.p
  local c = byte(p, pi)
  pi = pi + 1
  if c == L_ESC then
    if pi > ms.plen then error("malformed pattern (ends with '%')", 0) end
    return pi + 1
  elseif c == 91 then -- '['
    if byte(p, pi) == 94 then pi = pi + 1 end
    repeat -- look for a ']'
      if pi > ms.plen then error("malformed pattern (missing ']')", 0) end
      local cc = byte(p, pi)
      pi = pi + 1
      if cc == L_ESC and pi <= ms.plen then pi = pi + 1 end
    until byte(p, pi) == 93
    return pi + 1
  end
  return pi
end

-- pi at '[', ec at the closing ']'
local function match_class_set(ms, c, pi, ec)
  local p = ms.p
  local sig = true
  pi = pi + 1
  if byte(p, pi) == 94 then sig = false; pi = pi + 1 end
  while pi < ec do
    local pc = byte(p, pi)
    if pc == L_ESC then
      pi = pi + 1
      if class_match(c, byte(p, pi)) then return sig end
      pi = pi + 1
    elseif byte(p, pi + 1) == 45 and pi + 2 < ec then -- a range x-y
      if pc <= c and c <= byte(p, pi + 2) then return sig end
      pi = pi + 3
    else
      if pc == c then return sig end
      pi = pi + 1
    end
  end
  return not sig
end

local function single_match(ms, si, pi, ep)
  if si > ms.slen then return false end
  local c = byte(ms.s, si)
  local pc = byte(ms.p, pi)
  if pc == 46 then return true -- '.'
  elseif pc == L_ESC then return class_match(c, byte(ms.p, pi + 1))
  elseif pc == 91 then return match_class_set(ms, c, pi, ep - 1)
  end
  return pc == c
end

local do_match

local function match_balance(ms, si, pi)
  if pi + 1 > ms.plen then error("malformed pattern (missing arguments to '%b')", 0) end
  if si > ms.slen or byte(ms.s, si) ~= byte(ms.p, pi) then return nil end
  local b, e = byte(ms.p, pi), byte(ms.p, pi + 1)
  local cont = 1
  si = si + 1
  while si <= ms.slen do
    local c = byte(ms.s, si)
    if c == e then
      cont = cont - 1
      if cont == 0 then return si + 1 end
    elseif c == b then
      cont = cont + 1
    end
    si = si + 1
  end
  return nil
end

local function max_expand(ms, si, pi, ep)
  local i = 0
  while single_match(ms, si + i, pi, ep) do i = i + 1 end
  while i >= 0 do -- try with the most repetitions, then fewer
    local r = do_match(ms, si + i, ep + 1)
    if r then return r end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, si, pi, ep)
  while true do
    local r = do_match(ms, si, ep + 1)
    if r then return r end
    if single_match(ms, si, pi, ep) then si = si + 1 else return nil end
  end
end

local function start_capture(ms, si, pi, what)
  local l = ms.level + 1
  if l > MAXCAPTURES then error("too many captures", 0) end
  ms.cstart[l], ms.clen[l] = si, what
  ms.level = l
  local r = do_match(ms, si, pi)
  if not r then ms.level = ms.level - 1 end
  return r
end

local function capture_to_close(ms)
  for l = ms.level, 1, -1 do
    if ms.clen[l] == CAP_UNFINISHED then return l end
  end
  error("invalid pattern capture", 0)
end

local function end_capture(ms, si, pi)
  local l = capture_to_close(ms)
  ms.clen[l] = si - ms.cstart[l]
  local r = do_match(ms, si, pi)
  if not r then ms.clen[l] = CAP_UNFINISHED end
  return r
end

local function check_capture(ms, c)
  local l = c - 48 -- '1'..'9' -> 1..9
  if l < 1 or l > ms.level or ms.clen[l] == CAP_UNFINISHED then
    error(("invalid capture index %%%d"):format(l), 0)
  end
  return l
end

local function match_capture(ms, si, c)
  local l = check_capture(ms, c)
  local len = ms.clen[l]
  local cap = sub(ms.s, ms.cstart[l], ms.cstart[l] + len - 1)
  if ms.slen - si + 1 >= len and sub(ms.s, si, si + len - 1) == cap then return si + len end
  return nil
end

-- Match pattern from pi against subject from si; returns the index just past the match, or nil.
function do_match(ms, si, pi)
  ms.depth = ms.depth - 1
  if ms.depth == 0 then error("pattern too complex", 0) end
  local p = ms.p
  local r
  while true do
    if pi > ms.plen then r = si break end
    local pc = byte(p, pi)
    if pc == 40 then -- '('
      if byte(p, pi + 1) == 41 then r = start_capture(ms, si, pi + 2, CAP_POSITION)
      else r = start_capture(ms, si, pi + 1, CAP_UNFINISHED) end
      break
    elseif pc == 41 then -- ')'
      r = end_capture(ms, si, pi + 1)
      break
    elseif pc == 36 and pi == ms.plen then -- '$' at the end
      r = (si == ms.slen + 1) and si or nil
      break
    elseif pc == L_ESC and byte(p, pi + 1) == 98 then -- %b
      si = match_balance(ms, si, pi + 2)
      if not si then r = nil break end
      pi = pi + 4
      goto continue
    elseif pc == L_ESC and byte(p, pi + 1) == 102 then -- %f
      pi = pi + 2
      if byte(p, pi) ~= 91 then error("missing '[' after '%f' in pattern", 0) end
      do
        local ep = class_end(ms, pi)
        local prev = si == 1 and 0 or byte(ms.s, si - 1)
        local cur = si <= ms.slen and byte(ms.s, si) or 0
        if not match_class_set(ms, prev, pi, ep - 1) and match_class_set(ms, cur, pi, ep - 1) then
          pi = ep
          goto continue
        end
      end
      r = nil
      break
    elseif pc == L_ESC and byte(p, pi + 1) and byte(p, pi + 1) >= 48 and byte(p, pi + 1) <= 57 then -- %0-9
      si = match_capture(ms, si, byte(p, pi + 1))
      if not si then r = nil break end
      pi = pi + 2
      goto continue
    end
    do -- a single-char class, maybe with a quantifier
      local ep = class_end(ms, pi)
      local q = byte(p, ep)
      if not single_match(ms, si, pi, ep) then
        if q == 42 or q == 63 or q == 45 then pi = ep + 1 goto continue end -- '*', '?', '-': zero is fine
        r = nil
        break
      end
      if q == 63 then -- '?'
        local res = do_match(ms, si + 1, ep + 1)
        if res then r = res break end
        pi = ep + 1
        goto continue
      elseif q == 43 then r = max_expand(ms, si + 1, pi, ep) break -- '+'
      elseif q == 42 then r = max_expand(ms, si, pi, ep) break -- '*'
      elseif q == 45 then r = min_expand(ms, si, pi, ep) break -- '-'
      end
      si, pi = si + 1, ep
    end
    ::continue::
  end
  ms.depth = ms.depth + 1
  return r
end

local function get_capture(ms, i, si, e)
  if i > ms.level then
    if i ~= 1 then error(("invalid capture index %%%d"):format(i), 0) end
    return sub(ms.s, si, e - 1)
  end
  local l = ms.clen[i]
  if l == CAP_UNFINISHED then error("unfinished capture", 0) end
  if l == CAP_POSITION then return ms.cstart[i] end
  return sub(ms.s, ms.cstart[i], ms.cstart[i] + l - 1)
end

local function captures(ms, si, e, whole_if_none)
  local n = (ms.level == 0 and whole_if_none) and 1 or ms.level
  local out = {}
  for i = 1, n do out[i] = get_capture(ms, i, si, e) end
  return out, n
end

local function start_index(init, len)
  init = init or 1
  if init > 0 then return init end
  if init == 0 then return 1 end
  if -init > len then return 1 end
  return len + init + 1
end

local function find_aux(s, p, init, plain, find)
  s, p = tostring(s), tostring(p)
  local ls = #s
  local i = math.tointeger(init or 1)
  if not i then error("bad argument #3 (number has no integer representation)", 0) end
  init = start_index(i, ls)
  if init > ls + 1 then return nil end
  if find and (plain or not sfind(p, "[%^%$%*%+%?%.%(%[%%%-]")) then
    return sfind(s, p, init, true) -- no specials: a plain search
  end
  local anchor = byte(p, 1) == 94
  local ms = new_state(s, p)
  local pi = anchor and 2 or 1
  local si = init
  repeat
    ms.level, ms.depth = 0, MAXDEPTH
    local e = do_match(ms, si, pi)
    if e then
      if find then
        local caps, n = captures(ms, si, e, false)
        return si, e - 1, table.unpack(caps, 1, n)
      end
      local caps, n = captures(ms, si, e, true)
      return table.unpack(caps, 1, n)
    end
    si = si + 1
  until anchor or si > ls + 1
  return nil
end

function M.find(s, p, init, plain) return find_aux(s, p, init, plain, true) end

function M.match(s, p, init) return find_aux(s, p, init, false, false) end

function M.gmatch(s, p, init)
  s, p = tostring(s), tostring(p)
  local ls = #s
  local si = start_index(init or 1, ls)
  if si > ls + 1 then si = ls + 2 end
  local last = nil
  local ms = new_state(s, p)
  return function()
    while si <= ls + 1 do
      ms.level, ms.depth = 0, MAXDEPTH
      local e = do_match(ms, si, 1)
      if e and e ~= last then
        local start = si
        si, last = e, e
        local caps, n = captures(ms, start, e, true)
        return table.unpack(caps, 1, n)
      end
      si = si + 1
    end
    return nil
  end
end

local function add_value(ms, out, si, e, repl, rt)
  local whole = sub(ms.s, si, e - 1)
  local v
  if rt == "string" then
    local parts, i, n = {}, 1, #repl
    while i <= n do
      local c = byte(repl, i)
      if c == L_ESC then
        i = i + 1
        local d = byte(repl, i)
        if d == L_ESC then
          parts[#parts + 1] = "%"
        elseif d and d >= 48 and d <= 57 then
          if d == 48 then parts[#parts + 1] = whole
          else
            local cap = get_capture(ms, d - 48, si, e)
            parts[#parts + 1] = tostring(cap)
          end
        else
          error("invalid use of '%' in replacement string", 0)
        end
      else
        parts[#parts + 1] = char(c)
      end
      i = i + 1
    end
    out[#out + 1] = table.concat(parts)
    return
  end
  local first = get_capture(ms, 1, si, e)
  if rt == "table" then
    v = repl[first]
  else
    local caps, n = captures(ms, si, e, true)
    v = repl(table.unpack(caps, 1, n))
  end
  if v == nil or v == false then
    out[#out + 1] = whole
  elseif type(v) == "string" or type(v) == "number" then
    out[#out + 1] = tostring(v)
  else
    error(("invalid replacement value (a %s)"):format(type(v)), 0)
  end
end

function M.gsub(s, p, repl, max_n)
  s, p = tostring(s), tostring(p)
  local rt = type(repl)
  if rt == "number" then repl, rt = tostring(repl), "string" end
  if rt ~= "string" and rt ~= "table" and rt ~= "function" then
    error("bad argument #3 to 'gsub' (string/function/table expected, got " .. rt .. ")", 0)
  end
  local ls = #s
  max_n = max_n or ls + 1
  local anchor = byte(p, 1) == 94
  local pi = anchor and 2 or 1
  local ms = new_state(s, p)
  local si, n, out, last = 1, 0, {}, nil
  while n < max_n do
    ms.level, ms.depth = 0, MAXDEPTH
    local e = do_match(ms, si, pi)
    if e and e ~= last then
      n = n + 1
      add_value(ms, out, si, e, repl, rt)
      si, last = e, e
    elseif si <= ls then
      out[#out + 1] = sub(s, si, si)
      si = si + 1
    else
      break
    end
    if anchor then break end
  end
  out[#out + 1] = sub(s, si)
  return table.concat(out), n
end

M.SPECIALS = SPECIALS

return M
