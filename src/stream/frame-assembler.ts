/**
 * Turns transport completions into frames: reads each payload header, finds frame boundaries, and copies the
 * payload data once, straight into the memory of the queue's active buffer (uvc_video.c's decode_start /
 * decode_data / decode_end, for iso and bulk).
 *
 * Frame boundaries. A frame begins at the first payload whose FID differs from the current frame's, and ends at
 * EOF, at the next FID change, at overflow, or (uncompressed) when exactly the expected frame size has arrived.
 * Cameras that bend the rules are handled without quirk tables:
 * - never set EOF: frames end at the FID change;
 * - never toggle FID: after a frame ended (EOF or full size), the next payload with data begins a new frame.
 *   Data with an unchanged FID after an EOF is dropped only once the camera has shown that it does toggle FID;
 * - send the last payload of a frame with the next frame's FID: a payload that toggles FID while a frame is
 *   open is taken as that frame's tail when it carries EOF and does not look like a frame start (no JPEG SOI,
 *   no H.264 start code), or when it completes an uncompressed frame to the byte.
 *
 * Errors. A frame is flagged when a payload has the ERR bit, a packet or transfer failed, a header was invalid,
 * bus intervals were lost (back-pressure), the data overflowed the buffer, an uncompressed frame is not exactly
 * the expected size, or an MJPEG frame does not start with SOI. A loss between two frames flags both neighbours,
 * because either may have lost data. `sequence` advances at every frame boundary, with or without a buffer, and
 * by the estimated number of frames a back-pressure gap swallowed, so a gap in sequence means lost frames.
 *
 * Cost per packet: a few byte reads and one TypedArray.set from a cached subarray view (the views are kept
 * per transfer slot and packet, so steady streaming allocates nothing per packet).
 */
import { PayloadHeader } from '../spec/uvc.js';
import { TransferStatus, type CompletedTransfer } from '../transport/usb-transport.js';
import type { CompletedFrame } from '../queue/buffer-queue.js';
import type { VideoBuffer } from '../queue/video-buffer.js';
import { ClockRecovery } from './clock-recovery.js';
import { checkPayloadHeader, readU16, readU32, scrOffset } from './payload-header.js';

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

const FID = PayloadHeader.FID;
const EOF = PayloadHeader.EOF;
const PTS = PayloadHeader.PTS;
const SCR = PayloadHeader.SCR;
const ERR = PayloadHeader.ERR;
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
  /** Learned: the camera toggles FID between frames. */
  private fidToggles = false;
  private sequence = -1;
  /** Something was lost since the last payload placed in a frame: the next frame to begin may lack its start. */
  private pendingLoss = false;
  /** Frame periods a back-pressure gap covered, settled at the next payload (NaN: none). */
  private pendingGapFrames = NaN;
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
  private frameSequence = 0;
  private frameStartNs = 0;
  private framePts = 0;
  private frameHasPts = false;

  // Current packet.
  private packetNs = 0;
  private views: SlotViews | null = null;
  private viewIndex = 0;
  private readonly slotViews: (SlotViews | undefined)[] = [];

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
    this.sequence = -1;
    this.pendingLoss = false;
    this.pendingGapFrames = NaN;
    this.tail = false;
    this.inPayload = false;
    this.payloadBytes = 0;
    this.payloadSkip = false;
    this.bulkResync = false;
    this.slotViews.length = 0;
    this.clock?.reset();
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
    if (status === TransferStatus.CANCELLED || status === TransferStatus.NO_DEVICE) return;
    this.views = this.viewsFor(transfer.slot, transfer.buffer);
    if (this.iso) this.processIso(transfer);
    else this.processBulk(transfer);
  }

  // ---------------------------------------------------------------- iso

  private processIso(transfer: CompletedTransfer): void {
    if (transfer.lostIntervals > 0) this.noteGap(transfer.lostIntervals);
    if (transfer.status !== TransferStatus.COMPLETED) {
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
    for (let i = 0; i < count; i++) {
      if (statuses[i] !== TransferStatus.COMPLETED) {
        this.stats.lostPackets++;
        this.noteLoss();
        continue;
      }
      const length = lengths[i]!;
      if (length <= 0) continue;
      const offset = i * stride;
      if (length > stride || offset + length > bytes.length) {
        this.stats.invalidHeaders++;
        this.noteLoss();
        continue;
      }
      this.packetNs = last - (count - 1 - i) * interval;
      this.viewIndex = i;
      const headerLength = checkPayloadHeader(bytes, offset, length, this.requireEoh);
      if (headerLength < 0) {
        this.stats.invalidHeaders++;
        this.noteLoss();
        continue;
      }
      const info = bytes[offset + 1]!;
      if (!this.payloadStart(bytes, offset, headerLength, info, length > headerLength, length - headerLength)) continue;
      if (length > headerLength) this.append(bytes, offset + headerLength, offset + length);
      this.payloadEnd(info);
    }
  }

  // ---------------------------------------------------------------- bulk

  private processBulk(transfer: CompletedTransfer): void {
    const length = transfer.actualLength;
    if (transfer.status !== TransferStatus.COMPLETED) {
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
    if (!Number.isNaN(this.pendingGapFrames)) this.settleGap(fid);

    if (this.frameOpen) {
      if (fid !== this.curFid) {
        if (this.isTail(info, bytes, offset + headerLength, firstDataLength)) {
          // The camera already switched FID for the last payload of this frame.
          this.tail = true;
          this.curFid = fid;
        } else {
          this.endFrame();
          this.beginFrame(fid);
        }
      }
    } else if (fid !== this.curFid) {
      if (this.curFid >= 0) this.fidToggles = true;
      this.skipping = false;
      this.beginFrame(fid);
    } else if (this.skipping) {
      // The rest of an overflowed frame; its EOF ends the skip.
      if ((info & EOF) !== 0) this.skipping = false;
      return false;
    } else if (hasData) {
      if (this.fidToggles) {
        this.stats.outOfSyncPayloads++;
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
    if ((info & PTS) !== 0 && !this.frameHasPts && !this.tail) {
      this.framePts = readU32(bytes, offset + 2);
      this.frameHasPts = true;
    }
    return true;
  }

  /** Header bookkeeping at the end of a payload (its data is in). */
  private payloadEnd(info: number): void {
    if (!this.frameOpen) return;
    if (this.tail) {
      this.tail = false;
      this.endFrame();
      return;
    }
    // EOF on a frame without data does not end it (uvcvideo does the same): idle packets may carry it.
    if ((info & EOF) !== 0 && this.frameBytes > 0) {
      this.endFrame();
      return;
    }
    if (this.expectedSize > 0 && this.frameBytes === this.expectedSize) this.endFrame();
  }

  /** A payload with a new FID while a frame is open: is it that frame's tail? */
  private isTail(info: number, bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    if (this.frameBytes === 0 || this.pendingLoss) return false;
    if (this.expectedSize > 0) {
      const remaining = this.expectedSize - this.frameBytes;
      if (remaining <= 0) return false;
      if (this.iso) return dataLength === remaining;
      return (info & EOF) !== 0 && dataLength <= remaining;
    }
    if ((info & EOF) === 0) return false;
    if (dataLength <= 0) return true;
    if (this.kind === 'mjpeg') return !(dataLength >= 2 && bytes[dataOffset] === 0xff && bytes[dataOffset + 1] === 0xd8);
    if (this.kind === 'h264') return !startsWithStartCode(bytes, dataOffset, dataLength);
    return true;
  }

  private beginFrame(fid: number): void {
    this.sequence++;
    this.curFid = fid;
    this.frameOpen = true;
    this.frameBytes = 0;
    this.frameError = this.pendingLoss;
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
    if (this.kind === 'mjpeg' && !(this.position >= 2 && memory[0] === 0xff && memory[1] === 0xd8)) error = true;
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
    if (!this.sink.isActive(this.buffer!, this.activation)) {
      // streamoff, cancel or disconnect took the buffer back: it is not ours to write any more.
      this.stats.cancelledFrames++;
      this.buffer = null;
      this.memory = null;
      return;
    }
    const room = this.capacity - this.position;
    if (length > room) {
      if (room > 0) memory.set(bytes.subarray(start, start + room), this.position);
      this.position = this.capacity;
      this.frameError = true;
      this.stats.overflows++;
      this.tail = false;
      this.endFrame();
      this.skipping = true;
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

  private viewsFor(slot: number, source: Uint8Array): SlotViews {
    let cache = this.slotViews[slot];
    if (cache === undefined || cache.source !== source) {
      const positions = this.iso ? 128 : 1;
      cache = { source, views: new Array<Uint8Array | undefined>(positions), starts: new Int32Array(positions), ends: new Int32Array(positions) };
      this.slotViews[slot] = cache;
    }
    return cache;
  }

  /** A packet or transfer was lost or refused: the open frame is damaged, and so may be the next one. */
  private noteLoss(): void {
    if (this.frameOpen) this.frameError = true;
    this.pendingLoss = true;
  }

  /** Bus intervals passed with no transfer in flight (iso): data, maybe whole frames, are gone. */
  private noteGap(lostIntervals: number): void {
    this.stats.lostIntervals += lostIntervals;
    this.noteLoss();
    if (this.frameIntervalNs > 0 && this.intervalNs > 0) {
      const periods = (lostIntervals * this.intervalNs) / this.frameIntervalNs;
      this.pendingGapFrames = Number.isNaN(this.pendingGapFrames) ? periods : this.pendingGapFrames + periods;
    }
  }

  /**
   * Advances `sequence` by the frame boundaries a gap swallowed. The FID seen after the gap tells the parity
   * of that count (when the camera toggles FID), the gap's length its size; the boundary the FID change itself
   * reveals is counted by the normal path.
   */
  private settleGap(fid: number): void {
    const periods = this.pendingGapFrames;
    this.pendingGapFrames = NaN;
    if (this.curFid < 0) return;
    const toggled = fid !== this.curFid;
    let boundaries = Math.round(periods);
    if (this.fidToggles) {
      // The nearest count whose parity matches what the FID says.
      const parity = toggled ? 1 : 0;
      if ((boundaries & 1) !== parity) boundaries = periods > boundaries ? boundaries + 1 : boundaries - 1;
      if (boundaries < parity) boundaries = parity;
    }
    const missed = boundaries - (toggled ? 1 : 0);
    if (missed > 0) {
      this.sequence += missed;
      this.stats.droppedFrames += missed;
    }
  }

  private sampleClock(bytes: Uint8Array, offset: number, info: number, hasData: boolean): void {
    const at = offset + scrOffset(info);
    const stc = readU32(bytes, at);
    const sof = readU16(bytes, at + 4) & 0x7ff;
    // Some devices send all-zero SCRs in header-only packets before a frame's data (uvcvideo ignores them).
    if (stc === 0 && sof === 0 && !hasData && this.frameBytes === 0) return;
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
