/**
 * A scripted UsbTransport: every class control transfer goes to a handler that answers with bytes, accepts,
 * stalls or never answers. It logs what the driver sent so tests can check the exact requests. The handler is a
 * device model behind the real in-process host (src/transport/virtual), so setup checks, timeouts, ENODEV after
 * an unplug and EBADF after close are the host's own, the ones the transport conformance suite holds it to.
 * Streams are not its business.
 */
import { EventEmitter } from 'node:events';
import { UvcError } from '../../../src/errors.js';
import type { UsbSpeed } from '../../../src/spec/usb.js';
import type { ControlReply as DeviceControlReply, EndpointReply, SetupPacket, UsbDeviceModel } from '../../../src/transport/device-model.js';
import type {
  ControlSetup,
  StreamOptions,
  TransferCallback,
  UsbDeviceInfo,
  UsbStream,
  UsbTransport,
} from '../../../src/transport/usb-transport.js';
import { VirtualTransport } from '../../../src/transport/virtual/virtual-transport.js';

/** 'timeout': the device never answers; the host gives up after the request's timeout (ETIMEDOUT). */
export type ControlReply = Uint8Array | 'ok' | 'stall' | 'timeout';

/** IN transfers get the wanted length; OUT transfers the data. */
export type ControlHandler = (setup: ControlSetup, payload: { length: number } | { data: Uint8Array }) => ControlReply;

export interface LoggedTransfer {
  direction: 'in' | 'out';
  setup: ControlSetup;
  length: number;
  data: Uint8Array | null;
  reply: 'data' | 'ok' | 'stall' | 'timeout' | 'nodev';
}

/** The handler as a USB device: endpoint 0 only. */
class ScriptedDevice extends EventEmitter implements UsbDeviceModel {
  attached = true;

  constructor(
    readonly speed: UsbSpeed,
    private readonly handler: ControlHandler,
    private readonly log: LoggedTransfer[],
  ) {
    super();
  }

  async control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<DeviceControlReply> {
    const { bmRequestType, bRequest, wValue, wIndex, wLength } = setup;
    const inbound = (bmRequestType & 0x80) !== 0;
    const entry: LoggedTransfer = {
      direction: inbound ? 'in' : 'out',
      setup: { bmRequestType, bRequest, wValue, wIndex },
      length: wLength,
      data: inbound ? null : (data ?? new Uint8Array(0)).slice(),
      reply: 'nodev',
    };
    this.log.push(entry);
    if (!this.attached) return { status: 'no_device' };
    const reply = this.handler({ bmRequestType, bRequest, wValue, wIndex }, inbound ? { length: wLength } : { data: entry.data!.slice() });
    if (reply === 'stall') {
      entry.reply = 'stall';
      return { status: 'stall' };
    }
    if (reply === 'timeout') {
      entry.reply = 'timeout';
      return this.never(signal);
    }
    if (inbound) {
      if (reply === 'ok') throw new Error('handler answered an IN transfer with "ok"');
      entry.reply = 'data';
      entry.data = reply.slice(0, wLength);
      return { status: 'ok', data: entry.data.slice() };
    }
    entry.reply = 'ok';
    return { status: 'ok' };
  }

  async transfer(): Promise<EndpointReply> {
    return { status: 'stall', actualLength: 0, startFrame: 0 };
  }

  unplug(): void {
    if (!this.attached) return;
    this.attached = false;
    this.emit('unplug');
  }

  /** Pending until the host aborts the request (its timeout, or close) or the device is unplugged. */
  private never(signal: AbortSignal | undefined): Promise<DeviceControlReply> {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve({ status: 'cancelled' });
        return;
      }
      const onAbort = (): void => settle({ status: 'cancelled' });
      const onUnplug = (): void => settle({ status: 'no_device' });
      const settle = (reply: DeviceControlReply): void => {
        signal?.removeEventListener('abort', onAbort);
        this.off('unplug', onUnplug);
        resolve(reply);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.once('unplug', onUnplug);
    });
  }
}

export class FakeTransport extends EventEmitter implements UsbTransport {
  readonly kind = 'virtual' as const;
  readonly info: UsbDeviceInfo;
  readonly log: LoggedTransfer[] = [];
  private readonly device: ScriptedDevice;
  private readonly host: VirtualTransport;

  constructor(
    private readonly config: Uint8Array,
    handler: ControlHandler,
    speed: UsbSpeed = 'high',
  ) {
    super();
    this.info = { busNumber: 1, deviceAddress: 2, portPath: '1-1', vendorId: 0x1234, productId: 0x5678, speed };
    this.device = new ScriptedDevice(speed, handler, this.log);
    // The host without its enumeration: endpoint 0 needs none, and the descriptors are the script's.
    this.host = new VirtualTransport(this.device, 1, 2);
    this.host.on('disconnect', () => this.emit('disconnect'));
  }

  get isOpen(): boolean {
    return this.host.isOpen;
  }
  get isDisconnected(): boolean {
    return this.host.isDisconnected;
  }

  deviceDescriptor(): Uint8Array {
    return Uint8Array.from([18, 1, 0, 2, 0xef, 2, 1, 64, 0x34, 0x12, 0x78, 0x56, 0, 1, 0, 0, 0, 1]);
  }

  configDescriptor(): Uint8Array {
    return this.config;
  }

  async getStringDescriptor(): Promise<string> {
    return '';
  }

  controlTransferIn(setup: ControlSetup, length: number, timeoutMs?: number): Promise<Uint8Array> {
    return this.host.controlTransferIn(setup, length, timeoutMs);
  }

  controlTransferOut(setup: ControlSetup, data: Uint8Array, timeoutMs?: number): Promise<number> {
    return this.host.controlTransferOut(setup, data, timeoutMs);
  }

  async claimInterface(): Promise<void> {}
  async releaseInterface(): Promise<void> {}
  async setAltSetting(): Promise<void> {}
  async clearHalt(): Promise<void> {}

  startStream(_options: StreamOptions, _onTransfer: TransferCallback): UsbStream {
    throw new UvcError('ENOTSUP', 'the scripted transport does not stream');
  }

  /** The device goes away: every later call fails with ENODEV. */
  unplug(): void {
    this.device.unplug();
  }

  close(): Promise<void> {
    return this.host.close();
  }

  override on(event: 'disconnect', listener: () => void): this {
    return super.on(event, listener);
  }

  override off(event: 'disconnect', listener: () => void): this {
    return super.off(event, listener);
  }

  override once(event: 'disconnect', listener: () => void): this {
    return super.once(event, listener);
  }

  /** The requests sent so far, as 'GET_CUR 2:0x02' style lines ('<bRequest> <entity>:<selector>' or 'if<n>'). */
  requests(): string[] {
    const names: Record<number, string> = { 0x01: 'SET_CUR', 0x81: 'GET_CUR', 0x82: 'GET_MIN', 0x83: 'GET_MAX', 0x84: 'GET_RES', 0x85: 'GET_LEN', 0x86: 'GET_INFO', 0x87: 'GET_DEF' };
    return this.log.map((t) => {
      const entity = t.setup.wIndex >> 8;
      const where = entity === 0 ? `if${t.setup.wIndex & 0xff}` : `${entity}`;
      return `${names[t.setup.bRequest] ?? t.setup.bRequest} ${where}:0x${(t.setup.wValue >> 8).toString(16).padStart(2, '0')}`;
    });
  }
}
