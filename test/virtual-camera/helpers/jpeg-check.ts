/**
 * JPEG marker inspection for the tests, and the standard Huffman tables of ITU-T T.81 Annex K.3 (as DHT
 * segment contents) to check what the camera sends and to repair DHT-less frames the way a driver would.
 */
import { ANNEX_K_HUFFMAN_TABLES, insertHuffmanTables } from '../../../src/media/index.js';

export interface JpegSegment {
  marker: number;
  /** Segment contents after the length field. */
  data: Uint8Array;
}

/** The marker segments before the scan (SOI excluded, SOS included with its header). */
export function segmentsOf(jpeg: Uint8Array): JpegSegment[] {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('not a JPEG (no SOI)');
  const out: JpegSegment[] = [];
  let i = 2;
  while (i + 4 <= jpeg.length) {
    if (jpeg[i] !== 0xff) throw new Error(`expected a marker at ${i}`);
    const marker = jpeg[i + 1]!;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    out.push({ marker, data: jpeg.subarray(i + 4, i + 2 + length) });
    if (marker === 0xda) break;
    i += 2 + length;
  }
  return out;
}

/** Table class/id → the table body (counts then values), as a DHT segment carries it: src/media's Annex K tables. */
export const ANNEX_K_TABLES: ReadonlyMap<number, number[]> = new Map(
  ANNEX_K_HUFFMAN_TABLES.map((t) => [(t.tableClass << 4) | t.id, [...t.counts, ...t.values]]),
);

/** The Huffman tables a JPEG defines, by class/id, parsed from all its DHT segments. */
export function huffmanTables(jpeg: Uint8Array): Map<number, number[]> {
  const tables = new Map<number, number[]>();
  for (const s of segmentsOf(jpeg)) {
    if (s.marker !== 0xc4) continue;
    let i = 0;
    while (i < s.data.length) {
      const id = s.data[i]!;
      const counts = Array.from(s.data.subarray(i + 1, i + 17));
      const n = counts.reduce((a, b) => a + b, 0);
      tables.set(id, [...counts, ...Array.from(s.data.subarray(i + 17, i + 17 + n))]);
      i += 17 + n;
    }
  }
  return tables;
}

/** What a driver does with a DHT-less MJPEG frame: insert the Annex K tables (src/media does it for the CLI). */
export const insertAnnexKTables = insertHuffmanTables;
