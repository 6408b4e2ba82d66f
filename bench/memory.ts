/**
 * 4. Memory.
 *
 * Flatness: one stream through the whole stack (openCamera on the default virtual camera, 640×480 YUYV, 'fast'
 * pace, frame cache, its automatic exposure reporting on the status endpoint) for 20 000 frames; after 1 000
 * frames and after 20 000, a full GC, then heap and RSS are read. A GC and a reading every 1 000 frames in
 * between give the trend (Theil–Sen, bytes per frame), also over the second half alone: V8 warms up (code,
 * feedback, a young generation sized to the allocation rate) during the first thousands of frames, while a leak
 * keeps growing to the end.
 *
 * What a stream holds: the transfer memory in flight (the TransferPlan openCamera uses, which the native addon
 * allocates as libusb transfer buffers, counted against Linux usbfs's 16 MB default limit) and the queue's
 * buffers, beside what uvcvideo and libuvc allocate for the same mode, computed from their sources:
 * - uvcvideo (drivers/media/usb/uvc): UVC_URBS = 5 URBs of min(32, ⌈dwMaxVideoFrameSize / bytes per interval⌉)
 *   packets (iso), or of min(32, ⌈dwMaxPayloadTransferSize / wMaxPacketSize⌉) packets (bulk).
 * - libuvc (src/stream.c): LIBUVC_NUM_TRANSFER_BUFS = 100 transfers of min(32, ⌈dwMaxVideoFrameSize / bytes per
 *   interval⌉) packets (iso), or of dwMaxPayloadTransferSize bytes (bulk).
 */
import { openCamera } from '../src/camera/index.js';
import type { UsbSpeed } from '../src/spec/usb.js';
import { busIntervalNs, defaultBulkPacketSize, planTransfers } from '../src/stream/transfer-sizing.js';
import { VirtualCamera } from '../src/virtual-camera/index.js';
import { OPEN_CAMERA_IN_FLIGHT_MS } from './assembly.js';
import { FrameVerifier } from './lib/frame-verifier.js';
import { median, progress, round } from './lib/measure.js';

/** Linux usbfs_memory_mb default: the transfer memory all libusb programs on the machine may hold together. */
export const USBFS_DEFAULT_LIMIT_BYTES = 16 * 1024 * 1024;
const UVCVIDEO_URBS = 5;
const UVCVIDEO_MAX_PACKETS = 32;
const LIBUVC_TRANSFERS = 100;
const LIBUVC_MAX_PACKETS = 32;

export interface MemorySample {
  frames: number;
  heapUsedBytes: number;
  /** V8's heap reservation (young generation included, which V8 grows with the allocation rate). */
  heapTotalBytes: number;
  rssBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
}

export interface StreamMemoryRow {
  description: string;
  transfer: 'iso' | 'bulk';
  bytesPerInterval: number;
  frameBytes: number;
  /** Ours: openCamera's transfer plan. */
  ours: { transfers: number; packetsPerTransfer: number; transferBytes: number; inFlightBytes: number; inFlightMs: number };
  /** One queue buffer (dwMaxVideoFrameSize); the user chooses how many (4 here: `queue4Bytes`). */
  queueBufferBytes: number;
  queue4Bytes: number;
  uvcvideo: { inFlightBytes: number; inFlightMs: number };
  libuvc: { inFlightBytes: number; inFlightMs: number };
  /** Our in-flight transfer memory stays under usbfs's 16 MB default. */
  oursUnderUsbfsLimit: boolean;
  libuvcOverUsbfsLimit: boolean;
}

export interface MemoryResult {
  flatness: {
    description: string;
    after1000: MemorySample;
    after20000: MemorySample;
    /** after 20 000 ÷ after 1 000. */
    heapRatio: number;
    rssRatio: number;
    /** Theil–Sen slope of the heap after GC, from frame 1 000 to 20 000, bytes per frame. */
    heapSlopeBytesPerFrame: number;
    /** The same over the second half (frames 10 000 to 20 000): a leak keeps its slope, warm-up does not. */
    heapSlopeSecondHalfBytesPerFrame: number;
    rssSlopeSecondHalfBytesPerFrame: number;
    samples: MemorySample[];
    framesDropped: number;
    verified: { framesFully: number; framesQuickly: number; stampsDecoded: number };
  };
  perStream: Record<string, StreamMemoryRow>;
  /** Every mode's transfer memory in flight is under usbfs's 16 MiB default. */
  transfersUnderUsbfsLimit: boolean;
}

interface Mode {
  name: string;
  description: string;
  speed: UsbSpeed;
  transfer: 'iso' | 'bulk';
  bytesPerInterval: number;
  frameBytes: number;
  /** bulk: dwMaxPayloadTransferSize. */
  payloadBytes?: number;
}

export function streamModes(): Mode[] {
  const yuyv = (w: number, h: number) => w * h * 2;
  return [
    { name: 'full-iso-1023', description: '320×240 YUYV, full speed iso, 1023 B/ms', speed: 'full', transfer: 'iso', bytesPerInterval: 1023, frameBytes: yuyv(320, 240) },
    { name: 'high-iso-1024', description: '640×480 YUYV, high speed iso, 1024 B/µframe', speed: 'high', transfer: 'iso', bytesPerInterval: 1024, frameBytes: yuyv(640, 480) },
    { name: 'high-iso-3072', description: '1280×720 YUYV, high speed iso, 3×1024 B/µframe (USB 2 maximum)', speed: 'high', transfer: 'iso', bytesPerInterval: 3072, frameBytes: yuyv(1280, 720) },
    { name: 'super-iso-16384', description: '1920×1080 YUYV, SuperSpeed iso, 16 KiB/interval', speed: 'super', transfer: 'iso', bytesPerInterval: 16384, frameBytes: yuyv(1920, 1080) },
    { name: 'super-iso-49152', description: '1920×1080 YUYV, SuperSpeed iso, 48 KiB/interval (USB 3 maximum)', speed: 'super', transfer: 'iso', bytesPerInterval: 49152, frameBytes: yuyv(1920, 1080) },
    { name: 'super-iso-49152-4k', description: '3840×2160 YUYV, SuperSpeed iso, 48 KiB/interval', speed: 'super', transfer: 'iso', bytesPerInterval: 49152, frameBytes: yuyv(3840, 2160) },
    { name: 'high-bulk', description: '1280×720 YUYV, high speed bulk, 32 KiB payloads', speed: 'high', transfer: 'bulk', bytesPerInterval: 512, frameBytes: yuyv(1280, 720), payloadBytes: 32768 },
    { name: 'super-bulk', description: '1920×1080 YUYV, SuperSpeed bulk, 32 KiB payloads', speed: 'super', transfer: 'bulk', bytesPerInterval: 1024, frameBytes: yuyv(1920, 1080), payloadBytes: 32768 },
  ];
}

function streamMemory(mode: Mode): StreamMemoryRow {
  const iso = mode.transfer === 'iso';
  const plan = planTransfers({
    transferType: mode.transfer,
    speed: mode.speed,
    bytesPerInterval: iso ? mode.bytesPerInterval : undefined,
    maxPacketSize: iso ? undefined : mode.bytesPerInterval,
    dwMaxPayloadTransferSize: mode.payloadBytes ?? mode.bytesPerInterval,
    dwMaxVideoFrameSize: mode.frameBytes,
    targetInFlightMs: OPEN_CAMERA_IN_FLIGHT_MS,
  });
  const interval = busIntervalNs(mode.speed) / 1e6;
  let uvcvideo: StreamMemoryRow['uvcvideo'];
  let libuvc: StreamMemoryRow['libuvc'];
  if (iso) {
    const packets = (cap: number) => Math.min(cap, Math.ceil(mode.frameBytes / mode.bytesPerInterval));
    const u = packets(UVCVIDEO_MAX_PACKETS);
    const l = packets(LIBUVC_MAX_PACKETS);
    uvcvideo = { inFlightBytes: UVCVIDEO_URBS * u * mode.bytesPerInterval, inFlightMs: round(UVCVIDEO_URBS * u * interval, 3) };
    libuvc = { inFlightBytes: LIBUVC_TRANSFERS * l * mode.bytesPerInterval, inFlightMs: round(LIBUVC_TRANSFERS * l * interval, 3) };
  } else {
    const packet = mode.bytesPerInterval || defaultBulkPacketSize(mode.speed);
    const payload = mode.payloadBytes!;
    const urb = Math.min(UVCVIDEO_MAX_PACKETS, Math.ceil(payload / packet)) * packet;
    // Bulk has no fixed bus time; at the rate our sizing assumes (plan.inFlightNs / plan.inFlightBytes).
    const msPerByte = plan.inFlightNs / 1e6 / plan.inFlightBytes;
    uvcvideo = { inFlightBytes: UVCVIDEO_URBS * urb, inFlightMs: round(UVCVIDEO_URBS * urb * msPerByte, 3) };
    libuvc = { inFlightBytes: LIBUVC_TRANSFERS * payload, inFlightMs: round(LIBUVC_TRANSFERS * payload * msPerByte, 3) };
  }
  return {
    description: mode.description,
    transfer: mode.transfer,
    bytesPerInterval: mode.bytesPerInterval,
    frameBytes: mode.frameBytes,
    ours: {
      transfers: plan.transfers,
      packetsPerTransfer: plan.packetsPerTransfer,
      transferBytes: plan.transferSize,
      inFlightBytes: plan.inFlightBytes,
      inFlightMs: round(plan.inFlightNs / 1e6, 3),
    },
    queueBufferBytes: mode.frameBytes,
    queue4Bytes: 4 * mode.frameBytes,
    uvcvideo,
    libuvc,
    oursUnderUsbfsLimit: plan.inFlightBytes < USBFS_DEFAULT_LIMIT_BYTES,
    libuvcOverUsbfsLimit: libuvc.inFlightBytes > USBFS_DEFAULT_LIMIT_BYTES,
  };
}

function sample(frames: number): MemorySample {
  const usage = process.memoryUsage();
  return { frames, heapUsedBytes: usage.heapUsed, heapTotalBytes: usage.heapTotal, rssBytes: usage.rss, externalBytes: usage.external, arrayBuffersBytes: usage.arrayBuffers };
}

function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('the memory benchmark needs node --expose-gc (npm run bench starts it so)');
  gc();
  gc();
}

/**
 * Theil–Sen slope of `value` against frames: the median of the slopes between every pair of samples. A GC that
 * happens to run a little later before one reading lifts that reading alone; a least-squares line would tilt
 * with it, the median of the pairwise slopes does not, while a steady leak tilts every pair alike.
 */
function slope(points: readonly MemorySample[], value: (p: MemorySample) => number): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const dx = points[j]!.frames - points[i]!.frames;
      if (dx !== 0) slopes.push((value(points[j]!) - value(points[i]!)) / dx);
    }
  }
  return slopes.length === 0 ? 0 : median(slopes);
}

const TOTAL_FRAMES = 20_000;
const FIRST_SAMPLE_AT = 1_000;
const SAMPLE_EVERY = 1_000;

export async function benchMemory(): Promise<MemoryResult> {
  const perStream: Record<string, StreamMemoryRow> = {};
  for (const mode of streamModes()) perStream[mode.name] = streamMemory(mode);

  const frameCache = 8;
  progress(`memory: ${TOTAL_FRAMES} frames of 640×480 YUYV through openCamera`);
  const vcam = new VirtualCamera({ pace: 'fast', frameCache });
  const camera = await openCamera(vcam);
  const samples: MemorySample[] = [];
  const verifier = new FrameVerifier('yuyv', 640, 480, frameCache);
  let dropped = 0;
  try {
    const format = await camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480, fps: 30 });
    const queue = camera.queue;
    const count = queue.reqbufs(4);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    await queue.streamon();
    for (let frames = 1; frames <= TOTAL_FRAMES; frames++) {
      const buffer = await queue.dqbuf();
      if (verifier.references < frameCache || frames % 997 === 0) verifier.verifyFully(buffer);
      else verifier.verifyQuickly(buffer, buffer.sequence % 16 === 0);
      if (buffer.bytesused !== format.frameSize) throw new Error(`frame ${buffer.sequence}: ${buffer.bytesused} bytes`);
      queue.qbuf(buffer.index);
      if (frames >= FIRST_SAMPLE_AT && frames % SAMPLE_EVERY === 0) {
        fullGc();
        samples.push(sample(frames));
      }
    }
    dropped = camera.stats.assembly!.droppedFrames;
    if (camera.stats.assembly!.erroredFrames !== 0) throw new Error('frames completed in error');
    await queue.streamoff();
  } finally {
    await camera.close();
  }
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const secondHalf = samples.filter((p) => p.frames >= TOTAL_FRAMES / 2);
  progress(`  heap ${(first.heapUsedBytes / 1e6).toFixed(1)} → ${(last.heapUsedBytes / 1e6).toFixed(1)} MB, RSS ${(first.rssBytes / 1e6).toFixed(1)} → ${(last.rssBytes / 1e6).toFixed(1)} MB`);
  return {
    flatness: {
      description: '640×480 YUYV, high speed iso, virtual camera in fast pace, 4 buffers',
      after1000: first,
      after20000: last,
      heapRatio: round(last.heapUsedBytes / first.heapUsedBytes, 3),
      rssRatio: round(last.rssBytes / first.rssBytes, 3),
      heapSlopeBytesPerFrame: round(slope(samples, (p) => p.heapUsedBytes), 3),
      heapSlopeSecondHalfBytesPerFrame: round(slope(secondHalf, (p) => p.heapUsedBytes), 3),
      rssSlopeSecondHalfBytesPerFrame: round(slope(secondHalf, (p) => p.rssBytes), 3),
      samples,
      framesDropped: dropped,
      verified: { framesFully: verifier.framesVerifiedFully, framesQuickly: verifier.framesVerifiedQuickly, stampsDecoded: verifier.stampsDecoded },
    },
    perStream,
    transfersUnderUsbfsLimit: Object.values(perStream).every((row) => row.oursUnderUsbfsLimit),
  };
}
