/**
 * Isochronous bandwidth: what a mode needs per service interval, which alt setting carries it, and which mode
 * would fit when none does.
 *
 * The estimate is uvcvideo's (UVC_QUIRK_FIX_BANDWIDTH), in bytes per bus interval: the frame size times the frame
 * rate, divided by the bus intervals per second (1000 at full speed, 8000 above), plus a 12-byte payload header.
 * Compressed formats use the frame descriptor's dwMaxBitRate (the rate at its shortest interval) when it has one.
 */
import type { UsbSpeed } from '../spec/usb.js';
import type { AltSetting, VideoFormat, VideoFrame, VideoStreamingInterface } from './descriptors/model.js';
import { nearestInterval } from './format-selection.js';

/** The payload header uvcvideo assumes when it estimates (PTS + SCR). */
export const PAYLOAD_HEADER_BYTES = 12;

/** Bus intervals per second of an endpoint (bInterval counts 2^(n−1) frames or microframes). */
export function serviceIntervalsPerSecond(speed: UsbSpeed, bInterval = 1): number {
  const perSecond = speed === 'low' || speed === 'full' ? 1000 : 8000;
  const exponent = Math.min(16, Math.max(1, bInterval)) - 1;
  return perSecond / 2 ** exponent;
}

export function isCompressed(format: VideoFormat): boolean {
  return format.kind !== 'uncompressed';
}

/** Bytes of one frame: exact for uncompressed formats; the descriptor's bound (or a YUY2-sized guess) otherwise. */
export function frameBytes(format: VideoFormat, frame: VideoFrame): number {
  if (!isCompressed(format) && format.bitsPerPixel > 0) return Math.ceil((frame.width * frame.height * format.bitsPerPixel) / 8);
  if (frame.maxFrameSize !== null && frame.maxFrameSize > 0) return frame.maxFrameSize;
  const bpp = format.bitsPerPixel > 0 ? format.bitsPerPixel : 16;
  return Math.ceil((frame.width * frame.height * bpp) / 8);
}

/** Bytes per service interval the mode needs, header included. */
export function estimatePayloadSize(format: VideoFormat, frame: VideoFrame, interval: number, speed: UsbSpeed, bInterval = 1): number {
  const fps = interval > 0 ? 1e7 / interval : 0;
  // dwMaxBitRate is the rate at the frame's shortest interval: scale it to the one asked for
  const shortest = Array.isArray(frame.intervals) ? Math.min(...frame.intervals) : frame.intervals.min;
  const bytesPerSecond =
    isCompressed(format) && frame.maxBitRate > 0
      ? (frame.maxBitRate / 8) * Math.min(1, shortest / Math.max(1, interval))
      : frameBytes(format, frame) * fps;
  return Math.ceil(bytesPerSecond / serviceIntervalsPerSecond(speed, bInterval)) + PAYLOAD_HEADER_BYTES;
}

/** The alt settings that stream (have the video endpoint and bandwidth). */
export function streamingAltSettings(vs: VideoStreamingInterface): AltSetting[] {
  return vs.altSettings.filter((a) => a.endpointAddress !== null && a.bytesPerInterval > 0);
}

export function largestBytesPerInterval(vs: VideoStreamingInterface): number {
  return streamingAltSettings(vs).reduce((max, a) => Math.max(max, a.bytesPerInterval), 0);
}

/**
 * The alt setting to stream with: for isochronous interfaces the smallest whose bytes per interval cover
 * `payloadSize` (ties: the lower alt setting number); for bulk the one carrying the bulk endpoint (alt 0).
 */
export function chooseAltSetting(vs: VideoStreamingInterface, payloadSize: number): AltSetting | null {
  if (vs.transferType === 'bulk') {
    return vs.altSettings.find((a) => a.transferType === 'bulk') ?? vs.altSettings[0] ?? null;
  }
  let best: AltSetting | null = null;
  for (const alt of streamingAltSettings(vs)) {
    if (alt.bytesPerInterval < payloadSize) continue;
    if (best === null || alt.bytesPerInterval < best.bytesPerInterval) best = alt;
  }
  return best;
}

export interface ModeSuggestion {
  fourcc: string | null;
  formatIndex: number;
  frameIndex: number;
  width: number;
  height: number;
  interval: number;
  fps: number;
  /** Estimated bytes per interval. */
  payloadSize: number;
}

const COMMON_RATES = [120, 60, 50, 30, 25, 24, 20, 15, 10, 7.5, 5, 1];

function candidateIntervals(frame: VideoFrame): number[] {
  if (Array.isArray(frame.intervals)) return frame.intervals;
  const set = new Set<number>([frame.intervals.min, frame.intervals.max]);
  for (const rate of COMMON_RATES) set.add(nearestInterval(frame, 1e7 / rate));
  return [...set];
}

/**
 * A mode of the interface that fits `budget` bytes per interval, as near the wanted one as possible: the same
 * format first (sizes ranked by the area they do not share with the wanted size, then by rate), other formats
 * after. For compressed formats the device's own figure for the wanted mode (`reportedPayload`) is scaled by
 * pixels and rate, since only the device knows its compression.
 */
export function suggestFittingMode(
  vs: VideoStreamingInterface,
  wanted: { format: VideoFormat; frame: VideoFrame; interval: number },
  reportedPayload: number,
  budget: number,
  speed: UsbSpeed,
): ModeSuggestion | null {
  const wantedFps = 1e7 / wanted.interval;
  const wantedPixels = wanted.frame.width * wanted.frame.height;
  let best: { suggestion: ModeSuggestion; rank: number[] } | null = null;
  const formats = [wanted.format, ...vs.formats.filter((f) => f !== wanted.format)];
  formats.forEach((format, formatRank) => {
    for (const frame of format.frames) {
      for (const interval of candidateIntervals(frame)) {
        const fps = 1e7 / interval;
        const scaled =
          format === wanted.format && isCompressed(format) && reportedPayload > 0 && wantedPixels > 0
            ? Math.ceil(reportedPayload * ((frame.width * frame.height) / wantedPixels) * (fps / wantedFps))
            : estimatePayloadSize(format, frame, interval, speed);
        if (scaled > budget) continue;
        const w = wanted.frame.width;
        const h = wanted.frame.height;
        const sizeDistance = frame.width * frame.height + w * h - 2 * Math.min(frame.width, w) * Math.min(frame.height, h);
        const rank = [formatRank === 0 ? 0 : 1, sizeDistance, Math.abs(fps - wantedFps), -fps];
        if (best === null || lexicallyLess(rank, best.rank)) {
          best = {
            rank,
            suggestion: { fourcc: format.fourcc, formatIndex: format.index, frameIndex: frame.index, width: frame.width, height: frame.height, interval, fps, payloadSize: scaled },
          };
        }
      }
    }
  });
  return best === null ? null : (best as { suggestion: ModeSuggestion }).suggestion;
}

function lexicallyLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
