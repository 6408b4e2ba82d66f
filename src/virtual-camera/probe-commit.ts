/**
 * The device's side of probe/commit: it reads what the host wants, clamps every field to what it can do, and
 * answers with its counter-offer (nearest supported format, frame and interval; its real frame size; the
 * payload size its bus needs; its clock). GET_MIN/MAX/RES/DEF describe the ranges around the current choice.
 */
import { FramingInfo, ProbeField, type ProbeFields } from '../spec/uvc.js';
import { readU16, readU32 } from './byte-writer.js';
import type { DeviceLayout } from './device-layout.js';
import { isoBytesPerIntervalNeeded, smallestAltFor, type ResolvedFormat, type ResolvedFrame } from './formats.js';
import type { UvcVersion, VirtualTransfer } from './types.js';

/** The block as the device keeps it: every field, by the spec's names (see ProbeFields in spec/uvc.ts). */
export type StreamingParams = ProbeFields;

/** wCompQuality range: the spec's abstract 0 (lowest) … 10000 (highest). */
export const COMP_QUALITY_MIN = 1;
export const COMP_QUALITY_MAX = 10000;
export const COMP_QUALITY_DEFAULT = 8000;

/** The libjpeg quality a wCompQuality maps to: 20 … 95 (a camera's encoder never goes to 100). */
export function jpegQualityOf(compQuality: number): number {
  const q = Math.min(COMP_QUALITY_MAX, Math.max(COMP_QUALITY_MIN, compQuality || COMP_QUALITY_DEFAULT));
  return Math.round(20 + (75 * q) / COMP_QUALITY_MAX);
}

export function encodeStreamingParams(p: StreamingParams, length: number): Uint8Array {
  const out = new Uint8Array(48);
  const v = new DataView(out.buffer);
  v.setUint16(ProbeField.bmHint, p.bmHint, true);
  v.setUint8(ProbeField.bFormatIndex, p.bFormatIndex);
  v.setUint8(ProbeField.bFrameIndex, p.bFrameIndex);
  v.setUint32(ProbeField.dwFrameInterval, p.dwFrameInterval >>> 0, true);
  v.setUint16(ProbeField.wKeyFrameRate, p.wKeyFrameRate, true);
  v.setUint16(ProbeField.wPFrameRate, p.wPFrameRate, true);
  v.setUint16(ProbeField.wCompQuality, p.wCompQuality, true);
  v.setUint16(ProbeField.wCompWindowSize, p.wCompWindowSize, true);
  v.setUint16(ProbeField.wDelay, p.wDelay, true);
  v.setUint32(ProbeField.dwMaxVideoFrameSize, p.dwMaxVideoFrameSize >>> 0, true);
  v.setUint32(ProbeField.dwMaxPayloadTransferSize, p.dwMaxPayloadTransferSize >>> 0, true);
  v.setUint32(ProbeField.dwClockFrequency, p.dwClockFrequency >>> 0, true);
  v.setUint8(ProbeField.bmFramingInfo, p.bmFramingInfo);
  v.setUint8(ProbeField.bPreferedVersion, p.bPreferedVersion);
  v.setUint8(ProbeField.bMinVersion, p.bMinVersion);
  v.setUint8(ProbeField.bMaxVersion, p.bMaxVersion);
  v.setUint8(ProbeField.bUsage, p.bUsage);
  v.setUint8(ProbeField.bBitDepthLuma, p.bBitDepthLuma);
  v.setUint8(ProbeField.bmSettings, p.bmSettings);
  v.setUint8(ProbeField.bMaxNumberOfRefFramesPlus1, p.bMaxNumberOfRefFramesPlus1);
  v.setUint16(ProbeField.bmRateControlModes, p.bmRateControlModes, true);
  out.set(p.bmLayoutPerStream.subarray(0, 8), ProbeField.bmLayoutPerStream);
  return out.slice(0, length);
}

/** Reads the fields a host sent; fields beyond `data`'s length keep their values from `base`. */
export function decodeStreamingParams(data: Uint8Array, base: StreamingParams): StreamingParams {
  const has = (offset: number, size: number) => data.length >= offset + size;
  const u8 = (o: number, fallback: number) => (has(o, 1) ? data[o]! : fallback);
  const u16 = (o: number, fallback: number) => (has(o, 2) ? readU16(data, o) : fallback);
  const u32 = (o: number, fallback: number) => (has(o, 4) ? readU32(data, o) : fallback);
  return {
    bmHint: u16(ProbeField.bmHint, base.bmHint),
    bFormatIndex: u8(ProbeField.bFormatIndex, base.bFormatIndex),
    bFrameIndex: u8(ProbeField.bFrameIndex, base.bFrameIndex),
    dwFrameInterval: u32(ProbeField.dwFrameInterval, base.dwFrameInterval),
    wKeyFrameRate: u16(ProbeField.wKeyFrameRate, base.wKeyFrameRate),
    wPFrameRate: u16(ProbeField.wPFrameRate, base.wPFrameRate),
    wCompQuality: u16(ProbeField.wCompQuality, base.wCompQuality),
    wCompWindowSize: u16(ProbeField.wCompWindowSize, base.wCompWindowSize),
    wDelay: u16(ProbeField.wDelay, base.wDelay),
    dwMaxVideoFrameSize: u32(ProbeField.dwMaxVideoFrameSize, base.dwMaxVideoFrameSize),
    dwMaxPayloadTransferSize: u32(ProbeField.dwMaxPayloadTransferSize, base.dwMaxPayloadTransferSize),
    dwClockFrequency: u32(ProbeField.dwClockFrequency, base.dwClockFrequency),
    bmFramingInfo: u8(ProbeField.bmFramingInfo, base.bmFramingInfo),
    bPreferedVersion: u8(ProbeField.bPreferedVersion, base.bPreferedVersion),
    bMinVersion: u8(ProbeField.bMinVersion, base.bMinVersion),
    bMaxVersion: u8(ProbeField.bMaxVersion, base.bMaxVersion),
    bUsage: u8(ProbeField.bUsage, base.bUsage),
    bBitDepthLuma: u8(ProbeField.bBitDepthLuma, base.bBitDepthLuma),
    bmSettings: u8(ProbeField.bmSettings, base.bmSettings),
    bMaxNumberOfRefFramesPlus1: u8(ProbeField.bMaxNumberOfRefFramesPlus1, base.bMaxNumberOfRefFramesPlus1),
    bmRateControlModes: u16(ProbeField.bmRateControlModes, base.bmRateControlModes),
    bmLayoutPerStream: has(ProbeField.bmLayoutPerStream, 8)
      ? data.slice(ProbeField.bmLayoutPerStream, ProbeField.bmLayoutPerStream + 8)
      : base.bmLayoutPerStream.slice(),
  };
}

export interface NegotiationContext {
  formats: readonly ResolvedFormat[];
  layout: Pick<DeviceLayout, 'busIntervalUs' | 'isoAlts'>;
  transfer: VirtualTransfer;
  uvcVersion: UvcVersion;
  headerLength: number;
  clockFrequency: number;
  bulkMaxPayloadTransferSize: number;
}

/** bmHint bits the specification defines (frame interval, key frame rate, P frame rate, quality, window size). */
const ProbeHintMask = 0x001f;

/** wDelay in ms: capture to the bus takes about one frame period (render-ahead aside). */
function delayFor(interval: number): number {
  return Math.min(0xffff, Math.round(interval / 10_000));
}

/** The interval of `frame` nearest to `wanted` (0 asks for the default); ties go to the shorter interval. */
export function nearestInterval(frame: ResolvedFrame, wanted: number): number {
  if (wanted === 0) return frame.defaultInterval;
  if (frame.intervals) {
    let best = frame.intervals[0]!;
    for (const iv of frame.intervals) if (Math.abs(iv - wanted) < Math.abs(best - wanted)) best = iv;
    return best;
  }
  const { min, max, step } = frame.range!;
  const clamped = Math.min(max, Math.max(min, wanted));
  return Math.min(max, min + Math.round((clamped - min) / step) * step);
}

export class ProbeNegotiator {
  constructor(private readonly ctx: NegotiationContext) {}

  format(index: number): ResolvedFormat {
    const formats = this.ctx.formats;
    return formats[Math.min(formats.length, Math.max(1, index)) - 1]!;
  }

  frame(format: ResolvedFormat, index: number): ResolvedFrame {
    return format.frames[Math.min(format.frames.length, Math.max(1, index)) - 1]!;
  }

  /**
   * What the device really needs per payload transfer: for iso, the bytes per interval of the smallest
   * alternate setting that carries the mode (so packets fill it); for bulk, its configured payload size.
   */
  payloadSizeFor(frame: ResolvedFrame, interval: number): number {
    if (this.ctx.transfer === 'bulk') return this.ctx.bulkMaxPayloadTransferSize;
    const need = isoBytesPerIntervalNeeded(frame.maxFrameSize, interval, this.ctx.layout.busIntervalUs, this.ctx.headerLength);
    const alt = smallestAltFor(need, this.ctx.layout.isoAlts);
    // Formats were validated at construction: every interval of every frame has an alternate setting.
    return (alt ?? this.ctx.layout.isoAlts[this.ctx.layout.isoAlts.length - 1]!).bytesPerInterval;
  }

  private complete(format: ResolvedFormat, frame: ResolvedFrame, interval: number, wCompQuality: number, bmHint: number): StreamingParams {
    const v11 = this.ctx.uvcVersion !== '1.0';
    return {
      bmHint,
      bFormatIndex: format.index,
      bFrameIndex: frame.index,
      dwFrameInterval: interval,
      wKeyFrameRate: 0,
      wPFrameRate: 0,
      wCompQuality: format.compressed ? wCompQuality : 0,
      wCompWindowSize: 0,
      wDelay: delayFor(interval),
      dwMaxVideoFrameSize: frame.maxFrameSize,
      dwMaxPayloadTransferSize: this.payloadSizeFor(frame, interval),
      dwClockFrequency: this.ctx.clockFrequency,
      bmFramingInfo: v11 ? FramingInfo.FID_REQUIRED | FramingInfo.EOF_PRESENT : 0,
      bPreferedVersion: 0,
      bMinVersion: 0,
      bMaxVersion: 0,
      bUsage: 0,
      bBitDepthLuma: 0,
      bmSettings: 0,
      bMaxNumberOfRefFramesPlus1: 0,
      bmRateControlModes: 0,
      bmLayoutPerStream: new Uint8Array(8),
    };
  }

  /** GET_DEF: the first format, its default frame and interval. */
  defaults(): StreamingParams {
    const format = this.ctx.formats[0]!;
    const frame = this.frame(format, format.defaultFrameIndex);
    return this.complete(format, frame, frame.defaultInterval, COMP_QUALITY_DEFAULT, 0);
  }

  /** SET_CUR(PROBE/COMMIT): the counter-offer. */
  negotiate(wanted: StreamingParams): StreamingParams {
    const format = this.format(wanted.bFormatIndex);
    const frame = this.frame(format, wanted.bFrameIndex);
    const interval = nearestInterval(frame, wanted.dwFrameInterval);
    const quality =
      wanted.wCompQuality === 0 ? COMP_QUALITY_DEFAULT : Math.min(COMP_QUALITY_MAX, Math.max(COMP_QUALITY_MIN, wanted.wCompQuality));
    return this.complete(format, frame, interval, quality, wanted.bmHint);
  }

  /**
   * GET_MIN / GET_MAX / GET_RES, field by field (UVC 1.5 4.3.1.1: the range of each field, not a block that could be
   * committed). The host-chosen fields range over what the current format and frame allow: format and frame index
   * over what exists, dwFrameInterval over the frame's intervals (RES: the step of a continuous range, 0 for a
   * list), wCompQuality over the encoder's range for compressed formats (0 for uncompressed), wDelay with the
   * interval. The device-chosen sizes range over every mode the camera has, so that no GET_CUR answer of
   * dwMaxVideoFrameSize or dwMaxPayloadTransferSize ever lies outside [GET_MIN, GET_MAX] (a peer such as libuvc
   * takes GET_MAX's dwMaxPayloadTransferSize as the bound a negotiated mode must respect).
   */
  bound(current: StreamingParams, which: 'min' | 'max' | 'res'): StreamingParams {
    const format = this.format(current.bFormatIndex);
    const frame = this.frame(format, current.bFrameIndex);
    const p = this.complete(format, frame, frame.defaultInterval, 0, 0);
    if (which === 'res') {
      return {
        ...p,
        bFormatIndex: 1,
        bFrameIndex: 1,
        dwFrameInterval: frame.range ? frame.range.step : 0,
        wCompQuality: format.compressed ? 1 : 0,
        wDelay: 0,
        dwMaxVideoFrameSize: 0,
        dwMaxPayloadTransferSize: 0,
        dwClockFrequency: 0,
        bmFramingInfo: 0,
      };
    }
    const pick = (values: number[]) => (which === 'min' ? Math.min(...values) : Math.max(...values));
    const modes = this.ctx.formats.flatMap((f) =>
      f.frames.flatMap((fr) => (fr.intervals ?? [fr.minInterval, fr.maxInterval]).map((interval) => ({ frame: fr, interval }))),
    );
    const interval = which === 'min' ? frame.minInterval : frame.maxInterval;
    return {
      ...p,
      bmHint: which === 'min' ? 0 : ProbeHintMask,
      bFormatIndex: which === 'min' ? 1 : this.ctx.formats.length,
      bFrameIndex: which === 'min' ? 1 : format.frames.length,
      dwFrameInterval: interval,
      wCompQuality: format.compressed ? (which === 'min' ? COMP_QUALITY_MIN : COMP_QUALITY_MAX) : 0,
      wDelay: delayFor(interval),
      dwMaxVideoFrameSize: pick(modes.map((m) => m.frame.maxFrameSize)),
      dwMaxPayloadTransferSize: pick(modes.map((m) => this.payloadSizeFor(m.frame, m.interval))),
    };
  }
}
