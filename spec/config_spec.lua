-- kata.config's defaults that depend on the host (issue 14): qboot where QEMU's data has it.
local config = require("kata.config")

describe("kata.config defaults", function()
  it("boot with qboot where QEMU's data has it, else with QEMU's own firmware", function()
    local saved = config.QBOOT
    local f = os.tmpname()
    finally(function()
      config.QBOOT = saved
      os.remove(f)
    end)
    config.QBOOT = f
    assert.equal(f, config.defaults().hypervisor.firmware)
    config.QBOOT = f .. ".missing"
    assert.equal("", config.defaults().hypervisor.firmware)
  end)
end)
