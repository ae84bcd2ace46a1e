#!/usr/bin/env bash
# Install the Debian packages that building, testing and running kata-runtime need.
# Idempotent: installs only what is missing and prints nothing when all is there.
set -euo pipefail

PKGS=(
	# build
	build-essential cmake pkg-config
	liblua5.4-dev lua5.4 libjson-c-dev libuv1-dev libmnl-dev libseccomp-dev
	# tests
	lua-busted lua-filesystem
	# the VM: hypervisor, virtio-fs daemon, guest image tools
	qemu-system-x86 qemu-system-common busybox-static cpio kmod binutils lz4 zstd xz-utils
	# the project's guest kernel (scripts/build-kernel.sh): Debian's kernel source and what building it needs
	linux-source-6.1 bc bison flex libelf-dev libssl-dev
	# host tools the tests and benchmarks use
	iproute2 util-linux procps strace crun runc clang-format
	# the fuzzers (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
	clang libclang-rt-dev
	# container engines the integration specs drive kata-runtime from
	podman conmon golang-github-containers-common tmux containerd
	# CNI plugins (bridge, portmap, host-local) for podman's and containerd's bridge networks
	containernetworking-plugins iptables
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	if [[ $EUID -ne 0 ]]; then
		echo "setup: need root to install packages" >&2
		exit 1
	fi
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
