/**
 * The little a host controller driver must know of a configuration to route transfers: which interfaces and
 * alt settings exist and which endpoints each alt setting has. Standard USB descriptors only; the UVC meaning
 * of the configuration is the protocol layer's business (src/uvc).
 */
import { DescriptorType, EndpointTransferType, packetSizeOf, transactionsPerMicroframe } from '../../spec/usb.js';
import { UvcError } from '../../errors.js';

export type EndpointKind = 'control' | 'iso' | 'bulk' | 'interrupt';

export interface EndpointLayout {
  address: number;
  kind: EndpointKind;
  wMaxPacketSize: number;
  bInterval: number;
  /** Most bytes one bus interval carries: size × transactions (high speed), or the SuperSpeed companion's
   *  wBytesPerInterval for periodic endpoints. */
  bytesPerInterval: number;
  /** SuperSpeed companion: bMaxBurst and, for iso, Mult (bmAttributes bits 0–1); 0 without a companion. */
  maxBurst: number;
  mult: number;
}

export interface AltSettingLayout {
  interfaceNumber: number;
  altSetting: number;
  endpoints: EndpointLayout[];
}

export interface ConfigLayout {
  configurationValue: number;
  /** interface number → its alt settings, by alt setting number */
  interfaces: Map<number, Map<number, AltSettingLayout>>;
}

const KIND_OF: Record<number, EndpointKind> = {
  [EndpointTransferType.CONTROL]: 'control',
  [EndpointTransferType.ISOCHRONOUS]: 'iso',
  [EndpointTransferType.BULK]: 'bulk',
  [EndpointTransferType.INTERRUPT]: 'interrupt',
};

export function readConfigLayout(config: Uint8Array): ConfigLayout {
  if (config.length < 9 || config[1] !== DescriptorType.CONFIGURATION) {
    throw new UvcError('EPROTO', 'device returned no configuration descriptor');
  }
  const layout: ConfigLayout = { configurationValue: config[5]!, interfaces: new Map() };
  let current: AltSettingLayout | undefined;
  for (let offset = 0; offset + 2 <= config.length; ) {
    const length = config[offset]!;
    const type = config[offset + 1]!;
    if (length < 2 || offset + length > config.length) {
      throw new UvcError('EPROTO', `configuration descriptor: bad bLength ${length} at offset ${offset}`);
    }
    if (type === DescriptorType.INTERFACE && length >= 9) {
      current = { interfaceNumber: config[offset + 2]!, altSetting: config[offset + 3]!, endpoints: [] };
      let alts = layout.interfaces.get(current.interfaceNumber);
      if (!alts) layout.interfaces.set(current.interfaceNumber, (alts = new Map()));
      alts.set(current.altSetting, current);
    } else if (type === DescriptorType.ENDPOINT && length >= 7 && current) {
      const wMaxPacketSize = config[offset + 4]! | (config[offset + 5]! << 8);
      current.endpoints.push({
        address: config[offset + 2]!,
        kind: KIND_OF[config[offset + 3]! & 0x3]!,
        wMaxPacketSize,
        bInterval: config[offset + 6]!,
        bytesPerInterval: packetSizeOf(wMaxPacketSize) * transactionsPerMicroframe(wMaxPacketSize),
        maxBurst: 0,
        mult: 0,
      });
    } else if (type === DescriptorType.SS_ENDPOINT_COMPANION && length >= 6 && current) {
      const endpoint = current.endpoints[current.endpoints.length - 1];
      if (endpoint) {
        endpoint.maxBurst = config[offset + 2]!;
        if (endpoint.kind === 'iso') endpoint.mult = config[offset + 3]! & 0x3;
      }
      if (endpoint && (endpoint.kind === 'iso' || endpoint.kind === 'interrupt')) {
        endpoint.bytesPerInterval = config[offset + 4]! | (config[offset + 5]! << 8);
      }
    }
    offset += length;
  }
  return layout;
}
