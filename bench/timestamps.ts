/**
 * 6. Timestamps: how far each frame's timestamp is from the instant the camera captured it, on the host clock.
 *
 * The virtual camera, paced in real time, knows every frame's true capture instant (its PTS stands for it; the
 * device clock and the bus clock both run off the host's). Our driver streams from it; every completed transfer
 * is also shown, as it reaches the driver, to a port of Linux uvcvideo's clock recovery (lib/uvcvideo-clock.ts)
 * with what the kernel would have at that moment: the host time and the host controller's frame number. Both
 * timestamp the same payloads; both are scored against the same truth:
 * - |timestamp − capture instant| p50 / p99 / max over the frames stamped after the clock locked (ours: the
 *   recovery's lock; uvcvideo: from its first hardware timestamp), and frames to lock;
 * - what a short capture's frame rate would say (frames 0..N−1, N = 2, 3, 5, 10) against the negotiated rate;
 * - steps back (a timestamp not after the previous one) and the completion latency the case really had.
 * Cases: clean; completion jitter 0–2 ms (the fault); device clock drift ±100 ppm; jitter and drift; the
 * zero-scr-idle and invalid-device-sof quirks (uvcvideo's quirk table does not know this camera: neither driver
 * is told); UVC 1.5 (one SCR per frame).
 */
import { BufferQueue } from '../src/queue/buffer-queue.js';
import { QueueHandle } from '../src/queue/queue-handle.js';
import { VideoStream } from '../src/stream/video-stream.js';
import { TransferStatus, type CompletedTransfer, type TransferCallback, type UsbTransport } from '../src/transport/usb-transport.js';
import { decodeFrameStamp, VirtualCamera, type VirtualCameraOptions } from '../src/virtual-camera/index.js';
import { openManualStream } from './lib/manual-stream.js';
import { progress, quantile, round } from './lib/measure.js';
import { UvcvideoTimestamps } from './lib/uvcvideo-clock.js';

export interface TimestampErrorSummary {
  /** Frames until the clock locked (ours) / until the first hardware timestamp (uvcvideo); null: never. */
  framesToLock: number | null;
  /** Frames scored (stamped after the lock). */
  frames: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /** Mean signed error (timestamp − capture), µs: a constant bias shows here. */
  meanUs: number;
  /** Timestamps not after the previous frame's. */
  stepsBack: number;
  /** The frame rate frames 0..N−1 would report, against the negotiated rate: (measured / negotiated − 1) in %. */
  shortCaptureFpsErrorPct: Record<string, number>;
}

export interface TimestampCaseResult {
  description: string;
  camera: Pick<VirtualCameraOptions, 'faults' | 'quirks' | 'clockDriftPpm' | 'uvcVersion'>;
  framesDelivered: number;
  ours: TimestampErrorSummary & { clock: unknown };
  /** The port as the kernel runs it: completions handled when their last interval ends, the frame counter read then. */
  uvcvideo: TimestampErrorSummary;
  /** The same port fed what a userspace program has: the time each completion reached JavaScript. */
  uvcvideoUserspace: TimestampErrorSummary;
  /** How late completions reached JavaScript after their transfer's last bus interval, µs. */
  completionLatencyUs: { min: number; p50: number; p99: number; max: number };
}

export interface TimestampCase {
  name: string;
  description: string;
  camera: VirtualCameraOptions;
}

const WIDTH = 320;
const HEIGHT = 240;
const FPS = 30;
const SHORT_CAPTURES = [2, 3, 5, 10];

export function timestampCases(): TimestampCase[] {
  const jitter = { completionJitterMs: 2 };
  return [
    { name: 'clean', description: 'no fault', camera: {} },
    { name: 'jitter2ms', description: 'completion jitter 0–2 ms', camera: { faults: jitter } },
    { name: 'drift+100', description: 'device clock +100 ppm', camera: { clockDriftPpm: 100 } },
    { name: 'jitter+drift-100', description: 'jitter 0–2 ms, device clock −100 ppm', camera: { clockDriftPpm: -100, faults: jitter } },
    { name: 'zero-scr-idle+jitter', description: 'all-zero SCR in idle packets (SunplusIT), jitter 0–2 ms', camera: { quirks: ['zero-scr-idle'], faults: jitter } },
    { name: 'invalid-sof+jitter', description: 'SCR SOF not the bus SOF (C922), jitter 0–2 ms', camera: { quirks: ['invalid-device-sof'], faults: jitter } },
    { name: 'uvc1.5+jitter', description: 'UVC 1.5 (one SCR per frame), jitter 0–2 ms', camera: { uvcVersion: '1.5', faults: jitter } },
  ];
}

/**
 * The virtual camera's clocks, read from inside (bench only; the camera's `sentFrames` gives each frame's capture
 * instant, this dates transfers): the bus interval at which the device clock showed `ticks` (the one nearest to
 * now; the 32-bit clock wraps), and the host instant of a bus interval.
 */
function virtualClocks(camera: VirtualCamera): { intervalOfTicks(ticks: number): number; hostNsOf(interval: number): number } {
  const internals = camera as unknown as {
    clock: { hostNs(interval: number): number };
    deviceClock: { ticksPerInterval: number; offset: number };
  };
  const { ticksPerInterval, offset } = internals.deviceClock;
  return {
    intervalOfTicks(ticks) {
      const counted = (ticks - offset + 2 ** 32) % 2 ** 32;
      const wraps = Math.round((camera.busInterval() * ticksPerInterval - counted) / 2 ** 32);
      return (counted + wraps * 2 ** 32) / ticksPerInterval;
    },
    hostNsOf(interval) {
      return internals.clock.hostNs(interval);
    },
  };
}

function tap(transport: UsbTransport, onTransfer: (transfer: CompletedTransfer) => void): UsbTransport {
  return new Proxy(transport, {
    get(target, property) {
      if (property === 'startStream') {
        return (options: Parameters<UsbTransport['startStream']>[0], callback: TransferCallback) =>
          target.startStream(options, (transfer) => {
            onTransfer(transfer);
            callback(transfer);
          });
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function summarize(
  stamps: readonly { timestampNs: number; captureNs: number; locked: boolean }[],
  framesToLock: number | null,
  periodNs: number,
): TimestampErrorSummary {
  const errors = stamps.filter((s) => s.locked).map((s) => s.timestampNs - s.captureNs);
  const absolute = errors.map(Math.abs);
  let stepsBack = 0;
  for (let i = 1; i < stamps.length; i++) if (stamps[i]!.timestampNs <= stamps[i - 1]!.timestampNs) stepsBack++;
  const shortCaptureFpsErrorPct: Record<string, number> = {};
  for (const n of SHORT_CAPTURES) {
    if (stamps.length < n) continue;
    const span = stamps[n - 1]!.timestampNs - stamps[0]!.timestampNs;
    const truth = stamps[n - 1]!.captureNs - stamps[0]!.captureNs;
    // Frames the camera skipped count: the rate is of frames delivered over their own span.
    const measured = span > 0 ? ((n - 1) * 1e9) / span : Number.POSITIVE_INFINITY;
    const expected = ((n - 1) * 1e9) / (truth > 0 ? truth : (n - 1) * periodNs);
    shortCaptureFpsErrorPct[String(n)] = round((measured / expected - 1) * 100, 3);
  }
  return {
    framesToLock,
    frames: errors.length,
    p50Us: round(quantile(absolute, 0.5) / 1e3, 3),
    p99Us: round(quantile(absolute, 0.99) / 1e3, 3),
    maxUs: round(absolute.length > 0 ? Math.max(...absolute) / 1e3 : Number.NaN, 3),
    meanUs: round(errors.reduce((a, b) => a + b, 0) / Math.max(1, errors.length) / 1e3, 3),
    stepsBack,
    shortCaptureFpsErrorPct,
  };
}

export async function benchTimestampCase(c: TimestampCase, seconds: number): Promise<TimestampCaseResult> {
  const camera = new VirtualCamera({
    pace: 'realtime',
    // Completions as a host controller gives them (at the end of their last interval, not on the next
    // millisecond timer tick): the delivery noise is then the event loop's and the faults', nothing else.
    preciseCompletions: true,
    formats: [{ format: 'yuyv', frames: [{ width: WIDTH, height: HEIGHT, fps: [FPS] }] }],
    ...c.camera,
  });
  const clocks = virtualClocks(camera);
  // Ground truth: the camera's own record of every frame (sequence, PTS, capture instant on the host clock).
  const truthByPts = (pts: number): number => {
    const sent = camera.sentFrames;
    for (let i = sent.length - 1; i >= 0; i--) if (sent[i]!.pts === pts) return sent[i]!.captureNs;
    return Number.NaN;
  };
  const truth = truthByPts;
  const intervalsPerFrame = camera.config.layout.intervalsPerFrame;
  const manual = await openManualStream(camera, { fourcc: 'YUYV', width: WIDTH, height: HEIGHT, fps: FPS });
  const periodNs = 1e9 / manual.params.fps;
  // uvcvideo as the kernel runs it: the completion handled the moment the transfer's last interval ends, the host
  // frame number read then. And as a userspace program would run it: when the completion reached JavaScript.
  const port = new UvcvideoTimestamps();
  const portUserspace = new UvcvideoTimestamps();
  const latencies: number[] = [];
  /** The bus interval at which the previous transfer ended (transfers follow each other on the bus). */
  let lastEnd: number | null = null;
  const onTransfer = (transfer: CompletedTransfer): void => {
    if (transfer.status !== TransferStatus.COMPLETED) {
      lastEnd = null;
      return;
    }
    const count = transfer.packetCount;
    const bytes = transfer.buffer;
    // Date the transfer by a fresh SCR (one sampled in its own packet's interval: any packet's under UVC 1.1,
    // a header-only packet's under 1.5), else from the previous transfer.
    let end: number | null = lastEnd === null ? null : lastEnd + count + transfer.lostIntervals;
    for (let i = count - 1; i >= 0; i--) {
      const length = transfer.packetLength[i]!;
      const at = i * transfer.packetStride;
      if (transfer.packetStatus[i] !== TransferStatus.COMPLETED || length < 12 || bytes[at]! !== 12) continue;
      if ((bytes[at + 1]! & 0x0c) !== 0x0c || (c.camera.uvcVersion === '1.5' && length > 12)) continue;
      const stc = new DataView(bytes.buffer, bytes.byteOffset + at + 6, 4).getUint32(0, true);
      if (stc === 0) continue; // the zero-SCR fault
      end = Math.round(clocks.intervalOfTicks(stc)) + (count - i);
      break;
    }
    lastEnd = end;
    const userSof = Math.floor(camera.busInterval() / intervalsPerFrame) & 2047;
    const kernelNs = end === null ? transfer.completedAtNs : clocks.hostNsOf(end);
    const kernelSof = end === null ? userSof : Math.floor(end / intervalsPerFrame) & 2047;
    if (end !== null) latencies.push(transfer.completedAtNs - kernelNs);
    for (let i = 0; i < count; i++) {
      const length = transfer.packetLength[i]!;
      if (transfer.packetStatus[i] !== TransferStatus.COMPLETED || length < 2) continue;
      port.payload(bytes, i * transfer.packetStride, length, kernelNs, kernelSof);
      portUserspace.payload(bytes, i * transfer.packetStride, length, transfer.completedAtNs, userSof);
    }
  };
  const queue = new BufferQueue({ bufferSize: manual.params.dwMaxVideoFrameSize });
  const video = new VideoStream(tap(manual.transport, onTransfer), queue, manual.config);
  queue.setDriver(video);
  const handle = new QueueHandle(queue);
  const count = handle.reqbufs(4);
  for (let i = 0; i < count; i++) handle.qbuf(i);
  const delivered: { timestampNs: number; stamp: number; locked: boolean }[] = [];
  let oursLockedAt: number | null = null;
  const total = Math.round(seconds * manual.params.fps);
  try {
    await handle.streamon();
    // Which frame is which: the stamp in the pixels is the camera's frame number (sentFrames' sequence).
    while (delivered.length < total) {
      const buffer = await handle.dqbuf();
      const locked = video.timestampStats.locked;
      if (!buffer.flags.error) {
        const stamp = decodeFrameStamp({ data: buffer.data, width: WIDTH, height: HEIGHT, format: 'yuyv' });
        if (stamp === null) throw new Error(`frame ${buffer.sequence}: no stamp`);
        if (locked && oursLockedAt === null) oursLockedAt = delivered.length;
        delivered.push({ timestampNs: buffer.timestamp, stamp, locked: oursLockedAt !== null });
      }
      handle.qbuf(buffer.index);
    }
    await handle.streamoff();
  } finally {
    await manual.close();
  }
  const stream = camera.sentFrames.at(-1)?.stream ?? 0;
  const captureOf = new Map<number, number>();
  for (const f of camera.sentFrames) if (f.stream === stream) captureOf.set(f.sequence, f.captureNs);
  const ours = delivered.map((d) => {
    const captureNs = captureOf.get(d.stamp);
    if (captureNs === undefined) throw new Error(`a frame with stamp ${d.stamp}: the camera has no record of sending it`);
    return { timestampNs: d.timestampNs, captureNs, locked: d.locked };
  });
  const scoreOf = (timestamps: UvcvideoTimestamps): TimestampErrorSummary => {
    // Whole frames only, as for ours (a frame cut short by lost bus time is flagged, not scored).
    const stamps = timestamps.frames
      .filter((f) => f.pts !== null && f.bytes === WIDTH * HEIGHT * 2)
      .map((f) => ({ timestampNs: f.timestampNs, captureNs: truth(f.pts!), hardware: f.hardware }));
    const lockedAt = stamps.findIndex((f) => f.hardware);
    const scored = stamps.map((f, i) => ({ ...f, locked: lockedAt >= 0 && i >= lockedAt }));
    return summarize(scored, lockedAt >= 0 ? lockedAt : null, periodNs);
  };
  return {
    description: `${WIDTH}×${HEIGHT} YUYV ${FPS} fps, high-speed iso, real-time pace: ${c.description}`,
    camera: c.camera,
    framesDelivered: delivered.length,
    ours: { ...summarize(ours, oursLockedAt, periodNs), clock: video.timestampStats },
    uvcvideo: scoreOf(port),
    uvcvideoUserspace: scoreOf(portUserspace),
    completionLatencyUs: {
      min: round(latencies.length > 0 ? Math.min(...latencies) / 1e3 : Number.NaN, 3),
      p50: round(quantile(latencies, 0.5) / 1e3, 3),
      p99: round(quantile(latencies, 0.99) / 1e3, 3),
      max: round(latencies.length > 0 ? Math.max(...latencies) / 1e3 : Number.NaN, 3),
    },
  };
}

export async function benchTimestamps(seconds = 20, cases: TimestampCase[] = timestampCases()): Promise<Record<string, TimestampCaseResult>> {
  const results: Record<string, TimestampCaseResult> = {};
  for (const c of cases) {
    progress(`timestamps ${c.name}: ${c.description}, ${seconds} s`);
    const r = await benchTimestampCase(c, seconds);
    progress(
      `  ours p50 ${r.ours.p50Us} µs p99 ${r.ours.p99Us} µs max ${r.ours.maxUs} µs, lock after ${r.ours.framesToLock} frames; ` +
        `uvcvideo p50 ${r.uvcvideo.p50Us} µs p99 ${r.uvcvideo.p99Us} µs max ${r.uvcvideo.maxUs} µs, lock after ${r.uvcvideo.framesToLock}`,
    );
    results[c.name] = r;
  }
  return results;
}
