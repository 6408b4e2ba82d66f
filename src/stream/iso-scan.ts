import type { SlotScan } from '../transport/usb-transport.js';

/**
 * The JavaScript side of the native iso scan (native/iso_scan.cc, offered by the native transport as
 * `UsbTransport.isoScan`): the frame assembler's short path for a run of packets in one call. The scan's contract
 * is stated at the top of iso_scan.cc; this file holds the state block's layout (the same there) and the memory
 * the assembler lends it, made once per assembler so that a call allocates nothing.
 */

/**
 * Fields at the start of the scan's block (a Float64Array): in (the assembler's fixed options, written once; the
 * rest per call), in and out, out. Keep in step with `Field` in iso_scan.cc. The SCR sample rows follow them.
 */
export const ScanField = {
  // In, written once (ScanMemory.configure).
  REQUIRE_EOH: 0,
  MJPEG: 1,
  EXPECTED_SIZE: 2,
  INTERVAL_NS: 3,
  // In, per call.
  START: 4,
  COUNT: 5,
  STRIDE: 6,
  FID: 7,
  CAPACITY: 8,
  SLOT_BASE: 9,
  SOF_MODE: 10,
  HOST_GAP: 11,
  HAS_PTS: 12,
  PTS: 13,
  // In and out.
  FRAME_BYTES: 14,
  POSITION: 15,
  PTS_DUE: 16,
  LAST_SOF: 17,
  LAST_SOF_AT: 18,
  SOF_AGREED: 19,
  // Out.
  PAYLOADS: 20,
  BYTES: 21,
  PTS_OFFSET: 22,
  SAMPLES: 23,
  /** 1: the last packet taken ends the frame (EOF, or the exact size); the scan stopped right after it. */
  ENDED: 24,
  // scanSlots (UsbStream.scanSlots, native/iso_scan.cc).
  /** Out: the transfer of the run the scan stopped in (RUN_LENGTH when it took them all). */
  RUN: 25,
  /** In: transfers in the run. */
  RUN_LENGTH: 26,
} as const;

/** Numbers of state at the start of the block (the sample rows begin here). */
export const SCAN_FIELDS = 27;

/** Transfers one scanSlots call takes at most. */
export const SCAN_RUN_MAX = 64;

/** Numbers per SCR sample row: [packet index, STC, SOF, has data (0/1), frame bytes before the packet]. */
export const SCAN_ROW = 5;

/** SofMode as the scan takes it (state[SOF_MODE]). */
export const SCAN_SOF_MODE = { unknown: 0, consistent: 1, unusable: 2 } as const;

/** What the assembler's options fix for the scan: written into the block once, not per call. */
export interface ScanConfig {
  requireEoh: boolean;
  mjpeg: boolean;
  expectedSize: number;
  intervalNs: number;
}

/**
 * The scan's block: its state, then its SCR sample rows. One typed array, because each one an N-API call takes
 * costs it a look-up, and the scan runs once per transfer.
 */
export class ScanMemory {
  block = new Float64Array(SCAN_FIELDS + SCAN_ROW * 64);
  private config: ScanConfig | null = null;

  /** Writes the fields the assembler's options fix (kept when the block grows). */
  configure(config: ScanConfig): void {
    this.config = config;
    const block = this.block;
    block[ScanField.REQUIRE_EOH] = config.requireEoh ? 1 : 0;
    block[ScanField.MJPEG] = config.mjpeg ? 1 : 0;
    block[ScanField.EXPECTED_SIZE] = config.expectedSize;
    block[ScanField.INTERVAL_NS] = config.intervalNs;
  }

  /** Room for a sample row per packet of a transfer of `packets` packets (a scan never needs more). */
  reserve(packets: number): void {
    if (this.block.length >= SCAN_FIELDS + SCAN_ROW * packets) return;
    this.block = new Float64Array(SCAN_FIELDS + SCAN_ROW * packets);
    if (this.config !== null) this.configure(this.config);
  }
}

/**
 * The scan over runs of a stream's transfers (UsbStream.scanSlots, native/iso_scan.cc) and what it takes besides
 * the block: the run's slots and their packet counts (made once, refilled per run: the scan reads RUN_LENGTH of
 * them), and where the last run scan stopped.
 */
export class RunMemory {
  /** The running stream's scan (set while it runs; none: one scan per transfer). */
  scan: SlotScan | null = null;
  readonly slots = new Int32Array(SCAN_RUN_MAX);
  readonly counts = new Int32Array(SCAN_RUN_MAX);
  /** Where the last run scan stopped: the transfer's index in the caller's list, and that transfer's date. */
  stoppedIn = 0;
  stoppedInDate = 0;

  /** Forgets where it stopped (a new stream; the scan is the stream's business: VideoStream sets it). */
  clear(): void {
    this.stoppedIn = 0;
    this.stoppedInDate = 0;
  }
}
