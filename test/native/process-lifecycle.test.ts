// The process and its threads come and go while the addon is in use: natural exit, process.exit() with work
// pending (no environment cleanup hooks run then, only atexit), uncaught exceptions, worker threads that use the
// addon and exit or are terminated. None of these may crash, hang or lose the exit code.
import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { resolveNativeAddon } from '../../src/transport/native/load-addon.js';

const addonPath = resolveNativeAddon().path;

// Hang guards, not speed limits: an instrumented node under emulation (the kernel rig) starts in ~15 s.
const CHILD_TIMEOUT_MS = 240_000;

function runChild(code: string, timeoutMs = CHILD_TIMEOUT_MS) {
  const result = spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, ADDON: addonPath },
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

const LOAD = 'const addon = require(process.env.ADDON);';

describe('process exit', { timeout: CHILD_TIMEOUT_MS + 10_000 }, () => {
  it('exits on its own after using the addon: nothing idle keeps it alive, the event thread is joined', () => {
    const r = runChild(`${LOAD}
      addon.openDevice(250, 1).catch((e) => console.log(e.code));`);
    expect(r).toMatchObject({ status: 0, signal: null, stdout: 'ENOENT\n' });
  });

  it('exits with process.exit() while opens are still pending', () => {
    const r = runChild(`${LOAD}
      for (let i = 0; i < 16; i++) addon.openDevice(250, 1 + i).catch(() => {});
      process.exit(7);`);
    expect(r).toMatchObject({ status: 7, signal: null });
  });

  it('exits with process.exit() from inside a settled open', () => {
    const r = runChild(`${LOAD}
      addon.openDeviceByPort(9, [1]).catch((e) => { console.log(e.code); process.exit(3); });`);
    expect(r).toMatchObject({ status: 3, signal: null, stdout: 'ENOENT\n' });
  });

  it('keeps the exit code of an uncaught exception', () => {
    const r = runChild(`${LOAD}
      addon.openDevice(250, 1).catch(() => { throw new Error('boom'); });`);
    expect(r.status).toBe(1);
    expect(r.signal).toBeNull();
    expect(r.stderr).toContain('boom');
  });
});

describe('worker threads', { timeout: CHILD_TIMEOUT_MS + 10_000 }, () => {
  it('uses the addon in workers that exit on their own, then in the main thread', () => {
    const r = runChild(`${LOAD}
      const { Worker } = require('node:worker_threads');
      const code = 'const a = require(process.env.ADDON); a.openDevice(250, 1).catch((e) => require("node:worker_threads").parentPort.postMessage(e.code));';
      let done = 0;
      for (let i = 0; i < 3; i++) {
        const w = new Worker(code, { eval: true });
        w.on('message', (m) => console.log('worker', m));
        w.on('exit', (c) => { if (++done === 3) addon.openDevice(250, 2).catch((e) => console.log('main', e.code)); });
      }`);
    expect(r.status).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stdout).toBe('worker ENOENT\n'.repeat(3) + 'main ENOENT\n');
  });

  it('survives workers terminated while their opens are pending', () => {
    const r = runChild(`${LOAD}
      const { Worker } = require('node:worker_threads');
      const code = 'const a = require(process.env.ADDON); for (let i = 0; i < 8; i++) a.openDevice(250, 1 + i).catch(() => {}); setInterval(() => {}, 1000);';
      const workers = Array.from({ length: 4 }, () => new Worker(code, { eval: true }));
      setTimeout(async () => {
        await Promise.all(workers.map((w) => w.terminate()));
        console.log('terminated', JSON.stringify(addon.liveObjects()));
      }, 300);`);
    expect(r).toMatchObject({ status: 0, signal: null });
    expect(r.stdout).toBe('terminated {"devices":0,"streams":0,"blocks":0}\n');
  });

  it('survives process.exit() while workers use the addon', () => {
    const r = runChild(`${LOAD}
      const { Worker } = require('node:worker_threads');
      const code = 'const a = require(process.env.ADDON); setInterval(() => a.openDevice(250, 1).catch(() => {}), 20);';
      for (let i = 0; i < 3; i++) new Worker(code, { eval: true });
      setTimeout(() => process.exit(0), 400);`);
    expect(r).toMatchObject({ status: 0, signal: null });
  });
});
