#!/usr/bin/env bash
# Boot benchmark: launch and shut down N sandboxes one after the other (default 10) and print the
# launch-to-agent-ready time (median, min, max), then the memory (PSS, from /proc/<pid>/smaps_rollup) of
# the supervisor, qemu and virtiofsd of one idle sandbox.
#
#   scripts/bench-boot.sh [N]
#
# Environment: BUILD_DIR (default ./build), GUEST_KERNEL (kata|debian, default kata), VC_GUEST_DIR (the image
# directory, default $BUILD_DIR/guest/$GUEST_KERNEL), ACCEL (auto|kvm|tcg, default auto), MEMORY_MIB (default
# 256), VCPUS (default 1), KERNEL (default $VC_GUEST_DIR/vmlinux), KERNEL_PARAMS (appended). Needs root (the
# share dir becomes a mount).
set -euo pipefail

N=${1:-10}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench-boot: N must be a positive integer, got '$N'" >&2; exit 1; }
BUILD_DIR=$(cd "${BUILD_DIR:-./build}" 2>/dev/null && pwd) || { echo "bench-boot: no build dir" >&2; exit 1; }
GUEST=${VC_GUEST_DIR:-$BUILD_DIR/guest/${GUEST_KERNEL:-kata}}
for f in "$BUILD_DIR/vc.so" "$BUILD_DIR/kata-supervisor" "$GUEST/vmlinux" "$GUEST/initrd.img"; do
	[[ -e $f ]] || { echo "bench-boot: '$f' is missing (build, then scripts/build-guest.sh)" >&2; exit 1; }
done
[[ $EUID -eq 0 ]] || { echo "bench-boot: needs root" >&2; exit 1; }

TMP=$(mktemp -d /tmp/vc-bench.XXXXXX)
cleanup() {
	grep -o " $TMP[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

VC_BUILD_DIR=$BUILD_DIR LUA_CPATH="$BUILD_DIR/?.so;;" LUA_PATH="$(cd "$(dirname "$0")/.." && pwd)/lua/?.lua;;" N=$N TMP=$TMP GUEST=$GUEST ACCEL=${ACCEL:-auto} MEMORY_MIB=${MEMORY_MIB:-256} \
	VCPUS=${VCPUS:-1} KERNEL_PARAMS=${KERNEL_PARAMS:-} lua5.4 - <<'LUA'
local vc = require("vc")
local n, tmp, guest = tonumber(os.getenv("N")), os.getenv("TMP"), os.getenv("GUEST")

-- the configuration layer's VM and the standard boot plan (libvc has no defaults), with this run's values
local function cfg(i)
  local pod = require("kata.pod")
  local t = pod.vm(require("kata.config").defaults())
  local over = { id = "bench" .. i, dir = tmp .. "/sb" .. i, accel = os.getenv("ACCEL"),
    kernel = os.getenv("KERNEL") or (guest .. "/vmlinux"), initrd = guest .. "/initrd.img",
    memory_mib = tonumber(os.getenv("MEMORY_MIB")), vcpus = tonumber(os.getenv("VCPUS")),
    kernel_params = os.getenv("KERNEL_PARAMS"), boot_timeout = 60, plan = pod.standard_plan("bench" .. i) }
  for k, v in pairs(over) do t[k] = v end
  return t
end

local function shutdown(info)
  local sb = assert(vc.sandbox.connect(info.socket))
  assert(sb:call("sup.shutdown", { timeout = 10 }, 30))
  sb:close()
end

local function pss_kib(pid)
  local f = io.open("/proc/" .. pid .. "/smaps_rollup")
  if not f then return 0 end
  local text = f:read("a")
  f:close()
  return tonumber(text:match("\nPss:%s+(%d+) kB")) or 0
end

local function children(pid)
  local out = {}
  local f = io.open("/proc/" .. pid .. "/task/" .. pid .. "/children")
  if f then
    for c in f:read("a"):gmatch("%d+") do out[#out + 1] = tonumber(c) end
    f:close()
  end
  return out
end

local times, accel = {}, nil
for i = 1, n do
  local info = assert(vc.sandbox.launch(cfg(i)))
  accel = info.accel
  times[#times + 1] = info.boot_ms
  if i == 1 then
    os.execute("sleep 3") -- idle: let the guest settle
    local sup, qemu, vfsd = pss_kib(info.pid), pss_kib(info.qemu_pid), pss_kib(info.virtiofsd_pid)
    for _, c in ipairs(children(info.virtiofsd_pid)) do vfsd = vfsd + pss_kib(c) end
    io.write(string.format("idle sandbox PSS: supervisor %.1f MiB, qemu %.1f MiB, virtiofsd %.1f MiB, " ..
      "total %.1f MiB (guest memory %d MiB)\n", sup / 1024, qemu / 1024, vfsd / 1024, (sup + qemu + vfsd) / 1024,
      tonumber(os.getenv("MEMORY_MIB"))))
  end
  shutdown(info)
end
table.sort(times)
local median = #times % 2 == 1 and times[(#times + 1) // 2] or (times[#times // 2] + times[#times // 2 + 1]) / 2
io.write(string.format("launch to agent ready, %d boots (%s): median %.0f ms, min %d ms, max %d ms, spread %d ms\n",
  n, accel, median, times[1], times[#times], times[#times] - times[1]))
LUA
