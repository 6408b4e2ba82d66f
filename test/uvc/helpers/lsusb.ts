/**
 * Reads `lsusb -v` text: rebuilds the configuration descriptor's bytes from the printed fields, and, separately,
 * says from the text what a correct parser sees.
 *
 * lsusb prints every field of every descriptor in wire order, except the 5-byte class-specific VideoControl
 * interrupt endpoint descriptor; that one is put back (wTotalLength tells whether it was there). The rebuild checks
 * itself: each descriptor must come out exactly bLength bytes (unless lsusb flagged it "too short" and printed
 * fields beyond its end), and the whole must come out wTotalLength bytes.
 */
import type { EntityType, FormatKind, TransferType } from '../../../src/uvc/descriptors/model.js';
import {
  controlNameForLabel,
  type ExpectedAltSetting,
  type ExpectedConfiguration,
  type ExpectedEntity,
  type ExpectedFormat,
  type ExpectedFrame,
  type ExpectedStreaming,
  type ExpectedVideoControl,
} from './expected-model.js';

export interface LsusbField {
  name: string;
  index: number | null;
  /** The printed value, e.g. '0x1400  3x 1024 bytes', '1.00', '24.000000MHz'. */
  value: string;
  /** Indented lines below the field that are not fields (control names, decoded bits). */
  notes: string[];
}

export interface LsusbBlock {
  title: string;
  fields: LsusbField[];
  tooShort: boolean;
  /** "** UNRECOGNIZED:" descriptors come as bytes. */
  raw: number[] | null;
}

const BLOCK_TITLE =
  /^\s*(Configuration Descriptor|Interface Association|Interface Descriptor|Endpoint Descriptor|VideoControl Interface Descriptor|VideoStreaming Interface Descriptor|AudioControl Interface Descriptor|AudioStreaming Interface Descriptor|AudioControl Endpoint Descriptor|HID Device Descriptor):\s*$/;
const FIELD = /^\s+([a-z]\w*|MaxPower)(?:\(\s*(\d+)\)|\[\s*(\d+)\])?(?:\s+(.*?))?\s*$/;

export function lsusbBlocks(text: string): LsusbBlock[] {
  const blocks: LsusbBlock[] = [];
  let current: LsusbBlock | null = null;
  let started = false;
  for (const line of text.split(/\r?\n/)) {
    const title = BLOCK_TITLE.exec(line)?.[1];
    if (title === 'Configuration Descriptor') started = true;
    if (!started) continue;
    if (/^(Device Qualifier|Device Status)/.test(line)) break;
    if (title !== undefined) {
      current = { title, fields: [], tooShort: false, raw: null };
      blocks.push(current);
      continue;
    }
    const unrecognized = /^\s*\*\* UNRECOGNIZED:\s+([0-9a-f ]+?)\s*$/.exec(line);
    if (unrecognized !== null) {
      blocks.push({ title: 'UNRECOGNIZED', fields: [], tooShort: false, raw: unrecognized[1]!.split(/\s+/).map((h) => parseInt(h, 16)) });
      current = null;
      continue;
    }
    if (current === null) continue;
    if (/Warning: Descriptor too short/.test(line)) {
      current.tooShort = true;
      continue;
    }
    const field = FIELD.exec(line);
    if (field !== null) {
      const index = field[2] ?? field[3];
      current.fields.push({ name: field[1]!, index: index === undefined ? null : Number(index), value: field[4] ?? '', notes: [] });
    } else if (line.trim().length > 0 && current.fields.length > 0) {
      current.fields[current.fields.length - 1]!.notes.push(line.trim());
    }
  }
  return blocks;
}

/** The number a printed value stands for. */
export function lsusbNumber(field: LsusbField): number {
  const v = field.value;
  let m: RegExpExecArray | null;
  if ((m = /^0x\s*([0-9a-fA-F]+)/.exec(v)) !== null) return parseInt(m[1]!, 16);
  if ((m = /^(\d+(?:\.\d+)?)MHz/.exec(v)) !== null) return Math.round(Number(m[1]) * 1e6);
  if ((m = /^(\d+)mA/.exec(v)) !== null) return Number(m[1]) / 2;
  if (field.name.startsWith('bcd') && (m = /^(\d+)\.(\d{2})$/.exec(v)) !== null) return (Number(m[1]) << 8) | parseInt(m[2]!, 16);
  if ((m = /^(-?\d+)/.exec(v)) !== null) return Number(m[1]);
  throw new Error(`no number in ${field.name} '${v}'`);
}

/** lsusb prints GUIDs as the 16 wire bytes in order: {59555932-0000-1000-8000-00aa00389b71}. */
export function lsusbGuidBytes(field: LsusbField): number[] {
  const m = /^\{([0-9a-fA-F-]{36})\}/.exec(field.value);
  if (m === null) throw new Error(`no GUID in ${field.name} '${field.value}'`);
  const hex = m[1]!.replace(/-/g, '');
  return Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** Wire bytes → the usual textual GUID (first three groups little-endian), computed here independently. */
function textualGuid(bytes: number[]): string {
  const h = bytes.map((b) => b.toString(16).padStart(2, '0'));
  const group = (indexes: number[]): string => indexes.map((i) => h[i]).join('');
  return [group([3, 2, 1, 0]), group([5, 4]), group([7, 6]), group([8, 9]), group([10, 11, 12, 13, 14, 15])].join('-');
}

function fieldSize(field: LsusbField, controlSize: number): number {
  const n = field.name;
  if (n.startsWith('guid')) return 16;
  if (n.startsWith('bcd')) return 2;
  if (n.startsWith('dw')) return 4;
  if (n === 'bmControls') return field.index === null ? controlSize : 1;
  if (n === 'bmaControls') return controlSize;
  if (n.startsWith('w') || n.startsWith('id')) return 2;
  if (n.startsWith('t')) return 3;
  if (n.startsWith('b') || n.startsWith('i') || n === 'MaxPower') return 1;
  throw new Error(`no size known for field ${n}`);
}

function encodeBlock(block: LsusbBlock): number[] {
  if (block.raw !== null) return block.raw;
  const bytes: number[] = [];
  let controlSize = 0;
  for (const field of block.fields) {
    const size = fieldSize(field, controlSize);
    const value = field.name.startsWith('guid') ? lsusbGuidBytes(field) : null;
    if (value !== null) bytes.push(...value);
    else {
      let number = lsusbNumber(field);
      for (let i = 0; i < size; i++) {
        bytes.push(number & 0xff);
        number = Math.floor(number / 256);
      }
    }
    if (field.name === 'bControlSize') controlSize = lsusbNumber(field);
  }
  const length = bytes[0]!;
  if (bytes.length > length && !block.tooShort) throw new Error(`${block.title}: fields make ${bytes.length} bytes, bLength is ${length}`);
  if (bytes.length < length) throw new Error(`${block.title}: fields make ${bytes.length} bytes, bLength is ${length}`);
  return bytes.slice(0, length);
}

function get(block: LsusbBlock, name: string, index: number | null = null): LsusbField {
  const field = block.fields.find((f) => f.name === name && f.index === index);
  if (field === undefined) throw new Error(`${block.title} has no ${name}${index === null ? '' : `(${index})`}`);
  return field;
}

function num(block: LsusbBlock, name: string, index: number | null = null): number {
  return lsusbNumber(get(block, name, index));
}

function indexed(block: LsusbBlock, name: string): LsusbField[] {
  return block.fields.filter((f) => f.name === name && f.index !== null);
}

function isVideoControl(block: LsusbBlock): boolean {
  return block.title === 'Interface Descriptor' && num(block, 'bInterfaceClass') === 14 && num(block, 'bInterfaceSubClass') === 1;
}

/** The configuration descriptor bytes lsusb printed, with the class-specific interrupt endpoints put back. */
export function rebuildConfiguration(text: string): Uint8Array {
  const blocks = lsusbBlocks(text);
  const totalLength = num(blocks[0]!, 'wTotalLength');
  const printed = blocks.reduce((sum, b) => sum + encodeBlock(b).length, 0);
  const interruptEndpoints: LsusbBlock[] = [];
  let inVideoControl = false;
  for (const block of blocks) {
    if (block.title === 'Interface Descriptor') inVideoControl = isVideoControl(block);
    else if (block.title === 'Endpoint Descriptor' && inVideoControl) interruptEndpoints.push(block);
  }
  const missing = totalLength - printed;
  if (missing !== 0 && missing !== 5 * interruptEndpoints.length) {
    throw new Error(`rebuilt ${printed} bytes, wTotalLength is ${totalLength}: not explained by ${interruptEndpoints.length} omitted interrupt endpoint descriptor(s)`);
  }
  const bytes: number[] = [];
  for (const block of blocks) {
    bytes.push(...encodeBlock(block));
    if (missing !== 0 && interruptEndpoints.includes(block)) {
      const size = num(block, 'wMaxPacketSize');
      bytes.push(5, 0x25, 0x03, size & 0xff, size >> 8); // CS_ENDPOINT, EP_INTERRUPT, wMaxTransferSize
    }
  }
  return Uint8Array.from(bytes);
}

const DEFAULT_COLOR = { colorPrimaries: 1, transferCharacteristics: 1, matrixCoefficients: 4, source: 'default' as const };

/** What a correct parser sees in the configuration, from the lsusb text. */
export function expectedFromLsusb(text: string): ExpectedConfiguration {
  const blocks = lsusbBlocks(text);
  const insertedInterrupt = rebuildConfiguration(text).length !== blocks.reduce((s, b) => s + encodeBlock(b).length, 0);
  const result: ExpectedConfiguration = {
    totalLength: num(blocks[0]!, 'wTotalLength'),
    videoControls: [],
    streaming: [],
    otherInterfaceNumbers: [],
    interfaceAssociationCount: 0,
  };
  const streamingByNumber = new Map<number, ExpectedStreaming>();
  const other = new Set<number>();
  let vc: ExpectedVideoControl | null = null;
  let vs: { vs: ExpectedStreaming; alt: ExpectedAltSetting } | null = null;
  let format: ExpectedFormat | null = null;

  for (const block of blocks.slice(1)) {
    switch (block.title) {
      case 'Interface Association':
        result.interfaceAssociationCount++;
        break;
      case 'Interface Descriptor': {
        const number = num(block, 'bInterfaceNumber');
        const cls = num(block, 'bInterfaceClass');
        const subclass = num(block, 'bInterfaceSubClass');
        vc = null;
        vs = null;
        format = null;
        if (cls === 14 && subclass === 1) {
          vc = { interfaceNumber: number, bcdUVC: 0, clockFrequency: 0, streamingInterfaceNumbers: [], entities: [], interruptEndpoint: null };
          result.videoControls.push(vc);
        } else if (cls === 14 && subclass === 2) {
          let stream = streamingByNumber.get(number);
          if (stream === undefined) {
            stream = { interfaceNumber: number, endpointAddress: 0, terminalLink: 0, stillCaptureMethod: 0, altSettings: [], formats: [] };
            streamingByNumber.set(number, stream);
          }
          const alt: ExpectedAltSetting = { alternateSetting: num(block, 'bAlternateSetting'), endpointAddress: null, transferType: null, bytesPerInterval: 0 };
          stream.altSettings.push(alt);
          vs = { vs: stream, alt };
        } else {
          other.add(number);
        }
        break;
      }
      case 'VideoControl Interface Descriptor':
        if (vc === null) throw new Error('VideoControl descriptor outside a VC interface');
        videoControlDescriptor(block, vc);
        break;
      case 'Endpoint Descriptor': {
        const address = lsusbNumber(get(block, 'bEndpointAddress'));
        if (vc !== null) vc.interruptEndpoint = { address, maxTransferSize: insertedInterrupt ? num(block, 'wMaxPacketSize') : null };
        if (vs !== null) {
          const type = num(block, 'bmAttributes') & 3;
          const transferType: TransferType | null = type === 1 ? 'isochronous' : type === 2 ? 'bulk' : null;
          // lsusb's own decode of wMaxPacketSize: '0x1400  3x 1024 bytes'
          const decoded = /(\d)x (\d+) bytes/.exec(get(block, 'wMaxPacketSize').value);
          if (decoded === null) throw new Error(`wMaxPacketSize not decoded: ${get(block, 'wMaxPacketSize').value}`);
          Object.assign(vs.alt, { endpointAddress: address, transferType, bytesPerInterval: Number(decoded[1]) * Number(decoded[2]) });
        }
        break;
      }
      case 'VideoStreaming Interface Descriptor': {
        if (vs === null) throw new Error('VideoStreaming descriptor outside a VS interface');
        format = videoStreamingDescriptor(block, vs.vs, format);
        break;
      }
      default:
        break; // audio, HID, vendor: the parser skips them
    }
  }
  result.streaming = [...streamingByNumber.values()].sort((a, b) => a.interfaceNumber - b.interfaceNumber);
  for (const stream of result.streaming) stream.altSettings.sort((a, b) => a.alternateSetting - b.alternateSetting);
  result.otherInterfaceNumbers = [...other].sort((a, b) => a - b);
  return result;
}

function subtypeOf(block: LsusbBlock): number {
  return num(block, 'bDescriptorSubtype');
}

function controlNames(field: LsusbField): { controls: string[]; unknownControlBits: number[] } {
  const controls: string[] = [];
  for (const label of field.notes) {
    const name = controlNameForLabel(label);
    if (name !== null) controls.push(name);
  }
  return { controls: controls.sort(), unknownControlBits: [] };
}

function videoControlDescriptor(block: LsusbBlock, vc: ExpectedVideoControl): void {
  const subtype = subtypeOf(block);
  const entity = (e: Omit<ExpectedEntity, 'guid' | 'terminalType' | 'unknownControlBits' | 'controls'> & Partial<ExpectedEntity>): void => {
    vc.entities.push({ terminalType: null, guid: null, controls: [], unknownControlBits: [], ...e });
  };
  switch (subtype) {
    case 1:
      vc.bcdUVC = num(block, 'bcdUVC');
      vc.clockFrequency = num(block, 'dwClockFrequency');
      vc.streamingInterfaceNumbers = indexed(block, 'baInterfaceNr').map(lsusbNumber);
      break;
    case 2: {
      const terminalType = num(block, 'wTerminalType');
      const camera = terminalType === 0x0201;
      const type: EntityType = camera ? 'camera-terminal' : 'input-terminal';
      entity({ type, id: num(block, 'bTerminalID'), terminalType, sourceIds: [], ...(camera ? controlNames(get(block, 'bmControls')) : {}) });
      break;
    }
    case 3:
      entity({ type: 'output-terminal', id: num(block, 'bTerminalID'), terminalType: num(block, 'wTerminalType'), sourceIds: [num(block, 'bSourceID')] });
      break;
    case 5:
      entity({ type: 'processing-unit', id: num(block, 'bUnitID'), sourceIds: [num(block, 'bSourceID')], ...controlNames(get(block, 'bmControls')) });
      break;
    case 6: {
      const id = num(block, 'bUnitID');
      const controls: string[] = [];
      indexed(block, 'bmControls').forEach((f) => {
        const byte = lsusbNumber(f);
        for (let bit = 0; bit < 8; bit++) if (byte & (1 << bit)) controls.push(`xu${id}_${f.index! * 8 + bit + 1}`);
      });
      entity({
        type: 'extension-unit',
        id,
        sourceIds: indexed(block, 'baSourceID').map(lsusbNumber),
        guid: textualGuid(lsusbGuidBytes(get(block, 'guidExtensionCode'))),
        controls: controls.sort(),
      });
      break;
    }
    default:
      throw new Error(`VideoControl subtype ${subtype} not handled by the test reader`);
  }
}

function videoStreamingDescriptor(block: LsusbBlock, vs: ExpectedStreaming, format: ExpectedFormat | null): ExpectedFormat | null {
  const subtype = subtypeOf(block);
  const kinds: Record<number, FormatKind> = { 4: 'uncompressed', 6: 'mjpeg', 16: 'frame-based' };
  switch (subtype) {
    case 1:
      vs.endpointAddress = num(block, 'bEndPointAddress');
      vs.terminalLink = num(block, 'bTerminalLink');
      vs.stillCaptureMethod = num(block, 'bStillCaptureMethod');
      return format;
    case 4:
    case 6:
    case 16: {
      const kind = kinds[subtype]!;
      const withGuid = kind !== 'mjpeg';
      const next: ExpectedFormat = {
        index: num(block, 'bFormatIndex'),
        kind,
        fourcc: withGuid ? String.fromCharCode(...lsusbGuidBytes(get(block, 'guidFormat')).slice(0, 4)) : 'MJPG',
        bitsPerPixel: withGuid ? num(block, 'bBitsPerPixel') : 0,
        defaultFrameIndex: num(block, 'bDefaultFrameIndex'),
        frames: [],
        colorMatching: { ...DEFAULT_COLOR },
        stillImage: null,
      };
      vs.formats.push(next);
      return next;
    }
    case 5:
    case 7:
    case 17: {
      if (format === null) throw new Error('frame without format');
      const frameBased = subtype === 17;
      const type = num(block, 'bFrameIntervalType');
      const frame: ExpectedFrame = {
        index: num(block, 'bFrameIndex'),
        capabilities: num(block, 'bmCapabilities'),
        width: num(block, 'wWidth'),
        height: num(block, 'wHeight'),
        maxFrameSize: frameBased ? null : num(block, 'dwMaxVideoFrameBufferSize'),
        bytesPerLine: frameBased ? num(block, 'dwBytesPerLine') : null,
        defaultInterval: num(block, 'dwDefaultFrameInterval'),
        intervals:
          type === 0
            ? { min: num(block, 'dwMinFrameInterval'), max: num(block, 'dwMaxFrameInterval'), step: num(block, 'dwFrameIntervalStep') }
            : indexed(block, 'dwFrameInterval').map(lsusbNumber),
      };
      format.frames.push(frame);
      return format;
    }
    case 3: {
      if (format === null) throw new Error('still image frame without format');
      const widths = indexed(block, 'wWidth').map(lsusbNumber);
      const heights = indexed(block, 'wHeight').map(lsusbNumber);
      format.stillImage = { endpointAddress: num(block, 'bEndpointAddress'), sizes: widths.map((width, i) => ({ width, height: heights[i]! })) };
      return format;
    }
    case 13:
      if (format === null) throw new Error('color matching without format');
      format.colorMatching = {
        colorPrimaries: num(block, 'bColorPrimaries'),
        transferCharacteristics: num(block, 'bTransferCharacteristics'),
        matrixCoefficients: num(block, 'bMatrixCoefficients'),
        source: 'descriptor',
      };
      return format;
    default:
      throw new Error(`VideoStreaming subtype ${subtype} not handled by the test reader`);
  }
}
