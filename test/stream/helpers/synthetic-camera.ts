/**
 * A synthetic UVC camera on the bus side of the stepped device (stepped-device.ts): it cuts numbered frames into iso packets or bulk
 * payloads, with the framing quirks real cameras have and random faults, and remembers the truth about every
 * frame so a test can judge what the driver delivered.
 *
 * Frame content is a function of the frame number (frameContent), so a delivered frame is checked byte for byte
 * without keeping copies.
 */
import { PayloadHeader } from '../../../src/spec/uvc.js';
import type { BusSource } from './stepped-device.js';
import { Random } from './random.js';

export type Framing = 'standard' | 'no-eof' | 'no-fid' | 'late-fid';
export type Kind = 'uncompressed' | 'mjpeg' | 'h264';

export interface FaultRates {
  /** Per frame: one of its packets is lost (iso packet status error, or a failed bulk transfer). */
  lostPacket: number;
  /** Per frame: one payload carries the ERR bit. */
  errBit: number;
  /** Per frame: the EOF bit is missing (only where a driver can still tell the frame's end). */
  missingEof: number;
  /** Per frame (uncompressed): fewer bytes than the format says. */
  shortFrame: number;
  /** Per frame: one payload header is invalid. */
  bogusHeader: number;
}

export interface CameraSpec {
  kind: Kind;
  transfer: 'iso' | 'bulk';
  framing: Framing;
  /** Uncompressed: the exact frame size; compressed: the largest. */
  frameSize: number;
  /** Compressed: the smallest frame. */
  minFrameSize?: number;
  /** iso: bytes per packet slot (header included). */
  packetSize: number;
  /** 2 (no PTS/SCR) or 12. */
  headerLength: 2 | 12;
  /** iso: header-only packets after each frame (after the padding to a constant frame period, if any). */
  idlePackets: number;
  /** iso, compressed: pad every frame with idle packets to the slots of the largest frame, as a camera at a
   *  fixed frame rate does. Default true. */
  constantRate?: boolean;
  /** bulk: dwMaxPayloadTransferSize. */
  maxPayload: number;
  faults: FaultRates;
  seed: number;
}

export interface FrameTruth {
  n: number;
  size: number;
  /** Data of this frame was lost, refused or cut short: it must never be delivered as good. */
  damaged: boolean;
  /** The camera set ERR on it: it must be delivered flagged. */
  errBit: boolean;
  /** A fault (loss, bogus header, gap, failed transfer, short frame, missing EOF) touched this frame or the
   *  idle time before it. */
  faultNearby: boolean;
  /** Some fault other than lost bus time (a back-pressure gap) touched it. */
  otherFault: boolean;
}

interface Packet {
  bytes: Uint8Array;
  frame: number;
  lost: boolean;
  data: boolean;
}

const NUMBER_BYTES = 5;

/** Frame n's size: exact for uncompressed, varying with n for compressed formats. */
export function frameSize(spec: Pick<CameraSpec, 'kind' | 'frameSize' | 'minFrameSize'>, n: number): number {
  if (spec.kind === 'uncompressed') return spec.frameSize;
  const min = spec.minFrameSize ?? Math.floor(spec.frameSize / 2);
  const hash = Math.imul(n + 1, 0x9e3779b1) >>> 0;
  return min + (hash % (spec.frameSize - min + 1));
}

/**
 * The bytes of frame n: a format-shaped prefix, the frame number in 5 bytes of 6 bits each (never 0x00 or 0xFF,
 * so it can't fake a start code or a JPEG marker), then a pattern with neither byte either.
 */
export function frameContent(kind: Kind, n: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  if (kind === 'mjpeg') {
    out[at++] = 0xff;
    out[at++] = 0xd8;
  } else if (kind === 'h264') {
    out.set([0, 0, 0, 1, n % 8 === 0 ? 0x65 : 0x41], 0);
    at = 5;
  }
  for (let k = 0; k < NUMBER_BYTES && at < size; k++) out[at++] = 0x80 | ((n >>> (6 * k)) & 0x3f);
  for (let i = at; i < size; i++) out[i] = 1 + ((n * 131 + i * 7 + (i >> 9)) % 253);
  if (kind === 'mjpeg' && size >= 4) {
    out[size - 2] = 0xff;
    out[size - 1] = 0xd9;
  }
  return out;
}

/** The frame number written by frameContent, or -1. */
export function frameNumberOf(kind: Kind, data: Uint8Array): number {
  const at = kind === 'mjpeg' ? 2 : kind === 'h264' ? 5 : 0;
  if (data.length < at + NUMBER_BYTES) return -1;
  let n = 0;
  for (let k = 0; k < NUMBER_BYTES; k++) {
    const byte = data[at + k]!;
    if ((byte & 0xc0) !== 0x80) return -1;
    n |= (byte & 0x3f) << (6 * k);
  }
  return n >>> 0;
}

export class SyntheticCamera implements BusSource {
  readonly spec: CameraSpec;
  readonly truth: FrameTruth[] = [];
  private readonly random: Random;
  private packets: Packet[] = [];
  private next = 0;
  private busPacket = 0;
  // bulk
  private payloads: { bytes: Uint8Array; frame: number; failAt: number }[] = [];
  private payloadOffset = 0;
  private zlpPending = false;

  constructor(spec: CameraSpec) {
    this.spec = spec;
    this.random = new Random(spec.seed);
  }

  /** Frames the camera has started so far. */
  get framesGenerated(): number {
    return this.next;
  }

  restart(): void {
    // A fresh stream starts with a fresh frame: whatever was left of the current one is never sent.
    for (const packet of this.packets) this.touch(packet.frame, packet.data);
    this.packets = [];
    if (this.payloads.length > 0) this.touch(this.payloads[0]!.frame, true);
    this.payloads = [];
    this.payloadOffset = 0;
    this.zlpPending = false;
  }

  isoPacket(into: Uint8Array, offset: number, capacity: number): number {
    const packet = this.nextPacket();
    this.busPacket++;
    if (packet.lost) return -1;
    if (packet.bytes.length > capacity) throw new Error('synthetic camera: packet larger than its slot');
    this.stampScr(packet.bytes);
    into.set(packet.bytes, offset);
    return packet.bytes.length;
  }

  isoMissed(): void {
    const packet = this.nextPacket();
    this.busPacket++;
    this.touch(packet.frame, packet.data, false);
  }

  bulkChunk(into: Uint8Array, capacity: number): number {
    if (this.zlpPending) {
      this.zlpPending = false;
      return 0;
    }
    if (this.payloads.length === 0) this.makeFrame();
    const payload = this.payloads[0]!;
    const length = Math.min(capacity, payload.bytes.length - this.payloadOffset);
    const failed = payload.failAt >= this.payloadOffset && payload.failAt < this.payloadOffset + length;
    if (!failed) into.set(payload.bytes.subarray(this.payloadOffset, this.payloadOffset + length), 0);
    this.payloadOffset += length;
    if (this.payloadOffset >= payload.bytes.length) {
      this.payloads.shift();
      this.payloadOffset = 0;
      // A payload that ends exactly at a transfer's end, short of the maximum, is closed by a zero-length packet.
      if (length === capacity && payload.bytes.length < this.spec.maxPayload) this.zlpPending = true;
    }
    if (failed) {
      this.truthOf(payload.frame).damaged = true;
      this.truthOf(payload.frame).faultNearby = true;
      this.truthOf(payload.frame).otherFault = true;
      return -1;
    }
    return length;
  }

  private touch(frame: number, data: boolean, other = true): void {
    const truth = this.truthOf(frame);
    truth.faultNearby = true;
    truth.otherFault ||= other;
    if (data) truth.damaged = true;
    // Lost idle packets sit before the next frame: a driver may flag that one too.
    if (!data) {
      const next = this.truthOf(frame + 1);
      next.faultNearby = true;
      next.otherFault ||= other;
    }
  }

  private truthOf(n: number): FrameTruth {
    while (this.truth.length <= n) {
      this.truth.push({ n: this.truth.length, size: 0, damaged: false, errBit: false, faultNearby: false, otherFault: false });
    }
    return this.truth[n]!;
  }

  private nextPacket(): Packet {
    if (this.packets.length === 0) this.makeFrame();
    return this.packets.shift()!;
  }

  /** The SCR follows the bus clock: 48 MHz device clock, 1 kHz SOF. */
  private stampScr(bytes: Uint8Array): void {
    if (this.spec.headerLength !== 12 || bytes[0] !== 12) return;
    const stc = (this.busPacket * 6000) >>> 0;
    const sof = (this.busPacket >>> 3) & 0x7ff;
    bytes[6] = stc & 0xff;
    bytes[7] = (stc >>> 8) & 0xff;
    bytes[8] = (stc >>> 16) & 0xff;
    bytes[9] = (stc >>> 24) & 0xff;
    bytes[10] = sof & 0xff;
    bytes[11] = sof >>> 8;
  }

  private header(fid: number, eof: boolean, err: boolean, pts: number): Uint8Array {
    const length = this.spec.headerLength;
    const bytes = new Uint8Array(length);
    let info = PayloadHeader.EOH | (fid & 1);
    if (eof) info |= PayloadHeader.EOF;
    if (err) info |= PayloadHeader.ERR;
    if (length === 12) info |= PayloadHeader.PTS | PayloadHeader.SCR;
    bytes[0] = length;
    bytes[1] = info;
    if (length === 12) {
      bytes[2] = pts & 0xff;
      bytes[3] = (pts >>> 8) & 0xff;
      bytes[4] = (pts >>> 16) & 0xff;
      bytes[5] = (pts >>> 24) & 0xff;
    }
    return bytes;
  }

  /** An invalid header of a random kind, as long as the original. */
  /** Payload `i` of a frame cut into `per`-byte pieces: its header (made bogus when asked, which damages the frame) and data. */
  private payload(content: Uint8Array, i: number, per: number, fid: number, eof: boolean, err: boolean, pts: number, bogus: boolean, truth: FrameTruth): Uint8Array {
    let head = this.header(fid, eof, err, pts);
    if (bogus) {
      head = this.bogus(head);
      truth.damaged = true;
      truth.faultNearby = true;
      truth.otherFault = true;
    }
    const bytes = new Uint8Array(head.length + Math.min(per, content.length - i * per));
    bytes.set(head, 0);
    bytes.set(content.subarray(i * per, (i + 1) * per), head.length);
    return bytes;
  }

  private bogus(original: Uint8Array): Uint8Array {
    const bad = original.slice();
    switch (this.random.int(0, 3)) {
      case 0:
        bad[0] = this.random.int(0, 1);
        break;
      case 1:
        bad[0] = 13 + this.random.int(0, 200);
        break;
      case 2:
        bad[0] = original.length;
        bad[1] = (bad[1]! & ~PayloadHeader.EOH) | PayloadHeader.PTS | PayloadHeader.SCR;
        if (original.length === 12) bad[0] = 10; // no EOH and the wrong length for PTS + SCR
        break;
      default:
        bad[0] = 2 + (original.length === 12 ? 4 : 0);
        bad[1] = bad[1]! | PayloadHeader.PTS | PayloadHeader.SCR | PayloadHeader.EOH; // SCR does not fit
        break;
    }
    return bad;
  }

  private fidOf(n: number): number {
    return this.spec.framing === 'no-fid' ? 0 : n & 1;
  }

  private makeFrame(): void {
    const spec = this.spec;
    const n = this.next++;
    const truth = this.truthOf(n);
    const faults = spec.faults;
    let size = frameSize(spec, n);
    if (spec.kind === 'uncompressed' && this.random.chance(faults.shortFrame)) {
      size -= this.random.int(1, Math.max(1, size >> 2));
      truth.damaged = true;
      truth.faultNearby = true;
      truth.otherFault = true;
    }
    truth.size = size;
    const content = frameContent(spec.kind, n, frameSize(spec, n)).subarray(0, size);
    const compressed = spec.kind !== 'uncompressed';
    // A missing EOF is only survivable where something else ends the frame.
    const eofMatters = spec.framing === 'no-fid' || spec.framing === 'late-fid';
    const dropEof = spec.framing !== 'no-eof' && !(compressed && eofMatters) && this.random.chance(faults.missingEof);
    const eof = spec.framing !== 'no-eof' && !dropEof;
    if (dropEof) {
      truth.faultNearby = true;
      truth.otherFault = true;
    }
    const err = this.random.chance(faults.errBit);
    const lose = this.random.chance(faults.lostPacket);
    const bogus = this.random.chance(faults.bogusHeader);
    truth.errBit = err;
    const fid = this.fidOf(n);
    const lastFid = spec.framing === 'late-fid' ? this.fidOf(n + 1) : fid;
    const pts = (n * 1_600_000) >>> 0;

    if (spec.transfer === 'iso') {
      const per = spec.packetSize - spec.headerLength;
      const count = Math.max(1, Math.ceil(size / per));
      const errAt = this.random.int(0, count - 1);
      const lostAt = this.random.int(0, count - 1);
      const bogusAt = this.random.int(0, count - 1);
      for (let i = 0; i < count; i++) {
        const last = i === count - 1;
        const bytes = this.payload(content, i, per, last ? lastFid : fid, last && eof, err && i === errAt, pts, bogus && i === bogusAt, truth);
        const lost = lose && i === lostAt;
        if (lost) {
          truth.damaged = true;
          truth.faultNearby = true;
          truth.otherFault = true;
        }
        this.packets.push({ bytes, frame: n, lost, data: true });
      }
      const idleFid = this.fidOf(n + 1);
      // A camera at a fixed frame rate fills the rest of the frame period with idle packets.
      const maxCount = Math.ceil(spec.frameSize / per);
      const idle = spec.idlePackets + (spec.constantRate === false ? 0 : Math.max(0, maxCount - count));
      for (let i = 0; i < idle; i++) {
        this.packets.push({ bytes: this.header(idleFid, false, false, pts), frame: n, lost: false, data: false });
      }
      return;
    }

    const per = spec.maxPayload - spec.headerLength;
    const count = Math.max(1, Math.ceil(size / per));
    const errAt = this.random.int(0, count - 1);
    const bogusAt = this.random.int(0, count - 1);
    const lostPayload = this.random.int(0, count - 1);
    for (let i = 0; i < count; i++) {
      const last = i === count - 1;
      const bytes = this.payload(content, i, per, last ? lastFid : fid, last && eof, err && i === errAt, pts, bogus && i === bogusAt, truth);
      const failAt = lose && i === lostPayload ? this.random.int(0, bytes.length - 1) : -1;
      this.payloads.push({ bytes, frame: n, failAt });
    }
  }
}
