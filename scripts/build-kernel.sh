#!/usr/bin/env bash
# Build the project's guest kernel: an ELF vmlinux (booted by QEMU at its PVH entry point) from Debian's
# linux-source-6.1, configured by `make allnoconfig` plus the fragments in guest/kernel/*.conf, without
# loadable modules. Prints the path of the vmlinux on stdout.
#
#   scripts/build-kernel.sh [--print-key]
#
# Cached outside the checkout, so a fresh clone reuses it: KATA_KERNEL_CACHE (default
# /var/cache/kata-runtime/kernel when writable, else ~/.cache/kata-runtime/kernel) holds <key>/vmlinux and
# <key>/config, where the key hashes the source package's version, the fragments and this script. With a
# warm cache the script only checks and prints the path. A cold build takes several minutes on 2 cores; it
# runs at the lowest CPU priority (nice 19), KERNEL_JOBS (default 2) jobs at once.
set -euo pipefail

SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
SCRIPT=$ROOT/scripts/build-kernel.sh
FRAGDIR=$ROOT/guest/kernel
JOBS=${KERNEL_JOBS:-2}

die() {
	echo "build-kernel: $*" >&2
	exit 1
}

for tool in dpkg-query tar xz make gcc bc bison flex readelf sha256sum flock; do
	command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/setup.sh)"
done
SRC_VER=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null) || true
[[ -n $SRC_VER && -f $SRC_TAR ]] || die "$SRC_PKG is not installed (run scripts/setup.sh)"
shopt -s nullglob
FRAGS=("$FRAGDIR"/*.conf)
shopt -u nullglob
((${#FRAGS[@]})) || die "no configuration fragments in $FRAGDIR"

# The key: everything the kernel is made from. Fragments are hashed with their names, in name order.
KEY=$({
	echo "$SRC_PKG=$SRC_VER"
	sha256sum "$SCRIPT" | cut -d' ' -f1
	for f in "${FRAGS[@]}"; do
		echo "${f##*/}"
		cat "$f"
	done
} | sha256sum | cut -c1-16)
KEY=6.1-$KEY
if [[ ${1:-} == --print-key ]]; then
	echo "$KEY"
	exit 0
fi

if [[ -n ${KATA_KERNEL_CACHE:-} ]]; then
	CACHE=$KATA_KERNEL_CACHE
elif mkdir -p /var/cache/kata-runtime/kernel 2>/dev/null && [[ -w /var/cache/kata-runtime/kernel ]]; then
	CACHE=/var/cache/kata-runtime/kernel
else
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kata-runtime/kernel
fi
mkdir -p "$CACHE" || die "cannot create cache directory '$CACHE'"
OUT=$CACHE/$KEY
if [[ -s $OUT/vmlinux ]]; then
	echo "$OUT/vmlinux"
	exit 0
fi

# One build per key at a time: a second caller waits for the first and then finds the result.
exec 9>"$CACHE/.lock-$KEY"
flock 9
if [[ -s $OUT/vmlinux ]]; then
	echo "$OUT/vmlinux"
	exit 0
fi

WORK=$(mktemp -d "$CACHE/.build-$KEY.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "build-kernel: building the guest kernel $KEY ($SRC_PKG $SRC_VER) in $WORK" >&2
tar -xJf "$SRC_TAR" -C "$WORK"
KSRC=$WORK/linux-source-6.1
[[ -f $KSRC/Makefile ]] || die "$SRC_TAR does not unpack to linux-source-6.1/"

# allnoconfig with the fragments merged in as the values kconfig starts from (merge_config.sh -n).
(cd "$KSRC" && ARCH=x86_64 scripts/kconfig/merge_config.sh -n "${FRAGS[@]}" >"$WORK/merge.log" 2>&1) ||
	{ cat "$WORK/merge.log" >&2; die "configuring the kernel failed"; }

# kconfig silently drops what it cannot satisfy (a missing dependency, a typo): every value a fragment asks
# for must be in the final .config, "=n" as "is not set" or absent.
bad=0
while IFS= read -r line; do
	file=${line%%:*}
	line=${line#*:}
	opt=${line%%=*}
	want=${line#*=}
	if [[ $want == n ]]; then
		if grep -q "^$opt=" "$KSRC/.config"; then
			echo "build-kernel: ${file##*/}: $opt=n was asked for, the final .config has" \
				"$(grep "^$opt=" "$KSRC/.config")" >&2
			bad=1
		fi
	else
		got=$(grep "^$opt=" "$KSRC/.config" || true)
		if [[ $got != "$opt=$want" ]]; then
			echo "build-kernel: ${file##*/}: $opt=$want was asked for, the final .config has" \
				"${got:-it not set (a dependency is missing or the option does not exist)}" >&2
			bad=1
		fi
	fi
done < <(grep -H -E '^CONFIG_[A-Za-z0-9_]+=' "${FRAGS[@]}")
((bad == 0)) || die "kconfig dropped options the fragments ask for (see above)"

if ! (cd "$KSRC" && nice -n 19 make ARCH=x86_64 -j"$JOBS" vmlinux >"$WORK/build.log" 2>&1); then
	tail -40 "$WORK/build.log" >&2
	die "building the kernel failed"
fi
readelf -n "$KSRC/vmlinux" 2>/dev/null | grep -Eq '0x00000012|PHYS32_ENTRY' ||
	die "the kernel has no PVH entry note (CONFIG_PVH)"

mkdir -p "$WORK/out"
# no debug information is configured; the symbol table goes too (QEMU maps the file, guests share it)
objcopy --strip-all "$KSRC/vmlinux" "$WORK/out/vmlinux"
readelf -n "$WORK/out/vmlinux" 2>/dev/null | grep -Eq '0x00000012|PHYS32_ENTRY' ||
	die "stripping the kernel lost its PVH entry note"
cp "$KSRC/.config" "$WORK/out/config"
echo "$SRC_PKG=$SRC_VER" >"$WORK/out/source"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
echo "build-kernel: $OUT/vmlinux ($(du -k "$OUT/vmlinux" | cut -f1) KiB)" >&2
echo "$OUT/vmlinux"
