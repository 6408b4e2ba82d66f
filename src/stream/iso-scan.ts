/**
 * The JavaScript side of the native iso scan (native/iso_scan.cc, offered by the native transport as
 * `UsbTransport.isoScan`): the frame assembler's short path for a run of packets in one call. The scan's contract
 * is stated at the top of iso_scan.cc; this file holds the state block's layout (the same there) and the memory
 * the assembler lends it, made once per assembler so that a call allocates nothing.
 */

/**
 * Fields at the start of the scan's block (a Float64Array): in, in and out, out. Keep in step with `Field` in
 * iso_scan.cc. The SCR sample rows follow them.
 */
export const ScanField = {
  // In.
  START: 0,
  COUNT: 1,
  STRIDE: 2,
  FID: 3,
  REQUIRE_EOH: 4,
  MJPEG: 5,
  EXPECTED_SIZE: 6,
  CAPACITY: 7,
  INTERVAL_NS: 8,
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
} as const;

/** Numbers of state at the start of the block (the sample rows begin here). */
export const SCAN_FIELDS = 24;

/** SofMode as the scan takes it (state[SOF_MODE]). */
export const SCAN_SOF_MODE = { unknown: 0, consistent: 1, unusable: 2 } as const;

/**
 * The scan's block: its state, then its SCR sample rows ([packet index, has data, frame bytes] each). One typed
 * array, because each one an N-API call takes costs it a look-up, and the scan runs once per transfer.
 */
export class ScanMemory {
  block = new Float64Array(SCAN_FIELDS + 3 * 64);

  /** Room for a sample row per packet of a transfer of `packets` packets (a scan never needs more). */
  reserve(packets: number): void {
    if (this.block.length < SCAN_FIELDS + 3 * packets) this.block = new Float64Array(SCAN_FIELDS + 3 * packets);
  }
}
