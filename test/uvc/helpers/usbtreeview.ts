/**
 * Reads a Windows "USB Device Tree Viewer" text dump: the configuration's sections (one per descriptor, each with
 * its labelled fields and hex dump) and, from the labelled fields alone, what a correct parser must see.
 */
import type { EntityType, FormatKind, TransferType } from '../../../src/uvc/descriptors/model.js';
import {
  controlNameForLabel,
  type ExpectedAltSetting,
  type ExpectedConfiguration,
  type ExpectedEntity,
  type ExpectedFormat,
  type ExpectedStreaming,
  type ExpectedVideoControl,
} from './expected-model.js';

export interface TreeSection {
  title: string;
  /** 'name : value' lines at column 0, first occurrence of each name. */
  fields: Map<string, string>;
  lines: string[];
  /** The section's "Data (HexDump)" bytes. */
  data: number[];
}

const SECTION_TITLE = /^\s*-{3,} (.+?) -{3,}\s*$/;
const END_OF_CONFIGURATION = new Set([
  'Device Qualifier Descriptor',
  'Other Speed Configuration Descriptor',
  'String Descriptors',
  'Binary Object Store (BOS) Descriptor',
]);

/** The sections from "Configuration Descriptor" up to the next top-level part of the dump. */
export function configurationSections(text: string): TreeSection[] {
  const sections: TreeSection[] = [];
  let current: TreeSection | null = null;
  let inHexDump = false;
  let started = false;
  for (const line of text.split(/\r?\n/)) {
    const title = SECTION_TITLE.exec(line)?.[1];
    if (title !== undefined || /^\s*={3,}/.test(line)) {
      if (title === 'Configuration Descriptor') started = true;
      else if (started && (title === undefined || END_OF_CONFIGURATION.has(title))) break;
      current = started && title !== undefined ? { title, fields: new Map(), lines: [], data: [] } : null;
      if (current !== null) sections.push(current);
      inHexDump = false;
      continue;
    }
    if (current === null) continue;
    current.lines.push(line);
    const isDump = line.startsWith('Data (HexDump)');
    if (isDump || (inHexDump && /^\s{27}[0-9A-F]{2} /.test(line))) {
      inHexDump = true;
      const hex = line.slice(27, 27 + 48).trim();
      for (const token of hex.split(' ')) if (/^[0-9A-F]{2}$/.test(token)) current.data.push(parseInt(token, 16));
      continue;
    }
    inHexDump = false;
    const field = /^(\S[^:]*?)\s*:\s?(.*)$/.exec(line);
    if (field !== null && !current.fields.has(field[1]!)) current.fields.set(field[1]!, field[2]!.trim());
  }
  return sections;
}

/** '0x0280 (640)' → 640; '0x02DC6C00 (48 MHz)' → 48000000; '0x01' → 1; decimal when no 0x. */
export function numberOf(value: string | undefined, what: string): number {
  if (value === undefined) throw new Error(`missing field ${what}`);
  const token = /^(0x[0-9A-Fa-f]+|\d+)/.exec(value)?.[1];
  if (token === undefined) throw new Error(`field ${what} has no number: '${value}'`);
  return token.startsWith('0x') ? parseInt(token.slice(2), 16) : parseInt(token, 10);
}

function field(section: TreeSection, name: string): number {
  return numberOf(section.fields.get(name), `${section.title}/${name}`);
}

/** ' D11 : 1  yes -  Pan (Absolute)' lines → [bit, label] of the set bits. */
function setBits(section: TreeSection): [number, string][] {
  const bits: [number, string][] = [];
  for (const line of section.lines) {
    const m = /^\s*D(\d+)\s*:\s*1\s+yes\s+-\s+(.+?)\s*$/.exec(line);
    if (m !== null) bits.push([Number(m[1]), m[2]!]);
  }
  return bits;
}

/** A bracketed GUID as printed ({32595559-0000-0010-8000-00AA00389B71}) → our lower-case textual form. */
function guidOf(value: string | undefined): string {
  const m = /\{([0-9A-Fa-f-]{36})\}/.exec(value ?? '');
  if (m === null) throw new Error(`no GUID in '${value}'`);
  return m[1]!.toLowerCase();
}

function lastMatch(section: TreeSection, pattern: RegExp): RegExpExecArray | null {
  let found: RegExpExecArray | null = null;
  for (const line of section.lines) found = pattern.exec(line) ?? found;
  return found;
}

const DEFAULT_COLOR = { colorPrimaries: 1, transferCharacteristics: 1, matrixCoefficients: 4, source: 'default' as const };

/** What a correct parser sees, from the labelled fields of the decode (never from its hex dump). */
export function expectedFromUsbTreeView(text: string): ExpectedConfiguration {
  const sections = configurationSections(text);
  const config = sections[0]!;
  const result: ExpectedConfiguration = {
    totalLength: field(config, 'wTotalLength'),
    videoControls: [],
    streaming: [],
    otherInterfaceNumbers: [],
    interfaceAssociationCount: 0,
  };
  const streamingByNumber = new Map<number, ExpectedStreaming>();
  const other = new Set<number>();
  let context: { kind: 'vc'; vc: ExpectedVideoControl } | { kind: 'vs'; vs: ExpectedStreaming; alt: ExpectedAltSetting } | { kind: 'other' } | null = null;
  let format: ExpectedFormat | null = null;
  let endpointIsIso = false;

  for (const section of sections.slice(1)) {
    switch (section.title) {
      case 'IAD Descriptor':
        result.interfaceAssociationCount++;
        break;
      case 'Interface Descriptor': {
        const number = field(section, 'bInterfaceNumber');
        const alternateSetting = field(section, 'bAlternateSetting');
        const cls = field(section, 'bInterfaceClass');
        const subclass = field(section, 'bInterfaceSubClass');
        format = null;
        if (cls === 0x0e && subclass === 1) {
          const vc: ExpectedVideoControl = {
            interfaceNumber: number,
            bcdUVC: 0,
            clockFrequency: 0,
            streamingInterfaceNumbers: [],
            entities: [],
            interruptEndpoint: null,
          };
          result.videoControls.push(vc);
          context = { kind: 'vc', vc };
        } else if (cls === 0x0e && subclass === 2) {
          let vs = streamingByNumber.get(number);
          if (vs === undefined) {
            vs = { interfaceNumber: number, endpointAddress: 0, terminalLink: 0, stillCaptureMethod: 0, altSettings: [], formats: [] };
            streamingByNumber.set(number, vs);
          }
          const alt: ExpectedAltSetting = { alternateSetting, endpointAddress: null, transferType: null, bytesPerInterval: 0 };
          vs.altSettings.push(alt);
          context = { kind: 'vs', vs, alt };
        } else {
          other.add(number);
          context = { kind: 'other' };
        }
        break;
      }
      case 'Video Control Interface Header Descriptor': {
        if (context?.kind !== 'vc') throw new Error('VC header outside a VC interface');
        context.vc.bcdUVC = field(section, 'bcdUVC');
        context.vc.clockFrequency = field(section, 'dwClockFreq');
        const count = field(section, 'bInCollection');
        for (let i = 1; i <= count; i++) context.vc.streamingInterfaceNumbers.push(field(section, `baInterfaceNr[${i}]`));
        break;
      }
      case 'Video Control Input Terminal Descriptor':
      case 'Video Control Output Terminal Descriptor':
      case 'Video Control Processing Unit Descriptor':
      case 'Video Control Extension Unit Descriptor': {
        if (context?.kind !== 'vc') throw new Error(`${section.title} outside a VC interface`);
        context.vc.entities.push(entityOf(section));
        break;
      }
      case 'Endpoint Descriptor': {
        const address = field(section, 'bEndpointAddress');
        const attributes = field(section, 'bmAttributes');
        if (context?.kind === 'vc') {
          context.vc.interruptEndpoint = { address, maxTransferSize: null };
        } else if (context?.kind === 'vs') {
          const transferType: TransferType | null = (attributes & 3) === 1 ? 'isochronous' : (attributes & 3) === 2 ? 'bulk' : null;
          endpointIsIso = transferType === 'isochronous';
          const size = lastMatch(section, /^\s*Bits 10\.\.0\s*:\s*0x([0-9A-F]+)/);
          const extra = lastMatch(section, /^\s*Bits 12\.\.11\s*:\s*0x([0-9A-F]+)/);
          // Bulk endpoints are printed without the bit breakdown: "0x0200 (max 512 bytes)", "0x0040 (64 bytes)".
          const packet =
            size !== null
              ? parseInt(size[1]!, 16)
              : numberOf(/\((?:max )?(\d+) bytes\)/.exec(section.fields.get('wMaxPacketSize') ?? '')?.[1], 'wMaxPacketSize');
          const transactions = extra !== null ? 1 + parseInt(extra[1]!, 16) : 1;
          Object.assign(context.alt, { endpointAddress: address, transferType, bytesPerInterval: packet * transactions });
        }
        break;
      }
      case 'SuperSpeed Endpoint Companion Descriptor':
        if (context?.kind === 'vs' && endpointIsIso) context.alt.bytesPerInterval = field(section, 'wBytesPerInterval');
        break;
      case 'Class-specific VC Interrupt Endpoint Descriptor':
        if (context?.kind === 'vc' && context.vc.interruptEndpoint !== null) {
          context.vc.interruptEndpoint.maxTransferSize = field(section, 'wMaxTransferSize');
        }
        break;
      case 'VC-Specific VS Video Input Header Descriptor': {
        if (context?.kind !== 'vs') throw new Error('VS header outside a VS interface');
        context.vs.endpointAddress = field(section, 'bEndpointAddress');
        context.vs.terminalLink = field(section, 'bTerminalLink');
        context.vs.stillCaptureMethod = field(section, 'bStillCaptureMethod');
        break;
      }
      case 'VS Uncompressed Format Type Descriptor':
      case 'Video Streaming MJPEG Format Type Descriptor':
      case 'VS Frame Based Payload Format Type Descriptor': {
        if (context?.kind !== 'vs') throw new Error('format outside a VS interface');
        const kind: FormatKind = section.title.includes('MJPEG') ? 'mjpeg' : section.title.includes('Uncompressed') ? 'uncompressed' : 'frame-based';
        const withGuid = kind !== 'mjpeg';
        format = {
          index: field(section, 'bFormatIndex'),
          kind,
          // the decoder's own FourCC after the GUID: '{32595559-…} (YUY2)'
          fourcc: withGuid ? (/\}\s*\((.{4})\)/.exec(section.fields.get('guidFormat') ?? '')?.[1] ?? null) : 'MJPG',
          bitsPerPixel: withGuid ? field(section, 'bBitsPerPixel') : 0,
          defaultFrameIndex: field(section, 'bDefaultFrameIndex'),
          frames: [],
          colorMatching: { ...DEFAULT_COLOR },
          stillImage: null,
        };
        context.vs.formats.push(format);
        break;
      }
      case 'VS Uncompressed Frame Type Descriptor':
      case 'Video Streaming MJPEG Frame Type Descriptor':
      case 'VS Frame Based Payload Frame Type Descriptor': {
        if (format === null) throw new Error('frame without a format');
        const frameBased = section.title.includes('Frame Based');
        const type = field(section, 'bFrameIntervalType');
        const intervals =
          type === 0
            ? { min: field(section, 'dwMinFrameInterval'), max: field(section, 'dwMaxFrameInterval'), step: field(section, 'dwFrameIntervalStep') }
            : Array.from({ length: type }, (_, i) => field(section, `adwFrameInterval[${i + 1}]`));
        format.frames.push({
          index: field(section, 'bFrameIndex'),
          capabilities: field(section, 'bmCapabilities'),
          width: field(section, 'wWidth'),
          height: field(section, 'wHeight'),
          maxFrameSize: frameBased ? null : field(section, 'dwMaxVideoFrameBufferSize'),
          bytesPerLine: frameBased ? field(section, 'dwBytesPerLine') : null,
          defaultInterval: field(section, 'dwDefaultFrameInterval'),
          intervals,
        });
        break;
      }
      case 'Still Image Frame Type Descriptor': {
        if (format === null) throw new Error('still image frame without a format');
        const sizes: { width: number; height: number }[] = [];
        for (const line of section.lines) {
          const m = /^\d+: wWidth x wHeight\s*:\s*0x([0-9A-F]+) x 0x([0-9A-F]+)/.exec(line);
          if (m !== null) sizes.push({ width: parseInt(m[1]!, 16), height: parseInt(m[2]!, 16) });
        }
        format.stillImage = { endpointAddress: field(section, 'bEndpointAddress'), sizes };
        break;
      }
      case 'VS Color Matching Descriptor Descriptor':
        if (format === null) throw new Error('color matching without a format');
        format.colorMatching = {
          colorPrimaries: field(section, 'bColorPrimaries'),
          transferCharacteristics: field(section, 'bTransferCharacteristics'),
          matrixCoefficients: field(section, 'bMatrixCoefficients'),
          source: 'descriptor',
        };
        break;
      default:
        if (context?.kind !== 'other' && !/^(Audio|HID|CDC)/.test(section.title)) {
          throw new Error(`unexpected section '${section.title}' in a video interface`);
        }
    }
  }
  result.streaming = [...streamingByNumber.values()].sort((a, b) => a.interfaceNumber - b.interfaceNumber);
  for (const vs of result.streaming) vs.altSettings.sort((a, b) => a.alternateSetting - b.alternateSetting);
  result.otherInterfaceNumbers = [...other].sort((a, b) => a - b);
  return result;
}

function entityOf(section: TreeSection): ExpectedEntity {
  const bits = setBits(section);
  const named = (entityBits: [number, string][]): { controls: string[]; unknownControlBits: number[] } => {
    const controls: string[] = [];
    const unknownControlBits: number[] = [];
    for (const [bit, label] of entityBits) {
      const name = controlNameForLabel(label);
      if (name === null) unknownControlBits.push(bit);
      else controls.push(name);
    }
    return { controls: controls.sort(), unknownControlBits };
  };
  switch (section.title) {
    case 'Video Control Input Terminal Descriptor': {
      const terminalType = field(section, 'wTerminalType');
      const camera = terminalType === 0x0201;
      const type: EntityType = camera ? 'camera-terminal' : 'input-terminal';
      return { type, id: field(section, 'bTerminalID'), terminalType, sourceIds: [], guid: null, ...(camera ? named(bits) : { controls: [], unknownControlBits: [] }) };
    }
    case 'Video Control Output Terminal Descriptor':
      return {
        type: 'output-terminal',
        id: field(section, 'bTerminalID'),
        terminalType: field(section, 'wTerminalType'),
        sourceIds: [field(section, 'bSourceID')],
        controls: [],
        unknownControlBits: [],
        guid: null,
      };
    case 'Video Control Processing Unit Descriptor':
      return { type: 'processing-unit', id: field(section, 'bUnitID'), terminalType: null, sourceIds: [field(section, 'bSourceID')], guid: null, ...named(bits) };
    default: {
      const id = field(section, 'bUnitID');
      const pins = field(section, 'bNrInPins');
      return {
        type: 'extension-unit',
        id,
        terminalType: null,
        sourceIds: Array.from({ length: pins }, (_, i) => field(section, `baSourceID[${i + 1}]`)),
        // extension unit bit n declares selector n + 1: the independent reading of its bmControls
        controls: bits.map(([bit]) => `xu${id}_${bit + 1}`).sort(),
        unknownControlBits: [],
        guid: guidOf(section.fields.get('guidExtensionCode')),
      };
    }
  }
}
