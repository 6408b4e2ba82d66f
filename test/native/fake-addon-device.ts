/**
 * An in-memory stand-in for the addon's Device and Stream objects, to test the TypeScript layer
 * (NativeTransport, NativeStream) on its own: call order, error mapping, disconnect once, close semantics.
 * It says nothing about the native engine; test/native-device/ runs the real one.
 */
import type {
  AddonDevice,
  AddonDeviceInfo,
  AddonDispatch,
  AddonStream,
  AddonStreamOptions,
  AddonStreamSlot,
  AddonStreamStats,
} from '../../src/transport/native/addon-types.js';

export function nativeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class FakeAddonStream implements AddonStream {
  readonly slots: AddonStreamSlot[];
  readonly batch: Int32Array;
  readonly intervalNs = 125_000;
  readonly releases: Int32Array;
  readonly released: number[] = [];
  /** Each releaseList call's slots, in order (they are in `released` too). */
  readonly releaseLists: number[][] = [];
  stopCalls = 0;
  private sequence = 0;
  private batches = 0;
  private stopping = false;
  /** Resolves stop() (by default at once, as when every transfer is back). */
  settleStop: () => void = () => undefined;
  holdStop = false;

  constructor(
    readonly options: AddonStreamOptions,
    private readonly dispatch: AddonDispatch,
  ) {
    const iso = options.type === 'iso';
    const bytes = iso ? options.packetsPerTransfer! * options.packetSize! : options.transferSize!;
    const count = options.transfers + (options.spareTransfers ?? 0);
    this.slots = Array.from({ length: count }, () => ({
      record: new Float64Array(7),
      buffer: new Uint8Array(bytes),
      packetStatus: new Int32Array(iso ? options.packetsPerTransfer! : 0),
      packetLength: new Int32Array(iso ? options.packetsPerTransfer! : 0),
    }));
    this.batch = new Int32Array(count);
    this.releases = new Int32Array(count);
  }

  /** The engine completing transfers (it never dispatches once stopping, like the native one), one batch. */
  completeBatch(completions: { slot: number; status?: number; actualLength?: number; lostIntervals?: number; final?: boolean }[]): void {
    if (this.stopping) return;
    const packets = this.options.type === 'iso' ? this.options.packetsPerTransfer! : 0;
    completions.forEach((c, i) => {
      this.slots[c.slot]!.record.set([c.status ?? 0, c.actualLength ?? 0, packets, c.lostIntervals ?? 0, 123_456_789, this.sequence++, c.final ? 1 : 0]);
      this.batch[i] = c.slot;
    });
    this.batches++;
    this.dispatch(completions.length);
  }

  complete(slot: number, status = 0, actualLength = 0, lostIntervals = 0): void {
    this.completeBatch([{ slot, status, actualLength, lostIntervals }]);
  }

  release(slot: number): void {
    this.released.push(slot);
  }

  releaseList(count: number): void {
    const slots = [...this.releases.subarray(0, count)];
    this.releaseLists.push(slots);
    this.released.push(...slots);
  }

  stop(): Promise<void> {
    this.stopCalls++;
    this.stopping = true;
    if (!this.holdStop) return Promise.resolve();
    return new Promise((resolve) => (this.settleStop = resolve));
  }

  stats(): AddonStreamStats {
    return { completed: this.sequence, inFlight: 0, held: 0, lostIntervals: 0, sparesFree: 0, sparesLow: 0, starved: 0, failures: 0, goneDeferred: 0, notices: this.batches, zeroCopy: false, zeroCopySlots: 0, copied: 0 };
  }
}

type Handler = (...args: unknown[]) => Promise<unknown>;

export class FakeAddonDevice implements AddonDevice {
  readonly info: AddonDeviceInfo = {
    busNumber: 3,
    deviceAddress: 7,
    portPath: '3-1.4',
    vendorId: 0x1209,
    productId: 0x0001,
    speed: 'high',
    deviceDescriptor: Uint8Array.from([18, 1, 0, 2, 0xef, 2, 1, 64, 9, 0x12, 1, 0, 0, 1, 1, 2, 0, 1]),
    activeConfigValue: 1,
    activeConfigIndex: 0,
  };
  state: 'open' | 'closing' | 'closed' = 'open';
  gone = false;
  ondisconnect?: () => void;
  /** Every call, in the order the transport made it. */
  readonly calls: string[] = [];
  readonly streams: FakeAddonStream[] = [];
  /** Override to answer control transfers. */
  control: Handler = () => Promise.resolve(new Uint8Array(0));
  /** Override to delay or fail the blocking operations. */
  blocking: (name: string) => Promise<void> = () => Promise.resolve();
  startError: Error | undefined;

  controlTransfer(
    bmRequestType: number,
    bRequest: number,
    wValue: number,
    wIndex: number,
    dataOrLength: Uint8Array | number,
    timeoutMs: number,
  ): Promise<Uint8Array | number> {
    this.calls.push(`control ${bmRequestType.toString(16)} ${bRequest.toString(16)} ${wValue.toString(16)} ${wIndex}`);
    return this.control(bmRequestType, bRequest, wValue, wIndex, dataOrLength, timeoutMs) as Promise<Uint8Array | number>;
  }

  private op(name: string): Promise<void> {
    this.calls.push(`start ${name}`);
    return this.blocking(name).finally(() => this.calls.push(`end ${name}`));
  }

  claimInterface(n: number): Promise<void> {
    return this.op(`claim ${n}`);
  }

  releaseInterface(n: number): Promise<void> {
    return this.op(`release ${n}`);
  }

  setAltSetting(n: number, alt: number): Promise<void> {
    return this.op(`alt ${n} ${alt}`);
  }

  clearHalt(endpoint: number): Promise<void> {
    return this.op(`halt ${endpoint.toString(16)}`);
  }

  startStream(options: AddonStreamOptions, dispatch: AddonDispatch): AddonStream {
    this.calls.push(`stream ${options.endpoint.toString(16)}`);
    if (this.startError !== undefined) throw this.startError;
    const stream = new FakeAddonStream(options, dispatch);
    this.streams.push(stream);
    return stream;
  }

  /** What the addon's close does to the streams when it returns (drained, or abandoned with a leaked device). */
  onClose: () => void = () => undefined;

  close(): Promise<void> {
    this.calls.push('close');
    this.state = 'closed';
    this.onClose();
    return Promise.resolve();
  }

  /** The device goes away: the addon calls ondisconnect once. */
  unplug(): void {
    this.gone = true;
    this.ondisconnect?.();
  }
}
