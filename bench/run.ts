/**
 * `npm run bench`: every benchmark of issue 7, each with its baseline in the same run, a readable report on
 * stdout; `npm run bench -- --json`: the same figures as one JSON object on one line of stdout (progress goes to
 * stderr; `npm run -s bench -- --json` keeps npm's own banner off stdout too).
 *
 * Options: --json; --only=assembly,endToEnd,latency,memory,native,timestamps,multiCamera (default all); --quick (short timing windows,
 * for trying the harness: the figures are noisier, and the JSON says quick: true); --render=<file.json> prints
 * the readable report of a saved --json run without measuring anything.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { benchAssembly, DEFAULT_ASSEMBLY_OPTIONS, type AssemblyResult } from './assembly.js';
import { benchEndToEnd, DEFAULT_END_TO_END_OPTIONS, USB2_MAX_BYTES_PER_S, USB3_MAX_BYTES_PER_S, type EndToEndResult } from './end-to-end.js';
import { benchLatency, latencyCases, type LatencyResult } from './latency.js';
import { collectGarbage, progress } from './lib/measure.js';
import { formatNumber, mb, mib, percent, table } from './lib/table.js';
import { benchMemory, USBFS_DEFAULT_LIMIT_BYTES, type MemoryResult } from './memory.js';
import { benchNative, type NativeResult } from './native.js';
import { benchMultiCamera, DEFAULT_MULTI_CAMERA_OPTIONS, multiCameraReport, type MultiCameraResult } from './multi-camera.js';
import { benchTimestamps, type TimestampCaseResult } from './timestamps.js';

const SECTIONS = ['assembly', 'endToEnd', 'latency', 'memory', 'native', 'timestamps', 'multiCamera'] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  json: boolean;
  quick: boolean;
  only: Set<Section>;
  render?: string;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { json: false, quick: false, only: new Set(SECTIONS) };
  for (const arg of argv) {
    if (arg === '--json') options.json = true;
    else if (arg === '--quick') options.quick = true;
    else if (arg.startsWith('--render=')) options.render = arg.slice('--render='.length);
    else if (arg.startsWith('--only=')) {
      const wanted = arg.slice('--only='.length).split(',').filter((s) => s !== '');
      for (const name of wanted) {
        if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`unknown section '${name}' (sections: ${SECTIONS.join(', ')})`);
      }
      options.only = new Set(wanted as Section[]);
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: npm run bench -- [--json] [--quick] [--only=assembly,endToEnd,latency,memory,native,timestamps,multiCamera] [--render=saved.json]\n');
      process.exit(0);
    } else {
      throw new Error(`unknown option '${arg}'`);
    }
  }
  return options;
}

export interface BenchReport {
  meta: {
    date: string;
    command: string;
    quick: boolean;
    durationS: number;
    node: string;
    v8: string;
    platform: string;
    kernel: string;
    machine: { cpu: string; cores: number; memoryGiB: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
    units: Record<string, string>;
  };
  assembly?: Record<string, AssemblyResult>;
  endToEnd?: Record<string, EndToEndResult>;
  latency?: Record<string, LatencyResult>;
  memory?: MemoryResult;
  native?: NativeResult;
  timestamps?: Record<string, TimestampCaseResult>;
  multiCamera?: MultiCameraResult;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.render !== undefined) {
    process.stdout.write(`${humanReport(JSON.parse(readFileSync(options.render, 'utf8')) as BenchReport)}\n`);
    return;
  }
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    throw new Error('run the benchmarks through `npm run bench` (node needs --expose-gc)');
  }
  const started = Date.now();
  const loadAtStart = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const report: BenchReport = {
    meta: {
      date: new Date(started).toISOString(),
      command: `npm run bench --${process.argv.slice(2).map((a) => ` ${a}`).join('')}`,
      quick: options.quick,
      durationS: 0,
      node: process.version,
      v8: process.versions.v8,
      platform: `${process.platform} ${process.arch}`,
      kernel: os.release(),
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: [],
      },
      units: {
        mbps: 'payload megabytes (10^6 bytes) per second',
        us: 'microseconds',
        ms: 'milliseconds',
        cpu: 'process CPU time, user + system (process.cpuUsage)',
        coreShare: 'fraction of one core',
      },
    },
  };

  if (options.only.has('assembly')) {
    report.assembly = await benchAssembly(options.quick ? { ...DEFAULT_ASSEMBLY_OPTIONS, minTimeMs: 300, minRounds: 5, warmupRounds: 3 } : DEFAULT_ASSEMBLY_OPTIONS);
    await collectGarbage();
  }
  if (options.only.has('endToEnd')) {
    report.endToEnd = await benchEndToEnd(options.quick ? { segmentMs: 300, minFrames: 20, segments: 1, warmupSegments: 0 } : DEFAULT_END_TO_END_OPTIONS);
    await collectGarbage();
  }
  if (options.only.has('latency')) {
    report.latency = await benchLatency(options.quick ? latencyCases(30, 60) : latencyCases());
    await collectGarbage();
  }
  if (options.only.has('memory')) {
    report.memory = await benchMemory();
    await collectGarbage();
  }
  if (options.only.has('native')) report.native = await benchNative();
  if (options.only.has('timestamps')) {
    await collectGarbage();
    report.timestamps = await benchTimestamps(options.quick ? 5 : 20);
  }
  if (options.only.has('multiCamera')) {
    await collectGarbage();
    report.multiCamera = await benchMultiCamera(options.quick ? { windowMs: 500, repeats: 1 } : DEFAULT_MULTI_CAMERA_OPTIONS);
  }

  report.meta.durationS = Math.round((Date.now() - started) / 100) / 10;
  report.meta.machine.loadAverageAtEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  progress(`done in ${report.meta.durationS} s`);
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : `${humanReport(report)}\n`);
}

function humanReport(report: BenchReport): string {
  const m = report.meta;
  const out: string[] = [
    `uvc-capture benchmarks, ${m.date}${m.quick ? ' (QUICK: short windows, noisy)' : ''}`,
    `node ${m.node} (V8 ${m.v8}), ${m.platform}, Linux ${m.kernel}; ${m.machine.cores} × ${m.machine.cpu}, ${m.machine.memoryGiB} GiB; ` +
      `load average ${m.machine.loadAverageAtStart.join('/')} at start, ${m.machine.loadAverageAtEnd.join('/')} at end; ${m.durationS} s`,
  ];
  if (report.assembly) {
    out.push('', '1. Frame assembly: synthetic iso transfers → FrameAssembler → BufferQueue (dqbuf/qbuf), vs memcpy of the same bytes');
    out.push(
      table(
        ['case', 'MB/s', 'µs/frame', 'C memcpy MB/s', '× C memcpy', '× C, first rounds', 'memcpy MB/s', '× memcpy', '× big copy', 'rounds', 'copies/byte'],
        Object.entries(report.assembly).map(([name, r]) => [
          name,
          r.mbps,
          r.usPerFrame,
          r.cMemcpyMbps ?? '-',
          r.ratioCMemcpy ?? '-',
          r.startRatioCMemcpy ?? '-',
          r.memcpyMbps,
          r.ratio,
          r.ratioToBigCopy,
          r.rounds,
          r.verified.copiesPerPayloadByte,
        ]),
      ),
      'C memcpy: the addon\'s memcpy of the same payload slices into the same queue buffers; memcpy:',
      'Uint8Array.prototype.set of them; big copy: one set per frame. Ratios are medians of per-round ratios (each round',
      'runs all four back to back; the assembler timed 2.5 s a case, 0.3 s with --quick); first rounds: the median over',
      'the first 400 (a stream\'s first seconds). copies/byte: payload bytes copied out of transfer memory ÷ payload',
      'bytes, counted by wrapping every copy (1 = copied once).',
    );
  }
  if (report.endToEnd) {
    out.push('', '2. End to end: virtual camera (fast pace, frame cache) → in-process host → assembler → queue → dqbuf → qbuf');
    out.push(
      table(
        ['case', 'frames/s', 'per CPU-s', 'MB/s', 'CPU µs/frame', 'camera alone', 'driver ≈', 'core @USB2', 'core @USB3', 'driver @USB3', 'dropped'],
        Object.entries(report.endToEnd).map(([name, r]) => [
          name,
          r.framesPerSecond,
          r.framesPerCpuSecond,
          r.mbps,
          r.cpu.perFrameUs,
          r.cameraCpu.perFrameUs,
          r.driverCpuPerFrameUs,
          percent(r.coreShare.usb2.wholeProcess),
          percent(r.coreShare.usb3.wholeProcess),
          percent(r.coreShare.usb3.driverOnly),
          r.framesDropped,
        ]),
      ),
      `frames/s: wall clock (bounded by the CPU share a shared machine gives); per CPU-s: frames per second of CPU time`,
      `(process CPU can exceed wall time: V8's garbage collector and libuv have threads of their own).`,
      `CPU = user + system of the whole process, which includes the virtual camera (it writes every packet). "camera alone":`,
      `the same camera and transfers with no driver behind them; "driver ≈" is the difference (an estimate). Core shares at the`,
      `USB 2 (${USB2_MAX_BYTES_PER_S / 1e6} MB/s) and USB 3 (${USB3_MAX_BYTES_PER_S / 1e6} MB/s) maximum iso payload rates.`,
    );
  }
  if (report.latency) {
    out.push('', '3. Latency: completion of the transfer holding a frame\'s EOF → dqbuf resolved (virtual camera, real-time pace)');
    out.push(
      table(
        ['case', 'p50 ms', 'p99 ms', 'max ms', 'frames', 'EOF wait p50', 'EOF wait max', 'transfer ms'],
        Object.entries(report.latency).map(([name, r]) => [name, r.p50Ms, r.p99Ms, r.maxMs, r.frames, r.eofWait.p50Ms, r.eofWait.maxMs, r.transferMs]),
      ),
      'EOF wait: bus time from the EOF packet to the end of its transfer (what the transfer size adds before the driver sees it).',
    );
  }
  if (report.memory) {
    const f = report.memory.flatness;
    out.push('', `4. Memory: ${f.description}`);
    out.push(
      table(
        ['after frames', 'heap used', 'heap total', 'RSS', 'external', 'array buffers'],
        [f.after1000, f.after20000].map((s) => [formatNumber(s.frames), mb(s.heapUsedBytes), mb(s.heapTotalBytes), mb(s.rssBytes), mb(s.externalBytes), mb(s.arrayBuffersBytes)]),
      ),
      `heap ratio ${f.heapRatio}, RSS ratio ${f.rssRatio}; trend after GC (Theil–Sen): heap ${f.heapSlopeBytesPerFrame} bytes/frame over frames 1 000–20 000,`,
      `${f.heapSlopeSecondHalfBytesPerFrame} bytes/frame over 10 000–20 000 (RSS ${f.rssSlopeSecondHalfBytesPerFrame} bytes/frame)`,
      '',
      `Transfer memory in flight per stream (Linux usbfs default limit ${mib(USBFS_DEFAULT_LIMIT_BYTES)} for all libusb programs), 4 queue buffers, and the peers:`,
      table(
        ['mode', 'ours', 'ours ms', 'queue ×4', 'uvcvideo', 'uvcvideo ms', 'libuvc', 'libuvc ms'],
        Object.entries(report.memory.perStream).map(([name, r]) => [
          name,
          mib(r.ours.inFlightBytes),
          r.ours.inFlightMs,
          mib(r.queue4Bytes),
          mib(r.uvcvideo.inFlightBytes),
          r.uvcvideo.inFlightMs,
          mib(r.libuvc.inFlightBytes) + (r.libuvcOverUsbfsLimit ? ' (> usbfs)' : ''),
          r.libuvc.inFlightMs,
        ]),
      ),
    );
  }
  if (report.native) {
    const n = report.native;
    out.push('', `5. Native path (addon + libusb): ${n.status}`);
    if (n.endToEnd && n.camera) {
      out.push(`${n.camera.product ?? ''} ${n.camera.vendorId}:${n.camera.productId} ${n.camera.speed}, ${n.camera.format}: ${n.endToEnd.framesPerSecond} frames/s, ${n.endToEnd.cpuPerFrameUs} µs CPU/frame, ${percent(n.endToEnd.coreShareAtThisRate)} of a core`);
    }
    out.push(`addon: ${n.addon.loaded ? `loaded (${n.addon.source})` : `not loaded: ${n.addon.error}`}; cameras found: ${n.camerasFound}`, n.kernelRig);
  }
  if (report.timestamps) {
    out.push('', '6. Timestamps: |timestamp − true capture instant| after lock, ours vs a port of uvcvideo\'s clock recovery on the same payloads');
    out.push(
      table(
        ['case', 'ours p50 µs', 'p99', 'max', 'lock', 'uvcvideo p50 µs', 'p99', 'max', 'lock', 'uvcvideo (user) p99', 'fps err N=2/3/5/10 %', 'uvcvideo fps err %', 'late min/p50/p99 µs'],
        Object.entries(report.timestamps).map(([name, r]) => [
          name,
          r.ours.p50Us,
          r.ours.p99Us,
          r.ours.maxUs,
          r.ours.framesToLock ?? 'never',
          r.uvcvideo.p50Us,
          r.uvcvideo.p99Us,
          r.uvcvideo.maxUs,
          r.uvcvideo.framesToLock ?? 'never',
          r.uvcvideoUserspace.p99Us,
          Object.values(r.ours.shortCaptureFpsErrorPct).join(' / '),
          Object.values(r.uvcvideo.shortCaptureFpsErrorPct).join(' / '),
          `${r.completionLatencyUs.min} / ${r.completionLatencyUs.p50} / ${r.completionLatencyUs.p99}`,
        ]),
      ),
      'Truth: the virtual camera (real-time pace) knows each capture instant on the host clock. uvcvideo: a port of the',
      'kernel\'s algorithm (32 SCR samples, two-point lines STC→SOF→host) fed what the kernel has: each completion handled',
      'as its last bus interval ends, with the host frame number then; before its window allows, the software timestamp',
      '(the first payload\'s decode time). uvcvideo (user): the same port fed the time completions reached JavaScript.',
      'Lock: ours when its own error estimate is under 50 µs; uvcvideo at its first hardware timestamp. fps err: the rate',
      'frames 0..N−1 report against the true rate. late: completions reaching JavaScript after their last bus interval.',
    );
  }
  if (report.multiCamera) out.push(...multiCameraReport(report.multiCamera, table));
  return out.join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
