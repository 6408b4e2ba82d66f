/**
 * The virtual camera's UVC topology: camera terminal → processing unit → extension unit → output terminal
 * (→ the VS interface). IDs are what wIndex's high byte addresses in class requests.
 */
export const CAMERA_TERMINAL_ID = 1;
export const PROCESSING_UNIT_ID = 2;
export const EXTENSION_UNIT_ID = 3;
export const OUTPUT_TERMINAL_ID = 4;

/** guidExtensionCode of the vendor extension unit (a GUID of our own; hosts match XUs by it). */
export const EXTENSION_UNIT_GUID_TEXT = '6b1d3a9e-4c2f-4e7a-9f5d-7a3c0b8e2d14';

/** The GUID in descriptor byte order (first three groups little-endian, as Windows and the UVC spec store GUIDs). */
export const EXTENSION_UNIT_GUID: Uint8Array = guidBytes(EXTENSION_UNIT_GUID_TEXT);

/** Extension unit control selectors (vendor-defined). */
export const XuControl = {
  /** u8: 0 colour bars, 1 grey ramp, 2 flat grey, 3 checkerboard. */
  TEST_PATTERN: 0x01,
  /** u8: how far the moving box travels per frame, in pixels per 640 of picture width. */
  MOTION_SPEED: 0x02,
  /** u32, read-only: frames sent since streaming started. */
  FRAME_COUNTER: 0x03,
} as const;

export function guidBytes(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`not a GUID: ${text}`);
  const b = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  // Data1 (4 bytes), Data2 (2), Data3 (2) are little-endian on the wire; Data4 stays as written.
  return Uint8Array.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}
