#!/usr/bin/env bash
# Build the guest images, a kernel and an initramfs each, one directory per kernel:
#   BUILD_DIR/guest/kata/{vmlinux,initrd.img}             the project's kernel (scripts/build-kernel.sh)
#   BUILD_DIR/guest/debian/{vmlinux,vmlinuz,initrd.img}   Debian's cloud kernel and its virtio modules
# hypervisor.guest_kernel picks one (docs/configuration.md).
#
#   scripts/build-guest.sh [BUILD_DIR]        (default ./build)
#
# GUEST_KERNELS (default "kata debian") names the images to build.
#
# Each initramfs is a gzip'd newc cpio holding our static kata-agent as /init and /lib/modules/load (module
# paths in load order, dependencies first), which the agent reads. The project's kernel has every driver
# built in: its list is empty. It is built from Debian's linux-source-6.1 and guest/kernel/*.conf, and
# cached outside the build directory (see scripts/build-kernel.sh).
#
# Debian's kernel comes from its package, fetched with apt-get download and unpacked with dpkg-deb into a
# temporary directory (nothing is installed on the host), with the virtio modules the agent loads.
# vmlinux is the kernel of the package's bzImage (vmlinuz) unpacked, an ELF that QEMU starts at its PVH
# entry point, as Kata's own vmlinux.container: the guest does not decompress itself at every boot, and
# QEMU maps the file rather than copying it, so its pages are page cache that all sandboxes share. The
# runtime boots it, and the bzImage (vmlinuz) when there is no vmlinux.
#
# Cached: each image's inputs (kernel, agent binary hash, this script's hash) are recorded in its
# directory's `inputs`; when they are unchanged and the outputs exist the script does nothing and prints
# nothing. The kernel .deb is kept in BUILD_DIR/guest/cache so a new agent does not download it again.
set -euo pipefail

BUILD_DIR=${1:-./build}
GUEST_KERNELS=${GUEST_KERNELS:-kata debian}
KERNEL_META=${KERNEL_META:-linux-image-cloud-amd64}
# What the agent loads, by module name; their dependencies are added from modules.dep.
MODULES=(virtio_pci virtio_console virtiofs virtio_net virtio_balloon)

die() {
	echo "build-guest: $*" >&2
	exit 1
}

[[ -d $BUILD_DIR ]] || die "build directory '$BUILD_DIR' does not exist (configure with: cmake -S . -B $BUILD_DIR)"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
GUEST=$BUILD_DIR/guest
AGENT=$BUILD_DIR/kata-agent

for tool in apt-cache apt-get dpkg-deb depmod cpio gzip sha256sum readelf; do
	command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/setup.sh)"
done

# The agent is a CMake target; make sure it is current when this is a CMake build tree.
if [[ -f $BUILD_DIR/CMakeCache.txt ]]; then
	if ! out=$(cmake --build "$BUILD_DIR" --target kata-agent -j2 2>&1); then
		printf '%s\n' "$out" >&2
		die "building kata-agent failed"
	fi
fi
[[ -x $AGENT ]] || die "'$AGENT' not found: build the kata-agent target first"

AGENT_HASH=$(sha256sum "$AGENT" | cut -d' ' -f1)
SCRIPT_HASH=$(sha256sum "$SCRIPT" | cut -d' ' -f1)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kata-guest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The initramfs of an image: /init (the agent), the modules staged under $1/lib/modules, and their list.
make_initrd() { # $1 staging directory (lib/modules/load written), $2 output
	local stage=$1
	mkdir -p "$stage"/{dev,proc,sys,run,tmp,lib/modules}
	install -m 0755 -s "$AGENT" "$stage/init"
	[[ -f $stage/lib/modules/load ]] || : >"$stage/lib/modules/load"
	(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
		cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) | gzip -9 -n >"$2"
}

# Is the image in $1 current for these inputs? (its outputs exist and it was made from the same inputs)
current() { # $1 image directory, $2 inputs, $3... the outputs
	local dir=$1 inputs=$2 f
	shift 2
	[[ -f $dir/inputs && $(<"$dir/inputs") == "$inputs" ]] || return 1
	for f in "$@"; do [[ -s $dir/$f ]] || return 1; done
}

# The project's kernel: built (or found in its cache) by build-kernel.sh; everything is built in.
build_kata() {
	local out=$GUEST/kata vmlinux inputs stage=$TMP/kata-initramfs
	vmlinux=$(bash "$(dirname "$SCRIPT")/build-kernel.sh") || die "building the guest kernel failed"
	inputs="kernel=$(sha256sum "$vmlinux" | cut -d' ' -f1)
agent=$AGENT_HASH
script=$SCRIPT_HASH"
	current "$out" "$inputs" vmlinux initrd.img && return 0
	mkdir -p "$out" "$stage"
	make_initrd "$stage" "$TMP/kata-initrd.img"
	cp "$vmlinux" "$TMP/kata-vmlinux"
	mv "$TMP/kata-vmlinux" "$out/vmlinux"
	mv "$TMP/kata-initrd.img" "$out/initrd.img"
	printf '%s\n' "$inputs" >"$out/inputs"
	echo "build-guest: $out/vmlinux ($(basename "$(dirname "$vmlinux")")), $out/initrd.img" \
		"($(du -k "$out/initrd.img" | cut -f1) KiB)" >&2
}

# linux-image-cloud-amd64 is a metapackage: its Depends names the real, versioned kernel package.
resolve_kernel() {
	{ apt-cache depends "$KERNEL_META" 2>/dev/null || true; } |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# The ELF kernel inside a bzImage: the payload starts at its compressor's magic (after the setup code and
# the decompressor stub); the first candidate that unpacks to an ELF with a PVH entry note is it.
# (The kernel's scripts/extract-vmlinux does the same; that script is not in any binary package.)
extract_vmlinux() { # $1 bzImage, $2 output
	local img=$1 out=$2 magic tool off
	for spec in '\x02\x21\x4c\x18:lz4 -dc' '\x28\xb5\x2f\xfd:zstd -qdc' '\xfd\x37\x7a\x58\x5a\x00:xz -dc' \
		'\x1f\x8b\x08:gzip -dc'; do
		magic=${spec%%:*}
		tool=${spec#*:}
		command -v "${tool%% *}" >/dev/null || continue
		for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1 | head -5); do
			tail -c +$((off + 1)) "$img" | $tool >"$out" 2>/dev/null || true
			if [[ $(head -c 4 "$out" | od -An -c | tr -d ' ') == '177ELF' ]] &&
				readelf -n "$out" 2>/dev/null | grep -Eq '0x00000012|PHYS32_ENTRY'; then
				return 0
			fi
		done
	done
	rm -f "$out"
	return 1
}

# Debian's cloud kernel and the virtio modules the agent loads.
build_debian() {
	local out=$GUEST/debian KPKG KVER_PKG KREL inputs deb MODDIR STAGE path p
	KPKG=$(resolve_kernel)
	if [[ -z $KPKG && $EUID -eq 0 ]]; then
		# a fresh machine has no package lists yet
		apt-get update -qq >/dev/null 2>&1 || true
		KPKG=$(resolve_kernel)
	fi
	[[ -n $KPKG ]] || die "cannot resolve '$KERNEL_META' to a kernel package (run apt-get update)"
	KVER_PKG=$(apt-cache policy "$KPKG" | awk '$1 == "Candidate:" { print $2 }')
	[[ -n $KVER_PKG && $KVER_PKG != "(none)" ]] || die "no candidate version for '$KPKG'"
	KREL=${KPKG#linux-image-} # kernel release, the directory name under /lib/modules

	inputs="kernel=$KPKG=$KVER_PKG
agent=$AGENT_HASH
script=$SCRIPT_HASH
modules=${MODULES[*]}"
	current "$out" "$inputs" vmlinuz initrd.img && return 0

	mkdir -p "$out" "$GUEST/cache"
	deb=$GUEST/cache/${KPKG}_${KVER_PKG//:/%3a}_amd64.deb
	if [[ ! -s $deb ]]; then
		rm -f "$GUEST/cache/"*.deb
		echo "build-guest: downloading $KPKG $KVER_PKG" >&2
		mkdir -p "$TMP/dl"
		(cd "$TMP/dl" && apt-get download -q "$KPKG=$KVER_PKG" >/dev/null 2>"$TMP/apt.err") ||
			{ cat "$TMP/apt.err" >&2; die "apt-get download $KPKG failed"; }
		mv "$TMP/dl"/*.deb "$deb"
	fi

	dpkg-deb -x "$deb" "$TMP/pkg"
	MODDIR=$TMP/pkg/lib/modules/$KREL
	[[ -f $TMP/pkg/boot/vmlinuz-$KREL ]] || die "no /boot/vmlinuz-$KREL in $deb"
	[[ -d $MODDIR ]] || die "no /lib/modules/$KREL in $deb"
	# The package does not ship modules.dep (it is made at install time), so make it in the unpacked tree.
	depmod -b "$TMP/pkg" "$KREL"

	# Dependency closure in load order: depth-first, dependencies before the module that needs them.
	declare -A seen=()
	local order=()
	resolve() { # $1: a path relative to MODDIR, as modules.dep writes it
		local path=$1 deps d
		[[ -n ${seen[$path]:-} ]] && return
		seen[$path]=1
		deps=$(awk -v m="$path:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$MODDIR/modules.dep")
		for d in $deps; do
			resolve "$d"
		done
		order+=("$path")
	}
	for m in "${MODULES[@]}"; do
		path=$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n) }
			n == m { print $1; exit }' "$MODDIR/modules.dep")
		[[ -n $path ]] || die "module '$m' not found in $KPKG (is it built in?)"
		resolve "$path"
	done

	STAGE=$TMP/debian-initramfs
	mkdir -p "$STAGE/lib/modules"
	: >"$STAGE/lib/modules/load"
	for path in "${order[@]}"; do
		dst=$STAGE/lib/modules/$KREL/$path
		mkdir -p "$(dirname "$dst")"
		# Compressed modules are decompressed here so the agent needs no in-kernel decompression support.
		case $path in
		*.ko.xz) xz -dc "$MODDIR/$path" >"${dst%.xz}" ;;
		*.ko.zst) zstd -qdc "$MODDIR/$path" >"${dst%.zst}" ;;
		*.ko.gz) gzip -dc "$MODDIR/$path" >"${dst%.gz}" ;;
		*) cp "$MODDIR/$path" "$dst" ;;
		esac
		p=${path%.xz}
		p=${p%.zst}
		echo "/lib/modules/$KREL/${p%.gz}" >>"$STAGE/lib/modules/load"
	done
	make_initrd "$STAGE" "$TMP/debian-initrd.img"

	cp "$TMP/pkg/boot/vmlinuz-$KREL" "$TMP/vmlinuz"
	if extract_vmlinux "$TMP/pkg/boot/vmlinuz-$KREL" "$TMP/vmlinux"; then
		mv "$TMP/vmlinux" "$out/vmlinux"
	else
		# the runtime then boots the bzImage
		echo "build-guest: warning: no ELF kernel with a PVH entry point inside /boot/vmlinuz-$KREL" >&2
		rm -f "$out/vmlinux"
	fi
	mv "$TMP/vmlinuz" "$out/vmlinuz"
	mv "$TMP/debian-initrd.img" "$out/initrd.img"
	printf '%s\n' "$inputs" >"$out/inputs"
	echo "build-guest: $out/vmlinu[xz] ($KREL), $out/initrd.img" \
		"($(du -k "$out/initrd.img" | cut -f1) KiB, ${#order[@]} modules)" >&2
}

# the single image of earlier builds, now guest/debian/
rm -f "$GUEST/vmlinux" "$GUEST/vmlinuz" "$GUEST/initrd.img" "$GUEST/inputs"
for k in $GUEST_KERNELS; do
	case $k in
	kata) build_kata ;;
	debian) build_debian ;;
	*) die "GUEST_KERNELS: unknown kernel '$k' (kata, debian)" ;;
	esac
done
