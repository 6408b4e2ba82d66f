import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { isUvcError } from '../../src/errors.js';
import { packageRoot, resolveNativeAddon } from '../../src/transport/native/load-addon.js';
// The name `npm run prebuild` gives the file: the loader must find exactly that.
import { PREBUILD_NAME } from '../../native/scripts/prebuild.mjs';

const root = packageRoot();
let built: string;
let scratch: string;

/** A package folder holding copies of the real addon where a release or a local build would put them. */
function fakePackage(layout: { prebuild?: boolean; build?: boolean }): string {
  const dir = mkdtempSync(path.join(scratch, 'pkg-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'uvc-capture' }));
  if (layout.build) {
    mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    copyFileSync(built, path.join(dir, 'build', 'Release', 'uvc_capture.node'));
  }
  if (layout.prebuild) {
    const tuple = path.join(dir, 'prebuilds', `${os.platform()}-${os.arch()}`);
    mkdirSync(tuple, { recursive: true });
    copyFileSync(built, path.join(tuple, `${PREBUILD_NAME}.glibc.node`));
  }
  return dir;
}

/** Loads a .node file in a fresh process and returns what its libusbVersion() says. */
function loadInChild(file: string): string {
  return execFileSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(file)}).libusbVersion())`], {
    encoding: 'utf8',
  }).trim();
}

beforeAll(() => {
  built = resolveNativeAddon(root).path;
  // Resolution is tested on fake package folders: an explicit UVC_CAPTURE_ADDON (the sanitizer run's) would win.
  vi.stubEnv('UVC_CAPTURE_ADDON', '');
  scratch = mkdtempSync(path.join(os.tmpdir(), 'uvc-native-load-'));
  return () => rmSync(scratch, { recursive: true, force: true });
});

afterEach(() => {
  vi.resetModules();
});

describe('resolving the addon', () => {
  it('loads the prebuild of this checkout when `npm run prebuild` made one, else the local build', () => {
    vi.unstubAllEnvs();
    const location = resolveNativeAddon(root);
    const prebuild = path.join(root, 'prebuilds', `${os.platform()}-${os.arch()}`, `${PREBUILD_NAME}.glibc.node`);
    if (process.env.UVC_CAPTURE_ADDON) {
      expect(location.source).toBe('override'); // the sanitizer run's instrumented build
    } else if (existsSync(prebuild)) {
      expect(location).toEqual({ source: 'prebuild', path: prebuild });
    } else {
      expect(location).toEqual({ source: 'build', path: path.join(root, 'build', 'Release', 'uvc_capture.node') });
    }
    expect(loadInChild(location.path)).toMatch(/^1\.0\.\d+\.\d+$/);
    vi.stubEnv('UVC_CAPTURE_ADDON', '');
  });

  it('prefers the shipped prebuild over a local build', () => {
    const dir = fakePackage({ prebuild: true, build: true });
    const location = resolveNativeAddon(dir);
    expect(location).toEqual({
      source: 'prebuild',
      path: path.join(dir, 'prebuilds', `${os.platform()}-${os.arch()}`, `${PREBUILD_NAME}.glibc.node`),
    });
    expect(loadInChild(location.path)).toMatch(/^1\.0\./);
  });

  it('falls back to build/Release without a prebuild', () => {
    const dir = fakePackage({ build: true });
    expect(resolveNativeAddon(dir)).toEqual({ source: 'build', path: path.join(dir, 'build', 'Release', 'uvc_capture.node') });
  });

  it('ignores prebuilds for another platform', () => {
    const dir = fakePackage({ build: true });
    const other = path.join(dir, 'prebuilds', 'win32-ia32');
    mkdirSync(other, { recursive: true });
    copyFileSync(built, path.join(other, `${PREBUILD_NAME}.node`));
    expect(resolveNativeAddon(dir).source).toBe('build');
  });

  it('says what is missing and how to build it when there is nothing', () => {
    const dir = fakePackage({});
    let caught: unknown;
    try {
      resolveNativeAddon(dir);
    } catch (error) {
      caught = error;
    }
    expect(isUvcError(caught, 'ENOTSUP')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('native USB addon of uvc-capture is not available');
    expect(message).toContain('npm install-scripts approve uvc-capture && npm rebuild uvc-capture');
    expect(message).toContain('--virtual');
  });

  it('takes an explicit file from UVC_CAPTURE_ADDON', () => {
    vi.stubEnv('UVC_CAPTURE_ADDON', built);
    expect(resolveNativeAddon(fakePackage({}))).toEqual({ source: 'override', path: built });
    vi.stubEnv('UVC_CAPTURE_ADDON', '');
  });
});

describe('loading lazily', () => {
  it('imports the transport without the addon, and fails only when a device is opened', async () => {
    const broken = path.join(scratch, 'not-an-addon.node');
    writeFileSync(broken, 'this is not a shared object');
    vi.stubEnv('UVC_CAPTURE_ADDON', broken);
    const native = await import('../../src/transport/native/index.js');
    const attempt = native.openNativeDevice({ busNumber: 1, deviceAddress: 1 });
    await expect(attempt).rejects.toMatchObject({ code: 'ENOTSUP' });
    await expect(attempt).rejects.toThrow(/loading .*not-an-addon\.node failed/);
    await expect(attempt).rejects.toThrow(/npm install-scripts approve uvc-capture && npm rebuild uvc-capture/);
  });

  it('reports the file it loaded', async () => {
    vi.unstubAllEnvs();
    const native = await import('../../src/transport/native/index.js');
    const location = native.nativeAddonLocation();
    expect(location).toEqual(native.resolveNativeAddon());
    expect(native.loadNativeAddon().libusbVersion()).toMatch(/^1\.0\./);
  });
});
