/**
 * A UsbTransport without a device, for VideoStream tests: the test is the bus. Each step() completes the oldest
 * submitted transfer with what a BusSource puts in it. When JavaScript holds every transfer, iso bus time passes
 * with nothing in flight and the source's packets are lost (lostIntervals), as on a real bus; injectGap() does
 * the same on purpose (an event-loop stall). unplug() makes the device go away like libusb reports it.
 */
import { EventEmitter } from 'node:events';
import { uvcError } from '../../../src/errors.js';
import {
  TransferStatus,
  type CompletedTransfer,
  type ControlSetup,
  type StreamOptions,
  type StreamStats,
  type TransferCallback,
  type TransferStatusCode,
  type UsbDeviceInfo,
  type UsbStream,
  type UsbTransport,
} from '../../../src/transport/usb-transport.js';

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

class FakeTransfer implements CompletedTransfer {
  slot: number;
  sequence = 0;
  status: TransferStatusCode = TransferStatus.COMPLETED;
  readonly buffer: Uint8Array;
  actualLength = 0;
  packetCount: number;
  packetStride: number;
  readonly packetStatus: Int32Array;
  readonly packetLength: Int32Array;
  lostIntervals = 0;
  completedAtNs = 0;
  held = false;
  constructor(
    private readonly stream: FakeUsbStream,
    slot: number,
    size: number,
    packets: number,
    stride: number,
  ) {
    this.slot = slot;
    this.buffer = new Uint8Array(size);
    this.packetCount = packets;
    this.packetStride = stride;
    this.packetStatus = new Int32Array(packets);
    this.packetLength = new Int32Array(packets);
  }
  release(): void {
    this.stream.releaseSlot(this);
  }
}

export class FakeUsbStream implements UsbStream {
  readonly options: Readonly<StreamOptions>;
  readonly stats: StreamStats = { completed: 0, inFlight: 0, held: 0, lostIntervals: 0 };
  stopped = false;
  /** Releases seen for a transfer that was not held (double release, or after stop): harmless by contract. */
  strayReleases = 0;
  private readonly slots: FakeTransfer[];
  private readonly submitted: FakeTransfer[];
  private pendingLost = 0;
  private cancelling = false;
  /** The device is gone: nothing is resubmitted any more. */
  private dead = false;
  private stopPromise: Promise<void> | null = null;
  private inCallback = false;

  constructor(
    private readonly transport: FakeUsbTransport,
    options: StreamOptions,
    private readonly callback: TransferCallback,
    private readonly source: BusSource,
  ) {
    this.options = Object.freeze({ ...options });
    const iso = options.type === 'iso';
    const packets = iso ? options.packetsPerTransfer! : 0;
    const stride = iso ? options.packetSize! : 0;
    const size = iso ? packets * stride : options.transferSize!;
    this.slots = Array.from({ length: options.transfers }, (_, i) => new FakeTransfer(this, i, size, packets, stride));
    this.submitted = [...this.slots];
    this.stats.inFlight = this.slots.length;
  }

  /** Transfers JavaScript has not released. */
  get heldCount(): number {
    return this.slots.filter((slot) => slot.held).length;
  }

  /** One transfer's worth of bus time. Returns false when nothing could be delivered (all held, or stopped). */
  step(): boolean {
    if (this.stopped || this.cancelling || this.dead) return false;
    const transfer = this.submitted.shift();
    const iso = this.options.type === 'iso';
    if (transfer === undefined) {
      if (iso) {
        const intervals = this.options.packetsPerTransfer!;
        for (let i = 0; i < intervals; i++) this.source.isoMissed();
        this.pendingLost += intervals;
        this.stats.lostIntervals += intervals;
      }
      return false;
    }
    this.transport.busTimeNs += iso ? this.options.packetsPerTransfer! * this.transport.intervalNs : 1_000_000;
    transfer.status = TransferStatus.COMPLETED;
    transfer.lostIntervals = this.pendingLost;
    this.pendingLost = 0;
    if (iso) {
      let total = 0;
      for (let i = 0; i < transfer.packetCount; i++) {
        const length = this.source.isoPacket(transfer.buffer, i * transfer.packetStride, transfer.packetStride);
        transfer.packetStatus[i] = length < 0 ? TransferStatus.ERROR : TransferStatus.COMPLETED;
        transfer.packetLength[i] = Math.max(0, length);
        total += Math.max(0, length);
      }
      transfer.actualLength = total;
    } else {
      const length = this.source.bulkChunk(transfer.buffer, transfer.buffer.length);
      transfer.status = length < 0 ? TransferStatus.ERROR : TransferStatus.COMPLETED;
      transfer.actualLength = Math.max(0, length);
    }
    transfer.completedAtNs = this.transport.busTimeNs;
    this.deliver(transfer);
    return true;
  }

  /** The event loop stalled for `intervals` bus intervals: the device's data in that time is lost (iso). */
  injectGap(intervals: number): void {
    if (this.options.type !== 'iso') return;
    for (let i = 0; i < intervals; i++) this.source.isoMissed();
    this.pendingLost += intervals;
    this.stats.lostIntervals += intervals;
    this.transport.busTimeNs += intervals * this.transport.intervalNs;
  }

  /** The device vanished: every submitted transfer completes with NO_DEVICE. */
  failAll(): void {
    this.dead = true;
    while (!this.stopped && !this.cancelling && this.submitted.length > 0) {
      const transfer = this.submitted.shift()!;
      transfer.status = TransferStatus.NO_DEVICE;
      transfer.actualLength = 0;
      transfer.lostIntervals = 0;
      this.deliver(transfer);
    }
  }

  stop(): Promise<void> {
    if (this.stopPromise !== null) return this.stopPromise;
    this.stopPromise = (async () => {
      // Cancelled transfers come back first (asynchronously, like libusb's event thread), then stop resolves.
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.cancelling = true;
      while (this.submitted.length > 0) {
        const transfer = this.submitted.shift()!;
        transfer.status = TransferStatus.CANCELLED;
        transfer.actualLength = 0;
        this.deliver(transfer);
      }
      this.stopped = true;
      this.stats.inFlight = 0;
      this.transport.streamStopped(this);
    })();
    return this.stopPromise;
  }

  /** @internal */
  releaseSlot(transfer: FakeTransfer): void {
    if (!transfer.held || this.stopped) {
      this.strayReleases++;
      return;
    }
    transfer.held = false;
    this.stats.held--;
    if (this.cancelling || this.dead) return; // not resubmitted: the stream or the device is going down
    this.submitted.push(transfer);
    this.stats.inFlight++;
  }

  private deliver(transfer: FakeTransfer): void {
    if (this.inCallback) throw new Error('fake transport: re-entrant completion');
    transfer.held = true;
    transfer.sequence = this.stats.completed++;
    this.stats.held++;
    this.stats.inFlight--;
    this.inCallback = true;
    try {
      this.callback(transfer);
    } finally {
      this.inCallback = false;
    }
  }
}

export class FakeUsbTransport extends EventEmitter implements UsbTransport {
  readonly kind = 'virtual' as const;
  readonly info: UsbDeviceInfo = { busNumber: 1, deviceAddress: 2, portPath: '1-1', vendorId: 0x1234, productId: 0x5678, speed: 'high' };
  isOpen = true;
  isDisconnected = false;
  busTimeNs = 1_000_000_000;
  readonly intervalNs: number;
  /** Where each new stream's data comes from. */
  source: BusSource | null = null;
  current: FakeUsbStream | null = null;
  streamsStarted = 0;

  constructor(options: { intervalNs?: number } = {}) {
    super();
    this.intervalNs = options.intervalNs ?? 125_000;
  }

  deviceDescriptor(): Uint8Array {
    return new Uint8Array(18);
  }
  configDescriptor(): Uint8Array {
    return new Uint8Array(9);
  }
  getStringDescriptor(): Promise<string> {
    return Promise.reject(uvcError('ENOTSUP', 'fake transport'));
  }
  controlTransferIn(_setup: ControlSetup, _length: number): Promise<Uint8Array> {
    return Promise.reject(uvcError('ENOTSUP', 'fake transport'));
  }
  controlTransferOut(_setup: ControlSetup, _data: Uint8Array): Promise<number> {
    return Promise.reject(uvcError('ENOTSUP', 'fake transport'));
  }
  async claimInterface(): Promise<void> {}
  async releaseInterface(): Promise<void> {}
  async setAltSetting(): Promise<void> {}
  async clearHalt(): Promise<void> {}

  startStream(options: StreamOptions, onTransfer: TransferCallback): UsbStream {
    if (this.isDisconnected) throw uvcError('ENODEV', 'the device is gone');
    if (!this.isOpen) throw uvcError('EBADF', 'closed');
    if (this.current !== null) throw uvcError('EBUSY', `a stream already runs on endpoint ${options.endpoint}`);
    if (this.source === null) throw new Error('fake transport: no bus source');
    this.current = new FakeUsbStream(this, options, onTransfer, this.source);
    this.streamsStarted++;
    this.source.restart?.();
    return this.current;
  }

  /** @internal */
  streamStopped(stream: FakeUsbStream): void {
    if (this.current === stream) this.current = null;
  }

  /**
   * The device goes away. `order` says whether the stream's transfers fail with NO_DEVICE before or after the
   * 'disconnect' event (libusb and the hotplug callback race; both orders happen).
   */
  unplug(order: 'transfers-first' | 'event-first' = 'transfers-first'): void {
    if (this.isDisconnected) return;
    this.isDisconnected = true;
    if (order === 'event-first') this.emit('disconnect');
    this.current?.failAll();
    if (order === 'transfers-first') this.emit('disconnect');
  }

  async close(): Promise<void> {
    this.isOpen = false;
    await this.current?.stop();
  }
}
