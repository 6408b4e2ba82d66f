/**
 * The assembler's timestamp section (issue "Timestamps you can trust"). The assembler calls it at five places:
 * `transfer` (each iso completion), `sample` (a payload's SCR), `beginFrame`, `notePts`, `timestamp`.
 *
 * - Iso packets are dated by the bus timeline (bus-timeline.ts): every completion outlines when the bus
 *   intervals happened, so a packet is as well dated as the least delayed completion around it.
 * - SCR samples go to the clock recovery (clock-recovery.ts), dated by the start of the packet's interval (the
 *   SCR's STC was sampled no later). An all-zero SCR in a header-only payload while no frame data is buffered
 *   is the SunplusIT idle packet: ignored (uvcvideo does the same).
 * - A completed frame is stamped by frame-timestamps.ts: its PTS through the recovered clock, or its first
 *   packet's arrival, strictly increasing from the first frame, never shrinking a gap by more than 1 %.
 */
import { PayloadHeader } from '../spec/uvc.js';
import { BusTimeline } from './bus-timeline.js';
import { ClockRecovery, type ClockRecoveryStats } from './clock-recovery.js';
import { FrameTimestamps, type FrameTimestampStats } from './frame-timestamps.js';
import { readU16, readU32 } from './payload-header.js';

const PTS = PayloadHeader.PTS;

export interface FrameTimingOptions {
  /** dwClockFrequency when the device clock is used for timestamps; null: host times only. */
  clockFrequency: number | null;
  /** Iso: the service interval, ns (0 for bulk: no bus timeline). */
  intervalNs: number;
  /** The camera's SCR SOF is not the bus SOF (quirk invalid-device-sof); otherwise judged from behaviour. */
  deviceSofInvalid?: boolean;
}

/** What `camera.stats.clock` shows. */
export interface TimestampStats extends FrameTimestampStats {
  /**
   * Frame timestamps are on the device clock, recovered and locked (its error estimate under 50 µs), with no
   * correction still being released (heldUs under 50 µs).
   */
  locked: boolean;
  /** The device clock recovery; null when the camera sends no usable clock (or hardware timestamps are off). */
  device: ClockRecoveryStats | null;
  /** Iso: times the bus timeline started over because the transport's count of bus intervals was wrong. */
  busTimelineRestarts: number;
}

export class FrameTiming {
  readonly clock: ClockRecovery | null;
  private readonly bus: BusTimeline | null;
  private readonly timestamps: FrameTimestamps;
  private readonly intervalNs: number;
  /** SOF of the last SCR handed to the clock (-1: none). */
  lastSof = -1;
  /** The camera's SOF does not count bus frames: every SCR goes to the clock, not one per SOF. */
  everyScr = false;
  /** Host time (ns) of the current frame's first packet. */
  startNs = 0;
  /** Iso: when the latest transfer completed (host clock, as it reached JavaScript): none of its packets came later. */
  private completedNs = Number.NEGATIVE_INFINITY;
  /** The current frame's PTS, once a payload with data carried one (a u32: -0, no small integer, as clock-recovery.ts says why). */
  pts = -0;
  hasPts = false;
  /** The last timestamp() came from the device clock. */
  fromDevice = false;

  constructor(options: FrameTimingOptions) {
    this.intervalNs = options.intervalNs;
    this.bus = options.intervalNs > 0 ? new BusTimeline(options.intervalNs) : null;
    const bus = this.bus;
    this.clock =
      options.clockFrequency !== null && options.clockFrequency > 0
        ? new ClockRecovery({
            clockFrequency: options.clockFrequency,
            deviceSofInvalid: options.deviceSofInvalid,
            arrivalUncertaintyNs: bus === null ? undefined : () => bus.uncertaintyNs,
          })
        : null;
    this.everyScr = this.clock?.deviceSofInvalid ?? false;
    this.timestamps = new FrameTimestamps(this.clock);
  }

  /** A new stream: forgets clock samples, the bus timeline and the frame's times (not what was learned of the camera). */
  reset(): void {
    this.clock?.reset();
    this.bus?.reset();
    this.timestamps.reset();
    this.lastSof = -1;
    this.completedNs = Number.NEGATIVE_INFINITY;
    this.startNs = 0;
    this.pts = 0;
    this.hasPts = false;
    this.fromDevice = false;
  }

  get stats(): TimestampStats {
    const device = this.clock?.stats ?? null;
    const frames = this.timestamps.stats;
    return {
      locked: device !== null && device.locked && this.fromDevice && frames.heldUs < 50,
      ...frames,
      device,
      busTimelineRestarts: Math.max(0, (this.bus?.runCount ?? 0) - 1),
    };
  }

  /**
   * An iso transfer completed at `completedAtNs` (its packets follow `lostIntervals` after the previous one's):
   * returns the time to date its packets back from, the completion less how late it came by the bus timeline.
   */
  transfer(packetCount: number, lostIntervals: number, completedAtNs: number): number {
    this.completedNs = completedAtNs;
    return this.bus === null ? completedAtNs : completedAtNs - this.bus.transfer(packetCount, lostIntervals, completedAtNs);
  }

  beginFrame(packetNs: number): void {
    this.startNs = packetNs;
    this.hasPts = false;
  }

  /** The PTS of the frame's first payload with data. */
  notePts(bytes: Uint8Array, offset: number): void {
    if (this.hasPts) return;
    this.adoptPts(readU32(bytes, offset + 2));
  }

  /** notePts with the PTS already read (the native scan over several transfers hands it back read). */
  adoptPts(pts: number): void {
    if (this.hasPts) return;
    this.pts = pts;
    this.hasPts = true;
  }

  /**
   * An SCR sample (the header has one and the clock is used), in a packet dated `packetNs` (iso: the end of its
   * interval). `frameBytes` is the data buffered for the open frame (0 between frames).
   */
  sample(bytes: Uint8Array, offset: number, info: number, hasData: boolean, frameBytes: number, packetNs: number): void {
    const at = offset + ((info & PTS) !== 0 ? 6 : 2);
    this.scr(readU32(bytes, at), readU16(bytes, at + 4) & 0x7ff, hasData, frameBytes, packetNs);
  }

  /** `sample` with the SCR already read: its STC and 11-bit SOF (the native scan's sample rows carry them). */
  scr(stc: number, sof: number, hasData: boolean, frameBytes: number, packetNs: number): void {
    // Most packets repeat the previous SOF (8 microframes per frame, or UVC 1.5's one SOF per video frame),
    // unless the camera's SOF is known not to count bus frames.
    if (sof === this.lastSof && !this.everyScr) return;
    // SunplusIT cameras send all-zero SCRs in header-only packets while no frame data is buffered.
    if (stc === 0 && sof === 0 && !hasData && frameBytes === 0) return;
    this.lastSof = sof;
    const clock = this.clock!;
    // Iso: the packet's interval began one interval before its date, and its SCR was sampled no later.
    clock.addSample(stc, sof, packetNs - this.intervalNs);
    this.everyScr = clock.deviceSofInvalid;
  }

  /** The completed frame's timestamp (host clock, ns): see frame-timestamps.ts. */
  timestamp(): number {
    const timestamps = this.timestamps;
    const before = timestamps.stats.deviceTimestamps;
    const timestamp = timestamps.stamp(this.hasPts ? this.pts : -1, this.startNs, Math.max(this.startNs, this.completedNs));
    this.fromDevice = timestamps.stats.deviceTimestamps !== before;
    return timestamp;
  }
}
