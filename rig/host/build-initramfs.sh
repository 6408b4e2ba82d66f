#!/usr/bin/env bash
# Builds the guest's initramfs: busybox-static, the closure of the kernel modules the guest needs (from the
# kernel package's modules.dep) and rig/guest/init as /init.
#   build-initramfs.sh <kernel .deb> <output .cpio.gz> <module>...
set -euo pipefail
DEB=$1
OUT=$2
shift 2
INIT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../guest" && pwd)/init

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
dpkg -x "$DEB" "$WORK/kernel"
KVER=$(ls "$WORK/kernel/lib/modules")
MODDIR=$WORK/kernel/lib/modules/$KVER
# The package ships no modules.dep (the postinst makes it): make it here.
depmod -b "$WORK/kernel" "$KVER"

STAGE=$WORK/stage
mkdir -p "$STAGE"/{bin,sbin,proc,sys,dev,tmp,host,share,etc,lib/modules/"$KVER"}
cp /bin/busybox "$STAGE/bin/busybox"
for applet in sh mount umount mkdir cat echo ls sleep modprobe insmod ip poweroff chroot cut grep sync; do
  ln -s busybox "$STAGE/bin/$applet"
done

declare -A seen=()
add_module() {
  local rel=$1
  [[ -n ${seen[$rel]:-} ]] && return
  seen[$rel]=1
  mkdir -p "$STAGE/lib/modules/$KVER/$(dirname "$rel")"
  cp "$MODDIR/$rel" "$STAGE/lib/modules/$KVER/$rel"
}
for m in "$@"; do
  name=${m//-/_}
  # modules.dep names files with - or _ as the source tree does; match either.
  line=$(grep -E "/(${m}|${name}|${name//_/-})\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -1 || true)
  if [[ -z $line ]]; then
    # Built into the kernel: nothing to copy.
    if grep -qE "/(${m}|${name})\.ko" "$MODDIR/modules.builtin"; then continue; fi
    echo "build-initramfs: module $m not found in $KVER" >&2
    exit 1
  fi
  for f in ${line/:/}; do add_module "$f"; done
done
cp "$MODDIR"/modules.{order,builtin} "$STAGE/lib/modules/$KVER/"
depmod -b "$STAGE" "$KVER"

cp "$INIT" "$STAGE/init"
chmod 755 "$STAGE/init"
(cd "$STAGE" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$(dirname "$OUT")/vmlinuz-$KVER"
echo "initramfs: kernel $KVER, ${#seen[@]} modules, $(du -h "$OUT" | cut -f1)"
