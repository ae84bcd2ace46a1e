-- kata.factory without VMs (issue 14): which template size a VM is cloned from, and when it boots cold.
-- Template records are real files in a temporary directory; the primitives are the real vc ones.
local vc = require("vc")
local run = require("spec.helpers.run")
local factory = require("kata.factory")

describe("kata.factory", function()
  local tmp, cfg, base
  local p = { fs = vc.fs, json = vc.json, digest = vc.id.digest, sandbox = vc.sandbox, proc = vc.proc }

  before_each(function()
    tmp = run.tmpdir("kata-factory-unit")
    for _, f in ipairs({ "qemu", "vmlinux", "initrd.img" }) do run.write(tmp .. "/" .. f, f) end
    cfg = {
      hypervisor = { memory_mib = 256, vcpus = 1 },
      factory = { template = true, dir = tmp .. "/factory", memory_dir = tmp, hotplug_ports = 2,
        shapes = { { memory_mib = 1024, vcpus = 2 }, { memory_mib = 512, vcpus = 1 }, { memory_mib = 256, vcpus = 1 } } },
    }
    base = { qemu = tmp .. "/qemu", kernel = tmp .. "/vmlinux", initrd = tmp .. "/initrd.img", kernel_params = "",
      memory_mib = 256, vcpus = 1, tcg_cache_mib = 16, accel = "tcg", share_fs = "virtio-fs" }
  end)
  after_each(function() run.rmrf(tmp) end)

  -- what factory init leaves for one size, without booting it
  local function make(v)
    local loc = factory.locate(p, cfg, v)
    assert(vc.fs.mkdir_p(loc.dir))
    local inputs = {}
    for _, what in ipairs({ "qemu", "kernel", "initrd" }) do
      local real = vc.fs.realpath(v[what])
      local st = vc.fs.stat(real)
      inputs[what] = { path = real, size = st.size, mtime = st.mtime, ino = st.ino }
    end
    run.write(loc.file, vc.json.encode({ shape = loc.shape, inputs = inputs, accel = "tcg", memory_mib = v.memory_mib,
      vcpus = v.vcpus, hotplug_ports = 2 }))
    run.write(loc.state, "state")
    run.write(loc.memory, "memory")
    return loc
  end

  it("makes sizes smallest first, the configured one once", function()
    local sizes = factory.sizes(cfg, base)
    assert.equal(3, #sizes)
    assert.same({ 256, 512, 1024 }, { sizes[1].memory_mib, sizes[2].memory_mib, sizes[3].memory_mib })
    assert.equal(2, sizes[3].vcpus)
    assert.equal(tmp .. "/vmlinux", sizes[2].kernel)
  end)

  it("clones from the smallest ready size that holds the VM", function()
    for _, v in ipairs(factory.sizes(cfg, base)) do make(v) end
    local grown = {}
    for k, v in pairs(base) do grown[k] = v end
    grown.memory_mib = 384
    local clone, rec = factory.clone_of(p, cfg, grown)
    assert.truthy(clone, rec)
    assert.equal(512, rec.memory_mib)
    assert.equal("virtio-fs", clone.fs)
    grown.vcpus = 2
    clone, rec = factory.clone_of(p, cfg, grown)
    assert.equal(1024, rec.memory_mib)
    grown.memory_mib = 2048
    clone, rec = factory.clone_of(p, cfg, grown)
    assert.is_nil(clone)
    assert.equal("no template size holds 2048 MiB and 2 vCPUs", rec)
  end)

  it("boots cold when the factory is off, a template is missing or stale, or the VM needs more ports", function()
    local off = { hypervisor = cfg.hypervisor, factory = { template = false } }
    assert.same({ nil, "the factory is off" }, { factory.clone_of(p, off, base) })
    local clone, why = factory.clone_of(p, cfg, base)
    assert.is_nil(clone)
    assert.matches("^template %x+: missing$", why)
    local loc = make(base)
    assert.truthy((factory.clone_of(p, cfg, base)))
    run.write(base.initrd, "another initrd")
    clone, why = factory.clone_of(p, cfg, base)
    assert.is_nil(clone)
    assert.equal(("template %s: stale: initrd '%s' changed since the template was made"):format(loc.key, base.initrd), why)
    local ports = {}
    for k, v in pairs(base) do ports[k] = v end
    ports.hotplug_ports = 3
    assert.same({ nil, "3 hot-plug ports asked for, templates have 2" }, { factory.clone_of(p, cfg, ports) })
  end)

  it("keeps templates of the two kinds apart", function()
    local ninep = {}
    for k, v in pairs(base) do ninep[k] = v end
    ninep.share_fs = "9p"
    assert.are_not.equal(factory.locate(p, cfg, base).key, factory.locate(p, cfg, ninep).key)
  end)

  it("destroys every template under its directory", function()
    for _, v in ipairs(factory.sizes(cfg, base)) do make(v) end
    assert.equal(3, factory.destroy(p, cfg))
    assert.same({}, vc.fs.list(cfg.factory.dir))
    for _, f in ipairs(vc.fs.list(tmp)) do assert.is_nil(f:match("^kata%-template%-")) end
  end)
end)
