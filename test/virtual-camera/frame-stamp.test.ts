import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';
import { crc8, stampBits, stampGeometry, STAMP_MARKER } from '../../src/virtual-camera/frame-stamp.js';
import { renderPicture } from '../../src/virtual-camera/pattern.js';
import { ControlModel } from '../../src/virtual-camera/controls.js';
import { isUvcError } from '../../src/errors.js';

const controls = new ControlModel('1.1').picture();

function yuyvToGrey(yuyv: Uint8Array, width: number, height: number): Uint8Array {
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) grey[i] = yuyv[i * 2]!;
  return grey;
}

describe('frame stamp', () => {
  it('encodes marker, sequence and CRC-8 as 48 bits', () => {
    const bits = stampBits(0x01020304);
    const bytes = Array.from({ length: 6 }, (_, b) => bits.slice(b * 8, b * 8 + 8).reduce((v, bit) => (v << 1) | bit, 0));
    expect(bytes).toEqual([STAMP_MARKER, 1, 2, 3, 4, crc8([1, 2, 3, 4])]);
    // CRC-8/SMBUS check value of "123456789" is 0xF4.
    expect(crc8(Array.from('123456789', (c) => c.charCodeAt(0)))).toBe(0xf4);
  });

  it('lays blocks on MCU-aligned squares and refuses pictures too small to hold them', () => {
    expect(stampGeometry(640, 480)).toEqual({ block: 16, blocksPerRow: 40, rows: 2 });
    expect(stampGeometry(1920, 1080)).toEqual({ block: 16, blocksPerRow: 120, rows: 1 });
    expect(stampGeometry(160, 120)).toEqual({ block: 8, blocksPerRow: 20, rows: 3 });
    expect(stampGeometry(64, 48)).toEqual({ block: 8, blocksPerRow: 8, rows: 6 });
    expect(stampGeometry(62, 480)).toBeNull();
    expect(stampGeometry(64, 47)).toBeNull();
  });

  for (const [w, h] of [
    [640, 480],
    [160, 120],
    [1920, 1080],
    [64, 48],
  ] as const) {
    it(`round-trips through YUYV, NV12 luma and RGB at ${w}×${h}`, () => {
      for (const seq of [0, 1, 299, 0x7fffffff, 0xffffffff]) {
        const yuyv = renderPicture('yuyv', w, h, seq, controls, 333333 / 10);
        expect(decodeFrameStamp({ data: yuyv, width: w, height: h, format: 'yuyv' })).toBe(seq);
        expect(decodeFrameStamp({ data: yuyvToGrey(yuyv, w, h), width: w, height: h, format: 'grey' })).toBe(seq);
        const nv12 = renderPicture('nv12', w, h, seq, controls, 33333);
        expect(decodeFrameStamp({ data: nv12, width: w, height: h, format: 'grey' })).toBe(seq);
        const rgb = renderPicture('rgb', w, h, seq, controls, 33333);
        expect(decodeFrameStamp({ data: rgb, width: w, height: h, format: 'rgb' })).toBe(seq);
      }
    });
  }

  for (const quality of [20, 50, 80, 95]) {
    it(`survives JPEG at quality ${quality} (decoded to RGB and to greyscale)`, async () => {
      for (const [w, h] of [
        [640, 480],
        [176, 144],
      ] as const) {
        const seq = 123456 + quality;
        const rgb = renderPicture('rgb', w, h, seq, controls, 33333);
        const jpeg = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality }).toBuffer();
        const decoded = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
        expect(decoded.info.channels).toBe(3);
        expect(decodeFrameStamp({ data: decoded.data, width: w, height: h, format: 'rgb' })).toBe(seq);
        const grey = await sharp(jpeg).greyscale().raw().toBuffer({ resolveWithObject: true });
        expect(decodeFrameStamp({ data: grey.data, width: w, height: h, format: 'grey' })).toBe(seq);
        const rgba = await sharp(jpeg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
        expect(decodeFrameStamp({ data: rgba.data, width: w, height: h, format: 'rgba' })).toBe(seq);
      }
    });
  }

  it('honours a row stride', () => {
    const w = 320;
    const h = 240;
    const yuyv = renderPicture('yuyv', w, h, 42, controls, 33333);
    const stride = w * 2 + 64;
    const padded = new Uint8Array(stride * h);
    for (let y = 0; y < h; y++) padded.set(yuyv.subarray(y * w * 2, (y + 1) * w * 2), y * stride);
    expect(decodeFrameStamp({ data: padded, width: w, height: h, format: 'yuyv', stride })).toBe(42);
  });

  it('returns null for pictures without a valid stamp', () => {
    const w = 640;
    const h = 480;
    const good = renderPicture('yuyv', w, h, 7, controls, 33333);
    expect(decodeFrameStamp({ data: new Uint8Array(w * h * 2), width: w, height: h, format: 'yuyv' })).toBeNull();
    expect(decodeFrameStamp({ data: new Uint8Array(w * h * 2).fill(128), width: w, height: h, format: 'yuyv' })).toBeNull();
    // Truncated before the stamp's last row.
    expect(decodeFrameStamp({ data: good.subarray(0, w * 2 * 20), width: w, height: h, format: 'yuyv' })).toBeNull();
    // One flipped data block breaks the checksum.
    const flipped = good.slice();
    const x = 20 * 16; // bit 20, in the sequence number
    for (let y = 0; y < 16; y++) for (let i = 0; i < 16; i++) flipped[(y * w + x + i) * 2] = 235 + 16 - flipped[(y * w + x + i) * 2]!;
    expect(decodeFrameStamp({ data: flipped, width: w, height: h, format: 'yuyv' })).toBeNull();
    // A picture of something else entirely.
    const noise = new Uint8Array(w * h * 2);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    expect(decodeFrameStamp({ data: noise, width: w, height: h, format: 'yuyv' })).toBeNull();
  });

  it('throws EINVAL for malformed arguments', () => {
    const bad = [
      { data: [1, 2, 3] as unknown as Uint8Array, width: 640, height: 480, format: 'yuyv' as const },
      { data: new Uint8Array(10), width: -1, height: 480, format: 'yuyv' as const },
      { data: new Uint8Array(10), width: 640, height: 480, format: 'bgr' as unknown as 'rgb' },
      { data: new Uint8Array(10), width: 640, height: 480, format: 'rgb' as const, stride: 100 },
    ];
    for (const image of bad) {
      let error: unknown;
      try {
        decodeFrameStamp(image);
      } catch (e) {
        error = e;
      }
      expect(isUvcError(error, 'EINVAL')).toBe(true);
    }
  });
});
