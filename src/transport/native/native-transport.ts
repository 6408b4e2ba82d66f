/**
 * UsbTransport over the native addon: a real device through libusb and the kernel. Opening needs the addon,
 * which is loaded only here (see load-addon.ts).
 */
import { EventEmitter } from 'node:events';

import { UvcError, uvcError } from '../../errors.js';
import { DescriptorType, RequestType, StandardRequest } from '../../spec/usb.js';
import type {
  ControlSetup,
  CopyRuns,
  IsoScan,
  StreamOptions,
  TransferCallback,
  TransfersCallback,
  UsbDeviceInfo,
  UsbStream,
  UsbTransport,
} from '../usb-transport.js';
import { surfaceUncaught } from '../usb-transport.js';
import type { AddonDevice } from './addon-types.js';
import { loadNativeAddon } from './load-addon.js';
import { nativeCall, toUvcError } from './native-errors.js';
import { NativeStream, type StreamHost } from './native-stream.js';

/** Which device to open: its current bus address, or the port it is plugged into (stable across replugs). */
export type NativeDeviceTarget = { busNumber: number; deviceAddress: number } | { portPath: string };

export interface NativeOpenOptions {
  /** Timeout of each control transfer that reads descriptors while opening, in ms (default 5000). */
  timeoutMs?: number;
}


/** Control transfer timeout when the caller gives none, in ms (what USB 2.0 §9.2.6.4 allows a device). */
export const DEFAULT_CONTROL_TIMEOUT_MS = 5000;

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw uvcError('EINVAL', `${name} must be an integer from ${min} to ${max}, not ${String(value)}`);
  }
  return value;
}

/** '1-2.3' → bus 1, ports [2, 3]; '1-0' is bus 1's root hub. */
export function parsePortPath(portPath: string): { busNumber: number; ports: number[] } {
  const match = typeof portPath === 'string' ? /^(\d{1,3})-(\d{1,3}(?:\.\d{1,3}){0,6})$/.exec(portPath) : null;
  if (match === null) {
    throw uvcError('EINVAL', `port path must look like '1-2.3' (bus, then ports from the root hub), not ${JSON.stringify(portPath)}`);
  }
  const busNumber = checkInteger(Number(match[1]), 'bus number', 1, 255);
  const ports = match[2] === '0' ? [] : match[2]!.split('.').map((p) => checkInteger(Number(p), 'port number', 1, 255));
  return { busNumber, ports };
}

/** Opens a real USB device through the native addon. */
export async function openNativeDevice(
  target: NativeDeviceTarget,
  options: NativeOpenOptions = {},
): Promise<UsbTransport> {
  const timeoutMs = checkInteger(options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS, 'timeoutMs', 1, 0x7fffffff);
  let open: () => Promise<AddonDevice>;
  if (typeof target === 'object' && target !== null && 'portPath' in target) {
    const { busNumber, ports } = parsePortPath(target.portPath);
    open = () => loadNativeAddon().openDeviceByPort(busNumber, ports);
  } else if (typeof target === 'object' && target !== null) {
    const busNumber = checkInteger(target.busNumber, 'busNumber', 1, 255);
    const deviceAddress = checkInteger(target.deviceAddress, 'deviceAddress', 1, 127);
    open = () => loadNativeAddon().openDevice(busNumber, deviceAddress);
  } else {
    throw uvcError('EINVAL', 'target must be { busNumber, deviceAddress } or { portPath }');
  }
  const device = await nativeCall(open);
  try {
    const config = await readActiveConfigDescriptor(device, timeoutMs);
    return new NativeTransport(device, config);
  } catch (error) {
    await device.close();
    throw toUvcError(error);
  }
}

/** The active configuration descriptor, all wTotalLength bytes, as the device returns it now. */
async function readActiveConfigDescriptor(device: AddonDevice, timeoutMs: number): Promise<Uint8Array> {
  const index = device.info.activeConfigIndex;
  if (index < 0) return new Uint8Array(0);  // unconfigured: there is no active configuration
  const wValue = (DescriptorType.CONFIGURATION << 8) | index;
  const read = (length: number) =>
    nativeCall(
      () =>
        device.controlTransfer(
          RequestType.DIR_IN | RequestType.TYPE_STANDARD | RequestType.RECIPIENT_DEVICE,
          StandardRequest.GET_DESCRIPTOR,
          wValue,
          0,
          length,
          timeoutMs,
        ) as Promise<Uint8Array>,
    );
  const head = await read(9);
  if (head.length < 4 || head[1] !== DescriptorType.CONFIGURATION) {
    throw uvcError('EPROTO', `the device answered GET_DESCRIPTOR(CONFIGURATION ${index}) with ${head.length} bytes that are not a configuration descriptor`);
  }
  const total = head[2]! | (head[3]! << 8);
  if (total < 9) throw uvcError('EPROTO', `the configuration descriptor claims wTotalLength ${total}`);
  const full = await read(total);
  if (full.length < 9 || full[1] !== DescriptorType.CONFIGURATION) {
    throw uvcError('EPROTO', `the device answered GET_DESCRIPTOR(CONFIGURATION ${index}, ${total} bytes) with something else`);
  }
  return full;
}

export class NativeTransport implements UsbTransport, StreamHost {
  readonly kind = 'native' as const;
  readonly info: Readonly<UsbDeviceInfo>;
  /** The addon's C memcpy of packet payloads (the addon is loaded: this device was opened through it). */
  readonly copyRuns: CopyRuns = loadNativeAddon().copyRuns;
  /** The addon's iso short path (native/iso_scan.cc). */
  readonly isoScan: IsoScan = loadNativeAddon().isoScan;
  private readonly events = new EventEmitter();
  private readonly rawDeviceDescriptor: Uint8Array;
  private readonly rawConfigDescriptor: Uint8Array;
  private readonly streams = new Set<NativeStream>();
  /** Blocking operations run one after the other, in call order (each goes to the thread pool). */
  private queue: Promise<unknown> = Promise.resolve();
  private closePromise: Promise<void> | undefined;
  private disconnected = false;
  private languageId: number | undefined;

  constructor(
    private readonly device: AddonDevice,
    configDescriptor: Uint8Array,
  ) {
    const { busNumber, deviceAddress, portPath, vendorId, productId, speed } = device.info;
    this.info = Object.freeze({ busNumber, deviceAddress, portPath, vendorId, productId, speed });
    this.rawDeviceDescriptor = device.info.deviceDescriptor.slice();
    this.rawConfigDescriptor = configDescriptor.slice();
    device.ondisconnect = () => this.noteDisconnect();
    if (device.gone) this.noteDisconnect();
  }

  get isOpen(): boolean {
    return this.closePromise === undefined;
  }

  get isDisconnected(): boolean {
    return this.disconnected;
  }

  deviceDescriptor(): Uint8Array {
    return this.rawDeviceDescriptor.slice();
  }

  configDescriptor(): Uint8Array {
    return this.rawConfigDescriptor.slice();
  }

  async getStringDescriptor(index: number): Promise<string> {
    checkInteger(index, 'string descriptor index', 0, 255);
    if (index === 0) throw uvcError('EINVAL', 'string descriptor 0 is the table of languages, not a string');
    if (this.languageId === undefined) {
      const table = await this.readStringDescriptor(0, 0);
      if (table.length < 4) throw uvcError('EPROTO', 'the device lists no language for its strings');
      this.languageId = table[2]! | (table[3]! << 8);
    }
    const raw = await this.readStringDescriptor(index, this.languageId);
    const bytes = raw.subarray(2, raw.length - (raw.length % 2));
    return new TextDecoder('utf-16le').decode(bytes);
  }

  private async readStringDescriptor(index: number, languageId: number): Promise<Uint8Array> {
    const data = await this.controlTransferIn(
      {
        bmRequestType: RequestType.DIR_IN | RequestType.TYPE_STANDARD | RequestType.RECIPIENT_DEVICE,
        bRequest: StandardRequest.GET_DESCRIPTOR,
        wValue: (DescriptorType.STRING << 8) | index,
        wIndex: languageId,
      },
      255,
    );
    if (data.length < 2 || data[1] !== DescriptorType.STRING || data[0]! > data.length || data[0]! < 2) {
      throw uvcError('EPROTO', `string descriptor ${index} is malformed (${data.length} bytes)`, {
        bytes: Array.from(data),
      });
    }
    return data.subarray(0, data[0]);
  }

  async controlTransferIn(setup: ControlSetup, length: number, timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS): Promise<Uint8Array> {
    this.checkUsable('control transfer');
    if ((setup.bmRequestType & RequestType.DIR_IN) === 0) {
      throw uvcError('EINVAL', 'controlTransferIn needs bmRequestType with the IN bit (0x80) set');
    }
    return (await this.call(() =>
      this.device.controlTransfer(setup.bmRequestType, setup.bRequest, setup.wValue, setup.wIndex, length, timeoutMs),
    )) as Uint8Array;
  }

  async controlTransferOut(setup: ControlSetup, data: Uint8Array, timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS): Promise<number> {
    this.checkUsable('control transfer');
    if ((setup.bmRequestType & RequestType.DIR_IN) !== 0) {
      throw uvcError('EINVAL', 'controlTransferOut needs bmRequestType without the IN bit (0x80)');
    }
    return (await this.call(() =>
      this.device.controlTransfer(setup.bmRequestType, setup.bRequest, setup.wValue, setup.wIndex, data, timeoutMs),
    )) as number;
  }

  claimInterface(interfaceNumber: number): Promise<void> {
    return this.serialized('claim interface', () => this.device.claimInterface(interfaceNumber));
  }

  releaseInterface(interfaceNumber: number): Promise<void> {
    return this.serialized('release interface', () => this.device.releaseInterface(interfaceNumber));
  }

  setAltSetting(interfaceNumber: number, altSetting: number): Promise<void> {
    return this.serialized('set alt setting', () => this.device.setAltSetting(interfaceNumber, altSetting));
  }

  clearHalt(endpoint: number): Promise<void> {
    return this.serialized('clear halt', () => this.device.clearHalt(endpoint));
  }

  startStream(options: StreamOptions, onTransfer: TransferCallback, onTransfers?: TransfersCallback): UsbStream {
    this.checkUsable('start a stream');
    if (typeof onTransfer !== 'function') throw uvcError('EINVAL', 'startStream needs a callback');
    if (onTransfers !== undefined && typeof onTransfers !== 'function') throw uvcError('EINVAL', 'startStream: onTransfers must be a function');
    let stream: NativeStream;
    try {
      stream = new NativeStream(this.device, options, onTransfer, this, onTransfers);
    } catch (error) {
      if (error instanceof UvcError && error.code === 'ENODEV') this.noteDisconnect();
      throw error;
    }
    this.streams.add(stream);
    return stream;
  }

  on(event: 'disconnect', listener: () => void): this {
    this.events.on(event, listener);
    return this;
  }

  off(event: 'disconnect', listener: () => void): this {
    this.events.off(event, listener);
    return this;
  }

  once(event: 'disconnect', listener: () => void): this {
    this.events.once(event, listener);
    return this;
  }

  close(): Promise<void> {
    if (this.closePromise === undefined) {
      const streams = [...this.streams];
      this.closePromise = (async () => {
        // Cancel every stream now, but close the device without waiting for them: the addon's close drains
        // their transfers (or, if some never come back, gives up after a bound and leaves the device open with
        // their memory), and then their stop() promises have settled too, before close() does.
        const stops = streams.map((s) => s.stop().catch(() => undefined));
        await this.enqueue(() => nativeCall(() => this.device.close()));
        await Promise.all(stops);
      })();
    }
    return this.closePromise;
  }

  /** StreamHost: a completion or a call said the device is gone. 'disconnect' is emitted once. */
  noteDisconnect(): void {
    if (this.disconnected) return;
    this.disconnected = true;
    try {
      this.events.emit('disconnect');
    } catch (error) {
      surfaceUncaught(error);
    }
  }

  forgetStream(stream: NativeStream): void {
    this.streams.delete(stream);
  }

  private checkUsable(what: string): void {
    if (this.closePromise !== undefined) throw uvcError('EBADF', `cannot ${what}: the device was closed`);
    if (this.disconnected) throw uvcError('ENODEV', `cannot ${what}: the device is gone (unplugged)`);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await nativeCall(fn);
    } catch (error) {
      if (error instanceof UvcError && error.code === 'ENODEV') this.noteDisconnect();
      throw error;
    }
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.queue.then(op, op);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async serialized(what: string, op: () => Promise<void>): Promise<void> {
    this.checkUsable(what);
    return this.enqueue(() => this.call(op));
  }
}
