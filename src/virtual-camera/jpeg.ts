/**
 * MJPEG frames: real baseline JPEGs encoded by sharp (libjpeg-turbo API) with Huffman optimisation off, so
 * the tables in them are the standard ones of ITU-T T.81 Annex K, as camera encoders use. Optionally the DHT
 * segments are cut out, as some cameras send them, leaving decoders to supply the Annex K tables.
 */
import sharp from 'sharp';

const SOI = 0xd8;
const SOS = 0xda;
const DHT = 0xc4;
const EOI = 0xd9;

/** Removes every DHT segment before the scan. The data stays a well-formed marker sequence. */
export function stripHuffmanTables(jpeg: Uint8Array): Uint8Array {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== SOI) return jpeg;
  const parts: Uint8Array[] = [jpeg.subarray(0, 2)];
  let i = 2;
  while (i + 4 <= jpeg.length && jpeg[i] === 0xff) {
    const marker = jpeg[i + 1]!;
    if (marker === SOS || marker === EOI) break;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    if (marker !== DHT) parts.push(jpeg.subarray(i, i + 2 + length));
    i += 2 + length;
  }
  parts.push(jpeg.subarray(i));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface JpegOptions {
  quality: number;
  omitHuffmanTables: boolean;
  /** The size no frame may exceed (dwMaxVideoFrameSize): quality drops until the frame fits. */
  maxSize: number;
}

export async function encodeJpeg(rgb: Uint8Array, width: number, height: number, options: JpegOptions): Promise<Uint8Array> {
  let quality = options.quality;
  for (;;) {
    const buffer = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .jpeg({
        quality,
        optimiseCoding: false,
        progressive: false,
        chromaSubsampling: '4:2:0',
        trellisQuantisation: false,
        overshootDeringing: false,
        optimiseScans: false,
      })
      .toBuffer();
    let jpeg: Uint8Array = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (options.omitHuffmanTables) jpeg = stripHuffmanTables(jpeg);
    // The bound leaves ~10× headroom over what the picture needs, so this loop ends at once in practice.
    if (jpeg.length <= options.maxSize || quality <= 5) return jpeg;
    quality = Math.max(5, quality - 15);
  }
}
