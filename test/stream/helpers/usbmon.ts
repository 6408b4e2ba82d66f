/**
 * Readers for the usbmon captures in test/fixtures/payloads.
 *
 * A Linux usbmon mmap/binary record (Documentation/usb/usbmon.rst, struct usbmon_packet) is 64 bytes of header,
 * little-endian:
 *   0 id (u64) · 8 type ('S' submit, 'C' complete, 'E' error) · 9 xfer_type (0 iso, 1 interrupt, 2 control,
 *   3 bulk) · 10 epnum (with the IN bit) · 11 devnum · 12 busnum (u16) · 14 flag_setup · 15 flag_data ·
 *   16 ts_sec (s64) · 24 ts_usec (s32) · 28 status (s32) · 32 length (u32, bytes transferred) ·
 *   36 len_cap (u32, bytes captured after the header) · 40 setup[8], or for iso: error_count (s32), numdesc (s32) ·
 *   48 interval (s32) · 52 start_frame (s32) · 56 xfer_flags (u32) · 60 ndesc (u32)
 * then, for iso, ndesc descriptors of 16 bytes (status s32, offset u32, length u32, padding), then the data.
 * Iso descriptor offsets are relative to the start of the data.
 */
import { TransferStatus, type TransferStatusCode } from '../../../src/transport/usb-transport.js';
import { TestTransfer } from './transfers.js';

export const USBMON_HEADER_LENGTH = 64;
export const USBMON_ISO_DESCRIPTOR_LENGTH = 16;

export interface IsoDescriptor {
  status: number;
  offset: number;
  length: number;
}

export interface UsbmonRecord {
  id: bigint;
  type: string;
  xferType: number;
  endpoint: number;
  device: number;
  bus: number;
  flagSetup: string;
  flagData: number;
  tsSec: number;
  tsUsec: number;
  status: number;
  length: number;
  lenCap: number;
  errorCount: number;
  numDesc: number;
  interval: number;
  startFrame: number;
  xferFlags: number;
  descriptors: IsoDescriptor[];
  data: Uint8Array;
}

export function parseUsbmonRecord(bytes: Uint8Array): UsbmonRecord {
  if (bytes.length < USBMON_HEADER_LENGTH) throw new RangeError(`a usbmon record needs 64 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const xferType = view.getUint8(9);
  const lenCap = view.getUint32(36, true);
  const ndesc = view.getUint32(60, true);
  if (USBMON_HEADER_LENGTH + lenCap !== bytes.length) {
    throw new RangeError(`len_cap ${lenCap} does not match the ${bytes.length - USBMON_HEADER_LENGTH} bytes after the header`);
  }
  const descriptors: IsoDescriptor[] = [];
  let dataStart = USBMON_HEADER_LENGTH;
  if (xferType === 0) {
    for (let i = 0; i < ndesc; i++) {
      const at = USBMON_HEADER_LENGTH + i * USBMON_ISO_DESCRIPTOR_LENGTH;
      descriptors.push({ status: view.getInt32(at, true), offset: view.getUint32(at + 4, true), length: view.getUint32(at + 8, true) });
    }
    dataStart += ndesc * USBMON_ISO_DESCRIPTOR_LENGTH;
  }
  const data = bytes.subarray(dataStart);
  for (const [i, d] of descriptors.entries()) {
    if (d.offset + d.length > data.length) throw new RangeError(`iso packet ${i} lies outside the captured data`);
  }
  return {
    id: view.getBigUint64(0, true),
    type: String.fromCharCode(view.getUint8(8)),
    xferType,
    endpoint: view.getUint8(10),
    device: view.getUint8(11),
    bus: view.getUint16(12, true),
    flagSetup: String.fromCharCode(view.getUint8(14)),
    flagData: view.getUint8(15),
    tsSec: Number(view.getBigInt64(16, true)),
    tsUsec: view.getInt32(24, true),
    status: view.getInt32(28, true),
    length: view.getUint32(32, true),
    lenCap,
    errorCount: view.getInt32(40, true),
    numDesc: view.getInt32(44, true),
    interval: view.getInt32(48, true),
    startFrame: view.getInt32(52, true),
    xferFlags: view.getUint32(56, true),
    descriptors,
    data,
  };
}

/** Whitespace-separated hex bytes ("00 c8 07 …"). */
export function parseHexBytes(text: string): Uint8Array {
  const tokens = text.trim().split(/\s+/);
  const out = new Uint8Array(tokens.length);
  tokens.forEach((token, i) => {
    if (!/^[0-9a-fA-F]{2}$/.test(token)) throw new RangeError(`not a hex byte at ${i}: ${token}`);
    out[i] = parseInt(token, 16);
  });
  return out;
}

/** A Wireshark "hex dump" (offset, then up to 16 bytes per line); checks that offsets are contiguous. */
export function parseWiresharkHexdump(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const line of text.split('\n')) {
    const match = /^([0-9a-fA-F]{4,})\s{2,}((?:[0-9a-fA-F]{2}\s?){1,16})/.exec(line);
    if (match === null) continue;
    const offset = parseInt(match[1]!, 16);
    if (offset !== bytes.length) throw new RangeError(`hexdump offset ${offset} where ${bytes.length} was expected`);
    for (const token of match[2]!.trim().split(/\s+/)) bytes.push(parseInt(token, 16));
  }
  return Uint8Array.from(bytes);
}

export interface TsharkPayload {
  /** The 'Converted Monotonic Time' of the packet record just before the payload line, in seconds. */
  timeSeconds: number;
  bytes: Uint8Array;
  /** True when the line had an odd number of hex digits (the dangling one is dropped). */
  truncatedNibble: boolean;
  line: number;
}

/** The tshark export: "Converted Monotonic Time: <s> seconds" lines and one hex line per non-empty payload. */
export function parseTsharkPayloads(text: string): { payloads: TsharkPayload[]; timeLines: number } {
  const payloads: TsharkPayload[] = [];
  let timeLines = 0;
  let time = Number.NaN;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const timeMatch = /^Converted Monotonic Time: (-?[0-9.]+) seconds$/.exec(line);
    if (timeMatch !== null) {
      time = Number(timeMatch[1]);
      timeLines++;
      return;
    }
    if (!/^[0-9a-fA-F]+$/.test(line)) throw new RangeError(`line ${index + 1} is neither a time nor hex`);
    const even = line.length - (line.length % 2);
    const bytes = new Uint8Array(even / 2);
    for (let i = 0; i < even; i += 2) bytes[i / 2] = parseInt(line.slice(i, i + 2), 16);
    payloads.push({ timeSeconds: time, bytes, truncatedNibble: line.length % 2 === 1, line: index + 1 });
  });
  return { payloads, timeLines };
}

/** The stride of an iso record: descriptor offsets must be i × stride. */
export function isoStride(record: UsbmonRecord): number {
  const stride = record.descriptors.length > 1 ? record.descriptors[1]!.offset - record.descriptors[0]!.offset : record.descriptors[0]!.length;
  record.descriptors.forEach((d, i) => {
    if (d.offset !== i * stride) throw new RangeError(`iso packet ${i} at ${d.offset}, not at ${i} × ${stride}`);
  });
  return stride;
}

function statusOf(usbStatus: number): TransferStatusCode {
  return usbStatus === 0 ? TransferStatus.COMPLETED : TransferStatus.ERROR;
}

/** The record as the transport would hand it over: a full-size buffer with packet i at i × stride. */
export function isoRecordToTransfer(record: UsbmonRecord, completedAtNs: number): TestTransfer {
  const stride = isoStride(record);
  const count = record.descriptors.length;
  const buffer = new Uint8Array(count * stride);
  buffer.set(record.data.subarray(0, Math.min(record.data.length, buffer.length)));
  const transfer = new TestTransfer(buffer, count);
  transfer.packetCount = count;
  transfer.packetStride = stride;
  transfer.status = statusOf(record.status);
  transfer.completedAtNs = completedAtNs;
  let total = 0;
  record.descriptors.forEach((d, i) => {
    transfer.packetLength[i] = d.length;
    transfer.packetStatus[i] = statusOf(d.status);
    total += d.length;
  });
  transfer.actualLength = total;
  return transfer;
}

export function bulkRecordToTransfer(record: UsbmonRecord, transferSize: number, completedAtNs: number): TestTransfer {
  const buffer = new Uint8Array(transferSize);
  buffer.set(record.data.subarray(0, record.length));
  const transfer = new TestTransfer(buffer, 0);
  transfer.actualLength = record.length;
  transfer.status = statusOf(record.status);
  transfer.completedAtNs = completedAtNs;
  return transfer;
}
