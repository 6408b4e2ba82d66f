/**
 * The edges of a camera's life (issue 13): opening while it leaves, reopening while the last handle is still
 * closing, a control request that is never answered.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import type { UvcError } from '../../src/errors.js';
import { VirtualCamera } from '../../src/virtual-camera/index.js';
import { expectCode, small } from './helpers.js';
import { FailingVideoEndpoint, SlowCancel, UnplugOnStringRead } from './model-wrappers.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function oneFrame(camera: Camera): Promise<number> {
  const queue = camera.queue;
  queue.reqbufs(2);
  queue.qbuf(0);
  queue.qbuf(1);
  await queue.streamon();
  const buffer = await queue.dqbuf();
  return buffer.bytesused;
}

describe('openCamera while the camera leaves', () => {
  it('rejects ENODEV for a camera unplugged while its names were read, and opens it again once replugged', async () => {
    const vcam = new VirtualCamera({ pace: 'fast', formats: [small()] });
    const model = new UnplugOnStringRead(vcam);
    await expectCode(openCamera(model), 'ENODEV');
    expect(model.armed).toBe(false); // it really was unplugged during the string reads
    vcam.replug();
    const camera = await openCamera(model); // the dead device was not kept for the next open
    open.push(camera);
    expect(camera.disconnected).toBe(false);
    expect(camera.info.product).toBe('Virtual UVC Camera');
    expect(await oneFrame(camera)).toBe(160 * 120 * 2);
  });
});

describe('reopening while the last handle is still closing', () => {
  for (const delayMs of [0, 1, 5, 20]) {
    it(`opens ${delayMs} ms after close() began, with cancelled transfers that take 30 ms to come back`, async () => {
      const model = new SlowCancel(new VirtualCamera({ pace: 'fast', formats: [small()] }), 30);
      const first = await openCamera(model);
      expect(await oneFrame(first)).toBe(160 * 120 * 2);
      const closing = first.close();
      if (delayMs > 0) await sleep(delayMs);
      const second = await openCamera(model);
      open.push(second);
      await closing;
      expect(second.disconnected).toBe(false);
      expect(await oneFrame(second)).toBe(160 * 120 * 2);
    });
  }

  it('opens while the freed device is still letting go (its status transfer being cancelled)', async () => {
    const model = new SlowCancel(new VirtualCamera({ pace: 'fast', formats: [small()] }), 30);
    const first = await openCamera(model);
    expect(await oneFrame(first)).toBe(160 * 120 * 2);
    let reopening: Promise<Camera> | null = null;
    // The status endpoint (0x82) is only stopped once the last handle let go: the old device is shutting down.
    model.onCancel = (endpoint) => {
      if (endpoint === 0x82 && reopening === null) reopening = openCamera(model);
    };
    await first.close();
    expect(reopening).not.toBeNull();
    const second = await reopening!;
    open.push(second);
    expect(await oneFrame(second)).toBe(160 * 120 * 2);
  });
});

describe('a control request the camera never answers', () => {
  const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/index.js');

  it('fails ETIMEDOUT after controlTimeoutMs, and the process stays alive while it waits (no exit 13)', async () => {
    expect(existsSync(dist), 'dist/ is missing: run `npm run build` (npm test does)').toBe(true);
    // In a process of its own: vitest would keep the event loop alive and hide the bug.
    const script = `
      import { openCamera, VirtualCamera } from ${JSON.stringify(pathToFileURL(dist).href)};
      const vcam = new VirtualCamera({ pace: 'fast', faults: { ignoreRequests: [{ request: 0x81, entity: 2, selector: 2, times: 2 }] } });
      let camera;
      try {
        camera = await openCamera(vcam, { controlTimeoutMs: 200 });
        await camera.getControl('brightness');
        console.log('answered');
      } catch (error) {
        console.log(error.code);
      }
      await camera?.close();
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    // openCamera's own read of brightness timed out (it keeps the control with an unknown value), then getControl's.
    expect(stdout.trim()).toBe('ETIMEDOUT');
  });
});

describe('a video endpoint that fails every transfer at once', () => {
  it('stops the stream after a bounded run of failures: waiting dqbuf and the loop get EIO, the camera emits error', async () => {
    const model = new FailingVideoEndpoint(new VirtualCamera({ pace: 'fast', formats: [small()] }));
    const camera = await openCamera(model, { transfers: 4 });
    open.push(camera);
    const errors: UvcError[] = [];
    camera.on('error', (error) => errors.push(error));
    const queue = camera.queue;
    queue.reqbufs(3);
    for (let i = 0; i < 3; i++) queue.qbuf(i);
    // Event-loop turns while the stream runs: a stream that spins on promise continuations would allow none.
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      await queue.streamon();
      const waiting = queue.dqbuf();
      await expectCode(waiting, 'EIO');
      expect(errors.map((e) => e.code)).toEqual(['EIO']);
      expect(errors[0]!.message).toMatch(/transfers in a row failed/);
      const failures = model.failures;
      // Bounded: at least 16 (two rounds of every transfer), and the endpoint is left alone afterwards.
      expect(failures).toBeGreaterThanOrEqual(16);
      await sleep(20);
      expect(model.failures).toBe(failures);
      expect(turns).toBeGreaterThan(0);
      // The queue answers EIO until streamoff: the loop, dqbuf and qbuf alike.
      let loopError: unknown;
      try {
        for await (const buffer of queue.frames()) void buffer;
      } catch (error) {
        loopError = error;
      }
      expect((loopError as UvcError).code).toBe('EIO');
      await expectCode(queue.dqbuf(), 'EIO');
      // streamoff clears it; once the endpoint works again, so does streaming.
      await queue.streamoff();
      model.failing = false;
      expect(await oneFrameAgain(camera)).toBe(160 * 120 * 2);
    } finally {
      clearInterval(ticker);
    }
  });

  it('never freezes the process: timers run and it ends with EIO (checked in a process of its own)', async () => {
    const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/index.js');
    expect(existsSync(dist), 'dist/ is missing: run `npm run build` (npm test does)').toBe(true);
    const script = `
      import { openCamera, VirtualCamera } from ${JSON.stringify(pathToFileURL(dist).href)};
      const vcam = new VirtualCamera({ pace: 'fast', formats: [{ format: 'yuyv', frames: [{ width: 160, height: 120, fps: [30] }] }] });
      const failing = {
        speed: vcam.speed,
        get attached() { return vcam.attached; },
        control: (setup, data, signal) => vcam.control(setup, data, signal),
        transfer: (request) => request.endpoint === 0x81 ? Promise.resolve({ status: 'error', actualLength: 0, startFrame: 0 }) : vcam.transfer(request),
        on(event, listener) { vcam.on(event, listener); return this; },
        off(event, listener) { vcam.off(event, listener); return this; },
        once(event, listener) { vcam.once(event, listener); return this; },
      };
      const camera = await openCamera(failing);
      let timer = false;
      setTimeout(() => { timer = true; }, 0);
      const queue = camera.queue;
      queue.reqbufs(2); queue.qbuf(0); queue.qbuf(1);
      await queue.streamon();
      const code = await queue.dqbuf().then(() => 'frame', (error) => error.code);
      await new Promise((resolve) => setTimeout(resolve, 5));
      console.log(code, timer);
      await camera.close();
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    expect(stdout.trim()).toBe('EIO true');
  });
});

async function oneFrameAgain(camera: Camera): Promise<number> {
  const queue = camera.queue;
  for (let i = 0; i < queue.count; i++) if (queue.querybuf(i).state === 'dequeued') queue.qbuf(i);
  await queue.streamon();
  return (await queue.dqbuf()).bytesused;
}

