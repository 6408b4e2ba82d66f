// The addon's memcpySlices: the C memcpy baseline of the assembly benchmark (bench/assembly.ts).
import { describe, expect, it } from 'vitest';

import { loadNativeAddon } from '../../src/transport/native/index.js';

describe('memcpySlices (benchmark baseline)', () => {
  it('copies each row of the table from its source to its destination, nothing else', () => {
    const addon = loadNativeAddon();
    const a = Uint8Array.from({ length: 64 }, (_, i) => i);
    const b = Uint8Array.from({ length: 64 }, (_, i) => 200 - i);
    const out = [new Uint8Array(32), new Uint8Array(32)];
    addon.memcpySlices([a.buffer, b.buffer], out.map((o) => o.buffer), Int32Array.from([0, 10, 4, 1, 0, 1, 60, 4, 1, 4, 0, 0, 0, 0, 31]));
    expect(Array.from(out[1]!.subarray(0, 8))).toEqual([10, 11, 12, 13, 140, 139, 138, 137]);
    expect(out[1]!.subarray(8).every((x) => x === 0)).toBe(true);
    expect(out[0]!.every((x) => x === 0)).toBe(true);
  });

  it('refuses a row out of bounds before copying anything', () => {
    const addon = loadNativeAddon();
    const source = new Uint8Array(16).fill(7);
    const out = new Uint8Array(16);
    const bad = [
      [0, 0, 4, 0, 0, 0, 8, 9, 0, 0], // second row reads past the source
      [0, 0, 4, 0, 13],
      [1, 0, 4, 0, 0],
      [0, 0, 4, 1, 0],
      [0, -1, 4, 0, 0],
    ];
    for (const rows of bad) {
      expect(() => addon.memcpySlices([source.buffer], [out.buffer], Int32Array.from(rows))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(out.every((x) => x === 0)).toBe(true);
    }
    expect(() => addon.memcpySlices([source.buffer], [out.buffer], new Float64Array(5) as unknown as Int32Array)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
