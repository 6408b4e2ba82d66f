/**
 * What each endpoint of a device could ever move, read from its descriptors: the server sizes and checks a
 * host's URBs by it, so a peer's transfer_buffer_length or number_of_packets is a claim to check, never an
 * allocation to make. An iso IN URB needs at most one max-size packet per interval; a URB for an endpoint the
 * device does not have, or in the wrong direction, is not something a USB host sends.
 */
import { DescriptorType, EndpointTransferType, RequestType, StandardRequest } from '../spec/usb.js';
import type { UsbDeviceModel } from '../transport/device-model.js';

export interface EndpointLimit {
  /** EndpointTransferType */
  type: number;
  /** Most bytes the endpoint moves in one service interval, over every alternate setting that has it. */
  maxBytesPerInterval: number;
}

/** Endpoint address (with its direction bit) → its limit. Endpoint 0 is not in it. */
export type EndpointLimits = ReadonlyMap<number, EndpointLimit>;

/** Bytes per service interval of one endpoint descriptor (and its SuperSpeed companion, if any). */
function bytesPerInterval(wMaxPacketSize: number, companion: Uint8Array | null): number {
  const size = wMaxPacketSize & 0x7ff;
  if (companion === null) return size * (1 + ((wMaxPacketSize >> 11) & 3));
  // SuperSpeed: bursts of bMaxBurst + 1 packets, Mult + 1 bursts per interval for iso.
  const burst = companion[2]! + 1;
  const mult = (companion[3]! & 3) + 1;
  return size * burst * mult;
}

/** The endpoints of one configuration descriptor (every interface and alternate setting); merges into `into`. */
export function endpointLimitsOf(config: Uint8Array, into = new Map<number, EndpointLimit>()): Map<number, EndpointLimit> {
  let at = 0;
  while (at + 2 <= config.length) {
    const len = config[at]!;
    if (len < 2 || at + len > config.length) break; // unreadable from here on
    if (config[at + 1] === DescriptorType.ENDPOINT && len >= 7) {
      const address = config[at + 2]!;
      const type = config[at + 3]! & 3;
      const next = at + len;
      const companion =
        next + 6 <= config.length && config[next] !== undefined && config[next]! >= 6 && config[next + 1] === DescriptorType.SS_ENDPOINT_COMPANION
          ? config.subarray(next, next + 6)
          : null;
      const bytes = bytesPerInterval(config[at + 4]! | (config[at + 5]! << 8), companion);
      const known = into.get(address);
      into.set(address, { type, maxBytesPerInterval: Math.max(bytes, known?.maxBytesPerInterval ?? 0) });
    }
    at += len;
  }
  return into;
}

/** Reads every configuration of the model (GET_DESCRIPTOR on endpoint 0, as a host does) into one table. */
export async function readEndpointLimits(model: UsbDeviceModel, timeoutMs = 5000): Promise<EndpointLimits> {
  const device = await getDescriptor(model, DescriptorType.DEVICE, 0, 18, timeoutMs);
  const configurations = device.length >= 18 ? device[17]! : 1;
  const limits = new Map<number, EndpointLimit>();
  for (let index = 0; index < Math.max(1, configurations); index++) {
    const head = await getDescriptor(model, DescriptorType.CONFIGURATION, index, 9, timeoutMs);
    if (head.length < 4) continue;
    const total = head[2]! | (head[3]! << 8);
    endpointLimitsOf(await getDescriptor(model, DescriptorType.CONFIGURATION, index, total, timeoutMs), limits);
  }
  return limits;
}

/** An iso endpoint (the only kind whose URBs carry packets). */
export function isIsochronous(limit: EndpointLimit): boolean {
  return limit.type === EndpointTransferType.ISOCHRONOUS;
}

async function getDescriptor(model: UsbDeviceModel, type: number, index: number, length: number, timeoutMs: number): Promise<Uint8Array> {
  const reply = await model.control(
    {
      bmRequestType: RequestType.DIR_IN | RequestType.TYPE_STANDARD | RequestType.RECIPIENT_DEVICE,
      bRequest: StandardRequest.GET_DESCRIPTOR,
      wValue: (type << 8) | index,
      wIndex: 0,
      wLength: length,
    },
    undefined,
    AbortSignal.timeout(timeoutMs),
  );
  if (reply.status !== 'ok' || reply.data === undefined) return new Uint8Array(0);
  return reply.data.length > length ? reply.data.subarray(0, length) : reply.data;
}
