/**
 * The alternate settings of a VideoStreaming interface and the bandwidth each offers: what the alt-setting choice
 * after probe/commit works from.
 */
import { DescriptorType, ENDPOINT_DIR_IN, EndpointTransferType } from '../../spec/usb.js';
import { hex } from './byte-reader.js';
import type { AltSettingBlock, EndpointBlock } from './configuration-walker.js';
import type { AltSetting, SuperSpeedCompanion, TransferType } from './model.js';
import type { ParseContext } from './parse-context.js';

function transferTypeOf(attributes: number): TransferType | null {
  const type = attributes & 0x03;
  if (type === EndpointTransferType.ISOCHRONOUS) return 'isochronous';
  if (type === EndpointTransferType.BULK) return 'bulk';
  return null;
}

/**
 * The video data endpoint of an alt setting: the one at `preferredAddress` if there is one, else the first
 * isochronous or bulk IN endpoint.
 */
function videoEndpoint(block: AltSettingBlock, preferredAddress: number | null): EndpointBlock | null {
  let fallback: EndpointBlock | null = null;
  for (const endpoint of block.endpoints) {
    const address = endpoint.descriptor.bytes[2]!;
    if (transferTypeOf(endpoint.descriptor.bytes[3]!) === null) continue;
    if (preferredAddress !== null && address === preferredAddress) return endpoint;
    if (fallback === null && (preferredAddress === null || (address & ENDPOINT_DIR_IN) === (preferredAddress & ENDPOINT_DIR_IN))) {
      fallback = endpoint;
    }
  }
  return fallback;
}

function companionOf(endpoint: EndpointBlock, ctx: ParseContext): { companion: SuperSpeedCompanion | null; sspBytesPerInterval: number | null } {
  let companion: SuperSpeedCompanion | null = null;
  let sspBytesPerInterval: number | null = null;
  for (const d of endpoint.companions) {
    const b = d.bytes;
    if (d.type === DescriptorType.SS_ENDPOINT_COMPANION) {
      if (b.length < 6) {
        ctx.warn(d.offset, `SuperSpeed endpoint companion of ${b.length} bytes (needs 6) ignored`);
        continue;
      }
      companion = { maxBurst: b[2]!, attributes: b[3]!, bytesPerInterval: b[4]! | (b[5]! << 8) };
    } else if (d.type === DescriptorType.SSP_ISOC_ENDPOINT_COMPANION) {
      if (b.length < 8) {
        ctx.warn(d.offset, `SuperSpeedPlus isochronous endpoint companion of ${b.length} bytes (needs 8) ignored`);
        continue;
      }
      sspBytesPerInterval = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
    }
  }
  return { companion, sspBytesPerInterval };
}

/** One alt setting's bandwidth. */
export function describeAltSetting(block: AltSettingBlock, preferredAddress: number | null, ctx: ParseContext): AltSetting {
  const endpoint = videoEndpoint(block, preferredAddress);
  if (endpoint === null) {
    return {
      alternateSetting: block.alternateSetting,
      endpointAddress: null,
      transferType: null,
      wMaxPacketSize: 0,
      maxPacketSize: 0,
      transactionsPerInterval: 0,
      bytesPerInterval: 0,
      interval: 0,
      superSpeed: null,
    };
  }
  const b = endpoint.descriptor.bytes;
  const address = b[2]!;
  if (preferredAddress !== null && address !== preferredAddress) {
    ctx.warn(
      endpoint.descriptor.offset,
      `alt setting ${block.alternateSetting} streams on endpoint ${hex(address)}, not the header's ${hex(preferredAddress)}`,
    );
  }
  const wMaxPacketSize = b[4]! | (b[5]! << 8);
  const maxPacketSize = wMaxPacketSize & 0x7ff;
  const transactionsPerInterval = 1 + ((wMaxPacketSize >> 11) & 0x03);
  const { companion, sspBytesPerInterval } = companionOf(endpoint, ctx);
  const transferType = transferTypeOf(b[3]!);
  let bytesPerInterval = maxPacketSize * transactionsPerInterval;
  // SuperSpeed: the companion has the truth for periodic endpoints; bit 7 of its bmAttributes defers to the
  // SuperSpeedPlus companion.
  if (transferType === 'isochronous' && companion !== null) {
    bytesPerInterval = (companion.attributes & 0x80) !== 0 && sspBytesPerInterval !== null ? sspBytesPerInterval : companion.bytesPerInterval;
  }
  return {
    alternateSetting: block.alternateSetting,
    endpointAddress: address,
    transferType,
    wMaxPacketSize,
    maxPacketSize,
    transactionsPerInterval,
    bytesPerInterval,
    interval: b[6]!,
    superSpeed: companion,
  };
}
