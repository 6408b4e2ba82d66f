// The addon's isoScan: the frame assembler's iso short path in C (native/iso_scan.cc states its contract): what
// one call does, where it stops, that misuse is refused before anything is written, and (as in
// test/stream/frame-assembler-paths.test.ts, here also under ASan in CI) that an assembler using it makes what the
// long path makes from seeded streams.
import { describe, expect, it } from 'vitest';

import { ScanField, ScanMemory, SCAN_FIELDS, SCAN_ROW, SCAN_SOF_MODE } from '../../src/stream/iso-scan.js';
import { loadNativeAddon } from '../../src/transport/native/index.js';
import { TransferStatus } from '../../src/transport/usb-transport.js';
import { comparePaths, type ScanCount } from '../stream/helpers/path-streams.js';
import { SlotPool } from '../stream/helpers/slot-pool.js';
import { concat, header, isoTransfer, pattern, type IsoPacket } from '../stream/helpers/transfers.js';

const STRIDE = 64;
const INTERVAL = 125_000;

/** A packet of the open frame (FID 0, PTS 1000) with `data` bytes, its SOF `sof`. */
function packet(data: number, sof: number, extra: { fid?: number; eof?: boolean; err?: boolean; pts?: number; seed?: number } = {}): IsoPacket {
  return { bytes: concat(header({ fid: extra.fid ?? 0, eof: extra.eof, err: extra.err, pts: extra.pts ?? 1000, scr: { stc: sof * 48_000 + 7, sof } }), pattern(data, extra.seed ?? sof)) };
}

/** A block whose state is a frame open with FID 0 and PTS 1000, 100 bytes in, SOF 5 seen at slot 0, SOF 'consistent'. */
function openState(memory: ScanMemory, count: number, fields: Partial<Record<keyof typeof ScanField, number>> = {}): Float64Array {
  const s = memory.block;
  s.fill(0);
  s[ScanField.COUNT] = count;
  s[ScanField.STRIDE] = STRIDE;
  s[ScanField.CAPACITY] = 1000;
  s[ScanField.INTERVAL_NS] = INTERVAL;
  s[ScanField.SOF_MODE] = SCAN_SOF_MODE.consistent;
  s[ScanField.HAS_PTS] = 1;
  s[ScanField.PTS] = 1000;
  s[ScanField.FRAME_BYTES] = 100;
  s[ScanField.POSITION] = 100;
  s[ScanField.LAST_SOF] = 5;
  s[ScanField.SOF_AGREED] = 20;
  for (const [name, value] of Object.entries(fields)) s[ScanField[name as keyof typeof ScanField]] = value!;
  return s;
}

/** A call refused as misuse: it throws EINVAL, and neither the state block nor the output memory was written. */
function expectRefused(block: Float64Array, out: Uint8Array, call: () => unknown): void {
  const before = Float64Array.from(block);
  expect(call).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  expect([...block]).toEqual([...before]);
  expect(out.every((b) => b === 0)).toBe(true);
}

describe('isoScan (the assembler\'s iso short path in C)', () => {
  const { isoScan } = loadNativeAddon();

  it('copies the payloads of packets that continue the frame, counts them, and rows the SOF changes', () => {
    // Slots 0-15: SOF 5 for slots 0-7, 6 for 8-15 (one SOF per 8 microframes), packet 3 empty, packet 4 header only.
    const packets = Array.from({ length: 16 }, (_, i) => (i === 3 ? {} : packet(i === 4 ? 0 : 40, 5 + (i >> 3), { seed: i })));
    const transfer = isoTransfer(packets, { stride: STRIDE });
    const scan = new ScanMemory();
    const memory = new Uint8Array(1000).fill(0xee);
    const s = openState(scan, 16, { SLOT_BASE: 0 });
    const stop = isoScan(transfer.buffer, transfer.packetLength, transfer.packetStatus, memory, s);
    expect(stop).toBe(16);
    expect(s[ScanField.PAYLOADS]).toBe(15); // all but the empty packet
    expect(s[ScanField.BYTES]).toBe(14 * 40);
    expect(s[ScanField.FRAME_BYTES]).toBe(100 + 14 * 40);
    expect(s[ScanField.POSITION]).toBe(100 + 14 * 40);
    const expected = concat(...packets.map((_, i) => (i === 3 || i === 4 ? new Uint8Array(0) : pattern(40, i))));
    expect(Buffer.compare(memory.subarray(100, 100 + expected.length), expected)).toBe(0);
    expect(memory[99]).toBe(0xee);
    expect(memory[100 + expected.length]).toBe(0xee);
    // The SOF moved on once, at packet 8: one sample row (its packet, STC, SOF, data, frame bytes before it), the
    // SOF and its slot moved, agreed once more.
    expect(s[ScanField.SAMPLES]).toBe(1);
    expect([...s.subarray(SCAN_FIELDS, SCAN_FIELDS + SCAN_ROW)]).toEqual([8, 6 * 48_000 + 7, 6, 1, 100 + 6 * 40]);
    expect(s[ScanField.ENDED]).toBe(0);
    expect(s[ScanField.LAST_SOF]).toBe(6);
    expect(s[ScanField.LAST_SOF_AT]).toBe(8);
    expect(s[ScanField.SOF_AGREED]).toBe(21);
    // ptsDue: set where the SOF moved on, cleared by the next payload with data and a PTS.
    expect(s[ScanField.PTS_DUE]).toBe(0);
    expect(s[ScanField.PTS_OFFSET]).toBe(-1); // the frame had its PTS
  });

  it('notes the frame\'s PTS from its first payload with data when it had none, and counts without a buffer', () => {
    const transfer = isoTransfer([packet(0, 5, { pts: 7 }), packet(10, 5, { pts: 7 }), packet(10, 5, { pts: 7 })], { stride: STRIDE });
    const scan = new ScanMemory();
    const s = openState(scan, 3, { HAS_PTS: 0, PTS: 0, CAPACITY: 0, POSITION: 0 });
    expect(isoScan(transfer.buffer, transfer.packetLength, transfer.packetStatus, null, s)).toBe(3);
    expect(s[ScanField.PTS_OFFSET]).toBe(STRIDE);
    expect(s[ScanField.FRAME_BYTES]).toBe(120);
    expect(s[ScanField.POSITION]).toBe(0);
  });

  it('stops in front of every packet the short path does not take, leaving it untouched', () => {
    const cases: [string, IsoPacket, Partial<Record<keyof typeof ScanField, number>>?, IsoPacket?][] = [
      ['a failed packet', { status: TransferStatus.ERROR, bytes: packet(10, 5).bytes }],
      ['a FID change', packet(10, 5, { fid: 1 })],
      ['the ERR bit', packet(10, 5, { err: true })],
      ['an invalid header', { bytes: Uint8Array.of(13, 0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12) }],
      // The same first two bytes as the header before it (the scan remembers that one as usable), cut short.
      ['a header cut short', { bytes: concat(header({ pts: 1000 }), pattern(10)).subarray(0, 5) }, {}, { bytes: concat(header({ pts: 1000 }), pattern(10)) }],
      ['a header without EOH (required)', { bytes: concat(header({ eoh: false }), pattern(4)) }, { REQUIRE_EOH: 1 }],
      ['data that does not fit', packet(40, 5), { CAPACITY: 120 }],
      ['a JPEG SOI (MJPEG)', { bytes: concat(header({ pts: 1000 }), Uint8Array.of(0xff, 0xd8, 1)) }, { MJPEG: 1 }],
      ['another PTS where it is checked (no SCR)', { bytes: concat(header({ pts: 1001 }), pattern(4)) }],
      ['another PTS where the SOF moves on', packet(10, 6, { pts: 1001 })],
      // (Packet 0 has no PTS here: it leaves ptsDue set.)
      ['another PTS while ptsDue', packet(10, 5, { pts: 1001 }), { PTS_DUE: 1 }, { bytes: concat(header({ scr: { stc: 1, sof: 5 } }), pattern(10)) }],
      ['a SOF jump', packet(10, 9)],
      ['a SOF running slow', packet(10, 6), { SLOT_BASE: 40 }],
      ['a host gap pending at a SOF change', packet(10, 6), { HOST_GAP: 3 }],
      // noteSof clears the host gap at any SOF change, also where it weighs no evidence.
      ['a host gap pending at a SOF change (SOF unusable)', packet(10, 6), { HOST_GAP: 3, SOF_MODE: SCAN_SOF_MODE.unusable }],
      ['a host gap pending at the first SOF', packet(10, 6), { HOST_GAP: 3, LAST_SOF: -1 }, { bytes: concat(header({ pts: 1000 }), pattern(10)) }],
      ['the 8th agreeing SOF sample (learning)', packet(10, 6), { SOF_MODE: SCAN_SOF_MODE.unknown, SOF_AGREED: 7 }],
    ];
    // The same transfer with an ordinary packet 1 (SOF 6 at slot 9): taken, and the scan runs to the end.
    const plain = isoTransfer([packet(10, 5), packet(10, 6), packet(10, 6)], { stride: STRIDE });
    const control = new ScanMemory();
    expect(isoScan(plain.buffer, plain.packetLength, plain.packetStatus, new Uint8Array(1000), openState(control, 3, { SLOT_BASE: 8 }))).toBe(3);
    for (const [what, stopper, fields, first] of cases) {
      // Packet 0 is taken; the scan stops at packet 1 (slot 9: the SOF 6 is an ordinary change there).
      const transfer = isoTransfer([first ?? packet(10, 5), stopper, packet(10, 5)], { stride: STRIDE });
      const scan = new ScanMemory();
      const memory = new Uint8Array(1000);
      const s = openState(scan, 3, { SLOT_BASE: 8, ...fields });
      const stop = isoScan(transfer.buffer, transfer.packetLength, transfer.packetStatus, memory, s);
      expect(stop, what).toBe(1);
      expect(s[ScanField.PAYLOADS], what).toBe(1);
      expect(s[ScanField.FRAME_BYTES], what).toBe(110);
      expect(s[ScanField.SAMPLES], what).toBe(0);
      expect(s[ScanField.ENDED], what).toBe(0);
      expect(memory.subarray(110).every((b) => b === 0), what).toBe(true);
    }
  });

  it('takes the packet that plainly ends the frame (EOF, the exact size) and stops right after it, saying so', () => {
    const cases: [string, IsoPacket, Partial<Record<keyof typeof ScanField, number>>, number][] = [
      // [what, packet 1, fields, frame bytes after it]
      ['EOF with data', packet(10, 6, { eof: true }), {}, 120],
      ['EOF, header only', packet(0, 6, { eof: true }), {}, 110],
      ['the exact frame size', packet(10, 6), { EXPECTED_SIZE: 120 }, 120],
      ['EOF with data, past the expected size', packet(10, 6, { eof: true }), { EXPECTED_SIZE: 115 }, 120],
    ];
    for (const [what, ender, fields, bytes] of cases) {
      // Packet 0 is taken, packet 1 ends the frame (SOF 6 at slot 9: an ordinary change), packet 2 is left.
      const transfer = isoTransfer([packet(10, 5), ender, packet(10, 6, { fid: 1 })], { stride: STRIDE });
      const memory = new Uint8Array(1000);
      const s = openState(new ScanMemory(), 3, { SLOT_BASE: 8, ...fields });
      const stop = isoScan(transfer.buffer, transfer.packetLength, transfer.packetStatus, memory, s);
      expect(stop, what).toBe(2);
      expect(s[ScanField.ENDED], what).toBe(1);
      expect(s[ScanField.PAYLOADS], what).toBe(2);
      expect(s[ScanField.FRAME_BYTES], what).toBe(bytes);
      expect(s[ScanField.POSITION], what).toBe(bytes);
      expect(Buffer.compare(memory.subarray(110, bytes), pattern(bytes - 110, 6)), what).toBe(0);
      expect(memory[bytes], what).toBe(0);
      // Its SOF sample is rowed (the clock gets it before the frame ends).
      expect(s[ScanField.SAMPLES], what).toBe(1);
      expect(s[SCAN_FIELDS], what).toBe(1);
      expect(s[ScanField.LAST_SOF], what).toBe(6);
    }
    // A frame that reaches its size with a packet carrying a FID change is not plain: the scan stops in front.
    const transfer = isoTransfer([packet(10, 5), packet(10, 5, { fid: 1 })], { stride: STRIDE });
    const s = openState(new ScanMemory(), 2, { EXPECTED_SIZE: 120 });
    expect(isoScan(transfer.buffer, transfer.packetLength, transfer.packetStatus, new Uint8Array(1000), s)).toBe(1);
    expect(s[ScanField.ENDED]).toBe(0);
  });

  it('stops at a packet longer than its slot or past the buffer (the device may say anything)', () => {
    for (const length of [STRIDE + 1, 3 * STRIDE, 0x7fffffff]) {
      const transfer = isoTransfer([packet(10, 5), packet(10, 5), packet(10, 5)], { stride: STRIDE });
      transfer.packetLength[2] = length;
      const scan = new ScanMemory();
      const s = openState(scan, 3);
      expect(isoScan(transfer.buffer, transfer.packetLength, transfer.packetStatus, new Uint8Array(1000), s), `length ${length}`).toBe(2);
    }
    // The last packet of a buffer shorter than count × stride.
    const transfer = isoTransfer([packet(10, 5), packet(10, 5)], { stride: STRIDE });
    const scan = new ScanMemory();
    const s = openState(scan, 2);
    expect(isoScan(transfer.buffer.subarray(0, STRIDE + 5), transfer.packetLength, transfer.packetStatus, new Uint8Array(1000), s)).toBe(1);
  });

  it('stops when its sample table is full, before the packet that needs a row', () => {
    const transfer = isoTransfer([packet(10, 5), packet(10, 6), packet(10, 6)], { stride: STRIDE });
    const full = openState(new ScanMemory(), 3, { SLOT_BASE: 8 });
    const s = full.slice(0, SCAN_FIELDS + 2); // the state and less than a row
    expect(isoScan(transfer.buffer, transfer.packetLength, transfer.packetStatus, new Uint8Array(1000), s)).toBe(1);
    expect(s[ScanField.SAMPLES]).toBe(0);
    expect(s[ScanField.PAYLOADS]).toBe(1);
  });

  it('refuses misuse with EINVAL and writes nothing', () => {
    const transfer = isoTransfer([packet(10, 5), packet(10, 5)], { stride: STRIDE });
    const scan = new ScanMemory();
    const out = new Uint8Array(2000);
    const memory = out.subarray(0, 1000);
    const call = (fields: Partial<Record<keyof typeof ScanField, number>>, args: Partial<{ source: unknown; lengths: unknown; statuses: unknown; memory: unknown; block: unknown }> = {}) => {
      const s = openState(scan, 2, fields);
      expectRefused(s, out, () =>
        (isoScan as (...a: unknown[]) => number)(
          'source' in args ? args.source : transfer.buffer,
          'lengths' in args ? args.lengths : transfer.packetLength,
          'statuses' in args ? args.statuses : transfer.packetStatus,
          'memory' in args ? args.memory : memory,
          'block' in args ? args.block : s,
        ),
      );
    };
    call({ COUNT: 3 }); // more packets than the tables hold
    call({ COUNT: -1 });
    call({ START: 3 });
    call({ START: 0.5 });
    call({ STRIDE: 0 });
    call({ CAPACITY: 1001 }); // more than the buffer holds (though inside its ArrayBuffer)
    call({ POSITION: 1001, CAPACITY: 1000 });
    call({ POSITION: -1 });
    call({ FRAME_BYTES: Number.NaN });
    call({ FRAME_BYTES: 100.5 }); // byte counts are integers
    call({ EXPECTED_SIZE: 120.5 });
    call({ FID: 2 });
    call({ LAST_SOF: 2048 });
    call({ PTS: 2 ** 32 });
    call({ SOF_MODE: 3 });
    call({ INTERVAL_NS: Number.POSITIVE_INFINITY });
    call({}, { block: new Float64Array(ScanField.SAMPLES) }); // too short for the state
    call({}, { block: undefined });
    call({}, { block: Array.from(new Float64Array(SCAN_FIELDS + 3)) });
    // Views are taken by their bytes: a length that is no whole number of elements, or a misaligned view, is refused.
    call({}, { block: new Uint8Array(8 * SCAN_FIELDS + 12) });
    call({}, { block: new Uint8Array(8 * SCAN_FIELDS + 9).subarray(1) });
    call({}, { lengths: new Uint8Array(7) });
    call({}, { lengths: new Uint8Array(9).subarray(1) });
    call({}, { statuses: [0, 0] });
    call({}, { source: 'bytes' });
    call({}, { memory: 1000 });
    call({}, { memory: {} });
  });

  it('an assembler using it makes the frames and counters the long path makes (seeded streams)', async () => {
    const addon = loadNativeAddon();
    const scanned: ScanCount = { payloads: 0, all: 0, ended: 0 };
    for (let seed = 101; seed <= 108; seed++) {
      await comparePaths(seed, 'random', addon);
      await comparePaths(seed, 'camera', addon, scanned);
    }
    expect(scanned.payloads / scanned.all).toBeGreaterThan(0.6);
    // Frames ended by a packet the scan took (EOF, the exact size) were among them.
    expect(scanned.ended).toBeGreaterThan(20);
  });
});

describe('scanSlots (the same over a run of transfers in a stream\'s slots)', () => {
  const addon = loadNativeAddon();
  /** Three transfers of 3, 2 and 3 packets in slots 4, 0 and 2 of a pool; SOF 5 until the run's packet 4 (slot 12 with SLOT_BASE 8), then 6. */
  function threeTransfers(last: IsoPacket[] = [packet(10, 6), packet(10, 6), packet(10, 6)]) {
    const pool = new SlotPool(addon, 5, 4, STRIDE);
    const made = [
      isoTransfer([packet(10, 5, { seed: 1 }), packet(10, 5, { seed: 2 }), packet(10, 5, { seed: 3 })], { stride: STRIDE }),
      isoTransfer([packet(10, 5, { seed: 4 }), packet(10, 6, { seed: 5 })], { stride: STRIDE }),
      isoTransfer(last, { stride: STRIDE }),
    ];
    const placed = [4, 0, 2].map((slot, i) => {
      while (pool.place(made[i]!).slot !== slot);
      return slot;
    });
    return { pool, slots: Int32Array.from(placed), counts: Int32Array.from(made.map((t) => t.packetCount)) };
  }

  it('goes on from one transfer to the next, rowing samples by their packet in the run, and says it took them all', () => {
    const { pool, slots, counts } = threeTransfers();
    const memory = new Uint8Array(1000);
    const s = openState(new ScanMemory(), 3, { SLOT_BASE: 8, START: 1, RUN_LENGTH: 3 });
    expect(pool.scanSlots(slots, counts, memory, s)).toBe(0);
    expect(s[ScanField.RUN]).toBe(3);
    expect(s[ScanField.PAYLOADS]).toBe(7); // all but packet 0 of the first transfer (START 1)
    expect(s[ScanField.FRAME_BYTES]).toBe(170);
    expect(s[ScanField.ENDED]).toBe(0);
    // One sample: the SOF moved on at the second transfer's packet 1, the run's packet 4 (slot 12).
    expect(s[ScanField.SAMPLES]).toBe(1);
    expect([...s.subarray(SCAN_FIELDS, SCAN_FIELDS + SCAN_ROW)]).toEqual([4, 6 * 48_000 + 7, 6, 1, 130]);
    expect(s[ScanField.LAST_SOF_AT]).toBe(12);
    expect(Buffer.compare(memory.subarray(100, 170), concat(pattern(10, 2), pattern(10, 3), pattern(10, 4), pattern(10, 5), pattern(10, 6), pattern(10, 6), pattern(10, 6)))).toBe(0);
    expect(memory[170]).toBe(0);
  });

  it('stops where isoScan would, and says in which transfer; a plain end stops it right after, as isoScan', () => {
    // A FID change at the third transfer's packet 1: stops there, in transfer 2.
    let run = threeTransfers([packet(10, 6), packet(10, 6, { fid: 1 }), packet(10, 6)]);
    let s = openState(new ScanMemory(), 3, { SLOT_BASE: 8, RUN_LENGTH: 3 });
    expect(run.pool.scanSlots(run.slots, run.counts, new Uint8Array(1000), s)).toBe(1);
    expect(s[ScanField.RUN]).toBe(2);
    expect(s[ScanField.PAYLOADS]).toBe(6);
    // EOF at the third transfer's packet 0: taken, the scan stops after it, ended.
    run = threeTransfers([packet(10, 6, { eof: true }), packet(10, 6, { fid: 1 }), packet(10, 6, { fid: 1 })]);
    s = openState(new ScanMemory(), 3, { SLOT_BASE: 8, RUN_LENGTH: 3 });
    expect(run.pool.scanSlots(run.slots, run.counts, new Uint8Array(1000), s)).toBe(1);
    expect(s[ScanField.RUN]).toBe(2);
    expect(s[ScanField.ENDED]).toBe(1);
    expect(s[ScanField.FRAME_BYTES]).toBe(160);
    // RUN_LENGTH 2: the third transfer is not looked at.
    s = openState(new ScanMemory(), 3, { SLOT_BASE: 8, RUN_LENGTH: 2 });
    expect(run.pool.scanSlots(run.slots, run.counts, new Uint8Array(1000), s)).toBe(0);
    expect(s[ScanField.RUN]).toBe(2);
    expect(s[ScanField.PAYLOADS]).toBe(5);
  });

  it('hands back the PTS a packet gave a frame that had none', () => {
    const pool = new SlotPool(addon, 2, 1, STRIDE);
    const a = pool.place(isoTransfer([packet(0, 5, { pts: 9 })], { stride: STRIDE }));
    const b = pool.place(isoTransfer([packet(10, 5, { pts: 9 })], { stride: STRIDE }));
    const s = openState(new ScanMemory(), 1, { HAS_PTS: 0, PTS: 0, RUN_LENGTH: 2 });
    pool.scanSlots(Int32Array.of(a.slot, b.slot), Int32Array.of(1, 1), new Uint8Array(1000), s);
    expect(s[ScanField.HAS_PTS]).toBe(1);
    expect(s[ScanField.PTS]).toBe(9);
    expect(s[ScanField.PTS_OFFSET]).toBe(0);
  });

  it('refuses misuse with EINVAL and writes nothing', () => {
    const good = threeTransfers();
    const out = new Uint8Array(2000);
    const memory = out.subarray(0, 1000);
    const scan = new ScanMemory();
    type Args = { slots: unknown; counts: unknown; memory: unknown; block: unknown };
    const call = (fields: Partial<Record<keyof typeof ScanField, number>>, args: Partial<Args> = {}) => {
      const s = openState(scan, 3, { RUN_LENGTH: 3, ...fields });
      expectRefused(s, out, () =>
        (good.pool.scanSlots as (...a: unknown[]) => number)(
          'slots' in args ? args.slots : good.slots,
          'counts' in args ? args.counts : good.counts,
          'memory' in args ? args.memory : memory,
          'block' in args ? args.block : s,
        ),
      );
    };
    call({ RUN_LENGTH: 0 });
    call({ RUN_LENGTH: 4 }); // more than slots and counts hold
    call({ RUN_LENGTH: 65 });
    call({ RUN_LENGTH: 1.5 });
    call({ START: 4 }); // past the first transfer's count
    call({ CAPACITY: 1001 });
    call({ FID: 2 });
    call({}, { slots: Int32Array.of(4, 5, 2) }); // no slot 5 in a pool of 5
    call({}, { slots: Int32Array.of(4, -1, 2) });
    call({}, { counts: Int32Array.of(3, 5, 3) }); // more packets than a slot holds
    call({}, { counts: Int32Array.of(3, -1, 3) });
    call({}, { counts: Int32Array.of(3, 2) }); // shorter than the run
    call({}, { counts: [3, 2, 3] });
    call({}, { slots: [4, 0, 2] });
    call({}, { memory: {} });
    call({}, { block: new Float64Array(ScanField.RUN_LENGTH) }); // too short for the state
  });

  it('slotMemory refuses what it cannot lay out', () => {
    for (const args of [[0, 4, 64], [5, 0, 64], [5, 4, 0], [2000, 4, 64], [5, 4, 1e6], [5, 4.5, 64], ['5', 4, 64], []]) {
      expect(() => (addon.slotMemory as (...a: unknown[]) => unknown)(...args), JSON.stringify(args)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});
