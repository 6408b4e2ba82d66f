/**
 * For the check native-cpu-ab (not a check itself): native-cpu's "addon alone" in a process of its own, from a tree's dist.
 * argv: package root, vid, pid, frames, wakeOn. Prints one JSON line.
 */
import { threadSecondsSince, threadTicks } from './lib/thread-ticks.js';

async function main(): Promise<void> {
  const [root, vid, pid, framesArg, wakeOn] = process.argv.slice(2) as [string, string, string, string, string];
  const frames = Number(framesArg);
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const native = (await import(`${root}/dist/transport/native/index.js`)) as any;
  const uvc = (await import(`${root}/dist/uvc/index.js`)) as any;
  const { listCameras } = (await import(`${root}/dist/camera/index.js`)) as any;
  const info = ((await listCameras()) as any[]).find((c) => c.vendorId === Number(vid) && c.productId === Number(pid));
  const transport = await native.openNativeDevice({ portPath: info.portPath });
  try {
    const fn = uvc.parseUvcDescriptors(transport.configDescriptor());
    const vs = fn.streamingInterfaces[0];
    await transport.claimInterface(fn.videoControl.interfaceNumber);
    await transport.claimInterface(vs.interfaceNumber);
    await transport.setAltSetting(vs.interfaceNumber, 0);
    const selection = uvc.selectFormat(fn, { fourcc: 'YUYV', width: 640, height: 480, fps: 30, interfaceNumber: vs.interfaceNumber });
    const params = await uvc.commit(transport, fn, await uvc.probe(transport, fn, selection));
    await transport.setAltSetting(vs.interfaceNumber, params.altSetting);
    let ends = -61;
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    let th0 = threadTicks();
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const stream = transport.startStream(
      { endpoint: params.endpointAddress, type: 'iso', transfers: 25, spareTransfers: 63, packetsPerTransfer: 32, packetSize: params.bytesPerInterval, wakeOn, wakeAfterMs: 50 },
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
