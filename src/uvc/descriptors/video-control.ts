/**
 * The VideoControl interface: its header (UVC version, clock, the streaming interfaces it owns), its units and
 * terminals with their control bitmaps, and its status interrupt endpoint.
 *
 * A broken entity descriptor is skipped with a warning; only a missing or unreadable header makes the interface
 * unusable (then the caller decides whether anything of the device is left).
 */
import { ENDPOINT_DIR_IN, EndpointTransferType } from '../../spec/usb.js';
import { CS_INTERFACE, EP_INTERRUPT, TerminalType, VcSubtype } from '../../spec/uvc.js';
import {
  controlDefinition,
  extensionControlName,
  selectorForBit,
  SELECTOR_UNIT_CONTROLS,
} from '../control-catalog.js';
import { ByteReader, hex } from './byte-reader.js';
import type { AltSettingBlock, RawDescriptor } from './configuration-walker.js';
import { formatGuid } from './guid.js';
import type {
  DeclaredControl,
  EntityType,
  InterruptEndpoint,
  VcEntity,
  VideoControlInterface,
} from './model.js';
import type { ParseContext } from './parse-context.js';

const HEADER_MIN_LENGTH = 12;

export function parseVideoControl(block: AltSettingBlock, ctx: ParseContext): VideoControlInterface | null {
  const classSpecific = block.extra.filter((d) => d.type === CS_INTERFACE && d.bytes.length >= 3);
  const headerDescriptor = classSpecific.find((d) => d.bytes[2] === VcSubtype.HEADER);
  if (headerDescriptor === undefined) {
    ctx.warn(block.offset, `VideoControl interface ${block.interfaceNumber} has no class-specific header; interface ignored`);
    return null;
  }
  if (headerDescriptor.bytes.length < HEADER_MIN_LENGTH) {
    ctx.warn(
      headerDescriptor.offset,
      `VideoControl header of ${headerDescriptor.bytes.length} bytes (needs ${HEADER_MIN_LENGTH}); interface ${block.interfaceNumber} ignored`,
    );
    return null;
  }

  const header = new ByteReader(headerDescriptor.bytes, headerDescriptor.offset, 'VideoControl header');
  const bcdUVC = header.u16(3, 'bcdUVC');
  const clockFrequency = header.u32(7, 'dwClockFrequency');
  const inCollection = header.u8(11, 'bInCollection');
  const fitting = Math.min(inCollection, header.length - HEADER_MIN_LENGTH);
  if (fitting < inCollection) {
    ctx.warn(header.offset, `VideoControl header lists ${inCollection} streaming interfaces but has room for ${fitting}`);
  }
  const streamingInterfaceNumbers: number[] = [];
  for (let i = 0; i < fitting; i++) {
    ctx.tick();
    streamingInterfaceNumbers.push(header.u8(HEADER_MIN_LENGTH + i, 'baInterfaceNr'));
  }

  const entities: VcEntity[] = [];
  const ids = new Set<number>();
  for (const descriptor of classSpecific) {
    ctx.tick();
    const subtype = descriptor.bytes[2]!;
    if (subtype === VcSubtype.HEADER) {
      if (descriptor !== headerDescriptor) ctx.warn(descriptor.offset, 'second VideoControl header ignored');
      continue;
    }
    const entity = ctx.attempt(descriptor.offset, `VideoControl descriptor subtype ${hex(subtype)}`, () =>
      parseEntity(descriptor, subtype, ctx),
    );
    if (entity === null) continue;
    if (entity.id === 0) {
      ctx.warn(descriptor.offset, `${entity.type} with ID 0 (reserved) ignored`);
      continue;
    }
    // IDs address requests (wIndex), so a reused one is ambiguous; uvcvideo keeps such entities, and so do we.
    if (ids.has(entity.id)) ctx.warn(descriptor.offset, `${entity.type} reuses entity ID ${entity.id}`);
    ids.add(entity.id);
    entities.push(entity);
  }

  return {
    interfaceNumber: block.interfaceNumber,
    offset: block.offset,
    bcdUVC,
    clockFrequency,
    streamingInterfaceNumbers,
    entities,
    interruptEndpoint: parseInterruptEndpoint(block, ctx),
  };
}

function parseEntity(descriptor: RawDescriptor, subtype: number, ctx: ParseContext): VcEntity | null {
  switch (subtype) {
    case VcSubtype.INPUT_TERMINAL:
      return parseInputTerminal(new ByteReader(descriptor.bytes, descriptor.offset, 'input terminal descriptor'), ctx);
    case VcSubtype.OUTPUT_TERMINAL: {
      const r = new ByteReader(descriptor.bytes, descriptor.offset, 'output terminal descriptor');
      const id = r.u8(3, 'bTerminalID');
      return {
        type: 'output-terminal',
        id,
        offset: r.offset,
        terminalType: r.u16(4, 'wTerminalType'),
        associatedTerminal: r.u8(6, 'bAssocTerminal'),
        sourceIds: [r.u8(7, 'bSourceID')],
        stringIndex: r.has(8, 1) ? r.u8(8, 'iTerminal') : 0,
        controls: [],
        unknownControlBits: [],
      };
    }
    case VcSubtype.SELECTOR_UNIT: {
      const r = new ByteReader(descriptor.bytes, descriptor.offset, 'selector unit descriptor');
      const id = r.u8(3, 'bUnitID');
      const pins = r.u8(4, 'bNrInPins');
      const sourceIds = readSourceIds(r, 5, pins, ctx);
      const control = SELECTOR_UNIT_CONTROLS[0]!;
      return {
        type: 'selector-unit',
        id,
        offset: r.offset,
        sourceIds,
        stringIndex: r.has(5 + pins, 1) ? r.u8(5 + pins, 'iSelector') : 0,
        controls: [{ name: control.name, selector: control.selector, bit: -1, entityId: id, entityType: 'selector-unit' }],
        unknownControlBits: [],
      };
    }
    case VcSubtype.PROCESSING_UNIT: {
      const r = new ByteReader(descriptor.bytes, descriptor.offset, 'processing unit descriptor');
      const id = r.u8(3, 'bUnitID');
      const controlSize = r.u8(7, 'bControlSize');
      const bits = readBitmap(r, 8, controlSize, ctx);
      const after = 8 + controlSize;
      return {
        type: 'processing-unit',
        id,
        offset: r.offset,
        sourceIds: [r.u8(4, 'bSourceID')],
        maxMultiplier: r.u16(5, 'wMaxMultiplier'),
        stringIndex: r.has(after, 1) ? r.u8(after, 'iProcessing') : 0,
        videoStandards: r.has(after + 1, 1) ? r.u8(after + 1, 'bmVideoStandards') : null,
        ...declareControls('processing-unit', id, bits),
      };
    }
    case VcSubtype.EXTENSION_UNIT: {
      const r = new ByteReader(descriptor.bytes, descriptor.offset, 'extension unit descriptor');
      const id = r.u8(3, 'bUnitID');
      const guid = formatGuid(r.slice(4, 16, 'guidExtensionCode'));
      const numControls = r.u8(20, 'bNumControls');
      const pins = r.u8(21, 'bNrInPins');
      const sourceIds = readSourceIds(r, 22, pins, ctx);
      const controlSizeAt = 22 + pins;
      const controlSize = r.has(controlSizeAt, 1) ? r.u8(controlSizeAt, 'bControlSize') : 0;
      if (!r.has(controlSizeAt, 1)) ctx.warn(r.offset, `extension unit ${id} has no bControlSize; no controls declared`);
      const bits = readBitmap(r, controlSizeAt + 1, controlSize, ctx);
      const after = controlSizeAt + 1 + controlSize;
      return {
        type: 'extension-unit',
        id,
        offset: r.offset,
        guid,
        numControls,
        sourceIds,
        stringIndex: r.has(after, 1) ? r.u8(after, 'iExtension') : 0,
        ...declareControls('extension-unit', id, bits),
      };
    }
    case VcSubtype.ENCODING_UNIT: {
      const r = new ByteReader(descriptor.bytes, descriptor.offset, 'encoding unit descriptor');
      const id = r.u8(3, 'bUnitID');
      const controlSize = r.u8(6, 'bControlSize');
      const bits = readBitmap(r, 7, controlSize, ctx);
      const runtimeAt = 7 + controlSize;
      const runtimeSize = Math.max(0, Math.min(controlSize, r.length - runtimeAt));
      return {
        type: 'encoding-unit',
        id,
        offset: r.offset,
        sourceIds: [r.u8(4, 'bSourceID')],
        stringIndex: r.u8(5, 'iEncoding'),
        runtimeControlBits: r.bits(runtimeAt, runtimeSize, 'bmControlsRuntime'),
        ...declareControls('encoding-unit', id, bits),
      };
    }
    default:
      ctx.warn(descriptor.offset, `unknown VideoControl descriptor subtype ${hex(subtype)} ignored`);
      return null;
  }
}

function parseInputTerminal(r: ByteReader, ctx: ParseContext): VcEntity {
  const id = r.u8(3, 'bTerminalID');
  const terminalType = r.u16(4, 'wTerminalType');
  const associatedTerminal = r.u8(6, 'bAssocTerminal');
  const stringIndex = r.u8(7, 'iTerminal');
  if (terminalType !== TerminalType.ITT_CAMERA) {
    return { type: 'input-terminal', id, offset: r.offset, terminalType, associatedTerminal, stringIndex, sourceIds: [], controls: [], unknownControlBits: [] };
  }
  const controlSize = r.u8(14, 'bControlSize');
  const bits = readBitmap(r, 15, controlSize, ctx);
  return {
    type: 'camera-terminal',
    id,
    offset: r.offset,
    terminalType,
    associatedTerminal,
    stringIndex,
    sourceIds: [],
    objectiveFocalLengthMin: r.u16(8, 'wObjectiveFocalLengthMin'),
    objectiveFocalLengthMax: r.u16(10, 'wObjectiveFocalLengthMax'),
    ocularFocalLength: r.u16(12, 'wOcularFocalLength'),
    ...declareControls('camera-terminal', id, bits),
  };
}

/** bmControls of `size` bytes at `position`; a size running past the descriptor is cut to what is there. */
function readBitmap(r: ByteReader, position: number, size: number, ctx: ParseContext): number[] {
  const fitting = Math.max(0, Math.min(size, r.length - position));
  if (fitting < size) ctx.warn(r.offset, `bControlSize ${size} runs past the ${r.what}; ${fitting} byte(s) of bmControls read`);
  ctx.tick(fitting);
  return r.bits(position, fitting, 'bmControls');
}

function readSourceIds(r: ByteReader, position: number, count: number, ctx: ParseContext): number[] {
  const fitting = Math.max(0, Math.min(count, r.length - position));
  if (fitting < count) ctx.warn(r.offset, `bNrInPins ${count} runs past the ${r.what}; ${fitting} source(s) read`);
  const ids: number[] = [];
  for (let i = 0; i < fitting; i++) {
    ctx.tick();
    ids.push(r.u8(position + i, 'baSourceID'));
  }
  return ids;
}

function declareControls(
  entityType: EntityType,
  entityId: number,
  bits: number[],
): { controls: DeclaredControl[]; unknownControlBits: number[] } {
  const controls: DeclaredControl[] = [];
  const unknownControlBits: number[] = [];
  for (const bit of bits) {
    const selector = selectorForBit(entityType, bit);
    if (selector === null) {
      unknownControlBits.push(bit);
      continue;
    }
    const name =
      entityType === 'extension-unit'
        ? extensionControlName(entityId, selector)
        : (controlDefinition(entityType, selector)?.name ?? null);
    if (name === null) {
      unknownControlBits.push(bit);
      continue;
    }
    controls.push({ name, selector, bit, entityId, entityType });
  }
  return { controls, unknownControlBits };
}

function parseInterruptEndpoint(block: AltSettingBlock, ctx: ParseContext): InterruptEndpoint | null {
  for (const endpoint of block.endpoints) {
    const b = endpoint.descriptor.bytes;
    const address = b[2]!;
    if ((b[3]! & 0x03) !== EndpointTransferType.INTERRUPT || (address & ENDPOINT_DIR_IN) === 0) {
      ctx.warn(endpoint.descriptor.offset, `VideoControl endpoint ${hex(address)} is not an interrupt IN endpoint; ignored`);
      continue;
    }
    let maxTransferSize: number | null = null;
    for (const cs of endpoint.classSpecific) {
      if (cs.bytes.length >= 5 && cs.bytes[2] === EP_INTERRUPT) maxTransferSize = cs.bytes[3]! | (cs.bytes[4]! << 8);
    }
    return { address, maxPacketSize: (b[4]! | (b[5]! << 8)) & 0x7ff, interval: b[6]!, maxTransferSize };
  }
  return null;
}
