/**
 * Builds configuration descriptors byte by byte for tests that need a shape no real fixture has (UVC 1.5 codecs,
 * SuperSpeed companions, deliberate lies). Each helper returns one whole descriptor with its bLength filled in.
 */
export const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
export const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

export function descriptor(type: number, body: number[]): number[] {
  return [body.length + 2, type, ...body];
}

export const csInterface = (subtype: number, body: number[]): number[] => descriptor(0x24, [subtype, ...body]);

export function bitmap(bits: number[], size: number): number[] {
  const bytes = new Array<number>(size).fill(0);
  for (const bit of bits) bytes[bit >> 3]! |= 1 << (bit & 7);
  return bytes;
}

export function fourccGuidBytes(fourcc: string): number[] {
  return [...Array.from(fourcc, (c) => c.charCodeAt(0)), 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
}

export const iad = (first: number, count: number): number[] => descriptor(0x0b, [first, count, 0x0e, 0x03, 0x00, 0x00]);

export const interfaceDescriptor = (number: number, alt: number, endpoints: number, cls: number, subclass: number, protocol = 0): number[] =>
  descriptor(0x04, [number, alt, endpoints, cls, subclass, protocol, 0]);

export const endpoint = (address: number, attributes: number, wMaxPacketSize: number, interval = 1): number[] =>
  descriptor(0x05, [address, attributes, ...u16(wMaxPacketSize), interval]);

export const ssCompanion = (maxBurst: number, attributes: number, bytesPerInterval: number): number[] =>
  descriptor(0x30, [maxBurst, attributes, ...u16(bytesPerInterval)]);

export const sspIsoCompanion = (bytesPerInterval: number): number[] => descriptor(0x31, [0, 0, ...u32(bytesPerInterval)]);

export const vcHeader = (bcdUVC: number, clock: number, streaming: number[]): number[] =>
  csInterface(0x01, [...u16(bcdUVC), ...u16(0), ...u32(clock), streaming.length, ...streaming]);

export const cameraTerminal = (id: number, bits: number[], controlSize = 3): number[] =>
  csInterface(0x02, [id, ...u16(0x0201), 0, 0, ...u16(0), ...u16(0), ...u16(0), controlSize, ...bitmap(bits, controlSize)]);

export const processingUnit = (id: number, source: number, bits: number[], controlSize = 2, videoStandards: number | null = 0): number[] =>
  csInterface(0x05, [id, source, ...u16(0), controlSize, ...bitmap(bits, controlSize), 0, ...(videoStandards === null ? [] : [videoStandards])]);

export const extensionUnit = (id: number, guid: number[], source: number, bits: number[], controlSize = 2): number[] =>
  csInterface(0x06, [id, ...guid, bits.length, 1, source, controlSize, ...bitmap(bits, controlSize), 0]);

export const encodingUnit = (id: number, source: number, bits: number[], runtimeBits: number[] = []): number[] =>
  csInterface(0x07, [id, source, 0, 3, ...bitmap(bits, 3), ...bitmap(runtimeBits, 3)]);

export const selectorUnit = (id: number, sources: number[]): number[] => csInterface(0x04, [id, sources.length, ...sources, 0]);

export const outputTerminal = (id: number, source: number): number[] => csInterface(0x03, [id, ...u16(0x0101), 0, source, 0]);

export const interruptCs = (size: number): number[] => descriptor(0x25, [0x03, ...u16(size)]);

export const vsInputHeader = (numFormats: number, endpointAddress: number, terminalLink: number, stillMethod = 0, controls: number[] = []): number[] =>
  csInterface(0x01, [numFormats, ...u16(0), endpointAddress, 0, terminalLink, stillMethod, 0, 0, 1, ...Array.from({ length: numFormats }, (_, i) => controls[i] ?? 0)]);

export const uncompressedFormat = (index: number, fourcc: string, bpp: number, frames: number, defaultFrame = 1): number[] =>
  csInterface(0x04, [index, frames, ...fourccGuidBytes(fourcc), bpp, defaultFrame, 0, 0, 0, 0]);

export const mjpegFormat = (index: number, frames: number, defaultFrame = 1): number[] => csInterface(0x06, [index, frames, 1, defaultFrame, 0, 0, 0, 0]);

export const frameBasedFormat = (index: number, fourcc: string, frames: number, defaultFrame = 1): number[] =>
  csInterface(0x10, [index, frames, ...fourccGuidBytes(fourcc), 0, defaultFrame, 0, 0, 0, 0, 1]);

export type Intervals = number[] | { min: number; max: number; step: number };

function intervalBytes(intervals: Intervals): number[] {
  return Array.isArray(intervals)
    ? [intervals.length, ...intervals.flatMap(u32)]
    : [0, ...u32(intervals.min), ...u32(intervals.max), ...u32(intervals.step)];
}

/** Uncompressed (0x05) or MJPEG (0x07) frame. */
export function frame(
  subtype: 0x05 | 0x07,
  index: number,
  width: number,
  height: number,
  maxFrameSize: number,
  intervals: Intervals,
  defaultInterval = Array.isArray(intervals) ? intervals[0]! : intervals.min,
  capabilities = 0,
): number[] {
  const rate = maxFrameSize * 8 * 30;
  return csInterface(subtype, [index, capabilities, ...u16(width), ...u16(height), ...u32(rate), ...u32(rate), ...u32(maxFrameSize), ...u32(defaultInterval), ...intervalBytes(intervals)]);
}

export function frameBasedFrame(index: number, width: number, height: number, intervals: Intervals, maxBitRate = 8_000_000): number[] {
  const defaultInterval = Array.isArray(intervals) ? intervals[0]! : intervals.min;
  const type = Array.isArray(intervals) ? intervals.length : 0;
  const tail = Array.isArray(intervals) ? intervals.flatMap(u32) : [...u32(intervals.min), ...u32(intervals.max), ...u32(intervals.step)];
  return csInterface(0x11, [index, 0, ...u16(width), ...u16(height), ...u32(maxBitRate / 4), ...u32(maxBitRate), ...u32(defaultInterval), type, ...u32(0), ...tail]);
}

export const h264Format = (index: number, frames: number, defaultFrame = 1): number[] =>
  csInterface(0x13, [index, frames, defaultFrame, 0, 0, 0, 0, 0, 0, ...new Array<number>(40).fill(0)]);

export function h264Frame(index: number, width: number, height: number, intervals: number[], maxBitRate = 8_000_000): number[] {
  return csInterface(0x14, [
    index,
    ...u16(width),
    ...u16(height),
    ...u16(1),
    ...u16(1),
    ...u16(0x6400),
    40,
    ...u16(0),
    ...u32(0x70003),
    ...u16(0x47),
    ...u32(0),
    ...u32(0),
    ...u32(maxBitRate / 4),
    ...u32(maxBitRate),
    ...u32(intervals[0]!),
    intervals.length,
    ...intervals.flatMap(u32),
  ]);
}

export const vp8Format = (index: number, frames: number): number[] => csInterface(0x16, [index, frames, 1, 0, 1, 0, 0, 0, ...u16(0)]);

export function vp8Frame(index: number, width: number, height: number, intervals: number[]): number[] {
  return csInterface(0x17, [index, ...u16(width), ...u16(height), ...u32(1), ...u16(0), ...u32(0), ...u32(1_000_000), ...u32(4_000_000), ...u32(intervals[0]!), intervals.length, ...intervals.flatMap(u32)]);
}

export const dvFormat = (index: number, maxFrameSize: number, formatType: number): number[] => csInterface(0x0c, [index, ...u32(maxFrameSize), formatType]);

export const mpeg2tsFormat = (index: number): number[] => csInterface(0x0a, [index, 0, 188, 188]);

export const streamBasedFormat = (index: number, fourcc: string): number[] => csInterface(0x12, [index, ...fourccGuidBytes(fourcc), ...u32(0)]);

export function stillImageFrame(endpointAddress: number, sizes: [number, number][], compression: number[] = []): number[] {
  return csInterface(0x03, [endpointAddress, sizes.length, ...sizes.flatMap(([w, h]) => [...u16(w), ...u16(h)]), compression.length, ...compression]);
}

export const colorMatching = (primaries: number, transfer: number, matrix: number): number[] => csInterface(0x0d, [primaries, transfer, matrix]);

/** A configuration descriptor around the given descriptors, wTotalLength and bNumInterfaces filled in. */
export function configuration(parts: number[][], numInterfaces = 2): Uint8Array {
  const body = parts.flat();
  const total = 9 + body.length;
  return Uint8Array.from([9, 0x02, ...u16(total), numInterfaces, 1, 0, 0x80, 250, ...body]);
}

export interface CameraShape {
  bcdUVC?: number;
  clock?: number;
  /** Camera terminal bmControls bits. */
  cameraBits?: number[];
  /** Processing unit bmControls bits. */
  processingBits?: number[];
  /** Extension unit 4's bmControls bits (none: no extension unit). */
  extensionBits?: number[];
  /** The video function's formats and frames, after the VS input header. */
  streaming: number[][];
  numFormats: number;
  /** wMaxPacketSize of each alt setting ≥ 1 (isochronous), or 'bulk' (one bulk endpoint in alt 0). */
  altSettings: number[] | 'bulk';
  endpointAddress?: number;
  stillMethod?: number;
}

/** A plausible single-function camera: VC 0 (CT 1 → PU 2 → [XU 4] → OT 3) and VS 1. */
export function camera(shape: CameraShape): Uint8Array {
  const ep = shape.endpointAddress ?? 0x81;
  const vc = [
    interfaceDescriptor(0, 0, 1, 0x0e, 0x01),
    vcHeader(shape.bcdUVC ?? 0x0110, shape.clock ?? 48_000_000, [1]),
    cameraTerminal(1, shape.cameraBits ?? []),
    processingUnit(2, 1, shape.processingBits ?? [], 2, (shape.bcdUVC ?? 0x0110) >= 0x0110 ? 0 : null),
    ...(shape.extensionBits === undefined ? [] : [extensionUnit(4, fourccGuidBytes('XTST'), 2, shape.extensionBits)]),
    outputTerminal(3, shape.extensionBits === undefined ? 2 : 4),
    endpoint(0x87, 0x03, 16, 8),
    interruptCs(16),
  ];
  const bulk = shape.altSettings === 'bulk';
  const vs = [
    interfaceDescriptor(1, 0, bulk ? 1 : 0, 0x0e, 0x02),
    vsInputHeader(shape.numFormats, ep, 3, shape.stillMethod ?? 0),
    ...shape.streaming,
    ...(bulk ? [endpoint(ep, 0x02, 512, 0)] : []),
    ...(bulk ? [] : (shape.altSettings as number[]).flatMap((size, i) => [interfaceDescriptor(1, i + 1, 1, 0x0e, 0x02), endpoint(ep, 0x05, size, 1)])),
  ];
  return configuration([iad(0, 2), ...vc, ...vs]);
}
