#!/usr/bin/env bash
# Benchmarks: kata-runtime side by side with crun and runc (Debian packages) in one run, medians and
# ratios in a table, and the same figures as JSON.
#
#   scripts/bench.sh [--quick] [--only main|boot|factory|stdout|density] [--json FILE]
#   KATA_BENCH_KERNEL and KATA_BENCH_INITRD name another guest image for the factory rows.
#
# Debian's crun 1.8.1 refuses this machine's hybrid cgroup layout ("cgroups in hybrid mode not
# supported"), so the whole run happens in a private mount namespace with /sys/fs/cgroup/unified
# unmounted (unshare -m); runc and kata-runtime behave the same with or without it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${VC_BENCH_INNER:-} != 1 ]]; then
	bash scripts/setup.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j2 >/dev/null
	bash scripts/build-guest.sh build >/dev/null
	[[ $EUID -eq 0 ]] || { echo "bench: needs root" >&2; exit 1; }
	export VC_BENCH_INNER=1
	exec unshare -m --propagation private bash -c \
		'umount /sys/fs/cgroup/unified 2>/dev/null || true; exec bash scripts/bench.sh "$@"' bench "$@"
fi

TMP=$(mktemp -d /tmp/kata-bench.XXXXXX)
# State roots on tmpfs, where engines keep them on a systemd host (/run/runc, /run/containerd/runc,
# /run/kata-containers). /run may be a plain directory (a container, some CI machines): then a tmpfs of
# this private mount namespace stands in for it, for all three runtimes alike.
RUNROOT=$(mktemp -d /run/kata-bench.XXXXXX)
if [[ $(findmnt -n -o FSTYPE -T "$RUNROOT") != tmpfs ]]; then
	mount -t tmpfs -o mode=0700 kata-bench "$RUNROOT"
fi
cleanup() {
	for r in runc crun; do
		for id in $($r --root "$RUNROOT/$r-root" list -q 2>/dev/null); do $r --root "$RUNROOT/$r-root" delete -f "$id" >/dev/null 2>&1 || true; done
	done
	for id in $(build/kata-runtime --root "$RUNROOT/kata-root" list -q 2>/dev/null); do
		build/kata-runtime --root "$RUNROOT/kata-root" delete -f "$id" >/dev/null 2>&1 || true
	done
	grep -o " \($TMP\|$RUNROOT\)[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	umount "$RUNROOT" 2>/dev/null || true
	rm -rf "$TMP" "$RUNROOT"
}
trap cleanup EXIT
bash scripts/make-rootfs.sh "$TMP/rootfs" >/dev/null
TMP=$TMP RUNROOT=$RUNROOT LUA_CPATH="build/?.so;;" LUA_PATH="lua/?.lua;;" lua5.4 scripts/bench.lua "$@"
