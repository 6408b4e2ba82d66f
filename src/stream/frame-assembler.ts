/**
 * Turns transport completions into frames: reads each payload header, finds frame boundaries, and copies the
 * payload data once, straight into the memory of the queue's active buffer (uvc_video.c's decode_start /
 * decode_data / decode_end, for iso and bulk).
 *
 * Frame boundaries. A frame begins at the first payload whose FID differs from the current frame's, and ends at
 * EOF, at the next FID change, at overflow, or (uncompressed) when exactly the expected frame size has arrived.
 * Cameras that bend the rules are handled without quirk tables, by what they are seen to do (learned only from
 * frames that arrived whole, and kept as `framing.fid`, shown in stats as `fidMode`):
 * - never set EOF: frames end at the FID change;
 * - never toggle FID ('unknown' stays): after a frame ended (EOF or full size), the next payload with data
 *   begins a new frame. Same-FID data after a frame's end is dropped as stray only once the camera has shown
 *   that it toggles FID ('toggles');
 * - send the last payload of a frame with the next frame's FID ('late'): a payload that switches FID while a
 *   frame is open is taken as that frame's tail when it carries EOF and does not look like a frame start (no
 *   JPEG SOI, no H.264 start code), or when it completes an uncompressed frame to the byte. Once learned, tails
 *   are recognised after losses too, and a tail arriving with no frame open (its frame lost) begins nothing.
 *
 * Errors, from the device's own evidence only (issue 12). A frame is flagged when a payload has the ERR bit, a
 * packet or transfer failed, a header was invalid, the data overflowed the buffer, an uncompressed frame is not
 * exactly the expected size, an MJPEG frame lacks SOI or EOI (zero padding after EOI allowed; H.264: a start
 * code), its PTS changed inside it, or the SCR's SOF counter jumped over bus time none of our packets covered.
 * A loss just before a frame makes its start unsure: it is flagged unless the boundary before it was seen (a FID
 * change, the previous frame's EOF) and its start mark is there (exact size, SOI and EOI, a start code); data
 * lost after a JPEG's EOI is not the JPEG's. Bus intervals the host's clock saw pass with no transfer in flight
 * (CompletedTransfer.lostIntervals) are counted and traced, and not evidence when the camera's headers carry a
 * usable SOF (it decides) or the camera is behind USB/IP: there, or whenever completions arrive late, they are
 * not the device's bus time. They then only keep the next payload from teaching anything, and confirm a SOF
 * jump too small for the counter's 1 ms resolution. From a camera without SCR on this host's own bus they are
 * the only witness, and count as lost bus time. `sequence` advances
 * at every frame boundary, with or without a buffer, and by the frame boundaries lost bus time held, when the
 * device shows it (a SOF jump, a failed transfer; sized by the lost time, its parity by the FID, a new PTS with
 * the old FID), so a gap in sequence means lost frames. `NODE_DEBUG=uvc` traces every frame end, flag and drop
 * with its reason, and what was learned (FID mode, SOF mode), with the bus kind (assembly-trace.ts).
 *
 * State. Every mutable field lives in one of these records, each with one place that begins or clears it:
 * `frame` (the frame being assembled), `target` (the queue buffer it goes into, kept across frames that end
 * without using it), `sync` (where the stream stands between frames: FID, sequence, losses not yet settled),
 * `framing` (what was learned about the camera), `payload` (bulk: the payload being received), `packet` (the
 * packet in hand), `busTime` (iso: the SOF counter against our packet slots), `views` (cached subarray views
 * per transfer slot), `runs` (copies noted by the short path, made per run with copyRuns), `scan` (the block
 * lent to the native short path), `run` (the stream's slot scan and where it stopped) and `timing` (timestamps,
 * frame-timing.ts).
 *
 * Cost per packet: a few byte reads and one TypedArray.set from a cached subarray view (the views are kept
 * per transfer slot and packet, so steady streaming allocates nothing per packet); packets that simply
 * continue the open frame take a short path, which shares the header check and the view cache with the long
 * one (a property test holds the two to the same results). With the transport's copyRuns (the native addon),
 * the short path only notes each payload as a row [offset, length, position] in `runs` and copies the run in
 * one call to C memcpy before anything else happens to the frame: before the long path, before the frame ends,
 * and at the end of the transfer (its buffer is released right after). With the transport's isoScan as well (the
 * native addon, native/iso_scan.cc), the short path itself runs in C: one call takes the packets that continue the
 * open frame, copying each into the frame buffer, and stops in front of any other packet, which JavaScript takes
 * down the paths above before calling the scan again (scanTransfers); a packet that plainly ends the frame (EOF,
 * or the exact size) it takes, then stops, and JavaScript ends the frame as the long path would. The scan changes
 * only what the short path would (counters, frame bytes, position, the PTS check, the SOF it saw), and hands back
 * the SCR samples, read, for the clock. With the running stream's slot scan (useSlotScan: UsbStream.scanSlots) and
 * transfers handed over together (processTransfers), one call goes on from transfer to transfer, reading them in
 * the stream's own memory; JavaScript then dates and finishes each transfer it went past, in bus order.
 */
import { PayloadHeader } from '../spec/uvc.js';
import { TransferStatus, type CompletedTransfer, type CopyRuns, type IsoScan, type SlotScan } from '../transport/usb-transport.js';
import type { CompletedFrame } from '../queue/buffer-queue.js';
import type { VideoBuffer } from '../queue/video-buffer.js';
import type { ClockRecovery } from './clock-recovery.js';
import { describeFlags, FrameFlag, trace, traceEnabled } from './assembly-trace.js';
import { FrameTiming, type TimestampStats } from './frame-timing.js';
import { RunMemory, ScanField, ScanMemory, SCAN_FIELDS, SCAN_ROW, SCAN_RUN_MAX, SCAN_SOF_MODE } from './iso-scan.js';
import { checkPayloadHeader } from './payload-header.js';

/** What the stream carries, as far as assembly cares. */
export type VideoFormatKind = 'uncompressed' | 'mjpeg' | 'h264' | 'compressed';

/**
 * What was learned about the camera's FID: 'unknown' (no change seen yet; a camera that never toggles FID stays
 * here), 'changes' (it changes, how is not settled yet), 'toggles' (it toggles between frames: same-FID data
 * after a frame's end is stray), 'late' (it switches FID with a frame's last payload).
 */
export type FidMode = 'unknown' | 'changes' | 'toggles' | 'late';

/**
 * Where the camera is: on a local USB bus ('local'), behind USB/IP's vhci_hcd ('usbip'), the in-process host
 * ('virtual'), or not known. Reported in stats and the trace: behind USB/IP the host's clock says nothing about
 * the device's bus, which is why host-side idle time is never taken as evidence of loss (issue 12).
 */
export type BusKind = 'local' | 'usbip' | 'virtual' | 'unknown';

/**
 * What was learned about the SCR's SOF counter: 'unknown' (not enough samples), 'consistent' (it advances with
 * the bus time our packets cover: a jump past that is evidence of lost bus time), 'unusable' (it does not: some
 * devices put something else there, UVC_QUIRK_INVALID_DEVICE_SOF).
 */
export type SofMode = 'unknown' | 'consistent' | 'unusable';

/** The part of BufferQueue the assembler drives (the driver side). */
export interface FrameSink {
  nextBuffer(): VideoBuffer | null;
  isActive(buffer: VideoBuffer, activation: number): boolean;
  completeBuffer(buffer: VideoBuffer, frame: CompletedFrame): boolean;
  requeueBuffer(buffer: VideoBuffer): boolean;
}

export interface FrameAssemblerOptions {
  formatKind: VideoFormatKind;
  transferType: 'iso' | 'bulk';
  /** Uncompressed formats: the exact size of a frame (width × height × bytes per pixel). 0 or absent: unknown. */
  expectedFrameSize?: number;
  /** Bulk: dwMaxPayloadTransferSize (a payload ends after this many bytes, header included). */
  maxPayloadSize?: number;
  /** Bulk: bytes asked for per transfer (a shorter completion ends the payload). */
  transferSize?: number;
  /** Iso: the service interval in ns, to date packets inside a transfer and to size lost gaps. */
  intervalNs?: number;
  /** dwClockFrequency: enables PTS → host time translation when headers carry PTS and SCR. */
  clockFrequency?: number;
  /** Nominal frame interval (dwFrameInterval × 100 ns): lets a back-pressure gap advance `sequence`. */
  frameIntervalNs?: number;
  /** Drop frames that end in error instead of returning them flagged. Default false. */
  dropErroredFrames?: boolean;
  /** Refuse headers without EOH (see checkPayloadHeader). Default false. */
  requireEoh?: boolean;
  /** Translate device PTS to host time (needs clockFrequency). Default true. */
  hardwareTimestamps?: boolean;
  /** Where the camera is (stats and trace only). Default 'unknown'. */
  bus?: BusKind;
  /** The SCR's SOF field is not the bus SOF (quirk invalid-device-sof): never take it as evidence. */
  deviceSofInvalid?: boolean;
  /** MJPEG frames may lack EOF (quirk mjpeg-no-eof): a payload starting with SOI ends the open frame. */
  mjpegNoEof?: boolean;
  /** The camera never toggles FID (quirk stream-no-fid): EOF alone ends frames, FID changes are not learned. */
  streamNoFid?: boolean;
  /** @internal Tests only: false sends every packet down the long path (the short one must agree with it). */
  shortPath?: boolean;
  /**
   * The transport's batched copy (the native addon's C memcpy): the short path then gathers the payloads of the
   * packets it takes into rows and copies each run in one call, instead of one TypedArray.set per packet.
   */
  copyRuns?: CopyRuns;
  /**
   * The transport's iso short path in C (the native addon's isoScan, native/iso_scan.cc): runs of packets that
   * continue the open frame are checked and copied in one call per run instead of packet by packet in JavaScript.
   */
  isoScan?: IsoScan;
}

export interface AssemblerStats {
  /** Frames handed to the queue (good and flagged). */
  frames: number;
  /** Frames that ended in error (returned flagged, or discarded with dropErroredFrames). */
  erroredFrames: number;
  /** Errored frames discarded because of dropErroredFrames. */
  discardedFrames: number;
  /** Frames lost: no buffer was queued, all their data was lost, or a back-pressure gap swallowed them. */
  droppedFrames: number;
  /** Frame boundaries the camera sent no data for. */
  emptyFrames: number;
  /** Frames whose buffer was taken back (streamoff, cancel, disconnect) before they completed. */
  cancelledFrames: number;
  /** Payloads whose header was refused (the packet is dropped). */
  invalidHeaders: number;
  /** Payloads dropped because their FID belongs to a frame that already ended. */
  outOfSyncPayloads: number;
  /** Iso packets and transfers that completed with an error status. */
  lostPackets: number;
  /**
   * Bus intervals the host's clock says passed with no transfer in flight (CompletedTransfer.lostIntervals).
   * Reported only: over USB/IP (and with late completions anywhere) it is not the device's bus time, so it never
   * flags a frame or moves `sequence` by itself; see busGapIntervals for the device's own evidence.
   */
  lostIntervals: number;
  /** Bus intervals the SCR's SOF counter showed passing with none of our packets covering them (iso). */
  busGapIntervals: number;
  /** Payloads with the ERR bit set. */
  errorBits: number;
  /** Frames that overflowed their buffer. */
  overflows: number;
  /** Uncompressed frames that were not exactly the expected size. */
  sizeMismatches: number;
  /** Payloads with a valid header. */
  payloads: number;
  /** Payload bytes received (headers excluded), also those of dropped frames. */
  bytes: number;
  /** Frames timestamped from the device clock (PTS + SCR) rather than packet arrival. */
  deviceTimestamps: number;
  /** What was learned about the camera's FID (see FidMode). */
  fidMode: FidMode;
  /** What was learned about the SCR's SOF counter (see SofMode). */
  sofMode: SofMode;
  /** Where the camera is (see BusKind). */
  bus: BusKind;
}

function emptyStats(): AssemblerStats {
  return {
    frames: 0,
    erroredFrames: 0,
    discardedFrames: 0,
    droppedFrames: 0,
    emptyFrames: 0,
    cancelledFrames: 0,
    invalidHeaders: 0,
    outOfSyncPayloads: 0,
    lostPackets: 0,
    lostIntervals: 0,
    errorBits: 0,
    overflows: 0,
    sizeMismatches: 0,
    payloads: 0,
    bytes: 0,
    deviceTimestamps: 0,
    fidMode: 'unknown',
    sofMode: 'unknown',
    bus: 'unknown',
    busGapIntervals: 0,
  };
}

/** How a frame ended: EOF, a FID change, its exact size, a tail payload, overflow, a JPEG SOI, a new PTS. */
type FrameEnd = 'eof' | 'fid' | 'size' | 'tail' | 'overflow' | 'soi' | 'pts';

// ------------------------------------------------------------------------------------------------ the records

/** The frame being assembled: begun at its first payload, cleared when it ends. */
class OpenFrame {
  open = false;
  /** Its `sequence` (sync.sequence when it began). */
  sequence = 0;
  /** Payload bytes received for it, also those not stored (no buffer, overflow). */
  bytes = 0;
  /** It will be returned flagged; `flags` says why (FrameFlag bits). */
  error = false;
  flags = 0;
  /** It lost data (or may have lost its start): its size says nothing about where it ends. */
  damaged = false;
  /** It lost data while open (not just maybe before its start); `bytes` when that first happened. */
  lost = false;
  lostFrom = 0;
  /**
   * The boundary before it was seen (a FID change from a camera that toggles before a frame, or the previous
   * frame's EOF, tail or exact size): if its start mark is there too, nothing lost before it was its own.
   */
  cleanStart = false;
  /** The payload in hand is this frame's tail, sent with the next frame's FID. */
  tail = false;

  begin(sequence: number, lossBefore: boolean, cleanStart: boolean): void {
    this.open = true;
    this.sequence = sequence;
    this.bytes = 0;
    this.error = lossBefore;
    this.flags = lossBefore ? FrameFlag.START_UNSURE : 0;
    this.damaged = lossBefore;
    this.lost = false;
    this.lostFrom = 0;
    this.cleanStart = cleanStart;
    this.tail = false;
  }

  clear(): void {
    this.open = false;
    this.bytes = 0;
    this.error = false;
    this.flags = 0;
    this.damaged = false;
    this.lost = false;
    this.lostFrom = 0;
    this.cleanStart = false;
    this.tail = false;
  }

  flag(reason: number): void {
    this.error = true;
    this.flags |= reason;
  }

  /** Data of this frame was lost (a failed packet, a refused header, lost bus time, overflow). */
  lose(reason: number): void {
    this.flag(reason);
    this.damaged = true;
    if (!this.lost) this.lostFrom = this.bytes;
    this.lost = true;
  }
}

/** The queue buffer the frame goes into. Kept across frames that end without using it (empty, discarded). */
class Target {
  buffer: VideoBuffer | null = null;
  /** The buffer's activation when we took it: the queue may take it back (streamoff) and hand it out again. */
  activation = 0;
  memory: Uint8Array | null = null;
  capacity = 0;
  /** Bytes written into memory. */
  position = 0;

  take(buffer: VideoBuffer | null): void {
    this.buffer = buffer;
    this.activation = buffer === null ? 0 : buffer._activation;
    this.memory = buffer === null ? null : buffer.memory;
    this.capacity = buffer === null ? 0 : buffer.length;
    this.position = 0;
  }

  clear(): void {
    this.buffer = null;
    this.activation = 0;
    this.memory = null;
    this.capacity = 0;
    this.position = 0;
  }
}

/** Where the stream stands between and across frames. */
class SyncState {
  /** FID of the current (or last ended) frame; -1 before the first payload. */
  fid = -1;
  /** `sequence` of the last frame begun; -1 before the first. */
  sequence = -1;
  /** The rest of an overflowed frame is being ignored. */
  skipping = false;
  /** The last frame ended whole (EOF, exact size, tail), not by overflow and without lost data. */
  endedCleanly = false;
  /** Payloads dropped as stray since the last frame ended. */
  strayPayloads = 0;
  /**
   * The last frame ended by size or overflow after losing data: unless a FID change marks the next frame's
   * start, that start is a guess and the frame is not trusted.
   */
  alignmentUnsure = false;
  /** Something was lost since the last payload placed in a frame: the next frame to begin may lack its start. */
  pendingLoss = false;
  /** FID of the latest header-only payload seen since the last loss; -1 when none. */
  idleFidAfterLoss = -1;
  /** Bus intervals known lost (a failed transfer, a SOF jump) since the last payload, settled at the next one. */
  gapIntervals = 0;
  /** How the last frame ended ('none' before the first). */
  lastEnd: FrameEnd | 'none' = 'none';
  /** Frame boundaries a gap was found to hold since the last frame began. */
  settled = 0;
  /**
   * The host's clock saw a gap since the last payload. Not evidence of loss (nothing is flagged or counted for
   * it), but what comes next is no clean observation: nothing is learned from it and no size-based guess made.
   */
  hostGap = false;
  /** The SOF moved on since a payload with data last had its PTS checked: the next one's is checked. */
  ptsDue = false;

  clear(): void {
    this.hostGap = false;
    this.ptsDue = false;
    this.lastEnd = 'none';
    this.settled = 0;
    this.fid = -1;
    this.sequence = -1;
    this.skipping = false;
    this.endedCleanly = false;
    this.strayPayloads = 0;
    this.alignmentUnsure = false;
    this.pendingLoss = false;
    this.idleFidAfterLoss = -1;
    this.gapIntervals = 0;
  }
}

/** What was learned about how the camera marks frames (only from frames that arrived whole) and its SOF counter. */
class Framing {
  fid: FidMode = 'unknown';
  sof: SofMode = 'unknown';
  /** SOF samples in a row that agreed with our packets (learning 'consistent'), and that ran slow. */
  sofAgreed = 0;
  sofSlow = 0;

  clear(): void {
    this.fid = 'unknown';
    this.sof = 'unknown';
    this.sofAgreed = 0;
    this.sofSlow = 0;
  }
}

/**
 * Iso bus time as the device tells it: the SCR's SOF counter against the packet slots we received. Slots are
 * counted over the stream (failed transfers included: their time is accounted for), so a SOF that moved further
 * than our slots did means bus time passed that none of our transfers covered.
 */
class BusTime {
  /** Packet slots of the transfers before the current one. */
  base = 0;
  /** The last SOF seen (-1: none) and the slot it was first seen in. */
  lastSof = -1;
  lastSofAt = 0;
  /** Intervals the host's clock said were lost since that SOF (a second witness while the SOF is not trusted yet). */
  hostGap = 0;

  clear(): void {
    this.base = 0;
    this.lastSof = -1;
    this.lastSofAt = 0;
    this.hostGap = 0;
  }
}

/** Bulk: the payload being received (a payload may span transfers, and a transfer may hold two). */
class BulkPayload {
  /** A payload has begun and not ended. */
  open = false;
  /** Its bytes so far, header included. */
  bytes = 0;
  /** Its bmHeaderInfo. */
  info = 0;
  /** Its data is dropped (refused header, or its frame decided so). */
  skip = false;
  /** After a failed transfer: waiting for something that plainly starts a payload. */
  resync = false;
  /** The payload being started is complete in hand (always for iso; bulk: it ends in this transfer). */
  whole = true;

  clear(): void {
    this.open = false;
    this.bytes = 0;
    this.info = 0;
    this.skip = false;
    this.resync = false;
    this.whole = true;
  }
}

/** The packet in hand. */
class Packet {
  /** When it arrived (host clock, ns): iso packets are dated back from their transfer's completion. */
  ns = 0;
  /** Its position in its transfer (the view cache's key). */
  index = 0;
  /** Iso: its packet slot counted over the stream (BusTime). */
  slot = 0;

  clear(): void {
    this.ns = 0;
    this.index = 0;
    this.slot = 0;
  }
}

/** Cached subarray views of one transfer slot's buffer, one per packet position. */
interface SlotViews {
  source: Uint8Array;
  views: (Uint8Array | undefined)[];
  starts: Int32Array;
  ends: Int32Array;
}

/**
 * Subarray views of the transfers' memory, cached per slot and packet position, so steady streaming allocates
 * nothing per packet. Both the short and the long path take their views here.
 */
class ViewCache {
  private readonly slots: (SlotViews | undefined)[] = [];
  /** The cache of the transfer being processed. */
  current: SlotViews | null = null;

  /** Selects the cache of a transfer slot, new when the slot's memory changed or has more packets than before. */
  select(slot: number, source: Uint8Array, positions: number): void {
    let cache = this.slots[slot];
    if (cache === undefined || cache.source !== source || cache.starts.length < positions) {
      const size = Math.max(positions, 1);
      cache = { source, views: new Array<Uint8Array | undefined>(size), starts: new Int32Array(size), ends: new Int32Array(size) };
      this.slots[slot] = cache;
    }
    this.current = cache;
  }

  /** bytes[start, end) of the current transfer, as the view cached for packet position `i`. */
  view(i: number, bytes: Uint8Array, start: number, end: number): Uint8Array {
    const cache = this.current;
    if (cache === null || cache.source !== bytes || i >= cache.starts.length) return bytes.subarray(start, end);
    const cached = cache.views[i];
    if (cached !== undefined && cache.starts[i] === start && cache.ends[i] === end) return cached;
    const fresh = bytes.subarray(start, end);
    cache.views[i] = fresh;
    cache.starts[i] = start;
    cache.ends[i] = end;
    return fresh;
  }

  clear(): void {
    this.slots.length = 0;
    this.current = null;
  }
}

/**
 * Payload copies noted by the short path and not yet made (with copyRuns): rows [source offset, length,
 * destination offset] out of the current transfer into `memory`, the open frame's buffer.
 */
class PendingRuns {
  table = new Int32Array(3 * 64);
  memory: Uint8Array | null = null;

  /** Room for a transfer of `packets` packets (one row each). */
  reserve(packets: number): void {
    if (this.table.length < 3 * packets) this.table = new Int32Array(3 * packets);
  }

  clear(): void {
    this.memory = null;
  }
}

/** What the options fix for the life of the assembler. */
interface AssemblerConfig {
  kind: VideoFormatKind;
  iso: boolean;
  expectedSize: number;
  maxPayload: number;
  transferSize: number;
  intervalNs: number;
  frameIntervalNs: number;
  dropErrored: boolean;
  requireEoh: boolean;
  shortPath: boolean;
  deviceSofInvalid: boolean;
  mjpegNoEof: boolean;
  streamNoFid: boolean;
  copyRuns: CopyRuns | null;
  isoScan: IsoScan | null;
  /** Where the camera is: whether the host's clock may witness lost bus time. */
  bus: BusKind;
  /** NODE_DEBUG=uvc was set when the assembler was made. */
  trace: boolean;
}

// Imported values used per packet are copied into module constants once: a module loader may turn each use
// of an imported binding into a property lookup on the module namespace (vite-node does), which is
// measurable in the per-packet loop.
const COMPLETED = TransferStatus.COMPLETED;
const CANCELLED = TransferStatus.CANCELLED;
const NO_DEVICE = TransferStatus.NO_DEVICE;
const checkHeader = checkPayloadHeader;
const FID = PayloadHeader.FID;
const EOF = PayloadHeader.EOF;
const PTS = PayloadHeader.PTS;
const SCR = PayloadHeader.SCR;
const ERR = PayloadHeader.ERR;
/** How far into an H.264 frame to look for its first slice NAL. */
const H264_SCAN_LIMIT = 4096;

export class FrameAssembler {
  readonly stats: AssemblerStats = emptyStats();

  private readonly sink: FrameSink;
  private readonly config: AssemblerConfig;
  private readonly frame = new OpenFrame();
  private readonly target = new Target();
  private readonly sync = new SyncState();
  private readonly framing = new Framing();
  private readonly payload = new BulkPayload();
  private readonly packet = new Packet();
  private readonly views = new ViewCache();
  private readonly busTime = new BusTime();
  private readonly runs = new PendingRuns();
  private readonly scan = new ScanMemory();
  private readonly run = new RunMemory();
  /** processTransfer's list of one (its entry cleared after each call, the array kept at length 1). */
  private readonly one: (CompletedTransfer | null)[] = [null];
  private readonly timing: FrameTiming;

  constructor(sink: FrameSink, options: FrameAssemblerOptions) {
    this.sink = sink;
    const iso = options.transferType === 'iso';
    this.config = {
      kind: options.formatKind,
      iso,
      expectedSize: options.formatKind === 'uncompressed' ? (options.expectedFrameSize ?? 0) : 0,
      maxPayload: options.maxPayloadSize ?? 0,
      transferSize: options.transferSize ?? 0,
      intervalNs: options.intervalNs ?? 0,
      frameIntervalNs: options.frameIntervalNs ?? 0,
      dropErrored: options.dropErroredFrames ?? false,
      requireEoh: options.requireEoh ?? false,
      shortPath: options.shortPath ?? true,
      deviceSofInvalid: options.deviceSofInvalid ?? false,
      mjpegNoEof: options.mjpegNoEof ?? false,
      streamNoFid: options.streamNoFid ?? false,
      copyRuns: options.copyRuns ?? null,
      isoScan: options.isoScan ?? null,
      bus: options.bus ?? 'unknown',
      trace: traceEnabled(),
    };
    this.stats.bus = this.config.bus;
    this.framing.sof = this.config.deviceSofInvalid ? 'unusable' : 'unknown';
    this.stats.sofMode = this.framing.sof;
    if (!iso && !(this.config.maxPayload > 0 && this.config.transferSize > 0)) {
      throw new RangeError('bulk assembly needs maxPayloadSize and transferSize');
    }
    const useClock = (options.hardwareTimestamps ?? true) && (options.clockFrequency ?? 0) > 0;
    this.scan.configure({
      requireEoh: this.config.requireEoh,
      mjpeg: this.config.kind === 'mjpeg',
      expectedSize: this.config.expectedSize,
      intervalNs: this.config.intervalNs,
    });
    this.timing = new FrameTiming({
      clockFrequency: useClock ? options.clockFrequency! : null,
      intervalNs: iso ? this.config.intervalNs : 0,
      deviceSofInvalid: this.config.deviceSofInvalid,
    });
  }

  /** Clock recovery, when the device clock is used for timestamps. */
  get clock(): ClockRecovery | null {
    return this.timing.clock;
  }

  /** How timestamps are made: the device clock's recovery, clamped and held frames (camera.stats.clock). */
  get timestampStats(): TimestampStats {
    return this.timing.stats;
  }

  /**
   * The running stream's scan over runs of its transfers (UsbStream.scanSlots), or null: with it, transfers
   * handed over together are scanned in one call per run (processTransfers), read in the stream's own memory.
   * Only that stream's completions may come in while it is set.
   */
  useSlotScan(scan: SlotScan | null): void {
    this.run.scan = scan;
  }

  /** Starts over for a new stream: forgets FID history, sequence, clock samples; gives back the active buffer. */
  reset(): void {
    this.abandon();
    this.frame.clear();
    this.target.clear();
    this.sync.clear();
    this.framing.clear();
    this.payload.clear();
    this.packet.clear();
    this.views.clear();
    this.busTime.clear();
    this.runs.clear();
    this.run.clear();
    this.timing.reset();
    Object.assign(this.stats, emptyStats());
    this.stats.bus = this.config.bus;
    if (this.config.deviceSofInvalid) this.framing.sof = 'unusable';
    this.stats.sofMode = this.framing.sof;
  }

  /** Gives the active buffer back to the head of the queue, unfilled (stream stopping mid-frame). */
  abandon(): void {
    const buffer = this.target.buffer;
    const activation = this.target.activation;
    this.target.clear();
    if (this.frame.open && this.config.trace) trace(`frame ${this.frame.sequence} abandoned (stream stopping)`);
    this.frame.clear();
    if (buffer !== null && this.sink.isActive(buffer, activation)) this.sink.requeueBuffer(buffer);
  }

  /** Feeds one completion. Does not release it: the caller does, right after. */
  processTransfer(transfer: CompletedTransfer): void {
    const one = this.one;
    one[0] = transfer;
    try {
      this.processAt(one as readonly CompletedTransfer[], 0, 1);
    } finally {
      one[0] = null;
    }
  }

  /**
   * Feeds transfers[start, end), in order: the same as processTransfer for each, and what the transport hands over
   * together should come this way. With the stream's slot scan (useSlotScan), the native scan goes on from one
   * transfer to the next while packets simply continue the open frame (one call per run of transfers, not one
   * per transfer). Does not release them: the caller does, right after.
   */
  processTransfers(transfers: readonly CompletedTransfer[], start: number, end: number): void {
    for (let t = start; t < end; ) t = this.processAt(transfers, t, end);
  }

  /** Feeds transfers[index], and maybe more of them up to `end` (scanTransfers); returns the next one's index. */
  private processAt(transfers: readonly CompletedTransfer[], index: number, end: number): number {
    const transfer = transfers[index]!;
    const status = transfer.status;
    // Cancelled transfers come back while stopping; NO_DEVICE is the caller's business (disconnect).
    if (status === CANCELLED || status === NO_DEVICE) return index + 1;
    this.checkTarget();
    this.views.select(transfer.slot, transfer.buffer, this.config.iso ? transfer.packetCount : 1);
    if (this.config.iso) return this.processIso(transfers, index, end);
    this.processBulk(transfer);
    return index + 1;
  }

  /**
   * Only user code can take a buffer back (streamoff, cancel, disconnect), and none runs while a transfer is
   * processed: one check per transfer covers every packet in it.
   */
  private checkTarget(): void {
    const target = this.target;
    if (target.buffer !== null && !this.sink.isActive(target.buffer, target.activation)) {
      if (this.frame.open) {
        this.stats.cancelledFrames++;
        if (this.config.trace) trace(`frame ${this.frame.sequence}: its buffer was taken back (cancelled)`);
      }
      target.clear();
    }
  }

  // ------------------------------------------------------------------------------------------------ iso

  /*
   * The decode contract, per payload (an iso packet, or a bulk payload that may span transfers):
   *
   * payloadStart(header) runs once, when the payload's header is in hand and was checked. It decides which
   * frame the payload belongs to: the open one, a new one (the open one ends first, with the reason), or none
   * (returns false: the payload's data is dropped, e.g. stray data of an ended frame, a lost frame's tail).
   * It takes the header's ERR bit, PTS and SCR.
   *
   * append(data) runs for the payload's data, in one piece (iso) or per transfer (bulk). It copies into the
   * open frame's buffer, or only counts when there is none; data that does not fit ends the frame (overflow).
   *
   * payloadEnd(info) runs once the payload's data is all in: EOF, a tail, or (uncompressed) the exact frame size
   * ends the frame here.
   *
   * Losses (failed packets or transfers, refused headers, bus time the SOF shows lost) go to noteLoss between
   * payloads: they damage the open frame and make the next frame's start unsure.
   *
   * The short path in processIso does the whole contract inline for the common packet (the open frame
   * continues: same FID, no EOF, no ERR, nothing lost before it, valid header, data fits).
   */

  /** transfers[index] (and, with a slot scan, maybe the next ones up to `end`): returns the next one's index. */
  private processIso(transfers: readonly CompletedTransfer[], index: number, end: number): number {
    let transfer = transfers[index]!;
    // The time to date this transfer's packets back from (its completion, less how late the bus timeline says it came).
    let last = this.timing.transfer(transfer.packetCount, transfer.lostIntervals, transfer.completedAtNs);
    if (transfer.lostIntervals > 0) this.noteHostGap(transfer.lostIntervals);
    if (transfer.status !== COMPLETED) {
      // The packet table of a failed iso transfer cannot be trusted: its bus time is lost as a whole.
      this.stats.lostPackets += transfer.packetCount;
      this.noteLoss(FrameFlag.LOST_PACKET, `iso transfer failed (status ${transfer.status}): ${transfer.packetCount} packets lost`);
      this.noteLostTime(transfer.packetCount);
      this.busTime.base += transfer.packetCount;
      return index + 1;
    }
    let bytes = transfer.buffer;
    let count = transfer.packetCount;
    let stride = transfer.packetStride;
    let statuses = transfer.packetStatus;
    let lengths = transfer.packetLength;
    const { intervalNs: interval, requireEoh, expectedSize, shortPath } = this.config;
    const stats = this.stats;
    const frame = this.frame;
    const target = this.target;
    const sync = this.sync;
    const timing = this.timing;
    const views = this.views;
    const packet = this.packet;
    const busTime = this.busTime;
    let base = busTime.base;
    let { views: cachedViews, starts: cachedStarts, ends: cachedEnds } = views.current!;
    const mjpeg = this.config.kind === 'mjpeg';
    // Copies noted by the short path (with copyRuns), made before anything else touches the frame.
    const copyRuns = this.config.copyRuns;
    const runs = this.runs;
    if (copyRuns !== null) runs.reserve(count);
    let table = runs.table;
    let pending = 0;
    // The short path in C (with the native transport): it takes the packets that continue the open frame and
    // stops in front of any other, which the code below handles before the scan goes on after it. With the
    // stream's slot scan it goes on into the next transfers of the list, and the walk then goes on in the one it
    // stopped in (scanTransfers).
    const slotScan = this.run.scan;
    const scanning = shortPath && (slotScan !== null || this.config.isoScan !== null);
    for (let i = 0; i < count; i++) {
      if (scanning && frame.open && !sync.pendingLoss && !sync.hostGap && sync.gapIntervals === 0) {
        if (pending > 0) {
          copyRuns!(bytes, runs.memory!, table, pending);
          pending = 0;
        }
        i = this.scanTransfers(slotScan, transfers, index, end, i, last);
        if (this.run.stoppedIn !== index) {
          // The scan finished this transfer (scanTransfers did its end) and went on.
          index = this.run.stoppedIn;
          if (i < 0) return index; // it took every transfer of its run
          transfer = transfers[index]!;
          last = this.run.stoppedInDate;
          bytes = transfer.buffer;
          count = transfer.packetCount;
          stride = transfer.packetStride;
          statuses = transfer.packetStatus;
          lengths = transfer.packetLength;
          base = busTime.base;
          this.checkTarget();
          views.select(transfer.slot, bytes, count);
          ({ views: cachedViews, starts: cachedStarts, ends: cachedEnds } = views.current!);
          if (copyRuns !== null) runs.reserve(count);
          table = runs.table;
        }
        if (i >= count) break;
      }
      if (statuses[i] !== COMPLETED) {
        stats.lostPackets++;
        this.noteLoss(FrameFlag.LOST_PACKET, 'iso packet failed');
        continue;
      }
      const length = lengths[i]!;
      if (length <= 0) continue;
      const offset = i * stride;
      if (length > stride || offset + length > bytes.length) {
        stats.invalidHeaders++;
        this.noteLoss(FrameFlag.INVALID_HEADER, 'iso packet longer than its slot');
        continue;
      }
      const info = bytes[offset + 1]!;

      // The short path: a packet that continues the open frame (valid header, same FID, no EOF, no ERR,
      // nothing lost before it, the frame's PTS if any, no SOF jump), whose data fits.
      if (shortPath && frame.open && (info & (FID | EOF | ERR)) === sync.fid && !sync.pendingLoss && !sync.hostGap && sync.gapIntervals === 0) {
        const headerLength = checkHeader(bytes, offset, length, requireEoh);
        const dataLength = length - headerLength;
        const memory = target.memory;
        if (
          headerLength > 0 &&
          (memory === null || dataLength <= target.capacity - target.position) &&
          // A JPEG SOI starting a payload may begin the next frame of a camera that left out EOF (mjpeg-no-eof,
          // frames back to back in one SOF): the long path decides.
          !(mjpeg && dataLength >= 2 && bytes[offset + headerLength] === 0xff && bytes[offset + headerLength + 1] === 0xd8) &&
          // Most packets repeat the previous SOF: check that here, without a call. The PTS is checked where the
          // SOF moves on (a new frame's first payload moves it too) or where there is no SCR.
          ((info & SCR) === 0 || sofAt(bytes, offset, info) === busTime.lastSof
            ? !((info & SCR) === 0 || sync.ptsDue) || (info & PTS) === 0 || dataLength === 0 || !timing.hasPts || ptsOf(bytes, offset) === timing.pts
            : ((info & PTS) === 0 || dataLength === 0 || !timing.hasPts || ptsOf(bytes, offset) === timing.pts) &&
              !this.noteSof(bytes, offset, info, dataLength > 0, base + i, last - (count - 1 - i) * interval))
        ) {
          stats.payloads++;
          if (dataLength === 0) continue;
          if ((info & PTS) !== 0) {
            sync.ptsDue = false;
            if (!timing.hasPts) timing.notePts(bytes, offset);
          }
          frame.bytes += dataLength;
          stats.bytes += dataLength;
          if (memory !== null) {
            const start = offset + headerLength;
            if (copyRuns !== null) {
              // Noted; copied with the rest of the run.
              const row = 3 * pending++;
              table[row] = start;
              table[row + 1] = dataLength;
              table[row + 2] = target.position;
              runs.memory = memory;
            } else {
              // One copy, from a subarray view cached per slot and packet (no allocation in steady streaming):
              // the hit is checked here, a miss goes to the cache.
              const end = offset + length;
              let view = cachedViews[i];
              if (view === undefined || cachedStarts[i] !== start || cachedEnds[i] !== end) view = views.view(i, bytes, start, end);
              memory.set(view, target.position);
            }
            target.position += dataLength;
          }
          if (expectedSize > 0 && frame.bytes === expectedSize) {
            if (pending > 0) {
              copyRuns!(bytes, runs.memory!, table, pending);
              pending = 0;
            }
            this.payloadEnd(info);
          }
          continue;
        }
      }
      if (pending > 0) {
        copyRuns!(bytes, runs.memory!, table, pending);
        pending = 0;
      }

      packet.ns = last - (count - 1 - i) * interval;
      packet.index = i;
      packet.slot = base + i;
      const checked = checkHeader(bytes, offset, length, requireEoh);
      if (checked < 0) {
        stats.invalidHeaders++;
        this.noteLoss(FrameFlag.INVALID_HEADER, 'invalid payload header');
        continue;
      }
      if (!this.payloadStart(bytes, offset, checked, info, length > checked, length - checked)) continue;
      if (length > checked) this.append(bytes, offset + checked, offset + length);
      this.payloadEnd(info);
    }
    if (pending > 0) copyRuns!(bytes, runs.memory!, table, pending);
    runs.memory = null;
    busTime.base = base + count;
    return index + 1;
  }

  /**
   * Runs the native scan from packet `start` of transfers[index] (a frame is open, nothing lost before it, no
   * host gap; `last` is the transfer's date) and, with a slot scan, on into the next transfers up to `end` that
   * follow it on the bus (completed, no bus time lost before them, same stride), in one call: hands it the fields
   * the short path reads and takes back what it changed. Then, in bus order: the clock gets the PTS and the SCR
   * samples of each transfer once that transfer was dated (timing.transfer, as processIso does at its start), each
   * transfer the scan went past is finished (busTime.base, as at processIso's end), and a plain end it took ends
   * the frame (payloadEnd, as the long path does after such a packet). Sets `run.stoppedIn` (the transfer it
   * stopped in) and `run.stoppedInDate` (its date); returns the packet it stopped at there, or -1 when it took
   * every transfer of the run (`stoppedIn` is then the one after).
   */
  private scanTransfers(
    slotScan: SlotScan | null,
    transfers: readonly CompletedTransfer[],
    index: number,
    end: number,
    start: number,
    last: number,
  ): number {
    const run = this.run;
    const first = transfers[index]!;
    const stride = first.packetStride;
    let length = 0;
    let packets = 0;
    const most = slotScan === null ? 1 : SCAN_RUN_MAX;
    for (let k = index; k < end && length < most; k++) {
      const transfer = transfers[k]!;
      if (k > index && (transfer.status !== COMPLETED || transfer.lostIntervals !== 0 || transfer.packetStride !== stride)) break;
      run.slots[length] = transfer.slot;
      run.counts[length] = transfer.packetCount;
      packets += transfer.packetCount;
      length++;
    }
    this.scan.reserve(packets);
    const state = this.scan.block;
    const { frame, target, sync, busTime, framing, timing } = this;
    state[ScanField.START] = start;
    state[ScanField.COUNT] = first.packetCount;
    state[ScanField.STRIDE] = stride;
    state[ScanField.FID] = sync.fid;
    state[ScanField.CAPACITY] = target.capacity;
    state[ScanField.SLOT_BASE] = busTime.base;
    state[ScanField.SOF_MODE] = SCAN_SOF_MODE[framing.sof];
    state[ScanField.HOST_GAP] = busTime.hostGap;
    state[ScanField.HAS_PTS] = timing.hasPts ? 1 : 0;
    state[ScanField.PTS] = timing.pts;
    state[ScanField.FRAME_BYTES] = frame.bytes;
    state[ScanField.POSITION] = target.position;
    state[ScanField.PTS_DUE] = sync.ptsDue ? 1 : 0;
    state[ScanField.LAST_SOF] = busTime.lastSof;
    state[ScanField.LAST_SOF_AT] = busTime.lastSofAt;
    state[ScanField.SOF_AGREED] = framing.sofAgreed;
    state[ScanField.RUN_LENGTH] = length;
    let stop: number;
    let reached: number;
    if (slotScan !== null) {
      stop = slotScan(run.slots, run.counts, target.memory, state);
      reached = state[ScanField.RUN]!;
    } else {
      stop = this.config.isoScan!(first.buffer, first.packetLength, first.packetStatus, target.memory, state);
      reached = stop === first.packetCount && state[ScanField.ENDED] === 0 ? 1 : 0;
    }
    const payloads = state[ScanField.PAYLOADS]!;
    if (payloads > 0) {
      this.stats.payloads += payloads;
      this.stats.bytes += state[ScanField.BYTES]!;
      frame.bytes = state[ScanField.FRAME_BYTES]!;
      target.position = state[ScanField.POSITION]!;
      sync.ptsDue = state[ScanField.PTS_DUE] !== 0;
      busTime.lastSof = state[ScanField.LAST_SOF]!;
      busTime.lastSofAt = state[ScanField.LAST_SOF_AT]!;
      framing.sofAgreed = state[ScanField.SOF_AGREED]!;
      if (state[ScanField.PTS_OFFSET]! >= 0) timing.adoptPts(state[ScanField.PTS]!);
    }
    // Bus order: each transfer dated before its samples, finished once the scan went past it.
    const interval = this.config.intervalNs;
    const clock = timing.clock !== null;
    let entry = 0;
    let entryFirst = 0; // the run's packet count before this transfer
    let entryCount = first.packetCount;
    let entryLast = last;
    const rows = clock ? state[ScanField.SAMPLES]! : 0;
    for (let row = SCAN_FIELDS, rowsEnd = SCAN_FIELDS + SCAN_ROW * rows; row <= rowsEnd; row += SCAN_ROW) {
      // Past the last row: finish the transfers the scan went past.
      const packet = row < rowsEnd ? state[row]! : Number.POSITIVE_INFINITY;
      while (packet >= entryFirst + entryCount && entry < reached) {
        busTime.base += entryCount;
        entry++;
        entryFirst += entryCount;
        if (entry === length) break;
        const next = transfers[index + entry]!;
        entryCount = next.packetCount;
        entryLast = timing.transfer(entryCount, 0, next.completedAtNs);
      }
      if (row < rowsEnd) {
        timing.scr(state[row + 1]!, state[row + 2]!, state[row + 3] !== 0, state[row + 4]!, entryLast - (entryCount - 1 - (packet - entryFirst)) * interval);
      }
    }
    if (entry > 0) this.runs.memory = null;
    this.run.stoppedIn = index + entry;
    this.run.stoppedInDate = entryLast;
    if (entry === length) return -1;
    // A plain end taken by the scan (EOF, or the exact size): ended as the long path ends it.
    if (state[ScanField.ENDED] !== 0) this.payloadEnd(transfers[index + entry]!.buffer[(stop - 1) * stride + 1]!);
    return stop;
  }

  // ------------------------------------------------------------------------------------------------ bulk

  private processBulk(transfer: CompletedTransfer): void {
    const length = transfer.actualLength;
    const payload = this.payload;
    const { requireEoh, transferSize, maxPayload } = this.config;
    if (transfer.status !== COMPLETED) {
      // Where the next payload starts is unknown now: resynchronise.
      this.stats.lostPackets++;
      this.noteLoss(FrameFlag.LOST_PACKET, `bulk transfer failed (status ${transfer.status})`);
      payload.open = false;
      payload.skip = false;
      payload.resync = true;
      return;
    }
    const bytes = transfer.buffer;
    const short = length < transferSize;
    if (length === 0 && !payload.open) return; // a zero-length packet between payloads
    this.packet.ns = transfer.completedAtNs;
    this.packet.index = 0;
    if (payload.resync) {
      if (!this.looksLikePayloadStart(bytes, length)) {
        if (short) payload.resync = false;
        return;
      }
      payload.resync = false;
    }
    if (!payload.open) {
      payload.open = true;
      payload.bytes = 0;
      const headerLength = checkHeader(bytes, 0, length, requireEoh);
      if (headerLength < 0) {
        this.stats.invalidHeaders++;
        this.noteLoss(FrameFlag.INVALID_HEADER, 'invalid payload header');
        payload.skip = true;
      } else {
        const info = bytes[1]!;
        payload.info = info;
        const hasData = length > headerLength || !short;
        payload.whole = short || length >= maxPayload;
        payload.skip = !this.payloadStart(bytes, 0, headerLength, info, hasData, length - headerLength);
        if (!payload.skip && length > headerLength) this.append(bytes, headerLength, length);
      }
    } else if (!payload.skip && length > 0) {
      this.append(bytes, 0, length);
    }
    payload.bytes += length;
    if (short || payload.bytes >= maxPayload) {
      payload.open = false;
      if (!payload.skip) this.payloadEnd(payload.info);
      payload.skip = false;
    }
  }

  /**
   * After a failed bulk transfer: a strictly valid header that changes FID is taken as a fresh start, and so is
   * one with the old FID and a new PTS (two frame boundaries passed in what failed).
   */
  private looksLikePayloadStart(bytes: Uint8Array, length: number): boolean {
    const headerLength = checkHeader(bytes, 0, length, true);
    if (headerLength <= 0) return false;
    const info = bytes[1]!;
    if ((info & FID) !== this.sync.fid) return true;
    const timing = this.timing;
    return (info & PTS) !== 0 && !this.frame.open && timing.hasPts && ptsOf(bytes, 0) !== timing.pts;
  }

  // ------------------------------------------------------------------------------------------------ payloads and frames

  /**
   * Header bookkeeping at the start of a payload; decides which frame the payload belongs to.
   * Returns false when its data must be dropped.
   */
  private payloadStart(
    bytes: Uint8Array,
    offset: number,
    headerLength: number,
    info: number,
    hasData: boolean,
    firstDataLength: number,
  ): boolean {
    const { sync, frame, framing, timing } = this;
    this.stats.payloads++;
    const fid = info & FID;
    // Iso: the PTS is checked where the SOF moves on (as the short path does), bulk payloads always.
    let ptsChecked = true;
    if ((info & SCR) !== 0) {
      if (this.config.iso) {
        ptsChecked = sync.ptsDue || sofAt(bytes, offset, info) !== this.busTime.lastSof;
        this.noteSof(bytes, offset, info, hasData, this.packet.slot, this.packet.ns);
      } else if (timing.clock !== null) {
        timing.sample(bytes, offset, info, hasData, frame.bytes, this.packet.ns);
      }
    }
    if (sync.gapIntervals > 0) this.settleGap(fid, (info & EOF) !== 0);
    const pts = (info & PTS) !== 0 && hasData ? ptsOf(bytes, offset) : -1;
    if (pts >= 0) sync.ptsDue = false;

    if (fid !== sync.fid && sync.fid >= 0 && framing.fid === 'unknown') this.learn('changes', 'FID changed');
    const late = framing.fid === 'late';
    if (sync.pendingLoss && !hasData) {
      sync.idleFidAfterLoss = fid;
    } else if (sync.pendingLoss && hasData && sync.idleFidAfterLoss >= 0 && fid !== sync.idleFidAfterLoss && !late) {
      // A header-only payload came after the loss and this data carries another FID: the frame it begins
      // started after that payload (a FID never changes inside a frame), so the loss is not in it.
      sync.pendingLoss = false;
    }
    if (frame.open) {
      if (fid === sync.fid) {
        if (hasData && this.config.kind === 'mjpeg' && frame.bytes > 0 && this.looksLikeFrameStart(bytes, offset + headerLength, firstDataLength) && (this.config.mjpegNoEof || this.target.memory === null || this.endsWithEoi())) {
          // A JPEG that ended without EOF, then the next one with the same FID (mjpeg-no-eof): SOI begins it. Checked
          // before the PTS: the new frame's PTS differs, but a JPEG ending in EOI followed by SOI lost nothing. A
          // frame with no buffer (dropped anyway) cannot show its EOI: its SOI successor still is one frame on.
          this.endFrame('soi');
          this.beginFrame(fid);
        } else if (pts >= 0 && ptsChecked && timing.hasPts && pts !== timing.pts) {
          // One frame has one PTS: this payload begins another frame, and the open one lost its end (with the
          // boundary marks between them). The FID says how many boundaries passed: an even number (two or more)
          // from a camera that toggles it, else one; a gap settled since the open frame began counted them, this
          // frame's among them.
          frame.lose(FrameFlag.PTS_CHANGED);
          if (this.config.trace) trace(`frame ${frame.sequence}: the PTS changed inside it: a new frame begins`);
          this.endFrame('pts');
          const boundaries = framing.fid === 'toggles' ? 2 : 1;
          const missed = sync.settled > 0 ? -1 : boundaries - 1;
          sync.sequence += missed;
          this.stats.droppedFrames += missed;
          sync.pendingLoss = true;
          this.beginFrame(fid);
        }
      } else {
        if (this.isTail(info, bytes, offset + headerLength, firstDataLength)) {
          // The camera already switched FID for the last payload of this frame.
          frame.tail = true;
          sync.fid = fid;
          // Learn from a clean decision only: a bulk payload taken on trust is judged when it ends.
          if ((this.payload.whole || this.config.expectedSize === 0) && !sync.hostGap) this.learn('late', 'a frame ended with a payload of the next FID');
        } else {
          this.endFrame('fid');
          // From a camera that ends frames with an early FID switch, a switch that is not a tail means a lost
          // or malformed tail: this payload may itself be one, so the frame it begins is not trusted.
          if (framing.fid === 'late') sync.pendingLoss = true;
          this.beginFrame(fid);
        }
      }
    } else if (this.isOrphanTail(info, bytes, offset + headerLength, firstDataLength)) {
      // The last payload of a frame whose other payloads were lost (or skipped after an overflow): nothing to
      // begin, only the FID moves on, and the next frame starts clean after it.
      sync.fid = fid;
      sync.skipping = false;
      sync.pendingLoss = false;
      sync.alignmentUnsure = false;
      this.stats.outOfSyncPayloads++;
      if (this.config.trace) trace('dropped the tail of a frame that was lost');
      return false;
    } else if (fid !== sync.fid && sync.strayPayloads > 0 && (info & EOF) !== 0 && !this.looksLikeFrameStart(bytes, offset + headerLength, firstDataLength)) {
      // Data was dropped as stray, and now an EOF payload with a new FID that starts no frame: the camera
      // switches FID with a frame's last payload after all, and the dropped data was a whole frame.
      this.learn('late', 'the data dropped as stray was a frame that ended with a payload of the next FID');
      sync.fid = fid;
      sync.strayPayloads = 0;
      sync.sequence++;
      this.stats.droppedFrames++;
      if (this.config.trace) trace(`frame ${sync.sequence} dropped: its payloads were taken for stray data`);
      return false;
    } else if (sync.fid < 0 && !hasData) {
      // Idle packets before the first frame: their FID says nothing about frames yet. Beginning a frame here
      // would count an empty one when the first real frame comes with the other FID, and the user's first frame
      // would look like the second (uvcvideo, too, never counts a FID change over a buffer holding no data).
      sync.fid = fid;
      return false;
    } else if (fid !== sync.fid) {
      // Learn only from a clean observation: after a loss or an overflow, the payload that ended the previous
      // frame may be gone.
      if (sync.fid >= 0 && sync.endedCleanly && !sync.pendingLoss && !sync.hostGap && !sync.skipping && framing.fid === 'changes') {
        this.learn('toggles', 'FID changed after a whole frame ended');
      }
      sync.skipping = false;
      this.beginFrame(fid);
    } else if (sync.skipping) {
      // The rest of an overflowed frame; its EOF ends the skip.
      if ((info & EOF) !== 0) sync.skipping = false;
      return false;
    } else if (hasData) {
      if (framing.fid === 'toggles' && pts >= 0 && timing.hasPts && pts !== timing.pts) {
        // Not stray: the data of a new frame with the old FID. The FID says an even number of frame boundaries
        // passed, the PTS that at least one. A gap settled just now counted them, this frame's among them;
        // otherwise two passed, the frame between them lost. This one may lack its start.
        if (sync.settled > 0) {
          sync.sequence--;
          this.stats.droppedFrames--;
        } else {
          sync.sequence++;
          this.stats.droppedFrames++;
          if (this.config.trace) trace(`a new PTS with the old FID: frame ${sync.sequence} was lost`);
        }
        sync.pendingLoss = true;
        this.beginFrame(fid);
      } else if (framing.fid === 'toggles') {
        // Stray data of a frame that already ended (uvcvideo drops it the same way).
        this.stats.outOfSyncPayloads++;
        sync.strayPayloads++;
        if (this.config.trace && sync.strayPayloads === 1) trace(`dropped stray data with the FID of frame ${sync.sequence}, which ended`);
        return false;
      } else {
        this.beginFrame(fid);
      }
    } else {
      return false; // a header-only payload between frames
    }

    sync.pendingLoss = false;
    sync.hostGap = false;
    if ((info & ERR) !== 0) {
      this.stats.errorBits++;
      frame.flag(FrameFlag.ERR_BIT);
    }
    // The PTS of the first payload with data: idle header-only payloads that already carry the next FID often
    // still carry the previous frame's PTS (the Vaultmicro captures do).
    if (pts >= 0 && !frame.tail) timing.notePts(bytes, offset);
    return true;
  }

  /** The open MJPEG frame's data ends with EOI (trailing zero padding allowed, as real cameras send). */
  private endsWithEoi(): boolean {
    const memory = this.target.memory;
    return memory !== null && endsWithEoi(memory, this.target.position);
  }

  /** Header bookkeeping at the end of a payload (its data is in). */
  private payloadEnd(info: number): void {
    const frame = this.frame;
    if (!frame.open) return;
    const expectedSize = this.config.expectedSize;
    if (frame.tail) {
      if (expectedSize > 0 && frame.bytes === expectedSize && !frame.damaged) {
        this.learn('late', 'an uncompressed frame was completed by a payload of the next FID');
      }
      this.endFrame('tail');
      return;
    }
    // EOF on a frame without data does not end it (uvcvideo does the same): idle packets may carry it.
    if ((info & EOF) !== 0 && frame.bytes > 0) {
      this.endFrame('eof');
      return;
    }
    if (expectedSize > 0 && frame.bytes === expectedSize) {
      // Ended by its size alone: if it had lost data, where the next frame starts is a guess. (A loss just
      // before a frame seen to begin cleanly was not its own when it has exactly its size.)
      const unsure = frame.lost || (frame.damaged && !frame.cleanStart);
      this.endFrame('size');
      if (unsure) this.sync.alignmentUnsure = true;
    }
  }

  /** Something was learned about the camera's framing. */
  private learn(mode: FidMode, why: string): void {
    if (this.framing.fid === mode || this.config.streamNoFid) return;
    this.framing.fid = mode;
    this.stats.fidMode = mode;
    if (this.config.trace) trace(`learned FID mode '${mode}': ${why}`);
  }

  /** A payload with a new FID while a frame is open: is it that frame's tail? */
  private isTail(info: number, bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    const frame = this.frame;
    if (frame.bytes === 0) return false;
    const eof = (info & EOF) !== 0;
    const late = this.framing.fid === 'late';
    if (this.sync.pendingLoss || frame.damaged) {
      // Data was lost: whether this is the open frame's tail cannot be told from sizes, and nothing may be
      // learned from it. A camera known to switch FID early ends every frame this way, so an EOF here closes
      // the (already flagged) frame, unless the payload plainly starts a frame.
      return late && eof && !this.looksLikeFrameStart(bytes, dataOffset, dataLength);
    }
    const expectedSize = this.config.expectedSize;
    if (expectedSize > 0) {
      const remaining = expectedSize - frame.bytes;
      if (remaining <= 0) return false;
      // A bulk payload spanning transfers shows its size only at its end: an incomplete, undamaged frame
      // takes it (and is flagged then if it does not fit exactly). A whole payload is the tail when it
      // completes the frame exactly, or, from a camera known to switch FID early, when it carries EOF (an
      // uncompressed frame never starts with an EOF payload).
      if (!this.payload.whole) return true;
      // After a gap by the host's clock, an exact fit is no proof (the gap may have taken this frame's end and the
      // next one's start) until the camera is known to send such tails.
      return (dataLength === remaining && (late || !this.sync.hostGap)) || (eof && late);
    }
    if (!eof) return false;
    return dataLength <= 0 || this.config.kind === 'compressed' || !this.looksLikeFrameStart(bytes, dataOffset, dataLength);
  }

  /**
   * With no frame open, after a loss or while skipping an overflowed frame, a camera that switches FID early
   * sends an EOF payload: the tail of a frame that is not being assembled.
   */
  private isOrphanTail(info: number, bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    return (
      this.framing.fid === 'late' &&
      (this.sync.pendingLoss || this.sync.skipping) &&
      (info & EOF) !== 0 &&
      !this.looksLikeFrameStart(bytes, dataOffset, dataLength)
    );
  }

  /** A JPEG SOI or an H.264 start code at the start of the data; false for formats without such a mark. */
  private looksLikeFrameStart(bytes: Uint8Array, offset: number, length: number): boolean {
    const kind = this.config.kind;
    if (kind === 'mjpeg') return length >= 2 && bytes[offset] === 0xff && bytes[offset + 1] === 0xd8;
    if (kind === 'h264') return startsWithStartCode(bytes, offset, length);
    return false;
  }

  private beginFrame(fid: number): void {
    const { sync, target } = this;
    const late = this.framing.fid === 'late';
    if (sync.alignmentUnsure) {
      // A FID change marks a frame start, except from a camera that changes FID with a frame's last payload.
      if (fid === sync.fid || late) sync.pendingLoss = true;
      sync.alignmentUnsure = false;
    }
    // The boundary before this frame was seen: a FID change (from a camera that changes FID between frames),
    // or the end of the previous frame by EOF, a tail, a JPEG start, or its exact size with nothing lost.
    const last = sync.lastEnd;
    const cleanStart =
      (sync.fid >= 0 && fid !== sync.fid && !late) ||
      last === 'eof' ||
      last === 'tail' ||
      last === 'soi' ||
      last === 'pts' ||
      (last === 'size' && sync.endedCleanly);
    sync.sequence++;
    sync.fid = fid;
    sync.settled = 0;
    this.frame.begin(sync.sequence, sync.pendingLoss, cleanStart);
    this.timing.beginFrame(this.packet.ns);
    // A buffer kept from an empty or discarded frame is reused if the queue still lets us.
    let buffer = target.buffer;
    if (buffer !== null && !this.sink.isActive(buffer, target.activation)) buffer = null;
    if (buffer === null) buffer = this.sink.nextBuffer();
    target.take(buffer);
  }

  private endFrame(how: FrameEnd): void {
    const { frame, target, stats, sync } = this;
    const tracing = this.config.trace;
    const sequence = frame.sequence;
    const bytes = frame.bytes;
    let flags = frame.flags;
    const lost = frame.lost;
    const lostFrom = frame.lostFrom;
    const cleanStart = frame.cleanStart;
    // Whole as far as losses go (an ERR bit or a wrong size does not make the boundaries unsure).
    sync.endedCleanly = !frame.damaged;
    frame.clear();
    sync.lastEnd = how;
    sync.strayPayloads = 0;
    if (bytes === 0) {
      // No data: the camera sent an empty frame, or everything it sent for it was lost.
      if (flags !== 0) stats.droppedFrames++;
      else stats.emptyFrames++;
      if (tracing) trace(`frame ${sequence} ended (${how}) without data: ${flags !== 0 ? `dropped (${describeFlags(flags)})` : 'empty'}`);
      return; // the buffer, if any, stays ours for the next frame
    }
    const expectedSize = this.config.expectedSize;
    if (expectedSize > 0 && bytes !== expectedSize) {
      stats.sizeMismatches++;
      flags |= FrameFlag.SIZE;
    }
    const buffer = target.buffer;
    const memory = target.memory;
    if (buffer === null || memory === null) {
      stats.droppedFrames++;
      if (flags !== 0) stats.erroredFrames++;
      if (tracing) trace(`frame ${sequence} ended (${how}), ${bytes} bytes: dropped, no buffer was queued`);
      return;
    }
    // A frame that does not start the way its format must was joined in the middle; a JPEG without EOI was cut.
    const kind = this.config.kind;
    const used = target.position;
    if (kind === 'mjpeg' && !(used >= 2 && memory[0] === 0xff && memory[1] === 0xd8)) flags |= FrameFlag.NO_START_MARK;
    if (kind === 'mjpeg' && !endsWithEoi(memory, used)) flags |= FrameFlag.NO_END_MARK;
    if (kind === 'h264' && !startsWithStartCode(memory, 0, used)) flags |= FrameFlag.NO_START_MARK;
    if (kind === 'mjpeg' && (flags & ~LOSSES) === 0 && (flags & LOSSES) !== 0 && lostFrom === bytes) {
      // Losses came only after the last data, and that data is a whole JPEG: they were not its own.
      flags = 0;
      sync.endedCleanly = true;
      if (tracing) trace(`frame ${sequence}: the loss after its EOI was not its own`);
    }
    if (flags === FrameFlag.START_UNSURE && cleanStart && !lost && this.startMarked()) {
      // Something was lost just before this frame, and its start is where it must be: the loss was not its own.
      flags = 0;
      sync.endedCleanly = true;
      if (tracing) trace(`frame ${sequence}: the loss before it was not its own (clean start, start and size marks present)`);
    }
    const error = flags !== 0;
    if (error) stats.erroredFrames++;
    if (!this.sink.isActive(buffer, target.activation)) {
      stats.cancelledFrames++;
      target.clear();
      if (tracing) trace(`frame ${sequence} ended (${how}): its buffer was taken back (cancelled)`);
      return;
    }
    if (error && this.config.dropErrored) {
      stats.discardedFrames++;
      target.position = 0;
      if (tracing) trace(`frame ${sequence} ended (${how}), ${bytes} bytes: discarded (${describeFlags(flags)})`);
      return; // keep the buffer for the next frame
    }
    target.clear();
    stats.frames++;
    const timestamp = this.timing.timestamp();
    if (this.timing.fromDevice) stats.deviceTimestamps++;
    if (tracing) trace(`frame ${sequence} ended (${how}), ${used} bytes${error ? `, flagged: ${describeFlags(flags)}` : ''}`);
    this.sink.completeBuffer(buffer, {
      bytesused: used,
      error,
      timestamp,
      sequence,
      keyframe: this.isKeyframe(memory, used),
    });
  }

  /**
   * Whether the format lets a frame show its own start (checked by endFrame): an uncompressed frame by its exact
   * size, a JPEG by SOI (and EOI), an H.264 access unit by its start code. Other compressed formats cannot.
   */
  private startMarked(): boolean {
    const kind = this.config.kind;
    return (kind === 'uncompressed' && this.config.expectedSize > 0) || kind === 'mjpeg' || kind === 'h264';
  }

  /** Copies payload bytes [start, end) of the current packet into the frame: the one copy of the data path. */
  private append(bytes: Uint8Array, start: number, end: number): void {
    const { frame, target } = this;
    const length = end - start;
    frame.bytes += length;
    this.stats.bytes += length;
    const memory = target.memory;
    if (memory === null) return; // no buffer: the frame is being dropped, only counted
    const room = target.capacity - target.position;
    if (length > room) {
      if (room > 0) memory.set(bytes.subarray(start, start + room), target.position);
      target.position = target.capacity;
      frame.lose(FrameFlag.OVERFLOW);
      this.stats.overflows++;
      frame.tail = false;
      this.endFrame('overflow');
      this.sync.skipping = true;
      this.sync.alignmentUnsure = true;
      return;
    }
    memory.set(this.views.view(this.packet.index, bytes, start, end), target.position);
    target.position += length;
  }

  /** A packet or transfer was lost or refused: the open frame is damaged, and so may be the next one. */
  private noteLoss(reason: number, what: string): void {
    const { frame, sync } = this;
    if (frame.open) frame.lose(reason);
    if (this.config.trace) trace(`${what}${frame.open ? `: frame ${frame.sequence} is damaged` : ''}; the next frame may lack its start`);
    sync.pendingLoss = true;
    sync.idleFidAfterLoss = -1;
  }

  /**
   * The host's clock says bus intervals passed with no transfer in flight. Counted and traced only: it is the
   * host's view (over USB/IP, or whenever completions arrive late, it is no view of the device's bus at all);
   * what the device sent says whether anything was lost (the SOF counter, FID, PTS, sizes, start and end marks).
   */
  private noteHostGap(lostIntervals: number): void {
    this.stats.lostIntervals += lostIntervals;
    this.busTime.hostGap += lostIntervals;
    this.sync.hostGap = true;
    // A camera whose headers carry no usable SOF cannot say what it lost: on a bus of this host (not behind
    // USB/IP) the host's clock is then the only witness, and a true one.
    // Before the stream's first payload no header has said whether the camera has a SOF, and no frame was open
    // to lose anything: the gap is only counted (the first frame is judged by what it carries).
    const sofWitness = this.busTime.lastSof >= 0 && this.framing.sof !== 'unusable';
    if (!sofWitness && this.config.bus !== 'usbip' && this.stats.payloads > 0) {
      this.noteLoss(FrameFlag.LOST_TIME, `${lostIntervals} bus intervals with no transfer in flight, and no SOF in the camera's headers to say otherwise (bus: ${this.config.bus})`);
      this.noteLostTime(lostIntervals);
      return;
    }
    if (this.config.trace) {
      trace(`${lostIntervals} bus intervals with no transfer in flight, by the host's clock (bus: ${this.config.bus}): not evidence of loss by itself`);
    }
  }

  /** Bus intervals known lost (a failed transfer, a SOF jump): they may hold frame boundaries `sequence` must count. */
  private noteLostTime(intervals: number): void {
    const { frameIntervalNs, intervalNs } = this.config;
    if (frameIntervalNs > 0 && intervalNs > 0) this.sync.gapIntervals += intervals;
  }

  /**
   * A payload's SCR, when its SOF differs from the last: a clock sample, and the device's own word on bus time.
   * Returns true when the SOF jumped over bus time none of our packet slots covered (the open frame lost data
   * and frames may have passed unseen). `slot` is the packet's slot counted over the stream.
   */
  private noteSof(bytes: Uint8Array, offset: number, info: number, hasData: boolean, slot: number, packetNs: number): boolean {
    const at = offset + ((info & PTS) !== 0 ? 6 : 2);
    const sof = sofAt(bytes, offset, info);
    const busTime = this.busTime;
    if (sof === busTime.lastSof) return false;
    const timing = this.timing;
    if (timing.clock !== null) timing.sample(bytes, offset, info, hasData, this.frame.bytes, packetNs);
    // An all-zero SCR (idle payloads of some cameras) is no sample.
    if (sof === 0 && bytes[at]! === 0 && bytes[at + 1]! === 0 && bytes[at + 2]! === 0 && bytes[at + 3]! === 0) return false;
    const framing = this.framing;
    const intervalNs = this.config.intervalNs;
    let lostMs = 0;
    let hostAgrees = false;
    if (busTime.lastSof >= 0 && framing.sof !== 'unusable' && intervalNs > 0) {
      // The SOF counts 1 ms bus frames modulo 2048; our slots count service intervals.
      const excessMs = ((sof - busTime.lastSof) & 0x7ff) - ((slot - busTime.lastSofAt) * intervalNs) / 1e6;
      // A jump past its 1 ms granularity counts once the counter has been seen to follow the bus. A smaller one,
      // or one before that, counts when the host's clock, a witness of its own, saw about as much time go by with
      // nothing in flight (over USB/IP the host's clock sees gaps the SOF does not: they do not agree).
      const hostMs = (busTime.hostGap * intervalNs) / 1e6;
      hostAgrees = busTime.hostGap > 0 && excessMs >= 1 && Math.abs(excessMs - hostMs) <= Math.max(1.5, hostMs / 4);
      if (hostAgrees || (excessMs >= SOF_EVIDENCE_MS && framing.sof === 'consistent')) {
        lostMs = excessMs;
      } else if (excessMs >= SOF_EVIDENCE_MS) {
        // Not trusted yet: neither agreement nor disagreement.
      } else if (excessMs <= -SOF_EVIDENCE_MS) {
        // Slower than the bus: not the bus SOF.
        if (++framing.sofSlow >= 3) this.learnSof('unusable', 'the SCR SOF counter ran slower than the bus');
      } else if (++framing.sofAgreed >= 8 && framing.sof === 'unknown') {
        this.learnSof('consistent', 'the SCR SOF counter follows the bus time our packets cover');
      }
    }
    const hostGap = busTime.hostGap;
    busTime.lastSof = sof;
    busTime.lastSofAt = slot;
    busTime.hostGap = 0;
    this.sync.ptsDue = true;
    if (lostMs === 0) return false;
    // The SOF counts whole milliseconds; when the host's count agrees with it, the host's is the finer one.
    const intervals = hostAgrees ? hostGap : Math.round((lostMs * 1e6) / intervalNs);
    this.stats.busGapIntervals += intervals;
    this.noteLoss(FrameFlag.LOST_TIME, `the SCR SOF counter jumped ${lostMs.toFixed(1)} ms past our packets (${intervals} bus intervals lost)`);
    this.noteLostTime(intervals);
    return true;
  }

  private learnSof(mode: SofMode, why: string): void {
    this.framing.sof = mode;
    this.stats.sofMode = mode;
    if (this.config.trace) trace(`learned SOF mode '${mode}': ${why}`);
  }

  /**
   * Advances `sequence` by the frame boundaries a gap swallowed. The FID seen after the gap tells the parity
   * of that count (when the camera toggles FID), the gap's length its size; the boundary the FID change itself
   * reveals is counted by the normal path.
   */
  private settleGap(fid: number, eof: boolean): number {
    const sync = this.sync;
    const { intervalNs, frameIntervalNs } = this.config;
    // The boundaries that may have passed lie in the lost intervals and at this payload's own interval.
    const periods = ((sync.gapIntervals + 1) * intervalNs) / frameIntervalNs;
    sync.gapIntervals = 0;
    if (sync.fid < 0) return 0;
    const toggled = fid !== sync.fid;
    let boundaries = Math.round(periods);
    if (this.framing.fid !== 'unknown') {
      // The nearest count whose parity matches what the FID says.
      const parity = toggled ? 1 : 0;
      // On a tie, the larger count: a lost frame hidden from the sequence is worse than one counted twice.
      if ((boundaries & 1) !== parity) boundaries = periods >= boundaries ? boundaries + 1 : boundaries - 1;
      if (boundaries < parity) boundaries = parity;
    }
    // Subtract what the normal path counts from here: for most cameras the FID change this payload shows.
    // A camera that switches FID early with a frame's last payload begins frames one payload after the change:
    // with a frame open (or being skipped), this payload either ends it (EOF, or a new FID) and its successor's
    // begin follows, or it continues it; with none open, the next begin is still to come either way.
    const current = this.frame.open || sync.skipping; // a frame whose end has not been seen yet
    const counted = this.framing.fid === 'late' ? (current && (toggled || eof) ? 1 : 0) : toggled ? 1 : 0;
    const missed = boundaries - counted;
    if (missed <= 0) return 0;
    sync.settled += missed;
    sync.sequence += missed;
    this.stats.droppedFrames += missed;
    if (this.config.trace) trace(`${missed} frames lost in the gap (sequence moves on to ${sync.sequence})`);
    return missed;
  }

  private isKeyframe(memory: Uint8Array, length: number): boolean {
    switch (this.config.kind) {
      case 'uncompressed':
      case 'mjpeg':
        return true;
      case 'h264':
        return containsIdrSlice(memory, length);
      default:
        return false;
    }
  }
}

/** Flags that say data went missing while the frame was open (as opposed to what its bytes show). */
const LOSSES = FrameFlag.LOST_PACKET | FrameFlag.INVALID_HEADER | FrameFlag.LOST_TIME;

/** A frame whose lost bus time the SOF counter must show before it counts: more than its 1 ms granularity can explain. */
const SOF_EVIDENCE_MS = 2;

/** The SOF frame number in the SCR of the header at `offset` (its SCR bit is set and the header was checked). */
function sofAt(bytes: Uint8Array, offset: number, info: number): number {
  const at = offset + ((info & PTS) !== 0 ? 10 : 6);
  return (bytes[at]! | (bytes[at + 1]! << 8)) & 0x7ff;
}

/** dwPresentationTime of the header at `offset` (its PTS bit is set and the header was checked). */
function ptsOf(bytes: Uint8Array, offset: number): number {
  return (bytes[offset + 2]! | (bytes[offset + 3]! << 8) | (bytes[offset + 4]! << 16) | (bytes[offset + 5]! << 24)) >>> 0;
}

/** The JPEG in bytes[0, length) ends with EOI, after which only zero padding may follow. */
function endsWithEoi(bytes: Uint8Array, length: number): boolean {
  let end = length;
  while (end > 2 && bytes[end - 1] === 0) end--;
  return end >= 4 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

function startsWithStartCode(bytes: Uint8Array, offset: number, length: number): boolean {
  if (length >= 3 && bytes[offset] === 0 && bytes[offset + 1] === 0 && bytes[offset + 2] === 1) return true;
  return length >= 4 && bytes[offset] === 0 && bytes[offset + 1] === 0 && bytes[offset + 2] === 0 && bytes[offset + 3] === 1;
}

/**
 * True when the first slice NAL unit of an Annex B access unit is an IDR slice (type 5). Looks at the first
 * few KiB only: parameter sets and SEI come before the first slice.
 */
export function containsIdrSlice(bytes: Uint8Array, length: number): boolean {
  const limit = Math.min(length, H264_SCAN_LIMIT) - 3;
  for (let i = 0; i < limit; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) {
      const type = bytes[i + 3]! & 0x1f;
      if (type === 5) return true;
      if (type >= 1 && type <= 4) return false; // a non-IDR slice (or partition) comes first
      i += 2;
    }
  }
  return false;
}
