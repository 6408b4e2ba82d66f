#!/usr/bin/env bash
# Packaging check (takes a minute or two: it builds the prebuild and installs from the npm registry):
#   npm pack → what the tarball holds (LICENSE, no source maps without sources, no developer scripts, libusb's
#   sources for builds where no prebuild fits, no internals in the types) → npm install <tarball> into an empty
#   project → `npx uvc-capture --virtual --frames 100` there.
# The consumer's npm (11) runs no install script of a dependency unless approved, so our addon is not compiled
# there: the tarball must carry dist/, the native sources and the prebuild, and --virtual must need no addon.
# Run by .ci/run after `npm test`; by hand: `npm run test:package`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "test:package: FAIL: $*" >&2; exit 1; }

cd "$root"
echo "test:package: npm pack (prepack copies libusb's sources and builds prebuilds/; prepare builds dist/)"
npm pack --pack-destination "$work" > "$work/pack.log" 2>&1 || { cat "$work/pack.log"; fail "npm pack failed"; }
tarball="$(cd "$work" && ls uvc-capture-*.tgz)"
[ -f "$work/$tarball" ] || fail "npm pack made no tarball"
# Built once: the TypeScript compiler ran one time (prepare), not again in prepack; no script runs as a pre-hook.
[ "$(grep -c '^> tsc -p tsconfig.build.json' "$work/pack.log")" = 1 ] || { cat "$work/pack.log"; fail "npm pack did not compile the TypeScript exactly once"; }
if grep -q 'skipped as the pre-hook' "$work/pack.log"; then fail "a script still runs as an npm pre-hook by accident"; fi
[ ! -d deps ] || fail "postpack left deps/ behind in the clone"
tar -tzf "$work/$tarball" | sort > "$work/contents"
for file in package/package.json package/README.md package/LICENSE package/binding.gyp package/dist/index.js package/dist/index.d.ts \
  package/dist/cli/main.js package/dist/cli/preview/jpeg-worker.js package/native/addon.cc package/native/libusb/config.h \
  package/deps/libusb/COPYING package/deps/libusb/libusb/core.c package/deps/libusb/libusb/os/linux_usbfs.c; do
  grep -qx "$file" "$work/contents" || fail "the tarball lacks $file"
done
grep -q '^package/prebuilds/linux-x64/.*\.node$' "$work/contents" || fail "the tarball carries no linux-x64 prebuild"
unwanted='^package/(test|src|build|node_modules|scripts|native/scripts|rig|bench)/'
if grep -qE "$unwanted" "$work/contents"; then
  fail "the tarball carries tests, sources, developer scripts or build output: $(grep -E "$unwanted" "$work/contents" | head -3 | tr '\n' ' ')"
fi
# Source maps would point at src/, which is not shipped: none may be.
if grep -q '\.map$' "$work/contents"; then fail "the tarball carries source maps without their sources: $(grep '\.map$' "$work/contents" | head -3 | tr '\n' ' ')"; fi
mkdir "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked"
node -e '
  const p = require(process.argv[1] + "/package.json");
  const license = require("fs").readFileSync(process.argv[1] + "/LICENSE", "utf8");
  if (p.license !== "MIT" || !license.startsWith("MIT License")) { console.error("LICENSE and package.json disagree"); process.exit(1); }
  // No runtime dependency with an install script and an addon of its own just to list devices (usb was one).
  if (p.dependencies.usb) { console.error("usb is a runtime dependency"); process.exit(1); }
' "$work/unpacked/package" || fail "package.json: licence or dependencies"
# The published types carry no internals (underscore members).
if grep -rnE '^\s+(private |readonly |static )*_[A-Za-z]+[?(:;]' "$work/unpacked/package/dist" --include='*.d.ts' > "$work/internal"; then
  fail "internal members in the published types: $(head -3 "$work/internal" | tr '\n' ' ')"
fi
echo "test:package: $(wc -l < "$work/contents") files in $tarball"

mkdir "$work/consumer"
cd "$work/consumer"
npm init -y > /dev/null
echo "test:package: npm install $tarball into an empty project"
npm install --no-audit --no-fund "$work/$tarball" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "npm install of the tarball failed"; }
[ -x node_modules/.bin/uvc-capture ] || fail "no uvc-capture bin was linked"

echo "test:package: npx uvc-capture --virtual --frames 100"
npx --no-install uvc-capture --virtual --frames 100 -o frames/ --json > summary.json 2> stderr.log || { cat stderr.log; fail "the capture failed"; }
node -e '
  const s = JSON.parse(require("fs").readFileSync("summary.json", "utf8"));
  const files = require("fs").readdirSync("frames").filter((f) => /^frame-\d{6}\.yuv$/.test(f));
  if (s.frames !== 100 || files.length !== 100 || s.exitCode !== 0) { console.error(s, files.length); process.exit(1); }
' || fail "the capture did not write 100 frames"
npx --no-install uvc-capture --help > /dev/null || fail "--help failed"

# The virtual camera needs no addon at all: with the prebuild moved away, it still captures.
mv node_modules/uvc-capture/prebuilds "$work/prebuilds-away"
npx --no-install uvc-capture --virtual --virtual-option pace=fast --frames 5 -o without-addon/ -q > /dev/null 2> stderr.log || { cat stderr.log; fail "--virtual needed the addon"; }
mv "$work/prebuilds-away" node_modules/uvc-capture/prebuilds
[ "$(ls without-addon | wc -l)" = 5 ] || fail "the capture without the addon did not write 5 frames"

# The addon a real camera needs loads from the shipped prebuild (no compiler ran here).
node -e '
  const path = require("path");
  const root = path.dirname(require.resolve("uvc-capture/package.json"));
  const dir = path.join(root, "prebuilds", process.platform + "-" + process.arch);
  const file = require("fs").readdirSync(dir).find((f) => f.endsWith(".node"));
  const addon = require(path.join(dir, file));
  if (typeof addon !== "object" || addon === null) process.exit(1);
' || fail "the prebuilt addon does not load"
[ ! -d node_modules/uvc-capture/build ] || fail "the consumer compiled the addon (build/ exists): install scripts ran"

# Where no prebuild fits (arm64, musl), the addon compiles from the sources the package ships (deps/libusb): no
# `usb` package, no system libusb. The package's own install script, as `npm rebuild uvc-capture` would run it.
echo "test:package: the addon builds from the shipped sources without a prebuild (a minute)"
[ ! -d node_modules/usb ] || fail "the usb package was installed into the consumer"
mv node_modules/uvc-capture/prebuilds "$work/prebuilds-away"
(cd node_modules/uvc-capture && npm run install > "$work/rebuild.log" 2>&1) || { tail -20 "$work/rebuild.log"; fail "the addon does not build from the shipped sources"; }
grep -q 'deps/libusb/libusb/core' "$work/rebuild.log" || fail "the build did not use the shipped libusb sources"
node -e 'const a = require(require("path").resolve("node_modules/uvc-capture/build/Release/uvc_capture.node")); if (typeof a.openDevice !== "function") process.exit(1)' \
  || fail "the addon built from source does not load"
echo "test:package: OK: the packed tarball installs into an empty project, captures 100 frames there, and its addon builds from the sources it ships"
