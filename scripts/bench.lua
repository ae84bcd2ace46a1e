-- The benchmark driver behind scripts/bench.sh: times kata-runtime, crun and runc on the same bundles,
-- interleaving the runtimes in every round so drift on a shared machine hits all three alike.
local vc = require("vc")

local TMP = assert(os.getenv("TMP"))
local RUNROOT = assert(os.getenv("RUNROOT"))
local quick, json_out, only = false, nil, nil
do
  local i = 1
  while arg[i] do
    if arg[i] == "--quick" then quick = true
    elseif arg[i] == "--only" then only = arg[i + 1]; i = i + 1
    elseif arg[i] == "--json" then json_out = arg[i + 1]; i = i + 1
    else io.stderr:write(("bench: unknown argument '%s'\n"):format(arg[i])); os.exit(1) end
    i = i + 1
  end
end

local RUNTIMES = {
  { name = "kata-runtime", bin = vc.fs.realpath("build/kata-runtime"), root = RUNROOT .. "/kata-root" },
  { name = "crun", bin = "/usr/bin/crun", root = RUNROOT .. "/crun-root" },
  { name = "runc", bin = "/usr/sbin/runc", root = RUNROOT .. "/runc-root" },
}
if not vc.fs.stat(RUNTIMES[3].bin) then RUNTIMES[3].bin = "/usr/bin/runc" end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd) local ok, _, code = os.execute(cmd); return ok and 0 or code end
local function now() return vc.clock.monotonic() end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  if #s == 0 then return nil end
  if #s % 2 == 1 then return s[(#s + 1) // 2] end
  return (s[#s // 2] + s[#s // 2 + 1]) / 2
end

--- A bundle for process args (no terminal, the shared busybox rootfs copied once per bundle).
local nb = 0
local function bundle(args, edit)
  nb = nb + 1
  local dir = ("%s/bundle%d"):format(TMP, nb)
  assert(vc.fs.mkdir_p(dir))
  assert(sh(("cp -a %s %s"):format(q(TMP .. "/rootfs"), q(dir .. "/rootfs"))) == 0)
  local c = vc.oci.default_spec()
  c.process.terminal = false
  c.process.args = args
  c.process.rlimits = nil
  c.ociVersion = "1.0.2" -- crun 1.8.1 knows no newer version
  -- crun and runc need a cgroup they may create; keep their defaults
  if edit then edit(c) end
  local f = assert(io.open(dir .. "/config.json", "w"))
  f:write(vc.json.encode(c))
  f:close()
  return dir
end

local function rt(r, args, redirect)
  return ("%s --root %s%s%s %s %s"):format(q(r.bin), q(r.root), r.config and (" --config " .. q(r.config)) or "",
    r.log and (" --log " .. q(r.log)) or "", args,
    redirect or ">/dev/null 2>&1 </dev/null")
end

-- kata-runtime with each guest kernel (hypervisor.guest_kernel), for the rows that compare them
local KERNELS = {}
for _, k in ipairs({ { "debian", "Debian's cloud kernel" }, { "kata", "the project's kernel" } }) do
  local config = ("%s/config-%s.lua"):format(TMP, k[1])
  local f = assert(io.open(config, "w"))
  f:write(("return { hypervisor = { guest_kernel = %q } }\n"):format(k[1]))
  f:close()
  KERNELS[#KERNELS + 1] = { name = "kata-runtime", kernel = k[1], what = k[2], bin = RUNTIMES[1].bin,
    root = RUNROOT .. "/kata-root", config = config }
end

local function timed(cmd)
  local t0 = now()
  local code = sh(cmd)
  return now() - t0, code
end

local results = { machine = {}, rows = {} }
-- Times are measured in seconds; a row holds its values in the unit it names (ms, us: converted here).
local SCALE = { ms = 1e3, us = 1e6 }
local function add_row(name, unit, values, note)
  local scaled = {}
  for k, v in pairs(values) do scaled[k] = v * (SCALE[unit] or 1) end
  results.rows[#results.rows + 1] = { name = name, unit = unit, values = scaled, note = note }
end

local function fmt_val(v, unit)
  if v == nil then return "-" end
  if unit == "ms" then return ("%.1f"):format(v) end
  if unit == "us" then return ("%.0f"):format(v) end
  if unit == "MiB" or unit == "MiB/s" then return ("%.1f"):format(v) end
  if unit == "s" then return ("%.2f"):format(v) end
  return tostring(v)
end

local bb = bundle({ "sleep", "100000" })
local id_seq = 0
local function new_id(prefix) id_seq = id_seq + 1; return ("%s%d"):format(prefix, id_seq) end

local function create(r, id, b)
  local errf = TMP .. "/create.err"
  local code = sh(rt(r, ("create --bundle %s %s"):format(q(b or bb), id), ">/dev/null 2>" .. q(errf) .. " </dev/null"))
  if code ~= 0 then
    local f = io.open(errf)
    local why = f and f:read("a") or ""
    if f then f:close() end
    error(("%s create failed (%d): %s"):format(r.name, code, why))
  end
end
local function destroy(r, id)
  sh(rt(r, "kill " .. id .. " KILL"))
  sh(rt(r, "delete --force " .. id))
end

local function section(name) return only == nil or only == name end

--- PSS in MiB of pids (smaps_rollup).
local function pss(pids)
  local total = 0
  for _, pid in ipairs(pids) do
    local f = io.open("/proc/" .. pid .. "/smaps_rollup")
    if f then
      for line in f:lines() do
        local kb = line:match("^Pss:%s+(%d+) kB")
        if kb then total = total + tonumber(kb) end
      end
      f:close()
    end
  end
  return total / 1024
end

--- Host processes of a kata sandbox: everything whose command line names its directory, plus the shim.
local function sandbox_pids(root, id)
  local st = vc.state.load(root, id)
  local pids = { st.runtime.shim_pid }
  local p = io.popen("ls /proc")
  for pid in p:lines() do
    if pid:match("^%d+$") then
      local f = io.open("/proc/" .. pid .. "/cmdline")
      local cmd = f and f:read("a") or ""
      if f then f:close() end
      if cmd:find(st.runtime.sandbox_dir, 1, true) and tonumber(pid) ~= st.runtime.shim_pid then pids[#pids + 1] = tonumber(pid) end
    end
  end
  p:close()
  return pids
end

-- The factory rows' guest: the build's, or KATA_BENCH_KERNEL and KATA_BENCH_INITRD (another guest image).
local function guest_override()
  local k, i = os.getenv("KATA_BENCH_KERNEL"), os.getenv("KATA_BENCH_INITRD")
  if not (k and i) then return "" end
  return ("hypervisor = { kernel = %q, initrd = %q }, "):format(k, i)
end

--- Sandboxes cloned from a template (docs/factory.md), of one kind (factory.share_fs): the same runtime
--- with factory.template on. Returns false and why when the kind's clones fall back to cold boots.
--- kata-runtime with the factory on, its clones of one kind (factory.share_fs), a root and log of its own.
local function factory_runtime(kind)
  local cfg = TMP .. "/factory-" .. kind .. ".lua"
  local f = assert(io.open(cfg, "w"))
  f:write(("return { %sfactory = { template = true, dir = %q, share_fs = %q } }\n"):format(guest_override(),
    RUNROOT .. "/factory", kind))
  f:close()
  return { name = "kata-runtime", bin = RUNTIMES[1].bin, root = RUNROOT .. "/kata-factory-" .. kind, config = cfg,
    log = TMP .. "/factory-" .. kind .. ".log" }
end

local function bench_clones(kind)
  io.stderr:write(("bench: template clones (%s)\n"):format(kind))
  local fk = factory_runtime(kind)
  local t0 = now()
  assert(sh(rt(fk, "factory init")) == 0, "factory init failed")
  local init_s = now() - t0
  local ready, answers, runs = {}, {}, {}
  local bt = bundle({ "true" })
  for i = 1, quick and 3 or 10 do
    local id = new_id("clone")
    create(fk, id)
    local st = vc.state.load(fk.root, id)
    if not st.runtime.clone then
      destroy(fk, id)
      sh(rt(fk, "factory destroy"))
      local why = "?"
      for line in io.lines(fk.log) do why = line:match('msg="(clone of template .-)"') or line:match('msg="(booting cold: .-)"') or why end
      return false, "the sandbox booted cold: " .. why
    end
    table.insert(ready, (st.runtime.boot_ms or 0) / 1000)
    table.insert(answers, (st.runtime.agent_ms or 0) / 1000)
    destroy(fk, id)
    id = new_id("cr")
    local dt, code = timed(rt(fk, ("run --bundle %s %s"):format(q(bt), id)))
    assert(code == 0, "clone run failed")
    table.insert(runs, dt)
    sh(rt(fk, "delete --force " .. id))
  end
  table.sort(ready)
  table.sort(answers)
  add_row(("clone (%s): agent answers check"):format(kind), "ms", { ["kata-runtime"] = median(answers) },
    ("launch to the agent's first answer; min %.0f ms, max %.0f ms"):format(answers[1] * 1000, answers[#answers] * 1000))
  add_row(("clone (%s): sandbox ready"):format(kind), "ms", { ["kata-runtime"] = median(ready) },
    ("the agent's restore and create_sandbox (the share mounted) too; min %.0f ms, max %.0f ms over %d clones; factory init (template boot + save) took %.1f s"):format(
      ready[1] * 1000, ready[#ready] * 1000, #ready, init_s))
  add_row(("clone (%s): run /bin/true (whole)"):format(kind), "ms", { ["kata-runtime"] = median(runs) })
  local ids, cmds = {}, {}
  for i = 1, 10 do ids[i] = new_id("cc"); cmds[i] = rt(fk, ("create --bundle %s %s"):format(q(bb), ids[i])) .. " &" end
  t0 = now()
  sh(table.concat(cmds, " ") .. " wait")
  local conc = now() - t0
  sh("sleep 10")
  local total, n = 0, 0
  for i = 1, 10 do
    local st = vc.state.load(fk.root, ids[i])
    if st and st.runtime.clone then total = total + pss(sandbox_pids(fk.root, ids[i])); n = n + 1 end
  end
  for i = 1, 10 do destroy(fk, ids[i]) end
  add_row(("clone (%s): 10 concurrent creates"):format(kind), "s", { ["kata-runtime"] = conc })
  add_row(("clone (%s): host PSS per pod, 10 idle pods"):format(kind), "MiB", { ["kata-runtime"] = n > 0 and total / n or nil },
    ("total PSS of the %d cloned pods / %d; %s"):format(n, n, kind == "9p"
      and "the template's pages a clone has not written are shared, PSS splits them among the clones"
      or "each clone's RAM is its own copy of the template's"))
  sh(rt(fk, "factory destroy"))
  return true
end

if section("factory") then
  -- cold boots in the same run, for the ratio on a machine whose load changes
  local cold, cold_answers = {}, {}
  local kc = { name = "kata-runtime", bin = RUNTIMES[1].bin, root = RUNTIMES[1].root, config = TMP .. "/cold.lua" }
  local f = assert(io.open(kc.config, "w"))
  f:write(("return { %s}\n"):format(guest_override()))
  f:close()
  for _ = 1, 3 do
    local id = new_id("cold")
    create(kc, id)
    local rt_ = vc.state.load(kc.root, id).runtime
    table.insert(cold, (rt_.boot_ms or 0) / 1000)
    table.insert(cold_answers, (rt_.agent_ms or 0) / 1000)
    destroy(kc, id)
  end
  add_row("cold boot: agent answers check (same run)", "ms", { ["kata-runtime"] = median(cold_answers) },
    ("median of 3, for the clones' ratio; guest %s"):format(os.getenv("KATA_BENCH_KERNEL") or "of the build"))
  add_row("cold boot: sandbox ready (same run)", "ms", { ["kata-runtime"] = median(cold) })
  for _, kind in ipairs({ "virtio-fs", "9p" }) do
    local ok, why = bench_clones(kind)
    if not ok then add_row(("clone (%s)"):format(kind), "ms", {}, why) end
  end
end

--- Density: host PSS per pod with 1, 10 and 50 idle pods really booted (created 10 at a time), cold with
--- the build's guest and cloned from a template of each kind. PSS splits shared pages (qemu's text and
--- libraries, the guest kernel file, a 9p clone's template RAM) among the pods that map them, so the
--- figure per pod falls as pods are added. Not in --quick: it boots 183 VMs.
local function bench_density()
  local methods = { { label = "cold", r = RUNTIMES[1] } }
  for _, kind in ipairs({ "9p", "virtio-fs" }) do methods[#methods + 1] = { label = "clone " .. kind, r = factory_runtime(kind), kind = kind } end
  for _, m in ipairs(methods) do
    io.stderr:write(("bench: density (%s)\n"):format(m.label))
    if m.kind then assert(sh(rt(m.r, "factory init")) == 0, "factory init failed") end
    for _, n in ipairs({ 1, 10, 50 }) do
      local ids, cloned = {}, 0
      for first = 1, n, 10 do
        local cmds = {}
        for i = first, math.min(first + 9, n) do
          ids[i] = new_id("dn")
          cmds[#cmds + 1] = rt(m.r, ("create --bundle %s %s"):format(q(bb), ids[i])) .. " &"
        end
        sh(table.concat(cmds, " ") .. " wait")
      end
      sh("sleep 10") -- idle: what the guests freed after boot goes back through free page reporting
      local total, up = 0, 0
      for i = 1, n do
        local st = vc.state.load(m.r.root, ids[i])
        if st then
          up = up + 1
          if st.runtime.clone then cloned = cloned + 1 end
          total = total + pss(sandbox_pids(m.r.root, ids[i]))
        end
      end
      for i = 1, n do destroy(m.r, ids[i]) end
      local note = ("%d of %d created"):format(up, n)
      if m.kind then note = note .. (", %d of them clones"):format(cloned) end
      add_row(("host PSS per pod, %d idle pod%s, %s"):format(n, n == 1 and "" or "s", m.label), "MiB",
        { ["kata-runtime"] = up == n and total / n or nil }, note)
    end
    if m.kind then sh(rt(m.r, "factory destroy")) end
  end
end

--- CPU seconds (user + system) a process has used so far.
local CLK_TCK = tonumber(io.popen("getconf CLK_TCK"):read("l")) or 100
local function cpu_seconds(pid)
  local f = pid and io.open("/proc/" .. pid .. "/stat")
  if not f then return 0 end
  local fields = {}
  for w in f:read("a"):match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = w end
  f:close()
  return (tonumber(fields[12]) + tonumber(fields[13])) / CLK_TCK -- utime, stime (fields 14, 15)
end

--- An initramfs in TMP/<name>.img holding the host's static busybox and an init of `script` (a busybox sh script).
local function bare_initramfs(name, script)
  local stage = TMP .. "/" .. name
  assert(vc.fs.mkdir_p(stage .. "/bin"))
  local f = assert(io.open(stage .. "/init", "w"))
  f:write("#!/bin/busybox sh\n", script)
  f:close()
  assert(sh(("cp /bin/busybox %s/bin/busybox && chmod 0755 %s/init && (cd %s && find . | cpio -o -H newc --quiet | gzip -1 >%s)"):format(
    q(stage), q(stage), q(stage), q(stage .. ".img"))) == 0, name .. " initramfs")
  return stage .. ".img"
end

--- QEMU as the runtime starts it (machine, accelerator, CPU, firmware, the kernel's boot parameters: src/lib/qemu.c)
--- but alone: guest kernel `kernel` (a hypervisor.guest_kernel name) booting initramfs `img`, no other device than
--- `devices` (QEMU arguments). The command line, without redirections.
local function bare_qemu(accel, kernel, img, devices)
  local cfg = require("kata.config")
  local fw = cfg.defaults().hypervisor.firmware
  return ("qemu-system-x86_64 -machine q35%s -accel %s -cpu %s -smp 1 -m 256M -nodefaults -no-user-config"
    .. " -nographic -no-reboot %s -kernel %s -initrd %s -append %s"):format(
    fw ~= "" and " -bios " .. q(fw) or "", accel == "kvm" and "kvm" or "tcg,tb-size=16", accel == "kvm" and "host" or "max,-erms,-fsrm",
    devices, q(cfg.guest_image(kernel)), q(img),
    q("console=ttyS0 panic=1 reboot=k quiet tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 "
      .. "i8042.dumbkbd=1 i8042.nopnp=1 i8042.noaux=1 noreplace-smp cryptomgr.notests pci=lastbus=0"
      -- a TCG guest with one vCPU, as vc_qemu_build_argv boots it
      .. (accel == "kvm" and "" or " noapictimer")))
end

--- What the transport itself carries: QEMU booting the default kernel into an init that writes mib MiB into a
--- virtio-serial port (as the agent's port is made) whose host end is a FIFO a `cat` drains, timed inside the guest.
--- Two shapes: dd straight into the port (what a process could reach writing the port itself), and dd into a
--- pipe to cat into the port (the shape of a container's stdout: a pipe to the agent, which writes the port).
--- MiB/s each.
local function transport_ceiling(accel, mib)
  -- Debian's cloud kernel has virtio-console as a module, which this bare init does not load
  if require("kata.config").default_guest_kernel ~= "kata" then return nil end
  local dd = ("/bin/busybox dd if=/dev/zero bs=1048576 count=%d 2>/dev/null"):format(mib)
  local img = bare_initramfs("transport", ([[
B=/bin/busybox
$B mkdir -p /dev /proc
$B mount -t devtmpfs dev /dev
$B mount -t proc proc /proc
t() { a=$($B cut -d' ' -f1 /proc/uptime); eval "$2"; b=$($B cut -d' ' -f1 /proc/uptime); echo "RATE $1 $a $b"; }
t direct "%s of=/dev/vport0p1"
t pipe "%s | $B cat >/dev/vport0p1"
$B poweroff -f
]]):format(dd, dd))
  local fifo = TMP .. "/transport-port"
  assert(sh(("rm -f %s.in %s.out && mkfifo %s.in %s.out"):format(q(fifo), q(fifo), q(fifo), q(fifo))) == 0)
  local cmd = ("cat %s.out >/dev/null & %s </dev/null 2>/dev/null; wait"):format(q(fifo),
    bare_qemu(accel, "kata", img, ("-serial stdio -device virtio-serial-pci -chardev pipe,id=out,path=%s "
      .. "-device virtserialport,chardev=out,name=out"):format(q(fifo))))
  local p = io.popen(cmd)
  local rates = {}
  for line in p:lines() do
    local what, a, b = line:match("RATE (%a+) ([%d.]+) ([%d.]+)")
    local dt = a and tonumber(b) - tonumber(a)
    if dt and dt > 0 then rates[what] = mib / dt end
  end
  p:close()
  return rates.direct, rates.pipe
end

--- Where the bytes of kata-runtime's stdout cost: CPU time (robust to a loaded machine, unlike wall time)
--- of qemu -- under TCG the whole guest -- and of the supervisor while container `id` sends mib MiB to a
--- host reader, and of qemu while the guest pipes the same bytes to itself.
local function stdout_cpu(r, id, mib)
  local sup = vc.state.load(r.root, id).runtime.supervisor_pid
  local p = sup and io.popen(("pgrep -P %d -f qemu-system"):format(sup))
  local qemu = p and p:read("l")
  if p then p:close() end
  if not qemu then return nil end
  local q0, s0 = cpu_seconds(qemu), cpu_seconds(sup)
  assert(sh(rt(r, ("exec %s dd if=/dev/zero bs=1048576 count=%d"):format(id, mib),
    "2>/dev/null </dev/null | cat >/dev/null")) == 0)
  local q1, s1 = cpu_seconds(qemu), cpu_seconds(sup)
  local pipe = ("dd if=/dev/zero bs=1048576 count=%d 2>/dev/null | cat >/dev/null"):format(mib)
  assert(sh(rt(r, ("exec %s sh -c %s"):format(id, q(pipe)), "</dev/null")) == 0)
  return { qemu = q1 - q0, supervisor = s1 - s0, guest_pipe = cpu_seconds(qemu) - q1 }
end

--- What the guest itself can push, timed inside it (its /proc/uptime, 10 ms steps): dd to /dev/null, and
--- dd into a pipe to cat (as a container's stdout is a pipe to the agent). MiB/s each.
local function guest_ceiling(r, id, mib)
  local function rate(cmd)
    local script = ("a=$(cut -d' ' -f1 /proc/uptime); %s; b=$(cut -d' ' -f1 /proc/uptime); echo $a $b"):format(cmd)
    local p = io.popen(rt(r, ("exec %s sh -c %s"):format(id, q(script)), "2>/dev/null </dev/null"))
    local a, b = (p:read("a") or ""):match("([%d.]+) ([%d.]+)")
    p:close()
    local dt = a and (tonumber(b) - tonumber(a))
    return dt and dt > 0 and mib / dt or nil
  end
  return rate(("dd if=/dev/zero of=/dev/null bs=1048576 count=%d 2>/dev/null"):format(mib)),
    rate(("dd if=/dev/zero bs=1048576 count=%d 2>/dev/null | cat >/dev/null"):format(mib))
end

--- stdout throughput: exec in a running container (boot excluded), its stdout piped to a reader on the host.
--- Part of "main"; alone with --only stdout.
local function bench_stdout()
  io.stderr:write("bench: stdout throughput\n")
  local mib = quick and 64 or 256
  local v, cpu, null_rate, pipe_rate, accel = {}, nil, nil, nil, nil
  for _, r in ipairs(RUNTIMES) do
    local id = new_id("dd")
    create(r, id)
    assert(sh(rt(r, "start " .. id)) == 0, r.name .. " start failed")
    local best
    for _ = 1, quick and 1 or 3 do
      local dt, code = timed(rt(r, ("exec %s dd if=/dev/zero bs=1048576 count=%d"):format(id, mib),
        "2>/dev/null </dev/null | cat >/dev/null"))
      assert(code == 0, r.name .. " exec failed")
      best = best and math.min(best, dt) or dt
    end
    if r.name == "kata-runtime" then
      cpu = stdout_cpu(r, id, mib)
      null_rate, pipe_rate = guest_ceiling(r, id, mib)
      accel = vc.state.load(r.root, id).runtime.accel
    end
    destroy(r, id)
    v[r.name] = mib / best
  end
  add_row(("stdout throughput (exec dd %d MiB | reader)"):format(mib), "MiB/s", v, "best of 3 runs")
  if null_rate and pipe_rate then
    add_row("stdout: the guest alone, dd to /dev/null", "MiB/s", { ["kata-runtime"] = null_rate },
      ("timed inside the guest, same run; kata-runtime's stdout is %.0f%% of it"):format(100 * v["kata-runtime"] / null_rate))
    add_row("stdout: the guest alone, dd | cat", "MiB/s", { ["kata-runtime"] = pipe_rate },
      ("the bytes through a pipe, as a container's stdout to the agent; kata-runtime's stdout is %.0f%% of it"):format(
        100 * v["kata-runtime"] / pipe_rate))
  end
  local direct, piped = transport_ceiling(accel, mib)
  if direct and piped then
    add_row("stdout: the transport alone, dd into a virtio-serial port", "MiB/s", { ["kata-runtime"] = direct },
      ("QEMU and the kernel without the runtime, same run; the most any stdout through the port could carry: %.0f%% of dd to /dev/null"):format(
        null_rate and 100 * direct / null_rate or 0))
    add_row("stdout: the transport alone, dd | cat into the port", "MiB/s", { ["kata-runtime"] = piped },
      ("the shape of a container's stdout (a pipe to a process that writes the port); kata-runtime's stdout is %.0f%% of it"):format(
        100 * v["kata-runtime"] / piped))
  end
  if cpu then
    add_row(("stdout: CPU per %d MiB through kata-runtime"):format(mib), "s", { ["kata-runtime"] = cpu.qemu },
      ("qemu (the whole guest under TCG: process, agent, port); supervisor %.2f s; the guest piping the same "
        .. "bytes to itself (dd | cat) %.2f s of qemu"):format(cpu.supervisor, cpu.guest_pipe))
  end
end

--- Boot to the agent's answer with each kernel, and the floor: part of "main"; alone with --only boot.
local function bench_boot()
  io.stderr:write("bench: boot to agent ready, each guest kernel, and the floor\n")
  local accel = "?"
  do
    -- boots of the two kernels interleaved, so the machine's load hits both alike
    local boots, answers = {}, {}
    for _, k in ipairs(KERNELS) do boots[k.kernel], answers[k.kernel] = {}, {} end
    for _ = 1, quick and 3 or 10 do
      for _, k in ipairs(KERNELS) do
        local id = new_id("boot")
        create(k, id)
        local st = vc.state.load(k.root, id)
        table.insert(boots[k.kernel], (st.runtime.boot_ms or 0) / 1000)
        table.insert(answers[k.kernel], (st.runtime.agent_ms or 0) / 1000)
        accel = st.runtime.accel or accel
        destroy(k, id)
      end
    end
    for _, k in ipairs(KERNELS) do
      local b, a = boots[k.kernel], answers[k.kernel]
      table.sort(b)
      table.sort(a)
      add_row(("boot: agent answers check, %s kernel"):format(k.kernel), "ms", { ["kata-runtime"] = median(a) },
        ("%s; launch to the agent's first answer; min %.0f ms, max %.0f ms over %d boots, accel %s; Kata 1.x reference: 0.8 s with KVM"):format(
          k.what, a[1] * 1000, a[#a] * 1000, #a, accel))
      add_row(("boot: sandbox ready, %s kernel"):format(k.kernel), "ms", { ["kata-runtime"] = median(b) },
        ("the boot plan done too (create_sandbox: the share mounted); min %.0f ms, max %.0f ms"):format(b[1] * 1000, b[#b] * 1000))
    end
  end

  do
    -- The floor: QEMU with the runtime's machine, firmware and kernel command line booting each kernel into an init that
    -- only powers off (busybox), timed from exec to QEMU's exit. No supervisor, virtiofsd, agent or devices.
    local img = bare_initramfs("floor", "/bin/busybox poweroff -f\n")
    local floor = {}
    for _, k in ipairs(KERNELS) do floor[k.kernel] = {} end
    for _ = 1, quick and 3 or 10 do
      for _, k in ipairs(KERNELS) do
        local cmd = bare_qemu(accel, k.kernel, img, "-serial none") .. " >/dev/null 2>&1 </dev/null"
        local dt, code = timed(cmd)
        assert(code == 0, "floor boot failed: " .. cmd)
        table.insert(floor[k.kernel], dt)
      end
    end
    for _, k in ipairs(KERNELS) do
      add_row(("floor: qemu boots %s kernel to a trivial init"):format(k.kernel), "ms",
        { ["kata-runtime"] = median(floor[k.kernel]) }, "exec of qemu to its exit; the init powers off at once")
    end
  end
end

if section("main") then
io.stderr:write("bench: state\n")
do
  local ids, samples = {}, {}
  for _, r in ipairs(RUNTIMES) do ids[r.name] = new_id("st"); create(r, ids[r.name]); samples[r.name] = {} end
  for _ = 1, quick and 20 or 100 do
    for _, r in ipairs(RUNTIMES) do
      local dt, code = timed(rt(r, "state " .. ids[r.name]))
      assert(code == 0, r.name .. " state failed")
      table.insert(samples[r.name], dt)
    end
  end
  for _, r in ipairs(RUNTIMES) do destroy(r, ids[r.name]) end
  local v = {}
  for _, r in ipairs(RUNTIMES) do v[r.name] = median(samples[r.name]) end
  add_row("state", "ms", v)
end

io.stderr:write("bench: policy load + dispatch\n")
do
  -- What a command's Lua costs before and around the policy's own work, in this process with the
  -- runtime's precompiled chunks (as kata-runtime loads them): load the runtime's modules, find and
  -- load the policy, build the command's api and its least-privilege view, and call the command. The
  -- empty policy defines no command (nothing to do: success), so its row is the cost of loading and
  -- dispatching alone; the default's adds `state`'s own work (read the record, check the shim is alive,
  -- print the OCI state).
  local kata = RUNTIMES[1]
  local id = new_id("pd")
  create(kata, id)
  local luac_dir = "build/share/kata-runtime/luac"
  local policy_dir = TMP .. "/policies"
  assert(vc.fs.mkdir_p(policy_dir, 493))
  local f = assert(io.open(policy_dir .. "/empty.lua", "w"))
  f:write("return {}\n")
  f:close()
  local function fresh_chunk(name)
    local rel = name:gsub("%.", "/")
    local bc, src = ("%s/%s.luac"):format(luac_dir, rel), ("lua/%s.lua"):format(rel)
    local b, s = vc.fs.stat(bc), vc.fs.stat(src)
    if name:sub(1, 5) ~= "kata." or not b or (s and s.mtime > b.mtime) then return "\n\tno fresh precompiled chunk" end
    return assert(loadfile(bc, "b")), bc
  end
  table.insert(package.searchers, 2, fresh_chunk)
  local devnull = assert(io.open("/dev/null", "w"))
  local function dispatch(policy_name)
    for k in pairs(package.loaded) do if k:sub(1, 5) == "kata." then package.loaded[k] = nil end end
    local stdout = io.stdout
    local t0 = now()
    local policies, api_mod, runner = require("kata.policies"), require("kata.api"), require("kata.runner")
    local config = assert(require("kata.config").load(nil, "lua"))
    config.runtime.policy_dir = policy_dir
    policies.luac_dir = luac_dir
    local ctx = { command = "state", args = { id }, options = {}, global = { root = kata.root }, policy = policy_name }
    local policy = assert(policies.load(policy_name, "lua", config))
    local api = api_mod.new(ctx, config)
    api.policy = policy
    io.stdout = devnull
    local res, err = runner.run(policy, "state", ctx, api_mod.protect(api, ctx))
    io.stdout = stdout
    local dt = now() - t0
    assert(res, err)
    return dt
  end
  local v = { empty = {}, default = {} }
  for _ = 1, quick and 50 or 300 do
    for _, name in ipairs({ "empty", "default" }) do table.insert(v[name], dispatch(name)) end
  end
  table.remove(package.searchers, 2)
  for k in pairs(package.loaded) do if k:sub(1, 5) == "kata." then package.loaded[k] = nil end end
  devnull:close()
  destroy(kata, id)
  add_row("policy load + dispatch, empty policy", "us", { ["kata-runtime"] = median(v.empty) },
    "modules, configuration, policy, api and its view, the call: kata-runtime's Lua around any command")
  add_row("policy load + dispatch + state, default", "us", { ["kata-runtime"] = median(v.default) },
    "the same with the default policy's `state` (record, liveness, OCI state document)")
end

io.stderr:write("bench: start, kill+delete\n")
do
  local start_s, kd_s = {}, {}
  for _, r in ipairs(RUNTIMES) do start_s[r.name], kd_s[r.name] = {}, {} end
  for _ = 1, quick and 3 or 10 do
    for _, r in ipairs(RUNTIMES) do
      local id = new_id("s")
      create(r, id)
      local dt, code = timed(rt(r, "start " .. id))
      assert(code == 0, r.name .. " start failed")
      table.insert(start_s[r.name], dt)
      local t0 = now()
      sh(rt(r, "kill " .. id .. " KILL"))
      sh(rt(r, "delete --force " .. id))
      table.insert(kd_s[r.name], now() - t0)
    end
  end
  local v1, v2 = {}, {}
  for _, r in ipairs(RUNTIMES) do v1[r.name] = median(start_s[r.name]); v2[r.name] = median(kd_s[r.name]) end
  add_row("start (created container)", "ms", v1)
  add_row("kill KILL + delete", "ms", v2)
end

io.stderr:write("bench: run /bin/true\n")
do
  local bt = bundle({ "true" })
  local s = {}
  for _, r in ipairs(RUNTIMES) do s[r.name] = {} end
  for _ = 1, quick and 3 or 10 do
    for _, r in ipairs(RUNTIMES) do
      local id = new_id("r")
      local dt, code = timed(rt(r, ("run --bundle %s %s"):format(q(bt), id)))
      assert(code == 0, ("%s run failed (%d)"):format(r.name, code))
      table.insert(s[r.name], dt)
      sh(rt(r, "delete --force " .. id))
    end
  end
  local v = {}
  for _, r in ipairs(RUNTIMES) do v[r.name] = median(s[r.name]) end
  add_row("run /bin/true (whole)", "ms", v)
end

bench_boot()

--- The guest's own view: memory in use (MemTotal - MemAvailable) in MiB, read in a running container.
local function guest_used(r, id)
  local p = io.popen(rt(r, "exec " .. id .. " cat /proc/meminfo", "2>/dev/null </dev/null"))
  local text = p:read("a")
  p:close()
  local total, avail = text:match("MemTotal:%s+(%d+)"), text:match("MemAvailable:%s+(%d+)")
  return total and avail and (tonumber(total) - tonumber(avail)) / 1024 or nil
end

io.stderr:write("bench: memory of an idle pod with each kernel, concurrent creates\n")
do
  for _, k in ipairs(KERNELS) do
    local id = new_id("idle")
    create(k, id)
    assert(sh(rt(k, "start " .. id)) == 0)
    sh("sleep 10") -- idle: boot-time memory the guest freed is handed back by free page reporting meanwhile
    local mem = pss(sandbox_pids(k.root, id))
    local used = guest_used(k, id)
    destroy(k, id)
    add_row(("host PSS, one idle pod, %s kernel"):format(k.kernel), "MiB", { ["kata-runtime"] = mem },
      "qemu + virtiofsd + supervisor + shim, 256 MiB guest")
    if used then
      add_row(("guest memory in use, idle pod, %s kernel"):format(k.kernel), "MiB", { ["kata-runtime"] = used },
        "MemTotal - MemAvailable in the guest")
    end
  end
  local avail = 0
  for line in io.lines("/proc/meminfo") do
    local kb = line:match("^MemAvailable:%s+(%d+)")
    if kb then avail = tonumber(kb) / 1024 end
  end

  -- 10 concurrent creates; then the same 10 idle pods share qemu's text and libraries, as pods on a
  -- node do, and PSS apportions those pages among them. kata-runtime once with each kernel (--quick: the
  -- default kernel only); the creates row has the default kernel's time.
  local v, per_pod, note = {}, {}, {}
  local default = require("kata.config").default_guest_kernel
  local rounds = {}
  for _, k in ipairs(KERNELS) do
    if not quick or k.kernel == default then rounds[#rounds + 1] = k end
  end
  rounds[#rounds + 1], rounds[#rounds + 2] = RUNTIMES[2], RUNTIMES[3]
  for _, r in ipairs(rounds) do
    local ids = {}
    local cmds = {}
    for i = 1, 10 do ids[i] = new_id("cc"); cmds[i] = rt(r, ("create --bundle %s %s"):format(q(bb), ids[i])) .. " &" end
    local t0 = now()
    sh(table.concat(cmds, " ") .. " wait")
    local dt = now() - t0
    if r.kernel then
      sh("sleep 10")
      local total = 0
      for i = 1, 10 do total = total + pss(sandbox_pids(r.root, ids[i])) end
      per_pod[r.kernel] = total / 10
      note[#note + 1] = ("%s kernel %.1f s"):format(r.kernel, dt)
      if r.kernel == default then v[r.name] = dt end
    else
      v[r.name] = dt
    end
    for i = 1, 10 do destroy(r, ids[i]) end
  end
  for _, k in ipairs(KERNELS) do
    if per_pod[k.kernel] then
      add_row(("host PSS per pod, 10 idle pods, %s kernel"):format(k.kernel), "MiB",
        { ["kata-runtime"] = per_pod[k.kernel] }, "total PSS of 10 pods created at once / 10")
    end
  end
  add_row("idle pods that fit (estimate)", "count", { ["kata-runtime"] = math.floor(avail / per_pod[default]) },
    ("MemAvailable %.0f MiB / PSS per pod of 10, %s kernel; estimate, not booted"):format(avail, default))
  add_row("10 concurrent creates", "s", v, table.concat(note, ", "))
end

bench_stdout()

io.stderr:write("bench: network\n")
do
  -- Two namespaces made here, a veth pair between them, nothing leaves them: the container runs in A,
  -- the peer (a byte counter, or ping's target) sits in B. TCP throughput: the container sends zeros for
  -- 5 s to busybox nc in B, which counts them; latency: ICMP round trips (busybox ping, 20 at 0.2 s).
  -- "direct" is the same client run in A without a container.
  local a, b = "vcbench-a-" .. vc.proc.getpid(), "vcbench-b-" .. vc.proc.getpid()
  local peer, port = "10.123.0.2", 5001
  local function ok(cmd) assert(sh(cmd) == 0, cmd) end
  ok(("ip netns add %s && ip netns add %s && ip -n %s link set lo up && ip -n %s link set lo up"):format(a, b, a, b))
  ok(("ip -n %s link add eth0 type veth peer name peer0 netns %s"):format(a, b))
  ok(("ip -n %s addr add 10.123.0.1/24 dev eth0 && ip -n %s link set eth0 up"):format(a, a))
  ok(("ip -n %s addr add %s/24 dev peer0 && ip -n %s link set peer0 up"):format(b, peer, b))
  local function netbundle(script)
    return bundle({ "sh", "-c", script }, function(c)
      for _, ns in ipairs(c.linux.namespaces) do if ns.type == "network" then ns.path = "/run/netns/" .. a end end
      c.process.capabilities = c.process.capabilities or {}
      for _, set in ipairs({ "bounding", "effective", "permitted" }) do
        local caps = c.process.capabilities[set] or {}
        caps[#caps + 1] = "CAP_NET_RAW" -- ping
        c.process.capabilities[set] = caps
      end
    end)
  end
  -- "; true": the shell stays the container's pid 1, so timeout's TERM reaches nc (pid 1 ignores it)
  local send = ("timeout 5 busybox nc %s %d </dev/zero; true"):format(peer, port)
  local pingc = ("ping -q -c 20 -i 0.2 %s"):format(peer)
  local bsend, bping = netbundle(send), netbundle(pingc)
  --- bytes per second the client reached: the sink in B counts what one connection brought
  local function throughput(client_cmd)
    local count = TMP .. "/count"
    os.remove(count)
    -- the counter reads the connection itself (-e): a sink with its stdin at EOF would close it early
    local p = io.popen(("ip netns exec %s busybox nc -l -p %d -e busybox sh -c 'busybox wc -c > %s' </dev/null >/dev/null 2>&1 & echo $!"):format(
      b, port, count))
    p:close()
    vc.clock.sleep(0.3)
    sh(client_cmd)
    local n
    for _ = 1, 100 do
      local f = io.open(count)
      n = f and tonumber(f:read("a"))
      if f then f:close() end
      if n then break end
      vc.clock.sleep(0.1)
    end
    return (n or 0) / 5 / 1048576
  end
  local function rtt(out_file)
    local f = io.open(out_file)
    local text = f and f:read("a") or ""
    if f then f:close() end
    local avg = text:match("min/avg/max = [%d.]+/([%d.]+)/")
    return avg and tonumber(avg) / 1000 or nil
  end
  local tput, lat = {}, {}
  for _, r in ipairs(RUNTIMES) do
    local id = new_id("net")
    tput[r.name] = throughput(rt(r, ("run --bundle %s %s"):format(q(bsend), id)))
    sh(rt(r, "delete --force " .. id))
    id = new_id("ping")
    sh(rt(r, ("run --bundle %s %s"):format(q(bping), id), (">%s 2>&1 </dev/null"):format(q(TMP .. "/ping.out"))))
    lat[r.name] = rtt(TMP .. "/ping.out")
    sh(rt(r, "delete --force " .. id))
  end
  local direct_t = throughput(("ip netns exec %s busybox sh -c %s >/dev/null 2>&1"):format(a, q(send)))
  sh(("ip netns exec %s busybox %s >%s 2>&1"):format(a, pingc, q(TMP .. "/ping.out")))
  local direct_l = rtt(TMP .. "/ping.out")
  -- (run by bench.sh in a private mount namespace: the namespace files are unlinked here as well)
  sh(("ip netns del %s; ip netns del %s; rm -f /run/netns/%s /run/netns/%s"):format(a, b, a, b))
  add_row("TCP throughput container -> peer, 5 s", "MiB/s", tput,
    ("between the two namespaces directly: %.1f MiB/s; guest NIC: virtio-net, tap + tc redirect, no vhost"):format(direct_t))
  add_row("round trip container -> peer (ICMP)", "us", lat,
    ("between the two namespaces directly: %s us"):format(direct_l and ("%.0f"):format(direct_l * 1e6) or "-"))
end

end -- section main

if only == "stdout" then bench_stdout() end
if only == "boot" then bench_boot() end
if only == "density" or (only == nil and not quick) then bench_density() end

-- the table
local names = { "kata-runtime", "crun", "runc" }
io.write("\nkata-runtime against crun and runc (medians; ratios are kata-runtime / other)\n")
io.write("crun runs in a private mount namespace with /sys/fs/cgroup/unified unmounted (hybrid cgroups)\n\n")
local fmt = "%-50s %-6s %12s %12s %12s %10s %10s\n"
io.write(fmt:format("benchmark", "unit", "kata", "crun", "runc", "kata/crun", "kata/runc"))
for _, row in ipairs(results.rows) do
  local k, c, r = row.values["kata-runtime"], row.values.crun, row.values.runc
  local function ratio(a, b) if a and b and b > 0 then return ("%.2f"):format(a / b) end return "-" end
  io.write(fmt:format(row.name, row.unit, fmt_val(k, row.unit), fmt_val(c, row.unit), fmt_val(r, row.unit),
    ratio(k, c), ratio(k, r)))
  if row.note then io.write(("    %s\n"):format(row.note)) end
end
results.crun_note = "crun ran in a private mount namespace with /sys/fs/cgroup/unified unmounted"
local doc = vc.json.encode(results, true)
if json_out then
  local f = assert(io.open(json_out, "w")); f:write(doc, "\n"); f:close()
  io.write(("\nJSON: %s\n"):format(json_out))
else
  io.write("\n", doc, "\n")
end
