/**
 * 7. Several cameras in one process (issue 17): does CPU per frame grow with the number of cameras beyond the sum
 * of what each costs alone?
 *
 * Four kinds of virtual camera (throughputCamera: fast pace, frame cache, completions one per event-loop turn; iso and bulk, small YUYV frames of different sizes, as
 * test/camera/multi-camera-stream.test.ts streams them) on one VirtualBus. Each kind is first streamed alone for a
 * timed window: its CPU per frame (frames the driver assembled, delivered or dropped). Then 1, 2 and 4 of them
 * stream at once, each consumed by its own loop; the
 * expected CPU of such a run is the sum over cameras of frames × that camera's CPU per frame alone, and the ratio
 * measured ÷ expected says what running them together costs (1.0: nothing; > 1: overhead that grows with the
 * number of cameras). Process CPU covers the virtual cameras too (they run in this process), alone and together
 * alike, so the ratio compares like with like. Every frame is checked (size and stamp) as it is consumed.
 */
import { openCamera, type Camera } from '../src/camera/index.js';
import { VirtualBus } from '../src/transport/virtual/virtual-bus.js';
import { decodeFrameStamp } from '../src/virtual-camera/index.js';
import { throughputCamera } from './lib/quiet-camera.js';
import { collectGarbage, cpuSince, cpuStart, progress, round } from './lib/measure.js';

interface CameraKind {
  name: string;
  transfer: 'iso' | 'bulk';
  width: number;
  height: number;
  fps: number;
  cache: number;
}

export const CAMERA_KINDS: readonly CameraKind[] = [
  { name: 'A', transfer: 'iso', width: 160, height: 120, fps: 400, cache: 61 },
  { name: 'B', transfer: 'bulk', width: 176, height: 144, fps: 30, cache: 67 },
  { name: 'C', transfer: 'iso', width: 128, height: 96, fps: 200, cache: 71 },
  { name: 'D', transfer: 'bulk', width: 192, height: 144, fps: 30, cache: 73 },
];

export interface MultiCameraOptions {
  /** Timed wall time of each run, ms. */
  windowMs: number;
  /** Runs per configuration; the median ratio is reported. */
  repeats: number;
}

// Short windows, many repeats, medians: CPU time per frame swings by 2–5× from one second to the next on a shared
// machine, so a ratio is only worth its spread.
export const DEFAULT_MULTI_CAMERA_OPTIONS: MultiCameraOptions = { windowMs: 1500, repeats: 7 };

export interface MultiCameraRun {
  cameras: string[];
  /** Frames each camera sent through the driver in the last run's window (delivered or dropped). */
  frames: number[];
  cpuMs: number;
  /** Σ frames × CPU per frame alone. */
  expectedCpuMs: number;
  /** cpuMs ÷ expectedCpuMs: the median, and each repeat's. */
  ratio: number;
  ratios: number[];
  /** Frames the queues had no free buffer for, over all repeats (they still cost CPU: they are counted). */
  droppedFrames: number;
  cpuPerFrameUs: number;
  /** Frames not exactly their own camera's (must be 0). */
  wrongFrames: number;
}

export interface MultiCameraResult {
  /** CPU µs per frame of each kind streaming alone (median over the repeats). */
  alone: Record<string, { cpuPerFrameUs: number; frames: number }>;
  runs: MultiCameraRun[];
}

interface Live {
  kind: CameraKind;
  camera: Camera;
  /** Frames delivered in the window. */
  frames: number;
  /** Frames the driver assembled in the window, delivered or dropped for want of a free buffer. */
  assembled: number;
  dropped: number;
  wrong: number;
}

async function start(bus: VirtualBus, kind: CameraKind): Promise<Live> {
  const vcam = throughputCamera({ transfer: kind.transfer, formats: [{ format: 'yuyv', frames: [{ width: kind.width, height: kind.height, fps: [kind.fps] }] }] }, kind.cache);
  bus.plug(vcam, { name: kind.name });
  const camera = await openCamera(vcam);
  await camera.setFormat({ width: kind.width, height: kind.height, fps: kind.fps });
  const n = camera.queue.reqbufs(8);
  for (let i = 0; i < n; i++) camera.queue.qbuf(i);
  await camera.queue.streamon();
  return { kind, camera, frames: 0, assembled: 0, dropped: 0, wrong: 0 };
}

/** Streams the kinds together for `windowMs` after a short warm-up; frames and process CPU of the window. */
async function runTogether(kinds: readonly CameraKind[], windowMs: number): Promise<{ live: Live[]; cpuMs: number }> {
  const bus = new VirtualBus();
  const live: Live[] = [];
  for (const kind of kinds) live.push(await start(bus, kind));
  let counting = false;
  const stop = new AbortController();
  const warm = live.map(() => 0);
  const loops = live.map(async (l, i) => {
    const { width, height, cache } = l.kind;
    for await (const buffer of l.camera.queue.frames({ signal: stop.signal })) {
      const stamp = decodeFrameStamp({ data: buffer.data, width, height, format: 'yuyv' });
      warm[i]!++;
      if (!counting) continue;
      l.frames++;
      if (buffer.flags.error || buffer.bytesused !== width * height * 2 || stamp !== buffer.sequence % cache) l.wrong++;
    }
  });
  // Warm-up: until every camera has gone once round its frame cache (rendering the cached pictures costs
  // milliseconds each, a start-up cost the window must not count), and at least 200 ms.
  const warmUntil = Date.now() + 20_000;
  await new Promise((resolve) => setTimeout(resolve, 200));
  while (live.some((l, i) => warm[i]! < l.kind.cache + 8) && Date.now() < warmUntil) await new Promise((resolve) => setTimeout(resolve, 20));
  const assembled = (l: Live): number => (l.camera.stats.assembly?.frames ?? 0) + (l.camera.stats.assembly?.droppedFrames ?? 0);
  const dropped = (l: Live): number => l.camera.stats.assembly?.droppedFrames ?? 0;
  const before = live.map((l) => [assembled(l), dropped(l)] as const);
  counting = true;
  const cpu = cpuStart();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  counting = false;
  const { cpuMs } = cpuSince(cpu);
  live.forEach((l, i) => {
    l.assembled = assembled(l) - before[i]![0];
    l.dropped = dropped(l) - before[i]![1];
  });
  stop.abort();
  await Promise.all(loops);
  for (const l of live) await l.camera.close();
  return { live, cpuMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function benchMultiCamera(options: MultiCameraOptions = DEFAULT_MULTI_CAMERA_OPTIONS): Promise<MultiCameraResult> {
  // Warm the JIT on every code path first: the first camera measured must not pay for compiling them.
  await runTogether(CAMERA_KINDS, Math.min(1000, options.windowMs));
  const alonePerFrame = new Map<string, number[]>(CAMERA_KINDS.map((k) => [k.name, []]));
  const aloneFrames = new Map<string, number>(CAMERA_KINDS.map((k) => [k.name, 0]));
  const counts = [1, 2, 4];
  const perCount = counts.map(() => ({ ratios: [] as number[], cpuMs: [] as number[], expectedCpuMs: [] as number[], perFrameUs: [] as number[], frames: [] as number[], dropped: 0, wrong: 0 }));
  // Each repeat measures every camera alone and then the combinations, so a ratio compares runs made minutes
  // apart at most, not a quiet start with a busy end.
  for (let r = 0; r < options.repeats; r++) {
    const alone = new Map<string, number>();
    for (const kind of CAMERA_KINDS) {
      await collectGarbage();
      const { live, cpuMs } = await runTogether([kind], options.windowMs);
      const perFrame = (cpuMs * 1000) / Math.max(1, live[0]!.assembled);
      alone.set(kind.name, perFrame);
      alonePerFrame.get(kind.name)!.push(perFrame);
      aloneFrames.set(kind.name, aloneFrames.get(kind.name)! + live[0]!.assembled);
    }
    for (const [c, count] of counts.entries()) {
      await collectGarbage();
      const { live, cpuMs } = await runTogether(CAMERA_KINDS.slice(0, count), options.windowMs);
      const expectedCpuMs = live.reduce((sum, l) => sum + (l.assembled * alone.get(l.kind.name)!) / 1000, 0);
      const total = live.reduce((sum, l) => sum + l.assembled, 0);
      const entry = perCount[c]!;
      entry.ratios.push(cpuMs / expectedCpuMs);
      entry.cpuMs.push(cpuMs);
      entry.expectedCpuMs.push(expectedCpuMs);
      entry.perFrameUs.push((cpuMs * 1000) / Math.max(1, total));
      entry.frames = live.map((l) => l.assembled);
      entry.dropped += live.reduce((sum, l) => sum + l.dropped, 0);
      entry.wrong += live.reduce((sum, l) => sum + l.wrong, 0);
    }
    progress(`multi-camera: repeat ${r + 1}/${options.repeats}: CPU ÷ Σ alone ${perCount.map((e, c) => `${counts[c]}: ${round(e.ratios.at(-1)!, 3)}`).join(', ')}`);
  }
  return {
    alone: Object.fromEntries(CAMERA_KINDS.map((k) => [k.name, { cpuPerFrameUs: round(median(alonePerFrame.get(k.name)!)), frames: aloneFrames.get(k.name)! }])),
    runs: perCount.map((e, c) => ({
      cameras: CAMERA_KINDS.slice(0, counts[c]!).map((k) => k.name),
      frames: e.frames,
      cpuMs: round(median(e.cpuMs)),
      expectedCpuMs: round(median(e.expectedCpuMs)),
      ratio: round(median(e.ratios), 3),
      ratios: e.ratios.map((x) => round(x, 3)),
      cpuPerFrameUs: round(median(e.perFrameUs)),
      droppedFrames: e.dropped,
      wrongFrames: e.wrong,
    })),
  };
}

/** The report's lines for this section (bench/run.ts). */
export function multiCameraReport(r: MultiCameraResult, table: (head: string[], rows: Array<Array<string | number>>) => string): string[] {
  return [
    '',
    '7. Several cameras in one process: virtual cameras (fast pace) on one VirtualBus, each into its own queue',
    table(
      ['kind', 'transfer', 'frame', 'CPU µs/frame alone'],
      CAMERA_KINDS.map((k) => [k.name, k.transfer, `${k.width}×${k.height} YUYV`, r.alone[k.name]?.cpuPerFrameUs ?? '']),
    ),
    table(
      ['cameras', 'frames each (last run)', 'CPU ms', 'Σ alone ms', 'CPU ÷ Σ alone', 'each repeat', 'CPU µs/frame', 'dropped', 'wrong frames'],
      r.runs.map((run) => [run.cameras.join('+'), run.frames.join('/'), run.cpuMs, run.expectedCpuMs, run.ratio, run.ratios.join(' '), run.cpuPerFrameUs, run.droppedFrames, run.wrongFrames]),
    ),
    'Σ alone: each camera\'s frames × its CPU per frame when it streamed alone; CPU ÷ Σ alone is the median over the runs',
    '(1.0: running them together costs nothing beyond the sum). Wrong frames: not exactly their own camera\'s (must be 0).',
  ];
}
