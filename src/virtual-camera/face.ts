/**
 * A real camera's face: its device and configuration descriptors, served verbatim, and what the virtual camera must
 * know of them to behave like that camera (VirtualCamera.fromDescriptors, the `profile` option). This reader takes
 * only that: per video function its VideoControl interface (UVC version, clock, units with their bmControls, the
 * status endpoint) and per VideoStreaming interface its endpoint, alternate settings and the formats and frames it
 * offers; every other interface (audio, HID, vendor) only by its alternate settings, so SET_INTERFACE works.
 *
 * The virtual camera knows nothing of the driver, so it does not borrow the driver's parser: a face it cannot play
 * (a format it cannot render, a configuration that is not UVC) is refused with EINVAL saying why.
 */
import { DescriptorType, EndpointTransferType, busIntervalMicroseconds } from '../spec/usb.js';
import { CS_INTERFACE, CC_VIDEO, VcSubtype, VideoSubclass, VsSubtype } from '../spec/uvc.js';
import type { IsoAltSetting } from './device-layout.js';
import { maxFrameSizeOf, type PixelFormat, type ResolvedFormat, type ResolvedFrame } from './formats.js';
import type { InvalidOption, VirtualSpeed, VirtualTransfer } from './types.js';

export type FaceEntityKind =
  | 'camera-terminal'
  | 'input-terminal'
  | 'output-terminal'
  | 'processing-unit'
  | 'extension-unit'
  | 'selector-unit'
  | 'encoding-unit';

export interface FaceEntity {
  id: number;
  kind: FaceEntityKind;
  /** bmControls as declared (empty for entities without). */
  bmControls: Uint8Array;
}

/** One VideoStreaming interface: where it streams and what. */
export interface PortLayout {
  vcInterface: number;
  vsInterface: number;
  videoEndpoint: number;
  transfer: VirtualTransfer;
  /** iso: alternate settings 1…n (sorted by bandwidth); bulk: empty. */
  isoAlts: IsoAltSetting[];
  bulkMaxPacket: number;
  formats: ResolvedFormat[];
}

export interface FaceFunction {
  vcInterface: number;
  bcdUVC: number;
  clockFrequency: number;
  entities: FaceEntity[];
  status: { endpoint: number; maxPacket: number; bInterval: number } | null;
  ports: PortLayout[];
}

export interface CameraFace {
  speed: VirtualSpeed;
  device: Uint8Array;
  configuration: Uint8Array;
  functions: FaceFunction[];
  /** Every interface number → its alternate setting numbers (video interfaces included). */
  altSettings: Map<number, number[]>;
}

const GUIDS: Record<string, PixelFormat> = {
  '5955593200001000800000aa00389b71': 'yuyv',
  '4e56313200001000800000aa00389b71': 'nv12',
  '4832363400001000800000aa00389b71': 'h264',
  '4832363500001000800000aa00389b71': 'h265',
  '4845564300001000800000aa00389b71': 'h265',
};

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

interface Descriptor {
  type: number;
  bytes: Uint8Array;
}

function walk(configuration: Uint8Array, invalid: InvalidOption): Descriptor[] {
  const out: Descriptor[] = [];
  for (let at = 0; at + 2 <= configuration.length; ) {
    const length = configuration[at]!;
    if (length < 2) invalid(`descriptor at offset ${at} has bLength ${length}`);
    out.push({ type: configuration[at + 1]!, bytes: configuration.subarray(at, Math.min(configuration.length, at + length)) });
    at += length;
  }
  return out;
}

function speedOf(device: Uint8Array, endpoints: Uint8Array[]): VirtualSpeed {
  if (u16(device, 2) >= 0x0300) return 'super';
  const high = endpoints.some((e) => {
    const attributes = e[3]! & 0x03;
    const size = u16(e, 4);
    return (attributes === EndpointTransferType.ISOCHRONOUS && ((size & 0x7ff) > 1023 || (size >> 11) & 0x3)) ||
      (attributes === EndpointTransferType.BULK && (size & 0x7ff) === 512) ||
      (attributes === EndpointTransferType.INTERRUPT && (size & 0x7ff) > 64);
  });
  return high ? 'high' : 'full';
}

function frameOf(kind: PixelFormat, frameBased: boolean, b: Uint8Array, where: string, invalid: InvalidOption): ResolvedFrame {
  const width = u16(b, 5);
  const height = u16(b, 7);
  const defaultInterval = u32(b, frameBased ? 17 : 21);
  const count = b[frameBased ? 21 : 25]!;
  const first = frameBased ? 26 : 26;
  const list: number[] = [];
  let range: ResolvedFrame['range'] = null;
  if (count === 0) {
    if (b.length < first + 12) invalid(`${where}: continuous frame intervals cut short`);
    range = { min: u32(b, first), max: u32(b, first + 4), step: Math.max(1, u32(b, first + 8)) };
  } else {
    for (let i = 0; i < count && first + 4 * i + 4 <= b.length; i++) list.push(u32(b, first + 4 * i) || 1);
  }
  const intervals = range === null ? [...new Set(list)].sort((x, y) => x - y) : null;
  if (intervals !== null && intervals.length === 0) invalid(`${where}: no frame interval`);
  const minInterval = intervals ? intervals[0]! : range!.min;
  const maxInterval = intervals ? intervals[intervals.length - 1]! : range!.max;
  const described = frameBased ? 0 : u32(b, 17);
  return {
    index: b[3]!,
    width,
    height,
    intervals,
    range,
    defaultInterval: Math.min(maxInterval, Math.max(minInterval, defaultInterval)),
    minInterval,
    maxInterval,
    // Uncompressed: exact. MJPEG: the camera's own bound. Frame-based (no such field): our access units stay far below.
    maxFrameSize: kind === 'yuyv' || kind === 'nv12' ? maxFrameSizeOf(kind, width, height) : described > 0 ? described : maxFrameSizeOf(kind, width, height),
  };
}

/** Reads the face; EINVAL for what the virtual camera cannot play. */
export function readFace(configuration: Uint8Array, device: Uint8Array, invalid: InvalidOption): CameraFace {
  if (device.length < 18 || device[1] !== DescriptorType.DEVICE) invalid('the device descriptor must be 18 bytes of type 1');
  if (configuration.length < 9 || configuration[1] !== DescriptorType.CONFIGURATION) invalid('the configuration descriptor must start with a configuration (type 2)');
  const descriptors = walk(configuration, invalid);
  const endpoints = descriptors.filter((d) => d.type === DescriptorType.ENDPOINT && d.bytes.length >= 7).map((d) => d.bytes);
  const speed = speedOf(device, endpoints);
  const altSettings = new Map<number, number[]>();
  const functions: FaceFunction[] = [];
  const vcOf = new Map<number, FaceFunction>();
  const busIntervalUs = busIntervalMicroseconds(speed);

  let current: { number: number; alt: number; subclass: number; cls: number } | null = null;
  let port: PortLayout | null = null;
  let format: ResolvedFormat | null = null;
  let formatFrameBased = false;
  let lastVc: FaceFunction | null = null;
  const endpointsOf = new Map<number, { alt: number; bytes: Uint8Array }[]>();
  for (const d of descriptors) {
    const b = d.bytes;
    if (d.type === DescriptorType.INTERFACE && b.length >= 9) {
      current = { number: b[2]!, alt: b[3]!, cls: b[5]!, subclass: b[6]! };
      altSettings.set(current.number, [...(altSettings.get(current.number) ?? []), current.alt]);
      format = null;
      if (current.cls === CC_VIDEO && current.subclass === VideoSubclass.VIDEOCONTROL && current.alt === 0) {
        lastVc = { vcInterface: current.number, bcdUVC: 0x0100, clockFrequency: 48_000_000, entities: [], status: null, ports: [] };
        vcOf.set(current.number, lastVc);
        functions.push(lastVc);
      }
      if (current.cls === CC_VIDEO && current.subclass === VideoSubclass.VIDEOSTREAMING) {
        port = lastVc?.ports.find((p) => p.vsInterface === current!.number) ?? null;
      }
      continue;
    }
    if (current === null || current.cls !== CC_VIDEO) continue;
    if (current.subclass === VideoSubclass.VIDEOCONTROL && lastVc !== null) {
      if (d.type === DescriptorType.ENDPOINT && b.length >= 7 && (b[3]! & 0x03) === EndpointTransferType.INTERRUPT) {
        lastVc.status = { endpoint: b[2]!, maxPacket: u16(b, 4) & 0x7ff, bInterval: b[6]! };
      }
      if (d.type !== CS_INTERFACE || b.length < 3) continue;
      const subtype = b[2]!;
      if (subtype === VcSubtype.HEADER && b.length >= 12) {
        lastVc.bcdUVC = u16(b, 3);
        lastVc.clockFrequency = u32(b, 7) || 48_000_000;
      } else if (subtype === VcSubtype.INPUT_TERMINAL && b.length >= 8) {
        const camera = u16(b, 4) === 0x0201;
        const size = camera && b.length >= 15 ? b[14]! : 0;
        lastVc.entities.push({ id: b[3]!, kind: camera ? 'camera-terminal' : 'input-terminal', bmControls: b.slice(15, 15 + size) });
      } else if (subtype === VcSubtype.OUTPUT_TERMINAL && b.length >= 4) {
        lastVc.entities.push({ id: b[3]!, kind: 'output-terminal', bmControls: new Uint8Array(0) });
      } else if (subtype === VcSubtype.PROCESSING_UNIT && b.length >= 8) {
        const size = b[7]!;
        lastVc.entities.push({ id: b[3]!, kind: 'processing-unit', bmControls: b.slice(8, 8 + size) });
      } else if (subtype === VcSubtype.SELECTOR_UNIT && b.length >= 4) {
        lastVc.entities.push({ id: b[3]!, kind: 'selector-unit', bmControls: Uint8Array.of(1) });
      } else if (subtype === VcSubtype.EXTENSION_UNIT && b.length >= 22) {
        const pins = b[21]!;
        const at = 22 + pins;
        const size = b.length > at ? b[at]! : 0;
        lastVc.entities.push({ id: b[3]!, kind: 'extension-unit', bmControls: b.slice(at + 1, at + 1 + size) });
      } else if (subtype === VcSubtype.ENCODING_UNIT && b.length >= 6) {
        lastVc.entities.push({ id: b[3]!, kind: 'encoding-unit', bmControls: new Uint8Array(0) });
      }
      continue;
    }
    if (current.subclass !== VideoSubclass.VIDEOSTREAMING) continue;
    const owner = lastVc;
    if (d.type === CS_INTERFACE && b.length >= 3 && current.alt === 0) {
      const subtype = b[2]!;
      if (subtype === VsSubtype.INPUT_HEADER && b.length >= 9 && owner !== null) {
        port = { vcInterface: owner.vcInterface, vsInterface: current.number, videoEndpoint: b[6]!, transfer: 'iso', isoAlts: [], bulkMaxPacket: 512, formats: [] };
        owner.ports.push(port);
        continue;
      }
      if (subtype === VsSubtype.OUTPUT_HEADER) invalid(`interface ${current.number} is a video output: the virtual camera only captures`);
      if (port === null) continue;
      const where = `interface ${current.number} format ${b[3]}`;
      if (subtype === VsSubtype.FORMAT_UNCOMPRESSED || subtype === VsSubtype.FORMAT_FRAME_BASED) {
        const kind = GUIDS[hex(b.subarray(5, 21))];
        if (kind === undefined || (subtype === VsSubtype.FORMAT_UNCOMPRESSED) !== (kind === 'yuyv' || kind === 'nv12')) {
          invalid(`${where}: the virtual camera cannot render the format with GUID ${hex(b.subarray(5, 21))}`);
        }
        formatFrameBased = subtype === VsSubtype.FORMAT_FRAME_BASED;
        format = pushFormat(port, b, kind!);
      } else if (subtype === VsSubtype.FORMAT_MJPEG) {
        formatFrameBased = false;
        format = pushFormat(port, b, 'mjpeg');
      } else if (subtype === VsSubtype.FRAME_UNCOMPRESSED || subtype === VsSubtype.FRAME_MJPEG || subtype === VsSubtype.FRAME_FRAME_BASED) {
        if (format === null) continue;
        format.frames.push(frameOf(format.kind, formatFrameBased, b, `${where} frame ${b[3]}`, invalid));
      } else if (subtype >= VsSubtype.FORMAT_MPEG2TS && subtype !== VsSubtype.COLORFORMAT && subtype !== VsSubtype.STILL_IMAGE_FRAME && subtype !== VsSubtype.FRAME_FRAME_BASED) {
        invalid(`${where}: the virtual camera cannot play format subtype 0x${subtype.toString(16)}`);
      }
      continue;
    }
    // Endpoints may come before the class-specific descriptors (some cameras put them first): kept, matched below.
    if (d.type === DescriptorType.ENDPOINT && b.length >= 6) {
      endpointsOf.set(current.number, [...(endpointsOf.get(current.number) ?? []), { alt: current.alt, bytes: b }]);
    }
  }
  for (const fn of functions) {
    for (const p of fn.ports) {
      for (const { alt, bytes: b } of endpointsOf.get(p.vsInterface) ?? []) {
        if (b[2] !== p.videoEndpoint) continue;
        const attributes = b[3]! & 0x03;
        const w = u16(b, 4);
        if (attributes === EndpointTransferType.BULK) {
          p.transfer = 'bulk';
          p.bulkMaxPacket = w & 0x7ff;
        } else if (attributes === EndpointTransferType.ISOCHRONOUS && alt > 0) {
          const size = w & 0x7ff;
          const transactions = speed === 'high' ? ((w >> 11) & 0x3) + 1 : 1;
          p.isoAlts.push({ alt, wMaxPacketSize: w, bytesPerInterval: size * transactions, ssMaxBurst: 0, ssMult: 0 });
        }
      }
    }
  }
  for (const fn of functions) {
    for (const p of fn.ports) {
      p.formats = p.formats.filter((f) => f.frames.length > 0);
      for (const f of p.formats) f.frames.sort((x, y) => x.index - y.index);
      p.isoAlts.sort((x, y) => x.bytesPerInterval - y.bytesPerInterval || x.alt - y.alt);
      if (p.formats.length === 0) invalid(`interface ${p.vsInterface} offers no format the virtual camera can play`);
      if (p.transfer === 'iso' && p.isoAlts.length === 0) invalid(`interface ${p.vsInterface} has no isochronous alternate setting for endpoint 0x${p.videoEndpoint.toString(16)}`);
    }
  }
  const video = functions.filter((f) => f.ports.length > 0);
  if (video.length === 0) invalid('the configuration has no video function with a capture interface');
  void busIntervalUs;
  return { speed, device: device.slice(0, 18), configuration: configuration.slice(), functions: video, altSettings };
}

function pushFormat(port: PortLayout, b: Uint8Array, kind: PixelFormat): ResolvedFormat {
  const uncompressed = kind === 'yuyv' || kind === 'nv12';
  const format: ResolvedFormat = {
    index: b[3]!,
    kind,
    compressed: !uncompressed,
    bitsPerPixel: uncompressed ? b[21]! : 0,
    guid: uncompressed ? b.slice(5, 21) : null,
    defaultFrameIndex: b[uncompressed || kind !== 'mjpeg' ? 22 : 6] ?? 1,
    frames: [],
  };
  port.formats.push(format);
  return format;
}
