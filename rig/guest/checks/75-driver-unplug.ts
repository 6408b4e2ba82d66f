/**
 * Unplug mid-stream through our driver over the real kernel (openCamera → native addon → libusb → usbfs →
 * usbcore → vhci_hcd → USB/IP → the VirtualCamera), both ways:
 *
 * 1. iso, host side: vhci_hcd's port detached (what `usbip detach` does, done here with the same sysfs write so
 *    that its moment is exact) while two DQBUF calls wait, every buffer is queued (one with an out-fence) and a
 *    control request of a second handle on the same camera is in flight. The kernel drops the device; the
 *    driver's disconnect wakes every waiter in the same step; buffers that had no frame come back flagged error
 *    with no bytes, then DQBUF fails ENXIO; QBUF, STREAMON and REQBUFS fail ENXIO, controls ENODEV; STREAMOFF
 *    and close work, and afterwards the addon holds no device, stream or transfer memory. usbcore logged the
 *    disconnect and the server saw the host close. Attached again, uvcvideo takes the camera and our driver
 *    streams verified frames.
 * 2. bulk, device side: the VirtualCamera itself leaves the bus mid-stream (the server drops the connection);
 *    the same promises hold; after it comes back it is imported again and streams.
 *
 * Hang guards are generous (this is TCG); latencies are logged, not asserted.
 */
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Camera } from '../../../src/camera/index.js';
import { openCamera } from '../../../src/camera/index.js';
import { isUvcError } from '../../../src/errors.js';
import type { VideoBuffer } from '../../../src/queue/index.js';
import { loadNativeAddon } from '../../../src/transport/native/index.js';
import { DEFAULT_VHCI_SYSFS } from '../../../src/usbip/vhci-attach.js';
import { CAMERA_PID, CAMERA_VID, describeVerdict, findServedCamera, streamYuyv } from '../lib/camera-helpers.js';
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { run, waitFor } from '../lib/exec.js';
import { ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, vhciPorts, waitForUsbDevice, waitForUsbDeviceGone, type EnumeratedDevice } from '../lib/usb-host.js';
import { waitForCaptureNode, waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 480_000;

/** Hang guard for anything that must happen "at once": a deadlock guard sized for a loaded machine under TCG, not a margin. */
const HANG_MS = 120_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A promise's outcome, recorded when it settles (so it can be inspected synchronously). */
interface Watched<T> {
  label: string;
  settled: boolean;
  value?: T;
  error?: unknown;
  done: Promise<void>;
}

function watch<T>(label: string, promise: Promise<T>): Watched<T> {
  const w: Watched<T> = { label, settled: false, done: Promise.resolve() };
  w.done = promise.then(
    (value) => {
      w.settled = true;
      w.value = value;
    },
    (error: unknown) => {
      w.settled = true;
      w.error = error;
    },
  );
  return w;
}

function codeOf(error: unknown): string {
  return isUvcError(error) ? error.code : `not a UvcError: ${String(error)}`;
}

async function expectCode(what: string, code: string, action: () => unknown): Promise<void> {
  let got = 'no error';
  try {
    await action();
  } catch (error) {
    got = codeOf(error);
  }
  assertEqual(got, code, what);
}

function describeBuffer(b: VideoBuffer): string {
  return `buffer ${b.index} ${b.flags.error ? 'ERROR' : 'ok'} ${b.bytesused} B seq ${b.sequence}`;
}

async function attachCamera(ctx: CheckContext, label: string): Promise<{ port: number; usb: EnumeratedDevice }> {
  const port = await usbipAttach('1-1');
  const usb = await waitForUsbDevice(CAMERA_VID, CAMERA_PID);
  await waitForDriver(usb.path, 0, 'uvcvideo');
  await waitForDriver(usb.path, 1, 'uvcvideo');
  await waitForCaptureNode(usb.path);
  ctx.log(`${label}: attached on vhci port ${port} as ${usb.name} (device number ${usb.devnum}), uvcvideo bound`);
  return { port, usb };
}

/** The kernel dropped the device: sysfs lost it and usbcore logged the disconnect of its device number. */
async function kernelSawDisconnect(ctx: CheckContext, label: string, usb: EnumeratedDevice): Promise<void> {
  await waitForUsbDeviceGone(CAMERA_VID, CAMERA_PID, HANG_MS);
  const dmesg = (await run('dmesg', [])).stdout.split('\n');
  const line = dmesg.filter((l) => l.includes(`usb ${usb.name}: USB disconnect, device number ${usb.devnum}`)).at(-1);
  assert(line !== undefined, `${label}: usbcore logged no "USB disconnect, device number ${usb.devnum}" for ${usb.name}`);
  ctx.log(`${label}: kernel: ${line.trim()}`);
}

/** After close: the addon has no device, stream or transfer memory left once JavaScript's wrappers are collected. */
async function addonFreedEverything(ctx: CheckContext, label: string): Promise<void> {
  const addon = loadNativeAddon();
  const live = await waitFor(
    'the addon to free every device, stream and transfer block',
    () => {
      gc();
      const l = addon.liveObjects();
      return l.devices === 0 && l.streams === 0 && l.blocks === 0 ? l : undefined;
    },
    HANG_MS,
    50,
  ).catch(() => addon.liveObjects());
  ctx.log(`${label}: native objects alive after close and GC: ${JSON.stringify(live)}`);
  assert(live.devices === 0 && live.streams === 0 && live.blocks === 0, `${label}: the addon still holds ${JSON.stringify(live)} after close`);
}

/**
 * Everything the driver must do once the device is gone: every waiter woke together with the disconnect,
 * buffers without a frame come back flagged, then ENXIO; every call fails cleanly; close works.
 */
async function afterDisconnect(ctx: CheckContext, label: string, camera: Camera, waiters: Watched<unknown>[], returned: VideoBuffer[], disconnectedAt: number): Promise<void> {
  const queue = camera.queue;
  // Drain: whatever is still done comes out, then ENXIO at once.
  const drained: string[] = [];
  let ending = '';
  for (let i = 0; i <= queue.count; i++) {
    try {
      const b = await queue.dqbuf({ timeoutMs: HANG_MS });
      drained.push(describeBuffer(b));
      returned.push(b);
    } catch (error) {
      ending = codeOf(error);
      break;
    }
  }
  ctx.log(`${label}: after the disconnect DQBUF gave ${drained.length === 0 ? 'nothing' : drained.join(', ')}, then ${ending}`);
  assertEqual(ending, 'ENXIO', `${label}: DQBUF once the done buffers are drained`);
  // What came back since the device went: frames it finished sending before (bytes and a sequence number), and
  // the buffers that were queued, flagged error with no bytes. Never an empty buffer passed off as good.
  for (const b of returned) {
    const frame = b.bytesused > 0 && b.sequence >= 0;
    const cancelled = b.flags.error && b.bytesused === 0 && b.sequence < 0;
    assert(frame || cancelled, `${label}: a buffer returned after the unplug is neither a frame nor flagged: ${describeBuffer(b)}`);
  }
  const cancelled = returned.filter((b) => b.flags.error && b.bytesused === 0).length;
  assert(cancelled >= 1, `${label}: no queued buffer came back flagged error (returned: ${returned.map(describeBuffer).join(', ')})`);
  for (let i = 0; i < queue.count; i++) assertEqual(queue.querybuf(i).state, 'dequeued', `${label}: state of buffer ${i} after the drain (every buffer back with the user)`);
  await expectCode(`${label}: QBUF after the disconnect`, 'ENXIO', () => queue.qbuf(0));
  await expectCode(`${label}: STREAMON after the disconnect`, 'ENXIO', () => queue.streamon());
  await expectCode(`${label}: REQBUFS(4) after the disconnect`, 'ENXIO', () => queue.reqbufs(4));
  await expectCode(`${label}: getControl after the disconnect`, 'ENODEV', () => camera.getControl('brightness'));
  await expectCode(`${label}: setFormat after the disconnect`, 'ENODEV', () => camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480 }));
  assert(camera.disconnected, `${label}: camera.disconnected is false`);
  for (const w of waiters) assert(w.settled, `${label}: ${w.label} never settled`);
  await queue.streamoff();
  assertEqual(queue.reqbufs(0), 0, `${label}: REQBUFS(0) after the disconnect`);
  await camera.close();
  ctx.log(`${label}: STREAMOFF, REQBUFS(0) and close() done ${(performance.now() - disconnectedAt).toFixed(0)} ms after the disconnect`);
}

/** Streams again on a camera that came back, and hands it back to uvcvideo on close (frames judged by content). */
async function streamsAgain(ctx: CheckContext, label: string, usb: EnumeratedDevice, transfer: 'iso' | 'bulk'): Promise<void> {
  const camera = await openCamera(await findServedCamera());
  try {
    const format = await camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480 });
    assertEqual(format.transfer, transfer, `${label}: transfer of the negotiated format`);
    const verdict = await streamYuyv(camera, { width: 640, height: 480, count: 30 });
    ctx.log(`${label}: ${describeVerdict(verdict)}`);
    assertEqual(verdict.wrong.length, 0, `${label}: frames not flagged but wrong (${verdict.wrong.slice(0, 5).join('; ')})`);
    assert(verdict.good >= 20, `${label}: only ${verdict.good} of 30 frames good`);
  } finally {
    await camera.close();
  }
  await waitForDriver(usb.path, 1, 'uvcvideo');
  ctx.log(`${label}: closed; uvcvideo has the camera again`);
}

function raceHang(promise: Promise<unknown>, what: string): Promise<unknown> {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} within ${HANG_MS} ms`)), HANG_MS))]);
}

/**
 * Streams 10 frames, then detaches the vhci port while two DQBUF wait, every buffer is queued (the last with an
 * out-fence) and the second handle's control read is in flight; judges what every waiter got, then closes.
 * Returns when both handles are closed (and out of scope, so that GC can show the addon freed everything).
 */
async function streamAndDetach(ctx: CheckContext, label: string, port: number): Promise<void> {
  const info = await findServedCamera();
  const camera = await openCamera(info);
  const observer = await openCamera(info); // a second handle on the shared device: controls only
  let disconnects = 0;
  let observerDisconnects = 0;
  let disconnectedAt = 0;
  let atDisconnect: string[] = [];
  const waiters: Watched<unknown>[] = [];
  const disconnected = new Promise<void>((resolve) => {
    camera.on('disconnect', () => {
      disconnects++;
      disconnectedAt = performance.now();
      // Still inside the disconnect: the waiters' promises settle in the microtasks after it, not later.
      setImmediate(() => {
        atDisconnect = waiters.filter((w) => !w.settled).map((w) => w.label);
        resolve();
      });
    });
  });
  observer.on('disconnect', () => observerDisconnects++);

  await camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480 });
  const queue = camera.queue;
  const count = queue.reqbufs(4);
  for (let i = 0; i < count; i++) queue.qbuf(i);
  await queue.streamon();
  let frames = 0;
  let last: VideoBuffer | undefined;
  while (frames < 10) {
    last = await queue.dqbuf({ timeoutMs: HANG_MS });
    frames++;
    if (frames < 10) queue.qbuf(last.index);
  }
  assert(last !== undefined, 'no frame');
  // From here to the detach nothing yields to the event loop: no completion can slip in between.
  waiters.push(watch(`the fence of buffer ${last.index}`, queue.qbuf(last.index, { outFence: true })));
  waiters.push(watch('DQBUF waiter 1', queue.dqbuf()));
  waiters.push(watch('DQBUF waiter 2', queue.dqbuf()));
  waiters.push(watch('a control read of the second handle', observer.getControl('brightness')));
  const states = Array.from({ length: count }, (_, i) => queue.querybuf(i).state);
  ctx.log(`${label}: ${frames} frames streamed; detaching vhci port ${port} with 2 DQBUF waiting, buffers ${states.join(' ')}, a control request in flight`);
  const t0 = performance.now();
  writeFileSync(`${DEFAULT_VHCI_SYSFS}/detach`, String(port));

  await raceHang(disconnected, `${label}: no disconnect event after the detach`);
  ctx.log(`${label}: the driver saw the disconnect ${(disconnectedAt - t0).toFixed(0)} ms after the detach; still waiting then: ${atDisconnect.length === 0 ? 'nothing' : atDisconnect.join(', ')}`);
  assertEqual(atDisconnect.join(', '), '', `${label}: waiters not woken by the disconnect itself`);
  const returned: VideoBuffer[] = [];
  for (const w of waiters) {
    const buffer = w.value !== null && typeof w.value === 'object' && 'index' in w.value ? (w.value as VideoBuffer) : undefined;
    ctx.log(`${label}:   ${w.label} → ${w.error !== undefined ? codeOf(w.error) : buffer !== undefined ? describeBuffer(buffer) : JSON.stringify(w.value)}`);
    if (w.label.startsWith('DQBUF')) {
      // A frame that completed before the device went, or a queued buffer coming back flagged; never a hang.
      if (w.error !== undefined) assertEqual(codeOf(w.error), 'ENXIO', `${label}: ${w.label}`);
      if (buffer !== undefined) returned.push(buffer);
    } else if (w.label.startsWith('the fence')) {
      if (w.error !== undefined) assert(['ENXIO', 'EIO'].includes(codeOf(w.error)), `${label}: ${w.label} rejected with ${codeOf(w.error)}`);
    } else if (w.error !== undefined) {
      assertEqual(codeOf(w.error), 'ENODEV', `${label}: ${w.label}`);
    }
  }
  assertEqual(new Set(returned.map((b) => b.index)).size, returned.length, `${label}: distinct buffers handed to the DQBUF waiters`);
  await afterDisconnect(ctx, label, camera, waiters, returned, disconnectedAt);
  assertEqual(observerDisconnects, 1, `${label}: disconnect events of the second handle`);
  await expectCode(`${label}: the second handle's getControl`, 'ENODEV', () => observer.getControl('contrast'));
  await observer.close();
  assertEqual(disconnects, 1, `${label}: disconnect events of the streaming handle`);
}

async function hostDetach(ctx: CheckContext): Promise<void> {
  const label = 'iso, vhci detach';
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options: { pace: 'fast' }, label: 'serve-iso' });
  let port: number | undefined;
  try {
    const attached = await attachCamera(ctx, label);
    port = attached.port;
    const mark = served.events.length;
    const detaching = port;
    port = undefined;
    await streamAndDetach(ctx, label, detaching);
    await addonFreedEverything(ctx, label);
    const detach = await served.waitEvent('detach', HANG_MS, mark);
    ctx.log(`${label}: server: detach (${String(detach.reason)}), session ${JSON.stringify(detach.stats)}`);
    assertEqual(detach.reason, 'host-closed', `${label}: the server's detach reason`);
    await kernelSawDisconnect(ctx, label, attached.usb);

    const again = await attachCamera(ctx, `${label}, attached again`);
    port = again.port;
    await streamsAgain(ctx, `${label}, attached again`, again.usb, 'iso');
  } finally {
    if (port !== undefined && (await vhciPorts()).some((p) => p.port === port && p.state !== 4)) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}

/** Streams with a consumer that keeps every buffer queued; the camera unplugs itself; judges and closes. */
async function streamAndUnplug(ctx: CheckContext, label: string, served: ServedDevice): Promise<void> {
  const camera = await openCamera(await findServedCamera());
  let disconnectedAt = 0;
  const disconnected = new Promise<void>((resolve) =>
    camera.once('disconnect', () => {
      disconnectedAt = performance.now();
      resolve();
    }),
  );
  await camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480 });
  const queue = camera.queue;
  const count = queue.reqbufs(4);
  for (let i = 0; i < count; i++) queue.qbuf(i);
  await queue.streamon();
  let frames = 0;
  let unplugged = false;
  const returned: VideoBuffer[] = [];
  const consumer = watch(
    'the consumer loop',
    (async () => {
      for (;;) {
        const b = await queue.dqbuf({ timeoutMs: HANG_MS });
        frames++;
        if (unplugged) returned.push(b);
        queue.qbuf(b.index); // ENXIO once the device is gone: that ends the loop
      }
    })(),
  );
  await waitFor('10 bulk frames', () => (frames >= 10 || consumer.settled ? true : undefined), HANG_MS * 4, 20);
  assert(!consumer.settled, `${label}: the consumer ended before the unplug: ${codeOf(consumer.error)}`);
  ctx.log(`${label}: ${frames} frames streamed; the camera unplugs itself`);
  const t0 = performance.now();
  unplugged = true;
  await served.command('unplug');
  await raceHang(disconnected, `${label}: no disconnect event after the unplug`);
  await raceHang(consumer.done, `${label}: the consumer's DQBUF/QBUF still waits after the disconnect`);
  ctx.log(`${label}: the driver saw the disconnect ${(disconnectedAt - t0).toFixed(0)} ms after the unplug command; the consumer loop ended with ${codeOf(consumer.error)} after ${frames} buffers (since the unplug: ${returned.map(describeBuffer).join(', ') || 'none'})`);
  assertEqual(codeOf(consumer.error), 'ENXIO', `${label}: how the consumer's loop ended`);
  await afterDisconnect(ctx, label, camera, [consumer], returned, disconnectedAt);
}

async function deviceUnplug(ctx: CheckContext): Promise<void> {
  const label = 'bulk, device unplug';
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options: { pace: 'fast', transfer: 'bulk' }, label: 'serve-bulk' });
  let port: number | undefined;
  try {
    const attached = await attachCamera(ctx, label);
    port = attached.port;
    const mark = served.events.length;
    await streamAndUnplug(ctx, label, served);
    await addonFreedEverything(ctx, label);
    const detach = await served.waitEvent('detach', HANG_MS, mark);
    assertEqual(detach.reason, 'device-unplugged', `${label}: the server's detach reason`);
    await kernelSawDisconnect(ctx, label, attached.usb);
    port = undefined; // vhci freed the port when the connection dropped

    await served.command('replug');
    const again = await attachCamera(ctx, `${label}, replugged`);
    port = again.port;
    await streamsAgain(ctx, `${label}, replugged`, again.usb, 'bulk');
  } finally {
    if (port !== undefined && (await vhciPorts()).some((p) => p.port === port && p.state !== 4)) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}

export default async function check(ctx: CheckContext): Promise<void> {
  await hostDetach(ctx);
  await deviceUnplug(ctx);
  ctx.log('the process is alive and exits normally');
}
