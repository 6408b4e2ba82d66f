/**
 * Turns transport completions into frames: reads each payload header, finds frame boundaries, and copies the
 * payload data once, straight into the memory of the queue's active buffer (uvc_video.c's decode_start /
 * decode_data / decode_end, for iso and bulk).
 *
 * Frame boundaries. A frame begins at the first payload whose FID differs from the current frame's, and ends at
 * EOF, at the next FID change, at overflow, or (uncompressed) when exactly the expected frame size has arrived.
 * Cameras that bend the rules are handled without quirk tables, by what they are seen to do (learned only from
 * frames that arrived whole):
 * - never set EOF: frames end at the FID change;
 * - never toggle FID: after a frame ended (EOF or full size), the next payload with data begins a new frame.
 *   Same-FID data after a frame's end is dropped as stray only once the camera has shown that it toggles FID;
 * - send the last payload of a frame with the next frame's FID ("late FID"): a payload that switches FID while
 *   a frame is open is taken as that frame's tail when it carries EOF and does not look like a frame start (no
 *   JPEG SOI, no H.264 start code), or when it completes an uncompressed frame to the byte. Once learned, tails
 *   are recognised after losses too, and a tail arriving with no frame open (its frame lost) begins nothing.
 *
 * Errors. A frame is flagged when a payload has the ERR bit, a packet or transfer failed, a header was invalid,
 * bus intervals were lost (back-pressure), the data overflowed the buffer, an uncompressed frame is not exactly
 * the expected size, or an MJPEG frame does not start with SOI (H.264: with a start code). A loss between two
 * frames flags both neighbours, because either may have lost data; so is a frame whose start is a guess (after
 * an overflow, or after a damaged frame that ended by size). `sequence` advances at every frame boundary, with
 * or without a buffer, and by the number of frames a back-pressure gap swallowed (from the gap's length and the
 * FID parity), so a gap in sequence means lost frames.
 *
 * Cost per packet: a few byte reads and one TypedArray.set from a cached subarray view (the views are kept
 * per transfer slot and packet, so steady streaming allocates nothing per packet); packets that simply
 * continue the open frame take a short path.
 */
import { PayloadHeader } from '../spec/uvc.js';
import { TransferStatus, type CompletedTransfer } from '../transport/usb-transport.js';
import type { CompletedFrame } from '../queue/buffer-queue.js';
import type { VideoBuffer } from '../queue/video-buffer.js';
import { ClockRecovery } from './clock-recovery.js';
import { checkPayloadHeader, readU16, readU32 } from './payload-header.js';

/** What the stream carries, as far as assembly cares. */
export type VideoFormatKind = 'uncompressed' | 'mjpeg' | 'h264' | 'compressed';

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
  /** Bus intervals lost while no transfer was in flight. */
  lostIntervals: number;
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
  };
}

/** Cached subarray views of one transfer slot's buffer, one per packet position. */
interface SlotViews {
  source: Uint8Array;
  views: (Uint8Array | undefined)[];
  starts: Int32Array;
  ends: Int32Array;
}

// Imported values used per packet are copied into module constants once: a module loader may turn each use
// of an imported binding into a property lookup on the module namespace (vite-node does), which is
// measurable in the per-packet loop.
const COMPLETED = TransferStatus.COMPLETED;
const CANCELLED = TransferStatus.CANCELLED;
const NO_DEVICE = TransferStatus.NO_DEVICE;
const readU32At = readU32;
const readU16At = readU16;
const FID = PayloadHeader.FID;
const EOF = PayloadHeader.EOF;
const PTS = PayloadHeader.PTS;
const SCR = PayloadHeader.SCR;
const ERR = PayloadHeader.ERR;
const EOH = PayloadHeader.EOH;
const MAX_HEADER = 12;
/** Header length the PTS and SCR bits call for, indexed by (bmHeaderInfo >> 2) & 3. */
const REQUIRED_HEADER_LENGTH = Int32Array.of(2, 6, 8, 12);
/** How far into an H.264 frame to look for its first slice NAL. */
const H264_SCAN_LIMIT = 4096;

export class FrameAssembler {
  readonly stats: AssemblerStats = emptyStats();
  readonly clock: ClockRecovery | null;

  private readonly sink: FrameSink;
  private readonly kind: VideoFormatKind;
  private readonly iso: boolean;
  private readonly expectedSize: number;
  private readonly maxPayload: number;
  private readonly transferSize: number;
  private readonly intervalNs: number;
  private readonly frameIntervalNs: number;
  private readonly dropErrored: boolean;
  private readonly requireEoh: boolean;

  // Stream state.
  /** FID of the current (or last ended) frame; -1 before the first payload. */
  private curFid = -1;
  private frameOpen = false;
  /** The rest of an overflowed frame is being ignored. */
  private skipping = false;
  /** Learned: after a frame ended, the camera toggles FID before the next one (so same-FID data is stray). */
  private fidToggles = false;
  /** Learned: the camera sends a frame's last payload with the next FID (then same-FID data is never stray). */
  private lateFid = false;
  /** The last frame ended whole (EOF, exact size, tail), not by overflow and without lost data. */
  private endedCleanly = false;
  /** Payloads dropped as stray since the last frame ended. */
  private strayPayloads = 0;
  /**
   * The last frame ended by size or overflow after losing data: unless a FID change marks the next frame's
   * start, that start is a guess and the frame is not trusted.
   */
  private alignmentUnsure = false;
  /** Learned: the camera changes FID at all (also early, with a frame's last payload). */
  private fidChanges = false;
  private sequence = -1;
  /** Something was lost since the last payload placed in a frame: the next frame to begin may lack its start. */
  private pendingLoss = false;
  /** FID of the latest header-only payload seen since the last loss; -1 when none. */
  private idleFidAfterLoss = -1;
  /** Bus intervals lost since the last payload, settled at the next payload (0: none). */
  private pendingGapIntervals = 0;
  /** The current payload is the previous frame's tail sent with the next FID. */
  private tail = false;

  // Current frame.
  private buffer: VideoBuffer | null = null;
  private activation = 0;
  private memory: Uint8Array | null = null;
  private capacity = 0;
  private position = 0;
  private frameBytes = 0;
  private frameError = false;
  /** The frame lost data (or may have lost its start): its size says nothing about where it ends. */
  private frameDamaged = false;
  private frameSequence = 0;
  private frameStartNs = 0;
  private framePts = 0;
  private frameHasPts = false;

  // Current packet.
  private packetNs = 0;
  /** SOF of the last SCR handed to the clock (-1: none). */
  private lastScrSof = -1;
  private views: SlotViews | null = null;
  private viewIndex = 0;
  private readonly slotViews: (SlotViews | undefined)[] = [];

  /** The payload being started is complete in hand (iso packets; a bulk payload ending in this transfer). */
  private payloadWhole = true;

  // Bulk payload state.
  private inPayload = false;
  private payloadBytes = 0;
  private payloadInfo = 0;
  private payloadSkip = false;
  private bulkResync = false;

  constructor(sink: FrameSink, options: FrameAssemblerOptions) {
    this.sink = sink;
    this.kind = options.formatKind;
    this.iso = options.transferType === 'iso';
    this.expectedSize = options.formatKind === 'uncompressed' ? (options.expectedFrameSize ?? 0) : 0;
    this.maxPayload = options.maxPayloadSize ?? 0;
    this.transferSize = options.transferSize ?? 0;
    this.intervalNs = options.intervalNs ?? 0;
    this.frameIntervalNs = options.frameIntervalNs ?? 0;
    this.dropErrored = options.dropErroredFrames ?? false;
    this.requireEoh = options.requireEoh ?? false;
    if (!this.iso && !(this.maxPayload > 0 && this.transferSize > 0)) {
      throw new RangeError('bulk assembly needs maxPayloadSize and transferSize');
    }
    const useClock = (options.hardwareTimestamps ?? true) && (options.clockFrequency ?? 0) > 0;
    this.clock = useClock ? new ClockRecovery({ clockFrequency: options.clockFrequency! }) : null;
  }

  /** Starts over for a new stream: forgets FID history, sequence, clock samples; gives back the active buffer. */
  reset(): void {
    this.abandon();
    this.curFid = -1;
    this.frameOpen = false;
    this.skipping = false;
    this.fidToggles = false;
    this.lateFid = false;
    this.endedCleanly = false;
    this.strayPayloads = 0;
    this.alignmentUnsure = false;
    this.fidChanges = false;
    this.sequence = -1;
    this.pendingLoss = false;
    this.idleFidAfterLoss = -1;
    this.pendingGapIntervals = 0;
    this.tail = false;
    this.inPayload = false;
    this.payloadBytes = 0;
    this.payloadSkip = false;
    this.bulkResync = false;
    this.slotViews.length = 0;
    this.clock?.reset();
    this.lastScrSof = -1;
    Object.assign(this.stats, emptyStats());
  }

  /** Gives the active buffer back to the head of the queue, unfilled (stream stopping mid-frame). */
  abandon(): void {
    const buffer = this.buffer;
    this.buffer = null;
    this.memory = null;
    this.position = 0;
    this.frameOpen = false;
    if (buffer !== null && this.sink.isActive(buffer, this.activation)) this.sink.requeueBuffer(buffer);
  }

  /** Feeds one completion. Does not release it: the caller does, right after. */
  processTransfer(transfer: CompletedTransfer): void {
    const status = transfer.status;
    // Cancelled transfers come back while stopping; NO_DEVICE is the caller's business (disconnect).
    if (status === CANCELLED || status === NO_DEVICE) return;
    // Only user code can take a buffer back (streamoff, cancel, disconnect), and none runs while a transfer is
    // processed: one check per transfer covers every packet in it.
    const buffer = this.buffer;
    if (buffer !== null && !this.sink.isActive(buffer, this.activation)) {
      if (this.frameOpen) this.stats.cancelledFrames++;
      this.buffer = null;
      this.memory = null;
    }
    this.views = this.viewsFor(transfer.slot, transfer.buffer, this.iso ? transfer.packetCount : 1);
    if (this.iso) this.processIso(transfer);
    else this.processBulk(transfer);
  }

  // ---------------------------------------------------------------- iso

  private processIso(transfer: CompletedTransfer): void {
    if (transfer.lostIntervals > 0) this.noteGap(transfer.lostIntervals);
    if (transfer.status !== COMPLETED) {
      // The packet table of a failed iso transfer cannot be trusted: its bus time is lost as a whole.
      this.stats.lostPackets += transfer.packetCount;
      this.noteGap(transfer.packetCount);
      return;
    }
    const bytes = transfer.buffer;
    const count = transfer.packetCount;
    const stride = transfer.packetStride;
    const statuses = transfer.packetStatus;
    const lengths = transfer.packetLength;
    const last = transfer.completedAtNs;
    const interval = this.intervalNs;
    const stats = this.stats;
    const cache = this.views!;
    const views = cache.views;
    const starts = cache.starts;
    const ends = cache.ends;
    for (let i = 0; i < count; i++) {
      if (statuses[i] !== COMPLETED) {
        stats.lostPackets++;
        this.noteLoss();
        continue;
      }
      const length = lengths[i]!;
      if (length <= 0) continue;
      const offset = i * stride;
      if (length > stride || offset + length > bytes.length) {
        stats.invalidHeaders++;
        this.noteLoss();
        continue;
      }
      this.packetNs = last - (count - 1 - i) * interval;
      const headerLength = bytes[offset]!;
      const info = bytes[offset + 1]!;

      // The common case, kept lean: a packet that continues the open frame (valid header, same FID, no EOF,
      // no ERR, nothing lost before it), whose data fits.
      if (this.frameOpen && (info & (FID | EOF | ERR)) === this.curFid && !this.pendingLoss && this.pendingGapIntervals === 0) {
        const needed = REQUIRED_HEADER_LENGTH[(info >> 2) & 3]!;
        const headerOk =
          headerLength <= length &&
          headerLength >= needed &&
          ((info & EOH) !== 0 ? headerLength <= MAX_HEADER : headerLength === needed && !this.requireEoh);
        const dataLength = length - headerLength;
        const memory = this.memory;
        if (headerOk && (memory === null || dataLength <= this.capacity - this.position)) {
          stats.payloads++;
          if ((info & SCR) !== 0 && this.clock !== null) {
            // Most packets repeat the previous SOF: check that here, without a call.
            const sofAt = offset + ((info & PTS) !== 0 ? 10 : 6);
            if (((bytes[sofAt]! | (bytes[sofAt + 1]! << 8)) & 0x7ff) !== this.lastScrSof) {
              this.sampleClock(bytes, offset, info, dataLength > 0);
            }
          }
          if (dataLength === 0) continue;
          if ((info & PTS) !== 0 && !this.frameHasPts) {
            this.framePts = readU32At(bytes, offset + 2);
            this.frameHasPts = true;
          }
          this.frameBytes += dataLength;
          stats.bytes += dataLength;
          if (memory !== null) {
            // One copy, from a subarray view cached per slot and packet (no allocation in steady streaming).
            const start = offset + headerLength;
            const end = offset + length;
            let view = views[i];
            if (view === undefined || starts[i] !== start || ends[i] !== end) {
              view = bytes.subarray(start, end);
              views[i] = view;
              starts[i] = start;
              ends[i] = end;
            }
            memory.set(view, this.position);
            this.position += dataLength;
          }
          if (this.expectedSize > 0 && this.frameBytes === this.expectedSize) this.payloadEnd(info);
          continue;
        }
      }

      this.viewIndex = i;
      const checked = checkPayloadHeader(bytes, offset, length, this.requireEoh);
      if (checked < 0) {
        stats.invalidHeaders++;
        this.noteLoss();
        continue;
      }
      if (!this.payloadStart(bytes, offset, checked, info, length > checked, length - checked)) continue;
      if (length > checked) this.append(bytes, offset + checked, offset + length);
      this.payloadEnd(info);
    }
  }

  // ---------------------------------------------------------------- bulk

  private processBulk(transfer: CompletedTransfer): void {
    const length = transfer.actualLength;
    if (transfer.status !== COMPLETED) {
      // Where the next payload starts is unknown now: resynchronise.
      this.stats.lostPackets++;
      this.noteLoss();
      this.inPayload = false;
      this.payloadSkip = false;
      this.bulkResync = true;
      return;
    }
    const bytes = transfer.buffer;
    const short = length < this.transferSize;
    if (length === 0 && !this.inPayload) return; // a zero-length packet between payloads
    this.packetNs = transfer.completedAtNs;
    this.viewIndex = 0;
    if (this.bulkResync) {
      if (!this.looksLikePayloadStart(bytes, length)) {
        if (short) this.bulkResync = false;
        return;
      }
      this.bulkResync = false;
    }
    if (!this.inPayload) {
      this.inPayload = true;
      this.payloadBytes = 0;
      const headerLength = checkPayloadHeader(bytes, 0, length, this.requireEoh);
      if (headerLength < 0) {
        this.stats.invalidHeaders++;
        this.noteLoss();
        this.payloadSkip = true;
      } else {
        const info = bytes[1]!;
        this.payloadInfo = info;
        const hasData = length > headerLength || !short;
        this.payloadWhole = short || length >= this.maxPayload;
        this.payloadSkip = !this.payloadStart(bytes, 0, headerLength, info, hasData, length - headerLength);
        if (!this.payloadSkip && length > headerLength) this.append(bytes, headerLength, length);
      }
    } else if (!this.payloadSkip && length > 0) {
      this.append(bytes, 0, length);
    }
    this.payloadBytes += length;
    if (short || this.payloadBytes >= this.maxPayload) {
      this.inPayload = false;
      if (!this.payloadSkip) this.payloadEnd(this.payloadInfo);
      this.payloadSkip = false;
    }
  }

  /** After a failed bulk transfer: a strictly valid header that changes FID is taken as a fresh start. */
  private looksLikePayloadStart(bytes: Uint8Array, length: number): boolean {
    const headerLength = checkPayloadHeader(bytes, 0, length, true);
    return headerLength > 0 && (bytes[1]! & FID) !== this.curFid;
  }

  // ---------------------------------------------------------------- payloads and frames

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
    this.stats.payloads++;
    const fid = info & FID;
    if (this.clock !== null && (info & SCR) !== 0) this.sampleClock(bytes, offset, info, hasData);
    if (this.pendingGapIntervals > 0) this.settleGap(fid, (info & EOF) !== 0);

    if (fid !== this.curFid && this.curFid >= 0) this.fidChanges = true;
    if (this.pendingLoss && !hasData) {
      this.idleFidAfterLoss = fid;
    } else if (this.pendingLoss && hasData && this.idleFidAfterLoss >= 0 && fid !== this.idleFidAfterLoss && !this.lateFid) {
      // A header-only payload came after the loss and this data carries another FID: the frame it begins
      // started after that payload (a FID never changes inside a frame), so the loss is not in it.
      this.pendingLoss = false;
    }
    if (this.frameOpen) {
      if (fid !== this.curFid) {
        if (this.isTail(info, bytes, offset + headerLength, firstDataLength)) {
          // The camera already switched FID for the last payload of this frame.
          this.tail = true;
          this.curFid = fid;
          // Learn from a clean decision only: a bulk payload taken on trust is judged when it ends.
          if (this.payloadWhole || this.expectedSize === 0) this.learnLateFid();
        } else {
          this.endFrame();
          // From a camera that ends frames with an early FID switch, a switch that is not a tail means a lost
          // or malformed tail: this payload may itself be one, so the frame it begins is not trusted.
          if (this.lateFid) this.pendingLoss = true;
          this.beginFrame(fid);
        }
      }
    } else if (this.isOrphanTail(info, bytes, offset + headerLength, firstDataLength)) {
      // The last payload of a frame whose other payloads were lost (or skipped after an overflow): nothing to
      // begin, only the FID moves on, and the next frame starts clean after it.
      this.curFid = fid;
      this.skipping = false;
      this.pendingLoss = false;
      this.alignmentUnsure = false;
      this.stats.outOfSyncPayloads++;
      return false;
    } else if (fid !== this.curFid && this.strayPayloads > 0 && (info & EOF) !== 0 && !this.looksLikeFrameStart(bytes, offset + headerLength, firstDataLength)) {
      // Data was dropped as stray, and now an EOF payload with a new FID that starts no frame: the camera
      // switches FID with a frame's last payload after all, and the dropped data was a whole frame.
      this.fidToggles = false;
      this.lateFid = true;
      this.curFid = fid;
      this.strayPayloads = 0;
      this.sequence++;
      this.stats.droppedFrames++;
      return false;
    } else if (this.curFid < 0 && !hasData) {
      // Idle packets before the first frame: their FID says nothing about frames yet. Beginning a frame here
      // would count an empty one when the first real frame comes with the other FID, and the user's first frame
      // would look like the second (uvcvideo, too, never counts a FID change over a buffer holding no data).
      this.curFid = fid;
      return false;
    } else if (fid !== this.curFid) {
      // Learn only from a clean observation: after a loss or an overflow, the payload that ended the previous
      // frame may be gone.
      if (this.curFid >= 0 && this.endedCleanly && !this.pendingLoss && !this.skipping && !this.lateFid) this.fidToggles = true;
      this.skipping = false;
      this.beginFrame(fid);
    } else if (this.skipping) {
      // The rest of an overflowed frame; its EOF ends the skip.
      if ((info & EOF) !== 0) this.skipping = false;
      return false;
    } else if (hasData) {
      if (this.fidToggles) {
        // Stray data of a frame that already ended (uvcvideo drops it the same way).
        this.stats.outOfSyncPayloads++;
        this.strayPayloads++;
        return false;
      }
      this.beginFrame(fid);
    } else {
      return false; // a header-only payload between frames
    }

    this.pendingLoss = false;
    if ((info & ERR) !== 0) {
      this.stats.errorBits++;
      this.frameError = true;
    }
    // The PTS of the first payload with data: idle header-only payloads that already carry the next FID often
    // still carry the previous frame's PTS (the Vaultmicro captures do).
    if ((info & PTS) !== 0 && hasData && !this.frameHasPts && !this.tail) {
      this.framePts = readU32At(bytes, offset + 2);
      this.frameHasPts = true;
    }
    return true;
  }

  /** Header bookkeeping at the end of a payload (its data is in). */
  private payloadEnd(info: number): void {
    if (!this.frameOpen) return;
    if (this.tail) {
      this.tail = false;
      if (this.expectedSize > 0 && this.frameBytes === this.expectedSize && !this.frameDamaged) this.learnLateFid();
      this.endFrame();
      return;
    }
    // EOF on a frame without data does not end it (uvcvideo does the same): idle packets may carry it.
    if ((info & EOF) !== 0 && this.frameBytes > 0) {
      this.endFrame();
      return;
    }
    if (this.expectedSize > 0 && this.frameBytes === this.expectedSize) {
      // Ended by its size alone: if it had lost data, where the next frame starts is a guess.
      const unsure = this.frameDamaged;
      this.endFrame();
      if (unsure) this.alignmentUnsure = true;
    }
  }

  /** The camera switches FID with a frame's last payload: same-FID data after a frame end is never stray. */
  private learnLateFid(): void {
    this.lateFid = true;
    this.fidToggles = false;
  }

  /** A payload with a new FID while a frame is open: is it that frame's tail? */
  private isTail(info: number, bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    if (this.frameBytes === 0) return false;
    const eof = (info & EOF) !== 0;
    if (this.pendingLoss || this.frameDamaged) {
      // Data was lost: whether this is the open frame's tail cannot be told from sizes, and nothing may be
      // learned from it. A camera known to switch FID early ends every frame this way, so an EOF here closes
      // the (already flagged) frame, unless the payload plainly starts a frame.
      return this.lateFid && eof && !this.looksLikeFrameStart(bytes, dataOffset, dataLength);
    }
    if (this.expectedSize > 0) {
      const remaining = this.expectedSize - this.frameBytes;
      if (remaining <= 0) return false;
      // A bulk payload spanning transfers shows its size only at its end: an incomplete, undamaged frame
      // takes it (and is flagged then if it does not fit exactly). A whole payload is the tail when it
      // completes the frame exactly, or, from a camera known to switch FID early, when it carries EOF (an
      // uncompressed frame never starts with an EOF payload).
      if (!this.payloadWhole) return true;
      return dataLength === remaining || (eof && this.lateFid);
    }
    if (!eof) return false;
    return dataLength <= 0 || this.kind === 'compressed' || !this.looksLikeFrameStart(bytes, dataOffset, dataLength);
  }

  /**
   * With no frame open, after a loss or while skipping an overflowed frame, a camera that switches FID early
   * sends an EOF payload: the tail of a frame that is not being assembled.
   */
  private isOrphanTail(info: number, bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    return (
      this.lateFid &&
      (this.pendingLoss || this.skipping) &&
      (info & EOF) !== 0 &&
      !this.looksLikeFrameStart(bytes, dataOffset, dataLength)
    );
  }

  /** A JPEG SOI or an H.264 start code at the start of the data; false for formats without such a mark. */
  private looksLikeFrameStart(bytes: Uint8Array, offset: number, length: number): boolean {
    if (this.kind === 'mjpeg') return length >= 2 && bytes[offset] === 0xff && bytes[offset + 1] === 0xd8;
    if (this.kind === 'h264') return startsWithStartCode(bytes, offset, length);
    return false;
  }

  private beginFrame(fid: number): void {
    if (this.alignmentUnsure) {
      // A FID change marks a frame start, except from a camera that changes FID with a frame's last payload.
      if (fid === this.curFid || this.lateFid) this.pendingLoss = true;
      this.alignmentUnsure = false;
    }
    this.sequence++;
    this.curFid = fid;
    this.frameOpen = true;
    this.frameBytes = 0;
    this.frameError = this.pendingLoss;
    this.frameDamaged = this.pendingLoss;
    this.frameSequence = this.sequence;
    this.frameStartNs = this.packetNs;
    this.frameHasPts = false;
    this.position = 0;
    // A buffer kept from an empty or discarded frame is reused if the queue still lets us.
    let buffer = this.buffer;
    if (buffer !== null && !this.sink.isActive(buffer, this.activation)) buffer = null;
    if (buffer === null) {
      buffer = this.sink.nextBuffer();
      if (buffer !== null) this.activation = buffer._activation;
    }
    this.buffer = buffer;
    this.memory = buffer === null ? null : buffer.memory;
    this.capacity = buffer === null ? 0 : buffer.length;
  }

  private endFrame(): void {
    this.frameOpen = false;
    this.endedCleanly = !this.frameDamaged;
    this.strayPayloads = 0;
    const stats = this.stats;
    if (this.frameBytes === 0) {
      // No data: the camera sent an empty frame, or everything it sent for it was lost.
      if (this.frameError) stats.droppedFrames++;
      else stats.emptyFrames++;
      return; // the buffer, if any, stays ours for the next frame
    }
    let error = this.frameError;
    if (this.expectedSize > 0 && this.frameBytes !== this.expectedSize) {
      stats.sizeMismatches++;
      error = true;
    }
    const buffer = this.buffer;
    const memory = this.memory;
    if (buffer === null || memory === null) {
      stats.droppedFrames++;
      if (error) stats.erroredFrames++;
      return;
    }
    // A frame that does not start the way its format must was joined in the middle.
    if (this.kind === 'mjpeg' && !(this.position >= 2 && memory[0] === 0xff && memory[1] === 0xd8)) error = true;
    if (this.kind === 'h264' && !startsWithStartCode(memory, 0, this.position)) error = true;
    if (error) stats.erroredFrames++;
    if (!this.sink.isActive(buffer, this.activation)) {
      stats.cancelledFrames++;
      this.buffer = null;
      this.memory = null;
      return;
    }
    if (error && this.dropErrored) {
      stats.discardedFrames++;
      this.position = 0;
      return; // keep the buffer for the next frame
    }
    const bytesused = this.position;
    this.buffer = null;
    this.memory = null;
    this.position = 0;
    stats.frames++;
    this.sink.completeBuffer(buffer, {
      bytesused,
      error,
      timestamp: this.frameTimestamp(),
      sequence: this.frameSequence,
      keyframe: this.isKeyframe(memory, bytesused),
    });
  }

  /** Copies payload bytes [start, end) of the current packet into the frame: the one copy of the data path. */
  private append(bytes: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.frameBytes += length;
    this.stats.bytes += length;
    const memory = this.memory;
    if (memory === null) return; // no buffer: the frame is being dropped, only counted
    const room = this.capacity - this.position;
    if (length > room) {
      if (room > 0) memory.set(bytes.subarray(start, start + room), this.position);
      this.position = this.capacity;
      this.frameError = true;
      this.frameDamaged = true;
      this.stats.overflows++;
      this.tail = false;
      this.endFrame();
      this.skipping = true;
      this.alignmentUnsure = true;
      return;
    }
    memory.set(this.view(bytes, start, end), this.position);
    this.position += length;
  }

  /** A subarray of the current transfer, cached per slot and packet so steady streaming allocates nothing. */
  private view(bytes: Uint8Array, start: number, end: number): Uint8Array {
    const cache = this.views;
    if (cache === null || cache.source !== bytes) return bytes.subarray(start, end);
    const i = this.viewIndex;
    if (i < cache.starts.length) {
      const cached = cache.views[i];
      if (cached !== undefined && cache.starts[i] === start && cache.ends[i] === end) return cached;
      const fresh = bytes.subarray(start, end);
      cache.views[i] = fresh;
      cache.starts[i] = start;
      cache.ends[i] = end;
      return fresh;
    }
    return bytes.subarray(start, end);
  }

  /** The view cache of a transfer slot, new when the slot's memory changed or has more packets than before. */
  private viewsFor(slot: number, source: Uint8Array, positions: number): SlotViews {
    let cache = this.slotViews[slot];
    if (cache === undefined || cache.source !== source || cache.starts.length < positions) {
      const size = Math.max(positions, 1);
      cache = { source, views: new Array<Uint8Array | undefined>(size), starts: new Int32Array(size), ends: new Int32Array(size) };
      this.slotViews[slot] = cache;
    }
    return cache;
  }

  /** A packet or transfer was lost or refused: the open frame is damaged, and so may be the next one. */
  private noteLoss(): void {
    if (this.frameOpen) {
      this.frameError = true;
      this.frameDamaged = true;
    }
    this.pendingLoss = true;
    this.idleFidAfterLoss = -1;
  }

  /** Bus intervals passed with no transfer in flight (iso): data, maybe whole frames, are gone. */
  private noteGap(lostIntervals: number): void {
    this.stats.lostIntervals += lostIntervals;
    this.noteLoss();
    if (this.frameIntervalNs > 0 && this.intervalNs > 0) this.pendingGapIntervals += lostIntervals;
  }

  /**
   * Advances `sequence` by the frame boundaries a gap swallowed. The FID seen after the gap tells the parity
   * of that count (when the camera toggles FID), the gap's length its size; the boundary the FID change itself
   * reveals is counted by the normal path.
   */
  private settleGap(fid: number, eof: boolean): void {
    // The boundaries that may have passed lie in the lost intervals and at this payload's own interval.
    const periods = ((this.pendingGapIntervals + 1) * this.intervalNs) / this.frameIntervalNs;
    this.pendingGapIntervals = 0;
    if (this.curFid < 0) return;
    const toggled = fid !== this.curFid;
    let boundaries = Math.round(periods);
    if (this.fidChanges) {
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
    const current = this.frameOpen || this.skipping; // a frame whose end has not been seen yet
    const counted = this.lateFid ? (current && (toggled || eof) ? 1 : 0) : toggled ? 1 : 0;
    const missed = boundaries - counted;
    if (missed > 0) {
      this.sequence += missed;
      this.stats.droppedFrames += missed;
    }
  }

  private sampleClock(bytes: Uint8Array, offset: number, info: number, hasData: boolean): void {
    const at = offset + ((info & PTS) !== 0 ? 6 : 2);
    const sof = readU16At(bytes, at + 4) & 0x7ff;
    // Most packets repeat the previous SOF (8 microframes per frame, or UVC 1.5's one SOF per video frame).
    if (sof === this.lastScrSof) return;
    const stc = readU32At(bytes, at);
    // Some devices send all-zero SCRs in header-only packets before a frame's data (uvcvideo ignores them).
    if (stc === 0 && sof === 0 && !hasData && this.frameBytes === 0) return;
    this.lastScrSof = sof;
    this.clock!.addSample(stc, sof, this.packetNs);
  }

  private frameTimestamp(): number {
    if (this.frameHasPts && this.clock !== null) {
      const host = this.clock.toHostNs(this.framePts);
      if (!Number.isNaN(host)) {
        this.stats.deviceTimestamps++;
        return Math.round(host);
      }
    }
    return this.frameStartNs;
  }

  private isKeyframe(memory: Uint8Array, length: number): boolean {
    switch (this.kind) {
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
