--- Mechanism: sharing a container's files with the guest. Its rootfs and the host sources of its bind
--- mounts are bound in the host-only side of the sandbox's virtio-fs share (<share_host>/<id>/rootfs,
--- <share_host>/<id>/mounts/<n>); the guest sees them through its read-only view (<shared>), relative to
--- the share. Every path below the share goes through api.sharefs, which follows no link, and every mount
--- made is recorded in the state with its mount id, so that unsharing unmounts exactly those.
local runner = require("kata.runner")

local M = {}

local fail = runner.fail
local must = runner.must

local function has_option(m, ...)
  for _, o in ipairs(m.options or {}) do
    for i = 1, select("#", ...) do if o == select(i, ...) then return true end end
  end
  return false
end

--- Whether path is dir or beneath it.
local function beneath(path, dir)
  return dir ~= nil and (path == dir or path:sub(1, #dir + 1) == dir .. "/")
end

function M.bind(api, undo)
  local S = {}
  local fs = api.sharefs

  --- Refuse, before anything is made (or a VM booted), bind mounts whose host source is missing or lies
  --- under the runtime's root (a sandbox's share among it).
  function S.check(config)
    for i, m in ipairs(config.mounts or {}) do
      if (m.type == "bind" or has_option(m, "bind", "rbind")) and type(m.source) == "string" and m.source:sub(1, 1) == "/" then
        if not api.fs.stat(m.source) then fail(("config.json: mounts[%d]: source '%s' does not exist"):format(i - 1, m.source)) end
        local real = api.fs.realpath(m.source) or m.source
        if api.root and beneath(real, api.root) then
          fail(("config.json: mounts[%d]: source '%s' is inside the runtime's root"):format(i - 1, m.source))
        end
      end
    end
  end

  --- Share container `st`'s rootfs and bind-mount sources. Records runtime.share and runtime.mounts and
  --- saves the state; a rollback unmounts and removes what was made.
  ---@return table guest_mounts config.mounts as the guest must see them (bind sources relative to the share)
  function S.container(st, config)
    local rt, id = st.runtime, st.id
    local host = rt.share_host
    if not host then fail("sandbox has no host side of its share (made by an older runtime): re-create the pod") end
    -- the rootfs comes from the bundle, never from a path the guest can write
    if beneath(rt.rootfs, rt.sandbox_dir) then fail(("rootfs '%s' is inside the sandbox's share"):format(rt.rootfs)) end
    rt.share = id
    undo.push("remove share directory " .. id, function()
      fs.remove(host, id .. "/mounts"); fs.remove(host, id .. "/rootfs"); fs.remove(host, id)
    end)
    must("create share directory", fs.mkdir(host, id .. "/rootfs", 493))
    -- writable even for root.readonly: the agent makes the spec's mount points in it, then makes it
    -- read-only in the guest, as runc does on the host
    local mnt = must("share rootfs", fs.bind(rt.rootfs, host, id .. "/rootfs"))
    local mounts = { { path = id .. "/rootfs", id = mnt } }
    undo.push("unmount rootfs", function() fs.umount(host, id .. "/rootfs", mnt) end)

    local guest_mounts = {}
    for i, m in ipairs(config.mounts or {}) do
      local gm = {}
      for k, v in pairs(m) do gm[k] = v end
      if (m.type == "bind" or has_option(m, "bind", "rbind")) and type(m.source) == "string" and m.source:sub(1, 1) == "/" then
        local st_src = api.fs.stat(m.source)
        if not st_src then fail(("mounts[%d]: source '%s' does not exist"):format(i - 1, m.source)) end
        if beneath(api.fs.realpath(m.source) or m.source, rt.sandbox_dir) then
          fail(("mounts[%d]: source '%s' is inside the sandbox's share"):format(i - 1, m.source))
        end
        local rel = ("%s/mounts/%d"):format(id, i - 1)
        must("create share directory", fs.mkdir(host, id .. "/mounts", 493))
        undo.push("remove " .. rel, function() fs.remove(host, rel) end)
        if st_src.type == "directory" then
          must("create mount point", fs.mkdir(host, rel, 493))
        else
          must("create mount point", fs.mkfile(host, rel, 420))
        end
        local mid = must(("share mounts[%d] '%s'"):format(i - 1, m.source),
          fs.bind(m.source, host, rel, { readonly = has_option(m, "ro") }))
        undo.push("unmount " .. rel, function() fs.umount(host, rel, mid) end)
        mounts[#mounts + 1] = { path = rel, id = mid }
        gm.source = rel
        gm.type = "bind"
      end
      guest_mounts[#guest_mounts + 1] = gm
    end
    rt.mounts = mounts
    must("save state", api.state.save(id, st))
    return guest_mounts
  end

  --- Undo S.container from the state: unmount what it recorded (only a mount that is still the recorded
  --- one), remove its directories. Never raises.
  function S.remove(st)
    local rt = st.runtime
    local host = rt.share_host
    if type(host) ~= "string" then return end
    for i = #(type(rt.mounts) == "table" and rt.mounts or {}), 1, -1 do
      local m = rt.mounts[i]
      if type(m) == "table" and type(m.path) == "string" and math.type(m.id) == "integer" then
        local ok, err, code = fs.umount(host, m.path, m.id)
        if not ok and code ~= "EINVAL" and code ~= "ENOENT" then api.log.warn("unmount '%s': %s, ignoring", m.path, err) end
        fs.remove(host, m.path)
      end
    end
    if type(st.id) == "string" then
      fs.remove(host, st.id .. "/mounts")
      fs.remove(host, st.id .. "/rootfs")
      fs.remove(host, st.id)
    end
  end

  --- Make the sandbox's share: the host-only directory and the guest's read-only view of it. Records
  --- runtime.share_host; a rollback tears it down.
  function S.setup(st)
    local rt = st.runtime
    rt.share_host = rt.sandbox_dir .. "/mounts"
    undo.push("tear the share down", function() must("tear the share down", fs.teardown(rt.share_host, rt.shared)) end)
    must("set up the share", fs.setup(rt.share_host, rt.shared))
  end

  --- Tear the sandbox's share down with whatever is still mounted in it. Never raises.
  function S.teardown(sst)
    local rt = sst.runtime
    if type(rt.share_host) ~= "string" or type(rt.shared) ~= "string" then return end
    local ok, err = fs.teardown(rt.share_host, rt.shared)
    if not ok then api.log.warn("tear the share down: %s, ignoring", err) end
  end

  return S
end

return M
