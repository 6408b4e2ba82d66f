#!/usr/bin/env bash
# Packaging check (takes a minute or two: it builds the prebuild and installs from the npm registry):
#   npm pack → npm install <tarball> into an empty project → `npx uvc-capture --virtual --frames 100` there.
# The consumer's npm (11) runs no install script of a dependency unless approved, so our addon is not compiled
# there: the tarball must carry dist/, the native sources and the prebuild, and --virtual must need no addon.
# Run by .ci/run after `npm test`; by hand: `npm run test:package`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "test:package: FAIL: $*" >&2; exit 1; }

cd "$root"
echo "test:package: npm pack (prepack builds dist/ and prebuilds/)"
tarball="$(npm pack --pack-destination "$work" --silent | tail -n 1)"
[ -f "$work/$tarball" ] || fail "npm pack made no tarball"
tar -tzf "$work/$tarball" | sort > "$work/contents"
for file in package/package.json package/README.md package/binding.gyp package/dist/index.js package/dist/index.d.ts \
  package/dist/cli/main.js package/dist/cli/preview/jpeg-worker.js package/native/addon.cc package/native/libusb/config.h; do
  grep -qx "$file" "$work/contents" || fail "the tarball lacks $file"
done
grep -q '^package/prebuilds/linux-x64/.*\.node$' "$work/contents" || fail "the tarball carries no linux-x64 prebuild"
if grep -q -e '^package/test/' -e '^package/src/' -e '^package/build/' -e '^package/node_modules/' "$work/contents"; then
  fail "the tarball carries tests, sources or build output it should not"
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
echo "test:package: OK: the packed tarball installs into an empty project and captures 100 frames there"
