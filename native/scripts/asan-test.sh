#!/usr/bin/env bash
# The addon's tests under AddressSanitizer + UndefinedBehaviorSanitizer (`npm run test:native:asan`; CI runs it).
#
# An instrumented copy of the addon (libusb included) is built out of tree in build/asan/ (incrementally), then
# test/native runs against it (UVC_CAPTURE_ADDON) with the ASan runtime preloaded into node and into every child process the tests
# start. Memory errors and undefined behaviour abort the process, which fails its test. Leaks are checked at
# each process exit by LeakSanitizer, which also sees node's own (deliberate) leaks at exit: so leaks are logged,
# and the run fails only on a direct leak allocated from the addon (a stack through uvc_capture.node).
#
# With UVC_TEST_DEVICE set (in the kernel rig) the device tests run too. Arguments go to vitest (e.g. --maxWorkers=1);
# `--build-only` builds the instrumented addon and stops.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
stage=$root/build/asan
logs=$stage/logs

libasan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
  echo "asan-test: the ASan runtime is missing (gcc -print-file-name=libasan.so); on Debian: apt-get install libasan8" >&2
  exit 1
fi

mkdir -p "$stage"
cp binding.gyp "$stage/"
ln -sfn "$root/native" "$stage/native"
ln -sfn "$root/node_modules" "$stage/node_modules"
printf '{ "name": "uvc-capture-asan-build", "private": true }\n' > "$stage/package.json"
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1"
# node-gyp: npm puts its own on PATH for scripts; by hand, use npm's. Node's headers: npm's nodedir setting, or
# those next to this node (never a download).
if command -v node-gyp >/dev/null; then gyp=(node-gyp); else gyp=(node "$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"); fi
nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}
(
  cd "$stage"
  export CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined"
  { "${gyp[@]}" configure --nodedir="$nodedir" && "${gyp[@]}" build; } >"$stage/build.log" 2>&1 ||
    { tail -40 "$stage/build.log" >&2; exit 1; }
)
addon=$stage/build/Release/uvc_capture.node
echo "asan-test: instrumented addon at $addon"
# --build-only: just the instrumented addon (the kernel rig's payload-fuzz check loads it in the guest).
[ "${1:-}" = "--build-only" ] && exit 0

rm -rf "$logs"
mkdir -p "$logs"
export UVC_CAPTURE_ADDON=$addon
export LD_PRELOAD=$libasan
export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan:abort_on_error=0:halt_on_error=1:detect_odr_violation=0:allocator_may_return_null=1"
export LSAN_OPTIONS="exitcode=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

suites=(test/native)
[ -n "${UVC_TEST_DEVICE:-}" ] && suites+=(test/native-device)
status=0
node node_modules/vitest/vitest.mjs run "${suites[@]}" "$@" || status=$?
unset LD_PRELOAD

# Every report that is not a leak (leaks are judged below) is an error in some process.
errors=$(grep -l -E "ERROR: AddressSanitizer|runtime error:" "$logs"/asan.* 2>/dev/null || true)
# A direct leak whose allocation stack passes through the addon. One exception, narrow: the 8-byte handle V8
# keeps for a promise that is still pending when the process ends (frame #1 napi_create_promise), as when a test
# calls process.exit() with an open or a transfer in flight. Settled promises free it.
ours=$(awk '/^(Direct|Indirect) leak/ { block = $0; keep = ($1 == "Direct"); next }
             keep && /^ *#1 .* in napi_create_promise / { keep = 0; next }
             keep && / in uvc::|uvc_capture\.node|native\/[a-z_]+\.(cc|h):|libusb\/libusb\/[a-z_\/]+\.c:/ { print FILENAME ": " block; keep = 0 }' "$logs"/asan.* 2>/dev/null || true)
reports=$(ls "$logs" | wc -l)
echo "asan-test: $reports sanitizer report file(s) from the processes of this run in $logs"
if [ -n "$errors" ]; then
  echo "asan-test: memory errors or undefined behaviour reported in:" >&2
  for f in $errors; do sed -n '1,60p' "$f" >&2; done
  status=1
fi
if [ -n "$ours" ]; then
  echo "asan-test: leaks allocated by the addon:" >&2
  echo "$ours" >&2
  status=1
fi
[ $status -eq 0 ] && echo "asan-test: no memory error, no undefined behaviour, no leak from the addon"
exit $status
