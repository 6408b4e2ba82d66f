/**
 * A small USB device model for transport tests: high speed, vendor-specific.
 *   interface 0: alt 0 no endpoints, alt 1 iso IN 0x81 (3 × 1024 per microframe)
 *   interface 1: bulk IN 0x82 (512), interrupt IN 0x83 (16)
 * iso packets carry a 4-byte little-endian packet counter then bytes (counter + k) & 0xff.
 * Vendor requests: 0x01 IN echoes the last 0x02 OUT data; 0x03 stalls; 0x04 never answers.
 * Its clock is virtual: each iso request completes on the next macrotask.
 */
import { EventEmitter } from 'node:events';
import type { ControlReply, EndpointReply, EndpointRequest, SetupPacket, UsbDeviceModel } from '../../../src/transport/device-model.js';

const DEVICE = Uint8Array.from([18, 1, 0x00, 0x02, 0xff, 0, 0, 64, 0x09, 0x12, 0x02, 0x00, 0x00, 0x01, 1, 2, 3, 1]);
const CONFIG_BODY = [
  9, 4, 0, 0, 0, 0xff, 0, 0, 0,
  9, 4, 0, 1, 1, 0xff, 0, 0, 0,
  7, 5, 0x81, 0x05, 0x00, 0x14, 1, // iso IN, 0x1400 = 3 × 1024
  9, 4, 1, 0, 2, 0xff, 0, 0, 0,
  7, 5, 0x82, 0x02, 0x00, 0x02, 0, // bulk IN 512
  7, 5, 0x83, 0x03, 16, 0x00, 4, // interrupt IN 16
];
const CONFIG = Uint8Array.from([9, 2, 9 + CONFIG_BODY.length, 0, 2, 1, 0, 0x80, 50, ...CONFIG_BODY]);
const STRINGS = ['', 'uvc-capture tests', 'test device', 'SERIAL-1'];

export class TestDevice extends EventEmitter implements UsbDeviceModel {
  readonly speed = 'high' as const;
  attached = true;
  packetCounter = 0;
  /** Intervals the next iso reply reports as missed (then reset). */
  missedNext = 0;
  readonly requests: SetupPacket[] = [];
  /** Endpoint requests the device was handed, and how many came while it was unplugged. */
  transfersSeen = 0;
  transfersWhileUnplugged = 0;
  altSetting = new Map<number, number>();
  bulkQueue: Uint8Array[] = [];
  private echo: Uint8Array = new Uint8Array(0);
  private readonly bulkWaiters: Array<(chunk: Uint8Array) => void> = [];
  private readonly unplugWaiters = new Set<() => void>();

  async control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    this.requests.push(setup);
    if (!this.attached) return { status: 'no_device' };
    const { bmRequestType, bRequest, wValue, wIndex, wLength } = setup;
    if (bmRequestType === 0x80 && bRequest === 6) {
      const type = wValue >> 8;
      const index = wValue & 0xff;
      if (type === 1) return { status: 'ok', data: DEVICE.slice(0, wLength) };
      if (type === 2) return { status: 'ok', data: CONFIG.slice(0, wLength) };
      if (type === 3) return { status: 'ok', data: stringDescriptor(index).slice(0, wLength) };
      return { status: 'stall' };
    }
    if (bmRequestType === 0x00 && (bRequest === 5 || bRequest === 9)) return { status: 'ok' };
    if (bmRequestType === 0x01 && bRequest === 11) {
      this.altSetting.set(wIndex, wValue);
      return { status: 'ok' };
    }
    if (bmRequestType === 0x02 && bRequest === 1) return { status: 'ok' };
    if (bmRequestType === 0xc0 && bRequest === 0x01) return { status: 'ok', data: this.echo.slice(0, wLength) };
    if (bmRequestType === 0x40 && bRequest === 0x02) {
      this.echo = data ?? new Uint8Array(0);
      return { status: 'ok' };
    }
    if (bRequest === 0x04) return this.never(signal);
    return { status: 'stall' };
  }

  async transfer(request: EndpointRequest): Promise<EndpointReply> {
    this.transfersSeen++;
    if (!this.attached) {
      this.transfersWhileUnplugged++;
      return { status: 'no_device', actualLength: 0, startFrame: 0 };
    }
    if (request.endpoint === 0x81 && request.iso) {
      if (this.altSetting.get(0) !== 1) return { status: 'stall', actualLength: 0, startFrame: 0 };
      const outcome = await this.wait(request.signal, () => new Promise((resolve) => setTimeout(resolve, 1)));
      if (outcome !== 'ok') return { status: outcome, actualLength: 0, startFrame: 0 };
      const { iso, buffer } = request;
      let total = 0;
      for (let i = 0; i < iso.count; i++) {
        const length = Math.min(iso.lengths[i]!, 64);
        const at = iso.offsets[i]!;
        const counter = this.packetCounter++;
        buffer[at] = counter & 0xff;
        buffer[at + 1] = (counter >> 8) & 0xff;
        buffer[at + 2] = (counter >> 16) & 0xff;
        buffer[at + 3] = (counter >>> 24) & 0xff;
        for (let k = 4; k < length; k++) buffer[at + k] = (counter + k) & 0xff;
        iso.actual[i] = length;
        iso.status[i] = 0;
        total += length;
      }
      const missedIntervals = this.missedNext;
      this.missedNext = 0;
      return { status: 'ok', actualLength: total, startFrame: 0, missedIntervals };
    }
    if (request.endpoint === 0x82 || request.endpoint === 0x83) {
      const chunk = await this.takeBulk(request.signal);
      if (typeof chunk === 'string') return { status: chunk, actualLength: 0, startFrame: 0 };
      const length = Math.min(chunk.length, request.buffer.length);
      request.buffer.set(chunk.subarray(0, length));
      return { status: chunk.length > request.buffer.length ? 'overflow' : 'ok', actualLength: length, startFrame: 0 };
    }
    return { status: 'stall', actualLength: 0, startFrame: 0 };
  }

  pushBulk(data: Uint8Array): void {
    this.bulkQueue.push(data);
    while (this.bulkWaiters.length > 0 && this.bulkQueue.length > 0) this.bulkWaiters.shift()!(this.bulkQueue.shift()!);
  }

  unplug(): void {
    if (!this.attached) return;
    this.attached = false;
    this.emit('unplug');
    for (const wake of [...this.unplugWaiters]) wake();
  }

  /** Back on the bus as a new device. */
  replug(): void {
    if (this.attached) return;
    this.attached = true;
    this.emit('replug');
  }

  /** The next queued bulk chunk, or why there will be none. */
  private takeBulk(signal: AbortSignal | undefined): Promise<Uint8Array | 'cancelled' | 'no_device'> {
    if (signal?.aborted) return Promise.resolve('cancelled');
    if (this.bulkQueue.length > 0) return Promise.resolve(this.bulkQueue.shift()!);
    return new Promise((resolve) => {
      const settle = (outcome: Uint8Array | 'cancelled' | 'no_device'): void => {
        signal?.removeEventListener('abort', onAbort);
        this.unplugWaiters.delete(onUnplug);
        const at = this.bulkWaiters.indexOf(settle);
        if (at >= 0) this.bulkWaiters.splice(at, 1);
        resolve(outcome);
      };
      const onAbort = (): void => settle('cancelled');
      const onUnplug = (): void => settle('no_device');
      signal?.addEventListener('abort', onAbort, { once: true });
      this.unplugWaiters.add(onUnplug);
      this.bulkWaiters.push(settle);
    });
  }

  /** Waits for `ready` unless the request is aborted or the device unplugged first. */
  private async wait(signal: AbortSignal | undefined, ready: () => Promise<unknown>): Promise<'ok' | 'cancelled' | 'no_device'> {
    if (signal?.aborted) return 'cancelled';
    let onAbort: (() => void) | undefined;
    let wake: (() => void) | undefined;
    const aborted = new Promise<'cancelled'>((resolve) => {
      onAbort = () => resolve('cancelled');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const unplugged = new Promise<'no_device'>((resolve) => {
      wake = () => resolve('no_device');
      this.unplugWaiters.add(wake);
    });
    try {
      const outcome = await Promise.race([ready().then(() => 'ok' as const), aborted, unplugged]);
      if (outcome === 'ok' && !this.attached) return 'no_device';
      return outcome;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (wake) this.unplugWaiters.delete(wake);
    }
  }

  private async never(signal: AbortSignal | undefined): Promise<ControlReply> {
    const outcome = await this.wait(signal, () => new Promise(() => undefined));
    return { status: outcome === 'ok' ? 'stall' : outcome };
  }
}

function stringDescriptor(index: number): Uint8Array {
  if (index === 0) return Uint8Array.from([4, 3, 0x09, 0x04]);
  const text = STRINGS[index] ?? '';
  const body = Buffer.from(text, 'utf16le');
  return Uint8Array.from([2 + body.length, 3, ...body]);
}
