/**
 * Choosing a format, frame size and frame interval from what the user asks for.
 *
 * The rule (exported as NEAREST_MATCH_RULE so tools can show it):
 *  1. Only capture (input) VideoStreaming interfaces take part, or the one `interfaceNumber` names; only formats
 *     with frames (MPEG-2 TS and stream-based formats have none and cannot be chosen this way).
 *  2. `fourcc` filters formats ('YUYV' is taken for 'YUY2', 'MJPEG' for 'MJPG', 'HEVC' for 'H265'); no such format → ENOENT, never
 *     another pixel format.
 *  3. Among the remaining frames the nearest size wins. With width and height, the distance is the area the two
 *     rectangles do not share (uvcvideo's measure): w·h + W·H − 2·min(w,W)·min(h,H). With only one of them, the
 *     difference in that dimension. With neither, each format's default frame.
 *  4. Within a frame, the interval nearest the wanted rate (in frames per second) is taken: from the list for
 *     discrete intervals; for continuous ones the wanted interval clamped to [min, max] and snapped to the step
 *     grid. No rate asked: the frame's default interval. Frames are then ranked by that rate distance.
 *  5. Ties go to the larger frame (when a size was asked), then the higher rate, then the format and frame the
 *     device lists first.
 * The result says whether every given criterion was met exactly (`exact`).
 */
import { UvcError } from '../errors.js';
import type { UvcFunction, VideoFormat, VideoFrame, VideoStreamingInterface } from './descriptors/model.js';

export const NEAREST_MATCH_RULE =
  'Capture interfaces and formats with frames only; fourcc filters (YUYV = YUY2, MJPEG = MJPG, HEVC = H265) and never falls back ' +
  'to another format; the nearest frame size wins (with width and height: the area the rectangles do not share; ' +
  'with one: its difference; with none: each format\'s default frame); within a frame the interval nearest the wanted ' +
  'rate (discrete: from the list; continuous: clamped and snapped to the step), else the default interval; frames ' +
  'are then ranked by rate distance; ties go to the larger frame (when a size was asked), the higher rate, then the ' +
  'device\'s order.';

export interface FormatRequest {
  /** 'YUY2', 'MJPG', 'H264', 'NV12', … (case-insensitive). */
  fourcc?: string;
  width?: number;
  height?: number;
  /** Frames per second, e.g. 30 or 29.97. */
  fps?: number;
  /** The frame interval in 100 ns units; wins over fps. */
  interval?: number;
  /** Restrict to one VideoStreaming interface. */
  interfaceNumber?: number;
}

export interface FormatSelection {
  streaming: VideoStreamingInterface;
  format: VideoFormat;
  frame: VideoFrame;
  /** 100 ns units. */
  interval: number;
  fps: number;
  /** Every criterion the request gave is met exactly. */
  exact: boolean;
}

const FOURCC_ALIASES: Readonly<Record<string, string>> = { YUYV: 'YUY2', MJPEG: 'MJPG', JPEG: 'MJPG', HEVC: 'H265' };

export function normalizeFourcc(fourcc: string): string {
  const upper = fourcc.toUpperCase();
  return FOURCC_ALIASES[upper] ?? upper;
}

function fpsOf(interval: number): number {
  return interval > 0 ? 1e7 / interval : 0;
}

function positive(value: number | undefined, name: string): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new UvcError('EINVAL', `${name} must be a positive number, got ${String(value)}`, { details: { [name]: value } });
  }
}

/** The interval of `frame` nearest `wanted` (100 ns units). */
export function nearestInterval(frame: VideoFrame, wanted: number): number {
  const intervals = frame.intervals;
  if (Array.isArray(intervals)) {
    let best = intervals[0]!;
    for (const candidate of intervals) {
      const d = Math.abs(fpsOf(candidate) - fpsOf(wanted));
      const bestD = Math.abs(fpsOf(best) - fpsOf(wanted));
      if (d < bestD || (d === bestD && candidate < best)) best = candidate;
    }
    return best;
  }
  const { min, max, step } = intervals;
  const clamped = Math.min(max, Math.max(min, wanted));
  if (step <= 0) return Math.round(clamped);
  const k = Math.round((clamped - min) / step);
  let snapped = min + k * step;
  if (snapped > max) snapped -= step;
  return Math.max(min, Math.round(snapped));
}

function sizeDistance(frame: VideoFrame, format: VideoFormat, request: FormatRequest): number {
  const { width, height } = request;
  if (width !== undefined && height !== undefined) {
    return frame.width * frame.height + width * height - 2 * Math.min(frame.width, width) * Math.min(frame.height, height);
  }
  if (width !== undefined) return Math.abs(frame.width - width);
  if (height !== undefined) return Math.abs(frame.height - height);
  return frame.index === format.defaultFrameIndex ? 0 : 1;
}

interface Candidate {
  selection: FormatSelection;
  size: number;
  rate: number;
  area: number;
  order: number;
}

function better(a: Candidate, b: Candidate): boolean {
  if (a.size !== b.size) return a.size < b.size;
  if (a.rate !== b.rate) return a.rate < b.rate;
  if (a.area !== b.area) return a.area > b.area;
  if (a.selection.fps !== b.selection.fps) return a.selection.fps > b.selection.fps;
  return a.order < b.order;
}

export function selectFormat(fn: UvcFunction, request: FormatRequest = {}): FormatSelection {
  positive(request.width, 'width');
  positive(request.height, 'height');
  positive(request.fps, 'fps');
  positive(request.interval, 'interval');
  if (request.fourcc !== undefined && (typeof request.fourcc !== 'string' || request.fourcc.length === 0)) {
    throw new UvcError('EINVAL', 'fourcc must be a non-empty string', { details: { fourcc: request.fourcc } });
  }

  const interfaces = fn.streamingInterfaces.filter((s) =>
    request.interfaceNumber === undefined ? s.direction === 'in' : s.interfaceNumber === request.interfaceNumber,
  );
  if (interfaces.length === 0) {
    throw new UvcError(
      'ENOENT',
      request.interfaceNumber === undefined
        ? 'the device has no video capture interface'
        : `no VideoStreaming interface ${request.interfaceNumber}`,
      { details: { interfaceNumber: request.interfaceNumber } },
    );
  }

  const wantedFourcc = request.fourcc === undefined ? undefined : normalizeFourcc(request.fourcc);
  const wantedInterval = request.interval ?? (request.fps === undefined ? undefined : 1e7 / request.fps);
  let best: Candidate | null = null;
  let order = 0;
  const available = new Set<string>();

  for (const streaming of interfaces) {
    for (const format of streaming.formats) {
      if (format.frames.length === 0) continue;
      const fourcc = format.fourcc === null ? null : normalizeFourcc(format.fourcc);
      if (fourcc !== null) available.add(fourcc);
      if (wantedFourcc !== undefined && fourcc !== wantedFourcc) continue;
      for (const frame of format.frames) {
        const interval = wantedInterval === undefined ? frame.defaultInterval : nearestInterval(frame, wantedInterval);
        const fps = fpsOf(interval);
        const candidate: Candidate = {
          selection: { streaming, format, frame, interval, fps, exact: false },
          size: sizeDistance(frame, format, request),
          rate: wantedInterval === undefined ? 0 : Math.abs(fps - fpsOf(wantedInterval)),
          // with no size asked, the device's order (its first format's default frame) decides, not the area
          area: request.width === undefined && request.height === undefined ? 0 : frame.width * frame.height,
          order: order++,
        };
        if (best === null || better(candidate, best)) best = candidate;
      }
    }
  }

  if (best === null) {
    const list = [...available].join(', ') || 'none';
    throw new UvcError(
      'ENOENT',
      wantedFourcc === undefined ? 'the device offers no video format with frames' : `the device has no ${wantedFourcc} format (it has: ${list})`,
      { details: { fourcc: wantedFourcc, available: [...available] } },
    );
  }

  const s = best.selection;
  const rateExact = wantedInterval === undefined || Math.abs(s.fps - fpsOf(wantedInterval)) <= fpsOf(wantedInterval) * 0.001;
  s.exact =
    (request.width === undefined || request.width === s.frame.width) &&
    (request.height === undefined || request.height === s.frame.height) &&
    rateExact;
  return s;
}
