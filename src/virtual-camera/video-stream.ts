/**
 * One video stream, from STREAMON-equivalent (alt setting selected, or first bulk read after COMMIT) to stop:
 * which frame the sensor captures when, which frame goes on the bus next, and the UVC payloads that carry it
 * (FID toggling per frame, EOF on a frame's last payload, PTS from the capture instant, SCR from the device
 * clock and the SOF counter). The endpoint servers decide *when* a payload goes out; this decides *what*.
 *
 * Real-time pace: frame n is captured at start + Σ frame periods (the negotiated interval, stretched by a long
 * exposure when AE priority allows). When the bus is free, the device sends the newest captured frame that is
 * rendered; older unsent ones are dropped, as a camera with a double buffer would. Fast pace: frames go out
 * back to back in order, captured the moment the previous one ends; nothing is dropped.
 */
import { PayloadHeader } from '../spec/uvc.js';
import { sofFrameNumber, type BusClock, type DeviceClock } from './bus-clock.js';
import type { ControlChange, ControlModel } from './controls.js';
import { inFrameSet, type ResolvedFaults } from './faults.js';
import type { FrameSource, RenderedFrame } from './frame-source.js';
import type { QuirkSet } from './quirks.js';
import type { UvcVersion } from './types.js';
import { noteFault, type FrameFault, type SentFrame, type SentFrameLog } from './sent-frames.js';

export interface VideoStreamConfig {
  clock: BusClock;
  deviceClock: DeviceClock;
  controls: ControlModel;
  source: FrameSource;
  uvcVersion: UvcVersion;
  /** Negotiated dwFrameInterval in µs. */
  frameIntervalUs: number;
  headerPts: boolean;
  headerScr: boolean;
  renderAhead: number;
  faults: () => ResolvedFaults;
  /** Bus interval at which streaming starts. */
  startInterval: number;
  onStreamError: (code: number) => void;
  onControlChanges: (changes: ControlChange[]) => void;
  /** Returns false when the device must vanish instead of sending frame `sequence` (unplug-at-frame fault). */
  beforeFrame: (sequence: number) => boolean;
  /** Committed dwMaxVideoFrameSize: an overflowing frame (fault) goes beyond it. */
  maxVideoFrameSize: number;
  /** Ground truth: what happened to every captured frame. */
  log: SentFrameLog;
  /** The camera's quirks (quirks.ts); the stream ones are committed here. */
  quirks: QuirkSet;
  /** The stream carries MJPEG (mjpeg-no-eof applies to it only). */
  mjpeg: boolean;
}

/** mjpeg-no-eof: this many frames apart, a frame ends without EOF and the next one keeps its FID. */
export const MJPEG_NO_EOF_EVERY = 3;

interface Sending {
  sequence: number;
  data: Uint8Array;
  /** Bytes of `data` that go out (fewer for a short frame). */
  length: number;
  offset: number;
  fid: number;
  pts: number;
  err: boolean;
  eof: boolean;
  /** UVC 1.5: the SCR sampled when the frame's first data went on the bus. */
  scrStc: number;
  scrSof: number;
  started: boolean;
  /** Its ground-truth record, and how many of its payloads a pending request took (heard) or none did. */
  record: SentFrame;
  heard: number;
  unheard: number;
}

export type FrameChoice =
  | { kind: 'frame' }
  | { kind: 'idle'; until: number }
  | { kind: 'wait'; ready: Promise<unknown> }
  | { kind: 'gone' };

/** A packet or payload as the device puts it on the bus: its header, then a slice of the frame. */
export interface Payload {
  header: Uint8Array;
  headerLength: number;
  body: Uint8Array;
  /** header + body. */
  length: number;
  /** The ground-truth record of the frame whose data it carries (null for a header-only idle payload). */
  record: SentFrame | null;
}

export class VideoStream {
  readonly headerLength: number;
  framesSent = 0;
  framesDropped = 0;
  private current: Sending | null = null;
  private lastStarted = -1;
  private fid = 1;
  private lastPts: number | null = null;
  /** Real-time capture timeline: the next frame to be captured and when (fractional bus interval). */
  private nextCapture = 0;
  private nextCaptureAt: number;
  private readonly captureAt = new Map<number, number>();
  /** Ground-truth records of captured frames not yet sent or skipped. */
  private readonly records = new Map<number, SentFrame>();
  /** Real time: the sensor starts once the pipeline has its first frame (a camera's warm-up). */
  private capturing = false;
  /** Real time: the sensor runs whether or not the host listens, one wake-up per frame period. */
  private sensorTimer: NodeJS.Timeout | null = null;
  private readonly scratch = new Uint8Array(12);
  private readonly emptyBody = new Uint8Array(0);
  private stopped = false;

  constructor(private readonly config: VideoStreamConfig) {
    this.headerLength = 2 + (config.headerPts ? 4 : 0) + (config.headerScr ? 6 : 0);
    this.nextCaptureAt = config.startInterval;
    for (let i = 0; i < config.renderAhead; i++) config.source.request(i);
    if (this.realtime) this.sensorTick();
  }

  get realtime(): boolean {
    return this.config.clock.pace === 'realtime';
  }

  /**
   * Real time: captures and renders frames as the sensor would, so a frame exists when its capture instant
   * comes even if no request was queued then (a host that reads late gets frames, not a rendering backlog).
   * The frames about to be captured render ahead; frames too old to be sent are forgotten.
   */
  private sensorTick(): void {
    this.sensorTimer = null;
    if (this.stopped) return;
    const { clock, source, renderAhead } = this.config;
    const now = clock.now();
    this.startCapturing(now);
    if (this.capturing) {
      this.captureUntil(now);
      for (let i = 0; i < renderAhead; i++) source.request(this.nextCapture + i);
      const keepFrom = Math.min(this.lastStarted + 1, this.nextCapture - 2);
      source.discardBefore(keepFrom);
      for (const seq of this.captureAt.keys()) if (seq < keepFrom) this.captureAt.delete(seq);
      for (const seq of this.records.keys()) if (seq < keepFrom) this.records.delete(seq);
    }
    const wakeAt = this.capturing ? Math.ceil(this.nextCaptureAt) : now + clock.intervalsPerFrame;
    this.sensorTimer = setTimeout(() => this.sensorTick(), Math.max(1, clock.msUntil(wakeAt)));
    // The sensor alone does not keep the process alive; pending requests do.
    this.sensorTimer.unref();
  }

  /** Real time: the capture timeline begins when the first frame is ready (warm-up). */
  private startCapturing(t: number): boolean {
    if (this.capturing) return true;
    const first = this.config.source.ready(0);
    if (first === null || first.readyAt > t) return false;
    this.capturing = true;
    this.nextCaptureAt = Math.max(this.config.startInterval, first.readyAt);
    return true;
  }

  stop(): void {
    this.stopped = true;
    if (this.sensorTimer !== null) clearTimeout(this.sensorTimer);
    this.sensorTimer = null;
    if (this.current !== null) noteFault(this.current.record, 'aborted');
    this.current = null;
    this.records.clear();
    this.config.source.stop();
  }

  private framePeriodIntervals(): number {
    return this.config.controls.framePeriodUs(this.config.frameIntervalUs) / this.config.clock.intervalUs;
  }

  /**
   * Real time: the sensor captures every frame whose instant has come by bus interval `t`. Only the newest
   * is worth rendering: older unsent ones will be dropped anyway.
   */
  private captureUntil(t: number): void {
    const before = this.nextCapture;
    while (this.nextCaptureAt <= t) {
      const seq = this.nextCapture;
      this.captureAt.set(seq, this.nextCaptureAt);
      this.captured(seq, this.nextCaptureAt);
      this.nextCapture++;
      this.nextCaptureAt += this.framePeriodIntervals();
    }
    if (this.nextCapture > before) this.config.source.request(this.nextCapture - 1);
  }

  /** The automatic modes see every captured frame; the ground truth records it. */
  private captured(sequence: number, at: number): void {
    const record = this.config.log.capture(sequence, this.config.clock.hostNs(at));
    // The PTS stands for the capture instant, whether or not the frame is ever sent.
    record.pts = this.config.headerPts ? this.config.deviceClock.at(at) : null;
    this.records.set(sequence, record);
    const changes = this.config.controls.autoAdjust(sequence);
    if (changes.length > 0) this.config.onControlChanges(changes);
  }

  /**
   * Makes sure a frame is on its way at bus interval `t`, if one can be: 'frame' when one is (or already was),
   * 'idle' with the interval when the next capture happens, 'wait' when the frame the device owes is still
   * rendering (fast pace only), 'gone' when the unplug-at-frame fault fired.
   */
  choose(t: number): FrameChoice {
    if (this.current !== null) return { kind: 'frame' };
    if (this.stopped) return { kind: 'idle', until: Number.POSITIVE_INFINITY };
    const { source } = this.config;
    let sequence: number;
    let frame: RenderedFrame | null;
    let captureTime: number;
    if (this.realtime) {
      if (!this.startCapturing(t)) return { kind: 'idle', until: t + 1 };
      this.captureUntil(t);
      let pick = -1;
      for (let s = this.nextCapture - 1; s > this.lastStarted; s--) {
        const candidate = source.ready(s);
        if (candidate !== null && candidate.readyAt <= t) {
          pick = s;
          break;
        }
      }
      if (pick < 0) {
        // Nothing new, or the newest capture is still rendering: idle until the next capture or a bit later.
        const until = this.nextCapture - 1 > this.lastStarted ? t + 1 : Math.ceil(this.nextCaptureAt);
        return { kind: 'idle', until };
      }
      sequence = pick;
      frame = source.ready(pick);
      captureTime = this.captureAt.get(pick)!;
      this.framesDropped += pick - this.lastStarted - 1;
      for (const s of this.captureAt.keys()) if (s <= pick) this.captureAt.delete(s);
      for (const [s, record] of this.records) {
        if (s >= pick) continue;
        record.status = 'skipped';
        this.records.delete(s);
      }
    } else {
      sequence = this.lastStarted + 1;
      frame = source.ready(sequence);
      if (frame === null) return { kind: 'wait', ready: source.whenReady(sequence) };
      captureTime = t;
      this.captured(sequence, t);
    }
    if (!this.config.beforeFrame(sequence)) return { kind: 'gone' };
    this.start(sequence, frame!, captureTime);
    return { kind: 'frame' };
  }

  /** mjpeg-no-eof: whether frame `sequence` ends without EOF (and so the next keeps the FID). */
  private lacksEof(sequence: number): boolean {
    return this.config.mjpeg && this.config.quirks.has('mjpeg-no-eof') && sequence % MJPEG_NO_EOF_EVERY === MJPEG_NO_EOF_EVERY - 1;
  }

  private start(sequence: number, frame: RenderedFrame, captureTime: number): void {
    const faults = this.config.faults();
    const fidFrozen = faults.fidNeverToggles || this.config.quirks.has('stream-no-fid');
    // mjpeg-no-eof: the firmware toggles FID when it sends EOF; a frame that went without EOF leaves it as it was.
    const fid = fidFrozen ? 0 : sequence > 0 && this.lacksEof(sequence - 1) ? this.fid : this.fid ^ 1;
    this.fid = fid;
    const short = inFrameSet(faults.shortFrames, sequence);
    let data = frame.data;
    if (inFrameSet(faults.overflowFrames, sequence)) data = overflowing(data, this.config.maxVideoFrameSize);
    const length = short ? Math.floor(data.length * faults.shortFrameRatio) : data.length;
    const err = frame.failed || inFrameSet(faults.errorFrames, sequence);
    if (err) this.config.onStreamError(frame.failed ? 2 : faults.streamErrorCode);
    const pts = this.config.deviceClock.at(captureTime);
    this.lastPts = pts;
    const eof = !inFrameSet(faults.missingEof, sequence);
    const record = this.records.get(sequence) ?? this.config.log.capture(sequence, this.config.clock.hostNs(captureTime));
    this.records.delete(sequence);
    record.status = 'sending';
    record.size = frame.data.length;
    record.bytes = length;
    record.pts = this.config.headerPts ? pts : null;
    const committed: FrameFault[] = [];
    if (frame.failed) committed.push('render-failed');
    else if (err) committed.push('error-bit');
    if (short) committed.push('short');
    if (data !== frame.data) committed.push('overflow');
    if (!eof) committed.push('missing-eof');
    if (faults.fidNeverToggles) committed.push('no-fid');
    for (const fault of committed) noteFault(record, fault);
    this.current = {
      sequence,
      data,
      length,
      offset: 0,
      fid,
      pts,
      err,
      eof: eof && !this.lacksEof(sequence),
      scrStc: 0,
      scrSof: 0,
      started: false,
      record,
      heard: 0,
      unheard: 0,
    };
    this.lastStarted = sequence;
    const { source, renderAhead } = this.config;
    source.discardBefore(sequence);
    // Fast pace renders the next frames now; in real time the sensor renders ahead of its captures.
    if (!this.realtime) for (let i = 1; i <= renderAhead; i++) source.request(sequence + i);
  }

  private writeHeader(t: number, flags: number, pts: number, frame: Sending | null): Uint8Array {
    const h = this.scratch;
    const { headerPts, headerScr, deviceClock, clock } = this.config;
    h[0] = this.headerLength;
    h[1] = flags | PayloadHeader.EOH | (headerPts ? PayloadHeader.PTS : 0) | (headerScr ? PayloadHeader.SCR : 0);
    let o = 2;
    if (headerPts) {
      h[o] = pts & 0xff;
      h[o + 1] = (pts >>> 8) & 0xff;
      h[o + 2] = (pts >>> 16) & 0xff;
      h[o + 3] = (pts >>> 24) & 0xff;
      o += 4;
    }
    if (headerScr) {
      // UVC 1.5 samples the SCR once per frame, when its first data goes out; earlier versions per payload.
      let stc = deviceClock.at(t);
      // invalid-device-sof: the firmware fills the SOF field from a counter of its own (its clock / 65536, about
      // 732 Hz at 48 MHz) instead of the bus frame number.
      let sof = this.config.quirks.has('invalid-device-sof') ? (stc >>> 16) & 0x7ff : sofFrameNumber(clock, t);
      if (frame !== null && this.config.uvcVersion === '1.5') {
        if (!frame.started) {
          frame.scrStc = stc;
          frame.scrSof = sof;
        }
        stc = frame.scrStc;
        sof = frame.scrSof;
      }
      h[o] = stc & 0xff;
      h[o + 1] = (stc >>> 8) & 0xff;
      h[o + 2] = (stc >>> 16) & 0xff;
      h[o + 3] = (stc >>> 24) & 0xff;
      h[o + 4] = sof & 0xff;
      h[o + 5] = (sof >>> 8) & 0x07;
    }
    return h;
  }

  /**
   * The next payload of the current frame, at most `capacity` bytes with its header, sent at bus interval `t`.
   * Call only after choose() returned 'frame'. The header lives in a scratch buffer: copy it before the next call.
   */
  nextPayload(t: number, capacity: number): Payload {
    const f = this.current!;
    const room = Math.max(0, capacity - this.headerLength);
    const chunk = Math.min(room, f.length - f.offset);
    const last = f.offset + chunk >= f.length;
    let flags = f.fid;
    if (f.err) flags |= PayloadHeader.ERR;
    if (last && f.eof) flags |= PayloadHeader.EOF;
    const header = this.writeHeader(t, flags, f.pts, f);
    f.started = true;
    const body = f.data.subarray(f.offset, f.offset + chunk);
    f.offset += chunk;
    f.heard++;
    if (last) this.finishSending(f);
    return { header, headerLength: this.headerLength, body, length: this.headerLength + chunk, record: f.record };
  }

  /** The frame's last payload went out (heard or not). */
  private finishSending(f: Sending, counted = true): void {
    this.current = null;
    if (counted) this.framesSent++;
    f.record.status = 'sent';
    if (f.unheard > 0) {
      if (f.heard > 0) noteFault(f.record, 'bus-gap');
      else f.record.unheard = true;
    }
  }

  /** The host got the payload spoiled (packet loss, babble): the frame it carried is damaged. */
  payloadLost(payload: Payload): void {
    if (payload.record !== null && payload.body.length > 0) noteFault(payload.record, 'packet-loss');
  }

  /** A header-only payload for an interval without video data: the previous frame's FID, no EOF. */
  idlePayload(t: number): Payload {
    const pts = this.lastPts ?? this.config.deviceClock.at(t);
    const header = this.writeHeader(t, this.fid, pts, null);
    // zero-scr-idle (SunplusIT firmware): idle headers carry PTS and SCR of all zeros.
    if (this.config.quirks.has('zero-scr-idle')) header.fill(0, 2, this.headerLength);
    return { header, headerLength: this.headerLength, body: this.emptyBody, length: this.headerLength, record: null };
  }

  /**
   * Intervals [from, to) passed with nobody listening: the device sent into the void. Whole frames may go by;
   * the state ends up where it would be had every packet been delivered. `capacity` as in nextPayload.
   * With `lost`, a request did listen but the host lost what it took (it cancelled the request): every frame
   * with data in these intervals gets that fault instead of counting as unheard there.
   * Returns false if the unplug-at-frame fault fired on the way.
   */
  skip(from: number, to: number, capacity: number, lost?: FrameFault): boolean {
    const room = Math.max(1, capacity - this.headerLength);
    let t = from;
    const period = this.framePeriodIntervals();
    if (lost === undefined && this.realtime && this.capturing && to - from > 4 * period) {
      // A long silence: everything but the last two frame periods went out unheard. Fast-forward without
      // rendering the frames nobody will see; FID and frame numbers move on as if they had been sent.
      const jumpTo = Math.floor(to - 2 * period);
      const cut = this.current;
      if (cut !== null) {
        // The rest of the frame on the wire went into the void (framesSent never counted it).
        cut.unheard++;
        this.finishSending(cut, false);
      }
      while (this.nextCaptureAt <= jumpTo) {
        this.captured(this.nextCapture, this.nextCaptureAt);
        this.nextCapture++;
        this.nextCaptureAt += this.framePeriodIntervals();
      }
      const newest = this.nextCapture - 1;
      const unplugAt = this.config.faults().unplugAtFrame;
      if (unplugAt !== null && unplugAt > this.lastStarted && unplugAt <= newest) return false;
      const passed = newest - this.lastStarted;
      if (passed > 0) {
        if (!this.config.faults().fidNeverToggles && !this.config.quirks.has('stream-no-fid') && passed % 2 === 1) this.fid ^= 1;
        this.framesSent += passed;
        for (let s = this.lastStarted + 1; s <= newest; s++) {
          const record = this.records.get(s);
          if (record === undefined) continue;
          record.status = 'sent';
          record.unheard = true;
        }
        this.records.clear();
        this.lastStarted = newest;
        this.captureAt.clear();
        this.config.source.discardBefore(newest + 1);
        this.lastPts = this.config.deviceClock.at(this.nextCaptureAt - this.framePeriodIntervals());
      }
      t = Math.max(t, jumpTo);
    }
    while (t < to) {
      const choice = this.choose(t);
      if (choice.kind === 'gone') return false;
      if (choice.kind === 'frame') {
        const f = this.current!;
        const needed = Math.max(1, Math.ceil((f.length - f.offset) / room));
        const n = Math.min(needed, to - t);
        if (lost === undefined) f.unheard += n;
        else {
          f.heard += n;
          noteFault(f.record, lost);
        }
        if (n === needed) {
          this.finishSending(f);
        } else {
          f.offset += n * room;
          f.started = true;
        }
        t += n;
      } else if (choice.kind === 'idle') {
        t = Math.max(t + 1, Math.min(to, choice.until));
      } else {
        // Fast pace has no lost intervals; nothing to wait for here.
        t++;
      }
    }
    return true;
  }
}

/** Frame data longer than dwMaxVideoFrameSize (the overflow fault): the picture, then zeros past the limit. */
function overflowing(data: Uint8Array, maxVideoFrameSize: number): Uint8Array {
  const length = Math.max(data.length, maxVideoFrameSize) + Math.max(1024, data.length >> 3);
  const out = new Uint8Array(length);
  out.set(data, 0);
  return out;
}
