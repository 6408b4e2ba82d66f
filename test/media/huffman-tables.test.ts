import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ANNEX_K_HUFFMAN_TABLES, hasHuffmanTables, huffmanTablePieces, insertHuffmanTables } from '../../src/media/index.js';
import { stripHuffmanTables } from '../../src/virtual-camera/index.js';
import { huffmanTables } from '../virtual-camera/helpers/jpeg-check.js';

/** A baseline JPEG with the standard tables (libjpeg's defaults without optimised coding). */
async function baselineJpeg(): Promise<Uint8Array> {
  const pixels = new Uint8Array(64 * 48 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) & 0xff;
  const buffer = await sharp(pixels, { raw: { width: 64, height: 48, channels: 3 } }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer();
  return new Uint8Array(buffer);
}

function markers(jpeg: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 2; i + 4 <= jpeg.length; ) {
    const marker = jpeg[i + 1]!;
    out.push(marker);
    if (marker === 0xda) break;
    i += 2 + ((jpeg[i + 2]! << 8) | jpeg[i + 3]!);
  }
  return out;
}

describe('Annex K Huffman tables', () => {
  it('are the four tables of ITU-T T.81 K.3 (162 AC symbols each, 12 DC symbols each)', () => {
    expect(ANNEX_K_HUFFMAN_TABLES.map((t) => [t.tableClass, t.id, t.values.length])).toEqual([
      [0, 0, 12],
      [0, 1, 12],
      [1, 0, 162],
      [1, 1, 162],
    ]);
    for (const t of ANNEX_K_HUFFMAN_TABLES) expect(t.counts.reduce((a, b) => a + b, 0)).toBe(t.values.length);
  });

  it('put back into a JPEG without DHT make it decode to the same pixels, before SOS, APP0 staying first', async () => {
    const original = await baselineJpeg();
    // A JFIF APP0 segment, which must stay right after SOI.
    const app0 = Uint8Array.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
    const bare = stripHuffmanTables(original);
    const stripped = new Uint8Array(bare.length + app0.length);
    stripped.set(bare.subarray(0, 2));
    stripped.set(app0, 2);
    stripped.set(bare.subarray(2), 2 + app0.length);
    expect(hasHuffmanTables(original)).toBe(true);
    expect(hasHuffmanTables(stripped)).toBe(false);
    const repaired = insertHuffmanTables(stripped);
    expect(hasHuffmanTables(repaired)).toBe(true);
    const order = markers(repaired);
    expect(order[0]).toBe(0xe0);
    expect(order.at(-2)).toBe(0xc4);
    expect(order.at(-1)).toBe(0xda);
    // The tables are the very ones the encoder used (libjpeg writes Annex K when not optimising).
    expect(huffmanTables(repaired)).toEqual(huffmanTables(original));
    const a = await sharp(original).raw().toBuffer();
    const b = await sharp(repaired, { failOn: 'warning' }).raw().toBuffer();
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('leave alone a JPEG that has tables, and data that is not a JPEG', async () => {
    const original = await baselineJpeg();
    expect(insertHuffmanTables(original)).toBe(original);
    const junk = Uint8Array.from([1, 2, 3, 4, 5]);
    expect(insertHuffmanTables(junk)).toBe(junk);
    const truncated = stripHuffmanTables(original).subarray(0, 30);
    expect(insertHuffmanTables(truncated)).toBe(truncated);
  });

  it('come as pieces to write one after the other: the same bytes as the inserted copy, views of the frame', async () => {
    const original = await baselineJpeg();
    const stripped = stripHuffmanTables(original);
    const pieces = huffmanTablePieces(stripped);
    expect(pieces).toHaveLength(3);
    expect(pieces[0]!.buffer).toBe(stripped.buffer);
    expect(pieces[2]!.buffer).toBe(stripped.buffer);
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(insertHuffmanTables(stripped)));
    // Nothing to insert: the frame itself, alone.
    expect(huffmanTablePieces(original)).toEqual([original]);
    expect(huffmanTablePieces(original)[0]).toBe(original);
  });
});
