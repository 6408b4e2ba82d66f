/**
 * The raw surface of the native addon (native/addon.cc), typed. Only this folder talks to it; everything else
 * uses `UsbTransport`. Native errors are plain Errors with a POSIX `code` (and `libusbError` when libusb said
 * something); native-errors.ts turns them into UvcErrors.
 */
import type { UsbSpeed } from '../../spec/usb.js';

export interface AddonDeviceInfo {
  busNumber: number;
  deviceAddress: number;
  portPath: string;
  vendorId: number;
  productId: number;
  speed: UsbSpeed;
  /** The 18-byte device descriptor as libusb read it at enumeration. */
  deviceDescriptor: Uint8Array;
  /** bConfigurationValue of the active configuration; 0 when unconfigured. */
  activeConfigValue: number;
  /** Index of the active configuration for GET_DESCRIPTOR(CONFIGURATION); -1 when unconfigured. */
  activeConfigIndex: number;
}

/** Fields of a slot's completion record (RecordField in native/stream.h). */
export const RecordField = {
  STATUS: 0,
  ACTUAL_LENGTH: 1,
  PACKET_COUNT: 2,
  LOST_INTERVALS: 3,
  COMPLETED_AT_NS: 4,
  SEQUENCE: 5,
  /** 1: the engine gave up after this failure; the stream stopped itself. */
  FINAL: 6,
} as const;

/** One slot's views, made once per stream on the transfer's own memory. */
export interface AddonStreamSlot {
  /** The slot's last completion, written by the addon just before the dispatch that lists the slot. */
  record: Float64Array;
  buffer: Uint8Array;
  /** iso: one entry per packet; empty for bulk/interrupt. */
  packetStatus: Int32Array;
  packetLength: Int32Array;
}

export interface AddonStreamOptions {
  endpoint: number;
  type: 'iso' | 'bulk' | 'interrupt';
  transfers: number;
  spareTransfers?: number;
  packetsPerTransfer?: number;
  packetSize?: number;
  transferSize?: number;
  timeoutMs?: number;
  wakeOn?: 'transfer' | 'uvc-frame';
  wakeAfterMs?: number;
  zeroCopyTransfers?: number;
}

/**
 * Called on the JavaScript thread with the completions that are ready: `count` slot indexes in the stream's
 * `batch` array, in completion order, each slot's `record` filled in.
 */
export type AddonDispatch = (count: number) => void;

export interface AddonStreamStats {
  completed: number;
  inFlight: number;
  held: number;
  lostIntervals: number;
  sparesFree: number;
  sparesLow: number;
  /** Times nothing was in flight because JavaScript held every slot. */
  starved: number;
  /** Failed completions and submits. */
  failures: number;
  /** Resubmits refused because the device left, whose NO_DEVICE completion waited for the transfers in flight. */
  goneDeferred: number;
  /** Times the engine woke JavaScript for ready completions. */
  notices: number;
  /** The slots' buffers are usbfs memory: the kernel neither bounces nor copies the data (native/stream.h, "Zero copy"). */
  zeroCopy: boolean;
  /** How many slots (the first ones) have usbfs memory. */
  zeroCopySlots: number;
  /** Submits of a slot in plain memory (usbfs bounced and copied its data). */
  copied: number;
}

export interface AddonStream {
  readonly slots: readonly AddonStreamSlot[];
  /** Which slots one dispatch carries (its first `count` entries). */
  readonly batch: Int32Array;
  /** The endpoint's service interval in ns (bus interval × its bInterval rule): the unit of lostIntervals. */
  readonly intervalNs: number;
  release(slot: number): void;
  /** Slots to hand back together: the first `count` entries, for releaseList. */
  readonly releases: Int32Array;
  /** release() for each of the first `count` slots of `releases`, under one lock, with one refill. */
  releaseList(count: number): void;
  /** Cancels what is in flight; resolves once every transfer came back (then no dispatch happens any more). */
  stop(): Promise<void>;
  stats(): AddonStreamStats;
  /**
   * The assembler's iso scan over a run of this stream's slots (see SlotScan in usb-transport.ts). EINVAL on
   * misuse. (The addon's streams have it; without it, a stand-in's, the assembler scans transfer by transfer.)
   */
  scanSlots?(slots: Int32Array, counts: Int32Array, memory: Uint8Array | null, block: Float64Array): number;
}

export interface AddonDevice {
  readonly info: AddonDeviceInfo;
  readonly state: 'open' | 'closing' | 'closed';
  readonly gone: boolean;
  /** Called (once) when the device goes away: a NO_DEVICE result, a failed call, or a hotplug event. */
  ondisconnect?: () => void;
  controlTransfer(
    bmRequestType: number,
    bRequest: number,
    wValue: number,
    wIndex: number,
    dataOrLength: Uint8Array | number,
    timeoutMs: number,
  ): Promise<Uint8Array | number>;
  claimInterface(interfaceNumber: number): Promise<void>;
  releaseInterface(interfaceNumber: number): Promise<void>;
  setAltSetting(interfaceNumber: number, altSetting: number): Promise<void>;
  clearHalt(endpoint: number): Promise<void>;
  startStream(options: AddonStreamOptions, dispatch: AddonDispatch): AddonStream;
  close(): Promise<void>;
}

export interface NativeAddon {
  openDevice(busNumber: number, deviceAddress: number): Promise<AddonDevice>;
  openDeviceByPort(busNumber: number, ports: number[]): Promise<AddonDevice>;
  libusbVersion(): string;
  /**
   * For the benchmark only: C memcpy of slices, rows of [source, sourceOffset, length, destination,
   * destinationOffset] in `table` (the baseline the frame assembler is measured against). EINVAL out of bounds.
   */
  memcpySlices(sources: ArrayBuffer[], destinations: ArrayBuffer[], table: Int32Array): void;
  /** The frame assembler's copy in C (see CopyRuns in usb-transport.ts). EINVAL when a row is out of bounds. */
  copyRuns(source: Uint8Array, destination: Uint8Array, table: Int32Array, count: number): void;
  /** The frame assembler's iso short path in C (see IsoScan in usb-transport.ts). EINVAL on misuse. */
  isoScan(source: Uint8Array, lengths: Int32Array, statuses: Int32Array, memory: Uint8Array | null, block: Float64Array): number;
  /**
   * For tests and the benchmark: memory laid out as an iso stream's slots (`slots` of `packets` × `packetSize`),
   * with the stream's scan over it (AddonStream.scanSlots), for transfers that are no stream's. EINVAL on misuse.
   */
  slotMemory(slots: number, packets: number, packetSize: number): { slots: Omit<AddonStreamSlot, 'record'>[]; scanSlots: NonNullable<AddonStream['scanSlots']> };
  /** Native objects alive in the process (devices, streams, transfer memory blocks): for leak tests. */
  liveObjects(): { devices: number; streams: number; blocks: number };
  /** Exposed for instanceof checks only: constructing them from JavaScript throws EINVAL. */
  Device: new () => AddonDevice;
  Stream: new () => AddonStream;
}
