/**
 * Frames as pictures, through sharp (libjpeg-turbo, libspng): JPEG for the preview, PNG for capture's --png, and
 * decoding for checks. MJPEG frames missing their Huffman tables get the standard ones first.
 */
import sharp, { type Sharp } from 'sharp';
import { UvcError } from '../errors.js';
import { type FrameGeometry } from './frame-format.js';
import { insertHuffmanTables } from './huffman-tables.js';
import { nv12ToRgb, yuyvToRgb } from './yuv-to-rgb.js';

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Decoded pixels of an uncompressed frame: RGB for YUYV and NV12, one channel for GREY. */
export function uncompressedPixels(data: Uint8Array, geometry: FrameGeometry): RawImage {
  const { layout, width, height } = geometry;
  switch (layout) {
    case 'yuyv':
      return { data: yuyvToRgb(data, width, height), width, height, channels: 3 };
    case 'nv12':
      return { data: nv12ToRgb(data, width, height), width, height, channels: 3 };
    case 'grey':
      if (data.length < width * height) throw new UvcError('EINVAL', `GREY ${width}×${height} needs ${width * height} bytes, got ${data.length}`);
      return { data: data.subarray(0, width * height), width, height, channels: 1 };
    default:
      throw new UvcError('ENOTSUP', `${layout} frames are not uncompressed pixels`);
  }
}

function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function pipelineFor(data: Uint8Array, geometry: FrameGeometry): Sharp {
  if (geometry.layout === 'mjpeg') return sharp(insertHuffmanTables(data), { failOn: 'error' });
  const image = uncompressedPixels(data, geometry);
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
}

/**
 * The frame as a JPEG. MJPEG frames pass through untouched (with Huffman tables inserted when they lack them);
 * YUYV, NV12 and GREY are converted and encoded. ENOTSUP for layouts that cannot be shown (H.264, unknown).
 */
export async function frameToJpeg(data: Uint8Array, geometry: FrameGeometry, quality = 85): Promise<Uint8Array> {
  if (geometry.layout === 'mjpeg') return insertHuffmanTables(data);
  if (geometry.layout === 'h264' || geometry.layout === 'other') {
    throw new UvcError('ENOTSUP', `${geometry.layout === 'h264' ? 'H.264' : 'this format'} cannot be converted to a picture without a video decoder`);
  }
  return bytesOf(await pipelineFor(data, geometry).jpeg({ quality }).toBuffer());
}

/** The frame as a PNG (lossless for uncompressed frames). `compressionLevel` 0–9, default 3 (fast). */
export async function frameToPng(data: Uint8Array, geometry: FrameGeometry, compressionLevel = 3): Promise<Uint8Array> {
  if (geometry.layout === 'h264' || geometry.layout === 'other') {
    throw new UvcError('ENOTSUP', `${geometry.layout === 'h264' ? 'H.264' : 'this format'} cannot be converted to a picture without a video decoder`);
  }
  return bytesOf(await pipelineFor(data, geometry).png({ compressionLevel }).toBuffer());
}

/**
 * Decodes a JPEG (inserting the standard Huffman tables when it has none) to RGB pixels. Rejects with EINVAL,
 * saying why, when libjpeg cannot decode it or reports corrupt data.
 */
export async function decodeJpeg(data: Uint8Array): Promise<RawImage> {
  try {
    const { data: pixels, info } = await sharp(insertHuffmanTables(data), { failOn: 'warning' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data: bytesOf(pixels), width: info.width, height: info.height, channels: 3 };
  } catch (error) {
    throw new UvcError('EINVAL', `the JPEG does not decode: ${(error as Error).message}`, { cause: error });
  }
}
