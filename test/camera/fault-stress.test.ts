/**
 * 10 000 frames through the whole stack on the virtual camera, with faults injected on the device side (lost
 * packets, ERR bits, missing EOF, short frames) and an erratic consumer on the other (holding buffers, non-blocking
 * and timed dqbufs, streamoff/streamon cycles), ending in an unplug. Throughout: every buffer is in exactly one
 * place, no waiter hangs, every frame not flagged is whole and carries the stamp its sequence number says, and the
 * heap does not grow with the frame count.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import type { CameraDevice } from '../../src/camera/camera-device.js';
import { isUvcError } from '../../src/errors.js';
import type { VideoBuffer } from '../../src/queue/index.js';
import { Random } from '../../src/random.js';
import { VirtualCamera } from '../../src/virtual-camera/index.js';
import { small, stampOf } from './helpers.js';

const TOTAL_FRAMES = 10_000;
const WIDTH = 160;
const HEIGHT = 120;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function invariantsOf(camera: Camera): string[] {
  const device = (camera as unknown as { device: CameraDevice }).device;
  return device.streams[0]!.queue.checkInvariants();
}

describe('fault stress on the virtual camera', () => {
  it(`keeps every buffer accounted for over ${TOTAL_FRAMES} frames with random faults, then an unplug`, async () => {
    const seed = Number(process.env.UVC_STRESS_SEED ?? 20261123);
    const random = new Random(seed); // a failure replays from its seed
    const rand = (): number => random.next();
    const unplugAt = TOTAL_FRAMES + Math.floor(rand() * 200);
    const vcam = new VirtualCamera({
      pace: 'fast',
      formats: [small(WIDTH, HEIGHT)],
      seed,
      faults: {
        packetLossRate: 0.0005,
        packetLoss: 'error',
        errorFrames: { every: 97, offset: 5 },
        missingEof: { every: 113, offset: 7 },
        shortFrames: { every: 131, offset: 11 },
      },
    });
    const camera = await openCamera(vcam);
    const queue = camera.queue;
    const count = 6;
    queue.reqbufs(count);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    await queue.streamon();

    let frames = 0;
    let flagged = 0;
    let good = 0;
    let cycles = 0;
    let lastSequence = -1;
    let disconnected = false;
    const held: VideoBuffer[] = [];
    const heap: number[] = [];
    const check = (): void => {
      const problems = invariantsOf(camera);
      if (problems.length > 0) throw new Error(`invariants broken after ${frames} frames (seed ${seed}): ${problems.join('; ')}`);
    };

    while (!disconnected) {
      let buffer: VideoBuffer | undefined;
      const mode = rand();
      try {
        if (mode < 0.1) buffer = await queue.dqbuf({ nonblock: true });
        else if (mode < 0.2) buffer = await queue.dqbuf({ timeoutMs: 5_000 });
        else buffer = await queue.dqbuf();
      } catch (error) {
        if (isUvcError(error, 'EAGAIN')) {
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        if (isUvcError(error, 'ENXIO')) {
          disconnected = true;
          break;
        }
        throw error; // ETIMEDOUT would mean a hang: five seconds without a frame in fast pace
      }
      frames++;
      if (buffer.sequence === -1) {
        // A buffer taken back unfilled: only the unplug does that here (streamoff's come back dequeued).
        expect(frames).toBeGreaterThan(unplugAt);
        expect(buffer.flags.error).toBe(true);
        expect(buffer.bytesused).toBe(0);
      } else {
        expect(buffer.sequence).toBeGreaterThan(lastSequence);
        lastSequence = buffer.sequence;
      }
      if (buffer.flags.error) flagged++;
      else {
        good++;
        expect(buffer.bytesused).toBe(WIDTH * HEIGHT * 2);
        expect(stampOf(buffer, WIDTH, HEIGHT)).toBe(buffer.sequence);
      }
      // Hold some buffers a while, give back others at once: the queue may run dry and frames drop.
      held.push(buffer);
      const keep = Math.floor(rand() * 3);
      while (held.length > keep) {
        const back = held.shift()!;
        try {
          queue.qbuf(back.index);
        } catch (error) {
          if (!isUvcError(error, 'ENXIO')) throw error;
          disconnected = true;
        }
      }
      if (rand() < 0.002 && !disconnected) {
        // A streamoff/streamon cycle: every buffer comes back, and goes in again.
        await queue.streamoff();
        check();
        held.length = 0;
        for (let i = 0; i < count; i++) expect(queue.querybuf(i).state).toBe('dequeued');
        for (let i = 0; i < count; i++) queue.qbuf(i);
        await queue.streamon();
        lastSequence = -1; // like V4L2, sequence numbers (and the camera's stamps) start again at streamon
        cycles++;
      }
      // The camera leaves the bus at a random moment past the target (its own frame counter restarts with every
      // stream, so the unplug is triggered from here).
      if (frames === unplugAt) vcam.unplug();
      if (frames % 250 === 0) check();
      if (process.env.UVC_STRESS_TRACE && frames % 500 === 0) console.error(`${frames} frames, ${cycles} cycles, t=${process.uptime().toFixed(1)}s`);
      if (frames === 2_000 || frames === TOTAL_FRAMES) {
        gc();
        heap.push(process.memoryUsage().heapUsed);
      }
    }

    check();
    // After the unplug: whatever completed comes back, then ENXIO at once; the buffers are all with us.
    for (;;) {
      try {
        await queue.dqbuf({ timeoutMs: 1_000 });
      } catch (error) {
        expect(isUvcError(error, 'ENXIO')).toBe(true);
        break;
      }
    }
    for (let i = 0; i < count; i++) expect(queue.querybuf(i).state).toBe('dequeued');
    expect(() => queue.qbuf(0)).toThrowError(expect.objectContaining({ code: 'ENXIO' }));
    await camera.close();

    expect(frames).toBeGreaterThanOrEqual(TOTAL_FRAMES);
    expect(good).toBeGreaterThan(frames * 0.8);
    expect(flagged).toBeGreaterThan(0);
    expect(cycles).toBeGreaterThan(0);
    // Flat memory: the heap after 10 000 frames is within a small margin of the heap after 2 000.
    expect(heap).toHaveLength(2);
    expect(heap[1]! / heap[0]!).toBeLessThan(1.25);
  });
});
