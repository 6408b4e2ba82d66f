/**
 * UsbStream over the addon's stream engine. The engine owns the transfers and their memory; this side turns
 * each completion into a CompletedTransfer whose views (buffer, packetStatus, packetLength) are the slot's own,
 * made once per slot by the addon. The small CompletedTransfer object itself is new per completion, so that a
 * stale object's release() can never hand back a later completion of the same slot.
 *
 * lostIntervals is counted in the endpoint's service interval (`intervalNs`: the bus interval times the iso or
 * interrupt bInterval rule; one bus interval for bulk). For bulk nothing is lost on the wire (the device waits),
 * but the count still says how long the stream was starved.
 */
import type {
  CompletedTransfer,
  StreamOptions,
  StreamStats,
  TransferCallback,
  TransferStatusCode,
  UsbStream,
} from '../usb-transport.js';
import { TransferStatus } from '../usb-transport.js';
import type { AddonDevice, AddonStream, AddonStreamSlot } from './addon-types.js';
import { nativeCall, nativeCallSync } from './native-errors.js';

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
  private readonly raw: AddonStream;
  private readonly slots: readonly AddonStreamSlot[];
  /** Sequence of the completion each slot's holder got; -1 when JavaScript does not hold the slot. */
  private readonly heldSequence: Float64Array;
  private stopPromise: Promise<void> | undefined;
  private stopRequested = false;

  constructor(
    device: AddonDevice,
    options: StreamOptions,
    private readonly onTransfer: TransferCallback,
    private readonly host: StreamHost,
  ) {
    this.options = Object.freeze({ ...options });
    const { endpoint, type, transfers, packetsPerTransfer, packetSize, transferSize, timeoutMs } = options;
    this.raw = nativeCallSync(() =>
      device.startStream(
        { endpoint, type, transfers, packetsPerTransfer, packetSize, transferSize, timeoutMs },
        (slot, status, actualLength, packetCount, lostIntervals, completedAtNs, sequence) =>
          this.dispatch(slot, status, actualLength, packetCount, lostIntervals, completedAtNs, sequence),
      ),
    );
    this.slots = this.raw.slots;
    this.heldSequence = new Float64Array(this.slots.length).fill(-1);
  }

  get stats(): Readonly<StreamStats> {
    return this.raw.stats();
  }

  get stopped(): boolean {
    return this.stopRequested;
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
    this.raw.release(slot);
  }

  private dispatch(
    slot: number,
    status: number,
    actualLength: number,
    packetCount: number,
    lostIntervals: number,
    completedAtNs: number,
    sequence: number,
  ): void {
    if (this.stopRequested) return;  // the engine drops these already; this keeps the promise locally too
    const views = this.slots[slot]!;
    this.heldSequence[slot] = sequence;
    if (status === TransferStatus.NO_DEVICE) this.host.noteDisconnect();
    const transfer = new NativeCompletedTransfer(
      this,
      slot,
      sequence,
      status as TransferStatusCode,
      views.buffer,
      actualLength,
      packetCount,
      this.options.type === 'iso' ? (this.options.packetSize ?? 0) : 0,
      views.packetStatus,
      views.packetLength,
      lostIntervals,
      completedAtNs,
    );
    try {
      this.onTransfer(transfer);
    } catch (error) {
      // Like an exception in any event listener: it surfaces as uncaught, and the stream is not corrupted.
      process.nextTick(() => {
        throw error;
      });
    }
  }
}
