/**
 * The Camera API on the virtual camera, through the whole stack: in-process host → protocol → assembly → queue.
 */
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { decodeFrameStamp, VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { expectCode, oneTurn, small, stampOf } from './helpers.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

async function start(options: VirtualCameraOptions = {}): Promise<{ vcam: VirtualCamera; camera: Camera }> {
  const vcam = new VirtualCamera(options);
  const camera = await openCamera(vcam);
  open.push(camera);
  return { vcam, camera };
}

describe('openCamera on a virtual camera', () => {
  it('describes the camera, its formats and controls, and has a default format ready', async () => {
    const { camera } = await start({ serial: 'VC-42' });
    expect(camera.info).toMatchObject({ transport: 'virtual', vendorId: 0x1209, productId: 0x0001, speed: 'high', uvcVersion: '1.10', serial: 'VC-42', product: 'Virtual UVC Camera' });
    expect(camera.formats.map((f) => f.fourcc)).toEqual(['YUY2', 'MJPG']);
    const yuyv = camera.formats[0]!;
    expect(yuyv.frames.map((f) => `${f.width}x${f.height}`)).toEqual(['640x480', '1280x720']);
    expect(yuyv.frames[0]!.fps).toEqual([30, 15, 5]);
    expect(camera.format).toMatchObject({ fourcc: 'YUY2', width: 640, height: 480, fps: 30, frameSize: 614400, transfer: 'iso' });
    expect(camera.controls.map((c) => c.name)).toEqual(expect.arrayContaining(['brightness', 'contrast', 'exposure_time_absolute', 'pan_tilt_absolute']));
    expect(camera.queue.bufferSize).toBe(614400);
  });

  it('captures YUYV frames in order with the right size, sequence and timestamps', async () => {
    const { camera } = await start();
    const queue = camera.queue;
    expect(queue.reqbufs(4)).toBe(4);
    for (let i = 0; i < 4; i++) queue.qbuf(i);
    await queue.streamon();
    const seen: Array<{ sequence: number; stamp: number | null; bytesused: number; timestamp: number; error: boolean }> = [];
    for await (const buffer of queue) {
      seen.push({ sequence: buffer.sequence, stamp: stampOf(buffer, 640, 480), bytesused: buffer.bytesused, timestamp: buffer.timestamp, error: buffer.flags.error });
      if (seen.length === 12) break;
    }
    await queue.streamoff();
    // Real-time pace on a shared machine may lose frames: a stalled event loop loses packets (the frame comes
    // back flagged), and a late renderer in the virtual camera skips frames device-side (the stamps jump). Every
    // frame not flagged is whole; stamps only move forward, and never by less than the sequence moved, so a
    // sequence gap always stands for a frame that really went missing.
    const good = seen.filter((s) => !s.error);
    expect(good.length).toBeGreaterThan(0);
    for (const s of good) {
      expect(s.bytesused).toBe(614400);
      expect(s.stamp).not.toBeNull();
    }
    for (let i = 1; i < good.length; i++) {
      const stampStep = good[i]!.stamp! - good[i - 1]!.stamp!;
      expect(stampStep).toBeGreaterThanOrEqual(good[i]!.sequence - good[i - 1]!.sequence);
    }
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.sequence).toBeGreaterThan(seen[i - 1]!.sequence);
      expect(seen[i]!.timestamp).toBeGreaterThan(seen[i - 1]!.timestamp);
    }
  });

  it('captures MJPEG frames that decode to the stamped frame numbers', async () => {
    const { camera } = await start({ pace: 'fast' });
    const format = await camera.setFormat({ fourcc: 'MJPEG', width: 640, height: 480, fps: 30 });
    expect(format).toMatchObject({ fourcc: 'MJPG', kind: 'mjpeg', width: 640, height: 480 });
    const queue = camera.queue;
    queue.reqbufs(3);
    for (let i = 0; i < 3; i++) queue.qbuf(i);
    await queue.streamon();
    const stamps: number[] = [];
    for await (const buffer of queue) {
      expect(buffer.flags.error).toBe(false);
      const jpeg = buffer.memory.slice(0, buffer.bytesused);
      expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
      const { data, info } = await sharp(jpeg).greyscale().raw().toBuffer({ resolveWithObject: true });
      const stamp = decodeFrameStamp({ data, width: info.width, height: info.height, format: 'grey' });
      expect(stamp).toBe(buffer.sequence);
      stamps.push(stamp!);
      if (stamps.length === 6) break;
    }
    await queue.streamoff();
    // 'fast' pace sends frames as fast as they are taken; while we decode, the camera outruns us and frames
    // with no buffer queued are dropped: the sequence (and the stamp) then jumps.
    expect(stamps[0]).toBe(0);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThan(stamps[i - 1]!);
  });

  it('streams over a bulk endpoint too', async () => {
    const { camera } = await start({ transfer: 'bulk', pace: 'fast', formats: [small(320, 240)] });
    expect(camera.format).toMatchObject({ transfer: 'bulk', width: 320, height: 240 });
    const queue = camera.queue;
    queue.reqbufs(2);
    queue.qbuf(0);
    queue.qbuf(1);
    await queue.streamon();
    const sequences: number[] = [];
    for await (const buffer of queue) {
      expect(buffer.bytesused).toBe(320 * 240 * 2);
      expect(stampOf(buffer, 320, 240)).toBe(buffer.sequence);
      sequences.push(buffer.sequence);
      if (sequences.length === 20) break;
    }
    await queue.streamoff();
    expect(sequences).toEqual([...Array(20).keys()]);
  });

  it('applies controls to the picture', async () => {
    const { camera } = await start({ pace: 'fast', formats: [small()] });
    const mean = async (): Promise<number> => {
      const queue = camera.queue;
      queue.reqbufs(2);
      queue.qbuf(0);
      queue.qbuf(1);
      await queue.streamon();
      const buffer = await queue.dqbuf();
      let sum = 0;
      for (let i = 0; i < buffer.bytesused; i += 2) sum += buffer.memory[i]!; // Y samples
      await queue.streamoff();
      queue.reqbufs(0);
      return sum / (buffer.bytesused / 2);
    };
    const before = await mean();
    const brightness = camera.controls.find((c) => c.name === 'brightness')!;
    await camera.setControl('brightness', brightness.max as number);
    expect(await camera.getControl('brightness')).toBe(brightness.max);
    expect(await mean()).toBeGreaterThan(before + 10);
    await expectCode(camera.setControl('brightness', (brightness.max as number) + 1), 'ERANGE');
    await expectCode(camera.setControl('no_such_control', 1), 'ENOENT');
  });

  it('reports control changes from the status endpoint and button presses', async () => {
    const { vcam, camera } = await start();
    const button = new Promise((resolve) => camera.once('button', resolve));
    vcam.pressButton();
    expect(await button).toEqual({ pressed: true, interfaceNumber: 1 });
    const change = new Promise<{ name: string }>((resolve) => camera.once('control', resolve));
    vcam.setPrivacyShutter(true);
    const event = await change;
    expect(event.name).toBe('privacy');
  });
});

describe('the queue rules through the Camera', () => {
  it('refuses a format change while buffers are allocated, and streaming without buffers', async () => {
    const { camera } = await start({ formats: [small(), small(320, 240)] });
    const queue = camera.queue;
    await expectCode(queue.streamon(), 'EINVAL');
    await expectCode(queue.dqbuf(), 'EINVAL');
    queue.reqbufs(2);
    await expectCode(camera.setFormat({ width: 320, height: 240 }), 'EBUSY');
    expectCode(() => queue.qbuf(7), 'EINVAL');
    queue.qbuf(0);
    await expectCode(() => queue.qbuf(0), 'EINVAL');
    await queue.streamon();
    await expectCode(() => queue.reqbufs(1), 'EBUSY');
    await queue.streamon(); // a no-op
    await queue.streamoff();
    await queue.streamoff(); // a no-op
    queue.reqbufs(0);
    expect((await camera.setFormat({ width: 320, height: 240 })).width).toBe(320);
    expect(camera.queue.bufferSize).toBe(320 * 240 * 2);
  });

  it('returns flagged frames when the camera sends the ERR bit, lost packets or short frames', async () => {
    const { camera } = await start({ pace: 'fast', formats: [small()], faults: { errorFrames: [3], shortFrames: [6] } });
    const queue = camera.queue;
    queue.reqbufs(4);
    for (let i = 0; i < 4; i++) queue.qbuf(i);
    await queue.streamon();
    const flags = new Map<number, boolean>();
    for await (const buffer of queue) {
      flags.set(buffer.sequence, buffer.flags.error);
      if (flags.size === 9) break;
    }
    await queue.streamoff();
    expect([...flags.entries()].filter(([, error]) => error).map(([sequence]) => sequence)).toEqual([3, 6]);
  });

  it('can drop errored frames instead, leaving a sequence gap', async () => {
    const vcam = new VirtualCamera({ pace: 'fast', formats: [small()], faults: { errorFrames: [2] } });
    const camera = await openCamera(vcam, { dropErroredFrames: true });
    open.push(camera);
    const queue = camera.queue;
    queue.reqbufs(4);
    for (let i = 0; i < 4; i++) queue.qbuf(i);
    await queue.streamon();
    const sequences: number[] = [];
    for await (const buffer of queue) {
      expect(buffer.flags.error).toBe(false);
      sequences.push(buffer.sequence);
      if (sequences.length === 5) break;
    }
    await queue.streamoff();
    expect(sequences).toEqual([0, 1, 3, 4, 5]);
  });
});

describe('disconnect', () => {
  it('wakes a waiting dqbuf in the turn the unplug reaches it, errors every queued buffer, then ENXIO and ENODEV', async () => {
    const { vcam, camera } = await start({ formats: [small(160, 120, [5])] });
    const queue = camera.queue;
    queue.reqbufs(3);
    const fences = [0, 1, 2].map((i) => queue.qbuf(i, { outFence: true }));
    await queue.streamon();
    let disconnects = 0;
    camera.on('disconnect', () => disconnects++);
    const first = await queue.dqbuf(); // the first frame arrives…
    const waiting = queue.dqbuf(); // …then a dqbuf waits for the next, 200 ms away
    const outcome = waiting.then(
      (buffer) => (buffer.flags.error ? 'error buffer' : 'good buffer'),
      (error: { code: string }) => error.code,
    );
    vcam.unplug();
    // The unplug's NO_DEVICE completions reach the driver on the next turn of the event loop (each completion
    // is a callback of its own, as libusb's through the addon), queued behind this test's first turn; the
    // driver wakes the waiter from the first of them. So two turns, not a frame period (200 ms) or a timeout.
    await oneTurn();
    await oneTurn();
    // It woke at once: with the buffer that was being filled, completed in error (vb2 hands back errored
    // buffers before it says ENXIO).
    expect(await Promise.race([outcome, Promise.resolve('still waiting')])).toBe('error buffer');
    expect(disconnects).toBe(1);
    expect(camera.disconnected).toBe(true);
    expect(queue.querybuf(first.index).state).toBe('dequeued');
    const settled = await Promise.allSettled(fences);
    // The first buffer's fence settled with its frame (good, or EIO if a loaded machine lost bus time under it);
    // the two still in the queue at the unplug reject ENXIO.
    const pendingAtUnplug = settled.filter((_, index) => index !== first.index);
    expect(pendingAtUnplug.map((s) => (s.status === 'rejected' ? (s.reason as { code: string }).code : 'resolved'))).toEqual(['ENXIO', 'ENXIO']);
    // The other queued buffer comes back in error, then ENXIO at once.
    const last = await queue.dqbuf();
    expect(last.flags.error).toBe(true);
    await expectCode(queue.dqbuf(), 'ENXIO');
    expectCode(() => queue.qbuf(first.index), 'ENXIO');
    expect(queue.querybuf(first.index).state).toBe('dequeued'); // nothing was queued
    await expectCode(queue.streamon(), 'ENXIO');
    await expectCode(camera.getControl('brightness'), 'ENODEV');
    await expectCode(camera.setFormat({}), 'ENODEV');
    await queue.streamoff();
    queue.reqbufs(0);
    await camera.close();
    await camera.close();
  });

  it('handles an unplug between qbuf calls', async () => {
    const { vcam, camera } = await start({ formats: [small()] });
    const queue = camera.queue;
    queue.reqbufs(2);
    queue.qbuf(0);
    vcam.unplug();
    await oneTurn();
    expectCode(() => queue.qbuf(1), 'ENXIO');
    await expectCode(queue.streamon(), 'ENXIO');
    // The buffer that was queued completed in error; then ENXIO, at once.
    const queued = await queue.dqbuf();
    expect(queued.index).toBe(0);
    expect(queued.state).toBe('dequeued');
    expect(queued.flags.error).toBe(true);
    await expectCode(queue.dqbuf(), 'ENXIO');
    expect(queue.querybuf(1).state).toBe('dequeued');
  });

  it('handles an unplug while streamon is still committing', async () => {
    const { vcam, camera } = await start({ formats: [small()], faults: { slowRequests: { delayMs: 200, match: { request: 0x01, selector: 0x02 } } } });
    const queue = camera.queue;
    queue.reqbufs(2);
    queue.qbuf(0);
    queue.qbuf(1);
    const starting = queue.streamon();
    setTimeout(() => vcam.unplug(), 50);
    const code = await starting.then(
      () => 'started',
      (error: { code: string }) => error.code,
    );
    expect(['ENXIO', 'ENODEV']).toContain(code);
    // Both queued buffers come back in error, then ENXIO; nothing stays queued.
    const returned = [await queue.dqbuf(), await queue.dqbuf()];
    expect(returned.map((b) => b.flags.error)).toEqual([true, true]);
    await expectCode(queue.dqbuf(), 'ENXIO');
    expect([0, 1].map((i) => queue.querybuf(i).state)).toEqual(['dequeued', 'dequeued']);
  });

  it('closes cleanly while streaming, and the camera can be opened again', async () => {
    const vcam = new VirtualCamera({ pace: 'fast', formats: [small()] });
    const camera = await openCamera(vcam);
    const queue = camera.queue;
    queue.reqbufs(3);
    for (let i = 0; i < 3; i++) queue.qbuf(i);
    await queue.streamon();
    await queue.dqbuf();
    await camera.close();
    expect(vcam.streaming).toBe(false);
    await expectCode(() => camera.queue, 'EBADF');
    const again = await openCamera(vcam);
    open.push(again);
    again.queue.reqbufs(1);
    again.queue.qbuf(0);
    await again.queue.streamon();
    expect((await again.queue.dqbuf()).bytesused).toBe(160 * 120 * 2);
  });
});

describe('two handles on one camera', () => {
  it('share one device: one streams while the other adjusts controls; only one owns the queue', async () => {
    const vcam = new VirtualCamera({ pace: 'fast', formats: [small()] });
    const streamer = await openCamera(vcam);
    const tuner = await openCamera(vcam);
    open.push(streamer, tuner);
    streamer.queue.reqbufs(2);
    await expectCode(() => tuner.queue.reqbufs(2), 'EBUSY');
    await expectCode(tuner.setFormat({}), 'EBUSY');
    streamer.queue.qbuf(0);
    streamer.queue.qbuf(1);
    await streamer.queue.streamon();
    await tuner.setControl('contrast', 20);
    expect(await streamer.getControl('contrast')).toBe(20);
    await streamer.queue.dqbuf();
    await streamer.close();
    // The device lives on for the other handle, which may own the queue now.
    expect(tuner.queue.reqbufs(1)).toBe(1);
    tuner.queue.qbuf(0);
    await tuner.queue.streamon();
    expect((await tuner.queue.dqbuf()).bytesused).toBe(160 * 120 * 2);
  });

  it('tell every handle about an unplug, and free the device when the last closes', async () => {
    const vcam = new VirtualCamera({ formats: [small()] });
    const a = await openCamera(vcam);
    const b = await openCamera(vcam);
    const both = Promise.all([new Promise<void>((r) => a.once('disconnect', () => r())), new Promise<void>((r) => b.once('disconnect', () => r()))]);
    vcam.unplug();
    await both;
    await a.close();
    await b.close();
    vcam.replug();
    const c = await openCamera(vcam); // a new device instance after the replug
    open.push(c);
    expect(c.disconnected).toBe(false);
    await c.setControl('brightness', 10);
  });
});
