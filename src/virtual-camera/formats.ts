/**
 * The video formats a virtual camera offers, their frame sizes and intervals, and what each mode costs on the
 * bus. A mode the camera's isochronous alternate settings cannot carry is refused at construction, the way a
 * real camera leaves 720p30 YUYV out of its high-speed descriptors.
 */
import { fourccGuid } from '../spec/uvc.js';
import type { DeviceLayout, IsoAltSetting } from './device-layout.js';
import { stampGeometry } from './frame-stamp.js';
import type { VirtualSpeed, VirtualTransfer, InvalidOption } from './types.js';

/** What a format carries. 'h264' and 'h265' come only from a real camera's face (frame-based formats). */
export type PixelFormat = 'yuyv' | 'nv12' | 'mjpeg' | 'h264' | 'h265';

export interface FrameSpec {
  width: number;
  height: number;
  /** Discrete frame rates (converted to intervals of floor(10^7 / fps) × 100 ns). */
  fps?: readonly number[];
  /** Discrete frame intervals in 100 ns units (the UVC unit). */
  intervals?: readonly number[];
  /** A continuous range of intervals (bFrameIntervalType 0), in 100 ns units. */
  intervalRange?: { min: number; max: number; step: number };
  /** dwDefaultFrameInterval; default the shortest interval. */
  defaultInterval?: number;
}

export interface FormatSpec {
  format: PixelFormat;
  frames: readonly FrameSpec[];
  /** Zero-based index into `frames` of bDefaultFrameIndex. Default 0. */
  defaultFrame?: number;
}

export interface ResolvedFrame {
  /** bFrameIndex, from 1. */
  index: number;
  width: number;
  height: number;
  /** Discrete intervals, shortest first; null for a continuous range. */
  intervals: number[] | null;
  range: { min: number; max: number; step: number } | null;
  defaultInterval: number;
  minInterval: number;
  maxInterval: number;
  /** dwMaxVideoFrameBufferSize: the exact size for uncompressed formats, a bound the encoder keeps for MJPEG. */
  maxFrameSize: number;
}

export interface ResolvedFormat {
  /** bFormatIndex, from 1. */
  index: number;
  kind: PixelFormat;
  compressed: boolean;
  /** Uncompressed formats: bBitsPerPixel and guidFormat. */
  bitsPerPixel: number;
  guid: Uint8Array | null;
  /** bDefaultFrameIndex, from 1. */
  defaultFrameIndex: number;
  frames: ResolvedFrame[];
}

const fpsList = (...fps: number[]) => fps;

/** The formats each speed offers when the caller names none (see issue 8). */
export function defaultFormats(speed: VirtualSpeed): FormatSpec[] {
  if (speed === 'full') {
    return [
      {
        format: 'yuyv',
        frames: [
          { width: 160, height: 120, fps: fpsList(15, 10, 5) },
          { width: 320, height: 240, fps: fpsList(5) },
        ],
      },
      {
        format: 'mjpeg',
        frames: [
          { width: 320, height: 240, fps: fpsList(30, 15, 5) },
          { width: 640, height: 480, fps: fpsList(10, 5) },
        ],
      },
    ];
  }
  const mjpeg: FormatSpec = {
    format: 'mjpeg',
    frames: [
      { width: 640, height: 480, fps: fpsList(30, 15, 5) },
      { width: 1280, height: 720, fps: fpsList(30, 15, 5) },
      { width: 1920, height: 1080, fps: fpsList(30, 15, 5) },
    ],
  };
  if (speed === 'high') {
    return [
      {
        format: 'yuyv',
        frames: [
          { width: 640, height: 480, fps: fpsList(30, 15, 5) },
          // 720p YUYV needs 55 MB/s at 30 fps; a high-speed iso endpoint moves 24.6 MB/s at most.
          { width: 1280, height: 720, fps: fpsList(10, 5) },
        ],
      },
      mjpeg,
    ];
  }
  return [
    {
      format: 'yuyv',
      frames: [
        { width: 640, height: 480, fps: fpsList(30, 15, 5) },
        { width: 1280, height: 720, fps: fpsList(30, 15, 5) },
        { width: 1920, height: 1080, fps: fpsList(30, 15, 5) },
      ],
    },
    mjpeg,
  ];
}

/** Bytes of one frame of an uncompressed format, or the bound an MJPEG frame never exceeds. */
export function maxFrameSizeOf(kind: PixelFormat, width: number, height: number): number {
  switch (kind) {
    case 'yuyv':
      return width * height * 2;
    case 'nv12':
      return (width * height * 3) / 2;
    case 'h264':
    case 'h265':
    case 'mjpeg':
      // Our synthetic picture compresses to well under 0.05 byte per pixel; a quarter byte leaves the encoder
      // plenty of room, and jpeg.ts re-encodes at a lower quality should a frame ever exceed it.
      return Math.max(16 * 1024, Math.ceil((width * height) / 4));
  }
}

/**
 * Bytes per bus interval an isochronous stream of this mode needs: the frame spread over 90 % of the bus
 * intervals in a frame period (the rest is slack for idle packets), plus a payload header in every packet.
 */
export function isoBytesPerIntervalNeeded(
  frameSize: number,
  interval100ns: number,
  busIntervalUs: number,
  headerLength: number,
): number {
  const intervals = (interval100ns / 10 / busIntervalUs) * 0.9;
  const usable = Math.max(1, Math.floor(intervals));
  return Math.ceil(frameSize / usable) + headerLength;
}

/** The smallest alternate setting that moves at least `bytes` per interval, or null. */
export function smallestAltFor(bytes: number, alts: readonly IsoAltSetting[]): IsoAltSetting | null {
  let best: IsoAltSetting | null = null;
  for (const alt of alts) {
    if (alt.bytesPerInterval >= bytes && (best === null || alt.bytesPerInterval < best.bytesPerInterval)) best = alt;
  }
  return best;
}

/** 10^7 / fps, truncated as camera descriptors do (15 fps is 666666, not 666667). */
export function fpsToInterval(fps: number): number {
  return Math.max(1, Math.floor(10_000_000 / fps));
}

interface ResolveContext {
  speed: VirtualSpeed;
  transfer: VirtualTransfer;
  layout: DeviceLayout;
  headerLength: number;
  invalid: InvalidOption;
}

function isPositiveInteger(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;
}

function resolveFrame(kind: PixelFormat, spec: FrameSpec, index: number, where: string, ctx: ResolveContext): ResolvedFrame {
  const { invalid } = ctx;
  if (typeof spec !== 'object' || spec === null) invalid(`${where} must be an object`);
  const { width, height } = spec;
  if (!isPositiveInteger(width, 8192) || !isPositiveInteger(height, 8192)) {
    invalid(`${where}: width and height must be integers in [1, 8192]`);
  }
  if (width % 2 !== 0) invalid(`${where}: width must be even (${width})`);
  if (kind === 'nv12' && height % 2 !== 0) invalid(`${where}: NV12 height must be even (${height})`);
  if (stampGeometry(width, height) === null) {
    invalid(`${where}: ${width}×${height} is too small to carry the frame stamp (at least 64×48)`);
  }

  const given = [spec.fps, spec.intervals, spec.intervalRange].filter((v) => v !== undefined).length;
  if (given !== 1) invalid(`${where}: give exactly one of fps, intervals or intervalRange`);

  let intervals: number[] | null = null;
  let range: ResolvedFrame['range'] = null;
  if (spec.fps !== undefined) {
    if (!Array.isArray(spec.fps) || spec.fps.length === 0) invalid(`${where}: fps must be a non-empty array`);
    intervals = spec.fps.map((fps) => {
      if (typeof fps !== 'number' || !Number.isFinite(fps) || fps <= 0 || fps > 10_000_000) {
        invalid(`${where}: frame rate ${String(fps)} is not a positive number`);
      }
      return fpsToInterval(fps);
    });
  } else if (spec.intervals !== undefined) {
    if (!Array.isArray(spec.intervals) || spec.intervals.length === 0) invalid(`${where}: intervals must be a non-empty array`);
    intervals = spec.intervals.map((iv) => {
      if (!isPositiveInteger(iv, 0xffffffff)) invalid(`${where}: interval ${String(iv)} is not a positive 32-bit integer`);
      return iv;
    });
  } else {
    const r = spec.intervalRange!;
    if (
      typeof r !== 'object' ||
      !isPositiveInteger(r.min, 0xffffffff) ||
      !isPositiveInteger(r.max, 0xffffffff) ||
      !isPositiveInteger(r.step, 0xffffffff) ||
      r.max < r.min ||
      (r.max - r.min) % r.step !== 0
    ) {
      invalid(`${where}: intervalRange needs min ≤ max, step ≥ 1 and max = min + k × step`);
    }
    range = { min: r.min, max: r.max, step: r.step };
  }
  if (intervals !== null) {
    intervals = [...new Set(intervals)].sort((a, b) => a - b);
    if (intervals.length > 255) invalid(`${where}: at most 255 discrete intervals`);
  }
  const minInterval = intervals ? intervals[0]! : range!.min;
  const maxInterval = intervals ? intervals[intervals.length - 1]! : range!.max;

  let defaultInterval = minInterval;
  if (spec.defaultInterval !== undefined) {
    const d = spec.defaultInterval;
    const ok = intervals
      ? intervals.includes(d)
      : isPositiveInteger(d, 0xffffffff) && d >= range!.min && d <= range!.max && (d - range!.min) % range!.step === 0;
    if (!ok) invalid(`${where}: defaultInterval ${String(d)} is not one of the frame's intervals`);
    defaultInterval = d;
  }

  const maxFrameSize = maxFrameSizeOf(kind, width, height);
  if (ctx.transfer === 'iso') {
    const need = isoBytesPerIntervalNeeded(maxFrameSize, minInterval, ctx.layout.busIntervalUs, ctx.headerLength);
    if (smallestAltFor(need, ctx.layout.isoAlts) === null) {
      const top = Math.max(...ctx.layout.isoAlts.map((a) => a.bytesPerInterval));
      const fps = (10_000_000 / minInterval).toFixed(2);
      invalid(
        `${where}: ${kind.toUpperCase()} ${width}×${height} at ${fps} fps needs ${need} bytes per bus interval; ` +
          `the fastest ${ctx.speed}-speed alternate setting moves ${top}`,
        { width, height, interval: minInterval, needed: need, available: top },
      );
    }
  }
  return { index, width, height, intervals, range, defaultInterval, minInterval, maxInterval, maxFrameSize };
}

export function resolveFormats(specs: readonly FormatSpec[], ctx: ResolveContext): ResolvedFormat[] {
  const { invalid } = ctx;
  if (!Array.isArray(specs) || specs.length === 0) invalid('formats must be a non-empty array');
  if (specs.length > 32) invalid('at most 32 formats');
  return specs.map((spec, f) => {
    const where = `formats[${f}]`;
    if (typeof spec !== 'object' || spec === null) invalid(`${where} must be an object`);
    const kind = spec.format;
    if (kind !== 'yuyv' && kind !== 'nv12' && kind !== 'mjpeg') {
      invalid(`${where}.format must be 'yuyv', 'nv12' or 'mjpeg', got ${JSON.stringify(kind)}`);
    }
    if (!Array.isArray(spec.frames) || spec.frames.length === 0) invalid(`${where}.frames must be a non-empty array`);
    if (spec.frames.length > 32) invalid(`${where}: at most 32 frames`);
    const frames = spec.frames.map((fr, i) => resolveFrame(kind, fr, i + 1, `${where}.frames[${i}]`, ctx));
    const defaultFrame = spec.defaultFrame ?? 0;
    if (!Number.isInteger(defaultFrame) || defaultFrame < 0 || defaultFrame >= frames.length) {
      invalid(`${where}.defaultFrame must index one of its frames`);
    }
    return {
      index: f + 1,
      kind,
      compressed: kind === 'mjpeg',
      bitsPerPixel: kind === 'yuyv' ? 16 : kind === 'nv12' ? 12 : 0,
      guid: kind === 'yuyv' ? fourccGuid('YUY2') : kind === 'nv12' ? fourccGuid('NV12') : null,
      defaultFrameIndex: defaultFrame + 1,
      frames,
    };
  });
}
