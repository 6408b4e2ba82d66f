/** Reading back what `uvc-capture` wrote: frame files, JPEG streams, and the stamps the virtual camera put in them. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';

export function listFrames(dir: string, extension: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith('frame-') && name.endsWith(`.${extension}`))
    .sort();
}

/** Every file of the directory that is not a complete frame file: temporaries left by an interrupted write. */
export function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((name) => !/^frame-\d{6}(-errored)?\.(jpg|yuv|png|nv12|raw|h264)$/.test(name));
}

export interface DecodedJpeg {
  width: number;
  height: number;
  stamp: number | null;
}

/** Decodes a JPEG strictly (a damaged one throws) and reads its stamp. */
export async function decodeJpegStamp(jpeg: Uint8Array): Promise<DecodedJpeg> {
  const { data, info } = await sharp(jpeg, { failOn: 'warning' }).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, stamp: decodeFrameStamp({ data, width: info.width, height: info.height, format: 'grey' }) };
}

export function yuyvStamp(data: Uint8Array, width: number, height: number): number | null {
  return decodeFrameStamp({ data, width, height, format: 'yuyv' });
}

export function readBytes(file: string): Uint8Array {
  const buffer = readFileSync(file);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Splits a concatenation of JPEGs (an .mjpeg stream) at each SOI that follows an EOI. */
export function splitJpegStream(stream: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let start = 0;
  for (let i = 2; i + 1 < stream.length; i++) {
    if (stream[i - 2] === 0xff && stream[i - 1] === 0xd9 && stream[i] === 0xff && stream[i + 1] === 0xd8) {
      frames.push(stream.subarray(start, i));
      start = i;
    }
  }
  if (start < stream.length) frames.push(stream.subarray(start));
  return frames;
}

export function joinPath(...parts: string[]): string {
  return path.join(...parts);
}
