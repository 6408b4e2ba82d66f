#!/usr/bin/env bash
# `npm run test:kernel`: the kernel rig. Installs what it needs (apt), fetches Debian's 6.1 kernel, builds the
# guest initramfs and the helper tools (all cached), compiles the guest checks, boots the kernel under QEMU (TCG)
# with the host's root shared read-only, runs every check of rig/guest/checks/ inside, powers off, summarises.
# Exits non-zero if anything failed; the guest's console is shown as it runs and kept in the run directory.
#
# Environment:
#   UVC_RIG_CACHE    cache directory (default ~/.cache/uvc-capture-rig)
#   UVC_RIG_CHECKS   comma-separated check names to run (default: all)
#   UVC_RIG_REPEAT   run the checks N times in one boot (stress mode; default 1); one failed run fails the rig
#   UVC_RIG_TIMEOUT  seconds the guest may run in all (default 3000, times UVC_RIG_REPEAT)
#   UVC_RIG_TIME_FACTOR  each check's time limit is its declared one times this (default 3): limits guard
#                    against hangs and must hold on a loaded machine
#   UVC_RIG_KERNEL   kernel package to use instead of the current linux-image-6.1.0-*-amd64
#   UVC_RIG_SMP / UVC_RIG_MEM   guest CPUs (default 2) and memory (default 2G)
#   UVC_RIG_NODE_DEBUG  NODE_DEBUG for the checks (e.g. `uvc`: the driver's trace of why each frame ended, in the
#                    check's log)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RIG=$ROOT/rig
CACHE=${UVC_RIG_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/uvc-capture-rig}
RUN=$CACHE/run
REPEAT=${UVC_RIG_REPEAT:-1}
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "UVC_RIG_REPEAT must be a whole number >= 1, not '$REPEAT'" >&2; exit 2; }
GUEST_TIMEOUT=${UVC_RIG_TIMEOUT:-$((3000 * REPEAT))}
MODULES_INITRAMFS="virtio_pci 9pnet_virtio 9p usbip-core vhci-hcd uvcvideo"
MODULES_LOADED="usbip-core vhci-hcd uvcvideo"
PACKAGES="qemu-system-x86 busybox-static kmod cpio udev usbip usbutils v4l-utils libusb-1.0-0-dev libuvc-dev gcc libc6-dev"
export DEBIAN_FRONTEND=noninteractive

T0=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[rig %6ss] %s\n' "$(since "$T0")" "$*"; }
die() {
  say "ERROR: $*"
  exit 1
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "another rig run holds $CACHE/.lock"

# --- 1. Debian packages ------------------------------------------------------------------------------------
apt_updated=0
apt_update() {
  if [[ $apt_updated == 0 ]]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
}
missing=()
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt_update
  say "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
T_PACKAGES=$(since "$T0")

# --- 2. The kernel: the newest linux-image-6.1.0-*-amd64 apt knows, downloaded once -----------------------
find_kernel_package() {
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6\.1\.0-[0-9]+-amd64$/ { print $2; exit }')
  if [[ -z $pkg ]]; then
    pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -1)
  fi
  echo "$pkg"
}
KPKG=${UVC_RIG_KERNEL:-$(find_kernel_package)}
if [[ -z $KPKG ]]; then
  apt_update
  KPKG=$(find_kernel_package)
fi
KDIR=$CACHE/kernel
mkdir -p "$KDIR"
DEB=$(ls "$KDIR/${KPKG}_"*.deb 2>/dev/null | head -1 || true)
if [[ -z $KPKG ]]; then
  # No apt lists and no network: fall back to whatever kernel is cached.
  DEB=$(ls "$KDIR"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
  [[ -n $DEB ]] || die "cannot find a linux-image-6.1.0-*-amd64 package"
  KPKG=$(basename "$DEB" | cut -d_ -f1)
  say "apt knows no 6.1 kernel; using the cached $KPKG"
fi
if [[ -z $DEB ]]; then
  say "downloading $KPKG"
  (cd "$KDIR" && apt-get download "$KPKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  DEB=$(ls "$KDIR/${KPKG}_"*.deb 2>/dev/null | head -1 || true)
  [[ -n $DEB ]] || die "apt-get download $KPKG failed"
  # Older kernels are not needed any more.
  find "$KDIR" -maxdepth 1 -name 'linux-image-*.deb' ! -name "$(basename "$DEB")" -delete
fi
KVER=${KPKG#linux-image-}
T_KERNEL=$(since "$T0")

# --- 3. Initramfs (busybox + modules + init), rebuilt when its inputs change -------------------------------
KEY=$(cat "$RIG/guest/init" "$RIG/host/build-initramfs.sh" <(echo "$DEB $MODULES_INITRAMFS") /bin/busybox | sha256sum | cut -c1-16)
INITRD=$KDIR/initramfs-$KEY.cpio.gz
VMLINUZ=$KDIR/vmlinuz-$KVER
if [[ ! -f $INITRD || ! -f $VMLINUZ ]]; then
  say "building the initramfs"
  find "$KDIR" -maxdepth 1 -name 'initramfs-*.cpio.gz' -delete
  "$RIG/host/build-initramfs.sh" "$DEB" "$INITRD" $MODULES_INITRAMFS
fi

# --- 4. Helper tools, built against the host's libusb (the guest runs the host's libraries) ----------------
TOOLS=$CACHE/tools
mkdir -p "$TOOLS"
for src in "$RIG"/tools/*.c; do
  name=$(basename "$src" .c)
  sum=$(sha256sum "$src" | cut -c1-16)
  if [[ ! -x $TOOLS/$name || "$(cat "$TOOLS/$name.sum" 2>/dev/null)" != "$sum" ]]; then
    say "building $name"
    # A tool names the libraries it needs beyond libusb in a ` * rig-link: -lfoo` line of its header comment.
    # shellcheck disable=SC2046
    gcc -O2 -Wall -Wextra -Werror -o "$TOOLS/$name" "$src" -lusb-1.0 $(sed -n 's/^ \* rig-link: //p' "$src")
    echo "$sum" >"$TOOLS/$name.sum"
  fi
done
# The addon built with ASan + UBSan (build/asan), for the payload-fuzz check; incremental after the first time.
if [[ -z ${UVC_RIG_CHECKS:-} || ,${UVC_RIG_CHECKS// /}, == *,payload-fuzz,* ]]; then
  say "building the addon with AddressSanitizer (build/asan)"
  (cd "$ROOT" && bash native/scripts/asan-test.sh --build-only >/dev/null) || die "the ASan build of the addon failed"
fi
T_SETUP=$(since "$T0")

# --- 5. The guest's JavaScript: src/ and rig/guest/ compiled side by side into rig/.out --------------------
say "compiling the guest checks"
(cd "$ROOT" && node_modules/.bin/tsc -p rig/tsconfig.guest.json) || die "the guest checks do not compile"
# tsc never deletes outputs: a check whose source is gone must not run from a stale .js.
for js in "$RIG"/.out/rig/guest/checks/*.js; do
  if [[ -e $js && ! -e $RIG/guest/checks/$(basename "$js" .js).ts ]]; then rm -f "$js" "$js.map"; fi
done
# rig/.out mirrors the project root, so code that finds the package root from its own location (../..) finds
# these links there as it would from dist/.
for link in build prebuilds; do ln -sfn "../../$link" "$RIG/.out/$link"; done
T_BUILD=$(since "$T0")

# --- 6. Boot ------------------------------------------------------------------------------------------------
rm -rf "$RUN"
mkdir -p "$RUN"
{
  printf 'UVC_RIG_PROJECT=%q\n' "$ROOT"
  printf 'UVC_RIG_RUN=%q\n' "$RUN"
  printf 'UVC_RIG_TOOLS=%q\n' "$TOOLS"
  printf 'UVC_RIG_CHECKS=%q\n' "${UVC_RIG_CHECKS:-}"
  printf 'UVC_RIG_REPEAT=%q\n' "$REPEAT"
  printf 'UVC_RIG_TIME_FACTOR=%q\n' "${UVC_RIG_TIME_FACTOR:-3}"
  printf 'UVC_RIG_NODE_DEBUG=%q\n' "${UVC_RIG_NODE_DEBUG:-}"
  printf 'UVC_RIG_RUNNER=%q\n' "$RIG/.out/rig/guest/runner.js"
  printf 'UVC_RIG_MODULES=%q\n' "$MODULES_LOADED"
} >"$RUN/guest.env"

boot() {
  rm -f "$RUN/console.log" "$RUN/.checks-started" "$RUN/results.tsv"
  set +e
  # no_timer_check: on a loaded host, TCG is too slow for the kernel's IO-APIC timer check, which then panics
  # ("IO-APIC + timer doesn't work!") before anything runs.
  timeout -k 10 "$GUEST_TIMEOUT" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp "${UVC_RIG_SMP:-2}" -m "${UVC_RIG_MEM:-2G}" -machine q35 \
    -nographic -no-reboot -nodefaults -serial stdio \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append "console=ttyS0 quiet loglevel=4 panic=-1 no_timer_check" \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$RUN,mount_tag=run,security_model=none,multidevs=remap" \
    </dev/null 2>&1 | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r$//' | while IFS= read -r line; do
    printf '%s\n' "$line" >>"$RUN/console.log"
    printf '  | %s\n' "$line"
    [[ $line == "rig: running checks"* ]] && echo "$EPOCHREALTIME" >"$RUN/.checks-started"
  done
  qemu_rc=${PIPESTATUS[0]}
  set -e
}

say "booting $KVER under QEMU (TCG), limit ${GUEST_TIMEOUT}s"
T_BOOT=$EPOCHREALTIME
boot
# TCG has been seen to crash (SIGSEGV) once while starting; a crash before any check ran is worth one retry.
if ((qemu_rc > 128 && qemu_rc != 137)) && [[ ! -f $RUN/.checks-started ]]; then
  say "QEMU died (exit $qemu_rc) before the checks started; booting again"
  T_BOOT=$EPOCHREALTIME
  boot
fi
T_END=$EPOCHREALTIME

# --- 7. Summary ---------------------------------------------------------------------------------------------
boot_s=n/a
checks_s=n/a
if [[ -f $RUN/.checks-started ]]; then
  started=$(cat "$RUN/.checks-started")
  boot_s=$(awk -v a="$T_BOOT" -v b="$started" 'BEGIN { printf "%.1f", b - a }')
  checks_s=$(awk -v a="$started" -v b="$T_END" 'BEGIN { printf "%.1f", b - a }')
fi
guest_exit=$(grep -a -o 'RIG_EXIT=[0-9]*' "$RUN/console.log" 2>/dev/null | tail -1 | cut -d= -f2 || true)
echo
echo "kernel rig: $KVER, setup ${T_SETUP}s (packages ${T_PACKAGES}s, kernel ${T_KERNEL}s), compile $(awk -v a="$T_SETUP" -v b="$T_BUILD" 'BEGIN { printf "%.1f", b - a }')s, boot ${boot_s}s, checks ${checks_s}s, total $(since "$T0")s"
passed=0
failed=0
if [[ -s $RUN/results.tsv ]]; then
  while IFS=$'\t' read -r verdict name seconds reason; do
    printf '  %s %-28s %7ss %s\n' "$verdict" "$name" "$seconds" "$reason"
    if [[ $verdict == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done <"$RUN/results.tsv"
fi
problem=""
if [[ $qemu_rc == 124 || $qemu_rc == 137 ]]; then
  problem="the guest did not finish within ${GUEST_TIMEOUT}s"
elif [[ -z $guest_exit ]]; then
  problem="the guest never reported an exit status (qemu exit $qemu_rc)"
elif [[ $guest_exit != 0 ]]; then
  problem="the guest runner exited $guest_exit"
elif ((passed == 0)); then
  problem="no check ran"
fi
if ((REPEAT > 1)) && [[ -s $RUN/results.tsv ]]; then
  echo "per check over $REPEAT rounds (a check that failed once fails the rig):"
  cut -f1,2 "$RUN/results.tsv" | sed 's/#[0-9]*$//' | sort -k2,2 -k1,1 | uniq -c |
    awk '{ runs[$3] += $1; if ($2 == "FAIL") bad[$3] += $1 } END { for (c in runs) printf "  %-28s %d of %d runs passed\n", c, runs[c] - bad[c], runs[c] }' | sort
fi
echo "kernel rig checks: $passed passed, $failed failed"
if [[ -n $problem || $failed != 0 ]]; then
  [[ -n $problem ]] && echo "kernel rig FAILED: $problem"
  echo "full guest log: $RUN/console.log; per-check logs: $RUN/logs/"
  if [[ ! -s $RUN/results.tsv ]]; then
    echo "---- last lines of the guest console ----"
    tail -60 "$RUN/console.log" 2>/dev/null || true
  fi
  exit 1
fi
