/**
 * The stream engine of the in-process host: the same contract as the addon's (see UsbStream in
 * ../usb-transport.ts). N transfers stay submitted to the device model, out of N + spareTransfers slots: when one
 * completes, a free slot is submitted before the completion is handed to JavaScript (once, as the slot's own
 * buffer); release() frees it, resubmitting it if fewer than N are in flight. stop() cancels everything and resolves once every
 * submitted transfer has come back.
 *
 * Like a real host it never outruns the bus: each completion reaches JavaScript in a callback of its own from the
 * event loop (setImmediate), as libusb's come through libuv to the addon, never as a promise continuation of the
 * device's reply; and a transfer that came back failed is resubmitted on the next turn. Otherwise a device that
 * answers every request at once (a 'fast' virtual camera whose frames are cached) or fails every one at once
 * would run complete → release → resubmit → complete as promise jobs forever, and no timer, I/O or signal
 * handler would run again. One completion per callback also lets the consumer's promise continuations (a
 * dqbuf, the requeue after it) run before the next completion, as they do between a real device's.
 *
 * Each transfer has its own AbortSignal (one listener each on the model's side), and once the device has left,
 * nothing more is submitted: a transfer released after the unplug comes back NO_DEVICE without reaching the
 * model, even if a new device has been plugged in meanwhile (usbfs and the addon do the same).
 */
import {
  surfaceUncaught,
  TransferStatus,
  type CompletedTransfer,
  type StreamOptions,
  type StreamStats,
  type TransferCallback,
  type TransferStatusCode,
  type UsbStream,
} from '../usb-transport.js';
import type { DeviceReplyStatus, EndpointReply, IsoPacketSlots, UsbDeviceModel } from '../device-model.js';

const STATUS_OF_REPLY: Readonly<Record<DeviceReplyStatus, TransferStatusCode>> = {
  ok: TransferStatus.COMPLETED,
  stall: TransferStatus.STALL,
  no_device: TransferStatus.NO_DEVICE,
  cancelled: TransferStatus.CANCELLED,
  overflow: TransferStatus.OVERFLOW,
  error: TransferStatus.ERROR,
};

const NO_PACKETS = new Int32Array(0);

/** One transfer slot. Reused for every completion of its slot, as the contract allows. */
class TransferSlot implements CompletedTransfer {
  sequence = 0;
  status: TransferStatusCode = TransferStatus.COMPLETED;
  actualLength = 0;
  lostIntervals = 0;
  completedAtNs = 0;
  /** 'ready': completed, waiting for its turn to be handed to JavaScript (counted as held). */
  state: 'idle' | 'in-flight' | 'ready' | 'held' = 'idle';
  /** Aborts the request in flight (stop, or the per-transfer timeout). One per submission. */
  controller: AbortController | null = null;
  timeout: NodeJS.Timeout | null = null;
  timedOut = false;
  readonly packetStatus: Int32Array;
  readonly packetLength: Int32Array;
  /** The request handed to the model; for iso the model fills packetLength/packetStatus in place. */
  readonly iso: IsoPacketSlots | undefined;

  constructor(
    private readonly engine: VirtualStream,
    readonly slot: number,
    readonly buffer: Uint8Array,
    readonly packetCount: number,
    readonly packetStride: number,
  ) {
    if (packetCount > 0) {
      this.packetStatus = new Int32Array(packetCount);
      this.packetLength = new Int32Array(packetCount);
      const offsets = new Int32Array(packetCount);
      const lengths = new Int32Array(packetCount).fill(packetStride);
      for (let i = 0; i < packetCount; i++) offsets[i] = i * packetStride;
      this.iso = { count: packetCount, offsets, lengths, actual: this.packetLength, status: this.packetStatus };
    } else {
      this.packetStatus = NO_PACKETS;
      this.packetLength = NO_PACKETS;
      this.iso = undefined;
    }
  }

  release(): void {
    this.engine.release(this);
  }
}

export interface VirtualStreamHooks {
  /** False once the device this stream was started on has left (whatever is plugged in now). */
  connected(): boolean;
  /** A completion said the device is gone. */
  onNoDevice(): void;
  /** The stream has fully stopped (every transfer came back). */
  onStopped(stream: VirtualStream): void;
}

export class VirtualStream implements UsbStream {
  readonly options: Readonly<StreamOptions>;
  private readonly slots: TransferSlot[] = [];
  private readonly counters: StreamStats = { completed: 0, inFlight: 0, held: 0, lostIntervals: 0 };
  private sparesLow: number;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private resolveStop: (() => void) | undefined;
  private deviceGone = false;
  private isStopped = false;

  constructor(
    private readonly model: UsbDeviceModel,
    options: StreamOptions,
    private readonly onTransfer: TransferCallback,
    private readonly hooks: VirtualStreamHooks,
  ) {
    this.options = Object.freeze({ ...options });
    const iso = options.type === 'iso';
    const packets = iso ? options.packetsPerTransfer! : 0;
    const stride = iso ? options.packetSize! : 0;
    const size = iso ? packets * stride : options.transferSize!;
    const count = options.transfers + (options.spareTransfers ?? 0);
    for (let i = 0; i < count; i++) {
      this.slots.push(new TransferSlot(this, i, new Uint8Array(size), packets, stride));
    }
    this.sparesLow = count;
  }

  get stats(): Readonly<StreamStats> {
    return { ...this.counters, sparesFree: this.sparesFree, sparesLow: this.sparesLow };
  }

  private get sparesFree(): number {
    return this.slots.length - this.counters.inFlight - this.counters.held;
  }

  get stopped(): boolean {
    return this.isStopped;
  }

  start(): void {
    for (let i = 0; i < this.options.transfers; i++) this.submit(this.slots[i]!);
  }

  stop(): Promise<void> {
    if (!this.stopPromise) {
      this.stopping = true;
      this.stopPromise = new Promise<void>((resolve) => {
        this.resolveStop = resolve;
      });
      for (const slot of this.slots) slot.controller?.abort();
      this.settleIfDrained();
    }
    return this.stopPromise;
  }

  release(slot: TransferSlot): void {
    if (slot.state !== 'held') return; // a second release, or after stop: harmless
    slot.state = 'idle';
    this.counters.held--;
    if (this.stopping || this.deviceGone) return;
    if (this.counters.inFlight >= this.options.transfers) return; // a spare now, free for the next refill
    if (!this.hooks.connected()) {
      // The device left while JavaScript held this transfer: it must not reach whatever is plugged in now.
      this.failUnsubmitted(slot);
      return;
    }
    if (slot.status === TransferStatus.COMPLETED) {
      this.submit(slot);
      return;
    }
    // A failed transfer goes back on the next turn: a device failing every request must not spin the loop.
    slot.state = 'in-flight';
    this.counters.inFlight++;
    setImmediate(() => {
      this.counters.inFlight--;
      slot.state = 'idle';
      if (this.stopping) {
        this.settleIfDrained();
        return;
      }
      if (!this.hooks.connected()) {
        this.failUnsubmitted(slot);
        return;
      }
      this.submit(slot);
    });
  }

  /** A free slot goes out in place of one that completed well, before JavaScript sees the completion. */
  private refill(): void {
    if (this.counters.inFlight >= this.options.transfers || !this.hooks.connected()) return;
    const free = this.slots.find((s) => s.state === 'idle');
    if (free !== undefined) this.submit(free);
  }

  private submit(slot: TransferSlot): void {
    slot.state = 'in-flight';
    this.counters.inFlight++;
    this.sparesLow = Math.min(this.sparesLow, this.sparesFree);
    const controller = new AbortController();
    slot.controller = controller;
    slot.timedOut = false;
    const timeoutMs = this.options.type === 'iso' ? 0 : (this.options.timeoutMs ?? 0);
    if (timeoutMs > 0) {
      slot.timeout = setTimeout(() => {
        slot.timedOut = true;
        controller.abort();
      }, timeoutMs);
    }
    const signal = controller.signal;
    this.model
      .transfer(
        slot.iso
          ? { endpoint: this.options.endpoint, buffer: slot.buffer, iso: slot.iso, signal }
          : { endpoint: this.options.endpoint, buffer: slot.buffer, signal },
      )
      .then(
        (reply) => this.complete(slot, reply),
        () => this.complete(slot, { status: 'error', actualLength: 0, startFrame: 0 }),
      );
  }

  /** A transfer that was never submitted because the device is gone: it comes back NO_DEVICE, in order. */
  private failUnsubmitted(slot: TransferSlot): void {
    slot.state = 'in-flight';
    this.counters.inFlight++;
    slot.iso?.status.fill(TransferStatus.NO_DEVICE);
    slot.iso?.actual.fill(0);
    queueMicrotask(() => this.complete(slot, { status: 'no_device', actualLength: 0, startFrame: 0 }));
  }

  private complete(slot: TransferSlot, reply: EndpointReply): void {
    this.counters.inFlight--;
    slot.controller = null;
    if (slot.timeout !== null) {
      clearTimeout(slot.timeout);
      slot.timeout = null;
    }
    if (this.stopping) {
      slot.state = 'idle';
      this.settleIfDrained();
      return;
    }
    let status = STATUS_OF_REPLY[reply.status] ?? TransferStatus.ERROR;
    // Our own per-transfer timeout aborted it (the stream's own abort only happens while stopping).
    if (status === TransferStatus.CANCELLED && slot.timedOut) status = TransferStatus.TIMED_OUT;
    slot.status = status;
    slot.actualLength = Math.min(Math.max(0, reply.actualLength | 0), slot.buffer.length);
    slot.lostIntervals = Math.max(0, reply.missedIntervals ?? 0);
    slot.completedAtNs = Number(process.hrtime.bigint());
    this.counters.lostIntervals += slot.lostIntervals;
    slot.state = 'ready';
    this.counters.held++;
    if (status === TransferStatus.NO_DEVICE && !this.deviceGone) {
      this.deviceGone = true;
      this.hooks.onNoDevice();
    }
    // Only after a good completion: a failed one goes back through release() on the next turn (see above).
    if (!this.deviceGone && (status === TransferStatus.COMPLETED || status === TransferStatus.TIMED_OUT)) this.refill();
    // Immediates run in the order they were set: completions reach JavaScript in the order they came.
    setImmediate(() => this.handOver(slot));
  }

  private handOver(slot: TransferSlot): void {
    // stop() drops what JavaScript has not been handed yet (no callback runs once it resolves).
    if (this.stopping || slot.state !== 'ready') return;
    slot.state = 'held';
    slot.sequence = this.counters.completed++;
    try {
      this.onTransfer(slot);
    } catch (error) {
      // As with the addon, an exception in the callback is the program's own uncaught exception.
      surfaceUncaught(error);
    }
  }

  private settleIfDrained(): void {
    if (!this.stopping || this.counters.inFlight > 0 || this.isStopped) return;
    this.isStopped = true;
    for (const slot of this.slots) {
      if (slot.state === 'held' || slot.state === 'ready') slot.state = 'idle';
    }
    this.counters.held = 0;
    this.resolveStop?.();
    this.hooks.onStopped(this);
  }
}
