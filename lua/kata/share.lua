--- Mechanism: sharing a container's files with the guest. Its rootfs and the host sources of its bind
--- mounts are bound under the sandbox's virtio-fs share (<shared>/<id>/rootfs, <shared>/<id>/mounts/<n>);
--- the guest sees them relative to the share. Every mount made is recorded in the state, so that
--- unsharing removes exactly those.
local runner = require("kata.runner")

local M = {}

local fail = runner.fail
local function must(what, v, err)
  if v == nil or v == false then fail(what and (what .. ": " .. tostring(err)) or tostring(err)) end
  return v
end

local function has_option(m, ...)
  for _, o in ipairs(m.options or {}) do
    for i = 1, select("#", ...) do if o == select(i, ...) then return true end end
  end
  return false
end

function M.bind(api, undo)
  local S = {}

  --- Share container `st`'s rootfs and bind-mount sources. Records runtime.share and runtime.mounts and
  --- saves the state; a rollback unmounts and removes what was made.
  ---@return table guest_mounts config.mounts as the guest must see them (bind sources relative to the share)
  function S.container(st, config)
    local rt, id = st.runtime, st.id
    -- the supervisor made the share a shared mount point: binds made under it reach virtiofsd
    local base = rt.shared .. "/" .. id
    rt.share = base
    must("create share directory", api.fs.mkdir_p(base .. "/rootfs", 493))
    undo.push("remove " .. base, function() api.fs.rmdir(base .. "/mounts"); api.fs.rmdir(base .. "/rootfs"); api.fs.rmdir(base) end)
    must("share rootfs", api.fs.bind(rt.rootfs, base .. "/rootfs", { readonly = config.root.readonly == true }))
    local mounts = { base .. "/rootfs" }
    undo.push("unmount rootfs", function() api.fs.umount(base .. "/rootfs") end)

    local guest_mounts = {}
    for i, m in ipairs(config.mounts or {}) do
      local gm = {}
      for k, v in pairs(m) do gm[k] = v end
      if (m.type == "bind" or has_option(m, "bind", "rbind")) and type(m.source) == "string" and m.source:sub(1, 1) == "/" then
        local st_src = api.fs.stat(m.source)
        if not st_src then fail(("mounts[%d]: source '%s' does not exist"):format(i - 1, m.source)) end
        local target = ("%s/mounts/%d"):format(base, i - 1)
        must("create share directory", api.fs.mkdir_p(base .. "/mounts", 493))
        if st_src.type == "directory" then
          must("create mount point", api.fs.mkdir_p(target, 493))
          undo.push("remove " .. target, function() api.fs.rmdir(target) end)
        else
          must("create mount point", api.fs.atomic_write(target, "", 420))
          undo.push("remove " .. target, function() api.fs.unlink(target) end)
        end
        must(("share mounts[%d] '%s'"):format(i - 1, m.source), api.fs.bind(m.source, target, { readonly = has_option(m, "ro") }))
        undo.push("unmount " .. target, function() api.fs.umount(target) end)
        mounts[#mounts + 1] = target
        gm.source = ("%s/mounts/%d"):format(id, i - 1)
        gm.type = "bind"
      end
      guest_mounts[#guest_mounts + 1] = gm
    end
    rt.mounts = mounts
    must("save state", api.state.save(id, st))
    return guest_mounts
  end

  --- Undo S.container from the state: unmount what it recorded, remove its directories.
  function S.remove(st)
    local rt = st.runtime
    for i = #(rt.mounts or {}), 1, -1 do
      local path = rt.mounts[i]
      api.fs.umount(path)
      local s = api.fs.stat(path)
      if s and s.type == "directory" then api.fs.rmdir(path) elseif s then api.fs.unlink(path) end
    end
    if rt.share then
      api.fs.rmdir(rt.share .. "/mounts")
      api.fs.rmdir(rt.share .. "/rootfs")
      api.fs.rmdir(rt.share)
    end
  end

  return S
end

return M
