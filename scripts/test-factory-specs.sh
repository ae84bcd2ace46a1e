#!/usr/bin/env bash
# The lifecycle, podman and containerd integration specs again with the factory on (docs/factory.md), once
# for each kind of clone: templates made with `factory init` under a configuration of their own, which
# KATA_SPEC_CONFIG gives every kata-runtime the specs run (spec/helpers/world.lua, the engines' wrappers).
#
#   scripts/test-factory-specs.sh BUILD_DIR       (CTest: busted.factory; exit 77 when it cannot run here)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:?usage: $0 BUILD_DIR}")
[[ $EUID -eq 0 && -x /usr/bin/qemu-system-x86_64 ]] || { echo "skip: needs root and qemu"; exit 77; }

tmp=$(mktemp -d /tmp/kata-factory-specs.XXXXXX)
kinds=(9p virtio-fs)
cleanup() {
	for kind in "${kinds[@]}"; do
		[[ -f $tmp/$kind.lua ]] && "$build/kata-runtime" --root "$tmp/root" --config "$tmp/$kind.lua" factory destroy >/dev/null 2>&1
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

for kind in "${kinds[@]}"; do
	printf 'return { factory = { template = true, dir = "%s", share_fs = "%s" } }\n' "$tmp/factory-$kind" "$kind" >"$tmp/$kind.lua"
	"$build/kata-runtime" --root "$tmp/root" --config "$tmp/$kind.lua" factory init
	echo "specs with the factory on, $kind clones:"
	KATA_SPEC_CONFIG=$tmp/$kind.lua VC_BUILD_DIR=$build lua5.4 /usr/bin/busted --tags=integration -o utfTerminal \
		spec/lifecycle_spec.lua spec/podman_spec.lua spec/containerd_spec.lua
done
