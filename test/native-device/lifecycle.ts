// What JavaScript may do to a running stream that no well-behaved program does: drop every reference to it
// (garbage collection), exit the process in the middle, throw, end a worker thread. Each runs in a child process
// on the raw addon; afterwards this process must be able to claim the same interface (nothing was left behind).
import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { openNativeDevice } from '../../src/transport/native/index.js';
import { resolveNativeAddon } from '../../src/transport/native/load-addon.js';
import type { UsbTransport } from '../../src/transport/usb-transport.js';
import { isoPlan, type StreamPlan, type TestDevice } from './device-under-test.js';

/** Prelude of every child: the addon, the device, and a helper that starts an iso stream on it. */
const PRELUDE = `
const addon = require(process.env.ADDON);
const plan = JSON.parse(process.env.PLAN);
const log = (o) => console.log(JSON.stringify(o));
async function openStreaming(onCompletion) {
  const device = await addon.openDevice(plan.bus, plan.address);
  await device.claimInterface(plan.interfaceNumber);
  if (plan.altSetting) await device.setAltSetting(plan.interfaceNumber, plan.altSetting);
  const options = { endpoint: plan.endpoint, type: 'iso', transfers: 4, packetsPerTransfer: 32, packetSize: plan.packetSize };
  // The addon hands over completions in batches: their slots are in stream.batch.
  const stream = device.startStream(options, (count) => { for (let i = 0; i < count; i++) onCompletion(stream, stream.batch[i]); });
  return { device, stream };
}
`;

// Hang guards, not speed limits: an instrumented node under emulation (the kernel rig) starts in ~15 s.
const CHILD_TIMEOUT_MS = 240_000;

function runChild(code: string, env: Record<string, string>, timeoutMs = CHILD_TIMEOUT_MS) {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', PRELUDE + code], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, ...env },
  });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
  return { status: r.status, signal: r.signal, stderr: r.stderr, results: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function claimable(device: TestDevice, plan: StreamPlan): Promise<void> {
  const t: UsbTransport = await openNativeDevice({ portPath: device.portPath });
  try {
    await t.claimInterface(plan.interfaceNumber);
  } finally {
    await t.close();
  }
}

export function lifecycle(device: TestDevice): void {
  describe('crash safety with a running stream', { timeout: CHILD_TIMEOUT_MS + 30_000 }, () => {
    let plan: StreamPlan;
    let env: Record<string, string>;

    it('plans the stream', async () => {
      const t = await openNativeDevice({ portPath: device.portPath });
      plan = isoPlan(t.configDescriptor());
      await t.close();
      env = {
        ADDON: resolveNativeAddon().path,
        PLAN: JSON.stringify({
          bus: device.busNumber,
          address: device.deviceAddress,
          interfaceNumber: plan.interfaceNumber,
          altSetting: plan.altSetting,
          endpoint: plan.endpoint.address,
          packetSize: plan.endpoint.bytesPerInterval,
        }),
      };
      expect(plan.endpoint.type).toBe('iso');
    });

    it('keeps a stream whose every JavaScript reference was dropped alive through GC, then exits with process.exit()', async () => {
      const r = runChild(
        `
        let count = 0;
        openStreaming((stream, slot) => { count++; stream.release(slot); }).then(() => {
          // Nothing references the device or the stream any more but the engine itself.
          setTimeout(() => {
            for (let i = 0; i < 5; i++) global.gc();
            const before = count;
            setTimeout(() => {
              global.gc();
              log({ before, after: count, live: addon.liveObjects() });
              process.exit(0);
            }, 300);
          }, 100);
        });`,
        env,
      );
      expect(r).toMatchObject({ status: 0, signal: null });
      const [result] = r.results as [{ before: number; after: number; live: { devices: number; streams: number } }];
      expect(result.after).toBeGreaterThan(result.before);
      expect(result.live).toMatchObject({ devices: 1, streams: 1 });
      await claimable(device, plan);
    });

    it('closes a device whose handle was collected without close(), and frees the stream memory', async () => {
      const r = runChild(
        `
        (async () => {
          let { device, stream } = await openStreaming((s, slot) => s.release(slot));
          await new Promise((r) => setTimeout(r, 100));
          await stream.stop();
          device = stream = undefined;
          const deadline = Date.now() + 20000;
          while (addon.liveObjects().devices > 0 && Date.now() < deadline) {
            global.gc();
            await new Promise((r) => setTimeout(r, 20));
          }
          log({ live: addon.liveObjects() });
          // Its interface was released: a new handle claims it.
          const again = await addon.openDevice(plan.bus, plan.address);
          await again.claimInterface(plan.interfaceNumber);
          await again.close();
          log({ claimed: true });
        })();`,
        env,
      );
      expect(r).toMatchObject({ status: 0, signal: null });
      expect(r.results).toEqual([{ live: { devices: 0, streams: 0, blocks: 0 } }, { claimed: true }]);
    });

    it('exits on an uncaught exception thrown from inside a completion', async () => {
      const r = runChild(
        `
        let count = 0;
        openStreaming((stream, slot) => { stream.release(slot); if (++count === 20) throw new Error('thrown by the test'); });`,
        env,
      );
      expect(r.status).toBe(1);
      expect(r.signal).toBeNull();
      expect(r.stderr).toContain('thrown by the test');
      await claimable(device, plan);
    });

    it('exits on its own when the stream stopped but the device was never closed', async () => {
      const r = runChild(
        `
        let count = 0;
        openStreaming((stream, slot) => { stream.release(slot); if (++count === 20) stream.stop().then(() => log({ stopped: count })); });`,
        env,
      );
      expect(r).toMatchObject({ status: 0, signal: null });
      // Stopped once, at the 20th completion: the rest of the batch that held it may still reach the callback
      // (the addon hands completions over in batches; stop() promises nothing after it resolves, and the JS
      // transport drops the rest itself). A kernel-rig stress round saw 21.
      expect(r.results).toHaveLength(1);
      expect(r.results[0]!.stopped).toBeGreaterThanOrEqual(20);
      expect(r.results[0]!.stopped).toBeLessThan(20 + 8); // at most the rest of one batch (kMaxBatch, native/stream_wrap.cc)
      await claimable(device, plan);
    });

    it('tears a streaming worker thread down when it is terminated', async () => {
      const r = runChild(
        `
        const { Worker } = require('node:worker_threads');
        const worker = new Worker(${JSON.stringify(PRELUDE)} + "let n = 0; openStreaming((s, slot) => { s.release(slot); if (++n === 10) require('node:worker_threads').parentPort.postMessage('streaming'); });", { eval: true });
        worker.on('message', async () => {
          await worker.terminate();
          log({ terminated: true, live: addon.liveObjects() });
          const again = await addon.openDevice(plan.bus, plan.address);
          await again.claimInterface(plan.interfaceNumber);
          await again.close();
          log({ claimed: true });
        });`,
        env,
      );
      expect(r).toMatchObject({ status: 0, signal: null });
      expect(r.results).toEqual([{ terminated: true, live: { devices: 0, streams: 0, blocks: 0 } }, { claimed: true }]);
    });

    it('closes twice and stops twice while streaming, in any order, without harm', async () => {
      const r = runChild(
        `
        (async () => {
          const { device, stream } = await openStreaming((s, slot) => s.release(slot));
          await new Promise((r) => setTimeout(r, 100));
          const all = [device.close(), stream.stop(), device.close(), stream.stop()];
          await Promise.all(all);
          stream.release(0); stream.release(1);
          const codes = [];
          for (const call of [() => device.claimInterface(0), () => device.controlTransfer(0x80, 0, 0, 0, 2, 100)]) {
            codes.push(await call().then(() => 'ok', (e) => e.code));
          }
          log({ state: device.state, stats: stream.stats(), codes });
        })();`,
        env,
      );
      expect(r).toMatchObject({ status: 0, signal: null });
      expect(r.results).toEqual([{ state: 'closed', stats: expect.objectContaining({ inFlight: 0, held: 0 }), codes: ['EBADF', 'EBADF'] }]);
    });
  });
}
