import { describe, expect, it } from 'vitest';
import { TransferStatus } from '../../src/transport/usb-transport.js';
import type { FrameAssemblerOptions } from '../../src/stream/frame-assembler.js';
import { assemblerRig } from './helpers/assembler-rig.js';
import { bulkTransfer, concat, header, pattern, type TestTransfer } from './helpers/transfers.js';

const TRANSFER = 16 * 1024;

function options(maxPayloadSize: number, overrides: Partial<FrameAssemblerOptions> = {}): FrameAssemblerOptions {
  return { formatKind: 'mjpeg', transferType: 'bulk', maxPayloadSize, transferSize: TRANSFER, ...overrides };
}

/** Splits one payload (header + data) into transfers as a bulk endpoint delivers it. */
function deliver(payload: Uint8Array, transferSize = TRANSFER): TestTransfer[] {
  const out: TestTransfer[] = [];
  for (let at = 0; at < payload.length; at += transferSize) {
    out.push(bulkTransfer(payload.subarray(at, at + transferSize), { transferSize, completedAtNs: 1000 + at }));
  }
  // A payload that is an exact multiple of the transfer size ends with a zero-length packet unless it reached
  // dwMaxPayloadTransferSize; callers add it when they need it.
  return out;
}

function jpeg(size: number, seed: number): Uint8Array {
  return concat(Uint8Array.of(0xff, 0xd8), pattern(size - 4, seed), Uint8Array.of(0xff, 0xd9));
}

describe('bulk assembly', () => {
  it('a payload spans transfers: only the first carries a header, a short transfer ends it', async () => {
    const rig = await assemblerRig(options(1024 * 1024), { bufferSize: 256 * 1024 });
    const f0 = jpeg(40_000, 1);
    const f1 = jpeg(20_000, 2);
    const transfers = [...deliver(concat(header({ fid: 0, eof: true }), f0)), ...deliver(concat(header({ fid: 1, eof: true }), f1))];
    expect(transfers.map((t) => t.actualLength)).toEqual([16384, 16384, 7234, 16384, 3618]);
    rig.feed(...transfers);
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error, f.bytesused])).toEqual([
      [0, false, f0.length],
      [1, false, f1.length],
    ]);
    expect(frames[0]!.data).toEqual(f0);
    expect(frames[1]!.data).toEqual(f1);
    // Timestamp: when the frame's first transfer arrived.
    expect(frames[0]!.timestamp).toBe(1000);
  });

  it('a payload of exactly dwMaxPayloadTransferSize ends without a short transfer, and a frame may take several payloads', async () => {
    const max = 2 * TRANSFER; // payloads of exactly two full transfers
    const rig = await assemblerRig(options(max), { bufferSize: 256 * 1024 });
    const frame = jpeg(3 * (max - 12) + 500, 3);
    const payloads: Uint8Array[] = [];
    for (let at = 0, i = 0; at < frame.length; at += max - 12, i++) {
      const last = at + max - 12 >= frame.length;
      // One frame, one PTS; the SCR moves on with each payload.
      payloads.push(concat(header({ fid: 1, eof: last, pts: 7, scr: { stc: i, sof: i } }), frame.subarray(at, at + max - 12)));
    }
    expect(payloads.map((p) => p.length)).toEqual([max, max, max, 512]);
    rig.feed(...payloads.flatMap((p) => deliver(p)));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.error, f.bytesused])).toEqual([[false, frame.length]]);
    expect(frames[0]!.data).toEqual(frame);
    expect(rig.assembler.stats.payloads).toBe(4);
  });

  it('a zero-length transfer ends a payload that is a multiple of the transfer size; between payloads it is ignored', async () => {
    const rig = await assemblerRig(options(1024 * 1024), { bufferSize: 64 * 1024 });
    const f0 = jpeg(TRANSFER - 12, 4); // header + data = exactly one transfer
    const zlp = bulkTransfer(new Uint8Array(0), { transferSize: TRANSFER });
    const f1 = jpeg(1000, 5);
    rig.feed(zlp, ...deliver(concat(header({ fid: 0, eof: true }), f0)), zlp, zlp, ...deliver(concat(header({ fid: 1, eof: true }), f1)));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.error, f.bytesused])).toEqual([
      [false, f0.length],
      [false, f1.length],
    ]);
  });

  it('frames without EOF end at the next FID change, across payloads', async () => {
    const rig = await assemblerRig(options(1024 * 1024), { bufferSize: 64 * 1024 });
    const frames = [6, 7, 8].map((seed) => jpeg(5000, seed));
    rig.feed(...frames.flatMap((f, n) => deliver(concat(header({ fid: n & 1 }), f))));
    const out = await rig.drain();
    expect(out.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [1, false],
    ]);
    expect(out[1]!.data).toEqual(frames[1]);
  });

  it('a failed transfer flags the frame and skips to the next payload boundary', async () => {
    const rig = await assemblerRig(options(1024 * 1024), { bufferSize: 256 * 1024 });
    const f0 = jpeg(40_000, 9);
    const f1 = jpeg(40_000, 10);
    const f2 = jpeg(10_000, 11);
    const t0 = deliver(concat(header({ fid: 0, eof: true }), f0));
    const t1 = deliver(concat(header({ fid: 1, eof: true }), f1));
    const t2 = deliver(concat(header({ fid: 0, eof: true }), f2));
    t0[1]!.status = TransferStatus.ERROR; // mid-payload: where frame 0's payload ends is now unknown
    rig.feed(...t0, ...t1, ...t2);
    const frames = await rig.drain();
    // Frame 0 ends at the next FID change, flagged; frame 1 begins with that FID change and has its SOI and EOI:
    // the lost data was not its own; frame 2 is clean.
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, true],
      [1, false],
      [2, false],
    ]);
    expect(frames[1]!.data).toEqual(f1);
    expect(frames[0]!.bytesused).toBe(TRANSFER - 2);
    expect(frames[2]!.data).toEqual(f2);
    expect(rig.assembler.stats.lostPackets).toBe(1);
  });

  it('an invalid payload header drops the whole payload, not just its first transfer', async () => {
    const rig = await assemblerRig(options(1024 * 1024), { bufferSize: 256 * 1024 });
    const f0 = jpeg(20_000, 12);
    const bogus = concat(Uint8Array.of(0x30, 0x8d), pattern(30_000, 13));
    const f1 = jpeg(20_000, 14);
    rig.feed(...deliver(concat(header({ fid: 0, eof: true }), f0)), ...deliver(bogus), ...deliver(concat(header({ fid: 1, eof: true }), f1)));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [1, false], // the bogus payload might have been its start, but it begins with its FID change and its SOI
    ]);
    expect(frames[1]!.data).toEqual(f1);
    expect(rig.assembler.stats.invalidHeaders).toBe(1);
  });

  it('bulk uncompressed frames are checked against the expected size', async () => {
    const size = 30_000;
    const rig = await assemblerRig(options(1024 * 1024, { formatKind: 'uncompressed', expectedFrameSize: size }), { bufferSize: size });
    rig.feed(
      ...deliver(concat(header({ fid: 0, eof: true }), pattern(size, 1))),
      ...deliver(concat(header({ fid: 1, eof: true }), pattern(size - 10, 2))),
    );
    const frames = await rig.drain();
    expect(frames.map((f) => [f.error, f.bytesused])).toEqual([
      [false, size],
      [true, size - 10],
    ]);
  });
});
