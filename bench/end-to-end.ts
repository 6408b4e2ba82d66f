/**
 * 2. End to end: the virtual camera in 'fast' pace (frames back to back, as fast as the host takes them; a frame
 * cache so rendering and JPEG encoding stay out of the loop) through the whole stack: openCamera → in-process
 * host → VideoStream → FrameAssembler → BufferQueue → dqbuf → qbuf.
 *
 * The virtual camera runs in this process, so process CPU time covers the device too (it writes every packet
 * into the transfer buffers: a copy of every frame the driver does not make on real hardware). It is measured
 * on its own as well: the same camera, mode and transfer plan, the in-process host's stream with a consumer that
 * only releases each transfer. Driver-only CPU is the difference of the two, labelled as such.
 */
import { openCamera, type Camera, type NegotiatedFormat } from '../src/camera/index.js';
import { streamOptionsFor } from '../src/stream/transfer-sizing.js';
import type { FormatRequest } from '../src/uvc/index.js';
import type { VirtualCamera, VirtualCameraOptions } from '../src/virtual-camera/index.js';
import { FrameVerifier } from './lib/frame-verifier.js';
import { throughputCamera } from './lib/quiet-camera.js';
import { openManualStream, type ManualStream } from './lib/manual-stream.js';
import { collectGarbage, cpuSince, cpuStart, median, nowNs, progress, round, type CpuSample } from './lib/measure.js';

/** USB 2 high-bandwidth iso: 3 × 1024 bytes per 125 µs microframe. */
export const USB2_MAX_BYTES_PER_S = 3 * 1024 * 8000;
/** USB 3 iso: 16 bursts × 3 × 1024 bytes per 125 µs interval, per endpoint. */
export const USB3_MAX_BYTES_PER_S = 48 * 1024 * 8000;

export interface EndToEndCase {
  name: string;
  description: string;
  camera: VirtualCameraOptions;
  request: FormatRequest;
  format: 'yuyv' | 'mjpeg';
  width: number;
  height: number;
  frameCache: number;
  /**
   * Queue buffers. 'fast' pace sends frames back to back, so one transfer can hold several small MJPEG frames:
   * the queue needs room for all of them, or frames are dropped for want of a buffer before the consumer runs.
   */
  buffers: number;
}

export function endToEndCases(): EndToEndCase[] {
  return [
    {
      name: '720p-yuyv',
      description: '1280×720 YUYV, high speed iso',
      camera: { speed: 'high', formats: [{ format: 'yuyv', frames: [{ width: 1280, height: 720, fps: [10, 5] }] }] },
      request: { fourcc: 'YUYV', width: 1280, height: 720, fps: 10 },
      format: 'yuyv',
      width: 1280,
      height: 720,
      frameCache: 8,
      buffers: 4,
    },
    {
      name: '1080p-mjpeg',
      description: '1920×1080 MJPEG, high speed iso',
      camera: { speed: 'high', formats: [{ format: 'mjpeg', frames: [{ width: 1920, height: 1080, fps: [30, 15] }] }] },
      request: { fourcc: 'MJPEG', width: 1920, height: 1080, fps: 30 },
      format: 'mjpeg',
      width: 1920,
      height: 1080,
      frameCache: 8,
      buffers: 16,
    },
    {
      name: '1080p-yuyv-superspeed',
      description: '1920×1080 YUYV, SuperSpeed iso',
      camera: { speed: 'super', formats: [{ format: 'yuyv', frames: [{ width: 1920, height: 1080, fps: [30, 15] }] }] },
      request: { fourcc: 'YUYV', width: 1920, height: 1080, fps: 30 },
      format: 'yuyv',
      width: 1920,
      height: 1080,
      frameCache: 8,
      buffers: 4,
    },
  ];
}

export interface EndToEndOptions {
  /** Timed wall time per segment, ms, and least frames per segment. */
  segmentMs: number;
  minFrames: number;
  /** Segments of each kind, alternating whole stack / camera alone, so machine noise hits both alike. */
  segments: number;
  /** Untimed segments of each kind first (the JIT warms up), at half length. */
  warmupSegments: number;
}

export const DEFAULT_END_TO_END_OPTIONS: EndToEndOptions = { segmentMs: 1000, minFrames: 100, segments: 5, warmupSegments: 1 };

export interface CpuPerFrame {
  /** CPU time (user + system) per frame, µs: the median over the segments. */
  perFrameUs: number;
  userUs: number;
  systemUs: number;
  /** The lowest and highest segment. */
  rangeUs: [number, number];
}

export interface EndToEndResult {
  description: string;
  negotiated: { fourcc: string; width: number; height: number; packetSize: number; transfers: number; packetsPerTransfer: number; inFlightBytes: number };
  /** Delivered frames per wall-clock second: on a shared machine, bounded by the CPU share the process got. */
  framesPerSecond: number;
  /** Frames per second of CPU time (1 s ÷ cpu.perFrameUs): what one dedicated core would sustain. */
  framesPerCpuSecond: number;
  /** Payload MB/s (10^6 bytes) delivered to the consumer, wall clock. */
  mbps: number;
  meanFrameBytes: number;
  /** CPU of the whole process per delivered frame: the driver and the in-process virtual camera together. */
  cpu: CpuPerFrame;
  /** The virtual camera + in-process host alone, same mode and transfers, per frame it sent. */
  cameraCpu: CpuPerFrame & { framesPerSecond: number };
  /** cpu − cameraCpu: an estimate of the driver's own CPU per frame (the difference of two noisy medians). */
  driverCpuPerFrameUs: number;
  /** Share of one core at the bus's maximum payload rate, from the whole process and from the driver-only estimate. */
  coreShare: {
    usb2: { wholeProcess: number; driverOnly: number };
    usb3: { wholeProcess: number; driverOnly: number };
  };
  segments: number;
  framesTimed: number;
  /** Frames the driver dropped while timed because no buffer was queued (must be 0 for the figures to mean much). */
  framesDropped: number;
  verified: { framesFully: number; framesQuickly: number; stampsDecoded: number; erroredFrames: number };
}

interface Segment {
  frames: number;
  bytes: number;
  wallMs: number;
  cpuMs: number;
  userMs: number;
  systemMs: number;
}

function timedSegment(start: CpuSample, frames: number, bytes: number): Segment {
  const used = cpuSince(start);
  return { frames, bytes, wallMs: used.wallMs, cpuMs: used.cpuMs, userMs: used.userMs, systemMs: used.systemMs };
}

/** The whole stack: openCamera on a virtual camera, the user's queue loop, every frame checked. */
class WholeStack {
  dropped = 0;
  errored = 0;
  framesFully = 0;
  framesQuickly = 0;
  stampsDecoded = 0;

  private constructor(
    private readonly c: EndToEndCase,
    private readonly camera: Camera,
    readonly format: NegotiatedFormat,
  ) {}

  static async open(c: EndToEndCase): Promise<WholeStack> {
    const vcam = throughputCamera(c.camera, c.frameCache);
    const camera = await openCamera(vcam);
    try {
      const format = await camera.setFormat(c.request);
      if (format.width !== c.width || format.height !== c.height) throw new Error(`${c.name}: negotiated ${format.width}×${format.height}`);
      camera.queue.reqbufs(c.buffers);
      return new WholeStack(c, camera, format);
    } catch (error) {
      await camera.close();
      throw error;
    }
  }

  async segment(options: EndToEndOptions): Promise<Segment> {
    const c = this.c;
    const queue = this.camera.queue;
    for (let i = 0; i < queue.count; i++) queue.qbuf(i);
    await queue.streamon();
    // A fresh verifier per stream: each streamon starts the camera's sequence (and its stamps) from 0.
    const verifier = new FrameVerifier(c.format, c.width, c.height, c.frameCache);
    try {
      // Warm-up: every frame verified in full until each of the N cached frames has a reference, twice over.
      let warm = 0;
      while (warm < 2 * c.frameCache || verifier.references < c.frameCache) {
        const buffer = await queue.dqbuf();
        verifier.verifyFully(buffer);
        queue.qbuf(buffer.index);
        if (++warm > 50 * c.frameCache) throw new Error(`${c.name}: the frame cache never cycled`);
      }

      const before = { ...this.camera.stats.assembly! };
      const start = cpuStart();
      let frames = 0;
      let bytes = 0;
      let lastSequence = -1;
      for (;;) {
        const buffer = await queue.dqbuf();
        verifier.verifyQuickly(buffer, (buffer.sequence & 15) === 0);
        if (buffer.sequence <= lastSequence) throw new Error(`${c.name}: sequence went back`);
        lastSequence = buffer.sequence;
        bytes += buffer.bytesused;
        frames++;
        queue.qbuf(buffer.index);
        if (frames >= options.minFrames && (frames & 7) === 0 && nowNs() - start.wallNs >= options.segmentMs * 1e6) break;
      }
      const timed = timedSegment(start, frames, bytes);
      const after = this.camera.stats.assembly!;
      this.dropped += after.droppedFrames - before.droppedFrames;

      // After timing: more frames verified in full.
      for (let i = 0; i < c.frameCache; i++) {
        const buffer = await queue.dqbuf();
        verifier.verifyFully(buffer);
        queue.qbuf(buffer.index);
      }
      this.errored += this.camera.stats.assembly!.erroredFrames;
      await queue.streamoff();
      await verifier.finish();
      this.framesFully += verifier.framesVerifiedFully;
      this.framesQuickly += verifier.framesVerifiedQuickly;
      this.stampsDecoded += verifier.stampsDecoded;
      return timed;
    } finally {
      if (queue.streaming) await queue.streamoff();
    }
  }

  close(): Promise<void> {
    return this.camera.close();
  }
}

/** The virtual camera and the in-process host alone: same mode and transfer plan, nothing behind the callback. */
class CameraAlone {
  private constructor(
    private readonly c: EndToEndCase,
    private readonly vcam: VirtualCamera,
    readonly manual: ManualStream,
  ) {}

  static async open(c: EndToEndCase): Promise<CameraAlone> {
    const vcam = throughputCamera(c.camera, c.frameCache);
    return new CameraAlone(c, vcam, await openManualStream(vcam, c.request));
  }

  async segment(options: EndToEndOptions): Promise<Segment> {
    const vcam = this.vcam;
    const warmUntil = vcam.framesSent + 2 * this.c.frameCache;
    let start: CpuSample | null = null;
    let startFrames = 0;
    let result: Segment | null = null;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const stream = this.manual.transport.startStream(streamOptionsFor(this.manual.config.endpoint, this.manual.plan, this.manual.config.frameIntervalNs), (transfer) => {
      transfer.release();
      if (result !== null) return;
      const sent = vcam.framesSent;
      if (start === null) {
        if (sent >= warmUntil) {
          start = cpuStart();
          startFrames = sent;
        }
        return;
      }
      const frames = sent - startFrames;
      if (frames >= options.minFrames && nowNs() - start.wallNs >= options.segmentMs * 1e6) {
        result = timedSegment(start, frames, 0);
        finish();
      }
    });
    await done;
    await stream.stop();
    return result!;
  }

  close(): Promise<void> {
    return this.manual.close();
  }
}

function perFrame(segments: readonly Segment[], pick: (s: Segment) => number): number[] {
  return segments.map((s) => (pick(s) * 1000) / s.frames);
}

function cpuPerFrame(segments: readonly Segment[]): CpuPerFrame {
  const total = perFrame(segments, (s) => s.cpuMs);
  return {
    perFrameUs: round(median(total)),
    userUs: round(median(perFrame(segments, (s) => s.userMs))),
    systemUs: round(median(perFrame(segments, (s) => s.systemMs))),
    rangeUs: [round(Math.min(...total)), round(Math.max(...total))],
  };
}

export async function benchEndToEndCase(c: EndToEndCase, options: EndToEndOptions = DEFAULT_END_TO_END_OPTIONS): Promise<EndToEndResult> {
  const stack = await WholeStack.open(c);
  const alone = await CameraAlone.open(c).catch(async (error: unknown) => {
    await stack.close();
    throw error;
  });
  const stackSegments: Segment[] = [];
  const aloneSegments: Segment[] = [];
  try {
    const warmup = { ...options, segmentMs: options.segmentMs / 2 };
    for (let i = 0; i < options.warmupSegments; i++) {
      await stack.segment(warmup);
      await alone.segment(warmup);
    }
    for (let i = 0; i < options.segments; i++) {
      stackSegments.push(await stack.segment(options));
      await collectGarbage();
      aloneSegments.push(await alone.segment(options));
      await collectGarbage();
    }
  } finally {
    await alone.close();
    await stack.close();
  }
  if (stack.errored !== 0) throw new Error(`${c.name}: ${stack.errored} frames completed in error`);
  const cpu = cpuPerFrame(stackSegments);
  const cameraCpu = cpuPerFrame(aloneSegments);
  const driverCpu = cpu.perFrameUs - cameraCpu.perFrameUs;
  const frames = stackSegments.reduce((sum, s) => sum + s.frames, 0);
  const bytes = stackSegments.reduce((sum, s) => sum + s.bytes, 0);
  const meanBytes = bytes / frames;
  const share = (usPerFrame: number, rate: number) => round(((usPerFrame / 1e6) * rate) / meanBytes, 3);
  const fps = (segments: Segment[]) => round(median(segments.map((s) => (s.frames / s.wallMs) * 1000)));
  const plan = alone.manual.plan;
  return {
    description: c.description,
    // The Camera API does not expose its transfer plan; the manual stream computes the same one.
    negotiated: {
      fourcc: stack.format.fourcc,
      width: stack.format.width,
      height: stack.format.height,
      packetSize: stack.format.bytesPerInterval,
      transfers: plan.transfers,
      packetsPerTransfer: plan.packetsPerTransfer,
      inFlightBytes: plan.inFlightBytes,
    },
    framesPerSecond: fps(stackSegments),
    framesPerCpuSecond: round(1e6 / cpu.perFrameUs),
    mbps: round(median(stackSegments.map((s) => s.bytes / s.wallMs / 1000))),
    meanFrameBytes: Math.round(meanBytes),
    cpu,
    cameraCpu: { ...cameraCpu, framesPerSecond: fps(aloneSegments) },
    driverCpuPerFrameUs: round(driverCpu),
    coreShare: {
      usb2: { wholeProcess: share(cpu.perFrameUs, USB2_MAX_BYTES_PER_S), driverOnly: share(driverCpu, USB2_MAX_BYTES_PER_S) },
      usb3: { wholeProcess: share(cpu.perFrameUs, USB3_MAX_BYTES_PER_S), driverOnly: share(driverCpu, USB3_MAX_BYTES_PER_S) },
    },
    segments: options.segments,
    framesTimed: frames,
    framesDropped: stack.dropped,
    verified: { framesFully: stack.framesFully, framesQuickly: stack.framesQuickly, stampsDecoded: stack.stampsDecoded, erroredFrames: stack.errored },
  };
}

export async function benchEndToEnd(options: EndToEndOptions = DEFAULT_END_TO_END_OPTIONS, only?: (name: string) => boolean): Promise<Record<string, EndToEndResult>> {
  const results: Record<string, EndToEndResult> = {};
  for (const c of endToEndCases()) {
    if (only !== undefined && !only(c.name)) continue;
    progress(`end to end ${c.name}: ${c.description}`);
    const result = await benchEndToEndCase(c, options);
    progress(`  ${result.framesPerSecond} frames/s, ${result.cpu.perFrameUs} µs CPU/frame (camera alone ${result.cameraCpu.perFrameUs}, driver ≈ ${result.driverCpuPerFrameUs}), ${result.framesDropped} dropped`);
    results[c.name] = result;
    await collectGarbage();
  }
  return results;
}
