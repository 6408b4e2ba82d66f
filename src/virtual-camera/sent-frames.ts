/**
 * Ground truth: what the virtual camera did with every frame it captured, so a driver can be scored against it
 * (`camera.sentFrames`, and `scoreCapture()` in frame-score.ts). One record per captured frame, created at the
 * capture and completed as its payloads go out: whether it was sent, skipped (a newer capture was sent
 * instead) or went out while nobody listened; which faults the device committed on it; when it was captured.
 *
 * The log is a ring: it keeps the newest `limit` records (default 2048, option `sentFramesLimit`), oldest
 * first, over every stream since the camera was made (`stream` tells them apart; `sequence` restarts at 0).
 */

/** What the device did to a frame, on purpose (faults) or because the host did not listen (bus-gap). */
export type FrameFault =
  /** A packet (iso) or transfer (bulk) carrying its data was spoiled on the bus. */
  | 'packet-loss'
  /** Its payload headers carry the ERR bit. */
  | 'error-bit'
  /** Rendering failed: it went out empty, with the ERR bit. */
  | 'render-failed'
  /** Cut short before its last payload (fewer bytes than the format says). */
  | 'short'
  /** Longer than the committed dwMaxVideoFrameSize: no buffer can hold it. */
  | 'overflow'
  /** Some of its payloads went out while the host had no request pending (real-time pace): the host cannot have them. */
  | 'bus-gap'
  /** The stream stopped (or the device left) before its last payload went out. */
  | 'aborted'
  /**
   * A request carrying its data was cancelled by the host (an unlink, e.g. a transfer timeout): the host cannot
   * have it whole. The host's doing, not the device's, but the frame is damaged all the same.
   */
  | 'host-cancelled'
  /** Its last payload lacks EOF (framing only: the bytes are whole). */
  | 'missing-eof'
  /** Sent with FID 0 like every frame (framing only: the bytes are whole). */
  | 'no-fid';

/** Faults that leave the frame's bytes whole: a driver must deliver such a frame unflagged. */
const FRAMING_ONLY: ReadonlySet<FrameFault> = new Set<FrameFault>(['missing-eof', 'no-fid']);

export interface SentFrame {
  /** Streams since the camera was made, from 0 (a new stream starts at each alt setting / bulk start). */
  stream: number;
  /** The frame's number in its stream, from 0: the number its stamp carries (mod frameCache, if set). */
  sequence: number;
  /**
   * 'captured': not on the bus yet; 'sending': payloads are going out; 'sent': its last payload went out;
   * 'skipped': never sent, a newer capture went out instead (real-time pace, bus too slow or host too late).
   */
  status: 'captured' | 'sending' | 'sent' | 'skipped';
  /** Every payload went out while the host had no request pending: sent, but nobody can have received it. */
  unheard: boolean;
  /** What the device did to it; empty when it went out as it should. */
  faults: FrameFault[];
  /** A fault made its bytes unreceivable as sent: a driver must flag it (or lose it). */
  damaged: boolean;
  /** Bytes of the picture (the encoded JPEG, or width × height × bytes per pixel). */
  size: number;
  /** Bytes of picture data the device put on the bus for it (fewer when short, more when overflowing). */
  bytes: number;
  /**
   * The capture instant on the host clock (process.hrtime, ns). Real-time pace: the instant its PTS stands for
   * (the device clock and the bus clock both run off the host clock). Fast pace: bus time is virtual, so this
   * is the host time at which the device took the frame (PTS then follows virtual time, not this).
   */
  captureNs: number;
  /** dwPresentationTime in its headers (device clock ticks), or null when headers carry no PTS. */
  pts: number | null;
}

export const DEFAULT_SENT_FRAMES_LIMIT = 2048;

export class SentFrameLog {
  private readonly ring: (SentFrame | undefined)[];
  private next = 0;
  private count = 0;
  private streams = -1;

  constructor(readonly limit: number = DEFAULT_SENT_FRAMES_LIMIT) {
    this.ring = new Array<SentFrame | undefined>(limit);
  }

  /** A new stream begins: later records carry its number. */
  beginStream(): number {
    return ++this.streams;
  }

  get stream(): number {
    return this.streams;
  }

  /** Records a captured frame (or returns its record when already captured). */
  capture(sequence: number, captureNs: number): SentFrame {
    const last = this.latest();
    if (last !== undefined && last.stream === this.streams && last.sequence === sequence) return last;
    const record: SentFrame = {
      stream: this.streams,
      sequence,
      status: 'captured',
      unheard: false,
      faults: [],
      damaged: false,
      size: 0,
      bytes: 0,
      captureNs,
      pts: null,
    };
    if (this.limit === 0) return record;
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.limit;
    if (this.count < this.limit) this.count++;
    return record;
  }

  /** The newest record, if any. */
  latest(): SentFrame | undefined {
    if (this.count === 0) return undefined;
    return this.ring[(this.next - 1 + this.limit) % this.limit];
  }

  /** The records, oldest first (the records themselves: they change while their frame is on its way). */
  records(): SentFrame[] {
    const out: SentFrame[] = [];
    const first = (this.next - this.count + this.limit) % Math.max(1, this.limit);
    for (let i = 0; i < this.count; i++) out.push(this.ring[(first + i) % this.limit]!);
    return out;
  }
}

/** Adds a fault to a frame's record (once), and marks it damaged unless the fault leaves its bytes whole. */
export function noteFault(record: SentFrame, fault: FrameFault): void {
  if (!record.faults.includes(fault)) record.faults.push(fault);
  if (!FRAMING_ONLY.has(fault)) record.damaged = true;
}
