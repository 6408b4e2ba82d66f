/**
 * For the check native-cpu-probe (not a check itself): native-cpu's `ours` (or the addon alone) in a process of
 * its own, with what V8 and the kernel do meanwhile: garbage collections by kind (perf_hooks), optionally a
 * sampling heap profile and system calls with their native stacks (strace -f -k) over the window.
 * argv: package root, vid, pid, frames, mode ('ours' | 'addon'). env: PROBE_HEAP=path (heap sampling profile),
 * PROBE_PERF=path (perf record -e cpu-clock of this process), PROBE_STRACE=path (strace -f -k -e clock_gettime,futex,write of this process over the window), PROBE_SPARES
 * (addon: spare transfers, default 63), PROBE_WARMUP (ours: frames before the window, default 60). Prints "PROBE window begin/end" around the window (for --trace-gc/--trace-opt
 * lines) and one JSON line at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { commitAddon, streamOurs } from './lib/build-under-test.js';
import { threadSecondsSince, threadTicks } from './lib/thread-ticks.js';

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

interface Window {
  begin(): Promise<void>;
  end(frames: number): Promise<Record<string, unknown>>;
}

function post(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r))));
}

function probeWindow(): Window {
  let th0 = threadTicks();
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  const gc = new Map<string, { n: number; ms: number }>();
  let counting = false;
  const obs = new PerformanceObserver((list) => {
    if (!counting) return;
    for (const e of list.getEntries()) {
      const kind = GC_KINDS[(e as unknown as { detail: { kind: number } }).detail.kind] ?? 'other';
      const g = gc.get(kind) ?? { n: 0, ms: 0 };
      g.n++;
      g.ms += e.duration;
      gc.set(kind, g);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  let session: Session | undefined;
  let strace: ChildProcess | undefined;
  let straceClosed: Promise<void> | undefined;
  let perf: ChildProcess | undefined;
  let perfClosed: Promise<void> | undefined;
  return {
    async begin() {
      if (process.env.PROBE_HEAP) {
        session = new Session();
        session.connect();
        await post(session, 'HeapProfiler.enable');
        await post(session, 'HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      if (process.env.PROBE_PERF) {
        perf = spawn('/usr/bin/perf', ['record', '-e', 'cpu-clock', '-F', '999', '-o', process.env.PROBE_PERF, '-p', String(process.pid)], { stdio: ['ignore', 'ignore', 'ignore'] });
        perfClosed = new Promise((resolve) => perf!.on('close', () => resolve()));
        await new Promise((resolve) => setTimeout(resolve, 1500)); // perf attaches
      }
      if (process.env.PROBE_STRACE) {
        strace = spawn('/usr/bin/strace', ['-f', '-k', '-e', 'trace=clock_gettime,futex,write', '-o', process.env.PROBE_STRACE, '-p', String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
        straceClosed = new Promise((resolve) => strace!.on('close', () => resolve()));
        await new Promise<void>((resolve) => strace!.stderr!.on('data', (d: Buffer) => d.toString().includes('attached') && resolve()));
      }
      writeSync(1, 'PROBE window begin\n');
      counting = true;
      th0 = threadTicks();
      cpu0 = process.cpuUsage();
      t0 = performance.now();
    },
    async end(frames: number) {
      const cpu = process.cpuUsage(cpu0);
      const seconds = (performance.now() - t0) / 1000;
      const threads = threadSecondsSince(th0);
      writeSync(1, 'PROBE window end\n');
      await new Promise((r) => setImmediate(r)); // the observer's last entries
      counting = false;
      obs.disconnect();
      if (perf !== undefined) {
        perf.kill('SIGINT');
        await perfClosed;
      }
      if (strace !== undefined) {
        strace.kill('SIGINT');
        await straceClosed;
      }
      if (session !== undefined) {
        const { profile } = (await post(session, 'HeapProfiler.stopSampling')) as { profile: unknown };
        writeFileSync(process.env.PROBE_HEAP!, JSON.stringify(profile));
        session.disconnect();
      }
      const tids: Record<string, string> = {};
      if (process.env.PROBE_STRACE) {
        for (const tid of readdirSync('/proc/self/task')) {
          try {
            tids[tid] = tid === String(process.pid) ? 'main' : readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
          } catch {
            // ended
          }
        }
      }
      return { tids, frames, processS: (cpu.user + cpu.system) / 1e6, userS: cpu.user / 1e6, seconds, threads, gc: Object.fromEntries(gc) };
    },
  };
}

async function ours(root: string, vid: number, pid: number, frames: number): Promise<Record<string, unknown>> {
  const camera = await streamOurs(root, vid, pid);
  try {
    const queue = camera.queue;
    const window = probeWindow();
    let count = -1 - Number(process.env.PROBE_WARMUP ?? 60);
    let flagged = 0;
    while (count < frames) {
      const buffer = await queue.dqbuf({ timeoutMs: 60_000 });
      if (count === -1) await window.begin();
      else if (buffer.flags.error) flagged++;
      count++;
      queue.qbuf(buffer.index);
    }
    const result = await window.end(count);
    const stats = camera.stats.transfers;
    await queue.streamoff();
    queue.reqbufs(0);
    return { ...result, flagged, wakes: stats?.wakes, completed: stats?.completed };
  } finally {
    await camera.close();
  }
}

async function addon(root: string, vid: number, pid: number, frames: number): Promise<Record<string, unknown>> {
  const { transport, endpoint, packetSize } = await commitAddon(root, vid, pid);
  try {
    const window = probeWindow();
    let ends = -61;
    let began: Promise<void> | undefined;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const spares = Number(process.env.PROBE_SPARES ?? 63);
    const stream = transport.startStream(
      { endpoint, type: 'iso', transfers: 25, spareTransfers: spares, packetsPerTransfer: 32, packetSize, wakeOn: 'uvc-frame', wakeAfterMs: 50 },
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (t: any) => {
        for (let i = 0; i < t.packetCount; i++) {
          if (t.packetLength[i] >= 2 && (t.buffer[i * t.packetStride + 1] & 0x02) !== 0 && ends < frames) {
            ends++;
            if (ends === 0) began = window.begin();
            else if (ends === frames) resolveDone();
          }
        }
        t.release();
      },
    );
    await done;
    await began;
    const result = await window.end(frames);
    const stats = stream.stats;
    await stream.stop();
    return { ...result, spares, wakes: stats.wakes, sparesLow: stats.sparesLow };
  } finally {
    await transport.close();
  }
}

async function main(): Promise<void> {
  const [root, vid, pid, framesArg, mode] = process.argv.slice(2) as [string, string, string, string, string];
  const run = mode === 'addon' ? addon : ours;
  const result = await run(root, Number(vid), Number(pid), Number(framesArg));
  console.log(JSON.stringify({ mode, execArgv: process.execArgv, ...result }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
