/**
 * 3. Latency: the virtual camera paced in real time; for each frame, the time from the completion of the
 * transfer that holds its EOF (the transport's own `completedAtNs`, taken when the completion reaches
 * JavaScript) to the consumer's `await dqbuf()` resolving.
 *
 * Measured from outside the core, with the stack below the Camera API wired as StreamingInterface wires it
 * (manual-stream.ts): the VideoStream's transport is wrapped so each completion is noted before the driver sees
 * it, and the queue is a BufferQueue subclass whose completeBuffer() notes which completion finished which
 * buffer. Everything between the two notes is synchronous, so the pairing is exact.
 *
 * Also reported: how long the EOF packet waited inside its transfer for the transfer to end
 * ((packets after it) × bus interval): what the transfer size adds before the driver can see the frame at all.
 */
import { BufferQueue, type CompletedFrame } from '../src/queue/buffer-queue.js';
import { QueueHandle } from '../src/queue/queue-handle.js';
import type { VideoBuffer } from '../src/queue/video-buffer.js';
import { PayloadHeader } from '../src/spec/uvc.js';
import { VideoStream } from '../src/stream/video-stream.js';
import { TransferStatus, type CompletedTransfer, type TransferCallback, type UsbTransport } from '../src/transport/usb-transport.js';
import { decodeFrameStamp, VirtualCamera } from '../src/virtual-camera/index.js';
import { openManualStream } from './lib/manual-stream.js';
import { nowNs, progress, quantile, round } from './lib/measure.js';

interface CompletionMark {
  completedAtNs: number;
  /** Bus time between the EOF packet's interval and the end of its transfer, ns. */
  eofWaitNs: number;
}

/** A BufferQueue that remembers, for each completed buffer, the transfer completion that finished it. */
class CompletionTimedQueue extends BufferQueue {
  readonly marks = new Map<VideoBuffer, CompletionMark>();
  private completedAtNs = 0;
  private eofWaits: number[] = [];
  private nextEof = 0;

  /** Called with each transfer just before the driver processes it. */
  noteTransfer(transfer: CompletedTransfer, intervalNs: number): void {
    this.completedAtNs = transfer.completedAtNs;
    this.eofWaits = [];
    this.nextEof = 0;
    const count = transfer.packetCount;
    for (let i = 0; i < count; i++) {
      const length = transfer.packetLength[i]!;
      if (transfer.packetStatus[i] !== TransferStatus.COMPLETED || length < 2) continue;
      const at = i * transfer.packetStride;
      const headerLength = transfer.buffer[at]!;
      if (length > headerLength && (transfer.buffer[at + 1]! & PayloadHeader.EOF) !== 0) {
        this.eofWaits.push((count - 1 - i) * intervalNs);
      }
    }
  }

  override completeBuffer(buffer: VideoBuffer, frame: CompletedFrame): boolean {
    const eofWaitNs = this.eofWaits[this.nextEof++] ?? NaN;
    this.marks.set(buffer, { completedAtNs: this.completedAtNs, eofWaitNs });
    return super.completeBuffer(buffer, frame);
  }
}

/** The transport, with every completion shown to the queue before the driver's callback runs. */
function noteCompletions(transport: UsbTransport, queue: CompletionTimedQueue, intervalNs: number): UsbTransport {
  return new Proxy(transport, {
    get(target, property) {
      if (property === 'startStream') {
        return (options: Parameters<UsbTransport['startStream']>[0], onTransfer: TransferCallback) =>
          target.startStream(options, (transfer) => {
            queue.noteTransfer(transfer, intervalNs);
            onTransfer(transfer);
          });
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface LatencyCase {
  name: string;
  fps: number;
  width: number;
  height: number;
  frames: number;
}

export function latencyCases(frames30 = 240, frames60 = 480): LatencyCase[] {
  return [
    { name: '30fps', fps: 30, width: 1280, height: 720, frames: frames30 },
    { name: '60fps', fps: 60, width: 1280, height: 720, frames: frames60 },
  ];
}

export interface LatencyResult {
  description: string;
  /** Transfer completion → dqbuf resolved, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** EOF packet → end of its transfer (bus time the transfer size adds before the driver sees the frame), ms. */
  eofWait: { p50Ms: number; maxMs: number };
  packetsPerTransfer: number;
  transferMs: number;
  frames: number;
  /** Frames that completed flagged (lost bus time on a loaded machine); their latency is still counted. */
  erroredFrames: number;
  verified: { stampsChecked: number; stampMismatches: number; deviceDroppedFrames: number };
}

const WARMUP_FRAMES = 15;
const FRAME_CACHE = 8;

export async function benchLatencyCase(c: LatencyCase): Promise<LatencyResult> {
  const vcam = new VirtualCamera({
    speed: 'super',
    pace: 'realtime',
    frameCache: FRAME_CACHE,
    formats: [{ format: 'yuyv', frames: [{ width: c.width, height: c.height, fps: [60, 30] }] }],
  });
  const manual = await openManualStream(vcam, { fourcc: 'YUYV', width: c.width, height: c.height, fps: c.fps });
  try {
    if (Math.round(manual.params.fps) !== c.fps) throw new Error(`negotiated ${manual.params.fps} fps, wanted ${c.fps}`);
    const queue = new CompletionTimedQueue({ bufferSize: manual.params.dwMaxVideoFrameSize });
    const video = new VideoStream(noteCompletions(manual.transport, queue, manual.plan.intervalNs), queue, manual.config);
    queue.setDriver(video);
    const handle = new QueueHandle(queue);
    const count = handle.reqbufs(4);
    for (let i = 0; i < count; i++) handle.qbuf(i);
    await handle.streamon();

    const latencies: number[] = [];
    const eofWaits: number[] = [];
    let errored = 0;
    let stampsChecked = 0;
    let stampMismatches = 0;
    let offset: number | null = null;
    for (let n = 0; n < WARMUP_FRAMES + c.frames; n++) {
      const buffer = await handle.dqbuf();
      const resolvedNs = nowNs();
      const mark = queue.marks.get(buffer);
      if (mark === undefined) throw new Error(`buffer ${buffer.index} was completed by no noted transfer`);
      queue.marks.delete(buffer);
      // Verification after the clock was read: the frame is whole and carries the stamp its place calls for.
      if (buffer.flags.error) {
        errored++;
      } else {
        if (buffer.bytesused !== c.width * c.height * 2) throw new Error(`frame ${buffer.sequence}: ${buffer.bytesused} bytes`);
        const stamp = decodeFrameStamp({ data: buffer.data, width: c.width, height: c.height, format: 'yuyv' });
        if (stamp === null) throw new Error(`frame ${buffer.sequence}: no stamp`);
        stampsChecked++;
        const expectedOffset = (((stamp - buffer.sequence) % FRAME_CACHE) + FRAME_CACHE) % FRAME_CACHE;
        offset ??= expectedOffset;
        if (expectedOffset !== offset) {
          // The camera skipped a frame (it sends the newest): the stamp moves on by what it skipped.
          stampMismatches++;
          offset = expectedOffset;
        }
      }
      if (n >= WARMUP_FRAMES) {
        latencies.push((resolvedNs - mark.completedAtNs) / 1e6);
        if (!Number.isNaN(mark.eofWaitNs)) eofWaits.push(mark.eofWaitNs / 1e6);
      }
      handle.qbuf(buffer.index);
    }
    await handle.streamoff();
    const deviceDropped = vcam.framesDropped;
    if (stampMismatches > deviceDropped + errored) {
      throw new Error(`${stampMismatches} frames carried an unexpected stamp, more than the ${deviceDropped} the camera skipped`);
    }
    const plan = manual.plan;
    return {
      description: `${c.width}×${c.height} YUYV at ${c.fps} fps, SuperSpeed iso, real-time pace`,
      p50Ms: round(quantile(latencies, 0.5), 3),
      p99Ms: round(quantile(latencies, 0.99), 3),
      maxMs: round(Math.max(...latencies), 3),
      eofWait: { p50Ms: round(quantile(eofWaits, 0.5), 3), maxMs: round(Math.max(...eofWaits), 3) },
      packetsPerTransfer: plan.packetsPerTransfer,
      transferMs: round((plan.packetsPerTransfer * plan.intervalNs) / 1e6, 3),
      frames: latencies.length,
      erroredFrames: errored,
      verified: { stampsChecked, stampMismatches, deviceDroppedFrames: deviceDropped },
    };
  } finally {
    await manual.close();
  }
}

export async function benchLatency(cases: LatencyCase[] = latencyCases()): Promise<Record<string, LatencyResult>> {
  const results: Record<string, LatencyResult> = {};
  for (const c of cases) {
    progress(`latency ${c.name}: ${c.frames} frames of ${c.width}×${c.height} at ${c.fps} fps (about ${Math.round((c.frames + WARMUP_FRAMES) / c.fps)} s)`);
    const result = await benchLatencyCase(c);
    progress(`  p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`);
    results[c.name] = result;
  }
  return results;
}
