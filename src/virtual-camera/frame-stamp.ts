/**
 * The frame stamp: each frame's sequence number written into its pixels, so a test can check a frame's
 * identity and order from the bytes alone, through any lossless path and through MJPEG.
 *
 * Layout: 48 square blocks, row by row from the top-left corner of the picture, each pure black (bit 0) or pure
 * white (bit 1): an 8-bit start marker 0xB2, the 32-bit sequence number (most significant bit first), and a
 * CRC-8 (polynomial 0x07) of the sequence number's four big-endian bytes. Blocks are 16×16 pixels when the
 * picture is at least 256 pixels wide, else 8×8; they start at (0, 0), so 16×16 blocks coincide with 4:2:0 JPEG
 * MCUs and 8×8 blocks with JPEG luma blocks, and the encoder never mixes a block with the scene around it.
 */
import { uvcError } from '../errors.js';

export const STAMP_MARKER = 0xb2;
export const STAMP_BITS = 48;

export interface StampGeometry {
  /** Block edge in pixels. */
  block: number;
  blocksPerRow: number;
  rows: number;
}

export function stampGeometry(width: number, height: number): StampGeometry | null {
  const block = width >= 256 ? 16 : 8;
  const blocksPerRow = Math.floor(width / block);
  if (blocksPerRow < 8) return null;
  const rows = Math.ceil(STAMP_BITS / blocksPerRow);
  if (rows * block > height) return null;
  return { block, blocksPerRow, rows };
}

/** CRC-8, polynomial x^8 + x^2 + x + 1, initial value 0. */
export function crc8(bytes: ArrayLike<number>): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i]! & 0xff;
    for (let b = 0; b < 8; b++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

function sequenceBytes(sequence: number): number[] {
  return [(sequence >>> 24) & 0xff, (sequence >>> 16) & 0xff, (sequence >>> 8) & 0xff, sequence & 0xff];
}

/** The 48 bits of a stamp, 1 = white block. */
export function stampBits(sequence: number): Uint8Array {
  const seq = sequence >>> 0;
  const bytes = [STAMP_MARKER, ...sequenceBytes(seq), crc8(sequenceBytes(seq))];
  const bits = new Uint8Array(STAMP_BITS);
  for (let i = 0; i < STAMP_BITS; i++) bits[i] = (bytes[i >> 3]! >> (7 - (i & 7))) & 1;
  return bits;
}

/** Where bit i's block sits. */
export function stampBlockOrigin(geometry: StampGeometry, bit: number): { x: number; y: number } {
  return {
    x: (bit % geometry.blocksPerRow) * geometry.block,
    y: Math.floor(bit / geometry.blocksPerRow) * geometry.block,
  };
}

/**
 * A picture to read a stamp from. 'yuyv': packed 4:2:2 with luma at even bytes (YUY2).
 * 'grey': one byte of luma per pixel (also the Y plane of NV12/I420). 'rgb' / 'rgba': what a JPEG decoder gives.
 */
export interface StampImage {
  data: Uint8Array;
  width: number;
  height: number;
  format: 'yuyv' | 'grey' | 'rgb' | 'rgba';
  /** Bytes per row; default width × bytes per pixel. */
  stride?: number;
}

const BYTES_PER_PIXEL = { yuyv: 2, grey: 1, rgb: 3, rgba: 4 } as const;

/**
 * Reads the sequence number back from a frame, or returns null when the stamp is missing, damaged, or fails
 * its marker or checksum (a truncated frame, a frame of another source). Throws EINVAL for malformed arguments.
 */
export function decodeFrameStamp(image: StampImage): number | null {
  if (typeof image !== 'object' || image === null || !(image.data instanceof Uint8Array)) {
    throw uvcError('EINVAL', 'decodeFrameStamp: image.data must be a Uint8Array');
  }
  const { data, width, height, format } = image;
  const bpp = BYTES_PER_PIXEL[format];
  if (bpp === undefined) throw uvcError('EINVAL', `decodeFrameStamp: unknown format ${String(format)}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw uvcError('EINVAL', 'decodeFrameStamp: width and height must be positive integers');
  }
  const stride = image.stride ?? width * bpp;
  if (!Number.isInteger(stride) || stride < width * bpp) {
    throw uvcError('EINVAL', 'decodeFrameStamp: stride is smaller than a row');
  }
  const geometry = stampGeometry(width, height);
  if (geometry === null) return null;
  if (data.length < stride * (geometry.rows * geometry.block - 1) + width * bpp) return null;

  const luma = (x: number, y: number): number => {
    const o = y * stride + x * bpp;
    if (format === 'yuyv' || format === 'grey') return data[o]!;
    return (data[o]! * 77 + data[o + 1]! * 150 + data[o + 2]! * 29) >> 8;
  };

  const { block } = geometry;
  const lo = block >> 2;
  const hi = block - lo;
  const bits = new Uint8Array(STAMP_BITS);
  for (let i = 0; i < STAMP_BITS; i++) {
    const { x, y } = stampBlockOrigin(geometry, i);
    let sum = 0;
    let n = 0;
    for (let yy = y + lo; yy < y + hi; yy++) {
      for (let xx = x + lo; xx < x + hi; xx++) {
        sum += luma(xx, yy);
        n++;
      }
    }
    const mean = sum / n;
    // A block must be clearly black or clearly white; anything in between is not a stamp.
    if (mean > 80 && mean < 176) return null;
    bits[i] = mean >= 128 ? 1 : 0;
  }
  const bytes = new Array<number>(6).fill(0);
  for (let i = 0; i < STAMP_BITS; i++) bytes[i >> 3] = (bytes[i >> 3]! << 1) | bits[i]!;
  if (bytes[0] !== STAMP_MARKER) return null;
  const seqBytes = bytes.slice(1, 5);
  if (crc8(seqBytes) !== bytes[5]) return null;
  return ((seqBytes[0]! << 24) | (seqBytes[1]! << 16) | (seqBytes[2]! << 8) | seqBytes[3]!) >>> 0;
}
