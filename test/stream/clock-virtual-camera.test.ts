/**
 * Timestamps through the whole stack (openCamera → in-process host → assembler → queue) on the virtual camera
 * paced in real time, whose frame n is captured at t0 + n × period and whose stamp names n: short captures
 * measure the right frame rate, the zero-SCR camera gets device timestamps, and timestamps only go forward
 * under the timing faults. Timing assertions are on timestamps, never on the wall clock, with margins for a
 * loaded machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { CaptureStats } from '../../src/cli/capture-stats.js';
import type { VideoBuffer } from '../../src/queue/index.js';
import type { TimestampStats } from '../../src/stream/index.js';
import { decodeFrameStamp, VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';

const WIDTH = 160;
const HEIGHT = 120;

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

async function start(options: VirtualCameraOptions, fps = 30): Promise<{ vcam: VirtualCamera; camera: Camera }> {
  const vcam = new VirtualCamera({ formats: [{ format: 'yuyv', frames: [{ width: WIDTH, height: HEIGHT, fps: [fps] }] }], ...options });
  const camera = await openCamera(vcam);
  open.push(camera);
  return { vcam, camera };
}

interface Frame {
  sequence: number;
  timestamp: number;
  /** The camera's frame number (its stamp): captured at t0 + stamp × period. Null when flagged. */
  stamp: number | null;
}

/** Streams `count` frames (or until `until` says stop) and stops; `clock` is camera.stats.clock just before. */
async function capture(camera: Camera, count: number, until: (frames: Frame[]) => boolean = () => false): Promise<Frame[] & { clock: TimestampStats }> {
  const queue = camera.queue;
  const n = queue.reqbufs(4);
  for (let i = 0; i < n; i++) queue.qbuf(i);
  await queue.streamon();
  const frames: Frame[] = [];
  for await (const buffer of queue as AsyncIterable<VideoBuffer>) {
    const stamp = buffer.flags.error ? null : decodeFrameStamp({ data: buffer.data, width: WIDTH, height: HEIGHT, format: 'yuyv' });
    frames.push({ sequence: buffer.sequence, timestamp: buffer.timestamp, stamp });
    if (frames.length >= count || until(frames)) break;
  }
  const clock = camera.stats.clock!;
  await queue.streamoff();
  queue.reqbufs(0);
  return Object.assign(frames, { clock: structuredClone(clock) });
}

function stepsBack(frames: readonly Frame[]): number {
  let steps = 0;
  for (let i = 1; i < frames.length; i++) if (!(frames[i]!.timestamp > frames[i - 1]!.timestamp)) steps++;
  return steps;
}

describe('timestamps on the virtual camera', () => {
  it('give a short capture its true frame rate: N = 2, 3, 5, 10 frames from the stream start, within 5 %', async () => {
    const { camera } = await start({});
    expect(camera.format!.fps).toBe(30);
    for (const n of [2, 3, 5, 10]) {
      // A loaded machine may cut the first or last frame (lost bus time): its stamp is then unreadable, and the
      // capture is taken again (what is judged is the timestamps, not the machine's load).
      let frames = await capture(camera, n);
      for (let attempt = 0; attempt < 4 && (frames[0]!.stamp === null || frames.at(-1)!.stamp === null); attempt++) frames = await capture(camera, n);
      const stats = new CaptureStats();
      for (const f of frames) stats.frame(f.sequence, f.timestamp, 1);
      // The rate of the frames delivered: N frames over the capture instants they span (the camera may skip a
      // frame on a loaded machine; the stamps say which it sent).
      const first = frames[0]!.stamp;
      const last = frames.at(-1)!.stamp;
      expect(first, 'first frame whole').not.toBeNull();
      expect(last, 'last frame whole').not.toBeNull();
      const expected = (30 * (n - 1)) / (last! - first!);
      expect(Math.abs(stats.fps / expected - 1), `N = ${n}: ${stats.fps.toFixed(2)} fps, expected ${expected.toFixed(2)}`).toBeLessThan(0.05);
    }
  }, 60_000);

  it('lock the device clock of a camera that sends all-zero SCRs between frames (zero-scr-idle), taking none of them', async () => {
    // How soon the lock comes depends on the machine's load (below): a capture that locked late is tried again
    // once, on a new camera (one full test run with other sessions' load locked at frame 279; alone, within 240).
    let lockedAt = -1;
    let frames: Awaited<ReturnType<typeof capture>>;
    for (let attempt = 0; ; attempt++) {
      const { camera } = await start({ quirks: ['zero-scr-idle'] });
      lockedAt = -1;
      frames = await capture(camera, 300, (seen) => {
        if (lockedAt < 0 && camera.stats.clock?.locked === true) lockedAt = seen.length;
        return lockedAt > 0 && seen.length >= 60;
      });
      if ((lockedAt > 0 && lockedAt <= 240) || attempt === 1) break;
    }
    const clock = frames.clock;
    // The zero SCRs were never taken for samples: taken, each idle gap's would be rejected (one a frame, and a
    // restart every eight), and frames would fall back to host time. (A loaded machine may still make the odd
    // real sample look implausible (11 seen with the kernel rig running alongside): some are allowed,
    // a zero SCR per frame is not.)
    expect(clock.device!.samples).toBeGreaterThan(0);
    expect(clock.device!.rejectedSamples).toBeLessThan(frames.length / 4);
    expect(clock.device!.resets).toBe(0);
    expect(clock.deviceTimestamps).toBeGreaterThan(frames.length - 5);
    // It locks like any camera: within 30 frames in the deterministic test (clock-timestamps.test.ts); here the
    // lock waits for the least delayed completions to outline the clocks, which a loaded machine makes rarer.
    expect(lockedAt).toBeGreaterThan(0);
    expect(lockedAt).toBeLessThanOrEqual(240);
    expect(stepsBack(frames)).toBe(0);
  }, 60_000);

  it('only go forward with completion jitter, a drifting device clock and zero SCRs at once, and with a camera SOF that counts no bus frames', async () => {
    const jittery = await start({ clockDriftPpm: -100, quirks: ['zero-scr-idle'], faults: { completionJitterMs: 2 } }, 60);
    const a = await capture(jittery.camera, 150);
    expect(stepsBack(a)).toBe(0);
    // Replies held at the link arrive in bursts, up to a second behind the bus: the recovery corrects itself as
    // better ones come, and a frame whose own time would go back is clamped (and counted), rarely.
    expect(a.clock.clampedTimestamps).toBeLessThan(15);

    const c922 = await start({ quirks: ['invalid-device-sof'], faults: { completionJitterMs: 2 } }, 60);
    const b = await capture(c922.camera, 150);
    expect(stepsBack(b)).toBe(0);
    const clock = b.clock;
    // Found from its behaviour (this vid:pid is in no quirk table): its SOF does not advance at 1 kHz.
    expect(clock.device!.deviceSof).toBe('invalid');
    expect(clock.deviceTimestamps).toBeGreaterThan(140);
  }, 60_000);
});
