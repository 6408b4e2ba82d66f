/**
 * A synthetic isochronous video stream, laid out exactly as a camera sends it and a transport hands it over:
 * every bus interval's packet sits at its stride inside a transfer buffer, starts with a 12-byte payload header
 * (EOH, PTS, SCR), toggles FID per frame and sets EOF on the frame's last payload. Packets are full except a
 * frame's last one; optional header-only idle packets follow a frame, and the last transfer is padded with
 * them. Built once and replayed cycle after cycle: `advanceClock()` rewrites the PTS/SCR fields and completion
 * times between cycles so the device clock and the bus clock run on as in a real stream (the assembler's clock
 * recovery sees a continuous, locking timeline, not a clock that jumps back every cycle).
 *
 * Each transfer has its own slot number, as each transport slot has its own buffer, so the assembler's
 * per-slot view cache behaves as it does on a real stream.
 */
import { PayloadHeader } from '../../src/spec/uvc.js';
import { TransferStatus, type CompletedTransfer, type TransferStatusCode } from '../../src/transport/usb-transport.js';

export const HEADER_LENGTH = 12;

export interface SyntheticStreamSpec {
  kind: 'uncompressed' | 'mjpeg';
  /** Bytes of each frame of one cycle; an even count, so FID alternates across cycles too. */
  frameSizes: readonly number[];
  /** Bytes per bus interval: the packet stride (wMaxPacketSize × mult, or SuperSpeed bytes per interval). */
  packetSize: number;
  packetsPerTransfer: number;
  /** Bus interval, ns (125 000 at high speed and above). */
  intervalNs: number;
  /** dwClockFrequency of the device clock behind PTS and SCR. */
  clockFrequency: number;
  /** Header-only packets after each frame (a camera idling between frames). Default 0. */
  idlePacketsPerFrame?: number;
  /** Seed of the frame contents. */
  seed?: number;
  /**
   * Where the transfers live: called once with the number of transfers of a cycle, it gives a slot per transfer
   * (transfer t in slots[t]: a stream's memory, as the addon's slotMemory lays it out, each slot at least
   * packetsPerTransfer × packetSize). Default: memory of their own.
   */
  slotMemory?: (transfers: number) => readonly TransferSlot[];
}

/** A transfer slot's memory: its data and packet tables. */
export interface TransferSlot {
  buffer: Uint8Array;
  packetStatus: Int32Array;
  packetLength: Int32Array;
}

export interface SyntheticFrame {
  /** What the frame must look like once assembled. */
  data: Uint8Array;
  fid: number;
  checksum: number;
}

/** One data packet's payload inside its transfer, for the copy baseline. */
export interface PayloadSlice {
  /** A view of the payload bytes (header excluded) inside the transfer buffer. */
  view: Uint8Array;
  frame: number;
  /** Where these bytes belong in the frame. */
  frameOffset: number;
}

export class SyntheticTransfer implements CompletedTransfer {
  sequence = 0;
  readonly status: TransferStatusCode = TransferStatus.COMPLETED;
  readonly lostIntervals = 0;
  completedAtNs = 0;
  actualLength = 0;
  readonly packetStatus: Int32Array;
  readonly packetLength: Int32Array;

  constructor(
    readonly slot: number,
    readonly buffer: Uint8Array,
    readonly packetCount: number,
    readonly packetStride: number,
    tables?: TransferSlot,
  ) {
    this.packetStatus = tables?.packetStatus ?? new Int32Array(packetCount);
    this.packetLength = tables?.packetLength ?? new Int32Array(packetCount);
  }

  release(): void {}
}

export interface SyntheticStream {
  readonly spec: SyntheticStreamSpec;
  readonly frames: readonly SyntheticFrame[];
  readonly transfers: readonly SyntheticTransfer[];
  /** The slots the transfers live in (SyntheticStreamSpec.slotMemory), or null. */
  readonly slots: readonly TransferSlot[] | null;
  readonly slices: readonly PayloadSlice[];
  /** Packets per cycle, idle and padding included. */
  readonly packets: number;
  readonly dataPackets: number;
  /** Payload bytes per cycle (headers excluded): the sum of the frame sizes. */
  readonly payloadBytes: number;
  /** Transfer memory of one cycle. */
  readonly transferBytes: number;
  /** Cycles prepared so far (the next advanceClock() prepares cycle `cycle`). */
  readonly cycle: number;
  /** Writes PTS/SCR and completion times for the next cycle. Call before feeding each cycle. */
  advanceClock(): void;
}

/** A fast, order-sensitive 32-bit checksum (words, then the tail bytes). */
export function checksum(bytes: Uint8Array, length = bytes.length): number {
  let h = 0x811c9dc5;
  const words = length >>> 2;
  if ((bytes.byteOffset & 3) === 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
    for (let i = 0; i < words; i++) h = Math.imul(h ^ view[i]!, 0x01000193) ^ (h >>> 15);
  } else {
    for (let i = 0; i < words; i++) {
      const at = i << 2;
      const word = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
      h = Math.imul(h ^ word, 0x01000193) ^ (h >>> 15);
    }
  }
  for (let i = words << 2; i < length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** Frame contents: xorshift noise (no run a copy could shortcut), JPEG markers around MJPEG frames. */
function frameContent(size: number, seed: number, kind: SyntheticStreamSpec['kind']): Uint8Array {
  const data = new Uint8Array(size);
  let x = (seed * 0x9e3779b1) | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  if (kind === 'mjpeg') {
    data[0] = 0xff;
    data[1] = 0xd8; // SOI: the assembler flags an MJPEG frame that does not start with it
    data[size - 2] = 0xff;
    data[size - 1] = 0xd9; // EOI
  }
  return data;
}

interface PacketPlan {
  frame: number;
  /** Payload bytes from the frame (0 for an idle packet). */
  offset: number;
  length: number;
  eof: boolean;
  /** The packet carries the frame's first data (its PTS is the frame's capture time). */
  first: boolean;
}

export function buildSyntheticStream(spec: SyntheticStreamSpec): SyntheticStream {
  const count = spec.frameSizes.length;
  if (count === 0 || count % 2 !== 0) throw new RangeError('a cycle needs an even, non-zero number of frames');
  if (spec.packetSize <= HEADER_LENGTH) throw new RangeError('packets must have room for data after the header');
  const dataPerPacket = spec.packetSize - HEADER_LENGTH;
  const idle = spec.idlePacketsPerFrame ?? 0;

  const frames: SyntheticFrame[] = spec.frameSizes.map((size, f) => {
    if (!Number.isInteger(size) || size < 4) throw new RangeError(`frame ${f}: bad size ${size}`);
    const data = frameContent(size, (spec.seed ?? 1) * 1000 + f + 1, spec.kind);
    return { data, fid: f & 1, checksum: checksum(data) };
  });

  const plan: PacketPlan[] = [];
  frames.forEach((frame, f) => {
    const size = frame.data.length;
    for (let offset = 0; offset < size; offset += dataPerPacket) {
      const length = Math.min(dataPerPacket, size - offset);
      plan.push({ frame: f, offset, length, eof: offset + length === size, first: offset === 0 });
    }
    for (let i = 0; i < idle; i++) plan.push({ frame: f, offset: 0, length: 0, eof: false, first: false });
  });
  const dataPackets = plan.length - idle * count;
  // Pad the last transfer with idle packets of the last frame's FID (a camera between frames).
  while (plan.length % spec.packetsPerTransfer !== 0) plan.push({ frame: count - 1, offset: 0, length: 0, eof: false, first: false });

  const transfers: SyntheticTransfer[] = [];
  const slices: PayloadSlice[] = [];
  const perTransfer = spec.packetsPerTransfer;
  const stride = spec.packetSize;
  const slots = spec.slotMemory?.(Math.ceil(plan.length / perTransfer)) ?? null;
  for (let t = 0; t * perTransfer < plan.length; t++) {
    const slot = slots?.[t];
    if (slots !== null && (slot === undefined || slot.buffer.length < perTransfer * stride || slot.packetLength.length < perTransfer)) {
      throw new RangeError(`transfer ${t} has no slot to fit it`);
    }
    const buffer = slot === undefined ? new Uint8Array(perTransfer * stride) : slot.buffer.subarray(0, perTransfer * stride);
    const transfer = new SyntheticTransfer(t, buffer, perTransfer, stride, slot);
    let actual = 0;
    for (let i = 0; i < perTransfer; i++) {
      const packet = plan[t * perTransfer + i]!;
      const at = i * stride;
      const frame = frames[packet.frame]!;
      const buffer = transfer.buffer;
      buffer[at] = HEADER_LENGTH;
      buffer[at + 1] =
        PayloadHeader.EOH | PayloadHeader.PTS | PayloadHeader.SCR | frame.fid | (packet.eof ? PayloadHeader.EOF : 0);
      if (packet.length > 0) {
        buffer.set(frame.data.subarray(packet.offset, packet.offset + packet.length), at + HEADER_LENGTH);
        slices.push({
          view: buffer.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + packet.length),
          frame: packet.frame,
          frameOffset: packet.offset,
        });
      }
      transfer.packetLength[i] = HEADER_LENGTH + packet.length;
      transfer.packetStatus[i] = TransferStatus.COMPLETED;
      actual += HEADER_LENGTH + packet.length;
    }
    transfer.actualLength = actual;
    transfers.push(transfer);
  }

  // Where each packet's PTS comes from: the frame's first data packet (the capture instant).
  const firstPacketOfFrame = new Int32Array(count);
  plan.forEach((packet, p) => {
    if (packet.first) firstPacketOfFrame[packet.frame] = p;
  });
  const stcPerInterval = (spec.clockFrequency * spec.intervalNs) / 1e9;
  const intervalsPerSof = 1_000_000 / spec.intervalNs;
  const stcStart = 0x1234_5678;
  const hostStartNs = 1_000_000_000_000;
  let cycle = 0;
  let transferSequence = 0;

  const stream: SyntheticStream = {
    spec,
    frames,
    transfers,
    slots,
    slices,
    packets: plan.length,
    dataPackets,
    payloadBytes: spec.frameSizes.reduce((sum, size) => sum + size, 0),
    transferBytes: transfers.length * perTransfer * stride,
    get cycle() {
      return cycle;
    },
    advanceClock() {
      const base = cycle * plan.length;
      for (let p = 0; p < plan.length; p++) {
        const interval = base + p;
        const transfer = transfers[(p / perTransfer) | 0]!;
        const at = (p % perTransfer) * stride;
        const bytes = transfer.buffer;
        const packet = plan[p]!;
        const pts = (stcStart + (base + firstPacketOfFrame[packet.frame]!) * stcPerInterval) >>> 0;
        const stc = (stcStart + interval * stcPerInterval) >>> 0;
        const sof = Math.floor(interval / intervalsPerSof) & 0x7ff;
        writeU32(bytes, at + 2, pts);
        writeU32(bytes, at + 6, stc);
        bytes[at + 10] = sof & 0xff;
        bytes[at + 11] = sof >>> 8;
      }
      for (let t = 0; t < transfers.length; t++) {
        const transfer = transfers[t]!;
        // Completion = the end of the transfer's last interval.
        transfer.completedAtNs = hostStartNs + (base + (t + 1) * perTransfer) * spec.intervalNs;
        transfer.sequence = transferSequence++;
      }
      cycle++;
    },
  };
  return stream;
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}
