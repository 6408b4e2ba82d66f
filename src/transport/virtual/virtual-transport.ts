/**
 * The in-process host: a UsbTransport that drives a device model (the virtual camera, or any UsbDeviceModel)
 * the way usbcore and libusb drive a real device. It enumerates the device at open (device and configuration
 * descriptors, SET_CONFIGURATION), routes transfers only to endpoints of the selected alt settings of claimed
 * interfaces, and maps the device's answers to the same error codes as the native transport.
 */
import { EventEmitter } from 'node:events';
import { UvcError } from '../../errors.js';
import { DescriptorType, FeatureSelector, RequestType, StandardRequest, type UsbSpeed } from '../../spec/usb.js';
import type { ControlReply, SetupPacket, UsbDeviceModel } from '../device-model.js';
import {
  MAX_SPARE_BYTES,
  MAX_STREAM_BYTES,
  type ControlSetup,
  type StreamOptions,
  type TransferCallback,
  type UsbDeviceInfo,
  type UsbStream,
  type UsbTransport,
} from '../usb-transport.js';
import { readConfigLayout, type ConfigLayout, type EndpointLayout } from './config-layout.js';
import { busPortOf, type BusPort } from './virtual-bus.js';
import { VirtualStream } from './virtual-stream.js';

/** libusb users commonly give control transfers 5 s; uvcvideo uses the same for its control requests. */
export const DEFAULT_CONTROL_TIMEOUT_MS = 5000;
/** Linux's usbfs refuses more than this much transfer memory per process by default. */

export interface OpenVirtualDeviceOptions {
  /** Reported in `info`; a virtual bus has no real numbers. Defaults: bus 0, the next free address. */
  busNumber?: number;
  deviceAddress?: number;
}

/** Which interfaces each model has claimed, and by whom: two handles cannot own one interface (EBUSY). */
const claimsByModel = new WeakMap<UsbDeviceModel, Map<number, VirtualTransport>>();
let nextAddress = 1;

export async function openVirtualDevice(model: UsbDeviceModel, options: OpenVirtualDeviceOptions = {}): Promise<UsbTransport> {
  if (!model.attached) throw new UvcError('ENODEV', 'the virtual device is unplugged');
  // A device on a VirtualBus has that bus's number and its port as its address.
  const busPort = busPortOf(model);
  const address = options.deviceAddress ?? busPort?.address ?? nextAddress;
  if (options.deviceAddress === undefined && busPort === undefined) nextAddress = (nextAddress % 127) + 1;
  const transport = new VirtualTransport(model, options.busNumber ?? busPort?.busNumber ?? 0, address);
  await transport.enumerate();
  return transport;
}

export class VirtualTransport extends EventEmitter implements UsbTransport {
  readonly kind = 'virtual' as const;
  private device: Uint8Array = new Uint8Array(0);
  private config: Uint8Array = new Uint8Array(0);
  private layout: ConfigLayout | undefined;
  private infoValue: UsbDeviceInfo;
  private open = true;
  private disconnected = false;
  private readonly claimed = new Set<number>();
  private readonly altSettings = new Map<number, number>();
  private readonly streams = new Map<number, VirtualStream>();
  private langId: number | undefined;
  /** Control requests the device has not answered yet: close() cancels them. */
  private readonly pendingControls = new Set<AbortController>();
  private readonly onUnplug = (): void => this.markDisconnected();
  /** The shared bus that books periodic bandwidth, when the device is on one (virtual-bus.ts). */
  private readonly busPort: BusPort | undefined;

  constructor(
    readonly model: UsbDeviceModel,
    busNumber: number,
    deviceAddress: number,
  ) {
    super();
    this.busPort = busPortOf(model);
    this.infoValue = {
      busNumber,
      deviceAddress,
      portPath: `${busNumber}-${deviceAddress}`,
      vendorId: 0,
      productId: 0,
      speed: model.speed as UsbSpeed,
    };
    model.on('unplug', this.onUnplug);
  }

  get info(): Readonly<UsbDeviceInfo> {
    return this.infoValue;
  }
  get isOpen(): boolean {
    return this.open;
  }
  get isDisconnected(): boolean {
    return this.disconnected;
  }

  /** What usbcore does on plug-in: address, descriptors, configuration. */
  async enumerate(): Promise<void> {
    try {
      await this.standardOut(RequestType.RECIPIENT_DEVICE, StandardRequest.SET_ADDRESS, this.infoValue.deviceAddress, 0);
      this.device = await this.controlTransferIn(getDescriptor(DescriptorType.DEVICE, 0), 18);
      if (this.device.length < 18 || this.device[1] !== DescriptorType.DEVICE) {
        throw new UvcError('EPROTO', `device descriptor is ${this.device.length} bytes, type ${this.device[1]}`);
      }
      const head = await this.controlTransferIn(getDescriptor(DescriptorType.CONFIGURATION, 0), 9);
      if (head.length < 9) throw new UvcError('EPROTO', `configuration descriptor header is ${head.length} bytes`);
      const totalLength = head[2]! | (head[3]! << 8);
      this.config = await this.controlTransferIn(getDescriptor(DescriptorType.CONFIGURATION, 0), totalLength);
      this.layout = readConfigLayout(this.config);
      await this.busPort?.configure(this.layout);
      await this.standardOut(RequestType.RECIPIENT_DEVICE, StandardRequest.SET_CONFIGURATION, this.layout.configurationValue, 0);
      this.infoValue = {
        ...this.infoValue,
        vendorId: this.device[8]! | (this.device[9]! << 8),
        productId: this.device[10]! | (this.device[11]! << 8),
      };
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  deviceDescriptor(): Uint8Array {
    return this.device.slice();
  }

  configDescriptor(): Uint8Array {
    return this.config.slice();
  }

  async getStringDescriptor(index: number): Promise<string> {
    if (!Number.isInteger(index) || index < 1 || index > 255) {
      throw new UvcError('EINVAL', `string descriptor index must be 1…255, got ${index}`);
    }
    if (this.langId === undefined) {
      const langs = await this.controlTransferIn(getDescriptor(DescriptorType.STRING, 0), 255);
      if (langs.length < 4) throw new UvcError('EPROTO', 'device lists no string languages');
      this.langId = langs[2]! | (langs[3]! << 8);
    }
    const raw = await this.controlTransferIn({ ...getDescriptor(DescriptorType.STRING, index), wIndex: this.langId }, 255);
    if (raw.length < 2 || raw[1] !== DescriptorType.STRING) throw new UvcError('EPROTO', `string descriptor ${index} is malformed`);
    const length = Math.min(raw[0]!, raw.length) & ~1;
    return Buffer.from(raw.buffer, raw.byteOffset + 2, Math.max(0, length - 2)).toString('utf16le');
  }

  async controlTransferIn(setup: ControlSetup, length: number, timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS): Promise<Uint8Array> {
    this.assertUsable();
    checkSetup(setup, length);
    if ((setup.bmRequestType & 0x80) === 0) throw new UvcError('EINVAL', 'controlTransferIn needs an IN bmRequestType (bit 7 set)');
    const reply = await this.control({ ...setup, wLength: length }, undefined, timeoutMs);
    const data = reply.data ?? new Uint8Array(0);
    return data.length > length ? data.slice(0, length) : data.slice();
  }

  async controlTransferOut(setup: ControlSetup, data: Uint8Array, timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS): Promise<number> {
    this.assertUsable();
    if (!(data instanceof Uint8Array)) throw new UvcError('EINVAL', 'controlTransferOut data must be a Uint8Array');
    checkSetup(setup, data.length);
    if ((setup.bmRequestType & 0x80) !== 0) throw new UvcError('EINVAL', 'controlTransferOut needs an OUT bmRequestType (bit 7 clear)');
    const reply = await this.control({ ...setup, wLength: data.length }, data.slice(), timeoutMs);
    // A device may take fewer bytes than were sent (a short control write): say so, as libusb does.
    return reply.accepted === undefined ? data.length : Math.max(0, Math.min(data.length, reply.accepted));
  }

  async claimInterface(interfaceNumber: number): Promise<void> {
    this.assertUsable();
    this.interfaceLayout(interfaceNumber);
    if (this.claimed.has(interfaceNumber)) return;
    let claims = claimsByModel.get(this.model);
    if (!claims) claimsByModel.set(this.model, (claims = new Map()));
    const owner = claims.get(interfaceNumber);
    if (owner && owner !== this) throw new UvcError('EBUSY', `interface ${interfaceNumber} is claimed by another handle`);
    claims.set(interfaceNumber, this);
    this.claimed.add(interfaceNumber);
    this.altSettings.set(interfaceNumber, this.altSettings.get(interfaceNumber) ?? 0);
  }

  async releaseInterface(interfaceNumber: number): Promise<void> {
    this.assertOpen();
    if (!this.claimed.has(interfaceNumber)) throw new UvcError('EINVAL', `interface ${interfaceNumber} is not claimed`);
    for (const stream of this.streams.values()) {
      if (this.endpointOwner(stream.options.endpoint) === interfaceNumber) await stream.stop();
    }
    this.claimed.delete(interfaceNumber);
    claimsByModel.get(this.model)?.delete(interfaceNumber);
    this.busPort?.releaseInterface(this.layout, interfaceNumber);
  }

  async setAltSetting(interfaceNumber: number, altSetting: number): Promise<void> {
    this.assertUsable();
    if (!this.claimed.has(interfaceNumber)) throw new UvcError('EINVAL', `interface ${interfaceNumber} must be claimed first`);
    if (!this.interfaceLayout(interfaceNumber).has(altSetting)) {
      throw new UvcError('EINVAL', `interface ${interfaceNumber} has no alt setting ${altSetting}`);
    }
    const send = (): Promise<void> => this.standardOut(RequestType.RECIPIENT_INTERFACE, StandardRequest.SET_INTERFACE, altSetting, interfaceNumber);
    // On a shared bus the new alt setting's bandwidth is booked first (ENOSPC, and no request, when it does not fit).
    await (this.busPort && this.layout ? this.busPort.selectAlt(this.layout, interfaceNumber, altSetting, send) : send());
    this.altSettings.set(interfaceNumber, altSetting);
  }

  async clearHalt(endpoint: number): Promise<void> {
    this.assertUsable();
    if (this.endpointOwner(endpoint) === undefined) throw new UvcError('EINVAL', `no endpoint 0x${hex(endpoint)} on a claimed interface`);
    await this.standardOut(RequestType.RECIPIENT_ENDPOINT, StandardRequest.CLEAR_FEATURE, FeatureSelector.ENDPOINT_HALT, endpoint);
  }

  startStream(options: StreamOptions, onTransfer: TransferCallback): UsbStream {
    this.assertUsable();
    if (typeof onTransfer !== 'function') throw new UvcError('EINVAL', 'startStream needs a callback');
    const endpoint = this.activeEndpoint(options.endpoint);
    checkStreamOptions(options, endpoint);
    if (this.streams.has(options.endpoint)) throw new UvcError('EBUSY', `a stream already runs on endpoint 0x${hex(options.endpoint)}`);
    const stream = new VirtualStream(this.model, options, onTransfer, {
      connected: () => !this.disconnected,
      onNoDevice: () => this.markDisconnected(),
      onStopped: (stopped) => {
        if (this.streams.get(options.endpoint) === stopped) this.streams.delete(options.endpoint);
      },
    });
    this.streams.set(options.endpoint, stream);
    stream.start();
    return stream;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    // Like usbfs at close (and the addon): what is still pending on endpoint 0 ends now, ECANCELED.
    for (const controller of this.pendingControls) controller.abort();
    await Promise.all([...this.streams.values()].map((stream) => stream.stop()));
    const claims = claimsByModel.get(this.model);
    for (const interfaceNumber of this.claimed) {
      if (claims?.get(interfaceNumber) === this) claims.delete(interfaceNumber);
      this.busPort?.releaseInterface(this.layout, interfaceNumber);
    }
    this.claimed.clear();
    this.model.off('unplug', this.onUnplug);
  }

  private markDisconnected(): void {
    if (this.disconnected) return;
    this.disconnected = true;
    // The claims died with the device; once it is replugged, a new handle must be able to claim again.
    const claims = claimsByModel.get(this.model);
    for (const interfaceNumber of this.claimed) {
      if (claims?.get(interfaceNumber) === this) claims.delete(interfaceNumber);
    }
    this.emit('disconnect');
  }

  private async control(setup: SetupPacket, data: Uint8Array | undefined, timeoutMs: number): Promise<ControlReply> {
    const controller = new AbortController();
    let timedOut = false;
    // A request in flight keeps the process alive until it ends, as one in the addon does: this timer is both the
    // timeout and that hold (AbortSignal.timeout's timer would let the process exit with the request pending).
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : setInterval(() => undefined, 2 ** 30);
    this.pendingControls.add(controller);
    let reply: ControlReply;
    try {
      reply = await this.model.control(setup, data, controller.signal);
    } catch (error) {
      throw new UvcError('EIO', `device model failed the control request: ${String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
      this.pendingControls.delete(controller);
    }
    switch (reply.status) {
      case 'ok':
        return reply;
      case 'stall':
        throw new UvcError('EPIPE', `control request 0x${hex(setup.bRequest)} stalled`, { details: { setup } });
      case 'no_device':
        this.markDisconnected();
        throw new UvcError('ENODEV', 'the device is gone');
      case 'cancelled':
        if (!timedOut) throw new UvcError('ECANCELED', `control request 0x${hex(setup.bRequest)} was cancelled: the device handle closed`, { details: { setup } });
        throw new UvcError('ETIMEDOUT', `control request 0x${hex(setup.bRequest)} timed out after ${timeoutMs} ms`, { details: { setup } });
      case 'overflow':
        throw new UvcError('EOVERFLOW', `control request 0x${hex(setup.bRequest)}: the device sent too much`);
      default:
        throw new UvcError('EIO', `control request 0x${hex(setup.bRequest)} failed on the bus`);
    }
  }

  private async standardOut(recipient: number, request: number, wValue: number, wIndex: number): Promise<void> {
    await this.control(
      { bmRequestType: RequestType.DIR_OUT | RequestType.TYPE_STANDARD | recipient, bRequest: request, wValue, wIndex, wLength: 0 },
      undefined,
      DEFAULT_CONTROL_TIMEOUT_MS,
    );
  }

  private interfaceLayout(interfaceNumber: number): Map<number, unknown> {
    const alts = this.layout?.interfaces.get(interfaceNumber);
    if (!alts) throw new UvcError('EINVAL', `the configuration has no interface ${interfaceNumber}`);
    return alts;
  }

  /** The claimed interface whose selected alt setting holds this endpoint. */
  private endpointOwner(address: number): number | undefined {
    for (const interfaceNumber of this.claimed) {
      const alt = this.layout?.interfaces.get(interfaceNumber)?.get(this.altSettings.get(interfaceNumber) ?? 0);
      if (alt?.endpoints.some((endpoint) => endpoint.address === address)) return interfaceNumber;
    }
    return undefined;
  }

  private activeEndpoint(address: number): EndpointLayout {
    for (const interfaceNumber of this.claimed) {
      const alt = this.layout?.interfaces.get(interfaceNumber)?.get(this.altSettings.get(interfaceNumber) ?? 0);
      const endpoint = alt?.endpoints.find((candidate) => candidate.address === address);
      if (endpoint) return endpoint;
    }
    throw new UvcError('EINVAL', `endpoint 0x${hex(address)} is not in the selected alt setting of a claimed interface`);
  }

  private assertOpen(): void {
    if (!this.open) throw new UvcError('EBADF', 'the device handle is closed');
  }

  private assertUsable(): void {
    this.assertOpen();
    if (this.disconnected) throw new UvcError('ENODEV', 'the device is gone');
  }
}

function getDescriptor(type: number, index: number): ControlSetup {
  return {
    bmRequestType: RequestType.DIR_IN | RequestType.TYPE_STANDARD | RequestType.RECIPIENT_DEVICE,
    bRequest: StandardRequest.GET_DESCRIPTOR,
    wValue: (type << 8) | index,
    wIndex: 0,
  };
}

function isU8(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xff;
}
function isU16(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffff;
}

function checkSetup(setup: ControlSetup, length: number): void {
  if (!setup || !isU8(setup.bmRequestType) || !isU8(setup.bRequest) || !isU16(setup.wValue) || !isU16(setup.wIndex)) {
    throw new UvcError('EINVAL', 'control setup needs bmRequestType and bRequest (0…255), wValue and wIndex (0…65535)');
  }
  if (!isU16(length)) throw new UvcError('EINVAL', `control transfer length must be 0…65535, got ${length}`);
}

function positiveInteger(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) > 0;
}

function checkStreamOptions(options: StreamOptions, endpoint: EndpointLayout): void {
  if ((options.endpoint & 0x80) === 0) throw new UvcError('EINVAL', 'streams run on IN endpoints');
  if (!positiveInteger(options.transfers)) throw new UvcError('EINVAL', 'transfers must be a positive integer');
  const expectedKind = options.type;
  if (endpoint.kind !== expectedKind) {
    throw new UvcError('EINVAL', `endpoint 0x${hex(options.endpoint)} is ${endpoint.kind}, not ${expectedKind}`);
  }
  let bytes: number;
  if (options.type === 'iso') {
    if (!positiveInteger(options.packetsPerTransfer) || !positiveInteger(options.packetSize)) {
      throw new UvcError('EINVAL', 'iso streams need packetsPerTransfer and packetSize');
    }
    if (options.packetSize > endpoint.bytesPerInterval) {
      throw new UvcError('EINVAL', `packetSize ${options.packetSize} exceeds the endpoint's ${endpoint.bytesPerInterval} bytes per interval`);
    }
    bytes = options.transfers * options.packetsPerTransfer * options.packetSize;
  } else {
    if (!positiveInteger(options.transferSize)) throw new UvcError('EINVAL', `${options.type} streams need transferSize`);
    bytes = options.transfers * options.transferSize;
  }
  if (options.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs >= 0)) {
    throw new UvcError('EINVAL', 'timeoutMs must be a non-negative integer');
  }
  if (bytes > MAX_STREAM_BYTES) {
    throw new UvcError('EINVAL', `the stream would hold ${bytes} bytes of transfers; the limit is ${MAX_STREAM_BYTES}`);
  }
  const spares = options.spareTransfers ?? 0;
  if (!Number.isInteger(spares) || spares < 0) throw new UvcError('EINVAL', 'spareTransfers must be a non-negative integer');
  // Accepted as the native transport does; in-process, every transfer is handed over as it completes anyway.
  if (options.wakeOn !== undefined && options.wakeOn !== 'transfer' && options.wakeOn !== 'uvc-frame') {
    throw new UvcError('EINVAL', "wakeOn must be 'transfer' or 'uvc-frame'");
  }
  const wakeAfterMs = options.wakeAfterMs;
  if (wakeAfterMs !== undefined && !(Number.isInteger(wakeAfterMs) && wakeAfterMs >= 1 && wakeAfterMs <= 1000)) {
    throw new UvcError('EINVAL', 'wakeAfterMs must be an integer from 1 to 1000');
  }
  const zeroCopy = options.zeroCopyTransfers;
  if (zeroCopy !== undefined && !(Number.isInteger(zeroCopy) && zeroCopy >= 0 && zeroCopy <= options.transfers + spares)) {
    throw new UvcError('EINVAL', 'zeroCopyTransfers must be an integer from 0 to transfers + spareTransfers');
  }
  const spareBytes = (bytes / options.transfers) * spares;
  if (spareBytes > MAX_SPARE_BYTES) {
    throw new UvcError('EINVAL', `the stream's spare transfers would hold ${spareBytes} bytes; the limit is ${MAX_SPARE_BYTES}`);
  }
}

function hex(value: number): string {
  return value.toString(16).padStart(2, '0');
}
