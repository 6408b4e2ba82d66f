// The addon's copyRuns: the frame assembler's copy on the native transport (src/stream/frame-assembler.ts).
import { describe, expect, it } from 'vitest';

import { loadNativeAddon } from '../../src/transport/native/index.js';
import { assemblerRig } from '../stream/helpers/assembler-rig.js';
import { concat, header, isoTransfer, pattern } from '../stream/helpers/transfers.js';

describe('copyRuns (the assembler\'s copy on the native transport)', () => {
  it('copies the first `count` rows [sourceOffset, length, destinationOffset], relative to the views, nothing else', () => {
    const { copyRuns } = loadNativeAddon();
    const backing = Uint8Array.from({ length: 96 }, (_, i) => i);
    const source = backing.subarray(16); // views with offsets: rows are relative to them
    const out = new Uint8Array(64).fill(0xee);
    const destination = out.subarray(8, 40);
    copyRuns(source, destination, Int32Array.from([0, 4, 0, 10, 3, 4, 79, 1, 31, 5, 5, 20]), 3);
    expect([...out.subarray(8, 16)]).toEqual([16, 17, 18, 19, 26, 27, 28, 0xee]);
    expect(out[8 + 31]).toBe(95);
    expect(out[8 + 20]).toBe(0xee); // the fourth row is beyond `count`
    expect(out.filter((b) => b !== 0xee)).toHaveLength(8);
  });

  it('refuses rows out of either view, a wrong table or count, and then writes nothing (EINVAL)', () => {
    const { copyRuns } = loadNativeAddon();
    const source = new Uint8Array(32).fill(1);
    const out = new Uint8Array(64);
    const destination = out.subarray(0, 16);
    const bad = [
      [0, 33, 0], // longer than the source
      [30, 4, 0],
      [0, 8, 10], // past the destination view (though inside its ArrayBuffer)
      [-1, 4, 0],
      [0, -4, 0],
      [0, 4, -1],
    ];
    for (const row of bad) {
      expect(() => copyRuns(source, destination, Int32Array.from([0, 4, 0, ...row]), 2), `row ${row}`).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(out.every((b) => b === 0)).toBe(true);
    }
    expect(() => copyRuns(source, destination, Int32Array.from([0, 4, 0]), 2)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => copyRuns(source, destination, Int32Array.from([0, 4, 0]), -1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => copyRuns(source, destination, new Float64Array(3) as unknown as Int32Array, 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => copyRuns(new Uint16Array(8) as unknown as Uint8Array, destination, Int32Array.from([0, 4, 0]), 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it('an assembler copying with it makes the same frames as one copying with TypedArray.set', async () => {
    const { copyRuns } = loadNativeAddon();
    const options = { formatKind: 'uncompressed' as const, transferType: 'iso' as const, intervalNs: 125_000, expectedFrameSize: 5000 };
    const plain = await assemblerRig(options, { bufferSize: 5000, buffers: 3 });
    const native = await assemblerRig({ ...options, copyRuns }, { bufferSize: 5000, buffers: 3 });
    // Frames of 5000 bytes in 1012-byte payloads (a 12-byte header each): frames end inside transfers, by size.
    const stride = 1024;
    const packets = [];
    for (let f = 0; f < 6; f++) {
      const data = pattern(5000, f + 1);
      for (let at = 0; at < 5000; at += stride - 12) packets.push({ bytes: concat(header({ fid: f & 1, pts: f * 1000, scr: { stc: f, sof: f } }), data.subarray(at, at + stride - 12)) });
    }
    const frames = [];
    const plainFrames = [];
    for (let at = 0; at < packets.length; at += 7) {
      const transfer = isoTransfer(packets.slice(at, at + 7), { stride, completedAtNs: 1e9 + at * 125_000 });
      plain.feed(transfer);
      native.feed(transfer);
      frames.push(...(await native.drain()));
      plainFrames.push(...(await plain.drain()));
    }
    expect(frames.map((f) => [f.sequence, f.error, f.bytesused])).toEqual(plainFrames.map((f) => [f.sequence, f.error, f.bytesused]));
    expect(frames.length).toBeGreaterThanOrEqual(5);
    frames.forEach((f) => expect(Buffer.compare(f.data, pattern(5000, f.sequence + 1)), `frame ${f.sequence}`).toBe(0));
    expect(native.assembler.stats).toEqual(plain.assembler.stats);
  });
});
