/**
 * H.264 / H.265 frames for frame-based formats, without a codec: the access units of a small real clip
 * (encoded-clips.ts) in turn, each carrying the frame stamp in an SEI "user data unregistered" NAL unit right after
 * its access unit delimiter. A decoder shows the clip (160x120) whatever size was negotiated; the stamp says which
 * frame it is, like the pixel stamp of the other formats.
 */
import { H264_CLIP_BASE64, H265_CLIP_BASE64 } from './encoded-clips.js';

export type AnnexBCodec = 'h264' | 'h265';

/** The SEI's UUID: "uvc-capture stamp" in ASCII. */
const STAMP_UUID = Uint8Array.from(Array.from('uvc-capture stmp', (c) => c.charCodeAt(0)));
const STAMP_MARKER = 0xb2;

const START = Uint8Array.of(0, 0, 0, 1);

function nalType(codec: AnnexBCodec, header: number): number {
  return codec === 'h264' ? header & 0x1f : (header >> 1) & 0x3f;
}

/** The NAL units of an Annex-B stream (payloads without start codes). */
export function nalUnits(stream: Uint8Array): Uint8Array[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < stream.length; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((start, k) => {
    let end = k + 1 < starts.length ? starts[k + 1]! - 3 : stream.length;
    while (end > start && stream[end - 1] === 0) end--; // the zero_byte of a 4-byte start code
    return stream.subarray(start, end);
  });
}

const clips = new Map<AnnexBCodec, Uint8Array[][]>();

/** The clip's access units, each a list of NAL units (split at the access unit delimiters). */
function accessUnits(codec: AnnexBCodec): Uint8Array[][] {
  let units = clips.get(codec);
  if (units === undefined) {
    const stream = Uint8Array.from(Buffer.from(codec === 'h264' ? H264_CLIP_BASE64 : H265_CLIP_BASE64, 'base64'));
    const aud = codec === 'h264' ? 9 : 35;
    units = [];
    for (const nal of nalUnits(stream)) {
      if (nalType(codec, nal[0]!) === aud || units.length === 0) units.push([]);
      units[units.length - 1]!.push(nal);
    }
    clips.set(codec, units);
  }
  return units;
}

/** Inserts emulation prevention bytes (00 00 0x → 00 00 03 0x) into an RBSP. */
function escape(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

function unescape(ebsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of ebsp) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

function stampSei(codec: AnnexBCodec, sequence: number): Uint8Array {
  const payload = new Uint8Array(16 + 6);
  payload.set(STAMP_UUID, 0);
  payload[16] = STAMP_MARKER;
  new DataView(payload.buffer).setUint32(17, sequence >>> 0, false);
  payload[21] = payload.subarray(16, 21).reduce((a, b) => a ^ b, 0);
  // sei_message: payloadType 5 (user data unregistered), payloadSize, payload; then rbsp_trailing_bits.
  const rbsp = Uint8Array.from([5, payload.length, ...payload, 0x80]);
  const header = codec === 'h264' ? [0x06] : [39 << 1, 0x01];
  return Uint8Array.from([...header, ...escape(rbsp)]);
}

/** The access unit sent as frame `sequence`: the clip's picture `sequence mod length`, stamped. */
export function stampedAccessUnit(codec: AnnexBCodec, sequence: number): Uint8Array {
  const units = accessUnits(codec);
  const [delimiter, ...rest] = units[sequence % units.length]!;
  const nals = [delimiter!, stampSei(codec, sequence), ...rest];
  const out = new Uint8Array(nals.reduce((n, nal) => n + START.length + nal.length, 0));
  let at = 0;
  for (const nal of nals) {
    out.set(START, at);
    out.set(nal, at + START.length);
    at += START.length + nal.length;
  }
  return out;
}

/** The frame stamp an access unit carries, or null when it has none (or a damaged one). */
export function decodeAccessUnitStamp(codec: AnnexBCodec, accessUnit: Uint8Array): number | null {
  const sei = codec === 'h264' ? 6 : 39;
  for (const nal of nalUnits(accessUnit)) {
    if (nal.length < 3 || nalType(codec, nal[0]!) !== sei) continue;
    const rbsp = unescape(nal.subarray(codec === 'h264' ? 1 : 2));
    if (rbsp[0] !== 5 || rbsp.length < 2 + 22) continue;
    const payload = rbsp.subarray(2, 2 + rbsp[1]!);
    if (payload.length < 22 || !STAMP_UUID.every((b, i) => payload[i] === b) || payload[16] !== STAMP_MARKER) continue;
    if (payload.subarray(16, 21).reduce((a, b) => a ^ b, 0) !== payload[21]) return null;
    return new DataView(payload.buffer, payload.byteOffset).getUint32(17, false);
  }
  return null;
}
