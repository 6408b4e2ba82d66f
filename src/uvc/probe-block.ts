/**
 * The video probe and commit control block (26 bytes in UVC 1.0, 34 in 1.1, 48 in 1.5) to and from its fields.
 * Fields the block's length does not reach are null when decoding and left out when encoding.
 */
import { UvcError } from '../errors.js';
import {
  PROBE_LENGTH_UVC10,
  PROBE_LENGTH_UVC11,
  PROBE_LENGTH_UVC15,
  ProbeField,
  type ProbeFieldsUvc10,
  type ProbeFieldsUvc11,
  type ProbeFieldsUvc15,
} from '../spec/uvc.js';

/**
 * A decoded block, fields by the specification's names. Fields the block's length does not reach are null: the
 * 1.1 fields in a 26-byte block, the 1.5 fields in a 26- or 34-byte one.
 */
export type ProbeControl = ProbeFieldsUvc10 & { [K in keyof ProbeFieldsUvc11]: ProbeFieldsUvc11[K] | null } & {
  [K in keyof ProbeFieldsUvc15]: ProbeFieldsUvc15[K] | null;
};

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
    bmHint: u16(bytes, ProbeField.bmHint),
    bFormatIndex: bytes[ProbeField.bFormatIndex]!,
    bFrameIndex: bytes[ProbeField.bFrameIndex]!,
    dwFrameInterval: u32(bytes, ProbeField.dwFrameInterval),
    wKeyFrameRate: u16(bytes, ProbeField.wKeyFrameRate),
    wPFrameRate: u16(bytes, ProbeField.wPFrameRate),
    wCompQuality: u16(bytes, ProbeField.wCompQuality),
    wCompWindowSize: u16(bytes, ProbeField.wCompWindowSize),
    wDelay: u16(bytes, ProbeField.wDelay),
    dwMaxVideoFrameSize: u32(bytes, ProbeField.dwMaxVideoFrameSize),
    dwMaxPayloadTransferSize: u32(bytes, ProbeField.dwMaxPayloadTransferSize),
    dwClockFrequency: has11 ? u32(bytes, ProbeField.dwClockFrequency) : null,
    bmFramingInfo: has11 ? bytes[ProbeField.bmFramingInfo]! : null,
    bPreferedVersion: has11 ? bytes[ProbeField.bPreferedVersion]! : null,
    bMinVersion: has11 ? bytes[ProbeField.bMinVersion]! : null,
    bMaxVersion: has11 ? bytes[ProbeField.bMaxVersion]! : null,
    bUsage: has15 ? bytes[ProbeField.bUsage]! : null,
    bBitDepthLuma: has15 ? bytes[ProbeField.bBitDepthLuma]! : null,
    bmSettings: has15 ? bytes[ProbeField.bmSettings]! : null,
    bMaxNumberOfRefFramesPlus1: has15 ? bytes[ProbeField.bMaxNumberOfRefFramesPlus1]! : null,
    bmRateControlModes: has15 ? u16(bytes, ProbeField.bmRateControlModes) : null,
    bmLayoutPerStream: has15 ? bytes.slice(ProbeField.bmLayoutPerStream, ProbeField.bmLayoutPerStream + 8) : null,
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
  put16(ProbeField.bmHint, control.bmHint);
  put8(ProbeField.bFormatIndex, control.bFormatIndex);
  put8(ProbeField.bFrameIndex, control.bFrameIndex);
  put32(ProbeField.dwFrameInterval, control.dwFrameInterval);
  put16(ProbeField.wKeyFrameRate, control.wKeyFrameRate);
  put16(ProbeField.wPFrameRate, control.wPFrameRate);
  put16(ProbeField.wCompQuality, control.wCompQuality);
  put16(ProbeField.wCompWindowSize, control.wCompWindowSize);
  put16(ProbeField.wDelay, control.wDelay);
  put32(ProbeField.dwMaxVideoFrameSize, control.dwMaxVideoFrameSize);
  put32(ProbeField.dwMaxPayloadTransferSize, control.dwMaxPayloadTransferSize);
  put32(ProbeField.dwClockFrequency, control.dwClockFrequency ?? 0);
  put8(ProbeField.bmFramingInfo, control.bmFramingInfo);
  put8(ProbeField.bPreferedVersion, control.bPreferedVersion);
  put8(ProbeField.bMinVersion, control.bMinVersion);
  put8(ProbeField.bMaxVersion, control.bMaxVersion);
  put8(ProbeField.bUsage, control.bUsage);
  put8(ProbeField.bBitDepthLuma, control.bBitDepthLuma);
  put8(ProbeField.bmSettings, control.bmSettings);
  put8(ProbeField.bMaxNumberOfRefFramesPlus1, control.bMaxNumberOfRefFramesPlus1);
  put16(ProbeField.bmRateControlModes, control.bmRateControlModes ?? 0);
  if (control.bmLayoutPerStream !== null && ProbeField.bmLayoutPerStream + 8 <= length) {
    out.set(control.bmLayoutPerStream.subarray(0, 8), ProbeField.bmLayoutPerStream);
  }
  return out;
}

/** A block with every field zero: the starting point when the device offers no default. */
export function emptyProbeControl(): ProbeControl {
  return decodeProbeControl(new Uint8Array(PROBE_LENGTH_UVC15));
}
