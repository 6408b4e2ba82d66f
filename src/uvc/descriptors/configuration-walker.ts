/**
 * Splits a configuration descriptor into its descriptors and groups them the way the USB core does: an interface
 * descriptor opens an alt setting, and what follows (class-specific descriptors, endpoints with their companions)
 * belongs to it until the next interface or interface association descriptor.
 *
 * Lengths are never trusted: a bLength below 2 or past the end stops the walk with a warning (as Linux's
 * usb_parse_configuration does) and the descriptors before it stay usable.
 */
import { UvcError } from '../../errors.js';
import { DescriptorType } from '../../spec/usb.js';
import { CS_ENDPOINT } from '../../spec/uvc.js';
import { at, hex } from './byte-reader.js';
import type { ConfigurationInfo, InterfaceAssociation } from './model.js';
import type { ParseContext } from './parse-context.js';

export interface RawDescriptor {
  offset: number;
  type: number;
  /** Exactly bLength bytes (a subarray of the configuration). */
  bytes: Uint8Array;
}

export interface EndpointBlock {
  descriptor: RawDescriptor;
  /** SuperSpeed (0x30) and SuperSpeedPlus isochronous (0x31) endpoint companions. */
  companions: RawDescriptor[];
  /** Class-specific endpoint descriptors (CS_ENDPOINT) that follow it. */
  classSpecific: RawDescriptor[];
}

export interface AltSettingBlock {
  offset: number;
  interfaceNumber: number;
  alternateSetting: number;
  numEndpoints: number;
  interfaceClass: number;
  interfaceSubClass: number;
  interfaceProtocol: number;
  stringIndex: number;
  /** Every non-endpoint descriptor of the alt setting, in order, wherever it sat relative to the endpoints. */
  extra: RawDescriptor[];
  endpoints: EndpointBlock[];
}

export interface WalkedConfiguration {
  info: ConfigurationInfo;
  associations: InterfaceAssociation[];
  altSettings: AltSettingBlock[];
}

const CONFIG_HEADER_LENGTH = 9;
const INTERFACE_LENGTH = 9;
const ENDPOINT_LENGTH = 7;
const IAD_LENGTH = 8;

export function walkConfiguration(config: Uint8Array, ctx: ParseContext): WalkedConfiguration {
  if (config.length < CONFIG_HEADER_LENGTH) {
    throw new UvcError('EINVAL', `${at(0)}: configuration descriptor is ${config.length} bytes; at least 9 are needed`, {
      details: { offset: 0, length: config.length },
    });
  }
  const type = config[1]!;
  if (type !== DescriptorType.CONFIGURATION && type !== DescriptorType.OTHER_SPEED_CONFIGURATION) {
    throw new UvcError('EINVAL', `${at(1)}: bDescriptorType ${hex(type)} is not a configuration descriptor (0x02)`, {
      details: { offset: 1, descriptorType: type },
    });
  }

  let headerLength = config[0]!;
  if (headerLength < CONFIG_HEADER_LENGTH) {
    ctx.warn(0, `configuration bLength ${headerLength} is below 9; read as 9`);
    headerLength = CONFIG_HEADER_LENGTH;
  } else if (headerLength > config.length) {
    ctx.warn(0, `configuration bLength ${headerLength} runs past the data; read as 9`);
    headerLength = CONFIG_HEADER_LENGTH;
  }

  const totalLength = config[2]! | (config[3]! << 8);
  let end = config.length;
  if (totalLength < headerLength) {
    ctx.warn(2, `wTotalLength ${totalLength} is shorter than the configuration header; using the ${config.length} bytes present`);
  } else if (totalLength > config.length) {
    ctx.warn(
      2,
      `configuration truncated: wTotalLength is ${totalLength} but only ${config.length} bytes are present; parsing what is there`,
    );
  } else if (totalLength < config.length) {
    ctx.warn(2, `${config.length - totalLength} bytes after wTotalLength (${totalLength}) ignored`);
    end = totalLength;
  }

  const info: ConfigurationInfo = {
    configurationValue: config[5]!,
    totalLength,
    parsedLength: headerLength,
    numInterfaces: config[4]!,
    attributes: config[7]!,
    maxPower: config[8]!,
  };

  const associations: InterfaceAssociation[] = [];
  const altSettings: AltSettingBlock[] = [];
  const seen = new Set<number>();
  let current: AltSettingBlock | null = null;
  let lastEndpoint: EndpointBlock | null = null;

  let offset = headerLength;
  while (offset < end) {
    ctx.tick();
    if (end - offset < 2) {
      ctx.warn(offset, `${end - offset} trailing byte ignored`);
      break;
    }
    const length = config[offset]!;
    const descriptorType = config[offset + 1]!;
    if (length < 2) {
      ctx.warn(offset, `descriptor bLength ${length} is invalid; the remaining ${end - offset} bytes are ignored`);
      break;
    }
    if (offset + length > end) {
      ctx.warn(
        offset,
        `descriptor type ${hex(descriptorType)} with bLength ${length} runs ${offset + length - end} byte(s) past the end of the configuration; ignored`,
      );
      break;
    }
    const descriptor: RawDescriptor = { offset, type: descriptorType, bytes: config.subarray(offset, offset + length) };
    offset += length;
    info.parsedLength = offset;

    switch (descriptorType) {
      case DescriptorType.INTERFACE_ASSOCIATION: {
        current = null;
        lastEndpoint = null;
        if (length < IAD_LENGTH) {
          ctx.warn(descriptor.offset, `interface association descriptor of ${length} bytes (needs 8) ignored`);
          break;
        }
        const b = descriptor.bytes;
        associations.push({
          offset: descriptor.offset,
          firstInterface: b[2]!,
          interfaceCount: b[3]!,
          functionClass: b[4]!,
          functionSubClass: b[5]!,
          functionProtocol: b[6]!,
          stringIndex: b[7]!,
        });
        break;
      }
      case DescriptorType.INTERFACE: {
        lastEndpoint = null;
        if (length < INTERFACE_LENGTH) {
          ctx.warn(descriptor.offset, `interface descriptor of ${length} bytes (needs 9) ignored with what follows it`);
          current = null;
          break;
        }
        const b = descriptor.bytes;
        const key = (b[2]! << 8) | b[3]!;
        if (seen.has(key)) {
          ctx.warn(descriptor.offset, `duplicate interface ${b[2]} alt setting ${b[3]} ignored`);
          current = null;
          break;
        }
        seen.add(key);
        current = {
          offset: descriptor.offset,
          interfaceNumber: b[2]!,
          alternateSetting: b[3]!,
          numEndpoints: b[4]!,
          interfaceClass: b[5]!,
          interfaceSubClass: b[6]!,
          interfaceProtocol: b[7]!,
          stringIndex: b[8]!,
          extra: [],
          endpoints: [],
        };
        altSettings.push(current);
        break;
      }
      case DescriptorType.ENDPOINT: {
        if (current === null) break; // belongs to an interface we skipped, or to none
        if (length < ENDPOINT_LENGTH) {
          ctx.warn(descriptor.offset, `endpoint descriptor of ${length} bytes (needs 7) ignored`);
          lastEndpoint = null;
          break;
        }
        lastEndpoint = { descriptor, companions: [], classSpecific: [] };
        current.endpoints.push(lastEndpoint);
        break;
      }
      case DescriptorType.SS_ENDPOINT_COMPANION:
      case DescriptorType.SSP_ISOC_ENDPOINT_COMPANION: {
        if (lastEndpoint === null) {
          if (current !== null) ctx.warn(descriptor.offset, 'endpoint companion descriptor without an endpoint ignored');
          break;
        }
        lastEndpoint.companions.push(descriptor);
        break;
      }
      default: {
        if (current === null) break; // before the first interface, or after a broken one: nobody's
        // CS_ENDPOINT descriptors belong to the endpoint before them; everything else to the alt setting, even
        // when it comes after the endpoints (the Pico iMage and others put their VS descriptors there).
        if (descriptorType === CS_ENDPOINT && lastEndpoint !== null) lastEndpoint.classSpecific.push(descriptor);
        else current.extra.push(descriptor);
      }
    }
  }

  return { info, associations, altSettings };
}
