/**
 * UsbStream over the addon's stream engine. The engine owns the transfers and their memory; this side turns
 * each completion into a CompletedTransfer whose views (buffer, packetStatus, packetLength) are the slot's own,
 * made once per slot by the addon. The addon calls in once per batch of ready completions (their records are
 * in the block, next to the data): no per-completion arguments cross N-API. The small CompletedTransfer object
 * itself is new per completion, so that a stale object's release() can never hand back a later completion of the
 * same slot.
 *
 * lostIntervals is counted in the endpoint's service interval (`intervalNs`: the bus interval times the iso or
 * interrupt bInterval rule; one bus interval for bulk). For bulk nothing is lost on the wire (the device waits),
 * but the count still says how long the stream was starved.
 */
import { debuglog } from 'node:util';
import { uvcError, type UvcError } from '../../errors.js';
import type {
  CompletedTransfer,
  StreamOptions,
  StreamStats,
  TransferCallback,
  SlotScan,
  TransfersCallback,
  TransferStatusCode,
  UsbStream,
} from '../usb-transport.js';
import { TRANSFER_STATUS_ERROR, TransferStatus, streamFailureLimit, surfaceUncaught } from '../usb-transport.js';
import { RecordField, type AddonDevice, type AddonStream, type AddonStreamSlot } from './addon-types.js';
import { nativeCall, nativeCallSync } from './native-errors.js';

const trace = debuglog('uvc');

class NativeCompletedTransfer implements CompletedTransfer {
  constructor(
    private readonly owner: NativeStream,
    readonly slot: number,
    readonly sequence: number,
    readonly status: TransferStatusCode,
    readonly buffer: Uint8Array,
    readonly actualLength: number,
    readonly packetCount: number,
    readonly packetStride: number,
    readonly packetStatus: Int32Array,
    readonly packetLength: Int32Array,
    readonly lostIntervals: number,
    readonly completedAtNs: number,
  ) {}

  release(): void {
    this.owner.releaseSlot(this.slot, this.sequence);
  }
}

export interface StreamHost {
  /** A completion said the device is gone. */
  noteDisconnect(): void;
  /** The stream stopped and drained. */
  forgetStream(stream: NativeStream): void;
}

export class NativeStream implements UsbStream {
  readonly options: Readonly<StreamOptions>;
  /** iso: the assembler's scan over runs of this stream's slots, in the addon's memory. */
  readonly scanSlots?: SlotScan;
  private readonly raw: AddonStream;
  private readonly slots: readonly AddonStreamSlot[];
  private readonly batch: Int32Array;
  private readonly packetStride: number;
  /** Sequence of the completion each slot's holder got; -1 when JavaScript does not hold the slot. */
  private readonly heldSequence: Float64Array;
  private stopPromise: Promise<void> | undefined;
  private stopRequested = false;
  private failed: UvcError | undefined;
  /** The first NO_DEVICE completion was traced (NODE_DEBUG=uvc). */
  private goneTraced = false;
  /**
   * While a dispatch runs, releases are collected in the addon's `releases` list and handed back together when it
   * returns (one call into the addon and one lock per dispatch, i.e. per frame when woken per frame, instead of
   * one per transfer); a release at any other time goes at once.
   */
  private dispatching = false;
  private pendingReleases = 0;

  constructor(
    device: AddonDevice,
    options: StreamOptions,
    private readonly onTransfer: TransferCallback,
    private readonly host: StreamHost,
    private readonly onTransfers?: TransfersCallback,
  ) {
    this.options = Object.freeze({ ...options });
    const { endpoint, type, transfers, spareTransfers, packetsPerTransfer, packetSize, transferSize, timeoutMs, wakeOn, wakeAfterMs, zeroCopyTransfers } =
      options;
    this.raw = nativeCallSync(() =>
      device.startStream(
        { endpoint, type, transfers, spareTransfers, packetsPerTransfer, packetSize, transferSize, timeoutMs, wakeOn, wakeAfterMs, zeroCopyTransfers },
        (count) => this.dispatch(count),
      ),
    );
    this.slots = this.raw.slots;
    const raw = this.raw;
    const scanSlots = raw.scanSlots;
    if (type === 'iso' && typeof scanSlots === 'function') {
      this.scanSlots = (slots, counts, memory, block) => scanSlots.call(raw, slots, counts, memory, block);
    }
    this.batch = this.raw.batch;
    this.packetStride = type === 'iso' ? (packetSize ?? 0) : 0;
    this.heldSequence = new Float64Array(this.slots.length).fill(-1);
    if (trace.enabled) {
      const { zeroCopy, zeroCopySlots } = this.raw.stats();
      const copy = zeroCopy
        ? `zero copy (usbfs buffers for ${zeroCopySlots} of them, handed out first)`
        : 'usbfs copies each transfer (zero copy: off by UVC_USBFS_ZERO_COPY=0, not x86 without =1, or the usbfs budget was short)';
      trace(`endpoint 0x${endpoint.toString(16)}: ${this.slots.length} transfer buffers, ${copy}`);
    }
  }

  get stats(): Readonly<StreamStats> {
    const raw = this.raw.stats();
    const { completed, inFlight, held, lostIntervals, sparesFree, sparesLow, zeroCopy } = raw;
    return { completed, inFlight, held, lostIntervals, sparesFree, sparesLow, wakes: raw.notices, zeroCopy, zeroCopyTransfers: raw.zeroCopySlots, copiedTransfers: raw.copied };
  }

  get stopped(): boolean {
    return this.stopRequested;
  }

  get failure(): UvcError | undefined {
    return this.failed;
  }

  /** The endpoint's service interval in ns: what one lost interval is worth. */
  get intervalNs(): number {
    return this.raw.intervalNs;
  }

  stop(): Promise<void> {
    if (this.stopPromise === undefined) {
      this.stopRequested = true;
      this.heldSequence.fill(-1);
      this.stopPromise = nativeCall(() => this.raw.stop()).finally(() => this.host.forgetStream(this));
    }
    return this.stopPromise;
  }

  /** Called by CompletedTransfer.release(): only the current holder of a slot can hand it back. */
  releaseSlot(slot: number, sequence: number): void {
    if (this.heldSequence[slot] !== sequence) return;
    this.heldSequence[slot] = -1;
    if (this.dispatching) {
      this.raw.releases[this.pendingReleases++] = slot;
    } else {
      this.raw.release(slot);
    }
  }

  /** Hands back what was released during a dispatch. */
  private flushReleases(): void {
    const count = this.pendingReleases;
    this.pendingReleases = 0;
    if (count > 0) this.raw.releaseList(count);
  }

  private dispatch(count: number): void {
    const outer = this.dispatching; // (a nested dispatch leaves the flush to the outer one)
    this.dispatching = true;
    try {
      this.dispatchBatch(count);
    } finally {
      this.dispatching = outer;
      if (!outer) this.flushReleases();
    }
  }

  /**
   * With onTransfers: the batch's completions go to it together (gathered in `together`), except one that ends
   * the stream (NO_DEVICE, or final), which goes to onTransfer alone after those before it, as without.
   */
  private dispatchBatch(count: number): void {
    const together = this.onTransfers === undefined ? null : this.together;
    let gathered = 0;
    for (let i = 0; i < count; i++) {
      if (this.stopRequested) break; // the engine drops these already; this keeps the promise locally too
      const slot = this.batch[i]!;
      const views = this.slots[slot]!;
      const record = views.record;
      const status = record[RecordField.STATUS]! as TransferStatusCode;
      const sequence = record[RecordField.SEQUENCE]!;
      this.heldSequence[slot] = sequence;
      if (status === TransferStatus.NO_DEVICE) {
        if (trace.enabled && !this.goneTraced) {
          this.goneTraced = true;
          const held = this.raw.stats().goneDeferred;
          trace(`endpoint 0x${this.options.endpoint.toString(16)}: the device left (a transfer came back NO_DEVICE; resubmits refused meanwhile and held behind the transfers in flight: ${held})`);
        }
        this.host.noteDisconnect();
      }
      const final = record[RecordField.FINAL] === 1;
      if (final) {
        const code = TRANSFER_STATUS_ERROR[status] ?? 'EIO';
        this.failed = uvcError(
          code,
          `the stream on endpoint 0x${this.options.endpoint.toString(16).padStart(2, '0')} gave up: ${streamFailureLimit(this.options.transfers)} transfers in a row failed at once (the last with ${code})`,
        );
      }
      const transfer = new NativeCompletedTransfer(
        this,
        slot,
        sequence,
        status,
        views.buffer,
        record[RecordField.ACTUAL_LENGTH]!,
        record[RecordField.PACKET_COUNT]!,
        this.packetStride,
        views.packetStatus,
        views.packetLength,
        record[RecordField.LOST_INTERVALS]!,
        record[RecordField.COMPLETED_AT_NS]!,
      );
      if (together !== null && status !== TransferStatus.NO_DEVICE && !final) {
        together[gathered++] = transfer;
        continue;
      }
      if (gathered > 0) {
        this.handOver(together!, gathered);
        gathered = 0;
      }
      this.deliver(transfer);
      // The engine stopped itself; stop() settles once its transfers are back.
      if (final) this.stop().catch(() => undefined);
    }
    if (gathered > 0) this.handOver(together!, gathered);
  }

  /** Completions gathered for onTransfers (reused: one array per stream; emptied after each hand-over). */
  private readonly together: (NativeCompletedTransfer | undefined)[] = [];

  private deliver(transfer: NativeCompletedTransfer): void {
    try {
      this.onTransfer(transfer);
    } catch (error) {
      // Like an exception in any event listener: it surfaces as uncaught, and the stream is not corrupted.
      surfaceUncaught(error);
    }
  }

  /** Gives the first `count` gathered completions to onTransfers, then empties their places. */
  private handOver(together: (NativeCompletedTransfer | undefined)[], count: number): void {
    try {
      this.onTransfers!(together as readonly CompletedTransfer[], count);
    } catch (error) {
      surfaceUncaught(error);
    } finally {
      together.fill(undefined, 0, count);
    }
  }
}
