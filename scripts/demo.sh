#!/usr/bin/env bash
# The demo: build everything, then run a busybox container in its own QEMU VM through the runc-style
# command line, the way an engine would, and clean up.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
bash scripts/build-guest.sh build
[[ $EUID -eq 0 ]] || { echo "demo: needs root (mounts, namespaces, QEMU)" >&2; exit 1; }

K=$PWD/build/kata-runtime
DEMO=$(mktemp -d /tmp/kata-demo.XXXXXX)
ROOT=$DEMO/root
cleanup() {
	"$K" --root "$ROOT" delete --force demo >/dev/null 2>&1 || true
	rm -rf "$DEMO"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step kata-runtime check
"$K" check

bash scripts/make-rootfs.sh "$DEMO/bundle/rootfs" >/dev/null
"$K" spec --bundle "$DEMO/bundle"
# a process that says hello, then waits to be signalled
LUA_CPATH="build/?.so;;" lua5.4 - "$DEMO/bundle" <<'LUA'
local vc = require("vc")
local path = arg[1] .. "/config.json"
local f = assert(io.open(path)); local c = vc.json.decode(f:read("a")); f:close()
c.process.terminal = false
c.process.args = { "sh", "-c", "echo hello from $(uname -r) in a VM; hostname; trap 'echo bye; exit 0' TERM; while :; do sleep 0.2; done" }
f = assert(io.open(path, "w")); f:write(vc.json.encode(c, true)); f:close()
LUA

step kata-runtime create --bundle bundle demo
time "$K" --root "$ROOT" --log "$DEMO/log.json" --log-format json create --bundle "$DEMO/bundle" --pid-file "$DEMO/pid" demo >"$DEMO/out" 2>&1
step kata-runtime state demo
"$K" --root "$ROOT" state demo
step kata-runtime start demo
"$K" --root "$ROOT" start demo
sleep 1
cat "$DEMO/out"
step kata-runtime exec demo sh -c "'grep -m1 \"model name\" /proc/cpuinfo; uname -r'"
"$K" --root "$ROOT" exec demo sh -c 'grep -m1 "model name" /proc/cpuinfo; echo "guest kernel: $(uname -r), host kernel: '"$(uname -r)"'"'
step kata-runtime ps --format json demo
"$K" --root "$ROOT" ps --format json demo
step kata-runtime events --stats demo
"$K" --root "$ROOT" events --stats demo
step kata-runtime kill demo TERM
"$K" --root "$ROOT" kill demo TERM
sleep 1
cat "$DEMO/out"
step kata-runtime delete --force demo
"$K" --root "$ROOT" delete --force demo
step "kata-runtime list"
"$K" --root "$ROOT" list
printf '\nlog lines written (json): %s\n' "$(wc -l <"$DEMO/log.json")"
