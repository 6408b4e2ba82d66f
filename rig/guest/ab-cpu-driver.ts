/**
 * For the check native-cpu-ab (not a check itself): one driver tree's CPU per frame on the served camera, as
 * native-cpu's `ours` measures it (YUYV 640x480, 4 buffers, 600 frames of warm-up, then `frames`), in a process of
 * its own. argv: the tree's package root, vid, pid, frames. Prints one JSON line.
 */
import { streamOurs } from './lib/build-under-test.js';
import { threadSecondsSince, threadTicks } from './lib/thread-ticks.js';

async function main(): Promise<void> {
  const [root, vid, pid, framesArg] = process.argv.slice(2) as [string, string, string, string];
  const frames = Number(framesArg);
  const camera = await streamOurs(root, Number(vid), Number(pid));
  try {
    const queue = camera.queue;
    let count = -601; // native-cpu's WARMUP
    let flagged = 0;
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    let th0 = threadTicks();
    let copied0: number | undefined;
    while (count < frames) {
      const buffer = await queue.dqbuf({ timeoutMs: 60_000 });
      if (count === -1) {
        th0 = threadTicks();
        copied0 = camera.stats.transfers?.copiedTransfers;
        cpu0 = process.cpuUsage();
        t0 = performance.now();
      } else if (buffer.flags.error) {
        flagged++;
      }
      count++;
      queue.qbuf(buffer.index);
    }
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    const threads = threadSecondsSince(th0);
    const stats = camera.stats.transfers;
    await queue.streamoff();
    queue.reqbufs(0);
    console.log(JSON.stringify({ root, frames: count, flagged, processS: (cpu.user + cpu.system) / 1e6, seconds, threads, wakes: stats?.wakes, copied: copied0 === undefined ? null : stats!.copiedTransfers! - copied0 }));
  } finally {
    await camera.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
