/**
 * The driver side of the payload-fuzz check, in its own process so that it can run under AddressSanitizer (the
 * check starts it with the ASan runtime preloaded and UVC_CAPTURE_ADDON naming the instrumented addon):
 *
 *   node payload-fuzz-driver.js <seconds> <YUYV|MJPG>
 *
 * Opens the served camera through the native addon, streams the format for <seconds> taking whatever the hostile
 * camera's payloads make of it (frames, flagged frames, DQBUF timeouts), stops, closes, and prints one JSON line
 * of counts. Any exception ends it non-zero; a memory error aborts it.
 */
import { openCamera } from '../../src/camera/index.js';
import { isUvcError } from '../../src/errors.js';
import { findServedCamera } from './lib/camera-helpers.js';

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? '20');
  const fourcc = process.argv[3] ?? 'YUYV';
  const info = await findServedCamera();
  const camera = await openCamera(info);
  const counts = { fourcc, transport: camera.info.transport, frames: 0, flagged: 0, bytes: 0, timeouts: 0, stats: null as unknown };
  try {
    const format = await camera.setFormat({ fourcc, width: 640, height: 480 });
    const queue = camera.queue;
    const n = queue.reqbufs(4);
    for (let i = 0; i < n; i++) queue.qbuf(i);
    await queue.streamon();
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      try {
        const b = await queue.dqbuf({ timeoutMs: 2000 });
        counts.frames++;
        if (b.flags.error) counts.flagged++;
        counts.bytes += b.bytesused;
        // Touch every byte the driver says it delivered: a length past the buffer would show here under ASan.
        let sum = 0;
        for (let i = 0; i < b.bytesused; i += 4096) sum += b.data[i]!;
        if (b.bytesused > 0) sum += b.data[b.bytesused - 1]!;
        if (sum < 0) throw new Error('unreachable');
        queue.qbuf(b.index);
      } catch (error) {
        if (!isUvcError(error, 'ETIMEDOUT') && !isUvcError(error, 'EAGAIN')) throw error;
        counts.timeouts++;
      }
    }
    counts.stats = { ...structuredClone(camera.stats), negotiated: `${format.fourcc} ${format.width}x${format.height} ${format.transfer}` };
    await queue.streamoff();
    queue.reqbufs(0);
  } finally {
    await camera.close();
  }
  console.log(JSON.stringify(counts));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.log(`ERROR: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
