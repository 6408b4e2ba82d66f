/**
 * GUIDs as UVC descriptors carry them: 16 bytes whose first three groups are little-endian, so the bytes
 * 59 55 59 32 00 00 10 00 80 00 00 aa 00 38 9b 71 read '32595559-0000-0010-8000-00aa00389b71' (YUY2).
 */

/** The tail every FourCC-derived format GUID shares (bytes 4–15). */
const FOURCC_GUID_TAIL = [0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

function hexByte(value: number): string {
  return value.toString(16).padStart(2, '0');
}

export function formatGuid(bytes: Uint8Array): string {
  const b = Array.from(bytes.subarray(0, 16), hexByte);
  while (b.length < 16) b.push('00');
  return [
    b[3]! + b[2]! + b[1]! + b[0]!,
    b[5]! + b[4]!,
    b[7]! + b[6]!,
    b[8]! + b[9]!,
    b.slice(10).join(''),
  ].join('-');
}

/**
 * The FourCC in the first four bytes, when they are printable ASCII ('YUY2', 'NV12', 'H264', 'BY8 ').
 * Devices put FourCCs into GUIDs with a non-standard tail too, so the tail is not required.
 */
export function fourccFromGuid(bytes: Uint8Array): string | null {
  if (bytes.length < 4) return null;
  for (let i = 0; i < 4; i++) {
    const c = bytes[i]!;
    if (c < 0x20 || c > 0x7e) return null;
  }
  return String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
}

export function isFourccGuid(bytes: Uint8Array): boolean {
  return bytes.length >= 16 && FOURCC_GUID_TAIL.every((v, i) => bytes[4 + i] === v);
}
