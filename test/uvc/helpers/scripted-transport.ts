/**
 * The real in-process host (src/transport/virtual, the transport the conformance suite holds to the contract) in
 * front of a scripted device: every class control request goes to a handler that answers with bytes, accepts,
 * stalls or never answers, and is logged so tests can check the exact requests the driver sent. The standard
 * requests of enumeration and set-up (descriptors, SET_CONFIGURATION, SET_INTERFACE, CLEAR_FEATURE) the device
 * answers itself, from the configuration it was given. Setup checks, timeouts, ENODEV after an unplug and EBADF
 * after close are the host's own. Streams are not its business: its endpoints stall.
 */
import { EventEmitter } from 'node:events';
import type { UsbSpeed } from '../../../src/spec/usb.js';
import type { ControlReply as DeviceControlReply, EndpointReply, SetupPacket, UsbDeviceModel } from '../../../src/transport/device-model.js';
import type { ControlSetup } from '../../../src/transport/usb-transport.js';
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

const DEVICE_DESCRIPTOR = Uint8Array.from([18, 1, 0, 2, 0xef, 2, 1, 64, 0x34, 0x12, 0x78, 0x56, 0, 1, 0, 0, 0, 1]);
/** A configuration with no interfaces, for scripts that only talk to endpoint 0. */
const EMPTY_CONFIG = Uint8Array.from([9, 2, 9, 0, 0, 1, 0, 0x80, 50]);

/** The handler as a USB device: endpoint 0 only. */
class ScriptedDevice extends EventEmitter implements UsbDeviceModel {
  attached = true;

  constructor(
    readonly speed: UsbSpeed,
    private readonly config: Uint8Array,
    private readonly handler: ControlHandler,
    private readonly log: LoggedTransfer[],
  ) {
    super();
  }

  async control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<DeviceControlReply> {
    const { bmRequestType, bRequest, wValue, wIndex, wLength } = setup;
    if ((bmRequestType & 0x60) === 0) return this.standard(setup);
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

  /** Chapter 9: what any device answers, not logged (the scripts are about the class requests). */
  private standard({ bmRequestType, bRequest, wValue, wLength }: SetupPacket): DeviceControlReply {
    if (!this.attached) return { status: 'no_device' };
    if (bmRequestType === 0x80 && bRequest === 6) {
      const type = wValue >> 8;
      if (type === 1) return { status: 'ok', data: DEVICE_DESCRIPTOR.slice(0, wLength) };
      if (type === 2) return { status: 'ok', data: this.config.slice(0, wLength) };
      return { status: 'stall' };
    }
    // SET_ADDRESS, SET_CONFIGURATION, SET_INTERFACE, CLEAR_FEATURE(ENDPOINT_HALT)
    const accepted =
      (bmRequestType === 0x00 && (bRequest === 5 || bRequest === 9)) || (bmRequestType === 0x01 && bRequest === 11) || (bmRequestType === 0x02 && bRequest === 1);
    return { status: accepted ? 'ok' : 'stall' };
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

/** The in-process host on a scripted device, with the script's request log. */
export class ScriptedTransport extends VirtualTransport {
  declare readonly model: ScriptedDevice;

  constructor(
    readonly log: LoggedTransfer[],
    device: ScriptedDevice,
  ) {
    super(device, 1, 2);
  }

  /** The device goes away: every later call fails with ENODEV. */
  unplug(): void {
    this.model.unplug();
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

/** The host opens (enumerates) a scripted device with this configuration (none: a device with no interfaces). */
export async function openScriptedTransport(config: Uint8Array | null, handler: ControlHandler, speed: UsbSpeed = 'high'): Promise<ScriptedTransport> {
  const log: LoggedTransfer[] = [];
  const transport = new ScriptedTransport(log, new ScriptedDevice(speed, config ?? EMPTY_CONFIG, handler, log));
  await transport.enumerate();
  return transport;
}
