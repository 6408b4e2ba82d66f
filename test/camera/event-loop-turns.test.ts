/**
 * A camera that answers every transfer at once must not freeze the program: in fast pace with a frame cache,
 * every frame the virtual camera sends is already rendered, so each request completes without waiting for
 * anything. The in-process host must still hand completions over on turns of the event loop, as libusb's do
 * through the addon; otherwise complete → release → resubmit → complete runs as promise jobs forever and no
 * timer, I/O or signal handler ever runs again (the CLI's --seconds never ends, the preview serves nothing).
 *
 * The check runs in this process without hanging it: the consumer stops after a bounded number of frames
 * whatever happens, and the test asserts that a zero-delay timer set at streamon fired before that.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { VirtualCamera } from '../../src/virtual-camera/index.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

/** The cache holds 4 frames: by frame 12 it has cycled twice and nothing is rendered any more. */
const CACHE = 4;
const WARM = 3 * CACHE;
/** Far more frames than one turn of the event loop can carry once completions come one batch per turn. */
const FRAMES = 400;

describe('a camera that answers every transfer at once (fast pace, frame cache)', () => {
  for (const [fourcc, transfer] of [
    ['MJPG', 'iso'],
    ['MJPG', 'bulk'],
    ['YUY2', 'iso'],
  ] as const) {
    it(`${fourcc} over ${transfer}: timers fire while it streams`, async () => {
      const vcam = new VirtualCamera({ pace: 'fast', frameCache: CACHE, transfer });
      const camera = await openCamera(vcam);
      open.push(camera);
      await camera.setFormat({ fourcc, width: 640, height: 480 });
      const queue = camera.queue;
      expect(queue.reqbufs(4)).toBe(4);
      for (let i = 0; i < 4; i++) queue.qbuf(i);
      await queue.streamon();
      let timerFiredAtFrame: number | null = null;
      let timer: NodeJS.Timeout | undefined;
      let frames = 0;
      let good = 0;
      try {
        for await (const buffer of queue) {
          frames++;
          if (!buffer.flags.error) good++;
          // Rendering the cache's frames yields to the event loop; from here on every frame comes from the cache.
          if (frames === WARM) timer = setTimeout(() => (timerFiredAtFrame = frames), 0);
          if (frames === WARM + FRAMES) break;
        }
      } finally {
        clearTimeout(timer);
        await queue.streamoff();
      }
      // Frames did flow ...
      expect(frames).toBe(WARM + FRAMES);
      expect(good).toBe(frames);
      expect(vcam.framesSent).toBeGreaterThanOrEqual(frames);
      // ... and the event loop turned meanwhile: the timer did not wait for the stream to stop.
      expect(timerFiredAtFrame, `a 0 ms timer set at frame ${WARM} had not fired ${FRAMES} frames later`).not.toBeNull();
      expect(timerFiredAtFrame!).toBeLessThan(WARM + FRAMES);
    });
  }
});
