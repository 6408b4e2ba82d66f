/**
 * Cheap validity checks of one frame, from its bytes alone: the size an uncompressed frame must have, the markers
 * a JPEG must start and end with, the start code an H.264 Annex B stream begins with. Decoding (does this JPEG
 * really decode?) is sharp's business; see frame-image.ts.
 */
import { frameBytesOf, type FrameGeometry } from './frame-format.js';

/** Whether a JPEG starts with SOI and ends with EOI (trailing zero padding, which some cameras add, is allowed). */
export function jpegMarkersOf(data: Uint8Array): { soi: boolean; eoi: boolean } {
  const soi = data.length >= 2 && data[0] === 0xff && data[1] === 0xd8;
  let end = data.length;
  while (end > 0 && data[end - 1] === 0x00) end--;
  const eoi = end >= 4 && data[end - 2] === 0xff && data[end - 1] === 0xd9;
  return { soi, eoi };
}

function hasAnnexBStartCode(data: Uint8Array): boolean {
  return (
    data.length >= 4 &&
    data[0] === 0 &&
    data[1] === 0 &&
    (data[2] === 1 || (data[2] === 0 && data[3] === 1))
  );
}

/**
 * What is wrong with a frame, in a few words ('312000 bytes, expected 614400', 'no JPEG EOI marker'), or null
 * when it passes every check its layout has.
 */
export function frameProblem(data: Uint8Array, geometry: FrameGeometry): string | null {
  if (data.length === 0) return 'empty frame';
  const expected = frameBytesOf(geometry);
  if (expected !== null) return data.length === expected ? null : `${data.length} bytes, expected ${expected} (${geometry.width}×${geometry.height} ${geometry.layout.toUpperCase()})`;
  if (geometry.layout === 'mjpeg') {
    const { soi, eoi } = jpegMarkersOf(data);
    if (!soi) return 'no JPEG SOI marker at the start';
    if (!eoi) return 'no JPEG EOI marker at the end (a truncated frame)';
    return null;
  }
  if (geometry.layout === 'h264') return hasAnnexBStartCode(data) ? null : 'no H.264 Annex B start code at the start';
  return null;
}
