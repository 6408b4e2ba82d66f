/**
 * Uncompressed UVC pixels to RGB, for PNG files and the live preview. UVC cameras send BT.601 colour in the
 * limited ("video") range: Y 16…235, Cb/Cr 16…240. Fixed-point arithmetic (16 fractional bits) keeps this to a
 * few milliseconds for a VGA frame.
 */
import { UvcError } from '../errors.js';

// BT.601 limited range: R = 1.164 (Y−16) + 1.596 (Cr−128), G = 1.164 (Y−16) − 0.392 (Cb−128) − 0.813 (Cr−128),
// B = 1.164 (Y−16) + 2.017 (Cb−128); each coefficient × 65536.
const KY = 76309;
const KRV = 104597;
const KGU = 25675;
const KGV = 53279;
const KBU = 132201;
const HALF = 32768;

function clamp(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

function checkSize(data: Uint8Array, needed: number, what: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new UvcError('EINVAL', `${what}: width and height must be positive integers, got ${width}×${height}`);
  }
  if (data.length < needed) {
    throw new UvcError('EINVAL', `${what}: ${width}×${height} needs ${needed} bytes, got ${data.length}`, {
      details: { width, height, needed, length: data.length },
    });
  }
}

function outputFor(out: Uint8Array | undefined, bytes: number): Uint8Array {
  if (out === undefined) return new Uint8Array(bytes);
  if (out.length < bytes) throw new UvcError('EINVAL', `output buffer of ${out.length} bytes is smaller than ${bytes}`);
  return out;
}

/** Packed 4:2:2 (YUY2/YUYV: Y0 U Y1 V) → RGB, 3 bytes per pixel. `out` may be given to reuse memory. */
export function yuyvToRgb(data: Uint8Array, width: number, height: number, out?: Uint8Array): Uint8Array {
  if (width % 2 !== 0) throw new UvcError('EINVAL', `YUYV width must be even, got ${width}`);
  checkSize(data, width * height * 2, 'YUYV', width, height);
  const rgb = outputFor(out, width * height * 3);
  const pairs = (width * height) / 2;
  for (let p = 0, i = 0, o = 0; p < pairs; p++, i += 4, o += 6) {
    const u = data[i + 1]! - 128;
    const v = data[i + 3]! - 128;
    const rv = KRV * v + HALF;
    const guv = -KGU * u - KGV * v + HALF;
    const bu = KBU * u + HALF;
    const y0 = KY * (data[i]! - 16);
    const y1 = KY * (data[i + 2]! - 16);
    rgb[o] = clamp((y0 + rv) >> 16);
    rgb[o + 1] = clamp((y0 + guv) >> 16);
    rgb[o + 2] = clamp((y0 + bu) >> 16);
    rgb[o + 3] = clamp((y1 + rv) >> 16);
    rgb[o + 4] = clamp((y1 + guv) >> 16);
    rgb[o + 5] = clamp((y1 + bu) >> 16);
  }
  return rgb;
}

/** NV12 (a Y plane, then one interleaved Cb Cr plane at half resolution in both directions) → RGB. */
export function nv12ToRgb(data: Uint8Array, width: number, height: number, out?: Uint8Array): Uint8Array {
  if (width % 2 !== 0 || height % 2 !== 0) throw new UvcError('EINVAL', `NV12 width and height must be even, got ${width}×${height}`);
  checkSize(data, (width * height * 3) / 2, 'NV12', width, height);
  const rgb = outputFor(out, width * height * 3);
  const chroma = width * height;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const chromaRow = chroma + (y >> 1) * width;
    for (let x = 0; x < width; x += 2) {
      const u = data[chromaRow + x]! - 128;
      const v = data[chromaRow + x + 1]! - 128;
      const rv = KRV * v + HALF;
      const guv = -KGU * u - KGV * v + HALF;
      const bu = KBU * u + HALF;
      for (let k = 0; k < 2; k++) {
        const l = KY * (data[row + x + k]! - 16);
        const o = (row + x + k) * 3;
        rgb[o] = clamp((l + rv) >> 16);
        rgb[o + 1] = clamp((l + guv) >> 16);
        rgb[o + 2] = clamp((l + bu) >> 16);
      }
    }
  }
  return rgb;
}
