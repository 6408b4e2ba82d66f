/**
 * A small high-speed USB device model whose every byte is predictable, for testing USB/IP and the kernel path
 * without a camera. pid.codes test VID:PID 1209:0001.
 *
 * Interface 0 (vendor), one setting:
 *   0x82 bulk IN 512      an endless byte stream: 32-bit little-endian words counting 0, 1, 2, … (byte p of the
 *                         stream is byte p%4 of the word p/4); every request is filled completely.
 *   0x02 bulk OUT 512     swallows data; vendor request STATS tells how many bytes and their FNV-1a hash.
 *   0x83 interrupt IN 16  one 16-byte report per millisecond (bInterval 4): LE32 sequence number (0, 1, 2, …
 *                         per delivered report), LE32 bus frame, then 8 bytes (seq + i) & 0xff.
 *   0x84 bulk IN 512      never answers (a request stays pending until unlinked): the unlink target.
 * Interface 1 (vendor): alt 0 no endpoint; alt 1/2/3: 0x81 iso IN, 1/2/3 × 1024 bytes per microframe
 *   (high-bandwidth), bInterval 1. The packet of bus microframe f is isoPacket(f, altBytes): empty when
 *   f % 16 == 15, else altBytes − (f % 8)·64 bytes (capped to the host's slot): LE32 f, LE32 its length, then
 *   bytes (f·7 + k) & 0xff for k ≥ 8. Microframes pass whether or not the host asked; unrequested ones are lost.
 * Vendor control requests (recipient device):
 *   ECHO (IN)        wLength bytes, byte i = (wValue + 3i) & 0xff
 *   STORE (OUT/IN)   OUT keeps up to 256 bytes, IN returns them
 *   STATS (IN)       8 bytes: LE32 bytes received on 0x02, LE32 their FNV-1a hash
 *   HALT (OUT)       halts endpoint wIndex (it answers STALL until CLEAR_FEATURE(ENDPOINT_HALT))
 *   anything else    STALL
 */
import { EventEmitter } from 'node:events';
import { DescriptorType, FeatureSelector, RequestType, StandardRequest } from '../../../src/spec/usb.js';
import {
  PacketStatus,
  type ControlReply,
  type EndpointReply,
  type EndpointRequest,
  type SetupPacket,
  type UsbDeviceModel,
} from '../../../src/transport/device-model.js';

export const PATTERN_VID = 0x1209;
export const PATTERN_PID = 0x0001;
export const PATTERN_PRODUCT = 'usbip pattern device';
export const PATTERN_SERIAL = 'RIG0001';

export const PatternEndpoint = {
  ISO_IN: 0x81,
  BULK_IN: 0x82,
  INTERRUPT_IN: 0x83,
  SILENT_IN: 0x84,
  BULK_OUT: 0x02,
} as const;

export const PatternRequest = {
  ECHO: 0x01,
  STORE: 0x02,
  STATS: 0x03,
  HALT: 0x04,
} as const;

/** Bytes per microframe of interface 1's alternate settings (index = bAlternateSetting). */
export const ISO_ALT_BYTES = [0, 1024, 2048, 3072] as const;
export const STREAM_INTERFACE = 1;
export const INTERRUPT_REPORT_SIZE = 16;
const INTERRUPT_PERIOD_MICROFRAMES = 8;
const MICROFRAME_US = 125;

/** Length of the iso packet of microframe `frame` at `altBytes` per microframe, before the slot cap. */
export function isoPacketLength(frame: number, altBytes: number): number {
  if (altBytes === 0 || frame % 16 === 15) return 0;
  return altBytes - (frame % 8) * 64;
}

/** Writes the packet of microframe `frame` into `out` (at most out.length bytes); returns its length. */
export function writeIsoPacket(out: Uint8Array, frame: number, altBytes: number): number {
  let n = Math.min(isoPacketLength(frame, altBytes), out.length);
  if (n < 8) n = 0;
  if (n === 0) return 0;
  writeLe32(out, 0, frame);
  writeLe32(out, 4, n);
  const seed = (frame * 7) & 0xff;
  for (let k = 8; k < n; k++) out[k] = (seed + k) & 0xff;
  return n;
}

/** Byte `p` of the bulk IN stream. */
export function bulkStreamByte(p: number): number {
  const word = Math.floor(p / 4) >>> 0;
  return (word >>> ((p % 4) * 8)) & 0xff;
}

/** Writes the bulk IN stream from byte `position` on into `out` (word at a time: this runs under emulation). */
export function fillBulkStream(out: Uint8Array, position: number): void {
  let i = 0;
  while (i < out.length && (position + i) % 4 !== 0) {
    out[i] = bulkStreamByte(position + i);
    i++;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let word = ((position + i) / 4) >>> 0;
  for (; i + 4 <= out.length; i += 4) view.setUint32(i, word++, true);
  for (; i < out.length; i++) out[i] = bulkStreamByte(position + i);
}

export function echoByte(wValue: number, i: number): number {
  return (wValue + 3 * i) & 0xff;
}

export function fnv1a(hash: number, data: Uint8Array): number {
  let h = hash >>> 0;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
export const FNV_OFFSET = 0x811c9dc5;

function writeLe32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}

function deviceDescriptor(): Uint8Array {
  return Uint8Array.of(18, DescriptorType.DEVICE, 0x00, 0x02, 0x00, 0x00, 0x00, 64, PATTERN_VID & 0xff, PATTERN_VID >> 8, PATTERN_PID & 0xff, PATTERN_PID >> 8, 0x00, 0x01, 1, 2, 3, 1);
}

function qualifierDescriptor(): Uint8Array {
  return Uint8Array.of(10, DescriptorType.DEVICE_QUALIFIER, 0x00, 0x02, 0x00, 0x00, 0x00, 64, 1, 0);
}

function endpoint(address: number, attributes: number, maxPacket: number, interval: number): number[] {
  return [7, DescriptorType.ENDPOINT, address, attributes, maxPacket & 0xff, maxPacket >> 8, interval];
}

function iface(number: number, alt: number, endpoints: number, subclass: number): number[] {
  return [9, DescriptorType.INTERFACE, number, alt, endpoints, 0xff, subclass, 0x00, 0];
}

function configurationDescriptor(): Uint8Array {
  const body = [
    ...iface(0, 0, 4, 0x00),
    ...endpoint(PatternEndpoint.BULK_IN, 0x02, 512, 0),
    ...endpoint(PatternEndpoint.BULK_OUT, 0x02, 512, 0),
    ...endpoint(PatternEndpoint.INTERRUPT_IN, 0x03, INTERRUPT_REPORT_SIZE, 4),
    ...endpoint(PatternEndpoint.SILENT_IN, 0x02, 512, 0),
    ...iface(1, 0, 0, 0x01),
    ...iface(1, 1, 1, 0x01),
    ...endpoint(PatternEndpoint.ISO_IN, 0x05, 0x0400, 1),
    ...iface(1, 2, 1, 0x01),
    ...endpoint(PatternEndpoint.ISO_IN, 0x05, 0x0c00, 1),
    ...iface(1, 3, 1, 0x01),
    ...endpoint(PatternEndpoint.ISO_IN, 0x05, 0x1400, 1),
  ];
  const total = 9 + body.length;
  return Uint8Array.from([9, DescriptorType.CONFIGURATION, total & 0xff, total >> 8, 2, 1, 0, 0x80, 50, ...body]);
}

function stringDescriptor(s: string): Uint8Array {
  const out = new Uint8Array(2 + 2 * s.length);
  out[0] = out.length;
  out[1] = DescriptorType.STRING;
  for (let i = 0; i < s.length; i++) {
    out[2 + 2 * i] = s.charCodeAt(i) & 0xff;
    out[3 + 2 * i] = s.charCodeAt(i) >> 8;
  }
  return out;
}

const STRINGS = ['', 'uvc-capture', PATTERN_PRODUCT, PATTERN_SERIAL];

interface Waiter {
  resolve: (r: EndpointReply) => void;
  timer: NodeJS.Timeout | null;
  cleanup: () => void;
}

export interface PatternDeviceStats {
  controlRequests: number;
  isoRequests: number;
  isoPacketsSent: number;
  bulkInBytes: number;
  bulkOutBytes: number;
  bulkOutHash: number;
  interruptReports: number;
  cancelled: number;
}

export class PatternDevice extends EventEmitter implements UsbDeviceModel {
  readonly speed = 'high' as const;
  private plugged = true;
  private configuration = 0;
  private streamAlt = 0;
  private halted = new Set<number>();
  private stored = new Uint8Array(0);
  private bulkPosition = 0;
  private interruptSeq = 0;
  private interruptNextFrame = 0;
  private isoNextFrame = 0;
  private t0 = performance.now();
  private readonly waiters = new Set<Waiter>();
  readonly stats: PatternDeviceStats = PatternDevice.freshStats();

  private static freshStats(): PatternDeviceStats {
    return { controlRequests: 0, isoRequests: 0, isoPacketsSent: 0, bulkInBytes: 0, bulkOutBytes: 0, bulkOutHash: FNV_OFFSET, interruptReports: 0, cancelled: 0 };
  }

  get attached(): boolean {
    return this.plugged;
  }

  /** The bus microframe now (SOF count since plug-in). */
  frameNow(): number {
    return Math.floor(((performance.now() - this.t0) * 1000) / MICROFRAME_US);
  }

  unplug(): void {
    if (!this.plugged) return;
    this.plugged = false;
    for (const w of [...this.waiters]) {
      w.cleanup();
      w.resolve({ status: 'no_device', actualLength: 0, startFrame: 0 });
    }
    this.emit('unplug');
  }

  replug(): void {
    if (this.plugged) return;
    this.configuration = 0;
    this.streamAlt = 0;
    this.halted.clear();
    this.stored = new Uint8Array(0);
    this.bulkPosition = 0;
    this.interruptSeq = 0;
    this.interruptNextFrame = 0;
    this.isoNextFrame = 0;
    this.t0 = performance.now();
    Object.assign(this.stats, PatternDevice.freshStats());
    this.plugged = true;
    this.emit('replug');
  }

  async control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    if (!this.plugged) return { status: 'no_device' };
    if (signal?.aborted) return { status: 'cancelled' };
    this.stats.controlRequests++;
    const type = setup.bmRequestType & 0x60;
    if (type === RequestType.TYPE_STANDARD) return this.standard(setup);
    if (type === RequestType.TYPE_VENDOR) return this.vendor(setup, data);
    return { status: 'stall' };
  }

  private standard(s: SetupPacket): ControlReply {
    const isIn = (s.bmRequestType & 0x80) !== 0;
    const recipient = s.bmRequestType & 0x1f;
    const reply = (bytes: Uint8Array): ControlReply => ({ status: 'ok', data: bytes.subarray(0, Math.min(bytes.length, s.wLength)) });
    switch (s.bRequest) {
      case StandardRequest.GET_DESCRIPTOR: {
        if (!isIn) return { status: 'stall' };
        const type = s.wValue >> 8;
        const index = s.wValue & 0xff;
        if (type === DescriptorType.DEVICE) return reply(deviceDescriptor());
        if (type === DescriptorType.CONFIGURATION && index === 0) return reply(configurationDescriptor());
        if (type === DescriptorType.DEVICE_QUALIFIER) return reply(qualifierDescriptor());
        if (type === DescriptorType.STRING) {
          if (index === 0) return reply(Uint8Array.of(4, DescriptorType.STRING, 0x09, 0x04));
          const text = STRINGS[index];
          return text === undefined ? { status: 'stall' } : reply(stringDescriptor(text));
        }
        return { status: 'stall' };
      }
      case StandardRequest.SET_ADDRESS:
        return { status: 'ok' };
      case StandardRequest.GET_CONFIGURATION:
        return reply(Uint8Array.of(this.configuration));
      case StandardRequest.SET_CONFIGURATION:
        if (s.wValue > 1) return { status: 'stall' };
        this.configuration = s.wValue;
        this.setStreamAlt(0);
        this.halted.clear();
        return { status: 'ok' };
      case StandardRequest.GET_INTERFACE:
        if (this.configuration === 0 || s.wIndex > 1) return { status: 'stall' };
        return reply(Uint8Array.of(s.wIndex === STREAM_INTERFACE ? this.streamAlt : 0));
      case StandardRequest.SET_INTERFACE:
        if (this.configuration === 0) return { status: 'stall' };
        if (s.wIndex === 0 && s.wValue === 0) return { status: 'ok' };
        if (s.wIndex === STREAM_INTERFACE && s.wValue < ISO_ALT_BYTES.length) {
          this.setStreamAlt(s.wValue);
          return { status: 'ok' };
        }
        return { status: 'stall' };
      case StandardRequest.GET_STATUS: {
        if (recipient === RequestType.RECIPIENT_ENDPOINT) return reply(Uint8Array.of(this.halted.has(s.wIndex & 0xff) ? 1 : 0, 0));
        return reply(Uint8Array.of(recipient === RequestType.RECIPIENT_DEVICE ? 0 : 0, 0));
      }
      case StandardRequest.CLEAR_FEATURE:
      case StandardRequest.SET_FEATURE:
        if (recipient === RequestType.RECIPIENT_ENDPOINT && s.wValue === FeatureSelector.ENDPOINT_HALT) {
          if (s.bRequest === StandardRequest.SET_FEATURE) this.halted.add(s.wIndex & 0xff);
          else this.halted.delete(s.wIndex & 0xff);
          return { status: 'ok' };
        }
        return recipient === RequestType.RECIPIENT_DEVICE ? { status: 'ok' } : { status: 'stall' };
      default:
        return { status: 'stall' };
    }
  }

  private vendor(s: SetupPacket, data: Uint8Array | undefined): ControlReply {
    const isIn = (s.bmRequestType & 0x80) !== 0;
    switch (s.bRequest) {
      case PatternRequest.ECHO: {
        if (!isIn) return { status: 'stall' };
        const out = new Uint8Array(s.wLength);
        for (let i = 0; i < out.length; i++) out[i] = echoByte(s.wValue, i);
        return { status: 'ok', data: out };
      }
      case PatternRequest.STORE:
        if (isIn) return { status: 'ok', data: this.stored.subarray(0, Math.min(this.stored.length, s.wLength)) };
        if ((data?.length ?? 0) > 256) return { status: 'stall' };
        this.stored = Uint8Array.from(data ?? []);
        return { status: 'ok' };
      case PatternRequest.STATS: {
        if (!isIn) return { status: 'stall' };
        const out = new Uint8Array(8);
        writeLe32(out, 0, this.stats.bulkOutBytes);
        writeLe32(out, 4, this.stats.bulkOutHash);
        return { status: 'ok', data: out.subarray(0, Math.min(8, s.wLength)) };
      }
      case PatternRequest.HALT:
        if (isIn) return { status: 'stall' };
        this.halted.add(s.wIndex & 0xff);
        return { status: 'ok' };
      default:
        return { status: 'stall' };
    }
  }

  private setStreamAlt(alt: number): void {
    this.streamAlt = alt;
    this.isoNextFrame = 0;
  }

  transfer(request: EndpointRequest): Promise<EndpointReply> {
    if (!this.plugged) return Promise.resolve({ status: 'no_device', actualLength: 0, startFrame: 0 });
    if (request.signal?.aborted) return Promise.resolve({ status: 'cancelled', actualLength: 0, startFrame: 0 });
    const ep = request.endpoint;
    if (this.configuration === 0) return Promise.resolve({ status: 'stall', actualLength: 0, startFrame: 0 });
    if (this.halted.has(ep)) return Promise.resolve({ status: 'stall', actualLength: 0, startFrame: 0 });
    switch (ep) {
      case PatternEndpoint.BULK_IN: {
        const b = request.buffer;
        fillBulkStream(b, this.bulkPosition);
        this.bulkPosition += b.length;
        this.stats.bulkInBytes += b.length;
        return Promise.resolve({ status: 'ok', actualLength: b.length, startFrame: 0 });
      }
      case PatternEndpoint.BULK_OUT:
        this.stats.bulkOutBytes += request.buffer.length;
        this.stats.bulkOutHash = fnv1a(this.stats.bulkOutHash, request.buffer);
        return Promise.resolve({ status: 'ok', actualLength: request.buffer.length, startFrame: 0 });
      case PatternEndpoint.INTERRUPT_IN:
        return this.interrupt(request);
      case PatternEndpoint.SILENT_IN:
        return this.wait(request.signal, null, () => ({ status: 'ok', actualLength: 0, startFrame: 0 }));
      case PatternEndpoint.ISO_IN:
        return this.iso(request);
      default:
        return Promise.resolve({ status: 'stall', actualLength: 0, startFrame: 0 });
    }
  }

  private interrupt(request: EndpointRequest): Promise<EndpointReply> {
    const frame = Math.max(this.interruptNextFrame, this.frameNow());
    this.interruptNextFrame = frame + INTERRUPT_PERIOD_MICROFRAMES;
    return this.wait(request.signal, frame + 1, () => {
      const b = request.buffer;
      const report = new Uint8Array(INTERRUPT_REPORT_SIZE);
      const seq = this.interruptSeq;
      writeLe32(report, 0, seq);
      writeLe32(report, 4, frame);
      for (let i = 8; i < INTERRUPT_REPORT_SIZE; i++) report[i] = (seq + i) & 0xff;
      const n = Math.min(b.length, INTERRUPT_REPORT_SIZE);
      b.set(report.subarray(0, n));
      this.interruptSeq++;
      this.stats.interruptReports++;
      return { status: n < INTERRUPT_REPORT_SIZE ? 'overflow' : 'ok', actualLength: n, startFrame: 0 };
    });
  }

  private iso(request: EndpointRequest): Promise<EndpointReply> {
    const slots = request.iso;
    const altBytes = ISO_ALT_BYTES[this.streamAlt] ?? 0;
    if (slots === undefined || altBytes === 0) return Promise.resolve({ status: 'stall', actualLength: 0, startFrame: 0 });
    this.stats.isoRequests++;
    const start = Math.max(this.isoNextFrame, this.frameNow());
    this.isoNextFrame = start + slots.count;
    return this.wait(request.signal, start + slots.count, () => {
      let total = 0;
      for (let i = 0; i < slots.count; i++) {
        const slot = request.buffer.subarray(slots.offsets[i]!, slots.offsets[i]! + slots.lengths[i]!);
        const n = writeIsoPacket(slot, start + i, altBytes);
        slots.actual[i] = n;
        slots.status[i] = PacketStatus.OK;
        total += n;
      }
      this.stats.isoPacketsSent += slots.count;
      return { status: 'ok', actualLength: total, startFrame: start };
    });
  }

  /** Resolves at bus microframe `untilFrame` (null: never) unless aborted or unplugged first. */
  private wait(signal: AbortSignal | undefined, untilFrame: number | null, done: () => EndpointReply): Promise<EndpointReply> {
    return new Promise((resolve) => {
      const w: Waiter = {
        resolve,
        timer: null,
        cleanup: () => {
          if (w.timer !== null) clearTimeout(w.timer);
          signal?.removeEventListener('abort', onAbort);
          this.waiters.delete(w);
        },
      };
      const onAbort = (): void => {
        w.cleanup();
        this.stats.cancelled++;
        resolve({ status: 'cancelled', actualLength: 0, startFrame: 0 });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(w);
      if (untilFrame !== null) {
        const dueMs = this.t0 + (untilFrame * MICROFRAME_US) / 1000 - performance.now();
        w.timer = setTimeout(() => {
          w.cleanup();
          resolve(done());
        }, Math.max(0, dueMs));
      }
    });
  }
}

/** Factory for the guest's serve script: `serve.js --model <this module>`. */
export default function createPatternDevice(): PatternDevice {
  return new PatternDevice();
}
