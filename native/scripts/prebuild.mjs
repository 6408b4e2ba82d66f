#!/usr/bin/env node
// `npm run prebuild`: builds the addon with prebuildify into prebuilds/<platform>-<arch>/ (N-API, stripped), the
// binary a packed release ships and loads first (src/transport/native/load-addon.ts).
//
// npm also runs a script named "prebuild" as the pre-hook of `npm run build` (and so of `npm install`, whose
// prepare step builds the TypeScript). Compiling the addon there would double every install and leave a prebuild
// that shadows later local builds, so as a hook this does nothing. npm sets the same environment in both cases;
// the npm command line of an ancestor process tells them apart.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The script name of the nearest `npm run <script>` among our ancestors, or undefined. */
function npmRunScript() {
  let pid = process.ppid;
  for (let depth = 0; depth < 6 && pid > 1; depth++) {
    let argv;
    let stat;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;  // no /proc: assume a direct run
    }
    // npm sets its process title to "npm run build", which replaces its command line: split it into words.
    const words = argv.join(' ').split(/\s+/).filter(Boolean);
    const isNpm = words.some((w) => /(^|[/\\])npm(-cli\.js)?$/.test(w));
    const run = words.findIndex((w) => w === 'run' || w === 'run-script' || w === 'rum' || w === 'urn');
    if (isNpm && run >= 0) return words.slice(run + 1).find((w) => !w.startsWith('-'));
    if (isNpm) return words.find((w) => ['install', 'i', 'ci', 'rebuild'].includes(w));
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return undefined;
}

/**
 * The prebuild's file name is `<PREBUILD_NAME>.<libc>.node`. Not the package name: node-gyp-build reads a name
 * starting with "uv" ("uvc-capture") as a libuv tag and would never match the file.
 */
export const PREBUILD_NAME = 'node.napi';

function main() {
  const script = npmRunScript();
  if (process.env.npm_lifecycle_event === 'prebuild' && script !== undefined && script !== 'prebuild') {
    const how = ['install', 'i', 'ci', 'rebuild'].includes(script) ? script : `run ${script}`;
    console.log(`prebuild: skipped as the pre-hook of \`npm ${how}\`; \`npm run prebuild\` makes prebuilds/`);
    return 0;
  }
  const prebuildify = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
  const args = [prebuildify, '--napi', '--strip', '--tag-libc', '--name', PREBUILD_NAME];
  return spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(main());
}
