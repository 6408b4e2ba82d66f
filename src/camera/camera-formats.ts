/**
 * The formats a camera offers and the one it streams, in the words users think in (FourCC, size, frames per
 * second), built from the parsed descriptors and the negotiated stream parameters.
 */
import type { FormatKind, StreamParameters, UvcFunction, VideoFrame } from '../uvc/index.js';
import type { VideoFormatKind } from '../stream/index.js';

export interface CameraFrameSize {
  /** bFrameIndex. */
  index: number;
  width: number;
  height: number;
  /** Discrete rates, highest first; or the continuous range. */
  fps: number[] | { min: number; max: number };
  /** The same, as the device states them: frame intervals in 100 ns units. */
  intervals: number[] | { min: number; max: number; step: number };
  defaultFps: number;
  /** dwMaxVideoFrameBufferSize, where the descriptor carries it. */
  maxFrameSize: number | null;
}

export interface CameraFormat {
  /** The VideoStreaming interface offering it (cameras with several expose one stream per interface). */
  interfaceNumber: number;
  /** bFormatIndex. */
  index: number;
  /** From the descriptor: 'YUY2', 'NV12', 'MJPG', 'H264', …; '' when the GUID names no FourCC. */
  fourcc: string;
  kind: FormatKind;
  bitsPerPixel: number;
  transfer: 'iso' | 'bulk';
  frames: CameraFrameSize[];
}

/** What setFormat() settled on with the camera. */
export interface NegotiatedFormat {
  interfaceNumber: number;
  fourcc: string;
  kind: FormatKind;
  width: number;
  height: number;
  fps: number;
  /** 100 ns units. */
  interval: number;
  /** Largest frame the camera will send (the buffer size): dwMaxVideoFrameSize. */
  frameSize: number;
  /** Largest payload per (micro)frame or bulk payload: dwMaxPayloadTransferSize. */
  payloadSize: number;
  transfer: 'iso' | 'bulk';
  /** The alt setting streaming will select, and what it carries per bus interval. */
  altSetting: number;
  bytesPerInterval: number;
  /** Workarounds applied to the camera's answer (uvcvideo's fix-ups). */
  fixups: string[];
}

export function fpsOf(interval: number): number {
  return interval > 0 ? Math.round((10_000_000 / interval) * 1000) / 1000 : 0;
}

function frameSize(frame: VideoFrame): CameraFrameSize {
  const intervals = frame.intervals;
  return {
    index: frame.index,
    width: frame.width,
    height: frame.height,
    fps: Array.isArray(intervals)
      ? [...new Set(intervals.map(fpsOf))].sort((a, b) => b - a)
      : { min: fpsOf(intervals.max), max: fpsOf(intervals.min) },
    intervals: Array.isArray(intervals) ? [...intervals] : { ...intervals },
    defaultFps: fpsOf(frame.defaultInterval),
    maxFrameSize: frame.maxFrameSize,
  };
}

export function describeFormats(fn: UvcFunction): CameraFormat[] {
  const formats: CameraFormat[] = [];
  for (const vs of fn.streamingInterfaces) {
    if (vs.direction !== 'in') continue;
    for (const format of vs.formats) {
      if (format.frames.length === 0) continue;
      formats.push({
        interfaceNumber: vs.interfaceNumber,
        index: format.index,
        fourcc: format.fourcc ?? '',
        kind: format.kind,
        bitsPerPixel: format.bitsPerPixel,
        transfer: vs.transferType === 'isochronous' ? 'iso' : 'bulk',
        frames: format.frames.map(frameSize),
      });
    }
  }
  return formats;
}

export function describeNegotiated(params: StreamParameters): NegotiatedFormat {
  return {
    interfaceNumber: params.interfaceNumber,
    fourcc: params.format.fourcc ?? '',
    kind: params.format.kind,
    width: params.frame.width,
    height: params.frame.height,
    fps: fpsOf(params.interval),
    interval: params.interval,
    frameSize: params.dwMaxVideoFrameSize,
    payloadSize: params.dwMaxPayloadTransferSize,
    transfer: params.transferType === 'isochronous' ? 'iso' : 'bulk',
    altSetting: params.altSetting,
    bytesPerInterval: params.bytesPerInterval,
    fixups: [...params.fixups],
  };
}

/** How the assembler must treat the payload: sizes it can check, keyframes it can find. */
export function assemblyKindOf(params: StreamParameters): VideoFormatKind {
  const { kind, fourcc } = params.format;
  if (kind === 'uncompressed') return 'uncompressed';
  if (kind === 'mjpeg') return 'mjpeg';
  if (kind === 'h264' || fourcc === 'H264') return 'h264';
  return 'compressed';
}

/** Exact bytes of an uncompressed frame, when the descriptor says how many bits a pixel takes. */
export function expectedFrameBytes(params: StreamParameters): number | undefined {
  if (params.format.kind !== 'uncompressed' || params.format.bitsPerPixel <= 0) return undefined;
  return (params.frame.width * params.frame.height * params.format.bitsPerPixel) / 8;
}
