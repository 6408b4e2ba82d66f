/**
 * The UVC payload header that starts every iso packet and every bulk payload (UVC 1.5, 2.4.3.3):
 * bHeaderLength, bmHeaderInfo, then an optional 4-byte PTS and an optional 6-byte SCR.
 *
 * The assembler checks headers on the hot path, once per packet (its short and long paths share this one check),
 * so the checker returns a number instead of an object: the header length when the header is usable, a negative
 * `HeaderProblem` otherwise. `parsePayloadHeader`
 * is the friendly form for tests and diagnostics.
 */
import { PayloadHeader } from '../spec/uvc.js';

export const MIN_HEADER_LENGTH = 2;
/** 2 + 4 (PTS) + 6 (SCR): the longest header the class defines. */
export const MAX_HEADER_LENGTH = 12;

/** Why a header was refused (negative, so one number carries either a length or a problem). */
export const HeaderProblem = {
  /** Fewer than 2 bytes in the packet. */
  TRUNCATED: -1,
  /** bHeaderLength < 2. */
  LENGTH_TOO_SMALL: -2,
  /** bHeaderLength > the bytes the packet holds. */
  LENGTH_EXCEEDS_PACKET: -3,
  /** bHeaderLength > 12. */
  LENGTH_TOO_LARGE: -4,
  /** The PTS/SCR bits announce fields that do not fit in bHeaderLength. */
  FIELDS_DO_NOT_FIT: -5,
  /** EOH is clear and bHeaderLength is not exactly what the PTS/SCR bits announce (or EOH is required). */
  NO_EOH: -6,
} as const;
export type HeaderProblemCode = (typeof HeaderProblem)[keyof typeof HeaderProblem];

const PROBLEM_TEXT: Readonly<Record<number, string>> = {
  [-1]: 'packet shorter than 2 bytes',
  [-2]: 'bHeaderLength below 2',
  [-3]: 'bHeaderLength larger than the packet',
  [-4]: 'bHeaderLength above 12',
  [-5]: 'PTS/SCR fields do not fit in bHeaderLength',
  [-6]: 'EOH clear and the header length does not match its PTS/SCR bits',
};

export function describeHeaderProblem(code: number): string {
  return PROBLEM_TEXT[code] ?? `unknown header problem ${code}`;
}

/** The header length that bmHeaderInfo's PTS and SCR bits call for. */
export function requiredHeaderLength(info: number): number {
  return 2 + ((info & PayloadHeader.PTS) !== 0 ? 4 : 0) + ((info & PayloadHeader.SCR) !== 0 ? 6 : 0);
}

// Per-packet values as module constants (see the note in frame-assembler.ts).
const EOH = PayloadHeader.EOH;
/** Header length the PTS and SCR bits call for, indexed by (bmHeaderInfo >> 2) & 3. */
const REQUIRED_HEADER_LENGTH = Int32Array.of(2, 6, 8, 12);

/**
 * Checks the header at `bytes[offset]` of a payload of `length` bytes. Returns bHeaderLength when usable,
 * otherwise a negative HeaderProblem code.
 *
 * EOH: the specification sets it on every header, but real cameras leave it clear (the Vaultmicro captures in
 * test/fixtures/payloads send 0x0c/0x0d/0x1e). Without EOH we accept the header only when bHeaderLength is
 * exactly what the PTS/SCR bits announce, which still rejects almost every run of random bytes. `requireEoh`
 * makes a clear EOH fatal.
 */
export function checkPayloadHeader(bytes: Uint8Array, offset: number, length: number, requireEoh: boolean): number {
  if (length < MIN_HEADER_LENGTH) return HeaderProblem.TRUNCATED;
  const headerLength = bytes[offset]!;
  if (headerLength < MIN_HEADER_LENGTH) return HeaderProblem.LENGTH_TOO_SMALL;
  if (headerLength > length) return HeaderProblem.LENGTH_EXCEEDS_PACKET;
  if (headerLength > MAX_HEADER_LENGTH) return HeaderProblem.LENGTH_TOO_LARGE;
  const info = bytes[offset + 1]!;
  const needed = REQUIRED_HEADER_LENGTH[(info >> 2) & 3]!;
  if (headerLength < needed) return HeaderProblem.FIELDS_DO_NOT_FIT;
  if ((info & EOH) === 0 && (requireEoh || headerLength !== needed)) return HeaderProblem.NO_EOH;
  return headerLength;
}

/** Little-endian u32 read straight from the bytes (no DataView on the hot path). */
export function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

export function readU16(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8);
}

/** Offset of the SCR field inside a header with these bmHeaderInfo bits (PTS comes first when present). */
export function scrOffset(info: number): number {
  return (info & PayloadHeader.PTS) !== 0 ? 6 : 2;
}

export interface PayloadHeaderFields {
  headerLength: number;
  info: number;
  fid: 0 | 1;
  eof: boolean;
  still: boolean;
  error: boolean;
  eoh: boolean;
  /** dwPresentationTime in device clock ticks. */
  pts?: number;
  /** SCR: the source time clock and the 11-bit USB frame number it was sampled in. */
  scr?: { stc: number; sof: number };
}

/** Parses and checks one header; throws a RangeError naming the problem. For tests and tools, not the hot path. */
export function parsePayloadHeader(bytes: Uint8Array, options: { requireEoh?: boolean } = {}): PayloadHeaderFields {
  const headerLength = checkPayloadHeader(bytes, 0, bytes.length, options.requireEoh ?? false);
  if (headerLength < 0) throw new RangeError(`invalid payload header: ${describeHeaderProblem(headerLength)}`);
  const info = bytes[1]!;
  const fields: PayloadHeaderFields = {
    headerLength,
    info,
    fid: (info & PayloadHeader.FID) as 0 | 1,
    eof: (info & PayloadHeader.EOF) !== 0,
    still: (info & PayloadHeader.STI) !== 0,
    error: (info & PayloadHeader.ERR) !== 0,
    eoh: (info & PayloadHeader.EOH) !== 0,
  };
  if ((info & PayloadHeader.PTS) !== 0) fields.pts = readU32(bytes, 2);
  if ((info & PayloadHeader.SCR) !== 0) {
    const at = scrOffset(info);
    fields.scr = { stc: readU32(bytes, at), sof: readU16(bytes, at + 4) & 0x7ff };
  }
  return fields;
}
