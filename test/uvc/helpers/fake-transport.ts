/**
 * A scripted UsbTransport: every control transfer goes to a handler that answers with bytes, accepts, or stalls.
 * It logs what the driver sent so tests can check the exact requests. Streams are not its business.
 */
import { EventEmitter } from 'node:events';
import { UvcError } from '../../../src/errors.js';
import type { UsbSpeed } from '../../../src/spec/usb.js';
import type {
  ControlSetup,
  StreamOptions,
  TransferCallback,
  UsbDeviceInfo,
  UsbStream,
  UsbTransport,
} from '../../../src/transport/usb-transport.js';

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

export class FakeTransport extends EventEmitter implements UsbTransport {
  readonly kind = 'virtual' as const;
  readonly info: UsbDeviceInfo;
  isOpen = true;
  isDisconnected = false;
  readonly log: LoggedTransfer[] = [];

  constructor(
    private readonly config: Uint8Array,
    private readonly handler: ControlHandler,
    speed: UsbSpeed = 'high',
  ) {
    super();
    this.info = { busNumber: 1, deviceAddress: 2, portPath: '1-1', vendorId: 0x1234, productId: 0x5678, speed };
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

  private gate(): void {
    if (!this.isOpen) throw new UvcError('EBADF', 'transport closed');
    if (this.isDisconnected) throw new UvcError('ENODEV', 'device gone');
  }

  private settle(entry: LoggedTransfer, reply: ControlReply): void {
    if (reply === 'stall') {
      entry.reply = 'stall';
      throw new UvcError('EPIPE', 'control transfer stalled');
    }
    if (reply === 'timeout') {
      entry.reply = 'timeout';
      throw new UvcError('ETIMEDOUT', 'control transfer timed out');
    }
  }

  async controlTransferIn(setup: ControlSetup, length: number): Promise<Uint8Array> {
    const entry: LoggedTransfer = { direction: 'in', setup: { ...setup }, length, data: null, reply: 'nodev' };
    this.log.push(entry);
    this.gate();
    const reply = this.handler(setup, { length });
    this.settle(entry, reply);
    if (reply === 'ok') throw new Error('handler answered an IN transfer with "ok"');
    entry.reply = 'data';
    entry.data = (reply as Uint8Array).slice(0, length);
    return entry.data.slice();
  }

  async controlTransferOut(setup: ControlSetup, data: Uint8Array): Promise<number> {
    const entry: LoggedTransfer = { direction: 'out', setup: { ...setup }, length: data.length, data: data.slice(), reply: 'nodev' };
    this.log.push(entry);
    this.gate();
    const reply = this.handler(setup, { data: data.slice() });
    this.settle(entry, reply);
    entry.reply = 'ok';
    return data.length;
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
    if (this.isDisconnected) return;
    this.isDisconnected = true;
    this.emit('disconnect');
  }

  async close(): Promise<void> {
    this.isOpen = false;
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
