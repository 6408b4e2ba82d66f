/** Builders for payload headers and CompletedTransfers, for assembler tests. */
import { PayloadHeader } from '../../../src/spec/uvc.js';
import { TransferStatus, type CompletedTransfer, type TransferStatusCode } from '../../../src/transport/usb-transport.js';

export interface HeaderSpec {
  fid?: number;
  eof?: boolean;
  err?: boolean;
  still?: boolean;
  pts?: number;
  scr?: { stc: number; sof: number };
  /** Default true. */
  eoh?: boolean;
  /** Override bHeaderLength (for broken headers). */
  length?: number;
  /** Raw extra bits for bmHeaderInfo (e.g. RES). */
  extraInfo?: number;
}

export function header(spec: HeaderSpec = {}): Uint8Array {
  let info = (spec.fid ?? 0) & 1;
  if (spec.eof === true) info |= PayloadHeader.EOF;
  if (spec.err === true) info |= PayloadHeader.ERR;
  if (spec.still === true) info |= PayloadHeader.STI;
  if (spec.pts !== undefined) info |= PayloadHeader.PTS;
  if (spec.scr !== undefined) info |= PayloadHeader.SCR;
  if (spec.eoh !== false) info |= PayloadHeader.EOH;
  info |= spec.extraInfo ?? 0;
  const natural = 2 + (spec.pts !== undefined ? 4 : 0) + (spec.scr !== undefined ? 6 : 0);
  const bytes = new Uint8Array(Math.max(natural, 2));
  bytes[0] = spec.length ?? natural;
  bytes[1] = info;
  let at = 2;
  if (spec.pts !== undefined) {
    new DataView(bytes.buffer).setUint32(at, spec.pts >>> 0, true);
    at += 4;
  }
  if (spec.scr !== undefined) {
    const view = new DataView(bytes.buffer);
    view.setUint32(at, spec.scr.stc >>> 0, true);
    view.setUint16(at + 4, spec.scr.sof & 0x7ff, true);
  }
  return bytes;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** `length` bytes of a recognisable pattern starting at `seed`. */
export function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i * 7 + (i >> 8)) & 0xff;
  return out;
}

export class TestTransfer implements CompletedTransfer {
  slot = 0;
  sequence = 0;
  status: TransferStatusCode = TransferStatus.COMPLETED;
  buffer: Uint8Array;
  actualLength = 0;
  packetCount = 0;
  packetStride = 0;
  packetStatus: Int32Array;
  packetLength: Int32Array;
  lostIntervals = 0;
  completedAtNs = 0;
  released = 0;

  constructor(buffer: Uint8Array, packets: number) {
    this.buffer = buffer;
    this.packetStatus = new Int32Array(packets);
    this.packetLength = new Int32Array(packets);
  }

  release(): void {
    this.released++;
  }
}

export interface IsoPacket {
  /** Header and data as sent; absent for an empty packet. */
  bytes?: Uint8Array;
  /** libusb status of the packet (default COMPLETED). */
  status?: TransferStatusCode;
}

export interface IsoOptions {
  stride: number;
  slot?: number;
  completedAtNs?: number;
  lostIntervals?: number;
  status?: TransferStatusCode;
  /** Reuse this buffer (as a transport reuses its slot memory). */
  buffer?: Uint8Array;
}

/** An iso completion whose packet i sits at i × stride. */
export function isoTransfer(packets: IsoPacket[], options: IsoOptions): TestTransfer {
  const buffer = options.buffer ?? new Uint8Array(packets.length * options.stride);
  const transfer = new TestTransfer(buffer, packets.length);
  transfer.slot = options.slot ?? 0;
  transfer.packetCount = packets.length;
  transfer.packetStride = options.stride;
  transfer.completedAtNs = options.completedAtNs ?? 0;
  transfer.lostIntervals = options.lostIntervals ?? 0;
  transfer.status = options.status ?? TransferStatus.COMPLETED;
  let total = 0;
  packets.forEach((packet, i) => {
    const bytes = packet.bytes ?? new Uint8Array(0);
    if (bytes.length > options.stride) throw new RangeError(`packet ${i} is larger than the stride`);
    buffer.set(bytes, i * options.stride);
    transfer.packetLength[i] = bytes.length;
    transfer.packetStatus[i] = packet.status ?? TransferStatus.COMPLETED;
    total += bytes.length;
  });
  transfer.actualLength = total;
  return transfer;
}

/** A bulk completion carrying `bytes` at offset 0 in a buffer of `transferSize`. */
export function bulkTransfer(
  bytes: Uint8Array,
  options: { transferSize: number; slot?: number; completedAtNs?: number; status?: TransferStatusCode },
): TestTransfer {
  const buffer = new Uint8Array(options.transferSize);
  buffer.set(bytes, 0);
  const transfer = new TestTransfer(buffer, 0);
  transfer.slot = options.slot ?? 0;
  transfer.actualLength = bytes.length;
  transfer.completedAtNs = options.completedAtNs ?? 0;
  transfer.status = options.status ?? TransferStatus.COMPLETED;
  return transfer;
}

/** Byte equality without a per-element diff (vitest's toEqual on large typed arrays is slow). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
