/**
 * Seeded iso streams for holding the assembler's paths to each other (test/stream/frame-assembler-paths.test.ts;
 * test/native/iso-scan.test.ts runs them through the addon's isoScan, under ASan in CI): random packets, mostly
 * plausible (continuing packets, FID toggles, EOF, ERR, PTS/SCR headers) with random damage (garbage headers,
 * failed and empty packets, lost bus time, failed transfers); and camera-like streams (frames of many packets, a
 * SOF counter that follows the bus, so that the SOF is learned 'consistent' and the C scan takes most packets)
 * with rarer damage: SOF jumps with and without a host gap, PTS changes, EOF-less cameras, MJPEG SOI payloads,
 * packets longer than their slot.
 */
import { expect } from 'vitest';
import { ScanField } from '../../../src/stream/iso-scan.js';
import type { FrameAssemblerOptions, VideoFormatKind } from '../../../src/stream/frame-assembler.js';
import type { NativeAddon } from '../../../src/transport/native/addon-types.js';
import { TransferStatus, type CopyRuns, type IsoScan, type SlotScan } from '../../../src/transport/usb-transport.js';
import { assemblerRig, type FrameRecord } from './assembler-rig.js';
import { Random } from './random.js';
import { SlotPool } from './slot-pool.js';
import { concat, header, isoTransfer, pattern, type IsoPacket, type TestTransfer } from './transfers.js';

export const STRIDE = 1024;
export const INTERVAL = 125_000;

export function randomPacket(random: Random, state: { fid: number; pts: number; sof: number }, kind: VideoFormatKind): IsoPacket {
  const roll = random.next();
  if (roll < 0.02) return {}; // empty
  if (roll < 0.04) return { status: TransferStatus.ERROR };
  if (roll < 0.07) {
    // Garbage: random bytes where the header should be (sometimes a valid header by chance).
    const bytes = new Uint8Array(random.int(1, STRIDE));
    for (let i = 0; i < bytes.length; i++) bytes[i] = random.int(0, 255);
    return { bytes };
  }
  if (roll < 0.12) {
    state.fid ^= 1;
    state.pts += 1_600_000;
  } else if (roll < 0.13) {
    state.pts += 1_600_000; // a new PTS without a FID change: frames ran together
  }
  if (random.chance(0.3)) state.sof = (state.sof + 1) & 0x7ff;
  const withPts = random.chance(0.8);
  const withScr = withPts && random.chance(0.8);
  const head = header({
    fid: state.fid,
    eof: random.chance(0.04),
    err: random.chance(0.01),
    pts: withPts ? state.pts : undefined,
    scr: withScr ? { stc: state.sof * 48_000, sof: state.sof } : undefined,
    eoh: random.chance(0.97),
  });
  const dataLength = random.chance(0.1) ? 0 : random.chance(0.6) ? STRIDE - head.length : random.int(1, STRIDE - head.length);
  const data = new Uint8Array(dataLength);
  for (let i = 0; i < dataLength; i++) data[i] = random.int(0, 255);
  if (dataLength >= 2 && kind === 'mjpeg' && random.chance(0.3)) data.set([0xff, 0xd8], 0);
  return { bytes: concat(head, data) };
}

/** Camera-like packets: frames of whole packets, one SOF per 8 slots, rare damage. */
interface CameraState {
  fid: number;
  pts: number;
  /** Bus slots passed (every packet, sent or lost, is one). */
  slot: number;
  /** Added to the SOF: a jump the camera's counter made (bus time none of our packets covered). */
  sofSkew: number;
  /** Data bytes of the frame still to send; -1: idle until the next frame. */
  remaining: number;
  first: boolean;
  eofless: boolean;
  withScr: number;
}

function cameraPacket(random: Random, state: CameraState, kind: VideoFormatKind, frameSize: number): IsoPacket {
  state.slot++;
  if (random.chance(0.003)) state.sofSkew += random.int(1, 40); // the SOF jumps (lost bus time)
  const sof = ((state.slot >> 3) + state.sofSkew) & 0x7ff;
  const roll = random.next();
  if (roll < 0.008) return { status: TransferStatus.ERROR };
  if (roll < 0.016) return {};
  if (roll < 0.02) {
    const bytes = new Uint8Array(random.int(1, 64));
    for (let i = 0; i < bytes.length; i++) bytes[i] = random.int(0, 255);
    return { bytes };
  }
  if (roll < 0.024) state.pts += 1; // a PTS change inside a frame
  if (state.remaining < 0) {
    if (random.chance(0.3)) {
      // Idle: a header-only payload between frames.
      return { bytes: header({ fid: state.fid, pts: state.pts, scr: { stc: state.slot * 6000, sof }, eoh: true }) };
    }
    state.fid ^= 1;
    state.pts += 1_600_000;
    state.remaining = kind === 'uncompressed' && random.chance(0.9) ? frameSize : random.int(1, 40_000);
    state.first = true;
  }
  const withScr = random.next() < state.withScr;
  const head = header({
    fid: state.fid,
    pts: state.pts,
    scr: withScr ? { stc: state.slot * 6000, sof } : undefined,
    err: random.chance(0.002),
  });
  const dataLength = Math.min(state.remaining, STRIDE - head.length);
  state.remaining -= dataLength;
  const last = state.remaining === 0;
  if (last) {
    state.remaining = -1;
    if (!state.eofless) head[1]! |= 0x02;
  }
  const data = pattern(dataLength, state.slot);
  if (state.first && kind === 'mjpeg' && dataLength >= 2) data.set([0xff, 0xd8], 0);
  if (last && kind === 'mjpeg' && dataLength >= 2) data.set([0xff, 0xd9], dataLength - 2);
  state.first = false;
  return { bytes: concat(head, data) };
}

/** The addon's copyRuns in JavaScript: every row checked first, then copied. */
const copyRuns: CopyRuns = (source, destination, table, count) => {
  for (let r = 0; r < count; r++) {
    const [from, length, to] = [table[3 * r]!, table[3 * r + 1]!, table[3 * r + 2]!];
    if (from < 0 || length < 0 || to < 0 || from + length > source.length || to + length > destination.length) throw new RangeError(`row ${r} is out of bounds`);
  }
  for (let r = 0; r < count; r++) destination.set(source.subarray(table[3 * r]!, table[3 * r]! + table[3 * r + 1]!), table[3 * r + 2]!);
};

/** Payloads the C scan took, and all payloads, over the runs that counted them; scans that ended a frame. */
export interface ScanCount {
  payloads: number;
  all: number;
  ended: number;
  /** The scan over runs of slots: transfers it went on into from the one before (it took that one to its end). */
  crossed?: number;
}

/**
 * One seeded stream ('random': mostly plausible packets, much damage; 'camera': camera-like, rare damage) through
 * the long path, the short path, the short path with copyRuns, and (with `addon`) the short path in C, per
 * transfer (isoScan) and over runs of transfers fed together from slot memory (processTransfers with the slots'
 * scan, split at random and wherever frames are dequeued); expects the same frames and counters from all. `scanned` counts what the C
 * scan took.
 */
export async function comparePaths(seed: number, stream: 'random' | 'camera', addon: NativeAddon | null, scanned: ScanCount = { payloads: 0, all: 0, ended: 0 }): Promise<void> {
  const random = new Random(seed);
  const kind = random.pick<VideoFormatKind>(['uncompressed', 'mjpeg', 'h264', 'compressed']);
  // Camera-like streams: frames of tens of packets, as cameras send them.
  const sizes = stream === 'random' ? [3000, 5000, 8192] : [30_000, 61_440];
  const expectedFrameSize = kind === 'uncompressed' ? random.pick(sizes) : undefined;
  const options: FrameAssemblerOptions = {
    formatKind: kind,
    transferType: 'iso',
    intervalNs: INTERVAL,
    expectedFrameSize,
    clockFrequency: random.chance(0.7) ? 48_000_000 : undefined,
    frameIntervalNs: random.chance(0.5) ? 40 * INTERVAL : undefined,
    requireEoh: random.chance(0.2),
    dropErroredFrames: random.chance(0.2),
  };
  // Camera-like streams: some cameras' SOF is not the bus SOF (quirk invalid-device-sof: SOF mode 'unusable').
  if (stream === 'camera') options.deviceSofInvalid = random.chance(0.25);
  // Buffers sometimes smaller than a frame, so overflows happen.
  const bufferSize = random.pick(stream === 'random' ? [2500, 6000, 16_384] : [20_000, 65_536]);
  const short = await assemblerRig(options, { bufferSize, buffers: 3 });
  const long = await assemblerRig({ ...options, shortPath: false }, { bufferSize, buffers: 3 });
  const batched = await assemblerRig({ ...options, copyRuns }, { bufferSize, buffers: 3 });
  const isoScan: IsoScan | undefined =
    addon === null
      ? undefined
      : (source, lengths, statuses, memory, state) => {
          const stop = addon.isoScan(source, lengths, statuses, memory, state);
          scanned.payloads += state[ScanField.PAYLOADS]!;
          scanned.ended += state[ScanField.ENDED]!;
          return stop;
        };
  const native = addon === null ? null : await assemblerRig({ ...options, copyRuns: addon.copyRuns, isoScan }, { bufferSize, buffers: 3 });
  // The runs variant's transfers live in slot memory, 64 slots used round robin: a batch is fed before it reaches 32.
  const pool = addon === null ? null : new SlotPool(addon, 64, 32, STRIDE);
  const runs = addon === null ? null : await assemblerRig({ ...options, copyRuns: addon.copyRuns, isoScan: addon.isoScan }, { bufferSize, buffers: 3 });
  if (pool !== null && runs !== null) {
    const slotScan: SlotScan = (slots, counts, memory, state) => {
      const stop = pool.scanSlots(slots, counts, memory, state);
      scanned.crossed = (scanned.crossed ?? 0) + state[ScanField.RUN]! - (state[ScanField.RUN] === state[ScanField.RUN_LENGTH] ? 1 : 0);
      return stop;
    };
    runs.assembler.useSlotScan(slotScan);
  }
  // Where the runs variant's batches end (its own generator: the stream stays the seed's).
  const splits = new Random(seed * 7919 + 1);
  const batch: TestTransfer[] = [];
  const feedBatch = () => {
    if (runs === null || batch.length === 0) return;
    runs.assembler.processTransfers(batch, 0, batch.length);
    runs.queue.assertInvariants();
    batch.length = 0;
  };
  const runsFrames: FrameRecord[] = [];
  const state = { fid: 0, pts: 0, sof: 0 };
  const camera: CameraState = { fid: 0, pts: 0, slot: 0, sofSkew: 0, remaining: -1, first: false, eofless: false, withScr: 1 };
  if (stream === 'camera') {
    camera.eofless = random.chance(0.3);
    camera.withScr = random.pick([1, 0.9, 0.5]);
  }
  const frameSize = expectedFrameSize ?? 5000;
  let now = 1_000_000_000;
  const shortFrames: FrameRecord[] = [];
  const longFrames: FrameRecord[] = [];
  const batchedFrames: FrameRecord[] = [];
  const nativeFrames: FrameRecord[] = [];
  const transfers = stream === 'random' ? 120 : 240;
  for (let t = 0; t < transfers; t++) {
    const count = stream === 'random' ? random.int(1, 16) : random.int(1, 32);
    let lostIntervals = 0;
    if (stream === 'camera' && random.chance(0.02)) {
      // Bus time with nothing in flight: the host's clock says so, and the camera's SOF moves on with it.
      lostIntervals = random.int(1, 100);
      camera.slot += lostIntervals;
    }
    const packets = Array.from({ length: count }, () => (stream === 'random' ? randomPacket(random, state, kind) : cameraPacket(random, camera, kind, frameSize)));
    now += count * INTERVAL;
    const transfer = isoTransfer(packets, {
      stride: STRIDE,
      slot: t % 4,
      completedAtNs: now,
      lostIntervals: stream === 'random' ? (random.chance(0.05) ? random.int(1, 200) : 0) : lostIntervals,
      status: random.chance(stream === 'random' ? 0.02 : 0.003) ? TransferStatus.ERROR : TransferStatus.COMPLETED,
    });
    // A device reporting a packet longer than its slot, or one running past the transfer's buffer.
    if (stream === 'camera' && random.chance(0.01)) transfer.packetLength[random.int(0, count - 1)] = random.chance(0.5) ? STRIDE + 1 : count * STRIDE;
    short.feed(transfer);
    long.feed(transfer);
    batched.feed(transfer);
    native?.feed(transfer);
    if (pool !== null) batch.push(pool.place(transfer));
    if (splits.chance(0.15) || batch.length >= 32) feedBatch();
    if (random.chance(0.5)) {
      feedBatch();
      shortFrames.push(...(await short.drain()));
      longFrames.push(...(await long.drain()));
      batchedFrames.push(...(await batched.drain()));
      if (native !== null) nativeFrames.push(...(await native.drain()));
      if (runs !== null) runsFrames.push(...(await runs.drain()));
    }
  }
  feedBatch();
  shortFrames.push(...(await short.drain()));
  longFrames.push(...(await long.drain()));
  batchedFrames.push(...(await batched.drain()));
  if (native !== null) nativeFrames.push(...(await native.drain()));
  if (runs !== null) runsFrames.push(...(await runs.drain()));
  const view = (frames: FrameRecord[]) => frames.map((f) => ({ ...f, data: Buffer.from(f.data).toString('base64') }));
  expect(view(shortFrames), `seed ${seed}`).toEqual(view(longFrames));
  expect(short.assembler.stats, `seed ${seed}`).toEqual(long.assembler.stats);
  expect(view(batchedFrames), `seed ${seed}, copyRuns`).toEqual(view(longFrames));
  expect(batched.assembler.stats, `seed ${seed}, copyRuns`).toEqual(long.assembler.stats);
  if (native !== null) {
    expect(view(nativeFrames), `seed ${seed}, isoScan`).toEqual(view(longFrames));
    expect(native.assembler.stats, `seed ${seed}, isoScan`).toEqual(long.assembler.stats);
    expect(native.assembler.timestampStats, `seed ${seed}, isoScan`).toEqual(long.assembler.timestampStats);
    scanned.all += long.assembler.stats.payloads;
  }
  if (runs !== null) {
    expect(view(runsFrames), `seed ${seed}, scanSlots`).toEqual(view(longFrames));
    expect(runs.assembler.stats, `seed ${seed}, scanSlots`).toEqual(long.assembler.stats);
    expect(runs.assembler.timestampStats, `seed ${seed}, scanSlots`).toEqual(long.assembler.timestampStats);
  }
}
