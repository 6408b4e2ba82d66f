/**
 * The real in-process host (src/transport/virtual, the transport the conformance suite holds to the contract) in
 * front of a device model whose bus the test steps: for VideoStream tests, where the test is the bus.
 *
 * SteppedDevice holds every transfer the host submits until the test says a transfer's worth of bus time passed:
 * `await stream.step()` completes the oldest one with what a BusSource puts in it and returns once the host has
 * handed that completion to JavaScript (so the driver has assembled it). When JavaScript holds every transfer,
 * iso bus time passes with nothing in flight and the source's packets are lost: the next completion reports the
 * intervals as missed (lostIntervals), as on a real bus; injectGap() does the same on purpose (an event-loop
 * stall). The device leaves like a real one: leave() is the hotplug event (the host emits 'disconnect'), and
 * failAll() answers the transfers still held NO_DEVICE (libusb reaps them after its hotplug callback);
 * `unplug()` does both, in either order.
 */
import { EventEmitter } from 'node:events';
import type { ControlReply, EndpointReply, EndpointRequest, SetupPacket, UsbDeviceModel } from '../../../src/transport/device-model.js';
import type { CompletedTransfer, StreamOptions, TransferCallback, UsbStream } from '../../../src/transport/usb-transport.js';
import { VirtualTransport } from '../../../src/transport/virtual/virtual-transport.js';

/** What the device sends. */
export interface BusSource {
  /** iso: write the next packet at `offset` (at most `capacity` bytes); return its length, or -1 if it was lost. */
  isoPacket(into: Uint8Array, offset: number, capacity: number): number;
  /** iso: one bus interval passes with no transfer in flight: the packet it carried is lost. */
  isoMissed(): void;
  /** bulk: fill the transfer (up to `capacity` bytes, stopping at a payload end); return the length, or -1 for
   *  a transfer that failed (its data is lost). */
  bulkChunk(into: Uint8Array, capacity: number): number;
  /** A new stream starts: a camera begins a fresh frame. */
  restart?(): void;
}

/** The video endpoint: bulk on alt setting 0, iso (3 × 1024 per microframe) on alt setting 1. */
export const VIDEO_ENDPOINT = 0x81;
const DEVICE = Uint8Array.from([18, 1, 0x00, 0x02, 0xff, 0, 0, 64, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01, 0, 0, 0, 1]);
const CONFIG_BODY = [
  9, 4, 0, 0, 1, 0xff, 0, 0, 0,
  7, 5, VIDEO_ENDPOINT, 0x02, 0x00, 0x02, 0, // bulk IN 512
  9, 4, 0, 1, 1, 0xff, 0, 0, 0,
  7, 5, VIDEO_ENDPOINT, 0x05, 0x00, 0x14, 1, // iso IN, 0x1400 = 3 × 1024
];
const CONFIG = Uint8Array.from([9, 2, 9 + CONFIG_BODY.length, 0, 1, 1, 0, 0x80, 50, ...CONFIG_BODY]);

interface Held {
  request: EndpointRequest;
  resolve: (reply: EndpointReply) => void;
  detach: () => void;
}

const NO_REPLY = (status: 'no_device' | 'cancelled' | 'error'): EndpointReply => ({ status, actualLength: 0, startFrame: 0 });

export class SteppedDevice extends EventEmitter implements UsbDeviceModel {
  readonly speed = 'high' as const;
  attached = true;
  source: BusSource | null = null;
  /** Transfers the host submitted, oldest first, not completed yet. */
  private readonly held: Held[] = [];
  /** Intervals the next iso completion reports as missed (then reset). */
  private missedNext = 0;

  async control(setup: SetupPacket): Promise<ControlReply> {
    if (!this.attached) return { status: 'no_device' };
    const { bmRequestType, bRequest, wValue, wLength } = setup;
    if (bmRequestType === 0x80 && bRequest === 6) {
      const type = wValue >> 8;
      if (type === 1) return { status: 'ok', data: DEVICE.slice(0, wLength) };
      if (type === 2) return { status: 'ok', data: CONFIG.slice(0, wLength) };
      return { status: 'stall' };
    }
    // SET_ADDRESS, SET_CONFIGURATION, SET_INTERFACE, CLEAR_FEATURE(ENDPOINT_HALT).
    if ((bmRequestType === 0x00 && (bRequest === 5 || bRequest === 9)) || (bmRequestType === 0x01 && bRequest === 11) || (bmRequestType === 0x02 && bRequest === 1)) {
      return { status: 'ok' };
    }
    return { status: 'stall' };
  }

  transfer(request: EndpointRequest): Promise<EndpointReply> {
    if (!this.attached) return Promise.resolve(NO_REPLY('no_device'));
    if (request.signal?.aborted) return Promise.resolve(NO_REPLY('cancelled'));
    return new Promise((resolve) => {
      const held: Held = { request, resolve, detach: () => undefined };
      const signal = request.signal;
      if (signal !== undefined) {
        const onAbort = (): void => {
          const at = this.held.indexOf(held);
          if (at >= 0) this.held.splice(at, 1);
          resolve(NO_REPLY('cancelled'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        held.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.held.push(held);
    });
  }

  /** Transfers waiting for bus time. */
  get heldTransfers(): number {
    return this.held.length;
  }

  /** A new stream starts: nothing of the last one's bus time is owed any more. */
  beginStream(): void {
    this.missedNext = 0;
    this.source?.restart?.();
  }

  /**
   * One transfer's worth of bus time: the oldest held transfer completes with the source's data. With none held,
   * iso bus time passes unheard (`intervals` packets lost). Returns false then.
   */
  completeOldest(intervals: number): boolean {
    const source = this.source;
    if (source === null) throw new Error('stepped device: no bus source');
    const next = this.held.shift();
    if (next === undefined) {
      this.miss(intervals);
      return false;
    }
    next.detach();
    const { request } = next;
    const iso = request.iso;
    if (iso !== undefined) {
      let total = 0;
      for (let i = 0; i < iso.count; i++) {
        const length = source.isoPacket(request.buffer, iso.offsets[i]!, iso.lengths[i]!);
        iso.status[i] = length < 0 ? 1 : 0;
        iso.actual[i] = Math.max(0, length);
        total += Math.max(0, length);
      }
      const missedIntervals = this.missedNext;
      this.missedNext = 0;
      next.resolve({ status: 'ok', actualLength: total, startFrame: 0, missedIntervals });
    } else {
      const length = source.bulkChunk(request.buffer, request.buffer.length);
      next.resolve(length < 0 ? NO_REPLY('error') : { status: 'ok', actualLength: length, startFrame: 0 });
    }
    return true;
  }

  /** iso: `intervals` bus intervals pass with no transfer in flight: what the device sent in them is lost. */
  miss(intervals: number): void {
    if (this.source === null) return;
    for (let i = 0; i < intervals; i++) this.source.isoMissed();
    this.missedNext += intervals;
  }

  /** The hotplug event: the device left the bus (the host says 'disconnect'); held transfers stay held. */
  leave(): void {
    if (!this.attached) return;
    this.attached = false;
    this.emit('unplug');
  }

  /** Every held transfer answers NO_DEVICE. */
  failAll(): void {
    for (const next of this.held.splice(0)) {
      next.detach();
      next.resolve(NO_REPLY('no_device'));
    }
  }
}

/** One turn of the event loop (the host hands each completion over in one of its own). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The host's stream as a stepped test sees it: its bus, and what JavaScript did with its completions. */
export class SteppedStream {
  /** Completions handed to JavaScript, and those it has not released yet. */
  delivered = 0;
  private readonly holding = new Set<CompletedTransfer>();
  /** Releases of a completion already released (harmless by contract, but a driver bug). */
  strayReleases = 0;
  /** Runs before each completion reaches the driver: where a test lets time pass (a loaded machine). */
  beforeDeliver: (() => void) | null = null;

  constructor(
    private readonly transport: SteppedTransport,
    readonly host: UsbStream,
  ) {}

  get options(): Readonly<StreamOptions> {
    return this.host.options;
  }
  get stopped(): boolean {
    return this.host.stopped;
  }
  /** Completions JavaScript holds. */
  get heldCount(): number {
    return this.holding.size;
  }

  /** Hands `transfer` to the driver as a completion of its own, whose releases are counted. */
  deliver(transfer: CompletedTransfer, onTransfer: TransferCallback): void {
    this.beforeDeliver?.();
    this.delivered++;
    let released = false;
    const view: CompletedTransfer = Object.create(transfer, {
      release: {
        value: () => {
          if (released) {
            this.strayReleases++;
            return;
          }
          released = true;
          this.holding.delete(view);
          transfer.release();
        },
      },
    }) as CompletedTransfer;
    this.holding.add(view);
    onTransfer(view);
  }

  /**
   * One transfer's worth of bus time; resolves once the host handed the completion to JavaScript. Returns false
   * when nothing could complete: the stream stopped, or JavaScript holds every transfer (iso: that bus time's
   * packets are lost).
   */
  async step(): Promise<boolean> {
    if (this.host.stopped) return false;
    const device = this.transport.stepped;
    // A failed transfer goes back to the device a turn after its release (the host never spins on failures).
    for (let i = 0; i < 4 && device.heldTransfers === 0 && !this.host.stopped; i++) await turn();
    if (this.host.stopped) return false;
    const iso = this.options.type === 'iso';
    const target = this.delivered + 1;
    if (!device.completeOldest(iso ? this.options.packetsPerTransfer! : 0)) return false;
    for (let i = 0; i < 8 && this.delivered < target && !this.host.stopped; i++) await turn();
    return this.delivered >= target;
  }

  /** The event loop stalled for `intervals` bus intervals: the device's data in that time is lost (iso). */
  injectGap(intervals: number): void {
    if (this.options.type === 'iso') this.transport.stepped.miss(intervals);
  }

  /** Every transfer still held answers NO_DEVICE; resolves once the host handed them over. */
  async failAll(): Promise<void> {
    this.transport.stepped.failAll();
    for (let i = 0; i < 4; i++) await turn();
  }
}

/**
 * The in-process host on a SteppedDevice, its video interface claimed with the alt setting for `transfer`, noting
 * each stream it starts so a test can step it.
 */
export class SteppedTransport extends VirtualTransport {
  declare readonly model: SteppedDevice;
  streamsStarted = 0;
  private stream: SteppedStream | null = null;

  /** The device model (VirtualTransport's `device` is its device descriptor). */
  get stepped(): SteppedDevice {
    return this.model;
  }

  get source(): BusSource | null {
    return this.model.source;
  }
  set source(source: BusSource | null) {
    this.model.source = source;
  }

  /** The stream running now (null once it stopped). */
  get current(): SteppedStream | null {
    return this.stream !== null && !this.stream.stopped ? this.stream : null;
  }

  override startStream(options: StreamOptions, onTransfer: TransferCallback): UsbStream {
    let stepped: SteppedStream | null = null;
    const host = super.startStream(options, (transfer) => stepped!.deliver(transfer, onTransfer));
    stepped = new SteppedStream(this, host);
    this.stream = stepped;
    this.streamsStarted++;
    this.model.beginStream();
    return host;
  }

  /**
   * The device goes away. 'event-first': the hotplug event, then the held transfers answer NO_DEVICE;
   * 'transfers-first': the transfers first. Either way the host emits 'disconnect' before it hands JavaScript the
   * first NO_DEVICE completion (as the addon does), but it learns of the unplug by a different path.
   */
  async unplug(order: 'transfers-first' | 'event-first' = 'transfers-first'): Promise<void> {
    if (order === 'event-first') this.model.leave();
    this.model.failAll();
    // transfers-first: the host sees the NO_DEVICE completions (and says 'disconnect') before the hotplug event.
    await turn();
    this.model.leave();
    for (let i = 0; i < 4; i++) await turn();
  }
}

/** A stepped device opened by the in-process host, ready to stream over `transfer`. */
export async function openSteppedTransport(transfer: 'iso' | 'bulk' = 'iso', source: BusSource | null = null): Promise<SteppedTransport> {
  const device = new SteppedDevice();
  device.source = source;
  const transport = new SteppedTransport(device, 1, 2);
  await transport.enumerate();
  await transport.claimInterface(0);
  await transport.setAltSetting(0, transfer === 'iso' ? 1 : 0);
  return transport;
}
