/**
 * Finds and loads the native addon, lazily: only opening a real device needs it, so the virtual camera works
 * where the addon could not be built. The order (first hit wins):
 * 1. `UVC_CAPTURE_ADDON`: an explicit .node file (sanitizer builds, experiments);
 * 2. `prebuilds/<platform>-<arch>/`: the binary shipped in the package (`npm run prebuild` makes it);
 * 3. `build/Release`, `build/Debug`: a local build (`npm install` in a clone, or `npm rebuild uvc-capture`).
 * node-gyp-build's own loader looks at build/ first; we put the shipped prebuild first, so that what a release
 * was tested with is what runs. node-gyp-build's matching rules (platform, arch, libc, N-API tags) are reused.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { UvcError } from '../../errors.js';
import type { NativeAddon } from './addon-types.js';

const require = createRequire(import.meta.url);

export type AddonSource = 'override' | 'prebuild' | 'build';

export interface AddonLocation {
  /** Absolute path of the .node file. */
  path: string;
  source: AddonSource;
}

/** The parts of node-gyp-build this loader uses (it ships no types). */
interface Tuple {
  name: string;
  platforms: string;
  architectures: string[];
}
interface Tags {
  file: string;
}
interface NodeGypBuild {
  resolve(dir: string): string;
  parseTuple(name: string): Tuple | undefined;
  matchTuple(platform: string, arch: string): (tuple: Tuple) => boolean;
  compareTuples(a: Tuple, b: Tuple): number;
  parseTags(file: string): Tags | undefined;
  matchTags(runtime: string, abi: string): (tags: Tags) => boolean;
  compareTags(runtime: string): (a: Tags, b: Tags) => number;
}

export const BUILD_HINT =
  'To build it from source (needs python3, make and a C++ compiler): ' +
  '`npm install-scripts approve uvc-capture && npm rebuild uvc-capture` ' +
  '(npm 11 skips the install scripts of dependencies until they are approved; for a global install: ' +
  '`npm install -g --allow-scripts=uvc-capture uvc-capture`).';

/** The folder of uvc-capture's package.json above `from` (this file's folder by default). */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === 'uvc-capture') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`no uvc-capture package.json above ${from}`);
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function findPrebuild(root: string, gyp: NodeGypBuild): string | undefined {
  const prebuilds = path.join(root, 'prebuilds');
  const tuple = listDir(prebuilds)
    .map((name) => gyp.parseTuple(name))
    .filter((t): t is Tuple => t !== undefined)
    .filter(gyp.matchTuple(process.env.npm_config_platform ?? os.platform(), process.env.npm_config_arch ?? os.arch()))
    .sort(gyp.compareTuples)[0];
  if (tuple === undefined) return undefined;
  const dir = path.join(prebuilds, tuple.name);
  const winner = listDir(dir)
    .map((file) => gyp.parseTags(file))
    .filter((t): t is Tags => t !== undefined)
    .filter(gyp.matchTags('node', process.versions.modules))
    .sort(gyp.compareTags('node'))[0];
  return winner === undefined ? undefined : path.join(dir, winner.file);
}

/** Where the addon would be loaded from. Throws ENOTSUP (with how to fix it) when there is none. */
export function resolveNativeAddon(root: string = packageRoot()): AddonLocation {
  const override = process.env.UVC_CAPTURE_ADDON;
  if (override !== undefined && override !== '') return { path: path.resolve(override), source: 'override' };
  const gyp = require('node-gyp-build') as NodeGypBuild;
  const prebuild = findPrebuild(root, gyp);
  if (prebuild !== undefined) return { path: prebuild, source: 'prebuild' };
  let found: string;
  try {
    found = gyp.resolve(root);
  } catch {
    throw unavailable(`no build of it was found in ${path.join(root, 'prebuilds')} or ${path.join(root, 'build')}`);
  }
  return { path: found, source: found.includes(`${path.sep}prebuilds${path.sep}`) ? 'prebuild' : 'build' };
}

function unavailable(reason: string, cause?: unknown): UvcError {
  const platform =
    process.platform === 'linux' ? '' : ` uvc-capture's native transport supports Linux only (this is ${process.platform}).`;
  return new UvcError(
    'ENOTSUP',
    `the native USB addon of uvc-capture is not available: ${reason}.${platform} Real USB devices need it; the ` +
      `virtual camera (--virtual) does not. ${BUILD_HINT}`,
    { cause, details: { reason } },
  );
}

let loaded: { addon: NativeAddon; location: AddonLocation } | undefined;

/** Loads the addon on first use (and caches it). Throws ENOTSUP with how to fix it when it cannot be loaded. */
export function loadNativeAddon(): NativeAddon {
  return loadedAddon().addon;
}

/** The file the addon was loaded from, loading it if needed. */
export function nativeAddonLocation(): AddonLocation {
  return loadedAddon().location;
}

function loadedAddon(): { addon: NativeAddon; location: AddonLocation } {
  if (loaded !== undefined) return loaded;
  const location = resolveNativeAddon();
  let addon: NativeAddon;
  try {
    addon = require(location.path) as NativeAddon;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw unavailable(`loading ${location.path} failed (${message})`, error);
  }
  loaded = { addon, location };
  return loaded;
}
