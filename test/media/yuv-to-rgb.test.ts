import { describe, expect, it } from 'vitest';
import { nv12ToRgb, yuyvToRgb } from '../../src/media/index.js';

/** BT.601 limited range, the way cameras encode: RGB (0–255) → Y, Cb, Cr. */
function encode(r: number, g: number, b: number): [number, number, number] {
  const y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255;
  const cb = 128 + (-37.797 * r - 74.203 * g + 112 * b) / 255;
  const cr = 128 + (112 * r - 93.786 * g - 18.214 * b) / 255;
  return [Math.round(y), Math.round(cb), Math.round(cr)];
}

const COLOURS: Array<[number, number, number]> = [
  [0, 0, 0],
  [255, 255, 255],
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [128, 64, 200],
];

describe('YUV to RGB (BT.601, limited range)', () => {
  it('YUYV: black, white, primaries and a mixed colour come back within 2 levels', () => {
    const width = COLOURS.length * 2;
    const yuyv = new Uint8Array(width * 2);
    COLOURS.forEach(([r, g, b], i) => {
      const [y, u, v] = encode(r, g, b);
      yuyv.set([y, u, y, v], i * 4);
    });
    const rgb = yuyvToRgb(yuyv, width, 1);
    COLOURS.forEach((colour, i) => {
      for (const pixel of [2 * i, 2 * i + 1]) {
        const got = Array.from(rgb.subarray(pixel * 3, pixel * 3 + 3));
        got.forEach((value, c) => expect(Math.abs(value - colour[c]!)).toBeLessThanOrEqual(2));
      }
    });
  });

  it('NV12 gives the same picture as YUYV for the same samples', () => {
    const width = COLOURS.length * 2;
    const height = 2;
    const yuyv = new Uint8Array(width * height * 2);
    const nv12 = new Uint8Array((width * height * 3) / 2);
    COLOURS.forEach(([r, g, b], i) => {
      const [y, u, v] = encode(r, g, b);
      for (let row = 0; row < height; row++) {
        yuyv.set([y, u, y, v], row * width * 2 + i * 4);
        nv12.set([y, y], row * width + i * 2);
      }
      nv12.set([u, v], width * height + i * 2);
    });
    expect(nv12ToRgb(nv12, width, height)).toEqual(yuyvToRgb(yuyv, width, height));
  });

  it('refuses sizes that do not fit the data, and reuses an output buffer', () => {
    expect(() => yuyvToRgb(new Uint8Array(10), 4, 2)).toThrow(/needs 16 bytes, got 10/);
    expect(() => yuyvToRgb(new Uint8Array(12), 3, 2)).toThrow(/width must be even/);
    expect(() => nv12ToRgb(new Uint8Array(6), 2, 3)).toThrow(/must be even/);
    const out = new Uint8Array(2 * 3);
    expect(yuyvToRgb(Uint8Array.from([16, 128, 16, 128]), 2, 1, out)).toBe(out);
  });
});
