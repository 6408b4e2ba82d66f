/**
 * 6. Several cameras in one process (issue 17): does CPU per frame grow with the number of cameras beyond the sum
 * of what each costs alone?
 *
 * Four kinds of virtual camera (throughputCamera: fast pace, frame cache, completions one per event-loop turn; iso and bulk, small YUYV frames of different sizes, as
 * test/camera/multi-camera-stream.test.ts streams them) on one VirtualBus. Each kind is first streamed alone for a
 * timed window: its CPU per frame. Then 1, 2 and 4 of them stream at once, each consumed by its own loop; the
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

export const DEFAULT_MULTI_CAMERA_OPTIONS: MultiCameraOptions = { windowMs: 3000, repeats: 3 };

export interface MultiCameraRun {
  cameras: string[];
  /** Frames per camera in the window. */
  frames: number[];
  cpuMs: number;
  /** Σ frames × CPU per frame alone. */
  expectedCpuMs: number;
  /** cpuMs ÷ expectedCpuMs (median over the repeats). */
  ratio: number;
  cpuPerFrameUs: number;
  /** Frames not exactly their own camera's (must be 0). */
  wrongFrames: number;
}

export interface MultiCameraResult {
  /** CPU µs per frame of each kind streaming alone. */
  alone: Record<string, { cpuPerFrameUs: number; frames: number }>;
  runs: MultiCameraRun[];
}

interface Live {
  kind: CameraKind;
  camera: Camera;
  frames: number;
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
  return { kind, camera, frames: 0, wrong: 0 };
}

/** Streams the kinds together for `windowMs` after a short warm-up; frames and process CPU of the window. */
async function runTogether(kinds: readonly CameraKind[], windowMs: number): Promise<{ live: Live[]; cpuMs: number }> {
  const bus = new VirtualBus();
  const live: Live[] = [];
  for (const kind of kinds) live.push(await start(bus, kind));
  let counting = false;
  const stop = new AbortController();
  const loops = live.map(async (l) => {
    const { width, height, cache } = l.kind;
    for await (const buffer of l.camera.queue.frames({ signal: stop.signal })) {
      const stamp = decodeFrameStamp({ data: buffer.data, width, height, format: 'yuyv' });
      if (!counting) continue;
      l.frames++;
      if (buffer.flags.error || buffer.bytesused !== width * height * 2 || stamp !== buffer.sequence % cache) l.wrong++;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, Math.min(500, windowMs / 4)));
  counting = true;
  const cpu = cpuStart();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  counting = false;
  const { cpuMs } = cpuSince(cpu);
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
  const alone: MultiCameraResult['alone'] = {};
  for (const kind of CAMERA_KINDS) {
    const perFrame: number[] = [];
    let frames = 0;
    for (let r = 0; r < options.repeats; r++) {
      await collectGarbage();
      const { live, cpuMs } = await runTogether([kind], options.windowMs);
      perFrame.push((cpuMs * 1000) / Math.max(1, live[0]!.frames));
      frames += live[0]!.frames;
    }
    alone[kind.name] = { cpuPerFrameUs: round(median(perFrame)), frames };
    progress(`multi-camera: ${kind.name} alone ${alone[kind.name]!.cpuPerFrameUs} µs CPU/frame`);
  }
  const runs: MultiCameraRun[] = [];
  for (const count of [1, 2, 4]) {
    const kinds = CAMERA_KINDS.slice(0, count);
    const ratios: number[] = [];
    let wrongFrames = 0;
    let last: MultiCameraRun | undefined;
    for (let r = 0; r < options.repeats; r++) {
      await collectGarbage();
      const { live, cpuMs } = await runTogether(kinds, options.windowMs);
      const frames = live.map((l) => l.frames);
      const expectedCpuMs = live.reduce((sum, l) => sum + (l.frames * alone[l.kind.name]!.cpuPerFrameUs) / 1000, 0);
      ratios.push(cpuMs / expectedCpuMs);
      const total = frames.reduce((a, b) => a + b, 0);
      wrongFrames += live.reduce((sum, l) => sum + l.wrong, 0);
      last = {
        cameras: kinds.map((k) => k.name),
        frames,
        cpuMs: round(cpuMs),
        expectedCpuMs: round(expectedCpuMs),
        ratio: 0,
        cpuPerFrameUs: round((cpuMs * 1000) / Math.max(1, total)),
        wrongFrames,
      };
    }
    const run = { ...last!, wrongFrames, ratio: round(median(ratios), 3) };
    runs.push(run);
    progress(`multi-camera: ${count} camera(s): CPU ÷ sum alone = ${run.ratio}`);
  }
  return { alone, runs };
}

/** The report's lines for this section (bench/run.ts). */
export function multiCameraReport(r: MultiCameraResult, table: (head: string[], rows: Array<Array<string | number>>) => string): string[] {
  return [
    '',
    '6. Several cameras in one process: virtual cameras (fast pace) on one VirtualBus, each into its own queue',
    table(
      ['kind', 'transfer', 'frame', 'CPU µs/frame alone'],
      CAMERA_KINDS.map((k) => [k.name, k.transfer, `${k.width}×${k.height} YUYV`, r.alone[k.name]?.cpuPerFrameUs ?? '']),
    ),
    table(
      ['cameras', 'frames each (last run)', 'CPU ms', 'Σ alone ms', 'CPU ÷ Σ alone', 'CPU µs/frame', 'wrong frames'],
      r.runs.map((run) => [run.cameras.join('+'), run.frames.join('/'), run.cpuMs, run.expectedCpuMs, run.ratio, run.cpuPerFrameUs, run.wrongFrames]),
    ),
    'Σ alone: each camera\'s frames × its CPU per frame when it streamed alone; CPU ÷ Σ alone is the median over the runs',
    '(1.0: running them together costs nothing beyond the sum). Wrong frames: not exactly their own camera\'s (must be 0).',
  ];
}
