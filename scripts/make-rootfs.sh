#!/usr/bin/env bash
# Make a small busybox root filesystem for tests and the demo.
#
#   scripts/make-rootfs.sh DIR
#
# /bin/busybox comes from Debian's busybox-static (the host package, see scripts/setup.sh); DIR gets
# applet symlinks, /etc/passwd, /etc/group and empty /proc /sys /dev /tmp. DIR must not exist or be empty.
set -euo pipefail

die() {
	echo "make-rootfs: $*" >&2
	exit 1
}

[[ $# -eq 1 && -n $1 ]] || die "usage: make-rootfs.sh DIR"
DIR=$1
if [[ -e $DIR ]]; then
	[[ -d $DIR ]] || die "'$DIR' exists and is not a directory"
	[[ -z $(ls -A "$DIR") ]] || die "'$DIR' is not empty"
fi

BUSYBOX=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$' || true)
[[ -n $BUSYBOX && -x $BUSYBOX ]] || die "busybox-static is not installed (run scripts/setup.sh)"

APPLETS=(sh ash echo cat sleep true false ls id hostname env dd kill ps touch test '[' mkdir printf
	rm cp mv ln pwd uname wc head tail grep sed seq stat chmod chown mount umount readlink date
	yes tty stty wait nproc free top df du find xargs cut tr sort uniq tee sync)

created=0
[[ -e $DIR ]] || created=1
cleanup() {
	if [[ $? -ne 0 && $created -eq 1 ]]; then rm -rf -- "$DIR"; fi
}
trap cleanup EXIT

mkdir -p "$DIR"/{bin,etc,proc,sys,dev,tmp,root,home}
chmod 1777 "$DIR/tmp"
chmod 0700 "$DIR/root"
install -m 0755 "$BUSYBOX" "$DIR/bin/busybox"
for a in "${APPLETS[@]}"; do
	ln -s busybox "$DIR/bin/$a"
done
mkdir -p "$DIR/usr"
ln -s ../bin "$DIR/usr/bin"
ln -s bin "$DIR/sbin"

cat >"$DIR/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/:/bin/false
nobody:x:65534:65534:nobody:/:/bin/false
EOF
cat >"$DIR/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
EOF
: >"$DIR/etc/hostname"
