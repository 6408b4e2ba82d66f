/**
 * The loss-comparison check's diagnostic consumer: our driver with nothing but the driver in the way. Opens the
 * served camera through the native addon, streams N YUYV 640x480 frames, reads each frame's stamp and requeues
 * the buffer at once (no file, no copy), then prints one JSON line: frames, skipped frame numbers, flagged
 * frames, and the driver's own statistics (assembler, transfers). Set against the CLI's run it separates what
 * the driver loses from what a slower consumer costs.
 *
 *   node loss-driver.js <frames> [buffers]
 */
import { openCamera } from '../../src/camera/index.js';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';
import { findServedCamera } from './lib/camera-helpers.js';

async function main(): Promise<void> {
  const frames = Number(process.argv[2] ?? '500');
  const buffers = Number(process.argv[3] ?? '8');
  const camera = await openCamera(await findServedCamera());
  const out = { frames: 0, flagged: 0, skipped: 0, unreadable: 0, first: -1, last: -1, sequenceGaps: 0, seconds: 0, stats: null as unknown };
  try {
    await camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480 });
    const queue = camera.queue;
    const n = queue.reqbufs(buffers);
    for (let i = 0; i < n; i++) queue.qbuf(i);
    const t0 = performance.now();
    await queue.streamon();
    let previousSequence = -1;
    while (out.frames < frames) {
      const b = await queue.dqbuf({ timeoutMs: 120_000 });
      out.frames++;
      if (previousSequence >= 0 && b.sequence > previousSequence + 1) out.sequenceGaps += b.sequence - previousSequence - 1;
      previousSequence = b.sequence;
      if (b.flags.error) out.flagged++;
      const stamp = b.bytesused === 640 * 480 * 2 ? decodeFrameStamp({ data: b.data, width: 640, height: 480, format: 'yuyv' }) : null;
      queue.qbuf(b.index);
      if (stamp === null) {
        out.unreadable++;
        continue;
      }
      if (out.last >= 0 && stamp > out.last) out.skipped += stamp - out.last - 1;
      if (out.first < 0) out.first = stamp;
      out.last = stamp;
    }
    out.seconds = (performance.now() - t0) / 1000;
    out.stats = structuredClone(camera.stats);
    await queue.streamoff();
    queue.reqbufs(0);
  } finally {
    await camera.close();
  }
  console.log(JSON.stringify(out));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.log(`ERROR: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
