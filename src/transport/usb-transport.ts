/**
 * The host side of the wire: what the driver needs from a USB stack. Two implementations stand behind it:
 * the native addon (libusb, real devices) and the in-process host that drives a device model (the virtual
 * camera). The driver above never knows which one it talks to.
 *
 * Conventions for every implementation:
 * - Failures are `UvcError`s with a POSIX code: STALL → 'EPIPE', timeout → 'ETIMEDOUT', device gone → 'ENODEV',
 *   use after close → 'EBADF', bad arguments → 'EINVAL', permission → 'EACCES', busy interface → 'EBUSY'.
 * - After the device is gone, every call fails with 'ENODEV' (close() still succeeds) and 'disconnect' has been
 *   emitted exactly once.
 * - When the device leaves, each stream hands over the transfers that completed before it left, in order, and
 *   then its transfers in flight come back NO_DEVICE. 'disconnect' may be emitted before those completions
 *   (libusb runs its hotplug callback before it reaps), so a driver with a stream running cancels its queue from
 *   that stream's first NO_DEVICE completion (uvcvideo cancels from the ESHUTDOWN completion), not from the event.
 *   Nothing is submitted after the device left, not even to a device plugged in meanwhile at the same address: a
 *   transfer released afterwards comes back NO_DEVICE without reaching the bus.
 * - A request in flight (a control transfer, a stream's transfers) keeps the process alive until it ends.
 * - Completions reach JavaScript from the event loop (libuv, or setImmediate in the in-process host), never inside
 *   release() nor as a promise continuation of the device's answer: a device that answers every transfer at once
 *   must not starve timers, I/O or signals.
 * - close() ends the control transfers still pending with 'ECANCELED' and stops every stream first.
 */
import type { UsbSpeed } from '../spec/usb.js';
import type { UvcError, UvcErrorCode } from '../errors.js';

/**
 * Most transfer memory one stream may hold (transfers × bytes per transfer); startStream fails EINVAL above it,
 * on every transport. Linux caps all usbfs transfers in flight, of every device and program, at usbfs_memory_mb
 * (16 MB by default), so one stream keeps to half of that and transfer sizing stays well below this.
 */
export const MAX_STREAM_BYTES = 8 * 1024 * 1024;

/**
 * Most memory one stream's spare transfers may hold (spareTransfers × bytes per transfer); startStream fails EINVAL
 * above it, on every transport. Spares are ordinary process memory (usbfs pins a buffer only while it is
 * submitted, in place of one that completed), so this bound only keeps a stall budget sane.
 */
export const MAX_SPARE_BYTES = 64 * 1024 * 1024;

/** Completion status of a transfer or of one iso packet: libusb's `enum libusb_transfer_status`, same numbers. */
export const TransferStatus = {
  COMPLETED: 0,
  ERROR: 1,
  TIMED_OUT: 2,
  CANCELLED: 3,
  STALL: 4,
  NO_DEVICE: 5,
  OVERFLOW: 6,
} as const;
export type TransferStatusCode = (typeof TransferStatus)[keyof typeof TransferStatus];

/** The stable error code of each non-success status. */
export const TRANSFER_STATUS_ERROR: Readonly<Record<TransferStatusCode, UvcErrorCode | null>> = {
  0: null,
  1: 'EIO',
  2: 'ETIMEDOUT',
  3: 'ECANCELED',
  4: 'EPIPE',
  5: 'ENODEV',
  6: 'EOVERFLOW',
};

export interface UsbDeviceInfo {
  busNumber: number;
  deviceAddress: number;
  /** Linux-style port path: bus, then the port numbers from the root hub, e.g. '1-2.3'. */
  portPath: string;
  vendorId: number;
  productId: number;
  speed: UsbSpeed;
}

/** The first five fields of a SETUP packet; wLength comes from the length or data of the call. */
export interface ControlSetup {
  bmRequestType: number;
  bRequest: number;
  wValue: number;
  wIndex: number;
}

export interface StreamOptions {
  /** IN endpoint address, e.g. 0x81. */
  endpoint: number;
  type: 'iso' | 'bulk' | 'interrupt';
  /** Transfers kept in flight. */
  transfers: number;
  /**
   * Transfer buffers beyond those in flight (default 0). When a transfer completes, the engine submits a free
   * one at once and hands the completed one to JavaScript, so the bus waits for JavaScript only once it holds
   * every spare too. Slots are numbered 0 … transfers + spareTransfers − 1.
   */
  spareTransfers?: number;
  /** iso: packets per transfer. */
  packetsPerTransfer?: number;
  /** iso: bytes reserved per packet (the alt setting's bytes per interval); packet i sits at i × packetSize. */
  packetSize?: number;
  /** bulk/interrupt: bytes per transfer. */
  transferSize?: number;
  /** bulk/interrupt: per-transfer timeout in ms; 0 or absent = none. */
  timeoutMs?: number;
  /**
   * When the transport calls back (native transport; the virtual one runs in-process and calls back per transfer
   * regardless). 'transfer' (default): as each transfer completes. 'uvc-frame': for a UVC video stream, when a
   * completion holds a frame edge (a payload header with EOF or ERR set, or the FID toggled where no EOF ended the frame before), a failure or a
   * disconnect, when free spares run low (over half of them waiting), and at the latest `wakeAfterMs` after the
   * first completion that is waiting: completions still arrive one by one, in order, only grouped.
   */
  wakeOn?: 'transfer' | 'uvc-frame';
  /** 'uvc-frame': the longest a completion waits for a frame edge, in ms (1–1000, default 20). */
  wakeAfterMs?: number;
  /**
   * Native transport, with zero copy (see StreamStats.zeroCopy): how many slots, the first ones, get usbfs memory
   * (0 … transfers + spareTransfers; default all). The engine hands those out first, so enough of them for what
   * circulates (those in flight and those JavaScript holds between two wakes) carry the steady stream without a
   * copy, and the others, spares for a stall, are used (and copied by usbfs) only while JavaScript holds more.
   * usbfs memory counts against a budget for the whole machine (usbfs_memory_mb, 16 MiB by default): fewer
   * leave room for other cameras. The virtual transport ignores it.
   */
  zeroCopyTransfers?: number;
}

/**
 * One completed transfer, handed to JavaScript once. `buffer` is the transfer's own memory (no copy); it is
 * valid until `release()`, after which the engine may resubmit it. Implementations may reuse one object per
 * slot: read what you need before releasing.
 */
export interface CompletedTransfer {
  /** Which transfer of the stream (0 … transfers − 1). */
  readonly slot: number;
  /** Counts completions handed to JavaScript on this stream, from 0. */
  readonly sequence: number;
  readonly status: TransferStatusCode;
  /** The transfer's whole buffer. iso: packet i starts at i × packetStride; bulk: data starts at 0. */
  readonly buffer: Uint8Array;
  /** bulk/interrupt: bytes received; iso: the sum of the packets' actual lengths. */
  readonly actualLength: number;
  /** iso only (0 otherwise). */
  readonly packetCount: number;
  readonly packetStride: number;
  /** iso: each packet's status (a TransferStatusCode) and actual length; valid for indexes < packetCount. */
  readonly packetStatus: Int32Array;
  readonly packetLength: Int32Array;
  /**
   * Bus intervals (1 ms frames at full speed, 125 µs microframes above) during which no transfer of this stream
   * was in flight before this one was submitted, because JavaScript held every buffer (spares included) or the
   * engine was backing off after failures: data the device sent then is lost. 0 when nothing was lost.
   */
  readonly lostIntervals: number;
  /** CLOCK_MONOTONIC time of completion in ns (the clock of process.hrtime). */
  readonly completedAtNs: number;
  /** Hand the transfer back for resubmission. Releasing twice, or after the stream stopped, is a harmless no-op. */
  release(): void;
}

export interface StreamStats {
  /** Completions handed to JavaScript. */
  completed: number;
  /** Transfers currently submitted to the device. */
  inFlight: number;
  /** Transfers JavaScript holds (completed, not yet released). */
  held: number;
  /** Total bus intervals with no transfer in flight (see CompletedTransfer.lostIntervals). */
  lostIntervals: number;
  /** Free transfer buffers now (the spares not in use), and the fewest since the start (0: JavaScript fell behind by all of them). */
  sparesFree?: number;
  sparesLow?: number;
  /** Native transport: how often the engine woke JavaScript for completions (see StreamOptions.wakeOn). */
  wakes?: number;
  /**
   * Native transport on Linux: the transfer buffers are usbfs memory, so the kernel neither allocates, clears nor
   * copies a buffer per transfer (zero copy; on by default on x86 only, UVC_USBFS_ZERO_COPY=0/1 overrides; false
   * when the usbfs budget, usbfs_memory_mb, was short).
   */
  zeroCopy?: boolean;
  /** Native transport: slots with usbfs memory (see StreamOptions.zeroCopyTransfers; 0 without zero copy). */
  zeroCopyTransfers?: number;
  /**
   * Native transport on Linux: transfers submitted in plain memory, whose data usbfs bounced and copied (all of them
   * without zero copy; with it, those JavaScript's holding pushed past the usbfs buffers).
   */
  copiedTransfers?: number;
}

export interface UsbStream {
  readonly options: Readonly<StreamOptions>;
  readonly stats: Readonly<StreamStats>;
  readonly stopped: boolean;
  /**
   * Set when the engine gave up: transfers failed at once (an error status or a failed submit, never a timeout)
   * streamFailureLimit(transfers) times in a row, resubmitted after a growing delay in between. The completion
   * that carries the last failure is the last one; the stream has stopped itself (stop() resolves).
   */
  readonly failure?: UvcError | undefined;
  /**
   * Cancel every transfer; resolves once all have come back. No callback runs after it resolves.
   * Idempotent: a second call returns the same promise.
   */
  stop(): Promise<void>;
  /** The assembler's iso scan over runs of this stream's own transfers, when the transport has it: see SlotScan. */
  readonly scanSlots?: SlotScan;
}

/**
 * Consecutive immediate transfer failures after which a stream gives up (see UsbStream.failure): at least 16,
 * and two rounds of every transfer in flight (one bus event can fail all of those at once).
 */
export function streamFailureLimit(transfers: number): number {
  return Math.max(16, 2 * transfers);
}

export type TransferCallback = (transfer: CompletedTransfer) => void;

/**
 * What a transport does with an exception thrown by its user's code (onTransfer, onTransfers, a 'disconnect'
 * listener): it becomes the program's own uncaught exception on the next tick, as one in any event listener
 * does, while the transport finishes its bookkeeping uncorrupted.
 */
export function surfaceUncaught(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

/**
 * Completions handed over together, in order: the first `count` of `transfers` (the transport's array, reused:
 * read it during the call only). Each is released by its holder, as with TransferCallback.
 */
export type TransfersCallback = (transfers: readonly CompletedTransfer[], count: number) => void;

/**
 * Copies the first `count` rows [sourceOffset, length, destinationOffset] of `table` from `source` into
 * `destination`, checking every row first (EINVAL when one is out of bounds: nothing is written). The native
 * transport offers the addon's C memcpy: the frame assembler hands it a run of packet payloads per call instead
 * of one TypedArray.set per packet.
 */
export type CopyRuns = (source: Uint8Array, destination: Uint8Array, table: Int32Array, count: number) => void;

/**
 * The frame assembler's iso short path in C (native/iso_scan.cc states the contract, src/stream/iso-scan.ts the
 * state block): walks the packets of `source` that continue the open frame, copying their payloads into `memory`,
 * and returns the index of the packet it stopped at. EINVAL on misuse (nothing written).
 */
export type IsoScan = (
  source: Uint8Array,
  lengths: Int32Array,
  statuses: Int32Array,
  memory: Uint8Array | null,
  block: Float64Array,
) => number;

/**
 * IsoScan over a run of a stream's iso transfers that follow one another on the bus (none failed, no bus time lost
 * between them), read in the stream's own memory: transfer k is the completion in slot slots[k] (held by the
 * caller), with counts[k] packets; the scan goes on from one to the next, and block[RUN] says which transfer it
 * stopped in. One call per run, and no view crosses to C per transfer. EINVAL on misuse (nothing written).
 */
export type SlotScan = (slots: Int32Array, counts: Int32Array, memory: Uint8Array | null, block: Float64Array) => number;

export interface UsbTransport {
  readonly kind: 'native' | 'virtual';
  readonly info: Readonly<UsbDeviceInfo>;
  /** False once close() was called. */
  readonly isOpen: boolean;
  /** True once the device has gone away. */
  readonly isDisconnected: boolean;

  /** Raw device descriptor (18 bytes), as read at open. */
  deviceDescriptor(): Uint8Array;
  /** Raw active configuration descriptor, all wTotalLength bytes the device returned. */
  configDescriptor(): Uint8Array;
  getStringDescriptor(index: number): Promise<string>;

  /** IN control transfer of up to `length` bytes; resolves with what the device sent (possibly shorter). */
  controlTransferIn(setup: ControlSetup, length: number, timeoutMs?: number): Promise<Uint8Array>;
  /** OUT control transfer; resolves with the number of bytes sent. */
  controlTransferOut(setup: ControlSetup, data: Uint8Array, timeoutMs?: number): Promise<number>;

  /** Claims an interface, first detaching a kernel driver bound to it (re-attached on release or close). */
  claimInterface(interfaceNumber: number): Promise<void>;
  releaseInterface(interfaceNumber: number): Promise<void>;
  setAltSetting(interfaceNumber: number, altSetting: number): Promise<void>;
  clearHalt(endpoint: number): Promise<void>;

  /**
   * Starts the stream engine on an IN endpoint. Throws EBUSY if a stream already runs on that endpoint, EINVAL
   * for a stream holding more than MAX_STREAM_BYTES of transfers. Each completion goes to `onTransfer`; a
   * transport whose engine hands several over at once (the native one: about a frame's worth per wake) gives
   * them, when `onTransfers` is given, to it in one call instead, except a completion that ends the stream
   * (NO_DEVICE, or the last before it gives up), which still goes to `onTransfer` alone, in order.
   */
  startStream(options: StreamOptions, onTransfer: TransferCallback, onTransfers?: TransfersCallback): UsbStream;

  /** A copy of transfer payloads into frame memory faster than TypedArray.set per packet, when the transport has one. */
  readonly copyRuns?: CopyRuns;
  /** The assembler's iso short path in C (with copyRuns), when the transport has one. */
  readonly isoScan?: IsoScan;

  on(event: 'disconnect', listener: () => void): this;
  off(event: 'disconnect', listener: () => void): this;
  once(event: 'disconnect', listener: () => void): this;

  /** Stops every stream, releases interfaces, re-attaches kernel drivers, frees the handle. Idempotent. */
  close(): Promise<void>;
}
