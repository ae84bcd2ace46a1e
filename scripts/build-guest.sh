#!/usr/bin/env bash
# Build the guest image: BUILD_DIR/guest/vmlinux, BUILD_DIR/guest/vmlinuz and BUILD_DIR/guest/initrd.img.
#
#   scripts/build-guest.sh [BUILD_DIR]        (default ./build)
#
# Everything comes from Debian packages, fetched with apt-get download and unpacked with dpkg-deb into a
# temporary directory (nothing is installed on the host): Debian's cloud kernel and the virtio modules the
# agent needs. The initramfs is a gzip'd newc cpio holding only our static kata-agent as /init, those
# modules and /lib/modules/load (module paths in load order, dependencies first), which the agent reads.
#
# vmlinux is the kernel of the package's bzImage (vmlinuz) unpacked, an ELF that QEMU starts at its PVH
# entry point, as Kata's own vmlinux.container: the guest does not decompress itself at every boot, and
# QEMU maps the file rather than copying it, so its pages are page cache that all sandboxes share. The
# runtime boots it by default, and the bzImage (vmlinuz) when there is no vmlinux.
#
# Cached: the inputs (kernel package and version, agent binary hash, this script's hash) are recorded in
# BUILD_DIR/guest/inputs; when they are unchanged and the outputs exist the script does nothing and prints
# nothing. The kernel .deb is kept in BUILD_DIR/guest/cache so a new agent does not download it again.
set -euo pipefail

BUILD_DIR=${1:-./build}
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

# linux-image-cloud-amd64 is a metapackage: its Depends names the real, versioned kernel package.
resolve_kernel() {
	{ apt-cache depends "$KERNEL_META" 2>/dev/null || true; } |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
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
agent=$(sha256sum "$AGENT" | cut -d' ' -f1)
script=$(sha256sum "$SCRIPT" | cut -d' ' -f1)
modules=${MODULES[*]}"

if [[ -f $GUEST/inputs && -s $GUEST/vmlinuz && -s $GUEST/initrd.img ]] &&
	[[ $(<"$GUEST/inputs") == "$inputs" ]]; then
	exit 0
fi

mkdir -p "$GUEST/cache"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kata-guest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

deb=$GUEST/cache/${KPKG}_${KVER_PKG//:/%3a}_amd64.deb
if [[ ! -s $deb ]]; then
	rm -f "$GUEST/cache/"*.deb
	echo "build-guest: downloading $KPKG $KVER_PKG" >&2
	(cd "$TMP" && apt-get download -q "$KPKG=$KVER_PKG" >/dev/null 2>"$TMP/apt.err") ||
		{ cat "$TMP/apt.err" >&2; die "apt-get download $KPKG failed"; }
	mv "$TMP"/*.deb "$deb"
fi

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

dpkg-deb -x "$deb" "$TMP/pkg"
MODDIR=$TMP/pkg/lib/modules/$KREL
[[ -f $TMP/pkg/boot/vmlinuz-$KREL ]] || die "no /boot/vmlinuz-$KREL in $deb"
[[ -d $MODDIR ]] || die "no /lib/modules/$KREL in $deb"
# The package does not ship modules.dep (it is made at install time), so make it in the unpacked tree.
depmod -b "$TMP/pkg" "$KREL"

# Dependency closure in load order: depth-first, dependencies before the module that needs them.
declare -A seen=()
order=()
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

STAGE=$TMP/initramfs
mkdir -p "$STAGE"/{dev,proc,sys,run,tmp,lib/modules}
install -m 0755 -s "$AGENT" "$STAGE/init"
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

(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) | gzip -9 -n >"$TMP/initrd.img"
cp "$TMP/pkg/boot/vmlinuz-$KREL" "$TMP/vmlinuz"
if extract_vmlinux "$TMP/pkg/boot/vmlinuz-$KREL" "$TMP/vmlinux"; then
	mv "$TMP/vmlinux" "$GUEST/vmlinux"
else
	# the runtime then boots the bzImage
	echo "build-guest: warning: no ELF kernel with a PVH entry point inside /boot/vmlinuz-$KREL" >&2
	rm -f "$GUEST/vmlinux"
fi
mv "$TMP/vmlinuz" "$GUEST/vmlinuz"
mv "$TMP/initrd.img" "$GUEST/initrd.img"
printf '%s\n' "$inputs" >"$GUEST/inputs"
echo "build-guest: $GUEST/vmlinu[xz] ($KREL), $GUEST/initrd.img" \
	"($(du -k "$GUEST/initrd.img" | cut -f1) KiB, ${#order[@]} modules)" >&2
