/**
 * For the check native-cpu-ab (not a check itself): native-cpu's "addon alone" in a process of its own, from a tree's dist.
 * argv: package root, vid, pid, frames, wakeOn. Prints one JSON line.
 */
import { commitAddon } from './lib/build-under-test.js';
import { threadSecondsSince, threadTicks } from './lib/thread-ticks.js';

async function main(): Promise<void> {
  const [root, vid, pid, framesArg, wakeOn] = process.argv.slice(2) as [string, string, string, string, string];
  const frames = Number(framesArg);
  const { transport, endpoint, packetSize } = await commitAddon(root, Number(vid), Number(pid));
  try {
    let ends = -61;
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    let th0 = threadTicks();
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const stream = transport.startStream(
      { endpoint, type: 'iso', transfers: 25, spareTransfers: 63, packetsPerTransfer: 32, packetSize, wakeOn, wakeAfterMs: 50 },
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (t: any) => {
        for (let i = 0; i < t.packetCount; i++) {
          if (t.packetLength[i] >= 2 && (t.buffer[i * t.packetStride + 1] & 0x02) !== 0 && ends < frames) {
            ends++;
            if (ends === 0) {
              th0 = threadTicks();
              cpu0 = process.cpuUsage();
              t0 = performance.now();
            } else if (ends === frames) {
              resolveDone();
            }
          }
        }
        t.release();
      },
    );
    await done;
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - t0) / 1000;
    const threads = threadSecondsSince(th0);
    const stats = stream.stats;
    await stream.stop();
    console.log(JSON.stringify({ root, wakeOn, frames, processS: (cpu.user + cpu.system) / 1e6, seconds, threads, wakes: stats.wakes, sparesLow: stats.sparesLow }));
  } finally {
    await transport.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
