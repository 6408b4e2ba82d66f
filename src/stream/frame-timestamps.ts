/**
 * The timestamp each frame gets: strictly increasing from the first frame, on one time base, gaps kept.
 *
 * A frame with a PTS is stamped with its capture instant, translated by the clock recovery (provisionally
 * before the clock locks: same time base, so the lock changes nothing visible). A frame without one (no PTS, no
 * usable clock yet, or a translation that cannot be right: see `implausible` below) is stamped from the host: the
 * arrival of its first packet, moved by how far device stamps have been from their arrivals (the least delayed
 * of the last 32), so device and host stamps never mix two time bases.
 *
 * The recovered clock gets better as packets come in, and its corrections go toward earlier (it follows the
 * least delayed packet). Applied at once, a correction would shorten the gap before a frame, or even make time
 * go back. So no gap is ever shorter than `1 − maxCompression` of what the device clock measured between the
 * two frames: the rest of a correction is held as an offset and released by that much per frame. A frame whose
 * time would not move forward at all is clamped just after the previous one and counted.
 */
import type { ClockRecovery } from './clock-recovery.js';

export interface FrameTimestampOptions {
  /** The most a gap may shrink against the device clock's measure of it, as a fraction. Default 0.01. */
  maxCompression?: number;
}

export interface FrameTimestampStats {
  /** Frames stamped from their PTS through the recovered device clock. */
  deviceTimestamps: number;
  /** Frames stamped from the host's arrival time (no PTS, or no usable device clock). */
  hostTimestamps: number;
  /** Frames whose recovered time was not after the previous frame's recovered time: clamped after it. */
  clampedTimestamps: number;
  /** Frames held back so their gap stays at least (1 − maxCompression) of the device clock's measure. */
  heldTimestamps: number;
  /** Frames whose PTS translated to an instant after their arrival or long before it (stamped from the host). */
  implausibleTimestamps: number;
  /** How far the latest timestamp was held back from the recovered time, µs: a correction still being released. */
  heldUs: number;
}

/** A capture may seem this much after its last packet arrived (the provisional line's error), no more. */
const CAPTURE_AFTER_ARRIVAL_NS = 5_000_000;
/** ...and this much before it (exposure, readout, the camera's buffering, sending a large frame), no more. */
const CAPTURE_BEFORE_ARRIVAL_NS = 2_000_000_000;
/** Device stamps whose lead over their arrival the host stamps reuse. */
const LEAD_FRAMES = 32;
/** The device clock may not run ahead of the host's view between two frames by more than this. */
const DEVICE_AHEAD_NS = 250_000_000;
/** A gap the device clock measures beyond this is no frame gap (a device clock jump): not used. */
const MAX_GAP_NS = 10_000_000_000;

export class FrameTimestamps {
  readonly stats: FrameTimestampStats = { deviceTimestamps: 0, hostTimestamps: 0, clampedTimestamps: 0, heldTimestamps: 0, implausibleTimestamps: 0, heldUs: 0 };
  private readonly maxCompression: number;
  private previous = Number.NaN;
  /** The previous frame's recovered time, before any hold. */
  private previousRecovered = Number.NaN;
  /** The previous frame's PTS (NaN: none; not -1, as a field for a u32 starts no small integer: see clock-recovery.ts). */
  private previousPts = Number.NaN;
  /** The device clock jumps the recovery had seen at the previous PTS (another jump: the PTS do not compare). */
  private previousJumps = -1;
  private previousArrival = Number.NaN;
  private previousEnd = Number.NaN;
  /** Held back from the recovered times, ns (≥ 0). */
  private offset = 0;
  /**
   * How far device stamps are from their frames' arrivals (negative: captured before they arrived): the largest
   * of the last LEAD_FRAMES, whose arrival was the least delayed.
   */
  private readonly leads = new Float64Array(LEAD_FRAMES).fill(Number.NaN);
  private leadCount = 0;

  constructor(
    private readonly clock: ClockRecovery | null,
    options: FrameTimestampOptions = {},
  ) {
    this.maxCompression = options.maxCompression ?? 0.01;
  }

  /** How far host stamps move to stay on the device stamps' time base (0 before any device stamp). */
  private lead(): number {
    let lead = Number.NEGATIVE_INFINITY;
    for (const value of this.leads) if (value > lead) lead = value;
    return Number.isFinite(lead) ? lead : 0;
  }

  /** A new stream: the next frame is a first frame again. */
  reset(): void {
    Object.assign(this.stats, { deviceTimestamps: 0, hostTimestamps: 0, clampedTimestamps: 0, heldTimestamps: 0, implausibleTimestamps: 0, heldUs: 0 });
    this.previous = Number.NaN;
    this.previousRecovered = Number.NaN;
    this.previousPts = Number.NaN;
    this.previousJumps = -1;
    this.previousArrival = Number.NaN;
    this.previousEnd = Number.NaN;
    this.offset = 0;
    this.leads.fill(Number.NaN);
    this.leadCount = 0;
  }

  /**
   * The timestamp of a frame, in CLOCK_MONOTONIC ns. `pts`: its PTS (u32 device ticks), or -1 without one;
   * `arrivalNs`: when its first packet arrived (the host's estimate); `endNs`: when the transfer holding its
   * last packet completed, as it reached JavaScript (never before the frame was captured; default arrivalNs).
   */
  stamp(pts: number, arrivalNs: number, endNs = arrivalNs): number {
    let recovered = Number.NaN;
    if (pts >= 0 && this.clock !== null) recovered = this.clock.toHostNs(pts);
    // The gap the device clock measured since the previous frame, when both have a PTS on the same device clock.
    let ptsGap = Number.NaN;
    if (pts >= 0 && this.previousPts >= 0 && this.clock !== null && this.clock.jumps === this.previousJumps) {
      ptsGap = (((pts - this.previousPts) | 0) / this.clock.clockFrequency) * 1e9;
    }
    // A translation from a line the device clock has left (it jumped, and the recovery has not seen it yet) says
    // the frame was captured after its last packet reached us, or long before, or its PTS moved on from the
    // previous frame's by far more time than the host saw go by (a stall only ever makes the host see more). So
    // does a line still late by a stall at the stream start; that one leaves the PTS gap right (see below).
    const arrivalGap = endNs - this.previousEnd;
    const gapImplausible = ptsGap <= 0 || ptsGap - arrivalGap > DEVICE_AHEAD_NS;
    const implausible = gapImplausible || recovered - endNs > CAPTURE_AFTER_ARRIVAL_NS || endNs - recovered > CAPTURE_BEFORE_ARRIVAL_NS;
    if (implausible) {
      recovered = Number.NaN;
      this.stats.implausibleTimestamps++;
    }
    const device = !Number.isNaN(recovered);
    if (device) {
      this.stats.deviceTimestamps++;
      this.leads[this.leadCount++ % LEAD_FRAMES] = recovered - arrivalNs;
    } else {
      this.stats.hostTimestamps++;
      recovered = arrivalNs + this.lead();
    }

    let stamp = recovered;
    if (!Number.isNaN(this.previous)) {
      // The gap the device clock measured, when both frames have one; else the gap between arrivals.
      // (Also across a switch from a host stamp: the previous frame's PTS measures the gap all the same. And for
      // a frame whose translation alone was implausible: a line still late by a stall at the stream start puts
      // a capture after its arrival, while the PTS gap is right; only a PTS that went back, or ran far ahead of
      // the host, measures nothing.)
      let gap = gapImplausible ? Number.NaN : ptsGap;
      if (!(gap > 0 && gap < MAX_GAP_NS)) gap = Number.NaN;
      const released = (Number.isNaN(gap) ? Math.max(0, arrivalNs - this.previousArrival) : gap) * this.maxCompression;
      this.offset = Math.max(0, this.offset - released);
      stamp = recovered + this.offset;
      const earliest = this.previous + (Number.isNaN(gap) ? 1 : Math.max(1, gap * (1 - this.maxCompression)));
      if (stamp < earliest) {
        // Clamped: its own time is not after the previous frame's own time. Held: only the correction is.
        if (recovered <= this.previousRecovered) this.stats.clampedTimestamps++;
        else this.stats.heldTimestamps++;
        this.offset += earliest - stamp;
        stamp = earliest;
      }
    }
    this.stats.heldUs = Math.round(this.offset / 100) / 10;
    let result = Math.round(stamp);
    if (!Number.isNaN(this.previous) && result <= this.previous) result = this.previous + 1;
    this.previous = result;
    this.previousRecovered = recovered;
    this.previousPts = pts >= 0 && !gapImplausible ? pts >>> 0 : Number.NaN;
    this.previousJumps = this.clock?.jumps ?? -1;
    this.previousArrival = arrivalNs;
    this.previousEnd = endNs;
    return result;
  }
}
