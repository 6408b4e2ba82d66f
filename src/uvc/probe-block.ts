/**
 * The video probe and commit control block (26 bytes in UVC 1.0, 34 in 1.1, 48 in 1.5) to and from its fields.
 * Fields the block's length does not reach are null when decoding and left out when encoding.
 */
import { UvcError } from '../errors.js';
import { PROBE_LENGTH_UVC10, PROBE_LENGTH_UVC11, PROBE_LENGTH_UVC15, ProbeField } from '../spec/uvc.js';

export interface ProbeControl {
  hint: number;
  formatIndex: number;
  frameIndex: number;
  /** 100 ns units. */
  frameInterval: number;
  keyFrameRate: number;
  pFrameRate: number;
  compQuality: number;
  compWindowSize: number;
  delay: number;
  maxVideoFrameSize: number;
  maxPayloadTransferSize: number;
  /** UVC 1.1+ (blocks of 34 bytes or more). */
  clockFrequency: number | null;
  framingInfo: number | null;
  preferredVersion: number | null;
  minVersion: number | null;
  maxVersion: number | null;
  /** UVC 1.5 (48 bytes). */
  usage: number | null;
  bitDepthLuma: number | null;
  settings: number | null;
  maxNumberOfRefFramesPlus1: number | null;
  rateControlModes: number | null;
  layoutPerStream: Uint8Array | null;
}

/** The block length a UVC version defines. */
export function probeLengthForVersion(bcdUVC: number): number {
  if (bcdUVC < 0x0110) return PROBE_LENGTH_UVC10;
  if (bcdUVC < 0x0150) return PROBE_LENGTH_UVC11;
  return PROBE_LENGTH_UVC15;
}

const u16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

export function decodeProbeControl(bytes: Uint8Array): ProbeControl {
  if (bytes.length < PROBE_LENGTH_UVC10) {
    throw new UvcError('EPROTO', `probe/commit block of ${bytes.length} bytes; at least ${PROBE_LENGTH_UVC10} are needed`, {
      details: { length: bytes.length },
    });
  }
  const has11 = bytes.length >= PROBE_LENGTH_UVC11;
  const has15 = bytes.length >= PROBE_LENGTH_UVC15;
  return {
    hint: u16(bytes, ProbeField.bmHint),
    formatIndex: bytes[ProbeField.bFormatIndex]!,
    frameIndex: bytes[ProbeField.bFrameIndex]!,
    frameInterval: u32(bytes, ProbeField.dwFrameInterval),
    keyFrameRate: u16(bytes, ProbeField.wKeyFrameRate),
    pFrameRate: u16(bytes, ProbeField.wPFrameRate),
    compQuality: u16(bytes, ProbeField.wCompQuality),
    compWindowSize: u16(bytes, ProbeField.wCompWindowSize),
    delay: u16(bytes, ProbeField.wDelay),
    maxVideoFrameSize: u32(bytes, ProbeField.dwMaxVideoFrameSize),
    maxPayloadTransferSize: u32(bytes, ProbeField.dwMaxPayloadTransferSize),
    clockFrequency: has11 ? u32(bytes, ProbeField.dwClockFrequency) : null,
    framingInfo: has11 ? bytes[ProbeField.bmFramingInfo]! : null,
    preferredVersion: has11 ? bytes[ProbeField.bPreferedVersion]! : null,
    minVersion: has11 ? bytes[ProbeField.bMinVersion]! : null,
    maxVersion: has11 ? bytes[ProbeField.bMaxVersion]! : null,
    usage: has15 ? bytes[ProbeField.bUsage]! : null,
    bitDepthLuma: has15 ? bytes[ProbeField.bBitDepthLuma]! : null,
    settings: has15 ? bytes[ProbeField.bmSettings]! : null,
    maxNumberOfRefFramesPlus1: has15 ? bytes[ProbeField.bMaxNumberOfRefFramesPlus1]! : null,
    rateControlModes: has15 ? u16(bytes, ProbeField.bmRateControlModes) : null,
    layoutPerStream: has15 ? bytes.slice(ProbeField.bmLayoutPerStream, ProbeField.bmLayoutPerStream + 8) : null,
  };
}

/** `length` bytes of block; fields past it are dropped, fields it has but `control` lacks are zero. */
export function encodeProbeControl(control: ProbeControl, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const put16 = (at: number, v: number): void => {
    if (at + 2 > length) return;
    out[at] = v & 0xff;
    out[at + 1] = (v >> 8) & 0xff;
  };
  const put32 = (at: number, v: number): void => {
    if (at + 4 > length) return;
    for (let i = 0; i < 4; i++) out[at + i] = (v >>> (8 * i)) & 0xff;
  };
  const put8 = (at: number, v: number | null): void => {
    if (at < length && v !== null) out[at] = v & 0xff;
  };
  put16(ProbeField.bmHint, control.hint);
  put8(ProbeField.bFormatIndex, control.formatIndex);
  put8(ProbeField.bFrameIndex, control.frameIndex);
  put32(ProbeField.dwFrameInterval, control.frameInterval);
  put16(ProbeField.wKeyFrameRate, control.keyFrameRate);
  put16(ProbeField.wPFrameRate, control.pFrameRate);
  put16(ProbeField.wCompQuality, control.compQuality);
  put16(ProbeField.wCompWindowSize, control.compWindowSize);
  put16(ProbeField.wDelay, control.delay);
  put32(ProbeField.dwMaxVideoFrameSize, control.maxVideoFrameSize);
  put32(ProbeField.dwMaxPayloadTransferSize, control.maxPayloadTransferSize);
  put32(ProbeField.dwClockFrequency, control.clockFrequency ?? 0);
  put8(ProbeField.bmFramingInfo, control.framingInfo);
  put8(ProbeField.bPreferedVersion, control.preferredVersion);
  put8(ProbeField.bMinVersion, control.minVersion);
  put8(ProbeField.bMaxVersion, control.maxVersion);
  put8(ProbeField.bUsage, control.usage);
  put8(ProbeField.bBitDepthLuma, control.bitDepthLuma);
  put8(ProbeField.bmSettings, control.settings);
  put8(ProbeField.bMaxNumberOfRefFramesPlus1, control.maxNumberOfRefFramesPlus1);
  put16(ProbeField.bmRateControlModes, control.rateControlModes ?? 0);
  if (control.layoutPerStream !== null && ProbeField.bmLayoutPerStream + 8 <= length) {
    out.set(control.layoutPerStream.subarray(0, 8), ProbeField.bmLayoutPerStream);
  }
  return out;
}

/** A block with every field zero: the starting point when the device offers no default. */
export function emptyProbeControl(): ProbeControl {
  return decodeProbeControl(new Uint8Array(PROBE_LENGTH_UVC15));
}
