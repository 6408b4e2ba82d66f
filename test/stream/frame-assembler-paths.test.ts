/**
 * The assembler's short path (a packet that continues the open frame, handled inline) and its long path
 * (payloadStart / append / payloadEnd) must agree: the same frames, bytes, flags, sequence numbers, timestamps
 * and counters, whatever the packets hold. Random iso streams, mostly plausible (continuing packets, FID toggles,
 * EOF, ERR, PTS/SCR headers) with random damage (garbage headers, failed and empty packets, lost bus time,
 * failed transfers), go through two assemblers, one with the short path turned off; and through a third whose
 * short path notes its copies and makes them in runs (copyRuns, as with the native transport; here a copyRuns in
 * JavaScript that checks its rows as the addon's does).
 */
import { describe, expect, it } from 'vitest';
import { TransferStatus, type CopyRuns } from '../../src/transport/usb-transport.js';
import type { FrameAssemblerOptions, VideoFormatKind } from '../../src/stream/frame-assembler.js';
import { assemblerRig, type FrameRecord } from './helpers/assembler-rig.js';
import { Random } from './helpers/random.js';
import { bulkTransfer, concat, header, isoTransfer, pattern, type IsoPacket } from './helpers/transfers.js';

const STRIDE = 1024;
const INTERVAL = 125_000;

function randomPacket(random: Random, state: { fid: number; pts: number; sof: number }, kind: VideoFormatKind): IsoPacket {
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

/** The addon's copyRuns in JavaScript: every row checked first, then copied. */
const copyRuns: CopyRuns = (source, destination, table, count) => {
  for (let r = 0; r < count; r++) {
    const [from, length, to] = [table[3 * r]!, table[3 * r + 1]!, table[3 * r + 2]!];
    if (from < 0 || length < 0 || to < 0 || from + length > source.length || to + length > destination.length) throw new RangeError(`row ${r} is out of bounds`);
  }
  for (let r = 0; r < count; r++) destination.set(source.subarray(table[3 * r]!, table[3 * r]! + table[3 * r + 1]!), table[3 * r + 2]!);
};

async function run(seed: number): Promise<void> {
  const random = new Random(seed);
  const kind = random.pick<VideoFormatKind>(['uncompressed', 'mjpeg', 'h264', 'compressed']);
  const expectedFrameSize = kind === 'uncompressed' ? random.pick([3000, 5000, 8192]) : undefined;
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
  // Buffers sometimes smaller than a frame, so overflows happen.
  const bufferSize = random.pick([2500, 6000, 16_384]);
  const short = await assemblerRig(options, { bufferSize, buffers: 3 });
  const long = await assemblerRig({ ...options, shortPath: false }, { bufferSize, buffers: 3 });
  const batched = await assemblerRig({ ...options, copyRuns }, { bufferSize, buffers: 3 });
  const state = { fid: 0, pts: 0, sof: 0 };
  let now = 1_000_000_000;
  const shortFrames: FrameRecord[] = [];
  const longFrames: FrameRecord[] = [];
  const batchedFrames: FrameRecord[] = [];
  for (let t = 0; t < 120; t++) {
    const count = random.int(1, 16);
    const packets = Array.from({ length: count }, () => randomPacket(random, state, kind));
    now += count * INTERVAL;
    const transfer = isoTransfer(packets, {
      stride: STRIDE,
      slot: t % 4,
      completedAtNs: now,
      lostIntervals: random.chance(0.05) ? random.int(1, 200) : 0,
      status: random.chance(0.02) ? TransferStatus.ERROR : TransferStatus.COMPLETED,
    });
    short.feed(transfer);
    long.feed(transfer);
    batched.feed(transfer);
    if (random.chance(0.5)) {
      shortFrames.push(...(await short.drain()));
      longFrames.push(...(await long.drain()));
      batchedFrames.push(...(await batched.drain()));
    }
  }
  shortFrames.push(...(await short.drain()));
  longFrames.push(...(await long.drain()));
  batchedFrames.push(...(await batched.drain()));
  const view = (frames: FrameRecord[]) => frames.map((f) => ({ ...f, data: Buffer.from(f.data).toString('base64') }));
  expect(view(shortFrames), `seed ${seed}`).toEqual(view(longFrames));
  expect(short.assembler.stats, `seed ${seed}`).toEqual(long.assembler.stats);
  expect(view(batchedFrames), `seed ${seed}, copyRuns`).toEqual(view(longFrames));
  expect(batched.assembler.stats, `seed ${seed}, copyRuns`).toEqual(long.assembler.stats);
}

describe('assembler paths', () => {
  it('the short path (copying per packet, or in runs with copyRuns) and the long path agree on random packets', async () => {
    for (let seed = 1; seed <= 60; seed++) await run(seed);
  });
});

/** Random iso transfers for `options`, after `count` earlier ones (the same seed gives the same transfers). */
function randomTransfers(seed: number, kind: VideoFormatKind, count: number) {
  const random = new Random(seed);
  const state = { fid: 0, pts: 0, sof: 0 };
  let now = 1_000_000_000;
  return Array.from({ length: count }, (_, t) => {
    const packets = Array.from({ length: random.int(1, 16) }, () => randomPacket(random, state, kind));
    now += packets.length * INTERVAL;
    return isoTransfer(packets, { stride: STRIDE, slot: t % 4, completedAtNs: now, lostIntervals: random.chance(0.05) ? random.int(1, 200) : 0 });
  });
}

const withoutIndex = (frames: FrameRecord[]) => frames.map(({ index: _index, ...f }) => ({ ...f, data: Buffer.from(f.data).toString('base64') }));

describe('reset()', () => {
  it('leaves nothing behind: after reset an assembler does what a new one does (iso, random streams)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const kind = new Random(seed).pick<VideoFormatKind>(['uncompressed', 'mjpeg', 'h264']);
      const options: FrameAssemblerOptions = {
        formatKind: kind,
        transferType: 'iso',
        intervalNs: INTERVAL,
        expectedFrameSize: kind === 'uncompressed' ? 5000 : undefined,
        clockFrequency: 48_000_000,
        frameIntervalNs: 40 * INTERVAL,
      };
      const used = await assemblerRig(options, { bufferSize: 6000, buffers: 3 });
      used.feed(...randomTransfers(seed + 1000, kind, 30)); // leaves a frame open, FID history, clock samples
      await used.drain();
      used.assembler.reset();
      const fresh = await assemblerRig(options, { bufferSize: 6000, buffers: 3 });
      const after = randomTransfers(seed, kind, 60);
      used.feed(...after);
      fresh.feed(...after);
      expect(withoutIndex(await used.drain()), `seed ${seed}`).toEqual(withoutIndex(await fresh.drain()));
      expect(used.assembler.stats).toEqual(fresh.assembler.stats);
    }
  });

  it('forgets a bulk payload cut off in the middle', async () => {
    const options: FrameAssemblerOptions = { formatKind: 'uncompressed', transferType: 'bulk', expectedFrameSize: 3000, maxPayloadSize: 4096, transferSize: 1024 };
    const frame = (fid: number) => concat(header({ fid, eof: true }), pattern(3000, fid + 1));
    const transfers = (bytes: Uint8Array) => {
      const out = [];
      for (let at = 0; at < bytes.length; at += 1024) out.push(bulkTransfer(bytes.subarray(at, at + 1024), { transferSize: 1024 }));
      return out;
    };
    const used = await assemblerRig(options, { bufferSize: 3000, buffers: 2 });
    used.feed(...transfers(frame(0)).slice(0, 2)); // half a payload, and its frame, in hand
    used.assembler.reset();
    const fresh = await assemblerRig(options, { bufferSize: 3000, buffers: 2 });
    const next = [...transfers(frame(1)), ...transfers(frame(0))];
    used.feed(...next);
    fresh.feed(...next);
    const frames = await used.drain();
    expect(withoutIndex(frames)).toEqual(withoutIndex(await fresh.drain()));
    expect(frames.map((f) => [f.sequence, f.error, f.bytesused])).toEqual([
      [0, false, 3000],
      [1, false, 3000],
    ]);
    expect(used.assembler.stats).toEqual(fresh.assembler.stats);
  });
});
